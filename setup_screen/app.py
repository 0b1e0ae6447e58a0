"""madoguchi-setup: the first-boot setup screen of a lobby device (touch, keypad or keyboard).

    madoguchi-setup [--config /etc/madoguchi/device.toml] [--start systemd|exec|none]

Started by madoguchi-setup.service on a device that has no identity yet: choose the role,
watch detection, see the hardware and the profile, enter the pairing code the staff console
shows, and the device pairs, tests itself (a test ticket on a dispenser) and starts its app.
The steps are setup_screen/flow.py; the work is firmware_profiles/pairing_flow.py, the same as
``madoguchi-provision pair``.
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common.cli import OneLineParser, UsageError, fail, setup_logging
from firmware_profiles.errors import ProfileError
from setup_screen import flow, strings

log = logging.getLogger(__name__)

PROG = "madoguchi-setup"
DEFAULT_CONFIG = Path("/etc/madoguchi/device.toml")
DEFAULT_IDENTITY_DIR = Path("/var/lib/madoguchi/identity")
DEFAULT_DATA_DIR = Path("/var/lib/madoguchi/data")
# Kivy's home for the setup screen, apart from the app's data: the setup runs as root, and the
# app's user must not find root-owned folders in its own data directory afterwards.
DEFAULT_HOME = Path("/var/lib/madoguchi/setup")
NATIVE = {"ja": "日本語", "en": "English", "zh_CN": "中文", "ko": "한국어", "vi": "Tiếng Việt", "pt": "Português"}
ROLE_TEXT = {"dispenser": strings.ROLE_DISPENSER, "board": strings.ROLE_BOARD, "kiosk": strings.ROLE_KIOSK}
ERRORS = {
    "typo": strings.ERR_TYPO,
    "wrong": strings.ERR_WRONG,
    "used": strings.ERR_USED,
    "expired": strings.ERR_EXPIRED,
    "role": strings.ERR_ROLE,
    "unreachable": strings.ERR_UNREACHABLE,
    "too_many": strings.ERR_TOO_MANY,
    "other": strings.ERR_OTHER,
}
KIVY_KEYS = {273: "UP", 274: "DOWN", 276: "LEFT", 275: "RIGHT", 13: "OK", 271: "OK", 27: "BACK", 8: "BACK"}


class Worker:
    """Carries out the flow's effects on a thread and reports events back to the screen."""

    def __init__(self, args: Any, report: Callable[[flow.Event], None]) -> None:
        self.args = args
        self.report = report
        self.plan: Any = None

    def run(self, effect: flow.Effect) -> None:
        """Carry ``effect`` out in the background (start: on the caller's thread)."""
        if effect.kind == "start":
            return
        threading.Thread(target=self._guarded, args=(effect,), name=f"setup-{effect.kind}", daemon=True).start()

    def _guarded(self, effect: flow.Effect) -> None:
        try:
            getattr(self, f"_{effect.kind}")(effect)
        except Exception as err:  # the screen must always get an answer
            log.exception("setup: %s failed", effect.kind)
            if effect.kind == "pair":
                self.report(flow.Event("refused", str(err)))
            elif effect.kind == "selftest":
                self.report(flow.Event("tested", f"FAIL setup: {err}"))
                self.report(flow.Event("selftest_done", ok=False))
            else:
                self.report(flow.Event("detected", "", (f"detection failed: {err}",), ok=False))

    def _detect(self, effect: flow.Effect) -> None:
        from firmware_profiles.cli import load_scan
        from firmware_profiles.loader import load_catalog
        from firmware_profiles.pairing_flow import plan

        self.report(flow.Event("progress", "usb"))
        source = self.args.scan_file or os.environ.get("MADOGUCHI_PROVISION_SCAN")
        if source:
            usb, ports = load_scan(Path(source))
        else:
            from firmware_profiles.scan import scan_serial, scan_usb

            try:
                usb = scan_usb()
            except ProfileError:
                usb = []
            ports = scan_serial()
        self.report(flow.Event("progress", "serial"))
        self.report(flow.Event("progress", "profiles"))
        planned = plan(load_catalog(), effect.role, usb, ports)
        self.plan = planned
        marks = {"found": "✓", "missing": "×", "ambiguous": "?"}
        lines = tuple(f"{marks.get(f.status.value, '・')} {f.slot}: {f.message}" for f in planned.report.findings)
        slots = {f.slot for f in planned.report.findings}
        lines += tuple(p for p in planned.problems if p.split(":", 1)[0] not in slots)  # e.g. a profile error
        short = planned.profile_hash[7:19] if planned.resolved is not None else ""
        self.report(flow.Event("detected", short, lines, ok=planned.resolved is not None))

    def _pair(self, effect: flow.Effect) -> None:
        from firmware_profiles.pairing_flow import default_apt_dir, default_owner, pair_and_configure

        try:
            identity = pair_and_configure(
                self.plan,
                effect.code,
                self.args.config,
                self.args.identity_dir,
                owner=default_owner(),
                apt_dir=default_apt_dir(),
            )
        except ProfileError as err:
            self.report(flow.Event("refused", str(err)))
            return
        self.report(flow.Event("paired", f"{identity.device_id}@{identity.site}"))

    def _selftest(self, effect: flow.Effect) -> None:
        from firmware_profiles.selftest import run_selftest
        from firmware_profiles.status import Verdict, read_device_file

        device = read_device_file(self.args.config)

        def show(line: Any) -> None:
            self.report(flow.Event("tested", f"{line.verdict.value} {line.label}: {line.text}"))

        lines = run_selftest(device, fake_printer=self.args.fake_printer, timeout=10.0, on_line=show)
        self.report(flow.Event("selftest_done", ok=not any(line.verdict is Verdict.FAIL for line in lines)))

    def start(self, role: str) -> None:
        """Start the app (systemd or exec); the setup screen is done."""
        from firmware_profiles.pairing_flow import start_app

        extra = (
            ["--fake-printer", str(self.args.fake_printer)] if self.args.fake_printer and role == "dispenser" else []
        )
        start_app(role, self.args.start, config=self.args.config, data=self.args.data, extra=extra)


