"""The board's clock work: calls announced once, moves found, screen on only in opening hours."""

from __future__ import annotations

import json
from typing import Any

from display_board.controller import CAPTION_S, BoardController, Inputs
from drivers.display_power import RecordingPower
from drivers.led_panel import PanelRow
from sync import messages, protocol

NOON = 1_795_230_000_000  # 2026-11-21 12:00 JST
CONFIG = protocol.decode(
    "office_config",
    json.dumps(
        {
            "v": 1,
            "version": 1,
            "sent_ms": NOON,
            "timezone": "Asia/Tokyo",
            "dispenser": {"open": "08:30", "close": "17:15", "closed_weekdays": [], "closed_dates": [], "holidays": []},
            "stations": [{"code": c, "name": {"ja": c}} for c in ("reception", "issuing", "done")],
            "categories": [
                {
                    "code": "certificates",
                    "series": "2",
                    "name": {"ja": "証明書", "en": "Certificates"},
                    "route": ["reception", "issuing", "done"],
                }
            ],
        }
    ).encode(),
)


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

    def inputs(self) -> Inputs:
        return Inputs(self.board, None, CONFIG, self.online, self.now, self.now)


def make() -> tuple[World, BoardController, list[tuple[int, int, str]], RecordingPower, list[list[PanelRow]]]:
    world, said, power, panel = World(), [], RecordingPower(), []
    ctl = BoardController(
        world.inputs, announce=lambda n, c, k: said.append((n, c, k)), power=power, on_counters=panel.append
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
    assert said == [(2001, 3, "call")]
    world.now += 1000
    ctl.tick()
    assert said == [(2001, 3, "call")]


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
