"""Hybrid logical clock (Kulkarni et al., 2014): event stamps that order causally and stay near
wall time even when a device's wall clock is wrong.

A Pi has no RTC (design decision 6): after a power cut without network its wall clock can be
days off, and it may even go backwards when NTP or the office corrects it. An HLC stamp is
``(wall_ms, counter)``: ``wall_ms`` never decreases, and ``counter`` breaks ties between events
in the same millisecond or while the local wall clock lags behind the highest time seen.

Everything here is pure: the caller passes the current wall time in ms.

Encoding: ``"WWWWWWWWWWWWW-CCCCCC"``: 13 zero-padded decimal digits of ``wall_ms`` (good up to
9,999,999,999,999 ms, i.e. 2286-11-20 UTC), a dash, and 6 lowercase hex digits of ``counter``
(up to 16,777,215). Fixed width, so string order equals stamp order: the office and the stores
can sort and compare stamps as plain strings.

The counter cannot overflow: if a tick would push it past :data:`MAX_COUNTER` the stamp moves to
the next millisecond with counter 0 instead, which is still strictly greater. Reaching it takes
16.7 million events while the wall clock lags, far beyond a lobby device's day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WALL_DIGITS = 13
"""Decimal digits of ``wall_ms`` in the encoding."""

COUNTER_DIGITS = 6
"""Hex digits of ``counter`` in the encoding."""

MAX_WALL_MS = 10**WALL_DIGITS - 1
"""The largest encodable wall time (2286-11-20 UTC)."""

MAX_COUNTER = 16**COUNTER_DIGITS - 1
"""The largest encodable counter; one more carries into the next millisecond."""

MAX_DRIFT_MS = 24 * 60 * 60 * 1000
"""How far ahead of our own time a remote stamp may be and still be adopted (one day).

HLC wall time only ever moves forward, and ``receive`` spreads the highest time seen to every
device that hears it. Without a guard, one device whose clock jumped to 2037 would drag every
device's stamps (and, through them, the office's ordering) into 2037 for good. A day is far
more than any honest skew between devices that sync over the LAN, and far less than the damage
of a clock that is years off. A rejected remote stamp is simply not adopted; the event is still
processed, it just does not move our clock.
"""

_ENCODED = re.compile(rf"\A([0-9]{{{WALL_DIGITS}}})-([0-9a-f]{{{COUNTER_DIGITS}}})\Z")


@dataclass(frozen=True, slots=True, order=True)
class HLC:
    """A hybrid logical clock stamp; compares as the tuple ``(wall_ms, counter)``."""

    wall_ms: int
    counter: int

    def __post_init__(self) -> None:
        # Refuse stamps that could not be encoded: a stamp that cannot travel is a bug now,
        # not a surprise at the office later.
        for name, value, top in (
            ("wall_ms", self.wall_ms, MAX_WALL_MS),
            ("counter", self.counter, MAX_COUNTER),
        ):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"HLC.{name} must be an int, got {value!r}")
            if not 0 <= value <= top:
                raise ValueError(f"HLC.{name} must be in 0..{top}, got {value}")

    def encode(self) -> str:
        """The fixed-width string form, e.g. ``"1711929600000-00002a"``; sorts like the stamp."""
        return f"{self.wall_ms:0{WALL_DIGITS}d}-{self.counter:0{COUNTER_DIGITS}x}"

    @classmethod
    def decode(cls, text: str) -> HLC:
        """Parse :meth:`encode` output exactly; anything else raises ``ValueError``.

        Strict on purpose (lowercase hex, exact widths): a second spelling of the same stamp
        would break the promise that string order is stamp order.
        """
        # ValueError even for a non-string: it is bad wire data, which callers catch as such.
        if not isinstance(text, str):
            raise ValueError(f"HLC stamp must be a str, not {type(text).__name__}")  # noqa: TRY004
        match = _ENCODED.match(text)
        if match is None:
            raise ValueError(f"not an HLC stamp: {text!r}")
        return cls(int(match.group(1)), int(match.group(2), 16))

    def __str__(self) -> str:
        return self.encode()


ZERO = HLC(0, 0)
"""The stamp before every other one: the starting ``last`` of a device with no history."""


def _after(wall_ms: int, counter: int) -> HLC:
    """``HLC(wall_ms, counter)``, carrying an overflowing counter into the next millisecond."""
    if counter > MAX_COUNTER:
        return HLC(wall_ms + 1, 0)
    return HLC(wall_ms, counter)


def tick(last: HLC, now_ms: int) -> HLC:
    """The stamp for a local or send event: strictly greater than ``last``.

    ``now_ms`` is the device's current wall time; if it is behind ``last`` (the clock went back,
    or we adopted a later remote time) the wall part stays and the counter advances.
    """
    if now_ms > last.wall_ms:
        return HLC(now_ms, 0)
    return _after(last.wall_ms, last.counter + 1)


def receive(last: HLC, remote: HLC, now_ms: int) -> HLC:
    """The stamp for receiving a message stamped ``remote``: greater than ``last`` and, when the
    remote stamp is adopted, greater than ``remote``.

    A remote wall time more than :data:`MAX_DRIFT_MS` ahead of ``max(last.wall_ms, now_ms)`` is
    not adopted (see :data:`MAX_DRIFT_MS`); the result is then ``tick(last, now_ms)``.
    """
    local_wall = max(last.wall_ms, now_ms)
    if remote.wall_ms > local_wall + MAX_DRIFT_MS:
        return tick(last, now_ms)
    wall = max(local_wall, remote.wall_ms)
    if wall == last.wall_ms and wall == remote.wall_ms:
        counter = max(last.counter, remote.counter) + 1
    elif wall == last.wall_ms:
        counter = last.counter + 1
    elif wall == remote.wall_ms:
        counter = remote.counter + 1
    else:
        counter = 0
    return _after(wall, counter)


def adopts(last: HLC, remote: HLC, now_ms: int) -> bool:
    """Whether :func:`receive` would take ``remote``'s wall time into account (drift guard).

    Callers use this to count and log devices with runaway clocks.
    """
    return remote.wall_ms <= max(last.wall_ms, now_ms) + MAX_DRIFT_MS
