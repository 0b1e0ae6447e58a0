"""The registry looked up in the office store, row by row: the same residents, records, refusals and
certificates as the in-memory registry, tampered rows named, an import seen whole or not at all,
and an office start that never reads the registry whole."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from certificates.registry import (
    DEMO_MUNICIPALITY,
    Registry,
    RegistryError,
    RegistryLookup,
    Resident,
    demo_registry,
    synthetic_households,
    synthetic_registry,
)
from certificates.rules import (
    CertificateKind,
    IneligibleError,
    RefusalReason,
    certificate_content,
    check_eligibility,
    household_choices,
    parse_options,
)
from harness import SITE
from office import registry_store
from office.db import OfficeDB
from office.registry_store import StoredRegistry, save_registry, stored_registry
from office.server import OfficeServer

TODAY = date(2026, 4, 1)
MAYOR = "まどぐち町長　窓口　一郎"
# Every certificate a kiosk makes, with the options that reach the most records.
REQUESTS: tuple[tuple[CertificateKind, dict[str, Any]], ...] = (
    (CertificateKind.JUMINHYO, {"scope": "household", "with_honseki": True, "with_zokugara": True}),
    (CertificateKind.JUMINHYO, {"with_my_number": True}),
    (CertificateKind.INKAN, {}),
    (CertificateKind.KOSEKI, {"variant": "tohon"}),
    (CertificateKind.KOSEKI, {"variant": "shohon"}),
    (CertificateKind.FUHYO, {}),
    (CertificateKind.SHOTOKU, {}),
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[OfficeDB]:
    db = OfficeDB(tmp_path / "office.sqlite3")
    try:
        yield db
    finally:
        db.close()


def _stored(store: OfficeDB, registry: Registry) -> StoredRegistry:
    save_registry(store.conn, registry)
    found = stored_registry(store.conn)
    assert found is not None
    return found


def _assert_same_lookups(got: RegistryLookup, want: Registry, resident: Resident) -> None:
    assert got.resident(resident.id) == want.resident(resident.id) == resident
    if resident.card_serial is not None:
        assert got.by_card(resident.card_serial) == resident
    assert got.household_members(resident.household_id) == want.household_members(resident.household_id)
    assert got.head_of(resident) == want.head_of(resident)
    assert got.seal(resident.id) == want.seal(resident.id)
    assert got.family_register(resident) == want.family_register(resident)
    assert got.tax_years(resident.id) == want.tax_years(resident.id)
    for year in (*want.tax_years(resident.id), 1999):
        assert got.tax_record(resident.id, year) == want.tax_record(resident.id, year)


def _certificates(registry: RegistryLookup, resident: Resident) -> list[Any]:
    """What the kiosk would answer for each request: the refusal, or the certificate's content."""
    out: list[Any] = [household_choices(registry, resident, TODAY)]
    for kind, raw in REQUESTS:
        options = parse_options(kind, raw)
        refusal = check_eligibility(registry, resident, kind, options, TODAY)
        out.append(refusal)
        if refusal is None:
            out.append(certificate_content(registry, resident, kind, options, "20260401-00001", TODAY, MAYOR))
    return out


@pytest.mark.parametrize("make", [demo_registry, lambda: synthetic_registry(2500, seed=13)], ids=["demo", "synthetic"])
def test_the_store_answers_every_lookup_and_certificate_as_the_registry_does(store: OfficeDB, make: Any) -> None:
    registry: Registry = make()
    lookup = _stored(store, registry)
    assert lookup.municipality == registry.municipality
    for resident in registry.residents.values():
        _assert_same_lookups(lookup, registry, resident)
        assert _certificates(lookup, resident) == _certificates(registry, resident), resident.id
    assert lookup.by_card("NO-SUCH-CARD") is None and lookup.resident("R9999") is None
    assert lookup.household_members("H999999") == ()


