"""The central office's consumer on a real Mosquitto and a real PostgreSQL: every branch's events
in exactly once, whatever is redelivered, killed or restarted; who sent them is the topic's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from office.ward_consumer import WardConsumer, site_and_device
from sync import messages, protocol

NOW = 1_780_000_000_000


def batch(device: str, seqs: range, at: int = NOW) -> bytes:
    records = tuple(
        messages.EventRecord(
            id=f"{device}:{seq}", seq=seq, type="printer.status", hlc=f"{at + seq:013d}-0000-{device}", at=at + seq,
            data={"state": "ok", "n": seq},
        )
        for seq in seqs
    )  # fmt: skip
    return protocol.encode(messages.EventBatch(device=device, events=records))


@pytest.fixture
def publisher(mosquitto: Any) -> Iterator[mqtt.Client]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="branch-bridge-test")
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    yield client
    client.loop_stop()
    client.disconnect()


def publish(client: mqtt.Client, topic: str, payload: bytes) -> None:
    client.publish(topic, payload, qos=1).wait_for_publish(10)


def rows(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as db:
        return db.execute(sql).fetchall()


def test_topics_name_the_site_and_the_device() -> None:
    assert site_and_device("ward/branch-a/up/device/disp-1/events") == ("branch-a", "disp-1")
    for bad in (
        "ward/branch-a/down/device/disp-1/events",
        "madoguchi/x/device/d/events",
        "ward/a b/up/device/d/events",
    ):
        assert site_and_device(bad) is None


def test_every_event_once_in_order_per_device_and_a_liar_kept_aside(
    mosquitto: Any, postgres: Any, publisher: mqtt.Client, wait_for: Any
) -> None:
    consumer = WardConsumer("127.0.0.1", mosquitto.port, postgres.dsn)
    consumer.start()
    try:
        wait_for(lambda: consumer._client.is_connected(), 10)
        for k in range(10):
            publish(publisher, "ward/branch-a/up/device/disp-1/events", batch("disp-1", range(k * 10 + 1, k * 10 + 11)))
            publish(publisher, "ward/branch-b/up/device/disp-1/events", batch("disp-1", range(k * 5 + 1, k * 5 + 6)))
        # a bridge that resends (QoS 1 after a reconnect): nothing doubles
        publish(publisher, "ward/branch-a/up/device/disp-1/events", batch("disp-1", range(1, 31)))
        # a batch claiming another device than its topic, and junk
        publish(publisher, "ward/branch-a/up/device/disp-2/events", batch("disp-9", range(1, 3)))
        publish(publisher, "ward/branch-a/up/device/disp-2/events", b"not json")
        wait_for(lambda: consumer.stats["kept_aside"] == 2 and consumer.stats["events"] == 150, 20)
    finally:
        consumer.stop()
    got = rows(postgres.dsn, "SELECT site, device, seq, data FROM ward_events ORDER BY site, device, received_ms, seq")
    assert [(s, d, q) for s, d, q, _ in got] == [("branch-a", "disp-1", q) for q in range(1, 101)] + [
        ("branch-b", "disp-1", q) for q in range(1, 51)
    ]
    assert got[0][3] == {"state": "ok", "n": 1}
    assert consumer.stats["duplicates"] == 30
    assert rows(postgres.dsn, "SELECT site, events FROM ward_sites ORDER BY site") == [
        ("branch-a", 100),
        ("branch-b", 50),
    ]
    assert [r[0] for r in rows(postgres.dsn, "SELECT topic FROM ward_kept_aside ORDER BY id")] == [
        "ward/branch-a/up/device/disp-2/events"
    ] * 2
    lag = {x.site: x for x in WardConsumer("127.0.0.1", 1, postgres.dsn, clock=lambda: NOW + 60_000).lag()}
    assert lag["branch-a"].behind_ms == 60_000 - 100 and lag["branch-b"].behind_ms == 60_000 - 50


def test_postgres_killed_and_the_consumer_restarted_mid_stream_lose_and_double_nothing(
    mosquitto: Any, postgres: Any, publisher: mqtt.Client, wait_for: Any
) -> None:
    consumer = WardConsumer("127.0.0.1", mosquitto.port, postgres.dsn)
    consumer.start()
    wait_for(lambda: consumer._client.is_connected(), 10)
    for k in range(20):
        publish(publisher, "ward/branch-a/up/device/disp-1/events", batch("disp-1", range(k * 10 + 1, k * 10 + 11)))
    wait_for(lambda: consumer.stats["events"] >= 50, 20)
    postgres.kill()  # mid-stream: the batches wait, unacknowledged
    for k in range(20, 40):
        publish(publisher, "ward/branch-a/up/device/disp-1/events", batch("disp-1", range(k * 10 + 1, k * 10 + 11)))
    wait_for(lambda: consumer.stats["db_retries"] >= 1, 20)
    postgres.start()
    wait_for(lambda: consumer.stats["events"] >= 250, 30)
    consumer.stop()  # mid-stream again: what it did not commit comes again to the next one
    for k in range(40, 50):
        publish(publisher, "ward/branch-a/up/device/disp-1/events", batch("disp-1", range(k * 10 + 1, k * 10 + 11)))
    again = WardConsumer("127.0.0.1", mosquitto.port, postgres.dsn)  # the same client id: its session
    again.start()
    try:
        wait_for(lambda: rows(postgres.dsn, "SELECT count(*) FROM ward_events")[0][0] == 500, 30)
    finally:
        again.stop()
    seqs = [r[0] for r in rows(postgres.dsn, "SELECT seq FROM ward_events ORDER BY seq")]
    assert seqs == list(range(1, 501))
    assert rows(postgres.dsn, "SELECT events FROM ward_sites") == [(500,)]
    assert json.loads(json.dumps(rows(postgres.dsn, "SELECT data FROM ward_events WHERE seq = 500")[0][0])) == {
        "state": "ok",
        "n": 500,
    }


def test_with_the_branches_keys_only_a_log_its_office_signed_counts(
    mosquitto: Any, postgres: Any, publisher: mqtt.Client, wait_for: Any
) -> None:
    """The bridge's prefix says which branch's connection a log came over, not who wrote it: with
    the branches' office keys, a log not signed by its branch's office is kept aside."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from sync.signing import OfficeSigner

    branch_a, stranger = OfficeSigner(Ed25519PrivateKey.generate()), OfficeSigner(Ed25519PrivateKey.generate())

    def log(first: int, signer: OfficeSigner, site: str = "branch-a") -> bytes:
        rows = tuple(
            messages.TicketLogRow(
                id=n, at=NOW + n, ticket_id=f"2026-12-07-1-{1000 + n}", day="2026-12-07", kind="issued",
                category="moving", device="disp-1",
            )
            for n in range(first, first + 3)
        )  # fmt: skip
        body = protocol.encode(messages.TicketLogBatch(after=first - 1, upto=first + 2, rows=rows))
        return signer.seal("ticket_log", site, None, body)

    consumer = WardConsumer("127.0.0.1", mosquitto.port, postgres.dsn, branch_keys={"branch-a": branch_a.public_text})
    consumer.start()
    try:
        wait_for(lambda: consumer._client.is_connected(), 10)
        publish(publisher, "ward/branch-a/up/office/log", log(1, branch_a))  # its own office: taken
        publish(publisher, "ward/branch-a/up/office/log", log(4, stranger))  # forged: aside
        publish(publisher, "ward/branch-a/up/office/log", log(4, branch_a, "branch-b"))  # another's address
        publish(publisher, "ward/branch-b/up/office/log", log(1, stranger, "branch-b"))  # no key for it
        wait_for(lambda: consumer.stats["log_rows"] == 3 and consumer.stats["kept_aside"] == 3, 20)
    finally:
        consumer.stop()
    assert rows(postgres.dsn, "SELECT site, id FROM ward_ticket_log ORDER BY site, id") == [
        ("branch-a", 1),
        ("branch-a", 2),
        ("branch-a", 3),
    ]
    why = [r[0] for r in rows(postgres.dsn, "SELECT why FROM ward_kept_aside ORDER BY id")]
    assert len(why) == 3 and all(w.startswith("refused:") for w in why) and "no office key" in why[2]


def test_the_consumer_s_keys_on_the_command_line_are_checked_first(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from office import ward_cli

    def consume(*extra: str) -> str:
        parser = argparse.ArgumentParser(prog="madoguchi-office")
        ward_cli.add_parser(parser.add_subparsers(dest="command", required=True))
        args = ["ward", "consume", "--broker", "127.0.0.1:1", "--dsn", "postgresql://nobody@127.0.0.1:1/x", *extra]
        with pytest.raises(SystemExit) as done:
            ward_cli.run(parser.parse_args(args))
        assert done.value.code == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        return err

    assert "no such file" in consume("--key", str(tmp_path / "missing.key"))
    assert "--branch-key" in consume("--branch-key", "chuo=ed25519:short")
    assert "--branch-key" in consume("--branch-key", "bad site=ed25519:AAAA")
