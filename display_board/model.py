"""What the lobby train board (案内モニター) shows, decided without a window (pure).

The office publishes three retained documents the board reads (docs/protocol.md):
``office/snapshot/board`` (lines, tickets as compact rows, calls, counters),
``office/snapshot/queue`` (people waiting per purpose) and ``office/config`` (station, purpose
and counter names). :func:`board_view` turns them into a frozen :class:`BoardView`: where each
train is, which stations hold more trains than animations follow one by one, who is ready to
collect at which counter, the now-calling list, and whether the data is stale.
:mod:`display_board.scene` places a BoardView on a screen of a given size (every train, the
ones behind a stack included: the stacks only bound what animations follow one by one); the
Kivy board draws that scene; :func:`animations` says which trains to animate between two views.

Rules that shape this module:

* The board never shows an error (DOMAIN.md, want 4). Missing documents give an empty view
  flagged ``awaiting_office``; anything odd but schema-valid (a station index beyond the
  route, a ticket listed twice, an unknown status) is placed as sensibly as possible and
  counted in ``problems`` for the technician, never raised.
* Without the office the board keeps showing the last-known state, labelled with the local
  time it was last heard from ("updated HH:MM").
* Time is a parameter (``now_ms``): no clock reads here, so tests pin every case.
* A counter is called by the name the office gives it (:func:`counter_label`), always with its
  number, which is what a resident looks for. A long name is fitted to its row
  (:func:`call_text`, :func:`ready_text`): a smaller size, then two lines, then cut - never
  run into the next row, and never at the cost of the number.
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Literal

from common.i18n import purpose_name
from display_board.glyphs import WIDTHS
from drivers.japanese_numbers import says_number
from sync import messages

# The statuses the office puts on the board (office.domain.Status, the active ones).
WAITING = "waiting"
CALLED = "called"
IN_PROGRESS = "in_progress"
READY = "ready"
HELD = "held"  # put aside where it is (drawn like a waiting car)
KNOWN_STATUSES = frozenset({WAITING, CALLED, IN_PROGRESS, HELD, READY})
PLATFORM = -1  # the station index of a ticket that waits before the first station

DEFAULT_TIMEZONE = "Asia/Tokyo"
# Used only when the zone database itself is missing: Japan has no daylight saving time, so a
# fixed +09:00 is exact for the offices this project serves.
_JST = timezone(timedelta(hours=9), "JST")


@dataclass(frozen=True)
class Layout:
    """How much the screen holds, and when things count as recent or stale."""

    # More than this at one station are listed in ``Line.hidden`` rather than ``Line.trains``,
    # ready tickets beyond max_ready in ``Line.ready_hidden``: display_board.scene draws both
    # alike (every listed number is on screen within 10 s), animations follow both.
    max_trains_per_station: int = 12
    max_calls: int = 6  # rows of the now-calling list
    max_ready: int = 6  # "ready - please come to counter N" rows per line
    highlight_ms: int = 60_000  # a call this recent is highlighted (the chime has just sounded)
    # The office's heartbeat comes every 10 s; three missed ones mean the board is on its own.
    stale_after_ms: int = 30_000


@dataclass(frozen=True)
class Label:
    """A name for the bilingual board: the display language, Japanese always, and kana."""

    text: str  # in the board's second language (Japanese when it has no name in that language)
    ja: str
    kana: str = ""


@dataclass(frozen=True)
class StationLabel:
    """A station of a line: its code and its name."""

    code: str
    name: Label


@dataclass(frozen=True)
class Train:
    """A ticket drawn on a line; ``station_index`` is -1 on the platform (waiting)."""

    number: int
    station_index: int
    status: str  # waiting, called or in_progress
    counter: int | None


@dataclass(frozen=True)
class Stack:
    """How many trains at a station are beyond ``max_trains_per_station`` (or not listed at all)."""

    station_index: int
    hidden_count: int


@dataclass(frozen=True)
class ReadyTrain:
    """A finished procedure: "ready - please come to counter N"."""

    number: int
    counter: int | None
    label: str  # the counter as the board names it (counter_label); "" without a counter


@dataclass(frozen=True)
class Line:
    """One route of the board, with its trains placed on it.

    ``trains`` are drawn, in issue order; ``hidden`` are the trains behind the stacks (kept so
    that animations and tests can follow every ticket; the stacks only show their count).
    ``ready`` are shown, most recently called first; ``ready_hidden`` did not fit.
    """

    route: str
    stations: tuple[StationLabel, ...]
    purposes: tuple[Label, ...]
    trains: tuple[Train, ...]
    stacks: tuple[Stack, ...]
    ready: tuple[ReadyTrain, ...]
    ready_hidden: tuple[ReadyTrain, ...] = ()
    hidden: tuple[Train, ...] = ()
    more_waiting: int = 0  # waiting tickets the office did not list (counted in the platform stack)

    @property
    def ready_more(self) -> int:
        """Ready tickets that did not fit ("and N more")."""
        return len(self.ready_hidden)

    def drawn_at(self, station_index: int) -> tuple[Train, ...]:
        """The trains drawn at one station (-1: the platform), in issue order."""
        return tuple(t for t in self.trains if t.station_index == station_index)

    def stack_at(self, station_index: int) -> int:
        """How many trains the chip at ``station_index`` stands for (0: no chip)."""
        return next((s.hidden_count for s in self.stacks if s.station_index == station_index), 0)


@dataclass(frozen=True)
class CallRow:
    """A row of the now-calling list: ``number`` to ``counter``."""

    number: int
    counter: int
    at_ms: int
    kind: str  # "call" (come to start) or "ready" (come to receive)
    highlight: bool
    label: str  # the counter as the board names it (counter_label)


@dataclass(frozen=True)
class CounterRow:
    """What one counter called last."""

    counter: int
    number: int
    kind: str
    at_ms: int


@dataclass(frozen=True)
class PurposeWaiting:
    """People waiting for one purpose, and the wait a new arrival can expect."""

    code: str
    name: Label
    waiting: int
    est_wait_min: int | None  # None: the office has no basis for an estimate


@dataclass(frozen=True)
class BoardView:
    """Everything the board shows at one moment."""

    language: str
    lines: tuple[Line, ...] = ()
    calls: tuple[CallRow, ...] = ()
    counters: tuple[CounterRow, ...] = ()
    waiting: tuple[PurposeWaiting, ...] = ()
    # None: the office is online and recently heard. Otherwise the local "HH:MM" of the last
    # time it was heard ("--:--" when never): the board keeps the last-known state on screen.
    stale: str | None = None
    awaiting_office: bool = False  # no board snapshot yet: show "waiting for the office"
    office_name: str = ""
    business_day: str | None = None
    # The office's local time, HH:MM, in the site's time zone (as the tickets' times are): the
    # board machine's own zone may be anything, UTC on a Pi left as it came.
    clock: str = ""
    problems: int = 0  # odd rows placed as well as possible (for the technician's status page)


@dataclass(frozen=True)
class Move:
    """A train moved along its line (backwards when the office sent it back a station)."""

    number: int
    line: str
    from_index: int
    to_index: int
    backwards: bool


@dataclass(frozen=True)
class Arrive:
    """A train appeared on a line: newly listed, or sent back from the ready list."""

    number: int
    line: str
    station_index: int
    origin: Literal["new", "ready"]


@dataclass(frozen=True)
class Depart:
    """A train left its line: finished (now in a ready list) or gone (absent, void, moved off)."""

    number: int
    line: str
    from_index: int
    reason: Literal["ready", "gone"]


Animation = Move | Arrive | Depart


# --- building the view ------------------------------------------------------------------------


class _Problems:
    """A counter threaded through the builders (local state only: the module stays pure)."""

    def __init__(self) -> None:
        self.count = 0

    def add(self, n: int = 1) -> None:
        self.count += n


def board_view(
    board: messages.BoardSnapshot | None,
    queue: messages.QueueSnapshot | None,
    config: messages.OfficeConfig | None,
    *,
    office_online: bool,
    last_heard_ms: int | None,
    now_ms: int,
    language: str = "ja",
    layout: Layout = Layout(),
) -> BoardView:
    """What the board shows, from the office's retained documents as last received.

    ``last_heard_ms`` is when the device last heard a live message from the office (None:
    never since boot); ``now_ms`` the device's current estimate of the office's time.
    """
    problems = _Problems()
    # Names carry Japanese and the board's second language: the rotating one, English while
    # Japanese alone is up (the layout keeps its place for the second line either way).
    second = language if language != "ja" else "en"
    stations = _station_names(config, second)
    named = _counter_names(config)
    lines: tuple[Line, ...] = ()
    calls: tuple[CallRow, ...] = ()
    counters: tuple[CounterRow, ...] = ()
    if board is not None:
        counters = _counters(board.counters)
        raw_calls = [(c.number, c.counter, c.at_ms) for c in board.calls]
        recent = _last_called(raw_calls, counters)
        lines = _lines(board.lines, stations, named, config, second, layout, recent, problems)
        calls = _calls(raw_calls, counters, lines, named, now_ms, layout)
    heard = last_heard_ms if last_heard_ms is not None else board.sent_ms if board is not None else None
    fresh = office_online and last_heard_ms is not None and now_ms - last_heard_ms <= layout.stale_after_ms
    return BoardView(
        language=language,
        lines=lines,
        calls=calls,
        counters=counters,
        waiting=_waiting(queue, config, second, problems),
        stale=None if fresh else _local_hhmm(heard, config),
        awaiting_office=board is None,
        office_name=config.office_name if config is not None else "",
        business_day=board.business_day if board is not None else None,
        clock=_local_hhmm(now_ms, config),
        problems=problems.count,
    )


def _label(names: Mapping[str, str], language: str, fallback: str) -> Label:
    """A station name: the display language, its base language, then Japanese (the board's
    other language, always on screen), then the code."""
    ja = names.get("ja") or fallback
    for key in (language, language.split("_")[0]):
        if names.get(key):
            return Label(names[key], ja, names.get("kana", ""))
    return Label(ja, ja, names.get("kana", ""))


def _station_names(cfg: messages.OfficeConfig | None, language: str) -> dict[str, Label]:
    out: dict[str, Label] = {}
    for station in cfg.stations if cfg is not None else ():
        out.setdefault(station.code, _label(station.name, language, station.code))
    return out


def _purpose_label(names: Mapping[str, str], language: str, code: str) -> Label:
    # Purposes follow the dispenser's rule (purpose_name: language, English, Japanese), so a
    # resident reads the same name on the ticket and on the board.
    ja = names.get("ja") or code
    return Label(purpose_name(names, language) or ja, ja, names.get("kana", ""))


def _purposes_by_route(cfg: messages.OfficeConfig | None, language: str) -> dict[tuple[str, ...], list[Label]]:
    out: dict[tuple[str, ...], list[Label]] = {}
    for cat in cfg.categories if cfg is not None else ():
        out.setdefault(cat.route, []).append(_purpose_label(cat.name, language, cat.code))
    return out


def _lines(
    raw: tuple[messages.BoardLine, ...],
    names: Mapping[str, Label],
    counters: Mapping[int, Mapping[str, str]],
    cfg: messages.OfficeConfig | None,
    language: str,
    layout: Layout,
    recent: Mapping[int, int],
    problems: _Problems,
) -> tuple[Line, ...]:
    """Place every ticket of every line exactly once (a number listed twice keeps its first row)."""
    purposes = _purposes_by_route(cfg, language)
    seen: set[int] = set()
    # A route listed twice is merged into its first line rather than dropped: every ticket on
    # it still has to be shown somewhere.
    order: list[str] = []
    merged: dict[str, tuple[tuple[str, ...], list[messages.TrainRow], int]] = {}
    for line in raw:
        if line.route in merged:
            problems.add()
            first = merged[line.route]
            merged[line.route] = (first[0], first[1] + list(line.tickets), first[2] + line.more_waiting)
        else:
            order.append(line.route)
            merged[line.route] = (line.stations, list(line.tickets), line.more_waiting)
    out = []
    for route in order:
        stations, tickets, more = merged[route]
        labels = tuple(StationLabel(code, names.get(code) or Label(code, code)) for code in stations)
        out.append(
            _place(
                route,
                labels,
                tuple(purposes.get(stations, ())),
                tickets,
                more,
                counters,
                layout,
                recent,
                seen,
                problems,
            )
        )
    return tuple(out)


def _place(
    route: str,
    stations: tuple[StationLabel, ...],
    purposes: tuple[Label, ...],
    rows: list[messages.TrainRow],
    more_waiting: int,
    counters: Mapping[int, Mapping[str, str]],
    layout: Layout,
    recent: Mapping[int, int],
    seen: set[int],
    problems: _Problems,
) -> Line:
    last = len(stations) - 1  # -1 for a line without stations: everything clamps to the platform
    placed: list[Train] = []
    ready: list[tuple[int, ReadyTrain]] = []  # with the row's position, for the tie-break below
    for position, (number, index, status, counter) in enumerate(rows):
        if number in seen:
            problems.add()  # a train must never be drawn twice
            continue
        seen.add(number)
        if index > last or index < PLATFORM:
            problems.add()  # beyond the route: draw it at the nearest end rather than lose it
            index = max(PLATFORM, min(index, last))
        if status not in KNOWN_STATUSES:
            problems.add()  # a newer office's status: place it by where it is
            status = WAITING if index == PLATFORM else CALLED if index == 0 else IN_PROGRESS
        if status == READY:
            label = _counter_label(counters.get(counter, {}), counter, "ja") if counter is not None else ""
            ready.append((position, ReadyTrain(number, counter, label)))
        elif status == WAITING:
            if index != PLATFORM:
                problems.add()
            placed.append(Train(number, PLATFORM, WAITING, counter))
        elif status == HELD:
            placed.append(Train(number, index, HELD, counter))  # where it was put aside, platform included
        else:
            if index == PLATFORM and last >= 0:
                problems.add()  # called means at a counter: the first station at least
                index = 0
            placed.append(Train(number, index, status, counter))
    # The first trains at each station are drawn (issue order: the platform shows the next to
    # be called); the rest are counted on the station's chip.
    per_station: dict[int, int] = {}
    trains: list[Train] = []
    hidden: list[Train] = []
    for train in placed:
        drawn = per_station.get(train.station_index, 0)
        per_station[train.station_index] = drawn + 1
        (trains if drawn < layout.max_trains_per_station else hidden).append(train)
    counts: dict[int, int] = {}
    for train in hidden:
        counts[train.station_index] = counts.get(train.station_index, 0) + 1
    if more_waiting:
        counts[PLATFORM] = counts.get(PLATFORM, 0) + more_waiting
    stacks = tuple(Stack(index, n) for index, n in sorted(counts.items()))
    # Ready: the most recently called to collect first (that is who is looking for their
    # number now), then the rest newest-issued first (the oldest have most likely collected).
    ranked = sorted(ready, key=lambda item: (-recent.get(item[1].number, -1), -item[0]))
    shown = tuple(r for _, r in ranked[: layout.max_ready])
    rest = tuple(r for _, r in ranked[layout.max_ready :])
    return Line(route, stations, purposes, tuple(trains), stacks, shown, rest, tuple(hidden), more_waiting)


def _counters(raw: tuple[messages.CounterCall, ...]) -> tuple[CounterRow, ...]:
    out: dict[int, CounterRow] = {}
    for item in raw:
        if item.counter not in out or item.at_ms > out[item.counter].at_ms:
            out[item.counter] = CounterRow(item.counter, item.number, item.kind, item.at_ms)
    return tuple(out[c] for c in sorted(out))


def _last_called(calls: Iterable[tuple[int, int, int]], counters: Iterable[CounterRow]) -> dict[int, int]:
    """When each number was last called (calls and counters): ranks the ready list."""
    out: dict[int, int] = {}
    for number, at in [*((n, a) for n, _, a in calls), *((c.number, c.at_ms) for c in counters)]:
        out[number] = max(at, out.get(number, at))
    return out


def _calls(
    calls: list[tuple[int, int, int]],
    counters: tuple[CounterRow, ...],
    lines: tuple[Line, ...],
    named: Mapping[int, Mapping[str, str]],
    now_ms: int,
    layout: Layout,
) -> tuple[CallRow, ...]:
    """Newest first, one row per number (a number called to start and later to collect shows
    its latest call only: two rows for one resident read as two people). Only the newest call
    is set apart (``highlight``), while it is recent: with several calls a minute, all of them
    large and yellow left a resident no way to tell which one the chime was for."""
    kinds = {(c.number, c.counter, c.at_ms): c.kind for c in counters}
    ready = _ready_numbers_of(lines)
    # Stable sort: equal times keep the office's order, which is newest first.
    ordered = sorted(calls, key=lambda c: -c[2])
    out: list[CallRow] = []
    shown: set[int] = set()
    for number, counter, at in ordered:
        if number in shown:
            continue
        shown.add(number)
        kind = kinds.get((number, counter, at)) or (READY if number in ready else "call")
        # A call from "the future" means this device's clock lags the office's: it is recent.
        label = _counter_label(named.get(counter, {}), counter, "ja")
        out.append(CallRow(number, counter, at, kind, not out and now_ms - at <= layout.highlight_ms, label))
        if len(out) >= layout.max_calls:
            break
    return tuple(out)


def _waiting(
    queue: messages.QueueSnapshot | None, cfg: messages.OfficeConfig | None, language: str, problems: _Problems
) -> tuple[PurposeWaiting, ...]:
    """Per purpose, in the dispenser's order (the config's), then any the config lacks."""
    if queue is None:
        return ()
    rows: dict[str, tuple[int, int | None]] = {}
    for item in queue.categories:
        if item.code in rows:
            problems.add()
            continue
        rows[item.code] = (item.waiting, item.est_wait_min)
    out: list[PurposeWaiting] = []
    for cat in cfg.categories if cfg is not None else ():
        if cat.code in rows:
            waiting, est = rows.pop(cat.code)
            out.append(PurposeWaiting(cat.code, _purpose_label(cat.name, language, cat.code), waiting, est))
    for code, (waiting, est) in rows.items():
        out.append(PurposeWaiting(code, Label(code, code), waiting, est))
    return tuple(out)


def _local_hhmm(ms: int | None, cfg: messages.OfficeConfig | None) -> str:
    """The office's local time of ``ms`` as HH:MM ("--:--" when nothing was ever heard)."""
    if ms is None:
        return "--:--"
    try:
        moment = datetime.fromtimestamp(ms / 1000, _zone(cfg))
    except (OverflowError, OSError, ValueError):
        return "--:--"
    return f"{moment:%H:%M}"


