"""The resident registry the office issues certificates from (pure data, no I/O).

Words from DOMAIN.md: a *resident* (住民) belongs to a *household* (世帯) with a *relationship*
(続柄) to its head (世帯主); Japanese residents have a family register (戸籍) at their 本籍 whose
head is the 筆頭者; foreign residents have no 本籍 and carry a nationality (国籍・地域) and a
residence status (在留資格) instead. A registered seal (印鑑登録) and the resident-tax records
(所得・課税) complete what the five kiosk certificates need.

The real registry is the town's basic resident register system; this module holds the same
facts as frozen values so eligibility and certificate content can be pure functions of them.
:func:`demo_registry` holds exactly the demo residents of the kiosk contracts (their cards are
simulated by drivers/jpki_sim.py); :func:`synthetic_registry` builds large deterministic ones
(:func:`synthetic_households` gives the same town one household at a time). A certificate asks
only the lookups of :class:`RegistryLookup`, so the office can answer them from its store.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol

from certificates.errors import CertificateDomainError

DEMO_MUNICIPALITY = "まどぐち町"
DEMO_PREFECTURE = "みなと県"
MY_NUMBER_DIGITS = 12


class RegistryError(CertificateDomainError):
    """Registry data that contradicts itself (a household naming a stranger, a bad My Number)."""


class Sex(StrEnum):
    """性別 as recorded in the resident register."""

    MALE = "male"
    FEMALE = "female"

    @property
    def label(self) -> str:
        """The word printed on certificates (男 / 女)."""
        return "男" if self is Sex.MALE else "女"


def my_number_check_digit(first11: str) -> int:
    """The check digit of a My Number (個人番号) from its first 11 digits.

    The rule of the My Number Act's ordinance (総務省令第85号 第5条): weights 2..7 then 2..6 from
    the right, remainder mod 11; remainders 0 and 1 give 0, others 11 - remainder.
    """
    if len(first11) != MY_NUMBER_DIGITS - 1 or not first11.isascii() or not first11.isdigit():
        raise ValueError(f"expected 11 ASCII digits, got {first11!r}")
    total = 0
    for n, ch in enumerate(reversed(first11), start=1):
        weight = n + 1 if n <= 6 else n - 5
        total += int(ch) * weight
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def valid_my_number(number: str) -> bool:
    """Whether ``number`` is 12 ASCII digits with a correct check digit."""
    if len(number) != MY_NUMBER_DIGITS or not number.isascii() or not number.isdigit():
        return False
    return my_number_check_digit(number[:-1]) == int(number[-1])


def make_my_number(first11: str) -> str:
    """A synthetic My Number: ``first11`` followed by its check digit."""
    return first11 + str(my_number_check_digit(first11))


def age_on(birth: date, today: date) -> int:
    """Age in whole years on ``today``.

    Under the 年齢計算ニ関スル法律 one grows a year older at the end of the day before the
    birthday, so at day granularity the birthday is the first day of the new age; someone born
    on 29 February is a year older from 1 March in common years.
    """
    years = today.year - birth.year
    try:
        anniversary = birth.replace(year=today.year)
    except ValueError:  # 29 February in a common year
        anniversary = date(today.year, 3, 1)
    return years - 1 if today < anniversary else years


@dataclass(frozen=True)
class AddressEntry:
    """One address a resident lived at, and the day it was set (住所を定めた年月日)."""

    address: str
    since: date


@dataclass(frozen=True)
class Resident:
    """One person in the resident register (住民票 / 外国人住民票).

    ``name``/``kana`` separate family and given name with a full-width space. Foreign residents
    (``nationality`` set) have their name in Latin letters with a katakana reading, and no 本籍.
    ``gaiji``: the name uses a character outside the printable set (外字); such names are only
    printed at a counter. ``support_measures``: the person is under DV/stalking support
    measures (支援措置), so nothing about them is issued at a kiosk.
    """

    id: str
    name: str
    kana: str
    birth_date: date
    sex: Sex
    address: str
    address_since: date
    resident_since: date
    household_id: str
    relationship: str
    my_number: str
    honseki: str | None = None
    hittosha: str | None = None
    moved_out: date | None = None
    support_measures: bool = False
    gaiji: bool = False
    nationality: str | None = None
    residence_status: str | None = None
    residence_expiry: date | None = None
    card_serial: str | None = None
    previous_addresses: tuple[AddressEntry, ...] = ()

    @property
    def foreign(self) -> bool:
        """A foreign resident (外国人住民): no family register, nationality instead of 本籍."""
        return self.nationality is not None

    @property
    def family_name(self) -> str:
        """The family part of the name (the seal impression of the demo uses it)."""
        return self.name.split("\u3000")[0]

    @property
    def previous_address(self) -> str | None:
        """前住所: the address before the current one, if the register knows it."""
        return self.previous_addresses[-1].address if self.previous_addresses else None


@dataclass(frozen=True)
class Household:
    """A household (世帯): its head (世帯主) first, then the members in register order."""

    id: str
    head_id: str
    address: str
    member_ids: tuple[str, ...]


@dataclass(frozen=True)
class SealRegistration:
    """A registered seal (印鑑登録): its number and the text of its impression (印影)."""

    resident_id: str
    number: str
    registered_on: date
    impression: str


@dataclass(frozen=True)
class RegisterEntry:
    """One person recorded in a family register (戸籍に記録されている者)."""

    name: str
    birth_date: date
    sex: Sex
    role: str  # 続柄 within the register: 夫, 妻, 長男 ...
    father: str = ""
    mother: str = ""
    birthplace: str = ""
    married_on: date | None = None
    resident_id: str | None = None  # None: recorded here but not a resident of this town


@dataclass(frozen=True)
class FamilyRegister:
    """A family register (戸籍) kept by this town: 本籍, 筆頭者 and the people recorded in it."""

    honseki: str
    hittosha: str
    members: tuple[RegisterEntry, ...]
    made_on: date  # 編製日


@dataclass(frozen=True)
class TaxRecord:
    """One fiscal year's resident-tax assessment (所得・課税) of a resident, in yen.

    ``fiscal_year`` is the tax year (年度, Western year); the income is that of the calendar
    year before it.
    """

    resident_id: str
    fiscal_year: int
    income: int  # 総所得金額等
    deductions: int  # 所得控除額合計
    municipal_tax: int  # 市町村民税
    prefectural_tax: int  # 道府県民税

    @property
    def taxable_income(self) -> int:
        """課税標準額: income after deductions, never negative."""
        return max(0, self.income - self.deductions)


def check_resident(r: Resident) -> None:
    """The checks one resident passes on its own (My Number, 本籍/筆頭者); :class:`RegistryError`."""
    if not valid_my_number(r.my_number):
        raise RegistryError(f"resident {r.id}: my_number {r.my_number!r} is not 12 digits with a valid check digit")
    if r.foreign and (r.honseki is not None or r.hittosha is not None):
        raise RegistryError(f"resident {r.id}: a foreign resident has no 本籍/筆頭者; leave honseki and hittosha empty")
    if not r.foreign and (r.honseki is None) != (r.hittosha is None):
        raise RegistryError(f"resident {r.id}: give both honseki and hittosha, or neither")


def check_household(h: Household, residents: Mapping[str, Resident]) -> None:
    """A household starts with its head and names only residents of its own; :class:`RegistryError`.

    ``residents`` needs to hold at least the household's members (a store passes just those).
    """
    if not h.member_ids or h.member_ids[0] != h.head_id:
        raise RegistryError(f"household {h.id}: member_ids must start with the head {h.head_id}")
    for member in h.member_ids:
        person = residents.get(member)
        if person is None:
            raise RegistryError(f"household {h.id}: member {member} is not a resident")
        if person.household_id != h.id:
            raise RegistryError(f"household {h.id}: member {member} belongs to household {person.household_id}")


class RegistryLookup(Protocol):
    """The lookups a kiosk certificate is made from: exactly what certificates.rules and the kiosk
    service ask. :class:`Registry` answers them from memory; the office store answers them row by
    row (office/registry_store.py), so a ward's registry is never loaded whole."""

    @property
    def municipality(self) -> str:
        """The town's name as certificates print it."""
        ...

    def by_card(self, card_serial: str) -> Resident | None:
        """The resident a My Number card belongs to, or None."""
        ...

    def resident(self, resident_id: str) -> Resident | None:
        """One resident by id, or None."""
        ...

    def household_members(self, household_id: str) -> tuple[Resident, ...]:
        """The members of a household, head first (empty for an unknown household)."""
        ...

    def head_of(self, resident: Resident) -> Resident:
        """The head (世帯主) of the resident's household."""
        ...

    def seal(self, resident_id: str) -> SealRegistration | None:
        """The resident's seal registration, or None."""
        ...

    def family_register(self, resident: Resident) -> FamilyRegister | None:
        """The family register the resident is recorded in, if this town keeps it."""
        ...

    def tax_record(self, resident_id: str, fiscal_year: int) -> TaxRecord | None:
        """A resident's assessment for one fiscal year, or None."""
        ...

    def tax_years(self, resident_id: str) -> tuple[int, ...]:
        """The fiscal years the resident has a tax record for, oldest first."""
        ...


