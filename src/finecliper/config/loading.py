"""How an experiment is made: YAML files (with their `inherit:` chains), the preset's model fields, then
`--set` overrides, checked and validated. `finecliper train`, `zeroshot`, checkpoint loading and the demo
build their `ExperimentConfig` here.

This module sits above `finecliper.config.presets` (it expands the preset), which sits above config/model.py and
config/strict.py; nothing below imports it, so the two never form a cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from finecliper.config.experiment import ExperimentConfig
from finecliper.config.inherit import deep_merge, load_experiment_dict
from finecliper.config.presets import model_config
from finecliper.config.strict import apply_overrides, from_dict, to_dict
from finecliper.errors import UserError


def experiment_from_dict(data: dict[str, Any], overrides: list[str] | None = None) -> ExperimentConfig:
    """The typed, validated experiment of a plain dict and `--set` overrides.

    The model section starts from the preset's fields; the dict's `model:` mapping and `model.*`
    overrides change them. A `preset=` override is applied first, so it takes effect as a preset.
    """

    overrides = list(overrides or [])
    data = dict(data)
    for item in overrides:
        if item.startswith("preset="):
            data["preset"] = item.split("=", 1)[1]
    overrides = [o for o in overrides if not o.startswith("preset=")]
    preset = data.get("preset", ExperimentConfig.preset)
    if not isinstance(preset, str):
        raise UserError(f"config.preset must be a preset name, got {preset!r}")
    model = data.get("model") or {}
    if not isinstance(model, dict):
        raise UserError(f"config.model must be a mapping of model settings, got {model!r}")
    data["model"] = deep_merge(to_dict(model_config(preset)), model)
    cfg = apply_overrides(from_dict(ExperimentConfig, data, where="config"), overrides, where="config")
    cfg.validate()
    return cfg


def load_experiment(paths: str | Path | list[str | Path], overrides: list[str] | None = None) -> ExperimentConfig:
    """The experiment of one or more YAML files (merged in order, each with its inheritance) and `--set`
    overrides. Several files combine a protocol with a preset without a file per pair:
    `--config configs/dfew/fold1.yaml --config configs/presets/B16-Full.yaml`.
    """
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    data: dict[str, Any] = {}
    for path in paths:
        data = deep_merge(data, load_experiment_dict(path))
    data.setdefault("name", Path(paths[0]).stem)
    return experiment_from_dict(data, overrides)
