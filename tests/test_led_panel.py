"""LED "now serving" panel: the pure frame codec, then LedPanel against FakeLedPanel over a real pty."""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import pytest
import serial
from hypothesis import given
from hypothesis import strategies as st

from drivers.led_panel import (
    ETX,
    MAX_FRAME,
    STX,
    FakeLedPanel,
    Frame,
    FrameParser,
    LedPanel,
    LitRow,
    PanelRow,
    PanelState,
    Shown,
    check_command,
    crc16,
    decode_frame,
    encode_frame,
)

if TYPE_CHECKING:
    # Types only: importing conftest at run time would load it a second time under another name.
    from conftest import WaitFor

GOLDEN_SHOW = b"\x021 17 SHOW 3 2003 C 1 *FBD1\x03"  # as in docs/led-panel-protocol.md

# ---- wire format -------------------------------------------------------------------------------


def test_golden_frames() -> None:
    assert crc16(b"123456789") == 0x29B1  # the CRC-16/CCITT-FALSE check value
    assert encode_frame(Frame.show(1, 17, 3, "2003", "call", blink=True)) == GOLDEN_SHOW
    assert encode_frame(Frame.ack(1, 17)) == b"\x021 17 ACK S *63DE\x03"
    assert encode_frame(Frame.ack(1, 17, blank=True)) == b"\x021 17 ACK B *539C\x03"
    assert encode_frame(Frame.nak(1, 17)) == b"\x021 17 NAK E *4B8B\x03"
    assert encode_frame(Frame.clear(1, 18)) == b"\x021 18 CLEAR 0 *4359\x03"
    assert encode_frame(Frame.bright(1, 20, 30)) == b"\x021 20 BRIGHT 30 *9075\x03"
    assert encode_frame(Frame.ping(1, 0)) == b"\x021 0 PING *2EF2\x03"
    assert decode_frame(GOLDEN_SHOW) == Frame(1, 17, "SHOW", ("3", "2003", "C", "1"))
    assert len(encode_frame(Frame.show(99, 255, 99, "99999", "ready", True))) <= MAX_FRAME


def test_the_protocol_documents_examples_are_valid_frames() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "led-panel-protocol.md").read_text(encoding="utf-8")
    examples = re.findall(r"␂([^␂␃`]* )\*([0-9A-F]{4})␃", doc)
    assert len(examples) >= 12
    for body, digest in examples:
        assert int(digest, 16) == crc16(body.encode()), f"␂{body}*{digest}␃ in the doc has a wrong CRC"
        assert decode_frame(b"\x02%s*%s\x03" % (body.encode(), digest.encode())) is not None, body
    assert "FBD1" in doc and "29B1" in doc


@pytest.mark.parametrize(
    "frame",
    [
        Frame(0, 1, "PING"),  # address 0 does not exist
        Frame(100, 1, "PING"),
        Frame(1, 256, "PING"),
        Frame(1, -1, "PING"),
        Frame(1, 1, "show"),  # commands are capitals
        Frame(1, 1, "SHOW", ("3", "20 03")),  # a space would split the field
        Frame(1, 1, "SHOW", ("",)),
        Frame(1, 1, "SHOW", ("ABCDEFGHI",)),
        Frame(1, 1, "X", ("12345678",) * 7),  # too long for a frame
    ],
)
def test_encoding_refuses_what_the_wire_cannot_carry(frame: Frame) -> None:
    with pytest.raises(ValueError):
        encode_frame(frame)


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        (Frame.show(1, 1, 3, "2003", "call"), None),
        (Frame.show(1, 1, 5, "2003", "call"), "row 5 is outside 1..4"),
        (Frame(1, 1, "SHOW", ("1", "123456", "C", "0")), "not 1-5 digits"),
        (Frame(1, 1, "SHOW", ("1", "12", "X", "0")), "kind X"),
        (Frame(1, 1, "SHOW", ("1", "12", "C", "2")), "blink 2"),
        (Frame(1, 1, "SHOW", ("1", "12")), "takes 4 arguments"),
        (Frame(1, 1, "CLEAR", ("0",)), None),
        (Frame(1, 1, "CLEAR", ("05",)), "outside 0..4"),
        (Frame(1, 1, "BRIGHT", ("101",)), "outside 0..100"),
        (Frame(1, 1, "DANCE"), "unknown command DANCE"),
        (Frame(1, 1, "ACK", ("X",)), "ACK status X"),
        (Frame(1, 1, "NAK", ("Q",)), "NAK reason Q"),
    ],
)
def test_check_command(frame: Frame, problem: str | None) -> None:
    found = check_command(frame, rows=4)
    assert found is None if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize(
    "raw",
    [
        GOLDEN_SHOW.replace(b"FBD1", b"FBD2"),  # CRC off by one
        GOLDEN_SHOW.replace(b"2003", b"2008"),  # a digit changed on the way
        GOLDEN_SHOW.replace(b"FBD1", b"FBD"),
        GOLDEN_SHOW.replace(b"FBD1", b"ZZZZ"),
        GOLDEN_SHOW.replace(b" *", b"*"),
        b"\x021 017 PING *" + b"%04X" % crc16(b"1 017 PING ") + b"\x03",  # not canonical
        b"\x021 17 *" + b"%04X" % crc16(b"1 17 ") + b"\x03",  # no command
        b"\x021 17 SHOW 3\xff *" + b"%04X" % crc16(b"1 17 SHOW 3\xff ") + b"\x03",
        GOLDEN_SHOW[:12],  # cut short by the next frame's STX
    ],
)
def test_bad_frames_are_dropped_and_counted(raw: bytes) -> None:
    p = FrameParser()
    good = Frame.ping(1, 40)
    assert p.feed(raw + encode_frame(good)) == [good]
    assert p.stats.bad_frames == 1 and p.stats.frames == 1


