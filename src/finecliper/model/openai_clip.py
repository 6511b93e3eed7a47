"""OpenAI CLIP checkpoints (`ViT-B-16.pt` and friends) mapped onto Hugging Face `CLIPModel` keys.

OpenAI's files are TorchScript archives (or, when re-saved, plain state dicts) whose keys follow the
`clip` package: a fused `in_proj` for q/k/v, `c_fc`/`c_proj` MLPs, projections stored as (in, out)
matrices. The mapping is one-to-one except that each fused q/k/v tensor becomes three, and the
projection matrices are transposed. Three scalar metadata entries of the archives
(`input_resolution`, `context_length`, `vocab_size`) carry no weights and are skipped.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import torch

from finecliper.errors import UserError

METADATA_KEYS = ("input_resolution", "context_length", "vocab_size")

# OpenAI name (after the tower prefix) -> Hugging Face name, for keys that map one-to-one.
_LAYER_RENAMES = {
    "attn.out_proj.weight": "self_attn.out_proj.weight",
    "attn.out_proj.bias": "self_attn.out_proj.bias",
    "ln_1.weight": "layer_norm1.weight",
    "ln_1.bias": "layer_norm1.bias",
    "ln_2.weight": "layer_norm2.weight",
    "ln_2.bias": "layer_norm2.bias",
    "mlp.c_fc.weight": "mlp.fc1.weight",
    "mlp.c_fc.bias": "mlp.fc1.bias",
    "mlp.c_proj.weight": "mlp.fc2.weight",
    "mlp.c_proj.bias": "mlp.fc2.bias",
}
_TOP_RENAMES = {
    "visual.class_embedding": "vision_model.embeddings.class_embedding",
    "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
    "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
    "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",
    "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
    "visual.ln_post.weight": "vision_model.post_layernorm.weight",
    "visual.ln_post.bias": "vision_model.post_layernorm.bias",
    "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
    "positional_embedding": "text_model.embeddings.position_embedding.weight",
    "ln_final.weight": "text_model.final_layer_norm.weight",
    "ln_final.bias": "text_model.final_layer_norm.bias",
}  # `logit_scale` is named alike in both layouts: openai_to_hf keeps keys that no rule matches
# Stored as (width, embed_dim) and applied as x @ proj; nn.Linear wants (embed_dim, width).
_TRANSPOSED = {"visual.proj": "visual_projection.weight", "text_projection": "text_projection.weight"}
_BLOCK = re.compile(r"^(visual\.)?transformer\.resblocks\.(\d+)\.(.+)$")


def read_openai_state_dict(path: str | Path, allow_torchscript: bool = True) -> dict[str, torch.Tensor]:
    """Tensors of an OpenAI CLIP file: a TorchScript archive or a plain state dict, never unpickled objects.

    Loading a TorchScript archive runs the TorchScript code inside it, so it happens only when the user named
    the file (allow_torchscript); a path named by a file the user received (a checkpoint's record) is read
    only as a plain state dict (docs/design.md §3).
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            is_torchscript = any(name.endswith("constants.pkl") for name in zf.namelist())
    except zipfile.BadZipFile:
        is_torchscript = False
    if is_torchscript and not allow_torchscript:
        raise UserError(f"{path} is a TorchScript archive, whose loading runs code, and the checkpoint named it, "
                        f"so it was not loaded; if you trust the file, name it yourself with --set model.weights={path}")
    try:
        if is_torchscript:
            state = torch.jit.load(str(path), map_location="cpu").state_dict()
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # any reader failure is a bad file from the user's point of view
        raise UserError(f"cannot read {path} as an OpenAI CLIP checkpoint: {exc}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path} does not hold a CLIP state dict")
    return dict(state)


def openai_to_hf(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename (and split, transpose) OpenAI CLIP keys to `CLIPModel` keys.

    Keys that match no rule are kept under their own name so that the strict load that follows reports
    them as unexpected instead of this function dropping them silently.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key in METADATA_KEYS:
            continue
        if key in _TOP_RENAMES:
            out[_TOP_RENAMES[key]] = value
            continue
        if key in _TRANSPOSED:
            out[_TRANSPOSED[key]] = value.t().contiguous()
            continue
        match = _BLOCK.match(key)
        if match is None:
            out[key] = value
            continue
        tower = "vision_model" if match.group(1) else "text_model"
        prefix = f"{tower}.encoder.layers.{match.group(2)}."
        rest = match.group(3)
        if rest in ("attn.in_proj_weight", "attn.in_proj_bias"):
            kind = "weight" if rest.endswith("weight") else "bias"
            # in_proj stacks q, k, v along the output dimension.
            for name, part in zip(("q_proj", "k_proj", "v_proj"), value.chunk(3, dim=0), strict=True):
                out[f"{prefix}self_attn.{name}.{kind}"] = part.contiguous()
        elif rest in _LAYER_RENAMES:
            out[prefix + _LAYER_RENAMES[rest]] = value
        else:
            out[key] = value
    return out
