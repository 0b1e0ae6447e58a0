"""The pty base the serial fakes share (drivers/serial_fake.py): a real serial port for the host,
raw like a UART, bytes both ways, a reader thread that stops, a by-id link that comes and goes."""

from __future__ import annotations

import os
import queue
import threading
import time
from pathlib import Path

import pytest
import serial

from drivers.serial_fake import PtyDevice, Unplugged


class Recorder(PtyDevice):
    """Keeps what the host sent; answers b"pong" to b"ping"; counts ticks."""

    name = "test device"
    tick_s = 0.01

    def __init__(self, link: Path | None = None) -> None:
        super().__init__(link=link)
        self.heard: queue.Queue[bytes] = queue.Queue()
        self.ticks = 0
        self.threads: set[str] = set()

    def received(self, data: bytes) -> None:
        self.threads.add(threading.current_thread().name)
        self.heard.put(data)
        if b"ping" in data:
            self.write(b"pong")

    def tick(self) -> None:
        self.ticks += 1


def _heard(device: Recorder, size: int, timeout: float = 2.0) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    while len(got) < size and time.monotonic() < deadline:
        try:
            got += device.heard.get(timeout=0.05)
        except queue.Empty:
            continue
    return got


def test_the_host_opens_a_real_port_and_bytes_go_both_ways() -> None:
    with Recorder() as device:
        assert device.plugged and device.path.startswith("/dev/pts/")
        with serial.Serial(device.path, 9600, timeout=1) as port:
            port.write(b"ping")
            assert port.read(4) == b"pong"
            device.write(b"\x00\xff\r\n")
            assert port.read(4) == b"\x00\xff\r\n"
        assert device.threads == {"test device"}  # handled on the reader thread, named after the device


def test_the_line_is_raw_like_a_uart() -> None:
    """No line discipline: what one side writes arrives unchanged, and nothing comes back to the
    writer. Checked without pyserial, which would make the port raw itself."""
    with Recorder() as device:
        fd = os.open(device.path, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(fd, b"a\nb\r")  # a cooked tty would send a\r\n and hold b until a newline
            assert _heard(device, 4) == b"a\nb\r"
            device.write(b"x\n")
            assert os.read(fd, 16) == b"x\n"
            time.sleep(0.1)
            assert device.heard.empty()  # a cooked tty would echo the device's own bytes back to it
        finally:
            os.close(fd)


def test_tick_runs_while_the_line_is_quiet() -> None:
    with Recorder() as device:
        time.sleep(0.2)
        assert device.ticks >= 3


def test_unplug_stops_the_reader_and_is_idempotent() -> None:
    device = Recorder()
    device.plug()
    reader = device._reader
    assert reader is not None and reader.is_alive()
    device.unplug()
    device.unplug()
    assert not reader.is_alive() and not device.plugged
    with pytest.raises(Unplugged, match="the test device is unplugged"):
        device.write(b"x")
    assert isinstance(Unplugged("x"), RuntimeError)  # what the fakes' callers have always caught


def test_the_link_follows_the_cable(tmp_path: Path) -> None:
    link = tmp_path / "usb-test-if00"
    device = Recorder(link)
    with pytest.raises(RuntimeError, match="never plugged in"):
        _ = device.path
    device.plug()
    first = device.slave_path
    assert device.path == str(link) and os.readlink(link) == first
    device.unplug()
    assert not link.exists() and not link.is_symlink()
    device.plug()  # plugged back in: a new tty, the same link
    try:
        assert os.readlink(link) == device.slave_path
        with serial.Serial(device.path, 9600, timeout=1) as port:
            port.write(b"ping")
            assert port.read(4) == b"pong"
    finally:
        device.unplug()


def test_unplug_leaves_a_link_that_points_elsewhere(tmp_path: Path) -> None:
    link = tmp_path / "usb-test-if00"
    first, second = Recorder(link), Recorder(link)
    first.plug()
    second.plug()  # the same by-id path, now the second device's
    first.unplug()
    assert os.readlink(link) == second.slave_path
    second.unplug()
    assert not link.is_symlink()


def test_a_device_may_pull_its_own_cable_from_the_reader_thread() -> None:
    class SelfUnplugging(Recorder):
        def received(self, data: bytes) -> None:
            super().received(data)
            self.unplug()
            self.write(b"lost")  # the answer is lost, the thread ends quietly

    device = SelfUnplugging()
    device.plug()
    reader = device._reader
    with serial.Serial(device.path, 9600, timeout=0.2) as port:
        port.write(b"x")
        assert _heard(device, 1) == b"x"
    assert reader is not None
    reader.join(timeout=2)
    assert not reader.is_alive() and not device.plugged
