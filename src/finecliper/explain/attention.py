"""Attention maps of the adapted image tower: recorded during the model's own forward pass.

The tower runs with PyTorch's SDPA, which never returns the attention probabilities, so a pre-forward hook
on each layer's attention module recomputes them from the very input that module receives:
softmax(q·kᵀ / sqrt(head dim)) with the layer's own q and k projections (the vision tower has no attention
mask). The adapters change that input (the serial adapter after attention and the parallel one beside the
MLP feed the next layer), so these are the adapted tower's maps, one set per branch, told apart by the
branch active in the tower's `BranchSelector` when the layer runs.

Maps of the CLS token over the image patches [OURS, the choice `finecliper explain --attention` offers]:
- `rollout` (default; Abnar & Zuidema, ACL 2020): per layer the heads' mean A, the residual added as
  0.5·A + 0.5·I with rows renormalised, multiplied through the layers; the CLS row over the patches.
- `last-cls`: the CLS row of the last layer's head-mean attention over the patches.
Each map is normalised to sum to 1 over the patches: the share of the CLS token's attention per patch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import torch

METHODS = {"rollout": "attention rollout", "last-cls": "last-layer CLS attention"}


def _attention_module(layer):
    """The layer's CLIP attention module, inside the adapter seam that wraps it (model/adapter.py) or not."""
    attn = layer.self_attn
    return getattr(attn, "base", attn)


def _probabilities(attn, hidden: torch.Tensor) -> torch.Tensor:
    """(N, L, L) head-mean attention probabilities of `attn` for its input `hidden` (N, L, width)."""
    n, length, _ = hidden.shape
    heads = attn.num_heads
    q = attn.q_proj(hidden).view(n, length, heads, -1).transpose(1, 2).float()
    k = attn.k_proj(hidden).view(n, length, heads, -1).transpose(1, 2).float()
    probs = torch.softmax(q @ k.transpose(-1, -2) * attn.scale, dim=-1)  # (N, heads, L, L)
    return probs.mean(dim=1)


@contextmanager
def record_attention(model) -> Iterator[dict[str, list[torch.Tensor]]]:
    """Within the block, every image-tower pass appends its layers' (N, L, L) head-mean attention to
    `recorded[branch]`, in layer order (`branch`: the tower's active adapter branch)."""
    recorded: dict[str, list[torch.Tensor]] = defaultdict(list)
    selector = model.image_branch

    def hook(module, args, kwargs):
        hidden = kwargs.get("hidden_states", args[0] if args else None)
        with torch.no_grad():
            recorded[selector.active or "plain"].append(_probabilities(module, hidden).cpu())

    layers = model.clip.vision_model.encoder.layers
    handles = [_attention_module(layer).register_forward_pre_hook(hook, with_kwargs=True) for layer in layers]
    try:
        yield recorded
    finally:
        for handle in handles:
            handle.remove()


def patch_maps(layers: list[torch.Tensor], method: str) -> torch.Tensor:
    """(N, g, g) maps of the CLS token over a g × g patch grid from one pass's (N, L, L) layer attentions."""
    if method == "rollout":
        eye = torch.eye(layers[0].shape[-1])
        joint = eye.expand_as(layers[0])
        for a in layers:
            a = 0.5 * a + 0.5 * eye
            joint = (a / a.sum(dim=-1, keepdim=True)) @ joint
        cls = joint[:, 0, 1:]
    elif method == "last-cls":
        cls = layers[-1][:, 0, 1:]
    else:
        raise ValueError(f"unknown attention method {method!r}")
    grid = round(cls.shape[-1] ** 0.5)
    cls = cls / cls.sum(dim=-1, keepdim=True)
    return cls.reshape(-1, grid, grid)
