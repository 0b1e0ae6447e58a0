"""Japanese number readings: known readings, then properties over the whole 0..99999 range."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.japanese_numbers import (
    MAX_NUMBER,
    counter_kana,
    digits_kana,
    number_kana,
    number_kanji,
    to_katakana,
)

numbers = st.integers(min_value=0, max_value=MAX_NUMBER)

KNOWN = [
    # n, kanji, kana
    (0, "零", "ぜろ"),
    (1, "一", "いち"),
    (4, "四", "よん"),
    (7, "七", "なな"),
    (9, "九", "きゅう"),
    (10, "十", "じゅう"),
    (11, "十一", "じゅういち"),
    (20, "二十", "にじゅう"),
    (44, "四十四", "よんじゅうよん"),
    (79, "七十九", "ななじゅうきゅう"),
    (100, "百", "ひゃく"),
    (105, "百五", "ひゃくご"),
    (110, "百十", "ひゃくじゅう"),
    (200, "二百", "にひゃく"),
    (300, "三百", "さんびゃく"),
    (400, "四百", "よんひゃく"),
    (600, "六百", "ろっぴゃく"),
    (700, "七百", "ななひゃく"),
    (800, "八百", "はっぴゃく"),
    (900, "九百", "きゅうひゃく"),
    (608, "六百八", "ろっぴゃくはち"),
    (1000, "千", "せん"),
    (1105, "千百五", "せんひゃくご"),
    (2000, "二千", "にせん"),
    (3000, "三千", "さんぜん"),
    (3800, "三千八百", "さんぜんはっぴゃく"),
    (4000, "四千", "よんせん"),
    (6000, "六千", "ろくせん"),
    (8000, "八千", "はっせん"),
    (8888, "八千八百八十八", "はっせんはっぴゃくはちじゅうはち"),
    (9999, "九千九百九十九", "きゅうせんきゅうひゃくきゅうじゅうきゅう"),
    (10000, "一万", "いちまん"),
    (10001, "一万一", "いちまんいち"),
    (11000, "一万千", "いちまんせん"),
    (30300, "三万三百", "さんまんさんびゃく"),
    (80000, "八万", "はちまん"),
    (99999, "九万九千九百九十九", "きゅうまんきゅうせんきゅうひゃくきゅうじゅうきゅう"),
]


@pytest.mark.parametrize(("n", "kanji", "kana"), KNOWN)
def test_known_readings(n: int, kanji: str, kana: str) -> None:
    assert number_kanji(n) == kanji
    assert number_kana(n) == kana


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, "いちばん"),
        (3, "さんばん"),
        (8, "はちばん"),
        (10, "じゅうばん"),
        (105, "ひゃくごばん"),
        (300, "さんびゃくばん"),
    ],
)
def test_counter_ban_never_changes_the_number(n: int, expected: str) -> None:
    assert counter_kana(n) == expected


def test_digit_by_digit() -> None:
    assert digits_kana(1105) == "いちいちぜろご"
    assert digits_kana(0) == "ぜろ"
    assert digits_kana(4790) == "よんななきゅうぜろ"
    assert counter_kana(1105, digitwise=True) == "いちいちぜろごばん"


def test_to_katakana() -> None:
    assert to_katakana("ひゃくごばんのかた、3番") == "ヒャクゴバンノカタ、3番"
    assert to_katakana("ろっぴゃく") == "ロッピャク"


@pytest.mark.parametrize("bad", [-1, MAX_NUMBER + 1, 10**9])
def test_out_of_range_is_refused(bad: int) -> None:
    for f in (number_kanji, number_kana, digits_kana, counter_kana):
        with pytest.raises(ValueError, match="outside"):
            f(bad)


@pytest.mark.parametrize("bad", [True, 1.0, "105", None])
def test_non_int_is_refused(bad: object) -> None:
    with pytest.raises(TypeError):
        number_kana(bad)  # type: ignore[arg-type]


# ---- reference parsers: a reading must say exactly one number, and say it back -----------------

_KANJI_DIGIT = {c: i for i, c in enumerate("零一二三四五六七八九")}
_KANJI_UNIT = {"十": 10, "百": 100, "千": 1000}


def _parse_kanji(s: str) -> int:
    if s == "零":
        return 0
    total = 0
    if "万" in s:
        head, s = s.split("万")
        total = _KANJI_DIGIT[head] * 10_000
    pending = None
    for c in s:
        if c in _KANJI_UNIT:
            total += (1 if pending is None else pending) * _KANJI_UNIT[c]
            pending = None
        else:
            pending = _KANJI_DIGIT[c]
    return total + (pending or 0)


# Longest alternatives first, so ろっ/はっ are not read as ろく/はち prefixes.
_KANA_TOKEN = re.compile(
    "ぜろ|いち|に|さん|よん|ご|ろく|ろっ|なな|はち|はっ|きゅう|じゅう|ひゃく|びゃく|ぴゃく|せん|ぜん|まん"
)
_KANA_DIGIT = {"ぜろ": 0, "いち": 1, "に": 2, "さん": 3, "よん": 4, "ご": 5, "ろく": 6, "ろっ": 6, "なな": 7,
               "はち": 8, "はっ": 8, "きゅう": 9}  # fmt: skip
_KANA_UNIT = {"じゅう": 10, "ひゃく": 100, "びゃく": 100, "ぴゃく": 100, "せん": 1000, "ぜん": 1000}


def _kana_tokens(s: str) -> list[str]:
    tokens = _KANA_TOKEN.findall(s)
    assert "".join(tokens) == s, f"{s!r} has text that is not a number word"
    return tokens


def _parse_kana(s: str) -> int:
    total = small = 0
    pending = None
    for t in _kana_tokens(s):
        if t == "まん":
            total = (small + (pending or 0)) * 10_000
            small, pending = 0, None
        elif t in _KANA_UNIT:
            small += (1 if pending is None else pending) * _KANA_UNIT[t]
            pending = None
        else:
            pending = _KANA_DIGIT[t]
    return total + small + (pending or 0)


@given(numbers)
def test_kanji_says_the_number(n: int) -> None:
    assert _parse_kanji(number_kanji(n)) == n


@given(numbers)
def test_kana_says_the_number(n: int) -> None:
    assert _parse_kana(number_kana(n)) == n


@given(numbers)
def test_digits_say_each_digit(n: int) -> None:
    assert "".join(str(_KANA_DIGIT[t]) for t in _kana_tokens(digits_kana(n))) == str(n)


@given(numbers)
def test_readings_avoid_the_misheard_forms(n: int) -> None:
    tokens = _kana_tokens(number_kana(n))
    # Euphonic forms only where they belong: ろっ/はっ before ぴゃく/せん, び/ぴゃく after さん/ろっ/はっ.
    for before, after in itertools.pairwise(tokens):
        if before in ("ろっ", "はっ"):
            assert after in ("ぴゃく", "せん")
        if after == "びゃく":
            assert before == "さん"
        if after == "ぴゃく":
            assert before in ("ろっ", "はっ")
        if after == "ぜん":
            assert before == "さん"
    assert tokens[-1] not in ("ろっ", "はっ")


def test_every_reading_is_distinct_and_hiragana() -> None:
    readings = [number_kana(n) for n in range(MAX_NUMBER + 1)]
    assert len(set(readings)) == MAX_NUMBER + 1
    assert all(re.fullmatch("[ぁ-ゖ]+", r) for r in readings)
    assert len({number_kanji(n) for n in range(MAX_NUMBER + 1)}) == MAX_NUMBER + 1


def test_digit_separator() -> None:
    assert digits_kana(1105, separator="、") == "いち、いち、ぜろ、ご"
    assert counter_kana(91, digitwise=True, separator="、") == "きゅう、いちばん"
