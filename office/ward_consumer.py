"""The central office's consumer: every branch's events, from the central Mosquitto into PostgreSQL,
each exactly once (the edge: MQTT in, SQL out).

A branch's Mosquitto bridges its devices' event batches up to the centre under
``ward/<site>/up/device/<device>/events`` (office/ward_bridge.py). Who sent them is the topic's,
never the payload's: the centre's ACL lets a branch's bridge write under its own site's prefix
only, and the branch's broker lets a device publish on its own device topic only; a batch whose
``device`` differs from its topic is kept aside, like a malformed one, logged and counted.

Exactly once: the subscription is a persistent session (QoS 1, no clean start), each message is
acknowledged only after the transaction that holds its events has committed, and the table's key
``(site, device, seq)`` makes a redelivered batch a no-op (``ON CONFLICT DO NOTHING``). Killed
between the commit and the acknowledgement, the consumer gets the batch again and adds nothing;
killed before the commit, it gets it again and adds it. While PostgreSQL is away the consumer
holds the batches in arrival order, unacknowledged, and tries again: nothing is lost, and a
device's events go in in the order they came.

How far behind each branch is: ``ward_sites`` keeps per site the newest event's device time and
when it reached the centre; :meth:`WardConsumer.lag` reports both against now.

What each branch looks like now: every state document that goes up (the routes of
office/ward_bridge.py going ``out`` at QoS 0: device and office status, configuration, queue and
board snapshots...) and the bridge's own ``bridge/state``, the latest of each in ``ward_state``
(last value wins; an empty retained payload clears it). The central console's ward floor reads it.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from office.ward_bridge import ROUTES, WARD_ROOT, Route
from sync import messages, protocol
from sync.errors import ProtocolError
from sync.signing import OfficeSigner, OfficeVerifier, SignatureError

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS ward_events (
    site TEXT NOT NULL, device TEXT NOT NULL, seq BIGINT NOT NULL, type TEXT NOT NULL, hlc TEXT NOT NULL,
    at_ms BIGINT NOT NULL, received_ms BIGINT NOT NULL, data JSONB NOT NULL,
    PRIMARY KEY (site, device, seq)
);
CREATE TABLE IF NOT EXISTS ward_sites (
    site TEXT PRIMARY KEY, events BIGINT NOT NULL DEFAULT 0, newest_at_ms BIGINT, received_ms BIGINT
);
CREATE TABLE IF NOT EXISTS ward_ticket_log (
    site TEXT NOT NULL, id BIGINT NOT NULL, at_ms BIGINT NOT NULL, ticket_id TEXT NOT NULL, day DATE NOT NULL,
    kind TEXT NOT NULL, category TEXT NOT NULL, station TEXT, counter INTEGER, username TEXT, device TEXT,
    detail TEXT, received_ms BIGINT NOT NULL,
    PRIMARY KEY (site, id)
);
CREATE INDEX IF NOT EXISTS ward_ticket_log_day ON ward_ticket_log (site, day);
CREATE TABLE IF NOT EXISTS ward_log_marks (site TEXT PRIMARY KEY, upto BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS ward_state (
    site TEXT NOT NULL, name TEXT NOT NULL, device TEXT NOT NULL DEFAULT '', received_ms BIGINT NOT NULL,
    changed_ms BIGINT NOT NULL, body JSONB NOT NULL,
    PRIMARY KEY (site, name, device)
);
CREATE TABLE IF NOT EXISTS ward_kept_aside (
    id BIGSERIAL PRIMARY KEY, received_ms BIGINT NOT NULL, topic TEXT NOT NULL, why TEXT NOT NULL
);
"""
TOPIC = "ward/+/up/device/+/events"
LOG_TOPIC = "ward/+/up/office/log"
BRIDGE_STATE = "bridge_state"  # the name ``ward/<site>/up/bridge/state`` is kept under
RETRY_S = 1.0
GROUP = 200  # batches written in one transaction at most


@dataclass(frozen=True)
class Lag:
    """How far behind a branch is at the centre: its newest event's device time and when the
    centre last heard from it, against now (ms)."""

    site: str
    events: int
    behind_ms: int | None
    silent_ms: int | None


