"""The clip dataset: sampled frames, cues of exactly those frames, labels by name, seeding, collate."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from finecliper.cli import main
from finecliper.config.experiment import AugmentConfig
from finecliper.data.cue_store import ClipCues, CueStore
from finecliper.data.dataset import ClipDataset
from finecliper.data.descriptions import append_record
from finecliper.data.loader import collate, worker_init
from finecliper.data.manifest import ClipRecord
from finecliper.data.normalize import CLIP_MEAN, CLIP_STD
from finecliper.data.palettes import DEFAULT_PALETTE, get_palette
from finecliper.data.prepare import prepare_batch
from finecliper.datasets import class_names
from finecliper.errors import UserError
from finecliper.face_layout import PARSING_INDEX
from media import numbered_frames, write_frames, write_video

CLASSES = class_names("dfew")
SIZE = 32

PARSING_PALETTE = get_palette(DEFAULT_PALETTE).parsing  # the renderings' colours by default
LANDMARK_COLOR = get_palette(DEFAULT_PALETTE).landmarks


def _rgb(item: dict, key: str) -> np.ndarray:
    """The model's image `key` of one item (through the batch's device-side input stage) as (T, S, S, 3) uint8."""
    return _denorm(prepare_batch(collate([item]), "cpu")[key][0])


def _denorm(x: torch.Tensor) -> np.ndarray:
    """(T, 3, S, S) normalised -> (T, S, S, 3) uint8."""
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return (x * std + mean).mul(255).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def _record(root, clip_id, path, n, label="anger", caption=None):
    return ClipRecord(clip_id, path, label, n, "train", 1, "dfew", "clip_224x224", str(root), caption=caption)


@pytest.fixture
def clips(tmp_path):
    """Two frame-folder clips (32 and 5 frames, 40 px) and one video (20 frames), with cues for all but c."""
    write_frames(tmp_path / "a", numbered_frames(32, size=40), ext="png")
    write_frames(tmp_path / "b", numbered_frames(5, size=40, seed=1), ext="png")
    write_video(tmp_path / "c.mp4", numbered_frames(20, size=40))
    store = CueStore(tmp_path / "cues")
    for clip_id, n in (("a", 32), ("b", 5)):
        landmarks = np.full((n, 68, 2), 20.0, np.float32)
        landmarks[:, 1] = (5.0, 35.0)
        # Frame i's parsing map is all class i % 11, stored at half resolution: it tells which frame it was.
        parsing = (np.arange(n) % 11).astype(np.uint8)[:, None, None].repeat(20, 1).repeat(20, 2)
        valid = np.arange(n) % 2 == 0  # odd frames: no face found
        store.save(clip_id, ClipCues(landmarks, valid, parsing, (40, 40)))
    records = [_record(tmp_path, "a", "a", 32, "anger"), _record(tmp_path, "b", "b", 5, "fear"),
               _record(tmp_path, "c", "c.mp4", 20, "happiness")]
    return tmp_path, records, store


def test_item_shapes_labels_and_frame_order(clips):
    root, records, _ = clips
    ds = ClipDataset(records, CLASSES, num_frames=4, size=SIZE)
    item = ds[0]
    assert item["frames"].shape == (4, SIZE, SIZE, 3) and item["frames"].dtype == torch.uint8  # lean: docs §4
    assert item["label"] == CLASSES.index("anger") and ds[1]["label"] == CLASSES.index("fear")
    assert item["id"] == "a" and item["description"] is None
    assert "parsing" not in item and "landmarks" not in item
    brightness = _rgb(item, "frames").reshape(4, -1).mean(axis=1)
    assert np.all(np.diff(brightness) > 0)  # frames 4, 12, 20, 28 in order
    video = ds[2]
    assert video["frames"].shape == (4, SIZE, SIZE, 3) and video["label"] == 0


def test_labels_by_name_through_the_class_list(clips):
    _, records, _ = clips
    reordered = list(reversed(CLASSES))
    assert ClipDataset(records, reordered, num_frames=4, size=SIZE)[0]["label"] == reordered.index("anger")
    bad = [ClipRecord("z", "a", "contempt", 32, "train", 1, "mafw", "faces", records[0].root)]
    with pytest.raises(UserError, match="contempt"):
        ClipDataset(bad, CLASSES)
    compound = [ClipRecord("a", "a", ["anger", "disgust"], 32, "train", 1, "mafw-compound", "faces",
                           records[0].root)]
    assert ClipDataset(compound, ["anger", "anger_disgust"], num_frames=2, size=SIZE)[0]["label"] == 1


def test_cues_of_exactly_the_sampled_frames(clips):
    _, records, store = clips
    ds = ClipDataset(records[:2], CLASSES, num_frames=4, size=SIZE, cues=store.root,
                     branches=["parsing", "landmarks"])
    item = ds[0]  # test mode: frames 4, 12, 20, 28 of 32
    assert item["parsing"].shape == (4, SIZE, SIZE) and item["parsing"].dtype == torch.uint8  # class ids
    assert item["landmarks"].shape == (4, SIZE, SIZE, 3) and item["landmarks"].dtype == torch.uint8
    parsing = _rgb(item, "parsing")
    for t, frame_index in enumerate([4, 12, 20, 28]):
        assert (parsing[t] == PARSING_PALETTE[frame_index % 11]).all()
    # Landmarks: dots on the transformed frame at (20, 20) * 32 / 40 = (16, 16), only where a face was found.
    dots = _rgb(item, "landmarks")
    plain = _rgb(item, "frames")
    for t in range(4):
        assert tuple(dots[t, 16, 16]) == LANDMARK_COLOR  # frames 4, 12, 20, 28: all even, all valid
    short = ds[1]  # 5 frames -> indices 0, 1, 3, 4: frames 1 and 3 have no face
    short_dots, short_plain = _rgb(short, "landmarks"), _rgb(short, "frames")
    assert tuple(short_dots[0, 16, 16]) == LANDMARK_COLOR
    assert np.abs(short_dots[1].astype(int) - short_plain[1]).max() <= 1
    assert not np.array_equal(dots[0], plain[0])


def test_train_mode_cues_follow_the_augmentation(clips):
    _, records, store = clips
    aug = AugmentConfig(scale=[0.5, 0.7], flip_p=1.0, jitter_p=1.0)
    ds = ClipDataset(records[:1], CLASSES, train=True, num_frames=4, size=SIZE, cues=store.root,
                     branches=["landmarks", "parsing"], augment=aug, seed=3)
    item = ds[0]
    parsing = _rgb(item, "parsing")
    for t in range(4):
        colours = {tuple(c) for c in parsing[t].reshape(-1, 3)}
        assert len(colours) == 1  # one class per frame: the nearest-neighbour map stays one class
    assert item["landmarks"].shape == (4, SIZE, SIZE, 3)

    # The whole frame (scale 1, square), always flipped: the cues must come out mirrored. A left/right
    # split parsing map (classes that a flip does not relabel) and one landmark off the centre line.
    n = records[0].num_frames
    landmarks = np.full((n, 68, 2), 20.0, np.float32)
    landmarks[:, 1] = (5.0, 35.0)
    parsing = np.full((n, 20, 20), PARSING_INDEX["skin"], np.uint8)  # half resolution
    parsing[:, :, 10:] = PARSING_INDEX["hair"]
    split = CueStore(store.root.parent / "split")
    split.save("a", ClipCues(landmarks, np.ones(n, bool), parsing, (40, 40)))
    whole = AugmentConfig(scale=[1.0, 1.0], ratio=[1.0, 1.0], flip_p=1.0, jitter_p=1.0)
    item = ClipDataset(records[:1], CLASSES, train=True, num_frames=4, size=SIZE, cues=split.root,
                       branches=["landmarks", "parsing"], augment=whole, seed=3)[0]
    dots, parsing_img = _rgb(item, "landmarks"), _rgb(item, "parsing")
    # (5, 35) -> (4, 28) at 32 px, mirrored to x = 32 - 4 = 28.
    assert (dots[:, 28, 28] == LANDMARK_COLOR).all(axis=-1).all()
    assert not (dots[:, 28, 4] == LANDMARK_COLOR).all(axis=-1).any()
    assert (parsing_img[:, :, :15] == PARSING_PALETTE[PARSING_INDEX["hair"]]).all()
    assert (parsing_img[:, :, 17:] == PARSING_PALETTE[PARSING_INDEX["skin"]]).all()


def test_the_palette_of_the_run_colours_the_renderings(clips):
    from finecliper.config.loading import experiment_from_dict
    from finecliper.inference.checkpoint import _with_recorded_palette
    from finecliper.inference.dataset import make_dataset

    _, records, store = clips
    cfg = experiment_from_dict({"preset": "B16-PL", "data": {"cues": str(store.root), "palette": "legacy",
                                                             "image_size": SIZE}, "model": {"num_frames": 4}})

    class Model:
        image_size = SIZE

    item = make_dataset(records[:1], cfg, CLASSES, False, Model())[0]
    legacy = get_palette("legacy")
    dots = _rgb(item, "landmarks")
    assert (dots == legacy.landmarks).all(axis=-1).any() and not (dots == LANDMARK_COLOR).all(axis=-1).any()
    colours = {tuple(c) for c in _rgb(item, "parsing").reshape(-1, 3)}
    assert colours <= {tuple(c) for c in legacy.parsing} and len(colours) > 1
    with pytest.raises(UserError, match="unknown palette 'mesh'"):
        ClipDataset(records, CLASSES, palette="mesh")
    # A checkpoint recorded before data.palette existed was trained on the legacy colours.
    assert _with_recorded_palette({"data": {}})["data"]["palette"] == "legacy"
    assert _with_recorded_palette({"data": {"palette": "facexformer"}})["data"]["palette"] == "facexformer"


def test_cues_of_frames_of_another_size_are_rescaled(clips):
    # The cue pipeline saw the clip at 80 px; it is read at 40 px: landmarks (and boxes) scale by one half.
    root, records, _ = clips
    n = records[0].num_frames
    landmarks = np.full((n, 68, 2), 40.0, np.float32)
    landmarks[:, 1] = (10.0, 70.0)
    store = CueStore(root / "cues80")
    store.save("a", ClipCues(landmarks, np.ones(n, bool), np.zeros((n, 40, 40), np.uint8), (80, 80)))
    item = ClipDataset(records[:1], CLASSES, num_frames=4, size=SIZE, cues=store.root, branches=["landmarks"])[0]
    dots = _rgb(item, "landmarks")
    # (10, 70) in 80 px frames -> (5, 35) in the 40 px frames read -> (4, 28) at 32 px.
    assert (dots[:, 28, 4] == LANDMARK_COLOR).all(axis=-1).all()
    assert (dots[:, 16, 16] == LANDMARK_COLOR).all(axis=-1).all()


def test_cues_from_memory_and_parsing_only_when_used(clips, monkeypatch):
    _, records, store = clips
    branches = ["parsing", "landmarks"]
    from_store = ClipDataset(records, CLASSES, num_frames=4, size=SIZE, cues=store, branches=branches)
    in_memory = {clip_id: store.load(clip_id) for clip_id in ("a", "b")}
    from_memory = ClipDataset(records, CLASSES, num_frames=4, size=SIZE, cues=in_memory, branches=branches)
    for i in range(2):
        a, b = from_store[i], from_memory[i]
        for key in ("frames", "parsing", "landmarks"):
            assert torch.equal(a[key], b[key])
    with pytest.raises(UserError, match="clip c"):
        from_memory[2]
    # Without the parsing branch the store's parsing maps are not even decompressed.
    light = store.load("a", parsing=False)
    assert light.parsing is None and np.array_equal(light.landmarks, store.load("a").landmarks)
    asked = []
    load = CueStore.load

    def spy(self, clip_id, *args, **kwargs):
        cues = load(self, clip_id, *args, **kwargs)
        asked.append(cues.parsing is not None)  # were the parsing maps decompressed?
        return cues

    monkeypatch.setattr(CueStore, "load", spy)
    ClipDataset(records[:1], CLASSES, num_frames=4, size=SIZE, cues=store, branches=["landmarks"])[0]
    ClipDataset(records[:1], CLASSES, num_frames=4, size=SIZE, cues=store)[0]
    ClipDataset(records[:1], CLASSES, num_frames=4, size=SIZE, cues=store, branches=["parsing"])[0]
    assert asked == [False, False, True]


def test_missing_cues_name_the_clip(clips):
    root, records, store = clips
    ds = ClipDataset(records, CLASSES, num_frames=4, size=SIZE, cues=store.root, branches=["landmarks"])
    with pytest.raises(UserError, match="clip c"):
        ds[2]
    with pytest.raises(UserError, match="cue store"):
        ClipDataset(records, CLASSES, branches=["parsing"])
    with pytest.raises(UserError, match="unknown cue kind 'depth'; known: parsing, landmarks"):
        ClipDataset(records, CLASSES, cues=store.root, branches=["depth"])
    wrong = [_record(root, "b", "a", 32)]  # cues of b have 5 frames, the manifest says 32
    with pytest.raises(UserError, match="rerun"):
        ClipDataset(wrong, CLASSES, num_frames=4, size=SIZE, cues=store.root, branches=["parsing"])[0]


def test_descriptions_and_captions(clips, tmp_path):
    root, records, _ = clips
    path = tmp_path / "desc.jsonl"
    append_record(path, {"id": "a", "refined": "the brows rise"})
    append_record(path, {"id": "b", "refined": None})
    ds = ClipDataset(records, CLASSES, num_frames=2, size=SIZE, descriptions=path)
    assert [ds[i]["description"] for i in range(3)] == ["the brows rise", None, None]
    captioned = [_record(root, "a", "a", 32, caption="A man frowns.")]
    assert ClipDataset(captioned, CLASSES, num_frames=2, size=SIZE, descriptions="captions")[0]["description"] == (
        "A man frowns.")


def test_seeding_per_item_and_epoch(clips):
    _, records, _ = clips
    aug = AugmentConfig()
    ds = ClipDataset(records, CLASSES, train=True, num_frames=4, size=SIZE, augment=aug, seed=7)
    a0, a0_again = ds[0]["frames"], ds[0]["frames"]
    assert torch.equal(a0, a0_again)
    ds.set_epoch(1)
    assert not torch.equal(ds[0]["frames"], a0)
    ds.set_epoch(0)
    assert torch.equal(ds[0]["frames"], a0)
    other = ClipDataset(records, CLASSES, train=True, num_frames=4, size=SIZE, augment=aug, seed=8)
    assert not torch.equal(other[0]["frames"], a0)
    test_ds = ClipDataset(records, CLASSES, num_frames=4, size=SIZE)
    test_ds.set_epoch(5)
    assert torch.equal(test_ds[0]["frames"], ClipDataset(records, CLASSES, num_frames=4, size=SIZE)[0]["frames"])


def test_collate_keys_and_shapes(clips):
    _, records, store = clips
    ds = ClipDataset(records[:2], CLASSES, num_frames=4, size=SIZE, cues=store.root,
                     branches=["parsing", "landmarks"])
    batch = collate([ds[0], ds[1]])
    assert set(batch) == {"frames", "parsing", "landmarks", "palette", "descriptions", "description_rows", "labels",
                          "ids"}
    assert batch["frames"].shape == batch["landmarks"].shape == (2, 4, SIZE, SIZE, 3)
    assert batch["parsing"].shape == (2, 4, SIZE, SIZE)
    model_inputs = prepare_batch(batch, "cpu")
    assert model_inputs["frames"].shape == model_inputs["parsing"].shape == (2, 4, 3, SIZE, SIZE)
    assert model_inputs["landmarks"].dtype == torch.float32 and batch["description_rows"].tolist() == []
    assert batch["labels"].dtype == torch.long and batch["labels"].tolist() == [3, 6]
    assert batch["ids"] == ["a", "b"] and batch["descriptions"] == [None, None]
    plain = collate([ClipDataset(records, CLASSES, num_frames=4, size=SIZE)[2]])
    assert set(plain) == {"frames", "descriptions", "description_rows", "labels", "ids"}


def test_workers_reproduce_single_process_and_see_set_epoch(clips):
    _, records, _ = clips
    ds = ClipDataset(records * 2, CLASSES, train=True, num_frames=4, size=SIZE, seed=11)
    expected = {}
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        expected[epoch] = collate([ds[i] for i in range(len(ds))])["frames"]
    ds.set_epoch(0)
    loader = DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate, persistent_workers=True,
                        worker_init_fn=worker_init)
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        got = torch.cat([b["frames"] for b in loader])
        assert torch.equal(got, expected[epoch])
    assert not torch.equal(expected[0], expected[1])


def test_bench_data_runs_on_generated_clips(capsys):
    rc = main(["bench", "data", "--clips", "3", "--clip-frames", "6", "--num-frames", "4", "--size", "32",
               "--workers", "0", "--batch-size", "2", "--json"])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["kinds"]) == {"folders", "videos"}
    for entry in result["kinds"].values():
        assert entry["clips"] == 3 and entry["clips_per_s"] > 0
        assert set(entry["stage_ms"]) == {"read", "spatial", "jitter", "pack"}


def test_descriptions_follow_a_horizontal_flip(clips):
    _, records, _ = clips
    text = {records[0].id: "The head turns to the left while the right brow rises."}
    flipped = ClipDataset(records[:1], CLASSES, train=True, num_frames=4, size=SIZE, descriptions=text,
                          augment=AugmentConfig(flip_p=1.0))
    plain = ClipDataset(records[:1], CLASSES, train=True, num_frames=4, size=SIZE, descriptions=text,
                        augment=AugmentConfig(flip_p=0.0))
    assert flipped[0]["description"] == "The head turns to the right while the left brow rises."
    assert plain[0]["description"] == text[records[0].id]


def test_raw_clips_are_cut_to_the_face_boxes_of_the_store(tmp_path):
    # A raw 60x80 clip: a white 16 px "face" square moving over black; the store's boxes frame it with margin.
    n, size = 6, 24
    frames = np.zeros((n, 60, 80, 3), np.uint8)
    boxes = np.zeros((n, 3), np.int64)
    landmarks = np.zeros((n, 68, 2), np.float32)
    for t in range(n):
        x, y = 5 + 10 * t, 8 + 4 * t
        frames[t, y : y + 16, x : x + 16] = 255
        boxes[t] = (x - 4, y - 4, 24)
        landmarks[t] = (x + 8, y + 8)  # every point at the face's centre
    write_frames(tmp_path / "raw", frames, ext="png")
    store = CueStore(tmp_path / "cues")
    parsing = (frames[..., 0] > 0).astype(np.uint8)  # class 1 on the face
    store.save("raw", ClipCues(landmarks, np.ones(n, bool), parsing, (60, 80), boxes=boxes))
    record = _record(tmp_path, "raw", "raw", n)
    for branches in ([], ["parsing", "landmarks"]):
        item = ClipDataset([record], CLASSES, num_frames=n, size=size, cues=store.root, branches=branches)[0]
        face = _rgb(item, "frames")
        # Every frame shows the face where the box put it: 4 px of black, then 16 px of face, then black.
        assert (face[:, 5:19, 5:19] > 200).all() and (face[:, :3] < 30).all() and (face[:, 21:] < 30).all()
        if branches:
            assert (_rgb(item, "parsing")[:, 12, 12] == PARSING_PALETTE[1]).all()
            assert (_rgb(item, "landmarks")[:, 12, 12] == LANDMARK_COLOR).all()
    # Parsing maps stored at half resolution are cut at their own scale: the face class at the same place.
    half = CueStore(tmp_path / "half")
    half.save("raw", ClipCues(landmarks, np.ones(n, bool), parsing[:, ::2, ::2], (60, 80), boxes=boxes))
    full = ClipDataset([record], CLASSES, num_frames=n, size=size, cues=store.root, branches=["parsing"])[0]
    item = ClipDataset([record], CLASSES, num_frames=n, size=size, cues=half.root, branches=["parsing"])[0]
    half_parsing, full_parsing = _rgb(item, "parsing"), _rgb(full, "parsing")
    assert (half_parsing[:, 6:18, 6:18] == PARSING_PALETTE[1]).all()
    assert (half_parsing[:, :2] == PARSING_PALETTE[0]).all() and (half_parsing[:, 22:] == PARSING_PALETTE[0]).all()
    assert (half_parsing == full_parsing).all(axis=-1).mean() > 0.9
    # Without the store the frames are used whole: the face is somewhere else in each frame.
    whole = _rgb(ClipDataset([record], CLASSES, num_frames=n, size=size)[0], "frames")
    assert not (whole[:, 12, 12] > 200).all()
