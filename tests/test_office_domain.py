"""The office's pure parts: ticket progress (office.domain), the clerk's words (office.commands),
the simulated staff (office.simstaff) and the site configuration's validation (office.config)."""

from __future__ import annotations

import copy
import random
import re
import tomllib
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from drivers.escpos_printer import EscposTicketPrinter
from drivers.printer_model import PrinterConfig
from office import commands
from office import config as configmod
from office.commands import Absent, Advance, CallNext, CallNumber, Done, Void
from office.config import ConfigError
from office.console.server import open_desk_printer
from office.domain import (
    Call,
    CommandError,
    Counter,
    SiteConfig,
    Stamp,
    Status,
    Ticket,
    absent,
    advance,
    call,
    counter,
    done,
    pick_next,
    void,
)
from office.simstaff import SimStaff

DEFAULT_TOML = resources.files("office").joinpath("default_site.toml").read_text(encoding="utf-8")
SITE = configmod.load()
LONG_ROUTE = ("reception", "input", "review", "issuing", "done")
DAY = "2026-11-21"


def ticket(
    number: int,
    *,
    hlc_ms: int = 1_795_219_200_000,
    category: str = "moving",
    series: str = "1",
    route: tuple[str, ...] = LONG_ROUTE,
    status: Status = Status.WAITING,
    station_index: int = -1,
    counter: int | None = None,
) -> Ticket:
    return Ticket(
        ticket_id=f"{DAY}-{series}-{number}",
        day=DAY,
        series=series,
        number=number,
        category=category,
        device="d1",
        issued_ms=hlc_ms,
        hlc=f"{hlc_ms:013d}-000000",
        route=route,
        status=status,
        station_index=station_index,
        counter=counter,
    )


# --------------------------------------------------------------------------------------------
# pick_next
# --------------------------------------------------------------------------------------------


def test_pick_next_takes_the_earliest_issue_time_not_the_lowest_number() -> None:
    # Numbers come from leased blocks: dispenser B's 1201 was pressed before dispenser A's 1005.
    late_low = ticket(1005, hlc_ms=1_795_219_260_000)
    early_high = ticket(1201, hlc_ms=1_795_219_200_000)
    middle = ticket(1100, hlc_ms=1_795_219_230_000)
    assert pick_next([late_low, early_high, middle], Counter(number=1)) == early_high
    assert pick_next([late_low, middle], Counter(number=1)) == middle


def test_pick_next_breaks_an_hlc_tie_by_ticket_id() -> None:
    a = ticket(1002, hlc_ms=5)
    b = ticket(1001, hlc_ms=5)
    assert pick_next([a, b], Counter(number=1)) == b  # same stamp: "...-1-1001" < "...-1-1002"


def test_pick_next_respects_the_counters_categories() -> None:
    counter3 = counter(SITE, 3)  # certificates, family_register, tax
    moving = ticket(1001, hlc_ms=100, category="moving")
    certificate = ticket(2001, hlc_ms=200, category="certificates", series="2")
    tax = ticket(7001, hlc_ms=300, category="tax", series="7")
    assert pick_next([moving, certificate, tax], counter3) == certificate
    assert pick_next([moving, tax], counter3) == tax
    assert pick_next([moving], counter3) is None
    assert pick_next([moving, certificate], counter(SITE, 1)) == moving  # counter 1 serves all


def test_pick_next_only_takes_waiting_tickets() -> None:
    called = ticket(1001, hlc_ms=100, status=Status.CALLED, station_index=0, counter=1)
    absent_one = ticket(1002, hlc_ms=150, status=Status.ABSENT, station_index=0, counter=1)
    waiting = ticket(1003, hlc_ms=200)
    assert pick_next([called, absent_one, waiting], Counter(number=2)) == waiting
    assert pick_next([called, absent_one], Counter(number=2)) is None
    assert pick_next([], Counter(number=2)) is None


# --------------------------------------------------------------------------------------------
# transitions
# --------------------------------------------------------------------------------------------


