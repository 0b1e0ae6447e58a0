"""Typed values from untrusted data, with errors that name the key path and the fix.

One library validates everything that crosses a boundary - MQTT payloads, the office's site
configuration, the devices' configurations and the hardware profiles: **msgspec**. A model is a
frozen :class:`msgspec.Struct` whose field types carry their limits (``Annotated[int,
Meta(ge=1, le=99)]``); decoding or converting into it checks every value in C, fast and small
enough for a Raspberry Pi (docs/architecture.md says why msgspec and not pydantic).

msgspec stops at the first problem and words it for programmers ("Expected `int`, got `str` -
at `$.media.width.pixels`"). :func:`explain` turns that into the project's own message, for a
technician or a clerk: the key path as written in the file, what was expected (the field's
``what``), what was found, and how to fix it - ``media.width.pixels: expected an integer from
200 to 1000, got "512px"; write the number alone, e.g. 512``. Field metadata comes from
:func:`info`: ``what`` (the expectation in words), ``help`` (said when the key is missing) and
``hex`` (USB ids, shown as 0x04b8).

Cross-field rules (a route naming a station that does not exist) are not squeezed into the
types: each model's module checks them after conversion and raises :class:`Invalid` itself.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal, TypeVar, Union

import msgspec
from msgspec import inspect as mi

T = TypeVar("T")

PathPart = str | int
_AT = re.compile(r"^(?P<message>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.DOTALL)
_AT_PATH = re.compile(r" - at `\$([^`]*)`")
_KEY_AT = re.compile(r"^(?P<message>.*?) - at `key` in `(?P<path>[^`]*)`$", re.DOTALL)
_BACKTICKED = re.compile(r"`([^`]*)`")
_UNREADABLE: Any = object()


class Invalid(ValueError):
    """A value that does not fit its model.

    ``path`` is the key path as written in the file (``media.width.pixels``,
    ``categories[2].route``; empty for the whole value), ``message`` what was expected and how
    to fix it. ``missing`` marks a required key that is absent.
    """

    def __init__(self, path: Sequence[PathPart], message: str, *, missing: bool = False) -> None:
        self.parts = tuple(path)
        self.message = message
        self.missing = missing
        super().__init__(str(self))

    @property
    def path(self) -> str:
        """The key path in dotted form."""
        return format_path(self.parts)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.parts else self.message

    def within(self, *prefix: PathPart) -> Invalid:
        """The same problem, seen from a value that holds this one under ``prefix``."""
        return Invalid((*prefix, *self.parts), self.message, missing=self.missing)


def info(*, what: str | None = None, help: str | None = None, hex: bool = False, **limits: Any) -> msgspec.Meta:
    """A field's limits (``ge``, ``le``, ``max_length``, ``pattern``…) and how to talk about it:
    ``what`` it must be, the ``help`` said when it is missing, ``hex`` for USB ids."""
    extra = {k: v for k, v in (("what", what), ("help", help), ("hex", hex or None)) if v is not None}
    return msgspec.Meta(extra=extra, **limits)


def format_path(path: Sequence[PathPart]) -> str:
    """``("media", "width", "pixels")`` -> ``media.width.pixels``; list items as ``[2]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def describe(value: object) -> str:
    """A value as a person would write it in a file, for "got …" in messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "an empty value"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def did_you_mean(word: str, options: Sequence[str]) -> str:
    """``'; did you mean "width"?'`` when ``word`` is close to one of ``options``, else ``''``."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f'; did you mean "{close[0]}"?' if close else ""


# --------------------------------------------------------------------------------------------
# converting and decoding
# --------------------------------------------------------------------------------------------


def convert(value: object, type_: type[T]) -> T:
    """``value`` (parsed TOML, YAML or JSON) as ``type_``, strictly: ``"8"`` is not 8, ``1`` is
    not true. :class:`Invalid` names the key path and the fix."""
    try:
        return msgspec.convert(value, type_, strict=True)
    except msgspec.ValidationError as err:
        raise explain(err, value, type_) from err


