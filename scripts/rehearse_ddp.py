#!/usr/bin/env python
"""A scale rehearsal on the CPU: 4-process gloo DDP over a DFEW-sized manifest, then a full evaluation.

    .venv/bin/python scripts/rehearse_ddp.py [--world 4] [--steps 20] [--batch-size 32] [--workers 1]
                                             [--frames 4] [--keep DIR] [--json FILE]

What a multi-GPU DFEW run exercises, rehearsed on CPU processes with the tiny backbone, before GPU time is
spent (docs/design.md §4, Optimisation):
- a manifest of DFEW's size (11,697 clips: fold 1's 9,356 training and 2,341 test clips, 7 classes), frame
  folders of tiny 8x8 px JPEG frames generated in a temporary folder;
- `world` processes (torch.multiprocessing, env:// rendezvous as torchrun's) each building the real `Trainer`
  (`distributed.setup`, gloo, DDP, `TrainOrder`, the training DataLoader) and running a bounded number of
  optimizer steps through `Trainer.train_epoch`;
- checks: the sampler's shards of a whole epoch are disjoint and cover every training clip (only the
  wrap-around padding repeats), each rank's throughput, /dev/shm use while the loader workers run (the peak
  rise over the run's start, and the bytes of one batch, which each worker keeps up to prefetch_factor of),
  and the evaluation gather: every test clip scored exactly once and the gathered scores equal to a
  single-process evaluation of the same weights.
Prints its figures (and writes them as JSON with --json); exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
import torch.multiprocessing as mp
from PIL import Image

from finecliper.config.loading import experiment_from_dict
from finecliper.data.manifest import ClipRecord, write_manifest
from finecliper.datasets import class_names
from finecliper.training import evaluate
from finecliper.training.distributed import Dist
from finecliper.training.metrics import classification_metrics
from finecliper.training.trainer import Trainer

TRAIN_CLIPS, TEST_CLIPS = 9356, 2341  # DFEW fold 1 (single-labelled): 11,697 clips in all
SHM = "/dev/shm"


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def generate(root: Path, frames: int, train_clips: int = TRAIN_CLIPS, test_clips: int = TEST_CLIPS,
             seed: int = 0) -> tuple[Path, Path, float]:
    """Manifests of train + test frame folders of 8x8 px JPEG frames; (train, test, seconds)."""
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    names = class_names("dfew")
    # A few dozen distinct encoded frames, written as bytes: generation costs file creation, not encoding.
    palette = []
    for _ in range(64):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(buf, "JPEG")
        palette.append(buf.getvalue())
    records = {"train": [], "test": []}
    for index in range(train_clips + test_clips):
        split = "train" if index < train_clips else "test"
        clip_id = f"{index + 1:05d}"
        folder = root / "clips" / clip_id
        folder.mkdir(parents=True)
        for f in range(frames):
            (folder / f"{f + 1:05d}.jpg").write_bytes(palette[(index * 7 + f) % len(palette)])
        records[split].append(ClipRecord(id=clip_id, path=f"clips/{clip_id}", label=names[index % len(names)],
                                         num_frames=frames, split=split, fold=1, dataset="dfew", source="frames",
                                         root=str(root)))
    write_manifest(root / "train.jsonl", records["train"])
    write_manifest(root / "test.jsonl", records["test"])
    return root / "train.jsonl", root / "test.jsonl", time.perf_counter() - start


def experiment(train: Path, test: Path, args) -> dict:
    return {
        "name": "rehearsal", "preset": "B16",
        "model": {"backbone": "tiny", "num_frames": args.frames},
        "data": {"dataset": "dfew", "train_manifest": str(train), "test_manifest": str(test), "select_on": "test",
                 "workers": args.workers},
        "train": {"epochs": 1, "batch_size": args.batch_size, "lr": 1e-3, "warmup_epochs": 0, "tensorboard": False,
                  "log_every": 10**9, "checkpoint_every": 10**9, "seed": 0},
    }


class ShmPeak:
    """The highest /dev/shm use seen while running, polled every few milliseconds in a thread."""

    def __init__(self):
        self.base = self.peak = shutil.disk_usage(SHM).used
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, shutil.disk_usage(SHM).used)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def batch_bytes(trainer: Trainer) -> int:
    """Bytes of the tensors of one training micro-batch as the loader sends it (through shared memory)."""
    from finecliper.data.loader import collate

    batch = collate([trainer.train_set[i] for i in range(trainer.micro)])
    return sum(v.numel() * v.element_size() for v in batch.values() if isinstance(v, torch.Tensor))


def train_steps(trainer: Trainer, steps: int) -> float:
    """Seconds of `steps` optimizer steps through the real training loop (its loader's start included)."""
    trainer.step_in_epoch, trainer.steps_per_epoch = 0, steps
    start = time.perf_counter()
    trainer.train_epoch()
    return time.perf_counter() - start


def rank_main(rank: int, world: int, port: int, cfg_dict: dict, run_dir: str, args, out_file: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)  # the processes are the parallelism
    trainer = Trainer(experiment_from_dict(cfg_dict), run_dir, "cpu")
    dist = trainer.dist
    if dist.main:
        log(f"{world} processes joined; datasets built")
    order = list(trainer.order)  # this rank's share of epoch 0, as the loader will read it
    shards = dist.gather(order)
    train_steps(trainer, 2)  # warm-up: first allocations, autograd graphs
    if dist.main:
        log("warm-up steps done")
    with ShmPeak() as shm:
        seconds = train_steps(trainer, args.steps)
    if dist.main:
        log(f"{args.steps} timed steps done")
    per_rank = {"rank": rank, "clips_per_s": args.steps * trainer.micro / seconds, "seconds": seconds,
                "shm_peak_rise_mb": (shm.peak - shm.base) / 2**20}
    start = time.perf_counter()
    gathered = evaluate.predict(trainer.model, trainer.test_set, dist, trainer.micro, args.workers)
    per_rank["eval_seconds"] = time.perf_counter() - start
    ranks = dist.gather(per_rank)
    if dist.main:
        log("distributed evaluation done")
        start = time.perf_counter()
        single = evaluate.predict(trainer.model, trainer.test_set, Dist(), trainer.micro, args.workers)
        single_s = time.perf_counter() - start
        result = summarise(trainer, shards, ranks, gathered, single, single_s)
        Path(out_file).write_text(json.dumps(result, indent=2))
    dist.barrier()
    torch.distributed.destroy_process_group()


def summarise(trainer: Trainer, shards, ranks, gathered, single, single_s: float) -> dict:
    size = len(trainer.train_set)
    merged = np.concatenate([np.asarray(s) for s in shards])
    counts = np.bincount(merged, minlength=size)
    pad = len(merged) - size
    metrics = classification_metrics(gathered["label"], gathered["pred"], list(trainer.model.class_names))
    diff = float(np.abs(gathered["scores"] - single["scores"]).max())
    return {
        "world": trainer.dist.world, "train_clips": size, "test_clips": len(trainer.test_set),
        "micro_batch": trainer.micro, "workers_per_rank": trainer.cfg.data.workers,
        "sampler": {"per_rank": [len(s) for s in shards], "padding": pad,
                    "every_clip_covered": bool((counts >= 1).all()),
                    "repeats": int((counts - 1).clip(min=0).sum()),
                    "disjoint_but_padding": bool((counts - 1).clip(min=0).sum() == pad)},
        "ranks": ranks, "batch_bytes": batch_bytes(trainer),
        "eval": {"scored_once": len(gathered["scores"]) == len(trainer.test_set),
                 "max_abs_score_diff_vs_single_process": diff,
                 "same_predictions": bool(np.array_equal(gathered["pred"], single["pred"])),
                 "uar": metrics["uar"], "war": metrics["war"], "single_process_seconds": single_s},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def report(result: dict, generate_s: float) -> bool:
    s, e = result["sampler"], result["eval"]
    print(f"manifest: {result['train_clips']} training + {result['test_clips']} test clips generated in "
          f"{generate_s:.1f} s")
    print(f"sampler, epoch 0 over {result['world']} ranks: {s['per_rank']} clips per rank, padding {s['padding']}, "
          f"every clip covered: {s['every_clip_covered']}, repeats {s['repeats']} "
          f"(= padding: {s['disjoint_but_padding']})")
    for r in result["ranks"]:
        print(f"rank {r['rank']}: {r['clips_per_s']:.1f} clips/s over {r['seconds']:.1f} s (loader start included), "
              f"/dev/shm peak rise {r['shm_peak_rise_mb']:.1f} MiB, evaluation share {r['eval_seconds']:.1f} s")
    print(f"one micro-batch of {result['micro_batch']} clips: {result['batch_bytes'] / 2**20:.2f} MiB through shared "
          f"memory; {result['workers_per_rank']} worker(s) per rank")
    print(f"evaluation: every test clip scored once: {e['scored_once']}; gathered vs one process: max |score diff| "
          f"{e['max_abs_score_diff_vs_single_process']:.2e}, same predictions: {e['same_predictions']} (one process: "
          f"{e['single_process_seconds']:.1f} s); UAR {e['uar']:.4f}, WAR {e['war']:.4f}")
    return (s["every_clip_covered"] and s["disjoint_but_padding"] and e["scored_once"] and e["same_predictions"]
            and e["max_abs_score_diff_vs_single_process"] < 1e-4)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("--world", type=int, default=4, help="processes (default 4)")
    p.add_argument("--steps", type=int, default=20, help="timed optimizer steps per process (default 20)")
    p.add_argument("--batch-size", type=int, default=32, help="global batch size (default 32)")
    p.add_argument("--workers", type=int, default=1, help="loader workers per process (default 1)")
    p.add_argument("--frames", type=int, default=4, help="frames per clip, on disk and to the model (default 4)")
    p.add_argument("--clips", type=int, nargs=2, default=(TRAIN_CLIPS, TEST_CLIPS), metavar=("TRAIN", "TEST"),
                   help=f"clips generated (default DFEW's: {TRAIN_CLIPS} {TEST_CLIPS})")
    p.add_argument("--keep", metavar="DIR", help="generate into DIR and keep it (default: a temporary folder)")
    p.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    args = p.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="finecliper-rehearsal-"))
    try:
        train, test, generate_s = generate(root, args.frames, *args.clips)
        log(f"manifest generated in {generate_s:.1f} s")
        out = root / "result.json"
        cfg = experiment(train, test, args)
        mp.spawn(rank_main, args=(args.world, free_port(), cfg, str(root / "run"), args, str(out)), nprocs=args.world)
        result = json.loads(out.read_text())
        result["generate_seconds"] = generate_s
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        return 0 if report(result, generate_s) else 1
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
