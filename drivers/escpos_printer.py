"""The real ticket printer backend (python-escpos) and its behavioural fake.

:class:`EscposTicketPrinter` implements the :class:`~drivers.ticket_printer.TicketPrinter` seam:
it renders a job to a raster (:mod:`drivers.raster`), writes the bytes through a python-escpos
printer object's ``_raw`` and reads real-time status through its ``_read``. Which python-escpos
object (USB, serial, network, file, or :class:`FakeEscpos`) is chosen by name from the
device's configuration in :func:`open_printer`; the fake is never a fallback for missing
hardware.

The driver knows no model by name: it is handed the model's facts (:class:`PrinterModel`: width,
dpi, status queries, fragment height, python-escpos profile, USB id), which come from the
model's hardware profile. Its declarations - the facts, what it needs of a serial port, its
``[printer]`` section - are in :mod:`drivers.printer_model`, readable without python-escpos.

Importing this module imports python-escpos, which 3.1 makes costly in two ways we undo here:
it calls ``logging.basicConfig()`` (which would make the application's own ``basicConfig`` in
``main()`` a silent no-op), so the root logger's handlers are put back as they were; and it
pickles its printer database into a fresh temporary directory on every import unless
``ESCPOS_CAPABILITIES_PICKLE_DIR`` is set, so it is pointed at one cache directory (unless the
environment already sets it). Nothing else happens at import.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from common.fonts import FontNotFoundError, FontSet, find_fonts
from drivers.printer_model import (
    BACKENDS,
    DEFAULT_STATUS_TIMEOUT_MS,
    DEFAULT_USB_TIMEOUT_MS,
    SERIAL_LINE,
    PrinterConfig,
    PrinterConfigError,
    PrinterModel,
    parse_printer_config,
    usb_id,
)
from drivers.printer_status import QUERIES, StatusReplyError, combine, status_query
from drivers.raster import (
    BandCache,
    Cut,
    EscposDecodeError,
    Feed,
    Init,
    RasterFragment,
    RenderError,
    StatusQuery,
    iter_commands,
    render,
    stack_fragments,
    to_escpos_chunks,
)
from drivers.ticket_printer import PrinterFault, PrinterStatus, PrintJob

log = logging.getLogger(__name__)


def _escpos_cache_dir() -> str:
    """One directory for python-escpos's pickled printer database (not a new one per run)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    for candidate in (base / "madoguchi" / "escpos", Path(tempfile.gettempdir()) / f"madoguchi-escpos-{os.getuid()}"):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            return str(candidate)
    return tempfile.gettempdir()


def _import_escpos_quietly() -> None:
    if "ESCPOS_CAPABILITIES_PICKLE_DIR" not in os.environ:
        os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"] = _escpos_cache_dir()
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        import escpos.escpos  # noqa: F401  (the import is the point)
    finally:
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)
                handler.close()


_import_escpos_quietly()

import escpos.exceptions
import serial
import usb.core
from escpos.escpos import Escpos
from escpos.printer import File, Network, Serial, Usb

# What a transport raises when the device is gone or stalls. USBError and SerialException are
# OSErrors already; they are listed for the reader. NoBackendError (no libusb) is a ValueError.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    usb.core.USBError,
    usb.core.NoBackendError,
    serial.SerialException,
    OSError,
    escpos.exceptions.Error,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_STATUS_TIMEOUT_MS",
    "DEFAULT_USB_TIMEOUT_MS",
    "TRANSPORT_ERRORS",
    "EscposTicketPrinter",
    "FakeEscpos",
    "FakeTicket",
    "NetworkTransport",
    "PrinterConfig",
    "PrinterConfigError",
    "PrinterModel",
    "SerialTransport",
    "UsbTransport",
    "open_printer",
]


# --------------------------------------------------------------------------------------------
# transports: python-escpos printers whose status read does not wait out a long timeout
# --------------------------------------------------------------------------------------------


