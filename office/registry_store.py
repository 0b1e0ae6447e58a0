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
order, so a registry reads back exactly as it was saved. :func:`save_registry` replaces the
whole stored registry in one transaction (all or nothing); :func:`load_registry` rebuilds it
through :meth:`Registry.build`, so every cross-check runs again on what comes out of the store,
and a tampered row raises :class:`RegistryError` naming its table and key.

The JSON document (:func:`registry_document`, :func:`registry_from_document`) is how a town
exports and imports the whole registry (docs/registry.md); the store's rows are read through
the same field checks, so the store never holds what an import would refuse.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from certificates.registry import (
    AddressEntry,
    FamilyRegister,
    Household,
    RegisterEntry,
    Registry,
    RegistryError,
    Resident,
    SealRegistration,
    Sex,
    TaxRecord,
)
from office.domain import OfficeError

__all__ = [
    "FORMAT",
    "TABLES",
    "RegistryStoreError",
    "RegistrySummary",
    "ensure_schema",
    "load_registry",
    "registry_document",
    "registry_from_document",
    "registry_summary",
    "save_registry",
]

FORMAT = "madoguchi-registry/1"
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
    residence_expiry TEXT, card_serial TEXT UNIQUE
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

# The fields of each record in the JSON document, in the order an export writes them.
RESIDENT_FIELDS = (
    "id",
    "name",
    "kana",
    "birth_date",
    "sex",
    "address",
    "address_since",
    "resident_since",
    "household_id",
    "relationship",
    "my_number",
    "honseki",
    "hittosha",
    "moved_out",
    "support_measures",
    "gaiji",
    "nationality",
    "residence_status",
    "residence_expiry",
    "card_serial",
)
ADDRESS_FIELDS = ("address", "since")
HOUSEHOLD_FIELDS = ("id", "head_id", "address")
SEAL_FIELDS = ("resident_id", "number", "registered_on", "impression")
REGISTER_FIELDS = ("honseki", "hittosha", "made_on")
ENTRY_FIELDS = ("name", "birth_date", "sex", "role", "father", "mother", "birthplace", "married_on", "resident_id")
TAX_FIELDS = ("resident_id", "fiscal_year", "income", "deductions", "municipal_tax", "prefectural_tax")
TOP_FIELDS = ("format", "municipality", "residents", "households", "seals", "family_registers", "tax_records")
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


# -- the JSON document ----------------------------------------------------------------------------


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def registry_document(registry: Registry) -> dict[str, Any]:
    """The whole registry as a JSON-ready document (the export format, docs/registry.md)."""
    residents = []
    for r in registry.residents.values():
        residents.append(
            {
                "id": r.id,
                "name": r.name,
                "kana": r.kana,
                "birth_date": _day(r.birth_date),
                "sex": r.sex.value,
                "address": r.address,
                "address_since": _day(r.address_since),
                "resident_since": _day(r.resident_since),
                "household_id": r.household_id,
                "relationship": r.relationship,
                "my_number": r.my_number,
                "honseki": r.honseki,
                "hittosha": r.hittosha,
                "moved_out": _day(r.moved_out),
                "support_measures": r.support_measures,
                "gaiji": r.gaiji,
                "nationality": r.nationality,
                "residence_status": r.residence_status,
                "residence_expiry": _day(r.residence_expiry),
                "card_serial": r.card_serial,
                "previous_addresses": [{"address": a.address, "since": _day(a.since)} for a in r.previous_addresses],
            }
        )
    return {
        "format": FORMAT,
        "municipality": registry.municipality,
        "residents": residents,
        "households": [
            {"id": h.id, "head_id": h.head_id, "address": h.address, "member_ids": list(h.member_ids)}
            for h in registry.households.values()
        ],
        "seals": [
            {
                "resident_id": s.resident_id,
                "number": s.number,
                "registered_on": _day(s.registered_on),
                "impression": s.impression,
            }
            for s in registry.seals.values()
        ],
        "family_registers": [
            {
                "honseki": fr.honseki,
                "hittosha": fr.hittosha,
                "made_on": _day(fr.made_on),
                "members": [
                    {
                        "name": e.name,
                        "birth_date": _day(e.birth_date),
                        "sex": e.sex.value,
                        "role": e.role,
                        "father": e.father,
                        "mother": e.mother,
                        "birthplace": e.birthplace,
                        "married_on": _day(e.married_on),
                        "resident_id": e.resident_id,
                    }
                    for e in fr.members
                ],
            }
            for fr in registry.family_registers.values()
        ],
        "tax_records": [
            {
                "resident_id": t.resident_id,
                "fiscal_year": t.fiscal_year,
                "income": t.income,
                "deductions": t.deductions,
                "municipal_tax": t.municipal_tax,
                "prefectural_tax": t.prefectural_tax,
            }
            for t in registry.tax_records.values()
        ],
    }


