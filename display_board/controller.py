"""The board's clock work, without a window: every second it builds the view, works out what
moved, announces new calls (chime, then voice in Japanese and English, naming the counter as the
office's configuration does), rotates the caption language and keeps the screen on only during
opening hours.

The Kivy app (display_board.app) draws :attr:`BoardController.view` and runs the animations;
the LED panel gets the same now-calling rows. Whether the board is stale (the badge "updated
HH:MM" is up) goes into the device status too (:meth:`BoardController.health`), for the staff's
floor view: the same rule, so staff see what the lobby sees.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from common.calendar import Hours
from common.i18n import LANGUAGES
from display_board.model import Animation, BoardView, Layout, animations, board_view, counter_names
from drivers.display_power import DisplayPower, NoPower, should_be_on
from drivers.led_panel import PanelRow
from sync import messages

log = logging.getLogger(__name__)

CAPTION_S = 8  # each lobby language has the secondary line for this long

Announce = Callable[[int, int, str, Mapping[str, str]], None]
"""Says a new call: its number, the counter, the kind ("call" or "ready") and the counter's names
per language as the office configures them ({} when it names none)."""


def _silent(number: int, counter: int, kind: str, names: Mapping[str, str]) -> None:
    """The announce of a board without a voice."""


@dataclass(frozen=True)
class Inputs:
    """What the controller reads each second (from the device agent)."""

    board: messages.BoardSnapshot | None
    queue: messages.QueueSnapshot | None
    config: messages.OfficeConfig | None
    office_online: bool
    last_heard_ms: int | None
    now_ms: int


def panel_row(call: messages.CounterCall) -> PanelRow:
    """A snapshot's now-calling entry as the LED panel's row."""
    return PanelRow(counter=call.counter, number=call.number, kind=call.kind, at_ms=call.at_ms)


class BoardController:
    """Holds the current view and what changed since the last one."""

    def __init__(
        self,
        inputs: Callable[[], Inputs],
        *,
        announce: Announce | None = None,
        power: DisplayPower | None = None,
        on_counters: Callable[[list[PanelRow]], None] | None = None,
        layout: Layout | None = None,
        on_stale: Callable[[bool], None] | None = None,
    ) -> None:
        self._inputs = inputs
        self._announce = announce or _silent
        self._power = power or NoPower()
        self._on_counters = on_counters
        self.layout = layout or Layout()
        self.view: BoardView | None = None
        self.moves: tuple[Animation, ...] = ()
        self.screen_on = True
        self.blank = False  # the power backend could not switch: draw black instead
        self._announced_ms: int | None = None
        self._started_ms: int | None = None
        # Called (on the ticking thread) when the board turns stale or fresh again.
        self._on_stale = on_stale
        # False until the first tick: nothing is shown yet, so nothing shown is stale. One bool,
        # replaced whole: the agent's thread reads it without a lock.
        self._stale = False

    @property
    def stale(self) -> bool:
        """Whether what the board shows is older than it should be (its stale badge is up)."""
        return self._stale

    def health(self) -> messages.Health:
        """What the board says of itself in its device status (read on the agent's thread)."""
        return messages.Health(stale=self._stale)

    def tick(self) -> bool:
        """Advance one step; True when the screen must be redrawn."""
        inp = self._inputs()
        language = LANGUAGES[(inp.now_ms // 1000 // CAPTION_S) % len(LANGUAGES)]
        # Until the first live message (the office's 10 s heartbeat), a retained "online" is
        # trusted: the office's last will would have replaced it had the office gone.
        if self._started_ms is None:
            self._started_ms = inp.now_ms
        heard = (
            inp.last_heard_ms if inp.last_heard_ms is not None else (self._started_ms if inp.office_online else None)
        )
        view = board_view(
            inp.board,
            inp.queue,
            inp.config,
            office_online=inp.office_online,
            last_heard_ms=heard,
            now_ms=inp.now_ms,
            language=language,
            layout=self.layout,
        )
        changed = view != self.view
        self.moves = animations(self.view, view) if changed and self.view is not None else ()
        first = self.view is None
        self.view = view
        self._staleness(view.stale is not None)
        self._calls(view, first, inp.config)
        if self._on_counters is not None and inp.board is not None:
            self._on_counters([panel_row(c) for c in inp.board.counters])
        return self._schedule(inp) or changed

    def _staleness(self, stale: bool) -> None:
        if stale == self._stale:
            return
        self._stale = stale
        log.info("board data %s", "stale: the office is not heard" if stale else "fresh again")
        if self._on_stale is not None:
            try:
                self._on_stale(stale)
            except Exception:  # the status goes out at its next interval anyway
                log.exception("board staleness not reported")

    def _calls(self, view: BoardView, first: bool, config: messages.OfficeConfig | None) -> None:
        """Chime and voice once per new call; the calls already there at start stay silent."""
        newest = max((c.at_ms for c in view.calls), default=None)
        if first or self._announced_ms is None:
            self._announced_ms = newest if newest is not None else 0
            return
        for call in sorted(view.calls, key=lambda c: c.at_ms):
            if call.at_ms > self._announced_ms:
                self._announce(call.number, call.counter, call.kind, counter_names(config, call.counter))
        if newest is not None:
            self._announced_ms = max(self._announced_ms, newest)

    def _schedule(self, inp: Inputs) -> bool:
        hours = _hours(inp.config)
        try:
            tz = zoneinfo.ZoneInfo(inp.config.timezone if inp.config is not None else "Asia/Tokyo")
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            tz = zoneinfo.ZoneInfo("Asia/Tokyo")
        local = datetime.fromtimestamp(inp.now_ms / 1000, tz).replace(tzinfo=None)
        on = should_be_on(hours, local)
        if on == self.screen_on:
            return False
        self.screen_on = on
        switched = self._power.set(on)
        self.blank = not on and not switched
        log.info("board screen %s (%s)", "on" if on else "off", "switched" if switched else "blanked")
        return True


def _hours(config: messages.OfficeConfig | None) -> Hours | None:
    if config is None or config.dispenser is None:
        return None
    try:
        return config.dispenser.calendar()  # the lobby's opening hours
    except ValueError:
        log.warning("the office's hours are unreadable; the board stays on")
        return None
