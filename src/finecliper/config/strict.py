"""The strict engine behind every config: dataclasses built from plain dicts and changed by `key=value`.

Configs are built from plain dicts (YAML, JSON, presets, checkpoint records) by `from_dict`, and changed by
`apply_overrides(cfg, ["a.b=value"])`; both reject unknown keys and values of the wrong type with one
clear sentence (UserError). Nothing here knows which configs exist.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar, Union

import yaml

from finecliper.config.ranges import FINITE, Range, RangeError
from finecliper.config.yaml_loader import load_yaml
from finecliper.errors import UserError

T = TypeVar("T")


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Return `value` checked (and, where lossless, converted) against type annotation `tp`."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:  # a type with its allowed range (config/ranges.py)
        base, *extras = typing.get_args(tp)
        value = _coerce(value, base, where)
        for extra in extras:
            if isinstance(extra, Range):
                extra.check(value, where)
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except RangeError:
                raise  # the right type, out of range: say so rather than "must be int or None"
            except UserError:
                continue
        raise UserError(f"{where} must be {' or '.join(_type_name(a) for a in args)}, got {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise UserError(f"{where} must be a mapping, got {value!r}")
        return from_dict(tp, value, where)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise UserError(f"{where} must be a list, got {value!r}")
        return [_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        _, item_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise UserError(f"{where} must be a mapping, got {value!r}")
        return {str(k): _coerce(v, item_tp, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            FINITE.check(value, where)  # NaN and infinity are never a setting
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is Any:
        return value
    raise UserError(f"{where} must be {_type_name(tp)}, got {value!r}")


def coerce_value(value: Any, tp: Any, where: str) -> Any:
    """`value` checked against the annotation `tp` (type and range), converted where lossless; `where` names it."""
    return _coerce(value, tp, where)


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build dataclass `cls` from `data`, refusing unknown keys and wrong types."""
    hints = typing.get_type_hints(cls, include_extras=True)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise UserError(f"unknown key {where}.{unknown[0]}; known keys: {', '.join(sorted(names))}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        # A partial mapping for a dict field updates its default instead of replacing it, so a YAML file
        # can say `adapter_ratio: {video: 0.3}`; unknown keys are left for the config's validate().
        if isinstance(value, dict) and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
            if isinstance(default, dict):
                value = {**default, **value}
        kwargs[f.name] = _coerce(value, hints[f.name], f"{where}.{f.name}")
    return cls(**kwargs)


def check_ranges(cfg: Any, where: str = "config") -> None:
    """Check every field of dataclass `cfg` against its annotation, ranges included (config/ranges.py), also
    for a config made in Python rather than from data."""
    from_dict(type(cfg), to_dict(cfg), where)


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-dict form of a config dataclass (for YAML, JSON and checkpoint records)."""
    return dataclasses.asdict(cfg)


def apply_overrides(cfg: T, overrides: list[str], where: str = "config") -> T:
    """Return a copy of dataclass `cfg` with `key.sub=value` overrides applied.

    Values are parsed as YAML (`3`, `0.5`, `true`, `null`, `[parsing, landmarks]`, plain strings) and
    checked against the field's type. Unknown keys are refused; dict fields accept only keys they
    already have, so a typo in a branch name cannot silently add a new one.
    """
    data = to_dict(cfg)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UserError(f"override {item!r} is not of the form key=value")
        try:
            value = load_yaml(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        parts = key.split(".")
        node: Any = data
        for depth, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                prefix = ".".join(parts[:depth]) or where
                choices = ", ".join(sorted(node)) if isinstance(node, dict) else "none (not a mapping)"
                raise UserError(f"unknown key {key!r} in override: {prefix} has keys {choices}")
            if depth == len(parts) - 1:
                node[part] = value
            else:
                node = node[part]
    return from_dict(type(cfg), data, where)
