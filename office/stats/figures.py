"""A day's or a year's figures, made from journeys (pure).

Everything is computed on numpy columns (:class:`Columns`): a year is some 250,000 journeys,
and the store hands a cached year over as columns without making a Journey object per ticket.

Definitions the pages rely on:

* arrivals count every ticket issued (voided ones too); void tickets enter no time figure
  (wait, service, total, station, counter) - only ``voided``, arrivals and the station flow.
* called: first called at some time; served: reached ready (a resident who then did not come
  to collect is also a no-show); no-shows: the last state is absent.
* median and p90 are numpy's (linear interpolation between order statistics).
* hours and weekdays are local (``tz``); hour-of-day figures go by the hour of issue, weekday
  and ISO week by the business day. Per-day averages divide by the days present (a day with
  at least one ticket), per weekday by the days of that weekday present.
* a station's backlog at hour h is the cases at it at the end of that hour (h+1:00 on the
  business day's date, as a wall clock without a DST change would show it); "moved on" counts
  stays that ended in a move to another station during the hour.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from office.stats.journey import Journey, Outcome, StationTime
from office.stats.table import Cell, Table
from sync.site import SiteConfig

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
F64 = npt.NDArray[np.float64]

OUTCOMES: tuple[Outcome, ...] = tuple(Outcome)
_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True, eq=False)
class Columns:
    """Journeys as numpy columns: one entry per journey, and one per closed station stay.

    Text is coded as an index into a names tuple (``-1``: none); missing times are NaN in the
    float columns (epoch ms are exact in a float64); durations are ms.
    """

    days: tuple[str, ...]
    categories: tuple[str, ...]
    stations: tuple[str, ...]
    devices: tuple[str, ...]
    ticket_ids: Sequence[str]
    day: I32
    category: I32
    first_category: I32
    device: I32
    issued_ms: I64
    first_call_ms: F64
    ready_ms: F64
    done_ms: F64
    outcome: I32
    transfers: I32
    counter: I32
    held_ms: I64
    requeue_ms: I64
    open_station: I32
    open_since_ms: F64
    stay_journey: I32
    stay_station: I32
    stay_to: I32
    stay_at_ms: I64
    stay_ms: I64

    def __len__(self) -> int:
        return len(self.issued_ms)

    def journeys(self) -> list[Journey]:
        """The journeys back as values (slow for a year: the pages use the columns)."""
        stays: list[list[StationTime]] = [[] for _ in range(len(self))]
        for j, s, to, at, ms in zip(
            self.stay_journey.tolist(),
            self.stay_station.tolist(),
            self.stay_to.tolist(),
            self.stay_at_ms.tolist(),
            self.stay_ms.tolist(),
            strict=True,
        ):
            stays[j].append(StationTime(self.stations[s], ms / 1000, self.stations[to] if to >= 0 else None, at))

        def opt(v: float) -> int | None:
            return None if math.isnan(v) else int(v)

        out = []
        for i, (tid, d, c, fc, dev, iss, call, ready, done, oc, tr, ctr, held, req, ost, osince) in enumerate(
            zip(
                self.ticket_ids,
                self.day.tolist(),
                self.category.tolist(),
                self.first_category.tolist(),
                self.device.tolist(),
                self.issued_ms.tolist(),
                self.first_call_ms.tolist(),
                self.ready_ms.tolist(),
                self.done_ms.tolist(),
                self.outcome.tolist(),
                self.transfers.tolist(),
                self.counter.tolist(),
                self.held_ms.tolist(),
                self.requeue_ms.tolist(),
                self.open_station.tolist(),
                self.open_since_ms.tolist(),
                strict=True,
            )
        ):
            out.append(
                Journey(
                    ticket_id=tid,
                    day=self.days[d],
                    category=self.categories[c],
                    first_category=self.categories[fc],
                    issued_ms=iss,
                    device=self.devices[dev] if dev >= 0 else None,
                    first_call_ms=opt(call),
                    ready_ms=opt(ready),
                    done_ms=opt(done),
                    outcome=OUTCOMES[oc],
                    transfers=tr,
                    counter=ctr if ctr >= 0 else None,
                    station_times=tuple(stays[i]),
                    held_s=held / 1000,
                    requeue_s=req / 1000,
                    open_station=self.stations[ost] if ost >= 0 else None,
                    open_since_ms=opt(osince),
                )
            )
        return out


def _coder(names: dict[str, int]) -> Callable[[str | None], int]:
    def code(name: str | None) -> int:
        if name is None:
            return -1
        found = names.get(name)
        if found is None:
            found = names[name] = len(names)
        return found

    return code


def columns(journeys: Iterable[Journey]) -> Columns:
    """Journeys as columns."""
    js = list(journeys)
    n = len(js)
    days: dict[str, int] = {}
    cats: dict[str, int] = {}
    stations: dict[str, int] = {}
    devices: dict[str, int] = {}
    st = _coder(stations)
    stays: list[tuple[int, int, int, int, int]] = [
        (i, st(s.station), st(s.to), s.at_ms, round(s.seconds * 1000))
        for i, j in enumerate(js)
        for s in j.station_times
    ]
    stay = np.array(stays, dtype=np.int64).reshape(len(stays), 5)
    outcome_code = {o: k for k, o in enumerate(OUTCOMES)}

    def ints(code: Callable[[Journey], int]) -> I32:
        return np.fromiter(map(code, js), dtype=np.int32, count=n)

    def ms(values: Iterable[int | None]) -> F64:
        return np.fromiter((math.nan if v is None else v for v in values), dtype=np.float64, count=n)

    day, cat, dev = _coder(days), _coder(cats), _coder(devices)
    return Columns(
        ticket_ids=[j.ticket_id for j in js],
        day=ints(lambda j: day(j.day)),
        category=ints(lambda j: cat(j.category)),
        first_category=ints(lambda j: cat(j.first_category)),
        device=ints(lambda j: dev(j.device)),
        issued_ms=np.fromiter((j.issued_ms for j in js), dtype=np.int64, count=n),
        first_call_ms=ms(j.first_call_ms for j in js),
        ready_ms=ms(j.ready_ms for j in js),
        done_ms=ms(j.done_ms for j in js),
        outcome=ints(lambda j: outcome_code[j.outcome]),
        transfers=ints(lambda j: j.transfers),
        counter=ints(lambda j: -1 if j.counter is None else j.counter),
        held_ms=np.fromiter((round(j.held_s * 1000) for j in js), dtype=np.int64, count=n),
        requeue_ms=np.fromiter((round(j.requeue_s * 1000) for j in js), dtype=np.int64, count=n),
        open_station=ints(lambda j: st(j.open_station)),
        open_since_ms=ms(j.open_since_ms for j in js),
        stay_journey=stay[:, 0].astype(np.int32),
        stay_station=stay[:, 1].astype(np.int32),
        stay_to=stay[:, 2].astype(np.int32),
        stay_at_ms=stay[:, 3].copy(),
        stay_ms=stay[:, 4].copy(),
        # last: the coders above fill the names as they meet them
        days=tuple(days),
        categories=tuple(cats),
        stations=tuple(stations),
        devices=tuple(devices),
    )


def concat(parts: Sequence[Columns]) -> Columns:
    """Several sets of columns (e.g. one per day) as one, their names merged."""
    names: dict[str, dict[str, int]] = {"days": {}, "categories": {}, "stations": {}, "devices": {}}
    for part in parts:
        for field, known in names.items():
            for name in getattr(part, field):
                known.setdefault(name, len(known))

    def recode(part: Columns, field: str, codes: I32) -> I32:
        known = names[field]
        # one extra slot at the end maps -1 (none) to -1
        table = np.array([known[name] for name in getattr(part, field)] + [-1], dtype=np.int32)
        return table[codes]

    offsets = np.cumsum([0] + [len(p) for p in parts])

    def cat(get: Callable[[Columns], Any]) -> Any:
        return np.concatenate([get(p) for p in parts]) if parts else get(columns(()))

    ticket_ids: list[str] = []
    for p in parts:
        ticket_ids.extend(p.ticket_ids)
    return Columns(
        days=tuple(names["days"]),
        categories=tuple(names["categories"]),
        stations=tuple(names["stations"]),
        devices=tuple(names["devices"]),
        ticket_ids=ticket_ids,
        day=cat(lambda p: recode(p, "days", p.day)),
        category=cat(lambda p: recode(p, "categories", p.category)),
        first_category=cat(lambda p: recode(p, "categories", p.first_category)),
        device=cat(lambda p: recode(p, "devices", p.device)),
        issued_ms=cat(lambda p: p.issued_ms),
        first_call_ms=cat(lambda p: p.first_call_ms),
        ready_ms=cat(lambda p: p.ready_ms),
        done_ms=cat(lambda p: p.done_ms),
        outcome=cat(lambda p: p.outcome),
        transfers=cat(lambda p: p.transfers),
        counter=cat(lambda p: p.counter),
        held_ms=cat(lambda p: p.held_ms),
        requeue_ms=cat(lambda p: p.requeue_ms),
        open_station=cat(lambda p: recode(p, "stations", p.open_station)),
        open_since_ms=cat(lambda p: p.open_since_ms),
        stay_journey=np.concatenate([p.stay_journey + offsets[k] for k, p in enumerate(parts)]).astype(np.int32)
        if parts
        else np.zeros(0, np.int32),
        stay_station=cat(lambda p: recode(p, "stations", p.stay_station)),
        stay_to=cat(lambda p: recode(p, "stations", p.stay_to)),
        stay_at_ms=cat(lambda p: p.stay_at_ms),
        stay_ms=cat(lambda p: p.stay_ms),
    )


# -- the figures ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """A distribution of durations in seconds (None when there is nothing to measure)."""

    n: int
    mean: float | None = None
    median: float | None = None
    p90: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Totals:
    """Counts and times of a set of tickets; ``service_level`` is a share (0..1) of the called."""

    arrivals: int
    called: int
    served: int
    no_shows: int
    voided: int
    transfers: int
    wait: Spread
    service: Spread
    total: Spread
    service_level: float | None


@dataclass(frozen=True)
class CounterFigures:
    """First calls at a counter and the service times of those tickets."""

    calls: int
    service: Spread


@dataclass(frozen=True)
class HourFigures:
    """Tickets issued in an hour of the day (local) and their waits."""

    hour: int
    arrivals: int
    per_day: float
    wait: Spread


@dataclass(frozen=True)
class WeekFigures:
    """An ISO week (``2026-W14``): its days present, arrivals and waits."""

    week: str
    days: int
    arrivals: int
    wait: Spread


@dataclass(frozen=True)
class DayFigures:
    """A business day's counts and waits."""

    day: str
    arrivals: int
    called: int
    served: int
    no_shows: int
    wait: Spread


