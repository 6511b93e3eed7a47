"""Class names: the package's vocabulary of expression classes and the helpers that map labels by name.

Canonical orders [OURS, the DFER-CLIP / MAE-DFER convention]: `BASIC7` (happiness, sadness, neutral, anger,
surprise, disgust, fear) and `MAFW11`, which adds contempt, anxiety, helplessness and disappointment. Each
dataset (`finecliper.datasets`) takes its class order from here and maps its own spellings onto these names;
everything after the manifest maps labels by *name* (`label_index`), never by position. Compound labels (MAFW)
are lists of names, written joined by `_` (`anger_disgust`).
"""

from __future__ import annotations

from finecliper.errors import UserError

BASIC7 = ("happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear")
MAFW11 = BASIC7 + ("contempt", "anxiety", "helplessness", "disappointment")

# Every class name a registered dataset may use: one spelling per expression across datasets, so that a
# model trained on one dataset names its classes as another dataset's manifests do.
CANONICAL_NAMES = frozenset(MAFW11)

COMPOUND_SEPARATOR = "_"


def compound_name(labels: list[str] | tuple[str, ...]) -> str:
    """The class name of a compound label in a class list: names joined by `_`, as MAFW writes them."""
    return COMPOUND_SEPARATOR.join(labels)


def label_index(names: list[str] | tuple[str, ...], label: str) -> int:
    """Index of class `label` in the class list `names` (mapping by name, never by position)."""
    try:
        return list(names).index(label)
    except ValueError:
        raise UserError(f"label {label!r} is not one of the classes {', '.join(names)}") from None
