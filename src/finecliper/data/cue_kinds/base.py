"""What a cue kind is, and the registry of them (`CUE_KINDS`).

A cue kind is one middle-level cue the image tower can read (docs/design.md §3, §5): its registry name is
at once the model's image branch, the batch key, and the name of its per-frame array in a cue store file and
in `ClipCues`. The entry owns everything specific to it, on the way from the store to the model:

1. `load`: its slice of a clip's cues for the sampled frame indices, brought onto the frames as the dataset
   holds them (read at some size, or cut to the store's face boxes);
2. `transform`: the clip's spatial transform (crop, resize, flip), including what a horizontal flip means
   for it beyond mirroring (which indices or classes are the subject's left and right);
3. `render`: an RGB image per frame at model resolution, for the image tower, in the run's palette
   (`data/palettes.py`); split, for transport, into
   `transport` (what a dataset item carries, on the CPU) and `render_device` (the rest, on the training
   device after the batch has moved; docs/design.md §4). By default the item carries the rendered image
   and the device does nothing more; a kind whose rendering is a lookup or drawing that can run on the
   device carries the smaller data instead (parsing: class ids, 1 byte a pixel instead of 3).

`check`, `example` and `side_x` describe a valid array, a frontal upright face's cues, and where the subject's
right and left lie in them: the store validates with the first, the registry-wide tests use the other two.
A new kind is one module under `data/cue_kinds/` that subclasses `CueKind` and registers an instance, plus its
import in `cue_kinds/__init__.py` and an extractor that writes its array (`ClipCues.extra[name]`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import numpy as np
import torch

from finecliper.registry import Registry

if TYPE_CHECKING:  # only for annotations: the cue store validates its arrays through this registry
    from finecliper.data.cue_store import ClipCues
    from finecliper.data.palettes import Palette
    from finecliper.data.spatial import SpatialParams


class CueKind(ABC):
    """One kind of cue: see the module docstring. Subclasses set `name` and implement the abstract methods."""

    name: str  # registry name = model branch = batch key = store array
    dtype: type  # of the store array

    def load(self, cues: ClipCues, idx: np.ndarray, frame_size: tuple[int, int],
             boxes: np.ndarray | None = None) -> np.ndarray:
        """Frames `idx` of this kind's cues on frames read at `frame_size` (H, W), cut to the face `boxes`
        (T, 3) in those frames' pixels when given (a raw video; see `face_boxes`). The cues must hold this
        kind's array (`cues.array(name)` is not None)."""
        data = cues.array(self.name)[idx]
        if boxes is None:
            return self.fit(data, cues.frame_size, frame_size)
        return self.crop_to_boxes(data, boxes, cues.frame_size, frame_size)

    @abstractmethod
    def check(self, array: np.ndarray, num_frames: int) -> None:
        """ValueError unless `array` is this kind's store array for a clip of `num_frames` frames."""

    @abstractmethod
    def fit(self, data: np.ndarray, stored_size: tuple[int, int], frame_size: tuple[int, int]) -> np.ndarray:
        """Stored data of frames whose cues were computed at `stored_size` (H, W), brought onto the same
        frames read at `frame_size`."""

    @abstractmethod
    def crop_to_boxes(self, data: np.ndarray, boxes: np.ndarray, stored_size: tuple[int, int],
                      frame_size: tuple[int, int]) -> np.ndarray:
        """Stored data cut to the face `boxes` (T, 3) given in pixels of frames read at `frame_size`, and
        resized to the boxes' median side, as `face_boxes.crop_frames` does to the frames."""

    @abstractmethod
    def transform(self, data: np.ndarray, params: SpatialParams, size: int) -> np.ndarray:
        """The clip's crop, resize to size x size and flip; a flip also swaps the subject's left and right."""

    @abstractmethod
    def render(self, data: np.ndarray, frames: np.ndarray, valid: np.ndarray, palette: Palette) -> np.ndarray:
        """(T, S, S, 3) uint8 RGB images for the image tower, from transformed data, the transformed frames
        (T, S, S, 3) uint8 (before colour jitter) and per-frame face validity (T,) bool, in `palette`'s
        colours (a kind without colours of its own in the palette may ignore it)."""

    def transport(self, data: np.ndarray, frames: np.ndarray, valid: np.ndarray, palette: Palette) -> np.ndarray:
        """What a dataset item carries for this kind (arguments as `render`); `render_device` of the batch
        of these must equal `render`. Default: the rendered (T, S, S, 3) uint8 image."""
        return self.render(data, frames, valid, palette)

    def render_device(self, batch: torch.Tensor, palette: Palette) -> torch.Tensor:
        """(B, T, ...) stacked `transport` arrays, on the model's device -> (B, T, S, S, 3) uint8 RGB images
        in `palette`'s colours."""
        return batch

    @abstractmethod
    def example(self, num_frames: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        """A store array for an upright frontal face filling most of (height, width) frames."""

    @abstractmethod
    def side_x(self, data: np.ndarray) -> np.ndarray:
        """(T, 2) image x of the subject's right and left features per frame, in the data's pixels."""


CUE_KINDS: Registry[CueKind] = Registry("cue kind")
