"""The python-escpos backend, its behavioural fake, device configuration, and real transports.

Golden file: ``tests/golden/ticket_80mm.escpos`` holds the exact bytes a TM-T20III receives for
one fixed ticket; ``ticket_80mm.png`` is their decoded image and ``ticket_80mm.json`` records
what the bytes depend on (font files, Pillow, FreeType, qrcode, the ticket's text). When a
change to the ticket is deliberate, regenerate them and review the PNG before committing::

    MADOGUCHI_REGEN_GOLDEN=1 python -m pytest tests/test_escpos_printer.py -k golden
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import logging
import os
import select
import socket
import subprocess
import sys
import threading
import tty
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import serial
import usb.core
from PIL import Image, ImageChops, features

from common.fonts import FontSet, find_fonts
from drivers.escpos_printer import (
    EscposTicketPrinter,
    FakeEscpos,
    PrinterConfigError,
    UsbTransport,
    open_printer,
)
from drivers.printer_model import PrinterModel, facts_table, parse_printer_config
from drivers.raster import (
    Cut,
    StatusQuery,
    decode_escpos,
    decode_escpos_jobs,
    iter_commands,
    raster_fragments,
    render,
    render_ticket_png,
)
from drivers.ticket_printer import BigNumber, PrinterFault, PrintJob, Text
from firmware_profiles.packaged import printer_facts, printer_model_named
from ticket_dispenser.ticket import IssuedTicket, ticket_job

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
# The driver knows no model: the facts come from the model's profile in the packaged catalog.
TM_T20III = printer_model_named("TM-T20III")
GENERIC_58MM = printer_model_named("generic-58mm")
SMALL_JOB = PrintJob("small", (Text("テスト Test", size=24), BigNumber("7", "番", size=80)))


@pytest.fixture(scope="module")
def fonts() -> FontSet:
    return find_fonts()


def same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a.convert("L"), b.convert("L")).getbbox() is None


def golden_ticket() -> IssuedTicket:
    """The fixed ticket of the golden file. Changing anything here changes the golden bytes."""
    return IssuedTicket(
        ticket_id="20250401-B-1105",
        day="2025-04-01",
        series="B",
        number=1105,
        category="certificates",
        names={"ja": "証明書", "en": "Certificates"},
        route=("reception", "issuing"),
        procedures=("住民票の写し", "印鑑登録証明書"),  # ticked on the screen: printed under the number
        issued_ms=1743467400000,  # 2025-04-01 09:30 JST
        clock_confirmed=True,
        people_ahead=3,
        est_wait_min=6,
        office_name="まどぐち町役場 総合窓口",
        language="en",
        token="SU5PVLU4YOXW6DGPVTGJNAFBUM",  # a fixed token: the QR code is part of the picture
    )


# --------------------------------------------------------------------------------------------
# golden bytes
# --------------------------------------------------------------------------------------------


def _dependencies(fonts: FontSet, job: PrintJob) -> dict[str, Any]:
    """What the golden bytes depend on besides our code (compared when they differ)."""
    described = fonts.describe()
    return {
        "model": TM_T20III.name,
        "font_sha256": {k: v for k, v in described.items() if k.endswith("sha256")},
        "pillow": version("pillow"),
        "freetype": features.version("freetype2"),
        "qrcode": version("qrcode"),
        "ticket_text": job.plain_text(),
    }


REGENERATE = (
    "If the change is intended, regenerate with MADOGUCHI_REGEN_GOLDEN=1 python -m pytest "
    "tests/test_escpos_printer.py -k golden and review tests/golden/ticket_80mm.png before committing."
)


def test_golden_ticket_bytes(fonts: FontSet, tmp_path: Path) -> None:
    job = ticket_job(golden_ticket())
    fake = FakeEscpos()
    EscposTicketPrinter(fake, TM_T20III, fonts).print_job(job)
    data = fake.output
    deps = _dependencies(fonts, job)
    paths = {ext: GOLDEN / f"ticket_80mm.{ext}" for ext in ("escpos", "png", "json")}
    if os.environ.get("MADOGUCHI_REGEN_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        paths["escpos"].write_bytes(data)
        render_ticket_png(data, paths["png"])
        sidecar = {
            **deps,
            "font_files": fonts.describe(),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        paths["json"].write_text(json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = paths["escpos"].read_bytes()
    recorded = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert recorded["sha256"] == hashlib.sha256(expected).hexdigest(), "golden bytes and sidecar disagree"
    changed = [k for k in deps if deps[k] != recorded.get(k)]
    if data != expected:
        (tmp_path / "actual.escpos").write_bytes(data)
        render_ticket_png(data, tmp_path / "actual.png")
        pytest.fail(
            f"the ticket's bytes differ from {paths['escpos'].relative_to(REPO)} "
            f"({len(data)} bytes, expected {len(expected)}). Changed since the golden was made: "
            f"{', '.join(changed) or 'nothing recorded, so our renderer or encoder'}. "
            f"Actual bytes and PNG: {tmp_path}. {REGENERATE}"
        )
    # The stored PNG is the decoder's view of the stored bytes: both files agree.
    assert same(decode_escpos(expected), Image.open(paths["png"]))
    # Same bytes from a different font file is luck, not a pass: the sidecar must name the
    # font the bytes were really made with.
    assert deps["font_sha256"] == recorded["font_sha256"], (
        f"the font files differ from the ones the golden names ({recorded['font_files']}). {REGENERATE}"
    )


def test_golden_bytes_show_the_ticket_number(fonts: FontSet) -> None:
    expected = (GOLDEN / "ticket_80mm.escpos").read_bytes()
    job = ticket_job(golden_ticket())
    assert same(decode_escpos(expected), render(job, TM_T20III.width_px, fonts))


def test_our_raster_is_byte_for_byte_what_python_escpos_image_sends(fonts: FontSet) -> None:
    # Encoded by drivers.raster (stable for golden files, shared with the decoder), yet the
    # same GS v 0 bytes python-escpos's own image(impl="bitImageRaster") produces.
    from escpos.printer import Dummy

    img = render(ticket_job(golden_ticket()), TM_T20III.width_px, fonts)
    dummy = Dummy(profile=TM_T20III.escpos_profile)
    dummy.image(img, impl="bitImageRaster", fragment_height=TM_T20III.fragment_height)
    assert dummy.output == b"".join(raster_fragments(img, TM_T20III.fragment_height))


# --------------------------------------------------------------------------------------------
# the fake printer and the statuses it produces
# --------------------------------------------------------------------------------------------


def fake_printer(
    fonts: FontSet, model: PrinterModel = TM_T20III, **kwargs: Any
) -> tuple[FakeEscpos, EscposTicketPrinter]:
    fake = FakeEscpos(**kwargs)
    return fake, EscposTicketPrinter(fake, model, fonts)


def test_a_fresh_fake_is_ready_and_prints_what_it_is_sent(fonts: FontSet) -> None:
    fake, printer = fake_printer(fonts)
    assert printer.status().ok
    printer.print_job(SMALL_JOB)
    assert len(fake.jobs) == 1 and len(fake.tickets) == 1
    assert fake.tickets[0].cut and fake.tickets[0].complete
    assert same(fake.tickets[0].image, printer.render(SMALL_JOB))
    # Status queries are in the raw output but not in the job (they are real-time commands).
    assert b"\x10\x04\x01" in fake.output and b"\x10\x04\x01" not in fake.jobs[0]
    assert fake.jobs[0] == b"".join(printer.encode(SMALL_JOB))


def test_paper_near_end_warns_and_paper_out_stops(fonts: FontSet) -> None:
    fake, printer = fake_printer(fonts, paper=3, near_end_at=2)
    assert not printer.status().paper_near_end
    printer.print_job(SMALL_JOB)
    near = printer.status()
    assert near.paper_near_end and near.ok  # a warning, not a fault
    printer.print_job(SMALL_JOB)
    printer.print_job(SMALL_JOB)  # the last ticket of the roll prints...
    assert len(fake.tickets) == 3
    out = printer.status()  # ...and leaves the sensor seeing no paper
    assert out.paper_out and not out.online and out.fault == "paper_out"
    printer.print_job(SMALL_JOB)  # printing while out: no ticket
    assert len(fake.tickets) == 3
    assert "stopped_by_paper_end" in printer.status().detail
    fake.set_paper(100)
    assert printer.status().ok
    printer.print_job(SMALL_JOB)
    assert len(fake.tickets) == 4


def test_paper_running_out_mid_job_leaves_a_partial_ticket_and_says_paper_out(fonts: FontSet) -> None:
    fake, printer = fake_printer(fonts, paper=50)
    fake.run_out_mid_job()
    long_job = PrintJob("long", (Text("長い券 " * 60, size=40),))
    assert printer.render(long_job).height > TM_T20III.fragment_height  # more than one fragment
    assert printer.status().ok
    printer.print_job(long_job)  # the bytes all went out: only the status can tell
    after = printer.status()
    assert after.paper_out and after.fault == "paper_out"
    [partial] = fake.tickets
    assert not partial.complete and not partial.cut
    assert partial.image.height == TM_T20III.fragment_height


def test_cover_open_stops_printing_until_closed(fonts: FontSet) -> None:
    fake, printer = fake_printer(fonts)
    fake.open_cover()
    status = printer.status()
    assert status.cover_open and not status.online and status.fault == "cover_open"
    printer.print_job(SMALL_JOB)
    assert len(fake.tickets) == 0
    fake.close_cover()
    assert printer.status().ok


def test_a_jammed_cutter_prints_the_ticket_uncut_and_reports_an_error(fonts: FontSet) -> None:
    fake, printer = fake_printer(fonts)
    fake.jam_cutter()
    assert printer.status().ok  # nothing wrong until the cut
    printer.print_job(SMALL_JOB)
    [uncut] = fake.tickets
    assert uncut.complete and not uncut.cut
    status = printer.status()
    assert status.cutter_error and status.fault == "cutter_error" and not status.online
    printer.print_job(SMALL_JOB)  # the printer is in error: nothing more comes out
    assert len(fake.tickets) == 1
    fake.clear()
    assert printer.status().ok
    printer.print_job(SMALL_JOB)
    assert fake.tickets[-1].cut


def test_offline_for_another_reason(fonts: FontSet) -> None:
    fake, printer = fake_printer(fonts)
    fake.go_offline()
    assert printer.status().fault == "offline"
    fake.go_online()
    assert printer.status().ok


def test_an_unplugged_printer_is_disconnected_and_refuses_jobs(fonts: FontSet) -> None:
    fake, printer = fake_printer(fonts)
    assert printer.status().ok
    fake.unplug()
    status = printer.status()
    assert not status.connected and status.fault == "disconnected"
    with pytest.raises(PrinterFault) as caught:
        printer.print_job(SMALL_JOB)
    assert caught.value.status.fault == "disconnected"
    assert caught.value.__cause__ is not None
    fake.plug()  # replugged: the printer reopens it
    assert printer.status().ok
    printer.print_job(SMALL_JOB)
    assert len(fake.tickets) == 1


def test_a_device_that_vanishes_mid_write_raises_a_printer_fault(fonts: FontSet) -> None:
    fake, printer = fake_printer(fonts)
    writes = 0

    def unplug_after_two_writes(msg: bytes) -> None:
        nonlocal writes
        writes += 1
        if writes > 2:
            fake.unplug()
        FakeEscpos._raw(fake, msg)

    fake._raw = unplug_after_two_writes  # type: ignore[method-assign]
    with pytest.raises(PrinterFault, match="Errno 19") as caught:
        printer.print_job(PrintJob("long", (Text("長い券 " * 60, size=40),)))
    assert isinstance(caught.value.__cause__, usb.core.USBError)
    assert caught.value.__cause__.errno == errno.ENODEV


def test_garbage_or_silence_on_the_status_line_is_not_a_ready_printer(fonts: FontSet) -> None:
    fake, printer = fake_printer(fonts)
    fake.script_reply(3, 0xFF)
    status = printer.status()
    assert not status.connected and "0xff" in status.detail
    assert printer.status().ok  # the next reply is the printer's own again
    _, silent = fake_printer(fonts, answers=(1, 2, 4))
    status = silent.status()
    assert not status.connected and "no reply to DLE EOT 3" in status.detail


def test_a_model_is_asked_only_the_queries_it_answers(fonts: FontSet) -> None:
    fake, printer = fake_printer(fonts, model=GENERIC_58MM, answers=(1, 4))
    assert printer.status().ok
    queries = [c.n for c, _ in iter_commands(fake.output) if isinstance(c, StatusQuery)]
    assert queries == [1, 4]


def test_the_fake_writes_each_ticket_as_a_png(fonts: FontSet, tmp_path: Path) -> None:
    _, printer = fake_printer(fonts, png_dir=tmp_path / "tickets")
    printer.print_job(SMALL_JOB)
    printer.print_job(PrintJob("two", (Text("二枚目"),)))
    assert sorted(p.name for p in (tmp_path / "tickets").iterdir()) == ["1.png", "2.png"]
    assert same(Image.open(tmp_path / "tickets" / "1.png"), printer.render(SMALL_JOB))


def test_a_failing_transport_error_becomes_a_printer_fault(fonts: FontSet) -> None:
    class BrokenLine(FakeEscpos):
        def _raw(self, msg: bytes) -> None:
            raise serial.SerialException("write failed: [Errno 5] Input/output error")

    printer = EscposTicketPrinter(BrokenLine(), TM_T20III, fonts)
    with pytest.raises(PrinterFault, match="Input/output error") as caught:
        printer.print_job(SMALL_JOB)
    assert isinstance(caught.value.__cause__, serial.SerialException)
    assert not printer.status().connected  # status() never raises


def test_a_ticket_that_cannot_be_drawn_is_a_fault_of_the_ticket_not_the_printer(fonts: FontSet) -> None:
    _, printer = fake_printer(fonts, model=GENERIC_58MM)
    with pytest.raises(PrinterFault, match="cannot render") as caught:
        printer.print_job(PrintJob("huge", (Text("字", size=1000),)))
    assert caught.value.status.connected and caught.value.status.fault is None


# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "key", "fix"),
    [
        ({"model": "TM-T20", "backend": "fake"}, "printer.model", "known models"),
        ({"model": "TM-T20II", "backend": "fake"}, "printer.model", 'did you mean "TM-T20III"'),
        ({"backend": "fake"}, "printer.model", 'required: the printer model, e.g. model = "TM-T20III"'),
        ({"model": "TM-T20III", "backend": "bluetooth"}, "printer.backend", "usb, serial, network, file, fake"),
        ({"model": "TM-T20III", "backend": "usb", "usb": {"vendor": "epson"}}, "printer.usb.vendor", "like 0x04b8"),
        ({"model": "TM-T20III", "backend": "usb", "usb": {"vendor": 0x10000}}, "printer.usb.vendor", "like 0x04b8"),
        ({"model": "TM-T20III", "backend": "usb", "usb": {"timeout_ms": 0}}, "printer.usb.timeout_ms", "block forever"),
        ({"model": "generic-58mm", "backend": "usb"}, "printer.usb.vendor", "required"),
        ({"model": "TM-T20III", "backend": "usb", "usb": {"vendr": 1}}, "printer.usb.vendr", "unknown key"),
        ({"model": "TM-T20III", "backend": "serial", "serial": {}}, "printer.serial.port", "/dev/ttyUSB0"),
        (
            {"model": "TM-T20III", "backend": "serial", "serial": {"port": "/dev/x", "baudrate": 12345}},
            "printer.serial.baudrate",
            "38400",
        ),
        (
            {"model": "TM-T20III", "backend": "serial", "serial": {"port": "/dev/x", "flow_control": "rts"}},
            "printer.serial.flow_control",
            "rtscts",
        ),
        (
            {"model": "TM-T20III", "backend": "network", "network": {"host": "p", "port": 70000}},
            "printer.network.port",
            "9100",
        ),
        ({"model": "TM-T20III", "backend": "file"}, "printer.file.path", "required"),
        ({"model": "TM-T20III", "backend": "fake", "fake": {"paper": -1}}, "printer.fake.paper", "tickets left"),
        ({"model": "TM-T20III", "backend": "fake", "usb ": {}}, "printer.usb ", "unknown key"),
        ({"model": "TM-T20III", "backend": "serial", "serial": "/dev/ttyUSB0"}, "printer.serial", "expected a table"),
    ],
)
def test_config_errors_name_the_key_and_the_fix(fonts: FontSet, config: dict[str, Any], key: str, fix: str) -> None:
    with pytest.raises(PrinterConfigError) as caught:
        _open(config, fonts=fonts)
    assert caught.value.key == key
    assert str(caught.value).startswith(f"{key}: ")
    assert fix in str(caught.value)


def _open(config: dict[str, Any], **kwargs: Any) -> EscposTicketPrinter:
    """As an app opens its printer: the section checked, the model's facts from the section or
    else from the packaged catalog."""
    section = parse_printer_config(config)
    return open_printer(section, model=printer_facts(section), **kwargs)


def test_a_profiles_facts_reach_the_driver(fonts: FontSet) -> None:
    # What provisioning writes as [printer.facts]: the 58 mm model's width, status queries and
    # fragment height drive the raster and the status reader, with no catalog at hand.
    facts = facts_table(GENERIC_58MM)
    config = {"model": "generic-58mm", "backend": "fake", "facts": facts}
    printer = open_printer(config, fonts=fonts)
    assert printer.model == GENERIC_58MM and printer.model.cutter is False
    assert printer.render(SMALL_JOB).width == 384
    assert printer.status().ok
    fake = printer.transport
    assert isinstance(fake, FakeEscpos)
    assert [c.n for c, _ in iter_commands(fake.output) if isinstance(c, StatusQuery)] == [1, 4]
    printer.print_job(PrintJob("tall", tuple(Text(f"行 {i}", size=40) for i in range(8))))
    heights = [c.height for c, _ in iter_commands(fake.jobs[-1]) if hasattr(c, "height")]
    assert max(heights) == 128  # its raster.fragment_height, not the default 256
    # Facts given by the caller (an app that read the catalog) take the place of the section's.
    assert open_printer({"model": "TM-T20III", "backend": "fake"}, model=TM_T20III, fonts=fonts).model == TM_T20III


def test_a_printer_without_facts_is_refused_by_the_driver(fonts: FontSet) -> None:
    # The driver knows no model by name: without facts it says where they come from.
    with pytest.raises(PrinterConfigError) as caught:
        open_printer({"model": "TM-T20III", "backend": "fake"}, fonts=fonts)
    assert caught.value.key == "printer.facts" and "madoguchi-provision apply writes them" in str(caught.value)
    # Facts of another model than the one named: stale after a hand edit.
    with pytest.raises(PrinterConfigError) as caught:
        open_printer({"model": "TM-T88V", "backend": "fake", "facts": facts_table(TM_T20III)}, fonts=fonts)
    assert caught.value.key == "printer.facts.name" and "apply the role again" in str(caught.value)
    with pytest.raises(PrinterConfigError) as caught:
        open_printer(
            {"model": "X", "backend": "fake", "facts": {**facts_table(TM_T20III), "width_px": 577}}, fonts=fonts
        )
    assert str(caught.value) == "printer.facts.width_px: expected a multiple of 8, got 577; use 576 or 584"


def test_usb_always_gets_a_timeout_and_a_missing_device_is_a_fault_not_a_fake(fonts: FontSet) -> None:
    printer = _open({"model": "TM-T20III", "backend": "usb", "usb": {"product": 0xFFFE}}, fonts=fonts)
    assert type(printer.transport) is UsbTransport
    assert printer.transport.timeout == 5000  # python-escpos's default 0 would block forever
    assert printer.transport.usb_args == {"idVendor": 0x04B8, "idProduct": 0xFFFE}
    status = printer.status()  # no such device here (or no libusb at all): reported, not hidden
    assert not status.connected and "cannot open" in status.detail
    with pytest.raises(PrinterFault):
        printer.print_job(SMALL_JOB)
    with pytest.raises(PrinterFault, match="cannot open"):
        _open(
            {"model": "TM-T20III", "backend": "usb", "usb": {"product": 0xFFFE, "timeout_ms": 800}},
            fonts=fonts,
            connect=True,
        )


def test_the_file_backend_writes_the_job_bytes(fonts: FontSet, tmp_path: Path) -> None:
    out = tmp_path / "printer.bin"
    printer = _open({"model": "TM-T88V", "backend": "file", "file": {"path": str(out)}}, fonts=fonts)
    status = printer.status()
    assert status.ok and "write-only" in status.detail
    printer.print_job(SMALL_JOB)
    printer.close()
    [image] = decode_escpos_jobs(out.read_bytes())
    assert image.width == 512 and same(image, printer.render(SMALL_JOB))


def test_the_fake_backend_is_chosen_only_by_name(fonts: FontSet, tmp_path: Path) -> None:
    printer = _open(
        {"model": "TM-m30III", "backend": "fake", "fake": {"paper": 10, "png_dir": str(tmp_path)}}, fonts=fonts
    )
    assert isinstance(printer.transport, FakeEscpos) and printer.transport.remaining == 10
    printer.print_job(SMALL_JOB)
    assert (tmp_path / "1.png").exists()


def test_importing_the_backend_leaves_logging_alone(tmp_path: Path) -> None:
    code = (
        "import logging, os\n"
        "import drivers.escpos_printer\n"
        "assert logging.getLogger().handlers == [], logging.getLogger().handlers\n"
        "print(os.environ['ESCPOS_CAPABILITIES_PICKLE_DIR'])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(tmp_path)}
    env.pop("ESCPOS_CAPABILITIES_PICKLE_DIR", None)
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "madoguchi" / "escpos")
    assert any((tmp_path / "madoguchi" / "escpos").glob("*.capabilities.pickle"))


# --------------------------------------------------------------------------------------------
# real transports: a serial port (pty) and a TCP socket, with a printer simulated behind them
# --------------------------------------------------------------------------------------------


class SimulatedLine:
    """The printer's end of a byte stream: answers DLE EOT like a ready printer, keeps the rest."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.received = bytearray()
        self.cuts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pending = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self.fd], [], [], 0.02)
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.received += chunk
            data, used = pending + chunk, 0
            for command, raw in iter_commands(data, final=False):
                used += len(raw)
                if isinstance(command, StatusQuery):
                    os.write(self.fd, b"\x12")
                elif isinstance(command, Cut):
                    self.cuts += 1
            pending = data[used:]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@pytest.fixture
