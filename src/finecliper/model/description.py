"""The high-level branch: aligning the clip with its fine-grained description and mixing the two.

`d` is the unit text embedding of the refined description. Alignment [PAPER] is a symmetric InfoNCE
between clip and description embeddings over the global batch: under `torchrun` the processes' rows
are gathered with their gradients (model/gather.py). The clip embedding used for classification
is z = normalise(w·v + (1 - w)·d), with w = sigmoid(g([v; d])) learned per sample [PAPER: adaptive
beat every fixed w] or a fixed number (the ablation). A clip with no description uses w = 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class AdaptiveWeight(nn.Module):
    """w = sigmoid(g([v; d])) with g a linear layer: one weight per sample, in (0, 1)."""

    def __init__(self, dim: int):
        super().__init__()
        self.gate = nn.Linear(2 * dim, 1)
        # Start at w = 0.5: the zero gate has no preference between video and text.
        nn.init.zeros_(self.gate.weight)
        nn.init.zeros_(self.gate.bias)

    def forward(self, v: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """v, d: (B, D) -> w: (B,)"""
        return torch.sigmoid(self.gate(torch.cat([v, d], dim=-1))).squeeze(-1)


def mix(v: torch.Tensor, d: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """normalise(w·v + (1 - w)·d) for unit v, d: (B, D) and w: (B,)."""
    w = w.unsqueeze(-1)
    return F.normalize(w * v + (1 - w) * d, dim=-1)


def alignment_loss(v: torch.Tensor, d: torch.Tensor, has: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """Symmetric InfoNCE between matching rows of unit v and d, both (N, D), over the rows where `has` (N,)
    is true: a row without a description is neither a query nor a candidate. Masked rather than indexed,
    so that the shapes (and the processes' gathered rows) never depend on which clips have texts."""
    logits = scale * v @ d.t()  # (N, N): clip i against description j
    absent = ~has[None, :]
    # Absent rows are ignored as queries (ignore_index) and masked as candidates; finite, never -inf, so
    # that a row left without any candidate cannot make a NaN.
    target = torch.where(has, torch.arange(v.shape[0], device=v.device), -100)
    lowest = torch.finfo(logits.dtype).min
    clip_to_text = F.cross_entropy(logits.masked_fill(absent, lowest), target, ignore_index=-100, reduction="sum")
    text_to_clip = F.cross_entropy(logits.t().masked_fill(absent, lowest), target, ignore_index=-100, reduction="sum")
    return 0.5 * (clip_to_text + text_to_clip) / has.sum().clamp(min=1)
