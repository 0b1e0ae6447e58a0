"""The ward's shared input centre (office/ward_input.py, office/ward_desk.py) on real brokers: two
branches bridged to a central Mosquitto through WAN links that can be cut, the centre's desk
on the central broker. The centre's operator claims and finishes a branch's case and the branch
sees it as its own work; forged and stale actions are refused; with the WAN cut the branch takes
its case back, and the centre's late action changes nothing."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import paho.mqtt.client as paho
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion
from ward_rig import Branch, Ward, settle, start_ward

from console_harness import Console, csrf_of, running_console
from harness import SITE
from office import actions, floor, ward_desk
from office.domain import Status, Ticket
from office.ward_bridge import bridge_user
from office.ward_desk import WardDesk
from sync import messages, protocol
from sync.signing import OfficeSigner
from sync.site import Ward as WardSettings

pytestmark = pytest.mark.timeout(180)

CENTRE_KEY = Ed25519PrivateKey.generate()
CENTRE = OfficeSigner(CENTRE_KEY)
SITES = ("demo-town", "branch-b")


@pytest.fixture(scope="module")
def ward(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ward]:
    settings = WardSettings(send_log=True, share_input=True, centre_key=CENTRE.public_text)
    rig = start_ward(tmp_path_factory.mktemp("ward"), None, SITES, settings=settings, consumers=("ward-desk",))
    try:
        yield rig
    finally:
        rig.close()


@pytest.fixture(scope="module")
def desk(ward: Ward) -> Iterator[WardDesk]:
    keys = {site: branch.office.signer.public_text for site, branch in ward.branches.items()}
    d = WardDesk(ward.url.replace("mqtt://", "mqtt://ward-desk@"), CENTRE, keys, answer_wait_s=4.0)
    d.start()
    assert d.wait_ready(15)
    try:
        yield d
    finally:
        d.stop()


def to_input(branch: Branch) -> Ticket:
    """A moving ticket issued at the branch and worked by its counter to the input station."""
    clerk = actions.Actor("clerk-1", "clerk", 1)
    settle(lambda: _leased(branch), 30, f"{branch.site}'s dispenser got no lease")
    branch.dispenser.issue("moving")
    day = branch.office.business_day()
    settle(
        lambda: any(t.category == "moving" for t in branch.office.db.tickets(day, [Status.WAITING])),
        15,
        "the ticket did not reach the office",
    )
    ticket = next(t for t in branch.office.db.tickets(day, [Status.WAITING]) if t.category == "moving")
    for action in (
        actions.CallNumber(request_id=uuid.uuid4().hex, ref=str(ticket.number)),
        actions.Start(request_id=uuid.uuid4().hex, ticket_id=ticket.ticket_id),
        actions.Finish(request_id=uuid.uuid4().hex, ticket_id=ticket.ticket_id, outcome="next"),
    ):
        reply = branch.office.submit(action, clerk).result(10)
        assert reply.ok, reply
    moved = branch.office.db.ticket(ticket.ticket_id)
    assert moved is not None and moved.station == "input"
    return moved


def _leased(branch: Branch) -> bool:
    return branch.agent.document("lease") is not None and branch.agent.document("office_config") is not None


def seen_case(desk: WardDesk, site: str, ticket_id: str, **want: object) -> messages.WardCase:
    """The case as the desk holds it, once it has the fields wanted."""
    found: list[messages.WardCase] = []

    def check() -> bool:
        for branch in desk.branches():
            if branch.site == site and branch.cases is not None:
                for case in branch.cases.cases:
                    if case.ticket_id == ticket_id and all(getattr(case, k) == v for k, v in want.items()):
                        found.append(case)
                        return True
        return False

    settle(check, 15, f"the desk never showed {ticket_id} of {site} with {want}")
    return found[-1]


def test_the_centre_claims_and_finishes_a_branch_case_as_if_it_were_local(ward: Ward, desk: WardDesk) -> None:
    branch = ward.branches["demo-town"]
    ticket = to_input(branch)
    case = seen_case(desk, "demo-town", ticket.ticket_id, holder=None)
    assert case.number == ticket.number and case.category == "moving" and not case.held

    claimed = desk.act("demo-town", messages.WardClaim(ticket_id=ticket.ticket_id, seen_ms=case.updated_ms), "tanaka")
    assert claimed.ok, claimed
    held = branch.office.db.ticket(ticket.ticket_id)
    assert held is not None and held.holder == "ward:tanaka"
    # The branch's own input screen shows who holds it, as for a local operator.
    active = branch.office.db.tickets(branch.office.business_day(), [Status.IN_PROGRESS])
    stamps = branch.office.db.stamps_of(t.ticket_id for t in active)
    load = floor.input_load("input", active, stamps, 0)
    assert "ward:tanaka" in load.operators
    case = seen_case(desk, "demo-town", ticket.ticket_id, holder="ward:tanaka")

    finished = desk.act("demo-town", messages.WardFinish(ticket_id=ticket.ticket_id, seen_ms=case.updated_ms), "tanaka")
    assert finished.ok, finished
    moved = branch.office.db.ticket(ticket.ticket_id)
    assert moved is not None and moved.station == "review" and moved.holder is None
    # The branch's ticket log and audit say who did it: the centre's operator, by name.
    kinds = [(r.kind.value, r.username) for r in branch.office.db.ticket_log(ticket.ticket_id)]
    assert ("claimed", "ward:tanaka") in kinds and ("moved", "ward:tanaka") in kinds
    audited = branch.office.db.conn.execute(
        "SELECT action, ok FROM audit WHERE username = 'ward:tanaka' AND ticket_id = ?", (ticket.ticket_id,)
    ).fetchall()
    assert sorted((str(a), int(ok)) for a, ok in audited) == [("claim", 1), ("finish", 1)]
    settle(
        lambda: all(
            c.ticket_id != ticket.ticket_id
            for b in desk.branches()
            if b.site == "demo-town" and b.cases is not None
            for c in b.cases.cases
        ),
        15,
        "the finished case stayed on the centre's list",
    )
    # The other branch's list never held it.
    assert all(
        c.ticket_id != ticket.ticket_id
        for b in desk.branches()
        if b.site == "branch-b"
        for c in (b.cases.cases if b.cases else ())
    )


def test_an_action_resent_gets_the_first_answer_and_acts_once(ward: Ward, desk: WardDesk) -> None:
    branch = ward.branches["branch-b"]
    ticket = to_input(branch)
    case = seen_case(desk, "branch-b", ticket.ticket_id, holder=None)
    action = messages.WardAction(
        request_id=f"ward-{uuid.uuid4().hex[:20]}",
        operator="suzuki",
        sent_ms=int(time.time() * 1000),
        case=messages.WardClaim(ticket_id=ticket.ticket_id, seen_ms=case.updated_ms),
    )
    replies = publish_raw(ward, "branch-b", CENTRE.seal("ward_action", "branch-b", None, protocol.encode(action)), 3)
    assert [r["ok"] for r in replies] == [True, True, True]
    assert len({r["message"] for r in replies}) == 1
    claims = [r for r in branch.office.db.ticket_log(ticket.ticket_id) if r.kind.value == "claimed"]
    assert len(claims) == 1 and claims[0].username == "ward:suzuki"


def test_a_forged_action_is_not_carried_out_nor_answered(ward: Ward, desk: WardDesk) -> None:
    branch = ward.branches["branch-b"]
    ticket = to_input(branch)
    forger = OfficeSigner(Ed25519PrivateKey.generate())
    action = messages.WardAction(
        request_id=f"ward-{uuid.uuid4().hex[:20]}",
        operator="mallory",
        sent_ms=int(time.time() * 1000),
        case=messages.WardClaim(ticket_id=ticket.ticket_id),
    )
    before = branch.office.stats["ward_forged"]
    # Signed, but for the other branch: the address is part of what is signed.
    misaddressed = CENTRE.seal("ward_action", "demo-town", None, protocol.encode(action))
    answers: list[str] = []
    listener = _client(ward)
    listener.on_message = lambda _c, _u, m: answers.append(str(json.loads(m.payload)["request_id"]))
    try:
        listener.subscribe("ward/branch-b/up/office/ward/reply", 1)
        time.sleep(0.3)
        for body in (forger.seal("ward_action", "branch-b", None, protocol.encode(action)), misaddressed):
            listener.publish("ward/branch-b/down/office/ward/action", body, 1).wait_for_publish(5)
        settle(lambda: branch.office.stats["ward_forged"] >= before + 2, 10, "the forgeries were not counted")
        # A signed action after them, on the same path: once it is answered, the forgeries
        # had their turn, and no answer to them came.
        barrier = messages.WardAction(
            request_id=f"ward-{uuid.uuid4().hex[:20]}",
            operator="tanaka",
            sent_ms=int(time.time() * 1000),
            case=messages.WardRelease(ticket_id="no-such-case"),
        )
        sealed = CENTRE.seal("ward_action", "branch-b", None, protocol.encode(barrier))
        listener.publish("ward/branch-b/down/office/ward/action", sealed, 1).wait_for_publish(5)
        settle(lambda: barrier.request_id in answers, 10, "the barrier was not answered")
    finally:
        listener.disconnect()
        listener.loop_stop()
    assert action.request_id not in answers
    after = branch.office.db.ticket(ticket.ticket_id)
    assert after is not None and after.holder is None
    assert any(row["device"] == "ward-centre" for row in branch.office.db.suspicious())


def test_a_stale_or_future_action_is_refused_and_says_why(ward: Ward, desk: WardDesk) -> None:
    branch = ward.branches["demo-town"]
    ticket = to_input(branch)
    now = int(time.time() * 1000)
    for sent, why in ((now - 120_000, "ago"), (now + 120_000, "ahead")):
        action = messages.WardAction(
            request_id=f"ward-{uuid.uuid4().hex[:20]}",
            operator="tanaka",
            sent_ms=sent,
            case=messages.WardClaim(ticket_id=ticket.ticket_id),
        )
        replies = publish_raw(
            ward, "demo-town", CENTRE.seal("ward_action", "demo-town", None, protocol.encode(action)), 1
        )
        assert len(replies) == 1 and not replies[0]["ok"] and why in str(replies[0]["message"]), replies
    after = branch.office.db.ticket(ticket.ticket_id)
    assert after is not None and after.holder is None


def test_with_the_wan_cut_the_branch_takes_its_case_back_and_the_centre_changes_nothing(
    ward: Ward, desk: WardDesk
) -> None:
    branch = ward.branches["demo-town"]
    ticket = to_input(branch)
    case = seen_case(desk, "demo-town", ticket.ticket_id, holder=None)
    assert desk.act("demo-town", messages.WardClaim(ticket_id=ticket.ticket_id, seen_ms=case.updated_ms), "tanaka").ok
    case = seen_case(desk, "demo-town", ticket.ticket_id, holder="ward:tanaka")

    branch.link.cut()
    try:
        # The branch's clerk takes the case back (the centre cannot finish it now anyway).
        clerk = actions.Actor("clerk-2", "clerk", 2)
        taken = branch.office.submit(actions.Claim(request_id=uuid.uuid4().hex, ticket_id=ticket.ticket_id), clerk)
        assert taken.result(10).ok
        # The operator at the centre still sees the old list and finishes: nobody answers.
        late = desk.act("demo-town", messages.WardFinish(ticket_id=ticket.ticket_id, seen_ms=case.updated_ms), "tanaka")
        assert not late.ok and "did not answer" in late.message and late.template == ward_desk.NO_ANSWER
    finally:
        branch.link.restore()
    # Back up: the queued action reaches the branch and is refused; the clerk keeps the case.
    case = seen_case(desk, "demo-town", ticket.ticket_id, holder="clerk-2")
    kept = branch.office.db.ticket(ticket.ticket_id)
    assert kept is not None and kept.holder == "clerk-2" and kept.station == "input"
    log = [(r.kind.value, r.username, r.detail) for r in branch.office.db.ticket_log(ticket.ticket_id)]
    assert ("claimed", "clerk-2", "ward:tanaka") in log
    assert not any(kind == "moved" and user == "ward:tanaka" for kind, user, _ in log)


def test_the_desk_believes_no_cases_document_without_the_branch_key(ward: Ward, desk: WardDesk) -> None:
    branch = ward.branches["branch-b"]
    forger = OfficeSigner(Ed25519PrivateKey.generate())
    fake = messages.WardCases(version=10**9, sent_ms=int(time.time() * 1000), day="2026-12-07", station="input")
    before = desk.stats["forged"]
    # Written with the branch's bridge identity (the one that may write under its prefix): the
    # topic is right, the signature is not the branch office's.
    client = _client(ward, bridge_user("branch-b"))
    try:
        client.publish(
            "ward/branch-b/up/office/ward/cases",
            forger.seal("ward_cases", "branch-b", None, protocol.encode(fake)),
            1,
            retain=False,
        ).wait_for_publish(5)
    finally:
        client.disconnect()
    settle(lambda: desk.stats["forged"] > before, 10, "the forged cases document was not refused")
    b = next(x for x in desk.branches() if x.site == "branch-b")
    assert b.cases is None or b.cases.version != 10**9
    assert branch.office is not None


def _client(ward: Ward, user: str = "ward-desk") -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
    client.username_pw_set(user)
    host, port = ward.url.removeprefix("mqtt://").split(":")
    client.connect(host, int(port))
    client.loop_start()
    return client


def publish_raw(ward: Ward, site: str, body: bytes, times: int, wait_s: float = 5.0) -> list[dict[str, object]]:
    """Publish ``body`` on the branch's action topic at the centre ``times`` times; the answers."""
    answers: list[dict[str, object]] = []
    client = _client(ward)
    request = json.loads(body)["request_id"]

    def on_message(_c: object, _u: object, m: paho.MQTTMessage) -> None:
        doc = json.loads(m.payload)
        if doc.get("request_id") == request:
            answers.append(doc)

    client.on_message = on_message
    try:
        client.subscribe(f"ward/{site}/up/office/ward/reply", 1)[1]
        time.sleep(0.3)
        for _ in range(times):
            client.publish(f"ward/{site}/down/office/ward/action", body, 1).wait_for_publish(5)
            time.sleep(0.3)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and len(answers) < times:
            time.sleep(0.05)
    finally:
        client.disconnect()
        client.loop_stop()
    return answers


