"""Drive the real dispenser app (madoguchi-dispenser ui) under Xvfb from a script of steps.

Run by tests/test_dispenser_ui.py as its own process (Kivy owns the process: one app, one
window). It starts the app exactly as the command does (ticket_dispenser.ui.run_ui), with the
behavioural fake printer, then performs the steps with real touch events at the widgets'
centres and writes what it saw to OUT/result.json:

    {"touch": "purpose:tax"}          touch a widget by its target name
    {"key": "OK"}                     a keypad key (through the presenter, as the keypad does)
    {"keypad": "OK"}                  a key pressed on the fake serial keypad (--keypad): the
                                      real driver reads it from a pty, like a USB keypad
    {"wait": "result", "timeout": 10} wait for a screen
    {"shot": "start-ja.png"}          screenshot of the whole window into OUT
    {"printer": "set_paper", "args": [0]}   script the fake printer
    {"check_printer": true}           run the printer check now (the app does it every 3 s)
    {"record": "label"}               record the presenter's state
    {"ticket_png": "ticket-en.png"}   copy the last printed ticket (decoded from its bytes) into OUT
    {"office_offline": true}          publish the office's retained offline status (its last will)
    {"presses": 1000, "purposes": ["tax"]}  touch (and confirm), wait for the result, back - N
                                      times, purposes in turn; RSS recorded
    {"language": "en"}                touch a language button
    {"disk_full": true}               no file of this process may grow any more (RLIMIT_FSIZE:
                                      the store's writes fail as on a full disk); false: as before
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from sync.agent import AgentConfig, DeviceAgent
from sync.link import BrokerAddress
from ticket_dispenser.device import Dispenser
from ticket_dispenser.ui import run_ui


def rss_mb() -> float:
    """This process's resident memory."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Runner:
    """Performs the steps one per frame-ish, on Kivy's thread."""

    def __init__(self, steps: list[dict[str, Any]], out: Path) -> None:
        self.steps = steps
        self.out = out
        self.result: dict[str, Any] = {"records": [], "screens": [], "errors": []}
        self.fsize_limit: int | None = None  # the file size limit before a disk_full step

    def start(self, app: Any, presenter: Any, dispenser: Any) -> None:
        from kivy.clock import Clock

        self.app, self.presenter, self.dispenser = app, presenter, dispenser
        self.clock = Clock
        presenter.subscribe(lambda s: self.result["screens"].append(s.screen))
        self.index = 0
        self.deadline = 0.0
        Clock.schedule_once(self.next, 0.3)

    def laid_out(self) -> bool:
        """True once a frame has passed since the screen was drawn (widgets have positions)."""
        return self.clock.frames >= self.app.drawn_frame + 2

    def touch(self, ident: str) -> None:
        from kivy.tests.common import UnitTestTouch

        widget = self.app.targets.get(ident)
        if widget is None:
            raise RuntimeError(
                f"no widget {ident!r} on screen {self.presenter.state.screen}; have {sorted(self.app.targets)}"
            )
        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        touch.touch_up()

    def next(self, _dt: float = 0) -> None:
        try:
            if self.index >= len(self.steps):
                self.finish()
                return
            step = self.steps[self.index]
            delay = self.run(step)
            if delay is None:  # waiting: try again on the next frame
                # 0 is Kivy's "next frame". A fixed 1/120 s also waited between frames that
                # had already passed: ~8 ms twice a press, a sixth of the thousand-press run.
                self.clock.schedule_once(self.next, 0)
                return
            self.index += 1
            self.deadline = 0.0
            self.clock.schedule_once(self.next, delay)
        except Exception as err:  # noqa: BLE001 - reported in result.json, the test fails on it
            self.result["errors"].append(f"step {self.index} {self.steps[self.index]}: {type(err).__name__}: {err}")
            self.finish()

    def run(self, step: dict[str, Any]) -> float | None:
        if "touch" in step or "language" in step:
            if not self.laid_out():
                return None
            self.touch(step["touch"] if "touch" in step else f"lang:{step['language']}")
            return 0.25
        if "key" in step:
            self.presenter.key(step["key"])
            return 0.2
        if "keypad" in step:
            self.keypad.press(step["keypad"])
            return 0.4
        if "wait" in step:
            if self.deadline == 0.0:
                self.deadline = time.monotonic() + float(step.get("timeout", 10))
            if self.presenter.state.screen == step["wait"]:
                return 0.3  # let the frame draw
            if time.monotonic() > self.deadline:
                raise RuntimeError(f"screen {step['wait']!r} did not come (on {self.presenter.state.screen!r})")
            return None
        if "disk_full" in step:
            import resource

            soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
            if step["disk_full"]:
                self.fsize_limit = soft
                resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))
            elif self.fsize_limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (self.fsize_limit, hard))
                self.fsize_limit = None
            return 0.05
        if "shot" in step:
            self.app.root_box.export_to_png(str(self.out / step["shot"]))
            return 0.1
        if "printer" in step:
            getattr(self.dispenser.printer.transport, step["printer"])(*step.get("args", []))
            return 0.05
        if "check_printer" in step:
            status = self.dispenser.check_printer()
            self.result["records"].append({"label": "check_printer", "ok": status.ok, "fault": status.fault})
            return 0.3
        if "ticket_png" in step:  # the last ticket as the fake printer decoded it from its bytes
            fake = self.dispenser.printer.transport
            shutil.copy(fake.png_dir / f"{fake.tickets_total}.png", self.out / step["ticket_png"])
            return 0.05
        if "office_offline" in step:  # what the office's last will says when it dies
            from sync import messages, protocol

            client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
            client.connect(self.broker_host, self.broker_port)
            client.loop_start()
            payload = protocol.encode(messages.OfficeStatus(state="offline", epoch="gone"))
            client.publish(protocol.topic("office_status", "demo-town"), payload, qos=1, retain=True).wait_for_publish(
                5
            )
            client.loop_stop()
            client.disconnect()
            return 1.5
        if "record" in step:
            s = self.presenter.state
            self.result["records"].append(
                {
                    "label": step["record"],
                    "screen": s.screen,
                    "number": s.number,
                    "texts": dict(s.texts),
                    "banner": s.banner,
                    "language": s.language,
                    "pending": self.dispenser.pending_reprints(),
                }
            )
            return 0.05
        if "presses" in step:
            return self.press_loop(step)
        raise RuntimeError(f"unknown step {step}")

    def press_loop(self, step: dict[str, Any]) -> float | None:
        loop = self.result.setdefault("loop", {"done": 0, "numbers": [], "rss_mb": [], "phase": "touch"})
        if loop["done"] == 0 and not loop["rss_mb"]:
            loop["rss_mb"].append(rss_mb())
        if loop["done"] >= int(step["presses"]):
            return 0.1
        state = self.presenter.state
        purposes = step["purposes"]
        if not self.laid_out():
            return None
        targets = self.app.targets  # the drawn screen: it follows the presenter a frame later
        purpose = f"purpose:{purposes[loop['done'] % len(purposes)]}"
        if loop["phase"] == "touch" and state.screen == "start" and purpose in targets:
            self.touch(purpose)
            loop["phase"] = "result"
        elif state.screen in ("numbers_out", "closed"):
            raise RuntimeError(f"press {loop['done'] + 1} ended on {state.screen!r}")
        elif loop["phase"] == "result" and state.screen == "checklist" and "confirm" in targets:
            self.touch("confirm")
        elif loop["phase"] == "result" and state.screen in ("result", "printer_fault") and "back" in targets:
            loop["numbers"].append(state.number)
            self.touch("back")
            loop["phase"] = "touch"
            loop["done"] += 1
            if (
                loop["done"] % int(step.get("rss_every", 1_000_000)) == 0
                or loop["done"] in (100, 500)
                or loop["done"] == int(step["presses"])
            ):
                loop["rss_mb"].append(rss_mb())
        return None if loop["done"] < int(step["presses"]) else 0.0  # None: poll again next frame

    def finish(self) -> None:
        if self.fsize_limit is not None:  # a step failed while the "disk" was full: write the result
            import resource

            resource.setrlimit(resource.RLIMIT_FSIZE, (self.fsize_limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        fake = self.dispenser.printer.transport
        self.result["tickets_printed"] = fake.tickets_total
        self.result["pending"] = self.dispenser.pending_reprints()
        (self.out / "result.json").write_text(json.dumps(self.result, ensure_ascii=False, indent=1), encoding="utf-8")
        self.app.stop()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--broker", required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--script", type=Path, required=True)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=800)
    p.add_argument("--device-id", default="disp-ui")
    p.add_argument("--maxfps", type=int, default=30)
    p.add_argument("--keypad", action="store_true", help="attach a fake serial keypad on a pty")
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    config = a.out / "device.toml"
    text = f"[display]\nwidth = {a.width}\nheight = {a.height}\nmaxfps = {a.maxfps}\n"
    keypad = None
    if a.keypad:
        from drivers.keypad import FakeKeypad

        keypad = FakeKeypad(heartbeat_interval=1.0)
        text += f'[keypad]\nport = "{keypad.path}"\n'
    config.write_text(text, encoding="utf-8")
    agent = DeviceAgent(
        AgentConfig(site="demo-town", device_id=a.device_id, role="dispenser", broker_url=a.broker, data_dir=a.data)
    )
    # The office's configuration and lease arrive before the window opens (as on a device
    # that has synced before); the test waits for the office to be online first.
    agent.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (agent.document("lease") and agent.document("office_config")):
        time.sleep(0.05)
    agent.stop()
    agent = DeviceAgent(
        AgentConfig(site="demo-town", device_id=a.device_id, role="dispenser", broker_url=a.broker, data_dir=a.data)
    )
    args = argparse.Namespace(device_config=config, fake_printer=a.out / "printed", windowed=True)
    runner = Runner(json.loads(a.script.read_text(encoding="utf-8")), a.out)
    runner.keypad = keypad
    address = BrokerAddress.parse(a.broker)
    runner.broker_host, runner.broker_port = address.host, address.port
    try:
        return run_ui(args, agent, lambda printer: Dispenser(agent, printer), on_started=runner.start)
    finally:
        agent.stop()


if __name__ == "__main__":
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    sys.exit(main())