def test_garbage_then_resync() -> None:
    p = FrameParser()
    noise = bytes(range(256)).replace(bytes([ETX]), b"") * 3  # holds STX, never ends a frame
    assert p.feed(noise) == []
    assert p.feed(GOLDEN_SHOW) == [decode_frame(GOLDEN_SHOW)]  # STX starts over, whatever came before
    assert p.stats.bad_frames >= 1 and p.stats.noise_bytes >= len(noise) - 1
    assert len(p._buf) == 0


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    command = draw(st.one_of(st.sampled_from(["SHOW", "CLEAR", "BRIGHT", "PING", "ACK", "NAK"]),
                             st.from_regex(r"[A-Z]{1,8}", fullmatch=True)))  # fmt: skip
    args = draw(st.lists(st.from_regex(r"[0-9A-Z]{1,5}", fullmatch=True), max_size=4))
    return Frame(draw(st.integers(1, 99)), draw(st.integers(0, 255)), command, tuple(args))


@given(frames())
def test_decode_inverts_encode(frame: Frame) -> None:
    raw = encode_frame(frame)
    assert decode_frame(raw) == frame
    assert raw.count(bytes([STX])) == 1 and raw.count(bytes([ETX])) == 1  # no stuffing needed


@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    p = FrameParser()
    p.feed(data)
    decode_frame(data)
    assert len(p._buf) <= MAX_FRAME  # memory stays bounded
    assert p.stats.noise_bytes <= len(data)


@given(st.binary(max_size=200), st.lists(frames(), min_size=1, max_size=4), st.integers(1, 7))
def test_noise_never_costs_the_frames_after_it(noise: bytes, sent: list[Frame], chunk: int) -> None:
    p = FrameParser()
    stream = noise + b"".join(encode_frame(f) for f in sent)
    got = [f for i in range(0, len(stream), chunk) for f in p.feed(stream[i : i + chunk])]  # split anywhere
    assert got[-len(sent) :] == sent


# ---- the fake alone ----------------------------------------------------------------------------


def _reply(port: Any, timeout: float = 1.0) -> Frame | None:
    parser = FrameParser()
    port.timeout = timeout
    data = b""
    while not data.endswith(bytes([ETX])):
        byte = port.read(1)
        if not byte:
            return None
        data += byte
    got = parser.feed(data)
    return got[-1] if got else None


