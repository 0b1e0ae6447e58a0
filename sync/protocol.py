"""The wire contract between lobby devices and the office (docs/protocol.md is its prose twin).

Topics live under ``madoguchi/v1/<site>/``. Two kinds of traffic (DESIGN.md decision 2):

* **state** - retained, last value wins, carries ``version``; a receiver ignores a version at or
  below the one it holds;
* **events** - append-only, QoS 1, journalled in the device outbox before they are sent and
  removed only on the office's application-level ack.

Every payload is JSON with ``"v": 1`` (the schema version), at most :data:`MAX_PAYLOAD_BYTES`,
and is one of the typed models of :mod:`sync.messages`: :func:`encode` writes it, :func:`decode`
reads and checks it on receipt into its type; anything else raises :class:`ProtocolError`, which
the receiver logs and counts (never fatal).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal, overload

import msgspec

from common.validation import Invalid, convert, decode_json
from sync import messages
from sync.errors import ProtocolError

SCHEMA_VERSION = messages.SCHEMA_VERSION
ROOT = "madoguchi/v1"
# Big enough for a board snapshot of 300 trains in compact form, small enough that one bad
# publisher cannot make a Pi parse megabytes.
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_EVENTS_PER_MESSAGE = messages.MAX_EVENTS_PER_MESSAGE

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def valid_id(value: str) -> bool:
    """Site, device and terminal ids: short, no MQTT wildcards or separators."""
    return bool(_ID_RE.match(value))


def check_id(kind: str, value: str) -> str:
    """Return ``value`` or raise a ProtocolError that says what an id may contain."""
    if not isinstance(value, str) or not valid_id(value):
        raise ProtocolError(
            f"{kind} id {value!r} is invalid: use 1-63 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


class Kind(Enum):
    """What a topic carries."""

    STATE = "state"
    EVENTS = "events"
    COMMAND = "command"


@dataclass(frozen=True)
class TopicSpec:
    """One row of the topic table: who publishes, with which QoS and retain flag."""

    name: str
    pattern: str  # with {site}, {device}, {terminal}
    kind: Kind
    publisher: str
    qos: int
    retain: bool


TOPICS: dict[str, TopicSpec] = {
    spec.name: spec
    for spec in (
        TopicSpec("office_status", "{site}/office/status", Kind.STATE, "office", 1, True),
        TopicSpec("office_config", "{site}/office/config", Kind.STATE, "office", 1, True),
        TopicSpec("queue_snapshot", "{site}/office/snapshot/queue", Kind.STATE, "office", 1, True),
        TopicSpec("board_snapshot", "{site}/office/snapshot/board", Kind.STATE, "office", 1, True),
        TopicSpec("ack", "{site}/office/ack/{device}", Kind.STATE, "office", 1, True),
        TopicSpec("lease", "{site}/office/lease/{device}", Kind.STATE, "office", 1, True),
        TopicSpec("voids", "{site}/office/voids/{device}", Kind.STATE, "office", 1, True),
        TopicSpec("device_status", "{site}/device/{device}/status", Kind.STATE, "device", 1, True),
        TopicSpec("events", "{site}/device/{device}/events", Kind.EVENTS, "device", 1, False),
        TopicSpec("staff_command", "{site}/staff/{terminal}/command", Kind.COMMAND, "staff", 1, False),
        TopicSpec("staff_reply", "{site}/staff/{terminal}/reply", Kind.COMMAND, "office", 1, False),
        # The certificate kiosk asks the office (challenge, authenticate, issue) and waits for the
        # answer: it serves a resident standing at it, so it works only while the office is there.
        TopicSpec("kiosk_request", "{site}/device/{device}/request", Kind.COMMAND, "device", 1, False),
        TopicSpec("kiosk_reply", "{site}/office/reply/{device}", Kind.COMMAND, "office", 1, False),
        # A ward: a branch office's ticket log up to the centre, and the centre's cumulative ack
        # of it down (over the bridge, office/ward_bridge.py); not retained: the log is resent
        # from the last ack until the next one comes.
        TopicSpec("ticket_log", "{site}/office/log", Kind.EVENTS, "office", 1, False),
        TopicSpec("ticket_log_ack", "{site}/office/log/ack", Kind.COMMAND, "centre", 1, False),
        # A ward's shared input centre: a branch's cases at its input station up (state), the
        # centre's signed actions on them down, the branch's answers up.
        TopicSpec("ward_cases", "{site}/office/ward/cases", Kind.STATE, "office", 1, True),
        TopicSpec("ward_action", "{site}/office/ward/action", Kind.COMMAND, "centre", 1, False),
        TopicSpec("ward_reply", "{site}/office/ward/reply", Kind.COMMAND, "office", 1, False),
    )
}


def ward_id(site: str, local: str) -> str:
    """An id of a branch's (a ticket's, an event's, a case's) as the ward's centre holds it:
    ``<site>:<id>``. A branch's own ids stay short (staff read and type them), and the site is
    added where they leave it, from the connection they came over - the bridge's prefix, which
    the central broker grants a branch's certificate alone - never from a payload."""
    return f"{check_id('site', site)}:{local}"


