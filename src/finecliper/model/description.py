"""The high-level branch: aligning the clip with its fine-grained description and mixing the two.

`d` is the unit text embedding of the refined description. Alignment [PAPER] is a symmetric InfoNCE
between clip and description embeddings within the batch. The clip embedding used for classification
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


def alignment_loss(v: torch.Tensor, d: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """Symmetric InfoNCE between matching rows of unit v and d, both (N, D)."""
    logits = scale * v @ d.t()  # (N, N)
    target = torch.arange(v.shape[0], device=v.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))
