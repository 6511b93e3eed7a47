"""The descriptions file: one JSON line per clip, written by `finecliper describe`, read by the dataset.

Each line holds at least `id` (clip id) and `refined` (the description with every emotion word
removed, or null when nothing was left); the describer adds `raw`, `removed`, `backend`, `model`,
`prompt_hash` and `generation`. Lines are appended whole and flushed; a crash can leave at most one
last line without its newline, which readers ignore (it is redone on resume).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from finecliper.errors import UserError


def read_records(path: str | Path) -> list[dict]:
    """All complete records of a descriptions file, in file order; a later record of an id wins."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"descriptions file {path} does not exist")
    records = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.endswith("\n"):
                break  # the unfinished last line of an interrupted run
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise UserError(f"{path}:{lineno} is not valid JSON") from None
            if not isinstance(record, dict) or "id" not in record or "refined" not in record:
                raise UserError(f"{path}:{lineno} is not a description record (needs 'id' and 'refined')")
            records.append(record)
    return records


def read_descriptions(path: str | Path) -> dict[str, str | None]:
    """clip id -> refined description (None where refinement left nothing)."""
    return {str(r["id"]): r["refined"] for r in read_records(path)}


def append_record(path: str | Path, record: dict) -> None:
    """Append one record as a whole line and flush it to disk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False) + "\n"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())
