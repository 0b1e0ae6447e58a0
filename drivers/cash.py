"""Cash handling for the certificate kiosk: one facade over coin acceptor, bill validator and hoppers.

Money is int yen. The kiosk accepts 10, 50, 100 and 500 yen coins and 1000, 5000 and 10000
yen notes (2000 yen notes are refused), and pays change and refunds from hoppers holding 10,
100 and 500 yen coins (50 yen of change is paid as 10s).

:class:`CashBox` is the interface the kiosk uses. Two backends:

* :class:`CcTalkCashBox`: real devices on a ccTalk bus (``drivers/cctalk.py``; the simulator
  ``drivers/fake_cctalk.py`` plays them over a pty for tests and the demo).
* :class:`FakeCashBox`: an in-memory behavioural model for fast kiosk tests.

:func:`open_cash_box` picks one by the configuration's ``backend``; the fake is never a silent
fallback for missing hardware.

The kiosk calls :meth:`CashBox.poll` every 100-200 ms and reacts to the events: a
:class:`NoteEscrowed` note is either stacked (:meth:`CashBox.stack_note`, then
:class:`NoteStacked`) or handed back (:meth:`CashBox.return_note`, then :class:`NoteReturned`);
only :class:`CoinAccepted` and :class:`NoteStacked` are money the kiosk has. :meth:`CashBox.pay_out`
blocks while the hoppers run and returns what they really paid; a :class:`ChangePaid` event
follows on the next poll, for the cash report.

Hopper contents: a hopper cannot count its coins, so the cash box keeps a count per hopper
(``count`` in the configuration, :meth:`CcTalkCashBox.refill` when staff fill it), lowers it by
every coin paid, sets it to 0 when a hopper runs dry, and treats a hopper whose low-level
sensor reports low as empty for :meth:`CashBox.can_pay` (the kiosk then asks for the exact
amount) while :meth:`CashBox.pay_out` still takes every coin it can from it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from drivers.cctalk import (
    BILL_JAM_CODES,
    BILL_RETURNED,
    COIN_JAM_CODES,
    COIN_REJECT_CODES,
    EVENT_SLOTS,
    HOPPER_JAM_FLAGS,
    MAX_DISPENSE,
    ROUTE_RETURN,
    ROUTE_STACK,
    BillValidator,
    CcTalkBus,
    CcTalkDevice,
    CcTalkError,
    CoinAcceptor,
    Hopper,
    NoReply,
    PayoutResult,
    RouteError,
    bill_event_name,
    coin_error_name,
    next_counter,
)

log = logging.getLogger(__name__)

ACCEPTED_COINS: tuple[int, ...] = (10, 50, 100, 500)
ACCEPTED_NOTES: tuple[int, ...] = (1000, 5000, 10000)
REFUSED_NOTES: tuple[int, ...] = (2000,)
COIN_ACCEPTOR = "coin_acceptor"
VERIFY_EVERY_POLLS = 10  # how often poll() also checks an acceptor's settings survived
BILL_VALIDATOR = "bill_validator"


def hopper_name(coin: int) -> str:
    """The device name of the hopper paying ``coin`` yen coins: ``"hopper_500"``."""
    return f"hopper_{coin}"


# --------------------------------------------------------------------------------------------
# events and errors
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoinAccepted:
    """A coin went into the cashbox: the kiosk has ``value`` yen more."""

    value: int
    # The acceptor's event counter at this event (None: a device without one). Not part of
    # equality: it is where the event sits in the device's history, not what happened.
    counter: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class NoteEscrowed:
    """A note is held in escrow: stack it or return it."""

    value: int
    # The acceptor's event counter at this event (None: a device without one). Not part of
    # equality: it is where the event sits in the device's history, not what happened.
    counter: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class NoteStacked:
    """The escrowed note went into the cashbox: the kiosk has ``value`` yen more."""

    value: int
    # The acceptor's event counter at this event (None: a device without one). Not part of
    # equality: it is where the event sits in the device's history, not what happened.
    counter: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class NoteReturned:
    """The escrowed note came back out to the resident (returned, or the escrow timed out)."""

    value: int
    # The acceptor's event counter at this event (None: a device without one). Not part of
    # equality: it is where the event sits in the device's history, not what happened.
    counter: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ChangePaid:
    """The hoppers paid ``value`` yen (one :meth:`CashBox.pay_out`)."""

    value: int


@dataclass(frozen=True)
class CashFault:
    """A device needs attention. ``code`` e.g. ``coin_jam``, ``note_jam``, ``hopper_empty``,
    ``hopper_jam``, ``no_reply``, ``device_reset``, ``cashbox_full``; ``message`` says what to do."""

    device: str
    code: str
    message: str


@dataclass(frozen=True)
class EventsLost:
    """The device had more events than its buffer holds between two polls; ``count`` are gone.

    Money may have been taken without a credit event: the kiosk should stop and call staff.
    """

    device: str
    count: int


CashEvent = CoinAccepted | NoteEscrowed | NoteStacked | NoteReturned | ChangePaid | CashFault | EventsLost


class CashError(Exception):
    """Root of the cash errors."""


class CashConfigError(CashError, ValueError):
    """A cash configuration that cannot be used; the message names the key and the fix."""


class CashStateError(CashError):
    """An operation that is not valid now (stack or return with no note in escrow, closed box)."""


class CashDeviceError(CashError):
    """A device failed or did not answer; the message names it and its address."""


# --------------------------------------------------------------------------------------------
# change (pure)
# --------------------------------------------------------------------------------------------


def plan_payout(amount: int, holdings: Mapping[int, int]) -> dict[int, int]:
    """Coins to pay ``amount`` greedily, largest first, using at most ``holdings[coin]`` of each.

    With 10/100/500 (each coin divides the next) greedy is optimal: if it cannot pay exactly,
    nothing can. The plan may pay less than ``amount`` when coins are short.
    """
    plan: dict[int, int] = {}
    remaining = amount
    for coin in sorted(holdings, reverse=True):
        count = min(remaining // coin, max(0, holdings[coin]))
        if count:
            plan[coin] = count
            remaining -= count * coin
    return plan


def plan_value(plan: Mapping[int, int]) -> int:
    """The yen a plan pays."""
    return sum(coin * count for coin, count in plan.items())


def _check_amount(amount: int, what: str) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError(f"{what}: {amount!r} is not an amount of yen (a whole number, 0 or more)")


@dataclass
class _Payout:
    """Bookkeeping of one pay_out across hoppers."""

    paid: int = 0
    faults: list[CashFault] = field(default_factory=list)
    stop: bool = False


def _pay_greedy(
    amount: int,
    holdings: Mapping[int, int],
    dispense: Callable[[int, int], tuple[int, CashFault | None, bool]],
) -> _Payout:
    """Pay ``amount`` hopper by hopper, largest coin first. ``dispense(coin, count)`` returns
    (coins paid, a fault or None, whether to stop everything); a hopper that pays short leaves
    the rest to the smaller ones."""
    out = _Payout()
    for coin in sorted(holdings, reverse=True):
        want = min((amount - out.paid) // coin, max(0, holdings[coin]))
        while want > 0:
            chunk = min(want, MAX_DISPENSE)
            paid, fault, stop = dispense(coin, chunk)
            out.paid += paid * coin
            want -= chunk
            if fault is not None:
                out.faults.append(fault)
            if stop:
                out.stop = True
                return out
            if paid < chunk:
                break
    return out


# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HopperConfig:
    """One hopper: its ccTalk address, the coin it pays and how many coins it holds now."""

    address: int
    coin: int
    count: int = 0


DEFAULT_HOPPERS = (HopperConfig(3, 500), HopperConfig(4, 100), HopperConfig(5, 10))


@dataclass(frozen=True)
class CashConfig:
    """The cash devices of one kiosk. Build it with :meth:`from_mapping` from the kiosk's config."""

    backend: str = "cctalk"
    port: str | None = None
    host_address: int = 1
    echo: bool = True
    coin_acceptor: int = 2
    bill_validator: int = 40
    hoppers: tuple[HopperConfig, ...] = DEFAULT_HOPPERS
    coins: tuple[int, ...] = ACCEPTED_COINS
    notes: tuple[int, ...] = ACCEPTED_NOTES
    country: str = "JP"
    protected_hoppers: bool = True
    reply_timeout_s: float = 0.2
    retries: int = 2
    payout_timeout_s: float = 30.0
    payout_poll_s: float = 0.05

    @classmethod
    def from_mapping(cls, doc: Mapping[str, Any], where: str = "cash") -> CashConfig:
        """Validate a parsed config section; :class:`CashConfigError` names the first bad key."""
        return _parse(doc, where)


