"""The board's clock work: calls announced once, moves found, screen on only in opening hours."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from display_board.cli import Announcer
from display_board.controller import CAPTION_S, BoardController, Inputs
from drivers.display_power import RecordingPower
from drivers.led_panel import PanelRow
from drivers.speech import RecordingSpeaker, announce_call
from sync import messages, protocol

NOON = 1_795_230_000_000  # 2026-11-21 12:00 JST
ROOM = {"ja": "相談室", "kana": "そうだんしつ", "en": "Consultation room"}


def office_config(**extra: Any) -> messages.OfficeConfig:
    """office/config as a board receives it (through the protocol)."""
    return protocol.decode(
        "office_config",
        json.dumps(
            {
                "v": 1,
                "version": 1,
                "sent_ms": NOON,
                "timezone": "Asia/Tokyo",
                "dispenser": {
                    "open": "08:30",
                    "close": "17:15",
                    "closed_weekdays": [],
                    "closed_dates": [],
                    "holidays": [],
                },
                "stations": [{"code": c, "name": {"ja": c}} for c in ("reception", "issuing", "done")],
                "categories": [
                    {
                        "code": "certificates",
                        "series": "2",
                        "name": {"ja": "証明書", "en": "Certificates"},
                        "route": ["reception", "issuing", "done"],
                    }
                ],
                **extra,
            }
        ).encode(),
    )


CONFIG = office_config()
NAMED = office_config(
    counters=[
        {"number": 3, "name": {"ja": "3番窓口", "en": "Counter 3"}},
        {"number": 5, "name": ROOM, "kind": "consultation"},
    ]
)
Said = tuple[int, int, str, Mapping[str, str]]


def board(
    tickets: list[list[Any]], calls: list[dict[str, int]], counters: list[dict[str, Any]] | None = None
) -> messages.BoardSnapshot:
    """office/snapshot/board as a board receives it (through the protocol)."""
    return protocol.decode(
        "board_snapshot",
        json.dumps(
            {
                "v": 1,
                "version": 1,
                "sent_ms": NOON,
                "business_day": "2026-11-21",
                "lines": [
                    {
                        "route": "reception-issuing-done",
                        "stations": ["reception", "issuing", "done"],
                        "tickets": tickets,
                    }
                ],
                "calls": calls,
                "counters": counters or [],
            }
        ).encode(),
    )


class World:
    def __init__(self) -> None:
        self.now = NOON
        self.board = board([[2001, -1, "waiting", None]], [{"number": 2000, "counter": 3, "at_ms": NOON - 5000}])
        self.online = True
        self.config = CONFIG

    def inputs(self) -> Inputs:
        return Inputs(self.board, None, self.config, self.online, self.now, self.now)


def make() -> tuple[World, BoardController, list[Said], RecordingPower, list[list[PanelRow]]]:
    world, said, power, panel = World(), [], RecordingPower(), []
    ctl = BoardController(
        world.inputs,
        announce=lambda n, c, k, names: said.append((n, c, k, names)),
        power=power,
        on_counters=panel.append,
    )
    return world, ctl, said, power, panel


def test_a_new_call_is_announced_once_and_old_ones_never() -> None:
    world, ctl, said, _, _ = make()
    assert ctl.tick() and said == []  # calls already on the board at start stay silent
    world.board = board(
        [[2001, 0, "called", 3]],
        [{"number": 2001, "counter": 3, "at_ms": NOON + 1000}, {"number": 2000, "counter": 3, "at_ms": NOON - 5000}],
    )
    world.now += 1000
    ctl.tick()
    assert said == [(2001, 3, "call", {})]  # the office names no counters: "counter 3"
    world.now += 1000
    ctl.tick()
    assert said == [(2001, 3, "call", {})]


def test_a_call_to_a_named_counter_shows_and_announces_its_name() -> None:
    world, ctl, said, _, _ = make()
    world.config = NAMED
    ctl.tick()
    world.board = board(
        [[2001, 0, "called", 5], [2002, 2, "ready", 5]],
        [{"number": 2001, "counter": 5, "at_ms": NOON + 1000}, {"number": 2000, "counter": 3, "at_ms": NOON - 5000}],
    )
    world.now += 1000
    ctl.tick()
    assert ctl.view is not None
    assert [(c.number, c.label) for c in ctl.view.calls] == [(2001, "5番 相談室"), (2000, "3番窓口")]
    assert [(r.number, r.label) for r in ctl.view.lines[0].ready] == [(2002, "5番 相談室")]
    assert said == [(2001, 5, "call", ROOM)]


def test_the_announcer_says_the_counters_name_in_japanese_and_english() -> None:
    speaker = RecordingSpeaker()
    announcer = Announcer(speaker)

    def spoken(count: int) -> list[tuple[str, str]]:
        deadline = time.monotonic() + 10
        while len(speaker.texts()) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return speaker.texts()

    announcer.announce(105, 5, "call", ROOM)  # as the controller calls it, from the config
    assert spoken(2) == [
        ("ヒャクゴバンのかた、ゴバン、ソウダンシツへ、おこしください。", "ja"),  # the reading, in katakana
        ("Number 105, please come to counter 5, Consultation room.", "en"),
    ]
    # A name that says the number: the call as always (the synthesizer reads the number better).
    announcer.announce(106, 3, "call", {"ja": "3番窓口", "en": "Counter 3"})
    assert spoken(4)[2:] == [(announce_call(106, 3, "ja"), "ja"), ("Number 106, please come to counter 3.", "en")]
    assert announcer.chimed == [105, 106]


def test_a_move_is_found_between_two_views() -> None:
    world, ctl, _, _, _ = make()
    ctl.tick()
    world.board = board([[2001, 1, "in_progress", 3]], [])
    world.now += 1000
    assert ctl.tick()
    moves = [m for m in ctl.moves if type(m).__name__ == "Move"]
    assert len(moves) == 1 and moves[0].number == 2001 and moves[0].to_index == 1 and not moves[0].backwards


def test_captions_rotate_through_the_lobby_languages() -> None:
    world, ctl, _, _, _ = make()
    seen = []
    for _ in range(6):
        ctl.tick()
        assert ctl.view is not None
        seen.append(ctl.view.language)
        world.now += CAPTION_S * 1000
    assert sorted(seen) == sorted(["ja", "en", "zh_CN", "ko", "vi", "pt"])


def test_the_screen_follows_opening_hours() -> None:
    world, ctl, _, power, _ = make()
    ctl.tick()
    assert ctl.screen_on and power.calls == []
    world.now = NOON + 6 * 3600 * 1000  # 18:00: after closing and its margin
    ctl.tick()
    assert not ctl.screen_on and power.calls == [False] and not ctl.blank
    world.now = NOON + 20 * 3600 * 1000 + 30 * 60 * 1000  # 08:30 next morning
    ctl.tick()
    assert ctl.screen_on and power.calls == [False, True]


def test_the_led_panel_gets_the_snapshot_counters() -> None:
    world, ctl, _, _, panel = make()
    world.board = board([], [], counters=[{"counter": 3, "number": 2000, "kind": "call", "at_ms": NOON}])
    ctl.tick()
    # Typed rows, mapped from the snapshot's typed calls (no dicts re-parsed by the driver).
    assert panel[-1] == [PanelRow(counter=3, number=2000, kind="call", at_ms=NOON)]
