"""madoguchi-provision self-test: a kiosk provisioned for real (apply), then tested against the
fake printer (PNG), a simulated My Number card, the ccTalk simulator behind a real pty and a
real Mosquitto holding the office's retained status; and the FAIL paths (broker down, a printer
out of paper, a silent hopper, a reader backend that is not installed).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from drivers.fake_cctalk import FakeCcTalkBus
from drivers.jpki_sim import SimulatedCardReader, SimulatedJpkiCa
from firmware_profiles.cli import main
from firmware_profiles.selftest import (
    OFFICE_HEARTBEAT_S,
    OfficeStatus,
    check_card_reader,
    check_cash,
    check_printer,
    clock_line,
    run_selftest,
)
from firmware_profiles.status import Line, Verdict, read_device_file
from lobby.brokers import MosquittoBroker
from sync import messages, protocol, signing

SITE = "demo-town"
# The kiosk role's default hoppers: 10 yen at 3, 100 at 4, 500 at 5 (firmware_profiles/models/cash).
HOPPERS = {3: (10, 200), 4: (100, 100), 5: (500, 100)}


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def cash_bus() -> Iterator[FakeCcTalkBus]:
    with FakeCcTalkBus(hoppers=HOPPERS) as bus:
        yield bus


def provision_kiosk(tmp_path: Path, broker: str, cash_port: str) -> Path:
    """A kiosk configuration written by apply, as on a real unit (no detection: no USB here)."""
    config = tmp_path / "etc" / "device.toml"
    code = main(
        [
            "apply",
            "--role",
            "kiosk",
            "--site",
            SITE,
            "--device-id",
            "kiosk-1",
            "--no-detect",
            "--yes",
            "--choose",
            "card_reader=simulated",
            "--choose",
            "document_printer=pdf-dir",
            "--set",
            f"document_printer.dir={tmp_path / 'pdf'}",
            "--set",
            f"cash.port={cash_port}",
            "--broker",
            broker,
            "--config",
            str(config),
        ]
    )
    assert code == 0
    return config


def publish_office_status(
    broker: MosquittoBroker,
    mqtt_client_factory: object,
    sent_ms: int | None,
    state: str = "online",
    signer: signing.OfficeSigner | None = None,
) -> None:
    client: mqtt.Client = mqtt_client_factory(broker, "office")  # type: ignore[operator]
    status = messages.OfficeStatus(
        state="online" if state == "online" else "offline", epoch="e1", session=1, sent_ms=sent_ms
    )
    raw = protocol.encode(status)
    if signer is not None:
        raw = signer.seal("office_status", SITE, None, raw)
    info = client.publish(protocol.topic("office_status", SITE), raw, qos=1, retain=True)
    info.wait_for_publish(5)


def pin(config: Path, key: str) -> None:
    """What enrolment leaves in the configuration: the office's key under [device]."""
    text = config.read_text()
    assert "\n[device]\n" in "\n" + text
    config.write_text(("\n" + text).replace("\n[device]\n", f'\n[device]\noffice_key = "{key}"\n', 1)[1:])


@pytest.fixture
def office_signer() -> signing.OfficeSigner:
    return signing.OfficeSigner(Ed25519PrivateKey.generate())


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def verdicts(out: str) -> dict[str, str]:
    found = {}
    for line in out.splitlines():
        m = re.match(r"\s+(PASS|WARN|FAIL)\s+(card reader|[a-z ]+?)\s{2,}", line)
        if m:
            found[m.group(2).strip()] = m.group(1)
    return found


# --------------------------------------------------------------------------------------------
# end to end
# --------------------------------------------------------------------------------------------


