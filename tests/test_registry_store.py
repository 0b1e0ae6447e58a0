"""The resident registry in the office store: exact round trips, all-or-nothing saves, tampered
rows named, the JSON import/export command, and the office serving the stored registry."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

import pytest

from certificates.registry import (
    Registry,
    RegistryError,
    RegistryLookup,
    SealRegistration,
    Sex,
    demo_registry,
    synthetic_registry,
)
from common.cli import OneLineParser
from harness import SITE, round_the_clock, start_office
from lobby.brokers import MosquittoBroker
from office import config as configmod
from office import registry_cli, registry_store
from office.config import ConfigError
from office.db import OfficeDB
from office.kiosk_service import GO_TO_COUNTER
from office.registry_store import (
    RegistryStoreError,
    load_registry,
    registry_document,
    registry_from_document,
    registry_from_json,
    registry_summary,
    save_registry,
)
from office.server import OfficeServer
from sync import messages

if TYPE_CHECKING:
    from conftest import WaitFor

MAPPINGS = ("residents", "households", "seals", "family_registers", "tax_records")


def _assert_same(loaded: Registry | None, expected: Registry) -> None:
    """Field by field, and in the same order (households list members in register order)."""
    assert loaded is not None
    assert loaded.municipality == expected.municipality
    for name in MAPPINGS:
        got, want = getattr(loaded, name), getattr(expected, name)
        assert list(got) == list(want), name
        for key, value in want.items():
            assert got[key] == value, f"{name}[{key!r}]"
    for resident in expected.residents.values():
        if resident.card_serial is not None:
            assert loaded.by_card(resident.card_serial) == resident
    assert loaded == expected


def _assert_serves(lookup: RegistryLookup, expected: Registry) -> None:
    """Every lookup a certificate makes answers as ``expected`` does."""
    assert lookup.municipality == expected.municipality
    for resident in expected.residents.values():
        assert lookup.resident(resident.id) == resident
        if resident.card_serial is not None:
            assert lookup.by_card(resident.card_serial) == resident
        assert lookup.household_members(resident.household_id) == expected.household_members(resident.household_id)
        assert lookup.head_of(resident) == expected.head_of(resident)
        assert lookup.seal(resident.id) == expected.seal(resident.id)
        assert lookup.family_register(resident) == expected.family_register(resident)
        assert lookup.tax_years(resident.id) == expected.tax_years(resident.id)
        for year in expected.tax_years(resident.id):
            assert lookup.tax_record(resident.id, year) == expected.tax_record(resident.id, year)


def _reopen(path: Path) -> Registry | None:
    """Load through a fresh connection: what is on disk, not what one connection cached."""
    conn = sqlite3.connect(path)
    try:
        return load_registry(conn)
    finally:
        conn.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[OfficeDB]:
    db = OfficeDB(tmp_path / "office.sqlite3")
    try:
        yield db
    finally:
        db.close()


# -- round trips ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make", [demo_registry, lambda: synthetic_registry(800, seed=7)], ids=["demo", "synthetic-800"]
)
def test_a_stored_registry_reads_back_exactly(store: OfficeDB, make: Callable[[], Registry]) -> None:
    registry = make()
    assert load_registry(store.conn) is None  # nothing stored yet
    summary = save_registry(store.conn, registry)
    assert summary.municipality == registry.municipality
    assert summary.counts["residents"] == len(registry.residents)
    assert summary.counts["tax_records"] == len(registry.tax_records)
    assert summary.counts["household_members"] == sum(len(h.member_ids) for h in registry.households.values())
    _assert_same(load_registry(store.conn), registry)
    _assert_same(_reopen(store.path), registry)


def test_the_json_document_round_trips_exactly() -> None:
    for registry in (demo_registry(), synthetic_registry(300, seed=3)):
        text = json.dumps(registry_document(registry), ensure_ascii=False)
        _assert_same(registry_from_document(json.loads(text)), registry)
        _assert_same(registry_from_json(text.encode("utf-8")), registry)


def test_the_export_file_is_the_document_as_json_writes_it() -> None:
    # registry export encodes the models directly; a file written before (json.dumps of the
    # document) and one written now are the same bytes
    for registry in (demo_registry(), synthetic_registry(400, seed=11)):
        expected = json.dumps(registry_document(registry), ensure_ascii=False, indent=1) + "\n"
        assert registry_store.registry_json(registry) == expected.encode("utf-8")


@pytest.mark.parametrize(
    "load", [("load-demo",), ("load-synthetic", "--count", "600", "--seed", "9")], ids=["demo", "synthetic-600"]
)
def test_export_then_import_gives_back_the_same_registry_and_the_same_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], load: tuple[str, ...]
) -> None:
    expected = demo_registry() if load[0] == "load-demo" else synthetic_registry(600, seed=9)
    first, second = tmp_path / "first.sqlite3", tmp_path / "second.sqlite3"
    assert _cli("registry", *load, "--db", str(first)) == 0
    assert _cli("registry", "export", str(tmp_path / "one.json"), "--db", str(first)) == 0
    assert _cli("registry", "import", str(tmp_path / "one.json"), "--db", str(second)) == 0
    _assert_same(_reopen(second), expected)
    assert _cli("registry", "export", str(tmp_path / "two.json"), "--db", str(second)) == 0
    assert (tmp_path / "two.json").read_bytes() == (tmp_path / "one.json").read_bytes()
    # the stored rows too, table by table
    tables = {}
    for db in (first, second):
        conn = sqlite3.connect(db)
        tables[db] = {t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in registry_store.TABLES}
        conn.close()
    assert tables[first] == tables[second]
    capsys.readouterr()


def test_the_models_keep_the_stored_tables_as_they_were(store: OfficeDB) -> None:
    """The columns come from the document's models: a renamed field must not change a table."""
    expected = {
        "registry_info": ["id", "municipality", "format"],
        "registry_residents": [
            "id", "pos", "name", "kana", "birth_date", "sex", "address", "address_since", "resident_since",
            "household_id", "relationship", "my_number", "honseki", "hittosha", "moved_out", "support_measures",
            "gaiji", "nationality", "residence_status", "residence_expiry", "card_serial",
        ],
        "registry_previous_addresses": ["resident_id", "pos", "address", "since"],
        "registry_households": ["id", "pos", "head_id", "address"],
        "registry_household_members": ["household_id", "pos", "resident_id"],
        "registry_seals": ["resident_id", "pos", "number", "registered_on", "impression"],
        "registry_family_registers": ["id", "honseki", "hittosha", "made_on"],
        "registry_register_entries": [
            "register_id", "pos", "name", "birth_date", "sex", "role", "father", "mother", "birthplace",
            "married_on", "resident_id",
        ],
        "registry_tax_records": [
            "resident_id", "fiscal_year", "pos", "income", "deductions", "municipal_tax", "prefectural_tax",
        ],
    }  # fmt: skip
    registry_store.ensure_schema(store.conn)
    for table, columns in expected.items():
        assert [row[1] for row in store.conn.execute(f"PRAGMA table_info({table})")] == columns, table
        assert sorted(registry_store.COLUMNS[table]) == sorted(columns), table


