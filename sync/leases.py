"""Number leases: the shared vocabulary of the office (which grants) and a dispenser (which uses).

Ticket numbers are unique per (site, series, business day) across every dispenser, online or
offline (design decision 8). The office owns each series' number range and leases contiguous
blocks of it, per business day, to dispensers; a dispenser only ever prints numbers from blocks
it holds. These types live in ``sync`` because both sides need them and the dispenser must not
import the ``office`` package.

Pure data: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from common.validation import Invalid, convert
from sync import messages


def check_day(day: str) -> str:
    """Return ``day`` if it is a canonical ISO date (``YYYY-MM-DD``), else raise ``ValueError``.

    Canonical form matters, not just parseability: days are compared and sorted as strings
    (``drop_days_before``), which is only correct for the zero-padded ``YYYY-MM-DD`` form, and
    ``date.fromisoformat`` in 3.11 also accepts forms such as ``20240401``.
    """
    try:
        parsed = date.fromisoformat(day)
    except (TypeError, ValueError):
        raise ValueError(f"day must be an ISO date YYYY-MM-DD, got {day!r}") from None
    if parsed.isoformat() != day:
        raise ValueError(f"day must be an ISO date YYYY-MM-DD, got {day!r}")
    return day


def _check_span(what: str, first: int, last: int) -> None:
    # bool is an int subclass; True as a ticket number is a bug upstream, not a number.
    for name, value in (("first", first), ("last", last)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{what}.{name} must be an int, got {value!r}")
    if first < 0:
        raise ValueError(f"{what}.first must be >= 0, got {first}")
    if last < first:
        raise ValueError(f"{what}.last ({last}) must be >= first ({first})")


@dataclass(frozen=True, slots=True)
class SeriesRange:
    """The inclusive number range ``first..last`` of one series (e.g. ``"1"``: 1001..1999)."""

    series: str
    first: int
    last: int

    def __post_init__(self) -> None:
        if not self.series:
            raise ValueError("SeriesRange.series must not be empty")
        _check_span("SeriesRange", self.first, self.last)

    @property
    def size(self) -> int:
        """How many numbers the range holds."""
        return self.last - self.first + 1


@dataclass(frozen=True, slots=True, order=True)
class Block:
    """Numbers ``first..last`` (inclusive) of ``series`` on business ``day``, leased to one device.

    Ordering is (series, day, first, last), so a sorted tuple of blocks groups each series and
    day together in ascending number order.
    """

    series: str
    day: str
    first: int
    last: int

    def __post_init__(self) -> None:
        if not self.series:
            raise ValueError("Block.series must not be empty")
        check_day(self.day)
        _check_span("Block", self.first, self.last)

    @property
    def size(self) -> int:
        """How many numbers the block holds."""
        return self.last - self.first + 1

    def contains(self, n: int) -> bool:
        """Whether number ``n`` lies in this block."""
        return self.first <= n <= self.last

    def overlaps(self, other: Block) -> bool:
        """Whether the two blocks share at least one (series, day, number)."""
        return (
            self.series == other.series
            and self.day == other.day
            and self.first <= other.last
            and other.first <= self.last
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, for the wire and the local store."""
        return {"series": self.series, "day": self.day, "first": self.first, "last": self.last}

    @classmethod
    def from_dict(cls, data: object) -> Block:
        """Rebuild a block from :meth:`to_dict` output (the wire's :class:`messages.LeaseBlock`);
        :class:`Invalid` (a ``ValueError``) names the bad key and the fix."""
        # Data from the wire or disk: callers catch ValueError to log and count it.
        return cls.from_model(convert(data, messages.LeaseBlock))

    @classmethod
    def from_model(cls, block: messages.LeaseBlock) -> Block:
        """The block a decoded :class:`messages.LeaseBlock` names; ``ValueError`` when its span
        or day cannot be (last before first, a day no calendar has)."""
        try:
            return cls(block.series, block.day, block.first, block.last)
        except ValueError as err:
            raise Invalid((), str(err)) from err
