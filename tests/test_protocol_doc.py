"""docs/protocol.md is checked against the models of sync/messages.py: every payload's section
names every field of its model, every JSON example decodes with its topic's model, and every
event type with a model names its fields. A field added to a model and not to the page fails
here, and so does an example the devices would refuse."""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgspec
import pytest

from sync import messages, protocol

DOC = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text(encoding="utf-8")

# The section heading's topic(s) -> the topic names of sync.protocol.TOPICS.
SECTIONS = {
    "`office/status`": ("office_status",),
    "`office/config`": ("office_config",),
    "`office/snapshot/queue`": ("queue_snapshot",),
    "`office/snapshot/board`": ("board_snapshot",),
    "`office/ack/<device>`": ("ack",),
    "`office/lease/<device>`": ("lease",),
    "`office/voids/<device>`": ("voids",),
    "`device/<device>/status`": ("device_status",),
    "`device/<device>/events`": ("events",),
    "`staff/<terminal>/command` and `staff/<terminal>/reply`": ("staff_command", "staff_reply"),
    "`device/<device>/request` and `office/reply/<device>` (certificate kiosks)": ("kiosk_request", "kiosk_reply"),
    "`office/log` and `office/log/ack` (a ward: branch office and centre)": ("ticket_log", "ticket_log_ack"),
    "`office/ward/cases`, `office/ward/action` and `office/ward/reply` (a ward's shared input centre)": (
        "ward_cases",
        "ward_action",
        "ward_reply",
    ),
}


def sections() -> dict[str, str]:
    """Each ``### `` section's text, by its heading."""
    parts = re.split(r"^### (.+)$", DOC, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1].split("\n## ")[0] for i in range(1, len(parts), 2)}


def models(name: str) -> list[type[msgspec.Struct]]:
    """The model(s) of a topic: one struct, or each variant of a tagged union."""
    payload = protocol.PAYLOADS[name]
    return list(getattr(payload, "__args__", (payload,)))


def fields(model: type[msgspec.Struct]) -> set[str]:
    """Every field a payload carries on the wire, nested parts included (``v`` and tags aside)."""
    out: set[str] = set()
    seen: set[type] = set()

    def walk(info: msgspec.inspect.Type) -> None:
        match info:
            case msgspec.inspect.StructType(cls=cls) if cls not in seen:
                seen.add(cls)
                for f in info.fields:
                    if f.encode_name != "v":
                        out.add(f.encode_name)
                    walk(f.type)
            case msgspec.inspect.Metadata(type=inner):
                walk(inner)
            case msgspec.inspect.ListType() | msgspec.inspect.VarTupleType() | msgspec.inspect.FrozenSetType():
                walk(info.item_type)
            case msgspec.inspect.DictType():
                walk(info.value_type)
            case msgspec.inspect.UnionType():
                for option in info.types:
                    walk(option)

    walk(msgspec.inspect.type_info(model))
    return out


def test_every_topic_has_its_section() -> None:
    found = sections()
    assert set(SECTIONS) <= set(found), set(SECTIONS) - set(found)
    covered = {name for names in SECTIONS.values() for name in names}
    assert covered == set(protocol.TOPICS)


@pytest.mark.parametrize("heading", sorted(SECTIONS))
def test_each_section_names_every_field_of_its_models(heading: str) -> None:
    text = sections()[heading]
    named = set(re.findall(r"`([a-z_]+)`", text))
    for name in SECTIONS[heading]:
        for model in models(name):
            missing = fields(model) - named
            assert not missing, f"docs/protocol.md, {heading}: {model.__name__} fields not described: {sorted(missing)}"


@pytest.mark.parametrize("heading", sorted(SECTIONS))
def test_every_json_example_of_a_section_decodes_with_its_model(heading: str) -> None:
    text = sections()[heading]
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)
    assert blocks, f"{heading}: no example"
    documents = [json.loads(doc) for block in blocks for doc in _documents(block)]
    assert documents
    for doc in documents:
        raw = json.dumps(doc, ensure_ascii=False).encode()
        errors = []
        for name in SECTIONS[heading]:
            try:
                decoded = protocol.decode(name, raw)
            except protocol.ProtocolError as err:
                errors.append(f"{name}: {err}")
                continue
            assert isinstance(decoded, messages.Payload)
            break
        else:
            pytest.fail(f"docs/protocol.md, {heading}: an example no model takes: {doc}\n" + "\n".join(errors))


def _documents(block: str) -> list[str]:
    """The JSON documents of a block: one per ``{"v":1`` at the start of a line."""
    starts = [m.start() for m in re.finditer(r'^\{"v":1', block, flags=re.MULTILINE)]
    return [block[a:b].strip() for a, b in zip(starts, [*starts[1:], len(block)], strict=True)]


def test_every_modelled_event_type_names_its_fields() -> None:
    text = sections()["`device/<device>/events`"]
    for type_name, model in messages.EVENT_DATA.items():
        assert f"`{type_name}`" in text, f"event type {type_name} is not described"
        described = text.split(f"`{type_name}`", 1)[1][:600]
        named = set(re.findall(r"`([a-z_]+)`", described))
        missing = fields(model) - named
        assert not missing, f"docs/protocol.md: {type_name} fields not described: {sorted(missing)}"


def test_the_check_would_catch_a_field_the_page_does_not_name() -> None:
    class Extra(messages.Ack, frozen=True, kw_only=True):
        brand_new: int = 0

    named = set(re.findall(r"`([a-z_]+)`", sections()["`office/ack/<device>`"]))
    assert fields(Extra) - named == {"brand_new"}
