"""madoguchi-provision end to end: detect, apply, enroll and status through main(), with the USB
and serial enumerations faked by a scan file (--scan-file / $MADOGUCHI_PROVISION_SCAN), real
files, an interactive session driven through stdin, enrolment against a real EnrolServer over
TLS, and a real Mosquitto for the broker probe.
"""

from __future__ import annotations

import io
import json
import os
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from firmware_profiles.cli import SCAN_ENV, load_scan, main
from firmware_profiles.detect import SerialPort, UsbDevice
from firmware_profiles.enroll import load_identity
from firmware_profiles.pairing_flow import env_path
from lobby.brokers import MosquittoBroker
from office.broker_security import BrokerSettings, SecurityHome, init_security
from office.enrol_http import EnrolServer
from office.enrolment import EnrolmentRegistry
from office.identity import signing_key_path
from office.pki import OfficeCA
from sync import signing
from sync.outbox import Outbox

SITE = "demo-town"
TM_T20III = {
    "vendor": "0x04b8",
    "product": "0x0e15",
    "manufacturer": "EPSON",
    "product_name": "TM-T20III",
    "bus": 1,
    "address": 4,
}
EPSON_CLASS = {"vendor": "0x04b8", "product": "0x0202", "bus": 1, "address": 5, "interface_classes": [7]}
MOUSE = {"vendor": "0x046d", "product": "0xc077", "bus": 1, "address": 8, "interface_classes": [3]}
KEYPAD = {
    "device": "/dev/ttyACM0",
    "by_id": "/dev/serial/by-id/usb-madoguchi_keypad_0001-if00",
    "vid": "0x2e8a",
    "pid": "0x000a",
}
KEYPAD_2 = {"device": "/dev/ttyACM1", "by_id": "/dev/serial/by-id/usb-madoguchi_keypad_0002-if00"}
UART = {"device": "/dev/ttyS0"}


def scan_file(tmp_path: Path, usb: list[dict[str, Any]], serial: list[dict[str, Any]], name: str = "scan.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"usb": usb, "serial": serial}), encoding="utf-8")
    return path


def run(
    capsys: pytest.CaptureFixture[str],
    *argv: str,
    stdin: str | None = None,
    monkeypatch: pytest.MonkeyPatch | None = None,
) -> tuple[int, str, str]:
    """main(argv) -> (exit code, stdout, stderr); ``stdin`` feeds the answers."""
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "etc" / "device.toml"


# --------------------------------------------------------------------------------------------
# detect
# --------------------------------------------------------------------------------------------


def test_detect_prints_found_missing_and_unclaimed_aligned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scan = scan_file(tmp_path, [TM_T20III, MOUSE], [KEYPAD, UART])
    code, out, _ = run(capsys, "detect", "--role", "dispenser", "--scan-file", str(scan))
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and not line.startswith("   ")}
    assert re.search(r"printer\s+found\s+required\s+tm-t20iii at USB 04b8:0e15", rows["printer"])
    assert re.search(r"keypad\s+found\s+optional\s+madoguchi-keypad at /dev/ttyACM0", rows["keypad"])
    assert "not detectable" in rows["display"] and "touch-10in-1280x800" in rows["display"]
    # The status column starts at the same place on every slot line.
    starts = {rows[s].index(w) for s, w in (("printer", "found"), ("keypad", "found"), ("display", "not detectable"))}
    assert len(starts) == 1
    assert "USB 046d:c077" in out and "/dev/ttyS0" in out
    assert "madoguchi-provision apply --role dispenser --site SITE --device-id ID" in out


