"""Broker security against a real Mosquitto running the office's generated files.

Each test starts Mosquitto on ``broker/mosquitto.conf`` as office/broker_security.py wrote it:
TLS only, client certificates from the office CA, CN as username and client id, the generated
ACL and CRL. "Nothing arrives" is checked with a monitor identity that reads the whole site
and a sentinel: the forbidden publish is sent at QoS 1 and its PUBACK awaited (Mosquitto acks
a refused publish too, after deciding about it), then an allowed message is published; once
the sentinel arrives, anything routed before it would have arrived first.
"""

from __future__ import annotations

import os
import pwd
import sqlite3
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion

from firmware_profiles.enroll import DeviceIdentity, enroll
from lobby.brokers import BrokerStartError, MosquittoBroker, free_port
from office import cli as office_cli
from office import config as configmod
from office.broker_security import (
    DEVICE_READS,
    BrokerSecurityError,
    BrokerSettings,
    Identity,
    SecurityHome,
    acl_text,
    apply,
    identities_from,
    init_security,
    issue_identity,
    load_identity,
    load_settings,
    mosquitto_conf_text,
    reload_broker,
    revoke_device,
    tls_url,
    write_broker_config,
)
from office.enrol_http import EnrolServer
from office.enrolment import EnrolmentError, EnrolmentRegistry
from office.pki import OfficeCA, load_certificate, private_pem, write_private, write_public
from office.server import OfficeServer
from sync import messages, protocol
from sync.agent import DOCUMENTS_BY_ROLE, AgentConfig, DeviceAgent
from sync.link import BrokerAddress, LinkError

SITE = configmod.load()
S = SITE.site
PROFILE = "sha256:" + "cd" * 32
DAY = 86_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, message: str = "condition not met") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} (waited {timeout:g} s)")
        time.sleep(0.02)


# --------------------------------------------------------------------------------------------
# clients
# --------------------------------------------------------------------------------------------


def probe(url: str, *, context: ssl.SSLContext | None = None, host: str = "127.0.0.1", timeout: float = 5.0) -> str:
    """Try one MQTT connection: "connected", or why it was refused."""
    address = BrokerAddress.parse(url)
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="probe", protocol=mqtt.MQTTv311)
    if address.tls or context is not None:
        client.tls_set_context(context or address.tls_context())
    answer: list[Any] = []
    client.on_connect = lambda _c, _u, _f, reason, _p: answer.append(reason)
    try:
        client.connect(host, address.port, keepalive=10)
        deadline = time.monotonic() + timeout
        while not answer and time.monotonic() < deadline:
            rc = client.loop(timeout=0.1)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                return f"refused: {mqtt.error_string(rc)}"
    except (OSError, ssl.SSLError) as err:
        return f"refused: {err}"
    finally:
        client.disconnect()
    if not answer:
        return "no answer"
    return "connected" if not answer[0].is_failure else f"refused: {answer[0]}"


