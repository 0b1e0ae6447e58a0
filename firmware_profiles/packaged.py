"""An app's look-up of its printer model in the catalog packaged with madoguchi.

A device configuration written by ``madoguchi-provision apply`` carries the model's facts
(``[printer.facts]``): the app starts without reading any profile. A configuration written by
hand (the demo, a bench, a test) names only the model (``model = "TM-T20III"``); the app then
reads the packaged printer profiles - only ``models/printers/``, once per process - and takes
that model's facts (docs/architecture.md has what it costs at start).
"""

from __future__ import annotations

import difflib
from functools import cache

from drivers.printer_model import PrinterConfig, PrinterConfigError, PrinterModel
from firmware_profiles.catalog import Catalog
from firmware_profiles.errors import ProfileError
from firmware_profiles.loader import BUILTIN_ROOT, build_catalog, catalog_files
from firmware_profiles.printers import printer_model

PRINTERS = "models/printers/"


@cache
def packaged_printers() -> Catalog:
    """The printer profiles shipped with madoguchi, validated (read once per process)."""
    files = {
        rel: path.read_text(encoding="utf-8") for rel, path in catalog_files(BUILTIN_ROOT) if rel.startswith(PRINTERS)
    }
    return build_catalog(files, root=str(BUILTIN_ROOT))


def printer_model_named(name: str, key: str = "printer.model") -> PrinterModel:
    """The facts of the packaged printer model ``name`` (the maker's name, ``TM-T20III``, or the
    profile's key, ``tm-t20iii``). :class:`PrinterConfigError` names ``key``, the closest name and
    the known ones."""
    catalog = packaged_printers()
    try:
        profile = catalog.model("printers", name)
    except ProfileError:
        names = [p.name for p in catalog.models("printers")]
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
        hint = f'; did you mean "{close[0]}"?' if close else ""
        raise PrinterConfigError(
            key,
            f"unknown printer model {name!r}{hint}; known models: {', '.join(names)} "
            "(or give the model's facts as [printer.facts])",
        ) from None
    return printer_model(profile)


def printer_facts(config: PrinterConfig, key: str = "printer") -> PrinterModel:
    """The facts the printer section's driver needs: the ones provisioning wrote, or else the
    packaged model's (:class:`PrinterConfigError` for a model the catalog does not know)."""
    if config.facts is not None:
        return config.facts
    return printer_model_named(config.model, f"{key}.model")
