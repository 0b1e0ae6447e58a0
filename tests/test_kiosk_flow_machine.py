"""Random visits against a model of the kiosk's world: the money always adds up.

A hypothesis RuleBasedStateMachine drives the pure flow with touches, coins, notes (some
needing change, some 2000-yen), cancels, timeouts, pulled cards, wrong PINs, a lost office,
empty hoppers, a failing printer and crashes (the flow restarts from its journal through
kiosk.recovery). The world model executes the effects like the runtime does: in order, the
results fed after the batch. After every step:

* the kiosk's ledger balances: in = kept + returned + owed + held (held >= 0);
* the physical world agrees: every yen that went in was kept as a fee (journal ``fee_kept``),
  came out of the hoppers, is owed on a refund slip (journal ``refund_owed``) or is still held
  by an open session, across crashes too;
* no certificate printed twice, no fee kept twice, no money taken after a blocked PIN or a
  refusal, journal keys never repeat and every record passes the journal's allow-list.

At the end every visit is driven to its end: nothing may stay held.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from kiosk import flow
from kiosk.flow import CertificateOptions, Step
from kiosk.journal import entry_record, unconfirmed_notes
from kiosk.ports import Member
from kiosk.recovery import recovered_sessions

CONFIG = flow.FlowConfig(device_id="kiosk-9", warning_ms=5_000)
# What a resident who knows the way brings along (drawn afresh for each action).
_PATH: dict[str, st.SearchStrategy[Any]] = {
    "kind": st.sampled_from(flow.KINDS),
    "copies": st.integers(1, 3),
    "pin_right": st.sampled_from([True, True, True, False]),
    "money": st.sampled_from([0, 0, 0, 10, 50, 100, 500, 1000, 2000, 5000, 10000]),
    "members": st.booleans(),
}
HOUSEHOLD = (Member("R1", "山田 太郎"), Member("R2", "山田 花子"))


class KioskWorld(RuleBasedStateMachine):
    """The flow, plus a behavioural model of the card, cash, office and printer around it."""

    def __init__(self) -> None:
        super().__init__()
        self.boots = 1
        self.state = flow.initial_state(CONFIG, "boot1", office_online=True)
        self.now = 0
        # cash
        self.hopper = 100_000
        self.accepting = False
        self.max_note: int | None = None
        self.escrow: int | None = None
        self.pending: list[flow.Event] = []  # the validator's answers, delivered later
        self.bill_counter = 0  # the validator's event counter: its events are numbered, as on ccTalk
        self.money_in = 0
        self.paid_out = 0
        # card and resident
        self.card_in = False
        self.tries = 3
        self.resident = "ok"
        # office and printer
        self.office_up = True
        self.printer = "ok"
        self.issued: dict[str, str] = {}
        self.printed: Counter[str] = Counter()
        # journal (as stored records) and what it proves
        self.records: list[dict[str, Any]] = []
        self.keys: set[str] = set()
        self.blocked_or_refused: set[str] = set()

    def _bill_event(self) -> int:
        self.bill_counter = self.bill_counter % 255 + 1
        return self.bill_counter

    # -- the runtime's job: run effects in order, feed results after the batch ------------------

    def feed(self, event: flow.Event) -> None:
        queue = [event]
        while queue:
            self.state, effects = flow.transition(self.state, queue.pop(0))
            for effect in effects:
                queue.extend(self.execute(effect))

    def execute(self, effect: flow.Effect) -> list[flow.Event]:
        now = self.now
        s = self.state.session
        if isinstance(effect, flow.Journal):
            record = entry_record(effect.entry, now)  # raises if anything unfit would be stored
            assert record["key"] not in self.keys, f"journal key repeated: {record['key']}"
            self.keys.add(record["key"])
            self.records.append(record)
        elif isinstance(effect, flow.AcceptCash):
            self.accepting, self.max_note = True, effect.max_note
        elif isinstance(effect, flow.Inhibit):
            self.accepting, self.max_note = False, None
        elif isinstance(effect, flow.StackNote):
            if self.escrow is not None:
                # Told to stack, the note is in the machine (the report may come late, or never).
                self.money_in += self.escrow
                self.pending.append(flow.NoteStacked(value=self.escrow, counter=self._bill_event(), now_ms=now))
                self.escrow = None
        elif isinstance(effect, flow.ReturnNote):
            if self.escrow is not None:
                self.pending.append(flow.NoteReturned(value=self.escrow, counter=self._bill_event(), now_ms=now))
                self.escrow = None
        elif isinstance(effect, flow.PayOut):
            paid = min(effect.amount, self.hopper)
            self.hopper -= paid
            self.paid_out += paid
            return [
                flow.PayoutDone(requested=effect.amount, paid=paid, now_ms=now),
                flow.ChangeStatus(low=self.hopper < 9_990, now_ms=now),
            ]
        elif isinstance(effect, flow.ReadCard):
            if not self.card_in:
                return [flow.CardRemoved(now_ms=now)]
            return [flow.CardReady(tries_left=self.tries, now_ms=now)]
        elif isinstance(effect, flow.VerifyPin):
            if self.tries == 0:
                ok = False
            else:
                ok = effect.pin == "1234"
                self.tries = 3 if ok else self.tries - 1
            if self.tries == 0 and s is not None:
                self.blocked_or_refused.add(s.session_id)
            return [flow.PinResult(ok=ok, tries_left=self.tries, blocked=self.tries == 0, now_ms=now)]
        elif isinstance(effect, flow.SignChallenge):
            return [flow.ChallengeSigned(certificate=b"DER", signature=b"SIG", card_serial="SIM-0001", now_ms=now)]
        elif isinstance(effect, flow.RequestChallenge):
            if not self.office_up:
                return [flow.OfficeLost(now_ms=now)]
            return [flow.ChallengeReceived(challenge_id="c", nonce=b"n", now_ms=now)]
        elif isinstance(effect, flow.Authenticate):
            if not self.office_up:
                return [flow.OfficeLost(now_ms=now)]
            if self.resident != "ok":
                assert s is not None
                self.blocked_or_refused.add(s.session_id)
                return [flow.AuthRefused(refusal="go_to_counter", now_ms=now)]
            fee = CONFIG.fees[effect.kind] * effect.copies
            return [flow.Authenticated(session_token="t", fee=fee, household=HOUSEHOLD, now_ms=now)]
        elif isinstance(effect, flow.Issue):
            if not self.office_up:
                return [flow.OfficeLost(now_ms=now)]
            number = self.issued.setdefault(effect.request_id, f"N{len(self.issued) + 1}")
            assert s is not None and s.fee is not None
            return [
                flow.Issued(request_id=effect.request_id, issue_number=number, fee=s.fee, content={"x": 1}, now_ms=now)
            ]
        elif isinstance(effect, flow.PrintCertificate):
            job = effect.job
            assert s is not None and job.session_id == s.session_id and job.card_serial == s.card_serial
            if self.printer == "hang":
                return []  # the printer never answers: the flow's own deadline must end it
            if self.printer == "ok":
                self.printed[job.request_id] += 1
                return [flow.PrintDone(request_id=job.request_id, copies_printed=job.copies, now_ms=now)]
            return [flow.PrintDone(request_id=job.request_id, copies_printed=0, now_ms=now)]
        return []

    # -- rules: what residents, devices and time do ----------------------------------------------

    def _next_step(self, kind: str, copies: int, pin_right: bool, money: int, members: bool) -> None:
        """The action a resident who knows the way takes at the current step."""
        step = self.state.step
        if step is Step.LANGUAGE:
            self.choose_language("ja")
        elif step is Step.CERTIFICATE:
            self.choose_certificate(kind)
        elif step is Step.OPTIONS:
            self.confirm_options(copies, members)
        elif step is Step.INSERT_CARD:
            if self.card_in:
                self.take_card()
            self.insert_card("ok" if money % 3 else "dv")
        elif step is Step.PIN:
            self.enter_pin(pin_right)
        elif step is Step.MEMBERS:
            self.choose_members(("R2",))
        elif step is Step.CONFIRM_FEE:
            self.confirm_fee()
        elif step is Step.PAYMENT:
            if self.pending:
                self.validator_answers()
            elif money == 0:
                self.pay_the_rest_in_coins()
            elif money in flow.COINS:
                self.insert_coin(money)
            else:
                self.insert_note(money)
        elif step is Step.SETTLING:
            self.validator_answers()
        elif step is Step.TAKE_CARD:
            self.take_card()
        elif step is Step.GOODBYE:
            self.still_here()
        else:
            self.time_passes(200)

    @rule(**_PATH)
    def resident_knows_the_way(self, kind: str, copies: int, pin_right: bool, money: int, members: bool) -> None:
        self._next_step(kind, copies, pin_right, money, members)

    @rule(**_PATH)
    def resident_knows_the_way_2(self, kind: str, copies: int, pin_right: bool, money: int, members: bool) -> None:
        self._next_step(kind, copies, pin_right, money, members)

    @rule(**_PATH)
    def resident_knows_the_way_3(self, kind: str, copies: int, pin_right: bool, money: int, members: bool) -> None:
        self._next_step(kind, copies, pin_right, money, members)

    @rule(**_PATH)
    def resident_knows_the_way_4(self, kind: str, copies: int, pin_right: bool, money: int, members: bool) -> None:
        self._next_step(kind, copies, pin_right, money, members)

    @rule(**_PATH)
    def resident_knows_the_way_5(self, kind: str, copies: int, pin_right: bool, money: int, members: bool) -> None:
        self._next_step(kind, copies, pin_right, money, members)

    @rule(**_PATH)
    def resident_knows_the_way_6(self, kind: str, copies: int, pin_right: bool, money: int, members: bool) -> None:
        self._next_step(kind, copies, pin_right, money, members)

    @rule(language=st.sampled_from(["ja", "en", "vi"]))
    def choose_language(self, language: str) -> None:
        self.feed(flow.ChooseLanguage(language=language, now_ms=self.now))

    @rule(kind=st.sampled_from(flow.KINDS))
    def choose_certificate(self, kind: str) -> None:
        self.feed(flow.ChooseCertificate(kind=kind, now_ms=self.now))

    @rule(copies=st.integers(0, 11), members=st.booleans())
    def confirm_options(self, copies: int, members: bool) -> None:
        s = self.state.session
        kind = s.kind if s is not None and s.kind else "juminhyo"
        options = flow.default_options(kind)
        if kind == "shotoku":
            options = CertificateOptions(fiscal_year=2025)
        if kind == "juminhyo" and members:
            options = CertificateOptions(scope="members")
        self.feed(flow.ConfirmOptions(options=options, copies=copies, now_ms=self.now))

    @rule(resident=st.sampled_from(["ok", "ok", "dv", "moved_out"]))
    def insert_card(self, resident: str) -> None:
        if self.card_in:
            return
        self.card_in, self.tries, self.resident = True, 3, resident
        self.feed(flow.CardInserted(now_ms=self.now))

    @rule()
    def take_card(self) -> None:
        if self.card_in:
            self.card_in = False
            self.feed(flow.CardRemoved(now_ms=self.now))

    @rule(right=st.booleans())
    def enter_pin(self, right: bool) -> None:
        self.feed(flow.EnterPin(pin="1234" if right else "0000", now_ms=self.now))

    @rule(who=st.sampled_from([("R1",), ("R2", "R1"), (), ("R9",)]))
    def choose_members(self, who: tuple[str, ...]) -> None:
        self.feed(flow.ChooseMembers(members=who, now_ms=self.now))

    @rule()
    def confirm_fee(self) -> None:
        self.feed(flow.ConfirmFee(now_ms=self.now))

    @rule()
    def cancel(self) -> None:
        self.feed(flow.Cancel(now_ms=self.now))

    @rule()
    def back(self) -> None:
        self.feed(flow.Back(now_ms=self.now))

    @rule()
    def still_here(self) -> None:
        self.feed(flow.StillHere(now_ms=self.now))

    @rule(value=st.sampled_from(flow.COINS))
    def insert_coin(self, value: int) -> None:
        if self.accepting:
            self.money_in += value
            self.feed(flow.CoinAccepted(value=value, now_ms=self.now))

    def pay_the_rest_in_coins(self) -> None:
        s = self.state.session
        while self.accepting and s is not None and s.due > 0 and self.state.step is Step.PAYMENT:
            self.insert_coin(next(c for c in (500, 100, 50, 10) if c <= s.due or c == 10))
            s = self.state.session

    @rule(value=st.sampled_from(flow.COINS), happens=st.sampled_from([False, False, False, True]))
    def coin_slips_through_an_inhibit(self, value: int, happens: bool) -> None:
        if happens:  # a coin in flight as the acceptor closes: rare, but it is money
            self.money_in += value
            self.feed(flow.CoinAccepted(value=value, now_ms=self.now))

    @rule(value=st.sampled_from([1000, 2000, 5000, 10000]))
    def insert_note(self, value: int) -> None:
        if not self.accepting or self.escrow is not None or self.pending:
            return
        if value != 2000 and (self.max_note is None or value > self.max_note):
            return  # the validator's inhibits refuse it before escrow
        self.escrow = value
        s = self.state.session
        change = (s.paid + value - s.fee) if s is not None and s.fee is not None else 0
        self.feed(
            flow.NoteEscrowed(value=value, change_ok=change <= self.hopper, counter=self._bill_event(), now_ms=self.now)
        )

    @rule()
    def validator_answers(self) -> None:
        if self.pending:
            self.feed(self.pending.pop(0))

    @rule(ms=st.sampled_from([200, 200, 4_000, 4_000, 16_000, 45_000, 130_000, 250_000]))
    def time_passes(self, ms: int) -> None:
        self.now += ms
        self.feed(flow.Tick(now_ms=self.now))

    @rule(up=st.sampled_from([True, True, False]))
    def office_answers(self, up: bool) -> None:
        self.office_up = up

    @rule(online=st.sampled_from([True, True, False]))
    def office_status(self, online: bool) -> None:
        self.feed(flow.OfficeStatus(online=online, now_ms=self.now))

    @rule(level=st.sampled_from([0, 60, 500, 100_000]))
    def hoppers(self, level: int) -> None:
        self.hopper = level
        self.feed(flow.ChangeStatus(low=level < 9_990, now_ms=self.now))

    @rule(mode=st.sampled_from(["ok", "ok", "fail", "hang"]))
    def printer_mode(self, mode: str) -> None:
        self.printer = mode

    @rule(happens=st.sampled_from([False, True]))
    def crash_and_restart(self, happens: bool) -> None:
        if happens:
            self.crash()

    @rule()
    def crash_while_a_note_moves(self) -> None:
        if self.pending or self.escrow is not None:
            self.crash()

    def crash(self) -> None:
        # Power cut: the validator finishes what it was told and keeps its reports in its event
        # buffer, which the restarted kiosk reads again after the journalled counter (the cash
        # cursor): they are delivered after the recovery. A note sitting in escrow is handed back
        # at reset; the card is powered down.
        self.escrow = None
        self.accepting, self.max_note = False, None
        self.boots += 1
        late = tuple(flow.Escrow(value, action) for value, action in unconfirmed_notes(self.records))
        self.state = flow.initial_state(CONFIG, f"boot{self.boots}", office_online=True, late_notes=late)
        sessions = recovered_sessions(self.records)
        self.state, effects = flow.begin_recovery(self.state, sessions, self.now)
        produced: list[flow.Event] = []
        for effect in effects:
            assert not isinstance(effect, (flow.PrintCertificate, flow.Issue)), "recovery must never print or issue"
            produced.extend(self.execute(effect))
        for event in produced:
            self.feed(event)

    # -- invariants -------------------------------------------------------------------------------

    def _held(self) -> int:
        s = self.state.session
        return (s.held if s is not None else 0) + sum(q.held for q in self.state.recovery_queue)

    @invariant()
    def ledger_balances(self) -> None:
        t = self.state.totals
        held = self._held()
        assert held >= 0
        assert t.inserted == t.kept + t.returned + t.owed + held, (t, held)
        if self.state.session is None and not self.state.recovery_queue:
            assert t.held == 0

    @invariant()
    def world_agrees_with_the_journal(self) -> None:
        kept = sum(r["data"]["amount"] for r in self.records if r["kind"] == "fee_kept")
        owed = sum(r["data"]["amount"] for r in self.records if r["kind"] == "refund_owed")
        # Notes told to stack whose report is still on its way are in the machine but not yet
        # credited, unless a settling timeout already credited them by assumption (late_notes).
        on_the_way = sum(e.value for e in self.pending if isinstance(e, flow.NoteStacked))
        assumed = sum(e.value for e in self.state.late_notes if e.action == "stack")
        uncredited = on_the_way - assumed
        assert uncredited >= 0
        total = kept + self.paid_out + owed + self._held() + uncredited
        assert self.money_in == total, (self.money_in, kept, self.paid_out, owed, self._held(), uncredited)

    @invariant()
    def nothing_printed_or_charged_twice(self) -> None:
        assert all(n == 1 for n in self.printed.values()), self.printed
        fees: dict[str, int] = {}
        kept: Counter[str] = Counter()
        for r in self.records:
            if r["kind"] == "payment_intent":
                fees[r["session"]] = r["data"]["fee"]
            elif r["kind"] == "fee_kept":
                kept[r["session"]] += r["data"]["amount"]
        for session, amount in kept.items():
            assert amount <= fees[session], f"{session} charged {amount} for a fee of {fees[session]}"

    @invariant()
    def no_money_taken_after_a_block_or_refusal(self) -> None:
        for r in self.records:
            if r["kind"] == "payment_intent":
                assert r["session"] not in self.blocked_or_refused

    @invariant()
    def cash_closed_outside_payment(self) -> None:
        if self.state.step is not Step.PAYMENT:
            assert not self.state.cash_open

    def teardown(self) -> None:
        # Every visit must come to an end with nothing held, whatever happened before.
        self.office_up, self.printer = True, "ok"
        for _ in range(12):
            while self.pending:
                self.validator_answers()
            self.take_card()
            self.time_passes(250_000)
        assert self.state.session is None and not self.state.recovery_queue, self.state.step
        assert self.state.totals.held == 0
        self.world_agrees_with_the_journal()
        assert self.state.step in (Step.LANGUAGE, Step.GOODBYE), self.state.step


KioskWorld.TestCase.settings = settings(max_examples=250, stateful_step_count=80, deadline=None)
TestKioskWorld = KioskWorld.TestCase
