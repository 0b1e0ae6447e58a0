"""Tomorrow's and next week's residents and the counters they need, from the store's history
(pure: the columns of the cached days in, the forecast out). The floor view and the statistics
page show it; bench.stats_bench measures its error on held-out weeks."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from office.stats import forecast
from office.stats.figures import Columns, local_ms

MIN_HISTORY_DAYS = 15  # three weeks of open days: each weekday seen three times
HOLDOUT_WEEKS = 4


def arrival_counts(cols: Columns, tz: ZoneInfo, purposes: Sequence[str]) -> forecast.ArrivalCounts:
    """Arrivals per business day × local hour × purpose (as issued), from the columns: what
    :func:`office.stats.forecast.arrival_counts` counts from the log, without reading it."""
    order = {p: i for i, p in enumerate(purposes)}
    for name in cols.categories:
        order.setdefault(name, len(order))
    days = sorted({int(d) for d in np.unique(cols.day).tolist()}, key=lambda i: cols.days[i])
    rank = np.full(len(cols.days), -1, dtype=np.int64)
    for i, d in enumerate(days):
        rank[d] = i
    counts = np.zeros((len(days), 24, len(order)), dtype=np.float64)
    if len(cols):
        hour = (local_ms(cols.issued_ms, tz) // 3_600_000) % 24
        purpose = np.array([order[c] for c in cols.categories], dtype=np.int64)[cols.first_category]
        np.add.at(counts, (rank[cols.day], hour, purpose), 1.0)
    return forecast.ArrivalCounts(tuple(date.fromisoformat(cols.days[d]) for d in days), tuple(order), counts)


@dataclass(frozen=True)
class DayOutlook:
    """A day's expected residents per hour (all purposes) and per purpose, and counters needed."""

    day: date
    expected: tuple[float, ...]  # per hour 0-23
    by_purpose: tuple[tuple[str, float], ...]
    counters: tuple[int, ...]  # per hour 0-23

    @property
    def total(self) -> float:
        """The day's expected residents."""
        return float(sum(self.expected))

    @property
    def closed(self) -> bool:
        """Nobody is expected: the office is closed."""
        return self.total == 0


@dataclass(frozen=True)
class Outlook:
    """The next open days' forecasts, and the model's error against the naive one."""

    days: tuple[DayOutlook, ...]
    model_wape: float | None
    naive_wape: float | None
    history_days: int


def outlook(
    cols: Columns,
    *,
    tz: ZoneInfo,
    purposes: Sequence[str],
    service_s: dict[str, float],
    default_service_s: float,
    target_wait_s: float,
    target_share: float,
    after: date,
    days: int = 7,
    holidays: Collection[date] = (),
) -> Outlook | None:
    """The ``days`` days after ``after`` (closed ones included, as closed), or None when the
    history is too short to say anything."""
    counts = arrival_counts(cols, tz, purposes).between(last=after)
    if len(counts.days) < MIN_HISTORY_DAYS:
        return None
    model = forecast.fit(counts, holidays)
    model_wape = naive_wape = None
    if len(counts.days) >= MIN_HISTORY_DAYS + 5 * HOLDOUT_WEEKS:
        check = forecast.evaluate(counts, HOLDOUT_WEEKS, holidays)
        model_wape, naive_wape = check.model.wape, check.naive.wape
    out = []
    for k in range(1, days + 1):
        day = after + timedelta(days=k)
        predicted = forecast.predict(model, day, holidays)
        staff = forecast.staffing(
            predicted,
            service_s,
            target_wait_s=target_wait_s,
            target_share=target_share,
            default_service_s=default_service_s,
        )
        out.append(
            DayOutlook(
                day=day,
                expected=tuple(float(x) for x in predicted.by_hour().tolist()),
                by_purpose=tuple(
                    (p, float(x))
                    for p, x in zip(predicted.purposes, predicted.counts.sum(axis=0).tolist(), strict=True)
                ),
                counters=tuple(staff[h] for h in range(24)),
            )
        )
    return Outlook(tuple(out), model_wape, naive_wape, len(counts.days))
