"""Tactile keypad over a serial line, for residents who cannot use the touch screen.

The wire protocol is in ``docs/keypad-protocol.md``; in short, the keypad sends ASCII lines

    K <KEY> <seq> *<xor>\\r\\n      a key press        (K OK 17 *69)
    H <seq> *<xor>\\r\\n            a heartbeat, every second

and the host may answer each key line with ``A <seq> *<xor>\\r\\n``.

Three parts, each testable alone:

* :class:`KeypadParser`: pure. Bytes in, :class:`KeyEvent` out; drops lines with a bad
  checksum, resynchronises on the next newline after garbage, suppresses a line the link
  delivered twice (same sequence number), and counts all of it.
* :class:`SerialKeypad`: owns the port (pyserial, so a ``/dev/tty…`` path, a udev symlink, a
  pty, ``loop://`` or ``socket://``), reads on its own thread, hands each key to ``on_key``,
  knows whether the keypad is alive (heartbeats) and reopens the port after the keypad was
  unplugged. A missing keypad is a state (:attr:`KeypadState.NO_PORT`), never an exception.
* :class:`FakeKeypad`: the device side behind a real pty, so tests open a real serial port.

Privacy: the kiosk takes a 4-digit PIN from this keypad, so digit keys are never logged.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, ClassVar

import msgspec

from common.validation import info
from drivers.serial_fake import PtyDevice
from drivers.serial_line import SerialLine
from drivers.serial_worker import SerialWorker

log = logging.getLogger(__name__)

NAV_KEYS: frozenset[str] = frozenset({"UP", "DOWN", "LEFT", "RIGHT", "OK", "BACK", "HELP"})
DIGIT_KEYS: frozenset[str] = frozenset("0123456789")
KEYS: frozenset[str] = NAV_KEYS | DIGIT_KEYS

SEQ_MODULO = 256  # sequence numbers are 0..255 and wrap
# The longest valid line is 17 bytes ("K RIGHT 255 *xx\r\n"); anything much longer is noise.
MAX_LINE = 32
BAUDRATE = 9600
HEARTBEAT_INTERVAL_S = 1.0
HEARTBEAT_TIMEOUT_S = 3.5  # three heartbeats missed, plus slack

LINE = SerialLine("the keypad driver (drivers/keypad.py)", (BAUDRATE,), serves=("keypads",))
"""What the keypad needs of its port: 9600 8N1, no flow control (docs/keypad-protocol.md).
Provisioning checks keypad profiles against it; :class:`SerialKeypad` opens its port with it."""
# The framing part of LINE (the baud rate is the worker's own argument).
_FRAMING = {key: value for key, value in LINE.pyserial().items() if key != "baudrate"}


class KeypadConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``[keypad]`` section of a device configuration: where the keypad is plugged in
    (no ``port``: no keypad)."""

    noun: ClassVar[str] = "table"

    port: (
        Annotated[str, info(min_length=1, what='the keypad\'s serial port, e.g. "/dev/serial/by-id/usb-…-if00"')] | None
    ) = None


# --------------------------------------------------------------------------------------------
# wire format
# --------------------------------------------------------------------------------------------


def checksum(body: bytes) -> int:
    """XOR of ``body`` (every byte of the line before ``*``), as in NMEA 0183."""
    value = 0
    for b in body:
        value ^= b
    return value


def _line(body: str) -> bytes:
    raw = body.encode("ascii") + b" "
    return raw + b"*%02X\r\n" % checksum(raw)


def _check_seq(seq: int) -> None:
    if not 0 <= seq < SEQ_MODULO:
        raise ValueError(f"sequence number {seq} is outside 0..{SEQ_MODULO - 1}")


def encode_key(key: str, seq: int) -> bytes:
    """The line for a key press: ``encode_key("OK", 17) == b"K OK 17 *69\\r\\n"``."""
    if key not in KEYS:
        raise ValueError(f"unknown key {key!r}; keys are {', '.join(sorted(KEYS))}")
    _check_seq(seq)
    return _line(f"K {key} {seq}")


def encode_heartbeat(seq: int) -> bytes:
    """The heartbeat line."""
    _check_seq(seq)
    return _line(f"H {seq}")


def encode_ack(seq: int) -> bytes:
    """The host's acknowledgement of key line ``seq``."""
    _check_seq(seq)
    return _line(f"A {seq}")


