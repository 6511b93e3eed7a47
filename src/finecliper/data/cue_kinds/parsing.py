"""The parsing cue kind: an 11-class face parsing map per frame, drawn as a colour mask [PAPER: FaceXFormer's
classes and, by default, its colours].

Store array `parsing` (N, h, w) uint8 class ids (`face_layout.PARSING_CLASSES`), possibly smaller than the
frames (the store caps the longer side). Maps are resized by nearest neighbour only (class ids must not
blend); a horizontal flip also relabels them through `face_layout.PARSING_FLIP`, so the subject's left eye
stays "left_eye". Cut to face boxes, a map is cut at its own scale and resized once. Rendering colours each
class with the run's palette (`data/palettes.py`, `data.palette`); in training batches the class ids travel (a
third of an RGB image's bytes) and the palette lookup runs on the model's device (`render_device`). Parsing
maps are most of a store file: the dataset decompresses
them only when this kind is asked for.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from finecliper.data.cue_kinds.base import CUE_KINDS, CueKind
from finecliper.data.face_boxes import crop_maps
from finecliper.data.images import resize_stack
from finecliper.data.palettes import DEFAULT_PALETTE, Palette, get_palette
from finecliper.errors import UserError
from finecliper.face_layout import NUM_PARSING_CLASSES, PARSING_FLIP, PARSING_INDEX

_NEAREST = cv2.INTER_NEAREST_EXACT
_RIGHT = [PARSING_INDEX["right_brow"], PARSING_INDEX["right_eye"]]  # the subject's sides
_LEFT = [PARSING_INDEX["left_brow"], PARSING_INDEX["left_eye"]]


def render_parsing(parsing: np.ndarray, palette: str | Palette = DEFAULT_PALETTE) -> np.ndarray:
    """(T, H, W) uint8 class ids -> (T, H, W, 3) uint8 RGB in `palette`'s colours."""
    if parsing.ndim != 3:
        raise UserError(f"parsing maps must be (T, H, W), got {parsing.shape}")
    _check_classes(parsing)
    return get_palette(palette).parsing[parsing]


def _check_classes(parsing: np.ndarray) -> None:
    if parsing.size and int(parsing.max()) >= NUM_PARSING_CLASSES:
        raise UserError(f"parsing maps hold class {int(parsing.max())}; there are {NUM_PARSING_CLASSES} classes")


_palettes: dict[tuple[torch.device, str], torch.Tensor] = {}  # each palette's colours per device, copied once


def palette_on(device: torch.device, palette: Palette) -> torch.Tensor:
    """`palette`'s parsing colours as a (classes, 3) uint8 tensor on `device`."""
    key = (device, palette.name)
    if key not in _palettes:
        _palettes[key] = torch.from_numpy(np.ascontiguousarray(palette.parsing, dtype=np.uint8)).to(device)
    return _palettes[key]


def resize_parsing(parsing: np.ndarray, height: int, width: int) -> np.ndarray:
    """Parsing maps (T, h, w) scaled by nearest neighbour to (T, height, width) (cue stores may keep them smaller)."""
    if parsing.shape[1:] == (height, width):
        return parsing
    return resize_stack(parsing, height, width, _NEAREST)


class Parsing(CueKind):
    name = "parsing"
    dtype = np.uint8

    def check(self, array, num_frames):
        if array.ndim != 3 or len(array) != num_frames:
            raise ValueError(f"parsing must be (N, h, w) with one map per frame of the landmarks, got {array.shape}")
        if array.size and int(array.max()) >= NUM_PARSING_CLASSES:
            raise ValueError(f"parsing holds a class id outside the {NUM_PARSING_CLASSES} parsing classes")

    def fit(self, data, stored_size, frame_size):
        return resize_parsing(data, *frame_size)  # the map's own size says its scale

    def crop_to_boxes(self, data, boxes, stored_size, frame_size):
        return crop_maps(data, boxes, frame_size, _NEAREST)

    def transform(self, data, params, size):
        if data.ndim != 3:
            raise UserError(f"parsing maps must be (T, H, W), got {data.shape}")
        out = params.images(data, size, _NEAREST)  # (T, S, S)
        # The map is mirrored; relabel: the subject's left eye now appears where the right one was.
        return PARSING_FLIP[out] if params.flip else out

    def render(self, data, frames, valid, palette):
        return render_parsing(data, palette)

    def transport(self, data, frames, valid, palette):
        if data.ndim != 3:
            raise UserError(f"parsing maps must be (T, H, W), got {data.shape}")
        _check_classes(data)  # here, on the CPU: the device's lookup must not read past the palette
        return np.ascontiguousarray(data, dtype=np.uint8)

    def render_device(self, batch, palette):
        # A gather from the palette on the device: the same colours as `render_parsing`.
        return palette_on(batch.device, palette)[batch.long()]

    def example(self, num_frames, height, width, rng):
        # Skin over the frame and an ellipse per brow and eye, the subject's right ones on the image's left.
        maps = np.full((num_frames, height, width), PARSING_INDEX["skin"], np.uint8)
        for t in range(num_frames):
            dy = rng.uniform(-0.03, 0.03) * height  # the face moves a little from frame to frame
            for part, cx, cy in (("right_brow", 0.3, 0.25), ("left_brow", 0.7, 0.25),
                                 ("right_eye", 0.3, 0.4), ("left_eye", 0.7, 0.4)):
                centre = (int(cx * width), int(cy * height + dy))
                axes = (max(1, int(0.1 * width)), max(1, int(0.04 * height)))
                cv2.ellipse(maps[t], centre, axes, 0, 0, 360, PARSING_INDEX[part], -1)
        return maps

    def side_x(self, data):
        xs = np.arange(data.shape[2]) + 0.5  # pixel centres
        return np.stack([_mean_x(data, _RIGHT, xs), _mean_x(data, _LEFT, xs)], axis=1)


def _mean_x(maps: np.ndarray, classes: list[int], xs: np.ndarray) -> np.ndarray:
    """(T,) mean x of the pixels of `classes` in each map (T, H, W)."""
    mask = np.isin(maps, classes)  # (T, H, W)
    return (mask * xs).sum(axis=(1, 2)) / np.maximum(mask.sum(axis=(1, 2)), 1)


CUE_KINDS.add(Parsing.name, Parsing())
