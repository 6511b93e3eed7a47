"""Every registered cue backend (finecliper.cues.backends): builds from its settings and runs on a clip of
a real face, or, when it needs model weights, says so in one sentence and runs on random weights made by
`WEIGHTS` (every such backend must have a maker there). New entries are tested here without new test code."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import cv2
import numpy as np
import pytest

from facexformer_files import write_official_checkpoint
from finecliper.cli import main
from finecliper.cues.backends import LANDMARK_BACKENDS, PARSING_BACKENDS
from finecliper.cues.extract import CueSettings, Extractor
from finecliper.cues.facexformer.network import TINY
from finecliper.errors import UserError
from finecliper.face_layout import JAW, LEFT_EYE, PARSING_INDEX, RIGHT_EYE
from media import astronaut, write_frames

# Parsing backends that draw maps on their own (not in a landmark backend's pass), with and without a model.
WITHOUT_WEIGHTS = [name for name, e in PARSING_BACKENDS.items() if not e.needs_weights and not e.from_landmarks]
NEEDING_WEIGHTS = [name for name, entry in PARSING_BACKENDS.items() if entry.needs_weights]
LANDMARKS_WITHOUT_WEIGHTS = [name for name, entry in LANDMARK_BACKENDS.items() if not entry.needs_weights]
LANDMARKS_NEEDING_WEIGHTS = [name for name, entry in LANDMARK_BACKENDS.items() if entry.needs_weights]
# Random weights in each model backend's real file layout (a tiny size of it): name -> maker(path).
WEIGHTS = {"facexformer": lambda path: write_official_checkpoint(path, TINY)}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """Six 224 px face crops of a real photo, the face drifting a little (a frame folder)."""
    photo = astronaut()
    frames = [cv2.warpAffine(photo, np.array([[1.5, 0, -230 - 3 * k], [0, 1.5, -75 - 2 * k]]), (224, 224),
                             flags=cv2.INTER_AREA) for k in range(6)]
    return write_frames(tmp_path_factory.mktemp("clip") / "clip", np.stack(frames))[0].parent


@pytest.mark.parametrize("name", LANDMARKS_WITHOUT_WEIGHTS)
def test_landmark_backend_finds_the_face(name, clip):
    cues = Extractor(CueSettings(backend=name, crop="none")).extract(clip)
    assert cues.num_frames == 6 and cues.valid.all()
    lm = cues.landmarks
    assert np.isfinite(lm).all() and (lm >= 0).all() and (lm < 224).all()
    eyes_y = lm[:, RIGHT_EYE + LEFT_EYE, 1].mean()
    assert eyes_y < lm[:, 48:68, 1].mean() < lm[:, JAW[8], 1].mean()  # eyes above the mouth above the chin
    assert (lm[:, RIGHT_EYE, 0].mean(1) < lm[:, LEFT_EYE, 0].mean(1)).all()  # subject's right eye: image left


@pytest.mark.parametrize("name", LANDMARKS_NEEDING_WEIGHTS)
def test_landmark_backend_needing_weights_says_so_and_runs_on_random_ones(name, clip, tmp_path):
    """Without --weights: one sentence. With random weights in the real layout: the shapes and places of real
    cues on a real face (what they say is only as good as the weights)."""
    with pytest.raises(UserError) as exc:
        Extractor(CueSettings(backend=name))
    assert str(exc.value) == f"the {name} landmark backend needs --weights, its model file (see the README)"
    weights = tmp_path / "weights.pt"
    WEIGHTS[name](weights)
    extractor = Extractor(CueSettings(backend=name, weights=str(weights), crop="none"))
    cues = extractor.extract(clip)
    assert cues.num_frames == 6 and cues.valid.all() and cues.landmarks.shape == (6, 68, 2)
    assert np.isfinite(cues.landmarks).all() and (cues.landmarks >= 0).all() and (cues.landmarks <= 224).all()
    assert cues.parsing.shape == (6, 224, 224) and cues.parsing.dtype == np.uint8 and cues.parsing.max() < 11
    assert extractor.provenance()["landmark_model"]["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", WITHOUT_WEIGHTS)
def test_parsing_backend_draws_the_face(name, clip):
    cues = Extractor(CueSettings(parsing_backend=name, crop="none")).extract(clip)
    assert cues.parsing.shape == (6, 224, 224) and cues.parsing.dtype == np.uint8
    for part in ("skin", "nose", "left_eye", "right_eye", "upper_lip", "lower_lip"):
        assert (cues.parsing == PARSING_INDEX[part]).any(axis=(1, 2)).all(), part
    assert (cues.parsing == 0).mean() > 0.2  # background around the face


@pytest.mark.parametrize("name", NEEDING_WEIGHTS)
def test_parsing_backend_needing_weights_says_so_in_one_sentence(name, tmp_path):
    """Such a backend needs a model folder the tests cannot download (a tiny random one runs in its own tests)."""
    with pytest.raises(UserError) as exc:
        Extractor(CueSettings(parsing_backend=name))
    assert str(exc.value) == f"the {name} parsing backend needs --parsing-weights, a local model folder"
    with pytest.raises(UserError) as exc:
        Extractor(CueSettings(parsing_backend=name, parsing_weights=str(tmp_path)))  # an empty folder
    assert str(tmp_path) in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("name", WITHOUT_WEIGHTS)
def test_weights_are_refused_by_a_backend_without_a_model(name, tmp_path):
    with pytest.raises(UserError, match="--parsing-weights is only used with --parsing-backend"):
        CueSettings(parsing_backend=name, parsing_weights=str(tmp_path)).validate()


@pytest.mark.parametrize("name", LANDMARKS_WITHOUT_WEIGHTS)
def test_landmark_weights_are_refused_by_a_backend_without_a_model(name, tmp_path):
    with pytest.raises(UserError, match="--weights is only used with --backend"):
        CueSettings(backend=name, weights=str(tmp_path)).validate()


def test_every_backend_with_a_model_has_a_weights_maker():
    assert set(LANDMARKS_NEEDING_WEIGHTS) == set(WEIGHTS)


@pytest.mark.parametrize("landmarks", LANDMARK_BACKENDS.names())
@pytest.mark.parametrize("parsing", PARSING_BACKENDS.names())
def test_a_backend_drawing_its_own_parsing_pairs_only_with_its_reader(landmarks, parsing, tmp_path):
    """A landmark backend that draws parsing in its pass goes only with the parsing backend that reads it, and
    that one only with such a landmark backend; every landmark backend's default parsing goes with it."""
    lm, ps = LANDMARK_BACKENDS.get(landmarks), PARSING_BACKENDS.get(parsing)
    weights = str(tmp_path) if lm.needs_weights else None  # the pairing is checked before the files
    settings = CueSettings(backend=landmarks, parsing_backend=parsing, weights=weights,
                           parsing_weights=str(tmp_path) if ps.needs_weights else None)
    if lm.gives_parsing != ps.from_landmarks:
        with pytest.raises(UserError, match="do not go together; leave out --parsing-backend"):
            settings.validate()
    else:  # a pair that goes together passes the pairing (the folder given as weights may fail a later check)
        try:
            settings.validate()
        except UserError as exc:
            assert "do not go together" not in str(exc)
    assert CueSettings(backend=landmarks).parsing_backend == lm.default_parsing
    assert PARSING_BACKENDS.get(lm.default_parsing).from_landmarks == lm.gives_parsing


