"""`finecliper bench cues`: frames per second per core of the cue extractor and the store's size.

The benchmark itself, and the keys of its `--json` object, are in `finecliper.bench.cues`.
"""

from __future__ import annotations

import json


def register(modes) -> None:
    from finecliper.cues.backends import LANDMARK_BACKENDS
    from finecliper.devices import DEVICE_HELP

    m = modes.add_parser("cues", help="frames/s per core of the cue pipeline on 224 px face crops; store size")
    m.add_argument("--backend", default="mediapipe", choices=LANDMARK_BACKENDS,
                   help="landmark backend timed, with its own parsing (default mediapipe + mesh)")
    m.add_argument("--weights", metavar="FILE", help="its model file (--backend facexformer: the authors' model.pt)")
    m.add_argument("--device", help=DEVICE_HELP + " (backends with a model)")
    m.add_argument("--clip", help="frame folder or video to time (default: a clip made from a real face photo)")
    m.add_argument("--frames", type=int, default=64, help="frames of the generated clip (default 64)")
    m.add_argument("--repeat", type=int, default=3, help="timed runs; the median is reported")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=run)


def run(args) -> int:
    from finecliper.bench.cues import bench_cues, report
    from finecliper.cues.extract import CueSettings
    from finecliper.devices import resolve_device

    settings = CueSettings(backend=args.backend, weights=args.weights)
    settings.validate()
    if settings.weights:  # a backend with a model: on the GPU when there is one, like `finecliper cues`
        settings.device = str(resolve_device(args.device))
    result = bench_cues(args.clip, args.frames, args.repeat, settings)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0
