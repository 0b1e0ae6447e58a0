"""Tomorrow's arrivals from the office's own history, and the counters they need (pure, numpy).

The model is multiplicative, per purpose: a typical day's level × a weekday effect × an effect
of the days closed just before (the first day after a holiday is busier) × a time-of-year
effect, spread over the hours by the purpose's hour-of-day profile. It is a Poisson log-linear
model fitted by backfitting: each factor in turn becomes observed ÷ expected over the days it
covers, which is the Poisson maximum-likelihood step for that factor, so the ratios of means
converge to the GLM's fit without a design matrix (a year of days × purposes is small, but an
IRLS solve would add nothing the ratios do not give, and the ratios read as what they are).

The time-of-year effect is what last year's same weeks said: a ratio per day of the year,
smoothed over ±``SEASON_HALF_WIDTH`` days, so the moving season (late March - early April) is
foreseen from the year before. Where the history has no such days (less than a year of it),
the factor is neutral (1: a typical day); the factors are scaled so that the median day of the
history is 1. The hour profile is one per purpose; the generated and observed towns show no
weekday difference in the profile worth its extra parameters.

Staffing uses Erlang C (M/M/c): the share of residents who wait at most ``t`` with ``c``
counters is 1 - C·e^{-(cμ-λ)t}.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from common.calendar import NEW_YEAR_HOLIDAYS
from office.ticket_log import Kind, LogRow

Array = npt.NDArray[np.float64]

HOURS = 24
DAYS_OF_YEAR = 366  # a leap year's calendar, so 29 February has its own slot
SEASON_HALF_WIDTH = 5  # days either side: a week's worth of open days, narrow enough for a 3-week season
# Closed days just before a day, beyond the usual weekend: none, 1-2, 3-4 (a long weekend and
# then some), 5 or more (Golden Week, the New Year).
CLOSURE_CLASSES = ((0, 0), (1, 2), (3, 4), (5, 10_000))
_PSEUDO = 1.0  # arrivals added to both sides of a ratio: a factor with no data is 1
_ITERATIONS = 25


@dataclass(frozen=True)
class ArrivalCounts:
    """Arrivals per business day × hour of the day (local) × purpose: the ISSUED rows counted."""

    days: tuple[date, ...]  # ascending: the business days with arrivals
    purposes: tuple[str, ...]
    counts: Array  # shape (days, 24, purposes)

    def between(self, first: date | None = None, last: date | None = None) -> ArrivalCounts:
        """The days from ``first`` to ``last`` inclusive (None: no bound)."""
        keep = [i for i, d in enumerate(self.days) if (first is None or d >= first) and (last is None or d <= last)]
        return ArrivalCounts(tuple(self.days[i] for i in keep), self.purposes, self.counts[keep])


def arrival_counts(rows: Iterable[LogRow], tz: ZoneInfo | str, purposes: Sequence[str] = ()) -> ArrivalCounts:
    """Count the ISSUED rows by business day, local hour and purpose (as issued, before any transfer).

    ``purposes`` fixes the order of the purposes (a site's categories); others seen are added
    after them in the order they appear.
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    order = {p: i for i, p in enumerate(purposes)}
    days: dict[str, int] = {}
    hits: list[tuple[int, int, int]] = []
    for row in rows:
        if row.kind is not Kind.ISSUED:
            continue
        d = days.setdefault(row.day, len(days))
        p = order.setdefault(row.category, len(order))
        hour = datetime.fromtimestamp(row.at_ms / 1000, zone).hour
        hits.append((d, hour, p))
    labels = sorted(days, key=date.fromisoformat)
    rank = {days[label]: i for i, label in enumerate(labels)}
    counts = np.zeros((len(labels), HOURS, len(order)), dtype=np.float64)
    if hits:
        idx = np.asarray(hits, dtype=np.int64)
        idx[:, 0] = np.asarray([rank[i] for i in idx[:, 0].tolist()], dtype=np.int64)
        np.add.at(counts, (idx[:, 0], idx[:, 1], idx[:, 2]), 1.0)
    return ArrivalCounts(tuple(date.fromisoformat(x) for x in labels), tuple(order), counts)


def is_closed(day: date, holidays: Collection[date] = ()) -> bool:
    """Weekends, 29 Dec - 3 Jan and the given holidays."""
    return day.weekday() >= 5 or (day.month, day.day) in NEW_YEAR_HOLIDAYS or day in holidays


def closed_before(day: date, holidays: Collection[date] = ()) -> int:
    """Closed days just before ``day``, beyond the usual weekend (a Monday's Saturday and Sunday)."""
    run = 0
    d = day - timedelta(days=1)
    while is_closed(d, holidays) and run < 60:
        run += 1
        d -= timedelta(days=1)
    return max(0, run - 2 if day.weekday() == 0 else run)


def _closure_class(extra: int) -> int:
    return next(i for i, (lo, hi) in enumerate(CLOSURE_CLASSES) if lo <= extra <= hi)


def _day_of_year(day: date) -> int:
    return date(2000, day.month, day.day).timetuple().tm_yday - 1


@dataclass(frozen=True)
class Model:
    """Fitted factors; the expected arrivals of purpose p in hour h of day d are
    level[p] × weekday[d.weekday(), p] × closure[class(d)] × season[day_of_year(d), p] × hour[h, p]."""

    purposes: tuple[str, ...]
    level: Array  # (purposes,): a typical day's arrivals
    weekday: Array  # (7, purposes); 1 for weekdays never seen
    closure: Array  # (classes,): class 0 (no extra closure) is 1
    season: Array  # (366, purposes); 1 where the history says nothing
    hour: Array  # (24, purposes): each purpose's share of a day's arrivals by hour
    closed: frozenset[date]  # closures the history showed (weekdays without arrivals)
    first_day: date
    last_day: date


@dataclass(frozen=True)
class Prediction:
    """Expected arrivals on ``day`` by hour × purpose."""

    day: date
    purposes: tuple[str, ...]
    counts: Array  # (24, purposes)

    def by_hour(self) -> Array:
        """All purposes together, per hour."""
        out: Array = self.counts.sum(axis=1)
        return out

    def total(self) -> float:
        """The day's expected arrivals."""
        return float(self.counts.sum())


def _inferred_closures(days: Sequence[date]) -> set[date]:
    """Weekdays inside the history without a single arrival: the office was closed."""
    seen = set(days)
    out = set()
    d = days[0]
    while d <= days[-1]:
        if d.weekday() < 5 and d not in seen:
            out.add(d)
        d += timedelta(days=1)
    return out


def _smooth(values: Array) -> Array:
    """Triangular kernel over the day of the year, wrapping round the year's end."""
    out = np.zeros_like(values)
    w = SEASON_HALF_WIDTH + 1
    for shift in range(-SEASON_HALF_WIDTH, SEASON_HALF_WIDTH + 1):
        out += (w - abs(shift)) / w * np.roll(values, shift, axis=0)
    return out


def fit(counts: ArrivalCounts, holidays: Collection[date] = ()) -> Model:
    """Fit the model to a history of arrivals (``holidays``: closures besides those it shows)."""
    if not counts.days:
        raise ValueError("no history: there are no arrivals to fit a forecast to")
    y = counts.counts
    daily: Array = y.sum(axis=1)  # (days, purposes)
    n_purposes = daily.shape[1]
    closed = frozenset(_inferred_closures(counts.days) | set(holidays))
    weekday_idx = np.asarray([d.weekday() for d in counts.days])
    class_idx = np.asarray([_closure_class(closed_before(d, closed)) for d in counts.days])
    doy_idx = np.asarray([_day_of_year(d) for d in counts.days])

    totals = y.sum(axis=0)  # (24, purposes)
    per_purpose = totals.sum(axis=0)
    hour: Array = np.divide(totals, per_purpose, out=np.zeros_like(totals), where=per_purpose > 0)

    level: Array = daily.mean(axis=0)
    weekday: Array = np.ones((7, n_purposes))
    closure: Array = np.ones(len(CLOSURE_CLASSES))
    season: Array = np.ones((DAYS_OF_YEAR, n_purposes))
    seen_weekdays = np.unique(weekday_idx)
    history_doys = np.unique(doy_idx)

    def expected() -> Array:
        out: Array = level * weekday[weekday_idx] * closure[class_idx][:, None] * season[doy_idx]
        return out

    for _ in range(_ITERATIONS):
        e = expected()
        for w in seen_weekdays:
            mask = weekday_idx == w
            weekday[w] *= (daily[mask].sum(axis=0) + _PSEUDO) / (e[mask].sum(axis=0) + _PSEUDO)
        scale = weekday[seen_weekdays].mean(axis=0)
        weekday[seen_weekdays] /= scale
        level = level * scale

        e = expected()
        for k in np.unique(class_idx):
            mask = class_idx == k
            closure[k] *= (daily[mask].sum() + _PSEUDO) / (e[mask].sum() + _PSEUDO)
        level = level * closure[0]
        closure /= closure[0]

        e = expected()
        observed = np.zeros((DAYS_OF_YEAR, n_purposes))
        baseline = np.zeros((DAYS_OF_YEAR, n_purposes))
        np.add.at(observed, doy_idx, daily)
        np.add.at(baseline, doy_idx, e / season[doy_idx])
        smoothed = _smooth(baseline)
        season = (_smooth(observed) + _PSEUDO) / (smoothed + _PSEUDO)
        # A typical day of the history is 1, and so is a day the history does not come near.
        median = np.median(season[history_doys], axis=0)
        season = np.where(smoothed > 0, season / median, 1.0)
        level = level * median

        e = expected()
        level = level * (daily.sum(axis=0) + _PSEUDO) / (e.sum(axis=0) + _PSEUDO)

    return Model(
        purposes=counts.purposes,
        level=level,
        weekday=weekday,
        closure=closure,
        season=season,
        hour=hour,
        closed=closed,
        first_day=counts.days[0],
        last_day=counts.days[-1],
    )


def predict(model: Model, day: date, holidays: Collection[date] = ()) -> Prediction:
    """Expected arrivals per hour and purpose on ``day`` (zero when the office is closed)."""
    closed = model.closed | frozenset(holidays)
    if is_closed(day, closed):
        return Prediction(day, model.purposes, np.zeros((HOURS, len(model.purposes))))
    k = _closure_class(closed_before(day, closed))
    daily = model.level * model.weekday[day.weekday()] * model.closure[k] * model.season[_day_of_year(day)]
    counts: Array = np.maximum(model.hour * daily, 0.0)
    return Prediction(day, model.purposes, counts)


@dataclass(frozen=True)
class Errors:
    """Forecast errors over the held-out open hours: per day-hour (all purposes together) and
    per day-hour-purpose."""

    mae: float  # mean absolute error of a day-hour's arrivals
    wape: float  # Σ|error| / Σ actual, per day-hour
    purpose_mae: float
    purpose_wape: float


@dataclass(frozen=True)
class Evaluation:
    """The model against the naive forecast (the same weekday a week before) on held-out weeks."""

    model: Errors
    naive: Errors
    first_day: date
    last_day: date
    days: int
    fitted_days: int


def _errors(actual: Array, forecast: Array) -> Errors:
    per_hour_actual = actual.sum(axis=2)
    per_hour_error = np.abs(per_hour_actual - forecast.sum(axis=2))
    error = np.abs(actual - forecast)
    return Errors(
        mae=float(per_hour_error.mean()),
        wape=float(per_hour_error.sum() / max(per_hour_actual.sum(), 1.0)),
        purpose_mae=float(error.mean()),
        purpose_wape=float(error.sum() / max(actual.sum(), 1.0)),
    )


def naive(history: ArrivalCounts, day: date) -> Array:
    """The naive forecast: the same weekday a week before (two, three … weeks when that was
    closed), else the latest open day before it; (24, purposes)."""
    index = {d: i for i, d in enumerate(history.days)}
    for weeks in range(1, 6):
        i = index.get(day - timedelta(weeks=weeks))
        if i is not None:
            out: Array = history.counts[i]
            return out
    earlier = [i for i, d in enumerate(history.days) if d < day]
    if not earlier:
        return np.zeros((HOURS, len(history.purposes)))
    latest: Array = history.counts[earlier[-1]]
    return latest


def evaluate(history: ArrivalCounts, holdout_weeks: int, holidays: Collection[date] = ()) -> Evaluation:
    """Fit on all but the last ``holdout_weeks`` weeks; measure both forecasts on those weeks.

    The model forecasts every held-out day from the fit, up to ``holdout_weeks`` ahead; the
    naive forecast takes each day's week-before actuals, held-out ones included, so it always
    looks one week ahead: the comparison favours the naive one.
    """
    if holdout_weeks < 1:
        raise ValueError(f"holdout_weeks must be at least 1, got {holdout_weeks}")
    cutoff = history.days[-1] - timedelta(weeks=holdout_weeks)
    train = history.between(last=cutoff)
    test = history.between(first=cutoff + timedelta(days=1))
    if not train.days or not test.days:
        raise ValueError("the history is too short for that many held-out weeks")
    model = fit(train, holidays)
    # The open hours: those with arrivals in the fitted history (zeros elsewhere flatter both).
    hours = np.flatnonzero(train.counts.sum(axis=(0, 2)) > 0)
    predicted = np.stack([predict(model, d, holidays).counts for d in test.days])
    week_before = np.stack([naive(history, d) for d in test.days])
    actual = test.counts[:, hours]
    return Evaluation(
        model=_errors(actual, predicted[:, hours]),
        naive=_errors(actual, week_before[:, hours]),
        first_day=test.days[0],
        last_day=test.days[-1],
        days=len(test.days),
        fitted_days=len(train.days),
    )


def erlang_c_wait_probability(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Erlang C: the probability that an arriving resident has to wait (M/M/c).

    Rates in the same unit (per hour, per second); 1 when the load is at or beyond what the
    servers can handle (the queue grows without end), 0 when nobody arrives.
    """
    if arrival_rate < 0 or service_rate <= 0:
        raise ValueError("arrival_rate must be >= 0 and service_rate > 0")
    if arrival_rate == 0:
        return 0.0
    if servers <= 0:
        return 1.0
    load = arrival_rate / service_rate  # offered load in erlangs
    if load >= servers:
        return 1.0
    # Erlang B by its recurrence (no factorials, no overflow at a hundred counters), then C from B.
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return servers * b / (servers - load * (1.0 - b))


def wait_within(arrival_rate: float, service_rate: float, servers: int, wait: float) -> float:
    """The share of residents called within ``wait`` (in the rates' time unit): 1 - C·e^{-(cμ-λ)t}."""
    c = erlang_c_wait_probability(arrival_rate, service_rate, servers)
    if c >= 1.0:
        return 0.0
    return 1.0 - c * math.exp(-(servers * service_rate - arrival_rate) * wait)


def counters_needed(arrivals_per_hour: float, mean_service_s: float, target_wait_s: float, target_share: float) -> int:
    """The fewest counters so that at least ``target_share`` of residents wait ``target_wait_s`` or less."""
    if mean_service_s <= 0 or target_wait_s < 0:
        raise ValueError("mean_service_s must be > 0 and target_wait_s >= 0")
    if not 0 <= target_share < 1:
        raise ValueError(f"target_share must be in [0, 1), got {target_share} (nobody can promise everyone)")
    if arrivals_per_hour <= 0:
        return 0
    arrival_rate = arrivals_per_hour / 3600.0
    service_rate = 1.0 / mean_service_s
    servers = math.floor(arrival_rate / service_rate) + 1  # the fewest that keep the queue finite
    while wait_within(arrival_rate, service_rate, servers, target_wait_s) < target_share:
        servers += 1
    return servers


def staffing(
    prediction: Prediction,
    service_s_by_purpose: Mapping[str, float],
    *,
    target_wait_s: float = 1800.0,
    target_share: float = 0.8,
    default_service_s: float | None = None,
    open_share: Mapping[int, float] | None = None,
) -> dict[int, int]:
    """Counters needed per hour (0-23) for a predicted day, every counter serving every purpose.

    An hour's service time is the arrivals-weighted mean of its purposes'; the default target
    is the site's 30 minutes for four residents in five. A purpose without a service time takes
    ``default_service_s``, or is an error when there is none. ``open_share`` gives the part of
    an hour the office is open ({8: 0.5} for an 08:30 opening): its arrivals come at the rate
    of a whole hour's worth in that part.
    """
    seconds = []
    for p in prediction.purposes:
        s = service_s_by_purpose.get(p, default_service_s)
        if s is None:
            raise ValueError(f"no service time for purpose {p}: give it in service_s_by_purpose or a default")
        seconds.append(s)
    times = np.asarray(seconds, dtype=np.float64)
    out = {}
    for h in range(HOURS):
        arrivals = prediction.counts[h]
        n = float(arrivals.sum())
        mean = float((arrivals * times).sum() / n) if n > 0 else 1.0
        share = (open_share or {}).get(h, 1.0)
        out[h] = counters_needed(n / share if share > 0 else 0.0, mean, target_wait_s, target_share)
    return out
