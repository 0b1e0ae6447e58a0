"""Journeys, figures and their per-day cache: hand-computed days, properties, and the store."""

from __future__ import annotations

import random
import tempfile
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from office.db import OfficeDB
from office.stats import store
from office.stats.figures import Figures, Spread, columns, concat, figures, tables
from office.stats.journey import Journey, Outcome, StationTime, journeys
from office.ticket_log import Kind, LogRow

TZ = ZoneInfo("Asia/Tokyo")
DAY = "2026-04-01"  # a Wednesday, ISO week 2026-W14
MOVING = ("reception", "input", "issuing", "done")
CERTIFICATE = ("reception", "issuing", "done")
ROUTES = {"moving": MOVING, "certificate": CERTIFICATE}
STATIONS = ("reception", "input", "issuing", "done")
MIN = 60.0


def at(hour: int, minute: int, day: str = DAY) -> int:
    d = date.fromisoformat(day)
    return int(datetime(d.year, d.month, d.day, hour, minute, tzinfo=TZ).timestamp() * 1000)


def rows_of_day(day: str = DAY) -> list[LogRow]:
    """Five tickets (times in the comments are local):

    A moving: issued 9:00, called 9:10 (counter 1), input 9:20, issuing 9:50, ready 10:00, done 10:05
    B moving: issued 9:05, called 9:35 (counter 2), input 9:40, issuing 10:40, ready 10:50, done 11:00
    C certificate: issued 9:30, called 9:31 (counter 1), absent 9:33 - a no-show
    D certificate: issued 10:00, voided 10:02
    E certificate: issued 10:10, called 10:30 (counter 1), transferred to moving 10:40, called 11:00
      (counter 3), input 11:10 - still there
    """

    def r(h: int, m: int, tid: str, kind: Kind, cat: str, station: str | None = None, **kw: object) -> LogRow:
        return LogRow(at(h, m, day), f"{day}-{tid}", day, kind, cat, station, device="disp-1", **kw)  # type: ignore[arg-type]

    a = [
        r(9, 0, "A", Kind.ISSUED, "moving"),
        r(9, 10, "A", Kind.CALLED, "moving", "reception", counter=1),
        r(9, 12, "A", Kind.STARTED, "moving", "reception", counter=1),
        r(9, 20, "A", Kind.MOVED, "moving", "input", detail="reception"),
        r(9, 25, "A", Kind.CLAIMED, "moving", "input", username="sato"),
        r(9, 50, "A", Kind.MOVED, "moving", "issuing", detail="input"),
        r(10, 0, "A", Kind.READY, "moving", "done", counter=2),
        r(10, 5, "A", Kind.DONE, "moving", "done", counter=2),
    ]
    b = [
        r(9, 5, "B", Kind.ISSUED, "moving"),
        r(9, 35, "B", Kind.CALLED, "moving", "reception", counter=2),
        r(9, 40, "B", Kind.MOVED, "moving", "input", detail="reception"),
        r(10, 0, "B", Kind.HELD, "moving", "input"),
        r(10, 15, "B", Kind.RESUMED, "moving", "input"),
        r(10, 40, "B", Kind.MOVED, "moving", "issuing", detail="input"),
        r(10, 50, "B", Kind.READY, "moving", "done", counter=2),
        r(11, 0, "B", Kind.DONE, "moving", "done", counter=2),
    ]
    c = [
        r(9, 30, "C", Kind.ISSUED, "certificate"),
        r(9, 31, "C", Kind.CALLED, "certificate", "reception", counter=1),
        r(9, 33, "C", Kind.ABSENT, "certificate", "reception", counter=1),
    ]
    d = [r(10, 0, "D", Kind.ISSUED, "certificate"), r(10, 2, "D", Kind.VOIDED, "certificate")]
    e = [
        r(10, 10, "E", Kind.ISSUED, "certificate"),
        r(10, 30, "E", Kind.CALLED, "certificate", "reception", counter=1),
        r(10, 40, "E", Kind.TRANSFERRED, "moving", None, detail="certificate"),
        r(11, 0, "E", Kind.CALLED, "moving", "reception", counter=3),
        r(11, 10, "E", Kind.MOVED, "moving", "input", detail="reception"),
    ]
    return sorted(a + b + c + d + e, key=lambda row: row.at_ms)  # stable: each ticket's order is kept


def day_figures(until_ms: int | None = None) -> Figures:
    return figures(journeys(rows_of_day()), tz=TZ, target_wait_s=15 * 60, stations=STATIONS, until_ms=until_ms)


