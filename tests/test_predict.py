"""`finecliper predict`: a checkpoint on a user's own clips, raw videos of real faces included."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from builders import make_clips, moving, random_checkpoint, tiny_experiment
from finecliper.cli import main
from finecliper.config.loading import experiment_from_dict
from finecliper.cues.extract import CueSettings, Extractor
from finecliper.data.cue_store import CueStore
from finecliper.data.dataset import ClipDataset
from finecliper.data.loader import collate
from finecliper.data.manifest import ClipRecord, read_manifest, write_manifest
from finecliper.data.prepare import prepare_batch
from finecliper.data.sampling import sample_indices
from finecliper.data.video import read_clip
from finecliper.inference import Predictor
from finecliper.inference.checkpoint import load_model
from finecliper.inference.dataset import make_dataset
from finecliper.training import evaluate
from finecliper.training.distributed import Dist
from finecliper.training.trainer import Trainer
from media import astronaut, write_video


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny frames-only checkpoint trained on coloured-square clips, and unseen clips of each class."""
    root = tmp_path_factory.mktemp("predict")
    write_manifest(root / "train.jsonl", make_clips(root / "train", 4))
    Trainer(experiment_from_dict(tiny_experiment(root / "train.jsonl", epochs=30)), root / "run", "cpu").run()
    unseen = make_clips(root / "unseen", 1, seed=5)
    return root / "run/checkpoints/best.safetensors", unseen


def test_prediction_equals_evaluation_of_the_same_clip(trained, tmp_path):
    ckpt, unseen = trained
    predictor = Predictor(ckpt, crop="none")
    # The path of `finecliper eval`: the checkpoint's model and config, the clips' manifest, the
    # evaluation dataset and the sharded prediction loop.
    write_manifest(tmp_path / "unseen.jsonl", unseen)
    model, cfg, _ = load_model(ckpt)
    data = make_dataset(read_manifest(tmp_path / "unseen.jsonl"), cfg, list(model.class_names), False, model)
    evaluated = evaluate.predict(model, data, Dist(), batch_size=1, workers=0, precision=cfg.train.precision)
    assert [r.id for r in data.records] == [c.id for c in unseen]
    right = 0
    for clip, scores, label in zip(unseen, evaluated["scores"], evaluated["pred"], strict=True):
        pred = predictor.predict(clip.full_path)
        assert list(pred.scores.values()) == pytest.approx(scores.tolist(), abs=1e-6)
        assert pred.label == predictor.class_names[int(label)]
        probs = np.array(list(pred.probabilities.values()))
        assert probs.sum() == pytest.approx(1.0) and pred.label == predictor.class_names[int(probs.argmax())]
        assert pred.frames == 12 and not pred.face_cropped and pred.weight == 1.0 and pred.description is None
        right += pred.label == clip.label
    assert right == len(unseen)  # the colours are easy: the trained model gets every unseen clip