def test_fake_panel_answers_like_firmware() -> None:
    with FakeLedPanel(rows=2) as fake, serial.serial_for_url(fake.path, timeout=1.0) as port:
        port.write(encode_frame(Frame.ping(1, 5)))
        assert _reply(port) == Frame.ack(1, 5, blank=True)  # fresh from power-up
        port.write(encode_frame(Frame.clear(1, 6)) + encode_frame(Frame.show(1, 7, 2, "42", "ready")))
        assert _reply(port) == Frame.ack(1, 6)  # CLEAR 0: the host has taken over
        assert _reply(port) == Frame.ack(1, 7)
        assert fake.rows == {2: "42"} and fake.lit[2] == LitRow("42", "ready", False)
        port.write(encode_frame(Frame.show(1, 8, 3, "1", "call")))  # the panel has two rows
        assert _reply(port) == Frame.nak(1, 8, "R")
        port.write(encode_frame(Frame.ping(1, 9)).replace(b"PING", b"PINK"))  # bad CRC, header intact
        assert _reply(port) == Frame.nak(1, 9, "E")
        port.write(encode_frame(Frame.ping(2, 10)))  # another panel's address: no answer
        assert _reply(port, timeout=0.2) is None
        fake.power_cycle()
        assert fake.rows == {} and fake.blank_since_boot
    with pytest.raises(RuntimeError, match="unplugged"):
        fake.send_raw(b"x")


# ---- LedPanel + FakeLedPanel over a real pty ---------------------------------------------------


class Timing(TypedDict):
    reply_timeout: float
    ping_interval: float
    reopen_interval: float


FAST = Timing(reply_timeout=0.1, ping_interval=0.2, reopen_interval=0.05)  # the defaults are 0.25, 2 and 1 s


@pytest.fixture
def link(tmp_path: Path) -> Path:
    return tmp_path / "led-panel"  # stands for /dev/serial/by-id/usb-…


@pytest.fixture
def states() -> list[PanelState]:
    return []


@pytest.fixture
def panel(link: Path, states: list[PanelState]) -> Iterator[LedPanel]:
    led = LedPanel(str(link), counters=[1, 2, 3, 5], on_state=states.append, **FAST)
    yield led
    led.close()


def test_show_clear_and_brightness_reach_the_panel(link: Path, panel: LedPanel, states: list[PanelState],
                                                   wait_for: WaitFor) -> None:  # fmt: skip
    with FakeLedPanel(rows=4, link=link) as fake:
        panel.start()
        panel.show(1, 1001)
        panel.show(5, 2003, "ready", blink=False)  # counter 5 is on row 4
        panel.set_brightness(40)
        wait_for(lambda: panel.synced, timeout=3)
        assert fake.rows == {1: "1001", 4: "2003"}
        assert fake.lit[4] == LitRow("2003", "ready", False) and fake.brightness == 40
        # First contact: blank the panel, then brightness, then rows (a dimmed panel never flashes).
        assert [f.command for f in fake.commands()][:2] == ["CLEAR", "BRIGHT"]
        assert fake.commands()[0].args == ("0",)

        panel.clear(1)
        panel.show(2, 1002)
        wait_for(lambda: fake.rows == {2: "1002", 4: "2003"}, timeout=3)
        panel.clear()
        wait_for(lambda: fake.rows == {}, timeout=3)
        assert panel.display == {} and panel.connected
        assert panel.stats.retries == 0 and panel.stats.failures == 0
        assert states[:2] == [PanelState.CONNECTING, PanelState.CONNECTED]


def test_the_show_frame_on_the_wire_is_the_documented_one(link: Path, wait_for: WaitFor) -> None:
    with FakeLedPanel(rows=3, link=link) as fake, LedPanel(str(link), [1, 2, 3], **FAST) as led:
        wait_for(lambda: led.synced, timeout=3)
        led._seq = 17  # the worker's next frame takes number 17, as in the doc's example
        led.show(3, 2003)
        wait_for(lambda: fake.rows == {3: "2003"}, timeout=3)
        assert encode_frame(fake.commands("SHOW")[-1]) == GOLDEN_SHOW


def test_nak_dropped_and_corrupted_replies_are_retried(link: Path, panel: LedPanel, wait_for: WaitFor) -> None:
    with FakeLedPanel(rows=4, link=link) as fake:
        panel.start()
        wait_for(lambda: panel.synced, timeout=3)
        fake.nak_next(2)
        panel.show(1, 1001)
        wait_for(lambda: fake.rows == {1: "1001"} and panel.synced, timeout=3)
        assert panel.stats.naks == 2 and panel.stats.retries == 2
        fake.drop_replies(1)
        fake.corrupt_replies(1)
        panel.show(2, 1002)
        wait_for(lambda: fake.rows == {1: "1001", 2: "1002"} and panel.synced, timeout=3)
        stats = panel.stats
        assert stats.timeouts == 2 and stats.retries == 4 and stats.bad_frames == 1 and stats.failures == 0
        assert panel.connected


