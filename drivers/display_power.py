"""Switching a lobby display off at night and on in the morning (DOMAIN.md: screens that
switch off at night and come back in the morning).

The decision (on or off now) is pure: :func:`should_be_on`. The switching is a backend chosen
by name from the device configuration; a backend that cannot switch reports it and the board
goes blank instead (a black screen draws little power on most panels).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from common.calendar import Hours

log = logging.getLogger(__name__)


def should_be_on(
    hours: Hours | None, local_now: datetime, *, before_open_min: int = 15, after_close_min: int = 15
) -> bool:
    """On from a little before opening to a little after closing on open days; always on
    without hours (a board that cannot know its hours must not go dark)."""
    if hours is None:
        return True
    if hours.is_closed_day(local_now.date()):
        return False
    minutes = local_now.hour * 60 + local_now.minute
    opens = hours.open.hour * 60 + hours.open.minute - before_open_min
    closes = hours.close.hour * 60 + hours.close.minute + after_close_min
    return opens <= minutes < closes


class DisplayPower(Protocol):
    """Turns the panel on or off; returns False when it could not (the caller blanks instead)."""

    def set(self, on: bool) -> bool:
        """Switch the display."""


class NoPower:
    """No control: the board blanks its window instead."""

    def set(self, on: bool) -> bool:
        """Nothing to switch."""
        return False


class RecordingPower:
    """The fake: remembers every switch (tests)."""

    def __init__(self) -> None:
        self.calls: list[bool] = []

    def set(self, on: bool) -> bool:
        """Record the switch."""
        self.calls.append(on)
        return True


class CommandPower:
    """A command per state: ``vcgencmd display_power 1|0`` on a Pi, ``xset dpms force on|off`` under X."""

    def __init__(self, on_cmd: Sequence[str], off_cmd: Sequence[str]) -> None:
        self.on_cmd, self.off_cmd = list(on_cmd), list(off_cmd)

    def set(self, on: bool) -> bool:
        """Run the command; any failure is reported, never raised."""
        cmd = self.on_cmd if on else self.off_cmd
        if shutil.which(cmd[0]) is None:
            log.warning("display power: %s is not installed; blanking the screen instead", cmd[0])
            return False
        try:
            subprocess.run(cmd, check=True, timeout=10, capture_output=True)
        except (OSError, subprocess.SubprocessError) as err:
            log.warning("display power: %s failed (%s); blanking the screen instead", " ".join(cmd), err)
            return False
        return True


BACKENDS = ("none", "vcgencmd", "xset", "recording")


def open_power(name: str) -> DisplayPower:
    """The backend named in the device configuration ([display] power = ...)."""
    if name == "none":
        return NoPower()
    if name == "vcgencmd":
        return CommandPower(["vcgencmd", "display_power", "1"], ["vcgencmd", "display_power", "0"])
    if name == "xset":
        return CommandPower(["xset", "dpms", "force", "on"], ["xset", "dpms", "force", "off"])
    if name == "recording":
        return RecordingPower()
    raise ValueError(f"display.power: unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