def test_call_puts_a_waiting_ticket_at_the_first_station_of_its_counter() -> None:
    moved, stamp, called = call(ticket(1105), 3, now_ms=42)
    assert (moved.status, moved.station_index, moved.station, moved.counter, moved.updated_ms) == (
        Status.CALLED,
        0,
        "reception",
        3,
        42,
    )
    assert stamp == Stamp(moved.ticket_id, "reception", 42, 3)
    assert called == Call(moved.ticket_id, 1105, 3, 42, kind="call")


def test_call_brings_an_absent_ticket_back_and_refuses_one_in_progress_ready_or_void() -> None:
    back, _, _ = call(ticket(1105, status=Status.ABSENT, station_index=0, counter=1), 2, 5)
    assert (back.status, back.counter) == (Status.CALLED, 2)
    for status, index, word in (
        (Status.IN_PROGRESS, 2, "in progress"),
        (Status.READY, 4, "ready"),
        (Status.VOID, -1, "void"),
    ):
        with pytest.raises(CommandError, match=f"1105 is already {word}"):
            call(ticket(1105, status=status, station_index=index, counter=1), 2, 5)


def test_advance_moves_forward_and_back_along_the_route() -> None:
    t, _, _ = call(ticket(1105), 4, 1)
    t, stamp, called = advance(t, "review", 2)
    assert (t.status, t.station, stamp.station, stamp.counter, called) == (
        Status.IN_PROGRESS,
        "review",
        "review",
        4,
        None,
    )
    t, _, _ = advance(t, "input", 3)  # sent back
    assert (t.status, t.station_index) == (Status.IN_PROGRESS, 1)
    t, _, _ = advance(t, "reception", 4)
    assert (t.status, t.station_index) == (Status.CALLED, 0)


def test_advance_to_the_terminal_makes_the_ticket_ready_and_calls_it() -> None:
    t, _, _ = call(ticket(2003, category="certificates", series="2", route=("reception", "issuing", "done")), 3, 1)
    t, stamp, called = advance(t, "done", 9)
    assert (t.status, t.station_index, t.counter) == (Status.READY, 2, 3)
    assert stamp == Stamp(t.ticket_id, "done", 9, 3)
    assert called == Call(t.ticket_id, 2003, 3, 9, kind="ready")


def test_advance_to_a_station_not_on_the_route_names_the_route() -> None:
    t, _, _ = call(ticket(2003, route=("reception", "issuing", "done")), 3, 1)
    with pytest.raises(CommandError, match=r"2003's route has no station review \(route: reception → issuing → done\)"):
        advance(t, "review", 2)


def test_advance_to_the_station_it_is_at_is_refused() -> None:
    t, _, _ = call(ticket(1105), 3, 1)
    with pytest.raises(CommandError, match="1105 is already at reception"):
        advance(t, "reception", 2)


@pytest.mark.parametrize("status", [Status.ABSENT, Status.VOID])
def test_an_absent_or_void_ticket_cannot_move(status: Status) -> None:
    t = ticket(1105, status=status, station_index=1, counter=2)
    with pytest.raises(CommandError, match=f"1105 is {status.value}; it cannot move"):
        advance(t, "review", 2)
    with pytest.raises(CommandError, match=f"1105 is {status.value}; it cannot be completed"):
        done(t, 2, counter=3)


def test_done_without_a_counter_on_a_ticket_never_called_is_refused_with_the_fix() -> None:
    with pytest.raises(
        CommandError, match=r"1105 has not been at a counter: say which counter \(done 1105 at counter N\)"
    ):
        done(ticket(1105), 5)
    moved, stamp, called = done(ticket(1105), 5, counter=4)
    assert (moved.status, moved.station, moved.counter) == (Status.READY, "done", 4)
    assert stamp.station == "done" and called.kind == "ready" and called.counter == 4


def test_done_uses_the_tickets_counter_and_refuses_a_second_done_without_one() -> None:
    t, _, _ = call(ticket(1105), 2, 1)
    t, _, called = done(t, 2)
    assert (t.status, called.counter) == (Status.READY, 2)
    with pytest.raises(CommandError, match="1105 is already done"):
        done(t, 3)
    again, _, recalled = done(t, 4, counter=1)  # call the resident to another counter
    assert (again.status, again.counter, recalled.counter) == (Status.READY, 1, 1)


