"""The console's "add a device" and ``madoguchi-provision pair`` against an office as deployed:
TLS Mosquitto on the generated files, the HTTPS enrolment endpoint, the console over HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from console_harness import csrf_of
from harness import env
from pairing_rig import PairingOffice, start_pairing_office
from sync import pairing

CODE = re.compile(r'data-code="([0-9A-Z-]+)"')
TM_T20III = {"vendor": "0x04b8", "product": "0x0e15", "manufacturer": "EPSON", "product_name": "TM-T20III"}


@pytest.fixture
def office(tmp_path: Path) -> Iterator[PairingOffice]:
    rig = start_pairing_office(tmp_path)
    try:
        yield rig
    finally:
        rig.close()


def make_code(rig: PairingOffice, c: httpx.Client, role: str) -> str:
    page = c.get("/admin/devices")
    assert page.status_code == 200, page.text
    made = c.post(
        "/admin/devices",
        data={"csrf": csrf_of(page.text), "do": "make", "role": role},
        headers={"Origin": rig.console.url.rstrip("/")},
    )
    assert made.status_code == 303 and "made=" in made.headers["location"]
    shown = c.get(made.headers["location"])
    found = CODE.search(shown.text)
    assert found is not None, shown.text
    # Shown once: the same address again shows no code.
    assert CODE.search(c.get(made.headers["location"]).text) is None
    return found.group(1)


def test_an_administrator_makes_a_code_sees_it_waiting_and_can_withdraw_it(office: PairingOffice) -> None:
    admin = office.console.sign_in("admin")
    code = make_code(office, admin, "board")
    decoded = pairing.decode(code)
    assert (decoded.role, decoded.host, decoded.port) == ("board", "127.0.0.1", office.endpoint.port)
    assert decoded.matches_ca(office.endpoint.registry.ca.fingerprint)
    page = admin.get("/admin/devices").text
    assert 'data-withdraw="board-1"' in page and code not in page
    withdrawn = admin.post(
        "/admin/devices",
        data={"csrf": csrf_of(page), "do": "withdraw", "device_id": "board-1"},
        headers={"Origin": office.console.url.rstrip("/")},
    )
    assert withdrawn.status_code == 303
    page = admin.get("/admin/devices").text
    assert 'data-withdraw="board-1"' not in page and "The code for board-1 was withdrawn." in page
    # The audit log names who made and withdrew it, never the code.
    audit = admin.get("/admin/audit").text
    assert "add_device" in audit and "withdraw_pairing" in audit and code not in audit
    assert code.replace("-", "") not in office.db.read_bytes().decode("latin-1")


def test_only_the_floor_and_administrators_add_devices_and_only_with_the_form(office: PairingOffice) -> None:
    clerk = office.console.sign_in("suzuki", counter=1)
    assert clerk.get("/admin/devices").status_code == 403
    page = clerk.get("/counter").text
    refused = clerk.post(
        "/admin/devices",
        data={"csrf": csrf_of(page), "do": "make", "role": "dispenser"},
        headers={"Origin": office.console.url.rstrip("/")},
    )
    assert refused.status_code == 403
    floor = office.console.sign_in("kato")
    stale = floor.post(
        "/admin/devices",
        data={"csrf": "forged", "do": "make", "role": "dispenser"},
        headers={"Origin": office.console.url.rstrip("/")},
    )
    assert stale.status_code == 403
    assert office.desk.pending() == []
    assert make_code(office, floor, "dispenser")
    bad = floor.post(
        "/admin/devices",
        data={"csrf": csrf_of(floor.get("/admin/devices").text), "do": "make", "role": "toaster"},
        headers={"Origin": office.console.url.rstrip("/")},
    )
    assert bad.status_code == 303
    assert "cannot pair" in floor.get("/admin/devices").text


def test_a_headless_device_pairs_tests_itself_and_runs_in_one_command(
    office: PairingOffice, tmp_path: Path, display: str
) -> None:
    admin = office.console.sign_in("admin", lang="ja")
    code = make_code(office, admin, "dispenser")
    scan = tmp_path / "scan.json"
    scan.write_text(json.dumps({"usb": [TM_T20III], "serial": []}), encoding="utf-8")
    config = tmp_path / "etc" / "device.toml"
    e = env()
    e["DISPLAY"] = display
    e["MADOGUCHI_PROVISION_SCAN"] = str(scan)
    args = [
        sys.executable,
        "-m",
        "firmware_profiles.cli",
        "pair",
        code,
        "--config",
        str(config),
        "--identity-dir",
        str(tmp_path / "identity"),
        "--data",
        str(tmp_path / "data"),
        "--fake-printer",
        str(tmp_path / "tickets"),
        "--timeout",
        "5",
        "--start",
        "exec",
    ]
    app = subprocess.Popen(args, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # The console's live devices panel shows the new dispenser online, with its version.
        import time

        deadline = time.monotonic() + 90
        page = ""
        while time.monotonic() < deadline:
            page = admin.get("/admin/devices").text
            if re.search(r'<tr class="online">\s*<th scope="row">dispenser-1</th>', page):
                break
            assert app.poll() is None, app.stdout.read() if app.stdout else ""
            time.sleep(0.5)
        else:
            raise AssertionError(f"dispenser-1 never came online:\n{page[-3000:]}")
        assert re.search(r"<td>\d+\.\d+\.\d+[^<]*</td>\s*</tr>", page), "no version in the devices panel"
        assert "登録済みの端末" in page and "dispenser-1" in page
        tickets = list((tmp_path / "tickets").glob("*.png"))
        assert tickets, "the self-test printed no test ticket"
        device = (tmp_path / "etc" / "device.env").read_text()
        assert 'MADOGUCHI_DEVICE_ID="dispenser-1"' in device and 'MADOGUCHI_SITE="demo-town"' in device
    finally:
        app.terminate()
        out, _ = app.communicate(timeout=30)
    assert "paired: this device is dispenser-1, a dispenser of site demo-town" in out, out
    assert re.search(r"PASS\s+printer", out), out
    # The same code again: refused, nothing changed.
    again = subprocess.run(
        [*args[:6], str(tmp_path / "other.toml"), *args[7:-2], "--start", "none"],
        env=e,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 2 and "already used" in again.stderr and not (tmp_path / "other.toml").exists()


def test_the_office_knows_a_device_the_moment_it_paired(office: PairingOffice, tmp_path: Path) -> None:
    """The register is read again at once when another process enrolled someone (the endpoint
    runs beside the office): a device that pairs right after another is not refused for a
    heartbeat's time."""
    from firmware_profiles.enroll import pair

    server = office.console.office
    assert server.role_of("dispenser-1") is None  # reads the register now
    code = office.desk.make("dispenser", "admin", None).code
    pair(code, "dispenser", "sha256:" + "ab" * 32, tmp_path / "one")
    assert server.role_of("dispenser-1") == "dispenser"  # within the throttle's seconds
    code = office.desk.make("board", "admin", None).code
    pair(code, "board", "sha256:" + "ab" * 32, tmp_path / "two")
    assert server.role_of("board-1") == "board"
    assert server.role_of("stranger") is None and server.role_of("stranger") is None


