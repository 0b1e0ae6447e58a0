"""`make demo` runs the lobby: the demo command itself, briefly, as a resident would see it."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from harness import REPO, env


@pytest.mark.slow
def test_demo_runs_the_lobby_and_stops_cleanly() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "lobby.demo", "--duration", "8", "--interval", "0.4", "--pace", "1"],
        check=False,
        capture_output=True,
        text=True,
        env=env(),
        cwd=REPO,
        timeout=90,
    )
    out = run.stdout
    assert run.returncode == 0, run.stderr[-2000:]
    assert "embedded amqtt broker on mqtt://127.0.0.1:" in out
    issued = re.findall(r"disp-\d +ticket (\d+) ", out)
    assert len(issued) >= 5 and len(set(issued)) == len(issued)
    assert re.search(r"now calling \d+ → counter \d", out)
    stopped = re.search(r"stopping: (\d+) tickets at the office", out)
    assert stopped and int(stopped.group(1)) == len(issued)  # every ticket reached the office
    assert "Traceback" not in run.stderr


@pytest.mark.slow
def test_demo_opens_the_dispenser_window_when_a_display_is_there(display: str) -> None:
    e = env()
    e["DISPLAY"] = display
    run = subprocess.run(
        [sys.executable, "-m", "lobby.demo", "--duration", "12", "--interval", "1", "--pace", "2"],
        check=False,
        capture_output=True,
        text=True,
        env=e,
        cwd=REPO,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "dispenser window opened" in run.stdout and "lobby board window opened" in run.stdout
    # The window's app connected, checked its printer and told the office.
    assert "disp-window: printer ok" in run.stdout
    assert "Traceback" not in run.stderr
