"""A certificate's options (住民票 scope and items, 戸籍 variant, 所得 fiscal year): the value the
resident builds on the options screen, its check, its defaults and its form on the office wire."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kiosk.flow.constants import MAX_COPIES


@dataclass(frozen=True)
class CertificateOptions:
    """The resident's choices for one certificate kind (unused fields stay at their defaults).

    住民票 (juminhyo): ``scope`` "household" | "members" (``members`` chosen after the office
    named the household), ``with_honseki``, ``with_zokugara``, ``with_my_number`` (omitted
    unless asked). 戸籍 (koseki): ``variant`` "tohon" | "shohon". 所得・課税 (shotoku):
    ``fiscal_year``.
    """

    scope: str = "household"
    members: tuple[str, ...] = ()
    with_honseki: bool = False
    with_zokugara: bool = False
    with_my_number: bool = False
    variant: str | None = None
    fiscal_year: int | None = None


def check_options(kind: str, options: CertificateOptions, copies: int, max_copies: int = MAX_COPIES) -> str | None:
    """None when ``options`` and ``copies`` suit ``kind``, else a notice code for the screen."""
    if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= max_copies:
        return "bad_copies"
    if kind == "juminhyo":
        if options.scope not in ("household", "members"):
            return "bad_scope"
        if options.scope == "household" and options.members:
            return "bad_scope"
    elif options.scope != "household" or options.members or options.with_honseki or options.with_zokugara:
        return "bad_options"
    if kind != "juminhyo" and options.with_my_number:
        return "bad_options"
    if kind == "koseki":
        if options.variant not in ("tohon", "shohon"):
            return "bad_variant"
    elif options.variant is not None:
        return "bad_options"
    if kind == "shotoku":
        year = options.fiscal_year
        if isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 2100:
            return "bad_fiscal_year"
    elif options.fiscal_year is not None:
        return "bad_options"
    return None


def default_options(kind: str) -> CertificateOptions:
    """The options a kind starts with on the options screen."""
    if kind == "koseki":
        return CertificateOptions(variant="tohon")
    return CertificateOptions()


def options_wire(kind: str, options: CertificateOptions) -> dict[str, Any]:
    """The ``options`` object of the office's authenticate/issue requests for ``kind``."""
    if kind == "juminhyo":
        wire: dict[str, Any] = {
            "scope": options.scope,
            "with_honseki": options.with_honseki,
            "with_zokugara": options.with_zokugara,
            "with_my_number": options.with_my_number,
        }
        if options.scope == "members":
            wire["members"] = list(options.members)
        return wire
    if kind == "koseki":
        return {"variant": options.variant}
    if kind == "shotoku":
        return {"fiscal_year": options.fiscal_year}
    return {}
