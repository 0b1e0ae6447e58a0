"""LED "now serving" panel over a serial line: the numbers above the counters.

The wire protocol is in ``docs/led-panel-protocol.md``; in short, the host sends ASCII frames

    STX <addr> <seq> <COMMAND> [<arg>...] *<crc16> ETX     e.g. ␂1 17 SHOW 3 2003 C 1 *FBD1␃

(``SHOW``, ``CLEAR``, ``BRIGHT``, ``PING``) and the panel answers each with ``ACK`` or ``NAK``
carrying the same ``<seq>``. Every command is idempotent, so the host simply sends a frame again
when no ACK came.

Three parts, each testable alone:

* :func:`encode_frame`, :func:`decode_frame`, :class:`FrameParser`: pure. Frames to bytes and
  back; the parser resynchronises on the next STX after garbage, never raises and counts what
  it threw away.
* :class:`LedPanel`: owns the port (pyserial, so a ``/dev/tty…`` path, a udev symlink, a pty,
  ``loop://`` or ``socket://``) on one worker thread. Callers only change the *wanted* display
  (:meth:`LedPanel.show`, :meth:`LedPanel.clear`, :meth:`LedPanel.set_brightness`,
  :meth:`LedPanel.apply_counters`); the worker brings the panel there, retries, pings a quiet
  panel, and sends the whole display again whenever the panel may have lost it. A missing or
  broken panel is a state (:class:`PanelState`), never an exception.
* :class:`FakeLedPanel`: the panel's side behind a real pty, scriptable (drop or corrupt
  replies, NAK, hang, power-cycle, unplug), so tests open a real serial port.
"""

from __future__ import annotations

import binascii
import dataclasses
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from common.validation import Invalid, info
from drivers.serial_fake import PtyDevice
from drivers.serial_line import SerialLine
from drivers.serial_worker import SerialWorker

log = logging.getLogger(__name__)

STX = 0x02
ETX = 0x03
BAUDRATE = 9600
SEQ_MODULO = 256  # sequence numbers are 0..255 and wrap
MAX_ADDR = 99
MAX_ROWS = 99
MAX_DIGITS = 5
# The longest frame the protocol defines is 32 bytes ("␂99 255 SHOW 99 99999 C 1 *FFFF␃").
# Anything much longer without an ETX is noise, so the parser's memory stays bounded.
MAX_FRAME = 64

HOST_COMMANDS: frozenset[str] = frozenset({"SHOW", "CLEAR", "BRIGHT", "PING"})
REPLIES: frozenset[str] = frozenset({"ACK", "NAK"})

# ACK status: is the panel still blank since it powered up (it has had no CLEAR 0 since)?
STATUS_BLANK = "B"
STATUS_SYNCED = "S"
# NAK reasons: E = the frame arrived damaged or the panel could not take it now (send it
# again); R = well formed but refused (unknown command, row out of range): a retry cannot help.
NAK_ERROR = "E"
NAK_REFUSED = "R"

Kind = Literal["call", "ready"]
KIND_CODES: Mapping[str, str] = {"call": "C", "ready": "R"}
_KIND_FROM_CODE: Mapping[str, Kind] = {"C": "call", "R": "ready"}

REPLY_TIMEOUT_S = 0.25  # panel answers within 100 ms; USB-serial latency and slack on top
RETRIES = 3  # after the first attempt: 4 sends, about 1 s, before the panel counts as faulty
PING_INTERVAL_S = 2.0
REOPEN_INTERVAL_S = 1.0
WRITE_TIMEOUT_S = 1.0  # a write that blocks this long means a wedged line, not a slow one

LINE = SerialLine("the LED panel driver (drivers/led_panel.py)", (BAUDRATE,), serves=("led_panels",))
"""What the panel needs of its port: 9600 8N1, no flow control (docs/led-panel-protocol.md).
Provisioning checks LED panel profiles against it; :class:`LedPanel` opens its port with it."""
# The framing part of LINE (the baud rate is the worker's own argument).
_FRAMING = {key: value for key, value in LINE.pyserial().items() if key != "baudrate"}

CounterNumber = Annotated[int, info(ge=1, what="a counter number (1 or more)")]


class LedPanelConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``[led_panel]`` section of a device configuration: where the panel is plugged in (no
    ``port``: no panel) and the counters on its rows, top first. :func:`check_config` holds the
    rule across the two."""

    noun: ClassVar[str] = "table"

    port: (
        Annotated[str, info(min_length=1, what='the panel\'s serial port, e.g. "/dev/serial/by-id/usb-…-if00"')] | None
    ) = None
    counters: Annotated[
        tuple[CounterNumber, ...],
        info(what="the counter numbers shown, one per row, e.g. [1, 2, 3]"),
    ] = ()


def check_config(config: LedPanelConfig) -> LedPanelConfig:
    """A panel on a port shows 1 to MAX_ROWS distinct counters; :class:`~common.validation.Invalid`
    names ``counters`` and the fix otherwise."""
    if config.port is None:
        return config
    counters = config.counters
    if not counters or len(set(counters)) != len(counters) or len(counters) > MAX_ROWS:
        raise Invalid(
            ("counters",),
            f"expected the counter numbers shown, one per row, e.g. [1, 2, 3] (1 to {MAX_ROWS} distinct numbers); "
            f"got {list(counters)}",
        )
    return config


@dataclass(frozen=True)
class PanelRow:
    """Now calling at one counter, as the panel shows it: the counter (which picks the row), the
    number and whether it is a call or a result ready. ``at_ms`` (when it was called) tells a
    repeated call of the same number from the same call."""

    counter: int
    number: int | str
    kind: Kind
    at_ms: int | None = None


# --------------------------------------------------------------------------------------------
# wire format
# --------------------------------------------------------------------------------------------


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): ``crc16(b"123456789") == 0x29B1``."""
    return binascii.crc_hqx(data, 0xFFFF)


_COMMAND_RE = re.compile(rb"[A-Z]{1,8}")
_ARG_RE = re.compile(rb"[0-9A-Z]{1,8}")


def _canonical_int(field: bytes | str, lo: int, hi: int) -> int | None:
    # Canonical decimal only: "017" or "+17" is not 17 on this wire (one spelling per value,
    # so a frame has exactly one encoding and decode(encode(x)) == x holds both ways).
    raw = field.encode("ascii", "replace") if isinstance(field, str) else field
    if not (raw.isdigit() and len(raw) <= 3):
        return None
    value = int(raw)
    return value if lo <= value <= hi and raw == b"%d" % value else None


@dataclass(frozen=True)
class Frame:
    """One frame, either direction: ``addr`` 1–99, ``seq`` 0–255, a command and its arguments.

    Arguments are 1–8 characters of digits and capital letters; what a command expects is
    checked by :func:`check_command`, not here, so a panel can NAK a command it does not know.
    """

    addr: int
    seq: int
    command: str
    args: tuple[str, ...] = ()

    @classmethod
    def show(cls, addr: int, seq: int, row: int, number: str, kind: Kind, blink: bool = False) -> Frame:
        """``SHOW <row> <number> <C|R> <0|1>``: light ``number`` on ``row`` (blinking for a new call)."""
        if kind not in KIND_CODES:
            raise ValueError(f"kind must be 'call' or 'ready'; got {kind!r}")
        return cls(addr, seq, "SHOW", (str(row), number, KIND_CODES[kind], "1" if blink else "0"))

    @classmethod
    def clear(cls, addr: int, seq: int, row: int = 0) -> Frame:
        """``CLEAR <row>``: blank one row, or every row with 0."""
        return cls(addr, seq, "CLEAR", (str(row),))

    @classmethod
    def bright(cls, addr: int, seq: int, percent: int) -> Frame:
        """``BRIGHT <0..100>``: LED brightness in percent (night dimming; 0 = LEDs off, rows kept)."""
        return cls(addr, seq, "BRIGHT", (str(percent),))

    @classmethod
    def ping(cls, addr: int, seq: int) -> Frame:
        """``PING``: are you there? (and, through the ACK's status, are you still showing my rows?)"""
        return cls(addr, seq, "PING")

    @classmethod
    def ack(cls, addr: int, seq: int, blank: bool = False) -> Frame:
        """The panel's ``ACK <B|S>``; B while it is still blank since power-up."""
        return cls(addr, seq, "ACK", (STATUS_BLANK if blank else STATUS_SYNCED,))

    @classmethod
    def nak(cls, addr: int, seq: int, reason: str = NAK_ERROR) -> Frame:
        """The panel's ``NAK <E|R>``."""
        return cls(addr, seq, "NAK", (reason,))


def _body(frame: Frame) -> bytes:
    """The bytes the CRC covers: every field and the space before ``*``."""
    if _canonical_int(str(frame.addr), 1, MAX_ADDR) is None:
        raise ValueError(f"address {frame.addr} is outside 1..{MAX_ADDR}")
    if _canonical_int(str(frame.seq), 0, SEQ_MODULO - 1) is None:
        raise ValueError(f"sequence number {frame.seq} is outside 0..{SEQ_MODULO - 1}")
    if not _COMMAND_RE.fullmatch(frame.command.encode("ascii", "replace")):
        raise ValueError(f"command {frame.command!r} is not 1-8 capital letters")
    for arg in frame.args:
        if not _ARG_RE.fullmatch(arg.encode("ascii", "replace")):
            raise ValueError(f"argument {arg!r} is not 1-8 digits or capital letters")
    return " ".join((str(frame.addr), str(frame.seq), frame.command, *frame.args)).encode("ascii") + b" "


