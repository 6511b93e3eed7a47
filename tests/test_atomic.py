"""Atomic writes: whole or nothing under the final name, with the permissions a plain write would give."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from finecliper import atomic


def test_files_and_folders_get_plain_permissions(tmp_path):
    plain_dir = tmp_path / "plain"
    plain_dir.mkdir()
    (plain_dir / "f.txt").write_text("x")
    atomic.write_text(tmp_path / "a.txt", "x")
    with atomic.atomic_dir(tmp_path / "frames") as tmp:
        (tmp / "00001.jpg").write_bytes(b"x")
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(tmp_path / "a.txt") == mode(plain_dir / "f.txt")
    assert mode(tmp_path / "frames") == mode(plain_dir)


def test_a_failed_write_leaves_the_old_content_and_no_temporary(tmp_path):
    atomic.write_text(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError), atomic.atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError
    with pytest.raises(RuntimeError), atomic.atomic_dir(tmp_path / "d") as tmp:
        (tmp / "x").write_text("half")
        raise RuntimeError
    assert (tmp_path / "a.txt").read_text() == "old" and not (tmp_path / "d").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_files_rewritten_by_their_writer_get_plain_permissions_under_any_umask(tmp_path):
    import torch
    from safetensors.torch import save_file

    old = os.umask(0o027)
    try:
        # safetensors makes its file anew (0600); the result must be what a plain open() gives.
        with atomic.atomic_path(tmp_path / "w.safetensors") as tmp:
            save_file({"x": torch.zeros(2)}, str(tmp))
        with open(tmp_path / "plain.txt", "w") as fh:
            fh.write("x")
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(tmp_path / "w.safetensors") == mode(tmp_path / "plain.txt") == 0o640


def test_a_symlinked_target_is_refused_and_its_target_untouched(tmp_path):
    from finecliper.errors import UserError
    from finecliper.jsonl_append import append_json_line

    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    for name in ("link.json", "log.jsonl", "folder"):
        (tmp_path / name).symlink_to(victim)
    with pytest.raises(UserError, match="link.json is a symbolic link; finecliper does not write through links"):
        atomic.write_text(tmp_path / "link.json", "{}")
    with pytest.raises(UserError, match="log.jsonl is a symbolic link"):
        append_json_line(tmp_path / "log.jsonl", {"step": 1})
    with pytest.raises(UserError, match="folder is a symbolic link"), atomic.atomic_dir(tmp_path / "folder"):
        pass
    assert victim.read_text() == "precious\n" and (tmp_path / "link.json").is_symlink()
    assert not list(tmp_path.glob(".*.tmp"))


def test_leftovers_of_killed_writers_are_ours_only(tmp_path):
    import tempfile

    atomic.write_text(tmp_path / "keep.json", "{}")
    # What a kill before the rename leaves: a temporary named as atomic_path names them.
    fd, leftover = tempfile.mkstemp(prefix=".keep.json.", suffix=atomic.TMP_SUFFIX, dir=tmp_path)
    os.close(fd)
    leftover = Path(leftover).name
    (tmp_path / f"{leftover}.copy").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".frames.ab12cd34.tmp").mkdir()  # an atomic_dir's folder
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / ".x.ab12cd34.tmp").write_text("another writer's")
    (tmp_path / "other" / ".lock").write_text("")
    users = [".notes.txt", "data.tmp", ".a.tmp", ".b.ABCDEFGH.tmp"]
    for name in users:
        (tmp_path / name).write_text("the user's")
    assert atomic.remove_leftovers(tmp_path, only="other.json") == 0
    assert atomic.remove_leftovers(tmp_path, lock_name=".lock") == 2
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert left == sorted([*users, f"{leftover}.copy", "keep.json", "other", "other/.lock",
                           "other/.x.ab12cd34.tmp", "sub"])
