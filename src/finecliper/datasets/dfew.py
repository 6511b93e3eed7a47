"""DFEW (Jiang et al., ACM MM 2020): 7 classes, 5 folds of single-labelled clips.

Split files, one train and one test file per fold, CSV with the header `video_name,label`; `video_name` is a
5-digit clip id kept as text (`02522`; a copy that went through a spreadsheet may have lost the zeros, which
are put back), `label` an index into the canonical order (1 Happy, 2 Sad, 3 Neutral, 4 Angry, 5 Surprise,
6 Disgust, 7 Fear). Accepted names, looked for under `--splits`, its `EmoLabel_DataSplit/` or its `label/`:
- `{train,test}(single-labeled)/set_K.csv`: the distribution's own (`EmoLabel_DataSplit/`).
- `{train,test}(single-labeled)/{train,test}_set_K.csv`: the same files renamed, as S2D (MSA-LMC/S2D) and the
  projects built on its scripts ship them.
- `single_{train,test}set_K.csv`: the same files as the DFEW authors' own baseline code reads them
  (jiangxingxun/DFEW, `label/`).
Each is read by the one reader below, which refuses a file without the `video_name,label` header.

Label base: the official files are documented as 1-based, but copies circulate whose labels were shifted to
0-based (0 Happy ... 6 Fear; S2D's copy and the one in ../shared/datasets are such: 0s and no 7). A wrong
guess silently swaps every class, so the base is read from the labels of all the files read
(`detect_label_base`) unless the user fixes it (`finecliper manifest --dfew-label-base`).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterable

from finecliper.datasets.layouts import SplitLayout
from finecliper.datasets.records import Problem, SplitFile, SplitRow
from finecliper.datasets.spec import Label, OfficialSplits, Rows, clip_base, register
from finecliper.datasets.text import read_text
from finecliper.errors import UserError
from finecliper.labels import BASIC7

log = logging.getLogger(__name__)

LAYOUTS = (
    SplitLayout("{split}(single-labeled)/set_{fold}.csv", "the DFEW distribution"),
    SplitLayout("{split}(single-labeled)/{split}_set_{fold}.csv", "S2D and projects using its scripts"),
    SplitLayout("single_{split}set_{fold}.csv", "the DFEW authors' baseline code"),
)


def detect_label_base(raw_labels: Iterable[str]) -> int:
    """0 or 1: the index base of DFEW label values, read from the values of a whole split set.

    A 0 means 0-based and a 7 means 1-based; both together cannot be DFEW. With neither (a tiny or
    filtered file) the documented official base, 1, is assumed and a warning says so.
    """
    values = {str(v).strip() for v in raw_labels}
    has_zero, has_seven = "0" in values, "7" in values
    if has_zero and has_seven:
        raise UserError("DFEW labels hold both 0 and 7, so they are neither 0-based nor 1-based")
    if has_zero:
        return 0
    if not has_seven:
        log.warning("DFEW labels hold neither 0 nor 7; assuming the official 1-based labels (1 = happiness)")
    return 1


class Dfew(OfficialSplits):
    name = "dfew"
    classes = BASIC7
    frames = "Clip/clip_224x224"  # all frames of each clip; Clip/clip_224x224_16f holds 16 per clip
    subfolders = ("EmoLabel_DataSplit", "label")

    def spellings(self, base: int = 1) -> dict[str, str]:
        return {str(k + base): name for k, name in enumerate(self.classes)}

    def label_reader(self, raw_labels: list[str], label_base: int | None) -> tuple[Callable[[str], Label], dict]:
        base = detect_label_base(raw_labels) if label_base is None else label_base
        if base not in (0, 1):
            raise UserError(f"the DFEW label base must be 0 or 1, got {base}")

        def read(raw: str) -> Label:
            key = str(raw).strip()
            if not key.isdigit() or not 0 <= int(key) - base < len(self.classes):
                raise UserError(f"unknown dfew label {raw!r} (labels are {base}..{base + len(self.classes) - 1})")
            return self.classes[int(key) - base]

        return read, {"dfew_label_base": base}

    def split_layouts(self, captions: bool) -> tuple[SplitLayout, ...]:
        return LAYOUTS

    def read_split_file(self, file: SplitFile, frames: str, captions: bool) -> Rows:
        reader = csv.reader(io.StringIO(read_text(file.path)))
        header = [h.strip().lower() for h in next(reader, [])]
        if "video_name" not in header or "label" not in header:
            raise UserError(f"{file.path} is not a DFEW split file (expected a header video_name,label)")
        i_name, i_label = header.index("video_name"), header.index("label")
        rows, problems = [], []
        for lineno, fields in enumerate(reader, 2):
            if not any(f.strip() for f in fields):
                continue
            where = f"{file.path}:{lineno}"
            if len(fields) <= max(i_name, i_label) or not fields[i_name].strip():
                problems.append(Problem("bad row", where, f"{where}: expected video_name,label"))
                continue
            name = fields[i_name].strip()
            clip_id = name.zfill(5) if name.isdigit() else name
            rows.append(SplitRow(clip_id, clip_base(frames, clip_id), fields[i_label].strip(), file.split, file.fold,
                                 where=where))
        return rows, problems


register(Dfew())