@dataclass
class Peer:
    """A connected MQTT client that records what it receives."""

    url: str
    client_id: str = "peer"
    client: mqtt.Client = field(init=False)
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    downs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        address = BrokerAddress.parse(self.url)
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv311
        )
        self.client.tls_set_context(address.tls_context())
        self.client.on_message = lambda _c, _u, m: self.messages.append((m.topic, bytes(m.payload)))
        self.client.on_disconnect = lambda _c, _u, _f, reason, _p: self.downs.append(str(reason))
        connected = threading.Event()
        self.client.on_connect = lambda _c, _u, _f, reason, _p: connected.set() if not reason.is_failure else None
        self.client.connect(address.host, address.port, keepalive=30)
        self.client.loop_start()
        assert connected.wait(5), f"{self.url} did not connect"

    def subscribe(self, topic: str) -> None:
        acked = threading.Event()
        self.client.on_subscribe = lambda *_a: acked.set()
        self.client.subscribe(topic, qos=1)
        assert acked.wait(5), f"no SUBACK for {topic}"

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """QoS 1 and wait for the PUBACK: the broker has decided about the message."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(5)
        assert info.is_published(), f"no PUBACK for {topic}"

    def got(self, payload: bytes) -> bool:
        return any(p == payload for _, p in self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --------------------------------------------------------------------------------------------
# a site: CA, broker files, a running Mosquitto on them
# --------------------------------------------------------------------------------------------


@dataclass
class Site:
    home: SecurityHome
    broker: MosquittoBroker
    registry: EnrolmentRegistry
    tmp: Path
    peers: list[Peer] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.broker.port

    def reloads(self) -> int:
        try:
            return self.broker.log_path.read_text().count("Reloading config")
        except FileNotFoundError:
            return 0

    def apply(self) -> None:
        """Regenerate the files, SIGHUP through the pid file, wait until Mosquitto reloaded."""
        before = self.reloads()
        _files, reloaded = apply(self.home, now_ms=now_ms())
        assert reloaded
        wait_for(lambda: self.reloads() > before, message="mosquitto did not reload")

    def enrol(self, device_id: str, role: str, *, apply_acl: bool = True) -> str:
        """Enrol a device the way the endpoint does (token, own key, CSR); its broker URL."""
        token = self.registry.issue_token(device_id, role, now_ms=now_ms())
        key = ec.generate_private_key(ec.SECP256R1())
        enrolled = self.registry.redeem(token.text, csr(key, device_id), device_id, PROFILE, now_ms=now_ms())
        directory = self.tmp / "devices" / device_id
        directory.mkdir(parents=True, exist_ok=True)
        write_private(directory / "device.key", private_pem(key))
        write_public(directory / "device.pem", enrolled.certificate_pem.encode())
        write_public(directory / "ca.pem", enrolled.ca_pem.encode())
        if apply_acl:
            self.apply()
        return self.device_url(device_id)

    def enrol_over_https(self, device_id: str, role: str, office_key: str | None = None) -> DeviceIdentity:
        """Enrol through the real HTTPS endpoint, as a technician does (the endpoint rewrites the
        ACL and reloads Mosquitto); the identity the device stored."""
        files = write_broker_config(self.home, now_ms=now_ms())
        with EnrolServer(
            self.registry,
            certfile=files.cert,
            keyfile=files.key,
            host="127.0.0.1",
            port=0,
            broker=f"mqtts://localhost:{self.port}",
            office_key=office_key,
            on_enrolled=lambda _e: apply(self.home, now_ms=now_ms()),
        ) as endpoint:
            before = self.reloads()
            token = self.registry.issue_token(device_id, role, now_ms=now_ms())
            identity = enroll(endpoint.url("localhost"), token.text, device_id, PROFILE, self.tmp / device_id / "tls")
            wait_for(lambda: self.reloads() > before, message="enrolment did not reload the broker")
        return identity

    def device_url(self, device_id: str, host: str = "127.0.0.1") -> str:
        d = self.tmp / "devices" / device_id
        return tls_url(
            host, self.port, ca=d / "ca.pem", cert=d / "device.pem", key=d / "device.key", ignore_server_time=True
        )

    def identity(self, name: str, role: str) -> str:
        made = issue_identity(self.home, name, role, now_ms=now_ms())
        self.apply()
        return made.url("127.0.0.1", self.port)

    def office_url(self, host: str = "127.0.0.1") -> str:
        return load_identity(self.home, "office").url(host, self.port)

    def peer(self, url: str, client_id: str | None = None) -> Peer:
        p = Peer(url, client_id or f"peer-{len(self.peers)}")
        self.peers.append(p)
        return p


def csr(key: ec.EllipticCurvePrivateKey, name: str) -> bytes:
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM)


def settings_for(port: int) -> BrokerSettings:
    # Tests run as whoever runs them (root in CI): Mosquitto must stay that user to read the
    # 0600 server key, and listens on loopback only.
    return BrokerSettings(
        site=S,
        hosts=("localhost",),
        port=port,
        bind_address="127.0.0.1",
        run_as_user=pwd.getpwuid(os.geteuid()).pw_name,
        autosave_interval=1,
    )


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    home = SecurityHome(tmp_path / "security")
    port = free_port()
    files, _office = init_security(home, settings_for(port), now_ms=now_ms())
    broker = MosquittoBroker(files.directory, port, config_file=files.conf)
    registry = EnrolmentRegistry.open(tmp_path / "office.sqlite3", OfficeCA.load(home.ca_dir), S)
    broker.start()
    s = Site(home, broker, registry, tmp_path)
    try:
        yield s
    finally:
        for p in s.peers:
            p.close()
        registry.close()
        broker.stop()


def topic(name: str, device: str = "+", terminal: str = "+") -> str:
    return protocol.topic(name, S, device=device, terminal=terminal)


# --------------------------------------------------------------------------------------------
# generated files (no broker)
# --------------------------------------------------------------------------------------------


def test_acl_grants_each_role_what_its_agent_subscribes_to() -> None:
    """The ACL's reads per role match the device agent's subscriptions (sync/agent.py)."""
    for role, documents in DOCUMENTS_BY_ROLE.items():
        assert DEVICE_READS[role] == documents, role
    text = acl_text(
        S,
        [
            Identity("disp-1", "dispenser"),
            Identity("board-1", "board"),
            Identity("office", "office"),
            Identity("desk-1", "staff"),
            Identity("tech", "monitor"),
            Identity("odd", "printer"),
        ],
    )
    blocks = {b.splitlines()[1].split()[1]: b.splitlines()[2:] for b in text.split("\n\n")[1:] if "user " in b}
    root = f"madoguchi/v1/{S}"
    assert blocks["disp-1"] == [
        f"topic write {root}/device/disp-1/#",
        f"topic read {root}/office/status",
        f"topic read {root}/office/ack/disp-1",
        f"topic read {root}/office/config",
        f"topic read {root}/office/snapshot/queue",
        f"topic read {root}/office/lease/disp-1",
        f"topic read {root}/office/voids/disp-1",
    ]
    assert f"topic read {root}/office/snapshot/board" in blocks["board-1"]
    assert f"topic read {root}/office/lease/board-1" not in blocks["board-1"]
    assert blocks["desk-1"] == [f"topic write {root}/staff/desk-1/command", f"topic read {root}/staff/desk-1/reply"]
    # The monitor reads the site but for the kiosk's requests and replies (residents' data).
    assert f"topic read {root}/device/+/events" in blocks["tech"]
    assert f"topic read {root}/office/config" in blocks["tech"]
    assert not [rule for rule in blocks["tech"] if "#" in rule or "request" in rule or "/reply/" in rule]
    assert f"topic readwrite {root}/office/#" in blocks["office"]
    assert "# odd: role 'printer' has no rights on this broker" in text and "user odd" not in text


def test_conf_is_tls_only_with_identities_acl_crl_and_raised_queue(tmp_path: Path) -> None:
    home = SecurityHome(tmp_path / "sec")
    files, office = init_security(home, BrokerSettings(site=S, hosts=("office.local", "192.168.1.5")), now_ms=now_ms())
    conf = files.conf.read_text()
    for line in (
        "allow_anonymous false",
        "listener 8883",
        "require_certificate true",
        "use_identity_as_username true",
        "use_username_as_clientid true",
        f"crlfile {files.crl}",
        f"acl_file {files.acl}",
        f"cafile {files.ca}",
        "max_queued_messages 100000",
        "persistence true",
        "tls_version tlsv1.2",
        "max_connections 500",
        "max_keepalive 300",
        f"max_queued_bytes {256 * 1024 * 1024}",
    ):
        assert line in conf.splitlines(), line
    ciphers = next(line for line in conf.splitlines() if line.startswith("ciphers ")).split()[1].split(":")
    assert ciphers and all(c.startswith("ECDHE-") and ("GCM" in c or "CHACHA20" in c) for c in ciphers), ciphers
    assert conf.count("listener ") == 1 and "user " not in conf
    assert conf == mosquitto_conf_text(files)
    assert oct(files.key.stat().st_mode & 0o777) == "0o600" and oct(office.key.stat().st_mode & 0o777) == "0o600"
    assert "user office" in files.acl.read_text()
    assert load_settings(home).hosts == ("office.local", "192.168.1.5")
    # Rewriting keeps the server certificate unless the host list changes.
    serial = load_certificate(files.cert.read_bytes()).serial_number
    again = write_broker_config(home, now_ms=now_ms())
    assert load_certificate(again.cert.read_bytes()).serial_number == serial
    moved = write_broker_config(home, now_ms=now_ms(), settings=BrokerSettings(site=S, hosts=("office2.local",)))
    assert load_certificate(moved.cert.read_bytes()).serial_number != serial
    # The office identity is created once.
    _files, same = init_security(home, BrokerSettings(site=S), now_ms=now_ms())
    assert same.cert.read_bytes() == office.cert.read_bytes()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (BrokerSettings(site="a b"), "site 'a b' is invalid"),
        (BrokerSettings(site=S, port=0), "broker port 0 is invalid"),
        (BrokerSettings(site=S, hosts=("http://x",)), "host 'http://x' is invalid"),
        (BrokerSettings(site=S, max_queued_messages=-1), "max_queued_messages = -1"),
        (BrokerSettings(site=S, max_connections=0), "max_connections = 0 is invalid: use 1 or more"),
        (BrokerSettings(site=S, max_keepalive=5), "max_keepalive = 5 is invalid: use 10-65535 seconds"),
        (BrokerSettings(site=S, max_queued_bytes=-1), "max_queued_bytes = -1"),
    ],
)
def test_bad_broker_settings_are_named(tmp_path: Path, settings: BrokerSettings, message: str) -> None:
    with pytest.raises(BrokerSecurityError, match=message):
        init_security(tmp_path / "sec", settings, now_ms=now_ms())


def test_only_the_newest_valid_certificate_of_a_name_counts(tmp_path: Path) -> None:
    ca = OfficeCA.create(tmp_path / "ca", site=S, now_ms=1_000 * DAY)
    ca.issue_identity(name="a", role="staff", now_ms=1_000 * DAY)
    ca.issue_identity(name="a", role="monitor", now_ms=1_001 * DAY)  # supersedes the staff one
    ca.issue_identity(name="b", role="staff", now_ms=1_000 * DAY, valid_days=1)
    ca.issue_identity(name="c", role="staff", now_ms=1_000 * DAY)
    ca.revoke_name("c", now_ms=1_001 * DAY)
    ca.issue_server(["x"], now_ms=1_000 * DAY)
    assert identities_from(ca.records(), 1_002 * DAY) == [Identity("a", "monitor")]


def test_revoking_an_unknown_name_is_refused_and_reload_never_signals_a_stranger(tmp_path: Path) -> None:
    home = SecurityHome(tmp_path / "sec")
    files, _ = init_security(home, BrokerSettings(site=S), now_ms=now_ms())
    with pytest.raises(BrokerSecurityError, match="no certificate was ever issued to 'disp-9'"):
        revoke_device(home, "disp-9", now_ms=now_ms())
    assert not reload_broker(files)  # no pid file
    files.pid_file.write_text(f"{os.getpid()}\n")  # a stale pid now used by another program (us)
    assert not reload_broker(files)
    with pytest.raises(BrokerSecurityError, match="staff or monitor"):
        issue_identity(home, "disp-1", "dispenser", now_ms=now_ms())
    # One name, one identity: a staff name cannot silently replace a monitor's certificate.
    issue_identity(home, "tech", "monitor", now_ms=now_ms())
    with pytest.raises(BrokerSecurityError, match="'tech' is already the identity of a monitor"):
        issue_identity(home, "tech", "staff", now_ms=now_ms())
    registry = EnrolmentRegistry.open(tmp_path / "o.sqlite3", OfficeCA.load(home.ca_dir), S)
    with pytest.raises(EnrolmentError, match="'tech' is already the identity of a monitor made at the office"):
        registry.issue_token("tech", "dispenser", now_ms=now_ms())
    registry.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mqtt://h:1/?ca=/x", "use mqtts://"),
        ("mqtts://h:1/?cafile=/x", "option 'cafile' is unknown"),
        ("mqtts://h:1/?server_time=ignore", "needs ca=FILE"),
        ("mqtts://h:1/?ca=/x&server_time=never", "server_time='never' is invalid"),
        ("mqtts://h:1/?key=/k", "needs cert="),
        ("mqtts://h:1/?ca=", "is empty"),
    ],
)
def test_broker_url_tls_options_are_checked(url: str, message: str) -> None:
    with pytest.raises(LinkError, match=message):
        BrokerAddress.parse(url)


def test_broker_url_names_unusable_tls_files(tmp_path: Path) -> None:
    address = BrokerAddress.parse(f"mqtts://h:1/?ca={tmp_path}/missing.pem")
    with pytest.raises(LinkError, match="cannot use CA file"):
        address.tls_context()
    ca = OfficeCA.create(tmp_path / "ca", site=S, now_ms=now_ms())
    other = ca.issue_identity(name="x", role="staff", now_ms=now_ms())
    write_public(tmp_path / "c.pem", ca.issue_identity(name="y", role="staff", now_ms=now_ms()).cert_pem)
    write_private(tmp_path / "k.key", other.key_pem)
    address = BrokerAddress.parse(f"mqtts://h:1/?ca={ca.cert_path}&cert={tmp_path}/c.pem&key={tmp_path}/k.key")
    with pytest.raises(LinkError, match="cannot use client certificate"):
        address.tls_context()
    plain = BrokerAddress.parse("mqtt://u:p@h:1")
    assert (plain.tls, plain.ca_file, plain.check_server_time, plain.username) == (False, None, True, "u")


# --------------------------------------------------------------------------------------------
# a real Mosquitto on the generated files
# --------------------------------------------------------------------------------------------


def test_enrolled_device_syncs_with_the_office_over_tls(site: Site) -> None:
    """Enrolment over HTTPS, then the real office server and device agent over the secured
    broker: the device gets its documents, its events are stored and acked; a staff terminal's
    command is answered."""
    identity = site.enrol_over_https("disp-1", "dispenser")
    server = OfficeServer(SITE, site.tmp / "office-store.sqlite3", site.office_url("localhost"))
    server.start()
    agent = DeviceAgent(
        AgentConfig(
            site=S,
            device_id="disp-1",
            role="dispenser",
            broker_url=identity.broker_url(),
            data_dir=site.tmp / "disp-1" / "data",
        )
    )
    try:
        assert server.wait_online(10)
        agent.start()
        wait_for(
            lambda: agent.document("lease") and agent.document("office_config") and agent.office_online,
            message="the device did not receive its office documents",
        )
        agent.record(messages.PrinterStatusChanged(fault=None, paper_near_end=True, detail="tls test"))
        assert agent.wait_drained(10), "the office did not ack the device's event"
        db = sqlite3.connect(str(site.tmp / "office-store.sqlite3"))
        try:
            rows = db.execute("SELECT device, type FROM events").fetchall()
            state = db.execute("SELECT state FROM devices WHERE device = 'disp-1'").fetchone()
        finally:
            db.close()
        assert ("disp-1", "printer.status") in rows and state == ("online",)
        # A staff terminal on its own identity: the staff command round trip over TLS.
        staff_url = site.identity("desk-1", "staff")
        code = office_cli.main(
            [
                "staff",
                "--broker",
                staff_url,
                "--site",
                S,
                "--terminal",
                "desk-1",
                "--timeout",
                "10",
                "call",
                "next",
                "at",
                "counter",
                "1",
            ]
        )
        assert code in (0, 1)  # answered either way (nobody may be waiting)
    finally:
        agent.stop()
        server.stop()


def test_device_cannot_publish_as_another_device_or_as_the_office(site: Site) -> None:
    a_url = site.enrol("disp-a", "dispenser")
    site.enrol("disp-b", "dispenser", apply_acl=False)
    monitor = site.peer(site.identity("tech", "monitor"))
    monitor.subscribe(f"madoguchi/v1/{S}/#")
    a = site.peer(a_url)
    forbidden = [
        topic("events", "disp-b"),
        topic("device_status", "disp-b"),
        topic("ack", "disp-a"),
        topic("lease", "disp-a"),
        topic("office_status"),
        topic("office_config"),
        topic("queue_snapshot"),
        topic("board_snapshot"),
        topic("staff_command", terminal="desk-1"),
        "madoguchi/v1/other-site/device/disp-a/events",
        "$SYS/x",
        "x",
    ]
    for n, t in enumerate(forbidden):
        a.publish(t, f"forged-{n}".encode(), retain=n % 2 == 0)
    a.publish(topic("events", "disp-a"), b"sentinel")
    wait_for(lambda: monitor.got(b"sentinel"), message="the device's own event did not arrive")
    assert [p for _, p in monitor.messages] == [b"sentinel"]
    # Nothing forged was retained either: a new subscriber gets nothing.
    late = site.peer(site.identity("tech2", "monitor"))
    late.subscribe(f"madoguchi/v1/{S}/#")
    a.publish(topic("device_status", "disp-a"), b"sentinel-2")
    wait_for(lambda: late.got(b"sentinel-2"))
    assert [p for _, p in late.messages] == [b"sentinel-2"]


def test_the_monitor_never_reads_what_a_kiosk_and_the_office_say_about_a_resident(site: Site) -> None:
    kiosk = site.peer(site.enrol("kiosk-1", "kiosk"))
    monitor = site.peer(site.identity("tech", "monitor"))
    monitor.subscribe(f"madoguchi/v1/{S}/#")  # granted, filtered on delivery
    office = site.peer(site.office_url())
    kiosk.subscribe(topic("kiosk_reply", "kiosk-1"))
    kiosk.publish(topic("kiosk_request", "kiosk-1"), b"request: card certificate")
    office.publish(topic("kiosk_reply", "kiosk-1"), "reply: 山田 太郎, juminhyo".encode())
    wait_for(lambda: kiosk.got("reply: 山田 太郎, juminhyo".encode()), message="the kiosk did not get its reply")
    kiosk.publish(topic("device_status", "kiosk-1"), b"sentinel")
    wait_for(lambda: monitor.got(b"sentinel"), message="the monitor did not see the kiosk's status")
    assert [p for _, p in monitor.messages] == [b"sentinel"]


def test_the_broker_refuses_cbc_and_sha1_suites_and_takes_modern_ones(site: Site) -> None:
    site.enrol("disp-1", "dispenser", apply_acl=False)
    url = site.device_url("disp-1")
    address = BrokerAddress.parse(url)
    for weak in ("ECDHE-RSA-AES128-SHA", "ECDHE-ECDSA-AES128-SHA", "AES128-SHA", "AES256-SHA256"):
        old = address.tls_context()
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        old.set_ciphers(weak)
        assert probe(url, context=old).startswith("refused"), weak
    modern = address.tls_context()
    modern.maximum_version = ssl.TLSVersion.TLSv1_2
    modern.set_ciphers("ECDHE+AESGCM")
    assert probe(url, context=modern) == "connected"
    assert probe(url) == "connected"  # TLS 1.3 as the devices speak it


def test_device_reads_only_what_its_role_needs(site: Site) -> None:
    a = site.peer(site.enrol("disp-a", "dispenser"))
    board = site.peer(site.enrol("board-1", "board"))
    office = site.peer(site.office_url())
    for p in (a, board):
        p.subscribe(f"madoguchi/v1/{S}/#")  # granted by the broker, filtered on delivery
    for name, device in (("ack", "disp-b"), ("lease", "disp-b"), ("board_snapshot", "+"), ("ack", "board-1")):
        office.publish(topic(name, device), f"{name}/{device}".encode())
    office.publish(topic("ack", "disp-a"), b"ack-for-a")
    office.publish(topic("queue_snapshot"), b"queue")
    wait_for(lambda: a.got(b"queue") and board.got(b"queue"))
    assert sorted(p for _, p in a.messages) == [b"ack-for-a", b"queue"]
    assert sorted(p for _, p in board.messages) == [b"ack/board-1", b"board_snapshot/+", b"queue"]


def test_unenrolled_clients_are_refused(site: Site, tmp_path: Path) -> None:
    site.enrol("disp-1", "dispenser", apply_acl=False)
    assert probe(site.device_url("disp-1")) == "connected"
    # No TLS at all, and TLS without a client certificate.
    assert probe(f"mqtt://127.0.0.1:{site.port}").startswith("refused")
    anonymous = ssl.create_default_context(cafile=str(site.home.ca_dir / "ca.pem"))
    assert probe(f"mqtts://127.0.0.1:{site.port}", context=anonymous).startswith("refused")
    # A certificate for the same name from another CA.
    rogue = OfficeCA.create(tmp_path / "rogue", site=S, now_ms=now_ms())
    made = rogue.issue_identity(name="disp-1", role="dispenser", now_ms=now_ms())
    write_private(tmp_path / "r.key", made.key_pem)
    write_public(tmp_path / "r.pem", made.cert_pem)
    url = tls_url(
        "127.0.0.1", site.port, ca=site.home.ca_dir / "ca.pem", cert=tmp_path / "r.pem", key=tmp_path / "r.key"
    )
    assert probe(url).startswith("refused")


def test_tampered_and_expired_certificates_are_refused(site: Site, tmp_path: Path) -> None:
    site.enrol("disp-1", "dispenser", apply_acl=False)
    device = site.tmp / "devices" / "disp-1"
    der = load_certificate((device / "device.pem").read_bytes()).public_bytes(serialization.Encoding.DER)
    # Same key, CN edited from disp-1 to disp-2 (impersonation): the CA's signature no longer fits.
    edited = der.replace(b"disp-1", b"disp-2")
    assert edited != der
    write_public(
        tmp_path / "edited.pem", x509.load_der_x509_certificate(edited).public_bytes(serialization.Encoding.PEM)
    )
    url = tls_url("127.0.0.1", site.port, ca=device / "ca.pem", cert=tmp_path / "edited.pem", key=device / "device.key")
    assert probe(url).startswith("refused")
    # Expired: issued ten days ago for one day, by the right CA.
    key = ec.generate_private_key(ec.SECP256R1())
    old = site.registry.ca.sign_csr(
        csr(key, "disp-3"), name="disp-3", role="dispenser", now_ms=now_ms() - 10 * DAY, valid_days=1
    )
    write_private(tmp_path / "old.key", private_pem(key))
    write_public(tmp_path / "old.pem", old.cert_pem)
    url = tls_url("127.0.0.1", site.port, ca=device / "ca.pem", cert=tmp_path / "old.pem", key=tmp_path / "old.key")
    assert probe(url).startswith("refused")
    # The untouched original still connects: the refusals above are about the certificates.
    assert probe(site.device_url("disp-1")) == "connected"


def test_mosquitto_rereads_the_crl_on_sighup(site: Site) -> None:
    """The CRL alone (ACL untouched) refuses a revoked device's next connection."""
    url = site.enrol("disp-1", "dispenser")
    assert probe(url) == "connected"
    site.registry.ca.revoke_name("disp-1", now_ms=now_ms())
    files = write_broker_config(site.home, now_ms=now_ms())
    files.acl.write_text(acl_text(S, [Identity("disp-1", "dispenser")]))  # keep its rights in the ACL
    before = site.reloads()
    site.broker.reload()
    wait_for(lambda: site.reloads() > before)
    assert probe(url).startswith("refused")


