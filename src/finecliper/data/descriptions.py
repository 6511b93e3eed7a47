"""The descriptions file: one JSON line per clip, written by `finecliper describe`, read by the dataset.

Each line holds at least `id` (clip id) and `refined` (the description with every emotion word
removed, or null when nothing was left); the describer adds `raw`, `removed`, `backend`, `model`,
`prompt` (the prompt's name, null for describers without one), `prompt_hash` and `generation`. Lines are appended whole and flushed; a crash can leave at most one
last line without its newline, which readers ignore (it is redone on resume). A writer that resumes
calls `repair_tail` first, so that its first record does not get glued to that unfinished line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from finecliper.data.jsonl import read_jsonl
from finecliper.errors import UserError
from finecliper.jsonl_append import append_json_line


def read_records(path: str | Path) -> list[dict]:
    """All complete records of a descriptions file, in file order; a later record of an id wins."""
    records = []
    for lineno, record in read_jsonl(path, "descriptions file", complete_only=True):
        if "id" not in record or "refined" not in record:
            raise UserError(f"{path}:{lineno} is not a description record (needs 'id' and 'refined')")
        records.append(record)
    return records


def read_descriptions(path: str | Path) -> dict[str, str | None]:
    """clip id -> refined description (None where refinement left nothing)."""
    return {str(r["id"]): r["refined"] for r in read_records(path)}


def has_text(text: str | None) -> bool:
    """Whether a clip's description counts: not None and not blank (the model mixes in only these)."""
    return bool(text and text.strip())


def coverage(texts: list[str | None], too_long: Callable[[list[str]], int] | None, context_length: int) -> dict:
    """How the descriptions of one split's clips (None: the clip has none) reach the model: the clips without
    one (classified from the video alone, w = 1) and the descriptions the text tower cuts (`too_long` counts
    those over `context_length` tokens; None when no tokenizer is at hand, and the counts are null)."""
    present = [t for t in texts if has_text(t)]
    clips, missing = len(texts), len(texts) - len(present)
    cut = None if too_long is None else too_long(present)
    return {
        "clips": clips, "without_description": missing,
        "without_description_share": round(missing / clips, 4) if clips else 0.0,
        "truncated": cut, "truncated_share": None if cut is None else round(cut / len(present), 4) if present else 0.0,
        "context_length": context_length,
    }


def append_record(path: str | Path, record: dict) -> None:
    """Append one record as a whole line and flush it to disk (never through a symbolic link)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    append_json_line(path, record, sync=True)


def repair_tail(path: str | Path) -> int:
    """Cut an unfinished last line (left by a crash) so that appending starts on a fresh line.

    Returns the number of bytes removed (0 when the file is missing, empty or ends with a newline).
    """
    path = Path(path)
    if not path.is_file():
        return 0
    with path.open("rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        keep, end = 0, size
        while end > 0:  # search backwards, a block at a time, for the last complete line's newline
            start = max(0, end - 65536)
            fh.seek(start)
            newline = fh.read(end - start).rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            end = start
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
    return size - keep


_SIDES = re.compile(r"\b(left|right|Left|Right|LEFT|RIGHT)\b")
_SWAP = {"left": "right", "right": "left", "Left": "Right", "Right": "Left", "LEFT": "RIGHT", "RIGHT": "LEFT"}


def swap_left_right(text: str | None) -> str | None:
    """The description of the mirrored clip: "left" and "right" exchanged (for a horizontal flip).

    A training flip mirrors the frames; a description saying "the head turns to the left" must follow.
    """
    return None if text is None else _SIDES.sub(lambda m: _SWAP[m.group(0)], text)
