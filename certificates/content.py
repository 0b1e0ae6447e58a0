"""A certificate's content as typed, frozen models: what the PDF prints, one model per kind.

:func:`certificates.rules.certificate_content` builds one of these and sends it as plain data
(the issue reply, over MQTT); the kiosk turns that back into the model once, with
:func:`parse_content`, and the page is laid out from its attributes (certificates.pdf). The
kinds are a tagged union on ``kind``, the wire code of the certificate.

Unknown keys are ignored, as the page always did: an office a version ahead may send more than
this kiosk prints. Optional items of a 住民票 row (続柄, 本籍, 国籍, 個人番号) are left out of the
plain data when not asked for, so their absence is what the page sees.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar, Literal, cast

import msgspec

from certificates.errors import CertificateDomainError
from common.validation import Invalid, convert, info

FORMAT = 1  # the content's format; rules.CONTENT_FORMAT

# What the page checks a value for, in the words of its error messages.
Text = Annotated[str, info(what="text")]
Yen = Annotated[int, info(what="a whole number of yen")]
Omitted = Annotated[
    Literal["relationship", "honseki", "my_number"], info(what="one of relationship, honseki, my_number")
]


class ContentError(CertificateDomainError):
    """Certificate content that does not fit its model; the message names the key path.

    The message may quote the value (resident data); ``path`` alone is safe for a log line.
    """

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class _Part(msgspec.Struct, frozen=True, kw_only=True):
    """A part of the content (a person, a seal, a row)."""


class Household(_Part, frozen=True, kw_only=True):
    """住民票: the household's address and its head."""

    address: Text
    head: Text


class JuminhyoPerson(_Part, frozen=True, kw_only=True, omit_defaults=True):
    """One person of a 住民票; the optional items are None (and absent on the wire) unless asked."""

    name: Text
    kana: Text
    birth: Text
    sex: Text
    since: Text
    address_since: Text
    previous_address: Text | None = None
    foreign: bool
    relationship: Text | None = None  # 続柄
    honseki: Text | None = None  # 本籍, with 筆頭者 (Japanese residents)
    hittosha: Text | None = None
    nationality: Text | None = None  # 国籍・地域 and residence status (foreign residents)
    residence_status: Text | None = None
    residence_expiry: Text | None = None
    foreign_category: Text | None = None
    my_number: Text | None = None


class Person(_Part, frozen=True, kw_only=True):
    """The holder of a 印鑑登録証明書 or 所得・課税証明書."""

    name: Text
    kana: Text
    birth: Text
    sex: Text
    address: Text


class Seal(_Part, frozen=True, kw_only=True):
    """A registered seal: its number, date and the impression's characters."""

    number: Text
    registered: Text
    impression: Text


class KosekiMember(_Part, frozen=True, kw_only=True):
    """One person of a 戸籍 with the events recorded for them: ``[事項, text]`` pairs."""

    name: Text
    birth: Text
    sex: Text
    role: Text
    father: Text | None = None
    mother: Text | None = None
    events: tuple[tuple[Text, Text], ...] = ()


class Address(_Part, frozen=True, kw_only=True):
    """One address of a 附票 and the day it began."""

    address: Text
    since: Text


class FuhyoMember(_Part, frozen=True, kw_only=True):
    """One person of a 附票 with their addresses, oldest first."""

    name: Text
    birth: Text
    addresses: tuple[Address, ...]


class Tax(_Part, frozen=True, kw_only=True):
    """所得・課税: the year's income and taxes in yen."""

    income: Yen
    deductions: Yen
    taxable_income: Yen
    municipal_tax: Yen
    prefectural_tax: Yen
    total_tax: Yen


