"""office/stats/export.py: the report's CSV (a BOM and CRLF for Excel in Japan), XLSX (numbers as
numbers, sheet names, the header frozen), the ticket log as Parquet read back through DuckDB,
the kiosk's figures from a real store, and a report directory that is a file refused in one
sentence.
"""

from __future__ import annotations

import csv
import io
import itertools
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import openpyxl
import pytest

from office.issuance import CashEventType, CashReport, IssuanceBook
from office.stats import export
from office.stats.export import (
    ExportError,
    display_width,
    export_all,
    kiosk_tables,
    write_csv,
    write_log_parquet,
    write_xlsx,
)
from office.stats.table import Table
from office.ticket_log import Kind, LogRow

TOKYO = ZoneInfo("Asia/Tokyo")


def ms(month: int, day: int, hour: int, minute: int = 0) -> int:
    """Unix ms of a Tokyo wall time in 2026."""
    return int(datetime(2026, month, day, hour, minute, tzinfo=TOKYO).timestamp() * 1000)


BY_PURPOSE = Table(
    name="by_purpose",
    title="目的別の件数",
    columns=("目的", "件数", "平均待ち時間（分）", "備考"),
    rows=(
        ("転入", 42, 12.5, None),
        ("印鑑登録", 7, 3.25, 'カンマ, と "引用符"'),
        ("=SUM(B2:B3)", 0, 0.0, "改行\nあり"),
    ),
)
BY_HOUR = Table(name="by_hour", title="Arrivals by hour", columns=("hour", "arrivals"), rows=((9, 30), (10, 45)))
EMPTY = Table(name="empty", title="Nothing yet", columns=("a", "b"), rows=())


# -- CSV ----------------------------------------------------------------------------------------


def test_csv_is_utf8_with_a_bom_and_crlf_and_reads_back_the_same(tmp_path: Path) -> None:
    paths = write_csv([BY_PURPOSE, BY_HOUR, EMPTY], tmp_path)
    assert paths == [tmp_path / "by_purpose.csv", tmp_path / "by_hour.csv", tmp_path / "empty.csv"]
    raw = paths[0].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # how Excel tells UTF-8 from Shift_JIS
    assert raw[3:].decode("utf-8").startswith("目的,件数,")
    # Every record ends in CRLF; the newline inside a quoted cell stays as it was.
    assert raw.endswith(b"\r\n") and raw.count(b"\r\n") == 1 + len(BY_PURPOSE.rows)
    with paths[0].open(encoding="utf-8-sig", newline="") as f:
        read = list(csv.reader(f))
    assert read[0] == list(BY_PURPOSE.columns)
    assert read[1:] == [["" if v is None else str(v) for v in row] for row in BY_PURPOSE.rows]
    assert paths[2].read_bytes() == b"\xef\xbb\xbfa,b\r\n"  # a table without rows is its header
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


@pytest.mark.parametrize("name", ["../escape", "", "a/b", "x" * 65])
def test_a_table_name_that_is_no_file_name_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ExportError, match="expected a name of letters"):
        write_csv([Table(name, "t", ("a",), ())], tmp_path / "out")


def test_two_tables_of_one_name_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="the same file"):
        write_csv([BY_HOUR, Table("BY_HOUR", "t", ("a",), ())], tmp_path)


# -- XLSX ---------------------------------------------------------------------------------------


