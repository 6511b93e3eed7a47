"""Cues of one clip: every frame's 68 landmarks, validity flag and 11-class parsing map.

`Extractor` holds what a process loads once (settings, the landmark and parsing backends of
`cues.backends`) and turns one clip into a `ClipCues` in three steps. `track`: read the frames in chunks
(so long clips do not sit in memory whole); with `crop="auto"` decide from a few frames whether they
are face crops and, if not, follow and crop the main face (`face_crop`); run a fresh tracker over the
frames (and a parsing model that reads frames, if any), and score each frame's face with an
independent detector (`face_score`, read by the per-clip verdict of `data.face_verdict`); fill frames
without a face by interpolating the mesh between the nearest frames with one (flagged invalid; a clip
without any face fails).
`layout`: resolve the mapping of the meshes onto the 68-point layout (`mesh_to_ibug`). `cues`: the
landmarks, and the parsing maps from the parsing backend. An optional `StageTimer` (`cues.timing`)
records each stage's time for `finecliper bench cues`.

Coordinates: landmarks are in continuous pixels of the frame as read (pixel i spans [i, i + 1), as
`finecliper.data.transforms` and `render` expect). Parsing maps
cover the whole frame at its resolution, capped at PARSING_MAX_SIDE on the longer side [OURS]. On the
datasets' 224 px face crops that is full resolution: 0.78 KB per frame compressed (plus 0.48 KB of
landmarks), where half resolution would save 0.48 KB but leave the lips, eyes and brows at an overlap
(IoU) of only 0.69-0.84 with the full maps (`finecliper bench cues` prints these figures). A raw 720p
frame's map, mostly background, costs ~1.4 KB; the cap bounds memory for larger videos, whose maps a
clip holds in memory whole (T x h x w bytes).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from finecliper import __version__
from finecliper.cues import face_crop
from finecliper.cues.backends import (
    CROP_MODES,
    LANDMARK_BACKENDS,
    PARSING_BACKENDS,
    MeshTrack,
    TrackedImage,
    needing_weights,
)
from finecliper.cues.face_score import MIN_IOU as FACE_SCORE_MIN_IOU
from finecliper.cues.face_score import face_score
from finecliper.cues.timing import StageTimer
from finecliper.cues.tracks import interpolate_missing, spread_indices
from finecliper.data.cue_store import ClipCues
from finecliper.data.images import crop_square
from finecliper.data.video import count_frames, read_clip
from finecliper.errors import UserError
from finecliper.face_layout import PARSING_CLASSES
from finecliper.paths import existing_file

PARSING_MAX_SIDE = 1280
# Frames read at a time: 256 MiB of pixels (5000 frames of 224 px, 90 of 720p, 40 of 1080p). A clip that
# fits in one chunk is decoded once, even when face cropping needs two passes over it.
CHUNK_BYTES = 256 * 2**20
CROP_PROBE_FRAMES = 5  # frames looked at to decide whether a clip is already face crops


@dataclass
class CueSettings:
    """Everything that decides the cues' content; recorded in the store's provenance."""

    backend: str = "mediapipe"  # a LANDMARK_BACKENDS name
    parsing_backend: str | None = None  # a PARSING_BACKENDS name; None: the landmark backend's default_parsing
    parsing_weights: str | None = None  # local model folder for a parsing backend that needs_weights
    crop: str = "auto"
    device: str = "cpu"  # for the models only; MediaPipe runs on the CPU
    weights: str | None = None  # local model file for a landmark backend that needs_weights (facexformer)

    def __post_init__(self) -> None:
        if self.parsing_backend is None and self.backend in LANDMARK_BACKENDS:
            self.parsing_backend = LANDMARK_BACKENDS.get(self.backend).default_parsing

    def validate(self) -> None:
        landmarks = LANDMARK_BACKENDS.get(self.backend)  # an unknown name: UserError listing the known ones
        parsing = PARSING_BACKENDS.get(self.parsing_backend or "")
        if self.crop not in CROP_MODES:
            raise UserError(f"unknown crop mode {self.crop!r}; choose one of {', '.join(CROP_MODES)}")
        # A backend that draws parsing in its own pass pairs only with the parsing backend that reads it.
        if parsing.from_landmarks != landmarks.gives_parsing:
            raise UserError(f"the {self.backend} landmark backend and the {self.parsing_backend} parsing backend do not "
                            f"go together; leave out --parsing-backend to use {landmarks.default_parsing}")
        if landmarks.needs_weights and not self.weights:
            raise UserError(f"the {self.backend} landmark backend needs --weights, its model file (see the README)")
        if not landmarks.needs_weights and self.weights:
            raise UserError(f"--weights is only used with --backend {' or '.join(needing_weights(LANDMARK_BACKENDS))}")
        if self.weights:
            existing_file(self.weights, f"{self.backend} weights file")
        if parsing.needs_weights and not self.parsing_weights:
            raise UserError(f"the {self.parsing_backend} parsing backend needs --parsing-weights, a local model folder")
        if not parsing.needs_weights and self.parsing_weights:
            raise UserError(f"--parsing-weights is only used with --parsing-backend {' or '.join(needing_weights())}")

    def content(self) -> dict:
        """The settings that change what is written (not where it runs)."""
        out = asdict(self)
        out.pop("device")
        if out["weights"] is None:
            out.pop("weights")  # stores written before landmark backends had weights record no such key
        for key in ("weights", "parsing_weights"):
            if out.get(key):
                out[key] = str(Path(out[key]).resolve())
        return out


def map_size(frame_size: tuple[int, int]) -> tuple[tuple[int, int], float]:
    """(h, w) of a clip's stored parsing maps and their scale relative to the frame."""
    h, w = frame_size
    scale = min(1.0, PARSING_MAX_SIDE / max(h, w))
    return (max(1, round(h * scale)), max(1, round(w * scale))), scale