def _zone(cfg: messages.OfficeConfig | None) -> tzinfo:
    name = cfg.timezone if cfg is not None else DEFAULT_TIMEZONE
    for candidate in (name, DEFAULT_TIMEZONE):
        try:
            return zoneinfo.ZoneInfo(candidate)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            continue
    return _JST


# --- counters -------------------------------------------------------------------------------

Counters = messages.OfficeConfig | Iterable[messages.CounterInfo] | None
"""Where counter names come from: the office's config, its counters, or nothing yet."""


def _counter_names(counters: Counters) -> dict[int, Mapping[str, str]]:
    infos = counters.counters if isinstance(counters, messages.OfficeConfig) else counters or ()
    out: dict[int, Mapping[str, str]] = {}
    for info in infos:
        out.setdefault(info.number, info.name)  # a counter listed twice keeps its first name
    return out


def counter_names(counters: Counters, number: int) -> Mapping[str, str]:
    """The names the office gives counter ``number``, per language ({} when it names none)."""
    return _counter_names(counters).get(number, {})


def counter_label(counters: Counters, number: int, language: str = "ja") -> str:
    """How the board names counter ``number``: the office's name for it in ``language``, with
    the number put in front when the name does not show it ("5番 相談室"), "N番窓口" when the
    office names it not at all. Other languages fall back to the Japanese label, as stations do.
    """
    return _counter_label(counter_names(counters, number), number, language)


