"""Video-LLaVA descriptions end to end: a tiny random-weight model loaded from a folder, resumable output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from finecliper.cli import main
from finecliper.data.descriptions import append_record, read_records, repair_tail
from finecliper.data.manifest import ClipRecord, write_manifest
from finecliper.describe.backends import Backend, Output
from finecliper.describe.pipeline import describe_manifest
from finecliper.describe.prompt import load_prompt, prompt_hash
from finecliper.errors import UserError
from media import numbered_frames, write_frames, write_video
from tiny_mllm import build_video_llava

FIELDS = {"id", "raw", "refined", "removed", "status", "backend", "model", "prompt", "prompt_hash", "generation",
          "refiner"}


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return build_video_llava(tmp_path_factory.mktemp("tiny-video-llava") / "model")


def _clips(root: Path, n: int, video_every: int = 0) -> list[ClipRecord]:
    clips = []
    for i in range(n):
        frames = numbered_frames(5 + i % 7, size=48, seed=i)
        if video_every and i % video_every == 0:
            path = f"clips/{i:05d}.mp4"
            write_video(root / path, frames)
            source = "video"
        else:
            path = f"faces/{i:05d}"
            write_frames(root / path, frames)
            source = "faces"
        clips.append(ClipRecord(id=f"{i:05d}", path=path, label="neutral", num_frames=len(frames), split="test",
                                fold=1, dataset="mafw", source=source, root=str(root)))
    return clips


def _describe(manifest, out, weights, *extra) -> list[str]:
    return ["describe", "--manifest", str(manifest), "--out", str(out), "--backend", "video-llava",
            "--weights", str(weights), "--max-new-tokens", "6", "--device", "cpu", "--no-progress", *extra]


def test_video_llava_end_to_end_and_resume(tmp_path, weights, capsys):
    clips = _clips(tmp_path, 5, video_every=3)
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, clips)
    out = tmp_path / "desc.jsonl"
    assert main(_describe(manifest, out, weights, "--batch-size", "2", "--json")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] == 5 and summary["failed"] == 0
    records = read_records(out)
    assert [r["id"] for r in records] == [c.id for c in clips]
    rendered = load_prompt().render("video_llava")
    for record in records:
        assert FIELDS <= set(record)
        assert record["backend"] == "video-llava" and record["model"] == "model"
        assert record["prompt"] == "paper" and record["prompt_hash"] == prompt_hash(rendered)
        assert record["generation"]["num_frames"] == 8 and record["generation"]["max_new_tokens"] == 6
        assert record["generation"]["do_sample"] is False
        assert record["status"] in ("ok", "emptied", "empty")
        assert record["raw"] and len(record["raw"].split()) <= 6
    texts = [r["raw"] for r in records]

    # Resumed: nothing to do, nothing written twice.
    assert main(_describe(manifest, out, weights, "--json")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] == 0 and summary["already_done"] == 5
    assert len(read_records(out)) == 5

    # Greedy decoding and one shared prompt: the batch size does not change a description.
    out1 = tmp_path / "batch1.jsonl"
    assert main(_describe(manifest, out1, weights, "--batch-size", "1", "--json")) == 0
    capsys.readouterr()
    assert [r["raw"] for r in read_records(out1)] == texts

    # Another setting in the same file is refused rather than mixed in.
    assert main(_describe(manifest, out, weights, "--frames", "4")) == 2
    assert "write to another --out file" in capsys.readouterr().err


def test_interrupted_run_leaves_a_readable_file_and_resumes(tmp_path, weights, capsys):
    clips = _clips(tmp_path, 4)
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, clips)
    out = tmp_path / "desc.jsonl"
    assert main(_describe(manifest, out, weights, "--limit", "3")) == 0
    capsys.readouterr()
    data = out.read_bytes()
    # A crash in the middle of the third line: the reader ignores it, the next run cuts it first.
    third = data.rstrip(b"\n").rfind(b"\n") + 1
    out.write_bytes(data[: third + (len(data) - third) // 2])
    assert [r["id"] for r in read_records(out)] == ["00000", "00001"]
    assert main(_describe(manifest, out, weights, "--json")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["repaired_bytes"] > 0 and summary["written"] == 2 and summary["already_done"] == 2
    lines = out.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["00000", "00001", "00002", "00003"]


def test_killed_subprocess_resumes(tmp_path, weights):
    clips = _clips(tmp_path, 24)
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, clips)
    out = tmp_path / "desc.jsonl"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    cmd = [sys.executable, "-m", "finecliper", *_describe(manifest, out, weights, "--max-new-tokens", "24")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 2:
                break
            time.sleep(0.05)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    done = read_records(out)  # readable, whatever moment the kill hit
    assert 2 <= len(done) <= 24
    if proc.returncode == -signal.SIGKILL:
        assert len(done) < 24  # killed mid-way, so the rerun below has work left
    assert main(_describe(manifest, out, weights, "--max-new-tokens", "24")) == 0
    ids = [r["id"] for r in read_records(out)]
    assert sorted(ids) == [c.id for c in clips] and len(set(ids)) == len(ids)


# The paper's Video-LLaVA prompt, verbatim (docs/design.md §5).
PAPER_QUESTION = (
    "You are a facial expression analyst. Identify emotions by analyzing the detailed movements of various facial "
    "features (mouth, chin, eyes, etc.) and implied actions (breathing rate, gaze direction) across a sequence. "
    "Provide a detailed description of the movements of various facial features and implied actions concisely."
)


def test_the_paper_prompt_is_the_default_and_ours_is_kept_by_name(tmp_path, capsys):
    paper = load_prompt()
    assert paper.name == "paper" and paper.question == PAPER_QUESTION
    assert load_prompt("paper") == paper
    ours = load_prompt("facial-movements-v1")
    assert ours.name == "facial-movements-v1" and "Do not name" in ours.question
    assert main(["describe", "--show-prompt"]) == 0
    shown = capsys.readouterr().out
    assert "prompt: paper" in shown and PAPER_QUESTION in shown
    assert prompt_hash(paper.render("video_llava")) in shown
    own = tmp_path / "mine.yaml"
    own.write_text('question: Describe the mouth.\ntemplates: {video_llava: "USER: <video>\\n{question} A:"}\n')
    assert main(["describe", "--show-prompt", "--prompt", str(own)]) == 0
    shown = capsys.readouterr().out
    assert "prompt: mine" in shown and "USER: <video>\nDescribe the mouth. A:" in shown


@pytest.mark.parametrize("args, message", [
    (["--show-prompt", "--prompt", "papers"], "neither a prompt of the package (facial-movements-v1, paper)"),
    (["--manifest", "m.jsonl", "--backend", "captions"], "give --out FILE"),
])
def test_describe_prompt_errors(args, message, capsys):
    assert main(["describe", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_repair_tail(tmp_path):
    path = tmp_path / "d.jsonl"
    assert repair_tail(path) == 0
    append_record(path, {"id": "a", "refined": None})
    assert repair_tail(path) == 0
    with path.open("a") as fh:
        fh.write('{"id": "b", "ref')
    assert repair_tail(path) == len('{"id": "b", "ref')
    append_record(path, {"id": "c", "refined": "x"})
    assert [r["id"] for r in read_records(path)] == ["a", "c"]
    path.write_text('{"id": "only partial')
    assert repair_tail(path) > 0 and path.read_bytes() == b""


class _Fixed(Backend):
    name, model = "fixed", "fixed"
    generation: dict = {}

    def __init__(self, texts):
        self.texts = texts

    def prepare(self, clip):
        if clip.id == "bad":
            raise UserError("cannot read clip bad")
        return clip.id

    def run(self, inputs):
        return [Output(self.texts[i]) for i in inputs]


def test_empty_generation_and_unreadable_clip_are_reported(tmp_path):
    clips = [ClipRecord(id=i, path=i, label=None, num_frames=1, split="test", fold=None, dataset="csv",
                        source="frames", root=str(tmp_path)) for i in ("a", "b", "bad")]
    out = tmp_path / "d.jsonl"
    summary = describe_manifest(clips, out, _Fixed({"a": "   ", "b": "The lips part, as if in joy."}), progress=False)
    assert summary.written == 2 and summary.empty == 1 and len(summary.failed) == 1
    assert summary.failure_lines() == ["bad: cannot read clip bad"]
    records = {r["id"]: r for r in read_records(out)}
    assert records["a"]["status"] == "empty" and records["a"]["refined"] is None and "no text" in records["a"]["note"]
    assert records["b"]["refined"] == "The lips part." and records["b"]["status"] == "ok"


def test_bad_weights_folders(tmp_path, weights, capsys):
    clips = _clips(tmp_path, 1)
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, clips)
    out = tmp_path / "d.jsonl"
    cases = {
        tmp_path / "missing": "does not exist",
        tmp_path: "has no config.json",
    }
    clip_folder = tmp_path / "clip"
    clip_folder.mkdir()
    (clip_folder / "config.json").write_text(json.dumps({"model_type": "clip"}))
    cases[clip_folder] = "holds a clip model, not Video-LLaVA"
    for folder, message in cases.items():
        assert main(_describe(manifest, out, folder)) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["describe", "--manifest", str(manifest), "--out", str(out), "--backend", "video-llava"]) == 2
    assert "pass --weights DIR" in capsys.readouterr().err
    assert main(_describe(manifest, out, weights, "--frames", "200")) == 2
    assert "more than the model's context" in capsys.readouterr().err
    assert main(["describe", "--manifest", str(manifest), "--out", str(out), "--backend", "hf-video",
                 "--weights", str(clip_folder)]) == 2
    assert "not a transformers image/video-text-to-text model" in capsys.readouterr().err


def test_hf_video_backend_loads_a_video_llava_folder(tmp_path, weights, capsys):
    pytest.importorskip("torchvision", reason="transformers' video processors need torchvision")
    clips = _clips(tmp_path, 2)
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, clips)
    out = tmp_path / "d.jsonl"
    args = _describe(manifest, out, weights)
    args[args.index("video-llava")] = "hf-video"
    assert main(args) == 0
    assert len(read_records(out)) == 2


def test_preprocessing_matches_clip_resize_and_crop(weights):
    from finecliper.describe.video_llava import VideoLlavaBackend

    backend = VideoLlavaBackend.from_folder(weights, load_prompt(), device="cpu", max_new_tokens=2)
    frames = np.zeros((8, 40, 64, 3), np.uint8)
    frames[:, :, 16:48] = 255  # the centre square white, the sides black: a centre crop is all white
    x = backend.preprocess(frames)
    assert x.shape == (8, 3, 32, 32)
    white = (1.0 - backend.mean) / backend.std
    assert np.allclose(x[:, :, :, 6:26].numpy(), white.numpy(), atol=1e-3)


def test_each_clip_of_a_batch_reaches_the_model(weights):
    from finecliper.describe.video_llava import VideoLlavaBackend

    backend = VideoLlavaBackend.from_folder(weights, load_prompt(), device="cpu", max_new_tokens=6)
    frames = numbered_frames(8, size=48)
    ramp = np.broadcast_to(np.linspace(0, 255, 48).astype(np.uint8)[None, None, :, None], frames.shape)
    clips = [frames, 255 - frames, np.zeros_like(frames), np.full_like(frames, 255), ramp, ramp.transpose(0, 2, 1, 3)]
    texts = [o.raw for o in backend.run([backend.preprocess(c) for c in clips])]
    # Different pictures, different texts (a model that never saw them would say the same six times) ...
    assert len(set(texts)) > 1, texts
    # ... and each clip its own text, whatever else is in its batch.
    assert [backend.run([backend.preprocess(c)])[0].raw for c in clips] == texts


def test_bench_describe_tiny(capsys):
    assert main(["bench", "describe", "--backend", "video-llava", "--size", "tiny", "--device", "cpu",
                 "--max-new-tokens", "4", "--batch-size", "2", "--repeat", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    run = result["runs"][0]
    assert run["batch_size"] == 2 and run["clips_per_s"] > 0
    assert run["new_tokens_per_s"] == pytest.approx(run["clips_per_s"] * 4)  # every run generates all 4
    assert result["prompt_tokens"] > 8 * 17  # 17 video tokens per frame of the tiny tower


def test_bench_describe_with_weights_counts_generated_tokens(weights, capsys):
    assert main(["bench", "describe", "--backend", "video-llava", "--weights", str(weights), "--device", "cpu",
                 "--clips", "2", "--frames", "8", "--max-new-tokens", "3"]) == 0
    assert "generated tokens/s" in capsys.readouterr().out


def test_video_llms_batch_8_clips_on_cuda_and_1_on_cpu(monkeypatch):
    from finecliper.describe import hf_models
    from finecliper.describe.hf_models import default_batch_size

    assert default_batch_size("cpu") == 1
    if torch.cuda.is_available():
        assert default_batch_size("cuda") == 8
    # The CUDA choice on any machine: the device as resolved decides, whatever --device said ("auto" included).
    monkeypatch.setattr(hf_models, "resolve_device", lambda device: torch.device("cuda"))
    assert default_batch_size("auto") == 8