class _Fields:
    """Typed reads of one record's fields; every error names ``where`` and the field."""

    def __init__(self, raw: object, where: str, known: Iterable[str]) -> None:
        if not isinstance(raw, Mapping):
            raise RegistryError(f"{where}: expected an object with the fields {', '.join(known)}, got {_show(raw)}")
        allowed = tuple(known)
        extra = sorted(str(k) for k in raw if k not in allowed)
        if extra:
            raise RegistryError(f"{where}.{extra[0]}: unknown field; allowed fields are {', '.join(allowed)}")
        self.raw: Mapping[Any, Any] = raw
        self.where = where

    def _bad(self, key: str, expected: str) -> RegistryError:
        return RegistryError(f"{self.where}.{key}: expected {expected}, got {_show(self.raw.get(key))}")

    def text(self, key: str, *, empty: bool = False) -> str:
        """A required string (non-empty unless ``empty``)."""
        value = self.raw.get(key)
        if key not in self.raw and empty:
            return ""
        if not isinstance(value, str) or not (value or empty):
            raise self._bad(key, "a text" if empty else "a non-empty text")
        return value

    def opt_text(self, key: str) -> str | None:
        """An optional non-empty string (missing or null: None)."""
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self._bad(key, "a non-empty text or null")
        return value

    def day(self, key: str) -> date:
        """A required date, exactly ``YYYY-MM-DD``."""
        parsed = _iso_date(self.raw.get(key))
        if parsed is None:
            raise self._bad(key, 'a date like "1980-04-01"')
        return parsed

    def opt_day(self, key: str) -> date | None:
        """An optional date (missing or null: None)."""
        value = self.raw.get(key)
        if value is None:
            return None
        parsed = _iso_date(value)
        if parsed is None:
            raise self._bad(key, 'a date like "1980-04-01" or null')
        return parsed

    def flag(self, key: str) -> bool:
        """A yes/no field (missing: false)."""
        value = self.raw.get(key, False)
        if not isinstance(value, bool):
            raise self._bad(key, "true or false")
        return value

    def sex(self, key: str) -> Sex:
        """性別: "male" or "female"."""
        value = self.raw.get(key)
        if isinstance(value, str) and value in {s.value for s in Sex}:
            return Sex(value)
        raise self._bad(key, " or ".join(f'"{s.value}"' for s in Sex))

    def whole(self, key: str, low: int, high: int) -> int:
        """A whole number from ``low`` to ``high``."""
        value = self.raw.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self._bad(key, f"a whole number from {low} to {high}")
        return value

    def seq(self, key: str, *, required: bool = False) -> Sequence[Any]:
        """A list field (missing: empty, unless ``required``: then at least one item)."""
        value = self.raw.get(key, [])
        if not isinstance(value, list | tuple) or (required and not value):
            raise self._bad(key, "a list of at least one record" if required else "a list")
        return value


