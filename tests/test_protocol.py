"""The wire contract (sync/protocol.py): topic names both ways, and payloads that are either
valid on both ends or refused with a ProtocolError - never any other exception."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sync import messages, protocol
from sync.errors import ProtocolError
from sync.protocol import MAX_EVENTS_PER_MESSAGE, MAX_PAYLOAD_BYTES, ROOT, TOPICS, decode, encode, parse_topic, topic

SITE = "demo-town"

# --------------------------------------------------------------------------------------------
# topics
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TOPICS))
def test_topic_and_parse_topic_round_trip_for_every_name(name: str) -> None:
    text = topic(name, SITE, device="disp-1", terminal="desk_2.a")
    assert text.startswith(f"{ROOT}/{SITE}/")
    parsed = parse_topic(text)
    assert parsed.name == name
    assert parsed.site == SITE
    has_device = "{device}" in TOPICS[name].pattern
    has_terminal = "{terminal}" in TOPICS[name].pattern
    assert parsed.device == ("disp-1" if has_device else None)
    assert parsed.terminal == ("desk_2.a" if has_terminal else None)


def test_every_topic_name_has_a_distinct_concrete_topic() -> None:
    concrete = {topic(name, SITE, device="d", terminal="d") for name in TOPICS}
    assert len(concrete) == len(TOPICS)


def test_topic_without_ids_is_a_subscription_filter() -> None:
    assert topic("events", SITE) == f"{ROOT}/{SITE}/device/+/events"
    assert topic("staff_command", SITE) == f"{ROOT}/{SITE}/staff/+/command"
    assert topic("office_status", SITE) == f"{ROOT}/{SITE}/office/status"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "madoguchi",
        "madoguchi/v1",
        f"madoguchi/v1/{SITE}",
        f"madoguchi/v2/{SITE}/office/status",
        f"other/v1/{SITE}/office/status",
        f"/madoguchi/v1/{SITE}/office/status",
        f"Madoguchi/v1/{SITE}/office/status",
        "madoguchi/v1/+/office/status",
        "madoguchi/v1/#",
        f"madoguchi/v1/{SITE}/#",
        f"madoguchi/v1/{SITE}/office/+",
        f"madoguchi/v1/{SITE}/device/+/events",
        f"madoguchi/v1/{SITE}/device/#",
        f"madoguchi/v1/{SITE}/staff/+/command",
        f"madoguchi/v1/{SITE}/office/ack/+",
        f"madoguchi/v1/{SITE}/office/lease/#",
        f"madoguchi/v1/{SITE}/office/status/extra",
        f"madoguchi/v1/{SITE}/office/unknown",
        f"madoguchi/v1/{SITE}/device/d1/unknown",
        f"madoguchi/v1/{SITE}/device/d1",
        f"madoguchi/v1/{SITE}/office/ack/",
        f"madoguchi/v1/{SITE}/device//events",
        f"madoguchi/v1/{SITE}/device/bad id/events",
        f"madoguchi/v1/{SITE}/device/-leading/events",
        f"madoguchi/v1/{SITE}/device/.leading/events",
        f"madoguchi/v1/{SITE}/device/{'x' * 64}/events",
        f"madoguchi/v1/{SITE}/staff/t/1/command",
        f"madoguchi/v1/{SITE}/staff/ターミナル/command",
        "madoguchi/v1/bad site/office/status",
        f"madoguchi/v1/{'s' * 64}/office/status",
        "madoguchi/v1//office/status",
    ],
)
def test_parse_topic_rejects_wrong_roots_wildcards_and_bad_ids(text: str) -> None:
    with pytest.raises(ProtocolError):
        parse_topic(text)


def test_ids_of_63_characters_are_the_longest_accepted() -> None:
    longest = "d" * 63
    assert parse_topic(topic("events", SITE, device=longest)).device == longest
    assert protocol.valid_id(longest)
    assert not protocol.valid_id(longest + "d")


@pytest.mark.parametrize("bad", ["", "a b", "a/b", "+", "#", "-x", "_x", "x" * 64, "é"])
def test_check_id_names_the_kind_of_id(bad: str) -> None:
    with pytest.raises(ProtocolError, match="device id"):
        protocol.check_id("device", bad)


# --------------------------------------------------------------------------------------------
# decode refuses what breaks the schema, naming the field
# --------------------------------------------------------------------------------------------

GOOD_EVENT = {"id": "d1:1", "seq": 1, "type": "ticket.issued", "hlc": "1795219260000-000000", "at": 1, "data": {}}


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [
        ("ack", {}, "ack.acked"),
        ("ack", {"acked": -1}, "ack.acked"),
        ("ack", {"acked": "7"}, "ack.acked"),
        ("ack", {"acked": True}, "ack.acked"),
        ("ack", {"acked": 1.5}, "ack.acked"),
        ("ack", {"acked": 2**53 + 1}, "ack.acked"),
        ("ack", {"acked": 1, "sent_ms": -5}, "ack.sent_ms"),
        ("events", {"device": "d1"}, "events.events"),
        ("events", {"events": []}, "events.device"),
        ("events", {"device": "d1", "events": "x"}, "events.events"),
        ("events", {"device": "d1", "events": [{**GOOD_EVENT, "seq": -1}]}, "events.events[0].seq"),
        ("events", {"device": "d1", "events": [{**GOOD_EVENT, "seq": 0}]}, "events.events[0].seq"),
        ("events", {"device": "d1", "events": [GOOD_EVENT, {**GOOD_EVENT, "data": []}]}, "events.events[1].data"),
        (
            "events",
            {"device": "d1", "events": [{k: v for k, v in GOOD_EVENT.items() if k != "hlc"}]},
            "events.events[0].hlc",
        ),
        ("events", {"device": "d1", "events": [GOOD_EVENT] * (MAX_EVENTS_PER_MESSAGE + 1)}, "events.events"),
        ("events", {"device": "d" * 64, "events": []}, "events.device"),
        ("lease", {"blocks": []}, "lease.version"),
        ("lease", {"version": 1}, "lease.blocks"),
        ("lease", {"version": 1, "blocks": [{"series": "2", "day": "2026-11-21", "first": 1}]}, "lease.blocks[0].last"),
        (
            "lease",
            {"version": 1, "blocks": [{"series": "2", "day": "21/11", "first": 1, "last": 2}]},
            "lease.blocks[0].day",
        ),
        ("lease", {"version": "1", "blocks": []}, "lease.version"),
        ("office_status", {"state": "maybe", "epoch": "e"}, "office_status.state"),
        ("office_status", {"state": "online"}, "office_status.epoch"),
        ("device_status", {"state": "online", "clock_confirmed": 1}, "device_status.clock_confirmed"),
        ("staff_command", {"request_id": "r"}, "staff_command.command"),
        ("staff_command", {"request_id": "r", "command": "x" * 301}, "staff_command.command"),
        ("staff_reply", {"request_id": "r", "message": "m"}, "staff_reply.ok"),
        (
            "board_snapshot",
            {
                "version": 1,
                "sent_ms": 1,
                "lines": [{"route": "a-b", "stations": ["a", "b"], "tickets": [[1, 0, "called"]]}],
                "calls": [],
            },
            "board_snapshot.lines[0].tickets[0]",
        ),
        (
            "board_snapshot",
            {"version": 1, "sent_ms": 1, "lines": [], "calls": [{"number": 1, "counter": 1000, "at_ms": 1}]},
            "board_snapshot.calls[0].counter",
        ),
        (
            "queue_snapshot",
            {"version": 1, "sent_ms": 1, "categories": [{"code": "x"}]},
            "queue_snapshot.categories[0].waiting",
        ),
        ("office_config", {"version": 1, "sent_ms": 1, "stations": []}, "office_config.categories"),
        (
            "office_config",
            {
                "version": 1,
                "sent_ms": 1,
                "stations": [],
                "categories": [{"code": "c", "series": "s" * 33, "name": {}, "route": []}],
            },
            "office_config.categories[0].series",
        ),
        ("kiosk_request", {"request_id": "r", "op": "steal"}, "kiosk_request.op"),
        ("kiosk_request", {"request_id": "r"}, "kiosk_request.op"),
        (
            "kiosk_request",
            {
                "request_id": "r",
                "op": "authenticate",
                "challenge_id": "c",
                "certificate": "%%%",
                "signature": "",
                "kind": "k",
            },
            "kiosk_request.certificate",
        ),
        (
            "kiosk_request",
            {"request_id": "r", "op": "issue", "session_token": "t", "copies": 11},
            "kiosk_request.copies",
        ),
        ("kiosk_reply", {"request_id": "r", "op": "issue"}, "kiosk_reply.ok"),
    ],
)
def test_decode_refuses_bodies_that_break_the_schema_and_names_the_field(
    name: str, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(name, json.dumps({"v": 1, **body}).encode())
    # the field path is followed by a space, a colon or the end: "ack.acked" must not match "ack.acked_x"
    message = str(caught.value)
    assert f"{field} " in message or f"{field}:" in message or message.endswith(field), message


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (messages.Ack(acked=-1), "ack.acked"),
        (messages.Ack(acked=1, sent_ms=2**60), "ack.sent_ms"),
        (messages.StaffCommand(request_id="", command="x"), "staff_command.request_id"),
        (
            messages.Lease(version=1, blocks=(messages.LeaseBlock(series="2", day="x", first=1, last=2),)),
            "lease.blocks[0].day",
        ),
        (messages.OfficeStatus(state="online", epoch="e" * 65), "office_status.epoch"),
    ],
)
def test_encode_refuses_values_a_receiver_would_refuse(payload: messages.Payload, field: str) -> None:
    with pytest.raises(ProtocolError, match=re.escape(field)):
        encode(payload)


def test_encode_refuses_a_payload_over_the_size_limit() -> None:
    record = messages.EventRecord(**{**GOOD_EVENT, "data": {"pad": "x" * MAX_PAYLOAD_BYTES}})
    with pytest.raises(ProtocolError, match="over the 65536 limit"):
        encode(messages.EventBatch(device="d1", events=(record,)))


def test_encode_adds_the_schema_version_and_writes_utf8_json() -> None:
    raw = encode(messages.StaffCommand(request_id="r1", command="advance 1105 to 審査"))
    assert json.loads(raw.decode("utf-8")) == {"v": 1, "request_id": "r1", "command": "advance 1105 to 審査"}
    assert "審査".encode() in raw  # not \u-escaped


def test_kiosk_requests_are_told_apart_by_op_and_carry_bytes_as_base64() -> None:
    request = messages.AuthenticateRequest(
        request_id="r", challenge_id="c", certificate=b"\x30\x82", signature=b"\x01", kind="juminhyo", copies=2
    )
    raw = encode(request)
    assert json.loads(raw)["op"] == "authenticate" and json.loads(raw)["certificate"] == "MII="
    assert decode("kiosk_request", raw) == request
    assert isinstance(
        decode("kiosk_request", encode(messages.ChallengeRequest(request_id="q"))), messages.ChallengeRequest
    )


def test_event_data_is_checked_by_its_type_and_names_the_field() -> None:
    issued = messages.TicketIssued(ticket_id="t", day="2026-11-21", series="2", number=2003, category="certificates")
    record = messages.EventRecord(id="d:1", seq=1, type=issued.type, hlc="h", at=1, data=protocol.to_data(issued))
    assert protocol.event_data(record) == issued
    bad = messages.EventRecord(id="d:1", seq=1, type=issued.type, hlc="h", at=1, data={**record.data, "number": "2003"})
    with pytest.raises(ProtocolError, match=re.escape("ticket.issued: number: expected a ticket number")):
        protocol.event_data(bad)
    unmodelled = messages.EventRecord(id="d:2", seq=2, type="x.unmodelled", hlc="h", at=1, data={"any": 1})
    assert protocol.event_data(unmodelled) is None


# --------------------------------------------------------------------------------------------
# decode
# --------------------------------------------------------------------------------------------


def _events_payload_of_size(size: int) -> bytes:
    """A valid events payload of exactly ``size`` bytes (padding in an event's data)."""
    doc = {"v": 1, "device": "d1", "events": [{**GOOD_EVENT, "data": {"pad": ""}}]}
    empty = len(json.dumps(doc, separators=(",", ":")).encode())
    doc["events"][0]["data"]["pad"] = "x" * (size - empty)
    raw = json.dumps(doc, separators=(",", ":")).encode()
    assert len(raw) == size
    return raw


def test_decode_accepts_exactly_the_size_limit_and_refuses_one_byte_more() -> None:
    raw = _events_payload_of_size(MAX_PAYLOAD_BYTES)
    assert decode("events", raw).device == "d1"
    with pytest.raises(ProtocolError, match="over the 65536 limit"):
        decode("events", raw + b" ")  # still valid JSON, one byte too many


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"", "empty"),
        (b"not json", "not UTF-8 JSON"),
        (b"\xff\xfe\xfd", "not UTF-8 JSON"),
        (b'{"v":1,"acked":"\xc3"}', "ack.acked: expected `int`, got `str`"),  # refused before the text is read
        (b"[1,2]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
        (b"null", "not a JSON object"),
        (b"{}", "schema version None"),
        (b'{"v":2,"acked":1}', "schema version 2"),
        (b'{"v":"1","acked":1}', "schema version '1'"),
        (b'{"v":1}', "ack.acked: required"),
        (b'{"v":1,"acked":"7"}', 'ack.acked: expected an event sequence number, got "7"'),
        (b'{"v":1,"acked":-1}', "ack.acked: expected an event sequence number, got -1"),
        (b'{"v":1,"acked":NaN}', "not UTF-8 JSON"),
        (b'{"v":1,"acked":1e400}', "ack.acked: number out of range"),
    ],
)
def test_decode_refuses_bad_ack_payloads_with_a_reason(raw: bytes, why: str) -> None:
    with pytest.raises(ProtocolError, match=re.escape(why)):
        decode("ack", raw)


