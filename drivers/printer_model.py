"""What the ESC/POS ticket printer driver declares, apart from its code: the facts it needs of a
printer model (:class:`PrinterModel`), what it needs of a serial port (:data:`SERIAL_LINE`) and
its ``[printer]`` configuration section (:class:`PrinterConfig`).

The driver knows no model by name. The facts come from the model's hardware profile
(firmware_profiles/models/printers/<key>.yaml): provisioning writes them into the device
configuration as ``[printer.facts]``, and an app whose configuration names only the model reads
them from the packaged catalog (``firmware_profiles.printers``). Code asks the facts
(``model.width_px``, ``model.status_queries``), never ``if model.name == "TM-T88V"``.

Kept apart from drivers/escpos_printer.py, which imports python-escpos, so that provisioning and
the apps' configuration loaders read these cheaply. Pure: msgspec and the validation helper only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Final, Literal

import msgspec

from common.validation import Invalid, convert, describe, info
from drivers.serial_line import FlowControl, SerialLine
from drivers.ticket_printer import PrinterError

SERIAL_LINE = SerialLine(
    "the ESC/POS printer driver (drivers/escpos_printer.py)",
    (9600, 19200, 38400, 57600, 115200),
    serves=("printers",),
    # 38400 is Epson's usual factory speed.
    baudrate=38400,
    # python-escpos's default is DTR/DSR, as Epson's serial interface is. Linux cannot do DSR flow
    # control in the kernel (pyserial only leaves DTR alone); at 38400 baud a printer drains the
    # line faster than it fills, so tickets do not overflow it either way.
    flow_controls=("dsrdtr", "rtscts", "xonxoff", "none"),
)
"""What the ESC/POS driver's serial backend works with. Provisioning checks printer profiles and
``printer.serial`` settings against it; the serial backend opens its port with it."""

BACKENDS: Final = ("usb", "serial", "network", "file", "fake")
Backend = Literal["usb", "serial", "network", "file", "fake"]
DEFAULT_USB_TIMEOUT_MS: Final = 5000  # libusb's 0 means "forever": a stalled printer would hang the app
DEFAULT_STATUS_TIMEOUT_MS: Final = 500

UsbId = Annotated[int, info(ge=0, le=0xFFFF, hex=True)]
DleEot = Annotated[Literal[1, 2, 3, 4], info(what="a DLE EOT query number: 1, 2, 3 or 4")]
StatusTimeout = Annotated[int, info(ge=1, le=60_000, what="a timeout in ms, e.g. 500")]


class PrinterConfigError(PrinterError, ValueError):
    """A printer configuration that cannot work; the message names the key and the fix."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class _Table(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    noun: ClassVar[str] = "table"


