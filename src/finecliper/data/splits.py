"""Readers of the official split files of DFEW, FERV39k and MAFW, and of a user's generic CSV.

Each reader turns one file into `SplitRow`s (clip id, where the clip is expected relative to the data
root, the label as written, fold, split, caption) plus `Problem`s for lines it cannot parse; a file that
is not of the expected kind at all raises `UserError`. Formats (../shared/datasets/README.md):

- DFEW `EmoLabel_DataSplit/{train,test}(single-labeled)/set_K.csv`: header `video_name,label`, 5-digit
  ids kept as text, label an index into the canonical order (base read from the files, see labels.py).
- FERV39k `4_setups/All_scenes/{train,test}_All.csv`: no header, `Scene/Emotion/ID Emotion`.
- MAFW `Train & Test Set/{single,compound}/no_caption/set_K/{train,test}.txt`: `03747.mp4 anger`;
  `.../with_caption/...`: GBK, CRLF, tab-separated `file, class, Chinese caption, English caption`.
- Generic CSV with a header: `path,label[,split][,fold][,caption][,id]`.

Which official files exist (folds) is read from disk, not assumed; `find_split_files` locates them under
the `--splits` folder (default: the data root) in the distribution's own layout.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from finecliper.data.video import is_video_file
from finecliper.errors import UserError

DATASETS = ("dfew", "ferv39k", "mafw", "mafw-compound", "csv")

# Where the frames live in each distribution, relative to the data root (overridable with --frames).
DEFAULT_FRAMES = {
    "dfew": "Clip/clip_224x224",
    "ferv39k": "2_ClipsforFaceCrop",
    "mafw": "data/faces",
    "mafw-compound": "data/faces",
    "csv": "",
}

# Where the split files live inside a distribution (tried under --splits, then --splits itself).
SPLIT_SUBDIRS = {
    "dfew": ("EmoLabel_DataSplit",),
    "ferv39k": ("4_setups/All_scenes", "All_scenes"),
    "mafw": ("Train & Test Set",),
    "mafw-compound": ("Train & Test Set",),
}


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


@dataclass
class SplitFile:
    path: Path
    split: str  # "train" or "test" (or a CSV's own names)
    fold: int | None


# --- locating the official files -------------------------------------------------------------------


def _first_existing(splits_dir: Path, dataset: str, marker: str) -> Path:
    for sub in SPLIT_SUBDIRS[dataset] + ("",):
        candidate = splits_dir / sub if sub else splits_dir
        if (candidate / marker).exists():
            return candidate
    expected = f"{SPLIT_SUBDIRS[dataset][0]}/{marker}"
    raise UserError(f"no {dataset} split files under {splits_dir} (expected {expected}); pass --splits")


_SET_DIR = re.compile(r"^set_(\d+)$")
_SET_CSV = re.compile(r"^set_(\d+)\.csv$")


def find_split_files(dataset: str, splits_dir: str | Path, captions: bool = False) -> list[SplitFile]:
    """The official split files of `dataset` under `splits_dir`, every fold found, train before test."""
    splits_dir = Path(splits_dir)
    if not splits_dir.is_dir():
        raise UserError(f"split folder {splits_dir} does not exist")
    files: list[SplitFile] = []
    if dataset == "dfew":
        if captions:
            raise UserError("DFEW has no captions; --captions is for MAFW")
        top = _first_existing(splits_dir, dataset, "train(single-labeled)")
        folds = sorted(int(m.group(1)) for p in (top / "train(single-labeled)").iterdir()
                       if (m := _SET_CSV.match(p.name)))
        for fold in folds:
            for split in ("train", "test"):
                files.append(SplitFile(top / f"{split}(single-labeled)" / f"set_{fold}.csv", split, fold))
    elif dataset == "ferv39k":
        if captions:
            raise UserError("FERV39k has no captions; --captions is for MAFW")
        top = _first_existing(splits_dir, dataset, "train_All.csv")
        files = [SplitFile(top / "train_All.csv", "train", None), SplitFile(top / "test_All.csv", "test", None)]
    elif dataset in ("mafw", "mafw-compound"):
        kind = "single" if dataset == "mafw" else "compound"
        top = _first_existing(splits_dir, dataset, kind)
        variant = top / kind / ("with_caption" if captions else "no_caption")
        if not variant.is_dir():
            raise UserError(f"no MAFW {kind} split files {'with' if captions else 'without'} captions in {variant}")
        folds = sorted(int(m.group(1)) for p in variant.iterdir() if p.is_dir() and (m := _SET_DIR.match(p.name)))
        for fold in folds:
            for split in ("train", "test"):
                files.append(SplitFile(variant / f"set_{fold}" / f"{split}.txt", split, fold))
    else:
        raise UserError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    if not files:
        raise UserError(f"no {dataset} split files found under {splits_dir}")
    return files


# --- text decoding ---------------------------------------------------------------------------------


def read_text(path: Path) -> str:
    """A split file's text: UTF-8 (BOM dropped) when it decodes as such, else GBK (MAFW's captions).

    GB18030 is the superset of GBK that decodes every GBK file; trying UTF-8 first keeps a file that a
    user re-saved as UTF-8 readable. Any line ending (CRLF included) is handled by splitlines().
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read split file {path} ({exc.strerror})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise UserError(f"split file {path} is neither UTF-8 nor GBK text") from None