def test_xlsx_reads_back_with_numbers_as_numbers_and_its_sheets(tmp_path: Path) -> None:
    path = write_xlsx([BY_PURPOSE, BY_HOUR, EMPTY], tmp_path / "report.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["by_purpose", "by_hour", "empty"]
    ws = wb["by_purpose"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == BY_PURPOSE.columns
    assert rows[1:] == list(BY_PURPOSE.rows)
    assert ws["B2"].data_type == "n" and ws["C3"].data_type == "n" and isinstance(ws["C3"].value, float)
    assert ws["A4"].data_type == "s"  # text that looks like a formula stays text
    assert ws["A1"].font.b and ws.freeze_panes == "A2"
    # Fitted to the content: the Japanese header counts two columns a character.
    assert ws.column_dimensions["C"].width == display_width("平均待ち時間（分）") + 2 == 20
    hours = wb["by_hour"]
    assert [[c.value for c in row] for row in hours.iter_rows(min_row=2)] == [[9, 30], [10, 45]]
    assert all(c.data_type == "n" for row in hours.iter_rows(min_row=2) for c in row)
    assert list(wb["empty"].iter_rows(values_only=True)) == [("a", "b")]
    assert not list(tmp_path.glob(".*"))


def test_sheet_names_are_cut_to_31_characters_and_kept_unique(tmp_path: Path) -> None:
    long = "waiting_time_by_purpose_and_station"
    tables = [Table(long, "t", ("a",), ((1,),)), Table(long + "_2", "t", ("a",), ((2,),))]
    wb = openpyxl.load_workbook(write_xlsx(tables, tmp_path / "r.xlsx"))
    assert wb.sheetnames == [long[:31], long[:29] + "~2"]
    assert all(len(name) <= 31 for name in wb.sheetnames)


def test_a_workbook_without_tables_still_opens(tmp_path: Path) -> None:
    assert len(openpyxl.load_workbook(write_xlsx([], tmp_path / "r.xlsx")).sheetnames) == 1


def test_display_width_counts_wide_characters_twice() -> None:
    assert display_width("abc") == 3
    assert display_width("転入") == 4
    assert display_width("ＡＢ") == 4  # full-width Latin
    assert display_width("ｱｲ") == 2  # half-width kana


# -- Parquet ------------------------------------------------------------------------------------


def _log() -> list[LogRow]:
    return [
        LogRow(ms(4, 1, 8, 31), "2026-04-01-1101", "2026-04-01", Kind.ISSUED, "moving", device="disp-1"),
        LogRow(ms(4, 1, 8, 40), "2026-04-01-1101", "2026-04-01", Kind.CALLED, "moving", "reception", 3, "suzuki.h"),
        LogRow(ms(4, 1, 9, 5), "2026-04-01-1101", "2026-04-01", Kind.MOVED, "moving", "review", 3, detail="reception"),
        # After midnight, still the business day before (rollover at 03:00).
        LogRow(ms(4, 2, 1, 15), "2026-04-01-1101", "2026-04-01", Kind.DONE, "moving", "done", detail=""),
        LogRow(ms(4, 2, 9, 0), "2026-04-02-2001", "2026-04-02", Kind.TRANSFERRED, "seal", detail='転入, "旧"\n2行'),
    ]


def test_parquet_reads_back_through_duckdb_with_the_same_rows_and_types(tmp_path: Path) -> None:
    path = tmp_path / "ticket_log.parquet"
    rows = _log()
    assert write_log_parquet(iter(rows), path, TOKYO) == len(rows)
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '{path}')").fetchall())
    assert types == {
        "at": "TIMESTAMP WITH TIME ZONE",
        "local_at": "TIMESTAMP",
        "at_ms": "BIGINT",
        "day": "DATE",
        "ticket_id": "VARCHAR",
        "kind": "VARCHAR",
        "category": "VARCHAR",
        "station": "VARCHAR",
        "counter": "INTEGER",
        "username": "VARCHAR",
        "device": "VARCHAR",
        "detail": "VARCHAR",
    }
    back = con.execute(
        "SELECT at_ms, ticket_id, strftime(\"day\", '%Y-%m-%d'), kind, category, station, counter, username, device,"
        f" detail FROM '{path}'"
    ).fetchall()
    # In the order written; None stays NULL and "" stays an empty string.
    assert back == [
        (r.at_ms, r.ticket_id, r.day, r.kind.value, r.category, r.station, r.counter, r.username, r.device, r.detail)
        for r in rows
    ]
    count, hour_utc, hour_local, epoch_ok = con.execute(
        f"SELECT count(*), max(hour(\"at\")) FILTER (WHERE kind='done'), max(hour(local_at)) FILTER (WHERE kind='done'),"
        f" bool_and(epoch_ms(\"at\") = at_ms) FROM '{path}'"
    ).fetchone() or (0, 0, 0, False)
    assert (count, hour_utc, hour_local, epoch_ok) == (5, 16, 1, True)  # 01:15 in Tokyo is 16:15 UTC
    meta = dict(con.execute(f"SELECT key, value FROM parquet_kv_metadata('{path}')").fetchall())
    assert meta[b"timezone"] == b"Asia/Tokyo"
    codec = con.execute(f"SELECT DISTINCT compression FROM parquet_metadata('{path}')").fetchall()
    assert codec == [("ZSTD",)]
    assert not list(tmp_path.glob(".*"))


def test_an_empty_log_is_a_parquet_file_of_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "ticket_log.parquet"
    assert write_log_parquet([], path, TOKYO) == 0
    assert duckdb.connect().execute(f"SELECT count(*) FROM '{path}'").fetchall() == [(0,)]


def test_a_failed_parquet_export_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "ticket_log.parquet"
    write_log_parquet(_log()[:1], path, TOKYO)
    before = path.read_bytes()
    bad = LogRow(ms(4, 1, 9), "t", "April 1", Kind.ISSUED, "moving")
    with pytest.raises(ExportError, match="ticket_log.parquet: DuckDB could not write the ticket log"):
        write_log_parquet([bad], path, TOKYO)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ticket_log.parquet"]


def test_a_million_rows_export_in_seconds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A thousand distinct rows, a thousand times over: the export does the same work per row
    # (building the rows themselves would take longer than exporting them).
    kinds = list(Kind)
    distinct = [
        LogRow(
            ms(4, 1 + i % 28, 9) + i * 1000,
            f"2026-04-{1 + i % 28:02d}-{1000 + i}",
            f"2026-04-{1 + i % 28:02d}",
            kinds[i % len(kinds)],
            "moving" if i % 2 else "seal",
            "review" if i % 3 else None,
            i % 9 or None,
            "suzuki.h" if i % 4 else None,
            "disp-1",
            None if i % 5 else "reception",
        )
        for i in range(1000)
    ]
    rows = list(itertools.chain.from_iterable(itertools.repeat(distinct, 1000)))
    path = tmp_path / "ticket_log.parquet"
    started = time.perf_counter()
    assert write_log_parquet(rows, path, TOKYO) == 1_000_000
    took = time.perf_counter() - started
    with capsys.disabled():
        print(f"\n1,000,000 log rows to Parquet: {took:.2f} s, {path.stat().st_size / 1e6:.1f} MB")
    assert duckdb.connect().execute(f"SELECT count(*) FROM '{path}'").fetchall() == [(1_000_000,)]


# -- the kiosk's figures ------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(tmp_path / "office.sqlite3", isolation_level=None)
    yield conn
    conn.close()


def _cash(event_id: str, type: CashEventType, amount: int, request_id: str | None, at_ms: int) -> CashReport:
    return CashReport(event_id, type, amount, request_id, at_ms)


def test_kiosk_tables_from_a_store(store: sqlite3.Connection) -> None:
    book = IssuanceBook(store, TOKYO, site_code="demo-town")
    issue = book.issue
    issue("r1", "kiosk-1", "SIM-1", "juminhyo", {"scope": "members"}, 2, 600, ms(4, 1, 9, 10))
    issue("r2", "kiosk-1", "SIM-2", "juminhyo", {"scope": "members"}, 1, 300, ms(4, 1, 9, 50))
    issue("r3", "kiosk-2", "SIM-3", "inkan", {}, 1, 300, ms(4, 1, 14, 5))
    issue("r4", "kiosk-2", "SIM-4", "inkan", {}, 1, 300, ms(4, 2, 14, 30))
    issue("r5", "kiosk-1", "SIM-5", "juminhyo", {"scope": "members"}, 1, 300, ms(4, 2, 10))
    book.void("r5", "printer_jam", ms(4, 2, 10, 1))  # not printed: not counted
    issue("r6", "kiosk-1", "SIM-6", "juminhyo", {"scope": "members"}, 1, 300, ms(4, 3, 10))  # after the period
    book.record_cash("kiosk-1", "2026-04-01", _cash("k1:1", CashEventType.FEE_KEPT, 600, "r1", ms(4, 1, 9, 11)))
    book.record_cash("kiosk-1", "2026-04-01", _cash("k1:2", CashEventType.FEE_KEPT, 300, "r2", ms(4, 1, 9, 51)))
    book.record_cash("kiosk-2", "2026-04-01", _cash("k2:1", CashEventType.FEE_KEPT, 300, "r3", ms(4, 1, 14, 6)))
    book.record_cash("kiosk-2", "2026-04-02", _cash("k2:2", CashEventType.FEE_KEPT, 300, "r4", ms(4, 2, 14, 31)))
    book.record_cash("kiosk-1", "2026-04-02", _cash("k1:3", CashEventType.REFUND_PAID, 200, "r5", ms(4, 2, 10, 2)))
    book.record_cash("kiosk-1", "2026-04-02", _cash("k1:4", CashEventType.REFUND_OWED, 100, "r5", ms(4, 2, 10, 2)))
    book.record_cash("kiosk-1", "2026-04-03", _cash("k1:5", CashEventType.FEE_KEPT, 300, "r6", ms(4, 3, 10, 1)))

    certificates, cash = kiosk_tables(store, "2026-04-01", "2026-04-02", TOKYO)
    assert certificates.name == "kiosk_certificates" and cash.name == "kiosk_cash"
    assert certificates.columns == ("kind", "hour", "issued", "copies", "fees (yen)")
    assert certificates.rows == (("inkan", 14, 2, 2, 600), ("juminhyo", 9, 2, 3, 900))
    assert cash.rows == (
        ("2026-04-01", "kiosk-1", 900, 0, 0, 0),
        ("2026-04-01", "kiosk-2", 300, 0, 0, 0),
        ("2026-04-02", "kiosk-1", 0, 200, 100, 1),
        ("2026-04-02", "kiosk-2", 300, 0, 0, 0),
    )


def test_a_store_without_a_kiosk_gives_empty_tables(store: sqlite3.Connection) -> None:
    store.execute("CREATE TABLE tickets (ticket_id TEXT)")
    tables = kiosk_tables(store, "2026-04-01", "2026-04-30", TOKYO)
    assert [(t.name, t.rows) for t in tables] == [("kiosk_certificates", ()), ("kiosk_cash", ())]
    assert all(t.columns for t in tables)  # still a header for the file


# -- the whole report ---------------------------------------------------------------------------


def test_export_all_writes_the_report_into_a_directory_that_already_holds_files(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "2026-04"
    out.mkdir(parents=True)
    (out / "notes.txt").write_text("kept")
    (out / "report.xlsx").write_bytes(b"last run's")
    paths = export_all([BY_PURPOSE, BY_HOUR], _log(), out, TOKYO)
    assert paths == [out / "report.xlsx", out / "by_purpose.csv", out / "by_hour.csv", out / "ticket_log.parquet"]
    assert (out / "notes.txt").read_text() == "kept"
    assert openpyxl.load_workbook(out / "report.xlsx").sheetnames == ["by_purpose", "by_hour"]
    assert sorted(p.name for p in out.iterdir()) == sorted(["notes.txt", *(p.name for p in paths)])
    assert all(p.stat().st_mode & 0o777 == export.FILE_MODE for p in paths)
    # Created when missing.
    assert export_all([BY_HOUR], [], tmp_path / "new" / "dir", TOKYO)[0].is_file()


def test_an_out_path_that_is_a_file_is_one_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "2026-04"
    out.write_text("not a directory")
    with pytest.raises(ExportError) as caught:
        export_all([BY_HOUR], _log(), out, TOKYO)
    message = str(caught.value)
    assert message == f"{out}: a file is there, not a directory; give a directory for the report (created if missing)"
    assert "\n" not in message and out.read_text() == "not a directory"
    with pytest.raises(ExportError, match="cannot create the report directory"):
        export_all([BY_HOUR], _log(), out / "below", TOKYO)


def test_csv_readers_see_the_bom_only_as_an_encoding_mark(tmp_path: Path) -> None:
    (path,) = write_csv([BY_HOUR], tmp_path)
    text = path.read_bytes().decode("utf-8-sig")
    assert list(csv.DictReader(io.StringIO(text, newline=""))) == [
        {"hour": "9", "arrivals": "30"},
        {"hour": "10", "arrivals": "45"},
    ]
