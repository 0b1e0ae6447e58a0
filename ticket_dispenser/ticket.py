"""An issued ticket and what is printed on it (pure: no I/O, time comes in the value)."""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from drivers.ticket_printer import QR, BigNumber, Block, PrintJob, Rule, Space, Text
from sync import messages, protocol
from ticket_dispenser.strings import gettext_for, purpose_name

_TZ = zoneinfo.ZoneInfo("Asia/Tokyo")
DEFAULT_PROGRESS_URL = "http://madoguchi.local/t/{token}"


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
    progress_url: str = ""
    # The unguessable token of the resident's page (sync.tokens); "" on tickets of older logs.
    token: str = ""
    # The procedures in the resident's language where the site names them so (by Japanese name).
    procedures_local: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def event_data(self) -> messages.TicketIssued:
        """The ``ticket.issued`` event's data (what the office needs, nothing personal)."""
        return messages.TicketIssued(
            ticket_id=self.ticket_id,
            day=self.day,
            series=self.series,
            number=self.number,
            category=self.category,
            route=tuple(self.route),
            procedures=tuple(self.procedures),
            clock_confirmed=self.clock_confirmed,
            token=self.token or None,
        )

    def to_record(self) -> dict[str, Any]:
        """The ticket log's record."""
        return {
            **protocol.to_data(self.event_data()),
            "names": dict(self.names),
            "issued_ms": self.issued_ms,
            "people_ahead": self.people_ahead,
            "est_wait_min": self.est_wait_min,
            "office_name": self.office_name,
            "language": self.language,
            "progress_url": self.progress_url,
            "procedures_local": dict(self.procedures_local),
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
            progress_url=str(r.get("progress_url", "")),
            token=str(r.get("token") or ""),
            procedures_local={str(k): str(v) for k, v in dict(r.get("procedures_local") or {}).items()},
        )


def ticket_job(t: IssuedTicket, *, reprint: bool = False) -> PrintJob:
    """The printed ticket. Japanese for the office's staff and most residents, plus one line in
    the resident's language. The issue time appears only when the clock is confirmed: a Pi
    without an RTC may be days off after a power cut (DESIGN.md decision 6)."""
    ja = gettext_for("ja")
    blocks: list[Block] = []
    if t.office_name:
        blocks.append(Text(t.office_name, size=26, align="center"))
    blocks += [Rule(), Text(purpose_name(t.names, "ja"), size=40, align="center", bold=True)]
    blocks.append(BigNumber(str(t.number), suffix=ja("No."), size=190))
    if t.procedures:
        # What the resident ticked: the counter sees the visit's purpose without asking, in
        # Japanese, and the resident reads it in their language where the site names it so.
        blocks.append(Text(ja("Procedures"), size=24, bold=True))
        for name in t.procedures:
            said = t.procedures_local.get(name, "")
            blocks.append(Text(f"・{name}" + (f" ({said})" if said and said != name else ""), size=26))
        blocks.append(Space(6))
    if reprint:
        blocks.append(Text(ja("Reprinted ticket"), size=26, align="center"))
    if t.clock_confirmed:
        issued = datetime.fromtimestamp(t.issued_ms / 1000, _TZ)
        blocks.append(Text(ja("Issued {time}").format(time=f"{issued:%Y-%m-%d %H:%M}"), size=26, align="center"))
    if t.people_ahead == 0:
        line = ja("No wait")
    elif t.people_ahead is not None and t.est_wait_min is not None:
        line = ja("{people} waiting ahead · about {minutes} min").format(people=t.people_ahead, minutes=t.est_wait_min)
    else:
        line = ja("Please ask at the counter how long the wait is")
    blocks += [Text(line, size=30, align="center"), Space(8)]
    url = t.progress_url or DEFAULT_PROGRESS_URL.replace("{token}", t.token)
    blocks += [QR(url, module=5), Text(ja("Scan to follow your turn"), size=24, align="center")]
    if t.language != "ja":
        local = gettext_for(t.language)
        blocks += [
            Rule(1),
            Text(purpose_name(t.names, t.language), size=28, align="center"),
            Text(
                local("Your number is {number}. Please wait until it is called.").format(number=t.number),
                size=26,
                align="center",
            ),
        ]
    blocks.append(Space(24))
    return PrintJob(job_id=t.ticket_id, blocks=tuple(blocks))