def test_absent_and_void() -> None:
    t, _, _ = call(ticket(1105), 2, 1)
    gone = absent(t, 7)
    assert (gone.status, gone.updated_ms) == (Status.ABSENT, 7)
    with pytest.raises(CommandError, match="only a waiting, called or ready ticket can be marked absent"):
        absent(gone, 8)
    with pytest.raises(CommandError, match="in progress; only a waiting, called or ready ticket"):
        absent(replace(t, status=Status.IN_PROGRESS, station_index=2), 8)
    cancelled = void(gone, 9)
    assert cancelled.status is Status.VOID
    with pytest.raises(CommandError, match="1105 is already void"):
        void(cancelled, 10)
    with pytest.raises(CommandError):
        absent(cancelled, 10)


# A random clerk working one ticket: every operation either moves it or is refused (and leaves it).
ROUTES = st.sampled_from([LONG_ROUTE, ("reception", "issuing", "done"), ("reception", "done")])
operations = st.lists(
    st.one_of(
        st.tuples(st.just("call"), st.integers(1, 4)),
        st.tuples(st.just("advance"), st.sampled_from(["reception", "input", "review", "issuing", "done", "nowhere"])),
        st.tuples(st.just("done"), st.none() | st.integers(1, 4)),
        st.tuples(st.just("absent")),
        st.tuples(st.just("void")),
    ),
    max_size=25,
)


def _apply(t: Ticket, op: tuple[Any, ...], now: int) -> Ticket:
    match op:
        case ("call", counter):
            return call(t, counter, now)[0]
        case ("advance", station):
            return advance(t, station, now)[0]
        case ("done", counter):
            return done(t, now, counter)[0]
        case ("absent",):
            return absent(t, now)
        case ("void",):
            return void(t, now)
    raise AssertionError(op)


def _run_clerk(route: tuple[str, ...], ops: list[tuple[Any, ...]]) -> list[tuple[tuple[Any, ...], Ticket, Ticket]]:
    """(operation, before, after) for every operation carried out (refusals leave the ticket)."""
    t = ticket(1105, route=route)
    steps = []
    for now, op in enumerate(ops, start=1):
        try:
            after = _apply(t, op, now)
        except CommandError:
            continue
        steps.append((op, t, after))
        t = after
    return steps


@settings(max_examples=300, deadline=None)
@given(route=ROUTES, ops=operations)
def test_a_ticket_never_leaves_its_route_and_ready_means_at_the_terminal(
    route: tuple[str, ...], ops: list[tuple[Any, ...]]
) -> None:
    for op, before, after in _run_clerk(route, ops):
        assert after.route == route and after.ticket_id == before.ticket_id
        assert -1 <= after.station_index < len(route), op
        if after.status in (Status.CALLED, Status.IN_PROGRESS, Status.READY):
            assert after.station in route, op  # on the board: at a station of its own route
        if after.status is Status.READY:
            assert after.station_index == len(route) - 1, op
            assert after.counter is not None, op
        if after.status in (Status.CALLED, Status.IN_PROGRESS):
            assert (after.station_index == 0) == (after.status is Status.CALLED), op
        if before.status is Status.VOID:
            raise AssertionError(f"{op} changed a void ticket")


@settings(max_examples=300, deadline=None)
@given(route=ROUTES, ops=operations)
@example(route=LONG_ROUTE, ops=[("call", 1), ("done", None), ("absent",), ("call", 2)])
def test_the_station_only_moves_back_on_an_explicit_advance(route: tuple[str, ...], ops: list[tuple[Any, ...]]) -> None:
    for op, before, after in _run_clerk(route, ops):
        if after.station_index < before.station_index:
            assert op[0] == "advance" and route.index(op[1]) == after.station_index, (op, before, after)


def test_nothing_moves_a_void_ticket() -> None:
    # The path the property above explores, spelled out once: no operation touches a void ticket.
    t = void(ticket(1105), 1)
    for op in (("call", 1), ("advance", "review"), ("done", 2), ("absent",), ("void",)):
        with pytest.raises(CommandError):
            _apply(t, op, 2)


