"""``madoguchi-dispenser ui``: the touch-screen dispenser, wired to its devices and the office.

The device configuration (TOML) names the hardware; nothing is guessed and no fake stands in
for missing hardware unless the configuration (or --fake-printer) asks for it:

    [display]
    width = 1280            # the window or screen size in pixels
    height = 800
    fullscreen = true
    orientation = "landscape"   # or "portrait" (two columns of purposes)
    maxfps = 30             # a cap keeps a Pi cool; the screen changes only on a touch

    [printer]               # see drivers.escpos_printer.open_printer
    model = "TM-T20III"
    backend = "usb"
    usb = { vendor = 0x04b8, product = 0x0e28, timeout_ms = 5000 }

    [keypad]                # optional: the tactile keypad (docs/keypad-protocol.md)
    port = "/dev/ttyACM0"

    [speech]                # optional: "openjtalk", "espeak", "none"
    backend = "openjtalk"
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.cli import UsageError, read_device_config
from sync.agent import DeviceAgent

log = logging.getLogger(__name__)

PRINTER_CHECK_S = 3.0  # how often a held ticket's printer is looked at again

KNOWN = {"display", "printer", "keypad", "speech"}
KNOWN_DISPLAY = {"width", "height", "fullscreen", "orientation", "maxfps"}


@dataclass(frozen=True)
class DeviceConfig:
    """A dispenser's hardware, validated."""

    width: int = 1280
    height: int = 800
    fullscreen: bool = False
    orientation: str = "landscape"
    maxfps: int = 30
    printer: Mapping[str, Any] = field(default_factory=dict)
    keypad: Mapping[str, Any] = field(default_factory=dict)
    speech: Mapping[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> int:
        """Purposes per row: three across a landscape screen, two down a portrait one."""
        return 2 if self.orientation == "portrait" else 3


def load_device_config(path: Path | None) -> DeviceConfig:
    """Read and check a device configuration; UsageError names the bad key and the fix."""
    if path is None:
        return DeviceConfig()
    doc = read_device_config(path, KNOWN)
    display = doc.get("display", {})
    bad = sorted(set(display) - KNOWN_DISPLAY)
    if bad:
        raise UsageError(f"{path}: display.{bad[0]}: unknown key; allowed: {', '.join(sorted(KNOWN_DISPLAY))}")
    width, height = display.get("width", 1280), display.get("height", 800)
    for key, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int) or not 320 <= value <= 7680:
            raise UsageError(f"{path}: display.{key}: expected pixels from 320 to 7680, got {value!r}")
    orientation = display.get("orientation", "landscape" if width >= height else "portrait")
    if orientation not in ("landscape", "portrait"):
        raise UsageError(f'{path}: display.orientation: expected "landscape" or "portrait", got {orientation!r}')
    fullscreen = display.get("fullscreen", False)
    if not isinstance(fullscreen, bool):
        raise UsageError(f"{path}: display.fullscreen: expected true or false")
    maxfps = display.get("maxfps", 30)
    if isinstance(maxfps, bool) or not isinstance(maxfps, int) or not 0 <= maxfps <= 120:
        raise UsageError(
            f"{path}: display.maxfps: expected frames per second from 1 to 120 (0: no cap), got {maxfps!r}"
        )
    sections = {name: doc.get(name, {}) for name in ("printer", "keypad", "speech")}
    return DeviceConfig(width, height, fullscreen, orientation, maxfps, **sections)


