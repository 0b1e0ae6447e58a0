"""The issuance book on the office's real SQLite store (WAL file): idempotent issues, sessions, cash."""

from __future__ import annotations

import json
import re
import sqlite3
import tempfile
import tomllib
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certificates.pdf import render_pdf
from certificates.registry import demo_registry
from certificates.rules import (
    CertificateKind,
    FeeSchedule,
    IneligibleError,
    JuminhyoOptions,
    Refusal,
    RefusalReason,
    certificate_content,
    check_eligibility,
    parse_options,
)
from kiosk.journal import safe_text
from office import config as configmod
from office.config import ConfigError
from office.db import OfficeDB
from office.issuance import (
    MAX_SITE_CODE,
    CashEventType,
    CashReport,
    IssuanceBook,
    IssuanceError,
    IssueNumber,
    MismatchKind,
    RequestConflictError,
    SessionError,
    parse_issue_number,
)
from office.kiosk_service import issue_site_code, open_kiosk_service
from sync import messages, protocol
from sync.errors import ProtocolError

TOKYO = ZoneInfo("Asia/Tokyo")
MAYOR = "まどぐち町長　佐々木　和夫"
SITE = "chuo"  # the office's site code, first in every issue number


def ms(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> int:
    """Unix ms of a Tokyo wall time."""
    return int(datetime(year, month, day, hour, minute, tzinfo=TOKYO).timestamp() * 1000)


NOW = ms(2026, 4, 1)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[OfficeDB]:
    store = OfficeDB(tmp_path / "office.sqlite3")
    yield store
    store.close()


@pytest.fixture
def book(db: OfficeDB) -> IssuanceBook:
    return IssuanceBook(db.conn, TOKYO, site_code=SITE)


def _issue(book: IssuanceBook, request_id: str, now_ms: int = NOW, **changes: Any) -> Any:
    args: dict[str, Any] = {
        "request_id": request_id,
        "device_id": "kiosk-1",
        "card_serial": "SIM-0001",
        "kind": "juminhyo",
        "options": {"scope": "members"},
        "copies": 1,
        "fee": 300,
        "now_ms": now_ms,
    }
    args.update(changes)
    return book.issue(**args)


def test_a_retried_request_is_one_issuance_with_the_same_number_and_content(book: IssuanceBook, db: OfficeDB) -> None:
    made: list[str] = []

    def content(number: str, day: date) -> dict[str, Any]:
        made.append(number)
        return {"issue_number": number, "issued_on": day.isoformat()}

    first = _issue(book, "req-1", make_content=content)
    again = _issue(book, "req-1", now_ms=NOW + 5_000, make_content=content)
    assert first == again
    assert first.issue_number == "chuo-20260401-00001" and first.business_day == "2026-04-01"
    assert made == ["chuo-20260401-00001"]  # the content was made once; the retry got the stored one
    assert again.reply() == messages.IssueReply(
        request_id="req-1",
        ok=True,
        issue_number="chuo-20260401-00001",
        fee=300,
        certificate={"issue_number": "chuo-20260401-00001", "issued_on": "2026-04-01"},
    )
    assert db.conn.execute("SELECT COUNT(*) FROM cert_issuances").fetchone()[0] == 1
    # typed options and their wire form are the same request
    assert _issue(book, "req-1", options=JuminhyoOptions()) == first


def test_the_same_id_with_other_parameters_is_refused_naming_them(book: IssuanceBook) -> None:
    _issue(book, "req-1")
    with pytest.raises(
        RequestConflictError, match="request_id req-1: already issued as chuo-20260401-00001 with other copies, fee"
    ):
        _issue(book, "req-1", copies=2, fee=600)
    with pytest.raises(RequestConflictError, match="other card_serial"):
        _issue(book, "req-1", card_serial="SIM-0002")
    with pytest.raises(RequestConflictError, match="other options"):
        _issue(book, "req-1", options={"with_my_number": True})


def test_numbers_count_per_business_day_which_starts_at_the_rollover_hour(book: IssuanceBook) -> None:
    assert _issue(book, "a").issue_number == "chuo-20260401-00001"
    assert _issue(book, "b", now_ms=ms(2026, 4, 1, 22)).issue_number == "chuo-20260401-00002"
    # 02:30 on 2 April still belongs to business day 1 April (rollover 03:00)
    assert _issue(book, "c", now_ms=ms(2026, 4, 2, 2, 30)).issue_number == "chuo-20260401-00003"
    assert _issue(book, "d", now_ms=ms(2026, 4, 2, 6, 30)).issue_number == "chuo-20260402-00001"
    assert [i.request_id for i in book.issuances("2026-04-01")] == ["a", "b", "c"]
    assert book.issuance("d") is not None and book.issuance("zzz") is None


def test_content_that_cannot_be_made_records_nothing_and_uses_no_number(book: IssuanceBook) -> None:
    def refuse(number: str, day: date) -> dict[str, Any]:
        raise IneligibleError(Refusal(RefusalReason.MOVED_OUT, "moved out between authenticate and issue"))

    with pytest.raises(IneligibleError):
        _issue(book, "req-1", make_content=refuse)
    assert book.issuance("req-1") is None
    assert _issue(book, "req-2").issue_number == "chuo-20260401-00001"


def test_issues_nest_in_the_office_loops_transaction_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "office.sqlite3"
    db = OfficeDB(path)
    book = IssuanceBook(db.conn, TOKYO, site_code=SITE)
    with pytest.raises(RuntimeError), db.transaction():
        _issue(book, "rolled-back")
        raise RuntimeError("the loop failed after the issue")
    with db.transaction():
        kept = _issue(book, "kept", make_content=lambda n, d: {"n": n})
    db.close()
    db = OfficeDB(path)  # a new process after a restart
    try:
        book = IssuanceBook(db.conn, TOKYO, site_code=SITE)
        assert book.issuance("rolled-back") is None
        assert _issue(book, "kept", make_content=lambda n, d: {"n": "never called"}) == kept
        assert kept.issue_number == "chuo-20260401-00001"
    finally:
        db.close()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"copies": 0}, "copies: expected a whole number from 1 to 10"),
        ({"kind": "passport"}, "kind: 'passport' is not a certificate"),
        ({"fee": -300}, "fee: expected whole yen"),
        ({"fee": True}, "fee: expected whole yen"),
        ({"options": {"variant": "tohon"}}, "options.variant: unknown option for juminhyo"),
        ({"kind": "koseki", "options": JuminhyoOptions()}, "options: JuminhyoOptions are not koseki options"),
        ({"device_id": ""}, "device_id: expected a non-empty id"),
        ({"request_id": "x" * 200}, "request_id: expected a text of at most 128 characters, got 200 characters"),
        ({"card_serial": 42}, 'card_serial: expected a non-empty id of at most 128 characters, got 42; quote it: "42"'),
    ],
)
def test_bad_arguments_are_errors_naming_the_field(book: IssuanceBook, changes: dict[str, Any], message: str) -> None:
    request_id = changes.pop("request_id", "req-1")
    with pytest.raises(IssuanceError, match=message):
        _issue(book, request_id, **changes)


