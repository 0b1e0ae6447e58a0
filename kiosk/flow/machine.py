"""The flow's entry points: :func:`transition` (one event: the new state and the effects, in
order), :func:`begin_recovery` (sessions an earlier run left open) and :func:`note_cash_cursor`;
the dispatch of each event to its step function, and the out-of-service state."""

from __future__ import annotations

from collections.abc import Mapping

from kiosk.flow import card, choices, issuance, money, office, timeouts
from kiosk.flow.constants import Step
from kiosk.flow.effects import Effect, Inhibit, ReturnCard, ReturnNote
from kiosk.flow.errors import FlowStateError
from kiosk.flow.events import (
    Authenticated,
    AuthRefused,
    Back,
    Cancel,
    CardInserted,
    CardReady,
    CardRemoved,
    CardUnreadable,
    ChallengeReceived,
    ChallengeSigned,
    ChangeStatus,
    ChooseCertificate,
    ChooseLanguage,
    ChooseMembers,
    CoinAccepted,
    ConfirmFee,
    ConfirmOptions,
    EnterPin,
    Event,
    Fault,
    HoursStatus,
    Issued,
    IssueRefused,
    NoteEscrowed,
    NoteReturned,
    NoteStacked,
    OfficeLost,
    OfficeStatus,
    PayoutDone,
    PinResult,
    PrintDone,
    StillHere,
    Tick,
)
from kiosk.flow.settlement import next_recovered
from kiosk.flow.state import Escrow, Kiosk, Session
from kiosk.flow.transaction import Tx, new_session


def transition(state: Kiosk, event: Event) -> tuple[Kiosk, tuple[Effect, ...]]:
    """Apply ``event`` to ``state``: the new state and the effects to run, in order.

    Unknown or out-of-place events leave the state unchanged (a late office answer, a
    double touch); money events are never ignored. Anything but a :class:`Kiosk` and an
    :class:`Event` is a caller's bug: :class:`FlowStateError`.
    """
    match state, event:
        case Kiosk(), Event():
            tx = Tx(state, event.now_ms)
        case _:
            raise FlowStateError(
                f"transition takes a Kiosk and an Event, got {type(state).__name__} and {type(event).__name__}"
            )
    if state.step is Step.OUT_OF_SERVICE:
        _out_of_service(tx, event)
    else:
        _dispatch(tx, event)
    return tx.s, tuple(tx.fx)


def _dispatch(tx: Tx, event: Event) -> None:
    """Hand ``event`` to its step function; each checks the step it belongs to itself."""
    match event:
        # the resident
        case ChooseLanguage():
            choices.on_choose_language(tx, event)
        case ChooseCertificate():
            choices.on_choose_certificate(tx, event)
        case ConfirmOptions():
            choices.on_confirm_options(tx, event)
        case Back():
            choices.on_back(tx)
        case EnterPin():
            card.on_enter_pin(tx, event)
        case ChooseMembers():
            choices.on_choose_members(tx, event)
        case ConfirmFee():
            money.on_confirm_fee(tx)
        case Cancel():
            choices.on_cancel(tx)
        case StillHere():
            choices.on_still_here(tx)
        # the card
        case CardInserted():
            card.on_card_inserted(tx)
        case CardRemoved():
            card.on_card_removed(tx)
        case CardReady():
            card.on_card_ready(tx, event)
        case CardUnreadable():
            card.on_card_unreadable(tx)
        case PinResult():
            card.on_pin_result(tx, event)
        case ChallengeSigned():
            office.on_signed(tx, event)
        # the office
        case OfficeStatus():
            office.on_office_status(tx, event)
        case HoursStatus():
            office.on_hours_status(tx, event)
        case ChallengeReceived():
            office.on_challenge(tx, event)
        case Authenticated():
            office.on_authenticated(tx, event)
        case AuthRefused():
            office.on_auth_refused(tx)
        case Issued():
            issuance.on_issued(tx, event)
        case IssueRefused():
            issuance.on_issue_refused(tx, event)
        case OfficeLost():
            office.on_office_lost(tx)
        # the cash
        case CoinAccepted():
            money.on_coin(tx, event)
        case NoteEscrowed():
            money.on_note_escrowed(tx, event)
        case NoteStacked():
            money.on_note_stacked(tx, event)
        case NoteReturned():
            money.on_note_returned(tx, event)
        case PayoutDone():
            money.on_payout_done(tx, event)
        case ChangeStatus():
            money.on_change_status(tx, event)
        # the printer, time, faults
        case PrintDone():
            issuance.on_print_done(tx, event)
        case Tick():
            timeouts.on_tick(tx)
        case Fault():
            _on_fault(tx, event)
        case _:
            pass  # an event the flow does not know changes nothing


