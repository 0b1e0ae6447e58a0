"""Tactile keypad: the pure parser, then SerialKeypad against FakeKeypad over a real pty."""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.keypad import (
    KEYS,
    MAX_LINE,
    FakeKeypad,
    KeyEvent,
    KeypadParser,
    KeypadState,
    SerialKeypad,
    checksum,
    encode_ack,
    encode_heartbeat,
    encode_key,
)

if TYPE_CHECKING:
    # Types only: importing conftest at run time would load it a second time under another name.
    from conftest import WaitFor

# ---- wire format -------------------------------------------------------------------------------


def test_line_format() -> None:
    assert encode_key("OK", 17) == b"K OK 17 *69\r\n"
    assert encode_heartbeat(18) == b"H 18 *41\r\n"
    assert encode_ack(17) == b"A 17 *47\r\n"
    assert checksum(b"K OK 17 ") == 0x69
    assert len(encode_key("RIGHT", 255)) <= MAX_LINE


@pytest.mark.parametrize(("key", "seq"), [("ENTER", 1), ("OK", 256), ("OK", -1)])
def test_encoding_refuses_what_the_wire_cannot_carry(key: str, seq: int) -> None:
    with pytest.raises(ValueError):
        encode_key(key, seq)


def test_the_protocol_documents_examples_are_valid_lines() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "keypad-protocol.md").read_text(encoding="utf-8")
    examples = re.findall(r"\b([KHA] (?:[A-Z0-9]+ )?\d+ )\*([0-9A-F]{2})\b", doc)
    assert len(examples) >= 10
    for body, digest in examples:
        assert int(digest, 16) == checksum(body.encode()), f"{body}*{digest} in the doc has a wrong checksum"


# ---- parser ------------------------------------------------------------------------------------


def test_valid_keys_in_order() -> None:
    p = KeypadParser()
    stream = encode_heartbeat(0) + encode_key("DOWN", 1) + encode_key("OK", 2) + encode_key("7", 3)
    assert p.feed(stream) == [KeyEvent("DOWN", 1), KeyEvent("OK", 2), KeyEvent("7", 3)]
    assert p.stats.heartbeats == 1 and p.stats.keys == 3 and p.stats.bad_lines == 0
    assert p.take_acks() == [1, 2, 3]
    assert p.take_acks() == []


def test_bytes_split_anywhere() -> None:
    p = KeypadParser()
    stream = encode_key("UP", 1) + encode_key("HELP", 2)
    events = [e for i in range(len(stream)) for e in p.feed(stream[i : i + 1])]
    assert events == [KeyEvent("UP", 1), KeyEvent("HELP", 2)]


def test_bare_newline_and_lowercase_checksum_are_accepted() -> None:
    p = KeypadParser()
    assert p.feed(b"K OK 17 *69\n") == [KeyEvent("OK", 17)]
    assert p.feed(b"K UP 18 *%02x\r\n" % checksum(b"K UP 18 ")) == [KeyEvent("UP", 18)]


@pytest.mark.parametrize(
    "line",
    [
        b"K OK 17 *68\r\n",  # checksum off by one
        b"K OK 17 *6\r\n",
        b"K OK 17 *zz\r\n",
        b"K OK 17*69\r\n",  # no space before *
        b"K OK 17\r\n",  # no checksum
        b"K ENTER 17 *" + b"%02X" % checksum(b"K ENTER 17 ") + b"\r\n",  # unknown key
        b"K OK 256 *" + b"%02X" % checksum(b"K OK 256 ") + b"\r\n",  # seq out of range
        b"K OK 0017 *" + b"%02X" % checksum(b"K OK 0017 ") + b"\r\n",
        b"K OK 017 *" + b"%02X" % checksum(b"K OK 017 ") + b"\r\n",
        b"K OK -1 *" + b"%02X" % checksum(b"K OK -1 ") + b"\r\n",
        b"A 17 *47\r\n",  # our own ack echoed back (loop://)
        b"\xff\xfeK OK 17 *69\r\n",
    ],
)
def test_bad_lines_are_dropped_and_counted(line: bytes) -> None:
    p = KeypadParser()
    assert p.feed(line + encode_key("BACK", 40)) == [KeyEvent("BACK", 40)]
    assert p.stats.bad_lines == 1


def test_garbage_then_resync() -> None:
    p = KeypadParser()
    noise = bytes(range(256)).replace(b"\n", b"") * 3  # far longer than a line, no newline
    assert p.feed(noise) == []
    # The valid-looking line right after the noise is part of the noise's line: dropped.
    assert p.feed(encode_key("UP", 1)) == []
    assert p.feed(encode_key("DOWN", 2)) == [KeyEvent("DOWN", 2)]
    assert p.stats.bad_lines == 1 and p.stats.bytes_discarded >= len(noise)


