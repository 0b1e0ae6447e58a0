"""The kiosk's health in its retained device status, as the staff's floor view reads it off a
real Mosquitto: in service or not (and the fault), the hoppers' coin counts, change running low,
refund slips owed today. The kiosk is the assembled one (kiosk.device.build_kiosk: the in-memory
cash box, the simulated card reader, a real journal on disk, a real device agent); the status
interval is ten minutes, so every change seen here went out because the health changed.
"""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from conftest import MqttClientFactory, WaitFor
from drivers.cash import FakeCashBox
from drivers.jpki_sim import SimulatedJpkiCa
from kiosk import flow
from kiosk.device import KioskDevice, build_kiosk, kiosk_config_from_mapping
from kiosk.health import KioskHealth
from lobby.brokers import MosquittoBroker
from sync import messages, protocol

SITE = "demo-town"
DEVICE = "kiosk-h"


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ca = SimulatedJpkiCa.open(tmp_path_factory.mktemp("jpki"))
    ca.card_key("SIM-0001")
    return ca.directory


class FloorView:
    """The kiosk's device status as a subscriber on the broker receives it (the office's view)."""

    def __init__(self, factory: MqttClientFactory, broker: MosquittoBroker) -> None:
        self._lock = threading.Lock()
        self._seen: list[messages.DeviceStatus] = []
        client = factory(broker, on_message=self._on_message)
        # Retained: whatever the kiosk said before this subscription took hold arrives all the same.
        client.subscribe(protocol.topic("device_status", SITE, device=DEVICE), qos=1)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        status = protocol.decode("device_status", bytes(message.payload))
        with self._lock:
            self._seen.append(status)

    @property
    def latest(self) -> messages.DeviceStatus | None:
        with self._lock:
            return self._seen[-1] if self._seen else None

    def health(self) -> messages.Health | None:
        latest = self.latest
        return latest.health if latest is not None and latest.state == "online" else None


def _health(cash: Mapping[int, int], *, change_low: bool = False, refunds_owed: int = 0) -> messages.Health:
    return messages.Health(
        in_service=True,
        fault="",
        cash={str(coin): count for coin, count in cash.items()},
        change_low=change_low,
        refunds_owed=refunds_owed,
    )


@pytest.fixture
def kiosk(
    ca_dir: Path, tmp_path: Path, mosquitto: MosquittoBroker
) -> Iterator[Callable[[dict[int, int]], KioskDevice]]:
    """Build (and at the end close) the assembled kiosk on the broker, its hoppers filled so."""
    built: list[KioskDevice] = []

    def make(hoppers: dict[int, int]) -> KioskDevice:
        doc = {
            "card_reader": {"backend": "sim", "ca_dir": str(ca_dir)},
            "cash": {
                "backend": "fake",
                "hoppers": [
                    {"address": address, "coin": coin, "count": count}
                    for address, (coin, count) in enumerate(hoppers.items(), start=3)
                ],
            },
            "document_printer": {"backend": "dir", "dir": str(tmp_path / "pdf")},
            "receipt_printer": {"model": "TM-T20III", "backend": "fake"},
            "speech": {"backend": "none"},
        }
        device = build_kiosk(
            kiosk_config_from_mapping(doc, DEVICE),
            site=SITE,
            device_id=DEVICE,
            broker_url=mosquitto.url,
            data_dir=tmp_path / "data",
            agent_options={"status_interval_s": 600.0},
        )
        built.append(device)
        return device

    yield make
    for device in built:
        device.close()


def _stray_coin(device: KioskDevice, value: int) -> None:
    """A coin through a closing acceptor: the kiosk opens a session just to pay it back."""
    cash = device.cash
    assert isinstance(cash, FakeCashBox)
    cash.accept(None)
    assert cash.insert_coin(value)
    device.runtime.pump()


def test_a_journal_that_cannot_be_written_takes_the_kiosk_out_of_service_on_the_floor_view(
    kiosk: Callable[[dict[int, int]], KioskDevice],
    mosquitto: MosquittoBroker,
    mqtt_client_factory: MqttClientFactory,
    wait_for: WaitFor,
) -> None:
    view = FloorView(mqtt_client_factory, mosquitto)
    device = kiosk({500: 40, 100: 60, 10: 80})
    device.start()
    serving = _health({500: 40, 100: 60, 10: 80})
    wait_for(lambda: view.health() == serving, timeout=4, message=f"no status {serving}")
    # The journal's disk goes; the next coin cannot be recorded, so the kiosk stops serving.
    shutil.rmtree(device.journal.directory)
    _stray_coin(device, 100)
    assert device.runtime.state.step is flow.Step.OUT_OF_SERVICE
    wait_for(
        lambda: (h := view.health()) is not None and h.in_service is False,
        timeout=4,
        message="the out-of-service kiosk still says it serves",
    )
    health = view.health()
    assert health is not None and (health.fault, health.change_low, health.refunds_owed) == ("journal", False, 0)
    # A floor view that opens now gets the same from the broker: the status is retained.
    late = FloorView(mqtt_client_factory, mosquitto)
    wait_for(lambda: late.latest is not None, timeout=4, message="no retained status")
    assert late.health() == health


