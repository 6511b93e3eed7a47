"""Every clip's cues are checked when a run's datasets are built, before the first training step.

A clip without a cue file, with a corrupt or stale one, or without a real face (data.face_verdict) stops
training at once with the list of ids, or, with data.skip_clips_without_cues, is left out and counted in
the log and in results.json. Every DDP rank runs the same check, so none waits for another mid-epoch.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from builders import make_clips, tiny_experiment
from finecliper.cli import main
from finecliper.config.loading import experiment_from_dict
from finecliper.data.cue_check import check_cues
from finecliper.data.cue_store import ClipCues, CueStore
from finecliper.data.manifest import write_manifest
from finecliper.errors import UserError
from finecliper.training.trainer import Trainer


def _cues(n: int, score: float | None) -> ClipCues:
    landmarks = np.full((n, 68, 2), 20.0, np.float32) + np.random.default_rng(0).normal(0, 3, (n, 68, 2)).astype(np.float32)
    return ClipCues(landmarks, np.ones(n, bool), np.zeros((n, 20, 20), np.uint8), (40, 40),
                    face_score=None if score is None else np.full(n, score, np.float32))


@pytest.fixture
def run(tmp_path):
    """12 clips with cues: 9 real faces, one cat (face score 0), one without a file, one with a corrupt one."""
    records = make_clips(tmp_path / "clips", 3)
    store = CueStore(tmp_path / "cues")
    for r in records:
        store.save(r.id, _cues(r.num_frames, 0.9))
    store.save(records[1].id, _cues(records[1].num_frames, 0.0))  # the detector confirmed no face
    store.path(records[4].id).unlink()  # `finecliper cues` found no face in any frame: no file
    store.path(records[7].id).write_bytes(b"not a zip")
    write_manifest(tmp_path / "train.jsonl", records)
    exp = tiny_experiment(tmp_path / "train.jsonl", epochs=1)
    exp["preset"] = "B16-PL"
    exp["data"]["cues"] = str(tmp_path / "cues")
    return tmp_path, records, store, exp


def test_check_lists_every_kind_of_unusable_cues(run):
    _, records, store, exp = run
    cfg = experiment_from_dict(exp)
    check = check_cues(records, store, cfg.data)
    assert check.problems == {"missing": [records[4].id], "corrupt": [records[7].id], "stale": [],
                              "no_face": [records[1].id]}
    assert check.checked == 12 and len(check.bad) == 3 and check.unmeasured == 0
    stale = [records[0].__class__(**{**records[0].__dict__, "num_frames": 99})]
    assert check_cues(stale, store, cfg.data).problems["stale"] == [records[0].id]
    # A store of an older finecliper (no face scores) is taken at its word, and counted.
    store.save(records[1].id, _cues(records[1].num_frames, None))
    assert check_cues(records[:3], store, cfg.data).unmeasured == 1


def test_training_stops_before_the_first_step_with_the_list(run, capsys):
    tmp_path, records, _, exp = run
    path = tmp_path / "exp.json"
    path.write_text(json.dumps(exp))
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "r"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("finecliper train: error: 3 of 12 clips have unusable cues: ") and "\n" not in err
    for i in (1, 4, 7):
        assert records[i].id in err
    assert "data.skip_clips_without_cues=true" in err
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_skipping_leaves_them_out_and_counts_them(run, caplog):
    tmp_path, records, _, exp = run
    exp["data"]["skip_clips_without_cues"] = True
    trainer = Trainer(experiment_from_dict(exp), tmp_path / "r", "cpu")
    assert len(trainer.fit_records) == 9 and len(trainer.test_records) == 9
    assert "left out: 3 of 12 clips have unusable cues" in caplog.text
    results = trainer.run()
    check = json.loads((tmp_path / "r" / "results.json").read_text())["cue_check"]
    assert results["cue_check"] == check
    assert check["left_out"] == 3 and check["checked"] == 12 and check["no_face"] == [records[1].id]


@pytest.mark.parametrize("key, value, message", [
    ("face_min_share", 1.5, r"data.face_min_share must be in \[0, 1\], got 1.5"),
    ("face_min_score", -0.1, r"data.face_min_score must be in \[0, 1\], got -0.1"),
    ("face_min_score", float("nan"), r"data.face_min_score must be a finite number, got nan"),
    ("skip_clips_without_cues", "maybe", r"data.skip_clips_without_cues must be bool"),
])
def test_bad_cue_check_fields_are_one_sentence(run, key, value, message):
    exp = run[3]
    exp["data"][key] = value
    with pytest.raises(UserError, match=message):
        experiment_from_dict(exp)
