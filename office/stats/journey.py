"""One ticket's journey: the facts its log rows tell, one value per ticket (pure).

A ticket waits from its issue to its first call, then spends time at each station of its
route until it reaches the terminal (ready: the resident is called to collect) and is handed
over (done). A transfer sends it back to the queue of another purpose; the time until the next
call is ``requeue_s``, neither a wait nor a station's. For a ticket that was called and reached
ready without being moved back, the parts add up::

    wait_s + sum(station seconds) + requeue_s (+ collect_s when done) == total_s

``held_s`` is the part of those times spent on hold (it is inside them, not beside them).
A ticket whose ``issued`` row is missing (a pruned or partial log) is skipped: without its
arrival neither its wait nor its day's arrivals can be told.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from office.ticket_log import Kind, LogRow


class Outcome(StrEnum):
    """How a ticket's journey ended (or where it is, for one still under way)."""

    DONE = "done"  # handed over
    READY = "ready"  # ready, not collected
    ABSENT = "absent"  # last state absent: a no-show
    VOID = "void"  # cancelled by staff
    IN_PROGRESS = "in_progress"  # at a station
    WAITING = "waiting"  # in the queue, never called (or back in it after a transfer)


class StationTime(NamedTuple):
    """A stay at a station: reached at ``at_ms``, left ``seconds`` later for ``to``.

    ``to`` is the station reached next (the terminal when it became ready), None when a
    transfer sent the ticket back to the queue.
    """

    station: str
    seconds: float
    to: str | None
    at_ms: int


@dataclass(frozen=True)
class Journey:
    """One ticket's facts. Times are epoch ms, durations seconds.

    ``station_times`` are the closed stays in order (the terminal's wait to collect is
    ``collect_s``); a ticket still at a station has ``open_station`` and ``open_since_ms``.
    ``counter`` is the counter of the first call.
    """

    ticket_id: str
    day: str
    category: str
    first_category: str
    issued_ms: int
    device: str | None
    first_call_ms: int | None
    ready_ms: int | None
    done_ms: int | None
    outcome: Outcome
    transfers: int
    counter: int | None
    station_times: tuple[StationTime, ...]
    held_s: float
    requeue_s: float
    open_station: str | None = None
    open_since_ms: int | None = None

    @property
    def wait_s(self) -> float | None:
        """Issue to first call; None if never called."""
        return None if self.first_call_ms is None else (self.first_call_ms - self.issued_ms) / 1000

    @property
    def service_s(self) -> float | None:
        """First call to ready."""
        if self.first_call_ms is None or self.ready_ms is None:
            return None
        return (self.ready_ms - self.first_call_ms) / 1000

    @property
    def collect_s(self) -> float | None:
        """Ready to handed over: the resident's wait to collect."""
        return None if self.ready_ms is None or self.done_ms is None else (self.done_ms - self.ready_ms) / 1000

    @property
    def total_s(self) -> float | None:
        """Issue to handed over (to ready when never collected); None for void or unfinished tickets."""
        if self.outcome is Outcome.VOID:
            return None
        if self.done_ms is not None:
            return (self.done_ms - self.issued_ms) / 1000
        if self.ready_ms is not None and self.outcome in (Outcome.READY, Outcome.ABSENT):
            return (self.ready_ms - self.issued_ms) / 1000
        return None


# Rows that neither move a ticket nor end a hold.
_QUIET = frozenset({Kind.RECALLED, Kind.CLAIMED, Kind.RELEASED, Kind.HELD, Kind.STARTED})


def journey(rows: Sequence[LogRow]) -> Journey | None:
    """One ticket's journey from its rows in the order written; None without an ``issued`` row."""
    issued = next((r for r in rows if r.kind is Kind.ISSUED), None)
    if issued is None:
        return None
    state = Outcome.WAITING
    category = issued.category
    first_call: int | None = None
    ready: int | None = None
    ready_station: str | None = None
    done: int | None = None
    counter: int | None = None
    transfers = 0
    stays: list[StationTime] = []
    at: str | None = None
    at_since = 0
    held_since: int | None = None
    held_ms = 0
    requeue_since: int | None = None
    requeue_ms = 0

    def leave(to: str | None, t: int) -> None:
        nonlocal at
        if at is not None:
            stays.append(StationTime(at, (t - at_since) / 1000, to, at_since))
            at = None

    for r in rows:
        kind, t = r.kind, r.at_ms
        if held_since is not None and kind not in _QUIET:
            held_ms += t - held_since
            held_since = None
        if kind is Kind.ISSUED:
            continue
        if kind in (Kind.CALLED, Kind.MOVED, Kind.READY) and requeue_since is not None:
            requeue_ms += t - requeue_since
            requeue_since = None
        if kind is Kind.CALLED:
            if first_call is None:
                first_call, counter = t, r.counter
            if at is None and ready is not None and r.station in (None, ready_station):
                state = Outcome.READY  # called again to collect (a resident absent when it was ready)
                continue
            if r.station is not None and r.station != at:  # an absent resident called again stays where it was
                leave(r.station, t)
                at, at_since = r.station, t
            state = Outcome.IN_PROGRESS
        elif kind is Kind.MOVED:
            if r.station is not None and r.station != at:
                leave(r.station, t)
                at, at_since = r.station, t
            state = Outcome.IN_PROGRESS
        elif kind is Kind.READY:
            leave(r.station, t)
            if ready is None:
                ready = t
            ready_station = r.station
            state = Outcome.READY
        elif kind is Kind.DONE:
            leave(r.station, t)
            done = t
            state = Outcome.DONE
        elif kind is Kind.HELD:
            if held_since is None:
                held_since = t
        elif kind is Kind.TRANSFERRED:
            leave(None, t)
            category = r.category
            transfers += 1
            state = Outcome.WAITING
            if first_call is not None and requeue_since is None:
                requeue_since = t  # a second transfer while back in the queue: the wait goes on
        elif kind is Kind.ABSENT:
            state = Outcome.ABSENT
        elif kind is Kind.VOIDED:
            at, requeue_since = None, None  # a cancelled stay has no end to measure
            state = Outcome.VOID
    open_here = state is Outcome.IN_PROGRESS and at is not None
    return Journey(
        ticket_id=issued.ticket_id,
        day=issued.day,
        category=category,
        first_category=issued.category,
        issued_ms=issued.at_ms,
        device=issued.device,
        first_call_ms=first_call,
        ready_ms=ready,
        done_ms=done,
        outcome=state,
        transfers=transfers,
        counter=counter,
        station_times=tuple(stays),
        held_s=held_ms / 1000,
        requeue_s=requeue_ms / 1000,
        open_station=at if open_here else None,
        open_since_ms=at_since if open_here else None,
    )


def journeys(rows: Iterable[LogRow]) -> list[Journey]:
    """Every ticket's journey, in issue order; the rows of several tickets may interleave.

    Tickets without an ``issued`` row are left out (see the module's docstring).
    """
    by_ticket: dict[str, list[LogRow]] = {}
    for row in rows:
        found = by_ticket.get(row.ticket_id)
        if found is None:
            by_ticket[row.ticket_id] = [row]
        else:
            found.append(row)
    out = [j for rs in by_ticket.values() if (j := journey(rs)) is not None]
    out.sort(key=lambda j: (j.issued_ms, j.ticket_id))
    return out
