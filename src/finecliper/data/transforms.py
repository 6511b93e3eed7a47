"""Paired clip transforms: one spatial transform for a clip's frames, parsing maps and landmarks.

A clip's frames (T, H, W, 3) uint8, its parsing maps (T, H, W) uint8 and its landmarks (T, 68, 2) go
through the *same* crop, resize and flip, so every cue stays on the face it was computed from:
frames bilinearly (area-averaged when shrinking), parsing maps by nearest neighbour (class ids must not
blend), landmarks by the same affine map of their coordinates. A horizontal flip also swaps the
subject's left and right: landmark indices through `face_layout.LANDMARK_FLIP`, parsing classes through
`face_layout.PARSING_FLIP`. Colour jitter touches frames only; `normalize` applies CLIP's mean and std.

Coordinates are continuous pixels: pixel column i spans [i, i + 1), so a point at x lies on pixel
floor(x), and resizing a width w to S maps x to x * S / w exactly (the half-pixel-centre convention of
OpenCV's bilinear, area and nearest-exact resizing).

Training [OURS, docs/design.md §4]: random resized crop (area share `scale`, aspect `ratio`), horizontal
flip with probability `flip_p`, colour jitter with probability `jitter_p` (one set of factors per clip,
so the clip does not flicker). Testing: the largest centred square, resized (CLIP's resize + centre
crop). All randomness comes from the `numpy.random.Generator` passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from finecliper.config.experiment import AugmentConfig
from finecliper.errors import UserError
from finecliper.face_layout import LANDMARK_FLIP, PARSING_FLIP

__all__ = ["AugmentConfig"]  # re-exported: the transforms take it

# One OpenCV thread: the data pipeline's parallelism is its DataLoader worker processes, and an OpenCV
# thread pool that exists when a worker is forked deadlocks that worker. Set on import, in the parent.
cv2.setNumThreads(1)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# (x / 255 - mean) / std as x * scale + shift, per channel.
_NORM_SCALE = (1.0 / (255.0 * torch.tensor(CLIP_STD))).view(1, 3, 1, 1)
_NORM_SHIFT = (-torch.tensor(CLIP_MEAN) / torch.tensor(CLIP_STD)).view(1, 3, 1, 1)


@dataclass
class SpatialParams:
    """One clip's spatial transform: crop box (integer pixels of the input frame) and flip."""

    x0: int
    y0: int
    w: int
    h: int
    flip: bool = False


