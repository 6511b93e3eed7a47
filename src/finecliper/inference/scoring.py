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
          prefetch_factor: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """PN scores (N, C) and labels (N,; -1 for a clip without one) of the clips `indices` of `dataset`,
    in that order, in evaluation mode (the model's mode is restored afterwards). `loaders`: a dict the
    caller keeps between evaluations, holding the loader of each (dataset, batch size) so that its
    persistent workers serve every evaluation instead of starting anew."""
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
    scores, labels = [], []
    for batch in tqdm(loader, desc="eval", unit="batch", dynamic_ncols=True, disable=not progress):
        labels.append(batch.pop("labels", torch.full((len(batch["ids"]),), -1)).numpy())
        scores.append(forward(model, batch, device, precision)["scores"].float().cpu().numpy())
    model.train(was_training)
    if not scores:
        return np.zeros((0, len(model.class_names)), np.float32), np.zeros(0, np.int64)
    return np.concatenate(scores), np.concatenate(labels)
