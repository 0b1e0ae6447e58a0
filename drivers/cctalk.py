"""ccTalk: the serial protocol of the kiosk's coin acceptor, bill validator and coin hoppers.

ccTalk (public-domain specification by Money Controls / Crane, Parts 1-4) runs over one wire
shared by every device, 9600 baud 8N1. Each message is a frame

    [destination][data length][source][header][data ...][checksum]

where the 8-bit checksum makes the sum of all bytes of the frame ≡ 0 (mod 256). The host
(address 1) sends a request to one device; the device answers with header 0 (ACK, maybe with
data) or header 5 (NAK). The bus is a single wire, so the host also reads back every byte it
sent (the echo) before the reply. The headers used here, the addresses and the simulator are
described in ``docs/cctalk.md``.

Layers, each testable alone:

* :class:`Frame`, :func:`checksum`, :class:`FrameParser`: pure codec (no I/O). The parser takes
  bytes in any chunks, gives frames out, and resynchronises after garbage.
* :func:`events_since`: pure bookkeeping of a device's event counter (wrap 255 → 1, 0 = reset,
  more than 5 new events = some lost).
* :class:`CcTalkBus`: one serial port (pyserial: a ``/dev/…`` path, a pty, ``loop://``) with
  echo check, reply timeout, checksum and address checks and bounded retries.
* :class:`CoinAcceptor`, :class:`BillValidator`, :class:`Hopper`: the commands of each device.

Errors all derive from :class:`CcTalkError`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, Protocol

from drivers.serial_line import SerialLine

log = logging.getLogger(__name__)

BAUDRATE = 9600
# ccTalk is 9600 8N1 on every device class (HARDWARE.md): a single-wire bus, no handshake.
LINE = SerialLine("the ccTalk driver (drivers/cctalk.py)", (BAUDRATE,), serves=("cctalk",))
"""What a ccTalk bus needs of its port. Provisioning checks cash profiles against it;
:meth:`CcTalkBus.open` opens the port with it."""
HOST_ADDRESS = 1
BROADCAST_ADDRESS = 0
MAX_DATA = 255  # the length byte limits a frame's data
FRAME_OVERHEAD = 5  # destination, length, source, header, checksum
EVENT_SLOTS = 5  # buffered credit and bill events: five [A, B] pairs, newest first
HOPPER_ENABLE_CODE = 165  # header 164 enables the hopper with this byte, anything else disables
MAX_DISPENSE = 255  # coins in one dispense command


class Header(IntEnum):
    """The ccTalk headers this driver and the simulator use (numbers from the public spec)."""

    ACK = 0  # a reply
    RESET_DEVICE = 1
    NAK = 5  # a reply: the device refuses (unknown header, bad data)
    BUSY = 6  # a reply: the device cannot answer now
    MODIFY_BILL_OPERATING_MODE = 153
    ROUTE_BILL = 154
    REQUEST_COUNTRY_SCALING_FACTOR = 156
    REQUEST_BILL_ID = 157
    READ_BUFFERED_BILL_EVENTS = 159
    TEST_HOPPER = 163
    ENABLE_HOPPER = 164
    REQUEST_HOPPER_STATUS = 166
    DISPENSE_HOPPER_COINS = 167
    EMERGENCY_STOP = 172
    REQUEST_COIN_ID = 184
    REQUEST_PAYOUT_HIGH_LOW_STATUS = 217
    REQUEST_MASTER_INHIBIT_STATUS = 227
    MODIFY_MASTER_INHIBIT_STATUS = 228
    READ_BUFFERED_CREDIT = 229
    REQUEST_INHIBIT_STATUS = 230
    MODIFY_INHIBIT_STATUS = 231
    REQUEST_SERIAL_NUMBER = 242
    REQUEST_PRODUCT_CODE = 244
    REQUEST_EQUIPMENT_CATEGORY_ID = 245
    REQUEST_MANUFACTURER_ID = 246
    SIMPLE_POLL = 254


def header_name(header: int) -> str:
    """``"229 READ_BUFFERED_CREDIT"`` for log lines and error messages."""
    try:
        return f"{header} {Header(header).name}"
    except ValueError:
        return str(header)


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------


class CcTalkError(Exception):
    """Root of every ccTalk error; ``address`` and ``header`` say which request failed, if known."""

    def __init__(self, message: str, *, address: int | None = None, header: int | None = None) -> None:
        super().__init__(message)
        self.address = address
        self.header = header


class NoReply(CcTalkError):
    """The device did not answer within the reply timeout (after every retry)."""


class Nak(CcTalkError):
    """The device answered NAK: it does not support the header, or refused its data."""


class DeviceBusy(CcTalkError):
    """The device answered BUSY on every attempt."""


class BadFrame(CcTalkError):
    """A reply that is not a valid frame for this request (checksum, length or addresses)."""


class BusError(CcTalkError):
    """The bus itself failed: no echo or a wrong echo (collision, wiring), or the port failed."""


class UnexpectedReply(CcTalkError):
    """A valid frame whose data does not fit the request (wrong length or value)."""


class RouteError(CcTalkError):
    """Route bill (154) answered an error code: 254 escrow empty, 255 the bill could not be routed."""

    def __init__(self, message: str, *, code: int, address: int | None = None) -> None:
        super().__init__(message, address=address, header=Header.ROUTE_BILL)
        self.code = code


# --------------------------------------------------------------------------------------------
# frames
# --------------------------------------------------------------------------------------------


def checksum(body: bytes) -> int:
    """The byte that makes ``sum(body + checksum) % 256 == 0``.

    Written as ``(-sum) & 0xFF``: the tempting ``256 - sum % 256`` gives 256, not 0, when the
    body already sums to a multiple of 256.
    """
    return (-sum(body)) & 0xFF


@dataclass(frozen=True)
class Frame:
    """One ccTalk message. ``header`` is the command in a request, 0 (ACK) or 5 (NAK) in a reply."""

    dest: int
    source: int
    header: int
    data: bytes = b""

    def __post_init__(self) -> None:
        for name in ("dest", "source", "header"):
            value = getattr(self, name)
            if not 0 <= value <= 255:
                raise ValueError(f"ccTalk frame {name} {value} is outside 0..255")
        if len(self.data) > MAX_DATA:
            raise ValueError(f"ccTalk frame data is {len(self.data)} bytes; at most {MAX_DATA} fit")

    def encode(self) -> bytes:
        """The bytes on the wire: ``Frame(2, 1, 254).encode() == bytes([2, 0, 1, 254, 255])``."""
        body = bytes([self.dest, len(self.data), self.source, self.header]) + self.data
        return body + bytes([checksum(body)])

    @classmethod
    def decode(cls, raw: bytes) -> Frame:
        """Parse exactly one frame; :class:`BadFrame` if the length or checksum is wrong."""
        if len(raw) < FRAME_OVERHEAD or len(raw) != raw[1] + FRAME_OVERHEAD:
            raise BadFrame(f"not a ccTalk frame: {raw.hex(' ')}")
        if sum(raw) & 0xFF:
            raise BadFrame(f"ccTalk frame with a bad checksum: {raw.hex(' ')}")
        return cls(raw[0], raw[2], raw[3], bytes(raw[4:-1]))

    def __len__(self) -> int:
        return len(self.data) + FRAME_OVERHEAD


class FrameParser:
    """Bytes in (any chunks), frames out. Pure: no I/O, no clock, never raises on input.

    At the start of the buffer a frame is tried by its length byte; if the checksum fails, the
    first byte is dropped and the next position tried, so the parser finds the next frame after
    garbage. A garbage length byte can make the parser wait for bytes that never come: the
    owner calls :meth:`gap` when the line has gone quiet (ccTalk devices do the same after a
    pause inside a message), which gives up on the oldest byte and looks again.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._offset = 0  # stream position of self._buf[0]
        self.frames = 0
        self.discarded = 0  # bytes skipped as garbage

    @property
    def pending(self) -> int:
        """Bytes held that do not yet form a frame."""
        return len(self._buf)

    def reset(self) -> None:
        """Forget buffered bytes (a new exchange starts)."""
        self.discarded += len(self._buf)
        self._offset += len(self._buf)
        self._buf.clear()

    def feed(self, data: bytes) -> list[Frame]:
        """Consume ``data``; return the frames it completed, in order."""
        return [frame for _, frame in self.feed_located(data)]

    def feed_located(self, data: bytes) -> list[tuple[int, Frame]]:
        """Like :meth:`feed`, with each frame's start position in the whole stream fed so far."""
        self._buf += data
        return self._scan()

    def gap(self) -> list[Frame]:
        """The line went quiet with bytes pending: they cannot all be one frame, so drop the
        oldest and look for frames in the rest. Call repeatedly to drain (``pending`` shrinks)."""
        return [frame for _, frame in self.gap_located()]

    def gap_located(self) -> list[tuple[int, Frame]]:
        """Like :meth:`gap`, with stream positions as :meth:`feed_located` gives them."""
        if not self._buf:
            return []
        self._drop(1)
        return self._scan()

    def _drop(self, count: int) -> None:
        del self._buf[:count]
        self._offset += count
        self.discarded += count

    def _scan(self) -> list[tuple[int, Frame]]:
        found: list[tuple[int, Frame]] = []
        while len(self._buf) >= 2:
            size = self._buf[1] + FRAME_OVERHEAD
            if len(self._buf) < size:
                break
            if sum(self._buf[:size]) & 0xFF:
                self._drop(1)
                continue
            raw = bytes(self._buf[:size])
            found.append((self._offset, Frame(raw[0], raw[2], raw[3], raw[4:-1])))
            del self._buf[:size]
            self._offset += size
            self.frames += 1
        return found


