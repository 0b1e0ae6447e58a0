"""Issuing and printing: the office's answer to the issuance request, the print job bound to the
session, the card and the request, and what the printer reports (the fee kept is the fee of
the copies that came out for sure)."""

from __future__ import annotations

from kiosk.binding import PrintJob
from kiosk.flow.constants import Step
from kiosk.flow.effects import PrintCertificate
from kiosk.flow.errors import known
from kiosk.flow.events import Issued, IssueRefused, PrintDone
from kiosk.flow.settlement import abort, settle
from kiosk.flow.transaction import Tx


def on_issued(tx: Tx, ev: Issued) -> None:
    """The office issued: journalled, then the certificate goes to the printer."""
    s = tx.s.session
    if tx.s.step is not Step.ISSUING or s is None or ev.request_id != s.request_id:
        return  # a late answer for a request we gave up: the office voids it from our report
    kind, card_serial = known(s.kind, "the certificate kind"), known(s.card_serial, "the card serial")
    if ev.fee != s.fee:
        tx.journal("alert", code="fee_mismatch", request_id=s.request_id)
        abort(tx, "go_to_counter")
        return
    tx.journal("issued", request_id=s.request_id, issue_number=ev.issue_number)
    tx.journal("print_started", request_id=s.request_id)
    tx.sess(issue_number=ev.issue_number, print_started=True)
    job = PrintJob(
        session_id=s.session_id,
        card_serial=card_serial,
        request_id=s.request_id,
        issue_number=ev.issue_number,
        kind=kind,
        copies=s.copies,
        content=ev.content,
    )
    tx.enter(Step.PRINTING)
    tx.emit(PrintCertificate(job))


def on_issue_refused(tx: Tx, ev: IssueRefused) -> None:
    """The office refused to issue this request."""
    s = tx.s.session
    if tx.s.step is Step.ISSUING and s is not None and ev.request_id == s.request_id:
        abort(tx, "go_to_counter")


def on_print_done(tx: Tx, ev: PrintDone) -> None:
    """The printer finished this session's job."""
    s = tx.s.session
    if tx.s.step is not Step.PRINTING or s is None or ev.request_id != s.request_id:
        return
    printed(tx, max(0, min(ev.copies_printed, s.copies)), ev.uncertain)


def printed(tx: Tx, copies: int, uncertain: bool) -> None:
    """``copies`` came out for sure: keep their fee, alert on a shortfall or doubt, settle."""
    s = tx.session
    fee = known(s.fee, "the fee")
    if uncertain:
        tx.journal("alert", code="print_uncertain", request_id=s.request_id)
    tx.journal("printed", request_id=s.request_id, copies=copies, uncertain=uncertain)
    kept = fee if copies == s.copies else fee * copies // s.copies
    tx.sess(printed_copies=copies)
    if kept > 0:
        tx.sess(kept=kept)
        tx.totals(kept=kept)
        tx.journal("fee_kept", amount=kept, request_id=s.request_id, issue_number=s.issue_number)
    if copies < s.copies:
        tx.journal("alert", code="print_incomplete", request_id=s.request_id)
    tx.set(outcome="thank_you" if copies == s.copies else "print_failed")
    tx.enter(Step.SETTLING, speak="settling")
    settle(tx)
