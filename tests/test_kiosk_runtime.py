"""The kiosk runtime with a real journal on disk and behavioural fakes of the devices and office.

The cash devices are drivers.cash.FakeCashBox (the driver's own behavioural model: inhibits,
escrow, hoppers of coins, event counters that outlive a crashed process). The other fakes model
what the runtime relies on (a card with a PIN counter and a certificate, an office that answers
issue idempotently by request id, printers that record what they print); they stand in for
drivers/jpki.py and the office link, which have their own tests.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certificates.content import CertificateContent, JuminhyoContent, parse_content, plain
from drivers.cash import CoinAccepted, FakeCashBox
from kiosk import flow
from kiosk.binding import BindingRefused, BoundPrinter, LiveSession, PrintJob, release
from kiosk.flow import CertificateOptions, Step
from kiosk.journal import JournalError, KioskJournal, cash_cursor
from kiosk.ports import (
    AuthReply,
    Challenge,
    IssueReply,
    Member,
    OfficeUnavailable,
    PrinterFailed,
    Receipt,
    RefundSlip,
)
from kiosk.runtime import DEFAULT_PHRASES, KioskRuntime, RuntimeSettings, card_serial_of
from sync import messages

NAME = "山田 太郎"
ADDRESS = "福岡県糟屋郡粕屋町駕与丁1-1"
# A 住民票's content as the office's issue reply carries it (certificates.rules.certificate_content).
CONTENT: dict[str, Any] = {
    "format": 1,
    "kind": "juminhyo",
    "municipality": "粕屋町",
    "issue_number": "R8-000001",
    "issued_on": "2026-04-01",
    "issued_on_text": "令和8年4月1日",
    "mayor_line": "粕屋町長",
    "card_serial": "SIM-0001",
    "title": "住民票の写し",
    "certification": "この写しは、住民票の原本と相違ないことを証明する。",
    "household": {"address": ADDRESS, "head": NAME},
    "scope": "members",
    "persons": [
        {
            "name": NAME,
            "kana": "ヤマダ タロウ",
            "birth": "昭和55年4月1日",
            "sex": "男",
            "since": "昭和55年4月1日",
            "address_since": "平成20年4月1日",
            "previous_address": "",
            "foreign": False,
            "my_number": "123456789012",
        }
    ],
    "omitted": ["relationship", "honseki"],
}
_KEY = ec.generate_private_key(ec.SECP256R1())


def certificate(serial: str | None) -> bytes:
    """A DER certificate whose subject carries ``serial`` (as JPKI user certificates do)."""
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, "JPKI user")]
    if serial is not None:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    name = x509.Name(attrs)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_KEY.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(_KEY, hashes.SHA256())
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.DER)


# -- fakes -----------------------------------------------------------------------------------------------


class CardRemoved(Exception):
    """Named like drivers.card_reader.CardRemoved: the runtime recognises it by name."""


@dataclass
class Card:
    """A My Number card: PIN, tries left, certificate."""

    serial: str
    pin: str
    tries: int = 3
    verified: bool = False


class FakeCardApp:
    """JpkiPort over a card in a FakeReader."""

    def __init__(self, reader: FakeReader) -> None:
        self.reader = reader

    def _check(self) -> Card:
        # Like a real transport, it talks to whatever card is powered in the slot.
        if self.reader.card is None or not self.reader.powered:
            raise CardRemoved("card left the reader")
        return self.reader.card

    def select(self) -> None:
        self._check()

    def pin_tries_left(self) -> int:
        return self._check().tries

    def verify_pin(self, pin: str) -> Any:
        card = self._check()
        if card.tries == 0:
            return SimpleCheck(False, 0, True)
        if pin == card.pin:
            card.tries, card.verified = 3, True
        else:
            card.tries -= 1
        return SimpleCheck(pin == card.pin, card.tries, card.tries == 0)

    def read_certificate(self) -> bytes:
        return certificate(self._check().serial)

    def sign(self, challenge: bytes) -> bytes:
        if not self._check().verified:
            raise RuntimeError("PIN not verified")
        return b"sig:" + challenge


@dataclass(frozen=True)
class SimpleCheck:
    ok: bool
    tries_left: int
    blocked: bool


class FakeReader:
    """A card reader: a slot, power, eject."""

    def __init__(self) -> None:
        self.card: Card | None = None
        self.powered = False
        self.releases = 0

    def insert(self, card: Card) -> None:
        self.card = card

    def take(self) -> None:
        self.card, self.powered = None, False

    def card_present(self) -> bool:
        return self.card is not None

    def connect(self) -> Any:
        if self.card is None:
            raise CardRemoved("no card")
        self.powered = True
        return object()

    def release(self) -> None:
        self.releases += 1
        self.powered = False
        if self.card is not None:
            self.card.verified = False  # powering down ends the PIN's validity


class LoggingCashBox(FakeCashBox):
    """drivers.cash.FakeCashBox, logging the commands that must follow their journal record.

    The cash devices outlive a kiosk process: a restarted kiosk is handed the same box
    (:meth:`restart`), as a new process finds the same acceptors and hoppers on the bus.
    """

    def __init__(self, hoppers: Mapping[int, int] | None, log: list[str]) -> None:
        super().__init__(hoppers=hoppers if hoppers is not None else {500: 20, 100: 50, 10: 50})
        self.log = log

    def restart(self, log: list[str]) -> None:
        """A new kiosk process opens the same devices (:meth:`FakeCashBox.reopen`)."""
        self.log = log
        self.reopen()

    def accept(self, max_note: int | None) -> None:
        self.log.append(f"cash:accept:{max_note}")
        super().accept(max_note)

    def stack_note(self) -> None:
        self.log.append("cash:stack_note")
        super().stack_note()

    def pay_out(self, amount: int) -> int:
        self.log.append(f"cash:pay_out:{amount}")
        return super().pay_out(amount)


class FakeOffice:
    """The office's certificate service: residents by card serial, idempotent issue."""

    def __init__(self, log: list[str] | None = None) -> None:
        self.is_online = True
        self.fail_next: list[str] = []  # call names that raise OfficeUnavailable once each
        self.refuse = {"SIM-0005": "go_to_counter"}
        self.issued: dict[str, str] = {}
        self.issue_calls: list[str] = []
        self.reports: list[dict[str, Any]] = []
        self.on_issue: Callable[[], None] | None = None
        self.log = log if log is not None else []
        self.fees = {"juminhyo": 300, "inkan": 300, "koseki": 450, "fuhyo": 300, "shotoku": 300}
        self._tokens: dict[str, str] = {}
        self.hours_open: bool | None = True
        self.content: dict[str, Any] = CONTENT

    def _maybe_fail(self, call: str) -> None:
        if call in self.fail_next:
            self.fail_next.remove(call)
            raise OfficeUnavailable(f"{call}: no answer")

    def online(self) -> bool:
        return self.is_online

    def in_hours(self) -> bool | None:
        return self.hours_open

    def challenge(self, request_id: str, timeout_s: float) -> Challenge:
        self._maybe_fail("challenge")
        return Challenge("ch-1", b"\x01" * 32, 0)

    def authenticate(self, request: messages.AuthenticateRequest, timeout_s: float) -> AuthReply:
        self._maybe_fail("authenticate")
        assert request.signature == b"sig:" + b"\x01" * 32
        serial = card_serial_of(request.certificate)
        if serial in self.refuse:
            return AuthReply(ok=False, refusal=self.refuse[serial])
        self._tokens[request.request_id.rsplit(":", 1)[0]] = serial
        household = (Member("R1", NAME), Member("R2", "山田 花子"))
        fee = self.fees[request.kind] * request.copies
        return AuthReply(ok=True, session_token=f"tok-{serial}", fee=fee, household=household)

    def issue(self, request: messages.IssueRequest, timeout_s: float) -> IssueReply:
        self.log.append("office:issue")
        self.issue_calls.append(request.request_id)
        if self.on_issue is not None:
            self.on_issue()
        self._maybe_fail("issue")
        number = self.issued.setdefault(request.request_id, f"R8-{len(self.issued) + 1:06d}")
        fee = self.fees[request.kind or ""] * (request.copies or 1)
        return IssueReply(ok=True, issue_number=number, fee=fee, certificate=copy.deepcopy(self.content))

    def report(self, record: Mapping[str, Any]) -> None:
        self.reports.append(dict(record))


