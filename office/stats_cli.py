"""``madoguchi-office report`` and ``history``: the statistics' files, and a year for the demo.

    madoguchi-office report --from 2026-04-01 --to 2026-04-30 --out reports/2026-04
    madoguchi-office report --last-month --out /var/lib/madoguchi/reports    (into .../YYYY-MM)
    madoguchi-office history --from 2025-12-01 --to 2026-11-30 [--seed 7]

The report is ``report.xlsx`` (one sheet per table), one CSV per table (UTF-8 with a BOM: Excel
in Japan opens it right), the plots as PNG for printing, and the raw ticket log of the range as
``ticket_log.parquet`` for analysts. It reads the store over a read-only connection: a running
office goes on meanwhile. Exit status: 0 done; 2 a mistake in the command (one line, no
traceback).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import time
import zoneinfo
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from common import calendar
from common.cli import fail
from office import config as configmod
from office.console import stats_words
from office.console.texts import LANGUAGES, Texts
from office.db import OfficeDB
from office.stats import charts, export, figures, store
from sync.site import SiteConfig

PROG = "madoguchi-office"
DEFAULT_DB = Path("var/office.sqlite3")
MAX_REPORT_DAYS = 3 * 366  # three years in one report; more is a mistake in a date


def add_parsers(sub: Any) -> None:
    """Add ``report`` and ``history`` to madoguchi-office's sub-parsers."""
    report: argparse.ArgumentParser = sub.add_parser(
        "report", help="the statistics of a range of days as XLSX, CSV, PNG plots and the raw log as Parquet"
    )
    report.add_argument("--db", type=Path, default=DEFAULT_DB, help="office store (SQLite) (default: %(default)s)")
    report.add_argument("--config", type=Path, help="site configuration (TOML); default: the demo town")
    report.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help="first business day")
    report.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help="last business day (default: --from)")
    report.add_argument(
        "--last-month",
        action="store_true",
        help="the previous calendar month, written into a folder of --out named after it (YYYY-MM)",
    )
    report.add_argument("--out", type=Path, required=True, metavar="DIR", help="where the files go (created)")
    report.add_argument("--no-plots", action="store_true", help="leave the PNG plots out")
    report.add_argument(
        "--lang", choices=LANGUAGES, default="ja", help="the language of the tables and plots (default: %(default)s)"
    )

    history = sub.add_parser(
        "history", help="write a plausible stretch of past traffic into a store (the demo's statistics)"
    )
    history.add_argument("--db", type=Path, default=DEFAULT_DB, help="office store (SQLite) (default: %(default)s)")
    history.add_argument("--config", type=Path, help="site configuration (TOML); default: the demo town")
    history.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help="first day (default: a year back)")
    history.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help="last day (default: yesterday)")
    history.add_argument("--seed", type=int, default=7, help="the same seed gives the same history")
    history.add_argument("--scale", type=float, default=1.0, help="traffic relative to the demo town's")


def _day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(PROG, f"{what} {text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-04-01")


def report_range(args: Any, today: date) -> tuple[date, date, Path]:
    """The days and the folder a report's arguments name (``--last-month`` or ``--from``/``--to``)."""
    if args.last_month:
        if args.first or args.last:
            fail(PROG, "give either --last-month or --from/--to, not both")
        first_of_this = today.replace(day=1)
        last = first_of_this - timedelta(days=1)
        first = last.replace(day=1)
        return first, last, args.out / f"{first:%Y-%m}"
    if not args.first:
        fail(PROG, "say which days: --from YYYY-MM-DD [--to YYYY-MM-DD], or --last-month")
    first = _day(args.first, "--from")
    last = _day(args.last, "--to") if args.last else first
    if last < first:
        fail(PROG, f"--to {last} is before --from {first}; swap them")
    if (last - first).days >= MAX_REPORT_DAYS:
        fail(PROG, f"{(last - first).days + 1} days is more than a report holds ({MAX_REPORT_DAYS}); split the range")
    return first, last, args.out


def run(args: Any) -> int:
    """Carry out ``report`` or ``history``."""
    if args.command == "history":
        return _history(args)
    return _report(args)


def _open_existing(path: Path) -> OfficeDB:
    if not path.is_file():
        fail(PROG, f"{path}: no office store there; give the store with --db (the office's --db)")
    return OfficeDB.read_only(path)