def _iso_date(value: object) -> date | None:
    """Exactly ``YYYY-MM-DD`` (Python 3.11 would also take "19800401"; the document must not)."""
    if isinstance(value, str) and len(value) == 10:
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            return None
        if parsed.isoformat() == value:
            return parsed
    return None


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _label(raw: object, where: str, key: str) -> str:
    """``residents[3] (R0004)``: the position and, when readable, the record's own id."""
    if isinstance(raw, Mapping) and isinstance(raw.get(key), str) and raw[key]:
        return f"{where} ({raw[key]})"
    return where


def _resident(raw: object, where: str) -> Resident:
    f = _Fields(raw, where, (*RESIDENT_FIELDS, "previous_addresses"))
    previous = []
    for i, entry in enumerate(f.seq("previous_addresses")):
        a = _Fields(entry, f"{where}.previous_addresses[{i}]", ADDRESS_FIELDS)
        previous.append(AddressEntry(a.text("address"), a.day("since")))
    return Resident(
        id=f.text("id"),
        name=f.text("name"),
        kana=f.text("kana"),
        birth_date=f.day("birth_date"),
        sex=f.sex("sex"),
        address=f.text("address"),
        address_since=f.day("address_since"),
        resident_since=f.day("resident_since"),
        household_id=f.text("household_id"),
        relationship=f.text("relationship"),
        my_number=f.text("my_number"),
        honseki=f.opt_text("honseki"),
        hittosha=f.opt_text("hittosha"),
        moved_out=f.opt_day("moved_out"),
        support_measures=f.flag("support_measures"),
        gaiji=f.flag("gaiji"),
        nationality=f.opt_text("nationality"),
        residence_status=f.opt_text("residence_status"),
        residence_expiry=f.opt_day("residence_expiry"),
        card_serial=f.opt_text("card_serial"),
        previous_addresses=tuple(previous),
    )


def _household(raw: object, where: str) -> Household:
    f = _Fields(raw, where, (*HOUSEHOLD_FIELDS, "member_ids"))
    members = []
    for i, member in enumerate(f.seq("member_ids")):
        if not isinstance(member, str) or not member:
            raise RegistryError(f"{where}.member_ids[{i}]: expected a resident id, got {_show(member)}")
        members.append(member)
    return Household(f.text("id"), f.text("head_id"), f.text("address"), tuple(members))


def _seal(raw: object, where: str) -> SealRegistration:
    f = _Fields(raw, where, SEAL_FIELDS)
    return SealRegistration(f.text("resident_id"), f.text("number"), f.day("registered_on"), f.text("impression"))


def _entry(raw: object, where: str) -> RegisterEntry:
    f = _Fields(raw, where, ENTRY_FIELDS)
    return RegisterEntry(
        name=f.text("name"),
        birth_date=f.day("birth_date"),
        sex=f.sex("sex"),
        role=f.text("role"),
        father=f.text("father", empty=True),
        mother=f.text("mother", empty=True),
        birthplace=f.text("birthplace", empty=True),
        married_on=f.opt_day("married_on"),
        resident_id=f.opt_text("resident_id"),
    )


def _register(raw: object, where: str) -> FamilyRegister:
    f = _Fields(raw, where, (*REGISTER_FIELDS, "members"))
    members = tuple(_entry(e, f"{where}.members[{i}]") for i, e in enumerate(f.seq("members")))
    return FamilyRegister(
        honseki=f.text("honseki"), hittosha=f.text("hittosha"), members=members, made_on=f.day("made_on")
    )


def _tax(raw: object, where: str) -> TaxRecord:
    f = _Fields(raw, where, TAX_FIELDS)
    return TaxRecord(
        resident_id=f.text("resident_id"),
        fiscal_year=f.whole("fiscal_year", FIRST_FISCAL_YEAR, LAST_FISCAL_YEAR),
        income=f.whole("income", 0, MAX_YEN),
        deductions=f.whole("deductions", 0, MAX_YEN),
        municipal_tax=f.whole("municipal_tax", 0, MAX_YEN),
        prefectural_tax=f.whole("prefectural_tax", 0, MAX_YEN),
    )


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