@dataclass(frozen=True)
class StationFlow:
    """A station through the day, per day on average: cases at it at the end of each hour
    (``backlog[h]``: at h+1:00) and cases that moved on from it during each hour."""

    backlog: tuple[float, ...]
    moved_on: tuple[float, ...]


@dataclass(frozen=True)
class Figures:
    """The figures of a set of journeys: a day, or a range of days (see the module's docstring)."""

    days: tuple[str, ...]  # the business days present, in order
    target_wait_s: int
    summary: Totals
    by_purpose: Mapping[str, Totals]
    by_station: Mapping[str, Spread]
    between_stations: Mapping[tuple[str, str], Spread]
    flow: Mapping[str, StationFlow]
    by_counter: Mapping[int, CounterFigures]
    by_hour: tuple[HourFigures, ...]  # hours 0..23
    weekday_days: tuple[int, ...]  # days present per weekday, Monday first
    hour_weekday_arrivals: tuple[tuple[float, ...], ...]  # [weekday][hour], per day of that weekday
    hour_weekday_wait: tuple[tuple[float | None, ...], ...]  # [weekday][hour], median wait (s)
    by_week: tuple[WeekFigures, ...]
    by_day: tuple[DayFigures, ...]


def _q(s: F64, q: float) -> float:
    # numpy's default ("linear") quantile of an already sorted array
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return float(s[lo] + (s[hi] - s[lo]) * (pos - lo))