def test_the_document_models_match_the_domain() -> None:
    assert set(get_args(registry_store.SexName)) == {s.value for s in Sex}
    assert get_args(registry_store.FormatName) == (registry_store.FORMAT,) == ("madoguchi-registry/1",)
    doc = registry_document(demo_registry())
    assert list(doc) == [
        "format",
        "municipality",
        "residents",
        "households",
        "seals",
        "family_registers",
        "tax_records",
    ]
    # an export writes every key, nulls and empty lists included, so a clerk sees each field
    assert list(doc["residents"][0]) == [*registry_store.RESIDENT_FIELDS, "previous_addresses"]
    assert doc["residents"][5]["honseki"] is None and doc["residents"][2]["previous_addresses"] == []


def test_a_save_replaces_the_whole_previous_registry(store: OfficeDB) -> None:
    save_registry(store.conn, synthetic_registry(200, seed=1))
    save_registry(store.conn, demo_registry())
    _assert_same(_reopen(store.path), demo_registry())
    counts = registry_summary(store.conn).counts
    assert counts["residents"] == 7 and counts["households"] == 5 and counts["register_entries"] == 6


# -- all or nothing ---------------------------------------------------------------------------------


def test_a_save_cut_short_by_a_full_disk_leaves_the_previous_registry(store: OfficeDB) -> None:
    save_registry(store.conn, demo_registry())
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages + 3}")  # the disk fills during the save
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    with pytest.raises(RegistryStoreError, match="full.*unchanged"):
        save_registry(store.conn, synthetic_registry(800, seed=7))
    store.conn.set_trace_callback(None)
    # it failed half way: new residents were being written beside the old registry, never swapped in
    assert sum(s.startswith("INSERT INTO registry_residents_next") for s in statements) > 1
    assert not any("RENAME" in s for s in statements)
    _assert_same(_reopen(store.path), demo_registry())
    assert not store.conn.in_transaction
    tables = {row[0] for row in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert not {t for t in tables if t.endswith(("_next", "_old"))}  # no staging left behind


@pytest.mark.parametrize("outer", [False, True], ids=["own-transaction", "inside-the-office-transaction"])
def test_a_save_failing_at_its_last_table_stores_nothing(
    store: OfficeDB, monkeypatch: pytest.MonkeyPatch, outer: bool
) -> None:
    save_registry(store.conn, demo_registry())
    real_rows = registry_store._rows

    def rows_with_a_clash(doc: Any) -> dict[str, list[tuple[Any, ...]]]:
        rows = real_rows(doc)
        rows["registry_tax_records"].append(rows["registry_tax_records"][0])  # the last table's primary key clashes
        return rows

    monkeypatch.setattr(registry_store, "_rows", rows_with_a_clash)
    bigger = synthetic_registry(100, seed=5)
    if outer:
        with store.transaction():
            store.conn.execute("INSERT INTO meta(key, value) VALUES ('other work', 'kept')")
            with pytest.raises(RegistryError, match="nothing was changed"):
                save_registry(store.conn, bigger)
        assert store.conn.execute("SELECT value FROM meta WHERE key='other work'").fetchone()[0] == "kept"
    else:
        with pytest.raises(RegistryError, match="nothing was changed"):
            save_registry(store.conn, bigger)
    _assert_same(_reopen(store.path), demo_registry())


def test_a_registry_the_store_could_not_give_back_is_refused_before_anything_is_written(store: OfficeDB) -> None:
    save_registry(store.conn, demo_registry())
    demo = demo_registry()
    seals = [*demo.seals.values(), SealRegistration("R0006", "000123", demo.seals["R0001"].registered_on, "NGUYEN")]
    clash = Registry.build(
        demo.municipality,
        demo.residents.values(),
        demo.households.values(),
        seals,
        demo.family_registers.values(),
        demo.tax_records.values(),
    )
    with pytest.raises(RegistryError, match="seal 000123: resident R0006 .* R0001"):
        save_registry(store.conn, clash)
    # a registry made without Registry.build's checks: a household naming a stranger
    broken = dataclasses.replace(
        demo, households={**demo.households, "H009": dataclasses.replace(demo.households["H002"], id="H009")}
    )
    with pytest.raises(RegistryError, match="household H009"):
        save_registry(store.conn, broken)
    _assert_same(_reopen(store.path), demo_registry())


# -- tampered rows ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        (
            "UPDATE registry_residents SET birth_date='1980-13-01' WHERE id='R0001'",
            "registry_residents R0001.birth_date",
        ),
        ("UPDATE registry_residents SET sex='m' WHERE id='R0002'", "registry_residents R0002.sex"),
        ("UPDATE registry_residents SET name=X'5941' WHERE id='R0003'", "registry_residents R0003.name"),
        (
            "UPDATE registry_residents SET support_measures=2 WHERE id='R0005'",
            "registry_residents R0005.support_measures",
        ),
        ("UPDATE registry_residents SET my_number='910000000016' WHERE id='R0001'", "resident R0001: my_number"),
        ("UPDATE registry_residents SET household_id='H002' WHERE id='R0003'", "household H001: member R0003 belongs"),
        (
            "UPDATE registry_household_members SET resident_id='R0999' WHERE household_id='H001' AND pos=2",
            "household H001: member R0999 is not a resident",
        ),
        ("DELETE FROM registry_household_members WHERE household_id='H002'", "household H002"),
        (
            "INSERT INTO registry_previous_addresses VALUES ('R0404', 0, 'x', '2000-01-01')",
            "registry_previous_addresses R0404#0",
        ),
        (
            "UPDATE registry_seals SET registered_on='2008/04/07' WHERE resident_id='R0001'",
            "registry_seals R0001.registered_on",
        ),
        (
            "UPDATE registry_tax_records SET income=-5 WHERE resident_id='R0001' AND fiscal_year=2024",
            "registry_tax_records R0001/2024.income",
        ),
        (
            "UPDATE registry_register_entries SET resident_id='R0999' WHERE register_id=0 AND pos=0",
            "member R0999 is not a resident",
        ),
        (
            "INSERT INTO registry_register_entries VALUES (77, 0, 'x', '2000-01-01', 'male', '本人', '', '', '', NULL, NULL)",
            "registry_register_entries 77#0",
        ),
        ("DELETE FROM registry_info", "registry_info has none"),
        ("UPDATE registry_info SET format='other/9'", "registry_info.format"),
    ],
)
def test_a_tampered_row_is_named_when_the_registry_is_loaded(store: OfficeDB, sql: str, named: str) -> None:
    save_registry(store.conn, demo_registry())
    store.conn.execute(sql)
    with pytest.raises(RegistryError, match="^stored registry: ") as caught:
        load_registry(store.conn)
    assert named in str(caught.value)
    assert not store.conn.in_transaction  # the read transaction was closed


