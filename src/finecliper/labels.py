"""Class lists: the one place in the package that knows an order of expression classes.

Canonical order [OURS, the DFER-CLIP / MAE-DFER convention]: happiness, sadness, neutral, anger,
surprise, disgust, fear for DFEW and FERV39k; MAFW adds contempt, anxiety, helplessness and
disappointment. Everything else maps labels by *name* through this module: DFEW's files use 1-based
indices in that order, FERV39k's use `Happy`, `Sad`, ..., MAFW's use lower-case names.
"""

from __future__ import annotations

from finecliper.errors import UserError

BASIC7 = ("happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear")
MAFW11 = BASIC7 + ("contempt", "anxiety", "helplessness", "disappointment")

CLASSES: dict[str, tuple[str, ...]] = {
    "dfew": BASIC7,
    "ferv39k": BASIC7,
    "mafw": MAFW11,
    "mafw-compound": MAFW11,
}

# Each dataset's own spelling of a class -> canonical name.
_FERV39K_NAMES = {
    "Happy": "happiness", "Sad": "sadness", "Neutral": "neutral", "Angry": "anger",
    "Surprise": "surprise", "Disgust": "disgust", "Fear": "fear",
}
_DFEW_INDICES = {str(i + 1): name for i, name in enumerate(BASIC7)}
_MAFW_NAMES = {name: name for name in MAFW11}


def class_names(dataset: str) -> list[str]:
    """Canonical class names of `dataset`, in canonical order."""
    if dataset not in CLASSES:
        raise UserError(f"unknown dataset {dataset!r}; known: {', '.join(CLASSES)}")
    return list(CLASSES[dataset])


def canonical_label(dataset: str, raw: str) -> str:
    """The canonical class name for a label as written in `dataset`'s own files."""
    table = {"dfew": _DFEW_INDICES, "ferv39k": _FERV39K_NAMES, "mafw": _MAFW_NAMES, "mafw-compound": _MAFW_NAMES}
    if dataset not in table:
        raise UserError(f"unknown dataset {dataset!r}; known: {', '.join(table)}")
    key = raw.strip()
    if key not in table[dataset]:
        raise UserError(f"unknown {dataset} label {raw!r}")
    return table[dataset][key]


def label_index(names: list[str] | tuple[str, ...], label: str) -> int:
    """Index of class `label` in the class list `names` (mapping by name, never by position)."""
    try:
        return list(names).index(label)
    except ValueError:
        raise UserError(f"label {label!r} is not one of the classes {', '.join(names)}") from None