def test_kiosk_self_test_passes_on_working_hardware(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mosquitto: MosquittoBroker,
    mqtt_client_factory: object,
    cash_bus: FakeCcTalkBus,
    office_signer: signing.OfficeSigner,
) -> None:
    config = provision_kiosk(tmp_path, mosquitto.url, cash_bus.port_path)
    pin(config, office_signer.public_text)
    publish_office_status(mosquitto, mqtt_client_factory, now_ms(), signer=office_signer)
    capsys.readouterr()
    printed = tmp_path / "printed"
    code, out, _ = run_cli(
        capsys, "self-test", "--config", str(config), "--fake-printer", str(printed), "--timeout", "5"
    )
    assert code == 0, out
    assert verdicts(out) == {
        "printer": "PASS",
        "document printer": "WARN",
        "card reader": "WARN",
        "cash": "PASS",
        "broker": "PASS",
        "clock": "PASS",
    }
    assert f"PDF files in {tmp_path / 'pdf'}" in out
    assert "no card in it" in out
    assert re.search(
        r"coin acceptor \(10, 50, 100, 500 yen\), bill validator \(1000, 5000, 10000 yen\) "
        r"and hoppers \(10 yen, 100 yen, 500 yen\) answer on /dev/",
        out,
    )
    assert "the office's status came back" in out and "result: 4 passed, 2 warning(s), 0 failed" in out
    assert "signed by the pinned office key" in out

    # The ticket is sized to the profile: the TM-T20III prints 576 dots.
    ticket = printed / "1.png"
    assert str(ticket) in out
    with Image.open(ticket) as image:
        assert image.width == 576 and image.height > 400
    # Labels line up although the lines were printed one by one.
    columns = {
        line.index(word)
        for line in out.splitlines()
        for word in ("printer", "card reader", "cash")
        if re.match(rf"\s+(PASS|WARN|FAIL)\s+{word}\s", line)
    }
    texts = {
        m.start(1) for line in out.splitlines() if (m := re.match(r"\s+(?:PASS|WARN|FAIL)\s+\S.{15}\s+(\S)", line))
    }
    assert len(columns) == 1 and len(texts) == 1
    # Every configured cash device was asked who it is (simple poll, then its category).
    for address in (2, 40, 3, 4, 5):
        assert cash_bus.requests[(address, 254)] >= 1, address


def test_an_office_status_not_signed_by_the_pinned_key_fails_and_an_unpinned_device_warns(
    tmp_path: Path,
    mosquitto: MosquittoBroker,
    mqtt_client_factory: object,
    cash_bus: FakeCcTalkBus,
    office_signer: signing.OfficeSigner,
) -> None:
    config = provision_kiosk(tmp_path, mosquitto.url, cash_bus.port_path)

    def broker_line() -> Any:
        lines = run_selftest(read_device_file(config), fake_printer=tmp_path / "png", timeout=3)
        return next(line for line in lines if line.label == "broker")

    publish_office_status(mosquitto, mqtt_client_factory, now_ms(), signer=office_signer)
    unpinned = broker_line()
    assert unpinned.verdict is Verdict.WARN and "no office key is pinned" in unpinned.text
    pin(config, signing.OfficeSigner(Ed25519PrivateKey.generate()).public_text)  # another office's
    wrong = broker_line()
    assert wrong.verdict is Verdict.FAIL and "not signed by the key pinned at enrolment" in wrong.text
    pin_text = config.read_text().replace(
        next(l for l in config.read_text().splitlines() if l.startswith("office_key")),
        f'office_key = "{office_signer.public_text}"',
    )
    config.write_text(pin_text)
    publish_office_status(mosquitto, mqtt_client_factory, now_ms())  # unsigned, posing as the office
    assert broker_line().verdict is Verdict.FAIL
    publish_office_status(mosquitto, mqtt_client_factory, now_ms(), signer=office_signer)
    assert broker_line().verdict is Verdict.PASS


def test_a_card_in_the_reader_has_its_jpki_application_selected(tmp_path: Path) -> None:
    ca = SimulatedJpkiCa.open(tmp_path / "jpki", now_ms=now_ms())
    reader = SimulatedCardReader()
    reader.insert(ca.demo_card("SIM-0001"))
    line = check_card_reader({"backend": "simulated"}, reader=reader)
    assert (line.verdict, line.text) == (Verdict.PASS, "the reader answers; the card's JPKI application was selected")
    assert reader.connects == 1 and not reader.connected  # powered down again: no PIN state left behind


