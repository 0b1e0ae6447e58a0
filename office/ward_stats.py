"""The ward's figures at the centre: the branches' ticket logs in PostgreSQL (office/ward_consumer.py)
through the same journeys and figures as a branch's own (office/stats), so the two cannot differ.

A branch's ticket ids carry no site yet (``2026-12-07-2-2001`` is in every branch): read across
sites, each id is prefixed with its site, so two branches' tickets never make one journey.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from zoneinfo import ZoneInfo

import psycopg

from office.stats import figures
from office.stats.figures import Figures
from office.stats.journey import journeys
from office.ticket_log import Kind, LogRow
from sync import protocol


def central_rows(dsn: str, first: date, last: date, sites: Sequence[str] = ()) -> Iterator[LogRow]:
    """The ticket log rows of ``sites`` (every site: none given) for the business days, in each
    branch's order; with more than one site possible, ticket ids are ``<site>:<id>``."""
    prefix = len(sites) != 1
    with psycopg.connect(dsn) as db:
        cur = db.execute(
            "SELECT site, at_ms, ticket_id, day, kind, category, station, counter, username, device, detail"
            " FROM ward_ticket_log WHERE day BETWEEN %s AND %s AND (%s OR site = ANY(%s)) ORDER BY site, id",
            (first, last, not sites, list(sites)),
        )
        for site, at, ticket, day, kind, category, station, counter, username, device, detail in cur:
            yield LogRow(
                int(at),
                protocol.ward_id(str(site), str(ticket)) if prefix else str(ticket),
                day.isoformat(),
                Kind(kind),
                str(category),
                station,
                counter,
                username,
                device,
                detail,
            )


def central_figures(
    dsn: str,
    first: date,
    last: date,
    *,
    tz: ZoneInfo,
    target_wait_s: int,
    stations: Sequence[str],
    sites: Sequence[str] = (),
) -> Figures:
    """The figures of the ward (or of some of its branches) over the days."""
    return figures.figures(
        figures.columns(journeys(central_rows(dsn, first, last, sites))),
        tz=tz,
        target_wait_s=target_wait_s,
        stations=stations,
    )
