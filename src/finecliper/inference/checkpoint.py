"""Checkpoints: trainable tensors in safetensors with a JSON record, and the model they rebuild.

A checkpoint `NAME.safetensors` holds only the trainable tensors (adapters and heads: a few tens of MB
for B16-Full instead of the 600 MB of CLIP), and `NAME.json` records what is needed to trust and rebuild
it: the resolved config, class names in order, the backbone's identity (architecture and a hash of the
weights), package version and git commit. Both are written atomically. Training writes them (and its
resume state, training/resume.py); everything that uses a trained model reads them through `load_model`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from finecliper import __version__, atomic
from finecliper.config.experiment import ExperimentConfig
from finecliper.config.loading import experiment_from_dict
from finecliper.config.model import ModelConfig
from finecliper.data.palettes import LEGACY_PALETTE
from finecliper.errors import UserError
from finecliper.model import FineCLIPER, build_model
from finecliper.paths import existing_file

FORMAT = "finecliper-checkpoint-1"


def _hash_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                digest.update(chunk)
    return digest.hexdigest()


def backbone_identity(cfg: ModelConfig) -> dict[str, Any]:
    """Architecture and a SHA-256 of the weights (the weight files of a folder), or "random"."""
    if cfg.weights is None:
        return {"architecture": cfg.backbone, "weights_sha256": "random"}
    path = Path(cfg.weights)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin"))
    else:
        files = [path]
    return {"architecture": cfg.backbone, "weights_sha256": _hash_files(files)}


@functools.cache
def git_commit() -> str | None:
    """The commit of the package's source tree, when it is a git checkout (asked once per process)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def save_checkpoint(path: str | Path, model, record: dict[str, Any]) -> Path:
    """Write `path` (.safetensors, trainable tensors only) and its JSON record beside it."""
    path = Path(path).with_suffix(".safetensors")
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.trainable_state_dict().items()}
    full = {"format": FORMAT, "version": __version__, "git_commit": git_commit(), **record,
            "class_names": list(model.class_names), "tensors": len(state)}
    with atomic.atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT})
    atomic.write_text(path.with_suffix(".json"), json.dumps(full, indent=2, sort_keys=True) + "\n")
    return path


def _checkpoint_files(path: str | Path) -> tuple[Path, Path]:
    """(NAME.safetensors, NAME.json) of a checkpoint, both checked to exist."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("*.safetensors"))
        raise UserError(f"checkpoint {path} is a folder, not a file; give a .safetensors checkpoint"
                        + (f" such as {found[0]}" if found else ""))
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    record_path = path.with_suffix(".json")
    existing_file(path, "checkpoint")
    if not record_path.is_file():
        raise UserError(f"checkpoint {path} has no record {record_path.name} beside it")
    return path, record_path


def read_record(path: str | Path) -> dict[str, Any]:
    """The JSON record of a checkpoint written by `save_checkpoint`, without reading its tensors."""
    path, record_path = _checkpoint_files(path)
    try:
        record = json.loads(record_path.read_text())
    except Exception as exc:  # a damaged file is one sentence to the user
        raise UserError(f"checkpoint {path} cannot be read ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise UserError(f"{record_path} is not a finecliper checkpoint record")
    return record


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(trainable tensors, record) of a checkpoint written by `save_checkpoint`."""
    record = read_record(path)
    path, _ = _checkpoint_files(path)
    try:
        state = load_file(str(path))
    except Exception as exc:  # a damaged file is one sentence to the user
        raise UserError(f"checkpoint {path} cannot be read ({exc})") from None
    return state, record


def check_compatible(record: dict[str, Any], class_names: list[str], identity: dict[str, Any] | None,
                     source: str, check_classes: bool = True) -> None:
    """Refuse a checkpoint made for another class list or another backbone."""
    if check_classes and record["class_names"] != list(class_names):
        raise UserError(
            f"checkpoint {source} was trained on classes {', '.join(record['class_names'])}, but this run "
            f"uses {', '.join(class_names)}"
        )
    if identity is not None and record.get("backbone") != identity:
        theirs = record.get("backbone", {})
        raise UserError(
            f"checkpoint {source} was trained on backbone {theirs.get('architecture')} with weights "
            f"{str(theirs.get('weights_sha256'))[:12]}, but this run uses {identity['architecture']} with "
            f"weights {identity['weights_sha256'][:12]}"
        )


def load_trainable(model, state: dict[str, torch.Tensor], source: str) -> None:
    """Put checkpoint tensors into `model`; they must be exactly the model's trainable tensors."""
    own = model.trainable_state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [k for k in state if k in own and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        example = (missing or unexpected or wrong)[0]
        raise UserError(
            f"checkpoint {source} does not fit this model ({len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(wrong)} of the wrong shape tensors, e.g. {example}); was it trained with another preset?"
        )
    # Copied into the existing tensors (so to their device and dtype); FineCLIPER.load_state_dict also
    # drops the cached text embeddings computed with the old adapters. The frozen rest is not in `state`.
    model.load_state_dict(state, strict=False)


def _with_recorded_palette(config: dict) -> dict:
    """The recorded config; one from before `data.palette` existed was trained on the legacy palette."""
    data = config.get("data")
    if isinstance(data, dict) and "palette" not in data:
        return {**config, "data": {**data, "palette": LEGACY_PALETTE}}
    return config


def load_model(checkpoint: str | Path, overrides: Sequence[str] = (),
               class_names: list[str] | None = None) -> tuple[FineCLIPER, ExperimentConfig, dict[str, Any]]:
    """(model, experiment config, record) of a checkpoint: the model its config builds, with its tensors in.

    `class_names` (default: the checkpoint's own) builds the PN sentences of other classes (zero-shot
    transfer); `overrides` ("key=value") change the recorded config, e.g. model.weights=PATH when the
    backbone lies elsewhere on this machine. The backbone must be the one the checkpoint was trained on.
    """
    state, record = load_checkpoint(checkpoint)
    cfg = experiment_from_dict(_with_recorded_palette(record["config"]), list(overrides))
    names = list(class_names) if class_names is not None else record["class_names"]
    # Other classes are a deliberate zero-shot transfer; the backbone is always checked, by the hash of its
    # files, before anything reads them.
    check_compatible(record, names, backbone_identity(cfg.model), str(checkpoint), check_classes=False)
    # A TorchScript archive runs code when loaded: only from a path the user named, never the record's.
    user_named = any(o.split("=", 1)[0].strip() == "model.weights" for o in overrides)
    model = build_model(cfg.model, names, allow_torchscript=user_named, zero_shot=cfg.train.zero_shot)
    load_trainable(model, state, str(checkpoint))
    return model, cfg, record