def test_silent_panel_goes_faulty_and_recovery_resends_everything(link: Path, panel: LedPanel, states: list[PanelState],
                                                                   wait_for: WaitFor) -> None:  # fmt: skip
    with FakeLedPanel(rows=4, link=link) as fake:
        panel.start()
        panel.show(1, 1001)
        panel.show(2, 1002)
        panel.set_brightness(20)
        wait_for(lambda: panel.synced, timeout=3)
        fake.hang()  # firmware hung: it hears nothing, the pings go unanswered
        wait_for(lambda: panel.state is PanelState.FAULTY, timeout=3, message="silence not noticed")
        assert not panel.connected and panel.last_error and "no ACK" in panel.last_error
        panel.show(3, 1003)  # a call while the panel is down is kept, not lost, not raised
        seen = len(fake.frames)
        fake.resume()
        wait_for(lambda: panel.synced, timeout=3, message="no recovery")
        assert fake.rows == {1: "1001", 2: "1002", 3: "1003"} and fake.brightness == 20
        resent = [(f.command, f.args[:1]) for f in fake.frames[seen:] if f.command != "PING"]
        assert resent == [("CLEAR", ("0",)), ("BRIGHT", ("20",)), ("SHOW", ("1",)), ("SHOW", ("2",)), ("SHOW", ("3",))]
        assert fake.lit[3].blink and not fake.lit[1].blink  # only the call that never got through blinks
        assert PanelState.FAULTY in states and states[-1] is PanelState.CONNECTED


def test_power_cycled_panel_gets_its_rows_back(link: Path, panel: LedPanel, wait_for: WaitFor) -> None:
    with FakeLedPanel(rows=4, link=link) as fake:
        panel.start()
        panel.show(1, 1001)
        panel.show(5, 2003, "ready")
        panel.set_brightness(10)
        wait_for(lambda: panel.synced, timeout=3)
        restores = panel.stats.restores
        fake.power_cycle()  # between two pings: no frame was lost, only the ACK's status tells
        assert fake.rows == {} and fake.brightness == 100
        wait_for(lambda: fake.rows == {1: "1001", 4: "2003"} and panel.synced, timeout=3)
        assert fake.brightness == 10 and not fake.blank_since_boot
        assert not any(lit.blink for lit in fake.lit.values())  # old calls come back steady
        assert panel.stats.restores == restores + 1 and panel.stats.failures == 0


def test_garbage_on_the_line_costs_nothing(link: Path, panel: LedPanel, wait_for: WaitFor) -> None:
    with FakeLedPanel(rows=4, link=link) as fake:
        panel.start()
        wait_for(lambda: panel.synced, timeout=3)
        fake.send_raw(b"\xff\x00noise\x02half a frame" + b"\x02" + b"z" * 100 + b"\x031 9 ACK S *0000\x03")
        panel.show(1, 1001)
        panel.show(2, 1002)
        wait_for(lambda: fake.rows == {1: "1001", 2: "1002"} and panel.synced, timeout=3)
        stats = panel.stats
        assert stats.bad_frames >= 2 and stats.noise_bytes > 100 and stats.failures == 0
        assert panel.connected


def test_apply_counters_sends_only_the_changed_rows(link: Path, panel: LedPanel, wait_for: WaitFor) -> None:
    first = [
        PanelRow(counter=1, number=1001, kind="call", at_ms=1_000),
        PanelRow(counter=2, number=2003, kind="ready", at_ms=2_000),
        PanelRow(counter=3, number=3010, kind="call", at_ms=3_000),
        PanelRow(counter=9, number=9999, kind="call", at_ms=3_500),  # another panel's counter
    ]
    second = [
        PanelRow(counter=1, number=1001, kind="call", at_ms=1_000),  # unchanged
        PanelRow(counter=2, number=2004, kind="call", at_ms=4_000),  # a new call
        PanelRow(counter=5, number=5001, kind="ready", at_ms=5_000),  # counter 5 starts calling
        PanelRow(counter=5, number=123456, kind="call"),  # too long for the panel: skipped, never raised
        # counter 3 dropped out of the list: cleared
    ]
    with FakeLedPanel(rows=4, link=link) as fake:
        panel.start()
        assert panel.apply_counters(first) == [1, 2, 3]
        wait_for(lambda: panel.synced, timeout=3)
        assert fake.rows == {1: "1001", 2: "2003", 3: "3010"}
        assert not any(lit.blink for lit in fake.lit.values())  # the first snapshot is old news
        seen = len(fake.frames)

        assert panel.apply_counters(second) == [2, 3, 5]
        wait_for(lambda: panel.synced and fake.rows == {1: "1001", 2: "2004", 4: "5001"}, timeout=3)
        sent = [(f.command, f.args) for f in fake.frames[seen:] if f.command != "PING"]
        assert sent == [("SHOW", ("2", "2004", "C", "1")), ("CLEAR", ("3",)), ("SHOW", ("4", "5001", "R", "1"))]

        seen = len(fake.frames)
        assert panel.apply_counters(second) == []  # the same snapshot again: nothing to send
        again = [dataclasses.replace(second[0], at_ms=6_000)]  # counter 1 calls 1001 again; 2 and 5 unchanged
        assert panel.apply_counters(second[1:3] + again) == [1]
        wait_for(lambda: panel.synced and any(f.command == "SHOW" for f in fake.frames[seen:]), timeout=3)
        sent = [(f.command, f.args) for f in fake.frames[seen:] if f.command != "PING"]
        assert sent == [("SHOW", ("1", "1001", "C", "1"))]  # a repeated call blinks again
        assert panel.display == {1: Shown("1001", "call"), 2: Shown("2004", "call"), 5: Shown("5001", "ready")}


