"""The Swin Transformer encoder of FaceXFormer, laid out like torchvision's `swin_b` so its weights load by name.

FaceXFormer keeps `nn.Sequential(*list(swin_b().children())[:-1])` as its backbone and reads the four stage
outputs through forward hooks; `SwinBackbone` is that Sequential (index 0 the `features`, 1 the final norm)
and returns the four stage outputs directly. The module names and the buffer follow torchvision exactly
(`features.0` the patch embedding, odd indices the stages, even ones the patch merging, `mlp.0`/`mlp.3`),
because the checkpoint's keys are those names. Written here rather than imported: torchvision is not a
dependency of this package.

Behaviour follows torchvision's `shifted_window_attention` (v1): the map is zero-padded at the bottom and
right to a multiple of the window *after* norm1, and padded tokens take part in the attention as keys
(torchvision does not mask them); odd blocks shift by window // 2 unless the window covers the padded map
along that side, where the shift is 0 (at 224 input this is stage 4, whose map is 7 x 7); tokens of one
shifted window that come from different regions of the rolled map get -100 added to their logits.
torchvision decides that zero shift by overwriting the block's shift list once and for all; here it is
decided per call from the map's size, which is the same for a fixed input size and does not depend on the
order in which sizes were seen.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# torchvision's value for logits of token pairs from different regions of a shifted window.
MASKED_LOGIT = -100.0
LAYER_NORM_EPS = 1e-5
MLP_RATIO = 4


def relative_position_index(window: int) -> torch.Tensor:
    """(window^4,) int64: for each (query, key) pair of a window, flattened row-major, the row of the
    relative position bias table, ((dy + window - 1) * (2 * window - 1) + dx + window - 1)."""
    ys, xs = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    dy = ys[:, None] - ys[None, :] + window - 1
    dx = xs[:, None] - xs[None, :] + window - 1
    return (dy * (2 * window - 1) + dx).flatten()


def _region_labels(size: int, window: int, shift: int, device=None) -> torch.Tensor:
    """(size,) region of each row (or column) of the rolled map: the last window splits in two at the shift."""
    labels = torch.zeros(size, dtype=torch.long, device=device)
    if shift:
        labels[size - window:] = 1
        labels[size - shift:] = 2
    return labels


def shift_mask(height: int, width: int, window: int, shift: tuple[int, int], device=None) -> torch.Tensor:
    """(windows, window^2, window^2) additive mask of a padded, rolled map: 0 within a region, -100 across."""
    rows = _region_labels(height, window, shift[0], device)
    cols = _region_labels(width, window, shift[1], device)
    regions = rows[:, None] * 3 + cols[None, :]
    regions = regions.view(height // window, window, width // window, window).permute(0, 2, 1, 3)
    regions = regions.reshape(-1, window * window)
    different = regions[:, :, None] != regions[:, None, :]
    return torch.zeros(different.shape, device=device).masked_fill(different, MASKED_LOGIT)


def _partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C) with H, W multiples of window -> (B, windows, window^2, C), windows row-major."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (h // window) * (w // window), window * window, c)


def _merge(windows: torch.Tensor, height: int, width: int, window: int) -> torch.Tensor:
    """Inverse of `_partition`."""
    b, _, _, c = windows.shape
    x = windows.view(b, height // window, width // window, window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, height, width, c)


class WindowAttention(nn.Module):
    """Multi-head self-attention within (shifted) windows with a learned relative position bias, batched
    over all windows of all images."""

    def __init__(self, dim: int, num_heads: int, window: int):
        super().__init__()
        self.num_heads, self.window = num_heads, window
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, num_heads))
        # Persistent, as in torchvision: the checkpoint holds it, and the loader checks its values.
        self.register_buffer("relative_position_index", relative_position_index(window))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def position_bias(self) -> torch.Tensor:
        """(heads, window^2, window^2) bias added to every window's logits."""
        n = self.window * self.window
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        return bias.view(n, n, self.num_heads).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, shift: int = 0) -> torch.Tensor:
        """x (B, H, W, C) -> (B, H, W, C); `shift` is the block's nominal shift (0 or window // 2)."""
        b, h, w, c = x.shape
        win = self.window
        x = F.pad(x, (0, 0, 0, (win - w % win) % win, 0, (win - h % win) % win))
        ph, pw = x.shape[1:3]
        # A window that spans the whole padded side leaves nothing to shift along it.
        shifts = (shift if ph > win else 0, shift if pw > win else 0)
        if any(shifts):
            x = torch.roll(x, shifts=(-shifts[0], -shifts[1]), dims=(1, 2))
        windows = _partition(x, win)
        nw, n = windows.shape[1:3]
        qkv = self.qkv(windows).view(b, nw, n, 3, self.num_heads, c // self.num_heads)
        # Windows and heads share one axis, (B, windows * heads, n, head dim): attention stays 4-D (what the
        # fused kernels take) and the per-window bias broadcasts over the batch without being copied.
        q, k, v = qkv.permute(3, 0, 1, 4, 2, 5).reshape(3, b, nw * self.num_heads, n, -1).unbind(0)
        bias = self.position_bias()[None]  # (1, heads, n, n), the same for every window
        if any(shifts):
            bias = bias + shift_mask(ph, pw, win, shifts, bias.device)[:, None]  # (windows, heads, n, n)
        bias = bias.expand(nw, -1, -1, -1).reshape(1, nw * self.num_heads, n, n)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        out = self.proj(out.reshape(b, nw, self.num_heads, n, -1).transpose(2, 3).reshape(b, nw, n, c))
        out = _merge(out, ph, pw, win)
        if any(shifts):
            out = torch.roll(out, shifts=shifts, dims=(1, 2))
        return out[:, :h, :w].contiguous()


class SwinBlock(nn.Module):
    """norm1 -> window attention -> residual, norm2 -> MLP (GELU) -> residual, channels last."""

    def __init__(self, dim: int, num_heads: int, window: int, shift: int):
        super().__init__()
        self.shift = shift
        self.norm1 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attn = WindowAttention(dim, num_heads, window)
        self.norm2 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        # Identity where torchvision's MLP has its dropout, so the second linear layer is `mlp.3` as in the file.
        self.mlp = nn.Sequential(nn.Linear(dim, MLP_RATIO * dim), nn.GELU(), nn.Identity(),
                                 nn.Linear(MLP_RATIO * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), self.shift)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """(B, H, W, C) -> (B, ceil(H/2), ceil(W/2), 2C): each 2 x 2 neighbourhood concatenated in torchvision's
    order (top-left, bottom-left, top-right, bottom-right), normalised, then projected; odd sides padded."""

    def __init__(self, dim: int):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim, eps=LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[1:3]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x))


