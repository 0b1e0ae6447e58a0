"""Money: the payment step, coins, notes in escrow (stack or return, exact-amount-only mode
when change is low), payouts and their shortfalls, and money that arrives with no visit.

Every decision is journalled before the command that carries it out: a note's escrow decision
before the stack, the payment intent before the acceptor opens, the issuance request before the
office call. Money events are never ignored, whatever the step.
"""

from __future__ import annotations

from kiosk.flow.constants import NOTES, Step
from kiosk.flow.effects import AcceptCash, Inhibit, Issue, JsonScalar, Notice, ReturnNote, StackNote
from kiosk.flow.errors import known
from kiosk.flow.events import ChangeStatus, CoinAccepted, NoteEscrowed, NoteReturned, NoteStacked, PayoutDone
from kiosk.flow.settlement import owe, settle
from kiosk.flow.state import Escrow, Session, largest_note
from kiosk.flow.transaction import Tx, new_session


def on_confirm_fee(tx: Tx) -> None:
    """The resident accepted the fee: the intent is journalled, then the acceptor opens."""
    if tx.s.step is not Step.CONFIRM_FEE:
        return
    s = tx.session
    fee, kind = known(s.fee, "the fee"), known(s.kind, "the certificate kind")
    tx.journal("payment_intent", fee=fee, kind=kind, copies=s.copies, request_id=s.request_id)
    tx.sess(payment_started=True)
    tx.enter(Step.PAYMENT, speak="exact_amount_only" if tx.s.change_low else "payment")
    check_paid(tx)


def check_paid(tx: Tx) -> None:
    """In payment: issue once the fee is in and no note is in escrow; else open the acceptor."""
    s = tx.session
    if s.escrow:
        return
    fee, kind = known(s.fee, "the fee"), known(s.kind, "the certificate kind")
    token = known(s.session_token, "the session token")
    if s.paid >= fee:
        tx.emit(Inhibit())
        tx.set(cash_open=False, accept_note=None)
        tx.journal("issue_requested", request_id=s.request_id, fee=fee, paid=s.paid)
        tx.sess(issue_requested=True)
        tx.enter(Step.ISSUING)
        tx.emit(
            Issue(
                request_id=s.request_id,
                session_token=token,
                kind=kind,
                options=s.options,
                copies=s.copies,
                paid=fee,
            )
        )
        return
    note = largest_note(tx.s)
    if not tx.s.cash_open or note != tx.s.accept_note:
        tx.set(cash_open=True, accept_note=note)
        tx.emit(AcceptCash(note))


def _stray(tx: Tx) -> None:
    """Money arrived with no session to credit: open one just to give it back."""
    new_session(tx, None)
    tx.set(cash_open=False, accept_note=None)
    tx.emit(Inhibit())
    tx.enter(Step.SETTLING, speak="money_returned")
    if tx.s.outcome is None:
        tx.set(outcome="money_returned")


def _at(counter: int | None) -> dict[str, JsonScalar]:
    """The acceptor's event counter for a money record (nothing when the device keeps none)."""
    return {} if counter is None else {"counter": counter}


def _credit(tx: Tx, value: int, kind: str, counter: int | None) -> None:
    """Count money in: the session, the ledger and the journal."""
    paid = tx.session.paid + value
    tx.sess(paid=paid)
    tx.totals(inserted=value)
    tx.journal(kind, value=value, paid=paid, **_at(counter))


def _after_money(tx: Tx) -> None:
    """Money moved: pay on (payment) or settle on (settling)."""
    if tx.s.step is Step.PAYMENT:
        tx.touch()
        check_paid(tx)
    elif tx.s.step is Step.SETTLING:
        settle(tx)


def on_coin(tx: Tx, ev: CoinAccepted) -> None:
    """A coin went in: credited at once (coins have no escrow)."""
    if ev.value <= 0:
        return
    if tx.s.session is None:
        _stray(tx)
    _credit(tx, ev.value, "coin_accepted", ev.counter)
    _after_money(tx)


def on_note_escrowed(tx: Tx, ev: NoteEscrowed) -> None:
    """A note waits in escrow: stack it if it fits what is due and its change can be paid, else return it."""
    if ev.value <= 0:
        return
    if tx.s.session is None:
        _stray(tx)
    s = tx.session
    action = "return"
    if tx.s.step is Step.PAYMENT and not s.escrow and ev.value in NOTES:
        limit = largest_note(tx.s)
        change = ev.value - s.due
        if limit is not None and ev.value <= limit:
            action = "stack"
            if change > 0 and (tx.s.change_low or not ev.change_ok):
                action = "return"
                if not tx.s.change_low:
                    # The hoppers cannot pay this change: exact-amount-only from now on.
                    tx.set(change_low=True)
                tx.set(notice="exact_amount_only")
                tx.emit(Notice("exact_amount_only"))
    # The decision is durable before the command: a stack in flight at a crash is refunded.
    tx.journal("note_escrowed", value=ev.value, action=action, **_at(ev.counter))
    tx.sess(escrow=(*s.escrow, Escrow(ev.value, action)))
    tx.emit(StackNote() if action == "stack" else ReturnNote())
    if tx.s.step is Step.PAYMENT:
        tx.touch()


