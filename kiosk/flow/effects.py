"""Effects: what the runtime must do, in order - speak, read the card, call the office, move
cash, print - and :class:`Journal`, the durable record written before the effects after it.
:class:`JournalEntry` holds only ids, amounts and codes, never a PIN, a name or content: the
model of each kind of entry's data (:data:`ENTRY_DATA`) is that allow-list, checked by the
journal and decoded by the recovery."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Final, Literal

import msgspec

from common.validation import Invalid, convert, info
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


# --------------------------------------------------------------------------------------------
# what a journal entry may hold
# --------------------------------------------------------------------------------------------
# A journal record (kiosk.journal) is ``{"key", "session", "seq", "kind", "at", "data"}``; its
# ``data`` is decoded by the model of its kind (:data:`ENTRY_DATA`), the one check the journal
# (before it writes, and when it opens) and the start-up recovery (kiosk.recovery) rely on. Each
# model is an allow-list: ids, yen amounts, counts and codes, every text limited to an id-like
# alphabet, so a PIN, a name or a certificate's content fits none of them (DESIGN.md decision
# 10). Fields a kind may leave out are ``None``.

# Ids, codes and issue numbers only: no spaces, no kana or kanji, so no name can slip in.
SAFE_TEXT: Final = re.compile(r"^[A-Za-z0-9_.:\-]{1,100}$")

JournalText = Annotated[
    str,
    info(
        pattern=SAFE_TEXT.pattern,
        what="an id or code of 1-100 letters, digits, '_', '.', ':' or '-' (no names, no spaces)",
    ),
]
JournalCount = Annotated[int, info(ge=0, lt=10**9, what="an amount of yen or a count from 0 to 999999999")]


class EntryData(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``data`` of one kind of journal record (its name is :attr:`kind`)."""

    kind_name: ClassVar[str] = ""  # overridden by each kind's model


