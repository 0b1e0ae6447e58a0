"""Hybrid logical clock: monotonic, causal, drift-guarded, and its string form sorts like it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.hlc import (
    HLC,
    MAX_COUNTER,
    MAX_DRIFT_MS,
    MAX_WALL_MS,
    ZERO,
    adopts,
    receive,
    tick,
)

# Keep generated times away from the encoding ceiling so +drift/+1 cannot overflow the test.
walls = st.integers(min_value=0, max_value=MAX_WALL_MS // 2)
stamps = st.builds(HLC, walls, st.integers(min_value=0, max_value=MAX_COUNTER))
# Stamps near each other, so the interesting equal-wall branches get exercised often.
near_walls = st.integers(min_value=1_700_000_000_000, max_value=1_700_000_000_005)
near_stamps = st.builds(HLC, near_walls, st.integers(min_value=0, max_value=5))
any_stamps = stamps | near_stamps
any_walls = walls | near_walls


def test_tick_takes_the_wall_clock_when_it_is_ahead() -> None:
    assert tick(HLC(1000, 7), 2000) == HLC(2000, 0)


def test_tick_counts_when_the_wall_clock_stands_still_or_goes_back() -> None:
    assert tick(HLC(1000, 7), 1000) == HLC(1000, 8)
    assert tick(HLC(1000, 7), 10) == HLC(1000, 8)


def test_counter_overflow_carries_into_the_next_millisecond() -> None:
    assert tick(HLC(1000, MAX_COUNTER), 1000) == HLC(1001, 0)
    assert receive(HLC(5, 0), HLC(1000, MAX_COUNTER), 0) == HLC(1001, 0)


def test_receive_standard_merge_cases() -> None:
    # Local wall clock ahead of both: take it, counter 0.
    assert receive(HLC(100, 3), HLC(200, 9), 300) == HLC(300, 0)
    # Remote ahead: take the remote's wall, remote counter + 1.
    assert receive(HLC(100, 3), HLC(200, 9), 150) == HLC(200, 10)
    # Our last ahead: keep it, our counter + 1.
    assert receive(HLC(250, 3), HLC(200, 9), 150) == HLC(250, 4)
    # All equal walls: max counter + 1.
    assert receive(HLC(200, 3), HLC(200, 9), 200) == HLC(200, 10)
    assert receive(HLC(200, 12), HLC(200, 9), 100) == HLC(200, 13)


def test_receive_refuses_a_remote_clock_far_in_the_future() -> None:
    last = HLC(1_000_000, 2)
    runaway = HLC(1_000_000 + MAX_DRIFT_MS + 1, 0)
    assert not adopts(last, runaway, 1_000_000)
    assert receive(last, runaway, 1_000_000) == tick(last, 1_000_000) == HLC(1_000_000, 3)


def test_receive_adopts_a_remote_clock_exactly_at_the_drift_limit() -> None:
    last = HLC(1_000_000, 2)
    edge = HLC(1_000_000 + MAX_DRIFT_MS, 4)
    assert adopts(last, edge, 500)
    assert receive(last, edge, 500) == HLC(1_000_000 + MAX_DRIFT_MS, 5)


def test_drift_is_measured_from_our_best_time_not_from_last_alone() -> None:
    # Our wall clock is ahead of last: the allowance counts from it.
    last = HLC(0, 0)
    remote = HLC(5_000 + MAX_DRIFT_MS, 0)
    assert adopts(last, remote, 5_000)
    assert receive(last, remote, 5_000) == HLC(5_000 + MAX_DRIFT_MS, 1)


@given(any_stamps, any_walls)
def test_tick_is_strictly_monotonic(last: HLC, now: int) -> None:
    after = tick(last, now)
    assert after > last
    assert after.wall_ms >= now


@given(any_stamps, any_stamps, any_walls)
def test_receive_is_after_last_and_after_an_adopted_remote(last: HLC, remote: HLC, now: int) -> None:
    after = receive(last, remote, now)
    assert after > last
    assert after.wall_ms >= now
    if adopts(last, remote, now):
        assert after > remote
    else:
        assert after == tick(last, now)


@given(any_stamps, st.lists(st.tuples(st.booleans(), any_stamps, any_walls), max_size=30))
def test_a_run_of_events_is_strictly_increasing(start: HLC, steps: list[tuple[bool, HLC, int]]) -> None:
    last = start
    for is_receive, remote, now in steps:
        nxt = receive(last, remote, now) if is_receive else tick(last, now)
        assert nxt > last
        last = nxt


@given(any_stamps)
def test_encode_decode_round_trip(stamp: HLC) -> None:
    text = stamp.encode()
    assert len(text) == len(ZERO.encode())
    assert HLC.decode(text) == stamp
    assert str(stamp) == text


@given(any_stamps, any_stamps)
def test_encoding_preserves_order(a: HLC, b: HLC) -> None:
    assert (a < b) == (a.encode() < b.encode())
    assert (a == b) == (a.encode() == b.encode())


def test_encoding_extremes() -> None:
    assert ZERO.encode() == "0000000000000-000000"
    assert HLC(MAX_WALL_MS, MAX_COUNTER).encode() == "9999999999999-ffffff"
    assert HLC(1_711_929_600_000, 42).encode() == "1711929600000-00002a"


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "1711929600000",
        "1711929600000-2a",
        "1711929600000-00002A",  # upper case would sort differently
        "171192960000-00002a",
        "+711929600000-00002a",
        "1711929600000_00002a",
        "1711929600000-00002a\n",
        " 1711929600000-00002a",
        "１７１１９２９６００００００-00002a",  # full-width digits pass str.isdigit
        "1711929600000-0000g1",
    ],
)
def test_decode_rejects_garbage(garbage: str) -> None:
    with pytest.raises(ValueError):
        HLC.decode(garbage)


def test_decode_rejects_non_strings() -> None:
    with pytest.raises(ValueError):
        HLC.decode(12345)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("wall", "counter"),
    [(-1, 0), (0, -1), (MAX_WALL_MS + 1, 0), (0, MAX_COUNTER + 1)],
)
def test_unencodable_stamps_are_refused(wall: int, counter: int) -> None:
    with pytest.raises(ValueError):
        HLC(wall, counter)


@pytest.mark.parametrize(("wall", "counter"), [(True, 0), (1.5, 0), (0, "1")])
def test_stamps_of_the_wrong_type_are_a_type_error(wall: object, counter: object) -> None:
    with pytest.raises(TypeError):
        HLC(wall, counter)  # type: ignore[arg-type]
