"""The kiosk's money journal: every money event and issuance step, durable before the next action.

A :class:`~sync.store.SegmentedLog` (atomic write, fsync of file and directory, a ``.bak``
of the last good segment) holds one record per :class:`~kiosk.flow.JournalEntry`::

    {"key": "<session_id>:<seq>", "session": "<session_id>", "seq": 3,
     "kind": "coin_accepted", "at": <wall ms>, "data": {"value": 100, "paid": 400}}

``key`` is the idempotency key at the office too. What a record may hold is an allow-list per
kind, the kind's model in :mod:`kiosk.flow.effects` (:data:`ENTRY_FIELDS` names their fields): ids,
yen amounts, counts and codes, each string limited to an id-like alphabet. A PIN, a name or a certificate's content cannot pass :func:`entry_record`,
whatever a caller tries (DESIGN.md decision 10).

Records of kinds in :data:`REPORTED` are also sent to the office as cash reports (fees kept,
payouts, refund slips owed, voided issuances, alerts) by kiosk.runtime. Segments whose
sessions are all closed are dropped by :meth:`KioskJournal.prune`, except the newest that
holds each acceptor's event counter (:func:`cash_cursor`, where the cash box resumes at start).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Final, Self

from common.validation import Invalid
from kiosk.flow import JournalEntry, effects
from kiosk.ports import KioskError
from sync.errors import StoreError
from sync.store import SegmentedLog

__all__ = [
    "ENTRY_FIELDS",
    "REPORTED",
    "JournalError",
    "KioskJournal",
    "cash_cursor",
    "check_record",
    "entry_record",
    "safe_text",
    "unconfirmed_notes",
]

log = logging.getLogger(__name__)

# What each kind of record may hold: the fields of its model (kiosk.flow.effects).
ENTRY_FIELDS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {kind: frozenset(model.__struct_fields__) for kind, model in effects.ENTRY_DATA.items()}
)
REPORTED: Final = frozenset(
    {"fee_kept", "payout_done", "refund_owed", "issue_void", "alert", "recovered", "session_closed"}
)
# Ids, codes and issue numbers only: no spaces, no kana or kanji, so no name can slip in.
_SAFE_TEXT = effects.SAFE_TEXT


# Which acceptor's event counter a journal record carries (kiosk.ports.CashPort.resume keys).
_CURSOR_OF: Final[Mapping[str, str]] = {
    "coin_accepted": "coin_acceptor",
    "note_escrowed": "bill_validator",
    "note_stacked": "bill_validator",
    "note_returned": "bill_validator",
    "alert": "bill_validator",  # only a note's late report carries a counter
}


def cash_cursor(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Each acceptor's event counter in its newest journal record that has one."""
    cursor: dict[str, int] = {}
    for record in records:
        data = record.get("data")
        if record.get("kind") == "cash_cursor" and isinstance(data, Mapping):
            cursor.update({k: v for k, v in data.items() if isinstance(v, int) and not isinstance(v, bool)})
            continue
        device = _CURSOR_OF.get(str(record.get("kind")))
        counter = data.get("counter") if isinstance(data, Mapping) else None
        if device is not None and isinstance(counter, int) and not isinstance(counter, bool):
            cursor[device] = counter
    return cursor


# Alerts the flow journals when a validator report arrives for a note already settled.
_LATE_REPORTS: Final = frozenset({"note_stack_confirmed", "note_returned_after_refund"})


def unconfirmed_notes(records: Iterable[Mapping[str, Any]]) -> tuple[tuple[int, str], ...]:
    """Notes settled by assumption whose validator report may still come: (value, action).

    A settling timeout or a recovery counts a note told to stack as paid (``note_stacked``
    ``assumed``) and a note told to return as not (``alert`` ``note_unresolved``). The validator
    may report it later; the cash box re-reads its events after the journalled counter, so an
    assumption made after the last record with a validator counter is still unconfirmed, and
    one made before it is settled (its report, if any, came before that record's event).
    """
    pending: list[tuple[int, str]] = []
    for record in records:
        kind, data = record.get("kind"), record.get("data")
        if not isinstance(data, Mapping):
            continue
        value = data.get("value")
        if cash_cursor([record]).get("bill_validator") is not None:
            if kind == "alert" and data.get("code") in _LATE_REPORTS:
                # A late report consumed one assumption (the flow matches them by value).
                match = [i for i, (v, _) in enumerate(pending) if v == value]
                if match:
                    del pending[match[0]]
                continue
            # A new event of the validator: one note at a time goes through its escrow, so
            # every earlier note was resolved before it (reported, or lost at a reset).
            pending.clear()
        if not isinstance(value, int) or isinstance(value, bool):
            continue
        if kind == "note_stacked" and data.get("assumed") and data.get("counter") is None:
            pending.append((value, "stack"))
        elif kind == "alert" and data.get("code") == "note_unresolved":
            pending.append((value, "return"))
    return tuple(pending)


def safe_text(value: str) -> bool:
    """True when ``value`` may be stored in a journal record (an id, a code, an issue number)."""
    return bool(_SAFE_TEXT.match(value))


class JournalError(KioskError):
    """The journal cannot be written or read; the kiosk must stop taking money."""


