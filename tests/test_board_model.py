"""The lobby board decided without a window: office snapshots in, a BoardView out.

The property tests drive the office's own domain (office.domain: call, advance, done, absent)
and build each snapshot the way the office does (office.domain.board_lines), so the board is
checked against what it will really receive, not against hand-made rows.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from display_board.model import (
    Arrive,
    BoardView,
    CallRow,
    Depart,
    Label,
    Layout,
    Move,
    ReadyTrain,
    Stack,
    Train,
    animations,
    board_view,
    call_text,
    counter_label,
    counter_names,
    fit_text,
    ready_text,
    says_number,
    text_em,
)
from office import config as configmod
from office.domain import (
    BoardRow,
    Call,
    CommandError,
    Status,
    Ticket,
    advance,
    board_lines,
    call,
    done,
    ticket_id,
)
from office.domain import absent as mark_absent
from sync import messages, protocol
from sync.errors import ProtocolError
from sync.site import SiteConfig

NOON = 1_795_230_000_000  # 2026-11-21 12:00 JST
DAY = "2026-11-21"
SITE = configmod.load()
LONG = "reception-input-review-issuing-done"
CERTS = "reception-issuing-done"


def config_doc(site: SiteConfig = SITE, **changes: Any) -> messages.OfficeConfig:
    """office/config as the office publishes it (SiteConfig.message), through the wire."""
    doc = site.message(version=1, sent_ms=NOON, lease_days=())
    return wire("office_config", {**msgspec.to_builtins(doc), **changes})


def wire(name: str, body: Mapping[str, Any]) -> Any:
    """A document as a device receives it: JSON bytes decoded by the protocol (so every document
    in these tests is schema-valid), typed."""
    raw = msgspec.json.encode({**body, "v": 1})
    return protocol.decode(name, raw)


CONFIG = config_doc()


def snapshot(lines: list[Any], calls: Sequence[Mapping[str, Any]] = (), **extra: Any) -> messages.BoardSnapshot:
    body = {"version": 5, "sent_ms": NOON, "business_day": DAY, "lines": lines, "calls": list(calls), **extra}
    return wire("board_snapshot", body)  # type: ignore[no-any-return]


def line(route: str, rows: list[list[Any]], **extra: Any) -> dict[str, Any]:
    return {"route": route, "stations": route.split("-"), "tickets": rows, **extra}


def view(
    board: messages.BoardSnapshot | None,
    *,
    online: bool = True,
    heard: int | None = NOON,
    now: int = NOON,
    language: str = "ja",
    queue: messages.QueueSnapshot | None = None,
    config: messages.OfficeConfig | None = CONFIG,
    **layout: Any,
) -> BoardView:
    return board_view(
        board,
        queue,
        config,
        office_online=online,
        last_heard_ms=heard,
        now_ms=now,
        language=language,
        layout=Layout(**layout),
    )


def the_line(v: BoardView, route: str) -> Any:
    return next(ln for ln in v.lines if ln.route == route)


def represented(v: BoardView) -> Counter[int]:
    """Every number the view accounts for individually (drawn, behind a stack, ready)."""
    numbers: Counter[int] = Counter()
    for ln in v.lines:
        numbers.update(t.number for t in (*ln.trains, *ln.hidden))
        numbers.update(r.number for r in (*ln.ready, *ln.ready_hidden))
    return numbers


# --- the office, simulated with its own domain ------------------------------------------------


@dataclass
class Office:
    """Tickets progressing through office.domain, and snapshots built like the office's."""

    site: SiteConfig = SITE
    now: int = NOON
    tickets: dict[str, Ticket] = field(default_factory=dict)  # insertion order = issue order
    calls: list[Call] = field(default_factory=list)  # newest first
    next_number: dict[str, int] = field(default_factory=dict)

    def tick(self) -> None:
        self.now += 7_000

    def issue(self, category: int) -> None:
        cat = self.site.categories[category % len(self.site.categories)]
        number = self.next_number.get(cat.series, cat.first)
        self.next_number[cat.series] = number + 1
        tid = ticket_id(DAY, cat.series, number)
        self.tickets[tid] = Ticket(
            tid,
            DAY,
            cat.series,
            number,
            cat.code,
            "disp-1",
            self.now,
            f"{self.now:013d}-{len(self.tickets):06d}",
            cat.route,
        )

    def pick(self, statuses: tuple[Status, ...], index: int, min_station: int = -1) -> Ticket | None:
        found = [t for t in self.tickets.values() if t.status in statuses and t.station_index >= min_station]
        return found[index % len(found)] if found else None

    def apply(self, op: tuple[str, int, int]) -> None:
        """One clerk action; a command the domain refuses changes nothing (as in the office)."""
        kind, a, b = op
        self.tick()
        try:
            if kind == "issue":
                self.issue(a)
            elif kind == "call":
                t = self.pick((Status.WAITING, Status.ABSENT), a)
                if t is not None:
                    counter = self.site.counters[b % len(self.site.counters)].number
                    moved, _, c = call(t, counter, self.now)
                    self.tickets[t.ticket_id] = moved
                    self.calls.insert(0, c)
            elif kind in ("forward", "back"):
                t = self.pick((Status.CALLED, Status.IN_PROGRESS, Status.READY), a, 0 if kind == "forward" else 1)
                if t is not None:
                    step = 1 + b % 2
                    target = t.station_index + step if kind == "forward" else t.station_index - step
                    if 0 <= target < len(t.route):
                        moved, _, c2 = advance(t, t.route[target], self.now)
                        self.tickets[t.ticket_id] = moved
                        if c2 is not None:
                            self.calls.insert(0, c2)
            elif kind == "done":
                t = self.pick((Status.CALLED, Status.IN_PROGRESS), a)
                if t is not None:
                    moved, _, c = done(t, self.now)
                    self.tickets[t.ticket_id] = moved
                    self.calls.insert(0, c)
            elif kind == "absent":
                t = self.pick((Status.WAITING, Status.CALLED, Status.READY), a)
                if t is not None:
                    self.tickets[t.ticket_id] = mark_absent(t, self.now)
        except CommandError:
            pass

    def active(self) -> list[Ticket]:
        return [t for t in self.tickets.values() if t.status.active]

    def board(self, waiting_limit: int = 400) -> messages.BoardSnapshot:
        """office/snapshot/board as office.server._publish_snapshots builds it."""

        def row(t: Ticket) -> BoardRow:
            return BoardRow(t.number, t.station_index, t.status, t.counter, t.route)

        trains = [
            row(t) for t in self.tickets.values() if t.status in (Status.CALLED, Status.IN_PROGRESS, Status.READY)
        ]
        waiting_all = [row(t) for t in self.tickets.values() if t.status is Status.WAITING]
        per_route: dict[tuple[str, ...], int] = {}
        for r in waiting_all:
            per_route[r.route] = per_route.get(r.route, 0) + 1
        now_calling: dict[int, dict[str, Any]] = {}
        for c in self.calls:
            now_calling.setdefault(
                c.counter, {"counter": c.counter, "number": c.number, "kind": c.kind, "at_ms": c.at_ms}
            )
        return wire(
            "board_snapshot",
            {
                "version": 1,
                "sent_ms": self.now,
                "business_day": DAY,
                "lines": board_lines(self.site, trains, waiting_all[:waiting_limit], per_route),
                "calls": [{"number": c.number, "counter": c.counter, "at_ms": c.at_ms} for c in self.calls[:10]],
                "counters": sorted(now_calling.values(), key=lambda r: r["counter"]),
            },
        )


