"""Cues of one clip: every frame's 68 landmarks, validity flag and 11-class parsing map.

`Extractor` holds what a process loads once (settings, the parsing model) and turns one clip into a
`ClipCues`. Per clip: read the frames in chunks (so long clips do not sit in memory whole); with
`crop="auto"` decide from a few frames whether they are face crops and, if not, follow and crop the
main face (`face_crop`); run a fresh face-mesh tracker over the frames; fill frames without a face by
interpolating the mesh between the nearest frames with one (flagged invalid; a clip without any face
fails); map the meshes onto the 68-point layout (`mesh_to_ibug`) and fill the parsing maps (`mesh`
backend) or run the parsing model (`segformer` backend).

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

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from finecliper.data.cue_store import ClipCues
from finecliper.errors import UserError

BACKENDS = ("mediapipe",)
PARSING_BACKENDS = ("mesh", "segformer")
CROP_MODES = ("auto", "none")
PARSING_MAX_SIDE = 1280
# Frames read at a time: 256 MiB of pixels (5000 frames of 224 px, 90 of 720p, 40 of 1080p). A clip that
# fits in one chunk is decoded once, even when face cropping needs two passes over it.
CHUNK_BYTES = 256 * 2**20
CROP_PROBE_FRAMES = 5  # frames looked at to decide whether a clip is already face crops


@dataclass
class CueSettings:
    """Everything that decides the cues' content; recorded in the store's provenance."""

    backend: str = "mediapipe"
    parsing_backend: str = "mesh"
    parsing_weights: str | None = None  # local model folder for parsing_backend="segformer"
    crop: str = "auto"
    device: str = "cpu"  # for the parsing model only; MediaPipe runs on the CPU

    def validate(self) -> None:
        if self.backend not in BACKENDS:
            raise UserError(f"unknown landmark backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.parsing_backend not in PARSING_BACKENDS:
            raise UserError(
                f"unknown parsing backend {self.parsing_backend!r}; choose one of {', '.join(PARSING_BACKENDS)}"
            )
        if self.crop not in CROP_MODES:
            raise UserError(f"unknown crop mode {self.crop!r}; choose one of {', '.join(CROP_MODES)}")
        if self.parsing_backend == "segformer" and not self.parsing_weights:
            raise UserError("the segformer parsing backend needs --parsing-weights, a local model folder")
        if self.parsing_backend != "segformer" and self.parsing_weights:
            raise UserError("--parsing-weights is only used with --parsing-backend segformer")

    def content(self) -> dict:
        """The settings that change what is written (not where it runs)."""
        out = asdict(self)
        out.pop("device")
        if out["parsing_weights"]:
            out["parsing_weights"] = str(Path(out["parsing_weights"]).resolve())
        return out


def map_size(frame_size: tuple[int, int]) -> tuple[tuple[int, int], float]:
    """(h, w) of a clip's stored parsing maps and their scale relative to the frame."""
    h, w = frame_size
    scale = min(1.0, PARSING_MAX_SIDE / max(h, w))
    return (max(1, round(h * scale)), max(1, round(w * scale))), scale