def encode_frame(frame: Frame) -> bytes:
    """The frame on the wire: ``encode_frame(Frame.ping(1, 0)) == b"\\x021 0 PING *2EF2\\x03"``.

    Raises ValueError for a frame the wire cannot carry (a field out of range, too long).
    """
    body = _body(frame)
    raw = bytes([STX]) + body + b"*%04X" % crc16(body) + bytes([ETX])
    if len(raw) > MAX_FRAME:
        raise ValueError(f"frame is {len(raw)} bytes; at most {MAX_FRAME}")
    return raw


def decode_frame(raw: bytes) -> Frame | None:
    """One complete frame (STX … ETX) back to a :class:`Frame`; None if anything is wrong."""
    if len(raw) > MAX_FRAME or len(raw) < 2 or raw[0] != STX or raw[-1] != ETX:
        return None
    return _decode_inner(raw[1:-1])


def _decode_inner(inner: bytes) -> Frame | None:
    body, star, digest = inner.rpartition(b"*")
    if not star or len(digest) != 4 or not body.endswith(b" "):
        return None
    try:
        if int(digest, 16) != crc16(body):
            return None
    except ValueError:
        return None
    return _fields(body)


def _fields(body: bytes) -> Frame | None:
    fields = body[:-1].split(b" ")
    if len(fields) < 3:
        return None
    addr = _canonical_int(fields[0], 1, MAX_ADDR)
    seq = _canonical_int(fields[1], 0, SEQ_MODULO - 1)
    if addr is None or seq is None or not _COMMAND_RE.fullmatch(fields[2]):
        return None
    if not all(_ARG_RE.fullmatch(a) for a in fields[3:]):
        return None
    return Frame(addr, seq, fields[2].decode("ascii"), tuple(a.decode("ascii") for a in fields[3:]))


def salvage_header(inner: bytes) -> tuple[int, int] | None:
    """Address and sequence number of a damaged frame's body, if those two fields still parse.

    A panel uses it to NAK a frame whose checksum failed (the host then retries at once instead
    of waiting for its timeout); if the damage hit these fields, the panel stays silent.
    """
    fields = inner.split(b" ", 2)
    if len(fields) < 3:
        return None
    addr = _canonical_int(fields[0], 1, MAX_ADDR)
    seq = _canonical_int(fields[1], 0, SEQ_MODULO - 1)
    return (addr, seq) if addr is not None and seq is not None else None


def check_command(frame: Frame, rows: int = MAX_ROWS) -> str | None:
    """What is wrong with ``frame``'s command and arguments for a panel of ``rows`` rows, or None."""
    cmd, args = frame.command, frame.args
    arity = {"SHOW": 4, "CLEAR": 1, "BRIGHT": 1, "PING": 0, "ACK": 1, "NAK": 1}
    if cmd not in arity:
        return f"unknown command {cmd}"
    if len(args) != arity[cmd]:
        return f"{cmd} takes {arity[cmd]} arguments, got {len(args)}"
    if cmd == "SHOW":
        row, number, kind, blink = args
        if _canonical_int(row, 1, rows) is None:
            return f"row {row} is outside 1..{rows}"
        if not (number.isdigit() and len(number) <= MAX_DIGITS):
            return f"number {number} is not 1-{MAX_DIGITS} digits"
        if kind not in _KIND_FROM_CODE:
            return f"kind {kind} is not C or R"
        if blink not in ("0", "1"):
            return f"blink {blink} is not 0 or 1"
    elif cmd == "CLEAR" and _canonical_int(args[0], 0, rows) is None:
        return f"row {args[0]} is outside 0..{rows}"
    elif cmd == "BRIGHT" and _canonical_int(args[0], 0, 100) is None:
        return f"brightness {args[0]} is outside 0..100"
    elif cmd == "ACK" and args[0] not in (STATUS_BLANK, STATUS_SYNCED):
        return f"ACK status {args[0]} is not B or S"
    elif cmd == "NAK" and args[0] not in (NAK_ERROR, NAK_REFUSED):
        return f"NAK reason {args[0]} is not E or R"
    return None


@dataclass
class ParserStats:
    """What the parser saw (a flaky cable shows up here first)."""

    frames: int = 0  # frames with a good checksum and syntax
    bad_frames: int = 0  # started with STX but damaged: checksum, syntax, cut short, too long
    noise_bytes: int = 0  # bytes outside any frame, and bytes of bad frames


