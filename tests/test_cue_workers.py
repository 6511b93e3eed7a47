"""`finecliper cues --workers N`: the worker processes end with their parent, even a SIGKILLed one.

A killed parent cannot shut its process pool down; without `cues.worker_lifetime` its workers (about
350 MB each) waited for work forever.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from builders import panned
from finecliper.data.manifest import ClipRecord, write_manifest
from media import astronaut, write_frames


def _workers(parent: int) -> list[int]:
    """Pids of the live pool workers (spawned `multiprocessing` children) of process `parent`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # state, ppid, ...
        if int(fields[1]) == parent and fields[0] != "Z" and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"  # a zombie has ended; only its entry waits for a reaper


def test_workers_die_when_the_parent_is_sigkilled(tmp_path):
    frames = panned(astronaut(), 6, zoom=1.3)
    records = []
    for i in range(40):
        write_frames(tmp_path / f"c{i:02d}", frames)
        records.append(ClipRecord(id=f"c{i:02d}", path=f"c{i:02d}", label="happiness", num_frames=6, split="test",
                                  fold=1, dataset="csv", source="faces", root=str(tmp_path)))
    write_manifest(tmp_path / "manifest.jsonl", records)
    proc = subprocess.Popen(
        [sys.executable, "-m", "finecliper", "cues", "--manifest", str(tmp_path / "manifest.jsonl"),
         "--out", str(tmp_path / "cues"), "--workers", "2", "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 180
        # Wait until both workers run (the first clip written means their initializers have run).
        while time.monotonic() < deadline and proc.poll() is None:
            workers = _workers(proc.pid)
            if len(workers) == 2 and any((tmp_path / "cues").glob("*.npz")):
                break
            time.sleep(0.05)
        assert len(workers) == 2 and proc.poll() is None, "the run should be mid-way with two workers"
        os.kill(proc.pid, signal.SIGKILL)  # the parent alone
        proc.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.1)
        assert not [w for w in workers if _alive(w)], "workers outlived their killed parent"
    finally:
        for pid in [proc.pid, *workers]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_watchdog_ends_an_orphan_without_prctl(tmp_path):
    """The fallback alone (no prctl: another OS, or the moment before it is set): an orphan notices."""
    script = (
        "import os, sys, time\n"
        "from finecliper.cues import worker_lifetime\n"
        "worker_lifetime.sys.platform = 'other'\n"  # skip prctl: the watchdog thread alone
        "worker_lifetime.die_with_parent(int(sys.argv[1]))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    middle = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys, time\n"
         f"child = subprocess.Popen([sys.executable, '-c', {script!r}, str(__import__('os').getpid())], "
         "stdout=subprocess.PIPE)\n"
         "print(child.pid, flush=True); child.stdout.readline(); print('go', flush=True); time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )
    child = int(middle.stdout.readline())
    try:
        assert middle.stdout.readline().strip() == "go"
        os.kill(middle.pid, signal.SIGKILL)
        middle.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(child):
            time.sleep(0.1)
        assert not _alive(child)
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)