def random_resized_box(height: int, width: int, cfg: AugmentConfig, rng: np.random.Generator) -> SpatialParams:
    """A crop box of random area share and aspect ratio (torchvision's algorithm; centre crop fallback)."""
    area = height * width
    log_ratio = (math.log(cfg.ratio[0]), math.log(cfg.ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(cfg.scale[0], cfg.scale[1])
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            x0 = int(rng.integers(0, width - w + 1))
            y0 = int(rng.integers(0, height - h + 1))
            return SpatialParams(x0, y0, w, h)
    return center_box(height, width)


def center_box(height: int, width: int) -> SpatialParams:
    """The largest centred square: with a resize to S, CLIP's resize-shorter-side + centre crop."""
    side = min(height, width)
    return SpatialParams((width - side) // 2, (height - side) // 2, side, side)


def sample_spatial(height: int, width: int, cfg: AugmentConfig, train: bool,
                   rng: np.random.Generator | None = None) -> SpatialParams:
    """The spatial transform of one clip: random crop and flip in training, centre square in testing."""
    if not train:
        return center_box(height, width)
    if rng is None:
        raise UserError("training transforms need a random generator (rng)")
    params = random_resized_box(height, width, cfg, rng)
    params.flip = bool(rng.random() < cfg.flip_p)
    return params


def _resize_frames(images: np.ndarray, height: int, width: int, interpolation: int, flip: bool = False) -> np.ndarray:
    """(T, h, w[, C]) -> (T, height, width[, C]), one OpenCV call per frame into a preallocated array.

    Per frame is faster than stacking the clip along channels (the transposes cost more than the calls).
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


def _crop_resize_frames(frames: np.ndarray, p: SpatialParams, size: int) -> np.ndarray:
    crop = frames[:, p.y0:p.y0 + p.h, p.x0:p.x0 + p.w]  # (T, h, w, 3)
    shrinking = p.w > size or p.h > size
    return _resize_frames(crop, size, size, cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR, p.flip)  # (T, S, S, 3)


def _crop_resize_parsing(parsing: np.ndarray, p: SpatialParams, size: int) -> np.ndarray:
    crop = parsing[:, p.y0:p.y0 + p.h, p.x0:p.x0 + p.w]  # (T, h, w)
    out = _resize_frames(crop, size, size, cv2.INTER_NEAREST_EXACT, p.flip)  # (T, S, S)
    if p.flip:
        # The map is mirrored; relabel: the subject's left eye now appears where the right one was.
        out = PARSING_FLIP[out]
    return out


def _transform_landmarks(landmarks: np.ndarray, p: SpatialParams, size: int) -> np.ndarray:
    out = landmarks.astype(np.float32, copy=True)  # (T, 68, 2) x, y
    out[..., 0] = (out[..., 0] - p.x0) * (size / p.w)
    out[..., 1] = (out[..., 1] - p.y0) * (size / p.h)
    if p.flip:
        out[..., 0] = size - out[..., 0]
        # Point i of the mirrored face is point LANDMARK_FLIP[i] of the original (left and right swap).
        out = out[:, LANDMARK_FLIP]
    return out


def apply_spatial(
    params: SpatialParams,
    size: int,
    frames: np.ndarray | None = None,
    parsing: np.ndarray | None = None,
    landmarks: np.ndarray | None = None,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Crop `params`' box, resize to size x size and flip, identically for each of the given arrays.

    frames (T, H, W, 3) uint8 -> (T, S, S, 3); parsing (T, H, W) uint8 -> (T, S, S) (nearest);
    landmarks (T, 68, 2) pixels of the input -> pixels of the output.
    """
    out_frames = out_parsing = out_landmarks = None
    if frames is not None:
        if frames.ndim != 4 or frames.shape[3] != 3:
            raise UserError(f"frames must be (T, H, W, 3), got {frames.shape}")
        out_frames = _crop_resize_frames(frames, params, size)
    if parsing is not None:
        if parsing.ndim != 3:
            raise UserError(f"parsing maps must be (T, H, W), got {parsing.shape}")
        out_parsing = _crop_resize_parsing(parsing, params, size)
    if landmarks is not None:
        if landmarks.ndim != 3 or landmarks.shape[2] != 2:
            raise UserError(f"landmarks must be (T, 68, 2), got {landmarks.shape}")
        out_landmarks = _transform_landmarks(landmarks, params, size)
    return out_frames, out_parsing, out_landmarks


def crop_square(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The (side, side, ...) square `box` = (x0, y0, side) of `image` (H, W, ...); outside it is zero (black, or
    background in a parsing map). Integer offsets and no resizing, so crop pixels + (x0, y0) = image pixels."""
    x0, y0, side = (int(v) for v in box)
    return _crop_rect(image, x0, y0, side, side)


def _crop_rect(image: np.ndarray, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """The (h, w, ...) rectangle of `image` at (x0, y0), zero outside the image."""
    out = np.zeros((h, w) + image.shape[2:], dtype=image.dtype)
    fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + w, image.shape[1]), min(y0 + h, image.shape[0])
    if fx1 > fx0 and fy1 > fy0:
        out[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0] = image[fy0:fy1, fx0:fx1]
    return out


def crop_to_boxes(
    frames: np.ndarray,
    boxes: np.ndarray,
    parsing: np.ndarray | None = None,
    landmarks: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Face crops of a raw clip, the way its cues were computed: frame t cut to its square `boxes[t]`.

    frames (T, H, W, 3) of the raw frames, boxes (T, 3) (x0, y0, side) and landmarks (T, 68, 2) in those
    frames' pixels; parsing (T, h, w) of the same frames at their size or scaled (a cue store may keep them
    smaller): each map is cut to the box scaled by h / H and w / W and resized once, by nearest neighbour.
    The per-frame crops differ slightly in size (the face moves), so each is resized to the clip's median
    side S: frames (T, S, S, 3), parsing (T, S, S), landmarks in crop pixels.
    """
    boxes = np.asarray(boxes)
    if boxes.shape != (len(frames), 3):
        raise UserError(f"need one face box (x0, y0, side) per frame, got {boxes.shape} for {len(frames)} frames")
    if parsing is not None and (parsing.ndim != 3 or len(parsing) != len(frames)):
        raise UserError(f"parsing maps must be (T, h, w) for {len(frames)} frames, got {parsing.shape}")
    side = max(1, int(np.median(boxes[:, 2])))
    out_frames = np.empty((len(frames), side, side, 3), dtype=frames.dtype)
    out_parsing = None
    if parsing is not None:
        out_parsing = np.empty((len(frames), side, side), dtype=parsing.dtype)
        # The maps' pixels per frame pixel (1 when the maps are at the frames' size).
        scale_x, scale_y = parsing.shape[2] / frames.shape[2], parsing.shape[1] / frames.shape[1]
    for t, box in enumerate(boxes):
        same = int(box[2]) == side
        image = crop_square(frames[t], box)
        if same:
            out_frames[t] = image
        else:
            shrinking = int(box[2]) > side
            cv2.resize(image, (side, side), dst=out_frames[t],
                       interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        if out_parsing is not None:
            region = _crop_scaled(parsing[t], box, scale_x, scale_y)
            if region.shape == (side, side):
                out_parsing[t] = region
            else:
                cv2.resize(region, (side, side), dst=out_parsing[t], interpolation=cv2.INTER_NEAREST_EXACT)
    out_landmarks = None
    if landmarks is not None:
        scale = (side / boxes[:, 2].astype(np.float32))[:, None, None]  # (T, 1, 1)
        out_landmarks = ((landmarks - boxes[:, None, :2].astype(np.float32)) * scale).astype(np.float32)
    return out_frames, out_parsing, out_landmarks


def _crop_scaled(image: np.ndarray, box: np.ndarray, scale_x: float, scale_y: float) -> np.ndarray:
    """Square `box` (x0, y0, side) of frame pixels, cut from `image` whose pixels are frame pixels scaled by
    (scale_x, scale_y): the box's edges are scaled and rounded, so the cut may be a little off square."""
    x0, y0, side = (int(v) for v in box)
    if scale_x == 1 and scale_y == 1:
        return _crop_rect(image, x0, y0, side, side)
    # Half-up rounding of the scaled edges (np.round would round halves to even, shifting some boxes).
    px0, px1 = math.floor(x0 * scale_x + 0.5), math.floor((x0 + side) * scale_x + 0.5)
    py0, py1 = math.floor(y0 * scale_y + 0.5), math.floor((y0 + side) * scale_y + 0.5)
    return _crop_rect(image, px0, py0, max(1, px1 - px0), max(1, py1 - py0))


def resize_parsing(parsing: np.ndarray, height: int, width: int) -> np.ndarray:
    """Parsing maps (T, h, w) scaled by nearest neighbour to (T, height, width) (cue stores may keep them smaller)."""
    if parsing.shape[1:] == (height, width):
        return parsing
    return _resize_frames(parsing, height, width, cv2.INTER_NEAREST_EXACT)


# --- colour ----------------------------------------------------------------------------------------

# RGB <-> YIQ: a hue rotation is a rotation of the (I, Q) plane; cheaper than a round trip through HSV.
_RGB2YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=np.float32)
_YIQ2RGB = np.linalg.inv(_RGB2YIQ).astype(np.float32)
_GRAY = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def color_jitter(frames: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast, saturation and hue jitter with one set of factors for the whole clip.

    frames (T, S, S, 3) uint8 -> (T, S, S, 3) uint8. With probability 1 - jitter_p the clip is returned
    unchanged (the draws are still made, so later draws do not depend on the outcome).
    """
    apply = rng.random() < cfg.jitter_p
    b = rng.uniform(1 - cfg.brightness, 1 + cfg.brightness)
    c = rng.uniform(1 - cfg.contrast, 1 + cfg.contrast)
    s = rng.uniform(1 - cfg.saturation, 1 + cfg.saturation)
    h = rng.uniform(-cfg.hue, cfg.hue)
    if not apply:
        return frames
    # One 3x3 colour matrix for saturation, hue and brightness; contrast then blends each frame towards
    # its mean grey (as torchvision does per image), which folds into the same affine map per frame.
    angle = 2 * math.pi * h
    rot = np.array([[1, 0, 0], [0, math.cos(angle), -math.sin(angle)], [0, math.sin(angle), math.cos(angle)]],
                   dtype=np.float32)
    hue_m = _YIQ2RGB @ rot @ _RGB2YIQ
    sat_m = s * np.eye(3, dtype=np.float32) + (1 - s) * np.outer(np.ones(3, np.float32), _GRAY)
    m = (sat_m @ hue_m) * b
    out = np.empty_like(frames)
    affine = np.empty((3, 4), dtype=np.float32)
    affine[:, :3] = c * m
    for i in range(frames.shape[0]):
        mean_rgb = np.asarray(cv2.mean(frames[i])[:3], dtype=np.float32)
        grey = float(_GRAY @ (m @ mean_rgb))  # mean grey of the frame after the colour matrix
        affine[:, 3] = (1 - c) * grey
        cv2.transform(frames[i], affine, dst=out[i])  # rounds and saturates to uint8
    return out


def normalize(images: np.ndarray) -> torch.Tensor:
    """(T, S, S, 3) uint8 RGB -> (T, 3, S, S) float32 with CLIP's mean and std."""
    # Channels first while still uint8 (a quarter of the bytes to move), then one scale and one shift.
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous().float()  # (T, 3, S, S)
    return x.mul_(_NORM_SCALE).add_(_NORM_SHIFT)
