"""The event: the unit a device journals in its outbox and the office consumes exactly once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sync import messages


@dataclass(frozen=True, slots=True)
class Event:
    """An append-only fact from a device (ticket issued, printer fault, ...).

    ``seq`` is dense per device and starts at 1; ``id`` is ``"<device>:<seq>"``, the key the
    office deduplicates on. ``hlc`` is the hybrid logical clock stamp (see sync.hlc) and
    ``at_ms`` the device's best estimate of wall time, which may be unconfirmed.
    """

    device: str
    seq: int
    type: str
    hlc: str
    at_ms: int
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """The idempotency key: ``"<device_id>:<seq>"``."""
        return f"{self.device}:{self.seq}"

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict (as stored in the outbox and sent on the wire)."""
        return {
            "id": self.id,
            "seq": self.seq,
            "type": self.type,
            "hlc": self.hlc,
            "at": self.at_ms,
            "data": dict(self.data),
        }

    def to_message(self) -> messages.EventRecord:
        """The event as it travels in an :class:`~sync.messages.EventBatch`."""
        return messages.EventRecord(
            id=self.id, seq=self.seq, type=self.type, hlc=self.hlc, at=self.at_ms, data=dict(self.data)
        )

    @classmethod
    def from_record(cls, device: str, record: Mapping[str, Any]) -> Event:
        """Rebuild an event from :meth:`to_record` output (the caller validated the shape)."""
        return cls(
            device=device,
            seq=int(record["seq"]),
            type=str(record["type"]),
            hlc=str(record["hlc"]),
            at_ms=int(record["at"]),
            data=dict(record.get("data") or {}),
        )
