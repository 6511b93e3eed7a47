"""Which torch device a command runs on: one rule behind every `--device` option.

Every sub-command's `--device` takes the same values, with the same help (`DEVICE_HELP`): `auto` (or no
option) picks the first CUDA GPU when PyTorch sees one, else the CPU; `cpu`; `cuda` (the first GPU, or
under `torchrun` each process's own); `cuda:N`. A device this machine cannot provide (`cuda` without a
GPU, `cuda:3` with one GPU) or a value of another form is one sentence to the user (UserError), never
PyTorch's "Torch not compiled with CUDA enabled" traceback. torch is imported only when a device is
resolved, so parsers can name the option without paying for it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from finecliper.errors import UserError

if TYPE_CHECKING:
    import torch

DEVICE_HELP = "auto (the default: CUDA when present, else CPU), cpu, cuda or cuda:N"
_FORM = re.compile(r"auto|cpu|cuda(:\d+)?")


def resolve_device(name: str | None) -> torch.device:
    """The torch.device of a `--device` value: auto (or None), cpu, cuda or cuda:N."""
    import torch  # here, not at the top: the command line names this module's help before any work

    key = "auto" if name is None else str(name).strip().lower()
    if not _FORM.fullmatch(key):
        raise UserError(f"unknown --device {name!r} (use auto, cpu, cuda or cuda:N)")
    if key == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(key)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {name} was asked for, but PyTorch sees no CUDA GPU on this machine")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise UserError(f"--device {name} was asked for, but PyTorch sees only {count} CUDA GPU(s) "
                            f"(cuda:0 to cuda:{count - 1})")
    return device
