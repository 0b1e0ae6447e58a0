"""The statistics' plots made from a range's figures (pure but for matplotlib's drawing).

The console shows them as SVG and the monthly report prints them as PNG: both take them from
here, with the words of the reader's language in :class:`Words`, so the two never disagree.
Which plots a range gets follows what it can show: a day has no week-of-the-year, and an hour ×
weekday heat map of a single day would be one column.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from common.i18n import purpose_name
from office.stats import forecast, plots
from office.stats.figures import Columns, Figures, local_ms
from sync.site import SiteConfig

OPEN_HOURS = range(8, 18)  # the hours the plots show: a town hall's day, 08:30-17:15, and a margin
MONDAY_TO_FRIDAY = 5
HEATMAP_MIN_DAYS = 5  # fewer days say nothing about weekdays
YEAR_MIN_WEEKS = 6


@dataclass(frozen=True)
class Words:
    """Every word on the plots, in the reader's language."""

    no_data: str
    arrivals: str
    median_wait: str
    p90_wait: str
    hour_axis: str
    arrivals_axis: str
    wait_axis: str
    by_hour_title: str
    heatmap_title: str
    heatmap_unit: str
    weekdays: tuple[str, ...]  # Monday first
    stations_title: str
    stations_unit: str
    stations_note: str
    counters_title: str
    counters_open: str
    counters_needed: str
    counters_axis: str
    year_title: str
    week_axis: str
    season: str


@dataclass(frozen=True)
class Setting:
    """What of the site the plots need: its zone, the stations in route order (code, shown
    name), the counter's own station, the target wait and share, and when the moving season is."""

    tz: ZoneInfo
    stations: tuple[tuple[str, str], ...]
    counter_station: str
    target_wait_s: int
    target_share: float
    default_service_s: float
    season_weeks: tuple[int, int] = (12, 15)  # ISO weeks: late March to early April


def setting(config: SiteConfig, lang: str) -> Setting:
    """The site's part of the plots, its stations named in ``lang`` (route order of the longest route)."""
    order = max((c.route for c in config.categories), key=len)
    codes = [*order, *(s.code for s in config.stations if s.code not in order)]
    terminal = {c.route[-1] for c in config.categories}
    shown = []
    for code in codes:
        station = config.find_station(code)
        if station is not None and code not in terminal:  # the terminal is where a ticket ends: no time there
            shown.append((code, purpose_name(station.names, lang)))
    first = order[0]
    return Setting(
        tz=ZoneInfo(config.timezone),
        stations=tuple(shown),
        counter_station=first,
        target_wait_s=config.congestion.target_wait_minutes * 60,
        target_share=config.congestion.target_share,
        default_service_s=float(config.default_service_seconds),
    )


def names(made: Figures) -> tuple[str, ...]:
    """The plots a range's figures make, in page order."""
    out = ["by_hour", "counters", "stations"]
    if len(made.days) >= HEATMAP_MIN_DAYS:
        out.insert(2, "heatmap")
    if len(made.by_week) >= YEAR_MIN_WEEKS:
        out.append("year")
    return tuple(out)


def station_quantiles(cols: Columns, stations: Sequence[str]) -> list[plots.Quantiles | None]:
    """(p10, p25, median, p75, p90) of the time at each station, in minutes (None: no stay)."""
    out: list[plots.Quantiles | None] = []
    code = {name: i for i, name in enumerate(cols.stations)}
    for station in stations:
        k = code.get(station)
        stays = cols.stay_ms[cols.stay_station == k] / 60_000 if k is not None else np.empty(0)
        if not len(stays):
            out.append(None)
            continue
        q = np.percentile(stays, [10, 25, 50, 75, 90])
        out.append((float(q[0]), float(q[1]), float(q[2]), float(q[3]), float(q[4])))
    return out


