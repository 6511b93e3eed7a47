"""A model's outputs without gradients: for one batch, and the PN scores of a dataset's clips.

`score` is one process's share of an evaluation; training/evaluate.py splits a dataset over processes
and gathers their shares.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm import tqdm

from finecliper.data.loader import make_loader
from finecliper.inference.runtime import autocast_for, to_device


@torch.no_grad()
def forward(model, batch: dict, device: torch.device, precision: str = "auto") -> dict:
    """The model's output dict for `batch` (see FineCLIPER.forward), on `device` under the run's autocast."""
    with autocast_for(device, precision):
        return model(to_device(batch, device))


@torch.no_grad()
def score(model, dataset, indices: Sequence[int], batch_size: int, workers: int, device: torch.device,
          precision: str = "auto", progress: bool = False, loaders: dict | None = None,
          prefetch_factor: int = 2) -> dict[str, np.ndarray]:
    """The clips `indices` of `dataset`, in that order, in evaluation mode (the model's mode is restored
    afterwards): {"scores": (N, C) the model's decision scores, "labels": (N,; -1 for a clip without one),
    "pos_sim": (N, C), "neg_sim": (N, C) or absent without negative sentences}. The similarities let an
    evaluation report every score kind (model/pn.py) from one pass. `loaders`: a dict the caller keeps
    between evaluations, holding the loader of each (dataset, batch size, workers) so that its persistent
    workers serve every evaluation instead of starting anew."""
    key = (id(dataset), batch_size, workers)
    loader = None if loaders is None else loaders.get(key)
    if loader is None:
        loader = make_loader(dataset, batch_size, list(indices), workers, device, prefetch_factor)
        if loaders is not None:
            loaders[key] = loader
    elif list(loader.sampler) != list(indices):
        raise RuntimeError("a kept evaluation loader was asked for other clips")
    was_training = model.training
    model.eval()
    parts: dict[str, list[np.ndarray]] = {"scores": [], "labels": [], "pos_sim": [], "neg_sim": []}
    for batch in tqdm(loader, desc="eval", unit="batch", dynamic_ncols=True, disable=not progress):
        parts["labels"].append(batch.pop("labels", torch.full((len(batch["ids"]),), -1)).numpy())
        out = forward(model, batch, device, precision)
        for name in ("scores", "pos_sim", "neg_sim"):
            if out[name] is not None:
                parts[name].append(out[name].float().cpu().numpy())
    model.train(was_training)
    if not parts["labels"]:
        empty = np.zeros((0, len(model.class_names)), np.float32)
        return {"scores": empty, "labels": np.zeros(0, np.int64), "pos_sim": empty,
                **({"neg_sim": empty} if model.cfg.use_negative else {})}
    return {key: np.concatenate(value) for key, value in parts.items() if value}
