"""`finecliper bench cues`: speed of the default cue backend on 224 px face crops, and the store's size.

Times the whole per-clip extraction (`Extractor.extract`: reading JPEG frames, the `--crop auto` probe,
MediaPipe face mesh, the 68-point mapping and the parsing fill) and each stage alone, on a clip of
224 px face crops like the datasets' (made from a real face photo, moving and zooming a little from
frame to frame, unless `--clip` names one). Speed per core is frames per CPU-second of the process
(all its threads counted), so it does not depend on how many cores the machine has.

Store size: bytes per frame of the landmarks and of the parsing maps as the store writes them, and, to
justify the stored resolution, the same maps at half resolution with their per-class overlap (IoU)
with the full-resolution maps after nearest upsampling.

`--json` prints {"backend", "versions", "clip", "frame_size", "frames", "frames_without_face",
"wall_s_per_clip", "cpu_s_per_clip", "frames_per_s", "frames_per_s_per_core", "stages_ms": {...},
"store": {"bytes_per_frame", "landmarks_bytes_per_frame", "parsing_bytes_per_frame", "parsing_size",
"raw_parsing_bytes_per_frame", "clip_kb_16_frames", "clip_kb_100_frames",
"half_resolution": {"parsing_bytes_per_frame", "iou_with_full": {class: IoU}}}}.
"""

from __future__ import annotations

import io
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from finecliper.errors import UserError


def register(modes) -> None:
    m = modes.add_parser("cues", help="frames/s per core of the cue pipeline on 224 px face crops; store size")
    m.add_argument("--clip", help="frame folder or video to time (default: a clip made from a real face photo)")
    m.add_argument("--frames", type=int, default=64, help="frames of the generated clip (default 64)")
    m.add_argument("--repeat", type=int, default=3, help="timed runs; the median is reported")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=run)


def _face_photo() -> np.ndarray:
    """A real face photo from an installed package (scikit-image's astronaut, or matplotlib's Grace Hopper)."""
    try:
        from skimage import data

        return data.astronaut()
    except ImportError:
        pass
    try:
        import matplotlib.cbook
        from PIL import Image

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh:
            return np.asarray(Image.open(fh).convert("RGB"))
    except (ImportError, OSError):
        raise UserError("bench cues needs --clip, or scikit-image or matplotlib for a face photo") from None


def face_crop_clip(photo: np.ndarray, n: int, size: int = 224, seed: int = 0) -> np.ndarray:
    """(n, size, size, 3) face crops of `photo`: the face drifts a few pixels and zooms a few percent."""
    import cv2

    from finecliper.cues.face_crop import crop_box, main_face_boxes, smooth_boxes
    from finecliper.cues.mediapipe_backend import FaceDetector, quiet_native_stderr

    with quiet_native_stderr(), FaceDetector() as detect:
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


def _npz_bytes(**arrays) -> int:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return len(buffer.getvalue())


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _stages(path: Path, boxes: np.ndarray | None):
    """Milliseconds spent in each stage, run one after the other on the clip (on its face crops, if any)."""
    from finecliper.cues.extract import map_size
    from finecliper.cues.mediapipe_backend import FaceMeshTracker, quiet_native_stderr
    from finecliper.cues.mesh_to_ibug import MeshLayout
    from finecliper.cues.parsing_fill import fill_parsing
    from finecliper.data.transforms import crop_square as crop
    from finecliper.data.video import count_frames, read_clip

    n = count_frames(path)
    frames, read_s, _ = _timed(lambda: read_clip(path, range(n)))
    size, scale = map_size(frames.shape[1:3])
    if boxes is not None:
        frames = [crop(f, b) for f, b in zip(frames, boxes, strict=True)]
    with quiet_native_stderr(), FaceMeshTracker() as tracker:
        meshes, mesh_s, mesh_cpu = _timed(lambda: [tracker(f) for f in frames])
    if boxes is not None:
        for m, b in zip(meshes, boxes, strict=True):
            if m is not None:
                m[:, :2] += b[:2]  # crop pixels -> frame pixels
    if all(m is None for m in meshes):
        raise UserError(f"no face was found in the frames of {path}")
    found = np.stack([m for m in meshes if m is not None])
    layout, layout_s, _ = _timed(lambda: MeshLayout.from_meshes(found))
    _, lm_s, _ = _timed(lambda: layout.landmarks(found))
    _, fill_s, _ = _timed(lambda: [fill_parsing(layout, m, size, scale) for m in found])
    k = len(found)
    return {
        "read_per_frame": 1000 * read_s / n, "mesh_per_frame": 1000 * mesh_s / n,
        "mesh_cpu_per_frame": 1000 * mesh_cpu / n, "layout_per_clip": 1000 * layout_s,
        "landmarks_per_frame": 1000 * lm_s / k, "parsing_fill_per_frame": 1000 * fill_s / k,
    }, layout, found