def _counter_label(names: Mapping[str, str], number: int, language: str) -> str:
    for key in dict.fromkeys((language, language.split("_")[0])):
        name = " ".join(names.get(key, "").split())  # one line: the board has no room for two
        if name and key == "ja":
            return name if says_number(name, number) else f"{number}番 {name}"
        if name:
            return name if says_number(name, number) else f"{number} · {name}"
    return _counter_label(names, number, "ja") if language != "ja" else f"{number}番窓口"


# --- fitting text to the screen ---------------------------------------------------------------

# Widths in ems of the board's font (Noto Sans CJK): a CJK character or a full-width sign is one
# em; Latin and Vietnamese letters as display_board.glyphs measured them (rounded up, so what is
# said to fit does fit), 0.6 for any other narrow character.
WIDE_EM = 1.0
NARROW_EM = 0.6
ELLIPSIS = "…"
# A remark in brackets at the end of a name: the first thing to go when the name is too long
# ("4番窓口（ローカウンター）" → "4番窓口").
_REMARK = re.compile(r"\s*[（(][^（）()]*[）)]\s*$")


def text_em(text: str) -> float:
    """How wide ``text`` is drawn, in ems (its widest line)."""
    return max((_line_em(line) for line in text.split("\n")), default=0.0)


def _line_em(line: str) -> float:
    # The font's own widths where measured (Latin, Vietnamese, the signs between words); CJK and
    # other wide or ambiguous-width characters are drawn one em wide by a CJK font; a combining
    # mark adds nothing to its letter.
    return sum(_char_em(c) for c in line)


