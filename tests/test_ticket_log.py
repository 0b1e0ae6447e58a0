"""The ticket log: a line beside every change the office makes to a ticket, written in the same
transaction, on a real office over a real Mosquitto; and an older store's stamps migrated into it."""

from __future__ import annotations

import json
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import pytest

from harness import start_office
from office import actions as a
from office.db import MIGRATIONS, SCHEMA, OfficeDB, migrate
from office.server import OfficeServer
from office.staff import Reply
from office.ticket_log import Kind

CLERK = a.Actor("suzuki", "clerk", 1)
CLERK2 = a.Actor("tanaka", "clerk", 2)
INPUT1 = a.Actor("sato", "input")
FLOOR = a.Actor("kato", "floor")


def rid() -> str:
    return uuid.uuid4().hex


def act(office: OfficeServer, action: a.Action, actor: a.Actor) -> Reply:
    reply = office.submit(action, actor).result(timeout=10)
    assert reply.ok, str(reply)
    return reply


def desk_ticket(office: OfficeServer, purpose: str = "moving") -> str:
    reply = act(office, a.IssueTicket(request_id=rid(), purpose=purpose), FLOOR)
    assert reply.ticket_id is not None
    return reply.ticket_id


def told(office: OfficeServer, ticket: str) -> list[tuple[str, str | None, int | None, str | None, str | None]]:
    with closing(OfficeDB.read_only(office.db.path)) as db:
        return [(r.kind.value, r.station, r.counter, r.username, r.detail) for r in db.ticket_log(ticket)]


@pytest.fixture
def office(mosquitto, store: Path | str):
    """The office on SQLite, then on PostgreSQL."""
    server = start_office(mosquitto.url, store)
    yield server
    server.stop()


def test_a_case_through_every_station_is_told_line_by_line(office: OfficeServer) -> None:
    ticket = desk_ticket(office)
    act(office, a.CallNext(request_id=rid()), CLERK)
    act(office, a.Start(request_id=rid(), ticket_id=ticket), CLERK)
    act(office, a.Finish(request_id=rid(), ticket_id=ticket, outcome="next"), CLERK)  # -> input
    act(office, a.Claim(request_id=rid(), ticket_id=ticket), INPUT1)
    act(office, a.Hold(request_id=rid(), ticket_id=ticket), INPUT1)
    act(office, a.Resume(request_id=rid(), ticket_id=ticket), INPUT1)
    act(office, a.Finish(request_id=rid(), ticket_id=ticket, outcome="next"), INPUT1)  # -> review
    act(office, a.TransferStation(request_id=rid(), ticket_id=ticket, station="issuing"), FLOOR)
    act(office, a.Finish(request_id=rid(), ticket_id=ticket, outcome="complete"), CLERK2)  # ready at 2
    act(office, a.Recall(request_id=rid(), ticket_id=ticket), CLERK2)
    act(office, a.Finish(request_id=rid(), ticket_id=ticket, outcome="handed_over"), CLERK2)
    assert told(office, ticket) == [
        ("issued", None, None, None, None),
        ("called", "reception", 1, "suzuki", None),
        ("started", "reception", 1, "suzuki", None),
        ("moved", "input", 1, "suzuki", "reception"),
        ("claimed", "input", 1, "sato", None),
        ("held", "input", 1, "sato", None),
        ("resumed", "input", 1, "sato", None),
        ("moved", "review", 1, "sato", "input"),
        ("moved", "issuing", 1, "kato", "review"),
        ("ready", "done", 2, "tanaka", None),
        ("recalled", "done", 2, "tanaka", None),
        ("done", "done", 2, "tanaka", None),
    ]
    with closing(OfficeDB.read_only(office.db.path)) as db:
        rows = db.ticket_log(ticket)
        final = db.ticket(ticket)
    assert final is not None and final.status.value == "done"
    assert rows[0].at_ms == final.issued_ms and rows[0].device == final.device
    assert [r.at_ms for r in rows] == sorted(r.at_ms for r in rows)
    assert {r.category for r in rows} == {"moving"}


def test_no_shows_transfers_and_voids_are_told_and_a_refused_action_writes_nothing(office: OfficeServer) -> None:
    first = desk_ticket(office, "certificates")
    second = desk_ticket(office, "moving")
    act(office, a.CallNumber(request_id=rid(), ref=str(office.db.ticket(first).number)), CLERK)  # type: ignore[union-attr]
    act(office, a.Absent(request_id=rid(), ticket_id=first), CLERK)
    act(office, a.CallNumber(request_id=rid(), ref=str(office.db.ticket(first).number)), CLERK)  # type: ignore[union-attr]
    act(office, a.TransferPurpose(request_id=rid(), ticket_id=second, purpose="family_register"), FLOOR)
    act(office, a.Void(request_id=rid(), ticket_id=second), FLOOR)
    before = told(office, second)
    refused = office.submit(a.Start(request_id=rid(), ticket_id=second), CLERK).result(timeout=10)
    assert not refused.ok
    assert told(office, second) == before
    assert [k for k, *_ in told(office, first)] == ["issued", "called", "absent", "called"]
    assert before == [
        ("issued", None, None, None, None),
        ("transferred", None, None, "kato", "moving"),
        ("voided", None, None, "kato", None),
    ]
    with closing(OfficeDB.read_only(office.db.path)) as db:
        assert [r.category for r in db.ticket_log(second)] == ["moving", "family_register", "family_register"]