class FrameParser:
    """Turns a byte stream into frames. Pure: no I/O, no clock, never raises, bounded memory.

    Resync rule: STX always starts a new frame, because STX and ETX never occur inside one (the
    body is printable ASCII). A frame cut short by a new STX, or running past :data:`MAX_FRAME`
    bytes without ETX, is dropped and counted; bytes between frames are skipped.

    ``on_bad`` receives the body of each damaged frame that ended with ETX (a panel uses it to
    NAK a frame with a bad checksum).
    """

    def __init__(self, on_bad: Callable[[bytes], None] | None = None) -> None:
        self.stats = ParserStats()
        self._on_bad = on_bad
        self._buf = bytearray()
        self._in_frame = False

    def reset(self) -> None:
        """Forget any partial frame (the port was reopened)."""
        self._buf.clear()
        self._in_frame = False

    def feed(self, data: bytes) -> list[Frame]:
        """Consume ``data``; return the frames it completed, in order."""
        frames: list[Frame] = []
        for b in data:
            if b == STX:
                if self._in_frame:
                    self._bad(len(self._buf) + 1)  # cut short: the sender started over
                self._buf.clear()
                self._in_frame = True
            elif not self._in_frame:
                self.stats.noise_bytes += 1
            elif b == ETX:
                self._in_frame = False
                inner = bytes(self._buf)
                self._buf.clear()
                frame = _decode_inner(inner)
                if frame is None:
                    self._bad(len(inner) + 2)
                    if self._on_bad is not None:
                        self._on_bad(inner)
                else:
                    self.stats.frames += 1
                    frames.append(frame)
            else:
                self._buf.append(b)
                if len(self._buf) > MAX_FRAME - 2:
                    # No ETX within a frame's length: noise. Skip to the next STX.
                    self._bad(len(self._buf) + 1)
                    self._buf.clear()
                    self._in_frame = False
        return frames

    def _bad(self, size: int) -> None:
        self.stats.bad_frames += 1
        self.stats.noise_bytes += size


# --------------------------------------------------------------------------------------------
# the host side: the wanted display, and a worker that brings the panel there
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """What one row displays: the ticket number (ASCII digits) and whether it is a call or ready."""

    number: str
    kind: Kind


class PanelState(Enum):
    """What the host knows about the panel."""

    NO_PORT = "no_port"  # the port does not exist or cannot be opened (unplugged)
    CONNECTING = "connecting"  # port open, the first full send has not been acknowledged yet
    CONNECTED = "connected"  # the panel acknowledges frames
    FAULTY = "faulty"  # port open, but a frame got no ACK through all retries (silent or NAKing)
    CLOSED = "closed"  # close() was called


@dataclass
class LedPanelStats:
    """Counters for the technician's status page."""

    frames_sent: int = 0  # retries included
    acks: int = 0
    naks: int = 0
    timeouts: int = 0  # sends that got no matching reply in time
    retries: int = 0
    refused: int = 0  # NAK R: a command the panel will never take (configuration mismatch)
    failures: int = 0  # commands given up after all retries: the panel went faulty
    restores: int = 0  # whole-display sends (first contact, recovery, power-cycled panel)
    stray_replies: int = 0  # replies for another sequence number or address (late, or another panel)
    echoes: int = 0  # host frames read back (a 2-wire RS-485 bus, loop://)
    frames_received: int = 0
    bad_frames: int = 0
    noise_bytes: int = 0


def _number_text(number: int | str) -> str:
    text = str(number)
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS):
        raise ValueError(f"ticket number {number!r} is not 1-{MAX_DIGITS} digits")
    return text