# -- journeys ----------------------------------------------------------------------------------------


def test_journeys_of_the_hand_day() -> None:
    js = {j.ticket_id[-1]: j for j in journeys(rows_of_day())}
    assert list(js) == ["A", "B", "C", "D", "E"]  # issue order
    a, b, c, d, e = js["A"], js["B"], js["C"], js["D"], js["E"]
    assert (a.outcome, a.wait_s, a.service_s, a.collect_s, a.total_s) == (Outcome.DONE, 600, 3000, 300, 3900)
    assert a.station_times == (
        StationTime("reception", 600, "input", at(9, 10)),
        StationTime("input", 1800, "issuing", at(9, 20)),
        StationTime("issuing", 600, "done", at(9, 50)),
    )
    assert (a.counter, a.device, a.first_call_ms, a.ready_ms, a.done_ms) == (
        1,
        "disp-1",
        at(9, 10),
        at(10, 0),
        at(10, 5),
    )
    assert b.held_s == 15 * MIN and [s.seconds for s in b.station_times] == [5 * MIN, 60 * MIN, 10 * MIN]
    assert (c.outcome, c.wait_s, c.total_s, c.station_times) == (Outcome.ABSENT, MIN, None, ())
    assert (d.outcome, d.wait_s, d.total_s) == (Outcome.VOID, None, None)
    assert (e.outcome, e.category, e.first_category, e.transfers, e.counter) == (
        Outcome.IN_PROGRESS,
        "moving",
        "certificate",
        1,
        1,
    )
    assert (e.wait_s, e.requeue_s, e.open_station, e.open_since_ms) == (20 * MIN, 20 * MIN, "input", at(11, 10))
    assert e.station_times == (
        StationTime("reception", 10 * MIN, None, at(10, 30)),
        StationTime("reception", 10 * MIN, "input", at(11, 0)),
    )


def test_a_ticket_without_its_issue_row_is_skipped() -> None:
    rows = [r for r in rows_of_day() if not (r.ticket_id.endswith("A") and r.kind is Kind.ISSUED)]
    assert [j.ticket_id[-1] for j in journeys(rows)] == ["B", "C", "D", "E"]


def test_absent_when_ready_then_called_to_collect() -> None:
    t = at(9, 0)
    rows = [
        LogRow(t, "x", DAY, Kind.ISSUED, "certificate"),
        LogRow(t + 60_000, "x", DAY, Kind.CALLED, "certificate", "reception", 1),
        LogRow(t + 120_000, "x", DAY, Kind.READY, "certificate", "done", 1),
        LogRow(t + 180_000, "x", DAY, Kind.ABSENT, "certificate", "done", 1),
    ]
    (absent,) = journeys(rows)
    assert (absent.outcome, absent.total_s) == (Outcome.ABSENT, 120)
    rows += [
        LogRow(t + 600_000, "x", DAY, Kind.CALLED, "certificate", "done", 2),
        LogRow(t + 660_000, "x", DAY, Kind.DONE, "certificate", "done", 2),
    ]
    (done,) = journeys(rows)
    assert (done.outcome, done.collect_s, done.counter, len(done.station_times)) == (Outcome.DONE, 540, 1, 1)


# -- figures of the hand day -----------------------------------------------------------------------


def test_summary_of_the_hand_day() -> None:
    s = day_figures().summary
    assert (s.arrivals, s.called, s.served, s.no_shows, s.voided, s.transfers) == (5, 4, 2, 1, 1, 1)
    # waits of the called, void left out: C 1, A 10, E 20, B 30 min
    assert s.wait == Spread(4, 15.25 * MIN, 15 * MIN, pytest.approx(27 * MIN), 30 * MIN)  # type: ignore[arg-type]
    assert s.service_level == 0.5  # A and C within 15 min
    assert s.service.median == 62.5 * MIN and s.service.p90 == pytest.approx(72.5 * MIN)  # A 50, B 75
    assert s.total.median == 90 * MIN and s.total.p90 == pytest.approx(110 * MIN)  # A 65, B 115


def test_by_purpose_goes_by_the_final_purpose() -> None:
    f = day_figures()
    moving, cert = f.by_purpose["moving"], f.by_purpose["certificate"]
    assert (moving.arrivals, moving.called, moving.transfers, moving.wait.median) == (3, 3, 1, 20 * MIN)
    assert (cert.arrivals, cert.called, cert.no_shows, cert.voided, cert.wait.median) == (2, 1, 1, 1, MIN)
    assert cert.service_level == 1.0 and moving.service_level == pytest.approx(1 / 3)


