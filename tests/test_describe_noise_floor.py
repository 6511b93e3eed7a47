"""The landmark describer on real trackers' landmarks: still faces in any pose are still, real movement is not.

Still photos of real faces (frontal, in near profile, flipped, rotated, warped as if turned), panned
through clips and tracked by MediaPipe, must be described as still: the describer measures each signal's
noise in the clip and reports only movement well above it. Synthetic faces whose expression moves, tracked
by the same MediaPipe, must still get their movements.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from builders import panned, still
from finecliper.cues.extract import CueSettings, Extractor
from finecliper.data.face_verdict import face_verdict
from finecliper.describe.landmark_describer import describe_cues, describe_landmarks, noise_level
from finecliper.synth.generate import plan_dataset, render_clip
from finecliper.synth.settings import SynthSettings
from media import astronaut, cameraman, grace_hopper, write_frames

STILL = "The face stays still throughout the clip."


def _rotated(photo: np.ndarray, degrees: float) -> np.ndarray:
    h, w = photo.shape[:2]
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(photo, rot, (w, h), borderMode=cv2.BORDER_REPLICATE)


def _turned(photo: np.ndarray, k: float) -> np.ndarray:
    """The photo in perspective, one side shrunk by k of the height, like a head turned away."""
    h, w = photo.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[0, 0], [w, h * k], [w, h * (1 - k)], [0, h]])
    return cv2.warpPerspective(photo, cv2.getPerspectiveTransform(src, dst), (w, h), borderMode=cv2.BORDER_REPLICATE)


# Before the noise floor, the cameraman (near profile) got 5-6 invented movements and the flipped astronaut one.
STILL_PHOTOS = {
    "cameraman": (cameraman, (224, 224)),
    "cameraman_raw": (cameraman, (240, 320)),
    "astronaut_flipped": (lambda: astronaut()[:, ::-1].copy(), (224, 224)),
    "grace_hopper_rotated": (lambda: _rotated(grace_hopper(), 25), (224, 224)),
    "astronaut_turned": (lambda: _turned(astronaut(), 0.2), (224, 224)),
}
# Known and left: on this pan MediaPipe settles on the rotated face over its first four frames (brow height
# 0.22 -> 0.27 IOD, then flat), a sustained change from the clip's start that no per-signal noise floor can
# tell from a real brow raise; it is reported as "the eyebrows gradually rise slightly".
SETTLING = {"grace_hopper_rotated"}


@pytest.fixture(scope="module")
def extractor():
    return Extractor(CueSettings())


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason="tracker settling at the clip's start"))
    if n in SETTLING else n for n in STILL_PHOTOS
])
def test_still_real_faces_in_any_pose_are_still(tmp_path, extractor, name):
    photo, size = STILL_PHOTOS[name]
    zoom = 1.3 if size == (224, 224) else 0.8  # a face crop, or a face in a wider frame
    write_frames(tmp_path / "clip", panned(photo(), 24, size, zoom=zoom))
    cues = extractor.extract(tmp_path / "clip")
    assert face_verdict(cues).is_face
    assert describe_cues(cues).text == STILL


def test_synthetic_expressions_tracked_by_mediapipe_keep_their_movements(tmp_path, extractor):
    """Faces drawn with a moving expression (and blinks, speech, head motion), tracked by MediaPipe: their
    movements are reported, and for most clips among them movements of the drawn landmarks' own description
    (MediaPipe reads the drawn smile of one clip as a jaw drop, not as stretched lips)."""
    settings = SynthSettings(train_identities=2, test_identities=1, frames=24, size=224)
    first = {}
    for c in plan_dataset(settings):
        first.setdefault(c.label, c)  # the first clip of each class
    clips = [first[label] for label in ("anger", "happiness", "fear", "surprise")]
    agree = {}
    for clip in clips:
        frames, _, drawn = render_clip(settings, clip)
        write_frames(tmp_path / clip.id, frames)
        cues = extractor.extract(tmp_path / clip.id)
        assert face_verdict(cues).is_face
        tracked = {m.feature for m in describe_cues(cues).movements}
        truth = {m.feature for m in describe_landmarks(drawn).movements}
        assert tracked, f"{clip.label}: no movement reported; drawn {truth}"
        agree[clip.id] = bool(tracked & truth)
    assert len(clips) == 4 and sum(agree.values()) >= 3, agree


def test_noise_level_measures_jitter_not_movement():
    rng = np.random.default_rng(0)
    jitter = rng.normal(0, 0.02, 400)
    assert noise_level(jitter) == pytest.approx(0.02, rel=0.15)
    ramp = np.linspace(0, 1, 400)  # a steady drift
    step = np.r_[np.zeros(200), np.ones(200)]  # one sudden change
    assert noise_level(ramp) == pytest.approx(0.0, abs=1e-9) and noise_level(step) == 0.0
    assert noise_level(ramp + jitter) == pytest.approx(noise_level(jitter), rel=0.15)
    assert noise_level(np.ones(3)) == 0.0  # too short to tell


def test_a_movement_below_the_clips_noise_floor_is_not_reported():
    """The same brow raise is reported on steady landmarks and dropped on landmarks that jitter as much."""
    tracks = still(24, noise=0.0)
    tracks[12:, 17:27, 1] -= 4  # brows up by 0.067 IOD: "slightly" above its 0.04 threshold
    assert [m.feature for m in describe_landmarks(tracks).movements] == ["brow_height"]
    rng = np.random.default_rng(1)
    jittery = tracks.copy()
    jittery[:, 17:27, 1] += rng.normal(0, 3.0, (24, 1))  # brow jitter of 3 px (0.05 IOD): a floor of ~0.2 IOD
    assert "brow_height" not in [m.feature for m in describe_landmarks(jittery).movements]
