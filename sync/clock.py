"""What time is it, and do we know? The device's view of wall time, learnt from the office.

A Pi has no RTC (design decision 6): after a power cut without network its clock can be days
off. Every office message carries the office's wall time in ms; from it the device learns an
offset to its own wall clock and whether that offset has been *confirmed since this boot*.
Only a confirmed time may be printed as a date (a ticket, a receipt); an unconfirmed one is
still the best estimate for stamps and ordering.

Rules:

* Confirmation belongs to one boot. The boot id (e.g. ``/proc/sys/kernel/random/boot_id``,
  read by the caller) tells a restart of the app, which keeps the confirmation and the offset,
  from a reboot, after which the wall clock may have jumped and nothing is confirmed.
* The last office time ever seen survives reboots as a lower bound: after a power cut the
  device at least knows it is no earlier than that, so time never goes back before a moment
  the office once told us.
* Feed :func:`observe_office_time` with *live* messages only (office heartbeats, acks, replies).
  A retained message replayed by the broker carries the time it was published, which may be
  hours old; adopting it would confirm a wrong offset.

Pure functions of their arguments: the caller reads the local wall and monotonic clocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from common.validation import Invalid, convert, info


@dataclass(frozen=True, slots=True)
class ClockState:
    """The device's clock knowledge: one value, persisted across restarts.

    ``offset_ms`` is office wall time minus local wall time at the last observation, and
    ``confirmed_at_mono_ms`` the monotonic time of that observation; both are ``None`` until the
    office has been heard in this boot. ``last_office_ms`` is the highest office time ever seen,
    in this boot or an earlier one.
    """

    boot_id: str
    offset_ms: int | None = None
    confirmed_at_mono_ms: int | None = None
    last_office_ms: int | None = None
    # the office's time at ``confirmed_at_mono_ms``: from then on the device counts with its
    # monotonic clock, so a step of its wall clock (an NTP jump, a hand) moves nothing
    confirmed_office_ms: int | None = None


# The largest step between the office time a live message says and the time the device expects
# from its last confirmation and its monotonic clock. A real office's clock is corrected by
# seconds; a message ahead by hours is not believed (a forged status once moved the lobby to
# tomorrow's business day). A real correction beyond it takes the device's reboot.
MAX_STEP_MS = 10 * 60_000


def initial(boot_id: str, persisted: ClockState | None) -> ClockState:
    """The state at start-up, from what was persisted (``None`` on a device's first start).

    Same ``boot_id``: the app restarted but the machine did not, so the wall clock is the one
    we confirmed and the confirmation stands. Another ``boot_id``: the clock may have jumped
    while the power was off, so only ``last_office_ms`` is kept, as a lower bound.
    """
    if not boot_id:
        raise ValueError("boot_id must not be empty")
    if persisted is None:
        return ClockState(boot_id=boot_id)
    if persisted.boot_id == boot_id:
        return persisted
    return ClockState(boot_id=boot_id, last_office_ms=persisted.last_office_ms)


def observe_office_time(state: ClockState, office_ms: int, local_wall_ms: int, mono_ms: int) -> ClockState:
    """Learn from an office message stamped ``office_ms``, received at ``local_wall_ms``.

    The new offset replaces the old one even when it is smaller: the office is the authority,
    and if its own clock was corrected backwards the devices must follow. Network delay makes
    the offset a little low (by the transit time, milliseconds on the LAN), which is harmless.
    """
    last = office_ms if state.last_office_ms is None else max(state.last_office_ms, office_ms)
    return ClockState(
        boot_id=state.boot_id,
        offset_ms=office_ms - local_wall_ms,
        confirmed_at_mono_ms=mono_ms,
        last_office_ms=last,
        confirmed_office_ms=office_ms,
    )


def expected_office_ms(state: ClockState, mono_ms: int) -> int | None:
    """The office's time now as the device counts it since its last confirmation (None before)."""
    if state.confirmed_office_ms is None or state.confirmed_at_mono_ms is None:
        return None
    return state.confirmed_office_ms + (mono_ms - state.confirmed_at_mono_ms)


def plausible(state: ClockState, office_ms: int, mono_ms: int, max_step_ms: int = MAX_STEP_MS) -> bool:
    """Whether a live message's office time may be believed: anything before the first
    confirmation of this boot, afterwards only within ``max_step_ms`` of what the device's own
    monotonic clock says it should be."""
    expected = expected_office_ms(state, mono_ms)
    return expected is None or abs(office_ms - expected) <= max_step_ms


def is_confirmed(state: ClockState) -> bool:
    """Whether the office's time has been learnt since this boot (so dates may be printed)."""
    return state.offset_ms is not None and state.confirmed_at_mono_ms is not None


def now_ms(state: ClockState, local_wall_ms: int, mono_ms: int | None = None) -> int:
    """The best estimate of the office's wall time now.

    Confirmed: the office's time at the confirmation plus the monotonic time since (given
    ``mono_ms``; a wall-clock step then changes nothing), or local wall time plus the learnt
    offset. Not confirmed: the local wall time, but never earlier than the last office time ever
    seen (a Pi that lost power comes back at its last saved time or at 1970, both in the past).
    """
    expected = expected_office_ms(state, mono_ms) if mono_ms is not None else None
    if expected is not None:
        return expected
    if state.offset_ms is not None and state.confirmed_at_mono_ms is not None:
        return local_wall_ms + state.offset_ms
    if state.last_office_ms is None:
        return local_wall_ms
    return max(local_wall_ms, state.last_office_ms)


# A stored state is written by this module only: a bad one is a damaged file.
_HELP = "delete the clock state and the device learns the time again from the office"
_Ms = Annotated[int, info(what="an integer (milliseconds) or null")]


class _Stored(msgspec.Struct, frozen=True, kw_only=True):
    """The state as :func:`to_dict` stores it. Unknown keys are ignored, so a newer version's
    file still loads after a downgrade; ``confirmed_office_ms`` is absent in files written
    before it existed."""

    boot_id: Annotated[str, info(min_length=1, what="a non-empty text (the boot id)", help=_HELP)]
    offset_ms: Annotated[_Ms | None, info(help=_HELP)]
    confirmed_at_mono_ms: Annotated[_Ms | None, info(help=_HELP)]
    last_office_ms: Annotated[_Ms | None, info(help=_HELP)]
    confirmed_office_ms: _Ms | None = None


def to_dict(state: ClockState) -> dict[str, Any]:
    """A JSON-ready dict for the local store."""
    return {f: getattr(state, f) for f in _Stored.__struct_fields__}


def from_dict(data: object) -> ClockState:
    """Rebuild a state from :func:`to_dict` output; :class:`Invalid` (a ``ValueError``) names
    the bad key and the fix. Wrong types are ``ValueError`` too: this is data from disk, and
    callers catch ValueError."""
    stored = convert(data, _Stored)
    if (stored.offset_ms is None) != (stored.confirmed_at_mono_ms is None):
        raise Invalid(
            ("offset_ms",),
            f"offset_ms and confirmed_at_mono_ms must both be set or both null; {_HELP}",
        )
    return ClockState(
        boot_id=stored.boot_id,
        offset_ms=stored.offset_ms,
        confirmed_at_mono_ms=stored.confirmed_at_mono_ms,
        last_office_ms=stored.last_office_ms,
        confirmed_office_ms=stored.confirmed_office_ms if stored.confirmed_at_mono_ms is not None else None,
    )
