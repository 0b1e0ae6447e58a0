"""What the statistics pages show, computed over the console's read-only connection and kept a
while: a closed range does not change (kept until pushed out), today's range for a minute.

A year is some 250,000 tickets: the figures come from the cached days' columns (office/stats/
store.py) in a few hundred milliseconds, and each plot is drawn when its image is asked for.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from office.console import stats_words
from office.console.texts import Texts
from office.db import OfficeDB
from office.stats import charts, figures, outlook, store
from office.stats.figures import Columns, Figures
from office.stats.table import Table
from sync.site import SiteConfig

LIVE_S = 60.0  # today's figures are made again after this long
KEEP = 12  # ranges kept
MAX_DAYS = 3 * 366
HISTORY_DAYS = 400  # the forecast learns from this many days back (last year's season included)


@dataclass(frozen=True)
class Period:
    """The business days a page shows, first to last inclusive."""

    first: date
    last: date

    @property
    def days(self) -> int:
        """How many calendar days."""
        return (self.last - self.first).days + 1

    def query(self) -> str:
        """The page's query string for this period."""
        return f"from={self.first.isoformat()}&to={self.last.isoformat()}"


def period(query: Mapping[str, str], today: date) -> Period | str:
    """The period a page's query names (today when it names none), or what is wrong with it."""
    first_text, last_text = query.get("from", ""), query.get("to", "")
    if not first_text and not last_text:
        return Period(today, today)
    try:
        first = date.fromisoformat(first_text or last_text)
        last = date.fromisoformat(last_text or first_text)
    except ValueError:
        return f"{first_text} – {last_text}"[:60]
    if last < first or (last - first).days >= MAX_DAYS or last > today + timedelta(days=366):
        return f"{first} – {last}"
    return Period(first, last)


def chosen(query: Mapping[str, str], today: date, t: Texts) -> tuple[Period, str]:
    """The period a page's query names, or today's with what is wrong with the query."""
    found = period(query, today)
    if isinstance(found, str):
        return Period(today, today), t.STATS_BAD_RANGE.format(what=found)
    return found, ""


def quick(today: date) -> list[tuple[str, Period]]:
    """The quick choices of the range form: (the text's name, the period)."""
    month = today.replace(day=1)
    last_month_end = month - timedelta(days=1)
    return [
        ("STATS_TODAY", Period(today, today)),
        ("STATS_YESTERDAY", Period(today - timedelta(days=1), today - timedelta(days=1))),
        ("STATS_LAST_7", Period(today - timedelta(days=7), today - timedelta(days=1))),
        ("STATS_THIS_MONTH", Period(month, today)),
        ("STATS_LAST_MONTH", Period(last_month_end.replace(day=1), last_month_end)),
        ("STATS_LAST_YEAR", Period(today - timedelta(days=365), today - timedelta(days=1))),
    ]


@dataclass(frozen=True)
class Computed:
    """A period's figures, the columns they came from, and when they were made."""

    period: Period
    made: Figures
    cols: Columns
    at_ms: int
    live: bool


def shown(t: Texts, done: Computed, today: date, config: SiteConfig, kiosk: Sequence[Table] = ()) -> dict[str, Any]:
    """What the statistics page (stats.html) shows of a computed period, but for the forecast."""
    target = config.congestion.target_wait_minutes
    tables = stats_words.tables(t, done.made, [k for k in kiosk if k.rows], target)
    return {
        "done": done,
        "tables": [table for table in tables if table.name != "summary"],
        "plots": charts.names(done.made),
        "quick": quick(today),
        "target": target,
        "share": round(config.congestion.target_share * 100),
    }


Read = Callable[[Callable[[OfficeDB], object]], object]


class StatsBook:
    """The periods computed lately, and their plots in each language."""

    def __init__(self, config: SiteConfig) -> None:
        self.config = config
        self.tz = ZoneInfo(config.timezone)
        self._kept: OrderedDict[tuple[date, date], Computed] = OrderedDict()
        self._plots: OrderedDict[tuple[date, date, int, str, str], str] = OrderedDict()
        self._outlook: tuple[date, outlook.Outlook | None] | None = None
        self._lock = threading.Lock()

    def compute(self, db: OfficeDB, wanted: Period, today: date, now_ms: int) -> Computed:
        """The period's figures (kept ones when still fresh); runs on a reading thread."""

        def make() -> tuple[Figures, Columns]:
            cols = store.columns_between(db, wanted.first.isoformat(), wanted.last.isoformat(), today.isoformat())
            return figures.of_site(cols, self.config, until_ms=now_ms), cols

        return self.kept(wanted, today, now_ms, make)

    def kept(self, wanted: Period, today: date, now_ms: int, make: Callable[[], tuple[Figures, Columns]]) -> Computed:
        """The period's figures kept while still fresh, else ``make``'s (figures, columns) kept."""
        key = (wanted.first, wanted.last)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and (not kept.live or now_ms - kept.at_ms < LIVE_S * 1000):
                self._kept.move_to_end(key)
                return kept
        made, cols = make()
        done = Computed(wanted, made, cols, now_ms, wanted.last >= today)
        with self._lock:
            self._kept[key] = done
            while len(self._kept) > KEEP:
                self._kept.popitem(last=False)
        return done

    def plot(self, done: Computed, name: str, lang: str, words: charts.Words) -> str | None:
        """One plot of a computed period as SVG, or None when the period has no such plot."""
        key = (done.period.first, done.period.last, done.at_ms, lang, name)
        with self._lock:
            svg = self._plots.get(key)
        if svg is not None:
            return svg
        made = charts.charts(done.made, done.cols, charts.setting(self.config, lang), words).get(name)
        if made is None:
            return None
        svg = made().svg
        with self._lock:
            self._plots[key] = svg
            while len(self._plots) > KEEP * 6:
                self._plots.popitem(last=False)
        return svg

    def outlook(self, db: OfficeDB, today: date) -> outlook.Outlook | None:
        """The next days' forecast from the history up to yesterday (made once a business day)."""
        with self._lock:
            if self._outlook is not None and self._outlook[0] == today:
                return self._outlook[1]
        first = today - timedelta(days=HISTORY_DAYS)
        yesterday = today - timedelta(days=1)
        cols = store.columns_between(db, first.isoformat(), yesterday.isoformat(), today.isoformat())
        counter_station = charts.setting(self.config, "en").counter_station
        spread = figures.figures(
            cols, tz=self.tz, target_wait_s=self.config.congestion.target_wait_minutes * 60, stations=[counter_station]
        ).by_station.get(counter_station)
        service = spread.mean if spread is not None and spread.mean else float(self.config.default_service_seconds)
        holidays = {date.fromisoformat(d) for d in self.config.dispenser.holidays}
        found = outlook.outlook(
            cols,
            tz=self.tz,
            purposes=[c.code for c in self.config.categories],
            service_s={},
            default_service_s=service,
            target_wait_s=self.config.congestion.target_wait_minutes * 60,
            target_share=self.config.congestion.target_share,
            after=yesterday,
            days=8,
            holidays=holidays,
        )
        with self._lock:
            self._outlook = (today, found)
        return found
