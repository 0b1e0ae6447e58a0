"""The kiosk's ports: what its core needs from the card, the cash, the office and the printers.

The flow (kiosk.flow) is pure; kiosk.runtime drives it through the Protocols below. They are
shaped after the shared contracts (drivers/card_reader.py + drivers/jpki.py for the card,
drivers/cash.py for the cash box, the office's request/reply over MQTT) but the kiosk core
depends only on these shapes, so the real drivers, the office link and the in-memory test
fakes are interchangeable. Nothing here does I/O.

Also here: the kiosk package's exception root (:class:`KioskError`) and the small value types
that cross a port (office replies, receipt and refund-slip contents). A certificate's content
is the certificates package's model (certificates.content), made from the office's reply once,
by the runtime.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from certificates.content import CertificateContent
from sync import messages

__all__ = [
    "ApduTransport",
    "AuthReply",
    "CardReaderPort",
    "CashPort",
    "CertificateContent",
    "CertificateRenderer",
    "Challenge",
    "Clock",
    "DocumentPrinterPort",
    "IssueReply",
    "JpkiPort",
    "KioskError",
    "Member",
    "OfficePort",
    "OfficeUnavailable",
    "PinCheckLike",
    "PrinterFailed",
    "Receipt",
    "ReceiptPrinterPort",
    "RefundSlip",
    "SpeakerPort",
]


class KioskError(Exception):
    """Root of every error the kiosk package raises."""


class OfficeUnavailable(KioskError):
    """The office did not answer in time or cannot be reached (the kiosk refunds and stops)."""


class PrinterFailed(KioskError):
    """A printer reported a fault; ``printed`` says how many copies came out before it."""

    def __init__(self, message: str, printed: int = 0, *, uncertain: bool = False) -> None:
        super().__init__(message)
        self.printed = printed
        # True when the printer cannot tell whether the page came out (cable pulled mid-job).
        self.uncertain = uncertain


# -- values crossing the ports ------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """A household member the resident may choose for a 住民票 of "chosen members"."""

    id: str
    name: str = field(repr=False)  # resident data: kept out of logs and reprs


@dataclass(frozen=True)
class Challenge:
    """The office's answer to "challenge": a one-time nonce the card signs."""

    challenge_id: str
    nonce: bytes = field(repr=False)
    expires_ms: int = 0


@dataclass(frozen=True)
class AuthReply:
    """The office's answer to "authenticate": a session, or a refusal code (never a reason)."""

    ok: bool
    session_token: str | None = field(default=None, repr=False)
    fee: int | None = None
    household: tuple[Member, ...] = ()
    refusal: str | None = None


@dataclass(frozen=True)
class IssueReply:
    """The office's answer to "issue"; ``certificate`` is the content for the PDF (resident data).

    The content stays plain data here, as the wire carries it: the runtime converts it into its
    model (certificates.content.parse_content) once, and refuses a reply whose content does not fit.
    """

    ok: bool
    issue_number: str | None = None
    fee: int | None = None
    certificate: Mapping[str, Any] | None = field(default=None, repr=False)
    refusal: str | None = None


@dataclass(frozen=True)
class Receipt:
    """What the receipt printer prints after an issuance (no resident data)."""

    session_id: str
    issue_number: str | None
    kind: str
    copies: int
    copies_printed: int
    fee: int
    kept: int
    paid: int
    change: int


@dataclass(frozen=True)
class RefundSlip:
    """A credit slip: money the kiosk owes but could not pay out; a counter pays it.

    ``key`` is the idempotency key of the journal record the office received for it, so staff
    can match the slip to the report.
    """

    session_id: str
    key: str
    amount: int
    reason: str


# -- the ports ------------------------------------------------------------------------------------


class ApduTransport(Protocol):
    """Bytes in, bytes out to the card (drivers.card_reader.ApduTransport)."""

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU; returns the response data followed by SW1 SW2."""
        ...


class CardReaderPort(Protocol):
    """The card reader (drivers.card_reader.CardReader)."""

    def card_present(self) -> bool:
        """True while a card sits in the reader."""
        ...

    def connect(self) -> ApduTransport:
        """Power the card and open a transport; raises the driver's CardError without a card."""
        ...

    def release(self) -> None:
        """Power the card down (ends the PIN's validity) and eject it if the reader can."""
        ...


class PinCheckLike(Protocol):
    """The result of a PIN check (drivers.jpki.PinCheck)."""

    @property
    def ok(self) -> bool:
        """True when the PIN was right."""
        ...

    @property
    def tries_left(self) -> int:
        """Wrong tries left before the card blocks."""
        ...

    @property
    def blocked(self) -> bool:
        """True when the card is blocked (three wrong PINs)."""
        ...


