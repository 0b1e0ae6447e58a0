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
   back to the kiosk, which prints it and forgets it. The number names the office
   (``chuo-20261206-00001``: :func:`issue_site_code`), unique across a ward.

Money outcomes come back as the kiosk's events (through its outbox): ``kiosk.cash`` for the
daily reconciliation and ``kiosk.issue_void`` when a certificate did not print.

This module holds no connection of its own: :class:`KioskService` works on the office's SQLite
connection inside the caller's transaction, so a reply leaves only after its commit.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cryptography import x509

from certificates.card_auth import CardAuthError, ChallengeBook, authenticate, load_ca_certificates
from certificates.errors import CertificateDomainError
from certificates.registry import RegistryError, RegistryLookup, Resident, demo_registry
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
from office.db import OfficeDB
from office.issuance import CashReport, IssuanceBook, IssuanceError
from office.registry_store import RegistryStoreError, StoredRegistry, save_registry, stored_registry
from sync import messages
from sync.site import SiteConfig

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
        registry: RegistryLookup,
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

    def handle(self, device_id: str, request: messages.AnyKioskRequest, now_ms: int) -> messages.AnyKioskReply:
        """The reply to one kiosk request, checked on arrival (never raises for a bad request)."""
        try:
            if not self.cas:
                return _refuse(request, NO_SERVICE)
            match request:
                case messages.ChallengeRequest():
                    return self._challenge(request, now_ms)
                case messages.AuthenticateRequest():
                    return self._authenticate(device_id, request, now_ms)
                case messages.IssueRequest():
                    return self._issue(device_id, request, now_ms)
        except (RegistryError, RegistryStoreError) as err:
            # The stored registry is read row by row: a tampered or unreadable row is met here,
            # and the card holder is sent to a counter like any refusal, the row named in the log.
            log.error("kiosk %s: %s refused, the resident registry cannot be used: %s", device_id, _op(request), err)
            self._activity("kiosk service: the resident registry cannot be used (see the log)")
            return _refuse(request, GO_TO_COUNTER)
        except (CertificateError, IssuanceError, KeyError, ValueError) as err:
            # A request the kiosk should not have sent (a bug or a tampered client): logged with
            # its reason here, a plain refusal there.
            log.warning("kiosk %s: %s refused: %s", device_id, _op(request), err)
            return _refuse(request, GO_TO_COUNTER)

    # -- the three steps ------------------------------------------------------------------------

    def _challenge(self, request: messages.ChallengeRequest, now_ms: int) -> messages.ChallengeReply:
        challenge = self.challenges.issue(now_ms)
        return messages.ChallengeReply(
            request_id=request.request_id,
            ok=True,
            challenge_id=challenge.challenge_id,
            nonce=challenge.nonce,
            expires_ms=challenge.expires_ms,
        )

    def _authenticate(
        self, device_id: str, request: messages.AuthenticateRequest, now_ms: int
    ) -> messages.AuthenticateReply:
        refused = functools.partial(messages.AuthenticateReply, request_id=request.request_id, ok=False)
        try:
            identity = authenticate(
                self.challenges, self.cas, request.challenge_id, request.certificate, request.signature, now_ms
            )
        except CardAuthError as err:
            log.warning("kiosk %s: card refused (%s)", device_id, err.reason)
            return refused(refusal=CARD_INVALID)
        resident = self.registry.by_card(identity.serial)
        if resident is None:
            log.warning("kiosk %s: card %s is valid but belongs to no resident here", device_id, identity.serial)
            return refused(refusal=GO_TO_COUNTER)
        kind = parse_kind(request.kind)
        options = parse_options(kind, request.options.plain())
        copies = check_copies(request.copies)
        today = _day(self.book, now_ms)
        refusal = check_eligibility(self.registry, resident, kind, options, today)
        if refusal is not None:
            # The reason stays here, for the counter clerk who will help the resident.
            log.info("kiosk %s: %s refused for card %s: %s", device_id, kind.value, identity.serial, refusal.reason)
            self._activity(f"kiosk {device_id}: {kind.value} refused -> please go to a counter")
            return refused(refusal=refusal.public)
        fee = self.fees.total(kind, copies)
        token = self.book.open_session(identity.serial, resident.id, kind, options, copies, fee, now_ms)
        return messages.AuthenticateReply(
            request_id=request.request_id,
            ok=True,
            session_token=token,
            fee=fee,
            household=tuple(
                messages.Member(id=str(m["id"]), name=str(m["name"]))
                for m in household_choices(self.registry, resident, today)
            ),
        )

    def _issue(self, device_id: str, request: messages.IssueRequest, now_ms: int) -> messages.IssueReply:
        request_id = request.request_id
        refused = functools.partial(messages.IssueReply, request_id=request_id, ok=False)
        done = self.book.issuance(request_id)
        if done is not None:  # a retry (lost reply, kiosk restarted): the same answer, once issued
            if done.device_id != device_id:
                log.warning("kiosk %s: request %s belongs to %s", device_id, request_id, done.device_id)
                return refused(refusal=GO_TO_COUNTER)
            return done.reply()
        token = request.session_token
        session = self.book.session(token, now_ms)
        if session is None:
            return refused(refusal=SESSION_EXPIRED)
        if request.paid < session.fee:
            log.warning("kiosk %s: issue with %s yen paid of a %s yen fee", device_id, request.paid, session.fee)
            return refused(refusal=NOT_PAID)
        resident = self.registry.resident(session.resident_id)
        if resident is None:
            log.warning("kiosk %s: session for resident %s who is no longer registered", device_id, session.resident_id)
            return refused(refusal=GO_TO_COUNTER)
        kind = parse_kind(session.kind)
        options = parse_options(kind, session.options)
        chosen = request.options.members
        if chosen and list(chosen) != session.options.get("members"):
            # A 住民票 of chosen members: the kiosk could offer the household only after the
            # authentication, so the choice comes now and is checked like the rest.
            options = parse_options(kind, request.options.plain())
            refusal = check_eligibility(self.registry, resident, kind, options, _day(self.book, now_ms))
            if refusal is not None:
                log.info("kiosk %s: chosen members refused: %s", device_id, refusal.reason)
                return refused(refusal=refusal.public)
            session = self.book.choose_members(token, options, now_ms)
        if request.kind not in (None, kind.value) or (request.copies or session.copies) != session.copies:
            log.warning("kiosk %s: issue request differs from its authenticated session", device_id)
            return refused(refusal=GO_TO_COUNTER)
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
            return refused(refusal=GO_TO_COUNTER)
        self._activity(f"kiosk {device_id}: issued {kind.value} x{session.copies} as {issued.issue_number}")
        return issued.reply()

    # -- events ---------------------------------------------------------------------------------

    def apply_event(
        self, device_id: str, event: messages.KioskCash | messages.KioskIssueVoid, now_ms: int
    ) -> str | None:
        """A kiosk event from its outbox; returns a problem instead of raising (stored anyway)."""
        try:
            match event:
                case messages.KioskCash():
                    report = CashReport.from_event(event)
                    self.book.record_cash(device_id, self.book.business_day(report.at_ms), report)
                case messages.KioskIssueVoid():
                    issued = self.book.issuance(event.request_id)
                    if issued is not None and issued.device_id != device_id:
                        # A kiosk voids only what it issued itself: the fee of another's stays due.
                        return f"{event.type}: {event.request_id} was issued by {issued.device_id}, not {device_id}"
                    self.book.void(event.request_id, event.reason, now_ms)
        except IssuanceError as err:
            return f"{event.type}: {err}"
        return None


