"""`finecliper report --figures`: the paper's figures from run directories."""

from __future__ import annotations

import json

from finecliper.cli import main
from finecliper.config.loading import experiment_from_dict
from finecliper.config.strict import to_dict
from finecliper.datasets import class_names
from finecliper.figures.peers import DFEW_PEERS
from finecliper.figures.runs import read_runs
from finecliper.inference.checkpoint import backbone_identity, save_checkpoint
from finecliper.model import build_model

CLASSES = class_names("dfew")


def _run(root, name, fold, video_weight, uar, war):
    """A run directory as training leaves it: a checkpoint of B16-FT with this w, and results.json."""
    cfg = experiment_from_dict({"name": name, "preset": "B16-FT", "data": {"dataset": "dfew"},
                                "model": {"backbone": "tiny", "num_frames": 4, "video_weight": video_weight}})
    model = build_model(cfg.model, CLASSES)
    run = root / f"{name}_fold{fold}"
    save_checkpoint(run / "checkpoints/best", model, {"config": to_dict(cfg), "backbone": backbone_identity(cfg.model),
                                                       "preset": cfg.preset, "dataset": "dfew"})
    recall = {c: (i + fold) / 10 for i, c in enumerate(CLASSES)}
    results = {"name": name, "preset": "B16-FT", "dataset": "dfew", "fold": fold, "select_on": "val",
               "zero_shot": False, "checkpoint": str(run / "checkpoints/best.safetensors"),
               "test": {"uar": uar, "war": war, "per_class_recall": recall, "class_names": CLASSES}}
    (run / "results.json").write_text(json.dumps(results))
    return run, model


def test_figures_of_folds_and_weights(tmp_path, capsys):
    runs = []
    for w in (None, 0.3, 0.7):
        for fold in (1, 2):
            run, model = _run(tmp_path, f"w{w}", fold, w, 0.5 + fold / 100, 0.6)
            runs.append(str(run))
    out = tmp_path / "fig"
    assert main(["report", *runs, "--out", str(out), "--figures"]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["efficiency.png", "per_class_recall.png", "weighting.png"]
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    read = read_runs(runs)
    assert [r.video_weight for r in read] == [None, None, 0.3, 0.3, 0.7, 0.7]
    assert read[-1].tunable == model.count_parameters()[0]  # the checkpoint's tensors are the tunable ones
    assert read[0].tunable - read[-1].tunable == 2 * 32 + 1  # the adaptive runs' gate: Linear(2D -> 1), D = 32
    assert "figures: " in capsys.readouterr().out


def test_one_weight_draws_no_weighting_figure(tmp_path):
    runs = [str(_run(tmp_path, "adaptive", fold, None, 0.5, 0.6)[0]) for fold in (1, 2)]
    assert main(["report", *runs, "--out", str(tmp_path / "fig"), "--figures"]) == 0
    assert not (tmp_path / "fig/weighting.png").exists() and (tmp_path / "fig/efficiency.png").exists()


def test_peers_are_the_design_notes_figures():
    by_name = {p.name: p for p in DFEW_PEERS}
    assert (by_name["DFER-CLIP"].war, by_name["DFER-CLIP"].tunable_m) == (71.25, 90.0)
    assert (by_name["S2D"].uar, by_name["S2D"].tunable_m) == (65.45, 9.0)
    assert by_name["MAE-DFER"].tunable_m is None  # not stated: left out of the plot, not guessed


def test_bad_figure_requests_are_one_sentence(tmp_path, capsys):
    run, _ = _run(tmp_path, "x", 1, None, 0.5, 0.6)
    assert main(["report", str(run), "--figures"]) == 2
    assert capsys.readouterr().err.strip() == "finecliper report: error: --figures writes PNGs; give --out DIR"
    for suffix in (".safetensors", ".json"):
        (run / "checkpoints" / f"best{suffix}").unlink()
    assert main(["report", str(run), "--figures", "--out", str(tmp_path / "fig")]) == 2
    assert "is not there; --figures reads its config" in capsys.readouterr().err
    assert not (tmp_path / "fig").exists()
