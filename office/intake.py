"""What one device event does to the office's store (inside the batch's transaction).

The loop stores every event first (idempotent on its id) and then asks :func:`apply` for its
effect. ``apply`` never raises for a bad event: it returns the problem, the loop keeps the
event marked with it and acks it, so one poison event never blocks its device's later ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from office.db import OfficeDB
from office.domain import Ticket, ticket_id
from office.kiosk_service import KioskService
from sync import messages, protocol
from sync.errors import ProtocolError
from sync.leases import check_day
from sync.site import SiteConfig


@dataclass
class Intake:
    """Applies device events for one site."""

    config: SiteConfig
    db: OfficeDB
    kiosk: KioskService
    on_activity: Callable[[str], None] = lambda line: None
    number_conflicts: int = 0
    # What the office keeps aside for staff: (device, kind, ref, detail) - see OfficeServer._suspect.
    on_suspicious: Callable[[str, str, str, dict[str, object]], None] = lambda device, kind, ref, detail: None

    def apply(self, device: str, event_id: str, record: messages.EventRecord, now_ms: int) -> str | None:
        """The event's effect; a problem description instead of raising."""
        try:
            data = protocol.event_data(record)
        except ProtocolError as err:
            return str(err)
        match data:
            case messages.TicketIssued():
                return self._issued(device, event_id, record, data, now_ms)
            case messages.PrinterStatusChanged():
                self._printer_status(device, data)
            case messages.KioskCash() | messages.KioskIssueVoid():
                return self.kiosk.apply_event(device, data, now_ms)
            case messages.KioskJournal():
                return None  # the audit trail: stored, decoded, changes nothing
        return None  # stored for the record (print failures, reprints, journal records...)

    def _issued(
        self, device: str, event_id: str, record: messages.EventRecord, data: messages.TicketIssued, now_ms: int
    ) -> str | None:
        try:
            day = check_day(data.day)
        except ValueError as err:
            return f"ticket.issued with an invalid day: {err}"
        route = data.route
        if not route:
            cat = self.config.find_category(data.category)
            if cat is None:
                return f"unknown purpose {data.category!r} and no route given"
            route = cat.route
        ticket = Ticket(
            ticket_id=ticket_id(day, data.series, data.number),
            day=day,
            series=data.series,
            number=data.number,
            category=data.category,
            device=device,
            issued_ms=record.at,
            hlc=record.hlc,
            route=route,
            procedures=data.procedures,
            updated_ms=now_ms,
            token=data.token,
        )
        leased = self.db.holds_lease(device, data.series, day, data.number)
        clash = self.db.insert_ticket(ticket, event_id)
        if clash is not None:
            held = self.db.ticket(ticket.ticket_id)
            if leased and held is not None and not self.db.holds_lease(held.device, data.series, day, data.number):
                # The number's rightful dispenser takes it back from a ticket flagged earlier (a
                # forgery, or a dispenser issuing from another's block): that one stays aside.
                self.db.displace_ticket(ticket, event_id)
                self.on_suspicious(
                    held.device,
                    "lease",
                    f"displaced:{held.ticket_id}:{event_id}",
                    {"ticket_id": held.ticket_id, "displaced_by": device, "event_id": event_id},
                )
                self.on_activity(f"ticket {data.number} ({data.category}) issued by {device}")
                return None
            self.number_conflicts += 1
            return f"number {data.series}-{data.number} of {day} is already ticket {clash}"
        self.on_activity(f"ticket {data.number} ({data.category}) issued by {device}")
        if not leased:
            # A resident may hold this paper: the ticket stays in the queue, flagged for staff.
            self.on_suspicious(
                device, "lease", event_id, {"ticket_id": ticket.ticket_id, "series": data.series, "number": data.number}
            )
            return f"number {data.series}-{data.number} of {day} lies in no block leased to {device}; kept and flagged"
        return None

    def _printer_status(self, device: str, data: messages.PrinterStatusChanged) -> None:
        """Staff see a printer's trouble (or its paper running low) before residents do."""
        self.db.set_printer(device, {"fault": data.fault, "paper_near_end": data.paper_near_end})
        if data.fault is not None:
            self.on_activity(f"{device}: printer problem: {data.fault.replace('_', ' ')}")
        elif data.paper_near_end:
            self.on_activity(f"{device}: printer paper is near its end")
        else:
            self.on_activity(f"{device}: printer ok")
