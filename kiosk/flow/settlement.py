"""Ending a visit: abort before printing (card back, cash closed, issuance voided), settle the
money (pay back what is held, or owe it on a refund slip), the receipt, the recovery queue, and
the way back to the start screen."""

from __future__ import annotations

from dataclasses import replace

from kiosk.flow.constants import Step
from kiosk.flow.effects import Inhibit, PayOut, PrintReceipt, PrintRefundSlip, ReturnCard
from kiosk.flow.transaction import Tx
from kiosk.ports import Receipt, RefundSlip


def abort(tx: Tx, outcome: str) -> None:
    """End the visit before printing: card back at once, cash closed, every yen refunded."""
    tx.set(outcome=outcome, outcome_owed=0)
    if tx.s.card == "held":
        tx.set(card="returned")
        tx.emit(ReturnCard())
    s = tx.s.session
    if s is None:
        if tx.s.card == "returned":
            tx.enter(Step.TAKE_CARD)
        else:
            tx.set(language=tx.s.config.languages[0])
            tx.enter(Step.LANGUAGE)
        return
    if s.payment_started or tx.s.cash_open:
        tx.emit(Inhibit())
        tx.set(cash_open=False, accept_note=None)
    if s.issue_requested and not s.print_started:
        # The office may have issued already: the report tells it to void that issuance.
        tx.journal("issue_void", request_id=s.request_id, reason=outcome)
    tx.enter(Step.SETTLING, speak=outcome)
    settle(tx)


def settle(tx: Tx) -> None:
    """Pay back what the session still holds; close it once nothing is outstanding."""
    s = tx.session
    if s.escrow or s.payout_outstanding:
        return  # wait for the validator / hoppers to report
    if s.held > 0:
        reason = "change" if s.kept > 0 else "refund"
        tx.journal("payout_intent", amount=s.held, reason=reason)
        tx.sess(payout_outstanding=s.held)
        tx.emit(PayOut(s.held))
        return
    if s.printed_copies and s.kind is not None and s.fee is not None and not s.recovered:
        tx.emit(
            PrintReceipt(
                Receipt(
                    session_id=s.session_id,
                    issue_number=s.issue_number,
                    kind=s.kind,
                    copies=s.copies,
                    copies_printed=s.printed_copies,
                    fee=s.fee,
                    kept=s.kept,
                    paid=s.paid,
                    change=s.returned,
                ),
                tx.s.language,
            )
        )
    if s.journal_seq > 0:
        # A visit that never touched money or the office leaves nothing to recover.
        tx.journal("session_closed", paid=s.paid, kept=s.kept, returned=s.returned, owed=s.owed)
    tx.set(session=None)
    if tx.s.recovery_queue:
        next_recovered(tx)
        return
    if tx.s.card == "held":
        tx.set(card="returned")
        tx.emit(ReturnCard())
    if tx.s.card == "returned":
        tx.enter(Step.TAKE_CARD)
    else:
        tx.enter(Step.GOODBYE, speak=tx.s.outcome or "thank_you")


def owe(tx: Tx, amount: int, reason: str) -> None:
    """Money we cannot pay back now: a credit slip for the resident, a report for the office."""
    tx.sess(owed=tx.session.owed + amount)
    tx.totals(owed=amount)
    entry = tx.journal("refund_owed", amount=amount, reason=reason)
    tx.set(outcome_owed=tx.s.outcome_owed + amount)
    tx.emit(PrintRefundSlip(RefundSlip(tx.session.session_id, entry.key, amount, reason), tx.s.language))


def next_recovered(tx: Tx) -> None:
    """Open the next session of the recovery queue: journal its decisions, then settle it."""
    head, rest = tx.s.recovery_queue[0], tx.s.recovery_queue[1:]
    tx.set(session=replace(head, recovery_notes=()), recovery_queue=rest)
    for kind, data in head.recovery_notes:
        entry = tx.journal(kind, **data)
        amount = data.get("amount")
        if kind == "refund_owed" and isinstance(amount, int):
            tx.set(outcome_owed=tx.s.outcome_owed + amount)
            slip = RefundSlip(tx.session.session_id, entry.key, amount, str(data.get("reason")))
            tx.emit(PrintRefundSlip(slip, tx.s.language))
    tx.enter(Step.SETTLING, speak="settling")
    settle(tx)


def to_start(tx: Tx) -> None:
    """Back to the start screen in the first language, the last visit's outcome cleared."""
    tx.set(
        language=tx.s.config.languages[0],
        outcome=None,
        outcome_owed=0,
        reminders=0,
    )
    tx.enter(Step.LANGUAGE)