def check_invariants(v: BoardView, office: Office, board: messages.BoardSnapshot, limit: int) -> None:
    """What must hold of any view of any valid snapshot."""
    numbers = represented(v)
    # A train never appears twice across the view.
    assert all(n == 1 for n in numbers.values()), [k for k, n in numbers.items() if n > 1]
    # Every ticket the snapshot lists is accounted for individually, and nothing else is.
    listed = {row[0] for ln in board.lines for row in ln.tickets}
    assert set(numbers) == listed
    # Every active ticket of the office is shown once: drawn, counted in a stack, or ready.
    total = sum(
        len(ln.trains) + sum(s.hidden_count for s in ln.stacks) + len(ln.ready) + ln.ready_more for ln in v.lines
    )
    assert total == len(office.active())
    assert v.problems == 0
    for ln in v.lines:
        on_line = [t for t in office.active() if "-".join(t.route) == ln.route and t.status is not Status.READY]
        for index in range(-1, len(ln.stations)):
            here = [t for t in on_line if (t.station_index if t.status is not Status.WAITING else -1) == index]
            drawn = ln.drawn_at(index)
            assert len(drawn) <= limit
            assert len(drawn) + ln.stack_at(index) == len(here)
            # the first ones in issue order are the ones drawn
            assert [t.number for t in drawn] == [t.number for t in here][: len(drawn)]
        assert all(s.hidden_count > 0 for s in ln.stacks)
        assert {r.number for r in (*ln.ready, *ln.ready_hidden)} == {
            t.number for t in office.active() if "-".join(t.route) == ln.route and t.status is Status.READY
        }


