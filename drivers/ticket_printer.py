"""The seam between the dispenser and whatever prints its tickets.

A print job is a layout (blocks of text, the big number, a QR code, rules), built by the
dispenser as domain logic. A backend renders it and prints it, or raises :class:`PrinterFault`
saying what is wrong. Before and after each job the dispenser reads :meth:`TicketPrinter.status`
(ESC/POS real-time status, DLE EOT 1-4): "success" is never claimed for a blank ticket.

Backends: ``drivers.escpos_printer`` (python-escpos over USB, serial, network or a file, and a
behavioural fake) and the two small ones of ``drivers.plain_printers`` (the headless demo,
tests). This module is the seam itself and stays pure: no I/O, no threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Align = Literal["left", "center", "right"]


@dataclass(frozen=True)
class Text:
    """A line (or wrapped paragraph) of text; ``size`` is the glyph height in printer dots."""

    text: str
    size: int = 28
    align: Align = "left"
    bold: bool = False


@dataclass(frozen=True)
class BigNumber:
    """The ticket number, very large, centred (``suffix`` e.g. 番, printed smaller)."""

    number: str
    suffix: str = ""
    size: int = 160


@dataclass(frozen=True)
class QR:
    """A QR code of ``data``, centred; ``module`` is the size of one QR module in dots."""

    data: str
    module: int = 6


@dataclass(frozen=True)
class Rule:
    """A horizontal line across the paper."""

    thickness: int = 2


@dataclass(frozen=True)
class Space:
    """Blank paper of ``height`` dots."""

    height: int = 16


Block = Text | BigNumber | QR | Rule | Space


@dataclass(frozen=True)
class PrintJob:
    """One ticket to print: an id (for reprints and logs) and its blocks, top to bottom."""

    job_id: str
    blocks: tuple[Block, ...]
    cut: bool = True

    def plain_text(self) -> str:
        """The job as text (logs, the text backend)."""
        out = []
        for b in self.blocks:
            if isinstance(b, Text):
                out.append(b.text)
            elif isinstance(b, BigNumber):
                out.append(f"[ {b.number}{b.suffix} ]")
            elif isinstance(b, QR):
                out.append(f"(QR {b.data})")
            elif isinstance(b, Rule):
                out.append("-" * 32)
        return "\n".join(out) + "\n"


@dataclass(frozen=True)
class PrinterStatus:
    """What the printer reported (DLE EOT 1-4); ``ok`` means a ticket can be printed now."""

    online: bool = True
    cover_open: bool = False
    paper_near_end: bool = False
    paper_out: bool = False
    cutter_error: bool = False
    unrecoverable_error: bool = False
    auto_recoverable_error: bool = False
    connected: bool = True  # False: the device is gone (USB unplugged, no answer)
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Ready to print (paper near end is a warning, not a fault)."""
        return (
            self.connected
            and self.online
            and not (
                self.cover_open
                or self.paper_out
                or self.cutter_error
                or self.unrecoverable_error
                or self.auto_recoverable_error
            )
        )

    @property
    def fault(self) -> str | None:
        """A short code for what stops printing, most specific first; None when ok."""
        if not self.connected:
            return "disconnected"
        if self.paper_out:
            return "paper_out"
        if self.cover_open:
            return "cover_open"
        if self.cutter_error:
            return "cutter_error"
        if self.unrecoverable_error:
            return "unrecoverable_error"
        if self.auto_recoverable_error:
            return "auto_recoverable_error"
        if not self.online:
            return "offline"
        return None


class PrinterError(Exception):
    """Root of printer errors."""


class PrinterFault(PrinterError):
    """The job did not (certainly) print; ``status`` says why as far as the printer told."""

    def __init__(self, message: str, status: PrinterStatus | None = None) -> None:
        super().__init__(message)
        self.status = status or PrinterStatus(connected=False, detail=message)


class TicketPrinter(Protocol):
    """What the dispenser needs from a ticket printer."""

    def status(self) -> PrinterStatus:
        """Read the printer's real-time status (never raises: a dead printer is a status)."""

    def print_job(self, job: PrintJob) -> None:
        """Print ``job`` or raise PrinterFault."""
