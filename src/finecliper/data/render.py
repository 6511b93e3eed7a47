"""Renderings of the middle-level cues as images the CLIP image tower can take.

Parsing maps become a fixed-palette colour image (`face_layout.PARSING_PALETTE`); landmarks become dots
drawn on the frame, as in the paper's figures [PAPER shows both; colours and dot size are OURS]. Both
are drawn after the clip's spatial transform, at model resolution, so a dot is the same few pixels
whatever the source resolution and crop were.
"""

from __future__ import annotations

import cv2
import numpy as np

from finecliper.errors import UserError
from finecliper.face_layout import NUM_PARSING_CLASSES, PARSING_PALETTE

# [OURS] Dot colour: pure green stands out from skin, hair and most backgrounds.
LANDMARK_COLOR = (0, 255, 0)
_SHIFT = 4  # sub-pixel bits for cv2.circle centres


def dot_radius(size: int) -> int:
    """Dot radius in pixels for an image side of `size`: 2 px at 224, never below 1."""
    return max(1, int(round(size / 112)))


def render_parsing(parsing: np.ndarray) -> np.ndarray:
    """(T, H, W) uint8 class ids -> (T, H, W, 3) uint8 RGB in the fixed palette."""
    if parsing.ndim != 3:
        raise UserError(f"parsing maps must be (T, H, W), got {parsing.shape}")
    if parsing.size and int(parsing.max()) >= NUM_PARSING_CLASSES:
        raise UserError(f"parsing maps hold class {int(parsing.max())}; there are {NUM_PARSING_CLASSES} classes")
    return PARSING_PALETTE[parsing]


def render_landmarks(
    frames: np.ndarray,
    landmarks: np.ndarray,
    valid: np.ndarray | None = None,
    radius: int | None = None,
    color: tuple[int, int, int] = LANDMARK_COLOR,
) -> np.ndarray:
    """Dots for the landmarks drawn on a copy of the frames.

    frames (T, H, W, 3) uint8; landmarks (T, 68, 2) in continuous pixels (pixel i spans [i, i + 1));
    valid (T,) bool: frames where no face was found (points only interpolated) get no dots [OURS].
    Returns (T, H, W, 3) uint8.
    """
    if frames.ndim != 4 or frames.shape[3] != 3:
        raise UserError(f"frames must be (T, H, W, 3), got {frames.shape}")
    if landmarks.ndim != 3 or landmarks.shape[0] != frames.shape[0] or landmarks.shape[2] != 2:
        raise UserError(f"landmarks must be (T, 68, 2) with T = {frames.shape[0]}, got {landmarks.shape}")
    t, height, width = frames.shape[:3]
    if valid is None:
        valid = np.ones(t, dtype=bool)
    r = dot_radius(min(height, width)) if radius is None else radius
    out = np.ascontiguousarray(frames).copy()
    # Centres in cv2's pixel-index coordinates (pixel i centred on i), fixed point with _SHIFT bits.
    centres = np.round((np.nan_to_num(landmarks, nan=-1e6, posinf=-1e6, neginf=-1e6) - 0.5) * (1 << _SHIFT))
    inside = ((landmarks[..., 0] >= -r) & (landmarks[..., 0] < width + r)
              & (landmarks[..., 1] >= -r) & (landmarks[..., 1] < height + r)
              & np.isfinite(landmarks).all(axis=-1))  # (T, 68)
    for i in range(t):
        if not valid[i]:
            continue
        frame = out[i]
        for (x, y), ok in zip(centres[i].astype(np.int64), inside[i], strict=True):
            if ok:
                cv2.circle(frame, (int(x), int(y)), r << _SHIFT, color, thickness=-1, lineType=cv2.LINE_8,
                           shift=_SHIFT)
    return out
