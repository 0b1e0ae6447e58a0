"""Filling the statistics' cache of closed days beside the office loop (the edge: a thread).

The console reads through a read-only connection and cannot cache a day itself; the office loop
must not spend seconds of its own turn on it either (devices and staff wait for that turn). So
the loop kicks this warmer once a business day, and it makes the missing days one by one on a
connection of its own: each day's write is one short transaction, which the loop's writes wait
for at most a moment (SQLite's one writer, WAL). A first year takes some seconds this way.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from office.db import OfficeDB
from office.stats import store

log = logging.getLogger(__name__)

PAUSE_S = 0.05  # between two days: the office loop's thread gets the interpreter meanwhile


class Warmer:
    """Caches the closed days of the store at ``path`` on a thread, when kicked."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self.days_made = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def kick(self, today: str) -> bool:
        """Start making the days before ``today`` not cached yet; False when a run is still on."""
        with self._lock:
            if self._stop.is_set() or (self._thread is not None and self._thread.is_alive()):
                return False
            self._thread = threading.Thread(target=self._run, args=(today,), name="stats-warm", daemon=True)
            self._thread.start()
            return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the current run to end; False when it is still on after ``timeout``."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """No more runs; the current one ends after the day it is making."""
        self._stop.set()
        self.wait(timeout)

    def _run(self, today: str) -> None:
        try:
            db = OfficeDB(self.path)
        except Exception:
            log.exception("statistics: the store could not be opened to cache closed days")
            return
        try:
            while not self._stop.is_set():
                made = store.warm(db, today, max_days=1)
                if made == 0:
                    break
                self.days_made += made
                self._stop.wait(PAUSE_S)
            if self.days_made:
                log.info("statistics: %d closed days cached", self.days_made)
        except Exception:
            # The pages still work (they make an uncached day from the log): log and go on.
            log.exception("statistics: caching closed days failed (tried again tomorrow)")
        finally:
            db.close()
