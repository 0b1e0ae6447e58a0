"""A small typed wrapper over paho-mqtt 2.x: the only module that imports paho.

paho's callbacks run on paho's network thread; here they only translate what arrived into our own
value types and hand it to the owner's callbacks, which must only queue work (STYLE.md, 8).
MQTT 3.1.1 features only, so the same code runs on Mosquitto and on the embedded amqtt broker.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from sync.errors import SyncError

log = logging.getLogger(__name__)


class LinkError(SyncError):
    """The broker URL or link settings are unusable."""


# Query parameters of an mqtts:// URL that name the TLS files (see BrokerAddress).
_TLS_PARAMS = ("ca", "cert", "key", "server_time")
# OpenSSL's X509_V_FLAG_NO_CHECK_TIME (not exported by the ssl module).
_NO_CHECK_TIME = 0x200000


@dataclass(frozen=True)
class BrokerAddress:
    """Where the broker is, parsed from ``mqtt://[user:pass@]host:port`` or
    ``mqtts://host:port/?ca=FILE&cert=FILE&key=FILE[&server_time=ignore]``.

    TLS options (mqtts only): ``ca`` is the CA to trust instead of the system's (the office CA:
    the broker's certificate must name ``host``); ``cert`` and ``key`` are this client's
    certificate and key (``key`` may be left out when ``cert`` holds both).
    ``server_time=ignore`` skips the validity dates of the broker's certificate, and needs
    ``ca``: a lobby device has no battery-backed clock and may boot with a date years off,
    and it must still reach the office to learn the time (DESIGN.md, decision 6). The CA is
    pinned and the broker still checks the device's certificate dates against its own clock.
    """

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    check_server_time: bool = True

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """Parse a broker URL; the error says what a valid one looks like."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise LinkError(f"broker URL {url!r} is invalid: use mqtt://host:port (or mqtts:// for TLS)")
        try:
            port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        except ValueError as err:
            raise LinkError(f"broker URL {url!r} has an invalid port") from err
        tls = parts.scheme == "mqtts"
        options: dict[str, str] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key not in _TLS_PARAMS:
                raise LinkError(
                    f"broker URL option {key!r} is unknown: use {', '.join(_TLS_PARAMS)} (e.g. ?ca=/path/ca.pem)"
                )
            if not value:
                raise LinkError(f"broker URL option {key!r} is empty: give a file path")
            options[key] = value
        if options and not tls:
            raise LinkError(f"broker URL {url!r} has TLS options: use mqtts:// (TLS) with them")
        server_time = options.get("server_time", "check")
        if server_time not in ("check", "ignore"):
            raise LinkError(f"broker URL option server_time={server_time!r} is invalid: use ignore or check")
        if server_time == "ignore" and "ca" not in options:
            raise LinkError("broker URL option server_time=ignore needs ca=FILE (the pinned office CA)")
        if "key" in options and "cert" not in options:
            raise LinkError("broker URL option key= needs cert= (the client certificate) too")
        return cls(
            parts.hostname,
            port,
            parts.username,
            parts.password,
            tls,
            options.get("ca"),
            options.get("cert"),
            options.get("key"),
            server_time == "check",
        )

    def tls_context(self) -> ssl.SSLContext:
        """The client TLS context these options describe: the broker's certificate must chain to
        ``ca`` (or a system CA) and name ``host``; LinkError naming the file that is unusable."""
        try:
            context = ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as err:
            raise LinkError(f"cannot use CA file {self.ca_file}: {_why(err)}") from err
        if self.cert_file is not None:
            try:
                context.load_cert_chain(self.cert_file, self.key_file)
            except (OSError, ssl.SSLError) as err:
                raise LinkError(
                    f"cannot use client certificate {self.cert_file} with key {self.key_file or self.cert_file}: "
                    f"{_why(err)}"
                ) from err
        if not self.check_server_time:
            context.verify_flags |= _NO_CHECK_TIME
        return context


def _why(err: OSError | ssl.SSLError) -> str:
    if isinstance(err, ssl.SSLError):
        return err.reason or str(err)
    return err.strerror or str(err)


@dataclass(frozen=True)
class Inbound:
    """A message as it reached us. ``retained`` is True for a stored message replayed on
    subscribe (its timestamps are old: never learn the time from it)."""

    topic: str
    payload: bytes
    retained: bool


