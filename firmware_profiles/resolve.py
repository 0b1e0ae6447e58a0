"""Resolve a role: the chosen models (or the role's defaults) and the overrides, checked
together, become one device configuration - the TOML sections the app reads - with a hash.

The device configuration is built in layers, each checked:

1. the role's ``settings`` (app settings such as ``display.fullscreen``);
2. what each slot's model says about the hardware (``display.width``, ``printer.usb``);
3. the overrides (``keypad.port=/dev/serial/by-id/…``): only keys the app reads, with the type
   of the value they replace.

The profile hash is the SHA-256 of the canonical resolved profile (role, models and the
configuration, as sorted compact JSON). Identity (site, device id, broker) is not part of it:
two devices with the same hardware and settings report the same hash.

Pure: no I/O.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml

from common.validation import describe, did_you_mean
from drivers.printer_model import BACKENDS as PRINTER_BACKENDS
from drivers.printer_model import DEFAULT_USB_TIMEOUT_MS, PrinterConfigError, facts_table, parse_printer_config
from firmware_profiles.catalog import Catalog, Profile, Role, Slot, freeze, thaw
from firmware_profiles.errors import ProfileError, ResolveError
from firmware_profiles.printers import printer_model
from firmware_profiles.profile_models import (
    SCHEMA_VERSION,
    CardReaderProfile,
    CashProfile,
    DisplayProfile,
    DocumentPrinterProfile,
    LedPanelProfile,
    PrinterProfile,
)
from firmware_profiles.tomlwrite import dumps
from sync.protocol import valid_id

__all__ = [
    "DEFAULT_USB_TIMEOUT_MS",
    "DEVICE_SECTION",
    "HASH_PREFIX",
    "PRINTER_BACKENDS",
    "Identity",
    "ResolvedProfile",
    "diff_configs",
    "get_key",
    "parse_choice",
    "parse_override",
    "profile_hash_of",
    "resolve_role",
]

DEVICE_SECTION = "device"
HASH_PREFIX = "sha256:"
_OVERRIDE_KEY = re.compile(r"[a-z_]+(\.([a-z_]+|\d+))+")

Choice = str | Sequence[str] | None
Required = tuple[str, str]  # (configuration key, what to put there)


@dataclass(frozen=True)
class Identity:
    """Who the device is: its site, its id and the broker it talks to (no credentials: those
    come from enrolment)."""

    site: str
    device_id: str
    broker: str
    office_key: str | None = None  # kept from enrolment: re-applying must not unpin the office

    def __post_init__(self) -> None:
        problems = []
        for key, value in (("site", self.site), ("device_id", self.device_id)):
            if not isinstance(value, str) or not valid_id(value):
                problems.append(
                    f"{key}: {value!r} is not a valid id; use 1-63 letters, digits, '.', '_' or '-', "
                    "starting with a letter or digit"
                )
        parts = urlsplit(self.broker) if isinstance(self.broker, str) else None
        if parts is None or parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            problems.append(f"broker: {self.broker!r} is not a broker URL; use mqtt://host:port (mqtts:// for TLS)")
        elif parts.password is not None:
            problems.append(
                "broker: the URL carries a password, which would be written to a readable file; "
                "give the URL without it (credentials come from enrolment)"
            )
        else:
            try:
                parts.port  # noqa: B018 - urlsplit checks the port only when asked
            except ValueError:
                problems.append(f"broker: {self.broker!r} has an invalid port; use mqtt://host:1883")
        if problems:
            raise ResolveError(*problems)


@dataclass(frozen=True, eq=False)
class ResolvedProfile:
    """A role with its models and overrides, checked: ``config`` holds the sections the app
    reads, ``hash`` the SHA-256 (hex) of the canonical resolved profile."""

    role: Role
    models: Mapping[str, tuple[Profile, ...]]
    config: Mapping[str, Any]
    hash: str

    def model(self, slot: str) -> Profile | None:
        """The model in ``slot`` (the first, for a slot of several), or None when left empty."""
        self.role.slot(slot)
        found = self.models.get(slot, ())
        return found[0] if found else None

    def supports(self, slot: str, capability: str) -> bool:
        """Whether the model in ``slot`` has ``capability`` (False when the slot is empty)."""
        model = self.model(slot)
        return model is not None and model.supports(capability)

    def canonical(self) -> bytes:
        """The bytes the hash is taken over."""
        return _canonical(self.role, self.models, thaw(self.config))

    def to_device_config(self, identity: Identity | None = None) -> dict[str, Any]:
        """The device configuration: ``[device]`` (role, identity, profile hash, model keys),
        then the app's sections."""
        device: dict[str, Any] = {"role": self.role.key}
        if identity is not None:
            device.update(site=identity.site, device_id=identity.device_id, broker=identity.broker)
            if identity.office_key:
                device["office_key"] = identity.office_key
        device["profile_hash"] = HASH_PREFIX + self.hash
        device["models"] = {
            slot.name: [p.key for p in self.models[slot.name]] if slot.multiple else self.models[slot.name][0].key
            for slot in self.role.slots
            if self.models.get(slot.name)
        }
        return {DEVICE_SECTION: device, **thaw(self.config)}

    def render(self, identity: Identity | None = None) -> str:
        """The device configuration as TOML, with a header saying where it came from."""
        header = (
            f"madoguchi device configuration: {self.role.name}, role {self.role.key}\n"
            f"profile {HASH_PREFIX}{self.hash}\n"
            "Written by provisioning: change the profiles or the choices and apply again, rather than edit it."
        )
        return dumps(self.to_device_config(identity), header=header)


