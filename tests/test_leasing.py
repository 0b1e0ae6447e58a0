"""Office-side number leasing: grants never overlap, never leave the range, and run out cleanly."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from office.leasing import (
    PEAK_DAY_TICKETS,
    Block,
    SeriesRange,
    free_count,
    grant,
    reserve_targets,
)

MOVING = SeriesRange("1", 1001, 1999)
DAY = "2024-04-01"


def test_first_grant_starts_at_the_bottom_of_the_range() -> None:
    assert grant(MOVING, DAY, [], 100) == Block("1", DAY, 1001, 1100)


def test_next_grant_follows_the_leased_blocks_of_any_device() -> None:
    leased = [Block("1", DAY, 1001, 1100), Block("1", DAY, 1101, 1150)]
    assert grant(MOVING, DAY, leased, 100) == Block("1", DAY, 1151, 1250)


def test_other_series_and_days_do_not_matter() -> None:
    leased = [Block("2", DAY, 1001, 1999), Block("1", "2024-03-29", 1001, 1999)]
    assert grant(MOVING, DAY, leased, 10) == Block("1", DAY, 1001, 1010)
    assert free_count(MOVING, DAY, leased) == MOVING.size


def test_the_lowest_gap_is_filled_first_even_if_short() -> None:
    leased = [Block("1", DAY, 1001, 1010), Block("1", DAY, 1016, 1100)]
    assert grant(MOVING, DAY, leased, 100) == Block("1", DAY, 1011, 1015)


def test_the_last_grant_is_cut_to_what_is_left() -> None:
    leased = [Block("1", DAY, 1001, 1990)]
    assert grant(MOVING, DAY, leased, 100) == Block("1", DAY, 1991, 1999)
    assert free_count(MOVING, DAY, leased) == 9


def test_exhausted_range_gives_none() -> None:
    leased = [Block("1", DAY, 1001, 1500), Block("1", DAY, 1501, 1999)]
    assert grant(MOVING, DAY, leased, 1) is None
    assert free_count(MOVING, DAY, leased) == 0


def test_blocks_outside_a_narrowed_range_are_tolerated() -> None:
    narrowed = SeriesRange("1", 1001, 1500)
    leased = [Block("1", DAY, 1401, 1700), Block("1", DAY, 1, 1000)]
    assert free_count(narrowed, DAY, leased) == 400
    assert grant(narrowed, DAY, leased, 1000) == Block("1", DAY, 1001, 1400)


def test_overlapping_leased_blocks_are_counted_once() -> None:
    leased = [Block("1", DAY, 1001, 1100), Block("1", DAY, 1051, 1150)]
    assert free_count(MOVING, DAY, leased) == MOVING.size - 150
    assert grant(MOVING, DAY, leased, 5) == Block("1", DAY, 1151, 1155)


@pytest.mark.parametrize("want", [0, -5])
def test_want_must_be_positive(want: int) -> None:
    with pytest.raises(ValueError):
        grant(MOVING, DAY, [], want)


@pytest.mark.parametrize("day", ["2024-4-1", "20240401", "2024-02-30", "", "yesterday"])
def test_day_must_be_a_canonical_iso_date(day: str) -> None:
    with pytest.raises(ValueError):
        grant(MOVING, day, [], 10)
    with pytest.raises(ValueError):
        Block("1", day, 1, 2)


@pytest.mark.parametrize(("first", "last"), [(5, 4), (-1, 3)])
def test_bad_spans_are_refused(first: int, last: int) -> None:
    with pytest.raises(ValueError):
        Block("1", DAY, first, last)
    with pytest.raises(ValueError):
        SeriesRange("1", first, last)


def test_wrong_types_are_a_type_error() -> None:
    with pytest.raises(TypeError):
        Block("1", DAY, True, 3)
    with pytest.raises(TypeError):
        SeriesRange("1", 1, 3.0)  # type: ignore[arg-type]


def test_block_basics() -> None:
    block = Block("1", DAY, 1001, 1100)
    assert block.size == 100
    assert block.contains(1001) and block.contains(1100)
    assert not block.contains(1000) and not block.contains(1101)
    assert block.overlaps(Block("1", DAY, 1100, 1200))
    assert not block.overlaps(Block("1", DAY, 1101, 1200))
    assert not block.overlaps(Block("2", DAY, 1001, 1100))
    assert not block.overlaps(Block("1", "2024-04-02", 1001, 1100))


def test_block_dict_round_trip() -> None:
    block = Block("1", DAY, 1001, 1100)
    assert Block.from_dict(block.to_dict()) == block


@pytest.mark.parametrize(
    ("key", "value"),
    [("series", 1), ("day", None), ("first", "1001"), ("last", 1.0), ("first", False)],
)
def test_block_from_dict_names_the_bad_key(key: str, value: Any) -> None:
    data: dict[str, Any] = Block("1", DAY, 1001, 1100).to_dict()
    data[key] = value
    with pytest.raises(ValueError, match=key):
        Block.from_dict(data)


def test_block_from_dict_names_a_missing_key() -> None:
    data = Block("1", DAY, 1001, 1100).to_dict()
    del data["last"]
    with pytest.raises(ValueError, match="last"):
        Block.from_dict(data)


# -- properties --------------------------------------------------------------------------------

ranges = st.builds(
    lambda first, size: SeriesRange("1", first, first + size - 1),
    st.integers(min_value=0, max_value=5_000),
    st.integers(min_value=1, max_value=300),
)


@given(ranges, st.lists(st.integers(min_value=1, max_value=80), min_size=1, max_size=40))
def test_grants_never_overlap_never_leave_the_range_and_run_out_with_none(
    series_range: SeriesRange, wants: list[int]
) -> None:
    leased: list[Block] = [Block("2", DAY, 0, 10_000)]  # another series: must not interfere
    for want in wants:
        before = free_count(series_range, DAY, leased)
        block = grant(series_range, DAY, leased, want)
        if block is None:
            assert before == 0
            continue
        assert series_range.first <= block.first <= block.last <= series_range.last
        assert 1 <= block.size <= want
        assert not any(block.overlaps(other) for other in leased)
        leased.append(block)
        assert free_count(series_range, DAY, leased) == before - block.size
    # Keep asking until the range is empty: it must end in None, with everything leased once.
    while (block := grant(series_range, DAY, leased, 97)) is not None:
        leased.append(block)
    assert free_count(series_range, DAY, leased) == 0
    covered = [n for b in leased if b.series == "1" for n in range(b.first, b.last + 1)]
    assert sorted(covered) == list(range(series_range.first, series_range.last + 1))


# -- reserve targets ---------------------------------------------------------------------------


def test_reserve_split_by_share() -> None:
    targets = reserve_targets({"1": 0.5, "2": 0.3, "3": 0.2}, PEAK_DAY_TICKETS, floor=20)
    assert targets == {"1": 350, "2": 210, "3": 140}


def test_reserve_floor_lifts_quiet_series() -> None:
    targets = reserve_targets({"moving": 95, "tax": 4, "mynumber": 1}, 700, floor=30)
    assert targets["tax"] == 30 and targets["mynumber"] == 30
    assert targets["moving"] == 665
    assert sum(targets.values()) >= 700


def test_reserve_largest_remainder_sums_exactly_without_floor() -> None:
    targets = reserve_targets({"a": 1, "b": 1, "c": 1}, 700, floor=0)
    assert sorted(targets.values()) == [233, 233, 234]
    assert sum(targets.values()) == 700
    assert targets == reserve_targets({"c": 1, "b": 1, "a": 1}, 700, floor=0)


def test_reserve_all_zero_shares_split_evenly() -> None:
    assert reserve_targets({"a": 0.0, "b": 0.0}, 10, floor=0) == {"a": 5, "b": 5}


def test_reserve_of_no_series_is_empty() -> None:
    assert reserve_targets({}, 700, floor=10) == {}


@pytest.mark.parametrize(
    ("shares", "total", "floor"),
    [
        ({"a": -0.1}, 700, 0),
        ({"a": float("nan")}, 700, 0),
        ({"a": float("inf")}, 700, 0),
        ({"a": 1.0}, -1, 0),
        ({"a": 1.0}, 700, -1),
    ],
)
def test_reserve_bad_arguments(shares: dict[str, float], total: int, floor: int) -> None:
    with pytest.raises(ValueError):
        reserve_targets(shares, total, floor)


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=3),
        st.floats(min_value=0, max_value=1e6, allow_nan=False),
        min_size=1,
        max_size=8,
    ),
    st.integers(min_value=0, max_value=5_000),
    st.integers(min_value=0, max_value=200),
)
def test_reserve_properties(shares: dict[str, float], total: int, floor: int) -> None:
    targets = reserve_targets(shares, total, floor)
    assert set(targets) == set(shares)
    assert all(isinstance(v, int) and v >= floor for v in targets.values())
    assert sum(targets.values()) >= total
    # Without the floor's lift, the split is exact.
    unfloored = reserve_targets(shares, total, 0)
    assert sum(unfloored.values()) == total


# --- shares of a purpose's daily cap (office.leasing.cap_share) ------------------------------------


def test_the_first_dispenser_gets_an_even_part_and_the_next_an_even_part_of_the_rest() -> None:
    from office.leasing import cap_share

    assert cap_share(10, 0, {}, "a", 2) == 5
    assert cap_share(10, 0, {"a": (5, 0)}, "b", 2) == 3  # 5 are free: half of them, rounded up
    assert cap_share(10, 0, {"a": (5, 0), "b": (3, 0)}, "a", 2) is None  # a still has its even part
    assert cap_share(10, 4, {"a": (5, 4), "b": (3, 0)}, "a", 2) == 6  # 1 left of 5: topped up
    assert cap_share(10, 10, {"a": (7, 7), "b": (3, 3)}, "a", 2) is None  # nothing free


@given(
    cap=st.integers(1, 60),
    dispensers=st.integers(1, 4),
    steps=st.lists(st.tuples(st.integers(0, 3), st.booleans()), max_size=120),
)
def test_cap_shares_keep_every_dispenser_together_within_the_cap(
    cap: int, dispensers: int, steps: list[tuple[int, bool]]
) -> None:
    """Dispensers ask for shares (online) or issue within their share (offline or not) in any
    order; the office knows a dispenser's tickets only when it asks. However it goes, all the
    tickets together never pass the cap, and a share never shrinks."""
    from office.leasing import cap_share

    upto = [0] * dispensers
    own = [0] * dispensers  # what each really issued
    known = [0] * dispensers  # what the office has heard of
    for who, asks in steps:
        d = who % dispensers
        if asks:  # online: its tickets reach the office, then the office tops its share up
            known[d] = own[d]
            held = {str(i): (upto[i], known[i]) for i in range(dispensers)}
            new = cap_share(cap, sum(known), held, str(d), dispensers)
            if new is not None:
                assert new > upto[d]
                upto[d] = new
        elif own[d] < upto[d]:
            own[d] += 1  # a press within its share
        assert sum(own) <= cap
        assert sum(known) + sum(max(0, u - k) for u, k in zip(upto, known, strict=True)) <= cap
