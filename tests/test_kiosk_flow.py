"""The kiosk flow step by step (kiosk.flow is pure: events in, state and effects out)."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any, get_args

import pytest

from kiosk import flow
from kiosk.flow import (
    AcceptCash,
    CertificateOptions,
    Effect,
    FlowConfig,
    FlowConfigError,
    Inhibit,
    Issue,
    Journal,
    Kiosk,
    Notice,
    PayOut,
    PrintCertificate,
    PrintReceipt,
    PrintRefundSlip,
    ReturnCard,
    ReturnNote,
    StackNote,
    Step,
    VerifyPin,
    WarnTimeout,
    initial_state,
    transition,
)
from kiosk.flow import config as flow_config
from kiosk.flow.constants import Language
from kiosk.ports import KioskError, Member

REPO = Path(__file__).resolve().parents[1]
CONTENT = {"name": "山田 太郎", "address": "粕屋町1-2-3"}


class Run:
    """Feeds events to the pure flow and keeps every effect, like a runtime without devices."""

    def __init__(self, *, online: bool = True, config: FlowConfig | None = None) -> None:
        self.config = config or FlowConfig(device_id="kiosk-1")
        self.state: Kiosk = initial_state(self.config, "b1", office_online=online)
        self.now = 0
        self.effects: list[Effect] = []
        self.batches: list[tuple[Effect, ...]] = []

    def __call__(self, event_type: type[flow.Event], **fields: Any) -> tuple[Effect, ...]:
        self.state, fx = transition(self.state, event_type(now_ms=self.now, **fields))
        self.effects.extend(fx)
        self.batches.append(fx)
        return fx

    def wait(self, ms: int) -> tuple[Effect, ...]:
        self.now += ms
        return self(flow.Tick)

    @property
    def session(self) -> flow.Session:
        assert self.state.session is not None
        return self.state.session

    def journal(self) -> list[flow.JournalEntry]:
        return [e.entry for e in self.effects if isinstance(e, Journal)]

    def kinds(self) -> list[str]:
        return [e.kind for e in self.journal()]

    def of(self, effect_type: type[Effect]) -> list[Any]:
        return [e for e in self.effects if isinstance(e, effect_type)]

    # -- walking the flow --------------------------------------------------------------------

    def to_options(self, kind: str = "juminhyo") -> None:
        self(flow.ChooseLanguage, language="ja")
        self(flow.ChooseCertificate, kind=kind)
        assert self.state.step is Step.OPTIONS

    def to_pin(self, kind: str = "juminhyo", copies: int = 1, options: CertificateOptions | None = None) -> None:
        self.to_options(kind)
        self(flow.ConfirmOptions, options=options or flow.default_options(kind), copies=copies)
        assert self.state.step is Step.INSERT_CARD
        self(flow.CardInserted)
        assert self.state.step is Step.READING_CARD
        self(flow.CardReady, tries_left=3)
        assert self.state.step is Step.PIN

    def to_authenticating(self, **kw: Any) -> None:
        self.to_pin(**kw)
        self(flow.EnterPin, pin="1234")
        self(flow.PinResult, ok=True, tries_left=3, blocked=False)
        assert self.state.step is Step.AUTHENTICATING
        self(flow.ChallengeReceived, challenge_id="c1", nonce=b"n" * 32)
        self(flow.ChallengeSigned, certificate=b"DER", signature=b"SIG", card_serial="SIM-0001")

    def to_fee(self, fee: int = 300, **kw: Any) -> None:
        self.to_authenticating(**kw)
        self(flow.Authenticated, session_token="tok", fee=fee)
        assert self.state.step is Step.CONFIRM_FEE

    def to_payment(self, fee: int = 300, **kw: Any) -> None:
        self.to_fee(fee, **kw)
        self(flow.ConfirmFee)
        assert self.state.step is Step.PAYMENT

    def issue_and_print(self, copies_printed: int | None = None) -> None:
        assert self.state.step is Step.ISSUING
        rid = self.session.request_id
        self(flow.Issued, request_id=rid, issue_number="R8-0001", fee=self.session.fee, content=CONTENT)
        assert self.state.step is Step.PRINTING
        copies = self.session.copies if copies_printed is None else copies_printed
        self(flow.PrintDone, request_id=rid, copies_printed=copies)

    def settle_payouts(self, pay: Iterable[int] | None = None) -> None:
        """Answer every PayOut not yet answered (fully, unless ``pay`` says how much)."""
        amounts = iter(pay or ())
        answered = 0
        while True:
            payouts = self.of(PayOut)
            if answered >= len(payouts):
                return
            request = payouts[answered].amount
            answered += 1
            self(flow.PayoutDone, requested=request, paid=next(amounts, request))


def _before(batch: tuple[Effect, ...], action: type[Effect], journal_kind: str) -> None:
    """In ``batch``, every ``action`` comes after a Journal of ``journal_kind``."""
    for i, effect in enumerate(batch):
        if isinstance(effect, action):
            earlier = [e.entry.kind for e in batch[:i] if isinstance(e, Journal)]
            assert journal_kind in earlier, f"{action.__name__} without a {journal_kind} journal before it: {batch}"


def _money_balanced(state: Kiosk) -> None:
    t = state.totals
    held = (state.session.held if state.session else 0) + sum(s.held for s in state.recovery_queue)
    assert t.inserted == t.kept + t.returned + t.owed + held
    assert held >= 0


# -- configuration and options -------------------------------------------------------------------


def test_config_errors_name_the_key_and_the_fix() -> None:
    with pytest.raises(FlowConfigError, match=r"^fees\.inkan: expected a positive yen amount in 10-yen steps"):
        FlowConfig(device_id="k1", fees={**flow.DEFAULT_FEES, "inkan": 0})
    with pytest.raises(FlowConfigError, match=r"^fees\.passport: unknown key; allowed here: juminhyo, inkan"):
        FlowConfig(device_id="k1", fees={**flow.DEFAULT_FEES, "passport": 300})
    with pytest.raises(FlowConfigError, match=r"timeouts\.pni: no such step"):
        flow.config_from_mapping("k1", {"timeouts": {"pni": 30}})
    with pytest.raises(FlowConfigError, match=r"kiosk\.colour: unknown key"):
        flow.config_from_mapping("k1", {"colour": "red"})
    with pytest.raises(FlowConfigError, match="device_id"):
        FlowConfig(device_id="bad id:")
    with pytest.raises(FlowConfigError, match="max_copies"):
        flow.config_from_mapping("k1", {"max_copies": 11})


def test_config_from_mapping_converts_seconds() -> None:
    cfg = flow.config_from_mapping("k1", {"fees": {"koseki": 750}, "timeouts": {"pin": 30}, "warning": 5})
    assert cfg.fees["koseki"] == 750 and cfg.fees["juminhyo"] == 300
    assert cfg.timeout_ms(Step.PIN) == 30_000 and cfg.warning_ms == 5_000


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"timeouts": {"pin": "30"}},
            'kiosk.timeouts.pin: expected a number of seconds from 0.001 to 86400, got "30"; write the number alone',
        ),
        ({"timeouts": {"pin": 0}}, "kiosk.timeouts.pin: expected a number of seconds from 0.001 to 86400, got 0"),
        ({"timeouts": {"pin": float("inf")}}, "kiosk.timeouts.pin: expected a number of seconds from 0.001 to 86400"),
        ({"timeouts": 30}, "kiosk.timeouts: expected a table of step = seconds, e.g. pin = 60, got 30"),
        ({"timeouts": {"paymnet": 30}}, 'kiosk.timeouts.paymnet: no such step; did you mean "payment"?; use one of'),
        ({"warning": True}, "kiosk.warning: expected a number of seconds from 0 to 86400 (0: no warning), got true"),
        ({"max_copies": 11}, "kiosk.max_copies: expected an integer from 1 to 10, got 11"),
        ({"max_copies": 2.0}, "kiosk.max_copies: expected an integer from 1 to 10, got 2.0; write 2"),
        (
            {"languages": "ja"},
            'kiosk.languages: expected a list of languages from ja, en, zh_CN, ko, vi, pt, e.g. ["ja"',
        ),
        ({"languages": ["ja", "fr"]}, 'kiosk.languages[1]: expected one of en, ja, ko, pt, vi, zh_CN, got "fr"'),
        ({"languages": []}, "kiosk.languages: expected at least 1 item, got 0"),
        ({"take_card_reminders": -1}, "kiosk.take_card_reminders: expected an integer of at least 0, got -1"),
        ({"fees": ["inkan"]}, "kiosk.fees: expected a table of certificate kind = yen, e.g. koseki = 450, got a list"),
        (
            {"fees": {"inkan": "300"}},
            (
                'kiosk.fees.inkan: expected a positive yen amount in 10-yen steps, e.g. 300, got "300"; write the'
                " number alone, e.g. 300"
            ),
        ),
        ({"fees": {"inkan": 305}}, "kiosk.fees.inkan: expected a multiple of 10, got 305; use 300 or 310"),
        ({"fees": {"inkan": 0}}, "kiosk.fees.inkan: expected a positive yen amount in 10-yen steps, e.g. 300, got 0"),
        ({"fees": {"passport": 300}}, "kiosk.fees.passport: unknown key; allowed here: juminhyo, inkan"),
        ({"fees": {"kosek": 300}}, 'kiosk.fees.kosek: unknown key; did you mean "koseki"?'),
        ({"colour": "red"}, "kiosk.colour: unknown key; allowed here: fees, timeouts, warning, max_copies, languages"),
    ],
)
def test_config_from_mapping_names_the_key_path_and_the_fix(section: dict[str, Any], message: str) -> None:
    with pytest.raises(FlowConfigError) as err:
        flow.config_from_mapping("k1", section)
    assert str(err.value).startswith(message), str(err.value)
    # Still the kiosk's error (kiosk.device turns it into a UsageError) and a ValueError.
    assert isinstance(err.value, KioskError) and isinstance(err.value, ValueError)


def test_config_from_mapping_defaults_are_the_flow_defaults() -> None:
    assert flow.config_from_mapping("k1", {}) == FlowConfig(device_id="k1")
    cfg = flow.config_from_mapping("k1", {"timeouts": {"pin": 2.01}, "warning": 0, "languages": ["en", "ja"]})
    # Rounded to the millisecond: 2.01 * 1000 is a hair under 2010 in binary.
    assert cfg.timeouts_ms["pin"] == 2_010 and cfg.warning_ms == 0 and cfg.languages == ("en", "ja")
    assert cfg.timeouts_ms["payment"] == flow.DEFAULT_TIMEOUTS_MS["payment"]
    # A bad device id is not a key of the section: named as device_id (kiosk.device says --device-id).
    with pytest.raises(FlowConfigError, match=r"^device_id: expected 1-40 letters, .*got \"bad id\""):
        flow.config_from_mapping("bad id", {})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"fees": {**flow.DEFAULT_FEES, "koseki": 455}}, "fees.koseki: expected a multiple of 10, got 455"),
        ({"fees": {"koseki": 450}}, "fees.juminhyo: required"),
        ({"timeouts_ms": {"pin": 0}}, "timeouts_ms.pin: expected a positive number of milliseconds, got 0"),
        ({"timeouts_ms": {"pni": 1}}, 'timeouts.pni: no such step; did you mean "pin"?'),
        ({"warning_ms": -1}, "warning_ms: expected a number of milliseconds of at least 0 (0: no warning), got -1"),
        ({"max_copies": True}, "max_copies: expected an integer from 1 to 10, got true"),
        ({"languages": ("ja", "fr")}, 'languages[1]: expected one of en, ja, ko, pt, vi, zh_CN, got "fr"'),
        ({"take_card_reminders": "3"}, 'take_card_reminders: expected an integer of at least 0, got "3"'),
    ],
)
def test_a_flow_config_built_in_code_names_the_field_and_the_fix(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(FlowConfigError) as err:
        FlowConfig(device_id="k1", **changes)
    assert str(err.value).startswith(message), str(err.value)


def test_the_fee_models_know_the_same_kinds_as_the_flow() -> None:
    assert flow_config.FeeOverrides.__struct_fields__ == flow.KINDS
    assert flow_config.FeeTable.__struct_fields__ == flow.KINDS


def test_the_config_model_knows_the_same_languages_as_the_flow() -> None:
    assert get_args(Language) == flow.LANGUAGES
    assert flow.KioskSection().languages == flow.LANGUAGES


@pytest.mark.parametrize(
    ("kind", "options", "copies", "problem"),
    [
        ("juminhyo", CertificateOptions(), 1, None),
        ("juminhyo", CertificateOptions(scope="members", with_honseki=True, with_my_number=True), 10, None),
        ("juminhyo", CertificateOptions(scope="street"), 1, "bad_scope"),
        ("juminhyo", CertificateOptions(), 11, "bad_copies"),
        ("juminhyo", CertificateOptions(), 0, "bad_copies"),
        ("inkan", CertificateOptions(with_my_number=True), 1, "bad_options"),
        ("koseki", CertificateOptions(variant="shohon"), 2, None),
        ("koseki", CertificateOptions(), 1, "bad_variant"),
        ("shotoku", CertificateOptions(fiscal_year=2025), 1, None),
        ("shotoku", CertificateOptions(), 1, "bad_fiscal_year"),
        ("fuhyo", CertificateOptions(fiscal_year=2025), 1, "bad_options"),
    ],
)
def test_check_options(kind: str, options: CertificateOptions, copies: int, problem: str | None) -> None:
    assert flow.check_options(kind, options, copies) == problem


def test_options_wire_omits_my_number_unless_asked() -> None:
    assert flow.options_wire("juminhyo", CertificateOptions())["with_my_number"] is False
    assert "members" not in flow.options_wire("juminhyo", CertificateOptions())
    assert flow.options_wire("koseki", CertificateOptions(variant="shohon")) == {"variant": "shohon"}
    assert flow.options_wire("shotoku", CertificateOptions(fiscal_year=2025)) == {"fiscal_year": 2025}
    assert flow.options_wire("inkan", CertificateOptions()) == {}


# -- the happy path -------------------------------------------------------------------------------


def test_paid_visit_from_start_to_start() -> None:
    run = Run()
    run.to_payment(fee=600, copies=2)
    assert run.of(AcceptCash)[-1] == AcceptCash(10000)
    assert run.state.max_note == 10000
    run(flow.NoteEscrowed, value=1000, change_ok=True)
    assert run.batches[-1][-1] == StackNote()
    run(flow.NoteStacked, value=1000)
    assert run.state.step is Step.ISSUING
    issue = run.of(Issue)[-1]
    assert issue.request_id == run.session.request_id and issue.copies == 2 and issue.paid == 600
    run.issue_and_print()
    assert run.of(PrintCertificate)[-1].job.card_serial == "SIM-0001"
    assert run.state.step is Step.SETTLING and run.of(PayOut) == [PayOut(400)]
    run.settle_payouts()
    receipt = run.of(PrintReceipt)[-1].receipt
    assert (receipt.fee, receipt.paid, receipt.change, receipt.kept) == (600, 1000, 400, 600)
    assert run.state.step is Step.TAKE_CARD and ReturnCard() in run.batches[-1]
    assert run.state.session is None
    run(flow.CardRemoved)
    assert run.state.step is Step.GOODBYE and run.state.outcome == "thank_you"
    run.wait(10_000)
    assert run.state.step is Step.LANGUAGE and run.state.outcome is None
    assert run.kinds() == [
        "payment_intent",
        "note_escrowed",
        "note_stacked",
        "issue_requested",
        "issued",
        "print_started",
        "printed",
        "fee_kept",
        "payout_intent",
        "payout_done",
        "session_closed",
    ]
    keys = [e.key for e in run.journal()]
    assert len(set(keys)) == len(keys) and keys[0].endswith(":1")
    _money_balanced(run.state)
    assert run.state.totals == flow.Ledger(inserted=1000, kept=600, returned=400, owed=0)


def test_every_action_is_journalled_before_it_happens() -> None:
    run = Run()
    run.to_payment(fee=300)
    run(flow.CoinAccepted, value=100)
    run(flow.NoteEscrowed, value=1000, change_ok=True)
    run(flow.NoteStacked, value=1000)
    run.issue_and_print()
    run.settle_payouts()
    for batch in run.batches:
        _before(batch, StackNote, "note_escrowed")
        _before(batch, Issue, "issue_requested")
        _before(batch, PrintCertificate, "print_started")
        _before(batch, PayOut, "payout_intent")
    first_accept = next(i for i, b in enumerate(run.batches) if any(isinstance(e, AcceptCash) for e in b))
    _before(run.batches[first_accept], AcceptCash, "payment_intent")


def test_journal_never_holds_pin_names_or_content() -> None:
    run = Run()
    run.to_payment(fee=300)
    run(flow.CoinAccepted, value=500)
    run.issue_and_print()
    run.settle_payouts()
    text = repr(run.journal()) + repr(run.effects) + repr(run.state)
    assert "1234" not in text  # the PIN
    assert "山田" not in text and "粕屋" not in text  # certificate content
    assert "tok" not in repr(run.journal())


# -- options, members, card ------------------------------------------------------------------------


def test_bad_options_stay_on_the_screen_with_a_notice() -> None:
    run = Run()
    run.to_options("koseki")
    fx = run(flow.ConfirmOptions, options=CertificateOptions(), copies=1)
    assert Notice("bad_variant") in fx and run.state.step is Step.OPTIONS
    run(flow.Back)
    assert run.state.step is Step.CERTIFICATE
    run(flow.Back)
    assert run.state.step is Step.LANGUAGE and run.state.session is None


def test_chosen_members_after_the_office_names_the_household() -> None:
    run = Run()
    run.to_authenticating(options=CertificateOptions(scope="members", with_zokugara=True))
    household = (Member("R1", "山田 太郎"), Member("R2", "山田 花子"))
    run(flow.Authenticated, session_token="tok", fee=300, household=household)
    assert run.state.step is Step.MEMBERS
    assert Notice("members_required") in run(flow.ChooseMembers, members=())
    assert Notice("members_required") in run(flow.ChooseMembers, members=("R9",))
    run(flow.ChooseMembers, members=("R2", "R2"))
    assert run.state.step is Step.CONFIRM_FEE
    run(flow.ConfirmFee)
    run(flow.CoinAccepted, value=100)
    run(flow.CoinAccepted, value=100)
    run(flow.CoinAccepted, value=100)
    issue = run.of(Issue)[-1]
    assert flow.options_wire("juminhyo", issue.options)["members"] == ["R2"]
    assert "山田" not in repr(run.state)


def test_card_inserted_early_is_read_after_the_options() -> None:
    run = Run()
    run(flow.CardInserted)
    assert run.state.card == "held" and run.state.step is Step.LANGUAGE
    run.to_options()
    run(flow.ConfirmOptions, options=CertificateOptions(), copies=1)
    assert run.state.step is Step.READING_CARD


def test_no_card_or_visit_while_the_office_is_away() -> None:
    run = Run(online=False)
    assert Notice("unavailable") in run(flow.ChooseLanguage, language="en")
    assert run.state.step is Step.LANGUAGE
    assert ReturnCard() in run(flow.CardInserted)
    run(flow.OfficeStatus, online=True)
    run(flow.CardRemoved)
    run.to_pin()
    fx = run(flow.OfficeStatus, online=False)
    assert ReturnCard() in fx and run.state.outcome == "office_lost"
    assert not run.of(AcceptCash)


def test_pin_shows_tries_left_and_three_wrong_block_the_card_without_money() -> None:
    run = Run()
    run.to_pin()
    assert Notice("pin_format") in run(flow.EnterPin, pin="12a4")
    assert run.state.step is Step.PIN
    for left in (2, 1):
        fx = run(flow.EnterPin, pin="0000")
        assert next(e for e in fx if isinstance(e, VerifyPin)).pin == "0000"
        run(flow.PinResult, ok=False, tries_left=left, blocked=False)
        assert run.state.step is Step.PIN and run.session.tries_left == left
    run(flow.EnterPin, pin="0000")
    fx = run(flow.PinResult, ok=False, tries_left=0, blocked=True)
    assert ReturnCard() in fx
    assert run.state.outcome == "card_blocked" and run.state.step is Step.TAKE_CARD
    assert not run.of(AcceptCash) and not run.journal()
    assert "0000" not in repr(run.effects)


def test_a_blocked_card_is_returned_at_once() -> None:
    run = Run()
    run.to_options()
    run(flow.ConfirmOptions, options=CertificateOptions(), copies=1)
    run(flow.CardInserted)
    assert ReturnCard() in run(flow.CardReady, tries_left=0)
    assert run.state.outcome == "card_blocked"


def test_refusal_comes_before_payment_and_names_no_reason() -> None:
    run = Run()
    run.to_authenticating()
    fx = run(flow.AuthRefused, refusal="go_to_counter")
    assert ReturnCard() in fx and run.state.outcome == "go_to_counter"
    assert not run.of(AcceptCash) and not run.journal()
    run(flow.CardRemoved)
    assert run.state.step is Step.GOODBYE


def test_office_lost_while_authenticating_returns_the_card() -> None:
    run = Run()
    run.to_pin()
    run(flow.EnterPin, pin="1234")
    run(flow.PinResult, ok=True, tries_left=3, blocked=False)
    fx = run(flow.OfficeLost)
    assert ReturnCard() in fx and run.state.outcome == "office_lost"


# -- payment -----------------------------------------------------------------------------------------


def test_coins_overpay_and_get_change() -> None:
    run = Run()
    run.to_payment(fee=300)
    run(flow.CoinAccepted, value=100)
    assert run.state.step is Step.PAYMENT and run.session.due == 200
    run(flow.CoinAccepted, value=500)
    assert run.state.step is Step.ISSUING and Inhibit() in run.batches[-1]
    run.issue_and_print()
    assert run.of(PayOut) == [PayOut(300)]


def test_two_thousand_yen_note_and_notes_outside_payment_are_returned() -> None:
    run = Run()
    run.to_payment(fee=300)
    assert ReturnNote() in run(flow.NoteEscrowed, value=2000)
    run(flow.NoteReturned, value=2000)
    assert run.session.paid == 0 and run.state.step is Step.PAYMENT


def test_exact_amount_only_returns_notes_that_need_change() -> None:
    run = Run()
    run(flow.ChangeStatus, low=True)
    run.to_payment(fee=1300)
    assert run.of(AcceptCash)[-1] == AcceptCash(1000)
    assert ReturnNote() in run(flow.NoteEscrowed, value=5000, change_ok=True)
    run(flow.NoteReturned, value=5000)
    assert StackNote() in run(flow.NoteEscrowed, value=1000)
    run(flow.NoteStacked, value=1000)
    assert run.of(AcceptCash)[-1] == AcceptCash(None)  # 300 left: coins only
    for _ in range(3):
        run(flow.CoinAccepted, value=100)
    assert run.state.step is Step.ISSUING


def test_note_whose_change_cannot_be_paid_switches_to_exact_amount() -> None:
    run = Run()
    run.to_payment(fee=300)
    fx = run(flow.NoteEscrowed, value=10000, change_ok=False)
    assert ReturnNote() in fx and Notice("exact_amount_only") in fx
    assert run.state.change_low
    run(flow.NoteReturned, value=10000)
    assert run.of(AcceptCash)[-1] == AcceptCash(None)


def test_cancel_with_a_note_being_stacked_waits_and_refunds_it() -> None:
    run = Run()
    run.to_payment(fee=300)
    run(flow.CoinAccepted, value=100)
    run(flow.NoteEscrowed, value=1000)
    fx = run(flow.Cancel)
    assert Inhibit() in fx and ReturnCard() in fx and not any(isinstance(e, PayOut) for e in fx)
    assert run.state.step is Step.SETTLING
    run(flow.NoteStacked, value=1000)
    assert run.of(PayOut) == [PayOut(1100)]
    run.settle_payouts()
    assert run.state.session is None and run.state.outcome == "cancelled"
    assert not run.of(Issue) and not run.of(PrintReceipt)
    assert run.state.totals == flow.Ledger(inserted=1100, returned=1100)


def test_cancel_with_a_note_being_returned_refunds_only_coins() -> None:
    run = Run()
    run.to_payment(fee=300)
    run(flow.CoinAccepted, value=50)
    run(flow.NoteEscrowed, value=2000)
    run(flow.Cancel)
    assert run.state.step is Step.SETTLING and not run.of(PayOut)
    run(flow.NoteReturned, value=2000)
    assert run.of(PayOut) == [PayOut(50)]


def test_validator_silent_at_settling_assumes_stacked_and_never_refunds_twice() -> None:
    run = Run()
    run.to_payment(fee=300)
    run(flow.NoteEscrowed, value=1000)
    run(flow.Cancel)
    run.wait(61_000)  # the validator never reports: the note counts as in, and is refunded
    assert run.of(PayOut) == [PayOut(1000)]
    run.settle_payouts()
    assert run.state.session is None
    # The late report: already paid back. It is journalled (an alert of its own, which moves the
    # cash cursor past it) and credits nothing.
    late = run(flow.NoteStacked, value=1000, counter=12)
    assert [(fx.entry.kind, dict(fx.entry.data)) for fx in late if isinstance(fx, Journal)] == [
        ("alert", {"code": "note_stack_confirmed", "value": 1000, "counter": 12}),
        ("session_closed", {"paid": 0, "kept": 0, "returned": 0, "owed": 0}),
    ]
    assert all(isinstance(fx, Journal) for fx in late) and run.state.session is None
    assert run.of(PayOut) == [PayOut(1000)]
    _money_balanced(run.state)
    run2 = Run()
    run2.to_payment(fee=300)
    run2(flow.NoteEscrowed, value=5000)
    run2(flow.Cancel)
    run2.wait(61_000)
    run2.settle_payouts()
    fx = run2(flow.NoteReturned, value=5000)  # the resident got the note back as well
    alerts = [e.entry for e in fx if isinstance(e, Journal) and e.entry.kind == "alert"]
    assert [a.data["code"] for a in alerts] == ["note_returned_after_refund"]
    assert not any(isinstance(e, PayOut) for e in fx)


def test_card_pulled_during_payment_refunds() -> None:
    run = Run()
    run.to_payment(fee=450, kind="koseki")
    run(flow.CoinAccepted, value=100)
    run(flow.CardRemoved)
    assert run.state.outcome == "card_removed" and run.of(PayOut) == [PayOut(100)]
    run.settle_payouts()
    assert run.state.step is Step.GOODBYE  # the card is already gone


def test_empty_hoppers_print_a_refund_slip_and_alert_the_office() -> None:
    run = Run()
    run.to_payment(fee=300)
    run(flow.CoinAccepted, value=500)
    run(flow.CoinAccepted, value=500)  # late coin while issuing: refunded with the change
    run.issue_and_print()
    assert run.of(PayOut) == [PayOut(700)]
    run.settle_payouts(pay=[500])
    slip = run.of(PrintRefundSlip)[-1].slip
    assert slip.amount == 200 and slip.reason == "hoppers_empty"
    owed = [e for e in run.journal() if e.kind == "refund_owed"][-1]
    assert slip.key == owed.key
    assert run.state.change_low and run.state.outcome_owed == 200
    assert run.state.totals == flow.Ledger(inserted=1000, kept=300, returned=500, owed=200)
    assert run.journal()[-1].kind == "session_closed"


def test_office_lost_while_issuing_voids_and_refunds() -> None:
    run = Run()
    run.to_payment(fee=300)
    run(flow.CoinAccepted, value=500)
    fx = run(flow.OfficeLost)
    kinds = [e.entry.kind for e in fx if isinstance(e, Journal)]
    assert kinds[:2] == ["issue_void", "payout_intent"]
    run.settle_payouts()
    late = run(flow.Issued, request_id="kiosk-1-b1-00001:issue", issue_number="X", fee=300, content=CONTENT)
    assert late == () or not any(isinstance(e, PrintCertificate) for e in late)
    assert not run.of(PrintCertificate)


def test_fee_mismatch_at_issue_is_refused_and_refunded() -> None:
    run = Run()
    run.to_payment(fee=300)
    run(flow.CoinAccepted, value=500)
    run(flow.Issued, request_id=run.session.request_id, issue_number="X", fee=900, content=CONTENT)
    assert run.state.outcome == "go_to_counter" and run.of(PayOut) == [PayOut(500)]


def test_partial_print_keeps_the_fee_of_the_copies_printed() -> None:
    run = Run()
    run.to_payment(fee=900, copies=3)
    run(flow.NoteEscrowed, value=1000)
    run(flow.NoteStacked, value=1000)
    run.issue_and_print(copies_printed=1)
    assert run.session.kept == 300 and run.of(PayOut) == [PayOut(700)]
    assert "print_incomplete" in [e.data.get("code") for e in run.journal() if e.kind == "alert"]
    run.settle_payouts()
    assert run.state.outcome == "print_failed"


def test_stale_print_result_is_ignored_and_nothing_prints_twice() -> None:
    run = Run()
    run.to_payment(fee=300)
    run(flow.CoinAccepted, value=500)
    rid = run.session.request_id
    run(flow.Issued, request_id=rid, issue_number="N1", fee=300, content=CONTENT)
    assert run(flow.PrintDone, request_id="other:issue", copies_printed=1) == ()
    assert run(flow.Issued, request_id=rid, issue_number="N1", fee=300, content=CONTENT) == ()
    assert len(run.of(PrintCertificate)) == 1
    assert run(flow.Cancel) == ()  # no cancel once printing


def test_print_that_never_answers_is_refunded_and_flagged() -> None:
    run = Run()
    run.to_payment(fee=300)
    run(flow.CoinAccepted, value=500)
    run(flow.Issued, request_id=run.session.request_id, issue_number="N1", fee=300, content=CONTENT)
    run.wait(250_000)
    assert run.of(PayOut) == [PayOut(500)]
    assert "print_uncertain" in [e.data.get("code") for e in run.journal() if e.kind == "alert"]


# -- timeouts -------------------------------------------------------------------------------------------


def test_warning_then_timeout_and_a_touch_resets() -> None:
    run = Run()
    run.to_options()
    run.wait(74_000)
    assert not run.of(WarnTimeout)
    fx = run.wait(2_000)
    assert WarnTimeout(14, "ja") in fx
    run(flow.StillHere)
    run.wait(80_000)
    assert run.state.step is Step.OPTIONS
    run.wait(10_000)
    assert run.state.step is Step.GOODBYE and run.state.outcome == "timeout"


def test_timeout_in_payment_refunds_what_came_in() -> None:
    run = Run()
    run.to_payment(fee=300)
    run.wait(100_000)
    run(flow.CoinAccepted, value=100)  # a coin restarts the clock
    run.wait(100_000)
    assert run.state.step is Step.PAYMENT
    run.wait(30_000)
    assert run.state.outcome == "timeout" and run.of(PayOut) == [PayOut(100)]


def test_take_card_reminds_then_gives_up() -> None:
    run = Run(config=FlowConfig(device_id="k1", take_card_reminders=2))
    run.to_authenticating()
    run(flow.AuthRefused, refusal="card_invalid")
    assert run.state.step is Step.TAKE_CARD
    for _ in range(2):
        run.wait(21_000)
        assert run.state.step is Step.TAKE_CARD
    run.wait(21_000)
    assert run.state.step is Step.GOODBYE and run.state.card == "none"


def test_machine_steps_time_out_as_failures() -> None:
    run = Run()
    run.to_payment(fee=300)
    run(flow.CoinAccepted, value=500)
    run.wait(61_000)
    assert run.state.outcome == "office_lost"
    assert "issue_void" in run.kinds()


# -- stray money, faults, recovery -------------------------------------------------------------------


def test_stray_coin_on_the_start_screen_is_paid_back() -> None:
    run = Run()
    fx = run(flow.CoinAccepted, value=100)
    assert PayOut(100) in fx and run.state.step is Step.SETTLING
    run.settle_payouts()
    assert run.state.step is Step.GOODBYE and run.kinds()[-1] == "session_closed"
    _money_balanced(run.state)
    assert run.state.totals.held == 0


def test_fault_stops_everything() -> None:
    run = Run()
    run.to_payment(fee=300)
    fx = run(flow.Fault, code="journal")
    assert Inhibit() in fx and ReturnCard() in fx and run.state.step is Step.OUT_OF_SERVICE
    assert run(flow.NoteEscrowed, value=1000) == (ReturnNote(),)
    assert run(flow.ChooseLanguage, language="ja") == ()


def test_begin_recovery_journals_decisions_then_refunds() -> None:
    run = Run()
    s = flow.Session(
        session_id="kiosk-1-old-00007",
        kind="inkan",
        fee=300,
        paid=500,
        journal_seq=4,
        recovered=True,
        recovery_notes=(("recovered", {"paid": 500, "kept": 0, "returned": 0, "owed": 0}),),
    )
    run.state, fx = flow.begin_recovery(run.state, (s,), 0)
    run.effects.extend(fx)
    assert [e.entry.key for e in fx if isinstance(e, Journal)] == ["kiosk-1-old-00007:5", "kiosk-1-old-00007:6"]
    assert PayOut(500) in fx
    run.settle_payouts()
    assert run.state.session is None and run.state.totals.held == 0
    assert not run.of(PrintReceipt)


# -- purity ---------------------------------------------------------------------------------------------


FLOW_MODULES = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "kiosk" / "flow").glob("*.py"))


@pytest.mark.parametrize("path", [*FLOW_MODULES, "kiosk/recovery.py", "kiosk/binding.py", "kiosk/ports.py"])
def test_pure_kiosk_modules_import_no_io(path: str) -> None:
    forbidden = {"kivy", "paho", "tinydb", "serial", "escpos", "usb", "sqlite3", "socket", "amqtt", "subprocess"}
    forbidden |= {"threading", "time", "os", "sync", "drivers", "cryptography"}
    # The wire's typed messages are pure values (the ports speak them); the rest of sync is I/O.
    allowed = {"sync.messages"}
    tree = ast.parse((REPO / path).read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.update(f"{node.module}.{a.name}" for a in node.names)
    bad = {n for n in names if n.split(".")[0] in forbidden and not any(n.startswith(a) for a in allowed)}
    assert not bad, f"{path} imports {bad}"


# -- the package: its API, its dispatch, its own errors -------------------------------------------------

OLD_API = [
    "KINDS",
    "COINS",
    "NOTES",
    "LANGUAGES",
    "DEFAULT_FEES",
    "MAX_COPIES",
    "PIN_LENGTH",
    "Step",
    "DEFAULT_TIMEOUTS_MS",
    "RESIDENT_STEPS",
    "CANCELLABLE",
    "OUTCOMES",
    "FlowConfigError",
    "FlowConfig",
    "config_from_mapping",
    "CertificateOptions",
    "check_options",
    "default_options",
    "options_wire",
    "Event",
    "ChooseLanguage",
    "ChooseCertificate",
    "ConfirmOptions",
    "Back",
    "EnterPin",
    "ChooseMembers",
    "ConfirmFee",
    "Cancel",
    "StillHere",
    "CardInserted",
    "CardRemoved",
    "CardReady",
    "CardUnreadable",
    "PinResult",
    "ChallengeSigned",
    "OfficeStatus",
    "HoursStatus",
    "ChallengeReceived",
    "Authenticated",
    "AuthRefused",
    "Issued",
    "IssueRefused",
    "OfficeLost",
    "CoinAccepted",
    "NoteEscrowed",
    "NoteStacked",
    "NoteReturned",
    "PayoutDone",
    "ChangeStatus",
    "PrintDone",
    "Tick",
    "Fault",
    "Effect",
    "Speak",
    "WarnTimeout",
    "Notice",
    "ReadCard",
    "VerifyPin",
    "SignChallenge",
    "ReturnCard",
    "RequestChallenge",
    "Authenticate",
    "Issue",
    "AcceptCash",
    "Inhibit",
    "StackNote",
    "ReturnNote",
    "PayOut",
    "PrintCertificate",
    "PrintReceipt",
    "PrintRefundSlip",
    "JsonScalar",
    "JournalEntry",
    "Journal",
    "Escrow",
    "Session",
    "Ledger",
    "Kiosk",
    "initial_state",
    "transition",
    "begin_recovery",
    "note_cash_cursor",
]


def test_the_package_names_every_name_the_module_had() -> None:
    assert not set(OLD_API) - set(flow.__all__)
    assert all(hasattr(flow, name) for name in flow.__all__)


def test_every_event_has_a_case_in_the_dispatch() -> None:
    events = {name for name in flow.__all__ if _is_event(getattr(flow, name))} - {"Event"}
    tree = ast.parse((REPO / "kiosk" / "flow" / "machine.py").read_text(encoding="utf-8"))
    dispatch = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "_dispatch")
    cased = {n.cls.id for n in ast.walk(dispatch) if isinstance(n, ast.MatchClass) and isinstance(n.cls, ast.Name)}
    assert events == cased


def _is_event(obj: object) -> bool:
    return isinstance(obj, type) and issubclass(obj, flow.Event)


@pytest.mark.parametrize("path", FLOW_MODULES)
def test_no_assert_steers_the_flow(path: str) -> None:
    """STYLE.md practice 7: a check that ``python -O`` would drop is no check."""
    tree = ast.parse((REPO / path).read_text(encoding="utf-8"))
    asserts = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Assert)]
    assert not asserts, f"{path}: assert on lines {asserts}"


def test_an_impossible_state_raises_the_flows_error_not_an_assertion() -> None:
    config = FlowConfig(device_id="kiosk-1")
    # confirm_fee without a session: no transition of the flow leads here.
    no_session = Kiosk(config=config, boot_id="b1", step=Step.CONFIRM_FEE, office_online=True)
    with pytest.raises(flow.FlowStateError, match="no open session in step confirm_fee"):
        transition(no_session, flow.ConfirmFee(now_ms=0))
    # A session without a fee at confirm_fee: the office's fee always comes first.
    no_fee = replace(no_session, session=flow.Session(session_id="kiosk-1-b1-00001", kind="inkan"))
    with pytest.raises(flow.FlowStateError, match="the fee is not set"):
        transition(no_fee, flow.ConfirmFee(now_ms=0))
    # The flow's error, under the kiosk's root: the runtime's handlers see one family.
    assert issubclass(flow.FlowStateError, flow.FlowError) and issubclass(flow.FlowError, KioskError)
    assert not issubclass(flow.FlowStateError, AssertionError)


def test_transition_refuses_what_is_not_a_state_and_an_event() -> None:
    state = initial_state(FlowConfig(device_id="kiosk-1"), "b1", office_online=True)
    with pytest.raises(flow.FlowStateError, match="takes a Kiosk and an Event, got Kiosk and str"):
        transition(state, "ChooseLanguage")  # type: ignore[arg-type]
    with pytest.raises(flow.FlowStateError, match="got NoneType and Tick"):
        transition(None, flow.Tick(now_ms=0))  # type: ignore[arg-type]


def test_an_event_the_flow_does_not_know_changes_nothing() -> None:
    state = initial_state(FlowConfig(device_id="kiosk-1"), "b1", office_online=True)
    assert transition(state, flow.Event(now_ms=5)) == (state, ())
