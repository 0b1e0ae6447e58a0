"""Number blocks, dispenser side: the next ticket number from the blocks this dispenser holds.

The office leases blocks of numbers per series and business day (``office.leasing``); the
dispenser prints only numbers from blocks it holds, so numbers never collide across dispensers
even while the network is down (design decision 8).

Numbers of one (series, day) are taken in ascending order, so what has been used is one
high-water mark per (series, day), the last number taken, instead of a set of numbers: cheap to
persist and to rebuild at start from the day's ticket log (:meth:`NumberPool.rebuild`). The price
is that numbers of a held block *below* the mark are never used: that happens only if a lower
block arrives after a higher one was already in use (a lost grant resent late). Those numbers
are skipped, never issued twice.

Pure: a :class:`NumberPool` is an immutable value and every operation returns a new one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import Annotated, Any

import msgspec

from common.validation import Invalid, convert, info
from sync import messages
from sync.leases import Block, check_day

__all__ = [
    "Block",
    "NumberPool",
    "add_blocks",
    "drop_days_before",
    "high_water",
    "needs_topup",
    "next_number",
    "remaining",
]

Mark = tuple[str, str, int]
"""(series, day, last number taken)."""


class _StoredPool(msgspec.Struct, frozen=True, kw_only=True):
    """The pool as :meth:`NumberPool.to_dict` stores it: blocks as leased on the wire, marks as
    the device status reports them."""

    blocks: Annotated[tuple[messages.LeaseBlock, ...], info(max_length=100_000)]
    marks: Annotated[tuple[messages.NumberMark, ...], info(max_length=100_000)]


def _check_blocks(blocks: Iterable[Block]) -> tuple[Block, ...]:
    """Sorted, duplicates merged; ``ValueError`` if two different blocks overlap."""
    unique = sorted(set(blocks))
    for earlier, later in pairwise(unique):
        # Sorted by (series, day, first), checking neighbours suffices: if X overlaps a later
        # Y, every block sorted between them starts inside X, so X overlaps its successor.
        if earlier.overlaps(later):
            raise ValueError(f"overlapping number blocks {earlier} and {later}: the office broke the lease contract")
    return tuple(unique)


@dataclass(frozen=True, slots=True)
class NumberPool:
    """The blocks a dispenser holds and the last number it took per (series, day).

    ``blocks`` is kept sorted by (series, day, first) and free of overlaps; ``marks`` holds one
    (series, day, number) per (series, day) that has issued anything, sorted. Build pools with
    ``NumberPool()``, :meth:`rebuild` or :func:`add_blocks`, not by hand-assembling the tuples.
    """

    blocks: tuple[Block, ...] = ()
    marks: tuple[Mark, ...] = ()

    def __post_init__(self) -> None:
        # Normalise here so that every pool, however built, upholds the invariants the
        # functions below rely on (sorted, no overlaps, one mark per key).
        object.__setattr__(self, "blocks", _check_blocks(self.blocks))
        latest: dict[tuple[str, str], int] = {}
        for series, day, number in self.marks:
            key = (series, check_day(day))
            latest[key] = max(number, latest.get(key, number))
        object.__setattr__(self, "marks", tuple(sorted((s, d, n) for (s, d), n in latest.items())))

    @classmethod
    def rebuild(cls, blocks: Iterable[Block], used: Iterable[tuple[str, str, int]]) -> NumberPool:
        """The pool at start-up: the held ``blocks`` and the (series, day, number) triples of
        the tickets already issued (from the ticket log); only the highest per key is kept."""
        return cls(blocks=tuple(blocks), marks=tuple(used))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict for the local store."""
        return {
            "blocks": [b.to_dict() for b in self.blocks],
            "marks": [{"series": s, "day": d, "last": n} for s, d, n in self.marks],
        }

    @classmethod
    def from_dict(cls, data: object) -> NumberPool:
        """Rebuild a pool from :meth:`to_dict` output; :class:`Invalid` (a ``ValueError``)
        names the bad key and the fix."""
        # Data from disk: callers catch ValueError to discard it and rebuild from the ticket log.
        stored = convert(data, _StoredPool)
        blocks = []
        for i, block in enumerate(stored.blocks):
            try:
                blocks.append(Block.from_model(block))
            except Invalid as err:
                raise err.within("blocks", i) from err
        marks = []
        for i, mark in enumerate(stored.marks):
            try:
                marks.append((mark.series, check_day(mark.day), mark.last))
            except ValueError as err:
                raise Invalid(("marks", i, "day"), str(err)) from err
        return cls(blocks=tuple(blocks), marks=tuple(marks))


def high_water(pool: NumberPool, series: str, day: str) -> int | None:
    """The last number taken for (series, day), or ``None`` if none was."""
    for s, d, n in pool.marks:
        if s == series and d == day:
            return n
    return None


def _held(pool: NumberPool, series: str, day: str) -> list[Block]:
    # pool.blocks is sorted, so these come in ascending order of first.
    return [b for b in pool.blocks if b.series == series and b.day == day]


def next_number(pool: NumberPool, series: str, day: str) -> tuple[int, NumberPool] | None:
    """The lowest held number of (series, day) above the high-water mark, and the pool with
    the mark moved to it; ``None`` when the held blocks are used up (ask the office for more,
    and meanwhile do not print a ticket)."""
    mark = high_water(pool, series, day)
    for block in _held(pool, series, day):
        candidate = block.first if mark is None else max(block.first, mark + 1)
        if candidate <= block.last:
            marks = [m for m in pool.marks if (m[0], m[1]) != (series, day)]
            marks.append((series, day, candidate))
            return candidate, NumberPool(blocks=pool.blocks, marks=tuple(marks))
    return None


def remaining(pool: NumberPool, series: str, day: str) -> int:
    """How many numbers of (series, day) are still available in the held blocks."""
    mark = high_water(pool, series, day)
    total = 0
    for block in _held(pool, series, day):
        start = block.first if mark is None else max(block.first, mark + 1)
        total += max(0, block.last - start + 1)
    return total


def needs_topup(pool: NumberPool, series: str, day: str, low_water: int) -> bool:
    """Whether fewer than ``low_water`` numbers of (series, day) remain (0 never asks)."""
    return remaining(pool, series, day) < low_water


def add_blocks(pool: NumberPool, blocks: Iterable[Block]) -> NumberPool:
    """The pool with ``blocks`` added. Idempotent: a block already held changes nothing, since
    grants are resent after reconnects. A new block overlapping a different held block raises
    ``ValueError``: the office broke the contract, and silently using either could collide."""
    return NumberPool(blocks=pool.blocks + tuple(blocks), marks=pool.marks)


def drop_days_before(pool: NumberPool, day: str) -> NumberPool:
    """The pool without blocks and marks of business days before ``day`` (ISO date)."""
    check_day(day)
    return NumberPool(
        blocks=tuple(b for b in pool.blocks if b.day >= day),
        marks=tuple(m for m in pool.marks if m[1] >= day),
    )
