"""The office's domain: purposes, number series, routes, tickets and their progress (pure).

Words from DOMAIN.md: a resident's *purpose* (category) has a number *series* and a *route*
of *stations* (受付 reception -> 入力 input -> 審査 review -> 交付 issuing -> 完了 done). A
*ticket* waits, is *called* to a counter, moves station by station, and at the terminal station
is *ready*: the resident is called to a counter to receive it. No I/O here: time and ids are
arguments, results are new frozen values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from sync import messages
from sync.site import Category, Counter, SiteConfig


class OfficeError(Exception):
    """Root of the office package's errors."""


class CommandError(OfficeError):
    """A staff action that cannot be carried out, in one sentence for the clerk.

    ``template`` is an English message id with ``str.format`` fields and ``params`` its values:
    the console shows it in the clerk's language (its catalog translates the template), the
    command line in English (``str(err)``).
    """

    def __init__(self, template: str, **params: object) -> None:
        self.template = template
        self.params = params
        super().__init__(template.format(**params) if params else template)


# A ward's central input centre holds a branch's case as ``ward:<operator>`` (office/ward_input.py).
CENTRE_PREFIX = "ward:"


class Status(StrEnum):
    """Where a ticket is in its life."""

    WAITING = "waiting"  # issued, not yet called
    CALLED = "called"  # called to a counter; at the first station
    IN_PROGRESS = "in_progress"  # being worked on at a station (at a counter, or in the back office)
    HELD = "held"  # put aside (the resident fetches a document); resumed where it was
    READY = "ready"  # at the terminal: the resident is called to receive it
    DONE = "done"  # handed over: the resident has gone
    ABSENT = "absent"  # called but did not come
    VOID = "void"  # cancelled by staff (e.g. a ticket that never printed)

    @property
    def active(self) -> bool:
        """Still in the queue or on the board."""
        return self in (Status.WAITING, Status.CALLED, Status.IN_PROGRESS, Status.HELD, Status.READY)


def category(config: SiteConfig, code: str) -> Category:
    """The purpose with ``code``; CommandError (shown to the clerk) when there is none."""
    found = config.find_category(code)
    if found is None:
        raise CommandError("unknown purpose {code}", code=code)
    return found


def counter(config: SiteConfig, number: int) -> Counter:
    """The counter with ``number``; CommandError (shown to the clerk) when there is none."""
    found = config.find_counter(number)
    if found is None:
        known = ", ".join(str(c.number) for c in config.counters)
        raise CommandError("there is no counter {number} (counters: {known})", number=number, known=known)
    return found


def ticket_id(day: str, series: str, number: int) -> str:
    """The site-unique ticket id (day, series and number are unique together by design)."""
    return f"{day}-{series}-{number}"


@dataclass(frozen=True)
class Stamp:
    """Arrival of a ticket at a station: a timestamp at every station (Setagaya's logs)."""

    ticket_id: str
    station: str
    at_ms: int
    counter: int | None = None


@dataclass(frozen=True)
class Ticket:
    """A queue ticket as the office knows it."""

    ticket_id: str
    day: str
    series: str
    number: int
    category: str
    device: str
    issued_ms: int
    hlc: str
    route: tuple[str, ...]
    procedures: tuple[str, ...] = ()
    status: Status = Status.WAITING
    station_index: int = -1  # -1 while waiting; index into route afterwards
    counter: int | None = None
    updated_ms: int = 0
    token: str | None = None  # the resident page's token its QR carries (None: an older dispenser)
    holder: str | None = None  # the staff user working the case now (an input centre claim)

    @property
    def station(self) -> str | None:
        """The station reached, or None while waiting."""
        return self.route[self.station_index] if self.station_index >= 0 else None

    @property
    def queue_key(self) -> tuple[str, str]:
        """Issue order: the HLC, not the number (numbers come from leased blocks)."""
        return (self.hlc, self.ticket_id)


@dataclass(frozen=True)
class Call:
    """A now-calling entry: ``number`` to ``counter``."""

    ticket_id: str
    number: int
    counter: int
    at_ms: int
    kind: str = "call"  # "call" (to reception) or "ready" (to receive)


def pick_next(waiting: Iterable[Ticket], counter: Counter) -> Ticket | None:
    """The longest-waiting ticket this counter serves."""
    candidates = [t for t in waiting if t.status is Status.WAITING and counter.serves(t.category)]
    return min(candidates, key=lambda t: t.queue_key, default=None)


def call(ticket: Ticket, counter: int, now_ms: int) -> tuple[Ticket, Stamp, Call]:
    """Call a waiting (or absent, or already called) ticket to a counter: the first station.

    A ticket that was ready when its resident did not come is called again to collect: it
    stays at the terminal.
    """
    if ticket.status is Status.ABSENT and ticket.station_index == len(ticket.route) - 1:
        moved = replace(ticket, status=Status.READY, counter=counter, updated_ms=now_ms)
        return (
            moved,
            Stamp(ticket.ticket_id, ticket.route[-1], now_ms, counter),
            Call(ticket.ticket_id, ticket.number, counter, now_ms, kind="ready"),
        )
    if ticket.status not in (Status.WAITING, Status.ABSENT, Status.CALLED):
        raise CommandError("{number} is already {status}", number=ticket.number, status=_said(ticket.status))
    moved = replace(ticket, status=Status.CALLED, station_index=0, counter=counter, updated_ms=now_ms)
    return (
        moved,
        Stamp(ticket.ticket_id, ticket.route[0], now_ms, counter),
        Call(ticket.ticket_id, ticket.number, counter, now_ms),
    )


