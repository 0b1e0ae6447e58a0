"""The resident registry in the office store (SQLite), and its JSON exchange document.

The kiosk certificates are made from :class:`certificates.registry.Registry`; this module keeps one
such registry in the office store so the office serves the town's residents and not only the
demo town built in code. Nine tables beside the office store's own (office/db.py), created
here IF NOT EXISTS:

* ``registry_info``: one row - the municipality and the document format;
* ``registry_residents`` and ``registry_previous_addresses`` (前住所, in order);
* ``registry_households`` and ``registry_household_members`` (head first, register order);
* ``registry_seals`` (印鑑登録; a registration number belongs to one seal only);
* ``registry_family_registers`` and ``registry_register_entries`` (戸籍, entries in order);
* ``registry_tax_records`` (所得・課税, one per resident and fiscal year).

Dates are ISO text (``1980-04-01``), flags 0/1, and a ``pos`` column keeps each record's
order, so a registry reads back exactly as it was saved. :func:`save_registry` (and
:func:`save_households`, for a town given household by household) replaces the whole stored
registry in one transaction (all or nothing): the rows are staged beside the live tables and
swapped in, so a running office keeps serving meanwhile. The office looks residents up through
:class:`StoredRegistry`, a few indexed queries per certificate, never the whole registry;
:func:`load_registry` rebuilds it whole through :meth:`Registry.build` (export, status). Either
way a tampered row raises :class:`RegistryError` naming its table and key.

The JSON document (docs/registry.md) is how a town exports and imports the whole registry. Each
of its records is a frozen msgspec model (:class:`RegistryDocument` and the ``...Doc`` classes
below), checked through :mod:`common.validation` like every other file that crosses a boundary:
:func:`registry_from_json` decodes the file straight into the models, :func:`registry_from_document`
converts an already parsed one; :func:`registry_json` writes the export file and
:func:`registry_document` the same document as lists and dicts. The models are turned into the
domain's records and :meth:`Registry.build` makes its own cross-checks. The store's columns come
from the models and its rows are converted into them, so the store never holds what an import
would refuse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import msgspec

from certificates.registry import (
    AddressEntry,
    FamilyRegister,
    Household,
    HouseholdRecords,
    RegisterEntry,
    Registry,
    RegistryError,
    Resident,
    SealRegistration,
    Sex,
    TaxRecord,
    check_household,
    check_resident,
)
from common.validation import Invalid, PathPart, convert, explain, format_path, info
from office import sql
from office.domain import OfficeError

__all__ = [
    "FORMAT",
    "TABLES",
    "AddressDoc",
    "FamilyRegisterDoc",
    "HouseholdDoc",
    "RegisterEntryDoc",
    "RegistryDocument",
    "RegistryStoreError",
    "RegistrySummary",
    "ResidentDoc",
    "SealDoc",
    "StoredRegistry",
    "TaxRecordDoc",
    "ensure_schema",
    "load_registry",
    "registry_document",
    "registry_from_document",
    "registry_from_json",
    "registry_json",
    "registry_summary",
    "save_households",
    "save_registry",
    "stored_registry",
]

FormatName = Literal["madoguchi-registry/1"]
FORMAT: FormatName = "madoguchi-registry/1"
MAX_YEN = 10**13  # far above any income; keeps SQLite's integers and the certificate's columns sane
FIRST_FISCAL_YEAR, LAST_FISCAL_YEAR = 1868, 9999

SCHEMA = """
CREATE TABLE IF NOT EXISTS registry_info (
    id INTEGER PRIMARY KEY CHECK (id = 1), municipality TEXT NOT NULL, format TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS registry_residents (
    id TEXT PRIMARY KEY, pos INTEGER NOT NULL UNIQUE, name TEXT NOT NULL, kana TEXT NOT NULL,
    birth_date TEXT NOT NULL, sex TEXT NOT NULL, address TEXT NOT NULL, address_since TEXT NOT NULL,
    resident_since TEXT NOT NULL, household_id TEXT NOT NULL, relationship TEXT NOT NULL,
    my_number TEXT NOT NULL UNIQUE, honseki TEXT, hittosha TEXT, moved_out TEXT,
    support_measures INTEGER NOT NULL, gaiji INTEGER NOT NULL, nationality TEXT, residence_status TEXT,
    residence_expiry TEXT, card_serial TEXT UNIQUE,
    UNIQUE (household_id, id)
);
CREATE TABLE IF NOT EXISTS registry_previous_addresses (
    resident_id TEXT NOT NULL, pos INTEGER NOT NULL, address TEXT NOT NULL, since TEXT NOT NULL,
    PRIMARY KEY (resident_id, pos)
);
CREATE TABLE IF NOT EXISTS registry_households (
    id TEXT PRIMARY KEY, pos INTEGER NOT NULL UNIQUE, head_id TEXT NOT NULL, address TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS registry_household_members (
    household_id TEXT NOT NULL, pos INTEGER NOT NULL, resident_id TEXT NOT NULL,
    PRIMARY KEY (household_id, pos)
);
CREATE TABLE IF NOT EXISTS registry_seals (
    resident_id TEXT PRIMARY KEY, pos INTEGER NOT NULL UNIQUE, number TEXT NOT NULL UNIQUE,
    registered_on TEXT NOT NULL, impression TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS registry_family_registers (
    id INTEGER PRIMARY KEY, honseki TEXT NOT NULL, hittosha TEXT NOT NULL, made_on TEXT NOT NULL,
    UNIQUE (honseki, hittosha)
);
CREATE TABLE IF NOT EXISTS registry_register_entries (
    register_id INTEGER NOT NULL, pos INTEGER NOT NULL, name TEXT NOT NULL, birth_date TEXT NOT NULL,
    sex TEXT NOT NULL, role TEXT NOT NULL, father TEXT NOT NULL, mother TEXT NOT NULL,
    birthplace TEXT NOT NULL, married_on TEXT, resident_id TEXT,
    PRIMARY KEY (register_id, pos)
);
CREATE TABLE IF NOT EXISTS registry_tax_records (
    resident_id TEXT NOT NULL, fiscal_year INTEGER NOT NULL, pos INTEGER NOT NULL UNIQUE,
    income INTEGER NOT NULL, deductions INTEGER NOT NULL, municipal_tax INTEGER NOT NULL,
    prefectural_tax INTEGER NOT NULL,
    PRIMARY KEY (resident_id, fiscal_year)
);
"""
# Every lookup of StoredRegistry rides on a primary key or a UNIQUE constraint: card_serial,
# honseki+hittosha, and (household_id, id), which finds a household's residents so that a member
# its list leaves out is still seen. Constraints rather than named indexes: their indexes follow
# their table when an import swaps the tables in.

# Every table, parents first (deleted in reverse); the summary counts each.
TABLES = (
    "registry_info",
    "registry_residents",
    "registry_previous_addresses",
    "registry_households",
    "registry_household_members",
    "registry_seals",
    "registry_family_registers",
    "registry_register_entries",
    "registry_tax_records",
)


class RegistryStoreError(OfficeError):
    """The office store could not take the registry (disk full, locked, not a store)."""


@dataclass(frozen=True)
class RegistrySummary:
    """What the store holds: the municipality (None when no registry is stored) and row counts."""

    municipality: str | None
    counts: Mapping[str, int]

    @property
    def stored(self) -> bool:
        """Whether a registry is stored."""
        return self.municipality is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (``registry status``)."""
        return {"stored": self.stored, "municipality": self.municipality, **self.counts}


# -- the JSON document: one frozen model per kind of record ---------------------------------------

# The field types say what a clerk must write; common.validation turns msgspec's complaint into
# "<key path>: expected <what>, got <value>; <fix>" with these words.
Text = Annotated[str, info(min_length=1)]
OptionalText = Annotated[Text | None, info(what="a non-empty text, or null when there is none")]
# msgspec takes exactly YYYY-MM-DD and a day that exists (not "19800401", not "2025-02-30").
Day = Annotated[date, info(what='a date like "1980-04-01" (YYYY-MM-DD, a day that exists)')]
OptionalDay = Annotated[
    Day | None, info(what='a date like "1980-04-01" (YYYY-MM-DD, a day that exists), or null when there is none')
]
SexName = Literal["male", "female"]  # the values of certificates.registry.Sex (a test keeps them equal)
Yen = Annotated[int, info(ge=0, le=MAX_YEN, what=f"a whole number of yen from 0 to {MAX_YEN}")]
Flag = Annotated[bool, info(what="true or false (without quotes)")]


class _Record(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A JSON object of the registry document. An unknown key is refused and named with the keys
    allowed: a misspelt field would otherwise be lost silently."""

    noun: ClassVar[str] = "JSON object"  # what messages call a record ("expected a JSON object with ...")


class AddressDoc(_Record, frozen=True, kw_only=True):
    """An earlier address of a resident (前住所) and the day it was set."""

    address: Annotated[Text, info(help="the earlier address, as the register writes it")]
    since: Annotated[Day, info(help='the day that address was set, e.g. "2002-04-01"')]

    @classmethod
    def of(cls, entry: AddressEntry) -> AddressDoc:
        """The document's form of an address entry."""
        return cls(address=entry.address, since=entry.since)

    def to_entry(self) -> AddressEntry:
        """The domain's address entry."""
        return AddressEntry(self.address, self.since)


class ResidentDoc(_Record, frozen=True, kw_only=True):
    """A resident (住民) in the document; the fields of :class:`certificates.registry.Resident`."""

    id: Annotated[Text, info(help='the resident\'s id, unique in the registry, e.g. "R0001"')]
    name: Annotated[Text, info(help='family and given name with a full-width space between, e.g. "山田\u3000太郎"')]
    kana: Annotated[Text, info(help='the reading of the name in katakana, e.g. "ヤマダ\u3000タロウ"')]
    birth_date: Annotated[Day, info(help='the date of birth, e.g. "1980-04-01"')]
    sex: Annotated[SexName, info(what='"male" or "female"', help='"male" or "female"')]
    address: Annotated[Text, info(help="the current address, as certificates print it")]
    address_since: Annotated[Day, info(help="the day the current address was set (住所を定めた年月日)")]
    resident_since: Annotated[Day, info(help="the day they became a resident of the town")]
    household_id: Annotated[Text, info(help='the id of their household (世帯), e.g. "H001"')]
    relationship: Annotated[Text, info(help='the relationship (続柄) to the head of the household, e.g. "世帯主"')]
    my_number: Annotated[
        str,
        info(
            pattern=r"^[0-9]{12}$",
            what='12 digits as a text, e.g. "910000000015"',
            help='the My Number (個人番号): 12 digits as a text, e.g. "910000000015"',
        ),
    ]
    honseki: OptionalText = None
    hittosha: OptionalText = None
    moved_out: OptionalDay = None
    support_measures: Flag = False
    gaiji: Flag = False
    nationality: OptionalText = None
    residence_status: OptionalText = None
    residence_expiry: OptionalDay = None
    card_serial: OptionalText = None
    previous_addresses: Annotated[tuple[AddressDoc, ...], info(what="a list of earlier addresses, oldest first")] = ()

    @classmethod
    def of(cls, r: Resident) -> ResidentDoc:
        """The document's form of a resident."""
        return cls(
            id=r.id,
            name=r.name,
            kana=r.kana,
            birth_date=r.birth_date,
            sex=r.sex.value,
            address=r.address,
            address_since=r.address_since,
            resident_since=r.resident_since,
            household_id=r.household_id,
            relationship=r.relationship,
            my_number=r.my_number,
            honseki=r.honseki,
            hittosha=r.hittosha,
            moved_out=r.moved_out,
            support_measures=r.support_measures,
            gaiji=r.gaiji,
            nationality=r.nationality,
            residence_status=r.residence_status,
            residence_expiry=r.residence_expiry,
            card_serial=r.card_serial,
            previous_addresses=tuple(AddressDoc.of(a) for a in r.previous_addresses),
        )

    def to_resident(self) -> Resident:
        """The domain's resident."""
        return Resident(
            id=self.id,
            name=self.name,
            kana=self.kana,
            birth_date=self.birth_date,
            sex=Sex(self.sex),
            address=self.address,
            address_since=self.address_since,
            resident_since=self.resident_since,
            household_id=self.household_id,
            relationship=self.relationship,
            my_number=self.my_number,
            honseki=self.honseki,
            hittosha=self.hittosha,
            moved_out=self.moved_out,
            support_measures=self.support_measures,
            gaiji=self.gaiji,
            nationality=self.nationality,
            residence_status=self.residence_status,
            residence_expiry=self.residence_expiry,
            card_serial=self.card_serial,
            previous_addresses=tuple(a.to_entry() for a in self.previous_addresses),
        )


class HouseholdDoc(_Record, frozen=True, kw_only=True):
    """A household (世帯): its head first in ``member_ids``, then the members in register order."""

    id: Annotated[Text, info(help='the household\'s id, e.g. "H001"')]
    head_id: Annotated[Text, info(help="the resident id of the head of the household (世帯主)")]
    address: Annotated[Text, info(help="the household's address")]
    member_ids: Annotated[
        tuple[Annotated[str, info(min_length=1, what='a resident id such as "R0001"')], ...],
        info(what='a list of resident ids, the head first, e.g. ["R0001", "R0002"]'),
    ] = ()

    @classmethod
    def of(cls, h: Household) -> HouseholdDoc:
        """The document's form of a household."""
        return cls(id=h.id, head_id=h.head_id, address=h.address, member_ids=h.member_ids)

    def to_household(self) -> Household:
        """The domain's household."""
        return Household(self.id, self.head_id, self.address, self.member_ids)


class SealDoc(_Record, frozen=True, kw_only=True):
    """A seal registration (印鑑登録)."""

    resident_id: Annotated[Text, info(help="the resident id of the seal's owner")]
    number: Annotated[Text, info(help='the registration number, e.g. "000123"')]
    registered_on: Annotated[Day, info(help='the day the seal was registered, e.g. "2008-04-07"')]
    impression: Annotated[Text, info(help='the text of the impression (印影), e.g. "山田"')]

    @classmethod
    def of(cls, s: SealRegistration) -> SealDoc:
        """The document's form of a seal registration."""
        return cls(resident_id=s.resident_id, number=s.number, registered_on=s.registered_on, impression=s.impression)

    def to_seal(self) -> SealRegistration:
        """The domain's seal registration."""
        return SealRegistration(self.resident_id, self.number, self.registered_on, self.impression)


class RegisterEntryDoc(_Record, frozen=True, kw_only=True):
    """A person recorded in a family register; ``resident_id`` null for one who lives elsewhere."""

    name: Annotated[Text, info(help='the name as the register writes it, e.g. "山田\u3000太郎"')]
    birth_date: Annotated[Day, info(help='the date of birth, e.g. "1980-04-01"')]
    sex: Annotated[SexName, info(what='"male" or "female"', help='"male" or "female"')]
    role: Annotated[Text, info(help='the relationship (続柄) within the register, e.g. "夫" or "長男"')]
    father: str = ""
    mother: str = ""
    birthplace: str = ""
    married_on: OptionalDay = None
    resident_id: OptionalText = None

    @classmethod
    def of(cls, e: RegisterEntry) -> RegisterEntryDoc:
        """The document's form of a register entry."""
        return cls(
            name=e.name,
            birth_date=e.birth_date,
            sex=e.sex.value,
            role=e.role,
            father=e.father,
            mother=e.mother,
            birthplace=e.birthplace,
            married_on=e.married_on,
            resident_id=e.resident_id,
        )

    def to_entry(self) -> RegisterEntry:
        """The domain's register entry."""
        return RegisterEntry(
            name=self.name,
            birth_date=self.birth_date,
            sex=Sex(self.sex),
            role=self.role,
            father=self.father,
            mother=self.mother,
            birthplace=self.birthplace,
            married_on=self.married_on,
            resident_id=self.resident_id,
        )


class FamilyRegisterDoc(_Record, frozen=True, kw_only=True):
    """A family register (戸籍) kept by the town, and the people recorded in it in order."""

    honseki: Annotated[Text, info(help="the register's 本籍 (its registered domicile)")]
    hittosha: Annotated[Text, info(help="the name of the register's head (筆頭者)")]
    made_on: Annotated[Day, info(help='the day the register was made (編製日), e.g. "2010-05-10"')]
    members: Annotated[tuple[RegisterEntryDoc, ...], info(what="a list of the people recorded, in order")] = ()

    @classmethod
    def of(cls, fr: FamilyRegister) -> FamilyRegisterDoc:
        """The document's form of a family register."""
        return cls(
            honseki=fr.honseki,
            hittosha=fr.hittosha,
            made_on=fr.made_on,
            members=tuple(RegisterEntryDoc.of(e) for e in fr.members),
        )

    def to_register(self) -> FamilyRegister:
        """The domain's family register."""
        return FamilyRegister(
            honseki=self.honseki,
            hittosha=self.hittosha,
            members=tuple(e.to_entry() for e in self.members),
            made_on=self.made_on,
        )


class TaxRecordDoc(_Record, frozen=True, kw_only=True):
    """One fiscal year's resident-tax assessment (所得・課税) of a resident, in whole yen."""

    resident_id: Annotated[Text, info(help="the resident id the assessment belongs to")]
    fiscal_year: Annotated[
        int,
        info(
            ge=FIRST_FISCAL_YEAR,
            le=LAST_FISCAL_YEAR,
            what=f"a whole-number fiscal year (年度) from {FIRST_FISCAL_YEAR} to {LAST_FISCAL_YEAR}, e.g. 2025",
            help="the fiscal year (年度) in the Western calendar, e.g. 2025",
        ),
    ]
    income: Annotated[Yen, info(help="the total income (総所得金額等) in whole yen")]
    deductions: Annotated[Yen, info(help="the total deductions (所得控除額合計) in whole yen")]
    municipal_tax: Annotated[Yen, info(help="the municipal tax (市町村民税) in whole yen")]
    prefectural_tax: Annotated[Yen, info(help="the prefectural tax (道府県民税) in whole yen")]

    @classmethod
    def of(cls, t: TaxRecord) -> TaxRecordDoc:
        """The document's form of a tax record."""
        return cls(
            resident_id=t.resident_id,
            fiscal_year=t.fiscal_year,
            income=t.income,
            deductions=t.deductions,
            municipal_tax=t.municipal_tax,
            prefectural_tax=t.prefectural_tax,
        )

    def to_record(self) -> TaxRecord:
        """The domain's tax record."""
        return TaxRecord(
            self.resident_id, self.fiscal_year, self.income, self.deductions, self.municipal_tax, self.prefectural_tax
        )


class RegistryDocument(_Record, frozen=True, kw_only=True):
    """The whole registry as one JSON document (``registry export`` / ``registry import``)."""

    format: Annotated[
        FormatName,
        info(
            what=f'"{FORMAT}" (the format registry export writes)',
            help=f'the document\'s format: "format": "{FORMAT}"',
        ),
    ]
    municipality: Annotated[Text, info(help='the town\'s name as certificates print it, e.g. "まどぐち町"')]
    residents: Annotated[
        tuple[ResidentDoc, ...], info(min_length=1, help="give at least one resident: a registry is never empty")
    ]
    households: Annotated[
        tuple[HouseholdDoc, ...], info(min_length=1, help="give at least one household: every resident has one")
    ]
    seals: tuple[SealDoc, ...] = ()
    family_registers: tuple[FamilyRegisterDoc, ...] = ()
    tax_records: tuple[TaxRecordDoc, ...] = ()

    @classmethod
    def of(cls, registry: Registry) -> RegistryDocument:
        """The document of a registry (not checked: :func:`registry_from_document` checks one)."""
        return cls(
            format=FORMAT,
            municipality=registry.municipality,
            residents=tuple(ResidentDoc.of(r) for r in registry.residents.values()),
            households=tuple(HouseholdDoc.of(h) for h in registry.households.values()),
            seals=tuple(SealDoc.of(s) for s in registry.seals.values()),
            family_registers=tuple(FamilyRegisterDoc.of(fr) for fr in registry.family_registers.values()),
            tax_records=tuple(TaxRecordDoc.of(t) for t in registry.tax_records.values()),
        )

    def to_registry(self) -> Registry:
        """The domain's registry, through Registry.build's cross-checks and the store's own."""
        return _build(
            self.municipality,
            [r.to_resident() for r in self.residents],
            [h.to_household() for h in self.households],
            [s.to_seal() for s in self.seals],
            [fr.to_register() for fr in self.family_registers],
            [t.to_record() for t in self.tax_records],
        )


def _fields(model: type[msgspec.Struct], *nested: str) -> tuple[str, ...]:
    """A model's keys in the order an export writes them, without the nested lists of records."""
    return tuple(name for name in model.__struct_fields__ if name not in nested)


# The stored tables' columns come from the models, so the document and the store cannot drift apart.
RESIDENT_FIELDS = _fields(ResidentDoc, "previous_addresses")
ADDRESS_FIELDS = _fields(AddressDoc)
HOUSEHOLD_FIELDS = _fields(HouseholdDoc, "member_ids")
SEAL_FIELDS = _fields(SealDoc)
REGISTER_FIELDS = _fields(FamilyRegisterDoc, "members")
ENTRY_FIELDS = _fields(RegisterEntryDoc)
TAX_FIELDS = _fields(TaxRecordDoc)
_FLAGS = ("support_measures", "gaiji")

# Each table's columns in the order :func:`_rows` gives its values.
COLUMNS: Mapping[str, tuple[str, ...]] = {
    "registry_info": ("id", "municipality", "format"),
    "registry_residents": (RESIDENT_FIELDS[0], "pos", *RESIDENT_FIELDS[1:]),
    "registry_previous_addresses": ("resident_id", "pos", *ADDRESS_FIELDS),
    "registry_households": ("id", "pos", "head_id", "address"),
    "registry_household_members": ("household_id", "pos", "resident_id"),
    "registry_seals": ("resident_id", "pos", *SEAL_FIELDS[1:]),
    "registry_family_registers": ("id", *REGISTER_FIELDS),
    "registry_register_entries": ("register_id", "pos", *ENTRY_FIELDS),
    "registry_tax_records": ("resident_id", "fiscal_year", "pos", *TAX_FIELDS[2:]),
}

_DECODER = msgspec.json.Decoder(RegistryDocument)
# The key that names a record of each list beside its index: "residents[3] (R0004).birth_date".
_RECORD_KEYS = {
    "residents": "id",
    "households": "id",
    "seals": "resident_id",
    "family_registers": "honseki",
    "tax_records": "resident_id",
}
M = TypeVar("M", bound=msgspec.Struct)


def registry_document(registry: Registry) -> dict[str, Any]:
    """The whole registry as a JSON-ready document (the export format, docs/registry.md)."""
    # Through JSON rather than msgspec.to_builtins, which keeps tuples: the document is lists and
    # dicts exactly as the file holds them.
    doc: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(RegistryDocument.of(registry)))
    return doc


def registry_json(registry: Registry) -> bytes:
    """The export file: the document as UTF-8 JSON, one-space indent, ending in a newline.

    Encoded from the models in one pass, without the dicts of :func:`registry_document`: a
    city's export is several times faster and smaller in memory, and byte for byte what
    ``json.dumps(registry_document(registry), ensure_ascii=False, indent=1)`` writes.
    """
    return msgspec.json.format(msgspec.json.encode(RegistryDocument.of(registry)), indent=1) + b"\n"


def registry_from_document(doc: object) -> Registry:
    """A registry from its parsed JSON document, checked against the models, then by Registry.build.

    :class:`RegistryError` names the first bad record and key and says how to fix it, e.g.
    ``residents[3] (R0004).birth_date: expected a date like "1980-04-01" ..., got "1975/11/03"``.
    """
    return _convert(doc).to_registry()


def registry_from_json(raw: bytes) -> Registry:
    """A registry from the bytes of its JSON document, decoded straight into the models (msgspec,
    in C: no intermediate dicts for a city's registry); the errors of :func:`registry_from_document`,
    or "not valid JSON (line 2, column 17: ...)" / "not UTF-8 text" for a file that is not one."""
    return _decode(raw).to_registry()


def _convert(doc: object) -> RegistryDocument:
    """The document's models from its parsed values; :class:`RegistryError` in a clerk's words."""
    try:
        return convert(doc, RegistryDocument)
    except Invalid as err:
        raise _document_error(err, doc) from err


def _decode(raw: bytes) -> RegistryDocument:
    """The document's models from its JSON bytes; :class:`RegistryError` in a clerk's words."""
    try:
        return _DECODER.decode(raw)
    except msgspec.ValidationError as err:
        # Only on a mistake is the file parsed again: the helper words the problem against the
        # parsed values, and the record's id is found there.
        try:
            doc: object = msgspec.json.decode(raw)
        except (msgspec.DecodeError, RecursionError) as parse_err:
            # msgspec checks types as it reads, so a wrong value before a syntax error is met
            # first; the broken file is the problem to report.
            raise RegistryError(_not_json(raw, parse_err)) from err
        raise _document_error(explain(err, doc, RegistryDocument), doc) from err
    except msgspec.DecodeError as err:
        raise RegistryError(_not_json(raw, err)) from err


def _not_json(raw: bytes, err: Exception) -> str:
    """Why ``raw`` is not a JSON document, with the line and column a text editor shows."""
    # msgspec says only the byte offset; the standard parser (run only on this failure) says
    # the line and column, and tells bad UTF-8 apart from bad JSON.
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8 text; save the registry document as UTF-8"
    try:
        json.loads(text)
    except json.JSONDecodeError as parse_err:
        return f"not valid JSON (line {parse_err.lineno}, column {parse_err.colno}: {parse_err.msg})"
    except RecursionError:
        return "not a registry document: its lists and objects are nested far too deep"
    # What Python's parser takes and msgspec refuses: NaN, 1e400, a lone surrogate escape.
    reason = str(err).split(" - at ")[0]
    return f"not valid JSON ({reason}); write plain numbers (no NaN, Infinity or 1e400) and whole characters"


def _document_error(err: Invalid, doc: object) -> RegistryError:
    """The helper's :class:`Invalid` in a clerk's words: the record's id beside its index."""
    if isinstance(doc, Mapping) and doc.get("format") != FORMAT and err.parts[:1] != ("format",):
        # A document of another format is named as such, not by whichever key differs first.
        try:
            convert({k: v for k, v in doc.items() if k == "format"}, RegistryDocument)
        except Invalid as format_err:
            err = format_err
    parts: list[PathPart] = list(err.parts)
    if len(parts) >= 2 and isinstance(parts[0], str) and parts[0] in _RECORD_KEYS and isinstance(parts[1], int):
        label = format_path(parts[:2])
        records = doc.get(parts[0]) if isinstance(doc, Mapping) else None
        record = records[parts[1]] if isinstance(records, list | tuple) and parts[1] < len(records) else None
        key = record.get(_RECORD_KEYS[parts[0]]) if isinstance(record, Mapping) else None
        if isinstance(key, str) and key:
            label += f" ({key})"
        parts[:2] = [label]
    if not parts:
        return RegistryError(f"registry document: {err.message}")
    return RegistryError(str(Invalid(parts, err.message)))


def _build(
    municipality: str,
    residents: Sequence[Resident],
    households: Sequence[Household],
    seals: Sequence[SealRegistration],
    registers: Sequence[FamilyRegister],
    taxes: Sequence[TaxRecord],
) -> Registry:
    """Registry.build's cross-checks, and the store's own: a seal number is one seal's only."""
    registry = Registry.build(municipality, residents, households, seals, registers, taxes)
    numbers: dict[str, str] = {}
    for s in seals:
        if s.number in numbers:
            raise RegistryError(
                f"seal {s.number}: resident {s.resident_id} has the registration number of"
                f" resident {numbers[s.number]}'s seal; seal numbers are unique in a town"
            )
        numbers[s.number] = s.resident_id
    return registry


def _stored(row: Mapping[str, Any], model: type[M], where: str) -> M:
    """A stored row as its document model; :class:`RegistryError` names the table, row and key."""
    try:
        return convert(row, model)
    except Invalid as err:
        raise RegistryError(str(err.within(where))) from err


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- the store ----------------------------------------------------------------------------------


def ensure_schema(conn: sql.Conn) -> None:
    """Create the registry's tables if they are missing (statement by statement: no implicit COMMIT)."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    if sql.dialect(conn) == "postgres":
        return  # PostgreSQL stores are newer than the constraint
    # A store made before the (household_id, id) constraint gets an index instead, until its next
    # import brings the constraint: without one a household lookup reads every resident.
    for _, name, *_ in conn.execute("PRAGMA index_list(registry_residents)").fetchall():
        first = conn.execute(f"PRAGMA index_info({_quote(name)})").fetchone()
        if first is not None and first[2] == "household_id":
            return
    conn.execute("CREATE INDEX IF NOT EXISTS registry_residents_household ON registry_residents (household_id)")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _staging_schema(suffix: str) -> list[str]:
    """The tables' CREATE statements under the names an import writes before it swaps them in."""
    return [
        re.sub(r"CREATE TABLE IF NOT EXISTS (\w+) \(", lambda m: f"CREATE TABLE {m[1]}{suffix} (", statement)
        for statement in SCHEMA.split(";")
        if statement.strip()
    ]


@contextmanager
def _transaction(conn: sql.Conn, *, write: bool) -> Iterator[None]:
    """One transaction; a SAVEPOINT when the caller already has one open (its COMMIT decides)."""
    # After SQLITE_FULL or an I/O error SQLite may already have rolled the whole transaction
    # back; rolling back again would fail and hide the real error, hence the in_transaction checks.
    if conn.in_transaction:
        conn.execute("SAVEPOINT registry_store")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK TO registry_store")
                conn.execute("RELEASE registry_store")
            raise
        conn.execute("RELEASE registry_store")
        return
    # IMMEDIATE takes the write lock up front, so a busy store fails before anything changes;
    # a plain BEGIN gives the reads one consistent snapshot of every table.
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _column(value: object) -> object:
    """A document value as the store keeps it: dates as ISO text, flags as 0/1."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def _values(record: msgspec.Struct, fields: Sequence[str]) -> list[object]:
    return [_column(getattr(record, name)) for name in fields]


def _rows(document: RegistryDocument, first: Mapping[str, int] | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """The document's records as each table's rows, in the columns of :data:`COLUMNS`; ``first``
    gives each kind of record's first position when the document is one part of a registry."""
    at = {"residents": 0, "households": 0, "seals": 0, "family_registers": 0, "tax_records": 0, **(first or {})}
    rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in TABLES}
    rows["registry_info"].append((1, document.municipality, FORMAT))
    for pos, r in enumerate(document.residents, start=at["residents"]):
        values = _values(r, RESIDENT_FIELDS)
        rows["registry_residents"].append((values[0], pos, *values[1:]))
        for i, a in enumerate(r.previous_addresses):
            rows["registry_previous_addresses"].append((r.id, i, *_values(a, ADDRESS_FIELDS)))
    for pos, h in enumerate(document.households, start=at["households"]):
        rows["registry_households"].append((h.id, pos, h.head_id, h.address))
        for i, member in enumerate(h.member_ids):
            rows["registry_household_members"].append((h.id, i, member))
    for pos, s in enumerate(document.seals, start=at["seals"]):
        rows["registry_seals"].append((s.resident_id, pos, *_values(s, SEAL_FIELDS[1:])))
    for pos, fr in enumerate(document.family_registers, start=at["family_registers"]):
        rows["registry_family_registers"].append((pos, *_values(fr, REGISTER_FIELDS)))
        for i, e in enumerate(fr.members):
            rows["registry_register_entries"].append((pos, i, *_values(e, ENTRY_FIELDS)))
    for pos, t in enumerate(document.tax_records, start=at["tax_records"]):
        rows["registry_tax_records"].append((t.resident_id, t.fiscal_year, pos, *_values(t, TAX_FIELDS[2:])))
    return rows


def save_registry(conn: sql.Conn, registry: Registry) -> RegistrySummary:
    """Replace the stored registry with ``registry`` in one transaction: all of it or nothing.

    The registry is checked first exactly as :func:`load_registry` will check it, so the store
    never holds one it could not give back (:class:`RegistryError` naming the record).
    :class:`RegistryStoreError` when SQLite fails (disk full, busy); the stored registry is then
    the previous one, unchanged.

    On its own connection the rows are first written into staging tables in short transactions,
    then one transaction swaps them in: a running office keeps serving (and writing) meanwhile and
    its lookups see the old registry until that commit, the new one after. Inside a caller's
    transaction the tables are rewritten in place, within it.
    """
    # The same checks an import makes (and a load, whose rows are converted into the same
    # models). Through builtins rather than JSON bytes: they share the registry's strings, which
    # keeps a city's save some 25 MB smaller.
    document = _convert(msgspec.to_builtins(RegistryDocument.of(registry)))
    document.to_registry()
    rows = _rows(document)
    summary = RegistrySummary(
        document.municipality, {table.removeprefix("registry_"): len(rows[table]) for table in TABLES[1:]}
    )
    try:
        if conn.in_transaction:
            with _transaction(conn, write=True):
                ensure_schema(conn)
                for table in reversed(TABLES):
                    conn.execute(f"DELETE FROM {table}")
                for table in TABLES:
                    conn.executemany(_insert(table, table), rows[table])
        else:
            _swap_in(conn, rows)
    except sql.IntegrityError as err:  # the checks above make this a bug, not bad data
        raise RegistryError(f"the office store refused the registry ({err}); nothing was changed") from err
    except sql.StoreErrors as err:
        raise RegistryStoreError(f"cannot store the registry: {err}; the stored registry is unchanged") from err
    return summary


STAGING_BATCH = 20_000  # rows per staging transaction: the office's own writes wait at most this long
_NEXT, _OLD = "_next", "_old"


def _insert(table: str, into: str) -> str:
    columns = COLUMNS[table]
    return f"INSERT INTO {into} ({', '.join(columns)}) VALUES ({','.join('?' * len(columns))})"


def _swap_in(conn: sql.Conn, rows: Mapping[str, Sequence[tuple[Any, ...]]]) -> None:
    """Write ``rows`` into staging tables batch by batch, then swap them for the live tables in one
    transaction; the replaced tables are dropped after it (a failed import leaves no staging)."""
    _stream_in(conn, iter([rows]))


def _stream_in(conn: sql.Conn, parts: Iterator[Mapping[str, Sequence[tuple[Any, ...]]]]) -> None:
    """:func:`_swap_in` for a registry given in parts, each part's rows written as it comes."""
    try:
        with _transaction(conn, write=True):
            ensure_schema(conn)
            _drop(conn, _NEXT)
            _drop(conn, _OLD)
            for statement in _staging_schema(_NEXT):
                conn.execute(statement)
        waiting: dict[str, list[tuple[Any, ...]]] = {table: [] for table in TABLES}

        def flush(least: int) -> None:
            if sum(len(w) for w in waiting.values()) < least:
                return
            with _transaction(conn, write=True):
                for table, table_rows in waiting.items():
                    conn.executemany(_insert(table, table + _NEXT), table_rows)
                    table_rows.clear()

        for part in parts:
            for table, table_rows in part.items():
                waiting[table].extend(table_rows)
            flush(STAGING_BATCH)
        flush(0)
        with _transaction(conn, write=True):
            for table in TABLES:
                conn.execute(f"ALTER TABLE {table} RENAME TO {table}{_OLD}")
                conn.execute(f"ALTER TABLE {table}{_NEXT} RENAME TO {table}")
    finally:
        # Best effort: a table left over here is dropped by the next import. One table per
        # transaction: dropping a ward's table takes a while, and the office waits for each.
        try:
            for table in reversed(TABLES):
                for suffix in (_NEXT, _OLD):
                    with _transaction(conn, write=True):
                        conn.execute(f"DROP TABLE IF EXISTS {table}{suffix}")
        except sql.StoreErrors:
            pass


def save_households(conn: sql.Conn, municipality: str, households: Iterable[HouseholdRecords]) -> RegistrySummary:
    """Replace the stored registry with one given household by household (a ward's synthetic
    town, never held whole); as :func:`save_registry` on its own connection, staged and swapped in.

    Each household is checked with its records as an import checks a registry (the document
    models, then Registry.build over the household); what spans households (ids, My Numbers,
    cards and seal numbers used twice) the staging tables' keys refuse: :class:`RegistryError`,
    and nothing is changed. Every reference must stay within its household.
    """
    if conn.in_transaction:
        raise RegistryStoreError("a registry given household by household is stored on a connection of its own")
    counts = {table: 0 for table in TABLES}
    at = {"residents": 0, "households": 0, "seals": 0, "family_registers": 0, "tax_records": 0}

    def parts() -> Iterator[dict[str, list[tuple[Any, ...]]]]:
        for group in households:
            registers = () if group.family_register is None else (group.family_register,)
            part = Registry.build(
                municipality, group.residents, (group.household,), group.seals, registers, group.tax_records
            )
            document = _convert(msgspec.to_builtins(RegistryDocument.of(part)))
            document.to_registry()
            rows = _rows(document, at)
            if counts["registry_info"]:
                rows["registry_info"] = []
            for kind, records in (
                ("residents", document.residents),
                ("households", document.households),
                ("seals", document.seals),
                ("family_registers", document.family_registers),
                ("tax_records", document.tax_records),
            ):
                at[kind] += len(records)
            for table, table_rows in rows.items():
                counts[table] += len(table_rows)
            yield rows
        if not counts["registry_info"]:  # raised before the swap: the stored registry stays
            raise RegistryError("a registry needs at least one household; nothing was changed")

    try:
        _stream_in(conn, parts())
    except sql.IntegrityError as err:
        raise RegistryError(f"the office store refused the registry ({err}); nothing was changed") from err
    except sql.StoreErrors as err:
        raise RegistryStoreError(f"cannot store the registry: {err}; the stored registry is unchanged") from err
    return RegistrySummary(municipality, {table.removeprefix("registry_"): counts[table] for table in TABLES[1:]})


def _drop(conn: sql.Conn, suffix: str) -> None:
    for table in reversed(TABLES):
        conn.execute(f"DROP TABLE IF EXISTS {table}{suffix}")


def _table_rows(conn: sql.Conn, table: str, columns: Sequence[str], order: str) -> list[dict[str, Any]]:
    cursor = conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}")
    return [dict(zip(columns, row, strict=True)) for row in cursor]


def _flags(row: dict[str, Any]) -> dict[str, Any]:
    """0/1 in the store, true/false in the document; anything else is left for the check to name."""
    for key in _FLAGS:
        if isinstance(row.get(key), int) and not isinstance(row[key], bool) and row[key] in (0, 1):
            row[key] = bool(row[key])
    return row


def load_registry(conn: sql.Conn) -> Registry | None:
    """The stored registry, rebuilt through Registry.build; None when nothing is stored.

    :class:`RegistryError` names the bad row (``registry_residents R0003.birth_date: ...``) or
    the cross-check that failed, prefixed with "stored registry"; :class:`RegistryStoreError`
    when the store cannot be read.
    """
    try:
        with _transaction(conn, write=False):
            ensure_schema(conn)
            return _load(conn)
    except sql.StoreErrors as err:
        raise RegistryStoreError(f"cannot read the stored registry: {err}") from err


def _load(conn: sql.Conn) -> Registry | None:
    header = _table_rows(conn, "registry_info", ("id", "municipality", "format"), "id")
    residents = _table_rows(conn, "registry_residents", RESIDENT_FIELDS, "pos")
    if not header:
        if residents:
            raise RegistryError(
                "stored registry: registry_residents has rows but registry_info has none;"
                " load the registry again (madoguchi-office registry import)"
            )
        return None
    if header[0]["format"] != FORMAT:
        raise RegistryError(f"stored registry: registry_info.format is {_show(header[0]['format'])}, expected {FORMAT}")
    by_id = {row["id"]: _flags(row) for row in residents}
    for row in by_id.values():
        row["previous_addresses"] = []
    for row in _table_rows(
        conn, "registry_previous_addresses", ("resident_id", "pos", *ADDRESS_FIELDS), "resident_id, pos"
    ):
        owner = by_id.get(row["resident_id"])
        if owner is None:
            raise RegistryError(
                f"stored registry: registry_previous_addresses {row['resident_id']}#{row['pos']}:"
                f" resident {_show(row['resident_id'])} is not in registry_residents"
            )
        owner["previous_addresses"].append({k: row[k] for k in ADDRESS_FIELDS})
    households = {row["id"]: row for row in _table_rows(conn, "registry_households", HOUSEHOLD_FIELDS, "pos")}
    for row in households.values():
        row["member_ids"] = []
    for row in _table_rows(
        conn, "registry_household_members", ("household_id", "pos", "resident_id"), "household_id, pos"
    ):
        household = households.get(row["household_id"])
        if household is None:
            raise RegistryError(
                f"stored registry: registry_household_members {row['household_id']}#{row['pos']}:"
                f" household {_show(row['household_id'])} is not in registry_households"
            )
        household["member_ids"].append(row["resident_id"])
    registers = {
        row.pop("id"): row for row in _table_rows(conn, "registry_family_registers", ("id", *REGISTER_FIELDS), "id")
    }
    for row in registers.values():
        row["members"] = []
    for row in _table_rows(
        conn, "registry_register_entries", ("register_id", "pos", *ENTRY_FIELDS), "register_id, pos"
    ):
        register = registers.get(row["register_id"])
        if register is None:
            raise RegistryError(
                f"stored registry: registry_register_entries {row['register_id']}#{row['pos']}:"
                f" family register {row['register_id']} is not in registry_family_registers"
            )
        register["members"].append({k: row[k] for k in ENTRY_FIELDS})
    try:
        return _build(
            str(header[0]["municipality"]),
            [_stored(row, ResidentDoc, f"registry_residents {row['id']}").to_resident() for row in by_id.values()],
            [
                _stored(row, HouseholdDoc, f"registry_households {row['id']}").to_household()
                for row in households.values()
            ],
            [
                _stored(row, SealDoc, f"registry_seals {row['resident_id']}").to_seal()
                for row in _table_rows(conn, "registry_seals", SEAL_FIELDS, "pos")
            ],
            [
                _stored(row, FamilyRegisterDoc, f"registry_family_registers {key}").to_register()
                for key, row in registers.items()
            ],
            [
                _stored(
                    row, TaxRecordDoc, f"registry_tax_records {row['resident_id']}/{row['fiscal_year']}"
                ).to_record()
                for row in _table_rows(conn, "registry_tax_records", TAX_FIELDS, "pos")
            ],
        )
    except RegistryError as err:
        raise RegistryError(f"stored registry: {err}") from err


def registry_summary(conn: sql.Conn) -> RegistrySummary:
    """The municipality of the stored registry (None when none is stored) and each table's rows."""
    try:
        ensure_schema(conn)
        row = conn.execute("SELECT municipality FROM registry_info WHERE id = 1").fetchone()
        counts = {
            table.removeprefix("registry_"): int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table in TABLES[1:]
        }
    except sql.StoreErrors as err:
        raise RegistryStoreError(f"cannot read the stored registry: {err}") from err
    return RegistrySummary(None if row is None else str(row[0]), counts)


# -- lookups straight from the store ------------------------------------------------------------------

_SELECT_RESIDENT = f"SELECT {', '.join(RESIDENT_FIELDS)} FROM registry_residents"


class StoredRegistry:
    """The stored registry answering a certificate's lookups (:class:`RegistryLookup`) row by row.

    Each lookup is a few indexed queries in one read transaction (a SAVEPOINT inside the caller's,
    so one kiosk request sees one registry throughout). Records are built through the document
    models and the registry's own checks, so a tampered row raises :class:`RegistryError` naming
    its table and key, as :func:`load_registry` would. Nothing is kept between lookups: an import
    committed by another connection is what the next lookup sees.
    """

    def __init__(self, conn: sql.Conn) -> None:
        self.conn = conn

    @contextmanager
    def _read(self) -> Iterator[None]:
        try:
            with _transaction(self.conn, write=False):
                yield
        except RegistryError as err:
            raise RegistryError(f"stored registry: {err}") from err
        except sql.StoreErrors as err:
            raise RegistryStoreError(f"cannot read the stored registry: {err}") from err

    def _header(self) -> str | None:
        """The municipality, None when no registry is stored; the header's own checks."""
        row = self.conn.execute("SELECT municipality, format FROM registry_info WHERE id = 1").fetchone()
        if row is None:
            if self.conn.execute("SELECT 1 FROM registry_residents LIMIT 1").fetchone() is not None:
                raise RegistryError(
                    "registry_residents has rows but registry_info has none;"
                    " load the registry again (madoguchi-office registry import)"
                )
            return None
        if row[1] != FORMAT:
            raise RegistryError(f"registry_info.format is {_show(row[1])}, expected {FORMAT}")
        return str(row[0])

    @property
    def municipality(self) -> str:
        """The stored municipality ("" when none is stored)."""
        with self._read():
            return self._header() or ""

    def stored(self) -> bool:
        """Whether the store holds a registry (its header checked, not its records)."""
        with self._read():
            return self._header() is not None

    def _resident(self, column: str, key: str) -> Resident | None:
        row = self.conn.execute(f"{_SELECT_RESIDENT} WHERE {column} = ?", (key,)).fetchone()
        if row is None:
            return None
        data = _flags(dict(zip(RESIDENT_FIELDS, row, strict=True)))
        data["previous_addresses"] = [
            dict(zip(ADDRESS_FIELDS, a, strict=True))
            for a in self.conn.execute(
                f"SELECT {', '.join(ADDRESS_FIELDS)} FROM registry_previous_addresses WHERE resident_id = ? ORDER BY pos",
                (data["id"],),
            )
        ]
        resident = _stored(data, ResidentDoc, f"registry_residents {data['id']}").to_resident()
        check_resident(resident)
        return resident

    def _listed(self, resident: Resident) -> Resident:
        """The resident, once their household is known to list them (as Registry.build insists)."""
        listed = self.conn.execute(
            "SELECT 1 FROM registry_household_members m JOIN registry_households h ON h.id = m.household_id"
            " WHERE m.household_id = ? AND m.resident_id = ?",
            (resident.household_id, resident.id),
        ).fetchone()
        if listed is None:
            raise RegistryError(f"resident {resident.id}: household {resident.household_id} does not list them")
        return resident

    def by_card(self, card_serial: str) -> Resident | None:
        """The resident a My Number card belongs to, or None."""
        with self._read():
            if self._header() is None:
                return None
            resident = self._resident("card_serial", card_serial)
            return None if resident is None else self._listed(resident)

    def resident(self, resident_id: str) -> Resident | None:
        """One resident by id, or None."""
        with self._read():
            if self._header() is None:
                return None
            resident = self._resident("id", resident_id)
            return None if resident is None else self._listed(resident)

    def _household(self, household_id: str) -> tuple[Household, tuple[Resident, ...]] | None:
        row = self.conn.execute(
            f"SELECT {', '.join(HOUSEHOLD_FIELDS)} FROM registry_households WHERE id = ?", (household_id,)
        ).fetchone()
        if row is None:
            return None
        data = dict(zip(HOUSEHOLD_FIELDS, row, strict=True))
        data["member_ids"] = [
            str(m[0])
            for m in self.conn.execute(
                "SELECT resident_id FROM registry_household_members WHERE household_id = ? ORDER BY pos",
                (household_id,),
            )
        ]
        household = _stored(data, HouseholdDoc, f"registry_households {household_id}").to_household()
        people: dict[str, Resident] = {}
        for member in household.member_ids:
            person = self._resident("id", member)
            if person is not None:
                people[member] = person
        check_household(household, people)
        # A resident the list leaves out would escape the members' checks (支援措置 among them).
        for (other,) in self.conn.execute("SELECT id FROM registry_residents WHERE household_id = ?", (household_id,)):
            if other not in people:
                raise RegistryError(f"resident {other}: household {household_id} does not list them")
        return household, tuple(people[m] for m in household.member_ids)

    def household_members(self, household_id: str) -> tuple[Resident, ...]:
        """The members of a household, head first (empty for an unknown household)."""
        with self._read():
            if self._header() is None:
                return ()
            found = self._household(household_id)
            return () if found is None else found[1]

    def head_of(self, resident: Resident) -> Resident:
        """The head (世帯主) of the resident's household."""
        with self._read():
            found = self._household(resident.household_id) if self._header() is not None else None
            if found is None:
                raise RegistryError(f"resident {resident.id}: household {resident.household_id} does not list them")
            return found[1][0]

    def seal(self, resident_id: str) -> SealRegistration | None:
        """The resident's seal registration, or None when they have none."""
        with self._read():
            if self._header() is None:
                return None
            row = self.conn.execute(
                f"SELECT {', '.join(SEAL_FIELDS)} FROM registry_seals WHERE resident_id = ?", (resident_id,)
            ).fetchone()
            if row is None:
                return None
            return _stored(dict(zip(SEAL_FIELDS, row, strict=True)), SealDoc, f"registry_seals {resident_id}").to_seal()

    def family_register(self, resident: Resident) -> FamilyRegister | None:
        """The family register the resident is recorded in, if this town keeps it."""
        if resident.honseki is None or resident.hittosha is None:
            return None
        with self._read():
            if self._header() is None:
                return None
            row = self.conn.execute(
                f"SELECT id, {', '.join(REGISTER_FIELDS)} FROM registry_family_registers"
                " WHERE honseki = ? AND hittosha = ?",
                (resident.honseki, resident.hittosha),
            ).fetchone()
            if row is None:
                return None
            key, *values = row
            data: dict[str, Any] = dict(zip(REGISTER_FIELDS, values, strict=True))
            data["members"] = [
                dict(zip(ENTRY_FIELDS, e, strict=True))
                for e in self.conn.execute(
                    f"SELECT {', '.join(ENTRY_FIELDS)} FROM registry_register_entries WHERE register_id = ? ORDER BY pos",
                    (key,),
                )
            ]
            register = _stored(data, FamilyRegisterDoc, f"registry_family_registers {key}").to_register()
            for entry in register.members:
                if entry.resident_id is not None and (
                    self.conn.execute("SELECT 1 FROM registry_residents WHERE id = ?", (entry.resident_id,)).fetchone()
                    is None
                ):
                    raise RegistryError(
                        f"family register {register.honseki}: member {entry.resident_id} is not a resident"
                    )
            return register

    def _taxes(self, resident_id: str, fiscal_year: int | None = None) -> list[TaxRecord]:
        where, args = "resident_id = ?", list[str | int]([resident_id])
        if fiscal_year is not None:
            where = "resident_id = ? AND fiscal_year = ?"
            args.append(fiscal_year)
        return [
            _stored(
                dict(zip(TAX_FIELDS, row, strict=True)), TaxRecordDoc, f"registry_tax_records {row[0]}/{row[1]}"
            ).to_record()
            for row in self.conn.execute(
                f"SELECT {', '.join(TAX_FIELDS)} FROM registry_tax_records WHERE {where} ORDER BY fiscal_year", args
            )
        ]

    def tax_record(self, resident_id: str, fiscal_year: int) -> TaxRecord | None:
        """A resident's assessment for one fiscal year, or None."""
        with self._read():
            if self._header() is None:
                return None
            found = self._taxes(resident_id, fiscal_year)
            return found[0] if found else None

    def tax_years(self, resident_id: str) -> tuple[int, ...]:
        """The fiscal years the resident has a tax record for, oldest first."""
        with self._read():
            if self._header() is None:
                return ()
            return tuple(t.fiscal_year for t in self._taxes(resident_id))


def stored_registry(conn: sql.Conn) -> StoredRegistry | None:
    """The store's registry for lookups, after the cheap checks an office start makes (the header,
    and a resident to serve); None when none is stored. Never reads the registry whole:
    :class:`RegistryError` / :class:`RegistryStoreError` as :func:`load_registry`."""
    try:
        ensure_schema(conn)
    except sql.StoreErrors as err:
        raise RegistryStoreError(f"cannot read the stored registry: {err}") from err
    registry = StoredRegistry(conn)
    if not registry.stored():
        return None
    return registry