def _char_em(c: str) -> float:
    measured = WIDTHS.get(c)
    if measured is not None:
        return measured
    if unicodedata.combining(c):
        return 0.0
    return WIDE_EM if unicodedata.east_asian_width(c) in "WFA" else NARROW_EM


def fit_text(text: str, max_em: float) -> str:
    """``text`` within ``max_em``: as it is if it fits, else without a bracketed remark at its
    end, else cut and marked with "…" ("…" alone when not even one character fits)."""
    if text_em(text) <= max_em:
        return text
    base = _REMARK.sub("", text)
    if base and text_em(base) <= max_em:
        return base
    base = base or text
    budget, used, kept = max_em - text_em(ELLIPSIS), 0.0, 0
    for char in base:
        used += _line_em(char)
        if used > budget:
            break
        kept += 1
    return base[:kept].rstrip() + ELLIPSIS


def _fit_counter(label: str, counter: int, max_em: float) -> str:
    """The label cut to ``max_em``, keeping the counter's number on screen: a cut that lost it
    gives "N番", or "N". A number is never cut ("99…" would send a resident of counter 999 to
    counter 99): with no room even for "N", the row runs over its width instead."""
    cut = fit_text(label, max_em)
    if cut == label or says_number(cut, counter):
        return cut
    return next((short for short in (f"{counter}番", str(counter)) if text_em(short) <= max_em), str(counter))