# --------------------------------------------------------------------------------------------
# the clerk's words
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("call next at counter 3", CallNext(3)),
        ("call next 3", CallNext(3)),
        ("call next counter 12", CallNext(12)),
        ("  CALL   Next  AT Counter  3 ", CallNext(3)),
        ("call 1105 at counter 2", CallNumber("1105", 2)),
        ("call 2-2003 counter 2", CallNumber("2-2003", 2)),
        ("advance 1105 to review", Advance("1105", "review")),
        ("advance 1105 review", Advance("1105", "review")),
        ("Advance 1105 To REVIEW", Advance("1105", "review")),
        ("advance 1105 to 審査", Advance("1105", "審査")),
        ("done 1105 at counter 4", Done("1105", 4)),
        ("done 1105 4", Done("1105", 4)),
        ("done 1105", Done("1105", None)),
        ("absent 2-2003", Absent("2-2003")),
        ("ABSENT 2-2003", Absent("2-2003")),
        ("void\t1105", Void("1105")),
    ],
)
def test_commands_parse_the_clerks_phrasings(text: str, command: commands.Command) -> None:
    assert commands.parse(text) == command


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "dance",
        "call",
        "call next",
        "call next at counter",
        "call next at counter three",
        "call 1105",
        "call 1105 at counter",
        "advance 1105",
        "advance 1105 to",
        "advance to review",
        "advance 1105 to review now",
        "done",
        "done abc",
        "done 1105 at counter",
        "done 1105 at counter x",
        "absent",
        "absent 1105 1106",
        "void -1105",
        "void 2--1105",
        "call next at counter 3; void 1105",
        "next please",
    ],
)
def test_commands_refuse_nonsense_and_say_what_is_understood(text: str) -> None:
    with pytest.raises(CommandError, match=re.escape(f"not understood: {text.strip()!r}; commands: ")):
        commands.parse(text)


# --------------------------------------------------------------------------------------------
# simulated staff
# --------------------------------------------------------------------------------------------


def _first_step(seed: int, pace_ms: int) -> int:
    """The delay SimStaff draws first from ``random.Random(seed)`` (same formula, own generator)."""
    return int(pace_ms * random.Random(seed).uniform(0.6, 1.4))


def test_simstaff_free_counters_call_next_only_while_someone_waits() -> None:
    staff = SimStaff(pace_ms=1000, rng=random.Random(7))
    busy = ticket(1001, status=Status.CALLED, station_index=0, counter=2)
    assert staff.plan(0, [busy, ticket(1002)], SITE) == [CallNext(1), CallNext(3), CallNext(4)]
    assert staff.plan(1, [busy], SITE) == []  # nobody waiting


def test_simstaff_moves_a_due_ticket_one_station_and_frees_its_counter() -> None:
    seed, pace = 11, 1000
    staff = SimStaff(pace_ms=pace, rng=random.Random(seed))
    called = ticket(1001, status=Status.CALLED, station_index=0, counter=2)
    waiting = ticket(1002)
    step = _first_step(seed, pace)
    assert 600 <= step <= 1400
    start = 10_000
    assert staff.plan(start, [called, waiting], SITE) == [CallNext(1), CallNext(3), CallNext(4)]
    assert staff.plan(start + step - 1, [called, waiting], SITE) == [CallNext(1), CallNext(3), CallNext(4)]
    assert staff.plan(start + step, [called, waiting], SITE) == [
        Advance("1-1001", "input"),
        CallNext(1),
        CallNext(2),
        CallNext(3),
        CallNext(4),
    ]


def test_simstaff_sends_the_ticket_before_the_terminal_to_done() -> None:
    staff = SimStaff(pace_ms=1000, rng=random.Random(3))
    at_issuing = ticket(1001, status=Status.IN_PROGRESS, station_index=3, counter=4)
    short_route = ticket(
        2001,
        series="2",
        category="certificates",
        route=("reception", "done"),
        status=Status.CALLED,
        station_index=0,
        counter=3,
    )
    middle = ticket(1002, status=Status.IN_PROGRESS, station_index=1, counter=1)
    active = [at_issuing, short_route, middle]
    assert staff.plan(0, active, SITE) == []  # first sight: only due times are drawn
    plan = staff.plan(10_000, active, SITE)
    assert plan == [Done("1-1001"), Done("2-2001"), Advance("1-1002", "review")]
    assert staff.plan(10_001, active, SITE) == []  # due times are drawn afresh


