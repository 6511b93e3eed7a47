"""The cue backends (docs/design.md §5): one registry per role, and what an entry of each provides.

- `LANDMARK_BACKENDS`: follows the face through a clip as a set of points per frame and maps them
  onto the 68 iBUG points: MediaPipe's dense mesh (`mediapipe`, in `mediapipe_backend`), or FaceXFormer,
  the paper's cue model, which gives the 68 points and the parsing map in one pass from the user's
  weights file (`facexformer`, in `facexformer_backend`).
- `PARSING_BACKENDS`: draws the 11-class parsing maps, from the mesh's own regions (`mesh`, in
  `parsing_fill`), with a model that looks at the frames (`segformer`, in `segformer_backend`), or from
  the landmark backend's own pass (`facexformer`: `from_landmarks`).

An entry is a class registered where it is defined (`@PARSING_BACKENDS.register("mesh")`); the
extractor builds it once per process with `build(settings)`, where its heavy imports (mediapipe,
transformers) happen, so that the command line can list the entries without loading them.
`finecliper cues` and `finecliper predict` read their choices and help from here, and the package's
`__init__` imports every entry module, so the registries are complete whichever module is imported first.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from finecliper.registry import Registry

if TYPE_CHECKING:
    from finecliper.cues.extract import CueSettings

CROP_MODES = ("auto", "none")


class MeshLayout(Protocol):
    """How a landmark backend's meshes become the 68 iBUG points (resolved once per clip)."""

    def landmarks(self, meshes: np.ndarray) -> np.ndarray:
        """(T, K, 3) meshes -> (T, 68, 2) float32 landmarks in the meshes' pixels."""


@dataclass
class MeshTrack:
    """One clip's face, tracked: what its landmarks and parsing maps are computed from."""

    path: Path
    meshes: np.ndarray  # (T, K, 3) float32 in frame pixels; frames without a face interpolated
    valid: np.ndarray  # (T,) bool: a face was found in that frame
    boxes: np.ndarray | None  # (T, 3) square face crops (x0, y0, side), None when frames were used whole
    frame_size: tuple[int, int]  # (H, W)
    map_size: tuple[int, int]  # (h, w) of the parsing maps
    scale: float  # map size over frame size
    raw_parsing: np.ndarray | None  # (T, h, w) from a parsing backend that reads the frames, else None
    face_score: np.ndarray | None = None  # (T,) detector confidence at the mesh (cues.face_score), 0: none


@dataclass
class TrackedImage:
    """What a landmark backend's tracker gives for one image (a frame, or a face crop of it)."""

    mesh: np.ndarray | None  # (K, 3) float32 in the image's pixels; None: no face found
    parsing: np.ndarray | None = None  # (h, w) uint8 map of the whole image, from a backend that gives_parsing


class LandmarkBackend:
    """A face tracker whose per-frame meshes map onto the 68 iBUG points; one instance per process."""

    summary = ""  # one line for --help
    num_points = 0  # points of one frame's mesh
    needs_weights = False  # True: built from --weights, a local model file
    gives_parsing = False  # True: its tracker also draws each image's parsing map (TrackedImage.parsing)
    default_parsing = "mesh"  # the parsing backend used when none is named
    info: dict | None = None  # the model's description (weights hash, ...), recorded in the store's provenance

    @classmethod
    def build(cls, settings: CueSettings) -> LandmarkBackend:
        return cls()

    def versions(self) -> dict[str, str]:
        """Versions of the libraries whose output this is, recorded in the store's provenance."""
        return {}

    def quiet(self) -> AbstractContextManager:
        """Held around the work on one clip (e.g. to silence a native library's log lines)."""
        raise NotImplementedError

    def tracker(self) -> AbstractContextManager:
        """A fresh tracker for one clip: its `track(images, faces)` is called on the clip's images chunk after
        chunk, in order, and gives a `TrackedImage` per image (a backend with a model runs them as batches).
        `faces`: each image's faces from `detector()` through `face_crop.detect_faces` when the extractor has
        them already (the images are the frames, which it scores), else None."""
        raise NotImplementedError

    def detector(self) -> AbstractContextManager:
        """A face detector: called on a frame, gives every face as (k, 5) x0, y0, x1, y1, score."""
        raise NotImplementedError

    def layout(self, meshes: np.ndarray) -> MeshLayout:
        """The mapping onto 68 points, resolved on a clip's (T, K, 3) meshes of frames with a face.
        Raises ValueError when the meshes cannot be mapped."""
        raise NotImplementedError


class ParsingBackend:
    """Draws the parsing maps of a tracked clip; one instance per process."""

    summary = ""  # one line for --help
    needs_weights = False  # True: built from --parsing-weights, a local model folder
    reads_frames = False  # True: `parse` is called on every frame (or face crop) while the clip is tracked
    from_landmarks = False  # True: its raw maps are the landmark backend's own (a backend that gives_parsing)
    info: dict | None = None  # the model's description, recorded in the store's provenance

    @classmethod
    def build(cls, settings: CueSettings) -> ParsingBackend:
        return cls()

    def versions(self) -> dict[str, str]:
        return {}

    def parse(self, images: list[np.ndarray], sizes: list[tuple[int, int]]) -> list[np.ndarray]:
        """Maps of `images` ((h, w, 3) uint8 RGB), each at its entry of `sizes`; see `reads_frames`."""
        raise NotImplementedError

    def finish(self, track: MeshTrack, layout: MeshLayout, landmarks: np.ndarray) -> np.ndarray:
        """The clip's (T, h, w) uint8 parsing maps (face_layout.PARSING_CLASSES) at `track.map_size`."""
        raise NotImplementedError


LANDMARK_BACKENDS: Registry[type[LandmarkBackend]] = Registry("landmark backend")
PARSING_BACKENDS: Registry[type[ParsingBackend]] = Registry("parsing backend")


def needing_weights(registry: Registry = PARSING_BACKENDS) -> list[str]:
    """Names of the entries of `registry` that load a model (--parsing-weights, or --weights for landmarks)."""
    return [name for name, entry in registry.items() if entry.needs_weights]


def backend_help(registry: Registry) -> str:
    """The --backend / --parsing-backend help: every entry of `registry` with its one line."""
    return "; ".join(f"{name}: {entry.summary}" for name, entry in registry.items())
