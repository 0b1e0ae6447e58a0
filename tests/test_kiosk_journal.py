"""The kiosk's money journal (real files, real fsync) and start-up recovery from it.

The recovery test runs whole visits, journals them on disk, then cuts the journal after every
record (a crash at each point), recovers, crashes again at every point of the recovery, and
recovers again: the money always adds up, nothing prints, nothing is charged or paid twice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from common.validation import Invalid
from kiosk import flow
from kiosk.flow import CertificateOptions, JournalEntry, Step
from kiosk.journal import JournalError, KioskJournal, cash_cursor, check_record, entry_record, unconfirmed_notes
from kiosk.office_link import journal_event
from kiosk.recovery import RecoveryError, recovered_sessions, replay, resolve
from sync import messages, protocol
from sync.errors import ProtocolError
from sync.store import SegmentedLog

CONFIG = flow.FlowConfig(device_id="kiosk-3")
PIN = "7531"
CONTENT = {"name": "山田 太郎", "kana": "ヤマダ タロウ", "address": "福岡県糟屋郡粕屋町"}


def _entry(sid: str, seq: int, kind: str, /, **data: Any) -> JournalEntry:
    return JournalEntry(sid, seq, kind, data)


# -- the journal file --------------------------------------------------------------------------------


def test_append_is_durable_and_reopens(tmp_path: Path) -> None:
    with KioskJournal(tmp_path / "j") as journal:
        journal.append(
            _entry("k-b-1", 1, "payment_intent", fee=300, kind="inkan", copies=1, request_id="k-b-1:issue"), 5
        )
        journal.append(_entry("k-b-1", 2, "coin_accepted", value=100, paid=100), 6)
        assert journal.open_sessions() == {"k-b-1"}
    with KioskJournal(tmp_path / "j") as journal:
        records = journal.records()
        assert [r["key"] for r in records] == ["k-b-1:1", "k-b-1:2"]
        assert records[1] == {
            "key": "k-b-1:2",
            "session": "k-b-1",
            "seq": 2,
            "kind": "coin_accepted",
            "at": 6,
            "data": {"value": 100, "paid": 100},
        }
        journal.append(_entry("k-b-1", 3, "session_closed", paid=100, kept=0, returned=100, owed=0), 7)
        assert journal.open_sessions() == frozenset()


def test_one_writer_per_journal(tmp_path: Path) -> None:
    with KioskJournal(tmp_path), pytest.raises(JournalError, match="another process"):
        KioskJournal(tmp_path)


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        ("coin_accepted", {"value": 100, "pin": "1234"}, r"coin_accepted\.pin: unknown key; allowed here: value"),
        ("issued", {"request_id": "r", "issue_number": "山田 太郎"}, r"issued\.issue_number: expected an id or code"),
        (
            "fee_kept",
            {"amount": 300, "request_id": "r", "issue_number": "x y"},
            r"issue_number: expected an id or code",
        ),
        ("printed", {"request_id": "r", "copies": [1]}, r"printed\.copies: expected .* count .*got a list"),
        ("certificate", {"content": "x"}, "unknown record kind"),
        ("coin_accepted", {"value": -5}, r"coin_accepted\.value: expected an amount of yen or a count from 0"),
    ],
)
def test_the_allow_list_keeps_pins_names_and_content_out(kind: str, data: dict[str, Any], message: str) -> None:
    with pytest.raises(JournalError, match=message) as refused:
        entry_record(_entry("k-b-1", 1, kind, **data), 0)
    assert "山田" not in str(refused.value)  # the refusal never repeats what it refused


def test_a_record_can_never_repeat(tmp_path: Path) -> None:
    with KioskJournal(tmp_path) as journal:
        journal.append(_entry("k-b-1", 1, "coin_accepted", value=10, paid=10), 0)
        with pytest.raises(JournalError, match="seq must follow 1"):
            journal.append(_entry("k-b-1", 1, "coin_accepted", value=10, paid=20), 0)
        assert len(journal.records()) == 1


def test_foreign_records_refuse_to_open_with_the_fix(tmp_path: Path) -> None:
    with SegmentedLog(tmp_path) as log:
        log.append({"key": "a:1", "session": "a", "seq": 1, "kind": "coin_accepted", "at": 0, "data": {"pin": "1"}})
    with pytest.raises(JournalError, match="damaged .*Fix: restore it from a backup"):
        KioskJournal(tmp_path)
    with pytest.raises(JournalError, match="key: does not match"):
        check_record({"key": "x", "session": "a", "seq": 1, "kind": "alert", "at": 0, "data": {}})


def test_prune_drops_only_closed_segments(tmp_path: Path) -> None:
    with KioskJournal(tmp_path, segment_size=2) as journal:
        journal.append(_entry("s-b-1", 1, "coin_accepted", value=10, paid=10), 0)
        journal.append(_entry("s-b-2", 1, "coin_accepted", value=10, paid=10), 0)  # stays open
        journal.append(_entry("s-b-1", 2, "payout_intent", amount=10, reason="refund"), 0)
        journal.append(_entry("s-b-1", 3, "payout_done", requested=10, paid=10), 0)
        journal.append(_entry("s-b-1", 4, "session_closed", paid=10, kept=0, returned=10, owed=0), 0)
        # Segment 2 holds only s-b-1, closed, but segment 1 holds s-b-1's start next to the open
        # s-b-2: dropping segment 2 alone would leave s-b-1 looking unfinished. Nothing goes.
        assert journal.prune() == 0
        journal.append(_entry("s-b-2", 2, "payout_intent", amount=10, reason="refund"), 0)
        journal.append(_entry("s-b-2", 3, "payout_done", requested=10, paid=10), 0)
        journal.append(_entry("s-b-2", 4, "session_closed", paid=10, kept=0, returned=10, owed=0), 0)
        assert journal.prune() == 3  # all closed; the newest segment always stays
        assert [r["key"] for r in journal.records()] == ["s-b-2:3", "s-b-2:4"]


def test_prune_never_strands_the_start_of_a_closed_session(tmp_path: Path) -> None:
    with KioskJournal(tmp_path, segment_size=2) as journal:
        journal.append(_entry("a-b-1", 1, "coin_accepted", value=10, paid=10), 0)
        journal.append(_entry("b-b-1", 1, "coin_accepted", value=50, paid=50), 0)  # B stays open
        journal.append(_entry("a-b-1", 2, "session_closed", paid=10, kept=10, returned=0, owed=0), 0)
        journal.append(_entry("c-b-1", 1, "alert", code="x", value=0), 0)
        journal.append(_entry("c-b-1", 2, "session_closed", paid=0, kept=0, returned=0, owed=0), 0)
        journal.append(_entry("d-b-1", 1, "alert", code="y", value=0), 0)
        journal.append(_entry("d-b-1", 2, "session_closed", paid=0, kept=0, returned=0, owed=0), 0)
        journal.prune()
        assert journal.open_sessions() == {"b-b-1"}
    with KioskJournal(tmp_path, segment_size=2) as journal:
        assert journal.open_sessions() == {"b-b-1"}  # A's closing record was not dropped
        assert recovered_sessions(journal.records())[0].session_id == "b-b-1"
        assert len(recovered_sessions(journal.records())) == 1


def test_cash_cursor_is_each_acceptors_newest_journalled_counter() -> None:
    records = [
        entry_record(_entry("s-b-1", 1, "coin_accepted", value=10, paid=10, counter=254), 0),
        entry_record(_entry("s-b-1", 2, "note_escrowed", value=1000, action="stack", counter=7), 0),
        entry_record(_entry("s-b-1", 3, "coin_accepted", value=10, paid=20, counter=255), 0),
        entry_record(_entry("s-b-1", 4, "note_stacked", value=1000, paid=1020, assumed=True), 0),  # no counter
        entry_record(_entry("s-b-2", 1, "coin_accepted", value=10, paid=10, counter=1), 0),
        entry_record(_entry("s-b-3", 1, "alert", code="note_stack_confirmed", value=1000, counter=8), 0),
    ]
    assert cash_cursor(records) == {"coin_acceptor": 1, "bill_validator": 8}
    assert cash_cursor(records[:3]) == {"coin_acceptor": 255, "bill_validator": 7}
    assert cash_cursor([]) == {}


def test_unconfirmed_notes_are_assumptions_after_the_validators_last_journalled_event() -> None:
    def rec(sid: str, seq: int, kind: str, **data: Any) -> dict[str, Any]:
        return entry_record(_entry(sid, seq, kind, **data), 0)

    escrow = rec("a-b-1", 1, "note_escrowed", value=1000, action="stack", counter=5)
    assumed = rec("a-b-1", 2, "note_stacked", value=1000, paid=1000, assumed=True)
    unresolved = rec("a-b-1", 3, "alert", code="note_unresolved", value=5000)
    confirmed = rec("b-b-1", 1, "alert", code="note_stack_confirmed", value=1000, counter=6)
    next_note = rec("c-b-1", 1, "note_escrowed", value=1000, action="stack", counter=9)
    assert unconfirmed_notes([escrow]) == ()
    assert unconfirmed_notes([escrow, assumed, unresolved]) == ((1000, "stack"), (5000, "return"))
    assert unconfirmed_notes([escrow, assumed, unresolved, confirmed]) == ((5000, "return"),)
    # A new note through the escrow: everything before it was resolved, reported or not.
    assert unconfirmed_notes([escrow, assumed, unresolved, next_note]) == ()
    # An assumption made when the report did come carries its counter: nothing to wait for.
    assert unconfirmed_notes([rec("d-b-1", 1, "note_stacked", value=1000, paid=1000, assumed=True, counter=4)]) == ()


def test_prune_keeps_the_newest_counter_of_each_acceptor(tmp_path: Path) -> None:
    with KioskJournal(tmp_path, segment_size=2) as journal:
        journal.append(_entry("s-b-0", 1, "coin_accepted", value=10, paid=10, counter=8), 0)
        journal.append(_entry("s-b-0", 2, "session_closed", paid=10, kept=10, returned=0, owed=0), 0)
        journal.append(_entry("s-b-1", 1, "note_escrowed", value=1000, action="return", counter=40), 0)
        journal.append(_entry("s-b-1", 2, "note_returned", value=1000, counter=41), 0)
        journal.append(_entry("s-b-1", 3, "coin_accepted", value=10, paid=10, counter=9), 0)
        journal.append(_entry("s-b-1", 4, "payout_intent", amount=10, reason="refund"), 0)
        journal.append(_entry("s-b-1", 5, "payout_done", requested=10, paid=10), 0)
        journal.append(_entry("s-b-1", 6, "session_closed", paid=10, kept=0, returned=10, owed=0), 0)
        journal.append(_entry("s-b-2", 1, "alert", code="x", value=0), 0)
        journal.append(_entry("s-b-2", 2, "session_closed", paid=0, kept=0, returned=0, owed=0), 0)
        # Every session is closed; the first segment goes (its counter 8 is superseded by 9),
        # and the one holding the validator's counter 41 stops the pruning there.
        assert journal.prune() == 1
        assert cash_cursor(journal.records()) == {"bill_validator": 41, "coin_acceptor": 9}
        assert journal.records()[0]["key"] == "s-b-1:1" and len(journal.records()) == 8


# -- recovery rules (pure) -----------------------------------------------------------------------------


def _records(*entries: tuple[str, dict[str, Any]], sid: str = "k-b-1") -> list[dict[str, Any]]:
    return [entry_record(_entry(sid, i, kind, **data), 0) for i, (kind, data) in enumerate(entries, start=1)]


INTENT = ("payment_intent", {"fee": 300, "kind": "inkan", "copies": 1, "request_id": "k-b-1:issue"})
REQUESTED = ("issue_requested", {"request_id": "k-b-1:issue", "fee": 300, "paid": 500})


def _notes(session: flow.Session) -> list[str]:
    return [kind for kind, _ in session.recovery_notes]


def test_printed_keeps_the_fee_and_pays_the_change() -> None:
    (s,) = recovered_sessions(
        _records(
            INTENT,
            ("coin_accepted", {"value": 500, "paid": 500}),
            REQUESTED,
            ("issued", {"request_id": "k-b-1:issue", "issue_number": "N1"}),
            ("print_started", {"request_id": "k-b-1:issue"}),
            ("printed", {"request_id": "k-b-1:issue", "copies": 1, "uncertain": False}),
        )
    )
    assert _notes(s) == ["recovered", "fee_kept"] and s.kept == 300 and s.held == 200


def test_issued_but_not_printed_is_voided_and_refunded() -> None:
    (s,) = recovered_sessions(_records(INTENT, ("coin_accepted", {"value": 500, "paid": 500}), REQUESTED))
    assert _notes(s) == ["recovered", "issue_void"] and s.kept == 0 and s.held == 500


def test_print_started_but_unconfirmed_is_uncertain_never_reprinted() -> None:
    (s,) = recovered_sessions(
        _records(
            INTENT,
            ("coin_accepted", {"value": 500, "paid": 500}),
            REQUESTED,
            ("issued", {"request_id": "k-b-1:issue", "issue_number": "N1"}),
            ("print_started", {"request_id": "k-b-1:issue"}),
        )
    )
    assert _notes(s) == ["recovered", "alert", "printed"] and s.kept == 0 and s.held == 500
    assert s.printed_copies == 0


def test_an_unconfirmed_payout_is_owed_not_paid_again() -> None:
    (s,) = recovered_sessions(
        _records(
            INTENT,
            ("coin_accepted", {"value": 500, "paid": 500}),
            ("payout_intent", {"amount": 500, "reason": "refund"}),
        )
    )
    assert _notes(s) == ["recovered", "refund_owed"] and s.owed == 500 and s.held == 0
    # Written, that one record settles the payout: a later start owes nothing more, pays nothing.
    again = [
        *_records(
            INTENT,
            ("coin_accepted", {"value": 500, "paid": 500}),
            ("payout_intent", {"amount": 500, "reason": "refund"}),
        ),
        entry_record(_entry("k-b-1", 4, "refund_owed", amount=500, reason="payout_uncertain"), 0),
    ]
    (s2,) = recovered_sessions(again)
    assert s2.owed == 500 and s2.held == 0 and _notes(s2) == ["recovered"]


def test_escrow_stack_in_flight_is_refunded_return_in_flight_is_not_money() -> None:
    (s,) = recovered_sessions(_records(INTENT, ("note_escrowed", {"value": 1000, "action": "stack"})))
    assert s.paid == 1000 and s.held == 1000 and "note_stacked" in _notes(s)
    (s,) = recovered_sessions(_records(INTENT, ("note_escrowed", {"value": 2000, "action": "return"})))
    assert s.paid == 0 and _notes(s) == ["recovered", "alert"]


def test_closed_sessions_need_nothing_and_contradictions_are_refused() -> None:
    closed = _records(
        ("coin_accepted", {"value": 10, "paid": 10}),
        ("session_closed", {"paid": 10, "kept": 0, "returned": 10, "owed": 0}),
    )
    assert recovered_sessions(closed) == ()
    bad = _records(("payout_done", {"requested": 500, "paid": 500}))
    with pytest.raises(RecoveryError, match="check the journal files against the cash box"):
        resolve(replay(bad)["k-b-1"])


# -- crash at every record of whole visits, then again during recovery ---------------------------------


class Visit:
    """Runs the pure flow with a real journal on disk, executing effects like the runtime."""

    def __init__(self, journal: KioskJournal, *, hopper: int = 100_000, boot: str = "b1") -> None:
        self.journal = journal
        self.hopper = hopper
        self.state = flow.initial_state(CONFIG, boot, office_online=True)
        self.now = 0
        self.effects: list[flow.Effect] = []

    def feed(self, event: flow.Event) -> None:
        self.run_batch(*flow.transition(self.state, event))

    def run_batch(self, state: flow.Kiosk, effects: tuple[flow.Effect, ...]) -> None:
        queue: deque[tuple[flow.Kiosk, tuple[flow.Effect, ...]]] = deque([(state, effects)])
        while queue:
            self.state, batch = queue.popleft()
            produced: list[flow.Event] = []
            for effect in batch:
                self.effects.append(effect)
                if isinstance(effect, flow.Journal):
                    self.now += 1
                    self.journal.append(effect.entry, self.now)
                elif isinstance(effect, flow.PayOut):
                    paid = min(effect.amount, self.hopper)
                    self.hopper -= paid
                    produced.append(flow.PayoutDone(requested=effect.amount, paid=paid, now_ms=self.now))
            for event in produced:
                queue.append(flow.transition(self.state, event))

    def ev(self, event_type: type[flow.Event], **fields: Any) -> None:
        self.feed(event_type(now_ms=self.now, **fields))

    def payouts(self) -> list[int]:
        return [e.amount for e in self.effects if isinstance(e, flow.PayOut)]


def _paid_visit(v: Visit) -> None:
    v.ev(flow.ChooseLanguage, language="ja")
    v.ev(flow.ChooseCertificate, kind="juminhyo")
    v.ev(flow.ConfirmOptions, options=CertificateOptions(with_honseki=True), copies=2)
    v.ev(flow.CardInserted)
    v.ev(flow.CardReady, tries_left=3)
    v.ev(flow.EnterPin, pin=PIN)
    v.ev(flow.PinResult, ok=True, tries_left=3, blocked=False)
    v.ev(flow.ChallengeReceived, challenge_id="c", nonce=b"n")
    v.ev(flow.ChallengeSigned, certificate=b"D", signature=b"S", card_serial="SIM-0001")
    v.ev(flow.Authenticated, session_token="secret-token", fee=600)
    v.ev(flow.ConfirmFee)
    v.ev(flow.CoinAccepted, value=100)
    v.ev(flow.NoteEscrowed, value=1000)
    v.ev(flow.NoteStacked, value=1000)
    assert v.state.session is not None
    rid = v.state.session.request_id
    v.ev(flow.Issued, request_id=rid, issue_number="R8-000123", fee=600, content=CONTENT)
    v.ev(flow.PrintDone, request_id=rid, copies_printed=2)
    v.ev(flow.CardRemoved)
    assert v.state.step is Step.GOODBYE


def _cancelled_visit(v: Visit) -> None:
    v.ev(flow.ChooseLanguage, language="ja")
    v.ev(flow.ChooseCertificate, kind="koseki")
    v.ev(flow.ConfirmOptions, options=CertificateOptions(variant="tohon"), copies=1)
    v.ev(flow.CardInserted)
    v.ev(flow.CardReady, tries_left=3)
    v.ev(flow.EnterPin, pin=PIN)
    v.ev(flow.PinResult, ok=True, tries_left=3, blocked=False)
    v.ev(flow.ChallengeReceived, challenge_id="c", nonce=b"n")
    v.ev(flow.ChallengeSigned, certificate=b"D", signature=b"S", card_serial="SIM-0001")
    v.ev(flow.Authenticated, session_token="secret-token", fee=450)
    v.ev(flow.ConfirmFee)
    v.ev(flow.CoinAccepted, value=50)
    v.ev(flow.NoteEscrowed, value=1000)
    v.ev(flow.OfficeStatus, online=False)  # cancel with the note mid-stack
    v.ev(flow.NoteStacked, value=1000)
    assert v.state.session is None


SCENARIOS: dict[str, tuple[Callable[[Visit], None], int]] = {
    "paid_with_change": (_paid_visit, 100_000),
    "paid_hoppers_short": (_paid_visit, 300),
    "cancelled_mid_stack": (_cancelled_visit, 100_000),
    "cancelled_hoppers_empty": (_cancelled_visit, 0),
}


def _write(directory: Path, records: list[dict[str, Any]]) -> None:
    with SegmentedLog(directory, segment_size=500) as log:
        for record in records:
            log.append(record)


def _recover(directory: Path, hopper: int, boot: str) -> Visit:
    journal = KioskJournal(directory)
    v = Visit(journal, hopper=hopper, boot=boot)
    sessions = recovered_sessions(journal.records())
    v.run_batch(*flow.begin_recovery(v.state, sessions, 0))
    assert not any(isinstance(e, (flow.PrintCertificate, flow.Issue, flow.AcceptCash)) for e in v.effects)
    assert v.state.session is None and not v.state.recovery_queue
    return v


def _payouts(records: list[dict[str, Any]]) -> tuple[int, int]:
    """(surely paid, perhaps paid): confirmed payouts, plus announced ones never confirmed."""
    done = sum(x["data"]["paid"] for x in records if x["kind"] == "payout_done")
    requested = sum(x["data"]["requested"] for x in records if x["kind"] == "payout_done")
    announced = sum(x["data"]["amount"] for x in records if x["kind"] == "payout_intent")
    return done, done + announced - requested


def _check(records: list[dict[str, Any]], cut_payouts_done: int, cut_payouts_announced: int, hoppers: int) -> None:
    """After recovery: closed, balanced, fee at most once, machine never paid twice, resident never short.

    ``hoppers``: what the hoppers paid during recovery(ies); the cut's payouts are bounded by
    the ones journalled as done (surely paid) and the ones announced (perhaps paid).
    """
    (r,) = replay(records).values()
    assert r.closed and r.held == 0
    assert r.kept in (0, r.fee) and r.kept <= r.paid
    printed = any(x["kind"] == "printed" and x["data"]["copies"] > 0 for x in records)
    assert (r.kept > 0) == printed
    owed_back = r.paid - r.kept
    assert cut_payouts_announced + hoppers <= owed_back, "the machine paid out more than it owed"
    owed = sum(x["data"]["amount"] for x in records if x["kind"] == "refund_owed")
    assert cut_payouts_done + hoppers + owed >= owed_back, "the resident was left short"


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_crash_after_every_record_recovers_without_double_print_or_charge(tmp_path: Path, scenario: str) -> None:
    run_visit, hopper = SCENARIOS[scenario]
    with KioskJournal(tmp_path / "full") as journal:
        visit = Visit(journal, hopper=hopper)
        run_visit(visit)
        full = journal.records()
    text = (tmp_path / "full").joinpath("seg-000001.json").read_bytes().decode("utf-8")
    assert PIN not in text and "山田" not in text and "粕屋" not in text and "secret-token" not in text
    assert full[-1]["kind"] == "session_closed"

    for cut in range(len(full) + 1):
        prefix = full[:cut]
        if not prefix:
            continue
        first = tmp_path / f"cut-{cut}"
        _write(first, prefix)
        done, announced = _payouts(prefix)
        left = hopper - done  # the hoppers hold what the journalled payouts left
        rec1 = _recover(first, hopper=left, boot="b2")
        after1 = rec1.journal.records()
        rec1.journal.close()
        if full[cut - 1]["kind"] == "session_closed":
            assert after1 == prefix and rec1.payouts() == []
        paid1 = left - rec1.hopper
        _check(after1, done, announced, paid1)

        # A second crash at every record the recovery wrote, then recovery again.
        for cut2 in range(len(prefix) + 1, len(after1)):
            second = tmp_path / f"cut-{cut}-{cut2}"
            _write(second, after1[:cut2])
            written = after1[len(prefix) : cut2]
            paid_before, announced2 = _payouts(written)
            assert paid_before <= paid1
            rec2 = _recover(second, hopper=left - paid_before, boot="b3")
            after2 = rec2.journal.records()
            rec2.journal.close()
            paid2 = left - paid_before - rec2.hopper
            _check(after2, done + paid_before, announced + announced2, paid2)


def test_a_reported_record_goes_to_the_office_as_its_typed_model() -> None:
    record = entry_record(_entry("k-b-1", 4, "alert", code="note_stack_confirmed", value=1000, counter=7), 5)
    event = journal_event(record)
    assert event == messages.KioskJournal(
        key="k-b-1:4", kind="alert", session="k-b-1", code="note_stack_confirmed", value=1000, counter=7
    )
    data = protocol.to_data(event)
    assert data == {
        "key": "k-b-1:4",
        "kind": "alert",
        "session": "k-b-1",
        "code": "note_stack_confirmed",
        "value": 1000,
        "counter": 7,
    }
    wire = messages.EventRecord(id="kiosk-1:1", seq=1, type=event.type, hlc="h", at=5, data=data)
    assert protocol.event_data(wire) == event


def test_a_record_the_office_would_refuse_names_the_field() -> None:
    record = {"key": "k:1", "session": "k", "seq": 1, "kind": "alert", "at": 0, "data": {"code": "山田 太郎"}}
    with pytest.raises(Invalid, match=r"^code: expected an id or code"):
        journal_event(record)
    with pytest.raises(ProtocolError, match=r"kiosk\.journal: kind: expected one of"):
        protocol.event_data(
            messages.EventRecord(id="d:1", seq=1, type="kiosk.journal", hlc="h", at=0, data={"key": "k:1", "kind": "x"})
        )
