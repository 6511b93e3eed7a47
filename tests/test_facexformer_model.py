"""FaceXFormer written without torchvision: the authors' state-dict layout, each part against a plain reference,
and strict, code-free loading of their checkpoint format.

The references are written the slow, obvious way (per token, per pixel, per head) so that a batching or
indexing mistake in the network cannot be repeated in its check. Weights are random: the tests check the
computation and the file handling, not what the published weights predict. Everything runs on the tiny
config except one test that loads a full-size random checkpoint.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from facexformer_files import (
    official_layout,
    official_state_dict,
    true_position_index,
    write_official_checkpoint,
)
from finecliper.cues.facexformer.checkpoint import PUBLISHED_TENSORS, load_facexformer
from finecliper.cues.facexformer.network import (
    NUM_LANDMARKS,
    NUM_PARSING,
    PUBLISHED,
    TINY,
    FaceXFormer,
    FaceXFormerConfig,
    landmarks_to_pixels,
)
from finecliper.cues.facexformer.swin import PatchMerging, SwinBlock, WindowAttention
from finecliper.cues.facexformer.two_way import TwoWayTransformer
from finecliper.errors import UserError

ATOL = 1e-5


def _shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def _randomise(module: torch.nn.Module, seed: int, std: float = 0.3) -> torch.nn.Module:
    """Every parameter random (norm weights around 1), so that no part of a reference is trivially zero."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            base = 1.0 if ("norm" in name and name.endswith("weight")) else 0.0
            p.copy_(base + std * torch.randn(p.shape, generator=generator))
    return module.eval()


# --- layout -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("config", [PUBLISHED, TINY], ids=["published", "tiny"])
def test_state_dict_is_the_official_layout(config):
    with torch.device("meta"):  # the published model's 92 M parameters take no memory here
        model = FaceXFormer(config)
    layout = official_layout(config)
    assert _shapes(model) == layout
    if config == PUBLISHED:
        assert len(layout) == PUBLISHED_TENSORS == 505


def test_sizes_that_do_not_fit_are_one_sentence():
    with pytest.raises(UserError, match="stage 1's 3 heads do not divide its width 8"):
        FaceXFormerConfig(embed_dim=8, num_heads=(3, 1, 2, 2))
    with pytest.raises(UserError, match="decoder width 20"):
        FaceXFormerConfig(decoder_dim=20)


# --- Swin ---------------------------------------------------------------------------------------------------

def _region(r: int, size: int, window: int, shift: int) -> int:
    """Which part of the rolled map row (or column) r lies in: the last window is cut at the shift."""
    if shift == 0 or r < size - window:
        return 0
    return 1 if r < size - shift else 2