class _Content(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """What every certificate holds: the issue, the closing lines and the card it was made for."""

    kind: ClassVar[str]
    format: int = FORMAT
    municipality: Text
    issue_number: Text
    issued_on: Text = ""  # ISO date, for the office's records; the page prints issued_on_text
    issued_on_text: Text
    mayor_line: Text
    card_serial: Text = ""
    title: Text
    certification: Text


class JuminhyoContent(_Content, frozen=True, kw_only=True, tag="juminhyo"):
    """住民票の写し: the household and the chosen people; ``omitted`` the items left out."""

    kind: ClassVar[str] = "juminhyo"
    household: Household
    scope: Text = "members"
    persons: tuple[JuminhyoPerson, ...]
    omitted: tuple[Omitted, ...] = ()

    def __post_init__(self) -> None:
        if not self.persons:
            raise ValueError("persons: a 住民票 needs at least one person")


class InkanContent(_Content, frozen=True, kw_only=True, tag="inkan"):
    """印鑑登録証明書: the holder and the seal."""

    kind: ClassVar[str] = "inkan"
    person: Person
    seal: Seal


class KosekiContent(_Content, frozen=True, kw_only=True, tag="koseki"):
    """戸籍謄本・抄本: the register's 本籍, 筆頭者 and its members."""

    kind: ClassVar[str] = "koseki"
    subtitle: Text | None = None
    variant: Text = "tohon"
    honseki: Text
    hittosha: Text
    made_on: Text
    members: tuple[KosekiMember, ...]


class FuhyoContent(_Content, frozen=True, kw_only=True, tag="fuhyo"):
    """戸籍の附票の写し: the register and its members' addresses."""

    kind: ClassVar[str] = "fuhyo"
    honseki: Text
    hittosha: Text
    members: tuple[FuhyoMember, ...]


class ShotokuContent(_Content, frozen=True, kw_only=True, tag="shotoku"):
    """所得・課税証明書: the fiscal year, the holder and the tax figures."""

    kind: ClassVar[str] = "shotoku"
    fiscal_year: int | None = None
    fiscal_year_text: Text
    income_year_text: Text
    person: Person
    tax: Tax


CertificateContent = JuminhyoContent | InkanContent | KosekiContent | FuhyoContent | ShotokuContent

CONTENT_TYPES: tuple[type[CertificateContent], ...] = (
    JuminhyoContent,
    InkanContent,
    KosekiContent,
    FuhyoContent,
    ShotokuContent,
)
KINDS: tuple[str, ...] = tuple(t.kind for t in CONTENT_TYPES)  # the wire codes, certificates.rules' kinds

# convert() takes a class; the union is one to msgspec (it picks the variant by ``kind``).
_UNION = cast(
    "type[CertificateContent]",
    Annotated[CertificateContent, info(what="an object made by certificates.rules.certificate_content")],
)
_KEYED = re.compile(r"^([a-z_]+(?:\[\d+\])*):")


def content_from(raw: object) -> CertificateContent:
    """The typed content from plain data (the issue reply's ``certificate``).

    Raises :class:`Invalid` naming the key path (``persons[0].name``) and what was expected.
    """
    return convert(raw, _UNION)


def parse_content(raw: object) -> CertificateContent:
    """:func:`content_from`, raising :class:`ContentError` (``content.persons[0].name: …``)."""
    try:
        return content_from(raw)
    except Invalid as err:
        # A model's own check (__post_init__) starts with its field: "persons: …".
        own = None if err.parts else _KEYED.match(err.message)
        path = own.group(1) if own else err.path
        raise ContentError(f"content.{err}" if path else f"content: {err}", path) from err


def plain(content: CertificateContent) -> dict[str, Any]:
    """The content as plain JSON data (lists, not tuples), as the issue reply carries it."""
    out: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(content))
    return out


def strings(value: object) -> Iterator[tuple[str, str]]:
    """Every ``(path, text)`` in the content (``.persons[0].name``), for the glyph check."""
    if isinstance(value, str):
        yield "", value
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            for sub, text in strings(getattr(value, name)):
                yield f".{name}{sub}", text
    elif isinstance(value, tuple | list):
        for i, item in enumerate(value):
            for sub, text in strings(item):
                yield f"[{i}]{sub}", text