def registry_from_document(doc: object) -> Registry:
    """A registry from its JSON document, checked field by field and then by Registry.build.

    :class:`RegistryError` names the first bad record and field, e.g.
    ``residents[3] (R0004).birth_date: expected a date like "1980-04-01", got '1975/11/03'``.
    """
    top = _Fields(doc, "registry document", TOP_FIELDS)
    if top.raw.get("format") != FORMAT:
        raise RegistryError(f'format: expected "{FORMAT}", got {_show(top.raw.get("format"))}')
    municipality = top.text("municipality")
    lists = {key: top.seq(key, required=key in ("residents", "households")) for key in TOP_FIELDS[2:]}
    return _build(
        municipality,
        [_resident(r, _label(r, f"residents[{i}]", "id")) for i, r in enumerate(lists["residents"])],
        [_household(h, _label(h, f"households[{i}]", "id")) for i, h in enumerate(lists["households"])],
        [_seal(s, _label(s, f"seals[{i}]", "resident_id")) for i, s in enumerate(lists["seals"])],
        [
            _register(fr, _label(fr, f"family_registers[{i}]", "honseki"))
            for i, fr in enumerate(lists["family_registers"])
        ],
        [_tax(t, _label(t, f"tax_records[{i}]", "resident_id")) for i, t in enumerate(lists["tax_records"])],
    )


# -- the store ----------------------------------------------------------------------------------


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the registry's tables if they are missing (statement by statement: no implicit COMMIT)."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


@contextmanager
def _transaction(conn: sqlite3.Connection, *, write: bool) -> Iterator[None]:
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


def _rows(doc: Mapping[str, Any]) -> dict[str, list[tuple[Any, ...]]]:
    """The document's records as each table's rows (dates already ISO text, flags as 0/1)."""
    rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in TABLES}
    rows["registry_info"].append((1, doc["municipality"], FORMAT))
    for pos, r in enumerate(doc["residents"]):
        values = [int(r[k]) if k in _FLAGS else r[k] for k in RESIDENT_FIELDS]
        rows["registry_residents"].append((values[0], pos, *values[1:]))
        for i, a in enumerate(r["previous_addresses"]):
            rows["registry_previous_addresses"].append((r["id"], i, a["address"], a["since"]))
    for pos, h in enumerate(doc["households"]):
        rows["registry_households"].append((h["id"], pos, h["head_id"], h["address"]))
        for i, member in enumerate(h["member_ids"]):
            rows["registry_household_members"].append((h["id"], i, member))
    for pos, s in enumerate(doc["seals"]):
        rows["registry_seals"].append((s["resident_id"], pos, *(s[k] for k in SEAL_FIELDS[1:])))
    for pos, fr in enumerate(doc["family_registers"]):
        rows["registry_family_registers"].append((pos, *(fr[k] for k in REGISTER_FIELDS)))
        for i, e in enumerate(fr["members"]):
            rows["registry_register_entries"].append((pos, i, *(e[k] for k in ENTRY_FIELDS)))
    for pos, t in enumerate(doc["tax_records"]):
        rows["registry_tax_records"].append((t["resident_id"], t["fiscal_year"], pos, *(t[k] for k in TAX_FIELDS[2:])))
    return rows


