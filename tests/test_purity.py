"""The domain core stays pure: no I/O libraries, no wall clock (STYLE.md, practice 1)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PURE = [
    "sync/hlc.py",
    "sync/clock.py",
    "sync/leases.py",
    "sync/events.py",
    "office/domain.py",
    "office/leasing.py",
    "office/calendar.py",
    "office/estimate.py",
    "office/commands.py",
    "office/simstaff.py",
    "ticket_dispenser/numbering.py",
    "ticket_dispenser/ticket.py",
    "ticket_dispenser/presenter.py",
    "drivers/japanese_numbers.py",
    "drivers/printer_status.py",
    "drivers/chime.py",
    "display_board/model.py",
    "office/card_auth.py",
    "office/registry.py",
    "office/certificates.py",
    "firmware_profiles/schema.py",
    "firmware_profiles/resolve.py",
    "firmware_profiles/detect.py",
    "firmware_profiles/ports.py",
    "firmware_profiles/tomlwrite.py",
    "kiosk/flow.py",
    "kiosk/recovery.py",
    "kiosk/binding.py",
    "kiosk/ports.py",
    "kiosk/presenter.py",
]
FORBIDDEN_MODULES = {
    "kivy",
    "paho",
    "tinydb",
    "serial",
    "escpos",
    "usb",
    "sqlite3",
    "socket",
    "amqtt",
    "subprocess",
    "threading",
}
FORBIDDEN_CALLS = {
    ("time", "time"),
    ("time", "monotonic"),
    ("datetime", "now"),
    ("datetime", "today"),
    ("date", "today"),
}


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def _clock_reads(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and (node.func.value.id, node.func.attr) in FORBIDDEN_CALLS
        ):
            found.append(f"line {node.lineno}: {node.func.value.id}.{node.func.attr}()")
    return found


@pytest.mark.parametrize("path", PURE)
def test_pure_module_imports_no_io_and_reads_no_clock(path: str) -> None:
    tree = ast.parse((REPO / path).read_text(encoding="utf-8"))
    assert not (_imports(tree) & FORBIDDEN_MODULES), f"{path} imports {_imports(tree) & FORBIDDEN_MODULES}"
    assert not _clock_reads(tree), f"{path} reads the clock: {_clock_reads(tree)}"


def test_the_scan_would_catch_an_offender() -> None:
    tree = ast.parse("import paho.mqtt.client as m\nimport time\nx = time.time()\n")
    assert _imports(tree) & FORBIDDEN_MODULES == {"paho"}
    assert _clock_reads(tree) == ["line 3: time.time()"]
