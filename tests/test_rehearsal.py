"""scripts/rehearse_ddp.py, scaled down: 2 gloo processes of the real trainer, its checks pass and it prints them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "rehearse_ddp.py"


def test_rehearsal_checks_sampler_shards_and_the_evaluation_gather(tmp_path):
    out = tmp_path / "figures.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--world", "2", "--steps", "1", "--batch-size", "4", "--workers", "0",
         "--clips", "21", "11", "--keep", str(tmp_path / "data"), "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    sampler, evaluation = result["sampler"], result["eval"]
    assert sampler["per_rank"] == [11, 11] and sampler["padding"] == 1  # 21 clips over 2 ranks wrap once
    assert sampler["every_clip_covered"] and sampler["repeats"] == 1
    assert evaluation["scored_once"] and evaluation["same_predictions"]
    assert evaluation["max_abs_score_diff_vs_single_process"] < 1e-4
    assert [r["rank"] for r in result["ranks"]] == [0, 1] and all(r["clips_per_s"] > 0 for r in result["ranks"])
    assert "every test clip scored once: True" in proc.stdout
