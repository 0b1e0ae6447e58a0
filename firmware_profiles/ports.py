"""Which driver talks to which kind of profile over a serial port, and the check of a profile's
``serial:`` settings against that driver's own declaration (ESPHome: "a device declares what it
needs from its bus").

Nothing is repeated here, and nothing is listed: each driver declares its line beside its code
(:class:`drivers.serial_line.SerialLine`, e.g. ``drivers.keypad.LINE``), saying what it serves
(``serves=("keypads",)``), and opens its port with it. :func:`lines` is the registry those
declarations feed: it finds every module-level ``SerialLine`` in the drivers package, so a new
serial driver is checked at provisioning without an edit here - a keypad profile that says
115200 baud fails at provisioning with the key path, not in the lobby with silence.

The sources are read, not imported, to find the declarations (a module-level ``SerialLine(…,
serves=(…))``); a driver's module is imported only when a line it serves is looked up - an app
reading the printer profiles need not load the keypad's driver, and modules declaring no line
(python-escpos's, pyscard's) never are. Two drivers serving the same thing is a programming
error, raised when that line is looked up.

Not pure by the purity test's measure: it imports the drivers, whose modules hold their threads.
Only the loader imports it; resolve.py and detect.py stay clear of it.
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import pkgutil
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType

import msgspec

import drivers
from common.validation import Invalid
from drivers.serial_line import SerialLine
from firmware_profiles.profile_models import CashProfile, KindModel

_DECLARES = "SerialLine("


@cache
def _declarations() -> Mapping[str, frozenset[str] | None]:
    """Module -> what its lines serve, read from the drivers package's sources without importing
    them (None: the module declares a line whose ``serves`` is not written out; it is imported
    whenever a line is looked up)."""
    found: dict[str, frozenset[str] | None] = {}
    for name, origin in _sources(drivers.__path__, f"{drivers.__name__}."):
        if origin is None or not origin.endswith(".py"):
            found[name] = None  # no source to read: import it and see
            continue
        source = Path(origin).read_text(encoding="utf-8")
        if _DECLARES in source:
            found[name] = _served(source)
    return MappingProxyType(found)


def _sources(path: Iterable[str], prefix: str) -> Iterator[tuple[str, str | None]]:
    """(module, its file) for every module under ``path``, subpackages' included, none imported
    (pkgutil.walk_packages would import the subpackages: drivers.cash and all it imports)."""
    for module in pkgutil.iter_modules(path, prefix):
        finder = module.module_finder
        spec = finder.find_spec(module.name) if isinstance(finder, importlib.machinery.FileFinder) else None
        if module.ispkg:
            inside = spec.submodule_search_locations if spec is not None else None
            if inside:
                yield from _sources(inside, f"{module.name}.")
            continue
        yield module.name, spec.origin if spec is not None else None


def _served(source: str) -> frozenset[str] | None:
    """What the module-level ``SerialLine(…, serves=(…))`` calls in ``source`` serve."""
    served: set[str] = set()
    for node in ast.parse(source).body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "SerialLine"):
            continue
        for keyword in value.keywords:
            if keyword.arg == "serves":
                try:
                    served |= set(ast.literal_eval(keyword.value))
                except ValueError:
                    return None
    return frozenset(served)


def _gather(modules: Iterable[str], wanted: str | None = None) -> dict[str, SerialLine]:
    found: dict[str, SerialLine] = {}
    for name in modules:
        for value in vars(importlib.import_module(name)).values():
            if not isinstance(value, SerialLine):
                continue
            for served in value.serves:
                if wanted is not None and served != wanted:
                    continue
                other = found.setdefault(served, value)
                if other is not value:
                    raise RuntimeError(f"{other.driver} and {value.driver} both declare a serial line for {served!r}")
    return found


@cache
def lines() -> Mapping[str, SerialLine]:
    """Every serial driver's declaration, by what it serves (a kind of profile, or a protocol)."""
    return MappingProxyType(_gather(_declarations()))


@cache
def declared_line(name: str) -> SerialLine | None:
    """The declaration of the serial driver serving ``name`` (``"keypads"``, ``"cctalk"``…), or
    None when no driver talks to it over a serial port.

    Only the modules declaring a line for ``name`` are imported: an app reading the printer
    profiles at start need not load the keypad's, the LED panel's or the ccTalk driver."""
    modules = [module for module, serves in _declarations().items() if serves is None or name in serves]
    return _gather(modules, name).get(name)


def forget() -> None:
    """Read the drivers package again at the next look-up (a driver added while running: tests)."""
    for cached in (_declarations, lines, declared_line):
        cached.cache_clear()


def line_for(kind: str, facts: KindModel) -> SerialLine | None:
    """The declaration of the driver that talks to ``facts`` over a serial port, or None."""
    return declared_line(facts.protocol if isinstance(facts, CashProfile) else kind)


def port_problems(kind: str, facts: KindModel) -> Iterator[Invalid]:
    """Every ``serial.<key>`` of the profile its driver cannot work with (none without a port)."""
    settings = getattr(facts, "serial", None)
    if settings is None:
        return
    line = line_for(kind, facts)
    if line is None:
        return
    for key, message in line.problems(msgspec.structs.asdict(settings)):
        yield Invalid(("serial", key), message)
