"""Tell systemd we are alive: ``sd_notify`` over ``$NOTIFY_SOCKET``, standard library only.

The units in deploy/systemd set ``WatchdogSec=``: systemd then passes the interval in
``$WATCHDOG_USEC`` and restarts the app when no ``WATCHDOG=1`` arrives within it. An app that
hangs (a stuck serial read, a deadlocked UI thread) is restarted, not left frozen in the lobby.

    dog = Watchdog.from_environment()        # once, in main()
    dog.ready()                              # start-up done (Type=notify units wait for it)
    dog.kick()                               # from the app's main loop, as often as you like

:meth:`Watchdog.kick` sends at most one ``WATCHDOG=1`` per half interval, so it may be called
on every loop iteration. Call it from the loop that must keep running (Kivy's clock for the
screens), never from a thread of its own: a feeder thread would keep a frozen app alive.

Outside systemd (``$NOTIFY_SOCKET`` unset) everything here is a no-op returning False.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Watchdog", "feed_from_kivy", "notify", "watchdog_interval_s"]

log = logging.getLogger(__name__)


def _address(value: str) -> str | None:
    """The socket address named by ``$NOTIFY_SOCKET``: a path, or ``@name`` (abstract)."""
    if value.startswith("@"):
        return "\0" + value[1:]  # Linux abstract namespace
    if value.startswith("/"):
        return value
    return None  # vsock addresses and the like: not ours to handle


def notify(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``message`` (``READY=1``, ``WATCHDOG=1``, ``STATUS=…``) to systemd.

    True when it was sent; False when not running under systemd (no ``$NOTIFY_SOCKET``) or the
    socket cannot be reached (logged once per call at debug level: systemd may be restarting).
    """
    env = os.environ if environ is None else environ
    address = _address(env.get("NOTIFY_SOCKET", ""))
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode("utf-8"), address)
    except OSError as err:
        log.debug("sd_notify %r to %s failed: %s", message, env.get("NOTIFY_SOCKET"), err)
        return False
    return True


def watchdog_interval_s(environ: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """systemd's watchdog interval in seconds (``$WATCHDOG_USEC``), or None when there is none.

    ``$WATCHDOG_PID``, when set, must be this process: a child that inherited the variables
    must not feed its parent's watchdog.
    """
    env = os.environ if environ is None else environ
    raw = env.get("WATCHDOG_USEC")
    if not raw:
        return None
    owner = env.get("WATCHDOG_PID")
    if owner and owner != str(os.getpid() if pid is None else pid):
        return None
    try:
        usec = int(raw)
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 else None


class Watchdog:
    """Feeds systemd's watchdog from the app's own loop; a no-op outside systemd."""

    def __init__(
        self,
        interval_s: float | None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``interval_s`` is systemd's timeout (None: no watchdog); pings go every half of it."""
        self.interval_s = interval_s
        self._environ = environ
        self._clock = clock
        self._last: float | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Watchdog:
        """The watchdog systemd asked for (through ``$WATCHDOG_USEC``), or an inert one."""
        return cls(watchdog_interval_s(environ), environ)

    @property
    def enabled(self) -> bool:
        """True when systemd expects pings."""
        return self.interval_s is not None

    def ready(self) -> bool:
        """Say start-up is done (``READY=1``); sends even without a watchdog interval."""
        return notify("READY=1", self._environ)

    def status(self, text: str) -> bool:
        """A one-line status shown by ``systemctl status``."""
        return notify("STATUS=" + text.replace("\n", " "), self._environ)

    def kick(self) -> bool:
        """Ping the watchdog if half the interval has passed since the last ping; True if sent."""
        if self.interval_s is None:
            return False
        now = self._clock()
        if self._last is not None and now - self._last < self.interval_s / 2:
            return False
        sent = notify("WATCHDOG=1", self._environ)
        if sent:
            self._last = now
        return sent

    def stopping(self) -> bool:
        """Say a clean stop has begun (``STOPPING=1``)."""
        return notify("STOPPING=1", self._environ)


def feed_from_kivy(clock: Any) -> Watchdog:
    """Ready, then pings from Kivy's own loop (``kivy.clock.Clock``): a hung UI thread stops
    them and systemd restarts the app. Inert without ``$NOTIFY_SOCKET``/``$WATCHDOG_USEC``."""
    watchdog = Watchdog.from_environment()
    clock.schedule_once(lambda dt: watchdog.ready(), 0)
    if watchdog.enabled:
        clock.schedule_interval(lambda dt: watchdog.kick(), 5.0)
    return watchdog
