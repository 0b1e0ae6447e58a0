"""Carrying out staff commands: call, advance, done, absent, void (the clerks' side of the office).

:class:`StaffDesk` applies one parsed command (:mod:`office.commands`) to the store inside the
caller's transaction and returns the line the clerk reads. It publishes nothing: the office
loop publishes snapshots and voids after the commit, from what the desk marked changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from office import actions, commands
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
    category,
    claim,
    collect,
    counter,
    done,
    hold,
    pick_next,
    recall,
    release,
    resume,
    start,
    transfer_purpose,
    void,
)
from office.staff_store import StaffError, StaffStore
from office.ticket_log import Kind, LogRow
from sync.site import Category, SiteConfig

log = logging.getLogger(__name__)

MAX_TICKET_NUMBER = 10_000_000  # far above any series range; keeps SQLite's integers safe
MAX_SAMPLE_S = 2 * 3600  # a gap longer than this between two calls is a break, not service


@dataclass(frozen=True)
class Reply:
    """What the clerk reads after an action: an English template with ``str.format`` fields (the
    console shows it in the clerk's language), and the ticket it was about."""

    template: str
    params: Mapping[str, object] = field(default_factory=dict)
    ticket_id: str | None = None
    ok: bool = True  # False: refused, nothing changed (the template says why)

    def __str__(self) -> str:
        return self.template.format(**self.params)


# A ticket brought in by the concierge desk: the office issues it (server.py knows the numbers).
Issuer = Callable[[Category, tuple[str, ...], int, str], Ticket]


@dataclass
class StaffDesk:
    """The office's staff desk over its store; ``service`` learns from the gaps between calls."""

    config: SiteConfig
    db: OfficeDB
    on_activity: Callable[[str], None] = lambda line: None
    service: ServiceLog = field(default_factory=ServiceLog)
    # devices whose voided tickets changed: the loop publishes their voids after the commit
    voids_changed: set[str] = field(default_factory=set)
    issuer: Issuer | None = None
    # the staff user whose action is being carried out (the ticket log names them)
    acting: str | None = None

    def __post_init__(self) -> None:
        self.staff = StaffStore(self.db.conn)

    def execute(self, cmd: commands.Command, now_ms: int, today: str, terminal: str = "terminal") -> str:
        """Carry out a staff terminal's command in words (inside the caller's transaction); the reply.

        A terminal names the counter in its command; it acts as an administrator of that counter.
        """
        match cmd:
            case commands.CallNext(counter=number):
                return str(
                    self.perform(actions.CallNext(request_id=_inline()), _terminal(terminal, number), now_ms, today)
                )
            case commands.CallNumber(ref=ref, counter=number):
                action = actions.CallNumber(request_id=_inline(), ref=ref)
                return str(self.perform(action, _terminal(terminal, number), now_ms, today))
            case commands.Advance(ref=ref, station=station):
                ticket = self.resolve(ref, today)
                move = actions.TransferStation(request_id=_inline(), ticket_id=ticket.ticket_id, station=station)
                return str(self.perform(move, _terminal(terminal, None), now_ms, today))
            case commands.Done(ref=ref, counter=number):
                ticket = self.resolve(ref, today)
                finish = actions.Finish(request_id=_inline(), ticket_id=ticket.ticket_id, outcome="complete")
                return str(self.perform(finish, _terminal(terminal, number), now_ms, today))
            case commands.Absent(ref=ref):
                ticket = self.resolve(ref, today)
                mark = actions.Absent(request_id=_inline(), ticket_id=ticket.ticket_id)
                return str(self.perform(mark, _terminal(terminal, None), now_ms, today))
            case commands.Void(ref=ref):
                ticket = self.resolve(ref, today)
                cancel = actions.Void(request_id=_inline(), ticket_id=ticket.ticket_id)
                return str(self.perform(cancel, _terminal(terminal, None), now_ms, today))
        raise CommandError("unsupported command {command}", command=repr(cmd))

    def perform(self, action: actions.Action, actor: actions.Actor, now_ms: int, today: str) -> Reply:
        """Carry out one typed action for ``actor`` (inside the caller's transaction).

        CommandError (one sentence for the clerk) when it cannot be done; nothing changes then,
        the caller's transaction is rolled back.
        """
        if not actions.allowed(actor, action):
            raise CommandError("your role ({role}) cannot do that here", role=actor.role)
        self.acting = actor.username
        if isinstance(action, actions.TicketAction):
            return self._on_ticket(action, self.today_ticket(action.ticket_id, today), actor, now_ms)
        here = actor.counter
        match action:
            case actions.OpenCounter() if here is not None:
                counter(self.config, here)
                self.staff.set_counter(here, open_=True, username=actor.username, now_ms=now_ms)
                return Reply("counter {counter} is open", {"counter": here})
            case actions.CloseCounter() if here is not None:
                counter(self.config, here)
                self.staff.set_counter(here, open_=False, username=actor.username, now_ms=now_ms)
                return Reply("counter {counter} is closed", {"counter": here})
            case actions.CallNext() if here is not None:
                desk = counter(self.config, here)
                self._open_on_call(here, actor, now_ms)
                chosen = pick_next(self.db.tickets(today, [Status.WAITING]), desk)
                if chosen is None:
                    return Reply("nobody is waiting for counter {counter}", {"counter": here})
                return self._call(chosen, here, now_ms)
            case actions.CallNumber(ref=ref) if here is not None:
                counter(self.config, here)
                self._open_on_call(here, actor, now_ms)
                return self._call(self.resolve(ref, today), here, now_ms)
            case actions.AddUser(username=user, display_name=shown, role=role, password_hash=hashed):
                self._account(lambda: self.staff.add_user_hashed(user, shown, role, hashed, now_ms))
                return Reply("account {user} added", {"user": user})
            case actions.SetPassword(username=user, password_hash=hashed):
                self._account(lambda: self.staff.set_password_hash(user, hashed, now_ms))
                return Reply("password of {user} changed", {"user": user})
            case actions.SetDisabled(username=user, disabled=off):
                if off and user == actor.username:
                    raise CommandError("you cannot disable your own account")
                self._account(lambda: self.staff.set_disabled(user, off, now_ms))
                return Reply("account {user} disabled" if off else "account {user} enabled", {"user": user})
            case actions.IssueTicket(purpose=code, procedures=procedures):
                if self.issuer is None:
                    raise CommandError("this office issues no tickets at the desk")
                ticket = self.issuer(category(self.config, code), procedures, now_ms, today)
                self.on_activity(f"ticket {ticket.number} ({ticket.category}) issued at the desk by {actor.username}")
                return Reply("ticket {number} issued", {"number": ticket.number}, ticket.ticket_id)
        raise CommandError("unsupported action {action}", action=actions.name(action))

    def _on_ticket(self, action: actions.TicketAction, ticket: Ticket, actor: actions.Actor, now_ms: int) -> Reply:
        if isinstance(action, actions.Claim) and ticket.holder not in (None, actor.username):
            # Two screens raced for the case: the one who lost wants to know who has it, which
            # says more than "changed meanwhile" (the change was the other's claim).
            claim(ticket, actor.username, now_ms)
        if action.seen_ms is not None and action.seen_ms != ticket.updated_ms:
            raise CommandError(
                "{number} was changed on another screen meanwhile; look at it again", number=ticket.number
            )
        about = ticket.ticket_id
        match action:
            case actions.Recall():
                at = actor.counter if actor.counter is not None else ticket.counter
                if at is None:
                    raise CommandError("{number} has not been called to a counter", number=ticket.number)
                again = recall(ticket, at, now_ms)
                self.db.add_call(again)
                self._log(ticket, Kind.RECALLED, now_ms, counter=at)
                self.on_activity(f"now calling {again.number} → counter {again.counter} (again)")
                return Reply(
                    "{number} called again to counter {counter}", {"number": ticket.number, "counter": at}, about
                )
            case actions.Start():
                at = actor.counter if actor.counter is not None else ticket.counter
                moved = start(ticket, at if at is not None else 0, now_ms)
                self._update(moved, Kind.STARTED, now_ms)
                return Reply("{number} started", {"number": ticket.number}, about)
            case actions.Finish(outcome="handed_over"):
                self._update(collect(ticket, now_ms), Kind.DONE, now_ms)
                return Reply("{number} handed over", {"number": ticket.number}, about)
            case actions.Finish(outcome="complete"):
                at = actor.counter if actor.counter is not None else None
                if at is not None:
                    counter(self.config, at)
                moved, stamp, ready = done(ticket, now_ms, at)
                self._save(replace(moved, holder=None), stamp, ready, ticket.station)
                return Reply(
                    "{number} done; please come to counter {counter}",
                    {"number": moved.number, "counter": ready.counter},
                    about,
                )
            case actions.Finish():
                if not ticket.status.active or ticket.station_index < 0:
                    raise CommandError("{number} is not being worked on", number=ticket.number)
                following = ticket.route[min(ticket.station_index + 1, len(ticket.route) - 1)]
                return self._move(replace(ticket, holder=None), following, now_ms)
            case actions.Absent():
                self._update(absent(ticket, now_ms), Kind.ABSENT, now_ms)
                return Reply("{number} marked absent", {"number": ticket.number}, about)
            case actions.Hold():
                self._update(hold(ticket, now_ms), Kind.HELD, now_ms)
                return Reply("{number} is on hold", {"number": ticket.number}, about)
            case actions.Resume():
                self._update(resume(ticket, now_ms), Kind.RESUMED, now_ms)
                return Reply("{number} resumed", {"number": ticket.number}, about)
            case actions.TransferPurpose(purpose=code):
                moved = transfer_purpose(ticket, category(self.config, code), now_ms)
                self._update(moved, Kind.TRANSFERRED, now_ms, detail=ticket.category)
                return Reply("{number} now waits for {purpose}", {"number": ticket.number, "purpose": code}, about)
            case actions.TransferStation(station=word):
                return self._move(ticket, self.station_code(word), now_ms)
            case actions.TransferCounter(counter=number):
                counter(self.config, number)
                if ticket.status is Status.READY:
                    moved, stamp, ready = done(ticket, now_ms, number)
                    self._save(moved, stamp, ready, ticket.station)
                    return Reply("{number} → counter {counter}", {"number": ticket.number, "counter": number}, about)
                return self._call(ticket, number, now_ms)
            case actions.Void():
                moved = void(ticket, now_ms)
                self._update(moved, Kind.VOIDED, now_ms)
                self.voids_changed.add(moved.device)
                return Reply("{number} void", {"number": ticket.number}, about)
            case actions.Claim():
                # Taken back from the ward's centre: the log says from whom.
                taken_from = ticket.holder if ticket.holder not in (None, actor.username) else None
                self._update(claim(ticket, actor.username, now_ms), Kind.CLAIMED, now_ms, detail=taken_from)
                return Reply("you are working on {number}", {"number": ticket.number}, about)
            case actions.Release():
                anyone = actor.role in ("floor", "admin")
                self._update(release(ticket, actor.username, now_ms, anyone=anyone), Kind.RELEASED, now_ms)
                return Reply("{number} is back in its station's queue", {"number": ticket.number}, about)
        raise CommandError("unsupported action {action}", action=actions.name(action))

    @staticmethod
    def _account(change: Callable[[], object]) -> None:
        try:
            change()
        except StaffError as err:
            raise CommandError(str(err)) from err

    def today_ticket(self, ticket_id: str, today: str) -> Ticket:
        """Today's ticket by its id; CommandError for another day's or an unknown one."""
        ticket = self.db.ticket(ticket_id)
        if ticket is None:
            raise CommandError("no ticket {ticket} here", ticket=ticket_id)
        if ticket.day != today:
            raise CommandError("{number} is a ticket of {day}, not of today", number=ticket.number, day=ticket.day)
        return ticket

    def _move(self, ticket: Ticket, station: str, now_ms: int) -> Reply:
        moved, stamp, called = advance(ticket, station, now_ms)
        self._save(
            replace(moved, holder=None) if moved.station != ticket.station else moved, stamp, called, ticket.station
        )
        if called is not None:
            return Reply(
                "{number} → {station}; ready at counter {counter}",
                {"number": moved.number, "station": station, "counter": called.counter},
                ticket.ticket_id,
            )
        return Reply("{number} → {station}", {"number": moved.number, "station": station}, ticket.ticket_id)

    def _open_on_call(self, number: int, actor: actions.Actor, now_ms: int) -> None:
        # A counter that calls is open (a clerk who forgot the button still counts for the wait).
        state = self.staff.counters().get(number)
        if state is None or not state[0]:
            self.staff.set_counter(number, open_=True, username=actor.username, now_ms=now_ms)

    def station_code(self, word: str) -> str:
        """A station by its code or any of its names (``review``, ``審査``)."""
        for station in self.config.stations:
            if word == station.code or word in station.name.values():
                return station.code
        known = ", ".join(s.code for s in self.config.stations)
        raise CommandError("unknown station {station}; stations: {known}", station=word, known=known)

    def resolve(self, ref: str, today: str) -> Ticket:
        """Today's ticket ``1105`` or ``2-1105`` (series first, when a number is in several)."""
        series: str | None = None
        if "-" in ref:
            series, _, number_text = ref.rpartition("-")
        else:
            number_text = ref
        if not number_text.isdigit():
            raise CommandError("{ref} is not a ticket number; type it as on the ticket, e.g. 1105", ref=ref)
        number = int(number_text)
        if number > MAX_TICKET_NUMBER:
            raise CommandError("no ticket {ref} today", ref=ref)
        found = self.db.find_tickets(today, number, series)
        if not found:
            raise CommandError("no ticket {ref} today", ref=ref)
        if len(found) > 1:
            options = " or ".join(f"{t.series}-{t.number}" for t in found)
            raise CommandError("{ref} exists in several series: say {options}", ref=ref, options=options)
        return found[0]

    def rebuild_service_log(self, since_ms: int) -> None:
        """Learn the recent service times again from the calls in the store (at start)."""
        service = ServiceLog()
        last_at: dict[int, tuple[int, str]] = {}
        for number, at_ms, purpose in self.db.call_history(since_ms):
            if number in last_at:
                prev_ms, prev_cat = last_at[number]
                seconds = (at_ms - prev_ms) / 1000
                if 0 < seconds < MAX_SAMPLE_S:
                    service = service.add(prev_cat, seconds)
            last_at[number] = (at_ms, purpose)
        self.service = service

    def _call(self, ticket: Ticket, number: int, now_ms: int) -> Reply:
        previous = self.db.last_call_at_counter(number)
        moved, stamp, called = call(ticket, number, now_ms)
        self._save(moved, stamp, called, ticket.station)
        if previous is not None:
            # The gap since the counter's previous call is how long that resident took.
            seconds = (now_ms - previous[0].at_ms) / 1000
            if 0 < seconds < MAX_SAMPLE_S:
                self.service = self.service.add(previous[1], seconds)
        return Reply("{number} → counter {counter}", {"number": moved.number, "counter": number}, ticket.ticket_id)

    def _log(
        self, ticket: Ticket, kind: Kind, now_ms: int, counter: int | None = None, detail: str | None = None
    ) -> None:
        self.db.append_log(
            [
                LogRow(
                    now_ms,
                    ticket.ticket_id,
                    ticket.day,
                    kind,
                    ticket.category,
                    ticket.station,
                    ticket.counter if counter is None else counter,
                    self.acting,
                    ticket.device,
                    detail,
                )
            ]
        )

    def _update(self, ticket: Ticket, kind: Kind, now_ms: int, detail: str | None = None) -> None:
        self.db.update_ticket(ticket)
        self._log(ticket, kind, now_ms, detail=detail)

    def _save(self, ticket: Ticket, stamp: Stamp, called: Call | None, came_from: str | None = None) -> None:
        self.db.update_ticket(ticket)
        self.db.add_stamp(stamp)
        # What the stamp tells, in the log's words: the first station reached by a call, the
        # terminal (the resident is called to collect), a station in between; a resident called
        # once more to collect at the terminal is a recall.
        if called is not None and called.kind == "call":
            kind = Kind.CALLED
        elif ticket.station_index == len(ticket.route) - 1:
            kind = Kind.RECALLED if came_from == ticket.station else Kind.READY
        else:
            kind = Kind.MOVED
        self._log(ticket, kind, stamp.at_ms, counter=stamp.counter, detail=came_from if kind is Kind.MOVED else None)
        if called is not None:
            self.db.add_call(called)
            ready = " (ready)" if called.kind == "ready" else ""
            self.on_activity(f"now calling {called.number} → counter {called.counter}{ready}")


def _inline() -> str:
    # A terminal's command is made idempotent by its own request id (server.py); the typed action
    # inside it needs one of the form's shape only.
    return "terminal-command"


def _terminal(terminal: str, number: int | None) -> actions.Actor:
    return actions.Actor(username=f"terminal:{terminal}", role="admin", counter=number)
