"""Carrying out staff commands: call, advance, done, absent, void (the clerks' side of the office).

:class:`StaffDesk` applies one parsed command (:mod:`office.commands`) to the store inside the
caller's transaction and returns the line the clerk reads. It publishes nothing: the office
loop publishes snapshots and voids after the commit, from what the desk marked changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from office import commands
from office.db import OfficeDB
from office.domain import (
    Call,
    CommandError,
    ServiceLog,
    Stamp,
    Status,
    Ticket,
    absent,
    advance,
    call,
    counter,
    done,
    pick_next,
    void,
)
from sync.site import SiteConfig

log = logging.getLogger(__name__)

MAX_TICKET_NUMBER = 10_000_000  # far above any series range; keeps SQLite's integers safe
MAX_SAMPLE_S = 2 * 3600  # a gap longer than this between two calls is a break, not service


@dataclass
class StaffDesk:
    """The office's staff desk over its store; ``service`` learns from the gaps between calls."""

    config: SiteConfig
    db: OfficeDB
    on_activity: Callable[[str], None] = lambda line: None
    service: ServiceLog = field(default_factory=ServiceLog)
    # devices whose voided tickets changed: the loop publishes their voids after the commit
    voids_changed: set[str] = field(default_factory=set)

    def execute(self, cmd: commands.Command, now_ms: int, today: str) -> str:
        """Carry out ``cmd`` (inside the caller's transaction); the reply for the clerk.

        CommandError's message is shown to the clerk as it is.
        """
        match cmd:
            case commands.CallNext(counter=number):
                desk = counter(self.config, number)
                chosen = pick_next(self.db.tickets(today, [Status.WAITING]), desk)
                if chosen is None:
                    return f"nobody is waiting for counter {number}"
                return self._call(chosen, number, now_ms)
            case commands.CallNumber(ref=ref, counter=number):
                counter(self.config, number)
                return self._call(self.resolve(ref, today), number, now_ms)
            case commands.Advance(ref=ref, station=station):
                code = self.station_code(station)
                moved, stamp, called = advance(self.resolve(ref, today), code, now_ms)
                self._save(moved, stamp, called)
                return f"{moved.number} → {code}" + (f"; ready at counter {called.counter}" if called else "")
            case commands.Done(ref=ref, counter=number):
                if number is not None:
                    counter(self.config, number)
                moved, stamp, ready = done(self.resolve(ref, today), now_ms, number)
                self._save(moved, stamp, ready)
                return f"{moved.number} done; please come to counter {ready.counter}"
            case commands.Absent(ref=ref):
                moved = absent(self.resolve(ref, today), now_ms)
                self.db.update_ticket(moved)
                return f"{moved.number} marked absent"
            case commands.Void(ref=ref):
                moved = void(self.resolve(ref, today), now_ms)
                self.db.update_ticket(moved)
                self.voids_changed.add(moved.device)
                return f"{moved.number} void"
        raise CommandError(f"unsupported command {cmd!r}")

    def station_code(self, word: str) -> str:
        """A station by its code or any of its names (``review``, ``審査``)."""
        for station in self.config.stations:
            if word == station.code or word in station.name.values():
                return station.code
        known = ", ".join(s.code for s in self.config.stations)
        raise CommandError(f"unknown station {word!r}; stations: {known}")

    def resolve(self, ref: str, today: str) -> Ticket:
        """Today's ticket ``1105`` or ``2-1105`` (series first, when a number is in several)."""
        series: str | None = None
        if "-" in ref:
            series, _, number_text = ref.rpartition("-")
        else:
            number_text = ref
        number = int(number_text)
        if number > MAX_TICKET_NUMBER:
            raise CommandError(f"no ticket {ref} today")
        found = self.db.find_tickets(today, number, series)
        if not found:
            raise CommandError(f"no ticket {ref} today")
        if len(found) > 1:
            options = " or ".join(f"{t.series}-{t.number}" for t in found)
            raise CommandError(f"{ref} exists in several series: say {options}")
        return found[0]

    def rebuild_service_log(self, since_ms: int) -> None:
        """Learn the recent service times again from the calls in the store (at start)."""
        service = ServiceLog()
        last_at: dict[int, tuple[int, str]] = {}
        for number, at_ms, category in self.db.call_history(since_ms):
            if number in last_at:
                prev_ms, prev_cat = last_at[number]
                seconds = (at_ms - prev_ms) / 1000
                if 0 < seconds < MAX_SAMPLE_S:
                    service = service.add(prev_cat, seconds)
            last_at[number] = (at_ms, category)
        self.service = service

    def _call(self, ticket: Ticket, number: int, now_ms: int) -> str:
        previous = self.db.last_call_at_counter(number)
        moved, stamp, called = call(ticket, number, now_ms)
        self._save(moved, stamp, called)
        if previous is not None:
            # The gap since the counter's previous call is how long that resident took.
            seconds = (now_ms - previous[0].at_ms) / 1000
            if 0 < seconds < MAX_SAMPLE_S:
                self.service = self.service.add(previous[1], seconds)
        return f"{moved.number} → counter {number}"

    def _save(self, ticket: Ticket, stamp: Stamp, called: Call | None) -> None:
        self.db.update_ticket(ticket)
        self.db.add_stamp(stamp)
        if called is not None:
            self.db.add_call(called)
            ready = " (ready)" if called.kind == "ready" else ""
            self.on_activity(f"now calling {called.number} → counter {called.counter}{ready}")
