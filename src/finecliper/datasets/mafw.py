"""MAFW (Liu et al., ACM MM 2022): 11 classes, 5 folds; single labels (`mafw`) and compound ones (`mafw-compound`).

Split files `{single,compound}/{no_caption,with_caption}/set_K/{train,test}.txt`. Without captions, one clip
per line, `03747.mp4 anger`: the clip's file name, a space, the lower-case class name; compound classes join
names with `_` (`anger_disgust`) and are stored as lists. With captions (`--captions`): GBK-encoded, CRLF
lines, tab-separated file, class, Chinese caption, English caption; only captioned clips are listed. Accepted
places of that tree, under `--splits`: the distribution's `Train & Test Set/`, `anno/` (S2D's copy) and
`split/` (MAE-DFER's layout), or `--splits` itself. Only the `.txt` files are read: S2D's `train.csv` beside
them holds class indices, another format.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

from finecliper.data.video import is_video_file
from finecliper.datasets.layouts import SplitLayout
from finecliper.datasets.records import Problem, SplitFile, SplitRow
from finecliper.datasets.spec import Label, OfficialSplits, Rows, clip_base, register, spelling_table
from finecliper.datasets.text import nonempty_lines
from finecliper.errors import UserError
from finecliper.labels import COMPOUND_SEPARATOR, MAFW11


class Mafw(OfficialSplits):
    name = "mafw"
    classes = MAFW11
    frames = "data/faces"  # official face crops; data/frames holds whole frames, data/clips the videos
    has_captions = True
    subfolders = ("Train & Test Set", "anno", "split")
    kind = "single"  # the folder of this label kind in the split tree

    def spellings(self) -> dict[str, str]:
        return spelling_table(self.classes)

    def split_layouts(self, captions: bool) -> tuple[SplitLayout, ...]:
        variant = "with_caption" if captions else "no_caption"
        return (SplitLayout(f"{self.kind}/{variant}/set_{{fold}}/{{split}}.txt", "the MAFW distribution"),)

    def read_split_file(self, file: SplitFile, frames: str, captions: bool) -> Rows:
        rows, problems = [], []
        for lineno, line in nonempty_lines(file.path):
            where = f"{file.path}:{lineno}"
            if captions:
                fields = [f.strip() for f in line.split("\t")]
                if len(fields) != 4 or not fields[0] or not fields[1]:
                    problems.append(Problem("bad row", where,
                                            f"{where}: expected 4 tab-separated fields (file, class, Chinese, English)"))
                    continue
                name, label, caption = fields[0], fields[1], fields[3] or None
            else:
                fields = line.split()
                if len(fields) != 2:
                    problems.append(Problem("bad row", where, f"{where}: expected 'file class'"))
                    continue
                (name, label), caption = fields, None
            stem = PurePosixPath(name).stem if is_video_file(name) else name
            rows.append(SplitRow(stem, clip_base(frames, stem), label, file.split, file.fold, caption=caption,
                                 name=clip_base(frames, name), where=where))
        return rows, problems


class MafwCompound(Mafw):
    name = "mafw-compound"  # classes: the 11 names a compound label is made of
    compound = True
    kind = "compound"

    def label_reader(self, raw_labels: list[str], label_base: int | None) -> tuple[Callable[[str], Label], dict]:
        return compound_label, {}


def compound_label(raw: str) -> list[str]:
    """MAFW compound label `anger_disgust` -> ["anger", "disgust"] (a single name gives a list of one)."""
    key = str(raw).strip()
    parts = key.split(COMPOUND_SEPARATOR) if key else []
    if not parts or any(p not in MAFW11 for p in parts):
        raise UserError(f"unknown mafw-compound label {raw!r}")
    if len(set(parts)) != len(parts):
        raise UserError(f"mafw-compound label {raw!r} repeats a class")
    return parts


register(Mafw())
register(MafwCompound())
