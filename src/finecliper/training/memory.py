"""`model.gradient_checkpointing: auto`: whether a training step's activations fit the device, decided once
the model is on its device (docs/design.md §3).

The estimate is measured, not modelled: what autograd saves for the backward pass (parameters excluded)
while one image of each image branch goes through the tower, times the images of a micro-batch, plus the
text tower's share (the PN sentences, and one context-long description per clip). It is compared with the
device's free memory (CUDA: `mem_get_info`; CPU: the kernel's MemAvailable) with a quarter kept for what
the estimate leaves out (the allocator's slack, transients of the step) [OURS]. The decision is logged
whichever way it goes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch

from finecliper.inference.runtime import autocast_for

log = logging.getLogger(__name__)

HEADROOM = 1.25  # need = estimate x HEADROOM must fit the free memory [OURS]


def saved_bytes(model: torch.nn.Module, fn: Callable[[], object]) -> int:
    """Bytes of the tensors autograd saves for backward while `fn()` runs, each storage once, the model's
    parameters and buffers excluded (they are held anyway)."""
    held = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in held:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn()
    return sum(storages.values())


def activation_bytes(model, micro_batch: int, device: torch.device, precision: str) -> int:
    """Estimated bytes autograd keeps for one training step of `micro_batch` clips (module docstring)."""
    was_training = model.training
    model.train()
    size, frames = model.image_size, model.cfg.num_frames
    image = torch.zeros(1, 3, size, size, device=device)
    total = 0
    with torch.enable_grad(), autocast_for(device, precision):
        for branch in model.cfg.image_branches:
            total += saved_bytes(model, lambda b=branch: model.encode_images(image, b)) * micro_batch * frames
        total += saved_bytes(model, model.pn_embeddings)
        if model.cfg.descriptions:
            text = " ".join(["the brows rise"] * model.context_length)  # truncated to the context: the longest
            total += saved_bytes(model, lambda: model.encode_text([text], "desc")) * micro_batch
    model.train(was_training)
    return total


def free_bytes(device: torch.device) -> int | None:
    """Free memory of the device: CUDA's free bytes, or on CPU the kernel's MemAvailable (None if unknown)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def resolve_checkpointing(model, micro_batch: int, device: torch.device, precision: str) -> bool:
    """Apply `model.cfg.gradient_checkpointing` (true, false or "auto") to `model`, now on `device`, and log
    the outcome; returns whether checkpointing is on."""
    setting = model.cfg.gradient_checkpointing
    if setting != "auto":
        log.info("gradient checkpointing %s (model.gradient_checkpointing=%s)", "on" if setting else "off",
                 str(setting).lower())
        return bool(setting)
    need = activation_bytes(model, micro_batch, device, precision)
    free = free_bytes(device)
    on = free is not None and need * HEADROOM > free
    free_text = "unknown" if free is None else f"{free / 2**30:.1f} GiB"
    log.info("gradient checkpointing %s (auto): a step of %d clips keeps about %.1f GiB of activations, "
             "%s free on %s", "on" if on else "off", micro_batch, need / 2**30, free_text, device)
    if on:
        model.enable_gradient_checkpointing()
    return on