# -- the centre's console ---------------------------------------------------------------------------


@pytest.fixture
def centre(ward: Ward, mosquitto: Any, tmp_path: Path) -> Iterator[Console]:
    """The centre's office (its own broker and store) whose console serves the input desk: its
    key is the one the branches pinned, its desk reaches them through the central Mosquitto."""
    keys = {site: branch.office.signer.public_text for site, branch in ward.branches.items()}
    settings = WardSettings(broker=ward.url.replace("mqtt://", "mqtt://ward-desk@"), branch_keys=keys)
    config = msgspec.structs.replace(SITE, site="ward-centre", office_name="区役所 本庁", ward=settings)
    yield from running_console(mosquitto.url, tmp_path / "centre.sqlite3", config=config, signing_key=CENTRE_KEY)


def test_the_centre_s_operator_works_a_branch_case_from_the_console(ward: Ward, centre: Console) -> None:
    branch = ward.branches["branch-b"]
    ticket = to_input(branch)
    operator = centre.sign_in("sato", lang="ja")  # an input centre operator
    deadline = time.monotonic() + 20
    page = operator.get("/ward/input")
    # Both branches have a ticket of this id: the page keys each by its branch.
    key = f'data-case="branch-b:{ticket.ticket_id}"'
    while key not in page.text and time.monotonic() < deadline:
        time.sleep(0.3)
        page = operator.get("/ward/input")
    assert page.status_code == 200 and key in page.text, page.text[-2000:]
    assert "各支所の入力待ち案件" in page.text and "区の集中入力" in page.text
    row = page.text.split(key, 1)[1].split("</tr>", 1)[0]
    seen = re.search(r'name="seen_ms" value="(\d+)"', row)
    assert seen is not None and 'value="claim"' in row, row
    form = {
        "csrf": csrf_of(page.text),
        "site": "branch-b",
        "ticket_id": ticket.ticket_id,
        "seen_ms": seen.group(1),
        "action": "claim",
    }
    origin = {"Origin": centre.url.rstrip("/"), "Accept": "application/json"}
    done = operator.post("/ward/act", data=form, headers=origin)
    assert done.status_code == 200 and done.json()["ok"], done.text
    assert done.json()["message"] == f"{ticket.number}番を担当しています", done.json()
    held = branch.office.db.ticket(ticket.ticket_id)
    assert held is not None and held.holder == "ward:sato"
    # The same form again: the case changed since the page showed it, said in Japanese.
    again = operator.post("/ward/act", data=form, headers=origin)
    assert not again.json()["ok"] and "別の画面" in again.json()["message"], again.json()
    # Without the session's token nothing is sent anywhere.
    forged = operator.post("/ward/act", data={**form, "csrf": "x" * 40}, headers=origin)
    assert forged.status_code == 403


