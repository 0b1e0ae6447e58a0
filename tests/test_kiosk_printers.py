"""The kiosk's printers: one contract for both A4 backends (CUPS through a behavioural fake of
its command-line tools, and the PDF directory with its fault model), then each backend's own
behaviour, then receipts and refund slips on the ESC/POS stack."""

from __future__ import annotations

import functools
import json
import re
import stat
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from common.fonts import find_fonts
from drivers.escpos_printer import FakeEscpos, open_printer
from drivers.raster import TEXT_MARGIN_PX, text_width, wrap_text
from drivers.ticket_printer import Text
from firmware_profiles.packaged import packaged_printers, printer_model_named
from kiosk.ports import PrinterFailed, Receipt, RefundSlip
from kiosk.printers import (
    KIND_NAMES,
    WORDS,
    CupsPrinter,
    DirectoryPrinter,
    EscposReceiptPrinter,
    ReceiptHeader,
    count_pages,
    receipt_job,
    refund_slip_job,
)
from office.issuance import MAX_SITE_CODE

# A CUPS stand-in: lp, lpstat and cancel as one script (by the name it is called with), keeping
# its queue in a directory. lp spools the PDF from stdin and names a request id; a job stays
# "not completed" for complete_after lpstat polls (null: never); cancel removes a job.
FAKE_CUPS = r"""
import json, os, sys
from pathlib import Path

state = Path(os.environ["FAKE_CUPS"])
config = json.loads((state / "config.json").read_text())
jobs = state / "jobs"
jobs.mkdir(exist_ok=True)
name = Path(sys.argv[0]).name
args = sys.argv[1:]
(state / "calls.log").open("a").write(json.dumps([name, *args]) + "\n")


def opt(flag):
    return args[args.index(flag) + 1] if flag in args else None


if name == "lp":
    queue = opt("-d")
    if queue not in config["queues"]:
        print(f"lp: The printer or class does not exist.", file=sys.stderr)
        sys.exit(1)
    if config.get("lp_exit"):
        print(config.get("lp_stderr", "lp: Unable to print"), file=sys.stderr)
        sys.exit(config["lp_exit"])
    data = sys.stdin.buffer.read()
    number = len(list(jobs.glob("*.json"))) + 1
    job = f"{queue}-{number}"
    (jobs / f"{job}.pdf").write_bytes(data)
    options = [args[i + 1] for i, a in enumerate(args) if a == "-o"]
    (jobs / f"{job}.json").write_text(json.dumps({
        "copies": int(opt("-n") or 1), "title": opt("-t"), "options": options,
        "polls_left": config.get("complete_after", 0), "state": "pending",
    }))
    if config.get("no_request_id"):
        print("lp: job queued")
    else:
        print(f"request id is {job} (1 file(s))")
elif name == "lpstat":
    if config.get("lpstat_exit"):
        print("lpstat: Bad file descriptor", file=sys.stderr)
        sys.exit(config["lpstat_exit"])
    assert args[:2] == ["-W", "not-completed"], args
    for path in sorted(jobs.glob("*.json")):
        job = json.loads(path.read_text())
        if job["state"] != "pending":
            continue
        if job["polls_left"] is not None and job["polls_left"] <= 0:
            job["state"] = "completed"
        else:
            if job["polls_left"] is not None:
                job["polls_left"] -= 1
            print(f"{path.stem} kiosk 483849 Wed 01 Apr 2026 10:00:00")
        path.write_text(json.dumps(job))
elif name == "cancel":
    path = jobs / f"{args[0]}.json"
    if not path.exists():
        print(f"cancel: {args[0]}: unknown job", file=sys.stderr)
        sys.exit(1)
    job = json.loads(path.read_text())
    job["state"] = "canceled"
    path.write_text(json.dumps(job))
"""


