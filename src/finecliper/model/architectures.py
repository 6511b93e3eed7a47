"""CLIP architectures: every JSON file in `finecliper/arch/` is one, registered under the name it gives.

A file holds a Hugging Face `CLIPConfig` dict plus `name`, what `model.backbone` says (`"ViT-B/16"`), and
optionally `_comment`. Adding an architecture is adding a file there: the registry finds it, the tests
parametrized over `ARCHITECTURES.names()` build it, and `model.backbone=NAME` selects it.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from finecliper.registry import Registry


@dataclass(frozen=True)
class Architecture:
    name: str
    file: str  # the JSON file it was read from, for messages
    config: dict[str, Any]  # the CLIPConfig dict, without `name` and `_comment`


def read_architecture(path: Traversable | Path) -> Architecture:
    """The architecture of one JSON file; a file without a name is a packaging mistake, not a user's."""
    data = json.loads(path.read_text(encoding="utf-8"))
    name = data.pop("name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"architecture file {path.name} has no \"name\"")
    data.pop("_comment", None)
    return Architecture(name, path.name, data)


def discover(folder: Traversable | Path) -> Registry[Architecture]:
    """A registry of every `*.json` architecture in `folder`, in file-name order."""
    registry: Registry[Architecture] = Registry("backbone")
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.endswith(".json"):
            arch = read_architecture(path)
            registry.add(arch.name, arch)
    return registry


ARCHITECTURES = discover(resources.files("finecliper").joinpath("arch"))


def architecture_dict(name: str) -> dict[str, Any]:
    """The CLIPConfig dict of architecture `name` (a copy: callers may change it)."""
    return copy.deepcopy(ARCHITECTURES.get(name).config)
