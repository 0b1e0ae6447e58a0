"""The report's files: the tables as CSV and XLSX, the raw ticket log as Parquet, and the kiosk's
certificate and cash figures read from the store.

Every file is written to a temporary name beside its destination and moved into place, so a
reader (or a run stopped halfway) never sees half a file, and a report directory is overwritten
only where the report's own files are.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
import re
import sqlite3
import tempfile
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import openpyxl
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from office import sql
from office.domain import OfficeError
from office.issuance import CashEventType
from office.stats.table import Cell, Table
from office.ticket_log import LogRow

REPORT_XLSX = "report.xlsx"
LOG_PARQUET = "ticket_log.parquet"
# The madoguchi group (the counter supervisor's login) may read the reports, as the daily kiosk
# report's files (office/cli.py); temporary files would otherwise stay 0600.
FILE_MODE = 0o640
DIR_MODE = 0o750
SHEET_TITLE_MAX = 31  # Excel refuses longer sheet names
COLUMN_WIDTH_MAX = 60  # a long text cell should not push the next column off the screen
LOG_CHUNK = 100_000  # rows per batch handed to DuckDB: big enough to amortise, small in memory

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_LOG_COLUMNS = ("ticket_id", "day", "kind", "category", "station", "counter", "username", "device", "detail")


class ExportError(OfficeError):
    """A report that cannot be written, in one sentence naming the path and the fix."""


# -- writing a file atomically ------------------------------------------------------------------


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``; moved onto it when the block ends without error."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        # Flushed before the rename: after a power cut the name holds the old file or the new, never an empty one.
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _cannot_write(path: Path, err: OSError) -> ExportError:
    return ExportError(
        f"{path}: cannot write it ({err.strerror or err}); give a directory this user can create and write"
    )


def _check_names(tables: Sequence[Table]) -> None:
    seen: set[str] = set()
    for table in tables:
        # The name becomes a file name: nothing that could leave the directory or clash on a case-blind disk.
        if not _NAME.fullmatch(table.name):
            raise ExportError(f"table {table.name!r}: expected a name of letters, digits, '.', '_' or '-'")
        if table.name.lower() in seen:
            raise ExportError(f"table {table.name!r}: two tables of that name would write the same file")
        seen.add(table.name.lower())


# -- CSV ----------------------------------------------------------------------------------------


def write_csv(tables: Sequence[Table], out_dir: Path) -> list[Path]:
    """One ``<name>.csv`` per table: UTF-8 with a BOM, CRLF, a header row, None as an empty cell."""
    _check_names(tables)
    paths = []
    for table in tables:
        path = out_dir / f"{table.name}.csv"
        try:
            # The BOM is how Excel in Japan knows the file is UTF-8 and not Shift_JIS.
            with _replacing(path) as tmp, tmp.open("w", encoding="utf-8-sig", newline="") as f:
                writer = csv.writer(f, lineterminator="\r\n")
                writer.writerow(table.columns)
                writer.writerows(table.rows)
        except OSError as err:
            raise _cannot_write(path, err) from err
        paths.append(path)
    return paths


# -- XLSX ---------------------------------------------------------------------------------------


def display_width(text: str) -> int:
    """Columns ``text`` takes in a spreadsheet: East Asian wide and full-width characters count 2."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _sheet_titles(tables: Sequence[Table]) -> list[str]:
    """Sheet titles: the table's name, cut to Excel's limit and unique as Excel compares them (case-blind)."""
    titles: list[str] = []
    taken: set[str] = set()
    for table in tables:
        base = _SHEET_FORBIDDEN.sub("_", table.name)[:SHEET_TITLE_MAX] or "sheet"
        title = base
        for n in itertools.count(2):
            if title.lower() not in taken:
                break
            suffix = f"~{n}"
            title = base[: SHEET_TITLE_MAX - len(suffix)] + suffix
        taken.add(title.lower())
        titles.append(title)
    return titles


def _xlsx_value(value: Cell) -> Cell:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # Excel calls a file holding NaN or infinity damaged
    if isinstance(value, str):
        # openpyxl refuses control characters; a stray one must not cost the month's report.
        cleaned: str = ILLEGAL_CHARACTERS_RE.sub("", value)
        return cleaned
    return value


def _shown(value: Cell) -> str:
    return "" if value is None else str(value)


