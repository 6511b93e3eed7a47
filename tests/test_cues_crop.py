"""Face detection, main-face tracking, box smoothing and cropping for clips that are not face crops."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from finecliper.cues.face_crop import (
    crop_box,
    detect_faces,
    looks_like_face_crop,
    main_face_boxes,
    smooth_boxes,
)
from finecliper.cues.mediapipe_backend import FaceDetector, quiet_native_stderr
from finecliper.data.images import crop_square as crop
from media import astronaut, grace_hopper


def _det(*boxes):
    return np.array(boxes, dtype=np.float64).reshape(-1, 5)


def test_face_crops_and_scenes_are_told_apart():
    with quiet_native_stderr(), FaceDetector() as detect:
        photo = astronaut()
        crop_224 = cv2.resize(photo[30:290, 95:355], (224, 224))
        scene = np.zeros((720, 1280, 3), np.uint8)
        scene[200:456, 600:856] = cv2.resize(photo, (256, 256))
        blank = np.zeros((224, 224, 3), np.uint8)
        assert looks_like_face_crop([detect(crop_224)], (224, 224)) is True
        assert looks_like_face_crop([detect(grace_hopper()[100:400, 120:420])], (300, 300)) is True
        found = detect(scene)
        assert len(found) == 1 and 600 < found[0, 0] < found[0, 2] < 856  # the face, in frame pixels
        assert looks_like_face_crop([found], (720, 1280)) is False
        assert looks_like_face_crop([detect(blank)], (224, 224)) is None  # undecided: mesh decides
        # A face of ~60 px in 720p: too small for the detector on the whole (shrunk) frame, found in tiles.
        far = np.zeros((720, 1280, 3), np.uint8)
        far[300:607, 900:1207] = cv2.resize(photo, (307, 307))
        assert len(detect(far)) == 0
        found = detect_faces(detect, far)
        assert len(found) == 1 and 1000 < found[0, 0] < found[0, 2] < 1100 and 330 < found[0, 1] < found[0, 3] < 430


def test_main_face_is_the_large_lasting_one():
    big = (100, 100, 200, 200, 0.9)
    small = (10, 10, 40, 40, 0.95)
    dets = [_det(big, small), _det(small), _det(small), _det((104, 102, 204, 202, 0.9), small), _det(big)]
    boxes = main_face_boxes(dets)
    assert np.isnan(boxes[1:3]).all()  # the big face was not seen there: not replaced by the small one
    assert boxes[3, 0] == 104 and boxes[0, 0] == boxes[4, 0] == 100
    # A second person entering late does not take over.
    dets = [_det(big)] * 5 + [_det(big, (300, 100, 420, 220, 0.99))] * 2
    assert np.all(main_face_boxes(dets)[:, 0] == 100)
    assert np.isnan(main_face_boxes([_det(), _det()])).all()


def test_boxes_are_filled_and_smoothed():
    raw = np.array([[0, 0, 10, 10], [np.nan] * 4, [4, 0, 14, 10], [6, 0, 16, 10]] + [[6, 0, 16, 10]] * 6, float)
    out = smooth_boxes(raw, window=1)  # no smoothing: only the gap is filled, linearly
    assert out.shape == (10, 4) and out[1, 0] == pytest.approx(7.0) and out[1, 2] == pytest.approx(10.0)
    jitter = np.array([[100 + (-1) ** i * 4, 100, 200 + (-1) ** i * 4, 200] for i in range(20)], float)
    smooth = smooth_boxes(jitter)
    assert np.ptp(smooth[5:15, 0]) < np.ptp(jitter[5:15, 0]) / 4  # detector jitter averaged out
    with pytest.raises(ValueError):
        smooth_boxes(np.full((3, 4), np.nan))


def test_crop_is_square_with_margin_and_pads_outside_the_frame():
    x0, y0, side = crop_box(np.array([50.0, 40.0, 60.0, 50.0]))
    assert side == 96 and x0 == 2 and y0 == round(40 + 5 - 48)
    frame = np.arange(30 * 40 * 3, dtype=np.uint32).reshape(30, 40, 3).astype(np.uint8)
    patch = crop(frame, np.array([-5, 10, 20]))
    assert patch.shape == (20, 20, 3)
    assert (patch[:, :5] == 0).all() and (patch[:, 5:] == frame[10:30, 0:15]).all()
    assert crop(frame, np.array([100, 100, 8])).sum() == 0  # entirely outside: black
