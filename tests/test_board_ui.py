"""The lobby board under Xvfb on a real broker: a staff command shows on the board."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import REPO, SITE, env, has_full_lease, start_dispenser, start_office
from office import cli as office_cli

pytestmark = pytest.mark.slow


def test_a_staff_command_moves_the_train_on_the_board(display, mosquitto, tmp_path: Path, capsys) -> None:
    office = start_office(mosquitto.url, tmp_path / "office.sqlite3")
    disp = start_dispenser(mosquitto.url, tmp_path / "d1", "d1")
    out = tmp_path / "board"
    board = None
    try:
        deadline = time.monotonic() + 20
        while not has_full_lease(disp) and time.monotonic() < deadline:
            time.sleep(0.05)
        number = disp.dispenser.issue("certificates").ticket.number
        e = env()
        e["DISPLAY"] = display
        board = subprocess.Popen([sys.executable, str(REPO / "tests" / "board_driver.py"), "--broker", mosquitto.url,
                                  "--data", str(tmp_path / "bd"), "--out", str(out), "--width", "1280", "--height", "720",
                                  "--shots", "before.png:2,after.png:5"], env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        result = out / "result.json"
        deadline = time.monotonic() + 60
        while not result.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        before = json.loads(result.read_text(encoding="utf-8"))["shots"][0]
        assert [number, -1] in before["trains"]  # waiting on the platform
        assert office_cli.main(["staff", "--broker", mosquitto.url, "--site", SITE.site, "call", "next", "at", "counter", "3"]) == 0
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