def test_station_and_between_station_times() -> None:
    f = day_figures()
    assert list(f.by_station) == ["reception", "input", "issuing"]  # the route's order
    assert f.by_station["reception"] == Spread(4, 8.75 * MIN, 10 * MIN, 10 * MIN, 10 * MIN)  # 5, 10, 10, 10
    assert f.by_station["input"] == Spread(2, 45 * MIN, 45 * MIN, pytest.approx(57 * MIN), 60 * MIN)  # type: ignore[arg-type]
    # E's first stay at reception ended in a transfer: no leg
    assert f.between_stations[("reception", "input")].n == 3
    assert f.between_stations[("input", "issuing")].median == 45 * MIN
    assert f.between_stations[("issuing", "done")] == Spread(2, 10 * MIN, 10 * MIN, 10 * MIN, 10 * MIN)
    assert list(f.between_stations) == [("reception", "input"), ("input", "issuing"), ("issuing", "done")]


def test_input_backlog_and_moves_on() -> None:
    # input: A 9:20-9:50, B 9:40-10:40, E from 11:10 on
    flow = day_figures().flow["input"]
    assert flow.backlog[:12] == (0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1)  # at 10:00 B; at 11:00 none; at 12:00 E
    assert flow.backlog[23] == 1  # still there at the day's end
    assert flow.moved_on[9] == 1 and flow.moved_on[10] == 1 and sum(flow.moved_on) == 2
    assert day_figures(until_ms=at(11, 30)).flow["input"].backlog[11] == 0
    assert day_figures(until_ms=at(12, 30)).flow["input"].backlog[11:13] == (1, 0)


def test_counters_hours_weekdays_weeks_days() -> None:
    f = day_figures()
    # by the counter of the first call: E's second call (counter 3) is not counted
    assert {n: (c.calls, c.service.median) for n, c in f.by_counter.items()} == {1: (3, 50 * MIN), 2: (1, 75 * MIN)}
    nine, ten = f.by_hour[9], f.by_hour[10]
    assert (nine.arrivals, nine.wait.median) == (3, 10 * MIN) and nine.wait.p90 == pytest.approx(26 * MIN)  # 1, 10, 30
    assert (ten.arrivals, ten.wait.n, ten.wait.median) == (2, 1, 20 * MIN)  # D is void
    assert f.hour_weekday_arrivals[2][9] == 3.0 and f.hour_weekday_wait[2][9] == 10 * MIN
    assert f.weekday_days == (0, 0, 1, 0, 0, 0, 0)
    assert [(w.week, w.days, w.arrivals, w.wait.median) for w in f.by_week] == [("2026-W14", 1, 5, 15 * MIN)]
    assert [(d.day, d.arrivals, d.called, d.served, d.no_shows) for d in f.by_day] == [(DAY, 5, 4, 2, 1)]


def test_counters_count_first_calls() -> None:
    f = day_figures()
    assert {n: c.calls for n, c in f.by_counter.items()} == {1: 3, 2: 1}
    assert f.by_counter[1].service.median == 50 * MIN and f.by_counter[2].service.median == 75 * MIN


def test_a_range_averages_per_weekday_and_buckets_weeks() -> None:
    rows = rows_of_day("2026-04-01") + rows_of_day("2026-04-02") + rows_of_day("2026-04-08")[:1]  # one more Wed arrival
    f = figures(journeys(rows), tz=TZ, target_wait_s=900)
    assert f.days == ("2026-04-01", "2026-04-02", "2026-04-08")
    assert f.weekday_days == (0, 0, 2, 1, 0, 0, 0)
    assert f.hour_weekday_arrivals[2][9] == 2.0  # (3 + 1) / 2 Wednesdays
    assert f.hour_weekday_arrivals[3][9] == 3.0
    assert [(w.week, w.days, w.arrivals) for w in f.by_week] == [("2026-W14", 2, 10), ("2026-W15", 1, 1)]
    assert f.by_hour[9].per_day == pytest.approx(7 / 3)
    assert [d.arrivals for d in f.by_day] == [5, 5, 1]


