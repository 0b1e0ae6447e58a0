"""The schema every profile file is checked against: declarative, ESPHome-style.

A schema is a tree of nodes (:class:`Map`, :class:`Int`, :class:`Str`, …). Checking a value
collects :class:`Problem` s, each with the key path (``media.width.pixels``) and a message that
says what was expected, what was found and how to fix it; unknown keys get a "did you mean".
Defaults live only here, in the schema.

Two passes (see loader.py): each file is checked *partially* (types, ranges, unknown keys; no
required keys, no defaults), so a bad value is reported in the file that holds it; the merged
result of a model and everything it inherits is then checked *fully* (required keys, defaults,
the cross-field checks of its kind).

Pure: no I/O.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from firmware_profiles.ports import FLOW_CONTROLS, PARITIES, PORT_REQUIREMENTS

SCHEMA_VERSION: Final = 1
"""The profile format this code reads (every file says ``schema_version: 1``)."""

META_KEYS: Final = ("schema_version", "inherits", "abstract")
"""Keys about the file rather than the device: read by the loader, never inherited."""

KeyPath = tuple[str | int, ...]
_MISSING: Any = object()


def format_path(path: KeyPath) -> str:
    """``("media", "width", "pixels")`` -> ``media.width.pixels``; list items as ``[2]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + part
    return out


def describe(value: object) -> str:
    """A value as a technician would write it in YAML, for "got …" in messages."""
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


@dataclass(frozen=True)
class Problem:
    """One thing wrong at one key path. ``missing`` marks a required key that is absent (the
    loader then says which files it may go in)."""

    path: KeyPath
    message: str
    missing: bool = False


class Checker:
    """Collects problems while a value is checked; ``partial`` skips required keys and defaults."""

    def __init__(self, *, partial: bool) -> None:
        self.partial = partial
        self.problems: list[Problem] = []

    def add(self, path: KeyPath, message: str, *, missing: bool = False) -> None:
        """Record a problem at ``path``."""
        self.problems.append(Problem(path, message, missing))


# --------------------------------------------------------------------------------------------
# nodes
# --------------------------------------------------------------------------------------------


class Node:
    """A schema node: checks a value, records problems, returns the value with defaults."""

    what = "a value"

    def check(self, value: Any, path: KeyPath, c: Checker) -> Any:
        """Check ``value`` found at ``path``; return it (completed with defaults in a full check)."""
        raise NotImplementedError

    def fail(self, value: Any, path: KeyPath, c: Checker, hint: str = "") -> Any:
        """Record "expected <what>, got <value>[; hint]" and return the value unchanged."""
        c.add(path, f"expected {self.what}, got {describe(value)}" + (f"; {hint}" if hint else ""))
        return value


class Anything(Node):
    """Any value (settings handed to an app as they are)."""

    what = "any value"

    def check(self, value: Any, path: KeyPath, c: Checker) -> Any:
        """Accept everything."""
        return value


class Int(Node):
    """An integer in ``lo..hi``; ``hex`` ones are USB ids and messages show them as 0x04b8."""

    def __init__(
        self, lo: int, hi: int, *, what: str | None = None, hex: bool = False, multiple_of: int | None = None
    ) -> None:
        self.lo, self.hi, self.hex, self.multiple_of = lo, hi, hex, multiple_of
        self.what = what or (
            f"a USB id like 0x04b8 (0x{lo:04x} to 0x{hi:04x})" if hex else f"an integer from {lo} to {hi}"
        )

    def check(self, value: Any, path: KeyPath, c: Checker) -> Any:
        """Integers only (not true/false, not "512px"), in range, a multiple when asked."""
        if isinstance(value, bool) or not isinstance(value, int):
            hint = ""
            if isinstance(value, str):
                text = value.strip()
                if self.hex and re.fullmatch(r"(0[xX])?[0-9a-fA-F]{1,4}", text):
                    hint = f"write it without quotes as 0x{int(text, 16):04x} (a YAML hex number)"
                elif m := re.match(r"[+-]?\d+", text):
                    hint = f"write the number alone, e.g. {m.group(0)}"
            elif isinstance(value, float) and value.is_integer():
                hint = f"write {int(value)}"
            return self.fail(value, path, c, hint)
        if not self.lo <= value <= self.hi:
            shown = f"0x{value:04x}" if self.hex and value >= 0 else str(value)
            c.add(path, f"expected {self.what}, got {shown}")
        elif self.multiple_of and value % self.multiple_of:
            below = value - value % self.multiple_of
            c.add(
                path,
                f"expected a multiple of {self.multiple_of}, got {value}; use {below} or {below + self.multiple_of}",
            )
        return value