def _check_data(kind: str, data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``data`` as a record of ``kind`` may hold it (its model in kiosk.flow.effects), or
    :class:`JournalError` naming the kind and the key."""
    plain = dict(data)
    try:
        effects.entry_data(kind, plain)
    except Invalid as err:
        raise JournalError(f"{where}: {kind}.{err}" if err.parts else f"{where}: {err}") from err
    return plain


def entry_record(entry: JournalEntry, at_ms: int) -> dict[str, Any]:
    """The stored (and reported) form of ``entry``; raises :class:`JournalError` if it is unfit."""
    where = f"journal entry {entry.session_id}:{entry.seq}"
    if not _SAFE_TEXT.match(entry.session_id) or isinstance(entry.seq, bool) or entry.seq < 1:
        raise JournalError(f"{where}: bad session id or seq")
    return {
        "key": entry.key,
        "session": entry.session_id,
        "seq": entry.seq,
        "kind": entry.kind,
        "at": int(at_ms),
        "data": _check_data(entry.kind, entry.data, where),
    }


def check_record(record: Mapping[str, Any]) -> None:
    """Raise :class:`JournalError` unless ``record`` is a journal record we wrote (its fields
    and its data as :func:`kiosk.flow.effects.journal_record` decodes them)."""
    key = record.get("key") if isinstance(record, Mapping) else None
    try:
        effects.journal_record(dict(record) if isinstance(record, Mapping) else record)
    except Invalid as err:
        raise JournalError(f"journal record {key!r}: {err}") from err


class KioskJournal:
    """The durable journal of one kiosk (one writer: the kiosk runtime).

    Opening reads and checks every record; :meth:`append` returns only once the record is on
    disk (fsync of file and directory). Raises :class:`JournalError` for every failure.
    """

    def __init__(self, directory: str | os.PathLike[str], *, segment_size: int = 500) -> None:
        self._dir = Path(directory)
        try:
            self._log = SegmentedLog(self._dir, segment_size=segment_size)
        except StoreError as err:
            raise JournalError(f"cannot open the kiosk journal in {self._dir}: {err}") from err
        try:
            records = list(self._log.records())
            for record in records:
                check_record(record)
        except (StoreError, JournalError) as err:
            self._log.close()
            raise JournalError(
                f"the kiosk journal in {self._dir} is damaged ({err}); Fix: restore it from a backup "
                "(the kiosk cannot know which money is owed without it)"
            ) from err
        # Sessions still open and their last seq: appends must continue each session in order.
        self._open: dict[str, int] = {}
        for record in records:
            self._track(record)
        if self._log.recovered:
            log.warning("kiosk journal repaired: %s", self._log.recovery_note)

    @property
    def directory(self) -> Path:
        """The journal directory."""
        return self._dir

    @property
    def recovery_note(self) -> str | None:
        """What opening repaired, if anything (for the app to report)."""
        return self._log.recovery_note

    def _track(self, record: Mapping[str, Any]) -> None:
        if record["kind"] == "session_closed":
            self._open.pop(record["session"], None)
        else:
            self._open[record["session"]] = record["seq"]

    def append(self, entry: JournalEntry, at_ms: int) -> dict[str, Any]:
        """Durably append ``entry`` (stamped ``at_ms`` wall time); returns the stored record."""
        record = entry_record(entry, at_ms)
        last = self._open.get(entry.session_id)
        if last is not None and entry.seq <= last:
            raise JournalError(f"journal entry {entry.key}: seq must follow {last} (a record would repeat)")
        try:
            self._log.append(record)
        except StoreError as err:
            raise JournalError(f"cannot write the kiosk journal in {self._dir}: {err}") from err
        self._track(record)
        return record

    def records(self) -> list[dict[str, Any]]:
        """Every record, oldest first."""
        try:
            return list(self._log.records())
        except StoreError as err:
            raise JournalError(f"cannot read the kiosk journal in {self._dir}: {err}") from err

    def open_sessions(self) -> frozenset[str]:
        """Ids of sessions without ``session_closed``."""
        return frozenset(self._open)

    def prune(self) -> int:
        """Drop the oldest segments while their sessions are all closed; returns how many went.

        Only a prefix of the journal goes: a session's ``session_closed`` is never dropped while
        an older record of that session stays (it would look unfinished at the next start and be
        settled again). The newest segment stays, and so does the newest record with each
        acceptor's event counter (:func:`cash_cursor`: where the cash box resumes at start).
        """
        try:
            segments = self._log.segments()
            if len(segments) < 2:
                return 0
            records = iter(self._log.records())
            contents = [(info, [next(records) for _ in range(info.count)]) for info in segments]
            keepers = {
                next(info.index for info, held in reversed(contents) if device in cash_cursor(held))
                for device in cash_cursor(r for _, held in contents for r in held)
            }
            droppable: list[int] = []
            for info, held in contents[:-1]:  # the newest segment is never dropped
                if info.index in keepers or {record["session"] for record in held} & self._open.keys():
                    break
                droppable.append(info.index)
            if droppable:
                self._log.drop_segments(droppable)
            return len(droppable)
        except StoreError as err:
            raise JournalError(f"cannot prune the kiosk journal in {self._dir}: {err}") from err

    def close(self) -> None:
        """Release the journal (idempotent)."""
        self._log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
