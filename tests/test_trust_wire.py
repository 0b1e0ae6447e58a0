"""Trust on the wire: well-formed messages the office should not believe, sent with paho to a
real Mosquitto without ACLs (the office's own checks must stop them alone; the broker's ACLs are
tested in test_broker_security.py).

Each test reproduces one finding of the trust-on-the-wire issue: a forgery is refused or kept
aside and shown to staff, and the real devices keep working.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
import pytest

from harness import SITE, has_full_lease, start_dispenser, start_office
from office import staff_view
from office.db import OfficeDB
from office.server import OfficeServer
from sync import messages, protocol

S = SITE.site


@pytest.fixture
def office(mosquitto: Any, tmp_path: Path) -> Iterator[OfficeServer]:
    server = start_office(mosquitto.url, tmp_path / "office.sqlite3")
    try:
        yield server
    finally:
        server.stop()


def publish(client: mqtt.Client, topic: str, payload: bytes, *, retain: bool = False) -> None:
    info = client.publish(topic, payload, qos=1, retain=retain)
    info.wait_for_publish(5)
    assert info.is_published(), topic


def batch(device: str, *events: tuple[int, str, dict[str, Any]], at: int = 1_765_000_000_000) -> bytes:
    records = tuple(
        messages.EventRecord(id=f"{device}:{seq}", seq=seq, type=kind, hlc=f"{at:013d}-0000-{device}", at=at, data=data)
        for seq, kind, data in events
    )
    return protocol.encode(messages.EventBatch(device=device, events=records))


def printer_status(n: int) -> tuple[str, dict[str, Any]]:
    return "printer.status", {"state": "ok", "paper": "ok", "note": f"poll {n}"}


def stats(office: OfficeServer) -> dict[str, int]:
    return dict(office.stats)


# --------------------------------------------------------------------------------------------
# edges
# --------------------------------------------------------------------------------------------


def test_retained_events_requests_and_commands_are_not_replayed_when_the_office_starts(
    mosquitto: Any, mqtt_client_factory: Any, tmp_path: Path, wait_for: Any
) -> None:
    forger = mqtt_client_factory(mosquitto)
    publish(forger, protocol.topic("events", S, device="disp-7"), batch("disp-7", (1, *printer_status(1))), retain=True)
    command = messages.StaffCommand(request_id=uuid.uuid4().hex, command="call next at counter 1")
    publish(forger, protocol.topic("staff_command", S, terminal="desk-9"), protocol.encode(command), retain=True)
    request = messages.ChallengeRequest(request_id=uuid.uuid4().hex)
    publish(forger, protocol.topic("kiosk_request", S, device="kiosk-7"), protocol.encode(request), retain=True)

    for _start in range(2):  # the retained messages stay on the broker: every start ignores them
        office = start_office(mosquitto.url, tmp_path / "office.sqlite3")
        try:
            wait_for(lambda office=office: office.stats["retained_input"] >= 3, message="the retained input was seen")
            assert office.db.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
            assert office.db.staff_reply(command.request_id) is None
            assert office.stats["kiosk_ChallengeRequest"] == 0
        finally:
            office.stop()


def test_an_event_with_a_lone_surrogate_is_refused_and_the_devices_events_go_on(
    office: OfficeServer, mosquitto: Any, mqtt_client_factory: Any, wait_for: Any
) -> None:
    forger = mqtt_client_factory(mosquitto)
    good = batch("disp-7", (1, *printer_status(1)))
    bad = good.replace(b'"poll 1"', b'"poll \\ud800"')
    assert bad != good
    before = office.stats["bad_payloads"]
    publish(forger, protocol.topic("events", S, device="disp-7"), bad)
    publish(forger, protocol.topic("events", S, device="disp-7"), good)
    wait_for(lambda: office.db.acked_seq("disp-7") == 1, message="the good batch after the bad one was applied")
    assert office.stats["bad_payloads"] == before + 1
    (data,) = office.db.conn.execute("SELECT data FROM events WHERE device='disp-7'").fetchone()
    assert "poll 1" in data


# --------------------------------------------------------------------------------------------
# an event id seen before with other content
# --------------------------------------------------------------------------------------------


def test_an_event_id_reused_with_other_content_is_a_conflict_kept_aside_and_shown_to_staff(
    office: OfficeServer, mosquitto: Any, mqtt_client_factory: Any, tmp_path: Path, wait_for: Any
) -> None:
    device = start_dispenser(mosquitto.url, tmp_path / "disp-1", "disp-1")
    try:
        wait_for(lambda: has_full_lease(device), message="the dispenser got its leases")
        issued = [device.dispenser.issue("certificates").ticket for _ in range(3)]
        wait_for(lambda: device.agent.pending_count() == 0, message="the office has the tickets")
        seqs = [
            int(r[0])
            for r in office.db.conn.execute("SELECT seq FROM events WHERE device='disp-1' AND type='ticket.issued'")
        ]
        assert len(seqs) == 3
        # A resend of the same event is a harmless duplicate ...
        stored = office.db.stored_event("disp-1", seqs[0])
        assert stored is not None
        kind, hlc, at, data = stored
        forger = mqtt_client_factory(mosquitto)
        resend = protocol.encode(
            messages.EventBatch(
                device="disp-1",
                events=(
                    messages.EventRecord(id=f"disp-1:{seqs[0]}", seq=seqs[0], type=kind, hlc=hlc, at=at, data=data),
                ),
            )
        )
        duplicates = office.stats["duplicates"]
        publish(forger, protocol.topic("events", S, device="disp-1"), resend)
        wait_for(lambda: office.stats["duplicates"] > duplicates, message="the resend was seen")
        assert office.stats["event_conflicts"] == 0
        # ... the same id with another number is a conflict: kept aside, never applied, shown.
        forged_data = {**data, "number": 9999, "ticket_id": "forged"}
        forged = protocol.encode(
            messages.EventBatch(
                device="disp-1",
                events=(
                    messages.EventRecord(
                        id=f"disp-1:{seqs[0]}", seq=seqs[0], type=kind, hlc=hlc, at=at, data=forged_data
                    ),
                ),
            )
        )
        for _ in range(2):  # sent twice, kept once
            publish(forger, protocol.topic("events", S, device="disp-1"), forged)
        wait_for(lambda: office.stats["event_conflicts"] >= 2, message="the forgery was seen as a conflict")
        kept = office.db.suspicious("disp-1")
        assert [(k["kind"], k["detail"]["event"]["data"]["number"]) for k in kept] == [("conflict", 9999)]
        assert office.db.ticket("forged") is None
        assert sorted(t.number for t in office.db.tickets(issued[0].day)) == sorted(t.number for t in issued)
        view = build_view_now(office)
        alert = next(a for a in view.alerts if a.key == "conflict:disp-1")
        assert alert.severity == "error" and str(alert) == (
            "disp-1: 1 event(s) reused an id with other content; kept aside for review"
        )
        # The dispenser is not disturbed: it goes on issuing, and the office takes its tickets.
        more = device.dispenser.issue("moving").ticket
        wait_for(lambda: office.db.ticket(more.ticket_id) is not None, message="the next ticket arrived")
    finally:
        device.close()


def build_view_now(office: OfficeServer) -> Any:
    """The staff view as the console builds it, from a read-only connection."""
    now = office.wall_ms()
    db = OfficeDB.read_only(office.db.path)
    try:
        return staff_view.build(
            office.config,
            db,
            version=1,
            now_ms=now,
            today=office.business_day(now),
            day_start_ms=office.day_start_ms(now),
            samples=office.staff.service.samples,
            input_station="input",
        )
    finally:
        db.close()


# --------------------------------------------------------------------------------------------
# who a device is: its enrolment or the site file, never its own word
# --------------------------------------------------------------------------------------------


def alert_text(office: OfficeServer, key: str) -> str:
    return next(str(a) for a in build_view_now(office).alerts if a.key == key)


def test_a_dispenser_cannot_write_kiosk_money_records(
    office: OfficeServer, mosquitto: Any, mqtt_client_factory: Any, wait_for: Any
) -> None:
    forger = mqtt_client_factory(mosquitto)
    owed = {"type": "refund_owed", "event_id": "disp-9:cash:1", "amount": 50_000, "at_ms": office.wall_ms()}
    publish(forger, protocol.topic("events", S, device="disp-9"), batch("disp-9", (1, "kiosk.cash", owed)))
    wait_for(lambda: office.db.acked_seq("disp-9") == 1, message="the batch was taken (and acked)")
    assert office.db.conn.execute("SELECT COUNT(*) FROM cert_cash").fetchone()[0] == 0
    (problem,) = office.db.conn.execute("SELECT problem FROM events WHERE id='disp-9:1'").fetchone()
    assert problem == "refused: a dispenser does not send kiosk.cash"
    assert alert_text(office, "role:disp-9") == "disp-9: 1 message(s) its role may not send; refused"


def test_every_event_type_a_role_journals_is_taken_from_that_role(
    office: OfficeServer, mosquitto: Any, mqtt_client_factory: Any, wait_for: Any
) -> None:
    """The role check refuses only what a role never sends: a kiosk's own money records,
    the audit trail of its journal included, are applied and raise nothing."""
    forger = mqtt_client_factory(mosquitto)
    at = office.wall_ms()
    fee = {"type": "refund_paid", "event_id": "kiosk-1:cash:1", "amount": 300, "at_ms": at}
    trail = {"key": "kiosk-1:j:2", "kind": "alert", "session": "s-1", "note": "note_stack_confirmed"}
    payload = batch("kiosk-1", (1, "kiosk.cash", fee), (2, "kiosk.journal", trail), (3, *printer_status(3)))
    publish(forger, protocol.topic("events", S, device="kiosk-1"), payload)
    wait_for(lambda: office.db.acked_seq("kiosk-1") == 3, message="the kiosk's events were taken")
    problems = office.db.conn.execute("SELECT problem FROM events WHERE device='kiosk-1'").fetchall()
    assert [p[0] for p in problems] == [None, None, None]
    assert office.db.suspicious("kiosk-1") == []
    assert [r[0] for r in office.db.conn.execute("SELECT amount FROM cert_cash WHERE device_id='kiosk-1'")] == [300]


def test_a_kiosk_that_says_it_is_a_dispenser_is_leased_nothing(
    office: OfficeServer, mosquitto: Any, mqtt_client_factory: Any, wait_for: Any
) -> None:
    forger = mqtt_client_factory(mosquitto)
    status = messages.DeviceStatus(role="dispenser", state="online", sent_ms=office.wall_ms())
    publish(forger, protocol.topic("device_status", S, device="kiosk-5"), protocol.encode(status))

    def recorded() -> Any:
        return office.db.conn.execute("SELECT role FROM devices WHERE device='kiosk-5'").fetchone()

    wait_for(lambda: recorded() is not None, message="the status was recorded")
    assert office.stats["refused_role"] == 1
    assert office.db.leases(device="kiosk-5") == []
    assert recorded()[0] == "kiosk"
    assert [s["detail"]["claimed_role"] for s in office.db.suspicious("kiosk-5")] == ["dispenser"]


def test_a_device_the_office_does_not_know_is_refused(
    office: OfficeServer, mosquitto: Any, mqtt_client_factory: Any, wait_for: Any
) -> None:
    forger = mqtt_client_factory(mosquitto)
    status = messages.DeviceStatus(role="dispenser", state="online", sent_ms=office.wall_ms())
    publish(forger, protocol.topic("device_status", S, device="stranger"), protocol.encode(status))
    issued = {"ticket_id": "x", "day": office.business_day(), "series": "2", "number": 2500, "category": "certificates"}
    publish(forger, protocol.topic("events", S, device="stranger"), batch("stranger", (1, "ticket.issued", issued)))
    wait_for(lambda: office.stats["refused_unknown"] >= 2, message="both messages were refused")
    assert office.db.leases(device="stranger") == []
    assert office.db.conn.execute("SELECT COUNT(*) FROM events WHERE device='stranger'").fetchone()[0] == 0
    assert office.db.tickets(office.business_day()) == []
    assert office.db.acked_seq("stranger") == 0
    assert {s["kind"] for s in office.db.suspicious("stranger")} == {"unknown"}


def test_marks_beyond_a_dispensers_leases_are_refused(
    office: OfficeServer, mosquitto: Any, mqtt_client_factory: Any, tmp_path: Path, wait_for: Any
) -> None:
    device = start_dispenser(mosquitto.url, tmp_path / "disp-1", "disp-1")
    try:
        wait_for(lambda: has_full_lease(device), message="the dispenser got its leases")
        before = office.db.leases(device="disp-1")
        day = office.business_day()
        forged = messages.DeviceStatus(
            role="dispenser",
            state="online",
            sent_ms=office.wall_ms(),
            marks=(messages.NumberMark(series="2", day=day, last=2999),),
        )
        forger = mqtt_client_factory(mosquitto)
        publish(forger, protocol.topic("device_status", S, device="disp-1"), protocol.encode(forged))
        wait_for(lambda: office.stats["refused_marks"] >= 1, message="the mark was refused")
        assert office.db.leases(device="disp-1") == before  # no block granted on its word
        assert [s["detail"]["mark"]["last"] for s in office.db.suspicious("disp-1")] == [2999]
    finally:
        device.close()


def test_a_ticket_outside_the_dispensers_leases_is_kept_and_flagged_until_its_owner_issues_it(
    office: OfficeServer, mosquitto: Any, mqtt_client_factory: Any, tmp_path: Path, wait_for: Any
) -> None:
    one = start_dispenser(mosquitto.url, tmp_path / "disp-1", "disp-1")
    two = start_dispenser(mosquitto.url, tmp_path / "disp-2", "disp-2")
    try:
        wait_for(lambda: has_full_lease(one) and has_full_lease(two), message="both dispensers got leases")
        day = office.business_day()
        block = min((b for _, b in office.db.leases(series="2", day=day, device="disp-1")), key=lambda b: b.first)
        # disp-2 reports a ticket from disp-1's block (at a far sequence number of its own): the
        # number disp-1 will issue next.
        data = {"ticket_id": "t", "day": day, "series": "2", "number": block.first, "category": "certificates"}
        forger = mqtt_client_factory(mosquitto)
        publish(forger, protocol.topic("events", S, device="disp-2"), batch("disp-2", (900, "ticket.issued", data)))

        def problem() -> Any:
            row = office.db.conn.execute("SELECT problem FROM events WHERE id='disp-2:900'").fetchone()
            return row[0] if row else None

        wait_for(lambda: problem() is not None, message="the ticket was flagged")
        assert office.stats["refused_lease"] == 1
        flagged = [t for t in office.db.tickets(day) if t.number == block.first]
        assert [t.device for t in flagged] == ["disp-2"]  # kept: a resident may hold the paper
        assert problem() == f"number 2-{block.first} of {day} lies in no block leased to disp-2; kept and flagged"
        assert alert_text(office, "lease:disp-2") == "disp-2: 1 ticket(s) numbered outside its leases; kept and flagged"
        # The number's owner issues it: its ticket takes the number, the flagged one stays aside.
        mine = one.dispenser.issue("certificates").ticket
        assert mine.number == block.first
        wait_for(lambda: office.stats["refused_lease"] == 2, message="the flagged ticket was displaced")
        taken = office.db.ticket(mine.ticket_id)
        assert taken is not None and taken.device == "disp-1"
        assert office.stats["number_conflicts"] == 0
        kinds = [(k["kind"], k["ref"].split(":")[0]) for k in office.db.suspicious("disp-2")]
        assert kinds == [("lease", "disp-2"), ("lease", "displaced")]
        # And disp-2's own tickets are untouched and go on arriving.
        own = two.dispenser.issue("certificates").ticket
        wait_for(lambda: office.db.ticket(own.ticket_id) is not None, message="disp-2's real ticket arrived")
    finally:
        one.close()
        two.close()


# --------------------------------------------------------------------------------------------
# time: a live office status 30 h ahead, a wall-clock step
# --------------------------------------------------------------------------------------------


def test_a_forged_office_time_and_a_wall_clock_step_do_not_move_a_dispensers_day(
    office: OfficeServer, mosquitto: Any, mqtt_client_factory: Any, tmp_path: Path, wait_for: Any
) -> None:
    import time as _time

    from sync.agent import AgentConfig, DeviceAgent

    step = [0]  # what the device's wall clock is off by, in ms

    agent = DeviceAgent(
        AgentConfig(site=S, device_id="disp-1", role="dispenser", broker_url=mosquitto.url, data_dir=tmp_path / "d"),
        wall_ms=lambda: int(_time.time() * 1000) + step[0],
    )
    agent.start()
    try:
        wait_for(lambda: agent.clock_confirmed, message="the office confirmed the dispenser's clock")
        before = agent.now_ms()
        tomorrow = office.wall_ms() + 30 * 3600_000
        forged = messages.OfficeStatus(state="online", epoch="forged", session=1, sent_ms=tomorrow)
        forger = mqtt_client_factory(mosquitto)
        publish(forger, protocol.topic("office_status", S), protocol.encode(forged))
        wait_for(lambda: agent.stats["clock_refused"] >= 1, message="the forged time was seen")
        assert abs(agent.now_ms() - office.wall_ms()) < 5_000
        step[0] = 2 * 86_400_000  # the wall clock jumps two days
        assert abs(agent.now_ms() - office.wall_ms()) < 5_000
        assert agent.now_ms() >= before
    finally:
        agent.stop()


def test_a_forged_ack_beyond_what_the_device_wrote_is_refused_and_sync_finishes(
    mosquitto: Any, mqtt_client_factory: Any, tmp_path: Path, wait_for: Any
) -> None:
    # The office is down: the dispenser journals; a forger acks far beyond its events.
    device = start_dispenser(mosquitto.url, tmp_path / "disp-1", "disp-1")
    office = None
    try:
        for n in range(12):
            device.agent.record(messages.PrinterStatusChanged(paper_near_end=n % 2 == 0))
        forger = mqtt_client_factory(mosquitto)
        publish(forger, protocol.topic("ack", S, device="disp-1"), protocol.encode(messages.Ack(acked=5000)))
        wait_for(lambda: device.agent.stats["ack_refused"] >= 1, message="the forged ack arrived")
        assert device.agent.pending_count() == 12  # nothing pruned
        office = start_office(mosquitto.url, tmp_path / "office.sqlite3")
        wait_for(lambda: device.agent.pending_count() == 0, message="every event reached the office")
        assert office.db.acked_seq("disp-1") == 12
    finally:
        device.close()
        if office is not None:
            office.stop()


# --------------------------------------------------------------------------------------------
# devices believe only the office: its signatures
# --------------------------------------------------------------------------------------------


def test_a_pinned_dispenser_acts_on_nothing_the_office_did_not_sign(
    office: OfficeServer, mosquitto: Any, mqtt_client_factory: Any, tmp_path: Path, wait_for: Any
) -> None:
    """Forged acks, leases and configurations with versions of 2^53, a status from tomorrow and
    a real signed ack replayed to another dispenser: the two dispensers that pinned the office's
    key ignore every one and keep working; a third that pinned nothing is the control, showing
    each forgery would have done its damage."""
    key = office.signer.public_text
    one = start_dispenser(mosquitto.url, tmp_path / "disp-1", "disp-1", office_key=key)
    two = start_dispenser(mosquitto.url, tmp_path / "disp-2", "disp-2", office_key=key)
    control = start_dispenser(mosquitto.url, tmp_path / "disp-3", "disp-3")
    devices = (one, two, control)
    open_devices = list(devices)
    try:
        wait_for(lambda: all(has_full_lease(d) for d in devices), message="the three dispensers got leases")
        assert one.agent.verifier is not None and control.agent.verifier is None
        for n in range(3):
            one.agent.record(messages.PrinterStatusChanged(paper_near_end=n % 2 == 0))
        wait_for(lambda: one.agent.pending_count() == 0, message="disp-1's events acknowledged")
        real = {
            d.agent.config.device_id: (d.agent.document("lease"), d.agent.document("office_config")) for d in devices
        }
        # A real, signed ack of disp-1, caught on the wire to replay it for disp-2.
        caught: list[bytes] = []
        spy = mqtt_client_factory(mosquitto, on_message=lambda _c, _u, m: caught.append(m.payload))
        spy.subscribe(protocol.topic("ack", S, device="disp-1"), qos=1)
        wait_for(lambda: bool(caught), message="the retained signed ack of disp-1 was caught")
        assert caught[0].endswith(b'"}') and b'"sig":"' in caught[0]
        two_before = two.agent.stats["ack_refused"]

        forger = mqtt_client_factory(mosquitto)
        top = 2**53
        config = real["disp-1"][1]
        assert config is not None
        publish(
            forger,
            protocol.topic("office_config", S),
            protocol.encode(msgspec.structs.replace(config, version=top, categories=())),
            retain=True,
        )
        for device_id, (lease, _config) in real.items():
            assert lease is not None
            stolen = tuple(msgspec.structs.replace(b, first=1, last=9999) for b in lease.blocks)
            forged_lease = msgspec.structs.replace(lease, version=top, blocks=stolen)
            publish(forger, protocol.topic("lease", S, device=device_id), protocol.encode(forged_lease), retain=True)
        tomorrow = office.wall_ms() + 30 * 3600_000
        status = messages.OfficeStatus(state="online", epoch="forged", session=1, sent_ms=tomorrow)
        publish(forger, protocol.topic("office_status", S), protocol.encode(status))
        publish(forger, protocol.topic("ack", S, device="disp-1"), protocol.encode(messages.Ack(acked=5000)))
        publish(forger, protocol.topic("ack", S, device="disp-2"), caught[0])  # disp-1's, signed

        # The control believed the forged documents: that is the damage a pin prevents.
        wait_for(
            lambda: (
                getattr(control.agent.document("lease"), "version", 0) == top
                and getattr(control.agent.document("office_config"), "version", 0) == top
            ),
            message="the unpinned control took the forged versions",
        )
        wait_for(lambda: one.agent.stats["signature_refused"] >= 4, message="disp-1 refused config, lease, status, ack")
        wait_for(lambda: two.agent.stats["signature_refused"] >= 4, message="disp-2 refused config, lease, status, ack")
        for device in (one, two):
            lease, config = real[device.agent.config.device_id]
            assert device.agent.document("lease") == lease
            assert device.agent.document("office_config") == config
            assert abs(device.agent.now_ms() - office.wall_ms()) < 5_000
        assert two.agent.stats["ack_refused"] == two_before  # the replayed ack never reached it
        assert one.agent.outbox.last_seq == 3 and one.agent.stats["ack_refused"] == 0

        # Both keep issuing from their real blocks and sync to the end.
        issued = [d.dispenser.issue("certificates").ticket for d in (one, two) for _ in range(5)]
        wait_for(lambda: one.agent.pending_count() == 0 and two.agent.pending_count() == 0, message="both synced")
        for ticket in issued:
            at_office = office.db.ticket(ticket.ticket_id)
            assert at_office is not None and (at_office.series, at_office.number) == (ticket.series, ticket.number)

        # The pin outlives a restart without the key on the command line; the forged retained
        # documents arrive again and are refused again.
        one.close()
        open_devices.remove(one)
        again = start_dispenser(mosquitto.url, tmp_path / "disp-1", "disp-1")
        try:
            assert again.agent.verifier is not None and again.agent.verifier.public_text == key
            wait_for(lambda: again.agent.stats["signature_refused"] >= 2, message="retained forgeries refused again")
            assert again.agent.document("lease") == real["disp-1"][0]
            assert again.dispenser.issue("moving").ticket.number > 0
        finally:
            again.close()
    finally:
        for device in open_devices:
            device.close()


def test_signed_documents_keep_working_across_a_mosquitto_bridge(
    office: OfficeServer, mosquitto: Any, tmp_path: Path, wait_for: Any
) -> None:
    """A branch's broker bridged to the office's: the pinned dispenser behind the bridge
    verifies everything the office signed and syncs as if it were local."""
    from lobby.brokers import MosquittoBroker, free_port

    port = free_port()
    branch = MosquittoBroker(
        tmp_path / "branch",
        port=port,
        extra_conf=(
            "connection to-office\n"
            f"address 127.0.0.1:{mosquitto.port}\n"
            "topic madoguchi/v1/# both 1\n"
            "cleansession false\n"
            "restart_timeout 1 5\n"
        ),
    )
    branch.start()
    device = None
    try:
        device = start_dispenser(branch.url, tmp_path / "disp-1", "disp-1", office_key=office.signer.public_text)
        wait_for(lambda: has_full_lease(device), timeout=30, message="leased across the bridge")
        tickets = [device.dispenser.issue("certificates").ticket for _ in range(10)]
        wait_for(lambda: device.agent.pending_count() == 0, timeout=30, message="synced across the bridge")
        assert all(office.db.ticket(t.ticket_id) is not None for t in tickets)
        assert device.agent.stats["signature_refused"] == 0
        assert device.agent.stats["acks"] >= 1 and device.agent.clock_confirmed
    finally:
        if device is not None:
            device.close()
        branch.stop()


# --------------------------------------------------------------------------------------------
# a full disk
# --------------------------------------------------------------------------------------------


def test_a_dispenser_on_a_full_disk_stops_with_one_line_and_status_2(
    office: OfficeServer, mosquitto: Any, tmp_path: Path
) -> None:
    import resource
    import subprocess
    import sys

    data = tmp_path / "disp-1"
    common = ["--broker", mosquitto.url, "--device-id", "disp-1", "--data", str(data)]
    # First a working start: the dispenser has its configuration and leases on disk.
    ok = subprocess.run(
        [sys.executable, "-m", "ticket_dispenser.cli", "sync", *common, "--timeout", "20"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr

    def disk_full() -> None:
        # No file may grow any more (EFBIG, the same failed write as ENOSPC to the store; it
        # needs no privilege to arrange, unlike a small filesystem).
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    full = subprocess.run(
        [sys.executable, "-m", "ticket_dispenser.cli", "run", *common, "--auto", "certificates", "--count", "3"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=disk_full,
    )
    assert full.returncode == 2, (full.stdout, full.stderr)
    lines = full.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("madoguchi-dispenser: "), full.stderr
    assert "Traceback" not in full.stderr and "cannot write" in lines[0], full.stderr


# --------------------------------------------------------------------------------------------
# a forged-message fuzz while two dispensers issue
# --------------------------------------------------------------------------------------------


def test_forged_messages_from_wrong_senders_lose_and_double_nothing(
    office: OfficeServer, mosquitto: Any, mqtt_client_factory: Any, tmp_path: Path, wait_for: Any
) -> None:
    """Random well-formed messages on the office's topics, sent as devices that are not the two
    dispensers at work (another dispenser, a kiosk, a board, strangers): wrong roles, numbers
    from the real dispensers' blocks, marks far beyond any lease, wrong times, reused ids. The
    two dispensers' every ticket reaches the office exactly once and both sync to the end.

    And documents posing as the office's - acks, leases, voids, configurations, snapshots and
    statuses with random versions, numbers and times, some of them real signed documents
    replayed to the other dispenser: both dispensers pinned the office's key and act on none.

    Events on the real dispensers' own topics are the broker ACL's to stop (a device's
    certificate names it; test_broker_security.py)."""
    import random
    import threading

    rng = random.Random(20261206)
    key = office.signer.public_text
    one = start_dispenser(mosquitto.url, tmp_path / "disp-1", "disp-1", office_key=key)
    two = start_dispenser(mosquitto.url, tmp_path / "disp-2", "disp-2", office_key=key)
    caught: list[tuple[str, bytes]] = []  # real signed documents, to replay elsewhere
    spy = mqtt_client_factory(mosquitto, on_message=lambda _c, _u, m: caught.append((m.topic, m.payload)))
    spy.subscribe(f"{protocol.ROOT}/{S}/office/#", qos=1)
    forger = mqtt_client_factory(mosquitto)
    stop = threading.Event()
    sent = [0]
    try:
        wait_for(lambda: has_full_lease(one) and has_full_lease(two), message="both dispensers got leases")
        day = office.business_day()
        blocks = [b for _, b in office.db.leases(day=day)]
        senders = ["disp-9", "kiosk-1", "board-1", "stranger", "kiosk-7"]
        seqs = dict.fromkeys(senders, 0)

        def forged_event(sender: str) -> tuple[int, str, dict[str, Any]]:
            seqs[sender] += 1
            seq = seqs[sender] if rng.random() < 0.8 else rng.randint(1, seqs[sender])  # reused ids
            block = rng.choice(blocks)
            kind = rng.choice(["ticket.issued", "kiosk.cash", "kiosk.issue_void", "printer.status", "ticket.reprinted"])
            data: dict[str, Any]
            if kind == "ticket.issued":
                number = rng.choice([block.first, block.last, rng.randint(block.first, block.last), 9999])
                series = block.series if number != 9999 else "9"
                data = {"ticket_id": "x", "day": day, "series": series, "number": number, "category": "certificates"}
            elif kind == "kiosk.cash":
                data = {"type": "refund_owed", "event_id": f"{sender}:c:{seq}", "amount": 50_000, "at_ms": 1}
            elif kind == "kiosk.issue_void":
                data = {"key": f"{sender}:v:{seq}", "request_id": uuid.uuid4().hex, "reason": "x"}
            elif kind == "printer.status":
                data = {"fault": rng.choice([None, "paper_out"]), "paper_near_end": rng.random() < 0.5}
            else:
                data = {"ticket_id": f"{day}-2-{block.first}"}
            return seq, kind, data

        def forged_document() -> tuple[str, bytes, bool]:
            """A document on an office topic: made up, or a real one replayed to the other."""
            target = rng.choice(["disp-1", "disp-2"])
            if caught and rng.random() < 0.3:
                topic_, payload = rng.choice(caught)
                other = "disp-2" if topic_.endswith("/disp-1") else "disp-1"
                return topic_.rsplit("/", 1)[0] + "/" + other, payload, rng.random() < 0.5
            version = rng.choice([0, 1, 2**31, 2**53])
            when = office.wall_ms() + rng.choice([-86_400_000, 0, 30 * 3600_000])
            kind = rng.choice(["ack", "lease", "voids", "config", "status", "queue"])
            block = rng.choice(blocks)
            doc: messages.Payload
            if kind == "ack":
                doc = messages.Ack(acked=rng.choice([1, 50, 5000, 10_000_000]), sent_ms=when)
            elif kind == "lease":
                stolen = messages.LeaseBlock(series=block.series, day=day, first=1, last=rng.choice([block.last, 9999]))
                doc = messages.Lease(version=version, sent_ms=when, blocks=(stolen,))
            elif kind == "voids":
                doc = messages.Voids(version=version, sent_ms=when, day=day, tickets=(f"{day}-{block.series}-1",))
            elif kind == "config":
                config = one.agent.document("office_config")
                assert config is not None
                doc = msgspec.structs.replace(config, version=version, sent_ms=when, categories=())
            elif kind == "status":
                state = rng.choice(["online", "offline"])
                doc = messages.OfficeStatus(state=state, epoch="forged", session=rng.randint(1, 9), sent_ms=when)
            else:
                snapshot = one.agent.document("queue_snapshot")
                assert snapshot is not None
                doc = msgspec.structs.replace(snapshot, version=version, sent_ms=when)
            return protocol.topic(doc.topic, S, device=target), protocol.encode(doc), rng.random() < 0.3

        failed: list[BaseException] = []

        def forge() -> None:
            try:
                forge_until_stopped()
            except Exception as err:  # the test fails on it, not only a warning
                failed.append(err)
                raise

        def forge_until_stopped() -> None:
            while not stop.is_set():
                sender = rng.choice(senders)
                roll = rng.random()
                if roll < 0.3:
                    topic_, payload, retain = forged_document()
                    publish(forger, topic_, payload, retain=retain)
                elif roll < 0.6:
                    payload = batch(
                        sender, *(forged_event(sender) for _ in range(rng.randint(1, 5))), at=rng.randint(1, 2**41)
                    )
                    publish(forger, protocol.topic("events", S, device=sender), payload)
                elif roll < 0.85:
                    marks = tuple(
                        messages.NumberMark(series=b.series, day=day, last=rng.choice([b.last, 2999, 9999]))
                        for b in rng.sample(blocks, k=min(3, len(blocks)))
                    )
                    status = messages.DeviceStatus(
                        state="online",
                        role=rng.choice(["dispenser", "kiosk", "board", ""]),
                        sent_ms=rng.randint(1, 2**41),
                        marks=marks,
                    )
                    publish(forger, protocol.topic("device_status", S, device=sender), protocol.encode(status))
                else:
                    request = messages.ChallengeRequest(request_id=uuid.uuid4().hex)
                    publish(forger, protocol.topic("kiosk_request", S, device=sender), protocol.encode(request))
                sent[0] += 1

        thread = threading.Thread(target=forge, daemon=True)
        thread.start()
        issued = []
        purposes = ["certificates", "moving", "tax", "family_register"]
        for i in range(60):
            for device in (one, two):
                issued.append((device.agent.config.device_id, device.dispenser.issue(purposes[i % 4]).ticket))
        wait_for(lambda: sent[0] >= 300 or failed, timeout=60, message="the forger sent its share")
        assert not failed, failed
        stop.set()
        thread.join(10)
        wait_for(
            lambda: one.agent.pending_count() == 0 and two.agent.pending_count() == 0,
            timeout=60,
            message="both dispensers synced to the end",
        )
        for device_id, ticket in issued:
            at_office = office.db.ticket(ticket.ticket_id)
            assert at_office is not None, ticket.ticket_id
            assert at_office.device == device_id, (ticket.ticket_id, at_office.device)
        ids = [t.ticket_id for _, t in issued]
        assert len(ids) == len(set(ids))  # numbers unique
        # The real dispensers' events all applied without a problem; forged numbers that were
        # taken already are the forgers' problems (counted as number conflicts), never theirs.
        real_problems = office.db.conn.execute(
            "SELECT COUNT(*) FROM events WHERE device IN ('disp-1', 'disp-2') AND problem IS NOT NULL"
        ).fetchone()[0]
        assert real_problems == 0
        assert office.stats["loop_errors"] == 0
        # Money records only from what the site calls kiosks (one posing as a kiosk is the
        # broker's ACL's to stop: its certificate names it).
        cash_from = {r[0] for r in office.db.conn.execute("SELECT DISTINCT device_id FROM cert_cash")}
        assert cash_from <= {"kiosk-1", "kiosk-7"}, cash_from
        assert not office.db.leases(device="stranger") and not office.db.leases(device="kiosk-1")
        # Nothing posing as the office moved them: refused, counted, their real documents kept.
        for device in (one, two):
            assert device.agent.stats["signature_refused"] > 10, device.agent.stats
            assert device.agent.stats["ack_refused"] == 0  # no forged ack got as far as the outbox
            lease = device.agent.document("lease")
            assert lease is not None and lease.version < 2**31
            config = device.agent.document("office_config")
            assert config is not None and config.categories and config.version < 2**31
            assert abs(device.agent.now_ms() - office.wall_ms()) < 5_000
    finally:
        stop.set()
        one.close()
        two.close()