def _report(args: Any) -> int:
    site = configmod.load(args.config)
    tz = zoneinfo.ZoneInfo(site.timezone)
    now_ms = int(time.time() * 1000)
    today = calendar.business_day(now_ms, tz, site.rollover_hour)
    first, last, out = report_range(args, today)
    t0 = time.perf_counter()
    db = _open_existing(args.db)
    export.report_dir(out)
    log = out / export.LOG_PARQUET

    def raw_log() -> int:
        # On a connection and thread of its own, beside the figures and plots: reading the rows
        # out of SQLite and DuckDB's writing let go of the interpreter, and the raw log is most
        # of a year's report.
        own = OfficeDB.read_only(args.db)
        try:
            return export.write_log_chunks(export.store_chunks(own.conn, first.isoformat(), last.isoformat()), log, tz)
        finally:
            own.close()

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="report-log") as pool:
        logged = pool.submit(raw_log)
        try:
            cols = store.columns_between(db, first.isoformat(), last.isoformat(), today.isoformat())
            made = figures.of_site(cols, site, until_ms=now_ms)
            t = Texts(args.lang, site)
            kiosk = export.kiosk_tables(db.conn, first, last, tz)
            tables = stats_words.tables(t, made, kiosk, site.congestion.target_wait_minutes)
            files = [export.write_xlsx(tables, out / export.REPORT_XLSX), *export.write_csv(tables, out)]
            if not args.no_plots:
                files += _plots(made, cols, site, t, out)
        finally:
            db.close()
        logged.result()
    files.append(log)
    took = time.perf_counter() - t0
    print(f"{first} .. {last}: {made.summary.arrivals} tickets, {len(files)} files in {out} ({took:.1f} s)")
    for path in files:
        print(f"  {path.name}")
    return 0


def _plots(made: figures.Figures, cols: figures.Columns, site: SiteConfig, t: Texts, out: Path) -> list[Path]:
    """The range's plots as PNG for printing (300 dpi: A4 at full width), written atomically."""
    written = []
    for name, plot in charts.charts(made, cols, charts.setting(site, t.language), stats_words.words(t)).items():
        path = out / f"plot-{name}.png"
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            tmp.write_bytes(plot().png(dpi=300))
            os.replace(tmp, path)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise export.ExportError(
                f"{path}: cannot write the plot ({err.strerror or err}); check the folder"
            ) from err
        written.append(path)
    return written


def _history(args: Any) -> int:
    from office.stats import history

    site = configmod.load(args.config)
    tz = zoneinfo.ZoneInfo(site.timezone)
    today = calendar.business_day(int(time.time() * 1000), tz, site.rollover_hour)
    last = _day(args.last, "--to") if args.last else today - timedelta(days=1)
    first = _day(args.first, "--from") if args.first else last - timedelta(days=364)
    if last < first:
        fail(PROG, f"--to {last} is before --from {first}; swap them")
    if last >= today:
        fail(
            PROG, f"--to {last} is not in the past; history ends yesterday ({today - timedelta(days=1)}) at the latest"
        )
    if not 0 < args.scale <= 10:
        fail(PROG, f"--scale {args.scale} is out of range; give a factor from 0.01 to 10")
    t0 = time.perf_counter()
    db = OfficeDB(args.db)
    try:
        added = write_history(db, history.generate(site, first, last, seed=args.seed, scale=args.scale))
    finally:
        db.close()
    print(f"{first} .. {last}: {added} tickets written to {args.db} ({time.perf_counter() - t0:.1f} s)")
    return 0


def write_history(db: OfficeDB, told: Any, batch: int = 2000, stop: Any = None) -> int:
    """Write generated tickets and their log in transactions of ``batch`` tickets; how many went in.

    The days written are forgotten by the statistics' cache (it is made again from the log).
    ``stop()`` true ends it after the batch being written (the demo stopping)."""
    added = 0
    days: set[str] = set()
    chunk: list[Any] = []

    def flush() -> None:
        nonlocal added
        with db.transaction():
            added += db.insert_history(chunk)
        days.update(t.day for t, _ in chunk)
        chunk.clear()

    for item in told:
        chunk.append(item)
        if len(chunk) >= batch:
            flush()
            if stop is not None and stop():
                break
    if chunk:
        flush()
    with db.transaction():
        store.forget_days(db, days)
    return added
