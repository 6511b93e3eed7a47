"""The input stage on the model's device: a collated batch as it left the loader -> the model's inputs.

Batches travel lean (docs/design.md §4): frames as (B, T, S, S, 3) uint8 after the CPU's paired spatial
transform and colour jitter, and each cue kind as its `transport` array (parsing: class ids). Here, after
the move to the device (non-blocking: from pinned memory the copy overlaps the device's work), each cue
kind's `render_device` finishes its rendering (the parsing palette lookup) and every image stream gets
CLIP's normalisation: float (B, T, 3, S, S), what `FineCLIPER.forward` reads. Floating-point image tensors
are taken to be model inputs already and pass as they are (a caller that built them itself).
"""

from __future__ import annotations

import torch

from finecliper.data.cue_kinds import CUE_KINDS
from finecliper.data.normalize import normalize_tensor
from finecliper.data.palettes import DEFAULT_PALETTE, get_palette


def prepare_batch(batch: dict, device: torch.device | str) -> dict:
    """The batch on `device` with frames and cue images as the model's normalised floats; other tensors
    moved as they are, other values (texts, ids) kept."""
    out = {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    if isinstance(out.get("frames"), torch.Tensor):
        out["frames"] = model_images(out["frames"])
    palette = get_palette(out.get("palette", DEFAULT_PALETTE))
    for name, kind in CUE_KINDS.items():
        if isinstance(out.get(name), torch.Tensor) and not out[name].is_floating_point():
            out[name] = model_images(kind.render_device(out[name], palette))
    return out


def model_images(images: torch.Tensor) -> torch.Tensor:
    """(B, T, S, S, 3) uint8 RGB -> (B, T, 3, S, S) float32 normalised; a float tensor as it is."""
    return images if images.is_floating_point() else normalize_tensor(images)