class PaymentIntentData(EntryData, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind_name: ClassVar[str] = "payment_intent"
    fee: JournalCount | None = None
    kind: JournalText | None = None  # the certificate kind
    copies: JournalCount | None = None
    request_id: JournalText | None = None


class CoinAcceptedData(EntryData, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind_name: ClassVar[str] = "coin_accepted"
    value: JournalCount | None = None
    paid: JournalCount | None = None
    counter: JournalCount | None = None


class NoteEscrowedData(EntryData, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind_name: ClassVar[str] = "note_escrowed"
    value: JournalCount | None = None
    action: Literal["stack", "return"] | None = None
    counter: JournalCount | None = None


class NoteStackedData(EntryData, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind_name: ClassVar[str] = "note_stacked"
    value: JournalCount | None = None
    paid: JournalCount | None = None
    assumed: bool | None = None
    counter: JournalCount | None = None


class NoteReturnedData(EntryData, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind_name: ClassVar[str] = "note_returned"
    value: JournalCount | None = None
    counter: JournalCount | None = None


class IssueRequestedData(EntryData, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind_name: ClassVar[str] = "issue_requested"
    request_id: JournalText | None = None
    fee: JournalCount | None = None
    paid: JournalCount | None = None


class IssuedData(EntryData, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind_name: ClassVar[str] = "issued"
    request_id: JournalText | None = None
    issue_number: JournalText | None = None


class PrintStartedData(EntryData, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind_name: ClassVar[str] = "print_started"
    request_id: JournalText | None = None


class PrintedData(EntryData, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind_name: ClassVar[str] = "printed"
    request_id: JournalText | None = None
    copies: JournalCount | None = None
    uncertain: bool | None = None


class FeeKeptData(EntryData, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind_name: ClassVar[str] = "fee_kept"
    amount: JournalCount | None = None
    request_id: JournalText | None = None
    issue_number: JournalText | None = None


class PayoutIntentData(EntryData, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind_name: ClassVar[str] = "payout_intent"
    amount: JournalCount | None = None
    reason: JournalText | None = None


class PayoutDoneData(EntryData, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind_name: ClassVar[str] = "payout_done"
    requested: JournalCount | None = None
    paid: JournalCount | None = None
    assumed: bool | None = None
    reason: JournalText | None = None


class RefundOwedData(EntryData, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind_name: ClassVar[str] = "refund_owed"
    amount: JournalCount | None = None
    reason: JournalText | None = None


class IssueVoidData(EntryData, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind_name: ClassVar[str] = "issue_void"
    request_id: JournalText | None = None
    reason: JournalText | None = None


class AlertData(EntryData, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind_name: ClassVar[str] = "alert"
    code: JournalText | None = None
    request_id: JournalText | None = None
    value: JournalCount | None = None
    counter: JournalCount | None = None


class RecoveredData(EntryData, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind_name: ClassVar[str] = "recovered"
    paid: JournalCount | None = None
    kept: JournalCount | None = None
    returned: JournalCount | None = None
    owed: JournalCount | None = None


class SessionClosedData(EntryData, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind_name: ClassVar[str] = "session_closed"
    paid: JournalCount | None = None
    kept: JournalCount | None = None
    returned: JournalCount | None = None
    owed: JournalCount | None = None


class CashCursorData(EntryData, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The acceptors' counters when the journal had none (first start): where a restart resumes."""

    kind_name: ClassVar[str] = "cash_cursor"
    coin_acceptor: JournalCount | None = None
    bill_validator: JournalCount | None = None


ENTRY_DATA: Final[Mapping[str, type[EntryData]]] = MappingProxyType(
    {
        m.kind_name: m
        for m in (
            PaymentIntentData,
            CoinAcceptedData,
            NoteEscrowedData,
            NoteStackedData,
            NoteReturnedData,
            IssueRequestedData,
            IssuedData,
            PrintStartedData,
            PrintedData,
            FeeKeptData,
            PayoutIntentData,
            PayoutDoneData,
            RefundOwedData,
            IssueVoidData,
            AlertData,
            RecoveredData,
            SessionClosedData,
            CashCursorData,
        )
    }
)


class JournalRecord(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A journal record as stored, its ``data`` still plain (decoded by :func:`entry_data`)."""

    key: Annotated[str, info(max_length=140)]
    session: JournalText
    seq: Annotated[int, info(ge=1, le=2**53, what="a sequence number from 1")]
    kind: Annotated[str, info(max_length=64)]
    at: Annotated[int, info(ge=0, le=2**53, what="a time in milliseconds since 1970")]
    data: dict[str, Any]


def entry_data(kind: str, data: object) -> EntryData:
    """``data`` as the model of ``kind``; :class:`Invalid` names the key and what it must be,
    never the value found (it might be a name or a PIN that must not reach a log)."""
    model = ENTRY_DATA.get(kind)
    if model is None:
        raise Invalid((), f"unknown record kind {kind!r}; known: {', '.join(ENTRY_DATA)}")
    try:
        return convert(data, model)
    except Invalid as err:
        raise _redacted(err, data) from err


def journal_record(stored: object) -> tuple[JournalRecord, EntryData]:
    """A stored journal record and its data, decoded; :class:`Invalid` names the key."""
    try:
        rec = convert(stored, JournalRecord)
    except Invalid as err:
        raise _redacted(err, stored) from err
    if rec.key != f"{rec.session}:{rec.seq}":
        raise Invalid(("key",), "does not match session and seq (<session>:<seq>)")
    try:
        return rec, entry_data(rec.kind, rec.data)
    except Invalid as err:
        raise err.within("data") from err


def _redacted(err: Invalid, data: object) -> Invalid:
    """``err`` without the value it quotes: what a record holds must not reach a log."""
    message = err.message
    if ", got " in message:
        found = _found(data, err.parts)
        message = message.split(", got ", 1)[0] + (f", got {found}" if found else "")
    return Invalid(err.parts, message, missing=err.missing)


def _found(data: object, parts: tuple[str | int, ...]) -> str:
    """What was found at ``parts``, by its kind alone (``a text of 9 characters``)."""
    value: Any = data
    for part in parts:
        if not isinstance(value, Mapping) or part not in value:
            return ""  # records hold mappings only: a list is a wrong value, not a path
        value = value[part]
    if isinstance(value, str):
        return f"a text of {len(value)} characters"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "a " + type(value).__name__