def test_tables() -> None:
    ts = {t.name: t for t in tables(day_figures())}
    assert list(ts) == [
        "summary",
        "by_purpose",
        "by_station",
        "between_stations",
        "station_flow",
        "by_counter",
        "by_hour",
        "hour_weekday",
        "by_week",
        "by_day",
    ]
    summary = dict(zip(ts["summary"].columns, ts["summary"].rows[0], strict=True))
    assert (summary["median wait (min)"], summary["p90 wait (min)"], summary["service level (%)"]) == (15.0, 27.0, 50.0)
    assert summary["arrivals"] == 5 and summary["no-shows"] == 1
    assert ts["by_station"].rows[1] == ("input", 2, 45.0, 57.0, 45.0)
    assert len(ts["hour_weekday"].rows) == 7 * 24 and ("Wed", 9, 1, 3.0, 10.0) in ts["hour_weekday"].rows
    assert ("input", 9, 1.0, 1.0) in ts["station_flow"].rows
    assert ts["by_week"].rows == (("2026-W14", 1, 5, 5.0, 15.0),)
    for t in ts.values():
        assert all(len(row) == len(t.columns) for row in t.rows), t.name


def test_columns_round_trip() -> None:
    js = journeys(rows_of_day("2026-04-01") + rows_of_day("2026-04-02"))
    assert columns(js).journeys() == js
    assert concat([columns(js[:5]), columns(js[5:])]).journeys() == js
    assert figures(columns(js), tz=TZ, target_wait_s=900) == figures(js, tz=TZ, target_wait_s=900)


def test_empty() -> None:
    f = figures([], tz=TZ, target_wait_s=900)
    assert (f.summary.arrivals, f.summary.wait, f.summary.service_level, f.by_day) == (0, Spread(0), None, ())
    assert len(tables(f)) == 10


# -- properties --------------------------------------------------------------------------------------


@st.composite
def ticket_life(draw: st.DrawFn, tid: str, day: str = DAY) -> list[LogRow]:
    """A plausible life of one ticket, as the office writes it."""
    t = draw(st.integers(at(8, 30, day), at(16, 0, day)))
    cat = draw(st.sampled_from(sorted(ROUTES)))
    rows = [LogRow(t, tid, day, Kind.ISSUED, cat, device="disp-1")]
    state, index, counter = "waiting", -1, None

    def row(kind: Kind, station: str | None = None, **kw: object) -> None:
        nonlocal t
        t += draw(st.integers(0, 40 * 60_000))
        rows.append(LogRow(t, tid, day, kind, cat, station, device="disp-1", **kw))  # type: ignore[arg-type]

    for _ in range(draw(st.integers(0, 14))):
        route = ROUTES[cat]
        if state in ("done", "void"):
            break
        options = {
            "waiting": ["call", "void", "transfer", "hold"],
            "held_waiting": ["resume"],
            "held": ["resume"],
            "called": ["move", "absent", "hold", "transfer", "void", "recall"],
            "in_progress": ["move", "hold", "transfer", "claim"],
            "absent": ["call", "void"],
            "ready": ["done", "absent_ready"],
            "absent_ready": ["collect_call"],
        }[state]
        action = draw(st.sampled_from(options))
        if action == "call":
            counter = draw(st.integers(1, 4))
            index = 0
            row(Kind.CALLED, route[0], counter=counter)
            state = "called"
        elif action == "move":
            if index + 1 == len(route) - 1:
                row(Kind.READY, route[-1], counter=counter)
                index, state = len(route) - 1, "ready"
            else:
                row(Kind.MOVED, route[index + 1], detail=route[index])
                index, state = index + 1, "in_progress"
        elif action in ("absent", "absent_ready"):
            row(Kind.ABSENT, route[index], counter=counter)
            state = action
        elif action == "collect_call":
            row(Kind.CALLED, route[-1], counter=counter)
            state = "ready"
        elif action == "done":
            row(Kind.DONE, route[-1], counter=counter)
            state = "done"
        elif action == "void":
            row(Kind.VOIDED)
            state = "void"
        elif action == "hold":
            row(Kind.HELD, route[index] if index >= 0 else None)
            state = "held_waiting" if index < 0 else "held"
        elif action == "resume":
            row(Kind.RESUMED, route[index] if index >= 0 else None)
            state = "waiting" if index < 0 else "in_progress"
        elif action == "transfer":
            old, cat = cat, "certificate" if cat == "moving" else "moving"
            row(Kind.TRANSFERRED, detail=old)
            index, state = -1, "waiting"
        elif action == "recall":
            row(Kind.RECALLED, route[0], counter=counter)
        elif action == "claim":
            row(Kind.CLAIMED, route[index], username="sato")
    return rows


