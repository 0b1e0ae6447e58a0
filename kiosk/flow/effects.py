"""Effects: what the runtime must do, in order - speak, read the card, call the office, move
cash, print - and :class:`Journal`, the durable record written before the effects after it.
:class:`JournalEntry` holds only ids, amounts and codes, never a PIN, a name or content."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kiosk.binding import PrintJob
from kiosk.flow.options import CertificateOptions
from kiosk.ports import Receipt, RefundSlip


@dataclass(frozen=True)
class Effect:
    """Base of every effect."""


@dataclass(frozen=True)
class Speak(Effect):
    """Say the prompt of ``key`` (a step name or an outcome code) in ``language``."""

    key: str
    language: str


@dataclass(frozen=True)
class WarnTimeout(Effect):
    """Ask "do you need more time?" (the screen shows it; a touch sends StillHere)."""

    seconds_left: int
    language: str


@dataclass(frozen=True)
class Notice(Effect):
    """A short message on the current screen (e.g. "pin_format", "exact_amount_only")."""

    code: str


@dataclass(frozen=True)
class ReadCard(Effect):
    """Connect to the card, select JPKI, read the PIN tries left -> CardReady/CardUnreadable."""


@dataclass(frozen=True)
class VerifyPin(Effect):
    """VERIFY the PIN -> PinResult. The PIN never leaves this object; its repr hides it."""

    pin: str = field(repr=False)


@dataclass(frozen=True)
class SignChallenge(Effect):
    """Read the certificate and sign the nonce -> ChallengeSigned."""

    nonce: bytes = field(repr=False)


@dataclass(frozen=True)
class ReturnCard(Effect):
    """Power the card down and eject it."""


@dataclass(frozen=True)
class RequestChallenge(Effect):
    """Office "challenge" -> ChallengeReceived | OfficeLost."""

    request_id: str


@dataclass(frozen=True)
class Authenticate(Effect):
    """Office "authenticate" -> Authenticated | AuthRefused | OfficeLost."""

    request_id: str
    challenge_id: str
    certificate: bytes = field(repr=False)
    signature: bytes = field(repr=False)
    kind: str = ""
    options: CertificateOptions = field(default_factory=CertificateOptions)
    copies: int = 1


@dataclass(frozen=True)
class Issue(Effect):
    """Office "issue" (idempotent by request_id) -> Issued | IssueRefused | OfficeLost."""

    request_id: str
    session_token: str = field(repr=False)
    kind: str
    options: CertificateOptions
    copies: int
    paid: int


@dataclass(frozen=True)
class AcceptCash(Effect):
    """Accept coins, and notes up to ``max_note`` (None: coins only)."""

    max_note: int | None


@dataclass(frozen=True)
class Inhibit(Effect):
    """Accept no cash."""


@dataclass(frozen=True)
class StackNote(Effect):
    """Move the note in escrow into the cash box -> NoteStacked."""


@dataclass(frozen=True)
class ReturnNote(Effect):
    """Give the note in escrow back -> NoteReturned."""


@dataclass(frozen=True)
class PayOut(Effect):
    """Dispense change or a refund -> PayoutDone(requested, paid)."""

    amount: int


@dataclass(frozen=True)
class PrintCertificate(Effect):
    """Release the bound job to the document printer (binding re-checked) -> PrintDone."""

    job: PrintJob


@dataclass(frozen=True)
class PrintReceipt(Effect):
    """Print the receipt."""

    receipt: Receipt
    language: str


@dataclass(frozen=True)
class PrintRefundSlip(Effect):
    """Print a credit slip for money the kiosk owes."""

    slip: RefundSlip
    language: str


JsonScalar = int | str | bool | None


@dataclass(frozen=True)
class JournalEntry:
    """One durable record: a money event or an issuance step of a session.

    ``key`` (``"<session_id>:<seq>"``) is its idempotency key, also at the office. ``data``
    holds only ids, amounts and codes: never a PIN, a name or certificate content.
    """

    session_id: str
    seq: int
    kind: str
    data: Mapping[str, JsonScalar]

    @property
    def key(self) -> str:
        """The idempotency key."""
        return f"{self.session_id}:{self.seq}"


@dataclass(frozen=True)
class Journal(Effect):
    """Write ``entry`` durably before executing any later effect."""

    entry: JournalEntry