@dataclass(frozen=True)
class Registry:
    """Every record the certificates are made from; build it with :meth:`build` (checked)."""

    municipality: str
    residents: Mapping[str, Resident]
    households: Mapping[str, Household]
    seals: Mapping[str, SealRegistration]
    family_registers: Mapping[tuple[str, str], FamilyRegister]
    tax_records: Mapping[tuple[str, int], TaxRecord]
    _by_card: Mapping[str, str] = field(repr=False, compare=False)

    @classmethod
    def build(
        cls,
        municipality: str,
        residents: Iterable[Resident],
        households: Iterable[Household],
        seals: Iterable[SealRegistration] = (),
        family_registers: Iterable[FamilyRegister] = (),
        tax_records: Iterable[TaxRecord] = (),
    ) -> Registry:
        """Index and cross-check the records; raise :class:`RegistryError` naming the bad one."""
        by_id: dict[str, Resident] = {}
        by_card: dict[str, str] = {}
        numbers: set[str] = set()
        for r in residents:
            if r.id in by_id:
                raise RegistryError(f"resident {r.id}: defined twice")
            check_resident(r)
            if r.my_number in numbers:
                raise RegistryError(f"resident {r.id}: my_number {r.my_number} is already another resident's")
            if r.card_serial is not None:
                if r.card_serial in by_card:
                    raise RegistryError(
                        f"resident {r.id}: card {r.card_serial} already belongs to {by_card[r.card_serial]}"
                    )
                by_card[r.card_serial] = r.id
            numbers.add(r.my_number)
            by_id[r.id] = r
        by_household: dict[str, Household] = {}
        for h in households:
            if h.id in by_household:
                raise RegistryError(f"household {h.id}: defined twice")
            check_household(h, by_id)
            by_household[h.id] = h
        for r in by_id.values():
            household = by_household.get(r.household_id)
            if household is None or r.id not in household.member_ids:
                raise RegistryError(f"resident {r.id}: household {r.household_id} does not list them")
        seal_index: dict[str, SealRegistration] = {}
        for s in seals:
            if s.resident_id not in by_id:
                raise RegistryError(f"seal {s.number}: resident {s.resident_id} is not in the registry")
            if s.resident_id in seal_index:
                raise RegistryError(
                    f"seal {s.number}: resident {s.resident_id} already has seal {seal_index[s.resident_id].number}"
                )
            seal_index[s.resident_id] = s
        registers: dict[tuple[str, str], FamilyRegister] = {}
        for fr in family_registers:
            key = (fr.honseki, fr.hittosha)
            if key in registers:
                raise RegistryError(f"family register {fr.honseki} ({fr.hittosha}): defined twice")
            for entry in fr.members:
                if entry.resident_id is not None and entry.resident_id not in by_id:
                    raise RegistryError(f"family register {fr.honseki}: member {entry.resident_id} is not a resident")
            registers[key] = fr
        taxes: dict[tuple[str, int], TaxRecord] = {}
        for t in tax_records:
            if t.resident_id not in by_id:
                raise RegistryError(f"tax record {t.fiscal_year}: resident {t.resident_id} is not in the registry")
            if (t.resident_id, t.fiscal_year) in taxes:
                raise RegistryError(f"tax record {t.fiscal_year}: resident {t.resident_id} has it twice")
            taxes[(t.resident_id, t.fiscal_year)] = t
        return cls(
            municipality=municipality,
            residents=MappingProxyType(by_id),
            households=MappingProxyType(by_household),
            seals=MappingProxyType(seal_index),
            family_registers=MappingProxyType(registers),
            tax_records=MappingProxyType(taxes),
            _by_card=MappingProxyType(by_card),
        )

    def by_card(self, card_serial: str) -> Resident | None:
        """The resident a My Number card belongs to (the certificate's serialNumber), or None."""
        resident_id = self._by_card.get(card_serial)
        return None if resident_id is None else self.residents[resident_id]

    def resident(self, resident_id: str) -> Resident | None:
        """One resident by id, or None."""
        return self.residents.get(resident_id)

    def household_members(self, household_id: str) -> tuple[Resident, ...]:
        """The members of a household, head first (empty for an unknown household)."""
        household = self.households.get(household_id)
        if household is None:
            return ()
        return tuple(self.residents[m] for m in household.member_ids)

    def head_of(self, resident: Resident) -> Resident:
        """The head (世帯主) of the resident's household."""
        return self.residents[self.households[resident.household_id].head_id]

    def seal(self, resident_id: str) -> SealRegistration | None:
        """The resident's seal registration, or None when they have none."""
        return self.seals.get(resident_id)

    def family_register(self, resident: Resident) -> FamilyRegister | None:
        """The family register the resident is recorded in, if this town keeps it."""
        if resident.honseki is None or resident.hittosha is None:
            return None
        return self.family_registers.get((resident.honseki, resident.hittosha))

    def tax_record(self, resident_id: str, fiscal_year: int) -> TaxRecord | None:
        """A resident's assessment for one fiscal year, or None."""
        return self.tax_records.get((resident_id, fiscal_year))

    def tax_years(self, resident_id: str) -> tuple[int, ...]:
        """The fiscal years the resident has a tax record for, oldest first."""
        return tuple(sorted(year for (rid, year) in self.tax_records if rid == resident_id))


