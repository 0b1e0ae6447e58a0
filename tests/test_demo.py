"""`make demo` runs the lobby: the demo command itself, briefly, as a resident would see it."""

from __future__ import annotations

import concurrent.futures
import os
import re
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from console_harness import free_port
from harness import REPO, env
from lobby.demo import window_layout
from sync import signing
from sync.store import StateStore


@pytest.mark.slow
def test_demo_runs_the_lobby_and_stops_cleanly(tmp_path: Path) -> None:
    console_port, public_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lobby.demo", "--duration", "10", "--interval", "0.4", "--pace", "1"]
        + ["--console-port", str(console_port), "--public-port", str(public_port), "--data", str(tmp_path)]
        + ["--history-days", "20"],
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
    stopped = re.search(r"stopping: (\d+) tickets at the office today", out)
    assert stopped and int(stopped.group(1)) == len(issued)  # every ticket reached the office
    # The statistics' past was written beside the lobby, through the ticket log, before today.
    past = re.search(r"stats +(\d+) past tickets written", out)
    assert past and int(past.group(1)) > 1000, out[-3000:]
    with closing(sqlite3.connect(tmp_path / "office.sqlite3")) as db:
        past_days = db.execute(
            "SELECT COUNT(DISTINCT day) FROM ticket_log WHERE kind = 'issued' AND device LIKE 'dispenser-%'"
        ).fetchone()[0]
    assert past_days >= 10  # twenty calendar days back: their open days
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
    pool = concurrent.futures.ThreadPoolExecutor(1)
    windows = pool.submit(_windows, display, 60)
    run = subprocess.run(
        [sys.executable, "-m", "lobby.demo", "--duration", "20", "--interval", "1", "--pace", "2"]
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
    # Xvfb has no window manager: the windows opened side by side where the demo placed them,
    # none over another (they used to open stacked, the dispenser hidden under the board).
    geometry = windows.result()
    assert set(geometry) == {"madoguchi board", "madoguchi dispenser", "madoguchi kiosk"}, geometry
    places = window_layout(1920, 1200)
    expected = {"madoguchi board": "board", "madoguchi dispenser": "dispenser", "madoguchi kiosk": "kiosk"}
    for title, (x, y, w, h) in geometry.items():
        place = places[expected[title]]
        assert (x, y, w, h) == (place.left, place.top, place.width, place.height), (title, geometry)
    boxes = list(geometry.values())
    for i, (x, y, w, h) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1 :]:
            assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y, geometry


def _windows(display: str, deadline_s: float) -> dict[str, tuple[int, int, int, int]]:
    """The demo's windows on the display (title: x, y, width, height), as soon as all three are
    there and the board is no longer at the position a new window takes."""
    found: dict[str, tuple[int, int, int, int]] = {}
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        tree = subprocess.run(
            ["xwininfo", "-root", "-tree"],
            env={**os.environ, "DISPLAY": display},
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        found = {}
        for line in tree.splitlines():
            match = re.search(r'"(madoguchi[^"]*)".*?\s(\d+)x(\d+)\+(-?\d+)\+(-?\d+)\s', line)
            if match:
                title, w, h, x, y = match.groups()
                found[title] = (int(x), int(y), int(w), int(h))
        if len(found) == 3:
            return found
        time.sleep(0.5)
    return found


@pytest.mark.slow
def test_the_ward_demo_cuts_and_restores_a_branch_and_the_centre_catches_up() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lobby.demo", "--ward", "--duration", "24", "--interval", "0.3", "--pace", "1"]
        + ["--console-port", str(free_port())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        cwd=REPO,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        lines: list[str] = []
        for line in proc.stdout:
            lines.append(line)
            if "commands: cut SITE" in line:
                break
        time.sleep(3)  # some of chuo's tickets reach the centre first
        # The centre's console: its input desk lists both branches' input cases, signed in as
        # the demo's input operator.
        found = re.search(r"the centre's console: (http://127\.0\.0\.1:\d+/)ward", "".join(lines))
        assert found, "".join(lines)
        desk = _signed_in(found.group(1), "input1")
        page = desk.get("/ward/input")
        assert page.status_code == 200 and "各支所の入力待ち案件" in page.text, page.text[-1500:]
        assert desk.get("/ward").status_code == 403  # the ward's floor is the floor manager's
        proc.stdin.write("cut chuo\n")
        proc.stdin.flush()
        time.sleep(6)
        proc.stdin.write("lag\nrestore chuo\nbogus\n")
        proc.stdin.flush()
        rest, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(lines) + rest
    assert proc.returncode == 0, err[-2000:]
    assert "chuo's WAN link is cut" in out and "chuo's WAN link is back" in out and "not a command: 'bogus'" in out
    # while cut, the centre had fewer of chuo's tickets than chuo itself
    behind = re.search(r"chuo: (\d+) events at the centre, newest .*?; (\d+) tickets at the branch today", out)
    assert behind and int(behind.group(1)) < int(behind.group(2)), out[-3000:]
    for site in ("chuo", "kita"):
        branch = re.search(rf"stopping: (\d+) tickets today at branch {site}", out)
        centre = re.search(rf"{site}: (\d+) events at the centre\n", out)
        assert branch and centre and int(branch.group(1)) == int(centre.group(1)) > 5, out[-3000:]
    assert "Traceback" not in err


def _signed_in(url: str, username: str) -> httpx.Client:
    """A client of the demo's console signed in as one of its accounts."""
    from lobby.accounts import DEMO_PASSWORD

    c = httpx.Client(base_url=url, headers={"Accept-Language": "ja"}, timeout=15)
    page = c.get("/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    form = {"csrf": token.group(1), "username": username, "password": DEMO_PASSWORD, "counter": ""}
    done = c.post("/signin", data=form, headers={"Origin": url.rstrip("/")})
    assert done.status_code == 303, done.text[:500]
    return c
