"""The in-memory cash box: a behavioural model of the kiosk's cash devices, for kiosk tests
and demos without a ccTalk bus (configuration ``backend = "fake"``; never a fallback)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Self

from drivers.cash.box import (
    ACCEPTED_COINS,
    ACCEPTED_NOTES,
    BILL_VALIDATOR,
    COIN_ACCEPTOR,
    NO_ESCROW,
    CashBox,
    check_max_note,
    hopper_name,
)
from drivers.cash.errors import CashDeviceError, CashStateError
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
from drivers.cctalk import EVENT_SLOTS, next_counter


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
        check_max_note(max_note)
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
                raise CashStateError(NO_ESCROW)
            value, self.escrow = self.escrow, None
            self.cashbox.append(value)
            self._money_event(NoteStacked(value))

    def return_note(self) -> None:
        """Escrowed note → back to the resident."""
        with self._lock:
            self._check_open(BILL_VALIDATOR)
            if self.escrow is None:
                raise CashStateError(NO_ESCROW)
            value, self.escrow = self.escrow, None
            self.returned.append(value)
            self._money_event(NoteReturned(value))

    def pay_out(self, amount: int) -> int:
        """Pay from the hoppers, largest coins first."""
        check_amount(amount, "pay_out amount")
        with self._lock:
            self._check_open()
            holdings = {c: n for c, n in self.hoppers.items() if hopper_name(c) not in self._offline}
            result = pay_greedy(amount, holdings, self._dispense)
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
        check_amount(amount, "can_pay amount")
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
