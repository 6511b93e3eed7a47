"""Raw videos cut to the face crops their cues were computed on.

A cue store made from raw videos (not face crops) records per frame the square face crop (x0, y0, side) in
frame pixels that the cue pipeline used (`ClipCues.boxes`). The dataset cuts the frames, and every cue kind
its own data, to those boxes, so the model sees the face crops the cues describe. The crops differ slightly
in size from frame to frame (the face moves), so each is resized to the clip's median side S.
"""

from __future__ import annotations

import cv2
import numpy as np

from finecliper.data.images import crop_scaled, crop_square
from finecliper.errors import UserError


def scale_boxes(boxes: np.ndarray, stored_size: tuple[int, int], frame_size: tuple[int, int]) -> np.ndarray:
    """(T, 3) boxes in pixels of frames of `stored_size` (H, W) -> int64 boxes in pixels of `frame_size`
    (frames read at another size than the cue pipeline saw)."""
    boxes = boxes.astype(np.float64)
    (cue_h, cue_w), (height, width) = stored_size, frame_size
    if (cue_h, cue_w) != (height, width):
        boxes[:, 0] *= width / cue_w
        boxes[:, 1:] *= height / cue_h
    return boxes.round().astype(np.int64)


def box_side(boxes: np.ndarray) -> int:
    """The side S every crop of the clip is resized to: the boxes' median side."""
    return max(1, int(np.median(boxes[:, 2])))


def crop_frames(frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Frames (T, H, W, 3) -> (T, S, S, 3): frame t cut to its square `boxes[t]` and resized to S."""
    boxes = np.asarray(boxes)
    if boxes.shape != (len(frames), 3):
        raise UserError(f"need one face box (x0, y0, side) per frame, got {boxes.shape} for {len(frames)} frames")
    side = box_side(boxes)
    out = np.empty((len(frames), side, side, 3), dtype=frames.dtype)
    for t, box in enumerate(boxes):
        image = crop_square(frames[t], box)
        if int(box[2]) == side:
            out[t] = image
        else:
            shrinking = int(box[2]) > side
            cv2.resize(image, (side, side), dst=out[t], interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return out


def crop_maps(maps: np.ndarray, boxes: np.ndarray, frame_size: tuple[int, int], interpolation: int) -> np.ndarray:
    """Per-pixel maps (T, h, w) of frames of `frame_size` (H, W), at that size or scaled (a cue store may keep
    them smaller) -> (T, S, S): each map cut to its box scaled by h / H and w / W and resized once."""
    if maps.ndim != 3 or len(maps) != len(boxes):
        raise UserError(f"maps must be (T, h, w) for {len(boxes)} frames, got {maps.shape}")
    side = box_side(boxes)
    out = np.empty((len(maps), side, side), dtype=maps.dtype)
    # The maps' pixels per frame pixel (1 when the maps are at the frames' size).
    scale_x, scale_y = maps.shape[2] / frame_size[1], maps.shape[1] / frame_size[0]
    for t, box in enumerate(boxes):
        region = crop_scaled(maps[t], box, scale_x, scale_y)
        if region.shape == (side, side):
            out[t] = region
        else:
            cv2.resize(region, (side, side), dst=out[t], interpolation=interpolation)
    return out


def crop_points(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Points (T, K, 2) in frame pixels -> float32 pixels of the (S, S) crops."""
    scale = (box_side(boxes) / boxes[:, 2].astype(np.float32))[:, None, None]  # (T, 1, 1)
    return ((points - boxes[:, None, :2].astype(np.float32)) * scale).astype(np.float32)