def test_run_selftest_with_a_card_and_the_broker_down_fails(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mosquitto: MosquittoBroker,
    cash_bus: FakeCcTalkBus,
) -> None:
    config = provision_kiosk(tmp_path, mosquitto.url, cash_bus.port_path)
    ca = SimulatedJpkiCa.open(tmp_path / "jpki", now_ms=now_ms())
    reader = SimulatedCardReader()
    reader.insert(ca.demo_card("SIM-0002"))
    mosquitto.stop()
    seen: list[Line] = []
    lines = run_selftest(
        read_device_file(config), fake_printer=tmp_path / "png", card_reader=reader, timeout=2, on_line=seen.append
    )
    assert seen == lines
    by_label = {line.label: line for line in lines}
    assert [line.label for line in lines] == ["printer", "document printer", "card reader", "cash", "broker", "clock"]
    assert by_label["card reader"].verdict is Verdict.PASS
    assert by_label["broker"].verdict is Verdict.FAIL
    assert f"nothing answers at 127.0.0.1:{mosquitto.port}" in by_label["broker"].text
    assert by_label["clock"].verdict is Verdict.WARN
    # Through the command: exit status 1, the reason on the broker's line.
    capsys.readouterr()
    code, out, _ = run_cli(
        capsys, "self-test", "--config", str(config), "--fake-printer", str(tmp_path / "png"), "--timeout", "2"
    )
    assert code == 1
    assert re.search(r"FAIL\s+broker\s+nothing answers at 127.0.0.1:\d+ \(Connection refused\)", out)
    assert out.rstrip().endswith("1 failed")


def test_broker_without_an_office_is_a_warning(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mosquitto: MosquittoBroker,
    cash_bus: FakeCcTalkBus,
) -> None:
    config = provision_kiosk(tmp_path, mosquitto.url, cash_bus.port_path)
    lines = run_selftest(read_device_file(config), fake_printer=tmp_path / "png", timeout=1)
    broker = next(line for line in lines if line.label == "broker")
    assert broker.verdict is Verdict.WARN
    assert "no office status on madoguchi/v1/demo-town/office/status" in broker.text
    assert "madoguchi-office serve running for site demo-town" in broker.text


# --------------------------------------------------------------------------------------------
# single checks
# --------------------------------------------------------------------------------------------


def test_a_printer_out_of_paper_fails_and_paper_near_end_warns(tmp_path: Path) -> None:
    device = read_device_file(_dispenser_config(tmp_path))
    empty = check_printer({"model": "TM-T20III", "backend": "fake", "fake": {"paper": 0}}, device=device, now_ms=0)
    assert empty.verdict is Verdict.FAIL and "not ready: paper_out" in empty.text
    low = check_printer({"model": "generic-58mm", "backend": "fake", "fake": {"paper": 3}}, device=device, now_ms=0)
    assert low.verdict is Verdict.WARN and "384 dots (58 mm)" in low.text and "paper near its end" in low.text
    bad = check_printer({"model": "TM-T21", "backend": "usb"}, device=device, now_ms=0)
    assert bad.verdict is Verdict.FAIL and "printer.model" in bad.text


def test_the_device_table_is_read_through_the_apps_model(tmp_path: Path) -> None:
    """[device] is decoded as the apps decode it (common.device_config.DeviceSection): a table
    they would refuse is refused by provisioning too, naming the key and the fix."""
    from common.device_config import DeviceSection
    from firmware_profiles.status import DeviceConfigError

    config = _dispenser_config(tmp_path)
    device = read_device_file(config)
    assert isinstance(device.device_section, DeviceSection)
    assert (device.role, device.device_id, device.models["printer"]) == ("dispenser", "disp-1", "tm-t20iii")
    text = config.read_text()
    config.write_text(text.replace('device_id = "disp-1"', "device_id = 7"))
    with pytest.raises(DeviceConfigError, match=r"device\.device_id: expected a text, got 7; quote it"):
        read_device_file(config)
    config.write_text(text.replace('device_id = "disp-1"', 'devce_id = "disp-1"'))
    with pytest.raises(DeviceConfigError, match=r'device\.devce_id: unknown key; did you mean "device_id"\?'):
        read_device_file(config)
    config.write_text(text.replace('device_id = "disp-1"', ""))
    with pytest.raises(DeviceConfigError, match=r"device\.device_id is missing; .* apply the role again"):
        read_device_file(config).describe()


