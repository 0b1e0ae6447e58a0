"""The kiosk's printers: the A4 certificate printer and the receipt printer.

Document printer backends (:class:`kiosk.ports.DocumentPrinterPort`):

* :class:`CupsPrinter`: a CUPS queue through the ``lp`` command (``-n copies -t title``, the PDF
  on stdin). The exit status is checked and the request id parsed; by default the job is then
  followed with ``lpstat`` until it leaves the queue. A job that does not finish in time is
  cancelled, so it can never come out during the next resident's visit, and reported as
  *uncertain* (the kiosk refunds and alerts staff).
* :class:`DirectoryPrinter`: each copy becomes one PDF file in a directory (written whole,
  fsynced, never overwriting another), for the demo and tests. It models a printer's faults by
  behaviour: sheets running out, a jam after N pages, a slow print.

Failures raise :class:`~kiosk.ports.PrinterFailed` with the copies that did come out.

The receipt printer (:class:`EscposReceiptPrinter`, :class:`kiosk.ports.ReceiptPrinterPort`)
reuses the dispenser's ESC/POS stack (``drivers.escpos_printer``): a receipt or a refund slip is
a :class:`drivers.ticket_printer.PrintJob` of blocks (:func:`receipt_job`,
:func:`refund_slip_job`, pure), in Japanese and, below each line, the resident's language. They
carry ids and amounts only: no name, no address, nothing from the certificate.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from drivers.ticket_printer import QR, Align, Block, PrinterError, PrintJob, Rule, Space, Text, TicketPrinter
from kiosk.ports import PrinterFailed, Receipt, RefundSlip

__all__ = [
    "CupsPrinter",
    "DirectoryPrinter",
    "EscposReceiptPrinter",
    "count_pages",
    "receipt_job",
    "refund_slip_job",
]

log = logging.getLogger(__name__)

_JOB_ID = re.compile(r"request id is (\S+)")
_PAGES_COUNT = re.compile(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)")
_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def count_pages(pdf: bytes) -> int:
    """The number of pages of ``pdf`` (its page tree's /Count); ValueError when it is not a PDF."""
    if not pdf.startswith(b"%PDF-"):
        raise ValueError("not a PDF (no %PDF- header)")
    counts = [int(m) for m in _PAGES_COUNT.findall(pdf)]
    if counts:
        return max(counts)  # the root of the page tree counts every page
    pages = len(_PAGE.findall(pdf))
    if pages == 0:
        raise ValueError("a PDF without pages")
    return pages


def _check_copies(copies: int) -> None:
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise PrinterFailed(f"copies must be a whole number from 1, got {copies!r}")


# -- CUPS ------------------------------------------------------------------------------------------


class CupsPrinter:
    """An A4 printer behind a CUPS queue, driven with the ``lp``, ``lpstat`` and ``cancel`` commands.

    ``wait_s`` > 0: after ``lp`` accepted the job, poll ``lpstat -W not-completed`` every
    ``poll_s`` until the job left the queue (printed), up to ``wait_s`` seconds; then the job is
    cancelled and the print reported uncertain. ``wait_s`` = 0 trusts the spooler once it took
    the job. ``options`` are passed as ``-o key=value`` (e.g. ``{"sides": "one-sided"}``).
    The commands are looked up on ``PATH`` unless given as paths.
    """

    def __init__(
        self,
        queue: str,
        *,
        wait_s: float = 180.0,
        poll_s: float = 1.0,
        options: Mapping[str, str] | None = None,
        lp: str = "lp",
        lpstat: str = "lpstat",
        cancel: str = "cancel",
        command_timeout_s: float = 30.0,
    ) -> None:
        if not queue or _UNSAFE.search(queue):
            raise ValueError(f"CUPS queue {queue!r}: use letters, digits, '_', '-' or '.' (e.g. madoguchi)")
        self.queue = queue
        self.wait_s = wait_s
        self.poll_s = poll_s
        self.options = dict(options or {})
        self.lp, self.lpstat, self.cancel = lp, lpstat, cancel
        self.command_timeout_s = command_timeout_s
        self._lock = threading.Lock()
        self.last_job: str | None = None

    def _run(self, argv: Sequence[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(
                list(argv), input=stdin, capture_output=True, timeout=self.command_timeout_s, check=False
            )
        except FileNotFoundError as err:
            raise PrinterFailed(
                f"{argv[0]} not found: install the CUPS client (apt-get install cups-client) or fix PATH"
            ) from err
        except OSError as err:
            raise PrinterFailed(f"cannot run {argv[0]}: {err.strerror or err}") from err

    def print_pdf(self, pdf: bytes, copies: int, title: str) -> int:
        """Send ``copies`` copies of ``pdf`` to the queue; returns copies printed or raises PrinterFailed."""
        _check_copies(copies)
        try:
            count_pages(pdf)
        except ValueError as err:
            raise PrinterFailed(f"refusing to send a broken document to {self.queue}: {err}") from err
        argv = [self.lp, "-d", self.queue, "-n", str(copies), "-t", title]
        for key, value in sorted(self.options.items()):
            argv += ["-o", f"{key}={value}"]
        with self._lock:
            try:
                done = self._run(argv, pdf)
            except subprocess.TimeoutExpired as err:
                # lp may have queued it before hanging: we cannot know, and cannot cancel it by id.
                raise PrinterFailed(
                    f"lp did not answer within {self.command_timeout_s:g} s (is cupsd running?)", uncertain=True
                ) from err
            said = _text(done.stderr) or _text(done.stdout)
            if done.returncode != 0:
                raise PrinterFailed(f"lp refused the job for queue {self.queue} (exit {done.returncode}): {said}")
            found = _JOB_ID.search(_text(done.stdout))
            if found is None:
                raise PrinterFailed(
                    f"lp took the job for {self.queue} but named no request id ({said!r}); cannot follow it",
                    uncertain=True,
                )
            job = found.group(1)
            self.last_job = job
            log.info("certificate job %s queued on %s (%d copies)", job, self.queue, copies)
            if self.wait_s > 0:
                self._wait(job)
            return copies

    def _pending(self) -> set[str]:
        done = self._run([self.lpstat, "-W", "not-completed", "-o", self.queue])
        if done.returncode != 0:
            raise PrinterFailed(f"lpstat failed for {self.queue} (exit {done.returncode}): {_text(done.stderr)}")
        return {line.split()[0] for line in _text(done.stdout).splitlines() if line.strip()}

    def _wait(self, job: str) -> None:
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                pending = self._pending()
            except (PrinterFailed, subprocess.TimeoutExpired) as err:
                self._cancel(job)
                raise PrinterFailed(f"cannot follow job {job}: {err}", uncertain=True) from err
            if job not in pending:
                return
            if time.monotonic() >= deadline:
                # Left in the queue it could come out during the next visit: never let it.
                self._cancel(job)
                raise PrinterFailed(
                    f"job {job} did not finish within {self.wait_s:g} s (paper, jam or printer off?); cancelled",
                    uncertain=True,
                )
            time.sleep(self.poll_s)

    def _cancel(self, job: str) -> None:
        try:
            done = self._run([self.cancel, job])
        except (PrinterFailed, subprocess.TimeoutExpired) as err:
            log.error("could not cancel certificate job %s: %s", job, err)
            return
        if done.returncode != 0:
            log.error("cancel %s failed (exit %d): %s", job, done.returncode, _text(done.stderr))


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").strip()


# -- a directory of PDFs (demo and tests) --------------------------------------------------------------


class DirectoryPrinter:
    """Prints each copy as one PDF file in ``directory``: ``<title>.<n>.pdf``.

    A copy's file is written to a temporary name, fsynced, then linked under a name no other
    file has (``n`` counts up), so a page printed twice shows as two files, never as one
    overwritten. Behavioural faults: ``sheets`` loaded (None: endless; a copy needs as many
    sheets as the PDF has pages), :meth:`jam_after` (the page after the next N jams and the
    printer stops until :meth:`clear_jam`), ``delay_s`` per copy (a slow printer).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        sheets: int | None = None,
        jam_after: int | None = None,
        delay_s: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._sheets = sheets
        self._jam_in: int | None = jam_after
        self._jammed = False
        self.delay_s = delay_s
        self._sleep = sleep
        self.pages_printed = 0

    # -- faults and paper (the technician's side) ----------------------------------------------

    @property
    def sheets(self) -> int | None:
        """Sheets left (None: endless)."""
        return self._sheets

    @property
    def jammed(self) -> bool:
        """True after a jam, until :meth:`clear_jam`."""
        return self._jammed

    def load_paper(self, sheets: int | None) -> None:
        """Sheets now in the tray (None: endless)."""
        if sheets is not None and sheets < 0:
            raise ValueError("sheets cannot be negative")
        with self._lock:
            self._sheets = sheets

    def jam_after(self, pages: int | None) -> None:
        """Jam on the page after the next ``pages`` pages (None: no jam planned)."""
        if pages is not None and pages < 0:
            raise ValueError("pages cannot be negative")
        with self._lock:
            self._jam_in = pages

    def clear_jam(self) -> None:
        """Staff took the jammed sheet out."""
        with self._lock:
            self._jammed = False

    # -- printing ------------------------------------------------------------------------------

    def print_pdf(self, pdf: bytes, copies: int, title: str) -> int:
        """Write ``copies`` files; PrinterFailed (with the copies done) on paper out or a jam."""
        _check_copies(copies)
        try:
            pages = count_pages(pdf)
        except ValueError as err:
            raise PrinterFailed(f"cannot print: {err}") from err
        name = _UNSAFE.sub("_", title).strip("_") or "document"
        with self._lock:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise PrinterFailed(f"cannot use {self.directory}: {err.strerror or err}") from err
            for done in range(copies):
                if self._jammed:
                    raise PrinterFailed("paper jam: open the printer and remove the sheet", printed=done)
                if self._sheets is not None and self._sheets < pages:
                    raise PrinterFailed(f"out of paper after {done} of {copies} copies: load A4 paper", printed=done)
                if self.delay_s > 0:
                    self._sleep(self.delay_s)
                if self._jam_in is not None and self._jam_in < pages:
                    # The sheets before the jam are used up; the torn copy is not a copy.
                    used = self._jam_in + 1
                    self._jam_in, self._jammed = None, True
                    if self._sheets is not None:
                        self._sheets -= min(used, self._sheets)
                    self.pages_printed += used - 1
                    raise PrinterFailed(f"paper jam in copy {done + 1} of {copies}", printed=done)
                self._write(name, pdf)
                if self._jam_in is not None:
                    self._jam_in -= pages
                if self._sheets is not None:
                    self._sheets -= pages
                self.pages_printed += pages
        return copies

    def _write(self, name: str, pdf: bytes) -> Path:
        tmp = self.directory / f".{name}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(pdf)
                f.flush()
                os.fsync(f.fileno())
            n = 1
            while True:
                path = self.directory / f"{name}.{n}.pdf"
                try:
                    os.link(tmp, path)  # fails if the name exists: nothing printed is ever overwritten
                    break
                except FileExistsError:
                    n += 1
            tmp.unlink()
            fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise PrinterFailed(f"cannot write to {self.directory}: {err.strerror or err}", uncertain=True) from err
        return path


# -- receipts and refund slips --------------------------------------------------------------------------


KIND_NAMES: Final[Mapping[str, Mapping[str, str]]] = {
    "juminhyo": {
        "ja": "住民票の写し",
        "en": "Certificate of residence",
        "zh_CN": "住民票副本",
        "ko": "주민표 사본",
        "vi": "Bản sao phiếu cư trú",
        "pt": "Certidão de residência",
    },
    "inkan": {
        "ja": "印鑑登録証明書",
        "en": "Seal registration certificate",
        "zh_CN": "印章登记证明书",
        "ko": "인감등록증명서",
        "vi": "Giấy chứng nhận đăng ký con dấu",
        "pt": "Certidão de registro de carimbo",
    },
    "koseki": {
        "ja": "戸籍謄本・抄本",
        "en": "Family register",
        "zh_CN": "户籍誊本・抄本",
        "ko": "호적등본・초본",
        "vi": "Bản sao hộ tịch",
        "pt": "Registro familiar (koseki)",
    },
    "fuhyo": {
        "ja": "戸籍の附票",
        "en": "Koseki address record",
        "zh_CN": "户籍附票",
        "ko": "호적 부표",
        "vi": "Phụ phiếu hộ tịch",
        "pt": "Anexo do registro familiar",
    },
    "shotoku": {
        "ja": "所得・課税証明書",
        "en": "Income and tax certificate",
        "zh_CN": "所得・课税证明书",
        "ko": "소득・과세증명서",
        "vi": "Giấy chứng nhận thu nhập và thuế",
        "pt": "Certidão de renda e impostos",
    },
}

WORDS: Final[Mapping[str, Mapping[str, str]]] = {
    "receipt": {"ja": "領収書", "en": "Receipt", "zh_CN": "收据", "ko": "영수증", "vi": "Biên lai", "pt": "Recibo"},
    "refund_slip": {
        "ja": "返金票",
        "en": "Refund slip",
        "zh_CN": "退款单",
        "ko": "환불표",
        "vi": "Phiếu hoàn tiền",
        "pt": "Comprovante de reembolso",
    },
    "kiosk": {
        "ja": "証明書自動交付機",
        "en": "Certificate kiosk",
        "zh_CN": "证明书自助机",
        "ko": "증명서 자동발급기",
        "vi": "Máy cấp giấy chứng nhận",
        "pt": "Terminal de certidões",
    },
    "copies": {"ja": "通数", "en": "Copies", "zh_CN": "份数", "ko": "부수", "vi": "Số bản", "pt": "Cópias"},
    "printed": {"ja": "印刷", "en": "Printed", "zh_CN": "已打印", "ko": "인쇄", "vi": "Đã in", "pt": "Impressas"},
    "issue_number": {
        "ja": "発行番号",
        "en": "Issue no.",
        "zh_CN": "发行编号",
        "ko": "발행번호",
        "vi": "Số cấp",
        "pt": "Nº de emissão",
    },
    "fee": {"ja": "手数料", "en": "Fee", "zh_CN": "手续费", "ko": "수수료", "vi": "Lệ phí", "pt": "Taxa"},
    "paid": {"ja": "お預かり", "en": "Paid", "zh_CN": "收款", "ko": "받은 금액", "vi": "Đã trả", "pt": "Pago"},
    "change": {"ja": "お釣り", "en": "Change", "zh_CN": "找零", "ko": "거스름돈", "vi": "Tiền thối", "pt": "Troco"},
    "amount_owed": {
        "ja": "お返しできなかった金額",
        "en": "Amount we owe you",
        "zh_CN": "未能退还的金额",
        "ko": "돌려드리지 못한 금액",
        "vi": "Số tiền chưa hoàn trả",
        "pt": "Valor a reembolsar",
    },
    "show_at_counter": {
        "ja": "この票を窓口にお持ちください。返金いたします。",
        "en": "Please bring this slip to a counter to be refunded.",
        "zh_CN": "请持此单到窗口办理退款。",
        "ko": "이 표를 창구에 제시하시면 환불해 드립니다.",
        "vi": "Vui lòng mang phiếu này đến quầy để được hoàn tiền.",
        "pt": "Traga este comprovante a um guichê para o reembolso.",
    },
    "reason_hoppers_empty": {
        "ja": "釣銭切れのため",
        "en": "The machine ran out of coins",
        "zh_CN": "零钱不足",
        "ko": "거스름돈 부족",
        "vi": "Máy hết tiền xu",
        "pt": "A máquina ficou sem moedas",
    },
    "reason_payout_uncertain": {
        "ja": "払い出しを確認できなかったため",
        "en": "The payout could not be confirmed",
        "zh_CN": "无法确认出币",
        "ko": "지급을 확인할 수 없음",
        "vi": "Không xác nhận được việc trả tiền",
        "pt": "O pagamento não foi confirmado",
    },
    "reference": {
        "ja": "照合番号",
        "en": "Reference",
        "zh_CN": "核对编号",
        "ko": "조회번호",
        "vi": "Mã tham chiếu",
        "pt": "Referência",
    },
    "transaction": {
        "ja": "取引番号",
        "en": "Transaction",
        "zh_CN": "交易编号",
        "ko": "거래번호",
        "vi": "Mã giao dịch",
        "pt": "Transação",
    },
}


def _word(key: str, language: str) -> str:
    table = WORDS[key]
    return table.get(language) or table["en"]


def _kind(kind: str, language: str) -> str:
    table = KIND_NAMES.get(kind)
    if table is None:
        return kind
    return table.get(language) or table["en"]


def _yen(amount: int, language: str) -> str:
    return f"{amount:,}円" if language == "ja" else f"¥{amount:,}"


def _two(ja: str, other: str | None, *, size: int = 26, bold: bool = False, align: Align = "left") -> list[Block]:
    """A Japanese line and, when the resident chose another language, its translation below."""
    lines: list[Block] = [Text(ja, size=size, bold=bold, align=align)]
    if other and other != ja:
        lines.append(Text(other, size=max(18, size - 6), align=align))
    return lines


def _pair(key: str, ja_value: str, language: str, other_value: str | None = None) -> list[Block]:
    other = None if language == "ja" else f"{_word(key, language)}: {other_value or ja_value}"
    return _two(f"{_word(key, 'ja')}：{ja_value}", other)


def _stamp(at: datetime) -> str:
    return f"{at.year}年{at.month}月{at.day}日 {at.hour:02d}:{at.minute:02d}"


@dataclass(frozen=True)
class ReceiptHeader:
    """What heads every receipt: the office's name and the kiosk's id (no resident data)."""

    device_id: str
    office_name: str = ""


def _head(title: str, language: str, header: ReceiptHeader, at: datetime) -> list[Block]:
    blocks: list[Block] = []
    if header.office_name:
        blocks.append(Text(header.office_name, size=26, align="center"))
    blocks += _two(
        _word(title, "ja"), None if language == "ja" else _word(title, language), size=44, bold=True, align="center"
    )
    blocks.append(Text(f"{_word('kiosk', 'ja')} {header.device_id}", size=22, align="center"))
    blocks.append(Text(_stamp(at), size=22, align="center"))
    blocks.append(Rule())
    return blocks


def receipt_job(receipt: Receipt, language: str, header: ReceiptHeader, at: datetime) -> PrintJob:
    """The receipt for a printed certificate: kind, copies, issue number, fee, paid, change."""
    other = None if language == "ja" else language
    blocks = _head("receipt", language, header, at)
    blocks += _two(_kind(receipt.kind, "ja"), _kind(receipt.kind, other) if other else None, size=30, bold=True)
    blocks += _pair("copies", str(receipt.copies), language)
    if receipt.copies_printed != receipt.copies:
        blocks += _pair("printed", f"{receipt.copies_printed} / {receipt.copies}", language)
    if receipt.issue_number:
        blocks += _pair("issue_number", receipt.issue_number, language)
    blocks.append(Space(8))
    blocks += _pair("fee", _yen(receipt.kept, "ja"), language, _yen(receipt.kept, language))
    blocks += _pair("paid", _yen(receipt.paid, "ja"), language, _yen(receipt.paid, language))
    blocks += _pair("change", _yen(receipt.change, "ja"), language, _yen(receipt.change, language))
    blocks.append(Rule())
    blocks.append(Text(f"{_word('transaction', 'ja')} {receipt.session_id}", size=20))
    return PrintJob(job_id=f"{receipt.session_id}-receipt", blocks=tuple(blocks))


def refund_slip_job(slip: RefundSlip, language: str, header: ReceiptHeader, at: datetime) -> PrintJob:
    """A credit slip: the amount the kiosk owes, why, and the key the office's report carries."""
    other = None if language == "ja" else language
    blocks = _head("refund_slip", language, header, at)
    blocks += _two(_word("amount_owed", "ja"), _word("amount_owed", other) if other else None)
    blocks.append(Text(_yen(slip.amount, "ja"), size=64, bold=True, align="center"))
    reason = f"reason_{slip.reason}"
    if reason in WORDS:
        blocks += _two(_word(reason, "ja"), _word(reason, other) if other else None, size=22)
    blocks.append(Space(8))
    blocks += _two(_word("show_at_counter", "ja"), _word("show_at_counter", other) if other else None, size=24)
    blocks.append(Rule())
    blocks.append(Text(f"{_word('reference', 'ja')} {slip.key}", size=20))
    blocks.append(QR(slip.key, module=5))
    return PrintJob(job_id=f"{slip.key.replace(':', '-')}-refund", blocks=tuple(blocks))


class EscposReceiptPrinter:
    """:class:`kiosk.ports.ReceiptPrinterPort` on a thermal printer of the dispenser's stack.

    ``office_name`` is read at each print (the office's configuration may arrive after start).
    A printer that reports a fault raises :class:`~kiosk.ports.PrinterFailed`; the runtime logs
    it (the office already has every refund owed from the journal's reports).
    """

    def __init__(
        self,
        printer: TicketPrinter,
        *,
        device_id: str,
        office_name: Callable[[], str] | None = None,
        tz: ZoneInfo | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.printer = printer
        self.device_id = device_id
        self._office_name = office_name or (lambda: "")
        self._tz = tz or ZoneInfo("Asia/Tokyo")
        self._now = now or (lambda: datetime.now(self._tz))

    def _header(self) -> ReceiptHeader:
        try:
            name = self._office_name()
        except Exception:  # a receipt without the office name is still a receipt
            log.exception("office name for the receipt not available")
            name = ""
        return ReceiptHeader(self.device_id, name)

    def _print(self, job: PrintJob, what: str) -> None:
        status = self.printer.status()
        if not status.ok:
            raise PrinterFailed(f"receipt printer: {what} not printed: {status.fault} ({status.detail})")
        try:
            self.printer.print_job(job)
        except PrinterError as err:
            raise PrinterFailed(f"receipt printer: {what} not printed: {err}") from err

    def print_receipt(self, receipt: Receipt, language: str) -> None:
        """Print the receipt of a visit that printed its certificate."""
        self._print(receipt_job(receipt, language, self._header(), self._now()), f"receipt {receipt.session_id}")

    def print_refund_slip(self, slip: RefundSlip, language: str) -> None:
        """Print a credit slip for money the hoppers could not pay back."""
        self._print(refund_slip_job(slip, language, self._header(), self._now()), f"refund slip {slip.key}")
