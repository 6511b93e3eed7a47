"""`finecliper explain`: attention maps that show where the tower looks, and the figures and numbers it writes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from builders import (
    PATCH,
    SQUARE_COLOURS,
    checkpoint_on,
    marked_square,
    moving,
    random_checkpoint,
    square_backbone,
)
from finecliper.cli import main
from finecliper.cli.explain import ATTENTION_METHODS
from finecliper.explain.attention import METHODS, patch_maps, record_attention
from finecliper.inference import Predictor
from finecliper.inference.checkpoint import load_model
from media import astronaut, write_frames, write_video

# Where the square goes, one grid cell per frame: round the border of the 4 x 4 patch grid.
PATH = [(0, 0), (0, 1), (0, 2), (0, 3), (1, 3), (2, 3), (3, 3), (3, 2)]


@pytest.fixture(scope="module")
def square_checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("square")
    return checkpoint_on(square_backbone(root / "clip"), root / "ckpt")


def test_attention_method_choices_are_the_methods():
    assert ATTENTION_METHODS == tuple(METHODS)


@pytest.mark.parametrize("method", ATTENTION_METHODS)
def test_a_moving_marked_square_gets_the_attention(square_checkpoint, tmp_path, method, capsys):
    """A clip whose only moving region is a marked square, on a tower that learned that only the square matters:
    in every sampled frame the square's patch gets more attention than any other patch, so the map follows it."""
    background = np.random.default_rng(7).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    frames = np.stack([marked_square(background, cell, SQUARE_COLOURS[1]) for cell in PATH])
    write_frames(tmp_path / "clip", frames, ext="png")
    out = tmp_path / "out"
    assert main(["explain", str(tmp_path / "clip"), "--checkpoint", str(square_checkpoint), "--out", str(out),
                 "--crop", "none", "--attention", method]) == 0
    data = json.loads((out / "explain.json").read_text())
    assert data["attention"]["method"] == method and data["attention"]["grid"] == [32 // PATCH] * 2
    maps = np.array(data["attention"]["maps"]["video"])  # (T, 4, 4)
    indices = data["attention"]["frame_indices"]
    assert indices == [1, 3, 5, 7] and maps.shape == (4, 4, 4)
    for grid, index in zip(maps, indices, strict=True):
        cell = PATH[index]
        others = np.delete(grid.ravel(), cell[0] * 4 + cell[1])
        assert grid[cell] > others.max(), (index, grid.round(3))
        assert grid[cell] > 3 * others.mean(), (index, grid.round(3))


def test_recorded_attention_is_what_the_tower_computes(tmp_path):
    """The maps are recomputed from each layer's own q and k; transformers' eager attention, asked for its
    probabilities, must give the same numbers (adapters randomised, so the adapted tower differs from CLIP)."""
    model, _, _ = load_model(random_checkpoint(tmp_path / "ckpt", "B16", seed=3))
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad(), record_attention(model) as recorded, model.image_branch.use("video"):
        vision = model.clip.vision_model
        vision.config._attn_implementation = "eager"
        eager = vision(pixel_values=images, output_attentions=True).attentions
    assert len(recorded["video"]) == len(eager) == 2
    for ours, theirs in zip(recorded["video"], eager, strict=True):
        torch.testing.assert_close(ours, theirs.mean(dim=1), atol=1e-6, rtol=1e-5)
    maps = patch_maps(recorded["video"], "rollout")
    assert maps.shape == (3, 4, 4) and torch.allclose(maps.sum(dim=(1, 2)), torch.ones(3))


def test_explain_writes_figures_and_numbers_of_every_branch(tmp_path, capsys):
    """A raw video of a real face under a checkpoint with both cue branches and descriptions: a row of maps per
    branch, the cosines, the landmark description and w; the prediction equals `predict`'s."""
    ckpt = random_checkpoint(tmp_path / "full", "B16-Full", seed=0)
    frames, _ = moving(astronaut(), 10, (320, 480), (0.6, 0.75), (40, 10), (200, -20))
    video = write_video(tmp_path / "raw.mp4", frames)
    out = tmp_path / "out"
    assert main(["explain", str(video), "--checkpoint", str(ckpt), "--out", str(out), "--describe", "landmarks"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["attention.png", "explain.json", "inputs.png", "similarity.png"]
    for name in ("attention.png", "inputs.png", "similarity.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / "explain.json").read_text())
    maps = data["attention"]["maps"]
    assert list(maps) == ["video", "parsing", "landmarks"]
    for grids in maps.values():
        assert np.array(grids).shape == (4, 4, 4) and np.allclose(np.array(grids).sum(axis=(1, 2)), 1, atol=1e-4)
    assert not np.allclose(maps["video"], maps["parsing"])  # each branch's own pass
    sim = data["similarity"]
    assert len(sim["positive"]) == len(sim["negative"]) == 7
    expected = Predictor(ckpt, describe="landmarks").predict(video)
    scores = np.array(sim["positive"]) - np.array(sim["negative"])
    assert scores.tolist() == pytest.approx(list(expected.scores.values()), abs=1e-5)
    assert data["prediction"]["label"] == expected.label and data["weight"] == pytest.approx(expected.weight)
    assert data["description"] == expected.description and data["description"]
    assert 0 < data["weight"] < 1
    assert f"{expected.label} " in capsys.readouterr().out


@pytest.mark.parametrize("case, message", [
    ("missing clip", "video {tmp}/nope.mp4 does not exist"),
    ("out is a file", "--out {tmp}/file.txt is a file; give a folder"),
    ("missing checkpoint", "checkpoint {tmp}/none.safetensors does not exist"),
    ("no face", "no face was found in any of the 3 frames of clip {tmp}/noise"),
])
def test_bad_input_is_one_sentence_and_writes_nothing(tmp_path, case, message, capsys):
    ckpt = random_checkpoint(tmp_path / "ckpt", "B16", seed=0)
    (tmp_path / "file.txt").write_text("x")
    write_frames(tmp_path / "noise", np.random.default_rng(0).integers(0, 256, (3, 48, 48, 3)).astype(np.uint8))
    argv = {"missing clip": [str(tmp_path / "nope.mp4"), "--checkpoint", str(ckpt), "--out", str(tmp_path / "o")],
            "out is a file": [str(tmp_path / "noise"), "--checkpoint", str(ckpt), "--out", str(tmp_path / "file.txt")],
            "missing checkpoint": [str(tmp_path / "noise"), "--checkpoint", str(tmp_path / "none.safetensors"),
                                   "--out", str(tmp_path / "o")],
            "no face": [str(tmp_path / "noise"), "--checkpoint", str(ckpt), "--out", str(tmp_path / "o")]}[case]
    assert main(["explain", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"finecliper explain: error: {message.format(tmp=tmp_path)}" and "Traceback" not in "\n".join(err)
    assert not (tmp_path / "o").exists()
