"""The seam between the dispenser and whatever prints its tickets.

A print job is built above this seam (layout is domain logic); a backend takes the job.
The ESC/POS backends arrive with the dispenser issue; the foundation ships a text backend that
writes each ticket to a file, so the headless demo and the tests can see what was printed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


class PrinterError(Exception):
    """Root of printer errors: the job did not (certainly) print."""


@dataclass(frozen=True)
class PrintJob:
    """One ticket to print: an id for reprints and its lines, top to bottom."""

    job_id: str
    lines: Sequence[str]
    large: str = ""  # the number, printed very large


class TicketPrinter(Protocol):
    """What the dispenser needs from a ticket printer."""

    def submit(self, job: PrintJob) -> None:
        """Print ``job`` or raise PrinterError."""


class TextFilePrinter:
    """Writes each ticket as a UTF-8 text file in ``directory`` (demo and tests)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def submit(self, job: PrintJob) -> None:
        """Write the ticket to ``<job_id>.txt``."""
        body = "\n".join([*job.lines[:2], f"  [ {job.large} ]", *job.lines[2:]]) + "\n"
        try:
            (self.directory / f"{job.job_id}.txt").write_text(body, encoding="utf-8")
        except OSError as err:
            raise PrinterError(f"cannot write ticket {job.job_id}: {err.strerror}") from err


class RecordingPrinter:
    """Keeps every job in memory (tests and the benchmark's 'handed to the driver' point)."""

    def __init__(self) -> None:
        self.jobs: list[PrintJob] = []
        self._lock = threading.Lock()

    def submit(self, job: PrintJob) -> None:
        """Record the job."""
        with self._lock:
            self.jobs.append(job)
