"""The public inference API: no training code behind it, frames in memory read like files, README's example runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from builders import make_clips, moving, random_checkpoint
from finecliper.data.video import read_clip
from finecliper.datasets import class_names
from finecliper.errors import UserError
from finecliper.inference import DESCRIBE_MODES, Prediction, Predictor
from media import astronaut, write_video
from source_graph import import_graph

README = Path(__file__).resolve().parent.parent / "README.md"


def test_importing_the_inference_api_loads_no_training_code():
    code = (
        "import importlib, pkgutil, sys\n"
        "import finecliper.inference as api\n"
        "from finecliper.inference import Prediction, Predictor\n"
        "for info in pkgutil.iter_modules(api.__path__):\n"
        "    importlib.import_module(f'finecliper.inference.{info.name}')\n"
        "print('finecliper.inference.predictor' in sys.modules)\n"
        "print(sorted(name for name in sys.modules if name.startswith('finecliper.training')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["True", "[]"]


def test_no_inference_module_imports_training_even_inside_a_function():
    graph = import_graph()
    reached, todo = set(), [name for name in graph if name.startswith("finecliper.inference")]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(graph[name])
    assert not {name for name in reached if name.startswith("finecliper.training")}
    assert "finecliper.model" in reached and "finecliper.inference.predictor" in reached


def test_frames_in_memory_are_predicted_like_their_frame_folder(tmp_path):
    predictor = Predictor(random_checkpoint(tmp_path / "ckpt", "B16", seed=1), crop="none")
    (clip,) = make_clips(tmp_path / "clips", 1, classes=["happiness"], frames=10)
    frames = read_clip(clip.full_path, np.arange(10))  # (T, H, W, 3) uint8
    from_folder = predictor.predict(clip.full_path)
    for given in (frames, torch.from_numpy(frames), torch.from_numpy(frames).permute(0, 3, 1, 2)):
        in_memory = predictor.predict(given, name="held")
        assert in_memory.to_dict() == {**from_folder.to_dict(), "path": "held"}
    assert from_folder.frames == 10 and not from_folder.face_cropped
    # The API returns what `finecliper predict --json` prints.
    assert isinstance(from_folder, Prediction)
    assert predictor.json_object([from_folder]) == {
        "checkpoint": str(tmp_path / "ckpt.safetensors"), "class_names": class_names("dfew"),
        "predictions": [from_folder.to_dict()]}


@pytest.mark.parametrize(
    "clip, message",
    [
        (np.zeros((4, 8, 8, 3), np.float32), "frames must be uint8 RGB values"),
        (np.zeros((4, 8, 8), np.uint8), r"must have shape \(T, 3, H, W\) or \(T, H, W, 3\), got \(4, 8, 8\)"),
        (np.zeros((4, 8, 8, 4), np.uint8), r"got \(4, 8, 8, 4\)"),
        (np.zeros((0, 8, 8, 3), np.uint8), "the clip has no frames"),
        ([[0, 1, 2]], "not a list"),
    ],
)
def test_bad_frames_are_one_sentence(tmp_path, clip, message):
    predictor = Predictor(random_checkpoint(tmp_path / "ckpt", "B16", seed=1), crop="none")
    with pytest.raises(UserError, match=message):
        predictor.predict(clip)


def test_unknown_describe_mode_is_one_sentence(tmp_path):
    with pytest.raises(UserError, match="unknown --describe mode 'llm'; choose one of none, landmarks"):
        Predictor(random_checkpoint(tmp_path / "ckpt", "B16", seed=1), describe="llm")
    assert DESCRIBE_MODES == ("none", "landmarks")


def readme_example() -> str:
    section = README.read_text(encoding="utf-8").split("## Predicting on your own clips", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    return code


def test_the_readme_example_runs(tmp_path, monkeypatch, capsys):
    """README's Python example, exactly as written, on a tiny checkpoint and a raw video of a real face."""
    random_checkpoint(tmp_path / "RUN/checkpoints/best", "B16-Full", seed=0)
    frames, _ = moving(astronaut(), 10, (320, 480), (0.6, 0.75), (40, 10), (200, -20))
    write_video(tmp_path / "my_clip.mp4", frames)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)
    prediction, in_memory = namespace["prediction"], namespace["in_memory"]
    assert prediction.path == "my_clip.mp4" and prediction.label in class_names("dfew")
    assert prediction.face_cropped and prediction.description_source == "landmarks" and prediction.weight < 1
    # The decoded frames are the video's frames: the same prediction.
    assert in_memory.to_dict() == {**prediction.to_dict(), "path": "my_clip, decoded"}
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith(prediction.label) and printed[1] == str(in_memory.to_dict())