# -- sessions -------------------------------------------------------------------------------------------


def test_a_session_lives_until_it_expires_and_its_token_is_not_stored(book: IssuanceBook, db: OfficeDB) -> None:
    token = book.open_session("SIM-0001", "R0001", "juminhyo", {}, 1, 300, NOW)
    live = book.session(token, NOW + 1000)
    assert live is not None and live.resident_id == "R0001" and live.kind == "juminhyo" and live.request_id is None
    assert live.options == JuminhyoOptions().to_dict()
    assert book.session(token, NOW + book.session_ttl_ms) is None
    assert book.session("not-a-token", NOW) is None
    stored = [str(v) for row in db.conn.execute("SELECT * FROM cert_sessions") for v in tuple(row)]
    assert token not in stored
    assert book.purge_sessions(NOW + book.session_ttl_ms) == 1


def test_an_issue_is_bound_to_its_session(book: IssuanceBook) -> None:
    token = book.open_session("SIM-0001", "R0001", "juminhyo", {"scope": "members"}, 2, 600, NOW)
    with pytest.raises(SessionError, match="authenticated for other card_serial"):
        _issue(book, "req-1", card_serial="SIM-0002", copies=2, fee=600, session_token=token)
    with pytest.raises(SessionError, match="authenticated for other copies, fee"):
        _issue(book, "req-1", session_token=token)
    issued = _issue(book, "req-1", copies=2, fee=600, session_token=token)
    live = book.session(token, NOW)
    assert live is not None and live.request_id == "req-1"
    # one authentication prints once: a second request on the same session is refused ...
    with pytest.raises(SessionError, match="already used by request req-1"):
        _issue(book, "req-2", copies=2, fee=600, session_token=token)
    # ... while a retry of the first is answered even after the session expired
    later = NOW + book.session_ttl_ms + 1
    assert _issue(book, "req-1", now_ms=later, copies=2, fee=600, session_token=token) == issued
    with pytest.raises(SessionError, match="unknown or expired"):
        _issue(book, "req-3", now_ms=later, copies=2, fee=600, session_token=token)
    book.end_session(token)
    assert book.session(token, NOW) is None


