"""ccTalk: golden frames, the parser (hypothesis), event counters, then the bus and every device
against the simulator over a real pty."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.cctalk import (
    BadFrame,
    BillValidator,
    BusError,
    CcTalkBus,
    CcTalkError,
    CoinAcceptor,
    EventBuffer,
    EventDelta,
    Frame,
    FrameParser,
    Header,
    Hopper,
    LevelStatus,
    Nak,
    NoReply,
    RouteError,
    UnexpectedReply,
    checksum,
    coin_error_name,
    events_since,
    hopper_flags,
    hopper_registers,
    next_counter,
    parse_bill_id,
    parse_coin_id,
    previous_counter,
)
from drivers.fake_cctalk import FakeCcTalkBus

# ---- frames ------------------------------------------------------------------------------------


def test_golden_frames() -> None:
    # Simple poll of the coin acceptor and its ACK, as printed in the public spec's examples.
    assert Frame(2, 1, Header.SIMPLE_POLL).encode() == bytes([2, 0, 1, 254, 255])
    assert Frame(1, 2, Header.ACK).encode() == bytes([1, 0, 2, 0, 253])
    assert Frame(2, 1, Header.READ_BUFFERED_CREDIT).encode() == bytes([2, 0, 1, 229, 24])
    # Modify inhibit status: all 16 positions enabled.
    assert Frame(2, 1, Header.MODIFY_INHIBIT_STATUS, b"\xff\xff").encode() == bytes([2, 2, 1, 231, 255, 255, 22])
    # Route bill: stack, to the bill validator at 40.
    assert Frame(40, 1, Header.ROUTE_BILL, b"\x01").encode() == bytes([40, 1, 1, 154, 1, 59])
    # Dispense 7 coins, hopper serial 0x030201.
    assert Frame(3, 1, Header.DISPENSE_HOPPER_COINS, bytes([1, 2, 3, 7])).encode() == bytes(
        [3, 4, 1, 167, 1, 2, 3, 7, 68]
    )


def test_checksum_is_zero_when_the_body_already_sums_to_256() -> None:
    body = bytes([2, 0, 1, 253])  # sums to 256
    assert checksum(body) == 0  # 256 - sum % 256 would give 256, which is not a byte
    assert sum(Frame(2, 1, 253).encode()) % 256 == 0


@given(st.binary(max_size=300))
def test_checksum_always_makes_the_sum_zero(body: bytes) -> None:
    assert 0 <= checksum(body) <= 255
    assert (sum(body) + checksum(body)) % 256 == 0


def test_decode_and_its_errors() -> None:
    frame = Frame(1, 40, 0, bytes(range(11)))
    assert Frame.decode(frame.encode()) == frame
    raw = bytearray(frame.encode())
    raw[-1] ^= 1
    with pytest.raises(BadFrame, match="checksum"):
        Frame.decode(bytes(raw))
    with pytest.raises(BadFrame):
        Frame.decode(bytes([1, 5, 2, 0, 250]))  # the length byte promises data that is not there


@pytest.mark.parametrize(("kwargs", "message"), [({"dest": 256}, "dest"), ({"header": -1}, "header")])
def test_frames_refuse_what_a_byte_cannot_carry(kwargs: dict[str, int], message: str) -> None:
    args = {"dest": 2, "source": 1, "header": 254} | kwargs
    with pytest.raises(ValueError, match=message):
        Frame(args["dest"], args["source"], args["header"])
    with pytest.raises(ValueError, match="255"):
        Frame(2, 1, 0, bytes(256))


# ---- parser ------------------------------------------------------------------------------------

frames = st.builds(
    Frame,
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(max_size=40) | st.binary(min_size=250, max_size=255),
)


@given(st.lists(frames, max_size=8), st.data())
def test_valid_frames_round_trip_whatever_the_chunking(sent: list[Frame], data: st.DataObject) -> None:
    stream = b"".join(f.encode() for f in sent)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    parser = FrameParser()
    got: list[Frame] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += parser.feed(stream[start:end])
    assert got == sent
    assert parser.pending == 0 and parser.discarded == 0


@given(st.lists(st.binary(max_size=100), max_size=10))
def test_garbage_never_crashes_and_stays_bounded(chunks: list[bytes]) -> None:
    parser = FrameParser()
    for chunk in chunks:
        for frame in parser.feed(chunk):
            assert sum(frame.encode()) % 256 == 0
        assert parser.pending < 260  # never more than one unfinished frame's worth
    while parser.pending:
        parser.gap()
    assert parser.pending == 0


@given(st.binary(max_size=300), frames)
@settings(max_examples=300)
def test_a_frame_after_garbage_is_found_unless_something_frame_shaped_overlaps_it(garbage: bytes, frame: Frame) -> None:
    raw = frame.encode()
    start, end = len(garbage), len(garbage) + len(raw)
    parser = FrameParser()
    located = parser.feed_located(garbage + raw)
    while parser.pending:
        located += parser.gap_located()
    overlapping = [(at, f) for at, f in located if at < end and at + len(f) > start and (at, f) != (start, frame)]
    # The checksum is one byte: garbage can hold frame-shaped bytes (five zero bytes are one).
    # Those may swallow the frame's first bytes; otherwise the parser must find it in place.
    assert (start, frame) in located or overlapping


def test_resync_after_noise_and_gap() -> None:
    parser = FrameParser()
    good = Frame(1, 2, 0, b"abc").encode()
    assert parser.feed(b"\x07\x00\x00" + good) == [Frame(1, 2, 0, b"abc")]
    # A byte claiming a 255-byte frame holds everything back until the line goes quiet.
    assert parser.feed(b"\x09\xff" + good) == []
    found: list[Frame] = []
    while parser.pending:
        found += parser.gap()
    assert found == [Frame(1, 2, 0, b"abc")]
    assert parser.discarded == 5


# ---- event counters ------------------------------------------------------------------------------


def buffer(counter: int, *events: tuple[int, int]) -> EventBuffer:
    return EventBuffer(counter, tuple(events) + ((0, 0),) * (5 - len(events)))


def test_first_read_is_history() -> None:
    assert events_since(None, buffer(17, (3, 1))) == EventDelta()


def test_new_events_come_oldest_first() -> None:
    delta = events_since(10, buffer(12, (5, 1), (6, 1), (3, 1)))
    assert delta == EventDelta(events=((6, 1), (5, 1)), counters=(11, 12))


def test_counter_wraps_from_255_to_1_not_0() -> None:
    assert next_counter(255) == 1 and next_counter(0) == 1 and next_counter(7) == 8
    assert events_since(254, buffer(1, (3, 1), (4, 1), (5, 1))).events == ((4, 1), (3, 1))
    assert events_since(255, buffer(1, (3, 1))).events == ((3, 1),)
    # Each event's own counter, across the wrap: the cursor a kiosk journals with a credit.
    assert events_since(253, buffer(2, (3, 1), (4, 1), (5, 1), (6, 1))).counters == (254, 255, 1, 2)
    assert previous_counter(1) == 255 and previous_counter(9) == 8


def test_zero_means_the_device_was_reset() -> None:
    assert events_since(40, buffer(0)) == EventDelta(reset=True)
    # After the reset the counter starts again at 1.
    assert events_since(0, buffer(2, (5, 1), (6, 1))).events == ((6, 1), (5, 1))


def test_more_than_five_new_events_means_some_were_lost() -> None:
    delta = events_since(10, buffer(18, (1, 1), (2, 1), (3, 1), (4, 1), (5, 1)))
    assert delta.lost == 3 and len(delta.events) == 5 and delta.counters == (14, 15, 16, 17, 18)
    assert events_since(250, buffer(5, (1, 1))).lost == 5  # 251..255, 1..5: ten new


def test_event_buffer_reply_parsing() -> None:
    data = bytes([9, 3, 1, 0, 14, 5, 1, 0, 0, 0, 0])
    parsed = EventBuffer.from_reply(data)
    assert parsed == EventBuffer(9, ((3, 1), (0, 14), (5, 1), (0, 0), (0, 0)))
    assert parsed.encode() == data
    with pytest.raises(UnexpectedReply, match="11"):
        EventBuffer.from_reply(data[:7])


def test_small_codecs() -> None:
    assert parse_coin_id("JP100A") == ("JP", 100)
    assert parse_coin_id("......") is None
    assert parse_bill_id("JP1000A") == ("JP", 1000)
    assert parse_bill_id(".......") is None
    assert coin_error_name(14) == "credit_sensor_blocked"
    assert coin_error_name(130) == "inhibited_coin_type_3"
    assert LevelStatus.from_byte(0x11) == LevelStatus(low=True, high=None)
    assert LevelStatus.from_byte(0x00) == LevelStatus(None, None)
    assert LevelStatus(low=False, high=True).to_byte() == 0x32
    flags = {"payout_timeout", "payout_disabled", "encryption_enabled"}
    assert hopper_registers(flags) == bytes([0x82, 0, 0x10])
    assert hopper_flags(hopper_registers(flags)) == flags


# ---- the bus over a real pty ---------------------------------------------------------------------


@pytest.fixture
def sim() -> Iterator[FakeCcTalkBus]:
    with FakeCcTalkBus(escrow_timeout=5.0) as fake:
        yield fake


@pytest.fixture
def bus(sim: FakeCcTalkBus) -> Iterator[CcTalkBus]:
    bus = CcTalkBus.open(sim.port_path, reply_timeout=0.1, retries=1)
    yield bus
    bus.close()


def test_request_and_reply(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    assert bus.request(2, Header.SIMPLE_POLL) == b""
    assert bus.request(2, Header.REQUEST_EQUIPMENT_CATEGORY_ID) == b"Coin Acceptor"
    assert bus.stats.requests == 2 and bus.stats.retries == 0
    assert sim.requests[(2, Header.SIMPLE_POLL)] == 1


def test_a_corrupted_echo_is_a_bus_error_and_is_retried(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    sim.corrupt_next_echo()
    assert bus.request(2, Header.REQUEST_PRODUCT_CODE) == b"SIM-CA"
    assert bus.stats.echo_errors == 1 and bus.stats.retries == 1


def test_a_corrupted_echo_with_no_retries_left_names_the_collision(sim: FakeCcTalkBus) -> None:
    bus = CcTalkBus.open(sim.port_path, reply_timeout=0.05, retries=0)
    try:
        sim.corrupt_next_echo()
        with pytest.raises(BusError, match="collision") as caught:
            bus.request(2, Header.SIMPLE_POLL)
        assert caught.value.address == 2 and caught.value.header == Header.SIMPLE_POLL
    finally:
        bus.close()


def test_missing_echo_says_how_to_fix_it() -> None:
    with FakeCcTalkBus(echo=False) as quiet:
        bus = CcTalkBus.open(quiet.port_path, reply_timeout=0.05, retries=0)
        try:
            with pytest.raises(BusError, match="no echo.*set echo off"):
                bus.request(2, Header.SIMPLE_POLL)
        finally:
            bus.close()
        # With echo off the same adapter works.
        bus = CcTalkBus.open(quiet.port_path, reply_timeout=0.05, retries=0, echo=False)
        try:
            assert bus.request(2, Header.REQUEST_PRODUCT_CODE) == b"SIM-CA"
        finally:
            bus.close()


def test_echo_off_on_an_echoing_line_is_named(bus: CcTalkBus) -> None:
    bus.echo = False
    with pytest.raises(BusError, match="set echo on"):
        bus.request(2, Header.SIMPLE_POLL)


def test_loop_port_echoes_but_nobody_answers() -> None:
    bus = CcTalkBus.open("loop://", reply_timeout=0.03, retries=2)
    try:
        with pytest.raises(NoReply, match=r"address 7.*tried 3 times"):
            bus.request(7, Header.SIMPLE_POLL)
        assert bus.stats.no_replies == 3 and bus.stats.retries == 2 and bus.stats.echo_errors == 0
    finally:
        bus.close()


def test_a_bad_checksum_is_retried(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    sim.corrupt_next_reply(40)
    assert bus.request(40, Header.REQUEST_PRODUCT_CODE) == b"SIM-BV"
    assert bus.stats.bad_frames == 1 and bus.stats.retries == 1


def test_a_bad_checksum_on_every_try_is_a_bad_frame(sim: FakeCcTalkBus) -> None:
    bus = CcTalkBus.open(sim.port_path, reply_timeout=0.05, retries=0)
    try:
        sim.corrupt_next_reply(40)
        with pytest.raises(BadFrame, match="garbled"):
            bus.request(40, Header.SIMPLE_POLL)
    finally:
        bus.close()


def test_silent_device_is_no_reply_naming_its_address(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    sim.set_silent(3)
    with pytest.raises(NoReply, match="address 3") as caught:
        bus.request(3, Header.SIMPLE_POLL)
    assert isinstance(caught.value, CcTalkError)
    assert sim.requests[(3, Header.SIMPLE_POLL)] == 0
    sim.set_silent(3, False)
    bus.request(3, Header.SIMPLE_POLL)


def test_nak_is_not_retried(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    with pytest.raises(Nak, match="NAK"):
        bus.request(2, 200)  # a header the acceptor does not know
    assert sim.requests[(2, 200)] == 1
    assert bus.stats.naks == 1 and bus.stats.retries == 0


def test_open_a_missing_port_is_a_bus_error(tmp_path: object) -> None:
    with pytest.raises(BusError, match="cannot open the ccTalk port"):
        CcTalkBus.open("/dev/does-not-exist-cctalk")


# ---- devices against the simulator -------------------------------------------------------------


def test_coin_acceptor_identification_and_coins(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    acceptor = CoinAcceptor(bus, 2)
    acceptor.simple_poll()
    assert acceptor.manufacturer_id() == "MDG"
    assert acceptor.equipment_category() == "Coin Acceptor"
    assert acceptor.product_code() == "SIM-CA"
    assert acceptor.serial_number() == 0x10203
    assert acceptor.coin_id(5) == "JP100A"
    assert acceptor.coin_values("JP") == {1: 1, 2: 5, 3: 10, 4: 50, 5: 100, 6: 500}


def test_coin_acceptor_inhibits_and_credit(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    acceptor = CoinAcceptor(bus, 2)
    assert acceptor.master_inhibited() and acceptor.inhibits() == frozenset()
    assert acceptor.poll_events() == EventDelta()  # baseline
    assert not sim.insert_coin(100)  # everything inhibited at power-up: handed back
    delta = acceptor.poll_events()
    assert delta.events == ((0, 2),) and len(delta.counters) == 1
    acceptor.set_inhibits([3, 5, 6])
    acceptor.set_master_inhibit(False)
    assert acceptor.inhibits() == {3, 5, 6} and not acceptor.master_inhibited()
    assert sim.insert_coin(100) and sim.insert_coin(500)
    assert not sim.insert_coin(50)  # position 4 still inhibited
    assert acceptor.poll_events().events == ((5, 1), (6, 1), (0, 2))
    assert sim.cashbox == [100, 500] and sim.returned == [100, 50]


def test_coin_acceptor_reports_a_jam(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    acceptor = CoinAcceptor(bus, 2)
    acceptor.poll_events()
    sim.jam_coins()
    (event,) = acceptor.poll_events().events
    assert event == (0, 14) and coin_error_name(event[1]) == "credit_sensor_blocked"


def test_bill_validator_ids_and_escrow(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    validator = BillValidator(bus, 40)
    assert validator.equipment_category() == "Bill Validator"
    assert validator.bill_id(4) == "JP1000A"
    assert validator.country_scaling("JP") == (10, 0)
    assert validator.country_scaling("GB") == (0, 0)
    assert validator.bill_values("JP") == {1: 1000, 2: 2000, 3: 5000, 4: 10000}
    validator.poll_events()
    validator.set_operating_mode(stacker=True, escrow=True)
    validator.set_inhibits([1])
    validator.set_master_inhibit(False)
    assert sim.insert_note(1000)
    assert validator.poll_events().events == ((1, 1),)  # held in escrow
    assert sim.escrow == 1000
    validator.route_bill(255)  # extend escrow: still there
    assert sim.escrow == 1000
    validator.route_bill(1)
    assert validator.poll_events().events == ((1, 0),) and sim.cashbox == [1000]
    assert sim.insert_note(1000)
    validator.route_bill(0)
    assert validator.poll_events().events == ((1, 1), (0, 1)) and sim.returned == [1000]
    with pytest.raises(RouteError, match="escrow is empty") as caught:
        validator.route_bill(1)
    assert caught.value.code == 254


def test_bill_validator_without_escrow_mode_stacks_at_once(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    validator = BillValidator(bus, 40)
    validator.poll_events()
    validator.set_inhibits([3])
    validator.set_master_inhibit(False)
    assert sim.insert_note(5000)
    assert validator.poll_events().events == ((3, 0),)
    assert sim.escrow is None and sim.cashbox == [5000]


def test_hopper_payout(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    hopper = Hopper(bus, 4)
    assert hopper.equipment_category() == "Payout"
    assert {"power_up_detected", "payout_disabled"} <= hopper.test()
    result = hopper.pay(7, poll_interval=0.001)
    assert (result.paid, result.unpaid) == (7, 0)
    assert hopper.status().counter == 1
    assert sim.dispensed == [100] * 7 and sim.hopper_level(4) == 43
    assert hopper.level() == LevelStatus(low=False, high=None)
    sim.set_hopper_level(4, 10)
    assert hopper.level().low is True


def test_empty_hopper_pays_short_with_a_timeout_flag(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    hopper = Hopper(bus, 3)
    sim.set_hopper_level(3, 2)
    result = hopper.pay(5, poll_interval=0.001)
    assert (result.paid, result.unpaid) == (2, 3) and "payout_timeout" in result.flags
    assert sim.dispensed == [500, 500]


def test_jammed_hopper_reports_its_exit_blocked(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    hopper = Hopper(bus, 5)
    sim.jam_hopper(5, after=3)
    result = hopper.pay(10, poll_interval=0.001)
    assert (result.paid, result.unpaid) == (3, 7) and "opto_blocked_during_payout" in result.flags


def test_a_disabled_hopper_ignores_dispense_and_says_why(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    hopper = Hopper(bus, 4)
    hopper.enable(False)
    with pytest.raises(UnexpectedReply, match="payout_disabled"):
        hopper.dispense(1)
    assert sim.dispensed == []


def test_a_swapped_hopper_s_new_serial_is_read_again(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    hopper = Hopper(bus, 4)
    hopper.enable()
    hopper._serial = 0x777777  # the serial of the hopper that was there before
    hopper.dispense(1)
    assert hopper._serial == sim_serial(sim, 4) and sim.dispensed == [100]


def sim_serial(sim: FakeCcTalkBus, address: int) -> int:
    bus = CcTalkBus.open(sim.port_path, reply_timeout=0.1)
    try:
        return Hopper(bus, address).serial_number()
    finally:
        bus.close()


def test_dispense_without_the_serial_number_is_refused(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    hopper = Hopper(bus, 4, protected=False)
    hopper.enable()
    with pytest.raises(Nak):
        hopper.dispense(1)
    assert sim.dispensed == []


def test_a_lost_dispense_ack_does_not_pay_twice(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    hopper = Hopper(bus, 4)
    hopper.enable()
    sim.corrupt_next_reply(4, Header.DISPENSE_HOPPER_COINS)  # the hopper acts, its ACK is garbled
    assert hopper.dispense(3) == 1
    assert sim.requests[(4, Header.DISPENSE_HOPPER_COINS)] == 1  # the counter said: taken
    assert sim.dispensed == [100] * 3


def test_a_lost_dispense_request_is_sent_again(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    hopper = Hopper(bus, 4)
    hopper.enable()
    sim.drop_next_request(4, Header.DISPENSE_HOPPER_COINS)  # never reached the hopper
    assert hopper.dispense(2) == 1
    assert sim.requests[(4, Header.DISPENSE_HOPPER_COINS)] == 1  # the dropped one is not counted
    assert sim.dispensed == [100] * 2


def test_slow_hopper_is_waited_for(sim: FakeCcTalkBus) -> None:
    sim.coin_payout_s = 0.01
    bus = CcTalkBus.open(sim.port_path, reply_timeout=0.05, retries=1)
    try:
        hopper = Hopper(bus, 5)
        hopper.enable()
        hopper.dispense(20)  # 0.2 s of coins
        assert hopper.status().remaining > 0  # still paying
        with pytest.raises(Nak):
            hopper.dispense(1)  # one payout at a time
        result = hopper.pay(5, poll_interval=0.005)  # waits for the first payout's end, then its own
        assert (result.paid, result.unpaid) == (5, 0)
        assert len(sim.dispensed) == 25
    finally:
        bus.close()


def test_hopper_timeout_stops_the_motor(sim: FakeCcTalkBus) -> None:
    sim.coin_payout_s = 0.05
    bus = CcTalkBus.open(sim.port_path, reply_timeout=0.05, retries=1)
    try:
        result = Hopper(bus, 5).pay(50, timeout=0.12, poll_interval=0.01)
        assert result.paid < 50 and result.paid + result.unpaid == 50
        assert "payout_timeout" in result.flags
        assert len(sim.dispensed) == result.paid
    finally:
        bus.close()


def test_device_address_must_not_be_the_host(bus: CcTalkBus) -> None:
    with pytest.raises(ValueError, match="host"):
        CoinAcceptor(bus, 1)
