"""Where the board puts everything, decided without a window (display_board.scene).

The loads are built the way the office builds its board snapshot (office.domain.board_lines:
every ticket past the platform listed, the oldest 400 waiting listed, the rest counted), from
the demo town's purposes, routes and number series. Each check is one a resident relies on:
every listed number is on screen at least once every 10 s whatever the load, nothing spills
out of its box at any size from 1280 x 720 to 3840 x 2160, nothing overlaps, and the layout
stays where it is while the caption's language turns.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

import msgspec
import pytest
from test_board_model import DAY, NOON, SITE, snapshot, view, wire

from common.i18n import LANGUAGES
from display_board import strings
from display_board.model import BoardView, text_em
from display_board.scene import (
    LINE_EM,
    MAX_PAGES,
    PAGE_S,
    Box,
    Scene,
    fits,
    scene,
)
from office.domain import BoardRow, Status, board_lines

SIZES = [(1280, 720), (1366, 768), (1600, 900), (1920, 1080), (2560, 1440), (3840, 2160)]
LONG_ROUTE = ("reception", "input", "review", "issuing", "done")


def busy_day(total: int, seed: int = 1, *, calls: int = 6, language: str = "ja") -> BoardView:
    """``total`` tickets in the building on a busy day: the oldest furthest along (with some
    overtaking), the newest still waiting, a few finished and called to collect."""
    rng = random.Random(seed)
    cats = [c for c in SITE.categories if c.share > 0]
    next_number = {c.series: c.first for c in SITE.categories}
    rows: list[BoardRow] = []
    waiting: list[BoardRow] = []
    per_route: dict[tuple[str, ...], int] = {}
    for k in range(total):
        cat = rng.choices(cats, weights=[c.share for c in cats])[0]
        number = next_number[cat.series]
        next_number[cat.series] += 1
        route = tuple(cat.route)
        progress = 1 - k / total + rng.uniform(-0.15, 0.15)
        if progress < 0.45:
            waiting.append(BoardRow(number, -1, Status.WAITING, None, route))
            per_route[route] = per_route.get(route, 0) + 1
        elif progress > 0.93:
            rows.append(BoardRow(number, len(route) - 1, Status.READY, rng.randint(1, 4), route))
        else:
            index = min(len(route) - 2, int((progress - 0.45) / 0.48 * (len(route) - 1)))
            status = Status.CALLED if index == 0 and rng.random() < 0.3 else Status.IN_PROGRESS
            rows.append(BoardRow(number, index, status, rng.randint(1, 4), route))
    return _view(rows, waiting, per_route, calls=calls, language=language)


def scattered(total: int) -> BoardView:
    """The worst case for listing numbers compactly: ``total`` tickets in progress on one route,
    neighbours always at different stations (no two consecutive numbers together)."""
    rows = [BoardRow(1001 + k, k % 4, Status.IN_PROGRESS, 1, LONG_ROUTE) for k in range(total)]
    return _view(rows, [], {})


def _view(
    rows: list[BoardRow],
    waiting: list[BoardRow],
    per_route: dict[tuple[str, ...], int],
    *,
    calls: int = 0,
    language: str = "ja",
) -> BoardView:
    lines = board_lines(SITE, rows, waiting, per_route)
    called = [
        {"number": r.number, "counter": r.counter or 1, "at_ms": NOON - i * 30_000}
        for i, r in enumerate([r for r in rows if r.counter][:calls])
    ]
    queue = wire(
        "queue_snapshot",
        {
            "version": 5,
            "sent_ms": NOON,
            "business_day": DAY,
            "categories": [
                {"code": c.code, "waiting": 40 + i, "est_wait_min": 25 + i if i % 3 else None}
                for i, c in enumerate(SITE.categories)
            ],
        },
    )
    return view(snapshot([msgspec.to_builtins(line) for line in lines], called), queue=queue, language=language)


def listed(v: BoardView) -> set[int]:
    """Every number the office listed on the board."""
    return {t.number for ln in v.lines for t in (*ln.trains, *ln.hidden)} | {
        r.number for ln in v.lines for r in (*ln.ready, *ln.ready_hidden)
    }


def pages_of(v: BoardView, width: int, height: int, first: int = 0) -> list[Scene]:
    return [scene(v, width, height, page=p) for p in range(first, first + MAX_PAGES)]


# --- every number can be found --------------------------------------------------------------------


def test_a_page_turn_brings_every_number_back_within_ten_seconds() -> None:
    assert PAGE_S * MAX_PAGES <= 10


@pytest.mark.parametrize("size", [(1920, 1080), (1600, 900)])
@pytest.mark.parametrize("total", [10, 300, 1000])
def test_every_listed_number_is_on_screen_at_least_once_every_ten_seconds(total: int, size: tuple[int, int]) -> None:
    for v in (busy_day(total), busy_day(total, seed=9), scattered(total)):
        numbers = listed(v)
        more_waiting = sum(ln.more_waiting for ln in v.lines)
        # Whichever page the board is on when a resident looks up, the next MAX_PAGES pages
        # (PAGE_S each) show every number at least once.
        for first in range(MAX_PAGES + 1):
            shown: set[int] = set()
            for s in pages_of(v, *size, first):
                shown |= s.shown_numbers()
                assert s.unlisted == more_waiting  # the board counts only what the office did not list
                assert not [t.text for t in s.texts if t.text.lstrip().startswith("+")]  # no "+N"
            assert shown == numbers, (total, size, len(numbers - shown))


def test_a_quiet_board_draws_each_route_as_its_own_line_of_cars() -> None:
    v = busy_day(10)
    s = scene(v, 1920, 1080)
    assert s.mode == "lines" and s.pages == 1
    assert len(s.tracks) == len([ln for ln in v.lines if ln.trains or ln.ready])
    cars = [c for c in s.cars if c.shape == "car"]
    assert cars and min(c.box.h for c in cars) >= 36  # readable across the lobby
    assert s.shown_numbers() == listed(v)


def test_a_busy_board_merges_its_lines_and_lists_runs_of_numbers_as_one_chip() -> None:
    v = busy_day(300)
    s = scene(v, 1920, 1080)
    assert s.mode == "merged" and len(s.tracks) == 1
    runs = [c for c in s.cars if len(c.numbers) > 1]
    assert runs, "the waiting tickets of one series come in runs"
    for chip in runs:
        first, last = chip.numbers[0], chip.numbers[-1]
        assert chip.numbers == tuple(range(first, last + 1)) and chip.text == f"{first}～{last}"
        statuses = {t.status for ln in v.lines for t in (*ln.trains, *ln.hidden) if first <= t.number <= last}
        assert statuses == {chip.status}  # a run never hides a ticket in another state


def test_beyond_what_any_page_turn_holds_the_rest_is_counted_not_lost() -> None:
    # 1,000 tickets with no two consecutive at one station, on the smallest screen supported.
    v = scattered(1000)
    shown: set[int] = set()
    for s in pages_of(v, 1280, 720):
        shown |= s.shown_numbers()
    missing = listed(v) - shown
    assert missing and s.unlisted == len(missing)
    assert any(t.text.endswith(f"+{n}") for t in s.texts for n in range(1, 1000) if f"+{n}" in t.text)


# --- nothing spills, nothing overlaps -------------------------------------------------------------


def _overlaps(boxes: Sequence[tuple[Box, str]]) -> list[tuple[str, str]]:
    """Pairs of boxes that overlap (sweep along x)."""
    out: list[tuple[str, str]] = []
    ordered = sorted(boxes, key=lambda b: b[0].x)
    for i, (a, name_a) in enumerate(ordered):
        for b, name_b in ordered[i + 1 :]:
            if b.x >= a.right - 0.5:
                break
            if a.overlaps(b):
                out.append((name_a, name_b))
    return out


def check_scene(s: Scene) -> None:
    screen = Box(0, 0, s.width, s.height)
    for t in s.texts:
        assert fits(t.text, t.size, t.box.w, t.box.h), (t.text, t.size, t.box)
        assert screen.contains(t.box), t
        if t.panel >= 0:
            assert s.panels[t.panel].contains(t.box), t
    for c in s.cars:
        assert text_em(c.text) * c.size <= c.box.w + 1e-6, c  # the number fits its car
        assert c.size <= c.box.h + 1e-6 and (c.shape == "car" or LINE_EM * c.size <= c.box.h + 1e-6), c
        assert s.panels[c.panel].contains(c.box), c
    for panel in s.panels:
        assert screen.contains(panel)
    assert not _overlaps([(p, f"panel {i}") for i, p in enumerate(s.panels)])
    drawn = [(t.box, t.text) for t in s.texts] + [(c.box, c.text) for c in s.cars]
    assert not _overlaps(drawn)
    for track in s.tracks:
        assert all(track.x0 - 0.5 <= x <= track.x1 + 0.5 for x in track.stops)


def loads() -> Iterable[tuple[str, BoardView]]:
    yield "awaiting the office", view(None)
    yield "10", busy_day(10)
    yield "300", busy_day(300)
    yield "1000", busy_day(1000)
    yield "1000 scattered", scattered(1000)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_nothing_spills_out_of_its_box_or_overlaps_at_any_size(size: tuple[int, int]) -> None:
    for _name, v in loads():
        for page in range(MAX_PAGES):
            check_scene(scene(v, *size, page=page))
    stale = view(snapshot([]), online=False, heard=NOON - 3_600_000)
    assert stale.stale is not None
    check_scene(scene(stale, *size))


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_language_fits_and_the_layout_stays_where_it_is(language: str) -> None:
    """The second line of every heading, station, footer cell and call is in the rotating
    language (English while Japanese alone is up), from the board's catalogs; and turning the
    language moves nothing on the screen."""
    ja, turned = busy_day(300), busy_day(300, language=language)
    second = strings.gettext_for(language if language != "ja" else "en")
    for size in SIZES:
        a, b = scene(ja, *size), scene(turned, *size)
        check_scene(b)
        assert (a.panels, a.tracks, [c.box for c in a.cars]) == (b.panels, b.tracks, [c.box for c in b.cars])
        assert [t.box for t in a.texts] == [t.box for t in b.texts]
    said = " ".join(t.text for t in scene(turned, 1920, 1080).texts)
    for message in (strings.NOW_CALLING, strings.PLATFORM, strings.CAPTION, strings.TO_START):
        assert second(message) in said, (language, message)
    figures = second(strings.WAITING_AND_WAIT).format(waiting=41, minutes=26)
    assert figures in said, (language, figures)
    name = next(c for c in SITE.categories if c.code == "certificates").name
    assert name.get(language if language != "ja" else "en", "") in said


def test_every_purpose_is_in_the_footer_in_both_languages() -> None:
    v = busy_day(10, language="vi")
    assert len(v.waiting) == len(SITE.categories)
    for size in SIZES:
        s = scene(v, *size)
        footer = [t for t in s.texts if t.box.top <= s.panels[0].y]  # under the body's panels
        for w in v.waiting:
            assert any(
                t.text.endswith(f"{w.waiting}人  " + (f"約{w.est_wait_min}分" if w.est_wait_min is not None else "—"))
                for t in footer
            ), (size, w)
        assert len([t for t in footer if "người chờ" in t.text]) == len(v.waiting)


def test_the_board_draws_text_at_a_few_sizes_only() -> None:
    """Each font size keeps a copy of the CJK font in memory: every text and
    number of every scene is at one of scene.SIZES."""
    from display_board.scene import SIZES

    for _name, v in loads():
        s = scene(v, 1920, 1080)
        used = {t.size for t in s.texts} | {c.size for c in s.cars if c.text}
        assert used <= set(SIZES), used - set(SIZES)