def counters_calling(cols: Columns, tz: ZoneInfo) -> list[float]:
    """Counters that called someone in each hour (0-23), per day on average: the counters staffed."""
    called = ~np.isnan(cols.first_call_ms) & (cols.counter >= 0)
    if not called.any():
        return [0.0] * 24
    local = local_ms(cols.first_call_ms[called], tz)
    hour = (local // 3_600_000) % 24
    day = cols.day[called]
    # one key per (day, hour, counter): a flat unique is ten times faster than unique rows
    keys = np.unique((day.astype(np.int64) * 24 + hour) * 100_000 + cols.counter[called].astype(np.int64))
    per_hour = np.bincount((keys // 100_000) % 24, minlength=24)[:24]
    days = max(1, len(np.unique(cols.day)))
    return [float(x) / days for x in per_hour.tolist()]


def counters_needed(made: Figures, setting: Setting) -> list[float]:
    """Counters an hour's arrivals (per day) needed to call the target share within the target
    wait (Erlang C), with the counter's own station's mean time as the service time."""
    spread = made.by_station.get(setting.counter_station)
    mean_s = spread.mean if spread is not None and spread.mean else setting.default_service_s
    return [
        float(forecast.counters_needed(h.per_day, mean_s, setting.target_wait_s, setting.target_share))
        for h in made.by_hour
    ]


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 60


def charts(made: Figures, cols: Columns, setting: Setting, words: Words) -> Mapping[str, Callable[[], plots.Plot]]:
    """Each plot of :func:`names`, made when called (a page asks for one at a time)."""
    by_hour = {h.hour: h for h in made.by_hour}
    # A town hall's day, widened to any hour that had residents (an evening opening, a test at night)
    busy = [h.hour for h in made.by_hour if h.arrivals]
    hours = list(range(min([OPEN_HOURS.start, *busy]), max([OPEN_HOURS.stop, *(h + 1 for h in busy)])))
    per_day = [by_hour[h].per_day for h in hours]
    axis = {
        "arrivals": words.arrivals,
        "median_wait": words.median_wait,
        "p90_wait": words.p90_wait,
        "hour_axis": words.hour_axis,
        "arrivals_axis": words.arrivals_axis,
        "wait_axis": words.wait_axis,
        "no_data": words.no_data,
    }

    def day_by_hour() -> plots.Plot:
        return plots.day_by_hour(
            hours,
            per_day,
            [_minutes(by_hour[h].wait.median) for h in hours],
            [_minutes(by_hour[h].wait.p90) for h in hours],
            axis,
            words.by_hour_title,
        )

    def heatmap() -> plots.Plot:
        rows = [
            [made.hour_weekday_arrivals[w][h] if made.weekday_days[w] else None for h in hours]
            for w in range(MONDAY_TO_FRIDAY)
        ]
        return plots.heatmap_hour_weekday(
            rows,
            hours,
            words.weekdays[:MONDAY_TO_FRIDAY],
            words.heatmap_title,
            words.heatmap_unit,
            no_data=words.no_data,
            hour_axis=words.hour_axis,
        )

    def counters() -> plots.Plot:
        calling = counters_calling(cols, setting.tz)
        needed = counters_needed(made, setting)
        return plots.arrivals_and_counters(
            hours,
            per_day,
            [calling[h] for h in hours],
            [needed[h] for h in hours],
            {
                "arrivals": words.arrivals,
                "counters_open": words.counters_open,
                "counters_needed": words.counters_needed,
                "hour_axis": words.hour_axis,
                "arrivals_axis": words.arrivals_axis,
                "counters_axis": words.counters_axis,
                "no_data": words.no_data,
            },
            words.counters_title,
        )

    def stations() -> plots.Plot:
        codes = [code for code, _ in setting.stations]
        return plots.station_times(
            [shown for _, shown in setting.stations],
            station_quantiles(cols, codes),
            words.stations_title,
            words.stations_unit,
            no_data=words.no_data,
            note=words.stations_note,
        )

    def year() -> plots.Plot:
        # The year by its week numbers, January to December: a range across New Year (or longer
        # than a year) puts each week's days together, so week 14 is always the moving season's.
        arrivals: dict[int, int] = {}
        days: dict[int, int] = {}
        waits: dict[int, list[tuple[float, int]]] = {}
        for w in made.by_week:
            number = int(w.week.rsplit("W", 1)[1])
            arrivals[number] = arrivals.get(number, 0) + w.arrivals
            days[number] = days.get(number, 0) + w.days
            if w.wait.median is not None:
                waits.setdefault(number, []).append((w.wait.median, w.arrivals))
        weeks = sorted(arrivals)

        def median_of(number: int) -> float | None:
            # one year: the week's median; several: the years' medians weighted by their arrivals
            found = waits.get(number)
            if not found:
                return None
            weight = sum(n for _, n in found) or 1
            return sum(m * n for m, n in found) / weight / 60

        inside = [w for w in weeks if setting.season_weeks[0] <= w <= setting.season_weeks[1]]
        return plots.year_by_week(
            weeks,
            [arrivals[w] / max(1, days[w]) for w in weeks],
            [median_of(w) for w in weeks],
            {
                "arrivals": words.arrivals,
                "median_wait": words.median_wait,
                "week_axis": words.week_axis,
                "arrivals_axis": words.arrivals_axis,
                "wait_axis": words.wait_axis,
                "no_data": words.no_data,
                "highlight": words.season,
            },
            words.year_title,
            highlight=(min(inside), max(inside)) if inside else None,
        )

    made_by: dict[str, Callable[[], plots.Plot]] = {
        "by_hour": day_by_hour,
        "heatmap": heatmap,
        "counters": counters,
        "stations": stations,
        "year": year,
    }
    return {name: made_by[name] for name in names(made)}
