"""madoguchi-office kiosk-report as the daily timer runs it (deploy/systemd/madoguchi-kiosk-report.*):
--day yesterday from the site's clock and rollover hour, --out writing the same text atomically,
and one-line errors for a bad --day or an --out that cannot be written. A real SQLite office
store throughout; the clock is office.cli._now_ms."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pytest

from office import cli
from office.db import OfficeDB
from office.issuance import CashReport, IssuanceBook
from sync import messages

TOKYO = ZoneInfo("Asia/Tokyo")
REPO = Path(__file__).resolve().parents[1]


def ms(year: int, month: int, day: int, hour: int, minute: int = 0, tz: ZoneInfo = TOKYO) -> int:
    """Unix ms of a wall time in ``tz``."""
    return int(datetime(year, month, day, hour, minute, tzinfo=tz).timestamp() * 1000)


def issue(
    db_path: Path, request_id: str, at_ms: int, fee: int = 300, *, kept: int | None = None, device: str = "kiosk-1"
) -> None:
    """One certificate issued at ``at_ms`` and, unless ``kept`` is None, the kiosk's kept-fee report."""
    db = OfficeDB(db_path)
    try:
        book = IssuanceBook(db.conn, TOKYO, site_code="demo-town")
        made = book.issue(request_id, device, "SIM-0001", "juminhyo", {"scope": "members"}, 1, fee, at_ms)
        if kept is not None:
            book.record_cash(
                device,
                made.business_day,
                _cash_report(
                    {
                        "event_id": f"{device}:{request_id}",
                        "type": "fee_kept",
                        "amount": kept,
                        "request_id": request_id,
                        "at_ms": at_ms,
                    }
                ),
            )
    finally:
        db.close()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Three business days, each told apart by its device: the 19th balanced on kiosk-19, the
    20th balanced on kiosk-20, the 21st (from 02:30 on the 22nd, before the rollover) on kiosk-21."""
    path = tmp_path / "office.sqlite3"
    issue(path, "r19", ms(2026, 11, 19, 10), kept=300, device="kiosk-19")
    issue(path, "r20", ms(2026, 11, 20, 22, 30), kept=300, device="kiosk-20")
    issue(path, "r21", ms(2026, 11, 22, 2, 30), kept=300, device="kiosk-21")
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """office.cli.main in this process: (exit status, stdout, stderr); fail() exits with 2."""
    try:
        code = cli.main(argv)
    except SystemExit as done:
        code = int(done.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def at(monkeypatch: pytest.MonkeyPatch, now_ms: int) -> None:
    monkeypatch.setattr(cli, "_now_ms", lambda: now_ms)


# --------------------------------------------------------------------------------------------
# --day
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "day", "expected"),
    [
        (ms(2026, 11, 21, 5, 30), "yesterday", "2026-11-20"),  # the timer's run
        (ms(2026, 11, 22, 2, 30), "yesterday", "2026-11-20"),  # before the rollover: still the 21st's day
        (ms(2026, 11, 21, 5, 30), "today", "2026-11-21"),
        (ms(2026, 11, 21, 5, 30), None, "2026-11-21"),
        (ms(2026, 11, 21, 5, 30), "2026-11-19", "2026-11-19"),
    ],
)
def test_day_words_are_business_days_on_the_sites_clock(
    store: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    now: int,
    day: str | None,
    expected: str,
) -> None:
    at(monkeypatch, now)
    code, out, err = run(["kiosk-report", "--db", str(store), *(["--day", day] if day else [])], capsys)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"kiosk cash for {expected}: balanced"
    # The right day's store rows, not only its heading.
    assert f"kiosk-{expected[-2:]}: 1 issued" in out and out.count(" issued (") == 1


def test_yesterday_follows_the_site_configurations_zone_and_rollover(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    default = (REPO / "office" / "default_site.toml").read_text(encoding="utf-8")
    assert 'timezone = "Asia/Tokyo"' in default and "rollover_hour = 3" in default
    site = tmp_path / "site.toml"
    site.write_text(
        default.replace('timezone = "Asia/Tokyo"', 'timezone = "UTC"').replace(
            "rollover_hour = 3", "rollover_hour = 0"
        ),
        encoding="utf-8",
    )
    # 05:30 on the 21st in Tokyo is 20:30 on the 20th in UTC: today is the 20th, yesterday the 19th.
    at(monkeypatch, ms(2026, 11, 21, 5, 30))
    code, out, _err = run(["kiosk-report", "--db", str(store), "--config", str(site), "--day", "yesterday"], capsys)
    assert code == 0 and out.startswith("kiosk cash for 2026-11-19: balanced\n")


@pytest.mark.parametrize("bad", ["21/11", "20261121", "2026-11-31", "tomorrow", ""])
def test_a_bad_day_is_one_line_naming_the_flag_and_an_example(
    store: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    code, out, err = run(["kiosk-report", "--db", str(store), "--day", bad], capsys)
    assert code == 2 and out == ""
    assert err == f"madoguchi-office: --day: {bad!r} is not a date like 2026-11-21 (or today, yesterday)\n"


# --------------------------------------------------------------------------------------------
# --out
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kept", "status", "heading"), [(300, 0, "balanced"), (None, 1, "MISMATCHES")])
def test_out_writes_the_printed_report_and_keeps_the_exit_status(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    kept: int | None,
    status: int,
    heading: str,
) -> None:
    db = tmp_path / "office.sqlite3"
    issue(db, "req-1", ms(2026, 11, 20, 14), kept=kept)
    issue(db, "req-2", ms(2026, 11, 20, 15), fee=600, kept=600)
    reports = tmp_path / "var" / "reports"  # neither exists yet
    at(monkeypatch, ms(2026, 11, 21, 5, 30))
    code, out, err = run(["kiosk-report", "--db", str(db), "--day", "yesterday", "--out", str(reports)], capsys)
    assert (code, err) == (status, "")
    path = reports / "kiosk-cash-2026-11-20.txt"
    *report, where = out.splitlines(keepends=True)
    assert where == f"written to {path}\n"
    text = path.read_text(encoding="utf-8")
    assert text == "".join(report) and text.startswith(f"kiosk cash for 2026-11-20: {heading}\n")
    assert "kiosk-1: 2 issued (0 void), fees 900 yen" in text
    assert ("mismatch fee_not_reported: kiosk-1 request req-1: fee 300 yen, kiosk says 0" in text) is (kept is None)
    # Readable by the madoguchi group (mkstemp's 0600 would hide it from the supervisor); no temp file left.
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in reports.iterdir()] == [path.name]


def test_a_later_run_replaces_the_days_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "office.sqlite3"
    issue(db, "req-1", ms(2026, 11, 20, 14))  # the kiosk was offline: its report has not come in
    at(monkeypatch, ms(2026, 11, 21, 5, 30))
    argv = ["kiosk-report", "--db", str(db), "--day", "yesterday", "--out", str(tmp_path)]
    assert run(argv, capsys)[0] == 1
    report = tmp_path / "kiosk-cash-2026-11-20.txt"
    assert "MISMATCHES" in report.read_text(encoding="utf-8")
    db_conn = OfficeDB(db)
    try:
        IssuanceBook(db_conn.conn, TOKYO).record_cash(
            "kiosk-1",
            "2026-11-20",
            _cash_report(
                {
                    "event_id": "kiosk-1:9",
                    "type": "fee_kept",
                    "amount": 300,
                    "request_id": "req-1",
                    "at_ms": ms(2026, 11, 21, 7),
                }
            ),
        )
    finally:
        db_conn.close()
    assert run(argv, capsys)[0] == 0  # run again by hand once it synced
    assert report.read_text(encoding="utf-8").startswith("kiosk cash for 2026-11-20: balanced\n")
    assert sorted(p.name for p in tmp_path.glob("kiosk-cash-*")) == [report.name]


@pytest.mark.parametrize("where", ["under-a-file", "is-a-file"])
def test_an_out_that_cannot_be_written_is_one_line_naming_out(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    blocker = tmp_path / "reports.txt"
    blocker.write_text("not a directory\n", encoding="utf-8")
    out_dir = blocker / "reports" if where == "under-a-file" else blocker
    code, out, err = run(["kiosk-report", "--db", str(store), "--day", "2026-11-20", "--out", str(out_dir)], capsys)
    assert code == 2
    assert err.startswith(f"madoguchi-office: --out: cannot write {out_dir / 'kiosk-cash-2026-11-20.txt'} (")
    assert err.count("\n") == 1
    # The report still reached stdout (the journal under systemd) before the write failed.
    assert out.startswith("kiosk cash for 2026-11-20: balanced\n") and "written to" not in out
    assert blocker.read_text(encoding="utf-8") == "not a directory\n"


def test_an_unwritable_out_in_a_real_process_gives_no_traceback(store: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "office.cli",
            "kiosk-report",
            "--db",
            str(store),
            "--day",
            "2026-11-20",
            "--out",
            str(blocker / "reports"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("madoguchi-office: --out: cannot write ") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr and "Not a directory" in done.stderr


def test_a_write_cut_short_keeps_the_previous_report_and_leaves_no_temp_file(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = tmp_path / "reports"
    argv = ["kiosk-report", "--db", str(store), "--day", "2026-11-20", "--out", str(reports)]
    assert run(argv, capsys)[0] == 0
    report = reports / "kiosk-cash-2026-11-20.txt"
    before = report.read_text(encoding="utf-8")
    issue(store, "late", ms(2026, 11, 20, 16))  # the next run would say MISMATCHES

    def disk_full(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)  # office.cli calls os.replace
    code, _out, err = run(argv, capsys)
    assert code == 2 and "--out" in err and "No space left on device" in err
    assert report.read_text(encoding="utf-8") == before
    assert [p.name for p in reports.iterdir()] == [report.name]


def _cash_report(data: dict[str, object]) -> CashReport:
    """A ``kiosk.cash`` event's data as the office takes it in (checked, then the domain rule)."""
    return CashReport.from_event(msgspec.convert(data, messages.KioskCash))