# --------------------------------------------------------------------------------------------
# event counters (pure)
# --------------------------------------------------------------------------------------------


def next_counter(counter: int) -> int:
    """The event counter after ``counter``: 1..255 and round again; 0 only after a reset."""
    return 1 if counter >= 255 else counter + 1


def previous_counter(counter: int) -> int:
    """The event counter before ``counter`` (1 comes after 255)."""
    return 255 if counter <= 1 else counter - 1


@dataclass(frozen=True)
class EventBuffer:
    """A reply to 229 or 159: the event counter and five ``(A, B)`` pairs, newest first."""

    counter: int
    events: tuple[tuple[int, int], ...]

    @classmethod
    def from_reply(cls, data: bytes, *, address: int | None = None, header: int | None = None) -> EventBuffer:
        """Parse the 11-byte reply."""
        if len(data) != 1 + 2 * EVENT_SLOTS:
            raise UnexpectedReply(
                f"event buffer reply has {len(data)} bytes, expected {1 + 2 * EVENT_SLOTS}",
                address=address,
                header=header,
            )
        pairs = tuple((data[1 + 2 * i], data[2 + 2 * i]) for i in range(EVENT_SLOTS))
        return cls(data[0], pairs)

    def encode(self) -> bytes:
        """The 11 data bytes (used by the simulator)."""
        pairs = list(self.events[:EVENT_SLOTS]) + [(0, 0)] * (EVENT_SLOTS - len(self.events))
        return bytes([self.counter]) + bytes(b for pair in pairs for b in pair)


