"""The wire contract between lobby devices and the office (docs/protocol.md is its prose twin).

Topics live under ``madoguchi/v1/<site>/``. Two kinds of traffic (DESIGN.md decision 2):

* **state** - retained, last value wins, carries ``version``; a receiver ignores a version at or
  below the one it holds;
* **events** - append-only, QoS 1, journalled in the device outbox before they are sent and
  removed only on the office's application-level ack.

Every payload is JSON with ``"v": 1`` (the schema version), at most :data:`MAX_PAYLOAD_BYTES`,
and is validated on receipt by :func:`decode`; anything else raises :class:`ProtocolError`
which the receiver logs and counts (never fatal).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sync.errors import ProtocolError

SCHEMA_VERSION = 1
ROOT = "madoguchi/v1"
# Big enough for a board snapshot of 300 trains in compact form, small enough that one bad
# publisher cannot make a Pi parse megabytes.
MAX_PAYLOAD_BYTES = 64 * 1024
# Events per message when a device drains its outbox: batching is what lets the office commit
# in transactions, which is where the drain rate comes from.
MAX_EVENTS_PER_MESSAGE = 100

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
    )
}


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


# --- payload schemas --------------------------------------------------------------------------
# A tiny declarative checker rather than a jsonschema dependency: the schemas are few, and the
# error has to name the field for the log line that counts the bad message.

Check = Callable[[Any, str], None]


def _type_error(path: str, want: str, got: Any) -> ProtocolError:
    return ProtocolError(f"field {path}: expected {want}, got {type(got).__name__}")


def is_int(minimum: int | None = None, maximum: int | None = None) -> Check:
    """An integer (not a bool) within optional bounds."""

    def check(value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(path, "integer", value)
        if minimum is not None and value < minimum:
            raise ProtocolError(f"field {path}: {value} is below {minimum}")
        if maximum is not None and value > maximum:
            raise ProtocolError(f"field {path}: {value} is above {maximum}")

    return check


def is_str(max_len: int = 200, choices: tuple[str, ...] | None = None) -> Check:
    """A string of bounded length, optionally one of ``choices``."""

    def check(value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise _type_error(path, "string", value)
        if len(value) > max_len:
            raise ProtocolError(f"field {path}: longer than {max_len} characters")
        if choices is not None and value not in choices:
            raise ProtocolError(f"field {path}: {value!r} is not one of {', '.join(choices)}")

    return check


def is_bool(value: Any, path: str) -> None:
    """A JSON boolean."""
    if not isinstance(value, bool):
        raise _type_error(path, "boolean", value)


def optional(inner: Check) -> Check:
    """``inner`` or JSON null."""

    def check(value: Any, path: str) -> None:
        if value is not None:
            inner(value, path)

    return check


def is_list(item: Check, max_items: int = 1000) -> Check:
    """A JSON array of items that each pass ``item``."""

    def check(value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise _type_error(path, "array", value)
        if len(value) > max_items:
            raise ProtocolError(f"field {path}: more than {max_items} items")
        for i, element in enumerate(value):
            item(element, f"{path}[{i}]")

    return check


def is_map(value_check: Check, max_items: int = 1000) -> Check:
    """A JSON object used as a map: string keys (ids), values that pass ``value_check``."""

    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise _type_error(path, "object", value)
        if len(value) > max_items:
            raise ProtocolError(f"field {path}: more than {max_items} entries")
        for key, element in value.items():
            value_check(element, f"{path}.{key}")

    return check


def is_tuple(*items: Check) -> Check:
    """A JSON array of fixed length whose positions each have their own check (compact rows)."""

    def check(value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise _type_error(path, "array", value)
        if len(value) != len(items):
            raise ProtocolError(f"field {path}: expected {len(items)} items, got {len(value)}")
        for i, (element, sub) in enumerate(zip(value, items, strict=True)):
            sub(element, f"{path}[{i}]")

    return check


def is_obj(fields: Mapping[str, Check], *, extra: bool = True, required: tuple[str, ...] | None = None) -> Check:
    """A JSON object; ``required`` defaults to every field listed. Unknown keys are allowed
    when ``extra`` (newer minor versions may add fields) and ignored by readers."""
    need = tuple(fields) if required is None else required

    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise _type_error(path, "object", value)
        for key in need:
            if key not in value:
                raise ProtocolError(f"field {path}.{key} is missing")
        for key, sub in fields.items():
            if key in value:
                sub(value[key], f"{path}.{key}")
        if not extra:
            unknown = set(value) - set(fields)
            if unknown:
                raise ProtocolError(f"field {path}: unknown keys {sorted(unknown)}")

    return check


def is_any_obj(value: Any, path: str) -> None:
    """Any JSON object (its own schema is checked by the consumer of that event type)."""
    if not isinstance(value, dict):
        raise _type_error(path, "object", value)


_ms = is_int(0, 2**53)
_version = is_int(0, 2**53)
KIOSK_OPS = ("challenge", "authenticate", "issue")

EVENT_RECORD = is_obj(
    {
        "id": is_str(140),
        "seq": is_int(1, 2**53),
        "type": is_str(64),
        "hlc": is_str(40),
        "at": _ms,
        "data": is_any_obj,
    }
)

SCHEMAS: dict[str, Check] = {
    "office_status": is_obj(
        {"state": is_str(16, ("online", "offline")), "epoch": is_str(64), "session": is_int(0, 2**31), "sent_ms": _ms},
        required=("state", "epoch"),
    ),
    "office_config": is_obj(
        {
            "version": _version,
            "sent_ms": _ms,
            "office_name": is_str(200),
            "timezone": is_str(64),
            "lease_days": is_list(is_str(10), 14),
            "progress_url": is_str(200),
            "dispenser": is_obj(
                {
                    "open": is_str(5),
                    "close": is_str(5),
                    "closed_weekdays": is_list(is_int(0, 6), 7),
                    "closed_dates": is_list(is_str(5), 366),
                    "holidays": is_list(is_str(10), 1000),
                },
                required=("open", "close"),
            ),
            "stations": is_list(is_obj({"code": is_str(32), "name": is_any_obj}), 32),
            "categories": is_list(
                is_obj(
                    {
                        "code": is_str(32),
                        "series": is_str(32),
                        "name": is_any_obj,
                        "route": is_list(is_str(32), 32),
                        "reserve": is_int(0, 100_000),
                        "daily_cap": optional(is_int(1, 10_000_000)),
                    },
                    required=("code", "series", "name", "route"),
                ),
                64,
            ),
        },
        required=("version", "sent_ms", "categories", "stations"),
    ),
    "queue_snapshot": is_obj(
        {
            "version": _version,
            "sent_ms": _ms,
            "business_day": is_str(10),
            "categories": is_list(
                is_obj(
                    {
                        "code": is_str(32),
                        "waiting": is_int(0, 1_000_000),
                        "est_wait_min": optional(is_int(0, 100_000)),
                        "min_per_person": optional(is_int(0, 10_000)),
                        "last_called": optional(is_int(0, 1_000_000)),
                        "issued": is_int(0, 10_000_000),
                    },
                    required=("code", "waiting"),
                ),
                64,
            ),
            # per dispenser: the acked seq these counts include, so a dispenser can add its own
            # tickets the office has not counted yet
            "acked": is_map(is_int(0, 2**53)),
        },
        required=("version", "sent_ms", "categories"),
    ),
    "board_snapshot": is_obj(
        {
            "version": _version,
            "sent_ms": _ms,
            "business_day": is_str(10),
            "lines": is_list(
                is_obj(
                    {
                        "route": is_str(64),
                        "stations": is_list(is_str(32), 32),
                        # [number, station index (-1 = waiting), status, counter or null]
                        "tickets": is_list(
                            is_tuple(is_int(0, 1_000_000), is_int(-1, 31), is_str(16), optional(is_int(0, 999))),
                            2000,
                        ),
                        "more_waiting": is_int(0, 10_000_000),
                    },
                    required=("route", "stations", "tickets"),
                ),
                32,
            ),
            "calls": is_list(
                is_obj({"number": is_int(0, 1_000_000), "counter": is_int(0, 999), "at_ms": _ms}),
                50,
            ),
            # now calling per counter: the number each counter called last, and what for
            "counters": is_list(
                is_obj(
                    {
                        "counter": is_int(0, 999),
                        "number": is_int(0, 1_000_000),
                        "kind": is_str(16, ("call", "ready")),
                        "at_ms": _ms,
                    }
                ),
                200,
            ),
        },
        required=("version", "sent_ms", "lines", "calls"),
    ),
    "ack": is_obj({"acked": is_int(0, 2**53), "sent_ms": _ms}, required=("acked",)),
    "lease": is_obj(
        {
            "version": _version,
            "sent_ms": _ms,
            "blocks": is_list(
                is_obj(
                    {
                        "series": is_str(32),
                        "day": is_str(10),
                        "first": is_int(0, 10_000_000),
                        "last": is_int(0, 10_000_000),
                    }
                ),
                500,
            ),
        },
        required=("version", "blocks"),
    ),
    "voids": is_obj(
        {"version": _version, "sent_ms": _ms, "day": is_str(10), "tickets": is_list(is_str(64), 5000)},
        required=("version", "tickets"),
    ),
    "device_status": is_obj(
        {
            "state": is_str(16, ("online", "offline")),
            "role": is_str(32),
            "sent_ms": _ms,
            "hlc": is_str(40),
            "outbox_pending": is_int(0, 2**53),
            "last_seq": is_int(0, 2**53),
            "clock_confirmed": is_bool,
            # a dispenser's last number taken per series and day: the office counts usage from
            # it too, so it tops up leases before its ticket events have all arrived
            "marks": is_list(is_obj({"series": is_str(32), "day": is_str(10), "last": is_int(0, 10_000_000)}), 200),
        },
        required=("state",),
    ),
    "events": is_obj(
        {"device": is_str(63), "events": is_list(EVENT_RECORD, MAX_EVENTS_PER_MESSAGE)},
    ),
    "staff_command": is_obj(
        {"request_id": is_str(64), "command": is_str(300)},
    ),
    "staff_reply": is_obj(
        {"request_id": is_str(64), "ok": is_bool, "message": is_str(2000)},
        required=("request_id", "ok", "message"),
    ),
    "kiosk_request": is_obj(
        {
            "request_id": is_str(64),
            "op": is_str(16, KIOSK_OPS),
            "challenge_id": is_str(64),
            "certificate": is_str(12_000),  # base64 DER, a JPKI certificate is ~1.5 KB
            "signature": is_str(1_000),  # base64, RSA-2048
            "kind": is_str(32),
            "options": is_any_obj,
            "copies": is_int(1, 10),
            "session_token": is_str(128),
            "paid": is_int(0, 1_000_000),
        },
        required=("request_id", "op"),
    ),
    "kiosk_reply": is_obj(
        {
            "request_id": is_str(64),
            "op": is_str(16, KIOSK_OPS),
            "ok": is_bool,
            "refusal": optional(is_str(32)),
            "challenge_id": is_str(64),
            "nonce": is_str(200),
            "expires_ms": _ms,
            "session_token": is_str(128),
            "fee": is_int(0, 10_000_000),
            "household": is_list(is_obj({"id": is_str(64), "name": is_str(200)}), 50),
            "issue_number": is_str(64),
            "certificate": optional(is_any_obj),
        },
        required=("request_id", "op", "ok"),
    ),
}


def encode(name: str, body: Mapping[str, Any]) -> bytes:
    """Serialise a payload for topic ``name``; validates it first so we never send junk."""
    doc = {"v": SCHEMA_VERSION, **body}
    SCHEMAS[name](doc, name)
    raw = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ProtocolError(f"{name} payload is {len(raw)} bytes, over the {MAX_PAYLOAD_BYTES} limit")
    return raw


def decode(name: str, raw: bytes) -> dict[str, Any]:
    """Parse and validate a received payload for topic ``name``.

    An empty payload is how MQTT clears a retained message; callers treat it separately, so it
    is an error here too.
    """
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ProtocolError(f"{name} payload is {len(raw)} bytes, over the {MAX_PAYLOAD_BYTES} limit")
    if not raw:
        raise ProtocolError(f"{name} payload is empty")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        # ValueError covers JSONDecodeError and integers beyond Python's digit limit;
        # RecursionError, nesting deeper than the parser goes: all are the sender's fault.
        raise ProtocolError(f"{name} payload is not UTF-8 JSON: {type(err).__name__}") from err
    if not isinstance(doc, dict):
        raise ProtocolError(f"{name} payload is not a JSON object")
    version = doc.get("v")
    if type(version) is not int or version != SCHEMA_VERSION:  # True == 1 in Python
        raise ProtocolError(f"{name} payload has schema version {version!r}; this build speaks {SCHEMA_VERSION}")
    SCHEMAS[name](doc, name)
    return doc
