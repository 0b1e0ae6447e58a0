"""Bad input never crashes anything and never costs a ticket.

* Malformed MQTT payloads on every topic the office and a dispenser subscribe to (a real
  Mosquitto, an in-process office and dispenser, a raw paho client to inject): each one is
  counted once in ``bad_payloads``, nothing else changes, and tickets keep flowing.
* Bad command lines and site files given to the real console entry points: exit status 2 and
  one line on stderr that names the culprit, never a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from harness import SITE, Device, env, has_full_lease, office_rows, start_dispenser, start_office
from office.server import OfficeServer
from sync import messages, protocol
from sync.agent import AgentConfig, DeviceAgent
from sync.protocol import MAX_PAYLOAD_BYTES, parse_topic, topic

DEVICE = "disp-d1"
BIG_VERSION = 10**9  # a stored document would be replaced by this version if a bad one got through


def j(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


OVERSIZED = b'{"v":1,"pad":"' + b"x" * MAX_PAYLOAD_BYTES + b'"}'
# Bad on every topic: not a payload at all, or not this protocol version, or too big.
COMMON_BAD = [b"", b"not json", b"\xff\xfe\xfd{}", b"[1,2,3]", j({"v": 2}), OVERSIZED]


def event(device: str, seq: int, data: dict[str, Any], type: str = "ticket.issued") -> dict[str, Any]:
    return {
        "id": f"{device}:{seq}",
        "seq": seq,
        "type": type,
        "hlc": f"{1_795_219_200_000 + seq:013d}-000000",
        "at": 1_795_219_200_000 + seq,
        "data": data,
    }


# Per topic the office subscribes to: a valid v with a required field missing, mistyped fields.
OFFICE_SPECIFIC: dict[str, list[bytes]] = {
    "events": [
        j({"v": 1, "device": DEVICE}),
        j({"v": 1, "events": []}),
        j({"v": 1, "device": DEVICE, "events": "x"}),
        j({"v": 1, "device": DEVICE, "events": [event(DEVICE, 99, {}) | {"seq": -1}]}),
        j({"v": 1, "device": DEVICE, "events": [event(DEVICE, 99, {}) | {"data": "x"}]}),
        # a well-formed batch for another device, published on d1's topic
        j(
            {
                "v": 1,
                "device": "disp-d2",
                "events": [
                    event(
                        "disp-d2", 1, {"day": "2026-11-21", "series": "2", "number": 2999, "category": "certificates"}
                    )
                ],
            }
        ),
    ],
    "device_status": [
        j({"v": 1, "role": "dispenser"}),
        j({"v": 1, "state": "sleeping", "role": "dispenser"}),
        j({"v": 1, "state": "online", "role": "dispenser", "clock_confirmed": "yes"}),
    ],
    "staff_command": [
        j({"v": 1, "request_id": "r1"}),
        j({"v": 1, "request_id": "r2", "command": 7}),
        j({"v": 1, "request_id": ["r3"], "command": "void 1001"}),
    ],
}

# Per topic a dispenser subscribes to. Versions are huge on purpose: were one of these taken,
# it would replace the stored document and the test would see it.
DEVICE_SPECIFIC: dict[str, list[bytes]] = {
    "office_status": [
        j({"v": 1, "epoch": "e"}),
        j({"v": 1, "state": "online", "epoch": 5}),
        j({"v": 1, "state": "asleep", "epoch": "e"}),
    ],
    "office_config": [
        j({"v": 1, "version": BIG_VERSION, "sent_ms": 1, "stations": []}),
        j({"v": 1, "version": str(BIG_VERSION), "sent_ms": 1, "stations": [], "categories": []}),
        j({"v": 1, "version": BIG_VERSION, "sent_ms": 1, "stations": [], "categories": [{"code": "x", "series": "1"}]}),
    ],
    "queue_snapshot": [
        j({"v": 1, "version": BIG_VERSION, "sent_ms": 1}),
        j({"v": 1, "version": BIG_VERSION, "sent_ms": 1, "categories": [{"code": "moving", "waiting": -3}]}),
    ],
    "board_snapshot": [
        j({"v": 1, "version": BIG_VERSION, "sent_ms": 1, "lines": []}),
        j({"v": 1, "version": BIG_VERSION, "sent_ms": 1, "lines": "x", "calls": []}),
    ],
    "ack": [
        j({"v": 1, "sent_ms": 1}),
        j({"v": 1, "acked": "7"}),
        j({"v": 1, "acked": -1}),
        j({"v": 1, "acked": 7.0}),
    ],
    "lease": [
        j({"v": 1, "version": BIG_VERSION}),
        j({"v": 1, "version": BIG_VERSION, "blocks": [{"series": "2", "day": "2026-11-21", "first": "1", "last": 5}]}),
        j({"v": 1, "version": -1, "blocks": []}),
    ],
}


def _publish_all(client: Any, messages: list[tuple[str, bytes]]) -> None:
    for name, payload in messages:
        info = client.publish(name, payload, qos=1, retain=False)
        info.wait_for_publish(10)
        assert info.is_published(), name


def _issue_and_sync(disp: Device, wait_for: Any, category: str) -> str:
    ticket = disp.dispenser.issue(category).ticket
    wait_for(lambda: disp.agent.pending_count() == 0, message=f"office acked {ticket.ticket_id}")
    return ticket.ticket_id


def _office_lease_version(office: OfficeServer, device: str) -> int | None:
    rows = office_rows(office.db.path, "SELECT value FROM meta WHERE key=?", f"version:lease:{device}")
    return int(str(rows[0][0])) if rows else None


def test_malformed_payloads_on_every_subscribed_topic_are_counted_and_harmless(
    mosquitto, mqtt_client_factory, tmp_path: Path, wait_for
) -> None:
    office = start_office(mosquitto.url, tmp_path / "office.sqlite3")
    disp = start_dispenser(mosquitto.url, tmp_path / DEVICE, DEVICE)
    # A board too: each role subscribes to the documents it uses, and together they hear every
    # topic a device can subscribe to (the board snapshot included).
    board = DeviceAgent(
        AgentConfig(
            site=SITE.site, device_id="board-1", role="board", broker_url=mosquitto.url, data_dir=tmp_path / "board-1"
        )
    )
    board.start()
    try:
        wait_for(lambda: has_full_lease(disp), message="dispenser got config and leases")
        wait_for(
            lambda: board.document("board_snapshot") is not None and board.office_online, message="board subscribed"
        )
        first = _issue_and_sync(disp, wait_for, "certificates")
        # Settled: the lease the dispenser holds is the last one the office published.
        wait_for(
            lambda: _office_lease_version(office, DEVICE) == disp.agent.state.version_of("lease"),
            message="dispenser holds the office's latest lease",
        )
        lease_before = disp.agent.document("lease")
        config_before = disp.agent.document("office_config")
        versions_before = {name: disp.agent.state.version_of(name) for name in ("lease", "office_config")}
        office_bad, agent_bad = office.stats["bad_payloads"], disp.agent.stats["bad_payloads"]
        board_bad = board.stats["bad_payloads"]
        assert disp.agent.office_online

        to_office: list[tuple[str, bytes]] = []
        for name, terminal in (("events", None), ("device_status", None), ("staff_command", "t1")):
            where = topic(name, SITE.site, device=DEVICE, terminal=terminal or "+")
            to_office += [(where, p) for p in COMMON_BAD + OFFICE_SPECIFIC[name]]
        # a topic the office's wildcard subscription matches, with a device id that is not one
        good_batch = j({"v": 1, "device": "-bad", "events": []})
        to_office.append((f"madoguchi/v1/{SITE.site}/device/-bad/events", good_batch))

        to_device: list[tuple[str, bytes]] = []
        for name, specific in DEVICE_SPECIFIC.items():
            where = topic(name, SITE.site, device=DEVICE)
            to_device += [(where, p) for p in COMMON_BAD + specific]

        def heard_by(agent: DeviceAgent) -> int:
            names = {"office_status", "ack", *agent.documents}
            count = 0
            for where, _ in to_device:
                parsed = parse_topic(where)
                if parsed.name in names and parsed.device in (None, agent.config.device_id):
                    count += 1
            return count

        disp_hears, board_hears = heard_by(disp.agent), heard_by(board)
        assert disp_hears + sum(1 for w, _ in to_device if parse_topic(w).name == "board_snapshot") == len(to_device)
        assert board_hears > 0

        raw = mqtt_client_factory(mosquitto)
        _publish_all(raw, to_office + to_device)

        wait_for(
            lambda: office.stats["bad_payloads"] >= office_bad + len(to_office),
            message=f"office counted {len(to_office)} bad payloads (has {office.stats['bad_payloads'] - office_bad})",
        )
        wait_for(
            lambda: disp.agent.stats["bad_payloads"] >= agent_bad + disp_hears,
            message=f"agent counted {disp_hears} bad payloads (has {disp.agent.stats['bad_payloads'] - agent_bad})",
        )
        wait_for(
            lambda: board.stats["bad_payloads"] >= board_bad + board_hears,
            message=f"board counted {board_hears} bad payloads (has {board.stats['bad_payloads'] - board_bad})",
        )

        second = _issue_and_sync(disp, wait_for, "moving")

        # Exactly one count per bad message, each on the side it was sent to.
        assert office.stats["bad_payloads"] - office_bad == len(to_office)
        assert disp.agent.stats["bad_payloads"] - agent_bad == disp_hears
        assert board.stats["bad_payloads"] - board_bad == board_hears
        assert board.stats["worker_errors"] == 0
        assert office.stats["loop_errors"] == 0
        assert disp.agent.stats["worker_errors"] == 0
        # Nothing lost, nothing taken from the bad messages.
        tickets = {t for (t,) in office_rows(office.db.path, "SELECT ticket_id FROM tickets")}
        assert tickets == {first, second}
        assert office_rows(office.db.path, "SELECT device, COUNT(*) FROM events GROUP BY device") == [(DEVICE, 2)]
        assert office_rows(office.db.path, "SELECT COUNT(*) FROM staff_requests") == [(0,)]
        assert [d for (d,) in office_rows(office.db.path, "SELECT device FROM devices")] == ["board-1", DEVICE]
        assert disp.agent.document("lease") == lease_before
        assert disp.agent.document("office_config") == config_before
        assert {name: disp.agent.state.version_of(name) for name in ("lease", "office_config")} == versions_before
        assert disp.agent.office_online
        assert disp.agent.pending_count() == 0
        assert disp.agent.outbox.acked_seq == disp.agent.outbox.last_seq == 2
    finally:
        board.stop()
        disp.close()
        office.stop()


# --------------------------------------------------------------------------------------------
# events the office stores but cannot apply
# --------------------------------------------------------------------------------------------


class AckWatcher:
    """A raw client's view of one device's retained ack topic."""

    def __init__(self, mqtt_client_factory: Any, broker: Any, device: str) -> None:
        self.acked = 0
        self.client = mqtt_client_factory(broker, on_message=self._on_message)
        self.client.subscribe(topic("ack", SITE.site, device=device), qos=1)

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        self.acked = max(self.acked, int(json.loads(message.payload)["acked"]))


def _leased_first(office: OfficeServer, client: Any, device: str, wait_for: Any) -> int:
    """The first number of a series-2 block the office leased to ``device`` (it says it is
    online, as a dispenser does): a ticket it reports is then within its own lease."""
    status = protocol.encode(messages.DeviceStatus(state="online", role="dispenser"))
    client.publish(topic("device_status", SITE.site, device=device), status, qos=1).wait_for_publish(5)

    def first() -> int | None:
        blocks = [b for _, b in office.db.leases(series="2", day=office.business_day(), device=device)]
        return min(b.first for b in blocks) if blocks else None

    wait_for(lambda: first() is not None, message=f"the office leased {device} a block")
    found = first()
    assert found is not None
    return found


def _ticket_data(office: OfficeServer, number: Any) -> dict[str, Any]:
    return {
        "ticket_id": f"{office.business_day()}-2-{number}",
        "day": office.business_day(),
        "series": "2",
        "number": number,
        "category": "certificates",
        "route": ["reception", "issuing", "done"],
        "procedures": [],
        "clock_confirmed": True,
    }


def test_an_event_the_office_cannot_apply_is_stored_with_its_problem_and_does_not_block(
    mosquitto, mqtt_client_factory, tmp_path: Path, wait_for
) -> None:
    office = start_office(mosquitto.url, tmp_path / "office.sqlite3")
    try:
        acks = AckWatcher(mqtt_client_factory, mosquitto, "disp-rogue")
        where = topic("events", SITE.site, device="disp-rogue")
        first = _leased_first(office, acks.client, "disp-rogue", wait_for)
        no_number = {k: v for k, v in _ticket_data(office, first).items() if k != "number"}
        good = _ticket_data(office, first + 1)
        _publish_all(
            acks.client,
            [
                (where, j({"v": 1, "device": "disp-rogue", "events": [event("disp-rogue", 1, no_number)]})),
                (where, j({"v": 1, "device": "disp-rogue", "events": [event("disp-rogue", 2, good)]})),
            ],
        )
        wait_for(lambda: acks.acked == 2, message="office acked both rogue events")

        rows = office_rows(office.db.path, "SELECT id, problem FROM events WHERE device='disp-rogue' ORDER BY seq")
        assert [r[0] for r in rows] == ["disp-rogue:1", "disp-rogue:2"]
        assert rows[0][1] is not None and "number" in str(rows[0][1])
        assert rows[1][1] is None
        assert office_rows(office.db.path, "SELECT ticket_id, device FROM tickets") == [
            (good["ticket_id"], "disp-rogue")
        ]
        assert office.stats["event_problems"] == 1
        assert office.stats["bad_payloads"] == 0
        assert office.stats["loop_errors"] == 0
    finally:
        office.stop()


@pytest.mark.parametrize("number", [10**20, 1e300], ids=["int-beyond-64-bit", "huge-float"])
def test_an_event_with_an_unstorable_number_does_not_block_the_device(
    number: Any, mosquitto, mqtt_client_factory, tmp_path: Path, wait_for
) -> None:
    office = start_office(mosquitto.url, tmp_path / "office.sqlite3")
    try:
        acks = AckWatcher(mqtt_client_factory, mosquitto, "disp-rogue")
        where = topic("events", SITE.site, device="disp-rogue")
        first = _leased_first(office, acks.client, "disp-rogue", wait_for)
        _publish_all(
            acks.client,
            [
                (
                    where,
                    j(
                        {
                            "v": 1,
                            "device": "disp-rogue",
                            "events": [event("disp-rogue", 1, _ticket_data(office, number))],
                        }
                    ),
                ),
                (
                    where,
                    j(
                        {
                            "v": 1,
                            "device": "disp-rogue",
                            "events": [event("disp-rogue", 2, _ticket_data(office, first + 1))],
                        }
                    ),
                ),
            ],
        )
        wait_for(lambda: acks.acked == 2 or office.stats["loop_errors"] > 0, message="office answered")
        assert office.stats["loop_errors"] == 0
        wait_for(lambda: acks.acked == 2, message="office acked both rogue events")
        assert office.stats["event_problems"] == 1
    finally:
        office.stop()


def test_an_event_batch_that_is_not_json_is_a_bad_payload_and_blocks_nothing(
    mosquitto, mqtt_client_factory, tmp_path: Path, wait_for
) -> None:
    """``Infinity`` is not JSON (Python's json writes it, no device does): the whole message is
    refused and counted; the office goes on and takes the next good batch."""
    office = start_office(mosquitto.url, tmp_path / "office.sqlite3")
    try:
        acks = AckWatcher(mqtt_client_factory, mosquitto, "disp-rogue")
        where = topic("events", SITE.site, device="disp-rogue")
        first = _leased_first(office, acks.client, "disp-rogue", wait_for)
        _publish_all(
            acks.client,
            [
                (
                    where,
                    j(
                        {
                            "v": 1,
                            "device": "disp-rogue",
                            "events": [event("disp-rogue", 1, _ticket_data(office, float("inf")))],
                        }
                    ),
                ),
                (
                    where,
                    j(
                        {
                            "v": 1,
                            "device": "disp-rogue",
                            "events": [event("disp-rogue", 1, _ticket_data(office, first + 1))],
                        }
                    ),
                ),
            ],
        )
        wait_for(lambda: acks.acked == 1, message="office acked the good batch")
        assert office.stats["bad_payloads"] == 1
        assert office.stats["loop_errors"] == 0
    finally:
        office.stop()


def test_a_staff_command_with_a_huge_ticket_number_gets_a_refusal(
    mosquitto, mqtt_client_factory, tmp_path: Path, wait_for
) -> None:
    office = start_office(mosquitto.url, tmp_path / "office.sqlite3")
    try:
        replies: list[dict[str, Any]] = []
        client = mqtt_client_factory(mosquitto, on_message=lambda _c, _u, m: replies.append(json.loads(m.payload)))
        client.subscribe(topic("staff_reply", SITE.site, terminal="t9"), qos=1)
        request = uuid.uuid4().hex
        _publish_all(
            client,
            [
                (
                    topic("staff_command", SITE.site, terminal="t9"),
                    j({"v": 1, "request_id": request, "command": "done 99999999999999999999"}),
                )
            ],
        )
        wait_for(lambda: replies or office.stats["loop_errors"] > 0, message="office answered")
        assert office.stats["loop_errors"] == 0
        assert replies[0]["request_id"] == request and replies[0]["ok"] is False
    finally:
        office.stop()


# JSON the parser itself chokes on (still under 64 KiB): sync/protocol.py decode only turns
# UnicodeDecodeError and JSONDecodeError into ProtocolError.
CHOKING_JSON = [
    pytest.param(b'{"v":1,"x":' + b"[" * 50_000 + b"}", id="nested-50000-deep"),
    pytest.param(b'{"v":1,"acked":' + b"7" * 5000 + b"}", id="int-of-5000-digits"),
]


@pytest.mark.parametrize("payload", CHOKING_JSON)
def test_json_the_parser_chokes_on_is_a_bad_payload_for_the_office(
    payload: bytes, mosquitto, mqtt_client_factory, tmp_path: Path, wait_for
) -> None:
    office = start_office(mosquitto.url, tmp_path / "office.sqlite3")
    try:
        _publish_all(mqtt_client_factory(mosquitto), [(topic("events", SITE.site, device=DEVICE), payload)])
        wait_for(lambda: office.stats["bad_payloads"] or office.stats["loop_errors"], message="office saw it")
        assert office.stats["loop_errors"] == 0
        assert office.stats["bad_payloads"] == 1
    finally:
        office.stop()


@pytest.mark.parametrize("payload", CHOKING_JSON)
def test_json_the_parser_chokes_on_is_a_bad_payload_for_a_device(
    payload: bytes, mosquitto, mqtt_client_factory, tmp_path: Path, wait_for
) -> None:
    disp = start_dispenser(mosquitto.url, tmp_path / DEVICE, DEVICE)
    try:
        wait_for(lambda: disp.agent.connected, message="dispenser subscribed")
        _publish_all(mqtt_client_factory(mosquitto), [(topic("ack", SITE.site, device=DEVICE), payload)])
        stats = disp.agent.stats
        wait_for(lambda: stats["bad_payloads"] or stats["worker_errors"], message="agent saw it")
        assert stats["worker_errors"] == 0
        assert stats["bad_payloads"] == 1
    finally:
        disp.close()


# --------------------------------------------------------------------------------------------
# command lines and site files
# --------------------------------------------------------------------------------------------

DEFAULT_TOML = (Path(__file__).resolve().parents[1] / "office" / "default_site.toml").read_text(encoding="utf-8")


def run(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A console entry point as a real process (no broker from the environment)."""
    child_env = env()
    child_env.pop("MADOGUCHI_BROKER", None)
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        check=False,
        cwd=cwd,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], prog: str, *needles: str) -> None:
    shown = f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert "Traceback" not in result.stderr + result.stdout, shown
    assert result.returncode == 2, shown
    lines = result.stderr.splitlines()
    assert len(lines) == 1, shown
    assert lines[0].startswith(f"{prog}"), shown
    for needle in needles:
        assert needle in lines[0], shown


