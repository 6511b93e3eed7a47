"""The `facexformer` cue backend (cues/facexformer_backend.py) around the network of cues/facexformer/: the
authors' face box, its outputs mapped back onto the image, `finecliper cues` with its provenance, and
`finecliper predict` reading the cues the same way the evaluation dataset does."""

from __future__ import annotations

import hashlib
import json

import cv2
import numpy as np
import pytest
import torch

from builders import random_checkpoint
from facexformer_files import write_official_checkpoint
from finecliper.cli import main
from finecliper.cues import face_crop
from finecliper.cues.extract import CueSettings, Extractor
from finecliper.cues.facexformer.network import TINY
from finecliper.cues.facexformer_backend import CLASS_TABLE, FaceXFormerLandmarks, input_box
from finecliper.cues.parsing_sides import BROW, EYE
from finecliper.data.cue_store import CueStore
from finecliper.data.dataset import ClipDataset
from finecliper.data.loader import collate
from finecliper.data.manifest import ClipRecord, write_manifest
from finecliper.data.prepare import prepare_batch
from finecliper.data.video import read_clip
from finecliper.face_layout import PARSING_INDEX
from finecliper.inference import Predictor
from media import astronaut, write_frames


def ring_of_points() -> torch.Tensor:
    """68 points on a circle of radius 0.6 of the crop's normalised half-width: where a face's outline lies in
    the authors' crop (the detected box is 1/1.5 of it, +-0.67), so the face detector confirms the face."""
    angle = torch.linspace(0, 2 * torch.pi, 69)[:-1]
    return (0.6 * torch.stack([angle.cos(), angle.sin()], dim=1)).flatten()


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Random weights in the official layout (tiny), whose landmark head always answers the ring of points."""
    path = tmp_path_factory.mktemp("fxf") / "model.pt"
    head = "face_decoder.landmarks_prediction_head.layers.2"
    write_official_checkpoint(path, TINY, seed=0, extra={f"{head}.weight": torch.zeros(136, TINY.decoder_dim),
                                                         f"{head}.bias": ring_of_points()})
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A manifest of one clip: eight 224 px face crops of a real photo, the face drifting a little."""
    root = tmp_path_factory.mktemp("fxf-data")
    photo = astronaut()
    frames = [cv2.warpAffine(photo, np.array([[1.5, 0, -230 - 3 * k], [0, 1.5, -75 - 2 * k]]), (224, 224),
                             flags=cv2.INTER_AREA) for k in range(8)]
    write_frames(root / "clip", np.stack(frames))
    record = ClipRecord(id="a", path="clip", label="happiness", num_frames=8, split="test", fold=None,
                        dataset="csv", source="frames", root=str(root))
    write_manifest(root / "m.jsonl", [record])
    return root, record


def test_input_box_is_the_authors_box_grown_by_half_and_clipped():
    x0, y0, x1, y1 = 30.7, 40.2, 130.9, 160.4
    faces = np.array([[x0, y0, x1, y1, 0.9], [0, 0, 10, 10, 0.99]])  # the large face, not the surest small one
    w, h = x1 - x0, y1 - y0
    # adjust_bbox(margin_percentage=50), then image.crop((int(x_min), ...)), written out plainly
    assert input_box(faces, (224, 224)) == (int(x0 - w / 4), int(y0 - h / 4), int(x1 + w / 4), int(y1 + h / 4))
    assert input_box(np.array([[-5.0, -5.0, 100.0, 100.0, 0.9]]), (120, 110)) == (0, 0, 110, 120)
    assert input_box(np.zeros((0, 5)), (224, 224)) is None


def test_classes_keep_lapa_order_with_eyes_and_brows_sided_later():
    assert CLASS_TABLE[PARSING_INDEX["hair"]] == PARSING_INDEX["hair"] and CLASS_TABLE[0] == 0
    assert CLASS_TABLE[PARSING_INDEX["left_eye"]] == CLASS_TABLE[PARSING_INDEX["right_eye"]] == EYE
    assert CLASS_TABLE[PARSING_INDEX["left_brow"]] == CLASS_TABLE[PARSING_INDEX["right_brow"]] == BROW


class FixedOutputs(torch.nn.Module):
    """Stands in for the network: points spread over [-1, 1], and hair in the middle half of the crop."""

    def forward(self, x):
        points = torch.linspace(-1, 1, 136).view(1, 68, 2).repeat(len(x), 1, 1)
        logits = torch.zeros(len(x), 11, 224, 224)
        logits[:, PARSING_INDEX["hair"], 56:168, 56:168] = 1.0
        return points, logits