def test_a_text_field_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(ProtocolError, match="not UTF-8 JSON"):
        decode("staff_command", b'{"v":1,"request_id":"\xc3","command":"x"}')


def test_decode_ignores_unknown_fields() -> None:
    assert decode("ack", b'{"v":1,"acked":4,"future_field":{"x":1}}').acked == 4


def test_decode_of_deeply_nested_json_is_a_protocol_error() -> None:
    raw = b'{"v":1,"acked":1,"x":' + b"[" * 50_000 + b"}"
    assert len(raw) < MAX_PAYLOAD_BYTES
    with pytest.raises(ProtocolError):
        decode("ack", raw)


def test_decode_of_a_huge_integer_is_a_protocol_error() -> None:
    raw = b'{"v":1,"acked":' + b"7" * 5000 + b"}"
    with pytest.raises(ProtocolError):
        decode("ack", raw)


def test_decode_refuses_a_boolean_schema_version() -> None:
    with pytest.raises(ProtocolError):
        decode("ack", b'{"v":true,"acked":1}')


# --------------------------------------------------------------------------------------------
# encode/decode round trips of generated valid bodies
# --------------------------------------------------------------------------------------------

ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,20}\Z")
ms = st.integers(min_value=0, max_value=2**53)
days = st.dates().map(lambda d: d.isoformat()).filter(lambda d: len(d) == 10)
codes = st.text(min_size=1, max_size=32)
short_text = st.text(max_size=30)
# Event data is any JSON object; floats without NaN (NaN != NaN) and infinities (not JSON).
plain_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | short_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@st.composite
def events_bodies(draw: st.DrawFn) -> dict[str, Any]:
    device = draw(ids)
    first = draw(st.integers(min_value=1, max_value=2**53 - MAX_EVENTS_PER_MESSAGE))
    count = draw(st.integers(min_value=0, max_value=5))
    events = [
        {
            "id": f"{device}:{first + i}",
            "seq": first + i,
            "type": draw(
                st.sampled_from(["ticket.issued", "ticket.reprinted", "ticket.print_failed"]) | st.text(max_size=64)
            ),
            "hlc": draw(st.text(max_size=40)),
            "at": draw(ms),
            "data": draw(st.dictionaries(st.text(max_size=10), plain_json, max_size=4)),
        }
        for i in range(count)
    ]
    return {"device": device, "events": events}