def test_support_measures_are_refused_from_the_store_as_from_memory(store: OfficeDB) -> None:
    demo = demo_registry()
    # 花子 under support measures: her own requests, and her household's, are refused
    flagged = dataclasses.replace(demo.residents["R0002"], support_measures=True)
    town = Registry.build(
        demo.municipality,
        [flagged if r.id == "R0002" else r for r in demo.residents.values()],
        demo.households.values(),
        demo.seals.values(),
        demo.family_registers.values(),
        demo.tax_records.values(),
    )
    lookup = _stored(store, town)
    household = parse_options(CertificateKind.JUMINHYO, {"scope": "household"})
    for registry in (town, lookup):
        suzuki, hanako, taro = (registry.resident(rid) for rid in ("R0005", "R0002", "R0001"))
        assert suzuki is not None and hanako is not None and taro is not None
        for kind, raw in REQUESTS:
            for person in (suzuki, hanako):
                refusal = check_eligibility(registry, person, kind, parse_options(kind, raw), TODAY)
                assert refusal is not None and refusal.reason is RefusalReason.SUPPORT_MEASURES
        refusal = check_eligibility(registry, taro, CertificateKind.JUMINHYO, household, TODAY)
        assert refusal is not None and refusal.reason is RefusalReason.MEMBER_SUPPORT_MEASURES
        koseki = parse_options(CertificateKind.KOSEKI, {"variant": "tohon"})
        refusal = check_eligibility(registry, taro, CertificateKind.KOSEKI, koseki, TODAY)
        assert refusal is not None and refusal.reason is RefusalReason.MEMBER_SUPPORT_MEASURES
        with pytest.raises(IneligibleError):
            certificate_content(registry, taro, CertificateKind.JUMINHYO, household, "n", TODAY, MAYOR)
        assert [c["id"] for c in household_choices(registry, taro, TODAY)] == ["R0001", "R0003"]


def test_a_flagged_member_left_off_the_household_list_is_an_error_not_an_omission(store: OfficeDB) -> None:
    demo = demo_registry()
    flagged = dataclasses.replace(demo.residents["R0002"], support_measures=True)
    town = Registry.build(
        demo.municipality,
        [flagged if r.id == "R0002" else r for r in demo.residents.values()],
        demo.households.values(),
    )
    lookup = _stored(store, town)
    store.conn.execute("DELETE FROM registry_household_members WHERE resident_id = 'R0002'")
    taro = demo.residents["R0001"]
    household = parse_options(CertificateKind.JUMINHYO, {"scope": "household"})
    with pytest.raises(RegistryError, match="^stored registry: resident R0002: household H001 does not list them"):
        check_eligibility(lookup, taro, CertificateKind.JUMINHYO, household, TODAY)
    with pytest.raises(RegistryError, match="resident R0002: household H001 does not list them"):
        lookup.resident("R0002")


