"""The public Python API for a trained checkpoint; it imports nothing of `finecliper.training`.

    from finecliper.inference import Predictor

    predictor = Predictor("RUN/checkpoints/best.safetensors")  # loads the model once
    prediction = predictor.predict("my_clip.mp4")              # a video, a frame folder, or uint8 frames
    print(prediction.label, prediction.top(3))

Modules, from the bottom up: `runtime` (device and autocast), `checkpoint` (checkpoint files and the model
they rebuild), `dataset` (the dataset a model's config asks for), `scoring` (outputs of a batch, scores of
a dataset), `description` (one clip's description), `predictor` (`Predictor`, `Prediction`). Training
imports the lower ones; nothing here imports training.

`Predictor` and `Prediction` are loaded on first use: importing them loads torch and transformers, and
`finecliper --help` reads DESCRIBE_MODES and QUANTIZE_MODES from here without paying for that.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from finecliper.inference.predictor import Prediction, Predictor

__all__ = ["DESCRIBE_MODES", "QUANTIZE_MODES", "Prediction", "Predictor"]

DESCRIBE_MODES = ("none", "landmarks")  # where a clip's description comes from when none is given
QUANTIZE_MODES = ("none", "int8")  # the frozen towers' weights in prediction (inference/quantize.py)

_LAZY = {"Prediction": "finecliper.inference.predictor", "Predictor": "finecliper.inference.predictor"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