def _op(request: messages.AnyKioskRequest) -> str:
    match request:
        case messages.ChallengeRequest():
            return "challenge"
        case messages.AuthenticateRequest():
            return "authenticate"
        case messages.IssueRequest():
            return "issue"


def _refuse(request: messages.AnyKioskRequest, refusal: str) -> messages.AnyKioskReply:
    """The refusal of ``request`` in the reply type of its ``op``."""
    match request:
        case messages.ChallengeRequest():
            return messages.ChallengeReply(request_id=request.request_id, ok=False, refusal=refusal)
        case messages.AuthenticateRequest():
            return messages.AuthenticateReply(request_id=request.request_id, ok=False, refusal=refusal)
        case messages.IssueRequest():
            return messages.IssueReply(request_id=request.request_id, ok=False, refusal=refusal)


def _content(
    service: KioskService,
    resident: Resident,
    kind: CertificateKind,
    options: CertificateOptions,
    number: str,
    day: date,
) -> Mapping[str, Any]:
    return certificate_content(service.registry, resident, kind, options, number, day, service.mayor_line)


def _day(book: IssuanceBook, now_ms: int) -> date:
    return date.fromisoformat(book.business_day(now_ms))


def open_kiosk_service(
    config: SiteConfig,
    db: OfficeDB,
    *,
    registry: RegistryLookup | None = None,
    on_activity: Callable[[str], None] = lambda line: None,
) -> KioskService:
    """The kiosk service of a site over the office store: its JPKI trust anchors, issuance book,
    fees and resident registry. It never stops the office: without a usable CA kiosks are told
    "no service", without a registry every card is sent to a counter - the log says why."""
    cas: list[x509.Certificate] = []
    if config.kiosk.jpki_ca:
        try:
            cas = load_ca_certificates(Path(config.kiosk.jpki_ca).read_bytes())
        except (OSError, ValueError, CertificateDomainError) as err:
            log.error("kiosk service off: cannot read the JPKI CA %s: %s", config.kiosk.jpki_ca, err)
    book = IssuanceBook(
        db.conn,
        tz=ZoneInfo(config.timezone),
        rollover_hour=config.rollover_hour,
        site_code=issue_site_code(config),
    )
    return KioskService(
        book,
        registry if registry is not None else _stored_registry(config, db, on_activity),
        FeeSchedule.from_config(config.kiosk.fees),
        cas,
        config.kiosk.mayor_line,
        on_activity=on_activity,
    )


