"""A ccTalk bus simulator behind a real pty: coin acceptor, bill validator and coin hoppers.

The host driver opens :attr:`FakeCcTalkBus.port_path` (the pty's slave, or a symlink standing
in for ``/dev/serial/by-id/…``) as an ordinary serial port. A thread on the master side plays
the wire and the devices:

* it echoes every byte the host writes, as the single ccTalk wire does (``echo=False`` plays an
  adapter that hides the echo);
* it parses the host's frames and answers for every device address it simulates, with the
  headers listed in ``docs/cctalk.md`` and NAK for any other header;
* the devices keep state like the real ones: inhibits (a coin or note inserted while inhibited
  is handed back, no credit), event counters (1..255, wrapping to 1; 0 after a reset), one note
  held in escrow until routed or until the escrow timeout returns it, hopper coin levels that
  run out, a low-level sensor.

Tests and the demo's buttons drive it through the control methods (``insert_coin``,
``insert_note``, ``set_hopper_level``) and script faults (``jam_coins``, ``jam_next_note``,
``jam_hopper``, ``set_silent``, ``corrupt_next_reply``, ``corrupt_next_echo``, ``lose_events``,
``power_cycle``). Money is tracked in lists of yen values: ``inserted`` (everything the resident
put in), ``cashbox``, ``returned`` (handed back: rejected coins, returned notes), ``dispensed``
(coins the hoppers paid), ``jammed`` and :attr:`escrow`.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Self

from drivers.cctalk import (
    EVENT_SLOTS,
    HOPPER_ENABLE_CODE,
    ROUTE_EXTEND_ESCROW,
    ROUTE_RETURN,
    ROUTE_STACK,
    EventBuffer,
    Frame,
    FrameParser,
    Header,
    LevelStatus,
    hopper_registers,
    next_counter,
)
from drivers.serial_fake import PtyDevice

COUNTRY = "JP"
# Coin positions as a Japanese coin acceptor might be programmed; 1 and 5 yen are known to
# the acceptor (so it can tell them from slugs) but the kiosk never enables them.
COIN_IDS: dict[int, str] = {1: "JP001A", 2: "JP005A", 3: "JP010A", 4: "JP050A", 5: "JP100A", 6: "JP500A"}
COIN_VALUES: dict[int, int] = {1: 1, 2: 5, 3: 10, 4: 50, 5: 100, 6: 500}
# Bill ids carry four digits, so yen notes use a scaling factor of 10 (JP0100A = 1000 yen).
BILL_IDS: dict[int, str] = {1: "JP0100A", 2: "JP0200A", 3: "JP0500A", 4: "JP1000A"}
BILL_VALUES: dict[int, int] = {1: 1000, 2: 2000, 3: 5000, 4: 10000}
BILL_SCALING = 10
DEFAULT_HOPPERS: dict[int, tuple[int, int]] = {3: (500, 50), 4: (100, 50), 5: (10, 100)}
INTER_BYTE_GAP_S = 0.05  # a device drops a half-received message after this much silence
TICK_S = 0.005
ANY_HEADER = -1


class _Refuse(Exception):
    """The simulated device answers NAK."""


class _Device:
    """Core commands every simulated device answers."""

    category = ""
    product = ""

    def __init__(self, bus: FakeCcTalkBus, address: int, serial: int) -> None:
        self.bus = bus
        self.address = address
        self.serial = serial
        self.silent = False
        # Scripted one-shot faults: a header number, ANY_HEADER, or None (off).
        self.corrupt_next: int | None = None
        self.drop_next: int | None = None
        self.power_up()

    def power_up(self) -> None:
        """State after power-on."""

    def software_reset(self) -> None:
        """Header 1."""
        self.power_up()

    def tick(self, now: float) -> None:
        """Time passes (escrow timeout, hopper motor)."""

    def handle(self, header: int, data: bytes) -> bytes:
        """Answer one request: ACK data, or raise _Refuse for NAK."""
        if header == Header.SIMPLE_POLL:
            return b""
        if header == Header.REQUEST_MANUFACTURER_ID:
            return b"MDG"
        if header == Header.REQUEST_EQUIPMENT_CATEGORY_ID:
            return self.category.encode("ascii")
        if header == Header.REQUEST_PRODUCT_CODE:
            return self.product.encode("ascii")
        if header == Header.REQUEST_SERIAL_NUMBER:
            return self.serial.to_bytes(3, "little")
        if header == Header.RESET_DEVICE:
            self.software_reset()
            return b""
        raise _Refuse


class _Acceptor(_Device):
    """Inhibits, master inhibit and the five-slot event buffer."""

    event_header: int = 0

    def power_up(self) -> None:
        self.enabled_mask = 0  # every position inhibited
        self.master_inhibited = True
        self.counter = 0
        self.events: collections.deque[tuple[int, int]] = collections.deque(maxlen=EVENT_SLOTS)

    def push(self, a: int, b: int) -> None:
        self.counter = next_counter(self.counter)
        self.events.appendleft((a, b))

    def enabled(self, position: int) -> bool:
        return not self.master_inhibited and bool(self.enabled_mask >> (position - 1) & 1)

    def handle(self, header: int, data: bytes) -> bytes:
        if header == Header.MODIFY_INHIBIT_STATUS:
            if len(data) != 2:
                raise _Refuse
            self.enabled_mask = int.from_bytes(data, "little")
            return b""
        if header == Header.REQUEST_INHIBIT_STATUS:
            return self.enabled_mask.to_bytes(2, "little")
        if header == Header.MODIFY_MASTER_INHIBIT_STATUS:
            if len(data) != 1:
                raise _Refuse
            self.master_inhibited = not data[0] & 1
            return b""
        if header == Header.REQUEST_MASTER_INHIBIT_STATUS:
            return bytes([0 if self.master_inhibited else 1])
        if header == self.event_header:
            return EventBuffer(self.counter, tuple(self.events)).encode()
        return super().handle(header, data)


class _CoinAcceptor(_Acceptor):
    category = "Coin Acceptor"
    product = "SIM-CA"
    event_header = Header.READ_BUFFERED_CREDIT

    def power_up(self) -> None:
        super().power_up()
        self.jammed = getattr(self, "jammed", False)  # a stuck coin survives a power cycle

    def handle(self, header: int, data: bytes) -> bytes:
        if header == Header.REQUEST_COIN_ID:
            if len(data) != 1 or not 1 <= data[0] <= 16:
                raise _Refuse
            return COIN_IDS.get(data[0], "......").encode("ascii")
        return super().handle(header, data)

    def insert(self, value: int) -> bool:
        bus = self.bus
        if self.jammed:
            bus.returned.append(value)  # the slot is blocked: the coin drops to the tray
            return False
        position = next((p for p, v in COIN_VALUES.items() if v == value), None)
        if position is None:
            self.push(0, 1)  # reject coin: not a programmed coin
            bus.returned.append(value)
            return False
        if not self.enabled(position):
            self.push(0, 2)  # inhibited coin
            bus.returned.append(value)
            return False
        self.push(position, 1)  # sorter path 1: the cashbox
        bus.cashbox.append(value)
        return True


class _BillValidator(_Acceptor):
    category = "Bill Validator"
    product = "SIM-BV"
    event_header = Header.READ_BUFFERED_BILL_EVENTS

    def power_up(self) -> None:
        super().power_up()
        self.mode = 0b01  # stacker on, escrow off until the host asks for it (header 153)
        held = getattr(self, "escrow", None)
        if held is not None:  # a reset hands the escrowed note back
            self.bus.returned.append(held[1])
        self.escrow: tuple[int, int, float] | None = None  # (bill type, value, since)
        self.jam_next = getattr(self, "jam_next", False)
        self.jammed = getattr(self, "jammed", False)

    def handle(self, header: int, data: bytes) -> bytes:
        if header == Header.REQUEST_BILL_ID:
            if len(data) != 1 or not 1 <= data[0] <= 16:
                raise _Refuse
            return BILL_IDS.get(data[0], ".......").encode("ascii")
        if header == Header.REQUEST_COUNTRY_SCALING_FACTOR:
            if len(data) != 2:
                raise _Refuse
            if data.decode("ascii", errors="replace") != COUNTRY:
                return bytes(3)
            return BILL_SCALING.to_bytes(2, "little") + b"\x00"
        if header == Header.MODIFY_BILL_OPERATING_MODE:
            if len(data) != 1:
                raise _Refuse
            self.mode = data[0] & 0b11
            return b""
        if header == Header.ROUTE_BILL:
            if len(data) != 1 or data[0] not in (ROUTE_RETURN, ROUTE_STACK, ROUTE_EXTEND_ESCROW):
                raise _Refuse
            return self.route(data[0])
        return super().handle(header, data)

    def route(self, code: int) -> bytes:
        if self.escrow is None:
            return bytes([254])  # escrow is empty
        if self.jammed:
            return bytes([255])  # cannot move the bill
        bill_type, value, _ = self.escrow
        if code == ROUTE_EXTEND_ESCROW:
            self.escrow = (bill_type, value, self.bus.clock())
            return b""
        self.escrow = None
        if code == ROUTE_STACK:
            self.bus.cashbox.append(value)
            self.push(bill_type, 0)
        else:
            self.bus.returned.append(value)
            self.push(0, 1)  # returned from escrow
        return b""

    def tick(self, now: float) -> None:
        if self.escrow is not None and now - self.escrow[2] >= self.bus.escrow_timeout:
            self.route(ROUTE_RETURN)

    def insert(self, value: int) -> bool:
        bus = self.bus
        if self.escrow is not None or self.jammed:
            bus.returned.append(value)  # the validator does not draw a note in while busy
            return False
        if self.jam_next:
            self.jam_next = False
            self.jammed = True
            bus.jammed.append(value)
            self.push(0, 6)  # bill jammed in transport
            return False
        bill_type = next((t for t, v in BILL_VALUES.items() if v == value), None)
        if bill_type is None:
            self.push(0, 2)  # invalid bill
            bus.returned.append(value)
            return False
        if not self.enabled(bill_type):
            self.push(0, 4)  # inhibited bill
            bus.returned.append(value)
            return False
        if self.mode & 0b10:
            self.escrow = (bill_type, value, bus.clock())
            self.push(bill_type, 1)
        else:
            bus.cashbox.append(value)
            self.push(bill_type, 0)
        return True


class _Hopper(_Device):
    category = "Payout"
    product = "SIM-HOP"

    def __init__(self, bus: FakeCcTalkBus, address: int, serial: int, coin: int, level: int) -> None:
        self.coin = coin
        self.level = level
        self.jam_after: int | None = None
        self.protected = bus.protected_hoppers
        super().__init__(bus, address, serial)

    def power_up(self) -> None:
        self.enabled = False
        self.counter = 0
        self.remaining = 0
        self.paid = 0
        self.unpaid = 0
        self.flags: set[str] = {"power_up_detected", "payout_disabled"}
        self.last_coin = 0.0

    def software_reset(self) -> None:
        self.power_up()
        self.flags = {"payout_disabled"}

    def handle(self, header: int, data: bytes) -> bytes:
        if header == Header.ENABLE_HOPPER:
            if len(data) != 1:
                raise _Refuse
            self.enabled = data[0] == HOPPER_ENABLE_CODE
            if self.enabled:
                self.flags.discard("payout_disabled")
            else:
                self.flags.add("payout_disabled")
            return b""
        if header == Header.REQUEST_HOPPER_STATUS:
            return bytes([self.counter, self.remaining, self.paid, self.unpaid])
        if header == Header.REQUEST_PAYOUT_HIGH_LOW_STATUS:
            return bytes([LevelStatus(low=self.level <= self.bus.low_level, high=None).to_byte()])
        if header == Header.TEST_HOPPER:
            return hopper_registers(self.flags)
        if header == Header.EMERGENCY_STOP:
            left = self.remaining
            self.unpaid += left
            self.remaining = 0
            self.enabled = False
            self.flags.add("payout_disabled")
            return bytes([left])
        if header == Header.DISPENSE_HOPPER_COINS:
            return self.dispense(data)
        return super().handle(header, data)

    def dispense(self, data: bytes) -> bytes:
        if self.protected:
            if len(data) != 4 or int.from_bytes(data[:3], "little") != self.serial:
                raise _Refuse
        elif len(data) != 1:
            raise _Refuse
        count = data[-1]
        if count == 0 or self.remaining:
            raise _Refuse
        if not self.enabled:
            return b""  # a disabled hopper ignores the command (its counter does not move)
        self.counter = next_counter(self.counter)
        self.remaining, self.paid, self.unpaid = count, 0, 0
        self.flags.discard("payout_timeout")
        self.last_coin = self.bus.clock()
        if self.bus.coin_payout_s <= 0:
            while self.remaining:
                self.pay_one()
        return b""

    def pay_one(self) -> None:
        if self.jam_after is not None and self.paid >= self.jam_after:
            self.jam_after = None
            self.flags.add("opto_blocked_during_payout")
            self.unpaid += self.remaining
            self.remaining = 0
            return
        if self.level <= 0:
            self.flags.add("payout_timeout")  # the motor ran, nothing came out
            self.unpaid += self.remaining
            self.remaining = 0
            return
        self.level -= 1
        self.paid += 1
        self.remaining -= 1
        self.bus.dispensed.append(self.coin)

    def tick(self, now: float) -> None:
        while self.remaining and now - self.last_coin >= self.bus.coin_payout_s:
            self.last_coin += self.bus.coin_payout_s
            self.pay_one()


class FakeCcTalkBus(PtyDevice):
    """The devices' side of a ccTalk bus on the master end of a real pty.

    ``hoppers`` maps address → (coin value, coins in the hopper). ``coin_payout_s`` is the time
    per coin (0: a payout completes at once). ``low_level``: the hoppers' low-level sensor
    reports low at or below this many coins. ``protected_hoppers``: dispense (167) must carry
    the hopper's serial number. ``link``: a symlink to the pty for tests of by-id paths.
    """

    name = "fake ccTalk bus"
    tick_s = TICK_S  # the devices' timers (escrow timeout, hopper motor) run at this pace

    def __init__(
        self,
        *,
        link: str | os.PathLike[str] | None = None,
        echo: bool = True,
        coin_acceptor: int | None = 2,
        bill_validator: int | None = 40,
        hoppers: Mapping[int, tuple[int, int]] | None = None,
        escrow_timeout: float = 10.0,
        coin_payout_s: float = 0.0,
        low_level: int = 10,
        protected_hoppers: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(link=link)
        self.echo = echo
        self.escrow_timeout = escrow_timeout
        self.coin_payout_s = coin_payout_s
        self.low_level = low_level
        self.protected_hoppers = protected_hoppers
        self.clock = clock
        self._lock = threading.RLock()
        self.inserted: list[int] = []
        self.cashbox: list[int] = []
        self.returned: list[int] = []
        self.dispensed: list[int] = []
        self.jammed: list[int] = []
        self.requests: collections.Counter[tuple[int, int]] = collections.Counter()
        self._corrupt_echo = False
        self._devices: dict[int, _Device] = {}
        self._coins: _CoinAcceptor | None = None
        self._bills: _BillValidator | None = None
        serial = 0x10203
        if coin_acceptor is not None:
            self._coins = _CoinAcceptor(self, coin_acceptor, serial)
            self._add(self._coins)
        if bill_validator is not None:
            self._bills = _BillValidator(self, bill_validator, serial + 1)
            self._add(self._bills)
        for i, (address, (coin, level)) in enumerate(sorted((hoppers or DEFAULT_HOPPERS).items())):
            self._add(_Hopper(self, address, serial + 2 + i, coin, level))
        self._parser = FrameParser()
        self._last_byte = 0.0

    def _add(self, device: _Device) -> None:
        if device.address in self._devices:
            raise ValueError(f"two simulated devices at address {device.address}")
        self._devices[device.address] = device

    # -- life cycle ------------------------------------------------------------------------------

    @property
    def port_path(self) -> str:
        """The path the host should open (the symlink if one was asked for)."""
        if not self.slave_path:
            raise RuntimeError("start() the simulator first")
        return self.path

    def start(self) -> Self:
        """Open the pty and start answering."""
        if not self.plugged:
            self._parser = FrameParser()  # a new line: nothing half-received on it
            self._last_byte = self.clock()
            self.plug()
        return self

    def stop(self) -> None:
        """Stop answering and close the pty (the cable is pulled)."""
        self.unplug()

    def __enter__(self) -> Self:
        return self.start()

    # -- the wire ----------------------------------------------------------------------------------

    def received(self, data: bytes) -> None:
        """The host's bytes: echoed (one wire), then parsed into frames for the devices."""
        self._last_byte = self.clock()
        if self.echo:
            self.write(self._echo_of(data))
        for frame in self._parser.feed(data):
            self._answer(frame)

    def tick(self) -> None:
        """A quiet line gives up a half-received frame (as devices do); the devices' timers run."""
        now = self.clock()
        frames: list[Frame] = []
        if self._parser.pending and now - self._last_byte >= INTER_BYTE_GAP_S:
            while self._parser.pending and not frames:
                frames = self._parser.gap()
        for frame in frames:
            self._answer(frame)
        with self._lock:
            for device in self._devices.values():
                device.tick(now)

    def _echo_of(self, data: bytes) -> bytes:
        with self._lock:
            if not self._corrupt_echo:
                return data
            self._corrupt_echo = False
        return bytes([data[0] ^ 0x55]) + data[1:]

    def _answer(self, frame: Frame) -> None:
        with self._lock:
            device = self._devices.get(frame.dest)
            if device is None or device.silent or frame.source == frame.dest:
                return
            if device.drop_next in (ANY_HEADER, frame.header):
                device.drop_next = None  # the request was garbled on the way in: no answer
                return
            self.requests[(frame.dest, frame.header)] += 1
            try:
                reply = Frame(frame.source, device.address, Header.ACK, device.handle(frame.header, frame.data))
            except _Refuse:
                reply = Frame(frame.source, device.address, Header.NAK)
            raw = reply.encode()
            if device.corrupt_next in (ANY_HEADER, frame.header):
                device.corrupt_next = None
                raw = raw[:-1] + bytes([raw[-1] ^ 0xFF])
            self.write(raw)

    # -- the resident ------------------------------------------------------------------------------

    def insert_coin(self, value: int) -> bool:
        """A coin goes into the slot; True if it was accepted (credited to the cashbox)."""
        with self._lock:
            if self._coins is None:
                raise RuntimeError("this simulated bus has no coin acceptor")
            self.inserted.append(value)
            return self._coins.insert(value)

    def insert_note(self, value: int) -> bool:
        """A note goes into the validator; True if it was taken (into escrow, or stacked)."""
        with self._lock:
            if self._bills is None:
                raise RuntimeError("this simulated bus has no bill validator")
            self.inserted.append(value)
            return self._bills.insert(value)

    @property
    def escrow(self) -> int | None:
        """The value of the note held in escrow, if any."""
        with self._lock:
            held = self._bills.escrow if self._bills is not None else None
            return held[1] if held is not None else None

    def expire_escrow(self) -> None:
        """The escrow timeout runs out now: the note comes back out."""
        with self._lock:
            if self._bills is not None and self._bills.escrow is not None:
                self._bills.route(ROUTE_RETURN)

    @property
    def tray(self) -> list[int]:
        """Everything in the return tray: handed-back coins and notes, and paid-out coins."""
        with self._lock:
            return self.returned + self.dispensed

    # -- staff -------------------------------------------------------------------------------------

    def hopper_level(self, address: int) -> int:
        """Coins in the hopper at ``address``."""
        with self._lock:
            return self._hopper(address).level

    @property
    def hopper_levels(self) -> dict[int, int]:
        """Coin value → coins in that hopper."""
        with self._lock:
            return {d.coin: d.level for d in self._devices.values() if isinstance(d, _Hopper)}

    def set_hopper_level(self, address: int, count: int) -> None:
        """Fill or empty a hopper."""
        if count < 0:
            raise ValueError("a hopper cannot hold fewer than 0 coins")
        with self._lock:
            self._hopper(address).level = count

    def clear_coin_jam(self) -> None:
        """Staff open the acceptor and free the coin (it goes to the cashbox)."""
        with self._lock:
            if self._coins is not None:
                self._coins.jammed = False

    def clear_bill_jam(self) -> None:
        """Staff free the jammed note and hand it back to the resident."""
        with self._lock:
            if self._bills is not None:
                self._bills.jammed = False
                self.returned.extend(self.jammed)
                self.jammed.clear()

    # -- faults ------------------------------------------------------------------------------------

    def jam_coins(self) -> None:
        """A coin sticks at the credit sensor: error 14 now; later coins bounce to the tray."""
        with self._lock:
            if self._coins is None:
                raise RuntimeError("this simulated bus has no coin acceptor")
            self._coins.jammed = True
            self._coins.push(0, 14)

    def jam_next_note(self) -> None:
        """The next note jams in the transport (status 6) and stays in the validator."""
        with self._lock:
            if self._bills is None:
                raise RuntimeError("this simulated bus has no bill validator")
            self._bills.jam_next = True

    def jam_hopper(self, address: int, after: int = 0) -> None:
        """The hopper's next payout stops after ``after`` coins with a blocked exit."""
        with self._lock:
            self._hopper(address).jam_after = after

    def set_silent(self, address: int, silent: bool = True) -> None:
        """The device stops answering (unplugged, no power, wrong address)."""
        with self._lock:
            self._device(address).silent = silent

    def corrupt_next_reply(self, address: int, header: int = -1) -> None:
        """The device's next reply (to ``header``, or to anything) arrives with a bad checksum;
        the device did act on the request."""
        with self._lock:
            self._device(address).corrupt_next = header

    def drop_next_request(self, address: int, header: int = -1) -> None:
        """The device's next request (``header``, or any) is lost on the way: no action, no answer."""
        with self._lock:
            self._device(address).drop_next = header

    def corrupt_next_echo(self) -> None:
        """The next echo differs from what the host sent (a collision on the wire)."""
        with self._lock:
            self._corrupt_echo = True

    def lose_events(self, address: int, count: int) -> None:
        """``count`` events nobody cares about happen; more than five overwrite the buffer, so
        the host sees a counter jump larger than it can read (events lost)."""
        with self._lock:
            device = self._acceptor(address)
            for _ in range(count):
                device.push(0, 0)

    def preset_counter(self, address: int, counter: int) -> None:
        """Set an event counter, as if the device had run for a while (before the host starts)."""
        with self._lock:
            self._acceptor(address).counter = counter

    def power_cycle(self, address: int) -> None:
        """Power the device off and on: counters to 0, everything inhibited, hopper disabled."""
        with self._lock:
            self._device(address).power_up()

    def event_counter(self, address: int) -> int:
        """The device's current event counter (for tests)."""
        with self._lock:
            device = self._device(address)
            if isinstance(device, _Acceptor | _Hopper):
                return device.counter
            raise ValueError(f"address {address} has no event counter")

    def _device(self, address: int) -> _Device:
        try:
            return self._devices[address]
        except KeyError:
            raise ValueError(f"no simulated device at address {address}") from None

    def _hopper(self, address: int) -> _Hopper:
        found = {a: d for a, d in self._devices.items() if isinstance(d, _Hopper)}
        if address not in found:
            raise ValueError(f"no simulated hopper at address {address}; hoppers are at {sorted(found)}")
        return found[address]

    def _acceptor(self, address: int) -> _Acceptor:
        found = {a: d for a, d in self._devices.items() if isinstance(d, _Acceptor)}
        if address not in found:
            raise ValueError(f"no coin acceptor or bill validator at address {address}")
        return found[address]
