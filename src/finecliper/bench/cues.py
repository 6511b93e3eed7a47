"""`finecliper bench cues`: speed of a cue backend on 224 px face crops, and the store's size.

Times the real per-clip extraction (`cues.extract.Extractor.extract`: reading JPEG frames, the
`--crop auto` probe, by default MediaPipe face mesh, the 68-point mapping and the parsing fill; with
`--backend facexformer --weights F` FaceXFormer's batched pass on --device) on a clip of 224 px
face crops like the datasets' (made from a real face photo, moving and zooming a little from frame to
frame, unless a clip is given), and each stage inside it through the extractor's own `StageTimer`.
Speed per core is frames per CPU-second of the process (all its threads counted), so it does not depend
on how many cores the machine has. Whole runs are reported by their median; stages by their median
over the same runs.

Store size: bytes per frame of the landmarks and of the parsing maps as the store writes them, and, to
justify the stored resolution, mesh-filled maps at half resolution with their per-class overlap (IoU)
with the full-resolution maps after nearest upsampling (None for a model's maps).

The result (`--json`): {"backend", "device", "versions", "clip", "frame_size", "frames", "frames_without_face",
"wall_s_per_clip", "cpu_s_per_clip", "frames_per_s", "frames_per_s_per_core", "stages_ms": {...},
"store": {"bytes_per_frame", "landmarks_bytes_per_frame", "parsing_bytes_per_frame", "parsing_size",
"raw_parsing_bytes_per_frame", "clip_kb_16_frames", "clip_kb_100_frames",
"half_resolution": {"parsing_bytes_per_frame", "iou_with_full": {class: IoU}}}}.
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
from PIL import Image

from finecliper.cues.backends import MeshTrack
from finecliper.cues.extract import CueSettings, Extractor, map_size
from finecliper.cues.face_crop import crop_box, main_face_boxes, smooth_boxes
from finecliper.cues.parsing_fill import fill_parsing
from finecliper.cues.timing import StageTimer
from finecliper.data.cue_store import ClipCues
from finecliper.data.video import write_frames
from finecliper.errors import UserError
from finecliper.face_layout import PARSING_CLASSES


def face_photo() -> np.ndarray:
    """A real face photo from an installed package (scikit-image's astronaut, or matplotlib's Grace Hopper)."""
    try:
        from skimage import data  # optional (a dev dependency), hence imported here

        return data.astronaut()
    except ImportError:
        pass
    try:
        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh:
            return np.asarray(Image.open(fh).convert("RGB"))
    except OSError:  # a matplotlib installed without its sample data
        raise UserError("bench cues needs --clip, or scikit-image or matplotlib's sample data for a face photo") from None


def face_crop_clip(extractor: Extractor, photo: np.ndarray, n: int, size: int = 224, seed: int = 0) -> np.ndarray:
    """(n, size, size, 3) face crops of `photo`: the face drifts a few pixels and zooms a few percent.
    The face is found by the extractor's own landmark backend."""
    backend = extractor.landmarker
    with backend.quiet(), backend.detector() as detect:
        boxes = main_face_boxes([detect(photo)])
    if np.isnan(boxes).all():
        raise UserError("no face found in the benchmark photo")
    x0, y0, side = crop_box(smooth_boxes(boxes)[0])
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0, 1, size=(n, 3)), axis=0) * [1.0, 1.0, 0.005]
    frames = []
    for dx, dy, dz in walk:
        s = size / (side * (1 + dz))
        cx, cy = x0 + side / 2 + dx, y0 + side / 2 + dy
        affine = np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]])
        frames.append(cv2.warpAffine(photo, affine, (size, size), flags=cv2.INTER_AREA))
    return np.stack(frames)


def bench_cues(clip: str | None = None, frames: int = 64, repeat: int = 3, settings: CueSettings | None = None) -> dict:
    """The benchmark's result (see the module docstring) on `clip`, or on `frames` generated face crops,
    with the cue backends of `settings` (default: MediaPipe and the mesh fill)."""
    if frames < 2 or repeat < 1:
        raise UserError("--frames must be at least 2 and --repeat at least 1")
    settings = settings or CueSettings()
    extractor = Extractor(settings)
    with tempfile.TemporaryDirectory(prefix="finecliper-bench-cues-") as tmp:
        path = Path(clip) if clip else Path(tmp) / "clip"
        if not clip:
            write_frames(path, face_crop_clip(extractor, face_photo(), frames), quality=95)
        extractor.extract(path)  # warm-up: imports, model loading
        runs, stages = [], []
        for _ in range(repeat):
            extractor.timer = StageTimer()
            wall, cpu = time.perf_counter(), time.process_time()
            cues = extractor.extract(path)
            runs.append((time.perf_counter() - wall, time.process_time() - cpu))
            stages.append(extractor.timer)
        extractor.timer = None
        with extractor.landmarker.quiet():  # the mesh track and layout behind the cues, for the store's figures
            track = extractor.track(path)
            layout = extractor.layout(track)
    n = cues.num_frames
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    return {
        "backend": f"{settings.backend} landmarks + {settings.parsing_backend} parsing", "device": settings.device,
        "versions": {**extractor.landmarker.versions(), **extractor.parser.versions()},
        "clip": str(clip) if clip else f"{n} generated 224 px face crops (JPEG)",
        "frame_size": list(cues.frame_size), "frames": n, "frames_without_face": int((~cues.valid).sum()),
        "wall_s_per_clip": round(wall, 4), "cpu_s_per_clip": round(cpu, 4),
        "frames_per_s": round(n / wall, 1), "frames_per_s_per_core": round(n / cpu, 1),
        "stages_ms": {k: round(v, 3) for k, v in _stages_ms(stages, n).items()},
        "store": _store_numbers(cues, track, layout if settings.parsing_backend == "mesh" else None),
    }