# -- the registry command ---------------------------------------------------------------------------


def _cli(*argv: str) -> int:
    parser = OneLineParser(prog="madoguchi-office")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    registry_cli.add_parser(sub)
    args: argparse.Namespace = parser.parse_args(list(argv))
    return registry_cli.run(args)


def _cli_error(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """The exit status and the one error line of a command that fails."""
    with pytest.raises(SystemExit) as caught:
        _cli(*argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return int(caught.value.code or 0), err


def test_load_demo_export_and_import_through_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "var" / "office.sqlite3"
    assert _cli("registry", "load-demo", "--db", str(db)) == 0
    assert "7 residents" in capsys.readouterr().out
    exported = tmp_path / "registry.json"
    assert _cli("registry", "export", str(exported), "--db", str(db)) == 0
    assert exported.stat().st_mode & 0o077 == 0  # personal data: the owner's only
    doc = json.loads(exported.read_text(encoding="utf-8"))
    assert doc["format"] == "madoguchi-registry/1" and doc["municipality"] == "まどぐち町"
    _assert_same(registry_from_document(doc), demo_registry())
    # a town edits the file and imports it
    doc["residents"][0]["name"] = "山田\u3000太朗"
    exported.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    other = tmp_path / "other.sqlite3"
    assert _cli("registry", "import", str(exported), "--db", str(other)) == 0
    stored = _reopen(other)
    assert stored is not None and stored.residents["R0001"].name == "山田\u3000太朗"
    assert stored.residents["R0002"] == demo_registry().residents["R0002"]


def _mutate(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    if value is _DROP:
        del target[path[-1]]
    else:
        target[path[-1]] = value


_DROP = object()


# Each message names the record (its index and id), the key, and what to write instead.
@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (
            ("residents", 2, "birth_date"),
            "2014/06/20",
            (
                'residents[2] (R0003).birth_date: expected a date like "1980-04-01" (YYYY-MM-DD, a day that exists),'
                ' got "2014/06/20"'
            ),
        ),
        (
            ("residents", 0, "birthday"),
            "1980-04-01",
            'residents[0] (R0001).birthday: unknown key; did you mean "birth_date"?; allowed here: id, name, kana,',
        ),
        (("residents", 1, "sex"), "F", 'residents[1] (R0002).sex: expected "male" or "female", got "F"'),
        (
            ("residents", 4, "support_measures"),
            "yes",
            'residents[4] (R0005).support_measures: expected true or false (without quotes), got "yes"',
        ),
        (
            ("residents", 0, "previous_addresses", 1, "since"),
            None,
            'residents[0] (R0001).previous_addresses[1].since: expected a date like "1980-04-01"',
        ),
        (
            ("residents", 3, "kana"),
            _DROP,
            'residents[3] (R0004).kana: required: the reading of the name in katakana, e.g. "ヤマダ\u3000タロウ"',
        ),
        (("households", 0, "member_ids", 2), "R0404", "household H001: member R0404 is not a resident"),
        (
            ("households", 0, "member_ids"),
            "R0001",
            'households[0] (H001).member_ids: expected a list of resident ids, the head first, e.g. ["R0001", "R0002"]',
        ),
        (
            ("seals", 1, "registered_on"),
            20100514,
            (
                'seals[1] (R0002).registered_on: expected a date like "1980-04-01" (YYYY-MM-DD, a day that exists),'
                " got 20100514"
            ),
        ),
        (
            ("family_registers", 0, "members", 1, "sex"),
            "woman",
            'family_registers[0] (みなと県まどぐち町本町一丁目2番地).members[1].sex: expected "male" or "female", got "woman"',
        ),
        (
            ("tax_records", 0, "income"),
            "5120000",
            (
                'tax_records[0] (R0001).income: expected a whole number of yen from 0 to 10000000000000, got "5120000";'
                " write the number alone, e.g. 5120000"
            ),
        ),
        (
            ("tax_records", 3, "fiscal_year"),
            25,
            (
                "tax_records[3] (R0002).fiscal_year: expected a whole-number fiscal year (年度) from 1868 to 9999, e.g. 2025,"
                " got 25"
            ),
        ),
        (
            ("residents", 0, "my_number"),
            910000000015,
            (
                'residents[0] (R0001).my_number: expected 12 digits as a text, e.g. "910000000015", got 910000000015;'
                ' quote it: "910000000015"'
            ),
        ),
        (
            ("residents", 6, "honseki"),
            "",
            'residents[6] (R0007).honseki: expected a non-empty text, or null when there is none, got ""',
        ),
        (
            ("residents", 1, "my_number"),
            "９１００００００００２３",  # full-width digits, as a Japanese input method types them
            'residents[1] (R0002).my_number: expected 12 digits as a text, e.g. "910000000015", got "９１',
        ),
        (("residents", 5, "my_number"), "910000000067", "resident R0006: my_number"),
        (
            ("format",),
            "madoguchi-registry/0",
            'format: expected "madoguchi-registry/1" (the format registry export writes), got "madoguchi-registry/0"',
        ),
        (("households",), [], "households: expected at least 1 item, got 0; give at least one household"),
        (("residents",), _DROP, "residents: required: give at least one resident"),
    ],
)
def test_a_bad_import_names_the_field_and_keeps_the_previous_registry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: tuple[Any, ...], value: Any, named: str
) -> None:
    db = tmp_path / "office.sqlite3"
    assert _cli("registry", "load-synthetic", "--count", "50", "--seed", "2", "--db", str(db)) == 0
    doc = copy.deepcopy(registry_document(demo_registry()))
    _mutate(doc, path, value)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    capsys.readouterr()
    code, err = _cli_error(capsys, "registry", "import", str(bad), "--db", str(db))
    assert code == 2
    assert named in err and "nothing was stored" in err
    _assert_same(_reopen(db), synthetic_registry(50, seed=2))
    # an already parsed document gets the same words as the file decoded straight into the models
    with pytest.raises(RegistryError) as caught:
        registry_from_document(doc)
    assert str(caught.value) in err


