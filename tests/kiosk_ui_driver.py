"""Drive the real kiosk app (kiosk.app) under Xvfb from a script of steps.

Run by tests/test_kiosk_ui.py and scripts/kiosk_screenshots.py as its own process (Kivy owns
the process: one app, one window). It wires a real KioskRuntime (a real journal on disk, the
JPKI client over a simulated card, the behavioural cash box drivers.cash.FakeCashBox) to the
in-memory office and printers of kiosk.ui_fakes, builds the app with the demo's simulator
strip, performs the steps with real touch events at the widgets' centres and writes what it
saw to OUT/result.json:

    {"wait": "pin", "timeout": 10}     wait until the screen shows this step (or start variant)
    {"touch": "lang:ja"}               touch a widget by its button id (also "sim:coin:100",
                                       "sim:note:1000", "sim:card_in:SIM-0001", "sim:card_out")
    {"shot": "kiosk-pin-ja.png"}       screenshot of the whole window into OUT
    {"record": "label"}                record the screen model
    {"office": false}                  the office stops (true: comes back) answering
    {"preview": [["CardInserted", {}]]}   draw the state these events lead to from the live
                                       state (the pure flow, nothing executed) and hold it:
                                       steps that pass in a blink get their screenshot too;
                                       "$request" and "$fee" fill in the live session's values
    {"preview_language": "en"}         the live state drawn in another language (the start
                                       screens: a kiosk whose first language is that one)
    {"release": true}                  back to the live screen
    {"sim": "coin:100"}                the simulator's action without touching its strip
    {"sleep": 0.5}                     let time pass
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common.screen import configure_kivy
from drivers.cash import FakeCashBox
from drivers.jpki import JpkiCard
from drivers.jpki_sim import SimulatedCardReader, SimulatedJpkiCa
from drivers.speech import RecordingSpeaker
from kiosk import flow
from kiosk.journal import KioskJournal
from kiosk.runtime import KioskRuntime, RuntimeSettings
from kiosk.ui_fakes import DemoOffice, DirDocumentPrinter, PlainRenderer, RecordingReceipts
from sync import messages

TOKYO = ZoneInfo("Asia/Tokyo")


class Runner:
    """Performs the steps on Kivy's thread, one per frame-ish."""

    def __init__(self, steps: list[dict[str, Any]], out: Path, parts: dict[str, Any]) -> None:
        self.steps = steps
        self.out = out
        self.parts = parts
        self.result: dict[str, Any] = {"records": [], "steps": [], "errors": []}
        self.index = 0
        self.deadline = 0.0

    def start(self, app: Any) -> None:
        from kivy.clock import Clock

        self.app, self.clock = app, Clock
        runtime = self.parts["runtime"]
        runtime.subscribe(lambda state, effects: self._seen(state.step.value))
        Clock.schedule_once(self.next, 0.5)

    def _seen(self, step: str) -> None:
        if not self.result["steps"] or self.result["steps"][-1] != step:
            self.result["steps"].append(step)

    def laid_out(self) -> bool:
        return bool(self.clock.frames >= self.app.drawn_frame + 2)

    def next(self, _dt: float = 0) -> None:
        try:
            if self.index >= len(self.steps):
                self.finish()
                return
            delay = self.run(self.steps[self.index])
            if delay is None:
                self.clock.schedule_once(self.next, 1 / 60)
                return
            self.index += 1
            self.deadline = 0.0
            self.clock.schedule_once(self.next, delay)
        except Exception as err:  # noqa: BLE001 - reported in result.json; the test fails on it
            self.result["errors"].append(f"step {self.index} {self.steps[self.index]}: {type(err).__name__}: {err}")
            self.finish()

    def touch(self, ident: str) -> None:
        from kivy.tests.common import UnitTestTouch

        widget = self.app.targets.get(ident)
        if widget is None:
            name = self.app.shown.name if self.app.shown else "?"
            raise RuntimeError(f"no widget {ident!r} on screen {name}; have {sorted(self.app.targets)}")
        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        touch.touch_up()

    def run(self, step: dict[str, Any]) -> float | None:
        runtime = self.parts["runtime"]
        if "wait" in step:
            if self.deadline == 0.0:
                self.deadline = time.monotonic() + float(step.get("timeout", 10))
            shown = self.app.shown
            if shown is not None and shown.name == step["wait"] and self.laid_out():
                return 0.3  # let the frame draw
            if time.monotonic() > self.deadline:
                raise RuntimeError(f"screen {step['wait']!r} did not come (on {shown.name if shown else None!r})")
            return None
        if "touch" in step:
            if not self.laid_out():
                return None
            self.touch(step["touch"])
            return float(step.get("pause", 0.35))
        if "shot" in step:
            if not self.laid_out():
                return None
            self.app.root_box.export_to_png(str(self.out / step["shot"]))
            return 0.1
        if "record" in step:
            self.result["records"].append({"label": step["record"], **describe(self.app.shown)})
            return 0.05
        if "office" in step:
            self.parts["office"].is_online = bool(step["office"])
            return 0.5
        if "preview" in step:
            state = runtime.state
            effects: tuple[Any, ...] = ()
            now = runtime.now_ms()
            for name, fields in step["preview"]:
                fields = dict(fields)
                s = state.session
                for key, value in list(fields.items()):
                    if value == "$request" and s is not None:
                        fields[key] = s.request_id
                    elif value == "$fee" and s is not None:
                        fields[key] = s.fee
                    elif value == "$copies" and s is not None:
                        fields[key] = s.copies
                if fields.pop("now_ms", None) == "$warn" and state.deadline_ms is not None:
                    now = state.deadline_ms - 10_000  # inside the warning time before the timeout
                state, effects = flow.transition(state, getattr(flow, name)(now_ms=now, **fields))
            self.app.preview(state, effects, now)
            return 0.4
        if "preview_language" in step:  # the start screens of a kiosk whose first language is this
            self.app.preview(replace(runtime.state, language=step["preview_language"]))
            return 0.4
        if "release" in step:
            self.app.release()
            return 0.3
        if "sim" in step:  # the simulator without its strip on screen (screenshots)
            self.app.simulate(f"sim:{step['sim']}")
            return float(step.get("pause", 0.35))
        if "sleep" in step:
            return float(step["sleep"])
        raise RuntimeError(f"unknown step {step}")

    def finish(self) -> None:
        p = self.parts
        cash, office = p["cash"], p["office"]
        self.result.update(
            {
                "spoken": [[u.text, u.language] for u in p["speaker"].spoken],
                "receipts": [
                    {"fee": r.fee, "paid": r.paid, "change": r.change, "copies": r.copies, "lang": lang}
                    for r, lang in p["receipts"].receipts
                ],
                "printed": [[path.name, copies] for path, copies in p["printer"].jobs],
                "cashbox": list(cash.cashbox),
                "dispensed": list(cash.dispensed),
                "returned": list(cash.returned),
                "office_calls": list(office.calls),
                "reports": [r.get("kind") for r in office.reports],
                "journal": [r["kind"] for r in p["journal"].records()],
            }
        )
        (self.out / "result.json").write_text(json.dumps(self.result, ensure_ascii=False, indent=1), encoding="utf-8")
        self.app.stop()


