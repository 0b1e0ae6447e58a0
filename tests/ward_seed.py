"""What a ward's centre holds, written straight into its PostgreSQL (the consumer's tables, as
office/ward_consumer.py writes them): for the console's ward pages in tests and screenshots."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
import psycopg

from office import ward_consumer
from office.ticket_log import LogRow
from sync import messages, protocol
from sync.site import SiteConfig


def make_schema(dsn: str) -> None:
    """The consumer's tables, made the way the consumer makes them."""
    with psycopg.connect(dsn) as db, db.transaction():
        db.execute(ward_consumer.SCHEMA)


def put_state(
    dsn: str, site: str, name: str, body: str, *, device: str = "", at: int, changed: int | None = None
) -> None:
    """One kept state document (``body``: its JSON)."""
    with psycopg.connect(dsn) as db, db.transaction():
        db.execute(
            "INSERT INTO ward_state(site, name, device, received_ms, changed_ms, body) VALUES (%s,%s,%s,%s,%s,%s::jsonb)"
            " ON CONFLICT (site, name, device) DO UPDATE SET body = EXCLUDED.body",
            (site, name, device, at, at if changed is None else changed, body),
        )


def put_doc(
    dsn: str, site: str, payload: messages.Payload, *, device: str = "", at: int, changed: int | None = None
) -> None:
    """One kept protocol document, as the branch sent it."""
    put_state(dsn, site, payload.topic, protocol.encode(payload).decode(), device=device, at=at, changed=changed)


def put_log(dsn: str, site: str, rows: Iterable[LogRow], received_ms: int) -> int:
    """A branch's ticket log at the centre (and its mark); how many rows."""
    values = [
        (site, i, r.at_ms, r.ticket_id, r.day, r.kind.value, r.category, r.station, r.counter, r.username,
         r.device, r.detail, received_ms)
        for i, r in enumerate(rows, 1)
    ]  # fmt: skip
    with psycopg.connect(dsn) as db, db.transaction(), db.cursor() as cur:
        cur.executemany(
            "INSERT INTO ward_ticket_log(site, id, at_ms, ticket_id, day, kind, category, station, counter, username,"
            " device, detail, received_ms) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            values,
        )
        cur.execute("INSERT INTO ward_log_marks(site, upto) VALUES (%s, %s)", (site, len(values)))
    return len(values)


def put_branch(
    dsn: str,
    config: SiteConfig,
    *,
    now: int,
    waiting: dict[str, tuple[int, int | None]],
    bridge: bool,
    since: int,
    devices: Sequence[tuple[str, str, bool, int, int]] = (("disp-1", "dispenser", True, 12, 10),),
    cases: Sequence[int] = (),
) -> None:
    """A branch as the centre knows it: its configuration, office status, bridge (connected or
    cut ``since``), queue (purpose -> waiting, estimated minutes), devices (id, role, online,
    events it says it sent, events at the centre) and cases at its input station (arrival times)."""
    site = config.site
    put_doc(dsn, site, config.message(version=1, sent_ms=now, lease_days=()), at=now)
    put_doc(dsn, site, messages.OfficeStatus(state="online", epoch="e1", sent_ms=now), at=now, changed=since)
    put_state(dsn, site, ward_consumer.BRIDGE_STATE, json.dumps({"connected": bridge}), at=since)
    rows = tuple(messages.QueueRow(code=code, waiting=n, est_wait_min=m) for code, (n, m) in waiting.items())
    put_doc(dsn, site, messages.QueueSnapshot(version=3, sent_ms=now, categories=rows), at=now)
    events = 0
    with psycopg.connect(dsn) as db, db.transaction():
        for device, role, online, sent, held in devices:
            status = messages.DeviceStatus(state="online" if online else "offline", role=role, last_seq=sent)
            put_doc(dsn, site, status, device=device, at=now, changed=since)
            for seq in range(1, held + 1):
                db.execute(
                    "INSERT INTO ward_events(site, device, seq, type, hlc, at_ms, received_ms, data)"
                    " VALUES (%s, %s, %s, 'ticket.issued', 'h', %s, %s, '{}')",
                    (site, device, seq, now - 1000, now - 500),
                )
            events += held
        db.execute(
            "INSERT INTO ward_sites(site, events, newest_at_ms, received_ms) VALUES (%s, %s, %s, %s)",
            (site, events, now - 1000, now - 500),
        )
    if cases:
        body: dict[str, Any] = {
            "v": 1,
            "version": 1,
            "sent_ms": now,
            "day": "2026-12-07",
            "station": "input",
            "cases": [
                {"ticket_id": f"t{i}", "number": 2000 + i, "category": "moving", "arrived_ms": at, "updated_ms": at}
                for i, at in enumerate(cases)
            ],
            "more": 0,
        }
        put_state(dsn, site, "ward_cases", json.dumps(body), at=now)


def renamed(config: SiteConfig, site: str, name: str) -> SiteConfig:
    """The demo town's configuration as another branch."""
    return msgspec.structs.replace(config, site=site, office_name=name)