class PrinterModel(_Table, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One printer model: what the raster renderer, the status reader and the transports need.

    ``width_px`` is the printable width in dots (the raster is never wider) at ``dpi``;
    ``paper_mm`` the roll it belongs to; ``escpos_profile`` the python-escpos profile name handed
    to its transports; ``cutter`` whether it cuts (a full or partial cut; tickets end with a
    feed-to-cutter command either way); ``status_queries`` the ``DLE EOT n`` it answers (none:
    assumed ready); ``fragment_height`` the most raster rows sent in one ``GS v 0`` command (big
    fragments garble some printers: python-escpos issues #367, #424, #631); ``usb_vendor`` and
    ``usb_product`` the id the USB backend opens unless ``printer.usb`` says otherwise.
    """

    name: Annotated[str, info(min_length=1, what='the model\'s name, e.g. "TM-T20III"')]
    width_px: Annotated[
        int, info(ge=8, le=4096, multiple_of=8, what="the printable width in dots, a multiple of 8, e.g. 576")
    ]
    dpi: Annotated[int, info(ge=100, le=600, what="dots per inch from 100 to 600, e.g. 203")]
    paper_mm: Annotated[int, info(ge=40, le=120, what="the paper roll's width in mm, e.g. 80")]
    escpos_profile: Annotated[str, info(min_length=1, what='a python-escpos profile name, e.g. "TM-T20II"')]
    cutter: bool = True
    status_queries: tuple[DleEot, ...] = ()
    # GS v 0 carries the height in two bytes, and printers accept at most 4095 rows.
    fragment_height: Annotated[int, info(ge=1, le=4095, what="raster rows per GS v 0 command, 1 to 4095")] = 256
    usb_vendor: UsbId | None = None
    usb_product: UsbId | None = None


class UsbSettings(_Table, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[printer.usb]``: the id (the model's unless given), timeouts and endpoints."""

    # UNSET rather than None: a hex id's messages need its type alone, not in a union.
    vendor: UsbId | msgspec.UnsetType = msgspec.UNSET
    product: UsbId | msgspec.UnsetType = msgspec.UNSET
    timeout_ms: Annotated[
        int, info(ge=1, le=600_000, what="a write timeout in ms > 0 (0 would block forever), e.g. 5000")
    ] = DEFAULT_USB_TIMEOUT_MS
    status_timeout_ms: StatusTimeout = DEFAULT_STATUS_TIMEOUT_MS
    in_ep: Annotated[int, info(ge=0x80, le=0x8F, what="an IN endpoint address like 0x82")] = 0x82
    out_ep: Annotated[int, info(ge=0x00, le=0x0F, what="an OUT endpoint address like 0x01")] = 0x01


class SerialSettings(_Table, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[printer.serial]``: the port and its line (checked against :data:`SERIAL_LINE`)."""

    port: Annotated[str, info(min_length=1, what="a serial device like /dev/ttyUSB0")] | None = None
    baudrate: Annotated[int, info(ge=1, what="a baud rate, e.g. 38400")] = SERIAL_LINE.baudrate
    flow_control: FlowControl = SERIAL_LINE.flow_control
    status_timeout_ms: StatusTimeout = DEFAULT_STATUS_TIMEOUT_MS
    write_timeout_s: Annotated[int, info(ge=1, le=600, what="a write timeout in seconds, e.g. 10")] = 10


class NetworkSettings(_Table, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[printer.network]``: a printer on the LAN (raw TCP, port 9100)."""

    host: Annotated[str, info(min_length=1, what="the printer's address, e.g. 192.168.1.50")] | None = None
    port: Annotated[int, info(ge=1, le=65535, what="a TCP port from 1 to 65535, e.g. 9100")] = 9100
    timeout_s: Annotated[int, info(ge=1, le=600, what="a timeout in seconds, e.g. 10")] = 10
    status_timeout_ms: StatusTimeout = DEFAULT_STATUS_TIMEOUT_MS


class FileSettings(_Table, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[printer.file]``: a file or device file the job bytes are written to."""

    path: Annotated[str, info(min_length=1, what="a file or device path, e.g. /dev/usb/lp0")] | None = None


class FakeSettings(_Table, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[printer.fake]``: the behavioural fake, chosen only by name (demos, screenshots)."""

    paper: (
        Annotated[int, info(ge=0, le=10**6, what="tickets left on the roll (leave it out for an endless roll)")] | None
    ) = None
    near_end_at: Annotated[int, info(ge=0, le=10**6, what="a number of tickets, e.g. 5")] = 5
    png_dir: Annotated[str, info(min_length=1, what="a directory path")] | None = None
    keep: Annotated[int, info(ge=1, le=10**6, what="how many printed tickets to remember, e.g. 20")] | None = None


class PrinterConfig(_Table, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``[printer]`` section of a device configuration (the kiosk's ``[receipt_printer]``).

    ``model`` names the printer; ``facts`` are its model's facts as provisioning wrote them (when
    absent, the app reads them from the packaged catalog); ``backend`` picks the transport, whose
    own table (``usb``, ``serial``, ``network``, ``file``, ``fake``) says where it is. Build it
    with :func:`parse_printer_config`, which also checks what one value cannot say alone.
    """

    model: Annotated[str, info(min_length=1, help='the printer model, e.g. model = "TM-T20III"')]
    backend: Annotated[
        Backend,
        info(
            what="one of usb, serial, network, file, fake",
            help='how the printer is attached: "usb", "serial", "network", "file" or "fake"',
        ),
    ]
    facts: PrinterModel | None = None
    usb: UsbSettings = UsbSettings()
    serial: SerialSettings = SerialSettings()
    network: NetworkSettings = NetworkSettings()
    file: FileSettings = FileSettings()
    fake: FakeSettings = FakeSettings()


def parse_printer_config(doc: object, key: str = "printer") -> PrinterConfig:
    """A parsed ``[printer]`` table as a :class:`PrinterConfig`; :class:`PrinterConfigError` names
    the key (under ``key``, the section's own name) and the fix."""
    if not isinstance(doc, Mapping):
        raise PrinterConfigError(key, f"expected a table with model and backend, got {describe(doc)}")
    try:
        config = convert(doc, PrinterConfig)
        check_printer_config(config)
    except Invalid as err:
        located = err.within(key)
        raise PrinterConfigError(located.path, located.message) from err
    return config


def check_printer_config(config: PrinterConfig) -> None:
    """The rules across keys; :class:`~common.validation.Invalid` names the key and the fix."""
    if config.facts is not None and config.facts.name != config.model:
        raise Invalid(
            ("facts", "name"),
            f"the facts are the {config.facts.name}'s, but model is {config.model}; apply the role again "
            "(madoguchi-provision apply) or remove [printer.facts] to read the packaged catalog",
        )
    if config.backend == "serial":
        if config.serial.port is None:
            raise Invalid(("serial", "port"), "required: a serial device like /dev/ttyUSB0")
        settings = {"baudrate": config.serial.baudrate, "flow_control": config.serial.flow_control}
        problems = SERIAL_LINE.problems(settings)
        if problems:
            name, message = problems[0]
            raise Invalid(("serial", name), message)
    elif config.backend == "network" and config.network.host is None:
        raise Invalid(("network", "host"), "required: the printer's address, e.g. 192.168.1.50")
    elif config.backend == "file" and config.file.path is None:
        raise Invalid(("file", "path"), "required: a file or device path, e.g. /dev/usb/lp0")


def usb_id(config: PrinterConfig, model: PrinterModel, key: str = "printer") -> tuple[int, int]:
    """The (vendor, product) the USB backend opens: ``printer.usb`` or else the model's.
    :class:`PrinterConfigError` when neither has it (a model without a fixed id)."""
    vendor = config.usb.vendor if isinstance(config.usb.vendor, int) else model.usb_vendor
    product = config.usb.product if isinstance(config.usb.product, int) else model.usb_product
    if vendor is None or product is None:
        name, example = ("vendor", 0x04B8) if vendor is None else ("product", 0x0E15)
        raise PrinterConfigError(
            f"{key}.usb.{name}",
            f"required: a USB {name} id like 0x{example:04x} (the {model.name} has no fixed id: see lsusb)",
        )
    return vendor, product


def facts_table(model: PrinterModel) -> dict[str, Any]:
    """``model`` as the ``[printer.facts]`` table provisioning writes (USB ids left out when the
    model has none)."""
    return {k: v for k, v in msgspec.to_builtins(model).items() if v is not None}
