"""YAML as configs mean it: only `true` and `false` are booleans.

PyYAML follows YAML 1.1, where `no`, `yes`, `on`, `off`, `y` and `n` are booleans too, so `negation: no` (the
paper's negative word) would arrive as False and be refused as "not a string". YAML 1.2, and every user reading
a config, take those words as text. Still safe: the loader builds plain data only, never objects.
"""

from __future__ import annotations

import re
from typing import Any

import yaml


class ConfigLoader(yaml.SafeLoader):
    """SafeLoader whose only booleans are true/false (any case), as in YAML 1.2."""


ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def load_yaml(stream) -> Any:
    """Plain data from a YAML string or open file."""
    return yaml.load(stream, Loader=ConfigLoader)  # noqa: S506 - a SafeLoader subclass