def test_simstaff_leaves_waiting_ready_and_absent_tickets_alone() -> None:
    staff = SimStaff(pace_ms=1, rng=random.Random(1))
    others = [
        ticket(1001, status=Status.READY, station_index=4, counter=1),
        ticket(1002, status=Status.ABSENT, station_index=0, counter=1),
    ]
    assert staff.plan(0, others, SITE) == []
    assert staff.plan(10_000, others, SITE) == []


# --------------------------------------------------------------------------------------------
# site configuration
# --------------------------------------------------------------------------------------------


def base_doc() -> dict[str, Any]:
    return copy.deepcopy(tomllib.loads(DEFAULT_TOML))


def test_the_bundled_demo_town_is_valid() -> None:
    site = configmod.parse(base_doc())
    assert isinstance(site, SiteConfig) and site == SITE
    assert site.series_ranges()["4"] == (4001, 4999)  # birth and marriage share series 4
    assert [c.number for c in site.counters] == [1, 2, 3, 4]


def _set(path: str, value: Any) -> Any:
    """A mutation of the base document: ``path`` like ``categories.1.route`` (None deletes)."""

    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        key: Any = int(last) if last.isdigit() else last
        if value is None:
            del target[key]
        else:
            target[key] = value

    return mutate


CONFIG_ERRORS = [
    (
        _set("colour", "red"),
        "colour: unknown key; allowed here: site, office_name, timezone, rollover_hour, dispenser_reserve, reserve_floor, lease_block_min, ready_linger_minutes, default_service_seconds, stations, categories, counters, dispenser, kiosk",
    ),
    (_set("site", None), 'site: required: a site id such as "demo-town"'),
    (_set("site", 5), "site: expected"),
    (_set("site", "demo town"), "site: expected 1-63 letters, digits, '.', '_' or '-', got \"demo town\""),
    (_set("timezone", "Mars/Olympus"), "timezone: 'Mars/Olympus' is not a known time zone"),
    (_set("timezone", ""), "timezone: '' is not a known time zone"),
    (_set("rollover_hour", 13), "rollover_hour: expected an integer from 0 to 12, got 13"),
    (
        _set("rollover_hour", "3"),
        'rollover_hour: expected an integer from 0 to 12, got "3"; write the number alone, e.g. 3',
    ),
    (_set("rollover_hour", True), "rollover_hour: expected an integer from 0 to 12, got true"),
    (_set("dispenser_reserve", 0), "dispenser_reserve: expected an integer from 1 to 100000, got 0"),
    (_set("reserve_floor", -1), "reserve_floor: expected an integer from 0 to 100000, got -1"),
    (_set("lease_block_min", 1.5), "lease_block_min: expected an integer from 1 to 10000, got 1.5"),
    (_set("ready_linger_minutes", 24 * 60 + 1), "ready_linger_minutes: expected an integer from 0 to 1440, got 1441"),
    (_set("default_service_seconds", 0), "default_service_seconds: expected an integer from 1 to 86400, got 0"),
    (_set("stations", None), "stations: required: a list of [[stations]] tables with code and name"),
    (_set("stations", {"code": "x"}), "stations: expected a list"),
    (_set("stations.0", "reception"), 'stations[0]: expected a table with code, name, got "reception"'),
    (_set("stations.0.colour", "red"), "stations[0].colour: unknown key; allowed here: code, name"),
    (_set("stations.2.code", None), 'stations[2].code: required: a station code such as "review"'),
    (_set("stations.2.code", 3), "stations[2].code: expected"),
    (_set("stations.1.code", "reception"), "stations[1].code: station 'reception' is defined twice"),
    (_set("stations.1.name", "入力"), "stations[1].name: expected a table of names with at least ja"),
    (_set("stations.1.name", {"en": "Input"}), "stations[1].name: expected a table of names with at least ja"),
    (
        _set("stations.1.name", {"ja": 1}),
        'stations[1].name.ja: expected a text of at most 200 characters, got 1; quote it: "1"',
    ),
    (_set("categories", []), "categories: expected at least 1 item, got 0; define at least one [[categories]] purpose"),
    (_set("categories", None), "categories: required: define at least one [[categories]] purpose"),
    (_set("categories.0", "moving"), "categories[0]: expected a table"),
    (_set("categories.2.colour", "red"), "categories[2].colour: unknown key"),
    (
        _set("categories.0.code", "転入"),
        "categories[0].code: expected a code of 1-32 letters, digits, '.', '_' or '-', got \"転入\"",
    ),
    (_set("categories.1.code", "moving"), "categories[1].code: purpose 'moving' is defined twice"),
    (_set("categories.1.series", 2), "categories[1].series: expected"),
    (
        _set("categories.1.first", "2001"),
        'categories[1].first: expected an integer from 0 to 9999999, got "2001"; write the number alone, e.g. 2001',
    ),
    (
        _set("categories.1.last", None),
        "categories[1].last: required: the last ticket number of the series (a whole number)",
    ),
    (_set("categories.1.last", 2000), "categories[1].last: must be at least first (2001); got 2000"),
    (_set("categories.4.last", 4500), "categories[4].first: series '4' already has range 4001-4999 (purpose birth)"),
    (_set("categories.1.first", 1500), "categories[1].first: range 1500-2999 overlaps series '1' (1001-1999)"),
    (_set("categories.2.last", 4001), "categories[3].first: range 4001-4999 overlaps series '3' (3001-4001)"),
    (_set("categories.1.route", "reception"), "categories[1].route: expected a list of station codes"),
    (
        _set("categories.1.route", ["done"]),
        'categories[1].route: expected at least 2 items, got 1; a first and a terminal station at least, e.g. ["reception", "issuing", "done"]',
    ),
    (
        _set("categories.1.route", ["reception", "nowhere", "done"]),
        "categories[1].route[1]: 'nowhere' is not a station",
    ),
    (_set("categories.1.route", ["reception", "done", "done"]), "categories[1].route: a station appears twice"),
    (_set("categories.1.share", 1.5), "categories[1].share: expected a fraction from 0 to 1, got 1.5"),
    (_set("categories.1.share", "0.3"), "categories[1].share: expected a fraction"),
    (
        _set("categories.1.procedures", "住民票"),
        'categories[1].procedures: expected a list of procedure names, got "住民票"; write it as a list: [住民票]',
    ),
    (
        _set("categories.1.procedures", ["住民票", 3]),
        'categories[1].procedures[1]: expected a text of at most 200 characters, got 3; quote it: "3"',
    ),
    (
        _set("categories.1.name", {"en": "Certificates"}),
        "categories[1].name: expected a table of names with at least ja",
    ),
    (
        _set("counters", []),
        "counters: expected at least 1 item, got 0; define at least one [[counters]] table with a number",
    ),
    (_set("counters", None), "counters: required: define at least one [[counters]] table with a number"),
    (_set("counters.0", 1), "counters[0]: expected a table with number"),
    (_set("counters.0.colour", "red"), "counters[0].colour: unknown key; allowed here: number, categories"),
    (
        _set("counters.0.number", "1"),
        'counters[0].number: expected a counter number from 0 to 999, got "1"; write the number alone, e.g. 1',
    ),
    (_set("counters.1.number", 1), "counters[1].number: counter 1 is defined twice"),
    (_set("counters.2.categories", "tax"), "counters[2].categories: expected a list of purpose codes"),
    (
        _set("counters.2.categories", ["tax", "parking"]),
        "counters[2].categories: 'parking' is not a purpose; known: birth, certificates, childcare, death, family_register, marriage, moving, my_number, tax",
    ),
]