def log_site(topic: str) -> str | None:
    """The site of ``ward/<site>/up/office/log``; None for anything else."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != "ward" or parts[2:] != ["up", "office", "log"] or not protocol.valid_id(parts[1]):
        return None
    return parts[1]


def state_routes() -> tuple[Route, ...]:
    """The routes whose latest document the centre keeps: state going up (QoS 0, retained)."""
    return tuple(r for r in ROUTES if r.direction == "out" and r.qos == 0)


def state_topics() -> list[str]:
    """The centre's subscriptions for every branch's state documents and bridge state."""
    return [f"{WARD_ROOT}/+/up/{r.pattern}" for r in state_routes()] + [f"{WARD_ROOT}/+/up/bridge/state"]


def state_of(topic: str) -> tuple[str, str, str] | None:
    """``(site, name, device)`` of a state topic going up (device "" for the office's own
    documents and the bridge state); None for anything else."""
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != WARD_ROOT or parts[2] != "up" or not protocol.valid_id(parts[1]):
        return None
    rest = parts[3:]
    if rest == ["bridge", "state"]:
        return parts[1], BRIDGE_STATE, ""
    for route in state_routes():
        pattern = route.pattern.split("/")
        if len(pattern) == len(rest) and all(
            p == r or (p == "+" and protocol.valid_id(r)) for p, r in zip(pattern, rest, strict=True)
        ):
            device = next((r for p, r in zip(pattern, rest, strict=True) if p == "+"), "")
            return parts[1], route.name, device
    return None


def site_and_device(topic: str) -> tuple[str, str] | None:
    """``(site, device)`` of ``ward/<site>/up/device/<device>/events``; None for anything else."""
    parts = topic.split("/")
    if len(parts) != 6 or parts[0] != "ward" or parts[2] != "up" or parts[3] != "device" or parts[5] != "events":
        return None
    if not protocol.valid_id(parts[1]) or not protocol.valid_id(parts[4]):
        return None
    return parts[1], parts[4]


def _keep_aside(
    db: psycopg.Connection[tuple[object, ...]], now: int, topic: str, why: str, counts: dict[str, int]
) -> None:
    """A message the centre would not take: logged, counted and kept for whoever looks into it."""
    counts["kept_aside"] = counts.get("kept_aside", 0) + 1
    log.warning("ward: %s kept aside: %s", topic, why)
    db.execute(
        "INSERT INTO ward_kept_aside(received_ms, topic, why) VALUES (%s, %s, %s)", (now, topic[:300], why[:500])
    )


class WardConsumer:
    """Subscribes at the central broker (``host``, ``port``) and writes into PostgreSQL (``dsn``)."""

    def __init__(
        self,
        host: str,
        port: int,
        dsn: str,
        *,
        client_id: str = "ward-office",
        username: str | None = None,
        tls: tuple[Path, Path, Path] | None = None,
        clock: Callable[[], int] = lambda: int(time.time() * 1000),
        branch_keys: Mapping[str, str] | None = None,
        signer: OfficeSigner | None = None,
    ) -> None:
        self.dsn = dsn
        # With the branches' office keys, a ticket log counts only when its branch's office signed
        # it (the bridge's prefix says which branch's connection it came over, not who wrote it).
        self._keys = {site: OfficeVerifier.from_text(key) for site, key in (branch_keys or {}).items()}
        # The centre office's key: its acknowledgements of the branches' logs go down signed, and a
        # branch that pinned the centre's key believes no other.
        self._signer = signer
        self.clock = clock
        self.stats: Tally[str] = Tally()
        self._pending: queue.Queue[mqtt.MQTTMessage | None] = queue.Queue()
        self._stop = threading.Event()
        self._db: psycopg.Connection[tuple[object, ...]] | None = None
        self._worker = threading.Thread(target=self._work, name="ward-consumer", daemon=True)
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,  # a persistent session: what arrives while we are away waits
            manual_ack=True,  # acknowledged after the commit, never before
        )
        if tls is not None:  # (ca, certificate, key): the certificate's CN is who the centre's ACL knows
            ca, cert, key = tls
            self._client.tls_set(ca_certs=str(ca), certfile=str(cert), keyfile=str(key))
        elif username is not None:  # plain TCP (a closed test network): the ACL takes the claimed name
            self._client.username_pw_set(username)
        self._client.on_connect = self._on_connect
        self._client.on_message = lambda _c, _u, m: self._pending.put(m)
        self._client.reconnect_delay_set(1, 5)
        self._host, self._port = host, port

    def start(self) -> None:
        """Connect (in the background, with retries) and start writing."""
        self._ensure_schema()
        self._worker.start()
        self._client.connect_async(self._host, self._port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        """Stop taking messages; what is not committed yet is not acknowledged (it comes again)."""
        self._stop.set()
        self._pending.put(None)
        self._worker.join(timeout=10)
        self._client.disconnect()
        self._client.loop_stop()
        if self._db is not None:
            self._db.close()

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        client.subscribe([(TOPIC, 1), (LOG_TOPIC, 1), *((t, 0) for t in state_topics())])

    # -- the store --------------------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._db is None or self._db.closed:
            self._db = psycopg.connect(self.dsn, connect_timeout=5)
        return self._db

    def _ensure_schema(self) -> None:
        while not self._stop.is_set():
            try:
                with self._connection() as db, db.transaction():
                    db.execute(SCHEMA)
                return
            except psycopg.OperationalError as err:
                log.warning("ward: PostgreSQL unreachable (%s); trying again", err)
                self._db = None
                time.sleep(RETRY_S)

    def _work(self) -> None:
        while not self._stop.is_set():
            first = self._pending.get()
            if first is None:
                return
            # What waits already goes in with it, in one transaction: a branch catching up after
            # an outage sends thousands of small batches, and a commit each would be the bound.
            group = [first]
            while len(group) < GROUP:
                try:
                    more = self._pending.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._pending.put(None)
                    break
                group.append(more)
            while not self._stop.is_set():
                try:
                    self._write(group)
                    break
                except psycopg.OperationalError as err:
                    # PostgreSQL away: keep the batches (unacknowledged) and their order, try again.
                    self.stats["db_retries"] += 1
                    log.warning("ward: PostgreSQL unreachable (%s); %d batches wait", err, len(group))
                    self._db = None
                    self._stop.wait(RETRY_S)
            else:
                return  # stopping: not acknowledged, the broker gives them again
            for message in group:
                self._client.ack(message.mid, message.qos)

    def _write(self, group: list[mqtt.MQTTMessage]) -> None:
        now = self.clock()
        db = self._connection()
        counts: dict[str, int] = {}
        acks: dict[str, int] = {}
        with db.transaction():
            for message in group:
                site = log_site(message.topic)
                state = state_of(message.topic) if site is None else None
                if site is not None:
                    upto = self._write_log(db, site, message, now, counts)
                    if upto is not None:
                        acks[site] = upto
                elif state is not None:
                    _write_state(db, state, message, now, counts)
                else:
                    self._write_one(db, message, now, counts)
        for key, n in counts.items():
            self.stats[key] += n
        # After the commit: the branch stops resending what the centre now holds for good.
        for site, upto in acks.items():
            body = protocol.encode(messages.TicketLogAck(upto=upto))
            if self._signer is not None:
                body = self._signer.seal("ticket_log_ack", site, None, body)
            self._client.publish(f"ward/{site}/down/office/log/ack", body, qos=1)

    def _write_log(
        self,
        db: psycopg.Connection[tuple[object, ...]],
        site: str,
        message: mqtt.MQTTMessage,
        now: int,
        counts: dict[str, int],
    ) -> int | None:
        """A branch's ticket log rows, once each; the mark up to which the centre holds them all."""
        if self._keys:
            verifier = self._keys.get(site)
            try:
                if verifier is None:
                    raise SignatureError(f"no office key for branch {site}")
                verifier.check("ticket_log", site, None, bytes(message.payload))
            except SignatureError as err:
                _keep_aside(db, now, message.topic, f"refused: {err}", counts)
                return None
        try:
            batch = protocol.decode("ticket_log", bytes(message.payload))
        except ProtocolError as err:
            _keep_aside(db, now, message.topic, f"malformed: {err}", counts)
            return None
        if any(not batch.after < r.id <= batch.upto for r in batch.rows):
            _keep_aside(db, now, message.topic, f"rows outside {batch.after}..{batch.upto}", counts)
            return None
        added = 0
        for r in batch.rows:
            cur = db.execute(
                "INSERT INTO ward_ticket_log(site, id, at_ms, ticket_id, day, kind, category, station, counter,"
                " username, device, detail, received_ms) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
                " ON CONFLICT DO NOTHING",
                (site, r.id, r.at, r.ticket_id, r.day, r.kind, r.category, r.station, r.counter, r.username,
                 r.device, r.detail, now),
            )  # fmt: skip
            added += cur.rowcount
        counts["log_rows"] = counts.get("log_rows", 0) + added
        row = db.execute("SELECT upto FROM ward_log_marks WHERE site = %s FOR UPDATE", (site,)).fetchone()
        mark = int(str(row[0])) if row else 0
        if batch.after <= mark < batch.upto:  # it continues what the centre holds: the mark moves on
            mark = batch.upto
            db.execute(
                "INSERT INTO ward_log_marks(site, upto) VALUES (%s, %s) ON CONFLICT (site) DO UPDATE SET upto = %s",
                (site, mark, mark),
            )
        return mark

    def _write_one(
        self, db: psycopg.Connection[tuple[object, ...]], message: mqtt.MQTTMessage, now: int, counts: dict[str, int]
    ) -> None:
        where = site_and_device(message.topic)
        why = None
        batch: messages.EventBatch | None = None
        if where is None:
            why = "not a ward event topic"
        else:
            try:
                batch = protocol.decode("events", bytes(message.payload))
            except ProtocolError as err:
                why = f"malformed: {err}"
            if batch is not None and batch.device != where[1]:
                why, batch = f"batch names device {batch.device!r}, its topic {where[1]!r}", None
        if batch is None or where is None:
            _keep_aside(db, now, message.topic, why or "", counts)
            return
        site, device = where
        added = 0
        newest = None
        for rec in batch.events:
            cur = db.execute(
                "INSERT INTO ward_events(site, device, seq, type, hlc, at_ms, received_ms, data)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (site, device, rec.seq, rec.type, rec.hlc, rec.at, now, json.dumps(rec.data, ensure_ascii=False)),
            )
            added += cur.rowcount
            newest = rec.at if newest is None else max(newest, rec.at)
        db.execute(
            "INSERT INTO ward_sites(site, events, newest_at_ms, received_ms) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (site) DO UPDATE SET events = ward_sites.events + EXCLUDED.events,"
            " newest_at_ms = GREATEST(ward_sites.newest_at_ms, EXCLUDED.newest_at_ms),"
            " received_ms = EXCLUDED.received_ms",
            (site, added, newest, now),
        )
        counts["events"] = counts.get("events", 0) + added
        counts["duplicates"] = counts.get("duplicates", 0) + len(batch.events) - added

    # -- how far behind ---------------------------------------------------------------------------

    def lag(self) -> list[Lag]:
        """Each branch heard from: its events at the centre and how far behind it is now."""
        with psycopg.connect(self.dsn, connect_timeout=5) as db:
            return read_lag(db, self.clock())