def _take_escrow(s: Session, value: int, prefer: str) -> tuple[tuple[Escrow, ...], Escrow | None]:
    """Remove the escrow entry for ``value`` (preferring ``prefer``); returns (rest, removed)."""
    order = sorted(range(len(s.escrow)), key=lambda i: s.escrow[i].action != prefer)
    for i in order:
        if s.escrow[i].value == value:
            return s.escrow[:i] + s.escrow[i + 1 :], s.escrow[i]
    return s.escrow, None


def _take_late(tx: Tx, value: int, prefer: str) -> Escrow | None:
    """Consume a late report for a note already settled by assumption (None: not one of those)."""
    s = tx.s.session
    if s is not None and any(e.value == value for e in s.escrow):
        return None  # the live session is waiting for exactly this note
    holder = Session(session_id="", kind=None, escrow=tx.s.late_notes)
    rest, removed = _take_escrow(holder, value, prefer)
    if removed is not None:
        tx.set(late_notes=rest)
    return removed


def _alert_outside_session(tx: Tx, code: str, value: int, counter: int | None = None) -> None:
    """Journal (and so report) an alert that belongs to no live session."""
    keep_session, keep_no = tx.s.session, tx.s.session_no
    new_session(tx, None)
    tx.journal("alert", code=code, value=value, **_at(counter))
    tx.journal("session_closed", paid=0, kept=0, returned=0, owed=0)
    tx.set(session=keep_session, session_no=max(keep_no, tx.s.session_no))


def on_note_stacked(tx: Tx, ev: NoteStacked) -> None:
    """A note went into the cash box: credited (a late report of one settled already is not)."""
    if ev.value <= 0:
        return
    late = _take_late(tx, ev.value, "stack")
    if late is not None and late.action == "stack":
        # Already credited (and refunded) when the settling timed out or a restart assumed it.
        # Journalled all the same: the record moves the cursor past this event, so a restart
        # does not take it for a new note.
        _alert_outside_session(tx, "note_stack_confirmed", ev.value, ev.counter)
        return
    if tx.s.session is None:
        _stray(tx)
    rest, _ = _take_escrow(tx.session, ev.value, "stack")
    tx.sess(escrow=rest)
    # Stacked is money in, whatever we asked for: a note stacked against a return is refunded.
    _credit(tx, ev.value, "note_stacked", ev.counter)
    _after_money(tx)


def on_note_returned(tx: Tx, ev: NoteReturned) -> None:
    """A note went back to the resident: out of escrow, not money."""
    late = _take_late(tx, ev.value, "return")
    if late is not None:
        if late.action == "stack":
            # We refunded a note we assumed stacked, and the resident got the note back too.
            _alert_outside_session(tx, "note_returned_after_refund", ev.value, ev.counter)
        return
    if tx.s.session is None:
        return  # not ours and not money in
    rest, removed = _take_escrow(tx.session, ev.value, "return")
    if removed is None:
        return
    tx.sess(escrow=rest)
    tx.journal("note_returned", value=ev.value, **_at(ev.counter))
    if tx.s.step is Step.PAYMENT and not rest:
        if tx.s.change_low and removed.action == "return":
            tx.set(notice="exact_amount_only")
        check_paid(tx)
    elif tx.s.step is Step.SETTLING:
        settle(tx)


def on_payout_done(tx: Tx, ev: PayoutDone) -> None:
    """The hoppers paid: what they could not pay is owed on a slip, and change is low from then on."""
    s = tx.s.session
    if s is None or s.payout_outstanding <= 0:
        return
    requested = min(ev.requested, s.payout_outstanding)
    paid = max(0, min(ev.paid, requested))
    tx.sess(payout_outstanding=s.payout_outstanding - requested, returned=s.returned + paid)
    tx.totals(returned=paid)
    # Change after a kept fee, or money given back: the office reconciles only the latter.
    tx.journal("payout_done", requested=requested, paid=paid, reason="change" if s.kept > 0 else "refund")
    short = requested - paid
    if short > 0:
        owe(tx, short, "hoppers_empty")
        tx.set(change_low=True)
    if tx.s.step is Step.SETTLING:
        settle(tx)


def on_change_status(tx: Tx, ev: ChangeStatus) -> None:
    """Change ran low or was refilled: the notes the acceptor takes follow."""
    tx.set(change_low=ev.low)
    if tx.s.step is Step.PAYMENT and tx.s.session is not None and not tx.session.escrow:
        check_paid(tx)
