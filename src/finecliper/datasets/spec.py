"""What a dataset entry is, and the registry of them (`DATASETS`).

A `DatasetSpec` owns everything the package knows about one dataset: its classes in canonical order, its
labels' spellings, where its clips and split files live, how to read its split files into rows, and its
special cases (DFEW's label base). The manifest builder, the `manifest` command and the trainer ask the
registry by name and know no dataset themselves. An entry with official split files subclasses
`OfficialSplits` and only says where its files are (`subfolders`, `split_layouts`) and how one file reads
(`read_split_file`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from pathlib import Path

from finecliper.datasets.layouts import SplitLayout, find_split_files
from finecliper.datasets.records import Problem, SplitFile, SplitRow
from finecliper.errors import UserError
from finecliper.registry import Registry

Label = str | list[str]  # a canonical class name, or a list of them (compound labels)
Rows = tuple[list[SplitRow], list[Problem]]


class DatasetSpec(ABC):
    name: str  # registry name: "dfew", "mafw-compound", ...
    classes: tuple[str, ...] | None  # canonical names in canonical order; None: the user's own (csv)
    frames: str  # where the clips live under the data root unless --frames says otherwise ("" = the root)
    has_captions: bool = False  # the official split files come in a variant with captions (--captions)
    compound: bool = False  # a label may name several classes; the manifest stores it as a list

    @abstractmethod
    def spellings(self) -> dict[str, str]:
        """Each label as the dataset's files write it -> its canonical class name."""

    @abstractmethod
    def read_rows(self, root: Path, splits: Path | None, frames: str, captions: bool, fold: int | None) -> Rows:
        """Rows of the split files under `splits` (default: the data root `root`): one fold or every fold."""

    def label_reader(self, raw_labels: list[str], label_base: int | None) -> tuple[Callable[[str], Label], dict]:
        """A function from a label as written to its canonical name, and facts for the build report.

        `raw_labels` are all labels of the split files read, for datasets that must look at them all
        before reading one (DFEW's label base); `label_base` is the user's override of such a fact.
        """
        table = self.spellings()

        def read(raw: str) -> Label:
            key = str(raw).strip()
            if key not in table:
                raise UserError(f"unknown {self.name} label {raw!r}")
            return table[key]

        return read, {}


class OfficialSplits(DatasetSpec):
    """A dataset read from its own split files: one train and one test file per fold."""

    subfolders: tuple[str, ...]  # where the split files may sit under --splits (else --splits itself)

    @abstractmethod
    def split_layouts(self, captions: bool) -> tuple[SplitLayout, ...]:
        """The file names accepted (the distribution's own first), of the captioned variant if asked."""

    @abstractmethod
    def read_split_file(self, file: SplitFile, frames: str, captions: bool) -> Rows:
        """One split file's rows, and a problem for each line that cannot be read."""

    def find_split_files(self, splits_dir: Path, captions: bool = False) -> list[SplitFile]:
        """The split files under `splits_dir`, every fold found, train before test."""
        if captions and not self.has_captions:
            captioned = [name for name, spec in DATASETS.items() if spec.has_captions]
            raise UserError(f"{self.name} has no captions; --captions is for {', '.join(captioned)}")
        return find_split_files(self.name, Path(splits_dir), self.subfolders, self.split_layouts(captions))

    def read_rows(self, root: Path, splits: Path | None, frames: str, captions: bool, fold: int | None) -> Rows:
        files = select_fold(self.name, self.find_split_files(splits if splits is not None else root, captions), fold)
        rows, problems = [], []
        for file in files:
            if not file.path.is_file():
                raise UserError(f"split file {file.path} is missing")
            file_rows, file_problems = self.read_split_file(file, frames, captions)
            if not file_rows and file_problems and all(p.kind == "bad row" for p in file_problems):
                # Not one line read: a file of another format, not a file with a few bad lines.
                raise UserError(f"{file.path} is not a {self.name} split file: none of its lines reads as one "
                                f"({file_problems[0].message})")
            rows += file_rows
            problems += file_problems
        return rows, problems


def select_fold(dataset: str, files: list[SplitFile], fold: int | None) -> list[SplitFile]:
    if fold is None:
        return files
    folds = sorted({f.fold for f in files if f.fold is not None})
    if not folds:
        raise UserError(f"{dataset} has a single train/test split; drop --fold")
    if fold not in folds:
        raise UserError(f"{dataset} has no fold {fold} here; folds found: {', '.join(map(str, folds))}")
    return [f for f in files if f.fold == fold]


def clip_base(frames: str, relative: str) -> str:
    """Where a clip listed as `relative` should be, relative to the data root."""
    return f"{frames}/{relative}" if frames else relative


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register(spec: DatasetSpec) -> DatasetSpec:
    return DATASETS.add(spec.name, spec)


def class_names(dataset: str) -> list[str]:
    """Canonical class names of `dataset`, in its canonical order."""
    spec = DATASETS.get(dataset)
    if spec.classes is None:
        named = [name for name, s in DATASETS.items() if s.classes is not None]
        raise UserError(f"dataset {dataset!r} has no class list of its own; datasets with one: {', '.join(named)}")
    return list(spec.classes)


def spelling_table(names: Iterable[str]) -> dict[str, str]:
    """Spellings of a dataset that writes the canonical names themselves."""
    return {name: name for name in names}
