"""`finecliper bench data`: clips per second of the training dataset through a torch DataLoader.

Without `--manifest` it writes its own temporary data: clips of 224 px face JPEGs in frame folders (as
the datasets ship them) and the same clips as H.264 mp4 files, then times `ClipDataset` over each kind
with `--workers` worker processes. It also times one clip's stages in this process (read, spatial
transform, colour jitter, normalisation) to show where the time goes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from finecliper.errors import UserError


def register(modes) -> None:
    m = modes.add_parser("data", help="clips per second of the dataset (frame folders and mp4 files)")
    m.add_argument("--manifest", help="time this manifest's clips instead of generated ones")
    m.add_argument("--clips", type=int, default=96, help="clips timed per kind (default 96)")
    m.add_argument("--clip-frames", type=int, default=48, help="frames per generated clip (default 48)")
    m.add_argument("--num-frames", type=int, default=16, help="frames sampled per clip (default 16)")
    m.add_argument("--size", type=int, default=224, help="output frame size (default 224)")
    m.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (default 2)")
    m.add_argument("--batch-size", type=int, default=8)
    m.add_argument("--test-mode", action="store_true", help="test-mode sampling and no augmentation")
    m.add_argument("--kinds", default="folders,videos", help="generated clip kinds to time (default folders,videos)")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=run)


def _generate(root: Path, kinds: list[str], clips: int, frames: int) -> dict[str, list]:
    """Clips of a real face photo, shifted a little each frame, as JPEG folders and mp4 files."""
    import numpy as np
    from PIL import Image

    from finecliper.data.manifest import ClipRecord
    from finecliper.data.video import write_frames, write_video

    try:
        from skimage import data as skdata

        face = skdata.astronaut()[20:300, 120:400]  # (280, 280, 3)
    except ImportError:  # scikit-image is a dev extra: fall back to a smooth pattern
        yy, xx = np.mgrid[0:280, 0:280]
        face = np.stack([(xx + yy) % 256, (2 * xx) % 256, (3 * yy) % 256], axis=-1).astype(np.uint8)
    shots = []
    for i in range(frames):
        dx, dy = int(8 * np.sin(i / 5)), int(8 * np.cos(i / 7))
        crop = face[28 + dy:252 + dy, 28 + dx:252 + dx]
        shots.append(np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((224, 224))))
    records: dict[str, list] = {}
    if "folders" in kinds:
        # One real folder; the other clips hard-link its files (the bench measures decoding, not disk).
        first = root / "frames" / "clip0000"
        write_frames(first, shots, quality=95)
        records["folders"] = []
        for c in range(clips):
            folder = root / "frames" / f"clip{c:04d}"
            if c:
                folder.mkdir()
                for f in sorted(first.iterdir()):
                    try:
                        os.link(f, folder / f.name)
                    except OSError:
                        shutil.copyfile(f, folder / f.name)
            records["folders"].append(ClipRecord(f"f{c}", f"frames/clip{c:04d}", "neutral", frames, "train", None,
                                                 "bench", "frames", str(root)))
    if "videos" in kinds:
        video = write_video(root / "videos" / "clip0000.mp4", np.stack(shots))
        records["videos"] = []
        for c in range(clips):
            path = root / "videos" / f"clip{c:04d}.mp4"
            if c:
                shutil.copyfile(video, path)
            records["videos"].append(ClipRecord(f"v{c}", f"videos/clip{c:04d}.mp4", "neutral", frames, "train",
                                                None, "bench", "video", str(root)))
    return records


def _stages(dataset, record) -> dict[str, float]:
    """Milliseconds per stage for one clip in this process (mean of a few runs)."""
    import numpy as np

    from finecliper.data.sampling import sample_indices
    from finecliper.data.transforms import apply_spatial, color_jitter, normalize, sample_spatial
    from finecliper.data.video import read_clip

    times = {"read": 0.0, "spatial": 0.0, "jitter": 0.0, "normalize": 0.0}
    runs = 5
    for r in range(runs):
        rng = np.random.default_rng(r)
        t0 = time.perf_counter()
        idx = sample_indices(record.num_frames, dataset.num_frames, train=dataset.train, rng=rng)
        frames = read_clip(record.full_path, idx)
        t1 = time.perf_counter()
        params = sample_spatial(frames.shape[1], frames.shape[2], dataset.augment, dataset.train, rng)
        out, _, _ = apply_spatial(params, dataset.size, frames)
        t2 = time.perf_counter()
        if dataset.train:
            out = color_jitter(out, dataset.augment, rng)
        t3 = time.perf_counter()
        normalize(out)
        t4 = time.perf_counter()
        for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            times[key] += dt * 1000 / runs
    return {k: round(v, 2) for k, v in times.items()}


def _cpu_seconds(pids: list[int]) -> float | None:
    """User + system CPU seconds of processes `pids` so far (Linux /proc), None where unreadable."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime (fields 14 and 15 of stat)
    return total