# -- the demo town ---------------------------------------------------------------------------

_TOWN = f"{DEMO_PREFECTURE}{DEMO_MUNICIPALITY}"


def demo_registry() -> Registry:
    """The residents of the kiosk contracts' table, with their cards SIM-0001 .. SIM-0007."""
    yamada_home = f"{_TOWN}本町一丁目2番3号"
    yamada_honseki = f"{_TOWN}本町一丁目2番地"
    residents = [
        Resident(
            id="R0001",
            name="山田\u3000太郎",
            kana="ヤマダ\u3000タロウ",
            birth_date=date(1980, 4, 1),
            sex=Sex.MALE,
            address=yamada_home,
            address_since=date(2012, 10, 1),
            resident_since=date(2008, 4, 1),
            household_id="H001",
            relationship="世帯主",
            my_number=make_my_number("91000000001"),
            honseki=yamada_honseki,
            hittosha="山田\u3000太郎",
            card_serial="SIM-0001",
            previous_addresses=(
                AddressEntry("東京都千代田区霞が関三丁目1番1号", date(2002, 4, 1)),
                AddressEntry(f"{_TOWN}緑が丘四丁目5番6号", date(2008, 4, 1)),
            ),
        ),
        Resident(
            id="R0002",
            name="山田\u3000花子",
            kana="ヤマダ\u3000ハナコ",
            birth_date=date(1982, 9, 15),
            sex=Sex.FEMALE,
            address=yamada_home,
            address_since=date(2012, 10, 1),
            resident_since=date(2010, 5, 10),
            household_id="H001",
            relationship="妻",
            my_number=make_my_number("91000000002"),
            honseki=yamada_honseki,
            hittosha="山田\u3000太郎",
            card_serial="SIM-0002",
            previous_addresses=(
                AddressEntry("大阪府大阪市北区中之島一丁目3番20号", date(2005, 4, 1)),
                AddressEntry(f"{_TOWN}緑が丘四丁目5番6号", date(2010, 5, 10)),
            ),
        ),
        Resident(
            id="R0003",
            name="山田\u3000一郎",
            kana="ヤマダ\u3000イチロウ",
            birth_date=date(2014, 6, 20),
            sex=Sex.MALE,
            address=yamada_home,
            address_since=date(2014, 6, 20),
            resident_since=date(2014, 6, 20),
            household_id="H001",
            relationship="子",
            my_number=make_my_number("91000000003"),
            honseki=yamada_honseki,
            hittosha="山田\u3000太郎",
            card_serial="SIM-0003",
        ),
        Resident(
            id="R0004",
            name="佐藤\u3000次郎",
            kana="サトウ\u3000ジロウ",
            birth_date=date(1975, 11, 3),
            sex=Sex.MALE,
            address=f"{_TOWN}港町二丁目8番1号",
            address_since=date(2015, 7, 1),
            resident_since=date(2015, 7, 1),
            household_id="H002",
            relationship="世帯主",
            my_number=make_my_number("91000000004"),
            honseki=f"{_TOWN}港町二丁目8番地",
            hittosha="佐藤\u3000次郎",
            moved_out=date(2026, 3, 31),
            card_serial="SIM-0004",
        ),
        Resident(
            id="R0005",
            name="鈴木\u3000美咲",
            kana="スズキ\u3000ミサキ",
            birth_date=date(1991, 7, 7),
            sex=Sex.FEMALE,
            address=f"{_TOWN}桜台三丁目14番2号",
            address_since=date(2024, 2, 1),
            resident_since=date(2024, 2, 1),
            household_id="H003",
            relationship="世帯主",
            my_number=make_my_number("91000000005"),
            honseki=f"{_TOWN}桜台三丁目14番地",
            hittosha="鈴木\u3000美咲",
            support_measures=True,
            card_serial="SIM-0005",
        ),
        Resident(
            id="R0006",
            name="NGUYEN\u3000VAN AN",
            kana="グエン\u3000ヴァン\u3000アン",
            birth_date=date(1995, 2, 11),
            sex=Sex.MALE,
            address=f"{_TOWN}本町三丁目7番9号 まどぐちハイツ201号",
            address_since=date(2023, 4, 3),
            resident_since=date(2023, 4, 3),
            household_id="H004",
            relationship="世帯主",
            my_number=make_my_number("91000000006"),
            nationality="ベトナム",
            residence_status="技術・人文知識・国際業務",
            residence_expiry=date(2028, 4, 2),
            card_serial="SIM-0006",
        ),
        Resident(
            id="R0007",
            name="髙橋\u3000健一",
            kana="タカハシ\u3000ケンイチ",
            birth_date=date(1968, 1, 25),
            sex=Sex.MALE,
            address=f"{_TOWN}川端一丁目1番15号",
            address_since=date(1995, 3, 20),
            resident_since=date(1968, 1, 25),
            household_id="H005",
            relationship="世帯主",
            my_number=make_my_number("91000000007"),
            honseki=f"{_TOWN}川端一丁目1番地",
            hittosha="髙橋\u3000健一",
            gaiji=True,
            card_serial="SIM-0007",
        ),
    ]
    households = [
        Household("H001", "R0001", yamada_home, ("R0001", "R0002", "R0003")),
        Household("H002", "R0004", residents[3].address, ("R0004",)),
        Household("H003", "R0005", residents[4].address, ("R0005",)),
        Household("H004", "R0006", residents[5].address, ("R0006",)),
        Household("H005", "R0007", residents[6].address, ("R0007",)),
    ]
    seals = [
        SealRegistration("R0001", "000123", date(2008, 4, 7), "山田"),
        SealRegistration("R0002", "000456", date(2010, 5, 14), "山田"),
        SealRegistration("R0004", "000789", date(2015, 7, 6), "佐藤"),
        SealRegistration("R0007", "000012", date(1990, 2, 1), "髙橋"),
    ]
    registers = [
        FamilyRegister(
            honseki=yamada_honseki,
            hittosha="山田\u3000太郎",
            made_on=date(2010, 5, 10),
            members=(
                RegisterEntry(
                    "山田\u3000太郎",
                    date(1980, 4, 1),
                    Sex.MALE,
                    "夫",
                    "山田\u3000正男",
                    "山田\u3000和子",
                    "東京都千代田区",
                    date(2010, 5, 10),
                    "R0001",
                ),
                RegisterEntry(
                    "山田\u3000花子",
                    date(1982, 9, 15),
                    Sex.FEMALE,
                    "妻",
                    "田中\u3000健",
                    "田中\u3000幸子",
                    "大阪府大阪市",
                    date(2010, 5, 10),
                    "R0002",
                ),
                RegisterEntry(
                    "山田\u3000一郎",
                    date(2014, 6, 20),
                    Sex.MALE,
                    "長男",
                    "山田\u3000太郎",
                    "山田\u3000花子",
                    f"{_TOWN}",
                    None,
                    "R0003",
                ),
            ),
        ),
        FamilyRegister(
            honseki=f"{_TOWN}港町二丁目8番地",
            hittosha="佐藤\u3000次郎",
            made_on=date(2015, 7, 1),
            members=(
                RegisterEntry(
                    "佐藤\u3000次郎",
                    date(1975, 11, 3),
                    Sex.MALE,
                    "本人",
                    "佐藤\u3000一",
                    "佐藤\u3000春子",
                    "みなと県",
                    None,
                    "R0004",
                ),
            ),
        ),
        FamilyRegister(
            honseki=f"{_TOWN}桜台三丁目14番地",
            hittosha="鈴木\u3000美咲",
            made_on=date(2024, 2, 1),
            members=(
                RegisterEntry(
                    "鈴木\u3000美咲",
                    date(1991, 7, 7),
                    Sex.FEMALE,
                    "本人",
                    "鈴木\u3000茂",
                    "鈴木\u3000恵",
                    "みなと県",
                    None,
                    "R0005",
                ),
            ),
        ),
        FamilyRegister(
            honseki=f"{_TOWN}川端一丁目1番地",
            hittosha="髙橋\u3000健一",
            made_on=date(1995, 3, 20),
            members=(
                RegisterEntry(
                    "髙橋\u3000健一",
                    date(1968, 1, 25),
                    Sex.MALE,
                    "本人",
                    "髙橋\u3000勇",
                    "髙橋\u3000トメ",
                    f"{_TOWN}",
                    None,
                    "R0007",
                ),
            ),
        ),
    ]
    taxes = [
        TaxRecord("R0001", 2024, 5_120_000, 1_480_000, 218_000, 145_500),
        TaxRecord("R0001", 2025, 5_340_000, 1_510_000, 229_800, 153_200),
        TaxRecord("R0002", 2024, 1_280_000, 860_000, 25_200, 16_800),
        TaxRecord("R0002", 2025, 1_310_000, 870_000, 26_400, 17_600),
        TaxRecord("R0004", 2025, 3_900_000, 1_100_000, 168_000, 112_000),
        TaxRecord("R0005", 2025, 2_600_000, 900_000, 102_000, 68_000),
        TaxRecord("R0006", 2024, 2_950_000, 980_000, 118_200, 78_800),
        TaxRecord("R0006", 2025, 3_210_000, 1_020_000, 131_400, 87_600),
        TaxRecord("R0007", 2025, 4_400_000, 1_300_000, 186_000, 124_000),
    ]
    return Registry.build(DEMO_MUNICIPALITY, residents, households, seals, registers, taxes)