def topic(name: str, site: str, *, device: str = "+", terminal: str = "+") -> str:
    """The concrete topic (or a subscription filter when device/terminal stay ``+``)."""
    spec = TOPICS[name]
    return f"{ROOT}/" + spec.pattern.format(site=site, device=device, terminal=terminal)


@dataclass(frozen=True)
class ParsedTopic:
    """A received topic split into its parts."""

    name: str
    site: str
    device: str | None = None
    terminal: str | None = None


def parse_topic(value: str) -> ParsedTopic:
    """Map a received topic string back to its spec; ProtocolError for anything unknown."""
    parts = value.split("/")
    if len(parts) < 4 or "/".join(parts[:2]) != ROOT:
        raise ProtocolError(f"topic {value!r} is not under {ROOT}/")
    site, rest = parts[2], parts[3:]
    if not valid_id(site):
        raise ProtocolError(f"topic {value!r} has an invalid site id")
    match rest:
        case ["office", "status"]:
            return ParsedTopic("office_status", site)
        case ["office", "config"]:
            return ParsedTopic("office_config", site)
        case ["office", "snapshot", "queue"]:
            return ParsedTopic("queue_snapshot", site)
        case ["office", "snapshot", "board"]:
            return ParsedTopic("board_snapshot", site)
        case ["office", "log"]:
            return ParsedTopic("ticket_log", site)
        case ["office", "log", "ack"]:
            return ParsedTopic("ticket_log_ack", site)
        case ["office", "ward", "cases"]:
            return ParsedTopic("ward_cases", site)
        case ["office", "ward", "action"]:
            return ParsedTopic("ward_action", site)
        case ["office", "ward", "reply"]:
            return ParsedTopic("ward_reply", site)
        case ["office", "ack", device] if valid_id(device):
            return ParsedTopic("ack", site, device=device)
        case ["office", "lease", device] if valid_id(device):
            return ParsedTopic("lease", site, device=device)
        case ["office", "voids", device] if valid_id(device):
            return ParsedTopic("voids", site, device=device)
        case ["office", "reply", device] if valid_id(device):
            return ParsedTopic("kiosk_reply", site, device=device)
        case ["device", device, "request"] if valid_id(device):
            return ParsedTopic("kiosk_request", site, device=device)
        case ["device", device, "status"] if valid_id(device):
            return ParsedTopic("device_status", site, device=device)
        case ["device", device, "events"] if valid_id(device):
            return ParsedTopic("events", site, device=device)
        case ["staff", terminal, "command"] if valid_id(terminal):
            return ParsedTopic("staff_command", site, terminal=terminal)
        case ["staff", terminal, "reply"] if valid_id(terminal):
            return ParsedTopic("staff_reply", site, terminal=terminal)
    raise ProtocolError(f"topic {value!r} is not part of protocol v1")


# --- payloads ----------------------------------------------------------------------------------

PAYLOADS: dict[str, Any] = {
    "office_status": messages.OfficeStatus,
    "office_config": messages.OfficeConfig,
    "queue_snapshot": messages.QueueSnapshot,
    "board_snapshot": messages.BoardSnapshot,
    "ack": messages.Ack,
    "lease": messages.Lease,
    "voids": messages.Voids,
    "device_status": messages.DeviceStatus,
    "events": messages.EventBatch,
    "staff_command": messages.StaffCommand,
    "staff_reply": messages.StaffReply,
    "kiosk_request": messages.AnyKioskRequest,
    "kiosk_reply": messages.AnyKioskReply,
    "ticket_log": messages.TicketLogBatch,
    "ticket_log_ack": messages.TicketLogAck,
    "ward_cases": messages.WardCases,
    "ward_action": messages.WardAction,
    "ward_reply": messages.WardReply,
}
"""The payload type of each topic (a union of the ``op`` variants for the kiosk's)."""

_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {name: msgspec.json.Decoder(t) for name, t in PAYLOADS.items()}
_ENCODER = msgspec.json.Encoder()


class _Envelope(msgspec.Struct):
    """Only the schema version: read first, so a payload of another version is named as such."""

    v: Any = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)


def topic_of(payload: messages.Payload) -> str:
    """The TOPICS name a payload travels on."""
    return payload.topic


def encode(payload: messages.Payload) -> bytes:
    """Serialise a payload; it is checked against its own type first, so we never send junk.

    msgspec does not check limits when it writes, so the bytes are read back through the
    topic's decoder - the office's price for never publishing what a device would refuse.
    """
    name = payload.topic
    if payload.v != SCHEMA_VERSION:
        raise ProtocolError(f"{name} payload has schema version {payload.v!r}; this build speaks {SCHEMA_VERSION}")
    raw = _ENCODER.encode(payload)
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ProtocolError(f"{name} payload is {len(raw)} bytes, over the {MAX_PAYLOAD_BYTES} limit")
    try:
        decode_json(raw, _DECODERS[name])
    except Invalid as err:
        raise ProtocolError(f"{name} payload would be refused: field {_field(name, err)}") from err
    return raw


