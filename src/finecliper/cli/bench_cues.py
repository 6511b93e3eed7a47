"""`finecliper bench cues`: frames per second per core of the cue extractor and the store's size.

The benchmark itself, and the keys of its `--json` object, are in `finecliper.bench.cues`.
"""

from __future__ import annotations

import json


def register(modes) -> None:
    m = modes.add_parser("cues", help="frames/s per core of the cue pipeline on 224 px face crops; store size")
    m.add_argument("--clip", help="frame folder or video to time (default: a clip made from a real face photo)")
    m.add_argument("--frames", type=int, default=64, help="frames of the generated clip (default 64)")
    m.add_argument("--repeat", type=int, default=3, help="timed runs; the median is reported")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=run)


def run(args) -> int:
    from finecliper.bench.cues import bench_cues, report

    result = bench_cues(args.clip, args.frames, args.repeat)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0
