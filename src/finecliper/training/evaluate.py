"""Evaluation: predictions of a model over a dataset, sharded over processes, every clip counted once.

Rank r scores clips r, r + world, r + 2·world, ... (no padding); the processes' predictions are
gathered and put back in manifest order, so UAR and WAR are those of the whole manifest whatever the
number of processes.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import torch

from finecliper import atomic
from finecliper.data.dataset import collate, worker_init
from finecliper.errors import UserError
from finecliper.training.distributed import Dist
from finecliper.training.metrics import classification_metrics
from finecliper.training.plots import save_confusion_png
from finecliper.training.sampler import EvalShard


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def autocast_for(device: torch.device, precision: str):
    """bf16 autocast on CUDA ("auto" or "bf16"), on CPU only when "bf16" is asked for."""
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    if not use_bf16:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


@torch.no_grad()
def predict(model, dataset, dist: Dist, batch_size: int, workers: int, precision: str = "auto",
            progress: bool = False) -> dict[str, np.ndarray]:
    """{"pred": (N,), "label": (N,), "scores": (N, C)} in dataset order, on every process."""
    shard = EvalShard(len(dataset), dist.rank, dist.world)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, sampler=shard, num_workers=workers, collate_fn=collate,
        worker_init_fn=worker_init if workers else None, pin_memory=dist.device.type == "cuda",
    )
    was_training = model.training
    model.eval()
    scores, labels = [], []
    iterator = loader
    if progress and dist.main:
        from tqdm import tqdm

        iterator = tqdm(loader, desc="eval", unit="batch", dynamic_ncols=True)
    for batch in iterator:
        labels.append(batch.pop("labels", torch.full((len(batch["ids"]),), -1)).numpy())
        with autocast_for(dist.device, precision):
            out = model(to_device(batch, dist.device))
        scores.append(out["scores"].float().cpu().numpy())
    model.train(was_training)
    num_classes = len(model.class_names)
    mine = {
        "index": np.asarray(shard.indices, dtype=np.int64),
        "scores": np.concatenate(scores) if scores else np.zeros((0, num_classes), np.float32),
        "label": np.concatenate(labels) if labels else np.zeros(0, np.int64),
    }
    parts = dist.gather(mine)
    index = np.concatenate([p["index"] for p in parts])
    order = np.argsort(index)
    if not np.array_equal(index[order], np.arange(len(dataset))):
        raise RuntimeError("evaluation shards did not cover every clip exactly once")
    all_scores = np.concatenate([p["scores"] for p in parts])[order]
    return {"pred": all_scores.argmax(axis=1), "label": np.concatenate([p["label"] for p in parts])[order],
            "scores": all_scores}


def evaluate(model, dataset, dist: Dist, batch_size: int, workers: int, precision: str = "auto",
             progress: bool = False) -> dict:
    """UAR, WAR, per-class recall and confusion matrix of `model` on a labelled dataset."""
    out = predict(model, dataset, dist, batch_size, workers, precision, progress)
    if (out["label"] < 0).any():
        raise UserError("the manifest has clips without a label; evaluation needs a labelled manifest")
    return classification_metrics(out["label"], out["pred"], list(model.class_names))


def write_metrics(metrics: dict, out_dir: str | Path, stem: str, title: str = "") -> None:
    """`{stem}.json` and `{stem}_confusion.png` in `out_dir`, atomically."""
    out_dir = Path(out_dir)
    atomic.write_text(out_dir / f"{stem}.json", json.dumps(metrics, indent=2) + "\n")
    save_confusion_png(metrics["confusion"], metrics["class_names"], out_dir / f"{stem}_confusion.png", title)
