"""Evaluation: predictions of a model over a dataset, sharded over processes, every clip counted once.

Rank r scores clips r, r + world, r + 2·world, ... (no padding) with `finecliper.inference.scoring`; the
processes' predictions are gathered and put back in manifest order, so UAR and WAR are those of the
whole manifest whatever the number of processes. `evaluate_checkpoint` is `finecliper eval`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from finecliper import atomic
from finecliper.data.manifest import ClipRecord, read_manifest
from finecliper.datasets import class_names as dataset_classes
from finecliper.errors import UserError
from finecliper.inference.checkpoint import load_model
from finecliper.inference.dataset import make_dataset
from finecliper.inference.scoring import score
from finecliper.training import distributed
from finecliper.training.distributed import Dist
from finecliper.training.metrics import classification_metrics
from finecliper.training.plots import save_confusion_png


def predict(model, dataset, dist: Dist, batch_size: int, workers: int, precision: str = "auto",
            progress: bool = False, loaders: dict | None = None, prefetch_factor: int = 2) -> dict[str, np.ndarray]:
    """{"pred": (N,), "label": (N,), "scores": (N, C)} in dataset order, on every process. `loaders`: kept
    loaders with persistent workers (`scoring.score`)."""
    indices = np.arange(dist.rank, len(dataset), dist.world, dtype=np.int64)
    scores, labels = score(model, dataset, indices.tolist(), batch_size, workers, dist.device, precision,
                           progress=progress and dist.main, loaders=loaders, prefetch_factor=prefetch_factor)
    parts = dist.gather({"index": indices, "scores": scores, "label": labels})
    index = np.concatenate([p["index"] for p in parts])
    order = np.argsort(index)
    if not np.array_equal(index[order], np.arange(len(dataset))):
        raise RuntimeError("evaluation shards did not cover every clip exactly once")
    all_scores = np.concatenate([p["scores"] for p in parts])[order]
    return {"pred": all_scores.argmax(axis=1), "label": np.concatenate([p["label"] for p in parts])[order],
            "scores": all_scores}


def evaluate(model, dataset, dist: Dist, batch_size: int, workers: int, precision: str = "auto",
             progress: bool = False, loaders: dict | None = None, prefetch_factor: int = 2) -> dict:
    """UAR, WAR, per-class recall and confusion matrix of `model` on a labelled dataset."""
    out = predict(model, dataset, dist, batch_size, workers, precision, progress, loaders, prefetch_factor)
    if (out["label"] < 0).any():
        raise UserError("the manifest has clips without a label; evaluation needs a labelled manifest")
    return classification_metrics(out["label"], out["pred"], list(model.class_names))


def write_metrics(metrics: dict, out_dir: str | Path, stem: str, title: str = "") -> None:
    """`{stem}.json` and `{stem}_confusion.png` in `out_dir`, atomically."""
    out_dir = Path(out_dir)
    atomic.write_text(out_dir / f"{stem}.json", json.dumps(metrics, indent=2) + "\n")
    save_confusion_png(metrics["confusion"], metrics["class_names"], out_dir / f"{stem}_confusion.png", title)


def fold_of(records: list[ClipRecord]) -> int | None:
    """The fold the records share, or None (no fold, or several)."""
    folds = {r.fold for r in records}
    return folds.pop() if len(folds) == 1 else None


def evaluate_checkpoint(checkpoint: str, manifest: str, out_dir: str | None, overrides: list[str],
                        dataset: str | None = None, device: str | None = None, batch_size: int = 8,
                        workers: int = 2) -> dict:
    """`finecliper eval`: a checkpoint on a manifest (its dataset's classes, or `dataset`'s for zero-shot)."""
    model, cfg, record = load_model(checkpoint, overrides, dataset_classes(dataset) if dataset else None)
    names = list(model.class_names)
    zero_shot = names != record["class_names"]
    dist = distributed.setup(device)
    model.to(dist.device)
    records = read_manifest(manifest, cfg.data.data_root)
    data = make_dataset(records, cfg, names, False, model)
    metrics = evaluate(model, data, dist, batch_size, workers, cfg.train.precision, progress=True)
    metrics.update(checkpoint=str(checkpoint), manifest=str(manifest), zero_shot=zero_shot)
    if dist.main:
        out = Path(out_dir) if out_dir else Path(checkpoint).parent / f"eval_{Path(manifest).stem}"
        write_metrics(metrics, out, "metrics", f"{Path(checkpoint).stem} on {Path(manifest).stem}")
        results = {"name": cfg.name, "preset": cfg.preset, "dataset": dataset or cfg.data.dataset,
                   "fold": fold_of(records), "select_on": cfg.data.select_on, "zero_shot": zero_shot,
                   "checkpoint": str(checkpoint), "test": metrics}
        atomic.write_text(out / "results.json", json.dumps(results, indent=2) + "\n")
    # Leave together: a gloo process whose peer already closed the group can abort at teardown.
    dist.barrier()
    distributed.teardown()
    return metrics
