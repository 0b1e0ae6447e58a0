"""Business days (with the rollover hour) and opening hours, in Asia/Tokyo."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.calendar import (
    KIOSK_HOURS,
    NEW_YEAR_HOLIDAYS,
    Hours,
    business_day,
    next_business_days,
)

TOKYO = ZoneInfo("Asia/Tokyo")
EPOCH = datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))


def _ms(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
    *,
    tz: ZoneInfo = TOKYO,
) -> int:
    """Unix ms of a local wall time, computed exactly (no float timestamp)."""
    local = datetime(year, month, day, hour, minute, second, microsecond, tzinfo=tz)
    return (local - EPOCH) // timedelta(milliseconds=1)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ((2024, 4, 2, 1, 30), date(2024, 4, 1)),  # after midnight, before rollover
        ((2024, 4, 2, 2, 59, 59, 999_000), date(2024, 4, 1)),
        ((2024, 4, 2, 3, 0), date(2024, 4, 2)),  # rollover instant
        ((2024, 4, 1, 23, 59), date(2024, 4, 1)),
        ((2024, 4, 1, 9, 0), date(2024, 4, 1)),
        ((2024, 1, 1, 0, 10), date(2023, 12, 31)),  # across the year
        ((2024, 3, 1, 2, 0), date(2024, 2, 29)),  # leap day
    ],
)
def test_business_day_with_the_default_rollover(local: tuple[int, ...], expected: date) -> None:
    assert business_day(_ms(*local), TOKYO) == expected


def test_business_day_uses_local_time_not_utc() -> None:
    # 2024-04-01 16:00 UTC is 2024-04-02 01:00 in Tokyo: still business day 1 April.
    assert business_day(_ms(2024, 4, 1, 16, 0, tz=ZoneInfo("UTC")), TOKYO) == date(2024, 4, 1)
    # 2024-04-01 18:30 UTC is 03:30 on 2 April in Tokyo: business day 2 April.
    assert business_day(_ms(2024, 4, 1, 18, 30, tz=ZoneInfo("UTC")), TOKYO) == date(2024, 4, 2)


def test_business_day_does_not_round_the_last_millisecond_over() -> None:
    last_ms = _ms(2024, 4, 2, 3, 0) - 1
    assert business_day(last_ms, TOKYO) == date(2024, 4, 1)
    assert business_day(last_ms + 1, TOKYO) == date(2024, 4, 2)


def test_rollover_zero_is_calendar_midnight() -> None:
    assert business_day(_ms(2024, 4, 2, 0, 0), TOKYO, rollover_hour=0) == date(2024, 4, 2)
    assert business_day(_ms(2024, 4, 1, 23, 59), TOKYO, rollover_hour=0) == date(2024, 4, 1)


@pytest.mark.parametrize("hour", [-1, 24])
def test_rollover_hour_out_of_range(hour: int) -> None:
    with pytest.raises(ValueError):
        business_day(0, TOKYO, rollover_hour=hour)


@given(st.integers(min_value=0, max_value=4_102_444_800_000), st.integers(0, 23))
def test_tokyo_business_days_are_exactly_24_hours(now: int, rollover: int) -> None:
    # Japan has no DST, so a business day always starts rollover hours after local midnight
    # and the day of now + 24 h is the next day.
    today = business_day(now, TOKYO, rollover)
    assert business_day(now + 86_400_000, TOKYO, rollover) == today + timedelta(days=1)
    start = datetime.combine(today, time(rollover), tzinfo=TOKYO)
    assert start.timestamp() * 1000 <= now < start.timestamp() * 1000 + 86_400_000


def test_business_day_in_a_dst_zone_follows_the_wall_clock() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 2024-03-31 is the spring-forward night (02:00 -> 03:00); 02:30 does not exist.
    assert business_day(_ms(2024, 3, 31, 1, 59, tz=berlin), berlin) == date(2024, 3, 30)
    assert business_day(_ms(2024, 3, 31, 3, 0, tz=berlin), berlin) == date(2024, 3, 31)


def test_next_business_days_skips_closed_days() -> None:
    hours = Hours(time(8, 30), time(17, 15), NEW_YEAR_HOLIDAYS, frozenset({5, 6}))
    # Friday 27 Dec 2024: next open days are Monday 6 Jan and Tuesday 7 Jan 2025.
    assert next_business_days(date(2024, 12, 27), 2, hours.is_closed_day) == [
        date(2025, 1, 6),
        date(2025, 1, 7),
    ]


def test_next_business_days_is_strictly_after_the_day() -> None:
    assert next_business_days(date(2024, 4, 1), 1, lambda d: False) == [date(2024, 4, 2)]
    assert next_business_days(date(2024, 4, 1), 0, lambda d: False) == []


def test_next_business_days_refuses_a_calendar_that_never_opens() -> None:
    with pytest.raises(ValueError):
        next_business_days(date(2024, 4, 1), 1, lambda d: True)


def test_next_business_days_refuses_a_negative_count() -> None:
    with pytest.raises(ValueError):
        next_business_days(date(2024, 4, 1), -1, lambda d: False)


def test_kiosk_hours_at_the_edges() -> None:
    day = date(2024, 4, 1)
    assert not KIOSK_HOURS.is_open(datetime.combine(day, time(6, 29, 59)))
    assert KIOSK_HOURS.is_open(datetime.combine(day, time(6, 30)))
    assert KIOSK_HOURS.is_open(datetime.combine(day, time(22, 59, 59, 999_999)))
    assert not KIOSK_HOURS.is_open(datetime.combine(day, time(23, 0)))
    assert not KIOSK_HOURS.is_open(datetime.combine(day, time(0, 0)))


def test_kiosk_hours_with_an_aware_tokyo_datetime() -> None:
    assert KIOSK_HOURS.is_open(datetime(2024, 4, 1, 12, 0, tzinfo=TOKYO))


@pytest.mark.parametrize(
    ("d", "closed"),
    [
        (date(2024, 12, 28), False),
        (date(2024, 12, 29), True),
        (date(2024, 12, 31), True),
        (date(2025, 1, 1), True),
        (date(2025, 1, 3), True),
        (date(2025, 1, 4), False),
    ],
)
def test_new_year_closure(d: date, closed: bool) -> None:
    assert KIOSK_HOURS.is_closed_day(d) is closed
    assert KIOSK_HOURS.is_open(datetime.combine(d, time(12, 0))) is not closed


def test_closed_weekdays() -> None:
    weekdays_only = Hours(time(8, 30), time(17, 15), closed_weekdays=frozenset({5, 6}))
    assert weekdays_only.is_closed_day(date(2024, 4, 6))  # Saturday
    assert weekdays_only.is_closed_day(date(2024, 4, 7))  # Sunday
    assert not weekdays_only.is_closed_day(date(2024, 4, 8))  # Monday
    assert not weekdays_only.is_open(datetime(2024, 4, 6, 10, 0))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"open": time(9), "close": time(9)},
        {"open": time(22), "close": time(6)},
        {"open": time(9, tzinfo=TOKYO), "close": time(17)},
        {"open": time(9), "close": time(17), "closed_dates": frozenset({(2, 30)})},
        {"open": time(9), "close": time(17), "closed_dates": frozenset({(13, 1)})},
        {"open": time(9), "close": time(17), "closed_weekdays": frozenset({7})},
    ],
)
def test_bad_hours_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Hours(**kwargs)  # type: ignore[arg-type]


def test_leap_day_closure_is_accepted() -> None:
    hours = Hours(time(9), time(17), closed_dates=frozenset({(2, 29)}))
    assert hours.is_closed_day(date(2024, 2, 29))
    assert not hours.is_closed_day(date(2023, 2, 28))
