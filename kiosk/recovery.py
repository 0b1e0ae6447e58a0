"""Start-up recovery: settle what an earlier run of the kiosk left unfinished (pure).

The journal (kiosk.journal) holds every money event and issuance step, each written before
the action it announces. A session without ``session_closed`` was cut by a crash or a power
cut. :func:`replay` reads what its records prove; :func:`resolve` decides, and
:func:`recovered_sessions` hands the decisions to the flow (``flow.begin_recovery``), which
journals them and pays back what is still held, exactly as a live session settles.

Rules (docs/kiosk.md has the reasoning):

* **Printed -> the fee is kept** (per copy printed); change still due is paid out.
* **Not printed -> everything is refunded** by the hoppers; what they cannot pay becomes a
  refund slip (``refund_owed``), which the office receives as a report (an alert for staff).
* **Never print after a restart, never issue twice.** An issuance requested but not printed
  is voided (``issue_void`` to the office, which keys issuances by request id): the resident
  who asked may be gone, and printing their record for whoever stands at the kiosk now is
  the 2023 Munakata incident. A print that started and was never confirmed is *uncertain*:
  it is never printed again, the fee is refunded and staff are alerted to check the tray.
* **Never pay twice.** A payout announced (``payout_intent``) but not confirmed may have
  happened in part: it is not paid again but owed on a slip, and staff count the hoppers.
* A note whose stack command was journalled but not confirmed is counted as paid (so it is
  refunded); a note being returned is not money in. The bill validator returns a note left
  in escrow when it resets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from common.validation import Invalid
from kiosk.flow import JsonScalar, Session, effects
from kiosk.ports import KioskError

__all__ = ["RecoveryError", "Replay", "recovered_sessions", "replay", "resolve"]


class RecoveryError(KioskError):
    """A journal record cannot be understood (the message names its key)."""


@dataclass(frozen=True)
class Replay:
    """What one session's journal records prove."""

    session_id: str
    last_seq: int = 0
    kind: str | None = None
    fee: int | None = None
    copies: int = 1
    paid: int = 0
    kept: int = 0
    returned: int = 0
    owed: int = 0
    escrow: tuple[tuple[int, str], ...] = ()  # (value, "stack" | "return") not yet resolved
    payouts_pending: tuple[int, ...] = ()  # announced, not confirmed
    issue_requested: bool = False
    issue_number: str | None = None
    print_started: bool = False
    printed_copies: int | None = None
    voided: bool = False
    closed: bool = False
    kinds: tuple[str, ...] = field(default=(), repr=False)

    @property
    def held(self) -> int:
        """Yen the records say are still in the machine for this session."""
        return self.paid - self.kept - self.returned - self.owed


def _decode(record: Mapping[str, Any]) -> tuple[str, int, effects.EntryData]:
    """A journal record's kind, seq and data as its model; :class:`RecoveryError` names the
    record and the key."""
    kind, seq = record.get("kind"), record.get("seq")
    if not isinstance(kind, str) or isinstance(seq, bool) or not isinstance(seq, int):
        raise RecoveryError(f"journal record {record.get('key')!r} has no kind or seq")
    try:
        return kind, seq, effects.entry_data(kind, record.get("data"))
    except Invalid as err:
        where = f"journal record {record.get('key')!r}"
        raise RecoveryError(f"{where}: data.{err}" if err.parts else f"{where}: {err}") from err


def _need(record: Mapping[str, Any], key: str, value: int | None) -> int:
    """A yen amount or count the record must hold."""
    if value is None:
        raise RecoveryError(
            f"journal record {record.get('key')!r}: data.{key}: required (a yen amount or count); "
            "Fix: check the journal files against the cash box count"
        )
    return value


def _drop_escrow(escrow: tuple[tuple[int, str], ...], value: int, prefer: str) -> tuple[tuple[int, str], ...]:
    order = sorted(range(len(escrow)), key=lambda i: escrow[i][1] != prefer)
    for i in order:
        if escrow[i][0] == value:
            return escrow[:i] + escrow[i + 1 :]
    return escrow