OPS = st.tuples(
    st.sampled_from(
        [
            "issue",
            "issue",
            "issue",
            "call",
            "call",
            "call",
            "forward",
            "forward",
            "forward",
            "back",
            "back",
            "done",
            "done",
            "absent",
        ]
    ),
    st.integers(0, 50),
    st.integers(0, 50),
)


@settings(max_examples=150, deadline=None)
@given(
    ops=st.lists(OPS, min_size=10, max_size=80),
    waiting_limit=st.integers(0, 8),
    limit=st.integers(1, 4),
    max_ready=st.integers(1, 3),
)
def test_random_office_progress_keeps_every_train_once_and_moves_honest(
    ops: list[tuple[str, int, int]], waiting_limit: int, limit: int, max_ready: int
) -> None:
    # Three purposes on three routes: enough lines to cross, few enough that trains crowd.
    office = Office(site=msgspec.structs.replace(SITE, categories=SITE.categories[:3]))
    previous: BoardView | None = None
    before: dict[int, Ticket] = {}
    for op in ops:
        office.apply(op)
        board = office.board(waiting_limit)
        current = view(board, now=office.now, heard=office.now, max_trains_per_station=limit, max_ready=max_ready)
        check_invariants(current, office, board, limit)
        after = {t.number: t for t in office.tickets.values()}
        for anim in animations(previous, current):
            if isinstance(anim, Move):
                was, now = before[anim.number], after[anim.number]
                # The board moves a train exactly as the office did, and backwards only when
                # the office sent it back.
                assert (anim.from_index, anim.to_index) == (was.station_index, now.station_index)
                assert anim.backwards == (now.station_index < was.station_index)
            elif isinstance(anim, Depart) and anim.reason == "ready":
                assert after[anim.number].status is Status.READY
            elif isinstance(anim, Depart):
                assert after[anim.number].status in (Status.ABSENT, Status.VOID)
            else:
                assert after[anim.number].status.active
        previous, before = current, after


def test_three_hundred_trains_in_progress_stack_beyond_the_limit() -> None:
    office = Office()
    for i in range(300):
        office.issue(i % 2)  # moving (5 stations) and certificates (3 stations)
    for i, t in enumerate(list(office.tickets.values())):
        moved, _, c = call(t, 1, office.now)
        if i % 3:
            moved, _, _ = advance(moved, moved.route[1 + i % (len(moved.route) - 2)], office.now)
        office.tickets[t.ticket_id] = moved
        office.calls.insert(0, c)
    for i in range(50):
        office.issue(i % 2)  # and 50 waiting
    board = office.board()
    assert len(protocol.encode(board)) < protocol.MAX_PAYLOAD_BYTES
    v = view(board, max_trains_per_station=5)
    check_invariants(v, office, board, 5)
    moving = the_line(v, LONG)
    assert len(moving.trains) == 5 * 4  # stations 0, 2 and 3 hold trains, and the platform
    assert sum(s.hidden_count for s in moving.stacks) == 150 + 25 - len(moving.trains)
    assert len(v.calls) == 6


def test_waiting_beyond_the_listed_ones_count_on_the_platform_stack() -> None:
    office = Office()
    for _ in range(12):
        office.issue(1)  # certificates
    board = office.board(waiting_limit=4)
    assert board.lines[1].more_waiting == 8
    certs = the_line(view(board, max_trains_per_station=3), CERTS)
    assert [t.station_index for t in certs.trains] == [-1, -1, -1]
    assert [t.number for t in certs.trains] == [2001, 2002, 2003]  # the next ones to be called
    assert certs.stacks == (Stack(-1, 1 + 8),)
    assert certs.more_waiting == 8


# --- stale, missing documents ---------------------------------------------------------------


def simple_board() -> dict[str, Any]:
    return snapshot([line(CERTS, [[2001, 0, "called", 3], [2002, -1, "waiting", None]])])


def test_online_and_recently_heard_is_not_stale() -> None:
    v = view(simple_board(), online=True, heard=NOON - 20_000)
    assert v.stale is None
    assert not v.awaiting_office


def test_offline_keeps_the_last_state_and_says_when_it_was_updated() -> None:
    v = view(simple_board(), online=False, heard=NOON - 5 * 60_000)
    assert v.stale == "11:55"  # Japanese local time
    assert [t.number for t in v.lines[0].trains] == [2001, 2002]


def test_online_but_not_heard_for_a_while_is_stale() -> None:
    v = view(simple_board(), online=True, heard=NOON - 40_000, now=NOON)
    assert v.stale == "11:59"


