"""The kiosk's opening hours as the office's configuration gives them: open now or not.

One rule for the start screen (kiosk.presenter) and for the runtime's office link
(kiosk.office_link), which asks at every cycle. It lives apart from the presenter so that a
kiosk without a screen (``madoguchi-kiosk run``) does not import the screens' texts to know
its hours.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Final

from common.calendar import Hours
from sync import messages

__all__ = ["DEFAULT_TIMEZONE", "closed_now", "kiosk_hours", "local_time"]

DEFAULT_TIMEZONE: Final = "Asia/Tokyo"


def local_time(wall_ms: int, office_config: messages.OfficeConfig | None) -> datetime:
    """``wall_ms`` as a naive local time of the office's time zone (Japan's while none is known)."""
    name = office_config.timezone if office_config is not None else DEFAULT_TIMEZONE
    try:
        tz = zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo(DEFAULT_TIMEZONE)
    return datetime.fromtimestamp(wall_ms / 1000, tz).replace(tzinfo=None)


def kiosk_hours(office_config: messages.OfficeConfig | None) -> Hours | None:
    """The kiosk's hours in the office's configuration (None: none, or unreadable)."""
    if office_config is None or office_config.kiosk is None:
        return None
    try:
        return office_config.kiosk.calendar()
    except ValueError:
        return None  # unreadable hours: the office decides (it refuses outside them anyway)


def closed_now(office_config: messages.OfficeConfig | None, wall_ms: int) -> bool:
    """True outside the kiosk's hours of the office's configuration (no hours: never closed)."""
    hours = kiosk_hours(office_config)
    return hours is not None and not hours.is_open(local_time(wall_ms, office_config))
