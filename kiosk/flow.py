"""The certificate kiosk's flow (自動交付機): one resident's visit as a pure state machine.

``transition(state, event) -> (state, effects)``. States and events are frozen dataclasses;
effects are data the runtime (kiosk.runtime) executes **in order**. Every :class:`Journal`
effect comes before the action it makes durable (the intent before the payout, the escrow
decision before the stack command, the issuance request before the office call), and the
runtime writes it with fsync before it executes the effects after it. Nothing here does I/O or
reads a clock: every event carries ``now_ms`` (a monotonic time).

Steps (see docs/kiosk.md for the diagram)::

    language -> certificate -> options -> insert_card -> reading_card -> pin <-> verifying_pin
      -> authenticating -> [members] -> confirm_fee -> payment -> issuing -> printing
      -> settling -> take_card -> goodbye -> language

Cancel, timeout, card pulled or office lost at any step before printing: the card is returned
at once, ``settling`` refunds every yen credited, and the session closes. Money is tracked per
session: ``paid`` (coins accepted + notes stacked) = ``kept`` (fees of printed copies) +
``returned`` (paid out by the hoppers) + ``owed`` (refund slips) + ``held`` (not yet settled),
and ``held`` is 0 whenever a session closes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from kiosk.binding import PrintJob
from kiosk.ports import KioskError, Member, Receipt, RefundSlip

# -- constants -----------------------------------------------------------------------------------

KINDS: Final = ("juminhyo", "inkan", "koseki", "fuhyo", "shotoku")
COINS: Final = (10, 50, 100, 500)
NOTES: Final = (1000, 5000, 10000)  # 2000-yen notes are refused by the validator's inhibits
LANGUAGES: Final = ("ja", "en", "zh_CN", "ko", "vi", "pt")
DEFAULT_FEES: Final[Mapping[str, int]] = MappingProxyType(
    {"juminhyo": 300, "inkan": 300, "koseki": 450, "fuhyo": 300, "shotoku": 300}
)
MAX_COPIES: Final = 10
PIN_LENGTH: Final = 4
# Ids end up in journal keys and office request ids: keep them to a plain alphabet.
_ID: Final = re.compile(r"^[A-Za-z0-9_.\-]{1,40}$")


class Step(StrEnum):
    """Where the visit is; the kiosk app shows one screen per step."""

    LANGUAGE = "language"
    CERTIFICATE = "certificate"
    OPTIONS = "options"
    INSERT_CARD = "insert_card"
    READING_CARD = "reading_card"
    PIN = "pin"
    VERIFYING_PIN = "verifying_pin"
    AUTHENTICATING = "authenticating"
    MEMBERS = "members"
    CONFIRM_FEE = "confirm_fee"
    PAYMENT = "payment"
    ISSUING = "issuing"
    PRINTING = "printing"
    SETTLING = "settling"
    TAKE_CARD = "take_card"
    GOODBYE = "goodbye"
    OUT_OF_SERVICE = "out_of_service"


DEFAULT_TIMEOUTS_MS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "certificate": 60_000,
        "options": 90_000,
        "insert_card": 60_000,
        "reading_card": 15_000,
        "pin": 60_000,
        "verifying_pin": 15_000,
        "authenticating": 40_000,
        "members": 90_000,
        "confirm_fee": 60_000,
        "payment": 120_000,
        "issuing": 60_000,
        "printing": 240_000,
        "settling": 60_000,
        "take_card": 20_000,
        "goodbye": 8_000,
    }
)
# Steps where the resident is the one we wait for: a warning comes first, and any touch resets.
RESIDENT_STEPS: Final = frozenset(
    {
        Step.CERTIFICATE,
        Step.OPTIONS,
        Step.INSERT_CARD,
        Step.PIN,
        Step.MEMBERS,
        Step.CONFIRM_FEE,
        Step.PAYMENT,
        Step.TAKE_CARD,
    }
)
# Steps a Cancel (or a pulled card, or a lost office) ends; printing has started after these.
CANCELLABLE: Final = frozenset(
    {
        Step.CERTIFICATE,
        Step.OPTIONS,
        Step.INSERT_CARD,
        Step.READING_CARD,
        Step.PIN,
        Step.VERIFYING_PIN,
        Step.AUTHENTICATING,
        Step.MEMBERS,
        Step.CONFIRM_FEE,
        Step.PAYMENT,
        Step.ISSUING,
    }
)
_CARD_STEPS: Final = frozenset(
    {
        Step.READING_CARD,
        Step.PIN,
        Step.VERIFYING_PIN,
        Step.AUTHENTICATING,
        Step.MEMBERS,
        Step.CONFIRM_FEE,
        Step.PAYMENT,
        Step.ISSUING,
    }
)
_NEEDS_OFFICE: Final = _CARD_STEPS | {Step.CERTIFICATE, Step.OPTIONS, Step.INSERT_CARD}

# Outcome codes the goodbye / take-card screens show (never the office's reason for a refusal).
OUTCOMES: Final = frozenset(
    {
        "thank_you",
        "cancelled",
        "timeout",
        "go_to_counter",
        "card_blocked",
        "card_unreadable",
        "card_removed",
        "office_lost",
        "print_failed",
        "money_returned",
        "recovered",
        "out_of_service",
    }
)


class FlowConfigError(KioskError, ValueError):
    """The kiosk's flow configuration is invalid; the message names the key and the fix."""


