"""A ward: two branch Mosquittos bridged to a central one, on the files office/ward_cli.py writes.

Three real Mosquitto 2.0 processes on free loopback ports, plain TCP (the TLS variant is
rendered in a unit test). The central broker runs the generated mosquitto.conf and ACL as they
are; each branch runs a lobby-like configuration with the generated ward-bridge.conf appended.
Mosquitto 2.0.11 has no ``-t`` (test the configuration) option: starting it is the check.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from conftest import MqttClientFactory, WaitFor, _wait_for
from lobby.brokers import MosquittoBroker, free_port
from office import ward_bridge, ward_cli
from office.ward_bridge import (
    DAY_OUTAGE,
    NOT_BRIDGED,
    ROUTES,
    BridgeTLS,
    CentralFiles,
    branch_bridge_conf,
    central_acl_text,
    central_conf_text,
)
from sync import protocol

A = "demo-town"
B = "branch2"
CONSUMER = "ward-office"


# --------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------


def test_every_protocol_topic_is_bridged_one_way_or_kept_home_for_a_stated_reason() -> None:
    routed = [r.name for r in ROUTES]
    assert len(routed) == len(set(routed))
    assert set(routed) | set(NOT_BRIDGED) == set(protocol.TOPICS)
    assert not set(routed) & set(NOT_BRIDGED)
    # what devices and staff send the office goes up only as events and status; commands come down
    assert {r.name for r in ROUTES if r.direction == "in"} == {"ticket_log_ack", "ward_action"}


def test_the_branch_snippet_maps_up_and_down_on_separate_prefixes_and_never_hash() -> None:
    text = branch_bridge_conf(A, "centre.example.lg.jp:8883")
    topics = [line.split() for line in text.splitlines() if line.startswith("topic ")]
    assert ["topic", "device/+/events", "out", "1", f"madoguchi/v1/{A}/", f"ward/{A}/up/"] in topics
    assert ["topic", "office/ward/action", "in", "1", f"madoguchi/v1/{A}/", f"ward/{A}/down/"] in topics
    assert all("#" not in t[1] for t in topics)
    out = {t[1] for t in topics if t[2] == "out"}
    into = {t[1] for t in topics if t[2] == "in"}
    assert not out & into
    assert all(t[5] == f"ward/{A}/up/" for t in topics if t[2] == "out")
    assert all(t[5] == f"ward/{A}/down/" for t in topics if t[2] == "in")
    for line in (
        "cleansession false",
        "local_cleansession false",
        "persistence true",
        "bridge_protocol_version mqttv50",
        "address centre.example.lg.jp:8883",
        f"remote_clientid bridge-{A}",
        f"notification_topic ward/{A}/up/bridge/state",
        "max_queued_messages 100000",
        # 100,000 x 1 KiB, but never below the office's own 256 MiB
        f"max_queued_bytes {256 * 1024 * 1024}",
    ):
        assert line in text.splitlines(), line
    # the globals come before the connection: after it, every line belongs to the bridge
    assert text.index("max_queued_messages") < text.index("connection ")
    assert "bridge_cafile" not in text


def test_the_queue_holds_a_moving_season_day_twice_over() -> None:
    assert DAY_OUTAGE.messages == 5_000 * 10 * 2 == 100_000
    assert DAY_OUTAGE.bytes == 100_000 * 1024


def test_the_tls_variant_names_the_files_on_both_sides() -> None:
    branch = branch_bridge_conf(
        A, "10.1.2.3:8883", tls=BridgeTLS("/etc/ward/ca.pem", "/etc/ward/bridge-demo-town.pem", "/etc/ward/b.key")
    ).splitlines()
    assert "bridge_cafile /etc/ward/ca.pem" in branch
    assert "bridge_certfile /etc/ward/bridge-demo-town.pem" in branch
    assert "bridge_keyfile /etc/ward/b.key" in branch
    assert "bridge_insecure false" in branch
    central = central_conf_text(
        [A, B], CentralFiles("/var/lib/ward", BridgeTLS("/etc/ward/ca.pem", "/etc/ward/c.pem", "/etc/ward/c.key"))
    ).splitlines()
    for line in (
        "allow_anonymous false",
        "require_certificate true",
        "use_identity_as_username true",
        "cafile /etc/ward/ca.pem",
        "certfile /etc/ward/c.pem",
        "keyfile /etc/ward/c.key",
        "acl_file /var/lib/ward/acl",
        "persistence true",
        "max_queued_messages 200000",  # a consumer away queues a day of each branch
    ):
        assert line in central, line
    assert "allow_anonymous true" not in central


def test_a_bridge_may_write_only_its_own_up_prefix_and_read_only_its_own_down_prefix() -> None:
    acl = central_acl_text([A, B]).split("\n\n")
    bridge_a = next(block for block in acl if f"user bridge-{A}" in block).splitlines()
    assert [line for line in bridge_a if line.startswith("topic")] == [
        f"topic write ward/{A}/up/#",
        f"topic read ward/{A}/down/#",
    ]
    consumer = next(block for block in acl if f"user {CONSUMER}" in block)
    assert f"topic read ward/{B}/up/#" in consumer and f"topic write ward/{A}/down/#" in consumer


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda: branch_bridge_conf("demo/town", "c:8883"), "'demo/town'"),
        (lambda: branch_bridge_conf("#", "c:8883"), "'#'"),
        (lambda: branch_bridge_conf(A, "centre"), "HOST:PORT"),
        (lambda: branch_bridge_conf(A, "centre:0"), "'0'"),
        (lambda: branch_bridge_conf(A, "centre:http"), "'http'"),
        (lambda: branch_bridge_conf(A, "bad host:8883"), "'bad host'"),
        (lambda: branch_bridge_conf(A, "[::1]:8883"), "'[::1]'"),
        (lambda: branch_bridge_conf(A, "::1:8883"), "IPv6"),
        (lambda: branch_bridge_conf(A, "c:8883", tls=BridgeTLS("ca.pem", "/c", "/k")), "'ca.pem'"),
        (lambda: central_acl_text([A, A]), "twice"),
        (lambda: central_acl_text([]), "--site"),
        (lambda: central_acl_text([A], consumers=[f"bridge-{A}"]), f"'bridge-{A}'"),
        (lambda: central_conf_text([A], CentralFiles("relative")), "'relative'"),
        (
            lambda: branch_bridge_conf(
                A, "c:8883", routes=(ward_bridge.Route("events", "out", 1), ward_bridge.Route("events", "in", 1))
            ),
            "both ways",
        ),
    ],
)
def test_bad_inputs_are_refused_naming_the_value(call: Any, named: str) -> None:
    with pytest.raises(ValueError) as err:
        call()
    assert named in str(err.value)


def test_the_cli_refuses_a_bad_site_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        _cli(["--central", "c:8883", "--site", "a b", "--out", str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "'a b'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "central").exists()  # nothing written when anything is wrong


# --------------------------------------------------------------------------------------------
# three real brokers
# --------------------------------------------------------------------------------------------


def _cli(extra: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="madoguchi-office")
    ward_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    return ward_cli.run(parser.parse_args(["ward", "broker-files", *extra]))


@dataclass
class Inbox:
    """Messages a client received, in arrival order."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def on(self, topic: str) -> list[bytes]:
        with self.lock:
            return [p for t, p in self.messages if t == topic]

    def topics(self) -> list[str]:
        with self.lock:
            return [t for t, _ in self.messages]


