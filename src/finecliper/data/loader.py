"""What a torch DataLoader over `ClipDataset` needs: `collate` (items to a batch), `worker_init`, and
`make_loader`, the one way the package builds its loaders."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

from finecliper.data.cue_kinds import CUE_KINDS
from finecliper.data.descriptions import has_text
from finecliper.errors import UserError


def collate(items: list[dict]) -> dict:
    """Batch of dataset items, with exactly the keys the model takes.

    frames (B, T, S, S, 3) uint8; one stack of transport arrays per cue kind the items have (parsing
    (B, T, S, S) class ids, landmarks (B, T, S, S, 3), ...; `data/prepare.py` makes model inputs of them on
    the device); descriptions (list of B str or None) and description_rows (K,) long, the rows whose
    description is not empty (indexed here, so the model needs no host-to-device copy of its own: it moves
    with the batch, pinned and non-blocking); labels (B,) long, present when every clip has a label; ids
    (list of B); palette, the name of the renderings' palette, when the items have cue images.
    """
    if not items:
        raise UserError("cannot collate an empty batch")
    batch: dict = {"frames": _stack([it["frames"] for it in items])}
    for key in CUE_KINDS:
        if key in items[0]:
            batch[key] = _stack([it[key] for it in items])
    if "palette" in items[0]:  # all items of a batch come from one dataset
        batch["palette"] = items[0]["palette"]
    batch["descriptions"] = [it.get("description") for it in items]
    batch["description_rows"] = torch.tensor(
        [i for i, text in enumerate(batch["descriptions"]) if has_text(text)], dtype=torch.long)
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


def make_loader(dataset: Dataset, batch_size: int, sampler: Sampler | list[int] | None, workers: int,
                device: torch.device, prefetch_factor: int = 2, drop_last: bool = False) -> DataLoader:
    """The package's DataLoader: `collate`d batches, pinned for a CUDA device (so the batch's move is
    non-blocking), and with workers, persistent ones (iterate the same loader every epoch: its workers stay,
    and see the epoch through the dataset's shared state) that each prepare `prefetch_factor` batches ahead."""
    extra = {}
    if workers:
        extra = {"worker_init_fn": worker_init, "persistent_workers": True, "prefetch_factor": prefetch_factor}
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, collate_fn=collate,
                      pin_memory=device.type == "cuda", drop_last=drop_last, **extra)
