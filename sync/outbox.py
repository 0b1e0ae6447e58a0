"""The device outbox: events journalled before they are published, kept until the office acks.

An event and its sequence number are written in one atomic write (the record plus the
segment meta ``last_seq``), so once :meth:`Outbox.append` returns the event survives SIGKILL
or a power cut and its seq is never reused. The office acknowledges cumulatively per device;
acknowledged segments are deleted so the hot file stays small (DESIGN.md decisions 2, 4, 7).
"""

from __future__ import annotations

import bisect
import itertools
import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from sync.errors import StoreCorrupt
from sync.events import Event
from sync.store import SegmentedLog, StateStore

__all__ = ["Outbox"]

logger = logging.getLogger(__name__)
# Caller meta shares the segment meta with our own keys; the prefix keeps them apart.
_APP_PREFIX = "app."

_ACK_FILE = "ack.json"
_ACK_KEY = "ack"


class Outbox:
    """Durable queue of one device's events, in dense seq order, until the office acks them.

    Layout of ``directory``: ``seg-*.json`` (a :class:`~sync.store.SegmentedLog` whose meta
    holds ``last_seq``) and ``ack.json`` (a :class:`~sync.store.StateStore` holding
    ``acked_seq``). Losing an ack write only causes resends, which the office deduplicates.
    Unacked events are indexed in memory at open, so :meth:`pending` never reads the disk.
    Thread-safe; one writer per directory (:class:`~sync.errors.StoreLocked` otherwise).
    """

    def __init__(self, directory: str | Path, device_id: str, segment_size: int = 10) -> None:
        if not isinstance(device_id, str) or not device_id:
            raise ValueError("device_id must be a non-empty string")
        self._dir = Path(directory)
        self._device = device_id
        self._mutex = threading.RLock()
        self._log = SegmentedLog(self._dir, segment_size=segment_size)
        try:
            self._acks = StateStore(self._dir / _ACK_FILE)
        except BaseException:
            self._log.close()
            raise
        try:
            self._load()
        except BaseException:
            self.close()
            raise

    def _load(self) -> None:
        """Rebuild last_seq, acked_seq and the pending index from disk."""
        try:
            events = [Event.from_record(self._device, rec) for rec in self._log.records()]
        except (KeyError, TypeError, ValueError) as err:
            raise StoreCorrupt(
                f"outbox {self._dir} holds a record that is not an event ({err!r}); "
                "Fix: move foreign files out of the outbox directory"
            ) from err
        for before, after in itertools.pairwise(events):
            if after.seq != before.seq + 1:
                # Only outside damage (a deleted segment) can cause this; the office sees the
                # gap and can ask again, so report it rather than refuse to start.
                logger.error(
                    "outbox %s: seq jumps from %d to %d; events in between are lost",
                    self._dir,
                    before.seq,
                    after.seq,
                )
        meta_seq = self._log.meta.get("last_seq", 0)
        last_seq = meta_seq if isinstance(meta_seq, int) else 0
        if events and events[-1].seq > last_seq:
            logger.error("outbox %s: meta last_seq %d is behind the records", self._dir, last_seq)
            last_seq = events[-1].seq
        stored = self._acks.get(_ACK_KEY)
        acked = 0
        if stored is not None and isinstance(stored.get("acked_seq"), int):
            acked = stored["acked_seq"]
        if events:
            # Pruning happens only after the ack is saved, so anything below the first
            # remaining record was acked even if ack.json was lost or rolled back.
            acked = max(acked, events[0].seq - 1)
        if acked > last_seq:
            logger.warning("outbox %s: acked_seq %d is beyond last_seq %d; clamping", self._dir, acked, last_seq)
            acked = last_seq
        self._last_seq = last_seq
        self._acked_seq = acked
        self._pending = [e for e in events if e.seq > acked]
        # A crash between saving an ack and pruning leaves acked segments behind.
        self._prune()

    @property
    def directory(self) -> Path:
        """The outbox directory."""
        return self._dir

    @property
    def device_id(self) -> str:
        """The device whose events this outbox holds."""
        return self._device

    @property
    def last_seq(self) -> int:
        """The seq of the newest event ever appended (0 when none)."""
        with self._mutex:
            return self._last_seq

    @property
    def acked_seq(self) -> int:
        """The highest seq the office has acknowledged (0 initially)."""
        with self._mutex:
            return self._acked_seq

    def append(
        self,
        type: str,
        data: Mapping[str, Any],
        *,
        hlc: str,
        at_ms: int,
        meta: Mapping[str, Any] | None = None,
    ) -> Event:
        """Durably journal a new event with seq ``last_seq + 1`` and return it.

        The record and the new ``last_seq`` go to disk in one atomic write, so after a crash
        the seq is either used (and the event kept) or not used at all: no gaps, no reuse.
        ``meta`` is the caller's state that must change in that same write (a dispenser's
        number marks); it is read back with :attr:`meta`.
        """
        if not isinstance(type, str) or not type:
            raise ValueError("event type must be a non-empty string")
        if not isinstance(hlc, str):
            raise TypeError(f"hlc must be a str, not {hlc.__class__.__name__}")
        if isinstance(at_ms, bool) or not isinstance(at_ms, int):
            raise TypeError(f"at_ms must be an int, not {at_ms.__class__.__name__}")
        with self._mutex:
            seq = self._last_seq + 1
            record = Event(self._device, seq, type, hlc, at_ms, dict(data)).to_record()
            segment_before = self._log.newest_index
            updates: dict[str, Any] = {_APP_PREFIX + k: v for k, v in (meta or {}).items()}
            updates["last_seq"] = seq
            self._log.append(record, updates)
            # Rebuild from the JSON form so the in-memory event equals what a reopen reads
            # (int dict keys become strings, tuples lists) and callers cannot mutate it.
            event = Event.from_record(self._device, json.loads(json.dumps(record)))
            self._last_seq = seq
            self._pending.append(event)
            if self._log.newest_index != segment_before and self._acked_seq == seq - 1:
                # Rotated away from a segment that was already fully acknowledged: no later
                # ack would mention it, so prune it now.
                self._prune()
            return event

    @property
    def recovery_notes(self) -> list[str]:
        """What opening repaired (segments or the ack file) from last good copies."""
        notes = [self._log.recovery_note, self._acks.recovery_note]
        return [n for n in notes if n]

    @property
    def meta(self) -> dict[str, Any]:
        """The caller's meta as of the last append (see :meth:`append`)."""
        with self._mutex:
            return {k[len(_APP_PREFIX) :]: v for k, v in self._log.meta.items() if k.startswith(_APP_PREFIX)}

    def pending(self, after_seq: int | None = None, limit: int = 100) -> list[Event]:
        """Unacked events with seq above ``max(after_seq, acked_seq)``, oldest first."""
        with self._mutex:
            floor = self._acked_seq if after_seq is None else max(after_seq, self._acked_seq)
            if limit <= 0:
                return []
            start = bisect.bisect_right(self._pending, floor, key=lambda e: e.seq)
            return self._pending[start : start + limit]

    def pending_count(self) -> int:
        """How many events await the office's ack."""
        with self._mutex:
            return len(self._pending)

    def ack(self, seq: int) -> bool:
        """Record the office's cumulative ack up to ``seq``; True when acked_seq advanced.

        A seq beyond last_seq cannot come from the office (it cannot have seen events that were
        never written): it is refused, never clamped - clamping once pruned events the office
        never had, and left this outbox ahead of the office for good.
        """
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise TypeError(f"seq must be an int, not {seq.__class__.__name__}")
        with self._mutex:
            if seq <= self._acked_seq:
                return False
            if seq > self._last_seq:
                logger.warning(
                    "outbox %s: ack for seq %d beyond last_seq %d refused (not from the office)",
                    self._dir,
                    seq,
                    self._last_seq,
                )
                return False
            # Save the ack before pruning: a crash in between leaves extra segments (resent,
            # deduplicated), never a pruned segment the ack file does not account for.
            self._acks.put_if_newer(_ACK_KEY, {"acked_seq": seq}, seq)
            self._acked_seq = seq
            cut = bisect.bisect_right(self._pending, seq, key=lambda e: e.seq)
            del self._pending[:cut]
            self._prune()
            return True

    def _prune(self) -> None:
        """Delete every segment except the newest whose records are all acknowledged."""
        infos = self._log.segments()
        done = [info.index for info in infos[:-1] if info.last is None or int(info.last["seq"]) <= self._acked_seq]
        if done:
            self._log.drop_segments(done)
            logger.debug("outbox %s: pruned %d acknowledged segment(s)", self._dir, len(done))

    def close(self) -> None:
        """Release the outbox files (idempotent)."""
        with self._mutex:
            acks = getattr(self, "_acks", None)
            if acks is not None:
                acks.close()
            self._log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Outbox({os.fspath(self._dir)!r}, device={self._device!r}, "
            f"last_seq={self._last_seq}, acked_seq={self._acked_seq})"
        )
