"""`finecliper bench`: measured speed and memory.

`bench model` times forward + backward (training) and forward (inference) of a preset on random
clips and reports peak memory: RSS on CPU, allocated memory on CUDA (bf16 autocast there by default).
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
import time

from finecliper.devices import DEVICE_HELP
from finecliper.errors import UserError
from finecliper.labels import class_names
from finecliper.presets import PRESETS, model_config

# Other benchmark modes live beside their subject: each module's register(modes) adds one sub-parser.
OTHER_MODES: list[str] = ["bench_cues", "bench_data", "bench_describe"]


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="speed and memory of the model and the data pipeline")
    modes = p.add_subparsers(dest="mode", metavar="MODE", required=True)

    m = modes.add_parser("model", help="forward+backward time and peak memory of a preset")
    m.add_argument("--preset", default="B16-Full", choices=list(PRESETS))
    m.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    m.add_argument("--batch-size", type=int, default=2)
    m.add_argument("--num-frames", type=int, help="frames per clip fed to the model (default: the model's)")
    m.add_argument("--image-size", type=int, help="frame size fed to the model (default: the model's)")
    m.add_argument("--device", help=DEVICE_HELP)
    m.add_argument("--dtype", choices=["float32", "bfloat16"], help="autocast dtype (default: bf16 on CUDA)")
    m.add_argument("--warmup", type=int, default=0, help="untimed steps first")
    m.add_argument("--steps", type=int, default=1, help="timed steps (the mean is reported)")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=run_model)
    for name in OTHER_MODES:
        importlib.import_module(f"finecliper.cli.{name}").register(modes)


def _peak_rss_mb() -> float:
    scale = 1.0 if sys.platform == "darwin" else 1024.0  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (scale / 1024.0) / 1024.0


def run_model(args) -> int:
    import torch

    from finecliper.devices import resolve_device
    from finecliper.model import build_model

    if args.batch_size < 1 or args.steps < 1 or args.warmup < 0:
        raise UserError("--batch-size and --steps must be at least 1 and --warmup at least 0")
    device = resolve_device(args.device)
    dtype = args.dtype or ("bfloat16" if device.type == "cuda" else "float32")
    cfg = model_config(args.preset, args.overrides)
    classes = class_names("dfew")
    model = build_model(cfg, classes).to(device)
    model.train()
    t = args.num_frames or cfg.num_frames
    size = args.image_size or model.image_size
    gen = torch.Generator().manual_seed(0)
    shape = (args.batch_size, t, 3, size, size)
    batch = {"frames": torch.randn(shape, generator=gen).to(device)}
    for cue in cfg.cues:
        batch[cue] = torch.randn(shape, generator=gen).to(device)
    if cfg.descriptions:
        batch["descriptions"] = ["the brows rise and the mouth opens wide"] * args.batch_size
    batch["labels"] = torch.randint(len(classes), (args.batch_size,), generator=gen).to(device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == "bfloat16")

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def train_step():
        with autocast:
            loss = model(batch)["loss"]
        loss.backward()
        model.zero_grad(set_to_none=True)

    rss_before = _peak_rss_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(args.warmup):
        train_step()
    sync()
    start = time.perf_counter()
    for _ in range(args.steps):
        train_step()
    sync()
    train_s = (time.perf_counter() - start) / args.steps
    train_peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else _peak_rss_mb()

    model.eval()
    with torch.no_grad(), autocast:
        model(batch)  # PN text embeddings are computed once per evaluation: warm that cache
        sync()
        start = time.perf_counter()
        for _ in range(args.steps):
            model(batch)
        sync()
    infer_s = (time.perf_counter() - start) / args.steps

    tunable, total = model.count_parameters()
    result = {
        "preset": args.preset, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(), "dtype": dtype, "batch_size": args.batch_size, "frames": t,
        "image_size": size, "tunable": tunable, "total": total,
        "train_step_s": round(train_s, 4), "train_clips_per_s": round(args.batch_size / train_s, 3),
        "inference_s": round(infer_s, 4), "inference_clips_per_s": round(args.batch_size / infer_s, 3),
        "peak_memory_mb": round(train_peak, 1),
        "peak_memory_kind": "cuda max allocated" if device.type == "cuda" else "process peak RSS",
        "rss_before_step_mb": round(rss_before, 1) if device.type == "cpu" else None,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k:>22}: {v}")
    return 0