_KNOWN = {
    "backend",
    "port",
    "host_address",
    "echo",
    "coin_acceptor",
    "bill_validator",
    "hoppers",
    "coins",
    "notes",
    "country",
    "protected_hoppers",
    "reply_timeout_s",
    "retries",
    "payout_timeout_s",
    "payout_poll_s",
}
_BACKENDS = ("cctalk", "fake")


def _int(value: Any, path: str, low: int, high: int, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CashConfigError(f"{path}: expected {hint} ({low}..{high}), got {value!r}")
    return value


def _number(value: Any, path: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low < value <= high:
        raise CashConfigError(f"{path}: expected a number of seconds above {low:g} and at most {high:g}, got {value!r}")
    return float(value)


def _unknown(doc: Mapping[str, Any], known: set[str], path: str) -> None:
    extra = sorted(set(doc) - known)
    if extra:
        raise CashConfigError(f"{path}.{extra[0]}: unknown key; allowed keys are {', '.join(sorted(known))}")


def _address(doc: Mapping[str, Any], key: str, default: int, path: str) -> int:
    raw = doc.get(key, {"address": default})
    if isinstance(raw, Mapping):
        _unknown(raw, {"address"}, f"{path}.{key}")
        raw = raw.get("address", default)
    return _int(raw, f"{path}.{key}.address", 2, 255, "a ccTalk address")


def _parse(doc: Mapping[str, Any], where: str) -> CashConfig:
    if not isinstance(doc, Mapping):
        raise CashConfigError(f"{where}: expected a table of cash settings, got {doc!r}")
    _unknown(doc, _KNOWN, where)
    backend = doc.get("backend", "cctalk")
    if backend not in _BACKENDS:
        raise CashConfigError(f"{where}.backend: {backend!r} is not a cash backend; use one of {', '.join(_BACKENDS)}")
    port = doc.get("port")
    if port is not None and (not isinstance(port, str) or not port):
        raise CashConfigError(f'{where}.port: expected the serial port path, e.g. "/dev/serial/by-id/usb-…"')
    if backend == "cctalk" and port is None:
        raise CashConfigError(f'{where}.port: missing; give the ccTalk adapter\'s path, e.g. "/dev/serial/by-id/usb-…"')
    host = _int(doc.get("host_address", 1), f"{where}.host_address", 1, 255, "a ccTalk address")
    echo = doc.get("echo", True)
    protected = doc.get("protected_hoppers", True)
    for key, flag in (("echo", echo), ("protected_hoppers", protected)):
        if not isinstance(flag, bool):
            raise CashConfigError(f"{where}.{key}: expected true or false, got {flag!r}")
    coin_acceptor = _address(doc, "coin_acceptor", 2, where)
    bill_validator = _address(doc, "bill_validator", 40, where)

    raw_hoppers = doc.get("hoppers")
    hoppers: list[HopperConfig] = []
    if raw_hoppers is None:
        hoppers = list(DEFAULT_HOPPERS)
    elif not isinstance(raw_hoppers, list) or not raw_hoppers:
        raise CashConfigError(f"{where}.hoppers: expected a list of {{address, coin, count}} tables")
    else:
        for i, raw in enumerate(raw_hoppers):
            path = f"{where}.hoppers[{i}]"
            if not isinstance(raw, Mapping):
                raise CashConfigError(f"{path}: expected a table with address, coin and count")
            _unknown(raw, {"address", "coin", "count"}, path)
            if "address" not in raw or "coin" not in raw:
                missing = "address" if "address" not in raw else "coin"
                raise CashConfigError(f"{path}.{missing}: missing; each hopper needs its ccTalk address and coin value")
            address = _int(raw["address"], f"{path}.address", 2, 255, "a ccTalk address")
            coin = raw["coin"]
            if coin not in ACCEPTED_COINS or isinstance(coin, bool):
                raise CashConfigError(
                    f"{path}.coin: {coin!r} is not a yen coin the kiosk handles; use one of 10, 50, 100, 500"
                )
            if any(h.coin == coin for h in hoppers):
                raise CashConfigError(f"{path}.coin: two hoppers pay {coin} yen coins; give each hopper its own coin")
            count = _int(raw.get("count", 0), f"{path}.count", 0, 100_000, "the number of coins in the hopper")
            hoppers.append(HopperConfig(address, coin, count))

    addresses: dict[int, str] = {host: f"{where}.host_address"}
    for address, path in [
        (coin_acceptor, f"{where}.coin_acceptor.address"),
        (bill_validator, f"{where}.bill_validator.address"),
        *[(h.address, f"{where}.hoppers[{i}].address") for i, h in enumerate(hoppers)],
    ]:
        if address in addresses:
            raise CashConfigError(
                f"{path}: address {address} is already used by {addresses[address]}; every device needs its own"
            )
        addresses[address] = path

    def values(key: str, allowed: tuple[int, ...], default: tuple[int, ...], kind: str) -> tuple[int, ...]:
        raw = doc.get(key, list(default))
        if not isinstance(raw, list) or not raw:
            raise CashConfigError(f"{where}.{key}: expected a list of {kind} values, e.g. {list(default)}")
        for value in raw:
            if value in REFUSED_NOTES:
                raise CashConfigError(f"{where}.{key}: {value} yen notes are refused by the kiosk; remove {value}")
            if isinstance(value, bool) or value not in allowed:
                raise CashConfigError(
                    f"{where}.{key}: {value!r} is not a {kind} the kiosk takes; use some of {list(allowed)}"
                )
        return tuple(sorted(set(raw)))

    coins = values("coins", ACCEPTED_COINS, ACCEPTED_COINS, "coin")
    notes = values("notes", ACCEPTED_NOTES, ACCEPTED_NOTES, "note")
    country = doc.get("country", "JP")
    if not isinstance(country, str) or len(country) != 2 or not country.isalpha():
        raise CashConfigError(f'{where}.country: expected a 2-letter ccTalk country code such as "JP", got {country!r}')
    return CashConfig(
        backend=backend,
        port=port,
        host_address=host,
        echo=echo,
        coin_acceptor=coin_acceptor,
        bill_validator=bill_validator,
        hoppers=tuple(hoppers),
        coins=coins,
        notes=notes,
        country=country,
        protected_hoppers=protected,
        reply_timeout_s=_number(doc.get("reply_timeout_s", 0.2), f"{where}.reply_timeout_s", 0, 10),
        retries=_int(doc.get("retries", 2), f"{where}.retries", 0, 10, "a number of retries"),
        payout_timeout_s=_number(doc.get("payout_timeout_s", 30.0), f"{where}.payout_timeout_s", 0, 600),
        payout_poll_s=_number(doc.get("payout_poll_s", 0.05), f"{where}.payout_poll_s", 0, 5),
    )


# --------------------------------------------------------------------------------------------
# the interface
# --------------------------------------------------------------------------------------------


class CashBox(ABC):
    """The kiosk's cash devices: take coins and notes, hold a note in escrow, pay change."""

    @abstractmethod
    def accept(self, max_note: int | None) -> None:
        """Accept coins, and notes up to ``max_note`` yen (None: no notes)."""

    @abstractmethod
    def inhibit(self) -> None:
        """Accept nothing (master inhibit on every acceptor)."""

    @abstractmethod
    def poll(self) -> list[CashEvent]:
        """The events since the last poll, oldest first."""

    @abstractmethod
    def stack_note(self) -> None:
        """Send the escrowed note to the cashbox (a :class:`NoteStacked` follows)."""

    @abstractmethod
    def return_note(self) -> None:
        """Hand the escrowed note back (a :class:`NoteReturned` follows)."""

    @abstractmethod
    def pay_out(self, amount: int) -> int:
        """Pay ``amount`` yen from the hoppers; returns the yen really paid (less when they run dry)."""

    @abstractmethod
    def can_pay(self, amount: int) -> bool:
        """Whether the hoppers can pay exactly ``amount`` yen (False: ask for the exact amount)."""

    @abstractmethod
    def close(self) -> None:
        """Stop accepting and release the devices."""

    @abstractmethod
    def cursor(self) -> dict[str, int]:
        """Each acceptor's event counter as of the last poll (what :meth:`resume` takes back)."""

    @abstractmethod
    def resume(self, cursor: Mapping[str, int]) -> None:
        """Report again, at the next :meth:`poll`, what each acceptor saw after ``cursor``.

        ``cursor`` maps an acceptor (:data:`COIN_ACCEPTOR`, :data:`BILL_VALIDATOR`) to the
        event counter of the last event the kiosk made durable. Coins taken in the last moments
        before a crash sit in the acceptor's buffer past that counter: resuming credits them
        (and the restarted kiosk gives them back) instead of treating them as history.
        """

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _check_max_note(max_note: int | None) -> None:
    if max_note is not None:
        _check_amount(max_note, "max_note")


_NO_ESCROW = "no note is in escrow: stack_note and return_note are only valid after a NoteEscrowed event"
_ROUTED = "the note in escrow was already sent to be stacked or returned; wait for its event"


# --------------------------------------------------------------------------------------------
# ccTalk backend
# --------------------------------------------------------------------------------------------

_COIN_FAULTS: dict[int, tuple[str, str]] = {
    29: ("coin_acceptor_fault", "the accept gate was forced open"),
    30: ("coin_acceptor_fault", "the accept gate does not open"),
    35: ("coin_acceptor_fault", "the motor failed"),
    36: ("swallowed_coin", "a coin went in without being recognised (no credit given)"),
    254: ("coin_return_open", "the coin return lever or flight deck is open; close it"),
}
_BILL_FAULTS: dict[int, tuple[str, str]] = {
    11: ("cashbox_removed", "the note cashbox was removed; put it back"),
    13: ("bill_validator_fault", "the stacker is faulty"),
    14: ("cashbox_full", "the note cashbox is full; empty it"),
    19: ("bill_validator_fault", "the anti-string mechanism is faulty"),
}
_EXPECTED_CATEGORY = {COIN_ACCEPTOR: "Coin Acceptor", BILL_VALIDATOR: "Bill Validator"}


class CcTalkCashBox(CashBox):
    """The cash box on a ccTalk bus. ``start()`` (or :meth:`connect`) identifies the devices,
    reads their coin and note tables and inhibits everything; nothing is sent before."""

    def __init__(
        self,
        bus: CcTalkBus,
        config: CashConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.bus = bus
        self.config = config
        self._clock = clock
        self._sleep = sleep
        self._coins = CoinAcceptor(bus, config.coin_acceptor)
        self._bills = BillValidator(bus, config.bill_validator)
        self._hoppers: dict[int, Hopper] = {
            h.coin: Hopper(bus, h.address, protected=config.protected_hoppers) for h in config.hoppers
        }
        self._counts: dict[int, int] = {h.coin: h.count for h in config.hoppers}
        self._out_of_service: set[int] = set()  # hoppers that jammed, until refilled
        self._coin_values: dict[int, int] = {}
        self._bill_values: dict[int, int] = {}
        self._pending: list[CashEvent] = []
        self._escrow: int | None = None
        self._escrow_routed = False
        self._accepting = False
        self._max_note: int | None = None
        self._silent: set[str] = set()  # devices whose no_reply fault was reported
        self._polls = 0
        self._lock = threading.RLock()
        self._started = False
        self._closed = False

    @classmethod
    def connect(cls, config: CashConfig | Mapping[str, Any]) -> CcTalkCashBox:
        """Open the configured port and :meth:`start`."""
        cfg = config if isinstance(config, CashConfig) else CashConfig.from_mapping(config)
        if cfg.port is None:
            raise CashConfigError('cash.port: missing; give the ccTalk adapter\'s path, e.g. "/dev/serial/by-id/usb-…"')
        try:
            bus = CcTalkBus.open(
                cfg.port,
                host_address=cfg.host_address,
                echo=cfg.echo,
                reply_timeout=cfg.reply_timeout_s,
                retries=cfg.retries,
            )
        except CcTalkError as err:
            raise CashDeviceError(str(err)) from err
        box = cls(bus, cfg)
        try:
            box.start()
        except BaseException:
            bus.close()
            raise
        return box

    # -- state for other parts of the kiosk --------------------------------------------------------

    @property
    def hopper_counts(self) -> dict[int, int]:
        """Coin → coins the cash box believes each hopper holds (persist it across restarts)."""
        with self._lock:
            return dict(self._counts)

    @property
    def coin_values(self) -> dict[int, int]:
        """Coin acceptor position → yen, as read from the device."""
        return dict(self._coin_values)

    @property
    def note_values(self) -> dict[int, int]:
        """Bill type → yen, as read from the device."""
        return dict(self._bill_values)

    def refill(self, coin: int, count: int) -> None:
        """Staff filled (or emptied) the ``coin`` hopper: it now holds ``count`` coins."""
        _check_amount(count, "count")
        with self._lock:
            if coin not in self._hoppers:
                raise ValueError(f"no hopper pays {coin} yen coins; hoppers pay {sorted(self._hoppers)}")
            self._counts[coin] = count
            self._out_of_service.discard(coin)

    # -- life cycle --------------------------------------------------------------------------------

    def _label(self, name: str) -> str:
        if name == COIN_ACCEPTOR:
            return f"coin acceptor (ccTalk address {self._coins.address})"
        if name == BILL_VALIDATOR:
            return f"bill validator (ccTalk address {self._bills.address})"
        coin = int(name.rsplit("_", 1)[1])
        return f"{coin}-yen hopper (ccTalk address {self._hoppers[coin].address})"

    def _device_error(self, name: str, doing: str, err: CcTalkError) -> CashDeviceError:
        return CashDeviceError(f"{self._label(name)}: {doing} failed: {err}")

    def start(self) -> Self:
        """Identify every device, read coin and note tables, inhibit everything."""
        with self._lock:
            config = self.config
            self._identify(COIN_ACCEPTOR, self._coins)
            self._identify(BILL_VALIDATOR, self._bills)
            for coin, hopper in self._hoppers.items():
                self._identify(hopper_name(coin), hopper)
            try:
                table = self._coins.coin_values(config.country)
            except CcTalkError as err:
                raise self._device_error(COIN_ACCEPTOR, "reading the coin table", err) from err
            self._coin_values = {p: v for p, v in table.items() if v in config.coins}
            missing = sorted(set(config.coins) - set(self._coin_values.values()))
            if missing:
                log.warning("coin acceptor knows no %s coin(s) %s; they will be rejected", config.country, missing)
            try:
                table = self._bills.bill_values(config.country)
                self._bills.set_operating_mode(stacker=True, escrow=True)
            except CcTalkError as err:
                raise self._device_error(BILL_VALIDATOR, "reading the note table", err) from err
            self._bill_values = {t: v for t, v in table.items() if v in config.notes}
            self._accepting = False
            self._apply(COIN_ACCEPTOR)
            self._apply(BILL_VALIDATOR)
            try:
                self._coins.poll_events()  # the first read sets the baseline: older events are history
            except CcTalkError as err:
                raise self._device_error(COIN_ACCEPTOR, "reading its events", err) from err
            try:
                self._bills.poll_events()
            except CcTalkError as err:
                raise self._device_error(BILL_VALIDATOR, "reading its events", err) from err
            self._started = True
            log.info(
                "cash box ready: coins %s, notes %s, hoppers %s", self._coin_values, self._bill_values, self._counts
            )
        return self

    def cursor(self) -> dict[str, int]:
        """Each acceptor's event counter as of the last poll (after start: its baseline)."""
        with self._lock:
            self._check_open()
            pairs = ((COIN_ACCEPTOR, self._coins.last_counter), (BILL_VALIDATOR, self._bills.last_counter))
            return {name: counter for name, counter in pairs if counter is not None}

    def resume(self, cursor: Mapping[str, int]) -> None:
        """Take each acceptor's journalled counter as the last event seen (see :meth:`CashBox.resume`).

        The next poll reports the events after it, up to the five the buffer holds (more are
        reported as :class:`EventsLost`). A device reset since then shows as ``device_reset``.
        """
        with self._lock:
            self._check_open()
            for name, counter in cursor.items():
                if name not in (COIN_ACCEPTOR, BILL_VALIDATOR):
                    raise ValueError(f"cash cursor: no acceptor {name!r}; use {COIN_ACCEPTOR!r} or {BILL_VALIDATOR!r}")
                if isinstance(counter, bool) or not isinstance(counter, int) or not 0 <= counter <= 255:
                    raise ValueError(f"cash cursor: {name} = {counter!r}; an event counter is 0..255")
                device = self._coins if name == COIN_ACCEPTOR else self._bills
                if device.last_counter != counter:
                    log.info("%s: resuming after event %d (now at %s)", self._label(name), counter, device.last_counter)
                device.last_counter = counter

    def _identify(self, name: str, device: CcTalkDevice) -> None:
        try:
            device.simple_poll()
            category = device.equipment_category()
        except NoReply as err:
            raise CashDeviceError(
                f"{self._label(name)} does not answer: check that it is powered, cabled to the ccTalk bus and set "
                f"to address {device.address} ({err})"
            ) from err
        except CcTalkError as err:
            raise self._device_error(name, "identifying it", err) from err
        expected = _EXPECTED_CATEGORY.get(name, "Payout")
        if category.lower() != expected.lower():
            raise CashDeviceError(
                f"{self._label(name)}: the device at address {device.address} says it is a {category!r}, not a "
                f"{expected!r}; check the addresses in the cash configuration"
            )

    def close(self) -> None:
        """Inhibit everything (best effort) and close the port."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._started:
                self._accepting = False
                for name in (COIN_ACCEPTOR, BILL_VALIDATOR):
                    try:
                        self._apply(name)
                    except CashDeviceError as err:
                        log.warning("closing the cash box: %s", err)
            self.bus.close()

    def _check_open(self) -> None:
        if self._closed:
            raise CashStateError("the cash box is closed")
        if not self._started:
            raise CashStateError("the cash box was not started; call start() first")

    # -- accepting ---------------------------------------------------------------------------------

    def accept(self, max_note: int | None) -> None:
        """Accept the configured coins, and notes up to ``max_note`` yen (None: no notes)."""
        _check_max_note(max_note)
        with self._lock:
            self._check_open()
            self._accepting = True
            self._max_note = max_note
            self._apply(COIN_ACCEPTOR)
            self._apply(BILL_VALIDATOR)

    def inhibit(self) -> None:
        """Accept nothing."""
        with self._lock:
            self._check_open()
            self._accepting = False
            self._apply(COIN_ACCEPTOR)
            self._apply(BILL_VALIDATOR)

    def _wanted(self, name: str) -> list[int]:
        """The positions (coins) or bill types the acceptor should take now."""
        if not self._accepting:
            return []
        if name == COIN_ACCEPTOR:
            return sorted(self._coin_values)
        limit = self._max_note
        return sorted(t for t, v in self._bill_values.items() if limit is not None and v <= limit)

    def _apply(self, name: str) -> None:
        """Send the current accept state to one acceptor (also after it was reset)."""
        device: CoinAcceptor | BillValidator = self._coins if name == COIN_ACCEPTOR else self._bills
        enabled = self._wanted(name)
        try:
            device.set_inhibits(enabled)
            device.set_master_inhibit(not enabled)
        except CcTalkError as err:
            raise self._device_error(name, "setting what it accepts", err) from err

    # -- events ------------------------------------------------------------------------------------

    def poll(self) -> list[CashEvent]:
        """Read both acceptors; return the new events (and those queued by pay_out)."""
        with self._lock:
            self._check_open()
            events, self._pending = self._pending, []
            self._polls += 1
            events += self._poll_device(COIN_ACCEPTOR)
            events += self._poll_device(BILL_VALIDATOR)
            return events

    def _fault_no_reply(self, name: str, err: CcTalkError) -> list[CashEvent]:
        if name in self._silent:
            return []
        self._silent.add(name)
        log.warning("%s: %s", self._label(name), err)
        what = "does not answer" if isinstance(err, NoReply) else "fails to talk"
        return [
            CashFault(
                name,
                "no_reply",
                f"{self._label(name)} {what}: check its power and the ccTalk cable ({err})",
            )
        ]

    def _poll_device(self, name: str) -> list[CashEvent]:
        device: CoinAcceptor | BillValidator = self._coins if name == COIN_ACCEPTOR else self._bills
        try:
            delta = device.poll_events()
        except CcTalkError as err:
            return self._fault_no_reply(name, err)
        events: list[CashEvent] = []
        verify = self._polls % VERIFY_EVERY_POLLS == 0
        if name in self._silent:
            self._silent.discard(name)
            verify = True  # it may have been switched off and on while silent
            log.info("%s answers again", self._label(name))
        if not delta.reset and verify:
            # A reset with no events before or after it leaves the counter at 0 and is
            # invisible in the event buffer; the master inhibit flag shows it.
            try:
                reset = device.master_inhibited() != (not self._wanted(name))
            except CcTalkError as err:
                return events + self._fault_no_reply(name, err)
            if reset:
                delta = dataclasses.replace(delta, reset=True)  # keeps each event's counter
        if delta.reset:
            events.append(
                CashFault(name, "device_reset", f"{self._label(name)} restarted; its settings were sent again")
            )
            if name == BILL_VALIDATOR and self._escrow is not None:
                events.append(NoteReturned(self._escrow))  # a reset hands the escrowed note back
                self._escrow = None
            try:
                if name == BILL_VALIDATOR:
                    self._bills.set_operating_mode(stacker=True, escrow=True)
                self._apply(name)
            except (CashDeviceError, CcTalkError) as err:
                events.append(CashFault(name, "no_reply", str(err)))
        if delta.lost:
            log.error("%s: %d events lost", self._label(name), delta.lost)
            events.append(EventsLost(name, delta.lost))
        handle = self._coin_event if name == COIN_ACCEPTOR else self._bill_event
        counters: tuple[int | None, ...] = delta.counters or (None,) * len(delta.events)
        for (a, b), counter in zip(delta.events, counters, strict=True):
            events += handle(a, b, counter)
        return events

    def _coin_event(self, a: int, b: int, counter: int | None = None) -> list[CashEvent]:
        if a:
            value = self._coin_values.get(a)
            if value is None:
                return [
                    CashFault(
                        COIN_ACCEPTOR,
                        "unknown_coin",
                        f"a coin of position {a} was accepted but the kiosk gives it no value; "
                        "check the acceptor's inhibits",
                    )
                ]
            return [CoinAccepted(value, counter)]
        if b == 0:
            return []
        name = coin_error_name(b)
        if b in COIN_JAM_CODES:
            return [
                CashFault(
                    COIN_ACCEPTOR,
                    "coin_jam",
                    f"a coin is jammed in the coin acceptor ({name}, error {b}); open it and clear the coin",
                )
            ]
        if b in _COIN_FAULTS:
            code, text = _COIN_FAULTS[b]
            return [CashFault(COIN_ACCEPTOR, code, f"coin acceptor: {text} ({name}, error {b})")]
        if b in COIN_REJECT_CODES or 128 <= b <= 159:
            log.info("coin acceptor: coin handed back (%s)", name)
        else:
            log.warning("coin acceptor: %s (error %d)", name, b)
        return []

    def _bill_event(self, a: int, b: int, counter: int | None = None) -> list[CashEvent]:
        if a:
            value = self._bill_values.get(a)
            if value is None:
                return [
                    CashFault(
                        BILL_VALIDATOR, "unknown_note", f"a note of type {a} was taken but the kiosk gives it no value"
                    )
                ]
            if b == 1:
                self._escrow = value
                self._escrow_routed = False
                return [NoteEscrowed(value, counter)]
            self._escrow = None
            return [NoteStacked(value, counter)]
        if b == BILL_RETURNED:
            value, self._escrow = self._escrow, None
            if value is None:
                log.warning("bill validator returned a note the kiosk did not know was in escrow")
                return []
            return [NoteReturned(value, counter)]
        name = bill_event_name(b)
        if b in BILL_JAM_CODES:
            return [
                CashFault(
                    BILL_VALIDATOR,
                    "note_jam",
                    f"a note is jammed in the bill validator ({name}, status {b}); open it and clear the note",
                )
            ]
        if b in _BILL_FAULTS:
            code, text = _BILL_FAULTS[b]
            return [CashFault(BILL_VALIDATOR, code, f"bill validator: {text} ({name}, status {b})")]
        log.info("bill validator: %s (status %d)", name, b)
        return []

    # -- escrow ------------------------------------------------------------------------------------

    def stack_note(self) -> None:
        """Send the escrowed note to the cashbox."""
        self._route(ROUTE_STACK)

    def return_note(self) -> None:
        """Hand the escrowed note back."""
        self._route(ROUTE_RETURN)

    def _route(self, route: int) -> None:
        with self._lock:
            self._check_open()
            if self._escrow is None:
                raise CashStateError(_NO_ESCROW)
            if self._escrow_routed:
                raise CashStateError(_ROUTED)
            doing = "stacking the note" if route == ROUTE_STACK else "returning the note"
            try:
                self._bills.route_bill(route)
            except RouteError as err:
                self._escrow_routed = True  # whatever happened, this note cannot be routed again
                if err.code == 254:
                    raise CashStateError(
                        "the bill validator holds no note (the escrow timed out and the note is coming back)"
                    ) from err
                raise self._device_error(BILL_VALIDATOR, doing, err) from err
            except CcTalkError as err:
                raise self._device_error(BILL_VALIDATOR, doing, err) from err
            self._escrow_routed = True

    # -- change ------------------------------------------------------------------------------------

    def pay_out(self, amount: int) -> int:
        """Pay ``amount`` yen, largest coins first; a hopper that runs dry leaves the rest to the
        smaller ones. Blocks while the hoppers run. A :class:`ChangePaid` event and any faults
        come with the next poll."""
        _check_amount(amount, "pay_out amount")
        with self._lock:
            self._check_open()
            holdings = {c: n for c, n in self._counts.items() if c not in self._out_of_service}
            result = _pay_greedy(amount, holdings, self._dispense)
            self._pending += result.faults
            if result.paid:
                self._pending.append(ChangePaid(result.paid))
            if result.paid != amount:
                log.warning("paid %d of %d yen", result.paid, amount)
            return result.paid

    def _dispense(self, coin: int, count: int) -> tuple[int, CashFault | None, bool]:
        name = hopper_name(coin)
        hopper = self._hoppers[coin]
        try:
            result: PayoutResult = hopper.pay(
                count,
                timeout=self.config.payout_timeout_s,
                poll_interval=self.config.payout_poll_s,
                clock=self._clock,
                sleep=self._sleep,
            )
        except CcTalkError as err:
            # The outcome of this command is unknown: paying more from other hoppers could pay
            # twice, so stop here; the kiosk owes the rest (refund slip) and staff check the hopper.
            self._out_of_service.add(coin)
            return (
                0,
                CashFault(name, "no_reply", f"{self._label(name)}: the payout failed, coins paid unknown: {err}"),
                True,
            )
        self._counts[coin] = max(0, self._counts[coin] - result.paid)
        if not result.unpaid:
            return result.paid, None, False
        if result.flags & HOPPER_JAM_FLAGS:
            self._out_of_service.add(coin)
            code, text = "hopper_jam", "a coin is jammed in the exit; clear it"
        else:
            self._counts[coin] = 0
            code, text = "hopper_empty", "it ran out of coins; refill it"
        flags = ", ".join(sorted(result.flags)) or "none"
        message = f"{self._label(name)}: paid {result.paid} of {count} coins: {text} (flags: {flags})"
        return result.paid, CashFault(name, code, message), False

    def can_pay(self, amount: int) -> bool:
        """Whether the hoppers can pay exactly ``amount``; a hopper reporting low counts as empty."""
        _check_amount(amount, "can_pay amount")
        if amount == 0:
            return True
        with self._lock:
            self._check_open()
            holdings: dict[int, int] = {}
            for coin, hopper in self._hoppers.items():
                if coin in self._out_of_service or not self._counts[coin]:
                    continue
                name = hopper_name(coin)
                try:
                    low = hopper.level().low
                except CcTalkError as err:
                    self._pending += self._fault_no_reply(name, err)
                    continue
                self._silent.discard(name)
                if not low:
                    holdings[coin] = self._counts[coin]
            return plan_value(plan_payout(amount, holdings)) == amount


# --------------------------------------------------------------------------------------------
# in-memory backend
# --------------------------------------------------------------------------------------------


class FakeCashBox(CashBox):
    """A behavioural model of the kiosk's cash devices, for kiosk tests without a bus.

    It behaves like :class:`CcTalkCashBox` over the simulator: inhibited coins and notes go
    back to the tray without an event, one note at a time is held in escrow, hoppers have real
    coin counts, and a hopper at or below ``low_level`` coins counts as empty for
    :meth:`can_pay`. Control methods play the resident (``insert_coin``, ``insert_note``) and
    faults (``jam_coins``, ``jam_next_note``, ``jam_hopper``, ``set_offline``, ``lose_events``).
    Money lists: ``inserted``, ``cashbox``, ``returned``, ``dispensed``, ``jammed``.
    """

    def __init__(
        self,
        *,
        hoppers: Mapping[int, int] | None = None,
        coins: tuple[int, ...] = ACCEPTED_COINS,
        notes: tuple[int, ...] = ACCEPTED_NOTES,
        low_level: int = 10,
    ) -> None:
        self.hoppers: dict[int, int] = dict(hoppers if hoppers is not None else {500: 50, 100: 50, 10: 100})
        self.coins = coins
        self.notes = notes
        self.low_level = low_level
        self.inserted: list[int] = []
        self.cashbox: list[int] = []
        self.returned: list[int] = []
        self.dispensed: list[int] = []
        self.jammed: list[int] = []
        self.escrow: int | None = None
        self.accepting = False
        self.max_note: int | None = None
        self.closed = False
        self._events: list[CashEvent] = []
        self._coin_jam = False
        self._note_jam = False
        self._jam_next_note = False
        self._jammed_hoppers: set[int] = set()
        self._offline: set[str] = set()
        self._reported_offline: set[str] = set()
        # Each acceptor's event counter and its last five money events, as a ccTalk device
        # keeps them: they outlive a kiosk process that dies between a poll and its journal.
        self.counters: dict[str, int] = {COIN_ACCEPTOR: 0, BILL_VALIDATOR: 0}
        self._history: dict[str, list[CashEvent]] = {COIN_ACCEPTOR: [], BILL_VALIDATOR: []}
        self._lock = threading.RLock()

    def _money_event(self, event: CoinAccepted | NoteEscrowed | NoteStacked | NoteReturned) -> None:
        """Number ``event`` on its acceptor's counter, remember it and queue it for the next poll."""
        device = COIN_ACCEPTOR if isinstance(event, CoinAccepted) else BILL_VALIDATOR
        counter = next_counter(self.counters[device])
        self.counters[device] = counter
        numbered = type(event)(event.value, counter)
        self._history[device] = [*self._history[device], numbered][-EVENT_SLOTS:]
        self._events.append(numbered)

    def cursor(self) -> dict[str, int]:
        """Each acceptor's event counter (the model numbers events as they happen)."""
        with self._lock:
            return dict(self.counters)

    def reopen(self) -> Self:
        """A new kiosk process opens the devices: like :meth:`CcTalkCashBox.start`, it takes the
        events it did not read as history (until :meth:`resume` asks for them again)."""
        with self._lock:
            self.closed = False
            self.accepting = False
            self._events = []
            return self

    def resume(self, cursor: Mapping[str, int]) -> None:
        """Queue again each acceptor's events after ``cursor`` that are not queued already."""
        with self._lock:
            self._check_open()
            replay: list[CashEvent] = []
            for device, counter in cursor.items():
                if device not in self._history:
                    raise ValueError(
                        f"cash cursor: no acceptor {device!r}; use {COIN_ACCEPTOR!r} or {BILL_VALIDATOR!r}"
                    )
                if isinstance(counter, bool) or not isinstance(counter, int) or not 0 <= counter <= 255:
                    raise ValueError(f"cash cursor: {device} = {counter!r}; an event counter is 0..255")
                now = self.counters[device]
                new = 0 if now in (0, counter) else (now - counter) % 255
                if new > EVENT_SLOTS:
                    replay.append(EventsLost(device, new - EVENT_SLOTS))
                queued = {id(e) for e in self._events}
                history = self._history[device][-new:] if new else []
                replay += [e for e in history if id(e) not in queued]
            self._events = replay + self._events

    # -- the interface -----------------------------------------------------------------------------

    def _check_open(self, device: str | None = None) -> None:
        if self.closed:
            raise CashStateError("the cash box is closed")
        if device is not None and device in self._offline:
            raise CashDeviceError(f"{device} does not answer: check its power and cable")

    def accept(self, max_note: int | None) -> None:
        """Accept coins, and notes up to ``max_note``."""
        _check_max_note(max_note)
        with self._lock:
            self._check_open(COIN_ACCEPTOR)
            self._check_open(BILL_VALIDATOR)
            self.accepting = True
            self.max_note = max_note

    def inhibit(self) -> None:
        """Accept nothing."""
        with self._lock:
            self._check_open()
            self.accepting = False

    def poll(self) -> list[CashEvent]:
        """Events since the last poll."""
        with self._lock:
            self._check_open()
            events, self._events = self._events, []
            for device in sorted(self._offline - self._reported_offline):
                self._reported_offline.add(device)
                events.append(CashFault(device, "no_reply", f"{device} does not answer: check its power and cable"))
            return events

    def stack_note(self) -> None:
        """Escrowed note → cashbox."""
        with self._lock:
            self._check_open(BILL_VALIDATOR)
            if self.escrow is None:
                raise CashStateError(_NO_ESCROW)
            value, self.escrow = self.escrow, None
            self.cashbox.append(value)
            self._money_event(NoteStacked(value))

    def return_note(self) -> None:
        """Escrowed note → back to the resident."""
        with self._lock:
            self._check_open(BILL_VALIDATOR)
            if self.escrow is None:
                raise CashStateError(_NO_ESCROW)
            value, self.escrow = self.escrow, None
            self.returned.append(value)
            self._money_event(NoteReturned(value))

    def pay_out(self, amount: int) -> int:
        """Pay from the hoppers, largest coins first."""
        _check_amount(amount, "pay_out amount")
        with self._lock:
            self._check_open()
            holdings = {c: n for c, n in self.hoppers.items() if hopper_name(c) not in self._offline}
            result = _pay_greedy(amount, holdings, self._dispense)
            self._events += result.faults
            if result.paid:
                self._events.append(ChangePaid(result.paid))
            return result.paid

    def _dispense(self, coin: int, count: int) -> tuple[int, CashFault | None, bool]:
        name = hopper_name(coin)
        if coin in self._jammed_hoppers:
            self._jammed_hoppers.discard(coin)
            return 0, CashFault(name, "hopper_jam", f"the {coin}-yen hopper jammed; clear it"), False
        paid = min(count, self.hoppers[coin])
        self.hoppers[coin] -= paid
        self.dispensed += [coin] * paid
        if paid < count:
            return paid, CashFault(name, "hopper_empty", f"the {coin}-yen hopper ran out of coins; refill it"), False
        return paid, None, False

    def can_pay(self, amount: int) -> bool:
        """Exact change possible from hoppers above their low level."""
        _check_amount(amount, "can_pay amount")
        with self._lock:
            self._check_open()
            holdings = {
                c: n
                for c, n in self.hoppers.items()
                if n > self.low_level and c not in self._jammed_hoppers and hopper_name(c) not in self._offline
            }
            return plan_value(plan_payout(amount, holdings)) == amount

    def close(self) -> None:
        """Stop accepting."""
        with self._lock:
            self.accepting = False
            self.closed = True

    # -- the resident ------------------------------------------------------------------------------

    def insert_coin(self, value: int) -> bool:
        """A coin goes in; True if it was credited."""
        with self._lock:
            self.inserted.append(value)
            if self._coin_jam or not self.accepting or value not in self.coins or COIN_ACCEPTOR in self._offline:
                self.returned.append(value)
                return False
            self.cashbox.append(value)
            self._money_event(CoinAccepted(value))
            return True

    def insert_note(self, value: int) -> bool:
        """A note goes in; True if it is now in escrow."""
        with self._lock:
            self.inserted.append(value)
            if self.escrow is not None or self._note_jam or BILL_VALIDATOR in self._offline:
                self.returned.append(value)
                return False
            if self._jam_next_note:
                self._jam_next_note = False
                self._note_jam = True
                self.jammed.append(value)
                self._events.append(
                    CashFault(
                        BILL_VALIDATOR, "note_jam", "a note is jammed in the bill validator; open it and clear it"
                    )
                )
                return False
            if not self.accepting or self.max_note is None or value > self.max_note or value not in self.notes:
                self.returned.append(value)
                return False
            self.escrow = value
            self._money_event(NoteEscrowed(value))
            return True

    def expire_escrow(self) -> None:
        """The escrow timeout runs out: the note comes back."""
        with self._lock:
            if self.escrow is not None:
                self.returned.append(self.escrow)
                self._money_event(NoteReturned(self.escrow))
                self.escrow = None

    @property
    def tray(self) -> list[int]:
        """Everything in the return tray."""
        return self.returned + self.dispensed

    # -- staff and faults --------------------------------------------------------------------------

    def set_hopper(self, coin: int, count: int) -> None:
        """Fill or empty a hopper."""
        with self._lock:
            if coin not in self.hoppers:
                raise ValueError(f"no hopper pays {coin} yen coins")
            self.hoppers[coin] = count

    def jam_coins(self) -> None:
        """A coin sticks in the acceptor: a coin_jam fault now, later coins bounce."""
        with self._lock:
            self._coin_jam = True
            self._events.append(
                CashFault(
                    COIN_ACCEPTOR, "coin_jam", "a coin is jammed in the coin acceptor; open it and clear the coin"
                )
            )

    def clear_coin_jam(self) -> None:
        """Staff cleared the coin acceptor."""
        with self._lock:
            self._coin_jam = False

    def jam_next_note(self) -> None:
        """The next note jams in the validator."""
        with self._lock:
            self._jam_next_note = True

    def clear_note_jam(self) -> None:
        """Staff free the jammed note and hand it back."""
        with self._lock:
            self._note_jam = False
            self.returned += self.jammed
            self.jammed.clear()

    def jam_hopper(self, coin: int) -> None:
        """The ``coin`` hopper's next payout pays nothing (a jam)."""
        with self._lock:
            self._jammed_hoppers.add(coin)

    def set_offline(self, device: str, offline: bool = True) -> None:
        """A device stops (or resumes) answering: a no_reply fault once, its commands fail."""
        with self._lock:
            if offline:
                self._offline.add(device)
            else:
                self._offline.discard(device)
                self._reported_offline.discard(device)

    def lose_events(self, device: str, count: int) -> None:
        """Report ``count`` lost events, as a device whose buffer overflowed."""
        with self._lock:
            self._events.append(EventsLost(device, count))


def open_cash_box(config: CashConfig | Mapping[str, Any]) -> CashBox:
    """The configured backend, started: ``cctalk`` (real devices) or ``fake`` (in memory)."""
    cfg = config if isinstance(config, CashConfig) else CashConfig.from_mapping(config)
    if cfg.backend == "fake":
        return FakeCashBox(hoppers={h.coin: h.count for h in cfg.hoppers}, coins=cfg.coins, notes=cfg.notes)
    return CcTalkCashBox.connect(cfg)
