"""The board's health in its retained device status: stale by the rule its badge is drawn by,
sent the moment that flips. A real Mosquitto, a real device agent of role board and the board's
controller as madoguchi-board builds it (display_board.cli.board_controller); a test client plays
the office's retained status and heartbeat. The board counts as stale after 0.6 s of silence here
instead of 30 s, and the status interval is ten minutes: every change seen went out because the
staleness flipped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from conftest import MqttClientFactory, WaitFor
from display_board.cli import board_controller
from display_board.controller import BoardController
from display_board.model import Layout
from lobby.brokers import MosquittoBroker
from sync import messages, protocol
from sync.agent import AgentConfig, DeviceAgent

SITE = "demo-town"
DEVICE = "board-h"
STALE_AFTER_MS = 600


class Statuses:
    """The board's device status as a subscriber on the broker receives it (the floor view)."""

    def __init__(self, factory: MqttClientFactory, broker: MosquittoBroker) -> None:
        self._lock = threading.Lock()
        self._seen: list[messages.DeviceStatus] = []
        client = factory(broker, on_message=self._on_message)
        client.subscribe(protocol.topic("device_status", SITE, device=DEVICE), qos=1)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        status = protocol.decode("device_status", bytes(message.payload))
        with self._lock:
            self._seen.append(status)

    def stale(self) -> bool | None:
        """The latest online status's staleness (None: no such status yet)."""
        with self._lock:
            latest = self._seen[-1] if self._seen else None
        if latest is None or latest.state != "online" or latest.health is None:
            return None
        return latest.health.stale


@pytest.fixture
def board(mosquitto: MosquittoBroker, tmp_path: Path) -> Iterator[tuple[DeviceAgent, BoardController]]:
    agent = DeviceAgent(
        AgentConfig(
            site=SITE,
            device_id=DEVICE,
            role="board",
            broker_url=mosquitto.url,
            data_dir=tmp_path / "board",
            status_interval_s=600.0,
        )
    )
    controller = board_controller(agent, layout=Layout(stale_after_ms=STALE_AFTER_MS))
    agent.start()
    try:
        yield agent, controller
    finally:
        agent.stop()


def _office_says_online(office: mqtt.Client) -> None:
    """The office's status, as its heartbeat publishes it: retained, with its clock."""
    status = messages.OfficeStatus(state="online", epoch="e1", session=1, sent_ms=time.time_ns() // 1_000_000)
    office.publish(protocol.topic("office_status", SITE), protocol.encode(status), qos=1, retain=True).wait_for_publish(
        5
    )


def test_a_board_whose_office_goes_silent_reports_stale_and_fresh_again(
    board: tuple[DeviceAgent, BoardController],
    mosquitto: MosquittoBroker,
    mqtt_client_factory: MqttClientFactory,
    wait_for: WaitFor,
) -> None:
    agent, controller = board
    office = mqtt_client_factory(mosquitto)
    statuses = Statuses(mqtt_client_factory, mosquitto)

    def tick_until(predicate: Any, message: str) -> None:
        # The board ticks every second on Kivy's clock; here the test is the clock, faster.
        def ticked() -> object:
            controller.tick()
            return predicate()

        wait_for(ticked, timeout=4, interval=0.05, message=message)

    # The office speaks once: the board hears it live and is fresh. Then it falls silent (no
    # heartbeat, no last will: a cable, a hung process).
    def heard() -> bool:
        # Live, not retained: a status published before the board's subscription reaches it as
        # retained (no clock in it to trust), so the office speaks until the board hears it.
        nonlocal spoke
        if agent.last_heard_ms is None:
            spoke = time.monotonic()
            _office_says_online(office)
        return agent.last_heard_ms is not None

    spoke = time.monotonic()
    wait_for(heard, timeout=8, interval=0.2, message="the board never heard the office")
    tick_until(lambda: statuses.stale() is False and not controller.stale, "no fresh status")
    tick_until(lambda: statuses.stale() is True, "the silent office's board does not say it is stale")
    assert time.monotonic() - spoke >= STALE_AFTER_MS / 1000 * 0.8  # not before its time
    assert controller.view is not None and controller.view.stale is not None  # the badge is up as well
    # The office speaks again: the status says fresh at once.
    _office_says_online(office)
    tick_until(lambda: statuses.stale() is False, "the board stays stale with the office back")
    # A floor view that opens now gets the latest from the broker (retained), without a tick.
    late = Statuses(mqtt_client_factory, mosquitto)
    wait_for(lambda: late.stale() is False, timeout=4, message="no retained status")


def test_the_board_leaves_service_to_the_kiosks(board: tuple[DeviceAgent, BoardController]) -> None:
    _agent, controller = board
    controller.tick()
    health = controller.health()
    # Nothing heard from the office since start: the board says it is stale and nothing more.
    assert health == messages.Health(stale=True) and health.in_service is None and health.cash == {}
