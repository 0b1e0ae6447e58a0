"""Screens off at night, on in the morning; switching never raises."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from common.calendar import Hours
from drivers.display_power import CommandPower, NoPower, open_power, should_be_on

HOURS = Hours(
    open=time(8, 30), close=time(17, 15), closed_weekdays=frozenset({5, 6}), holidays=frozenset({date(2026, 11, 23)})
)


@pytest.mark.parametrize(
    ("when", "on"),
    [
        (datetime(2026, 11, 24, 8, 10), False),  # Tuesday, before the pre-opening margin
        (datetime(2026, 11, 24, 8, 15), True),  # 15 min before opening: residents queue early
        (datetime(2026, 11, 24, 12, 0), True),
        (datetime(2026, 11, 24, 17, 29), True),  # the last calls after closing
        (datetime(2026, 11, 24, 17, 30), False),
        (datetime(2026, 11, 21, 12, 0), False),  # Saturday
        (datetime(2026, 11, 23, 12, 0), False),  # a national holiday
    ],
)
def test_schedule(when: datetime, on: bool) -> None:
    assert should_be_on(HOURS, when) is on


def test_no_hours_means_always_on() -> None:
    assert should_be_on(None, datetime(2026, 11, 21, 3, 0))


def test_backends_report_rather_than_raise() -> None:
    assert NoPower().set(False) is False
    assert CommandPower(["/nonexistent/switch", "on"], ["/nonexistent/switch", "off"]).set(True) is False
    assert CommandPower(["false"], ["false"]).set(False) is False  # the command failed
    assert CommandPower(["true"], ["true"]).set(True) is True
    fake = open_power("recording")
    fake.set(False)
    fake.set(True)
    assert fake.calls == [False, True]  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="display.power: unknown backend 'hdmi'"):
        open_power("hdmi")
