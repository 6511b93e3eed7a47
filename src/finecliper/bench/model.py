"""`finecliper bench model`: one training step (forward + backward) and one inference pass of a preset on
random clips, timed, and peak memory: the process's peak RSS on CPU, allocated memory on CUDA (where bf16
autocast is the default, as in training).

The timed code is the package's own: `training.trainer.forward_backward`, the micro-step of every training
step, and `inference.scoring.forward`, the forward pass of evaluation and prediction. The batch is what a
loader delivers (uint8 frames, cue kinds' transport arrays, description rows; pinned on CUDA), so the step
includes its move to the device and the device-side input stage (`data/prepare.py`).

Beside the times: FLOPs per clip counted while the step runs, the achieved TFLOP/s and MFU against the
device's peak (`bench/flops.py`), and `reference_ratio`, the step's time over that of plain `transformers`
`CLIPVisionModel` forward passes (no gradients) over the same images, one per image stream, timed in the
same run: the floor that frozen towers cannot beat (a training step's ideal is about 2, a forward pass's 1).
"""

from __future__ import annotations

import copy
import resource
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from finecliper.bench.flops import count_flops, peak_tflops
from finecliper.config.presets import model_config
from finecliper.data.cue_kinds import CUE_KINDS
from finecliper.data.loader import collate
from finecliper.data.palettes import DEFAULT_PALETTE, get_palette
from finecliper.data.prepare import prepare_batch
from finecliper.data.spatial import center_box
from finecliper.datasets import class_names
from finecliper.devices import resolve_device
from finecliper.errors import UserError
from finecliper.inference.runtime import autocast_for
from finecliper.inference.scoring import forward
from finecliper.model import FineCLIPER, build_model
from finecliper.model.compile import compile_towers
from finecliper.training.memory import activation_bytes, resolve_checkpointing
from finecliper.training.trainer import forward_backward

