"""``madoguchi-provision self-test``: does the hardware the configuration names answer?

Each check gives PASS, WARN or FAIL with one sentence saying what to do:

* **printer** - a test ticket rendered at the model's printable width (the same raster path as
  real tickets, Japanese text, the big number, a QR code, rules to the paper's edges), with
  the printer's real-time status read before and after. ``fake_printer=DIR`` prints on the
  behavioural fake instead, which writes the ticket to ``DIR/<n>.png``.
* **card reader** - the reader answers; with a card in it, the JPKI application is selected
  (no card is a warning: a technician may not carry one).
* **document printer** - the kiosk's CUPS queue is enabled (nothing printed: certificate paper
  is precious), or its PDF directory is writable;
* **cash** - the ccTalk devices answer: CashBox.connect identifies every configured device
  (simple poll, equipment category) and reads the coin and note tables.
* **keypad / LED panel** - their serial port exists.
* **broker** - TCP, TLS with the device's identity, an MQTT session, and the round trip: the
  subscription to the office's retained status comes back with it. Under the broker's ACL a
  device may read nothing of its own, so the office's status is what can come back.
* **clock** - local time against the office time in that status (the office refreshes it every
  ``OFFICE_HEARTBEAT_S``).

Stop the app before running it: the app holds the printer, the card reader and the serial
ports, and (the broker using the certificate name as client id) the MQTT session.

The verdict functions and the test ticket are pure; the checks do I/O through the drivers,
imported when a check runs (python-escpos and pyscard are costly or absent at import).
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.validation import Invalid, convert
from drivers.card_reader import CardReader
from drivers.document_printer import DocumentPrinterSection, document_printer_settings
from drivers.ticket_printer import QR, BigNumber, PrintJob, Rule, Space, Text
from firmware_profiles.status import DeviceFile, Line, Verdict, format_ms, probe_broker

__all__ = [
    "OFFICE_HEARTBEAT_S",
    "OfficeStatus",
    "check_broker",
    "check_card_reader",
    "check_cash",
    "check_document_printer",
    "check_port",
    "check_printer",
    "clock_line",
    "run_selftest",
    "selftest_ticket",
]

# office/server.py HEARTBEAT_S: how often the office republishes its retained status (and so
# how old the retained copy can be when it arrives). A test keeps the two equal.
OFFICE_HEARTBEAT_S = 10.0
CLOCK_TOLERANCE_MS = 5_000


# --------------------------------------------------------------------------------------------
# pure parts
# --------------------------------------------------------------------------------------------


def selftest_ticket(
    *, device_id: str, role: str, site: str, model: str, width_px: int, paper_mm: int, now_ms: int
) -> PrintJob:
    """The test ticket: everything a real ticket uses, drawn at the model's width."""
    return PrintJob(
        f"selftest-{now_ms}",
        (
            Text("動作確認 SELF-TEST", size=36, align="center", bold=True),
            Rule(thickness=4),
            Text(f"{device_id} ({role}, {site})", align="center"),
            Text(f"{model}: {width_px} dots, {paper_mm} mm paper", align="center"),
            BigNumber("000", suffix="番"),
            QR(f"madoguchi self-test {device_id} {now_ms}"),
            Space(8),
            Text(format_ms(now_ms), size=24, align="center"),
            Text("左右の線が紙の端まで届けば幅は正しい", size=22, align="center"),
            Rule(thickness=4),
        ),
    )


@dataclass(frozen=True)
class OfficeStatus:
    """The office's status as the broker check received it."""

    state: str
    sent_ms: int | None
    received_ms: int  # local wall clock when it arrived
    retained: bool
    round_trip_ms: int


