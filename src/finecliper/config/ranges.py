"""Allowed ranges of numeric config fields, declared once on each field's annotation.

    lr: Annotated[float, POSITIVE] = 3e-4

The strict engine (config/strict.py) checks the range wherever a config is built from data (YAML, `--set`,
checkpoint records, manifests), so a negative learning rate or a zero image size is one sentence naming the
field before any work, never an optimizer traceback mid-run. Every float must also be finite: NaN and
infinity are refused unless a range says otherwise. A test requires a range on every numeric field of every
config dataclass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from finecliper.errors import UserError


class RangeError(UserError):
    """A value of the right type outside its field's range (kept apart so a union type does not hide it)."""


@dataclass(frozen=True)
class Range:
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: low itself is not allowed
    high_open: bool = False

    def text(self) -> str:
        """The range in words: "in [0, 1)", "at least 1", "greater than 0", "finite"."""
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'greater than' if self.low_open else 'at least'} {self.low:g}"
        if self.high is not None:
            return f"{'less than' if self.high_open else 'at most'} {self.high:g}"
        return "a finite number"

    def check(self, value: float, where: str) -> None:
        """Raise RangeError naming `where` when `value` (an int or float) is outside the range or not finite."""
        ok = math.isfinite(value)
        if ok and self.low is not None:
            ok = value > self.low if self.low_open else value >= self.low
        if ok and self.high is not None:
            ok = value < self.high if self.high_open else value <= self.high
        if not ok:
            raise RangeError(f"{where} must be {self.text()}, got {value!r}")


FINITE = Range()
POSITIVE = Range(low=0, low_open=True)
NON_NEGATIVE = Range(low=0)
AT_LEAST_1 = Range(low=1)
PROBABILITY = Range(low=0, high=1)
SHARE = Range(low=0, high=1, low_open=True)  # a non-empty share: 0 < x <= 1
BELOW_1 = Range(low=0, high=1, high_open=True)  # 0 <= x < 1