ack_bodies = st.fixed_dictionaries({"acked": ms}, optional={"sent_ms": ms})
lease_bodies = st.fixed_dictionaries(
    {
        "version": ms,
        "blocks": st.lists(
            st.fixed_dictionaries(
                {"series": codes, "day": days, "first": st.integers(0, 10_000_000), "last": st.integers(0, 10_000_000)}
            ),
            max_size=10,
        ),
    },
    optional={"sent_ms": ms},
)
staff_command_bodies = st.fixed_dictionaries(
    {"request_id": st.text(min_size=1, max_size=64), "command": st.text(max_size=300)}
)
office_status_bodies = st.fixed_dictionaries(
    {"state": st.sampled_from(["online", "offline"]), "epoch": st.text(max_size=64)},
    optional={"session": st.integers(0, 2**31), "sent_ms": ms},
)
bodies = st.one_of(
    st.tuples(st.just("ack"), ack_bodies),
    st.tuples(st.just("events"), events_bodies()),
    st.tuples(st.just("lease"), lease_bodies),
    st.tuples(st.just("staff_command"), staff_command_bodies),
    st.tuples(st.just("office_status"), office_status_bodies),
)


@settings(max_examples=300, deadline=None)
@given(named=bodies)
def test_a_valid_body_decodes_and_encodes_back_to_the_same_fields(named: tuple[str, dict[str, Any]]) -> None:
    name, body = named
    doc = decode(name, json.dumps({"v": 1, **body}).encode())
    raw = encode(doc)
    assert decode(name, raw) == doc
    sent = json.loads(raw)
    # Every field the body had goes out again with its value (absent optional ones as defaults).
    assert {k: sent[k] for k in body} == json.loads(json.dumps(body))