def test_stale_without_a_live_message_uses_the_snapshots_own_time() -> None:
    board = simple_board()
    v = view(board, online=False, heard=None, now=NOON + 3_600_000)
    assert v.stale == "12:00"


def test_stale_time_follows_the_offices_timezone_and_survives_a_bad_one() -> None:
    assert view(simple_board(), online=False, config=config_doc(timezone="Europe/London")).stale == "03:00"
    assert view(simple_board(), online=False, config=config_doc(timezone="Not/AZone")).stale == "12:00"
    assert view(simple_board(), online=False, config=None).stale == "12:00"


def test_the_clock_is_the_sites_time_whatever_the_machines_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "UTC")  # a Pi left as it came: its own zone says 03:00
    time.tzset()
    try:
        assert view(simple_board(), online=True, heard=NOON - 1000, now=NOON).clock == "12:00"
        assert view(simple_board(), online=True, now=NOON, config=config_doc(timezone="Europe/London")).clock == "03:00"
        assert view(None, online=False, heard=None, config=None, now=NOON + 61_000).clock == "12:01"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_nothing_received_yet_is_an_empty_view_waiting_for_the_office() -> None:
    v = view(None, online=False, heard=None, config=None)
    assert v.awaiting_office
    assert (v.lines, v.calls, v.counters, v.waiting, v.problems) == ((), (), (), (), 0)
    assert v.stale == "--:--"
    assert animations(None, v) == ()
    assert animations(v, v) == ()


def test_a_snapshot_without_config_still_draws_with_station_codes() -> None:
    v = view(simple_board(), config=None)
    certs = v.lines[0]
    assert [s.name for s in certs.stations] == [Label(c, c) for c in ("reception", "issuing", "done")]
    assert certs.purposes == ()


# --- languages --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "reception", "moving"),
    [
        # Japanese alone up: the second line is English (the board keeps its place for it).
        ("ja", "Reception", "Moving in / out"),
        ("en", "Reception", "Moving in / out"),
        ("zh_CN", "受理", "迁入·迁出·迁居"),
        ("ko", "접수", "전입·전출·전거"),
        ("vi", "Tiếp nhận", "Chuyển đến / chuyển đi"),
        ("pt", "Recepção", "Mudança (entrada/saída)"),
    ],
)
def test_names_in_each_lobby_language_with_japanese_always_beside(language: str, reception: str, moving: str) -> None:
    board = snapshot([line(LONG, [])])
    queue = wire("queue_snapshot", {"version": 1, "sent_ms": NOON, "categories": [{"code": "moving", "waiting": 3}]})
    v = view(board, language=language, queue=queue)
    station = v.lines[0].stations[0]
    assert station.code == "reception"
    assert station.name == Label(reception, "受付", "うけつけ")
    assert v.lines[0].purposes[0].text == moving
    assert v.lines[0].purposes[0].ja == "転入・転出・転居"
    assert v.waiting[0].name.text == moving
    assert v.language == language


def test_a_station_without_the_language_falls_back_to_japanese() -> None:
    config = config_doc(stations=[{"code": "reception", "name": {"ja": "受付", "zh": "受理(zh)"}}])
    v = view(snapshot([line(LONG, [])]), language="en", config=config)
    assert v.lines[0].stations[0].name == Label("受付", "受付")
    assert (
        view(snapshot([line(LONG, [])]), language="zh_CN", config=config).lines[0].stations[0].name.text == "受理(zh)"
    )


# --- calls ----------------------------------------------------------------------------------


def test_calls_newest_first_limited_and_the_newest_set_apart_while_recent() -> None:
    calls = [{"number": 2000 + i, "counter": 1 + i % 3, "at_ms": NOON - (10 - i) * 20_000} for i in range(10)]
    v = view(snapshot([line(CERTS, [])], calls=calls), max_calls=6)  # given oldest first on purpose
    assert [c.number for c in v.calls] == [2009, 2008, 2007, 2006, 2005, 2004]
    assert [c.highlight for c in v.calls] == [True, False, False, False, False, False]  # the newest only
    assert v.calls[0].counter == 1 + 9 % 3
    later = view(snapshot([line(CERTS, [])], calls=calls), max_calls=6, now=NOON + 120_000)
    assert not any(c.highlight for c in later.calls)  # two minutes on, nothing is new