def clock_line(
    status: OfficeStatus | None,
    *,
    heartbeat_ms: int = int(OFFICE_HEARTBEAT_S * 1000),
    tolerance_ms: int = CLOCK_TOLERANCE_MS,
) -> Line:
    """Local time against the office's, from its status.

    A retained status may be up to one heartbeat old when it arrives, so the local clock's
    error lies in ``[d - heartbeat, d]`` with ``d = received - sent``; within the tolerance
    anywhere in that range is a pass. A wrong clock is a warning: the apps stamp their events
    with the office's time once they hear it (DESIGN.md decision 6), but the system clock
    should still be set (NTP from the office).
    """
    if status is None:
        return Line("clock", Verdict.WARN, "not checked: no office status arrived (see broker)")
    if status.state != "online" or status.sent_ms is None:
        return Line("clock", Verdict.WARN, "not checked: the office is offline, its status carries no current time")
    d = status.received_ms - status.sent_ms
    age = heartbeat_ms if status.retained else 0
    if d >= -tolerance_ms and d - age <= tolerance_ms:
        return Line(
            "clock", Verdict.PASS, f"local clock agrees with the office's (within {(age + tolerance_ms) // 1000} s)"
        )
    fix = "the apps use the office's time meanwhile; set the system clock (timedatectl, NTP from the office)"
    if d < -tolerance_ms:
        return Line("clock", Verdict.WARN, f"local clock is at least {-d // 1000} s behind the office: {fix}")
    return Line("clock", Verdict.WARN, f"local clock is at least {(d - age) // 1000} s ahead of the office: {fix}")


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------


def check_printer(
    section: Mapping[str, Any], *, device: DeviceFile, now_ms: int, fake_printer: Path | None = None
) -> Line:
    """Print the test ticket on the configured printer (or the fake writing PNGs to ``fake_printer``)."""
    from common.fonts import FontNotFoundError
    from drivers.printer_model import PrinterConfigError, parse_printer_config
    from drivers.ticket_printer import PrinterFault
    from firmware_profiles.packaged import printer_facts

    # Imported by name: python-escpos has no type information, and importing it is costly.
    escpos: Any = importlib.import_module("drivers.escpos_printer")
    raw: Mapping[str, Any] = section
    if fake_printer is not None:
        # The configured model (its facts too, when provisioning wrote them) on the fake.
        raw = {"model": section.get("model", ""), "backend": "fake", "fake": {"png_dir": str(fake_printer)}}
        if "facts" in section:
            raw = {**raw, "facts": section["facts"]}
    try:
        config = parse_printer_config(raw)
        printer = escpos.open_printer(config, model=printer_facts(config))
    except PrinterConfigError as err:
        return Line("printer", Verdict.FAIL, f"{err}; apply the role again or fix the printer settings")
    except FontNotFoundError as err:
        return Line("printer", Verdict.FAIL, str(err))
    model = printer.model
    try:
        before = printer.status()
        if not before.ok:
            return Line(
                "printer",
                Verdict.FAIL,
                f"{model.name} not ready: {before.fault} ({before.detail or 'see the printer'})",
            )
        job = selftest_ticket(
            device_id=device.device_id,
            role=device.role,
            site=device.site,
            model=model.name,
            width_px=model.width_px,
            paper_mm=model.paper_mm,
            now_ms=now_ms,
        )
        try:
            printer.print_job(job)
        except PrinterFault as err:
            return Line("printer", Verdict.FAIL, str(err))
        after = printer.status()
        what = f"test ticket printed on {model.name}, {model.width_px} dots ({model.paper_mm} mm)"
        transport = printer.transport
        if isinstance(transport, escpos.FakeEscpos) and transport.png_dir is not None:
            what += f": {transport.png_dir / f'{transport.tickets_total}.png'}"
        if not after.ok:
            return Line("printer", Verdict.FAIL, f"{what}, then {after.fault} ({after.detail or 'see the printer'})")
        if after.paper_near_end:
            return Line("printer", Verdict.WARN, f"{what}; paper near its end: put in a new roll")
        return Line("printer", Verdict.PASS, what + "; check the rules reach both edges")
    finally:
        printer.close()


def _open_reader(section: Mapping[str, Any]) -> CardReader:
    backend = section.get("backend")
    if backend == "pcsc":
        from drivers.pcsc_reader import PcscCardReader

        reader = section.get("reader")
        return PcscCardReader(str(reader) if reader else None, eject=bool(section.get("eject", False)))
    if backend == "simulated":
        from drivers.jpki_sim import SimulatedCardReader

        return SimulatedCardReader()  # empty: a simulated reader has no card until one is put in
    raise ValueError(f"card_reader.backend: {backend!r} is not a card reader backend; use pcsc or simulated")


