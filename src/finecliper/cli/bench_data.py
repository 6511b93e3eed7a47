"""`finecliper bench data`: clips per second of the training dataset through a torch DataLoader.

The measurement is `finecliper.bench.data` (it times the real `ClipDataset`); this module parses the
arguments and prints the result (`--json`: the result object itself).
"""

from __future__ import annotations

import json


def register(modes) -> None:
    m = modes.add_parser("data", help="clips per second of the dataset (frame folders and mp4 files)")
    m.add_argument("--manifest", help="time this manifest's clips instead of generated ones")
    m.add_argument("--clips", type=int, default=96, help="clips timed per kind (default 96)")
    m.add_argument("--clip-frames", type=int, default=48, help="frames per generated clip (default 48)")
    m.add_argument("--num-frames", type=int, default=16, help="frames sampled per clip (default 16)")
    m.add_argument("--size", type=int, default=224, help="output frame size (default 224)")
    m.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (default 2)")
    m.add_argument("--batch-size", type=int, default=8)
    m.add_argument("--test-mode", action="store_true", help="test-mode sampling and no augmentation")
    m.add_argument("--kinds", default="folders,videos", help="generated clip kinds to time (default folders,videos)")
    m.add_argument("--preset", help="read the cues and descriptions this preset's model reads (default: frames only)")
    m.add_argument("--cues", help="cue store of --manifest's clips (for a preset with cues)")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=run)


def run(args) -> int:
    from finecliper.bench.data import DataBenchSettings, format_result  # imports torch: not at start-up
    from finecliper.bench.data import run as bench

    settings = DataBenchSettings(
        manifest=args.manifest, clips=args.clips, clip_frames=args.clip_frames, num_frames=args.num_frames,
        size=args.size, workers=args.workers, batch_size=args.batch_size, test_mode=args.test_mode,
        kinds=tuple(k.strip() for k in args.kinds.split(",") if k.strip()), preset=args.preset, cues=args.cues,
    )
    result = bench(settings)
    print(json.dumps(result, indent=2) if args.json else "\n".join(format_result(result)))
    return 0