def test_a_number_called_again_shows_once_with_its_latest_call_and_kind() -> None:
    calls = [
        {"number": 2001, "counter": 4, "at_ms": NOON - 1_000},
        {"number": 2001, "counter": 2, "at_ms": NOON - 900_000},
    ]
    counters = [
        {"counter": 4, "number": 2001, "kind": "ready", "at_ms": NOON - 1_000},
        {"counter": 2, "number": 2001, "kind": "call", "at_ms": NOON - 900_000},
    ]
    v = view(snapshot([line(CERTS, [[2001, 2, "ready", 4]])], calls=calls, counters=counters))
    assert [(c.number, c.counter, c.kind, c.highlight) for c in v.calls] == [(2001, 4, "ready", True)]
    assert [(c.counter, c.number, c.kind) for c in v.counters] == [(2, 2001, "call"), (4, 2001, "ready")]


def test_a_call_stamped_ahead_of_this_devices_clock_is_recent() -> None:
    v = view(snapshot([line(CERTS, [])], calls=[{"number": 2001, "counter": 1, "at_ms": NOON + 5_000}]))
    assert v.calls[0].highlight
    assert v.calls[0].kind == "call"


# --- ready ----------------------------------------------------------------------------------


def test_ready_tickets_leave_the_line_for_the_ready_list_most_recently_called_first() -> None:
    rows = [[2001, 2, "ready", 1], [2002, 2, "ready", 2], [2003, 2, "ready", 3], [2004, 1, "in_progress", 3]]
    calls = [
        {"number": 2002, "counter": 2, "at_ms": NOON - 1_000},
        {"number": 2001, "counter": 1, "at_ms": NOON - 9_000},
    ]
    certs = view(snapshot([line(CERTS, rows)], calls=calls), max_ready=2).lines[0]
    assert certs.trains == (Train(2004, 1, "in_progress", 3),)
    assert certs.ready == (ReadyTrain(2002, 2, "2番窓口"), ReadyTrain(2001, 1, "1番窓口"))
    assert certs.ready_hidden == (ReadyTrain(2003, 3, "3番窓口"),)
    assert certs.ready_more == 1


# --- counters as the office names them ---------------------------------------------------------

ROOM = {"ja": "相談室", "kana": "そうだんしつ", "en": "Consultation room"}
COUNTERS = (
    messages.CounterInfo(number=3, name={"ja": "3番窓口", "en": "Counter 3"}),
    messages.CounterInfo(number=4, name={"ja": "4番窓口（ローカウンター）", "en": "Counter 4 (seated)"}, kind="low"),
    messages.CounterInfo(number=5, name=ROOM, kind="consultation"),
    messages.CounterInfo(number=6),  # configured without a name
    messages.CounterInfo(number=7, name={"ja": "窓口７"}),
    messages.CounterInfo(number=8, name={"en": "Window 8"}),
)


@pytest.mark.parametrize(
    ("number", "language", "label"),
    [(3, "ja", "3番窓口"), (4, "ja", "4番窓口（ローカウンター）"), (5, "ja", "5番 相談室"), (6, "ja", "6番窓口"),
     (7, "ja", "窓口７"), (8, "ja", "8番窓口"), (9, "ja", "9番窓口"),
     (5, "en", "5 · Consultation room"), (3, "en", "Counter 3"), (8, "en", "Window 8"),
     (5, "zh_CN", "5番 相談室"), (9, "en", "9番窓口")],
)  # fmt: skip
def test_a_counter_is_labelled_by_its_configured_name_always_with_its_number(
    number: int, language: str, label: str
) -> None:
    assert counter_label(COUNTERS, number, language) == label
    assert counter_label(config_doc(counters=[msgspec.to_builtins(c) for c in COUNTERS]), number, language) == label


def test_without_the_offices_config_a_counter_is_n_ban_madoguchi() -> None:
    assert counter_label(None, 5) == "5番窓口"
    assert counter_label((), 5, "en") == "5番窓口"
    assert counter_names(None, 5) == {}
    assert counter_names(COUNTERS, 5) == ROOM
    # A name on two lines stays on one: the board has a line for it.
    assert counter_label([messages.CounterInfo(number=5, name={"ja": " 相談室\n(2階) "})], 5) == "5番 相談室 (2階)"


@pytest.mark.parametrize(
    ("name", "number", "says"),
    [("3番窓口", 3, True), ("窓口３", 3, True), ("Counter 3", 3, True), ("三番窓口", 3, True), ("第三相談室", 3, True),
     ("13番窓口", 3, False), ("三階相談室", 3, False), ("十三番窓口", 3, False), ("相談室", 5, False),
     ("十三番", 13, True), ("0番", 0, True), ("窓口", 0, False)],
)  # fmt: skip
def test_whether_a_name_says_its_number(name: str, number: int, says: bool) -> None:
    # One rule for the board (show the name as it is) and the voice (say the number instead).
    assert says_number(name, number) is says


