"""The state: :class:`Kiosk` (what the screens draw), the visit's :class:`Session` with its
money, a note in :class:`Escrow`, the kiosk-wide :class:`Ledger`, and the start state.

Money per session: ``paid`` (coins accepted + notes stacked) = ``kept`` (fees of printed
copies) + ``returned`` (paid out by the hoppers) + ``owed`` (refund slips) + ``held`` (not yet
settled), and ``held`` is 0 whenever a session closes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kiosk.flow.config import FlowConfig
from kiosk.flow.constants import NOTES, VALID_ID, Step
from kiosk.flow.effects import JsonScalar
from kiosk.flow.errors import FlowConfigError
from kiosk.flow.options import CertificateOptions
from kiosk.ports import Member


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
    options: CertificateOptions = field(default_factory=CertificateOptions)
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
        return largest_note(self)

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
    if not VALID_ID.match(boot_id):
        raise FlowConfigError(f"boot_id {boot_id!r}: use 1-40 letters, digits, '-', '_' or '.'")
    return Kiosk(
        config=config,
        boot_id=boot_id,
        language=config.languages[0],
        office_online=office_online,
        late_notes=late_notes[-8:],
    )


def largest_note(state: Kiosk) -> int | None:
    """The largest note the validator should take in ``state`` (None: coins only).

    Notes told to stack already count as paid; in exact-amount-only mode (change low) no note
    larger than what is still due.
    """
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