def pty_printer() -> Iterator[tuple[str, SimulatedLine]]:
    master, slave = os.openpty()
    tty.setraw(master)
    line = SimulatedLine(master)
    try:
        yield os.ttyname(slave), line
    finally:
        line.stop()
        os.close(slave)
        os.close(master)


def test_serial_backend_through_a_real_pty(
    fonts: FontSet, pty_printer: tuple[str, SimulatedLine], wait_for: Any
) -> None:
    path, line = pty_printer
    printer = _open({"model": "TM-T20III", "backend": "serial", "serial": {"port": path}}, fonts=fonts)
    assert type(printer.transport).__mro__[1].__name__ == "Serial"  # python-escpos's own Serial
    status = printer.status()
    assert status.ok and status.detail.startswith("DLE EOT 1=0x12")
    printer.print_job(SMALL_JOB)
    wait_for(lambda: line.cuts == 1, timeout=10, message="the job did not reach the printer end")
    assert printer.status().ok
    printer.close()
    [image] = decode_escpos_jobs(bytes(line.received))
    assert same(image, printer.render(SMALL_JOB))


def test_serial_printer_that_does_not_answer_is_disconnected(fonts: FontSet) -> None:
    master, slave = os.openpty()
    try:
        printer = _open(
            {"model": "TM-T20III", "backend": "serial", "serial": {"port": os.ttyname(slave), "status_timeout_ms": 50}},
            fonts=fonts,
        )
        status = printer.status()
        assert not status.connected and "no reply to DLE EOT 1" in status.detail
        printer.close()
    finally:
        os.close(slave)
        os.close(master)


