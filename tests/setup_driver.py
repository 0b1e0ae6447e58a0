"""Drive the real setup screen (madoguchi-setup) under Xvfb from a script of steps.

Run by tests/test_setup_screen.py as its own process. It starts the screen exactly as the
command does (setup_screen.app.run_screen) and performs the steps with real touch events at
the widgets' centres, writing OUT/result.json after every step (the last step may end with the
process replaced by the device's app: ``--start exec``):

    {"touch": "role:dispenser"}      touch a target
    {"key": "DOWN"}                  a keyboard or keypad key (through the screen's own handler)
    {"type": "7K3M…"}                type characters on a keyboard
    {"clear": true}                  delete the whole typed code (BACK, once per character)
    {"wait": "code", "timeout": 20}  wait for a screen
    {"wait_error": "expired"}        wait until the code screen says why a code was refused
    {"shot": "setup-role-ja.png"}    screenshot of the window into OUT
    {"write": ["PATH", "TEXT"]}      write a file (a scan file changing as hardware is plugged in)
    {"record": "label"}              record the screen's state
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from setup_screen import app as setup_app
from setup_screen import flow


class Runner:
    def __init__(self, steps: list[dict[str, Any]], out: Path) -> None:
        self.steps = steps
        self.out = out
        self.index = 0
        self.records: dict[str, Any] = {}
        self.error = ""
        self.deadline = 0.0
        self.app: Any = None

    def attach(self, app: Any) -> None:
        from kivy.clock import Clock

        self.app = app
        Clock.schedule_interval(self.tick, 0.1)

    def save(self) -> None:
        (self.out / "result.json").write_text(
            json.dumps({"done": self.index, "records": self.records, "error": self.error}, ensure_ascii=False)
        )

    def record(self, label: str) -> None:
        s: flow.State = self.app.state
        self.records[label] = {
            "screen": s.screen,
            "lang": s.lang,
            "role": s.role,
            "code": s.code,
            "error": s.error,
            "error_role": s.error_role,
            "detail": s.detail,
            "hardware": list(s.hardware),
            "ready": s.ready,
            "tests": [list(t) for t in s.tests],
            "device": s.device,
            "focused": s.focused,
            "texts": [w.text for w in self.app.root_box.walk() if hasattr(w, "text") and isinstance(w.text, str)],
        }

    def touch(self, target: str) -> None:
        from kivy.tests.common import UnitTestTouch

        widget = self.app.targets.get(target)
        if widget is None:
            raise RuntimeError(f"no target {target!r} on {self.app.state.screen}; have {sorted(self.app.targets)}")
        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        touch.touch_up()

    def tick(self, _dt: float) -> bool:
        if self.error:
            return False
        try:
            return self._tick()
        except Exception as err:  # noqa: BLE001 - written down for the test, then stop
            self.error = f"step {self.index}: {type(err).__name__}: {err}"
            self.save()
            self.app.stop()
            return False

    def _tick(self) -> bool:
        if self.index >= len(self.steps):
            return False
        step = self.steps[self.index]
        if "wait" in step:
            if not self.deadline:
                self.deadline = time.monotonic() + float(step.get("timeout", 20))
            if self.app.state.screen != step["wait"]:
                if time.monotonic() > self.deadline:
                    self.record("timeout")
                    raise RuntimeError(f"waited for {step['wait']!r}, still on {self.app.state.screen!r}")
                return True
            self.deadline = 0.0
        elif "wait_error" in step:
            if not self.deadline:
                self.deadline = time.monotonic() + float(step.get("timeout", 30))
            state = self.app.state
            if not (state.screen == "code" and state.error == step["wait_error"]):
                if time.monotonic() > self.deadline:
                    self.record("timeout")
                    raise RuntimeError(f"waited for error {step['wait_error']!r}: {state.screen} {state.error}")
                return True
            self.deadline = 0.0
        elif "touch" in step:
            self.touch(step["touch"])
        elif "key" in step:
            self.app.send(flow.Event("key", step["key"]))
        elif "type" in step:
            for char in step["type"]:
                self.app.send(flow.Event("type", char))
        elif "clear" in step:
            for _ in range(len(self.app.state.code)):
                self.app.send(flow.Event("key", "BACK"))  # BACK on the code screen deletes a character
        elif "shot" in step:
            from kivy.core.window import Window

            Window.screenshot(str(self.out / step["shot"]))
            produced = sorted(self.out.glob(Path(step["shot"]).stem + "*.png"), key=lambda p: p.stat().st_mtime)
            if produced and produced[-1].name != step["shot"]:
                produced[-1].rename(self.out / step["shot"])
        elif "write" in step:
            Path(step["write"][0]).write_text(step["write"][1], encoding="utf-8")
        elif "record" in step:
            self.record(step["record"])
        self.index += 1
        self.save()
        return True


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--script", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    known, rest = parser.parse_known_args()
    known.out.mkdir(parents=True, exist_ok=True)
    runner = Runner(json.loads(known.script.read_text(encoding="utf-8")), known.out)
    args = setup_app._parser().parse_args(rest)
    return setup_app.run_screen(args, on_built=runner.attach)


if __name__ == "__main__":
    sys.exit(main())