def advance(ticket: Ticket, station: str, now_ms: int) -> tuple[Ticket, Stamp, Call | None]:
    """Move a ticket to a station of its route (forward, or back when the office sends it back).

    Reaching the terminal station makes it ready, which calls the resident to the counter.
    """
    if not ticket.status.active:
        raise CommandError("{number} is {status}; it cannot move", number=ticket.number, status=_said(ticket.status))
    if station not in ticket.route:
        stops = " → ".join(ticket.route)
        raise CommandError(
            "{number}'s route has no station {station} (route: {stops})",
            number=ticket.number,
            station=station,
            stops=stops,
        )
    index = ticket.route.index(station)
    if index == ticket.station_index:
        raise CommandError("{number} is already at {station}", number=ticket.number, station=station)
    terminal = index == len(ticket.route) - 1
    if terminal:
        return done(ticket, now_ms)
    status = Status.CALLED if index == 0 else Status.IN_PROGRESS
    moved = replace(ticket, status=status, station_index=index, updated_ms=now_ms)
    return moved, Stamp(ticket.ticket_id, station, now_ms, ticket.counter), None


def done(ticket: Ticket, now_ms: int, counter: int | None = None) -> tuple[Ticket, Stamp, Call]:
    """The procedure is complete: the train reaches the terminal and the resident is called."""
    if not ticket.status.active:
        raise CommandError(
            "{number} is {status}; it cannot be completed", number=ticket.number, status=_said(ticket.status)
        )
    if ticket.status is Status.READY and counter is None:
        raise CommandError("{number} is already done", number=ticket.number)
    at = counter if counter is not None else ticket.counter
    if at is None:
        raise CommandError(
            "{number} has not been at a counter: say which counter (done {number} at counter N)", number=ticket.number
        )
    last = len(ticket.route) - 1
    moved = replace(ticket, status=Status.READY, station_index=last, counter=at, updated_ms=now_ms)
    return (
        moved,
        Stamp(ticket.ticket_id, ticket.route[last], now_ms, at),
        Call(ticket.ticket_id, ticket.number, at, now_ms, kind="ready"),
    )


def absent(ticket: Ticket, now_ms: int) -> Ticket:
    """The resident did not come when called; a later call brings the ticket back."""
    if ticket.status not in (Status.WAITING, Status.CALLED, Status.READY):
        raise CommandError(
            "{number} is {status}; only a waiting, called or ready ticket can be marked absent",
            number=ticket.number,
            status=_said(ticket.status),
        )
    return replace(ticket, status=Status.ABSENT, updated_ms=now_ms)


def void(ticket: Ticket, now_ms: int) -> Ticket:
    """Staff cancel a ticket (for example one whose print failed and that nobody holds)."""
    if ticket.status is Status.VOID:
        raise CommandError("{number} is already void", number=ticket.number)
    return replace(ticket, status=Status.VOID, updated_ms=now_ms)


def _said(status: Status) -> str:
    return status.value.replace("_", " ")


def recall(ticket: Ticket, counter: int, now_ms: int) -> Call:
    """Call a called (or ready) ticket again: the board and the panel announce it once more."""
    if ticket.status not in (Status.CALLED, Status.READY):
        raise CommandError(
            "{number} is {status}; only a called ticket can be called again",
            number=ticket.number,
            status=_said(ticket.status),
        )
    kind = "ready" if ticket.status is Status.READY else "call"
    return Call(ticket.ticket_id, ticket.number, counter, now_ms, kind=kind)


def start(ticket: Ticket, counter: int, now_ms: int) -> Ticket:
    """The called resident is at the counter: the work on the case begins there."""
    if ticket.status is not Status.CALLED:
        raise CommandError(
            "{number} is {status}; only a called ticket can be started",
            number=ticket.number,
            status=_said(ticket.status),
        )
    return replace(ticket, status=Status.IN_PROGRESS, counter=counter, updated_ms=now_ms)


def collect(ticket: Ticket, now_ms: int) -> Ticket:
    """The resident received what was ready: the ticket's journey ends."""
    if ticket.status is not Status.READY:
        raise CommandError(
            "{number} is {status}; only a ready ticket can be handed over",
            number=ticket.number,
            status=_said(ticket.status),
        )
    return replace(ticket, status=Status.DONE, holder=None, updated_ms=now_ms)


def hold(ticket: Ticket, now_ms: int) -> Ticket:
    """Put a case aside where it is (the resident fetches a document, a question goes out)."""
    if ticket.status not in (Status.WAITING, Status.CALLED, Status.IN_PROGRESS):
        raise CommandError(
            "{number} is {status}; it cannot be put on hold", number=ticket.number, status=_said(ticket.status)
        )
    return replace(ticket, status=Status.HELD, updated_ms=now_ms)


