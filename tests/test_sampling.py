"""Frame sampling: TSN segments, deterministic test mode, short clips repeat frames."""

from __future__ import annotations

import numpy as np
import pytest

from finecliper.data.sampling import sample_indices
from finecliper.errors import UserError

LENGTHS = [1, 15, 16, 17, 500]


def _check(idx: np.ndarray, length: int, n: int) -> None:
    assert idx.dtype == np.int64
    assert idx.shape == (n,)
    assert idx.min() >= 0 and idx.max() < length
    assert np.all(np.diff(idx) >= 0)


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("train", [False, True])
def test_in_range_and_non_decreasing(length, train):
    rng = np.random.default_rng(0)
    for _ in range(50 if train else 1):
        _check(sample_indices(length, 16, train=train, rng=rng), length, 16)


@pytest.mark.parametrize("length", LENGTHS)
def test_test_mode_is_deterministic(length):
    a = sample_indices(length, 16)
    b = sample_indices(length, 16, train=False, rng=np.random.default_rng(123))
    np.testing.assert_array_equal(a, b)


def test_test_mode_takes_segment_middles():
    np.testing.assert_array_equal(sample_indices(16, 16), np.arange(16))
    np.testing.assert_array_equal(sample_indices(32, 16), np.arange(16) * 2 + 1)
    np.testing.assert_array_equal(sample_indices(500, 4), [62, 187, 312, 437])


def test_short_clips_repeat_every_frame_deterministically():
    assert sample_indices(1, 16).tolist() == [0] * 16
    idx = sample_indices(15, 16)
    assert sorted(set(idx.tolist())) == list(range(15))  # every frame used, one of them twice
    rng = np.random.default_rng(5)
    for _ in range(5):  # training mode repeats the same way: nothing random to choose
        np.testing.assert_array_equal(sample_indices(15, 16, train=True, rng=rng), idx)
    assert np.bincount(sample_indices(4, 16)).tolist() == [4, 4, 4, 4]


def test_train_mode_one_frame_per_segment_and_seeded():
    length, n = 500, 16
    seen = set()
    for seed in range(20):
        idx = sample_indices(length, n, train=True, rng=np.random.default_rng(seed))
        # Each index is a frame that overlaps its own segment [k, k + 1) * length / n.
        k = np.arange(n)
        assert np.all(idx >= np.floor(k * length / n)) and np.all(idx < np.ceil((k + 1) * length / n))
        again = sample_indices(length, n, train=True, rng=np.random.default_rng(seed))
        np.testing.assert_array_equal(idx, again)
        seen.add(tuple(idx.tolist()))
    assert len(seen) > 15  # training really is random across seeds


def test_train_mode_covers_the_whole_segment():
    rng = np.random.default_rng(0)
    hits = np.concatenate([sample_indices(64, 16, train=True, rng=rng) for _ in range(400)])
    assert set(hits.tolist()) == set(range(64))


def test_other_segment_counts():
    _check(sample_indices(17, 8), 17, 8)
    _check(sample_indices(3, 1, train=True, rng=np.random.default_rng(0)), 3, 1)


def test_bad_arguments():
    with pytest.raises(UserError, match="0 frames"):
        sample_indices(0)
    with pytest.raises(UserError, match="segments"):
        sample_indices(10, 0)
    with pytest.raises(UserError, match="generator"):
        sample_indices(100, 16, train=True)
