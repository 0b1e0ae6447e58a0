"""Dispenser-side numbering: unique, ascending numbers from held blocks, and nothing else."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.leases import Block
from ticket_dispenser.numbering import (
    NumberPool,
    add_blocks,
    drop_days_before,
    high_water,
    needs_topup,
    next_number,
    remaining,
)

DAY = "2024-04-01"
NEXT = "2024-04-02"


def _take(pool: NumberPool, series: str, day: str, count: int) -> tuple[list[int], NumberPool]:
    numbers = []
    for _ in range(count):
        result = next_number(pool, series, day)
        assert result is not None
        number, pool = result
        numbers.append(number)
    return numbers, pool


def test_empty_pool_has_nothing() -> None:
    pool = NumberPool()
    assert next_number(pool, "1", DAY) is None
    assert remaining(pool, "1", DAY) == 0
    assert needs_topup(pool, "1", DAY, low_water=1)
    assert high_water(pool, "1", DAY) is None


def test_numbers_come_in_order_across_blocks() -> None:
    pool = add_blocks(NumberPool(), [Block("1", DAY, 1101, 1102), Block("1", DAY, 1001, 1002)])
    numbers, pool = _take(pool, "1", DAY, 4)
    assert numbers == [1001, 1002, 1101, 1102]
    assert next_number(pool, "1", DAY) is None
    assert high_water(pool, "1", DAY) == 1102


def test_series_and_days_are_independent() -> None:
    pool = add_blocks(
        NumberPool(),
        [Block("1", DAY, 1001, 1010), Block("2", DAY, 1001, 1010), Block("1", NEXT, 1001, 1010)],
    )
    a, pool = _take(pool, "1", DAY, 3)
    b, pool = _take(pool, "2", DAY, 1)
    c, pool = _take(pool, "1", NEXT, 2)
    assert (a, b, c) == ([1001, 1002, 1003], [1001], [1001, 1002])
    assert remaining(pool, "1", DAY) == 7
    assert remaining(pool, "2", DAY) == 9
    assert remaining(pool, "1", NEXT) == 8
    assert next_number(pool, "3", DAY) is None


def test_remaining_and_topup() -> None:
    pool = add_blocks(NumberPool(), [Block("1", DAY, 1, 10)])
    _, pool = _take(pool, "1", DAY, 6)
    assert remaining(pool, "1", DAY) == 4
    assert needs_topup(pool, "1", DAY, low_water=5)
    assert not needs_topup(pool, "1", DAY, low_water=4)
    assert not needs_topup(pool, "1", DAY, low_water=0)


def test_topup_block_extends_the_day() -> None:
    pool = add_blocks(NumberPool(), [Block("1", DAY, 1, 2)])
    _, pool = _take(pool, "1", DAY, 2)
    assert next_number(pool, "1", DAY) is None
    pool = add_blocks(pool, [Block("1", DAY, 50, 51)])
    numbers, _ = _take(pool, "1", DAY, 2)
    assert numbers == [50, 51]


def test_a_late_lower_block_is_skipped_never_reused() -> None:
    # The grant for 1..10 was lost and resent after 11..20 was already in use.
    pool = add_blocks(NumberPool(), [Block("1", DAY, 11, 20)])
    _, pool = _take(pool, "1", DAY, 3)
    pool = add_blocks(pool, [Block("1", DAY, 1, 10)])
    assert remaining(pool, "1", DAY) == 7
    numbers, _ = _take(pool, "1", DAY, 7)
    assert numbers == list(range(14, 21))


def test_add_blocks_is_idempotent() -> None:
    block = Block("1", DAY, 1001, 1100)
    pool = add_blocks(NumberPool(), [block])
    _, pool = _take(pool, "1", DAY, 5)
    again = add_blocks(pool, [block, block])
    assert again == pool
    assert remaining(again, "1", DAY) == 95


@pytest.mark.parametrize(
    "clash",
    [
        Block("1", DAY, 1100, 1200),  # shares one number
        Block("1", DAY, 1001, 1050),  # nested
        Block("1", DAY, 900, 1500),  # enclosing
    ],
)
def test_overlapping_different_blocks_break_the_contract(clash: Block) -> None:
    pool = add_blocks(NumberPool(), [Block("1", DAY, 1001, 1100)])
    with pytest.raises(ValueError, match="overlapping"):
        add_blocks(pool, [clash])


def test_overlap_within_one_batch_is_refused() -> None:
    with pytest.raises(ValueError):
        add_blocks(NumberPool(), [Block("1", DAY, 1, 10), Block("1", DAY, 10, 20)])


def test_same_numbers_on_another_day_or_series_are_fine() -> None:
    pool = add_blocks(
        NumberPool(),
        [Block("1", DAY, 1, 10), Block("1", NEXT, 1, 10), Block("2", DAY, 1, 10)],
    )
    assert len(pool.blocks) == 3


def test_drop_days_before() -> None:
    pool = add_blocks(NumberPool(), [Block("1", "2024-03-29", 1, 10), Block("1", DAY, 1, 10)])
    _, pool = _take(pool, "1", "2024-03-29", 2)
    _, pool = _take(pool, "1", DAY, 1)
    pool = drop_days_before(pool, DAY)
    assert pool.blocks == (Block("1", DAY, 1, 10),)
    assert high_water(pool, "1", "2024-03-29") is None
    assert high_water(pool, "1", DAY) == 1
    with pytest.raises(ValueError):
        drop_days_before(pool, "1 April")


def test_rebuild_from_the_ticket_log() -> None:
    blocks = [Block("1", DAY, 1001, 1100), Block("2", DAY, 1, 50)]
    log = [("1", DAY, 1001), ("1", DAY, 1003), ("1", DAY, 1002), ("2", DAY, 7)]
    pool = NumberPool.rebuild(blocks, log)
    assert high_water(pool, "1", DAY) == 1003
    assert high_water(pool, "2", DAY) == 7
    result = next_number(pool, "1", DAY)
    assert result is not None
    number, after = result
    assert number == 1004
    assert high_water(after, "1", DAY) == 1004
    assert high_water(after, "2", DAY) == 7


def test_pool_dict_round_trip() -> None:
    pool = NumberPool.rebuild([Block("1", DAY, 1001, 1100)], [("1", DAY, 1010)])
    assert NumberPool.from_dict(json.loads(json.dumps(pool.to_dict()))) == pool


@pytest.mark.parametrize(
    "data",
    [
        {"blocks": [], "marks": None},
        {"blocks": {}, "marks": []},
        {"blocks": [], "marks": [{"series": "1", "day": DAY, "last": "7"}]},
        {"blocks": [], "marks": [{"series": 1, "day": DAY, "last": 7}]},
        {"blocks": [], "marks": [3]},
        {"blocks": [{"series": "1", "day": DAY, "first": 1}], "marks": []},
    ],
)
def test_pool_from_dict_refuses_garbage(data: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        NumberPool.from_dict(data)


# -- property: any interleaving of grants and issues ----------------------------------------------

SERIES = ("1", "2")
DAYS = (DAY, NEXT)


@st.composite
def scenarios(draw: st.DrawFn) -> list[tuple[str, object]]:
    """A shuffled partition of each (series, day) number line into blocks, interleaved with
    requests for numbers; some blocks are delivered twice (resent grants)."""
    blocks: list[Block] = []
    for series in SERIES:
        for day in DAYS:
            cursor = draw(st.integers(min_value=1, max_value=50))
            for _ in range(draw(st.integers(min_value=0, max_value=4))):
                cursor += draw(st.integers(min_value=0, max_value=5))  # gaps: other dispensers
                size = draw(st.integers(min_value=1, max_value=6))
                blocks.append(Block(series, day, cursor, cursor + size - 1))
                cursor += size
    deliveries = draw(st.permutations(blocks))
    resent = draw(st.lists(st.sampled_from(blocks), max_size=3)) if blocks else []
    steps: list[tuple[str, object]] = [("add", b) for b in [*deliveries, *resent]]
    takes = draw(st.lists(st.tuples(st.sampled_from(SERIES), st.sampled_from(DAYS)), max_size=60))
    steps += [("take", t) for t in takes]
    return draw(st.permutations(steps))


@given(scenarios())
def test_numbers_are_unique_held_and_ascending(steps: list[tuple[str, object]]) -> None:
    pool = NumberPool()
    issued: dict[tuple[str, str], list[int]] = {}
    held: list[Block] = []
    for kind, arg in steps:
        if kind == "add":
            assert isinstance(arg, Block)
            pool = add_blocks(pool, [arg])
            held.append(arg)
            continue
        assert isinstance(arg, tuple)
        series, day = arg
        before = remaining(pool, series, day)
        result = next_number(pool, series, day)
        if result is None:
            assert before == 0
            continue
        number, pool = result
        assert remaining(pool, series, day) == before - 1
        assert any(b.series == series and b.day == day and b.contains(number) for b in held)
        previous = issued.setdefault((series, day), [])
        assert not previous or number > previous[-1]
        previous.append(number)
    for numbers in issued.values():
        assert len(numbers) == len(set(numbers))


@given(scenarios())
def test_with_every_block_held_up_front_each_held_number_is_issued_once_in_order(
    steps: list[tuple[str, object]],
) -> None:
    blocks = [arg for kind, arg in steps if kind == "add" and isinstance(arg, Block)]
    pool = add_blocks(NumberPool(), blocks)
    for series in SERIES:
        for day in DAYS:
            expected = sorted(
                {n for b in blocks if (b.series, b.day) == (series, day) for n in range(b.first, b.last + 1)}
            )
            assert remaining(pool, series, day) == len(expected)
            got = []
            while (result := next_number(pool, series, day)) is not None:
                number, pool = result
                got.append(number)
            assert got == expected
