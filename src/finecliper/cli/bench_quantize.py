"""`finecliper bench quantize`: `predict --quantize int8` against float32 on the CPU, speed and agreement.

    finecliper bench quantize [--preset B16-Full] [--set KEY=VALUE] [--batch-size 1] [--steps 2] [--json]

The measurement and its `--json` keys are in `finecliper.bench.quantize`.
"""

from __future__ import annotations

import json


def register(modes) -> None:
    from finecliper.config.presets import PRESETS

    m = modes.add_parser("quantize", help="int8 prediction (predict --quantize int8) against float32 on the CPU")
    m.add_argument("--preset", default="B16-Full", choices=list(PRESETS))
    m.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    m.add_argument("--batch-size", type=int, default=1, help="clips per forward pass (default 1, as predict)")
    m.add_argument("--steps", type=int, default=2, help="timed passes of each model (the median is reported)")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=run)


def run(args) -> int:
    from finecliper.bench.quantize import run as bench  # torch and the model: only when measuring

    result = bench(args.preset, args.overrides, args.batch_size, args.steps)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['preset']} on the CPU ({result['threads']} threads), {result['batch_size']} clip(s) of "
              f"{result['frames']} frames at {result['image_size']} px, {result['quantized_layers']} linear layers "
              f"in int8: float32 {result['fp32_s']:.2f} s, int8 {result['int8_s']:.2f} s per pass, speedup "
              f"{result['speedup']:.2f}x; clip embedding cosine to float32 min {result['cosine_min']:.6f}, "
              f"largest score change {result['score_max_abs_diff']:.4f}, same top class: {result['same_label']}")
    return 0