@dataclass
class Ward:
    central: MosquittoBroker
    branches: dict[str, MosquittoBroker]


@pytest.fixture
def ward(tmp_path: Path) -> Iterator[Ward]:
    """The centre on the CLI's files as they are; two branches with the bridge snippet appended."""
    port = free_port()
    user = pwd.getpwuid(os.geteuid()).pw_name
    out = tmp_path / "ward"
    assert _cli(["--central", f"127.0.0.1:{port}", "--site", A, "--site", B, "--out", str(out)] + _as(user)) == 0
    central = MosquittoBroker(out / "central", port, config_file=out / "central" / "mosquitto.conf")
    # Reconnect within 1-2 s instead of the WAN's 5-120 s: the tests take the centre away.
    branches = {
        site: MosquittoBroker(
            tmp_path / site,
            extra_conf=(out / "branches" / site / "ward-bridge.conf")
            .read_text()
            .replace("restart_timeout 5 120", "restart_timeout 1 2"),
        )
        for site in (A, B)
    }
    started: list[MosquittoBroker] = []
    try:
        for broker in (central, *branches.values()):
            broker.start()
            started.append(broker)
        yield Ward(central, branches)
    finally:
        for broker in started:
            try:
                broker.stop()
            except BaseException:
                broker.kill()
                raise


