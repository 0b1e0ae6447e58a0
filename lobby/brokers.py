"""MQTT brokers the tests and the demo start on their own: Mosquitto and an embedded amqtt.

Both runners share one small interface (:class:`Broker`): a loopback address that stays the same
for the runner's lifetime, and ``start``/``stop``/``restart``/``kill`` so a test can take the
broker away and bring it back while clients keep trying the same address.

* :class:`MosquittoBroker` runs the production broker as a child process with a configuration
  written next to its persistence database and log, so retained messages and persistent sessions
  survive a restart exactly as they do on the office server.
* :class:`EmbeddedBroker` runs amqtt in a thread of this process, for the zero-setup demo. It keeps
  everything in RAM; see its docstring for what that costs.

Importing this module only defines things: no logging configuration, no threads, no processes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol, Self, runtime_checkable

__all__ = [
    "Broker",
    "BrokerStartError",
    "EmbeddedBroker",
    "MosquittoBroker",
    "MosquittoNotFoundError",
    "free_port",
]

LOOPBACK = "127.0.0.1"
# Debian/Raspberry Pi OS install the broker in /usr/sbin, which is not on a normal user's PATH.
_MOSQUITTO_FALLBACK = "/usr/sbin/mosquitto"
_START_TIMEOUT_S = 10.0
_STOP_GRACE_S = 5.0
_POLL_INTERVAL_S = 0.02


class BrokerStartError(RuntimeError):
    """A broker did not accept connections in time, or exited while starting."""


class MosquittoNotFoundError(BrokerStartError):
    """The ``mosquitto`` executable is not installed."""


@runtime_checkable
class Broker(Protocol):
    """What tests and the demo need from a broker they run themselves."""

    @property
    def host(self) -> str:
        """Address clients connect to (always loopback)."""
        ...

    @property
    def port(self) -> int:
        """TCP port; unchanged by :meth:`restart`, so clients reconnect to the same address."""
        ...

    @property
    def url(self) -> str:
        """``mqtt://host:port``."""
        ...

    @property
    def running(self) -> bool:
        """True while the broker is (supposed to be) serving."""
        ...

    def start(self) -> None:
        """Start serving; return once the port accepts TCP connections."""
        ...

    def stop(self) -> None:
        """Shut down cleanly (a persistent broker saves its state)."""
        ...

    def restart(self) -> None:
        """:meth:`stop` then :meth:`start` on the same port."""
        ...

    def kill(self) -> None:
        """Stop as abruptly as the implementation allows (a crash or power cut)."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that nothing listens on right now.

    The kernel picks it, so parallel test runs do not collide; another process could still take
    it before the broker binds, which is rare enough on loopback to accept for tests.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_until_accepting(host: str, port: int, timeout: float, failed: Callable[[], str | None]) -> None:
    """Poll until ``host:port`` accepts TCP; ``failed()`` returns a reason to give up early."""
    deadline = time.monotonic() + timeout
    while True:
        reason = failed()
        if reason is not None:
            raise BrokerStartError(reason)
        if _accepts_connections(host, port):
            return
        if time.monotonic() >= deadline:
            raise BrokerStartError(f"nothing accepted connections on {host}:{port} within {timeout:.0f} s")
        time.sleep(_POLL_INTERVAL_S)


# --------------------------------------------------------------------------------------------
# Mosquitto
# --------------------------------------------------------------------------------------------


class _Lifecycle:
    """What both runners share: restart keeps the port, and ``with`` starts and stops."""

    _port: int

    @property
    def host(self) -> str:
        """Address clients connect to."""
        return LOOPBACK

    @property
    def port(self) -> int:
        """TCP port, the same across restarts."""
        return self._port

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:PORT``."""
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def restart(self) -> None:
        """Clean stop and start on the same port (the embedded broker loses all its state)."""
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        """Start the broker."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the broker."""
        self.stop()