class JpkiPort(Protocol):
    """The JPKI user-authentication application on a My Number card (drivers.jpki.JpkiCard)."""

    def select(self) -> None:
        """Select the JPKI application."""
        ...

    def pin_tries_left(self) -> int:
        """PIN tries left (0: blocked)."""
        ...

    def verify_pin(self, pin: str) -> PinCheckLike:
        """Check the 4-digit user-authentication PIN."""
        ...

    def read_certificate(self) -> bytes:
        """The DER user-authentication certificate."""
        ...

    def sign(self, challenge: bytes) -> bytes:
        """Sign ``challenge`` (RSA PKCS#1 v1.5 over its SHA-256 DigestInfo) after VERIFY."""
        ...


class CashPort(Protocol):
    """Coin acceptor, bill validator and hoppers (drivers.cash.CashBox).

    ``poll`` returns the driver's event objects (CoinAccepted, NoteEscrowed, NoteStacked,
    NoteReturned, ChangePaid, CashFault, EventsLost); kiosk.runtime reads them by class name,
    ``value`` and ``counter`` (the acceptor's event counter, journalled with the money so that
    a restart can :meth:`resume` after it) so that the kiosk core does not import the driver.
    """

    def accept(self, max_note: int | None) -> None:
        """Accept coins, and notes up to ``max_note`` (None: no notes)."""
        ...

    def inhibit(self) -> None:
        """Accept nothing."""
        ...

    def poll(self) -> Sequence[object]:
        """New cash events since the last poll."""
        ...

    def stack_note(self) -> None:
        """Move the note in escrow into the cash box."""
        ...

    def return_note(self) -> None:
        """Give the note in escrow back to the resident."""
        ...

    def pay_out(self, amount: int) -> int:
        """Dispense ``amount`` yen; returns what was actually paid (less when hoppers run dry)."""
        ...

    def can_pay(self, amount: int) -> bool:
        """True when the hoppers hold enough to pay exactly ``amount``."""
        ...

    def cursor(self) -> Mapping[str, int]:
        """The acceptors' event counters as of the last poll (journalled once when none is)."""
        ...

    def resume(self, cursor: Mapping[str, int]) -> None:
        """At start: report again the acceptors' events after these journalled counters."""
        ...


class OfficePort(Protocol):
    """The office's certificate service (request/reply over MQTT, wired by the kiosk app).

    Every call raises :class:`OfficeUnavailable` when no answer comes within ``timeout_s``.
    ``issue`` is idempotent by ``request_id`` at the office: a retry returns the same issue
    number and content, never a second issuance.
    """

    def online(self) -> bool:
        """The office's retained online state as last seen."""
        ...

    def in_hours(self) -> bool | None:
        """Whether it is within the kiosk's hours now (None: the hours are not known yet)."""
        ...

    def challenge(self, request_id: str, timeout_s: float) -> Challenge:
        """Ask for a nonce for the card to sign."""
        ...

    def authenticate(self, request: messages.AuthenticateRequest, timeout_s: float) -> AuthReply:
        """Verify the card's signature and the resident's eligibility; returns the fee."""
        ...

    def issue(self, request: messages.IssueRequest, timeout_s: float) -> IssueReply:
        """Issue the certificate (idempotent by ``request.request_id``)."""
        ...

    def report(self, record: Mapping[str, Any]) -> None:
        """Queue a cash report record for the office (through the durable outbox)."""
        ...


class CertificateRenderer(Protocol):
    """Turns an issued certificate's content into the PDF the document printer prints."""

    def render(self, kind: str, content: CertificateContent, issue_number: str) -> bytes:
        """The PDF bytes of one copy."""
        ...


class DocumentPrinterPort(Protocol):
    """The A4 document printer."""

    def print_pdf(self, pdf: bytes, copies: int, title: str) -> int:
        """Print ``copies`` copies; returns copies printed, or raises :class:`PrinterFailed`."""
        ...


class ReceiptPrinterPort(Protocol):
    """The receipt printer (a thermal printer, drivers.ticket_printer class)."""

    def print_receipt(self, receipt: Receipt, language: str) -> None:
        """Print a receipt after an issuance."""
        ...

    def print_refund_slip(self, slip: RefundSlip, language: str) -> None:
        """Print a credit slip for money the kiosk could not pay out."""
        ...


class SpeakerPort(Protocol):
    """The voice (drivers.speech.Speaker's ``say``)."""

    def say(self, text: str, language: str) -> None:
        """Queue ``text`` to be spoken."""
        ...


class Clock(Protocol):
    """Time for the runtime: monotonic for timeouts, wall time for the journal's stamps."""

    def monotonic_ms(self) -> int:
        """Milliseconds on a clock that never goes back (deadlines)."""
        ...

    def wall_ms(self) -> int:
        """Milliseconds since the epoch, as well as the device knows it (journal stamps)."""
        ...