def _write_state(
    db: psycopg.Connection[tuple[object, ...]],
    where: tuple[str, str, str],
    message: mqtt.MQTTMessage,
    now: int,
    counts: dict[str, int],
) -> None:
    """A branch's latest state document (or its bridge's state): upserted, last value wins;
    ``changed_ms`` is when it last changed (a retained value sent again is no change)."""
    site, name, device = where
    raw = bytes(message.payload)
    if not raw:  # the retained value cleared
        db.execute("DELETE FROM ward_state WHERE site = %s AND name = %s AND device = %s", (site, name, device))
        return
    if name == BRIDGE_STATE:
        if raw not in (b"0", b"1"):
            _keep_aside(db, now, message.topic, f"bridge state {raw[:20]!r} is neither 1 nor 0", counts)
            return
        body = json.dumps({"connected": raw == b"1"})
    else:
        try:
            protocol.decode(name, raw)
        except (ProtocolError, KeyError) as err:
            _keep_aside(db, now, message.topic, f"malformed: {err}", counts)
            return
        body = raw.decode()
    try:
        with db.transaction():  # a savepoint: a document PostgreSQL refuses costs only itself
            db.execute(
                "INSERT INTO ward_state(site, name, device, received_ms, changed_ms, body)"
                " VALUES (%s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT (site, name, device) DO UPDATE SET"
                " received_ms = EXCLUDED.received_ms, changed_ms = CASE WHEN ward_state.body = EXCLUDED.body"
                " THEN ward_state.changed_ms ELSE EXCLUDED.changed_ms END, body = EXCLUDED.body",
                (site, name, device, now, now, body),
            )
    except psycopg.DataError as err:
        _keep_aside(db, now, message.topic, f"refused: {err}", counts)
        return
    counts["states"] = counts.get("states", 0) + 1


def read_lag(db: psycopg.Connection[Any], now: int) -> list[Lag]:
    """Each branch heard from, on an open connection: its events and how far behind it is at ``now``."""
    rows = db.execute("SELECT site, events, newest_at_ms, received_ms FROM ward_sites ORDER BY site").fetchall()
    return [
        Lag(
            str(site),
            int(events),
            None if newest is None else now - int(newest),
            None if received is None else now - int(received),
        )
        for site, events, newest, received in rows
    ]