# -- configuration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlowConfig:
    """Fees, timeouts and limits of the flow (validated on construction)."""

    device_id: str
    fees: Mapping[str, int] = field(default_factory=lambda: DEFAULT_FEES)
    timeouts_ms: Mapping[str, int] = field(default_factory=lambda: DEFAULT_TIMEOUTS_MS)
    warning_ms: int = 15_000
    max_copies: int = MAX_COPIES
    languages: tuple[str, ...] = LANGUAGES
    take_card_reminders: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.device_id, str) or not _ID.match(self.device_id):
            raise FlowConfigError(
                f"device_id {self.device_id!r}: use 1-40 letters, digits, '-', '_' or '.' (e.g. kiosk-1)"
            )
        for kind in KINDS:
            fee = self.fees.get(kind)
            if isinstance(fee, bool) or not isinstance(fee, int) or fee <= 0 or fee % 10:
                raise FlowConfigError(f"fees.{kind} = {fee!r}: give a positive yen amount in 10-yen steps, e.g. 300")
        for key in self.fees:
            if key not in KINDS:
                raise FlowConfigError(f"fees.{key}: unknown certificate kind; use one of {', '.join(KINDS)}")
        for key, value in self.timeouts_ms.items():
            if key not in DEFAULT_TIMEOUTS_MS:
                raise FlowConfigError(f"timeouts.{key}: no such step; use one of {', '.join(DEFAULT_TIMEOUTS_MS)}")
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise FlowConfigError(f"timeouts.{key} = {value!r}: give a positive number of seconds")
        if isinstance(self.warning_ms, bool) or not isinstance(self.warning_ms, int) or self.warning_ms < 0:
            raise FlowConfigError(f"warning = {self.warning_ms!r}: give seconds >= 0 (0: no warning)")
        if (
            isinstance(self.max_copies, bool)
            or not isinstance(self.max_copies, int)
            or not 1 <= self.max_copies <= MAX_COPIES
        ):
            raise FlowConfigError(f"max_copies = {self.max_copies!r}: give 1 to {MAX_COPIES}")
        if not self.languages or any(lang not in LANGUAGES for lang in self.languages):
            raise FlowConfigError(f"languages = {list(self.languages)!r}: choose from {', '.join(LANGUAGES)}")
        if not isinstance(self.take_card_reminders, int) or self.take_card_reminders < 0:
            raise FlowConfigError(f"take_card_reminders = {self.take_card_reminders!r}: give an int >= 0")

    def timeout_ms(self, step: Step) -> int | None:
        """How long ``step`` may last (None: no limit)."""
        return self.timeouts_ms.get(step.value, DEFAULT_TIMEOUTS_MS.get(step.value))


def config_from_mapping(device_id: str, data: Mapping[str, Any]) -> FlowConfig:
    """Build a :class:`FlowConfig` from the kiosk section of a configuration file.

    Keys: ``fees`` (kind -> yen), ``timeouts`` (step -> seconds), ``warning`` (seconds),
    ``max_copies``, ``languages``, ``take_card_reminders``. Unknown keys are errors.
    """
    known = {"fees", "timeouts", "warning", "max_copies", "languages", "take_card_reminders"}
    for key in data:
        if key not in known:
            raise FlowConfigError(f"kiosk.{key}: unknown key; use one of {', '.join(sorted(known))}")
    fees = data.get("fees", {})
    timeouts = data.get("timeouts", {})
    if not isinstance(fees, Mapping):
        raise FlowConfigError("kiosk.fees must be a table of kind = yen")
    if not isinstance(timeouts, Mapping):
        raise FlowConfigError("kiosk.timeouts must be a table of step = seconds")
    timeouts_ms: dict[str, int] = dict(DEFAULT_TIMEOUTS_MS)
    for key, seconds in timeouts.items():
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise FlowConfigError(f"kiosk.timeouts.{key} = {seconds!r}: give a number of seconds")
        timeouts_ms[str(key)] = round(seconds * 1000)
    warning = data.get("warning", 15)
    if isinstance(warning, bool) or not isinstance(warning, int | float):
        raise FlowConfigError(f"kiosk.warning = {warning!r}: give a number of seconds")
    languages = data.get("languages", LANGUAGES)
    if isinstance(languages, str) or not isinstance(languages, list | tuple):
        raise FlowConfigError(f"kiosk.languages = {languages!r}: give a list such as ['ja', 'en']")
    return FlowConfig(
        device_id=device_id,
        fees=MappingProxyType({**DEFAULT_FEES, **fees}),
        timeouts_ms=MappingProxyType(timeouts_ms),
        warning_ms=round(warning * 1000),
        max_copies=data.get("max_copies", MAX_COPIES),
        languages=tuple(languages),
        take_card_reminders=data.get("take_card_reminders", 3),
    )


# -- certificate options ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateOptions:
    """The resident's choices for one certificate kind (unused fields stay at their defaults).

    住民票 (juminhyo): ``scope`` "household" | "members" (``members`` chosen after the office
    named the household), ``with_honseki``, ``with_zokugara``, ``with_my_number`` (omitted
    unless asked). 戸籍 (koseki): ``variant`` "tohon" | "shohon". 所得・課税 (shotoku):
    ``fiscal_year``.
    """

    scope: str = "household"
    members: tuple[str, ...] = ()
    with_honseki: bool = False
    with_zokugara: bool = False
    with_my_number: bool = False
    variant: str | None = None
    fiscal_year: int | None = None


def check_options(kind: str, options: CertificateOptions, copies: int, max_copies: int = MAX_COPIES) -> str | None:
    """None when ``options`` and ``copies`` suit ``kind``, else a notice code for the screen."""
    if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= max_copies:
        return "bad_copies"
    if kind == "juminhyo":
        if options.scope not in ("household", "members"):
            return "bad_scope"
        if options.scope == "household" and options.members:
            return "bad_scope"
    elif options.scope != "household" or options.members or options.with_honseki or options.with_zokugara:
        return "bad_options"
    if kind != "juminhyo" and options.with_my_number:
        return "bad_options"
    if kind == "koseki":
        if options.variant not in ("tohon", "shohon"):
            return "bad_variant"
    elif options.variant is not None:
        return "bad_options"
    if kind == "shotoku":
        year = options.fiscal_year
        if isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 2100:
            return "bad_fiscal_year"
    elif options.fiscal_year is not None:
        return "bad_options"
    return None


def default_options(kind: str) -> CertificateOptions:
    """The options a kind starts with on the options screen."""
    if kind == "koseki":
        return CertificateOptions(variant="tohon")
    return CertificateOptions()


def options_wire(kind: str, options: CertificateOptions) -> dict[str, Any]:
    """The ``options`` object of the office's authenticate/issue requests for ``kind``."""
    if kind == "juminhyo":
        wire: dict[str, Any] = {
            "scope": options.scope,
            "with_honseki": options.with_honseki,
            "with_zokugara": options.with_zokugara,
            "with_my_number": options.with_my_number,
        }
        if options.scope == "members":
            wire["members"] = list(options.members)
        return wire
    if kind == "koseki":
        return {"variant": options.variant}
    if kind == "shotoku":
        return {"fiscal_year": options.fiscal_year}
    return {}


