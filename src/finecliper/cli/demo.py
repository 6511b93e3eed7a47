"""`finecliper demo`: the whole pipeline end to end on synthetic data, on CPU, in minutes (see `finecliper.demo`).

    finecliper demo [--out runs/demo] [--cues oracle|mediapipe] [--ablation [--ablation-rows ROW,...]] [--force]
                    [--train-identities N] [--test-identities N] [--clips-per-class N] [--epochs N]
                    [--pretrain-steps N] [--seed N] [--json]

Prints one line per stage, then UAR and WAR on the held-out identities; writes report.json
({"uar", "war", "per_class_recall", "confusion", "class_names", "num_clips", ...}, fractions in [0, 1]),
confusion.png and preview.png under --out. `--ablation` also trains frames only, + parsing and
landmarks, and + descriptions on the same data, the full variant with the other PN loss, and
FineCLIPER† without labels (zero-shot, scored both ways), adds the frames-only linear probe on single
middle frames, and prints the table in the paper's layout (ablation.md, ablation.json);
`--ablation-rows` runs only some of those rows. Rerunning skips what is finished; `--force` starts over.
"""

from __future__ import annotations

import json
import sys

from finecliper.errors import UserError
from finecliper.paths import output_folder


def register(subparsers) -> None:
    from finecliper.demo.settings import CUE_BACKENDS, DemoSettings

    d = DemoSettings()
    p = subparsers.add_parser("demo", help="the whole pipeline on a synthetic dataset, on CPU, in minutes")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo; rerun to resume)")
    p.add_argument("--cues", choices=CUE_BACKENDS, default=d.cues,
                   help="oracle: the landmarks and parsing the generator drew; mediapipe: run the real extractor")
    p.add_argument("--ablation", action="store_true",
                   help="also train frames only, + parsing/landmarks, + descriptions, and a middle-frame probe")
    p.add_argument("--ablation-rows", metavar="ROW[,ROW]",
                   help="with --ablation, only these rows besides the full variant (default all): "
                        "frames, pl, ft, pn-loss, zero-shot, probes")
    p.add_argument("--force", action="store_true", help="start over, deleting what --out holds")
    p.add_argument("--train-identities", type=int, default=d.synth.train_identities)
    p.add_argument("--test-identities", type=int, default=d.synth.test_identities)
    p.add_argument("--clips-per-class", type=int, default=d.synth.clips_per_class)
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"FineCLIPER epochs (default {d.epochs})")
    p.add_argument("--pretrain-steps", type=int, default=d.pretrain_steps,
                   help=f"contrastive steps of the small CLIP (default {d.pretrain_steps})")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--json", action="store_true", help="print report.json's object instead of the summary")
    p.set_defaults(func=run)


def run(args) -> int:
    from dataclasses import replace

    from finecliper.demo.pipeline import run_demo, summary_lines
    from finecliper.demo.settings import DemoSettings

    d = DemoSettings()
    synth = replace(d.synth, train_identities=args.train_identities, test_identities=args.test_identities,
                    clips_per_class=args.clips_per_class, seed=args.seed)
    settings = replace(d, synth=synth, cues=args.cues, epochs=args.epochs, pretrain_steps=args.pretrain_steps,
                       seed=args.seed)
    output_folder(args.out)
    rows = None
    if args.ablation_rows is not None:
        if not args.ablation:
            raise UserError("--ablation-rows chooses rows of --ablation; add --ablation")
        rows = [r.strip() for r in args.ablation_rows.split(",") if r.strip()]
    report = run_demo(args.out, settings, ablation=args.ablation, force=args.force,
                      progress=sys.stderr.isatty(), echo=(lambda line: None) if args.json else print, rows=rows)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for line in summary_lines(report, args.out):
        print(line)
    return 0
