"""`finecliper demo`, reduced to a few clips and steps: every stage end to end, its outputs, reruns, the
ablation, MediaPipe cues. (The full-size demo's scores are measured by hand: see the README.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from finecliper.cli import main
from finecliper.config.model import ModelConfig
from finecliper.data.manifest import read_manifest
from finecliper.labels import BASIC7
from finecliper.model.backbone import load_backbone

REDUCED = ["--train-identities", "4", "--test-identities", "2", "--epochs", "1", "--pretrain-steps", "10"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "run"
    assert main(["demo", "--out", str(out), *REDUCED]) == 0
    return out


def _png(path: Path) -> tuple[int, int]:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    with Image.open(path) as image:
        return image.size


def test_reduced_demo_runs_end_to_end_and_writes_its_report(demo):
    out = demo
    report = json.loads((out / "report.json").read_text())
    assert isinstance(report["uar"], float) and 0.0 <= report["uar"] <= 1.0
    assert isinstance(report["war"], float) and 0.0 <= report["war"] <= 1.0
    assert list(report["per_class_recall"]) == list(BASIC7) and report["class_names"] == list(BASIC7)
    assert report["num_clips"] == 2 * 7 and report["held_out_identities"] == 2
    assert sum(map(sum, report["confusion"])) == report["num_clips"]
    assert set(report["stage_seconds"]) >= {"synth", "manifest", "cues", "describe", "pretrain", "report"}
    width, height = _png(out / "confusion.png")
    assert width > 200 and height > 200
    width, height = _png(out / "preview.png")
    assert width > height > 100  # a strip of frames, cue rows and the description under them
    # The pipeline's intermediate products are the package's own formats.
    train = read_manifest(out / "manifests" / "dfew_fold1_train.jsonl")
    test = read_manifest(out / "manifests" / "dfew_fold1_test.jsonl")
    assert len(train) == 4 * 7 and len(test) == 2 * 7
    descriptions = [json.loads(line) for line in (out / "descriptions-oracle.jsonl").read_text().splitlines()]
    assert {d["id"] for d in descriptions} == {r.id for r in train + test}
    results = json.loads((out / "runs" / "full" / "results.json").read_text())
    assert results["preset"] == "B16-Full" and results["test"]["uar"] == report["uar"]


def test_the_pretrained_clip_is_a_strict_hugging_face_folder(demo):
    out = demo
    backbone = load_backbone("small", str(out / "clip"))  # strict: architecture and vocabulary checked
    assert backbone.source == str(out / "clip") and len(backbone.tokenizer) == 1024
    words = backbone.tokenizer.tokenize("the eyebrows suddenly rise")
    assert words == ["the</w>", "eyebrows</w>", "suddenly</w>", "rise</w>"]


def test_rerun_skips_finished_stages_and_prints_the_scores(demo, capsys):
    out = demo
    before = json.loads((out / "report.json").read_text())
    # What each stage made: a rerun must reuse it, not make it again.
    made = [out / "data" / "synth.json", out / "manifests" / "dfew_fold1_train.jsonl", out / "clip",
            out / "descriptions-oracle.jsonl", out / "runs" / "full" / "results.json"]
    stamps = [p.stat().st_mtime_ns for p in made]
    assert main(["demo", "--out", str(out), *REDUCED]) == 0
    assert [p.stat().st_mtime_ns for p in made] == stamps
    printed = capsys.readouterr().out
    assert f"UAR {before['uar'] * 100:.2f}  WAR {before['war'] * 100:.2f}" in printed
    assert json.loads((out / "report.json").read_text())["uar"] == before["uar"]
    # Other settings into the same folder are refused, not mixed.
    assert main(["demo", "--out", str(out), *REDUCED[:-1], "11"]) == 2
    assert "other settings" in capsys.readouterr().err


def test_ablation_adds_the_variants_and_the_middle_frame_probes(demo, capsys):
    out = demo
    assert main(["demo", "--out", str(out), *REDUCED, "--ablation"]) == 0
    printed = capsys.readouterr().out
    table = (out / "ablation.md").read_text()
    other = "joint" if ModelConfig().pn_loss == "separate" else "separate"
    default = {"pos": "pos alone", "pos_minus_neg": "pos - neg"}[ModelConfig().zero_shot_score]
    zero_shot = [f"zero-shot (†), score {kind}{' (default)' if kind == default else ''}"
                 for kind in ("pos - neg", "pos alone")]
    rows = ["frames only", "+ parsing, landmarks (*)", "+ descriptions (†)", "full (*†)",
            f"full (*†), PN loss {other}", *zero_shot,
            "linear probe, middle frame", "linear probe, middle frame + its cues"]
    for row in rows:
        assert f"| {row} (ours) |" in table and f"| {row} (ours) |" in printed
    scores = json.loads((out / "ablation.json").read_text())
    assert set(scores) == set(rows) and all(0 <= s["uar"] <= 1 for s in scores.values())
    assert scores["full (*†)"]["uar"] == json.loads((out / "report.json").read_text())["uar"]
    # The zero-shot variant is one run scored both ways; it selects nothing (no labels to select on).
    zs = json.loads((out / "runs" / "zero-shot" / "results.json").read_text())
    assert zs["zero_shot"] and zs["selection"] == "last"
    assert {scores[row]["uar"] for row in zero_shot} == {m["uar"] for m in zs["test"]["by_score"].values()}
    assert "| full (*†) (ours) | " in table and " | best epoch on validation |" in table
    # --ablation-rows runs only the rows asked for (here all are done already: nothing is retrained).
    assert main(["demo", "--out", str(out), *REDUCED, "--ablation", "--ablation-rows", "pn-loss"]) == 0
    printed = capsys.readouterr().out
    assert f"| full (*†), PN loss {other} (ours) |" in printed and "frames only" not in printed


def test_demo_with_mediapipe_cues(tmp_path):
    out = tmp_path / "mp"
    args = ["--train-identities", "3", "--test-identities", "1", "--epochs", "1", "--pretrain-steps", "2"]
    assert main(["demo", "--out", str(out), "--cues", "mediapipe", *args, "--json"]) == 0
    summary = json.loads((out / "cues-mediapipe" / "summary.json").read_text())
    assert summary["done"] == 28 and not summary["failed"]
    assert summary["frames_without_face"] < 0.05 * summary["frames"]  # MediaPipe finds the drawn faces
    assert json.loads((out / "report.json").read_text())["cues"] == "mediapipe"
    assert (out / "descriptions-mediapipe.jsonl").is_file()


def test_bad_demo_input_is_one_sentence(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "x"), "--epochs", "0"]) == 2
    err = capsys.readouterr().err
    assert "epochs must be at least 1" in err and "Traceback" not in err
    assert main(["demo", "--out", str(tmp_path / "x"), "--train-identities", "1"]) == 2
    assert "fewer training clips than one batch" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path / "x"), "--ablation", "--ablation-rows", "frames,nope"]) == 2
    assert "unknown ablation row 'nope'; choose from frames, pl, ft, full, pn-loss, zero-shot, probes" \
        in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path / "x"), "--ablation-rows", "frames"]) == 2
    assert "--ablation-rows chooses rows of --ablation" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # refused before anything was written
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("...")
    assert main(["demo", "--out", str(tmp_path / "mine"), "--force"]) == 2
    assert (tmp_path / "mine" / "thesis.tex").is_file()
