"""Every registered cue kind loads, transforms, renders and round-trips through the cue store; the registry is
the model's cue branches; a kind added from outside needs no change to the store, dataset or batches."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from finecliper.config.model import IMAGE_BRANCHES
from finecliper.data.cue_kinds import CUE_KINDS, CueKind
from finecliper.data.cue_store import ClipCues, CueStore
from finecliper.data.dataset import ClipDataset
from finecliper.data.face_boxes import crop_maps
from finecliper.data.images import resize_stack
from finecliper.data.loader import collate
from finecliper.data.manifest import ClipRecord
from finecliper.data.palettes import PALETTES, get_palette
from finecliper.data.prepare import prepare_batch
from finecliper.data.spatial import SpatialParams, center_box
from finecliper.errors import UserError
from media import numbered_frames, write_frames

KINDS = CUE_KINDS.names()
N, H, W = 6, 40, 50  # frames of the example clips, and their size


def _cues(rng: np.random.Generator, height: int = H, width: int = W) -> ClipCues:
    """A clip's cues holding every registered kind's example array."""
    arrays = {name: kind.example(N, height, width, rng) for name, kind in CUE_KINDS.items()}
    return ClipCues(landmarks=arrays.pop("landmarks"), valid=np.arange(N) % 3 > 0, parsing=arrays.pop("parsing"),
                    frame_size=(height, width), extra=arrays)


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.allclose(a, b, atol=1e-4)


def test_the_registry_is_the_models_cue_branches():
    # The model's image branches are the frames ("video") and one per cue kind, in the same order.
    assert KINDS == [branch for branch in IMAGE_BRANCHES if branch != "video"]


def test_an_unknown_kind_is_one_sentence_listing_the_registry(tmp_path):
    with pytest.raises(UserError, match=f"unknown cue kind 'depth'; known: {', '.join(KINDS)}"):
        CUE_KINDS.get("depth")
    with pytest.raises(UserError, match=f"unknown cue kind 'depth'; known: {', '.join(KINDS)}"):
        ClipDataset([], ["anger"], cues=tmp_path, branches=["depth"])


@pytest.mark.parametrize("name", KINDS)
def test_kind_loads_exactly_the_frames_asked_for(name):
    kind, cues = CUE_KINDS.get(name), _cues(np.random.default_rng(0))
    kind.check(cues.array(name), N)
    with pytest.raises(ValueError):
        kind.check(cues.array(name)[:-1], N)  # one frame short
    idx = np.array([0, 2, 2, 5])
    loaded = kind.load(cues, idx, (H, W))
    assert _close(loaded, cues.array(name)[idx])
    # Frames read at twice the size the cues were computed at: the cues follow them.
    twice = kind.load(cues, idx, (2 * H, 2 * W))
    assert _close(kind.side_x(twice), 2 * kind.side_x(loaded))


@pytest.mark.parametrize("name", KINDS)
def test_a_flip_twice_is_the_identity(name):
    kind = CUE_KINDS.get(name)
    data = kind.load(_cues(np.random.default_rng(1), H, H), np.arange(N), (H, H))
    flip = SpatialParams(0, 0, H, H, flip=True)
    once = kind.transform(data, flip, H)
    assert not _close(once, data)
    assert _close(kind.transform(once, flip, H), data)


@pytest.mark.parametrize("name", KINDS)
@pytest.mark.parametrize(("box", "size", "tolerance"), [((0, 0, H, H), H, 1e-4), ((4, 2, 30, 34), 24, 1.0)])
def test_a_flip_swaps_the_subjects_left_and_right(name, box, size, tolerance):
    kind = CUE_KINDS.get(name)
    data = kind.load(_cues(np.random.default_rng(2), H, H), np.arange(N), (H, H))
    sides = kind.side_x(data)  # (T, 2): the subject's right, then left
    assert (sides[:, 0] < sides[:, 1]).all()  # an upright frontal face: the subject's right on the image's left
    plain = kind.side_x(kind.transform(data, SpatialParams(*box), size))
    flipped = kind.side_x(kind.transform(data, SpatialParams(*box, flip=True), size))
    # The mirror image of the subject's left side is the flipped face's right side, and vice versa; so the
    # subject's right stays on the image's left.
    np.testing.assert_allclose(flipped, size - plain[:, ::-1], atol=tolerance)
    assert (flipped[:, 0] < flipped[:, 1]).all()


@pytest.mark.parametrize("name", KINDS)
@pytest.mark.parametrize("size", [24, 57])
@pytest.mark.parametrize("palette", PALETTES.names())
def test_kind_renders_an_image_at_the_requested_size(name, size, palette):
    kind, cues = CUE_KINDS.get(name), _cues(np.random.default_rng(3))
    data = kind.transform(kind.load(cues, np.arange(N), (H, W)), center_box(H, W), size)
    black = np.zeros((N, size, size, 3), np.uint8)
    image = kind.render(data, black, np.ones(N, bool), get_palette(palette))
    assert image.shape == (N, size, size, 3) and image.dtype == np.uint8
    assert image.reshape(N, -1).any(axis=1).all()  # something is drawn in every frame


@pytest.mark.parametrize("name", KINDS)
def test_kind_round_trips_through_the_cue_store(name, tmp_path):
    kind, cues = CUE_KINDS.get(name), _cues(np.random.default_rng(4))
    store = CueStore(tmp_path)
    store.save("clip/1", cues)
    loaded = store.load("clip/1", kinds=[name])
    assert loaded.array(name).dtype == kind.dtype and np.array_equal(loaded.array(name), cues.array(name))
    # Only the kind asked for is decompressed, next to the face track (landmarks) every reader gets.
    assert set(loaded.cue_arrays()) == {name, "landmarks"}
    assert loaded.frame_size == (H, W) and np.array_equal(loaded.valid, cues.valid)


@pytest.mark.parametrize("name", KINDS)
def test_the_dataset_returns_each_kind_it_is_asked_for(name, tmp_path):
    write_frames(tmp_path / "a", numbered_frames(N, size=H), ext="png")
    store = CueStore(tmp_path / "cues")
    store.save("a", _cues(np.random.default_rng(5), H, H))
    record = ClipRecord("a", "a", "anger", N, "train", 1, "dfew", "faces", str(tmp_path))
    data = ClipDataset([record], ["anger"], train=True, num_frames=4, size=32, cues=store.root, branches=[name])
    batch = collate([data[0], data[0]])
    assert set(batch) == {"frames", name, "palette", "descriptions", "description_rows", "labels", "ids"}
    assert prepare_batch(batch, "cpu")[name].shape == (2, 4, 3, 32, 32)  # the model's input, made on the device


class Depth(CueKind):
    """A cue kind from outside the package: a per-pixel depth map, resized bilinearly, drawn in grey."""

    name = "depth"
    dtype = np.float32

    def check(self, array, num_frames):
        if array.shape[:1] != (num_frames,) or array.ndim != 3:
            raise ValueError("depth must be (N, h, w)")

    def fit(self, data, stored_size, frame_size):
        return resize_stack(data, *frame_size, cv2.INTER_LINEAR)

    def crop_to_boxes(self, data, boxes, stored_size, frame_size):
        return crop_maps(data, boxes, frame_size, cv2.INTER_LINEAR)

    def transform(self, data, params, size):
        return params.images(data, size, cv2.INTER_LINEAR)

    def render(self, data, frames, valid, palette):
        return np.repeat((np.clip(data, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=-1)

    def example(self, num_frames, height, width, rng):
        return np.tile(np.linspace(0.2, 1, width, dtype=np.float32), (num_frames, height, 1))

    def side_x(self, data):
        return np.zeros((len(data), 2))


def test_a_new_kind_needs_no_change_to_the_store_dataset_or_batches(tmp_path, monkeypatch):
    monkeypatch.setitem(CUE_KINDS._entries, "depth", Depth())  # registered for this test only
    write_frames(tmp_path / "a", numbered_frames(N, size=H), ext="png")
    store = CueStore(tmp_path / "cues")
    cues = _cues(np.random.default_rng(6), H, H)
    assert "depth" in cues.extra
    store.save("a", cues)
    assert np.array_equal(store.load("a").extra["depth"], cues.extra["depth"])
    assert "depth" not in store.load("a", kinds=["parsing"]).extra  # left compressed
    record = ClipRecord("a", "a", "anger", N, "train", 1, "dfew", "faces", str(tmp_path))
    data = ClipDataset([record], ["anger"], num_frames=4, size=32, cues=store.root, branches=["depth", "parsing"])
    batch = prepare_batch(collate([data[0]]), "cpu")  # the model's inputs, as training makes them
    assert batch["depth"].shape == batch["parsing"].shape == (1, 4, 3, 32, 32)
    assert data.branches == ["parsing", "depth"]  # the registry's order
