"""`finecliper eval`: UAR, WAR, per-class recall and confusion matrix of a checkpoint on a manifest.

Under `torchrun` the clips are split over the processes and each clip is counted exactly once.
`--dataset` classifies against another dataset's class sentences (zero-shot transfer).
"""

from __future__ import annotations

from finecliper.devices import DEVICE_HELP


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluate a checkpoint on a manifest")
    p.add_argument("--checkpoint", required=True, help="a .safetensors checkpoint of `finecliper train`")
    p.add_argument("--manifest", required=True, help="labelled manifest (JSONL) to score")
    p.add_argument("--out", help="output folder (default: eval_<manifest> beside the checkpoint)")
    p.add_argument("--dataset", help="classify against this dataset's classes (zero-shot transfer)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. data.cues=DIR or model.weights=PATH (repeatable)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", help=DEVICE_HELP)
    p.set_defaults(func=run)


def run(args) -> int:
    from finecliper.training.evaluate import evaluate_checkpoint
    from finecliper.training.metrics import by_score_line, uar_war_line

    metrics = evaluate_checkpoint(args.checkpoint, args.manifest, args.out, args.overrides, args.dataset,
                                  args.device, args.batch_size, args.workers)
    print(uar_war_line(metrics))
    if by_score_line(metrics):
        print(by_score_line(metrics))
    for name, recall in metrics["per_class_recall"].items():
        print(f"  {name:>15}: {'-' if recall is None else f'{recall * 100:.2f}'}")
    return 0
