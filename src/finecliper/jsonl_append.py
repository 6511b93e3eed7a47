"""Appending whole JSON lines to a log: a run's metrics.jsonl, a descriptions file.

One line per call, written with a single `write` and flushed (and, when asked, synced to disk), so a
kill leaves at most one unfinished last line, which readers skip. The file is opened without following
a symbolic link: a link put where the log goes is refused instead of being appended through (to some
other file of the user's). New files get the permissions a plain `open()` gives (0666 less the umask).
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

from finecliper.errors import UserError


def append_json_line(path: str | Path, obj: dict, sync: bool = False) -> None:
    """Append `obj` as one JSON line to `path` (created if missing); `sync` waits until it is on disk."""
    path = Path(path)
    data = (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UserError(f"{path} is a symbolic link; finecliper does not write through links, so remove it "
                            "or name another place") from None
        raise
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
