"""The lobby end to end on a real Mosquitto: dispensers, office, staff commands, snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import SITE, has_full_lease, office_rows, start_dispenser, start_office
from office import cli as office_cli
from sync.agent import AgentConfig, DeviceAgent


def test_ticket_reaches_office_and_staff_move_it_to_the_terminal(
    mosquitto, tmp_path: Path, store: Path | str, wait_for, capsys
) -> None:
    office = start_office(mosquitto.url, store)
    disp = start_dispenser(mosquitto.url, tmp_path / "disp-d1", "disp-d1")
    board = DeviceAgent(
        AgentConfig(
            site=SITE.site, device_id="board-1", role="board", broker_url=mosquitto.url, data_dir=tmp_path / "b1"
        )
    )
    board.start()
    try:
        wait_for(lambda: has_full_lease(disp), message="dispenser got config and leases")
        result = disp.dispenser.issue("moving", procedures=["住民異動届"])
        number = result.ticket.number
        assert result.ticket.ticket_id.endswith(f"-1-{number}")
        wait_for(lambda: disp.agent.pending_count() == 0, message="office acked the ticket")
        rows = office_rows(office.db.path, "SELECT number, category, status FROM tickets")
        assert rows == [(number, "moving", "waiting")]

        def staff(*words: str) -> str:
            code = office_cli.main(["staff", "--broker", mosquitto.url, "--site", SITE.site, *words])
            out = capsys.readouterr().out.strip()
            assert code == 0, out
            return out

        assert staff("call", "next", "at", "counter", "4") == f"{number} → counter 4"
        assert staff("advance", str(number), "to", "input") == f"{number} → input"
        assert staff("advance", str(number), "to", "審査") == f"{number} → review"
        assert staff("done", str(number)).startswith(f"{number} done")

        stamps = office_rows(office.db.path, "SELECT station FROM stamps ORDER BY rowid")
        assert [s for (s,) in stamps] == ["reception", "input", "review", "done"]

        def board_shows_ready() -> bool:
            snap = board.document("board_snapshot")
            if snap is None:
                return False
            line = next(
                l
                for l in snap.lines
                if l.stations[0] == "reception" and "input" in l.stations and "issuing" in l.stations
            )
            return (
                (number, 4, "ready", 4) in line.tickets
                and (snap.calls[0].number, snap.calls[0].counter) == (number, 4)
                and [(c.counter, c.number, c.kind) for c in snap.counters] == [(4, number, "ready")]
            )

        wait_for(board_shows_ready, message="board snapshot shows the train at the terminal and the call")
        assert board.clock_confirmed  # learned from the office's live messages
    finally:
        board.stop()
        disp.close()
        office.stop()


def test_staff_mistakes_get_one_line_answers(mosquitto, tmp_path: Path, store: Path | str, capsys) -> None:
    office = start_office(mosquitto.url, store)
    try:
        code = office_cli.main(["staff", "--broker", mosquitto.url, "--site", SITE.site, "done", "4242"])
        assert code == 1
        assert capsys.readouterr().out.strip() == "no ticket 4242 today"
        code = office_cli.main(
            ["staff", "--broker", mosquitto.url, "--site", SITE.site, "call", "next", "at", "counter", "99"]
        )
        assert code == 1
        assert "there is no counter 99" in capsys.readouterr().out
        code = office_cli.main(["staff", "--broker", mosquitto.url, "--site", SITE.site, "dance"])
        assert code == 1
        assert "not understood" in capsys.readouterr().out
    finally:
        office.stop()


def test_queue_snapshot_counts_people_ahead(mosquitto, tmp_path: Path, store: Path | str, wait_for) -> None:
    office = start_office(mosquitto.url, store)
    disp = start_dispenser(mosquitto.url, tmp_path / "disp-d1", "disp-d1")
    try:
        wait_for(lambda: has_full_lease(disp))
        for _ in range(3):
            disp.dispenser.issue("certificates")

        def three_waiting() -> bool:
            snap = disp.agent.document("queue_snapshot")
            return snap is not None and any(r.code == "certificates" and r.waiting == 3 for r in snap.categories)

        wait_for(three_waiting, message="queue snapshot shows 3 waiting")
        fourth = disp.dispenser.issue("certificates").ticket
        fifth = disp.dispenser.issue("certificates").ticket  # before the office counted the fourth
        assert (fourth.people_ahead, fifth.people_ahead) == (3, 4)
        assert fourth.est_wait_min is not None and fifth.est_wait_min is not None
        assert 0 < fourth.est_wait_min < fifth.est_wait_min
    finally:
        disp.close()
        office.stop()


@pytest.mark.slow
def test_offline_dispenser_issues_from_reserve_and_restart_shows_last_state(
    mosquitto, tmp_path: Path, store: Path | str, wait_for
) -> None:
    office = start_office(mosquitto.url, store)
    disp = start_dispenser(mosquitto.url, tmp_path / "disp-d1", "disp-d1")
    wait_for(lambda: has_full_lease(disp))
    disp.close()
    office.stop()
    mosquitto.stop()
    # A restart with no broker: the stored config, snapshot and lease are there at once.
    disp = start_dispenser(mosquitto.url, tmp_path / "disp-d1", "disp-d1")
    try:
        assert disp.agent.document("office_config") is not None
        assert disp.agent.document("queue_snapshot") is not None
        assert not disp.agent.office_online
        t = disp.dispenser.issue("tax").ticket
        assert t.people_ahead is None and t.est_wait_min is None  # unknown offline, not guessed
        assert disp.agent.pending_count() == 1
    finally:
        disp.close()


def test_a_damaged_store_is_repaired_and_reported_to_the_office(
    mosquitto, tmp_path: Path, store: Path | str, wait_for
) -> None:
    office = start_office(mosquitto.url, store)
    disp = start_dispenser(mosquitto.url, tmp_path / "disp-d1", "disp-d1")
    wait_for(lambda: has_full_lease(disp))
    disp.dispenser.issue("tax")
    disp.close()
    state = tmp_path / "disp-d1" / "state.json"
    raw = state.read_bytes()
    state.write_bytes(raw[: len(raw) // 2])  # a torn write, as a failing SD card leaves it
    disp = start_dispenser(mosquitto.url, tmp_path / "disp-d1", "disp-d1")
    try:
        assert disp.agent.stats["store_repairs"] == 1
        assert disp.agent.document("lease") is not None  # from the last good copy, not empty
        wait_for(
            lambda: (
                office_rows(
                    office.db.path, "SELECT COUNT(*) FROM events WHERE type='store.recovered' AND device='disp-d1'"
                )
                == [(1,)]
            ),
            message="office heard about the repair",
        )
        assert list((tmp_path / "disp-d1").glob("state.json.corrupt-*"))  # the damaged file is kept
    finally:
        disp.close()
        office.stop()


def test_an_office_with_thousands_waiting_still_comes_online_with_a_bounded_board(
    mosquitto, tmp_path: Path, store: Path | str, wait_for
) -> None:
    """5,000 tickets waiting (a jammed moving-season day): snapshots stay under the payload
    limit, so a restarted office comes online and boards keep updating."""
    from office.db import OfficeDB
    from office.domain import MAX_WAITING_ROWS, Ticket, ticket_id
    from office.server import OfficeServer
    from sync import protocol

    db_path = store
    probe = OfficeServer(SITE, db_path, mosquitto.url, home=tmp_path)  # not started: only to learn today
    today = probe.business_day()
    probe.db.close()
    db = OfficeDB(db_path)
    with db.transaction():
        for i in range(5000):
            cat = SITE.categories[i % 2]  # moving and certificates
            number = cat.first + i // 2
            db.insert_ticket(
                Ticket(
                    ticket_id(today, cat.series, number),
                    today,
                    cat.series,
                    number,
                    cat.code,
                    "disp-d1",
                    1_000 + i,
                    f"{1_000 + i:013d}-000000",
                    cat.route,
                ),
                f"disp-d1:{i + 1}",
            )
    db.close()
    office = start_office(mosquitto.url, db_path)  # raises if it never comes online
    board = DeviceAgent(
        AgentConfig(
            site=SITE.site, device_id="board-1", role="board", broker_url=mosquitto.url, data_dir=tmp_path / "b1"
        )
    )
    board.start()
    try:
        wait_for(lambda: board.document("board_snapshot") is not None, message="board got a snapshot")
        snap = board.document("board_snapshot")
        assert snap is not None and len(protocol.encode(snap)) < protocol.MAX_PAYLOAD_BYTES
        listed = sum(len(line.tickets) for line in snap.lines)
        more = sum(line.more_waiting for line in snap.lines)
        assert listed == MAX_WAITING_ROWS and listed + more == 5000
        queue = board.document("queue_snapshot")
        assert queue is not None
        waiting = {r.code: r.waiting for r in queue.categories}
        assert waiting["moving"] == waiting["certificates"] == 2500
        assert office.stats["loop_errors"] == 0 and office.stats["announce_errors"] == 0
    finally:
        board.stop()
        office.stop()


def test_nothing_leaves_the_office_before_its_commit(mosquitto, tmp_path: Path, store: Path | str, wait_for) -> None:
    """A lease or an ack published inside an open transaction could be undone by a crash:
    a lease granted twice, or an ack for events the office no longer has."""
    from office.server import OfficeServer

    office = OfficeServer(SITE, store, mosquitto.url, home=tmp_path)
    published_in_txn: list[str] = []
    original = office._publish

    def watched(payload, **kw) -> None:  # type: ignore[no-untyped-def]
        if payload.topic in ("lease", "ack") and office.db.conn.in_transaction:
            published_in_txn.append(payload.topic)
        original(payload, **kw)

    office._publish = watched  # type: ignore[method-assign]
    office.start()
    assert office.wait_online(15)
    disp = start_dispenser(mosquitto.url, tmp_path / "disp-d1", "disp-d1")
    try:
        wait_for(lambda: has_full_lease(disp))
        for _ in range(130):  # enough certificates to fall below half the reserve: a re-grant
            disp.dispenser.issue("certificates")
        wait_for(lambda: disp.agent.pending_count() == 0)
        blocks = office_rows(office.db.path, "SELECT COUNT(*) FROM leases WHERE device='disp-d1' AND series='2'")
        assert blocks[0][0] >= 3  # today's and tomorrow's first blocks, plus a top-up
        assert published_in_txn == []
    finally:
        disp.close()
        office.stop()


def test_the_office_tops_up_from_a_dispensers_own_marks_before_its_events_arrive(
    mosquitto, tmp_path: Path, store: Path | str, wait_for, mqtt_client_factory
) -> None:
    """A dispenser that restarts often (or drains slowly) has used numbers the office has no
    ticket event for yet: its status carries its marks, and the office leases from them."""
    from sync import messages, protocol

    office = start_office(mosquitto.url, store)
    disp = start_dispenser(mosquitto.url, tmp_path / "disp-d1", "disp-d1")
    try:
        wait_for(lambda: has_full_lease(disp))
        day = office.business_day()
        lease = disp.agent.document("lease")
        assert lease is not None
        held = [b for b in lease.blocks if b.series == "2" and b.day == day]
        before = len(held)
        near_end = max(b.last for b in held) - 10  # all but ten numbers of the reserve used
        client = mqtt_client_factory(mosquitto)
        status = protocol.encode(
            messages.DeviceStatus(
                state="online", role="dispenser", marks=(messages.NumberMark(series="2", day=day, last=near_end),)
            )
        )
        client.publish(protocol.topic("device_status", SITE.site, device="disp-d1"), status, qos=1).wait_for_publish(5)

        def topped_up() -> bool:
            lease = disp.agent.document("lease")
            blocks = [b for b in lease.blocks if b.series == "2" and b.day == day] if lease is not None else []
            return len(blocks) > before

        wait_for(topped_up, message="the office leased more certificates numbers from the marks alone")
        assert office_rows(office.db.path, "SELECT COUNT(*) FROM tickets") == [(0,)]  # no ticket told it
    finally:
        disp.close()
        office.stop()


def test_a_daily_cap_holds_across_dispensers_that_are_offline(
    mosquitto, tmp_path: Path, store: Path | str, wait_for
) -> None:
    """Tax is capped at 12 a day. Two dispensers hold their shares of the cap with their leases;
    with the office down each issues until its share is used, and together they stay within the
    cap - the office, back, counts 12 at most."""
    import msgspec

    from office.db import OfficeDB
    from ticket_dispenser.errors import DailyCapReached

    cap = 12
    site = msgspec.structs.replace(
        SITE,
        categories=tuple(msgspec.structs.replace(c, daily_cap=cap) if c.code == "tax" else c for c in SITE.categories),
    )
    # The office knows its two dispensers (as it would from any earlier day): the cap is shared
    # between them from the first lease on.
    known = OfficeDB(store)
    with known.transaction():
        for name in ("disp-a", "disp-b"):
            known.upsert_device(name, "dispenser", "offline", 0, {})
    known.close()
    office = start_office(mosquitto.url, store, site)
    a = start_dispenser(mosquitto.url, tmp_path / "disp-a", "disp-a")
    b = start_dispenser(mosquitto.url, tmp_path / "disp-b", "disp-b")
    issued = {"disp-a": 0, "disp-b": 0}
    try:
        for disp in (a, b):
            wait_for(lambda disp=disp: has_full_lease(disp), message="config and leases")

        def shared(disp: object) -> bool:
            lease = disp.agent.document("lease")  # type: ignore[attr-defined]
            return lease is not None and lease.cap_share(office.business_day(), "tax") is not None

        wait_for(lambda: shared(a) and shared(b), message="both dispensers hold a share of the cap")
        a.dispenser.issue("tax")  # one online, counted by the office
        wait_for(lambda: a.agent.pending_count() == 0, message="office acked")
        issued["disp-a"] += 1
        office.stop()  # the office is gone: each dispenser is on its own
        for disp, name in ((a, "disp-a"), (b, "disp-b")):
            for _ in range(cap + 5):
                try:
                    disp.dispenser.issue("tax")
                except DailyCapReached:
                    break
                issued[name] += 1
        assert all(issued.values()), issued  # each could issue on its own
        assert sum(issued.values()) <= cap, issued
        office = start_office(mosquitto.url, store, site)
        for disp in (a, b):
            wait_for(lambda disp=disp: disp.agent.pending_count() == 0, message="offline tickets reached the office")
        db = OfficeDB.read_only(store)
        try:
            assert db.issued_by_category(office.business_day()).get("tax") == sum(issued.values())
        finally:
            db.close()
    finally:
        a.close()
        b.close()
        office.stop()