@pytest.mark.parametrize(
    ("sql", "lookup", "named"),
    [
        (
            "UPDATE registry_residents SET birth_date='1980-13-01' WHERE id='R0001'",
            lambda r: r.by_card("SIM-0001"),
            "registry_residents R0001.birth_date",
        ),
        ("UPDATE registry_residents SET sex='m' WHERE id='R0002'", lambda r: r.resident("R0002"), "R0002.sex"),
        (
            "UPDATE registry_residents SET support_measures=2 WHERE id='R0005'",
            lambda r: r.by_card("SIM-0005"),
            "registry_residents R0005.support_measures",
        ),
        (
            "UPDATE registry_residents SET my_number='910000000016' WHERE id='R0001'",
            lambda r: r.by_card("SIM-0001"),
            "resident R0001: my_number",
        ),
        (
            "UPDATE registry_residents SET household_id='H002' WHERE id='R0003'",
            lambda r: r.household_members("H001"),
            "household H001: member R0003 belongs",
        ),
        (
            "UPDATE registry_household_members SET resident_id='R0999' WHERE household_id='H001' AND pos=2",
            lambda r: r.household_members("H001"),
            "household H001: member R0999 is not a resident",
        ),
        (
            "DELETE FROM registry_household_members WHERE household_id='H002'",
            lambda r: r.by_card("SIM-0004"),
            "household H002",
        ),
        (
            "UPDATE registry_previous_addresses SET since='2002/04/01' WHERE resident_id='R0001' AND pos=0",
            lambda r: r.resident("R0001"),
            "registry_residents R0001.previous_addresses[0].since",
        ),
        (
            "UPDATE registry_seals SET registered_on='2008/04/07' WHERE resident_id='R0001'",
            lambda r: r.seal("R0001"),
            "registry_seals R0001.registered_on",
        ),
        (
            "UPDATE registry_tax_records SET income=-5 WHERE resident_id='R0001' AND fiscal_year=2024",
            lambda r: r.tax_years("R0001"),
            "registry_tax_records R0001/2024.income",
        ),
        (
            "UPDATE registry_register_entries SET resident_id='R0999' WHERE register_id=0 AND pos=0",
            lambda r: r.family_register(demo_registry().residents["R0001"]),
            "member R0999 is not a resident",
        ),
        (
            "UPDATE registry_register_entries SET sex='x' WHERE register_id=0 AND pos=1",
            lambda r: r.family_register(demo_registry().residents["R0001"]),
            "registry_family_registers 0.members[1].sex",
        ),
        ("DELETE FROM registry_info", lambda r: r.by_card("SIM-0001"), "registry_info has none"),
        ("UPDATE registry_info SET format='other/9'", lambda r: r.municipality, "registry_info.format"),
    ],
)
def test_a_tampered_row_is_named_when_it_is_looked_up(store: OfficeDB, sql: str, lookup: Any, named: str) -> None:
    registry = _stored(store, demo_registry())
    store.conn.execute(sql)
    with pytest.raises(RegistryError, match="^stored registry: ") as caught:
        lookup(registry)
    assert named in str(caught.value)
    assert not store.conn.in_transaction  # the read transaction was closed


def test_lookups_inside_the_office_transaction_leave_it_open(store: OfficeDB) -> None:
    registry = _stored(store, demo_registry())
    with store.transaction():
        assert registry.by_card("SIM-0001") == demo_registry().residents["R0001"]
        assert store.conn.in_transaction
        store.conn.execute("UPDATE registry_residents SET sex='m' WHERE id='R0002'")
        with pytest.raises(RegistryError):
            registry.resident("R0002")
        assert store.conn.in_transaction  # the error rolled back its savepoint, not the caller's work


def test_an_import_on_another_connection_is_seen_whole_at_its_commit(store: OfficeDB) -> None:
    old, new = demo_registry(), synthetic_registry(300, seed=21)
    office = _stored(store, old)
    importer = sqlite3.connect(store.path, isolation_level=None)
    try:
        importer.execute("BEGIN IMMEDIATE")
        save_registry(importer, new)  # all written, not yet committed
        assert office.by_card("SIM-0001") == old.residents["R0001"]
        assert office.by_card("SYN-000001") is None
        importer.execute("COMMIT")
        # the next lookup sees the new registry, without restarting anything
        assert office.by_card("SIM-0001") is None
        first = new.residents["S0000001"]
        assert office.resident("S0000001") == first
        assert office.household_members(first.household_id) == new.household_members(first.household_id)
        # one request's lookups share its transaction: an import committed in between is not seen
        store.conn.execute("BEGIN")
        assert office.by_card("SYN-000002") == new.residents["S0000002"]
        save_registry(importer, old)  # staged, then swapped in by its own commit
        assert office.household_members(first.household_id) == new.household_members(first.household_id)
        assert office.by_card("SIM-0001") is None
        store.conn.execute("COMMIT")
        assert office.by_card("SIM-0001") == old.residents["R0001"]
        assert office.resident("S0000001") is None
    finally:
        importer.close()


