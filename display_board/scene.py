"""Where everything on the lobby board goes, for a screen of a given size (pure).

:func:`scene` turns a :class:`~display_board.model.BoardView` into a :class:`Scene`: every
text with its font size and box, every car or number chip with its box, the tracks, the
panels. The Kivy board only draws a Scene; the tests check a Scene for what a resident must
be able to rely on, at any size from 1280 x 720 to 3840 x 2160:

* **Every number can be found.** A station shows its tickets as cars (68, 48, then 36 px tall,
  the smallest still readable across the lobby). When the board's lines cannot hold their cars
  the board draws one track over all stations instead, every ticket under the station it is
  at; a busy station there lists its numbers as small chips (a run of consecutive numbers in
  the same state as one chip, "1101～1140"), and when even that does not fit, in pages that
  turn every :data:`PAGE_S` seconds, at most :data:`MAX_PAGES` of them: each listed number is
  on screen at least once every ``PAGE_S * MAX_PAGES`` seconds. Only the waiting tickets the
  office does not list (it lists the oldest 400) are a count ("ほか N人待ち").
* **Nothing spills out of its box.** Every text is fitted to its box here (a smaller size,
  two lines, then cut with "…", never a number), by the widths of :func:`model.text_em`.
* **The layout does not jump** when the caption's language turns: the second language has its
  place whether it is shown or not (English stands in while Japanese alone is up).

Coordinates are Kivy's: pixels, x from the left, y from the bottom.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from display_board import strings
from display_board.model import (
    PLATFORM,
    READY,
    BoardView,
    CallRow,
    Line,
    PurposeWaiting,
    ReadyTrain,
    Train,
    call_text,
    fit_text,
    ready_text,
    text_em,
)
from display_board.strings import gettext_for

PAGE_S = 2.5  # a page of a busy station's numbers stays this long
MAX_PAGES = 4  # so each number is on screen at least once every PAGE_S * MAX_PAGES = 10 s

# Fixed parts of the screen, in px at scale 1.
PAD = 16
HEAD_H = 64
GAP = 10
BODY_SPACING = 14
CALLS_SHARE = 0.28  # of the body's width
CALLS_PADDING = 12
CALLS_TITLE_H = 56
CALL_ROW_H = 64
FOOTER_ROW_H = 52  # one row of the waiting footer: Japanese, and the second language under it
FOOTER_PER_ROW = 5
CAPTION_H = 48
PANEL_PAD = 4
PURPOSES_H = 28
HEADER_H = 54  # station names: Japanese, and the second language under it
TRACK_GAP = 6  # from the names to the track
CARS_GAP = 10  # from the track to the first row of cars
CAR_GAP = 6
CAR_MARGIN = 4  # between a column's cars and its edges

# Font sizes, few and shared: each distinct size keeps its own copy of the CJK font in memory
# (about 2.8 MB each). A car's number is 0.7 of its height.
CAR_SIZES = (68.0, 48.0, 36.0)  # car heights in px, largest first; 36: the least readable across a lobby
# A busy station's list of numbers: the cars' number sizes first (the same font copies), then two
# smaller ones.
CHIP_SIZES = (33.6, 25.2, 20.0, 16.0)
CHIP_PAD = 4
CHIP_GAP = 4
NAME_SIZE = 20.0
SECOND_SIZE = 16.0
CALL_SIZES = (28.0, 25.2)
CALL_SIZES_HIGHLIGHT = (33.6, 28.0, 25.2)  # the newest call, while recent (the chime has just sounded)
CALL_SMALL = 20.0
READY_SIZES = (25.2, 20.0)
FOOTER_SIZES = (20.0, 16.0)
CAPTION_SIZES = (20.0, 16.0)
# Every size the board draws text at: each one is a copy of the CJK font in memory (2.5 MB each
# with Kivy's SDL2 text: FreeType's tables of a 65,535-glyph font, per size), so every size above
# is one of these. The board draws every text in one weight, Bold (display_board.app), which also
# reads best across a lobby: two weights were ten copies, one is six.
SIZES = (16.0, 20.0, 25.2, 28.0, 33.6, 47.6)
MIN_COLUMN_SHARE = 0.6  # an empty station's column, of an equal share (its name still fits)
RUN_MIN = 3  # consecutive numbers in the same state listed as one chip "a～b"
RUN_SIGN = "～"
LINE_EM = 1.45  # a line of Noto Sans CJK is this many ems tall (its ascent and descent)

Color = Literal["ink", "muted", "ready", "highlight", "stale", "track"]
Mode = Literal["lines", "merged"]


@dataclass(frozen=True)
class Box:
    """A rectangle on the screen (Kivy's frame: y from the bottom)."""

    x: float
    y: float
    w: float
    h: float

    @property
    def top(self) -> float:
        return self.y + self.h

    @property
    def right(self) -> float:
        return self.x + self.w

    def contains(self, other: Box, slack: float = 0.5) -> bool:
        return (
            other.x >= self.x - slack
            and other.y >= self.y - slack
            and other.right <= self.right + slack
            and other.top <= self.top + slack
        )

    def overlaps(self, other: Box, slack: float = 0.5) -> bool:
        return (
            self.x < other.right - slack
            and other.x < self.right - slack
            and self.y < other.top - slack
            and other.y < self.top - slack
        )


@dataclass(frozen=True)
class Text:
    """A label: ``text`` (lines split by "\\n") at ``size`` px, drawn within ``box``."""

    text: str
    size: float
    box: Box
    color: Color = "ink"
    halign: Literal["left", "center", "right"] = "center"
    panel: int = -1  # the panel it belongs in (an index of Scene.panels); -1: the screen itself


@dataclass(frozen=True)
class Car:
    """A ticket on a track: a car (one number) or, at a busy station, a chip for one number or
    a run of consecutive numbers in the same state."""

    numbers: tuple[int, ...]
    text: str
    status: str  # waiting, called, in_progress, held or ready
    box: Box
    size: float  # the number's font size
    shape: Literal["car", "chip", "ready"]  # ready: only its "number → counter" line, in green
    panel: int


@dataclass(frozen=True)
class Track:
    y: float
    x0: float
    x1: float
    stops: tuple[float, ...]  # x of each stop: the platform, then the stations (the last: the terminal)


@dataclass(frozen=True)
class Scene:
    width: float
    height: float
    mode: Mode
    page: int
    pages: int  # the busiest station's page count (1: nothing turns)
    panels: tuple[Box, ...]
    tracks: tuple[Track, ...]
    texts: tuple[Text, ...]
    cars: tuple[Car, ...]
    unlisted: int = 0  # waiting tickets the office did not list (shown as a count)

    def shown_numbers(self) -> set[int]:
        return {n for car in self.cars for n in car.numbers}


def second_language(language: str) -> str:
    """The board's second language at a moment: the rotating one, English while Japanese is up."""
    return language if language != "ja" else "en"


# --- the whole screen ---------------------------------------------------------------------------


def scene(view: BoardView, width: float, height: float, *, page: int = 0, title: str = "手続きの進み具合") -> Scene:
    """The board for ``view`` on a ``width`` x ``height`` screen, showing page ``page`` of the
    stations that turn pages (each station shows its page ``page % its pages``)."""
    ja = gettext_for("ja")
    second = gettext_for(second_language(view.language))
    b = _Builder()
    waiting = view.waiting
    foot_rows = max(1, -(-len(waiting) // FOOTER_PER_ROW)) if waiting else 0
    foot_h = foot_rows * FOOTER_ROW_H
    # Top down: the head, the body (lines | calls), the waiting footer, the caption.
    head_top = height - PAD
    b.head(view, title, Box(PAD, head_top - HEAD_H, width - 2 * PAD, HEAD_H))
    caption = Box(PAD, PAD, width - 2 * PAD, CAPTION_H)
    b.fit(
        [ja(strings.CAPTION) + "  ·  " + second(strings.CAPTION), ja(strings.CAPTION) + "\n" + second(strings.CAPTION)],
        caption,
        CAPTION_SIZES,
        "muted",
    )
    foot = Box(PAD, caption.top + GAP, width - 2 * PAD, foot_h)
    if waiting:
        b.footer(waiting, foot, view.language)
    body_bottom = (foot.top if waiting else caption.top) + GAP
    body_top = head_top - HEAD_H - GAP
    inner = width - 2 * PAD - BODY_SPACING
    lines_box = Box(PAD, body_bottom, inner * (1 - CALLS_SHARE), body_top - body_bottom)
    calls_box = Box(lines_box.right + BODY_SPACING, body_bottom, inner * CALLS_SHARE, body_top - body_bottom)
    b.calls(view, calls_box)
    mode: Mode = "lines"
    if view.awaiting_office:
        panel = b.panel(lines_box)
        b.fit(
            [ja(strings.WAITING_FOR_OFFICE) + " / " + second(strings.WAITING_FOR_OFFICE)],
            lines_box,
            (28.0, 20.0),
            "muted",
            panel=panel,
        )
    elif not b.lines(view, lines_box):
        mode = "merged"
        b.merged(view, lines_box, page)
    return Scene(
        width=width,
        height=height,
        mode=mode,
        page=page,
        pages=b.pages,
        panels=tuple(b.panels),
        tracks=tuple(b.tracks),
        texts=tuple(b.texts),
        cars=tuple(b.cars),
        unlisted=b.unlisted,
    )


@dataclass(frozen=True)
class _Item:
    """A ticket to place at a station: what the car or chip says, and the numbers it stands for."""

    numbers: tuple[int, ...]
    text: str
    status: str


class _Builder:
    """Collects a scene's parts (local state only: the module stays pure)."""

    def __init__(self) -> None:
        self.panels: list[Box] = []
        self.tracks: list[Track] = []
        self.texts: list[Text] = []
        self.cars: list[Car] = []
        self.pages = 1
        self.unlisted = 0

    def panel(self, box: Box) -> int:
        self.panels.append(box)
        return len(self.panels) - 1

    def fit(
        self,
        variants: Sequence[str],
        box: Box,
        sizes: Sequence[float],
        color: Color = "ink",
        *,
        halign: Literal["left", "center", "right"] = "center",
        panel: int = -1,
    ) -> Text:
        """The first of ``variants`` that fits ``box`` at the largest of ``sizes``; else the last
        variant at the smallest size, each of its lines cut to the width."""
        text = fitted(variants, box.w, box.h, sizes)
        label = Text(text[0], text[1], box, color, halign, panel)
        self.texts.append(label)
        return label

    # --- head, calls, footer -------------------------------------------------------------------

    def head(self, view: BoardView, title: str, box: Box) -> None:
        third = box.w / 3
        left, middle, right = (Box(box.x + i * third, box.y, third, box.h) for i in range(3))
        self.fit([view.office_name], left, (25.2, 20.0), halign="left")
        self.fit([title], middle, (33.6, 28.0))
        if view.stale is None:
            self.fit([view.clock], right, (28.0,), halign="right")
            return
        ja, second = gettext_for("ja"), gettext_for(second_language(view.language))
        said_ja = ja(strings.UPDATED).format(time=view.stale)
        said = second(strings.UPDATED).format(time=view.stale)
        self.fit([f"{said_ja}  ({said})", f"{said_ja}\n{said}"], right, (20.0, 16.0), "stale", halign="right")

    def calls(self, view: BoardView, box: Box) -> None:
        panel = self.panel(box)
        ja, second = gettext_for("ja"), gettext_for(second_language(view.language))
        inner = Box(box.x + CALLS_PADDING, box.y + CALLS_PADDING, box.w - 2 * CALLS_PADDING, box.h - 2 * CALLS_PADDING)
        title = Box(inner.x, inner.top - CALLS_TITLE_H, inner.w, CALLS_TITLE_H)
        heading_ja, heading = ja(strings.NOW_CALLING), second(strings.NOW_CALLING)
        self.fit([f"{heading_ja} / {heading}", f"{heading_ja}\n{heading}"], title, (28.0, 20.0, 16.0), panel=panel)
        rows = max(0, int((title.y - inner.y) // CALL_ROW_H))
        for i, call in enumerate(view.calls[:rows]):
            row = Box(inner.x, title.y - (i + 1) * CALL_ROW_H, inner.w, CALL_ROW_H)
            what = _kind_words(call, view.language)
            sizes = CALL_SIZES_HIGHLIGHT if call.highlight else CALL_SIZES
            text, size = call_text(call, row.w, sizes, CALL_SMALL, what=what)
            if not fits(text, size, row.w, row.h):  # a narrow screen: the kind on the second line only
                text, size = call_text(call, row.w, (CALL_SMALL,), CALL_SMALL, what=what, force_two=True)
            if not fits(text, size, row.w, row.h):
                text, size = fitted([text], row.w, row.h, (CALL_SMALL, SECOND_SIZE))
            color: Color = "highlight" if call.highlight else "ink"
            self.texts.append(Text(text, size, row, color, "center", panel))

    def footer(self, waiting: Sequence[PurposeWaiting], box: Box, language: str) -> None:
        ja, second = gettext_for("ja"), gettext_for(second_language(language))
        rows = max(1, -(-len(waiting) // FOOTER_PER_ROW))
        per_row = -(-len(waiting) // rows)
        cell_w = box.w / per_row
        for i, w in enumerate(waiting):
            row, col = divmod(i, per_row)
            cell = Box(box.x + col * cell_w, box.top - (row + 1) * FOOTER_ROW_H, cell_w, FOOTER_ROW_H)
            upper = Box(cell.x, cell.y + cell.h / 2, cell.w, cell.h / 2)
            lower = Box(cell.x, cell.y, cell.w, cell.h / 2)
            self.texts.append(_footer_text(w.name.ja, _figures(ja, w), upper, FOOTER_SIZES, "ink"))
            self.texts.append(_footer_text(w.name.text, _figures(second, w), lower, (SECOND_SIZE,), "muted"))

    # --- the lines: one track per route ----------------------------------------------------------

    def lines(self, view: BoardView, box: Box) -> bool:
        """Each route its own track, when every station's cars fit at a readable size (False:
        they do not, and nothing was added)."""
        shown = [ln for ln in view.lines if ln.trains or ln.hidden or ln.ready or ln.ready_hidden or ln.more_waiting]
        shown = shown or list(view.lines[:1])
        if not shown:
            return True
        if any(ln.more_waiting for ln in shown):
            return False  # unlisted numbers: the merged board says how many
        panel_h = (box.h - (len(shown) - 1) * GAP) / len(shown)
        plans = []
        for i, line in enumerate(shown):
            panel = Box(box.x, box.top - (i + 1) * panel_h - i * GAP, box.w, panel_h)
            plan = _line_plan(line, panel)
            if plan is None:
                return False
            plans.append((line, panel, plan))
        for line, panel, size in plans:
            self._line(view, line, panel, size)
        return True

    def _line(self, view: BoardView, line: Line, box: Box, size: tuple[float, float]) -> None:
        panel = self.panel(box)
        inner = _inset(box, PANEL_PAD)
        purposes = Box(inner.x, inner.top - PURPOSES_H, inner.w, PURPOSES_H)
        self.fit(["・".join(p.ja for p in line.purposes)], purposes, (NAME_SIZE, SECOND_SIZE), "muted", panel=panel)
        names = [_platform_names(view.language)] + [
            (s.name.ja, _second_name(s.name.ja, s.name.text)) for s in line.stations
        ]
        columns = _columns(inner, len(names))
        track_y = self._header(names, columns, purposes.y, panel)
        for index, column in zip(range(PLATFORM, len(line.stations) - 1), columns, strict=False):
            items = [_Item((t.number,), str(t.number), t.status) for t in _at(line, index)]
            self._cars(items, Box(column.x, inner.y, column.w, track_y - CARS_GAP - inner.y), size, panel)
        if line.stations:
            car_h = size[0]
            terminal = columns[-1]
            two_lines = car_h >= 2 * LINE_EM * READY_SIZES[-1]
            for row, item in enumerate((*line.ready, *line.ready_hidden)):
                top = track_y - CARS_GAP - row * (car_h + CAR_GAP)
                cell = Box(terminal.x, top - car_h, terminal.w, car_h)
                text, font = ready_text(item, cell.w, READY_SIZES, two_lines)
                self.cars.append(Car((item.number,), text, READY, cell, font, "ready", panel))

    def _header(self, names: list[tuple[str, str]], columns: list[Box], top: float, panel: int) -> float:
        """Station names over their column, and the track under them; the track's y."""
        for i, ((name_ja, name), column) in enumerate(zip(names, columns, strict=True)):
            upper = Box(column.x, top - HEADER_H / 2, column.w, HEADER_H / 2)
            lower = Box(column.x, top - HEADER_H, column.w, HEADER_H / 2)
            self.fit([name_ja], upper, (NAME_SIZE, SECOND_SIZE), "muted" if i == 0 else "ink", panel=panel)
            if name:
                self.fit([name], lower, (SECOND_SIZE,), "muted", panel=panel)
        track_y = top - HEADER_H - TRACK_GAP
        centres = tuple(c.x + c.w / 2 for c in columns)
        self.tracks.append(Track(track_y, centres[0], centres[-1], centres))
        return track_y

    def _cars(self, items: Sequence[_Item], area: Box, size: tuple[float, float], panel: int) -> None:
        car_h, car_w = size
        per_row = max(1, int((area.w - 2 * CAR_MARGIN + CAR_GAP) // (car_w + CAR_GAP)))
        used = min(per_row, len(items))
        left = area.x + (area.w - (used * (car_w + CAR_GAP) - CAR_GAP)) / 2
        for k, item in enumerate(items):
            row, col = divmod(k, per_row)
            cell = Box(left + col * (car_w + CAR_GAP), area.top - (row + 1) * (car_h + CAR_GAP) + CAR_GAP, car_w, car_h)
            self.cars.append(Car(item.numbers, item.text, item.status, cell, car_number_size(car_h), "car", panel))

    # --- the merged board: one track over every station -------------------------------------------

    def merged(self, view: BoardView, box: Box, page: int) -> None:
        panel = self.panel(box)
        inner = _inset(box, PANEL_PAD)
        codes: list[str] = []
        labels: dict[str, tuple[str, str]] = {}
        for line in view.lines:  # every station once, in route order (after the stop it follows)
            previous: str | None = None
            for s in line.stations:
                if s.code not in labels:
                    labels[s.code] = (s.name.ja, _second_name(s.name.ja, s.name.text))
                    codes.insert(codes.index(previous) + 1 if previous is not None else 0, s.code)
                previous = s.code
        terminal = _terminal(view.lines, codes)
        stops = [c for c in codes if c != terminal] + ([terminal] if terminal else [])
        at: dict[str, list[_Item]] = {c: [] for c in ["", *stops]}  # "": the platform
        self.unlisted = sum(line.more_waiting for line in view.lines)
        for line in view.lines:
            for t in (*line.trains, *line.hidden):
                code = line.stations[t.station_index].code if 0 <= t.station_index < len(line.stations) else ""
                at[code].append(_Item((t.number,), str(t.number), t.status))
        ready = [r for line in view.lines for r in (*line.ready, *line.ready_hidden)]
        if terminal:
            at[terminal] = [_Item((r.number,), _ready_chip(r), READY) for r in ready] + at[terminal]
        # A busy station gets a wider column: the space goes where the numbers are.
        columns = _weighted_columns(inner, [sum(text_em(c.text) for c in _runs(at[code])) for code in at])
        track_y = self._header([_platform_names(view.language)] + [labels[c] for c in stops], columns, inner.top, panel)
        for code, column in zip(["", *stops], columns, strict=True):
            area = Box(column.x, inner.y, column.w, track_y - CARS_GAP - inner.y)
            items = at[code]
            extra = _more_waiting(self.unlisted, view.language) if code == "" and self.unlisted else ""
            self._station(items, area, page, panel, extra=extra)

    def _station(self, items: list[_Item], area: Box, page: int, panel: int, *, extra: str) -> None:
        """A station's tickets in the merged board: cars when they fit, else chips (the largest
        size that needs no page turn, else the largest that needs at most MAX_PAGES)."""
        line_h = SECOND_SIZE * LINE_EM
        extra_h = (extra.count("\n") + 1) * line_h + CHIP_GAP if extra else 0.0
        if all(len(i.numbers) == 1 and i.status != READY for i in items):
            room = Box(area.x, area.y + extra_h, area.w, area.h - extra_h)
            size = _car_size([len(items)], room, digits=_digits(items))
            if size is not None:
                self._cars(items, room, size, panel)
                self._note(extra, Box(area.x, area.y, area.w, extra_h), panel)
                return
        # Under the chips: the page and what no page holds ("2/3  +12"), then ``extra``.
        room = Box(area.x, area.y + extra_h + line_h + CHIP_GAP, area.w, area.h - extra_h - line_h - CHIP_GAP)
        chips = _runs(items)
        laid = [(font, pages) for font in CHIP_SIZES if (pages := _paged(chips, room, font)) is not None]
        laid = laid or [(CHIP_SIZES[-1], _paged(chips, room, CHIP_SIZES[-1], squeeze=True) or [[]])]
        font, pages = next(
            (fp for fp in laid if len(fp[1]) == 1),
            next((fp for fp in laid if len(fp[1]) <= MAX_PAGES), laid[-1]),
        )
        status = ""
        if len(pages) > MAX_PAGES:  # more than any page turn can show: the rest is only counted
            rest = sum(len(c.numbers) for p in pages[MAX_PAGES:] for c, _ in p)
            pages = pages[:MAX_PAGES]
            status = f"+{rest}"
            self.unlisted += rest
        self.pages = max(self.pages, len(pages))
        shown = page % len(pages)
        for item, cell in pages[shown]:
            self.cars.append(Car(item.numbers, item.text, item.status, cell, font, "chip", panel))
        if len(pages) > 1:
            status = f"{shown + 1}/{len(pages)}  {status}".strip()
        self._note(status, Box(area.x, area.y + extra_h, area.w, line_h), panel)
        self._note(extra, Box(area.x, area.y, area.w, extra_h), panel)

    def _note(self, note: str, box: Box, panel: int) -> None:
        if note:
            self.fit([note.replace("\n", "  "), note], box, (SECOND_SIZE,), "muted", panel=panel)


# --- pieces ------------------------------------------------------------------------------------


def fits(text: str, size: float, width: float, height: float) -> bool:
    """Whether ``text`` at ``size`` px is within ``width`` x ``height`` (every line of it)."""
    return text_em(text) * size <= width + 1e-6 and (text.count("\n") + 1) * LINE_EM * size <= height + 1e-6


def fitted(variants: Sequence[str], width: float, height: float, sizes: Sequence[float]) -> tuple[str, float]:
    """The first variant that fits at the largest size; else the last one cut to fit."""
    for variant in variants:
        for size in sizes:
            if fits(variant, size, width, height):
                return variant, size
    size = sizes[-1]
    keep = max(1, int(height // (LINE_EM * size)))
    return "\n".join(fit_text(line, width / size) for line in variants[-1].split("\n")[:keep]), size


def car_number_size(car_h: float) -> float:
    """The font size of a car's number (a few car heights, so a few font copies)."""
    return round(car_h * 0.7, 1)


def _weighted_columns(box: Box, needs: Sequence[float]) -> list[Box]:
    """Columns across ``box``: each at least :data:`MIN_COLUMN_SHARE` of an equal share, the rest
    of the width shared by ``needs`` (all equal when nothing needs any)."""
    count = max(1, len(needs))
    least = box.w / count * MIN_COLUMN_SHARE
    total = sum(needs)
    spare = box.w - least * count
    widths = [least + (spare * n / total if total else spare / count) for n in needs] or [box.w]
    out, x = [], box.x
    for w in widths:
        out.append(Box(x, box.y, w, box.h))
        x += w
    return out


def _digits(items: Sequence[_Item]) -> int:
    return max((len(str(n)) for i in items for n in i.numbers), default=4)


def _inset(box: Box, pad: float) -> Box:
    return Box(box.x + pad, box.y + pad, box.w - 2 * pad, box.h - 2 * pad)


def _columns(box: Box, count: int) -> list[Box]:
    w = box.w / max(1, count)
    return [Box(box.x + i * w, box.y, w, box.h) for i in range(count)]


def _at(line: Line, index: int) -> list[Train]:
    """The trains at one stop of ``line`` (the platform: -1), in issue order."""
    return [t for t in (*line.trains, *line.hidden) if t.station_index == index]


def _car_size(
    counts: Sequence[int], area: Box, heights: Sequence[float] = CAR_SIZES, *, digits: int = 4
) -> tuple[float, float] | None:
    """The largest car (height, width) at which each count of cars fits an ``area`` (None: not
    even the least readable one). A car is wider than tall, like a railway car; a narrower one,
    two abreast, is tried before a smaller one."""
    for car_h in heights:
        least = text_em("0" * digits) * car_number_size(car_h) + 8  # the longest number and a margin
        for car_w in (min(car_h * 2.6, area.w - 2 * CAR_MARGIN), (area.w - 2 * CAR_MARGIN - CAR_GAP) / 2):
            if car_w < least or area.h < car_h:
                continue
            per_row = int((area.w - 2 * CAR_MARGIN + CAR_GAP) // (car_w + CAR_GAP))
            rows = int((area.h + CAR_GAP) // (car_h + CAR_GAP))
            if all(n <= per_row * rows for n in counts):
                return car_h, car_w
    return None


def _line_plan(line: Line, panel: Box) -> tuple[float, float] | None:
    """The car size every stop of ``line`` fits at in ``panel``, its finished tickets included
    (None: not even the least readable one)."""
    inner = _inset(panel, PANEL_PAD)
    col_w = inner.w / (len(line.stations) + 1)
    area = Box(0, 0, col_w, inner.h - PURPOSES_H - HEADER_H - TRACK_GAP - CARS_GAP)
    if line.stations and _at(line, len(line.stations) - 1):
        return None  # a ticket at the terminal not yet finished: the merged board lists it
    counts = [len(_at(line, i)) for i in range(PLATFORM, len(line.stations) - 1)]
    ready = (*line.ready, *line.ready_hidden)
    digits = max((len(str(t.number)) for t in (*line.trains, *line.hidden)), default=4)
    for car_h in CAR_SIZES:
        size = _car_size(counts, area, (car_h,), digits=digits)
        if size is None:
            continue
        rows = int((area.h + CAR_GAP) // (car_h + CAR_GAP))
        two_lines = car_h >= 2 * LINE_EM * READY_SIZES[-1]
        if len(ready) <= rows and all(fits(*ready_text(r, col_w, READY_SIZES, two_lines), col_w, car_h) for r in ready):
            return size
    return None


def _runs(items: Sequence[_Item]) -> list[_Item]:
    """Numbers in order, consecutive ones in the same state as one chip "a～b" (RUN_MIN or more)."""
    ordered = sorted(items, key=lambda i: i.numbers[0])
    out: list[_Item] = []
    run: list[_Item] = []

    def close() -> None:
        if len(run) >= RUN_MIN and all(i.status != READY for i in run):
            numbers = tuple(n for i in run for n in i.numbers)
            out.append(_Item(numbers, f"{numbers[0]}{RUN_SIGN}{numbers[-1]}", run[0].status))
        else:
            out.extend(run)
        run.clear()

    for item in ordered:
        if run and (item.numbers[0] != run[-1].numbers[-1] + 1 or item.status != run[-1].status):
            close()
        run.append(item)
    close()
    return out


def _paged(
    items: Sequence[_Item], area: Box, size: float, *, squeeze: bool = False
) -> list[list[tuple[_Item, Box]]] | None:
    """``items`` as chips flowed in rows across ``area``, page by page (with no room for even one
    row, every item goes on a page past the last one shown). None when a chip is wider than the
    area, unless ``squeeze`` (then it is given the area's width: the last resort)."""
    chip_h = size * LINE_EM + 2
    rows = int((area.h + CHIP_GAP) // (chip_h + CHIP_GAP))
    if rows < 1:
        return [[] for _ in range(MAX_PAGES)] + [[(item, area) for item in items]]
    pages: list[list[tuple[_Item, Box]]] = [[]]
    row, x = 0, area.x
    for item in items:
        w = text_em(item.text) * size + 2 * CHIP_PAD
        if w > area.w + 1e-6:
            if not squeeze:
                return None
            w = area.w
        if x > area.x and x + w > area.right + 1e-6:
            row, x = row + 1, area.x
        if row >= rows:
            pages.append([])
            row, x = 0, area.x
        cell = Box(x, area.top - (row + 1) * (chip_h + CHIP_GAP) + CHIP_GAP, w, chip_h)
        pages[-1].append((item, cell))
        x += w + CHIP_GAP
    return pages


def _terminal(lines: Sequence[Line], codes: Sequence[str]) -> str:
    """The station where finished tickets wait to be collected: the routes' common last stop."""
    ends = {ln.stations[-1].code for ln in lines if ln.stations}
    return next((c for c in reversed(codes) if c in ends), "")


def _platform_names(language: str) -> tuple[str, str]:
    return gettext_for("ja")(strings.PLATFORM), gettext_for(second_language(language))(strings.PLATFORM)


def _second_name(ja: str, text: str) -> str:
    return text if text != ja else ""


def _ready_chip(ready: ReadyTrain) -> str:
    return f"{ready.number}→{ready.counter}番" if ready.counter is not None else str(ready.number)


def _more_waiting(count: int, language: str) -> str:
    ja, second = gettext_for("ja"), gettext_for(second_language(language))
    return f"{ja(strings.MORE_WAITING).format(count=count)}\n{second(strings.MORE_WAITING).format(count=count)}"


def _kind_words(call: CallRow, language: str) -> str:
    message = strings.TO_COLLECT if call.kind == READY else strings.TO_START
    return f"{gettext_for('ja')(message)} · {gettext_for(second_language(language))(message)}"


def _figures(said: Callable[[str], str], w: PurposeWaiting) -> str:
    if w.est_wait_min is None:
        return said(strings.WAITING_COUNT).format(waiting=w.waiting)
    return said(strings.WAITING_AND_WAIT).format(waiting=w.waiting, minutes=w.est_wait_min)


def _footer_text(name: str, figures: str, box: Box, sizes: Sequence[float], color: Color) -> Text:
    """ "name  figures" at the largest size it fits; a name too long is cut, never the figures."""
    for size in sizes:
        if fits(f"{name}  {figures}", size, box.w, box.h):
            return Text(f"{name}  {figures}", size, box, color)
    size = sizes[-1]
    room = box.w / size - text_em(f"  {figures}")
    if room < text_em("…"):
        return Text(fit_text(figures, box.w / size), size, box, color)
    return Text(f"{fit_text(name, room)}  {figures}", size, box, color)
