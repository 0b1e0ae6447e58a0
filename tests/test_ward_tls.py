"""A ward over TLS, as in production: `madoguchi-office ward tls` makes the ward's CA and the
certificates of the centre, its consumer and each branch's bridge; a branch's events cross a TLS
bridge into PostgreSQL; the centre knows a bridge by its certificate alone, so one branch's
bridge cannot write under another's prefix and a client without a certificate gets nowhere."""

from __future__ import annotations

import argparse
import os
import pwd
import ssl
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from lobby.brokers import MosquittoBroker, free_port
from office import ward_cli
from office.ward_bridge import BridgeTLS, branch_bridge_conf
from office.ward_consumer import WardConsumer
from sync import messages, protocol

A, B = "demo-town", "branch2"


def cli(*args: str) -> int:
    parser = argparse.ArgumentParser(prog="madoguchi-office")
    ward_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    return ward_cli.run(parser.parse_args(["ward", *args]))


def events(device: str, first: int, count: int) -> bytes:
    records = tuple(
        messages.EventRecord(id=f"{device}:{s}", seq=s, type="printer.status", hlc=f"{s:013d}-0000-{device}", at=1_780_000_000_000 + s, data={"n": s})
        for s in range(first, first + count)
    )  # fmt: skip
    return protocol.encode(messages.EventBatch(device=device, events=records))


def rows(dsn: str) -> list[tuple[str, str, int]]:
    with psycopg.connect(dsn) as db:
        return [
            (str(a), str(b), int(c))
            for a, b, c in db.execute("SELECT site, device, seq FROM ward_events ORDER BY site, seq")
        ]


def tls_client(port: int, tls: Path, name: str | None) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{name}")
    if name is None:
        client.tls_set(ca_certs=str(tls / "ca.pem"))
    else:
        client.tls_set(
            ca_certs=str(tls / "ca.pem"), certfile=str(tls / f"{name}.pem"), keyfile=str(tls / f"{name}.key")
        )
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def test_events_cross_a_tls_bridge_and_the_centre_knows_bridges_by_their_certificates(
    postgres: Any, tmp_path: Path, wait_for: Any
) -> None:
    tls = tmp_path / "tls"
    assert cli("tls", "--dir", str(tls), "--central-host", "127.0.0.1", "--site", A, "--site", B) == 0
    assert {p.name for p in tls.iterdir()} >= {
        "ca.pem",
        "central.pem",
        "central.key",
        "bridge-demo-town.pem",
        "ward-office.key",
    }
    port = free_port()
    user = pwd.getpwuid(os.geteuid()).pw_name
    out = tmp_path / "ward"
    assert cli("broker-files", "--central", f"127.0.0.1:{port}", "--site", A, "--site", B, "--out", str(out),
               "--tls-dir", str(tls), "--user", user, "--bind", "127.0.0.1") == 0  # fmt: skip
    central = MosquittoBroker(out / "central", port, config_file=out / "central" / "mosquitto.conf")
    central.start()
    bridge = branch_bridge_conf(
        A, f"127.0.0.1:{port}", tls=BridgeTLS(str(tls / "ca.pem"), str(tls / "bridge-demo-town.pem"), str(tls / "bridge-demo-town.key")),
        restart_s=(1, 2),
    )  # fmt: skip
    branch = MosquittoBroker(tmp_path / A, extra_conf=bridge)
    branch.start()
    consumer = WardConsumer(
        "127.0.0.1", port, postgres.dsn, tls=(tls / "ca.pem", tls / "ward-office.pem", tls / "ward-office.key")
    )
    consumer.start()
    local = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="disp-1")
    local.connect("127.0.0.1", branch.port)
    local.loop_start()
    try:
        wait_for(lambda: consumer._client.is_connected(), 10)

        # the branch's device publishes locally; the bridge carries it up over TLS
        def sent() -> bool:
            local.publish(protocol.topic("events", A, device="disp-1"), events("disp-1", 1, 5), qos=1).wait_for_publish(
                5
            )
            return bool(rows(postgres.dsn))

        wait_for(sent, 30, interval=1.0)
        wait_for(lambda: rows(postgres.dsn) == [(A, "disp-1", s) for s in range(1, 6)], 10)
        # branch2's bridge certificate may not write under demo-town's prefix: the ACL drops it
        impostor = tls_client(port, tls, "bridge-branch2")
        impostor.publish(f"ward/{A}/up/device/disp-9/events", events("disp-9", 1, 3), qos=1).wait_for_publish(5)
        impostor.publish(f"ward/{B}/up/device/disp-2/events", events("disp-2", 1, 2), qos=1).wait_for_publish(5)
        wait_for(lambda: (B, "disp-2", 2) in rows(postgres.dsn), 10)
        assert not [r for r in rows(postgres.dsn) if r[1] == "disp-9"]
        impostor.loop_stop()
        impostor.disconnect()
        # no certificate, no connection
        refused = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="anonymous")
        refused.tls_set(ca_certs=str(tls / "ca.pem"))
        try:
            code = refused.connect("127.0.0.1", port)
            refused.loop(2)
            refused.loop(2)
            assert code != 0 or not refused.is_connected()
        except (ssl.SSLError, OSError):
            pass  # refused during the handshake: what a client without a certificate gets
    finally:
        local.loop_stop()
        local.disconnect()
        consumer.stop()
        branch.stop()
        central.stop()