def _spread(s: F64) -> Spread:
    if len(s) == 0:
        return Spread(0)
    return Spread(len(s), float(s.sum() / len(s)), _q(s, 0.5), _q(s, 0.9), float(s[-1]))


def _spread_unsorted(v: F64) -> Spread:
    # a partial sort around the order statistics needed: a year's million stays, sorted once
    # per station, took as long as every other figure together
    n = len(v)
    if n == 0:
        return Spread(0)
    at = {0.5: 0.5 * (n - 1), 0.9: 0.9 * (n - 1)}
    kth = sorted({n - 1, *(math.floor(x) for x in at.values()), *(min(math.floor(x) + 1, n - 1) for x in at.values())})
    part = np.partition(v, kth)

    def q(pos: float) -> float:
        lo = math.floor(pos)
        hi = min(lo + 1, n - 1)
        return float(part[lo] + (part[hi] - part[lo]) * (pos - lo))

    return Spread(n, float(v.sum() / n), q(at[0.5]), q(at[0.9]), float(part[n - 1]))


def _by_group(groups: npt.NDArray[np.integer], values: F64, count: int) -> list[Spread]:
    """The spread of ``values`` (NaN: not measured) per group 0..count-1, for a few large groups."""
    keep = ~np.isnan(values) & (groups >= 0)
    g, v = groups[keep], values[keep]
    order = np.argsort(g.astype(np.int16) if count < 32_000 else g, kind="stable")
    g, v = g[order], v[order]
    bounds = np.searchsorted(g, np.arange(count + 1))
    return [_spread_unsorted(v[bounds[k] : bounds[k + 1]]) for k in range(count)]