def find_keypad(scan_file: Path | None) -> str | None:
    """The tactile keypad's port, if one is plugged in: before the role is chosen the setup
    screen looks for it as a dispenser would (its profile's USB id), so a device with a keypad
    and no touch panel can be set up from the first screen on."""
    from firmware_profiles.cli import load_scan
    from firmware_profiles.detect import Status, detect
    from firmware_profiles.loader import load_catalog

    try:
        source = scan_file or os.environ.get("MADOGUCHI_PROVISION_SCAN")
        if source:
            usb, ports = load_scan(Path(source))
        else:
            from firmware_profiles.scan import scan_serial

            usb, ports = [], scan_serial()
        catalog = load_catalog()
        report = detect(catalog, catalog.role("dispenser"), usb, ports)
    except (ProfileError, UsageError, OSError) as err:
        log.info("setup: no keypad looked for: %s", err)
        return None
    for finding in report.findings:
        if finding.slot == "keypad" and finding.status is Status.FOUND:
            port = finding.overrides.get("keypad.port")
            return str(port) if port else None
    return None


def run_screen(args: Any, on_built: Callable[[Any], None] | None = None) -> int:
    """The Kivy screen until the app started (or the window closed)."""
    from common.screen import configure_kivy, register_fonts

    configure_kivy(
        width=args.width,
        height=args.height,
        fullscreen=not args.windowed,
        kiosk=not args.windowed,
        home=args.home,
    )
    register_fonts()
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.button import Button
    from kivy.uix.gridlayout import GridLayout
    from kivy.uix.label import Label
    from kivy.uix.progressbar import ProgressBar

    events: queue.Queue[flow.Event] = queue.Queue()
    result = {"started": False}

    class SetupApp(App):
        title = "madoguchi setup"

        def build(self) -> Any:
            self.state = flow.State(lang=args.lang)
            self.worker = Worker(args, events.put)
            self.targets: dict[str, Any] = {}
            self.root_box = BoxLayout(orientation="vertical", padding=24, spacing=12)
            Window.clearcolor = (0.97, 0.97, 0.95, 1)
            Window.bind(on_key_down=self._keyboard)
            Clock.schedule_interval(self._drain, 0.05)
            self.draw()
            if on_built is not None:
                on_built(self)
            return self.root_box

        # -- events ----------------------------------------------------------------------------

        def send(self, event: flow.Event) -> None:
            self.state, effect = flow.step(self.state, event)
            if effect is not None and effect.kind == "start":
                Clock.schedule_once(lambda _dt: self._start(effect.role), 1.0)
            elif effect is not None:
                self.worker.run(effect)
            self.draw()

        def _start(self, role: str) -> None:
            result["started"] = True
            self.stop()
            self.worker.start(role)

        def _drain(self, _dt: float) -> None:
            while True:
                try:
                    event = events.get_nowait()
                except queue.Empty:
                    return
                self.send(event)

        def _keyboard(self, _window: Any, key: int, _scancode: int, text: str | None, _mods: Any) -> bool:
            if key in KIVY_KEYS:
                self.send(flow.Event("key", KIVY_KEYS[key]))
            elif text and text.isalnum():
                self.send(flow.Event("type", text))
            return True

        # -- drawing ---------------------------------------------------------------------------

        def t(self, message: str) -> str:
            return strings.gettext_for(self.state.lang)(message)

        def label(self, text: str, size: int = 28, color: tuple[float, ...] = (0.1, 0.1, 0.1, 1), **kw: Any) -> Any:
            widget = Label(text=text, font_size=size, color=color, halign="left", valign="middle", **kw)
            widget.bind(size=lambda w, s: setattr(w, "text_size", (s[0], None)))
            return widget

        def button(self, target: str, text: str, size: int = 30, **kw: Any) -> Any:
            focused = self.state.focused == target
            widget = Button(
                text=text,
                font_size=size,
                background_normal="",
                background_color=(0.05, 0.33, 0.62, 1)
                if focused
                else (0.11, 0.42, 0.18, 1)
                if target == f"lang:{self.state.lang}"  # the language being shown
                else (0.22, 0.29, 0.38, 1),
                color=(1, 1, 1, 1),
                **kw,
            )
            if focused:
                widget.bold = True
            # Long names (Vietnamese, Portuguese) wrap inside the button instead of touching its edges.
            widget.halign, widget.valign = "center", "middle"
            widget.bind(size=lambda w, s: setattr(w, "text_size", (max(0, s[0] - 32), None)))
            widget.bind(on_release=lambda _w: self.send(flow.Event("press", target)))
            self.targets[target] = widget
            return widget

        def draw(self) -> None:
            s = self.state
            box = self.root_box
            box.clear_widgets()
            self.targets = {}
            box.add_widget(self.label(self.t(strings.TITLE), 40, bold=True, size_hint_y=None, height=70))
            getattr(self, f"_draw_{s.screen}")(box)

        def _error(self, box: Any) -> None:
            s = self.state
            if s.error is None:
                return
            role = self.t(ROLE_TEXT.get(s.error_role, strings.ROLE_DISPENSER))
            sentence = self.t(ERRORS[s.error]).format(role=role)
            box.add_widget(self.label(sentence, 30, (0.72, 0.07, 0.07, 1), bold=True, size_hint_y=None, height=60))
            if s.detail:
                box.add_widget(self.label(s.detail, 20, (0.35, 0.35, 0.35, 1), size_hint_y=None, height=50))

        def _draw_role(self, box: Any) -> None:
            box.add_widget(self.label(self.t(strings.CHOOSE_ROLE), 34, size_hint_y=None, height=60))
            roles = BoxLayout(spacing=16)
            for role in flow.ROLES:
                roles.add_widget(self.button(f"role:{role}", self.t(ROLE_TEXT[role]), 34))
            box.add_widget(roles)
            languages = BoxLayout(spacing=8, size_hint_y=None, height=70)
            for code in flow.LANGUAGES:
                languages.add_widget(self.button(f"lang:{code}", NATIVE[code], 24))
            box.add_widget(languages)

        def _draw_detect(self, box: Any) -> None:
            box.add_widget(self.label(self.t(strings.LOOKING), 34, size_hint_y=None, height=60))
            bar = ProgressBar(max=3, value=len(self.state.progress), size_hint_y=None, height=40)
            box.add_widget(bar)
            names = {"usb": strings.USB_DEVICES, "serial": strings.SERIAL_PORTS, "profiles": strings.PROFILES}
            for step_name in self.state.progress:
                what = self.t(names.get(step_name, step_name))
                box.add_widget(self.label("✓ " + self.t(strings.LOOKING_AT).format(what=what), 26))
            box.add_widget(Label())

        def _draw_hardware(self, box: Any) -> None:
            s = self.state
            box.add_widget(self.label(self.t(strings.FOUND_HARDWARE), 34, size_hint_y=None, height=60))
            for line in s.hardware:
                box.add_widget(self.label(line, 22))
            if s.ready:
                box.add_widget(self.label(self.t(strings.PROFILE_CHOSEN).format(profile=s.profile), 26))
            else:
                box.add_widget(self.label(self.t(strings.NOT_READY), 30, (0.72, 0.07, 0.07, 1), bold=True))
            row = BoxLayout(spacing=16, size_hint_y=None, height=90)
            row.add_widget(self.button("back", self.t(strings.BACK)))
            row.add_widget(
                self.button("next" if s.ready else "retry", self.t(strings.NEXT if s.ready else strings.TRY_AGAIN))
            )
            box.add_widget(row)

        def _draw_code(self, box: Any) -> None:
            s = self.state
            box.add_widget(self.label(self.t(strings.ENTER_CODE), 28, size_hint_y=None, height=60))
            shown = s.shown_code or "____-____-____-____-____-____"
            box.add_widget(self.label(shown, 54, (0.05, 0.2, 0.45, 1), bold=True, size_hint_y=None, height=80))
            self._error(box)
            keys = GridLayout(cols=flow.KEY_COLUMNS, spacing=6)
            for key in flow.KEYS:
                keys.add_widget(self.button(f"key:{key}", key, 30))
            box.add_widget(keys)
            row = BoxLayout(spacing=16, size_hint_y=None, height=90)
            row.add_widget(self.button("back", self.t(strings.BACK)))
            row.add_widget(self.button("delete", self.t(strings.DELETE)))
            row.add_widget(self.button("pair", self.t(strings.PAIR)))
            box.add_widget(row)

        def _draw_pairing(self, box: Any) -> None:
            box.add_widget(self.label(self.t(strings.PAIRING), 34))

        def _draw_testing(self, box: Any) -> None:
            s = self.state
            if s.device:
                box.add_widget(self.label(self.t(strings.PAIRED_AS).format(device=s.device, site=s.site), 30))
            box.add_widget(self.label(self.t(strings.TESTING), 30, size_hint_y=None, height=50))
            for verdict, line in s.tests:
                color = {"PASS": (0.05, 0.45, 0.15, 1), "WARN": (0.6, 0.4, 0, 1)}.get(verdict, (0.72, 0.07, 0.07, 1))
                box.add_widget(self.label(f"{verdict}  {line}", 20, color))
            box.add_widget(Label())

        def _draw_test_failed(self, box: Any) -> None:
            self._draw_testing(box)
            box.add_widget(self.label(self.t(strings.TEST_FAILED), 30, (0.72, 0.07, 0.07, 1), bold=True))
            box.add_widget(self.button("retry", self.t(strings.TRY_AGAIN), size_hint_y=None, height=90))

        def _draw_ready(self, box: Any) -> None:
            self._draw_testing(box)
            box.add_widget(
                self.label(self.t(strings.READY).format(device=self.state.device), 40, (0.05, 0.45, 0.15, 1), bold=True)
            )

    keypad = None
    app = SetupApp()
    port = args.keypad or find_keypad(args.scan_file)
    if port:
        from drivers.keypad import SerialKeypad

        keypad = SerialKeypad(port, on_key=lambda event: events.put(flow.Event("key", event.key)))
        keypad.start()
    try:
        app.run()
    finally:
        if keypad is not None:
            keypad.close()
    return 0 if result["started"] else 1


