"""What reading split files produces: the files found, one row per listed clip, and the problems met.

A reader turns one split file into `SplitRow`s plus `Problem`s for lines it cannot use; the manifest builder
adds the problems it finds on disk and reports them all at once, grouped by kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class SplitFile:
    path: Path
    split: str  # "train" or "test"
    fold: int | None  # 1-based; None for a dataset with a single train/test split


@dataclass
class SplitRow:
    id: str  # clip id, unique within a manifest
    base: str  # where the clip should be, relative to the data root (a folder, or a video without suffix)
    raw_label: str  # the label as the file writes it
    split: str
    fold: int | None
    caption: str | None = None
    name: str | None = None  # the file name the split lists (MAFW's `03747.mp4`), tried as a video
    where: str = ""  # "file:line", for messages


@dataclass
class Problem:
    kind: str  # one of PROBLEM_KINDS
    id: str
    message: str


# In the order the build report lists them.
PROBLEM_KINDS = ("bad row", "unknown label", "duplicate id", "missing", "empty", "unreadable")
