"""The office loop's door for the staff console: typed actions, sessions, the audit log, the desk,
the resident's page feed - on a real Mosquitto, with the real store."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import msgspec
import pytest

from harness import SITE, has_full_lease, office_rows, start_dispenser, start_office
from office import actions as a
from office.desk import DESK_DEVICE
from office.server import OfficeServer
from office.staff import Reply
from office.staff_store import StaffStore, hash_password, password_matches, session_key
from sync.tokens import ticket_key

CLERK = a.Actor("suzuki", "clerk", 1)
CLERK2 = a.Actor("tanaka", "clerk", 2)
INPUT1 = a.Actor("sato", "input")
INPUT2 = a.Actor("ito", "input")
FLOOR = a.Actor("kato", "floor")


def rid() -> str:
    return uuid.uuid4().hex


def act(office: OfficeServer, action: a.Action, actor: a.Actor) -> Reply:
    return office.submit(action, actor).result(timeout=10)


def desk_ticket(office: OfficeServer, purpose: str = "moving") -> str:
    reply = act(office, a.IssueTicket(request_id=rid(), purpose=purpose), FLOOR)
    assert reply.ok, str(reply)
    assert reply.ticket_id is not None
    return reply.ticket_id


@pytest.fixture
def office(mosquitto, store: Path | str):
    """The office on SQLite, then on PostgreSQL: every test of this suite runs on both."""
    server = start_office(mosquitto.url, store)
    yield server
    server.stop()


def test_a_clerk_calls_starts_and_finishes_and_every_step_is_audited(office: OfficeServer) -> None:
    first = desk_ticket(office)
    desk_ticket(office)
    number = office.db.ticket(first).number  # type: ignore[union-attr]
    reply = act(office, a.CallNext(request_id=rid()), CLERK)
    assert (reply.ok, str(reply)) == (True, f"{number} → counter 1")
    assert act(office, a.Start(request_id=rid(), ticket_id=first), CLERK).ok
    reply = act(office, a.Finish(request_id=rid(), ticket_id=first, outcome="next"), CLERK)
    assert (reply.ok, str(reply)) == (True, f"{number} → input")
    rows = office_rows(office.db.path, "SELECT status, station_index, counter FROM tickets WHERE ticket_id=?", first)
    assert rows == [("in_progress", 1, 1)]
    audit = office_rows(office.db.path, "SELECT username, counter, action, ok FROM audit ORDER BY id")
    assert audit[-3:] == [("suzuki", 1, "call_next", 1), ("suzuki", 1, "start", 1), ("suzuki", 1, "finish", 1)]
    # The counter that called is open now: the wait estimate counts it (and only it).
    assert office.counters_open() == {1: True}


def test_a_retried_request_is_carried_out_once_and_gets_the_first_answer(office: OfficeServer) -> None:
    desk_ticket(office)
    desk_ticket(office)
    call = a.CallNext(request_id=rid())
    first = act(office, call, CLERK)
    again = act(office, call, CLERK)
    assert first.ok and again == first
    assert office_rows(office.db.path, "SELECT COUNT(*) FROM calls") == [(1,)]
    assert office_rows(office.db.path, "SELECT COUNT(*) FROM tickets WHERE status='waiting'") == [(1,)]


def test_permissions_are_the_loops_not_the_pages(office: OfficeServer) -> None:
    ticket = desk_ticket(office)
    refused = act(office, a.CallNext(request_id=rid()), INPUT1)
    assert not refused.ok and "role (input)" in str(refused)
    refused = act(office, a.Void(request_id=rid(), ticket_id=ticket), INPUT1)
    assert not refused.ok
    # a clerk without a counter cannot call
    assert not act(office, a.CallNext(request_id=rid()), a.Actor("x", "clerk", None)).ok
    assert office_rows(office.db.path, "SELECT status FROM tickets WHERE ticket_id=?", ticket) == [("waiting",)]
    assert office_rows(office.db.path, "SELECT action, ok FROM audit WHERE username='sato'") == [
        ("call_next", 0),
        ("void", 0),
    ]


def test_bad_input_is_one_sentence_and_changes_nothing(office: OfficeServer) -> None:
    ticket = desk_ticket(office)
    cases = [
        (a.CallNumber(request_id=rid(), ref="11o5"), "is not a ticket number"),
        (a.CallNumber(request_id=rid(), ref="9999"), "no ticket 9999 today"),
        (a.TransferStation(request_id=rid(), ticket_id=ticket, station="kitchen"), "unknown station kitchen"),
        (a.Void(request_id=rid(), ticket_id="2001-01-01-1-1001"), "no ticket"),
        (a.TransferPurpose(request_id=rid(), ticket_id=ticket, purpose="lunch"), "unknown purpose lunch"),
    ]
    for action, words in cases:
        reply = act(office, action, CLERK)
        assert not reply.ok and words in str(reply), (action, str(reply))
    assert office_rows(office.db.path, "SELECT status, station_index FROM tickets") == [("waiting", -1)]


def test_a_stale_screen_cannot_act_on_what_someone_else_moved(office: OfficeServer) -> None:
    ticket = desk_ticket(office)
    seen = office.db.ticket(ticket).updated_ms  # type: ignore[union-attr]
    assert act(office, a.CallNumber(request_id=rid(), ref=str(office.db.ticket(ticket).number)), CLERK2).ok  # type: ignore[union-attr]
    reply = act(office, a.Void(request_id=rid(), ticket_id=ticket, seen_ms=seen), FLOOR)
    assert not reply.ok and "changed on another screen" in str(reply)
    assert office_rows(office.db.path, "SELECT status FROM tickets WHERE ticket_id=?", ticket) == [("called",)]


def test_two_operators_racing_for_one_case_one_gets_it(office: OfficeServer) -> None:
    ticket = desk_ticket(office)
    assert act(office, a.CallNext(request_id=rid()), CLERK).ok
    assert act(office, a.TransferStation(request_id=rid(), ticket_id=ticket, station="input"), CLERK).ok
    replies: list[Reply] = []
    gate = threading.Barrier(2)
    seen = office.db.ticket(ticket).updated_ms  # type: ignore[union-attr]  # both screens show this

    def claim(who: a.Actor) -> None:
        gate.wait()
        replies.append(act(office, a.Claim(request_id=rid(), ticket_id=ticket, seen_ms=seen), who))

    threads = [threading.Thread(target=claim, args=(who,)) for who in (INPUT1, INPUT2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(r.ok for r in replies) == [False, True]
    loser = next(r for r in replies if not r.ok)
    holder = office_rows(office.db.path, "SELECT holder FROM tickets WHERE ticket_id=?", ticket)[0][0]
    assert holder in ("sato", "ito") and f"already being worked on by {holder}" in str(loser)
    # The other cannot release it; the floor manager can; a counter can then take it back.
    other = INPUT2 if holder == "sato" else INPUT1
    assert not act(office, a.Release(request_id=rid(), ticket_id=ticket), other).ok
    assert act(office, a.Release(request_id=rid(), ticket_id=ticket), FLOOR).ok
    assert act(office, a.Claim(request_id=rid(), ticket_id=ticket), CLERK).ok
    assert office_rows(office.db.path, "SELECT holder FROM tickets WHERE ticket_id=?", ticket) == [("suzuki",)]


def test_listeners_hear_of_each_change_after_its_commit(office: OfficeServer, wait_for) -> None:
    heard: list[tuple[int, list[tuple[object, ...]]]] = []
    office.add_listener(lambda v: heard.append((v, office_rows(office.db.path, "SELECT status FROM tickets"))))
    ticket = desk_ticket(office)
    wait_for(lambda: bool(heard), message="a listener heard of the new ticket")
    assert heard[-1][1] == [("waiting",)]  # committed when we heard of it
    before = heard[-1][0]
    act(office, a.Void(request_id=rid(), ticket_id=ticket), FLOOR)
    wait_for(lambda: heard[-1][0] > before, message="a listener heard of the void")
    assert heard[-1][1] == [("void",)]


def test_sign_in_locks_after_repeated_wrong_passwords(office: OfficeServer) -> None:
    with office.db.transaction():
        StaffStore(office.db.conn).add_user("suzuki", "鈴木", "clerk", "correct horse battery", 0)
    assert password_matches(
        office.db.conn.execute("SELECT password_hash FROM staff_users").fetchone()[0], "correct horse battery"
    )

    def sign(ok: bool) -> Reply:
        key = session_key(uuid.uuid4().hex)
        change = a.SignIn(username="suzuki", key=key, csrf="c", counter=1, password_ok=ok)
        return office.submit_session(change).result(10)

    limit = SITE.console.lockout_failures
    for _ in range(limit):
        assert str(sign(False)) == "wrong user name or password"
    locked = sign(True)
    assert not locked.ok and "locked until" in str(locked)
    assert office_rows(office.db.path, "SELECT COUNT(*) FROM staff_sessions") == [(0,)]
    with office.db.transaction():
        StaffStore(office.db.conn).set_password("suzuki", "another long one", 1)
    assert sign(True).ok  # a new password lifts the lock
    assert office_rows(office.db.path, "SELECT action, ok FROM audit WHERE action='sign_in' ORDER BY id")[-2:] == [
        ("sign_in", 0),
        ("sign_in", 1),
    ]


def test_passwords_are_argon2_and_short_ones_refused() -> None:
    hashed = hash_password("a long enough secret")
    assert hashed.startswith("$argon2id$") and password_matches(hashed, "a long enough secret")
    assert not password_matches(hashed, "a long enough secreT")
    with pytest.raises(Exception, match="at least"):
        hash_password("short")


def test_desk_tickets_come_from_their_own_lease_and_carry_a_token(
    office: OfficeServer, mosquitto, tmp_path: Path, wait_for
) -> None:
    disp = start_dispenser(mosquitto.url, tmp_path / "disp-d1", "disp-d1")
    try:
        wait_for(lambda: has_full_lease(disp), message="dispenser got its leases")
        at_desk = [desk_ticket(office, "certificates") for _ in range(3)]
        issued = disp.dispenser.issue("certificates").ticket
        wait_for(lambda: disp.agent.pending_count() == 0, message="office acked the ticket")
    finally:
        disp.close()
    rows = office_rows(office.db.path, "SELECT ticket_id, device, number, token FROM tickets ORDER BY hlc")
    desk_numbers = [r[2] for r in rows if r[1] == DESK_DEVICE]
    assert [r[0] for r in rows if r[1] == DESK_DEVICE] == at_desk
    assert len(set(desk_numbers)) == 3 and issued.number not in desk_numbers
    assert all(isinstance(r[3], str) and len(r[3]) == 26 for r in rows)
    leases = office_rows(office.db.path, "SELECT device, first, last FROM leases WHERE series='2' AND device='desk'")
    assert leases and all(first <= n <= last for n in desk_numbers for _, first, last in leases)


def test_the_public_feed_holds_the_resident_view_only(office: OfficeServer) -> None:
    first = desk_ticket(office)
    second = desk_ticket(office)
    feed = office.public_feed(full=True)
    assert feed is not None and feed.full
    token = {r[0]: r[1] for r in office_rows(office.db.path, "SELECT ticket_id, token FROM tickets")}
    pages = {t.key: t for t in feed.tickets}
    assert set(pages) == {ticket_key(str(token[first])), ticket_key(str(token[second]))}
    assert pages[ticket_key(str(token[second]))].people_ahead == 1
    assert pages[ticket_key(str(token[first]))].people_ahead == 0
    text = msgspec.json.encode(feed).decode()
    assert str(token[first]) not in text and "住民異動届" not in text  # no token, no procedure
    assert office.public_feed() is None  # nothing changed since
    assert act(office, a.CallNext(request_id=rid()), CLERK).ok
    delta = office.public_feed()
    assert delta is not None and not delta.full
    changed = {t.key: t for t in delta.tickets}
    called = changed[ticket_key(str(token[first]))]
    assert called.status == "called" and called.counter is not None and called.counter.number == 1
    assert called.stops[0].reached_ms is not None and called.stops[1].reached_ms is None
    assert changed[ticket_key(str(token[second]))].people_ahead == 0


def test_open_counters_share_the_wait(office: OfficeServer) -> None:
    for _ in range(6):
        desk_ticket(office, "certificates")
    before = {r.code: r.est_wait_min for r in office.queue_figures()}
    assert act(office, a.OpenCounter(request_id=rid()), CLERK).ok
    one = {r.code: r.est_wait_min for r in office.queue_figures()}
    assert act(office, a.OpenCounter(request_id=rid()), CLERK2).ok
    two = {r.code: r.est_wait_min for r in office.queue_figures()}
    serving = [c for c in SITE.counters if c.serves("certificates")]
    assert len(serving) > 2  # the demo town: all counters count while none is open
    assert before["certificates"] is not None and one["certificates"] is not None and two["certificates"] is not None
    assert before["certificates"] < two["certificates"] < one["certificates"]
    assert act(office, a.CloseCounter(request_id=rid()), CLERK2).ok
    assert {r.code: r.est_wait_min for r in office.queue_figures()} == one
