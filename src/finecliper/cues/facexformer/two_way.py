"""The two-way transformer of FaceXFormer's decoder: SAM's mask-decoder transformer, as the authors use it.

Task tokens (queries) and image tokens (keys) update each other: in every layer the tokens attend to
themselves, then to the image, pass an MLP, and then the image attends to the tokens; a last token-to-image
attention and a norm end it. Positional encodings are added to queries and keys before every attention
(never to the values): the tokens' own initial embeddings serve as their encoding. As in SAM, the first
layer's self-attention has no positional encoding *and no residual connection*: its output replaces the
tokens. The cross attentions project to half the width (downsample rate 2) before splitting into heads.
Module names follow the authors' file (`layers.{i}.self_attn.q_proj`, `mlp.lin1`, `norm1`..`norm4`,
`final_attn_token_to_image`, `norm_final_attn`) because the checkpoint's keys are those names.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head attention whose projections may narrow the width to dim // downsample."""

    def __init__(self, dim: int, num_heads: int, downsample: int = 1):
        super().__init__()
        inner = dim // downsample
        if inner % num_heads:
            raise ValueError(f"{num_heads} heads do not divide the attention width {inner}")
        self.num_heads = num_heads
        self.q_proj = nn.Linear(dim, inner)
        self.k_proj = nn.Linear(dim, inner)
        self.v_proj = nn.Linear(dim, inner)
        self.out_proj = nn.Linear(inner, dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.view(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """q (B, Nq, dim), k and v (B, Nk, dim) -> (B, Nq, dim)."""
        out = F.scaled_dot_product_attention(self._heads(self.q_proj(q)), self._heads(self.k_proj(k)),
                                             self._heads(self.v_proj(v)))
        b, _, n, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, -1))


class MLPBlock(nn.Module):
    """lin1 -> ReLU -> lin2 (ReLU: the activation the authors' TwoWayTransformer passes to its blocks)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.lin1 = nn.Linear(dim, hidden)
        self.lin2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(F.relu(self.lin1(x)))


class TwoWayBlock(nn.Module):
    """Token self-attention, token-to-image attention, token MLP, image-to-token attention; each followed
    by its residual and LayerNorm."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, first: bool, downsample: int = 2):
        super().__init__()
        self.first = first
        self.self_attn = Attention(dim, num_heads)
        self.norm1 = nn.LayerNorm(dim)
        self.cross_attn_token_to_image = Attention(dim, num_heads, downsample)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLPBlock(dim, mlp_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.norm4 = nn.LayerNorm(dim)
        self.cross_attn_image_to_token = Attention(dim, num_heads, downsample)

    def forward(self, tokens: torch.Tensor, image: torch.Tensor, token_pe: torch.Tensor,
                image_pe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.first:
            tokens = self.norm1(self.self_attn(tokens, tokens, tokens))  # SAM: no PE and no residual here
        else:
            q = tokens + token_pe
            tokens = self.norm1(tokens + self.self_attn(q, q, tokens))
        image_keys = image + image_pe
        tokens = self.norm2(tokens + self.cross_attn_token_to_image(tokens + token_pe, image_keys, image))
        tokens = self.norm3(tokens + self.mlp(tokens))
        image = self.norm4(image + self.cross_attn_image_to_token(image_keys, tokens + token_pe, tokens))
        return tokens, image


class TwoWayTransformer(nn.Module):
    """`depth` two-way blocks, then a final token-to-image attention with residual and LayerNorm."""

    def __init__(self, depth: int, dim: int, num_heads: int, mlp_dim: int, downsample: int = 2):
        super().__init__()
        self.layers = nn.ModuleList(TwoWayBlock(dim, num_heads, mlp_dim, first=i == 0, downsample=downsample)
                                    for i in range(depth))
        self.final_attn_token_to_image = Attention(dim, num_heads, downsample)
        self.norm_final_attn = nn.LayerNorm(dim)

    def forward(self, image: torch.Tensor, image_pe: torch.Tensor,
                tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """image and image_pe (B, dim, H, W), tokens (B, N, dim) -> (tokens (B, N, dim), image (B, H*W, dim))."""
        image = image.flatten(2).transpose(1, 2)
        image_pe = image_pe.flatten(2).transpose(1, 2)
        token_pe, queries = tokens, tokens
        for layer in self.layers:
            queries, image = layer(queries, image, token_pe, image_pe)
        attended = self.final_attn_token_to_image(queries + token_pe, image + image_pe, image)
        return self.norm_final_attn(queries + attended), image