def test_revoked_device_loses_its_rights_at_once_and_is_refused_on_reconnect(site: Site) -> None:
    url = site.enrol("disp-1", "dispenser")
    site.enrol("disp-2", "dispenser", apply_acl=False)
    monitor = site.peer(site.identity("tech", "monitor"))
    monitor.subscribe(f"madoguchi/v1/{S}/#")
    revoked_peer = site.peer(url)
    other = site.peer(site.device_url("disp-2"))
    revoked_peer.publish(topic("events", "disp-1"), b"before")
    wait_for(lambda: monitor.got(b"before"))

    before = site.reloads()
    result = revoke_device(site.home, "disp-1", now_ms=now_ms(), registry=site.registry)
    assert result.reloaded and [r.name for r in result.revoked] == ["disp-1"]
    wait_for(lambda: site.reloads() > before)
    record = site.registry.device("disp-1")
    assert record is not None and record.revoked_ms is not None
    assert "user disp-1\n" not in (site.home.broker_dir / "acl").read_text()

    # Mosquitto keeps the open connection, but it can no longer publish anything ...
    revoked_peer.publish(topic("events", "disp-1"), b"after")
    other.publish(topic("events", "disp-2"), b"sentinel")
    wait_for(lambda: monitor.got(b"sentinel"))
    assert not monitor.got(b"after")
    # ... and its next connection is refused, while the other device carries on.
    assert probe(url).startswith("refused")
    assert probe(site.device_url("disp-2")) == "connected"
    # A new token enrols it again (a repaired device), with a new key and certificate.
    assert probe(site.enrol("disp-1", "dispenser")) == "connected"


