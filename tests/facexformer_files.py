"""FaceXFormer checkpoints in the authors' layout, with random weights, for the tests.

`official_layout` writes out the authors' state-dict names and shapes by hand from the structure of their
code (torchvision's swin_b without its head, their fusion layers, SAM's two-way transformer and their
decoder heads), independently of finecliper's network module, so that comparing the two can fail.
`write_official_checkpoint` saves random tensors of that layout the way the authors save theirs.
"""

from __future__ import annotations

import torch

from finecliper.cues.facexformer.network import FaceXFormerConfig

# Head name -> output size, as in the authors' FaceDecoder (68 landmarks as 136 numbers, 3 pose angles, ...).
HEADS = {"landmarks": 136, "pose": 3, "attribute": 40, "visibility": 29, "age": 8, "gender": 2, "race": 5}
TOKENS = ("landmarks", "pose", "attribute", "visibility", "age", "gender", "race")


def _linear(out: dict, name: str, n_in: int, n_out: int, bias: bool = True) -> None:
    out[f"{name}.weight"] = (n_out, n_in)
    if bias:
        out[f"{name}.bias"] = (n_out,)


def _norm(out: dict, name: str, width: int) -> None:
    out[f"{name}.weight"] = (width,)
    out[f"{name}.bias"] = (width,)


def _swin(out: dict, c: FaceXFormerConfig) -> None:
    """torchvision SwinTransformer: features.0 patch embed, features.1/3/5/7 stages, 2/4/6 merging, then norm."""
    out["backbone.0.0.0.weight"] = (c.embed_dim, 3, c.patch, c.patch)
    out["backbone.0.0.0.bias"] = (c.embed_dim,)
    _norm(out, "backbone.0.0.2", c.embed_dim)
    window_pairs = (c.window * c.window) ** 2
    for stage in range(4):
        width = c.embed_dim * 2**stage
        for block in range(c.depths[stage]):
            name = f"backbone.0.{2 * stage + 1}.{block}"
            _norm(out, f"{name}.norm1", width)
            _linear(out, f"{name}.attn.qkv", width, 3 * width)
            _linear(out, f"{name}.attn.proj", width, width)
            out[f"{name}.attn.relative_position_bias_table"] = ((2 * c.window - 1) ** 2, c.num_heads[stage])
            out[f"{name}.attn.relative_position_index"] = (window_pairs,)
            _norm(out, f"{name}.norm2", width)
            _linear(out, f"{name}.mlp.0", width, 4 * width)
            _linear(out, f"{name}.mlp.3", 4 * width, width)
        if stage < 3:
            _linear(out, f"backbone.0.{2 * stage + 2}.reduction", 4 * width, 2 * width, bias=False)
            _norm(out, f"backbone.0.{2 * stage + 2}.norm", 4 * width)
    _norm(out, "backbone.1", c.embed_dim * 8)


def _attention(out: dict, name: str, dim: int, inner: int) -> None:
    for proj in ("q_proj", "k_proj", "v_proj"):
        _linear(out, f"{name}.{proj}", dim, inner)
    _linear(out, f"{name}.out_proj", inner, dim)


def _mlp(out: dict, name: str, dim: int, n_out: int) -> None:
    _linear(out, f"{name}.layers.0", dim, dim)
    _linear(out, f"{name}.layers.1", dim, dim)
    _linear(out, f"{name}.layers.2", dim, n_out)


