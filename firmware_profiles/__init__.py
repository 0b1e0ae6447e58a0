"""Hardware models and device roles as data, and provisioning (DESIGN.md decision 11).

What it holds: one YAML file per hardware model under ``models/<kind>/`` and one per role under
``roles/`` (with ``inherits:``, ``abstract:`` and ``schema_version``), the typed msgspec models
they are validated against through :mod:`common.validation` (errors name the file, the key path
and the fix), and the provisioning tool built on them, ``madoguchi-provision``: detect what is
plugged in, resolve a role into a device configuration, apply it atomically, enrol the device,
self-test and report its status.

    catalog = load_catalog()                                   # the built-in profiles
    catalog.model("printers", "tm-t88v").supports("qr_code")   # ask, never compare names
    report = detect(catalog, "dispenser", scan_usb(), scan_serial())
    resolved = resolve_role(catalog, "dispenser", report.choices(), report.overrides())
    apply(catalog, "dispenser", site=…, device_id=…, broker=…, path=…, choices=…, overrides=…)

Modules: profile_models.py (the profile and role models, their cross-field checks, the kinds),
partial.py (a model's all-optional twin, for checking one file of a chain), catalog.py (Profile,
Role, Slot, Catalog), loader.py (files -> Catalog), ports.py (which driver's serial line a kind's
profiles are checked against), printers.py (a printer profile as the driver's
``PrinterModel``), packaged.py (an app's look-up of a printer model in the packaged catalog),
resolve.py (role + choices + overrides -> device configuration, hash, diff), detect.py
(enumerations -> report), scan.py (the real enumerations), apply.py (atomic write), tomlwrite.py
(TOML out), errors.py (the one exception root), enroll.py, pairing_flow.py (the steps after
the first boot, shared by the setup screen and ``madoguchi-provision pair``), selftest.py,
status.py and cli.py (the commands).

What it may import: of the project, ``common`` and the cores beside each other below it -
``drivers`` (their declarations: a printer's facts type, what each serial driver needs of its
port, the configuration sections they read; the self-test opens the drivers themselves),
``sync`` (ids, topics and the broker link for enrolment, self-test and status) and
``certificates``; never an app (the apps import it: an app whose configuration names a printer
model reads the model's facts through packaged.py). The models, catalog, resolve and detect
modules are pure (tests/test_purity.py); only scan.py, apply.py and the commands do I/O
besides reading the catalog.

The names below are imported on first use, so that ``import firmware_profiles.packaged`` at an
app's start does not load provisioning's modules too.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from firmware_profiles.apply import ApplyResult, apply, apply_resolved, write_atomic
    from firmware_profiles.catalog import Catalog, Profile, Role, Slot
    from firmware_profiles.detect import DetectionReport, SerialPort, SlotFinding, Status, UsbDevice, detect
    from firmware_profiles.errors import (
        ApplyError,
        CatalogError,
        DetectError,
        ProfileError,
        ResolveError,
        SchemaError,
    )
    from firmware_profiles.loader import build_catalog, load_catalog
    from firmware_profiles.printers import printer_model
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

_WHERE = {
    "apply": ("ApplyResult", "apply", "apply_resolved", "write_atomic"),
    "catalog": ("Catalog", "Profile", "Role", "Slot"),
    "detect": ("DetectionReport", "SerialPort", "SlotFinding", "Status", "UsbDevice", "detect"),
    "errors": ("ApplyError", "CatalogError", "DetectError", "ProfileError", "ResolveError", "SchemaError"),
    "loader": ("build_catalog", "load_catalog"),
    "printers": ("printer_model",),
    "resolve": (
        "Identity",
        "ResolvedProfile",
        "diff_configs",
        "parse_choice",
        "parse_override",
        "profile_hash_of",
        "resolve_role",
    ),
    "scan": ("scan_serial", "scan_usb"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

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
    "printer_model",
    "profile_hash_of",
    "resolve_role",
    "scan_serial",
    "scan_usb",
    "write_atomic",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'firmware_profiles' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"firmware_profiles.{module}"), name)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


class _Package(types.ModuleType):
    """This package, where ``apply`` and ``detect`` stay the functions: importing their modules
    would otherwise bind the module objects to those names on the package."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return  # the submodule stays reachable as sys.modules["firmware_profiles.<name>"]
        super().__setattr__(name, value)


_SHADOWED = frozenset(name for name, module in _MODULE_OF.items() if name == module)
sys.modules[__name__].__class__ = _Package