class UsbTransport(Usb):  # type: ignore[misc]
    """python-escpos ``Usb`` whose status read waits ``status_timeout_ms``, not libusb's 1 s."""

    def __init__(self, *, status_timeout_ms: int = DEFAULT_STATUS_TIMEOUT_MS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.status_timeout_ms = status_timeout_ms

    def _read(self) -> bytes:
        try:
            return bytes(self.device.read(self.in_ep, 16, self.status_timeout_ms))
        except usb.core.USBTimeoutError:
            return b""  # no answer: the caller reports it; the device may still be there


class SerialTransport(Serial):  # type: ignore[misc]
    """python-escpos ``Serial`` that returns a status byte as soon as it arrives.

    Its stock ``_read`` asks pyserial for 16 bytes, which waits out the whole timeout for the
    one byte a DLE EOT reply has: four queries would cost four timeouts per status check.
    Writes get their own timeout (pyserial's default blocks forever on a stalled line).
    """

    def __init__(
        self,
        *,
        status_timeout_ms: int = DEFAULT_STATUS_TIMEOUT_MS,
        write_timeout_s: float = 10.0,
        rtscts: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(timeout=status_timeout_ms / 1000, **kwargs)
        self.write_timeout_s = write_timeout_s
        self.rtscts = rtscts

    def open(self, raise_not_found: bool = True) -> None:
        """Open the port (python-escpos), then set the write timeout and flow control."""
        super().open(raise_not_found)
        if self._device:
            self._device.write_timeout = self.write_timeout_s
            if self.rtscts:
                self._device.rtscts = True

    def _read(self) -> bytes:
        first = bytes(self.device.read(1))
        waiting = self.device.in_waiting if first else 0
        return first + (bytes(self.device.read(waiting)) if waiting else b"")


class NetworkTransport(Network):  # type: ignore[misc]
    """python-escpos ``Network`` whose status read waits ``status_timeout_ms``, not the socket's."""

    def __init__(self, *, status_timeout_ms: int = DEFAULT_STATUS_TIMEOUT_MS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.status_timeout_ms = status_timeout_ms

    def _read(self) -> bytes:
        sock: socket.socket = self.device
        previous = sock.gettimeout()
        sock.settimeout(self.status_timeout_ms / 1000)
        try:
            return sock.recv(16)
        except TimeoutError:
            return b""
        finally:
            sock.settimeout(previous)


# --------------------------------------------------------------------------------------------
# the backend
# --------------------------------------------------------------------------------------------


class EscposTicketPrinter:
    """A ticket printer driven through a python-escpos printer object (the transport).

    Every ticket is one raster image: rendered at the model's width, sent in fragments of at
    most ``model.fragment_height`` rows, then cut. ``fonts`` defaults to :func:`find_fonts`,
    looked up on the first print. Thread-safe: status reads and jobs never interleave bytes.
    """

    def __init__(self, transport: Escpos, model: PrinterModel, fonts: FontSet | None = None) -> None:
        self.transport = transport
        self.model = model
        self._fonts = fonts
        self._lock = threading.Lock()
        self._bands: BandCache | None = None  # the headings of tickets drawn before

    @property
    def fonts(self) -> FontSet:
        """The fonts tickets are drawn with (found on first use)."""
        if self._fonts is None:
            self._fonts = find_fonts()
        return self._fonts

    def render(self, job: PrintJob) -> Image.Image:
        """The ticket image this printer would print for ``job``."""
        bands = self._bands
        if bands is None:
            bands = self._bands = BandCache(self.model.width_px, self.fonts)
        return render(job, self.model.width_px, self.fonts, bands=bands)

    def encode(self, job: PrintJob) -> list[bytes]:
        """The writes :meth:`print_job` makes for ``job`` (init, raster fragments, cut)."""
        return to_escpos_chunks(self.render(job), cut=job.cut, fragment_height=self.model.fragment_height)

    def print_job(self, job: PrintJob) -> None:
        """Render, encode and send ``job``; PrinterFault when it cannot be sent."""
        try:
            chunks = self.encode(job)
        except (FontNotFoundError, RenderError) as err:
            # The printer is fine; this ticket cannot be drawn. Say so without blaming the device.
            raise PrinterFault(
                f"cannot render ticket {job.job_id}: {err}", status=PrinterStatus(detail=f"render failed: {err}")
            ) from err
        with self._lock:
            try:
                self._ensure_open()
                for chunk in chunks:
                    self.transport._raw(chunk)
            except TRANSPORT_ERRORS as err:
                self._reset()
                message = f"{self.model.name}: ticket {job.job_id} not sent: {_describe(err)}"
                raise PrinterFault(message, status=PrinterStatus(connected=False, detail=message)) from err

    def status(self) -> PrinterStatus:
        """DLE EOT for each query the model answers, merged; never raises."""
        with self._lock:
            try:
                return self._read_status()
            except Exception as err:  # a status read must not take the dispenser down
                log.exception("unexpected error reading the status of %s", self.model.name)
                self._reset()
                return PrinterStatus(connected=False, detail=f"status read failed: {_describe(err)}")

    def close(self) -> None:
        """Release the device (the next call opens it again)."""
        with self._lock:
            self._reset()

    def _read_status(self) -> PrinterStatus:
        try:
            self._ensure_open()
        except TRANSPORT_ERRORS as err:
            self._reset()
            return PrinterStatus(connected=False, detail=f"{self.model.name}: cannot open: {_describe(err)}")
        if not self.model.status_queries:
            return PrinterStatus(detail=f"{self.model.name} answers no status queries: assumed ready")
        if type(self.transport)._read is Escpos._read:
            # A file or a write-only device file: nothing can be read back. Writing to it
            # raises when it fails, which print_job reports.
            return PrinterStatus(detail=f"{type(self.transport).__name__} transport is write-only: status not read")
        replies: dict[int, int] = {}
        for n in self.model.status_queries:
            try:
                self.transport._raw(status_query(n))
                reply = bytes(self.transport._read())
            except TRANSPORT_ERRORS as err:
                self._reset()
                return PrinterStatus(connected=False, detail=f"{self.model.name}: DLE EOT {n}: {_describe(err)}")
            if not reply:
                return PrinterStatus(connected=False, detail=f"{self.model.name}: no reply to DLE EOT {n}")
            # The last byte is the freshest: anything before it is a late reply to an earlier query.
            replies[n] = reply[-1]
        try:
            return combine(replies)
        except StatusReplyError as err:
            return PrinterStatus(connected=False, detail=f"{self.model.name}: {err}")

    def _ensure_open(self) -> None:
        # python-escpos opens on first use of ``.device``, and after a failed open leaves the
        # device at None, where its ``_raw`` would fail an assert. Open explicitly instead, so a
        # missing device raises its DeviceNotFoundError every time until it is back.
        if not self.transport._device:
            self.transport.open()

    def _reset(self) -> None:
        """Drop the connection after an error so the next call reopens (replugged USB, new fd)."""
        try:
            self.transport.close()
        except Exception as err:  # noqa: BLE001 - closing a dead device may fail in any way
            log.debug("closing %s after an error failed: %s", self.model.name, err)
        self.transport._device = False


def _describe(err: BaseException) -> str:
    text = str(err).strip().replace("\n", " ")
    described = f"{type(err).__name__}: {text}" if text else type(err).__name__
    if isinstance(err, usb.core.NoBackendError):
        described += " (pyusb found no libusb: sudo apt-get install libusb-1.0-0)"
    return described


# --------------------------------------------------------------------------------------------
# the behavioural fake
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeTicket:
    """A piece of paper that came out of the fake printer."""

    image: Image.Image = field(repr=False)
    cut: bool  # False: the cutter jammed or the paper ran out before the cut
    complete: bool  # False: the paper ran out during the job


class FakeEscpos(Escpos):  # type: ignore[misc]
    """A thermal printer in software, behind python-escpos's own seam (``_raw``/``_read``).

    It parses what it is sent, prints raster images onto a roll of ``paper`` tickets (None: a
    roll that never ends), cuts at each cut command, and answers DLE EOT 1-4 from its state.
    Scripting: :meth:`set_paper`, :meth:`run_out_mid_job`, :meth:`open_cover`,
    :meth:`close_cover`, :meth:`jam_cutter`, :meth:`clear`, :meth:`go_offline`,
    :meth:`go_online`, :meth:`unplug`, :meth:`plug`, :meth:`script_reply`.

    Paper: each cut uses one ticket; the sensor reports near end at ``near_end_at`` tickets
    left or fewer and paper end at 0, so the last ticket of a roll prints and leaves the
    printer out of paper. Printing while out (or with the cover open, a cutter error, or
    offline) prints nothing. ``png_dir``: each ticket that comes out is written there as
    ``<n>.png`` (n from 1), as the customer would see it.

    Records: ``output`` (every byte written), ``jobs`` (the bytes between cuts, without the
    real-time status queries), ``tickets`` (:class:`FakeTicket`).
    """

    def __init__(
        self,
        *,
        paper: int | None = None,
        near_end_at: int = 5,
        answers: Iterable[int] = QUERIES,
        png_dir: str | Path | None = None,
        profile: str | None = None,
        keep: int | None = None,
    ) -> None:
        super().__init__(profile=profile)
        # keep: how many writes, jobs and tickets to remember; None remembers all (tests).
        # A long-running fake (the demo) sets it, or its history would grow without end.
        self.tickets_total = 0
        self._state_lock = threading.RLock()
        self.near_end_at = near_end_at
        self.answers = frozenset(answers)
        self.png_dir = Path(png_dir) if png_dir is not None else None
        self.remaining: int | None = paper
        self.cover_is_open = False
        self.cutter_error = False
        self.offline_switch = False
        self.plugged = True
        self.stopped_by_paper_end = False
        self._jam_next_cut = False
        self._run_out_mid_job = False
        self._scripted: dict[int, list[int]] = {}
        self._written: deque[bytes] = deque(maxlen=keep * 64 if keep else None)
        self._pending = b""
        self._job = bytearray()
        self._fragments: list[RasterFragment] = []
        self._interrupted = False
        self._replies = bytearray()
        self.jobs: deque[bytes] = deque(maxlen=keep)
        self.tickets: deque[FakeTicket] = deque(maxlen=keep)

    # -- python-escpos seam ------------------------------------------------------------------

    def open(self, raise_not_found: bool = True) -> None:
        """Connect (fails like a missing USB printer while unplugged)."""
        if not self.plugged:
            self._device = None
            raise escpos.exceptions.DeviceNotFoundError("fake printer is unplugged")
        self._device = True

    def close(self) -> None:
        """Disconnect."""
        self._device = False

    def _raw(self, msg: bytes) -> None:
        with self._state_lock:
            self._check_plugged()
            self._written.append(bytes(msg))
            data = self._pending + bytes(msg)
            used = 0
            try:
                for command, raw in iter_commands(data, final=False):
                    used += len(raw)
                    self._execute(command, raw)
            except EscposDecodeError:
                self._pending = b""
                raise
            self._pending = data[used:]

    def _read(self) -> bytes:
        with self._state_lock:
            self._check_plugged()
            reply = bytes(self._replies[:16])
            del self._replies[:16]
            return reply

    # -- records -----------------------------------------------------------------------------

    @property
    def output(self) -> bytes:
        """Every byte written, status queries included."""
        with self._state_lock:
            return b"".join(self._written)

    def forget_output(self) -> None:
        """Drop the recorded bytes, jobs and tickets (the printer's state stays)."""
        with self._state_lock:
            self._written.clear()
            self.jobs.clear()
            self.tickets.clear()

    # -- scripting ---------------------------------------------------------------------------

    def set_paper(self, remaining: int | None) -> None:
        """Load a roll with ``remaining`` tickets (None: endless); clears a paper-end stop."""
        with self._state_lock:
            self.remaining = remaining
            if remaining is None or remaining > 0:
                self.stopped_by_paper_end = False

    def run_out_mid_job(self) -> None:
        """The paper of the next job runs out after its first raster fragment."""
        with self._state_lock:
            self._run_out_mid_job = True

    def open_cover(self) -> None:
        """Open the paper cover (the printer goes offline)."""
        with self._state_lock:
            self.cover_is_open = True

    def close_cover(self) -> None:
        """Close the paper cover."""
        with self._state_lock:
            self.cover_is_open = False

    def jam_cutter(self) -> None:
        """The next cut fails: the ticket prints, stays uncut, and the printer reports an error."""
        with self._state_lock:
            self._jam_next_cut = True

    def clear(self) -> None:
        """Recover from errors (what staff do after freeing the cutter)."""
        with self._state_lock:
            self.cutter_error = False
            self._jam_next_cut = False

    def go_offline(self) -> None:
        """Offline for another reason (e.g. the feed button held, a printer setting)."""
        with self._state_lock:
            self.offline_switch = True

    def go_online(self) -> None:
        """Back online."""
        with self._state_lock:
            self.offline_switch = False

    def unplug(self) -> None:
        """Pull the cable: every write and read fails like a vanished USB device."""
        with self._state_lock:
            self.plugged = False
            self._pending = b""
            self._replies.clear()

    def plug(self) -> None:
        """Plug it back in."""
        with self._state_lock:
            self.plugged = True

    def script_reply(self, n: int, byte: int) -> None:
        """Answer the next DLE EOT ``n`` with ``byte`` instead of the state (e.g. line noise)."""
        with self._state_lock:
            self._scripted.setdefault(n, []).append(byte)

    # -- state -------------------------------------------------------------------------------

    @property
    def paper_out(self) -> bool:
        """The paper-end sensor sees no paper."""
        return self.remaining is not None and self.remaining <= 0

    @property
    def paper_near_end(self) -> bool:
        """The near-end sensor sees the roll's core."""
        return self.remaining is not None and self.remaining <= self.near_end_at

    @property
    def offline(self) -> bool:
        """Not printing (any cause)."""
        return self.offline_switch or self.cover_is_open or self.paper_out or self.cutter_error

    def status_byte(self, n: int) -> int:
        """What the printer answers to DLE EOT ``n`` now."""
        byte = 0x12  # the fixed bits of every reply
        if n == 1:
            byte |= 0x08 if self.offline else 0
        elif n == 2:
            byte |= 0x04 if self.cover_is_open else 0
            byte |= 0x20 if self.stopped_by_paper_end else 0
            byte |= 0x40 if self.cutter_error else 0
        elif n == 3:
            byte |= 0x08 if self.cutter_error else 0
        elif n == 4:
            byte |= 0x0C if self.paper_near_end else 0
            byte |= 0x60 if self.paper_out else 0
        else:
            raise ValueError(f"DLE EOT n must be 1-4, got {n}")
        return byte

    def _check_plugged(self) -> None:
        if not self.plugged:
            raise usb.core.USBError("No such device (it may have been disconnected)", errno=errno.ENODEV)

    def _execute(self, command: object, raw: bytes) -> None:
        if isinstance(command, StatusQuery):
            # Real-time: answered at once, never part of the job.
            if command.n in self.answers:
                scripted = self._scripted.get(command.n)
                self._replies.append(scripted.pop(0) if scripted else self.status_byte(command.n))
            return
        self._job += raw
        if isinstance(command, RasterFragment):
            self._print_rows(command)
        elif isinstance(command, Cut):
            self.jobs.append(bytes(self._job))
            self._job.clear()
            self._cut()
        elif not isinstance(command, (Init, Feed)):
            raise EscposDecodeError(f"fake printer cannot execute {command!r}")

    def _print_rows(self, fragment: RasterFragment) -> None:
        if self._interrupted:
            return
        if self.offline:
            if self.paper_out:
                self.stopped_by_paper_end = True
            self._interrupted = bool(self._fragments)
            return
        if self._run_out_mid_job and self._fragments:
            self._run_out_mid_job = False
            self.remaining = 0
            self.stopped_by_paper_end = True
            self._interrupted = True
            return
        self._fragments.append(fragment)

    def _cut(self) -> None:
        fragments, interrupted = self._fragments, self._interrupted
        self._fragments, self._interrupted = [], False
        if not fragments:
            return  # nothing was printed: no paper comes out
        if interrupted:
            self._deliver(FakeTicket(stack_fragments(fragments), cut=False, complete=False))
            return
        if self.remaining is not None:
            self.remaining -= 1
        if self._jam_next_cut:
            self._jam_next_cut = False
            self.cutter_error = True
            self._deliver(FakeTicket(stack_fragments(fragments), cut=False, complete=True))
            return
        self._deliver(FakeTicket(stack_fragments(fragments), cut=True, complete=True))

    def _deliver(self, ticket: FakeTicket) -> None:
        self.tickets.append(ticket)
        self.tickets_total += 1
        if self.png_dir is not None:
            self.png_dir.mkdir(parents=True, exist_ok=True)
            ticket.image.save(self.png_dir / f"{self.tickets_total}.png")


# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------


def open_printer(
    config: PrinterConfig | Mapping[str, Any],
    *,
    model: PrinterModel | None = None,
    fonts: FontSet | None = None,
    connect: bool = False,
    key: str = "printer",
) -> EscposTicketPrinter:
    """The ticket printer a device configuration's ``[printer]`` section describes.

    ``config`` is a :class:`~drivers.printer_model.PrinterConfig` or the parsed table (checked
    here): ``{"model": "TM-T20III", "backend": "usb"|"serial"|"network"|"file"|"fake", "facts":
    {...}, "usb": {"vendor": 0x04b8, "product": 0x0e15, "timeout_ms": 5000}, "serial": {"port":
    "/dev/ttyUSB0", "baudrate": 38400}, "network": {"host": ..., "port": 9100}, "file": {"path":
    ...}, "fake": {"paper": 100, "png_dir": ...}}``; only the chosen backend's table is used.

    The model's facts are ``model`` when given (the app read them from the catalog), else the
    section's ``facts`` (written by provisioning). Raises :class:`PrinterConfigError` naming the
    key (``key`` is the section's name in messages). Fonts are looked up now (unless given), so a
    missing font stops the start-up with the package to install. ``connect=True`` also opens the
    device and raises :class:`PrinterFault` when it is missing; by default a missing device is
    reported by ``status()`` and ``print_job()`` instead, so the dispenser starts and shows the
    fault.
    """
    if not isinstance(config, PrinterConfig):
        config = parse_printer_config(config, key)
    facts = model if model is not None else config.facts
    if facts is None:
        raise PrinterConfigError(
            f"{key}.facts",
            f"required: the {config.model}'s facts (width, dpi, status queries); madoguchi-provision apply "
            "writes them, or read them from the catalog (firmware_profiles.printers.printer_facts)",
        )
    transport = _TRANSPORTS[config.backend](config, key, facts)
    printer = EscposTicketPrinter(transport, facts, fonts if fonts is not None else find_fonts())
    if connect:
        try:
            printer._ensure_open()
        except TRANSPORT_ERRORS as err:
            printer._reset()
            message = f"{facts.name} over {config.backend}: cannot open: {_describe(err)}"
            raise PrinterFault(message, status=PrinterStatus(connected=False, detail=message)) from err
    return printer


def _usb(config: PrinterConfig, key: str, model: PrinterModel) -> Escpos:
    vendor, product = usb_id(config, model, key)
    usb = config.usb
    return UsbTransport(
        idVendor=vendor,
        idProduct=product,
        timeout=usb.timeout_ms,
        in_ep=usb.in_ep,
        out_ep=usb.out_ep,
        status_timeout_ms=usb.status_timeout_ms,
        profile=model.escpos_profile,
    )


def _serial(config: PrinterConfig, key: str, model: PrinterModel) -> Escpos:
    serial_ = config.serial
    # Opened as the driver declares its line (SERIAL_LINE), at the configured rate and flow control.
    line = SERIAL_LINE.pyserial(baudrate=serial_.baudrate, flow_control=serial_.flow_control)
    return SerialTransport(
        devfile=serial_.port,
        baudrate=line["baudrate"],
        bytesize=line["bytesize"],
        parity=line["parity"],
        stopbits=line["stopbits"],
        dsrdtr=line["dsrdtr"],
        xonxoff=line["xonxoff"],
        rtscts=line["rtscts"],
        status_timeout_ms=serial_.status_timeout_ms,
        write_timeout_s=float(serial_.write_timeout_s),
        profile=model.escpos_profile,
    )


def _network(config: PrinterConfig, key: str, model: PrinterModel) -> Escpos:
    network = config.network
    return NetworkTransport(
        host=network.host,
        port=network.port,
        timeout=network.timeout_s,
        status_timeout_ms=network.status_timeout_ms,
        profile=model.escpos_profile,
    )


def _file(config: PrinterConfig, key: str, model: PrinterModel) -> Escpos:
    return File(devfile=config.file.path, profile=model.escpos_profile)


def _fake(config: PrinterConfig, key: str, model: PrinterModel) -> Escpos:
    fake = config.fake
    return FakeEscpos(
        paper=fake.paper,
        near_end_at=fake.near_end_at,
        png_dir=fake.png_dir,
        profile=model.escpos_profile,
        keep=fake.keep,
    )


_TRANSPORTS: Mapping[str, Callable[[PrinterConfig, str, PrinterModel], Escpos]] = {
    "usb": _usb,
    "serial": _serial,
    "network": _network,
    "file": _file,
    "fake": _fake,
}