def _stages_ms(timers: list[StageTimer], n: int) -> dict[str, float]:
    """Milliseconds per frame (or per clip) of the extractor's stages, median over the timed runs."""

    def median(kind: str, stage: str) -> float:
        return 1000 * statistics.median(getattr(t, kind)[stage] for t in timers)

    return {
        "read_per_frame": median("wall", "read") / n, "mesh_per_frame": median("wall", "mesh") / n,
        "mesh_cpu_per_frame": median("cpu", "mesh") / n,
        "face_score_per_frame": median("wall", "face_score") / n, "layout_per_clip": median("wall", "layout"),
        "landmarks_per_frame": median("wall", "landmarks") / n, "parsing_fill_per_frame": median("wall", "parsing") / n,
    }


def _npz_bytes(**arrays) -> int:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return len(buffer.getvalue())


def _store_numbers(cues: ClipCues, track: MeshTrack, layout) -> dict:
    """Bytes of the clip's cue file as the store writes it, and, for maps filled from a mesh `layout`, what
    half-resolution maps would save and lose (a model's maps have one resolution: `half_resolution` None)."""
    n = cues.num_frames
    arrays = {"landmarks": cues.landmarks.astype(np.float32), "valid": cues.valid, "parsing": cues.parsing,
              "frame_size": np.asarray(cues.frame_size, dtype=np.int64)}
    if cues.boxes is not None:
        arrays["boxes"] = cues.boxes.astype(np.int64)
    total = _npz_bytes(**arrays)
    (h, w), scale = map_size(cues.frame_size)
    numbers = {
        "bytes_per_frame": round(total / n, 1),
        "landmarks_bytes_per_frame": round(_npz_bytes(landmarks=arrays["landmarks"]) / n, 1),
        "parsing_bytes_per_frame": round(_npz_bytes(parsing=cues.parsing) / n, 1),
        "parsing_size": [h, w],
        "raw_parsing_bytes_per_frame": h * w,
        "clip_kb_16_frames": round(16 * total / n / 1024, 1),
        "clip_kb_100_frames": round(100 * total / n / 1024, 1),
        "half_resolution": None,
    }
    if layout is None:
        return numbers
    full = cues.parsing[track.valid]
    half = np.stack([fill_parsing(layout, m, (h // 2, w // 2), scale / 2) for m in track.meshes[track.valid]])
    up = np.stack([cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST_EXACT) for m in half])
    iou = {}
    for c, name in enumerate(PARSING_CLASSES):
        union = int(((full == c) | (up == c)).sum())
        if union and c > 0:
            iou[name] = round(int(((full == c) & (up == c)).sum()) / union, 3)
    numbers["half_resolution"] = {"parsing_bytes_per_frame": round(_npz_bytes(parsing=half) / len(half), 1),
                                  "iou_with_full": iou}
    return numbers


def report(result: dict) -> str:
    """The result as the lines `finecliper bench cues` prints."""
    store, hr = result["store"], result["store"]["half_resolution"]
    height, width = result["frame_size"]
    return "\n".join([
        f"cue pipeline ({result['backend']}, {result['device']}) on {result['clip']}, {result['frames']} frames of "
        f"{width}x{height}",
        f"  {result['frames_per_s_per_core']:.1f} frames/s per core (CPU time), {result['frames_per_s']:.1f} "
        f"frames/s wall; {result['frames_without_face']} frames without a face",
        "  stages (ms): " + ", ".join(f"{k} {v}" for k, v in result["stages_ms"].items()),
        f"  store: {store['bytes_per_frame']} B/frame ({store['landmarks_bytes_per_frame']} landmarks, "
        f"{store['parsing_bytes_per_frame']} parsing, {store['raw_parsing_bytes_per_frame']} raw); "
        f"{store['clip_kb_16_frames']} KB per 16-frame clip, {store['clip_kb_100_frames']} KB per 100 frames",
    ] + ([] if hr is None else [
        f"  parsing at half resolution: {hr['parsing_bytes_per_frame']} B/frame; IoU with full resolution: "
        + ", ".join(f"{k} {v}" for k, v in hr["iou_with_full"].items()),
    ]))