@pytest.mark.parametrize("day", ["2025-02-30", "1980-13-01", "1980-4-1", "19800401", "1980-04-01T00:00", " 1980-04-01"])
def test_a_date_that_is_not_a_date_is_named_with_its_record(day: str) -> None:
    doc = registry_document(demo_registry())
    doc["residents"][2]["birth_date"] = day
    with pytest.raises(RegistryError) as caught:
        registry_from_json(json.dumps(doc).encode())
    assert str(caught.value) == (
        f'residents[2] (R0003).birth_date: expected a date like "1980-04-01" (YYYY-MM-DD, a day that exists),'
        f" got {json.dumps(day)}"
    )


def test_an_unknown_key_names_the_keys_allowed_there() -> None:
    doc = registry_document(demo_registry())
    doc["residents"][3]["nickname"] = "ジロー"
    with pytest.raises(RegistryError) as caught:
        registry_from_document(doc)
    where, _, allowed = str(caught.value).partition("; allowed here: ")
    assert where.startswith("residents[3] (R0004).nickname: unknown key")
    assert allowed.split(", ") == [*registry_store.RESIDENT_FIELDS, "previous_addresses"]
    doc = registry_document(demo_registry())
    doc["tax_records"][1]["tax"] = 1
    with pytest.raises(
        RegistryError, match=r"^tax_records\[1\] \(R0001\)\.tax: unknown key; .*allowed here: resident_id,"
    ):
        registry_from_document(doc)


