"""Match what is plugged in against the profiles, slot by slot of a role.

:func:`detect` is pure: it takes the USB devices and serial ports as lists (scan.py reads the
real ones with pyusb and pyserial; tests pass their own) and says, for every slot of the role,
whether its hardware was found, is missing, is ambiguous, or cannot be detected at all (a
display on HDMI, a simulated reader). What it found comes back as choices and overrides that
resolve_role() takes as they are.

A model is matched by its USB ids (``usb.vendor/product`` and ``usb.other_products`` of a
printer, ``detect.usb`` of any model), a USB interface class (``detect.usb_class``, e.g. 0x0b for
a CCID card reader) or serial-port hints (``detect.serial``: vid/pid, words in the manufacturer,
product or description, or a pattern on the /dev/serial/by-id name).

The default model of a role never settles an ambiguity: 04b8:0202 is the id of several Epson
printers with different paper widths, and guessing would print tickets clipped. Choosing the
model does. A slot of several models (hoppers on one ccTalk bus) is the exception: the devices
share one port, so detection finds the bus and the models come from the choice or the role.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from firmware_profiles.catalog import Catalog, Profile, Role, Slot
from firmware_profiles.profile_models import KINDS, PrinterProfile, SerialHint

ROOT_HUB_VENDOR = 0x1D6B  # Linux Foundation root hubs: never a device of ours
HUB_CLASS = 0x09


@dataclass(frozen=True)
class UsbDevice:
    """One USB device as enumerated (lsusb's view)."""

    vendor: int
    product: int
    bus: int | None = None
    address: int | None = None
    manufacturer: str | None = None
    product_name: str | None = None
    serial_number: str | None = None
    device_class: int = 0
    interface_classes: tuple[int, ...] = ()

    def describe(self) -> str:
        """``USB 04b8:0202 "EPSON TM-T88V" (bus 1, address 4)``."""
        name = " ".join(x for x in (self.manufacturer, self.product_name) if x)
        where = f" (bus {self.bus}, address {self.address})" if self.bus is not None else ""
        return f"USB {self.vendor:04x}:{self.product:04x}" + (f' "{name}"' if name else "") + where


@dataclass(frozen=True)
class SerialPort:
    """One serial port as enumerated (pyserial's ``comports()`` plus its /dev/serial/by-id link)."""

    device: str
    by_id: str | None = None
    vid: int | None = None
    pid: int | None = None
    manufacturer: str | None = None
    product: str | None = None
    description: str | None = None
    serial_number: str | None = None

    @property
    def path(self) -> str:
        """The path to configure: the by-id link when there is one (it survives a replug)."""
        return self.by_id or self.device

    def describe(self) -> str:
        """``/dev/ttyACM0 (usb-madoguchi_keypad-if00, 2e8a:000a)``."""
        extra = [self.by_id.rsplit("/", 1)[-1]] if self.by_id else []  # the link's name says what it is
        if self.vid is not None and self.pid is not None:
            extra.append(f"{self.vid:04x}:{self.pid:04x}")
        return self.device + (f" ({', '.join(extra)})" if extra else "")


Device = UsbDevice | SerialPort


class Status(Enum):
    """What detection concluded for one slot."""

    FOUND = "found"
    MISSING = "missing"
    AMBIGUOUS = "ambiguous"
    UNDETECTABLE = "not detectable"
    EMPTY = "not wanted"  # an optional slot the technician chose to leave empty


@dataclass(frozen=True)
class SlotFinding:
    """Detection's answer for one slot: the status, the models it settled on, the devices it
    saw, the overrides that describe where they are, and a sentence for the technician."""

    slot: str
    kind: str
    required: bool
    status: Status
    models: tuple[str, ...] = ()
    candidates: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    overrides: Mapping[str, Any] = field(default_factory=dict)
    message: str = ""

    @property
    def blocking(self) -> bool:
        """True when provisioning cannot go on without the technician (missing or ambiguous)."""
        return self.status is Status.AMBIGUOUS or (self.status is Status.MISSING and self.required)


@dataclass(frozen=True)
class DetectionReport:
    """Every slot of a role, as found; plus the devices no profile claimed."""

    role: str
    findings: tuple[SlotFinding, ...]
    unmatched_usb: tuple[UsbDevice, ...] = ()
    unmatched_serial: tuple[SerialPort, ...] = ()

    @property
    def ok(self) -> bool:
        """Nothing required is missing and nothing is ambiguous."""
        return not any(f.blocking for f in self.findings)

    def finding(self, slot: str) -> SlotFinding:
        """The finding for ``slot``."""
        for f in self.findings:
            if f.slot == slot:
                return f
        raise KeyError(slot)

    @property
    def missing(self) -> tuple[str, ...]:
        """Slots whose required hardware was not found."""
        return tuple(f.slot for f in self.findings if f.status is Status.MISSING and f.required)

    @property
    def ambiguous(self) -> tuple[str, ...]:
        """Slots where several models or several devices fit."""
        return tuple(f.slot for f in self.findings if f.status is Status.AMBIGUOUS)

    def choices(self) -> dict[str, str | list[str]]:
        """Slot -> model for what was found, as resolve_role() takes them."""
        out: dict[str, str | list[str]] = {}
        for f in self.findings:
            if f.status is Status.FOUND:
                out[f.slot] = list(f.models) if len(f.models) > 1 else f.models[0]
        return out

    def overrides(self) -> dict[str, Any]:
        """Where the found hardware is (``keypad.port``, ``printer.usb.product``…)."""
        out: dict[str, Any] = {}
        for f in self.findings:
            if f.status is Status.FOUND:
                out.update(f.overrides)
        return out

    def render(self) -> str:
        """The report as a technician reads it: one line per slot, then what nobody claimed."""
        lines = [f"role {self.role}:"]
        width = max((len(f.slot) for f in self.findings), default=0)
        for f in self.findings:
            need = "required" if f.required else "optional"
            lines.append(f"  {f.slot:<{width}}  {f.status.value:<14} ({need}) {f.message}")
        unclaimed: list[Device] = [*self.unmatched_usb, *self.unmatched_serial]
        for device in unclaimed:
            lines.append(f"  unclaimed: {device.describe()}")
        lines.append("ready to apply" if self.ok else "not ready: " + "; ".join(_todo(self)))
        return "\n".join(lines) + "\n"


def _todo(report: DetectionReport) -> list[str]:
    todo = []
    if report.missing:
        todo.append("connect or choose " + ", ".join(report.missing))
    if report.ambiguous:
        todo.append("choose the model or port for " + ", ".join(report.ambiguous))
    return todo


# --------------------------------------------------------------------------------------------
# matching one model
# --------------------------------------------------------------------------------------------


def _usb_ids(profile: Profile) -> list[tuple[int, int]]:
    ids: list[tuple[int, int]] = []
    facts = profile.facts
    if isinstance(facts, PrinterProfile) and facts.usb is not None:
        ids.append((facts.usb.vendor, facts.usb.product))
        ids += [(facts.usb.vendor, p) for p in facts.usb.other_products]
    ids += [(rule.vendor, rule.product) for rule in facts.detect.usb]
    return ids


def _has_rules(profile: Profile) -> bool:
    return bool(_usb_ids(profile) or profile.facts.detect.given)


def _words(hint: str | None, text: str | None) -> bool:
    return hint is None or (text is not None and hint.casefold() in text.casefold())


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _serial_hint_matches(rule: SerialHint, port: SerialPort) -> bool:
    checks = [
        not isinstance(rule.vid, int) or rule.vid == port.vid,
        not isinstance(rule.pid, int) or rule.pid == port.pid,
        _words(rule.manufacturer, port.manufacturer),
        _words(rule.product, port.product),
        _words(rule.description, port.description),
        rule.by_id is None or (port.by_id is not None and fnmatch.fnmatch(_name(port.by_id), rule.by_id)),
        rule.device is None or fnmatch.fnmatch(port.device, rule.device),
    ]
    return all(checks)


def matches(profile: Profile, device: Device) -> bool:
    """Whether ``device`` looks like ``profile``'s hardware."""
    if isinstance(device, UsbDevice):
        if (device.vendor, device.product) in _usb_ids(profile):
            return True
        usb_class = profile.facts.detect.usb_class
        return usb_class is not None and (usb_class in device.interface_classes or usb_class == device.device_class)
    return any(_serial_hint_matches(rule, device) for rule in profile.facts.detect.serial)


# --------------------------------------------------------------------------------------------
# one slot
# --------------------------------------------------------------------------------------------


def _where(profile: Profile, slot: Slot, device: Device) -> dict[str, Any]:
    """The overrides that tell the app where ``device`` is."""
    if isinstance(device, SerialPort):
        return {slot.port_key: device.path}
    if isinstance(profile.facts, PrinterProfile):
        usb = profile.facts.usb
        if usb is None or (usb.vendor, usb.product) != (device.vendor, device.product):
            return {f"{slot.section}.usb.vendor": device.vendor, f"{slot.section}.usb.product": device.product}
    return {}


def _finding(slot: Slot, status: Status, message: str, **details: Any) -> SlotFinding:
    return SlotFinding(slot.name, slot.kind, slot.required, status, message=message, **details)


def _detect_slot(
    catalog: Catalog, slot: Slot, chosen: Sequence[str] | None, devices: Sequence[Device]
) -> tuple[SlotFinding, set[Device]]:
    eligible = [p for p in catalog.models(slot.kind) if slot.refusal(p) is None]
    if chosen is not None:
        if not chosen:
            return _finding(slot, Status.EMPTY, "left empty by choice"), set()
        eligible = [catalog.model(slot.kind, key) for key in chosen]
    detectable = [p for p in eligible if _has_rules(p)]
    if not detectable:
        models = tuple(p.key for p in eligible) if chosen is not None else slot.default
        shown = ", ".join(models) or "nothing"
        simulated = bool(eligible) and all(_simulated(p) for p in eligible)
        reason = "simulated" if simulated else "no USB or serial id to look for"
        whose = "as chosen" if chosen is not None else "(the role's default)"
        return _finding(slot, Status.UNDETECTABLE, f"{reason}: using {shown} {whose}", models=models), set()
    hits = [(d, p) for d in devices for p in detectable if matches(p, d)]
    if not hits:
        wanted = ", ".join(p.key for p in detectable)
        candidates = tuple(p.key for p in detectable)
        return _finding(slot, Status.MISSING, f"nothing plugged in looks like {wanted}", candidates=candidates), set()
    by_device: dict[Device, list[Profile]] = {}
    for device, profile in hits:
        by_device.setdefault(device, []).append(profile)
    claimed = set(by_device)
    if slot.multiple:
        return _detect_bus(slot, chosen, by_device), claimed
    seen_devices = tuple(d.describe() for d in by_device)
    if len(by_device) > 1:
        first = next(iter(by_device))
        example = next(iter(_where(by_device[first][0], slot, first)), None)
        fix = f"; unplug the others or set {example}=…" if example else "; unplug the others"
        keys = tuple(sorted({p.key for found in by_device.values() for p in found}))
        message = f"{len(by_device)} devices could be the {slot.name}: {', '.join(seen_devices)}{fix}"
        return _finding(slot, Status.AMBIGUOUS, message, devices=seen_devices, candidates=keys), claimed
    ((device, profiles),) = by_device.items()
    if len(profiles) > 1:
        keys = tuple(p.key for p in profiles)
        message = f"{device.describe()} could be any of {', '.join(keys)}; choose one: {slot.name}=<{' | '.join(keys)}>"
        return _finding(slot, Status.AMBIGUOUS, message, devices=seen_devices, candidates=keys), claimed
    profile = profiles[0]
    where = _where(profile, slot, device)
    message = f"{profile.key} at {device.describe()}"
    return _finding(slot, Status.FOUND, message, models=(profile.key,), devices=seen_devices, overrides=where), claimed


def _detect_bus(slot: Slot, chosen: Sequence[str] | None, by_device: Mapping[Device, list[Profile]]) -> SlotFinding:
    shown = tuple(d.describe() for d in by_device)
    if len(by_device) > 1:
        message = f"{len(by_device)} ports could carry the {slot.name}: {', '.join(shown)}; set {slot.port_key}=…"
        return _finding(slot, Status.AMBIGUOUS, message, devices=shown)
    ((device, profiles),) = by_device.items()
    models = tuple(chosen) if chosen is not None else slot.default
    keys = sorted(p.key for p in profiles)
    if not models or any(m not in keys for m in models):
        message = f"a bus at {device.describe()}; say which {slot.name} are on it: {slot.name}=<{','.join(keys)}>"
        return _finding(slot, Status.AMBIGUOUS, message, devices=shown, candidates=tuple(keys))
    message = (
        f"{', '.join(models)} on the bus at {device.describe()} (devices on one bus cannot be told apart by the port)"
    )
    where = _where(profiles[0], slot, device)
    return _finding(slot, Status.FOUND, message, models=models, devices=shown, overrides=where)


def _simulated(profile: Profile) -> bool:
    return "simulated" in KINDS[profile.kind].derived and profile.supports("simulated")


# --------------------------------------------------------------------------------------------
# the role
# --------------------------------------------------------------------------------------------


def _uninteresting(device: UsbDevice) -> bool:
    return device.vendor == ROOT_HUB_VENDOR or device.device_class == HUB_CLASS or HUB_CLASS in device.interface_classes


def detect(
    catalog: Catalog,
    role: str | Role,
    usb_devices: Iterable[UsbDevice],
    serial_ports: Iterable[SerialPort],
    choices: Mapping[str, str | Sequence[str] | None] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> DetectionReport:
    """What of ``role``'s hardware is among ``usb_devices`` and ``serial_ports``.

    ``choices`` (slot -> model key, or a list for a slot of several, None/"none" for an empty
    optional slot) narrows a slot to the chosen models, and ``overrides`` giving a slot's port
    (``cash.port``) narrows it to that port: that is how an ambiguity is settled."""
    the_role = catalog.role(role) if isinstance(role, str) else role
    usb = list(usb_devices)
    ports = list(serial_ports)
    devices: list[Device] = [*usb, *ports]
    picked: dict[str, tuple[str, ...] | None] = {}
    for slot in the_role.slots:
        raw = (choices or {}).get(slot.name, ...)
        if raw is ...:
            picked[slot.name] = None
        elif raw is None or raw == "none":
            picked[slot.name] = ()
        elif isinstance(raw, str):
            picked[slot.name] = tuple(k.strip() for k in raw.split(",") if k.strip())
        else:
            picked[slot.name] = tuple(raw)
    for name in choices or {}:
        the_role.slot(name)  # an unknown slot name is an error, with a "did you mean"
    findings = []
    claimed: set[Device] = set()
    for slot in the_role.slots:
        port = (overrides or {}).get(slot.port_key)
        candidates = devices
        if isinstance(port, str):
            candidates = [d for d in devices if isinstance(d, SerialPort) and port in (d.device, d.by_id)]
        finding, seen = _detect_slot(catalog, slot, picked[slot.name], candidates)
        findings.append(finding)
        claimed |= seen
    unmatched_usb = tuple(d for d in usb if d not in claimed and not _uninteresting(d))
    unmatched_serial = tuple(p for p in ports if p not in claimed)
    return DetectionReport(the_role.key, tuple(findings), unmatched_usb, unmatched_serial)
