"""The ticket log's rows: one append-only line for everything that happened to a ticket (pure).

The office writes a row beside every change it makes to a ticket (office/staff.py, the intake
of a dispenser's ticket, the desk), in the same transaction; every statistic is derived from
these rows and nothing else, so a figure can always be traced back to the moments it counts.
A row names the ticket, what happened, the station and counter involved, the staff user (the
only personal datum: ``username`` can be dropped after the site's retention, the rest is kept
for years) and the device that issued it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """What happened to a ticket."""

    ISSUED = "issued"  # a dispenser (or the desk) issued it: the resident arrived
    CALLED = "called"  # called to a counter: it reaches the route's first station
    RECALLED = "recalled"  # called once more (nothing moves)
    STARTED = "started"  # the resident is at the counter: work begins
    MOVED = "moved"  # it reached ``station`` from the previous one (``detail``: where it was)
    READY = "ready"  # it reached the terminal station: the resident is called to receive it
    DONE = "done"  # handed over: the resident has gone
    HELD = "held"  # put aside where it is
    RESUMED = "resumed"  # taken up again where it was
    TRANSFERRED = "transferred"  # joined another purpose's queue (``detail``: the old purpose)
    ABSENT = "absent"  # called, did not come
    VOIDED = "voided"  # cancelled by staff
    CLAIMED = "claimed"  # a staff user took the case to work on it
    RELEASED = "released"  # gave it back to the station's pool


@dataclass(frozen=True)
class LogRow:
    """One line of the log.

    ``day`` is the ticket's business day (not the row's calendar date); ``category`` is the
    ticket's purpose after the change (a transfer's row carries the new one, ``detail`` the old);
    ``station`` is where the ticket is after the change (None while it waits); ``counter`` the
    counter involved, if any; ``device`` the device that issued the ticket.
    """

    at_ms: int
    ticket_id: str
    day: str
    kind: Kind
    category: str
    station: str | None = None
    counter: int | None = None
    username: str | None = None
    device: str | None = None
    detail: str | None = None
