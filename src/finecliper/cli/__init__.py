"""The `finecliper` console script: one sub-command per module in this package.

Each sub-command module exposes `register(subparsers)`, which adds its parser and sets `func`
to the function that runs it. Bad input (`UserError`) becomes one line on stderr and exit code 2;
nothing here prints a traceback for a user's mistake.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from finecliper import __version__
from finecliper.errors import UserError

# Sub-command modules, in the order `finecliper --help` lists them. Imported by name; a module's import
# and its `register` stay light (no torch, transformers or OpenCV: those are imported inside the function
# that runs the command), so `finecliper --help` and argument errors answer at once.
SUBCOMMANDS = ["demo", "synth", "params", "manifest", "cues", "describe", "train", "eval", "zeroshot", "report",
               "predict", "explain", "serve", "bench"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finecliper",
        description="FineCLIPER for dynamic facial expression recognition.",
    )
    parser.add_argument("--version", action="version", version=f"finecliper {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"finecliper.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"finecliper {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"finecliper {args.command}: interrupted", file=sys.stderr)
        return 130
