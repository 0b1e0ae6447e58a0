"""Every kind of hardware profile and the role templates, as typed msgspec models.

One frozen model per kind (:class:`PrinterProfile`, :class:`DisplayProfile`, :class:`CashProfile`,
:class:`CardReaderProfile`, :class:`KeypadProfile`, :class:`LedPanelProfile`,
:class:`DocumentPrinterProfile`) and one for a role (:class:`RoleTemplate`). A field's type
carries its limits and its words (``info(help=…)`` is said when a required key is missing);
defaults live only here. A merged profile is converted into its model through
:func:`common.validation.convert`, whose errors name the key path and the fix; what one value
cannot say alone (printable width against paper, orientation against resolution, a coin
acceptor takes coins) is a plain function per kind, run after conversion, yielding
:class:`~common.validation.Invalid` with the key path (:data:`KINDS`).

What a profile's serial settings must be is the drivers' business: ports.py checks them
against each driver's own declaration. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal, get_args

import msgspec

from common.validation import Invalid, PathPart, describe, did_you_mean, info
from drivers.serial_line import DataBits, FlowControl, Parity, StopBits

SCHEMA_VERSION: Final = 1
"""The profile format this code reads (every file says ``schema_version: 1``)."""

META_KEYS: Final = ("schema_version", "inherits", "abstract")
"""Keys about the file rather than the device: read by the loader, never inherited."""

YEN_COINS: Final = (1, 5, 10, 50, 100, 500)
YEN_NOTES: Final = (1000, 2000, 5000, 10000)
APPS: Final = ("madoguchi-dispenser", "madoguchi-board", "madoguchi-kiosk")

UsbId = Annotated[int, info(ge=0, le=0xFFFF, hex=True)]
Text = Annotated[str, info(min_length=1)]
Name = Annotated[
    str, info(pattern=r"^[a-z0-9][a-z0-9_-]*$", what='a name in lower case, digits, "-" or "_" (e.g. tm-t20iii)')
]
Yen = Annotated[Literal[1, 5, 10, 50, 100, 500, 1000, 2000, 5000, 10000], info(what="a yen coin or note value")]
KeypadKey = Literal[
    "UP", "DOWN", "LEFT", "RIGHT", "OK", "BACK", "HELP", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"
]
KEYPAD_KEYS: Final[tuple[str, ...]] = get_args(KeypadKey)


class _Model(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A mapping of a profile file: unknown keys are refused with a "did you mean"."""


# --------------------------------------------------------------------------------------------
# shared parts
# --------------------------------------------------------------------------------------------


