"""Reading the package's JSONL files (manifests, descriptions, clips.jsonl): one JSON object per line.

One reader, so that every file of this kind fails the same way on bad input: a missing file, a line that is
not JSON or not an object, each named by `file:line` in one sentence.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from finecliper.errors import UserError
from finecliper.paths import existing_file


def read_jsonl(path: str | Path, what: str, complete_only: bool = False) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of `path`; `what` names the file in messages
    ("manifest", "descriptions file"). With `complete_only`, a last line without its newline (left by a
    writer that was killed mid-line) is skipped, as appending writers leave such a line."""
    path = existing_file(path, what)
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if complete_only and not line.endswith("\n"):
                return
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                raise UserError(f"{path}:{lineno} is not valid JSON") from None
            if not isinstance(obj, dict):
                raise UserError(f"{path}:{lineno} is not a JSON object")
            yield lineno, obj