def _dispenser_config(tmp_path: Path) -> Path:
    config = tmp_path / "disp.toml"
    assert (
        main(
            [
                "apply",
                "--role",
                "dispenser",
                "--site",
                SITE,
                "--device-id",
                "disp-1",
                "--no-detect",
                "--yes",
                "--config",
                str(config),
            ]
        )
        == 0
    )
    return config


def test_a_silent_hopper_fails_the_cash_check_naming_it(cash_bus: FakeCcTalkBus) -> None:
    cash_bus.set_silent(5)
    section = {
        "port": cash_bus.port_path,
        "hoppers": [{"address": 3, "coin": 10}, {"address": 4, "coin": 100}, {"address": 5, "coin": 500}],
        "reply_timeout_s": 0.05,
        "retries": 0,
    }
    line = check_cash(section)
    assert line.verdict is Verdict.FAIL
    assert "500-yen hopper (ccTalk address 5) does not answer" in line.text
    missing = check_cash({"backend": "cctalk"})
    assert missing.verdict is Verdict.FAIL and "cash.port" in missing.text
    fake = check_cash({"backend": "fake"})
    assert fake.verdict is Verdict.WARN and "no cash device was checked" in fake.text


def test_document_printer_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from firmware_profiles.selftest import check_document_printer

    target = tmp_path / "certificates"
    line = check_document_printer({"backend": "pdf_dir", "dir": str(target)})
    assert line.verdict is Verdict.WARN and target.is_dir() and list(target.iterdir()) == []
    blocked = tmp_path / "file"
    blocked.write_text("")
    line = check_document_printer({"backend": "pdf_dir", "dir": str(blocked / "sub")})
    assert line.verdict is Verdict.FAIL and "cannot write PDFs" in line.text
    # CUPS: lpstat answers for the queue (a stand-in lpstat on PATH, as CUPS's would).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    lpstat = bin_dir / "lpstat"
    lpstat.write_text(
        '#!/bin/sh\n[ "$2" = madoguchi ] && echo "printer madoguchi is idle.  enabled since x" && exit 0\n'
        'echo "lpstat: Invalid destination name in list "$2"." >&2; exit 1\n'
    )
    lpstat.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    ok = check_document_printer({"backend": "cups", "queue": "madoguchi"})
    assert ok.verdict is Verdict.PASS and "CUPS queue 'madoguchi' is enabled" in ok.text
    missing = check_document_printer({"backend": "cups", "queue": "a4"})
    assert missing.verdict is Verdict.FAIL and "Invalid destination" in missing.text and "lpadmin -p a4" in missing.text
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    none = check_document_printer({"backend": "cups", "queue": "madoguchi"})
    assert none.verdict is Verdict.FAIL and "install CUPS" in none.text


def test_document_printer_check_reads_the_kiosks_own_model(tmp_path: Path) -> None:
    """Whatever [document_printer] the kiosk accepts, its self-test accepts: "dir" is what the
    kiosk's control recommends (and "pdf_dir" an older spelling of it); what the kiosk refuses
    fails with the kiosk's own words, naming the key."""
    from drivers.document_printer import DocumentPrinterSection, document_printer_settings
    from firmware_profiles.selftest import check_document_printer

    for backend in ("dir", "pdf_dir"):
        target = tmp_path / backend
        section = {"backend": backend, "dir": str(target), "sheets": 5}
        assert document_printer_settings(DocumentPrinterSection(backend=backend, dir=str(target), sheets=5))
        line = check_document_printer(section)
        assert line.verdict is Verdict.WARN, line.text
        assert f"PDF files in {target}" in line.text and target.is_dir()
    unknown = check_document_printer({"backend": "lpr"})
    assert unknown.verdict is Verdict.FAIL and unknown.text.startswith("document_printer.backend: expected")
    assert '"cups"' in unknown.text and '"dir"' in unknown.text
    no_dir = check_document_printer({"backend": "dir"})
    assert no_dir.verdict is Verdict.FAIL and no_dir.text.startswith("document_printer.dir: required")
    mixed = check_document_printer({"backend": "cups", "queue": "madoguchi", "dir": str(tmp_path)})
    assert mixed.verdict is Verdict.FAIL and "document_printer.dir: unknown key for a cups printer" in mixed.text


