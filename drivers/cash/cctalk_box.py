"""The cash box on a ccTalk bus: coin acceptor, bill validator and hoppers (``docs/cctalk.md``).

:func:`open_bus` opens the configured serial port; :class:`CcTalkCashBox` drives the devices
on it through ``drivers/cctalk.py`` and turns what they report into cash events. ccTalk
errors become :class:`~drivers.cash.errors.CashDeviceError` (a command failed) or a
:class:`~drivers.cash.events.CashFault` event (a device stopped answering while polled).

Hopper contents: a hopper cannot count its coins, so the cash box keeps a count per hopper
(``count`` in the configuration, :meth:`CcTalkCashBox.refill` when staff fill it), lowers it by
every coin paid, sets it to 0 when a hopper runs dry, and treats a hopper whose low-level
sensor reports low as empty for :meth:`~CcTalkCashBox.can_pay` (the kiosk then asks for the
exact amount) while :meth:`~CcTalkCashBox.pay_out` still takes every coin it can from it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Self

from drivers.cash.box import BILL_VALIDATOR, COIN_ACCEPTOR, NO_ESCROW, CashBox, check_max_note, hopper_name
from drivers.cash.config import PORT_HELP, CashConfig
from drivers.cash.errors import CashConfigError, CashDeviceError, CashStateError
from drivers.cash.events import (
    CashEvent,
    CashFault,
    ChangePaid,
    CoinAccepted,
    EventsLost,
    NoteEscrowed,
    NoteReturned,
    NoteStacked,
)
from drivers.cash.payout import check_amount, pay_greedy, plan_payout, plan_value
from drivers.cctalk import (
    BILL_JAM_CODES,
    BILL_RETURNED,
    COIN_JAM_CODES,
    COIN_REJECT_CODES,
    HOPPER_JAM_FLAGS,
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
)

log = logging.getLogger(__name__)

VERIFY_EVERY_POLLS = 10  # how often poll() also checks an acceptor's settings survived
_ROUTED = "the note in escrow was already sent to be stacked or returned; wait for its event"


def open_bus(config: CashConfig) -> CcTalkBus:
    """The ccTalk bus on the configured port, with the configured echo, timeout and retries.

    Nothing is sent yet. :class:`CashDeviceError` when the port cannot be opened.
    """
    if config.port is None:
        raise CashConfigError(f"cash.port: missing; {PORT_HELP}")
    try:
        return CcTalkBus.open(
            config.port,
            host_address=config.host_address,
            echo=config.echo,
            reply_timeout=config.reply_timeout_s,
            retries=config.retries,
        )
    except CcTalkError as err:
        raise CashDeviceError(str(err)) from err


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
        bus = open_bus(cfg)
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
        check_amount(count, "count")
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
        check_max_note(max_note)
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
                raise CashStateError(NO_ESCROW)
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
        check_amount(amount, "pay_out amount")
        with self._lock:
            self._check_open()
            holdings = {c: n for c, n in self._counts.items() if c not in self._out_of_service}
            result = pay_greedy(amount, holdings, self._dispense)
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
        check_amount(amount, "can_pay amount")
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
