"""The cash box: configuration, change planning, one contract suite run against both backends
(ccTalk over the simulator's real pty, and the in-memory model), ccTalk faults, and hypothesis
state machines that check no yen appears or disappears."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from drivers.cash import (
    BILL_VALIDATOR,
    COIN_ACCEPTOR,
    KNOWN_KEYS,
    VERIFY_EVERY_POLLS,
    CashBox,
    CashConfig,
    CashConfigError,
    CashDeviceError,
    CashEvent,
    CashFault,
    CashStateError,
    CcTalkCashBox,
    ChangePaid,
    CoinAccepted,
    CountedCashBox,
    EventsLost,
    FakeCashBox,
    HopperConfig,
    NoteEscrowed,
    NoteReturned,
    NoteStacked,
    open_bus,
    open_cash_box,
    open_settled_cash_box,
    plan_payout,
    plan_value,
    settle_escrow,
)
from drivers.cctalk import CcTalkBus, Header
from drivers.fake_cctalk import FakeCcTalkBus

HOPPER_ADDRESS = {500: 3, 100: 4, 10: 5}
FULL = {500: 50, 100: 50, 10: 100}


def config_for(sim: FakeCcTalkBus, levels: dict[int, int] | None = None, **extra: Any) -> dict[str, Any]:
    """A cash config matching the simulator, with short timeouts for tests."""
    levels = levels or sim.hopper_levels
    return {
        "port": sim.port_path,
        "hoppers": [{"address": HOPPER_ADDRESS[c], "coin": c, "count": n} for c, n in levels.items()],
        "reply_timeout_s": 0.1,
        "retries": 1,
        "payout_poll_s": 0.002,
        "payout_timeout_s": 5,
        **extra,
    }


# ---- configuration ---------------------------------------------------------------------------------


def test_defaults_match_the_kiosk() -> None:
    cfg = CashConfig.from_mapping({"port": "/dev/ttyUSB0"})
    assert (cfg.host_address, cfg.coin_acceptor, cfg.bill_validator) == (1, 2, 40)
    assert [(h.address, h.coin) for h in cfg.hoppers] == [(3, 500), (4, 100), (5, 10)]
    assert cfg.coins == (10, 50, 100, 500) and cfg.notes == (1000, 5000, 10000)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, "cash.port: missing"),
        ({"port": "/dev/x", "colour": 1}, "cash.colour: unknown key"),
        ({"port": "/dev/x", "backend": "mdb"}, 'cash.backend: expected a cash backend: "cctalk" .*, got "mdb"'),
        (
            {"port": "/dev/x", "host_address": 2},
            "cash.coin_acceptor.address: address 2 is already used by cash.host_address",
        ),
        ({"port": "/dev/x", "coin_acceptor": {"address": 1}}, "cash.coin_acceptor.address: expected a ccTalk address"),
        ({"port": "/dev/x", "bill_validator": {"address": 300}}, r"cash.bill_validator.address: expected a ccTalk"),
        ({"port": "/dev/x", "bill_validator": {"adress": 40}}, "cash.bill_validator.adress: unknown key"),
        (
            {"port": "/dev/x", "hoppers": [{"address": 3, "coin": 5}]},
            r"cash.hoppers\[0\].coin: expected a yen coin the kiosk handles: .*got 5",
        ),
        (
            {"port": "/dev/x", "hoppers": [{"address": 3, "coin": 500}, {"address": 2, "coin": 100}]},
            r"cash.hoppers\[1\].address: address 2 is already used by cash.coin_acceptor.address",
        ),
        (
            {"port": "/dev/x", "hoppers": [{"address": 3, "coin": 500}, {"address": 4, "coin": 500}]},
            r"cash.hoppers\[1\].coin: two hoppers pay 500",
        ),
        (
            {"port": "/dev/x", "hoppers": [{"coin": 500}]},
            r"cash.hoppers\[0\].address: required: each hopper needs its ccTalk address",
        ),
        ({"port": "/dev/x", "hoppers": [{"address": 3, "coin": 500, "count": -1}]}, r"hoppers\[0\].count"),
        ({"port": "/dev/x", "notes": [1000, 2000]}, r"cash.notes\[1\]: .*2000-yen notes are refused.*got 2000"),
        ({"port": "/dev/x", "coins": [1, 10]}, r"cash.coins\[0\]: expected a coin the kiosk takes: .*got 1"),
        ({"port": "/dev/x", "echo": "yes"}, "cash.echo: expected true or false"),
        ({"port": "/dev/x", "reply_timeout_s": 0}, "cash.reply_timeout_s"),
        ({"port": "/dev/x", "country": "JPN"}, "cash.country"),
    ],
)
def test_bad_config_names_the_key(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(CashConfigError, match=message):
        CashConfig.from_mapping(doc)


def test_fake_backend_needs_no_port() -> None:
    box = open_cash_box({"backend": "fake", "hoppers": [{"address": 3, "coin": 100, "count": 4}]})
    assert isinstance(box, FakeCashBox) and box.hoppers == {100: 4}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        # The whole message: the key path as written in the file, what was found, the fix.
        ({"backend": "cctalk"}, 'cash.port: missing; give the ccTalk adapter\'s path, e.g. "/dev/serial/by-id/usb-…"'),
        ({"port": ""}, 'cash.port: expected the serial port path, e.g. "/dev/serial/by-id/usb-…", got ""'),
        (
            {"port": "/dev/x", "hoppers": [{"address": 3, "coin": 500}, {"address": "4", "coin": 100}]},
            'cash.hoppers[1].address: expected a ccTalk address (2..255), got "4"; write the number alone, e.g. 4',
        ),
        (
            {"port": "/dev/x", "hoppers": [{"address": 3, "coin": 500, "cont": 9}]},
            'cash.hoppers[0].cont: unknown key; did you mean "count"?; allowed here: address, coin, count',
        ),
        (
            {"port": "/dev/x", "hoppers": [{"address": 3}]},
            (
                "cash.hoppers[0].coin: required: each hopper needs its ccTalk address and coin value, "
                "e.g. {address = 3, coin = 500}"
            ),
        ),
        ({"port": "/dev/x", "hoppers": []}, "cash.hoppers: expected at least 1 item, got 0"),
        (
            {"port": "/dev/x", "coin_acceptor": 1},
            "cash.coin_acceptor.address: expected a ccTalk address (2..255), got 1",
        ),
        (
            {"port": "/dev/x", "bill_validator": 3},
            "cash.hoppers[0].address: address 3 is already used by cash.bill_validator.address; every device needs its own",
        ),
        ({"port": "/dev/x", "retries": True}, "cash.retries: expected a number of retries (0..10), got true"),
        (
            {"port": "/dev/x", "payout_timeout_s": "30"},
            'cash.payout_timeout_s: expected a number of seconds above 0 and at most 600, got "30"; write the number alone',
        ),
        (
            {"port": "/dev/x", "backend": "ccTalk"},
            (
                'cash.backend: expected a cash backend: "cctalk" (the devices on a ccTalk bus) or "fake" '
                '(in memory, for demos), got "ccTalk"; did you mean "cctalk"?'
            ),
        ),
        (
            {"port": "/dev/x", "colour": 1},
            'cash.colour: unknown key; did you mean "country"?; allowed here: backend, port',
        ),
        ("cctalk", 'cash: expected a table of cash settings, got "cctalk"'),
    ],
)
def test_config_errors_say_the_key_and_the_fix(doc: Any, message: str) -> None:
    with pytest.raises(CashConfigError) as err:
        CashConfig.from_mapping(doc)
    assert str(err.value).startswith(message), str(err.value)
    assert isinstance(err.value, ValueError)  # callers that catch ValueError keep working


def test_config_errors_name_the_section_where_it_was_read() -> None:
    with pytest.raises(CashConfigError, match=r"^devices\.cash\.hoppers\[0\]\.count: "):
        CashConfig.from_mapping(
            {"backend": "fake", "hoppers": [{"address": 3, "coin": 10, "count": -1}]}, "devices.cash"
        )
    with pytest.raises(CashConfigError, match=r"^coin_acceptor\.address: address 2 is already used by host_address;"):
        CashConfig.from_mapping({"backend": "fake", "host_address": 2}, "")


def test_config_is_a_frozen_model_with_the_documents_values() -> None:
    # An acceptor's address as a table (what provisioning writes) or alone; {} keeps the default.
    cfg = CashConfig.from_mapping(
        {
            "port": "/dev/x",
            "coin_acceptor": {"address": 12},
            "bill_validator": {},
            "hoppers": [{"address": 3, "coin": 100, "count": 7}],
            "coins": [500, 10, 10],
            "payout_poll_s": 1,
        }
    )
    assert (cfg.coin_acceptor, cfg.bill_validator) == (12, 40)
    assert cfg.hoppers == (HopperConfig(address=3, coin=100, count=7),)
    assert cfg.coins == (10, 500)  # sorted, each once
    assert cfg.payout_poll_s == 1.0 and isinstance(cfg.payout_poll_s, float)
    assert CashConfig.from_mapping({"port": "/dev/x", "coin_acceptor": 12}).coin_acceptor == 12
    with pytest.raises(AttributeError):
        cfg.port = "/dev/y"  # type: ignore[misc]
    # The keys the [cash] table may hold are the model's fields.
    assert KNOWN_KEYS == {
        "backend", "port", "host_address", "echo", "coin_acceptor", "bill_validator", "hoppers", "coins", "notes",
        "country", "protected_hoppers", "reply_timeout_s", "retries", "payout_timeout_s", "payout_poll_s",
    }  # fmt: skip


# ---- change planning -------------------------------------------------------------------------------


def test_plan_is_greedy_and_bounded() -> None:
    assert plan_payout(700, FULL) == {500: 1, 100: 2}
    assert plan_payout(750, FULL) == {500: 1, 100: 2, 10: 5}  # 50 yen of change as 10s
    assert plan_payout(700, {500: 0, 100: 3, 10: 100}) == {100: 3, 10: 40}
    assert plan_value(plan_payout(700, {500: 1, 100: 1, 10: 5})) == 650  # short


def exact_possible(amount: int, holdings: dict[int, int]) -> bool:
    """Reference: bounded change-making by brute force over the counts."""
    for fives in range(holdings.get(500, 0) + 1):
        for hundreds in range(holdings.get(100, 0) + 1):
            rest = amount - 500 * fives - 100 * hundreds
            if rest >= 0 and rest % 10 == 0 and rest // 10 <= holdings.get(10, 0):
                return True
    return False


@given(
    st.integers(0, 300).map(lambda n: n * 10),
    st.fixed_dictionaries({500: st.integers(0, 6), 100: st.integers(0, 12), 10: st.integers(0, 30)}),
)
def test_greedy_pays_exactly_whenever_any_combination_can(amount: int, holdings: dict[int, int]) -> None:
    # 10 | 100 | 500, so greedy is optimal: can_pay may rely on it.
    assert (plan_value(plan_payout(amount, holdings)) == amount) == exact_possible(amount, holdings)


# ---- one contract suite, two backends ---------------------------------------------------------


class Rig(Protocol):
    """A cash box and the hands that feed it."""

    box: CashBox
    cashbox: list[int]
    returned: list[int]
    dispensed: list[int]

    def insert_coin(self, value: int) -> bool: ...
    def insert_note(self, value: int) -> bool: ...
    def expire_escrow(self) -> None: ...
    def set_hopper(self, coin: int, count: int) -> None: ...
    def jam_coins(self) -> None: ...
    def jam_next_note(self) -> None: ...
    def jam_hopper(self, coin: int) -> None: ...
    def restart(self) -> CashBox: ...


class FakeRig:
    def __init__(self, levels: dict[int, int]) -> None:
        self.fake = FakeCashBox(hoppers=levels)
        self.box: CashBox = self.fake
        self.cashbox = self.fake.cashbox
        self.returned = self.fake.returned
        self.dispensed = self.fake.dispensed

    def insert_coin(self, value: int) -> bool:
        return self.fake.insert_coin(value)

    def insert_note(self, value: int) -> bool:
        return self.fake.insert_note(value)

    def expire_escrow(self) -> None:
        self.fake.expire_escrow()

    def set_hopper(self, coin: int, count: int) -> None:
        self.fake.set_hopper(coin, count)

    def jam_coins(self) -> None:
        self.fake.jam_coins()

    def jam_next_note(self) -> None:
        self.fake.jam_next_note()

    def jam_hopper(self, coin: int) -> None:
        self.fake.jam_hopper(coin)

    def restart(self) -> CashBox:
        # The in-memory devices are the object itself: they outlive the kiosk process.
        return self.box


class SimRig:
    def __init__(self, levels: dict[int, int]) -> None:
        self.sim = FakeCcTalkBus(hoppers={HOPPER_ADDRESS[c]: (c, n) for c, n in levels.items()}).start()
        self.ccbox = CcTalkCashBox.connect(config_for(self.sim))
        self.box: CashBox = self.ccbox
        self.cashbox = self.sim.cashbox
        self.returned = self.sim.returned
        self.dispensed = self.sim.dispensed

    def insert_coin(self, value: int) -> bool:
        return self.sim.insert_coin(value)

    def insert_note(self, value: int) -> bool:
        return self.sim.insert_note(value)

    def expire_escrow(self) -> None:
        self.sim.expire_escrow()

    def set_hopper(self, coin: int, count: int) -> None:
        self.sim.set_hopper_level(HOPPER_ADDRESS[coin], count)
        self.ccbox.refill(coin, count)  # staff record what they put in

    def jam_coins(self) -> None:
        self.sim.jam_coins()

    def jam_next_note(self) -> None:
        self.sim.jam_next_note()

    def jam_hopper(self, coin: int) -> None:
        self.sim.jam_hopper(HOPPER_ADDRESS[coin])

    def restart(self) -> CashBox:
        """The kiosk process died (its port closed, nothing sent) and a new one connects."""
        self.ccbox.bus.close()
        self.ccbox = CcTalkCashBox.connect(config_for(self.sim))
        self.box = self.ccbox
        return self.box

    def close(self) -> None:
        self.box.close()
        self.sim.stop()


@pytest.fixture(params=["cctalk", "fake"])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    if request.param == "fake":
        yield FakeRig(dict(FULL))
        return
    sim_rig = SimRig(dict(FULL))
    try:
        yield sim_rig
    finally:
        sim_rig.close()


def test_pay_300_with_a_1000_note(rig: Rig) -> None:
    box = rig.box
    box.accept(max_note=1000)
    assert rig.insert_note(1000)
    assert box.poll() == [NoteEscrowed(1000)]
    box.stack_note()
    assert box.poll() == [NoteStacked(1000)]
    assert box.can_pay(700)
    assert box.pay_out(700) == 700
    assert box.poll() == [ChangePaid(700)]
    assert rig.cashbox == [1000] and sorted(rig.dispensed) == [100, 100, 500]
    box.inhibit()
    assert not rig.insert_coin(100)


def test_coins_and_a_refund(rig: Rig) -> None:
    box = rig.box
    box.accept(max_note=None)
    for coin in (100, 100, 50, 10):
        assert rig.insert_coin(coin)
    assert box.poll() == [CoinAccepted(100), CoinAccepted(100), CoinAccepted(50), CoinAccepted(10)]
    # The office is unreachable: refund everything (50 is paid as 10s).
    assert box.pay_out(260) == 260
    assert box.poll() == [ChangePaid(260)]
    assert sorted(rig.dispensed) == [10] * 6 + [100, 100]


def test_money_events_carry_the_acceptors_counters(rig: Rig) -> None:
    box = rig.box
    box.accept(max_note=1000)
    assert rig.insert_coin(100) and rig.insert_coin(50) and rig.insert_note(1000)
    events = box.poll()
    box.stack_note()
    events += box.poll()
    assert events == [CoinAccepted(100), CoinAccepted(50), NoteEscrowed(1000), NoteStacked(1000)]
    coins, notes = [e.counter for e in events[:2]], [e.counter for e in events[2:]]
    assert all(isinstance(c, int) and 1 <= c <= 255 for c in coins + notes), events
    assert coins[1] == coins[0] + 1 and notes[1] == notes[0] + 1


def test_a_restart_resumes_after_the_journalled_counters(rig: Rig) -> None:
    box = rig.box
    box.accept(max_note=1000)
    assert rig.insert_coin(100)
    (journalled,) = box.poll()  # the kiosk credits and journals this coin with its counter
    assert isinstance(journalled, CoinAccepted) and journalled.counter is not None
    assert rig.insert_coin(50)
    assert box.poll() == [CoinAccepted(50)]  # polled, then the process died before the journal
    assert rig.insert_note(1000)
    escrowed = box.poll()
    assert escrowed == [NoteEscrowed(1000)] and escrowed[0].counter is not None
    box.stack_note()  # the note goes in; the crash comes before its event is polled
    assert rig.insert_coin(10)  # taken after the last poll
    box = rig.restart()
    box.resume({COIN_ACCEPTOR: journalled.counter, BILL_VALIDATOR: escrowed[0].counter})
    polled = box.poll()
    # Each acceptor's events in order (the two acceptors' events may interleave either way).
    coins = [e for e in polled if isinstance(e, CoinAccepted)]
    notes = [e for e in polled if not isinstance(e, CoinAccepted)]
    assert len(polled) == 3 and coins == [CoinAccepted(50), CoinAccepted(10)] and notes == [NoteStacked(1000)]
    assert [e.counter for e in coins] == [journalled.counter + 1, journalled.counter + 2]
    assert notes[0].counter == escrowed[0].counter + 1
    assert sum(rig.cashbox) == 1160
    # Resuming at the newest counters reports nothing twice.
    box.resume({COIN_ACCEPTOR: journalled.counter + 2, BILL_VALIDATOR: escrowed[0].counter + 1})
    assert box.poll() == []


def test_resume_past_the_buffer_reports_the_loss(rig: Rig) -> None:
    box = rig.box
    box.accept(max_note=None)
    assert rig.insert_coin(100)
    (first,) = box.poll()
    assert first.counter is not None
    for _ in range(7):
        assert rig.insert_coin(10)
    box.poll()
    box = rig.restart()
    box.resume({COIN_ACCEPTOR: first.counter})
    # Seven coins since the cursor, five kept by the device: two are reported lost (staff count).
    assert box.poll() == [EventsLost(COIN_ACCEPTOR, 2)] + [CoinAccepted(10)] * 5


@pytest.mark.parametrize(
    ("cursor", "message"),
    [({"hopper_100": 3}, "no acceptor 'hopper_100'"), ({COIN_ACCEPTOR: 256}, "an event counter is 0..255")],
)
def test_a_bad_cursor_is_refused(rig: Rig, cursor: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rig.box.resume(cursor)


def test_return_note(rig: Rig) -> None:
    box = rig.box
    box.accept(max_note=10000)
    assert rig.insert_note(5000)
    assert box.poll() == [NoteEscrowed(5000)]
    box.return_note()
    assert box.poll() == [NoteReturned(5000)]
    assert rig.returned == [5000] and rig.cashbox == []


def test_escrow_only_with_a_note_in_it(rig: Rig) -> None:
    with pytest.raises(CashStateError, match="no note is in escrow"):
        rig.box.stack_note()
    with pytest.raises(CashStateError, match="no note is in escrow"):
        rig.box.return_note()


def test_escrow_timeout_returns_the_note(rig: Rig) -> None:
    rig.box.accept(max_note=1000)
    rig.insert_note(1000)
    assert rig.box.poll() == [NoteEscrowed(1000)]
    rig.expire_escrow()
    assert rig.box.poll() == [NoteReturned(1000)]
    with pytest.raises(CashStateError):
        rig.box.stack_note()


def test_what_is_not_accepted_goes_back_without_an_event(rig: Rig) -> None:
    box = rig.box
    assert not rig.insert_coin(100)  # nothing accepted yet
    box.accept(max_note=1000)
    assert not rig.insert_note(2000)  # refused note
    assert not rig.insert_note(5000)  # above max_note
    assert not rig.insert_coin(5)  # not a coin the kiosk takes
    assert box.poll() == []
    assert rig.returned == [100, 2000, 5000, 5]


def test_exact_amount_mode_when_hoppers_are_low(rig: Rig) -> None:
    box = rig.box
    rig.set_hopper(500, 0)
    rig.set_hopper(100, 5)  # at or below the low-level mark: counts as empty for can_pay
    rig.set_hopper(10, 20)
    assert not box.can_pay(700)
    assert box.can_pay(0)
    assert box.can_pay(90)  # the 10-yen hopper is full
    rig.set_hopper(100, 40)
    assert box.can_pay(700)  # 7 x 100


def test_pay_out_pays_what_it_can(rig: Rig) -> None:
    box = rig.box
    rig.set_hopper(500, 1)
    rig.set_hopper(100, 2)
    rig.set_hopper(10, 0)
    assert box.pay_out(1000) == 700
    assert box.poll() == [ChangePaid(700)]


def test_jams_are_faults(rig: Rig) -> None:
    box = rig.box
    box.accept(max_note=1000)
    rig.jam_coins()
    (fault,) = box.poll()
    assert isinstance(fault, CashFault) and (fault.device, fault.code) == (COIN_ACCEPTOR, "coin_jam")
    assert "clear" in fault.message
    rig.jam_next_note()
    assert not rig.insert_note(1000)
    (fault,) = box.poll()
    assert isinstance(fault, CashFault) and (fault.device, fault.code) == (BILL_VALIDATOR, "note_jam")


def test_a_jammed_hopper_leaves_the_rest_to_smaller_coins(rig: Rig) -> None:
    rig.jam_hopper(500)
    assert rig.box.pay_out(600) == 600
    events = rig.box.poll()
    assert events[-1] == ChangePaid(600)
    assert [(e.device, e.code) for e in events if isinstance(e, CashFault)] == [("hopper_500", "hopper_jam")]
    assert sorted(rig.dispensed) == [100] * 6


def test_bad_amounts_are_refused(rig: Rig) -> None:
    with pytest.raises(ValueError, match="amount"):
        rig.box.pay_out(-10)
    with pytest.raises(ValueError, match="max_note"):
        rig.box.accept(max_note=-1)


# ---- ccTalk only -----------------------------------------------------------------------------------


@pytest.fixture
def sim() -> Iterator[FakeCcTalkBus]:
    with FakeCcTalkBus() as fake:
        yield fake


@pytest.fixture
def box(sim: FakeCcTalkBus) -> Iterator[CcTalkCashBox]:
    cash_box = CcTalkCashBox.connect(config_for(sim))
    yield cash_box
    cash_box.close()


def test_events_lost_are_reported(box: CcTalkCashBox, sim: FakeCcTalkBus) -> None:
    sim.lose_events(2, 8)
    assert box.poll() == [EventsLost(COIN_ACCEPTOR, 3)]
    sim.lose_events(40, 6)
    assert box.poll() == [EventsLost(BILL_VALIDATOR, 1)]


def test_too_many_coins_between_polls(box: CcTalkCashBox, sim: FakeCcTalkBus) -> None:
    box.accept(max_note=None)
    for _ in range(7):
        sim.insert_coin(100)
    assert box.poll() == [EventsLost(COIN_ACCEPTOR, 2)] + [CoinAccepted(100)] * 5
    assert sum(sim.cashbox) == 700  # the money is in the cashbox; the kiosk knows 200 is unaccounted


def test_counter_wrap_loses_nothing(sim: FakeCcTalkBus) -> None:
    sim.preset_counter(2, 253)
    with CcTalkCashBox.connect(config_for(sim)) as box:
        box.accept(max_note=None)
        for coin in (10, 50, 100, 500):
            sim.insert_coin(coin)
        assert box.poll() == [CoinAccepted(10), CoinAccepted(50), CoinAccepted(100), CoinAccepted(500)]
        assert sim.event_counter(2) == 2  # 254, 255, 1, 2


def test_a_device_reset_is_reported_and_settings_restored(box: CcTalkCashBox, sim: FakeCcTalkBus) -> None:
    box.accept(max_note=1000)
    sim.insert_note(1000)
    sim.insert_coin(10)
    assert box.poll() == [CoinAccepted(10), NoteEscrowed(1000)]
    sim.power_cycle(2)
    sim.power_cycle(40)  # hands the escrowed note back
    events = box.poll()
    assert [(e.device, e.code) for e in events if isinstance(e, CashFault)] == [
        (COIN_ACCEPTOR, "device_reset"),
        (BILL_VALIDATOR, "device_reset"),
    ]
    assert NoteReturned(1000) in events
    assert sim.insert_coin(100)  # inhibits were sent again
    assert sim.insert_note(1000)  # and escrow mode
    assert box.poll() == [CoinAccepted(100), NoteEscrowed(1000)]


def test_a_reset_without_events_is_found_by_the_settings_check(box: CcTalkCashBox, sim: FakeCcTalkBus) -> None:
    box.accept(max_note=None)
    sim.power_cycle(2)  # its counter was 0 and stays 0: the event buffer cannot show it
    events: list[CashEvent] = []
    for _ in range(VERIFY_EVERY_POLLS):
        events += box.poll()
    assert [(e.device, e.code) for e in events if isinstance(e, CashFault)] == [(COIN_ACCEPTOR, "device_reset")]
    assert sim.insert_coin(500)
    assert box.poll() == [CoinAccepted(500)]


def test_no_reply_at_start_is_a_clear_error(sim: FakeCcTalkBus) -> None:
    sim.set_silent(2)
    with pytest.raises(CashDeviceError, match=r"coin acceptor \(ccTalk address 2\) does not answer.*powered"):
        CcTalkCashBox.connect(config_for(sim))


def test_wrong_device_at_an_address_is_named(sim: FakeCcTalkBus) -> None:
    with pytest.raises(CashDeviceError, match=r"address 4 says it is a 'Payout'.*check the addresses"):
        CcTalkCashBox.connect(config_for(sim, bill_validator={"address": 4}, hoppers=[{"address": 3, "coin": 500}]))


def test_missing_port_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CashDeviceError, match="cannot open the ccTalk port"):
        CcTalkCashBox.connect({"port": str(tmp_path / "ttyUSB9")})


def test_no_reply_while_polling_is_one_fault(box: CcTalkCashBox, sim: FakeCcTalkBus) -> None:
    sim.set_silent(40)
    (fault,) = box.poll()
    assert isinstance(fault, CashFault) and (fault.device, fault.code) == (BILL_VALIDATOR, "no_reply")
    assert "bill validator (ccTalk address 40)" in fault.message
    assert box.poll() == []  # reported once per outage
    sim.set_silent(40, False)
    assert box.poll() == []
    sim.set_silent(40)
    assert len(box.poll()) == 1


def test_commands_to_a_silent_device_raise(box: CcTalkCashBox, sim: FakeCcTalkBus) -> None:
    sim.set_silent(2)
    with pytest.raises(CashDeviceError, match="coin acceptor.*no reply"):
        box.accept(max_note=None)


def test_hopper_count_is_what_the_host_believes(box: CcTalkCashBox, sim: FakeCcTalkBus) -> None:
    # Staff recorded 50 coins but the 500 hopper really holds 1: it runs dry, the 100s cover.
    sim.set_hopper_level(3, 1)
    assert box.pay_out(1500) == 1500
    events = box.poll()
    (fault,) = [e for e in events if isinstance(e, CashFault)]
    assert (fault.device, fault.code) == ("hopper_500", "hopper_empty")
    assert "refill" in fault.message
    assert box.hopper_counts[500] == 0 and box.hopper_counts[100] == 40
    assert box.can_pay(500)  # as five 100s
    box.refill(500, 30)
    sim.set_hopper_level(3, 30)
    assert box.can_pay(500) and box.pay_out(500) == 500
    assert sim.hopper_level(3) == 29


def test_jammed_hopper_stays_out_until_refilled(box: CcTalkCashBox, sim: FakeCcTalkBus) -> None:
    sim.jam_hopper(3)
    assert box.pay_out(500) == 500  # 5 x 100
    assert box.pay_out(500) == 500
    assert sim.hopper_level(3) == 50 and sim.hopper_level(4) == 40
    box.refill(500, 50)
    assert box.pay_out(500) == 500 and sim.hopper_level(3) == 49


def test_hopper_that_stops_answering_stops_the_payout(box: CcTalkCashBox, sim: FakeCcTalkBus) -> None:
    sim.set_silent(3)
    assert box.pay_out(1000) == 0  # unknown outcome: nothing more is paid
    (fault,) = box.poll()
    assert isinstance(fault, CashFault) and (fault.device, fault.code) == ("hopper_500", "no_reply")
    assert sim.dispensed == []


def test_silent_hopper_does_not_count_for_can_pay(box: CcTalkCashBox, sim: FakeCcTalkBus) -> None:
    sim.set_silent(5)
    assert not box.can_pay(30)  # only the 10-yen hopper could pay it
    assert box.can_pay(600)
    (fault,) = box.poll()
    assert isinstance(fault, CashFault) and (fault.device, fault.code) == ("hopper_10", "no_reply")


def test_routing_twice_is_refused(box: CcTalkCashBox, sim: FakeCcTalkBus) -> None:
    box.accept(max_note=10000)
    sim.insert_note(10000)
    box.poll()
    box.stack_note()
    with pytest.raises(CashStateError, match="already"):
        box.return_note()
    assert box.poll() == [NoteStacked(10000)]


def test_stack_after_the_escrow_timed_out(box: CcTalkCashBox, sim: FakeCcTalkBus) -> None:
    box.accept(max_note=1000)
    sim.insert_note(1000)
    box.poll()
    sim.expire_escrow()
    with pytest.raises(CashStateError, match="timed out"):
        box.stack_note()
    assert box.poll() == [NoteReturned(1000)]


def test_close_inhibits_and_later_calls_fail(sim: FakeCcTalkBus) -> None:
    box = CcTalkCashBox.connect(config_for(sim))
    box.accept(max_note=1000)
    box.close()
    assert not sim.insert_coin(100)
    with pytest.raises(CashStateError, match="closed"):
        box.poll()
    box.close()  # twice is fine


def test_open_cash_box_through_a_by_id_link(tmp_path: Path) -> None:
    link = tmp_path / "usb-ccTalk_adapter-if00-port0"
    with FakeCcTalkBus(link=link) as fake, open_cash_box(config_for(fake)) as box:
        assert isinstance(box, CcTalkCashBox)
        assert box.coin_values == {3: 10, 4: 50, 5: 100, 6: 500}
        assert box.note_values == {1: 1000, 3: 5000, 4: 10000}  # 2000 stays unknown, so inhibited


# ---- a cash box made ready for a kiosk that starts -----------------------------------------------------


class MemoryStore:
    """A CountStore in memory; ``fail`` makes put raise as a full disk would."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.fail = False
        self.closed = False

    def get(self, key: str) -> dict[str, Any] | None:
        doc = self.docs.get(key)
        return None if doc is None else dict(doc)

    def put(self, key: str, doc: Mapping[str, Any]) -> None:
        if self.fail:
            raise OSError("No space left on device")
        self.docs[key] = dict(doc)

    def close(self) -> None:
        self.closed = True


