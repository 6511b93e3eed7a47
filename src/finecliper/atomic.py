"""Atomic file writes: write to a temporary file beside the target, then rename over it.

A crash or a kill never leaves a half-written file under the final name; readers see the old file or the
new one. Every cache, manifest, checkpoint and report in the package is written through here, and so
are folders that must be whole (a clip's frames, a CLIP weights folder) through `atomic_dir`.

Temporary names are `.NAME.XXXXXXXX.tmp` beside the target. A kill can leave one behind; the next writer
of that location removes them when it takes its lock (`run_lock.py`, through `remove_leftovers`).
Results get the permissions a plain `open()` would give (0666 less the umask), and a target that is a
symbolic link is refused rather than silently replaced.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from finecliper.errors import UserError

TMP_SUFFIX = ".tmp"
# `.NAME.` + tempfile's 8 random characters + `.tmp`: the names atomic_path and atomic_dir make, and no others.
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")


def refuse_symlink(path: Path) -> None:
    """Writers never write through (or replace) a symbolic link a user or an attacker put in their place."""
    if path.is_symlink():
        raise UserError(f"{path} is a symbolic link; finecliper does not write through links, so remove it or "
                        "name another place")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    refuse_symlink(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files, and so do writers that make their file anew (safetensors'
        # save_file): give the result the permissions a plain open() would, whoever wrote it.
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success it replaces the folder `path`, on error it is removed.

    The rename is atomic, so a folder that exists under the final name is complete; replacing an
    existing folder removes it first, and a crash in between leaves no folder rather than half of one.
    """
    path = Path(path)
    refuse_symlink(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 folders; others may need to read the frames
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def remove_leftovers(folder: str | Path, only: str | None = None, lock_name: str | None = None) -> int:
    """Remove the temporary files and folders that killed writers left in `folder`; returns how many.

    `only`: just those of the target named so (a file in a folder shared with others); else every
    leftover in the folder and, with `lock_name`, in its subfolders, except subfolders holding a file
    `lock_name` (another writer's location, cleaned by that writer). Call it only while holding the
    location's lock, so that no live writer owns what it removes."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    removed = 0
    for root, dirs, files in os.walk(folder):
        root = Path(root)
        for name in [*files, *dirs]:
            match = _LEFTOVER.match(name)
            if match is None or (only is not None and match["name"] != only):
                continue
            leftover = root / name
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
            removed += 1
        if only is not None or lock_name is None:
            break  # this folder only
        dirs[:] = [d for d in dirs if (root / d).is_dir() and not (root / d / lock_name).exists()
                   and not _LEFTOVER.match(d)]
    return removed