@pytest.mark.parametrize(("mutate", "message"), CONFIG_ERRORS)
def test_config_parse_names_the_bad_key(mutate: Any, message: str) -> None:
    doc = base_doc()
    mutate(doc)
    with pytest.raises(ConfigError) as caught:
        configmod.parse(doc)
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_desk_printer_is_parsed_once_with_the_site_naming_its_key_path_and_the_fix(tmp_path: Path) -> None:
    doc = base_doc()
    doc["console"]["desk_printer"] = {"model": "TM-T20III", "backend": "fake", "fake": {"png_dir": str(tmp_path)}}
    loaded = configmod.parse_office(doc)
    assert isinstance(loaded.desk_printer, PrinterConfig) and loaded.desk_printer.fake.png_dir == str(tmp_path)
    assert isinstance(open_desk_printer(loaded.desk_printer), EscposTicketPrinter)  # the console opens the typed value
    assert configmod.parse_office(base_doc()).desk_printer is None
    doc["console"]["desk_printer"] = {"model": "TM-T20III", "backend": "network", "network": {"port": "9100"}}
    with pytest.raises(ConfigError) as caught:
        configmod.parse(doc)
    assert str(caught.value) == (
        'console.desk_printer.network.port: expected a TCP port from 1 to 65535, e.g. 9100, got "9100";'
        " write the number alone, e.g. 9100"
    )
    doc["console"]["desk_printer"] = {"model": "TM-T99", "backend": "fake"}
    with pytest.raises(ConfigError, match=r"^console\.desk_printer\.model: unknown printer model 'TM-T99'"):
        configmod.parse(doc)