def _as(user: str) -> list[str]:
    return ["--user", user, "--bind", "127.0.0.1"]


def _subscribe(client: mqtt.Client, topic: str) -> None:
    """Subscribe at QoS 1 and return once the broker's SUBACK is in."""
    acked: list[int] = []
    client.on_subscribe = lambda _c, _u, mid, _codes, _props: acked.append(mid)
    _, mid = client.subscribe(topic, qos=1)
    _wait_for(lambda: mid in acked, timeout=5, message=f"no SUBACK for {topic}")


def _consumer(make: MqttClientFactory, ward: Ward, inbox: Inbox, *, persistent: bool = False) -> mqtt.Client:
    client = make(ward.central, "ward-consumer", clean_session=not persistent, username=CONSUMER, on_message=inbox)
    _subscribe(client, "ward/+/up/#")
    return client


def _bridges_up(
    ward: Ward, make: MqttClientFactory, central: mqtt.Client, inbox: Inbox, sites: tuple[str, ...] = (A, B)
) -> None:
    """Return once every bridge says it is connected and has subscribed to its commands at the centre."""
    _wait_for(
        lambda: all(b"1" in inbox.on(f"ward/{s}/up/bridge/state") for s in sites),
        timeout=15,
        message="bridges did not connect to the centre",
    )
    for site in sites:
        _commands_reach(ward, make, central, site)


def _commands_reach(ward: Ward, make: MqttClientFactory, central: mqtt.Client, site: str) -> None:
    """Probe until a command from the centre reaches ``site``: the bridge's notification may come
    before its SUBSCRIBE reaches the centre, and a command published before that is dropped."""
    probes = Inbox()
    local = make(ward.branches[site], on_message=probes)
    probe = _local(site, "ward_action")
    _subscribe(local, probe)
    sent_at = [0.0]

    def through() -> bool:
        if probes.on(probe):
            return True
        if time.monotonic() - sent_at[0] > 0.25:
            central.publish(f"ward/{site}/down/office/ward/action", b"probe", qos=1)
            sent_at[0] = time.monotonic()
        return False

    _wait_for(through, timeout=10, message=f"commands from the centre do not reach branch {site}")
    local.disconnect()


def _event(device: str, n: int) -> bytes:
    # ~1 KiB, the size the queue is sized for
    return json.dumps({"device": device, "n": n, "pad": "x" * 960}).encode()


def _local(site: str, name: str, **kw: str) -> str:
    return protocol.topic(name, site, **kw)