def write_xlsx(tables: Sequence[Table], path: Path) -> Path:
    """One sheet per table: the header bold and frozen, columns fitted, numbers as numbers."""
    _check_names(tables)
    wb = openpyxl.Workbook()
    default = wb.active
    bold = Font(bold=True)
    for table, title in zip(tables, _sheet_titles(tables), strict=True):
        ws = wb.create_sheet(title)
        widths = [display_width(column) for column in table.columns]
        for r, row in enumerate((table.columns, *table.rows), start=1):
            for c, value in enumerate(row, start=1):
                cell = ws.cell(row=r, column=c, value=_xlsx_value(value))
                if isinstance(value, str):
                    # Text stays text: openpyxl would make "=…" a formula that Excel then runs.
                    cell.data_type = "s"
                if r == 1:
                    cell.font = bold
                elif c <= len(widths):
                    widths[c - 1] = max(widths[c - 1], display_width(_shown(value)))
        for c, width in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(c)].width = min(width + 2, COLUMN_WIDTH_MAX)
        ws.freeze_panes = "A2"
        # On paper: the table's title at the top of each page and the header row repeated.
        ws.oddHeader.center.text = table.title
        ws.print_title_rows = "1:1"
    if tables and default is not None:
        wb.remove(default)  # a workbook needs a sheet; the empty default only when there is no table
    try:
        with _replacing(path) as tmp:
            wb.save(tmp)
    except OSError as err:
        raise _cannot_write(path, err) from err
    return path


# -- Parquet ------------------------------------------------------------------------------------


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _chunks(rows: Iterable[LogRow]) -> Iterator[dict[str, np.ndarray[Any, Any]]]:
    """The rows as column arrays, LOG_CHUNK at a time (DuckDB scans a dict of NumPy arrays)."""
    it = iter(rows)
    while chunk := list(itertools.islice(it, LOG_CHUNK)):
        columns: dict[str, np.ndarray[Any, Any]] = {
            "at_ms": np.fromiter((r.at_ms for r in chunk), dtype=np.int64, count=len(chunk))
        }
        for name in _LOG_COLUMNS:
            columns[name] = np.array([getattr(r, name) for r in chunk], dtype=object)
        yield columns


def store_chunks(conn: sql.Conn, first_day: str, last_day: str) -> Iterator[dict[str, np.ndarray[Any, Any]]]:
    """The store's ticket log of the days as column arrays, straight from the store: a year is
    some 1.7 million rows, and making a LogRow of each first took longer than the whole export."""
    query = (
        "SELECT at_ms, ticket_id, day, kind, category, station, counter, username, device, detail"
        " FROM ticket_log WHERE day BETWEEN ? AND ? ORDER BY id"
    )
    cur: Any
    if isinstance(conn, sql.PgConnection):
        cur = conn.tuples(query, (first_day, last_day))
    else:
        assert isinstance(conn, sqlite3.Connection)
        cur = conn.cursor()
        cur.row_factory = None  # plain tuples: a connection's sqlite3.Row costs a second a million rows
        cur.execute(query, (first_day, last_day))
    while batch := cur.fetchmany(LOG_CHUNK):
        # One 2-D object array, cut into columns: five times faster than zip(*batch) per column.
        table = np.array(batch, dtype=object)
        columns: dict[str, np.ndarray[Any, Any]] = {"at_ms": table[:, 0].astype(np.int64)}
        for k, name in enumerate(_LOG_COLUMNS, start=1):
            columns[name] = np.ascontiguousarray(table[:, k])
        yield columns


def write_log_parquet(rows: Iterable[LogRow], path: Path, tz: ZoneInfo) -> int:
    """The raw ticket log as Parquet (zstd) for analysts; the number of rows written.

    ``at`` is the instant (UTC), ``local_at`` the site's wall clock; the ``timezone`` metadata names the zone.
    """
    return write_log_chunks(_chunks(rows), path, tz)


def write_log_chunks(chunks: Iterable[dict[str, np.ndarray[Any, Any]]], path: Path, tz: ZoneInfo) -> int:
    """:func:`write_log_parquet` from column arrays (:func:`store_chunks`)."""
    # NumPy column arrays into an in-memory table, then one COPY: measured faster than a temporary
    # CSV read back by DuckDB (which also cannot tell None from "" without hand-quoting) and far
    # faster than executemany.
    try:
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as work:
            con = duckdb.connect(":memory:")
            try:
                # A fixed zone so nothing below depends on the machine's; a year's log may spill to disk.
                con.execute("SET TimeZone='UTC'")
                con.execute("SET preserve_insertion_order=true")  # the log's order: the order it was written
                con.execute(f"SET temp_directory={_sql_text(str(Path(work) / 'spill'))}")
                con.execute(
                    'CREATE TABLE log ("at_ms" BIGINT, "ticket_id" VARCHAR, "day" DATE, "kind" VARCHAR,'
                    ' "category" VARCHAR, "station" VARCHAR, "counter" INTEGER, "username" VARCHAR,'
                    ' "device" VARCHAR, "detail" VARCHAR)'
                )
                count = 0
                for chunk in chunks:
                    con.register("chunk", chunk)
                    con.execute(
                        'INSERT INTO log SELECT "at_ms", "ticket_id", "day"::DATE, "kind"::VARCHAR, "category",'
                        ' "station", "counter"::INTEGER, "username", "device", "detail" FROM chunk'
                    )
                    con.unregister("chunk")
                    count += len(chunk["at_ms"])
                # Both the instant and the wall clock, because Parquet keeps no zone: a reader shows
                # "at" in its own session's zone (UTC on most servers), so grouping by hour of the day
                # on "at" alone would shift every figure by nine hours in Japan without a word.
                with _replacing(path) as tmp:
                    con.execute(
                        'COPY (SELECT make_timestamptz("at_ms" * 1000) AS "at",'
                        f' timezone({_sql_text(tz.key)}, make_timestamptz("at_ms" * 1000)) AS "local_at",'
                        ' "at_ms", "day", "ticket_id", "kind", "category", "station", "counter", "username",'
                        ' "device", "detail" FROM log)'
                        f" TO {_sql_text(str(tmp))} (FORMAT parquet, COMPRESSION zstd,"
                        f" KV_METADATA {{timezone: {_sql_text(tz.key)}}})"
                    )
            finally:
                con.close()
    except OSError as err:
        raise _cannot_write(path, err) from err
    except duckdb.Error as err:
        raise ExportError(f"{path}: DuckDB could not write the ticket log ({err})") from err
    return count