def _apply(r: Replay, record: Mapping[str, Any]) -> Replay:
    """Fold one record into a session's replay."""
    kind, seq, data = _decode(record)
    changes: dict[str, Any] = {"last_seq": max(r.last_seq, seq), "kinds": (*r.kinds, kind)}
    match data:
        case effects.PaymentIntentData():
            changes.update(
                fee=_need(record, "fee", data.fee), copies=_need(record, "copies", data.copies), kind=data.kind
            )
        case effects.CoinAcceptedData():
            changes["paid"] = r.paid + _need(record, "value", data.value)
        case effects.NoteStackedData():
            value = _need(record, "value", data.value)
            changes.update(paid=r.paid + value, escrow=_drop_escrow(r.escrow, value, "stack"))
        case effects.NoteEscrowedData():
            if data.action is None:
                raise RecoveryError(f"journal record {record.get('key')!r}: data.action: required (stack or return)")
            changes["escrow"] = (*r.escrow, (_need(record, "value", data.value), data.action))
        case effects.NoteReturnedData():
            changes["escrow"] = _drop_escrow(r.escrow, _need(record, "value", data.value), "return")
        case effects.IssueRequestedData():
            changes.update(issue_requested=True, fee=_need(record, "fee", data.fee))
        case effects.IssuedData():
            changes["issue_number"] = data.issue_number
        case effects.PrintStartedData():
            changes["print_started"] = True
        case effects.PrintedData():
            changes["printed_copies"] = _need(record, "copies", data.copies)
        case effects.FeeKeptData():
            changes["kept"] = r.kept + _need(record, "amount", data.amount)
        case effects.PayoutIntentData():
            changes["payouts_pending"] = (*r.payouts_pending, _need(record, "amount", data.amount))
        case effects.PayoutDoneData():
            requested = _need(record, "requested", data.requested)
            pending = list(r.payouts_pending)
            if requested in pending:
                pending.remove(requested)
            elif pending:
                pending.pop(0)
            changes.update(payouts_pending=tuple(pending), returned=r.returned + _need(record, "paid", data.paid))
        case effects.RefundOwedData():
            amount = _need(record, "amount", data.amount)
            changes["owed"] = r.owed + amount
            if data.reason == "payout_uncertain" and amount in r.payouts_pending:
                # One record both settles the unconfirmed payout and owes it: a crash cannot split them.
                pending = list(r.payouts_pending)
                pending.remove(amount)
                changes["payouts_pending"] = tuple(pending)
        case effects.IssueVoidData():
            changes["voided"] = True
        case effects.SessionClosedData():
            changes["closed"] = True
    # "alert", "recovered" and "cash_cursor" change nothing the money or the issuance depends on.
    return replace(r, **changes)


def replay(records: Iterable[Mapping[str, Any]]) -> dict[str, Replay]:
    """Every session's replay, in the order sessions first appear in the journal."""
    sessions: dict[str, Replay] = {}
    for record in records:
        sid = record.get("session")
        if not isinstance(sid, str) or not sid:
            raise RecoveryError(f"journal record {record.get('key')!r} names no session")
        sessions[sid] = _apply(sessions.get(sid) or Replay(session_id=sid), record)
    return sessions


def resolve(r: Replay) -> Session:
    """The decisions for one unfinished session, as a flow Session ready to settle.

    The returned session's amounts already include the decisions; ``recovery_notes`` are the
    journal records that make them durable (written by the flow before any payout).
    """
    notes: list[tuple[str, Mapping[str, JsonScalar]]] = [
        ("recovered", {"paid": r.paid, "kept": r.kept, "returned": r.returned, "owed": r.owed})
    ]
    paid, kept, owed = r.paid, r.kept, r.owed
    for value, action in r.escrow:
        if action == "stack":
            # The stack command went out; if the note went in, the resident gets it back.
            paid += value
            notes.append(("note_stacked", {"value": value, "paid": paid, "assumed": True}))
        else:
            notes.append(("alert", {"code": "note_unresolved", "value": value}))
    for amount in r.payouts_pending:
        # It may have come out, in part or whole: owe it on a slip rather than pay it twice.
        notes.append(("refund_owed", {"amount": amount, "reason": "payout_uncertain"}))
        owed += amount
    request_id = f"{r.session_id}:issue"
    printed = r.printed_copies
    if r.print_started and printed is None:
        printed = 0
        # The alert first: if a crash follows it, the next start decides (and alerts) again.
        notes.append(("alert", {"code": "print_uncertain", "request_id": request_id}))
        notes.append(("printed", {"request_id": request_id, "copies": 0, "uncertain": True}))
    elif r.issue_requested and not r.print_started and not r.voided:
        notes.append(("issue_void", {"request_id": request_id, "reason": "restart"}))
    if printed and r.fee is not None and "fee_kept" not in r.kinds:
        due = r.fee if printed >= r.copies else r.fee * printed // max(1, r.copies)
        kept += due
        notes.append(("fee_kept", {"amount": due, "request_id": request_id, "issue_number": r.issue_number}))
    if paid - kept - r.returned - owed < 0:
        # Records contradict each other (outside damage): keep nothing we cannot account for.
        raise RecoveryError(
            f"session {r.session_id}: journal shows {paid} yen in but {kept + r.returned + owed} kept, "
            "returned or owed; Fix: check the journal files against the cash box count"
        )
    return Session(
        session_id=r.session_id,
        kind=r.kind,
        copies=r.copies,
        fee=r.fee,
        paid=paid,
        kept=kept,
        returned=r.returned,
        owed=owed,
        issue_requested=r.issue_requested,
        issue_number=r.issue_number,
        print_started=r.print_started,
        printed_copies=printed,
        journal_seq=r.last_seq,
        recovered=True,
        recovery_notes=tuple(notes),
    )


def recovered_sessions(records: Iterable[Mapping[str, Any]]) -> tuple[Session, ...]:
    """Resolved sessions for every unfinished session in ``records`` (oldest first)."""
    return tuple(resolve(r) for r in replay(records).values() if not r.closed)
