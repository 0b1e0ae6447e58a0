"""A ward's brokers: each branch's Mosquitto bridged to one central Mosquitto (hub and spoke).

Each branch keeps its own Mosquitto and office (a cut WAN changes nothing in its lobby); its
broker opens one bridge connection to the centre (DESIGN.md, decision 12). On the centre, every
topic of a branch lives under ``ward/<site>/``:

* ``ward/<site>/up/...``   branch -> centre: the protocol topics of :data:`ROUTES` going ``out``,
  the rest of the topic as in sync/protocol.py (``ward/demo-town/up/device/disp-1/events``);
* ``ward/<site>/down/...`` centre -> branch: the commands of :data:`ROUTES` going ``in``.

No topic is bridged both ways and ``#`` never is (mosquitto #3011: a topic bridged both ways can
loop). Everything here is pure text generation; office/ward_cli.py writes the files and
docs/ward.md explains how to install them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Literal

from office.broker_security import MAX_PACKET_SIZE, TLS12_CIPHERS, BrokerSettings, log_lines
from sync import protocol

__all__ = [
    "DAY_OUTAGE",
    "DEFAULT_CONSUMER",
    "NOT_BRIDGED",
    "ROUTES",
    "WARD_ROOT",
    "BridgeTLS",
    "CentralFiles",
    "QueueSizing",
    "Route",
    "branch_bridge_conf",
    "bridge_state_topic",
    "bridge_user",
    "central_acl_text",
    "central_conf_text",
    "check_site",
    "down_prefix",
    "parse_address",
    "up_prefix",
]

WARD_ROOT = "ward"
DEFAULT_CONSUMER = "ward-office"  # the centre's own identity: reads every branch, commands them

Direction = Literal["out", "in"]


@dataclass(frozen=True)
class Route:
    """One protocol topic that crosses the bridge, its direction and the QoS it crosses with."""

    name: str  # a key of protocol.TOPICS
    direction: Direction
    qos: int

    @property
    def pattern(self) -> str:
        """The topic below the site, wildcarded: ``device/+/events``."""
        return protocol.TOPICS[self.name].pattern.format(site="", device="+", terminal="+").lstrip("/")


ROUTES: tuple[Route, ...] = (
    # Journalled events are what the centre's records are made of: QoS 1, so the branch broker
    # queues them for the whole outage (the queue sizing below is for them).
    Route("events", "out", 1),
    # State, retained, last value wins: QoS 0 keeps a day of superseded snapshots out of the
    # queue, and on every reconnect the bridge sends the latest retained value of each anyway.
    Route("device_status", "out", 0),
    Route("office_status", "out", 0),
    Route("office_config", "out", 0),
    Route("queue_snapshot", "out", 0),
    Route("board_snapshot", "out", 0),
    # The branch office's ticket log, what the ward's statistics are made of: queued through an
    # outage like the events; the centre's cumulative ack of it comes down.
    Route("ticket_log", "out", 1),
    Route("ticket_log_ack", "in", 1),
    # The shared input centre, the one thing the centre asks of a branch: the branch's input
    # cases up (state), the centre's actions on them down - signed by the centre, checked for
    # their age and their case by the branch (office/ward_input.py) - and the answers up. An action that waited out a WAN cut in the queue arrives
    # stale and is refused by the branch (sync/messages.WARD_ACTION_MAX_AGE_MS).
    Route("ward_cases", "out", 0),
    Route("ward_action", "in", 1),
    Route("ward_reply", "out", 1),
)

NOT_BRIDGED: dict[str, str] = {
    "staff_command": "a branch's staff terminals are its own; the centre acts only through signed case actions",
    "staff_reply": "the answers to the branch's own terminals",
    "ack": "between a device and its own office; the centre acts on no device's outbox",
    "lease": "number blocks are the branch office's to hand out; the centre must never write one",
    "voids": "the same: a device's own bookkeeping with its office",
    "kiosk_request": "carries residents' names and card data: never leaves the branch",
    "kiosk_reply": "carries residents' certificates: never leaves the branch",
}


@dataclass(frozen=True)
class QueueSizing:
    """How many messages a branch broker must hold for its bridge through one day's outage.

    A moving-season day at a busy branch: 5,000 tickets. A ticket's life in the ticket log
    (office/ticket_log.py) is about 10 rows: issued, called, started, moved (x2 on a
    reception -> input -> review -> issuing route), ready, done, plus a claim/release or a recall.
    Today only ``issued`` travels as a device event (the rest are the office's rows); sizing for
    all ten leaves room for the office's own log crossing later and for the kiosk's journal.
    Margin 2: an outage from one morning to the next, or a second peak day. Messages of about
    1 KiB (an event batch of one ticket with its signature and ids is ~600 bytes).

        5,000 tickets x 10 events x 2 = 100,000 messages; x 1 KiB = 100 MiB queued at most.
    """

    tickets: int = 5_000
    events_per_ticket: int = 10
    margin: int = 2
    message_bytes: int = 1024

    @property
    def messages(self) -> int:
        """``max_queued_messages`` for a branch broker."""
        return self.tickets * self.events_per_ticket * self.margin

    @property
    def bytes(self) -> int:
        """``max_queued_bytes`` for a branch broker."""
        return self.messages * self.message_bytes


DAY_OUTAGE = QueueSizing()
_OFFICE = BrokerSettings(site="ward")  # the office broker's defaults, for their queue limits


@dataclass(frozen=True)
class BridgeTLS:
    """TLS files of a bridge connection: the centre's CA, the branch bridge's certificate and key."""

    cafile: str
    certfile: str
    keyfile: str


@dataclass(frozen=True)
class CentralFiles:
    """Where the central Mosquitto finds its files (absolute paths on the central machine)."""

    home: str  # the directory holding mosquitto.conf, acl, data/ and the log
    tls: BridgeTLS | None = None  # cafile: the CA of the bridges; certfile/keyfile: the centre's own

    @property
    def acl(self) -> str:
        """The ACL file."""
        return f"{self.home}/acl"

    @property
    def persistence_dir(self) -> str:
        """Mosquitto's database directory."""
        return f"{self.home}/data"

    @property
    def log_file(self) -> str:
        """Mosquitto's log."""
        return f"{self.home}/mosquitto.log"


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------

_HOST_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def check_site(site: str) -> str:
    """``site`` or ValueError naming it: the same ids as sync/protocol.py and the site file."""
    if not isinstance(site, str) or not protocol.valid_id(site):
        raise ValueError(
            f"site id {site!r} is invalid: use 1-63 letters, digits, '.', '_' or '-', starting with a "
            'letter or digit (the site = "..." of the branch\'s site file, e.g. "demo-town")'
        )
    return site


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` of the central broker as (host, port); ValueError naming the bad part."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"central address {text!r} is invalid: give HOST:PORT, e.g. ward-centre.example.lg.jp:8883")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"central address {text!r} has an invalid port {port_text!r}: use 1-65535 (8883 for TLS)")
    try:
        address = ip_address(host)
    except ValueError:
        if not _HOST_RE.match(host):
            raise ValueError(
                f"central address {text!r} has an invalid host {host!r}: give a host name or an IPv4 address"
            ) from None
    else:
        if address.version != 4:
            raise ValueError(f"central address {text!r}: Mosquitto's bridge address takes no IPv6 literal; use a name")
    return host, int(port_text)


def _check_path(what: str, value: str) -> None:
    if not value.startswith("/") or any(c.isspace() for c in value):
        raise ValueError(f"{what} {value!r} is invalid: give an absolute path without spaces or line breaks")


def _check_routes(routes: Sequence[Route]) -> None:
    """No topic both ways, no ``#`` at all: a bridged loop would echo every message forever."""
    out = {r.pattern for r in routes if r.direction == "out"}
    into = {r.pattern for r in routes if r.direction == "in"}
    both = out & into
    if both:
        raise ValueError(f"topics {sorted(both)} would be bridged both ways: pick one direction each")
    for route in routes:
        if "#" in route.pattern:
            raise ValueError(f"route {route.name}: {route.pattern!r} has '#'; bridge named topics only")
        if route.qos not in (0, 1):
            raise ValueError(f"route {route.name}: QoS {route.qos} is invalid: use 0 (state) or 1 (events, commands)")


# --------------------------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------------------------


def up_prefix(site: str) -> str:
    """Where a branch's topics appear on the centre: ``ward/<site>/up/``."""
    return f"{WARD_ROOT}/{check_site(site)}/up/"


def down_prefix(site: str) -> str:
    """Where the centre publishes commands for a branch: ``ward/<site>/down/``."""
    return f"{WARD_ROOT}/{check_site(site)}/down/"


def bridge_state_topic(site: str) -> str:
    """The bridge's notification topic on both brokers: retained ``1`` connected, ``0`` not."""
    return f"{up_prefix(site)}bridge/state"


def bridge_user(site: str) -> str:
    """The username (certificate CN) of a branch's bridge on the centre, and its client id."""
    return f"bridge-{check_site(site)}"


# --------------------------------------------------------------------------------------------
# branch
# --------------------------------------------------------------------------------------------


def branch_bridge_conf(
    site: str,
    central: str,
    *,
    tls: BridgeTLS | None = None,
    queue: QueueSizing = DAY_OUTAGE,
    keepalive_s: int = 60,
    restart_s: tuple[int, int] = (5, 120),
    routes: Sequence[Route] = ROUTES,
) -> str:
    """The lines to append at the end of a branch's mosquitto.conf: queue limits and the bridge.

    ``central`` is ``HOST:PORT``; ``restart_s`` the first and the longest wait before
    reconnecting (Mosquitto backs off between them, with jitter).
    """
    check_site(site)
    host, port = parse_address(central)
    _check_routes(routes)
    if not 5 <= keepalive_s <= 65535:
        raise ValueError(f"keepalive {keepalive_s} s is invalid: use 5-65535 (60 suits a WAN)")
    base, cap = restart_s
    if not 1 <= base <= cap:
        raise ValueError(f"restart_timeout {base} {cap} is invalid: use 1 <= first wait <= longest wait")
    if tls is not None:
        for what, path in (
            ("bridge CA", tls.cafile),
            ("bridge certificate", tls.certfile),
            ("bridge key", tls.keyfile),
        ):
            _check_path(what, path)
    local = f"{protocol.ROOT}/{site}/"
    lines = [
        f"# Ward bridge of branch {site} to the central broker {host}:{port}.",
        "# Generated by madoguchi-office ward broker-files (office/ward_bridge.py): do not edit.",
        "# Append to the end of the branch's mosquitto.conf: the limits below replace the office's",
        "# (they are global), and everything after 'connection' belongs to the bridge.",
        "#",
        "# Queue for a day's WAN outage (docs/ward.md): the bridge is one client of this broker, so",
        (
            f"# {queue.tickets:,} tickets x {queue.events_per_ticket} events x margin {queue.margin}"
            f" = {queue.messages:,} messages of ~{queue.message_bytes} bytes = {queue.bytes:,} bytes."
        ),
        "# Never below the office's own limits (office/broker_security.py), which these replace.",
        f"max_queued_messages {max(queue.messages, _OFFICE.max_queued_messages)}",
        f"max_queued_bytes {max(queue.bytes, _OFFICE.max_queued_bytes)}",
        # The bridge's queue lives in the database: a broker restart during the outage keeps it.
        "persistence true",
        "",
        f"connection ward-{site}",
        f"address {host}:{port}",
        f"remote_clientid {bridge_user(site)}",
        f"remote_username {bridge_user(site)}",
        f"local_clientid ward-bridge-{site}",
        # Both sessions persist: what is queued for the bridge waits for it, here and at the centre.
        "cleansession false",
        "local_cleansession false",
        # Mosquitto 2.0.11 speaks MQTT 5 on bridges; the centre is Mosquitto too.
        "bridge_protocol_version mqttv50",
        # The centre knows this is a bridge: it does not echo our own messages back to us.
        "try_private true",
        "start_type automatic",
        f"restart_timeout {base} {cap}",
        f"keepalive_interval {keepalive_s}",
        "notifications true",
        f"notification_topic {bridge_state_topic(site)}",
    ]
    if tls is not None:
        lines += [
            f"bridge_cafile {tls.cafile}",
            f"bridge_certfile {tls.certfile}",
            f"bridge_keyfile {tls.keyfile}",
            "bridge_tls_version tlsv1.2",
            "bridge_require_ocsp false",
            "bridge_insecure false",
        ]
    else:
        lines.append("# Plain TCP: only on a closed test network; give TLS files for a real WAN.")
    for route in routes:
        prefix = up_prefix(site) if route.direction == "out" else down_prefix(site)
        lines.append(f"topic {route.pattern} {route.direction} {route.qos} {local} {prefix}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# centre
# --------------------------------------------------------------------------------------------


def central_acl_text(sites: Sequence[str], consumers: Sequence[str] = (DEFAULT_CONSUMER,)) -> str:
    """The central broker's ACL: a bridge writes under its own up prefix and reads its own down
    prefix, nothing else; the consumers read every branch and command them."""
    checked = _unique_sites(sites)
    lines = [
        "# Mosquitto ACL of the ward's central broker.",
        "# Generated by madoguchi-office ward broker-files (office/ward_bridge.py): do not edit.",
        "# Everything not granted here is refused; a refused publish is dropped without notice.",
    ]
    for site in checked:
        lines += [
            "",
            f"# the bridge of branch {site}",
            f"user {bridge_user(site)}",
            f"topic write {up_prefix(site)}#",
            f"topic read {down_prefix(site)}#",
        ]
    for name in consumers:
        protocol.check_id("consumer", name)
        if name in {bridge_user(s) for s in checked}:
            raise ValueError(f"consumer {name!r} is also a branch bridge's name: pick another")
        lines += [
            "",
            f"# {name}: the centre's consumer",
            f"user {name}",
            *(f"topic read {up_prefix(s)}#" for s in checked),
            *(f"topic write {down_prefix(s)}#" for s in checked),
        ]
    return "\n".join(lines) + "\n"


def central_conf_text(
    sites: Sequence[str],
    files: CentralFiles,
    *,
    port: int = 8883,
    bind_address: str = "",
    run_as_user: str | None = None,
    queue: QueueSizing = DAY_OUTAGE,
    autosave_interval: int = 10,
) -> str:
    """The central Mosquitto's configuration; without ``files.tls`` the listener is plain TCP
    and a client's claimed username is believed (a closed test network only)."""
    checked = _unique_sites(sites)
    if not 1 <= port <= 65535:
        raise ValueError(f"central port {port} is invalid: use 1-65535 (8883 is MQTT over TLS)")
    if bind_address:
        try:
            ip_address(bind_address)
        except ValueError:
            raise ValueError(f"bind address {bind_address!r} is invalid: give an IP address or none") from None
    _check_path("central home", files.home)
    if run_as_user is not None and not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", run_as_user):
        raise ValueError(f"user {run_as_user!r} is invalid: give a system user name such as mosquitto")
    listener = f"listener {port}" + (f" {bind_address}" if bind_address else "")
    lines = [
        f"# The ward's central Mosquitto: bridges of {', '.join(checked)}.",
        "# Generated by madoguchi-office ward broker-files (office/ward_bridge.py): do not edit.",
        "per_listener_settings false",
        listener,
        "protocol mqtt",
    ]
    if files.tls is not None:
        for what, path in (("CA", files.tls.cafile), ("certificate", files.tls.certfile), ("key", files.tls.keyfile)):
            _check_path(f"central {what}", path)
        lines += [
            "allow_anonymous false",
            "tls_version tlsv1.2",
            f"ciphers {TLS12_CIPHERS}",
            f"cafile {files.tls.cafile}",
            f"certfile {files.tls.certfile}",
            f"keyfile {files.tls.keyfile}",
            # A bridge's certificate CN is its username, the one the ACL names (bridge-<site>).
            "require_certificate true",
            "use_identity_as_username true",
        ]
    else:
        lines += [
            "# Plain TCP: a client's username is taken as it claims it. Closed test networks only.",
            "allow_anonymous true",
        ]
    lines += [
        f"acl_file {files.acl}",
        f"max_packet_size {MAX_PACKET_SIZE}",
        # A consumer that is away queues what every branch sends it: one branch's day each.
        f"max_queued_messages {queue.messages * len(checked)}",
        f"max_queued_bytes {queue.bytes * len(checked)}",
        # The consumer acknowledges a group of batches after one commit (office/ward_consumer.py):
        # a window of 200 lets a catching-up branch's batches go in 200 to a transaction.
        "max_inflight_messages 200",
        "persistence true",
        f"persistence_location {files.persistence_dir}/",
        "persistence_file mosquitto.db",
        f"autosave_interval {autosave_interval}",
    ]
    if run_as_user:
        lines.append(f"user {run_as_user}")
    lines += log_lines(files.log_file)
    return "\n".join(lines) + "\n"


def _unique_sites(sites: Sequence[str]) -> list[str]:
    checked = [check_site(s) for s in sites]
    if not checked:
        raise ValueError("no site given: name every branch with --site SITE")
    seen: set[str] = set()
    for site in checked:
        if site in seen:
            raise ValueError(f"site {site!r} is given twice: name each branch once")
        seen.add(site)
    return checked
