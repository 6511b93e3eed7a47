"""`finecliper synth`: a synthetic dynamic-expression dataset in DFEW's file layout (see `finecliper.synth`).

    finecliper synth --out DIR [--train-identities 80] [--test-identities 24] [--clips-per-class 1]
                     [--frames 16] [--size 64] [--classes dfew|mafw] [--format frames|mp4] [--seed 0]
                     [--workers 2] [--force] [--json]

Writes the clips, the official-format split files, the oracle cue store and synth.json, then prints
the `finecliper manifest` command that reads them. Rerunning the same command resumes (or does
nothing when the dataset is complete); other settings into the same folder need --force. `--json`
prints synth.json's object: {"settings", "classes", "clips": {"train", "test"}, "identities":
{"train", "test"}, "split_files", "frames_folder", "cues", "manifest_dataset", "written"}.
"""

from __future__ import annotations

import json
import sys

from finecliper.errors import UserError
from finecliper.paths import output_folder


def register(subparsers) -> None:
    from finecliper.synth.settings import CLASS_SETS, FORMATS, SynthSettings

    d = SynthSettings()
    p = subparsers.add_parser("synth", help="synthetic face videos with dynamic expressions, in DFEW's layout")
    p.add_argument("--out", required=True, help="dataset folder (created; rerun to resume)")
    p.add_argument("--train-identities", type=int, default=d.train_identities,
                   help=f"people in the training split (default {d.train_identities})")
    p.add_argument("--test-identities", type=int, default=d.test_identities,
                   help=f"other people, only in the test split (default {d.test_identities})")
    p.add_argument("--clips-per-class", type=int, default=d.clips_per_class,
                   help=f"clips of every class per person (default {d.clips_per_class})")
    p.add_argument("--frames", type=int, default=d.frames, help=f"frames per clip (default {d.frames})")
    p.add_argument("--size", type=int, default=d.size, help=f"frame side in pixels (default {d.size})")
    p.add_argument("--classes", choices=CLASS_SETS, default=d.classes,
                   help="dfew: the 7 basic classes (DFEW split files); mafw: MAFW's 11 (MAFW split files)")
    p.add_argument("--format", choices=FORMATS, default=d.format,
                   help="frames: a folder of JPEGs per clip (as DFEW); mp4: H.264 video files")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--workers", type=int, default=2, help="processes drawing clips (default 2)")
    p.add_argument("--force", action="store_true", help="replace a dataset made with other settings")
    p.add_argument("--json", action="store_true", help="print synth.json's object")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from finecliper.synth.generate import generate
    from finecliper.synth.settings import SynthSettings

    if args.workers < 1:
        raise UserError("--workers must be at least 1")
    output_folder(args.out)
    settings = SynthSettings(
        train_identities=args.train_identities, test_identities=args.test_identities,
        clips_per_class=args.clips_per_class, frames=args.frames, size=args.size, classes=args.classes,
        format=args.format, seed=args.seed,
    )
    record = generate(args.out, settings, workers=args.workers, progress=not args.no_progress and sys.stderr.isatty(),
                      force=args.force)
    if args.json:
        print(json.dumps(record, indent=2))
        return 0
    clips = record["clips"]
    print(f"{clips['train'] + clips['test']} clips of {len(record['classes'])} classes in {args.out}: "
          f"{clips['train']} train ({len(record['identities']['train'])} identities), "
          f"{clips['test']} test ({len(record['identities']['test'])} other identities)")
    print(f"oracle cues (the landmarks and parsing maps as drawn): {args.out}/{record['cues']}")
    print(f"next: finecliper manifest --dataset {record['manifest_dataset']} --data-root {args.out} "
          f"--frames {record['frames_folder']} --out {args.out}/manifests")
    return 0