CONFIG_CRASHES = [
    pytest.param(_set("timezone", 5), "timezone", id="timezone-not-a-string"),
    pytest.param(
        _set("categories.1.route", [["reception"], "done"]), "categories[1].route[0]", id="route-entry-is-a-list"
    ),
    pytest.param(_set("counters", 5), "counters", id="counters-not-a-list"),
    pytest.param(
        _set("counters.2.categories", [["tax"]]), "counters[2].categories[0]", id="counter-category-is-a-list"
    ),
]


@pytest.mark.parametrize(("mutate", "key"), CONFIG_CRASHES)
def test_config_parse_wrong_types_are_config_errors(mutate: Any, key: str) -> None:
    doc = base_doc()
    mutate(doc)
    with pytest.raises(ConfigError, match=re.escape(key)):
        configmod.parse(doc)


BEYOND_THE_WIRE = [
    # protocol.SCHEMAS["office_config"]: series and codes are at most 32 characters; a longer one
    # passes here and then the office cannot publish its configuration (it never comes online).
    pytest.param(_set("categories.1.series", "s" * 33), "categories[1].series", id="series-longer-than-32"),
    pytest.param(_set("stations.4.code", "d" * 33), "stations[4].code", id="station-code-longer-than-32"),
    # board_snapshot carries counters as 0..999: a call at counter 1000 or -1 breaks every snapshot.
    pytest.param(_set("counters.0.number", -1), "counters[0].number", id="negative-counter"),
    pytest.param(_set("counters.0.number", 1000), "counters[0].number", id="counter-above-999"),
]


@pytest.mark.parametrize(("mutate", "key"), BEYOND_THE_WIRE)
def test_config_parse_refuses_what_the_protocol_cannot_carry(mutate: Any, key: str) -> None:
    doc = base_doc()
    if key.startswith("stations[4]"):
        # keep the routes consistent: rename the terminal station everywhere
        long_code = "d" * 33
        for cat in doc["categories"]:
            cat["route"] = [long_code if s == "done" else s for s in cat["route"]]
    mutate(doc)
    with pytest.raises(ConfigError, match=re.escape(key)):
        configmod.parse(doc)


def test_config_parse_blames_first_for_a_negative_first_number() -> None:
    doc = base_doc()
    doc["categories"][1]["first"] = -5
    with pytest.raises(ConfigError, match=re.escape("categories[1].first")):
        configmod.parse(doc)


def test_config_load_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError, match=re.escape(f"{missing}: cannot read the site configuration")):
        configmod.load(missing)
    broken = tmp_path / "broken.toml"
    broken.write_text(DEFAULT_TOML.replace('site = "demo-town"', 'site = "demo-town'), encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(f"{broken}: not valid TOML (") + r".*line 3"):
        configmod.load(broken)
    bad = tmp_path / "bad.toml"
    bad.write_text(DEFAULT_TOML.replace("rollover_hour = 3", "rollover_hour = 30"), encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(f"{bad}: rollover_hour: expected an integer from 0 to 12, got 30")):
        configmod.load(bad)