@dataclass(frozen=True)
class EventDelta:
    """What changed since the last read: new events oldest first, how many were lost, reset."""

    events: tuple[tuple[int, int], ...] = ()
    lost: int = 0
    reset: bool = False
    # The device's event counter at each of ``events``: the host's durable cursor. A kiosk that
    # journals the counter with each credit can resume after a crash from the last one it wrote.
    counters: tuple[int, ...] = ()


def events_since(previous: int | None, buffer: EventBuffer) -> EventDelta:
    """The events in ``buffer`` that are new since the counter was ``previous``.

    ``previous`` None is the first read: the buffer's contents are history, not news. A counter
    of 0 means the device was reset (power cycle, reset command). The counter runs 1..255 and
    wraps to 1, so 255 → 1 is one event. More than five new events means the oldest were
    overwritten before the host read them: they are reported as ``lost``.
    """
    counter = buffer.counter
    if previous is None or counter == previous:
        return EventDelta()
    if counter == 0:
        return EventDelta(reset=True)
    new = counter if previous == 0 else (counter - previous) % 255
    lost = max(0, new - EVENT_SLOTS)
    taken = min(new, EVENT_SLOTS)
    counters = [counter]
    for _ in range(taken - 1):
        counters.append(previous_counter(counters[-1]))
    return EventDelta(events=tuple(reversed(buffer.events[:taken])), lost=lost, counters=tuple(reversed(counters)))


# --------------------------------------------------------------------------------------------
# the bus
# --------------------------------------------------------------------------------------------


class SerialPort(Protocol):
    """What the bus needs of a pyserial port (the seam tests could fill with any object)."""

    @property
    def in_waiting(self) -> int:
        """Bytes ready to read."""
        ...

    def write(self, data: bytes, /) -> int | None:
        """Send bytes."""
        ...

    def read(self, size: int = 1, /) -> bytes:
        """Read up to ``size`` bytes, waiting at most the port's timeout."""
        ...

    def reset_input_buffer(self) -> None:
        """Drop unread input."""
        ...

    def close(self) -> None:
        """Close the port."""
        ...


@dataclass
class BusStats:
    """Counters for the technician's status page (a noisy cable shows up here first)."""

    requests: int = 0
    retries: int = 0
    no_replies: int = 0
    bad_frames: int = 0
    echo_errors: int = 0
    naks: int = 0


READ_SLICE_S = 0.01  # the port's read timeout: how often a waiting read looks at the clock


