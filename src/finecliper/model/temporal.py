"""Temporal fusion: one transformer over the frame tokens of every enabled image branch.

Per-frame CLIP embeddings of each branch (B, T, D) get a learned temporal position embedding and, when
there is more than one branch, a learned branch embedding; they are concatenated behind a class token
and pass through a small transformer (width D = CLIP's projection dim). The class token's output is the
clip representation `v` [OURS, after DFER-CLIP's temporal model].
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from finecliper.errors import UserError


class TemporalFusion(nn.Module):
    def __init__(self, dim: int, num_frames: int, branches: Sequence[str], heads: int = 8, layers: int = 1):
        super().__init__()
        if dim % heads:
            raise UserError(
                f"fusion_heads={heads} does not divide the fusion width {dim} (the backbone's projection dim); "
                f"choose a divisor of {dim}"
            )
        self.branches = list(branches)
        self.cls_token = nn.Parameter(torch.randn(dim) * 0.02)
        self.time_embedding = nn.Parameter(torch.randn(num_frames, dim) * 0.02)
        self.branch_embedding = (
            nn.Parameter(torch.randn(len(self.branches), dim) * 0.02) if len(self.branches) > 1 else None
        )
        block = nn.TransformerEncoderLayer(
            dim, heads, dim_feedforward=4 * dim, dropout=0.0, activation="gelu",
            batch_first=True, norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        """tokens: branch -> (B, T, D) frame embeddings. Returns v: (B, D)."""
        parts = []
        for i, name in enumerate(self.branches):
            x = tokens[name]  # (B, T, D)
            x = x + self.time_embedding[: x.shape[1]]
            if self.branch_embedding is not None:
                x = x + self.branch_embedding[i]
            parts.append(x)
        batch = parts[0].shape[0]
        cls = self.cls_token.to(parts[0].dtype).expand(batch, 1, -1)  # (B, 1, D)
        seq = torch.cat([cls, *parts], dim=1)  # (B, 1 + n_branches * T, D)
        return self.norm(self.encoder(seq)[:, 0])  # (B, D)