# -- cash and reconciliation --------------------------------------------------------------------------


def _cash(event_id: str, type: str, amount: int, request_id: str | None) -> CashReport:
    return CashReport(event_id, CashEventType(type), amount, request_id, NOW)


def _wire(event_id: str, type: str, amount: int, request_id: str | None) -> dict[str, Any]:
    """A ``kiosk.cash`` event's data as a kiosk journals it."""
    return {"event_id": event_id, "type": type, "amount": amount, "request_id": request_id, "at_ms": NOW}


def _arrived(data: dict[str, Any]) -> CashReport:
    """What the office makes of a ``kiosk.cash`` event: checked on arrival, then the domain rule."""
    record = messages.EventRecord(id="kiosk-1:1", seq=1, type="kiosk.cash", hlc="h", at=NOW, data=data)
    event = protocol.event_data(record)
    assert isinstance(event, messages.KioskCash)
    return CashReport.from_event(event)


def test_cash_reports_are_stored_once(book: IssuanceBook) -> None:
    assert book.record_cash("kiosk-1", "2026-04-01", _cash("kiosk-1:1", "fee_kept", 300, "req-1")) is True
    assert book.record_cash("kiosk-1", "2026-04-01", _cash("kiosk-1:1", "fee_kept", 300, "req-1")) is False
    with pytest.raises(RequestConflictError, match="cash event kiosk-1:1: already recorded with other content"):
        book.record_cash("kiosk-1", "2026-04-01", _cash("kiosk-1:1", "fee_kept", 450, "req-1"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            _wire("e", "tip", 300, None),
            'kiosk.cash: type: expected one of fee_kept, refund_owed, refund_paid, got "tip"',
        ),
        (_wire("e", "refund_paid", -5, None), "kiosk.cash: amount: expected an amount of yen, got -5"),
        ({**_wire("e", "refund_paid", 10, None), "at_ms": "now"}, "kiosk.cash: at_ms: expected a time"),
        (
            {k: v for k, v in _wire("e", "refund_paid", 10, None).items() if k != "event_id"},
            "kiosk.cash: event_id: required",
        ),
    ],
)
def test_bad_cash_events_name_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ProtocolError, match=re.escape(message)):
        _arrived(data)


def test_bad_values_name_the_argument_and_what_it_must_be(book: IssuanceBook) -> None:
    with pytest.raises(IssuanceError, match=r"^fee: expected whole yen from 0 to 1000000, got -300$"):
        _issue(book, "req-1", fee=-300)
    with pytest.raises(
        IssuanceError, match=r'^resident_id: expected a non-empty id of at most 128 characters, got ""$'
    ):
        book.open_session("card-1", "", "juminhyo", JuminhyoOptions(), 1, 300, NOW)
    with pytest.raises(IssuanceError, match=r'^business_day: expected a date like "2026-04-01", got "2026-4-1"$'):
        book.reconcile("2026-4-1")
    with pytest.raises(IssuanceError, match=r"^device_id: expected a non-empty id"):
        book.record_cash("", "2026-04-01", _cash("e1", "refund_paid", 10, None))
    assert book.issuances(date(2026, 4, 1)) == book.issuances("2026-04-01") == []


