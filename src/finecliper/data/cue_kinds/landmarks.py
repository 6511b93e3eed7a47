"""The landmarks cue kind: 68 iBUG points per frame, drawn as dots on the frame [PAPER shows them; OURS: size].

Store array `landmarks` (N, 68, 2) float32, x and y in continuous pixels of the frame as read (layout and
left/right conventions in `face_layout`). The points follow the frames' geometry exactly (the same affine
map); a horizontal flip also renumbers them through `face_layout.LANDMARK_FLIP`, so point 36 stays the
subject's right eye corner. Rendering draws filled dots of radius size/112 (2 px at 224), in the palette's
dot colour (FaceXFormer's yellow by default, `data/palettes.py`), on the spatially transformed frame, before
colour jitter; frames where no face was found (`valid` False: points
only interpolated) get no dots.
"""

from __future__ import annotations

import cv2
import numpy as np

from finecliper.data.cue_kinds.base import CUE_KINDS, CueKind
from finecliper.data.face_boxes import crop_points
from finecliper.data.palettes import DEFAULT_PALETTE, Palette, get_palette
from finecliper.errors import UserError
from finecliper.face_layout import LANDMARK_FLIP, LEFT_BROW, LEFT_EYE, NUM_LANDMARKS, RIGHT_BROW, RIGHT_EYE

_SHIFT = 4  # sub-pixel bits for cv2.circle centres
_RIGHT, _LEFT = RIGHT_BROW + RIGHT_EYE, LEFT_BROW + LEFT_EYE  # the subject's sides


def dot_radius(size: int) -> int:
    """Dot radius in pixels for an image side of `size`: 2 px at 224, never below 1."""
    return max(1, int(round(size / 112)))


def render_landmarks(
    frames: np.ndarray,
    landmarks: np.ndarray,
    valid: np.ndarray | None = None,
    radius: int | None = None,
    palette: str | Palette = DEFAULT_PALETTE,
) -> np.ndarray:
    """Dots for the landmarks drawn on a copy of the frames.

    frames (T, H, W, 3) uint8; landmarks (T, 68, 2) in continuous pixels (pixel i spans [i, i + 1));
    valid (T,) bool: frames where no face was found (points only interpolated) get no dots [OURS]. The dots
    have `palette`'s landmark colour.
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
    color = get_palette(palette).landmarks
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


class Landmarks(CueKind):
    name = "landmarks"
    dtype = np.float32

    def check(self, array, num_frames):
        if array.shape != (num_frames, NUM_LANDMARKS, 2):
            raise ValueError(f"landmarks must be (N, {NUM_LANDMARKS}, 2), got {array.shape}")

    def fit(self, data, stored_size, frame_size):
        points = data.astype(np.float32)  # (T, 68, 2)
        (cue_h, cue_w), (height, width) = stored_size, frame_size
        if (cue_h, cue_w) != (height, width):  # frames read at another size than the cue pipeline saw
            points[..., 0] *= width / cue_w
            points[..., 1] *= height / cue_h
        return points

    def crop_to_boxes(self, data, boxes, stored_size, frame_size):
        return crop_points(self.fit(data, stored_size, frame_size), boxes)

    def transform(self, data, params, size):
        if data.ndim != 3 or data.shape[2] != 2:
            raise UserError(f"landmarks must be (T, 68, 2), got {data.shape}")
        out = params.points(data, size)
        # Point i of the mirrored face is point LANDMARK_FLIP[i] of the original (left and right swap).
        return out[:, LANDMARK_FLIP] if params.flip else out

    def render(self, data, frames, valid, palette):
        return render_landmarks(frames, data, valid, palette=palette)

    def example(self, num_frames, height, width, rng):
        # Points spread over the lower face, and each brow and eye on its own side: the subject's right on
        # the image's left, as in an upright frontal image.
        points = rng.uniform([0.2 * width, 0.55 * height], [0.8 * width, 0.9 * height], (num_frames, NUM_LANDMARKS, 2))
        points[:, _RIGHT] = rng.uniform([0.15 * width, 0.2 * height], [0.45 * width, 0.45 * height],
                                        (num_frames, len(_RIGHT), 2))
        points[:, _LEFT] = rng.uniform([0.55 * width, 0.2 * height], [0.85 * width, 0.45 * height],
                                       (num_frames, len(_LEFT), 2))
        return points.astype(np.float32)

    def side_x(self, data):
        return np.stack([data[:, _RIGHT, 0].mean(axis=1), data[:, _LEFT, 0].mean(axis=1)], axis=1)


CUE_KINDS.add(Landmarks.name, Landmarks())
