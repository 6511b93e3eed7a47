"""Training, evaluation and reports on generated clips: overfitting, resume after SIGKILL, DDP, checkpoints."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from builders import CLASSES4, make_clips, tiny_experiment
from finecliper.cli import main
from finecliper.config.loading import experiment_from_dict
from finecliper.data.manifest import write_manifest
from finecliper.inference.checkpoint import load_checkpoint
from finecliper.training.metrics import classification_metrics
from finecliper.training.trainer import Trainer


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    records = make_clips(root, 4)
    manifest = root / "train.jsonl"
    write_manifest(manifest, records)
    odd = root / "odd.jsonl"  # 13 unseen clips: shards of 2 processes differ in size
    write_manifest(odd, make_clips(root / "unseen", 4, seed=1)[:13])
    return {"root": root, "train": manifest, "odd": odd, "records": records}


def test_metrics_equal_scikit_learn_including_classes_never_predicted():
    rng = np.random.default_rng(0)
    names = [f"c{i}" for i in range(7)]
    for _ in range(20):
        labels = rng.integers(0, 7, size=50)
        preds = rng.integers(0, 4, size=50)  # classes 4..6 are never predicted
        m = classification_metrics(labels, preds, names)
        assert m["uar"] == pytest.approx(balanced_accuracy_score(labels, preds))
        assert m["war"] == pytest.approx(accuracy_score(labels, preds))
    m = classification_metrics([0, 0, 1], [0, 1, 1], names)
    assert m["per_class_recall"]["c2"] is None and m["support"]["c0"] == 2


def test_tiny_preset_overfits_sixteen_clips(clips, tmp_path):
    cfg = experiment_from_dict(tiny_experiment(clips["train"]))
    results = Trainer(cfg, tmp_path / "run", "cpu").run()
    assert results["test"]["war"] == 1.0, results["test"]["confusion"]
    run = tmp_path / "run"
    for name in ("config.yaml", "metrics.jsonl", "results.json", "test.json", "test_confusion.png",
                 "checkpoints/best.safetensors", "checkpoints/best.json", "resume.pt"):
        assert (run / name).is_file(), name
    record = json.loads((run / "checkpoints/best.json").read_text())
    assert record["class_names"][:4] == CLASSES4 and record["backbone"]["weights_sha256"] == "random"
    assert record["config"]["data"]["select_on"] == "test"


def test_checkpoint_holds_only_trainable_tensors(tmp_path):
    from finecliper.config.presets import model_config
    from finecliper.datasets import class_names
    from finecliper.inference.checkpoint import save_checkpoint
    from finecliper.model import build_model

    model = build_model(model_config("B16-Full", ["backbone=tiny"]), class_names("dfew"))
    path = save_checkpoint(tmp_path / "ck", model, {"backbone": {}})
    state, record = load_checkpoint(path)
    tunable, total = model.count_parameters()
    assert set(state) == set(model.trainable_state_dict())
    assert sum(v.numel() for v in state.values()) == tunable < total
    assert abs(path.stat().st_size - 4 * tunable) < 0.02 * 4 * tunable + 20_000


def _train_cli(manifest: Path, out: Path, *extra: str) -> list[str]:
    cfg_path = out.parent / "exp.json.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny_experiment(manifest, epochs=3, batch_size=2, checkpoint_every=1)))
    return [sys.executable, "-m", "finecliper", "train", "--config", str(cfg_path), "--out", str(out),
            "--device", "cpu", *extra]


def test_resume_after_sigkill_gives_the_same_weights(clips, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    reference = tmp_path / "reference"
    subprocess.run(_train_cli(clips["train"], reference), check=True, env=env, capture_output=True, timeout=300)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_cli(clips["train"], killed), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    # Kill mid-run, once a few resume states have been written (steps 1, 2, ... of the first epoch).
    deadline = time.time() + 240
    while time.time() < deadline:
        metrics = killed / "metrics.jsonl"
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= 5:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = torch.load(killed / "resume.pt", weights_only=True)
    assert (state["epoch"], state["step_in_epoch"]) != (3, 0), "the run finished before it was killed"
    # A worker count is one of the settings a resume may change: the weights must not depend on it.
    subprocess.run(_train_cli(clips["train"], killed, "--resume", "--set", "data.workers=1"), check=True, env=env,
                   capture_output=True, timeout=300)
    # metrics.jsonl was cut back to the resume state: each step is logged once, as in the unbroken run.
    assert _metric_rows(killed) == _metric_rows(reference)
    assert yaml.safe_load((killed / "config.yaml").read_text())["data"]["workers"] == 1
    a, _ = load_checkpoint(reference / "checkpoints/last.safetensors")
    b, _ = load_checkpoint(killed / "checkpoints/last.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _metric_rows(run: Path) -> list[dict]:
    """metrics.jsonl's rows without what differs between two runs of the same training (time, speed)."""
    return [{k: v for k, v in json.loads(line).items() if k not in ("time", "clips_per_s")}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


class Killed(Exception):
    pass


def test_a_resumed_run_logs_each_step_once(clips, tmp_path, monkeypatch):
    data = tiny_experiment(clips["train"], epochs=1, batch_size=2, log_every=1, checkpoint_every=3)
    Trainer(experiment_from_dict(data), tmp_path / "reference", "cpu").run()
    log_step = Trainer._log_step

    def killed_after_step_5(self, *args):
        log_step(self, *args)
        if self.global_step == 5:  # logged up to step 5; the last resume state is step 3's
            raise Killed

    monkeypatch.setattr(Trainer, "_log_step", killed_after_step_5)
    with pytest.raises(Killed):
        Trainer(experiment_from_dict(data), tmp_path / "run", "cpu").run()
    assert [row["step"] for row in _metric_rows(tmp_path / "run")] == [1, 2, 3, 4, 5]
    monkeypatch.undo()
    Trainer(experiment_from_dict(data), tmp_path / "run", "cpu").run(resume=True)
    assert _metric_rows(tmp_path / "run") == _metric_rows(tmp_path / "reference")


def test_two_process_evaluation_counts_every_clip_once(clips, tmp_path):
    # Trained enough that no two class scores are tied to rounding: batching must not change a prediction.
    cfg = experiment_from_dict(tiny_experiment(clips["train"]))
    Trainer(cfg, tmp_path / "run", "cpu").run()
    ckpt = tmp_path / "run/checkpoints/best.safetensors"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    outs = {}
    for procs in (1, 2):
        out = tmp_path / f"eval{procs}"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}",
               "-m", "finecliper", "eval", "--checkpoint", str(ckpt), "--manifest", str(clips["odd"]),
               "--out", str(out), "--device", "cpu", "--workers", "0", "--batch-size", "3"]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        outs[procs] = json.loads((out / "metrics.json").read_text())
    assert outs[1]["num_clips"] == outs[2]["num_clips"] == 13
    for key in ("uar", "war", "confusion", "per_class_recall"):
        assert outs[1][key] == outs[2][key], key


