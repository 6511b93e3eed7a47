"""Class lists: one canonical order, every dataset's spelling mapped by name."""

from __future__ import annotations

import pytest

from finecliper import labels
from finecliper.errors import UserError


def test_canonical_orders():
    assert labels.class_names("dfew") == ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"]
    assert labels.class_names("ferv39k") == labels.class_names("dfew")
    assert labels.class_names("mafw") == labels.class_names("dfew") + [
        "contempt", "anxiety", "helplessness", "disappointment"]
    with pytest.raises(UserError, match="unknown dataset"):
        labels.class_names("affectnet")


def test_dfew_indices_either_base():
    assert labels.canonical_label("dfew", "1") == "happiness"
    assert labels.canonical_label("dfew", "7") == "fear"
    assert labels.canonical_label("dfew", "0", dfew_base=0) == "happiness"
    assert labels.canonical_label("dfew", "5", dfew_base=0) == "disgust"
    assert labels.canonical_label("dfew", "5", dfew_base=1) == "surprise"
    for bad, base in (("0", 1), ("8", 1), ("7", 0), ("x", 1), ("", 1)):
        with pytest.raises(UserError, match="unknown dfew label"):
            labels.canonical_label("dfew", bad, dfew_base=base)


def test_dfew_label_base_from_values(caplog):
    assert labels.dfew_label_base(["0", "3", "6"]) == 0
    assert labels.dfew_label_base(["1", "7"]) == 1
    with pytest.raises(UserError, match="both 0 and 7"):
        labels.dfew_label_base(["0", "7"])
    with caplog.at_level("WARNING"):
        assert labels.dfew_label_base(["2", "3"]) == 1
    assert "assuming" in caplog.text


def test_ferv39k_and_mafw_spellings():
    assert labels.canonical_label("ferv39k", "Angry") == "anger"
    assert labels.canonical_label("ferv39k", "Happy") == "happiness"
    assert labels.canonical_label("mafw", "helplessness") == "helplessness"
    with pytest.raises(UserError, match="unknown ferv39k label"):
        labels.canonical_label("ferv39k", "angry")
    with pytest.raises(UserError, match="unknown mafw label"):
        labels.canonical_label("mafw", "Anger")


def test_compound_labels():
    assert labels.compound_label("anger_disgust") == ["anger", "disgust"]
    assert labels.compound_label("sadness_anxiety_helplessness") == ["sadness", "anxiety", "helplessness"]
    assert labels.compound_label("neutral") == ["neutral"]
    assert labels.compound_name(["anger", "disgust"]) == "anger_disgust"
    for bad in ("anger_joy", "", "anger__disgust", "anger_anger"):
        with pytest.raises(UserError):
            labels.compound_label(bad)


def test_csv_labels_and_custom_class_lists():
    assert labels.canonical_label("csv", " Happy ") == "happiness"
    assert labels.canonical_label("csv", "surprised") == "surprise"
    assert labels.canonical_label("csv", "boredom") == "boredom"
    with pytest.raises(UserError, match="empty"):
        labels.canonical_label("csv", " ")
    assert labels.class_names_from_labels(["fear", "boredom", "happiness", "awe", "fear"]) == [
        "happiness", "fear", "awe", "boredom"]


def test_label_index_by_name_not_position():
    names = labels.class_names("mafw")
    assert labels.label_index(names, "contempt") == 7
    assert labels.label_index(list(reversed(names)), "contempt") == 3
    with pytest.raises(UserError, match="not one of the classes"):
        labels.label_index(labels.class_names("dfew"), "contempt")