class FakePrinter:
    """The A4 printer: keeps what it printed; can fail."""

    def __init__(self, log: list[str] | None = None) -> None:
        self.printed: list[tuple[bytes, int]] = []
        self.fail: PrinterFailed | None = None
        self.during: Callable[[], None] | None = None
        self.log = log if log is not None else []

    def print_pdf(self, pdf: bytes, copies: int, title: str) -> int:
        self.log.append("printer:print")
        if self.during is not None:
            self.during()
        if self.fail is not None:
            raise self.fail
        self.printed.append((pdf, copies))
        return copies


class FakeRenderer:
    def render(self, kind: str, content: CertificateContent, issue_number: str) -> bytes:
        page = {**plain(content), "kind": kind, "n": issue_number}
        return b"%PDF-1.7 " + json.dumps(page, ensure_ascii=False).encode()


class FakeReceipts:
    def __init__(self) -> None:
        self.receipts: list[Receipt] = []
        self.slips: list[RefundSlip] = []

    def print_receipt(self, receipt: Receipt, language: str) -> None:
        self.receipts.append(receipt)

    def print_refund_slip(self, slip: RefundSlip, language: str) -> None:
        self.slips.append(slip)


class FakeSpeaker:
    def __init__(self) -> None:
        self.said: list[tuple[str, str]] = []

    def say(self, text: str, language: str) -> None:
        self.said.append((text, language))


