"""`finecliper zeroshot`: the paper's zero-shot protocol (FineCLIPER† without labels).

Trains the description branch on (video, text) pairs alone, with the alignment loss, then classifies
the test clips of a dataset against the PN sentences of its class names. Same arguments as `train`;
the config's data.descriptions gives the texts (a descriptions file, or "captions" for MAFW's own).
"""

from __future__ import annotations

from finecliper.cli import train


def register(subparsers) -> None:
    p = subparsers.add_parser("zeroshot", help="train on (video, text) pairs only, classify by class sentences")
    train.add_run_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    return train.run(args, zero_shot=True)