def test_an_oversized_packet_disconnects_its_sender(site: Site) -> None:
    monitor = site.peer(site.identity("tech", "monitor"))
    monitor.subscribe(f"madoguchi/v1/{S}/#")
    device = site.peer(site.enrol("disp-1", "dispenser"))
    device.client.publish(topic("events", "disp-1"), b"x" * (protocol.MAX_PAYLOAD_BYTES + 2048), qos=1)
    wait_for(lambda: device.downs, message="the broker kept a client that sent an oversized packet")
    device.client.loop_stop()  # no reconnect that would resend it
    site.peer(site.enrol("disp-2", "dispenser")).publish(topic("events", "disp-2"), b"sentinel")
    wait_for(lambda: monitor.got(b"sentinel"))
    assert [p for _, p in monitor.messages] == [b"sentinel"]


def test_a_device_id_cannot_take_over_another_devices_session(site: Site) -> None:
    """use_username_as_clientid: B connecting with A's client id does not disconnect A."""
    a = site.peer(site.enrol("disp-a", "dispenser"), client_id=f"{S}-disp-a")  # as the device agent names it
    b_url = site.enrol("disp-b", "dispenser")
    address = BrokerAddress.parse(b_url)
    intruder = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"{S}-disp-a", protocol=mqtt.MQTTv311
    )
    intruder.tls_set_context(address.tls_context())
    intruder.connect("127.0.0.1", site.port)
    intruder.loop_start()
    try:
        wait_for(intruder.is_connected)
        time.sleep(0.3)
        assert a.downs == [] and a.client.is_connected()
    finally:
        intruder.disconnect()
        intruder.loop_stop()