def _time_loader(dataset, workers: int, batch_size: int) -> dict:
    from torch.utils.data import DataLoader

    from finecliper.data.dataset import collate, worker_init

    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate,
                        worker_init_fn=worker_init if workers else None, persistent_workers=workers > 0)
    # Epoch 0 warms up (worker start-up, imports, page cache); epoch 1 is timed.
    for _ in loader:
        pass
    dataset.set_epoch(1)
    iterator = iter(loader)
    try:  # the worker processes, to count their CPU time (private DataLoader attributes: best effort)
        pids = [w.pid for w in iterator._workers] if workers else []
    except AttributeError:
        pids = None
    cpu0 = _cpu_seconds(pids) if pids is not None else None
    main0 = time.process_time()
    start = time.perf_counter()
    n = 0
    for batch in iterator:
        n += len(batch["ids"])
    seconds = time.perf_counter() - start
    entry = {"clips": n, "seconds": round(seconds, 3), "clips_per_s": round(n / seconds, 2)}
    cpu1 = _cpu_seconds(pids) if pids is not None else None
    if cpu0 is not None and cpu1 is not None:
        # CPU time per clip does not depend on what else the machine runs; on idle cores the loader could
        # deliver about cores / cpu-time-per-clip (the main process mostly waits).
        cpu = (cpu1 - cpu0) + (time.process_time() - main0)
        entry["cpu_ms_per_clip"] = round(1000 * cpu / n, 2)
        cores = min(os.cpu_count() or 1, max(workers, 1))
        entry["idle_projection_clips_per_s"] = round(cores * n / cpu, 2) if cpu > 0 else None
    del iterator, loader
    return entry


def run(args) -> int:
    import torch

    from finecliper.data.dataset import ClipDataset
    from finecliper.data.manifest import read_manifest

    if args.clips < 1 or args.workers < 0 or args.batch_size < 1 or args.num_frames < 1 or args.clip_frames < 1:
        raise UserError("--clips, --batch-size, --num-frames and --clip-frames must be at least 1, --workers >= 0")
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if any(k not in ("folders", "videos") for k in kinds) or not kinds:
        raise UserError("--kinds takes folders, videos or both, comma-separated")
    tmp = None
    try:
        if args.manifest:
            records = {"manifest": read_manifest(args.manifest)[: args.clips]}
            if not records["manifest"]:
                raise UserError(f"manifest {args.manifest} has no clips")
        else:
            tmp = Path(tempfile.mkdtemp(prefix="finecliper-bench-data-"))
            records = _generate(tmp, kinds, args.clips, args.clip_frames)
        torch.set_num_threads(1)
        result = {
            "workers": args.workers, "batch_size": args.batch_size, "num_frames": args.num_frames,
            "size": args.size, "mode": "test" if args.test_mode else "train", "cpus": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()], "kinds": {},
        }
        for kind, recs in records.items():
            # Labels are not the subject here: one class list holding whatever the clips carry.
            names = sorted({r.label_name for r in recs if r.label})
            dataset = ClipDataset(recs, names or ["none"], train=not args.test_mode, num_frames=args.num_frames,
                                  size=args.size)
            entry = _time_loader(dataset, args.workers, args.batch_size)
            entry["stage_ms"] = _stages(dataset, recs[0])
            result["kinds"][kind] = entry
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"workers={result['workers']} batch={result['batch_size']} frames={result['num_frames']} "
              f"size={result['size']} mode={result['mode']} cpus={result['cpus']} load={result['load_average']}")
        for kind, entry in result["kinds"].items():
            stages = ", ".join(f"{k} {v} ms" for k, v in entry["stage_ms"].items())
            cpu = (f"; {entry['cpu_ms_per_clip']} CPU ms per clip (idle-machine projection "
                   f"{entry['idle_projection_clips_per_s']} clips/s)" if "cpu_ms_per_clip" in entry else "")
            print(f"{kind:>9}: {entry['clips_per_s']:8.2f} clips/s ({entry['clips']} clips in {entry['seconds']} s){cpu}; "
                  f"one clip in-process: {stages}")
    return 0