@dataclass(frozen=True)
class KeyEvent:
    """One key press: ``key`` is one of :data:`KEYS`, ``seq`` its sequence number."""

    key: str
    seq: int


@dataclass
class KeypadStats:
    """Counters for the technician's status page (a flaky cable shows up here first)."""

    lines: int = 0  # valid lines, duplicates included
    keys: int = 0  # key presses delivered
    heartbeats: int = 0
    bad_lines: int = 0  # bad checksum, unknown line or key, garbage up to a newline
    duplicates: int = 0  # valid lines repeating the previous sequence number
    missed: int = 0  # lines the sequence numbers say were lost on the way
    bytes_discarded: int = 0


def _parse_seq(field: bytes) -> int | None:
    # Canonical decimal only (bytes.isdigit is ASCII-only): "017" or "+17" is not 17 on this wire.
    if not (field.isdigit() and len(field) <= 3):
        return None
    seq = int(field)
    return seq if seq < SEQ_MODULO and field == b"%d" % seq else None


class KeypadParser:
    """Turns the keypad's byte stream into key events. Pure: no I/O, no clock, never raises.

    Duplicates: the keypad numbers every line it sends (keys and heartbeats share one
    counter) and repeats a line only by sending it again unchanged, immediately. So a line
    with the same number as the previous valid line is a repeat; the first is kept.
    """

    def __init__(self) -> None:
        self.stats = KeypadStats()
        self._buf = bytearray()
        self._discarding = False
        self._last_seq: int | None = None
        self._acks: list[int] = []

    def reset_session(self) -> None:
        """Forget the last sequence number and any partial line (the port was reopened)."""
        self._buf.clear()
        self._discarding = False
        self._last_seq = None
        self._acks.clear()

    def take_acks(self) -> list[int]:
        """Sequence numbers of key lines to acknowledge since the last call (repeats too)."""
        acks, self._acks = self._acks, []
        return acks

    def feed(self, data: bytes) -> list[KeyEvent]:
        """Consume ``data``; return the key presses completed by it, in order."""
        events: list[KeyEvent] = []
        self._buf += data
        while True:
            end = self._buf.find(b"\n")
            if end < 0:
                if len(self._buf) > MAX_LINE:
                    # No newline within a line's length: noise. Drop it now (memory stays
                    # bounded) and everything up to the next newline, then start afresh.
                    self.stats.bytes_discarded += len(self._buf)
                    self._buf.clear()
                    self._discarding = True
                return events
            line = bytes(self._buf[:end])
            del self._buf[: end + 1]
            if self._discarding:
                self._discarding = False
                self.stats.bytes_discarded += len(line) + 1
                self.stats.bad_lines += 1
                continue
            self._line(line, events)

    def _line(self, line: bytes, events: list[KeyEvent]) -> None:
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            return  # a blank line (some keypads send one at power-up) is neither data nor noise
        parsed = self._parse(line)
        if parsed is None:
            self.stats.bad_lines += 1
            self.stats.bytes_discarded += len(line) + 1
            return
        kind, key, seq = parsed
        self.stats.lines += 1
        if seq == self._last_seq:
            self.stats.duplicates += 1
            if kind == b"K":
                self._acks.append(seq)  # the keypad repeats because it missed our ack
            return
        if self._last_seq is not None:
            self.stats.missed += (seq - self._last_seq - 1) % SEQ_MODULO
        self._last_seq = seq
        if kind == b"H":
            self.stats.heartbeats += 1
            return
        self.stats.keys += 1
        self._acks.append(seq)
        events.append(KeyEvent(key, seq))

    @staticmethod
    def _parse(line: bytes) -> tuple[bytes, str, int] | None:
        body, star, digest = line.rpartition(b"*")
        if not star or len(digest) != 2 or not body.endswith(b" "):
            return None
        try:
            if int(digest, 16) != checksum(body):
                return None
        except ValueError:
            return None
        fields = body[:-1].split(b" ")
        if fields[0] == b"K" and len(fields) == 3:
            key = fields[1].decode("ascii", errors="replace")
            seq = _parse_seq(fields[2])
            return (b"K", key, seq) if key in KEYS and seq is not None else None
        if fields[0] == b"H" and len(fields) == 2:
            seq = _parse_seq(fields[1])
            return (b"H", "", seq) if seq is not None else None
        return None


