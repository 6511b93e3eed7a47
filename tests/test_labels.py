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


@pytest.mark.parametrize(
    "dataset, raw, dfew_base, expected",
    [
        # DFEW: 1-based indices by default (None: the default base), 0-based on request.
        pytest.param("dfew", "1", None, "happiness", id="dfew-1"),
        pytest.param("dfew", "7", None, "fear", id="dfew-7"),
        pytest.param("dfew", "0", 0, "happiness", id="dfew-base0-0"),
        pytest.param("dfew", "5", 0, "disgust", id="dfew-base0-5"),
        pytest.param("dfew", "5", 1, "surprise", id="dfew-base1-5"),
        # FERV39k and MAFW spellings.
        pytest.param("ferv39k", "Angry", None, "anger", id="ferv39k-Angry"),
        pytest.param("ferv39k", "Happy", None, "happiness", id="ferv39k-Happy"),
        pytest.param("mafw", "helplessness", None, "helplessness", id="mafw-helplessness"),
        # A user's CSV: known spellings mapped, anything else kept.
        pytest.param("csv", " Happy ", None, "happiness", id="csv-Happy"),
        pytest.param("csv", "surprised", None, "surprise", id="csv-surprised"),
        pytest.param("csv", "boredom", None, "boredom", id="csv-own-class"),
    ],
)
def test_canonical_label(dataset, raw, dfew_base, expected):
    kwargs = {} if dfew_base is None else {"dfew_base": dfew_base}
    assert labels.canonical_label(dataset, raw, **kwargs) == expected


@pytest.mark.parametrize(
    "dataset, raw, dfew_base, message",
    [
        *(pytest.param("dfew", bad, base, "unknown dfew label", id=f"dfew-base{base}-{bad!r}")
          for bad, base in (("0", 1), ("8", 1), ("7", 0), ("x", 1), ("", 1))),
        pytest.param("ferv39k", "angry", None, "unknown ferv39k label", id="ferv39k-lowercase"),
        pytest.param("mafw", "Anger", None, "unknown mafw label", id="mafw-capitalised"),
        pytest.param("csv", " ", None, "empty", id="csv-empty"),
    ],
)
def test_unknown_labels_are_refused(dataset, raw, dfew_base, message):
    kwargs = {} if dfew_base is None else {"dfew_base": dfew_base}
    with pytest.raises(UserError, match=message):
        labels.canonical_label(dataset, raw, **kwargs)


def test_dfew_label_base_from_values(caplog):
    assert labels.dfew_label_base(["0", "3", "6"]) == 0
    assert labels.dfew_label_base(["1", "7"]) == 1
    with pytest.raises(UserError, match="both 0 and 7"):
        labels.dfew_label_base(["0", "7"])
    with caplog.at_level("WARNING"):
        assert labels.dfew_label_base(["2", "3"]) == 1
    assert "assuming" in caplog.text


def test_compound_labels():
    assert labels.compound_label("anger_disgust") == ["anger", "disgust"]
    assert labels.compound_label("sadness_anxiety_helplessness") == ["sadness", "anxiety", "helplessness"]
    assert labels.compound_label("neutral") == ["neutral"]
    assert labels.compound_name(["anger", "disgust"]) == "anger_disgust"
    for bad in ("anger_joy", "", "anger__disgust", "anger_anger"):
        with pytest.raises(UserError):
            labels.compound_label(bad)


def test_label_index_by_name_not_position():
    names = labels.class_names("mafw")
    assert labels.label_index(names, "contempt") == 7
    assert labels.label_index(list(reversed(names)), "contempt") == 3
    with pytest.raises(UserError, match="not one of the classes"):
        labels.label_index(labels.class_names("dfew"), "contempt")
