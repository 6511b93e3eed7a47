"""Where and in which precision a model runs: batches to the device, autocast by `train.precision`.

Training, evaluation, prediction and the model benchmark share these, so all of them run the model alike.
"""

from __future__ import annotations

import contextlib

import torch

from finecliper.data.prepare import prepare_batch


def to_device(batch: dict, device: torch.device) -> dict:
    """The batch with its tensors on `device`, moved non-blocking, and its images made model inputs there
    (`data.prepare.prepare_batch`: palette lookup, CLIP normalisation); texts and ids as they are."""
    return prepare_batch(batch, device)


def autocast_for(device: torch.device, precision: str):
    """bf16 autocast on CUDA ("auto" or "bf16"), on CPU only when "bf16" is asked for."""
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    if not use_bf16:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
