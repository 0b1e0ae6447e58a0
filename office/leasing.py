"""Number blocks, office side: which numbers of a series and day to lease to a dispenser next.

The office is the only place that grants blocks, so ticket numbers never collide across
dispensers, online or offline (design decision 8). Each dispenser keeps a reserve large enough
for a peak day offline; :func:`reserve_targets` sizes it per series.

Pure functions: the caller loads the already-leased blocks (of every device) from the office
store and records the grant in the same transaction that checks it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction

from sync.leases import Block, SeriesRange, check_day

__all__ = [
    "PEAK_DAY_TICKETS",
    "Block",
    "SeriesRange",
    "free_count",
    "grant",
    "reserve_targets",
]

PEAK_DAY_TICKETS = 700
"""The offline reserve per dispenser: a peak day (Ayase counts 671 cases after holidays)."""


def _leased_spans(series_range: SeriesRange, day: str, leased: Sequence[Block]) -> list[tuple[int, int]]:
    """The leased spans of this series and day, clipped to the range, sorted and merged."""
    spans = sorted(
        (max(b.first, series_range.first), min(b.last, series_range.last))
        for b in leased
        if b.series == series_range.series and b.day == day
    )
    merged: list[tuple[int, int]] = []
    for first, last in spans:
        if first > last:  # entirely outside the range (the range was narrowed since)
            continue
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _free_runs(series_range: SeriesRange, day: str, leased: Sequence[Block]) -> list[tuple[int, int]]:
    """The free runs of the range, lowest first, as inclusive (first, last) pairs."""
    runs: list[tuple[int, int]] = []
    cursor = series_range.first
    for first, last in _leased_spans(series_range, day, leased):
        if first > cursor:
            runs.append((cursor, first - 1))
        cursor = max(cursor, last + 1)
    if cursor <= series_range.last:
        runs.append((cursor, series_range.last))
    return runs


def grant(series_range: SeriesRange, day: str, already_leased: Sequence[Block], want: int) -> Block | None:
    """The next block to lease: the lowest free run of ``series_range`` on ``day``, cut to
    ``want`` numbers (it may be smaller, if that run is shorter); ``None`` when none is free.

    ``already_leased`` holds every block leased so far, of any device, series or day; only
    those of this series and day matter. Leased blocks outside the range (it was narrowed
    after they were granted) are tolerated.
    """
    check_day(day)
    if want < 1:
        raise ValueError(f"want must be >= 1, got {want}")
    runs = _free_runs(series_range, day, already_leased)
    if not runs:
        return None
    first, last = runs[0]
    return Block(series_range.series, day, first, min(last, first + want - 1))


def free_count(series_range: SeriesRange, day: str, leased: Sequence[Block]) -> int:
    """How many numbers of ``series_range`` on ``day`` no block covers yet."""
    check_day(day)
    return sum(last - first + 1 for first, last in _free_runs(series_range, day, leased))


def reserve_targets(shares: Mapping[str, float], total: int, floor: int) -> dict[str, int]:
    """Split a dispenser's offline reserve of ``total`` tickets over series.

    Each series gets its share of ``total`` (``shares`` are relative weights, e.g. last
    month's ticket counts or fractions; they need not sum to 1), rounded by largest remainder
    so the split sums to exactly ``total``; then each is raised to at least ``floor``, because
    a quiet series still needs numbers on the day its one resident comes. The result therefore
    sums to ``total`` or more. All-zero weights split evenly. No series: ``{}``.

    Exact arithmetic (``Fraction``) so float noise never moves a ticket between series.
    """
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    if floor < 0:
        raise ValueError(f"floor must be >= 0, got {floor}")
    for series, share in shares.items():
        if not math.isfinite(share) or share < 0:
            raise ValueError(f"share of series {series!r} must be finite and >= 0, got {share}")
    if not shares:
        return {}
    weights = {series: Fraction(share) for series, share in shares.items()}
    weight_sum = sum(weights.values(), Fraction(0))
    if weight_sum == 0:
        weights = {series: Fraction(1) for series in shares}
        weight_sum = Fraction(len(shares))
    quotas = {series: total * w / weight_sum for series, w in weights.items()}
    counts = {series: math.floor(q) for series, q in quotas.items()}
    left = total - sum(counts.values())
    # Largest fractional part first; ties by name so the split is deterministic.
    by_remainder = sorted(quotas, key=lambda s: (-(quotas[s] - counts[s]), s))
    for series in by_remainder[:left]:
        counts[series] += 1
    return {series: max(floor, count) for series, count in counts.items()}


def cap_share(cap: int, issued: int, held: Mapping[str, tuple[int, int]], device: str, dispensers: int) -> int | None:
    """A dispenser's new share of a purpose's daily cap, or None when it keeps the one it has.

    A share is how many of the day's tickets of the purpose the dispenser may have issued in
    all (``upto``), whether it can reach the office or not. ``held`` gives each dispenser's
    share and own count as the office knows them, ``(upto, own)``. The rule keeps

        issued + sum over dispensers of max(0, upto - own) <= cap

    (what is issued, plus what each may still issue without asking): the cap holds across
    dispensers however long any of them is offline. A dispenser with less than an even part of
    the cap left (``cap / dispensers``) gets an even part of what is free; shares never shrink
    (one may be in use offline).
    """
    if cap < 1 or dispensers < 1:
        raise ValueError(f"cap and dispensers must be >= 1, got {cap} and {dispensers}")
    upto, own = held.get(device, (0, 0))
    reserved = sum(max(0, u - o) for u, o in held.values())
    free = cap - issued - reserved
    even = -(-cap // dispensers)
    if free <= 0 or max(0, upto - own) >= even:
        return None
    return max(upto, own) + -(-free // dispensers)