def test_report_over_runs(clips, tmp_path, capsys):
    for fold, seed in ((1, 0), (2, 1)):
        data = tiny_experiment(clips["train"], epochs=1, seed=seed)
        data["name"] = f"dfew_fold{fold}"
        Trainer(experiment_from_dict(data), tmp_path / f"fold{fold}", "cpu").run()
    assert main(["report", str(tmp_path / "fold1"), str(tmp_path / "fold2"), "--out", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    assert "| B16 (ours) |" in out and "(2 folds)" in out and "| B16 (paper) | 62.81 | 72.86 |" in out
    assert (tmp_path / "rep/report.csv").read_text().splitlines()[1].startswith("B16,dfew,2,")
    # The numbers are the runs': the mean of the two folds' test UAR, in %.
    uars = [json.loads((tmp_path / f"fold{fold}/results.json").read_text())["test"]["uar"] for fold in (1, 2)]
    with (tmp_path / "rep/report.csv").open(newline="") as fh:
        row = next(csv.DictReader(fh))
    assert float(row["uar_mean"]) == pytest.approx(np.mean(uars) * 100, abs=1e-4)


def test_selection_protocol_and_zero_shot_scores_are_recorded_and_reported(clips, tmp_path, capsys):
    descriptions = tmp_path / "descriptions.jsonl"
    descriptions.write_text("".join(json.dumps({"id": r.id, "refined": f"a square moves {i % 3} steps"}) + "\n"
                                    for i, r in enumerate(clips["records"])))
    zero = tiny_experiment(clips["train"], epochs=1)
    zero.update(name="zs", preset="B16-FT")
    zero["data"].update(descriptions=str(descriptions), select_on="val")
    zero["model"]["zero_shot_score"] = "pos"
    zero["train"]["zero_shot"] = True
    results = Trainer(experiment_from_dict(zero), tmp_path / "zs", "cpu").run()
    # A zero-shot run has no labelled validation split: it tests its last epoch, and says so.
    assert results["selection"] == "last" and results["best_epoch"] is None
    test = results["test"]
    assert test["score"] == "pos" and set(test["by_score"]) == {"pos", "pos_minus_neg"}
    assert test["by_score"]["pos"]["uar"] == test["uar"]
    last = tiny_experiment(clips["train"], epochs=1)
    last["data"]["select_on"] = "last"
    assert Trainer(experiment_from_dict(last), tmp_path / "last", "cpu").run()["selection"] == "last"
    assert main(["report", str(tmp_path / "zs"), str(tmp_path / "last")]) == 0
    out = capsys.readouterr().out
    assert "| method | DFEW UAR | DFEW WAR | model selection |" in out
    assert re.search(r"\| B16-FT \(ours\) \| [\d.]+ \| [\d.]+ \| last epoch \|", out)
    assert "| B16 (paper) | 62.81 | 72.86 | not stated (its baseline reproduces DFER-CLIP, which selects on the " \
           "test fold) |" in out
    assert "Per-class recall (%), B16 on DFEW (model selection: last epoch):" in out


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)
    return err[-1]


def test_bad_inputs(clips, tmp_path, capsys):
    base = tiny_experiment(clips["train"], epochs=1)
    path = tmp_path / "exp.yaml"

    base["data"]["train_manifest"] = str(tmp_path / "missing.jsonl")
    path.write_text(yaml.safe_dump(base))
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "r1"), "--device", "cpu"]) == 2
    assert _error(capsys).endswith(f"manifest {tmp_path / 'missing.jsonl'} does not exist")

    base = tiny_experiment(clips["train"], epochs=1)
    base["preset"] = "B16-PL"
    path.write_text(yaml.safe_dump(base))
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "r2"), "--device", "cpu"]) == 2
    assert "uses parsing and landmarks cues but data.cues names no cue store" in _error(capsys)

    assert main(["train", "--config", str(path), "--set", "train.nope=1"]) == 2
    assert "unknown key 'train.nope'" in _error(capsys)

    # A checkpoint trained on DFEW's classes is refused for MAFW's: resuming a DFEW run as a MAFW one.
    cfg = experiment_from_dict(tiny_experiment(clips["train"], epochs=1))
    Trainer(cfg, tmp_path / "run", "cpu").run()
    base = tiny_experiment(clips["train"], epochs=1)
    base["data"]["dataset"] = "mafw"
    path.write_text(yaml.safe_dump(base))
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "run"), "--device", "cpu", "--resume"]) == 2
    # Refused before the checkpoint is read: the manifest's clips are not of the run's dataset.
    assert re.search("holds dfew clips .* but .*contempt.*set data.dataset=dfew", _error(capsys))
    # The test set is checked before training starts, not after it: a label outside the class list.
    base = tiny_experiment(clips["train"], epochs=1)
    wrong = tmp_path / "wrong-test.jsonl"
    write_manifest(wrong, [dataclasses.replace(clips["records"][0], label="contempt")])
    base["data"]["test_manifest"] = str(wrong)
    path.write_text(yaml.safe_dump(base))
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "r3"), "--device", "cpu"]) == 2
    assert "label 'contempt' is not one of the classes" in _error(capsys)
    assert not (tmp_path / "r3").exists()


