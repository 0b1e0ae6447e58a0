"""What the kiosk says of itself in its device status: the staff's floor view and its alerts.

In service or not (and the fault that closed it), the coins its hoppers hold, change running
low, and the refund slips it printed today that a counter must pay. :class:`KioskHealth` holds
these as a small snapshot behind a lock: the runtime updates it on its own thread as things
happen (:meth:`KioskHealth.observe` after each transition, :meth:`KioskHealth.refund_owed`
when the journal holds a ``refund_owed`` record, :meth:`KioskHealth.read_hoppers` after a
payout); the device agent reads it on its worker thread each time it builds its retained status
(:meth:`KioskHealth.message`). Reading never touches the journal or the cash devices: a payout
holds the cash box's lock for seconds, and the agent must not wait for the hoppers.

:meth:`KioskHealth.announce` calls ``on_change`` (the agent's ``health_changed``) once for all
that changed since the last announcement, so a burst of transitions sends one status.
"""

from __future__ import annotations

import logging
import threading
import time
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Final

from common.calendar import DEFAULT_ROLLOVER_HOUR, business_day
from kiosk.flow import Kiosk, Step
from sync import messages

__all__ = ["KioskHealth", "tokyo_business_day"]

log = logging.getLogger(__name__)

# The limits of messages.Health: a status that breaks them would not be sent at all.
_MAX_FAULT: Final = 64
_MAX_COINS: Final = 100_000
_MAX_REFUNDS: Final = 10_000
_MAX_DENOMINATIONS: Final = 32
_DAYS_KEPT: Final = 3  # refund counts of older business days are of no use to anyone
_TOKYO: Final = zoneinfo.ZoneInfo("Asia/Tokyo")


def tokyo_business_day(wall_ms: int) -> date:
    """The business day of ``wall_ms`` in Japan (03:00 rollover): the default "today"."""
    return business_day(wall_ms, _TOKYO, DEFAULT_ROLLOVER_HOUR)


@dataclass(frozen=True)
class _Snapshot:
    in_service: bool | None = None  # None until the runtime has started (nothing known yet)
    fault: str = ""
    cash: tuple[tuple[int, int], ...] = ()  # (coin, count), largest coin first
    change_low: bool = False
    refunds: tuple[tuple[date, int], ...] = ()  # refund_owed records per business day


class KioskHealth:
    """The kiosk's health: written by the runtime's thread, read by the agent's (thread-safe).

    ``hoppers``: what the cash box knows of its coins (coin -> count), read on the runtime's
    thread only; None when the cash devices cannot tell (then ``cash`` stays empty).
    ``day_of``: the business day of a wall-clock ms (the office's time zone and rollover);
    ``wall_ms``: the clock the journal stamps its records with.
    """

    def __init__(
        self,
        *,
        hoppers: Callable[[], Mapping[int, int]] | None = None,
        day_of: Callable[[int], date] = tokyo_business_day,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.hoppers = hoppers
        self.day_of = day_of
        self.wall_ms = wall_ms
        # Called (outside the lock, on the runtime's thread) when the health changed.
        self.on_change: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._now = _Snapshot()
        self._told = self._now

    # -- the runtime's side ------------------------------------------------------------------------

    def observe(self, state: Kiosk) -> None:
        """Take service, fault and change-low from the flow's state (after a transition)."""
        in_service = state.step is not Step.OUT_OF_SERVICE and state.fault is None
        fault = (state.fault or "")[:_MAX_FAULT]
        with self._lock:
            self._now = replace(self._now, in_service=in_service, fault=fault, change_low=state.change_low)

    def refund_owed(self, at_ms: int) -> None:
        """A ``refund_owed`` record stamped ``at_ms`` is in the journal: one more slip owed."""
        day = self._day(at_ms)
        if day is None:
            return
        with self._lock:
            counts = dict(self._now.refunds)
            counts[day] = counts.get(day, 0) + 1
            kept = tuple(sorted(counts.items())[-_DAYS_KEPT:])
            self._now = replace(self._now, refunds=kept)

    def count_refunds(self, records: Iterable[Mapping[str, Any]]) -> None:
        """At start: the ``refund_owed`` records the journal already holds (today's count)."""
        for record in records:
            at = record.get("at")
            if record.get("kind") == "refund_owed" and isinstance(at, int) and not isinstance(at, bool):
                self.refund_owed(at)

    def read_hoppers(self) -> None:
        """Ask the cash box for its coin counts (on the runtime's thread: it may wait for a payout)."""
        if self.hoppers is None:
            return
        try:
            counts = dict(self.hoppers())
        except Exception:  # the levels are for staff; a failed read must not stop a visit
            log.exception("could not read the hoppers' coin counts")
            return
        cash = tuple(sorted(((int(c), max(0, min(int(n), _MAX_COINS))) for c, n in counts.items()), reverse=True))
        with self._lock:
            self._now = replace(self._now, cash=cash[:_MAX_DENOMINATIONS])

    def announce(self) -> None:
        """Tell ``on_change`` once if anything changed since the last announcement."""
        with self._lock:
            changed = self._now != self._told
            self._told = self._now
        if changed and self.on_change is not None:
            try:
                self.on_change()
            except Exception:  # the status goes out at its next interval anyway
                log.exception("health change not announced")

    # -- the agent's side --------------------------------------------------------------------------

    def message(self) -> messages.Health:
        """The health as the device status carries it (cheap; any thread)."""
        today = self._day(self.wall_ms())
        with self._lock:
            now = self._now
        # Counted per business day: at the day's rollover the count drops to 0 by itself, in
        # the next periodic status (nothing needs to happen at 03:00 for it).
        owed = sum(n for day, n in now.refunds if day == today)
        return messages.Health(
            in_service=now.in_service,
            fault=now.fault,
            cash={str(coin): count for coin, count in now.cash},
            change_low=now.change_low,
            refunds_owed=min(owed, _MAX_REFUNDS),
        )

    def _day(self, wall_ms: int) -> date | None:
        try:
            return self.day_of(wall_ms)
        except (ValueError, OverflowError, OSError):
            log.warning("no business day for wall clock %d ms", wall_ms)
            return None