class ChannelsLast(nn.Module):
    """(B, C, H, W) -> (B, H, W, C); torchvision's `Permute([0, 2, 3, 1])`, parameter-free."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1)


class SwinBackbone(nn.Sequential):
    """torchvision's Swin without its head: [0] `features`, [1] the final norm (loaded, never applied)."""

    def __init__(self, embed_dim: int, depths: tuple[int, ...], num_heads: tuple[int, ...], window: int,
                 patch: int):
        layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(3, embed_dim, patch, stride=patch), ChannelsLast(),
                                                 nn.LayerNorm(embed_dim, eps=LAYER_NORM_EPS))]
        for stage, (depth, heads) in enumerate(zip(depths, num_heads, strict=True)):
            dim = embed_dim * 2**stage
            layers.append(nn.Sequential(*(SwinBlock(dim, heads, window, window // 2 if i % 2 else 0)
                                          for i in range(depth))))
            if stage < len(depths) - 1:
                layers.append(PatchMerging(dim))
        width = embed_dim * 2 ** (len(depths) - 1)
        super().__init__(nn.Sequential(*layers), nn.LayerNorm(width, eps=LAYER_NORM_EPS))

    def stages(self, images: torch.Tensor) -> list[torch.Tensor]:
        """images (B, 3, H, W) -> the output of every stage, (B, H/4, W/4, C), (B, H/8, W/8, 2C), ...
        (channels last; what FaceXFormer's hooks on `0.1`, `0.3`, `0.5`, `0.7` collect)."""
        outputs = []
        x = images
        for index, layer in enumerate(self[0]):
            x = layer(x)
            if index % 2 == 1:
                outputs.append(x)
        return outputs
