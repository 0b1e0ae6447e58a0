"""The dispenser's touch screen, rendered under Xvfb and driven with real touch events."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from PIL import Image

from drivers.escpos_printer import EscposTicketPrinter, FakeEscpos
from firmware_profiles.packaged import printer_model_named
from harness import REPO, SITE, env, start_office
from sync.store import SegmentedLog
from ticket_dispenser.ticket import IssuedTicket, ticket_job

pytestmark = pytest.mark.slow


def drive(
    display: str, broker: str, tmp: Path, steps: list[dict[str, Any]], name: str = "ui", **kw: Any
) -> tuple[dict[str, Any], Path]:
    out = tmp / name
    out.mkdir(parents=True, exist_ok=True)
    script = out / "script.json"
    script.write_text(json.dumps(steps), encoding="utf-8")
    e = env()
    e["DISPLAY"] = display
    args = [
        sys.executable,
        str(REPO / "tests" / "ui_driver.py"),
        "--broker",
        broker,
        "--data",
        str(tmp / f"{name}-data"),
        "--out",
        str(out),
        "--script",
        str(script),
    ]
    for key, value in kw.items():
        flag = f"--{key.replace('_', '-')}"
        args += [flag] if value is True else [flag, str(value)]
    run = subprocess.run(args, capture_output=True, text=True, env=e, timeout=600, check=False)
    result_file = out / "result.json"
    assert result_file.exists(), f"exit {run.returncode}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    result = json.loads(result_file.read_text(encoding="utf-8"))
    assert result["errors"] == [], result["errors"]
    assert run.returncode == 0, run.stderr[-3000:]
    return result, out


def tickets_of(data: Path) -> list[IssuedTicket]:
    out = []
    for day in sorted((data / "tickets").iterdir()):
        with SegmentedLog(day) as log:
            out += [IssuedTicket.from_record(r) for r in log.records()]
    return out


def test_touch_from_start_to_a_printed_ticket(display, mosquitto, tmp_path: Path) -> None:
    office = start_office(mosquitto.url, tmp_path / "office.sqlite3")
    try:
        result, out = drive(
            display,
            mosquitto.url,
            tmp_path,
            [
                {"wait": "start"},
                {"record": "start"},
                {"touch": "purpose:tax"},
                {"wait": "checklist"},
                {"touch": "proc:0"},
                {"touch": "confirm"},
                {"wait": "result"},
                {"record": "result"},
                {"touch": "back"},
                {"wait": "start"},
            ],
        )
    finally:
        office.stop()
    assert result["screens"][:4] == ["checklist", "checklist", "printing", "result"]
    number = result["records"][1]["number"]
    assert result["records"][1]["screen"] == "result" and number
    assert result["tickets_printed"] == 1
    [ticket] = tickets_of(tmp_path / "ui-data")
    assert str(ticket.number) == number and ticket.procedures == ("住民税の申告",)  # the ticked procedure
    printed = Image.open(out / "printed" / "1.png").convert("1")
    expected = EscposTicketPrinter(FakeEscpos(), printer_model_named("TM-T20III")).render(ticket_job(ticket))
    assert printed.tobytes() == expected.convert("1").tobytes()  # the decoded raster is that ticket, number and all


def test_a_thousand_presses_leak_nothing_and_repeat_no_number(display, mosquitto, tmp_path: Path) -> None:
    # Two purposes without a procedure list: each press goes straight to the ticket, which is
    # what this run measures (the checklist has its own tests).
    quick = msgspec.structs.replace(
        SITE,
        categories=tuple(
            msgspec.structs.replace(c, procedures=()) if c.code in ("certificates", "tax") else c
            for c in SITE.categories
        ),
    )
    office = start_office(mosquitto.url, tmp_path / "office.sqlite3", config=quick)
    try:
        result, _ = drive(
            display,
            mosquitto.url,
            tmp_path,
            [
                {"wait": "start"},
                # two purposes in turn: one series holds 999 numbers a day
                {"presses": 1000, "purposes": ["certificates", "tax"]},
            ],
            name="loop",
            width=800,
            height=600,
            maxfps=0,
        )
    finally:
        office.stop()
    loop = result["loop"]
    assert loop["done"] == 1000
    assert len(set(loop["numbers"])) == 1000  # every ticket unique
    _start, at100, _at500, end = loop["rss_mb"]
    # Fonts, glyph textures and Kivy's 60 s texture cache fill in the first presses (measured:
    # +83 MB by press 50, then flat: 275 -> 278 MB from press 50 to 300). After press 100 growth
    # must stay small: a leak of 25 KB a press would add 22 MB by press 1,000.
    assert end - at100 < 20, loop["rss_mb"]
    assert result["tickets_printed"] == 1000


def test_keypad_alone_reaches_a_printed_ticket(display, mosquitto, tmp_path: Path) -> None:
    """A resident who cannot use the touch screen: only the tactile keypad, over a real pty."""
    office = start_office(mosquitto.url, tmp_path / "office.sqlite3")
    try:
        result, _ = drive(
            display,
            mosquitto.url,
            tmp_path,
            [
                {"wait": "start"},
                {"keypad": "RIGHT"},  # 証明書 (certificates)
                {"record": "focus"},
                {"keypad": "OK"},
                {"wait": "checklist"},
                {"keypad": "OK"},  # tick the first procedure
                {"keypad": "DOWN"},
                {"keypad": "DOWN"},
                {"keypad": "DOWN"},  # 'Issue ticket'
                {"keypad": "OK"},
                {"wait": "result"},
                {"record": "result"},
                {"keypad": "OK"},
                {"wait": "start"},
            ],
            name="keypad",
            keypad=True,
        )
    finally:
        office.stop()
    assert result["records"][1]["screen"] == "result" and result["records"][1]["number"].startswith("2")
    assert result["tickets_printed"] == 1
    [ticket] = tickets_of(tmp_path / "keypad-data")
    assert ticket.category == "certificates" and ticket.procedures == ("住民票の写し",)


def test_a_full_disk_shows_please_ask_staff_without_a_number_and_tells_the_office(
    display, mosquitto, tmp_path: Path, wait_for
) -> None:
    office = start_office(mosquitto.url, tmp_path / "office.sqlite3")
    try:
        result, out = drive(
            display,
            mosquitto.url,
            tmp_path,
            [
                {"wait": "start"},
                {"disk_full": True},
                {"touch": "purpose:certificates"},
                {"wait": "checklist"},
                {"touch": "confirm"},
                {"wait": "out_of_service"},
                {"record": "full"},
                {"key": "BACK"},  # there is no way back to the purposes while it lasts
                {"disk_full": False},
                {"wait": "out_of_service", "timeout": 2},
                {"shot": "out-of-service.png"},
                {"language": "en"},
                {"wait": "out_of_service"},
                {"record": "en"},
            ],
        )

        def health() -> dict[str, Any]:
            row = office.db.conn.execute("SELECT status FROM devices WHERE device = 'disp-ui'").fetchone()
            return (json.loads(row[0]) or {}).get("health") or {} if row and row[0] else {}

        wait_for(
            lambda: health().get("in_service") is False, message="the office heard the dispenser is out of service"
        )
        assert health()["fault"] == "storage full or failing"
    finally:
        office.stop()
    full, en = result["records"]
    assert full["screen"] == "out_of_service" and full["number"] == ""  # no number was given
    assert full["texts"]["title"] == "ただいま、この発券機では番号札を発行できません"
    assert full["texts"]["instruction"] == "総合案内の職員におたずねください"
    assert en["texts"]["title"] == "This machine cannot issue tickets at the moment"
    assert result["tickets_printed"] == 0
    assert not (tmp_path / "ui-data" / "tickets").exists() or tickets_of(tmp_path / "ui-data") == []
    with Image.open(out / "out-of-service.png") as shot:
        assert (
            shot.size[0] >= 1280 and len(shot.convert("L").getcolors(maxcolors=1 << 16) or ()) > 2
        )  # drawn, not blank
