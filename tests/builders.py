"""Builders of test inputs shared by several test modules: generated clips, a tiny experiment, a photo moved
(or panned) through a video, a frontal 68-point face track, untrained checkpoints with randomised adapters.
(Media files: media.py.)"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from finecliper.bench.describe import generated_clips
from finecliper.config.loading import experiment_from_dict
from finecliper.config.strict import to_dict
from finecliper.data.manifest import ClipRecord, write_manifest
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


def described_clips(root: Path, n: int, frames: int = 16) -> tuple[list[ClipRecord], Path, Path]:
    """`n` clips of `bench.describe.generated_clips` (frames, a caption, a landmark track each in a cue store)
    under `root`, and their manifest: (records, cue store, manifest path), what the offline pipelines read."""
    records, store = generated_clips(root, n, frames)
    write_manifest(root / "manifest.jsonl", records)
    return records, store, root / "manifest.jsonl"


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


def panned(photo: np.ndarray, n: int, size: tuple[int, int] = (224, 224), zoom: float = 1.0) -> np.ndarray:
    """(n, H, W, 3) frames of a still `photo` filling the frame (its shorter side scaled to `zoom` times the
    frame's longer side) and panned across it: a still scene, moved like a handheld camera."""
    s = zoom * max(size) / min(photo.shape[:2])
    return moving(photo, n, size, (s, s * 1.08), (-0.05 * size[1], -0.05 * size[0]),
                  (-0.2 * size[1], -0.15 * size[0]))[0]


def frontal_face() -> np.ndarray:
    """A frontal 68-point face in a 200 px frame (iBUG layout; subject's right on the image's left)."""
    p = np.zeros((68, 2))
    for i in range(17):
        a = np.pi - i * np.pi / 16
        p[i] = (100 + 75 * np.cos(a), 95 + 95 * np.sin(a))
    p[17:22] = [(45, 75), (55, 70), (66, 68), (77, 69), (88, 72)]
    p[22:27] = [(112, 72), (123, 69), (134, 68), (145, 70), (155, 75)]
    p[27:31] = [(100, 88), (100, 98), (100, 108), (100, 118)]
    p[31:36] = [(88, 126), (94, 128), (100, 129), (106, 128), (112, 126)]
    p[36:42] = [(55, 95), (65, 90), (75, 90), (85, 95), (75, 100), (65, 100)]
    p[42:48] = [(115, 95), (125, 90), (135, 90), (145, 95), (135, 100), (125, 100)]
    p[48:60] = [(75, 155), (83, 150), (92, 147), (100, 148), (108, 147), (117, 150), (125, 155),
                (117, 162), (108, 165), (100, 166), (92, 165), (83, 162)]
    p[60:68] = [(80, 155), (90, 154), (100, 154), (110, 154), (120, 155), (110, 156), (100, 156), (90, 156)]
    return p


def still(n: int, noise: float = 0.3, seed: int = 0) -> np.ndarray:
    """(n, 68, 2) tracks of the frontal face, held still, with Gaussian jitter of `noise` px."""
    rng = np.random.default_rng(seed)
    return np.repeat(frontal_face()[None], n, axis=0) + rng.normal(0, noise, (n, 68, 2))


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


SQUARE_COLOURS = np.array([[230, 30, 30], [30, 30, 230]])  # the two classes of the marked-square images
PATCH = 8  # the tiny backbone's patch size: a square fills one patch of its 4 x 4 grid


def marked_square(background: np.ndarray, cell: tuple[int, int], colour) -> np.ndarray:
    """`background` (32, 32, 3) with one patch-sized square at grid `cell`: white border, `colour` inside."""
    image = background.copy()
    r, c = cell[0] * PATCH, cell[1] * PATCH
    image[r : r + PATCH, c : c + PATCH] = 255
    image[r + 1 : r + PATCH - 1, c + 1 : c + PATCH - 1] = colour
    return image


def square_backbone(folder: Path, steps: int = 60, seed: int = 0) -> Path:
    """A tiny CLIP whose image tower was trained (all of it) to tell the colour of a marked square at a random
    place on random noise, saved as a user's weights folder (config, safetensors, tokenizer). Only the square
    carries the class, so a tower that learned the task must look at it."""
    from finecliper.data.normalize import normalize
    from finecliper.model.backbone import build_clip
    from finecliper.model.tokenizer import builtin_tokenizer

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    clip = build_clip("tiny").train()
    head = torch.nn.Linear(clip.config.projection_dim, len(SQUARE_COLOURS))
    params = [*clip.vision_model.parameters(), *clip.visual_projection.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=3e-3)
    for _ in range(steps):
        labels = rng.integers(0, len(SQUARE_COLOURS), 32)
        images = np.stack([marked_square(rng.integers(0, 256, (32, 32, 3)).astype(np.uint8),
                                         tuple(rng.integers(0, 4, 2)), SQUARE_COLOURS[y]) for y in labels])
        pooled = clip.vision_model(pixel_values=normalize(images)).pooler_output
        loss = torch.nn.functional.cross_entropy(head(clip.visual_projection(pooled)), torch.from_numpy(labels))
        opt.zero_grad()
        loss.backward()
        opt.step()
    clip.eval().save_pretrained(folder)
    builtin_tokenizer().save_pretrained(folder)
    return folder


def checkpoint_on(weights: Path, path: Path, preset: str = "B16", num_frames: int = 4) -> Path:
    """An untrained checkpoint of `preset` (DFEW's classes) on the CLIP weights folder `weights`."""
    cfg = experiment_from_dict({"name": preset.lower(), "preset": preset, "data": {"dataset": "dfew"},
                                "model": {"backbone": "tiny", "weights": str(weights), "num_frames": num_frames}})
    model = build_model(cfg.model, class_names("dfew"))
    record = {"config": to_dict(cfg), "backbone": backbone_identity(cfg.model), "preset": cfg.preset, "dataset": "dfew"}
    return save_checkpoint(path, model, record)
