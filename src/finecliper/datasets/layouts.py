"""Finding a dataset's split files on disk, in the distribution's layout or in a peer's copy of it.

A `SplitLayout` is one naming scheme: a path template relative to a split folder, with `{split}` (train or
test) and, for datasets with folds, `{fold}` (1-based). `find_split_files` looks in the `--splits` folder and
in the sub-folders a dataset names, tries every layout the dataset accepts, and takes the one match. Which
folds exist is read from disk, not assumed. Two matches (two folders, or two layouts in one folder) are
refused with one sentence naming both: guessing between them could silently train on the wrong files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from finecliper.datasets.records import SplitFile
from finecliper.errors import UserError
from finecliper.paths import existing_folder

SPLITS = ("train", "test")


@dataclass(frozen=True)
class SplitLayout:
    template: str  # e.g. "{split}(single-labeled)/set_{fold}.csv"; "/" separates folders
    used_by: str  # who ships files named so, for messages and docs

    def path(self, split: str, fold: int | None) -> str:
        return self.template.format(split=split, fold=fold)

    def folds(self, folder: Path) -> list[int | None]:
        """Folds whose train file is named after this layout under `folder` ([None]: a single split)."""
        parts = self.template.replace("{split}", "train").split("/")
        at = next((k for k, part in enumerate(parts) if "{fold}" in part), None)
        if at is None:
            return [None] if (folder / "/".join(parts)).exists() else []
        parent = folder.joinpath(*parts[:at])
        if not parent.is_dir():
            return []
        before, after = parts[at].split("{fold}")
        name = re.compile(re.escape(before) + r"(\d+)" + re.escape(after))
        return sorted(int(m.group(1)) for entry in parent.iterdir() if (m := name.fullmatch(entry.name)))


def find_split_files(dataset: str, splits_dir: Path, subfolders: tuple[str, ...],
                     layouts: tuple[SplitLayout, ...]) -> list[SplitFile]:
    """Every fold's train and test file of `dataset` under `splits_dir` or one of its `subfolders`."""
    existing_folder(splits_dir, "split folder")
    found = [(folder, layout, folds)
             for folder in [splits_dir / sub for sub in subfolders] + [splits_dir]
             for layout in layouts
             if (folds := layout.folds(folder))]
    if not found:
        expected = f"{subfolders[0]}/{layouts[0].path('train', 1)}" if subfolders else layouts[0].path("train", 1)
        raise UserError(f"no {dataset} split files under {splits_dir} (expected {expected}); pass --splits")
    if len(found) > 1:
        first, second = (folder / layout.path("train", folds[0]) for folder, layout, folds in found[:2])
        raise UserError(f"{dataset} split files are there twice, as {first} and as {second}; move one copy "
                        "away or pass --splits naming a folder that holds only one")
    folder, layout, folds = found[0]
    return [SplitFile(folder / layout.path(split, fold), split, fold) for fold in folds for split in SPLITS]