class FakeClock:
    def __init__(self) -> None:
        self.ms = 1_000

    def monotonic_ms(self) -> int:
        return self.ms

    def wall_ms(self) -> int:
        return 1_780_000_000_000 + self.ms


class LoggingJournal(KioskJournal):
    """The real journal, logging each append into the shared call log (and failing on demand)."""

    def __init__(self, directory: Path, log: list[str], fail_at: str | None = None) -> None:
        super().__init__(directory)
        self.log = log
        self.fail_at = fail_at

    def append(self, entry: flow.JournalEntry, at_ms: int) -> dict[str, Any]:
        if entry.kind == self.fail_at:
            raise JournalError("disk full")
        record = super().append(entry, at_ms)
        self.log.append(f"journal:{entry.kind}")
        return record


class Kiosk:
    """A runtime wired to fakes, with helpers to act like a resident."""

    def __init__(
        self,
        tmp: Path,
        *,
        hoppers: Mapping[int, int] | None = None,
        fail_at: str | None = None,
        start: bool = True,
        cash: LoggingCashBox | None = None,
        boot_id: str = "t1",
    ) -> None:
        self.log: list[str] = []
        self.journal = LoggingJournal(tmp / "journal", self.log, fail_at)
        if cash is None:
            self.cash = LoggingCashBox(hoppers, self.log)
        else:
            # A restart: the same physical devices, found again by a new process.
            assert hoppers is None, "the hoppers of a shared cash box are already filled"
            self.cash = cash
            self.cash.restart(self.log)
        self.reader = FakeReader()
        self.office = FakeOffice(self.log)
        self.printer = FakePrinter(self.log)
        self.receipts = FakeReceipts()
        self.speaker = FakeSpeaker()
        self.clock = FakeClock()
        self.seen: list[flow.Effect] = []
        self.rt = KioskRuntime(
            config=flow.FlowConfig(device_id="kiosk-7"),
            journal=self.journal,
            cash=self.cash,
            reader=self.reader,
            open_card=lambda transport: FakeCardApp(self.reader),
            office=self.office,
            printer=self.printer,
            renderer=FakeRenderer(),
            receipts=self.receipts,
            speaker=self.speaker,
            clock=self.clock,
            settings=RuntimeSettings(office_timeout_s=0.1),
            boot_id=boot_id,
        )
        self.rt.subscribe(lambda state, effects: self.seen.extend(effects))
        if start:
            self.rt.start()

    @property
    def step(self) -> Step:
        return self.rt.state.step

    def ui(self, event_type: type[flow.Event], **fields: Any) -> None:
        self.rt.post(event_type(now_ms=self.rt.now_ms(), **fields))
        self.rt.pump()

    def to_payment(
        self, card: Card, kind: str = "juminhyo", copies: int = 1, options: CertificateOptions | None = None
    ) -> None:
        self.ui(flow.ChooseLanguage, language="ja")
        self.ui(flow.ChooseCertificate, kind=kind)
        self.ui(flow.ConfirmOptions, options=options or flow.default_options(kind), copies=copies)
        assert self.step is Step.INSERT_CARD
        self.reader.insert(card)
        self.rt.pump()
        assert self.step is Step.PIN, self.step
        self.ui(flow.EnterPin, pin=card.pin)
        if self.step is Step.MEMBERS:
            return
        assert self.step is Step.CONFIRM_FEE, (self.step, self.rt.state.outcome)
        self.ui(flow.ConfirmFee)
        assert self.step is Step.PAYMENT

    def coins(self, *values: int) -> None:
        for v in values:
            assert self.cash.insert_coin(v)
            self.rt.pump()

    def note(self, value: int) -> None:
        assert self.cash.insert_note(value), f"validator refused {value}"
        self.rt.pump()  # escrow -> stack command
        self.rt.pump()  # stacked

    def journal_text(self) -> str:
        return "".join(p.read_text("utf-8") for p in sorted((self.journal.directory).glob("seg-*.json*")))


def _visit_reports(k: Kiosk) -> list[dict[str, Any]]:
    """The office's reports, without the close of the cash-cursor record a first start writes."""
    cursor = {r["session"] for r in k.journal.records() if r["kind"] == "cash_cursor"}
    return [r for r in k.office.reports if r["session"] not in cursor]


def _happy(k: Kiosk) -> Card:
    card = Card("SIM-0001", "1234")
    k.to_payment(card, copies=2)
    k.coins(100)
    k.note(1000)
    return card


# -- whole visits ----------------------------------------------------------------------------------------


