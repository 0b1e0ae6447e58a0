"""The domain core stays pure: no I/O libraries, no wall clock (STYLE.md, practice 1).

Imports are followed transitively through the project's own modules, lazy ones inside
functions included (grimp, import-linter's import graph): a pure module that imports a
module that imports paho is not pure.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import grimp
import pytest

from harness import project_packages

REPO = Path(__file__).resolve().parents[1]
PACKAGES = project_packages()
PURE = [
    "common.calendar",
    "common.i18n",
    "sync.hlc",
    "sync.clock",
    "sync.leases",
    "sync.events",
    "office.domain",
    "office.leasing",
    "office.estimate",
    "office.commands",
    "office.simstaff",
    "office.ticket_log",
    "office.stats.journey",
    "office.stats.figures",
    "office.stats.forecast",
    "office.stats.history",
    "office.stats.outlook",
    "office.stats.table",
    "ticket_dispenser.numbering",
    "ticket_dispenser.ticket",
    "ticket_dispenser.presenter",
    "drivers.japanese_numbers",
    "drivers.printer_status",
    "drivers.ticket_printer",
    "drivers.chime",
    "display_board.model",
    "certificates.card_auth",
    "certificates.registry",
    "certificates.rules",
    "firmware_profiles.profile_models",
    "firmware_profiles.partial",
    "firmware_profiles.catalog",
    "firmware_profiles.printers",
    "firmware_profiles.resolve",
    "firmware_profiles.detect",
    "firmware_profiles.tomlwrite",
    "drivers.serial_line",
    "drivers.printer_model",
    "kiosk.flow",
    "kiosk.flow.card",
    "kiosk.flow.choices",
    "kiosk.flow.config",
    "kiosk.flow.constants",
    "kiosk.flow.effects",
    "kiosk.flow.errors",
    "kiosk.flow.events",
    "kiosk.flow.issuance",
    "kiosk.flow.machine",
    "kiosk.flow.money",
    "kiosk.flow.office",
    "kiosk.flow.options",
    "kiosk.flow.settlement",
    "kiosk.flow.state",
    "kiosk.flow.timeouts",
    "kiosk.flow.transaction",
    "kiosk.recovery",
    "kiosk.binding",
    "kiosk.ports",
    "kiosk.presenter",
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


@cache
def _graph() -> grimp.ImportGraph:
    # Imports under TYPE_CHECKING never run: a pure module may name an I/O class in a hint.
    return grimp.build_graph(
        *PACKAGES, include_external_packages=True, exclude_type_checking_imports=True, cache_dir=None
    )


def _file(module: str) -> Path:
    path = REPO.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _reached(module: str) -> set[str]:
    """Every module ``module`` imports, directly or through the project's own modules."""
    return _graph().find_upstream_modules(module)


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


@pytest.mark.parametrize("module", PURE)
def test_pure_module_reaches_no_io_and_reads_no_clock(module: str) -> None:
    bad = sorted(m for m in _reached(module) if m.split(".")[0] in FORBIDDEN_MODULES)
    chain = _graph().find_shortest_chain(module, bad[0]) if bad else None
    assert not bad, f"{module} reaches {', '.join(bad)}: {' -> '.join(chain or ())}"
    # Pure modules of the project it reaches must not read the clock either.
    for reached in sorted({module} | {m for m in _reached(module) if m.split(".")[0] in PACKAGES}):
        tree = ast.parse(_file(reached).read_text(encoding="utf-8"))
        assert not _clock_reads(tree), f"{module} reaches {reached}, which reads the clock: {_clock_reads(tree)}"


def test_the_scan_would_catch_an_offender_two_imports_away(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "pure.py").write_text("def f():\n    from pkg import middle\n    return middle\n")
    (tmp_path / "pkg" / "middle.py").write_text("import paho.mqtt.client as m\n")
    (tmp_path / "pkg" / "clock.py").write_text("import time\nx = time.time()\n")
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        graph = grimp.build_graph("pkg", include_external_packages=True, cache_dir=None)
    finally:
        sys.path.remove(str(tmp_path))
    assert "paho" in graph.find_upstream_modules("pkg.pure")
    assert graph.find_shortest_chain("pkg.pure", "paho") == ("pkg.pure", "pkg.middle", "paho")
    assert _clock_reads(ast.parse((tmp_path / "pkg" / "clock.py").read_text())) == ["line 2: time.time()"]


def test_the_import_contracts_hold() -> None:
    """The dependency rule of docs/architecture.md (setup.cfg's [importlinter] contracts)."""
    import subprocess
    import sys

    run = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=REPO,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout
