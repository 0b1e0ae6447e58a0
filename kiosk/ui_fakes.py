"""In-memory stand-ins for the kiosk's office and printers: the demo's screens and their tests.

They model what the kiosk relies on, with the office's own pure rules rather than canned
answers:

* :class:`DemoOffice` (kiosk.ports.OfficePort) issues one-time challenges, checks the card's
  signature and certificate against the JPKI CA (certificates.card_auth), maps the card to a resident
  of the demo registry (certificates.registry.demo_registry), refuses what the office refuses
  (certificates.rules.check_eligibility: the kiosk only ever hears "go_to_counter" or
  "not_available"), quotes the fee, and issues once per request id (a retry gets the same
  issue number and content). ``online`` can be switched off; ``delay_s`` slows a call down,
  so a screen that waits for the office can be seen.
* :class:`DirDocumentPrinter` writes each PDF it is given into a directory.
* :class:`RecordingReceipts` keeps the receipts and refund slips.

The real office service (office.kiosk_service) answers over MQTT with the same rules and a
durable issuance book; these are for a kiosk without an office (demo, screenshots, UI tests).
"""

from __future__ import annotations

import secrets
import threading
import time
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from certificates.card_auth import CardAuthError, ChallengeBook, authenticate
from certificates.content import CertificateContent
from certificates.registry import Registry, demo_registry
from certificates.rules import (
    CertificateError,
    FeeSchedule,
    certificate_content,
    check_copies,
    check_eligibility,
    household_choices,
    parse_kind,
    parse_options,
)
from kiosk.ports import (
    AuthReply,
    Challenge,
    IssueReply,
    Member,
    OfficeUnavailable,
    Receipt,
    ReceiptPrinterPort,
    RefundSlip,
)
from sync import messages

MAYOR_LINE = "まどぐち町長\u3000佐々木\u3000和夫"
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


@dataclass(frozen=True)
class _Session:
    resident_id: str
    kind: str
    options: Mapping[str, Any]
    copies: int
    fee: int


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class DemoOffice:
    """The office's certificate service in memory (see the module docstring)."""

    def __init__(
        self,
        ca_certificate: bytes | x509.Certificate,
        *,
        registry: Registry | None = None,
        fees: FeeSchedule | None = None,
        wall_ms: Callable[[], int] = _wall_ms,
        delay_s: Mapping[str, float] | None = None,
    ) -> None:
        cert = (
            ca_certificate
            if isinstance(ca_certificate, x509.Certificate)
            else x509.load_der_x509_certificate(ca_certificate)
        )
        self.cas = [cert]
        self.registry = registry or demo_registry()
        self.fees = fees or FeeSchedule()
        self.wall_ms = wall_ms
        self.delay_s = dict(delay_s or {})
        self.is_online = True
        self.reports: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.refusals: list[str] = []  # the office's reasons, for tests: never sent to the kiosk
        self._challenges = ChallengeBook()
        self._sessions: dict[str, _Session] = {}
        self._issued: dict[str, IssueReply] = {}
        self._lock = threading.Lock()

    def _call(self, name: str) -> None:
        self.calls.append(name)
        delay = self.delay_s.get(name, 0.0)
        if delay > 0:
            time.sleep(delay)
        if not self.is_online:
            raise OfficeUnavailable(f"{name}: the office does not answer")

    def _today(self) -> date:
        return datetime.fromtimestamp(self.wall_ms() / 1000, TOKYO).date()

    def online(self) -> bool:
        """Whether the kiosk sees the office (switch ``is_online`` to play a lost network)."""
        return self.is_online

    def in_hours(self) -> bool | None:
        """The stand-in office has no hours of its own: the app's configuration decides (None)."""
        return None

    def challenge(self, request_id: str, timeout_s: float) -> Challenge:
        """A fresh one-time nonce for the card to sign."""
        self._call("challenge")
        with self._lock:
            c = self._challenges.issue(self.wall_ms())
        return Challenge(c.challenge_id, c.nonce, c.expires_ms)

    def authenticate(self, request: messages.AuthenticateRequest, timeout_s: float) -> AuthReply:
        """Check the card's answer and the resident's eligibility; quote the fee."""
        challenge_id, certificate, signature = request.challenge_id, request.certificate, request.signature
        kind, options, copies = request.kind, request.options.plain(), request.copies
        self._call("authenticate")
        with self._lock:
            try:
                identity = authenticate(
                    self._challenges, self.cas, challenge_id, certificate, signature, self.wall_ms()
                )
            except CardAuthError as err:
                self.refusals.append(f"card: {err.reason}")
                return AuthReply(ok=False, refusal="card_invalid")
            resident = self.registry.by_card(identity.serial)
            if resident is None:
                self.refusals.append(f"no resident for {identity.serial}")
                return AuthReply(ok=False, refusal="go_to_counter")
            try:
                parsed_kind = parse_kind(kind)
                parsed = parse_options(parsed_kind, options)
                check_copies(copies)
            except CertificateError as err:
                self.refusals.append(f"bad request: {err}")
                return AuthReply(ok=False, refusal="go_to_counter")
            today = self._today()
            refusal = check_eligibility(self.registry, resident, parsed_kind, parsed, today)
            if refusal is not None:
                self.refusals.append(str(refusal.reason))
                return AuthReply(ok=False, refusal=refusal.public)
            fee = self.fees.total(parsed_kind, copies)
            token = secrets.token_hex(16)
            self._sessions[token] = _Session(resident.id, parsed_kind.value, dict(options), copies, fee)
            household = tuple(Member(m["id"], m["name"]) for m in household_choices(self.registry, resident, today))
            return AuthReply(ok=True, session_token=token, fee=fee, household=household)

    def issue(self, request: messages.IssueRequest, timeout_s: float) -> IssueReply:
        """Issue once per request id; a retry gets the same reply."""
        request_id, session_token, options, paid = (
            request.request_id,
            request.session_token,
            request.options.plain(),
            request.paid,
        )
        kind, copies = request.kind, request.copies
        self._call("issue")
        with self._lock:
            done = self._issued.get(request_id)
            if done is not None:
                return done
            session = self._sessions.get(session_token)
            if (
                session is None
                or paid < session.fee
                or (copies or session.copies) != session.copies
                or (kind or session.kind) != session.kind
            ):
                return IssueReply(ok=False, refusal="go_to_counter")
            resident = self.registry.resident(session.resident_id)
            if resident is None:
                return IssueReply(ok=False, refusal="go_to_counter")
            parsed_kind = parse_kind(session.kind)
            chosen = options if options.get("members") else session.options
            parsed = parse_options(parsed_kind, chosen)
            today = self._today()
            refusal = check_eligibility(self.registry, resident, parsed_kind, parsed, today)
            if refusal is not None:
                self.refusals.append(str(refusal.reason))
                return IssueReply(ok=False, refusal=refusal.public)
            number = f"K{len(self._issued) + 1:06d}"
            content = certificate_content(self.registry, resident, parsed_kind, parsed, number, today, MAYOR_LINE)
            reply = IssueReply(ok=True, issue_number=number, fee=session.fee, certificate=content)
            self._issued[request_id] = reply
            del self._sessions[session_token]
            return reply

    def report(self, record: Mapping[str, Any]) -> None:
        """Keep a cash report (the real link puts it in the device outbox)."""
        self.reports.append(dict(record))