def test_paid_visit_prints_once_gives_change_receipt_and_card(tmp_path: Path) -> None:
    k = Kiosk(tmp_path)
    _happy(k)
    assert len(k.printer.printed) == 1 and k.printer.printed[0][1] == 2
    assert NAME in k.printer.printed[0][0].decode()
    assert sum(k.cash.dispensed) == 500 and sum(k.cash.cashbox) == 1100
    (receipt,) = k.receipts.receipts
    assert (receipt.fee, receipt.paid, receipt.change) == (600, 1100, 500)
    assert k.step is Step.TAKE_CARD and k.reader.powered is False
    k.reader.take()
    k.rt.pump()
    assert k.step is Step.GOODBYE
    jobs = [e.job for e in k.seen if isinstance(e, flow.PrintCertificate)]
    assert len(jobs) == 1 and jobs[0].discarded  # resident data dropped after printing
    kinds = [r["kind"] for r in _visit_reports(k)]
    assert kinds == ["fee_kept", "payout_done", "session_closed"]
    assert k.journal.open_sessions() == frozenset()
    assert ("カードをお取りください", "ja") in k.speaker.said


def test_journal_files_never_hold_pin_names_tokens_or_content(tmp_path: Path) -> None:
    k = Kiosk(tmp_path)
    card = Card("SIM-0001", "8642")
    k.to_payment(card)
    k.coins(500)
    text = k.journal_text()
    assert "8642" not in text and "tok-" not in text and "SIM-0001" not in text
    for word in (NAME, "粕屋", "123456789012", "山田 花子"):
        assert word not in text
    assert '"fee_kept"' in text  # the journal was written


def test_journal_before_every_action(tmp_path: Path) -> None:
    k = Kiosk(tmp_path)
    _happy(k)

    def before(journal_kind: str, action: str) -> None:
        assert k.log.index(f"journal:{journal_kind}") < k.log.index(action), k.log

    before("payment_intent", "cash:accept:10000")
    before("note_escrowed", "cash:stack_note")
    before("issue_requested", "office:issue")
    before("print_started", "printer:print")
    before("payout_intent", "cash:pay_out:500")


def test_early_listeners_see_the_waiting_step_before_the_wait_and_every_effect_once(tmp_path: Path) -> None:
    k = Kiosk(tmp_path, start=False)
    early: list[tuple[Step, int, tuple[flow.Effect, ...]]] = []
    late: list[tuple[flow.Effect, ...]] = []
    k.rt.subscribe(lambda state, effects: early.append((state.step, len(k.log), effects)), early=True)
    k.rt.subscribe(lambda state, effects: late.append(effects))
    k.rt.start()
    _happy(k)
    # The issuing screen (and its voice) reached the early listener before the office was asked,
    # the printing screen before the printer ran.
    issue_at, print_at = k.log.index("office:issue"), k.log.index("printer:print")
    assert any(step is Step.ISSUING and seen <= issue_at for step, seen, _ in early), early
    assert any(step is Step.PRINTING and seen <= print_at for step, seen, _ in early), early
    # Each effect reached both kinds of listener exactly once, in the same order.
    assert [fx for _, _, chunk in early for fx in chunk] == [fx for chunk in late for fx in chunk]


def test_a_journal_failure_stops_before_the_action(tmp_path: Path) -> None:
    k = Kiosk(tmp_path, fail_at="issue_requested")
    k.to_payment(Card("SIM-0001", "1234"))
    k.coins(100, 100, 100)
    assert k.step is Step.OUT_OF_SERVICE
    assert "office:issue" not in k.log and not k.printer.printed
    assert k.reader.powered is False and not k.cash.accepting
    assert not k.cash.insert_coin(100)  # cash stays inhibited


# -- refusals, PIN, office --------------------------------------------------------------------------------


def test_three_wrong_pins_block_the_card_and_take_no_money(tmp_path: Path) -> None:
    k = Kiosk(tmp_path)
    k.ui(flow.ChooseLanguage, language="en")
    k.ui(flow.ChooseCertificate, kind="inkan")
    k.ui(flow.ConfirmOptions, options=CertificateOptions(), copies=1)
    card = Card("SIM-0002", "2345")
    k.reader.insert(card)
    k.rt.pump()
    for left in (2, 1):
        k.ui(flow.EnterPin, pin="0000")
        assert k.step is Step.PIN and k.rt.state.session is not None and k.rt.state.session.tries_left == left
    k.ui(flow.EnterPin, pin="0000")
    assert card.tries == 0 and k.rt.state.outcome == "card_blocked" and k.step is Step.TAKE_CARD
    assert not any(line.startswith("cash:accept") for line in k.log)
    assert [r["kind"] for r in k.journal.records()] == ["cash_cursor", "session_closed"]  # at start only


