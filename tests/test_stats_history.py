"""The generated year of the demo town (office/stats/history.py): deterministic, written as the log
writes it, and shaped like DOMAIN.md's figures.

One year is generated once for the module (about 250,000 tickets) and summarised while it streams
by, so the rows never sit in memory all at once; every ticket's rows are replayed through the
domain's own functions and must leave the ticket as the generator says.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from office import config as configmod
from office import domain
from office.domain import Status, Ticket
from office.stats import history
from office.ticket_log import Kind, LogRow

SITE = configmod.load()
TZ = ZoneInfo(SITE.timezone)
FIRST, LAST = date(2025, 1, 1), date(2025, 12, 31)
PEAK_WEEK = (date(2025, 3, 31), date(2025, 4, 4))
NORMAL_WEEKS = [(date(2025, 6, 2) + timedelta(weeks=k), date(2025, 6, 6) + timedelta(weeks=k)) for k in range(5)]


def replay(ticket: Ticket, rows: Sequence[LogRow]) -> Ticket:
    """The ticket the rows make, by the office's own domain functions; checks each row's place."""
    first = rows[0]
    assert first.kind is Kind.ISSUED and first.station is None and first.counter is None
    t = Ticket(
        ticket_id=first.ticket_id,
        day=first.day,
        series=ticket.series,
        number=ticket.number,
        category=first.category,
        device=first.device or "",
        issued_ms=first.at_ms,
        hlc=ticket.hlc,
        route=domain.category(SITE, first.category).route,
        procedures=ticket.procedures,
        updated_ms=first.at_ms,
    )
    for row in rows[1:]:
        at = row.at_ms
        if row.kind is Kind.CALLED:
            assert row.counter is not None
            t = domain.call(t, row.counter, at)[0]
        elif row.kind is Kind.STARTED:
            assert row.counter is not None
            t = domain.start(t, row.counter, at)
        elif row.kind in (Kind.MOVED, Kind.READY):
            assert row.station is not None
            t = domain.advance(t, row.station, at)[0]
            assert (t.status is Status.READY) == (row.kind is Kind.READY)
            assert row.kind is Kind.READY or row.detail == t.route[t.station_index - 1]
        elif row.kind is Kind.DONE:
            t = domain.collect(t, at)
        elif row.kind is Kind.ABSENT:
            t = domain.absent(t, at)
        elif row.kind is Kind.TRANSFERRED:
            assert row.detail == t.category
            t = domain.transfer_purpose(t, domain.category(SITE, row.category), at)
        elif row.kind is Kind.HELD:
            t = domain.hold(t, at)
        elif row.kind is Kind.RESUMED:
            t = domain.resume(t, at)
        elif row.kind is Kind.VOIDED:
            t = domain.void(t, at)
        else:
            raise AssertionError(f"unexpected row {row}")
        assert row.station == t.station, row
        assert row.category == t.category, row
        if row.kind is not Kind.TRANSFERRED:
            assert row.counter == t.counter, row
    return t


@dataclass
class Year:
    """What the tests need of the generated year, gathered in one pass."""

    tickets: int = 0
    rows: int = 0
    kinds: Counter[Kind] = field(default_factory=Counter)
    by_hour: Counter[int] = field(default_factory=Counter)
    by_day: Counter[date] = field(default_factory=Counter)
    moving_by_day: Counter[date] = field(default_factory=Counter)
    waits: dict[date, list[float]] = field(default_factory=lambda: defaultdict(list))
    numbers: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[Status] = field(default_factory=Counter)
    seconds: float = 0.0


@pytest.fixture(scope="module")
def year() -> Year:
    out = Year()
    started = datetime.now()
    for ticket, rows in history.generate(SITE, FIRST, LAST, seed=2025):
        out.tickets += 1
        out.rows += len(rows)
        assert rows[0].kind is Kind.ISSUED
        assert all(a.at_ms <= b.at_ms for a, b in pairwise(rows)), ticket.ticket_id
        assert all(r.ticket_id == ticket.ticket_id and r.day == ticket.day for r in rows)
        assert ticket.updated_ms == rows[-1].at_ms and ticket.token is None and ticket.holder is None
        assert ticket.ticket_id == domain.ticket_id(ticket.day, ticket.series, ticket.number)
        # Replaying through the domain is the strongest check and the slowest: every ticket with
        # an unusual life, and one in twenty of the rest.
        if len(rows) != 2 + len(ticket.route) + 1 or out.tickets % 20 == 0:
            assert replay(ticket, rows) == ticket, ticket.ticket_id
        day = date.fromisoformat(ticket.day)
        local = datetime.fromtimestamp(rows[0].at_ms / 1000, TZ)
        assert local.date() == day and history.OPEN <= local.time() < history.CLOSE
        out.kinds.update(r.kind for r in rows)
        out.statuses[ticket.status] += 1
        out.by_hour[local.hour] += 1
        out.by_day[day] += 1
        if rows[0].category == "moving":
            out.moving_by_day[day] += 1
        called = next((r for r in rows if r.kind is Kind.CALLED), None)
        if called is not None:
            out.waits[day].append((called.at_ms - rows[0].at_ms) / 60_000)
        out.numbers[(ticket.day, ticket.series)].append(ticket.number)
    out.seconds = (datetime.now() - started).total_seconds()
    return out


def test_a_year_comes_to_the_benchs_target(year: Year) -> None:
    print(
        f"\n{year.tickets} tickets, {year.rows} rows ({year.rows / year.tickets:.2f} a ticket) "
        f"in {year.seconds:.1f} s with the checks; statuses {dict(year.statuses)}"
    )
    assert abs(year.tickets - history.TARGET_YEAR_TICKETS) < 0.05 * history.TARGET_YEAR_TICKETS
    expected = sum(sum(history.expected_arrivals(SITE, d).values()) for d in history.open_days(FIRST, LAST))
    # The series' ranges turn a few residents away on the season's peak days, no more.
    assert 0.97 * expected < year.tickets <= expected * 1.01


def test_the_window_is_closed_on_weekends_holidays_and_the_new_year(year: Year) -> None:
    opened = set(year.by_day)
    assert opened == set(history.open_days(FIRST, LAST))
    for closed in (date(2025, 1, 2), date(2025, 5, 5), date(2025, 11, 24), date(2025, 12, 29), date(2025, 6, 7)):
        assert closed not in opened
    assert len(opened) == 241  # 261 weekdays, 15 holidays on them, 5 of the New Year closure


def test_numbers_run_from_the_series_first_without_gaps_or_repeats(year: Year) -> None:
    first = {c.series: c.first for c in SITE.categories}
    for (_, series), numbers in year.numbers.items():
        assert sorted(numbers) == list(range(first[series], first[series] + len(numbers)))


def test_the_busiest_hour_is_ten_to_eleven_with_a_lunchtime_dip(year: Year) -> None:
    hours = year.by_hour
    assert max(hours, key=lambda h: hours[h]) == 10
    assert hours[12] < min(hours[11], hours[13])
    assert set(hours) <= set(range(8, 18))


def test_mondays_and_days_after_holidays_are_busier(year: Year) -> None:
    def mean_on(weekday: int) -> float:
        days = [n for d, n in year.by_day.items() if d.weekday() == weekday and history.closed_before(d) == 0]
        return statistics.mean(days)

    assert mean_on(0) > 1.1 * mean_on(2)
    after = [n for d, n in year.by_day.items() if history.closed_before(d) >= 3 and d.month not in (3, 4)]
    ordinary = [n for d, n in year.by_day.items() if history.closed_before(d) == 0 and d.month not in (3, 4)]
    assert statistics.mean(after) > 1.3 * statistics.mean(ordinary)


def _week(counts: Counter[date], week: tuple[date, date]) -> int:
    return sum(n for d, n in counts.items() if week[0] <= d <= week[1])


def test_the_moving_season_brings_four_times_the_moves_and_long_waits(year: Year) -> None:
    peak = _week(year.moving_by_day, PEAK_WEEK)
    normal = statistics.mean(_week(year.moving_by_day, w) for w in NORMAL_WEEKS)
    print(f"\nmoving: peak week {peak}, a normal week {normal:.0f} ({peak / normal:.1f}×)")
    assert peak >= 3.5 * normal

    def mean_wait(week: tuple[date, date]) -> float:
        return statistics.mean(w for d, ws in year.waits.items() if week[0] <= d <= week[1] for w in ws)

    peak_wait = mean_wait(PEAK_WEEK)
    normal_wait = statistics.mean(mean_wait(w) for w in NORMAL_WEEKS)
    longest = max(max(ws) for d, ws in year.waits.items() if PEAK_WEEK[0] <= d <= PEAK_WEEK[1])
    print(f"waits: {peak_wait:.0f} min in the peak week (longest {longest:.0f}), {normal_wait:.0f} in a normal one")
    assert peak_wait > 3 * normal_wait and longest > 90


def test_no_shows_transfers_voids_and_holds_happen_at_their_rates(year: Year) -> None:
    n = year.tickets
    assert 0.02 < year.kinds[Kind.ABSENT] / n < 0.05
    assert 0.005 < year.kinds[Kind.TRANSFERRED] / n < 0.015
    assert 0 < year.kinds[Kind.VOIDED] / n < 0.01
    assert year.kinds[Kind.HELD] == year.kinds[Kind.RESUMED] > 0.01 * n
    # Some of the absent came back and were called again: more calls than tickets called once.
    assert year.kinds[Kind.CALLED] > n - year.kinds[Kind.VOIDED]
    assert year.statuses[Status.DONE] > 0.97 * n


def test_the_generator_is_deterministic_for_a_seed() -> None:
    week = (date(2025, 4, 7), date(2025, 4, 11))
    a = list(history.generate(SITE, *week, seed=11, scale=0.2))
    b = list(history.generate(SITE, *week, seed=11, scale=0.2))
    c = list(history.generate(SITE, *week, seed=12, scale=0.2))
    assert a == b and a != c
    # A day comes out the same whatever range it is generated in.
    alone = list(history.generate(SITE, date(2025, 4, 9), date(2025, 4, 9), seed=11, scale=0.2))
    assert alone == [x for x in a if x[0].day == "2025-04-09"]
    # The arrivals alone are the ISSUED rows of the full generation.
    issued = list(history.issued_rows(SITE, *week, seed=11, scale=0.2))
    assert issued == [rows[0] for _, rows in a]


def test_tickets_and_rows_carry_the_devices_staff_and_counters() -> None:
    out = list(history.generate(SITE, date(2025, 6, 2), date(2025, 6, 2), seed=5))
    devices = {t.device for t, _ in out}
    assert devices == set(history.DISPENSERS)
    counters = {c.number for c in SITE.counters}
    users = {r.username for _, rows in out for r in rows if r.username}
    assert any(u.startswith("clerk") for u in users) and any(u.startswith("input") for u in users)
    for ticket, rows in out:
        assert all(r.device == ticket.device for r in rows)
        assert all(r.counter in counters for r in rows if r.counter is not None)
        assert rows[0].username is None and rows[0].station is None
        if ticket.status is Status.DONE:
            assert [r.kind for r in rows][-2:] == [Kind.READY, Kind.DONE]
            assert ticket.counter == rows[-1].counter and ticket.station_index == len(ticket.route) - 1
    local = [datetime.fromtimestamp(t.issued_ms / 1000, TZ).time() for t, _ in out]
    assert min(local) >= time(8, 30) and max(local) < time(17, 15)
