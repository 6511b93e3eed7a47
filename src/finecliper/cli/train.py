"""`finecliper train`: train one fold from a YAML experiment file (see configs/)."""

from __future__ import annotations

from pathlib import Path

from finecliper.config.loading import load_experiment
from finecliper.devices import DEVICE_HELP
from finecliper.paths import output_folder


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train one fold of a benchmark protocol")
    add_run_arguments(p)
    p.set_defaults(func=run)


def add_run_arguments(p) -> None:
    p.add_argument("--config", required=True, action="append",
                   help="experiment YAML (configs/...); repeat to combine, e.g. a protocol and a preset")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. train.lr=1e-4 or model.adapter_scale=0.3 (repeatable)")
    p.add_argument("--out", help="run directory (default: runs/<protocol name>_<preset>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out after a stop or a kill "
                   "(with the same settings; only workers, data root, weights path and log/checkpoint intervals may change)")
    p.add_argument("--force", action="store_true", help="start over, deleting the outputs of an earlier run in --out")
    p.add_argument("--device", help=DEVICE_HELP)


def run(args, zero_shot: bool = False) -> int:
    from finecliper.training import distributed
    from finecliper.training.metrics import by_score_line, uar_war_line
    from finecliper.training.trainer import Trainer

    overrides = list(args.overrides) + (["train.zero_shot=true"] if zero_shot else [])
    cfg = load_experiment(args.config, overrides)
    out = output_folder(Path(args.out) if args.out else Path("runs") / f"{cfg.name}_{cfg.preset}")
    trainer = Trainer(cfg, out, args.device)
    try:
        results = trainer.run(resume=args.resume, force=args.force)
    finally:
        distributed.teardown()
    if trainer.dist.main:
        if "test" in results:
            print(f"{cfg.name}: test {uar_war_line(results['test'])}; selected epoch {results['best_epoch']} "
                  f"on {results['selection'] if results['selection'] != 'last' else 'nothing (last epoch)'}")
            if cfg.train.zero_shot and by_score_line(results["test"]):
                print(f"{cfg.name}: test {by_score_line(results['test'])}")
        print(f"run directory: {out}")
    return 0
