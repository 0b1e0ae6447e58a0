"""The office store's own copy of a day's tickets (office/db.py): whatever the loop writes,
commits or rolls back, ``tickets()`` says what a fresh connection to the store says. Every test
runs on SQLite and on PostgreSQL (the ``store`` fixture)."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from office.db import OfficeDB
from office.domain import Status, Ticket

DAY = "2026-12-06"


def ticket(number: int, series: str = "1", hlc_ms: int = 1_796_000_000_000) -> Ticket:
    return Ticket(
        ticket_id=f"{DAY}-{series}-{number}",
        day=DAY,
        series=series,
        number=number,
        category="moving",
        device="disp-1",
        issued_ms=hlc_ms,
        hlc=f"{hlc_ms:013d}-000000",
        route=("reception", "input", "done"),
    )


def fresh(path: Path | str, statuses: tuple[Status, ...] | None = None) -> list[Ticket]:
    other = OfficeDB.read_only(path)
    try:
        return other.tickets(DAY, statuses)
    finally:
        other.close()


def test_the_kept_tickets_follow_inserts_updates_rollbacks_and_displacements(store: Path | str) -> None:
    path = store
    db = OfficeDB(path)
    rng = random.Random(7)
    try:
        with db.transaction():
            for n in range(1, 21):
                assert (
                    db.insert_ticket(ticket(1000 + n, hlc_ms=1_796_000_000_000 + rng.randint(0, 10**6)), f"e{n}")
                    is None
                )
        assert db.tickets(DAY) == fresh(path)  # loaded once, from here on kept
        for step in range(200):
            kept = db.tickets(DAY)
            t = rng.choice(kept)
            moved = replace(
                t,
                status=rng.choice(list(Status)),
                station_index=rng.randint(-1, 2),
                counter=rng.choice([None, 1, 2]),
                updated_ms=step,
                holder=rng.choice([None, "sato"]),
                procedures=("not", "persisted"),  # update_ticket does not write these
            )
            if step % 3 == 0:
                with pytest.raises(RuntimeError), db.transaction():
                    db.update_ticket(moved)
                    raise RuntimeError("the turn failed: rolled back")
            elif step % 7 == 0:
                with db.transaction():
                    db.displace_ticket(replace(ticket(t.number), device="disp-2"), f"d{step}")
            else:
                with db.transaction():
                    db.update_ticket(moved)
                    if step % 5 == 0:
                        assert db.insert_ticket(ticket(2000 + step), f"n{step}") is None
            assert db.tickets(DAY) == fresh(path), step
            # What the consoles' view is built from: a copy, the same tickets, unaffected by
            # what the writer does next.
            copy = db.kept_day(DAY)
            assert copy is not None and sorted(copy.values(), key=lambda k: (k.hlc, k.ticket_id)) == fresh(path)
            assert copy is not db.kept_day(DAY)
        assert db.kept_day("2026-12-07") is None  # a day not read yet: the view reads the store
        waiting = (Status.WAITING, Status.CALLED)
        assert db.tickets(DAY, iter(waiting)) == fresh(path, waiting)  # a generator of statuses
    finally:
        db.close()


def test_pruning_keeps_the_tickets_and_every_event_a_device_may_still_send(store: Path | str) -> None:
    """Retention drops old raw events, calls, leases and staff replies; an event after a gap in a
    device's seqs stays whatever its age (the gap has not filled: the ack has not passed it), a
    resend of a pruned event is still a duplicate by its seq, and the tickets stay."""
    from office.domain import Call
    from sync.leases import Block

    db = OfficeDB(store)
    old, new = 1_000_000, 9_000_000
    try:
        with db.transaction():
            for seq in (1, 2, 3, 5):  # 4 never arrived: 5 is beyond the device's ack
                assert db.insert_event(f"disp-1:{seq}", "disp-1", seq, "ticket_issued", "h", old, old, {})
            assert db.insert_event("disp-1:6", "disp-1", 6, "ticket_issued", "h", new, new, {}) is True
            assert db.advance_ack("disp-1") == 3
            db.insert_ticket(ticket(1001), "disp-1:1")
            db.add_call(Call(f"{DAY}-1-1001", 1001, 1, old))
            db.add_call(Call(f"{DAY}-1-1001", 1001, 1, new))
            db.add_lease("disp-1", Block("1", "2026-11-01", 1001, 1020), old)
            db.add_lease("disp-1", Block("1", DAY, 1001, 1020), new)
            db.save_staff_reply("r-old", "call next", {"ok": True}, old)
            db.save_staff_reply("r-new", "call next", {"ok": True}, new)
        with db.transaction():
            pruned = db.prune(5_000_000, "2026-12-01")
        assert pruned == {
            "events": 3,
            "calls": 1,
            "leases": 1,
            "cap_shares": 0,
            "staff_requests": 1,
            "staff_sessions": 0,
        }
        seqs = [r[0] for r in db.conn.execute("SELECT seq FROM events ORDER BY seq")]
        assert seqs == [5, 6]  # after the gap: kept until the gap fills
        assert db.acked_seq("disp-1") == 3  # a resend of seq 1-3 is a duplicate by seq alone
        assert [t.ticket_id for t in db.tickets(DAY)] == [f"{DAY}-1-1001"]
        assert db.staff_reply("r-new") is not None and db.staff_reply("r-old") is None
        with db.transaction():
            assert db.prune(5_000_000, "2026-12-01") == dict.fromkeys(pruned, 0)  # idempotent
    finally:
        db.close()


def test_a_tickets_change_time_moves_on_even_within_one_millisecond(store: Path | str) -> None:
    """A screen acting on what it showed names the ticket's change time; two changes in one
    millisecond must not look like one (the stale-screen check let the second through)."""
    db = OfficeDB(store)
    try:
        t = ticket(1001)
        with db.transaction():
            db.insert_ticket(replace(t, updated_ms=5000), "e1")
        db.tickets(DAY)  # the connection keeps the day's tickets from here on: its copy follows too
        with db.transaction():
            db.update_ticket(replace(t, status=Status.CALLED, updated_ms=5000))
        first = db.ticket(t.ticket_id)
        with db.transaction():
            db.update_ticket(replace(t, status=Status.IN_PROGRESS, updated_ms=5000))
        second = db.ticket(t.ticket_id)
        assert first is not None and second is not None
        assert 5000 < first.updated_ms < second.updated_ms
        kept = db.kept_day(DAY)
        assert kept is not None and kept[t.ticket_id].updated_ms == second.updated_ms
        assert fresh(store)[0].updated_ms == second.updated_ms
    finally:
        db.close()