def test_a_kept_fee_must_name_its_request_and_the_day_must_be_a_date(book: IssuanceBook) -> None:
    with pytest.raises(IssuanceError, match="request_id: a kept fee must name"):
        _arrived(_wire("e", "fee_kept", 300, None))
    with pytest.raises(IssuanceError, match="business_day: expected a date"):
        book.record_cash("kiosk-1", "April 1", _cash("e2", "refund_paid", 10, None))


def test_reconcile_balances_and_finds_every_kind_of_mismatch(book: IssuanceBook) -> None:
    day = "2026-04-01"
    for rid, device in (("r1", "kiosk-1"), ("r2", "kiosk-1"), ("r3", "kiosk-2"), ("r4", "kiosk-2"), ("r5", "kiosk-2")):
        _issue(book, rid, device_id=device)
    book.record_cash("kiosk-1", day, _cash("k1:1", "fee_kept", 300, "r1"))
    book.record_cash("kiosk-1", day, _cash("k1:2", "fee_kept", 300, "r2"))
    book.record_cash("kiosk-2", day, _cash("k2:1", "fee_kept", 300, "r3"))
    book.record_cash("kiosk-2", day, _cash("k2:2", "fee_kept", 300, "r4"))
    book.record_cash("kiosk-2", day, _cash("k2:3", "fee_kept", 300, "r5"))
    report = book.reconcile(day)
    assert report.balanced and report.mismatches == () and report.refund_slips == ()
    assert [(d.device_id, d.issuances, d.fees_issued, d.fee_kept) for d in report.devices] == [
        ("kiosk-1", 2, 600, 600),
        ("kiosk-2", 3, 900, 900),
    ]
    _issue(book, "r9", device_id="kiosk-2")  # not printed: the kiosk voided it and kept nothing
    assert book.void("r9", "print_failed", NOW) is not None
    assert book.reconcile(day).balanced

    _issue(book, "r6", device_id="kiosk-1")  # issued, fee never reported
    _issue(book, "r7", device_id="kiosk-1")  # issued, then refunded (print failed?)
    book.record_cash("kiosk-1", day, _cash("k1:3", "refund_paid", 200, "r7"))
    book.record_cash("kiosk-1", day, _cash("k1:4", "refund_owed", 100, "r7"))
    _issue(book, "r8", device_id="kiosk-2")  # kept the wrong amount
    book.record_cash("kiosk-2", day, _cash("k2:4", "fee_kept", 200, "r8"))
    book.record_cash("kiosk-2", day, _cash("k2:5", "fee_kept", 300, "ghost"))  # money with no issuance
    _issue(book, "r10", device_id="kiosk-2")  # voided, yet money was kept for it
    book.void("r10", "print_failed", NOW)
    book.record_cash("kiosk-2", day, _cash("k2:6", "fee_kept", 300, "r10"))
    report = book.reconcile(date(2026, 4, 1))
    assert not report.balanced
    found = {(m.device_id, m.request_id, m.kind, m.expected, m.reported) for m in report.mismatches}
    assert found == {
        ("kiosk-1", "r6", MismatchKind.FEE_NOT_REPORTED, 300, 0),
        ("kiosk-1", "r7", MismatchKind.REFUNDED, 300, 0),
        ("kiosk-2", "r8", MismatchKind.AMOUNT_DIFFERS, 300, 200),
        ("kiosk-2", "ghost", MismatchKind.FEE_WITHOUT_ISSUANCE, 0, 300),
        ("kiosk-2", "r10", MismatchKind.FEE_KEPT_ON_VOID, 0, 300),
    }
    kiosk2 = report.devices[1]
    assert (kiosk2.issuances, kiosk2.voided, kiosk2.fees_issued) == (4, 2, 1200)
    kiosk1 = report.devices[0]
    assert (kiosk1.fees_issued, kiosk1.fee_kept, kiosk1.refunds_paid, kiosk1.refunds_owed) == (1200, 600, 200, 100)
    assert [(d, r.event_id, r.type) for d, r in report.refund_slips] == [("kiosk-1", "k1:4", CashEventType.REFUND_OWED)]
    assert book.reconcile("2026-04-02").devices == ()