def test_detect_says_what_to_do_when_missing_or_ambiguous(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scan = scan_file(tmp_path, [EPSON_CLASS], [KEYPAD, KEYPAD_2])
    monkeypatch.setenv(SCAN_ENV, str(scan))  # the environment variable instead of --scan-file
    code, out, _ = run(capsys, "detect", "--role", "dispenser")
    assert code == 1
    assert "not ready; to do:" in out
    assert re.search(r"printer: say which model it is: --choose printer=<[a-z0-9-|]*tm-t88v[a-z0-9-|]*>", out)
    assert (
        "keypad: several ports fit: --set keypad.port=</dev/serial/by-id/usb-madoguchi_keypad_0001-if00 | "
        "/dev/serial/by-id/usb-madoguchi_keypad_0002-if00>"
    ) in out
    code, out, _ = run(
        capsys,
        "detect",
        "--role",
        "dispenser",
        "--choose",
        "printer=tm-t88v",
        "--set",
        "keypad.port=/dev/serial/by-id/usb-madoguchi_keypad_0002-if00",
    )
    assert code == 0, out
    assert "--choose printer=tm-t88v --set keypad.port=/dev/serial/by-id/usb-madoguchi_keypad_0002-if00" in out

    scan = scan_file(tmp_path, [MOUSE], [], name="empty.json")
    code, out, _ = run(capsys, "detect", "--role", "dispenser", "--scan-file", str(scan))
    assert code == 1
    assert re.search(r"printer\s+missing\s+required", out)
    assert "printer: connect the the ticket printer" not in out  # no doubled article
    assert "--choose printer=<" in out


def test_save_scan_writes_what_load_scan_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scan = scan_file(tmp_path, [TM_T20III, MOUSE], [KEYPAD, UART])
    saved = tmp_path / "seen.json"
    code, out, _ = run(capsys, "detect", "--role", "dispenser", "--scan-file", str(scan), "--save-scan", str(saved))
    assert code == 0 and f"saved what was seen to {saved}" in out
    usb, serial = load_scan(saved)
    assert usb[0] == UsbDevice(0x04B8, 0x0E15, bus=1, address=4, manufacturer="EPSON", product_name="TM-T20III")
    assert usb[1].interface_classes == (3,)
    assert serial == [
        SerialPort("/dev/ttyACM0", by_id=KEYPAD["by_id"], vid=0x2E8A, pid=0x000A),
        SerialPort("/dev/ttyS0"),
    ]
    assert json.loads(saved.read_text())["usb"][0]["vendor"] == "0x04b8"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not JSON"),
        ('{"usb": [{"vendor": 1208}]}', 'usb[0].product: required: the product id, e.g. "0x0e15"'),
        (
            '{"usb": [{"vendor": "epson", "product": 1}]}',
            'usb[0].vendor: expected a number such as 0x04b8, got "epson"',
        ),
        ('{"serial": [{"by_id": "x"}]}', 'serial[0].device: required: the port\'s device path, e.g. "/dev/ttyACM0"'),
        ('{"hubs": []}', "hubs: unknown key; allowed here: usb, serial"),
        ('{"usb": "x"}', "usb: expected a list of a mapping with vendor, product"),
        (
            '{"serial": [{"device": "/dev/ttyS0"}, {"device": "/dev/ttyS1", "vid": "2e8a"}]}',
            'serial[1].vid: expected a number such as 0x04b8, got "2e8a"',
        ),
        (
            '{"usb": [{"vendor": 1, "product": 2, "interface_classes": [3, "x"]}]}',
            "usb[0].interface_classes[1]: expected a number",
        ),
        (
            '{"usb": [{"vendor": 1, "product": 2, "bus": true}]}',
            "usb[0].bus: expected a number such as 0x04b8, got true",
        ),
    ],
)
def test_a_bad_scan_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    code, _out, err = run(capsys, "detect", "--role", "dispenser", "--scan-file", str(bad))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert f"scan file {bad}: " in err


# --------------------------------------------------------------------------------------------
# apply
# --------------------------------------------------------------------------------------------


