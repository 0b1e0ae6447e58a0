"""Run the real board (madoguchi-board) under Xvfb and take screenshots on cue.

    python tests/board_driver.py --broker URL --data DIR --out DIR --shots name:wait_s,name:wait_s ...

Each shot waits the given seconds after the previous one, then saves the window as OUT/name.
OUT/result.json records what the board showed at each shot (trains drawn, calls, stale).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common.cli import config_from_mapping
from display_board.app import MOVE_S
from display_board.cli import BoardConfig, run_board
from sync.agent import AgentConfig, DeviceAgent


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--broker", required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--shots", required=True)
    p.add_argument("--width", type=int, default=1920)
    p.add_argument("--height", type=int, default=1080)
    p.add_argument("--speech", default="none", help="speech backend (recording: the fake that remembers)")
    p.add_argument(
        "--check-frames",
        action="store_true",
        help="look at the board after every flipped frame: count frames with a line missing its track or names",
    )
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    # name:SECONDS waits that long after the previous shot; name:@slide waits until a car is
    # sliding to its new station and shoots it a third of the way along.
    shots = [(name, wait) for name, wait in (item.split(":") for item in a.shots.split(","))]
    agent = DeviceAgent(
        AgentConfig(site="demo-town", device_id="board-test", role="board", broker_url=a.broker, data_dir=a.data)
    )
    result: dict[str, Any] = {"shots": []}

    def started(app: Any, controller: Any, announcer: Any) -> None:
        from kivy.clock import Clock

        if a.check_frames:
            from kivy.core.window import Window

            frames: dict[str, Any] = {"flips": 0, "with_lines": 0, "half_built": 0, "examples": []}
            result["frames"] = frames

            def inspect(*_: Any) -> None:
                # The frame just flipped must hold the whole scene the app last drew: every
                # label and car (resting or sliding), each with its rendered text, every track.
                frames["flips"] += 1
                drawn = app.scene
                if drawn is None:
                    return
                frames["with_lines"] += bool(drawn.tracks)
                # What the canvases hold, not what the app means to show: every piece's group.
                drawn_groups = {id(g) for g in (*app.root_box.canvas.children, *app.overlay.canvas.children)}
                pieces = (*app.on_board.values(), *app.sliding, *app.parked.values())
                widgets = [p for p in pieces if id(p.group) in drawn_groups]
                tracks = sum(type(i).__name__ == "Line" for i in app.root_box.canvas.before.children)
                blank = [w.text for w in widgets if w.text and w.texture is None]
                if len(widgets) != len(drawn.texts) + len(drawn.cars) or tracks != len(drawn.tracks) or blank:
                    frames["half_built"] += 1
                    if len(frames["examples"]) < 5:
                        frames["examples"].append(
                            f"flip {frames['flips']}: widgets {len(widgets)} of "
                            f"{len(drawn.texts) + len(drawn.cars)}, tracks {tracks} of {len(drawn.tracks)}, "
                            f"without text {blank[:3]}"
                        )

            Window.bind(on_flip=inspect)

        def take(index: int) -> None:
            if index >= len(shots):
                _write_result(a.out, result)
                app.stop()
                return
            name, wait = shots[index]

            def shoot(_dt: float) -> None:
                # What the screen shows, cars mid-slide included (they fly above the cached board).
                from kivy.core.window import Window

                made = Window.screenshot(name=str(a.out / f"capture-{name}"))
                os.replace(made, a.out / name)
                view = controller.view
                result["shots"].append(
                    {
                        "name": name,
                        "trains": sorted(
                            [t.number, t.station_index] for line in (view.lines if view else ()) for t in line.trains
                        ),
                        "ready": sorted(r.number for line in (view.lines if view else ()) for r in line.ready),
                        "stacked": sum(s.hidden_count for line in (view.lines if view else ()) for s in line.stacks),
                        "calls": [c.number for c in (view.calls if view else ())],
                        "stale": view.stale if view else None,
                        "language": view.language if view else None,
                        "pages": app.scene.pages if app.scene is not None else 0,
                        "mode": app.scene.mode if app.scene is not None else None,
                        "moves": [type(m).__name__ for m in controller.moves],
                        "sliding": len(app.sliding),
                        "static_widgets": len(app.on_board),
                        "chimed": list(announcer.chimed),
                        "spoken": announcer.speaker.texts() if hasattr(announcer.speaker, "texts") else [],
                    }
                )
                # Written after every shot, so a test can act between shots.
                _write_result(a.out, result)
                take(index + 1)

            if wait != "@slide":
                Clock.schedule_once(shoot, float(wait))
                return
            deadline = time.monotonic() + 60

            def watch(_dt: float) -> bool:
                if app.sliding or time.monotonic() > deadline:
                    Clock.schedule_once(shoot, MOVE_S / 3)
                    return False
                return True

            Clock.schedule_interval(watch, 0.02)

        take(0)

    args = argparse.Namespace(windowed=True)
    config = config_from_mapping(
        {"display": {"width": a.width, "height": a.height}, "speech": {"backend": a.speech}}, BoardConfig
    )
    return run_board(args, config, agent, on_started=started)


def _write_result(out: Path, result: dict[str, Any]) -> None:
    """result.json in one rename: the test reads it while the board runs, and a half-written
    file read as JSON failed a test now and then."""
    tmp = out / "result.json.tmp"
    tmp.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, out / "result.json")


if __name__ == "__main__":
    sys.exit(main())