# --------------------------------------------------------------------------------------------
# the host side: a serial port with a reader thread
# --------------------------------------------------------------------------------------------


class KeypadState(Enum):
    """What the host knows about the keypad."""

    NO_PORT = "no_port"  # the port does not exist or cannot be opened (unplugged)
    SILENT = "silent"  # the port is open but no valid line arrived within the timeout
    CONNECTED = "connected"  # a valid line (a heartbeat at least) arrived recently
    CLOSED = "closed"  # close() was called


class SerialKeypad(SerialWorker):
    """A keypad on a serial port: reads on its own thread, reopens after an unplug.

    ``on_key`` and ``on_state`` run on the reader thread. They must only hand the event
    over (a queue, ``Clock.schedule_once`` in Kivy) and return: UI code must marshal to its
    own thread, and a slow callback delays every key after it. An exception in a callback is
    logged and the reader carries on.

    Reconnection is by ``url``: after the port disappears the driver reopens the same path
    every ``reopen_interval`` seconds. Configure a stable path (the udev symlink
    ``/dev/serial/by-id/…``), because a replugged USB keypad may come back as another ttyUSB.
    """

    kind = "keypad"
    lost_port_reason = "read failed"

    def __init__(
        self,
        url: str,
        on_key: Callable[[KeyEvent], None],
        *,
        on_state: Callable[[KeypadState], None] | None = None,
        heartbeat_timeout: float = HEARTBEAT_TIMEOUT_S,
        reopen_interval: float = 1.0,
        send_acks: bool = True,
        baudrate: int = LINE.baudrate,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            url,
            on_state=on_state,
            reopen_interval=reopen_interval,
            baudrate=baudrate,
            initial_state=KeypadState.NO_PORT,
        )
        self._on_key = on_key
        self._timeout = heartbeat_timeout
        self._send_acks = send_acks
        self._clock = clock
        self._parser = KeypadParser()
        self._last_seen: float | None = None  # guarded by self._lock, read from other threads

    # -- public ------------------------------------------------------------------------------

    @property
    def state(self) -> KeypadState:
        """The keypad's state now."""
        with self._lock:
            if self._closed:
                return KeypadState.CLOSED
            if self._port is None:
                return KeypadState.NO_PORT
            if self._last_seen is not None and self._clock() - self._last_seen <= self._timeout:
                return KeypadState.CONNECTED
            return KeypadState.SILENT

    @property
    def connected(self) -> bool:
        """True while the keypad's lines keep arriving (heartbeat seen within the timeout)."""
        return self.state is KeypadState.CONNECTED

    @property
    def stats(self) -> KeypadStats:
        """A copy of the parser's counters."""
        with self._lock:
            return dataclasses.replace(self._parser.stats)

    # -- the reader thread -------------------------------------------------------------------

    def _port_options(self) -> dict[str, Any]:
        # A read returns after 0.1 s at most, so close() is prompt.
        return {**_FRAMING, "timeout": 0.1}

    def _port_opened(self) -> None:
        self._last_seen = None
        self._parser.reset_session()  # a replugged keypad counts from 0 again

    def _port_closed(self) -> None:
        self._last_seen = None

    def _step(self) -> None:
        data = self._port.read(self._port.in_waiting or 1)
        if data:
            self._handle(data)

    def _handle(self, data: bytes) -> None:
        with self._lock:
            lines_before = self._parser.stats.lines
            events = self._parser.feed(data)
            acks = self._parser.take_acks()
            if self._parser.stats.lines != lines_before:
                self._last_seen = self._clock()
        if self._send_acks and acks:
            self._port.write(b"".join(encode_ack(seq) for seq in acks))
        for event in events:
            # Digits may be a PIN: log that a key came, never which digit.
            log.debug("keypad %s: key %s", self.url, event.key if event.key in NAV_KEYS else "<digit>")
            try:
                self._on_key(event)
            except Exception:
                log.exception("keypad %s: on_key callback failed", self.url)


# --------------------------------------------------------------------------------------------
# the fake device
# --------------------------------------------------------------------------------------------


