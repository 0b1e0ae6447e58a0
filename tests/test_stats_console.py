"""The statistics in the staff console and on the command line, over a real office on a real
Mosquitto and a store holding some weeks of the demo town's generated history (written through
the ticket log): the figures shown are the log's, the plots are SVG, the downloads read back, the
floor view forecasts, a clerk sees none of it, and a bad range or command is one sentence."""

from __future__ import annotations

import csv
import io
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import openpyxl
import pytest
from playwright.sync_api import sync_playwright

from common.calendar import business_day
from console_harness import PASSWORD, Console, running_console
from harness import SITE
from office.db import OfficeDB
from office.stats import history, store
from office.stats.warmer import Warmer
from office.stats_cli import write_history
from public_harness import CHROMIUM, CHROMIUM_ARGS, PHONE

# the office's business day (in Tokyo, from 03:00), not this machine's date
TODAY = business_day(int(time.time() * 1000), ZoneInfo(SITE.timezone), SITE.rollover_hour)
FIRST = TODAY - timedelta(days=70)
LAST = TODAY - timedelta(days=1)
RANGE = f"from={FIRST}&to={LAST}"
OFFICE = [sys.executable, "-m", "office.cli"]


@pytest.fixture(scope="module")
def history_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten weeks of the demo town at a sixth of its traffic, up to yesterday (made once)."""
    path = tmp_path_factory.mktemp("history") / "office.sqlite3"
    with closing(OfficeDB(path)) as db:
        added = write_history(db, history.generate(SITE, FIRST, LAST, seed=11, scale=0.15))
    assert added > 3000
    return path


@pytest.fixture
def console(mosquitto: Any, tmp_path: Path, history_store: Path) -> Iterator[Console]:
    shutil.copy(history_store, tmp_path / "office.sqlite3")
    yield from running_console(mosquitto.url, tmp_path / "office.sqlite3")


def log_count(path: Path, sql: str, *args: object) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute(sql, args).fetchone()[0])


def figure(page: str, name: str) -> str:
    found = re.search(rf'id="fig-{name}">([^<]*)<', page)
    assert found is not None, f"no figure {name} on the page"
    return found.group(1)


def test_the_pages_figures_are_the_logs(console: Console) -> None:
    c = console.sign_in("kato", lang="en")
    page = c.get(f"/stats?{RANGE}")
    assert page.status_code == 200
    db = console.office.db.path
    arrivals = log_count(
        db,
        "SELECT COUNT(*) FROM ticket_log WHERE kind='issued' AND day BETWEEN ? AND ?",
        FIRST.isoformat(),
        LAST.isoformat(),
    )
    voided = log_count(
        db,
        "SELECT COUNT(DISTINCT ticket_id) FROM ticket_log WHERE kind='voided' AND day BETWEEN ? AND ?",
        FIRST.isoformat(),
        LAST.isoformat(),
    )
    assert int(figure(page.text, "arrivals")) == arrivals
    assert int(figure(page.text, "voided")) == voided
    assert figure(page.text, "median-wait").endswith("minutes")
    # every plot of the page is an SVG image with its title, in the page's language
    names = re.findall(r'src="/stats/plot/([a-z_]+)\.svg\?', page.text)
    assert set(names) == {"by_hour", "counters", "heatmap", "stations", "year"}
    for name in names:
        svg = c.get(f"/stats/plot/{name}.svg?{RANGE}")
        assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
        root = ET.fromstring(svg.text)
        assert root.find("{http://www.w3.org/2000/svg}title") is not None
    assert c.get(f"/stats/plot/pie.svg?{RANGE}").status_code == 404
    japanese = console.sign_in("kato", lang="ja").get(f"/stats/plot/heatmap.svg?{RANGE}")
    assert "曜日・時間帯別" in japanese.text and "月" in japanese.text


def test_the_downloads_read_back_with_the_same_numbers(console: Console, tmp_path: Path) -> None:
    c = console.sign_in("kato", lang="ja")
    page = c.get(f"/stats?{RANGE}").text
    arrivals = int(figure(page, "arrivals"))
    xlsx = c.get(f"/stats/download/xlsx?{RANGE}")
    assert xlsx.status_code == 200 and "attachment" in xlsx.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True)
    assert {"summary", "by_purpose", "by_hour", "by_day"} <= set(book.sheetnames)
    rows = list(book["by_purpose"].iter_rows(values_only=True))
    assert rows[0][:2] == ("用件", "来庁者数")  # the headers in the reader's language
    assert sum(int(r[1]) for r in rows[1:]) == arrivals
    parquet = c.get(f"/stats/download/parquet?{RANGE}")
    assert parquet.status_code == 200
    (tmp_path / "log.parquet").write_bytes(parquet.content)
    got = duckdb.sql(f"SELECT count(*), count(DISTINCT ticket_id) FROM '{tmp_path / 'log.parquet'}'").fetchall()[0]
    db = console.office.db.path
    assert got == (
        log_count(db, "SELECT COUNT(*) FROM ticket_log WHERE day BETWEEN ? AND ?", FIRST.isoformat(), LAST.isoformat()),
        arrivals,
    )


def test_the_floor_view_forecasts_the_next_days(console: Console) -> None:
    page = console.sign_in("kato", lang="en").get("/floor").text
    assert "Forecast for" in page
    expected = [int(x) for x in re.findall(r"Expected in the day: (\d+)", page)]
    open_days = [d for d in (TODAY, TODAY + timedelta(days=1)) if d.weekday() < 5]
    # the history's weekdays had some 140 residents each: the forecast says so for an open day
    assert len(expected) == len(open_days) and all(60 < n < 400 for n in expected), expected


def test_a_clerk_sees_no_statistics_and_a_bad_range_is_one_sentence(console: Console) -> None:
    clerk = console.sign_in("suzuki", counter=1)
    for path in ("/stats", f"/stats/plot/year.svg?{RANGE}", f"/stats/download/xlsx?{RANGE}"):
        assert clerk.get(path).status_code == 403, path
    assert "/stats" not in clerk.get("/counter").text
    assert console.client().get("/stats").status_code == 303
    floor = console.sign_in("kato")
    for query in ("from=2026-13-01", f"from={LAST}&to={FIRST}", "from=x&to=y"):
        page = floor.get(f"/stats?{query}")
        assert page.status_code == 200
        assert "That range cannot be shown" in page.text and "Traceback" not in page.text
    assert floor.get("/stats/plot/year.svg?from=bad").status_code == 404


def test_the_year_page_fits_a_phone_and_its_plots_load(console: Console) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport=PHONE, locale="ja-JP").new_page()
            page.goto(console.url + "signin")
            page.fill("#username", "kato")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state("networkidle")
            page.goto(console.url + f"stats?{RANGE}")
            page.wait_for_load_state("networkidle")
            images = page.eval_on_selector_all(".plot img", "els => els.map(e => { e.scrollIntoView(); return e.src })")
            assert len(images) == 5
            page.wait_for_load_state("networkidle")
            loaded = page.eval_on_selector_all(".plot img", "els => els.map(e => e.complete && e.naturalWidth > 0)")
            assert loaded == [True] * 5
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the page is {overflow} px wider than the phone"
            assert page.locator("h1").inner_text().startswith("統計")
        finally:
            browser.close()


def run_office(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OFFICE, *args], check=False, capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[1]
    )


def test_the_report_command_writes_what_excel_and_analysts_read(history_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    done = run_office(
        "report",
        "--db",
        str(history_store),
        "--from",
        FIRST.isoformat(),
        "--to",
        LAST.isoformat(),
        "--out",
        str(out),
        "--lang",
        "en",
    )
    assert done.returncode == 0, done.stderr
    arrivals = log_count(
        history_store,
        "SELECT COUNT(*) FROM ticket_log WHERE kind='issued' AND day BETWEEN ? AND ?",
        FIRST.isoformat(),
        LAST.isoformat(),
    )
    raw = (out / "by_day.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert sum(int(r["arrivals"]) for r in rows) == arrivals
    book = openpyxl.load_workbook(out / "report.xlsx", read_only=True)
    assert sum(int(r[2]) for r in list(book["by_day"].iter_rows(values_only=True))[1:]) == arrivals
    assert duckdb.sql(
        f"SELECT count(DISTINCT ticket_id) FROM '{out / 'ticket_log.parquet'}' WHERE kind='issued'"
    ).fetchall() == [(arrivals,)]
    pngs = sorted(p.name for p in out.glob("plot-*.png"))
    assert pngs == ["plot-by_hour.png", "plot-counters.png", "plot-heatmap.png", "plot-stations.png", "plot-year.png"]
    # the monthly timer's run: last month, in a folder named after it
    done = run_office("report", "--db", str(history_store), "--last-month", "--out", str(out), "--no-plots")
    assert done.returncode == 0, done.stderr
    month = (TODAY.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    assert (out / month / "report.xlsx").is_file() and not list((out / month).glob("*.png"))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--from", "2026-02-30"], "is not a date; write it as YYYY-MM-DD"),
        (["--from", "2026-03-02", "--to", "2026-03-01"], "is before --from"),
        (["--last-month", "--from", "2026-03-01"], "not both"),
        ([], "say which days"),
    ],
)
def test_a_mistake_in_the_report_command_is_one_line(
    history_store: Path, tmp_path: Path, args: list[str], says: str
) -> None:
    done = run_office("report", "--db", str(history_store), "--out", str(tmp_path / "r"), *args)
    assert done.returncode == 2
    assert says in done.stderr and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_no_store_and_an_out_path_that_is_a_file_are_one_line(history_store: Path, tmp_path: Path) -> None:
    done = run_office(
        "report", "--db", str(tmp_path / "none.sqlite3"), "--from", FIRST.isoformat(), "--out", str(tmp_path / "r")
    )
    assert done.returncode == 2 and "no office store there" in done.stderr and not (tmp_path / "none.sqlite3").exists()
    (tmp_path / "file").write_text("x")
    done = run_office(
        "report", "--db", str(history_store), "--from", FIRST.isoformat(), "--out", str(tmp_path / "file")
    )
    assert done.returncode == 2 and "a file is there, not a directory" in done.stderr and "Traceback" not in done.stderr


def test_history_is_written_once_and_the_cache_is_made_beside_the_office(tmp_path: Path) -> None:
    path = tmp_path / "office.sqlite3"
    first, last = TODAY - timedelta(days=20), TODAY - timedelta(days=1)
    args = ["history", "--db", str(path), "--from", first.isoformat(), "--to", last.isoformat(), "--scale", "0.05"]
    done = run_office(*args)
    assert done.returncode == 0, done.stderr
    written = log_count(path, "SELECT COUNT(*) FROM tickets")
    rows = log_count(path, "SELECT COUNT(*) FROM ticket_log")
    assert written > 100 and rows > 4 * written
    again = run_office(*args)  # the same seed: the same tickets, none twice
    assert again.returncode == 0 and (
        log_count(path, "SELECT COUNT(*) FROM tickets"),
        log_count(path, "SELECT COUNT(*) FROM ticket_log"),
    ) == (written, rows)
    assert run_office("history", "--db", str(path), "--to", TODAY.isoformat()).returncode == 2
    warmer = Warmer(path)
    assert warmer.kick(TODAY.isoformat())
    assert warmer.wait(60)
    days = log_count(path, "SELECT COUNT(DISTINCT day) FROM ticket_log")
    assert warmer.days_made == days == log_count(path, "SELECT COUNT(*) FROM stats_days")
    with closing(OfficeDB.read_only(path)) as db:
        cached = store.columns_between(db, first.isoformat(), last.isoformat(), TODAY.isoformat())
    assert len(cached) == written


def test_todays_page_forecasts_the_coming_week_per_purpose(console: Console) -> None:
    page = console.sign_in("kato", lang="en").get("/stats").text
    assert "Today so far" in page
    week = page[page.index('id="forecast-week"') : page.index("</table>", page.index('id="forecast-week"'))]
    rows = re.findall(r"<tr><th scope=\"row\">(\d{4}-\d\d-\d\d)[^<]*</th>(.*?)</tr>", week)
    assert [d for d, _ in rows] == [(TODAY + timedelta(days=k)).isoformat() for k in range(8)]
    for day, cells in rows:
        weekend = date.fromisoformat(day).weekday() >= 5
        assert ("closed" in cells) == weekend, (day, cells)
        if not weekend:
            numbers = [int(n) for n in re.findall(r'<td class="n">(\d+)</td>', cells)]
            total, purposes, peak = numbers[0], numbers[1:-1], numbers[-1]
            assert len(purposes) == len(SITE.categories) and abs(sum(purposes) - total) <= len(purposes)
            assert peak >= 1
