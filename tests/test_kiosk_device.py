"""The kiosk assembled from its device configuration: the configuration's checks (each error
names the key and the fix), the parts it opens, what it settles before the runtime starts (a
note left in escrow, the hoppers' coin counts), the control channel, and the CLI's errors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.cli import UsageError
from conftest import WaitFor
from drivers.cash import CountedCashBox, FakeCashBox
from drivers.fake_cctalk import FakeCcTalkBus
from drivers.jpki_sim import SimulatedCardReader, SimulatedJpkiCa
from harness import REPO, env
from kiosk import flow
from kiosk.control import ControlServer, state_json
from kiosk.device import (
    KioskDevice,
    KioskDeviceError,
    build_kiosk,
    kiosk_config_from_mapping,
    load_kiosk_config,
    open_cash,
)
from kiosk.journal import KioskJournal
from kiosk.printers import CupsPrinter, DirectoryPrinter
from sync.store import StateStore


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ca = SimulatedJpkiCa.open(tmp_path_factory.mktemp("jpki"))
    ca.card_key("SIM-0001")
    return ca.directory


def _doc(ca_dir: Path, tmp: Path, **changes: Any) -> dict[str, dict[str, Any]]:
    doc: dict[str, dict[str, Any]] = {
        "card_reader": {"backend": "sim", "ca_dir": str(ca_dir)},
        "cash": {
            "backend": "fake",
            "hoppers": [
                {"address": 3, "coin": 500, "count": 40},
                {"address": 4, "coin": 100, "count": 60},
                {"address": 5, "coin": 10, "count": 80},
            ],
        },
        "document_printer": {"backend": "dir", "dir": str(tmp / "pdf")},
        "receipt_printer": {"model": "TM-T20III", "backend": "fake", "fake": {"png_dir": str(tmp / "receipts")}},
        "speech": {"backend": "none"},
        "kiosk": {"timeouts": {"payment": 90}, "office_timeout": 3, "poll_interval": 0.05},
    }
    for key, value in changes.items():
        section, _, name = key.partition("__")
        if value is None and not name:
            doc.pop(section, None)
        elif value is None:
            doc[section].pop(name, None)
        elif name:
            doc.setdefault(section, {})[name] = value
        else:
            doc[section] = value
    return doc


# -- configuration ---------------------------------------------------------------------------------------


def test_a_full_configuration_is_read(ca_dir: Path, tmp_path: Path) -> None:
    config = kiosk_config_from_mapping(_doc(ca_dir, tmp_path), "kiosk-3")
    assert config.flow.device_id == "kiosk-3" and config.flow.timeouts_ms["payment"] == 90_000
    assert config.settings.office_timeout_s == 3 and config.settings.poll_interval_s == 0.05
    assert config.card_reader.backend == "sim" and config.card_reader.ca_dir == str(ca_dir)
    assert config.cash.backend == "fake" and [h.count for h in config.cash.hoppers] == [40, 60, 80]
    assert config.document_printer.backend == "dir" and config.document_printer.directory == tmp_path / "pdf"
    assert config.receipt_key == "receipt_printer" and config.display.orientation == "portrait"


def test_what_provisioning_writes_is_read_too(ca_dir: Path, tmp_path: Path) -> None:
    # firmware_profiles/roles/kiosk.yaml: [printer] for the receipts, "simulated", "pdf_dir", paper = "A4".
    doc = _doc(
        ca_dir,
        tmp_path,
        card_reader__backend="simulated",
        receipt_printer=None,
        document_printer={"backend": "pdf_dir", "paper": "A4", "dir": str(tmp_path)},
    )
    doc["printer"] = {"model": "TM-T20III", "backend": "fake"}
    doc["device"] = {"site": "demo-town", "device_id": "kiosk-1"}
    doc["display"] = {"width": 1080, "height": 1920, "orientation": "portrait", "fullscreen": True, "maxfps": 30}
    doc["keypad"] = {"port": "/dev/ttyACM0"}
    config = kiosk_config_from_mapping(doc, "kiosk-1")
    assert config.receipt_key == "printer" and config.card_reader.backend == "sim"
    assert config.document_printer.backend == "dir" and config.display.fullscreen
    cups = kiosk_config_from_mapping(
        _doc(ca_dir, tmp_path, document_printer={"backend": "cups", "paper": "A4", "queue": "madoguchi"}), "k"
    )
    assert cups.document_printer.queue == "madoguchi" and cups.document_printer.wait_s == 180


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"card_reader": None}, 'card_reader: missing; add [card_reader] with backend = "pcsc"'),
        ({"card_reader__backend": "nfc"}, 'card_reader.backend: expected a card reader: "pcsc" (a reader through'),
        ({"card_reader__backend": "pcsc"}, "card_reader.ca_dir: only a simulated reader has a CA directory; remove it"),
        ({"card_reader__ca_dir": None}, "card_reader.ca_dir: the simulated cards need their CA's directory"),
        ({"card_reader__colour": "red"}, "card_reader.colour: unknown key"),
        ({"cash__backend": "cctalk"}, "cash.port: missing; give the ccTalk adapter's path"),
        ({"cash__coins": [1, 5]}, "cash.coins[0]: expected a coin the kiosk takes: 10, 50, 100 or 500, got 1"),
        ({"cash": None}, 'cash: missing; add [cash] with backend = "cctalk"'),
        ({"document_printer__dir": None}, 'document_printer.dir: required: where the PDFs go, e.g. dir = "var/'),
        ({"document_printer__paper": "A3"}, 'document_printer.paper: expected "A4" (certificates are A4), got "A3"'),
        ({"document_printer__backend": "fax"}, 'document_printer.backend: expected a document printer: "cups"'),
        (
            {"document_printer__queue": "a4"},
            "document_printer.queue: unknown key for a dir printer; allowed: backend, delay_s, dir",
        ),
        ({"document_printer__sheets": -1}, "document_printer.sheets: expected the sheets in the tray"),
        ({"receipt_printer": None}, "receipt_printer: missing; add [receipt_printer] with model and backend"),
        ({"printer": {"model": "TM-T20III", "backend": "fake"}}, "printer: give the receipt printer once"),
        ({"kiosk__timeouts": {"paymnet": 30}}, "kiosk.timeouts.paymnet: no such step"),
        ({"kiosk__fees": {"juminhyo": 305}}, "kiosk.fees.juminhyo: expected a multiple of 10, got 305; use 300 or 310"),
        ({"kiosk__office_timeout": -1}, "kiosk.office_timeout: expected a number of seconds, at least 0.1"),
        ({"kiosk__poll_interval": 2}, "kiosk.poll_interval: at most 1 second"),
        ({"kiosk__colour": 1}, "kiosk.colour: unknown key; allowed here: fees, timeouts"),
        ({"kiosk__issue_retries": 11}, "kiosk.issue_retries: expected 0 to 10, got 11"),
        ({"keypad": {"port": ""}}, "keypad.port: expected the keypad's serial port, e.g."),
        ({"speech__backend": "festival"}, 'speech.backend: expected a speech backend: "openjtalk"'),
        ({"receipt_printer__backend": "bluetooth"}, "receipt_printer.backend: expected one of usb, serial"),
        ({"receipt_printer__model": None}, "receipt_printer.model: required: the printer model"),
        ({"speech__voice": "x"}, "speech.voice: unknown key"),
        ({"display": {"width": 10}}, "display.width: expected pixels from 200 to 7680, got 10"),
        ({"lights": {"on": True}}, "lights: unknown section; allowed: card_reader, cash, device"),
        ({"dispaly": {"width": 1080}}, 'dispaly: unknown section; did you mean "display"?'),
    ],
)
def test_every_mistake_names_its_key_and_the_fix(
    ca_dir: Path, tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError) as err:
        kiosk_config_from_mapping(_doc(ca_dir, tmp_path, **changes), "kiosk-1", tmp_path / "kiosk.toml")
    assert str(err.value).startswith(f"{tmp_path / 'kiosk.toml'}: ")
    assert message in str(err.value), str(err.value)


def test_a_configuration_file_is_needed_and_read(ca_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--device-config is required"):
        load_kiosk_config(None, "kiosk-1")
    path = tmp_path / "kiosk.toml"
    path.write_text(
        '[card_reader]\nbackend = "pcsc"\n[cash]\nbackend = "fake"\n[document_printer]\nbackend = "cups"\n'
        '[receipt_printer]\nmodel = "TM-T20III"\nbackend = "usb"\n'
    )
    config = load_kiosk_config(path, "kiosk-1")
    assert config.card_reader.backend == "pcsc" and config.path == path
    path.write_text("[cash\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_kiosk_config(path, "kiosk-1")


def test_the_cli_reports_a_bad_configuration_in_one_line(ca_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(f'[card_reader]\nbackend = "sim"\nca_dir = "{ca_dir}"\n[cash]\nbackend = "cctalk"\n')
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kiosk.cli",
            "run",
            "--device-id",
            "kiosk-1",
            "--device-config",
            str(path),
            "--data",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        env=env(),
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f'madoguchi-kiosk: {path}: cash.port: missing; give the ccTalk adapter\'s path, e.g. "/dev/serial/by-id/usb-…"'
    ), done.stderr
    assert "Traceback" not in done.stderr + done.stdout


# -- the assembled kiosk ------------------------------------------------------------------------------------


@pytest.fixture
def device(ca_dir: Path, tmp_path: Path) -> Iterator[KioskDevice]:
    config = kiosk_config_from_mapping(_doc(ca_dir, tmp_path), "kiosk-9")
    built = build_kiosk(
        config, site="demo-town", device_id="kiosk-9", broker_url="mqtt://127.0.0.1:9", data_dir=tmp_path / "data"
    )
    try:
        yield built
    finally:
        built.close()


def test_the_parts_are_the_configured_ones(device: KioskDevice, tmp_path: Path) -> None:
    assert isinstance(device.cash, FakeCashBox) and device.cash.hoppers == {500: 40, 100: 60, 10: 80}
    assert isinstance(device.reader, SimulatedCardReader) and device.cards is not None
    assert isinstance(device.document_printer, DirectoryPrinter)
    assert device.journal.directory == tmp_path / "data" / "journal"
    assert device.agent.config.role == "kiosk" and device.runtime.config.device_id == "kiosk-9"
    assert device.runtime.settings.poll_interval_s == 0.05


def test_without_the_office_a_card_goes_straight_back(device: KioskDevice) -> None:
    rt = device.runtime
    rt.start()  # the broker address answers nothing: the office is away
    assert device.cards is not None
    device.cards.insert("SIM-0001")
    rt.pump()
    assert rt.state.card == "returned" and rt.state.notice == "unavailable"
    assert device.cards.inserted == "SIM-0001"  # powered down in the slot, for the resident to take
    assert isinstance(device.cash, FakeCashBox) and not device.cash.insert_coin(100)  # cash stays shut


def test_a_missing_ccTalk_port_is_a_device_error(ca_dir: Path, tmp_path: Path) -> None:
    config = kiosk_config_from_mapping(
        _doc(ca_dir, tmp_path, cash__backend="cctalk", cash__port=str(tmp_path / "no-such-tty")), "kiosk-1"
    )
    with pytest.raises(KioskDeviceError, match="cash: cannot open the ccTalk port"):
        build_kiosk(
            config, site="demo-town", device_id="kiosk-1", broker_url="mqtt://127.0.0.1:9", data_dir=tmp_path / "data"
        )
    # What was opened before the failure was closed again: the data can be opened anew.
    KioskJournal(tmp_path / "data" / "journal").close()


def test_a_cups_printer_is_built_for_a_cups_configuration(ca_dir: Path, tmp_path: Path) -> None:
    config = kiosk_config_from_mapping(
        _doc(
            ca_dir,
            tmp_path,
            document_printer={"backend": "cups", "queue": "a4", "wait_s": 30, "options": {"sides": "one-sided"}},
        ),
        "kiosk-1",
    )
    built = build_kiosk(
        config, site="demo-town", device_id="kiosk-1", broker_url="mqtt://127.0.0.1:9", data_dir=tmp_path / "d"
    )
    try:
        printer = built.document_printer
        assert isinstance(printer, CupsPrinter)
        assert (printer.queue, printer.wait_s, printer.options) == ("a4", 30, {"sides": "one-sided"})
    finally:
        built.close()


# -- before the runtime starts: escrow and hopper counts (ccTalk simulator over a pty) --------------------


def _cctalk(bus: FakeCcTalkBus, **cash: Any) -> Any:
    from drivers.cash import CashConfig

    return CashConfig.from_mapping(
        {
            "backend": "cctalk",
            "port": bus.port_path,
            "hoppers": [
                {"address": 3, "coin": 500, "count": 50},
                {"address": 4, "coin": 100, "count": 50},
                {"address": 5, "coin": 10, "count": 100},
            ],
            **cash,
        }
    )


def _journal_with_escrow(path: Path, action: str | None) -> KioskJournal:
    journal = KioskJournal(path)
    entries = [("payment_intent", {"fee": 300, "kind": "juminhyo", "copies": 1, "request_id": "s-1:issue"})]
    if action is not None:
        entries.append(("note_escrowed", {"value": 1000, "action": action}))
    for seq, (kind, data) in enumerate(entries, start=1):
        journal.append(flow.JournalEntry("s-1", seq, kind, data), 1_780_000_000_000)
    return journal


@pytest.mark.parametrize(("action", "where"), [("stack", "cashbox"), ("return", "returned"), (None, "returned")])
def test_a_note_left_in_escrow_goes_where_the_journal_decided(tmp_path: Path, action: str | None, where: str) -> None:
    with FakeCcTalkBus(escrow_timeout=60.0) as bus:
        config = _cctalk(bus)
        journal = KioskJournal(tmp_path / "j0")
        first = open_cash(config, journal, tmp_path)
        first.accept(10000)
        assert bus.insert_note(1000) and bus.escrow == 1000
        first.poll()
        first.close()  # the run that saw the note dies before routing it; the note waits in escrow
        journal.close()
        journal = _journal_with_escrow(tmp_path / "j", action)
        second = open_cash(config, journal, tmp_path)
        try:
            assert bus.escrow is None
            assert (bus.cashbox, bus.returned) == (([1000], []) if where == "cashbox" else ([], [1000]))
            assert second.poll() == []  # settled before the cash box started: no event to count twice
        finally:
            second.close()
            journal.close()


def test_hopper_counts_survive_a_restart_until_staff_refill(tmp_path: Path) -> None:
    with FakeCcTalkBus(escrow_timeout=60.0) as bus:
        journal = KioskJournal(tmp_path / "j")
        box = open_cash(_cctalk(bus), journal, tmp_path)
        assert isinstance(box, CountedCashBox)
        assert box.pay_out(730) == 730
        assert box.hopper_counts == {500: 49, 100: 48, 10: 97}
        box.close()
        again = open_cash(_cctalk(bus), journal, tmp_path)
        assert isinstance(again, CountedCashBox) and again.hopper_counts == {500: 49, 100: 48, 10: 97}
        again.close()
        # Staff filled the 100-yen hopper and wrote the new count into the configuration.
        refilled = _cctalk(
            bus,
            hoppers=[
                {"address": 3, "coin": 500, "count": 49},
                {"address": 4, "coin": 100, "count": 300},
                {"address": 5, "coin": 10, "count": 97},
            ],
        )
        bus.set_hopper_level(4, 300)
        third = open_cash(refilled, journal, tmp_path)
        assert isinstance(third, CountedCashBox) and third.hopper_counts == {500: 49, 100: 300, 10: 97}
        third.close()
        journal.close()
    with StateStore(tmp_path / "cash.json") as saved:
        assert saved.get("hoppers") == {
            "configured": {"500": 49, "100": 300, "10": 97},
            "counts": {"500": 49, "100": 300, "10": 97},
        }


# -- the control channel -----------------------------------------------------------------------------------


@pytest.fixture
def control(device: KioskDevice, tmp_path: Path, wait_for: WaitFor) -> Iterator[tuple[ControlServer, list[str]]]:
    import tempfile

    sock_dir = Path(tempfile.mkdtemp(prefix="kc-", dir="/tmp"))
    killed: list[str] = []
    server = ControlServer(sock_dir / "c.sock", device, kill=lambda: killed.append("SIGKILL"))
    device.runtime.start_thread()
    server.start()
    # The runtime's start runs on its thread: on a new journal it writes the acceptors' counters
    # as a session of their own (cash_cursor, then session_closed, each fsynced), so until its
    # first cycle is done that session is open and the journal has a writer besides the tests.
    wait_for(lambda: device.runtime.cycles >= 1, message="the kiosk runtime did not finish starting")
    try:
        yield server, killed
    finally:
        server.close()
        sock_dir.rmdir()


def _ask(server: ControlServer, *lines: str) -> list[dict[str, Any]]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(server.path))
        stream = sock.makefile("rwb")
        out = []
        for line in lines:
            stream.write(line.encode() + b"\n")
            stream.flush()
            out.append(json.loads(stream.readline()))
        return out


def test_the_control_channel_answers_in_json_lines(control: tuple[ControlServer, list[str]]) -> None:
    server, _ = control
    assert server.path.stat().st_mode & 0o777 == 0o600  # only the kiosk's user
    state, money, wrong, empty = _ask(server, "state", "coin 100", "flap", "")
    assert state["ok"] and state["state"]["step"] == "language" and state["state"]["office_online"] is False
    assert money == {"ok": True, "taken": False}  # the acceptor is shut between visits
    assert wrong == {"ok": False, "error": "unknown command 'flap'; try help"}
    assert empty["ok"] is False
    (card,) = _ask(server, "card insert SIM-0001")
    assert card == {"ok": True, "card": "SIM-0001"}
    (state,) = _ask(server, "state")
    assert state["state"]["card"] == "returned"  # no office: the card is refused at once
    assert _ask(server, "card pull")[0] == {"ok": True, "card": "SIM-0001"}


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("options copies=two", "copies: 'two' is not a whole number"),
        ("options colour=red", "unknown option 'colour'"),
        ("options with_honseki=maybe", "with_honseki takes true or false"),
        ("pin 12 34", "pin: give the 4 digits as one word"),
        ("card insert SIM-9999", "no demo card 'SIM-9999'"),
        ("card eject", "card: use 'card insert SIM-0001' or 'card pull'"),
        ("printer jam lots", "jam: 'lots' is not a whole number"),
        ("crash after lunch", "'lunch' is not a journal record kind"),
        ("wait forever", "'forever' is not a step, online or idle"),
        ("confirm now", "ConfirmFee takes no arguments"),
    ],
)
def test_control_mistakes_are_answered_not_raised(
    control: tuple[ControlServer, list[str]], line: str, error: str
) -> None:
    server, _ = control
    (reply,) = _ask(server, line)
    assert reply["ok"] is False and error in reply["error"], reply


def test_crash_after_kills_once_the_nth_record_is_on_disk(
    control: tuple[ControlServer, list[str]], device: KioskDevice
) -> None:
    server, killed = control
    assert _ask(server, "crash after coin_accepted 2")[0] == {"ok": True, "armed": "coin_accepted #2"}
    journal = device.journal
    journal.append(flow.JournalEntry("s-9", 1, "coin_accepted", {"value": 100, "paid": 100}), 1)
    assert killed == []
    journal.append(flow.JournalEntry("s-9", 2, "coin_accepted", {"value": 100, "paid": 200}), 1)
    assert killed == ["SIGKILL"]
    # The record was durable before the kill.
    assert [r["seq"] for r in journal.records() if r["session"] == "s-9"] == [1, 2]
    journal.append(flow.JournalEntry("s-9", 3, "coin_accepted", {"value": 100, "paid": 300}), 1)
    assert killed == ["SIGKILL"]  # disarmed


def test_printer_faults_and_state_through_the_channel(
    control: tuple[ControlServer, list[str]], device: KioskDevice
) -> None:
    server, _ = control
    sheets, jam, clear = _ask(server, "printer sheets 5", "printer jam 0", "printer clear")
    assert sheets["sheets"] == 5 and jam["ok"] and clear["jammed"] is False
    printer = device.document_printer
    assert isinstance(printer, DirectoryPrinter) and printer.sheets == 5
    state = state_json(device)
    assert state["totals"] == {"inserted": 0, "kept": 0, "returned": 0, "owed": 0, "held": 0}
    assert state["open_sessions"] == [] and state["card_in_reader"] is None