# -- events (everything that happens to the kiosk) ------------------------------------------------


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
    content: Mapping[str, Any] = field(repr=False)


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


# -- effects (what the runtime must do, in order) --------------------------------------------------


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
    options: CertificateOptions = CertificateOptions()
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


# -- state ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Escrow:
    """A note in the validator's escrow and what we told the validator to do with it."""

    value: int
    action: str  # "stack" | "return"


@dataclass(frozen=True)
class Session:
    """One visit from certificate choice to the end of the money (or one stray coin's refund).

    Money: ``paid`` = ``kept`` + ``returned`` + ``owed`` + :attr:`held`.
    """

    session_id: str
    kind: str | None  # None: a session opened only to give back money that came in unasked
    options: CertificateOptions = CertificateOptions()
    copies: int = 1
    tries_left: int | None = None
    card_serial: str | None = None
    challenge_id: str | None = None
    auth_phase: str = ""  # "challenge" -> "sign" -> "authenticate"
    session_token: str | None = field(default=None, repr=False)
    fee: int | None = None
    household: tuple[Member, ...] = ()
    payment_started: bool = False
    paid: int = 0
    escrow: tuple[Escrow, ...] = ()
    kept: int = 0
    returned: int = 0
    owed: int = 0
    payout_outstanding: int = 0
    issue_requested: bool = False
    issue_number: str | None = None
    print_started: bool = False
    printed_copies: int | None = None
    journal_seq: int = 0
    recovered: bool = False
    recovery_notes: tuple[tuple[str, Mapping[str, JsonScalar]], ...] = ()

    @property
    def held(self) -> int:
        """Yen credited to this session and not yet kept, paid back or owed."""
        return self.paid - self.kept - self.returned - self.owed

    @property
    def request_id(self) -> str:
        """The issuance request id (the office's idempotency key for this certificate)."""
        return f"{self.session_id}:issue"

    @property
    def due(self) -> int:
        """Yen still to pay (0 once paid, or before a fee is known)."""
        return max(0, (self.fee or 0) - self.paid)


@dataclass(frozen=True)
class Ledger:
    """The kiosk's money since boot (recovered sessions included)."""

    inserted: int = 0
    kept: int = 0
    returned: int = 0
    owed: int = 0

    @property
    def held(self) -> int:
        """Yen in the machine that still belong to an open session."""
        return self.inserted - self.kept - self.returned - self.owed