def naive_window_attention(attn: WindowAttention, x: torch.Tensor, shift: int) -> torch.Tensor:
    """Full attention over every token of the zero-padded map, a pair allowed only when both tokens fall in
    the same window of the rolled map and in the same region of it, biased by the table row of their offset."""
    b, h, w, c = x.shape
    win, heads = attn.window, attn.num_heads
    ph, pw = -(-h // win) * win, -(-w // win) * win
    padded = torch.zeros(b, ph, pw, c)
    padded[:, :h, :w] = x
    sh, sw = (shift if ph > win else 0), (shift if pw > win else 0)
    cells = [(i, j) for i in range(ph) for j in range(pw)]
    rolled = [((i - sh) % ph, (j - sw) % pw) for i, j in cells]  # where each token sits after the roll
    n = len(cells)
    logits_bias = torch.full((heads, n, n), float("-inf"))
    table = attn.relative_position_bias_table.detach()
    for p, (pi, pj) in enumerate(rolled):
        for q, (qi, qj) in enumerate(rolled):
            same_window = pi // win == qi // win and pj // win == qj // win
            same_region = (_region(pi, ph, win, sh) == _region(qi, ph, win, sh)
                           and _region(pj, pw, win, sw) == _region(qj, pw, win, sw))
            if same_window and same_region:
                dy, dx = pi % win - qi % win, pj % win - qj % win
                logits_bias[:, p, q] = table[(dy + win - 1) * (2 * win - 1) + dx + win - 1]
    tokens = padded.reshape(b, n, c)
    q_all, k_all, v_all = (tokens @ attn.qkv.weight.T + attn.qkv.bias).chunk(3, dim=-1)
    d = c // heads
    outputs = []
    for head in range(heads):
        part = slice(head * d, (head + 1) * d)
        logits = q_all[..., part] @ k_all[..., part].transpose(1, 2) / math.sqrt(d) + logits_bias[head]
        outputs.append(torch.softmax(logits, dim=-1) @ v_all[..., part])
    out = torch.cat(outputs, dim=-1) @ attn.proj.weight.T + attn.proj.bias
    return out.view(b, ph, pw, c)[:, :h, :w]


@pytest.mark.parametrize(("window", "height", "width", "shift"), [
    (3, 6, 6, 0), (3, 6, 6, 1),          # a multiple of the window, without and with shift
    (3, 7, 5, 0), (3, 7, 5, 1),          # padded at the bottom and right
    (3, 3, 7, 1),                        # the window covers the height only: shift along the width alone
    (7, 7, 7, 3),                        # stage 4 at 224 input: the window covers the map, no shift
    (7, 14, 14, 3),                      # stage 3 at 224 input
])
@torch.no_grad()
def test_window_attention_equals_full_attention_with_the_window_rules(window, height, width, shift):
    torch.manual_seed(window * 100 + height * 10 + width + shift)
    attn = _randomise(WindowAttention(dim=8, num_heads=2, window=window), seed=1, std=0.5)
    x = torch.randn(2, height, width, 8)
    torch.testing.assert_close(attn(x, shift), naive_window_attention(attn, x, shift), atol=ATOL, rtol=0)


@torch.no_grad()
def test_patch_merging_equals_a_per_pixel_loop():
    torch.manual_seed(0)
    merge = _randomise(PatchMerging(4), seed=2)
    x = torch.randn(2, 5, 7, 4)
    padded = F.pad(x, (0, 0, 0, 1, 0, 1))
    expected = torch.empty(2, 3, 4, 8)
    for b in range(2):
        for i in range(3):
            for j in range(4):
                top_left, bottom_left = padded[b, 2 * i, 2 * j], padded[b, 2 * i + 1, 2 * j]
                top_right, bottom_right = padded[b, 2 * i, 2 * j + 1], padded[b, 2 * i + 1, 2 * j + 1]
                joined = torch.cat([top_left, bottom_left, top_right, bottom_right])
                normed = F.layer_norm(joined, (16,), merge.norm.weight, merge.norm.bias, eps=1e-5)
                expected[b, i, j] = merge.reduction.weight @ normed
    torch.testing.assert_close(merge(x), expected, atol=ATOL, rtol=0)


@torch.no_grad()
def test_swin_block_equals_its_reference():
    torch.manual_seed(0)
    block = _randomise(SwinBlock(dim=8, num_heads=2, window=3, shift=1), seed=3, std=0.3)
    x = torch.randn(2, 7, 5, 8)

    def norm(layer, t):
        return F.layer_norm(t, (8,), layer.weight, layer.bias, eps=1e-5)

    y = x + naive_window_attention(block.attn, norm(block.norm1, x), shift=1)
    first, second = block.mlp[0], block.mlp[3]
    hidden = F.gelu(norm(block.norm2, y) @ first.weight.T + first.bias)
    expected = y + hidden @ second.weight.T + second.bias
    torch.testing.assert_close(block(x), expected, atol=ATOL, rtol=0)


# --- decoder ------------------------------------------------------------------------------------------------

def _linear(layer, x):
    return x @ layer.weight.T + layer.bias


def _reference_attention(attn, q, k, v):
    """Project (to the narrowed width), split into heads, softmax(Q K^T / sqrt(d)) V per head, join, project."""
    qp, kp, vp = _linear(attn.q_proj, q), _linear(attn.k_proj, k), _linear(attn.v_proj, v)
    d = qp.shape[-1] // attn.num_heads
    heads = []
    for head in range(attn.num_heads):
        part = slice(head * d, (head + 1) * d)
        weights = torch.softmax(qp[..., part] @ kp[..., part].transpose(1, 2) / math.sqrt(d), dim=-1)
        heads.append(weights @ vp[..., part])
    return _linear(attn.out_proj, torch.cat(heads, dim=-1))


def _reference_two_way(model: TwoWayTransformer, image, image_pe, tokens):
    """SAM's two-way transformer: the tokens' own embedding is their PE; layer 0's self-attention has no PE
    and no residual."""
    def norm(layer, t):
        return F.layer_norm(t, t.shape[-1:], layer.weight, layer.bias, eps=1e-5)

    keys = image.flatten(2).transpose(1, 2)
    key_pe = image_pe.flatten(2).transpose(1, 2)
    queries = tokens
    for i, layer in enumerate(model.layers):
        if i == 0:
            queries = norm(layer.norm1, _reference_attention(layer.self_attn, queries, queries, queries))
        else:
            q = queries + tokens
            queries = norm(layer.norm1, queries + _reference_attention(layer.self_attn, q, q, queries))
        q, k = queries + tokens, keys + key_pe
        queries = norm(layer.norm2, queries + _reference_attention(layer.cross_attn_token_to_image, q, k, keys))
        mlp = _linear(layer.mlp.lin2, torch.relu(_linear(layer.mlp.lin1, queries)))
        queries = norm(layer.norm3, queries + mlp)
        q, k = queries + tokens, keys + key_pe
        keys = norm(layer.norm4, keys + _reference_attention(layer.cross_attn_image_to_token, k, q, queries))
    q, k = queries + tokens, keys + key_pe
    queries = norm(model.norm_final_attn, queries + _reference_attention(model.final_attn_token_to_image, q, k, keys))
    return queries, keys


@torch.no_grad()
def test_two_way_transformer_equals_its_reference():
    torch.manual_seed(0)
    model = _randomise(TwoWayTransformer(depth=2, dim=32, num_heads=8, mlp_dim=64), seed=4, std=0.2)
    assert model.layers[0].cross_attn_token_to_image.q_proj.out_features == 16  # downsample rate 2
    image, image_pe, tokens = torch.randn(2, 32, 5, 6), torch.randn(2, 32, 5, 6), torch.randn(2, 18, 32)
    got = model(image, image_pe, tokens)
    expected = _reference_two_way(model, image, image_pe, tokens)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


@torch.no_grad()
def test_positional_encoding_equals_a_per_cell_loop():
    model = FaceXFormer(TINY)
    pe = model.pe_layer(3, 4)
    matrix = model.pe_layer.positional_encoding_gaussian_matrix
    for i in range(3):
        for j in range(4):
            x, y = 2 * (j + 0.5) / 4 - 1, 2 * (i + 0.5) / 3 - 1
            angles = 2 * math.pi * (x * matrix[0] + y * matrix[1])
            torch.testing.assert_close(pe[:, i, j], torch.cat([angles.sin(), angles.cos()]), atol=ATOL, rtol=0)


@torch.no_grad()
def test_landmark_head_and_parsing_product_equal_loops():
    torch.manual_seed(0)
    decoder = _randomise(FaceXFormer(TINY), seed=5, std=0.2).face_decoder
    token = torch.randn(2, 32)
    landmarks = decoder.landmarks(token)
    layers = decoder.landmarks_prediction_head.layers
    for b in range(2):
        h = token[b]
        for index, layer in enumerate(layers):
            h = layer.weight @ h + layer.bias
            h = torch.relu(h) if index < len(layers) - 1 else h
        for point in range(NUM_LANDMARKS):
            torch.testing.assert_close(landmarks[b, point], h[2 * point:2 * point + 2], atol=ATOL, rtol=0)

    class_tokens, image = torch.randn(2, NUM_PARSING, 32), torch.randn(2, 3 * 5, 32)
    logits = decoder.parsing(class_tokens, image, 3, 5)
    assert logits.shape == (2, NUM_PARSING, 12, 20)
    upscaled = decoder.output_upscaling(image.transpose(1, 2).reshape(2, 32, 3, 5))
    for b in range(2):
        for k in range(NUM_PARSING):
            hyper = decoder.output_hypernetwork_mlps(class_tokens[b, k])
            expected = (hyper[:, None, None] * upscaled[b]).sum(0)
            torch.testing.assert_close(logits[b, k], expected, atol=ATOL, rtol=0)


@torch.no_grad()
def test_fusion_puts_the_deepest_stage_first():
    """With linear_fuse passing only its first block of channels, the fused map is stage 4's projection
    resized to stage 1's grid: the authors concatenate the stages in reverse."""
    model = _randomise(FaceXFormer(TINY), seed=6, std=0.2)
    dim = TINY.decoder_dim
    model.linear_fuse.weight.zero_()
    model.linear_fuse.weight[:, :dim, 0, 0] = torch.eye(dim)
    images = torch.randn(1, 3, 64, 64)
    stages = model.backbone.stages(images)
    assert [s.shape[1:] for s in stages] == [(16, 16, 8), (8, 8, 16), (4, 4, 32), (2, 2, 64)]
    deepest = model.linear_c[3](stages[3]).permute(0, 3, 1, 2)
    expected = F.interpolate(deepest, size=(16, 16), mode="bilinear", align_corners=False)
    torch.testing.assert_close(model.fused_features(images), expected, atol=ATOL, rtol=0)


@torch.no_grad()
def test_full_forward_shapes_and_batch_independence():
    torch.manual_seed(0)
    model = _randomise(FaceXFormer(TINY), seed=7, std=0.1)
    images = torch.randn(3, 3, 224, 224)
    landmarks, parsing = model(images)
    assert landmarks.shape == (3, NUM_LANDMARKS, 2) and parsing.shape == (3, NUM_PARSING, 224, 224)
    alone_landmarks, alone_parsing = model(images[1:2])
    torch.testing.assert_close(alone_landmarks, landmarks[1:2], atol=ATOL, rtol=0)
    torch.testing.assert_close(alone_parsing, parsing[1:2], atol=ATOL, rtol=0)


def test_landmarks_to_pixels_uses_pixel_spans():
    points = torch.tensor([[[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]]])
    assert landmarks_to_pixels(points, 200, 100).tolist() == [[[0.0, 0.0], [200.0, 100.0], [100.0, 50.0]]]
    # The authors' denorm_points(align_corners=False) is the pixel-centre index, ours minus 0.5.
    authors = ((points + 1) * torch.tensor([200.0, 100.0]) - 1) / 2
    torch.testing.assert_close(landmarks_to_pixels(points, 200, 100), authors + 0.5)
    assert landmarks_to_pixels([[0.5, -0.5]], 8, 4).tolist() == [[6.0, 1.0]]


# --- loading ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("index_shape", "prefix", "wrap"), [
    ("flat", "", True), ("square", "", True), ("flat", "module.", True), ("square", "", False)])