def test_cli_prints_json_and_writes_it_atomically(trained, tmp_path, capsys):
    ckpt, unseen = trained
    paths = [str(c.full_path) for c in unseen[:2]]
    out = tmp_path / "sub/predictions.json"
    assert main(["predict", *paths, "--checkpoint", str(ckpt), "--crop", "none", "--json", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert [p["path"] for p in printed["predictions"]] == paths
    assert printed["class_names"] == ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"]
    assert [p["label"] for p in printed["predictions"]] == [c.label for c in unseen[:2]]
    assert main(["predict", paths[0], "--checkpoint", str(ckpt), "--crop", "none", "--top", "2"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{paths[0]}: {unseen[0].label} ") and line.count("%") == 2
    assert "frames used whole; 12 frames" in line


def test_raw_video_of_a_real_face_is_cropped_described_and_scored_like_evaluation(tmp_path):
    # The model reads all 10 frames of the clip (longer clips: test_long_video_...), as `finecliper eval` would.
    ckpt = random_checkpoint(tmp_path / "full", "B16-Full", seed=0, num_frames=10)
    frames, _ = moving(astronaut(), 10, (320, 480), (0.6, 0.75), (40, 10), (200, -20))
    video = write_video(tmp_path / "raw.mp4", frames)
    predictor = Predictor(ckpt, describe="landmarks")
    pred = predictor.predict(video)
    assert pred.face_cropped and pred.frames == 10 and pred.description_source == "landmarks"
    assert pred.description and 0.0 < pred.weight < 1.0
    assert sum(pred.probabilities.values()) == pytest.approx(1.0)

    # The same clip through the offline path: `finecliper cues` into a store, then the evaluation dataset.
    store = CueStore(tmp_path / "cues")
    store.save("raw", Extractor(CueSettings()).extract(video))
    record = ClipRecord(id="raw", path="raw.mp4", label=None, num_frames=10, split="test", fold=None,
                        dataset="csv", source="video", root=str(tmp_path))
    ds = ClipDataset([record], predictor.class_names, num_frames=10, size=predictor.model.image_size,
                     cues=store, branches=["parsing", "landmarks"], descriptions={"raw": pred.description})
    with torch.no_grad():
        scores = predictor.model(prepare_batch(collate([ds[0]]), "cpu"))["scores"][0]
    assert list(pred.scores.values()) == pytest.approx(scores.tolist(), abs=1e-5)

    # Without a description the video features decide alone (w = 1), and the result says so.
    plain = Predictor(ckpt).predict(video)
    assert plain.weight == 1.0 and plain.description is None
    assert any("w = 1" in note for note in plain.notes)
    # A given description is refined before use: the emotion words go.
    given = predictor.predict(video, "She smiles happily. The corners of her mouth rise.")
    assert given.description_source == "given" and "happ" not in given.description.lower()


def test_long_video_is_analysed_only_at_the_frames_the_model_samples(tmp_path, monkeypatch):
    """Memory must not grow with a video's length: cues are made for exactly the frames the model samples."""
    ckpt = random_checkpoint(tmp_path / "pl", "B16-PL", seed=1, num_frames=4)
    frames, _ = moving(astronaut(), 60, (320, 480), (0.6, 0.75), (40, 10), (200, -20))
    video = write_video(tmp_path / "long.mp4", frames)
    seen: list[tuple[np.ndarray, bool]] = []
    extract = Extractor.extract

    def recording(self, path, num_frames=None, sparse=False):
        seen.append((read_clip(path, range(num_frames)), sparse))
        return extract(self, path, num_frames, sparse)

    monkeypatch.setattr(Extractor, "extract", recording)
    pred = Predictor(ckpt).predict(video)
    assert pred.frames == 60 and pred.face_cropped and len(seen) == 1
    analysed, sparse = seen[0]
    assert sparse  # samples seconds apart: their face boxes are not smoothed together
    assert np.array_equal(analysed, read_clip(video, sample_indices(60, 4)))


def test_bad_inputs_give_one_sentence(trained, tmp_path, capsys):
    ckpt, unseen = trained

    def error(*args) -> str:
        assert main(["predict", *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err and "Traceback" not in "\n".join(err)
        return err[-1]

    assert error(str(tmp_path / "nope.mp4"), "--checkpoint", str(ckpt)).endswith("nope.mp4 does not exist")
    assert "checkpoint" in error(str(unseen[0].full_path), "--checkpoint", str(tmp_path / "none.safetensors"))
    two = [str(c.full_path) for c in unseen[:2]]
    assert "single VIDEO" in error(*two, "--checkpoint", str(ckpt), "--description", "The brows rise.")
    (tmp_path / "notes.txt").write_text("not a clip")
    assert "neither a video file nor a folder of frames" in error(str(tmp_path / "notes.txt"), "--checkpoint", str(ckpt))
    # A clip with no face: the crop decision and the landmarks need one.
    assert "no face" in error(str(unseen[0].full_path), "--checkpoint", str(ckpt))
    if not torch.cuda.is_available():
        assert "no CUDA GPU" in error(str(unseen[0].full_path), "--checkpoint", str(ckpt), "--device", "cuda")
    out = tmp_path / "never.json"
    error(str(tmp_path / "nope.mp4"), "--checkpoint", str(ckpt), "--out", str(out))
    assert not out.exists()