class FakeCups:
    """The fake CUPS tools in ``bin`` and their state, scriptable per test."""

    def __init__(self, root: Path) -> None:
        self.state = root / "cups"
        self.bin = root / "bin"
        self.state.mkdir()
        self.bin.mkdir()
        for name in ("lp", "lpstat", "cancel"):
            tool = self.bin / name  # one script under three names: it acts by the name it runs as
            tool.write_text(f"#!{sys.executable}\n{FAKE_CUPS}")
            tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
        self.configure()

    def configure(self, **config: Any) -> None:
        (self.state / "config.json").write_text(json.dumps({"queues": ["madoguchi"], **config}))

    def printer(self, queue: str = "madoguchi", **kwargs: Any) -> CupsPrinter:
        kwargs.setdefault("poll_s", 0.01)
        return CupsPrinter(
            queue, lp=str(self.bin / "lp"), lpstat=str(self.bin / "lpstat"), cancel=str(self.bin / "cancel"), **kwargs
        )

    def jobs(self) -> dict[str, dict[str, Any]]:
        return {p.stem: json.loads(p.read_text()) for p in sorted((self.state / "jobs").glob("*.json"))}

    def calls(self) -> list[list[str]]:
        log = self.state / "calls.log"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture(autouse=True)
def fake_cups_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CUPS", str(tmp_path / "cups"))


@pytest.fixture
def cups(tmp_path: Path) -> FakeCups:
    return FakeCups(tmp_path)


@pytest.fixture(scope="module")
def certificate() -> bytes:
    """A real certificate PDF (the office's renderer, one A4 page)."""
    from certificates.pdf import CertificatePdfRenderer
    from certificates.registry import demo_registry
    from certificates.rules import certificate_content, parse_options

    registry = demo_registry()
    resident = registry.by_card("SIM-0001")
    assert resident is not None
    content = certificate_content(
        registry, resident, "juminhyo", parse_options("juminhyo", None), "20260401-00007", date(2026, 4, 1), "町長"
    )
    return CertificatePdfRenderer().render("juminhyo", content, "20260401-00007")


def pdf(pages: int) -> bytes:
    """A small PDF of ``pages`` pages (as the renderer writes them: a page tree with /Count)."""
    kids = " ".join(f"{4 + i} 0 R" for i in range(pages))
    body = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode()]
    body += [b"<< /Type /Page /Parent 2 0 R >>"] * pages
    return b"%PDF-1.4\n" + b"\n".join(b"%d 0 obj\n%s\nendobj" % (i + 1, o) for i, o in enumerate(body)) + b"\n%%EOF\n"


# -- the contract, for both backends ----------------------------------------------------------------------


