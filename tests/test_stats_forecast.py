"""The arrivals forecast and the counters it calls for (office/stats/forecast.py).

Erlang C against values worked by hand and a published example; the seasonal model against the
naive forecast (the same weekday a week before) on held-out weeks of the generated town
(office/stats/history.py): a normal autumn, and the moving season with the year before in the
history. A first season with no year before is the model's blind spot: its time-of-year factor
is neutral there, which the last test shows rather than hides.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from office import config as configmod
from office.stats import forecast, history
from office.stats.forecast import ArrivalCounts, counters_needed, erlang_c_wait_probability, wait_within
from office.ticket_log import Kind, LogRow

SITE = configmod.load()
TZ = ZoneInfo(SITE.timezone)
PURPOSES = [c.code for c in SITE.categories]
HOLIDAYS = history.JAPANESE_HOLIDAYS
# Minutes at the counter per purpose, as the generator serves them.
SERVICE_S = {
    c.code: 60 * history.RECEPTION_MINUTES.get(c.code, history.DEFAULT_RECEPTION_MINUTES) for c in SITE.categories
}


@pytest.fixture(scope="module")
def counts() -> ArrivalCounts:
    """Two moving seasons: from January 2025 to late April 2026."""
    rows = history.issued_rows(SITE, date(2025, 1, 6), date(2026, 4, 24), seed=7)
    return forecast.arrival_counts(rows, TZ, PURPOSES)


# Erlang C ------------------------------------------------------------------------------------


def erlang_c_by_the_formula(lam: float, mu: float, c: int) -> float:
    """C = (a^c/c! · c/(c-a)) / (Σ_{k<c} a^k/k! + a^c/c! · c/(c-a)), a = λ/μ."""
    a = lam / mu
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def test_erlang_c_matches_hand_worked_values() -> None:
    # One server: the probability of waiting is the utilisation.
    assert erlang_c_wait_probability(3.0, 4.0, 1) == pytest.approx(0.75)
    # Two servers, λ = μ = 1: a²/(2+a) = 1/3.
    assert erlang_c_wait_probability(1.0, 1.0, 2) == pytest.approx(1 / 3)
    # λ = 12 an hour, μ = 5 an hour, 3 servers: a = 2.4; a³/3! · 3/0.6 = 11.52 over
    # 1 + 2.4 + 2.88 + 11.52 = 17.8.
    assert erlang_c_wait_probability(12.0, 5.0, 3) == pytest.approx(11.52 / 17.8)
    assert erlang_c_wait_probability(12.0, 5.0, 3) == pytest.approx(erlang_c_by_the_formula(12.0, 5.0, 3))
    for lam, mu, c in ((50.0, 6.0, 10), (0.2, 0.01, 25), (95.0, 1.0, 120)):
        assert erlang_c_wait_probability(lam, mu, c) == pytest.approx(erlang_c_by_the_formula(lam, mu, c), rel=1e-9)


def test_erlang_c_matches_the_call_centre_helper_example() -> None:
    # The widely quoted worked example: 100 calls in 30 minutes, 180 s each (10 erlangs), 11
    # agents: 68.2 % wait, 39 % are answered within 20 s; 80 % within 20 s needs 14 agents.
    lam, mu = 100 / 1800, 1 / 180
    assert erlang_c_wait_probability(lam, mu, 11) == pytest.approx(0.6821, abs=5e-5)
    assert wait_within(lam, mu, 11, 20) == pytest.approx(0.390, abs=5e-4)
    assert wait_within(lam, mu, 13, 20) < 0.8 < wait_within(lam, mu, 14, 20)
    assert counters_needed(200, 180, 20, 0.8) == 14


def test_the_edges_of_erlang_c() -> None:
    assert erlang_c_wait_probability(0.0, 1.0, 3) == 0.0  # nobody comes, nobody waits
    assert erlang_c_wait_probability(5.0, 1.0, 5) == 1.0  # at capacity the queue never clears
    assert erlang_c_wait_probability(5.0, 1.0, 0) == 1.0
    assert wait_within(5.0, 1.0, 4, 100.0) == 0.0
    c = erlang_c_wait_probability(4.0, 1.0, 6)
    assert wait_within(4.0, 1.0, 6, 0.0) == pytest.approx(1 - c)
    assert wait_within(4.0, 1.0, 6, 1e6) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        erlang_c_wait_probability(1.0, 0.0, 2)


def test_counters_needed_grows_with_arrivals_and_handles_the_edges() -> None:
    needed = [counters_needed(n, 600, 1800, 0.8) for n in range(0, 401, 5)]
    assert needed == sorted(needed)
    assert needed[0] == 0  # no arrivals, no counters
    assert needed[-1] > needed[1] > 0
    # 123 an hour at 10 minutes is 20.5 erlangs: 20 counters would never clear the queue.
    assert counters_needed(123, 600, 1800, 0.0) == 21
    assert counters_needed(123, 600, 1800, 0.8) >= 21
    assert counters_needed(123, 600, 0, 0.5) >= counters_needed(123, 600, 1800, 0.5)
    for share in (1.0, -0.1):
        with pytest.raises(ValueError):
            counters_needed(10, 600, 1800, share)


# Arrival counts ------------------------------------------------------------------------------


def _ms(day: date, hour: int, minute: int) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ).timestamp() * 1000)


def test_arrival_counts_counts_issued_rows_by_business_day_local_hour_and_purpose() -> None:
    d1, d2 = date(2026, 4, 1), date(2026, 4, 2)
    rows = [
        LogRow(_ms(d2, 10, 5), "2026-04-02-1-1001", "2026-04-02", Kind.ISSUED, "moving"),
        LogRow(_ms(d1, 9, 59), "2026-04-01-2-2001", "2026-04-01", Kind.ISSUED, "certificates"),
        LogRow(_ms(d1, 10, 0), "2026-04-01-1-1001", "2026-04-01", Kind.ISSUED, "moving"),
        LogRow(_ms(d1, 10, 30), "2026-04-01-1-1001", "2026-04-01", Kind.CALLED, "moving", "reception", 1),
        LogRow(_ms(d1, 10, 59), "2026-04-01-7-7001", "2026-04-01", Kind.ISSUED, "unknown"),
    ]
    counts = forecast.arrival_counts(rows, "Asia/Tokyo", ["moving", "certificates"])
    assert counts.days == (d1, d2)
    assert counts.purposes == ("moving", "certificates", "unknown")
    assert counts.counts.shape == (2, 24, 3)
    assert counts.counts[0, 9].tolist() == [0, 1, 0]
    assert counts.counts[0, 10].tolist() == [1, 0, 1]
    assert counts.counts[1, 10].tolist() == [1, 0, 0]
    assert counts.counts.sum() == 4


# The model -----------------------------------------------------------------------------------


def _report(name: str, ev: forecast.Evaluation) -> None:
    print(
        f"\n{name}: {ev.first_day}..{ev.last_day} ({ev.days} days, fitted on {ev.fitted_days})\n"
        f"  model: MAE {ev.model.mae:.1f} a day-hour, WAPE {ev.model.wape:.1%} "
        f"(per purpose: MAE {ev.model.purpose_mae:.2f}, WAPE {ev.model.purpose_wape:.1%})\n"
        f"  naive: MAE {ev.naive.mae:.1f} a day-hour, WAPE {ev.naive.wape:.1%} "
        f"(per purpose: MAE {ev.naive.purpose_mae:.2f}, WAPE {ev.naive.purpose_wape:.1%})"
    )


def test_the_model_beats_the_naive_forecast_on_normal_weeks(counts: ArrivalCounts) -> None:
    # Six weeks of autumn with two Monday holidays in them, fitted on the ten months before.
    ev = forecast.evaluate(counts.between(last=date(2025, 11, 28)), 6, HOLIDAYS)
    _report("normal weeks", ev)
    assert ev.days == 28
    assert ev.model.wape < 0.8 * ev.naive.wape
    assert ev.model.purpose_wape < ev.naive.purpose_wape
    assert ev.model.mae < ev.naive.mae


def test_the_model_beats_the_naive_forecast_in_the_moving_season_knowing_last_year(counts: ArrivalCounts) -> None:
    # The last four weeks, 30 March - 24 April 2026: the peak and the tail of the season, with
    # the 2025 season in the history.
    ev = forecast.evaluate(counts, 4, HOLIDAYS)
    _report("moving season", ev)
    assert ev.first_day == date(2026, 3, 30) and ev.days == 20
    assert ev.model.wape < 0.6 * ev.naive.wape
    assert ev.model.purpose_wape < ev.naive.purpose_wape


def test_without_a_year_before_the_season_is_neutral(counts: ArrivalCounts) -> None:
    # Fitted on 2025 from May to December, the model has never seen a spring: 1 April is a typical day.
    model = forecast.fit(counts.between(first=date(2025, 5, 1), last=date(2025, 12, 26)), HOLIDAYS)
    april = forecast._day_of_year(date(2026, 4, 1))
    assert np.all(model.season[april] == 1.0)
    # A Wednesday in the season and an ordinary Wednesday are forecast alike ...
    wednesday = forecast.predict(model, date(2026, 4, 1), HOLIDAYS)
    ordinary = forecast.predict(model, date(2026, 6, 10), HOLIDAYS)
    assert wednesday.total() == pytest.approx(ordinary.total(), rel=0.05)
    # ... so the first season is where the naive forecast, a week behind, does better.
    ev = forecast.evaluate(counts.between(last=date(2025, 4, 11)), 3, HOLIDAYS)
    _report("first season, no year before", ev)
    assert ev.model.wape > ev.naive.wape


def test_predictions_are_non_negative_and_zero_when_closed(counts: ArrivalCounts) -> None:
    model = forecast.fit(counts.between(last=date(2026, 3, 13)), HOLIDAYS)
    day = date(2026, 3, 16)
    for _ in range(120):
        p = forecast.predict(model, day, HOLIDAYS)
        assert p.counts.shape == (24, len(PURPOSES)) and np.all(p.counts >= 0)
        if history.is_closed(day):
            assert p.total() == 0
        else:
            assert p.total() > 100
            assert int(np.argmax(p.by_hour())) == 10
        day += timedelta(days=1)
    # Fitted without the holiday list, the model knows the closures its history shows and no
    # future holiday until it is told.
    bare = forecast.fit(counts.between(last=date(2026, 3, 13)))
    assert date(2025, 5, 6) in bare.closed and date(2026, 5, 6) not in bare.closed
    assert forecast.predict(bare, date(2026, 5, 6)).total() > 0
    assert forecast.predict(bare, date(2026, 5, 6), HOLIDAYS).total() == 0  # 振替休日
    assert forecast.predict(model, date(2026, 5, 6)).total() == 0


def test_the_moving_season_and_the_day_after_a_holiday_are_forecast_busier(counts: ArrivalCounts) -> None:
    model = forecast.fit(counts.between(last=date(2026, 3, 13)), HOLIDAYS)
    moving = PURPOSES.index("moving")

    def week(first: date) -> float:
        days = [forecast.predict(model, first + timedelta(days=k), HOLIDAYS) for k in range(5)]
        return sum(float(p.counts[:, moving].sum()) for p in days)

    season, normal = week(date(2026, 3, 30)), week(date(2026, 5, 25))
    print(f"\nmoving forecast: {season:.0f} in the week of 30 March, {normal:.0f} in the week of 25 May")
    assert season > 3 * normal
    # Golden Week: Thursday 7 May 2026 follows four closed days; Thursday 14 May is ordinary.
    after = forecast.predict(model, date(2026, 5, 7), HOLIDAYS).total()
    plain = forecast.predict(model, date(2026, 5, 14), HOLIDAYS).total()
    assert after > 1.3 * plain


def test_staffing_follows_the_forecast_hour_by_hour(counts: ArrivalCounts) -> None:
    model = forecast.fit(counts.between(last=date(2026, 3, 13)), HOLIDAYS)
    normal = forecast.staffing(forecast.predict(model, date(2026, 6, 10), HOLIDAYS), SERVICE_S)
    peak = forecast.staffing(forecast.predict(model, date(2026, 3, 31), HOLIDAYS), SERVICE_S)
    print(f"\ncounters per hour, a normal Wednesday: {normal}\n  31 March 2026: {peak}")
    assert set(normal) == set(range(24))
    assert all(normal[h] == 0 for h in (0, 7, 18, 23))
    assert max(normal, key=lambda h: normal[h]) == 10
    assert all(peak[h] >= normal[h] for h in range(24)) and peak[10] > 1.5 * normal[10]
    # A stricter promise needs more counters.
    strict = forecast.staffing(
        forecast.predict(model, date(2026, 6, 10), HOLIDAYS), SERVICE_S, target_wait_s=300, target_share=0.9
    )
    assert all(strict[h] >= normal[h] for h in range(24)) and strict[10] > normal[10]
    # The half hour after 08:30 comes at twice the rate its count says.
    opening = forecast.staffing(forecast.predict(model, date(2026, 6, 10), HOLIDAYS), SERVICE_S, open_share={8: 0.5})
    assert opening[8] > normal[8] and opening[10] == normal[10]
    with pytest.raises(ValueError, match="no service time for purpose moving"):
        forecast.staffing(forecast.predict(model, date(2026, 6, 10), HOLIDAYS), {})