class FakeKeypad(PtyDevice):
    """A keypad's device side on the master end of a real pty.

    The driver under test opens :attr:`path` (the pty's slave, or ``link``, a symlink to it
    standing in for ``/dev/serial/by-id/…``) as an ordinary serial port. ``unplug`` closes the
    pty, as pulling the USB cable removes the tty; a new ``FakeKeypad`` with the same ``link``
    is the keypad plugged back in.
    """

    name = "fake keypad"
    # The host's acks kept for acks(); a keypad's receive buffer is small, and nothing but acks
    # (3-7 bytes each) should come in, so anything beyond this is noise worth losing.
    MAX_HEARD = 4096

    def __init__(self, *, link: str | os.PathLike[str] | None = None, heartbeat_interval: float | None = None) -> None:
        super().__init__(link=link)
        self._seq = 0
        self._last_line = b""
        self._lock = threading.Lock()
        self._heard = threading.Condition()
        self._ack_buf = bytearray()
        self._hb_stop = threading.Event()
        self._hb_thread: threading.Thread | None = None
        self.plug()
        if heartbeat_interval is not None:
            self.start_heartbeats(heartbeat_interval)

    def received(self, data: bytes) -> None:
        """Keep what the host sent (acks) until :meth:`acks` reads it."""
        with self._heard:
            self._ack_buf += data
            del self._ack_buf[: -self.MAX_HEARD]
            self._heard.notify_all()

    def _send_numbered(self, make: Callable[[int], bytes]) -> int:
        with self._lock:
            seq = self._seq
            line = make(seq)
            self._seq = (seq + 1) % SEQ_MODULO
            self._last_line = line
            self.write(line)
            return seq

    def press(self, key: str) -> int:
        """Send a key press; returns its sequence number."""
        return self._send_numbered(lambda seq: encode_key(key, seq))

    def heartbeat(self) -> int:
        """Send a heartbeat; returns its sequence number."""
        return self._send_numbered(encode_heartbeat)

    def repeat_last(self) -> None:
        """Send the previous line again, as a keypad does when it got no ack."""
        with self._lock:
            self.write(self._last_line)

    def send_raw(self, data: bytes) -> None:
        """Send arbitrary bytes (noise, a corrupted or hand-made line)."""
        with self._lock:
            self.write(data)

    def skip(self, count: int = 1) -> None:
        """Use up sequence numbers without sending, as if those lines were lost."""
        with self._lock:
            self._seq = (self._seq + count) % SEQ_MODULO

    def acks(self, timeout: float = 0.5) -> list[int]:
        """Sequence numbers the host acknowledged: waits up to ``timeout`` for the first ack,
        then collects until the line has been quiet for 50 ms."""
        deadline = time.monotonic() + timeout
        out: list[int] = []
        with self._heard:
            while True:
                *lines, rest = bytes(self._ack_buf).split(b"\n")
                self._ack_buf = bytearray(rest)
                for line in lines:
                    body, _, digest = line.rstrip(b"\r").rpartition(b"*")
                    fields = body.split()
                    if len(fields) == 2 and fields[0] == b"A" and digest == b"%02X" % checksum(body):
                        out.append(int(fields[1]))
                wait = 0.05 if out else deadline - time.monotonic()
                if wait <= 0 or not self.plugged or not self._heard.wait(wait):
                    return out

    def start_heartbeats(self, interval: float = HEARTBEAT_INTERVAL_S) -> None:
        """Send a heartbeat now and every ``interval`` seconds, like the firmware."""
        self.stop_heartbeats()
        self._hb_stop = threading.Event()

        def beat() -> None:
            while self.plugged:
                try:
                    self.heartbeat()
                except (RuntimeError, OSError):
                    return
                if self._hb_stop.wait(interval):
                    return

        self._hb_thread = threading.Thread(target=beat, name="fake keypad heartbeat", daemon=True)
        self._hb_thread.start()

    def stop_heartbeats(self) -> None:
        """Stop the heartbeat thread (a keypad whose firmware hung)."""
        self._hb_stop.set()
        if self._hb_thread is not None and self._hb_thread is not threading.current_thread():
            self._hb_thread.join(timeout=2.0)
        self._hb_thread = None

    def unplug(self) -> None:
        """Pull the cable: the heartbeats stop, the pty and its path disappear."""
        self.stop_heartbeats()
        super().unplug()