@dataclass(frozen=True)
class Kiosk:
    """The whole kiosk state the screens draw: the step, the visit, the money, the card."""

    config: FlowConfig
    boot_id: str
    step: Step = Step.LANGUAGE
    language: str = "ja"
    office_online: bool = False
    # Inside the kiosk's hours (the office's configuration). Outside them the kiosk starts no
    # visit and hands a card straight back; a visit already under way may finish.
    in_hours: bool = True
    change_low: bool = False
    card: str = "none"  # "none" | "held" (in the reader, ours) | "returned" (ejected, not yet taken)
    session: Session | None = None
    session_no: int = 0
    deadline_ms: int | None = None
    warned: bool = False
    reminders: int = 0
    outcome: str | None = None
    outcome_owed: int = 0
    cash_open: bool = False
    accept_note: int | None = None
    notice: str | None = None
    totals: Ledger = Ledger()
    recovery_queue: tuple[Session, ...] = ()
    fault: str | None = None
    # Notes a settling timeout resolved by assumption: their late reports must not count twice.
    late_notes: tuple[Escrow, ...] = ()

    @property
    def max_note(self) -> int | None:
        """The largest note the validator should take now (None: coins only)."""
        return _max_note(self)

    @property
    def exact_only(self) -> bool:
        """True while change is low: notes that would need change are returned."""
        return self.change_low

    def seconds_left(self, now_ms: int) -> int | None:
        """Whole seconds until this step times out (None: no limit)."""
        if self.deadline_ms is None:
            return None
        return max(0, -(-(self.deadline_ms - now_ms) // 1000))


def initial_state(
    config: FlowConfig, boot_id: str, *, office_online: bool = False, late_notes: tuple[Escrow, ...] = ()
) -> Kiosk:
    """The start screen of a freshly booted kiosk; ``boot_id`` makes session ids unique.

    ``late_notes``: notes an earlier run settled by assumption whose validator report may still
    come (kiosk.journal.unconfirmed_notes): that report must not count them again.
    """
    if not _ID.match(boot_id):
        raise FlowConfigError(f"boot_id {boot_id!r}: use 1-40 letters, digits, '-', '_' or '.'")
    return Kiosk(
        config=config,
        boot_id=boot_id,
        language=config.languages[0],
        office_online=office_online,
        late_notes=late_notes[-8:],
    )


# -- the transition ----------------------------------------------------------------------------------


class _Tx:
    """Accumulates the new state and the effects of one transition (local to it: still pure)."""

    def __init__(self, state: Kiosk, now_ms: int) -> None:
        self.s = state
        self.now = now_ms
        self.fx: list[Effect] = []

    @property
    def session(self) -> Session:
        assert self.s.session is not None  # callers check first; a bug otherwise
        return self.s.session

    def emit(self, *effects: Effect) -> None:
        self.fx.extend(effects)

    def set(self, **changes: Any) -> None:
        self.s = replace(self.s, **changes)

    def sess(self, **changes: Any) -> None:
        self.s = replace(self.s, session=replace(self.session, **changes))

    def journal(self, entry_kind: str, /, **data: JsonScalar) -> JournalEntry:
        seq = self.session.journal_seq + 1
        entry = JournalEntry(self.session.session_id, seq, entry_kind, MappingProxyType(dict(data)))
        self.sess(journal_seq=seq)
        self.emit(Journal(entry))
        return entry

    def totals(self, **deltas: int) -> None:
        t = self.s.totals
        self.set(totals=replace(t, **{k: getattr(t, k) + v for k, v in deltas.items()}))

    def enter(self, step: Step, *, speak: str | None = None) -> None:
        timeout = self.s.config.timeout_ms(step) if step not in (Step.LANGUAGE, Step.OUT_OF_SERVICE) else None
        self.set(
            step=step,
            deadline_ms=None if timeout is None else self.now + timeout,
            warned=False,
            notice=None,
        )
        self.emit(Speak(speak or step.value, self.s.language))

    def touch(self) -> None:
        """The resident did something: the step's clock starts again."""
        timeout = self.s.config.timeout_ms(self.s.step)
        if timeout is not None and self.s.deadline_ms is not None:
            self.set(deadline_ms=self.now + timeout, warned=False)


def transition(state: Kiosk, event: Event) -> tuple[Kiosk, tuple[Effect, ...]]:
    """Apply ``event`` to ``state``: the new state and the effects to run, in order.

    Unknown or out-of-place events leave the state unchanged (a late office answer, a
    double touch); money events are never ignored.
    """
    tx = _Tx(state, event.now_ms)
    if state.step is Step.OUT_OF_SERVICE:
        _out_of_service(tx, event)
        return tx.s, tuple(tx.fx)
    handler = _HANDLERS.get(type(event))
    if handler is not None:
        handler(tx, event)
    return tx.s, tuple(tx.fx)


def begin_recovery(state: Kiosk, sessions: tuple[Session, ...], now_ms: int) -> tuple[Kiosk, tuple[Effect, ...]]:
    """Settle sessions an earlier run left unfinished (built by kiosk.recovery), one by one.

    Each recovered session's decisions (``recovery_notes``) are journalled first, then the
    usual settling pays back what it still holds (or prints a refund slip).
    """
    if not sessions:
        return state, ()
    tx = _Tx(state, now_ms)
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
    _next_recovered(tx)
    return tx.s, tuple(tx.fx)


def note_cash_cursor(state: Kiosk, cursor: Mapping[str, int], now_ms: int) -> tuple[Kiosk, tuple[Effect, ...]]:
    """Journal the acceptors' event counters (a record of its own, outside any visit).

    The runtime does this at start when the journal holds no counter for an acceptor (a new
    kiosk, a new journal): from then on a crash between a coin and its record is recovered.
    """
    tx = _Tx(state, now_ms)
    keep_session, keep_no = tx.s.session, tx.s.session_no
    _new_session(tx, None)
    tx.journal("cash_cursor", **{k: v for k, v in sorted(cursor.items())})
    tx.journal("session_closed", paid=0, kept=0, returned=0, owed=0)
    tx.set(session=keep_session, session_no=max(keep_no, tx.s.session_no))
    return tx.s, tuple(tx.fx)


# -- handlers --------------------------------------------------------------------------------------


def _new_session(tx: _Tx, kind: str | None) -> None:
    number = tx.s.session_no + 1
    sid = f"{tx.s.config.device_id}-{tx.s.boot_id}-{number:05d}"
    options = default_options(kind) if kind else CertificateOptions()
    tx.set(session=Session(session_id=sid, kind=kind, options=options), session_no=number)


def _on_choose_language(tx: _Tx, ev: Event) -> None:
    assert isinstance(ev, ChooseLanguage)
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


def _on_choose_certificate(tx: _Tx, ev: Event) -> None:
    assert isinstance(ev, ChooseCertificate)
    if tx.s.step is not Step.CERTIFICATE or ev.kind not in KINDS:
        return
    if tx.s.session is None:
        _new_session(tx, ev.kind)
    elif tx.session.kind != ev.kind:
        tx.sess(kind=ev.kind, options=default_options(ev.kind))
    tx.enter(Step.OPTIONS)


def _on_confirm_options(tx: _Tx, ev: Event) -> None:
    assert isinstance(ev, ConfirmOptions)
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
        _read_card(tx)
    else:
        tx.enter(Step.INSERT_CARD)


def _on_back(tx: _Tx, ev: Event) -> None:
    if tx.s.step is Step.OPTIONS:
        tx.enter(Step.CERTIFICATE)
    elif tx.s.step is Step.CERTIFICATE:
        s = tx.s.session
        if tx.s.card == "none" and (s is None or (s.journal_seq == 0 and s.held == 0)):
            tx.set(session=None)
            _to_start(tx)
        else:
            _abort(tx, "cancelled")


def _read_card(tx: _Tx) -> None:
    tx.enter(Step.READING_CARD)
    tx.emit(ReadCard())


def _on_card_inserted(tx: _Tx, ev: Event) -> None:
    if tx.s.card != "none":
        return
    if not tx.s.office_online:
        # No card while the office is away (DESIGN.md decision 1): give it straight back.
        tx.set(card="returned", notice="unavailable")
        tx.emit(ReturnCard(), Notice("unavailable"))
        return
    if not tx.s.in_hours and tx.s.session is None:
        # Closed, and no visit under way: the card comes straight back.
        tx.set(card="returned", notice="closed")
        tx.emit(ReturnCard(), Notice("closed"))
        return
    tx.set(card="held")
    if tx.s.step is Step.INSERT_CARD and tx.s.session is not None:
        _read_card(tx)


def _on_card_removed(tx: _Tx, ev: Event) -> None:
    if tx.s.card == "none":
        return
    was = tx.s.card
    tx.set(card="none")
    if was == "returned":
        if tx.s.step is Step.TAKE_CARD:
            tx.enter(Step.GOODBYE, speak=tx.s.outcome or "thank_you")
        return
    if tx.s.step in _CARD_STEPS:
        _abort(tx, "card_removed")


def _on_card_ready(tx: _Tx, ev: Event) -> None:
    assert isinstance(ev, CardReady)
    if tx.s.step is not Step.READING_CARD:
        return
    if ev.tries_left <= 0:
        _abort(tx, "card_blocked")
        return
    tx.sess(tries_left=ev.tries_left)
    tx.enter(Step.PIN)


def _on_card_unreadable(tx: _Tx, ev: Event) -> None:
    if tx.s.step in (Step.READING_CARD, Step.VERIFYING_PIN, Step.AUTHENTICATING):
        _abort(tx, "card_unreadable")


def _on_enter_pin(tx: _Tx, ev: Event) -> None:
    assert isinstance(ev, EnterPin)
    if tx.s.step is not Step.PIN:
        return
    if len(ev.pin) != PIN_LENGTH or not ev.pin.isascii() or not ev.pin.isdigit():
        tx.touch()
        tx.set(notice="pin_format")
        tx.emit(Notice("pin_format"))
        return
    tx.enter(Step.VERIFYING_PIN)
    tx.emit(VerifyPin(ev.pin))


def _on_pin_result(tx: _Tx, ev: Event) -> None:
    assert isinstance(ev, PinResult)
    if tx.s.step is not Step.VERIFYING_PIN:
        return
    if ev.blocked or (not ev.ok and ev.tries_left <= 0):
        _abort(tx, "card_blocked")
        return
    if not ev.ok:
        tx.sess(tries_left=ev.tries_left)
        tx.enter(Step.PIN, speak="pin_wrong")
        tx.set(notice="pin_wrong")
        tx.emit(Notice("pin_wrong"))
        return
    tx.sess(tries_left=ev.tries_left, auth_phase="challenge")
    tx.enter(Step.AUTHENTICATING)
    tx.emit(RequestChallenge(f"{tx.session.session_id}:challenge"))


def _on_challenge(tx: _Tx, ev: Event) -> None:
    assert isinstance(ev, ChallengeReceived)
    if tx.s.step is not Step.AUTHENTICATING or tx.session.auth_phase != "challenge":
        return
    tx.sess(challenge_id=ev.challenge_id, auth_phase="sign")
    tx.emit(SignChallenge(ev.nonce))


def _on_signed(tx: _Tx, ev: Event) -> None:
    assert isinstance(ev, ChallengeSigned)
    s = tx.s.session
    if tx.s.step is not Step.AUTHENTICATING or s is None or s.auth_phase != "sign" or s.challenge_id is None:
        return
    assert s.kind is not None
    tx.sess(card_serial=ev.card_serial, auth_phase="authenticate")
    tx.emit(
        Authenticate(
            request_id=f"{s.session_id}:auth",
            challenge_id=s.challenge_id,
            certificate=ev.certificate,
            signature=ev.signature,
            kind=s.kind,
            options=s.options,
            copies=s.copies,
        )
    )


def _on_authenticated(tx: _Tx, ev: Event) -> None:
    assert isinstance(ev, Authenticated)
    if tx.s.step is not Step.AUTHENTICATING or tx.session.auth_phase != "authenticate":
        return
    if isinstance(ev.fee, bool) or not isinstance(ev.fee, int) or ev.fee <= 0 or ev.fee % 10:
        # A fee we cannot take in coins is the office's bug: the resident goes to a counter.
        _abort(tx, "go_to_counter")
        return
    tx.sess(session_token=ev.session_token, fee=ev.fee, household=ev.household, auth_phase="done")
    if tx.session.kind == "juminhyo" and tx.session.options.scope == "members":
        tx.enter(Step.MEMBERS)
    else:
        tx.enter(Step.CONFIRM_FEE)


def _on_auth_refused(tx: _Tx, ev: Event) -> None:
    if tx.s.step is Step.AUTHENTICATING:
        # The office's code stays out of the state: a refusal is never explained at the kiosk.
        _abort(tx, "go_to_counter")


def _on_office_lost(tx: _Tx, ev: Event) -> None:
    if tx.s.step in (Step.AUTHENTICATING, Step.ISSUING):
        _abort(tx, "office_lost")


def _on_office_status(tx: _Tx, ev: Event) -> None:
    assert isinstance(ev, OfficeStatus)
    tx.set(office_online=ev.online)
    if not ev.online and tx.s.step in _NEEDS_OFFICE:
        _abort(tx, "office_lost")


def _on_hours_status(tx: _Tx, ev: Event) -> None:
    assert isinstance(ev, HoursStatus)
    tx.set(in_hours=ev.open)


def _on_choose_members(tx: _Tx, ev: Event) -> None:
    assert isinstance(ev, ChooseMembers)
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


def _on_confirm_fee(tx: _Tx, ev: Event) -> None:
    if tx.s.step is not Step.CONFIRM_FEE:
        return
    s = tx.session
    assert s.fee is not None and s.kind is not None
    tx.journal("payment_intent", fee=s.fee, kind=s.kind, copies=s.copies, request_id=s.request_id)
    tx.sess(payment_started=True)
    tx.enter(Step.PAYMENT, speak="exact_amount_only" if tx.s.change_low else "payment")
    _check_paid(tx)


def _max_note(state: Kiosk) -> int | None:
    s = state.session
    if s is None or state.step is not Step.PAYMENT:
        return None
    due = s.due - sum(e.value for e in s.escrow if e.action == "stack")
    if due <= 0:
        return None
    if state.change_low:
        fitting = [n for n in NOTES if n <= due]
        return max(fitting) if fitting else None
    return NOTES[-1]


def _check_paid(tx: _Tx) -> None:
    """In payment: issue once the fee is in and no note is in escrow; else open the acceptor."""
    s = tx.session
    if s.escrow:
        return
    assert s.fee is not None and s.kind is not None and s.session_token is not None
    if s.paid >= s.fee:
        tx.emit(Inhibit())
        tx.set(cash_open=False, accept_note=None)
        tx.journal("issue_requested", request_id=s.request_id, fee=s.fee, paid=s.paid)
        tx.sess(issue_requested=True)
        tx.enter(Step.ISSUING)
        tx.emit(
            Issue(
                request_id=s.request_id,
                session_token=s.session_token,
                kind=s.kind,
                options=s.options,
                copies=s.copies,
                paid=s.fee,
            )
        )
        return
    note = _max_note(tx.s)
    if not tx.s.cash_open or note != tx.s.accept_note:
        tx.set(cash_open=True, accept_note=note)
        tx.emit(AcceptCash(note))


def _stray(tx: _Tx) -> None:
    """Money arrived with no session to credit: open one just to give it back."""
    _new_session(tx, None)
    tx.set(cash_open=False, accept_note=None)
    tx.emit(Inhibit())
    tx.enter(Step.SETTLING, speak="money_returned")
    if tx.s.outcome is None:
        tx.set(outcome="money_returned")


def _at(counter: int | None) -> dict[str, JsonScalar]:
    """The acceptor's event counter for a money record (nothing when the device keeps none)."""
    return {} if counter is None else {"counter": counter}


def _credit(tx: _Tx, value: int, kind: str, counter: int | None) -> None:
    paid = tx.session.paid + value
    tx.sess(paid=paid)
    tx.totals(inserted=value)
    tx.journal(kind, value=value, paid=paid, **_at(counter))


def _after_money(tx: _Tx) -> None:
    if tx.s.step is Step.PAYMENT:
        tx.touch()
        _check_paid(tx)
    elif tx.s.step is Step.SETTLING:
        _settle(tx)


def _on_coin(tx: _Tx, ev: Event) -> None:
    assert isinstance(ev, CoinAccepted)
    if ev.value <= 0:
        return
    if tx.s.session is None:
        _stray(tx)
    _credit(tx, ev.value, "coin_accepted", ev.counter)
    _after_money(tx)


def _on_note_escrowed(tx: _Tx, ev: Event) -> None:
    assert isinstance(ev, NoteEscrowed)
    if ev.value <= 0:
        return
    if tx.s.session is None:
        _stray(tx)
    s = tx.session
    action = "return"
    if tx.s.step is Step.PAYMENT and not s.escrow and ev.value in NOTES:
        limit = _max_note(tx.s)
        change = ev.value - s.due
        if limit is not None and ev.value <= limit:
            action = "stack"
            if change > 0 and (tx.s.change_low or not ev.change_ok):
                action = "return"
                if not tx.s.change_low:
                    # The hoppers cannot pay this change: exact-amount-only from now on.
                    tx.set(change_low=True)
                tx.set(notice="exact_amount_only")
                tx.emit(Notice("exact_amount_only"))
    # The decision is durable before the command: a stack in flight at a crash is refunded.
    tx.journal("note_escrowed", value=ev.value, action=action, **_at(ev.counter))
    tx.sess(escrow=(*s.escrow, Escrow(ev.value, action)))
    tx.emit(StackNote() if action == "stack" else ReturnNote())
    if tx.s.step is Step.PAYMENT:
        tx.touch()


def _take_escrow(s: Session, value: int, prefer: str) -> tuple[tuple[Escrow, ...], Escrow | None]:
    """Remove the escrow entry for ``value`` (preferring ``prefer``); returns (rest, removed)."""
    order = sorted(range(len(s.escrow)), key=lambda i: s.escrow[i].action != prefer)
    for i in order:
        if s.escrow[i].value == value:
            return s.escrow[:i] + s.escrow[i + 1 :], s.escrow[i]
    return s.escrow, None


def _take_late(tx: _Tx, value: int, prefer: str) -> Escrow | None:
    """Consume a late report for a note already settled by assumption (None: not one of those)."""
    s = tx.s.session
    if s is not None and any(e.value == value for e in s.escrow):
        return None  # the live session is waiting for exactly this note
    holder = Session(session_id="", kind=None, escrow=tx.s.late_notes)
    rest, removed = _take_escrow(holder, value, prefer)
    if removed is not None:
        tx.set(late_notes=rest)
    return removed


def _alert_outside_session(tx: _Tx, code: str, value: int, counter: int | None = None) -> None:
    """Journal (and so report) an alert that belongs to no live session."""
    keep_session, keep_no = tx.s.session, tx.s.session_no
    _new_session(tx, None)
    tx.journal("alert", code=code, value=value, **_at(counter))
    tx.journal("session_closed", paid=0, kept=0, returned=0, owed=0)
    tx.set(session=keep_session, session_no=max(keep_no, tx.s.session_no))


def _on_note_stacked(tx: _Tx, ev: Event) -> None:
    assert isinstance(ev, NoteStacked)
    if ev.value <= 0:
        return
    late = _take_late(tx, ev.value, "stack")
    if late is not None and late.action == "stack":
        # Already credited (and refunded) when the settling timed out or a restart assumed it.
        # Journalled all the same: the record moves the cursor past this event, so a restart
        # does not take it for a new note.
        _alert_outside_session(tx, "note_stack_confirmed", ev.value, ev.counter)
        return
    if tx.s.session is None:
        _stray(tx)
    rest, _ = _take_escrow(tx.session, ev.value, "stack")
    tx.sess(escrow=rest)
    # Stacked is money in, whatever we asked for: a note stacked against a return is refunded.
    _credit(tx, ev.value, "note_stacked", ev.counter)
    _after_money(tx)


def _on_note_returned(tx: _Tx, ev: Event) -> None:
    assert isinstance(ev, NoteReturned)
    late = _take_late(tx, ev.value, "return")
    if late is not None:
        if late.action == "stack":
            # We refunded a note we assumed stacked, and the resident got the note back too.
            _alert_outside_session(tx, "note_returned_after_refund", ev.value, ev.counter)
        return
    if tx.s.session is None:
        return  # not ours and not money in
    rest, removed = _take_escrow(tx.session, ev.value, "return")
    if removed is None:
        return
    tx.sess(escrow=rest)
    tx.journal("note_returned", value=ev.value, **_at(ev.counter))
    if tx.s.step is Step.PAYMENT and not rest:
        if tx.s.change_low and removed.action == "return":
            tx.set(notice="exact_amount_only")
        _check_paid(tx)
    elif tx.s.step is Step.SETTLING:
        _settle(tx)


def _on_payout_done(tx: _Tx, ev: Event) -> None:
    assert isinstance(ev, PayoutDone)
    s = tx.s.session
    if s is None or s.payout_outstanding <= 0:
        return
    requested = min(ev.requested, s.payout_outstanding)
    paid = max(0, min(ev.paid, requested))
    tx.sess(payout_outstanding=s.payout_outstanding - requested, returned=s.returned + paid)
    tx.totals(returned=paid)
    # Change after a kept fee, or money given back: the office reconciles only the latter.
    tx.journal("payout_done", requested=requested, paid=paid, reason="change" if s.kept > 0 else "refund")
    short = requested - paid
    if short > 0:
        _owe(tx, short, "hoppers_empty")
        tx.set(change_low=True)
    if tx.s.step is Step.SETTLING:
        _settle(tx)


def _owe(tx: _Tx, amount: int, reason: str) -> None:
    """Money we cannot pay back now: a credit slip for the resident, a report for the office."""
    tx.sess(owed=tx.session.owed + amount)
    tx.totals(owed=amount)
    entry = tx.journal("refund_owed", amount=amount, reason=reason)
    tx.set(outcome_owed=tx.s.outcome_owed + amount)
    tx.emit(PrintRefundSlip(RefundSlip(tx.session.session_id, entry.key, amount, reason), tx.s.language))


def _on_change_status(tx: _Tx, ev: Event) -> None:
    assert isinstance(ev, ChangeStatus)
    tx.set(change_low=ev.low)
    if tx.s.step is Step.PAYMENT and tx.s.session is not None and not tx.session.escrow:
        _check_paid(tx)


def _on_issued(tx: _Tx, ev: Event) -> None:
    assert isinstance(ev, Issued)
    s = tx.s.session
    if tx.s.step is not Step.ISSUING or s is None or ev.request_id != s.request_id:
        return  # a late answer for a request we gave up: the office voids it from our report
    assert s.kind is not None and s.card_serial is not None
    if ev.fee != s.fee:
        tx.journal("alert", code="fee_mismatch", request_id=s.request_id)
        _abort(tx, "go_to_counter")
        return
    tx.journal("issued", request_id=s.request_id, issue_number=ev.issue_number)
    tx.journal("print_started", request_id=s.request_id)
    tx.sess(issue_number=ev.issue_number, print_started=True)
    job = PrintJob(
        session_id=s.session_id,
        card_serial=s.card_serial,
        request_id=s.request_id,
        issue_number=ev.issue_number,
        kind=s.kind,
        copies=s.copies,
        content=ev.content,
    )
    tx.enter(Step.PRINTING)
    tx.emit(PrintCertificate(job))


def _on_issue_refused(tx: _Tx, ev: Event) -> None:
    assert isinstance(ev, IssueRefused)
    s = tx.s.session
    if tx.s.step is Step.ISSUING and s is not None and ev.request_id == s.request_id:
        _abort(tx, "go_to_counter")


def _on_print_done(tx: _Tx, ev: Event) -> None:
    assert isinstance(ev, PrintDone)
    s = tx.s.session
    if tx.s.step is not Step.PRINTING or s is None or ev.request_id != s.request_id:
        return
    _printed(tx, max(0, min(ev.copies_printed, s.copies)), ev.uncertain)


def _printed(tx: _Tx, copies: int, uncertain: bool) -> None:
    s = tx.session
    assert s.fee is not None
    if uncertain:
        tx.journal("alert", code="print_uncertain", request_id=s.request_id)
    tx.journal("printed", request_id=s.request_id, copies=copies, uncertain=uncertain)
    kept = s.fee if copies == s.copies else s.fee * copies // s.copies
    tx.sess(printed_copies=copies)
    if kept > 0:
        tx.sess(kept=kept)
        tx.totals(kept=kept)
        tx.journal("fee_kept", amount=kept, request_id=s.request_id, issue_number=s.issue_number)
    if copies < s.copies:
        tx.journal("alert", code="print_incomplete", request_id=s.request_id)
    tx.set(outcome="thank_you" if copies == s.copies else "print_failed")
    tx.enter(Step.SETTLING, speak="settling")
    _settle(tx)


def _abort(tx: _Tx, outcome: str) -> None:
    """End the visit before printing: card back at once, cash closed, every yen refunded."""
    tx.set(outcome=outcome, outcome_owed=0)
    if tx.s.card == "held":
        tx.set(card="returned")
        tx.emit(ReturnCard())
    s = tx.s.session
    if s is None:
        if tx.s.card == "returned":
            tx.enter(Step.TAKE_CARD)
        else:
            tx.set(language=tx.s.config.languages[0])
            tx.enter(Step.LANGUAGE)
        return
    if s.payment_started or tx.s.cash_open:
        tx.emit(Inhibit())
        tx.set(cash_open=False, accept_note=None)
    if s.issue_requested and not s.print_started:
        # The office may have issued already: the report tells it to void that issuance.
        tx.journal("issue_void", request_id=s.request_id, reason=outcome)
    tx.enter(Step.SETTLING, speak=outcome)
    _settle(tx)


def _settle(tx: _Tx) -> None:
    """Pay back what the session still holds; close it once nothing is outstanding."""
    s = tx.session
    if s.escrow or s.payout_outstanding:
        return  # wait for the validator / hoppers to report
    if s.held > 0:
        reason = "change" if s.kept > 0 else "refund"
        tx.journal("payout_intent", amount=s.held, reason=reason)
        tx.sess(payout_outstanding=s.held)
        tx.emit(PayOut(s.held))
        return
    if s.printed_copies and s.kind is not None and s.fee is not None and not s.recovered:
        tx.emit(
            PrintReceipt(
                Receipt(
                    session_id=s.session_id,
                    issue_number=s.issue_number,
                    kind=s.kind,
                    copies=s.copies,
                    copies_printed=s.printed_copies,
                    fee=s.fee,
                    kept=s.kept,
                    paid=s.paid,
                    change=s.returned,
                ),
                tx.s.language,
            )
        )
    if s.journal_seq > 0:
        # A visit that never touched money or the office leaves nothing to recover.
        tx.journal("session_closed", paid=s.paid, kept=s.kept, returned=s.returned, owed=s.owed)
    tx.set(session=None)
    if tx.s.recovery_queue:
        _next_recovered(tx)
        return
    if tx.s.card == "held":
        tx.set(card="returned")
        tx.emit(ReturnCard())
    if tx.s.card == "returned":
        tx.enter(Step.TAKE_CARD)
    else:
        tx.enter(Step.GOODBYE, speak=tx.s.outcome or "thank_you")


def _next_recovered(tx: _Tx) -> None:
    head, rest = tx.s.recovery_queue[0], tx.s.recovery_queue[1:]
    tx.set(session=replace(head, recovery_notes=()), recovery_queue=rest)
    for kind, data in head.recovery_notes:
        entry = tx.journal(kind, **data)
        amount = data.get("amount")
        if kind == "refund_owed" and isinstance(amount, int):
            tx.set(outcome_owed=tx.s.outcome_owed + amount)
            slip = RefundSlip(tx.session.session_id, entry.key, amount, str(data.get("reason")))
            tx.emit(PrintRefundSlip(slip, tx.s.language))
    tx.enter(Step.SETTLING, speak="settling")
    _settle(tx)


def _on_cancel(tx: _Tx, ev: Event) -> None:
    if tx.s.step in CANCELLABLE:
        _abort(tx, "cancelled")
    elif tx.s.step is Step.GOODBYE:
        _to_start(tx)


def _on_still_here(tx: _Tx, ev: Event) -> None:
    if tx.s.step in RESIDENT_STEPS:
        tx.touch()
    elif tx.s.step is Step.GOODBYE:
        _to_start(tx)


def _to_start(tx: _Tx) -> None:
    tx.set(
        language=tx.s.config.languages[0],
        outcome=None,
        outcome_owed=0,
        reminders=0,
    )
    tx.enter(Step.LANGUAGE)


def _on_tick(tx: _Tx, ev: Event) -> None:
    s = tx.s
    if s.deadline_ms is None:
        return
    if (
        s.step in RESIDENT_STEPS
        and not s.warned
        and s.config.warning_ms > 0
        and tx.now >= s.deadline_ms - s.config.warning_ms
        and tx.now < s.deadline_ms
    ):
        tx.set(warned=True)
        tx.emit(WarnTimeout(s.seconds_left(tx.now) or 0, s.language))
        return
    if tx.now < s.deadline_ms:
        return
    _on_timeout(tx)


def _on_timeout(tx: _Tx) -> None:
    step = tx.s.step
    if step in (Step.AUTHENTICATING, Step.ISSUING):
        _abort(tx, "office_lost")
    elif step in (Step.READING_CARD, Step.VERIFYING_PIN):
        _abort(tx, "card_unreadable")
    elif step in CANCELLABLE:
        _abort(tx, "timeout")
    elif step is Step.PRINTING:
        # The printer never answered: the outcome is unknown. Refund, alert, never print again.
        _printed(tx, 0, True)
    elif step is Step.SETTLING:
        _settling_timeout(tx)
    elif step is Step.TAKE_CARD:
        if tx.s.reminders < tx.s.config.take_card_reminders:
            tx.set(reminders=tx.s.reminders + 1)
            tx.enter(Step.TAKE_CARD)
        else:
            # The card stays in the slot, powered down; the next visitor starts afresh.
            tx.set(card="none", reminders=0)
            tx.enter(Step.GOODBYE, speak=tx.s.outcome or "thank_you")
    elif step is Step.GOODBYE:
        _to_start(tx)


def _settling_timeout(tx: _Tx) -> None:
    """The validator or hoppers never reported: resolve conservatively and close."""
    s = tx.session
    for e in s.escrow:
        if e.action == "stack":
            # We told it to stack; assume it did, so the resident is refunded (office checks the box).
            tx.sess(paid=tx.session.paid + e.value)
            tx.totals(inserted=e.value)
            tx.journal("note_stacked", value=e.value, paid=tx.session.paid, assumed=True)
        else:
            tx.journal("alert", code="note_unresolved", value=e.value)
    tx.set(late_notes=(*tx.s.late_notes, *s.escrow)[-8:])
    tx.sess(escrow=())
    if s.payout_outstanding:
        # One record settles the unconfirmed payout and owes it (see kiosk.recovery).
        tx.sess(payout_outstanding=0)
        _owe(tx, s.payout_outstanding, "payout_uncertain")
    tx.set(deadline_ms=tx.now + (tx.s.config.timeout_ms(Step.SETTLING) or 60_000))
    _settle(tx)


def _on_fault(tx: _Tx, ev: Event) -> None:
    assert isinstance(ev, Fault)
    tx.set(fault=ev.code, outcome="out_of_service", cash_open=False, accept_note=None)
    tx.emit(Inhibit())
    if tx.s.card == "held":
        tx.set(card="returned")
        tx.emit(ReturnCard())
    tx.enter(Step.OUT_OF_SERVICE)


def _out_of_service(tx: _Tx, ev: Event) -> None:
    """Nothing moves money any more; a note in escrow is handed back, the card can be taken."""
    if isinstance(ev, NoteEscrowed):
        tx.emit(ReturnNote())
    elif isinstance(ev, CardRemoved):
        tx.set(card="none")
    elif isinstance(ev, CardInserted) and tx.s.card == "none":
        tx.set(card="returned")
        tx.emit(ReturnCard())


_HANDLERS: Final[Mapping[type[Event], Callable[[_Tx, Event], None]]] = MappingProxyType(
    {
        ChooseLanguage: _on_choose_language,
        ChooseCertificate: _on_choose_certificate,
        ConfirmOptions: _on_confirm_options,
        Back: _on_back,
        EnterPin: _on_enter_pin,
        ChooseMembers: _on_choose_members,
        ConfirmFee: _on_confirm_fee,
        Cancel: _on_cancel,
        StillHere: _on_still_here,
        CardInserted: _on_card_inserted,
        CardRemoved: _on_card_removed,
        CardReady: _on_card_ready,
        CardUnreadable: _on_card_unreadable,
        PinResult: _on_pin_result,
        ChallengeSigned: _on_signed,
        OfficeStatus: _on_office_status,
        HoursStatus: _on_hours_status,
        ChallengeReceived: _on_challenge,
        Authenticated: _on_authenticated,
        AuthRefused: _on_auth_refused,
        Issued: _on_issued,
        IssueRefused: _on_issue_refused,
        OfficeLost: _on_office_lost,
        CoinAccepted: _on_coin,
        NoteEscrowed: _on_note_escrowed,
        NoteStacked: _on_note_stacked,
        NoteReturned: _on_note_returned,
        PayoutDone: _on_payout_done,
        ChangeStatus: _on_change_status,
        PrintDone: _on_print_done,
        Tick: _on_tick,
        Fault: _on_fault,
    }
)
