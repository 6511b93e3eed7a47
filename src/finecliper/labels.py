"""Class lists: the one place in the package that knows an order of expression classes.

Canonical order [OURS, the DFER-CLIP / MAE-DFER convention]: happiness, sadness, neutral, anger,
surprise, disgust, fear for DFEW and FERV39k; MAFW adds contempt, anxiety, helplessness and
disappointment. Everything else maps labels by *name* through this module: DFEW's files use indices
in that order, FERV39k's use `Happy`, `Sad`, ..., MAFW's use lower-case names (compound classes join
names with `_`: `anger_disgust`).

DFEW's official files are documented as 1-based (1 Happy ... 7 Fear), but copies circulate whose
labels were shifted to 0-based (0 Happy ... 6 Fear; the copy in ../shared/datasets is one: it has 0s
and no 7). A wrong guess silently swaps every class, so the base is read from the files themselves
(`dfew_label_base`) instead of being assumed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from finecliper.errors import UserError

log = logging.getLogger(__name__)

BASIC7 = ("happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear")
MAFW11 = BASIC7 + ("contempt", "anxiety", "helplessness", "disappointment")

CLASSES: dict[str, tuple[str, ...]] = {
    "dfew": BASIC7,
    "ferv39k": BASIC7,
    "mafw": MAFW11,
    "mafw-compound": MAFW11,  # the names a compound label is made of; see compound_label
}

# Each dataset's own spelling of a class -> canonical name.
_FERV39K_NAMES = {
    "Happy": "happiness", "Sad": "sadness", "Neutral": "neutral", "Angry": "anger",
    "Surprise": "surprise", "Disgust": "disgust", "Fear": "fear",
}
_MAFW_NAMES = {name: name for name in MAFW11}

# Spellings accepted (case-insensitively) from a user's own CSV: canonical names, FERV39k's and the
# usual adjectives.
_CSV_SYNONYMS = {name: name for name in MAFW11}
_CSV_SYNONYMS.update({k.lower(): v for k, v in _FERV39K_NAMES.items()})
_CSV_SYNONYMS.update({
    "happy": "happiness", "sad": "sadness", "angry": "anger", "surprised": "surprise",
    "disgusted": "disgust", "fearful": "fear", "contemptuous": "contempt", "anxious": "anxiety",
    "helpless": "helplessness", "disappointed": "disappointment",
})

COMPOUND_SEPARATOR = "_"


def class_names(dataset: str) -> list[str]:
    """Canonical class names of `dataset`, in canonical order."""
    if dataset not in CLASSES:
        raise UserError(f"unknown dataset {dataset!r}; known: {', '.join(CLASSES)}")
    return list(CLASSES[dataset])


def dfew_label_base(raw_labels: Iterable[str]) -> int:
    """0 or 1: the index base of DFEW label values, read from the values of a whole split set.

    A 0 means 0-based and a 7 means 1-based; both together cannot be DFEW. With neither (a tiny or
    filtered file) the documented official base, 1, is assumed and a warning says so.
    """
    values = {str(v).strip() for v in raw_labels}
    has_zero, has_seven = "0" in values, "7" in values
    if has_zero and has_seven:
        raise UserError("DFEW labels hold both 0 and 7, so they are neither 0-based nor 1-based")
    if has_zero:
        return 0
    if not has_seven:
        log.warning("DFEW labels hold neither 0 nor 7; assuming the official 1-based labels (1 = happiness)")
    return 1


def canonical_label(dataset: str, raw: str, dfew_base: int = 1) -> str:
    """The canonical class name for a label as written in `dataset`'s own files.

    `dfew_base` is the index base of DFEW's label values (see `dfew_label_base`). For "csv" any known
    spelling maps to its canonical name and any other non-empty name is kept as written.
    """
    key = str(raw).strip()
    if dataset == "dfew":
        if dfew_base not in (0, 1):
            raise UserError(f"the DFEW label base must be 0 or 1, got {dfew_base}")
        if not key.isdigit() or not 0 <= int(key) - dfew_base < len(BASIC7):
            raise UserError(f"unknown dfew label {raw!r} (labels are {dfew_base}..{dfew_base + 6})")
        return BASIC7[int(key) - dfew_base]
    if dataset == "csv":
        if not key:
            raise UserError("empty label")
        return _CSV_SYNONYMS.get(key.lower(), key)
    table = {"ferv39k": _FERV39K_NAMES, "mafw": _MAFW_NAMES, "mafw-compound": _MAFW_NAMES}
    if dataset not in table:
        raise UserError(f"unknown dataset {dataset!r}; known: dfew, {', '.join(table)}, csv")
    if key not in table[dataset]:
        raise UserError(f"unknown {dataset} label {raw!r}")
    return table[dataset][key]


def compound_label(raw: str) -> list[str]:
    """MAFW compound label `anger_disgust` -> ["anger", "disgust"] (a single name gives a list of one)."""
    key = str(raw).strip()
    parts = key.split(COMPOUND_SEPARATOR) if key else []
    if not parts or any(p not in _MAFW_NAMES for p in parts):
        raise UserError(f"unknown mafw-compound label {raw!r}")
    if len(set(parts)) != len(parts):
        raise UserError(f"mafw-compound label {raw!r} repeats a class")
    return parts


def compound_name(labels: list[str] | tuple[str, ...]) -> str:
    """The class name of a compound label in a class list: names joined by `_`, as MAFW writes them."""
    return COMPOUND_SEPARATOR.join(labels)


def label_index(names: list[str] | tuple[str, ...], label: str) -> int:
    """Index of class `label` in the class list `names` (mapping by name, never by position)."""
    try:
        return list(names).index(label)
    except ValueError:
        raise UserError(f"label {label!r} is not one of the classes {', '.join(names)}") from None