DTYPES = {"float32": "fp32", "bfloat16": "bf16"}  # --dtype: the autocast of train.precision it stands for


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MiB."""
    scale = 1.0 if sys.platform == "darwin" else 1024.0  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (scale / 1024.0) / 1024.0


def random_batch(model: FineCLIPER, batch_size: int, frames: int, size: int, device: torch.device) -> dict:
    """Seeded random clips as a loader delivers them (`collate` of dataset items, pinned for CUDA): uint8
    frames, each cue kind's transport array of its example cues, descriptions, labels."""
    cfg = model.cfg
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8)
    valid, box = np.ones(frames, bool), center_box(size, size)
    item = {"frames": torch.from_numpy(clip),
            "description": "the brows rise and the mouth opens wide" if cfg.descriptions else None}
    for cue in cfg.cues:
        kind = CUE_KINDS.get(cue)
        data = kind.transform(kind.example(frames, size, size, rng), box, size)
        item[cue] = torch.from_numpy(np.ascontiguousarray(kind.transport(data, clip, valid, get_palette(DEFAULT_PALETTE))))
    batch = collate([dict(item, id=f"clip{i}", label=i % len(model.class_names)) for i in range(batch_size)])
    if device.type == "cuda":
        batch = {k: v.pin_memory() if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    return batch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_step(model: FineCLIPER, batch: dict, device: torch.device, precision: str) -> None:
    """One forward + backward pass in training mode, gradients dropped afterwards."""
    model.train()
    forward_backward(model, batch, device, precision)
    model.zero_grad(set_to_none=True)


def mean_seconds(fn: Callable[[], object], device: torch.device, warmup: int, steps: int) -> float:
    """Mean seconds of `fn()` over `steps` timed calls after `warmup` untimed ones, the device's queued work
    waited for at both ends of the timed stretch."""
    for _ in range(warmup):
        fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / steps


def time_training(model: FineCLIPER, batch: dict, device: torch.device, precision: str, warmup: int,
                  steps: int) -> float:
    """Mean seconds of one forward + backward pass, after `warmup` untimed ones."""
    return mean_seconds(lambda: train_step(model, batch, device, precision), device, warmup, steps)


def time_inference(model: FineCLIPER, batch: dict, device: torch.device, precision: str, steps: int) -> float:
    """Mean seconds of one forward pass in evaluation mode, after one untimed pass (PN text embeddings are
    computed once per evaluation: it warms that cache)."""
    model.eval()
    return mean_seconds(lambda: forward(model, batch, device, precision), device, 1, steps)


def time_reference(model: FineCLIPER, batch: dict, device: torch.device, precision: str, steps: int) -> float:
    """Mean seconds of plain `transformers` `CLIPVisionModel` forward passes (no gradients, the same
    architecture, attention and autocast) over the batch's images, one pass per image stream."""
    from transformers import CLIPVisionModel  # seconds to import: only when measuring

    config = copy.deepcopy(model.clip.config.vision_config)
    config._attn_implementation = "sdpa"
    reference = CLIPVisionModel(config).to(device).eval()
    inputs = prepare_batch(batch, device)
    streams = [inputs[key].flatten(0, 1) for key in ("frames", *model.cfg.cues)]  # (B*T, 3, S, S) each

    @torch.no_grad()
    def passes() -> None:
        with autocast_for(device, precision):
            for images in streams:
                reference(pixel_values=images)

    return mean_seconds(passes, device, 1, steps)


def run(preset: str, overrides: Sequence[str] = (), batch_size: int = 2, num_frames: int | None = None,
        image_size: int | None = None, device: str | None = None, dtype: str | None = None, warmup: int = 0,
        steps: int = 1, compile: bool = False) -> dict:
    """The measurements `finecliper bench model` prints (its `--json` object)."""
    if batch_size < 1 or steps < 1 or warmup < 0:
        raise UserError("--batch-size and --steps must be at least 1 and --warmup at least 0")
    dev = resolve_device(device)
    dtype = dtype or ("bfloat16" if dev.type == "cuda" else "float32")
    model = build_model(model_config(preset, list(overrides)), class_names("dfew")).to(dev)
    frames = num_frames or model.cfg.num_frames
    size = image_size or model.image_size
    batch = random_batch(model, batch_size, frames, size, dev)
    precision = DTYPES[dtype]
    activations = activation_bytes(model, batch_size, dev, precision)
    checkpointing = resolve_checkpointing(model, batch_size, dev, precision)
    if compile:
        compile_towers(model)

    rss_before = peak_rss_mb()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    train_s = time_training(model, batch, dev, precision, warmup, steps)
    train_peak = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else peak_rss_mb()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    infer_s = time_inference(model, batch, dev, precision, steps)
    infer_peak = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else None
    # Counted after the timing: the counter slows every operation down.
    flops = {"train": count_flops(lambda: train_step(model, batch, dev, precision)) / batch_size,
             "inference": count_flops(lambda: forward(model, batch, dev, precision)) / batch_size}
    seconds = {"train": train_s, "inference": infer_s}
    reference_s = time_reference(model, batch, dev, precision, steps)
    peak, peak_source = peak_tflops(dev, getattr(torch, dtype))
    achieved = {k: flops[k] * batch_size / seconds[k] / 1e12 for k in seconds}

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
        "inference_peak_memory_mb": None if infer_peak is None else round(infer_peak, 1),
        "activation_estimate_mb": round(activations / 2**20, 1), "gradient_checkpointing": checkpointing,
        "compile": compile,
        "flops_per_clip": {k: round(v) for k, v in flops.items()},
        "achieved_tflops": {k: round(v, 4) for k, v in achieved.items()},
        "peak_tflops": None if peak is None else round(peak, 4), "peak_tflops_source": peak_source,
        "mfu": {k: None if peak is None else round(v / peak, 4) for k, v in achieved.items()},
        "reference_s": round(reference_s, 4),
        "reference_ratio": {k: round(v / reference_s, 3) for k, v in seconds.items()},
    }
