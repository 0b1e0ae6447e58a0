"""The office's certificate service for kiosks (自動交付機): challenge, authenticate, issue.

A kiosk asks on ``device/<id>/request`` and the office answers on ``office/reply/<id>``
(docs/protocol.md). The order is fixed by what the office must know before it releases
anything:

1. ``challenge`` - a fresh one-time nonce for the card to sign;
2. ``authenticate`` - the card's certificate must chain to the trusted JPKI CA and its signature
   over that nonce must verify; the card's serial must belong to a resident of the registry who
   may have this certificate at a kiosk (refusals reach the kiosk as "go_to_counter" or
   "not_available", never the reason); the office then quotes the fee and opens a session bound
   to that card, certificate, options and copies;
3. ``issue`` - after payment: the session's certificate is issued once per request id (a retry,
   even after the kiosk restarted, gets the same issue number and content) and its content goes
   back to the kiosk, which prints it and forgets it.

Money outcomes come back as the kiosk's events (through its outbox): ``kiosk.cash`` for the
daily reconciliation and ``kiosk.issue_void`` when a certificate did not print.

This module holds no connection of its own: :class:`KioskService` works on the office's SQLite
connection inside the caller's transaction, so a reply leaves only after its commit.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from cryptography import x509

from certificates.card_auth import CardAuthError, ChallengeBook, authenticate
from certificates.registry import Registry, Resident
from certificates.rules import (
    CertificateError,
    CertificateKind,
    CertificateOptions,
    FeeSchedule,
    IneligibleError,
    certificate_content,
    check_copies,
    check_eligibility,
    household_choices,
    parse_kind,
    parse_options,
)
from office.issuance import CashReport, IssuanceBook, IssuanceError

log = logging.getLogger(__name__)

# Refusal codes the kiosk may show (as "please go to a counter" or "not available here").
CARD_INVALID = "card_invalid"
GO_TO_COUNTER = "go_to_counter"
NOT_AVAILABLE = "not_available"
SESSION_EXPIRED = "session_expired"
NOT_PAID = "not_paid"
NO_SERVICE = "no_service"  # the office has no trusted JPKI CA configured


class KioskService:
    """Answers kiosk requests from the registry, the issuance book and the JPKI trust anchors."""

    def __init__(
        self,
        book: IssuanceBook,
        registry: Registry,
        fees: FeeSchedule,
        ca_certificates: Sequence[x509.Certificate],
        mayor_line: str,
        *,
        challenges: ChallengeBook | None = None,
        on_activity: Callable[[str], None] | None = None,
    ) -> None:
        self.book = book
        self.registry = registry
        self.fees = fees
        self.cas = list(ca_certificates)
        self.mayor_line = mayor_line
        self.challenges = challenges or ChallengeBook()
        self._activity = on_activity or (lambda line: None)

    def handle(self, device_id: str, doc: Mapping[str, Any], now_ms: int) -> dict[str, Any]:
        """The reply body for one validated ``kiosk_request`` (never raises for bad requests)."""
        op = str(doc["op"])
        base = {"request_id": doc["request_id"], "op": op}
        if not self.cas:
            return {**base, "ok": False, "refusal": NO_SERVICE}
        try:
            if op == "challenge":
                return {**base, **self._challenge(now_ms)}
            if op == "authenticate":
                return {**base, **self._authenticate(device_id, doc, now_ms)}
            return {**base, **self._issue(device_id, doc, now_ms)}
        except (CertificateError, IssuanceError, KeyError, ValueError) as err:
            # A request the kiosk should not have sent (a bug or a tampered client): logged with
            # its reason here, a plain refusal there.
            log.warning("kiosk %s: %s refused: %s", device_id, op, err)
            return {**base, "ok": False, "refusal": GO_TO_COUNTER}

    # -- the three steps ------------------------------------------------------------------------

    def _challenge(self, now_ms: int) -> dict[str, Any]:
        challenge = self.challenges.issue(now_ms)
        return {
            "ok": True,
            "challenge_id": challenge.challenge_id,
            "nonce": base64.b64encode(challenge.nonce).decode("ascii"),
            "expires_ms": challenge.expires_ms,
        }

    def _authenticate(self, device_id: str, doc: Mapping[str, Any], now_ms: int) -> dict[str, Any]:
        try:
            certificate = _b64(doc["certificate"])
            signature = _b64(doc["signature"])
            identity = authenticate(self.challenges, self.cas, str(doc["challenge_id"]), certificate, signature, now_ms)
        except CardAuthError as err:
            log.warning("kiosk %s: card refused (%s)", device_id, err.reason)
            return {"ok": False, "refusal": CARD_INVALID}
        resident = self.registry.by_card(identity.serial)
        if resident is None:
            log.warning("kiosk %s: card %s is valid but belongs to no resident here", device_id, identity.serial)
            return {"ok": False, "refusal": GO_TO_COUNTER}
        kind = parse_kind(doc["kind"])
        options = parse_options(kind, doc.get("options") or {})
        copies = check_copies(doc["copies"])
        today = _day(self.book, now_ms)
        refusal = check_eligibility(self.registry, resident, kind, options, today)
        if refusal is not None:
            # The reason stays here, for the counter clerk who will help the resident.
            log.info("kiosk %s: %s refused for card %s: %s", device_id, kind.value, identity.serial, refusal.reason)
            self._activity(f"kiosk {device_id}: {kind.value} refused -> please go to a counter")
            return {"ok": False, "refusal": refusal.public}
        fee = self.fees.total(kind, copies)
        token = self.book.open_session(identity.serial, resident.id, kind, options, copies, fee, now_ms)
        return {
            "ok": True,
            "session_token": token,
            "fee": fee,
            "household": household_choices(self.registry, resident, today),
        }

    def _issue(self, device_id: str, doc: Mapping[str, Any], now_ms: int) -> dict[str, Any]:
        request_id = str(doc["request_id"])
        done = self.book.issuance(request_id)
        if done is not None:  # a retry (lost reply, kiosk restarted): the same answer, once issued
            if done.device_id != device_id:
                log.warning("kiosk %s: request %s belongs to %s", device_id, request_id, done.device_id)
                return {"ok": False, "refusal": GO_TO_COUNTER}
            return done.reply()
        token = str(doc["session_token"])
        session = self.book.session(token, now_ms)
        if session is None:
            return {"ok": False, "refusal": SESSION_EXPIRED}
        if int(doc.get("paid", 0)) < session.fee:
            log.warning("kiosk %s: issue with %s yen paid of a %s yen fee", device_id, doc.get("paid"), session.fee)
            return {"ok": False, "refusal": NOT_PAID}
        resident = self.registry.resident(session.resident_id)
        if resident is None:
            log.warning("kiosk %s: session for resident %s who is no longer registered", device_id, session.resident_id)
            return {"ok": False, "refusal": GO_TO_COUNTER}
        kind = parse_kind(session.kind)
        options = parse_options(kind, session.options)
        chosen = (doc.get("options") or {}).get("members")
        if chosen and chosen != session.options.get("members"):
            # A 住民票 of chosen members: the kiosk could offer the household only after the
            # authentication, so the choice comes now and is checked like the rest.
            options = parse_options(kind, doc["options"])
            refusal = check_eligibility(self.registry, resident, kind, options, _day(self.book, now_ms))
            if refusal is not None:
                log.info("kiosk %s: chosen members refused: %s", device_id, refusal.reason)
                return {"ok": False, "refusal": refusal.public}
            session = self.book.choose_members(token, options, now_ms)
        if doc.get("kind") not in (None, kind.value) or int(doc.get("copies", session.copies)) != session.copies:
            log.warning("kiosk %s: issue request differs from its authenticated session", device_id)
            return {"ok": False, "refusal": GO_TO_COUNTER}
        try:
            issued = self.book.issue(
                request_id,
                device_id,
                session.card_serial,
                kind,
                options,
                session.copies,
                session.fee,
                now_ms,
                session_token=token,
                make_content=lambda number, day: _content(self, resident, kind, options, number, day),
            )
        except IneligibleError as err:
            log.info("kiosk %s: %s became ineligible before issue: %s", device_id, kind.value, err)
            return {"ok": False, "refusal": GO_TO_COUNTER}
        self._activity(f"kiosk {device_id}: issued {kind.value} x{session.copies} as {issued.issue_number}")
        return issued.reply()

    # -- events ---------------------------------------------------------------------------------

    def apply_event(self, device_id: str, kind: str, data: Mapping[str, Any], now_ms: int) -> str | None:
        """A kiosk event from its outbox; returns a problem instead of raising (stored anyway)."""
        try:
            if kind == "kiosk.cash":
                report = CashReport.from_wire(data)
                self.book.record_cash(device_id, self.book.business_day(report.at_ms), report)
                return None
            if kind == "kiosk.issue_void":
                self.book.void(str(data["request_id"]), str(data.get("reason", "not_printed")), now_ms)
                return None
        except (IssuanceError, KeyError, TypeError) as err:
            return f"{kind}: {err}"
        return None


def _content(
    service: KioskService,
    resident: Resident,
    kind: CertificateKind,
    options: CertificateOptions,
    number: str,
    day: date,
) -> Mapping[str, Any]:
    return certificate_content(service.registry, resident, kind, options, number, day, service.mayor_line)


def _b64(value: Any) -> bytes:
    """A base64 field; ValueError (a malformed request, not a bad card) when it is not base64."""
    try:
        return base64.b64decode(str(value), validate=True)
    except binascii.Error as err:
        raise ValueError(f"not base64: {err}") from err


def _day(book: IssuanceBook, now_ms: int) -> date:
    return date.fromisoformat(book.business_day(now_ms))
