"""Paired transforms and cue renderings: frames, parsing maps and landmarks move together."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from finecliper.config.experiment import AugmentConfig
from finecliper.data.color import color_jitter
from finecliper.data.cue_kinds import CUE_KINDS
from finecliper.data.cue_kinds.landmarks import dot_radius, render_landmarks
from finecliper.data.cue_kinds.parsing import render_parsing, resize_parsing
from finecliper.data.face_boxes import crop_frames
from finecliper.data.normalize import CLIP_MEAN, CLIP_STD, denormalize, normalize, normalize_tensor
from finecliper.data.palettes import PALETTES, get_palette
from finecliper.data.spatial import SpatialParams, center_box, sample_spatial
from finecliper.data.transforms import apply_spatial
from finecliper.errors import UserError
from finecliper.face_layout import LANDMARK_FLIP, LEFT_EYE, PARSING_INDEX, RIGHT_EYE
from media import astronaut

RED, BLUE = (255, 0, 0), (0, 0, 255)


def _face_layout(height: int, width: int, t: int = 2):
    """Synthetic face: eye landmarks and a parsing map with the subject's eyes where they belong.

    In an upright frontal image the subject's right eye (36-41) is on the image's left.
    """
    rng = np.random.default_rng(1)
    landmarks = rng.uniform([0.2 * width, 0.6 * height], [0.8 * width, 0.9 * height], size=(t, 68, 2))
    right_c, left_c = (0.3 * width, 0.35 * height), (0.7 * width, 0.35 * height)
    angles = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    ring = np.stack([np.cos(angles), 0.5 * np.sin(angles)], axis=1) * 0.06 * width  # (6, 2)
    landmarks[:, RIGHT_EYE] = np.array(right_c) + ring
    landmarks[:, LEFT_EYE] = np.array(left_c) + ring
    parsing = np.full((t, height, width), PARSING_INDEX["skin"], np.uint8)
    yy, xx = np.mgrid[0:height, 0:width] + 0.5
    for centre, name in ((right_c, "right_eye"), (left_c, "left_eye")):
        inside = ((xx - centre[0]) / (0.1 * width)) ** 2 + ((yy - centre[1]) / (0.06 * width)) ** 2 < 1
        parsing[:, inside] = PARSING_INDEX[name]
    return landmarks.astype(np.float32), parsing


def _classes_under(parsing: np.ndarray, points: np.ndarray) -> np.ndarray:
    x = np.floor(points[..., 0]).astype(int)
    y = np.floor(points[..., 1]).astype(int)
    return parsing[np.arange(len(parsing))[:, None], y, x]


@pytest.mark.parametrize("seed", range(6))
def test_marker_stays_under_its_landmark_after_crop_and_flip(seed):
    h, w, size = 180, 240, 64
    landmarks, _ = _face_layout(h, w)
    frames = np.zeros((2, h, w, 3), np.uint8)
    # Mark right-eye corner 36 red and left-eye corner 45 blue: after the flip index 36 must be on blue.
    for i in range(2):
        cv2.circle(frames[i], tuple(int(v) for v in landmarks[i, 36]), 6, RED, -1)
        cv2.circle(frames[i], tuple(int(v) for v in landmarks[i, 45]), 6, BLUE, -1)
    cfg = AugmentConfig(scale=[0.6, 1.0], flip_p=1.0)
    params = sample_spatial(h, w, cfg, train=True, rng=np.random.default_rng(seed))
    assert params.flip
    out, _, lm = apply_spatial(params, size, frames=frames, landmarks=landmarks)
    assert out.shape == (2, size, size, 3)
    for i in range(2):
        x36, y36 = np.floor(lm[i, 36]).astype(int)
        x45, y45 = np.floor(lm[i, 45]).astype(int)
        if 0 <= x36 < size and 0 <= y36 < size:
            assert out[i, y36, x36, 2] > 150 and out[i, y36, x36, 0] < 100  # blue: what was point 45
        if 0 <= x45 < size and 0 <= y45 < size:
            assert out[i, y45, x45, 0] > 150 and out[i, y45, x45, 2] < 100  # red: what was point 36
        # The subject's right eye (36) is still on the image's left of its left eye (45).
        assert lm[i, 36, 0] < lm[i, 45, 0]


@pytest.mark.parametrize("flip", [False, True])
def test_every_landmark_marker_follows_crop(flip):
    h, w, size = 120, 160, 48
    rng = np.random.default_rng(3)
    points = rng.uniform([40, 30], [120, 90], size=(1, 5, 2)).astype(np.float32)
    frames = np.zeros((1, h, w, 3), np.uint8)
    for x, y in points[0]:
        cv2.circle(frames[0], (int(x), int(y)), 5, (255, 255, 255), -1)
    params = SpatialParams(30, 20, 100, 80, flip=flip)
    lm = np.zeros((1, 68, 2), np.float32)
    lm[0, :5] = points[0]
    out, _, lm_out = apply_spatial(params, size, frames=frames, landmarks=lm)
    # With a flip the indices were swapped too; LANDMARK_FLIP is its own inverse.
    moved = lm_out[0][LANDMARK_FLIP] if flip else lm_out[0]
    for x, y in moved[:5]:
        assert out[0, int(y), int(x)].min() > 200


def test_flip_twice_is_identity():
    frames = astronaut()[::4, ::4][None].repeat(3, axis=0)  # (3, 128, 128, 3)
    h, w = frames.shape[1:3]
    landmarks, parsing = _face_layout(h, w, t=3)
    flip = SpatialParams(0, 0, w, h, flip=True)
    once = apply_spatial(flip, w, frames, parsing, landmarks)
    twice = apply_spatial(flip, w, *once)
    np.testing.assert_array_equal(twice[0], frames)
    np.testing.assert_array_equal(twice[1], parsing)
    np.testing.assert_allclose(twice[2], landmarks, atol=1e-4)
    assert not np.array_equal(once[0], frames)


def test_eye_points_and_parsing_swap_consistently_on_flip():
    h, w = 120, 160
    landmarks, parsing = _face_layout(h, w)
    assert (_classes_under(parsing, landmarks[:, LEFT_EYE]) == PARSING_INDEX["left_eye"]).all()
    size = 96
    params = SpatialParams(10, 5, 140, 110, flip=True)
    _, par, lm = apply_spatial(params, size, parsing=parsing, landmarks=landmarks)
    # The original left-eye points, mirrored, land on the region the flipped map calls the right eye...
    mirrored = landmarks[:, LEFT_EYE].copy()
    mirrored[..., 0] = size - (mirrored[..., 0] - params.x0) * size / params.w
    mirrored[..., 1] = (mirrored[..., 1] - params.y0) * size / params.h
    assert (_classes_under(par, mirrored) == PARSING_INDEX["right_eye"]).all()
    # ...and after the index swap, each eye's points sit on that eye's region.
    assert (_classes_under(par, lm[:, RIGHT_EYE]) == PARSING_INDEX["right_eye"]).all()
    assert (_classes_under(par, lm[:, LEFT_EYE]) == PARSING_INDEX["left_eye"]).all()
    # The subject's right eye is on the image's left in both.
    assert lm[:, RIGHT_EYE, 0].mean() < lm[:, LEFT_EYE, 0].mean()


def test_parsing_stays_nearest_neighbour():
    _, parsing = _face_layout(100, 130)
    params = SpatialParams(7, 3, 91, 83)
    _, par, _ = apply_spatial(params, 61, parsing=parsing)
    assert par.dtype == np.uint8 and par.shape == (2, 61, 61)
    assert set(np.unique(par)) <= set(np.unique(parsing))
    small = resize_parsing(parsing, 50, 65)
    assert small.shape == (2, 50, 65) and set(np.unique(small)) <= set(np.unique(parsing))
    big = resize_parsing(small, 100, 130)
    assert (big == parsing).mean() > 0.97


def test_clip_resize_equals_per_frame_resize():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, size=(5, 70, 90, 3), dtype=np.uint8)
    for params, size in ((SpatialParams(4, 2, 60, 50), 64), (SpatialParams(0, 0, 90, 70), 32)):
        out, _, _ = apply_spatial(params, size, frames=frames)
        assert out.shape == (5, size, size, 3) and out.dtype == np.uint8
        for t in range(len(frames)):  # every frame comes out as it would alone: frames do not mix
            alone, _, _ = apply_spatial(params, size, frames=frames[t : t + 1])
            np.testing.assert_array_equal(out[t], alone[0])
    # Shrinking averages areas: a 1-px checkerboard becomes an even grey, not an aliased pattern.
    board = (np.indices((90, 90)).sum(axis=0) % 2 * 255).astype(np.uint8)
    board = np.repeat(board[None, :, :, None], 3, axis=3)  # (1, 90, 90, 3)
    small, _, _ = apply_spatial(SpatialParams(0, 0, 90, 90), 32, frames=board)
    assert np.abs(small.astype(int) - 127.5).max() <= 16
    # Enlarging interpolates: an edge becomes a monotone ramp inside the input's range (no overshoot,
    # and not nearest-neighbour blocks).
    edge = np.full((1, 10, 10, 3), 50, np.uint8)
    edge[:, :, 5:] = 200
    big, _, _ = apply_spatial(SpatialParams(0, 0, 10, 10), 40, frames=edge)
    row = big[0, 20, :, 0].astype(int)
    assert row.min() == 50 and row.max() == 200 and (np.diff(row) >= 0).all()
    assert ((row > 50) & (row < 200)).sum() >= 2


def test_test_mode_is_centre_square_and_deterministic():
    cfg = AugmentConfig()
    assert sample_spatial(100, 160, cfg, train=False) == center_box(100, 160) == SpatialParams(30, 0, 100, 100)
    with pytest.raises(UserError, match="generator"):
        sample_spatial(100, 160, cfg, train=True)


def test_random_boxes_respect_bounds_and_seed():
    cfg = AugmentConfig(scale=[0.5, 0.9])
    boxes = [sample_spatial(90, 120, cfg, True, np.random.default_rng(s)) for s in range(50)]
    for b in boxes:
        assert 0 <= b.x0 and b.x0 + b.w <= 120 and 0 <= b.y0 and b.y0 + b.h <= 90
        assert 0.45 <= b.w * b.h / (90 * 120) <= 0.95
    assert sample_spatial(90, 120, cfg, True, np.random.default_rng(7)) == boxes[7]
    assert 10 < sum(b.flip for b in boxes) < 40


def test_color_jitter_frames_only_and_seeded():
    frames = astronaut()[::8, ::8][None].repeat(2, axis=0)
    cfg = AugmentConfig(jitter_p=1.0)
    a = color_jitter(frames, cfg, np.random.default_rng(0))
    b = color_jitter(frames, cfg, np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.uint8 and a.shape == frames.shape and not np.array_equal(a, frames)
    np.testing.assert_array_equal(a[0], a[1])  # one set of factors per clip
    off = AugmentConfig(jitter_p=0.0)
    np.testing.assert_array_equal(color_jitter(frames, off, np.random.default_rng(0)), frames)
    neutral = AugmentConfig(jitter_p=1.0, brightness=0, contrast=0, saturation=0, hue=0)
    assert np.abs(color_jitter(frames, neutral, np.random.default_rng(0)).astype(int) - frames).max() <= 1


def test_normalize_uses_clip_statistics():
    images = np.zeros((2, 4, 4, 3), np.uint8)
    images[1] = 255
    x = normalize(images)
    assert x.shape == (2, 3, 4, 4) and x.dtype == torch.float32
    for c in range(3):
        assert x[0, c, 0, 0].item() == pytest.approx(-CLIP_MEAN[c] / CLIP_STD[c], rel=1e-5)
        assert x[1, c, 0, 0].item() == pytest.approx((1 - CLIP_MEAN[c]) / CLIP_STD[c], rel=1e-5)


def test_denormalize_inverts_normalize_and_normalize_tensor():
    images = np.random.default_rng(0).integers(0, 256, (3, 5, 7, 3), dtype=np.uint8)
    x = normalize(images)
    np.testing.assert_array_equal(denormalize(x), images)  # what the model read, shown as it was
    torch.testing.assert_close(normalize_tensor(torch.from_numpy(images)), x, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", PALETTES.names())
def test_render_in_each_palette(name):
    palette = get_palette(name)
    parsing = np.arange(11, dtype=np.uint8).reshape(1, 1, 11).repeat(2, axis=1)
    img = render_parsing(parsing, name)
    assert img.shape == (1, 2, 11, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img[0, 0], palette.parsing)
    assert len({tuple(c) for c in palette.parsing}) == 11  # every class its own colour
    assert (palette.parsing[PARSING_INDEX["background"]] == 0).all()
    frames = np.zeros((1, 32, 32, 3), np.uint8)
    dots = render_landmarks(frames, np.full((1, 68, 2), 16.5, np.float32), palette=name)
    assert tuple(dots[0, 16, 16]) == palette.landmarks
    with pytest.raises(UserError, match="class"):
        render_parsing(np.full((1, 2, 2), 11, np.uint8), name)


def test_default_palette_is_facexformers():
    """The paper's figures: FaceXFormer's colour mask and yellow landmark dots (docs/design.md §5)."""
    parsing = np.array([[[PARSING_INDEX["skin"], PARSING_INDEX["nose"], PARSING_INDEX["hair"], 0]]], np.uint8)
    assert render_parsing(parsing)[0, 0].tolist() == [[0, 153, 255], [255, 153, 0], [255, 0, 102], [0, 0, 0]]
    dots = render_landmarks(np.zeros((1, 32, 32, 3), np.uint8), np.full((1, 68, 2), 16.5, np.float32))
    assert tuple(dots[0, 16, 16]) == (255, 255, 0)
    assert get_palette("legacy").landmarks == (0, 255, 0)
    with pytest.raises(UserError, match="unknown palette 'paper'"):
        get_palette("paper")


def test_every_palette_colour_is_pinned():
    """Each class's colour, in face_layout.PARSING_CLASSES order: FaceXFormer's `visualize_mask` list, and the
    colours checkpoints recorded without a data.palette were trained on (a change breaks those checkpoints)."""
    assert get_palette("facexformer").parsing.tolist() == [
        [0, 0, 0], [0, 153, 255], [102, 255, 153], [0, 204, 153], [255, 255, 102], [255, 255, 204], [255, 153, 0],
        [255, 102, 255], [102, 0, 51], [255, 204, 255], [255, 0, 102]]
    assert get_palette("legacy").parsing.tolist() == [
        [0, 0, 0], [204, 153, 102], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255],
        [0, 255, 255], [128, 0, 128], [255, 128, 0], [90, 60, 30]]
    assert PALETTES.names() == ["facexformer", "legacy"]


def test_render_landmarks_dots_scale_and_validity():
    frames = np.zeros((3, 224, 224, 3), np.uint8)
    lm = np.full((3, 68, 2), 100.5, np.float32)
    lm[:, 1] = (10.5, 200.5)
    lm[:, 2] = (-50, 20)  # outside: ignored
    lm[:, 3] = np.nan  # missing: ignored
    out = render_landmarks(frames, lm, np.array([True, False, True]))
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert (out[1] == 0).all()  # no face found in frame 1: no dots
    assert out[0, 100, 100, 1] == 255 and out[0, 200, 10, 1] == 255
    r = dot_radius(224)
    assert r == 2 and dot_radius(32) == 1
    assert out[0, 100, 100 + r + 1].max() == 0  # dots are small
    assert (frames == 0).all()  # input untouched
    lit = (out[0, :, :, 1] > 0).sum()
    assert 2 * 9 <= lit <= 2 * 25  # two discs of radius 2


def test_face_boxes_cut_frames_parsing_and_landmarks_alike():
    # A raw clip: the face (here: eye markers and eye regions) moves and grows; its boxes follow it.
    t, h, w = 3, 120, 160
    boxes = np.array([[10, 5, 40], [50, 30, 44], [100, 60, 48]])
    landmarks = np.zeros((t, 68, 2), np.float32)
    frames = np.zeros((t, h, w, 3), np.uint8)
    parsing = np.zeros((t, h, w), np.uint8)
    for i, (x0, y0, side) in enumerate(boxes):
        landmarks[i, 36] = (x0 + 0.3 * side, y0 + 0.4 * side)
        landmarks[i, 45] = (x0 + 0.7 * side, y0 + 0.4 * side)
        cv2.circle(frames[i], tuple(int(v) for v in landmarks[i, 36]), 3, RED, -1)
        cv2.circle(frames[i], tuple(int(v) for v in landmarks[i, 45]), 3, BLUE, -1)
        cv2.circle(parsing[i], tuple(int(v) for v in landmarks[i, 36]), 4, PARSING_INDEX["right_eye"], -1)
        cv2.circle(parsing[i], tuple(int(v) for v in landmarks[i, 45]), 4, PARSING_INDEX["left_eye"], -1)
    parsing_kind, landmarks_kind = CUE_KINDS.get("parsing"), CUE_KINDS.get("landmarks")
    out = crop_frames(frames, boxes)
    out_parsing = parsing_kind.crop_to_boxes(parsing, boxes, (h, w), (h, w))
    lm = landmarks_kind.crop_to_boxes(landmarks, boxes, (h, w), (h, w))
    assert out.shape == (t, 44, 44, 3) and out_parsing.shape == (t, 44, 44)  # the median side
    for i in range(t):
        # The same place of the face in every crop, whatever the box's size.
        np.testing.assert_allclose(lm[i, 36], (0.3 * 44, 0.4 * 44), atol=1e-4)
        x36, y36 = np.floor(lm[i, 36]).astype(int)
        x45, y45 = np.floor(lm[i, 45]).astype(int)
        assert out[i, y36, x36, 0] > 150 and out[i, y45, x45, 2] > 150
        assert out_parsing[i, y36, x36] == PARSING_INDEX["right_eye"]
        assert out_parsing[i, y45, x45] == PARSING_INDEX["left_eye"]
    # Maps kept at half resolution are cut at their own scale: the same regions, the same output size.
    half = parsing_kind.crop_to_boxes(parsing[:, ::2, ::2], boxes, (h, w), (h, w))
    assert half.shape == (t, 44, 44) and (half == out_parsing).mean() > 0.97
    for i in range(t):
        x36, y36 = np.floor(lm[i, 36]).astype(int)
        x45, y45 = np.floor(lm[i, 45]).astype(int)
        assert half[i, y36, x36] == PARSING_INDEX["right_eye"] and half[i, y45, x45] == PARSING_INDEX["left_eye"]
    # A box reaching outside the frame is padded with black and background.
    outside = np.array([[-20, -20, 40]])
    out = crop_frames(frames[:1], outside)
    out_parsing = parsing_kind.crop_to_boxes(parsing[:1], outside, (h, w), (h, w))
    assert (out[0, :20] == 0).all() and (out_parsing[0, :, :20] == 0).all()
    half = parsing_kind.crop_to_boxes(parsing[:1, ::2, ::2], outside, (h, w), (h, w))
    assert (half[0, :, :20] == 0).all() and (half[0, :20] == 0).all()
    with pytest.raises(UserError, match="one face box"):
        crop_frames(frames, boxes[:2])
