"""YAML as configs mean it: only `true` and `false` are booleans, and `1e-4` is a number.

PyYAML follows YAML 1.1, where `no`, `yes`, `on`, `off`, `y` and `n` are booleans too, so `negation: no` (the
paper's negative word) would arrive as False and be refused as "not a string". YAML 1.2, and every user reading
a config, take those words as text. YAML 1.1 also wants a dot in a float, so `--set train.lr=1e-4` would be
the text '1e-4'; as in YAML 1.2 it is the number 0.0001 here. Still safe: the loader builds plain data only,
never objects.
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
# Only what 1.1 misses (an exponent without a dot); 1.1's own float rule, tried first, keeps the rest.
ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$"), list("-+0123456789"))


def load_yaml(stream) -> Any:
    """Plain data from a YAML string or open file."""
    return yaml.load(stream, Loader=ConfigLoader)  # noqa: S506 - a SafeLoader subclass