def test_card_reader_faults_are_named() -> None:
    line = check_card_reader({"backend": "nfc"})
    assert line.verdict is Verdict.FAIL and "card_reader.backend: 'nfc'" in line.text
    empty = check_card_reader({"backend": "simulated"})
    assert empty.verdict is Verdict.WARN and "insert a My Number card" in empty.text


def test_keypad_port_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = tmp_path / "ttyKEY"
    config = tmp_path / "etc" / "device.toml"
    assert (
        main(
            [
                "apply",
                "--role",
                "dispenser",
                "--site",
                SITE,
                "--device-id",
                "disp-1",
                "--no-detect",
                "--yes",
                "--choose",
                "keypad=madoguchi-keypad",
                "--set",
                f"keypad.port={port}",
                "--broker",
                "mqtt://127.0.0.1:1",
                "--config",
                str(config),
            ]
        )
        == 0
    )
    lines = {line.label: line for line in run_selftest(read_device_file(config), fake_printer=tmp_path, timeout=1)}
    assert lines["keypad"].verdict is Verdict.FAIL and "is missing: plug it in" in lines["keypad"].text
    port.write_text("")
    lines = {line.label: line for line in run_selftest(read_device_file(config), fake_printer=tmp_path, timeout=1)}
    assert lines["keypad"].verdict is Verdict.PASS


# --------------------------------------------------------------------------------------------
# the clock verdict (pure)
# --------------------------------------------------------------------------------------------


def status(sent: int | None, received: int, retained: bool = True, state: str = "online") -> OfficeStatus:
    return OfficeStatus(state, sent, received, retained, 10)


@pytest.mark.parametrize(
    ("office", "verdict", "words"),
    [
        (status(1_000_000, 1_000_000 + 9_000), Verdict.PASS, "agrees"),  # retained, nine seconds old
        (status(1_000_000, 1_000_000 - 3_000, retained=False), Verdict.PASS, "agrees"),
        (status(1_000_000, 1_000_000 - 60_000), Verdict.WARN, "at least 60 s behind"),
        (status(1_000_000, 1_000_000 + 75_000), Verdict.WARN, "at least 65 s ahead"),
        (status(1_000_000, 1_000_000 + 12_000, retained=False), Verdict.WARN, "at least 12 s ahead"),
        (status(None, 5), Verdict.WARN, "not checked"),
        (status(1_000_000, 1_000_000, state="offline"), Verdict.WARN, "office is offline"),
        (None, Verdict.WARN, "no office status"),
    ],
)
def test_clock_verdict(office: OfficeStatus | None, verdict: Verdict, words: str) -> None:
    line = clock_line(office)
    assert line.verdict is verdict and words in line.text


def test_heartbeat_matches_the_office_server() -> None:
    from office.server import HEARTBEAT_S

    assert OFFICE_HEARTBEAT_S == HEARTBEAT_S


def test_self_test_without_a_configuration_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "self-test", "--config", str(tmp_path / "nope.toml"))
    assert code == 2 and "no device configuration here" in err and len(err.strip().splitlines()) == 1
    broken = tmp_path / "broken.toml"
    broken.write_text("[device\n")
    code, _, err = run_cli(capsys, "self-test", "--config", str(broken))
    assert code == 2 and "not valid TOML" in err


# --------------------------------------------------------------------------------------------
# over TLS, as deployed: enrolled through the endpoint, the broker on the generated files
# --------------------------------------------------------------------------------------------