def _fits(text: str, size: float, width: float) -> bool:
    return text_em(text) * size <= width


def call_text(
    row: CallRow,
    width: float,
    sizes: Sequence[float],
    small: float,
    *,
    what: str | None = None,
    force_two: bool = False,
) -> tuple[str, float]:
    """A now-calling row and its font size: "105  →  5番 相談室  (受付)" on one line at the
    largest of ``sizes`` it fits ``width`` at (``width`` in the sizes' unit); else (or with
    ``force_two``) on two lines at ``small``, the counter's label cut to the width. ``what``
    says why the number is called (Japanese "受付" or "お受け取り" unless given)."""
    what = what if what is not None else "お受け取り" if row.kind == READY else "受付"
    head, tail = f"{row.number}  →  ", f"  ({what})"
    for size in () if force_two else sizes:
        if _fits(head + row.label + tail, size, width):
            return head + row.label + tail, size
    label = _fit_counter(row.label, row.counter, width / small - text_em(head))
    return f"{head}{label}\n({what})", small


def ready_text(ready: ReadyTrain, width: float, sizes: Sequence[float], two_lines: bool) -> tuple[str, float]:
    """A ready row and its font size: "105 → 5番 相談室" at the largest of ``sizes`` it fits
    ``width`` at; else at the smallest, on two lines when ``two_lines`` (the row is tall enough),
    the counter's label cut to the width."""
    if ready.counter is None:
        return str(ready.number), sizes[0]
    head = f"{ready.number} → "
    for size in sizes:
        if _fits(head + ready.label, size, width):
            return head + ready.label, size
    small = sizes[-1]
    if two_lines:
        return f"{head.rstrip()}\n{_fit_counter(ready.label, ready.counter, width / small)}", small
    return head + _fit_counter(ready.label, ready.counter, width / small - text_em(head)), small


