"""What a torch DataLoader over `ClipDataset` needs: `collate` (items to the model's batch) and `worker_init`."""

from __future__ import annotations

import torch
from torch.utils.data import get_worker_info

from finecliper.data.cue_kinds import CUE_KINDS
from finecliper.errors import UserError


def collate(items: list[dict]) -> dict:
    """Batch of dataset items, with exactly the keys the model takes.

    frames (B, T, 3, S, S); one (B, T, 3, S, S) per cue kind the items have (parsing, landmarks, ...);
    descriptions (list of B str or None); labels (B,) long, present when every clip has a label; ids (list of B).
    """
    if not items:
        raise UserError("cannot collate an empty batch")
    batch: dict = {"frames": _stack([it["frames"] for it in items])}
    for key in CUE_KINDS:
        if key in items[0]:
            batch[key] = _stack([it[key] for it in items])
    batch["descriptions"] = [it.get("description") for it in items]
    found = [it.get("label") for it in items]
    if all(label is not None for label in found):
        batch["labels"] = torch.tensor(found, dtype=torch.long)
    elif any(label is not None for label in found):
        missing = next(it["id"] for it in items if it.get("label") is None)
        raise UserError(f"clip {missing} has no label but others in its batch do; use one labelled manifest")
    batch["ids"] = [it["id"] for it in items]
    unreadable = [clip_id for it in items for clip_id in it.get("unreadable", ())]
    if unreadable:  # clips left out for this batch's items (ClipDataset's skip_unreadable)
        batch["unreadable"] = unreadable
    return batch


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    """torch.stack; inside a DataLoader worker, straight into shared memory (as default_collate does),
    which saves the copy the loader would otherwise make to send the batch to the main process."""
    if get_worker_info() is None:
        return torch.stack(tensors)
    first = tensors[0]
    storage = first.untyped_storage()._new_shared(len(tensors) * first.numel() * first.element_size())
    out = first.new(storage).resize_(len(tensors), *first.shape)
    return torch.stack(tensors, out=out)


def worker_init(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: one torch thread per worker (the workers are the parallelism).

    OpenCV is limited to one thread in the parent already (images.py), and must not be touched
    here: resizing a thread pool inherited through fork() deadlocks the worker.
    """
    torch.set_num_threads(1)