@pytest.fixture(params=["cups", "dir"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    """(printer, printed) where printed() lists (title, copies, pdf bytes) of what came out."""
    if request.param == "cups":
        fake = FakeCups(tmp_path)
        printer: Any = fake.printer()

        def printed() -> list[tuple[str, int, bytes]]:
            return [
                (job["title"], job["copies"], (fake.state / "jobs" / f"{name}.pdf").read_bytes())
                for name, job in fake.jobs().items()
                if job["state"] == "completed"
            ]

    else:
        directory = tmp_path / "out"
        printer = DirectoryPrinter(directory)

        def printed() -> list[tuple[str, int, bytes]]:
            by_title: dict[str, list[bytes]] = {}
            for path in sorted(directory.glob("*.pdf")):
                by_title.setdefault(path.name.rsplit(".", 2)[0], []).append(path.read_bytes())
            return [(title.replace("_", " "), len(copies), copies[0]) for title, copies in by_title.items()]

    yield printer, printed


def test_contract_prints_the_copies_asked_for(backend: tuple[Any, Any], certificate: bytes) -> None:
    printer, printed = backend
    assert printer.print_pdf(certificate, 2, "juminhyo 20260401-00007") == 2
    assert printed() == [("juminhyo 20260401-00007", 2, certificate)]


def test_contract_refuses_what_is_not_a_pdf(backend: tuple[Any, Any]) -> None:
    printer, printed = backend
    with pytest.raises(PrinterFailed) as err:
        printer.print_pdf(b"<html>", 1, "juminhyo 1")
    assert err.value.printed == 0 and not err.value.uncertain
    with pytest.raises(PrinterFailed, match="copies"):
        printer.print_pdf(pdf(1), 0, "juminhyo 1")
    assert printed() == []


# -- CUPS -------------------------------------------------------------------------------------------------


def test_cups_sends_the_pdf_with_copies_title_and_options(cups: FakeCups, certificate: bytes) -> None:
    printer = cups.printer(options={"sides": "one-sided", "media": "A4"})
    assert printer.print_pdf(certificate, 3, "inkan 20260401-00008") == 3
    lp = cups.calls()[0]
    assert lp[0] == "lp" and lp[1:] == [
        "-d",
        "madoguchi",
        "-n",
        "3",
        "-t",
        "inkan 20260401-00008",
        "-o",
        "media=A4",
        "-o",
        "sides=one-sided",
    ]
    assert printer.last_job == "madoguchi-1"
    assert (cups.state / "jobs" / "madoguchi-1.pdf").read_bytes() == certificate  # the PDF went on stdin


def test_cups_waits_until_the_job_left_the_queue(cups: FakeCups) -> None:
    cups.configure(complete_after=3)
    assert cups.printer().print_pdf(pdf(1), 1, "t") == 1
    assert [c[0] for c in cups.calls()] == ["lp", "lpstat", "lpstat", "lpstat", "lpstat"]
    assert cups.jobs()["madoguchi-1"]["state"] == "completed"


def test_cups_job_that_never_finishes_is_cancelled_and_uncertain(cups: FakeCups) -> None:
    cups.configure(complete_after=None)
    with pytest.raises(PrinterFailed, match="did not finish within 0.2 s") as err:
        cups.printer(wait_s=0.2).print_pdf(pdf(1), 1, "t")
    assert err.value.uncertain and err.value.printed == 0
    # Cancelled, so it can never come out during the next resident's visit.
    assert cups.jobs()["madoguchi-1"]["state"] == "canceled"
    assert cups.calls()[-1] == ["cancel", "madoguchi-1"]


def test_cups_refusal_is_a_clear_failure(cups: FakeCups) -> None:
    with pytest.raises(PrinterFailed, match="exit 1.*printer or class does not exist") as err:
        cups.printer("elsewhere").print_pdf(pdf(1), 1, "t")
    assert err.value.printed == 0 and not err.value.uncertain
    cups.configure(lp_exit=2, lp_stderr="lp: Unsupported document-format")
    with pytest.raises(PrinterFailed, match="Unsupported document-format"):
        cups.printer().print_pdf(pdf(1), 1, "t")


def test_cups_job_it_cannot_follow_is_uncertain(cups: FakeCups) -> None:
    cups.configure(no_request_id=True)
    with pytest.raises(PrinterFailed, match="no request id") as err:
        cups.printer().print_pdf(pdf(1), 1, "t")
    assert err.value.uncertain
    cups.configure(complete_after=5, lpstat_exit=1)
    with pytest.raises(PrinterFailed, match="cannot follow") as err:
        cups.printer().print_pdf(pdf(1), 1, "t")
    assert err.value.uncertain
    assert cups.calls()[-1][0] == "cancel"


def test_cups_without_its_tools_says_what_to_install(tmp_path: Path) -> None:
    printer = CupsPrinter("madoguchi", lp=str(tmp_path / "no-lp"))
    with pytest.raises(PrinterFailed, match="install the CUPS client"):
        printer.print_pdf(pdf(1), 1, "t")
    with pytest.raises(ValueError, match="CUPS queue"):
        CupsPrinter("bad queue")


def test_cups_without_waiting_trusts_the_spooler(cups: FakeCups) -> None:
    cups.configure(complete_after=None)
    assert cups.printer(wait_s=0).print_pdf(pdf(1), 2, "t") == 2
    assert [c[0] for c in cups.calls()] == ["lp"]


# -- the PDF directory and its faults --------------------------------------------------------------------


def test_directory_writes_one_file_per_copy_and_never_overwrites(tmp_path: Path) -> None:
    printer = DirectoryPrinter(tmp_path / "out")
    printer.print_pdf(pdf(1), 2, "juminhyo 20260401-00001")
    printer.print_pdf(pdf(1), 1, "juminhyo 20260401-00001")  # the same job again shows as a third file
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [f"juminhyo_20260401-00001.{n}.pdf" for n in (1, 2, 3)]
    assert printer.pages_printed == 3


def test_directory_runs_out_of_paper_between_copies(tmp_path: Path) -> None:
    printer = DirectoryPrinter(tmp_path, sheets=3)
    with pytest.raises(PrinterFailed, match="out of paper after 1 of 2") as err:
        printer.print_pdf(pdf(2), 2, "koseki 9")
    assert err.value.printed == 1 and not err.value.uncertain
    assert printer.sheets == 1 and len(list(tmp_path.glob("*.pdf"))) == 1
    printer.load_paper(10)
    assert printer.print_pdf(pdf(2), 1, "koseki 9") == 1 and printer.sheets == 8


def test_directory_jams_and_stays_jammed_until_cleared(tmp_path: Path) -> None:
    printer = DirectoryPrinter(tmp_path, sheets=10, jam_after=3)
    with pytest.raises(PrinterFailed, match="jam in copy 2 of 2") as err:
        printer.print_pdf(pdf(2), 2, "koseki 10")  # pages 1-2 print, page 3 prints, page 4 jams
    assert err.value.printed == 1 and printer.jammed
    assert printer.sheets == 10 - 2 - 2  # the copy that came out, the sheet that printed, the jammed one
    with pytest.raises(PrinterFailed, match="paper jam") as err:
        printer.print_pdf(pdf(1), 1, "koseki 11")
    assert err.value.printed == 0
    printer.clear_jam()
    assert printer.print_pdf(pdf(1), 1, "koseki 11") == 1
    assert sorted(p.name for p in tmp_path.glob("*.pdf")) == ["koseki_10.1.pdf", "koseki_11.1.pdf"]


def test_directory_keeps_titles_inside_and_leaves_no_partial_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    slept: list[float] = []
    printer = DirectoryPrinter(out, delay_s=0.5, sleep=slept.append)
    printer.print_pdf(pdf(1), 2, "x/../../etc 1")  # a title cannot leave the directory
    assert sorted(p.name for p in out.iterdir()) == ["x_.._.._etc_1.1.pdf", "x_.._.._etc_1.2.pdf"]
    assert slept == [0.5, 0.5]  # a slow printer: each copy takes its time
    blocked = DirectoryPrinter(out / "x_.._.._etc_1.1.pdf")
    with pytest.raises(PrinterFailed, match="cannot use") as err:
        blocked.print_pdf(pdf(1), 1, "y 1")  # its directory is a file: nothing can be printed
    assert err.value.printed == 0


def test_count_pages(certificate: bytes) -> None:
    assert count_pages(certificate) == 1
    assert count_pages(pdf(3)) == 3
    with pytest.raises(ValueError, match="not a PDF"):
        count_pages(b"GIF89a")


# -- receipts and refund slips ----------------------------------------------------------------------------

AT = datetime(2026, 4, 1, 10, 23, tzinfo=ZoneInfo("Asia/Tokyo"))
RECEIPT = Receipt(
    session_id="kiosk-1-ab12cd34-00003",
    issue_number="20260401-00007",
    kind="juminhyo",
    copies=2,
    copies_printed=2,
    fee=600,
    kept=600,
    paid=1000,
    change=400,
)
SLIP = RefundSlip(
    session_id="kiosk-1-ab12cd34-00004", key="kiosk-1-ab12cd34-00004:9", amount=800, reason="hoppers_empty"
)
HEADER = ReceiptHeader("kiosk-1", "まどぐち町役場 総合窓口")


def _fixed_text() -> set[str]:
    phrases = {v for table in (*WORDS.values(), *KIND_NAMES.values()) for v in table.values()}
    return phrases | {HEADER.office_name}


def _only_fixed_words(text: str) -> None:
    """Every word is a fixed phrase, an id, an amount or the date: there is no room for resident data."""
    rest = text
    for phrase in sorted(_fixed_text(), key=len, reverse=True):
        rest = rest.replace(phrase, " ")
    rest = re.sub(r"\d{4}年\d{1,2}月\d{1,2}日", " ", rest).replace("円", " ")
    assert not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", rest), rest  # no kana or kanji of a name
    tokens = set(rest.split())
    assert all(re.fullmatch(r"\(?(QR)?[-0-9a-z_:.,/¥：()]*", t) for t in tokens), tokens


def test_the_receipt_has_kind_copies_issue_number_and_money_in_two_languages() -> None:
    job = receipt_job(RECEIPT, "en", HEADER, AT)
    text = job.plain_text()
    for expected in (
        "領収書",
        "Receipt",
        "住民票の写し",
        "Certificate of residence",
        "発行番号：20260401-00007",
        "手数料：600円",
        "Fee: ¥600",
        "お預かり：1,000円",
        "お釣り：400円",
        "Change: ¥400",
        "2026年4月1日 10:23",
        "kiosk-1-ab12cd34-00003",
        "まどぐち町役場",
    ):
        assert expected in text, (expected, text)
    _only_fixed_words(text)
    japanese = receipt_job(RECEIPT, "ja", HEADER, AT).plain_text()
    assert "Receipt" not in japanese and "手数料：600円" in japanese


@pytest.mark.parametrize(
    ("code", "narrowest"),
    [
        ("W" * MAX_SITE_CODE, 512),  # the longest, widest code: whole on every 80 mm printer
        ("demo-town", 384),  # a site id of the usual kind: whole on 58 mm paper too
    ],
)
def test_the_issue_number_stays_whole_on_one_line_of_the_receipt(code: str, narrowest: int) -> None:
    number = f"{code}-20260401-00007"
    receipt = Receipt(**{**RECEIPT.__dict__, "issue_number": number})
    catalog = packaged_printers()
    widths = {p.name: printer_model_named(p.name).width_px for p in catalog.models("printers")}
    assert min(widths.values()) == 384  # the narrowest paper the catalog knows (58 mm)
    fonts = find_fonts()
    for language in ("ja", "pt"):
        (line,) = [
            b for b in receipt_job(receipt, language, HEADER, AT).blocks if isinstance(b, Text) and "発行番号" in b.text
        ]
        font, stroke = fonts.font(line.size, line.bold), fonts.stroke(line.size, line.bold)
        for name, width in widths.items():
            if width >= narrowest:
                room = width - 2 * TEXT_MARGIN_PX  # as drivers/raster.py lays a Text out
                lines = wrap_text(line.text, functools.partial(_fits, font, stroke, room))
                assert any(number in printed for printed in lines), (name, lines)


def _fits(font: Any, stroke: int, room: int, text: str) -> bool:
    return text_width(font, text, stroke) <= room


def test_a_partly_printed_visit_says_so_on_the_receipt() -> None:
    partly = Receipt(**{**RECEIPT.__dict__, "copies_printed": 1, "kept": 300, "change": 700})
    text = receipt_job(partly, "vi", HEADER, AT).plain_text()
    assert "印刷：1 / 2" in text and "Đã in: 1 / 2" in text and "手数料：300円" in text


def test_the_refund_slip_says_how_much_why_and_where() -> None:
    job = refund_slip_job(SLIP, "pt", HEADER, AT)
    text = job.plain_text()
    for expected in (
        "返金票",
        "Comprovante de reembolso",
        "800円",
        "釣銭切れのため",
        "窓口にお持ちください",
        "照合番号 kiosk-1-ab12cd34-00004:9",
        "(QR kiosk-1-ab12cd34-00004:9)",
    ):
        assert expected in text, (expected, text)
    _only_fixed_words(text)


def test_receipts_print_on_the_escpos_stack(tmp_path: Path) -> None:
    printer = open_printer(
        {"model": "TM-T20III", "backend": "fake", "fake": {"png_dir": str(tmp_path), "paper": 2}},
        model=printer_model_named("TM-T20III"),
        fonts=find_fonts(),
    )
    receipts = EscposReceiptPrinter(printer, device_id="kiosk-1", office_name=lambda: "まどぐち町役場", now=lambda: AT)
    receipts.print_receipt(RECEIPT, "ko")
    receipts.print_refund_slip(SLIP, "zh_CN")
    fake = printer.transport
    assert isinstance(fake, FakeEscpos)
    assert len(fake.tickets) == 2 and all(t.cut and t.complete for t in fake.tickets)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["1.png", "2.png"]
    with pytest.raises(PrinterFailed, match="paper_out"):  # the roll is empty now
        receipts.print_receipt(RECEIPT, "ja")