_Spreads = Callable[[npt.NDArray[np.integer], int], list[Spread]]


class _Ranked:
    """Values (NaN: not measured) sorted once, to be cut into groups many times."""

    def __init__(self, values: F64) -> None:
        index = np.flatnonzero(~np.isnan(values))
        order = np.argsort(values[index])
        self.index = index[order]
        self.sorted = values[self.index]

    def by(self, groups: npt.NDArray[np.integer], count: int) -> list[Spread]:
        """The spread per group 0..count-1 (a group below 0 is left out)."""
        g = groups[self.index]
        keep = g >= 0
        g, v = g[keep], self.sorted[keep]
        # a stable sort of small ints is a radix sort, and the values stay sorted in each group
        order = np.argsort(g.astype(np.int16) if count < 32_000 else g, kind="stable")
        g, v = g[order], v[order]
        bounds = np.searchsorted(g, np.arange(count + 1))
        return [_spread(v[bounds[k] : bounds[k + 1]]) for k in range(count)]


def _local(ms: npt.NDArray[np.integer] | F64, tz: ZoneInfo) -> I64:
    """Epoch ms as local wall-clock ms since 1970-01-01 (NaN entries come out as 0)."""
    whole = np.nan_to_num(ms, nan=0.0).astype(np.int64)
    if not len(whole):
        return whole
    hours = whole // _HOUR_MS
    first = int(hours.min())
    # one offset per hour of the span (a year: some 9,000 look-ups, far cheaper than sorting)
    offsets = np.array([_offset_ms(h * 3600, tz) for h in range(first, int(hours.max()) + 1)], dtype=np.int64)
    return whole + offsets[hours - first]


@functools.lru_cache(maxsize=100_000)
def _offset_ms(seconds: int, tz: ZoneInfo) -> int:
    offset = datetime.fromtimestamp(seconds, tz).utcoffset()
    return 0 if offset is None else int(offset.total_seconds() * 1000)


