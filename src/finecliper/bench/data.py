"""The data benchmark (`finecliper bench data`): clips per second of the real `ClipDataset` through a torch
DataLoader, and where one clip's time goes.

Without a manifest it writes its own temporary data: clips of 224 px face JPEGs in frame folders (as the
datasets ship them) and the same clips as H.264 mp4 files, then times `ClipDataset` over each kind with
`workers` worker processes. It also times one clip's stages in this process, with the dataset's own stage
timing (`ClipDataset.stage_ms`: read, spatial transform, colour jitter, normalisation, and with cues the
cue loading and rendering), so the figures are those of the code that trains.

`preset` reads what that preset's model reads: with cues, a cue store of generated cues (each cue kind's
`example`) for the generated clips (or `cues` for a manifest); with descriptions, a text per clip.
`bytes_per_clip` is what one clip costs in transport from a loader worker to the training process: the
bytes of the tensors of one dataset item.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from finecliper.config.presets import model_config
from finecliper.data.cue_kinds import CUE_KINDS
from finecliper.data.cue_store import ClipCues, CueStore
from finecliper.data.dataset import ClipDataset
from finecliper.data.loader import collate, worker_init
from finecliper.data.manifest import ClipRecord, read_manifest
from finecliper.data.video import write_frames, write_video
from finecliper.errors import UserError

CLIP_KINDS = ("folders", "videos")
STAGE_RUNS = 5  # in-process runs of one clip, averaged


@dataclass
class DataBenchSettings:
    manifest: str | None = None  # time this manifest's clips instead of generated ones
    clips: int = 96  # clips timed per kind
    clip_frames: int = 48  # frames per generated clip
    num_frames: int = 16  # frames sampled per clip
    size: int = 224
    workers: int = 2
    batch_size: int = 8
    test_mode: bool = False  # test-mode sampling and no augmentation
    kinds: tuple[str, ...] = CLIP_KINDS  # generated clip kinds to time
    preset: str | None = None  # read the cues and texts this preset's model reads (None: frames only)
    cues: str | None = None  # cue store of --manifest's clips (a preset with cues needs it there)

    def validate(self) -> None:
        if self.preset is not None:
            model_config(self.preset)  # UserError listing the presets
            if self.manifest and model_config(self.preset).cues and not self.cues:
                raise UserError(f"preset {self.preset} reads cues: give the manifest's cue store with --cues")
        if min(self.clips, self.batch_size, self.num_frames, self.clip_frames) < 1 or self.workers < 0:
            raise UserError("--clips, --batch-size, --num-frames and --clip-frames must be at least 1, --workers >= 0")
        if not self.kinds or any(k not in CLIP_KINDS for k in self.kinds):
            raise UserError("--kinds takes folders, videos or both, comma-separated")


def run(settings: DataBenchSettings) -> dict:
    """The measurements: settings, machine, and per clip kind the loader's speed and one clip's stages."""
    settings.validate()
    tmp = None
    try:
        if settings.manifest:
            records = {"manifest": read_manifest(settings.manifest)[: settings.clips]}
            if not records["manifest"]:
                raise UserError(f"manifest {settings.manifest} has no clips")
        else:
            tmp = Path(tempfile.mkdtemp(prefix="finecliper-bench-data-"))
            records = generate_clips(tmp, settings.kinds, settings.clips, settings.clip_frames)
        branches, descriptions = (), None
        if settings.preset is not None:
            model = model_config(settings.preset)
            branches = tuple(model.cues)
            if branches and not settings.manifest:
                settings.cues = str(generate_cues(tmp / "cues", records, settings.clip_frames))
            if model.descriptions:
                descriptions = {r.id: "the brows rise and the mouth opens wide" for recs in records.values() for r in recs}
        torch.set_num_threads(1)
        result = {
            "workers": settings.workers, "batch_size": settings.batch_size, "num_frames": settings.num_frames,
            "size": settings.size, "mode": "test" if settings.test_mode else "train", "preset": settings.preset,
            "cues": list(branches), "descriptions": descriptions is not None, "cpus": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()], "kinds": {},
        }
        for kind, recs in records.items():
            # Labels are not the subject here: one class list holding whatever the clips carry.
            names = sorted({r.label_name for r in recs if r.label})
            dataset = ClipDataset(recs, names or ["none"], train=not settings.test_mode,
                                  num_frames=settings.num_frames, size=settings.size,
                                  cues=settings.cues if branches else None, branches=branches,
                                  descriptions=descriptions)
            entry = {"bytes_per_clip": item_bytes(dataset[0])}
            entry.update(time_loader(dataset, settings.workers, settings.batch_size))
            entry["stage_ms"] = time_stages(dataset)
            result["kinds"][kind] = entry
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return result


def format_result(result: dict) -> list[str]:
    """The measurements as the command prints them without --json."""
    lines = [f"workers={result['workers']} batch={result['batch_size']} frames={result['num_frames']} "
             f"size={result['size']} mode={result['mode']} cpus={result['cpus']} load={result['load_average']}"]
    for kind, entry in result["kinds"].items():
        stages = ", ".join(f"{k} {v} ms" for k, v in entry["stage_ms"].items())
        cpu = (f"; {entry['cpu_ms_per_clip']} CPU ms per clip (idle-machine projection "
               f"{entry['idle_projection_clips_per_s']} clips/s)" if "cpu_ms_per_clip" in entry else "")
        lines.append(f"{kind:>9}: {entry['clips_per_s']:8.2f} clips/s ({entry['clips']} clips in {entry['seconds']} s)"
                     f"{cpu}; {entry['bytes_per_clip'] / 1e6:.2f} MB per clip; one clip in-process: {stages}")
    return lines


def face_shots(frames: int) -> list[np.ndarray]:
    """`frames` 224 px crops of a real face photo, shifted a little each frame."""
    try:  # scikit-image is a dev extra, so optional: without it, a smooth pattern
        from skimage import data as skdata

        face = skdata.astronaut()[20:300, 120:400]  # (280, 280, 3)
    except ImportError:
        yy, xx = np.mgrid[0:280, 0:280]
        face = np.stack([(xx + yy) % 256, (2 * xx) % 256, (3 * yy) % 256], axis=-1).astype(np.uint8)
    shots = []
    for i in range(frames):
        dx, dy = int(8 * np.sin(i / 5)), int(8 * np.cos(i / 7))
        crop = face[28 + dy:252 + dy, 28 + dx:252 + dx]
        shots.append(np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((224, 224))))
    return shots


def generate_clips(root: Path, kinds: tuple[str, ...], clips: int, frames: int) -> dict[str, list[ClipRecord]]:
    """`clips` clips of `frames` face frames per kind, as JPEG folders and mp4 files under `root`."""
    shots = face_shots(frames)
    records: dict[str, list[ClipRecord]] = {}
    if "folders" in kinds:
        # One real folder; the other clips hard-link its files (the bench measures decoding, not disk).
        first = root / "frames" / "clip0000"
        write_frames(first, shots, quality=95)
        for c in range(1, clips):
            _link_folder(first, root / "frames" / f"clip{c:04d}")
        records["folders"] = [ClipRecord(f"f{c}", f"frames/clip{c:04d}", "neutral", frames, "train", None, "bench",
                                         "frames", str(root)) for c in range(clips)]
    if "videos" in kinds:
        video = write_video(root / "videos" / "clip0000.mp4", np.stack(shots))
        for c in range(1, clips):
            shutil.copyfile(video, root / "videos" / f"clip{c:04d}.mp4")
        records["videos"] = [ClipRecord(f"v{c}", f"videos/clip{c:04d}.mp4", "neutral", frames, "train", None, "bench",
                                        "video", str(root)) for c in range(clips)]
    return records


def generate_cues(root: Path, records: dict[str, list[ClipRecord]], frames: int) -> Path:
    """A cue store under `root` with every generated clip's cues: each cue kind's `example` for 224 px
    frames (one file, hard-linked for the other clips, as the clips are)."""
    rng = np.random.default_rng(0)
    arrays = {name: kind.example(frames, 224, 224, rng) for name, kind in CUE_KINDS.items()}
    track = arrays.pop("landmarks")
    cues = ClipCues(track, np.ones(frames, bool), arrays.pop("parsing"), (224, 224), extra=arrays)
    store = CueStore(root)
    root.mkdir(parents=True)
    first = None
    for recs in records.values():
        for record in recs:
            if first is None:
                store.save(record.id, cues)
                first = store.path(record.id)
            else:
                _link(first, store.path(record.id))
    return root


def item_bytes(item: dict) -> int:
    """Bytes of the tensors and arrays of one dataset item: what a clip costs in transport."""
    return sum(v.nbytes for v in item.values() if isinstance(v, (torch.Tensor, np.ndarray)))


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _link_folder(source: Path, folder: Path) -> None:
    folder.mkdir()
    for f in sorted(source.iterdir()):
        _link(f, folder / f.name)


def time_stages(dataset: ClipDataset, index: int = 0) -> dict[str, float]:
    """Milliseconds per stage of item `index` in this process (mean of STAGE_RUNS runs), as the dataset
    times its own `__getitem__`."""
    dataset.stage_ms = {}
    try:
        for _ in range(STAGE_RUNS):
            dataset[index]
        return {name: round(ms / STAGE_RUNS, 2) for name, ms in dataset.stage_ms.items()}
    finally:
        dataset.stage_ms = None


def cpu_seconds(pids: list[int]) -> float | None:
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


def time_loader(dataset: ClipDataset, workers: int, batch_size: int) -> dict:
    """Clips per second of a DataLoader over `dataset` in its second epoch (the first warms up: worker
    start-up, imports, page cache), and the CPU time per clip of all its processes."""
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate,
                        worker_init_fn=worker_init if workers else None, persistent_workers=workers > 0)
    for _ in loader:
        pass
    dataset.set_epoch(1)
    iterator = iter(loader)
    try:  # the worker processes, to count their CPU time (private DataLoader attributes: best effort)
        pids = [w.pid for w in iterator._workers] if workers else []
    except AttributeError:
        pids = None
    cpu0 = cpu_seconds(pids) if pids is not None else None
    main0 = time.process_time()
    start = time.perf_counter()
    n = 0
    for batch in iterator:
        n += len(batch["ids"])
    seconds = time.perf_counter() - start
    entry = {"clips": n, "seconds": round(seconds, 3), "clips_per_s": round(n / seconds, 2)}
    cpu1 = cpu_seconds(pids) if pids is not None else None
    if cpu0 is not None and cpu1 is not None:
        # CPU time per clip does not depend on what else the machine runs; on idle cores the loader could
        # deliver about cores / cpu-time-per-clip (the main process mostly waits).
        cpu = (cpu1 - cpu0) + (time.process_time() - main0)
        entry["cpu_ms_per_clip"] = round(1000 * cpu / n, 2)
        cores = min(os.cpu_count() or 1, max(workers, 1))
        entry["idle_projection_clips_per_s"] = round(cores * n / cpu, 2) if cpu > 0 else None
    del iterator, loader
    return entry
