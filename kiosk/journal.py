"""The kiosk's money journal: every money event and issuance step, durable before the next action.

A :class:`~sync.store.SegmentedLog` (atomic write, fsync of file and directory, a ``.bak``
of the last good segment) holds one record per :class:`~kiosk.flow.JournalEntry`::

    {"key": "<session_id>:<seq>", "session": "<session_id>", "seq": 3,
     "kind": "coin_accepted", "at": <wall ms>, "data": {"value": 100, "paid": 400}}

``key`` is the idempotency key at the office too. What a record may hold is an allow-list per
kind (:data:`ENTRY_FIELDS`): ids, yen amounts, counts and codes, each string limited to an
id-like alphabet. A PIN, a name or a certificate's content cannot pass :func:`entry_record`,
whatever a caller tries (DESIGN.md decision 10).

Records of kinds in :data:`REPORTED` are also sent to the office as cash reports (fees kept,
payouts, refund slips owed, voided issuances, alerts) by kiosk.runtime. Segments whose
sessions are all closed are dropped by :meth:`KioskJournal.prune`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Final, Self

from kiosk.flow import JournalEntry
from kiosk.ports import KioskError
from sync.errors import StoreError
from sync.store import SegmentedLog

__all__ = ["ENTRY_FIELDS", "REPORTED", "JournalError", "KioskJournal", "check_record", "entry_record", "safe_text"]

log = logging.getLogger(__name__)

ENTRY_FIELDS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "payment_intent": frozenset({"fee", "kind", "copies", "request_id"}),
        "coin_accepted": frozenset({"value", "paid"}),
        "note_escrowed": frozenset({"value", "action"}),
        "note_stacked": frozenset({"value", "paid", "assumed"}),
        "note_returned": frozenset({"value"}),
        "issue_requested": frozenset({"request_id", "fee", "paid"}),
        "issued": frozenset({"request_id", "issue_number"}),
        "print_started": frozenset({"request_id"}),
        "printed": frozenset({"request_id", "copies", "uncertain"}),
        "fee_kept": frozenset({"amount", "request_id", "issue_number"}),
        "payout_intent": frozenset({"amount", "reason"}),
        "payout_done": frozenset({"requested", "paid", "assumed", "reason"}),
        "refund_owed": frozenset({"amount", "reason"}),
        "issue_void": frozenset({"request_id", "reason"}),
        "alert": frozenset({"code", "request_id", "value"}),
        "recovered": frozenset({"paid", "kept", "returned", "owed"}),
        "session_closed": frozenset({"paid", "kept", "returned", "owed"}),
    }
)
REPORTED: Final = frozenset(
    {"fee_kept", "payout_done", "refund_owed", "issue_void", "alert", "recovered", "session_closed"}
)
# Ids, codes and issue numbers only: no spaces, no kana or kanji, so no name can slip in.
_SAFE_TEXT = re.compile(r"^[A-Za-z0-9_.:\-]{1,100}$")
_KEYS: Final = frozenset({"key", "session", "seq", "kind", "at", "data"})


def safe_text(value: str) -> bool:
    """True when ``value`` may be stored in a journal record (an id, a code, an issue number)."""
    return bool(_SAFE_TEXT.match(value))


class JournalError(KioskError):
    """The journal cannot be written or read; the kiosk must stop taking money."""


def _check_data(kind: str, data: Mapping[str, Any], where: str) -> dict[str, Any]:
    allowed = ENTRY_FIELDS.get(kind)
    if allowed is None:
        raise JournalError(f"{where}: unknown record kind {kind!r}; known: {', '.join(ENTRY_FIELDS)}")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in allowed:
            raise JournalError(f"{where}: {kind} records may not hold {key!r} (allowed: {', '.join(sorted(allowed))})")
        if value is None or isinstance(value, bool):
            pass
        elif isinstance(value, int):
            if not 0 <= value < 10**9:
                raise JournalError(f"{where}: {kind}.{key} = {value} is out of range")
        elif isinstance(value, str):
            if not _SAFE_TEXT.match(value):
                raise JournalError(f"{where}: {kind}.{key} is not an id or code ({len(value)} characters)")
        else:
            raise JournalError(f"{where}: {kind}.{key} has type {type(value).__name__}; ids, amounts and codes only")
        out[key] = value
    return out


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
    """Raise :class:`JournalError` unless ``record`` is a journal record we wrote."""
    key = record.get("key")
    where = f"journal record {key!r}"
    if set(record) != _KEYS:
        raise JournalError(f"{where}: expected the fields {sorted(_KEYS)}, found {sorted(record)}")
    session, seq, kind, data = record["session"], record["seq"], record["kind"], record["data"]
    if not isinstance(session, str) or isinstance(seq, bool) or not isinstance(seq, int) or key != f"{session}:{seq}":
        raise JournalError(f"{where}: key does not match session and seq")
    if not isinstance(kind, str) or not isinstance(data, Mapping):
        raise JournalError(f"{where}: kind or data missing")
    _check_data(kind, data, where)


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
        """Drop old segments whose sessions are all closed; returns how many were dropped."""
        try:
            segments = self._log.segments()
            if len(segments) < 2:
                return 0
            records = iter(self._log.records())
            droppable: list[int] = []
            for info in segments[:-1]:  # the newest segment is never dropped
                sessions = {next(records)["session"] for _ in range(info.count)}
                if not sessions & self._open.keys():
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
