"""The kiosk runtime with a real journal on disk and behavioural fakes of the devices and office.

The fakes model what the runtime relies on (a card with a PIN counter and a certificate, a
cash box with inhibits, escrow and hoppers of coins, an office that answers issue idempotently
by request id, printers that record what they print). They stand in for drivers/cash.py,
drivers/jpki.py and the office link, which have their own tests.
"""

from __future__ import annotations

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

from kiosk import flow
from kiosk.binding import BindingRefused, BoundPrinter, LiveSession, PrintJob, release
from kiosk.flow import CertificateOptions, Step
from kiosk.journal import JournalError, KioskJournal
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
from kiosk.runtime import KioskRuntime, RuntimeSettings, card_serial_of

NAME = "山田 太郎"
CONTENT = {"name": NAME, "address": "福岡県糟屋郡粕屋町駕与丁1-1", "my_number": "123456789012"}
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


# cash events, named as in drivers/cash.py
@dataclass(frozen=True)
class CoinAccepted:
    value: int


@dataclass(frozen=True)
class NoteEscrowed:
    value: int


@dataclass(frozen=True)
class NoteStacked:
    value: int


@dataclass(frozen=True)
class NoteReturned:
    value: int


@dataclass(frozen=True)
class ChangePaid:
    value: int


class FakeCash:
    """Coin acceptor, bill validator with escrow, hoppers of 500/100/10-yen coins."""

    def __init__(self, hoppers: Mapping[int, int] | None = None, log: list[str] | None = None) -> None:
        self.hoppers = dict(hoppers if hoppers is not None else {500: 20, 100: 50, 10: 50})
        self.coins_open = False
        self.max_note: int | None = None
        self.escrow: int | None = None
        self.events: list[object] = []
        self.cashbox = 0
        self.paid_out = 0
        self.log = log if log is not None else []

    def accept(self, max_note: int | None) -> None:
        self.log.append(f"cash:accept:{max_note}")
        self.coins_open, self.max_note = True, max_note

    def inhibit(self) -> None:
        self.coins_open, self.max_note = False, None

    def poll(self) -> list[object]:
        out, self.events = self.events, []
        return out

    def insert_coin(self, value: int) -> bool:
        if not self.coins_open:
            return False
        self.cashbox += value
        self.events.append(CoinAccepted(value))
        return True

    def insert_note(self, value: int) -> bool:
        if self.max_note is None or value > self.max_note or self.escrow is not None:
            return False
        self.escrow = value
        self.events.append(NoteEscrowed(value))
        return True

    def stack_note(self) -> None:
        self.log.append("cash:stack_note")
        if self.escrow is not None:
            self.cashbox += self.escrow
            self.events.append(NoteStacked(self.escrow))
            self.escrow = None

    def return_note(self) -> None:
        if self.escrow is not None:
            self.events.append(NoteReturned(self.escrow))
            self.escrow = None

    def _plan(self, amount: int) -> dict[int, int]:
        plan, left = {}, amount
        for coin in (500, 100, 10):
            n = min(left // coin, self.hoppers.get(coin, 0))
            plan[coin], left = n, left - n * coin
        return plan

    def can_pay(self, amount: int) -> bool:
        return sum(c * n for c, n in self._plan(amount).items()) == amount

    def pay_out(self, amount: int) -> int:
        self.log.append(f"cash:pay_out:{amount}")
        plan = self._plan(amount)
        paid = 0
        for coin, n in plan.items():
            self.hoppers[coin] -= n
            paid += coin * n
        self.paid_out += paid
        self.events.append(ChangePaid(paid))
        return paid

    def close(self) -> None:
        pass


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

    def _maybe_fail(self, call: str) -> None:
        if call in self.fail_next:
            self.fail_next.remove(call)
            raise OfficeUnavailable(f"{call}: no answer")

    def online(self) -> bool:
        return self.is_online

    def challenge(self, request_id: str, timeout_s: float) -> Challenge:
        self._maybe_fail("challenge")
        return Challenge("ch-1", b"\x01" * 32, 0)

    def authenticate(
        self,
        request_id: str,
        challenge_id: str,
        certificate: bytes,
        signature: bytes,
        kind: str,
        options: Mapping[str, Any],
        copies: int,
        timeout_s: float,
    ) -> AuthReply:
        self._maybe_fail("authenticate")
        assert signature == b"sig:" + b"\x01" * 32
        serial = card_serial_of(certificate)
        if serial in self.refuse:
            return AuthReply(ok=False, refusal=self.refuse[serial])
        self._tokens[request_id.rsplit(":", 1)[0]] = serial
        household = (Member("R1", NAME), Member("R2", "山田 花子"))
        return AuthReply(ok=True, session_token=f"tok-{serial}", fee=self.fees[kind] * copies, household=household)

    def issue(
        self,
        request_id: str,
        session_token: str,
        kind: str,
        options: Mapping[str, Any],
        copies: int,
        paid: int,
        timeout_s: float,
    ) -> IssueReply:
        self.log.append("office:issue")
        self.issue_calls.append(request_id)
        if self.on_issue is not None:
            self.on_issue()
        self._maybe_fail("issue")
        number = self.issued.setdefault(request_id, f"R8-{len(self.issued) + 1:06d}")
        return IssueReply(ok=True, issue_number=number, fee=self.fees[kind] * copies, certificate=dict(CONTENT))

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
    def render(self, kind: str, content: Mapping[str, Any], issue_number: str) -> bytes:
        return b"%PDF-1.7 " + json.dumps({"kind": kind, "n": issue_number, **content}, ensure_ascii=False).encode()


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
        self, tmp: Path, *, hoppers: Mapping[int, int] | None = None, fail_at: str | None = None, start: bool = True
    ) -> None:
        self.log: list[str] = []
        self.journal = LoggingJournal(tmp / "journal", self.log, fail_at)
        self.cash = FakeCash(hoppers, self.log)
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
            boot_id="t1",
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
    assert k.cash.paid_out == 500 and k.cash.cashbox == 1100
    (receipt,) = k.receipts.receipts
    assert (receipt.fee, receipt.paid, receipt.change) == (600, 1100, 500)
    assert k.step is Step.TAKE_CARD and k.reader.powered is False
    k.reader.take()
    k.rt.pump()
    assert k.step is Step.GOODBYE
    jobs = [e.job for e in k.seen if isinstance(e, flow.PrintCertificate)]
    assert len(jobs) == 1 and jobs[0].discarded  # resident data dropped after printing
    kinds = [r["kind"] for r in k.office.reports]
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


