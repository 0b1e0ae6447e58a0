"""The resident's touches: language, certificate, options, household members, back, cancel and
"still here" (the answer to a timeout warning)."""

from __future__ import annotations

from dataclasses import replace

from kiosk.flow.card import read_card
from kiosk.flow.constants import CANCELLABLE, KINDS, RESIDENT_STEPS, Step
from kiosk.flow.effects import Notice
from kiosk.flow.events import ChooseCertificate, ChooseLanguage, ChooseMembers, ConfirmOptions
from kiosk.flow.options import check_options, default_options
from kiosk.flow.settlement import abort, to_start
from kiosk.flow.transaction import Tx, new_session


def on_choose_language(tx: Tx, ev: ChooseLanguage) -> None:
    """A language on the start screen: the visit begins, if the kiosk is open and the office there."""
    if tx.s.step is not Step.LANGUAGE or ev.language not in tx.s.config.languages:
        return
    tx.set(language=ev.language)
    if not tx.s.in_hours:
        tx.set(notice="closed")
        tx.emit(Notice("closed"))
        return
    if not tx.s.office_online:
        tx.set(notice="unavailable")
        tx.emit(Notice("unavailable"))
        return
    tx.set(outcome=None, outcome_owed=0)
    tx.enter(Step.CERTIFICATE)


def on_choose_certificate(tx: Tx, ev: ChooseCertificate) -> None:
    """A certificate kind: the session opens (or changes kind) and its options are shown."""
    if tx.s.step is not Step.CERTIFICATE or ev.kind not in KINDS:
        return
    if tx.s.session is None:
        new_session(tx, ev.kind)
    elif tx.session.kind != ev.kind:
        tx.sess(kind=ev.kind, options=default_options(ev.kind))
    tx.enter(Step.OPTIONS)


def on_confirm_options(tx: Tx, ev: ConfirmOptions) -> None:
    """The options and copies: checked, then the card is asked for (or read, if already in)."""
    if tx.s.step is not Step.OPTIONS or tx.s.session is None or tx.session.kind is None:
        return
    options = ev.options
    if tx.session.kind == "juminhyo" and options.scope == "members":
        options = replace(options, members=())  # chosen after the office names the household
    problem = check_options(tx.session.kind, options, ev.copies, tx.s.config.max_copies)
    if problem:
        tx.touch()
        tx.set(notice=problem)
        tx.emit(Notice(problem))
        return
    tx.sess(options=options, copies=ev.copies)
    if tx.s.card == "held":
        read_card(tx)
    else:
        tx.enter(Step.INSERT_CARD)


def on_back(tx: Tx) -> None:
    """Back one screen; back from the certificates ends the visit (cancelled, if it began)."""
    match tx.s.step:
        case Step.OPTIONS:
            tx.enter(Step.CERTIFICATE)
        case Step.CERTIFICATE:
            s = tx.s.session
            if tx.s.card == "none" and (s is None or (s.journal_seq == 0 and s.held == 0)):
                tx.set(session=None)
                to_start(tx)
            else:
                abort(tx, "cancelled")
        case _:
            pass  # nothing to go back to


def on_choose_members(tx: Tx, ev: ChooseMembers) -> None:
    """The household members a 住民票 of chosen members is for (from those the office named)."""
    if tx.s.step is not Step.MEMBERS:
        return
    known = {m.id for m in tx.session.household}
    chosen = tuple(dict.fromkeys(ev.members))  # keep order, drop repeats
    if not chosen or any(m not in known for m in chosen):
        tx.touch()
        tx.set(notice="members_required")
        tx.emit(Notice("members_required"))
        return
    tx.sess(options=replace(tx.session.options, members=chosen))
    tx.enter(Step.CONFIRM_FEE)


def on_cancel(tx: Tx) -> None:
    """Cancel: ends the visit before printing; on the goodbye screen, back to the start."""
    match tx.s.step:
        case step if step in CANCELLABLE:
            abort(tx, "cancelled")
        case Step.GOODBYE:
            to_start(tx)
        case _:
            pass  # printing has begun: the visit runs to its end


def on_still_here(tx: Tx) -> None:
    """A touch: the step's clock starts again; on the goodbye screen, back to the start."""
    match tx.s.step:
        case step if step in RESIDENT_STEPS:
            tx.touch()
        case Step.GOODBYE:
            to_start(tx)
        case _:
            pass  # the kiosk, not the resident, is the one being waited for