def check_card_reader(section: Mapping[str, Any], *, reader: CardReader | None = None) -> Line:
    """The reader answers; with a card in it, the JPKI application is selected."""
    from drivers.card_reader import CardError
    from drivers.jpki import NotJpkiCard, jpki_session

    try:
        reader = reader if reader is not None else _open_reader(section)
        present = reader.card_present()
    except (CardError, ValueError) as err:
        return Line("card reader", Verdict.FAIL, str(err))
    if not present:
        return Line(
            "card reader",
            Verdict.WARN,
            "the reader answers; no card in it: insert a My Number card to check its JPKI application",
        )
    try:
        with jpki_session(reader):
            pass
    except NotJpkiCard:
        return Line(
            "card reader",
            Verdict.WARN,
            "the reader answers; the card in it has no JPKI application (not a My Number card)",
        )
    except CardError as err:
        return Line("card reader", Verdict.FAIL, f"the card did not answer: {err}")
    return Line("card reader", Verdict.PASS, "the reader answers; the card's JPKI application was selected")


def check_cash(section: Mapping[str, Any]) -> Line:
    """Every configured ccTalk device answers (identified by CashBox's start-up)."""
    from drivers.cash import CashBox, CashError, CcTalkCashBox, open_cash_box

    try:
        box: CashBox = open_cash_box(section)
    except CashError as err:
        return Line("cash", Verdict.FAIL, str(err))
    try:
        if not isinstance(box, CcTalkCashBox):
            return Line("cash", Verdict.WARN, 'cash.backend is "fake" (in memory): no cash device was checked')
        hoppers = ", ".join(f"{coin} yen" for coin in sorted(box.hopper_counts))
        coins = sorted(set(box.coin_values.values()))
        notes = sorted(set(box.note_values.values()))
        return Line(
            "cash",
            Verdict.PASS,
            f"coin acceptor ({', '.join(map(str, coins))} yen), bill validator ({', '.join(map(str, notes))} yen) "
            f"and hoppers ({hoppers}) answer on {box.config.port}",
        )
    finally:
        box.close()