def _store_numbers(cues, layout, meshes: np.ndarray) -> dict:
    """Bytes of the clip's cue file as the store writes it, and what half-resolution maps would save and lose."""
    import cv2

    from finecliper.cues.extract import map_size
    from finecliper.cues.parsing_fill import fill_parsing
    from finecliper.face_layout import PARSING_CLASSES

    n = cues.num_frames
    arrays = {"landmarks": cues.landmarks.astype(np.float32), "valid": cues.valid, "parsing": cues.parsing,
              "frame_size": np.asarray(cues.frame_size, dtype=np.int64)}
    if cues.boxes is not None:
        arrays["boxes"] = cues.boxes.astype(np.int64)
    total = _npz_bytes(**arrays)
    (h, w), scale = map_size(cues.frame_size)
    full = np.stack([fill_parsing(layout, m, (h, w), scale) for m in meshes])
    half = np.stack([fill_parsing(layout, m, (h // 2, w // 2), scale / 2) for m in meshes])
    up = np.stack([cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST_EXACT) for m in half])
    iou = {}
    for c, name in enumerate(PARSING_CLASSES):
        union = int(((full == c) | (up == c)).sum())
        if union and c > 0:
            iou[name] = round(int(((full == c) & (up == c)).sum()) / union, 3)
    return {
        "bytes_per_frame": round(total / n, 1),
        "landmarks_bytes_per_frame": round(_npz_bytes(landmarks=arrays["landmarks"]) / n, 1),
        "parsing_bytes_per_frame": round(_npz_bytes(parsing=cues.parsing) / n, 1),
        "parsing_size": [h, w],
        "raw_parsing_bytes_per_frame": h * w,
        "clip_kb_16_frames": round(16 * total / n / 1024, 1),
        "clip_kb_100_frames": round(100 * total / n / 1024, 1),
        "half_resolution": {"parsing_bytes_per_frame": round(_npz_bytes(parsing=half) / len(half), 1),
                            "iou_with_full": iou},
    }


def run(args) -> int:
    from finecliper.cues.extract import CueSettings, Extractor
    from finecliper.cues.mediapipe_backend import versions

    if args.frames < 2 or args.repeat < 1:
        raise UserError("--frames must be at least 2 and --repeat at least 1")
    with tempfile.TemporaryDirectory(prefix="finecliper-bench-cues-") as tmp:
        if args.clip:
            path = Path(args.clip)
        else:
            from finecliper.data.video import write_frames

            path = Path(tmp) / "clip"
            write_frames(path, face_crop_clip(_face_photo(), args.frames), quality=95)
        extractor = Extractor(CueSettings())
        extractor.extract(path)  # warm-up: imports, model loading
        runs = []
        for _ in range(args.repeat):
            cues, wall, cpu = _timed(lambda: extractor.extract(path))
            runs.append((wall, cpu))
        n = cues.num_frames
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        stages, layout, meshes = _stages(path, cues.boxes)
        store = _store_numbers(cues, layout, meshes)
    result = {
        "backend": "mediapipe face mesh + mesh parsing", "versions": versions(),
        "clip": str(args.clip) if args.clip else f"{n} generated 224 px face crops (JPEG)",
        "frame_size": list(cues.frame_size), "frames": n, "frames_without_face": int((~cues.valid).sum()),
        "wall_s_per_clip": round(wall, 4), "cpu_s_per_clip": round(cpu, 4),
        "frames_per_s": round(n / wall, 1), "frames_per_s_per_core": round(n / cpu, 1),
        "stages_ms": {k: round(v, 3) for k, v in stages.items()},
        "store": store,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"cue pipeline ({result['backend']}) on {result['clip']}, {n} frames of {cues.frame_size[1]}x{cues.frame_size[0]}")
    print(f"  {result['frames_per_s_per_core']:.1f} frames/s per core (CPU time), {result['frames_per_s']:.1f} "
          f"frames/s wall; {result['frames_without_face']} frames without a face")
    print("  stages (ms): " + ", ".join(f"{k} {v}" for k, v in result["stages_ms"].items()))
    print(f"  store: {store['bytes_per_frame']} B/frame ({store['landmarks_bytes_per_frame']} landmarks, "
          f"{store['parsing_bytes_per_frame']} parsing, {store['raw_parsing_bytes_per_frame']} raw); "
          f"{store['clip_kb_16_frames']} KB per 16-frame clip, {store['clip_kb_100_frames']} KB per 100 frames")
    hr = store["half_resolution"]
    print(f"  parsing at half resolution: {hr['parsing_bytes_per_frame']} B/frame; IoU with full resolution: "
          + ", ".join(f"{k} {v}" for k, v in hr["iou_with_full"].items()))
    return 0