def test_lookups_racing_an_import_see_one_registry_or_the_other(store: OfficeDB) -> None:
    old = synthetic_registry(400, seed=3)
    new = synthetic_registry(400, seed=4)  # the same ids and cards, other people
    office = _stored(store, old)
    seen: set[str] = set()
    stop = threading.Event()
    problems: list[str] = []

    def look() -> None:
        conn = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
        reader = StoredRegistry(conn)
        while not stop.is_set():
            for rid in ("S0000001", "S0000150", "S0000399"):
                serial = f"SYN-{rid[1:].lstrip('0'):0>6}"
                conn.execute("BEGIN")  # as the office answers one request: one transaction
                got = reader.resident(rid)
                card = reader.by_card(serial)
                members = reader.household_members(got.household_id) if got is not None else ()
                conn.execute("COMMIT")
                for name, town in (("old", old), ("new", new)):
                    mine = town.residents[rid]
                    if (got, card, members) == (mine, town.by_card(serial), town.household_members(mine.household_id)):
                        seen.add(name)
                        break
                else:
                    problems.append(f"{rid}: neither registry's ({got})")
        conn.close()

    thread = threading.Thread(target=look)
    thread.start()
    try:
        for registry in (new, old, new, old, new):
            importer = sqlite3.connect(store.path, isolation_level=None)
            save_registry(importer, registry)
            importer.close()
    finally:
        stop.set()
        thread.join()
    assert not problems
    assert seen  # the reader ran
    assert office.resident("S0000001") == new.residents["S0000001"]


def test_the_office_start_never_reads_the_registry_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "office.sqlite3"
    conn = sqlite3.connect(db)
    save_registry(conn, synthetic_registry(3000, seed=8))
    conn.close()

    def whole(*args: object, **kwargs: object) -> None:
        raise AssertionError("the office start read the whole registry")

    monkeypatch.setattr(registry_store, "load_registry", whole)
    monkeypatch.setattr(registry_store, "_load", whole)
    monkeypatch.setattr(Registry, "build", whole)
    statements: list[str] = []
    real_connect = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        made: sqlite3.Connection = real_connect(*args, **kwargs)
        made.set_trace_callback(statements.append)
        return made

    monkeypatch.setattr(sqlite3, "connect", traced)
    office = OfficeServer(SITE, db, "mqtt://127.0.0.1:1")  # the kiosk service is opened here
    try:
        resident = office.kiosk.registry.by_card("SYN-000001")
        assert resident is not None and resident.id == "S0000001"
    finally:
        office.stop()
    reads = [s for s in statements if "registry_residents" in s and s.lstrip().upper().startswith("SELECT")]
    # the header check and the one lookup: every read of the residents names one key
    assert reads and all("WHERE" in s or "LIMIT 1" in s for s in reads), reads


def test_a_town_stored_household_by_household_is_the_registry_stored_whole(tmp_path: Path) -> None:
    whole, streamed = tmp_path / "whole.sqlite3", tmp_path / "streamed.sqlite3"
    tables = {}
    for path in (whole, streamed):
        conn = sqlite3.connect(path, isolation_level=None)
        if path == whole:
            summary = save_registry(conn, synthetic_registry(1200, seed=6))
        else:
            save_registry(conn, demo_registry())  # replaced by the streamed town
            summary = registry_store.save_households(conn, DEMO_MUNICIPALITY, synthetic_households(1200, seed=6))
        assert summary.counts["residents"] == 1200
        tables[path] = {t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in registry_store.TABLES}
        conn.close()
    assert tables[whole] == tables[streamed]


def test_a_clash_across_households_stores_nothing(store: OfficeDB) -> None:
    save_registry(store.conn, demo_registry())
    first, second = list(synthetic_households(6, seed=2))[:2]
    clone = dataclasses.replace(  # another household's resident with the first one's My Number
        second, residents=(dataclasses.replace(second.residents[0], my_number=first.residents[0].my_number),)
    )
    clone = dataclasses.replace(
        clone, household=dataclasses.replace(clone.household, member_ids=(clone.residents[0].id,))
    )
    with pytest.raises(RegistryError, match="my_number.*nothing was changed"):
        registry_store.save_households(store.conn, DEMO_MUNICIPALITY, [first, clone])
    with pytest.raises(RegistryError, match="at least one household"):
        registry_store.save_households(store.conn, DEMO_MUNICIPALITY, [])
    lookup = stored_registry(store.conn)
    assert lookup is not None and lookup.by_card("SIM-0001") == demo_registry().residents["R0001"]
    tables = {row[0] for row in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert not {t for t in tables if t.endswith(("_next", "_old"))}