def _parser() -> OneLineParser:
    parser = OneLineParser(prog=PROG, description="The first-boot setup screen: role, hardware, pairing code.")
    parser.add_argument(
        "--config", type=Path, default=Path(os.environ.get("MADOGUCHI_DEVICE_CONFIG") or DEFAULT_CONFIG)
    )
    parser.add_argument("--identity-dir", type=Path, default=DEFAULT_IDENTITY_DIR)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("MADOGUCHI_DATA") or DEFAULT_DATA_DIR))
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="Kivy's home for this screen")
    parser.add_argument("--lang", default="ja", choices=flow.LANGUAGES, help="the first language shown (default: ja)")
    parser.add_argument("--keypad", help="the tactile keypad's serial port (default: the one detection finds, if any)")
    parser.add_argument("--fake-printer", type=Path, metavar="DIR", help="the simulated printer (tests, demo)")
    parser.add_argument(
        "--start", choices=["systemd", "exec", "none"], default="systemd", help="how the app starts once paired"
    )
    parser.add_argument("--windowed", action="store_true", help="a window instead of the full screen")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--scan-file", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of madoguchi-setup."""
    args = _parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        return run_screen(args)
    except (UsageError, ProfileError) as err:
        fail(PROG, str(err))
    return 1


if __name__ == "__main__":
    sys.exit(main())