@st.composite
def a_day(draw: st.DrawFn, day: str = DAY) -> list[list[LogRow]]:
    n = draw(st.integers(1, 12))
    return [draw(ticket_life(f"{day}-{k}", day)) for k in range(n)]


def interleave(lives: list[list[LogRow]], rnd: random.Random) -> list[LogRow]:
    """All rows, each ticket's in its order, the tickets mixed at random."""
    queues = [list(life) for life in lives]
    out: list[LogRow] = []
    while any(queues):
        q = rnd.choice([q for q in queues if q])
        out.append(q.pop(0))
    return out


@given(a_day())
def test_parts_add_up_to_the_total(lives: list[list[LogRow]]) -> None:
    for j in journeys(row for life in lives for row in life):
        if j.outcome is Outcome.DONE and j.first_call_ms is not None and j.ready_ms is not None:
            parts = [j.wait_s, *(s.seconds for s in j.station_times), j.requeue_s, j.collect_s]
            assert sum(p for p in parts if p is not None) == pytest.approx(j.total_s, abs=1e-6)
            assert sum(s.seconds for s in j.station_times) + j.requeue_s == pytest.approx(j.service_s, abs=1e-6)
        assert j.held_s >= 0 and all(s.seconds >= 0 for s in j.station_times)


@given(a_day(), st.randoms(use_true_random=False))
def test_interleaving_does_not_matter(lives: list[list[LogRow]], rnd: random.Random) -> None:
    one_by_one = journeys(row for life in lives for row in life)
    assert journeys(interleave(lives, rnd)) == one_by_one
    assert len(one_by_one) == len(lives)


@given(a_day())
def test_arrivals_are_the_distinct_tickets(lives: list[list[LogRow]]) -> None:
    rows = [row for life in lives for row in life]
    f = figures(journeys(rows + rows[:3]), tz=TZ, target_wait_s=900)  # a row read twice changes nothing
    issued = {r.ticket_id for r in rows if r.kind is Kind.ISSUED}
    assert f.summary.arrivals == len(issued) == sum(h.arrivals for h in f.by_hour) == sum(d.arrivals for d in f.by_day)
    assert sum(p.arrivals for p in f.by_purpose.values()) == len(issued)


@given(a_day(), st.integers(at(8, 0), at(17, 0)), st.booleans())
def test_a_voided_ticket_leaves_the_waits_alone(lives: list[list[LogRow]], issued: int, called: bool) -> None:
    rows = [row for life in lives for row in life]
    void = [LogRow(issued, "void-1", DAY, Kind.ISSUED, "moving")]
    if called:
        void.append(LogRow(issued + 60_000, "void-1", DAY, Kind.CALLED, "moving", "reception", 1))
    void.append(LogRow(issued + 120_000, "void-1", DAY, Kind.VOIDED, "moving"))
    before = figures(journeys(rows), tz=TZ, target_wait_s=900)
    after = figures(journeys(rows + void), tz=TZ, target_wait_s=900)
    assert after.summary.voided == before.summary.voided + 1
    assert (after.summary.wait, after.summary.service_level) == (before.summary.wait, before.summary.service_level)
    assert [h.wait for h in after.by_hour] == [h.wait for h in before.by_hour]
    assert [d.wait for d in after.by_day] == [d.wait for d in before.by_day]
    assert after.hour_weekday_wait == before.hour_weekday_wait
    assert after.by_counter == before.by_counter


# -- the store -----------------------------------------------------------------------------------------


def cached_days(db: OfficeDB) -> list[str]:
    return [r[0] for r in db.conn.execute("SELECT day FROM stats_days ORDER BY day")]


def test_store_caches_closed_days_only(tmp_path: Path) -> None:
    db = OfficeDB(tmp_path / "office.sqlite")
    days = ("2026-04-01", "2026-04-02", "2026-04-03")
    rows = [row for d in days for row in rows_of_day(d)]
    with db.transaction():
        db.append_log(rows)
    got = store.journeys_between(db, days[0], days[-1], today=days[-1])
    assert got == journeys(rows)
    assert cached_days(db) == ["2026-04-01", "2026-04-02"]  # today is never cached
    assert store.journeys_between(db, days[0], days[-1], today=days[-1]) == got  # now from the cache

    # today changes and is read fresh; a past day's new rows wait for forget_days
    late = [LogRow(at(16, 0, d), f"{d}-Z", d, Kind.ISSUED, "moving") for d in (days[0], days[2])]
    with db.transaction():
        db.append_log(late)
    again = {j.ticket_id for j in store.journeys_between(db, days[0], days[-1], today=days[-1])}
    assert f"{days[2]}-Z" in again and f"{days[0]}-Z" not in again
    assert store.forget_days(db, [days[0]]) == 1
    again = {j.ticket_id for j in store.journeys_between(db, days[0], days[-1], today=days[-1])}
    assert f"{days[0]}-Z" in again
    assert store.journeys_between(db, days[0], days[-1], today=days[-1]) == journeys(rows + late)
    db.close()


