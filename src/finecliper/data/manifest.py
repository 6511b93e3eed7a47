"""Manifest records: one JSON line per clip, the common currency of every command after `manifest`.

A manifest is built once from a dataset's official split files (see `finecliper manifest`) and then read
by training, evaluation, cue extraction and description. Labels are class *names*, never bare indices,
so that no reader depends on a class order.
"""

from __future__ import annotations

import functools
import json
import os
import typing
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Annotated

from finecliper import atomic, labels
from finecliper.config.ranges import AT_LEAST_1, NON_NEGATIVE
from finecliper.config.strict import coerce_value
from finecliper.data.jsonl import read_jsonl
from finecliper.data.video import is_video_file
from finecliper.errors import UserError


@dataclass
class ClipRecord:
    id: str  # unique within the manifest: "02522" (DFEW), "03747" (MAFW), "Crime/Angry/0063" (FERV39k)
    path: str  # frame folder or video file, relative to `root`
    label: str | list[str] | None  # canonical class name; a list for MAFW compound labels
    num_frames: Annotated[int, NON_NEGATIVE]  # counted on disk when the manifest was built
    split: str  # "train", "val" or "test"
    fold: Annotated[int, AT_LEAST_1] | None  # 1-based fold for DFEW and MAFW; None for single-split datasets
    dataset: str  # "dfew", "ferv39k", "mafw", "mafw-compound", "csv", ...
    source: str  # which frames: "clip_224x224", "clip_224x224_16f", "faces", "frames", "video", ...
    root: str  # absolute data root the paths are relative to
    caption: str | None = None  # the dataset's own caption (MAFW), if asked for

    @property
    def full_path(self) -> Path:
        return Path(self.root) / self.path

    @property
    def is_video(self) -> bool:
        return is_video_file(self.path)

    @property
    def label_name(self) -> str | None:
        """The label as a class name: compound labels joined as `labels.compound_name` does; None if unlabelled."""
        if self.label is None or isinstance(self.label, str):
            return self.label
        return labels.compound_name(self.label)


_FIELDS = [f.name for f in fields(ClipRecord)]  # in the record's order (a message lists them)
_REQUIRED = [f.name for f in fields(ClipRecord) if f.default is MISSING]


def leaves_root(relative: str) -> bool:
    """True when `relative` (a clip path or id, joined to a data root) would point outside that root:
    an absolute path, or one whose `..` parts climb above it."""
    normal = os.path.normpath(relative)
    return os.path.isabs(relative) or normal == ".." or normal.startswith(".." + os.sep)


def _record(data: dict, where: str) -> ClipRecord:
    """One manifest line as a record, every field's type and range checked (one sentence naming the field)."""
    unknown = sorted(set(data).difference(_FIELDS))
    if unknown:
        raise UserError(f"{where} has an unknown field {unknown[0]!r}; a manifest record has {', '.join(_FIELDS)}")
    missing = [name for name in _REQUIRED if name not in data]
    if missing:
        raise UserError(f"{where} has no field {missing[0]}; rebuild the manifest with `finecliper manifest`")
    hints = _hints()
    values = {name: coerce_value(value, hints[name], f"{where} field {name}") for name, value in data.items()}
    record = ClipRecord(**values)
    if not record.id or leaves_root(record.id) or "\0" in record.id:
        raise UserError(f"{where} field id {record.id!r} is not a clip id (it must not name a path above the data root)")
    if _outside(record.root, record.path):
        raise UserError(f"{where} field path {record.path!r} points outside the data root {record.root}")
    return record


@functools.cache
def _hints() -> dict:
    """ClipRecord's annotations, ranges included (read once: a manifest may have 39k lines)."""
    return typing.get_type_hints(ClipRecord, include_extras=True)


def _outside(root: str, path: str) -> bool:
    """True when `path` (relative to `root`, or absolute) is not under `root`."""
    if not os.path.isabs(path):
        return leaves_root(path)
    return os.path.commonpath([os.path.normpath(root), os.path.normpath(path)]) != os.path.normpath(root)


def read_manifest(path: str | Path, data_root: str | Path | None = None) -> list[ClipRecord]:
    """Records of a JSONL manifest; `data_root` replaces the stored root (data moved elsewhere)."""
    root = None if data_root is None else str(Path(data_root).resolve())  # once, not per line (39k for FERV39k)
    records = []
    for lineno, data in read_jsonl(path, "manifest"):
        if root is not None:
            data = {**data, "root": root}
        records.append(_record(data, f"{path}:{lineno}"))
    return records


def write_manifest(path: str | Path, records: list[ClipRecord]) -> None:
    """Write records as JSONL, atomically."""
    text = "".join(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in records)
    atomic.write_text(path, text)