class CcTalkBus:
    """The host on one ccTalk bus: sends requests, returns reply data, one exchange at a time.

    ``echo`` True (the single-wire bus, or an adapter wired that way): every request comes back
    first and is checked byte for byte; a missing or different echo is a :class:`BusError` (a
    collision, or the wrong adapter setting). ``reply_timeout`` bounds the wait for the echo and
    for the reply; ``retries`` is how many times a request is sent again after no reply, a bad
    frame, an echo error or BUSY. A NAK is not retried: the device understood and refused.

    Thread-safe: a lock makes each request/reply exchange atomic.
    """

    def __init__(
        self,
        port: SerialPort,
        *,
        host_address: int = HOST_ADDRESS,
        echo: bool = True,
        reply_timeout: float = 0.2,
        retries: int = 2,
        name: str = "ccTalk",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 1 <= host_address <= 255:
            raise ValueError(f"host_address {host_address} is outside 1..255")
        if retries < 0 or reply_timeout <= 0:
            raise ValueError("retries must be >= 0 and reply_timeout > 0")
        self.port = port
        self.host_address = host_address
        self.echo = echo
        self.reply_timeout = reply_timeout
        self.retries = retries
        self.name = name
        self.stats = BusStats()
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.RLock()
        self._parser = FrameParser()

    @classmethod
    def open(cls, url: str, **options: Any) -> CcTalkBus:
        """Open ``url`` (a device path, a udev link, a pty, ``loop://``) at 9600 8N1."""
        import serial  # here, not at module level: the codec and the parser need no pyserial

        try:
            port = serial.serial_for_url(url, **LINE.pyserial(), timeout=READ_SLICE_S, write_timeout=1.0)
        except (serial.SerialException, OSError, ValueError) as err:
            raise BusError(
                f"cannot open the ccTalk port {url}: {err}; check the cable and the configured port"
            ) from err
        return cls(port, name=url, **options)

    def close(self) -> None:
        """Close the port."""
        with self._lock:
            try:
                self.port.close()
            except OSError as err:  # a vanished USB adapter; it is closed either way
                log.debug("%s: close: %s", self.name, err)

    def request(
        self,
        dest: int,
        header: int,
        data: bytes = b"",
        *,
        timeout: float | None = None,
        retries: int | None = None,
    ) -> bytes:
        """Send ``header`` with ``data`` to ``dest``; return the ACK's data.

        Raises :class:`Nak`, or after the last retry :class:`NoReply`, :class:`BadFrame`,
        :class:`BusError` or :class:`DeviceBusy`. Pass ``retries=0`` for commands that must not
        run twice (dispensing coins): the caller checks the device's state instead.
        """
        request = Frame(dest, self.host_address, header, bytes(data))
        attempts = 1 + (self.retries if retries is None else retries)
        wait = self.reply_timeout if timeout is None else timeout
        last: CcTalkError | None = None
        with self._lock:
            for attempt in range(attempts):
                if attempt:
                    self.stats.retries += 1
                    # Let a late reply to the failed attempt arrive, then throw it away.
                    self._sleep(min(wait, 0.05))
                self.stats.requests += 1
                try:
                    return self._exchange(request, wait)
                except Nak:
                    self.stats.naks += 1
                    raise
                except (NoReply, BadFrame, BusError, DeviceBusy) as err:
                    last = err
                    log.debug("%s: %s (attempt %d of %d)", self.name, err, attempt + 1, attempts)
        assert last is not None  # the loop ran at least once and every path returned or set it
        if attempts > 1:
            last.args = (f"{last.args[0]} (tried {attempts} times)",)
        raise last

    # -- one exchange ----------------------------------------------------------------------------

    def _exchange(self, request: Frame, wait: float) -> bytes:
        where = {"address": request.dest, "header": request.header}
        what = f"address {request.dest}, header {header_name(request.header)}"
        raw = request.encode()
        try:
            self.port.reset_input_buffer()
            self.port.write(raw)
        except OSError as err:  # SerialException is an OSError
            raise BusError(f"{self.name}: writing to the port failed: {err}", **where) from err
        if self.echo:
            echo = self._read_exactly(len(raw), wait)
            if echo != raw:
                self.stats.echo_errors += 1
                # The device's reply where the echo should be: the adapter hides the echo.
                answered = any(
                    f.dest == self.host_address and f.source == request.dest for f in FrameParser().feed(echo)
                )
                if not echo or answered:
                    raise BusError(
                        f"{self.name}: no echo of the request to {what}: a single-wire ccTalk bus returns every "
                        "byte sent; check the adapter and its wiring, or set echo off for an adapter that hides it",
                        **where,
                    )
                raise BusError(
                    f"{self.name}: the echo of the request to {what} differs from what was sent "
                    f"({echo.hex(' ')} for {raw.hex(' ')}): a collision or noise on the bus",
                    **where,
                )
        reply = self._read_reply(request, wait, what, where)
        if reply.header == Header.NAK:
            raise Nak(f"{self.name}: {what} answered NAK", **where)
        if reply.header == Header.BUSY:
            raise DeviceBusy(f"{self.name}: {what} answered BUSY", **where)
        if reply.header != Header.ACK:
            self.stats.bad_frames += 1
            raise BadFrame(f"{self.name}: {what} answered with header {reply.header}, not ACK", **where)
        return reply.data

    def _read_reply(self, request: Frame, wait: float, what: str, where: dict[str, int]) -> Frame:
        self._parser.reset()
        deadline = self._clock() + wait
        while True:
            chunk = self._read_some(deadline)
            frames = self._parser.feed(chunk) if chunk else []
            for frame in frames:
                if frame == request:
                    self.stats.echo_errors += 1
                    raise BusError(
                        f"{self.name}: the request to {what} came back although echo is off: "
                        "this adapter echoes, so set echo on",
                        **where,
                    )
                if frame.dest != self.host_address or frame.source != request.dest:
                    self.stats.bad_frames += 1
                    raise BadFrame(
                        f"{self.name}: a reply to {what} came from address {frame.source} to {frame.dest}: "
                        "two devices on one address?",
                        **where,
                    )
                return frame
            if not chunk and self._clock() >= deadline:
                break
        if self._parser.pending:
            self.stats.bad_frames += 1
            raise BadFrame(
                f"{self.name}: garbled reply from {what} ({self._parser.pending} bytes, no valid frame): "
                "bad checksum or noise on the line",
                **where,
            )
        self.stats.no_replies += 1
        raise NoReply(
            f"{self.name}: no reply from {what} within {wait:g} s: is the device powered, cabled and set to "
            f"address {request.dest}?",
            **where,
        )

    def _read_some(self, deadline: float) -> bytes:
        try:
            if self._clock() >= deadline:
                return self.port.read(self.port.in_waiting) if self.port.in_waiting else b""
            return self.port.read(self.port.in_waiting or 1)
        except OSError as err:
            raise BusError(f"{self.name}: reading the port failed: {err}") from err

    def _read_exactly(self, size: int, wait: float) -> bytes:
        deadline = self._clock() + wait
        got = bytearray()
        while len(got) < size:
            try:
                chunk = self.port.read(size - len(got))
            except OSError as err:
                raise BusError(f"{self.name}: reading the port failed: {err}") from err
            got += chunk
            if not chunk and self._clock() >= deadline:
                break
        return bytes(got)


# --------------------------------------------------------------------------------------------
# devices
# --------------------------------------------------------------------------------------------


def _ascii(data: bytes) -> str:
    return data.decode("ascii", errors="replace").strip()


class CcTalkDevice:
    """One device on the bus: the core commands every ccTalk device answers."""

    kind: ClassVar[str] = "ccTalk device"

    def __init__(self, bus: CcTalkBus, address: int) -> None:
        if not 1 <= address <= 255 or address == bus.host_address:
            raise ValueError(f"{self.kind} address {address} must be 1..255 and not the host's ({bus.host_address})")
        self.bus = bus
        self.address = address

    def __repr__(self) -> str:
        return f"{type(self).__name__}(address={self.address})"

    def _ask(self, header: int, data: bytes = b"", *, length: int | None = None, **options: Any) -> bytes:
        reply = self.bus.request(self.address, header, data, **options)
        if length is not None and len(reply) != length:
            raise UnexpectedReply(
                f"{self.kind} at address {self.address}: {header_name(header)} answered {len(reply)} bytes, "
                f"expected {length}",
                address=self.address,
                header=header,
            )
        return reply

    def simple_poll(self) -> None:
        """254: is the device there? Raises :class:`NoReply` if not."""
        self._ask(Header.SIMPLE_POLL, length=0)

    def manufacturer_id(self) -> str:
        """246, e.g. ``"MCI"``."""
        return _ascii(self._ask(Header.REQUEST_MANUFACTURER_ID))

    def equipment_category(self) -> str:
        """245: ``"Coin Acceptor"``, ``"Payout"`` or ``"Bill Validator"``."""
        return _ascii(self._ask(Header.REQUEST_EQUIPMENT_CATEGORY_ID))

    def product_code(self) -> str:
        """244: the model."""
        return _ascii(self._ask(Header.REQUEST_PRODUCT_CODE))

    def serial_number(self) -> int:
        """242: three bytes, least significant first."""
        raw = self._ask(Header.REQUEST_SERIAL_NUMBER, length=3)
        return int.from_bytes(raw, "little")

    def reset(self) -> None:
        """1: software reset; inhibits, escrow and hopper enable return to their power-up state."""
        self._ask(Header.RESET_DEVICE, length=0)


def _mask(enabled: Iterable[int], size: int) -> bytes:
    bits = 0
    for position in enabled:
        if not 1 <= position <= size * 8:
            raise ValueError(f"position {position} is outside 1..{size * 8}")
        bits |= 1 << (position - 1)
    return bits.to_bytes(size, "little")


class _Acceptor(CcTalkDevice):
    """Inhibits and the event buffer shared by coin acceptors and bill validators."""

    event_header: ClassVar[int]

    def __init__(self, bus: CcTalkBus, address: int) -> None:
        super().__init__(bus, address)
        self.last_counter: int | None = None

    def set_inhibits(self, enabled: Iterable[int]) -> None:
        """231: accept only the coin positions / bill types in ``enabled`` (1..16); the rest inhibited."""
        self._ask(Header.MODIFY_INHIBIT_STATUS, _mask(enabled, 2), length=0)

    def inhibits(self) -> frozenset[int]:
        """230: the positions currently enabled."""
        raw = self._ask(Header.REQUEST_INHIBIT_STATUS, length=2)
        bits = int.from_bytes(raw, "little")
        return frozenset(i + 1 for i in range(16) if bits >> i & 1)

    def set_master_inhibit(self, inhibited: bool) -> None:
        """228: bit 0 is 0 to inhibit everything, 1 for normal operation."""
        self._ask(Header.MODIFY_MASTER_INHIBIT_STATUS, bytes([0 if inhibited else 1]), length=0)

    def master_inhibited(self) -> bool:
        """227: True while everything is inhibited."""
        return not self._ask(Header.REQUEST_MASTER_INHIBIT_STATUS, length=1)[0] & 1

    def read_events(self) -> EventBuffer:
        """229 (coins) or 159 (bills): the raw event buffer."""
        data = self._ask(self.event_header)
        return EventBuffer.from_reply(data, address=self.address, header=self.event_header)

    def poll_events(self) -> EventDelta:
        """Read the buffer and return what is new since the last call (the first call: nothing)."""
        buffer = self.read_events()
        delta = events_since(self.last_counter, buffer)
        self.last_counter = buffer.counter
        return delta


COIN_ERRORS: dict[int, str] = {
    0: "null_event",
    1: "reject_coin",
    2: "inhibited_coin",
    3: "multiple_window",
    4: "wake_up_timeout",
    5: "validation_timeout",
    6: "credit_sensor_timeout",
    7: "sorter_opto_timeout",
    8: "second_close_coin",
    9: "accept_gate_not_ready",
    10: "credit_sensor_not_ready",
    11: "sorter_not_ready",
    12: "reject_coin_not_cleared",
    13: "validation_sensor_not_ready",
    14: "credit_sensor_blocked",
    15: "sorter_opto_blocked",
    16: "credit_sequence_error",
    17: "coin_going_backwards",
    18: "coin_too_fast",
    19: "coin_too_slow",
    20: "coin_on_string",
    21: "dce_opto_timeout",
    22: "dce_opto_not_seen",
    23: "credit_sensor_reached_too_early",
    24: "reject_coin_repeated",
    25: "reject_slug",
    26: "reject_sensor_blocked",
    27: "games_overload",
    28: "max_coin_meter_pulses_exceeded",
    29: "accept_gate_open_not_closed",
    30: "accept_gate_closed_not_open",
    31: "manifold_opto_timeout",
    32: "manifold_opto_blocked",
    33: "manifold_not_ready",
    34: "security_status_changed",
    35: "motor_exception",
    36: "swallowed_coin",
    37: "coin_too_fast_validation",
    38: "coin_too_slow_validation",
    39: "coin_incorrectly_sorted",
    40: "external_light_attack",
    253: "data_block_request",
    254: "coin_return_mechanism_activated",
    255: "unspecified_alarm",
}
# A coin stuck in the acceptor: nothing more can be accepted until someone clears it.
COIN_JAM_CODES = frozenset({14, 15, 26, 32})
# The coin was handed back to the resident: normal, not a fault.
COIN_REJECT_CODES = frozenset({1, 2, 3, 8, 9, 10, 11, 12, 13, 22, 24, 25, 33, 37, 38})


def coin_error_name(code: int) -> str:
    """The name of a 229 error code; 128..159 are "inhibited coin type n"."""
    if 128 <= code <= 159:
        return f"inhibited_coin_type_{code - 127}"
    return COIN_ERRORS.get(code, f"error_{code}")


def parse_coin_id(text: str) -> tuple[str, int] | None:
    """``"JP100A"`` → ``("JP", 100)``; None for an unprogrammed position (``"......"``)."""
    text = text.strip()
    if len(text) != 6 or not text[:2].isalpha() or not text[2:5].isdigit():
        return None
    return text[:2], int(text[2:5])


class CoinAcceptor(_Acceptor):
    """A ccTalk coin acceptor (default address 2): coin ids, inhibits, buffered credit."""

    kind = "coin acceptor"
    event_header = Header.READ_BUFFERED_CREDIT

    def coin_id(self, position: int) -> str:
        """184: the 6-character id of a coin position, e.g. ``"JP100A"``."""
        return _ascii(self._ask(Header.REQUEST_COIN_ID, bytes([position])))

    def coin_values(self, country: str, positions: int = 16) -> dict[int, int]:
        """Position → face value for every position programmed with a coin of ``country``."""
        values: dict[int, int] = {}
        for position in range(1, positions + 1):
            parsed = parse_coin_id(self.coin_id(position))
            if parsed is not None and parsed[0] == country:
                values[position] = parsed[1]
        return values


BILL_EVENTS: dict[int, str] = {
    0: "master_inhibit_active",
    1: "returned_from_escrow",
    2: "invalid_bill_validation",
    3: "invalid_bill_transport",
    4: "inhibited_bill_serial",
    5: "inhibited_bill_switches",
    6: "bill_jammed_in_transport_unsafe",
    7: "bill_jammed_in_stacker",
    8: "bill_pulled_backwards",
    9: "bill_tamper",
    10: "stacker_ok",
    11: "stacker_removed",
    12: "stacker_inserted",
    13: "stacker_faulty",
    14: "stacker_full",
    15: "stacker_jammed",
    16: "bill_jammed_in_transport_safe",
    17: "opto_fraud",
    18: "string_fraud",
    19: "anti_string_faulty",
    20: "barcode_detected",
    21: "unknown_bill_type_stacked",
}
BILL_RETURNED = 1
BILL_JAM_CODES = frozenset({6, 7, 15, 16})
ROUTE_RETURN = 0
ROUTE_STACK = 1
ROUTE_EXTEND_ESCROW = 255
ROUTE_ERRORS = {254: "escrow is empty", 255: "the bill could not be routed"}


def bill_event_name(code: int) -> str:
    """The name of a 159 status code (result A = 0)."""
    return BILL_EVENTS.get(code, f"status_{code}")


def parse_bill_id(text: str) -> tuple[str, int] | None:
    """``"JP0100A"`` → ``("JP", 100)`` (multiply by the country's scaling factor); None if unused."""
    text = text.strip()
    if len(text) != 7 or not text[:2].isalpha() or not text[2:6].isdigit():
        return None
    return text[:2], int(text[2:6])


class BillValidator(_Acceptor):
    """A ccTalk bill validator (default address 40): bill ids, inhibits, escrow, bill events."""

    kind = "bill validator"
    event_header = Header.READ_BUFFERED_BILL_EVENTS

    def bill_id(self, bill_type: int) -> str:
        """157: the 7-character id of a bill type, e.g. ``"JP0100A"``."""
        return _ascii(self._ask(Header.REQUEST_BILL_ID, bytes([bill_type])))

    def country_scaling(self, country: str) -> tuple[int, int]:
        """156: ``(scaling factor, decimal places)`` for a 2-letter country code; (0, 0) if unknown."""
        raw = self._ask(Header.REQUEST_COUNTRY_SCALING_FACTOR, country.encode("ascii"), length=3)
        return int.from_bytes(raw[:2], "little"), raw[2]

    def bill_values(self, country: str, types: int = 16) -> dict[int, int]:
        """Bill type → face value in whole currency units for every type of ``country``."""
        factor, decimals = self.country_scaling(country)
        if factor == 0:
            raise UnexpectedReply(
                f"bill validator at address {self.address} knows no scaling factor for {country!r}",
                address=self.address,
                header=Header.REQUEST_COUNTRY_SCALING_FACTOR,
            )
        values: dict[int, int] = {}
        for bill_type in range(1, types + 1):
            parsed = self.bill_id(bill_type)
            found = parse_bill_id(parsed)
            if found is not None and found[0] == country:
                values[bill_type] = found[1] * factor // 10**decimals
        return values

    def set_operating_mode(self, *, stacker: bool = True, escrow: bool = True) -> None:
        """153: bit 0 uses the stacker, bit 1 holds each bill in escrow until routed."""
        self._ask(Header.MODIFY_BILL_OPERATING_MODE, bytes([int(stacker) | int(escrow) << 1]), length=0)

    def route_bill(self, route: int) -> None:
        """154: 0 return the escrowed bill, 1 stack it, 255 extend the escrow timeout.

        Not retried: a lost ACK followed by a second "stack" would find the escrow empty.
        """
        if route not in (ROUTE_RETURN, ROUTE_STACK, ROUTE_EXTEND_ESCROW):
            raise ValueError(f"route {route} is not 0 (return), 1 (stack) or 255 (extend escrow)")
        reply = self._ask(Header.ROUTE_BILL, bytes([route]), retries=0)
        if reply:
            code = reply[0]
            raise RouteError(
                f"bill validator at address {self.address}: route bill {route} failed: "
                f"{ROUTE_ERRORS.get(code, f'error code {code}')}",
                code=code,
                address=self.address,
            )


@dataclass(frozen=True)
class HopperStatus:
    """166: event counter, coins still to pay in this payout, coins paid and unpaid in the last one."""

    counter: int
    remaining: int
    paid: int
    unpaid: int


@dataclass(frozen=True)
class LevelStatus:
    """217: the level sensors; ``low``/``high`` None where the hopper has no such sensor."""

    low: bool | None  # True: at or below the low-level mark
    high: bool | None  # True: at or above the high-level mark

    @classmethod
    def from_byte(cls, value: int) -> LevelStatus:
        """Bit 0 low level reached, bit 1 high level reached, bits 4/5 the sensors are fitted."""
        low = bool(value & 0x01) if value & 0x10 else None
        high = bool(value & 0x02) if value & 0x20 else None
        return cls(low, high)

    def to_byte(self) -> int:
        """The byte as the hopper sends it (used by the simulator)."""
        value = 0
        if self.low is not None:
            value |= 0x10 | (0x01 if self.low else 0)
        if self.high is not None:
            value |= 0x20 | (0x02 if self.high else 0)
        return value


HOPPER_FLAGS: dict[tuple[int, int], str] = {
    (0, 0): "absolute_maximum_current_exceeded",
    (0, 1): "payout_timeout",  # nothing came out: usually an empty hopper
    (0, 2): "motor_reversed_to_clear_jam",
    (0, 3): "opto_fraud_path_blocked_idle",
    (0, 4): "opto_fraud_short_circuit_idle",
    (0, 5): "opto_blocked_during_payout",  # a coin stuck in the exit
    (0, 6): "power_up_detected",
    (0, 7): "payout_disabled",  # after power-up or reset until header 164 enables it
    (1, 0): "opto_fraud_short_circuit_payout",
    (1, 1): "single_coin_mode",
    (1, 2): "use_other_hopper",
    (1, 3): "opto_fraud_finger",
    (1, 4): "motor_reverse_limit_reached",
    (1, 5): "inductive_coil_fault",
    (1, 6): "nv_memory_checksum_error",
    (1, 7): "pin_number_mechanism",
    (2, 0): "power_down_during_payout",
    (2, 1): "unknown_coin_type_paid",
    (2, 2): "pin_number_incorrect",
    (2, 3): "incorrect_cipher_key",
    (2, 4): "encryption_enabled",
}
HOPPER_JAM_FLAGS = frozenset(
    {"opto_blocked_during_payout", "motor_reverse_limit_reached", "absolute_maximum_current_exceeded"}
)


def hopper_flags(registers: bytes) -> frozenset[str]:
    """Names of the bits set in the 163 test registers."""
    return frozenset(
        name for (reg, bit), name in HOPPER_FLAGS.items() if reg < len(registers) and registers[reg] >> bit & 1
    )


def hopper_registers(flags: Iterable[str]) -> bytes:
    """The three 163 registers for a set of flag names (used by the simulator)."""
    regs = bytearray(3)
    by_name = {name: where for where, name in HOPPER_FLAGS.items()}
    for name in flags:
        reg, bit = by_name[name]
        regs[reg] |= 1 << bit
    return bytes(regs)


@dataclass(frozen=True)
class PayoutResult:
    """What one dispense really did."""

    paid: int
    unpaid: int
    flags: frozenset[str] = frozenset()


class Hopper(CcTalkDevice):
    """A ccTalk coin hopper (addresses 3 and up) with serial-number protected dispensing.

    Dispense (167) carries the hopper's serial number (242, three bytes, least significant
    first) before the coin count; hoppers with encrypted dispensing (cipher key, header 160/161)
    are not supported. ``protected=False`` sends the count alone, for hoppers that take that.
    """

    kind = "hopper"

    def __init__(self, bus: CcTalkBus, address: int, *, protected: bool = True) -> None:
        super().__init__(bus, address)
        self.protected = protected
        self._serial: int | None = None

    def enable(self, on: bool = True) -> None:
        """164: enable (165) or disable payouts. A hopper starts disabled after power-up or reset."""
        self._ask(Header.ENABLE_HOPPER, bytes([HOPPER_ENABLE_CODE if on else 0]), length=0)

    def status(self) -> HopperStatus:
        """166."""
        raw = self._ask(Header.REQUEST_HOPPER_STATUS, length=4)
        return HopperStatus(raw[0], raw[1], raw[2], raw[3])

    def level(self) -> LevelStatus:
        """217."""
        return LevelStatus.from_byte(self._ask(Header.REQUEST_PAYOUT_HIGH_LOW_STATUS, length=1)[0])

    def test(self) -> frozenset[str]:
        """163: the flags set in the hopper's status registers."""
        return hopper_flags(self._ask(Header.TEST_HOPPER))

    def emergency_stop(self) -> int:
        """172: stop the motor now; returns the coins that were still to pay."""
        raw = self._ask(Header.EMERGENCY_STOP)
        return raw[0] if raw else 0

    def dispense(self, count: int) -> int:
        """167: start paying ``count`` coins (1..255); returns the event counter of this payout.

        The command is sent at most once per attempt and never blindly repeated: if its reply
        is lost, the event counter (166) tells whether the hopper took it.
        """
        if not 1 <= count <= MAX_DISPENSE:
            raise ValueError(f"a hopper pays 1..{MAX_DISPENSE} coins per command, not {count}")
        if self.protected and self._serial is None:
            self._serial = self.serial_number()
        data = (self._serial or 0).to_bytes(3, "little") + bytes([count]) if self.protected else bytes([count])
        before = self.status().counter
        expected = next_counter(before)
        for attempt in range(1 + self.bus.retries):
            try:
                self._ask(Header.DISPENSE_HOPPER_COINS, data, retries=0)
            except Nak:
                if not self.protected or attempt:
                    raise
                # A swapped hopper has another serial number: read it again, once.
                self._serial = self.serial_number()
                data = self._serial.to_bytes(3, "little") + bytes([count])
                continue
            except (NoReply, BadFrame, BusError) as err:
                now = self.status().counter  # raises NoReply if the hopper is really gone
                if now == expected:
                    return expected  # it took the command; only the reply was lost
                if attempt == self.bus.retries:
                    raise
                log.debug("hopper %d: dispense not taken (%s); sending again", self.address, err)
                continue
            counter = self.status().counter
            if counter != expected:
                flags = self.test()
                raise UnexpectedReply(
                    f"hopper at address {self.address} acknowledged the payout but did not start it "
                    f"(flags: {', '.join(sorted(flags)) or 'none'})",
                    address=self.address,
                    header=Header.DISPENSE_HOPPER_COINS,
                )
            return expected
        raise AssertionError("unreachable")  # pragma: no cover

    def pay(
        self,
        count: int,
        *,
        timeout: float = 30.0,
        poll_interval: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> PayoutResult:
        """Enable, dispense ``count`` coins and wait until the hopper has finished.

        ``timeout`` bounds the whole payout; on expiry the motor is stopped (172) and the coins
        counted so far are reported.
        """
        deadline = clock() + timeout
        while self.status().remaining:  # a payout still running (the host restarted during it)
            if clock() >= deadline:
                raise UnexpectedReply(
                    f"hopper at address {self.address} is still busy with an earlier payout",
                    address=self.address,
                    header=Header.REQUEST_HOPPER_STATUS,
                )
            sleep(poll_interval)
        self.enable(True)
        expected = self.dispense(count)
        while True:
            status = self.status()
            if status.counter == expected and status.remaining == 0:
                flags = self.test() if status.unpaid else frozenset()
                return PayoutResult(status.paid, status.unpaid, flags)
            if clock() >= deadline:
                self.emergency_stop()
                status = self.status()
                return PayoutResult(status.paid, count - status.paid, self.test() | {"payout_timeout"})
            sleep(poll_interval)
