"""madoguchi-board: the lobby train board (Kivy), fed by the office over MQTT.

    madoguchi-board --device-id board-1 [--device-config board.toml] [--windowed]

The device configuration (TOML), all sections optional:

    [display]
    width = 1920
    height = 1080
    fullscreen = true
    power = "vcgencmd"          # none, vcgencmd (Pi), xset: switch the panel off at night
    maxfps = 30                 # frame cap (0: none, for measuring frame times)

    [led_panel]                 # the serial "now serving" panel above the counters
    port = "/dev/serial/by-id/usb-led-panel"
    counters = [1, 2, 3, 4]     # one row per counter, top to bottom

    [speech]
    backend = "openjtalk"       # or espeak, none: the call in Japanese, then English

Each section is a typed model (the display's from common.device_config, the LED panel's and
speech's from their drivers), read through common.cli.read_device_config: an error names the
file, the key and the fix, in one line.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from common.cli import OneLineParser, UsageError, add_common, add_office_key, fail, read_device_config, setup_logging
from common.device_config import BoardDisplay, DeviceSection
from common.validation import Invalid
from drivers.led_panel import LedPanelConfig, check_config
from drivers.speech import SpeechConfig
from sync.agent import AgentConfig, DeviceAgent
from sync.errors import SyncError

if TYPE_CHECKING:
    from display_board.controller import Announce, BoardController
    from display_board.model import Layout
    from drivers.display_power import DisplayPower
    from drivers.led_panel import PanelRow

PROG = "madoguchi-board"


class BoardConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A board's device configuration: its screen, the LED panel above the counters and speech
    (and the ``[device]`` section provisioning writes)."""

    device: DeviceSection | None = None
    display: BoardDisplay = BoardDisplay()
    led_panel: LedPanelConfig = LedPanelConfig()
    speech: SpeechConfig = SpeechConfig()


def _check(config: BoardConfig) -> BoardConfig:
    try:
        check_config(config.led_panel)
    except Invalid as err:
        raise err.within("led_panel") from err
    return config


def _parser() -> OneLineParser:
    p = OneLineParser(prog=PROG, description="The madoguchi lobby train board.")
    add_common(p)
    add_office_key(p)
    p.add_argument("--site", default="demo-town", help="site id (default: %(default)s)")
    p.add_argument("--device-id", required=True, help="this board's id, e.g. board-1")
    p.add_argument("--data", type=Path, help="data directory (default: var/<device-id>)")
    p.add_argument("--device-config", type=Path, help="display, LED panel and speech (TOML)")
    p.add_argument("--windowed", action="store_true", help="a normal window instead of the full screen")
    return p


def load(path: Path | None) -> BoardConfig:
    """The device configuration; UsageError names the file, the key and the fix."""
    if path is None:
        return BoardConfig()
    return read_device_config(path, BoardConfig, _check)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of madoguchi-board."""
    args = _parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        config = load(args.device_config)
        agent = DeviceAgent(
            AgentConfig(
                site=args.site,
                device_id=args.device_id,
                role="board",
                broker_url=args.broker,
                data_dir=args.data or Path("var") / args.device_id,
                office_key=args.office_key,
            )
        )
        return run_board(args, config, agent)
    except (UsageError, SyncError, OSError) as err:
        fail(PROG, str(err))


def run_board(args: Any, config: BoardConfig, agent: DeviceAgent, on_started: Any = None) -> int:
    """Start the board: speech, LED panel, display power, then the Kivy window.

    ``on_started(app, controller)`` runs on Kivy's thread once the window is up (tests)."""
    from common.screen import configure_kivy
    from display_board.app import build_board_app
    from drivers.display_power import open_power

    display = config.display
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
    try:
        power = open_power(display.power)
    except ValueError as err:
        raise UsageError(str(err)) from err
    speaker = _speaker(config.speech)
    panel = _panel(config.led_panel)
    announcer = Announcer(speaker)

    controller = board_controller(
        agent,
        announce=announcer.announce,
        power=power,
        on_counters=panel.apply_counters if panel is not None else None,
    )
    app = build_board_app(controller)
    from kivy.clock import Clock

    def changed(name: str, _doc: Any) -> None:
        # On the agent's thread: redraw on Kivy's at once rather than on the next 1 s tick, so a
        # train moves within a frame of the office's snapshot (Clock.schedule_once is thread-safe).
        if name == "board_snapshot":
            Clock.schedule_once(app.step, 0)

    agent.on_document_changed = changed
    agent.start()

    signal.signal(signal.SIGTERM, lambda *_: Clock.schedule_once(lambda dt: app.stop()))
    if on_started is not None:
        Clock.schedule_once(lambda dt: on_started(app, controller, announcer), 1.0)
    from common.watchdog import feed_from_kivy

    feed_from_kivy(Clock)
    try:
        app.run()
    finally:
        if panel is not None:
            panel.close()
        if speaker is not None:
            speaker.close()
        agent.stop()
    return 0


def board_controller(
    agent: DeviceAgent,
    *,
    announce: Announce | None = None,
    power: DisplayPower | None = None,
    on_counters: Callable[[list[PanelRow]], None] | None = None,
    layout: Layout | None = None,
) -> BoardController:
    """The board's controller on the agent's documents, its staleness in the agent's status.

    The device status says whether the board is stale by the rule the board draws its badge
    by, and goes out at once when that flips (``health_changed``), not at the next interval.
    """
    from display_board.controller import BoardController, Inputs

    def inputs() -> Inputs:
        return Inputs(
            agent.document("board_snapshot"),
            agent.document("queue_snapshot"),
            agent.document("office_config"),
            agent.office_online,
            agent.last_heard_ms,
            agent.now_ms(),
        )

    controller = BoardController(
        inputs,
        announce=announce,
        power=power,
        on_counters=on_counters,
        layout=layout,
        on_stale=lambda _stale: agent.health_changed(),
    )
    agent.status_health = controller.health
    return controller


class Announcer:
    """A new call: the chime, then the call in Japanese and English (always shown on screen too),
    the counter named as the office's configuration names it.

    Sound plays off the UI thread, one call after another; ``chimed`` lists the calls chimed."""

    def __init__(self, speaker: Any) -> None:
        self.speaker = speaker
        self.chimed: list[int] = []
        self._lock = threading.Lock()

    def announce(self, number: int, counter: int, kind: str, names: Mapping[str, str]) -> None:
        """Queue the chime and the voice for a call (``names``: the counter's, per language)."""
        if self.speaker is None:
            return
        threading.Thread(target=self._say, args=(number, counter, dict(names)), daemon=True).start()

    def _say(self, number: int, counter: int, names: Mapping[str, str]) -> None:
        from drivers.chime import chime_wav
        from drivers.speech import announce_call, play_wav_bytes, spoken_counter_name

        with self._lock:  # two calls in one second are chimed and spoken in turn
            play_wav_bytes(chime_wav())  # False without a sound device: the call is still spoken
            self.chimed.append(number)
            for language in ("ja", "en"):
                name = spoken_counter_name(names, counter, language)
                self.speaker.say(announce_call(number, counter, language, name=name), language)


def _speaker(section: SpeechConfig) -> Any:
    if section.backend == "none":
        return None
    from drivers import speech

    try:
        return speech.make_speaker(section.backend)
    except speech.SpeechError as err:
        raise UsageError(f"speech.backend: {err}") from err


def _panel(section: LedPanelConfig) -> Any:
    if section.port is None:
        return None
    from drivers.led_panel import LedPanel

    panel = LedPanel(section.port, section.counters)
    panel.start()
    return panel


if __name__ == "__main__":
    sys.exit(main())
