"""Lean batches (docs/design.md §4): uint8 items, the device-side input stage, description rows from collate.

The reference is the CPU pipeline items went through before batches were lean (render every cue kind and
normalise on the CPU), rebuilt here from the package's own steps with the item's own generator: the
device-side stage must give the same model inputs for the same seed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from finecliper.config.experiment import AugmentConfig
from finecliper.config.presets import model_config
from finecliper.data.color import color_jitter
from finecliper.data.cue_kinds import CUE_KINDS
from finecliper.data.cue_store import ClipCues, CueStore
from finecliper.data.dataset import ClipDataset
from finecliper.data.loader import collate
from finecliper.data.manifest import ClipRecord
from finecliper.data.normalize import normalize
from finecliper.data.prepare import prepare_batch
from finecliper.data.spatial import sample_spatial
from finecliper.data.transforms import transform_clip
from finecliper.datasets import class_names
from finecliper.model import build_model
from media import astronaut, write_frames

CLASSES = class_names("dfew")
N, H, S = 10, 96, 48


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Three clips of a real face photo, moving, with every cue kind's example cues; training augmentation
    that always crops, flips and jitters."""
    root = tmp_path_factory.mktemp("transport")
    rng = np.random.default_rng(0)
    photo = astronaut()[0:300, 100:400]
    store = CueStore(root / "cues")
    records = []
    for c in range(3):
        frames = np.stack([np.ascontiguousarray(photo[10 * t % 40:: 2, c * 8:: 2][:H, :H])
                           for t in range(N)])
        write_frames(root / f"c{c}", frames, ext="png")
        arrays = {name: kind.example(N, H, H, rng) for name, kind in CUE_KINDS.items()}
        landmarks, parsing = arrays.pop("landmarks"), arrays.pop("parsing")
        valid = np.arange(N) % 3 != 1  # some frames without a face: no dots there
        store.save(f"c{c}", ClipCues(landmarks, valid, parsing, (H, H), extra=arrays))
        records.append(ClipRecord(f"c{c}", f"c{c}", "anger", N, "train", 1, "dfew", "faces", str(root)))
    augment = AugmentConfig(scale=[0.5, 0.9], flip_p=1.0, jitter_p=1.0)
    return ClipDataset(records, CLASSES, train=True, num_frames=4, size=S, cues=store.root,
                       branches=list(CUE_KINDS), augment=augment, seed=5)


def cpu_reference(ds: ClipDataset, index: int) -> dict[str, torch.Tensor]:
    """Model inputs of item `index` as the CPU made them before batches were lean: every kind rendered,
    frames jittered, everything normalised (the steps of `ClipDataset.__getitem__`, same draws)."""
    record, rng = ds.records[index], ds.rng(index)
    idx, frames = ds._read(record, rng)
    frames, cues, valid = ds._load_cues(record, idx, frames)
    params = sample_spatial(frames.shape[1], frames.shape[2], ds.augment, ds.train, rng)
    frames, cues = transform_clip(params, ds.size, frames, cues)
    images = {kind.name: kind.render(cues[kind.name], frames, valid, ds.palette) for kind in ds.kinds}
    frames = color_jitter(frames, ds.augment, rng)
    return {"frames": normalize(frames), **{name: normalize(image) for name, image in images.items()}}


@pytest.mark.parametrize("epoch", [0, 1])
def test_the_device_stage_gives_the_cpu_pipelines_inputs(dataset, epoch):
    dataset.set_epoch(epoch)
    batch = prepare_batch(collate([dataset[i] for i in range(len(dataset))]), torch.device("cpu"))
    for i in range(len(dataset)):
        expected = cpu_reference(dataset, i)
        assert set(expected) == {"frames", *CUE_KINDS}
        for key, image in expected.items():
            got = batch[key][i]
            assert got.dtype == torch.float32 and got.shape == image.shape == (4, 3, S, S)
            torch.testing.assert_close(got, image, rtol=0, atol=1e-6)
    dataset.set_epoch(0)


def test_items_are_uint8_and_small(dataset):
    item = dataset[0]
    assert item["frames"].dtype == item["parsing"].dtype == item["landmarks"].dtype == torch.uint8
    assert item["frames"].shape == item["landmarks"].shape == (4, S, S, 3)
    assert item["parsing"].shape == (4, S, S)  # class ids: a third of an RGB image
    images = sum(v.nbytes for v in item.values() if isinstance(v, torch.Tensor))
    assert images == 4 * S * S * (3 + 1 + 3)


def test_float_inputs_pass_the_device_stage_unchanged():
    batch = {"frames": torch.randn(2, 4, 3, S, S), "parsing": torch.randn(2, 4, 3, S, S), "ids": ["a", "b"]}
    out = prepare_batch(batch, "cpu")
    assert out["frames"] is batch["frames"] and out["parsing"] is batch["parsing"] and out["ids"] == ["a", "b"]


def test_description_rows_from_collate_give_the_models_own_result():
    torch.manual_seed(0)
    model = build_model(model_config("B16-FT", ["backbone=tiny", "num_frames=2"]), CLASSES).eval()
    size = model.image_size
    items = [{"id": str(i), "label": i, "frames": torch.randint(0, 256, (2, size, size, 3), dtype=torch.uint8),
              "description": text} for i, text in enumerate(["the brows rise", None, "  ", "the lips part"])]
    batch = collate(items)
    assert batch["description_rows"].tolist() == [0, 3]
    with torch.no_grad():
        given = model(prepare_batch(batch, "cpu"))
        built = model(prepare_batch({k: v for k, v in batch.items() if k != "description_rows"}, "cpu"))
    for key in ("embedding", "weight", "scores", "loss"):
        torch.testing.assert_close(given[key], built[key], rtol=0, atol=0)
    assert given["weight"][1] == given["weight"][2] == 1.0  # no text: video alone
