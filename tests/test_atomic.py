"""Atomic writes: whole or nothing under the final name, with the permissions a plain write would give."""

from __future__ import annotations

import stat

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