def test_store_with_a_read_only_connection(tmp_path: Path) -> None:
    path = tmp_path / "office.sqlite"
    db = OfficeDB(path)
    rows = rows_of_day("2026-04-01") + rows_of_day("2026-04-02")
    with db.transaction():
        db.append_log(rows)
    ro = OfficeDB.read_only(path)
    # nothing cached and no tables yet: made from the log every time
    assert store.journeys_between(ro, "2026-04-01", "2026-04-02", "2026-04-05") == journeys(rows)
    assert store.warm(ro, "2026-04-05") == 0
    assert store.warm(db, "2026-04-02") == 1  # the writer fills the closed days
    assert cached_days(db) == ["2026-04-01"]
    assert store.warm(db, "2026-04-02") == 0
    assert store.journeys_between(ro, "2026-04-01", "2026-04-02", "2026-04-05") == journeys(rows)
    assert cached_days(db) == ["2026-04-01"]  # the reader could not add 04-02
    assert store.warm(db, "2026-04-05", max_days=5) == 1
    assert cached_days(ro) == ["2026-04-01", "2026-04-02"]
    assert store.columns_between(ro, "2026-04-03", "2026-04-04", "2026-04-05").journeys() == []
    ro.close()
    db.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(a_day("2026-04-01"), min_size=1, max_size=1), a_day("2026-04-02"), a_day("2026-04-03"))
def test_cached_journeys_equal_fresh_ones(
    first: list[list[list[LogRow]]], second: list[list[LogRow]], today: list[list[LogRow]]
) -> None:
    lives = first[0] + second + today
    rows = [row for life in lives for row in life]
    with tempfile.TemporaryDirectory() as tmp:
        db = OfficeDB(Path(tmp) / "office.sqlite")
        with db.transaction():
            db.append_log(rows)
        fresh = journeys(rows)
        first_read = store.journeys_between(db, "2026-04-01", "2026-04-03", "2026-04-03")
        cached = store.journeys_between(db, "2026-04-01", "2026-04-03", "2026-04-03")
        assert cached_days(db) == ["2026-04-01", "2026-04-02"]
        db.close()

    def key(j: Journey) -> tuple[str, int, str]:
        return (j.day, j.issued_ms, j.ticket_id)

    assert sorted(first_read, key=key) == sorted(cached, key=key) == sorted(fresh, key=key)


def test_two_transfers_in_a_row_keep_the_time_back_in_the_queue() -> None:
    # Found by the property above: a second transfer while the ticket waited again after the first
    # started the wait anew, and the parts came a millisecond short of the total.
    t = 1_774_999_800_000
    life = [
        LogRow(t, "x", "2026-04-01", Kind.ISSUED, "certificates", device="disp-1"),
        LogRow(t + 1_000, "x", "2026-04-01", Kind.CALLED, "certificates", "reception", 1),
        LogRow(t + 2_000, "x", "2026-04-01", Kind.TRANSFERRED, "moving", detail="certificates"),
        LogRow(t + 5_000, "x", "2026-04-01", Kind.TRANSFERRED, "family_register", detail="moving"),
        LogRow(t + 9_000, "x", "2026-04-01", Kind.CALLED, "family_register", "reception", 2),
        LogRow(t + 12_000, "x", "2026-04-01", Kind.READY, "family_register", "done", 2),
        LogRow(t + 13_000, "x", "2026-04-01", Kind.DONE, "family_register", "done", 2),
    ]
    (j,) = journeys(life)
    assert (j.transfers, j.requeue_s, j.wait_s, j.collect_s, j.total_s) == (2, 7.0, 1.0, 1.0, 13.0)
    assert [(s.station, s.seconds) for s in j.station_times] == [("reception", 1.0), ("reception", 3.0)]
