"""A run directory: a resume keeps the settings that alter the result, a fresh start does not mix with an old run,
--force starts over, outputs get plain permissions, nothing is written through a symbolic link."""

from __future__ import annotations

import shutil
import stat

import pytest
import yaml

from builders import make_clips, tiny_experiment
from finecliper.cli import main
from finecliper.config.loading import experiment_from_dict
from finecliper.data.manifest import write_manifest
from finecliper.training.run_dir import RESUME_MAY_CHANGE
from finecliper.training.trainer import Trainer


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished tiny run and the config file that made it."""
    root = tmp_path_factory.mktemp("run-dir")
    manifest = root / "train.jsonl"
    write_manifest(manifest, make_clips(root, 1))
    data = tiny_experiment(manifest, epochs=1)
    config = root / "exp.yaml"
    config.write_text(yaml.safe_dump(data))
    Trainer(experiment_from_dict(data), root / "run", "cpu").run()
    return {"run": root / "run", "config": config}


def _copy(finished, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished["run"], run)
    return run


def _train(finished, run, *extra) -> list[str]:
    return ["train", "--config", str(finished["config"]), "--out", str(run), "--device", "cpu", *extra]


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def _snapshot(run):
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def test_a_resume_that_changes_the_result_is_refused_naming_the_fields(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path)
    before = _snapshot(run)
    assert main(_train(finished, run, "--resume", "--set", "train.lr=0.005", "--set", "model.adapter_scale=0.3")) == 2
    assert _error(capsys) == (
        "finecliper train: error: --resume would change settings that alter the result (model.adapter_scale 0.5 -> "
        f"0.3, train.lr 0.01 -> 0.005); resume with the settings in {run / 'config.yaml'}, or start a new run in "
        "another --out")
    assert _snapshot(run) == before  # config.yaml included: read and compared, not overwritten


@pytest.mark.parametrize("change", ["data.workers=1", "train.log_every=5", "train.tensorboard=true"])
def test_a_resume_may_change_what_does_not_alter_the_result(finished, tmp_path, change):
    assert change.split("=")[0] in RESUME_MAY_CHANGE
    run = _copy(finished, tmp_path)
    assert main(_train(finished, run, "--resume", "--set", change)) == 0
    key, value = change.split("=")
    section, field = key.split(".")
    assert str(yaml.safe_load((run / "config.yaml").read_text())[section][field]).lower() == value


def test_a_fresh_start_does_not_mix_with_an_old_run_and_force_starts_over(finished, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 999, "old": true}\n')  # a run killed before its first save
    (run / "notes.txt").write_text("the user's")
    assert main(_train(finished, run)) == 2
    assert _error(capsys) == (f"finecliper train: error: {run} already holds a run (metrics.jsonl); continue it with "
                              "--resume, start over with --force, or choose another --out")
    assert sorted(p.name for p in run.iterdir()) == ["metrics.jsonl", "notes.txt"]
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / ".last.safetensors.ab12cd34.tmp").write_bytes(b"half")  # left by a kill
    assert main(_train(finished, run, "--force")) == 0
    assert "old" not in (run / "metrics.jsonl").read_text() and (run / "notes.txt").read_text() == "the user's"
    assert not list(run.rglob("*.tmp")) and not list(run.rglob(".finecliper.lock"))
    # Every output has the permissions a plain open() gives here, checkpoints included.
    (tmp_path / "plain").write_text("x")
    plain = stat.S_IMODE((tmp_path / "plain").stat().st_mode)
    modes = {str(p.relative_to(run)): stat.S_IMODE(p.stat().st_mode) for p in run.rglob("*") if p.is_file()}
    assert "checkpoints/best.safetensors" in modes and set(modes.values()) == {plain}, modes


def test_nothing_is_written_through_a_symlinked_metrics_file(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (run / "metrics.jsonl").unlink()
    (run / "metrics.jsonl").symlink_to(victim)
    assert main(_train(finished, run, "--resume")) == 2
    assert _error(capsys) == (f"finecliper train: error: {run / 'metrics.jsonl'} is a symbolic link; finecliper does "
                              "not write through links")
    assert main(_train(finished, run, "--resume", "--force")) == 2
    assert "--resume continues the run in --out and --force deletes it: choose one" in _error(capsys)
    assert victim.read_text() == "precious\n"
    assert main(_train(finished, tmp_path / "none", "--resume")) == 2
    assert "there is no resume state" in _error(capsys) and not (tmp_path / "none").exists()