def test_starting_the_app_enables_its_unit_and_switches_the_setup_off(tmp_path: Path) -> None:
    from firmware_profiles.pairing_flow import StartError, app_command, start_app

    config = tmp_path / "device.toml"
    config.write_text(
        '[device]\nrole = "board"\nsite = "demo-town"\ndevice_id = "board-1"\nbroker = "mqtts://10.0.0.5:8883/?ca=x"\n'
        'profile_hash = "sha256:00"\noffice_key = "k1"\n',
        encoding="utf-8",
    )
    ran: list[list[str]] = []

    def systemctl(argv: list[str]) -> subprocess.CompletedProcess[str]:
        ran.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    start_app("board", "systemd", config=config, data=tmp_path, run=systemctl)
    assert ran == [
        ["systemctl", "enable", "--now", "madoguchi-board.service"],
        ["systemctl", "disable", "madoguchi-setup.service"],
    ]

    def refusing(argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(
            argv, 1, "", "Failed to enable unit: Unit file madoguchi-board.service does not exist.\n"
        )

    with pytest.raises(StartError, match="enable --now madoguchi-board.service failed: Failed to enable unit"):
        start_app("board", "systemd", config=config, data=tmp_path, run=refusing)
    execs: list[list[str]] = []
    start_app("board", "exec", config=config, data=tmp_path, exec_app=lambda exe, argv: execs.append(argv))
    assert execs == [app_command("board", config, tmp_path)]
    assert execs[0][:1] == ["madoguchi-board"] and ["--office-key", "k1"] == execs[0][-2:]
    assert "--broker" in execs[0] and "mqtts://10.0.0.5:8883/?ca=x" in execs[0]


def test_the_console_serves_the_apt_repository_and_nothing_beside_it(tmp_path: Path, mosquitto: Any) -> None:
    """What devices fetch updates from (office/apt_repo.py's public/, at /apt/ on the console's
    port); the signing key and reprepro's database beside it stay unreachable."""
    from console_harness import start_console
    from office.console.app import Settings

    repo = tmp_path / "apt"
    (repo / "public" / "dists" / "madoguchi").mkdir(parents=True)
    (repo / "public" / "dists" / "madoguchi" / "InRelease").write_text("signed release\n")
    (repo / "gnupg").mkdir()
    (repo / "gnupg" / "private.key").write_text("secret\n")
    console = start_console(mosquitto.url, tmp_path / "office.sqlite3", Settings(apt_public=repo / "public"))
    try:
        c = console.client()
        got = c.get("/apt/dists/madoguchi/InRelease")
        assert got.status_code == 200 and got.text == "signed release\n"
        for path in ("/apt/../gnupg/private.key", "/apt/%2e%2e/gnupg/private.key", "/apt/conf/distributions"):
            assert c.get(path).status_code == 404, path
        assert "secret" not in c.get("/apt/../gnupg/private.key").text
    finally:
        console.close()


def test_the_office_command_finds_the_ca_for_add_a_device(office: PairingOffice, tmp_path: Path) -> None:
    """madoguchi-office serve --security-home: the code names the address security init gave
    the certificate and the enrolment port; no CA there, no Add a device (the page says so)."""
    import argparse

    from office.cli import _pairing_desk

    args = argparse.Namespace(security_home=office.home.root, db=office.db, enrol_port=8443, pairing_host=None)
    desk = _pairing_desk(args, lambda: 1_795_219_200_000)
    try:
        assert desk is not None and (desk.host, desk.port) == ("127.0.0.1", 8443)
        code = pairing.decode(desk.make("kiosk", "admin", None).code)
        assert (code.host, code.port, code.role) == ("127.0.0.1", 8443, "kiosk")
    finally:
        if desk is not None:
            desk.close()
    args.security_home = tmp_path / "nowhere"
    assert _pairing_desk(args, lambda: 0) is None


def test_a_headless_pair_with_hardware_missing_writes_nothing_and_keeps_the_code(
    office: PairingOffice, tmp_path: Path
) -> None:
    code = office.desk.make("dispenser", "admin", None).code
    scan = tmp_path / "scan.json"
    scan.write_text(json.dumps({"usb": [], "serial": []}), encoding="utf-8")  # the printer unplugged
    e = env()
    e["MADOGUCHI_PROVISION_SCAN"] = str(scan)
    config = tmp_path / "etc" / "device.toml"
    done = subprocess.run(
        [sys.executable, "-m", "firmware_profiles.cli", "pair", code, "--config", str(config),
         "--identity-dir", str(tmp_path / "identity"), "--start", "none"],
        env=e, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"printer\s+missing\s+required", done.stdout), done.stdout
    assert "nothing written, the code is not used: settle the hardware above, then run pair again" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert not config.exists() and not (tmp_path / "identity").exists()
    assert [p.device_id for p in office.desk.pending()] == ["dispenser-1"]  # the code still works
