"""`finecliper bench model`: one training step (forward + backward) and one inference pass of a preset on
random clips, timed, and peak memory: the process's peak RSS on CPU, allocated memory on CUDA (where bf16
autocast is the default, as in training).

The timed code is the package's own: `training.trainer.forward_backward`, the micro-step of every training
step, and `inference.scoring.forward`, the forward pass of evaluation and prediction.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Sequence

import torch

from finecliper.config.presets import model_config
from finecliper.datasets import class_names
from finecliper.devices import resolve_device
from finecliper.errors import UserError
from finecliper.inference.scoring import forward
from finecliper.model import FineCLIPER, build_model
from finecliper.training.trainer import forward_backward

DTYPES = {"float32": "fp32", "bfloat16": "bf16"}  # --dtype: the autocast of train.precision it stands for


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MiB."""
    scale = 1.0 if sys.platform == "darwin" else 1024.0  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (scale / 1024.0) / 1024.0


def random_batch(model: FineCLIPER, batch_size: int, frames: int, size: int, device: torch.device) -> dict:
    """Seeded random clips with every input the model reads: frames, its cue images, descriptions, labels."""
    cfg = model.cfg
    gen = torch.Generator().manual_seed(0)
    shape = (batch_size, frames, 3, size, size)
    batch = {"frames": torch.randn(shape, generator=gen).to(device)}
    for cue in cfg.cues:
        batch[cue] = torch.randn(shape, generator=gen).to(device)
    if cfg.descriptions:
        batch["descriptions"] = ["the brows rise and the mouth opens wide"] * batch_size
    batch["labels"] = torch.randint(len(model.class_names), (batch_size,), generator=gen).to(device)
    return batch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_training(model: FineCLIPER, batch: dict, device: torch.device, precision: str, warmup: int,
                  steps: int) -> float:
    """Mean seconds of one forward + backward pass, after `warmup` untimed ones."""
    model.train()

    def step() -> None:
        forward_backward(model, batch, device, precision)
        model.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return (time.perf_counter() - start) / steps


def time_inference(model: FineCLIPER, batch: dict, device: torch.device, precision: str, steps: int) -> float:
    """Mean seconds of one forward pass in evaluation mode."""
    model.eval()
    forward(model, batch, device, precision)  # PN text embeddings are computed once per evaluation: warm that cache
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        forward(model, batch, device, precision)
    _sync(device)
    return (time.perf_counter() - start) / steps


def run(preset: str, overrides: Sequence[str] = (), batch_size: int = 2, num_frames: int | None = None,
        image_size: int | None = None, device: str | None = None, dtype: str | None = None, warmup: int = 0,
        steps: int = 1) -> dict:
    """The measurements `finecliper bench model` prints (its `--json` object)."""
    if batch_size < 1 or steps < 1 or warmup < 0:
        raise UserError("--batch-size and --steps must be at least 1 and --warmup at least 0")
    dev = resolve_device(device)
    dtype = dtype or ("bfloat16" if dev.type == "cuda" else "float32")
    model = build_model(model_config(preset, list(overrides)), class_names("dfew")).to(dev)
    frames = num_frames or model.cfg.num_frames
    size = image_size or model.image_size
    batch = random_batch(model, batch_size, frames, size, dev)

    rss_before = peak_rss_mb()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    train_s = time_training(model, batch, dev, DTYPES[dtype], warmup, steps)
    train_peak = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else peak_rss_mb()
    infer_s = time_inference(model, batch, dev, DTYPES[dtype], steps)

    tunable, total = model.count_parameters()
    return {
        "preset": preset, "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(), "dtype": dtype, "batch_size": batch_size, "frames": frames,
        "image_size": size, "tunable": tunable, "total": total,
        "train_step_s": round(train_s, 4), "train_clips_per_s": round(batch_size / train_s, 3),
        "inference_s": round(infer_s, 4), "inference_clips_per_s": round(batch_size / infer_s, 3),
        "peak_memory_mb": round(train_peak, 1),
        "peak_memory_kind": "cuda max allocated" if dev.type == "cuda" else "process peak RSS",
        "rss_before_step_mb": round(rss_before, 1) if dev.type == "cpu" else None,
    }
