"""One clip through a checkpoint, with the image tower's attention recorded: every number `explain` shows.

The clip takes the exact path of `finecliper predict` (`Predictor.read`: checks, cues, face crop,
description, the evaluation dataset's batch); the one forward pass runs under `record_attention`, so the
maps belong to the very pass that gives the prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from finecliper.data.normalize import denormalize
from finecliper.data.prepare import prepare_batch
from finecliper.data.sampling import sample_indices
from finecliper.errors import UserError
from finecliper.explain.attention import METHODS, patch_maps, record_attention
from finecliper.inference.predictor import Prediction, Predictor
from finecliper.inference.scoring import forward


@dataclass
class Explanation:
    """A clip's prediction, what each image branch read and where its CLS token looked, and the cosines."""

    checkpoint: str
    prediction: Prediction
    method: str  # a key of attention.METHODS
    frame_indices: list[int]  # the sampled frames of the clip, one per column
    images: dict[str, np.ndarray]  # branch -> (T, S, S, 3) uint8: the tower's input (frames or cue renderings)
    maps: dict[str, np.ndarray]  # branch -> (T, g, g): share of the CLS token's attention per patch
    class_names: list[str]
    positive: list[float]  # cos(z, p_c) per class: the clip to the positive sentences
    negative: list[float] | None  # cos(z, n_c) per class, None without negative sentences
    positive_sentences: list[str]
    negative_sentences: list[str]

    def to_dict(self) -> dict:
        """The JSON object `explain.json` holds (every number of the figures; the images are the PNGs)."""
        return {
            "checkpoint": self.checkpoint, "prediction": self.prediction.to_dict(),
            "attention": {"method": self.method, "title": METHODS[self.method], "frame_indices": self.frame_indices,
                          "grid": list(next(iter(self.maps.values())).shape[1:]),
                          "maps": {b: np.round(m, 6).tolist() for b, m in self.maps.items()}},
            "similarity": {"class_names": self.class_names, "positive": self.positive, "negative": self.negative,
                           "positive_sentences": self.positive_sentences,
                           "negative_sentences": self.negative_sentences},
            "description": self.prediction.description, "weight": self.prediction.weight,
        }


def explain_clip(predictor: Predictor, clip: str | Path, description: str | None = None,
                 method: str = "rollout") -> Explanation:
    """The `Explanation` of a video file or frame folder under `predictor`'s checkpoint."""
    if method not in METHODS:
        raise UserError(f"unknown attention method {method!r}; choose one of {', '.join(METHODS)}")
    model = predictor.model
    inputs = predictor.read(clip, description)
    with record_attention(model) as recorded:
        out = forward(model, inputs.batch, predictor.device, predictor.precision)
    shown = prepare_batch(inputs.batch, "cpu")  # the images as the model read them (palette, normalisation)
    branches = list(predictor.cfg.model.image_branches)
    neg = out["neg_sim"]
    return Explanation(
        checkpoint=predictor.checkpoint, prediction=predictor.prediction(inputs, out), method=method,
        frame_indices=sample_indices(inputs.num_frames, predictor.cfg.model.num_frames).tolist(),
        images={b: denormalize(shown["frames" if b == "video" else b][0]) for b in branches},
        maps={b: patch_maps(recorded[b], method).numpy() for b in branches},
        class_names=predictor.class_names, positive=out["pos_sim"].float()[0].cpu().tolist(),
        negative=None if neg is None else neg.float()[0].cpu().tolist(),
        positive_sentences=list(model.positive_sentences), negative_sentences=list(model.negative_sentences),
    )