def save_registry(conn: sqlite3.Connection, registry: Registry) -> RegistrySummary:
    """Replace the stored registry with ``registry`` in one transaction: all of it or nothing.

    The registry is checked first exactly as :func:`load_registry` will check it, so the store
    never holds one it could not give back (:class:`RegistryError` naming the record).
    :class:`RegistryStoreError` when SQLite fails (disk full, busy); the stored registry is then
    the previous one, unchanged.
    """
    doc = registry_document(registry)
    registry_from_document(doc)  # the same checks a load or an import makes
    rows = _rows(doc)
    try:
        with _transaction(conn, write=True):
            ensure_schema(conn)
            for table in reversed(TABLES):
                conn.execute(f"DELETE FROM {table}")
            for table in TABLES:
                columns = COLUMNS[table]
                conn.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({','.join('?' * len(columns))})", rows[table]
                )
            summary = registry_summary(conn)
    except sqlite3.IntegrityError as err:  # the checks above make this a bug, not bad data
        raise RegistryError(f"the office store refused the registry ({err}); nothing was changed") from err
    except sqlite3.Error as err:
        raise RegistryStoreError(f"cannot store the registry: {err}; the stored registry is unchanged") from err
    return summary


def _table_rows(conn: sqlite3.Connection, table: str, columns: Sequence[str], order: str) -> list[dict[str, Any]]:
    cursor = conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}")
    return [dict(zip(columns, row, strict=True)) for row in cursor]


def _flags(row: dict[str, Any]) -> dict[str, Any]:
    """0/1 in the store, true/false in the document; anything else is left for the check to name."""
    for key in _FLAGS:
        if isinstance(row.get(key), int) and not isinstance(row[key], bool) and row[key] in (0, 1):
            row[key] = bool(row[key])
    return row


def load_registry(conn: sqlite3.Connection) -> Registry | None:
    """The stored registry, rebuilt through Registry.build; None when nothing is stored.

    :class:`RegistryError` names the bad row (``registry_residents R0003.birth_date: ...``) or
    the cross-check that failed, prefixed with "stored registry"; :class:`RegistryStoreError`
    when the store cannot be read.
    """
    try:
        with _transaction(conn, write=False):
            ensure_schema(conn)
            return _load(conn)
    except sqlite3.Error as err:
        raise RegistryStoreError(f"cannot read the stored registry: {err}") from err


def _load(conn: sqlite3.Connection) -> Registry | None:
    info = _table_rows(conn, "registry_info", ("id", "municipality", "format"), "id")
    residents = _table_rows(conn, "registry_residents", RESIDENT_FIELDS, "pos")
    if not info:
        if residents:
            raise RegistryError(
                "stored registry: registry_residents has rows but registry_info has none;"
                " load the registry again (madoguchi-office registry import)"
            )
        return None
    if info[0]["format"] != FORMAT:
        raise RegistryError(f"stored registry: registry_info.format is {_show(info[0]['format'])}, expected {FORMAT}")
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
            str(info[0]["municipality"]),
            [_resident(row, f"registry_residents {row['id']}") for row in by_id.values()],
            [_household(row, f"registry_households {row['id']}") for row in households.values()],
            [
                _seal(row, f"registry_seals {row['resident_id']}")
                for row in _table_rows(conn, "registry_seals", SEAL_FIELDS, "pos")
            ],
            [_register(row, f"registry_family_registers {key}") for key, row in registers.items()],
            [
                _tax(row, f"registry_tax_records {row['resident_id']}/{row['fiscal_year']}")
                for row in _table_rows(conn, "registry_tax_records", TAX_FIELDS, "pos")
            ],
        )
    except RegistryError as err:
        raise RegistryError(f"stored registry: {err}") from err


def registry_summary(conn: sqlite3.Connection) -> RegistrySummary:
    """The municipality of the stored registry (None when none is stored) and each table's rows."""
    try:
        ensure_schema(conn)
        info = conn.execute("SELECT municipality FROM registry_info WHERE id = 1").fetchone()
        counts = {
            table.removeprefix("registry_"): int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table in TABLES[1:]
        }
    except sqlite3.Error as err:
        raise RegistryStoreError(f"cannot read the stored registry: {err}") from err
    return RegistrySummary(None if info is None else str(info[0]), counts)
