"""The device's clock knowledge: learnt from the office, confirmed per boot, never going back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.clock import (
    ClockState,
    from_dict,
    initial,
    is_confirmed,
    now_ms,
    observe_office_time,
    to_dict,
)

OFFICE_NOW = 1_711_929_600_000  # 2024-04-01 00:00 UTC
DAY = 86_400_000


def test_first_start_knows_nothing() -> None:
    state = initial("boot-a", None)
    assert state == ClockState("boot-a", None, None, None)
    assert not is_confirmed(state)
    assert now_ms(state, 1234) == 1234


def test_observing_the_office_confirms_and_sets_the_offset() -> None:
    # The Pi came back three days slow.
    local = OFFICE_NOW - 3 * DAY
    state = observe_office_time(initial("boot-a", None), OFFICE_NOW, local, mono_ms=5_000)
    assert is_confirmed(state)
    assert state.offset_ms == 3 * DAY
    assert state.confirmed_at_mono_ms == 5_000
    assert state.last_office_ms == OFFICE_NOW
    # Ten seconds later on the local clock, ten seconds later at the office.
    assert now_ms(state, local + 10_000) == OFFICE_NOW + 10_000


def test_a_newer_observation_replaces_the_offset_even_if_smaller() -> None:
    state = initial("boot-a", None)
    state = observe_office_time(state, OFFICE_NOW, OFFICE_NOW - 500, mono_ms=1)
    # The office corrected its own clock back by a minute: follow it.
    state = observe_office_time(state, OFFICE_NOW - 60_000, OFFICE_NOW, mono_ms=2)
    assert state.offset_ms == -60_000
    assert state.confirmed_at_mono_ms == 2
    # The lower bound for a future reboot stays at the highest time ever seen.
    assert state.last_office_ms == OFFICE_NOW


def test_restart_within_the_same_boot_keeps_the_confirmation() -> None:
    state = observe_office_time(initial("boot-a", None), OFFICE_NOW, OFFICE_NOW - 7, mono_ms=9)
    restarted = initial("boot-a", from_dict(json.loads(json.dumps(to_dict(state)))))
    assert restarted == state
    assert is_confirmed(restarted)
    assert now_ms(restarted, OFFICE_NOW) == OFFICE_NOW + 7


def test_reboot_loses_the_confirmation_but_keeps_the_lower_bound() -> None:
    state = observe_office_time(initial("boot-a", None), OFFICE_NOW, OFFICE_NOW, mono_ms=9)
    rebooted = initial("boot-b", state)
    assert rebooted == ClockState("boot-b", None, None, OFFICE_NOW)
    assert not is_confirmed(rebooted)
    # Power cut: the Pi's clock restarts at its last fake-hwclock save, a day in the past.
    assert now_ms(rebooted, OFFICE_NOW - DAY) == OFFICE_NOW
    # A clock that is ahead is believed (we cannot tell), but never put behind the bound.
    assert now_ms(rebooted, OFFICE_NOW + 5_000) == OFFICE_NOW + 5_000


def test_reboot_then_office_heard_again_confirms_in_the_new_boot() -> None:
    old = observe_office_time(initial("boot-a", None), OFFICE_NOW, OFFICE_NOW, mono_ms=9)
    state = initial("boot-b", old)
    state = observe_office_time(state, OFFICE_NOW + DAY, 0, mono_ms=3)
    assert is_confirmed(state)
    assert state.boot_id == "boot-b"
    assert now_ms(state, 1_000) == OFFICE_NOW + DAY + 1_000


def test_several_reboots_without_network_keep_the_bound() -> None:
    state = observe_office_time(initial("b1", None), OFFICE_NOW, OFFICE_NOW, mono_ms=1)
    for boot in ("b2", "b3", "b4"):
        state = initial(boot, state)
    assert state.last_office_ms == OFFICE_NOW
    assert now_ms(state, 0) == OFFICE_NOW


def test_empty_boot_id_is_refused() -> None:
    with pytest.raises(ValueError):
        initial("", None)


@given(
    st.integers(min_value=0, max_value=2**42),
    st.integers(min_value=0, max_value=2**42),
    st.integers(min_value=0, max_value=2**42),
    st.integers(min_value=0, max_value=2**42),
)
def test_unconfirmed_time_never_goes_before_the_office_time_seen(
    office: int, local_then: int, local_now: int, mono: int
) -> None:
    seen = observe_office_time(initial("a", None), office, local_then, mono)
    assert now_ms(initial("b", seen), local_now) >= office


@given(
    st.integers(min_value=-(2**42), max_value=2**42),
    st.integers(min_value=0, max_value=2**42),
    st.integers(min_value=0, max_value=2**42),
)
def test_confirmed_time_matches_the_office_at_the_observation(office: int, local: int, mono: int) -> None:
    state = observe_office_time(initial("a", None), office, local, mono)
    assert now_ms(state, local) == office


@given(
    st.builds(
        ClockState,
        st.text(min_size=1),
        st.none(),
        st.none(),
        st.one_of(st.none(), st.integers()),
    )
    | st.builds(
        ClockState,
        st.text(min_size=1),
        st.integers(),
        st.integers(),
        st.one_of(st.none(), st.integers()),
    )
)
def test_to_dict_from_dict_round_trip(state: ClockState) -> None:
    assert from_dict(json.loads(json.dumps(to_dict(state)))) == state


def _good() -> dict[str, Any]:
    return {
        "boot_id": "boot-a",
        "offset_ms": 12,
        "confirmed_at_mono_ms": 34,
        "last_office_ms": OFFICE_NOW,
    }


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("boot_id", ""),
        ("boot_id", 7),
        ("offset_ms", "12"),
        ("offset_ms", 1.5),
        ("confirmed_at_mono_ms", True),
        ("last_office_ms", [1]),
    ],
)
def test_from_dict_names_the_bad_key(key: str, value: Any) -> None:
    data = _good()
    data[key] = value
    with pytest.raises(ValueError, match=key):
        from_dict(data)


@pytest.mark.parametrize("key", ["boot_id", "offset_ms", "confirmed_at_mono_ms", "last_office_ms"])
def test_from_dict_names_a_missing_key(key: str) -> None:
    data = _good()
    del data[key]
    with pytest.raises(ValueError, match=key):
        from_dict(data)


def test_from_dict_refuses_half_a_confirmation() -> None:
    data = _good()
    data["confirmed_at_mono_ms"] = None
    with pytest.raises(ValueError, match="offset_ms"):
        from_dict(data)


def test_from_dict_refuses_a_non_mapping() -> None:
    with pytest.raises(ValueError):
        from_dict([1, 2])  # type: ignore[arg-type]


def test_from_dict_ignores_unknown_keys() -> None:
    data = _good()
    data["from_a_newer_version"] = True
    assert from_dict(data) == ClockState("boot-a", 12, 34, OFFICE_NOW)


# -- believing only a plausible office time; counting with the monotonic clock ------------------


def test_an_office_time_far_from_what_the_device_counts_is_not_plausible() -> None:
    from sync.clock import MAX_STEP_MS, plausible

    fresh = initial("boot-a", None)
    assert plausible(fresh, OFFICE_NOW + 30 * 3600_000, mono_ms=5)  # nothing to compare with yet
    state = observe_office_time(fresh, OFFICE_NOW, OFFICE_NOW, mono_ms=1_000)
    # 60 s of monotonic time later the office should say OFFICE_NOW + 60 s.
    assert plausible(state, OFFICE_NOW + 60_000 + 2_000, mono_ms=61_000)  # a small correction
    assert plausible(state, OFFICE_NOW + 60_000 - MAX_STEP_MS, mono_ms=61_000)
    assert not plausible(state, OFFICE_NOW + 60_000 + MAX_STEP_MS + 1, mono_ms=61_000)
    assert not plausible(state, OFFICE_NOW + 30 * 3600_000, mono_ms=61_000)  # the forged status


def test_once_confirmed_a_wall_clock_step_does_not_move_the_devices_time() -> None:
    state = observe_office_time(initial("boot-a", None), OFFICE_NOW, OFFICE_NOW - 3, mono_ms=1_000)
    # The wall clock jumps a day ahead (a bad NTP server, a hand) while 5 s pass.
    assert now_ms(state, OFFICE_NOW + DAY, mono_ms=6_000) == OFFICE_NOW + 5_000
    # An app restart in the same boot keeps counting from the confirmation.
    restarted = initial("boot-a", from_dict(to_dict(state)))
    assert now_ms(restarted, OFFICE_NOW - DAY, mono_ms=7_000) == OFFICE_NOW + 6_000
    # Without the monotonic clock (old callers) it is the offset, as before.
    assert now_ms(state, OFFICE_NOW + DAY) == OFFICE_NOW + DAY + 3


def test_a_clock_file_from_before_the_monotonic_anchor_still_loads() -> None:
    state = observe_office_time(initial("boot-a", None), OFFICE_NOW, OFFICE_NOW, mono_ms=9)
    old = {k: v for k, v in to_dict(state).items() if k != "confirmed_office_ms"}
    loaded = from_dict(old)
    assert loaded.confirmed_office_ms is None and now_ms(loaded, OFFICE_NOW + 10, mono_ms=10_000) == OFFICE_NOW + 10
    with pytest.raises(ValueError, match="confirmed_office_ms"):
        from_dict({**to_dict(state), "confirmed_office_ms": "soon"})
