"""The concierge desk's tickets (Kasuya's 総合案内): staff issue a ticket on a resident's behalf.

The desk is a dispenser the office itself runs: its numbers come from a lease like any
dispenser's (so they never clash with a lobby dispenser's, offline ones included), its tickets
join the queue by their time of issue like theirs, and each carries its own page token.
Everything happens inside the office loop's transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from office import leasing
from office.db import OfficeDB
from office.domain import CommandError, Ticket, ticket_id
from sync import hlc, tokens
from sync.leases import SeriesRange
from sync.site import Category, SiteConfig

DESK_DEVICE = "desk"  # the leases' and tickets' device name of the desk


def issue(
    config: SiteConfig,
    db: OfficeDB,
    purpose: Category,
    procedures: tuple[str, ...],
    now_ms: int,
    today: str,
    *,
    random_bytes: Callable[[int], bytes] = secrets.token_bytes,
) -> Ticket:
    """Issue the desk's next ticket of ``purpose``'s series today (leasing a block when needed)."""
    unknown = [p for p in procedures if p not in purpose.procedures]
    if unknown:
        raise CommandError("{purpose} has no procedure {procedure}", purpose=purpose.code, procedure=unknown[0])
    number = _next_number(config, db, purpose.series, today, now_ms)
    ticket = Ticket(
        ticket_id=ticket_id(today, purpose.series, number),
        day=today,
        series=purpose.series,
        number=number,
        category=purpose.code,
        device=DESK_DEVICE,
        issued_ms=now_ms,
        # The queue orders by HLC: the desk's is its wall clock, like a dispenser's with a
        # confirmed clock, so a desk ticket takes its place by the time it was issued.
        hlc=hlc.HLC(now_ms, 0).encode(),
        route=purpose.route,
        procedures=procedures,
        updated_ms=now_ms,
        token=tokens.new_token(random_bytes),
    )
    clash = db.insert_ticket(ticket, f"{DESK_DEVICE}:{ticket.ticket_id}")
    if clash is not None:  # a lease is the desk's alone: only a damaged store gets here
        raise CommandError(
            "number {number} is taken already ({clash}); tell the administrator", number=number, clash=clash
        )
    return ticket


def _next_number(config: SiteConfig, db: OfficeDB, series: str, day: str, now_ms: int) -> int:
    used = {t.number for t in db.tickets(day) if t.device == DESK_DEVICE and t.series == series}
    for _, block in db.leases(series=series, day=day, device=DESK_DEVICE):
        for n in range(block.first, block.last + 1):
            if n not in used:
                return n
    first, last = config.series_ranges()[series]
    taken = [b for _, b in db.leases(series=series, day=day)]
    fresh = leasing.grant(SeriesRange(series, first, last), day, taken, config.lease_block_min)
    if fresh is None:
        raise CommandError("series {series} has no numbers left today", series=series)
    db.add_lease(DESK_DEVICE, fresh, now_ms)
    return fresh.first