class NaNLoss(torch.nn.Module):
    """A model whose loss is NaN: what a diverged run computes."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, batch):
        out = self.model(batch)
        return {**out, "loss": out["loss"] * float("nan")}


def test_a_non_finite_loss_stops_the_run_before_its_weights_are_saved(clips, tmp_path):
    cfg = experiment_from_dict(tiny_experiment(clips["train"], epochs=2, log_every=3, checkpoint_every=2))
    trainer = Trainer(cfg, tmp_path / "run", "cpu")
    trainer.net = NaNLoss(trainer.model)
    with pytest.raises(RuntimeError, match=r"the loss became nan at step 2; lower train.lr"):
        trainer.run()
    assert not (tmp_path / "run/resume.pt").exists()  # checked before the first save (step 2), not at step 3


def _descriptions_file(path: Path, records) -> Path:
    """Short descriptions, one longer than CLIP's 77 tokens and one clip without any (docs/design.md §4)."""
    lines = []
    for i, record in enumerate(records):
        text = None if i == 0 else "The brows rise and the lips part." * (12 if i == 1 else 1)
        lines.append(json.dumps({"id": record.id, "refined": text, "prompt": "paper", "prompt_hash": "abc"}))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_results_state_the_class_sets_and_the_descriptions_per_split(clips, tmp_path):
    from finecliper.datasets import class_names

    base = tiny_experiment(clips["train"], epochs=1, zero_shot=True)
    base["preset"] = "B16-FT"
    base["data"].update(descriptions=str(_descriptions_file(tmp_path / "d.jsonl", clips["records"])),
                        classes=class_names("dfew"), train_classes=CLASSES4)
    results = Trainer(experiment_from_dict(base), tmp_path / "run", "cpu").run()
    assert results == json.loads((tmp_path / "run" / "results.json").read_text())
    classes = results["classes"]
    assert classes["scored"] == class_names("dfew") and classes["train"] == classes["test"] == CLASSES4
    assert classes["scored_not_trained"] == ["surprise", "disgust", "fear"]
    descriptions = results["descriptions"]
    assert descriptions["prompts"] == [{"prompt": "paper", "prompt_hash": "abc", "records": 16}]
    for split in ("train", "test"):  # select_on=test: the test split is the selection split
        stats = descriptions["splits"][split]
        assert stats["clips"] == 16 and stats["without_description"] == 1 and stats["truncated"] == 1
        assert stats["truncated_share"] == round(1 / 15, 4) and stats["context_length"] == 77


@pytest.mark.parametrize("data, message", [
    ({"classes": ["happiness", "sadness"]}, "data.classes names happiness, sadness but the dfew model scores"),
    ({"train_classes": ["happiness"]}, "data.train_classes names happiness but the training manifest holds clips "
                                       "of happiness, sadness, neutral, anger"),
])
def test_class_sets_a_config_names_must_be_the_data_s(clips, tmp_path, data, message):
    from finecliper.errors import UserError

    base = tiny_experiment(clips["train"], epochs=1)
    base["data"].update(data)
    with pytest.raises(UserError, match=re.escape(message)):
        Trainer(experiment_from_dict(base), tmp_path / "run", "cpu")