class LedPanel(SerialWorker):
    """A "now serving" panel on a serial port, one row per counter.

    ``counters`` lists the counters on the panel's rows, top first: ``counters=[1, 2, 4]`` puts
    counter 4 on row 3. The panel knows only rows; the counter labels are painted on it.

    The public methods only record what the panel should show and wake the worker thread, which
    alone touches the port: they never block on the line and never raise for a missing panel.
    Reconnection is by ``url``: after the port disappears the worker reopens the same path every
    ``reopen_interval`` seconds; configure the stable udev link ``/dev/serial/by-id/…``.

    ``on_state`` runs on the worker thread and must only hand the state over.
    """

    kind = "led panel"
    lost_port_reason = "port failed"

    def __init__(
        self,
        url: str,
        counters: Sequence[int],
        *,
        addr: int = 1,
        on_state: Callable[[PanelState], None] | None = None,
        reply_timeout: float = REPLY_TIMEOUT_S,
        retries: int = RETRIES,
        ping_interval: float = PING_INTERVAL_S,
        reopen_interval: float = REOPEN_INTERVAL_S,
        baudrate: int = LINE.baudrate,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= len(counters) <= MAX_ROWS or len(set(counters)) != len(counters):
            raise ValueError(f"counters: give 1 to {MAX_ROWS} distinct counter numbers, one per row; got {counters!r}")
        if not 1 <= addr <= MAX_ADDR:
            raise ValueError(f"addr: panel addresses are 1..{MAX_ADDR}; got {addr}")
        super().__init__(
            url, on_state=on_state, reopen_interval=reopen_interval, baudrate=baudrate, initial_state=PanelState.NO_PORT
        )
        self.addr = addr
        self.counters = tuple(counters)
        self._rows = {counter: i + 1 for i, counter in enumerate(self.counters)}
        self._reply_timeout = reply_timeout
        self._attempts = 1 + max(0, retries)
        self._ping_interval = ping_interval
        self._clock = clock
        self._stats = LedPanelStats()
        self._parser = FrameParser()

        # self._lock guards the wanted display and the link fields below.
        # The wanted display, per row, and what still has to reach the panel. A change bumps the
        # row's generation; the worker clears the dirty mark only if the generation it sent is
        # still current, so a change made while a frame was on the line is never lost.
        self._wanted: dict[int, Shown | None] = dict.fromkeys(range(1, len(self.counters) + 1))
        self._gen: dict[int, int] = dict.fromkeys(self._wanted, 0)
        self._dirty: dict[int, bool] = {}  # row -> blink on its next SHOW
        self._brightness: int | None = None  # None: leave the panel at its own default
        self._bright_gen = 0
        self._bright_dirty = False
        self._needs_restore = True  # a panel we have not spoken to may show anything
        self._applied: dict[int, tuple[str, Kind, object]] | None = None  # last apply_counters, by counter

        self._link = PanelState.NO_PORT
        self._seq = 0
        self._last_ack_at = 0.0
        self._last_probe_at = 0.0
        self._wake = threading.Event()

    # -- what to show ------------------------------------------------------------------------

    def row_of(self, counter: int) -> int:
        """The panel row of ``counter``; ValueError if the counter is not on this panel."""
        try:
            return self._rows[counter]
        except KeyError:
            raise ValueError(f"counter {counter} is not on this panel (counters: {self.counters})") from None

    def show(self, counter: int, number: int | str, kind: Kind = "call", *, blink: bool = True) -> None:
        """Show ``number`` at ``counter``'s row; ``blink`` marks a new call (the panel blinks a while).

        Calling it again with the same number and ``blink`` is a repeated call: it blinks again.
        """
        if kind not in KIND_CODES:
            raise ValueError(f"kind must be 'call' or 'ready'; got {kind!r}")
        row = self.row_of(counter)
        shown = Shown(_number_text(number), kind)
        with self._lock:
            self._set_row(row, shown, blink)
        self._wake.set()

    def clear(self, counter: int | None = None) -> None:
        """Blank ``counter``'s row, or every row with None."""
        rows = [self.row_of(counter)] if counter is not None else list(self._wanted)
        with self._lock:
            for row in rows:
                self._set_row(row, None, False)
        self._wake.set()

    def set_brightness(self, percent: int) -> None:
        """LED brightness 0–100 % (night dimming; 0 turns the LEDs off and keeps the rows)."""
        if not (isinstance(percent, int) and 0 <= percent <= 100):
            raise ValueError(f"brightness is a whole percentage 0..100; got {percent!r}")
        with self._lock:
            if percent != self._brightness:
                self._brightness = percent
                self._bright_gen += 1
                self._bright_dirty = True
        self._wake.set()

    def apply_counters(self, rows: Iterable[PanelRow]) -> list[int]:
        """Bring the panel to a board snapshot's now-calling rows (one per counter).

        Only rows whose call changed get a command: a new number or kind, or a new ``at_ms`` for
        the same number (the clerk called it again). Counters that left the list are cleared;
        counters not on this panel are ignored (an office may have several panels). Changed rows
        blink, except on the first snapshot: that is a retained replay of old calls, not news. A
        number the panel cannot show (more than MAX_DIGITS digits) is logged and skipped. Returns
        the counters that changed.
        """
        seen: dict[int, tuple[str, Kind, object]] = {}
        for entry in rows:
            if entry.counter not in self._rows:
                continue
            try:
                text = _number_text(entry.number)
            except ValueError as err:
                # A bad row costs that row, never the panel.
                log.warning("led panel: skipping %r: %s", entry, err)
                continue
            seen[entry.counter] = (text, entry.kind, entry.at_ms)
        changed: list[int] = []
        with self._lock:
            first = self._applied is None
            before = self._applied or {}
            for counter in self.counters:
                row = self._rows[counter]
                now, was = seen.get(counter), before.get(counter)
                if now is not None:
                    # A new at_ms alone is a repeated call: it blinks again (not on the first snapshot).
                    if self._set_row(row, Shown(now[0], now[1]), blink=not first and now != was):
                        changed.append(counter)
                elif self._set_row(row, None, False):
                    changed.append(counter)
            self._applied = seen
        if changed:
            self._wake.set()
        return changed

    def _set_row(self, row: int, shown: Shown | None, blink: bool) -> bool:
        """Record ``row``'s wanted content; False if that needs no frame. Caller holds self._lock."""
        if self._wanted[row] == shown and not (blink and shown is not None):
            return False  # unchanged, and not a repeated call
        self._wanted[row] = shown
        self._gen[row] += 1
        self._dirty[row] = blink and shown is not None
        return True

    # -- status ------------------------------------------------------------------------------

    @property
    def display(self) -> dict[int, Shown]:
        """What the panel should show now, by counter (rows left blank are absent)."""
        with self._lock:
            return {c: s for c in self.counters if (s := self._wanted[self._rows[c]]) is not None}

    @property
    def brightness(self) -> int | None:
        """The wanted brightness; None until :meth:`set_brightness` is called."""
        with self._lock:
            return self._brightness

    @property
    def synced(self) -> bool:
        """True when the panel has acknowledged everything :attr:`display` holds."""
        with self._lock:
            return (
                self._link is PanelState.CONNECTED
                and not self._needs_restore
                and not self._dirty
                and not self._bright_dirty
            )

    @property
    def state(self) -> PanelState:
        """The panel's state now."""
        with self._lock:
            return PanelState.CLOSED if self._closed else self._link

    @property
    def connected(self) -> bool:
        """True while the panel acknowledges frames."""
        return self.state is PanelState.CONNECTED

    @property
    def stats(self) -> LedPanelStats:
        """A copy of the counters."""
        with self._lock:
            parsed = self._parser.stats
            return dataclasses.replace(
                self._stats,
                frames_received=parsed.frames,
                bad_frames=parsed.bad_frames,
                noise_bytes=parsed.noise_bytes,
            )

    # -- the worker thread -------------------------------------------------------------------

    def _wake_worker(self) -> None:
        self._wake.set()

    def _port_options(self) -> dict[str, Any]:
        return {**_FRAMING, "timeout": min(0.05, self._reply_timeout), "write_timeout": WRITE_TIMEOUT_S}

    def _port_opened(self) -> None:
        self._link = PanelState.CONNECTING
        self._needs_restore = True  # whatever the panel shows, it is not known to be ours
        self._parser.reset()

    def _port_closed(self) -> None:
        if not self._closed:
            self._link = PanelState.NO_PORT

    def _step(self) -> None:
        """Send the most urgent pending frame, or wait until something is due."""
        self._wake.clear()  # before looking: a change made after this wakes the wait below
        now = self._clock()
        with self._lock:
            link = self._link
        if link is PanelState.FAULTY:
            # One PING per interval, no retries: a faulty panel is probed, not flooded.
            if now - self._last_probe_at >= self._ping_interval:
                self._last_probe_at = now
                self._probe()
            else:
                self._wake.wait(self._ping_interval - (now - self._last_probe_at))
            return
        job = self._next_job()
        if job is not None:
            self._run_job(*job)
        elif now - self._last_ack_at >= self._ping_interval:
            # Silence proves nothing about the panel: ask. The ACK's status also reveals a
            # panel that was power-cycled between two frames.
            self._run_job(Frame.ping(self.addr, self._next_seq()), None, 0)
        else:
            self._wake.wait(self._ping_interval - (now - self._last_ack_at))

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq = (seq + 1) % SEQ_MODULO
        return seq

    def _next_job(self) -> tuple[Frame, str | int | None, int] | None:
        """The next frame and what it settles: "restore", "bright", a row, or None for a PING."""
        with self._lock:
            if self._needs_restore:
                # Blank everything first: it also tells a freshly booted panel that the host has
                # taken over (its ACKs stop saying B), and wipes numbers a previous host left.
                return Frame.clear(self.addr, self._next_seq(), 0), "restore", 0
            if self._bright_dirty and self._brightness is not None:
                # Before any SHOW: a night-dimmed panel must not flash rows at full brightness.
                return Frame.bright(self.addr, self._next_seq(), self._brightness), "bright", self._bright_gen
            if self._dirty:
                row = min(self._dirty)
                shown, blink, gen = self._wanted[row], self._dirty[row], self._gen[row]
                if shown is None:
                    return Frame.clear(self.addr, self._next_seq(), row), row, gen
                return Frame.show(self.addr, self._next_seq(), row, shown.number, shown.kind, blink), row, gen
        return None

    def _run_job(self, frame: Frame, settles: str | int | None, gen: int) -> None:
        reply = self._transact(frame, self._attempts)
        if self._stop.is_set():
            return
        if reply is None:
            with self._lock:
                self._stats.failures += 1
                self._link = PanelState.FAULTY
                self._needs_restore = True  # it may come back power-cycled, or with stale rows
                self._last_probe_at = self._clock()
            self.last_error = f"no ACK for {frame.command} after {self._attempts} tries"
            log.warning("led panel %s: %s; the panel is faulty", self.url, self.last_error)
            return
        if reply.command == "NAK":  # refused: a retry cannot help, so drop the change
            self.last_error = f"panel refused {' '.join((frame.command, *frame.args))}"
            log.error("led panel %s: %s (is the panel configured with %d rows?)",
                      self.url, self.last_error, len(self.counters))  # fmt: skip
            with self._lock:
                self._stats.refused += 1
                self._settle(settles, gen)
            return
        with self._lock:
            self._settle(settles, gen)
            if settles == "restore":
                self._stats.restores += 1
                self._link = PanelState.CONNECTED
            elif reply.args == (STATUS_BLANK,):
                # The panel booted since it last heard from us: it is blank. Send everything.
                log.warning("led panel %s: the panel restarted; sending the whole display", self.url)
                self._needs_restore = True

    def _settle(self, settles: str | int | None, gen: int) -> None:
        # Caller holds self._lock.
        if settles == "restore":
            self._needs_restore = False
            for row, shown in self._wanted.items():
                if shown is not None:
                    self._dirty.setdefault(row, False)  # a call that never reached it still blinks
            self._bright_dirty = self._brightness is not None
        elif settles == "bright":
            if gen == self._bright_gen:
                self._bright_dirty = False
        elif isinstance(settles, int) and gen == self._gen[settles]:
            self._dirty.pop(settles, None)

    def _probe(self) -> None:
        reply = self._transact(Frame.ping(self.addr, self._next_seq()), 1)
        if reply is not None and reply.command == "ACK":
            log.info("led panel %s: the panel answers again", self.url)
            with self._lock:
                self._link = PanelState.CONNECTING  # the restore (needs_restore is set) follows

    def _transact(self, frame: Frame, attempts: int) -> Frame | None:
        """Send ``frame`` until it is ACKed or refused (NAK R); the reply, or None if all attempts fail.

        Retries reuse the sequence number: every command is idempotent, so a retry after a lost
        ACK does no harm, and a late ACK of an earlier attempt counts for the retry.
        """
        data = encode_frame(frame)
        for attempt in range(attempts):
            if self._stop.is_set():
                return None
            if attempt:
                self._stats.retries += 1
            self._port.write(data)
            self._stats.frames_sent += 1
            reply = self._await_reply(frame.seq)
            if reply is None:
                self._stats.timeouts += 1
                continue
            if reply.command == "ACK":
                self._stats.acks += 1
                self._last_ack_at = self._clock()
                return reply
            self._stats.naks += 1
            self._last_ack_at = self._clock()  # a NAK is an answer too: the panel is alive
            if reply.args == (NAK_REFUSED,):
                return reply
        return None

    def _await_reply(self, seq: int) -> Frame | None:
        deadline = self._clock() + self._reply_timeout
        while self._clock() < deadline and not self._stop.is_set():
            data = self._port.read(self._port.in_waiting or 1)  # returns after 50 ms at most
            if not data:
                continue
            with self._lock:
                frames = self._parser.feed(data)
            match: Frame | None = None
            for f in frames:
                if f.command not in REPLIES:
                    self._stats.echoes += 1
                elif f.addr == self.addr and f.seq == seq and match is None and check_command(f) is None:
                    match = f
                else:
                    self._stats.stray_replies += 1
            if match is not None:
                return match
        return None


# --------------------------------------------------------------------------------------------
# the fake device
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LitRow:
    """What a fake panel's row displays, as the panel's firmware knows it."""

    number: str
    kind: Kind
    blink: bool


class FakeLedPanel(PtyDevice):
    """An LED panel's device side on the master end of a real pty.

    The driver under test opens :attr:`path` (the pty's slave, or ``link``, a symlink to it
    standing in for ``/dev/serial/by-id/…``). The fake answers on its own thread like firmware:
    it executes each intact frame addressed to it and ACKs it, NAKs what it refuses, and keeps
    :attr:`rows` (row → the digits it displays). Scripting: :meth:`drop_replies`,
    :meth:`corrupt_replies`, :meth:`nak_next`, :meth:`hang`/:meth:`resume`, :meth:`power_cycle`,
    :meth:`send_raw`, :meth:`unplug`. A new ``FakeLedPanel`` with the same ``link`` is the panel
    plugged back in.
    """

    name = "fake LED panel"

    def __init__(self, rows: int = 4, *, addr: int = 1, link: str | os.PathLike[str] | None = None) -> None:
        super().__init__(link=link)
        self.row_count = rows
        self.addr = addr
        self._lock = threading.Lock()
        self._lit: dict[int, LitRow] = {}
        self.brightness = 100
        self.blank_since_boot = True
        self.frames: list[Frame] = []  # every intact frame addressed to this panel, in order
        self.bad_received = 0  # damaged frames (bad checksum and the like)
        self._drop = 0
        self._corrupt = 0
        self._nak = 0
        self._hung = False
        self._parser = FrameParser(on_bad=self._on_bad)
        self.plug()

    @property
    def rows(self) -> dict[int, str]:
        """Row → the digits it displays; blank rows are absent."""
        with self._lock:
            return {row: lit.number for row, lit in sorted(self._lit.items())}

    @property
    def lit(self) -> dict[int, LitRow]:
        """Row → number, kind and blink, for tests that care about more than the digits."""
        with self._lock:
            return dict(sorted(self._lit.items()))

    def commands(self, *names: str) -> list[Frame]:
        """The frames received so far, only the given commands (all but PING if none given)."""
        with self._lock:
            return [f for f in self.frames if (f.command in names if names else f.command != "PING")]

    # -- scripting ---------------------------------------------------------------------------

    def drop_replies(self, count: int = 1) -> None:
        """Execute the next ``count`` frames but lose their replies on the way back."""
        with self._lock:
            self._drop += count

    def corrupt_replies(self, count: int = 1) -> None:
        """Execute the next ``count`` frames and answer with a wrong CRC."""
        with self._lock:
            self._corrupt += count

    def nak_next(self, count: int = 1) -> None:
        """Answer the next ``count`` frames with NAK E without executing them."""
        with self._lock:
            self._nak += count

    def hang(self) -> None:
        """Firmware hung: read and ignore everything, answer nothing. The rows stay lit."""
        with self._lock:
            self._hung = True

    def resume(self) -> None:
        """End :meth:`hang`."""
        with self._lock:
            self._hung = False

    def power_cycle(self) -> None:
        """Switch off and on: every row blank, default brightness, ACKs say B until CLEAR 0."""
        with self._lock:
            self._lit.clear()
            self.brightness = 100
            self.blank_since_boot = True
            self._hung = False
            self._parser.reset()

    def send_raw(self, data: bytes) -> None:
        """Send arbitrary bytes to the host (noise, a hand-made frame)."""
        with self._lock:
            self.write(data)

    # -- the firmware ------------------------------------------------------------------------

    def received(self, data: bytes) -> None:
        """Frames from the host: execute and answer each, as the firmware does."""
        with self._lock:
            for frame in self._parser.feed(data):
                self._handle(frame)

    def _on_bad(self, inner: bytes) -> None:
        # Runs inside feed(), under self._lock. A damaged frame is NAKed only when its address
        # (ours) and sequence number still parse; otherwise silence, and the host times out.
        self.bad_received += 1
        header = salvage_header(inner)
        if not self._hung and header is not None and header[0] == self.addr:
            self._reply(Frame.nak(self.addr, header[1], NAK_ERROR))

    def _handle(self, frame: Frame) -> None:
        # Caller holds self._lock.
        if self._hung or frame.addr != self.addr or frame.command in REPLIES:
            return  # another panel's frame, or a reply (ours echoed on a shared bus)
        self.frames.append(frame)
        if self._nak:
            self._nak -= 1
            self._reply(Frame.nak(self.addr, frame.seq, NAK_ERROR))
            return
        if check_command(frame, self.row_count) is not None:
            self._reply(Frame.nak(self.addr, frame.seq, NAK_REFUSED))
            return
        self._execute(frame)
        if self._drop:
            self._drop -= 1
            return
        self._reply(Frame.ack(self.addr, frame.seq, blank=self.blank_since_boot))

    def _execute(self, frame: Frame) -> None:
        args = frame.args
        if frame.command == "SHOW":
            self._lit[int(args[0])] = LitRow(args[1], _KIND_FROM_CODE[args[2]], args[3] == "1")
        elif frame.command == "CLEAR":
            row = int(args[0])
            if row == 0:
                self._lit.clear()
                self.blank_since_boot = False  # the host has taken over
            else:
                self._lit.pop(row, None)
        elif frame.command == "BRIGHT":
            self.brightness = int(args[0])

    def _reply(self, frame: Frame) -> None:
        raw = encode_frame(frame)
        if self._corrupt:
            self._corrupt -= 1
            raw = raw[:-2] + (b"0" if raw[-2:-1] != b"0" else b"1") + raw[-1:]  # last CRC digit wrong
        self.write(raw)