def test_calls_and_ready_tickets_name_their_counter_as_configured() -> None:
    config = config_doc(counters=[msgspec.to_builtins(c) for c in COUNTERS])
    calls = [
        {"number": 2001, "counter": 5, "at_ms": NOON - 1_000},
        {"number": 2002, "counter": 9, "at_ms": NOON - 2_000},
    ]
    v = view(snapshot([line(CERTS, [[2003, 2, "ready", 4], [2004, 2, "ready", 5]])], calls=calls), config=config)
    assert [(c.number, c.counter, c.label) for c in v.calls] == [(2001, 5, "5番 相談室"), (2002, 9, "9番窓口")]
    assert {(r.number, r.label) for r in v.lines[0].ready} == {
        (2003, "4番窓口（ローカウンター）"),
        (2004, "5番 相談室"),
    }
    # The board's names are Japanese whatever the caption language (the calls list is Japanese).
    assert view(snapshot([line(CERTS, [])], calls=calls), config=config, language="en").calls[0].label == "5番 相談室"
    # Renaming a counter changes the view, so the board redraws.
    renamed = config_doc(counters=[{"number": 5, "name": {"ja": "相談室A"}}])
    assert view(snapshot([line(CERTS, [])], calls=calls), config=renamed).calls[0].label == "5番 相談室A"


# --- fitting counter names to the screen ------------------------------------------------------


def test_text_width_counts_cjk_characters_wider_than_digits() -> None:
    assert text_em("105") == pytest.approx(3 * 0.59)  # Noto Sans CJK Bold's digits (display_board.glyphs)
    assert text_em("相談室") == pytest.approx(3.0)
    assert text_em("5番 相談室\n(受付)") == pytest.approx(0.59 + 1 + 0.23 + 3)  # the widest line
    assert text_em("mm") > text_em("ii") * 2  # Latin letters by their own widths, not one figure


def test_a_long_name_loses_its_remark_first_then_is_cut() -> None:
    name = "4番窓口（ローカウンター）"
    assert fit_text(name, 20) == name
    assert fit_text(name, 5) == "4番窓口"
    assert fit_text(name, 3) == "4番…"
    assert fit_text("5番 こども家庭相談室", 6) == "5番 こども…"
    assert fit_text("相談室", 0.5) == "…"


def call_row(label: str, counter: int, *, number: int = 1105, kind: str = "call", highlight: bool = False) -> CallRow:
    return CallRow(number, counter, NOON, kind, highlight, label)


def test_a_call_row_steps_down_in_size_before_it_goes_on_two_lines() -> None:
    short = call_row("3番窓口", 3)
    assert call_text(short, 500, (34, 28, 22), 20) == ("1105  →  3番窓口  (受付)", 34)
    assert call_text(short, 350, (34, 28, 22), 20) == ("1105  →  3番窓口  (受付)", 28)
    room = call_row("5番 相談室", 5, kind="ready")
    assert call_text(room, 300, (28, 22), 20) == ("1105  →  5番 相談室\n(お受け取り)", 20)
    low = call_row("4番窓口（ローカウンター）", 4)
    assert call_text(low, 250, (28, 22), 20) == ("1105  →  4番窓口\n(受付)", 20)


def test_a_cut_that_would_lose_the_counters_number_shows_the_number() -> None:
    # "相談室5" cut to "相談…" would not say which counter: "5番" instead.
    assert call_text(call_row("相談室5", 5), 140, (28,), 20) == ("1105  →  5番\n(受付)", 20)


def test_a_ready_row_shrinks_then_goes_on_two_lines_when_the_row_is_tall_enough() -> None:
    room = ReadyTrain(1105, 5, "5番 相談室")
    assert ready_text(room, 195, (22, 20), False) == ("1105 → 5番 相談室", 22)
    assert ready_text(room, 180, (22, 20), False) == ("1105 → 5番 相談室", 20)
    assert ready_text(room, 150, (22, 20), False) == ("1105 → 5番…", 20)
    assert ready_text(room, 150, (22, 20), True) == ("1105 →\n5番 相談室", 20)
    assert ready_text(ReadyTrain(1105, None, ""), 150, (22, 20), True) == ("1105", 22)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["ja", "en"]), st.text(alphabet="0123456789番窓口相談室三十第（）() abc", max_size=40)
    ),
    st.integers(0, 999),
    st.integers(1, 99_999),
    st.floats(100, 900),
    st.booleans(),
    st.booleans(),
)
def test_a_row_always_shows_the_counters_whole_number_and_fits_when_that_can(
    names: dict[str, str], counter: int, number: int, width: float, ready: bool, tall: bool
) -> None:
    label = counter_label([messages.CounterInfo(number=counter, name=names)], counter)
    if ready:
        text, size = ready_text(ReadyTrain(number, counter, label), width, (22, 20), tall)
        head = f"{number} → "
    else:
        text, size = call_text(call_row(label, counter, number=number), width, (28, 22), 20)
        head = f"{number}  →  "
    where = text.split("→", 1)[1].split("(受付)")[0]
    assert says_number(where, counter), text
    if text_em(head + str(counter)) * 20 <= width:  # room for the number at the smallest size
        assert text_em(text) * size <= width, text