# -- the kiosk's figures ------------------------------------------------------------------------

KIOSK_CERTIFICATES = ("kiosk_certificates", "Certificates issued at the kiosks, by kind and hour (not voided)")
KIOSK_CERTIFICATE_COLUMNS = ("kind", "hour", "issued", "copies", "fees (yen)")
KIOSK_CASH = ("kiosk_cash", "Kiosk cash per business day and kiosk")
KIOSK_CASH_COLUMNS = (
    "day",
    "kiosk",
    "fees kept (yen)",
    "refunds paid (yen)",
    "refunds owed (yen)",
    "refund slips",
)


def _has_tables(conn: sql.Conn, *names: str) -> bool:
    return all(sql.has_table(conn, name) for name in names)


def kiosk_tables(conn: sql.Conn, first_day: str | date, last_day: str | date, tz: ZoneInfo) -> list[Table]:
    """Kiosk certificates by kind and hour, and kiosk cash per day and kiosk, for business days
    ``first_day``..``last_day``; empty tables for a store without a kiosk's tables."""
    first, last = str(first_day), str(last_day)
    certificates: tuple[tuple[Cell, ...], ...] = ()
    if _has_tables(conn, "cert_issuances"):
        totals: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0, 0])
        for kind, copies, fee, issued_ms in conn.execute(
            "SELECT kind, copies, fee, issued_ms FROM cert_issuances"
            " WHERE business_day BETWEEN ? AND ? AND voided IS NULL",
            (first, last),
        ):
            # The hour on the town's clock: SQLite knows no time zones.
            hour = datetime.fromtimestamp(issued_ms / 1000, tz).hour
            total = totals[(kind, hour)]
            total[0] += 1
            total[1] += copies
            total[2] += fee
        certificates = tuple((kind, hour, *total) for (kind, hour), total in sorted(totals.items()))
    cash: tuple[tuple[Cell, ...], ...] = ()
    if _has_tables(conn, "cert_cash"):
        cash = tuple(
            tuple(row)
            for row in conn.execute(
                "SELECT business_day, device_id,"
                " COALESCE(SUM(CASE WHEN type=? THEN amount END), 0),"
                " COALESCE(SUM(CASE WHEN type=? THEN amount END), 0),"
                " COALESCE(SUM(CASE WHEN type=? THEN amount END), 0),"
                " COUNT(CASE WHEN type=? THEN 1 END)"
                " FROM cert_cash WHERE business_day BETWEEN ? AND ?"
                " GROUP BY business_day, device_id ORDER BY business_day, device_id",
                (
                    CashEventType.FEE_KEPT.value,
                    CashEventType.REFUND_PAID.value,
                    CashEventType.REFUND_OWED.value,
                    CashEventType.REFUND_OWED.value,
                    first,
                    last,
                ),
            )
        )
    return [
        Table(*KIOSK_CERTIFICATES, KIOSK_CERTIFICATE_COLUMNS, certificates),
        Table(*KIOSK_CASH, KIOSK_CASH_COLUMNS, cash),
    ]


# -- the whole report ---------------------------------------------------------------------------


def report_dir(out_dir: Path) -> Path:
    """``out_dir``, created if missing; ExportError when it is a file or cannot be made."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(
            f"{out_dir}: a file is there, not a directory; give a directory for the report (created if missing)"
        )
    try:
        out_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except OSError as err:
        raise ExportError(
            f"{out_dir}: cannot create the report directory ({err.strerror or err}); give a directory this user can create"
        ) from err
    return out_dir


def export_all(tables: Sequence[Table], rows: Iterable[LogRow], out_dir: Path, tz: ZoneInfo) -> list[Path]:
    """``report.xlsx``, one CSV per table and ``ticket_log.parquet`` in ``out_dir``; their paths.

    Other files in ``out_dir`` are left alone; the report's own are replaced.
    """
    _check_names(tables)
    report_dir(out_dir)
    xlsx = write_xlsx(tables, out_dir / REPORT_XLSX)
    csvs = write_csv(tables, out_dir)
    log = out_dir / LOG_PARQUET
    write_log_parquet(rows, log, tz)
    return [xlsx, *csvs, log]
