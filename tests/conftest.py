"""Shared pytest fixtures.

Sections:
    * waiting       - ``wait_for``: poll a condition instead of sleeping
    * brokers       - ``mosquitto``, ``embedded_broker``: real brokers on free loopback ports
    * MQTT clients  - ``mqtt_client_factory``: connected paho-mqtt 2.x clients, cleaned up after
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from lobby.brokers import Broker, EmbeddedBroker, MosquittoBroker


def pytest_configure(config: pytest.Config) -> None:
    """The suite starts hundreds of Python processes (offices, devices, apps, the fault runs'
    restarts). Where PYTHONDONTWRITEBYTECODE is set (to keep the source tree clean), each of them
    compiled the repository's modules again at start: a quarter of a second of CPU each (the
    kiosk's SIGKILL runs measured it). Their bytecode goes to a directory outside the tree
    instead (PYTHONPYCACHEPREFIX), compiled once and checked against the sources as usual."""
    if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None and "PYTHONPYCACHEPREFIX" not in os.environ:
        os.environ["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / f"madoguchi-pycache-{os.getuid()}")


# --------------------------------------------------------------------------------------------
# waiting
# --------------------------------------------------------------------------------------------


class WaitFor(Protocol):
    """Signature of the ``wait_for`` fixture."""

    def __call__(
        self,
        predicate: Callable[[], object],
        timeout: float = 10.0,
        interval: float = 0.02,
        message: str = "condition not met",
    ) -> None: ...


def _wait_for(
    predicate: Callable[[], object],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "condition not met",
) -> None:
    """Return once ``predicate()`` is truthy; AssertionError with ``message`` after ``timeout`` s.

    Tests wait on observable state rather than sleeping a guessed time: fast when things work,
    and a clear failure instead of a flaky one when they do not.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} (waited {timeout:g} s)")
        time.sleep(interval)


@pytest.fixture
def wait_for() -> WaitFor:
    """The polling helper; see ``_wait_for``."""
    return _wait_for


# --------------------------------------------------------------------------------------------
# brokers
# --------------------------------------------------------------------------------------------


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A started Mosquitto with persistence in ``tmp_path / "broker"``; stopped at teardown.

    Fault tests may ``stop()``, ``start()``, ``restart()`` or ``kill()`` it; the port stays.
    """
    broker = MosquittoBroker(tmp_path / "broker")
    broker.start()
    try:
        yield broker
    finally:
        try:
            broker.stop()
        except BaseException:
            # Never leave a broker process behind, whatever went wrong with the clean stop.
            broker.kill()
            raise


@pytest.fixture
def embedded_broker() -> Iterator[EmbeddedBroker]:
    """A started amqtt broker in a background thread; stopped at teardown."""
    broker = EmbeddedBroker()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


# --------------------------------------------------------------------------------------------
# MQTT clients
# --------------------------------------------------------------------------------------------

OnMessage = Callable[[mqtt.Client, Any, mqtt.MQTTMessage], None]


class MqttClientFactory(Protocol):
    """Signature of the function the ``mqtt_client_factory`` fixture returns."""

    def __call__(
        self,
        broker: Broker,
        client_id: str | None = None,
        *,
        clean_session: bool = True,
        username: str | None = None,
        on_message: OnMessage | None = None,
        keepalive: int = 60,
        timeout: float = 10.0,
    ) -> mqtt.Client: ...


@pytest.fixture
def mqtt_client_factory() -> Iterator[MqttClientFactory]:
    """Make connected paho-mqtt 2.x clients (MQTT 3.1.1, network loop running).

    The returned function connects and waits for a successful CONNACK, so a test can publish or
    subscribe right away. Set ``on_message`` here rather than after the call when the broker may
    deliver immediately after CONNACK (queued messages of a persistent session): paho drops
    messages that arrive while no callback is set. Every client is disconnected and its loop
    stopped at teardown.
    """
    clients: list[mqtt.Client] = []
    ids = itertools.count(1)

    def make(
        broker: Broker,
        client_id: str | None = None,
        *,
        clean_session: bool = True,
        username: str | None = None,
        on_message: OnMessage | None = None,
        keepalive: int = 60,
        timeout: float = 10.0,
    ) -> mqtt.Client:
        # MQTT 3.1.1: the only version both brokers speak (amqtt has no MQTT 5).
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id if client_id is not None else f"test-client-{next(ids)}",
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
        )
        # Reconnect quickly after a broker restart in fault tests (paho's default waits 1-120 s).
        client.reconnect_delay_set(min_delay=1, max_delay=2)
        if username is not None:
            client.username_pw_set(username)
        if on_message is not None:
            client.on_message = on_message
        refused: list[str] = []

        def on_connect(_client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
            if reason.is_failure:
                refused.append(str(reason))

        client.on_connect = on_connect
        clients.append(client)
        client.connect(broker.host, broker.port, keepalive=keepalive)
        client.loop_start()
        _wait_for(
            lambda: client.is_connected() or refused,
            timeout=timeout,
            message=f"client {client_id!r} did not connect to {broker.url}",
        )
        if refused:
            raise AssertionError(f"{broker.url} refused client {client_id!r}: {refused[0]}")
        return client

    yield make

    # All disconnects first, then the joins: a client whose broker is already gone sleeps in
    # paho's reconnect wait (up to 1 s per check), and this way those sleeps overlap. Request
    # broker fixtures before this one so that clients are torn down while their broker still runs.
    for client in clients:
        client.disconnect()
    for client in clients:
        client.loop_stop()


# --------------------------------------------------------------------------------------------
# a virtual screen
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    """A virtual screen (Xvfb with GLX: Kivy renders with Mesa's software GL)."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise RuntimeError("Xvfb is missing: install the Debian package xvfb (make test does)")
    for number in range(90, 110):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            break
    proc = subprocess.Popen(
        [xvfb, f":{number}", "-screen", "0", "1920x1200x24", "+extension", "GLX", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("Xvfb did not start")
        time.sleep(0.05)
    yield f":{number}"
    proc.terminate()
    proc.wait(10)


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------


@pytest.fixture
def postgres() -> Iterator[Any]:
    """A started PostgreSQL (Debian's) on a free loopback port in a directory of its own; removed
    at teardown. Fault tests may ``kill()`` and ``start()`` it: what was committed survives."""
    from lobby.postgres import PostgresServer

    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """One PostgreSQL for the session's office stores (each test gets a database of its own)."""
    from lobby.postgres import PostgresServer

    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def pg_dsn(pg_server: Any) -> Iterator[str]:
    """A new, empty database on the session's PostgreSQL; dropped afterwards."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield pg_server.dsn.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """The office store, once on SQLite (a file) and once on PostgreSQL (an address): the office
    suites that take this fixture run on both (docs/ward.md, office/sql.py)."""
    if request.param == "sqlite":
        return tmp_path / "office.sqlite3"
    return str(request.getfixturevalue("pg_dsn"))