class MosquittoBroker(_Lifecycle):
    """Mosquitto 2.0 as a child process on a loopback port, configured like the office broker.

    Files in ``workdir``: ``mosquitto.conf`` (written by :meth:`start`), ``mosquitto.db`` (the
    persistence database), ``mosquitto.log`` and ``mosquitto.stderr`` (early start-up errors that
    happen before the log file is open, such as a bad configuration line).

    With ``persistence`` (the default), retained messages, persistent sessions (clean session
    false) and the QoS 1/2 messages queued for them survive :meth:`stop`/:meth:`start`: Mosquitto
    saves its database when it exits on SIGTERM. After :meth:`kill` (SIGKILL) only what the last
    autosave wrote survives, i.e. changes of the last ``autosave_interval`` seconds are lost.
    """

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        persistence: bool = True,
        max_queued_messages: int = 100_000,
        max_inflight_messages: int = 20,
        autosave_interval: int = 1,
        extra_conf: str = "",
        executable: str | None = None,
        config_file: Path | None = None,
    ) -> None:
        """Prepare a broker; nothing is written or started until :meth:`start`.

        Args:
            workdir: directory for configuration, database and log; created if missing.
            port: loopback TCP port; a free one is chosen when None.
            persistence: keep retained messages and persistent sessions across restarts.
            max_queued_messages: per-client queue above the in-flight window. Mosquitto's default
                of 1000 silently drops QoS 1 messages for an offline or slow subscriber even
                though the publisher got its PUBACK; 0 means unlimited.
            max_inflight_messages: outgoing QoS 1/2 messages per client awaiting their ack.
            autosave_interval: seconds between database saves, bounding what a SIGKILL loses.
            extra_conf: appended verbatim to the generated configuration.
            executable: path of the mosquitto binary; found on PATH or in /usr/sbin when None.
            config_file: run this complete configuration as it is instead of writing one (the
                office's generated TLS configuration); it must listen on ``port`` (required
                then) and should log to :attr:`log_path`. The options above are then unused.
        """
        if config_file is not None and port is None:
            raise ValueError("MosquittoBroker(config_file=...) needs the port that configuration listens on")
        self._workdir = Path(workdir).resolve()
        self._port = port if port is not None else free_port(LOOPBACK)
        self._persistence = persistence
        self._max_queued_messages = max_queued_messages
        self._max_inflight_messages = max_inflight_messages
        self._autosave_interval = autosave_interval
        self._extra_conf = extra_conf
        self._executable = executable
        self._config_file = Path(config_file).resolve() if config_file is not None else None
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    # -- interface ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the child process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def workdir(self) -> Path:
        """Directory holding configuration, database and log."""
        return self._workdir

    @property
    def conf_path(self) -> Path:
        """The configuration it runs: the generated ``mosquitto.conf`` or ``config_file``."""
        return self._config_file if self._config_file is not None else self._workdir / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        """Mosquitto's own log file."""
        return self._workdir / "mosquitto.log"

    @property
    def db_path(self) -> Path:
        """The persistence database (exists after the first save)."""
        return self._workdir / "mosquitto.db"

    @property
    def pid(self) -> int | None:
        """Process id while running, for fault tests that send their own signals."""
        return self._process.pid if self.running and self._process is not None else None

    def config_text(self) -> str:
        """The configuration :meth:`start` writes (or the ``config_file`` it runs); each
        generated setting says why it is there."""
        if self._config_file is not None:
            return self._config_file.read_text()
        lines = [
            "# Generated by lobby.brokers.MosquittoBroker; rewritten on every start.",
            f"listener {self._port} {LOOPBACK}",
            "allow_anonymous true",
            # Mosquitto drops root privileges to the 'mosquitto' user, which cannot write a
            # test's temporary directory; naming the current user keeps the owner of workdir.
            # Ignored when not running as root.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            # The stock 1000 silently dropped 500 of 1,500 PUBACKed messages for an offline
            # subscriber (DESIGN decision 3).
            f"max_queued_messages {self._max_queued_messages}",
            # Kept bounded (20 is Mosquitto's default): beyond the window, messages wait in the
            # queue above, which is what persistence saves and max_queued_messages bounds;
            # unlimited would push everything into a slow client's socket buffer instead.
            f"max_inflight_messages {self._max_inflight_messages}",
        ]
        if self._persistence:
            lines += [
                "persistence true",
                f"persistence_location {self._workdir}/",
                "persistence_file mosquitto.db",
                # Saved on SIGTERM anyway; the autosave bounds what a SIGKILL loses.
                f"autosave_interval {self._autosave_interval}",
            ]
        else:
            lines.append("persistence false")
        lines += [
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]
        text = "\n".join(lines) + "\n"
        if self._extra_conf:
            text += self._extra_conf.rstrip("\n") + "\n"
        return text

    def log_tail(self, lines: int = 30) -> str:
        """Last lines of the log and of stderr, for error messages."""
        parts = []
        for path in (self.log_path, self._workdir / "mosquitto.stderr"):
            try:
                text = path.read_text(errors="replace")
            except FileNotFoundError:
                continue
            if text.strip():
                tail = "\n".join(text.splitlines()[-lines:])
                parts.append(f"--- {path.name} ---\n{tail}")
        return "\n".join(parts) or "(no log output)"

    def start(self) -> None:
        """Write the configuration, spawn mosquitto and wait until the port accepts connections.

        Raises:
            MosquittoNotFoundError: the binary is not installed.
            BrokerStartError: it exited or did not listen within 10 s (the log tail is included).
        """
        if self.running:
            return
        executable = self._find_executable()
        self._workdir.mkdir(parents=True, exist_ok=True)
        if self._config_file is None:
            self.conf_path.write_text(self.config_text())
        self._stderr = (self._workdir / "mosquitto.stderr").open("ab")
        # Same process group as ours: a Ctrl-C reaches the broker too, which then shuts down
        # cleanly (saving its database) instead of outliving an interrupted test run.
        self._process = subprocess.Popen(
            [executable, "-c", str(self.conf_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._stderr,
            stderr=self._stderr,
        )
        process = self._process

        def exited() -> str | None:
            code = process.poll()
            return None if code is None else f"mosquitto exited with status {code} while starting"

        try:
            _wait_until_accepting(self.host, self._port, _START_TIMEOUT_S, exited)
        except BrokerStartError as exc:
            self.kill()
            raise BrokerStartError(f"{exc} ({self.conf_path})\n{self.log_tail()}") from None

    def stop(self) -> None:
        """SIGTERM (Mosquitto saves its database), wait; SIGKILL after 5 s."""
        self._terminate(signal.SIGTERM, grace=_STOP_GRACE_S)

    def kill(self) -> None:
        """SIGKILL, like a crash or power cut: changes since the last autosave are lost."""
        self._terminate(signal.SIGKILL, grace=_STOP_GRACE_S)

    def reload(self) -> None:
        """SIGHUP: Mosquitto re-reads its configuration, ACL file, certificates and CRL without
        dropping connected clients. Returns at once; the log says when it has reloaded."""
        process = self._process
        if process is None or process.poll() is not None:
            raise BrokerStartError("mosquitto is not running: nothing to reload")
        process.send_signal(signal.SIGHUP)

    def __repr__(self) -> str:
        """Address and state, for test output."""
        return f"MosquittoBroker({self.url}, running={self.running}, workdir={self._workdir})"

    # -- internals ------------------------------------------------------------------------------

    def _find_executable(self) -> str:
        if self._executable is not None:
            if not (os.path.isfile(self._executable) and os.access(self._executable, os.X_OK)):
                raise MosquittoNotFoundError(f"mosquitto executable not found: {self._executable}")
            return self._executable
        found = shutil.which("mosquitto")
        if found is not None:
            return found
        if os.access(_MOSQUITTO_FALLBACK, os.X_OK):
            return _MOSQUITTO_FALLBACK
        raise MosquittoNotFoundError(
            "mosquitto is not installed (looked on PATH and at /usr/sbin/mosquitto); "
            "install the Debian package 'mosquitto': sudo apt-get install mosquitto "
            "(or run scripts/ensure-system-deps.sh)"
        )

    def _terminate(self, sig: signal.Signals, grace: float) -> None:
        process, self._process = self._process, None
        try:
            if process is not None and process.poll() is None:
                process.send_signal(sig)
                try:
                    process.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        finally:
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None


# --------------------------------------------------------------------------------------------
# Embedded amqtt
# --------------------------------------------------------------------------------------------


class EmbeddedBroker(_Lifecycle):
    """amqtt 0.12.1 in a background thread with its own event loop, on a loopback port.

    For the zero-setup demo and for tests that must hold on both brokers. Differences from
    Mosquitto that client code has to live with:

    * **Everything is in RAM.** A :meth:`stop`/:meth:`restart` loses retained messages,
      sessions, subscriptions and queued messages; clients must re-subscribe and state
      publishers must re-publish their retained documents after reconnecting.
    * **Anonymous sessions are never persistent.** With ``allow_anonymous=True`` (the default)
      amqtt marks *every* session anonymous, even one that sends a username, and then neither
      queues QoS 1 messages for it while it is offline nor keeps its subscriptions. With
      ``allow_anonymous=False`` any client that sends a username (no password check) is
      accepted and gets a real persistent session; clients without a username are refused.
    * **Queued messages arrive flagged as retained.** The backlog of a persistent session is sent
      with the RETAIN flag set (Mosquitto clears it), so a receiver must not take the flag to
      mean "state snapshot"; the topic and the payload's version say what a message is.
    * MQTT 3.1.1 only; in-flight QoS 1 messages are not resent after a reconnect (amqtt #401).
    * Harmless but loud: "Received PUBACK for unknown pending message Id" warnings under load
      (amqtt registers its PUBACK waiter only after writing the PUBLISH, so a fast client's ack
      can arrive first; the message was delivered), and "performing take-over" when a client
      reconnects before amqtt has noticed the old connection close.

    :meth:`kill` is the same as :meth:`stop`: there is no process to kill.
    """

    def __init__(self, port: int | None = None, *, allow_anonymous: bool = True) -> None:
        """Prepare a broker; nothing runs until :meth:`start`.

        Args:
            port: loopback TCP port; a free one is chosen when None.
            allow_anonymous: see the class docstring; False is needed for persistent sessions.
        """
        self._port = port if port is not None else free_port(LOOPBACK)
        self._allow_anonymous = allow_anonymous
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def running(self) -> bool:
        """True while the broker thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def config(self) -> dict[str, Any]:
        """The amqtt configuration dictionary (amqtt.contexts.BrokerConfig.from_dict format)."""
        return {
            "listeners": {
                "default": {
                    "type": "tcp",
                    "bind": f"{LOOPBACK}:{self._port}",
                    "max_connections": 0,
                },
            },
            # Listing plugins replaces amqtt's defaults, which add two packet/event loggers and
            # the $SYS publisher; only authentication is needed.
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {
                    "allow_anonymous": self._allow_anonymous,
                },
            },
        }

    def start(self) -> None:
        """Start the broker thread; return once the port accepts connections.

        Raises:
            BrokerStartError: amqtt failed to start (e.g. the port is taken) or did not listen
                within 10 s.
        """
        if self.running:
            return
        # amqtt logs every packet and state change at INFO/DEBUG; done here rather than at
        # import so that importing this module never changes logging.
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._started.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name=f"amqtt-broker-{self._port}", daemon=True)
        self._thread.start()
        if not self._started.wait(_START_TIMEOUT_S):
            self.stop()
            raise BrokerStartError(f"amqtt on port {self._port} did not start within {_START_TIMEOUT_S:.0f} s")
        if self._error is not None:
            error = self._error
            self.stop()
            raise BrokerStartError(f"amqtt on port {self._port} failed to start: {error}") from error
        # No TCP probe here: amqtt's start() returns after the listening socket is bound, and a
        # probe that connects without sending CONNECT makes amqtt log two errors per start.

    def stop(self) -> None:
        """Shut amqtt down (disconnecting clients) and join its thread."""
        thread, loop, stop_requested = self._thread, self._loop, self._stop_requested
        if thread is None:
            return
        if loop is not None and stop_requested is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop_requested.set)
            except RuntimeError:  # the loop closed between the check and the call
                pass
        thread.join(timeout=_STOP_GRACE_S * 2)
        self._thread = None
        if thread.is_alive():
            raise RuntimeError(f"amqtt broker thread on port {self._port} did not stop")

    def kill(self) -> None:
        """Same as :meth:`stop`: an in-process broker cannot be killed on its own."""
        self.stop()

    def __repr__(self) -> str:
        """Address and state, for test output."""
        return f"EmbeddedBroker({self.url}, running={self.running})"

    # -- broker thread --------------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except Exception as exc:  # noqa: BLE001 - start() raises it; a thread must not die silently
            self._error = self._error or exc
        finally:
            self._started.set()
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    async def _serve(self) -> None:
        # Imported here, not at module level: amqtt takes ~0.1 s to import (websockets,
        # transitions, ...) and only the demo and some tests need it.
        from amqtt.broker import Broker as AmqttBroker

        self._stop_requested = asyncio.Event()
        try:
            # A new amqtt Broker per start: it binds to the running loop at construction, and a
            # fresh one makes explicit that nothing survives a restart.
            broker = AmqttBroker(self.config(), loop=asyncio.get_running_loop())
            await broker.start()
        except Exception as exc:  # noqa: BLE001 - start() raises it in the caller's thread
            self._error = exc
            return
        self._started.set()
        try:
            await self._stop_requested.wait()
        finally:
            await broker.shutdown()
