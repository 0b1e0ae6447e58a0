"""The staff screens' figures (pure) and the store's migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from harness import SITE
from office import floor
from office.db import MIGRATIONS, SCHEMA, OfficeDB
from office.domain import Stamp, Status, Ticket

ROUTE = ("reception", "input", "review", "issuing", "done")


def ticket(n: int, status: Status = Status.WAITING, index: int = -1, **kw: object) -> Ticket:
    return Ticket(
        ticket_id=f"2026-12-06-1-{n}",
        day="2026-12-06",
        series="1",
        number=n,
        category=str(kw.pop("category", "moving")),
        device="d1",
        issued_ms=n * 1000,
        hlc=f"{n:013d}-000000",
        route=ROUTE,
        status=status,
        station_index=index,
        **kw,  # type: ignore[arg-type]
    )


def health(device: str, role: str, **kw: object) -> floor.DeviceHealth:
    base: dict[str, object] = {
        "online": True,
        "last_seen_ms": 0,
        "outbox_pending": 0,
        "printer_fault": None,
        "paper_near_end": False,
        "held_tickets": (),
        "in_service": None,
        "fault": "",
        "cash": {},
        "change_low": False,
        "refunds_owed": 0,
        "stale": False,
    }
    base.update(kw)
    return floor.DeviceHealth(device=device, role=role, **base)  # type: ignore[arg-type]


def test_people_ahead_counts_only_earlier_tickets_of_the_same_purpose() -> None:
    line = [ticket(1001), ticket(1002), ticket(1003, category="tax"), ticket(1004)]
    assert [floor.people_ahead(t, line) for t in line] == [0, 1, 0, 2]


def test_open_counters_count_once_any_is_open() -> None:
    moving = sum(1 for c in SITE.counters if c.serves("moving"))
    assert floor.open_counter_count(SITE, {}, "moving") == moving
    assert floor.open_counter_count(SITE, {1: True}, "moving") == 1
    assert floor.open_counter_count(SITE, {1: False, 2: False}, "moving") == moving


def test_station_loads_and_the_input_centre_panel() -> None:
    active = [
        ticket(1001, Status.IN_PROGRESS, 1, holder="sato"),
        ticket(1002, Status.IN_PROGRESS, 1),
        ticket(1003, Status.HELD, 1),
        ticket(1004, Status.IN_PROGRESS, 2),
    ]
    stamps = {
        t.ticket_id: [
            Stamp(t.ticket_id, "reception", 5_000),
            Stamp(t.ticket_id, ROUTE[t.station_index], 9_000 + t.number),
        ]
        for t in active
    }
    loads = {s.code: s for s in floor.station_loads(SITE, active, stamps)}
    assert (loads["input"].cases, loads["input"].held, loads["input"].unclaimed) == (3, 1, 1)
    assert loads["review"].cases == 1 and loads["reception"].cases == 0
    panel = floor.input_load("input", active, stamps, finished_last_hour=7)
    assert (panel.waiting, panel.in_hand, panel.operators, panel.finished_last_hour) == (1, 1, ("sato",), 7)
    assert panel.oldest_ms == 10_001
    assert [t.number for t in floor.input_cases("input", active, stamps)] == [1001, 1002, 1003]


def test_alerts_name_the_device_and_the_held_numbers_errors_first() -> None:
    found = floor.alerts(
        [
            health("d1", "dispenser", printer_fault="paper_out", held_tickets=(1105, 1106)),
            health("d2", "dispenser", paper_near_end=True),
            health("k1", "kiosk", in_service=False, fault="journal_failed", refunds_owed=1),
            health("b1", "board", online=False),
            health("b2", "board", stale=True),
            health("d3", "dispenser", in_service=False, fault="storage full or failing"),
        ]
    )
    assert [(a.severity, str(a)) for a in found] == [
        ("error", "d3 is out of service (storage full or failing)"),
        ("error", "k1 is out of service (journal_failed)"),
        ("error", "d1: printer paper_out; tickets held for reprint: 1105, 1106"),
        ("error", "b2 shows stale information"),
        ("warning", "b1 is offline"),  # a board offline: the lobby still works
        ("warning", "d2: printer paper is near its end"),
        ("warning", "k1 printed 1 refund slip(s): the resident is owed cash at a counter"),
    ]


def test_a_store_of_an_older_office_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    conn.execute(
        "INSERT INTO tickets VALUES ('t1', '2026-12-06', '1', 1001, 'moving', 'd1', 'd1:1', 1, '0', '[]', '[]',"
        " 'waiting', -1, NULL, 1)"
    )
    conn.commit()
    conn.close()
    db = OfficeDB(path)
    try:
        assert db.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        kept = db.ticket("t1")
        assert kept is not None and kept.number == 1001 and kept.token is None and kept.holder is None
    finally:
        db.close()
    again = OfficeDB(path)  # a second open changes nothing
    try:
        assert again.conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] == 1
    finally:
        again.close()


def test_the_floor_reads_a_devices_stored_status_as_its_model_and_survives_one_it_cannot_read(caplog) -> None:
    import json

    from office import staff_view
    from sync import messages, protocol

    status = messages.DeviceStatus(
        state="online",
        role="kiosk",
        outbox_pending=3,
        version="1.4.0",
        health=messages.Health(in_service=False, fault="printer", cash={"1000": 12}, refunds_owed=1),
    )
    row = {
        "device": "kiosk-1",
        "role": None,
        "state": "online",
        "last_seen_ms": 5,
        "status": json.dumps(protocol.to_builtins(status)),
        "printer": json.dumps({"fault": "paper_out", "paper_near_end": True}),
    }
    health = staff_view._device(row, {}, {})
    assert (health.role, health.outbox_pending, health.version) == ("kiosk", 3, "1.4.0")
    assert (health.in_service, health.fault, dict(health.cash), health.refunds_owed) == (
        False,
        "printer",
        {"1000": 12},
        1,
    )
    assert (health.printer_fault, health.paper_near_end) == ("paper_out", True)

    # A row an older office kept in another shape: shown as what the row says, and logged.
    broken = {**row, "status": json.dumps({"state": "online", "outbox_pending": "many"}), "printer": "[1]"}
    health = staff_view._device(broken, {}, {})
    assert (health.role, health.outbox_pending, health.in_service, health.printer_fault) == ("", 0, None, None)
    assert "does not read as a device status" in caplog.text
    assert "printer state does not read" in caplog.text
