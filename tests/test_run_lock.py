"""One writer per location: a second writer is refused naming the holder; a killed holder's lock is taken over."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

from builders import make_clips, tiny_experiment
from finecliper.cli import main
from finecliper.data.manifest import write_manifest
from finecliper.errors import UserError
from finecliper.run_lock import LOCK_NAME, ORPHAN_WAIT_S, lock_dir, lock_file

HOLDER = textwrap.dedent("""
    import os, sys, time
    from finecliper.run_lock import lock_dir, lock_file
    kind, path, children = sys.argv[1:]
    lock = (lock_dir if kind == "dir" else lock_file)(path, "test location").acquire()
    if children == "1" and os.fork() == 0:  # a forked child inherits the lock, as DataLoader workers do
        time.sleep(3)
        os._exit(0)
    print("locked", flush=True)
    time.sleep(600)
""")


def hold(kind: str, path, child: bool = False) -> subprocess.Popen:
    """Another process holding the lock of `path` (a folder or a file) until it is killed; with `child`, a
    forked child of it holds the lock for 3 s more."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, kind, str(path), str(int(child))], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("lock-inputs")
    manifest = root / "train.jsonl"
    write_manifest(manifest, make_clips(root, 1))
    config = root / "exp.yaml"
    config.write_text(yaml.safe_dump(tiny_experiment(manifest, epochs=1)))
    texts = root / "texts.jsonl"
    texts.write_text(json.dumps({"id": "a", "raw": "The mouth opens."}) + "\n")
    return {"manifest": manifest, "config": config, "texts": texts}


# Each writer and the location it locks: (command line, what is locked, "dir" or "file").
WRITERS = {
    "train": (lambda i, out: ["train", "--config", str(i["config"]), "--out", str(out), "--device", "cpu"], "dir"),
    "zeroshot": (lambda i, out: ["zeroshot", "--config", str(i["config"]), "--set", "data.descriptions=captions",
                                 "--out", str(out), "--device", "cpu"], "dir"),
    "demo": (lambda i, out: ["demo", "--out", str(out)], "dir"),
    "cues": (lambda i, out: ["cues", "--manifest", str(i["manifest"]), "--out", str(out), "--crop", "none",
                             "--no-progress"], "dir"),
    "describe": (lambda i, out: ["describe", "--refine", str(i["texts"]), "--out", str(out)], "file"),
}


@pytest.mark.parametrize("command", WRITERS)
def test_a_second_writer_is_refused_naming_the_holder(command, inputs, tmp_path, capsys):
    argv, kind = WRITERS[command]
    out = tmp_path / ("out.jsonl" if kind == "file" else "out")
    holder = hold(kind, out)
    try:
        assert main(argv(inputs, out)) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "Traceback" not in err[0], err
        assert err[0].startswith(f"finecliper {command}: error: ")
        assert f"{out} is in use by process {holder.pid} on {socket.gethostname()} since " in err[0]
        assert not out.is_file()  # the holder's location is left as it was
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_of_a_killed_writer_is_taken_over_and_its_leftovers_removed(tmp_path, caplog):
    folder, file = tmp_path / "run", tmp_path / "texts.jsonl"
    holders = [hold("dir", folder), hold("file", file)]
    leftovers = [folder / ".resume.pt.ab12cd34.tmp", tmp_path / ".texts.jsonl.zz99zz99.tmp"]
    for path in leftovers:
        path.write_text("half-written by the killed process")
    for proc in holders:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert (folder / LOCK_NAME).is_file()  # left behind by the kill, naming the dead holder
    for lock in (lock_dir(folder, "run directory"), lock_file(file, "descriptions file")):
        with lock:
            assert json.loads(lock.path.read_text())["pid"] == os.getpid()
        assert not lock.path.exists()  # removed by its holder at the end
    assert "which no longer runs" in caplog.text
    assert not any(path.exists() for path in leftovers)


def test_the_lock_of_a_killed_writer_is_taken_over_once_its_forked_children_are_gone(tmp_path):
    holder = hold("dir", tmp_path / "run", child=True)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    start = time.monotonic()
    with lock_dir(tmp_path / "run", "run directory"):
        assert time.monotonic() - start < ORPHAN_WAIT_S


def test_the_same_process_cannot_hold_a_location_twice(tmp_path):
    with lock_dir(tmp_path / "store", "cue store"):
        with pytest.raises(UserError, match=f"cue store {tmp_path / 'store'} is in use by process {os.getpid()}"):
            lock_dir(tmp_path / "store", "cue store").acquire()
    with lock_dir(tmp_path / "store", "cue store"):  # free again once released
        pass


def test_a_location_that_cannot_be_written_is_one_sentence(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match=r"run directory .*/file/run cannot be written \(Not a directory\)"):
        lock_dir(tmp_path / "file" / "run", "run directory").acquire()
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "file")
    with pytest.raises(UserError, match="link.jsonl is a symbolic link"):
        lock_file(tmp_path / "link.jsonl", "descriptions file").acquire()