@settings(max_examples=100, deadline=None)
@given(
    body=events_bodies(),
    extra=st.dictionaries(
        st.text(min_size=1, max_size=8).filter(lambda k: k not in ("v", "device", "events")), plain_json, max_size=3
    ),
)
def test_unknown_fields_are_ignored(body: dict[str, Any], extra: dict[str, Any]) -> None:
    with_extra = decode("events", json.dumps({"v": 1, **body, **extra}).encode())
    assert with_extra == decode("events", json.dumps({"v": 1, **body}).encode())


# --------------------------------------------------------------------------------------------
# decode of anything: a ProtocolError or a valid document, never another exception
# --------------------------------------------------------------------------------------------

# Bytes that are often *almost* a payload: arbitrary bytes, JSON documents of every shape, and
# valid bodies with a few fields dropped or replaced by any JSON value (near the schema's edge).
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
VALID_BODIES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "ack": ack_bodies,
    "events": events_bodies(),
    "lease": lease_bodies,
    "staff_command": staff_command_bodies,
    "office_status": office_status_bodies,
}


@st.composite
def near_payloads(draw: st.DrawFn, name: str) -> bytes:
    body: dict[str, Any] = dict(draw(VALID_BODIES.get(name, st.just({}))))
    for _ in range(draw(st.integers(0, 3))):
        target = body
        for inner in ("events", "blocks"):
            items = body.get(inner)
            if isinstance(items, list) and items and isinstance(items[0], dict) and draw(st.booleans()):
                target = items[0]
                break
        key = draw(st.sampled_from(sorted(target)) | st.text(max_size=5)) if target else draw(st.text(max_size=5))
        if draw(st.booleans()):
            target.pop(key, None)
        else:
            target[key] = draw(json_values)
    version = draw(st.sampled_from([1, 1, 1, 2, "1", None, 0]))
    doc = body if version is None else {"v": version, **body}
    return json.dumps(doc).encode()


@st.composite
def payload_bytes(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(TOPICS)))
    raw = draw(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()) | near_payloads(name))
    return name, raw


@settings(max_examples=500, deadline=None)
@given(named=payload_bytes())
@example(named=("events", b'{"v":1,"device":"d1","events":[{"seq":1}]}'))
@example(named=("board_snapshot", b'{"v":1,"version":1,"sent_ms":1,"lines":[{"tickets":[[1]]}],"calls":[]}'))
def test_decode_of_arbitrary_bytes_raises_only_protocol_error(named: tuple[str, bytes]) -> None:
    name, raw = named
    try:
        doc = decode(name, raw)
    except ProtocolError:
        return
    # What is accepted is a payload of schema version 1 that can be sent on unchanged.
    assert isinstance(doc, messages.Payload) and doc.v == 1
    assert decode(name, encode(doc)) == doc
