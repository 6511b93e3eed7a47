"""Pixel-grid operations on stacks of images: frames (T, H, W, 3) and per-pixel cue maps (T, H, W).

Coordinates are continuous pixels: pixel column i spans [i, i + 1), so a point at x lies on pixel
floor(x), and resizing a width w to S maps x to x * S / w exactly (the half-pixel-centre convention of
OpenCV's bilinear, area and nearest-exact resizing). Crops use integer offsets and no resampling, so crop
pixels + (x0, y0) = image pixels; outside the image a crop is zero (black, or background in a parsing map).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# One OpenCV thread: the data pipeline's parallelism is its DataLoader worker processes, and an OpenCV
# thread pool that exists when a worker is forked deadlocks that worker. Set on import, in the parent.
cv2.setNumThreads(1)


def resize_stack(images: np.ndarray, height: int, width: int, interpolation: int, flip: bool = False) -> np.ndarray:
    """(T, h, w[, C]) -> (T, height, width[, C]), mirrored left-right when `flip`; one OpenCV call per image
    into a preallocated array.

    Per image is faster than stacking the clip along channels (the transposes cost more than the calls).
    """
    out = np.empty((images.shape[0], height, width) + images.shape[3:], dtype=images.dtype)
    same = images.shape[1] == height and images.shape[2] == width
    for i in range(images.shape[0]):
        if same:
            out[i] = images[i]
        else:
            cv2.resize(images[i], (width, height), dst=out[i], interpolation=interpolation)
        if flip:
            cv2.flip(out[i], 1, dst=out[i])
    return out


def crop_rect(image: np.ndarray, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """The (h, w, ...) rectangle of `image` (H, W, ...) at (x0, y0), zero outside the image."""
    out = np.zeros((h, w) + image.shape[2:], dtype=image.dtype)
    fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + w, image.shape[1]), min(y0 + h, image.shape[0])
    if fx1 > fx0 and fy1 > fy0:
        out[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0] = image[fy0:fy1, fx0:fx1]
    return out


def crop_square(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The (side, side, ...) square `box` = (x0, y0, side) of `image` (H, W, ...); outside it is zero (black, or
    background in a parsing map). Integer offsets and no resizing, so crop pixels + (x0, y0) = image pixels."""
    x0, y0, side = (int(v) for v in box)
    return crop_rect(image, x0, y0, side, side)


def crop_scaled(image: np.ndarray, box: np.ndarray, scale_x: float, scale_y: float) -> np.ndarray:
    """Square `box` (x0, y0, side) of frame pixels, cut from `image` whose pixels are frame pixels scaled by
    (scale_x, scale_y): the box's edges are scaled and rounded, so the cut may be a little off square."""
    x0, y0, side = (int(v) for v in box)
    if scale_x == 1 and scale_y == 1:
        return crop_rect(image, x0, y0, side, side)
    # Half-up rounding of the scaled edges (np.round would round halves to even, shifting some boxes).
    px0, px1 = math.floor(x0 * scale_x + 0.5), math.floor((x0 + side) * scale_x + 0.5)
    py0, py1 = math.floor(y0 * scale_y + 0.5), math.floor((y0 + side) * scale_y + 0.5)
    return crop_rect(image, px0, py0, max(1, px1 - px0), max(1, py1 - py0))
