"""`finecliper params`: tunable and total parameters of every preset, beside the paper's figure.

Counts come from the real architectures built on PyTorch's meta device: exact, offline, and fast.
`--json` prints {"presets": {NAME: {"tunable": int, "total": int, "paper_tunable_m": number or null}}}.
"""

from __future__ import annotations

import json

from finecliper.config.presets import PRESETS


def register(subparsers) -> None:
    p = subparsers.add_parser("params", help="parameter counts of every preset beside the paper's")
    p.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    p.add_argument("--preset", action="append", choices=list(PRESETS), help="only these presets (repeatable)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="model config override applied to every preset, e.g. adapter_ratio.video=0")
    p.set_defaults(func=run)


def run(args) -> int:
    from finecliper.model.param_counts import count_presets  # torch and transformers: only when counting

    counts = count_presets(args.preset or list(PRESETS), args.overrides)
    if args.json:
        print(json.dumps({"presets": counts}, indent=2))
        return 0
    print(f"{'preset':<10} {'tunable':>14} {'(M)':>7} {'paper (M)':>10} {'total':>14}")
    for name, c in counts.items():
        paper = "-" if c["paper_tunable_m"] is None else f"{c['paper_tunable_m']:g}"
        print(f"{name:<10} {c['tunable']:>14,} {c['tunable'] / 1e6:>7.2f} {paper:>10} {c['total']:>14,}")
    return 0