def test_a_journal_failure_stops_before_the_action(tmp_path: Path) -> None:
    k = Kiosk(tmp_path, fail_at="issue_requested")
    k.to_payment(Card("SIM-0001", "1234"))
    k.coins(100, 100, 100)
    assert k.step is Step.OUT_OF_SERVICE
    assert "office:issue" not in k.log and not k.printer.printed
    assert k.reader.powered is False and not k.cash.coins_open
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
    assert k.journal.records() == []


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
    assert k.rt.state.outcome == "office_lost" and k.cash.paid_out == 500
    assert "issue_void" in [r["kind"] for r in k.office.reports]
    assert not k.printer.printed


# -- cash edge cases --------------------------------------------------------------------------------------


def test_empty_hoppers_print_a_refund_slip(tmp_path: Path) -> None:
    k = Kiosk(tmp_path, hoppers={500: 0, 100: 3, 10: 0})
    assert k.rt.state.change_low  # at start: cannot pay 9,990
    k.to_payment(Card("SIM-0001", "1234"))
    assert k.cash.max_note is None  # exact amount: 300 due, no note fits
    k.coins(500)  # a 500-yen coin cannot be refused: change owed
    assert k.cash.paid_out == 200
    assert not k.receipts.slips
    k2 = Kiosk(tmp_path / "b", hoppers={500: 0, 100: 1, 10: 0})
    k2.to_payment(Card("SIM-0001", "1234"))
    k2.coins(500)
    assert k2.cash.paid_out == 100
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
    assert k.cash.cashbox == 0 and k.rt.state.change_low and k.rt.state.session is not None
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
        content=dict(CONTENT),
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
    assert release(_job(), LiveSession("S-A", "S-A:issue", "SIM-0001"))["name"] == NAME


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
        content=dict(CONTENT),
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
    assert k.cash.paid_out == 300 and k.rt.state.outcome == "print_failed"
    assert "the card in the reader is not the card that asked" in caplog.text
    assert "issue_void" not in [r["kind"] for r in k.office.reports]  # printing had started: an alert instead


def test_printer_failure_refunds_and_never_reprints(tmp_path: Path) -> None:
    k = Kiosk(tmp_path)
    k.printer.fail = PrinterFailed("paper out", printed=0)
    k.to_payment(Card("SIM-0001", "1234"))
    k.coins(500)
    assert k.cash.paid_out == 500 and not k.printer.printed
    assert k.log.count("printer:print") == 1


# -- start-up: recovery and re-reporting ---------------------------------------------------------------


def test_start_recovers_an_unfinished_session_and_re_reports(tmp_path: Path) -> None:
    k = Kiosk(tmp_path)
    k.to_payment(Card("SIM-0001", "1234"))
    k.coins(100)
    k.coins(100)
    # Power cut before the fee is in: fake a crash by abandoning this runtime.
    k.journal.close()
    k2 = Kiosk(tmp_path, start=False)
    k2.cash.hoppers = dict(k.cash.hoppers)
    k2.rt.start()
    assert k2.cash.paid_out == 200 and not k2.printer.printed and k2.office.issue_calls == []
    kinds = [r["kind"] for r in k2.office.reports]
    assert kinds == ["recovered", "payout_done", "session_closed"]
    assert k2.journal.open_sessions() == frozenset()
    k2.journal.close()
    k3 = Kiosk(tmp_path, start=False)
    k3.rt.start()
    assert k3.cash.paid_out == 0  # nothing left to settle
    assert [r["key"] for r in k3.office.reports] == [r["key"] for r in k2.office.reports]  # sent again


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
