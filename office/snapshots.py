"""The documents the office publishes, built from its store as typed messages.

Each builder reads what it needs from :class:`~office.db.OfficeDB` (inside the caller's
transaction when it must be consistent) and returns a :mod:`sync.messages` model; the office
loop only publishes them. Snapshots are counted in SQL and the board is capped (every train, the
oldest waiting ones, a count of the rest), so their cost and size stay flat through a long day.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from office import estimate, floor
from office.db import OfficeDB
from office.domain import MAX_WAITING_ROWS, ServiceLog, Status, board_lines
from sync import messages
from sync.site import SiteConfig

RECENT_CALLS = 10  # rows of the board's now-calling list the office sends
CALL_HISTORY = 50  # calls looked at to find each counter's current one


def queue_rows(
    config: SiteConfig, db: OfficeDB, service: ServiceLog, today: str, counters_open: Mapping[int, bool]
) -> tuple[messages.QueueRow, ...]:
    """People waiting and the expected wait per purpose, in the site's order (the open counters
    that serve a purpose share its queue: :func:`office.floor.open_counter_count`)."""
    waiting = db.waiting_by_category(today)
    issued = db.issued_by_category(today)
    last_called = db.last_called_by_category()
    rows = []
    for cat in config.categories:
        samples = service.samples.get(cat.code, ())
        counters = floor.open_counter_count(config, counters_open, cat.code)
        default_s = float(config.default_service_seconds)
        rows.append(
            messages.QueueRow(
                code=cat.code,
                waiting=waiting.get(cat.code, 0),
                est_wait_min=estimate.estimated_wait_minutes(waiting.get(cat.code, 0), samples, counters, default_s),
                min_per_person=estimate.estimated_wait_minutes(1, samples, counters, default_s),
                issued=issued.get(cat.code, 0),
                last_called=last_called.get(cat.code),
            )
        )
    return tuple(rows)


def queue_snapshot(
    config: SiteConfig,
    db: OfficeDB,
    service: ServiceLog,
    *,
    version: int,
    now_ms: int,
    today: str,
    counters_open: Mapping[int, bool],
) -> messages.QueueSnapshot:
    """``office/snapshot/queue``: the rows, and per dispenser the acked seq they include."""
    return messages.QueueSnapshot(
        version=version,
        sent_ms=now_ms,
        business_day=today,
        categories=queue_rows(config, db, service, today, counters_open),
        acked={str(row["device"]): int(row["acked_seq"]) for row in db.devices("dispenser")},
    )


def board_snapshot(
    config: SiteConfig, db: OfficeDB, *, version: int, now_ms: int, today: str
) -> messages.BoardSnapshot:
    """``office/snapshot/board``: the lines, the newest calls and now calling per counter."""
    linger = config.ready_linger_minutes * 60_000
    trains, waiting, per_route = db.board_rows(today, now_ms - linger, MAX_WAITING_ROWS)
    recent = db.recent_calls(CALL_HISTORY)
    now_calling: dict[int, messages.CounterCall] = {}
    for c in recent:  # newest first: the first seen per counter is its current call
        now_calling.setdefault(
            c.counter,
            messages.CounterCall(counter=c.counter, number=c.number, kind=_call_kind(c.kind), at_ms=c.at_ms),
        )
    return messages.BoardSnapshot(
        version=version,
        sent_ms=now_ms,
        business_day=today,
        lines=board_lines(config, trains, waiting, per_route),
        calls=tuple(messages.CallRow(number=c.number, counter=c.counter, at_ms=c.at_ms) for c in recent[:RECENT_CALLS]),
        counters=tuple(now_calling[k] for k in sorted(now_calling)),
    )


def _call_kind(kind: str) -> Literal["call", "ready"]:
    return "ready" if kind == "ready" else "call"


def lease(db: OfficeDB, device: str, days: Sequence[str], *, version: int, now_ms: int) -> messages.Lease:
    """``office/lease/<device>``: the dispenser's blocks of the lease days."""
    return messages.Lease(
        version=version,
        sent_ms=now_ms,
        blocks=tuple(
            messages.LeaseBlock(series=b.series, day=b.day, first=b.first, last=b.last)
            for _, b in db.leases(device=device)
            if b.day in days
        ),
        caps=tuple(
            messages.CapShare(day=day, code=code, upto=upto)
            for day, code, upto in db.device_cap_shares(device)
            if day in days
        ),
    )


def voids(db: OfficeDB, device: str, today: str, *, version: int, now_ms: int) -> messages.Voids:
    """``office/voids/<device>``: the day's tickets of the dispenser that staff voided."""
    return messages.Voids(
        version=version,
        sent_ms=now_ms,
        day=today,
        tickets=tuple(t.ticket_id for t in db.tickets(today, [Status.VOID]) if t.device == device),
    )


def acks(db: OfficeDB) -> Mapping[str, int]:
    """Every known device's acked sequence (published again on each connect)."""
    return {str(row["device"]): int(row["acked_seq"]) for row in db.devices()}
