"""The interface the kiosk uses, :class:`CashBox`, and what every backend of it shares.

Money is int yen. The kiosk accepts 10, 50, 100 and 500 yen coins and 1000, 5000 and 10000
yen notes (2000 yen notes are refused). Each device has a name, used in
:class:`~drivers.cash.events.CashFault` and in a cash cursor: :data:`COIN_ACCEPTOR`,
:data:`BILL_VALIDATOR` and ``hopper_<coin>`` (:func:`hopper_name`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import TracebackType
from typing import Literal, Self, get_args

from drivers.cash.events import CashEvent
from drivers.cash.payout import check_amount

# The denominations as types (the configuration's model checks against them) and as values.
Coin = Literal[10, 50, 100, 500]
Note = Literal[1000, 5000, 10000]
ACCEPTED_COINS: tuple[Coin, ...] = get_args(Coin)
ACCEPTED_NOTES: tuple[Note, ...] = get_args(Note)
REFUSED_NOTES: tuple[int, ...] = (2000,)
COIN_ACCEPTOR = "coin_acceptor"
BILL_VALIDATOR = "bill_validator"
NO_ESCROW = "no note is in escrow: stack_note and return_note are only valid after a NoteEscrowed event"


def hopper_name(coin: int) -> str:
    """The device name of the hopper paying ``coin`` yen coins: ``"hopper_500"``."""
    return f"hopper_{coin}"


def check_max_note(max_note: int | None) -> None:
    """ValueError unless ``max_note`` is None or an amount of yen."""
    if max_note is not None:
        check_amount(max_note, "max_note")


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
