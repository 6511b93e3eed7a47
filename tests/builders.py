"""Builders of test inputs shared by several test modules: generated clips, a tiny experiment, a photo moved
through a video, untrained checkpoints with randomised adapters. (Media files: media.py.)"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from finecliper.config.loading import experiment_from_dict
from finecliper.config.strict import to_dict
from finecliper.data.manifest import ClipRecord
from finecliper.datasets import class_names
from finecliper.inference.checkpoint import backbone_identity, save_checkpoint
from finecliper.model import build_model
from media import write_frames

CLASSES4 = ["happiness", "sadness", "neutral", "anger"]
COLOURS = np.array([[220, 40, 40], [40, 200, 40], [40, 40, 220], [220, 220, 40]])


def make_clips(root: Path, n_per_class: int, seed: int = 0, classes=CLASSES4, frames: int = 12) -> list[ClipRecord]:
    """Clips whose class is the colour of a moving square on a noisy background."""
    rng = np.random.default_rng(seed)
    records = []
    for c, label in enumerate(classes):
        for i in range(n_per_class):
            clip = rng.integers(0, 60, size=(frames, 40, 40, 3)).astype(np.uint8)
            for t in range(frames):
                x = 4 + (t + i) % 16
                clip[t, 10:30, x : x + 16] = COLOURS[c % len(COLOURS)]
            cid = f"{label}_{i:02d}"
            write_frames(root / cid, clip)
            records.append(ClipRecord(id=cid, path=cid, label=label, num_frames=frames, split="train", fold=1,
                                      dataset="dfew", source="frames", root=str(root)))
    return records


def tiny_experiment(manifest, **train) -> dict:
    return {
        "name": "overfit", "preset": "B16",
        "model": {"backbone": "tiny", "num_frames": 8},
        "data": {"dataset": "dfew", "train_manifest": str(manifest), "test_manifest": str(manifest),
                 "select_on": "test", "workers": 0},
        "train": {"epochs": 40, "batch_size": 4, "lr": 1e-2, "warmup_epochs": 1, "tensorboard": False,
                  "log_every": 2, "checkpoint_every": 2, **train},
    }


def moving(photo: np.ndarray, n: int, size: tuple[int, int], s: tuple[float, float], t0, t1):
    """Frames showing `photo` scaled by s[0] -> s[1] and moved t0 -> t1: frame = scale * photo + shift."""
    frames, motion = [], []
    for k in range(n):
        a = k / (n - 1)
        scale = s[0] + (s[1] - s[0]) * a
        shift = np.asarray(t0, float) + (np.asarray(t1, float) - np.asarray(t0, float)) * a
        affine = np.array([[scale, 0, shift[0]], [0, scale, shift[1]]])
        frames.append(cv2.warpAffine(photo, affine, (size[1], size[0]), flags=cv2.INTER_AREA))
        motion.append((scale, shift))
    return np.stack(frames), motion


def random_checkpoint(path: Path, preset: str, seed: int, num_frames: int = 4, dataset: str = "dfew") -> Path:
    """An untrained tiny checkpoint of `preset` (`dataset`'s classes) whose adapters and heads are randomised,
    so that its branches really change the scores."""
    cfg = experiment_from_dict({"name": preset.lower(), "preset": preset,
                                "model": {"backbone": "tiny", "num_frames": num_frames}, "data": {"dataset": dataset}})
    model = build_model(cfg.model, class_names(dataset))
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.trainable_parameters():
            p.add_(torch.randn_like(p) * 0.05)
    record = {"config": to_dict(cfg), "backbone": backbone_identity(cfg.model), "preset": cfg.preset, "dataset": dataset}
    return save_checkpoint(path, model, record)
