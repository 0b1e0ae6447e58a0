"""`make demo` runs the lobby: the demo command itself, briefly, as a resident would see it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from console_harness import free_port
from harness import REPO, env
from sync import signing
from sync.store import StateStore


@pytest.mark.slow
def test_demo_runs_the_lobby_and_stops_cleanly(tmp_path: Path) -> None:
    console_port, public_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lobby.demo", "--duration", "10", "--interval", "0.4", "--pace", "1"]
        + ["--console-port", str(console_port), "--public-port", str(public_port), "--data", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        cwd=REPO,
    )
    try:
        lines: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "resident's page:" in line:
                break
        # While it runs: the console's sign-in page and the resident's congestion page answer.
        signin = httpx.get(f"http://127.0.0.1:{console_port}/signin", headers={"Accept-Language": "ja"}, timeout=10)
        assert signin.status_code == 200 and "まどぐち 職員画面" in signin.text
        congestion = httpx.get(f"http://127.0.0.1:{public_port}/congestion?lang=en", timeout=10)
        assert congestion.status_code == 200 and "How busy" in congestion.text
        rest, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(lines) + rest
    assert proc.returncode == 0, err[-2000:]
    assert "embedded amqtt broker on mqtt://127.0.0.1:" in out
    assert f"staff console: http://127.0.0.1:{console_port}/" in out and "clerk1" in out and "madoguchi-demo" in out
    issued = re.findall(r"disp-\d +ticket (\d+) ", out)
    assert len(issued) >= 5 and len(set(issued)) == len(issued)
    assert re.search(r"now calling \d+ → counter \d", out)
    stopped = re.search(r"stopping: (\d+) tickets at the office", out)
    assert stopped and int(stopped.group(1)) == len(issued)  # every ticket reached the office
    assert "Traceback" not in err
    # The demo's dispensers pinned the demo office's key at first start: they believe only it.
    key = signing.public_key_text(signing.load_or_create_key(tmp_path / "office-signing.key").public_key())
    pinned = []
    for state in sorted(tmp_path.glob("disp-*/state.json")):
        with StateStore(state) as store:
            pinned.append((store.get("office_key") or {}).get("key"))
    assert pinned and pinned == [key] * len(pinned)


@pytest.mark.slow
def test_demo_opens_the_dispenser_window_when_a_display_is_there(display: str) -> None:
    e = env()
    e["DISPLAY"] = display
    run = subprocess.run(
        [sys.executable, "-m", "lobby.demo", "--duration", "12", "--interval", "1", "--pace", "2"]
        + ["--console-port", str(free_port()), "--public-port", str(free_port())],
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
