"""Wait estimates: the "about N minutes" printed on a ticket and shown on the board.

The estimate is people ahead x typical service time / open counters. The typical service time
is a trimmed mean of the most recent service times, so one case that took two hours (a
complicated おくやみ procedure) does not triple every estimate for the rest of the morning.

Pure: the caller gathers the recent service times and the number of open counters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

DEFAULT_SERVICE_SECONDS = 120.0
"""Service time per person per counter when no recent samples exist.

From Sakai Naka ward's published rule of thumb, "about 10 minutes per 5 people waiting", i.e.
2 minutes per person. That figure is a whole-lobby rate (it already reflects however many
counters the ward had open), so using it per counter is an assumption that errs towards short
estimates when several counters are open; it is only a start-of-day fallback, and real
service times replace it as soon as the first cases are done.
"""

_NOISE_MINUTES = 1e-9
"""Float error below this is ignored when rounding up (far below a second, far above 1 ulp)."""

RECENT_SAMPLES = 20
"""How many of the most recent service times the estimate uses."""

TRIM_MIN_SAMPLES = 10
"""Below this many samples nothing is trimmed: dropping 10% of fewer than 10 drops nothing."""

TRIM_PROPORTION = 0.1
"""The share of samples dropped at each end by :func:`trimmed_mean`."""


def _usable(samples: Sequence[float]) -> list[float]:
    # Service times come from station timestamps; a clock step can yield a negative or
    # non-finite one. Drop those rather than let one bad stamp poison every estimate.
    return [s for s in samples if math.isfinite(s) and s >= 0]


def trimmed_mean(samples: Sequence[float], proportion: float = TRIM_PROPORTION) -> float:
    """The mean of ``samples`` after dropping ``floor(n * proportion)`` of the smallest and as
    many of the largest, when there are at least :data:`TRIM_MIN_SAMPLES`; the plain mean
    otherwise. Raises ``ValueError`` on an empty sequence."""
    if not samples:
        raise ValueError("trimmed_mean of no samples")
    if not 0 <= proportion < 0.5:
        raise ValueError(f"proportion must be in [0, 0.5), got {proportion}")
    ordered = sorted(samples)
    if len(ordered) >= TRIM_MIN_SAMPLES:
        cut = math.floor(len(ordered) * proportion)
        if cut:
            ordered = ordered[cut:-cut]
    return math.fsum(ordered) / len(ordered)


def estimated_wait_minutes(
    people_ahead: int,
    recent_service_seconds: Sequence[float],
    open_counters: int,
    default_service_seconds: float | None = DEFAULT_SERVICE_SECONDS,
) -> int | None:
    """Estimated wait in whole minutes, rounded up; ``None`` when there is no honest estimate.

    ``recent_service_seconds`` is ordered oldest first; the last :data:`RECENT_SAMPLES` usable
    ones (finite, >= 0) are averaged with :func:`trimmed_mean`. With none, the
    ``default_service_seconds`` is used; if that is ``None`` too, the result is ``None`` (the
    ticket then prints no estimate rather than a guess). ``open_counters`` below 1 counts as 1,
    so a lobby whose counter status is unknown still gets a (pessimistic) estimate.
    Nobody ahead: 0.
    """
    if people_ahead < 0:
        raise ValueError(f"people_ahead must be >= 0, got {people_ahead}")
    if default_service_seconds is not None and not (
        math.isfinite(default_service_seconds) and default_service_seconds > 0
    ):
        raise ValueError(f"default_service_seconds must be finite and > 0, got {default_service_seconds}")
    if people_ahead == 0:
        return 0
    recent = _usable(recent_service_seconds)[-RECENT_SAMPLES:]
    if recent:
        per_person = trimmed_mean(recent)
    elif default_service_seconds is not None:
        per_person = default_service_seconds
    else:
        return None
    minutes = people_ahead * per_person / max(1, open_counters) / 60
    # Round up, but not over float noise: 25 people x 7.2 s is 3 minutes, though in binary
    # floating point it comes out a hair above 3.
    return max(0, math.ceil(minutes - _NOISE_MINUTES))