class DirDocumentPrinter:
    """The A4 printer as a directory: each job's PDF is written there (kiosk.ports port)."""

    def __init__(self, directory: Path, *, delay_s: float = 0.0) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.delay_s = delay_s
        self.jobs: list[tuple[Path, int]] = []

    def print_pdf(self, pdf: bytes, copies: int, title: str) -> int:
        """Write the PDF (once; ``copies`` is in the file name) and report every copy printed."""
        if self.delay_s > 0:
            time.sleep(self.delay_s)
        path = self.directory / f"{len(self.jobs) + 1:04d}-x{copies}.pdf"
        path.write_bytes(pdf)
        self.jobs.append((path, copies))
        return copies


class PlainRenderer:
    """A quick stand-in for certificates.pdf.CertificatePdfRenderer (no 300 dpi pages)."""

    def render(self, kind: str, content: CertificateContent, issue_number: str) -> bytes:
        """A tiny PDF-like document naming the job (no resident data)."""
        return f"%PDF-1.4\n% madoguchi demo {kind} {issue_number}\n%%EOF\n".encode("ascii")


class RecordingReceipts:
    """The receipt printer as a list: receipts and refund slips, with their language.

    ``forward``: a real receipt printer (kiosk.printers.EscposReceiptPrinter on a fake
    transport) that prints each one too, so the demo's receipts can be looked at.
    """

    def __init__(self, forward: ReceiptPrinterPort | None = None) -> None:
        self.receipts: list[tuple[Receipt, str]] = []
        self.slips: list[tuple[RefundSlip, str]] = []
        self.forward = forward

    def print_receipt(self, receipt: Receipt, language: str) -> None:
        """Keep the receipt (and print it on ``forward``)."""
        self.receipts.append((receipt, language))
        if self.forward is not None:
            self.forward.print_receipt(receipt, language)

    def print_refund_slip(self, slip: RefundSlip, language: str) -> None:
        """Keep the slip (and print it on ``forward``)."""
        self.slips.append((slip, language))
        if self.forward is not None:
            self.forward.print_refund_slip(slip, language)