def check_document_printer(section: Mapping[str, Any]) -> Line:
    """The kiosk's A4 printer: its CUPS queue accepts jobs, or its PDF directory is writable.

    The section is read through the kiosk's own model (drivers.document_printer), so whatever
    the kiosk accepts is checked, and whatever it refuses fails here with the kiosk's words.
    Nothing is printed: a test page would waste a sheet of certificate paper."""
    label = "document printer"
    try:
        settings = document_printer_settings(convert(dict(section), DocumentPrinterSection))
    except Invalid as err:
        return Line(label, Verdict.FAIL, str(err.within("document_printer")))
    if settings.backend == "dir":
        directory = settings.directory or Path()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            probe = directory / f".selftest-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as err:
            return Line(label, Verdict.FAIL, f"cannot write PDFs to {directory}: {err.strerror or err}")
        return Line(
            label, Verdict.WARN, f"certificates go to PDF files in {directory} (no printer: demo and tests only)"
        )
    queue = settings.queue
    lpstat = shutil.which("lpstat")
    if lpstat is None:
        return Line(label, Verdict.FAIL, "lpstat not found: install CUPS (apt-get install cups) and create the queue")
    try:
        run = subprocess.run([lpstat, "-p", queue], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return Line(label, Verdict.FAIL, f"lpstat -p {queue} failed: {err}")
    said = " ".join((run.stdout + run.stderr).split())
    if run.returncode != 0 or "disabled" in said:
        return Line(
            label,
            Verdict.FAIL,
            f"CUPS queue {queue!r} is not ready ({said or 'no answer'}): lpadmin -p {queue} -E …; cupsenable {queue}",
        )
    return Line(label, Verdict.PASS, f"CUPS queue {queue!r} is enabled ({said})")


def check_port(label: str, section: Mapping[str, Any], key: str = "port") -> Line:
    """The serial port of a keypad or LED panel exists (it is not opened: the app may hold it)."""
    port = section.get(key)
    if not isinstance(port, str) or not port:
        return Line(label, Verdict.FAIL, f"no {key} configured: run detect, then apply with --set …{key}=PATH")
    if Path(port).exists():
        return Line(label, Verdict.PASS, f"{port} is present")
    return Line(label, Verdict.FAIL, f"{port} is missing: plug it in, or run detect and apply again")


def check_broker(
    url: str,
    *,
    site: str,
    device_id: str,
    timeout: float,
    wall_ms: Callable[[], int],
    office_key: str | None = None,
) -> tuple[Line, OfficeStatus | None]:
    """Connect with the device's identity and read the office's status back through the broker;
    with the office key enrolment pinned, check that the office signed it."""
    from sync import protocol, signing
    from sync.errors import SyncError
    from sync.link import Inbound, MqttLink

    try:
        verifier = signing.OfficeVerifier.from_text(office_key) if office_key else None
    except signing.OfficeKeyError as err:
        return Line("broker", Verdict.FAIL, f"device.office_key: {err}; enrol the device again"), None
    refused: list[str] = []
    probe = probe_broker(url, timeout)
    if not probe.ok:
        return Line("broker", Verdict.FAIL, probe.text), None
    topic = protocol.topic("office_status", site)
    got: list[OfficeStatus] = []
    arrived = threading.Event()
    downs: list[str] = []
    started = time.monotonic()

    def on_message(message: Inbound) -> None:
        try:
            if verifier is not None:
                verifier.check("office_status", site, None, message.payload)
            doc = protocol.decode("office_status", message.payload)
        except signing.SignatureError as err:
            refused.append(str(err))
            arrived.set()
            return
        except SyncError:
            return
        rtt = int((time.monotonic() - started) * 1000)
        got.append(OfficeStatus(doc.state, doc.sent_ms, wall_ms(), message.retained, rtt))
        arrived.set()

    try:
        link = MqttLink(
            url, f"{device_id}-selftest", subscriptions=[(topic, 1)], on_message=on_message, on_down=downs.append
        )
    except SyncError as err:
        return Line("broker", Verdict.FAIL, str(err)), None
    link.start()
    try:
        if not link.wait_ready(timeout):
            last = f" (last: {downs[-1]})" if downs else ""
            return Line(
                "broker",
                Verdict.FAIL,
                f"{probe.text}, but no MQTT session within {timeout:g} s{last}: see the broker's log",
            ), None
        started = time.monotonic()
        if not arrived.wait(timeout):
            return Line(
                "broker",
                Verdict.WARN,
                f"connected, but no office status on {topic} within {timeout:g} s: "
                f"is madoguchi-office serve running for site {site}?",
            ), None
    finally:
        link.stop()
    if not got:
        return Line(
            "broker",
            Verdict.FAIL,
            f"the office's status is not signed by the key pinned at enrolment ({refused[0]}): another "
            "office on this broker, or someone posing as it; enrol again with a token from this office",
        ), None
    status = got[0]
    said = f"{probe.text}; the office's status came back in {status.round_trip_ms} ms (office {status.state})"
    if verifier is None:
        return Line(
            "broker",
            Verdict.WARN,
            f"{said}, but no office key is pinned: the device would believe anybody on the office's "
            "topics - enrol it (madoguchi-provision enroll)",
        ), status
    return Line("broker", Verdict.PASS, f"{said}, signed by the pinned office key"), status


def run_selftest(
    device: DeviceFile,
    *,
    fake_printer: Path | None = None,
    card_reader: CardReader | None = None,
    timeout: float = 10.0,
    wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    on_line: Callable[[Line], None] | None = None,
) -> list[Line]:
    """Every check the configuration calls for, in order; ``on_line`` sees each as it finishes."""
    lines: list[Line] = []

    def done(line: Line) -> None:
        lines.append(line)
        if on_line is not None:
            on_line(line)

    printer = device.section("printer")
    if printer is not None:
        done(check_printer(printer, device=device, now_ms=wall_ms(), fake_printer=fake_printer))
    document = device.section("document_printer")
    if document is not None:
        done(check_document_printer(document))
    reader = device.section("card_reader")
    if reader is not None:
        done(check_card_reader(reader, reader=card_reader))
    cash = device.section("cash")
    if cash is not None:
        done(check_cash(cash))
    for name, label in (("keypad", "keypad"), ("led_panel", "LED panel")):
        section = device.section(name)
        if section is not None:
            done(check_port(label, section))
    broker, status = check_broker(
        device.broker,
        site=device.site,
        device_id=device.device_id,
        timeout=timeout,
        wall_ms=wall_ms,
        office_key=device.office_key,
    )
    done(broker)
    done(clock_line(status))
    return lines