@dataclass(frozen=True)
class Will:
    """The last will the broker publishes when we vanish without a clean disconnect."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


class MqttLink:
    """One MQTT connection that reconnects by itself and resubscribes on every connect.

    ``on_ready`` is called (on paho's thread) once every subscription of a connection has been
    acknowledged by the broker: only then may the owner announce itself, so nobody sends to us
    before we can hear it. ``on_down`` is called when the connection is lost.
    """

    def __init__(
        self,
        url: str,
        client_id: str,
        *,
        subscriptions: Sequence[tuple[str, int]],
        on_message: Callable[[Inbound], None],
        on_ready: Callable[[], None] | None = None,
        on_down: Callable[[str], None] | None = None,
        will: Will | None = None,
        keepalive: int = 10,
        max_inflight: int = 100,
        tls_context: Any = None,
    ) -> None:
        self.address = BrokerAddress.parse(url)
        self._subscriptions = list(subscriptions)
        self._on_message = on_message
        self._on_ready = on_ready
        self._on_down = on_down
        self._keepalive = keepalive
        self._ready = threading.Event()
        self._pending_subs: set[int] = set()
        self._lock = threading.Lock()
        self._started = False
        self._stopping = False
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=True,
            protocol=paho.MQTTv311,
        )
        if self.address.username:
            client.username_pw_set(self.address.username, self.address.password)
        if self.address.tls:
            # Hostname checking stays on: paho takes it from the context.
            client.tls_set_context(tls_context if tls_context is not None else self.address.tls_context())
        if will is not None:
            client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        # paho's own queue lives in RAM only; our outbox is the durable one, so an unlimited
        # paho queue just holds what is already safe on disk.
        client.max_inflight_messages_set(max_inflight)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_subscribe = self._handle_subscribe
        client.on_message = self._handle_message
        self._client = client

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; keeps retrying until :meth:`stop`."""
        with self._lock:
            if self._started:
                return
            self._started = True
        self._client.connect_async(self.address.host, self.address.port, keepalive=self._keepalive)
        self._client.loop_start()

    def stop(self, final: tuple[str, bytes, int, bool] | None = None) -> None:
        """Disconnect cleanly (the will is not published); ``final`` is sent first if connected."""
        with self._lock:
            if not self._started:
                return
            self._started = False
        if final is not None and self._ready.is_set():
            info = self._client.publish(final[0], final[1], qos=final[2], retain=final[3])
            try:
                info.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError):
                pass  # not connected after all: the will covers it
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()
        self._ready.clear()

    @property
    def ready(self) -> bool:
        """Connected and every subscription acknowledged."""
        return self._ready.is_set()

    def wait_ready(self, timeout: float) -> bool:
        """Block until ready or ``timeout`` seconds passed."""
        return self._ready.wait(timeout)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> bool:
        """Hand a message to paho. True when paho accepted it for sending now.

        False does not mean it was lost, nor True that it was delivered (DESIGN.md, 3): only the
        office's application-level ack counts, and the caller's resend logic relies on that.
        """
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        return info.rc == paho.MQTT_ERR_SUCCESS

    # -- paho callbacks (paho's network thread) ----------------------------------------------

    def _handle_connect(self, client: paho.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.warning("broker %s:%s refused the connection: %s", self.address.host, self.address.port, reason)
            return
        log.info("connected to broker %s:%s", self.address.host, self.address.port)
        if not self._subscriptions:
            self._mark_ready()
            return
        result, mid = client.subscribe(self._subscriptions)
        if result == paho.MQTT_ERR_SUCCESS and mid is not None:
            self._pending_subs = {mid}

    def _handle_subscribe(self, _client: paho.Client, _userdata: Any, mid: int, reasons: Any, _props: Any) -> None:
        failed = [r for r in reasons if getattr(r, "is_failure", False)]
        if failed:
            log.error("broker refused subscriptions: %s", failed)
        self._pending_subs.discard(mid)
        if not self._pending_subs:
            self._mark_ready()

    def _mark_ready(self) -> None:
        self._ready.set()
        if self._on_ready is not None:
            self._on_ready()

    def _handle_disconnect(self, _client: paho.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        was_ready = self._ready.is_set()
        self._ready.clear()
        if was_ready and not self._stopping:
            log.warning("lost the broker connection: %s", reason)
        if self._on_down is not None:
            self._on_down(str(reason))

    def _handle_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        self._on_message(Inbound(message.topic, bytes(message.payload), bool(message.retain)))
