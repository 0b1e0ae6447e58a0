"""detect(): the role's hardware among faked USB and serial enumerations (this machine has no
USB bus), and scan.py's translation of what pyusb and pyserial report.

Found, missing and ambiguous for each kind of match (USB ids, a printer's other product id, a
USB interface class, serial-port hints, a shared ccTalk bus), and the report feeding resolve.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import usb.core

from firmware_profiles import (
    Catalog,
    DetectError,
    ProfileError,
    SerialPort,
    Status,
    UsbDevice,
    detect,
    load_catalog,
    resolve_role,
    scan_serial,
    scan_usb,
)

ROOT_HUB = UsbDevice(0x1D6B, 0x0002, bus=1, address=1, device_class=9)
TM_T20III = UsbDevice(0x04B8, 0x0E15, bus=1, address=4, manufacturer="EPSON", product_name="TM-T20III")
EPSON_PRINTER_CLASS = UsbDevice(0x04B8, 0x0202, bus=1, address=5, interface_classes=(7,))
POS58 = UsbDevice(0x0416, 0x5011, bus=1, address=6)
CARD_READER = UsbDevice(0x072F, 0xB100, bus=1, address=7, interface_classes=(0x0B,))
MOUSE = UsbDevice(0x046D, 0xC077, bus=1, address=8, interface_classes=(3,))
KEYPAD = SerialPort("/dev/ttyACM0", by_id="/dev/serial/by-id/usb-madoguchi_keypad_0001-if00", vid=0x2E8A, pid=0x000A)
KEYPAD_2 = SerialPort("/dev/ttyACM1", product="madoguchi keypad", vid=0x2E8A, pid=0x000A)
PANEL = SerialPort("/dev/ttyACM2", by_id="/dev/serial/by-id/usb-acme_led_panel_7-if00")
FTDI = SerialPort("/dev/ttyUSB0", by_id="/dev/serial/by-id/usb-FTDI_FT232R_A1-if00-port0", vid=0x0403, pid=0x6001)
FTDI_2 = SerialPort("/dev/ttyUSB1", vid=0x0403, pid=0x6001)
BUILTIN_UART = SerialPort("/dev/ttyS0")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


# --------------------------------------------------------------------------------------------
# found
# --------------------------------------------------------------------------------------------


def test_a_dispenser_with_its_printer_and_keypad(catalog: Catalog) -> None:
    report = detect(catalog, "dispenser", [ROOT_HUB, TM_T20III, MOUSE], [KEYPAD, BUILTIN_UART])
    printer = report.finding("printer")
    assert (printer.status, printer.models, dict(printer.overrides)) == (Status.FOUND, ("tm-t20iii",), {})
    assert printer.message == 'tm-t20iii at USB 04b8:0e15 "EPSON TM-T20III" (bus 1, address 4)'
    keypad = report.finding("keypad")
    assert keypad.status is Status.FOUND and keypad.models == ("madoguchi-keypad",)
    # The by-id link is what goes into the configuration: it survives a replug.
    assert keypad.overrides == {"keypad.port": KEYPAD.by_id}
    display = report.finding("display")
    assert display.status is Status.UNDETECTABLE and display.models == ("touch-10in-1280x800",)
    assert report.ok and report.missing == () and report.ambiguous == ()
    assert report.choices() == {"printer": "tm-t20iii", "keypad": "madoguchi-keypad"}
    # What nobody claimed is listed (not the root hub).
    assert report.unmatched_usb == (MOUSE,) and report.unmatched_serial == (BUILTIN_UART,)
    text = report.render()
    assert (
        "  printer  found          (required) tm-t20iii at USB 04b8:0e15" in text
        and "unclaimed: USB 046d:c077" in text
        and text.endswith("ready to apply\n")
    )


def test_the_report_feeds_resolve(catalog: Catalog) -> None:
    report = detect(catalog, "dispenser", [TM_T20III], [KEYPAD])
    resolved = resolve_role(catalog, "dispenser", report.choices(), report.overrides())
    assert resolved.config["keypad"]["port"] == KEYPAD.by_id
    assert resolved.config["printer"]["usb"]["product"] == 0x0E15


def test_a_printer_found_by_another_of_its_ids_gets_that_id(catalog: Catalog) -> None:
    # The TM-T20III in printer-class USB mode reports 04b8:0202 - shared with other Epsons, so
    # only the technician's choice settles it; the id found then goes into the configuration.
    report = detect(catalog, "dispenser", [EPSON_PRINTER_CLASS], [], choices={"printer": "tm-t20iii"})
    printer = report.finding("printer")
    assert printer.status is Status.FOUND
    assert printer.overrides == {"printer.usb.vendor": 0x04B8, "printer.usb.product": 0x0202}
    resolved = resolve_role(catalog, "dispenser", report.choices(), report.overrides())
    assert resolved.config["printer"]["usb"]["product"] == 0x0202


def test_a_generic_printer_found_by_its_hint_gets_its_ids(catalog: Catalog) -> None:
    report = detect(catalog, "dispenser", [POS58], [])
    printer = report.finding("printer")
    assert printer.status is Status.FOUND and printer.models == ("generic-58mm",)
    resolved = resolve_role(catalog, "dispenser", report.choices(), report.overrides())
    assert resolved.config["printer"]["usb"] == {"vendor": 0x0416, "product": 0x5011, "timeout_ms": 5000}


def test_a_board_with_its_led_panel(catalog: Catalog) -> None:
    report = detect(catalog, "board", [], [PANEL])
    assert report.finding("led_panel").overrides == {"led_panel.port": PANEL.by_id}
    assert report.finding("display").status is Status.UNDETECTABLE
    assert report.ok


def test_a_kiosk_on_one_cctalk_bus(catalog: Catalog) -> None:
    report = detect(catalog, "kiosk", [TM_T20III, CARD_READER], [FTDI])
    for slot in ("coin_acceptor", "bill_validator", "hoppers"):
        finding = report.finding(slot)
        assert finding.status is Status.FOUND, finding.message
        assert finding.overrides == {"cash.port": FTDI.by_id}
    assert report.finding("hoppers").models == ("cctalk-hopper-10", "cctalk-hopper-100", "cctalk-hopper-500")
    reader = report.finding("card_reader")
    assert reader.status is Status.FOUND and reader.models == ("ccid-pcsc",)  # by its USB class, 0x0b
    assert report.finding("document_printer").status is Status.UNDETECTABLE
    # The cash devices share the port: it is claimed, and resolve takes the overrides as they are.
    assert report.unmatched_serial == ()
    resolved = resolve_role(catalog, "kiosk", report.choices(), report.overrides())
    assert resolved.config["cash"]["port"] == FTDI.by_id


def test_a_simulated_reader_is_not_looked_for(catalog: Catalog) -> None:
    report = detect(catalog, "kiosk", [], [FTDI], choices={"card_reader": "simulated", "document_printer": "pdf-dir"})
    reader = report.finding("card_reader")
    assert reader.status is Status.UNDETECTABLE and reader.message == "simulated: using simulated as chosen"
    assert not reader.blocking


# --------------------------------------------------------------------------------------------
# missing
# --------------------------------------------------------------------------------------------


def test_a_missing_printer_blocks_a_missing_keypad_does_not(catalog: Catalog) -> None:
    report = detect(catalog, "dispenser", [ROOT_HUB, MOUSE], [BUILTIN_UART])
    assert report.finding("printer").status is Status.MISSING and report.finding("printer").blocking
    assert report.finding("keypad").status is Status.MISSING and not report.finding("keypad").blocking
    assert report.missing == ("printer",) and not report.ok
    assert report.choices() == {}
    assert report.render().endswith("not ready: connect or choose printer\n")


def test_a_chosen_model_that_is_not_there_is_missing(catalog: Catalog) -> None:
    report = detect(catalog, "dispenser", [TM_T20III], [], choices={"printer": "tsp143"})
    assert report.finding("printer").status is Status.MISSING
    assert report.finding("printer").message == "nothing plugged in looks like tsp143"


def test_an_optional_slot_left_empty_is_not_looked_for(catalog: Catalog) -> None:
    report = detect(catalog, "dispenser", [TM_T20III], [KEYPAD], choices={"keypad": "none"})
    assert report.finding("keypad").status is Status.EMPTY
    assert report.unmatched_serial == (KEYPAD,)


# --------------------------------------------------------------------------------------------
# ambiguous
# --------------------------------------------------------------------------------------------


def test_a_usb_id_shared_by_several_models_is_ambiguous(catalog: Catalog) -> None:
    report = detect(catalog, "dispenser", [EPSON_PRINTER_CLASS], [])
    printer = report.finding("printer")
    assert printer.status is Status.AMBIGUOUS and printer.blocking
    assert printer.candidates == ("tm-m30iii", "tm-t20iii", "tm-t88v", "tm-t88vi")
    assert printer.message == (
        "USB 04b8:0202 (bus 1, address 5) could be any of tm-m30iii, tm-t20iii, tm-t88v, tm-t88vi; "
        "choose one: printer=<tm-m30iii | tm-t20iii | tm-t88v | tm-t88vi>"
    )
    assert report.ambiguous == ("printer",) and not report.ok
    # The role's default (tm-t20iii) does not settle it: a TM-T88V prints 512 dots, not 576.
    assert "printer" not in report.choices()
    settled = detect(catalog, "dispenser", [EPSON_PRINTER_CLASS], [], choices={"printer": "tm-t88v"})
    assert settled.finding("printer").status is Status.FOUND and settled.ok


def test_two_devices_for_one_slot_are_ambiguous(catalog: Catalog) -> None:
    report = detect(catalog, "dispenser", [TM_T20III], [KEYPAD, KEYPAD_2])
    keypad = report.finding("keypad")
    assert keypad.status is Status.AMBIGUOUS and keypad.blocking
    assert keypad.devices == (KEYPAD.describe(), KEYPAD_2.describe())
    assert keypad.message.endswith("; unplug the others or set keypad.port=…")
    assert report.overrides() == {}


def test_two_ports_for_a_bus_are_ambiguous_until_the_port_is_given(catalog: Catalog) -> None:
    report = detect(catalog, "kiosk", [], [FTDI, FTDI_2])
    assert report.finding("hoppers").status is Status.AMBIGUOUS
    assert report.finding("hoppers").message.endswith("set cash.port=…")
    assert report.finding("coin_acceptor").status is Status.AMBIGUOUS
    settled = detect(catalog, "kiosk", [], [FTDI, FTDI_2], overrides={"cash.port": FTDI_2.device})
    for slot in ("coin_acceptor", "bill_validator", "hoppers"):
        assert settled.finding(slot).status is Status.FOUND
        assert settled.finding(slot).overrides == {"cash.port": FTDI_2.device}
    assert settled.unmatched_serial == (FTDI,)


def test_unknown_slots_in_choices_are_errors(catalog: Catalog) -> None:
    with pytest.raises(ProfileError, match='did you mean "printer"'):
        detect(catalog, "dispenser", [], [], choices={"printr": "tm-t88v"})


# --------------------------------------------------------------------------------------------
# scan.py: translating the real enumerations
# --------------------------------------------------------------------------------------------


class FakeInterface:
    def __init__(self, cls: int) -> None:
        self.bInterfaceClass = cls


class FakePyusbDevice:
    """What scan_usb reads from a pyusb Device: ids, bus, classes and string indexes. Reading a
    string needs the device opened, which fails here as it does for an unprivileged user."""

    def __init__(self, vendor: int, product: int, classes: tuple[int, ...], strings: bool = False) -> None:
        self.idVendor, self.idProduct, self.bus, self.address, self.bDeviceClass = vendor, product, 1, 9, 0
        self.iManufacturer = self.iProduct = 1 if strings else 0
        self.iSerialNumber = 0
        self._configs = [[FakeInterface(c) for c in classes]]

    def __iter__(self) -> Any:
        return iter(self._configs)

    @property
    def langids(self) -> tuple[int, ...]:
        raise usb.core.USBError("Access denied (insufficient permissions)")


def test_scan_usb_translates_pyusb_devices() -> None:
    found = scan_usb(lambda: [FakePyusbDevice(0x072F, 0xB100, (0x0B, 0x0B, 3), strings=True)])
    assert found == [UsbDevice(0x072F, 0xB100, bus=1, address=9, interface_classes=(0x0B, 3))]


def test_scan_usb_without_libusb_is_a_clear_error() -> None:
    # This machine has pyusb but no libusb: a DetectError saying what to install, not pyusb's own.
    try:
        devices = scan_usb()
    except DetectError as err:
        assert "libusb" in str(err)
    else:
        assert all(isinstance(d, UsbDevice) for d in devices)


class FakeListPortInfo:
    def __init__(self, device: str, **fields: Any) -> None:
        self.device = device
        self.vid = fields.get("vid")
        self.pid = fields.get("pid")
        self.manufacturer = fields.get("manufacturer")
        self.product = fields.get("product")
        self.description = fields.get("description", "n/a")
        self.serial_number = fields.get("serial_number")


def test_scan_serial_pairs_ports_with_their_by_id_links(tmp_path: Path) -> None:
    # Real device nodes and real links, as udev makes them under /dev/serial/by-id.
    dev = tmp_path / "dev"
    by_id = dev / "serial" / "by-id"
    by_id.mkdir(parents=True)
    for name in ("ttyACM0", "ttyS0"):
        (dev / name).touch()
    os.symlink("../../ttyACM0", by_id / "usb-madoguchi_keypad_0001-if00")
    infos = [
        FakeListPortInfo(str(dev / "ttyACM0"), vid=0x2E8A, pid=0x000A, product="keypad", description="keypad"),
        FakeListPortInfo(str(dev / "ttyS0")),
    ]
    ports = scan_serial(lambda: infos, by_id_dir=by_id)
    assert ports == [
        SerialPort(
            str(dev / "ttyACM0"),
            by_id=str(by_id / "usb-madoguchi_keypad_0001-if00"),
            vid=0x2E8A,
            pid=0x000A,
            product="keypad",
            description="keypad",
        ),
        SerialPort(str(dev / "ttyS0")),
    ]
    assert ports[0].path == str(by_id / "usb-madoguchi_keypad_0001-if00") and ports[1].path == str(dev / "ttyS0")


def test_scan_serial_reads_this_machine() -> None:
    # No by-id directory here (no USB serial device): the ports come back without links.
    ports = scan_serial()
    assert all(isinstance(p, SerialPort) and p.device.startswith("/dev/") for p in ports)