def test_unknown_backends_list_the_registry():
    with pytest.raises(UserError) as exc:
        CueSettings(backend="dlib").validate()
    assert str(exc.value) == f"unknown landmark backend 'dlib'; known: {', '.join(LANDMARK_BACKENDS.names())}"
    with pytest.raises(UserError) as exc:
        CueSettings(parsing_backend="bisenet").validate()
    assert str(exc.value) == f"unknown parsing backend 'bisenet'; known: {', '.join(PARSING_BACKENDS.names())}"


def test_the_command_line_offers_every_registered_backend(tmp_path, capsys):
    """A registered name passes the parser (the run then stops at the missing input, one sentence)."""
    cues = ["cues", "--manifest", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "s")]
    predict = ["predict", str(tmp_path / "none.mp4"), "--checkpoint", "c"]
    runs = [cues + ["--backend", name] for name in LANDMARK_BACKENDS.names()]
    runs += [cmd + ["--parsing-backend", name] for name in PARSING_BACKENDS.names() for cmd in (cues, predict)]
    for argv in runs:
        assert main(argv) == 2, argv
        assert "does not exist" in capsys.readouterr().err, argv


def test_listing_the_backends_loads_nothing_heavy():
    code = ("import sys; import finecliper.cues.backends, finecliper.describe.backends\n"
            "print(sorted(m for m in ('torch', 'transformers', 'mediapipe', 'cv2') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