def test_a_voided_issuance_keeps_its_number_and_is_never_handed_out_again(book: IssuanceBook) -> None:
    first = _issue(book, "req-1", make_content=lambda n, d: {"n": n})
    voided = book.void("req-1", "print_failed", NOW + 1)
    assert voided is not None and voided.voided == "print_failed"
    assert book.void("req-1", "restart", NOW + 2) == voided  # idempotent, the first reason stays
    assert _issue(book, "req-1").reply() == messages.IssueReply(request_id="req-1", ok=False, refusal="go_to_counter")
    assert _issue(book, "req-2").issue_number == "chuo-20260401-00002"  # the voided number is not reused
    assert first.reply().ok is True
    assert book.void("never-issued", "restart", NOW) is None
    with pytest.raises(IssuanceError, match="reason: expected a short reason code"):
        book.void("req-2", "", NOW)


def test_cash_event_from_the_wire_round_trip() -> None:
    report = _arrived(_wire("kiosk-1:9", "refund_owed", 250, "req-9"))
    assert report == CashReport("kiosk-1:9", CashEventType.REFUND_OWED, 250, "req-9", NOW)


# -- the whole office side of one kiosk visit ------------------------------------------------------------


def test_authenticate_issue_and_render_for_the_demo_card(book: IssuanceBook) -> None:
    registry = demo_registry()
    fees = FeeSchedule.from_config({"juminhyo": 200})
    resident = registry.by_card("SIM-0001")
    assert resident is not None
    kind = CertificateKind.JUMINHYO
    options = parse_options(kind, {"scope": "household", "with_zokugara": True})
    assert check_eligibility(registry, resident, kind, options, date(2026, 4, 1)) is None
    fee = fees.total(kind, 2)
    token = book.open_session("SIM-0001", resident.id, kind, options, 2, fee, NOW)

    def content(number: str, day: date) -> dict[str, Any]:
        return certificate_content(registry, resident, kind, options, number, day, MAYOR)

    issued = book.issue(
        "visit-1", "kiosk-1", "SIM-0001", kind, options, 2, fee, NOW + 60_000, session_token=token, make_content=content
    )
    reply = issued.reply()
    assert reply.certificate is not None
    assert reply.fee == 400 and reply.certificate["issue_number"] == issued.issue_number
    assert reply.certificate["card_serial"] == "SIM-0001"  # the kiosk checks it against the card
    assert render_pdf(reply.certificate).startswith(b"%PDF")


# -- property: numbers never repeat ------------------------------------------------------------------------

