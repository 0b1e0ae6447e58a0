"""What the staff screens show, computed from the day's tickets (pure: no store, no clock).

The console reads the store after every change (:mod:`office.staff_view`) and hands the rows
to these functions: each station's backlog, the input centre's load, the wait per purpose
against the floor's target with its congestion lamp, the counters, the alerts. The same
people-ahead rule feeds the resident's page (:mod:`office.public_feed`), so a clerk and a
resident never see two different queues.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from office import estimate
from office.domain import Stamp, Status, Ticket
from sync.site import Category, Counter, SiteConfig

HOUR_MS = 3600 * 1000
Level = Literal["green", "yellow", "red"]
Severity = Literal["warning", "error"]


@dataclass(frozen=True)
class CounterState:
    """A counter as the floor sees it: open or not, who opened it, since when (today)."""

    counter: Counter
    open: bool
    username: str | None
    since_ms: int | None
    current: Ticket | None  # the ticket called or worked on there now
    others: tuple[Ticket, ...] = ()  # ready to collect there, or put on hold there

    @property
    def number(self) -> int:
        """The counter's number."""
        return self.counter.number


@dataclass(frozen=True)
class PurposeLoad:
    """One purpose's queue: people waiting, the expected wait against the target, its lamp."""

    category: Category
    waiting: int
    est_wait_min: int | None
    level: Level
    over_target: bool
    open_counters: int
    oldest_waiting_ms: int | None


@dataclass(frozen=True)
class StationLoad:
    """One station's backlog: cases there (being worked on and not), held ones, the oldest."""

    code: str
    names: Mapping[str, str]
    cases: int
    held: int
    unclaimed: int
    oldest_ms: int | None


@dataclass(frozen=True)
class InputLoad:
    """The input centre's panel (集中入力センター), live on every counter screen."""

    station: str
    waiting: int  # cases at the input station nobody holds
    in_hand: int  # cases an operator holds
    oldest_ms: int | None  # when the oldest case there arrived
    finished_last_hour: int
    operators: tuple[str, ...]  # who holds a case now


