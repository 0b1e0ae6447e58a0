"""Hardware models and device roles as data (DESIGN.md decision 11).

One YAML file per hardware model under ``models/<kind>/`` and one per role under ``roles/``,
with ``inherits:`` and ``schema_version``; validated by a schema whose errors name the file and
the key path and say how to fix it.

    catalog = load_catalog()                                   # the built-in profiles
    catalog.model("printers", "tm-t88v").supports("qr_code")   # ask, never compare names
    report = detect(catalog, "dispenser", scan_usb(), scan_serial())
    resolved = resolve_role(catalog, "dispenser", report.choices(), report.overrides())
    apply(catalog, "dispenser", site=…, device_id=…, broker=…, path=…, choices=…, overrides=…)

Modules: schema.py (the schema and its checks), ports.py (what serial drivers need from their
port), loader.py (files -> Catalog), resolve.py (role + choices + overrides -> configuration,
hash, diff), detect.py (enumerations -> report), scan.py (the real enumerations), apply.py
(atomic write), tomlwrite.py (TOML out). Only scan.py and apply.py do I/O besides load_catalog.
"""

from firmware_profiles.apply import ApplyResult, apply, apply_resolved, write_atomic
from firmware_profiles.detect import DetectionReport, SerialPort, SlotFinding, Status, UsbDevice, detect
from firmware_profiles.errors import (
    ApplyError,
    CatalogError,
    DetectError,
    ProfileError,
    ResolveError,
    SchemaError,
)
from firmware_profiles.loader import Catalog, Profile, Role, Slot, build_catalog, load_catalog, printer_model_fields
from firmware_profiles.resolve import (
    Identity,
    ResolvedProfile,
    diff_configs,
    parse_choice,
    parse_override,
    profile_hash_of,
    resolve_role,
)
from firmware_profiles.scan import scan_serial, scan_usb

__all__ = [
    "ApplyError",
    "ApplyResult",
    "Catalog",
    "CatalogError",
    "DetectError",
    "DetectionReport",
    "Identity",
    "Profile",
    "ProfileError",
    "ResolveError",
    "ResolvedProfile",
    "Role",
    "SchemaError",
    "SerialPort",
    "Slot",
    "SlotFinding",
    "Status",
    "UsbDevice",
    "apply",
    "apply_resolved",
    "build_catalog",
    "detect",
    "diff_configs",
    "load_catalog",
    "parse_choice",
    "parse_override",
    "printer_model_fields",
    "profile_hash_of",
    "resolve_role",
    "scan_serial",
    "scan_usb",
    "write_atomic",
]