def test_self_test_over_tls_after_enrolment_and_after_revocation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], office_signer: signing.OfficeSigner
) -> None:
    import os
    import pwd

    from lobby.brokers import free_port
    from office.broker_security import (
        BrokerSettings,
        SecurityHome,
        apply,
        init_security,
        load_identity,
        revoke_device,
    )
    from office.enrol_http import EnrolServer
    from office.enrolment import EnrolmentRegistry
    from office.pki import OfficeCA

    home = SecurityHome(tmp_path / "security")
    port = free_port()
    settings = BrokerSettings(
        site=SITE,
        hosts=("localhost",),
        port=port,
        bind_address="127.0.0.1",
        run_as_user=pwd.getpwuid(os.geteuid()).pw_name,
    )
    files, _office = init_security(home, settings, now_ms=now_ms())
    broker = MosquittoBroker(files.directory, port, config_file=files.conf)
    registry = EnrolmentRegistry.open(tmp_path / "office.sqlite3", OfficeCA.load(home.ca_dir), SITE)
    endpoint = EnrolServer(
        registry,
        certfile=files.cert,
        keyfile=files.key,
        host="127.0.0.1",
        port=0,
        broker=f"mqtts://localhost:{port}",
        office_key=office_signer.public_text,
        on_enrolled=lambda _e: apply(home, now_ms=now_ms()),
    )
    broker.start()
    endpoint.start()
    try:
        config = _dispenser_config(tmp_path)
        token = registry.issue_token("disp-1", "dispenser", now_ms=now_ms()).text
        assert (
            main(
                [
                    "enroll",
                    "--office",
                    endpoint.url(),
                    "--token",
                    token,
                    "--config",
                    str(config),
                    "--identity-dir",
                    str(tmp_path / "identity"),
                ]
            )
            == 0
        )
        # The office, with its own identity, publishes its retained status.
        office_client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="office", protocol=mqtt.MQTTv311)
        from sync.link import BrokerAddress

        office_client.tls_set_context(
            BrokerAddress.parse(load_identity(home, "office").url("localhost", port)).tls_context()
        )
        office_client.connect("localhost", port)
        office_client.loop_start()
        status = messages.OfficeStatus(state="online", epoch="e1", session=1, sent_ms=now_ms())
        signed = office_signer.seal("office_status", SITE, None, protocol.encode(status))
        office_client.publish(protocol.topic("office_status", SITE), signed, qos=1, retain=True).wait_for_publish(5)
        office_client.disconnect()
        office_client.loop_stop()
        capsys.readouterr()
        code, out, _ = run_cli(
            capsys, "self-test", "--config", str(config), "--fake-printer", str(tmp_path / "png"), "--timeout", "5"
        )
        assert code == 0, out
        assert re.search(
            rf"PASS\s+broker\s+localhost:{port} answers; TLS identity accepted; the office's status came "
            r"back in \d+ ms \(office online\), signed by the pinned office key",
            out,
        )
        assert re.search(r"PASS\s+clock", out)
        # Revoked: the next connection is refused in the TLS handshake, and self-test says so.
        reloads = broker.log_path.read_text().count("Reloading config")
        assert revoke_device(home, "disp-1", now_ms=now_ms(), registry=registry).reloaded
        deadline = time.monotonic() + 10  # Mosquitto re-reads the CRL on the SIGHUP revoke_device sent
        while broker.log_path.read_text().count("Reloading config") == reloads:
            assert time.monotonic() < deadline, "mosquitto did not reload"
            time.sleep(0.02)
        code, out, _ = run_cli(
            capsys, "self-test", "--config", str(config), "--fake-printer", str(tmp_path / "png"), "--timeout", "3"
        )
        assert code == 1
        assert re.search(
            rf"FAIL\s+broker\s+localhost:{port} refused the TLS identity \(.*REVOKED\): this device's "
            r"certificate was revoked at the office",
            out,
        ), out
    finally:
        endpoint.stop()
        registry.close()
        broker.stop()
