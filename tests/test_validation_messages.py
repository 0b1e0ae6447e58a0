"""common.validation's own words: a bad key or value of a mapping keyed by an enumeration is
named, with what the key may be (msgspec says only that *some* key is wrong)."""

from __future__ import annotations

import enum

import pytest

from common.validation import Invalid, convert


class Kind(enum.Enum):
    JUMINHYO = "juminhyo"
    KOSEKI = "koseki"


def test_an_unknown_enumeration_key_is_named_with_the_keys_allowed() -> None:
    with pytest.raises(Invalid) as caught:
        convert({"koseki": 450, "passport": 300}, dict[Kind, int])
    assert caught.value.path == "passport"
    assert "one of juminhyo, koseki" in caught.value.message


def test_a_bad_value_under_an_enumeration_key_is_named_by_its_key() -> None:
    with pytest.raises(Invalid) as caught:
        convert({"koseki": "450円"}, dict[Kind, int])
    assert caught.value.path == "koseki"
    assert "expected an integer" in caught.value.message