@overload
def decode(name: Literal["office_status"], raw: bytes) -> messages.OfficeStatus: ...
@overload
def decode(name: Literal["office_config"], raw: bytes) -> messages.OfficeConfig: ...
@overload
def decode(name: Literal["queue_snapshot"], raw: bytes) -> messages.QueueSnapshot: ...
@overload
def decode(name: Literal["board_snapshot"], raw: bytes) -> messages.BoardSnapshot: ...
@overload
def decode(name: Literal["ack"], raw: bytes) -> messages.Ack: ...
@overload
def decode(name: Literal["lease"], raw: bytes) -> messages.Lease: ...
@overload
def decode(name: Literal["voids"], raw: bytes) -> messages.Voids: ...
@overload
def decode(name: Literal["device_status"], raw: bytes) -> messages.DeviceStatus: ...
@overload
def decode(name: Literal["events"], raw: bytes) -> messages.EventBatch: ...
@overload
def decode(name: Literal["staff_command"], raw: bytes) -> messages.StaffCommand: ...
@overload
def decode(name: Literal["staff_reply"], raw: bytes) -> messages.StaffReply: ...
@overload
def decode(name: Literal["kiosk_request"], raw: bytes) -> messages.AnyKioskRequest: ...
@overload
def decode(name: Literal["kiosk_reply"], raw: bytes) -> messages.AnyKioskReply: ...
@overload
def decode(name: Literal["ticket_log"], raw: bytes) -> messages.TicketLogBatch: ...
@overload
def decode(name: Literal["ticket_log_ack"], raw: bytes) -> messages.TicketLogAck: ...
@overload
def decode(name: Literal["ward_cases"], raw: bytes) -> messages.WardCases: ...
@overload
def decode(name: Literal["ward_action"], raw: bytes) -> messages.WardAction: ...
@overload
def decode(name: Literal["ward_reply"], raw: bytes) -> messages.WardReply: ...
@overload
def decode(name: str, raw: bytes) -> messages.Payload: ...
def decode(name: str, raw: bytes) -> messages.Payload:
    """Parse and check a received payload for topic ``name`` into its type.

    An empty payload is how MQTT clears a retained message; callers treat it separately, so it
    is an error here too. Every problem is a ProtocolError naming the field: the receiver logs
    and counts it, never more.
    """
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ProtocolError(f"{name} payload is {len(raw)} bytes, over the {MAX_PAYLOAD_BYTES} limit")
    if not raw:
        raise ProtocolError(f"{name} payload is empty")
    try:
        envelope = _ENVELOPE.decode(raw)
    except msgspec.ValidationError as err:
        raise ProtocolError(f"{name} payload is not a JSON object") from err
    except (msgspec.DecodeError, RecursionError) as err:
        # Bad UTF-8, bad JSON, nesting deeper than the parser goes: all the sender's fault.
        raise ProtocolError(f"{name} payload is not UTF-8 JSON: {err}") from err
    version = envelope.v
    if type(version) is not int or version != SCHEMA_VERSION:  # True == 1 in Python
        raise ProtocolError(f"{name} payload has schema version {version!r}; this build speaks {SCHEMA_VERSION}")
    try:
        payload: messages.Payload = decode_json(raw, _DECODERS[name])
    except Invalid as err:
        raise ProtocolError(f"field {_field(name, err)}") from err
    except (msgspec.DecodeError, RecursionError) as err:
        raise ProtocolError(f"{name} payload is not UTF-8 JSON: {err}") from err
    return payload


def from_stored(name: str, stored: object) -> messages.Payload:
    """A document a device kept in its store (as plain data) back as its model."""
    try:
        payload: messages.Payload = convert(stored, PAYLOADS[name])
    except Invalid as err:
        raise ProtocolError(f"stored {name}: {err}") from err
    return payload


def event_data(record: messages.EventRecord) -> messages.EventData | None:
    """An event's ``data`` as the model of its type; None for a type without one (kept as it is).

    ProtocolError names the field when the data does not fit: the office stores the event with
    that problem (it never drops what a device journalled) and acks it.
    """
    model = messages.EVENT_DATA.get(record.type)
    if model is None:
        return None
    try:
        return convert(record.data, model)
    except Invalid as err:
        raise ProtocolError(f"{record.type}: {err}") from err


def to_builtins(payload: messages.Payload) -> dict[str, Any]:
    """A payload as plain JSON-ready data (what a store keeps; :func:`from_stored` reads it back)."""
    out: dict[str, Any] = msgspec.to_builtins(payload)
    return out


def to_data(data: messages.EventData) -> dict[str, Any]:
    """An event's model as the ``data`` mapping a device journals in its outbox."""
    out: dict[str, Any] = msgspec.to_builtins(data)
    return out


def _field(name: str, err: Invalid) -> str:
    """``ack.acked: expected ...``: the payload's name, then the key path inside it."""
    return f"{name}.{err}" if err.parts else f"{name}: {err.message}"
