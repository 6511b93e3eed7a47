"""Manifest records: one JSON line per clip, the common currency of every command after `manifest`.

A manifest is built once from a dataset's official split files (see `finecliper manifest`) and then read
by training, evaluation, cue extraction and description. Labels are class *names*, never bare indices,
so that no reader depends on a class order.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from finecliper import atomic, labels
from finecliper.data.jsonl import read_jsonl
from finecliper.data.video import is_video_file
from finecliper.errors import UserError


@dataclass
class ClipRecord:
    id: str  # unique within the manifest: "02522" (DFEW), "03747" (MAFW), "Crime/Angry/0063" (FERV39k)
    path: str  # frame folder or video file, relative to `root`
    label: str | list[str] | None  # canonical class name; a list for MAFW compound labels
    num_frames: int  # counted on disk when the manifest was built
    split: str  # "train", "val" or "test"
    fold: int | None  # 1-based fold for DFEW and MAFW; None for single-split datasets
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


_FIELDS = {f.name for f in fields(ClipRecord)}


def read_manifest(path: str | Path, data_root: str | Path | None = None) -> list[ClipRecord]:
    """Records of a JSONL manifest; `data_root` replaces the stored root (data moved elsewhere)."""
    records = []
    for lineno, data in read_jsonl(path, "manifest"):
        try:
            unknown = set(data) - _FIELDS
            if unknown:
                raise ValueError(f"unknown field {sorted(unknown)[0]!r}")
            record = ClipRecord(**data)
        except (TypeError, ValueError) as exc:
            raise UserError(f"{path}:{lineno} is not a manifest record ({exc})") from None
        if data_root is not None:
            record.root = str(Path(data_root).resolve())
        records.append(record)
    return records


def write_manifest(path: str | Path, records: list[ClipRecord]) -> None:
    """Write records as JSONL, atomically."""
    text = "".join(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in records)
    atomic.write_text(path, text)
