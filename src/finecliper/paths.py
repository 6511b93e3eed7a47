"""Paths a user names, checked before any work: where outputs go, and inputs that must be a file or a folder.

Every command checks its `--out` here first (docs/design.md §8), so a location that cannot be written is one
sentence at the start, not a traceback after hours of work: a file in the way of a folder to create, a folder
where a file is wanted (or a file where a folder is), a place this process may not write. The check creates
nothing: it finds the nearest part of the path that exists and tries a temporary file there, which the
system removes at once. Inputs that are the wrong kind (a folder given as a checkpoint, a file as a cue
store) are named as such instead of "does not exist".
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from finecliper.errors import UserError


def _nearest_existing(path: Path) -> Path:
    """`path` itself, else the closest ancestor that exists (the folder a write would start from)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_writable(folder: Path, path: Path, what: str) -> None:
    """`folder` (where `path` is written) must exist or be creatable, and this process must create files there."""
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise UserError(f"{what} {path} cannot be created: {base} is a file, not a folder")
    try:
        tempfile.TemporaryFile(dir=base).close()  # unnamed (O_TMPFILE) where it can: nothing to clean up
    except OSError as exc:
        raise UserError(f"{what} {path} cannot be written: {base} is not writable ({exc.strerror})") from None


def output_file(path: str | Path, what: str = "--out") -> Path:
    """`path` as a file to write (created or replaced): not a folder, and its folder can be made and written."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder; give the name of a file to write")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{what} {path} cannot be written: the file is read-only")
    _check_writable(path.parent, path, what)
    return path


def output_folder(path: str | Path, what: str = "--out") -> Path:
    """`path` as a folder to write into (created if missing): not a file, and writable."""
    path = Path(path).expanduser()
    if str(path).strip() == "":
        raise UserError(f"{what} must name a folder")
    if path.exists() and not path.is_dir():
        raise UserError(f"{what} {path} is a file, not a folder")
    _check_writable(path, path, what)
    return path


def existing_file(path: str | Path, what: str, missing_hint: str = "") -> Path:
    """`path`, which must be an existing file; `what` names it in the sentence ("checkpoint", "manifest"),
    `missing_hint` ends the sentence when nothing is there ("run `finecliper describe` first")."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder, not a file")
    if not path.is_file():
        raise UserError(f"{what} {path} does not exist{'; ' + missing_hint if missing_hint else ''}")
    return path


def existing_folder(path: str | Path, what: str, missing_hint: str = "") -> Path:
    """`path`, which must be an existing folder; `what` names it in the sentence ("cue store", "data root")."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise UserError(f"{what} {path} is a file, not a folder")
    if not path.is_dir():
        raise UserError(f"{what} {path} does not exist{'; ' + missing_hint if missing_hint else ''}")
    return path
