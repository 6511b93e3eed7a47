"""The resume state of a run (`resume.pt`): weights, optimizer, scheduler, step and random state.

Written atomically, as one file, so a kill can never pair weights of one step with optimizer state of
another; read with `torch.load(weights_only=True)`, which refuses arbitrary pickled objects (so a crafted
file cannot run code), and then every field is checked for its type and range, so a damaged or crafted
file is one sentence naming the field, not a traceback mid-restore.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Annotated, Any

import torch

from finecliper import atomic
from finecliper.config.ranges import NON_NEGATIVE, Range
from finecliper.config.strict import coerce_value
from finecliper.errors import UserError

# The plain values of a resume state, each with its type and range (config/ranges.py).
VALUES = {
    "epoch": Annotated[int, NON_NEGATIVE],
    "step_in_epoch": Annotated[int, NON_NEGATIVE],
    "global_step": Annotated[int, NON_NEGATIVE],
    "best_uar": Annotated[float, Range(-1, 1)],  # -1: nothing selected yet
    "best_epoch": Annotated[int, Range(-1)],  # -1: none
    "processes": Annotated[int, Range(1)],  # a resume must use as many (run_dir.py)
    "device_type": str,
    "metrics_bytes": Annotated[int, NON_NEGATIVE],  # where a resume cuts metrics.jsonl back to
}
MAPPINGS = ("model", "optimizer", "scheduler")  # state dicts, checked by what loads them


def save_resume(path: str | Path, state: dict[str, Any]) -> None:
    with atomic.atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_resume(path: str | Path) -> dict[str, Any]:
    """The checked resume state at `path`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"there is no resume state {path}; start the run without --resume")
    try:
        with warnings.catch_warnings():  # a foreign file's pickle protocol: the refusal below says it all
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's own message is several lines on its allow-list; the user needs one.
        raise UserError(f"resume state {path} was refused: it holds objects other than tensors and plain "
                        "values, so `finecliper train` did not write it (nothing in it was run)") from None
    except Exception as exc:  # a truncated or damaged file
        raise UserError(f"resume state {path} cannot be read ({str(exc).splitlines()[0]})") from None
    return check_resume(state, str(path))


def check_resume(state: Any, source: str) -> dict[str, Any]:
    """`state` if every field a restore reads is there with the right type and range, else one sentence."""
    where = f"resume state {source}"
    if not isinstance(state, dict):
        raise UserError(f"{where} is not a mapping of a run's state")
    for name in (*VALUES, *MAPPINGS, "torch_rng"):
        if name not in state:
            raise UserError(f"{where} has no field {name}; it was not written by `finecliper train`")
    for name, annotation in VALUES.items():
        state[name] = coerce_value(state[name], annotation, f"{where} field {name}")
    for name in MAPPINGS:
        if not isinstance(state[name], dict):
            raise UserError(f"{where} field {name} must be a mapping, got {type(state[name]).__name__}")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state["model"].items()):
        raise UserError(f"{where} field model must map tensor names to tensors")
    rng = state["torch_rng"]
    if not isinstance(rng, torch.Tensor) or rng.dtype != torch.uint8 or rng.ndim != 1:
        raise UserError(f"{where} field torch_rng must be torch's random state (a 1-D uint8 tensor)")
    return state