def decode_json(raw: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    """Decode and check JSON bytes in one pass; on a problem, explain it against the parsed
    document (parsed again only then)."""
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as err:
        try:
            doc = msgspec.json.decode(raw)
        except (msgspec.DecodeError, RecursionError):
            # Beyond what plain JSON values hold (1e400): msgspec's own words will have to do.
            doc = _UNREADABLE
        raise explain(err, doc, decoder.type) from err


# --------------------------------------------------------------------------------------------
# explaining msgspec's errors
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Node:
    """A type at a key path, with the metadata that was wrapped around it."""

    type: mi.Type
    extra: Mapping[str, Any]


@cache
def _type_info(type_: Any) -> mi.Type:
    return mi.type_info(type_)


def _unwrap(t: mi.Type, extra: Mapping[str, Any] | None = None) -> _Node:
    merged: dict[str, Any] = dict(extra or {})
    while isinstance(t, mi.Metadata):
        merged.update(t.extra or {})
        t = t.type
    return _Node(t, merged)


def _split_path(path: str) -> list[PathPart]:
    """msgspec's ``$.a.b[2][...]`` as parts; ``[...]`` (a mapping's value) stays ``"[...]"``."""
    parts: list[PathPart] = []
    for match in re.finditer(r"\.([^.\[]+)|\[(\d+)\]|\[\.\.\.\]", path.removeprefix("$")):
        if match.group(1) is not None:
            parts.append(match.group(1))
        elif match.group(2) is not None:
            parts.append(int(match.group(2)))
        else:
            parts.append("[...]")
    return parts


def _options(t: mi.Type) -> Iterator[mi.Type]:
    if isinstance(t, mi.UnionType):
        yield from t.types
    else:
        yield t


def _step(node: _Node, part: PathPart, value: Any) -> tuple[_Node, Any, PathPart]:
    """Go one key down from ``node`` holding ``value``: the child's type, value and the part as
    it is written in the file (a mapping's key found by checking each entry)."""
    for option in _options(node.type):
        opt = _unwrap(option, node.extra if option is node.type else None)
        t = opt.type
        if isinstance(t, mi.StructType) and isinstance(part, str) and part == t.tag_field:
            # The tag of a tagged union (a kiosk request's "op"): one of the variants' tags.
            variants = [_unwrap(o).type for o in _options(node.type)]
            tags = tuple(v.tag for v in variants if isinstance(v, mi.StructType))
            child = value.get(part) if isinstance(value, Mapping) else None
            return _Node(mi.LiteralType(tags), {}), child, part
        if isinstance(t, mi.StructType) and isinstance(part, str) and part != "[...]":
            for f in t.fields:
                if f.encode_name == part:
                    child = value.get(part) if isinstance(value, Mapping) else None
                    return _unwrap(f.type), child, part
        elif isinstance(t, mi.ListType | mi.VarTupleType | mi.SetType | mi.FrozenSetType) and isinstance(part, int):
            child = value[part] if isinstance(value, list | tuple) and part < len(value) else None
            return _unwrap(t.item_type), child, part
        elif isinstance(t, mi.TupleType) and isinstance(part, int) and part < len(t.item_types):
            child = value[part] if isinstance(value, list | tuple) and part < len(value) else None
            return _unwrap(t.item_types[part]), child, part
        elif isinstance(t, mi.DictType) and part == "[...]":
            value_node = _unwrap(t.value_type)
            if isinstance(value, Mapping):
                for key, item in value.items():
                    if not _fits(item, value_node.type):
                        return value_node, item, str(key)
            return value_node, None, "[...]"
    return _Node(mi.AnyType(), {}), None, part


def _fits(value: Any, t: mi.Type) -> bool:
    try:
        msgspec.convert(value, _python_type(t), strict=True)
    except (msgspec.ValidationError, TypeError, ValueError):
        return False
    return True


def _python_type(t: mi.Type) -> Any:
    """A Python type that checks what ``t`` checks, for re-checking one entry of a mapping (msgspec
    says only that *some* value of the mapping is wrong). Covers what the models put in mappings."""
    if isinstance(t, mi.Metadata):
        return _python_type(t.type)
    if isinstance(t, mi.StructType):
        return t.cls
    if isinstance(t, mi.LiteralType):
        return Literal[tuple(t.values)]
    if isinstance(t, mi.EnumType):
        return t.cls
    if isinstance(t, mi.UnionType):
        return Union[tuple(_python_type(o) for o in t.types)]  # noqa: UP007 - built at run time
    if isinstance(t, mi.ListType | mi.VarTupleType):
        return list[_python_type(t.item_type)]  # type: ignore[misc]
    if isinstance(t, mi.DictType):
        return dict[_python_type(t.key_type), _python_type(t.value_type)]  # type: ignore[misc]
    limits: dict[str, Any] = {}
    base: Any = Any
    if isinstance(t, mi.IntType | mi.FloatType):
        base = int if isinstance(t, mi.IntType) else float
        limits = {"ge": t.ge, "gt": t.gt, "le": t.le, "lt": t.lt, "multiple_of": t.multiple_of}
    elif isinstance(t, mi.StrType):
        base, limits = str, {"min_length": t.min_length, "max_length": t.max_length, "pattern": t.pattern}
    elif isinstance(t, mi.BoolType):
        base = bool
    elif isinstance(t, mi.NoneType):
        return None
    limits = {k: v for k, v in limits.items() if v is not None}
    return Annotated[base, msgspec.Meta(**limits)] if limits else base


def what(node: _Node) -> str:
    """What a value of this type is, in words."""
    if "what" in node.extra:
        return str(node.extra["what"])
    t = node.type
    if isinstance(t, mi.BoolType):
        return "true or false"
    if isinstance(t, mi.IntType):
        lo = t.ge if t.ge is not None else (t.gt + 1 if t.gt is not None else None)
        hi = t.le if t.le is not None else (t.lt - 1 if t.lt is not None else None)
        if node.extra.get("hex") and lo is not None and hi is not None:
            return f"a USB id like 0x04b8 (0x{lo:04x} to 0x{hi:04x})"
        if lo is not None and hi is not None:
            return f"an integer from {lo} to {hi}"
        if lo is not None:
            return f"an integer of at least {lo}"
        return "an integer"
    if isinstance(t, mi.FloatType):
        lo_f = t.ge if t.ge is not None else t.gt
        hi_f = t.le if t.le is not None else t.lt
        if lo_f is not None and hi_f is not None:
            return f"a number from {lo_f:g} to {hi_f:g}"
        return "a number"
    if isinstance(t, mi.StrType):
        text = "a non-empty text" if (t.min_length or 0) > 0 else "a text"
        return f"{text} of at most {t.max_length} characters" if t.max_length is not None else text
    if isinstance(t, mi.LiteralType):
        return "one of " + ", ".join(str(v) for v in t.values)
    if isinstance(t, mi.EnumType):
        return "one of " + ", ".join(str(m.value) for m in t.cls)
    if isinstance(t, mi.ListType | mi.VarTupleType | mi.SetType | mi.FrozenSetType):
        return f"a list of {what(_unwrap(t.item_type))}"
    if isinstance(t, mi.TupleType):
        return f"a list of {len(t.item_types)} items"
    if isinstance(t, mi.DictType):
        return f"a mapping of {what(_unwrap(t.key_type))} to {what(_unwrap(t.value_type))}"
    if isinstance(t, mi.StructType):
        # A model may say what its files call a mapping (TOML: a table).
        noun = getattr(t.cls, "noun", "mapping")
        return f"a {noun} with " + ", ".join(f.encode_name for f in t.fields)
    if isinstance(t, mi.UnionType):
        kinds = [what(_unwrap(o)) for o in t.types if not isinstance(o, mi.NoneType)]
        return " or ".join(kinds) if kinds else "nothing"
    if isinstance(t, mi.NoneType):
        return "nothing"
    return "a value"


def _hint(value: Any, node: _Node) -> str:
    """How to fix the most common slips: quotes around numbers, a number for a name."""
    t = next((o for o in (_unwrap(x).type for x in _options(node.type)) if not isinstance(o, mi.NoneType)), node.type)
    if isinstance(t, mi.IntType) and not isinstance(value, bool):
        if isinstance(value, str):
            text = value.strip()
            if node.extra.get("hex") and re.fullmatch(r"(0[xX])?[0-9a-fA-F]{1,4}", text):
                return f"write it without quotes as 0x{int(text, 16):04x} (a YAML hex number)"
            if m := re.match(r"[+-]?\d+", text):
                return f"write the number alone, e.g. {m.group(0)}"
        elif isinstance(value, float) and value.is_integer():
            return f"write {int(value)}"
    if isinstance(t, mi.FloatType) and isinstance(value, str) and re.match(r"\s*\d", value):
        return "write the number alone"
    if isinstance(t, mi.BoolType) and isinstance(value, str) and value.lower() in ("true", "false"):
        return "write it without quotes"
    if isinstance(t, mi.StrType) and isinstance(value, int | float) and not isinstance(value, bool):
        return f'quote it: "{value}"'
    if isinstance(t, mi.ListType | mi.VarTupleType) and isinstance(value, int | str) and not isinstance(value, bool):
        return f"write it as a list: [{value}]"
    return ""


def _range_hint(value: Any, node: _Node) -> str | None:
    """Out-of-range and not-a-multiple messages that say the nearest good values."""
    t = node.type
    if isinstance(t, mi.IntType) and isinstance(value, int) and not isinstance(value, bool):
        if t.multiple_of and value % t.multiple_of and _within(value, t):
            below = value - value % t.multiple_of
            return f"expected a multiple of {t.multiple_of}, got {value}; use {below} or {below + t.multiple_of}"
        if node.extra.get("hex") and value >= 0:
            return f"expected {what(node)}, got 0x{value:04x}"
    if isinstance(t, mi.ListType | mi.VarTupleType) and isinstance(value, list | tuple):
        if t.min_length and len(value) < t.min_length:
            s = "s" if t.min_length > 1 else ""
            return f"expected at least {t.min_length} item{s}, got {len(value)}"
        if t.max_length is not None and len(value) > t.max_length:
            return f"expected at most {t.max_length} items, got {len(value)}"
    if isinstance(t, mi.DictType) and isinstance(value, Mapping) and len(value) > (t.max_length or len(value)):
        return f"expected at most {t.max_length} entries, got {len(value)}"
    if isinstance(t, mi.StrType) and isinstance(value, str) and len(value) > (t.max_length or len(value)):
        return f"expected a text of at most {t.max_length} characters, got {len(value)} characters"
    return None


def _within(value: int, t: mi.IntType) -> bool:
    return all(
        (
            t.ge is None or value >= t.ge,
            t.gt is None or value > t.gt,
            t.le is None or value <= t.le,
            t.lt is None or value < t.lt,
        )
    )


def explain(err: msgspec.ValidationError, value: object, type_: Any) -> Invalid:
    """msgspec's error about ``value`` (converted to ``type_``) in the project's words."""
    text = str(err)
    key_match = _KEY_AT.match(text)
    if key_match:
        raw_parts, message = _split_path(key_match["path"]), key_match["message"]
    else:
        at = _AT.match(text)
        raw_parts, message = (_split_path(at["path"] or "$"), at["message"]) if at else ([], text)
    if value is _UNREADABLE:
        where = _AT_PATH.search(text)
        return Invalid(_split_path(where[1]) if where else (), message[:1].lower() + message[1:])
    node, current = _unwrap(_type_info(type_)), value
    parts: list[PathPart] = []
    for raw in raw_parts:
        node, current, written = _step(node, raw, current)
        parts.append(written)

    if key_match:
        key_node = _dict_key_node(node)
        bad = next((k for k in current if not _fits(k, key_node.type)), None) if isinstance(current, Mapping) else None
        return Invalid((*parts, str(bad)), f"expected {what(key_node)} as a key, got {describe(bad)}")
    if message.startswith("Object missing required field"):
        name = _BACKTICKED.search(message)
        field = name.group(1) if name else "?"
        child, _, _ = _step(node, field, current)
        help = child.extra.get("help")
        return Invalid((*parts, field), "required" + (f": {help}" if help else ""), missing=True)
    if message.startswith("Object contains unknown field"):
        name = _BACKTICKED.search(message)
        field = name.group(1) if name else "?"
        known = _field_names(node)
        return Invalid((*parts, field), f"unknown key{did_you_mean(field, known)}; allowed here: {', '.join(known)}")
    if message.startswith("Invalid enum value"):
        choices = _literal_values(node)
        mean = did_you_mean(current, [str(c) for c in choices]) if isinstance(current, str) else ""
        return Invalid(parts, f"expected {what(node)}, got {describe(current)}{mean}")
    ranged = _range_hint(current, _concrete(node, current))
    if ranged is not None:
        help = node.extra.get("help")
        return Invalid(parts, ranged + (f"; {help}" if help and ranged.startswith("expected at least") else ""))
    if message.startswith(("Expected", "Invalid", "Integer value out of range", "Number out of range")):
        hint = _hint(current, node)
        return Invalid(parts, f"expected {what(node)}, got {describe(current)}" + (f"; {hint}" if hint else ""))
    # A check of the model's own (__post_init__) speaks for itself.
    return Invalid(parts, message)


def _concrete(node: _Node, value: Any) -> _Node:
    """For ``X | None``, the option a present value was meant to be."""
    if isinstance(node.type, mi.UnionType) and value is not None:
        options = [_unwrap(o) for o in node.type.types if not isinstance(o, mi.NoneType)]
        if len(options) == 1:
            return _Node(options[0].type, {**node.extra, **options[0].extra})
    return node


def _dict_key_node(node: _Node) -> _Node:
    for option in _options(node.type):
        t = _unwrap(option).type
        if isinstance(t, mi.DictType):
            return _unwrap(t.key_type)
    return node


def _field_names(node: _Node) -> list[str]:
    for option in _options(node.type):
        t = _unwrap(option).type
        if isinstance(t, mi.StructType):
            return [f.encode_name for f in t.fields]
    return []


def _literal_values(node: _Node) -> tuple[Any, ...]:
    for option in _options(node.type):
        t = _unwrap(option).type
        if isinstance(t, mi.LiteralType):
            return tuple(t.values)
    return ()