def _on_fault(tx: Tx, ev: Fault) -> None:
    """The kiosk cannot go on safely: cash shut, card out, out of service."""
    tx.set(fault=ev.code, outcome="out_of_service", cash_open=False, accept_note=None)
    tx.emit(Inhibit())
    if tx.s.card == "held":
        tx.set(card="returned")
        tx.emit(ReturnCard())
    tx.enter(Step.OUT_OF_SERVICE)


def _out_of_service(tx: Tx, ev: Event) -> None:
    """Nothing moves money any more; a note in escrow is handed back, the card can be taken."""
    match ev:
        case NoteEscrowed():
            tx.emit(ReturnNote())
        case CardRemoved():
            tx.set(card="none")
        case CardInserted() if tx.s.card == "none":
            tx.set(card="returned")
            tx.emit(ReturnCard())
        case _:
            pass  # out of service, nothing else happens


def begin_recovery(state: Kiosk, sessions: tuple[Session, ...], now_ms: int) -> tuple[Kiosk, tuple[Effect, ...]]:
    """Settle sessions an earlier run left unfinished (built by kiosk.recovery), one by one.

    Each recovered session's decisions (``recovery_notes``) are journalled first, then the
    usual settling pays back what it still holds (or prints a refund slip).
    """
    if not sessions:
        return state, ()
    tx = Tx(state, now_ms)
    late: list[Escrow] = []
    for s in sessions:
        # Money from before the restart is still in the machine: it counts in this run's totals.
        tx.totals(inserted=s.paid, kept=s.kept, returned=s.returned, owed=s.owed)
        for kind, data in s.recovery_notes:
            # A note settled by assumption may still be reported by the validator (the cash box
            # resumes after the journalled counter): that report must not count it twice.
            value = data.get("value")
            if not isinstance(value, int):
                continue
            if kind == "note_stacked" and data.get("assumed"):
                late.append(Escrow(value, "stack"))
            elif kind == "alert" and data.get("code") == "note_unresolved":
                late.append(Escrow(value, "return"))
    if late:
        tx.set(late_notes=(*tx.s.late_notes, *late)[-8:])
    tx.set(recovery_queue=sessions, outcome="recovered")
    next_recovered(tx)
    return tx.s, tuple(tx.fx)


def note_cash_cursor(state: Kiosk, cursor: Mapping[str, int], now_ms: int) -> tuple[Kiosk, tuple[Effect, ...]]:
    """Journal the acceptors' event counters (a record of its own, outside any visit).

    The runtime does this at start when the journal holds no counter for an acceptor (a new
    kiosk, a new journal): from then on a crash between a coin and its record is recovered.
    """
    tx = Tx(state, now_ms)
    keep_session, keep_no = tx.s.session, tx.s.session_no
    new_session(tx, None)
    tx.journal("cash_cursor", **{k: v for k, v in sorted(cursor.items())})
    tx.journal("session_closed", paid=0, kept=0, returned=0, owed=0)
    tx.set(session=keep_session, session_no=max(keep_no, tx.s.session_no))
    return tx.s, tuple(tx.fx)