def test_noise_inside_a_line_costs_only_that_line() -> None:
    p = KeypadParser()
    stream = encode_key("UP", 1) + b"K DO\x00WN 2 *11\r\n" + encode_key("DOWN", 3)
    assert p.feed(stream) == [KeyEvent("UP", 1), KeyEvent("DOWN", 3)]
    assert p.stats.bad_lines == 1 and p.stats.missed == 1


def test_duplicates_are_suppressed_but_acked() -> None:
    p = KeypadParser()
    line = encode_key("OK", 9)
    assert p.feed(line + line + line) == [KeyEvent("OK", 9)]
    assert p.stats.duplicates == 2
    assert p.take_acks() == [9, 9, 9]  # the keypad repeats because it missed our ack
    assert p.feed(encode_heartbeat(10) + encode_heartbeat(10)) == []
    assert p.stats.duplicates == 3


def test_the_same_key_pressed_twice_is_two_presses() -> None:
    p = KeypadParser()
    assert p.feed(encode_key("DOWN", 4) + encode_key("DOWN", 5)) == [KeyEvent("DOWN", 4), KeyEvent("DOWN", 5)]


def test_sequence_wraps() -> None:
    p = KeypadParser()
    stream = encode_key("UP", 254) + encode_key("UP", 255) + encode_key("UP", 0) + encode_key("UP", 1)
    assert [e.seq for e in p.feed(stream)] == [254, 255, 0, 1]
    assert p.stats.missed == 0 and p.stats.duplicates == 0


def test_missed_lines_are_counted_across_the_wrap() -> None:
    p = KeypadParser()
    p.feed(encode_key("UP", 250) + encode_heartbeat(2))
    assert p.stats.missed == 7  # 251..255, 0, 1


def test_reset_session_forgets_the_last_sequence() -> None:
    p = KeypadParser()
    p.feed(encode_key("OK", 0))
    p.reset_session()  # keypad replugged: it counts from 0 again
    assert p.feed(encode_key("OK", 0)) == [KeyEvent("OK", 0)]


@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    p = KeypadParser()
    events = p.feed(data)
    assert all(e.key in KEYS and 0 <= e.seq < 256 for e in events)
    assert len(p._buf) <= MAX_LINE  # memory stays bounded


@given(st.lists(st.binary(max_size=60), max_size=8), st.lists(st.sampled_from(sorted(KEYS)), min_size=1, max_size=5))
def test_noise_never_costs_keys_after_a_clean_newline(noise: list[bytes], keys: list[str]) -> None:
    p = KeypadParser()
    for chunk in noise:
        p.feed(chunk)
    p.feed(b"\n")  # ends whatever half line or discarded run the noise left
    # A heartbeat first: should the noise have held a valid line with our number, only it is lost.
    lines = encode_heartbeat(200) + b"".join(encode_key(k, 201 + i) for i, k in enumerate(keys))
    assert [e.key for e in p.feed(lines)] == keys


# ---- SerialKeypad + FakeKeypad over a real pty -------------------------------------------------


class Collector:
    """on_key/on_state callbacks that only hand over, as the docs ask."""

    def __init__(self) -> None:
        self.keys: queue.Queue[KeyEvent] = queue.Queue()
        self.states: list[KeypadState] = []
        self.threads: set[str] = set()

    def on_key(self, event: KeyEvent) -> None:
        self.threads.add(threading.current_thread().name)
        self.keys.put(event)

    def on_state(self, state: KeypadState) -> None:
        self.states.append(state)

    def take(self, n: int, timeout: float = 3.0) -> list[str]:
        return [self.keys.get(timeout=timeout).key for _ in range(n)]


@pytest.fixture
def link(tmp_path: Path) -> Path:
    return tmp_path / "keypad"  # stands for /dev/serial/by-id/usb-…


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
def driver(link: Path, collector: Collector) -> Iterator[SerialKeypad]:
    kp = SerialKeypad(
        str(link), collector.on_key, on_state=collector.on_state, heartbeat_timeout=0.5, reopen_interval=0.05
    )
    yield kp
    kp.close()


def test_presses_arrive_in_order_and_are_acked(link: Path, driver: SerialKeypad, collector: Collector,
                                                wait_for: WaitFor) -> None:  # fmt: skip
    with FakeKeypad(link=link) as fake:
        driver.start()
        wait_for(lambda: driver.state is KeypadState.SILENT, message="port never opened")
        fake.heartbeat()
        wait_for(lambda: driver.connected, timeout=3)
        seqs = [fake.press(k) for k in ("DOWN", "DOWN", "OK", "1", "HELP")]
        assert collector.take(5) == ["DOWN", "DOWN", "OK", "1", "HELP"]
        assert collector.threads == {f"keypad {link}"}  # callbacks run on the reader thread
        assert fake.acks() == seqs


