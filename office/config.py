"""Load an office site configuration (TOML) into the typed model :class:`sync.site.SiteConfig`.

The model and its checks live in :mod:`sync.site`; here the file is read, the kiosk's fees are
checked by the certificates' own rules, a relative JPKI CA path is taken relative to the site
file, and ``[console] desk_printer`` is parsed, once, into the typed printer configuration the
console opens (:class:`OfficeConfig`). Errors are one line that names the file, the key path and
the fix (STYLE.md, ESPHome).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from certificates.rules import CertificateError, FeeSchedule
from common.validation import Invalid
from drivers.printer_model import PrinterConfig, PrinterConfigError, parse_printer_config
from firmware_profiles.packaged import printer_model_named
from office.domain import OfficeError
from sync import site as sitemod
from sync.site import SiteConfig

BUNDLED = "default_site.toml"


class ConfigError(OfficeError):
    """A site configuration that cannot be used; the message names the key and the fix."""


class OfficeConfig(NamedTuple):
    """A site file as the office runs it: the site, and the typed values only the office reads."""

    site: SiteConfig
    desk_printer: PrinterConfig | None  # [console] desk_printer; None when the table is empty


def desk_printer(site: SiteConfig) -> PrinterConfig | None:
    """The site's ``[console] desk_printer`` table as a typed printer configuration, checked as a
    dispenser's ``[printer]`` is and its model known to the packaged profiles when it gives no
    facts; None when the table is empty. ConfigError names the key and the fix."""
    if not site.console.desk_printer:
        return None
    key = "console.desk_printer"
    try:
        printer = parse_printer_config(site.console.desk_printer, key)
        if printer.facts is None:
            printer_model_named(printer.model, f"{key}.model")
    except PrinterConfigError as err:
        raise ConfigError(str(err)) from err
    return printer


def parse_office(doc: Mapping[str, Any], source: str = "config") -> OfficeConfig:
    """Validate a parsed TOML document; raise ConfigError naming the first bad key.

    ``source`` is the file the document came from: a relative ``kiosk.jpki_ca`` is taken
    relative to it.
    """
    try:
        site = sitemod.parse(doc)
    except Invalid as err:
        raise ConfigError(str(err)) from err
    try:
        fees = FeeSchedule.from_config(site.kiosk.fees, path="kiosk.fees").to_dict()
    except CertificateError as err:
        raise ConfigError(str(err)) from err
    ca = site.kiosk.jpki_ca
    if ca and not Path(ca).is_absolute() and source not in ("config", BUNDLED):
        ca = str(Path(source).resolve().parent / ca)  # relative to the site file
    kiosk = msgspec.structs.replace(site.kiosk, fees=fees, jpki_ca=ca)
    return OfficeConfig(msgspec.structs.replace(site, kiosk=kiosk), desk_printer(site))


def parse(doc: Mapping[str, Any], source: str = "config") -> SiteConfig:
    """The site of :func:`parse_office`, for those that need nothing else."""
    return parse_office(doc, source).site


def load_office(path: Path | None = None) -> OfficeConfig:
    """Load a site file, or the bundled demo town when ``path`` is None."""
    if path is None:
        text = resources.files("office").joinpath(BUNDLED).read_text(encoding="utf-8")
        source = BUNDLED
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"{path}: cannot read the site configuration ({err.strerror})") from err
        except UnicodeDecodeError as err:
            raise ConfigError(f"{path}: not UTF-8 text; save the site configuration as UTF-8") from err
        source = str(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: not valid TOML ({err})") from err
    try:
        return parse_office(doc, source)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from err


def load(path: Path | None = None) -> SiteConfig:
    """The site of :func:`load_office`, for those that need nothing else."""
    return load_office(path).site
