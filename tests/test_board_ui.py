"""The lobby board under Xvfb on a real broker: a staff command shows on the board."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drivers.speech import announce_call
from harness import REPO, SITE, env, has_full_lease, start_dispenser, start_office
from office import cli as office_cli

pytestmark = pytest.mark.slow


def test_a_staff_command_moves_the_train_on_the_board(display, mosquitto, tmp_path: Path, capsys) -> None:
    office = start_office(mosquitto.url, tmp_path / "office.sqlite3")
    disp = start_dispenser(mosquitto.url, tmp_path / "disp-d1", "disp-d1")
    out = tmp_path / "board"
    board = None
    try:
        deadline = time.monotonic() + 20
        while not has_full_lease(disp) and time.monotonic() < deadline:
            time.sleep(0.05)
        number = disp.dispenser.issue("certificates").ticket.number
        e = env()
        e["DISPLAY"] = display
        board = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "tests" / "board_driver.py"),
                "--broker",
                mosquitto.url,
                "--data",
                str(tmp_path / "bd"),
                "--out",
                str(out),
                "--width",
                "1280",
                "--height",
                "720",
                "--shots",
                "before.png:2,after.png:5",
            ],
            env=e,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        result = out / "result.json"
        deadline = time.monotonic() + 60
        while not result.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        before = json.loads(result.read_text(encoding="utf-8"))["shots"][0]
        assert [number, -1] in before["trains"]  # waiting on the platform
        assert (
            office_cli.main(
                ["staff", "--broker", mosquitto.url, "--site", SITE.site, "call", "next", "at", "counter", "3"]
            )
            == 0
        )
        assert capsys.readouterr().out.strip() == f"{number} → counter 3"
        assert board.wait(60) == 0, board.stdout.read().decode()[-2000:] if board.stdout else ""
        after = json.loads(result.read_text(encoding="utf-8"))["shots"][1]
        assert after["calls"][0] == number  # now calling, newest first
        assert [number, 0] in after["trains"]  # the train moved to the first station, reception
        assert (out / "after.png").stat().st_size > 10_000
    finally:
        if board is not None and board.poll() is None:
            board.kill()
        disp.close()
        office.stop()


def _board(display: str, broker_url: str, tmp: Path, shots: str, *extra: str) -> tuple[subprocess.Popen[bytes], Path]:
    out = tmp / "board"
    e = env()
    e["DISPLAY"] = display
    proc = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "tests" / "board_driver.py"),
            "--broker",
            broker_url,
            "--data",
            str(tmp / "bd"),
            "--out",
            str(out),
            "--width",
            "1280",
            "--height",
            "720",
            "--shots",
            shots,
            *extra,
        ],
        env=e,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return proc, out / "result.json"


def _shots(result: Path, count: int, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result.exists():
            shots = json.loads(result.read_text(encoding="utf-8"))["shots"]
            if len(shots) >= count:
                return shots
        time.sleep(0.1)
    raise AssertionError(f"the board took fewer than {count} shots")


def test_a_call_chimes_and_is_spoken_in_japanese_and_english(display, mosquitto, tmp_path: Path, capsys) -> None:
    office = start_office(mosquitto.url, tmp_path / "office.sqlite3")
    disp = start_dispenser(mosquitto.url, tmp_path / "disp-d1", "disp-d1")
    board = None
    try:
        deadline = time.monotonic() + 20
        while not has_full_lease(disp) and time.monotonic() < deadline:
            time.sleep(0.05)
        number = disp.dispenser.issue("tax").ticket.number
        board, result = _board(display, mosquitto.url, tmp_path, "a.png:2,b.png:4", "--speech", "recording")
        assert _shots(result, 1)[0]["chimed"] == []  # calls already on the board at start stay silent
        assert (
            office_cli.main(
                ["staff", "--broker", mosquitto.url, "--site", SITE.site, "call", "next", "at", "counter", "2"]
            )
            == 0
        )
        capsys.readouterr()
        after = _shots(result, 2)[1]
        assert after["chimed"] == [number]
        assert [lang for _, lang in after["spoken"]] == ["ja", "en"]
        # The demo names counter 2 "2番窓口": a name that says the number is called by the number.
        assert after["spoken"][0][0] == announce_call(number, 2, "ja")
        assert (
            str(number) in after["spoken"][1][0] and "2" in after["spoken"][1][0]
        )  # English names the number and counter
        assert board.wait(60) == 0
    finally:
        if board is not None and board.poll() is None:
            board.kill()
        disp.close()
        office.stop()


def test_the_stale_badge_comes_with_an_office_outage_and_goes_by_itself(display, mosquitto, tmp_path: Path) -> None:
    db = tmp_path / "office.sqlite3"
    office = start_office(mosquitto.url, db)
    board = None
    try:
        board, result = _board(display, mosquitto.url, tmp_path, "live.png:2,outage.png:3,back.png:14")
        assert _shots(result, 1)[0]["stale"] is None
        office.stop()  # the office's offline status: the board keeps its last state, says since when
        assert _shots(result, 2)[1]["stale"] is not None
        office = start_office(mosquitto.url, db)  # back: the board catches up by itself, no restart
        assert _shots(result, 3)[2]["stale"] is None
        assert board.wait(60) == 0
    finally:
        if board is not None and board.poll() is None:
            board.kill()
        office.stop()


def test_no_flipped_frame_shows_a_line_without_its_track(display, mosquitto, tmp_path: Path, capsys) -> None:
    """Start-up, a caption rotation (every 8 s), calls and moves: after every frame the board
    flips, each line on it has its track and its names (a redraw used to leave them empty for a
    frame: docs/screenshots/board-10-trains.png caught one)."""
    office = start_office(mosquitto.url, tmp_path / "office.sqlite3")
    disp = start_dispenser(mosquitto.url, tmp_path / "disp-d1", "disp-d1")
    board = None
    try:
        deadline = time.monotonic() + 20
        while not has_full_lease(disp) and time.monotonic() < deadline:
            time.sleep(0.05)
        for purpose in ("certificates", "moving", "certificates", "tax", "moving", "certificates"):
            disp.dispenser.issue(purpose)
        board, result = _board(
            display, mosquitto.url, tmp_path, "a.png:3,b.png:3,c.png:3,d.png:3,e.png:2", "--check-frames"
        )
        _shots(result, 1)
        staff = ["staff", "--broker", mosquitto.url, "--site", SITE.site]
        called = []
        capsys.readouterr()
        for counter in (1, 2, 3):  # calls: the call list and the lines change, cars slide
            assert office_cli.main([*staff, "call", "next", "at", "counter", str(counter)]) == 0
            called.append(capsys.readouterr().out.split()[0])
            time.sleep(1.5)
        _shots(result, 3)
        for number in called[:2]:  # moves: each case on to the next station of its route
            ticket = next(t for t in office.db.tickets(office.business_day()) if str(t.number) == number)
            assert office_cli.main([*staff, "advance", number, "to", ticket.route[1]]) == 0
            time.sleep(1.0)
        assert board.wait(60) == 0, board.stdout.read().decode()[-2000:] if board.stdout else ""
        capsys.readouterr()
        frames = json.loads(result.read_text(encoding="utf-8"))["frames"]
        assert frames["with_lines"] > 100, frames  # the board was on screen and redrawing
        assert frames["half_built"] == 0, frames["examples"]
    finally:
        if board is not None and board.poll() is None:
            board.kill()
        disp.close()
        office.stop()
