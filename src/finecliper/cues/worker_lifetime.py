"""Worker processes that end with their parent, however it ends (docs/design.md §5).

A `ProcessPoolExecutor`'s workers wait for work from their parent; when the parent is killed with SIGKILL
it cannot shut them down, and each (about 350 MB with MediaPipe and torch loaded) would wait forever. Two
guards, set up in the worker's initializer:
- on Linux, `prctl(PR_SET_PDEATHSIG, SIGKILL)`: the kernel kills the worker when the thread that started it
  exits (the parent's main thread here, which lives as long as the parent);
- everywhere, a daemon thread that checks every WATCH_SECONDS whether the parent is still the worker's
  parent (an orphan is re-parented, so its parent pid changes) and ends the worker if not. It also covers
  the moment between the fork and the prctl call, when the parent may already be gone.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_SECONDS = 1.0


def die_with_parent(parent: int) -> None:
    """Make this process end when the process `parent` (its parent's pid) ends."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl (an unusual libc): the watchdog alone
            pass
    threading.Thread(target=_watch, args=(parent,), name="parent-watchdog", daemon=True).start()


def _watch(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)  # no clean-up to do: the parent, which owns the run's outputs, is gone
        time.sleep(WATCH_SECONDS)