def issue_site_code(config: SiteConfig) -> str:
    """The code that begins this office's issue numbers: ``[kiosk] site_code``, else the site id
    (the site file's check refuses a site id too long for that without a site_code)."""
    return config.kiosk.site_code or config.site


def _stored_registry(config: SiteConfig, db: OfficeDB, on_activity: Callable[[str], None]) -> RegistryLookup:
    """The resident registry in the office store (docs/registry.md), looked up row by row.

    An empty store gets the demo town's residents when the site runs as the demo
    (``[kiosk] registry = "demo"``); with ``"store"`` it stays empty. The start only checks the
    stored header: the registry is never read whole. Whatever the start finds, the kiosks are
    served from the store as it is at each request, so a registry imported later is used without
    a restart; until then every card is sent to a counter exactly like an unknown one.
    """
    how_to_load = f"load one with: madoguchi-office registry import FILE.json --db {db.path}"
    try:
        stored = stored_registry(db.conn)
        if stored is None and config.kiosk.registry == "demo":
            save_registry(db.conn, demo_registry())
            stored = stored_registry(db.conn)  # serve what the store holds, as on every later start
            log.info("kiosk service: stored the demo town's resident registry in %s", db.path)
    except (RegistryError, RegistryStoreError) as err:
        log.error(
            "kiosk service: the stored resident registry cannot be used, so every card is sent to a counter: %s; %s",
            err,
            how_to_load,
        )
        on_activity("kiosk service: the resident registry cannot be used (see the log)")
        return StoredRegistry(db.conn)
    if stored is None:
        log.warning(
            "kiosk service: the office store holds no resident registry, so every card is sent to a counter; %s",
            how_to_load,
        )
        on_activity("kiosk service: no resident registry stored; every card goes to a counter")
        return StoredRegistry(db.conn)
    return stored