@pytest.mark.parametrize("ready", [True, False])
def test_too_narrow_for_the_number_the_row_runs_over_rather_than_cut_it(ready: bool) -> None:
    if ready:
        text, _ = ready_text(ReadyTrain(99999, 999, "999番 相談室"), 110, (22, 20), False)
    else:
        text, _ = call_text(call_row("999番 相談室", 999, number=99999), 110, (28, 22), 20)
    assert text.split("→", 1)[1].split("\n")[0].strip() == "999"


# --- waiting per purpose ----------------------------------------------------------------------


def test_waiting_per_purpose_in_the_dispensers_order_with_unknown_estimates() -> None:
    queue = wire(
        "queue_snapshot",
        {
            "version": 1,
            "sent_ms": NOON,
            "categories": [
                {"code": "certificates", "waiting": 4, "est_wait_min": 8},
                {"code": "moving", "waiting": 0, "est_wait_min": None},
                {"code": "pets", "waiting": 2},
            ],
        },
    )
    v = view(None, queue=queue, language="en")
    assert [(w.code, w.name.text, w.waiting, w.est_wait_min) for w in v.waiting] == [
        ("moving", "Moving in / out", 0, None),
        ("certificates", "Certificates", 4, 8),
        ("pets", "pets", 2, None),  # a purpose the config does not know yet: its code
    ]
    assert v.awaiting_office  # the queue alone does not make a board


# --- odd but schema-valid snapshots -----------------------------------------------------------


def test_a_station_index_beyond_the_route_is_clamped_and_counted() -> None:
    v = view(snapshot([line(CERTS, [[2001, 9, "in_progress", 1], [2002, 1, "in_progress", 1]])]))
    assert [t.station_index for t in v.lines[0].trains] == [2, 1]
    assert v.problems == 1


def test_odd_rows_are_placed_by_where_they_are_and_counted() -> None:
    rows = [
        [2001, -1, "called", 1],  # called means at a counter: the first station
        [2002, 1, "waiting", None],  # waiting means the platform
        [2003, 1, "paused", 2],  # a status this board does not know: placed by its index
        [2004, -1, "paused", None],
    ]
    v = view(snapshot([line(CERTS, rows)]))
    assert v.lines[0].trains == (
        Train(2001, 0, "called", 1),
        Train(2002, -1, "waiting", None),
        Train(2003, 1, "in_progress", 2),
        Train(2004, -1, "waiting", None),
    )
    assert v.problems == 4


def test_a_number_listed_twice_is_drawn_once_and_counted() -> None:
    board = snapshot(
        [
            line(CERTS, [[2001, 0, "called", 1], [2001, 1, "in_progress", 1]]),
            line(LONG, [[2001, 3, "in_progress", 1], [1001, -1, "waiting", None]]),
        ]
    )
    v = view(board)
    assert represented(v) == Counter({2001: 1, 1001: 1})
    assert the_line(v, CERTS).trains == (Train(2001, 0, "called", 1),)
    assert v.problems == 2


def test_a_route_listed_twice_is_merged_and_a_route_without_stations_keeps_its_trains() -> None:
    board = snapshot(
        [
            line(CERTS, [[2001, 0, "called", 1]], more_waiting=2),
            line(CERTS, [[2002, 1, "in_progress", 1]], more_waiting=3),
            {"route": "", "stations": [], "tickets": [[5001, 2, "in_progress", 1]]},
        ]
    )
    v = view(board)
    assert [ln.route for ln in v.lines] == [CERTS, ""]
    assert [t.number for t in v.lines[0].trains] == [2001, 2002]
    assert v.lines[0].stacks == (Stack(-1, 5),)
    assert v.lines[1].trains == (Train(5001, -1, "in_progress", 1),)  # clamped: nowhere else to draw it
    assert v.problems == 2