@dataclass(frozen=True)
class Alert:
    """Something staff must see now. ``template`` is English with ``{fields}`` (translated by
    the console); ``key`` identifies it so a screen shows each once."""

    key: str
    severity: Severity
    template: str
    params: Mapping[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.template.format(**self.params)


@dataclass(frozen=True)
class DeviceHealth:
    """A lobby device as the floor sees it (from its status, its printer events, its health)."""

    device: str
    role: str
    online: bool
    last_seen_ms: int | None
    outbox_pending: int
    printer_fault: str | None
    paper_near_end: bool
    held_tickets: tuple[int, ...]
    in_service: bool | None  # a kiosk's own word; None when the device does not say
    fault: str
    cash: Mapping[str, int]  # a kiosk's levels: denomination -> count (coins and notes)
    change_low: bool
    refunds_owed: int
    stale: bool  # a board showing data older than it should
    version: str = ""  # the madoguchi package it runs, as it last said


def people_ahead(ticket: Ticket, waiting: Sequence[Ticket]) -> int:
    """How many tickets of the same purpose were issued before this one and still wait."""
    return sum(
        1
        for other in waiting
        if other.status is Status.WAITING and other.category == ticket.category and other.queue_key < ticket.queue_key
    )


def open_counter_count(config: SiteConfig, states: Mapping[int, bool], code: str) -> int:
    """Counters serving a purpose that are open; all that serve it when none is open yet.

    Before the first clerk opens a counter in the morning (or at an office whose clerks only use
    terminals) an estimate from the counters that will open beats no estimate at all.
    """
    serving = [c.number for c in config.counters if c.serves(code)]
    open_now = [n for n in serving if states.get(n, False)]
    return len(open_now) if any(states.values()) else len(serving)


def purpose_loads(
    config: SiteConfig,
    waiting: Sequence[Ticket],
    samples: Mapping[str, Sequence[float]],
    counters_open: Mapping[int, bool],
) -> list[PurposeLoad]:
    """Every purpose's queue, in the site's order."""
    out = []
    for cat in config.categories:
        mine = [t for t in waiting if t.category == cat.code and t.status is Status.WAITING]
        counters = open_counter_count(config, counters_open, cat.code)
        wait = estimate.estimated_wait_minutes(
            len(mine), samples.get(cat.code, ()), counters, float(config.default_service_seconds)
        )
        out.append(
            PurposeLoad(
                category=cat,
                waiting=len(mine),
                est_wait_min=wait,
                level=config.congestion.level(wait),
                over_target=wait is not None and wait > config.congestion.target_wait_minutes,
                open_counters=counters,
                oldest_waiting_ms=min((t.issued_ms for t in mine), default=None),
            )
        )
    return out


def arrived_at(ticket: Ticket, stamps: Sequence[Stamp]) -> int:
    """When the ticket reached the station it is at (its issue time while it waits)."""
    if ticket.station is None:
        return ticket.issued_ms
    for stamp in reversed(stamps):
        if stamp.station == ticket.station:
            return stamp.at_ms
    return ticket.updated_ms


def station_loads(
    config: SiteConfig, active: Sequence[Ticket], stamps: Mapping[str, Sequence[Stamp]]
) -> list[StationLoad]:
    """Every station's backlog (the terminal station counts residents called to collect)."""
    out = []
    for station in config.stations:
        here = [t for t in active if t.station == station.code and t.status is not Status.WAITING]
        out.append(
            StationLoad(
                code=station.code,
                names=station.names,
                cases=len(here),
                held=sum(1 for t in here if t.status is Status.HELD),
                unclaimed=sum(1 for t in here if t.holder is None and t.status is not Status.HELD),
                oldest_ms=min((arrived_at(t, stamps.get(t.ticket_id, ())) for t in here), default=None),
            )
        )
    return out


def input_cases(station: str, active: Iterable[Ticket], stamps: Mapping[str, Sequence[Stamp]]) -> list[Ticket]:
    """The cases at the input station, oldest arrival first (held ones last)."""
    here = [t for t in active if t.station == station and t.status in (Status.IN_PROGRESS, Status.HELD)]
    return sorted(
        here, key=lambda t: (t.status is Status.HELD, arrived_at(t, stamps.get(t.ticket_id, ())), t.queue_key)
    )


def input_load(
    station: str, active: Sequence[Ticket], stamps: Mapping[str, Sequence[Stamp]], finished_last_hour: int
) -> InputLoad:
    """The input centre's panel."""
    cases = input_cases(station, active, stamps)
    live = [t for t in cases if t.status is not Status.HELD]
    return InputLoad(
        station=station,
        waiting=sum(1 for t in live if t.holder is None),
        in_hand=sum(1 for t in live if t.holder is not None),
        oldest_ms=min((arrived_at(t, stamps.get(t.ticket_id, ())) for t in live), default=None),
        finished_last_hour=finished_last_hour,
        operators=tuple(sorted({t.holder for t in live if t.holder is not None})),
    )


def counter_states(
    config: SiteConfig, rows: Mapping[int, tuple[bool, str | None, int]], active: Sequence[Ticket], day_start_ms: int
) -> list[CounterState]:
    """Every configured counter; an opening of an earlier business day counts as closed."""
    out = []
    for c in config.counters:
        row = rows.get(c.number)
        is_open = row is not None and row[0] and row[2] >= day_start_ms
        here = [
            t
            for t in active
            if t.counter == c.number and t.status in (Status.CALLED, Status.IN_PROGRESS) and t.station_index == 0
        ]
        current = max(here, key=lambda t: t.updated_ms, default=None)
        others = tuple(
            sorted(
                (
                    t
                    for t in active
                    if t.counter == c.number
                    and (t.status is Status.READY or (t.status is Status.HELD and t.station_index == 0))
                ),
                key=lambda t: -t.updated_ms,
            )
        )
        out.append(
            CounterState(
                counter=c,
                open=is_open,
                username=row[1] if row is not None and is_open else None,
                since_ms=row[2] if row is not None and is_open else None,
                current=current,
                others=others,
            )
        )
    return out


@dataclass(frozen=True)
class Suspicion:
    """What the office kept aside from one device, of one kind (office/db.py ``suspicious``)."""

    device: str
    kind: str  # conflict, role, lease, marks
    count: int
    last_ms: int


# What staff are told of each kind of message the office would not believe.
SUSPICION_TEMPLATES: Mapping[str, str] = {
    "conflict": "{device}: {count} event(s) reused an id with other content; kept aside for review",
    "role": "{device}: {count} message(s) its role may not send; refused",
    "lease": "{device}: {count} ticket(s) numbered outside its leases; kept and flagged",
    "marks": "{device}: {count} status report(s) claimed numbers beyond its leases; refused",
}


def alerts(devices: Sequence[DeviceHealth], suspicions: Sequence[Suspicion] = ()) -> list[Alert]:
    """What staff must see now: printers out of paper or faulty (and the numbers they hold),
    paper running low, kiosks out of service or owing refund slips, devices offline, a stale
    board, messages the office would not believe. Errors first."""
    out: list[Alert] = [
        Alert(
            f"{s.kind}:{s.device}",
            "error",
            SUSPICION_TEMPLATES.get(s.kind, "{device}: {count} message(s) kept aside"),
            {"device": s.device, "count": s.count},
        )
        for s in suspicions
    ]
    for d in devices:
        held = ", ".join(str(n) for n in d.held_tickets)
        if d.printer_fault is not None:
            if held:
                out.append(
                    Alert(
                        f"printer:{d.device}",
                        "error",
                        "{device}: printer {fault}; tickets held for reprint: {held}",
                        {"device": d.device, "fault": d.printer_fault, "held": held},
                    )
                )
            else:
                out.append(
                    Alert(
                        f"printer:{d.device}",
                        "error",
                        "{device}: printer {fault}",
                        {"device": d.device, "fault": d.printer_fault},
                    )
                )
        elif d.paper_near_end:
            out.append(
                Alert(f"paper:{d.device}", "warning", "{device}: printer paper is near its end", {"device": d.device})
            )
        if not d.online:
            out.append(
                Alert(
                    f"offline:{d.device}",
                    "error" if d.role in ("dispenser", "kiosk") else "warning",
                    "{device} is offline",
                    {"device": d.device},
                )
            )
        if d.role in ("kiosk", "dispenser") and d.in_service is False and d.online:
            out.append(
                Alert(
                    f"{d.role}:{d.device}",
                    "error",
                    "{device} is out of service ({fault})",
                    {"device": d.device, "fault": d.fault or "fault"},
                )
            )
        if d.refunds_owed:
            out.append(
                Alert(
                    f"refund:{d.device}",
                    "warning",
                    "{device} printed {count} refund slip(s): the resident is owed cash at a counter",
                    {"device": d.device, "count": d.refunds_owed},
                )
            )
        if d.role == "kiosk" and d.change_low and d.online:
            out.append(Alert(f"change:{d.device}", "warning", "{device} is low on change", {"device": d.device}))
        if d.role == "board" and d.online and d.stale:
            out.append(Alert(f"stale:{d.device}", "error", "{device} shows stale information", {"device": d.device}))
    return sorted(out, key=lambda a: (a.severity != "error", a.key))
