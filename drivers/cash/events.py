"""What the cash box reports from :meth:`~drivers.cash.box.CashBox.poll`: money and faults, as frozen values.

Only :class:`CoinAccepted` and :class:`NoteStacked` are money the kiosk has; a
:class:`NoteEscrowed` note is still the resident's until it is stacked.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
