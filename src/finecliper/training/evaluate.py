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
from finecliper.datasets.class_sets import check_class_set
from finecliper.errors import UserError
from finecliper.inference.checkpoint import load_model
from finecliper.inference.dataset import make_dataset
from finecliper.inference.scoring import score
from finecliper.model.pn import SCORES
from finecliper.paths import output_folder
from finecliper.training import distributed
from finecliper.training.distributed import Dist
from finecliper.training.metrics import classification_metrics
from finecliper.training.plots import save_confusion_png
from finecliper.training.run_inputs import classes_present, descriptions_summary


def predict(model, dataset, dist: Dist, batch_size: int, workers: int, precision: str = "auto",
            progress: bool = False, loaders: dict | None = None, prefetch_factor: int = 2) -> dict[str, np.ndarray]:
    """{"pred": (N,), "label": (N,), "scores": (N, C), "pos_sim", "neg_sim" (N, C; neg_sim absent without
    negative sentences)} in dataset order, on every process. `loaders`:
    kept loaders with persistent workers (`scoring.score`)."""
    indices = np.arange(dist.rank, len(dataset), dist.world, dtype=np.int64)
    mine = score(model, dataset, indices.tolist(), batch_size, workers, dist.device, precision,
                 progress=progress and dist.main, loaders=loaders, prefetch_factor=prefetch_factor)
    parts = dist.gather({"index": indices, **mine})
    index = np.concatenate([p["index"] for p in parts])
    order = np.argsort(index)
    if not np.array_equal(index[order], np.arange(len(dataset))):
        raise RuntimeError("evaluation shards did not cover every clip exactly once")
    out = {key: np.concatenate([p[key] for p in parts])[order] for key in mine}
    out["label"] = out.pop("labels")
    out["pred"] = out["scores"].argmax(axis=1)
    return out


def evaluate(model, dataset, dist: Dist, batch_size: int, workers: int, precision: str = "auto",
             progress: bool = False, loaders: dict | None = None, prefetch_factor: int = 2) -> dict:
    """UAR, WAR, per-class recall and confusion matrix of `model` on a labelled dataset, by the model's
    decision score (`score`), and under "by_score" the same metrics for every score kind (model/pn.py),
    so that a zero-shot run reports both pos - neg and pos alone."""
    out = predict(model, dataset, dist, batch_size, workers, precision, progress, loaders, prefetch_factor)
    if (out["label"] < 0).any():
        raise UserError("the manifest has clips without a label; evaluation needs a labelled manifest")
    metrics = classification_metrics(out["label"], out["pred"], list(model.class_names))
    metrics["score"] = model.score_kind
    metrics["by_score"] = {}
    for kind in SCORES:
        if kind == "pos_minus_neg" and "neg_sim" not in out:
            continue  # positive sentences only: there is one score
        scores = out["pos_sim"] - out["neg_sim"] if kind == "pos_minus_neg" else out["pos_sim"]
        metrics["by_score"][kind] = classification_metrics(out["label"], scores.argmax(axis=1),
                                                           list(model.class_names))
    return metrics


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
    out = output_folder(Path(out_dir) if out_dir else Path(checkpoint).parent / f"eval_{Path(manifest).stem}")
    model, cfg, record = load_model(checkpoint, overrides, dataset_classes(dataset) if dataset else None)
    names = list(model.class_names)
    zero_shot = names != record["class_names"]
    dist = distributed.setup(device)
    model.to(dist.device)
    records = read_manifest(manifest, cfg.data.data_root)
    check_class_set(records, names, f"checkpoint {checkpoint}", manifest)
    data = make_dataset(records, cfg, names, False, model)
    metrics = evaluate(model, data, dist, batch_size, workers, cfg.train.precision, progress=True)
    metrics.update(checkpoint=str(checkpoint), manifest=str(manifest), zero_shot=zero_shot)
    if dist.main:
        write_metrics(metrics, out, "metrics", f"{Path(checkpoint).stem} on {Path(manifest).stem}")
        results = {"name": cfg.name, "preset": cfg.preset, "dataset": dataset or cfg.data.dataset,
                   "fold": fold_of(records), "select_on": cfg.data.select_on, "zero_shot": zero_shot,
                   # A "best" checkpoint records the split it was selected on; any other is a last epoch.
                   "selection": record.get("selection", {}).get("split", "last"),
                   "checkpoint": str(checkpoint), "test": metrics,
                   "classes": {"scored": names, "test": classes_present(records, names)},
                   "descriptions": descriptions_summary(cfg, {"test": data}, model.tokenizer, model.context_length)}
        atomic.write_text(out / "results.json", json.dumps(results, indent=2) + "\n")
    # Leave together: a gloo process whose peer already closed the group can abort at teardown.
    dist.barrier()
    distributed.teardown()
    return metrics
