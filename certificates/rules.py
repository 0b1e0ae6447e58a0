"""Certificates the kiosk issues: kinds, options, fees, refusals and content (pure).

Words from DOMAIN.md and the kiosk contracts: five certificate *kinds* (住民票の写し, 印鑑登録証明書,
戸籍謄本・抄本, 戸籍の附票, 所得・課税証明書), each with its *options*; a *fee schedule* (per copy,
configuration); a *refusal* when the kiosk must not issue (under 15, moved out, 支援措置, 外字,
a kind the resident has no record for). The kiosk only ever learns "go_to_counter" or
"not_available" - never why: a refusal for support measures must look like any other.

:func:`certificate_content` re-checks eligibility itself: content is only ever made for the
authenticated card holder's own, currently eligible request (the 2023 incidents printed other
people's records). No I/O here: the registry, ``today`` and the issue number are arguments.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Any, Literal, TypedDict

import msgspec

from certificates.content import (
    FORMAT,
    Address,
    CertificateContent,
    FuhyoContent,
    FuhyoMember,
    Household,
    InkanContent,
    JuminhyoContent,
    JuminhyoPerson,
    KosekiContent,
    KosekiMember,
    Omitted,
    Person,
    Seal,
    ShotokuContent,
    Tax,
    plain,
)
from certificates.errors import CertificateDomainError
from certificates.registry import RegistryLookup, Resident, age_on
from common.validation import Invalid, convert, info

MAX_COPIES = 10
MIN_AGE = 15  # kiosks serve residents aged 15 and over
MAX_CONTENT_BYTES = 64 * 1024  # the issue reply travels over MQTT with the content in it
MAX_MEMBERS = 20  # chosen members of one 住民票 (a household larger than this goes to a counter)
MAX_FEE_PER_COPY = 10_000  # a typo guard: no certificate costs more than one large note
CONTENT_FORMAT = FORMAT


class CertificateError(CertificateDomainError):
    """A certificate request, fee schedule, content or page that cannot be used."""


class OptionsError(CertificateError):
    """Certificate options, kind or copies that cannot be used; the message names the field."""


class FeeScheduleError(CertificateError):
    """A fee configuration that cannot be used; the message names the key and the fix."""


class IneligibleError(CertificateError):
    """Content was asked for a request that is refused (a caller skipped check_eligibility)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(f"refused: {refusal.reason.value} ({refusal.detail})")
        self.refusal = refusal


class ContentTooLargeError(CertificateError):
    """The certificate's content would not fit the issue reply (a huge household)."""


class CertificateKind(StrEnum):
    """The five certificates, by the codes used on the wire and in configuration."""

    JUMINHYO = "juminhyo"
    INKAN = "inkan"
    KOSEKI = "koseki"
    FUHYO = "fuhyo"
    SHOTOKU = "shotoku"

    @property
    def name_ja(self) -> str:
        """The certificate's Japanese name as offered on the kiosk."""
        return _TITLES[self]


_TITLES = {
    CertificateKind.JUMINHYO: "住民票の写し",
    CertificateKind.INKAN: "印鑑登録証明書",
    CertificateKind.KOSEKI: "戸籍謄本・抄本",
    CertificateKind.FUHYO: "戸籍の附票の写し",
    CertificateKind.SHOTOKU: "所得・課税証明書",
}


# -- options -------------------------------------------------------------------------------------


