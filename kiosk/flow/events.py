"""Events: everything that happens to the kiosk, as frozen values with ``now_ms`` (a monotonic
time the runtime read): the resident's touches, the card, the office, the cash, the printer,
time passing and faults. Secrets (the PIN, the nonce, the signature) stay out of their reprs."""

from __future__ import annotations

from dataclasses import dataclass, field

from kiosk.flow.options import CertificateOptions
from kiosk.ports import CertificateContent, Member


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every event; ``now_ms`` is monotonic time when it happened."""

    now_ms: int


# resident (touch screen or tactile keypad)
@dataclass(frozen=True, kw_only=True)
class ChooseLanguage(Event):
    """The resident picked a language on the start screen."""

    language: str


@dataclass(frozen=True, kw_only=True)
class ChooseCertificate(Event):
    """The resident picked a certificate kind."""

    kind: str


@dataclass(frozen=True, kw_only=True)
class ConfirmOptions(Event):
    """The resident confirmed the options screen."""

    options: CertificateOptions
    copies: int


@dataclass(frozen=True, kw_only=True)
class Back(Event):
    """Back one screen (certificate -> language, options -> certificate)."""


@dataclass(frozen=True, kw_only=True)
class EnterPin(Event):
    """The resident entered the 4-digit PIN (never journalled, never in a repr)."""

    pin: str = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class ChooseMembers(Event):
    """The household members for a 住民票 of chosen members."""

    members: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ConfirmFee(Event):
    """The resident accepted the fee and wants to pay."""


@dataclass(frozen=True, kw_only=True)
class Cancel(Event):
    """The cancel button (before printing)."""


@dataclass(frozen=True, kw_only=True)
class StillHere(Event):
    """The resident answered the timeout warning (or touched anything)."""


# card
@dataclass(frozen=True, kw_only=True)
class CardInserted(Event):
    """A card arrived in the reader."""


@dataclass(frozen=True, kw_only=True)
class CardRemoved(Event):
    """The card left the reader (taken back, or pulled)."""


@dataclass(frozen=True, kw_only=True)
class CardReady(Event):
    """The card's JPKI application answered; ``tries_left`` PIN tries remain."""

    tries_left: int


@dataclass(frozen=True, kw_only=True)
class CardUnreadable(Event):
    """The card is not a JPKI card or failed a command."""


@dataclass(frozen=True, kw_only=True)
class PinResult(Event):
    """The card's answer to VERIFY."""

    ok: bool
    tries_left: int
    blocked: bool


@dataclass(frozen=True, kw_only=True)
class ChallengeSigned(Event):
    """The card signed the office's nonce; ``card_serial`` is the certificate's serialNumber."""

    certificate: bytes = field(repr=False)
    signature: bytes = field(repr=False)
    card_serial: str


# office
@dataclass(frozen=True, kw_only=True)
class OfficeStatus(Event):
    """The office's online state changed."""

    online: bool


@dataclass(frozen=True, kw_only=True)
class HoursStatus(Event):
    """The kiosk's hours began (``open``) or ended."""

    open: bool


@dataclass(frozen=True, kw_only=True)
class ChallengeReceived(Event):
    """The office sent a nonce to sign."""

    challenge_id: str
    nonce: bytes = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class Authenticated(Event):
    """The office accepted the card and the request; ``fee`` is the total in yen."""

    session_token: str = field(repr=False)
    fee: int
    household: tuple[Member, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AuthRefused(Event):
    """The office refused (the code is not shown: the screen says "please go to a counter")."""

    refusal: str


@dataclass(frozen=True, kw_only=True)
class Issued(Event):
    """The office issued the certificate; ``content`` is resident data for the print job only."""

    request_id: str
    issue_number: str
    fee: int
    content: CertificateContent = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class IssueRefused(Event):
    """The office refused to issue."""

    request_id: str
    refusal: str


@dataclass(frozen=True, kw_only=True)
class OfficeLost(Event):
    """An office call got no answer in time."""


# cash
@dataclass(frozen=True, kw_only=True)
class CoinAccepted(Event):
    """A coin went into the cash box (coins have no escrow)."""

    value: int
    counter: int | None = None  # the acceptor's event counter, journalled: a restart resumes after it


@dataclass(frozen=True, kw_only=True)
class NoteEscrowed(Event):
    """A note is held in escrow; ``change_ok``: the hoppers can pay the change it would need."""

    value: int
    counter: int | None = None  # the acceptor's event counter, journalled: a restart resumes after it
    change_ok: bool = True


@dataclass(frozen=True, kw_only=True)
class NoteStacked(Event):
    """The note in escrow went into the cash box."""

    value: int
    counter: int | None = None  # the acceptor's event counter, journalled: a restart resumes after it


@dataclass(frozen=True, kw_only=True)
class NoteReturned(Event):
    """The note in escrow went back to the resident."""

    value: int
    counter: int | None = None  # the acceptor's event counter, journalled: a restart resumes after it


@dataclass(frozen=True, kw_only=True)
class PayoutDone(Event):
    """The hoppers finished a payout: ``paid`` of ``requested`` yen came out."""

    requested: int
    paid: int


@dataclass(frozen=True, kw_only=True)
class ChangeStatus(Event):
    """Whether change is low (exact-amount-only payments until it is refilled)."""

    low: bool


# printer, time, faults
@dataclass(frozen=True, kw_only=True)
class PrintDone(Event):
    """The document printer finished a job: ``copies_printed`` came out for sure."""

    request_id: str
    copies_printed: int
    uncertain: bool = False


@dataclass(frozen=True, kw_only=True)
class Tick(Event):
    """Time passed (the runtime sends one every ~100-250 ms)."""


@dataclass(frozen=True, kw_only=True)
class Fault(Event):
    """The kiosk cannot go on safely (the journal cannot be written): out of service."""

    code: str