def test_outputs_map_back_through_the_crop_box(weights):
    backend = FaceXFormerLandmarks(str(weights))
    backend.model = FixedOutputs()
    image = np.zeros((300, 400, 3), dtype=np.uint8)
    [mesh], [parsing] = backend.run([image], [(50, 20, 250, 220)])  # a 200 x 200 crop
    points = torch.linspace(-1, 1, 136).view(68, 2).numpy()
    # Normalised v spans the crop's 224 px as (v + 1) / 2 * 224, which the box scales to its 200 px.
    assert mesh[:, 0] == pytest.approx(50 + (points[:, 0] + 1) * 100, abs=1e-4)
    assert mesh[:, 1] == pytest.approx(20 + (points[:, 1] + 1) * 100, abs=1e-4)
    assert (mesh[:, 2] == 0).all()
    assert parsing.shape == (300, 400)
    hair = parsing == PARSING_INDEX["hair"]
    assert hair[70:170, 100:200].all() and hair.sum() == 100 * 100  # the crop's middle half, nothing else


def test_frames_are_detected_once_for_the_face_box_and_the_face_score(weights, data, monkeypatch):
    """Uncropped, the images are the frames: the tracker takes the extractor's detections of each frame (done for
    the face score) instead of detecting again, and the cues are those of its own detection."""
    root, record = data
    extractor = Extractor(CueSettings(backend="facexformer", weights=str(weights), crop="none"))
    expected = extractor.extract(record.full_path)
    calls = []
    detect_faces = face_crop.detect_faces
    monkeypatch.setattr(face_crop, "detect_faces", lambda detector, frame: calls.append(1) or detect_faces(
        detector, frame))
    cues = extractor.extract(record.full_path)
    assert len(calls) == record.num_frames
    assert np.array_equal(cues.landmarks, expected.landmarks) and np.array_equal(cues.parsing, expected.parsing)
    assert np.array_equal(cues.face_score, expected.face_score)
    with extractor.landmarker.tracker() as tracker:  # the faces given are the ones used: none, no landmarks
        frames = [np.ascontiguousarray(f) for f in read_clip(record.full_path, range(2))]
        assert [t.mesh for t in tracker.track(frames, [np.zeros((0, 5))] * 2)] == [None, None]
        assert all(t.mesh is not None for t in tracker.track(frames))


def cues_argv(manifest, store, weights) -> list[str]:
    return ["cues", "--manifest", str(manifest), "--out", str(store), "--backend", "facexformer", "--weights",
            str(weights), "--no-progress", "--device", "cpu"]


def test_cues_command_records_the_weights_and_refuses_other_ones(weights, data, tmp_path, capsys):
    root, _ = data
    mine = tmp_path / "model.pt"
    mine.write_bytes(weights.read_bytes())
    store = tmp_path / "cues"
    assert main(cues_argv(root / "m.jsonl", store, mine)) == 0
    provenance = json.loads((store / "provenance.json").read_text())
    assert provenance["settings"]["backend"] == provenance["settings"]["parsing_backend"] == "facexformer"
    assert provenance["settings"]["weights"] == str(mine.resolve())
    model = provenance["landmark_model"]
    assert model["sha256"] == hashlib.sha256(mine.read_bytes()).hexdigest() and not model["published"]
    cues = CueStore(store).load("a")
    assert cues.landmarks.shape == (8, 68, 2) and cues.parsing.shape == (8, 224, 224) and cues.valid.all()
    assert (cues.face_score >= 0.5).all()  # the ring of points lies where the detector sees the face
    capsys.readouterr()

    write_official_checkpoint(mine, TINY, seed=1)  # the same path, another file: found by its hash
    assert main(cues_argv(root / "m.jsonl", store, mine)) == 2
    assert "written with another facexformer weights file" in capsys.readouterr().err
    assert main(cues_argv(root / "m.jsonl", store, weights)) == 2  # another path: the settings differ
    assert "written with other settings (weights:" in capsys.readouterr().err


def test_predict_reads_the_cues_as_the_training_store_made_them(weights, data, tmp_path):
    """Predict takes the backend and weights of the checkpoint's cue store, and scores the clip exactly as the
    evaluation dataset scores it from that store."""
    root, record = data
    store = tmp_path / "cues"
    assert main(cues_argv(root / "m.jsonl", store, weights)) == 0
    ckpt = random_checkpoint(tmp_path / "full", "B16-Full", seed=0, num_frames=8)
    predictor = Predictor(ckpt, overrides=[f"data.cues={store}"], crop="none")
    assert predictor.cue_settings.backend == predictor.cue_settings.parsing_backend == "facexformer"
    assert predictor.cue_settings.weights == str(weights.resolve())
    pred = predictor.predict(record.full_path)
    ds = ClipDataset([record], predictor.class_names, num_frames=8, size=predictor.model.image_size,
                     cues=CueStore(store), branches=["parsing", "landmarks"])
    with torch.no_grad():
        scores = predictor.model(prepare_batch(collate([ds[0]]), "cpu"))["scores"][0]
    assert list(pred.scores.values()) == pytest.approx(scores.tolist(), abs=1e-5)
    assert Predictor(ckpt, crop="none").cue_settings.backend == "mediapipe"  # no store: the default
