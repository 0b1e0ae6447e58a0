"""``madoguchi-dispenser ui``: the touch-screen dispenser, wired to its devices and the office.

The device configuration (TOML) names the hardware; nothing is guessed and no fake stands in
for missing hardware unless the configuration (or --fake-printer) asks for it:

    [display]
    width = 1280            # the window or screen size in pixels
    height = 800
    fullscreen = true
    orientation = "landscape"   # or "portrait" (two columns of purposes)
    maxfps = 30             # a cap keeps a Pi cool; the screen changes only on a touch

    [printer]               # drivers.printer_model.PrinterConfig
    model = "TM-T20III"
    backend = "usb"
    usb = { vendor = 0x04b8, product = 0x0e28, timeout_ms = 5000 }
    # [printer.facts]       # the model's facts, as madoguchi-provision apply writes them;
                            # without them they are read from the packaged catalog

    [keypad]                # optional: the tactile keypad (docs/keypad-protocol.md)
    port = "/dev/ttyACM0"

    [speech]                # optional: "openjtalk", "espeak", "none"
    backend = "openjtalk"

Each section is a typed model (the display's from common.device_config, the others from their
drivers), read through common.cli.read_device_config: an error names the file, the key and the
fix, in one line.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from common.cli import UsageError, read_device_config
from common.device_config import DeviceSection, TouchDisplay
from common.validation import Invalid
from drivers.keypad import KeypadConfig
from drivers.printer_model import PrinterConfig, PrinterModel, check_printer_config
from drivers.speech import SpeechConfig
from sync.agent import DeviceAgent

log = logging.getLogger(__name__)

PRINTER_CHECK_S = 3.0  # how often a held ticket's printer is looked at again

DispenserDisplay = TouchDisplay
"""The dispenser's ``[display]``: its touch screen (1280x800 unless configured)."""


class DispenserConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A dispenser's device configuration: its screen, ticket printer, keypad and speech (and
    the ``[device]`` section provisioning writes)."""

    device: DeviceSection | None = None
    display: DispenserDisplay = DispenserDisplay()
    printer: PrinterConfig | None = None
    keypad: KeypadConfig = KeypadConfig()
    speech: SpeechConfig = SpeechConfig()

    @property
    def columns(self) -> int:
        """Purposes per row: three across a landscape screen, two down a portrait one."""
        return 2 if self.display.layout == "portrait" else 3


def _check(config: DispenserConfig) -> DispenserConfig:
    if config.printer is not None:
        try:
            check_printer_config(config.printer)
        except Invalid as err:
            raise err.within("printer") from err
    return config


def load_device_config(path: Path | None) -> DispenserConfig:
    """Read and check a device configuration; UsageError names the file, the key and the fix."""
    if path is None:
        return DispenserConfig()
    return read_device_config(path, DispenserConfig, _check)


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
    display = device.display
    configure_kivy(
        width=display.width,
        height=display.height,
        fullscreen=display.fullscreen and not args.windowed,
        kiosk=not args.windowed,
        home=agent.config.data_dir / "kivy",
        maxfps=display.maxfps,
        left=display.left,
        top=display.top,
        scale=display.scale,
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


def _printer(args: Any, device: DispenserConfig) -> Any:
    from drivers.escpos_printer import open_printer
    from drivers.printer_model import FakeSettings, PrinterConfigError
    from firmware_profiles.errors import ProfileError

    config = device.printer
    if args.fake_printer is not None:
        # Asked for by name (demo, screenshots): a behavioural fake writing each ticket as PNG,
        # as the configured model (its facts too, when provisioning wrote them).
        config = PrinterConfig(
            model=config.model if config is not None else "TM-T20III",
            backend="fake",
            facts=config.facts if config is not None else None,
            fake=FakeSettings(png_dir=str(args.fake_printer), keep=20),
        )
    if config is None:
        raise UsageError("no [printer] in the device configuration (--device-config), and no --fake-printer")
    try:
        return open_printer(config, model=_catalog_facts(config, "printer"))
    except (PrinterConfigError, ProfileError) as err:
        raise UsageError(str(err)) from err


def _catalog_facts(config: PrinterConfig, key: str) -> PrinterModel | None:
    """The printer model's facts from the packaged catalog when provisioning wrote none (a
    configuration written by hand), else None: the written facts are used and no profile is
    read at start (docs/architecture.md)."""
    if config.facts is not None:
        return None
    from firmware_profiles.packaged import printer_model_named

    return printer_model_named(config.model, f"{key}.model")


def _speaker(device: DispenserConfig) -> Any:
    backend = device.speech.backend
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


def _keypad(device: DispenserConfig, on_key: Callable[[str], None]) -> Any:
    port = device.keypad.port
    if port is None:
        return None
    from drivers.keypad import SerialKeypad

    keypad = SerialKeypad(str(port), on_key=lambda event: on_key(event.key))
    keypad.start()
    return keypad