def _canonical(role: Role, models: Mapping[str, tuple[Profile, ...]], config: Any) -> bytes:
    doc = {
        "schema_version": SCHEMA_VERSION,
        "role": {"key": role.key, "profile": thaw(role.data)},
        "models": {
            slot: [{"key": p.key, "profile": p.to_dict()} for p in found] for slot, found in sorted(models.items())
        },
        "config": config,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# --------------------------------------------------------------------------------------------
# parsing what a technician types
# --------------------------------------------------------------------------------------------


def parse_choice(text: str) -> tuple[str, str]:
    """``"printer=tm-t88v"`` -> ``("printer", "tm-t88v")``; a slot of several takes
    ``hoppers=a,b,c``; ``keypad=none`` leaves an optional slot empty."""
    slot, sep, model = text.partition("=")
    if not sep or not slot.strip() or not model.strip():
        raise ResolveError(f"{text!r}: expected slot=model, e.g. printer=tm-t20iii")
    return slot.strip(), model.strip()


def parse_override(text: str) -> tuple[str, Any]:
    """``"printer.usb.product=0x0e28"`` -> ``("printer.usb.product", 3624)``. The value is read
    as YAML: numbers, ``0x`` hex, true/false, ``[1, 2]`` lists; anything else is text. An empty
    value (``keypad.port=``) removes the key."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not _OVERRIDE_KEY.fullmatch(key):
        raise ResolveError(f"{text!r}: expected section.key=value, e.g. keypad.port=/dev/serial/by-id/usb-keypad-if00")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        raise ResolveError(f"{key}: cannot read the value {raw!r} ({err}); quote text, e.g. {key}='{raw}'") from err
    return key, value


# --------------------------------------------------------------------------------------------
# what each kind of model puts in the configuration
# --------------------------------------------------------------------------------------------

Built = tuple[dict[str, Any], list[Required], list[str]]
Builder = Callable[[Profile, Slot, Mapping[str, Any]], Built]


def _port(profile: Profile, slot: Slot) -> Required:
    return (
        slot.port_key,
        (
            f"the serial port of the {profile.name}, e.g. /dev/serial/by-id/usb-…-if00 "
            "(a by-id path survives a replug); run detect to find it"
        ),
    )


def _display(profile: Profile, slot: Slot, overrides: Mapping[str, Any]) -> Built:
    display = profile.facts_as(DisplayProfile)
    out: dict[str, Any] = {
        "width": display.resolution.width,
        "height": display.resolution.height,
        "orientation": display.orientation,
    }
    if profile.supports("power_control"):
        out["power"] = display.power_control
    return out, [], []


def _printer(profile: Profile, slot: Slot, overrides: Mapping[str, Any]) -> Built:
    printer = profile.facts_as(PrinterProfile)
    key = slot.section
    backend = overrides.get(f"{key}.backend", printer.default_backend)
    out: dict[str, Any] = {"model": printer.name, "backend": backend}
    required: list[Required] = []
    if backend == "usb":
        usb: dict[str, Any] = {}
        if printer.usb is not None:
            usb.update(vendor=printer.usb.vendor, product=printer.usb.product)
        else:
            what = f"(the {printer.name} has no fixed id: see lsusb, or run detect)"
            required += [
                (f"{key}.usb.vendor", f"the USB vendor id, e.g. 0x0416 {what}"),
                (f"{key}.usb.product", f"the USB product id, e.g. 0x5011 {what}"),
            ]
        usb["timeout_ms"] = DEFAULT_USB_TIMEOUT_MS
        out["usb"] = usb
    elif backend == "serial":
        serial = printer.serial
        out["serial"] = {"baudrate": serial.baudrate, "flow_control": serial.flow_control} if serial else {}
        required.append((f"{key}.serial.port", "the serial device, e.g. /dev/ttyUSB0"))
    elif backend == "network":
        out["network"] = {"port": printer.network.port}
        required.append((f"{key}.network.host", "the printer's address, e.g. 192.168.1.50"))
    elif backend == "file":
        required.append((f"{key}.file.path", "a file or device path, e.g. /dev/usb/lp0"))
    elif backend == "fake":
        out["fake"] = {}
    else:
        return out, [], [f"{key}.backend: expected one of {', '.join(PRINTER_BACKENDS)}, got {describe(backend)}"]
    # The model's facts for the driver, so the app needs no catalog at start (docs/architecture.md).
    out["facts"] = facts_table(printer_model(profile))
    return out, required, []


def _keypad(profile: Profile, slot: Slot, overrides: Mapping[str, Any]) -> Built:
    return {}, [_port(profile, slot)], []


def _led_panel(profile: Profile, slot: Slot, overrides: Mapping[str, Any]) -> Built:
    panel = profile.facts_as(LedPanelProfile)
    return {"counters": list(range(1, panel.rows + 1))}, [_port(profile, slot)], []


def _card_reader(profile: Profile, slot: Slot, overrides: Mapping[str, Any]) -> Built:
    reader = profile.facts_as(CardReaderProfile)
    out: dict[str, Any] = {"backend": reader.backend}
    if reader.pcsc.reader:
        out["reader"] = reader.pcsc.reader
    if reader.pcsc.eject:
        out["eject"] = True
    return out, [], []


def _cash(profile: Profile, slot: Slot, overrides: Mapping[str, Any]) -> Built:
    # The shape drivers/cash (CashConfig.from_mapping) reads: one [cash] table for the bus.
    cash = profile.facts_as(CashProfile)
    if cash.cctalk is None:  # the catalog refuses a ccTalk device without it
        raise ProfileError(f"{profile.file}: cctalk.address is missing")
    address = cash.cctalk.address
    values = list(cash.denominations)
    if cash.device == "hopper":
        return {"address": address, "coin": values[0]}, [_port(profile, slot)], []
    if cash.device == "coin_acceptor":
        out = {"backend": cash.protocol, "coin_acceptor": {"address": address}, "coins": values}
    else:
        out = {"backend": cash.protocol, "bill_validator": {"address": address}, "notes": values}
    return out, [_port(profile, slot)], []


def _document_printer(profile: Profile, slot: Slot, overrides: Mapping[str, Any]) -> Built:
    printer = profile.facts_as(DocumentPrinterProfile)
    out: dict[str, Any] = {"backend": printer.backend, "paper": printer.paper}
    required: list[Required] = []
    if printer.backend == "cups":
        out["queue"] = printer.cups.queue
    else:
        required.append((f"{slot.section}.dir", "the directory the PDFs go to, e.g. var/kiosk-1/certificates"))
    return out, required, []


BUILDERS: Mapping[str, Builder] = {
    "displays": _display,
    "printers": _printer,
    "keypads": _keypad,
    "led_panels": _led_panel,
    "card_readers": _card_reader,
    "cash": _cash,
    "document_printers": _document_printer,
}


# --------------------------------------------------------------------------------------------
# nested keys
# --------------------------------------------------------------------------------------------


def _parts(key: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in key.split(".")]


def get_key(doc: Mapping[str, Any], key: str) -> Any:
    """The value at dotted ``key`` (``cash.hoppers.0.address``), or None."""
    node: Any = doc
    for part in _parts(key):
        in_list = isinstance(part, int) and isinstance(node, list | tuple) and part < len(node)
        in_map = isinstance(part, str) and isinstance(node, Mapping) and part in node
        if not (in_list or in_map):
            return None
        node = node[part]
    return node


def _same_kind(old: Any, new: Any) -> bool:
    if isinstance(old, bool) or isinstance(new, bool):
        return isinstance(old, bool) and isinstance(new, bool)
    if isinstance(old, int | float):
        return isinstance(new, int) or (isinstance(new, float) and isinstance(old, float))
    for kind in (str, list, dict):
        if isinstance(old, kind):
            return isinstance(new, kind)
    return True


def _kind_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, list):
        return "a list"
    return "a table"


def _set_key(doc: dict[str, Any], key: str, value: Any) -> str | None:
    """Set (or, for None, remove) dotted ``key``; a problem message when it cannot."""
    parts = _parts(key)
    node: Any = doc
    for i, part in enumerate(parts[:-1]):
        following = parts[i + 1]
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                size = len(node) if isinstance(node, list) else 0
                return f"{key}: there is no item {part} (the list has {size})"
            node = node[part]
        else:
            if not isinstance(node, dict):
                return f"{key}: {'.'.join(map(str, parts[:i]))} is not a table"
            if part not in node:
                if isinstance(following, int):
                    return f"{key}: there is no list {part} here"
                node[part] = {}
            node = node[part]
    last = parts[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            return f"{key}: there is no item {last}"
        old = node[last]
    elif not isinstance(node, dict):
        return f"{key}: {'.'.join(map(str, parts[:-1]))} is not a table"
    else:
        old = node.get(last)
    if value is None:
        if isinstance(last, str) and isinstance(node, dict):
            node.pop(last, None)
        else:
            return f"{key}: an item of a list cannot be removed"
        return None
    if old is not None and not _same_kind(old, value):
        return f"{key}: expected {_kind_name(old)} like {describe(old)}, got {describe(value)}"
    node[last] = copy.deepcopy(value)
    return None


# --------------------------------------------------------------------------------------------
# resolving
# --------------------------------------------------------------------------------------------


def _chosen(slot: Slot, choices: Mapping[str, Choice], problems: list[str]) -> tuple[str, ...]:
    if slot.name not in choices:
        return slot.default
    chosen = choices[slot.name]
    if chosen is None or chosen == "none" or (not isinstance(chosen, str) and not chosen):
        return ()
    if isinstance(chosen, str):
        keys = tuple(k.strip() for k in chosen.split(",") if k.strip())
    elif isinstance(chosen, list | tuple) and all(isinstance(k, str) for k in chosen):
        keys = tuple(chosen)
    else:
        problems.append(f"{slot.name}: expected a model key (or a list of them), got {describe(chosen)}")
        return ()
    if not slot.multiple and len(keys) != 1:
        problems.append(f"{slot.name}: takes one model, got {len(keys)} ({', '.join(keys)})")
        return ()
    return keys


def _eligible(catalog: Catalog, slot: Slot) -> list[str]:
    return [p.key for p in catalog.models(slot.kind) if slot.refusal(p) is None]


def resolve_role(
    catalog: Catalog,
    role: str | Role,
    choices: Mapping[str, Choice] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ResolvedProfile:
    """Resolve ``role`` with ``choices`` (slot -> model key; the role's default where absent;
    ``"none"`` leaves an optional slot empty) and ``overrides`` (dotted configuration key ->
    value). ResolveError lists every problem, each naming its slot or key and the fix."""
    the_role = catalog.role(role) if isinstance(role, str) else role
    choices = dict(choices or {})
    overrides = dict(overrides or {})
    problems: list[str] = []
    names = [s.name for s in the_role.slots]
    for name in choices:
        if name not in names:
            problems.append(
                f"{name}: the {the_role.key} role has no such slot{did_you_mean(name, names)}; its slots: {', '.join(names)}"
            )

    models: dict[str, tuple[Profile, ...]] = {}
    for slot in the_role.slots:
        before = len(problems)
        keys = _chosen(slot, choices, problems)
        if not keys:
            if slot.required and len(problems) == before:
                what = f" ({slot.help})" if slot.help else ""
                if slot.multiple:
                    how = f"choose some: {slot.name}=<{','.join(_eligible(catalog, slot)) or 'none in the catalog'}>"
                else:
                    how = f"choose one: {slot.name}=<{' | '.join(_eligible(catalog, slot)) or 'none in the catalog'}>"
                problems.append(f"{slot.name}: required by the {the_role.key} role{what}; {how}")
            models[slot.name] = ()
            continue
        found = []
        for key in keys:
            try:
                profile = catalog.model(slot.kind, key)
            except ProfileError as err:
                problems.append(f"{slot.name}: {err}")
                continue
            refusal = slot.refusal(profile)
            if refusal:
                problems.append(f"{slot.name}: {refusal}; choose one of {', '.join(_eligible(catalog, slot))}")
                continue
            found.append(profile)
        models[slot.name] = tuple(found)
    if problems:
        raise ResolveError(*problems)

    config, required = _build(the_role, models, overrides, problems)
    for key, value in overrides.items():
        problem = _check_override(the_role, models, key) or _set_key(config, key, value)
        if problem:
            problems.append(problem)
    if not problems:
        for key, help_text in required:
            if get_key(config, key) in (None, ""):
                problems.append(f"{key}: required: {help_text}; set it with {key}=…")
        problems += _cross_checks(the_role, models, config, complete=not problems)
    if problems:
        raise ResolveError(*problems)
    config = _ordered(the_role, config)
    digest = hashlib.sha256(_canonical(the_role, models, config)).hexdigest()
    return ResolvedProfile(the_role, dict(models), freeze(config), digest)


def _build(
    role: Role, models: Mapping[str, tuple[Profile, ...]], overrides: Mapping[str, Any], problems: list[str]
) -> tuple[dict[str, Any], list[Required]]:
    config: dict[str, Any] = {name: {} for name in role.sections}
    for section, values in thaw(role.settings).items():
        config[section].update(values)
    required: list[Required] = []
    for slot in role.slots:
        found = models.get(slot.name, ())
        if not found:
            continue
        built = []
        for profile in found:
            values, needed, trouble = BUILDERS[slot.kind](profile, slot, overrides)
            built.append(values)
            required += [r for r in needed if r not in required]
            problems += trouble
        head, *rest = slot.section.split(".")
        target = config[head]
        for part in rest[:-1]:
            target = target.setdefault(part, {})
        value: Any = built if slot.multiple else built[0]
        if rest:
            target[rest[-1]] = value
        else:
            target.update(value)
    # Keep only what the app reads; leave out sections nothing writes into.
    kept: dict[str, Any] = {}
    for name, keys in role.sections.items():
        section = {k: v for k, v in config[name].items() if k in keys}
        if section or _owned(role, models, name):
            kept[name] = section
    return kept, required


def _ordered(role: Role, config: Mapping[str, Any]) -> dict[str, Any]:
    """Sections and their keys in the order the role lists them (a stable, readable file)."""
    return {
        name: {k: config[name][k] for k in keys if k in config[name]}
        for name, keys in role.sections.items()
        if name in config
    }


def _owned(role: Role, models: Mapping[str, tuple[Profile, ...]], section: str) -> bool:
    """True when a chosen slot writes into ``section`` (so it is written even while empty)."""
    return any(models.get(s.name) and s.section.split(".")[0] == section for s in role.slots)


def _check_override(role: Role, models: Mapping[str, tuple[Profile, ...]], key: str) -> str | None:
    parts = key.split(".") if isinstance(key, str) else []
    if len(parts) < 2 or not all(parts):
        return f"{key!r}: expected section.key, e.g. keypad.port"
    head = parts[0]
    if head == DEVICE_SECTION:
        return (
            f"{key}: the [device] section comes from the role and the identity (site, device id, broker), not overrides"
        )
    if head not in role.sections:
        known = list(role.sections)
        return (
            f"{key}: {role.app} reads no [{head}] section{did_you_mean(head, known)}; its sections: {', '.join(known)}"
        )
    allowed = role.sections[head]
    if parts[1] not in allowed:
        return f"{key}: {role.app} does not read {head}.{parts[1]}{did_you_mean(parts[1], allowed)}; [{head}] has {', '.join(allowed)}"
    for slot in role.slots:
        if key == slot.section and "." in slot.section:
            item = f"{key}.0.address" if slot.multiple else f"{key}.address"
            return f"{key}: written by the {slot.name} slot; choose its models ({slot.name}=…) or override single keys ({item}=…)"
    owners = [s for s in role.slots if parts[: len(s.section.split("."))] == s.section.split(".") or key == s.port_key]
    if owners and not any(models.get(s.name) for s in owners):
        names = " or ".join(s.name for s in owners)
        return f"{key}: no model in the {names} slot, so nothing reads it; choose one ({owners[0].name}=…) or drop the override"
    return None


def _addresses(node: Any, path: str) -> list[tuple[str, Any]]:
    """(key, value) of every ``address`` under ``node``, in order."""
    found: list[tuple[str, Any]] = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "address":
                found.append((f"{path}.address", value))
            else:
                found += _addresses(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found += _addresses(item, f"{path}.{i}")
    return found


def _cross_checks(
    role: Role, models: Mapping[str, tuple[Profile, ...]], config: Mapping[str, Any], *, complete: bool
) -> list[str]:
    """Rules across the configuration's values; ``complete`` when every required key is there
    (only then is a section read whole, as its driver will read it)."""
    problems: list[str] = []
    for slot in role.slots:
        found = models.get(slot.name, ())
        if not found:
            continue
        section = get_key(config, slot.section)
        if slot.kind == "led_panels" and isinstance(section, Mapping):
            rows = found[0].facts_as(LedPanelProfile).rows
            counters = section.get("counters")
            if (
                not isinstance(counters, list)
                or not counters
                or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in counters)
                or len(set(counters)) != len(counters)
            ):
                problems.append(
                    f"{slot.section}.counters: expected distinct counter numbers, one per row, e.g. [1, 2, 3]"
                )
            elif len(counters) > rows:
                problems.append(
                    f"{slot.section}.counters: the {found[0].name} has {rows} rows, got {len(counters)} counters; "
                    f"list at most {rows}"
                )
        if slot.kind == "printers" and complete:
            # What the app will read, read as the driver reads it (its serial line included).
            try:
                parse_printer_config(section, slot.section)
            except PrinterConfigError as err:
                problems.append(str(err))
    # Devices on one ccTalk bus need distinct addresses.
    if any(s.kind == "cash" and models.get(s.name) for s in role.slots) and isinstance(config.get("cash"), Mapping):
        host = config["cash"].get("host_address", 1)
        seen: dict[Any, str] = {host: "the host (cash.host_address)"}
        for where, address in _addresses(config["cash"], "cash"):
            if address in seen:
                problems.append(
                    f"{where}: {address} is also the address of {seen[address]} on the same bus; "
                    f"give each device its own (set {where}=…)"
                )
            seen[address] = where
    return problems


# --------------------------------------------------------------------------------------------
# comparing with what is on the device
# --------------------------------------------------------------------------------------------


def diff_configs(old: str | None, new: str, path: str) -> str:
    """A unified diff from the current configuration text (None: no file yet) to the new one."""
    before = old.splitlines(keepends=True) if old is not None else []
    lines = difflib.unified_diff(
        before,
        new.splitlines(keepends=True),
        fromfile=f"{path} (current)" if old is not None else "/dev/null",
        tofile=f"{path} (resolved)",
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def profile_hash_of(text: str | None) -> str | None:
    """The profile hash (hex) a written configuration records, or None (no file, hand-written,
    unreadable)."""
    if text is None:
        return None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    device = doc.get(DEVICE_SECTION)
    value = device.get("profile_hash") if isinstance(device, dict) else None
    if isinstance(value, str) and value.startswith(HASH_PREFIX):
        return value[len(HASH_PREFIX) :]
    return None