class SerialSettings(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the device's serial port is set; checked against its driver's declaration (ports.py)."""

    baudrate: Annotated[int, info(ge=50, le=4_000_000, help="the line speed, e.g. 9600")]
    data_bits: DataBits = 8
    parity: Parity = "none"
    stop_bits: StopBits = 1
    flow_control: FlowControl = "none"


class UsbRule(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A USB id that suggests the model (detection only)."""

    vendor: UsbId
    product: UsbId


class SerialHint(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a serial port of the model looks like (every given hint must match)."""

    # UNSET rather than None: a hex id's messages need its type alone, not in a union.
    vid: UsbId | msgspec.UnsetType = msgspec.UNSET
    pid: UsbId | msgspec.UnsetType = msgspec.UNSET
    manufacturer: Text | None = None
    product: Text | None = None
    description: Text | None = None
    by_id: Annotated[str, info(min_length=1, what='a file-name pattern like "*keypad*"')] | None = None
    device: Annotated[str, info(min_length=1, what='a device-name pattern like "/dev/ttyACM*"')] | None = None


class Detect(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How ``madoguchi-provision detect`` recognises the model."""

    usb: tuple[UsbRule, ...] = ()
    usb_class: (
        Annotated[int, info(ge=0, le=255, what="a USB interface class from 0 to 255, e.g. 0x0b (smart card)")] | None
    ) = None
    serial: tuple[SerialHint, ...] = ()

    @property
    def given(self) -> bool:
        """Whether the profile says anything about detection."""
        return bool(self.usb or self.usb_class is not None or self.serial)


class _Kind(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What every hardware model says: its name, maker, notes, sources and how it is detected."""

    name: Annotated[str, info(min_length=1, help='the model name as the maker writes it, e.g. "TM-T20III"')]
    vendor: Text | None = None
    notes: str = ""
    sources: tuple[Text, ...] = ()
    detect: Detect = Detect()


# --------------------------------------------------------------------------------------------
# printers
# --------------------------------------------------------------------------------------------


class PrinterFeatures(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a receipt printer can do (escpos-printer-db's capabilities)."""

    raster_image: bool = False
    qr_code: bool = False
    barcode: bool = False
    pdf417: bool = False
    full_cut: bool = False
    partial_cut: bool = False
    kanji: bool = False
    drawer_kick: bool = False


class PrinterWidth(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The printable width."""

    pixels: Annotated[int, info(ge=200, le=1000, multiple_of=8, help="the printable width in dots, e.g. 576")]


class PrinterMedia(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The paper and what the head prints on it."""

    width: Annotated[PrinterWidth, info(help="pixels: the printable width in dots")]
    dpi: Annotated[int, info(ge=100, le=600, help="dots per inch, e.g. 203")]
    paper_mm: Annotated[Literal[58, 80, 112], info(help="the paper roll width in mm, 58 or 80")]


class PrinterUsb(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The model's USB id (and the other ids it reports in other modes)."""

    vendor: Annotated[UsbId, info(help="e.g. 0x04b8")]
    product: Annotated[UsbId, info(help="e.g. 0x0e15")]
    other_products: tuple[UsbId, ...] = ()


class PrinterNetwork(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The raw TCP port of a network printer."""

    port: Annotated[int, info(ge=1, le=65535)] = 9100


class PrinterStatusQueries(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The real-time status queries the model answers."""

    dle_eot: tuple[Literal[1, 2, 3, 4], ...] = ()


class PrinterRaster(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How raster images are sent."""

    fragment_height: Annotated[int, info(ge=1, le=4095)] = 256


class PrinterProfile(_Kind, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A ticket or receipt printer (ESC/POS)."""

    features: PrinterFeatures = PrinterFeatures()
    media: Annotated[PrinterMedia, info(help="width.pixels, dpi and paper_mm")]
    escpos_profile: Annotated[str, info(min_length=1, help='the python-escpos profile name, e.g. "TM-T20II"')]
    usb: PrinterUsb | None = None
    default_backend: Literal["usb", "serial", "network", "file"] = "usb"
    serial: SerialSettings | None = None
    network: PrinterNetwork = PrinterNetwork()
    status: PrinterStatusQueries = PrinterStatusQueries()
    raster: PrinterRaster = PrinterRaster()
    needs_escpos_emulation: bool = False


def check_printer(p: PrinterProfile) -> Iterator[Invalid]:
    """The printable width fits the paper; ids and queries are listed once."""
    pixels, dpi, mm = p.media.width.pixels, p.media.dpi, p.media.paper_mm
    printable = pixels / dpi * 25.4
    if printable > mm:
        yield Invalid(
            ("media", "width", "pixels"),
            f"{pixels} dots at {dpi} dpi is {printable:.1f} mm, wider than the {mm} mm paper; check pixels and dpi",
        )
    if p.usb is not None:
        yield from _unique(("usb", "other_products"), p.usb.other_products)
    yield from _unique(("status", "dle_eot"), p.status.dle_eot)


# --------------------------------------------------------------------------------------------
# displays
# --------------------------------------------------------------------------------------------


class DisplayFeatures(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a screen has besides pixels."""

    audio: bool = False


class Resolution(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The screen size as the app sees it."""

    width: Annotated[int, info(ge=320, le=7680, help="pixels across, as the app sees the screen")]
    height: Annotated[int, info(ge=320, le=7680, help="pixels down, as the app sees the screen")]


class Touch(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The touch panel, if any."""

    type: Literal["none", "capacitive", "resistive", "infrared"] = "none"
    points: Annotated[int, info(ge=0, le=40)] = 0


class DisplayProfile(_Kind, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A screen (with or without touch)."""

    features: DisplayFeatures = DisplayFeatures()
    resolution: Annotated[Resolution, info(help="width and height in pixels")]
    orientation: Annotated[Literal["landscape", "portrait"], info(help="landscape or portrait")]
    diagonal_inch: Annotated[float, info(ge=3, le=120)] | None = None
    connector: Literal["hdmi", "dsi", "dpi"] = "hdmi"
    touch: Touch = Touch()
    power_control: Literal["none", "vcgencmd", "xset"] = "none"


def check_display(d: DisplayProfile) -> Iterator[Invalid]:
    """The orientation fits the resolution; a touch screen senses at least one point."""
    width, height = d.resolution.width, d.resolution.height
    if (d.orientation == "landscape") != (width >= height):
        should = "landscape" if width >= height else "portrait"
        yield Invalid(
            ("orientation",),
            f"{d.orientation} does not fit a {width}x{height} resolution; set orientation: {should} "
            "(or give the resolution as the app sees the screen)",
        )
    if d.touch.type != "none" and d.touch.points == 0:
        yield Invalid(
            ("touch", "points"),
            f"a {d.touch.type} touch screen senses at least one point; set touch.points, e.g. 10",
        )


# --------------------------------------------------------------------------------------------
# cash devices
# --------------------------------------------------------------------------------------------


class CashFeatures(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a cash device can do besides taking or paying money."""

    escrow: bool = False
    level_sensor: bool = False


class CcTalkSettings(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The device's place on the ccTalk bus."""

    address: Annotated[
        int,
        info(
            ge=2,
            le=255,
            what="a ccTalk address from 2 to 255 (1 is the host)",
            help="2 for a coin acceptor, 3 and up for hoppers, 40 for a bill validator",
        ),
    ]
    checksum: Literal["simple8", "crc16"] = "simple8"


ChannelId = Annotated[int, info(ge=1, le=255, what="a ccTalk coin or bill id from 1 to 255")]


class CashProfile(_Kind, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A coin acceptor, bill validator or coin hopper."""

    features: CashFeatures = CashFeatures()
    device: Annotated[
        Literal["coin_acceptor", "bill_validator", "hopper"], info(help="coin_acceptor, bill_validator or hopper")
    ]
    protocol: Annotated[Literal["cctalk"], info(help="cctalk (the one cash protocol madoguchi speaks)")]
    serial: Annotated[SerialSettings, info(help="the port settings, e.g. {baudrate: 9600}")]
    cctalk: CcTalkSettings | None = None
    denominations: Annotated[
        tuple[Yen, ...],
        info(
            min_length=1,
            help="the yen values it takes (a hopper: the one coin it pays out), e.g. [10, 50, 100, 500]",
        ),
    ]
    channels: dict[ChannelId, Yen] = {}


def check_cash(c: CashProfile) -> Iterator[Invalid]:
    """Coins for a coin acceptor, notes for a bill validator, one coin for a hopper; channels
    among the denominations; the checksum the driver speaks; a ccTalk address."""
    values = list(c.denominations)
    yield from _unique(("denominations",), values)
    if c.device == "coin_acceptor":
        notes = [v for v in values if v not in YEN_COINS]
        if notes:
            yield Invalid(
                ("denominations",),
                f"a coin acceptor takes coins, got {notes[0]} (a note); move it to a bill validator",
            )
    elif c.device == "bill_validator":
        coins = [v for v in values if v not in YEN_NOTES]
        if coins:
            yield Invalid(
                ("denominations",),
                f"a bill validator takes notes, got {coins[0]} (a coin); move it to a coin acceptor",
            )
    elif len(values) != 1 or values[0] not in YEN_COINS:
        yield Invalid(("denominations",), f"a hopper pays out one coin value, got {values}; give one coin, e.g. [100]")
    for channel, value in c.channels.items():
        if value not in values:
            yield Invalid(
                ("channels", str(channel)),
                f"{value} yen is not among denominations {values}; add it there or fix the channel",
            )
    if c.cctalk is None:
        yield Invalid(
            ("cctalk",),
            "required for a ccTalk device: give cctalk.address (2 coin acceptor, 3+ hoppers, 40 bill validator)",
            missing=True,
        )
    elif c.cctalk.checksum == "crc16":
        yield Invalid(
            ("cctalk", "checksum"),
            "the ccTalk driver (drivers/cctalk.py) speaks the 8-bit checksum only; switch the device to it "
            "and set checksum: simple8",
        )


# --------------------------------------------------------------------------------------------
# card readers, keypads, LED panels, document printers
# --------------------------------------------------------------------------------------------


class CardReaderFeatures(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The card interfaces and a PIN pad."""

    contact: bool = False
    contactless: bool = False
    pin_pad: bool = False


class PcscSettings(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which PC/SC reader, and whether it pushes the card out."""

    reader: str = ""
    eject: bool = False


class CardReaderProfile(_Kind, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A My Number card reader."""

    features: CardReaderFeatures = CardReaderFeatures()
    backend: Annotated[Literal["pcsc", "simulated"], info(help="pcsc or simulated")]
    pcsc: PcscSettings = PcscSettings()


def check_card_reader(r: CardReaderProfile) -> Iterator[Invalid]:
    """A simulated reader has nothing to detect."""
    if r.backend == "simulated" and r.detect.given:
        yield Invalid(("detect",), "a simulated reader has no hardware to detect; remove detect")


class NoFeatures(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A kind without feature flags (its capabilities are derived from its facts)."""


class KeypadProfile(_Kind, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The tactile keypad (docs/keypad-protocol.md)."""

    features: NoFeatures = NoFeatures()
    serial: Annotated[SerialSettings, info(help="the port settings, e.g. {baudrate: 9600}")]
    keys: Annotated[
        tuple[KeypadKey, ...], info(min_length=1, help="the keys it has, e.g. [UP, DOWN, LEFT, RIGHT, OK, BACK, HELP]")
    ]


def check_keypad(k: KeypadProfile) -> Iterator[Invalid]:
    """Enough keys to move through the choices, each listed once."""
    yield from _unique(("keys",), k.keys)
    if not {"UP", "DOWN", "OK"} <= set(k.keys):
        yield Invalid(("keys",), "a keypad needs at least UP, DOWN and OK to move through the choices; add them")


class LedPanelFeatures(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the panel can do besides showing numbers."""

    brightness: bool = False


class LedPanelProfile(_Kind, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The "now serving" panel (docs/led-panel-protocol.md)."""

    features: LedPanelFeatures = LedPanelFeatures()
    serial: Annotated[SerialSettings, info(help="the port settings, e.g. {baudrate: 9600}")]
    rows: Annotated[int, info(ge=1, le=99, help="how many counters it shows, one per row")]
    digits: Annotated[int, info(ge=1, le=8)] = 4


class DocumentPrinterFeatures(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the A4 printer can do."""

    duplex: bool = False
    color: bool = False


class CupsSettings(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The CUPS queue certificates go to."""

    queue: Annotated[str, info(pattern=r"^[A-Za-z0-9_.-]+$", what="a CUPS queue name")] = "madoguchi"


class DocumentPrinterProfile(_Kind, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The kiosk's A4 certificate printer."""

    features: DocumentPrinterFeatures = DocumentPrinterFeatures()
    backend: Annotated[Literal["cups", "pdf_dir"], info(help="cups or pdf_dir")]
    paper: Literal["A4", "A3", "B5", "B4"] = "A4"
    cups: CupsSettings = CupsSettings()
    dpi: Annotated[int, info(ge=150, le=1200)] = 300


def _no_checks(_profile: Any) -> Iterator[Invalid]:
    return iter(())


KindModel = (
    PrinterProfile
    | DisplayProfile
    | CashProfile
    | CardReaderProfile
    | KeypadProfile
    | LedPanelProfile
    | DocumentPrinterProfile
)


# --------------------------------------------------------------------------------------------
# the kinds
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KindSpec:
    """One kind of profile: its directory, model, cross-field checks and capability names.

    A capability is either a ``features`` flag in the profile or derived from its facts
    (``touch`` from ``touch.type``), so code asks ``profile.supports("touch")`` either way."""

    name: str
    singular: str
    model: type[KindModel]
    check: Callable[[Any], Iterator[Invalid]]
    derived: Mapping[str, Callable[[Any], bool]] = field(default_factory=dict)

    @property
    def features(self) -> tuple[str, ...]:
        """The feature flags of this kind (the fields of its ``features`` model)."""
        features_type = next(f.type for f in msgspec.structs.fields(self.model) if f.name == "features")
        return tuple(f.name for f in msgspec.structs.fields(features_type))

    @property
    def capabilities(self) -> tuple[str, ...]:
        """Every name ``supports()`` answers for this kind."""
        return (*self.features, *self.derived)

    @property
    def facts(self) -> tuple[str, ...]:
        """The top-level keys of a profile of this kind (what a role's slot may filter on)."""
        return tuple(f.encode_name for f in msgspec.structs.fields(self.model))


def _dle_eot(n: int) -> Callable[[PrinterProfile], bool]:
    return lambda p: n in p.status.dle_eot


def _touch(d: DisplayProfile) -> bool:
    return d.touch.type != "none"


KINDS: Mapping[str, KindSpec] = MappingProxyType(
    {
        "printers": KindSpec(
            "printers",
            "printer",
            PrinterProfile,
            check_printer,
            {
                "real_time_status": lambda p: bool(p.status.dle_eot),
                "cover_sensor": _dle_eot(2),
                "paper_sensor": _dle_eot(4),
            },
        ),
        "displays": KindSpec(
            "displays",
            "display",
            DisplayProfile,
            check_display,
            {
                "touch": _touch,
                "multitouch": lambda d: _touch(d) and d.touch.points > 1,
                "power_control": lambda d: d.power_control != "none",
            },
        ),
        "cash": KindSpec("cash", "cash device", CashProfile, check_cash),
        "card_readers": KindSpec(
            "card_readers",
            "card reader",
            CardReaderProfile,
            check_card_reader,
            {"simulated": lambda r: r.backend == "simulated"},
        ),
        "keypads": KindSpec(
            "keypads",
            "keypad",
            KeypadProfile,
            check_keypad,
            {
                "digits": lambda k: set("0123456789") <= set(k.keys),
                "help_key": lambda k: "HELP" in k.keys,
            },
        ),
        "led_panels": KindSpec("led_panels", "LED panel", LedPanelProfile, _no_checks),
        "document_printers": KindSpec(
            "document_printers",
            "document printer",
            DocumentPrinterProfile,
            _no_checks,
            {"simulated": lambda d: d.backend == "pdf_dir"},
        ),
    }
)
"""Every kind of hardware model, by its directory name under ``models/``."""

KindName = Literal["printers", "displays", "cash", "card_readers", "keypads", "led_panels", "document_printers"]


# --------------------------------------------------------------------------------------------
# role templates
# --------------------------------------------------------------------------------------------

Section = Annotated[
    str,
    info(pattern=r"^[a-z_]+(\.[a-z_]+)*$", what="a device-configuration section like printer or cash.hoppers"),
]
ConfigKey = Annotated[str, info(pattern=r"^[a-z_]+(\.[a-z_]+)+$", what="a configuration key like keypad.port")]
NameList = Annotated[tuple[Name, ...], info(min_length=1, what="a list of names, e.g. [width, height]")]


class SlotTemplate(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A hardware slot of a role: which kind fills it, whether it must, its default model(s),
    what the model must support, and where its settings go in the device configuration."""

    kind: Annotated[KindName, info(help="the kind of model the slot takes, e.g. printers")]
    required: bool = False
    multiple: bool = False
    default: Name | NameList | None = None
    needs: tuple[Text, ...] = ()
    filter: dict[Text, str | Annotated[int, info(ge=-(2**31), le=2**31)] | bool] = {}
    section: Section | None = None
    port_key: ConfigKey | None = None
    help: str = ""


class RoleTemplate(_Model, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A role: the app a device runs, its hardware slots, the app settings it starts from, and
    the configuration sections (with their keys) the app reads."""

    name: Annotated[str, info(min_length=1, help='what the device is, e.g. "Ticket dispenser (発券機)"')]
    app: Annotated[
        Literal["madoguchi-dispenser", "madoguchi-board", "madoguchi-kiosk"],
        info(help="the command the device runs, e.g. madoguchi-dispenser"),
    ]
    notes: str = ""
    slots: Annotated[dict[Name, SlotTemplate], info(help="the hardware slots")]
    settings: dict[Name, dict[Name, Any]] = {}
    sections: Annotated[
        dict[Name, NameList], info(help="the device-configuration sections the app reads, with their keys")
    ]


def check_role(role: RoleTemplate) -> Iterator[Invalid]:
    """Slots name sections and keys the app reads, capabilities and facts their kind has;
    settings are for keys the app reads."""
    sections = role.sections
    for name, keys in sections.items():
        yield from _unique(("sections", name), keys)
    for name, slot in role.slots.items():
        spec = KINDS[slot.kind]
        yield from _unique(("slots", name, "needs"), slot.needs)
        section = slot.section or name
        head, _, rest = section.partition(".")
        if head not in sections:
            yield Invalid(
                ("slots", name, "section"), f"{head} is not among sections ({', '.join(sections)}); add it there"
            )
        elif rest and rest.split(".")[0] not in sections[head]:
            yield Invalid(
                ("slots", name, "section"), f"{rest.split('.')[0]} is not a key of sections.{head}; add it there"
            )
        if slot.port_key:
            port_head, _, port_rest = slot.port_key.partition(".")
            if port_head not in sections or port_rest.split(".")[0] not in sections[port_head]:
                yield Invalid(("slots", name, "port_key"), f"{slot.port_key} is not a key the app reads (see sections)")
        default = slot.default
        if default is not None:
            if slot.multiple != isinstance(default, tuple):
                want = "a list of model keys" if slot.multiple else "one model key"
                yield Invalid(
                    ("slots", name, "default"),
                    f"expected {want} (multiple: {str(slot.multiple).lower()}), got {describe(default)}",
                )
            elif isinstance(default, tuple):
                yield from _unique(("slots", name, "default"), default)
        for i, need in enumerate(slot.needs):
            if need not in spec.capabilities:
                yield Invalid(
                    ("slots", name, "needs", i),
                    f"unknown capability {need!r} for {slot.kind}{did_you_mean(need, spec.capabilities)}; "
                    f"known: {', '.join(spec.capabilities)}",
                )
        for key in slot.filter:
            if key not in spec.facts:
                yield Invalid(
                    ("slots", name, "filter", key),
                    f"{slot.kind} have no fact {key!r}{did_you_mean(key, spec.facts)}",
                )
    for section_name, values in role.settings.items():
        if section_name not in sections:
            yield Invalid(
                ("settings", section_name), f"not among sections ({', '.join(sections)}); add it there or remove it"
            )
            continue
        for key in values:
            if key not in sections[section_name]:
                yield Invalid(
                    ("settings", section_name, key),
                    f"the app does not read {section_name}.{key}{did_you_mean(key, sections[section_name])}; "
                    f"sections.{section_name} lists {', '.join(sections[section_name])}",
                )


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _unique(path: Sequence[PathPart], items: Iterable[object]) -> Iterator[Invalid]:
    """``<item> is listed twice; remove one`` at the repeat's index."""
    seen: list[object] = []
    for i, item in enumerate(items):
        if item in seen:
            yield Invalid((*path, i), f"{describe(item)} is listed twice; remove one")
        seen.append(item)