def test_a_document_of_another_format_is_named_by_its_format() -> None:
    # the first difference msgspec meets is an unknown key, but the format is what is wrong
    doc = {"format": "madoguchi-registry/2", "residents": [{"id": "R1", "ward": "北区"}]}
    for raw in (json.dumps(doc).encode(), json.dumps({**doc, "format": None}).encode()):
        with pytest.raises(RegistryError, match=r'^format: expected "madoguchi-registry/1" '):
            registry_from_json(raw)
    with pytest.raises(RegistryError, match=r"^format: required: "):
        registry_from_document({"residents": []})
    with pytest.raises(RegistryError, match=r"^registry document: expected a JSON object with format, municipality"):
        registry_from_json(b"[]")


def test_a_record_without_its_id_is_named_by_its_index() -> None:
    doc = registry_document(demo_registry())
    doc["residents"][1]["id"] = ""
    with pytest.raises(RegistryError, match=r'^residents\[1\]\.id: expected a non-empty text, got ""$'):
        registry_from_document(doc)
    doc = registry_document(demo_registry())
    doc["seals"][0] = "000123"
    with pytest.raises(RegistryError, match=r"^seals\[0\]: expected a JSON object with resident_id, number, "):
        registry_from_document(doc)


def test_unreadable_import_files_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "office.sqlite3"
    not_json = tmp_path / "registry.json"
    not_json.write_text('{"format": "madoguchi-registry/1",\n "residents": [,]}', encoding="utf-8")
    code, err = _cli_error(capsys, "registry", "import", str(not_json), "--db", str(db))
    assert code == 2 and "not valid JSON (line 2" in err
    not_json.write_bytes('{"format": "madoguchi-registry/1", "municipality": "まどぐち町"}'.encode("shift_jis"))
    code, err = _cli_error(capsys, "registry", "import", str(not_json), "--db", str(db))
    assert code == 2 and "not UTF-8 text; save the registry document as UTF-8" in err
    not_json.write_bytes(b'{"format": "madoguchi-registry/1", "residents": [1, 2}')
    code, err = _cli_error(capsys, "registry", "import", str(not_json), "--db", str(db))
    assert code == 2 and "not valid JSON (line 1, column 54: " in err
    code, err = _cli_error(capsys, "registry", "import", str(tmp_path / "missing.json"), "--db", str(db))
    assert code == 2 and "missing.json: cannot read" in err
    code, err = _cli_error(capsys, "registry", "load-synthetic", "--count", "0", "--db", str(db))
    assert code == 2 and "--count" in err
    assert not db.exists()  # nothing was created for a command that failed its checks


