"""`finecliper bench`: measured speed and memory.

`bench model` times forward + backward (training) and forward (inference) of a preset on random
clips and reports peak memory: RSS on CPU, allocated memory on CUDA (bf16 autocast there by default).
The measuring code is `finecliper.bench.model`; this module parses the arguments and prints.
"""

from __future__ import annotations

import importlib
import json

from finecliper.config.presets import PRESETS
from finecliper.devices import DEVICE_HELP

# Other benchmark modes live beside their subject: each module's register(modes) adds one sub-parser.
OTHER_MODES: list[str] = ["bench_cues", "bench_data", "bench_describe", "bench_quantize"]


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
    m.add_argument("--compile", action="store_true", help="torch.compile the towers first (as train.compile)")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=run_model)
    for name in OTHER_MODES:
        importlib.import_module(f"finecliper.cli.{name}").register(modes)


def run_model(args) -> int:
    from finecliper.bench import model  # torch and the model: only when measuring

    result = model.run(args.preset, args.overrides, args.batch_size, args.num_frames, args.image_size,
                       args.device, args.dtype, args.warmup, args.steps, args.compile)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k:>22}: {v}")
    return 0
