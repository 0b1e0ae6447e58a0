"""Two small ticket-printer backends: text files for the headless demo, memory for tests and
the benchmark. Both follow :class:`drivers.ticket_printer.TicketPrinter`."""

from __future__ import annotations

import threading
from pathlib import Path

from drivers.ticket_printer import PrinterFault, PrinterStatus, PrintJob


class TextFilePrinter:
    """Writes each ticket as a UTF-8 text file in ``directory`` (headless demo)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def status(self) -> PrinterStatus:
        """A folder is always ready."""
        return PrinterStatus()

    def print_job(self, job: PrintJob) -> None:
        """Write the ticket to ``<job_id>.txt``."""
        try:
            (self.directory / f"{job.job_id}.txt").write_text(job.plain_text(), encoding="utf-8")
        except OSError as err:
            raise PrinterFault(f"cannot write ticket {job.job_id}: {err.strerror}") from err


class RecordingPrinter:
    """Keeps every job in memory (tests and the benchmark's 'handed to the driver' point)."""

    def __init__(self) -> None:
        self.jobs: list[PrintJob] = []
        self._lock = threading.Lock()

    def status(self) -> PrinterStatus:
        """Always ready."""
        return PrinterStatus()

    def print_job(self, job: PrintJob) -> None:
        """Record the job."""
        with self._lock:
            self.jobs.append(job)