# -- synthetic towns for tests and volume runs -------------------------------------------------

_FAMILY = (
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山口", "ヤマグチ"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
)
_GIVEN_MALE = (
    ("翔", "ショウ"),
    ("大輔", "ダイスケ"),
    ("健太", "ケンタ"),
    ("蓮", "レン"),
    ("誠", "マコト"),
    ("悠真", "ユウマ"),
)
_GIVEN_FEMALE = (
    ("陽菜", "ヒナ"),
    ("結衣", "ユイ"),
    ("美穂", "ミホ"),
    ("葵", "アオイ"),
    ("恵子", "ケイコ"),
    ("彩", "アヤ"),
)
_FOREIGN = (
    ("NGUYEN\u3000THI LAN", "グエン\u3000ティ\u3000ラン", "ベトナム", Sex.FEMALE),
    ("SILVA\u3000LUCAS", "シルバ\u3000ルーカス", "ブラジル", Sex.MALE),
    ("KIM\u3000MINJI", "キム\u3000ミンジ", "韓国", Sex.FEMALE),
    ("WANG\u3000WEI", "ワン\u3000ウェイ", "中国", Sex.MALE),
)
_STREETS = ("本町", "港町", "桜台", "緑が丘", "川端", "新田", "東山", "西浜")


@dataclass(frozen=True)
class HouseholdRecords:
    """One household and every record that hangs from it: its residents, their seals and tax
    records, and the family register of its Japanese members (None for a foreign household)."""

    household: Household
    residents: tuple[Resident, ...]
    seals: tuple[SealRegistration, ...]
    family_register: FamilyRegister | None
    tax_records: tuple[TaxRecord, ...]


