"""The generic registry every extension axis uses."""

import pytest

from finecliper.errors import UserError
from finecliper.registry import Registry


def test_entries_are_found_by_name_in_registration_order():
    reg = Registry("thing")
    reg.add("b", 2)

    @reg.register("a")
    def a():
        return 1

    assert reg.names() == ["b", "a"] and reg.get("a") is a and "b" in reg and len(reg) == 2
    assert list(reg) == ["b", "a"] and reg.items() == [("b", 2), ("a", a)]


def test_unknown_name_is_one_sentence_listing_the_known_ones():
    reg = Registry("describer")
    reg.add("landmarks", object())
    with pytest.raises(UserError, match="unknown describer 'llava'; known: landmarks"):
        reg.get("llava")


def test_a_name_registered_twice_is_a_programming_error():
    reg = Registry("dataset")
    reg.add("dfew", 1)
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("dfew", 2)
