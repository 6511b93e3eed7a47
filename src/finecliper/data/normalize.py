"""CLIP's input normalisation: uint8 RGB images (frames and cue renderings) to the image tower's floats.

`normalize` works on a NumPy stack on the CPU; `normalize_tensor` is the same map on a tensor of any device
(the training batches' input stage, `data/prepare.py`), with the same constants.
"""

from __future__ import annotations

import numpy as np
import torch

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# (x / 255 - mean) / std as x * scale + shift, per channel.
_NORM_SCALE = (1.0 / (255.0 * torch.tensor(CLIP_STD))).view(1, 3, 1, 1)
_NORM_SHIFT = (-torch.tensor(CLIP_MEAN) / torch.tensor(CLIP_STD)).view(1, 3, 1, 1)


def normalize(images: np.ndarray) -> torch.Tensor:
    """(T, S, S, 3) uint8 RGB -> (T, 3, S, S) float32 with CLIP's mean and std."""
    # Channels first while still uint8 (a quarter of the bytes to move), then one scale and one shift.
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous().float()  # (T, 3, S, S)
    return x.mul_(_NORM_SCALE).add_(_NORM_SHIFT)


_constants: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}  # scale and shift, copied per device once


def normalize_tensor(images: torch.Tensor) -> torch.Tensor:
    """(..., S, S, 3) uint8 RGB -> (..., 3, S, S) float32 with CLIP's mean and std, on the images' device."""
    if images.device not in _constants:
        _constants[images.device] = (_NORM_SCALE.to(images.device), _NORM_SHIFT.to(images.device))
    scale, shift = _constants[images.device]
    # Channels first as a view; the float conversion writes the contiguous result once.
    x = images.movedim(-1, -3).to(torch.float32, memory_format=torch.contiguous_format)
    return x.mul_(scale).add_(shift)


def denormalize(images: torch.Tensor) -> np.ndarray:
    """(T, 3, S, S) CLIP-normalised floats -> (T, S, S, 3) uint8 RGB: the inverse of `normalize`, for showing
    what the model read."""
    x = (images.detach().float().cpu() - _NORM_SHIFT) / _NORM_SCALE
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