def test_events_go_up_under_their_own_branch_and_never_reach_the_other(
    ward: Ward, mqtt_client_factory: MqttClientFactory, wait_for: WaitFor
) -> None:
    up = Inbox()
    central = _consumer(mqtt_client_factory, ward, up)
    _bridges_up(ward, mqtt_client_factory, central, up)
    seen_b = Inbox()
    b_all = mqtt_client_factory(ward.branches[B], on_message=seen_b)
    _subscribe(b_all, "#")
    dev_a = mqtt_client_factory(ward.branches[A])
    dev_b = mqtt_client_factory(ward.branches[B])

    dev_a.publish(_local(A, "events", device="disp-1"), _event("disp-1", 1), qos=1).wait_for_publish(5)
    dev_b.publish(_local(B, "events", device="disp-9"), _event("disp-9", 1), qos=1).wait_for_publish(5)
    # what stays home: a kiosk's request (residents' data) and an ack
    dev_a.publish(_local(A, "kiosk_request", device="kiosk-1"), b'{"secret": 1}', qos=1).wait_for_publish(5)
    dev_a.publish(_local(A, "ack", device="disp-1"), b'{"ack": 1}', qos=1, retain=True).wait_for_publish(5)
    dev_a.publish(_local(A, "device_status", device="disp-1"), b'{"status": 1}', qos=1, retain=True)

    wait_for(lambda: up.on(f"ward/{A}/up/device/disp-1/events") == [_event("disp-1", 1)], message="A's event")
    wait_for(lambda: up.on(f"ward/{B}/up/device/disp-9/events") == [_event("disp-9", 1)], message="B's event")
    wait_for(lambda: up.on(f"ward/{A}/up/device/disp-1/status") == [b'{"status": 1}'], message="A's status")

    # A barrier through B's bridge: once this command is at B, anything of A's would be too.
    central.publish(f"ward/{B}/down/office/ward/action", b"barrier", qos=1)
    wait_for(lambda: seen_b.on(_local(B, "ward_action")) == [b"barrier"], message="barrier")
    assert not [t for t in seen_b.topics() if A in t], seen_b.topics()
    assert not [t for t in up.topics() if "request" in t or "/ack/" in t], up.topics()
    # a bridge may write only under its own prefix: one claiming A's name cannot post as B
    forger = mqtt_client_factory(ward.central, username=f"bridge-{A}")
    forger.publish(f"ward/{B}/up/device/disp-9/events", b"forged", qos=1).wait_for_publish(5)
    central.publish(f"ward/{B}/down/office/ward/action", b"barrier-2", qos=1)
    wait_for(lambda: b"barrier-2" in seen_b.on(_local(B, "ward_action")))
    dev_b.publish(_local(B, "events", device="disp-9"), _event("disp-9", 2), qos=1).wait_for_publish(5)
    wait_for(lambda: len(up.on(f"ward/{B}/up/device/disp-9/events")) == 2)
    assert b"forged" not in up.on(f"ward/{B}/up/device/disp-9/events")


def test_a_command_from_the_centre_reaches_its_branch_only_and_the_reply_comes_back(
    ward: Ward, mqtt_client_factory: MqttClientFactory, wait_for: WaitFor
) -> None:
    up = Inbox()
    central = _consumer(mqtt_client_factory, ward, up)
    _bridges_up(ward, mqtt_client_factory, central, up)
    at_a, at_b = Inbox(), Inbox()
    office_a = mqtt_client_factory(ward.branches[A], on_message=at_a)
    _subscribe(office_a, _local(A, "ward_action"))
    _subscribe(office_a, _local(A, "staff_command"))
    office_b = mqtt_client_factory(ward.branches[B], on_message=at_b)
    _subscribe(office_b, "madoguchi/#")

    central.publish(f"ward/{A}/down/office/ward/action", b"call next at counter 3", qos=1)
    wait_for(
        lambda: at_a.on(_local(A, "ward_action")) == [b"call next at counter 3"],
        message="the command did not reach branch A",
    )
    office_a.publish(_local(A, "ward_reply"), b"done", qos=1)
    wait_for(lambda: up.on(f"ward/{A}/up/office/ward/reply") == [b"done"], message="the reply did not come up")
    # a branch's own staff commands stay home, and the centre cannot send the branch one: it acts
    # only through the signed case actions
    office_a.publish(_local(A, "staff_command", terminal="t-3"), b"local", qos=1).wait_for_publish(5)
    central.publish(f"ward/{A}/down/staff/centre-1/command", b"void 1001", qos=1)
    central.publish(f"ward/{B}/down/office/ward/action", b"barrier", qos=1)
    wait_for(lambda: at_b.on(_local(B, "ward_action")) == [b"barrier"])
    central.publish(f"ward/{A}/down/office/ward/action", b"barrier", qos=1)
    wait_for(lambda: b"barrier" in at_a.on(_local(A, "ward_action")))
    assert at_a.on(_local(A, "staff_command", terminal="centre-1")) == []
    assert at_b.topics() == [_local(B, "ward_action")]
    assert not [t for t in up.topics() if t.endswith("/command")]