def interpolate_missing(series: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill the invalid entries of (T, ...) `series` linearly in time from the nearest valid ones
    (the first / last valid one before the first / after the last)."""
    if valid.all():
        return series
    t = np.arange(len(series))
    flat = series.reshape(len(series), -1)
    out = flat.copy()
    for c in range(flat.shape[1]):
        out[:, c] = np.interp(t, t[valid], flat[valid, c])
    return out.reshape(series.shape)


def spread_indices(n: int, k: int) -> np.ndarray:
    """At most `k` indices of range(n) spread evenly from the first to the last, without repeats."""
    return np.unique(np.linspace(0, n - 1, min(n, k)).round().astype(int))


class _Frames:
    """A clip's frames, read in chunks of CHUNK_BYTES; a clip that fits in one is decoded once and kept.

    `n`: the clip's frame count when known already (a manifest's), which saves decoding a video once
    more just to count its frames. The chunk length follows from the frame size, so frame 0 is read
    first (one frame: a video is decoded no further); a one-chunk clip is then read whole, once.
    """

    def __init__(self, path: Path, n: int | None = None):
        from finecliper.data.video import count_frames, read_clip

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
        from finecliper.data.video import read_clip

        return self._all[a:b] if self._all is not None else read_clip(self.path, range(a, b))

    def pick(self, indices: np.ndarray) -> np.ndarray:
        from finecliper.data.video import read_clip

        return self._all[indices] if self._all is not None else read_clip(self.path, indices)


class Extractor:
    """Loads the backends once per process; `extract(path)` gives one clip's `ClipCues`."""

    def __init__(self, settings: CueSettings):
        settings.validate()
        self.settings = settings
        self.parser = None
        if settings.parsing_backend == "segformer":
            from finecliper.cues.segformer_backend import SegformerParser

            self.parser = SegformerParser(settings.parsing_weights, device=settings.device)

    def provenance(self) -> dict:
        from finecliper import __version__
        from finecliper.cues import face_crop
        from finecliper.cues.mediapipe_backend import versions
        from finecliper.face_layout import PARSING_CLASSES

        info = {
            "settings": self.settings.content(),
            "versions": {"finecliper": __version__, **versions()},
            "landmarks": "68 iBUG points in continuous pixels of the frame as read (pixel i spans [i, i+1))",
            "parsing_classes": list(PARSING_CLASSES),
            "parsing_max_side": PARSING_MAX_SIDE,
            "crop": {"face_crop_min_width": face_crop.FACE_CROP_MIN_WIDTH, "margin": face_crop.CROP_MARGIN,
                     "shift_down": face_crop.CROP_SHIFT_DOWN, "smooth_window": face_crop.SMOOTH_WINDOW},
        }
        if self.parser is not None:
            import transformers

            info["versions"]["transformers"] = transformers.__version__
            info["parsing_model"] = self.parser.info
        return info

    def extract(self, path: str | Path, num_frames: int | None = None) -> ClipCues:
        """Cues of the clip at `path` (frame folder or video). UserError when it cannot be done.

        `num_frames`: the clip's frame count when known (a manifest's), saving a video's decoding just to
        count its frames; the cues then cover exactly those frames (a clip with fewer fails).
        """
        from finecliper.cues.mediapipe_backend import quiet_native_stderr

        # MediaPipe's C++ graphs log a few lines whenever one starts, some from their own threads a
        # little later; silencing native stderr for the whole clip keeps the progress bar readable.
        with quiet_native_stderr():
            return self._extract(Path(path), num_frames)

    def _extract(self, path: Path, num_frames: int | None) -> ClipCues:
        from finecliper.cues.mediapipe_backend import FaceMeshTracker
        from finecliper.cues.mesh_to_ibug import NUM_MESH_POINTS, MeshLayout
        from finecliper.data.transforms import crop_square as crop

        clip = _Frames(path, num_frames)
        n, frame_size = clip.n, clip.size
        boxes = self._face_boxes(clip) if self.settings.crop == "auto" else None
        (mh, mw), scale = map_size(frame_size)
        meshes = np.full((n, NUM_MESH_POINTS, 3), np.nan, dtype=np.float32)
        raw_parsing = np.zeros((n, mh, mw), dtype=np.uint8) if self.parser is not None else None
        with FaceMeshTracker() as tracker:
            for a, b in clip.chunks:
                frames = clip.read(a, b)
                images = [crop(f, boxes[a + i]) if boxes is not None else f for i, f in enumerate(frames)]
                for i, image in enumerate(images):
                    mesh = tracker(image)
                    if mesh is not None:
                        if boxes is not None:
                            mesh[:, :2] += boxes[a + i, :2]  # crop pixels -> frame pixels
                        meshes[a + i] = mesh
                if raw_parsing is not None:
                    self._parse(images, None if boxes is None else boxes[a:b], scale, raw_parsing[a:b])

        valid = ~np.isnan(meshes[:, 0, 0])
        if not valid.any():
            raise UserError(f"no face was found in any of the {n} frames of clip {path}")
        meshes = interpolate_missing(meshes, valid)
        try:
            layout = MeshLayout.from_meshes(meshes[valid])
        except ValueError as exc:  # a mesh too distorted for the contour rules (never seen on real faces)
            raise UserError(f"the face mesh of clip {path} could not be mapped onto 68 landmarks ({exc})") from None
        landmarks = layout.landmarks(meshes)
        if raw_parsing is None:
            from finecliper.cues.parsing_fill import fill_parsing

            parsing = np.stack([fill_parsing(layout, m, (mh, mw), scale) for m in meshes])
        else:
            from finecliper.cues.segformer_backend import assign_sides

            parsing = assign_sides(raw_parsing, landmarks, scale)
        return ClipCues(landmarks=landmarks, valid=valid, parsing=parsing, frame_size=tuple(frame_size),
                        boxes=boxes)

    def _face_boxes(self, clip: _Frames) -> np.ndarray | None:
        """Square face crops (N, 3) when the clip is not face crops already, else None."""
        from finecliper.cues.face_crop import (
            crop_box,
            detect_faces,
            looks_like_face_crop,
            main_face_boxes,
            smooth_boxes,
        )
        from finecliper.cues.mediapipe_backend import FaceDetector

        n = clip.n
        probe = spread_indices(n, CROP_PROBE_FRAMES)
        with FaceDetector() as detect:
            probes = [detect_faces(detect, f) for f in clip.pick(probe)]
            if looks_like_face_crop(probes, clip.size) is not False:
                return None
            detections = []
            for a, b in clip.chunks:
                detections.extend(detect_faces(detect, f) for f in clip.read(a, b))
        boxes = main_face_boxes(detections)
        try:
            smoothed = smooth_boxes(boxes)
        except ValueError:
            raise UserError(f"no face was found in any of the {n} frames of clip {clip.path}") from None
        return np.stack([crop_box(b) for b in smoothed])

    def _parse(self, images: list[np.ndarray], boxes: np.ndarray | None, scale: float, out: np.ndarray) -> None:
        """Run the parsing model on frames (or crops) and write its maps into `out` (T, h, w) at `scale`."""
        if boxes is None:
            out[:] = self.parser(images, [out.shape[1:]] * len(images))
            return
        sides = [max(1, round(int(b[2]) * scale)) for b in boxes]
        maps = self.parser(images, [(s, s) for s in sides])
        h, w = out.shape[1:]
        for t, (m, b, s) in enumerate(zip(maps, boxes, sides, strict=True)):
            x0, y0 = round(int(b[0]) * scale), round(int(b[1]) * scale)
            fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + s, w), min(y0 + s, h)
            if fx1 > fx0 and fy1 > fy0:
                out[t, fy0:fy1, fx0:fx1] = m[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
