"""A ward end to end: two branches (Mosquitto, office, dispenser each) bridged to a central
Mosquitto through WAN links, the central consumer into PostgreSQL. One branch's WAN is cut while
both issue tickets; its lobby goes on; back up, the centre holds every event of both exactly
once, in order per device, and its count of tickets equals each branch's own."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from ward_rig import branch_events, branch_log, issue, leased, settle, start_ward, work

from office.stats import figures
from office.stats.journey import journeys
from office.ward_stats import central_figures


def central_events(dsn: str, site: str) -> list[tuple[str, int, str]]:
    with psycopg.connect(dsn) as db:
        rows = db.execute(
            "SELECT device, seq, type FROM ward_events WHERE site = %s ORDER BY received_ms, seq", (site,)
        ).fetchall()
    return [(str(d), int(q), str(t)) for d, q, t in rows]


def central_log(dsn: str, site: str) -> list[tuple[int, str, str]]:
    with psycopg.connect(dsn) as db:
        rows = db.execute(
            "SELECT id, ticket_id, kind FROM ward_ticket_log WHERE site = %s ORDER BY id", (site,)
        ).fetchall()
    return [(int(i), str(t), str(k)) for i, t, k in rows]


def test_a_cut_branch_goes_on_and_the_centre_catches_up_exactly_once(postgres: Any, tmp_path: Path) -> None:
    ward = start_ward(tmp_path, postgres.dsn)
    try:
        a, b = ward.branches["demo-town"], ward.branches["branch-b"]
        settle(lambda: leased(a) and leased(b), 20, "the dispensers got no leases")
        issue(a, 5)
        issue(b, 5)
        a.link.cut()  # branch A's WAN goes down for the rest of its day
        issue(a, 25)
        issue(b, 15)
        work(a, 8)
        work(b, 4)
        # A's lobby goes on: its office has every ticket at once
        settle(lambda: a.office.db.count_tickets() == 30, 15, "branch A's office lost its own tickets")
        settle(
            lambda: set(central_events(postgres.dsn, "branch-b")) == branch_events(b), 20, "B did not reach the centre"
        )
        assert len({e for e in central_events(postgres.dsn, "demo-town") if e[2] == "ticket.issued"}) < 30
        a.link.restore()
        settle(lambda: set(central_events(postgres.dsn, "demo-town")) == branch_events(a), 30, "A did not catch up")
        for branch in (a, b):
            got = central_events(postgres.dsn, branch.site)
            assert len(got) == len(set(got)) == len(branch_events(branch))  # once each
            per_device: dict[str, list[int]] = {}
            for device, seq, _ in got:
                per_device.setdefault(device, []).append(seq)
            assert all(seqs == sorted(seqs) for seqs in per_device.values())  # in order per device
            issued = sum(1 for e in got if e[2] == "ticket.issued")
            assert issued == branch.office.db.count_tickets()  # the centre's figure is the branch's
        # the ticket logs went up too, each row once, and the centre's figures are the branches' own
        for branch in (a, b):
            settle(lambda br=branch: central_log(postgres.dsn, br.site) == branch_log(br), 30, f"{branch.site}'s log")
            day = date.fromisoformat(branch.office.business_day())
            own = figures.figures(
                figures.columns(journeys(branch.office.db.log_rows(day.isoformat(), day.isoformat()))),
                tz=ZoneInfo("Asia/Tokyo"), target_wait_s=1800, stations=["reception", "input"],
            )  # fmt: skip
            there = central_figures(
                postgres.dsn, day, day, tz=ZoneInfo("Asia/Tokyo"), target_wait_s=1800,
                stations=["reception", "input"], sites=[branch.site],
            )  # fmt: skip
            assert figures.tables(there) == figures.tables(own)
            assert own.summary.arrivals == branch.office.db.count_tickets() and own.summary.called > 0
        ward_wide = central_figures(
            postgres.dsn, date.fromisoformat(a.office.business_day()), date.fromisoformat(a.office.business_day()),
            tz=ZoneInfo("Asia/Tokyo"), target_wait_s=1800, stations=["reception"],
        )  # fmt: skip
        assert ward_wide.summary.arrivals == a.office.db.count_tickets() + b.office.db.count_tickets()
        assert ward.consumer is not None
        lag = {x.site: x for x in ward.consumer.lag()}
        assert set(lag) == {"demo-town", "branch-b"} and lag["demo-town"].events == len(branch_events(a))
    finally:
        ward.close()


def test_a_branch_office_restarted_with_its_wan_down_goes_on_and_the_centre_catches_up(
    postgres: Any, tmp_path: Path
) -> None:
    import msgspec

    from harness import SITE, start_office
    from sync.site import Ward as WardSettings

    ward = start_ward(tmp_path, postgres.dsn, sites=("demo-town",))
    try:
        a = ward.branches["demo-town"]
        settle(lambda: leased(a), 20, "the dispenser got no lease")
        issue(a, 5)
        work(a, 3)
        settle(lambda: central_log(postgres.dsn, a.site) == branch_log(a), 20, "the first rows did not go up")
        a.link.cut()
        issue(a, 10)
        work(a, 4)
        a.office.stop()  # restarted while its WAN is down
        config = msgspec.structs.replace(SITE, site=a.site, ward=WardSettings(send_log=True))
        a.office = start_office(a.broker.url, tmp_path / a.site / "office.sqlite3", config)
        issue(a, 10)
        settle(lambda: a.office.db.count_tickets() == 25, 20, "the lobby did not go on after the office's restart")
        work(a, 4)
        assert len(central_log(postgres.dsn, a.site)) < len(branch_log(a))
        a.link.restore()
        settle(lambda: central_log(postgres.dsn, a.site) == branch_log(a), 40, "the centre did not catch up")
        settle(lambda: set(central_events(postgres.dsn, a.site)) == branch_events(a), 20, "events missing")
        got = central_events(postgres.dsn, a.site)
        assert len(got) == len(set(got)) and sum(1 for e in got if e[2] == "ticket.issued") == 25
    finally:
        ward.close()