def _outage(
    ward: Ward,
    make: MqttClientFactory,
    wait_for: WaitFor,
    *,
    count: int,
    restart_branch: bool,
) -> dict[str, int]:
    """The centre stopped while a device of A publishes ``count`` QoS 1 events; returns counts."""
    up = Inbox()
    consumer = _consumer(make, ward, up, persistent=True)
    _bridges_up(ward, make, consumer, up, sites=(A,))
    lobby = Inbox()
    local_sub = make(ward.branches[A], "lobby-office", clean_session=False, on_message=lobby)
    _subscribe(local_sub, _local(A, "events"))
    device = make(ward.branches[A], "disp-1")
    topic = _local(A, "events", device="disp-1")

    consumer.disconnect()
    consumer.loop_stop()
    ward.central.stop()
    sent = 0
    half = count // 2 if restart_branch else count
    started = time.monotonic()
    for n in range(half):
        device.publish(topic, _event("disp-1", n), qos=1).wait_for_publish(5)
        sent += 1
    # State is bridged at QoS 0 and not queued: the bridge sends the latest retained value on reconnect.
    status = _local(A, "device_status", device="disp-1")
    device.publish(status, b'{"during": "outage"}', qos=1, retain=True).wait_for_publish(5)
    # the lobby does not notice: its office got every event while the WAN is down
    wait_for(lambda: len(lobby.on(topic)) >= half, timeout=5, message="the lobby side stalled during the outage")
    lobby_s = time.monotonic() - started
    if restart_branch:
        ward.branches[A].restart()
        wait_for(lambda: device.is_connected(), timeout=10, message="the device did not reconnect to branch A")
        for n in range(half, count):
            device.publish(topic, _event("disp-1", n), qos=1).wait_for_publish(5)
            sent += 1
        wait_for(lambda: len({json.loads(p)["n"] for p in lobby.on(topic)}) == count, timeout=10)
    ward.central.start()
    # the consumer comes back to its persistent session at the centre
    up_again = Inbox()
    make(ward.central, "ward-consumer", clean_session=False, username=CONSUMER, on_message=up_again)
    wait_for(
        lambda: len({json.loads(p)["n"] for p in up_again.on(f"ward/{A}/up/device/disp-1/events")}) >= count,
        timeout=60,
        message=(
            f"after the outage the centre has "
            f"{len({json.loads(p)['n'] for p in up_again.on(f'ward/{A}/up/device/disp-1/events')})} of {count}"
        ),
    )
    got = [json.loads(p)["n"] for p in up_again.on(f"ward/{A}/up/device/disp-1/events")]
    first_seen = list(dict.fromkeys(got))
    assert first_seen == list(range(count)), "events arrived out of their publisher's order"
    latest = Inbox()
    _subscribe(make(ward.central, username=CONSUMER, on_message=latest), f"ward/{A}/up/device/disp-1/status")
    wait_for(lambda: latest.on(f"ward/{A}/up/device/disp-1/status") == [b'{"during": "outage"}'])
    result = {"sent": sent, "received": len(got), "distinct": len(set(got)), "duplicates": len(got) - len(set(got))}
    print(f"\nward outage (branch restarted: {restart_branch}): {result}, lobby side took {lobby_s:.2f} s")
    return result


@pytest.mark.slow
def test_a_day_of_events_waits_out_the_centres_outage_and_arrives_in_order(
    ward: Ward, mqtt_client_factory: MqttClientFactory, wait_for: WaitFor
) -> None:
    result = _outage(ward, mqtt_client_factory, wait_for, count=300, restart_branch=False)
    assert result["distinct"] == 300


@pytest.mark.slow
def test_the_bridge_queue_survives_a_restart_of_the_branch_broker_during_the_outage(
    ward: Ward, mqtt_client_factory: MqttClientFactory, wait_for: WaitFor
) -> None:
    result = _outage(ward, mqtt_client_factory, wait_for, count=300, restart_branch=True)
    assert result["distinct"] == 300


def test_the_generated_configurations_start_and_the_bridges_connect(
    ward: Ward, mqtt_client_factory: MqttClientFactory, wait_for: WaitFor
) -> None:
    # Mosquitto 2.0.11 has no -t: the fixture started all three on the generated files; here the
    # bridges say so on the centre, and the centre's log shows them logged in by name.
    up = Inbox()
    _consumer(mqtt_client_factory, ward, up)
    wait_for(lambda: up.on(f"ward/{A}/up/bridge/state") and up.on(f"ward/{B}/up/bridge/state"))
    log = ward.central.log_path.read_text()
    assert f"u'bridge-{A}'" in log and f"u'bridge-{B}'" in log
