"""Everything the staff screens show at one moment, read from the store in one go.

The console builds one :class:`StaffView` per change the office loop announces, over its own
read-only connection (:meth:`office.db.OfficeDB.read_only`), and renders every screen from it:
the counter screen, the input centre, the floor view. The figures come from :mod:`office.floor`
(pure); this module only reads.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from common.validation import Invalid, convert
from office import floor
from office.db import OfficeDB
from office.domain import Call, Stamp, Status, Ticket
from office.staff_store import StaffStore
from sync import messages, protocol
from sync.errors import ProtocolError
from sync.site import SiteConfig

log = logging.getLogger(__name__)

RECENT_DONE_MS = 2 * 3600 * 1000  # finished tickets a screen still finds (a question at the counter)


@dataclass(frozen=True)
class StaffView:
    """The office's state as the staff screens show it."""

    version: int
    now_ms: int
    today: str
    tickets: Mapping[str, Ticket]  # today's active tickets and the recently finished, by id
    stamps: Mapping[str, Sequence[Stamp]]
    waiting: Mapping[str, Sequence[Ticket]]  # per purpose, in queue order
    purposes: Sequence[floor.PurposeLoad]
    stations: Sequence[floor.StationLoad]
    input_cases: Sequence[Ticket]
    input: floor.InputLoad
    counters: Sequence[floor.CounterState]
    devices: Sequence[floor.DeviceHealth]
    alerts: Sequence[floor.Alert]
    calls: Sequence[Call]
    # the cases each staff user holds: found once per view, not once per screen that shows them
    held: Mapping[str, Sequence[Ticket]] = field(default_factory=dict)

    def held_by(self, user: str) -> Sequence[Ticket]:
        """The cases ``user`` holds, in the order of :attr:`tickets`."""
        return self.held.get(user, ())

    def counter(self, number: int | None) -> floor.CounterState | None:
        """A counter's state by number."""
        return next((c for c in self.counters if c.number == number), None)

    def by_number(self, number: int) -> list[Ticket]:
        """Today's tickets with this number (one per series)."""
        return [t for t in self.tickets.values() if t.number == number]


def build(
    config: SiteConfig,
    db: OfficeDB,
    *,
    version: int,
    now_ms: int,
    today: str,
    day_start_ms: int,
    samples: Mapping[str, Sequence[float]],
    input_station: str,
    day_tickets: Mapping[str, Ticket] | None = None,
) -> StaffView:
    """Read the store (one read transaction: every figure from the same moment) and compute.

    ``day_tickets``: today's tickets as the office's writer keeps them, instead of reading them
    again (the view's costliest read); the rest may then be a commit newer, which the next
    view, built for that commit, settles."""
    with _snapshot(db):
        source = (
            db.tickets(today)
            if day_tickets is None
            else sorted(day_tickets.values(), key=lambda t: (t.hlc, t.ticket_id))
        )
        tickets = [
            t
            for t in source
            if t.status.active or (t.status is not Status.VOID and t.updated_ms >= now_ms - RECENT_DONE_MS)
        ]
        stamps = db.stamps_of(t.ticket_id for t in tickets)
        counter_rows = StaffStore(db.conn).counters()
        finished = db.left_station_since(input_station, now_ms - floor.HOUR_MS)
        device_rows = db.devices()
        held = db.held_prints(day_start_ms)
        calls = db.recent_calls(20)
        suspicions = [floor.Suspicion(*row) for row in db.suspicious_counts()]
    by_id = {t.ticket_id: t for t in tickets}
    active = [t for t in tickets if t.status.active]
    waiting_all = sorted((t for t in active if t.status is Status.WAITING), key=lambda t: t.queue_key)
    waiting: dict[str, list[Ticket]] = {c.code: [] for c in config.categories}
    for t in waiting_all:
        waiting.setdefault(t.category, []).append(t)
    counters = floor.counter_states(config, counter_rows, active, day_start_ms)
    open_now = {c.number: c.open for c in counters}
    devices = [_device(row, held, by_id) for row in device_rows]
    return StaffView(
        version=version,
        now_ms=now_ms,
        today=today,
        tickets=by_id,
        stamps=stamps,
        waiting=waiting,
        purposes=floor.purpose_loads(config, waiting_all, samples, open_now),
        stations=floor.station_loads(config, active, stamps),
        input_cases=floor.input_cases(input_station, active, stamps),
        input=floor.input_load(input_station, active, stamps, finished),
        counters=counters,
        devices=devices,
        alerts=floor.alerts(devices, suspicions),
        calls=calls,
        held=_held(by_id.values()),
    )


def _held(tickets: Iterable[Ticket]) -> dict[str, list[Ticket]]:
    held: dict[str, list[Ticket]] = {}
    for t in tickets:
        if t.holder is not None:
            held.setdefault(t.holder, []).append(t)
    return held


class _snapshot:
    """A read transaction: the reads that follow see one committed state of the store."""

    def __init__(self, db: OfficeDB) -> None:
        self.conn = db.conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN")

    def __exit__(self, *exc: object) -> None:
        self.conn.execute("COMMIT")


def _stored_status(row: Any) -> messages.DeviceStatus | None:
    """The device's last status as the office stored it, back as its model (None: never sent,
    or kept by an older office in a shape this one no longer reads - the floor then shows
    what the row itself says)."""
    if not row["status"]:
        return None
    try:
        status = protocol.from_stored("device_status", json.loads(row["status"]))
    except (ValueError, ProtocolError):
        log.warning("device %s: its stored status does not read as a device status", row["device"])
        return None
    return status if isinstance(status, messages.DeviceStatus) else None


def _stored_printer(row: Any) -> messages.PrinterStatusChanged:
    """The device's printer as last reported (fault, paper near end); fine when never reported."""
    if row["printer"]:
        try:
            return convert(json.loads(row["printer"]), messages.PrinterStatusChanged)
        except (ValueError, Invalid):
            log.warning("device %s: its stored printer state does not read as one", row["device"])
    return messages.PrinterStatusChanged()


def _device(row: Any, held: Mapping[str, Sequence[str]], tickets: Mapping[str, Ticket]) -> floor.DeviceHealth:
    status = _stored_status(row)
    printer = _stored_printer(row)
    health = (status.health if status is not None else None) or messages.Health()
    numbers = tuple(
        sorted(tickets[t].number if t in tickets else int(t.rsplit("-", 1)[-1]) for t in held.get(row["device"], ()))
    )
    return floor.DeviceHealth(
        device=str(row["device"]),
        role=str(row["role"] or (status.role if status is not None else "")),
        online=row["state"] == "online",
        last_seen_ms=row["last_seen_ms"],
        outbox_pending=status.outbox_pending if status is not None else 0,
        printer_fault=printer.fault,
        paper_near_end=printer.paper_near_end,
        held_tickets=numbers,
        in_service=health.in_service,
        fault=health.fault,
        cash=dict(health.cash),
        change_low=health.change_low,
        refunds_owed=health.refunds_owed,
        stale=health.stale,
        version=status.version if status is not None else "",
    )
