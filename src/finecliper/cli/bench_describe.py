"""`finecliper bench describe`: clips per second of a describer.

    finecliper bench describe --backend landmarks [--clips 200] [--frames 64]
    finecliper bench describe --backend video-llava [--size 7b|tiny] [--frames 8] [--max-new-tokens 96]
                              [--batch-size 1 --batch-size 4 ...] [--device auto] [--dtype bfloat16]
    finecliper bench describe --backend NAME [its options, e.g. --weights DIR]

Any registered describer, with its own options; `video-llava` without `--weights` times a random-weight
model of Video-LLaVA-7B's architecture. The benchmark itself, and its `--json` keys, are in
`finecliper.bench.describe`.
"""

from __future__ import annotations

import json


def register(modes) -> None:
    from finecliper.cli.describe import add_describer_options
    from finecliper.describe.backends import describer_names
    from finecliper.devices import DEVICE_HELP

    m = modes.add_parser("describe", help="clips/s of a describer (landmarks, or a random-weight Video-LLaVA, ...)")
    m.add_argument("--backend", default="landmarks", help=describer_names())
    m.add_argument("--size", default="7b", help="video-llava without --weights: 7b (Video-LLaVA-7B) or tiny")
    m.add_argument("--clips", type=int, default=200, help="clips timed (default 200)")
    m.add_argument("--frames", type=int, help="frames per clip (default: 64 for landmarks, 8 for video-llava)")
    m.add_argument("--max-new-tokens", type=int, default=96)
    m.add_argument("--batch-size", type=int, action="append", help="batch sizes to time (repeatable)")
    m.add_argument("--repeat", type=int, default=2, help="video-llava: timed batches per batch size")
    m.add_argument("--device", default="auto", help=DEVICE_HELP)
    m.add_argument("--dtype", help="bfloat16, float16 or float32 (default: bfloat16 on CUDA, float32 on CPU)")
    # The describers' other options (--weights, --cues, ...); the ones above take the benchmark's meaning.
    add_describer_options(m, skip=("--frames", "--max-new-tokens", "--batch-size", "--device", "--dtype"))
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=run)


def run(args) -> int:
    from finecliper.bench.describe import bench_describe, report

    result = bench_describe(args.backend, vars(args), args.clips, args.frames, args.batch_size, args.repeat,
                            args.size)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0
