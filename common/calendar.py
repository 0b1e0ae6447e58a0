"""Business days and opening hours, in the site's local time.

Ticket numbers reset every business day (decision 8), and a business day is a local-time notion:
a ticket printed at 00:30 after a late evening session belongs to the day that started the
evening before. The rollover hour says when one business day hands over to the next.

Pure: time is always a parameter. ``zoneinfo`` reads the tz database (tzdata, see setup.cfg)
once per zone, which is configuration, not I/O in the sense that matters here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_ROLLOVER_HOUR = 3
"""Business days start at 03:00 local: late sessions end well before it, early kiosks open after."""

NEW_YEAR_HOLIDAYS: frozenset[tuple[int, int]] = frozenset({(12, 29), (12, 30), (12, 31), (1, 1), (1, 2), (1, 3)})
"""(month, day) pairs of the year-end closure, 29 Dec - 3 Jan, observed by town halls and kiosks."""

_MAX_SCAN_DAYS = 400
"""How far :func:`next_business_days` looks for one open day before deciding none will come."""


def business_day(now_ms: int, tz: ZoneInfo, rollover_hour: int = DEFAULT_ROLLOVER_HOUR) -> date:
    """The business day the moment ``now_ms`` (Unix ms) belongs to in zone ``tz``.

    Moments before ``rollover_hour`` local belong to the previous day: with the default 3,
    01:30 on 2 April is business day 1 April.
    """
    if not 0 <= rollover_hour <= 23:
        raise ValueError(f"rollover_hour must be in 0..23, got {rollover_hour}")
    # Integer arithmetic, not now_ms / 1000: a float would round 23:59:59.9995 up to midnight.
    seconds, millis = divmod(now_ms, 1000)
    utc = datetime.fromtimestamp(seconds, tz=UTC) + timedelta(milliseconds=millis)
    local = utc.astimezone(tz)
    # Wall-clock arithmetic on purpose: the day starts at rollover_hour on the local clock.
    return (local.replace(tzinfo=None) - timedelta(hours=rollover_hour)).date()


def next_business_days(day: date, count: int, closed: Callable[[date], bool]) -> list[date]:
    """The first ``count`` days strictly after ``day`` for which ``closed`` is false, in order.

    Raises ``ValueError`` if no open day is found within 400 days (a calendar that closes
    everything is a configuration error, and looping forever would hang the caller).
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    found: list[date] = []
    candidate = day
    gap = 0
    while len(found) < count:
        candidate += timedelta(days=1)
        if closed(candidate):
            gap += 1
            if gap > _MAX_SCAN_DAYS:
                raise ValueError(f"no open day within {_MAX_SCAN_DAYS} days after {candidate}")
        else:
            found.append(candidate)
            gap = 0
    return found


def _check_month_day(month: int, day: int) -> None:
    # 2000 is a leap year, so (2, 29) is accepted: the closure simply applies in leap years.
    try:
        date(2000, month, day)
    except (TypeError, ValueError):
        raise ValueError(f"not a (month, day) pair: {(month, day)!r}") from None


@dataclass(frozen=True, slots=True)
class Hours:
    """Opening hours: open from ``open`` (inclusive) to ``close`` (exclusive) on open days.

    ``closed_dates`` are (month, day) pairs closed every year (see :data:`NEW_YEAR_HOLIDAYS`);
    ``closed_weekdays`` use ``date.weekday()`` numbering, 0 = Monday ... 6 = Sunday. National
    holidays move from year to year and are not modelled here: pass them to
    :func:`next_business_days` through its ``closed`` callable.
    """

    open: time
    close: time
    closed_dates: frozenset[tuple[int, int]] = field(default_factory=frozenset)
    closed_weekdays: frozenset[int] = field(default_factory=frozenset)
    # Dated closures: national holidays move from year to year, so the site lists them.
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        # Hours past midnight would make "which day is closed" ambiguous; no lobby needs them
        # (kiosks run 6:30-23:00).
        if not self.open < self.close:
            raise ValueError(f"open ({self.open}) must be before close ({self.close})")
        if self.open.tzinfo is not None or self.close.tzinfo is not None:
            raise ValueError("open and close are local wall times and must be naive")
        for month, day in self.closed_dates:
            _check_month_day(month, day)
        for weekday in self.closed_weekdays:
            if not 0 <= weekday <= 6:
                raise ValueError(f"weekday must be in 0..6 (0 = Monday), got {weekday}")

    def is_closed_day(self, d: date) -> bool:
        """Whether ``d`` is closed all day (a closed weekday or a yearly closed date)."""
        return d.weekday() in self.closed_weekdays or (d.month, d.day) in self.closed_dates or d in self.holidays

    def is_open(self, local_dt: datetime) -> bool:
        """Whether the site is open at ``local_dt``, a datetime on the site's local clock.

        Only the wall-clock fields are read; convert an aware datetime to the site's zone first.
        """
        if self.is_closed_day(local_dt.date()):
            return False
        return self.open <= local_dt.time() < self.close


KIOSK_HOURS = Hours(open=time(6, 30), close=time(23, 0), closed_dates=NEW_YEAR_HOLIDAYS)
"""Typical certificate kiosk hours: 6:30-23:00 every day except 29 Dec - 3 Jan."""
