"""Real faces and non-faces, panned through clips: the face score per frame and the verdict per clip.

MediaPipe's face mesh alone takes a cat's head or a motorcycle's front for a face in some frames of a pan;
the independent detector's face score must leave such clips without a confirmed face, and keep every real
face (frontal, in near profile) confirmed. `finecliper predict` refuses a clip without a real face in one
sentence and notes one with too little of it.
"""

from __future__ import annotations

import numpy as np
import pytest

from builders import panned, random_checkpoint
from finecliper.cli import main
from finecliper.cues.extract import CueSettings, Extractor
from finecliper.data.cue_store import ClipCues, CueStore
from finecliper.data.face_verdict import MIN_SHARE, face_verdict
from finecliper.errors import UserError
from finecliper.inference import Predictor
from media import astronaut, cameraman, grace_hopper, non_face_photos, write_frames, write_video

FACES = {"astronaut": astronaut, "grace_hopper": grace_hopper, "cameraman": cameraman}
FRAMES = 16


@pytest.fixture(scope="module")
def extractor():
    return Extractor(CueSettings())


def _clip(tmp_path, frames: np.ndarray, form: str):
    return write_frames(tmp_path / "clip", frames) and tmp_path / "clip" if form == "frames" else \
        write_video(tmp_path / "clip.mp4", frames)


@pytest.mark.parametrize("name", FACES)
def test_real_faces_are_confirmed_in_every_frame(tmp_path, extractor, name):
    cues = extractor.extract(_clip(tmp_path, panned(FACES[name](), FRAMES), "frames"))
    verdict = face_verdict(cues)
    assert verdict.measured and verdict.is_face
    assert verdict.confirmed == FRAMES and verdict.median_score > 0.7
    assert cues.face_score.dtype == np.float32 and cues.face_score.shape == (FRAMES,)


def test_a_real_face_in_a_raw_video_is_confirmed_on_the_whole_frame(tmp_path, extractor):
    # The face fills a fifth of the frame: the cues are cut to face crops, the score comes from the frame.
    cues = extractor.extract(_clip(tmp_path, panned(cameraman(), FRAMES, (240, 320), zoom=0.8), "mp4"))
    assert cues.boxes is not None and face_verdict(cues).confirmed == FRAMES


@pytest.mark.parametrize("form", ["frames", "mp4"])
@pytest.mark.parametrize("name", ["cat", "motorcycle", "coffee", "rocket"])
def test_non_faces_are_refused_or_flagged(tmp_path, extractor, name, form):
    frames = panned(non_face_photos()[name], FRAMES)
    try:
        cues = extractor.extract(_clip(tmp_path, frames, form))
    except UserError as exc:  # the mesh found nothing at all: the clip fails as before
        assert "no face was found" in str(exc)
        return
    verdict = face_verdict(cues)
    assert not verdict.is_face and verdict.share < MIN_SHARE, verdict.text()


def test_the_mesh_alone_would_take_the_cat_for_a_face(tmp_path, extractor):
    """What the face score is for: without it the cat clip counts as a face clip with landmarks on fur."""
    cues = extractor.extract(_clip(tmp_path, panned(non_face_photos()["cat"], FRAMES), "mp4"))
    assert cues.valid.sum() > 0 and face_verdict(cues).confirmed == 0


def test_face_scores_round_trip_and_older_stores_are_unmeasured(tmp_path):
    store = CueStore(tmp_path)
    n = 4
    base = dict(landmarks=np.zeros((n, 68, 2), np.float32), valid=np.ones(n, bool),
                parsing=np.zeros((n, 4, 4), np.uint8), frame_size=(4, 4))
    store.save("scored", ClipCues(**base, face_score=np.array([0.9, 0.8, 0.0, 0.0], np.float32)))
    store.save("old", ClipCues(**base))
    scored = store.load("scored", parsing=False)
    assert scored.face_score.tolist() == pytest.approx([0.9, 0.8, 0.0, 0.0])
    verdict = face_verdict(scored)
    assert verdict.confirmed == 2 and verdict.share == 0.5 and verdict.is_face
    assert not face_verdict(scored, min_share=0.75).is_face
    old = face_verdict(store.load("old"))
    assert not old.measured and old.is_face  # written before face scores: nothing to judge by
    with pytest.raises(ValueError, match="face_score"):
        ClipCues(**base, face_score=np.zeros(3, np.float32))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return random_checkpoint(tmp_path_factory.mktemp("ckpt") / "b16", "B16", seed=0, num_frames=FRAMES)


def test_predict_refuses_a_cat_in_one_sentence(tmp_path, checkpoint, capsys):
    video = write_video(tmp_path / "cat.mp4", panned(non_face_photos()["cat"], FRAMES))
    assert main(["predict", str(video), "--checkpoint", str(checkpoint), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert err.startswith("finecliper predict: error: clip ") and "shows no real face" in err
    assert "\n" not in err and "Traceback" not in err


def test_predict_notes_a_clip_with_too_little_real_face(tmp_path, checkpoint):
    # Half of the clip shows the astronaut, half a cup of coffee; at a required share of 3/4 that is too little.
    frames = np.concatenate([panned(astronaut(), FRAMES)[: FRAMES // 2], panned(non_face_photos()["coffee"], FRAMES // 2)])
    clip = write_frames(tmp_path / "half", frames) and tmp_path / "half"
    strict = Predictor(checkpoint, ["data.face_min_share=0.75"]).predict(clip)
    assert any(note.startswith("little real face: a face was confirmed in ") for note in strict.notes), strict.notes
    assert not any("real face" in note for note in Predictor(checkpoint).predict(clip).notes)