def test_status_and_export_say_when_there_is_nothing_to_show(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "office.sqlite3"
    code, err = _cli_error(capsys, "registry", "status", "--db", str(db))
    assert code == 2 and "no office store there (--db)" in err and not db.exists()
    not_a_store = tmp_path / "notes.txt"
    not_a_store.write_text("hello\n" * 100)
    code, err = _cli_error(capsys, "registry", "status", "--db", str(not_a_store))
    assert code == 2 and "not an office store" in err
    OfficeDB(db).close()
    assert _cli("registry", "status", "--db", str(db)) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["stored"] is False and "holds no resident registry" in captured.err
    assert _cli("registry", "export", str(tmp_path / "out.json"), "--db", str(db)) == 1
    assert not (tmp_path / "out.json").exists()


def test_status_counts_a_synthetic_town_and_reports_a_tampered_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "office.sqlite3"
    assert _cli("registry", "load-synthetic", "--count", "300", "--seed", "7", "--db", str(db)) == 0
    capsys.readouterr()
    assert _cli("registry", "status", "--db", str(db)) == 0
    status = json.loads(capsys.readouterr().out)
    expected = synthetic_registry(300, seed=7)
    assert status["stored"] and status["usable"] and status["residents"] == 300
    assert status["households"] == len(expected.households) and status["seals"] == len(expected.seals)
    assert _cli("registry", "export", "-", "--db", str(db)) == 0
    assert json.loads(capsys.readouterr().out) == registry_document(expected)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE registry_residents SET sex='x' WHERE pos=4")
    conn.commit()
    conn.close()
    assert _cli("registry", "status", "--db", str(db)) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["usable"] is False and "S0000005.sex" in captured.err


# -- the office serves the stored registry ---------------------------------------------------------


def test_the_office_seeds_the_demo_registry_then_serves_the_stored_one(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    db = tmp_path / "office.sqlite3"
    office = start_office(mosquitto.url, db)
    try:
        _assert_serves(office.kiosk.registry, demo_registry())
    finally:
        office.stop()
    _assert_same(_reopen(db), demo_registry())  # seeded into the empty store
    # the town changes a name in its store: the next start serves that, not the demo in code
    demo = demo_registry()
    renamed = dataclasses.replace(demo.residents["R0001"], name="山田\u3000太朗")
    changed = Registry.build(
        demo.municipality,
        [renamed, *list(demo.residents.values())[1:]],
        demo.households.values(),
        demo.seals.values(),
        demo.family_registers.values(),
        demo.tax_records.values(),
    )
    conn = sqlite3.connect(db)
    save_registry(conn, changed)
    conn.close()
    office = start_office(mosquitto.url, db)
    try:
        card = office.kiosk.registry.by_card("SIM-0001")
        assert card is not None and card.name == "山田\u3000太朗"
        _assert_serves(office.kiosk.registry, changed)
    finally:
        office.stop()


def _sign_in(mosquitto: MosquittoBroker, tmp_path: Path, jpki_dir: Path, serial: str, wait_for: WaitFor) -> Any:
    """A kiosk agent signs in with a simulated My Number card, as in test_kiosk_office."""
    from drivers.jpki import JpkiCard
    from drivers.jpki_sim import SimulatedCardReader, SimulatedJpkiCa, demo_pin
    from kiosk.office_link import AgentOffice
    from sync.agent import AgentConfig, DeviceAgent

    jpki = SimulatedJpkiCa.open(jpki_dir)
    agent = DeviceAgent(
        AgentConfig(
            site=SITE.site, device_id="kiosk-1", role="kiosk", broker_url=mosquitto.url, data_dir=tmp_path / "kiosk-1"
        )
    )
    link = AgentOffice(agent)
    agent.start()
    try:
        wait_for(lambda: agent.office_online and agent.connected, message="the kiosk agent did not see the office")
        reader = SimulatedCardReader()
        reader.insert(jpki.demo_card(serial))
        card = JpkiCard(reader.connect())
        card.select()
        assert card.verify_pin(demo_pin(serial)).ok
        challenge = link.challenge(uuid.uuid4().hex, 5)
        options = {"scope": "household", "with_honseki": False, "with_zokugara": True, "with_my_number": False}
        return link.authenticate(
            messages.AuthenticateRequest(
                request_id=uuid.uuid4().hex,
                challenge_id=challenge.challenge_id,
                certificate=card.read_certificate(),
                signature=card.sign(challenge.nonce),
                kind="juminhyo",
                options=options,
                copies=1,
            ),
            5,
        )
    finally:
        agent.stop()


def test_store_mode_with_an_empty_store_sends_every_card_to_a_counter(
    mosquitto: MosquittoBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture, wait_for: WaitFor
) -> None:
    from drivers.jpki_sim import SimulatedJpkiCa

    jpki_dir = tmp_path / "jpki"
    ca = SimulatedJpkiCa.open(jpki_dir)
    config = round_the_clock(SITE, jpki_ca=str(ca.certificate_path), registry="store")
    db = tmp_path / "office.sqlite3"
    with caplog.at_level(logging.WARNING, logger="office.server"):
        office = start_office(mosquitto.url, db, config)
    try:
        assert office.kiosk.registry.by_card("SIM-0001") is None
        auth = _sign_in(mosquitto, tmp_path, jpki_dir, "SIM-0001", wait_for)
        # the refusal of a card the registry does not know, before any fee is quoted
        assert not auth.ok and auth.refusal == GO_TO_COUNTER and auth.session_token is None and auth.fee is None
    finally:
        office.stop()
    empty = [r for r in caplog.records if "holds no resident registry" in r.getMessage()]
    assert len(empty) == 1 and "registry import" in empty[0].getMessage()
    assert _reopen(db) is None  # "store" never seeds the demo town


def test_a_tampered_store_leaves_the_office_running_and_untouched(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "office.sqlite3"
    conn = sqlite3.connect(db)
    save_registry(conn, demo_registry())
    conn.execute("UPDATE registry_tax_records SET income=-1 WHERE resident_id='R0007'")
    conn.commit()
    conn.close()
    # not started: the kiosk service is built in the constructor, before any broker is needed
    with caplog.at_level(logging.ERROR, logger="office.server"):
        office = OfficeServer(SITE, db, "mqtt://127.0.0.1:1")
    try:
        # the start reads no record, so the bad row is met when it is looked up, and named then
        assert office.kiosk.registry.by_card("SIM-0001") == demo_registry().residents["R0001"]
        with pytest.raises(RegistryError, match="registry_tax_records R0007/2025.income"):
            office.kiosk.registry.tax_years("R0007")
    finally:
        office.stop()
    conn = sqlite3.connect(db)  # demo mode did not paper over the town's data with the demo
    assert conn.execute("SELECT income FROM registry_tax_records WHERE resident_id='R0007'").fetchone()[0] == -1
    conn.close()


def test_an_explicit_registry_wins_over_the_store(tmp_path: Path) -> None:
    town = synthetic_registry(20, seed=4)
    office = OfficeServer(SITE, tmp_path / "office.sqlite3", "mqtt://127.0.0.1:1", registry=town)
    try:
        assert office.kiosk.registry is town
    finally:
        office.stop()
    assert _reopen(tmp_path / "office.sqlite3") is None


# -- the site setting -------------------------------------------------------------------------------


def test_the_kiosk_registry_setting_is_validated() -> None:
    base = tomllib_demo()
    assert configmod.parse(base).kiosk.registry == "demo"
    assert configmod.parse({**base, "kiosk": {"registry": "store"}}).kiosk.registry == "store"
    with pytest.raises(ConfigError, match=r'kiosk\.registry: expected "demo" .* or "store"'):
        configmod.parse({**base, "kiosk": {"registry": "file"}})


def tomllib_demo() -> dict[str, Any]:
    import tomllib
    from importlib import resources

    return tomllib.loads(resources.files("office").joinpath("default_site.toml").read_text(encoding="utf-8"))