def test_device_ignores_the_brokers_certificate_dates_only_when_told(site: Site) -> None:
    """server_time=ignore: a device whose clock is far off still reaches the office (DESIGN.md,
    decision 6); without it an expired server certificate is refused."""
    url = site.enrol("disp-1", "dispenser")
    files = write_broker_config(site.home, now_ms=now_ms())
    stale = site.registry.ca.issue_server(["localhost"], now_ms=now_ms() - 10 * DAY, valid_days=1)
    write_private(files.key, stale.key_pem)
    write_public(files.cert, stale.cert_pem)
    site.broker.restart()
    assert probe(url) == "connected"
    refused = probe(url.replace("&server_time=ignore", ""))
    assert refused.startswith("refused") and "certificate has expired" in refused


def test_mosquitto_runner_takes_a_supplied_configuration_only_with_its_port(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs the port"):
        MosquittoBroker(tmp_path, config_file=tmp_path / "mosquitto.conf")
    broker = MosquittoBroker(tmp_path, free_port(), config_file=tmp_path / "mosquitto.conf")
    (tmp_path / "mosquitto.conf").write_text("# supplied\n")
    assert broker.config_text() == "# supplied\n" and broker.conf_path == tmp_path.resolve() / "mosquitto.conf"
    with pytest.raises(BrokerStartError, match="not running"):
        broker.reload()


# --------------------------------------------------------------------------------------------
# the trust-on-the-wire findings again, on the deployed configuration
# --------------------------------------------------------------------------------------------


def _batch(device: str, *events: tuple[int, str, dict[str, Any]]) -> bytes:
    at = now_ms()
    records = tuple(
        messages.EventRecord(id=f"{device}:{seq}", seq=seq, type=kind, hlc=f"{at:013d}-0000-{device}", at=at, data=data)
        for seq, kind, data in events
    )
    return protocol.encode(messages.EventBatch(device=device, events=records))


def test_the_forgeries_are_stopped_on_the_generated_tls_configuration_and_acls(site: Site) -> None:
    """The trust-on-the-wire findings on the deployed broker, from an enrolled dispenser gone
    rogue (disp-9) and an enrolled kiosk that says it is a dispenser. The ACL stops what a device
    may not publish at all (the office's documents, another device's topics); the office's role,
    lease, marks and id checks stop what it may publish but must not be believed. The real
    dispenser, enrolled through the endpoint and so pinned to the office's key, never sees a
    forgery, refuses nothing, and syncs to the end."""
    from office.identity import office_public_key
    from ticket_dispenser.device import Dispenser

    db = site.tmp / "office.sqlite3"  # the enrolment register's store, as deployed
    office_key = office_public_key(db)
    identity = site.enrol_over_https("disp-1", "dispenser", office_key=office_key)
    assert identity.office_key == office_key
    rogue_url = site.enrol("disp-9", "dispenser")
    kiosk_url = site.enrol("kiosk-1", "kiosk")
    server = OfficeServer(SITE, db, site.office_url("localhost"))
    server.start()
    agent = DeviceAgent(
        AgentConfig(
            site=S,
            device_id="disp-1",
            role="dispenser",
            broker_url=identity.broker_url(),
            data_dir=site.tmp / "disp-1" / "data",
            office_key=identity.office_key,
        )
    )
    dispenser = None
    try:
        assert server.wait_online(10)
        agent.start()
        dispenser = Dispenser(agent)
        wait_for(lambda: agent.document("lease") and agent.office_online, message="disp-1 got its documents")
        day = server.business_day()
        lease = agent.document("lease")
        assert lease is not None
        block = min((b for b in lease.blocks if b.series == "2" and b.day == day), key=lambda b: b.first)
        first_real = dispenser.issue("certificates").ticket  # takes block.first
        rogue = site.peer(rogue_url, "disp-9")
        kiosk = site.peer(kiosk_url, "kiosk-1")

        # 1. The ACL: the office's documents and disp-1's own topics are not disp-9's to write.
        config = agent.document("office_config")
        assert config is not None
        acl_forgeries = [
            (topic("ack", "disp-1"), protocol.encode(messages.Ack(acked=5000))),
            (topic("lease", "disp-1"), protocol.encode(msgspec.structs.replace(lease, version=2**53))),
            (topic("office_config"), protocol.encode(msgspec.structs.replace(config, version=2**53, categories=()))),
            (
                topic("office_status"),
                protocol.encode(messages.OfficeStatus(state="online", epoch="x", sent_ms=now_ms() + 30 * 3600_000)),
            ),
            (topic("events", "disp-1"), _batch("disp-1", (2, "printer.status", {"paper_near_end": True}))),
            (
                topic("device_status", "disp-1"),
                protocol.encode(
                    messages.DeviceStatus(
                        state="online",
                        role="dispenser",
                        marks=(messages.NumberMark(series="2", day=day, last=10_000_000),),
                    )
                ),
            ),
        ]
        for n, (t, payload) in enumerate(acl_forgeries):
            rogue.publish(t, payload, retain=n % 2 == 0)

        # 2. The office's checks: what disp-9 and kiosk-1 may publish but must not be believed.
        cash = {"type": "refund_owed", "event_id": "disp-9:c:1", "amount": 50_000, "at_ms": now_ms()}
        void = {"key": "disp-9:v:1", "request_id": "r" * 32, "reason": "forged"}
        stolen = {"ticket_id": "t", "day": day, "series": "2", "number": block.first + 1, "category": "certificates"}
        rogue.publish(
            topic("events", "disp-9"),
            _batch("disp-9", (1, "kiosk.cash", cash), (2, "kiosk.issue_void", void), (3, "ticket.issued", stolen)),
        )
        rogue.publish(topic("events", "disp-9"), _batch("disp-9", (1, "printer.status", {"paper_near_end": True})))
        rogue.publish(topic("events", "disp-9"), _batch("disp-9", (4, "printer.status", {})), retain=True)
        marks = (messages.NumberMark(series="2", day=day, last=10_000_000),)
        status = messages.DeviceStatus(state="online", role="dispenser", sent_ms=now_ms(), marks=marks)
        rogue.publish(topic("device_status", "disp-9"), protocol.encode(status))
        kiosk.publish(
            topic("device_status", "kiosk-1"),
            protocol.encode(messages.DeviceStatus(state="online", role="dispenser", sent_ms=now_ms())),
        )

        def kinds() -> set[tuple[str, str]]:
            return {(d, s["kind"]) for d in ("disp-9", "kiosk-1") for s in server.db.suspicious(d)}

        wanted = {("disp-9", "role"), ("disp-9", "lease"), ("disp-9", "conflict"), ("disp-9", "marks")}
        wanted |= {("kiosk-1", "role")}
        wait_for(lambda: wanted <= kinds(), message=f"the office flagged every forgery (so far {kinds()})")
        assert not server.db.conn.execute("SELECT COUNT(*) FROM cert_cash").fetchone()[0]
        assert not server.db.leases(device="kiosk-1")
        assert all(b.last - b.first < 900 for _, b in server.db.leases(device="disp-9"))
        # disp-1 goes on: its next number is its own, the forged ticket stays aside.
        tickets = [first_real] + [dispenser.issue("certificates").ticket for _ in range(5)]
        assert agent.wait_drained(15), "disp-1 did not sync to the end"
        for t in tickets:
            at_office = server.db.ticket(t.ticket_id)
            assert at_office is not None and at_office.device == "disp-1"
        assert server.db.acked_seq("disp-1") == agent.outbox.last_seq
        # Nothing posing as the office got through the broker to the pinned device.
        assert agent.stats["signature_refused"] == 0 and agent.stats["ack_refused"] == 0
        assert agent.stats["clock_refused"] == 0
        assert agent.document("office_config") == config
        assert server.stats["loop_errors"] == 0
        # The office restarts (same key, on its disk): disp-9's retained batch is not replayed.
        events = server.db.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        server.stop()
        server = OfficeServer(SITE, db, site.office_url("localhost"))
        server.start()
        assert server.wait_online(10)
        wait_for(lambda: server.stats["retained_input"] >= 1, message="the retained batch was seen and ignored")
        dispenser.issue("moving")
        assert agent.wait_drained(15), "disp-1 did not sync with the restarted office"
        assert server.db.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == events + 1
        assert agent.stats["signature_refused"] == 0
    finally:
        if dispenser is not None:
            dispenser.close()
        agent.stop()
        server.stop()