def _totals(
    group: I32,
    count: int,
    *,
    void: npt.NDArray[np.bool_],
    wait: F64,
    spreads: tuple[_Spreads, _Spreads, _Spreads],
    served: npt.NDArray[np.bool_],
    no_show: npt.NDArray[np.bool_],
    transfers: I32,
    target_wait_s: int,
) -> list[Totals]:
    def per(mask: npt.NDArray[np.bool_] | None = None, weights: npt.NDArray[np.generic] | None = None) -> list[int]:
        g = group if mask is None else group[mask]
        w = None if weights is None else (weights if mask is None else weights[mask])
        return [int(x) for x in np.bincount(g, weights=w, minlength=count)[:count].tolist()]

    called = ~np.isnan(wait)
    arrivals, n_called = per(), per(called)
    within = per(called & (wait <= target_wait_s))
    waits, services, totals = (by(group, count) for by in spreads)
    return [
        Totals(
            arrivals=arrivals[k],
            called=n_called[k],
            served=s,
            no_shows=ns,
            voided=v,
            transfers=t,
            wait=waits[k],
            service=services[k],
            total=totals[k],
            service_level=within[k] / n_called[k] if n_called[k] else None,
        )
        for k, (s, ns, v, t) in enumerate(zip(per(served), per(no_show), per(void), per(None, transfers), strict=True))
    ]