def _left_in_escrow(sim: FakeCcTalkBus, value: int) -> None:
    """An earlier run took a note into escrow and died before routing it."""
    earlier = CcTalkCashBox.connect(config_for(sim))
    earlier.accept(10000)
    assert sim.insert_note(value) and sim.escrow == value
    earlier.poll()
    earlier.close()


@pytest.mark.parametrize(("decided", "stacked"), [({1000}, True), ({5000}, False), (set(), False)])
def test_a_note_left_in_escrow_is_settled_before_the_box_starts(decided: set[int], stacked: bool) -> None:
    with FakeCcTalkBus(escrow_timeout=60.0) as sim:
        _left_in_escrow(sim, 1000)
        store = MemoryStore()
        cfg = CashConfig.from_mapping(config_for(sim))
        box = open_settled_cash_box(cfg, decided_to_stack=lambda: decided, open_counts=lambda: store)
        try:
            assert isinstance(box, CountedCashBox) and sim.escrow is None
            assert (sim.cashbox, sim.returned) == (([1000], []) if stacked else ([], [1000]))
            assert box.poll() == []  # settled before the start: not an event to count again
        finally:
            box.close()
        assert store.closed


def test_settle_escrow_with_an_empty_escrow_does_nothing(sim: FakeCcTalkBus) -> None:
    cfg = CashConfig.from_mapping(config_for(sim))
    bus = CcTalkBus.open(sim.port_path, reply_timeout=0.1)
    try:
        assert settle_escrow(bus, cfg, {1000}) is None
    finally:
        bus.close()
    _left_in_escrow(sim, 5000)
    bus = open_bus(cfg)
    try:
        assert settle_escrow(bus, cfg, {5000}) == "stacked" and sim.cashbox == [5000]
    finally:
        bus.close()


