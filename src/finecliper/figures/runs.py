"""What `report --figures` needs of each run directory: its results and its checkpoint's record (the
resolved config, hence the weight w, and the trainable tensors, hence the tunable count)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from safetensors import safe_open

from finecliper.errors import UserError
from finecliper.inference.checkpoint import read_record
from finecliper.training.report import read_results


@dataclass
class Run:
    results: dict  # results.json
    video_weight: float | None  # model.video_weight: a fixed w, or None (adaptive)
    descriptions: bool  # whether the model reads descriptions (w means nothing without them)
    tunable: int  # trainable parameters: the checkpoint's tensors


def _checkpoint_of(run_dir: Path, results: dict) -> Path:
    """The run's checkpoint: where results.json says, else the same file name under RUN_DIR/checkpoints."""
    recorded = Path(results.get("checkpoint", "checkpoints/best.safetensors"))
    for path in (recorded, run_dir / "checkpoints" / recorded.name):
        if path.with_suffix(".json").is_file() and path.with_suffix(".safetensors").is_file():
            return path
    raise UserError(f"the checkpoint {recorded} of run {run_dir} is not there; --figures reads its config")


def read_runs(run_dirs: list[str | Path]) -> list[Run]:
    runs = []
    for run_dir, results in zip(run_dirs, read_results(run_dirs), strict=True):
        run_dir = Path(run_dir)
        run_dir = run_dir.parent if run_dir.name == "results.json" else run_dir
        if "test" not in results:
            raise UserError(f"run {run_dir} has no test results; --figures needs scored runs")
        checkpoint = _checkpoint_of(run_dir, results)
        model = read_record(checkpoint)["config"]["model"]
        with safe_open(str(checkpoint.with_suffix(".safetensors")), "pt") as tensors:
            tunable = sum(math.prod(tensors.get_slice(k).get_shape()) for k in tensors.keys())
        runs.append(Run(results, model.get("video_weight"), bool(model.get("descriptions")), tunable))
    return runs
