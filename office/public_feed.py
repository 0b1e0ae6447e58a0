"""The resident's page feed: what the office tells ``madoguchi-public`` (pure).

Only what a resident may see leaves the office: the ticket's number, purpose and stations with
the time it reached each, its status, people ahead, the expected wait, the counter it is called
to - keyed by the SHA-256 of the ticket's token. No names, no procedures, nothing personal; a
test scans the pages for every resident field of the demo registry.

:class:`FeedBook` remembers what was last built, so a feed carries only the tickets whose page
changed (and everything, ``full``, when the office starts, the day turns or a push failed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from office import estimate, floor
from office.domain import Stamp, Status, Ticket
from sync import messages
from sync.site import SiteConfig
from sync.tokens import ticket_key

PUBLIC_STATUS: Mapping[Status, messages.PublicStatus] = {
    Status.WAITING: "waiting",
    Status.CALLED: "called",
    Status.IN_PROGRESS: "in_progress",
    Status.HELD: "held",
    Status.READY: "ready",
    Status.DONE: "done",
    Status.ABSENT: "absent",
    Status.VOID: "void",
}


def stops(config: SiteConfig, ticket: Ticket, stamps: Sequence[Stamp]) -> tuple[messages.PublicStop, ...]:
    """The ticket's stations with when it last reached each (none beyond where it is now)."""
    reached: dict[str, int] = {}
    for stamp in stamps:
        reached[stamp.station] = stamp.at_ms
    out = []
    for index, code in enumerate(ticket.route):
        station = config.find_station(code)
        names = dict(station.names) if station is not None else {"en": code}
        at = reached.get(code) if index <= ticket.station_index else None
        out.append(messages.PublicStop(code=code, name=names, reached_ms=at))
    return tuple(out)


def public_tickets(
    config: SiteConfig,
    tickets: Sequence[Ticket],
    stamps: Mapping[str, Sequence[Stamp]],
    samples: Mapping[str, Sequence[float]],
    counters_open: Mapping[int, bool],
) -> list[messages.PublicTicket]:
    """The page of every ticket of the day that has a token."""
    waiting: dict[str, list[Ticket]] = {}
    for t in sorted((t for t in tickets if t.status is Status.WAITING), key=lambda t: t.queue_key):
        waiting.setdefault(t.category, []).append(t)
    place = {t.ticket_id: i for line in waiting.values() for i, t in enumerate(line)}
    out = []
    for t in tickets:
        if not t.token:
            continue
        cat = config.find_category(t.category)
        ahead = est = None
        if t.status is Status.WAITING:
            ahead = place.get(t.ticket_id, 0)
            counters = floor.open_counter_count(config, counters_open, t.category)
            est = estimate.estimated_wait_minutes(
                ahead, samples.get(t.category, ()), counters, float(config.default_service_seconds)
            )
        at = None
        if t.status in (Status.CALLED, Status.READY) and t.counter is not None:
            desk = config.find_counter(t.counter)
            names = desk.names() if desk is not None else {"ja": f"{t.counter}番窓口", "en": f"Counter {t.counter}"}
            at = messages.PublicCounter(number=t.counter, name=names)
        out.append(
            messages.PublicTicket(
                key=ticket_key(t.token),
                number=t.number,
                purpose=dict(cat.names) if cat is not None else {"en": t.category},
                stops=stops(config, t, stamps.get(t.ticket_id, ())),
                status=PUBLIC_STATUS[t.status],
                people_ahead=ahead,
                est_wait_min=est,
                counter=at,
                issued_ms=t.issued_ms,
                updated_ms=t.updated_ms,
            )
        )
    return out


def public_purposes(
    loads: Sequence[floor.PurposeLoad], last_called: Mapping[str, int]
) -> tuple[messages.PublicPurpose, ...]:
    """Congestion per purpose, for the public congestion page."""
    return tuple(
        messages.PublicPurpose(
            code=load.category.code,
            name=dict(load.category.names),
            waiting=load.waiting,
            est_wait_min=load.est_wait_min,
            level=load.level,
            last_called=last_called.get(load.category.code),
        )
        for load in loads
    )


@dataclass
class FeedBook:
    """What the public side was last given, so the next feed carries only what changed."""

    day: str = ""
    sent: dict[str, messages.PublicTicket] = field(default_factory=dict)
    purposes: tuple[messages.PublicPurpose, ...] = ()
    version: int = 0

    def next_feed(
        self,
        config: SiteConfig,
        today: str,
        tickets: Sequence[messages.PublicTicket],
        purposes: tuple[messages.PublicPurpose, ...],
        now_ms: int,
        *,
        full: bool = False,
    ) -> messages.PublicFeed | None:
        """The feed that brings the public side up to date, or None when nothing changed.

        The version grows with the office's clock (and at least by one), so it keeps growing
        across office restarts without a write to the store per push.
        """
        full = full or today != self.day
        current = {t.key: t for t in tickets}
        changed = tuple(t for k, t in current.items() if full or self.sent.get(k) != t)
        removed = () if full else tuple(k for k in self.sent if k not in current)
        new_purposes = full or purposes != self.purposes
        if not (full or changed or removed or new_purposes):
            return None
        self.version = max(self.version + 1, now_ms)
        self.day, self.sent, self.purposes = today, current, purposes
        return messages.PublicFeed(
            site=config.site,
            office_name=config.office_name,
            business_day=today,
            version=self.version,
            sent_ms=now_ms,
            full=full,
            tickets=changed,
            removed=removed,
            purposes=purposes if new_purposes else (),
        )

    def forget(self) -> None:
        """A push failed: the next feed is a full one (the public side may have missed any)."""
        self.day = ""