def _v4_store(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(SCHEMA)
    for step in MIGRATIONS[:4]:
        for statement in (s.strip() for s in step.split(";")):
            if statement:
                conn.execute(statement)
    conn.execute("PRAGMA user_version = 4")
    route = json.dumps(["reception", "input", "review", "issuing", "done"])
    short = json.dumps(["reception", "issuing", "done"])
    tickets = [
        # id, route, status, station_index, counter, issued, updated
        ("2026-03-30-1-1001", route, "done", 4, 2, 1_000, 9_000),
        ("2026-03-30-2-2001", short, "void", -1, None, 2_000, 2_500),
        ("2026-03-30-2-2002", short, "absent", 0, 3, 3_000, 3_900),
        ("2026-03-30-1-1002", route, "in_progress", 1, 1, 4_000, 5_000),
    ]
    for tid, r, status, index, counter, issued, updated in tickets:
        series, number = tid.split("-")[3], int(tid.split("-")[4])
        conn.execute(
            "INSERT INTO tickets(ticket_id, day, series, number, category, device, event_id, issued_ms, hlc, route,"
            " procedures, status, station_index, counter, updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                tid,
                "2026-03-30",
                series,
                number,
                "moving" if series == "1" else "certificates",
                "dispenser-1",
                f"dispenser-1:{number}",
                issued,
                f"{issued:016d}",
                r,
                "[]",
                status,
                index,
                counter,
                updated,
            ),
        )
    stamps = [
        ("2026-03-30-1-1001", "reception", 1_500, 1),
        ("2026-03-30-1-1001", "input", 2_500, 1),
        ("2026-03-30-1-1001", "review", 4_000, 1),
        ("2026-03-30-1-1001", "issuing", 6_000, 1),
        ("2026-03-30-1-1001", "done", 8_000, 2),
        ("2026-03-30-2-2002", "reception", 3_500, 3),
        ("2026-03-30-1-1002", "reception", 4_500, 1),
        ("2026-03-30-1-1002", "input", 5_000, 1),
    ]
    conn.executemany("INSERT INTO stamps(ticket_id, station, at_ms, counter) VALUES (?,?,?,?)", stamps)
    conn.close()


def test_an_older_stores_stamps_become_the_log(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    _v4_store(path)
    db = OfficeDB(path)
    try:
        assert int(db.conn.execute("PRAGMA user_version").fetchone()[0]) == len(MIGRATIONS)
        told_ = {
            t: [(r.kind, r.station, r.counter, r.at_ms, r.detail) for r in db.ticket_log(t)]
            for t in ("2026-03-30-1-1001", "2026-03-30-2-2001", "2026-03-30-2-2002", "2026-03-30-1-1002")
        }
        assert migrate(db.conn) == len(MIGRATIONS)  # a second open adds nothing
        assert db.conn.execute("SELECT COUNT(*) FROM ticket_log").fetchone()[0] == 4 + 8 + 3  # issues, stamps, endings
    finally:
        db.close()
    assert told_["2026-03-30-1-1001"] == [
        (Kind.ISSUED, None, None, 1_000, None),
        (Kind.CALLED, "reception", 1, 1_500, None),
        (Kind.MOVED, "input", 1, 2_500, "reception"),
        (Kind.MOVED, "review", 1, 4_000, "input"),
        (Kind.MOVED, "issuing", 1, 6_000, "review"),
        (Kind.READY, "done", 2, 8_000, "issuing"),
        (Kind.DONE, "done", 2, 9_000, None),
    ]
    assert told_["2026-03-30-2-2001"] == [
        (Kind.ISSUED, None, None, 2_000, None),
        (Kind.VOIDED, None, None, 2_500, None),
    ]
    assert told_["2026-03-30-2-2002"] == [
        (Kind.ISSUED, None, None, 3_000, None),
        (Kind.CALLED, "reception", 3, 3_500, None),
        (Kind.ABSENT, "reception", 3, 3_900, None),
    ]
    assert [k for k, *_ in told_["2026-03-30-1-1002"]] == [Kind.ISSUED, Kind.CALLED, Kind.MOVED]


def test_the_staff_user_can_be_dropped_and_the_lines_stay(store: Path | str) -> None:
    db = OfficeDB(store)
    try:
        from office.ticket_log import LogRow

        with db.transaction():
            db.append_log(
                [
                    LogRow(1_000, "t1", "2026-01-05", Kind.CALLED, "moving", "reception", 1, "suzuki", "d1"),
                    LogRow(9_000, "t1", "2026-01-05", Kind.STARTED, "moving", "reception", 1, "suzuki", "d1"),
                    LogRow(9_500, "t2", "2026-01-06", Kind.STARTED, "moving", "reception", 1, "suzuki", "d1"),
                ]
            )
            assert db.forget_log_users("2026-01-06") == 2
        assert [(r.kind, r.username) for r in db.ticket_log("t1", "2026-01-05")] == [
            (Kind.CALLED, None),
            (Kind.STARTED, None),
        ]
        assert [(r.kind, r.at_ms, r.username) for r in db.ticket_log("t2", "2026-01-06")] == [
            (Kind.STARTED, 9_500, "suzuki")
        ]
    finally:
        db.close()
