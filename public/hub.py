"""The held feed of a running process, and who is waiting to hear it changed.

One writer: the feed endpoint and the expiry task, both on the server's event loop, replace
the :class:`public.feed.Held` value whole (:meth:`Hub.apply`); page requests read the current
value without a lock (a reference read is atomic, and the value is never changed in place).
Open event streams subscribe to one ticket key (or to the congestion page); a change wakes
only the streams whose page changed, each at most once however many feeds came in between -
a slow phone gets the newest state, not a backlog.

The hub is the only place that knows the feed changed, so it also tells the :class:`Keeper`
to put the new value on disk; the keeper writes from a worker thread, newest value only.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import tzinfo

from public import feed as feedmod
from public.feed import Applied, Held
from public.store import FeedFile
from sync.messages import PublicFeed, PublicTicket

__all__ = ["CONGESTION", "Hub", "Keeper", "Subscription"]

log = logging.getLogger(__name__)

CONGESTION = ""  # the subscription key of the congestion page (ticket keys are 64 hex digits)


class Subscription:
    """One open event stream's wake-up: set when its page changed since it last looked."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._event = asyncio.Event()
        self.closed = False

    def wake(self) -> None:
        """Mark the page changed (coalesces: many wakes before a wait are one)."""
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        """Whether the page changed within ``timeout`` seconds (False: time for a keep-alive)."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        self._event.clear()
        return True


class Hub:
    """The process's held feed, its subscribers and its counters."""

    def __init__(
        self,
        held: Held,
        zone: tzinfo,
        rollover_hour: int,
        clock_ms: Callable[[], int],
        keeper: Keeper | None = None,
    ) -> None:
        self._held = held
        self.zone = zone
        self.rollover_hour = rollover_hour
        self.clock_ms = clock_ms
        self.keeper = keeper
        self._subscribers: dict[str, set[Subscription]] = {}
        self.stats: Counter[str] = Counter()

    @property
    def held(self) -> Held:
        """The current held value (never changed in place)."""
        return self._held

    def ticket(self, token_text: str) -> PublicTicket | None:
        """The live ticket a page address names, or None (malformed, unknown, expired alike)."""
        return feedmod.ticket(self._held, token_text, self.clock_ms(), self.zone, self.rollover_hour)

    def ticket_by_key(self, key: str) -> PublicTicket | None:
        """The live ticket filed under ``key`` (an open stream re-reading its page)."""
        held = self._held
        found = held.tickets.get(key)
        return found if found is not None and self.live() else None

    def live(self) -> bool:
        """Whether the held business day has not ended."""
        return feedmod.is_live(self._held, self.clock_ms(), self.zone, self.rollover_hour)

    def apply(self, feed: PublicFeed) -> Applied:
        """Take ``feed`` (on the event loop only: the one writer)."""
        applied = feedmod.apply(self._held, feed)
        self._take(applied, "feeds_applied" if applied.accepted else "feeds_ignored")
        return applied

    def expire(self) -> Applied:
        """Forget a business day that has ended (called now and then by the server)."""
        applied = feedmod.forget_expired(self._held, self.clock_ms(), self.zone, self.rollover_hour)
        if applied.accepted:
            log.info(
                "business day %s has ended: its %d ticket pages are closed",
                applied.held.business_day,
                len(applied.changed),
            )
        self._take(applied, "days_expired" if applied.accepted else "")
        return applied

    def _take(self, applied: Applied, counter: str) -> None:
        if counter:
            self.stats[counter] += 1
        if not applied.accepted:
            return
        self._held = applied.held
        if self.keeper is not None:
            self.keeper.changed(applied.held)
        if applied.everything:
            for subs in self._subscribers.values():
                for sub in subs:
                    sub.wake()
            return
        for key in applied.changed:
            for sub in self._subscribers.get(key, ()):
                sub.wake()
        if applied.congestion:
            for sub in self._subscribers.get(CONGESTION, ()):
                sub.wake()

    @contextmanager
    def subscribe(self, key: str) -> Iterator[Subscription]:
        """Hear about changes of one page while the ``with`` block runs."""
        sub = Subscription(key)
        self._subscribers.setdefault(key, set()).add(sub)
        self.stats["streams_opened"] += 1
        try:
            yield sub
        finally:
            subs = self._subscribers.get(key)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subscribers[key]

    @property
    def streams(self) -> int:
        """Event streams open now."""
        return sum(len(subs) for subs in self._subscribers.values())

    def close_streams(self) -> None:
        """Wake every stream to end (the server is stopping)."""
        for subs in self._subscribers.values():
            for sub in subs:
                sub.closed = True
                sub.wake()


class Keeper:
    """Keeps the newest held value on disk, written by one worker thread (the file's one writer).

    :meth:`changed` only notes the value and wakes the worker, so the event loop never waits on
    a disk; several feeds in quick succession become one write of the newest.
    """

    def __init__(self, file: FeedFile) -> None:
        self.file = file
        self._pending: Held | None = None
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="public-keeper", daemon=True)
        self.writes = 0
        self.failures = 0

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def changed(self, held: Held) -> None:
        """Note ``held`` as the value to write next."""
        with self._cond:
            self._pending = held
            self._cond.notify()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is pending, then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stopping:
                    self._cond.wait()
                held, self._pending = self._pending, None
                stopping = self._stopping
            if held is not None:
                self._write(held)
            if stopping and held is None:
                return

    def _write(self, held: Held) -> None:
        feed = feedmod.to_feed(held)
        if feed is None:
            return
        try:
            self.file.save(feed)
            self.writes += 1
        except OSError as err:
            # The pages go on from memory; a restart would show the last feed that was kept.
            self.failures += 1
            log.error("cannot keep the feed in %s: %s", self.file.path, err)
