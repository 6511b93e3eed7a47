"""The resume state of a run (`resume.pt`): weights, optimizer, scheduler, step and random state.

Written atomically, as one file, so a kill can never pair weights of one step with optimizer state of
another; read with `torch.load(weights_only=True)`, which refuses arbitrary pickled objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from finecliper import atomic
from finecliper.errors import UserError


def save_resume(path: str | Path, state: dict[str, Any]) -> None:
    with atomic.atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_resume(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"there is no resume state {path}; start the run without --resume")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserError(f"resume state {path} cannot be read safely ({exc})") from None