def describe(screen: Any) -> dict[str, Any]:
    """The parts of a screen model a test looks at."""
    if screen is None:
        return {"name": None}
    return {
        "name": screen.name,
        "language": screen.language,
        "title": screen.title,
        "texts": list(screen.texts()),
        "buttons": [b.id for b in screen.buttons()],
        "pin_entered": screen.pin.entered if screen.pin else None,
        "tries": screen.pin.tries_left if screen.pin else None,
        "amounts": [screen.amounts.fee, screen.amounts.paid, screen.amounts.due] if screen.amounts else None,
        "notice": screen.notice,
        "outcome": screen.outcome,
    }


def receipt_printer(png_dir: Path) -> Any:
    """kiosk.printers' receipt printer on the dispenser's fake ESC/POS printer, which writes
    each receipt as it would come out."""
    from drivers.escpos_printer import open_printer
    from firmware_profiles.packaged import printer_model_named
    from kiosk.printers import EscposReceiptPrinter

    config = {"model": "TM-T20III", "backend": "fake", "fake": {"png_dir": str(png_dir)}}
    printer = open_printer(config, model=printer_model_named("TM-T20III"))
    return EscposReceiptPrinter(printer, device_id="kiosk-1", office_name=lambda: "まどぐち町役場")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--script", type=Path, required=True)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=800)
    p.add_argument("--wall", default="2026-06-10T10:00", help="the app's wall clock (Tokyo time), for the hours")
    p.add_argument("--hours", default="06:30-23:00", help="the kiosk's hours in the office's config")
    p.add_argument("--offline", action="store_true", help="the office is unreachable from the start")
    p.add_argument("--auth-delay", type=float, default=0.0)
    p.add_argument("--print-delay", type=float, default=0.0)
    p.add_argument("--no-sim", action="store_true", help="no simulator strip (screenshots)")
    p.add_argument(
        "--receipt-png",
        type=Path,
        help="print receipts on kiosk.printers' receipt printer (a fake TM-T20III) and write each as <n>.png here",
    )
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    steps = json.loads(a.script.read_text(encoding="utf-8"))
    actions = [str(s.get("touch", "")) for s in steps] + [f"sim:{s['sim']}" for s in steps if "sim" in s]
    serials = sorted({x.rsplit(":", 1)[1] for x in actions if x.startswith("sim:card_in:")})
    configure_kivy(width=a.width, height=a.height, fullscreen=False, kiosk=False, home=a.data / "kivy", maxfps=30)

    ca = SimulatedJpkiCa.open(a.data / "ca")
    cards = {serial: ca.demo_card(serial) for serial in serials}
    reader = SimulatedCardReader()
    cash = FakeCashBox()
    office = DemoOffice(ca.certificate_der, delay_s={"authenticate": a.auth_delay})
    office.is_online = not a.offline
    printer = DirDocumentPrinter(a.data / "printed", delay_s=a.print_delay)
    receipts = RecordingReceipts(receipt_printer(a.receipt_png) if a.receipt_png else None)
    journal = KioskJournal(a.data / "journal")
    runtime = KioskRuntime(
        config=flow.FlowConfig(device_id="kiosk-ui"),
        journal=journal,
        cash=cash,
        reader=reader,
        open_card=JpkiCard,
        office=office,
        printer=printer,
        renderer=PlainRenderer(),
        receipts=receipts,
        settings=RuntimeSettings(office_timeout_s=3.0, issue_retries=0, poll_interval_s=0.05),
    )
    speaker = RecordingSpeaker()
    opening, closing = a.hours.split("-")
    wall = int(datetime.fromisoformat(a.wall).replace(tzinfo=TOKYO).timestamp() * 1000)
    started = time.monotonic()
    office_doc = messages.OfficeConfig(
        version=1,
        sent_ms=wall,
        office_name="まどぐち町役場",
        timezone="Asia/Tokyo",
        kiosk=messages.Hours(
            open=opening, close=closing, closed_dates=("12-29", "12-30", "12-31", "01-01", "01-02", "01-03")
        ),
        stations=(),
        categories=(),
    )

    def insert_card(serial: str = "SIM-0001") -> None:
        reader.insert(cards[serial])

    from kiosk.app import build_kiosk_app

    app = build_kiosk_app(
        runtime,
        {
            "office_config": office_doc,
            "speaker": speaker,
            # The given wall time, moving on with the run (a countdown on screen needs it to).
            "wall_ms": lambda: wall + int((time.monotonic() - started) * 1000),
            "run_runtime": True,
            "sim_panel": not a.no_sim,
            "insert_coin": cash.insert_coin,
            "insert_note": cash.insert_note,
            "insert_card": insert_card,
            "pull_card": reader.pull,
            "demo_cards": serials,
        },
    )
    parts = {
        "runtime": runtime,
        "cash": cash,
        "office": office,
        "printer": printer,
        "receipts": receipts,
        "speaker": speaker,
        "journal": journal,
        "reader": reader,
    }
    runner = Runner(steps, a.out, parts)
    from kivy.clock import Clock

    Clock.schedule_once(lambda dt: runner.start(app), 0.5)
    try:
        app.run()
    finally:
        runtime.stop()
        journal.close()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    sys.exit(main())
