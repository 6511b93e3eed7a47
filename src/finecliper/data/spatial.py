"""One clip's spatial transform: a crop box and a horizontal flip, how they are drawn, and how they move
pixels and points.

Training [OURS, docs/design.md §4]: random resized crop (area share `scale`, aspect `ratio`, torchvision's
algorithm) and a horizontal flip with probability `flip_p`. Testing: the largest centred square (with the
resize to S, CLIP's resize + centre crop). All randomness comes from the `numpy.random.Generator` passed in.
The same parameters are applied to the frames and to every cue kind (`transforms.transform_clip`); what a
flip means beyond mirroring (the subject's left becomes the image's left) is each cue kind's business.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from finecliper.config.experiment import AugmentConfig
from finecliper.data.images import resize_stack
from finecliper.errors import UserError


@dataclass
class SpatialParams:
    """One clip's spatial transform: crop box (integer pixels of the input frame) and flip."""

    x0: int
    y0: int
    w: int
    h: int
    flip: bool = False

    def shrinks(self, size: int) -> bool:
        """True when the crop is larger than `size` in either direction (resizing it averages pixels)."""
        return self.w > size or self.h > size

    def images(self, images: np.ndarray, size: int, interpolation: int) -> np.ndarray:
        """(T, H, W[, C]) -> (T, size, size[, C]): the crop box, resized with `interpolation`, mirrored if flip."""
        crop = images[:, self.y0 : self.y0 + self.h, self.x0 : self.x0 + self.w]
        return resize_stack(crop, size, size, interpolation, self.flip)

    def points(self, points: np.ndarray, size: int) -> np.ndarray:
        """(..., 2) x, y in pixels of the input -> float32 pixels of the size x size output, mirrored if flip."""
        out = points.astype(np.float32, copy=True)
        out[..., 0] = (out[..., 0] - self.x0) * (size / self.w)
        out[..., 1] = (out[..., 1] - self.y0) * (size / self.h)
        if self.flip:
            out[..., 0] = size - out[..., 0]
        return out


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
