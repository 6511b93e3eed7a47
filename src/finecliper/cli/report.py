"""`finecliper report RUN_DIR... [--out D] [--figures]`: mean ± std over folds in the paper's table layout, markdown
and CSV; with --figures the paper's figures from the same runs (finecliper.figures)."""

from __future__ import annotations

from pathlib import Path

from finecliper import atomic
from finecliper.errors import UserError
from finecliper.paths import output_folder


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="tables over finished runs, beside the paper's figures")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories (or their results.json)")
    p.add_argument("--out", help="folder for report.md and report.csv (and the figures)")
    p.add_argument("--figures", action="store_true",
                   help="also draw per-class recall, fixed vs adaptive w and tunable parameters vs WAR (PNGs in --out)")
    p.set_defaults(func=run)


def run(args) -> int:
    from finecliper.training.report import csv_text, markdown, read_results, summarise

    if args.figures and not args.out:
        raise UserError("--figures writes PNGs; give --out DIR")
    if args.out:
        output_folder(args.out)
    summary = summarise(read_results(args.runs))
    runs = None
    if args.figures:  # read (and refused) before anything is written
        from finecliper.figures.runs import read_runs

        runs = read_runs(args.runs)
    text = markdown(summary)
    print(text)
    if args.out:
        atomic.write_text(Path(args.out) / "report.md", text + "\n")
        atomic.write_text(Path(args.out) / "report.csv", csv_text(summary))
    if args.figures:
        from finecliper.figures.plots import write_figures

        print("figures: " + "  ".join(str(p) for p in write_figures(runs, args.out)))
    return 0