def test_network_backend_through_a_real_socket(fonts: FontSet, wait_for: Any) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[SimulatedLine] = []
    conns: list[socket.socket] = []

    def accept() -> None:
        conn, _ = server.accept()
        conns.append(conn)
        accepted.append(SimulatedLine(conn.fileno()))

    threading.Thread(target=accept, daemon=True).start()
    try:
        port = server.getsockname()[1]
        printer = _open(
            {"model": "TM-m30III", "backend": "network", "network": {"host": "127.0.0.1", "port": port}}, fonts=fonts
        )
        assert printer.status().ok
        printer.print_job(SMALL_JOB)
        wait_for(
            lambda: accepted and accepted[0].cuts == 1, timeout=10, message="the job did not reach the printer end"
        )
        printer.close()
        [image] = decode_escpos_jobs(bytes(accepted[0].received))
        assert same(image, printer.render(SMALL_JOB))
    finally:
        for line in accepted:
            line.stop()
        for conn in conns:
            conn.close()
        server.close()


# --------------------------------------------------------------------------------------------
# the PNG script
# --------------------------------------------------------------------------------------------


def test_render_ticket_png_from_bytes_and_from_the_command_line(fonts: FontSet, tmp_path: Path) -> None:
    fake, printer = fake_printer(fonts)
    printer.print_job(SMALL_JOB)
    printer.print_job(SMALL_JOB)
    one = render_ticket_png(fake.jobs[0], tmp_path / "one.png")
    assert same(Image.open(one), printer.render(SMALL_JOB))
    two = render_ticket_png(fake.output, tmp_path / "two.png")  # two tickets, a cut line between
    assert Image.open(two).height > 2 * printer.render(SMALL_JOB).height
    (tmp_path / "in.escpos").write_bytes(fake.jobs[0])
    script = [sys.executable, str(REPO / "scripts" / "render_ticket_png.py")]
    run = subprocess.run(
        [*script, str(tmp_path / "cli.png"), "--input", str(tmp_path / "in.escpos")],
        check=False,
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert same(Image.open(tmp_path / "cli.png"), printer.render(SMALL_JOB))
    (tmp_path / "bad.escpos").write_bytes(b"hello")
    run = subprocess.run(
        [*script, str(tmp_path / "bad.png"), "--input", str(tmp_path / "bad.escpos")],
        check=False,
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert run.returncode == 1 and run.stderr.startswith("error: "), run.stderr


def test_logging_of_the_fake_stays_quiet(caplog: pytest.LogCaptureFixture, fonts: FontSet) -> None:
    with caplog.at_level(logging.WARNING):
        _, printer = fake_printer(fonts)
        printer.print_job(SMALL_JOB)
        printer.status()
    assert caplog.records == []


def test_the_ticked_procedures_are_printed_under_the_number_and_nothing_when_none() -> None:
    ticked = ticket_job(golden_ticket()).plain_text()
    assert "お手続き" in ticked and "・住民票の写し" in ticked and "・印鑑登録証明書" in ticked
    assert ticked.index("1105") < ticked.index("お手続き") < ticked.index("発券日時")
    none = ticket_job(dataclasses.replace(golden_ticket(), procedures=())).plain_text()
    assert "お手続き" not in none and "\n・" not in none


def test_a_procedure_prints_in_the_residents_language_beside_its_japanese_name() -> None:
    t = dataclasses.replace(
        golden_ticket(),
        language="vi",
        procedures=("住民票の写し", "戸籍の附票"),
        procedures_local={"住民票の写し": "Bản sao phiếu cư trú", "戸籍の附票": "戸籍の附票"},
    )
    text = ticket_job(t).plain_text()
    assert "・住民票の写し (Bản sao phiếu cư trú)" in text  # the counter reads Japanese, the resident theirs
    assert "・戸籍の附票\n" in text + "\n" and "戸籍の附票 (" not in text  # no translation: Japanese alone
