"""An issued ticket and what is printed on it (pure: no I/O, time comes in the value)."""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from drivers.ticket_printer import PrintJob

_TZ = zoneinfo.ZoneInfo("Asia/Tokyo")


@dataclass(frozen=True)
class IssuedTicket:
    """A ticket as the dispenser issued it (番号札)."""

    ticket_id: str
    day: str
    series: str
    number: int
    category: str
    names: Mapping[str, str]
    route: tuple[str, ...]
    procedures: tuple[str, ...]
    issued_ms: int
    clock_confirmed: bool
    people_ahead: int | None
    est_wait_min: int | None
    office_name: str = ""
    language: str = "ja"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def event_data(self) -> dict[str, Any]:
        """The ``ticket.issued`` event's data (what the office needs, nothing personal)."""
        return {
            "ticket_id": self.ticket_id,
            "day": self.day,
            "series": self.series,
            "number": self.number,
            "category": self.category,
            "route": list(self.route),
            "procedures": list(self.procedures),
            "clock_confirmed": self.clock_confirmed,
        }

    def to_record(self) -> dict[str, Any]:
        """The ticket log's record."""
        return {
            **self.event_data(),
            "names": dict(self.names),
            "issued_ms": self.issued_ms,
            "people_ahead": self.people_ahead,
            "est_wait_min": self.est_wait_min,
            "office_name": self.office_name,
            "language": self.language,
        }

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> IssuedTicket:
        """Rebuild from :meth:`to_record` output."""
        return cls(
            ticket_id=str(r["ticket_id"]),
            day=str(r["day"]),
            series=str(r["series"]),
            number=int(r["number"]),
            category=str(r["category"]),
            names=dict(r.get("names") or {}),
            route=tuple(r.get("route") or ()),
            procedures=tuple(r.get("procedures") or ()),
            issued_ms=int(r.get("issued_ms", 0)),
            clock_confirmed=bool(r.get("clock_confirmed", False)),
            people_ahead=r.get("people_ahead"),
            est_wait_min=r.get("est_wait_min"),
            office_name=str(r.get("office_name", "")),
            language=str(r.get("language", "ja")),
        )


def ticket_job(t: IssuedTicket) -> PrintJob:
    """The printed ticket's lines. The issue time appears only when the clock is confirmed:
    a Pi without an RTC may be days off after a power cut (DESIGN.md decision 6)."""
    lines = [t.office_name, t.names.get("ja", t.category)]
    if t.clock_confirmed:
        issued = datetime.fromtimestamp(t.issued_ms / 1000, _TZ)
        lines.append(f"発行 {issued:%Y-%m-%d %H:%M}")
    if t.people_ahead is not None:
        lines.append(f"お待ちの方 {t.people_ahead}人")
    if t.est_wait_min is not None:
        lines.append(f"待ち時間の目安 約{t.est_wait_min}分")
    else:
        lines.append("待ち時間の目安は窓口でお尋ねください")
    lines.append(f"ticket {t.ticket_id}")
    return PrintJob(job_id=t.ticket_id, lines=lines, large=f"{t.number}番")