def _apply(config: Path, scan: Path, *extra: str) -> list[str]:
    return [
        "apply",
        "--role",
        "dispenser",
        "--site",
        SITE,
        "--device-id",
        "disp-1",
        "--scan-file",
        str(scan),
        "--config",
        str(config),
        *extra,
    ]


def test_dry_run_shows_the_configuration_and_writes_nothing(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scan = scan_file(tmp_path, [TM_T20III], [KEYPAD])
    code, out, _ = run(capsys, *_apply(config, scan, "--dry-run"))
    assert code == 0
    assert 'model = "TM-T20III"' in out and f'port = "{KEYPAD["by_id"]}"' in out
    assert "does not exist yet" in out and "dry run" in out
    assert not config.exists() and not env_path(config).exists()


def test_yes_writes_the_configuration_and_the_environment_file(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scan = scan_file(tmp_path, [TM_T20III], [KEYPAD])
    code, out, _ = run(capsys, *_apply(config, scan, "--yes"))
    assert code == 0, out
    doc = tomllib.loads(config.read_text())
    assert doc["device"]["device_id"] == "disp-1" and doc["device"]["broker"] == "mqtts://office.local:8883"
    assert doc["keypad"] == {"port": KEYPAD["by_id"]}
    assert f"wrote {config}" in out and "next: madoguchi-provision enroll" in out
    env = dict(line.split("=", 1) for line in env_path(config).read_text().splitlines() if not line.startswith("#"))
    assert env == {
        "MADOGUCHI_SITE": '"demo-town"',
        "MADOGUCHI_DEVICE_ID": '"disp-1"',
        "MADOGUCHI_BROKER": '"mqtts://office.local:8883"',
        "MADOGUCHI_DEVICE_CONFIG": f'"{config.resolve()}"',
    }
    # Again: nothing to do.
    before = config.stat().st_mtime_ns
    code, out, _ = run(capsys, *_apply(config, scan, "--yes"))
    assert code == 0 and "no change" in out and config.stat().st_mtime_ns == before


def test_a_change_shows_a_diff_and_waits_for_confirmation(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(capsys, *_apply(config, scan_file(tmp_path, [TM_T20III], [KEYPAD]), "--yes"))
    written = config.read_text()
    scan = scan_file(tmp_path, [EPSON_CLASS], [KEYPAD], name="other.json")
    argv = _apply(config, scan, "--choose", "printer=tm-t88v")
    code, out, _ = run(capsys, *argv, stdin="n\n", monkeypatch=monkeypatch)
    assert code == 1 and "not written" in out
    assert '-model = "TM-T20III"' in out and '+model = "TM-T88V"' in out and "write " in out
    assert config.read_text() == written
    code, out, _ = run(capsys, *argv, stdin="", monkeypatch=monkeypatch)  # no answer at all: a mistake, not a yes
    assert code == 2 and config.read_text() == written
    code, out, _ = run(capsys, *argv, stdin="y\n", monkeypatch=monkeypatch)
    assert code == 0 and tomllib.loads(config.read_text())["printer"]["model"] == "TM-T88V"


def test_apply_refuses_while_hardware_is_missing_unless_configured_by_hand(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scan = scan_file(tmp_path, [], [])
    code, out, _ = run(capsys, *_apply(config, scan, "--yes"))
    assert code == 1 and "nothing written" in out and not config.exists()
    # A network printer is never found on USB: choosing it (and where it is) is enough.
    code, out, _ = run(
        capsys,
        *_apply(
            config,
            scan,
            "--yes",
            "--choose",
            "printer=tm-m30iii",
            "--set",
            "printer.backend=network",
            "--set",
            "printer.network.host=192.168.1.50",
        ),
    )
    assert code == 0, out
    assert re.search(r"printer\s+chosen\s+required\s+tm-m30iii as chosen", out)
    assert tomllib.loads(config.read_text())["printer"]["network"] == {"port": 9100, "host": "192.168.1.50"}


def test_apply_keeps_the_enrolled_broker_and_warns_when_the_id_changes(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scan = scan_file(tmp_path, [TM_T20III], [])
    run(capsys, *_apply(config, scan, "--yes", "--broker", "mqtts://office:8883/?ca=/x/ca.pem&cert=/x/c.pem&key=/x/k"))
    code, out, _ = run(
        capsys,
        "apply",
        "--role",
        "dispenser",
        "--site",
        SITE,
        "--device-id",
        "disp-2",
        "--scan-file",
        str(scan),
        "--config",
        str(config),
        "--yes",
    )
    assert code == 0
    assert "changes device_id from 'disp-1' to 'disp-2'" in out and "enroll again" in out
    assert tomllib.loads(config.read_text())["device"]["broker"].endswith("cert=/x/c.pem&key=/x/k")


def test_apply_repairs_a_broken_configuration(tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config.parent.mkdir(parents=True)
    config.write_text("[device\nrole = \n")
    code, out, _ = run(capsys, *_apply(config, scan_file(tmp_path, [TM_T20III], []), "--yes"))
    assert code == 0 and "not valid TOML" in out and "it will be replaced" in out
    assert tomllib.loads(config.read_text())["device"]["device_id"] == "disp-1"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["apply", "--role", "dispenser", "--site", SITE, "--device-id", "disp-1", "--choose", "printer"],
            "expected slot=model",
        ),
        (["apply", "--role", "dispensr", "--site", SITE, "--device-id", "disp-1"], "did you mean"),
        (
            [
                "apply",
                "--role",
                "dispenser",
                "--site",
                SITE,
                "--device-id",
                "disp-1",
                "--no-detect",
                "--set",
                "keypad.colour=red",
            ],
            "keypad",
        ),
        (["apply", "--role", "dispenser", "--device-id", "disp-1"], "--site is required"),
        (
            ["apply", "--role", "dispenser", "--site", "bad site", "--device-id", "disp-1", "--no-detect"],
            "site: 'bad site' is not a valid id",
        ),
        (
            ["apply", "--role", "dispenser", "--site", SITE, "--device-id", "d", "--no-detect", "--broker", "http://x"],
            "broker: 'http://x' is not a broker URL",
        ),
        (["detect"], "--role is required"),
        (["apply", "--bogus"], "unrecognized arguments"),
    ],
)
def test_user_mistakes_are_one_clear_line_and_exit_2(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    scan = scan_file(tmp_path, [TM_T20III], [])
    code, _out, err = run(capsys, *argv, "--config", str(config), "--scan-file", str(scan))
    assert code == 2
    assert message in err and err.startswith("madoguchi-provision")
    assert not config.exists()


def test_interactive_apply_asks_for_what_is_missing(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scan = scan_file(tmp_path, [EPSON_CLASS], [KEYPAD, KEYPAD_2])
    answers = (
        "2\n"  # role: dispenser (board, dispenser, kiosk)
        "bad site!\n"  # refused, asked again
        f"{SITE}\n"
        "disp-7\n"
        "\n"  # display: not detectable, several touch screens fit; Enter keeps the default
        "tm-t88vi\n"  # printer: 04b8:0202 could be several models
        "2\n"  # keypad: two ports fit; the second
        "y\n"  # write it
    )
    code, out, err = run(
        capsys,
        "apply",
        "--interactive",
        "--scan-file",
        str(scan),
        "--config",
        str(config),
        stdin=answers,
        monkeypatch=monkeypatch,
    )
    assert code == 0, out + err
    assert "which role is this device?" in out and "is not a valid site id" in out
    assert "which model is it?" in out and "which port is the keypad?" in out
    doc = tomllib.loads(config.read_text())
    assert (doc["device"]["role"], doc["device"]["site"], doc["device"]["device_id"]) == ("dispenser", SITE, "disp-7")
    assert doc["device"]["models"]["display"] == "touch-10in-1280x800"
    assert doc["printer"]["model"] == "TM-T88VI"
    assert doc["keypad"]["port"] == KEYPAD_2["by_id"]


def test_interactive_session_that_runs_out_of_answers_is_a_clear_error(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scan = scan_file(tmp_path, [TM_T20III], [])
    code, _out, err = run(
        capsys,
        "apply",
        "--interactive",
        "--scan-file",
        str(scan),
        "--config",
        str(config),
        stdin="dispenser\n",
        monkeypatch=monkeypatch,
    )
    assert code == 2 and "no answer to 'site id" in err and "give it as --site SITE" in err
    assert not config.exists()


# --------------------------------------------------------------------------------------------
# enroll (a real endpoint over TLS) and status
# --------------------------------------------------------------------------------------------


@pytest.fixture
def office(tmp_path: Path) -> Iterator[tuple[EnrolmentRegistry, EnrolServer]]:
    import time

    now = int(time.time() * 1000)
    home = SecurityHome(tmp_path / "office")
    files, _identity = init_security(home, BrokerSettings(site=SITE, hosts=("localhost",), port=8883), now_ms=now)
    registry = EnrolmentRegistry.open(tmp_path / "office.sqlite3", OfficeCA.load(home.ca_dir), SITE)
    key = signing.load_or_create_key(signing_key_path(tmp_path / "office.sqlite3"))
    server = EnrolServer(
        registry,
        certfile=files.cert,
        keyfile=files.key,
        host="127.0.0.1",
        port=0,
        broker="mqtts://localhost:8883",
        office_key=signing.public_key_text(key.public_key()),
    )
    server.start()
    yield registry, server
    server.stop()
    registry.close()


def test_enroll_records_the_tls_broker_url_and_a_token_works_once(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], office: tuple[EnrolmentRegistry, EnrolServer]
) -> None:
    import time

    registry, server = office
    run(capsys, *_apply(config, scan_file(tmp_path, [TM_T20III], []), "--yes"))
    applied = tomllib.loads(config.read_text())
    token = registry.issue_token("disp-1", "dispenser", now_ms=int(time.time() * 1000)).text
    identity_dir = tmp_path / "identity"
    argv = [
        "enroll",
        "--office",
        server.url(),
        "--token",
        token,
        "--config",
        str(config),
        "--identity-dir",
        str(identity_dir),
    ]
    code, out, err = run(capsys, *argv)
    assert code == 0, out + err
    assert "enrolled disp-1 as dispenser of site demo-town" in out
    identity = load_identity(identity_dir)
    doc = tomllib.loads(config.read_text())
    assert doc["device"]["broker"] == identity.broker_url()
    assert doc["device"]["broker"].startswith("mqtts://localhost:8883/?ca=")
    # Only the broker changed; the office recorded the applied profile hash.
    assert {k: v for k, v in doc.items() if k != "device"} == {k: v for k, v in applied.items() if k != "device"}
    device = registry.device("disp-1")
    assert device is not None and device.profile_hash == applied["device"]["profile_hash"]
    assert f'MADOGUCHI_BROKER="{identity.broker_url()}"' in env_path(config).read_text()
    # The office's signing key is pinned: in the identity, the configuration and the units' env.
    assert server.office_key is not None and identity.office_key == server.office_key
    assert doc["device"]["office_key"] == server.office_key
    assert f'MADOGUCHI_OFFICE_KEY="{server.office_key}"' in env_path(config).read_text()
    # Applying the profile again keeps the pin (and the broker), as it keeps the identity.
    run(capsys, *_apply(config, scan_file(tmp_path, [TM_T20III], []), "--yes"))
    assert tomllib.loads(config.read_text())["device"]["office_key"] == server.office_key
    assert f'MADOGUCHI_OFFICE_KEY="{server.office_key}"' in env_path(config).read_text()
    # The same token again: refused by the office, one line, nothing changed.
    before = config.read_text()
    code, out, err = run(capsys, *argv)
    assert code == 2 and "already used" in err and len(err.strip().splitlines()) == 1
    assert config.read_text() == before


def test_enroll_without_a_configuration_or_with_a_bad_token(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "enroll", "--office", "https://127.0.0.1:1", "--token", "x", "--config", str(config))
    assert code == 2 and "run madoguchi-provision apply first" in err
    run(capsys, *_apply(config, scan_file(tmp_path, [TM_T20III], []), "--yes"))
    code, _, err = run(capsys, "enroll", "--office", "https://127.0.0.1:1", "--token", "hello", "--config", str(config))
    assert code == 2 and "not an enrolment token" in err


def test_status_reports_identity_profile_broker_and_outbox(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], mosquitto: MosquittoBroker
) -> None:
    run(capsys, *_apply(config, scan_file(tmp_path, [TM_T20III], []), "--yes", "--broker", mosquitto.url))
    data = tmp_path / "data"
    with Outbox(data / "outbox", "disp-1") as outbox:
        for n in range(5):
            outbox.append("ticket.issued", {"n": n}, hlc=f"{n:013d}-0000", at_ms=1_000 + n)
        outbox.ack(3)
    code, out, _ = run(capsys, "status", "--config", str(config), "--data", str(data))
    assert code == 0, out
    lines = {line.split()[1]: line for line in out.splitlines()}
    assert "disp-1 (dispenser at demo-town)" in lines["device"]
    assert "PASS" in lines["profile"] and "matches" in lines["profile"]
    assert "WARN" in lines["identity"] and "not enrolled" in lines["identity"]
    assert "PASS" in lines["broker"] and f"127.0.0.1:{mosquitto.port} answers" in lines["broker"]
    assert "2 event(s) waiting" in out and "acknowledged up to event 3" in out
    # Edited by hand: the hash no longer matches.
    config.write_text(config.read_text().replace("timeout_ms = 5000", "timeout_ms = 9000"))
    mosquitto.stop()
    code, out, _ = run(capsys, "status", "--config", str(config), "--data", str(data))
    assert code == 1
    assert re.search(r"WARN\s+profile\s+sha256:\S+ no longer matches", out)
    assert re.search(r"FAIL\s+broker\s+nothing answers at 127.0.0.1", out)


def test_status_after_enrolment_shows_the_certificate(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], office: tuple[EnrolmentRegistry, EnrolServer]
) -> None:
    import time

    registry, server = office
    run(capsys, *_apply(config, scan_file(tmp_path, [TM_T20III], []), "--yes"))
    token = registry.issue_token("disp-1", "dispenser", now_ms=int(time.time() * 1000)).text
    run(
        capsys,
        "enroll",
        "--office",
        server.url(),
        "--token",
        token,
        "--config",
        str(config),
        "--identity-dir",
        str(tmp_path / "identity"),
    )
    _code, out, _ = run(capsys, "status", "--config", str(config), "--data", str(tmp_path / "none"), "--timeout", "1")
    assert re.search(r"PASS\s+identity\s+certificate disp-1 \(serial [0-9A-F]+\) valid until \d{4}-", out)
    assert "days left" in out
    assert re.search(r"WARN\s+last sync\s+no outbox", out)
    assert os.environ.get(SCAN_ENV) is None


def test_a_terminal_on_stdin_makes_apply_ask_for_what_is_missing(tmp_path: Path, config: Path) -> None:
    """No --interactive: stdin is a terminal (a real pty) and --site/--device-id are missing."""
    import subprocess
    import sys

    scan = scan_file(tmp_path, [TM_T20III], [])
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "firmware_profiles.cli",
                "apply",
                "--role",
                "dispenser",
                "--scan-file",
                str(scan),
                "--config",
                str(config),
            ],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        os.write(master, f"{SITE}\ndisp-3\n\ny\n".encode())
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0, out + err
    assert "site id: " in out and "device id: " in out and "display: cannot be detected" in out
    assert tomllib.loads(config.read_text())["device"]["device_id"] == "disp-3"


def test_without_a_terminal_nothing_is_asked(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scan = scan_file(tmp_path, [TM_T20III], [])
    code, out, err = run(
        capsys,
        "apply",
        "--role",
        "dispenser",
        "--scan-file",
        str(scan),
        "--config",
        str(config),
        stdin=f"{SITE}\ndisp-3\n\ny\n",
        monkeypatch=monkeypatch,
    )
    assert code == 2 and "--site is required" in err and "site id:" not in out


def test_enroll_hands_the_identity_to_the_apps_user(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], office: tuple[EnrolmentRegistry, EnrolServer]
) -> None:
    import pwd
    import time

    registry, server = office
    run(capsys, *_apply(config, scan_file(tmp_path, [TM_T20III], []), "--yes"))
    token = registry.issue_token("disp-1", "dispenser", now_ms=int(time.time() * 1000)).text
    argv = [
        "enroll",
        "--office",
        server.url(),
        "--token",
        token,
        "--config",
        str(config),
        "--identity-dir",
        str(tmp_path / "identity"),
    ]
    # An unknown user is refused before the token is spent.
    code, _, err = run(capsys, *argv, "--owner", "no-such-user-here")
    assert code == 2 and "--owner no-such-user-here: no such user" in err
    me = pwd.getpwuid(os.geteuid()).pw_name
    code, out, err = run(capsys, *argv, "--owner", me)
    assert code == 0, out + err
    key = tmp_path / "identity" / "current" / "device.key"
    assert key.stat().st_uid == os.geteuid() and key.stat().st_mode & 0o777 == 0o600


def test_interactive_kiosk_with_two_serial_adapters_asks_for_the_cash_port_once(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ftdi = {
        "device": "/dev/ttyUSB0",
        "by_id": "/dev/serial/by-id/usb-FTDI_FT232R_A1-if00-port0",
        "vid": "0x0403",
        "pid": "0x6001",
    }
    ftdi_2 = {
        "device": "/dev/ttyUSB1",
        "by_id": "/dev/serial/by-id/usb-FTDI_FT232R_B2-if00-port0",
        "vid": "0x0403",
        "pid": "0x6001",
    }
    reader = {"vendor": "0x072f", "product": "0xb100", "interface_classes": [11]}
    scan = scan_file(tmp_path, [TM_T20III, reader], [ftdi, ftdi_2])
    answers = "\n\n2\ny\n"  # display: default; document printer: default; the cash bus: the second adapter; write
    code, out, err = run(
        capsys,
        "apply",
        "--role",
        "kiosk",
        "--site",
        SITE,
        "--device-id",
        "kiosk-1",
        "--interactive",
        "--scan-file",
        str(scan),
        "--config",
        str(config),
        stdin=answers,
        monkeypatch=monkeypatch,
    )
    assert code == 0, out + err
    assert out.count("which port is the") == 1
    doc = tomllib.loads(config.read_text())
    assert doc["cash"]["port"] == ftdi_2["by_id"] and doc["card_reader"]["backend"] == "pcsc"


def test_enroll_warns_when_the_office_gave_another_role(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], office: tuple[EnrolmentRegistry, EnrolServer]
) -> None:
    import time

    registry, server = office
    run(capsys, *_apply(config, scan_file(tmp_path, [TM_T20III], []), "--yes"))
    token = registry.issue_token("disp-1", "board", now_ms=int(time.time() * 1000)).text
    code, out, _ = run(
        capsys,
        "enroll",
        "--office",
        server.url(),
        "--token",
        token,
        "--config",
        str(config),
        "--identity-dir",
        str(tmp_path / "identity"),
    )
    assert code == 1
    assert "the office enrolled this device as role 'board' but it is configured as 'dispenser'" in out