def run_ui(
    args: Any,
    agent: DeviceAgent,
    dispenser_factory: Callable[[Any], Any],
    on_started: Callable[[Any, Any, Any], None] | None = None,
) -> int:
    """Start the touch screen: printer, agent, presenter, keypad and speech, then Kivy.

    ``on_started(app, presenter, dispenser)`` runs on Kivy's thread once the window is up (the
    tests drive the real app through it)."""
    from common.screen import configure_kivy
    from ticket_dispenser.app import background, build_app
    from ticket_dispenser.presenter import Presenter, context_from

    device = load_device_config(args.device_config)
    printer = _printer(args, device)
    dispenser = dispenser_factory(printer)
    configure_kivy(
        width=device.width,
        height=device.height,
        fullscreen=device.fullscreen and not args.windowed,
        kiosk=not args.windowed,
        home=agent.config.data_dir / "kivy",
        maxfps=device.maxfps,
    )
    speaker = _speaker(device)
    presenter = Presenter(
        dispenser,
        context_from(agent),
        speak=_speech(speaker),
        run=background,
        columns=device.columns,
    )
    from kivy.clock import Clock

    agent.on_document_changed = lambda name, doc: Clock.schedule_once(lambda dt: presenter.refresh())
    agent.start()
    stop = threading.Event()
    monitor = threading.Thread(target=_watch_printer, args=(dispenser, stop), name="printer-monitor", daemon=True)
    monitor.start()
    keypad = _keypad(device, lambda key: Clock.schedule_once(lambda dt: presenter.key(key)))

    def shutdown() -> None:
        if stop.is_set():
            return
        stop.set()
        monitor.join(timeout=PRINTER_CHECK_S + 1)
        dispenser.close()
        if keypad is not None:
            keypad.close()
        if speaker is not None:
            speaker.close()

    config = agent.document("office_config")
    app = build_app(presenter, office_name=config.office_name if config is not None else "", on_stop=shutdown)
    # systemd stops a service with SIGTERM: close the window cleanly so the agent says goodbye.
    signal.signal(signal.SIGTERM, lambda *_: Clock.schedule_once(lambda dt: app.stop()))
    if on_started is not None:
        Clock.schedule_once(lambda dt: on_started(app, presenter, dispenser), 0.5)
    from common.watchdog import feed_from_kivy

    feed_from_kivy(Clock)
    app.run()
    shutdown()
    return 0


def _watch_printer(dispenser: Any, stop: threading.Event) -> None:
    """Look at the printer every few seconds: reports changes and reprints held tickets."""
    while not stop.wait(PRINTER_CHECK_S):
        try:
            dispenser.check_printer()
        except Exception:
            log.exception("printer check failed")


def _printer(args: Any, device: DeviceConfig) -> Any:
    from drivers.escpos_printer import PrinterConfigError, open_printer

    config: Mapping[str, Any] = device.printer
    if args.fake_printer is not None:
        # Asked for by name (demo, screenshots): a behavioural fake writing each ticket as PNG.
        config = {
            "model": str(device.printer.get("model", "TM-T20III")),
            "backend": "fake",
            "fake": {"png_dir": str(args.fake_printer), "keep": 20},
        }
    if not config:
        raise UsageError("no [printer] in the device configuration (--device-config), and no --fake-printer")
    try:
        return open_printer(config)
    except PrinterConfigError as err:
        raise UsageError(str(err)) from err


def _speaker(device: DeviceConfig) -> Any:
    backend = str(device.speech.get("backend", "none"))
    if backend == "none":
        return None
    from drivers import speech

    try:
        return speech.make_speaker(backend)
    except speech.SpeechError as err:
        raise UsageError(f"speech.backend: {err}") from err


def _speech(speaker: Any) -> Callable[[str, Any, str], None]:
    """The presenter says what to announce; the speech module words it (numbers read right)."""
    if speaker is None:
        return lambda kind, value, language: None
    from drivers.speech import announce_focus, announce_ticket

    def speak(kind: str, value: Any, language: str) -> None:
        text = announce_ticket(int(value), language) if kind == "ticket" else announce_focus(str(value), language)
        speaker.say(text, language)

    return speak


def _keypad(device: DeviceConfig, on_key: Callable[[str], None]) -> Any:
    port = device.keypad.get("port")
    if not port:
        return None
    from drivers.keypad import SerialKeypad

    keypad = SerialKeypad(str(port), on_key=lambda event: on_key(event.key))
    keypad.start()
    return keypad
