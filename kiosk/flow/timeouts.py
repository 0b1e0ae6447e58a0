"""Time: the warning before a resident's step runs out, and what each step's timeout means -
the office lost, the card unreadable, the resident gone, a print outcome unknown, the cash
devices silent (resolved conservatively), the card left in the slot."""

from __future__ import annotations

from kiosk.flow.constants import CANCELLABLE, RESIDENT_STEPS, Step
from kiosk.flow.effects import WarnTimeout
from kiosk.flow.issuance import printed
from kiosk.flow.settlement import abort, owe, settle, to_start
from kiosk.flow.transaction import Tx


def on_tick(tx: Tx) -> None:
    """Time passed: warn once before a resident's step runs out, then time it out."""
    s = tx.s
    if s.deadline_ms is None:
        return
    if (
        s.step in RESIDENT_STEPS
        and not s.warned
        and s.config.warning_ms > 0
        and tx.now >= s.deadline_ms - s.config.warning_ms
        and tx.now < s.deadline_ms
    ):
        tx.set(warned=True)
        tx.emit(WarnTimeout(s.seconds_left(tx.now) or 0, s.language))
        return
    if tx.now < s.deadline_ms:
        return
    on_timeout(tx)


def on_timeout(tx: Tx) -> None:
    """The current step ran out of time."""
    match tx.s.step:
        case Step.AUTHENTICATING | Step.ISSUING:
            abort(tx, "office_lost")
        case Step.READING_CARD | Step.VERIFYING_PIN:
            abort(tx, "card_unreadable")
        case step if step in CANCELLABLE:
            abort(tx, "timeout")
        case Step.PRINTING:
            # The printer never answered: the outcome is unknown. Refund, alert, never print again.
            printed(tx, 0, True)
        case Step.SETTLING:
            settling_timeout(tx)
        case Step.TAKE_CARD:
            if tx.s.reminders < tx.s.config.take_card_reminders:
                tx.set(reminders=tx.s.reminders + 1)
                tx.enter(Step.TAKE_CARD)
            else:
                # The card stays in the slot, powered down; the next visitor starts afresh.
                tx.set(card="none", reminders=0)
                tx.enter(Step.GOODBYE, speak=tx.s.outcome or "thank_you")
        case Step.GOODBYE:
            to_start(tx)
        case _:
            pass  # the start screen and out-of-service have no clock


def settling_timeout(tx: Tx) -> None:
    """The validator or hoppers never reported: resolve conservatively and close."""
    s = tx.session
    for e in s.escrow:
        if e.action == "stack":
            # We told it to stack; assume it did, so the resident is refunded (office checks the box).
            tx.sess(paid=tx.session.paid + e.value)
            tx.totals(inserted=e.value)
            tx.journal("note_stacked", value=e.value, paid=tx.session.paid, assumed=True)
        else:
            tx.journal("alert", code="note_unresolved", value=e.value)
    tx.set(late_notes=(*tx.s.late_notes, *s.escrow)[-8:])
    tx.sess(escrow=())
    if s.payout_outstanding:
        # One record settles the unconfirmed payout and owes it (see kiosk.recovery).
        tx.sess(payout_outstanding=0)
        owe(tx, s.payout_outstanding, "payout_uncertain")
    tx.set(deadline_ms=tx.now + (tx.s.config.timeout_ms(Step.SETTLING) or 60_000))
    settle(tx)