class _Frames:
    """A clip's frames, read in chunks of CHUNK_BYTES; a clip that fits in one is decoded once and kept.

    `n`: the clip's frame count when known already (a manifest's), which saves decoding a video once
    more just to count its frames. The chunk length follows from the frame size, so frame 0 is read
    first (one frame: a video is decoded no further); a one-chunk clip is then read whole, once.
    """

    def __init__(self, path: Path, n: int | None = None):
        self.path = path
        self.n = count_frames(path) if n is None else n
        if self.n <= 0:
            raise UserError(f"clip {path} has no frames")
        first = read_clip(path, [0])[0]
        self.size = first.shape[:2]
        step = max(1, min(self.n, CHUNK_BYTES // first.nbytes))
        self.chunks = [(a, min(a + step, self.n)) for a in range(0, self.n, step)]
        self._all = None
        if len(self.chunks) == 1:
            self._all = first[None] if self.n == 1 else read_clip(path, range(self.n))

    def read(self, a: int, b: int) -> np.ndarray:
        return self._all[a:b] if self._all is not None else read_clip(self.path, range(a, b))

    def pick(self, indices: np.ndarray) -> np.ndarray:
        return self._all[indices] if self._all is not None else read_clip(self.path, indices)


class Extractor:
    """Builds the backends once per process; `extract(path)` gives one clip's `ClipCues`.

    `timer`: when given, every stage of every clip adds its time to it (`read`, `crop`, `mesh`, `parse`,
    `face_score`, `layout`, `landmarks`, `parsing`); `crop` includes re-reading clips too long to keep in memory.
    """

    def __init__(self, settings: CueSettings, timer: StageTimer | None = None):
        settings.validate()
        self.settings = settings
        self.landmarker = LANDMARK_BACKENDS.get(settings.backend).build(settings)
        self.parser = PARSING_BACKENDS.get(settings.parsing_backend).build(settings)
        self.timer = timer

    def provenance(self) -> dict:
        info = {
            "settings": self.settings.content(),
            "versions": {"finecliper": __version__, **self.landmarker.versions(), **self.parser.versions()},
            "landmarks": "68 iBUG points in continuous pixels of the frame as read (pixel i spans [i, i+1))",
            "parsing_classes": list(PARSING_CLASSES),
            "parsing_max_side": PARSING_MAX_SIDE,
            "face_score": {"detector": "the landmark backend's face detector", "min_iou": FACE_SCORE_MIN_IOU},
            "crop": {"face_crop_min_width": face_crop.FACE_CROP_MIN_WIDTH, "margin": face_crop.CROP_MARGIN,
                     "shift_down": face_crop.CROP_SHIFT_DOWN, "smooth_window": face_crop.SMOOTH_WINDOW},
        }
        if self.parser.info is not None:
            info["parsing_model"] = self.parser.info
        if self.landmarker.info is not None:
            info["landmark_model"] = self.landmarker.info
        return info

    def extract(self, path: str | Path, num_frames: int | None = None, sparse: bool = False) -> ClipCues:
        """Cues of the clip at `path` (frame folder or video). UserError when it cannot be done.

        `num_frames`: the clip's frame count when known (a manifest's), saving a video's decoding just to
        count its frames; the cues then cover exactly those frames (a clip with fewer fails).
        `sparse`: the frames are samples far apart in time (`finecliper predict` on a long video), so the
        face boxes are not smoothed over neighbouring frames.
        """
        # Native trackers (MediaPipe's C++ graphs) log a few lines whenever one starts, some from their
        # own threads a little later; the backend keeps them quiet for the whole clip (progress bar).
        with self.landmarker.quiet():
            track = self.track(path, num_frames, sparse)
            return self.cues(track, self.layout(track))

    def track(self, path: str | Path, num_frames: int | None = None, sparse: bool = False) -> MeshTrack:
        """The clip's face followed through its frames (first step of `extract`); `sparse`: see `extract`."""
        path = Path(path)
        with self._stage("read"):
            clip = _Frames(path, num_frames)
        with self._stage("crop"):
            boxes, faces = self._face_boxes(clip, sparse) if self.settings.crop == "auto" else (None, None)
        (mh, mw), scale = map_size(clip.size)
        meshes = np.full((clip.n, self.landmarker.num_points, 3), np.nan, dtype=np.float32)
        faces = faces or []  # every frame's detected faces: from the cropping, else found below
        reads_maps = self.parser.reads_frames or self.parser.from_landmarks
        raw_parsing = np.zeros((clip.n, mh, mw), dtype=np.uint8) if reads_maps else None
        with self.landmarker.tracker() as tracker, self.landmarker.detector() as detect:
            for a, b in clip.chunks:
                with self._stage("read"):
                    frames = clip.read(a, b)
                chunk_boxes = None if boxes is None else boxes[a:b]
                if len(faces) < b:
                    with self._stage("face_score"):
                        faces.extend(face_crop.detect_faces(detect, f) for f in frames)
                # Uncropped, the images are the frames: the tracker may take their faces rather than detect again.
                known = faces[a:b] if chunk_boxes is None else None
                with self._stage("mesh"):
                    images, tracked = self._track_chunk(tracker, frames, chunk_boxes, known, meshes[a:b])
                if raw_parsing is not None:
                    with self._stage("parse"):
                        maps = self._raw_maps(images, tracked, chunk_boxes, scale, raw_parsing.shape[1:])
                        _paste(maps, chunk_boxes, scale, raw_parsing[a:b])
        valid = ~np.isnan(meshes[:, 0, 0])
        if not valid.any():
            raise UserError(f"no face was found in any of the {clip.n} frames of clip {path}")
        scores = np.array([face_score(f, m) for f, m in zip(faces, meshes, strict=True)], dtype=np.float32)
        return MeshTrack(path=path, meshes=interpolate_missing(meshes, valid), valid=valid, boxes=boxes,
                         frame_size=tuple(clip.size), map_size=(mh, mw), scale=scale, raw_parsing=raw_parsing,
                         face_score=scores)

    def layout(self, track: MeshTrack):
        """The clip's mesh -> 68-point mapping, resolved on its frames with a face (second step)."""
        with self._stage("layout"):
            try:
                return self.landmarker.layout(track.meshes[track.valid])
            except ValueError as exc:  # a mesh too distorted for the contour rules (never seen on real faces)
                raise UserError(
                    f"the face mesh of clip {track.path} could not be mapped onto 68 landmarks ({exc})"
                ) from None

    def cues(self, track: MeshTrack, layout) -> ClipCues:
        """The clip's landmarks and parsing maps (last step)."""
        with self._stage("landmarks"):
            landmarks = layout.landmarks(track.meshes)
        with self._stage("parsing"):
            parsing = self.parser.finish(track, layout, landmarks)
        return ClipCues(landmarks=landmarks, valid=track.valid, parsing=parsing, frame_size=track.frame_size,
                        boxes=track.boxes, face_score=track.face_score)

    def _stage(self, name: str):
        return nullcontext() if self.timer is None else self.timer.stage(name)

    @staticmethod
    def _track_chunk(tracker, frames: np.ndarray, boxes: np.ndarray | None, faces: list[np.ndarray] | None,
                     out: np.ndarray) -> tuple[list[np.ndarray], list[TrackedImage]]:
        """Meshes of one chunk's frames (or face crops) into `out` (NaN where no face); `faces`: the images'
        detected faces when known already. Returns the images and what the tracker gave for each."""
        images = list(frames) if boxes is None else [crop_square(f, b) for f, b in zip(frames, boxes, strict=True)]
        tracked = tracker.track(images, faces)
        for i, item in enumerate(tracked):
            if item.mesh is not None:
                mesh = item.mesh.copy()
                if boxes is not None:
                    mesh[:, :2] += boxes[i, :2]  # crop pixels -> frame pixels
                out[i] = mesh
        return images, tracked

    def _face_boxes(self, clip: _Frames, sparse: bool = False) -> tuple[np.ndarray | None, list | None]:
        """Square face crops (N, 3) when the clip is not face crops already, else None; with the faces
        detected in every frame (None when the probe found face crops)."""
        probe = spread_indices(clip.n, CROP_PROBE_FRAMES)
        with self.landmarker.detector() as detect:
            probes = [face_crop.detect_faces(detect, f) for f in clip.pick(probe)]
            if face_crop.looks_like_face_crop(probes, clip.size) is not False:
                return None, None
            detections = []
            for a, b in clip.chunks:
                detections.extend(face_crop.detect_faces(detect, f) for f in clip.read(a, b))
        boxes = face_crop.main_face_boxes(detections)
        try:
            smoothed = face_crop.smooth_boxes(boxes, window=1 if sparse else face_crop.SMOOTH_WINDOW)
        except ValueError:
            raise UserError(f"no face was found in any of the {clip.n} frames of clip {clip.path}") from None
        return np.stack([face_crop.crop_box(b) for b in smoothed]), detections

    def _raw_maps(self, images: list[np.ndarray], tracked: list[TrackedImage], boxes: np.ndarray | None,
                  scale: float, map_hw: tuple[int, int]) -> list[np.ndarray]:
        """One chunk's maps before pasting: each image's (its crop's) map at the stored scale."""
        sizes = [tuple(map_hw)] * len(images) if boxes is None else [(s, s) for s in _crop_sides(boxes, scale)]
        if self.parser.reads_frames:
            return self.parser.parse(images, sizes)
        # The landmark backend drew the maps at the images' own size (background without a face).
        return [cv2.resize(item.parsing, (w, h), interpolation=cv2.INTER_NEAREST_EXACT)
                if item.parsing is not None else np.zeros((h, w), dtype=np.uint8)
                for item, (h, w) in zip(tracked, sizes, strict=True)]


def _crop_sides(boxes: np.ndarray, scale: float) -> list[int]:
    return [max(1, round(int(b[2]) * scale)) for b in boxes]


def _paste(maps: list[np.ndarray], boxes: np.ndarray | None, scale: float, out: np.ndarray) -> None:
    """Write a chunk's maps into `out` (T, h, w): whole when the images were frames, else each into its crop."""
    if boxes is None:
        out[:] = np.stack(maps)
        return
    h, w = out.shape[1:]
    for t, (m, b, s) in enumerate(zip(maps, boxes, _crop_sides(boxes, scale), strict=True)):
        x0, y0 = round(int(b[0]) * scale), round(int(b[1]) * scale)
        fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + s, w), min(y0 + s, h)
        if fx1 > fx0 and fy1 > fy0:
            out[t, fy0:fy1, fx0:fx1] = m[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
