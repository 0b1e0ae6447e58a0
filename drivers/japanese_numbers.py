"""Japanese readings of ticket and counter numbers (漢数字 and かな), for voice calls and screens.

Pure functions, no I/O. The range is 0..99999: ticket numbers are per purpose series and reset
every business day, so five digits are plenty, and staying below 十万 keeps the rules small.

Conventions (the ones municipal offices use on the lobby speaker):

* Whole-number reading (``number_kana``): the ordinary 読み with its euphonic changes
  (連濁・促音便): さんびゃく, ろっぴゃく, はっぴゃく, さんぜん, はっせん. 4 is よん and 7 is なな,
  never し / しち, because し and しち are easily misheard (and し is avoided as 死).
  9 is きゅう, never く. 10000 is いちまん (the 一 is always said before 万, never before
  十・百・千).
* Zero is ぜろ, the word callers use for 0 in numbers (れい is formal, まる is casual); the
  kanji form is 零.
* Digit-by-digit reading (``digits_kana``): some offices read the number digit by digit
  ("いちいちぜろご" for 1105) so a resident can match it with the digits on the ticket. Each
  digit has the same reading as above, and no digit is lengthened (にー, ごー). For speech,
  join the digits with 、 (``separator``): run together, Open JTalk hears words in them
  (きゅういち → キウイ + チ, "kiwi"), and a short pause between digits is how staff say them.
* The counter 番 never changes the number before it (いちばん, さんばん, はちばん, じゅうばん,
  ひゃくばん), unlike 本 or 杯.

Readings are returned in hiragana. :func:`to_katakana` exists because Open JTalk's
morphological analyser may take a hiragana は inside a number for the particle は and say ワ
(ろっぴゃくはちばん → ロッピャクワチバン); katakana readings are spoken exactly as written.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NUMBER = 99_999

_DIGIT_KANJI = ("零", "一", "二", "三", "四", "五", "六", "七", "八", "九")
_DIGIT_KANA = ("ぜろ", "いち", "に", "さん", "よん", "ご", "ろく", "なな", "はち", "きゅう")

# Readings of d × 百 and d × 千 where the euphonic change is not just digit + unit.
_HUNDREDS_KANA = {1: "ひゃく", 3: "さんびゃく", 6: "ろっぴゃく", 8: "はっぴゃく"}
_THOUSANDS_KANA = {1: "せん", 3: "さんぜん", 8: "はっせん"}

_HIRAGANA_FIRST, _HIRAGANA_LAST = 0x3041, 0x3096  # ぁ .. ゖ
_KATAKANA_OFFSET = 0x60  # ァ - ぁ


def _check(n: int) -> None:
    # bool is an int subclass; a True ticket number is a bug upstream, not ticket 1.
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"expected an int, got {type(n).__name__}")
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(f"{n} is outside 0..{MAX_NUMBER}")


def _below_10000_kanji(n: int) -> str:
    """Kanji of 1..9999 (no 一 before 十・百・千)."""
    out = []
    for unit, mark in ((1000, "千"), (100, "百"), (10, "十")):
        d, n = divmod(n, unit)
        if d:
            out.append(("" if d == 1 else _DIGIT_KANJI[d]) + mark)
    if n:
        out.append(_DIGIT_KANJI[n])
    return "".join(out)


def _below_10000_kana(n: int) -> str:
    """Reading of 1..9999 with the euphonic changes of 百 and 千."""
    out = []
    thousands, n = divmod(n, 1000)
    if thousands:
        out.append(_THOUSANDS_KANA.get(thousands, _DIGIT_KANA[thousands] + "せん"))
    hundreds, n = divmod(n, 100)
    if hundreds:
        out.append(_HUNDREDS_KANA.get(hundreds, _DIGIT_KANA[hundreds] + "ひゃく"))
    tens, n = divmod(n, 10)
    if tens:
        out.append(("" if tens == 1 else _DIGIT_KANA[tens]) + "じゅう")
    if n:
        out.append(_DIGIT_KANA[n])
    return "".join(out)


def number_kanji(n: int) -> str:
    """The number in kanji numerals: 105 → 百五, 1105 → 千百五, 20 → 二十, 10000 → 一万, 0 → 零."""
    _check(n)
    if n == 0:
        return _DIGIT_KANJI[0]
    man, rest = divmod(n, 10_000)
    # 万 always takes its count, 一万 included (unlike 千, which is never 一千 here).
    head = _DIGIT_KANJI[man] + "万" if man else ""
    return head + (_below_10000_kanji(rest) if rest else "")


def number_kana(n: int) -> str:
    """The number's reading in hiragana: 105 → ひゃくご, 3800 → さんぜんはっぴゃく, 0 → ぜろ."""
    _check(n)
    if n == 0:
        return _DIGIT_KANA[0]
    man, rest = divmod(n, 10_000)
    head = _DIGIT_KANA[man] + "まん" if man else ""
    return head + (_below_10000_kana(rest) if rest else "")


def digits_kana(n: int, *, separator: str = "") -> str:
    """The number read digit by digit: 1105 → いちいちぜろご (no leading zeros)."""
    _check(n)
    return separator.join(_DIGIT_KANA[int(c)] for c in str(n))


def counter_kana(n: int, *, digitwise: bool = False, separator: str = "") -> str:
    """The reading of n番: 105 → ひゃくごばん; with ``digitwise`` 1105 → いちいちぜろごばん."""
    return (digits_kana(n, separator=separator) if digitwise else number_kana(n)) + "ばん"


def to_katakana(text: str) -> str:
    """Hiragana → katakana, other characters unchanged (ひゃくごばん → ヒャクゴバン)."""
    return "".join(chr(ord(c) + _KATAKANA_OFFSET) if _HIRAGANA_FIRST <= ord(c) <= _HIRAGANA_LAST else c for c in text)


_KANJI_DIGITS = "〇零一二三四五六七八九十百千万"


def says_number(name: str, number: int) -> bool:
    """Whether a counter's name already says its number: "3番窓口", "窓口３", "Counter 3",
    "三番窓口", "第三相談室" (but not "13番窓口", nor "三階相談室").

    The board shows such a name as it is; the voice says the number instead, which the
    synthesizer reads better than the name's digits.
    """
    text = unicodedata.normalize("NFKC", name)  # full-width digits are digits
    if any(int(run) == number for run in re.findall(r"[0-9]+", text)):
        return True
    if not 0 <= number <= MAX_NUMBER:
        return False
    kanji = f"(?<![{_KANJI_DIGITS}]){re.escape(number_kanji(number))}(?![{_KANJI_DIGITS}])"
    return re.search(f"第{kanji}|{kanji}[番号]", text) is not None