def test_change_low_flips_with_the_hoppers_and_their_counts_follow(
    kiosk: Callable[[dict[int, int]], KioskDevice],
    mosquitto: MosquittoBroker,
    mqtt_client_factory: MqttClientFactory,
    wait_for: WaitFor,
) -> None:
    view = FloorView(mqtt_client_factory, mosquitto)
    # 11 coins of 500 are one over the low level (10): 9,990 yen can be paid, just.
    device = kiosk({500: 11, 100: 50, 10: 20})
    device.start()
    expected = _health({500: 11, 100: 50, 10: 20})
    wait_for(lambda: view.health() == expected, timeout=4, message=f"no status {expected}")
    # Paying back a stray 500-yen coin leaves the 500s at their low level: 9,990 cannot be paid.
    _stray_coin(device, 500)
    assert device.runtime.state.change_low
    expected = _health({500: 10, 100: 50, 10: 20}, change_low=True)
    wait_for(lambda: view.health() == expected, timeout=4, message=f"no status {expected}")
    # Staff refill the 500s; the next payout's probe finds change again.
    cash = device.cash
    assert isinstance(cash, FakeCashBox)
    cash.set_hopper(500, 40)
    _stray_coin(device, 100)
    assert not device.runtime.state.change_low
    expected = _health({500: 40, 100: 49, 10: 20})
    wait_for(lambda: view.health() == expected, timeout=4, message=f"no status {expected}")


def test_a_refund_slip_owed_is_counted_and_still_counted_after_a_restart(
    kiosk: Callable[[dict[int, int]], KioskDevice],
    mosquitto: MosquittoBroker,
    mqtt_client_factory: MqttClientFactory,
    wait_for: WaitFor,
) -> None:
    view = FloorView(mqtt_client_factory, mosquitto)
    # No 10-yen coins: a stray 50-yen coin (paid back as 10s) cannot be paid back.
    device = kiosk({500: 40, 100: 60, 10: 0})
    device.start()
    expected = _health({500: 40, 100: 60, 10: 0}, change_low=True)
    wait_for(lambda: view.health() == expected, timeout=4, message=f"no status {expected}")
    _stray_coin(device, 50)
    assert [r["data"] for r in device.journal.records() if r["kind"] == "refund_owed"] == [
        {"amount": 50, "reason": "hoppers_empty"}
    ]
    expected = _health({500: 40, 100: 60, 10: 0}, change_low=True, refunds_owed=1)
    wait_for(lambda: view.health() == expected, timeout=4, message=f"no status {expected}")
    # The count is the journal's: a restart the same day reads it back, it does not start at 0.
    device.close()
    wait_for(lambda: (s := view.latest) is not None and s.state == "offline", timeout=4, message="no goodbye")
    again = kiosk({500: 40, 100: 60, 10: 0})
    again.start()
    wait_for(lambda: view.health() == expected, timeout=4, message=f"no status {expected} after the restart")


def test_the_count_is_today_s_and_the_status_stays_within_the_protocol_s_limits() -> None:
    now = [int(dt.datetime(2026, 4, 2, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=9))).timestamp() * 1000)]
    health = KioskHealth(hoppers=lambda: {500: 250_000, 100: -3}, wall_ms=lambda: now[0])
    hour = 3_600_000
    health.refund_owed(now[0] - 8 * hour)  # 02:00: still the business day of 1 April
    health.refund_owed(now[0] - 1 * hour)
    health.refund_owed(now[0])
    health.read_hoppers()
    message = health.message()
    assert message.refunds_owed == 2 and message.in_service is None  # not started: not known
    assert message.cash == {"500": 100_000, "100": 0}
    # The status carrying it is sent, not refused by the protocol's limits.
    status = messages.DeviceStatus(state="online", role="kiosk", health=message)
    assert protocol.decode("device_status", protocol.encode(status)).health == message
    now[0] += 24 * hour  # the next day: nothing owed yet, without any event
    assert health.message().refunds_owed == 0
