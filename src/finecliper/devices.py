"""Which torch device a command runs on: one rule behind every `--device` option.

None or "auto" picks the first CUDA GPU when PyTorch sees one, else the CPU. An explicit device that
this machine cannot provide (`cuda` without a GPU, `cuda:3` with one GPU) is one sentence to the user
(UserError), never PyTorch's "Torch not compiled with CUDA enabled" traceback. torch is imported only
when a device is resolved, so parsers can name the option without paying for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from finecliper.errors import UserError

if TYPE_CHECKING:
    import torch

KINDS = ("cpu", "cuda", "mps")


def resolve_device(name: str | None) -> torch.device:
    """The torch.device of a `--device` value: auto (or None), cpu, cuda, cuda:N or mps."""
    import torch

    key = "auto" if name is None else str(name).strip().lower()
    if key == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(key)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in KINDS:
        raise UserError(f"unknown --device {name!r} (use auto, cpu, cuda or cuda:N)")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {name} was asked for, but PyTorch sees no CUDA GPU on this machine")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise UserError(f"--device {name} was asked for, but PyTorch sees only {count} CUDA GPU(s) "
                            f"(cuda:0 to cuda:{count - 1})")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"--device {name} was asked for, but PyTorch sees no MPS device on this machine")
    return device