def test_duplicate_and_garbage_over_the_wire(link: Path, driver: SerialKeypad, collector: Collector,
                                             wait_for: WaitFor) -> None:  # fmt: skip
    with FakeKeypad(link=link) as fake:
        driver.start()
        wait_for(lambda: driver.state is KeypadState.SILENT)
        fake.press("UP")
        fake.repeat_last()
        fake.send_raw(b"\x00\xffnoise\r\nK OK 3 *00\r\n")
        fake.press("OK")
        assert collector.take(2) == ["UP", "OK"]
        wait_for(lambda: driver.stats.bad_lines == 2)
        assert driver.stats.duplicates == 1
        assert collector.keys.empty()


def test_heartbeats_keep_it_connected_and_silence_is_reported(link: Path, driver: SerialKeypad, collector: Collector,
                                                              wait_for: WaitFor) -> None:  # fmt: skip
    with FakeKeypad(link=link, heartbeat_interval=0.1) as fake:
        driver.start()
        wait_for(lambda: driver.connected, timeout=3)
        for _ in range(10):  # 1 s, twice the timeout: heartbeats alone keep it connected
            assert driver.connected
            threading.Event().wait(0.1)
        fake.stop_heartbeats()
        wait_for(lambda: driver.state is KeypadState.SILENT, timeout=3)
        wait_for(lambda: KeypadState.SILENT in collector.states)


def test_missing_keypad_at_start_is_a_state(link: Path, driver: SerialKeypad, collector: Collector,
                                            wait_for: WaitFor) -> None:  # fmt: skip
    driver.start()  # nothing at the path
    threading.Event().wait(0.2)
    assert driver.state is KeypadState.NO_PORT and not driver.connected
    assert driver.last_error and "cannot open" in driver.last_error
    with FakeKeypad(link=link, heartbeat_interval=0.1) as fake:
        wait_for(lambda: driver.connected, timeout=3, message="keypad plugged in later was not picked up")
        fake.press("OK")
        assert collector.take(1) == ["OK"]


def test_unplug_then_replug(link: Path, driver: SerialKeypad, collector: Collector, wait_for: WaitFor) -> None:
    first = FakeKeypad(link=link, heartbeat_interval=0.1)
    driver.start()
    wait_for(lambda: driver.connected, timeout=3)
    first.press("DOWN")
    assert collector.take(1) == ["DOWN"]

    first.unplug()
    wait_for(lambda: driver.state is KeypadState.NO_PORT, timeout=3, message="unplug not noticed")
    assert not driver.connected

    with FakeKeypad(link=link, heartbeat_interval=0.1) as second:  # a new pty behind the same path
        wait_for(lambda: driver.connected, timeout=3, message="no reconnect")
        # The replugged keypad counts from 0 again; its presses must not look like repeats.
        second.press("UP")
        assert collector.take(1) == ["UP"]
    assert collector.states[:3] == [KeypadState.SILENT, KeypadState.CONNECTED, KeypadState.NO_PORT]
    assert KeypadState.CONNECTED in collector.states[3:]


def test_a_failing_callback_does_not_stop_the_reader(link: Path, wait_for: WaitFor) -> None:
    got: list[str] = []

    def on_key(event: KeyEvent) -> None:
        if event.key == "HELP":
            raise RuntimeError("UI bug")
        got.append(event.key)

    with FakeKeypad(link=link) as fake, SerialKeypad(str(link), on_key, reopen_interval=0.05) as kp:
        wait_for(lambda: kp.state is KeypadState.SILENT)
        fake.press("HELP")
        fake.press("OK")
        wait_for(lambda: got == ["OK"])


def test_close_is_a_state_and_idempotent(link: Path, driver: SerialKeypad) -> None:
    with FakeKeypad(link=link):
        driver.start()
        driver.close()
        driver.close()
        assert driver.state is KeypadState.CLOSED


def test_loop_url_works_without_acks(wait_for: WaitFor) -> None:
    got: queue.Queue[KeyEvent] = queue.Queue()
    with SerialKeypad("loop://", got.put, send_acks=False) as kp:
        # loop:// echoes what is written: the test writes the keypad's lines itself.
        wait_for(lambda: kp.state is not KeypadState.NO_PORT)
        port = kp._port
        assert port is not None
        port.write(encode_heartbeat(0) + encode_key("LEFT", 1))
        assert got.get(timeout=3) == KeyEvent("LEFT", 1)
        assert kp.connected


def test_fake_keypad_alone(tmp_path: Path) -> None:
    fake = FakeKeypad()
    assert fake.path.startswith("/dev/pts/")
    assert fake.press("OK") == 0 and fake.heartbeat() == 1
    fake.skip(254)
    assert fake.press("UP") == 0  # wrapped
    fake.unplug()
    fake.unplug()
    with pytest.raises(RuntimeError, match="unplugged"):
        fake.press("OK")
