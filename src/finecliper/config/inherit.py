"""Experiment YAML files and their `inherit:` chains, merged into one plain dict.

`inherit` names one file or a list of files, relative to the file that names them; parents merge first,
the file itself last. Mappings merge key by key; any other value replaces the inherited one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from finecliper.config.yaml_loader import load_yaml as parse_yaml
from finecliper.errors import UserError
from finecliper.paths import existing_file


def load_yaml(path: str) -> dict[str, Any]:
    """Read a YAML mapping, turning I/O and syntax problems into one sentence."""
    existing_file(path, "config file")
    try:
        with open(path, encoding="utf-8") as fh:
            data = parse_yaml(fh)
    except yaml.YAMLError as exc:
        raise UserError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must hold a mapping at the top level")
    return data


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`base` updated by `update`: mappings merge key by key, any other value replaces the old one."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_experiment_dict(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A YAML experiment file with its `inherit:` chain merged in (parents first, this file last)."""
    path = Path(path).resolve()
    if path in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, path))
        raise UserError(f"config files inherit from each other in a loop: {chain}")
    data = load_yaml(str(path))
    parents = data.pop("inherit", [])
    parents = [parents] if isinstance(parents, str) else parents
    merged: dict[str, Any] = {}
    for parent in parents:
        merged = deep_merge(merged, load_experiment_dict(path.parent / parent, (*_seen, path)))
    return deep_merge(merged, data)
