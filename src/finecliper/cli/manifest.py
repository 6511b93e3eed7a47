"""`finecliper manifest`: build and validate manifests from a dataset's official split files.

Writes one JSONL per split, `{dataset}[_fold{K}]_{split}.jsonl`, into `--out`. Every problem found
(bad rows, unknown labels, duplicate ids, missing, empty or unreadable clips) is counted and its first
examples printed; nothing is written while problems remain unless `--skip-bad` is given, which leaves
those clips out and lists them in `{dataset}[_fold{K}]_skipped.tsv`.
"""

from __future__ import annotations

import sys

from finecliper.datasets import DATASETS
from finecliper.datasets.generic_csv import parse_class_list
from finecliper.errors import UserError
from finecliper.paths import output_folder


def register(subparsers) -> None:
    frames = ", ".join(f"{name} {spec.frames}" for name, spec in DATASETS.items() if spec.frames)
    captioned = ", ".join(name for name, spec in DATASETS.items() if spec.has_captions)
    p = subparsers.add_parser(
        "manifest", help="build and validate manifests from official split files",
        description="Build one JSONL manifest per split from a dataset's official split files, counting "
                    "frames on disk and reporting every problem found.",
    )
    p.add_argument("--dataset", required=True, choices=DATASETS.names())
    p.add_argument("--data-root", required=True, help="folder the clip paths are relative to")
    p.add_argument("--out", required=True, help="folder to write the manifests into")
    p.add_argument("--splits", help="folder holding the split files in the distribution's layout "
                                    "(default: the data root); for --dataset csv, the CSV file")
    p.add_argument("--fold", type=int, help="only this fold (default: every fold found)")
    p.add_argument("--frames", help=f"clip folder relative to the data root (default: {frames}; e.g. "
                                    "Clip/clip_224x224_16f, data/frames or data/clips for MAFW's videos)")
    p.add_argument("--captions", action="store_true",
                   help=f"{captioned}: use the captioned split files and keep the English captions")
    p.add_argument("--skip-bad", action="store_true", help="leave problem clips out instead of failing")
    p.add_argument("--frame-check", choices=["all", "first"], default="all",
                   help="all: decode every frame of each frame folder (default); first: test the first frame's "
                        "header only (faster, finds fewer damaged frames)")
    p.add_argument("--classes", help="csv only: allowed labels, comma-separated, or a dataset name (dfew, mafw, ...)")
    p.add_argument("--dfew-label-base", choices=["auto", "0", "1"], default="auto",
                   help="DFEW label values start at 0 or 1 (default: read from the files)")
    p.add_argument("--workers", type=int, default=8, help="threads counting frames (default 8)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    # Here, not at the top: the builder imports tqdm (about 70 ms), which `finecliper --help` does not need.
    from finecliper.datasets.manifest_builder import (
        build_manifests,
        format_report,
        format_summary,
        write_manifests,
    )

    if args.fold is not None and args.fold < 1:
        raise UserError("--fold counts from 1")
    if args.workers < 1:
        raise UserError("--workers must be at least 1")
    output_folder(args.out)
    result = build_manifests(
        args.dataset, args.data_root, splits=args.splits, fold=args.fold, frames=args.frames,
        captions=args.captions, classes=parse_class_list(args.classes),
        dfew_base=None if args.dfew_label_base == "auto" else int(args.dfew_label_base),
        workers=args.workers, progress=not args.quiet and sys.stderr.isatty(), frame_check=args.frame_check,
    )
    if result.problems:
        print(format_report(result.problems), file=sys.stderr)
    written = write_manifests(result, args.out, skip_bad=args.skip_bad, fold=args.fold)
    print(format_summary(result))
    if result.problems:
        print(f"skipped {len(result.skipped_ids)} clip id(s); listed in {written[-1]}")
    print(f"wrote {len(written)} file(s) to {args.out}")
    return 0