def site_file(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """The demo town with one change (the first occurrence of ``old``)."""
    assert old in DEFAULT_TOML, old
    path = tmp_path / name
    path.write_text(DEFAULT_TOML.replace(old, new, 1), encoding="utf-8")
    return path


MOVING_ROUTE = 'route = ["reception", "input", "review", "issuing", "done"]'
BAD_SITES = [
    pytest.param("syntax", 'site = "demo-town"', 'site = "demo-town', ["not valid TOML", "line 3"], id="syntax-error"),
    pytest.param(
        "unknown", "rollover_hour = 3", "rollover_hour = 3\nbogus_key = 1", ["bogus_key: unknown key"], id="unknown-key"
    ),
    pytest.param(
        "route",
        MOVING_ROUTE,
        'route = ["reception", "nowhere", "review", "issuing", "done"]',
        ["categories[0].route[1]: 'nowhere' is not a station"],
        id="route-unknown-station",
    ),
    pytest.param(
        "overlap",
        "first = 2001",
        "first = 1500",
        ["categories[1].first: range 1500-2999 overlaps series '1'"],
        id="overlapping-series",
    ),
    pytest.param("type", "first = 2001", 'first = "2001"', ["categories[1].first: expected"], id="wrong-type"),
    pytest.param(
        "hour",
        "rollover_hour = 3",
        'rollover_hour = "3"',
        ["rollover_hour: expected an integer from 0 to 12"],
        id="wrong-type-top-level",
    ),
    pytest.param("tz", 'timezone = "Asia/Tokyo"', "timezone = 9", ["timezone"], id="timezone-not-a-string"),
]


@pytest.mark.parametrize(("name", "old", "new", "needles"), BAD_SITES)
def test_check_config_names_the_bad_key(name: str, old: str, new: str, needles: list[str], tmp_path: Path) -> None:
    path = site_file(tmp_path, f"{name}.toml", old, new)
    result = run("office.cli", "check-config", str(path), cwd=tmp_path)
    assert_one_line_error(result, "madoguchi-office", str(path), *needles)


def test_check_config_accepts_the_demo_town_and_refuses_a_missing_file(tmp_path: Path) -> None:
    good = site_file(tmp_path, "good.toml", "rollover_hour = 3", "rollover_hour = 3")
    ok = run("office.cli", "check-config", str(good), cwd=tmp_path)
    assert (ok.returncode, ok.stdout.strip(), ok.stderr) == (0, f"{good}: ok", "")
    missing = tmp_path / "nowhere.toml"
    result = run("office.cli", "check-config", str(missing), cwd=tmp_path)
    assert_one_line_error(result, "madoguchi-office", str(missing), "cannot read the site configuration")


def test_check_config_refuses_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(
        DEFAULT_TOML.replace("まどぐち町役場", "Machi").encode("utf-8").replace(b"demo-town", b"d\xe9mo", 1)
    )
    result = run("office.cli", "check-config", str(path), cwd=tmp_path)
    assert_one_line_error(result, "madoguchi-office", str(path))


def test_serve_and_demo_refuse_a_bad_site_file(tmp_path: Path) -> None:
    route = site_file(tmp_path, "route.toml", MOVING_ROUTE, 'route = ["reception", "nowhere", "done"]')
    served = run("office.cli", "serve", "--config", str(route), "--db", str(tmp_path / "o.sqlite3"), cwd=tmp_path)
    assert_one_line_error(served, "madoguchi-office", "categories[0].route[1]")
    demo = run("lobby.demo", "--config", str(route), "--data", str(tmp_path / "demo"), cwd=tmp_path)
    assert_one_line_error(demo, "madoguchi-demo", "categories[0].route[1]")
    assert not (tmp_path / "o.sqlite3").exists()


@pytest.mark.parametrize(
    ("module", "prog", "args", "needles"),
    [
        pytest.param(
            "office.cli",
            "madoguchi-office",
            ["status", "--bogus"],
            ["unrecognized arguments: --bogus"],
            id="office-unknown-flag",
        ),
        pytest.param(
            "office.cli", "madoguchi-office", ["launch"], ["invalid choice: 'launch'"], id="office-unknown-command"
        ),
        pytest.param(
            "ticket_dispenser.cli",
            "madoguchi-dispenser",
            ["press", "tax", "--device-id", "disp-d1", "--bogus"],
            ["unrecognized arguments: --bogus"],
            id="dispenser-unknown-flag",
        ),
        pytest.param(
            "lobby.demo", "madoguchi-demo", ["--bogus"], ["unrecognized arguments: --bogus"], id="demo-unknown-flag"
        ),
        pytest.param(
            "ticket_dispenser.cli",
            "madoguchi-dispenser",
            ["press", "tax"],
            ["--device-id"],
            id="dispenser-missing-device-id",
        ),
        pytest.param(
            "ticket_dispenser.cli",
            "madoguchi-dispenser",
            ["press", "tax", "--device-id", "a/b"],
            ["device id 'a/b' is invalid"],
            id="dispenser-bad-device-id",
        ),
        pytest.param(
            "office.cli",
            "madoguchi-office",
            ["serve", "--broker", "http://x", "--db", "o.sqlite3"],
            ["'http://x'", "mqtt://host:port"],
            id="office-serve-bad-broker",
        ),
        pytest.param(
            "office.cli",
            "madoguchi-office",
            ["staff", "--broker", "http://x", "call", "next", "3"],
            ["'http://x'", "mqtt://host:port"],
            id="office-staff-bad-broker",
        ),
        pytest.param(
            "lobby.demo",
            "madoguchi-demo",
            ["--broker", "http://x"],
            ["'http://x'", "mqtt://host:port"],
            id="demo-bad-broker",
        ),
        pytest.param(
            "ticket_dispenser.cli",
            "madoguchi-dispenser",
            ["run", "--device-id", "disp-d1", "--broker", "http://x", "--wait-config", "0"],
            ["'http://x'", "mqtt://host:port"],
            id="dispenser-run-bad-broker",
        ),
        pytest.param(
            "ticket_dispenser.cli",
            "madoguchi-dispenser",
            ["sync", "--device-id", "disp-d1", "--broker", "http://x", "--timeout", "1"],
            ["'http://x'", "mqtt://host:port"],
            id="dispenser-sync-bad-broker",
        ),
        pytest.param(
            "ticket_dispenser.cli",
            "madoguchi-dispenser",
            ["press", "certificates", "--device-id", "disp-d1"],
            ["has not received the office configuration"],
            id="press-before-configured",
        ),
        pytest.param(
            "ticket_dispenser.cli",
            "madoguchi-dispenser",
            ["purposes", "--device-id", "disp-d1"],
            ["no office configuration stored yet"],
            id="purposes-before-configured",
        ),
        pytest.param(
            "office.cli",
            "madoguchi-office",
            ["status", "--db", "missing.sqlite3"],
            ["missing.sqlite3: no office store there (--db)"],
            id="status-missing-db",
        ),
        pytest.param(
            "office.cli",
            "madoguchi-office",
            ["status", "--db", "not-a-db.sqlite3"],
            ["not-a-db.sqlite3"],
            id="status-db-not-a-database",
        ),
        pytest.param(
            "ticket_dispenser.cli",
            "madoguchi-dispenser",
            ["press", "tax", "--device-id", "disp-d1", "--data", "a-file"],
            ["a-file"],
            id="dispenser-data-is-a-file",
        ),
    ],
)
def test_bad_command_lines_get_one_line_and_exit_2(
    module: str, prog: str, args: list[str], needles: list[str], tmp_path: Path
) -> None:
    (tmp_path / "not-a-db.sqlite3").write_text("hello\n", encoding="utf-8")
    (tmp_path / "a-file").write_text("hello\n", encoding="utf-8")
    result = run(module, *args, cwd=tmp_path)
    assert_one_line_error(result, prog, *needles)
    if module == "ticket_dispenser.cli" and "press" in args:
        assert result.stdout == ""  # no ticket printed


def test_a_site_file_naming_an_unknown_procedure_or_language_says_which_and_the_fix(tmp_path: Path) -> None:
    from office import config as configmod

    base = (Path(__file__).resolve().parents[1] / "office" / "default_site.toml").read_text(encoding="utf-8")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text(base.replace('"年金" = {', '"年金の相談" = {'), encoding="utf-8")
    with pytest.raises(configmod.ConfigError) as err:
        configmod.load(unknown)
    assert "procedure_names" in str(err.value) and "年金の相談" in str(err.value) and "年金" in str(err.value)
    language = tmp_path / "language.toml"
    language.write_text(
        base.replace('"年金" = { en = "Pension"', '"年金" = { fr = "Retraite", en = "Pension"'), encoding="utf-8"
    )
    with pytest.raises(configmod.ConfigError) as err:
        configmod.load(language)
    assert "fr" in str(err.value) and "zh_CN" in str(err.value)
