"""Tunable and total parameters of the presets, counted on the real architectures built on PyTorch's meta
device: exact, offline and fast (`finecliper params`, and the tests that hold the paper's counts)."""

from __future__ import annotations

from finecliper.config.presets import PAPER_TUNABLE_M, model_config
from finecliper.labels import BASIC7
from finecliper.model import build_model


def count_presets(names: list[str], overrides: list[str]) -> dict[str, dict]:
    """{preset: {"tunable", "total", "paper_tunable_m"}}; the class list does not change a count (the
    class sentences are inputs, not parameters), so DFEW's 7 classes stand for any."""
    result = {}
    for name in names:
        model = build_model(model_config(name, overrides), list(BASIC7), meta=True)
        tunable, total = model.count_parameters()
        result[name] = {"tunable": tunable, "total": total, "paper_tunable_m": PAPER_TUNABLE_M.get(name)}
    return result