OPS = st.lists(
    st.tuples(st.integers(0, 15), st.integers(0, 2), st.integers(0, 23)),  # (request, day offset, hour)
    min_size=1,
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(OPS)
def test_issue_numbers_never_repeat(ops: list[tuple[int, int, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = OfficeDB(Path(tmp) / "office.sqlite3")
        db.conn.execute("PRAGMA synchronous=OFF")  # durability is tested above; this is about numbering
        try:
            book = IssuanceBook(db.conn, TOKYO, site_code=SITE)
            first_number: dict[str, str] = {}
            start = datetime(2026, 4, 1, tzinfo=TOKYO)
            for request, offset, hour in ops:
                at = start + timedelta(days=offset, hours=hour)
                issued = _issue(book, f"req-{request}", now_ms=int(at.timestamp() * 1000))
                number = first_number.setdefault(issued.request_id, issued.issue_number)
                assert issued.issue_number == number  # a retry keeps its number, whatever the time
            assert len(set(first_number.values())) == len(first_number)
            rows = db.conn.execute("SELECT business_day, seq FROM cert_issuances ORDER BY business_day, seq").fetchall()
            by_day: dict[str, list[int]] = {}
            for day, seq in rows:
                by_day.setdefault(day, []).append(seq)
            for seqs in by_day.values():
                assert seqs == list(range(1, len(seqs) + 1))  # no gaps, no repeats
        finally:
            db.close()


def test_the_store_refuses_a_repeated_number_even_if_code_tried(book: IssuanceBook, db: OfficeDB) -> None:
    _issue(book, "req-1")
    insert = (
        "INSERT INTO cert_issuances(request_id, business_day, seq, issue_number, device_id, card_serial, kind,"
        " options, copies, fee, issued_ms) VALUES (?, '2026-04-01', ?, ?, 'k', 'c', 'juminhyo', '{}', 1, 300, 0)"
    )
    with pytest.raises(sqlite3.IntegrityError):  # the same number under another seq
        db.conn.execute(insert, ("req-2", 2, "chuo-20260401-00001"))
    with pytest.raises(sqlite3.IntegrityError):  # the day's seq again, whatever the number's form
        db.conn.execute(insert, ("req-2", 1, "20260401-00001"))
    with pytest.raises(sqlite3.IntegrityError):  # a request id is issued once
        db.conn.execute(insert, ("req-1", 2, "chuo-20260401-00002"))


# -- issue numbers name their office (a ward) -------------------------------------------------------------

# cert_issuances as offices before site codes created it (office/issuance.py up to commit ee0681b):
# a store of theirs must be carried forward as it is.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS cert_issuances (
    request_id TEXT PRIMARY KEY, business_day TEXT NOT NULL, seq INTEGER NOT NULL,
    issue_number TEXT NOT NULL UNIQUE, device_id TEXT NOT NULL, card_serial TEXT NOT NULL,
    kind TEXT NOT NULL, options TEXT NOT NULL, copies INTEGER NOT NULL, fee INTEGER NOT NULL,
    issued_ms INTEGER NOT NULL, content TEXT, voided TEXT, voided_ms INTEGER,
    UNIQUE(business_day, seq)
);
CREATE INDEX IF NOT EXISTS cert_issuances_day_device ON cert_issuances(business_day, device_id);
CREATE TABLE IF NOT EXISTS cert_cash (
    event_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, business_day TEXT NOT NULL, type TEXT NOT NULL,
    amount INTEGER NOT NULL, request_id TEXT, at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS cert_cash_day ON cert_cash(business_day, device_id);
CREATE TABLE IF NOT EXISTS cert_sessions (
    token_hash TEXT PRIMARY KEY, card_serial TEXT NOT NULL, resident_id TEXT NOT NULL, kind TEXT NOT NULL,
    options TEXT NOT NULL, copies INTEGER NOT NULL, fee INTEGER NOT NULL, created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL, request_id TEXT
);
CREATE INDEX IF NOT EXISTS cert_sessions_expiry ON cert_sessions(expires_ms);
"""


def test_a_new_number_names_the_office_and_both_forms_parse(book: IssuanceBook) -> None:
    issued = _issue(book, "req-1", make_content=lambda n, d: {"issue_number": n})
    assert issued.issue_number == "chuo-20260401-00001"
    assert issued.content == {"issue_number": "chuo-20260401-00001"}  # the certificate prints it
    assert parse_issue_number("chuo-20260401-00001") == IssueNumber("chuo", "2026-04-01", 1)
    assert parse_issue_number("demo-town-20261206-00012") == IssueNumber("demo-town", "2026-12-06", 12)
    assert parse_issue_number("20260401-00007") == IssueNumber(None, "2026-04-01", 7)  # before site codes
    assert str(IssueNumber(None, "2026-04-01", 7)) == "20260401-00007"
    # typed from the paper with a Japanese input method
    assert parse_issue_number(" ｃｈｕｏ－２０２６０４０１－００００１\u3000") == IssueNumber("chuo", "2026-04-01", 1)
    for bad in (
        "",
        "chuo",
        "chuo-2026-04-01-00001",
        "chuo-20260231-00001",
        "chuo-20260401-00000",
        "chuo-20260401-1",
        "-20260401-00001",
        "x" * 13 + "-20260401-00001",
        "chuo 20260401-00001",
        20260401,
    ):
        with pytest.raises(IssuanceError, match="issue number: expected one like chuo-20260401-00012"):
            parse_issue_number(bad)
    assert book.by_number("chuo-20260401-00001") == issued
    assert book.by_number("ｃｈｕｏ-20260401-00001") == issued
    assert book.by_number("kita-20260401-00001") is None  # another office's number
    assert book.by_number("20260401-00001") is None  # this store has no number of the old form


def test_two_offices_of_a_ward_never_print_the_same_number(tmp_path: Path) -> None:
    stores = {site: OfficeDB(tmp_path / f"{site}.sqlite3") for site in ("chuo", "kita")}
    try:
        books = {site: IssuanceBook(db.conn, TOKYO, site_code=site) for site, db in stores.items()}
        numbers: dict[str, list[str]] = {site: [] for site in books}
        for minute in range(5):  # the same requests at the same times in both branches
            for site, book in books.items():
                numbers[site].append(_issue(book, f"req-{minute}", now_ms=NOW + minute * 60_000).issue_number)
        numbers["kita"].append(_issue(books["kita"], "req-x", now_ms=ms(2026, 4, 2)).issue_number)
        assert numbers["chuo"][0] == "chuo-20260401-00001" and numbers["kita"][0] == "kita-20260401-00001"
        assert numbers["kita"][-1] == "kita-20260402-00001"
        ward = numbers["chuo"] + numbers["kita"]
        assert len(set(ward)) == len(ward) == 11
        assert all(parse_issue_number(n).site == site for site, mine in numbers.items() for n in mine)
        # a retry in either branch keeps its number
        assert _issue(books["kita"], "req-3", now_ms=NOW + 3_600_000).issue_number == "kita-20260401-00004"
    finally:
        for db in stores.values():
            db.close()


def test_an_older_store_keeps_its_printed_numbers_and_goes_on_in_the_new_form(tmp_path: Path) -> None:
    path = tmp_path / "office.sqlite3"
    OfficeDB(path).close()  # the office's own tables
    older = sqlite3.connect(path)  # and the issuance book's, as an older office wrote them
    older.executescript(OLD_SCHEMA)
    old = (
        "INSERT INTO cert_issuances(request_id, business_day, seq, issue_number, device_id, card_serial, kind,"
        " options, copies, fee, issued_ms, content) VALUES (?, ?, ?, ?, 'kiosk-1', 'SIM-0001', 'juminhyo', ?, 1,"
        " 300, ?, ?)"
    )
    # the options as the older office wrote them: canonical JSON of the parsed options
    members = json.dumps(
        parse_options("juminhyo", {"scope": "members"}).to_dict(),
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    older.execute(old, ("old-1", "2026-04-01", 1, "20260401-00001", members, NOW - 60_000, '{"n":"20260401-00001"}'))
    older.execute(old, ("old-2", "2026-04-01", 2, "20260401-00002", members, NOW - 30_000, None))
    older.execute(old, ("old-3", "2026-03-31", 1, "20260331-00001", members, ms(2026, 3, 31), None))
    older.commit()
    older.close()
    db = OfficeDB(path)  # the new office starts on the old store
    try:
        book = IssuanceBook(db.conn, TOKYO, site_code=SITE)
        first = book.issuance("old-1")
        assert first is not None and first.issue_number == "20260401-00001" and first.content == {"n": "20260401-00001"}
        # a kiosk retrying a request issued before the upgrade gets its old number, nothing new
        assert _issue(book, "old-2", make_content=lambda n, d: {"n": "never made"}).issue_number == "20260401-00002"
        assert _issue(book, "new-1").issue_number == "chuo-20260401-00003"  # the day goes on, in the new form
        assert _issue(book, "new-2", now_ms=ms(2026, 4, 2)).issue_number == "chuo-20260402-00001"
        assert [i.issue_number for i in book.issuances("2026-04-01")] == [
            "20260401-00001",
            "20260401-00002",
            "chuo-20260401-00003",
        ]
        assert book.by_number("20260331-00001") == book.issuance("old-3")  # an old paper is still looked up
        assert db.conn.execute("SELECT COUNT(*) FROM cert_issuances").fetchone()[0] == 5
    finally:
        db.close()


def test_a_book_without_a_site_code_reads_but_never_numbers_a_certificate(book: IssuanceBook, db: OfficeDB) -> None:
    issued = _issue(book, "req-1")
    reader = IssuanceBook(db.conn, TOKYO)  # what madoguchi-office kiosk-report opens
    assert reader.issuance("req-1") == issued and reader.reconcile("2026-04-01").devices[0].issuances == 1
    with pytest.raises(IssuanceError, match=r"opened without the office's site code.*\[kiosk\] site_code"):
        _issue(reader, "req-2")
    assert reader.issuance("req-2") is None


@pytest.mark.parametrize("code", ["", "x" * 13, "-chuo", "chuo town", "中央", "chuo/1"])
def test_a_bad_site_code_is_refused_naming_the_key_to_set(db: OfficeDB, code: str) -> None:
    with pytest.raises(IssuanceError, match=r"expected 1-12 letters.*set \[kiosk\] site_code ="):
        IssuanceBook(db.conn, TOKYO, site_code=code)


def test_the_longest_site_code_fits_the_reply_and_the_kiosk_journal(db: OfficeDB) -> None:
    longest = "W" * MAX_SITE_CODE
    book = IssuanceBook(db.conn, TOKYO, site_code=longest)
    number = _issue(book, "req-1").issue_number
    assert number == f"{longest}-20260401-00001" and len(number) == MAX_SITE_CODE + 15
    reply = protocol.decode("kiosk_reply", protocol.encode(_issue(book, "req-1").reply()))
    assert isinstance(reply, messages.IssueReply) and reply.issue_number == number
    assert safe_text(number)  # the kiosk's journal keeps it


# -- where the site code comes from: the site file ----------------------------------------------------------


def _site(**changes: Any) -> dict[str, Any]:
    doc = tomllib.loads((Path(__file__).parent.parent / "office" / "default_site.toml").read_text(encoding="utf-8"))
    kiosk = changes.pop("kiosk", None)
    doc.update(changes)
    if kiosk is not None:
        doc["kiosk"] = {**doc.get("kiosk", {}), **kiosk}
    return doc


def test_the_site_code_is_the_site_id_unless_the_site_file_gives_a_short_one() -> None:
    assert issue_site_code(configmod.parse(_site())) == "demo-town"
    assert issue_site_code(configmod.parse(_site(kiosk={"site_code": "chuo"}))) == "chuo"
    longest = "a" * MAX_SITE_CODE
    assert issue_site_code(configmod.parse(_site(site=longest))) == longest
    long_site = "minato-ku-shibaura-branch-office"
    with pytest.raises(
        ConfigError, match=r"kiosk\.site_code: required: the site id 'minato-ku-shibaura-branch-office' has 32"
    ) as err:
        configmod.parse(_site(site=long_site))
    assert 'under [kiosk] set site_code = "chuo"' in str(err.value)
    with pytest.raises(ConfigError, match=r"kiosk\.site_code: required: the site id 'aaaaaaaaaaaaa' has 13"):
        configmod.parse(_site(site="a" * (MAX_SITE_CODE + 1)))
    assert issue_site_code(configmod.parse(_site(site=long_site, kiosk={"site_code": "shibaura"}))) == "shibaura"
    for bad in ("x" * (MAX_SITE_CODE + 1), "-chuo", "中央"):
        with pytest.raises(ConfigError, match=r"kiosk\.site_code: expected 1-12 letters"):
            configmod.parse(_site(kiosk={"site_code": bad}))


def test_the_office_numbers_its_kiosk_certificates_with_its_site_code(db: OfficeDB) -> None:
    service = open_kiosk_service(configmod.parse(_site(kiosk={"site_code": "chuo"})), db)
    assert service.book.site_code == "chuo"
    assert _issue(service.book, "req-1").issue_number == "chuo-20260401-00001"
    assert open_kiosk_service(configmod.parse(_site()), db).book.site_code == "demo-town"
