"""The kiosk's A4 certificate printer, as its device configuration names it: the
``[document_printer]`` section's model and its settling for one backend.

``cups`` (``queue``, ``wait_s``, ``options``) prints through a CUPS queue; ``dir`` (also
written ``pdf_dir``) writes one PDF per copy in a directory - the demo's and the tests' printer,
which ``sheets``, ``jam_after`` and ``delay_s`` script. The printers themselves are the kiosk's
(kiosk.printers); the model is here, with the other drivers' sections, so that the kiosk and
provisioning's self-test (firmware_profiles.selftest) read the section the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import msgspec

from common.validation import Invalid, info

__all__ = ["DocumentPrinterSection", "DocumentPrinterSettings", "document_printer_settings"]

Seconds = Annotated[float, info(ge=0, le=86_400, what="a number of seconds, at least 0")]


class DocumentPrinterSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``[document_printer]`` section: ``cups`` (``queue``, ``wait_s``, ``options``) or
    ``dir`` (``pdf_dir``: one PDF per copy in ``dir``; ``sheets``, ``jam_after``, ``delay_s``
    script a demo). A key of the other backend is refused by :func:`document_printer_settings`."""

    noun: ClassVar[str] = "table"
    CUPS_KEYS: ClassVar[frozenset[str]] = frozenset({"backend", "paper", "queue", "wait_s", "options"})
    DIR_KEYS: ClassVar[frozenset[str]] = frozenset({"backend", "paper", "dir", "sheets", "jam_after", "delay_s"})

    backend: Annotated[
        Literal["cups", "dir", "pdf_dir"],
        info(
            what='a document printer: "cups" (a CUPS queue) or "dir" (PDF files in a directory)',
            help='add backend = "cups" and queue = "…"',
        ),
    ]
    paper: Annotated[Literal["A4"], info(what='"A4" (certificates are A4)')] = "A4"
    queue: (
        Annotated[str, info(pattern=r"^[A-Za-z0-9_.-]+$", what='a CUPS queue name such as "madoguchi"')]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    wait_s: Seconds | msgspec.UnsetType = msgspec.UNSET
    options: (
        Annotated[dict[str, str | int], info(what='a table of lp options, e.g. {sides = "one-sided"}')]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    dir: (
        Annotated[str, info(min_length=1, what='where the PDFs go, e.g. dir = "var/kiosk-1/certificates"')]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    sheets: (
        Annotated[int, info(ge=0, what="the sheets in the tray (a whole number, 0 or more; leave it out for endless)")]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    jam_after: Annotated[int, info(ge=0, what="pages before a jam (a whole number, 0 or more)")] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    delay_s: Seconds | msgspec.UnsetType = msgspec.UNSET


@dataclass(frozen=True)
class DocumentPrinterSettings:
    """The document printer, settled: ``cups`` (``queue``, ``wait_s``, ``options``) or ``dir``
    (``directory``, ``sheets``, ``jam_after``, ``delay_s``)."""

    backend: str
    queue: str = "madoguchi"
    wait_s: float = 180.0
    options: Mapping[str, str] = field(default_factory=dict)
    directory: Path | None = None
    sheets: int | None = None
    jam_after: int | None = None
    delay_s: float = 0.0


def _given(section: msgspec.Struct) -> list[str]:
    return [f.encode_name for f in msgspec.structs.fields(section) if getattr(section, f.name) is not msgspec.UNSET]


def document_printer_settings(section: DocumentPrinterSection) -> DocumentPrinterSettings:
    """The section settled for its backend; :class:`~common.validation.Invalid` names a key the
    backend has not, or a required one it lacks."""
    if section.backend == "cups":
        _only(section, DocumentPrinterSection.CUPS_KEYS, "cups")
        return DocumentPrinterSettings(
            "cups",
            queue=section.queue if isinstance(section.queue, str) else "madoguchi",
            wait_s=section.wait_s if isinstance(section.wait_s, float | int) else 180.0,
            options={str(k): str(v) for k, v in section.options.items()} if isinstance(section.options, dict) else {},
        )
    _only(section, DocumentPrinterSection.DIR_KEYS, "dir")
    if not isinstance(section.dir, str):
        raise Invalid(("dir",), 'required: where the PDFs go, e.g. dir = "var/kiosk-1/certificates"', missing=True)
    return DocumentPrinterSettings(
        "dir",
        directory=Path(section.dir),
        sheets=section.sheets if isinstance(section.sheets, int) else None,
        jam_after=section.jam_after if isinstance(section.jam_after, int) else None,
        delay_s=section.delay_s if isinstance(section.delay_s, float | int) else 0.0,
    )


def _only(section: DocumentPrinterSection, keys: frozenset[str], backend: str) -> None:
    for key in _given(section):
        if key not in keys:
            raise Invalid((key,), f"unknown key for a {backend} printer; allowed: {', '.join(sorted(keys))}")
