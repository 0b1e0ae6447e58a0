"""The ccTalk simulator on its own: raw bytes on its pty first (echo, framing, silence), then
its device models through the host driver."""

from __future__ import annotations

import os
import select
import time
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from drivers.cctalk import (
    BillValidator,
    CcTalkBus,
    CoinAcceptor,
    Frame,
    FrameParser,
    Header,
    Hopper,
    next_counter,
)
from drivers.fake_cctalk import FakeCcTalkBus

if TYPE_CHECKING:
    from conftest import WaitFor


class RawLine:
    """The host end of the pty with no driver: bytes only."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def read(self, quiet: float = 0.05, first: float = 0.5) -> bytes:
        """Everything that arrives until the line has been quiet for ``quiet`` seconds."""
        out = b""
        wait = first
        while select.select([self.fd], [], [], wait)[0]:
            out += os.read(self.fd, 4096)
            wait = quiet
        return out

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def sim() -> Iterator[FakeCcTalkBus]:
    with FakeCcTalkBus(escrow_timeout=0.2) as fake:
        yield fake


@pytest.fixture
def line(sim: FakeCcTalkBus) -> Iterator[RawLine]:
    raw = RawLine(sim.port_path)
    yield raw
    raw.close()


@pytest.fixture
def bus(sim: FakeCcTalkBus) -> Iterator[CcTalkBus]:
    bus = CcTalkBus.open(sim.port_path, reply_timeout=0.1, retries=1)
    yield bus
    bus.close()


# ---- the wire ------------------------------------------------------------------------------------


def test_echo_then_reply_on_the_wire(line: RawLine) -> None:
    request = Frame(2, 1, Header.SIMPLE_POLL).encode()
    line.send(request)
    got = line.read()
    assert got[: len(request)] == request  # the single wire returns our own bytes first
    assert got[len(request) :] == Frame(1, 2, Header.ACK).encode()


def test_every_byte_is_echoed_even_garbage(line: RawLine) -> None:
    line.send(b"\x00\x01\x02")
    assert line.read() == b"\x00\x01\x02"


def test_no_echo_mode_answers_only() -> None:
    with FakeCcTalkBus(echo=False) as quiet:
        line = RawLine(quiet.port_path)
        try:
            line.send(Frame(40, 1, Header.SIMPLE_POLL).encode())
            assert line.read() == Frame(1, 40, Header.ACK).encode()
        finally:
            line.close()


def test_nobody_answers_for_an_empty_address(line: RawLine) -> None:
    request = Frame(9, 1, Header.SIMPLE_POLL).encode()
    line.send(request)
    assert line.read() == request


def test_unknown_header_is_nak(line: RawLine) -> None:
    request = Frame(2, 1, 99).encode()
    line.send(request)
    assert line.read()[len(request) :] == Frame(1, 2, Header.NAK).encode()


def test_a_half_frame_is_dropped_after_a_pause(line: RawLine) -> None:
    # A length byte promising 200 bytes, then silence: the device gives up on it and the next
    # request is answered.
    line.send(b"\x02\xc8\x01")
    assert line.read(first=0.1) == b"\x02\xc8\x01"
    time.sleep(0.1)
    request = Frame(2, 1, Header.SIMPLE_POLL).encode()
    line.send(request)
    parser = FrameParser()
    assert Frame(1, 2, Header.ACK) in parser.feed(line.read())


def test_corrupted_reply_and_dropped_request(line: RawLine, sim: FakeCcTalkBus) -> None:
    request = Frame(2, 1, Header.SIMPLE_POLL).encode()
    sim.corrupt_next_reply(2)
    line.send(request)
    reply = line.read()[len(request) :]
    assert len(reply) == 5 and sum(reply) % 256 != 0
    sim.drop_next_request(2)
    line.send(request)
    assert line.read() == request
    line.send(request)
    assert line.read()[len(request) :] == Frame(1, 2, Header.ACK).encode()


def test_silent_device(line: RawLine, sim: FakeCcTalkBus) -> None:
    sim.set_silent(40)
    request = Frame(40, 1, Header.SIMPLE_POLL).encode()
    line.send(request)
    assert line.read() == request


def test_link_stands_in_for_a_by_id_path(tmp_path: Path) -> None:
    link = tmp_path / "usb-cctalk-if00"
    fake = FakeCcTalkBus(link=link).start()
    try:
        assert fake.port_path == str(link) and link.is_symlink()
        bus = CcTalkBus.open(fake.port_path, reply_timeout=0.05)
        assert bus.request(2, Header.REQUEST_PRODUCT_CODE) == b"SIM-CA"
        bus.close()
    finally:
        fake.stop()
    assert not link.exists()


def test_port_path_needs_start() -> None:
    with pytest.raises(RuntimeError, match="start"):
        _ = FakeCcTalkBus().port_path


# ---- device models -------------------------------------------------------------------------------


def test_coins_respect_inhibits_and_money_is_tracked(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    acceptor = CoinAcceptor(bus, 2)
    assert not sim.insert_coin(100)  # master inhibit at power-up
    acceptor.set_inhibits([5])
    assert not sim.insert_coin(100)  # still master-inhibited
    acceptor.set_master_inhibit(False)
    assert sim.insert_coin(100)
    assert not sim.insert_coin(500)  # position 6 inhibited
    assert not sim.insert_coin(7)  # not a coin at all
    buffer = acceptor.read_events()
    assert buffer.counter == 5
    assert buffer.events == ((0, 1), (0, 2), (5, 1), (0, 2), (0, 2))
    assert sim.inserted == [100, 100, 100, 500, 7]
    assert sim.cashbox == [100] and sim.returned == [100, 100, 500, 7]


def test_event_counter_wraps_to_1(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    sim.preset_counter(2, 254)
    sim.lose_events(2, 3)
    assert sim.event_counter(2) == next_counter(next_counter(255)) == 2
    assert CoinAcceptor(bus, 2).read_events().counter == 2


def test_coin_jam_blocks_the_slot(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    acceptor = CoinAcceptor(bus, 2)
    acceptor.set_inhibits([3, 4, 5, 6])
    acceptor.set_master_inhibit(False)
    sim.jam_coins()
    assert not sim.insert_coin(100)
    assert acceptor.read_events().events[0] == (0, 14)
    sim.clear_coin_jam()
    assert sim.insert_coin(100)


def test_escrow_times_out_and_returns_the_note(bus: CcTalkBus, sim: FakeCcTalkBus, wait_for: WaitFor) -> None:
    validator = BillValidator(bus, 40)
    validator.set_operating_mode(stacker=True, escrow=True)
    validator.set_inhibits([4])
    validator.set_master_inhibit(False)
    assert sim.insert_note(10000)
    assert not sim.insert_note(1000)  # one note at a time: the second is pushed back out
    wait_for(lambda: sim.escrow is None, timeout=2.0, message="the escrow did not time out")
    assert sim.returned == [1000, 10000] and sim.cashbox == []
    assert validator.read_events().events[:2] == ((0, 1), (4, 1))


def test_inhibited_and_unknown_notes(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    validator = BillValidator(bus, 40)
    validator.set_inhibits([1, 3, 4])
    validator.set_master_inhibit(False)
    assert not sim.insert_note(2000)  # type 2 is inhibited
    assert not sim.insert_note(500)  # not a note the validator knows
    assert validator.read_events().events[:2] == ((0, 2), (0, 4))
    assert sim.returned == [2000, 500]


def test_bill_jam_keeps_the_note_until_cleared(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    validator = BillValidator(bus, 40)
    validator.set_inhibits([1])
    validator.set_master_inhibit(False)
    sim.jam_next_note()
    assert not sim.insert_note(1000)
    assert validator.read_events().events[0] == (0, 6)
    assert sim.jammed == [1000]
    assert not sim.insert_note(1000)  # the validator is blocked
    sim.clear_bill_jam()
    assert sim.jammed == [] and sim.returned == [1000, 1000]
    assert sim.insert_note(1000)


def test_power_cycle_resets_the_device(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    acceptor = CoinAcceptor(bus, 2)
    acceptor.set_inhibits([5])
    acceptor.set_master_inhibit(False)
    sim.insert_coin(100)
    sim.power_cycle(2)
    assert acceptor.read_events().counter == 0
    assert acceptor.master_inhibited() and acceptor.inhibits() == frozenset()
    hopper = Hopper(bus, 3)
    hopper.enable()
    sim.power_cycle(3)
    assert "power_up_detected" in hopper.test() and "payout_disabled" in hopper.test()


def test_reset_command_hands_an_escrowed_note_back(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    validator = BillValidator(bus, 40)
    validator.set_operating_mode(escrow=True)
    validator.set_inhibits([3])
    validator.set_master_inhibit(False)
    sim.insert_note(5000)
    validator.reset()
    assert sim.escrow is None and sim.returned == [5000]
    assert validator.read_events().counter == 0


def test_hopper_levels_run_out(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    assert sim.hopper_levels == {500: 50, 100: 50, 10: 100}
    sim.set_hopper_level(3, 1)
    hopper = Hopper(bus, 3)
    result = hopper.pay(3, poll_interval=0.001)
    assert (result.paid, result.unpaid) == (1, 2)
    assert sim.hopper_level(3) == 0 and sim.dispensed == [500]
    assert sim.tray == [500]
    with pytest.raises(ValueError):
        sim.set_hopper_level(3, -1)
    with pytest.raises(ValueError, match="hopper"):
        sim.hopper_level(2)


def test_emergency_stop(bus: CcTalkBus, sim: FakeCcTalkBus) -> None:
    sim.coin_payout_s = 0.05
    hopper = Hopper(bus, 4)
    hopper.enable()
    hopper.dispense(20)
    left = hopper.emergency_stop()
    assert 0 < left <= 20
    status = hopper.status()
    assert status.remaining == 0 and status.paid + status.unpaid == 20
    assert "payout_disabled" in hopper.test()


def test_two_devices_on_one_address_is_refused() -> None:
    with pytest.raises(ValueError, match="address 2"):
        FakeCcTalkBus(hoppers={2: (500, 1)})


# ---- the documented headers are the ones the simulator answers -------------------------------------

# A request that each documented header accepts: (address, data).
DOC_REQUESTS: dict[int, tuple[int, bytes]] = {
    Header.SIMPLE_POLL: (2, b""),
    Header.REQUEST_MANUFACTURER_ID: (2, b""),
    Header.REQUEST_EQUIPMENT_CATEGORY_ID: (40, b""),
    Header.REQUEST_PRODUCT_CODE: (3, b""),
    Header.REQUEST_SERIAL_NUMBER: (4, b""),
    Header.RESET_DEVICE: (5, b""),
    Header.MODIFY_INHIBIT_STATUS: (2, b"\x00\x00"),
    Header.REQUEST_INHIBIT_STATUS: (40, b""),
    Header.MODIFY_MASTER_INHIBIT_STATUS: (2, b"\x00"),
    Header.REQUEST_MASTER_INHIBIT_STATUS: (40, b""),
    Header.READ_BUFFERED_CREDIT: (2, b""),
    Header.REQUEST_COIN_ID: (2, b"\x01"),
    Header.READ_BUFFERED_BILL_EVENTS: (40, b""),
    Header.REQUEST_BILL_ID: (40, b"\x01"),
    Header.REQUEST_COUNTRY_SCALING_FACTOR: (40, b"JP"),
    Header.ROUTE_BILL: (40, b"\x01"),
    Header.MODIFY_BILL_OPERATING_MODE: (40, b"\x03"),
    Header.ENABLE_HOPPER: (3, b"\xa5"),
    Header.DISPENSE_HOPPER_COINS: (3, bytes([0x05, 0x02, 0x01, 1])),  # serial 0x010205 of hopper 3
    Header.REQUEST_HOPPER_STATUS: (3, b""),
    Header.TEST_HOPPER: (3, b""),
    Header.REQUEST_PAYOUT_HIGH_LOW_STATUS: (3, b""),
    Header.EMERGENCY_STOP: (3, b""),
}


def documented_headers() -> set[int]:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "cctalk.md").read_text(encoding="utf-8")
    section = doc.split("## Headers used", 1)[1].split("\n## ", 1)[0]
    found: set[int] = set()
    for row in section.splitlines():
        if row.startswith("| ") and row[2].isdigit():
            found.update(int(n) for n in row.split("|")[1].split("/"))
    return found


def test_the_doc_lists_exactly_the_headers_the_driver_uses() -> None:
    used = {int(h) for h in Header} - {Header.ACK, Header.NAK, Header.BUSY}
    assert documented_headers() == used


def test_the_simulator_answers_every_documented_header(bus: CcTalkBus) -> None:
    for header in sorted(documented_headers(), reverse=True):  # reset (1) last
        address, data = DOC_REQUESTS[header]
        bus.request(address, header, data)  # a NAK would raise
