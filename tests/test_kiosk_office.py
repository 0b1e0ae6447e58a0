"""The office's certificate service end to end on a real Mosquitto: a kiosk device agent asks
through kiosk.office_link, a simulated JPKI card signs the office's challenge over the APDU
interface, and the office verifies, refuses or issues (once per request id)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.jpki import JpkiCard
from drivers.jpki_sim import SimulatedCardReader, SimulatedJpkiCa
from harness import SITE, open_store, round_the_clock, start_office
from kiosk.office_link import AgentOffice
from kiosk.ports import OfficeUnavailable
from lobby.brokers import MosquittoBroker
from office.server import OfficeServer
from sync import messages, protocol
from sync.agent import AgentConfig, DeviceAgent

JUMINHYO = {"scope": "household", "with_honseki": False, "with_zokugara": True, "with_my_number": False}


@pytest.fixture(scope="module")
def jpki(tmp_path_factory: pytest.TempPathFactory) -> SimulatedJpkiCa:
    return SimulatedJpkiCa.open(tmp_path_factory.mktemp("jpki"))


@pytest.fixture
def lobby(
    mosquitto: MosquittoBroker, tmp_path: Path, store: Path | str, jpki: SimulatedJpkiCa
) -> Iterator[tuple[OfficeServer, AgentOffice]]:
    """A kiosk and its office, the office on SQLite and then on PostgreSQL (certificates, cash
    and the resident registry in either store)."""
    config = round_the_clock(SITE, jpki_ca=str(jpki.certificate_path))
    office = start_office(mosquitto.url, store, config)
    agent = DeviceAgent(
        AgentConfig(
            site=SITE.site, device_id="kiosk-1", role="kiosk", broker_url=mosquitto.url, data_dir=tmp_path / "kiosk-1"
        )
    )
    link = AgentOffice(agent)
    agent.start()
    try:
        assert _wait(lambda: agent.office_online and agent.connected)
        yield office, link
    finally:
        agent.stop()
        office.stop()


def _wait(check: Any, timeout: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def _rid() -> str:
    return uuid.uuid4().hex


def _sign_in(
    link: AgentOffice,
    jpki: SimulatedJpkiCa,
    serial: str,
    kind: str = "juminhyo",
    options: dict[str, Any] | None = None,
    copies: int = 1,
    *,
    tamper: bool = False,
) -> Any:
    reader = SimulatedCardReader()
    reader.insert(jpki.demo_card(serial))
    card = JpkiCard(reader.connect())
    card.select()
    from drivers.jpki_sim import demo_pin

    assert card.verify_pin(demo_pin(serial)).ok
    challenge = link.challenge(_rid(), 5)
    signature = card.sign(challenge.nonce)
    if tamper:
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    request = messages.AuthenticateRequest(
        request_id=_rid(),
        challenge_id=challenge.challenge_id,
        certificate=card.read_certificate(),
        signature=signature,
        kind=kind,
        options=options if options is not None else JUMINHYO,
        copies=copies,
    )
    reply = link.authenticate(request, 5)
    reader.release()
    return reply


def _issue_request(
    request_id: str, token: str | None, kind: str, options: dict[str, Any], copies: int, paid: int
) -> messages.IssueRequest:
    return messages.IssueRequest(
        request_id=request_id, session_token=token or "", kind=kind, options=options, copies=copies, paid=paid
    )


def test_a_resident_signs_in_pays_and_gets_the_certificate_once(lobby: Any, jpki: SimulatedJpkiCa) -> None:
    office, link = lobby
    auth = _sign_in(link, jpki, "SIM-0001", copies=2)
    assert auth.ok and auth.fee == 600 and auth.session_token
    assert {m.id for m in auth.household} and all(m.name for m in auth.household)
    request_id = _rid()
    first = link.issue(_issue_request(request_id, auth.session_token, "juminhyo", JUMINHYO, 2, 600), 5)
    assert first.ok and first.issue_number and first.certificate is not None
    assert first.certificate["card_serial"] == "SIM-0001"
    # the number names the office (its site id as code): unique across a ward, printed as it is
    assert re.fullmatch(rf"{SITE.site}-\d{{8}}-00001", first.issue_number)
    assert first.certificate["issue_number"] == first.issue_number
    # The reply was lost and the kiosk asks again: the same issuance, never a second one.
    again = link.issue(_issue_request(request_id, auth.session_token, "juminhyo", JUMINHYO, 2, 600), 5)
    assert again.issue_number == first.issue_number
    assert len(office.kiosk.book.issuances(office.kiosk.book.business_day(office.wall_ms()))) == 1
    # A new request on the spent session is refused.
    assert not link.issue(_issue_request(_rid(), auth.session_token, "juminhyo", JUMINHYO, 2, 600), 5).ok


@pytest.mark.parametrize("serial", ["SIM-0003", "SIM-0004", "SIM-0005", "SIM-0007"])
def test_residents_the_kiosk_must_not_serve_are_sent_to_a_counter_before_paying(
    lobby: Any, jpki: SimulatedJpkiCa, serial: str
) -> None:
    _office, link = lobby
    auth = _sign_in(link, jpki, serial)
    assert not auth.ok and auth.refusal == "go_to_counter" and auth.session_token is None and auth.fee is None


def test_a_tampered_signature_is_refused_as_an_invalid_card(lobby: Any, jpki: SimulatedJpkiCa) -> None:
    _office, link = lobby
    auth = _sign_in(link, jpki, "SIM-0001", tamper=True)
    assert not auth.ok and auth.refusal == "card_invalid"


def test_underpaying_is_refused(lobby: Any, jpki: SimulatedJpkiCa) -> None:
    _office, link = lobby
    auth = _sign_in(link, jpki, "SIM-0002", kind="inkan", options={})
    assert auth.ok and auth.fee == 300
    assert link.issue(_issue_request(_rid(), auth.session_token, "inkan", {}, 1, 200), 5).refusal == "not_paid"


def test_cash_reports_reach_the_reconciliation(lobby: Any, jpki: SimulatedJpkiCa) -> None:
    office, link = lobby
    auth = _sign_in(link, jpki, "SIM-0006")
    request_id = _rid()
    issued = link.issue(_issue_request(request_id, auth.session_token, "juminhyo", JUMINHYO, 1, 300), 5)
    assert issued.ok
    record = {
        "key": "s1:7",
        "session": "s1",
        "seq": 7,
        "kind": "fee_kept",
        "at": office.wall_ms(),
        "data": {"amount": 300, "request_id": request_id, "issue_number": issued.issue_number},
    }
    link.report(record)
    link.report(record)  # the runtime reports again at every start: counted once
    link.report(
        {
            "key": "s1:8",
            "session": "s1",
            "seq": 8,
            "kind": "payout_done",
            "at": office.wall_ms(),
            "data": {"requested": 200, "paid": 200, "reason": "change"},
        }
    )  # change is not a refund
    assert link.agent.wait_drained(10)
    day = office.kiosk.book.business_day(office.wall_ms())
    assert _wait(lambda: office.kiosk.book.reconcile(day).balanced)
    totals = office.kiosk.book.reconcile(day).devices
    assert [(t.device_id, t.fee_kept, t.refunds_paid) for t in totals] == [("kiosk-1", 300, 0)]


def test_chosen_members_come_with_the_issue_and_are_checked(lobby: Any, jpki: SimulatedJpkiCa) -> None:
    _office, link = lobby
    members = {**JUMINHYO, "scope": "members", "members": []}
    auth = _sign_in(link, jpki, "SIM-0001", options=members)
    assert auth.ok
    spouse = next(m.id for m in auth.household if "花子" in m.name)
    issued = link.issue(
        _issue_request(_rid(), auth.session_token, "juminhyo", {**members, "members": [spouse]}, 1, 300), 5
    )
    assert issued.ok and issued.certificate is not None
    assert "花子" in str(issued.certificate) and "一郎" not in str(issued.certificate)
    other = _sign_in(link, jpki, "SIM-0002", options=members)
    stranger = link.issue(
        _issue_request(_rid(), other.session_token, "juminhyo", {**members, "members": ["R9999"]}, 1, 300), 5
    )
    assert not stranger.ok


def test_no_answer_when_the_office_is_gone(lobby: Any) -> None:
    office, link = lobby
    office.stop()
    assert _wait(lambda: not link.online())
    with pytest.raises(OfficeUnavailable):
        link.challenge(_rid(), 1)


def test_an_office_without_a_jpki_ca_serves_no_certificates(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    office = start_office(mosquitto.url, tmp_path / "o.sqlite3")
    agent = DeviceAgent(
        AgentConfig(
            site=SITE.site, device_id="kiosk-2", role="kiosk", broker_url=mosquitto.url, data_dir=tmp_path / "k2"
        )
    )
    link = AgentOffice(agent)
    agent.start()
    try:
        assert _wait(lambda: agent.office_online and agent.connected)
        with pytest.raises(OfficeUnavailable, match="no_service"):
            link.challenge(_rid(), 5)
    finally:
        agent.stop()
        office.stop()


def test_the_broker_acl_lets_a_kiosk_ask_and_hear_only_its_own_answers() -> None:
    from office.broker_security import Identity, acl_text

    acl = acl_text("demo-town", [Identity("kiosk-1", "kiosk"), Identity("kiosk-2", "kiosk")])
    block = acl.split("user kiosk-1", 1)[1].split("\n\n", 1)[0]
    assert "topic read madoguchi/v1/demo-town/office/reply/kiosk-1" in block
    assert "topic write madoguchi/v1/demo-town/device/kiosk-1/#" in block
    assert "kiosk-2" not in block


def test_the_daily_kiosk_report_shows_a_fee_the_kiosk_never_reported(
    lobby: Any, jpki: SimulatedJpkiCa, tmp_path: Path
) -> None:
    import subprocess
    import sys

    office, link = lobby
    auth = _sign_in(link, jpki, "SIM-0001")
    assert link.issue(_issue_request(_rid(), auth.session_token, "juminhyo", JUMINHYO, 1, 300), 5).ok
    day = office.kiosk.book.business_day(office.wall_ms())
    db = office.db.path
    run = subprocess.run(
        [sys.executable, "-m", "office.cli", "kiosk-report", "--db", str(db), "--day", day],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "MISMATCHES" in run.stdout and "fee_not_reported" in run.stdout and "kiosk-1" in run.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "office.cli", "kiosk-report", "--db", str(db), "--day", "21/11"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "--day" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize(("closed_weekdays", "expected"), [([0, 1, 2, 3, 4, 5, 6], False), ([], True)])
def test_the_kiosk_knows_its_hours_from_the_office_configuration(
    mosquitto: MosquittoBroker, tmp_path: Path, closed_weekdays: list[int], expected: bool
) -> None:
    # Open round the clock but on the closed weekdays: the answer does not depend on the hour.
    config = round_the_clock(SITE, closed_weekdays=frozenset(closed_weekdays))
    office = start_office(mosquitto.url, tmp_path / "office.sqlite3", config)
    agent = DeviceAgent(
        AgentConfig(
            site=SITE.site, device_id="kiosk-1", role="kiosk", broker_url=mosquitto.url, data_dir=tmp_path / "k"
        )
    )
    link = AgentOffice(agent)
    assert link.in_hours() is None  # nothing heard yet: the hours are unknown
    agent.start()
    try:
        assert _wait(lambda: link.in_hours() is not None), "the office configuration never arrived"
        assert link.in_hours() is expected
    finally:
        agent.stop()
        office.stop()


def test_a_kiosk_voids_only_what_it_issued_itself(
    mosquitto: Any, lobby: Any, jpki: SimulatedJpkiCa, mqtt_client_factory: Any
) -> None:
    office, link = lobby
    auth = _sign_in(link, jpki, "SIM-0001")
    request_id = _rid()
    assert link.issue(_issue_request(request_id, auth.session_token, "juminhyo", JUMINHYO, 1, 300), 5).ok
    forger = mqtt_client_factory(mosquitto)

    def void_from(device: str, seq: int) -> None:
        data = {"type": "kiosk.issue_void", "key": f"{device}:void:{seq}", "request_id": request_id, "reason": "x"}
        record = messages.EventRecord(
            id=f"{device}:{seq}", seq=seq, type="kiosk.issue_void", hlc=f"{seq:013d}-0000-{device}", at=1, data=data
        )
        payload = protocol.encode(messages.EventBatch(device=device, events=(record,)))
        forger.publish(protocol.topic("events", SITE.site, device=device), payload, qos=1).wait_for_publish(5)

    void_from("kiosk-2", 1)  # another kiosk
    assert _wait(lambda: office.db.acked_seq("kiosk-2") == 1)
    issued = office.kiosk.book.issuance(request_id)
    assert issued is not None and issued.voided is None
    (problem,) = office.db.conn.execute("SELECT problem FROM events WHERE id='kiosk-2:1'").fetchone()
    assert problem == f"kiosk.issue_void: {request_id} was issued by kiosk-1, not kiosk-2"
    void_from("disp-9", 1)  # a dispenser: its role sends no kiosk records at all
    assert _wait(lambda: office.db.acked_seq("disp-9") == 1)
    assert office.kiosk.book.issuance(request_id).voided is None
    assert [s["kind"] for s in office.db.suspicious("disp-9")] == ["role"]


def test_a_registry_imported_while_the_office_runs_is_served_at_once(
    lobby: Any, jpki: SimulatedJpkiCa, tmp_path: Path
) -> None:
    """No restart: the next request after the import's commit is answered from the new registry."""
    import dataclasses

    from certificates.registry import Registry, demo_registry
    from office.registry_store import save_registry

    office, link = lobby
    assert _sign_in(link, jpki, "SIM-0001").ok
    demo = demo_registry()
    # the town's import puts 山田 太郎 under support measures (支援措置)
    flagged = dataclasses.replace(demo.residents["R0001"], support_measures=True)
    town = Registry.build(
        demo.municipality,
        [flagged if r.id == "R0001" else r for r in demo.residents.values()],
        demo.households.values(),
        demo.seals.values(),
        demo.family_registers.values(),
        demo.tax_records.values(),
    )
    importer = open_store(office.db.path)
    try:
        save_registry(importer, town)
    finally:
        importer.close()
    refused = _sign_in(link, jpki, "SIM-0001")
    assert not refused.ok and refused.refusal == "go_to_counter" and refused.fee is None
    assert _sign_in(link, jpki, "SIM-0002", kind="inkan", options={}).ok


def test_a_tampered_registry_row_sends_the_card_to_a_counter_and_is_named_in_the_log(
    lobby: Any, jpki: SimulatedJpkiCa, caplog: pytest.LogCaptureFixture
) -> None:
    office, link = lobby
    conn = open_store(office.db.path)
    try:
        conn.execute("UPDATE registry_residents SET birth_date = '1980-13-01' WHERE id = 'R0001'")
    finally:
        conn.close()
    with caplog.at_level("ERROR", logger="office.kiosk_service"):
        auth = _sign_in(link, jpki, "SIM-0001")
    assert not auth.ok and auth.refusal == "go_to_counter" and auth.session_token is None
    assert any("registry_residents R0001.birth_date" in r.getMessage() for r in caplog.records)
    # 花子's household holds that row, so she goes to a counter too; another household is served
    assert not _sign_in(link, jpki, "SIM-0002", kind="inkan", options={}).ok
    assert _sign_in(link, jpki, "SIM-0006").ok