def test_dv_refusal_comes_before_payment(tmp_path: Path) -> None:
    k = Kiosk(tmp_path)
    k.ui(flow.ChooseLanguage, language="ja")
    k.ui(flow.ChooseCertificate, kind="juminhyo")
    k.ui(flow.ConfirmOptions, options=CertificateOptions(), copies=1)
    k.reader.insert(Card("SIM-0005", "5678"))
    k.rt.pump()
    k.ui(flow.EnterPin, pin="5678")
    assert k.rt.state.outcome == "go_to_counter" and k.step is Step.TAKE_CARD
    assert not any(line.startswith("cash:accept") for line in k.log)
    assert k.office.issue_calls == []


def test_office_away_refuses_card_and_visit(tmp_path: Path) -> None:
    k = Kiosk(tmp_path)
    k.office.is_online = False
    k.rt.pump()
    k.ui(flow.ChooseLanguage, language="ja")
    assert k.step is Step.LANGUAGE and k.rt.state.notice == "unavailable"
    k.reader.insert(Card("SIM-0001", "1234"))
    k.rt.pump()
    assert k.reader.releases >= 2  # ejected at once (the first release was at start)


def test_outside_the_hours_no_visit_starts_and_a_card_comes_straight_back(tmp_path: Path) -> None:
    k = Kiosk(tmp_path)
    k.office.hours_open = False
    k.rt.pump()
    assert not k.rt.state.in_hours
    k.ui(flow.ChooseLanguage, language="ja")
    assert k.step is Step.LANGUAGE and k.rt.state.notice == "closed"
    releases = k.reader.releases
    k.reader.insert(Card("SIM-0001", "1234"))
    k.rt.pump()
    assert k.reader.releases == releases + 1 and k.rt.state.card == "returned"  # ejected at once
    assert (DEFAULT_PHRASES["ja"]["closed"], "ja") in k.speaker.said  # said aloud, too
    assert k.journal.open_sessions() == frozenset() and k.office.issue_calls == []
    # Opening time: the next resident is served.
    k.reader.take()
    k.office.hours_open = True
    k.rt.pump()
    k.to_payment(Card("SIM-0001", "1234"))
    assert k.step is Step.PAYMENT


def test_a_visit_under_way_at_closing_time_may_finish(tmp_path: Path) -> None:
    k = Kiosk(tmp_path)
    card = Card("SIM-0001", "1234")
    k.to_payment(card)
    k.office.hours_open = False  # 23:00 strikes while the resident pays
    k.rt.pump()
    k.note(1000)
    assert k.step is Step.TAKE_CARD and len(k.printer.printed) == 1
    k.reader.take()
    k.rt.pump()
    k.ui(flow.StillHere)
    k.ui(flow.ChooseLanguage, language="ja")
    assert k.step is Step.LANGUAGE and k.rt.state.notice == "closed"  # but no new visit


def test_issue_is_retried_with_the_same_request_id(tmp_path: Path) -> None:
    k = Kiosk(tmp_path)
    k.office.fail_next = ["issue"]
    k.to_payment(Card("SIM-0001", "1234"))
    k.coins(100, 100, 100)
    assert len(k.office.issue_calls) == 2 and len(set(k.office.issue_calls)) == 1
    assert len(k.office.issued) == 1 and len(k.printer.printed) == 1


def test_office_lost_at_issue_refunds_and_voids(tmp_path: Path) -> None:
    k = Kiosk(tmp_path)
    k.office.fail_next = ["issue", "issue", "issue"]
    k.to_payment(Card("SIM-0001", "1234"))
    k.coins(500)
    assert k.rt.state.outcome == "office_lost" and sum(k.cash.dispensed) == 500
    assert "issue_void" in [r["kind"] for r in k.office.reports]
    assert not k.printer.printed


# -- cash edge cases --------------------------------------------------------------------------------------


def test_empty_hoppers_print_a_refund_slip(tmp_path: Path) -> None:
    k = Kiosk(tmp_path, hoppers={500: 0, 100: 3, 10: 0})
    assert k.rt.state.change_low  # at start: cannot pay 9,990
    k.to_payment(Card("SIM-0001", "1234"))
    assert k.cash.max_note is None  # exact amount: 300 due, no note fits
    k.coins(500)  # a 500-yen coin cannot be refused: change owed
    assert sum(k.cash.dispensed) == 200
    assert not k.receipts.slips
    k2 = Kiosk(tmp_path / "b", hoppers={500: 0, 100: 1, 10: 0})
    k2.to_payment(Card("SIM-0001", "1234"))
    k2.coins(500)
    assert sum(k2.cash.dispensed) == 100
    (slip,) = k2.receipts.slips
    assert slip.amount == 100 and slip.reason == "hoppers_empty"
    assert "refund_owed" in [r["kind"] for r in k2.office.reports]