def synthetic_registry(count: int, seed: int = 0) -> Registry:
    """A deterministic town of ``count`` residents in households of 1-5 (tests, volume runs).

    About one in twelve households is foreign, a few people are under 15, moved out, under
    support measures or have a 外字 name, so every eligibility rule meets real cases. Cards are
    ``SYN-000001`` upwards; every adult with an even index has a registered seal.
    """
    groups = list(synthetic_households(count, seed))
    return Registry.build(
        DEMO_MUNICIPALITY,
        (r for g in groups for r in g.residents),
        (g.household for g in groups),
        (s for g in groups for s in g.seals),
        (g.family_register for g in groups if g.family_register is not None),
        (t for g in groups for t in g.tax_records),
    )


def synthetic_households(count: int, seed: int = 0) -> Iterator[HouseholdRecords]:
    """The town of :func:`synthetic_registry`, one household at a time (a ward's is not held whole).

    Every cross-reference stays inside its household, so each can be checked on its own.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    rng = random.Random(seed)
    prefix = f"9{seed % 100:02d}"
    made = 0
    h = 0
    while made < count:
        h += 1
        residents: list[Resident] = []
        seals: list[SealRegistration] = []
        taxes: list[TaxRecord] = []
        hid = f"H{h:06d}"
        size = min(count - made, rng.choice((1, 1, 2, 2, 3, 4, 5)))
        street = rng.choice(_STREETS)
        address = f"{_TOWN}{street}{rng.randint(1, 5)}丁目{rng.randint(1, 30)}番{rng.randint(1, 20)}号"
        since = date(1990, 1, 1) + timedelta(days=rng.randint(0, 12_000))
        foreign = rng.random() < 1 / 12
        family, family_kana = rng.choice(_FAMILY)
        # the household number in the lot keeps every synthetic family register distinct
        honseki = f"{_TOWN}{street}{rng.randint(1, 5)}丁目{h}番地"
        head_name = ""
        members: list[str] = []
        entries: list[RegisterEntry] = []
        for k in range(size):
            i = made + k + 1
            rid = f"S{i:07d}"
            if k == 0:
                relationship, birth = "世帯主", date(1950, 1, 1) + timedelta(days=rng.randint(0, 16_000))
            elif k == 1:
                relationship, birth = "妻", date(1952, 1, 1) + timedelta(days=rng.randint(0, 16_000))
            else:
                relationship, birth = "子", date(1995, 1, 1) + timedelta(days=rng.randint(0, 11_000))
            sex = Sex.MALE if k == 0 or (k > 1 and rng.random() < 0.5) else Sex.FEMALE
            if foreign:
                name, kana, nationality, _ = rng.choice(_FOREIGN)
                honseki_, hittosha = None, None
            else:
                given, given_kana = rng.choice(_GIVEN_MALE if sex is Sex.MALE else _GIVEN_FEMALE)
                name, kana, nationality = f"{family}\u3000{given}", f"{family_kana}\u3000{given_kana}", None
                if k == 0:
                    head_name = name
                honseki_, hittosha = honseki, head_name
            residents.append(
                Resident(
                    id=rid,
                    name=name,
                    kana=kana,
                    birth_date=birth,
                    sex=sex,
                    address=address,
                    address_since=max(since, birth),
                    resident_since=max(since, birth),
                    household_id=hid,
                    relationship=relationship,
                    my_number=make_my_number(f"{prefix}{i:08d}"),
                    honseki=honseki_,
                    hittosha=hittosha,
                    moved_out=date(2025, 3, 31) if rng.random() < 0.02 else None,
                    support_measures=rng.random() < 0.01,
                    gaiji=rng.random() < 0.01,
                    nationality=nationality,
                    residence_status="永住者" if foreign else None,
                    residence_expiry=None,
                    card_serial=f"SYN-{i:06d}" if rng.random() < 0.8 else None,
                )
            )
            members.append(rid)
            if i % 2 == 0 and relationship != "子":
                seals.append(SealRegistration(rid, f"{i:06d}", max(since, birth) + timedelta(days=30), family))
            if relationship != "子" or birth.year < 2005:
                taxes.append(TaxRecord(rid, 2025, 3_000_000 + i * 10 % 900_000, 1_000_000, 120_000, 80_000))
            if not foreign:
                role = {"世帯主": "夫", "妻": "妻"}.get(relationship, "子")
                entries.append(RegisterEntry(name, birth, sex, role, resident_id=rid))
        made += size
        yield HouseholdRecords(
            Household(hid, members[0], address, tuple(members)),
            tuple(residents),
            tuple(seals),
            None if foreign else FamilyRegister(honseki, head_name, tuple(entries), since),
            tuple(taxes),
        )
