"""Class names: one vocabulary, labels mapped by name, compound labels joined as MAFW writes them."""

from __future__ import annotations

import pytest

from finecliper import labels
from finecliper.errors import UserError


def test_vocabulary():
    assert labels.BASIC7 == ("happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear")
    assert labels.MAFW11 == labels.BASIC7 + ("contempt", "anxiety", "helplessness", "disappointment")
    assert labels.CANONICAL_NAMES == set(labels.MAFW11)


def test_compound_name():
    assert labels.compound_name(["anger", "disgust"]) == "anger_disgust"
    assert labels.compound_name(["neutral"]) == "neutral"


def test_label_index_by_name_not_position():
    names = list(labels.MAFW11)
    assert labels.label_index(names, "contempt") == 7
    assert labels.label_index(list(reversed(names)), "contempt") == 3
    with pytest.raises(UserError, match="not one of the classes"):
        labels.label_index(list(labels.BASIC7), "contempt")