def _lines(path: Path):
    for lineno, line in enumerate(read_text(path).splitlines(), 1):
        if line.strip():
            yield lineno, line


# --- readers ---------------------------------------------------------------------------------------


def read_dfew(file: SplitFile, frames: str) -> tuple[list[SplitRow], list[Problem]]:
    """DFEW `set_K.csv`: header `video_name,label`."""
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
        # Ids are 5-digit folder names; a copy that went through a spreadsheet may have lost the zeros.
        clip_id = name.zfill(5) if name.isdigit() else name
        rows.append(SplitRow(clip_id, f"{frames}/{clip_id}", fields[i_label].strip(), file.split, file.fold,
                             where=where))
    return rows, problems


def read_ferv39k(file: SplitFile, frames: str) -> tuple[list[SplitRow], list[Problem]]:
    """FERV39k `*_All.csv`: `Scene/Emotion/ID Emotion`, no header; the id is the clip's relative path."""
    rows, problems = [], []
    for lineno, line in _lines(file.path):
        where = f"{file.path}:{lineno}"
        fields = line.split()
        parts = fields[0].strip("/").split("/") if fields else []
        if len(fields) != 2 or len(parts) != 3 or not all(parts):
            problems.append(Problem("bad row", where, f"{where}: expected 'Scene/Emotion/ID Emotion'"))
            continue
        clip_id, label = "/".join(parts), fields[1]
        folder_emotion = parts[1]
        if folder_emotion != label:
            # The emotion folder and the label column must agree; a disagreement is an unknown label
            # because neither can be trusted.
            problems.append(Problem("unknown label", clip_id,
                                    f"{where}: label {label!r} disagrees with the clip's folder {folder_emotion!r}"))
            continue
        rows.append(SplitRow(clip_id, f"{frames}/{clip_id}", label, file.split, file.fold, where=where))
    return rows, problems


def read_mafw(file: SplitFile, frames: str, captions: bool) -> tuple[list[SplitRow], list[Problem]]:
    """MAFW `train.txt`/`test.txt`: `03747.mp4 anger`, or tab-separated with the Chinese and English captions."""
    rows, problems = [], []
    for lineno, line in _lines(file.path):
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
        rows.append(SplitRow(stem, f"{frames}/{stem}", label, file.split, file.fold, caption=caption,
                             name=f"{frames}/{name}", where=where))
    return rows, problems


def read_generic_csv(path: str | Path, frames: str, data_root: Path) -> tuple[list[SplitRow], list[Problem]]:
    """A user's CSV with a header `path,label[,split][,fold][,caption][,id]`; paths relative to the data root."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"CSV file {path} does not exist")
    reader = csv.DictReader(io.StringIO(read_text(path)))
    columns = [c.strip().lower() for c in (reader.fieldnames or [])]
    if "path" not in columns or "label" not in columns:
        raise UserError(f"{path} needs a header row with at least the columns path,label")
    reader.fieldnames = columns
    unknown = set(columns) - {"path", "label", "split", "fold", "caption", "id"}
    if unknown:
        raise UserError(f"{path} has unknown column {sorted(unknown)[0]!r}; known: path,label,split,fold,caption,id")
    rows, problems = [], []
    root = data_root.resolve()
    for lineno, record in enumerate(reader, 2):
        where = f"{path}:{lineno}"
        values = {k: (v or "").strip() for k, v in record.items() if k is not None}
        clip_path = values.get("path", "")
        if not clip_path:
            problems.append(Problem("bad row", where, f"{where}: empty path"))
            continue
        p = Path(clip_path)
        if p.is_absolute():
            try:
                clip_path = p.resolve().relative_to(root).as_posix()
            except ValueError:
                problems.append(Problem("bad row", where, f"{where}: path {p} is outside the data root {root}"))
                continue
        fold_text = values.get("fold", "")
        if fold_text and not fold_text.isdigit():
            problems.append(Problem("bad row", where, f"{where}: fold {fold_text!r} is not a whole number"))
            continue
        split = values.get("split", "") or "all"
        if not re.fullmatch(r"[A-Za-z0-9_-]+", split):
            problems.append(Problem("bad row", where, f"{where}: split {split!r} is not a simple name"))
            continue
        base = f"{frames}/{clip_path}" if frames else clip_path
        clip_id = values.get("id") or (str(PurePosixPath(clip_path).with_suffix(""))
                                       if is_video_file(clip_path) else clip_path)
        rows.append(SplitRow(clip_id, base, values.get("label", ""), split, int(fold_text) if fold_text else None,
                             caption=values.get("caption") or None, where=where))
    return rows, problems
