"""common/watchdog.py: sd_notify over a real unix datagram socket standing in for systemd's."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.watchdog import Watchdog, notify, watchdog_interval_s


@pytest.fixture
def systemd_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound SOCK_DGRAM socket, as systemd offers it in $NOTIFY_SOCKET."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    yield sock, str(path)
    sock.close()


def received(sock: socket.socket) -> list[bytes]:
    """Every datagram waiting on ``sock``."""
    out = []
    sock.setblocking(False)
    try:
        while True:
            out.append(sock.recv(4096))
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(2)
    return out


def test_notify_sends_the_message_to_the_socket(systemd_socket: tuple[socket.socket, str]) -> None:
    sock, path = systemd_socket
    assert notify("READY=1", {"NOTIFY_SOCKET": path})
    assert sock.recv(4096) == b"READY=1"


def test_abstract_socket_names_work(tmp_path: Path) -> None:
    name = f"madoguchi-test-{os.getpid()}-{tmp_path.name}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        assert notify("WATCHDOG=1", {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_without_systemd_everything_is_a_no_op(systemd_socket: tuple[socket.socket, str]) -> None:
    sock, _path = systemd_socket
    assert not notify("READY=1", {})
    dog = Watchdog.from_environment({})
    assert not dog.enabled and not dog.kick() and not dog.ready() and not dog.status("x")
    assert received(sock) == []


def test_a_socket_that_is_gone_is_not_an_error(tmp_path: Path) -> None:
    assert not notify("WATCHDOG=1", {"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    assert not notify("WATCHDOG=1", {"NOTIFY_SOCKET": "vsock:2:1234"})


def test_interval_comes_from_watchdog_usec_for_this_process_only() -> None:
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 30.0
    # A child that inherited its parent's variables must not feed the parent's watchdog.
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, pid=4242) is None
    for bad in ({}, {"WATCHDOG_USEC": ""}, {"WATCHDOG_USEC": "soon"}, {"WATCHDOG_USEC": "0"}):
        assert watchdog_interval_s(bad) is None


def test_kick_pings_at_most_every_half_interval(systemd_socket: tuple[socket.socket, str]) -> None:
    sock, path = systemd_socket
    now = [100.0]
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000"}
    dog = Watchdog(watchdog_interval_s(env), env, clock=lambda: now[0])
    assert dog.enabled and dog.interval_s == 10.0
    sent = []
    for tick in range(100):  # a loop running every 0.1 s for 10 s
        now[0] = 100.0 + tick / 10
        sent.append(dog.kick())
    assert sum(sent) == 2 and sent[0] and sent[50]
    assert received(sock) == [b"WATCHDOG=1", b"WATCHDOG=1"]
    assert dog.ready() and dog.status("serving\nline") and dog.stopping()
    assert received(sock) == [b"READY=1", b"STATUS=serving line", b"STOPPING=1"]


def test_a_failed_ping_is_retried_on_the_next_kick(tmp_path: Path) -> None:
    path = tmp_path / "later"
    env = {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "10000000"}
    now = [0.0]
    dog = Watchdog(10.0, env, clock=lambda: now[0])
    assert not dog.kick()  # systemd's socket not there (yet)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(2)
        now[0] += 0.1
        assert dog.kick()  # not held back by the half-interval rule: nothing was sent before
        assert sock.recv(4096) == b"WATCHDOG=1"
