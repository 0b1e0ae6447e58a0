"""Read what is plugged in: USB devices (pyusb) and serial ports (pyserial), translated into
detect.py's :class:`UsbDevice` and :class:`SerialPort` at this boundary.

The only module here that touches hardware; both functions take the enumeration as an
argument so tests hand in their own (this machine has no USB bus to look at).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from firmware_profiles.detect import SerialPort, UsbDevice
from firmware_profiles.errors import DetectError

log = logging.getLogger(__name__)

BY_ID_DIR = Path("/dev/serial/by-id")


def _pyusb(module: str) -> Any:
    # pyusb ships no type information; importing by name keeps mypy's strictness for the rest.
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise DetectError("pyusb is not installed: pip install pyusb") from err


def _pyusb_find() -> Iterable[Any]:
    core = _pyusb("usb.core")
    try:
        return list(core.find(find_all=True))
    except core.NoBackendError as err:
        raise DetectError(
            "cannot list USB devices: libusb is missing (install the Debian package libusb-1.0-0)"
        ) from err
    except core.USBError as err:
        raise DetectError(f"cannot list USB devices: {err}") from err


def _string(device: Any, index: int) -> str | None:
    """A USB string descriptor, or None: reading one opens the device, which an unprivileged
    user often may not (the ids are enough to match; the strings only help the reader)."""
    if not index:
        return None
    try:
        value = _pyusb("usb.util").get_string(device, index)
    except (ValueError, NotImplementedError, OSError) as err:  # usb.core.USBError is an OSError
        log.debug("USB %04x:%04x: string %d unreadable: %s", device.idVendor, device.idProduct, index, err)
        return None
    return str(value) if value else None


def _interface_classes(device: Any) -> tuple[int, ...]:
    classes: list[int] = []
    try:
        for config in device:
            for interface in config:
                if interface.bInterfaceClass not in classes:
                    classes.append(int(interface.bInterfaceClass))
    except (ValueError, NotImplementedError, OSError) as err:
        log.debug("USB %04x:%04x: configuration unreadable: %s", device.idVendor, device.idProduct, err)
    return tuple(classes)


def scan_usb(find: Callable[[], Iterable[Any]] | None = None) -> list[UsbDevice]:
    """Every USB device: ``find()`` returns pyusb devices (default: ``usb.core.find(find_all=True)``).
    DetectError when USB cannot be listed at all (no libusb)."""
    devices = []
    for device in (find or _pyusb_find)():
        devices.append(
            UsbDevice(
                vendor=int(device.idVendor),
                product=int(device.idProduct),
                bus=getattr(device, "bus", None),
                address=getattr(device, "address", None),
                manufacturer=_string(device, getattr(device, "iManufacturer", 0)),
                product_name=_string(device, getattr(device, "iProduct", 0)),
                serial_number=_string(device, getattr(device, "iSerialNumber", 0)),
                device_class=int(getattr(device, "bDeviceClass", 0)),
                interface_classes=_interface_classes(device),
            )
        )
    return devices


def _pyserial_comports() -> Iterable[Any]:
    from serial.tools import list_ports

    return list(list_ports.comports())


def _by_id_links(directory: Path) -> dict[str, str]:
    """The device each /dev/serial/by-id link points at -> the link."""
    links: dict[str, str] = {}
    try:
        entries = sorted(directory.iterdir())
    except OSError:
        return links  # no USB serial device plugged in: udev has not made the directory
    for entry in entries:
        links.setdefault(os.path.realpath(entry), str(entry))
    return links


def _text(value: Any) -> str | None:
    return None if value in (None, "", "n/a") else str(value)


def scan_serial(comports: Callable[[], Iterable[Any]] | None = None, by_id_dir: Path = BY_ID_DIR) -> list[SerialPort]:
    """Every serial port: ``comports()`` returns pyserial ``ListPortInfo`` objects (default:
    ``serial.tools.list_ports.comports()``), each paired with its /dev/serial/by-id link."""
    links = _by_id_links(by_id_dir)
    ports = []
    for info in (comports or _pyserial_comports)():
        device = str(info.device)
        ports.append(
            SerialPort(
                device=device,
                by_id=links.get(os.path.realpath(device)),
                vid=info.vid,
                pid=info.pid,
                manufacturer=_text(info.manufacturer),
                product=_text(info.product),
                description=_text(info.description),
                serial_number=_text(info.serial_number),
            )
        )
    return ports