def test_note_needing_change_the_hoppers_lack_is_returned(tmp_path: Path) -> None:
    k = Kiosk(tmp_path, hoppers={500: 20, 100: 0, 10: 0})
    k.rt.feed(flow.ChangeStatus(low=False, now_ms=k.rt.now_ms()))  # pretend the probe said fine
    k.to_payment(Card("SIM-0001", "1234"))
    assert k.cash.insert_note(1000)
    k.rt.pump()
    k.rt.pump()
    assert sum(k.cash.cashbox) == 0 and k.cash.returned == [1000]  # handed back, never stacked
    assert k.rt.state.change_low and k.rt.state.session is not None
    assert k.rt.state.session.paid == 0


def test_change_paid_events_are_not_counted_twice(tmp_path: Path) -> None:
    k = Kiosk(tmp_path)
    _happy(k)
    k.rt.pump()  # the ChangePaid trace is polled now and must change nothing
    assert k.rt.state.totals == flow.Ledger(inserted=1100, kept=600, returned=500, owed=0)


# -- print binding -----------------------------------------------------------------------------------------


def _job(session: str = "S-A", serial: str = "SIM-0001", request: str = "S-A:issue") -> PrintJob:
    return PrintJob(
        session_id=session,
        card_serial=serial,
        request_id=request,
        issue_number="N1",
        kind="juminhyo",
        copies=1,
        content=parse_content(CONTENT),
    )


@pytest.mark.parametrize(
    ("live", "reason"),
    [
        (None, "no session is live"),
        (LiveSession("S-B", "S-B:issue", "SIM-0001"), "another session"),
        (LiveSession("S-A", "S-A:other", "SIM-0001"), "another issuance request"),
        (LiveSession("S-A", "S-A:issue", None), "no card"),
        (LiveSession("S-A", "S-A:issue", "SIM-0002"), "not the card that asked"),
    ],
)
def test_release_refuses_a_job_that_is_not_the_live_sessions(live: LiveSession | None, reason: str) -> None:
    with pytest.raises(BindingRefused, match=reason):
        release(_job(), live)
    content = release(_job(), LiveSession("S-A", "S-A:issue", "SIM-0001"))
    assert isinstance(content, JuminhyoContent) and content.persons[0].name == NAME


def test_job_hides_and_drops_its_content() -> None:
    job = _job()
    assert NAME not in repr(job)
    job.discard()
    with pytest.raises(BindingRefused, match="already printed"):
        release(job, LiveSession("S-A", "S-A:issue", "SIM-0001"))


def test_delayed_print_of_session_a_is_refused_once_session_b_is_live(tmp_path: Path) -> None:
    k = Kiosk(tmp_path)
    # Session A reaches printing; a copy of its job is held back (a spooler delay), then A ends.
    held: list[LiveSession | None] = []
    k.printer.during = lambda: held.append(k.rt.live_session())
    _happy(k)
    live_a = held[0]
    assert live_a is not None and live_a.card_serial == "SIM-0001"
    job_a = PrintJob(
        session_id=live_a.session_id,
        card_serial="SIM-0001",
        request_id=str(live_a.request_id),
        issue_number="N1",
        kind="juminhyo",
        copies=1,
        content=parse_content(CONTENT),
    )
    k.reader.take()
    k.rt.pump()
    k.clock.ms += 10_000
    k.rt.pump()
    # Session B (another resident, another card) is at its print when A's job finally arrives.
    late_printer = FakePrinter()
    outcomes: list[Any] = []
    late = BoundPrinter(late_printer, FakeRenderer(), k.rt.live_session)
    k.printer.during = lambda: outcomes.append(late.print(job_a))
    k.to_payment(Card("SIM-0002", "2345"))
    k.coins(100, 100, 100)
    assert outcomes and outcomes[0].refused == "the job belongs to another session"
    assert late_printer.printed == [] and job_a.discarded
    assert len(k.printer.printed) == 2  # A's and B's own certificates, once each


def test_card_swapped_before_printing_is_refused_and_refunded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    k = Kiosk(tmp_path)
    # Another card in the slot by the time the print is released (a reader that keeps power).
    k.office.on_issue = lambda: k.reader.insert(Card("SIM-0006", "6789"))
    k.to_payment(Card("SIM-0001", "1234"))
    k.coins(100, 100, 100)
    assert not k.printer.printed
    assert sum(k.cash.dispensed) == 300 and k.rt.state.outcome == "print_failed"
    assert "the card in the reader is not the card that asked" in caplog.text
    assert "issue_void" not in [r["kind"] for r in k.office.reports]  # printing had started: an alert instead


def test_content_that_does_not_fit_is_refused_before_printing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    k = Kiosk(tmp_path)
    bad = copy.deepcopy(CONTENT)
    bad["persons"][0]["birth"] = 19800401  # read once, at the reply: the key path is named
    k.office.content = bad
    k.to_payment(Card("SIM-0001", "1234"))
    k.coins(100, 100, 100)
    assert not k.printer.printed and sum(k.cash.dispensed) == 300
    assert not [e for e in k.seen if isinstance(e, flow.PrintCertificate)]
    assert "does not fit at 'persons[0].birth'" in caplog.text
    assert "19800401" not in caplog.text and NAME not in caplog.text  # no resident data in the log


