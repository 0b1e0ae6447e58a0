"""The first-boot setup screen under Xvfb, from the role to a running dispenser app, against an
office as deployed (TLS Mosquitto, enrolment endpoint, console), with the behavioural fake
printer and a keypad on a real pty; every wrong path on the way."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.keypad import FakeKeypad
from firmware_profiles.enroll import pair
from harness import REPO, env
from pairing_rig import PairingOffice, start_pairing_office
from setup_screen import flow
from sync import pairing

pytestmark = pytest.mark.slow

TM_T20III = {"vendor": "0x04b8", "product": "0x0e15", "manufacturer": "EPSON", "product_name": "TM-T20III"}
SCREENSHOTS = REPO / "docs" / "screenshots"


@pytest.fixture
def office(tmp_path: Path) -> Iterator[PairingOffice]:
    rig = start_pairing_office(tmp_path)
    try:
        yield rig
    finally:
        rig.close()


def test_classify_names_every_refusal_the_screen_explains() -> None:
    cases = {
        "the office refused the pairing: this pairing code was already used at 2026-12-06 10:00 UTC": "used",
        "the office refused the pairing: this pairing code expired at 2026-12-06 10:00 UTC: make a new one": "expired",
        "cannot reach the office at 10.0.0.1:8443: [Errno 111] Connection refused; check": "unreachable",
        "this pairing code has a typing mistake: check it character by character": "typo",
        "the office at 10.0.0.1:8443 is not the one this code was made by: check the code": "wrong",
        "the office refused the pairing: the office has seen too many wrong pairing codes: try again": "too_many",
        "something else entirely": "other",
    }
    for message, kind in cases.items():
        assert flow.classify_error(message)[0] == kind, message
    assert flow.classify_error("this pairing code is for a board, not a dispenser: choose board") == ("role", "board")


def test_keys_move_the_focus_and_type_the_code() -> None:
    state = flow.State(screen="code", role="dispenser")
    for key in ("RIGHT", "RIGHT", "OK", "DOWN", "OK"):
        state, _ = flow.step(state, flow.Event("key", key))
    assert state.code == "2A"  # the third key, then one row down (8 columns) and OK
    state, _ = flow.step(state, flow.Event("key", "BACK"))
    assert state.code == "2"
    state, effect = flow.step(state, flow.Event("press", "pair"))
    assert effect is None and state.error == "typo" and state.screen == "code"


def _script(tmp: Path, codes: dict[str, str], scan: Path, with_printer: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = [
        {"record": "start"},
        {"shot": "setup-role-ja.png"},
        {"touch": "lang:en"},
        {"shot": "setup-role-en.png"},
        {"touch": "lang:zh_CN"},
        {"shot": "setup-role-zh_CN.png"},
        {"touch": "lang:ko"},
        {"shot": "setup-role-ko.png"},
        {"touch": "lang:vi"},
        {"shot": "setup-role-vi.png"},
        {"touch": "lang:pt"},
        {"shot": "setup-role-pt.png"},
        {"record": "pt"},
        {"touch": "lang:ja"},
        # the test presses OK on the pty keypad now: the focused first role, the dispenser
        {"wait": "hardware", "timeout": 60},
        {"record": "missing"},
        {"shot": "setup-hardware-missing-ja.png"},
        {"write": [str(scan), with_printer]},
        {"touch": "retry"},
        {"wait": "hardware", "timeout": 30},
        {"record": "found"},
        {"shot": "setup-hardware-ja.png"},
        {"touch": "next"},
        {"wait": "code"},
        {"type": "7K3MQ2"},
        {"touch": "pair"},
        {"record": "typo"},
        {"clear": True},
    ]
    for kind in ("expired", "used", "role", "wrong", "unreachable"):
        steps += [
            {"type": codes[kind]},
            {"touch": "pair"},
            {"wait_error": kind, "timeout": 40},
            {"record": kind},
        ]
        if kind == "expired":
            steps.append({"shot": "setup-code-expired-ja.png"})
        steps.append({"clear": True})
    steps += [
        {"type": codes["good"]},
        {"shot": "setup-code-ja.png"},
        {"touch": "pair"},
        {"wait": "ready", "timeout": 60},
        {"record": "ready"},
        {"shot": "setup-ready-ja.png"},
    ]
    return steps


def test_first_boot_to_a_running_dispenser_with_every_wrong_path_on_the_way(
    office: PairingOffice, tmp_path: Path, display: str
) -> None:
    desk = office.desk
    good = desk.make("dispenser", "admin", None).code
    used = desk.make("dispenser", "admin", None).code
    pair(used, "dispenser", "sha256:" + "ab" * 32, tmp_path / "someone-else")  # another device took it
    expired = desk.make("dispenser", "admin", None, valid_minutes=0.001).code
    board = desk.make("board", "admin", None).code
    forged = pairing.encode("dispenser", "127.0.0.1", office.endpoint.port, secrets.token_bytes(4), b"x" * 32).text
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    unreachable = pairing.encode("dispenser", "127.0.0.1", closed, b"abcd", b"x" * 32).text
    time.sleep(0.1)  # the short code has expired
    codes = {"good": good, "used": used, "expired": expired, "role": board, "wrong": forged, "unreachable": unreachable}

    keypad = FakeKeypad()
    keypad.start_heartbeats()
    serial = [{"device": str(keypad.path), "vid": "0x2e8a", "pid": "0x000a", "product": "madoguchi keypad"}]
    scan = tmp_path / "scan.json"
    scan.write_text(json.dumps({"usb": [], "serial": serial}), encoding="utf-8")
    with_printer = json.dumps({"usb": [TM_T20III], "serial": serial})
    out = tmp_path / "out"
    out.mkdir()
    script = out / "script.json"
    script.write_text(json.dumps(_script(tmp_path, codes, scan, with_printer)), encoding="utf-8")
    tickets = tmp_path / "tickets"
    e = env()
    e["DISPLAY"] = display
    args = [
        sys.executable,
        str(REPO / "tests" / "setup_driver.py"),
        "--script",
        str(script),
        "--out",
        str(out),
        "--config",
        str(tmp_path / "etc" / "device.toml"),
        "--identity-dir",
        str(tmp_path / "identity"),
        "--data",
        str(tmp_path / "data"),
        "--home",
        str(tmp_path / "setup-home"),
        "--fake-printer",
        str(tickets),
        "--scan-file",
        str(scan),
        "--start",
        "exec",
        "--windowed",
    ]
    proc = subprocess.Popen(args, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    result_file = out / "result.json"

    def result() -> dict[str, Any]:
        try:
            return dict(json.loads(result_file.read_text(encoding="utf-8")))
        except (FileNotFoundError, ValueError):
            return {}

    try:
        deadline = time.monotonic() + 60
        while result().get("done", 0) < 14:  # the role screen is up, every language shot
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.2)
        keypad.press("OK")  # the tactile keypad chooses the focused role: the dispenser
        admin = office.console.sign_in("admin")
        deadline = time.monotonic() + 240
        page = ""
        while time.monotonic() < deadline:
            assert not result().get("error"), result()["error"]
            if result().get("done") == len(json.loads(script.read_text())):
                page = admin.get("/admin/devices").text
                if re.search(r'<tr class="online">\s*<th scope="row">dispenser-1</th>', page):
                    break
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.5)
        else:
            raise AssertionError(f"never reached a running dispenser: {result()}")
        records = result()["records"]
        assert records["start"]["focused"] == "role:dispenser"
        assert "Que aparelho é este?" in records["pt"]["texts"] and "Emissor de senhas" in records["pt"]["texts"]
        assert not records["missing"]["ready"]
        assert next(line for line in records["missing"]["hardware"] if "printer" in line).startswith("× printer: ")
        assert any(line.startswith("✓ keypad: madoguchi-keypad at ") for line in records["missing"]["hardware"])
        assert "足りない機器があります。接続してから「もう一度」を押してください。" in records["missing"]["texts"]
        assert records["found"]["ready"] and records["found"]["role"] == "dispenser"
        assert records["typo"]["error"] == "typo" and records["typo"]["screen"] == "code"
        for kind in ("expired", "used", "role", "wrong", "unreachable"):
            assert records[kind]["error"] == kind, records[kind]
        assert "このコードは期限切れです。職員用画面で新しいコードを作ってください。" in records["expired"]["texts"]
        assert records["role"]["error_role"] == "board"
        assert (
            "このコードは案内表示板用です。戻って選び直すか、新しいコードを作ってください。" in records["role"]["texts"]
        )
        assert records["ready"]["device"] == "dispenser-1"
        assert all(verdict != "FAIL" for verdict, _ in records["ready"]["tests"]), records["ready"]["tests"]
        test_tickets = sorted(tickets.glob("*.png"))
        assert test_tickets, "the self-test printed no test ticket"
        # The dispenser app runs: the same pty keypad issues a ticket the office records.
        # The dispenser app runs: the same pty keypad issues a ticket the office records.
        time.sleep(3)  # online is said by the agent, which starts before the screen is drawn
        # OK on the first purpose, then down and OK until 'Issue ticket' (whatever its checklist).
        presses = ["OK"] + ["DOWN", "OK"] * 12
        for key in presses:
            keypad.press(key)
            time.sleep(0.6)
            if len(list(tickets.glob("*.png"))) > len(test_tickets):
                break
        if len(list(tickets.glob("*.png"))) <= len(test_tickets):
            proc.terminate()
            raise AssertionError("the keypad issued no ticket in the running app:\n" + proc.communicate()[0][-5000:])
        if SCREENSHOTS.is_dir() and os.environ.get("MADOGUCHI_SCREENSHOTS"):
            for shot in out.glob("setup-*.png"):  # docs/screenshots, when asked for (scripts/screenshots)
                shutil.copy(shot, SCREENSHOTS / shot.name)
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        keypad.close()
