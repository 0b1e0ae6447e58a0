"""The device side of a serial line on the master end of a real pty: what the serial fakes share.

A fake device (the keypad, the LED panel, the ccTalk bus) sits behind a real serial port so
that the driver under test opens it like hardware (STYLE.md, practice 4). :class:`PtyDevice`
does the plumbing: :meth:`~PtyDevice.plug` opens a pty pair in raw mode (a UART has no line
discipline: no echo, no CR/LF translation), points an optional symlink standing in for
``/dev/serial/by-id/…`` at the slave, and starts a reader thread; :meth:`~PtyDevice.write`
sends bytes to the host; :meth:`~PtyDevice.unplug` stops the thread, closes the pty and removes
the link, as pulling the USB cable removes the tty.

A subclass only handles bytes: :meth:`~PtyDevice.received` gets what the host wrote, on the
reader thread; :meth:`~PtyDevice.tick` runs after every read and after every ``tick_s`` of
quiet, for devices with timers.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import tty
from pathlib import Path
from types import TracebackType
from typing import Self

log = logging.getLogger(__name__)

READ_SIZE = 4096


class Unplugged(RuntimeError):
    """A write to a fake device whose cable was pulled."""


class PtyDevice:
    """A serial device's side of a real pty; the host opens :attr:`path` as an ordinary port.

    ``link``: a symlink to the pty's slave, replaced atomically when the device is plugged in
    (as udev does) and removed when it is unplugged, unless it points elsewhere by then.
    """

    name = "fake serial device"  # names the reader thread and the device in messages
    tick_s = 0.05  # how long the reader waits for bytes before it calls tick() anyway

    def __init__(self, *, link: str | os.PathLike[str] | None = None) -> None:
        self.link = Path(link) if link is not None else None
        self.slave_path = ""
        self._master = -1
        self._slave = -1
        self._plugged = False
        # Held around every write and while unplugging starts: no write can reach a descriptor
        # after it was closed (or, worse, after its number was reused for another file).
        self._io = threading.Lock()
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None

    # -- what a subclass handles ------------------------------------------------------------------

    def received(self, data: bytes) -> None:
        """Bytes the host wrote (called on the reader thread)."""

    def tick(self) -> None:
        """Time passed: after every read, and after ``tick_s`` without one (on the reader thread)."""

    # -- the cable --------------------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The path the driver should open: ``link`` if given, else the pty's slave."""
        if not self.slave_path:
            raise RuntimeError(f"the {self.name} was never plugged in: call plug() first")
        return str(self.link) if self.link is not None else self.slave_path

    @property
    def plugged(self) -> bool:
        """Whether the pty is open."""
        return self._plugged

    def plug(self) -> None:
        """Open a new pty, point ``link`` at it and start reading (nothing if already plugged)."""
        with self._io:
            if self._plugged:
                return
            master, slave = os.openpty()
            try:
                tty.setraw(slave)
                # Like a UART nobody reads: bytes beyond the buffer are lost, the device never blocks.
                os.set_blocking(master, False)
                slave_path = os.ttyname(slave)
                if self.link is not None:
                    tmp = self.link.with_name(self.link.name + ".new")
                    tmp.unlink(missing_ok=True)
                    tmp.symlink_to(slave_path)
                    tmp.replace(self.link)  # atomic, as udev updates its links
            except BaseException:
                os.close(master)
                os.close(slave)
                raise
            self._master, self._slave, self.slave_path = master, slave, slave_path
            self._plugged = True
            self._stop = threading.Event()
            self._reader = threading.Thread(target=self._read, args=(master, self._stop), name=self.name, daemon=True)
            self._reader.start()

    def unplug(self) -> None:
        """Pull the cable: stop reading, close the pty, remove the link (idempotent)."""
        with self._io:
            if not self._plugged:
                return
            self._plugged = False
            self._stop.set()
            reader, master, slave = self._reader, self._master, self._slave
            self._reader = None
            self._master = self._slave = -1
        # Joined outside the lock: the reader may be waiting for it inside write().
        if reader is not None and reader is not threading.current_thread():
            reader.join(timeout=2.0)
        os.close(master)
        os.close(slave)
        link = self.link
        if link is not None and link.is_symlink() and os.readlink(link) == self.slave_path:
            link.unlink()

    def close(self) -> None:
        """The same as :meth:`unplug`."""
        self.unplug()

    def write(self, data: bytes) -> None:
        """Send ``data`` to the host. :class:`Unplugged` when the cable is pulled."""
        with self._io:
            if not self._plugged:
                raise Unplugged(f"the {self.name} is unplugged")
            try:
                os.write(self._master, data)
            except BlockingIOError:
                pass  # nobody is reading: the bytes are lost, as on a real line

    def __enter__(self) -> Self:
        self.plug()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.unplug()

    # -- the reader -------------------------------------------------------------------------------

    def _read(self, master: int, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                ready = select.select([master], [], [], self.tick_s)[0]
                data = os.read(master, READ_SIZE) if ready else b""
                if data:
                    self.received(data)
                self.tick()
            except (BlockingIOError, InterruptedError):
                continue
            except Unplugged:
                return  # the cable was pulled while the device answered: the answer is lost
            except (OSError, ValueError) as err:
                if not stop.is_set():  # otherwise the pty was closed under us by unplug()
                    log.warning("%s: %s", self.name, err)
                return
