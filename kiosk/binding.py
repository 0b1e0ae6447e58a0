"""Print binding: a certificate prints only for the session and the card that asked for it.

In 2023 a kiosk in Munakata printed the previous user's 住民票 (DOMAIN.md). The defence here:

* every :class:`PrintJob` carries the session id, the card identity (the serialNumber of the
  card's user-authentication certificate) and the issuance request id;
* :func:`release` compares them with the **live** session (:class:`LiveSession`, built by the
  runtime just before the job reaches the printer, with the card identity read from the card
  in the reader at that moment) and refuses on any difference, or when no session is live;
* the resident data (the certificate's content) lives only inside the job object and is dropped
  by :meth:`PrintJob.discard` as soon as the job has printed or been refused.

:class:`BoundPrinter` is the only way the runtime prints a certificate: it checks, renders,
prints and discards, in that order. Nothing here does I/O except through the ports it is given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from certificates.content import CertificateContent
from kiosk.ports import CertificateRenderer, DocumentPrinterPort, KioskError, PrinterFailed

__all__ = ["BindingRefused", "BoundPrinter", "JobDiscarded", "LiveSession", "PrintJob", "PrintOutcome", "release"]

log = logging.getLogger(__name__)


class BindingRefused(KioskError):
    """A print job does not belong to the live session; ``reason`` says which check failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"print job refused: {reason}")
        self.reason = reason


class JobDiscarded(KioskError):
    """The job's content was already dropped (it printed, or was refused)."""


@dataclass(frozen=True)
class LiveSession:
    """The session the kiosk is serving right now, as the runtime sees it at print time.

    ``card_serial`` is read from the card in the reader just before printing (None: no card).
    """

    session_id: str
    request_id: str | None
    card_serial: str | None


class PrintJob:
    """One certificate to print, bound to a session, a card and an issuance request.

    Deliberately not a frozen dataclass: the content must be droppable. Equality and the repr
    use the binding fields only, so the content never reaches a log line or a test diff.
    """

    __slots__ = ("_content", "card_serial", "copies", "issue_number", "kind", "request_id", "session_id")

    def __init__(
        self,
        *,
        session_id: str,
        card_serial: str,
        request_id: str,
        issue_number: str,
        kind: str,
        copies: int,
        content: CertificateContent,
    ) -> None:
        self.session_id = session_id
        self.card_serial = card_serial
        self.request_id = request_id
        self.issue_number = issue_number
        self.kind = kind
        self.copies = copies
        self._content: CertificateContent | None = content

    @property
    def content(self) -> CertificateContent:
        """The certificate's content; raises :class:`JobDiscarded` once dropped."""
        if self._content is None:
            raise JobDiscarded(f"print job {self.request_id} no longer holds its content")
        return self._content

    @property
    def discarded(self) -> bool:
        """True once the content was dropped."""
        return self._content is None

    def discard(self) -> None:
        """Drop the resident data (idempotent)."""
        self._content = None

    def __repr__(self) -> str:
        return (
            f"PrintJob(session_id={self.session_id!r}, request_id={self.request_id!r}, "
            f"issue_number={self.issue_number!r}, kind={self.kind!r}, copies={self.copies})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PrintJob):
            return NotImplemented
        return (self.session_id, self.card_serial, self.request_id, self.issue_number) == (
            other.session_id,
            other.card_serial,
            other.request_id,
            other.issue_number,
        )

    def __hash__(self) -> int:
        return hash((self.session_id, self.request_id))


def release(job: PrintJob, live: LiveSession | None) -> CertificateContent:
    """The job's content if it belongs to ``live``; raises :class:`BindingRefused` otherwise.

    Checked in this order: a live session exists, the session id, the request id, the card.
    """
    if job.discarded:
        raise BindingRefused("the job was already printed or refused")
    if live is None:
        raise BindingRefused("no session is live")
    if job.session_id != live.session_id:
        raise BindingRefused("the job belongs to another session")
    if job.request_id != live.request_id:
        raise BindingRefused("the job belongs to another issuance request")
    if live.card_serial is None:
        raise BindingRefused("no card in the reader")
    if job.card_serial != live.card_serial:
        raise BindingRefused("the card in the reader is not the card that asked")
    return job.content


@dataclass(frozen=True)
class PrintOutcome:
    """What happened to a job: copies printed, and why not all (None when all printed)."""

    copies_printed: int
    uncertain: bool = False
    refused: str | None = None
    failure: str | None = None


class BoundPrinter:
    """Checks a job against the live session, renders and prints it, then drops its content."""

    def __init__(
        self,
        printer: DocumentPrinterPort,
        renderer: CertificateRenderer,
        live: Callable[[], LiveSession | None],
    ) -> None:
        self._printer = printer
        self._renderer = renderer
        self._live = live

    def print(self, job: PrintJob) -> PrintOutcome:
        """Print ``job`` if it still belongs to the live session; never raises for a refusal."""
        try:
            try:
                content = release(job, self._live())
            except BindingRefused as err:
                log.error("print job %s refused: %s", job.request_id, err.reason)
                return PrintOutcome(0, refused=err.reason)
            pdf = self._renderer.render(job.kind, content, job.issue_number)
            try:
                printed = self._printer.print_pdf(pdf, job.copies, f"{job.kind} {job.issue_number}")
            except PrinterFailed as err:
                log.error("document printer failed on %s: %s", job.request_id, err)
                return PrintOutcome(max(0, min(err.printed, job.copies)), uncertain=err.uncertain, failure=str(err))
            return PrintOutcome(max(0, min(printed, job.copies)))
        finally:
            # Whatever happened, the resident data goes now: it never waits for a retry.
            job.discard()
