"""A serial device driven by one worker thread: what the keypad and the LED panel share.

The port is opened in the worker, so a device missing at start is a reported state, never an
exception; a port that fails is closed and reopened by its path every ``reopen_interval``
seconds (configure the udev ``/dev/serial/by-id/…`` link: a replugged USB device may come back
as another ttyUSB). Subclasses say what a port needs, what to reset when one opens or closes,
what one step of work is, and what state they are in.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from enum import Enum
from types import TracebackType
from typing import Any, ClassVar, Self

log = logging.getLogger(__name__)


class SerialWorker:
    """Owns one serial port and the thread that uses it."""

    kind: ClassVar[str] = "serial device"  # in log lines and the thread's name
    lost_port_reason: ClassVar[str] = "port failed"  # how last_error describes a lost port

    def __init__(
        self,
        url: str,
        *,
        on_state: Callable[[Any], None] | None,
        reopen_interval: float,
        baudrate: int,
        initial_state: Enum,
    ) -> None:
        self.url = url
        self._on_state = on_state
        self._reopen_interval = reopen_interval
        self._baudrate = baudrate
        self._lock = threading.Lock()  # guards the port and the subclass's fields
        self._port: Any = None
        self._closed = False
        self._reported_state: Enum = initial_state
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what a subclass provides --------------------------------------------------------------

    @property
    def state(self) -> Enum:
        """The device's state now."""
        raise NotImplementedError

    def _port_options(self) -> dict[str, Any]:
        """Keyword arguments for ``serial_for_url`` besides the baud rate (timeouts)."""
        return {}

    def _port_opened(self) -> None:
        """A port was just opened (caller holds the lock): reset what a fresh device needs."""

    def _port_closed(self) -> None:
        """The port was just closed (caller holds the lock)."""

    def _step(self) -> None:
        """One unit of work on the open port; serial or OS errors mean the port is lost."""
        raise NotImplementedError

    def _wake_worker(self) -> None:
        """Interrupt a wait in :meth:`_step` (closing must not wait out a timer)."""

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the worker (the port is opened there, so a missing device never raises)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"{self.kind} {self.url}", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop the worker and close the port."""
        self._stop.set()
        self._wake_worker()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        with self._lock:
            self._closed = True
            self._close_port()
        self._notify_state()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- the worker thread -----------------------------------------------------------------------

    def _run(self) -> None:
        import serial  # here, not at module level: codecs, parsers and fakes need no pyserial

        while not self._stop.is_set():
            if self._port is None:
                opened = self._open(serial)
                self._notify_state()
                if not opened:
                    self._stop.wait(self._reopen_interval)
                    continue
            try:
                self._step()
            except (serial.SerialException, OSError) as err:
                # The USB device was pulled out, or the pty's other end closed (SerialException
                # is an OSError; so is a write timeout: a wedged line is treated as a lost port).
                self.last_error = f"{self.lost_port_reason}: {err}"
                log.warning("%s %s: lost the port: %s", self.kind, self.url, err)
                with self._lock:
                    self._close_port()
            self._notify_state()

    def _open(self, serial: Any) -> bool:
        try:
            port = serial.serial_for_url(self.url, baudrate=self._baudrate, **self._port_options())
        except (serial.SerialException, OSError, ValueError) as err:
            message = f"cannot open: {err}"
            if message != self.last_error:
                log.warning("%s %s: %s", self.kind, self.url, message)  # once per distinct cause, not per retry
            self.last_error = message
            return False
        with self._lock:
            self._port = port
            self._port_opened()
        log.info("%s %s: port open", self.kind, self.url)
        return True

    def _close_port(self) -> None:
        # Caller holds self._lock.
        if self._port is not None:
            try:
                self._port.close()
            except OSError as err:  # closing a vanished device may fail; it is gone either way
                log.debug("%s %s: close: %s", self.kind, self.url, err)
            self._port = None
        self._port_closed()

    def _notify_state(self) -> None:
        state = self.state
        if state is self._reported_state:
            return
        self._reported_state = state
        log.info("%s %s: %s", self.kind, self.url, state.value)
        if self._on_state is not None:
            try:
                self._on_state(state)
            except Exception:
                log.exception("%s %s: on_state callback failed", self.kind, self.url)