class _Options(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The options of one certificate kind, as :func:`parse_options` decodes them."""


ResidentId = Annotated[str, info(min_length=1, max_length=64, what="a resident id")]


class JuminhyoOptions(_Options, frozen=True, forbid_unknown_fields=True):
    """住民票の写し: whose records, and which optional items to print.

    ``scope`` "household" prints every current member; "members" prints ``members`` (ids in the
    requester's household), or the requester alone when ``members`` is empty.
    ``with_honseki`` prints 本籍・筆頭者 (for a foreign resident: 国籍・地域 and residence status).
    """

    scope: Annotated[Literal["household", "members"], info(what='"household" or "members"')] = "members"
    # At most MAX_MEMBERS people: checked below, with a message of its own (a bound on what is
    # decoded at all is the request's size limit).
    members: Annotated[tuple[ResidentId, ...], info(what="a list of resident ids")] = ()
    with_honseki: bool = False
    with_zokugara: bool = False
    with_my_number: bool = False

    def __post_init__(self) -> None:
        if self.scope == "household" and self.members:
            raise ValueError('members: only with scope "members"; scope "household" prints everyone')
        if len(self.members) > MAX_MEMBERS:
            raise ValueError(f"members: at most {MAX_MEMBERS} people, got {len(self.members)}")
        for i, member in enumerate(self.members):
            if member in self.members[:i]:
                raise ValueError(f"members[{i}]: {member} is listed twice")

    def to_dict(self) -> dict[str, Any]:
        """The canonical wire form (every field, defaults included)."""
        return {
            "scope": self.scope,
            "members": list(self.members),
            "with_honseki": self.with_honseki,
            "with_zokugara": self.with_zokugara,
            "with_my_number": self.with_my_number,
        }


class InkanOptions(_Options, frozen=True, forbid_unknown_fields=True):
    """印鑑登録証明書 has no options."""

    def to_dict(self) -> dict[str, Any]:
        """The canonical wire form."""
        return {}


class KosekiOptions(_Options, frozen=True, forbid_unknown_fields=True):
    """戸籍: ``variant`` "tohon" (謄本, everyone in the register) or "shohon" (抄本, the requester)."""

    variant: Annotated[Literal["tohon", "shohon"], info(what='"tohon" (謄本) or "shohon" (抄本)')] = "tohon"

    def to_dict(self) -> dict[str, Any]:
        """The canonical wire form."""
        return {"variant": self.variant}


class FuhyoOptions(_Options, frozen=True, forbid_unknown_fields=True):
    """戸籍の附票 has no options."""

    def to_dict(self) -> dict[str, Any]:
        """The canonical wire form."""
        return {}


class ShotokuOptions(_Options, frozen=True, forbid_unknown_fields=True):
    """所得・課税証明書: the fiscal year (年度, Western year); None = the latest on record."""

    fiscal_year: (
        Annotated[
            int,
            info(ge=2000, le=2100, what="a fiscal year such as 2025 (or leave it out for the latest)"),
        ]
        | None
    ) = None

    def to_dict(self) -> dict[str, Any]:
        """The canonical wire form."""
        return {"fiscal_year": self.fiscal_year}


CertificateOptions = JuminhyoOptions | InkanOptions | KosekiOptions | FuhyoOptions | ShotokuOptions

_OPTION_TYPES: Mapping[CertificateKind, type[CertificateOptions]] = MappingProxyType(
    {
        CertificateKind.JUMINHYO: JuminhyoOptions,
        CertificateKind.INKAN: InkanOptions,
        CertificateKind.KOSEKI: KosekiOptions,
        CertificateKind.FUHYO: FuhyoOptions,
        CertificateKind.SHOTOKU: ShotokuOptions,
    }
)


def parse_kind(value: object) -> CertificateKind:
    """A certificate kind from its wire code; OptionsError naming the allowed codes otherwise."""
    if isinstance(value, CertificateKind):
        return value
    if isinstance(value, str) and value in _CODES:
        return CertificateKind(value)
    allowed = ", ".join(k.value for k in CertificateKind)
    raise OptionsError(f"kind: {value!r} is not a certificate; use one of {allowed}")


_CODES = frozenset(k.value for k in CertificateKind)


def check_copies(copies: object) -> int:
    """The number of copies, a whole number from 1 to 10; OptionsError otherwise."""
    if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= MAX_COPIES:
        raise OptionsError(f"copies: expected a whole number from 1 to {MAX_COPIES}, got {copies!r}")
    return copies


def parse_options(kind: CertificateKind | str, raw: Mapping[str, Any] | None) -> CertificateOptions:
    """Decode the options of one kind (None or {} = the defaults) into the kind's model.

    Raises :class:`OptionsError` naming the first bad field, e.g. ``options.variant``.
    """
    kind = parse_kind(kind)
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise OptionsError(f"options: expected an object of {kind.value} options, got {type(raw).__name__}")
    model = _OPTION_TYPES[kind]
    try:
        options: CertificateOptions = convert(dict(raw), model)
    except Invalid as err:
        if err.message.startswith("unknown key"):
            known = sorted(model.__struct_fields__)
            hint = f"allowed: {', '.join(known)}" if known else f"{kind.value} takes no options"
            raise OptionsError(f"options.{err.path}: unknown option for {kind.value}; {hint}") from err
        # A field's own problem carries its path; a check of the model's own starts with the field.
        raise OptionsError(f"options.{err}") from err
    return options


def _options_for(kind: CertificateKind, options: CertificateOptions) -> None:
    if not isinstance(options, _OPTION_TYPES[kind]):
        raise OptionsError(f"options: {type(options).__name__} are not {kind.value} options")


# -- fees ------------------------------------------------------------------------------------------

DEFAULT_FEES: Mapping[CertificateKind, int] = MappingProxyType(
    {
        CertificateKind.JUMINHYO: 300,
        CertificateKind.INKAN: 300,
        CertificateKind.KOSEKI: 450,
        CertificateKind.FUHYO: 300,
        CertificateKind.SHOTOKU: 300,
    }
)


# The codes as a Literal, not the enum: an unknown key is then reported by name (a test keeps
# the two in step).
FeeCode = Literal["juminhyo", "inkan", "koseki", "fuhyo", "shotoku"]
# The hoppers pay change in 10-yen coins: a fee of 305 could never be settled, hence multiple_of.
_Fee = Annotated[
    int,
    info(
        ge=0,
        le=MAX_FEE_PER_COPY,
        multiple_of=10,
        what=f"whole yen per copy from 0 to {MAX_FEE_PER_COPY}, in 10-yen steps",
    ),
]
_FeeTable = Annotated[
    dict[Annotated[FeeCode, info(what="a certificate code: fuhyo, inkan, juminhyo, koseki or shotoku")], _Fee],
    info(what="a table of fees per copy, e.g. { juminhyo = 300, koseki = 450 }"),
]


@dataclass(frozen=True)
class FeeSchedule:
    """Fees per copy in yen (手数料); they vary by town, so they come from configuration."""

    fees: Mapping[CertificateKind, int] = field(default_factory=lambda: DEFAULT_FEES)

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None, path: str = "certificate_fees") -> FeeSchedule:
        """Validate a ``{code: yen}`` table; codes left out keep the default fee.

        Raises :class:`FeeScheduleError` naming the key (``certificate_fees.koseki``) and the fix.
        """
        if raw is None:
            return cls()
        try:
            given = convert(raw, _FeeTable)
        except Invalid as err:
            raise FeeScheduleError(f"{path}.{err}" if err.parts else f"{path}: {err}") from err
        return cls(MappingProxyType({**DEFAULT_FEES, **{CertificateKind(k): v for k, v in given.items()}}))

    def per_copy(self, kind: CertificateKind | str) -> int:
        """The fee of one copy."""
        return self.fees[parse_kind(kind)]

    def total(self, kind: CertificateKind | str, copies: int) -> int:
        """The fee of ``copies`` copies (copies checked: 1 to 10)."""
        return self.per_copy(kind) * check_copies(copies)

    def to_dict(self) -> dict[str, int]:
        """The schedule by wire code (for the kiosk's config document)."""
        return {k.value: v for k, v in self.fees.items()}


# -- refusals ---------------------------------------------------------------------------------------


class PublicRefusal(StrEnum):
    """The only refusals a kiosk ever sees (plus "card_invalid", decided by the signature check)."""

    GO_TO_COUNTER = "go_to_counter"
    NOT_AVAILABLE = "not_available"


class RefusalReason(StrEnum):
    """Why a request is refused: for the office log only, never sent to a kiosk."""

    SUPPORT_MEASURES = "support_measures"
    MOVED_OUT = "moved_out"
    MOVE_OUT_PENDING = "move_out_pending"
    UNDER_15 = "under_15"
    GAIJI = "gaiji"
    FOREIGN_RESIDENT = "foreign_resident"
    NO_FAMILY_REGISTER = "no_family_register"
    NO_SEAL_REGISTRATION = "no_seal_registration"
    NO_TAX_RECORD = "no_tax_record"
    MEMBER_NOT_IN_HOUSEHOLD = "member_not_in_household"
    MEMBER_MOVED_OUT = "member_moved_out"
    MEMBER_SUPPORT_MEASURES = "member_support_measures"
    MEMBER_GAIJI = "member_gaiji"
    TOO_MANY_MEMBERS = "too_many_members"

    @property
    def public(self) -> PublicRefusal:
        """What the kiosk is told: a counter can help, or this certificate cannot be had here."""
        if self in _NOT_AVAILABLE:
            return PublicRefusal.NOT_AVAILABLE
        return PublicRefusal.GO_TO_COUNTER


_NOT_AVAILABLE = frozenset(
    {
        RefusalReason.FOREIGN_RESIDENT,
        RefusalReason.NO_FAMILY_REGISTER,
        RefusalReason.NO_SEAL_REGISTRATION,
        RefusalReason.NO_TAX_RECORD,
        RefusalReason.MEMBER_NOT_IN_HOUSEHOLD,
    }
)


@dataclass(frozen=True)
class Refusal:
    """A refused request: ``reason`` and ``detail`` go to the office log, ``public`` to the kiosk."""

    reason: RefusalReason
    detail: str

    @property
    def public(self) -> str:
        """ "go_to_counter" or "not_available"."""
        return self.reason.public.value


def _selected_persons(
    registry: RegistryLookup, resident: Resident, options: JuminhyoOptions, today: date
) -> tuple[list[Resident], Refusal | None]:
    """The people a 住民票 prints, in household order, or the refusal a choice causes."""
    household = registry.household_members(resident.household_id)
    if options.scope == "household":
        # A household copy holds the current members; people who left are on a counter's 除票.
        chosen = [p for p in household if p.moved_out is None or p.moved_out > today]
    else:
        wanted = options.members or (resident.id,)
        ids = {p.id for p in household}
        for member in wanted:
            if member not in ids:
                return [], Refusal(
                    RefusalReason.MEMBER_NOT_IN_HOUSEHOLD, f"{member} is not in household {resident.household_id}"
                )
        chosen = [p for p in household if p.id in wanted]
    if len(chosen) > MAX_MEMBERS:
        return [], Refusal(RefusalReason.TOO_MANY_MEMBERS, f"{len(chosen)} people, at most {MAX_MEMBERS} at a kiosk")
    for person in chosen:
        if person.id == resident.id:
            continue
        if person.moved_out is not None:
            return [], Refusal(RefusalReason.MEMBER_MOVED_OUT, f"member {person.id} moved out")
        if person.support_measures:
            return [], Refusal(RefusalReason.MEMBER_SUPPORT_MEASURES, f"member {person.id}")
        if person.gaiji:
            return [], Refusal(RefusalReason.MEMBER_GAIJI, f"member {person.id}")
    return chosen, None


def _register_refusal(registry: RegistryLookup, resident: Resident) -> Refusal | None:
    """Refusals common to the two family-register certificates (戸籍, 附票)."""
    if resident.foreign:
        return Refusal(RefusalReason.FOREIGN_RESIDENT, "a foreign resident has no family register")
    register = registry.family_register(resident)
    if register is None:
        return Refusal(RefusalReason.NO_FAMILY_REGISTER, "本籍 is not kept by this town")
    for entry in register.members:
        other = registry.resident(entry.resident_id) if entry.resident_id not in (None, resident.id) else None
        if other is not None and other.support_measures:
            return Refusal(RefusalReason.MEMBER_SUPPORT_MEASURES, f"register member {other.id}")
        if other is not None and other.gaiji:
            return Refusal(RefusalReason.MEMBER_GAIJI, f"register member {other.id}")
    return None


def check_eligibility(
    registry: RegistryLookup,
    resident: Resident,
    kind: CertificateKind | str,
    options: CertificateOptions,
    today: date,
) -> Refusal | None:
    """None when the kiosk may issue ``kind`` to ``resident`` on ``today``, else the refusal.

    The order matters only for the office log: support measures are checked first so the log
    never records a lesser reason for a protected person. Raises OptionsError when ``options``
    do not belong to ``kind``.
    """
    kind = parse_kind(kind)
    _options_for(kind, options)
    if resident.support_measures:
        return Refusal(RefusalReason.SUPPORT_MEASURES, "支援措置")
    if resident.moved_out is not None:
        if resident.moved_out <= today:
            return Refusal(RefusalReason.MOVED_OUT, f"moved out {resident.moved_out.isoformat()}")
        return Refusal(RefusalReason.MOVE_OUT_PENDING, f"moving out {resident.moved_out.isoformat()}")
    age = age_on(resident.birth_date, today)
    if age < MIN_AGE:
        return Refusal(RefusalReason.UNDER_15, f"age {age} on {today.isoformat()}")
    if resident.gaiji:
        return Refusal(RefusalReason.GAIJI, "name needs 外字")
    if isinstance(options, JuminhyoOptions):
        return _selected_persons(registry, resident, options, today)[1]
    if kind is CertificateKind.INKAN:
        if registry.seal(resident.id) is None:
            return Refusal(RefusalReason.NO_SEAL_REGISTRATION, "no seal registered")
        return None
    if kind in (CertificateKind.KOSEKI, CertificateKind.FUHYO):
        return _register_refusal(registry, resident)
    if isinstance(options, ShotokuOptions):
        years = registry.tax_years(resident.id)
        if not years or (options.fiscal_year is not None and options.fiscal_year not in years):
            asked = "latest" if options.fiscal_year is None else str(options.fiscal_year)
            return Refusal(RefusalReason.NO_TAX_RECORD, f"no tax record for {asked}")
    return None


def household_choices(registry: RegistryLookup, resident: Resident, today: date) -> list[dict[str, str]]:
    """The people the kiosk may offer for the "chosen members" option: ``[{id, name}]``.

    Members who left, are under support measures or whose name cannot be printed are not
    offered (choosing them would be refused anyway, and a protected person's name must not
    appear on a lobby screen).
    """
    return [
        {"id": p.id, "name": p.name}
        for p in registry.household_members(resident.household_id)
        if (p.moved_out is None or p.id == resident.id) and not p.support_measures and not p.gaiji
    ]


# -- dates in certificates -----------------------------------------------------------------------

_ERAS: tuple[tuple[date, str], ...] = (
    (date(2019, 5, 1), "令和"),
    (date(1989, 1, 8), "平成"),
    (date(1926, 12, 25), "昭和"),
    (date(1912, 7, 30), "大正"),
    (date(1873, 1, 1), "明治"),  # the Gregorian calendar's first day in Japan
)


def _era(d: date) -> tuple[str, int]:
    for start, name in _ERAS:
        if d >= start:
            year = d.year - start.year + 1
            return name, year
    raise ValueError(f"{d.isoformat()} is before 1873; no Japanese era date for it")


def _era_year(name: str, year: int) -> str:
    return f"{name}{'元' if year == 1 else year}年"


def wareki(d: date) -> str:
    """A date in the Japanese era calendar, as certificates print it: 令和8年4月1日, 令和元年5月1日."""
    name, year = _era(d)
    return f"{_era_year(name, year)}{d.month}月{d.day}日"


def western(d: date) -> str:
    """A Western-calendar date in Japanese form (foreign residents' dates): 1995年2月11日."""
    return f"{d.year}年{d.month}月{d.day}日"


def fiscal_year_text(year: int) -> str:
    """令和7年度 for 2025 (the era of the year's end, so 2019 is 令和元年度)."""
    return _era_year(*_era(date(year, 12, 31))) + "度"


def _birth(person: Resident) -> str:
    # 外国人住民票 print the Western calendar; Japanese residents' records use the era calendar.
    return western(person.birth_date) if person.foreign else wareki(person.birth_date)


# -- content -------------------------------------------------------------------------------------

CERTIFICATIONS: Mapping[str, str] = MappingProxyType(
    {
        "juminhyo": "この写しは、住民票の原本と相違ないことを証明する。",
        "inkan": "この写しは、登録されている印影と相違ないことを証明する。",
        "koseki.tohon": "これは、戸籍に記録されている事項の全部を証明した書面である。",
        "koseki.shohon": "これは、戸籍中の一部の者について記録されている事項の全部を証明した書面である。",
        "fuhyo": "この写しは、戸籍の附票の原本と相違ないことを証明する。",
        "shotoku": "上記のとおり相違ないことを証明する。",
    }
)


def _format_my_number(number: str) -> str:
    return f"{number[:4]} {number[4:8]} {number[8:]}"


class IssueHead(TypedDict):
    """The fields every certificate's content shares: the issue and the card it is for."""

    format: int
    municipality: str
    issue_number: str
    issued_on: str
    issued_on_text: str
    mayor_line: str
    card_serial: str


def _juminhyo(
    registry: RegistryLookup, resident: Resident, options: JuminhyoOptions, today: date, head: IssueHead
) -> JuminhyoContent:
    persons, _ = _selected_persons(registry, resident, options, today)
    rows: list[JuminhyoPerson] = []
    for p in persons:
        # 本籍・筆頭者 for a Japanese resident; 国籍・地域 and the residence status for a foreign one.
        honseki = options.with_honseki and not p.foreign
        nationality = options.with_honseki and p.foreign
        category = "特別永住者" if p.residence_status == "特別永住者" else "中長期在留者"
        rows.append(
            JuminhyoPerson(
                name=p.name,
                kana=p.kana,
                birth=_birth(p),
                sex=p.sex.label,
                since=wareki(p.resident_since),
                address_since=wareki(p.address_since),
                previous_address=p.previous_address or "",
                foreign=p.foreign,
                relationship=p.relationship if options.with_zokugara else None,
                nationality=(p.nationality or "") if nationality else None,
                residence_status=(p.residence_status or "") if nationality else None,
                residence_expiry=(western(p.residence_expiry) if p.residence_expiry else "") if nationality else None,
                foreign_category=category if nationality else None,
                honseki=(p.honseki or "") if honseki else None,
                hittosha=(p.hittosha or "") if honseki else None,
                my_number=_format_my_number(p.my_number) if options.with_my_number else None,
            )
        )
    shown: tuple[tuple[Omitted, bool], ...] = (
        ("relationship", options.with_zokugara),
        ("honseki", options.with_honseki),
        ("my_number", options.with_my_number),
    )
    omitted = tuple(item for item, given in shown if not given)
    return JuminhyoContent(
        **head,
        title="住民票の写し",
        certification=CERTIFICATIONS["juminhyo"],
        household=Household(address=resident.address, head=registry.head_of(resident).name),
        scope=options.scope,
        persons=tuple(rows),
        omitted=omitted,
    )


def _person(p: Resident) -> Person:
    return Person(name=p.name, kana=p.kana, birth=_birth(p), sex=p.sex.label, address=p.address)


def _inkan(registry: RegistryLookup, resident: Resident, head: IssueHead) -> InkanContent:
    seal = registry.seal(resident.id)
    if seal is None:  # check_eligibility refused already; this keeps the types honest
        raise IneligibleError(Refusal(RefusalReason.NO_SEAL_REGISTRATION, "no seal registered"))
    return InkanContent(
        **head,
        title="印鑑登録証明書",
        certification=CERTIFICATIONS["inkan"],
        person=_person(resident),
        seal=Seal(number=f"第{seal.number}号", registered=wareki(seal.registered_on), impression=seal.impression),
    )


def _koseki(registry: RegistryLookup, resident: Resident, options: KosekiOptions, head: IssueHead) -> KosekiContent:
    register = registry.family_register(resident)
    if register is None:
        raise IneligibleError(Refusal(RefusalReason.NO_FAMILY_REGISTER, "本籍 is not kept by this town"))
    entries = register.members
    if options.variant == "shohon":
        entries = tuple(e for e in entries if e.resident_id == resident.id)
    members = []
    for e in entries:
        born = wareki(e.birth_date)
        events = [("出生", f"{born}\u3000{e.birthplace}で出生" if e.birthplace else born)]
        if e.married_on is not None:
            events.append(("婚姻", wareki(e.married_on)))
        members.append(
            KosekiMember(
                name=e.name,
                birth=wareki(e.birth_date),
                sex=e.sex.label,
                role=e.role,
                father=e.father,
                mother=e.mother,
                events=tuple(events),
            )
        )
    return KosekiContent(
        **head,
        title="戸籍全部事項証明書" if options.variant == "tohon" else "戸籍個人事項証明書",
        subtitle="（戸籍謄本）" if options.variant == "tohon" else "（戸籍抄本）",
        certification=CERTIFICATIONS[f"koseki.{options.variant}"],
        variant=options.variant,
        honseki=register.honseki,
        hittosha=register.hittosha,
        made_on=wareki(register.made_on),
        members=tuple(members),
    )


def _fuhyo(registry: RegistryLookup, resident: Resident, head: IssueHead) -> FuhyoContent:
    register = registry.family_register(resident)
    if register is None:
        raise IneligibleError(Refusal(RefusalReason.NO_FAMILY_REGISTER, "本籍 is not kept by this town"))
    members = []
    for e in register.members:
        person = registry.resident(e.resident_id) if e.resident_id is not None else None
        if person is None:
            continue  # the 附票 records addresses; the register keeps people who never lived here
        addresses = [Address(address=a.address, since=wareki(a.since)) for a in person.previous_addresses]
        addresses.append(Address(address=person.address, since=wareki(person.address_since)))
        members.append(FuhyoMember(name=e.name, birth=wareki(e.birth_date), addresses=tuple(addresses)))
    return FuhyoContent(
        **head,
        title="戸籍の附票の写し",
        certification=CERTIFICATIONS["fuhyo"],
        honseki=register.honseki,
        hittosha=register.hittosha,
        members=tuple(members),
    )


def _shotoku(registry: RegistryLookup, resident: Resident, options: ShotokuOptions, head: IssueHead) -> ShotokuContent:
    years = registry.tax_years(resident.id)
    year = options.fiscal_year if options.fiscal_year is not None else (years[-1] if years else None)
    record = registry.tax_record(resident.id, year) if year is not None else None
    if year is None or record is None:
        raise IneligibleError(Refusal(RefusalReason.NO_TAX_RECORD, "no tax record"))
    return ShotokuContent(
        **head,
        title="所得・課税証明書",
        certification=CERTIFICATIONS["shotoku"],
        fiscal_year=year,
        fiscal_year_text=fiscal_year_text(year),
        income_year_text=_era_year(*_era(date(year - 1, 12, 31))) + "分",
        person=_person(resident),
        tax=Tax(
            income=record.income,
            deductions=record.deductions,
            taxable_income=record.taxable_income,
            municipal_tax=record.municipal_tax,
            prefectural_tax=record.prefectural_tax,
            total_tax=record.municipal_tax + record.prefectural_tax,
        ),
    )


def certificate_content(
    registry: RegistryLookup,
    resident: Resident,
    kind: CertificateKind | str,
    options: CertificateOptions,
    issue_number: str,
    issued_on: date,
    mayor_line: str,
) -> dict[str, Any]:
    """Everything the certificate's PDF needs, as JSON-safe plain data under 64 KiB.

    The content is built as its model (certificates.content) and sent as plain data: the issue
    reply carries it to the kiosk, which converts it back once. Eligibility is checked again
    here (raises :class:`IneligibleError`): content exists only for a request the kiosk may
    fulfil on ``issued_on``. My Number, 本籍/筆頭者 (国籍 for foreign residents) and 続柄 appear
    only when the options ask for them. ``card_serial`` binds the content to the card it was
    made for: the kiosk compares it with the card it authenticated before it prints. Raises
    :class:`ContentTooLargeError` when the content exceeds 64 KiB.
    """
    kind = parse_kind(kind)
    refusal = check_eligibility(registry, resident, kind, options, issued_on)
    if refusal is not None:
        raise IneligibleError(refusal)
    head = IssueHead(
        format=CONTENT_FORMAT,
        municipality=registry.municipality,
        issue_number=issue_number,
        issued_on=issued_on.isoformat(),
        issued_on_text=wareki(issued_on),
        mayor_line=mayor_line,
        card_serial=resident.card_serial or "",
    )
    typed: CertificateContent
    if isinstance(options, JuminhyoOptions):
        typed = _juminhyo(registry, resident, options, issued_on, head)
    elif isinstance(options, KosekiOptions):
        typed = _koseki(registry, resident, options, head)
    elif isinstance(options, ShotokuOptions):
        typed = _shotoku(registry, resident, options, head)
    elif kind is CertificateKind.INKAN:
        typed = _inkan(registry, resident, head)
    else:
        typed = _fuhyo(registry, resident, head)
    content = plain(typed)
    size = len(json.dumps(content, ensure_ascii=False).encode("utf-8"))
    if size > MAX_CONTENT_BYTES:
        raise ContentTooLargeError(
            f"{kind.value} content is {size} bytes, above {MAX_CONTENT_BYTES}; issue it at a counter"
        )
    return content