def test_unplug_then_replug_restores_the_display(link: Path, panel: LedPanel, wait_for: WaitFor) -> None:
    first = FakeLedPanel(rows=4, link=link)
    panel.start()
    panel.show(1, 1001)
    wait_for(lambda: panel.synced, timeout=3)
    first.unplug()
    wait_for(lambda: panel.state is PanelState.NO_PORT, timeout=3, message="unplug not noticed")
    panel.show(2, 1002)  # no panel: recorded, sent later
    with FakeLedPanel(rows=4, link=link) as second:  # a new pty behind the same path, a blank panel
        wait_for(lambda: panel.synced, timeout=3, message="no reconnect")
        assert second.rows == {1: "1001", 2: "1002"}


def test_missing_panel_at_start_is_a_state(link: Path, panel: LedPanel, wait_for: WaitFor) -> None:
    panel.start()  # nothing at the path
    panel.show(1, 1001)
    threading.Event().wait(0.2)
    assert panel.state is PanelState.NO_PORT and not panel.connected
    assert panel.last_error and "cannot open" in panel.last_error
    with FakeLedPanel(rows=4, link=link) as fake:
        wait_for(lambda: fake.rows == {1: "1001"}, timeout=3, message="panel plugged in later was not picked up")


def test_a_refused_row_is_reported_not_retried(link: Path, panel: LedPanel, wait_for: WaitFor) -> None:
    with FakeLedPanel(rows=3, link=link) as fake:  # configured with 4 rows, the panel has 3
        panel.start()
        panel.show(5, 5001)
        panel.show(1, 1001)
        wait_for(lambda: panel.synced and fake.rows == {1: "1001"}, timeout=3)
        assert panel.stats.refused == 1 and panel.stats.retries == 0 and panel.connected
        assert panel.last_error and "refused SHOW 4 5001" in panel.last_error


def test_loop_url_reads_its_own_frames_and_reports_no_panel(wait_for: WaitFor) -> None:
    # loop:// echoes what is written, like a 2-wire RS-485 bus: our own frames are not replies.
    with LedPanel("loop://", [1], retries=1, **FAST) as led:
        led.show(1, 7)
        wait_for(lambda: led.state is PanelState.FAULTY, timeout=3)
        assert led.stats.echoes >= 2 and led.stats.acks == 0


def test_bad_arguments_are_caller_errors(panel: LedPanel) -> None:
    with pytest.raises(ValueError, match="counter 4 is not on this panel"):
        panel.show(4, 1)
    with pytest.raises(ValueError, match="digits"):
        panel.show(1, 123456)
    with pytest.raises(ValueError, match="digits"):
        panel.show(1, -5)
    with pytest.raises(ValueError, match="kind"):
        panel.show(1, 5, "done")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="0..100"):
        panel.set_brightness(150)
    with pytest.raises(ValueError, match="distinct"):
        LedPanel("loop://", [1, 1])


def test_close_is_a_state_and_idempotent(link: Path, panel: LedPanel, wait_for: WaitFor) -> None:
    with FakeLedPanel(rows=4, link=link):
        panel.start()
        wait_for(lambda: panel.connected, timeout=3)
        panel.close()
        panel.close()
        assert panel.state is PanelState.CLOSED