# --- animations -------------------------------------------------------------------------------


def animations(previous: BoardView | None, current: BoardView) -> tuple[Animation, ...]:
    """What to animate from ``previous`` to ``current`` (nothing on the first paint).

    Trains are followed by number on their line, drawn or hidden behind a stack: a train that
    leaves a stack moves out of its chip. Order: the current lines' moves and arrivals in
    issue order, then the departures.
    """
    if previous is None:
        return ()
    before = _positions(previous)
    after = _positions(current)
    ready_before = _ready_numbers(previous)
    ready_after = _ready_numbers(current)
    out: list[Animation] = []
    for line in current.lines:
        for train in (*line.trains, *line.hidden):
            was = before.get(train.number)
            if was is not None and was[0] == line.route:
                if was[1] != train.station_index:
                    out.append(
                        Move(train.number, line.route, was[1], train.station_index, train.station_index < was[1])
                    )
            else:
                origin: Literal["new", "ready"] = "ready" if train.number in ready_before else "new"
                out.append(Arrive(train.number, line.route, train.station_index, origin))
    for line in previous.lines:
        for train in (*line.trains, *line.hidden):
            now = after.get(train.number)
            if now is None or now[0] != line.route:
                reason: Literal["ready", "gone"] = "ready" if train.number in ready_after else "gone"
                out.append(Depart(train.number, line.route, train.station_index, reason))
    return tuple(out)


def _positions(view: BoardView) -> dict[int, tuple[str, int]]:
    return {t.number: (line.route, t.station_index) for line in view.lines for t in (*line.trains, *line.hidden)}


def _ready_numbers(view: BoardView) -> set[int]:
    return _ready_numbers_of(view.lines)


def _ready_numbers_of(lines: Iterable[Line]) -> set[int]:
    return {r.number for line in lines for r in (*line.ready, *line.ready_hidden)}