class OneOf(Node):
    """One of a few fixed numbers (data bits, DLE EOT n, yen denominations)."""

    def __init__(self, *values: int, what: str | None = None) -> None:
        self.values = values
        self.what = what or "one of " + ", ".join(map(str, values))

    def check(self, value: Any, path: KeyPath, c: Checker) -> Any:
        """Exactly one of the values (true is not 1)."""
        if isinstance(value, bool) or value not in self.values:
            return self.fail(value, path, c)
        return value


class Float(Node):
    """A number (integer or decimal) in ``lo..hi``."""

    def __init__(self, lo: float, hi: float) -> None:
        self.lo, self.hi = lo, hi
        self.what = f"a number from {lo:g} to {hi:g}"

    def check(self, value: Any, path: KeyPath, c: Checker) -> Any:
        """Numbers only, in range."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not self.lo <= value <= self.hi:
            hint = "write the number alone" if isinstance(value, str) and re.match(r"\s*\d", value) else ""
            return self.fail(value, path, c, hint)
        return value


class Bool(Node):
    """true or false."""

    what = "true or false"

    def check(self, value: Any, path: KeyPath, c: Checker) -> Any:
        """Booleans only; a quoted "true" gets the fix."""
        if not isinstance(value, bool):
            hint = "write it without quotes" if isinstance(value, str) and value.lower() in ("true", "false") else ""
            return self.fail(value, path, c, hint)
        return value


class Str(Node):
    """A string: non-empty unless ``empty``, one of ``choices``, or matching ``pattern``."""

    def __init__(
        self,
        *,
        choices: Sequence[str] = (),
        pattern: str | None = None,
        what: str | None = None,
        empty: bool = False,
    ) -> None:
        self.choices = tuple(choices)
        self.pattern = re.compile(pattern) if pattern else None
        self.empty = empty
        if what:
            self.what = what
        elif self.choices:
            self.what = "one of " + ", ".join(self.choices)
        else:
            self.what = "a text" if empty else "a non-empty text"

    def check(self, value: Any, path: KeyPath, c: Checker) -> Any:
        """Strings only (a number is not a name), then choices or pattern."""
        if not isinstance(value, str) or (not value and not self.empty):
            hint = f'quote it: "{value}"' if isinstance(value, int | float) and not isinstance(value, bool) else ""
            return self.fail(value, path, c, hint)
        if self.choices and value not in self.choices:
            c.add(path, f"expected {self.what}, got {describe(value)}" + did_you_mean(value, self.choices))
        elif self.pattern and not self.pattern.fullmatch(value):
            self.fail(value, path, c)
        return value


class ListOf(Node):
    """A list of ``item``, at least ``min_len`` long; ``unique`` forbids repeats."""

    def __init__(self, item: Node, *, min_len: int = 0, unique: bool = False, what: str | None = None) -> None:
        self.item, self.min_len, self.unique = item, min_len, unique
        self.what = what or f"a list of {item.what}"

    def check(self, value: Any, path: KeyPath, c: Checker) -> Any:
        """Each item checked at ``path[i]``."""
        if not isinstance(value, list):
            hint = (
                f"write it as a list: [{value}]" if isinstance(value, int | str) and not isinstance(value, bool) else ""
            )
            return self.fail(value, path, c, hint)
        if len(value) < self.min_len:
            c.add(path, f"expected at least {self.min_len} item{'s' if self.min_len > 1 else ''}, got {len(value)}")
        out = [self.item.check(item, (*path, i), c) for i, item in enumerate(value)]
        if self.unique:
            seen: list[Any] = []
            for i, item in enumerate(value):
                if item in seen:
                    c.add((*path, i), f"{describe(item)} is listed twice; remove one")
                seen.append(item)
        return out


class Either(Node):
    """The first of ``nodes`` the value passes (a model key or a list of them)."""

    def __init__(self, *nodes: Node) -> None:
        self.nodes = nodes
        self.what = " or ".join(n.what for n in nodes)

    def check(self, value: Any, path: KeyPath, c: Checker) -> Any:
        """Try each node silently; report with the combined expectation if none fits."""
        for node in self.nodes:
            trial = Checker(partial=c.partial)
            out = node.check(value, path, trial)
            if not trial.problems:
                return out
        return self.fail(value, path, c)


@dataclass(frozen=True)
class Field:
    """One key of a :class:`Map`: its node, whether it is required, its default, and the help
    a technician reads when it is missing."""

    node: Node
    required: bool = False
    default: Any = _MISSING
    help: str = ""


class Map(Node):
    """A mapping with known keys. Unknown keys are rejected with a "did you mean".

    In a full check an absent optional key takes its default; an absent optional *mapping*
    whose keys are all optional is filled with its own defaults (so ``raster.fragment_height``
    exists even when a profile never mentions ``raster``)."""

    def __init__(self, fields: Mapping[str, Field], *, what: str | None = None, also_known: Sequence[str] = ()) -> None:
        self.fields = dict(fields)
        self.also_known = tuple(also_known)
        self.what = what or "a mapping with " + ", ".join(self.fields)

    @property
    def fillable(self) -> bool:
        """True when every key is optional, so an absent mapping can be filled with defaults."""
        return not any(f.required for f in self.fields.values())

    def check(self, value: Any, path: KeyPath, c: Checker) -> Any:
        """Known keys checked, unknown ones reported, then required keys and defaults."""
        if not isinstance(value, Mapping):
            return self.fail(value, path, c)
        out: dict[str, Any] = {}
        allowed = ", ".join(self.fields)
        for key, item in value.items():
            if not isinstance(key, str):
                c.add((*path, str(key)), f"unknown key {describe(key)}; the keys here are names: {allowed}")
                continue
            spec = self.fields.get(key)
            if spec is None:
                hint = did_you_mean(key, [*self.fields, *self.also_known])
                c.add((*path, key), f"unknown key{hint}; allowed here: {allowed}")
                continue
            if item is None and c.partial:
                # An empty value in a file removes what a parent set (the loader merges it away).
                out[key] = None
                continue
            out[key] = spec.node.check(item, (*path, key), c)
        if not c.partial:
            for key, spec in self.fields.items():
                if key in out:
                    continue
                if spec.required:
                    c.add((*path, key), "required" + (f": {spec.help}" if spec.help else ""), missing=True)
                elif spec.default is not _MISSING:
                    out[key] = copy.deepcopy(spec.default)
                elif isinstance(spec.node, Map) and spec.node.fillable:
                    out[key] = spec.node.check({}, (*path, key), c)
        return out


class MapOf(Node):
    """A mapping whose keys are data (ccTalk channel -> yen, slot name -> slot)."""

    def __init__(self, key: Node, value: Node, *, what: str | None = None) -> None:
        self.key, self.value = key, value
        self.what = what or f"a mapping of {key.what} to {value.what}"

    def check(self, value: Any, path: KeyPath, c: Checker) -> Any:
        """Each key and value checked; the path shows the key."""
        if not isinstance(value, Mapping):
            return self.fail(value, path, c)
        out: dict[Any, Any] = {}
        for key, item in value.items():
            where = (*path, str(key))
            key_problems = len(c.problems)
            self.key.check(key, where, c)
            if len(c.problems) > key_problems:
                continue
            out[key] = self.value.check(item, where, c)
        return out


# --------------------------------------------------------------------------------------------
# building blocks shared by the kinds
# --------------------------------------------------------------------------------------------

USB_ID = Int(0, 0xFFFF, hex=True)
NAME = Str(pattern=r"[a-z0-9][a-z0-9_-]*", what='a name in lower case, digits, "-" or "_" (e.g. tm-t20iii)')
YEN_COINS: Final = (1, 5, 10, 50, 100, 500)
YEN_NOTES: Final = (1000, 2000, 5000, 10000)


def _serial_map() -> Map:
    return Map(
        {
            "baudrate": Field(Int(50, 4_000_000), required=True, help="the line speed, e.g. 9600"),
            "data_bits": Field(OneOf(5, 6, 7, 8), default=8),
            "parity": Field(Str(choices=PARITIES), default="none"),
            "stop_bits": Field(OneOf(1, 2), default=1),
            "flow_control": Field(Str(choices=FLOW_CONTROLS), default="none"),
        }
    )


SERIAL_HINT = Map(
    {
        "vid": Field(USB_ID),
        "pid": Field(USB_ID),
        "manufacturer": Field(Str()),
        "product": Field(Str()),
        "description": Field(Str()),
        "by_id": Field(Str(what='a file-name pattern like "*keypad*"')),
        "device": Field(Str(what='a device-name pattern like "/dev/ttyACM*"')),
    },
    what="a mapping with vid, pid, manufacturer, product, description, by_id or device",
)

DETECT = Map(
    {
        "usb": Field(ListOf(Map({"vendor": Field(USB_ID, required=True), "product": Field(USB_ID, required=True)}))),
        "usb_class": Field(Int(0, 255, what="a USB interface class from 0 to 255, e.g. 0x0b (smart card)")),
        "serial": Field(ListOf(SERIAL_HINT)),
    }
)


def _features(names: Sequence[str]) -> Map:
    return Map(
        {name: Field(Bool(), default=False) for name in names},
        what="a mapping of " + ", ".join(names) + " to true or false",
    )


def _common(features: Sequence[str]) -> dict[str, Field]:
    return {
        "name": Field(Str(), required=True, help='the model name as the maker writes it, e.g. "TM-T20III"'),
        "vendor": Field(Str()),
        "notes": Field(Str(empty=True), default=""),
        "sources": Field(ListOf(Str()), default=[]),
        "features": Field(_features(features)),
        "detect": Field(DETECT),
    }


def _get(data: Mapping[str, Any], *path: str) -> Any:
    node: Any = data
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _check_port(data: Mapping[str, Any], driver: str, c: Checker) -> None:
    settings = data.get("serial")
    if isinstance(settings, Mapping):
        for key, message in PORT_REQUIREMENTS[driver].problems(settings):
            c.add(("serial", key), message)


# --------------------------------------------------------------------------------------------
# the kinds
# --------------------------------------------------------------------------------------------

PRINTER_FEATURES: Final = (
    "raster_image",
    "qr_code",
    "barcode",
    "pdf417",
    "full_cut",
    "partial_cut",
    "kanji",
    "drawer_kick",
)

PRINTER = Map(
    {
        **_common(PRINTER_FEATURES),
        "media": Field(
            Map(
                {
                    "width": Field(
                        Map(
                            {
                                "pixels": Field(
                                    Int(200, 1000, multiple_of=8),
                                    required=True,
                                    help="the printable width in dots, e.g. 576",
                                ),
                            }
                        ),
                        required=True,
                        help="pixels: the printable width in dots",
                    ),
                    "dpi": Field(Int(100, 600), required=True, help="dots per inch, e.g. 203"),
                    "paper_mm": Field(OneOf(58, 80, 112), required=True, help="the paper roll width in mm, 58 or 80"),
                }
            ),
            required=True,
            help="width.pixels, dpi and paper_mm",
        ),
        "escpos_profile": Field(Str(), required=True, help='the python-escpos profile name, e.g. "TM-T20II"'),
        "usb": Field(
            Map(
                {
                    "vendor": Field(USB_ID, required=True, help="e.g. 0x04b8"),
                    "product": Field(USB_ID, required=True, help="e.g. 0x0e15"),
                    "other_products": Field(ListOf(USB_ID, unique=True), default=[]),
                }
            )
        ),
        "default_backend": Field(Str(choices=("usb", "serial", "network", "file")), default="usb"),
        "serial": Field(_serial_map()),
        "network": Field(Map({"port": Field(Int(1, 65535), default=9100)})),
        "status": Field(Map({"dle_eot": Field(ListOf(OneOf(1, 2, 3, 4), unique=True), default=[])})),
        "raster": Field(Map({"fragment_height": Field(Int(1, 4095), default=256)})),
        "needs_escpos_emulation": Field(Bool(), default=False),
    },
    also_known=META_KEYS,
)


def _check_printer(data: Mapping[str, Any], c: Checker) -> None:
    pixels, dpi, mm = (
        _get(data, "media", "width", "pixels"),
        _get(data, "media", "dpi"),
        _get(data, "media", "paper_mm"),
    )
    if all(isinstance(v, int) and v > 0 for v in (pixels, dpi, mm)):
        printable = pixels / dpi * 25.4
        if printable > mm:
            c.add(
                ("media", "width", "pixels"),
                f"{pixels} dots at {dpi} dpi is {printable:.1f} mm, wider than the {mm} mm paper; check pixels and dpi",
            )
    _check_port(data, "escpos", c)


DISPLAY = Map(
    {
        **_common(("audio",)),
        "resolution": Field(
            Map(
                {
                    "width": Field(Int(320, 7680), required=True, help="pixels across, as the app sees the screen"),
                    "height": Field(Int(320, 7680), required=True, help="pixels down, as the app sees the screen"),
                }
            ),
            required=True,
            help="width and height in pixels",
        ),
        "orientation": Field(Str(choices=("landscape", "portrait")), required=True, help="landscape or portrait"),
        "diagonal_inch": Field(Float(3, 120)),
        "connector": Field(Str(choices=("hdmi", "dsi", "dpi")), default="hdmi"),
        "touch": Field(
            Map(
                {
                    "type": Field(Str(choices=("none", "capacitive", "resistive", "infrared")), default="none"),
                    "points": Field(Int(0, 40), default=0),
                }
            )
        ),
        "power_control": Field(Str(choices=("none", "vcgencmd", "xset")), default="none"),
    },
    also_known=META_KEYS,
)


def _check_display(data: Mapping[str, Any], c: Checker) -> None:
    width, height = _get(data, "resolution", "width"), _get(data, "resolution", "height")
    orientation = data.get("orientation")
    fits = isinstance(width, int) and isinstance(height, int) and orientation in ("landscape", "portrait")
    if fits and (orientation == "landscape") != (width >= height):
        should = "landscape" if width >= height else "portrait"
        c.add(
            ("orientation",),
            f"{orientation} does not fit a {width}x{height} resolution; set orientation: {should} "
            "(or give the resolution as the app sees the screen)",
        )
    touch_type, points = _get(data, "touch", "type"), _get(data, "touch", "points")
    if touch_type not in (None, "none") and points == 0:
        c.add(("touch", "points"), f"a {touch_type} touch screen senses at least one point; set touch.points, e.g. 10")


CASH = Map(
    {
        **_common(("escrow", "level_sensor")),
        "device": Field(
            Str(choices=("coin_acceptor", "bill_validator", "hopper")),
            required=True,
            help="coin_acceptor, bill_validator or hopper",
        ),
        "protocol": Field(
            Str(choices=("cctalk",)), required=True, help="cctalk (the one cash protocol madoguchi speaks)"
        ),
        "serial": Field(_serial_map(), required=True, help="the port settings, e.g. {baudrate: 9600}"),
        "cctalk": Field(
            Map(
                {
                    "address": Field(
                        Int(2, 255, what="a ccTalk address from 2 to 255 (1 is the host)"),
                        required=True,
                        help="2 for a coin acceptor, 3 and up for hoppers, 40 for a bill validator",
                    ),
                    "checksum": Field(Str(choices=("simple8", "crc16")), default="simple8"),
                }
            )
        ),
        "denominations": Field(
            ListOf(OneOf(*YEN_COINS, *YEN_NOTES, what="a yen coin or note value"), min_len=1, unique=True),
            required=True,
            help="the yen values it takes (a hopper: the one coin it pays out), e.g. [10, 50, 100, 500]",
        ),
        "channels": Field(
            MapOf(Int(1, 255, what="a ccTalk coin or bill id from 1 to 255"), OneOf(*YEN_COINS, *YEN_NOTES))
        ),
    },
    also_known=META_KEYS,
)


def _check_cash(data: Mapping[str, Any], c: Checker) -> None:
    device, values = data.get("device"), data.get("denominations")
    if isinstance(values, list):
        if device == "coin_acceptor":
            bad = [v for v in values if v not in YEN_COINS]
            if bad:
                c.add(
                    ("denominations",),
                    f"a coin acceptor takes coins, got {bad[0]} (a note); move it to a bill validator",
                )
        elif device == "bill_validator":
            bad = [v for v in values if v not in YEN_NOTES]
            if bad:
                c.add(
                    ("denominations",),
                    f"a bill validator takes notes, got {bad[0]} (a coin); move it to a coin acceptor",
                )
        elif device == "hopper" and (len(values) != 1 or values[0] not in YEN_COINS):
            c.add(("denominations",), f"a hopper pays out one coin value, got {values}; give one coin, e.g. [100]")
        channels = data.get("channels")
        if isinstance(channels, Mapping):
            for channel, value in channels.items():
                if value not in values:
                    c.add(
                        ("channels", str(channel)),
                        f"{value} yen is not among denominations {values}; add it there or fix the channel",
                    )
    if _get(data, "cctalk", "checksum") == "crc16":
        c.add(
            ("cctalk", "checksum"),
            "the ccTalk driver (drivers/cctalk.py) speaks the 8-bit checksum only; switch the device to it "
            "and set checksum: simple8",
        )
    if data.get("protocol") == "cctalk":
        if "cctalk" not in data:
            c.add(
                ("cctalk",),
                "required for a ccTalk device: give cctalk.address (2 coin acceptor, 3+ hoppers, 40 bill validator)",
                missing=True,
            )
        _check_port(data, "cctalk", c)


CARD_READER = Map(
    {
        **_common(("contact", "contactless", "pin_pad")),
        "backend": Field(Str(choices=("pcsc", "simulated")), required=True, help="pcsc or simulated"),
        "pcsc": Field(Map({"reader": Field(Str(empty=True), default=""), "eject": Field(Bool(), default=False)})),
    },
    also_known=META_KEYS,
)


def _check_card_reader(data: Mapping[str, Any], c: Checker) -> None:
    if data.get("backend") == "simulated" and data.get("detect"):
        c.add(("detect",), "a simulated reader has no hardware to detect; remove detect")


KEYPAD_KEYS: Final = ("UP", "DOWN", "LEFT", "RIGHT", "OK", "BACK", "HELP", *"0123456789")

KEYPAD = Map(
    {
        **_common(()),
        "serial": Field(_serial_map(), required=True, help="the port settings, e.g. {baudrate: 9600}"),
        "keys": Field(
            ListOf(Str(choices=KEYPAD_KEYS), min_len=1, unique=True),
            required=True,
            help="the keys it has, e.g. [UP, DOWN, LEFT, RIGHT, OK, BACK, HELP]",
        ),
    },
    also_known=META_KEYS,
)


def _check_keypad(data: Mapping[str, Any], c: Checker) -> None:
    keys = data.get("keys")
    if isinstance(keys, list) and not {"UP", "DOWN", "OK"} <= set(keys):
        c.add(("keys",), "a keypad needs at least UP, DOWN and OK to move through the choices; add them")
    _check_port(data, "keypad", c)


LED_PANEL = Map(
    {
        **_common(("brightness",)),
        "serial": Field(_serial_map(), required=True, help="the port settings, e.g. {baudrate: 9600}"),
        "rows": Field(Int(1, 99), required=True, help="how many counters it shows, one per row"),
        "digits": Field(Int(1, 8), default=4),
    },
    also_known=META_KEYS,
)


def _check_led_panel(data: Mapping[str, Any], c: Checker) -> None:
    _check_port(data, "led_panel", c)


DOCUMENT_PRINTER = Map(
    {
        **_common(("duplex", "color")),
        "backend": Field(Str(choices=("cups", "pdf_dir")), required=True, help="cups or pdf_dir"),
        "paper": Field(Str(choices=("A4", "A3", "B5", "B4")), default="A4"),
        "cups": Field(
            Map({"queue": Field(Str(pattern=r"[A-Za-z0-9_.-]+", what="a CUPS queue name"), default="madoguchi")})
        ),
        "dpi": Field(Int(150, 1200), default=300),
    },
    also_known=META_KEYS,
)


def _check_document_printer(data: Mapping[str, Any], c: Checker) -> None:
    pass


# The role templates: which hardware slots a role needs, and what its app reads.

SLOT = Map(
    {
        "kind": Field(Str(choices=()), required=True, help="the kind of model the slot takes, e.g. printers"),
        "required": Field(Bool(), default=False),
        "multiple": Field(Bool(), default=False),
        "default": Field(Either(NAME, ListOf(NAME, min_len=1, unique=True))),
        "needs": Field(ListOf(Str(), unique=True), default=[]),
        "filter": Field(MapOf(Str(), Either(Str(), Int(-(2**31), 2**31), Bool())), default={}),
        "section": Field(
            Str(pattern=r"[a-z_]+(\.[a-z_]+)*", what="a device-configuration section like printer or cash.hoppers")
        ),
        "port_key": Field(Str(pattern=r"[a-z_]+(\.[a-z_]+)+", what="a configuration key like keypad.port")),
        "help": Field(Str(), default=""),
    }
)

APPS: Final = ("madoguchi-dispenser", "madoguchi-board", "madoguchi-kiosk")

ROLE = Map(
    {
        "name": Field(Str(), required=True, help='what the device is, e.g. "Ticket dispenser (発券機)"'),
        "app": Field(Str(choices=APPS), required=True, help="the command the device runs, e.g. madoguchi-dispenser"),
        "notes": Field(Str(empty=True), default=""),
        "slots": Field(
            MapOf(NAME, SLOT, what="a mapping of slot names to slots"), required=True, help="the hardware slots"
        ),
        "settings": Field(MapOf(NAME, MapOf(NAME, Anything())), default={}),
        "sections": Field(
            MapOf(
                NAME, ListOf(NAME, min_len=1, unique=True), what="a mapping of section names to the keys the app reads"
            ),
            required=True,
            help="the device-configuration sections the app reads, with their keys",
        ),
    },
    also_known=META_KEYS,
)


@dataclass(frozen=True)
class KindSpec:
    """One kind of profile: its directory, schema, capability names and cross-field checks.

    A capability is either a ``features`` flag in the profile or derived from its facts
    (``touch`` from ``touch.type``), so code asks ``profile.supports("touch")`` either way."""

    name: str
    singular: str
    schema: Map
    check: Callable[[Mapping[str, Any], Checker], None]
    features: tuple[str, ...] = ()
    derived: Mapping[str, Callable[[Mapping[str, Any]], bool]] = field(default_factory=dict)

    @property
    def capabilities(self) -> tuple[str, ...]:
        """Every name ``supports()`` answers for this kind."""
        return (*self.features, *self.derived)


def _dle_eot(n: int) -> Callable[[Mapping[str, Any]], bool]:
    return lambda d: n in (_get(d, "status", "dle_eot") or [])


KINDS: Mapping[str, KindSpec] = MappingProxyType(
    {
        "printers": KindSpec(
            "printers",
            "printer",
            PRINTER,
            _check_printer,
            PRINTER_FEATURES,
            {
                "real_time_status": lambda d: bool(_get(d, "status", "dle_eot")),
                "cover_sensor": _dle_eot(2),
                "paper_sensor": _dle_eot(4),
            },
        ),
        "displays": KindSpec(
            "displays",
            "display",
            DISPLAY,
            _check_display,
            ("audio",),
            {
                "touch": lambda d: _get(d, "touch", "type") not in (None, "none"),
                "multitouch": lambda d: (
                    _get(d, "touch", "type") not in (None, "none") and (_get(d, "touch", "points") or 0) > 1
                ),
                "power_control": lambda d: d.get("power_control", "none") != "none",
            },
        ),
        "cash": KindSpec("cash", "cash device", CASH, _check_cash, ("escrow", "level_sensor")),
        "card_readers": KindSpec(
            "card_readers",
            "card reader",
            CARD_READER,
            _check_card_reader,
            ("contact", "contactless", "pin_pad"),
            {"simulated": lambda d: d.get("backend") == "simulated"},
        ),
        "keypads": KindSpec(
            "keypads",
            "keypad",
            KEYPAD,
            _check_keypad,
            (),
            {
                "digits": lambda d: set("0123456789") <= set(d.get("keys") or ()),
                "help_key": lambda d: "HELP" in (d.get("keys") or ()),
            },
        ),
        "led_panels": KindSpec("led_panels", "LED panel", LED_PANEL, _check_led_panel, ("brightness",)),
        "document_printers": KindSpec(
            "document_printers",
            "document printer",
            DOCUMENT_PRINTER,
            _check_document_printer,
            ("duplex", "color"),
            {"simulated": lambda d: d.get("backend") == "pdf_dir"},
        ),
    }
)
"""Every kind of hardware model, by its directory name under ``models/``."""

# A slot's kind is one of the kinds above (set here so the list has one source).
SLOT.fields["kind"] = Field(
    Str(choices=tuple(KINDS)), required=True, help="the kind of model the slot takes, e.g. printers"
)
