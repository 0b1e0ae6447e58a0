"""The office's side of a visit before payment: authentication (challenge, the card's signature,
the office's verdict and fee), a lost office, its online state and the kiosk's opening hours."""

from __future__ import annotations

from kiosk.flow.constants import NEEDS_OFFICE, Step
from kiosk.flow.effects import Authenticate, SignChallenge
from kiosk.flow.errors import known
from kiosk.flow.events import Authenticated, ChallengeReceived, ChallengeSigned, HoursStatus, OfficeStatus
from kiosk.flow.settlement import abort
from kiosk.flow.transaction import Tx


def on_challenge(tx: Tx, ev: ChallengeReceived) -> None:
    """The office sent a nonce: the card signs it."""
    if tx.s.step is not Step.AUTHENTICATING or tx.session.auth_phase != "challenge":
        return
    tx.sess(challenge_id=ev.challenge_id, auth_phase="sign")
    tx.emit(SignChallenge(ev.nonce))


def on_signed(tx: Tx, ev: ChallengeSigned) -> None:
    """The card signed: the office checks the signature and the request."""
    s = tx.s.session
    if tx.s.step is not Step.AUTHENTICATING or s is None or s.auth_phase != "sign" or s.challenge_id is None:
        return
    kind = known(s.kind, "the certificate kind")
    tx.sess(card_serial=ev.card_serial, auth_phase="authenticate")
    tx.emit(
        Authenticate(
            request_id=f"{s.session_id}:auth",
            challenge_id=s.challenge_id,
            certificate=ev.certificate,
            signature=ev.signature,
            kind=kind,
            options=s.options,
            copies=s.copies,
        )
    )


def on_authenticated(tx: Tx, ev: Authenticated) -> None:
    """The office accepted: choose members (住民票 of chosen members) or confirm the fee."""
    if tx.s.step is not Step.AUTHENTICATING or tx.session.auth_phase != "authenticate":
        return
    if isinstance(ev.fee, bool) or not isinstance(ev.fee, int) or ev.fee <= 0 or ev.fee % 10:
        # A fee we cannot take in coins is the office's bug: the resident goes to a counter.
        abort(tx, "go_to_counter")
        return
    tx.sess(session_token=ev.session_token, fee=ev.fee, household=ev.household, auth_phase="done")
    if tx.session.kind == "juminhyo" and tx.session.options.scope == "members":
        tx.enter(Step.MEMBERS)
    else:
        tx.enter(Step.CONFIRM_FEE)


def on_auth_refused(tx: Tx) -> None:
    """The office refused the card or the request."""
    if tx.s.step is Step.AUTHENTICATING:
        # The office's code stays out of the state: a refusal is never explained at the kiosk.
        abort(tx, "go_to_counter")


def on_office_lost(tx: Tx) -> None:
    """An office call went unanswered while the visit waited for it."""
    if tx.s.step in (Step.AUTHENTICATING, Step.ISSUING):
        abort(tx, "office_lost")


def on_office_status(tx: Tx, ev: OfficeStatus) -> None:
    """The office came or went; a visit that needs it ends when it goes."""
    tx.set(office_online=ev.online)
    if not ev.online and tx.s.step in NEEDS_OFFICE:
        abort(tx, "office_lost")


def on_hours_status(tx: Tx, ev: HoursStatus) -> None:
    """The kiosk's hours began or ended (a visit under way may finish)."""
    tx.set(in_hours=ev.open)