def figures(
    data: Columns | Iterable[Journey],
    *,
    tz: ZoneInfo,
    target_wait_s: int,
    stations: Sequence[str] = (),
    until_ms: int | None = None,
) -> Figures:
    """The figures of ``data``.

    ``stations`` orders the station figures (the route's order; stations met in the data but
    not named come after). ``until_ms`` ends the stays still open (today: now); without it they
    last to the end of their day.
    """
    c = data if isinstance(data, Columns) else columns(data)
    n = len(c)
    code = {o: k for k, o in enumerate(OUTCOMES)}
    void = c.outcome == code[Outcome.VOID]
    live = ~void
    nan = np.float64(math.nan)
    issued = c.issued_ms.astype(np.float64)
    wait = np.where(live, (c.first_call_ms - issued) / 1000, nan)
    service = np.where(live, (c.ready_ms - c.first_call_ms) / 1000, nan)
    uncollected = (c.outcome == code[Outcome.READY]) | (c.outcome == code[Outcome.ABSENT])
    ended = np.where(~np.isnan(c.done_ms), c.done_ms, np.where(uncollected, c.ready_ms, nan))
    total = np.where(live, (ended - issued) / 1000, nan)
    served = live & ~np.isnan(c.ready_ms)
    no_show = c.outcome == code[Outcome.ABSENT]
    r_wait = _Ranked(wait)  # sorted once: cut by purpose, hour, weekday and hour, week and day

    def by_service(groups: npt.NDArray[np.integer], count: int) -> list[Spread]:
        return _by_group(groups, service, count)

    def by_total(groups: npt.NDArray[np.integer], count: int) -> list[Spread]:
        return _by_group(groups, total, count)

    totals = functools.partial(
        _totals,
        void=void,
        wait=wait,
        spreads=(r_wait.by, by_service, by_total),
        served=served,
        no_show=no_show,
        transfers=c.transfers,
        target_wait_s=target_wait_s,
    )
    summary = totals(np.zeros(n, np.int32), 1)[0]
    purposes = totals(c.category, len(c.categories))
    by_purpose = {name: purposes[k] for k, name in sorted(enumerate(c.categories), key=lambda kv: kv[1])}

    # days: the business days present, their weekdays, ISO weeks and local midnights
    day_dates = [date.fromisoformat(d) for d in c.days]
    present = np.bincount(c.day, minlength=len(c.days)) > 0 if n else np.zeros(len(c.days), bool)
    ndays = int(present.sum())
    day_weekday = np.array([d.weekday() for d in day_dates], dtype=np.int32).reshape(len(day_dates))
    midnight = np.array(
        [int(datetime.combine(d, time(), tz).timestamp() * 1000) for d in day_dates], dtype=np.int64
    ).reshape(len(day_dates))

    # stations: stays of live tickets (void ones enter the flow only)
    s_live = live[c.stay_journey] if len(c.stay_journey) else np.zeros(0, bool)
    s_values = np.where(s_live, c.stay_ms / 1000, nan)
    named = list(dict.fromkeys([*stations, *c.stations]))
    order = {name: k for k, name in enumerate(named)}
    k_st = len(c.stations)
    station_spreads = _by_group(c.stay_station, s_values, k_st)
    by_station = {
        name: station_spreads[k]
        for k, name in sorted(enumerate(c.stations), key=lambda kv: order[kv[1]])
        if station_spreads[k].n
    }
    moved = c.stay_to >= 0
    pair = c.stay_station.astype(np.int64) * (k_st + 1) + c.stay_to
    pairs = np.flatnonzero(np.bincount(pair[moved], minlength=(k_st + 1) ** 2))
    lookup = np.full((k_st + 1) ** 2, -1, dtype=np.int64)
    lookup[pairs] = np.arange(len(pairs))
    leg_spreads = _by_group(np.where(moved, lookup[pair], -1), s_values, len(pairs))
    legs = [(c.stations[int(p) // (k_st + 1)], c.stations[int(p) % (k_st + 1)]) for p in pairs.tolist()]
    between = {
        leg: leg_spreads[k]
        for k, leg in sorted(enumerate(legs), key=lambda kv: (order[kv[1][0]], order[kv[1][1]]))
        if leg_spreads[k].n
    }
    flow = _flow(c, tz, midnight, ndays, named, until_ms)

    # counters: the counter of the first call
    with_counter = live & (c.counter >= 0)
    counters = sorted(set(c.counter[with_counter].tolist()))
    counter_index = np.full(n, -1, dtype=np.int32)
    if counters:
        lookup = np.searchsorted(np.array(counters), c.counter)
        counter_index = np.where(with_counter, lookup, -1).astype(np.int32)
    calls = np.bincount(counter_index[with_counter], minlength=len(counters))
    counter_spreads = by_service(counter_index, len(counters))
    by_counter = {number: CounterFigures(int(calls[k]), counter_spreads[k]) for k, number in enumerate(counters)}

    # hours of issue, local; weekday and week of the business day
    hour = ((_local(c.issued_ms, tz) // _HOUR_MS) % 24).astype(np.int32)
    per_hour = np.bincount(hour, minlength=24)
    hour_waits = r_wait.by(hour, 24)
    by_hour = tuple(
        HourFigures(h, int(per_hour[h]), float(per_hour[h] / ndays) if ndays else 0.0, hour_waits[h]) for h in range(24)
    )
    weekday = day_weekday[c.day] if n else np.zeros(0, np.int32)
    cell = weekday * 24 + hour
    weekday_days = np.bincount(day_weekday[present], minlength=7)
    cell_arrivals = np.bincount(cell, minlength=7 * 24).reshape(7, 24)
    cell_waits = r_wait.by(cell, 7 * 24)
    hw_arrivals = tuple(
        tuple(float(cell_arrivals[w, h] / weekday_days[w]) if weekday_days[w] else 0.0 for h in range(24))
        for w in range(7)
    )
    hw_wait = tuple(tuple(cell_waits[w * 24 + h].median for h in range(24)) for w in range(7))

    iso = [d.isocalendar() for d in day_dates]
    week_names = sorted({f"{y}-W{w:02d}" for y, w, _ in iso})
    week_of_day = np.array([week_names.index(f"{y}-W{w:02d}") for y, w, _ in iso], dtype=np.int32).reshape(len(iso))
    week = week_of_day[c.day] if n else np.zeros(0, np.int32)
    week_days = np.bincount(week_of_day[present], minlength=len(week_names))
    week_arrivals = np.bincount(week, minlength=len(week_names))
    week_waits = r_wait.by(week, len(week_names))
    by_week = tuple(
        WeekFigures(name, int(week_days[k]), int(week_arrivals[k]), week_waits[k])
        for k, name in enumerate(week_names)
        if week_arrivals[k]
    )

    def per_day(mask: npt.NDArray[np.bool_]) -> list[int]:
        return [int(x) for x in np.bincount(c.day[mask], minlength=len(c.days)).tolist()]

    day_arrivals, day_called, day_served = per_day(np.ones(n, bool)), per_day(~np.isnan(wait)), per_day(served)
    day_no_shows = per_day(no_show)
    day_waits = r_wait.by(c.day, len(c.days))
    by_day = tuple(
        DayFigures(name, day_arrivals[k], day_called[k], day_served[k], day_no_shows[k], day_waits[k])
        for k, name in sorted(enumerate(c.days), key=lambda kv: kv[1])
        if day_arrivals[k]
    )
    return Figures(
        days=tuple(sorted(d for k, d in enumerate(c.days) if present[k])),
        target_wait_s=target_wait_s,
        summary=summary,
        by_purpose=by_purpose,
        by_station=by_station,
        between_stations=between,
        flow=flow,
        by_counter=by_counter,
        by_hour=by_hour,
        weekday_days=tuple(int(x) for x in weekday_days.tolist()),
        hour_weekday_arrivals=hw_arrivals,
        hour_weekday_wait=hw_wait,
        by_week=by_week,
        by_day=by_day,
    )


def _flow(
    c: Columns, tz: ZoneInfo, midnight: I64, ndays: int, named: Sequence[str], until_ms: int | None
) -> dict[str, StationFlow]:
    """Backlog at the end of each hour and moves on per hour, per station, per day on average."""
    k_st = len(c.stations)
    if not k_st or not ndays:
        return {}
    open_ = c.open_station >= 0
    station = np.concatenate([c.stay_station, c.open_station[open_]])
    start = np.concatenate([c.stay_at_ms.astype(np.float64), c.open_since_ms[open_]])
    end = np.concatenate(
        [
            (c.stay_at_ms + c.stay_ms).astype(np.float64),
            np.full(int(open_.sum()), math.inf if until_ms is None else float(until_ms)),
        ]
    )
    day = np.concatenate([c.day[c.stay_journey], c.day[open_]])
    base = midnight[day].astype(np.float64)
    # at the end of hour h (k = h+1 hours after midnight) when start <= k*H < end
    k_lo = np.clip(np.ceil((start - base) / _HOUR_MS), 1, 25).astype(np.int64)
    k_hi = np.clip(np.ceil((end - base) / _HOUR_MS), 1, 25).astype(np.int64)
    steps = np.zeros(k_st * 26, dtype=np.int64)
    np.add.at(steps, station * 26 + k_lo, 1)
    np.add.at(steps, station * 26 + k_hi, -1)
    backlog = np.cumsum(steps.reshape(k_st, 26), axis=1)[:, 1:25]
    moved = c.stay_to >= 0
    left_hour = (_local(c.stay_at_ms[moved] + c.stay_ms[moved], tz) // _HOUR_MS) % 24
    moved_on = np.bincount(c.stay_station[moved] * 24 + left_hour, minlength=k_st * 24).reshape(k_st, 24)
    index = {name: k for k, name in enumerate(c.stations)}
    return {
        name: StationFlow(
            tuple(float(x) / ndays for x in backlog[index[name]].tolist()),
            tuple(float(x) / ndays for x in moved_on[index[name]].tolist()),
        )
        for name in named
        if name in index
    }


# -- tables -----------------------------------------------------------------------------------------


def _min(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def _pct(share: float | None) -> float | None:
    return None if share is None else round(share * 100, 1)


_TOTALS = (
    "arrivals",
    "called",
    "served",
    "no-shows",
    "voided",
    "transfers",
    "mean wait (min)",
    "median wait (min)",
    "p90 wait (min)",
    "max wait (min)",
    "median service (min)",
    "p90 service (min)",
    "median total (min)",
    "p90 total (min)",
    "service level (%)",
)


def _totals_row(t: Totals) -> tuple[Cell, ...]:
    return (
        t.arrivals,
        t.called,
        t.served,
        t.no_shows,
        t.voided,
        t.transfers,
        _min(t.wait.mean),
        _min(t.wait.median),
        _min(t.wait.p90),
        _min(t.wait.max),
        _min(t.service.median),
        _min(t.service.p90),
        _min(t.total.median),
        _min(t.total.p90),
        _pct(t.service_level),
    )


def tables(f: Figures) -> list[Table]:
    """The figures as tables: durations in minutes with one decimal, shares in percent."""
    spread = ("n", "median (min)", "p90 (min)", "mean (min)")

    def spread_row(s: Spread) -> tuple[Cell, ...]:
        return (s.n, _min(s.median), _min(s.p90), _min(s.mean))

    target = f"{f.target_wait_s / 60:g}"
    return [
        Table("summary", f"Summary (service level: called within {target} min)", _TOTALS, (_totals_row(f.summary),)),
        Table(
            "by_purpose",
            "By purpose",
            ("purpose", *_TOTALS),
            tuple((name, *_totals_row(t)) for name, t in f.by_purpose.items()),
        ),
        Table(
            "by_station",
            "Time at each station",
            ("station", *spread),
            tuple((name, *spread_row(s)) for name, s in f.by_station.items()),
        ),
        Table(
            "between_stations",
            "Time from reaching a station to reaching the next",
            ("from", "to", *spread),
            tuple((a, b, *spread_row(s)) for (a, b), s in f.between_stations.items()),
        ),
        Table(
            "station_flow",
            "Cases at each station by hour (per day)",
            ("station", "hour", "backlog at end of hour", "moved on in hour"),
            tuple(
                (name, h, round(fl.backlog[h], 1), round(fl.moved_on[h], 1))
                for name, fl in f.flow.items()
                for h in range(24)
            ),
        ),
        Table(
            "by_counter",
            "By counter (first calls)",
            ("counter", "calls", "median service (min)", "p90 service (min)"),
            tuple(
                (number, cf.calls, _min(cf.service.median), _min(cf.service.p90)) for number, cf in f.by_counter.items()
            ),
        ),
        Table(
            "by_hour",
            "By hour of arrival",
            ("hour", "arrivals", "arrivals per day", "median wait (min)", "p90 wait (min)"),
            tuple((h.hour, h.arrivals, round(h.per_day, 1), _min(h.wait.median), _min(h.wait.p90)) for h in f.by_hour),
        ),
        Table(
            "hour_weekday",
            "By weekday and hour of arrival",
            ("weekday", "hour", "days", "arrivals per day", "median wait (min)"),
            tuple(
                (
                    WEEKDAYS[w],
                    h,
                    f.weekday_days[w],
                    round(f.hour_weekday_arrivals[w][h], 1),
                    _min(f.hour_weekday_wait[w][h]),
                )
                for w in range(7)
                for h in range(24)
            ),
        ),
        Table(
            "by_week",
            "By ISO week",
            ("week", "days", "arrivals", "arrivals per day", "median wait (min)"),
            tuple(
                (w.week, w.days, w.arrivals, round(w.arrivals / w.days, 1) if w.days else None, _min(w.wait.median))
                for w in f.by_week
            ),
        ),
        Table(
            "by_day",
            "By day",
            ("day", "weekday", "arrivals", "called", "served", "no-shows", "median wait (min)", "p90 wait (min)"),
            tuple(
                (
                    d.day,
                    WEEKDAYS[date.fromisoformat(d.day).weekday()],
                    d.arrivals,
                    d.called,
                    d.served,
                    d.no_shows,
                    _min(d.wait.median),
                    _min(d.wait.p90),
                )
                for d in f.by_day
            ),
        ),
    ]


def local_ms(ms: npt.NDArray[np.integer] | F64, tz: ZoneInfo) -> I64:
    """Epoch ms as local wall-clock ms since 1970-01-01 (``// 3_600_000 % 24`` is the local hour)."""
    return _local(ms, tz)


def of_site(data: Columns, site: SiteConfig, until_ms: int | None = None) -> Figures:
    """:func:`figures` with the site's zone, target wait and stations (the pages' and the report's)."""
    return figures(
        data,
        tz=ZoneInfo(site.timezone),
        target_wait_s=site.congestion.target_wait_minutes * 60,
        stations=[s.code for s in site.stations],
        until_ms=until_ms,
    )
