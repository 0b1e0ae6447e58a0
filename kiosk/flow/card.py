"""The card and the PIN: a card arriving or leaving, reading it, the PIN typed and the card's
verdict on it (wrong, blocked, right: authentication with the office starts)."""

from __future__ import annotations

from kiosk.flow.constants import CARD_STEPS, PIN_LENGTH, Step
from kiosk.flow.effects import Notice, ReadCard, RequestChallenge, ReturnCard, VerifyPin
from kiosk.flow.events import CardReady, EnterPin, PinResult
from kiosk.flow.settlement import abort
from kiosk.flow.transaction import Tx


def read_card(tx: Tx) -> None:
    """Start reading the card in the reader."""
    tx.enter(Step.READING_CARD)
    tx.emit(ReadCard())


def on_card_inserted(tx: Tx) -> None:
    """A card arrived: held for the visit, or handed straight back (office away, closed)."""
    if tx.s.card != "none":
        return
    if not tx.s.office_online:
        # No card while the office is away (DESIGN.md decision 1): give it straight back.
        tx.set(card="returned", notice="unavailable")
        tx.emit(ReturnCard(), Notice("unavailable"))
        return
    if not tx.s.in_hours and tx.s.session is None:
        # Closed, and no visit under way: the card comes straight back.
        tx.set(card="returned", notice="closed")
        tx.emit(ReturnCard(), Notice("closed"))
        return
    tx.set(card="held")
    if tx.s.step is Step.INSERT_CARD and tx.s.session is not None:
        read_card(tx)


def on_card_removed(tx: Tx) -> None:
    """The card left: taken back at the end, or pulled during the visit (which ends it)."""
    if tx.s.card == "none":
        return
    was = tx.s.card
    tx.set(card="none")
    if was == "returned":
        if tx.s.step is Step.TAKE_CARD:
            tx.enter(Step.GOODBYE, speak=tx.s.outcome or "thank_you")
        return
    if tx.s.step in CARD_STEPS:
        abort(tx, "card_removed")


def on_card_ready(tx: Tx, ev: CardReady) -> None:
    """The card answered: ask for the PIN, unless no try is left."""
    if tx.s.step is not Step.READING_CARD:
        return
    if ev.tries_left <= 0:
        abort(tx, "card_blocked")
        return
    tx.sess(tries_left=ev.tries_left)
    tx.enter(Step.PIN)


def on_card_unreadable(tx: Tx) -> None:
    """The card failed while the kiosk was talking to it."""
    if tx.s.step in (Step.READING_CARD, Step.VERIFYING_PIN, Step.AUTHENTICATING):
        abort(tx, "card_unreadable")


def on_enter_pin(tx: Tx, ev: EnterPin) -> None:
    """The resident typed a PIN: four digits go to the card, anything else is a notice."""
    if tx.s.step is not Step.PIN:
        return
    if len(ev.pin) != PIN_LENGTH or not ev.pin.isascii() or not ev.pin.isdigit():
        tx.touch()
        tx.set(notice="pin_format")
        tx.emit(Notice("pin_format"))
        return
    tx.enter(Step.VERIFYING_PIN)
    tx.emit(VerifyPin(ev.pin))


def on_pin_result(tx: Tx, ev: PinResult) -> None:
    """The card's verdict on the PIN: try again, blocked, or on to the office."""
    if tx.s.step is not Step.VERIFYING_PIN:
        return
    if ev.blocked or (not ev.ok and ev.tries_left <= 0):
        abort(tx, "card_blocked")
        return
    if not ev.ok:
        tx.sess(tries_left=ev.tries_left)
        tx.enter(Step.PIN, speak="pin_wrong")
        tx.set(notice="pin_wrong")
        tx.emit(Notice("pin_wrong"))
        return
    tx.sess(tries_left=ev.tries_left, auth_phase="challenge")
    tx.enter(Step.AUTHENTICATING)
    tx.emit(RequestChallenge(f"{tx.session.session_id}:challenge"))