def test_hopper_counts_are_kept_in_the_callers_store(sim: FakeCcTalkBus, caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore()
    cfg = CashConfig.from_mapping(config_for(sim))
    first = open_settled_cash_box(cfg, decided_to_stack=set, open_counts=lambda: store)
    assert first.pay_out(600) == 600
    first.close()
    configured = {"500": 50, "100": 50, "10": 100}
    assert store.docs["hoppers"] == {"configured": configured, "counts": {"500": 49, "100": 49, "10": 100}}
    again = open_settled_cash_box(cfg, decided_to_stack=set, open_counts=lambda: store)
    assert isinstance(again, CountedCashBox) and again.hopper_counts == {500: 49, 100: 49, 10: 100}
    # A count that cannot be written is logged; the coins paid are still reported as paid.
    store.fail = True
    with caplog.at_level("ERROR", logger="drivers.cash.counts"):
        assert again.pay_out(10) == 10
    assert "hopper counts not saved: No space left on device" in caplog.text
    again.close()


def test_a_store_that_cannot_open_leaves_the_devices_closed(sim: FakeCcTalkBus) -> None:
    cfg = CashConfig.from_mapping(config_for(sim))

    def broken() -> MemoryStore:
        raise PermissionError("cash.json: permission denied")

    with pytest.raises(PermissionError, match="permission denied"):
        open_settled_cash_box(cfg, decided_to_stack=set, open_counts=broken)
    # The box had started (its settings sent once) and was closed again (inhibited once more).
    assert sim.requests[(2, Header.MODIFY_MASTER_INHIBIT_STATUS)] == 2
    assert sim.requests[(40, Header.MODIFY_MASTER_INHIBIT_STATUS)] == 2


def test_the_fake_backend_opens_without_a_journal_or_a_store() -> None:
    def never() -> Any:
        raise AssertionError("not asked for the fake backend")

    cfg = CashConfig.from_mapping({"backend": "fake", "hoppers": [{"address": 3, "coin": 100, "count": 4}]})
    box = open_settled_cash_box(cfg, decided_to_stack=never, open_counts=never)
    assert isinstance(box, FakeCashBox) and box.hoppers == {100: 4}


# ---- fake-only controls --------------------------------------------------------------------------


def test_fake_offline_device() -> None:
    fake = FakeCashBox()
    fake.set_offline(COIN_ACCEPTOR)
    with pytest.raises(CashDeviceError, match="coin_acceptor does not answer"):
        fake.accept(max_note=None)
    assert [e.code for e in fake.poll() if isinstance(e, CashFault)] == ["no_reply"]
    assert fake.poll() == []
    fake.set_offline(COIN_ACCEPTOR, False)
    fake.accept(max_note=None)
    fake.lose_events(COIN_ACCEPTOR, 2)
    assert fake.poll() == [EventsLost(COIN_ACCEPTOR, 2)]


# ---- money is conserved: state machines ------------------------------------------------------------

COINS = st.sampled_from([1, 5, 10, 50, 100, 500])
NOTES = st.sampled_from([1000, 2000, 5000, 10000])


class CashMachine(RuleBasedStateMachine):
    """Random residents and staff against a cash box. Invariants: every yen inserted is in the
    cashbox, back in the tray, in escrow or jammed; the events credit exactly what the cashbox
    holds; change paid = coins that left the hoppers = what pay_out returned."""

    def make(self) -> tuple[CashBox, Any]:
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.box, self.hands = self.make()
        self.events: list[CashEvent] = []
        self.paid_reported = 0
        self.escrowed = False

    def teardown(self) -> None:
        self.box.close()
        stop = getattr(self.hands, "stop", None)
        if stop is not None:
            stop()

    def collect(self) -> None:
        for event in self.box.poll():
            self.events.append(event)
            if isinstance(event, NoteEscrowed):
                self.escrowed = True
            elif isinstance(event, NoteStacked | NoteReturned):
                self.escrowed = False
            assert not isinstance(event, EventsLost)  # one insertion per poll never overflows

    @rule(max_note=st.sampled_from([None, 1000, 5000, 10000]))
    def accept(self, max_note: int | None) -> None:
        self.box.accept(max_note)

    @rule()
    def inhibit(self) -> None:
        self.box.inhibit()

    @rule(value=COINS)
    def insert_coin(self, value: int) -> None:
        self.hands.insert_coin(value)
        self.collect()

    @rule(value=NOTES)
    def insert_note(self, value: int) -> None:
        self.hands.insert_note(value)
        self.collect()

    @precondition(lambda self: self.escrowed)
    @rule(stack=st.booleans())
    def route(self, stack: bool) -> None:
        if stack:
            self.box.stack_note()
        else:
            self.box.return_note()
        self.collect()

    @precondition(lambda self: self.escrowed)
    @rule()
    def escrow_times_out(self) -> None:
        self.hands.expire_escrow()
        self.collect()

    @rule(amount=st.integers(0, 200).map(lambda n: n * 10))
    def pay_out(self, amount: int) -> None:
        exact = self.box.can_pay(amount)
        paid = self.box.pay_out(amount)
        assert 0 <= paid <= amount
        if exact:
            assert paid == amount
        self.paid_reported += paid
        self.collect()

    @rule(coin=st.sampled_from([500, 100, 10]), count=st.integers(0, 30))
    def refill(self, coin: int, count: int) -> None:
        self.hands.set_hopper(coin, count)

    @invariant()
    def money_is_conserved(self) -> None:
        hands = self.hands
        escrow = hands.escrow or 0
        assert sum(hands.inserted) == sum(hands.cashbox) + sum(hands.returned) + escrow + sum(hands.jammed)
        credited = sum(e.value for e in self.events if isinstance(e, CoinAccepted | NoteStacked))
        assert credited == sum(hands.cashbox)
        change = sum(e.value for e in self.events if isinstance(e, ChangePaid))
        assert change == sum(hands.dispensed) == self.paid_reported


class _SimHands:
    """The simulator plus staff who record each refill in the cash box."""

    def __init__(self, sim: FakeCcTalkBus, box: CcTalkCashBox) -> None:
        self.sim = sim
        self.box = box

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sim, name)

    def set_hopper(self, coin: int, count: int) -> None:
        self.sim.set_hopper_level(HOPPER_ADDRESS[coin], count)
        self.box.refill(coin, count)

    def stop(self) -> None:
        self.sim.stop()


class FakeCashMachine(CashMachine):
    def make(self) -> tuple[CashBox, Any]:
        fake = FakeCashBox(hoppers={500: 3, 100: 8, 10: 20})
        return fake, fake


class CcTalkCashMachine(CashMachine):
    def make(self) -> tuple[CashBox, Any]:
        sim = FakeCcTalkBus(hoppers={3: (500, 3), 4: (100, 8), 5: (10, 20)}).start()
        box = CcTalkCashBox.connect(config_for(sim))
        return box, _SimHands(sim, box)


TestFakeCashMachine = FakeCashMachine.TestCase
TestFakeCashMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
TestCcTalkCashMachine = CcTalkCashMachine.TestCase
TestCcTalkCashMachine.settings = settings(max_examples=15, stateful_step_count=25, deadline=None)
