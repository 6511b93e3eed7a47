"""A user's own dataset (`--dataset csv`): one CSV file names every clip, its label and its split.

The file (`--splits FILE`) has a header `path,label[,split][,fold][,caption][,id]`; `path` is a frame folder
or a video relative to the data root (or absolute, inside it), `split` any simple name (default `all`), `fold`
a whole number, `id` defaults to the path without a video suffix. Labels in any known spelling (canonical
names, FERV39k's, the usual adjectives, any case) become canonical names; any other name is kept as written,
so the classes are the user's own (`--classes` restricts them).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from finecliper.data.video import is_video_file
from finecliper.datasets.records import Problem, SplitRow
from finecliper.datasets.spec import DATASETS, DatasetSpec, Label, Rows, class_names, clip_base, register
from finecliper.datasets.text import read_text
from finecliper.errors import UserError
from finecliper.labels import MAFW11

COLUMNS = ("path", "label", "split", "fold", "caption", "id")

# Spellings accepted, case-insensitively: canonical names (which cover FERV39k's Neutral, Surprise, Disgust
# and Fear) and the usual adjectives (which cover its Happy, Sad and Angry).
SPELLINGS = {name: name for name in MAFW11}
SPELLINGS.update({
    "happy": "happiness", "sad": "sadness", "angry": "anger", "surprised": "surprise",
    "disgusted": "disgust", "fearful": "fear", "contemptuous": "contempt", "anxious": "anxiety",
    "helpless": "helplessness", "disappointed": "disappointment",
})


def canonical_name(raw: str) -> str:
    """A label as a user wrote it -> its canonical name when it is a known spelling, else as written."""
    key = str(raw).strip()
    if not key:
        raise UserError("empty label")
    return SPELLINGS.get(key.lower(), key)


def parse_class_list(text: str | None) -> list[str] | None:
    """`--classes`: a registered dataset's name (its classes) or comma-separated class names."""
    if text is None:
        return None
    if text in DATASETS and DATASETS.get(text).classes is not None:
        return class_names(text)
    names = [canonical_name(n) for n in text.split(",") if n.strip()]
    if len(names) < 2:
        raise UserError("--classes needs at least two comma-separated names or a dataset name")
    return names


class GenericCsv(DatasetSpec):
    name = "csv"
    classes = None
    frames = ""  # paths in the CSV are relative to the data root itself

    def spellings(self) -> dict[str, str]:
        return dict(SPELLINGS)

    def label_reader(self, raw_labels: list[str], label_base: int | None) -> tuple[Callable[[str], Label], dict]:
        return canonical_name, {}

    def read_rows(self, root: Path, splits: Path | None, frames: str, captions: bool, fold: int | None) -> Rows:
        # A caption column is read whenever there is one: `captions` picks an official variant, not needed here.
        if splits is None or not splits.is_file():
            raise UserError("--dataset csv needs --splits pointing at the CSV file (path,label[,split][,fold][,caption])")
        rows, problems = read_csv_file(splits, frames, root)
        if fold is not None:
            rows = [r for r in rows if r.fold == fold]
            if not rows:
                raise UserError(f"the CSV has no rows of fold {fold}")
        return rows, problems


def read_csv_file(path: Path, frames: str, data_root: Path) -> Rows:
    """The rows of a user's CSV; paths relative to the data root, absolute ones made so."""
    reader = csv.DictReader(io.StringIO(read_text(path)))
    columns = [c.strip().lower() for c in (reader.fieldnames or [])]
    if "path" not in columns or "label" not in columns:
        raise UserError(f"{path} needs a header row with at least the columns path,label")
    reader.fieldnames = columns
    unknown = set(columns) - set(COLUMNS)
    if unknown:
        raise UserError(f"{path} has unknown column {sorted(unknown)[0]!r}; known: {','.join(COLUMNS)}")
    rows, problems = [], []
    root = data_root.resolve()
    for lineno, record in enumerate(reader, 2):
        where = f"{path}:{lineno}"
        values = {k: (v or "").strip() for k, v in record.items() if k is not None}
        row = _row(values, where, frames, root)
        if isinstance(row, Problem):
            problems.append(row)
        else:
            rows.append(row)
    return rows, problems


def _row(values: dict[str, str], where: str, frames: str, root: Path) -> SplitRow | Problem:
    clip_path = values.get("path", "")
    if not clip_path:
        return Problem("bad row", where, f"{where}: empty path")
    p = Path(clip_path)
    if p.is_absolute():
        try:
            clip_path = p.resolve().relative_to(root).as_posix()
        except ValueError:
            return Problem("bad row", where, f"{where}: path {p} is outside the data root {root}")
    fold_text = values.get("fold", "")
    if fold_text and not fold_text.isdigit():
        return Problem("bad row", where, f"{where}: fold {fold_text!r} is not a whole number")
    split = values.get("split", "") or "all"
    if not re.fullmatch(r"[A-Za-z0-9_-]+", split):
        return Problem("bad row", where, f"{where}: split {split!r} is not a simple name")
    clip_id = values.get("id") or (str(PurePosixPath(clip_path).with_suffix("")) if is_video_file(clip_path)
                                   else clip_path)
    return SplitRow(clip_id, clip_base(frames, clip_path), values.get("label", ""), split,
                    int(fold_text) if fold_text else None, caption=values.get("caption") or None, where=where)


register(GenericCsv())