def _decoder(out: dict, c: FaceXFormerConfig) -> None:
    d = c.decoder_dim
    for layer in range(c.decoder_depth):
        name = f"face_decoder.transformer.layers.{layer}"
        _attention(out, f"{name}.self_attn", d, d)
        _norm(out, f"{name}.norm1", d)
        _attention(out, f"{name}.cross_attn_token_to_image", d, d // 2)
        _norm(out, f"{name}.norm2", d)
        _linear(out, f"{name}.mlp.lin1", d, c.decoder_mlp)
        _linear(out, f"{name}.mlp.lin2", c.decoder_mlp, d)
        _norm(out, f"{name}.norm3", d)
        _norm(out, f"{name}.norm4", d)
        _attention(out, f"{name}.cross_attn_image_to_token", d, d // 2)
    _attention(out, "face_decoder.transformer.final_attn_token_to_image", d, d // 2)
    _norm(out, "face_decoder.transformer.norm_final_attn", d)
    for token in TOKENS:
        out[f"face_decoder.{token}_token.weight"] = (1, d)
    out["face_decoder.mask_tokens.weight"] = (11, d)
    out["face_decoder.output_upscaling.0.weight"] = (d, d // 4, 2, 2)  # ConvTranspose2d: (in, out, kh, kw)
    out["face_decoder.output_upscaling.0.bias"] = (d // 4,)
    _norm(out, "face_decoder.output_upscaling.1", d // 4)
    out["face_decoder.output_upscaling.3.weight"] = (d // 4, d // 8, 2, 2)
    out["face_decoder.output_upscaling.3.bias"] = (d // 8,)
    _mlp(out, "face_decoder.output_hypernetwork_mlps", d, d // 8)
    for head, size in HEADS.items():
        _mlp(out, f"face_decoder.{head}_prediction_head", d, size)


def official_layout(config: FaceXFormerConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor name of the authors' `model.state_dict()` for these sizes, with its shape."""
    out: dict[str, tuple[int, ...]] = {}
    _swin(out, config)
    out["pe_layer.positional_encoding_gaussian_matrix"] = (2, config.decoder_dim // 2)
    _decoder(out, config)
    for stage in range(4):
        _linear(out, f"linear_c.{stage}.proj", config.embed_dim * 2**stage, config.decoder_dim)
    out["linear_fuse.weight"] = (config.decoder_dim, 4 * config.decoder_dim, 1, 1)
    return out


def true_position_index(window: int) -> torch.Tensor:
    """(window^2, window^2): for tokens p, q of a window (row-major), the bias-table row of their offset."""
    index = torch.empty(window * window, window * window, dtype=torch.long)
    for p in range(window * window):
        for q in range(window * window):
            dy = p // window - q // window + window - 1
            dx = p % window - q % window + window - 1
            index[p, q] = dy * (2 * window - 1) + dx
    return index


def _is_norm_weight(name: str) -> bool:
    leaf = name.rsplit(".", 2)[-2]
    return name.endswith(".weight") and (leaf.startswith("norm") or name in (
        "backbone.0.0.2.weight", "backbone.1.weight", "face_decoder.output_upscaling.1.weight"))


def official_state_dict(config: FaceXFormerConfig, seed: int = 0, index_shape: str = "flat") -> dict:
    """Random tensors in the official layout: weights ~ N(0, 0.02), norm weights ~ 1, the Fourier matrix
    ~ N(0, 1) as the authors draw it, and the relative position indices with their true values, stored
    flat (recent torchvision) or square (older torchvision)."""
    generator = torch.Generator().manual_seed(seed)
    index = true_position_index(config.window)
    state = {}
    for name, shape in official_layout(config).items():
        if name.endswith("relative_position_index"):
            state[name] = index.flatten().clone() if index_shape == "flat" else index.clone()
        elif name.startswith("pe_layer."):
            state[name] = torch.randn(shape, generator=generator)
        else:
            state[name] = 0.02 * torch.randn(shape, generator=generator) + (1.0 if _is_norm_weight(name) else 0.0)
    return state


def write_official_checkpoint(path, config: FaceXFormerConfig, seed: int = 0, index_shape: str = "flat",
                              extra: dict | None = None, drop: tuple[str, ...] = (), prefix: str = "",
                              wrap: bool = True) -> dict:
    """Save a random official checkpoint at `path` as the authors do, and return its state dict.

    `extra` adds or replaces tensors (a misshapen or unknown one), `drop` leaves names out, `prefix` is put
    before every name (DataParallel's "module."), `wrap=False` saves the bare state dict.
    """
    state = official_state_dict(config, seed, index_shape)
    state.update(extra or {})
    state = {prefix + name: tensor for name, tensor in state.items() if name not in drop}
    torch.save({"state_dict_backbone": state, "epoch": 7} if wrap else state, path)
    return state