@torch.no_grad()
def test_load_infers_the_sizes_and_matches_a_directly_built_model(tmp_path, index_shape, prefix, wrap):
    path = tmp_path / "model.pt"
    write_official_checkpoint(path, TINY, seed=11, index_shape=index_shape, prefix=prefix, wrap=wrap)
    model, info = load_facexformer(path)
    assert not model.training and info["config"] == asdict(TINY) and info["published"] is False
    assert info["tensors"] == len(official_layout(TINY))
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info["parameters"] == sum(p.numel() for p in model.parameters())

    direct = FaceXFormer(TINY).eval()
    direct.load_state_dict(official_state_dict(TINY, seed=11, index_shape="flat"))
    images = torch.randn(2, 3, 64, 96)
    for got, expected in zip(model(images), direct(images), strict=True):
        torch.testing.assert_close(got, expected, atol=0, rtol=0)


def _tiny_index_reversed():
    return true_position_index(TINY.window).flatten().flip(0)


class _RunsCode:
    """Unpickling this calls Path.touch on the marker: proof that the loader ran code if the file appears."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def _write(tmp_path: Path, case: str) -> Path:
    path = tmp_path / "model.pt"
    qkv = "backbone.0.5.1.attn.qkv.weight"
    if case == "missing":
        write_official_checkpoint(path, TINY, drop=(qkv, "linear_fuse.weight", "pe_layer.positional_encoding_gaussian_matrix"))
    elif case == "misshapen":
        write_official_checkpoint(path, TINY, extra={"face_decoder.mask_tokens.weight": torch.zeros(10, 32)})
    elif case == "unexpected":
        write_official_checkpoint(path, TINY, extra={"face_decoder.extra_head.weight": torch.zeros(2),
                                                     "face_decoder.other.bias": torch.zeros(2)})
    elif case == "index values":
        write_official_checkpoint(path, TINY, extra={
            "backbone.0.3.1.attn.relative_position_index": _tiny_index_reversed()})
    elif case == "sizes":  # 3 heads cannot split stage 1's 8 channels
        write_official_checkpoint(path, TINY, extra={
            "backbone.0.1.0.attn.relative_position_bias_table": torch.zeros(169, 3)})
    elif case == "runs code":
        torch.save({"state_dict_backbone": {"x": torch.zeros(1)}, "hook": _RunsCode(tmp_path / "ran")}, path)
    elif case == "no state dict":
        torch.save({"epoch": 3, "optimizer": {"lr": 0.1}}, path)
    elif case == "text":
        path.write_text("this is not a checkpoint\n")
    elif case == "folder":
        path.mkdir()
    return path


@pytest.mark.parametrize(("case", "expected"), [
    ("missing", "lacks 3 tensors the model needs, first: backbone.0.5.1.attn.qkv.weight"),
    ("misshapen", "has tensor face_decoder.mask_tokens.weight of shape (10, 32) where FaceXFormer has (11, 32)"),
    ("unexpected", "has 2 tensors FaceXFormer does not, first: face_decoder.extra_head.weight"),
    ("index values", "values are not those of a 7 x 7 Swin window, first: backbone.0.3.1.attn.relative_position_index"),
    ("sizes", "does not describe a FaceXFormer (FaceXFormer sizes do not fit together: stage 1's 3 heads"),
    ("runs code", "need code to be run"),
    ("no state dict", "holds no 'state_dict_backbone'"),
    ("text", "is not a torch checkpoint file"),
    ("folder", "is a folder, not a file"),
    ("missing path", "does not exist"),
])
def test_a_bad_checkpoint_is_one_sentence(tmp_path, case, expected):
    path = _write(tmp_path, case)
    with pytest.raises(UserError) as caught:
        load_facexformer(path)
    message = str(caught.value)
    assert expected in message and "\n" not in message and str(path) in message
    if case == "runs code":
        assert not (tmp_path / "ran").exists()
        torch.load(path, weights_only=False)  # the file really runs code when unpickled without the guard
        assert (tmp_path / "ran").exists()


# --- the published size -------------------------------------------------------------------------------------

@torch.no_grad()
def test_a_published_size_checkpoint_loads_and_runs(tmp_path):
    path = tmp_path / "model.pt"
    write_official_checkpoint(path, PUBLISHED, seed=0)
    model, info = load_facexformer(path)
    layout = official_layout(PUBLISHED)
    buffers = ("relative_position_index", "positional_encoding_gaussian_matrix")
    assert info["published"] is True and info["tensors"] == PUBLISHED_TENSORS
    assert info["parameters"] == sum(math.prod(s) for k, s in layout.items() if not k.endswith(buffers))
    image = torch.randn(1, 3, 224, 224)
    landmarks, parsing = model(image)
    assert landmarks.shape == (1, NUM_LANDMARKS, 2) and parsing.shape == (1, NUM_PARSING, 224, 224)
    assert torch.isfinite(landmarks).all() and torch.isfinite(parsing).all()
    assert landmarks_to_pixels(landmarks[0], 224, 224).shape == (68, 2)
