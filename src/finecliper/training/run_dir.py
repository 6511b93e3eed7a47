"""A run directory's contract with the runs that write it: one writer, a fresh start or a faithful resume.

- One writer: the run holds the directory's lock (`run_lock.py`) from start to end; a second `train`
  into the same `--out` is refused with a sentence naming the holder.
- A fresh start finds no outputs of an earlier run there (they would mix: an old metrics.jsonl would be
  appended to), unless `force` deletes them first.
- A resume continues the same run: every setting that alters the result must equal the stored one
  (`config.yaml`); only those in `RESUME_MAY_CHANGE` may differ. metrics.jsonl is cut back to what it held
  when the resume state was saved, so the steps done again are not logged twice.
See docs/design.md §4.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from finecliper.errors import UserError
from finecliper.run_lock import RunLock, lock_dir

log = logging.getLogger(__name__)

# Everything a run writes into its directory: what a fresh start refuses to mix with, and what --force deletes.
RUN_OUTPUTS = ("config.yaml", "metrics.jsonl", "tensorboard", "checkpoints", "resume.pt", "results.json",
               "test.json", "test_confusion.png")

# Settings that a resumed run may change, because none of them changes a weight or a score; every other
# field of the config (learning rate, batch size, epochs, seed, model, data, ...) must stay as it was.
RESUME_MAY_CHANGE = {
    "data.workers": "loader processes only; every clip draws from its own generator, seeded by (seed, epoch, index)",
    "data.data_root": "where the same clips lie now",
    "model.weights": "where the backbone lies now; its SHA-256 must still match the run's",
    "train.log_every": "how often losses are logged",
    "train.checkpoint_every": "how often the resume state is saved",
    "train.tensorboard": "whether losses are also written for TensorBoard",
}


def claim(run_dir: Path, resume: bool, force: bool) -> RunLock:
    """Lock `run_dir` (created if missing) for this run and check what it holds; UserError (lock released)
    when another run holds it, when a fresh start finds an earlier run's outputs (without `force`), or when
    a resume finds a symbolic link where it writes."""
    if resume and force:
        raise UserError("--resume continues the run in --out and --force deletes it: choose one")
    lock = lock_dir(run_dir, "run directory").acquire()
    try:
        found = [name for name in RUN_OUTPUTS if _holds(run_dir / name)]
        if resume:
            links = [name for name in found if (run_dir / name).is_symlink()]
            if links:
                raise UserError(f"{run_dir / links[0]} is a symbolic link; finecliper does not write through links")
        elif found and not force:
            raise UserError(f"{run_dir} already holds a run ({', '.join(found)}); continue it with --resume, start "
                            "over with --force, or choose another --out")
        elif found:
            for name in found:
                _remove(run_dir / name)
            log.warning("--force: deleted the earlier run's %s in %s", ", ".join(found), run_dir)
    except BaseException:
        lock.release()
        raise
    return lock


def _holds(path: Path) -> bool:
    """Whether `path` holds something of a run (an empty folder, e.g. once leftovers are gone, does not)."""
    if path.is_dir() and not path.is_symlink():
        return any(path.iterdir())
    return path.exists() or path.is_symlink()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def stored_config(run_dir: Path, record: dict[str, Any]) -> dict[str, Any]:
    """The run's config as it started: config.yaml, else the one in its last checkpoint's record."""
    path = run_dir / "config.yaml"
    if path.is_file() and not path.is_symlink():
        try:
            stored = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError):
            stored = None
        if isinstance(stored, dict):
            return stored
    config = record.get("config")
    if not isinstance(config, dict):
        raise UserError(f"{run_dir} holds neither a readable config.yaml nor a config in its last checkpoint")
    return config


def check_unchanged(stored: dict[str, Any], new: dict[str, Any], run_dir: Path) -> None:
    """Refuse a resume whose settings would alter the result, naming each changed field."""
    old_flat, new_flat = _flatten(stored), _flatten(json.loads(json.dumps(new)))
    changed = [key for key in sorted(old_flat.keys() | new_flat.keys())
               if key not in RESUME_MAY_CHANGE and old_flat.get(key, _ABSENT) != new_flat.get(key, _ABSENT)]
    if changed:
        shown = ", ".join(f"{key} {_show(old_flat.get(key, _ABSENT))} -> {_show(new_flat.get(key, _ABSENT))}"
                          for key in changed[:8])
        more = f" and {len(changed) - 8} more" if len(changed) > 8 else ""
        raise UserError(f"--resume would change settings that alter the result ({shown}{more}); resume with the "
                        f"settings in {run_dir / 'config.yaml'}, or start a new run in another --out")


_ABSENT = object()


def _show(value: Any) -> str:
    return "(absent)" if value is _ABSENT else json.dumps(value)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def metrics_size(run_dir: Path) -> int:
    """Bytes of metrics.jsonl now: saved with the resume state, to cut the file back to on resume."""
    path = run_dir / "metrics.jsonl"
    return path.stat().st_size if path.is_file() else 0


def cut_metrics(run_dir: Path, size: int) -> None:
    """Drop the rows logged after the resume state was saved (the resumed run logs those steps again)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file() or path.is_symlink():
        return
    now = path.stat().st_size
    if now > size:
        os.truncate(path, size)
        log.info("metrics.jsonl: dropped %d bytes logged after the last resume state", now - size)
