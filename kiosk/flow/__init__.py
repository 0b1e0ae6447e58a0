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

Callers use ``from kiosk import flow`` and ``flow.X``; the names below are the public API. The
modules, from the bottom up:

* ``constants`` - kinds, coins, notes, languages, :class:`Step` and the step groups, defaults
* ``errors`` - :class:`FlowError` and its kinds, :class:`FlowConfigError` and :class:`FlowStateError`
* ``options`` - :class:`CertificateOptions`, their check, defaults and office wire form
* ``config`` - :class:`FlowConfig`, the ``[kiosk]`` section's model and :func:`config_from_mapping`
* ``events``, ``effects`` - what happens to the kiosk, and what the runtime must do
* ``state`` - :class:`Kiosk`, :class:`Session`, :class:`Escrow`, :class:`Ledger`, :func:`initial_state`
* ``transaction`` - the accumulator of one transition (package-internal)
* ``settlement`` - abort, settle, owe, the recovery queue, back to the start screen
* ``choices``, ``card``, ``office``, ``money``, ``issuance``, ``timeouts`` - the step functions
* ``machine`` - :func:`transition` (the dispatch), :func:`begin_recovery`, :func:`note_cash_cursor`

Imports: the standard library, msgspec, :mod:`common` (``common.validation``, for the
``[kiosk]`` section) and the kiosk's pure value modules ``ports`` and ``binding`` (``ports``
speaks the wire's typed messages, ``sync.messages``, and names the certificate content's model,
``certificates.content``) - nothing that does I/O: never the
runtime, the journal, the drivers, the rest of sync or another app (tests/test_kiosk_flow.py
and tests/test_purity.py keep it so).
"""

from __future__ import annotations

from kiosk.flow.config import FlowConfig, KioskSection, config_from_mapping
from kiosk.flow.constants import (
    CANCELLABLE,
    COINS,
    DEFAULT_FEES,
    DEFAULT_TIMEOUTS_MS,
    KINDS,
    LANGUAGES,
    MAX_COPIES,
    NOTES,
    OUTCOMES,
    PIN_LENGTH,
    RESIDENT_STEPS,
    Step,
)
from kiosk.flow.effects import (
    AcceptCash,
    Authenticate,
    Effect,
    Inhibit,
    Issue,
    Journal,
    JournalEntry,
    JsonScalar,
    Notice,
    PayOut,
    PrintCertificate,
    PrintReceipt,
    PrintRefundSlip,
    ReadCard,
    RequestChallenge,
    ReturnCard,
    ReturnNote,
    SignChallenge,
    Speak,
    StackNote,
    VerifyPin,
    WarnTimeout,
)
from kiosk.flow.errors import FlowConfigError, FlowError, FlowStateError
from kiosk.flow.events import (
    Authenticated,
    AuthRefused,
    Back,
    Cancel,
    CardInserted,
    CardReady,
    CardRemoved,
    CardUnreadable,
    ChallengeReceived,
    ChallengeSigned,
    ChangeStatus,
    ChooseCertificate,
    ChooseLanguage,
    ChooseMembers,
    CoinAccepted,
    ConfirmFee,
    ConfirmOptions,
    EnterPin,
    Event,
    Fault,
    HoursStatus,
    Issued,
    IssueRefused,
    NoteEscrowed,
    NoteReturned,
    NoteStacked,
    OfficeLost,
    OfficeStatus,
    PayoutDone,
    PinResult,
    PrintDone,
    StillHere,
    Tick,
)
from kiosk.flow.machine import begin_recovery, note_cash_cursor, transition
from kiosk.flow.options import CertificateOptions, check_options, default_options, options_wire
from kiosk.flow.state import Escrow, Kiosk, Ledger, Session, initial_state

__all__ = [
    "CANCELLABLE",
    "COINS",
    "DEFAULT_FEES",
    "DEFAULT_TIMEOUTS_MS",
    "KINDS",
    "LANGUAGES",
    "MAX_COPIES",
    "NOTES",
    "OUTCOMES",
    "PIN_LENGTH",
    "RESIDENT_STEPS",
    "AcceptCash",
    "AuthRefused",
    "Authenticate",
    "Authenticated",
    "Back",
    "Cancel",
    "CardInserted",
    "CardReady",
    "CardRemoved",
    "CardUnreadable",
    "CertificateOptions",
    "ChallengeReceived",
    "ChallengeSigned",
    "ChangeStatus",
    "ChooseCertificate",
    "ChooseLanguage",
    "ChooseMembers",
    "CoinAccepted",
    "ConfirmFee",
    "ConfirmOptions",
    "Effect",
    "EnterPin",
    "Escrow",
    "Event",
    "Fault",
    "FlowConfig",
    "FlowConfigError",
    "FlowError",
    "FlowStateError",
    "HoursStatus",
    "Inhibit",
    "Issue",
    "IssueRefused",
    "Issued",
    "Journal",
    "JournalEntry",
    "JsonScalar",
    "Kiosk",
    "KioskSection",
    "Ledger",
    "NoteEscrowed",
    "NoteReturned",
    "NoteStacked",
    "Notice",
    "OfficeLost",
    "OfficeStatus",
    "PayOut",
    "PayoutDone",
    "PinResult",
    "PrintCertificate",
    "PrintDone",
    "PrintReceipt",
    "PrintRefundSlip",
    "ReadCard",
    "RequestChallenge",
    "ReturnCard",
    "ReturnNote",
    "Session",
    "SignChallenge",
    "Speak",
    "StackNote",
    "Step",
    "StillHere",
    "Tick",
    "VerifyPin",
    "WarnTimeout",
    "begin_recovery",
    "check_options",
    "config_from_mapping",
    "default_options",
    "initial_state",
    "note_cash_cursor",
    "options_wire",
    "transition",
]
