"""The console's live state: the newest :class:`~office.staff_view.StaffView`, and who waits for it.

The office loop calls :meth:`Hub.changed` after each committed change (on its own thread). The
hub builds a new view from the store over its own read-only connection, in a worker thread so
the event loop keeps serving, one build at a time: changes that arrive meanwhile make one more
build, not one each. Every open event stream then wakes, renders what changed for its screen
and sends it. A view is also rebuilt every :data:`REFRESH_S` without a change, so ages and
"last seen" keep moving on a quiet afternoon.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from office.db import OfficeDB
from office.domain import Ticket
from office.staff_view import StaffView, build
from sync.site import SiteConfig

log = logging.getLogger(__name__)

REFRESH_S = 15.0


class Hub:
    """The newest view, rebuilt on every change the office announces."""

    def __init__(
        self,
        config: SiteConfig,
        db_path: Path | str,
        *,
        clock: Callable[[], int],
        business_day: Callable[[int], str],
        day_start_ms: Callable[[int], int],
        samples: Callable[[], Mapping[str, Sequence[float]]],
        input_station: str,
        kept_tickets: Callable[[], tuple[str, Mapping[str, Ticket]] | None] = lambda: None,
    ) -> None:
        self.config = config
        self.kept_tickets = kept_tickets
        self.db_path = db_path
        self.clock = clock
        self.business_day = business_day
        self.day_start_ms = day_start_ms
        self.samples = samples
        self.input_station = input_station
        self.view: StaffView | None = None
        self.stats: Tally[str] = Tally()
        self.streams = 0
        self._office_version = 0
        self._built_for = -1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event = asyncio.Event()
        self._building = False
        self._db: OfficeDB | None = None
        self._db_lock = threading.Lock()  # builds and page reads share the read-only connection
        self._refresher: asyncio.Task[None] | None = None
        self.built_ms: dict[int, float] = {}  # office version -> when its view was ready (bench)

    # -- life ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Attach to the running event loop and build the first view."""
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        await self._build()
        self._refresher = asyncio.create_task(self._refresh())

    async def stop(self) -> None:
        """Stop refreshing and close the connection."""
        if self._refresher is not None:
            self._refresher.cancel()
        with self._db_lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def changed(self, office_version: int) -> None:
        """The office committed a change (called on the office loop's thread)."""
        self._office_version = office_version
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._kick)

    # -- reading ---------------------------------------------------------------------------

    def read(self, what: Callable[[OfficeDB], object]) -> object:
        """Run ``what`` on the read-only store (a page's own query: accounts, the audit log)."""
        with self._db_lock:
            return what(self._store())

    async def read_async(self, what: Callable[[OfficeDB], object]) -> object:
        """:meth:`read` in a worker thread."""
        return await asyncio.to_thread(self.read, what)

    async def wait(self, seen: int, timeout: float) -> bool:
        """Wait for a view newer than version ``seen``; False on timeout."""
        if self.view is not None and self.view.version != seen:
            return True
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # -- building --------------------------------------------------------------------------

    def _kick(self) -> None:
        if not self._building:
            asyncio.ensure_future(self._build())

    async def _build(self) -> None:
        self._building = True
        try:
            while self._built_for != self._office_version or self.view is None:
                wanted = self._office_version
                try:
                    view = await asyncio.to_thread(self._build_now, wanted)
                except Exception:
                    self.stats["build_errors"] += 1
                    log.exception("console: the staff view could not be built")
                    return
                self._publish(view, wanted)
        finally:
            self._building = False

    def _publish(self, view: StaffView, office_version: int) -> None:
        self.view = view
        self._built_for = office_version
        self.built_ms[office_version] = time.monotonic()
        if len(self.built_ms) > 1000:
            self.built_ms.pop(next(iter(self.built_ms)))
        self.stats["views"] += 1
        old, self._event = self._event, asyncio.Event()
        old.set()

    def _build_now(self, office_version: int) -> StaffView:
        now = self.clock()
        today = self.business_day(now)
        # The day's tickets as the office committed them (no SQLite read of the whole day);
        # everything else the view shows is read from the store.
        kept = self.kept_tickets()
        day_tickets = kept[1] if kept is not None and kept[0] == today else None
        with self._db_lock:
            db = self._store()
            return build(
                self.config,
                db,
                version=(self.view.version + 1) if self.view is not None else 1,
                now_ms=now,
                today=today,
                day_start_ms=self.day_start_ms(now),
                samples=self.samples(),
                input_station=self.input_station,
                day_tickets=day_tickets,
            )

    def _store(self) -> OfficeDB:
        if self._db is None:
            self._db = OfficeDB.read_only(self.db_path)
        return self._db

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            if not self._building:
                self._built_for = -1  # same office version, newer clock
                await self._build()