def resume(ticket: Ticket, now_ms: int) -> Ticket:
    """Take a held case up again where it was: back in the queue, or worked on at its station."""
    if ticket.status is not Status.HELD:
        raise CommandError("{number} is not on hold", number=ticket.number)
    status = Status.WAITING if ticket.station_index < 0 else Status.IN_PROGRESS
    return replace(ticket, status=status, updated_ms=now_ms)


def transfer_purpose(ticket: Ticket, to: Category, now_ms: int) -> Ticket:
    """The resident came for something else: the ticket joins the other purpose's queue and route,
    keeping its place by issue time."""
    if ticket.status not in (Status.WAITING, Status.CALLED, Status.IN_PROGRESS, Status.HELD, Status.ABSENT):
        raise CommandError(
            "{number} is {status}; it cannot be transferred", number=ticket.number, status=_said(ticket.status)
        )
    if to.code == ticket.category:
        raise CommandError("{number} is already for {purpose}", number=ticket.number, purpose=to.code)
    return replace(
        ticket,
        category=to.code,
        route=to.route,
        status=Status.WAITING,
        station_index=-1,
        counter=None,
        holder=None,
        updated_ms=now_ms,
    )


def claim(ticket: Ticket, user: str, now_ms: int) -> Ticket:
    """A staff member takes a case to work on it (no two hold the same case).

    A branch user may take a case back from the ward's centre (a holder ``ward:<operator>``):
    the case is the branch's, and the centre may be busy or cut off (office/ward_input.py).
    """
    if ticket.status not in (Status.CALLED, Status.IN_PROGRESS):
        raise CommandError(
            "{number} is {status}; only a case being worked on can be taken",
            number=ticket.number,
            status=_said(ticket.status),
        )
    taking_back = ticket.holder is not None and ticket.holder.startswith(CENTRE_PREFIX)
    if ticket.holder is not None and ticket.holder != user and not (taking_back and not user.startswith(CENTRE_PREFIX)):
        raise CommandError("{number} is already being worked on by {user}", number=ticket.number, user=ticket.holder)
    return replace(ticket, holder=user, updated_ms=now_ms)


def release(ticket: Ticket, user: str, now_ms: int, *, anyone: bool = False) -> Ticket:
    """Give a case back to the station's pool (``anyone``: a floor manager frees another's)."""
    if ticket.holder is None:
        raise CommandError("{number} is not being worked on by anyone", number=ticket.number)
    if ticket.holder != user and not anyone:
        raise CommandError(
            "{number} is being worked on by {user}, not by you", number=ticket.number, user=ticket.holder
        )
    return replace(ticket, holder=None, updated_ms=now_ms)


@dataclass(frozen=True)
class QueueFigures:
    """What a dispenser shows for one purpose: people waiting and the expected wait."""

    category: str
    waiting: int
    est_wait_min: int | None
    min_per_person: int | None
    last_called: int | None


@dataclass(frozen=True)
class BoardRow:
    """What the board needs of a ticket (a light row, not a whole Ticket)."""

    number: int
    station_index: int
    status: Status
    counter: int | None
    route: tuple[str, ...]


# A board shows a few hundred trains at most; the caps keep the snapshot far below the
# protocol's 64 KiB whatever the day brings (a lobby with thousands waiting included).
MAX_TRAINS = 1000
MAX_WAITING_ROWS = 400


def board_lines(
    config: SiteConfig,
    trains: Sequence[BoardRow],
    waiting: Sequence[BoardRow],
    waiting_per_route: Mapping[tuple[str, ...], int],
) -> tuple[messages.BoardLine, ...]:
    """Train lines, one per distinct route, as the board snapshot carries them.

    ``trains`` are the tickets on the line (called, in progress, ready), ``waiting`` the
    oldest waiting ones, both in issue order; ``waiting_per_route`` counts every waiting
    ticket, so a line says how many more wait than it lists (``more_waiting``).
    """
    lines: dict[tuple[str, ...], list[messages.TrainRow]] = {}
    for cat in config.categories:
        lines.setdefault(cat.route, [])
    for row in [*trains[:MAX_TRAINS], *waiting[:MAX_WAITING_ROWS]]:
        lines.setdefault(row.route, []).append((row.number, row.station_index, row.status.value, row.counter))
    out = []
    for route, rows in lines.items():
        listed_waiting = sum(1 for r in rows if r[2] == Status.WAITING.value)
        out.append(
            messages.BoardLine(
                route="-".join(route),
                stations=route,
                tickets=tuple(rows),
                more_waiting=max(0, waiting_per_route.get(route, 0) - listed_waiting),
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class ServiceLog:
    """Recent service times per category: the gap between a counter's successive calls."""

    samples: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    keep: int = 20

    def add(self, category: str, seconds: float) -> ServiceLog:
        """A new sample; only the most recent ``keep`` are kept."""
        if seconds <= 0:
            return self
        old = self.samples.get(category, ())
        merged = dict(self.samples)
        merged[category] = (old + (seconds,))[-self.keep :]
        return replace(self, samples=merged)
