"""One writer at a time: an exclusive lock on a run directory, a cue store or a descriptions file.

Every writer of such a location (`train`, `zeroshot` and `demo` on their folder, `cues` on its store,
`describe` on its file) holds a `RunLock` while it writes; a second writer is refused with one sentence
naming the holder (process id, host, start time). See docs/design.md §5.

The lock is `fcntl.flock` on a lock file: the kernel drops it when its holder dies, SIGKILL included, so
a lock left by a killed process is stale by construction and the next writer simply takes it over. The
file's content (pid, host, start time) serves only the refusal message. A writer removes its lock file
when it finishes; since a second writer may have opened the file just before, a freshly locked file
counts only if it is still the one under the lock's name (else the lock is taken again).

Taking a lock is also the moment to remove the temporary files that killed writers left in that
location (`atomic.remove_leftovers`): with the lock held, no live writer of ours owns them.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from pathlib import Path

from finecliper import atomic
from finecliper.errors import UserError

log = logging.getLogger(__name__)

LOCK_NAME = ".finecliper.lock"  # a folder's lock file; a file's is `.NAME.finecliper.lock` beside it
ORPHAN_WAIT_S = 15.0  # how long to wait for the children of a dead holder to let go of its lock


class RunLock:
    """An exclusive lock on `target` (a folder or a file), held from `acquire()` (or `with`) to `release()`."""

    def __init__(self, target: str | Path, what: str, is_dir: bool = True, clean: bool = True):
        self.target = Path(target)
        self.what = what  # names the location in messages: "run directory", "cue store", ...
        self.is_dir = is_dir
        self.clean = clean  # False: others (shards of one run) may be writing there without this lock
        self.path = self.target / LOCK_NAME if self.is_dir else self.target.with_name(f".{self.target.name}{LOCK_NAME}")
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock (creating the folder that holds the lock file) or raise `UserError` naming the holder;
        then remove the temporary files killed writers left there."""
        if not self.is_dir and self.target.is_symlink():
            raise UserError(f"{self.what} {self.target} is a symbolic link; finecliper does not write through "
                            "links, so name the real file")
        deadline = time.monotonic() + ORPHAN_WAIT_S
        while self._fd is None:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                if _orphaned(holder) and time.monotonic() < deadline:
                    time.sleep(0.2)  # the dead holder's forked children still hold it: they exit shortly
                    continue
                raise UserError(f"{self.what} {self.target} is in use by {_describe(holder)}; wait for it to "
                                "finish or stop that process") from None
            if _same_file(fd, self.path):
                self._fd = fd
            else:  # removed by its last holder after we opened it: lock the file now under that name
                os.close(fd)
        stale = _holder(self._fd)
        if stale:
            log.warning("%s %s: took over the lock of %s, which no longer runs", self.what, self.target,
                        _describe(stale))
        self._write_holder()
        if self.clean:
            self._remove_leftovers()
        return self

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        except OSError as exc:  # a file where the folder should be, a read-only place, ...
            raise UserError(f"{self.what} {self.target} cannot be written ({exc.strerror})") from None

    def _remove_leftovers(self) -> None:
        if self.is_dir:
            removed = atomic.remove_leftovers(self.target, lock_name=LOCK_NAME)
        else:
            removed = atomic.remove_leftovers(self.target.parent, only=self.target.name)
        if removed:
            log.info("%s %s: removed %d temporary files left by an interrupted run", self.what, self.target, removed)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still locked: nobody can hold this file meanwhile
        finally:
            os.close(self._fd)  # closing releases the lock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def _write_holder(self) -> None:
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime())}
        data = json.dumps(info).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _holder(fd: int) -> dict | None:
    """The holder a lock file names ({"pid", "host", "started"}), or None when it names none."""
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"null")
        return {"pid": int(info["pid"]), "host": str(info["host"]), "started": str(info["started"])}
    except (ValueError, TypeError, KeyError, OSError):
        return None


def _describe(holder: dict | None) -> str:
    if holder is None:  # it has not written its name yet
        return "another process"
    return f"process {holder['pid']} on {holder['host']} since {holder['started']}"


def _orphaned(holder: dict | None) -> bool:
    """Whether the lock is held by the forked children of a process of this host that no longer runs: a
    killed run's DataLoader workers inherit its lock and exit within seconds (PyTorch's watchdog)."""
    if holder is None or holder["host"] != socket.gethostname() or holder["pid"] == os.getpid():
        return False
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def lock_dir(folder: str | Path, what: str, clean: bool = True) -> RunLock:
    """The lock of a folder (run directory, cue store), not yet taken; `clean=False` leaves temporary files
    alone (a sharded cue run takes its store's lock only for a moment, while other shards write)."""
    return RunLock(folder, what, is_dir=True, clean=clean)


def lock_file(path: str | Path, what: str) -> RunLock:
    """The lock of a single file (a descriptions file), not yet taken; its lock file lies beside it."""
    return RunLock(path, what, is_dir=False)