def test_printer_failure_refunds_and_never_reprints(tmp_path: Path) -> None:
    k = Kiosk(tmp_path)
    k.printer.fail = PrinterFailed("paper out", printed=0)
    k.to_payment(Card("SIM-0001", "1234"))
    k.coins(500)
    assert sum(k.cash.dispensed) == 500 and not k.printer.printed
    assert k.log.count("printer:print") == 1


# -- start-up: recovery and re-reporting ---------------------------------------------------------------


def _restart(k: Kiosk, tmp: Path) -> Kiosk:
    """A crash (this runtime abandoned where it stands) and a new kiosk process on the same devices."""
    k.journal.close()
    k2 = Kiosk(tmp, cash=k.cash, start=False)
    k2.rt.start()
    return k2


def _closed(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The data of every session_closed record, each checked to balance."""
    closed = [r["data"] for r in records if r["kind"] == "session_closed"]
    for data in closed:
        assert data["paid"] == data["kept"] + data["returned"] + data["owed"], data
    return closed


def test_start_recovers_an_unfinished_session_and_re_reports(tmp_path: Path) -> None:
    k = Kiosk(tmp_path)
    k.to_payment(Card("SIM-0001", "1234"))
    k.coins(100)
    k.coins(100)
    # Power cut before the fee is in: fake a crash by abandoning this runtime.
    k2 = _restart(k, tmp_path)
    assert sum(k2.cash.dispensed) == 200 and not k2.printer.printed and k2.office.issue_calls == []
    kinds = [r["kind"] for r in _visit_reports(k2)]
    assert kinds == ["recovered", "payout_done", "session_closed"]
    assert k2.journal.open_sessions() == frozenset()
    k3 = _restart(k2, tmp_path)
    k3.rt.pump()
    assert k3.cash.dispensed == [100, 100]  # nothing left to settle, nothing paid twice
    assert [r["key"] for r in k3.office.reports] == [r["key"] for r in k2.office.reports]  # sent again


@pytest.mark.parametrize("read_before_the_crash", [False, True], ids=["never_polled", "polled_not_journalled"])
def test_coins_taken_just_before_a_crash_are_credited_and_paid_back(
    tmp_path: Path, read_before_the_crash: bool
) -> None:
    k = Kiosk(tmp_path)
    k.to_payment(Card("SIM-0001", "1234"))
    k.coins(100)  # polled and journalled
    # Two more coins drop in the last moment: the acceptor has them, the journal does not.
    assert k.cash.insert_coin(100) and k.cash.insert_coin(50)
    if read_before_the_crash:
        assert [e.value for e in k.cash.poll() if isinstance(e, CoinAccepted)] == [100, 50]
    k2 = _restart(k, tmp_path)
    k2.rt.pump()
    k2.rt.pump()
    assert k2.cash.cashbox == [100, 100, 50]
    assert sorted(k2.cash.dispensed, reverse=True) == [100, 100, 10, 10, 10, 10, 10]  # 250 yen, each coin once
    records = k2.journal.records()
    coins = [(r["data"]["value"], r["data"].get("counter")) for r in records if r["kind"] == "coin_accepted"]
    assert coins == [(100, 1), (100, 2), (50, 3)]  # credited once each, with the acceptor's counter
    closed = _closed(records)
    assert sum(d["paid"] for d in closed) == 250 and sum(d["returned"] for d in closed) == 250
    assert sum(d["kept"] + d["owed"] for d in closed) == 0
    assert k2.journal.open_sessions() == frozenset()
    assert k2.rt.state.totals == flow.Ledger(inserted=250, kept=0, returned=250, owed=0)
    assert not k2.printer.printed and k2.office.issue_calls == []
    assert not k2.receipts.slips and not k2.receipts.receipts
    assert not k2.cash.accepting


def test_the_first_start_journals_the_counters_so_the_first_coin_is_never_lost(tmp_path: Path) -> None:
    cash = LoggingCashBox(None, [])
    for _ in range(3):  # money taken before this kiosk's journal existed: history, not a visit
        cash.accept(None)
        assert cash.insert_coin(10)
    cash.poll()
    k = Kiosk(tmp_path, cash=cash)
    cursor = [r["data"] for r in k.journal.records() if r["kind"] == "cash_cursor"]
    assert cursor == [{"bill_validator": 0, "coin_acceptor": 3}]
    k.to_payment(Card("SIM-0001", "1234"))
    assert k.cash.insert_coin(100)  # the visit's first coin: the crash comes before any poll
    k2 = _restart(k, tmp_path)
    k2.rt.pump()
    assert k2.cash.dispensed == [100]  # the 100 yen is paid back; the 30 yen of history is not
    assert [r["kind"] for r in k2.journal.records()].count("cash_cursor") == 1  # written once


def test_a_note_stacked_after_the_restart_assumed_it_is_refunded_once(tmp_path: Path) -> None:
    k = Kiosk(tmp_path)
    k.to_payment(Card("SIM-0001", "1234"))
    assert k.cash.insert_note(1000)
    k.rt.pump()  # note_escrowed action=stack journalled, then the stack command
    assert k.cash.cashbox == [1000] and k.log[-1] == "cash:stack_note"
    # The crash comes before the NoteStacked is polled: the restart assumes the stack and refunds.
    k2 = _restart(k, tmp_path)
    k2.rt.pump()
    k2.rt.pump()
    assert sum(k2.cash.dispensed) == 1000  # the note once, not twice
    records = k2.journal.records()
    stacked = [r["data"] for r in records if r["kind"] == "note_stacked"]
    assert stacked == [{"value": 1000, "paid": 1000, "assumed": True}]
    # The validator's late report is journalled (and reported) as a confirmation, not a credit.
    alerts = [r["data"] for r in records if r["kind"] == "alert"]
    assert alerts == [{"code": "note_stack_confirmed", "value": 1000, "counter": 2}]
    assert [r["data"] for r in k2.office.reports if r["kind"] == "alert"] == alerts
    assert sum(d["paid"] for d in _closed(records)) == 1000
    assert k2.journal.open_sessions() == frozenset()
    assert not k2.printer.printed and not k2.receipts.slips
    # The confirmation moved the cursor past the note: one more restart finds nothing new.
    k3 = _restart(k2, tmp_path)
    k3.rt.pump()
    assert sum(k3.cash.dispensed) == 1000
    assert [r["key"] for r in k3.journal.records()] == [r["key"] for r in records]


def test_a_second_crash_before_the_late_report_still_refunds_the_note_once(tmp_path: Path) -> None:
    k = Kiosk(tmp_path)
    k.to_payment(Card("SIM-0001", "1234"))
    assert k.cash.insert_note(1000)
    k.rt.pump()  # escrowed (journalled), stack command; the stacked report is never polled
    k2 = _restart(k, tmp_path)  # recovery assumes the stack and refunds, in start()
    assert sum(k2.cash.dispensed) == 1000
    k3 = _restart(k2, tmp_path)  # down again before any poll: the assumption lives in the journal
    k3.rt.pump()
    k3.rt.pump()
    assert sum(k3.cash.dispensed) == 1000  # the validator's report did not count the note again
    records = k3.journal.records()
    assert [r["data"]["code"] for r in records if r["kind"] == "alert"] == ["note_stack_confirmed"]
    assert k3.rt.state.late_notes == ()


def test_a_restart_with_nothing_after_the_cursor_credits_and_pays_nothing(tmp_path: Path) -> None:
    k = Kiosk(tmp_path)
    _happy(k)  # a coin, then a note escrowed and stacked: the acceptors' histories hold all three
    k.reader.take()
    k.rt.pump()
    records = k.journal.records()
    assert cash_cursor(records) == {"coin_acceptor": 1, "bill_validator": 2}
    paid_before = list(k.cash.dispensed)
    k2 = _restart(k, tmp_path)
    k2.rt.pump()
    k2.rt.pump()
    assert k2.cash.dispensed == paid_before  # history up to the cursor is not reported again
    assert [r["key"] for r in k2.journal.records()] == [r["key"] for r in records]
    assert k2.rt.state.session is None and k2.step is Step.LANGUAGE
    assert k2.rt.state.totals == flow.Ledger(inserted=0, kept=0, returned=0, owed=0)


def test_runs_in_a_thread_and_takes_posts_from_another(tmp_path: Path) -> None:
    k = Kiosk(tmp_path, start=False)
    k.rt.settings = RuntimeSettings(poll_interval_s=0.01)
    states: list[Step] = []
    done = threading.Event()

    def watch(state: flow.Kiosk, effects: tuple[flow.Effect, ...]) -> None:
        states.append(state.step)
        if state.step is Step.OPTIONS:
            done.set()

    k.rt.subscribe(watch)
    k.rt.start_thread()
    try:
        k.rt.post(flow.ChooseLanguage(language="ja", now_ms=k.rt.now_ms()))
        k.rt.post(flow.ChooseCertificate(kind="inkan", now_ms=k.rt.now_ms()))
        assert done.wait(5)
    finally:
        k.rt.stop()
    assert Step.CERTIFICATE in states


def test_card_serial_of_needs_a_serial_number() -> None:
    assert card_serial_of(certificate("SIM-0007")) == "SIM-0007"
    with pytest.raises(ValueError, match="no serialNumber"):
        card_serial_of(certificate(None))