def test_a_clerk_at_the_centre_has_no_input_desk(centre: Console) -> None:
    clerk = centre.sign_in("suzuki", counter=1)
    assert clerk.get("/ward/input").status_code == 403
    page = clerk.get("/counter")
    assert "/ward/input" not in page.text
    refused = clerk.post(
        "/ward/act",
        data={"csrf": csrf_of(page.text), "site": "branch-b", "ticket_id": "x", "seen_ms": "1", "action": "claim"},
        headers={"Origin": centre.url.rstrip("/"), "Accept": "application/json"},
    )
    assert refused.status_code == 403 and not refused.json()["ok"]


def test_a_branch_believes_only_the_centre_s_signed_acknowledgement_of_its_log(ward: Ward) -> None:
    """A forged acknowledgement would make the branch stop resending rows the centre lacks."""
    branch = ward.branches["kita"] if "kita" in ward.branches else ward.branches["branch-b"]
    site = branch.site
    settle(lambda: branch.office.db.last_log_id() >= 2, 30, "the branch has no log rows yet")
    before, forged = branch.office.ward._acked, branch.office.stats["ward_forged"]
    body = protocol.encode(messages.TicketLogAck(upto=2))
    client = _client(ward)
    try:
        client.publish(f"ward/{site}/down/office/log/ack", body, 1).wait_for_publish(5)  # unsigned
        client.publish(
            f"ward/{site}/down/office/log/ack",
            OfficeSigner(Ed25519PrivateKey.generate()).seal("ticket_log_ack", site, None, body),
            1,
        ).wait_for_publish(5)
        settle(lambda: branch.office.stats["ward_forged"] >= forged + 2, 10, "the forged acks were not refused")
        assert branch.office.ward._acked == before
        client.publish(f"ward/{site}/down/office/log/ack", CENTRE.seal("ticket_log_ack", site, None, body), 1)
        settle(lambda: branch.office.ward._acked >= 2, 10, "the centre's signed ack was not taken")
    finally:
        client.disconnect()