def test_documents_of_the_wrong_shape_never_reach_the_model() -> None:
    """The board only ever sees documents the protocol checked: odd shapes are refused there."""
    odd: list[Any] = [
        {"lines": "nope", "calls": [1, {"number": "x"}], "counters": [None]},
        {
            "lines": [
                None,
                {"route": 3},
                {"route": "a", "stations": "abc", "tickets": [[1, 2], "row", [1, 0, "called", 1]], "more_waiting": -4},
            ],
            "calls": None,
        },
        {},
    ]
    for body in odd:
        with pytest.raises(ProtocolError):
            wire("board_snapshot", {"version": 1, "sent_ms": NOON, **body})
    with pytest.raises(ProtocolError):
        wire("queue_snapshot", {"version": 1, "sent_ms": NOON, "categories": [None, {"code": 1}]})
    with pytest.raises(ProtocolError):
        wire("office_config", {"version": 1, "sent_ms": NOON, "stations": 5, "categories": [None]})
    # A zone this device does not know is drawn in Japan's time rather than refused.
    assert view(snapshot([]), config=config_doc(timezone="Mars/Olympus")).lines == ()


# --- animations -------------------------------------------------------------------------------


def test_animations_follow_each_train_by_number() -> None:
    rows_before = [
        [2001, 0, "called", 1],
        [2002, 1, "in_progress", 1],
        [2003, 1, "in_progress", 2],
        [2004, -1, "waiting", None],
        [2005, 1, "in_progress", 3],
    ]
    rows_after = [
        [2001, 1, "in_progress", 1],
        [2002, 0, "called", 1],
        [2003, 2, "ready", 2],
        [2004, 0, "called", 4],
        [2006, -1, "waiting", None],
    ]
    before, after = view(snapshot([line(CERTS, rows_before)])), view(snapshot([line(CERTS, rows_after)]))
    assert animations(before, after) == (
        Move(2001, CERTS, 0, 1, backwards=False),
        Move(2002, CERTS, 1, 0, backwards=True),  # the office sent it back to reception
        Move(2004, CERTS, -1, 0, backwards=False),  # called: leaves the platform
        Arrive(2006, CERTS, -1, "new"),
        Depart(2003, CERTS, 1, "ready"),
        Depart(2005, CERTS, 1, "gone"),
    )
    assert animations(None, after) == ()  # the first paint just draws


def test_a_ready_ticket_sent_back_arrives_from_the_ready_list() -> None:
    before = view(snapshot([line(CERTS, [[2001, 2, "ready", 1]])]))
    after = view(snapshot([line(CERTS, [[2001, 1, "in_progress", 1]])]))
    assert animations(before, after) == (Arrive(2001, CERTS, 1, "ready"),)


def test_trains_behind_a_stack_are_followed_too() -> None:
    rows = [[2000 + i, 1, "in_progress", 1] for i in range(1, 8)]
    before = view(snapshot([line(CERTS, rows)]), max_trains_per_station=5)
    assert before.lines[0].stacks == (Stack(1, 2),)
    rows[6] = [2007, 0, "called", 1]
    after = view(snapshot([line(CERTS, rows)]), max_trains_per_station=5)
    assert animations(before, after) == (Move(2007, CERTS, 1, 0, backwards=True),)
    assert after.lines[0].stacks == (Stack(1, 1),)


def test_a_view_is_frozen_and_comparable() -> None:
    a, b = view(simple_board()), view(simple_board())
    assert a == b
    with pytest.raises(AttributeError):
        a.stale = "x"  # type: ignore[misc]
    assert replace(a, problems=1) != a


def test_the_model_stays_pure() -> None:
    tree = ast.parse((Path(__file__).resolve().parents[1] / "display_board" / "model.py").read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not imported & {"kivy", "paho", "tinydb", "sqlite3", "threading", "socket", "time"}
    clock = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in ("now", "today", "monotonic")]
    assert not clock


# --- the waiting footer ----------------------------------------------------------------------


def test_the_boards_own_texts_come_from_its_catalogs_in_every_lobby_language() -> None:
    from common.i18n import LANGUAGES
    from display_board import strings

    ja = strings.gettext_for("ja")
    assert (ja(strings.NOW_CALLING), ja(strings.PLATFORM)) == ("お呼び出し中", "のりば")
    assert ja(strings.CAPTION) == "番号が表示されたら、表示の窓口へお越しください"
    assert strings.gettext_for("pt")(strings.PLATFORM) == "Plataforma"
    for language in LANGUAGES:
        said = strings.gettext_for(language)
        texts = [said(m) for m in (strings.NOW_CALLING, strings.PLATFORM, strings.WAITING_FOR_OFFICE, strings.CAPTION)]
        # every language has its own words (English is the ids themselves)
        assert all(texts) and (language == "en" or texts[0] != strings.NOW_CALLING), (language, texts)
