"""The paired spatial transform: a clip's frames and its cues through one crop, resize and flip.

A clip's frames (T, H, W, 3) uint8 and the data of each cue kind (by kind name: parsing maps (T, H, W),
landmarks (T, 68, 2), ...) go through the *same* crop, resize and flip (`spatial.SpatialParams`), so every
cue stays on the face it was computed from: frames bilinearly (area-averaged when shrinking), each cue kind
as its registry entry says (`data/cue_kinds/`: parsing maps by nearest neighbour, landmarks by the same
affine map of their coordinates), including what a horizontal flip swaps (the subject's left and right
landmark indices and parsing classes). Colour jitter (`color.py`) and CLIP normalisation (`normalize.py`)
come after, on frames and renderings.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from finecliper.data.cue_kinds import CUE_KINDS
from finecliper.data.spatial import SpatialParams
from finecliper.errors import UserError


def transform_frames(frames: np.ndarray, params: SpatialParams, size: int) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, size, size, 3): the crop box, resized (area when shrinking, else bilinear)."""
    if frames.ndim != 4 or frames.shape[3] != 3:
        raise UserError(f"frames must be (T, H, W, 3), got {frames.shape}")
    return params.images(frames, size, cv2.INTER_AREA if params.shrinks(size) else cv2.INTER_LINEAR)


def transform_clip(params: SpatialParams, size: int, frames: np.ndarray | None,
                   cues: Mapping[str, np.ndarray]) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """Frames (or None) and each cue kind's data (by kind name) through the same crop, resize to size x size
    and flip."""
    out_frames = None if frames is None else transform_frames(frames, params, size)
    return out_frames, {name: CUE_KINDS.get(name).transform(data, params, size) for name, data in cues.items()}


def apply_spatial(
    params: SpatialParams,
    size: int,
    frames: np.ndarray | None = None,
    parsing: np.ndarray | None = None,
    landmarks: np.ndarray | None = None,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """`transform_clip` for callers that hold frames, parsing maps and landmarks as separate arrays (any may
    be None): frames (T, H, W, 3) -> (T, S, S, 3); parsing (T, H, W) -> (T, S, S); landmarks (T, 68, 2) in
    pixels of the input -> pixels of the output."""
    given = {name: data for name, data in (("parsing", parsing), ("landmarks", landmarks)) if data is not None}
    out_frames, out = transform_clip(params, size, frames, given)
    return out_frames, out.get("parsing"), out.get("landmarks")
