"""The kiosk's touch screen (Kivy): thin, it draws kiosk.presenter's Screen and posts events.

Everything a resident reads or hears is decided by kiosk.presenter; this module only lays it
out, turns touches into :func:`kiosk.presenter.press` calls (whose events go to
``runtime.post``) and says the voice texts of each batch of effects. The runtime calls its
listeners on its own thread; they hand over to Kivy's with ``Clock.schedule_once``.

Kivy reads its configuration when first imported: the command calls
``common.screen.configure_kivy`` first, and nothing here imports kivy at module import time.

``build_kiosk_app(runtime, config)`` takes these ``config`` keys (all optional):

==================  ==========================================================================
``office_config``   the office's configuration document (sync.messages.OfficeConfig), or a callable returning
                    it (None until synced): the kiosk's hours and time zone
``office_name``     shown in the header
``speaker``         a kiosk.ports.SpeakerPort: the app says each step's prompt through it
                    (give the speaker to the app *or* to the runtime, not both)
``wall_ms``         a callable giving the wall clock in ms (default: the system clock)
``run_runtime``     True: the app starts ``runtime.start_thread()`` and stops it on exit
``on_stop``         called when the window closes
``sim_panel``       True: show the demo's cash and card simulator strip, which calls
``insert_coin``     ``insert_coin(yen)`` for 10/50/100/500,
``insert_note``     ``insert_note(yen)`` for 1000/5000/10000,
``insert_card``     ``insert_card()`` - or ``insert_card(serial)`` for each of ``demo_cards``,
``pull_card``       ``pull_card()``
``demo_cards``      card serials offered by the simulator (default: one "card in" button)
==================  ==========================================================================
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Annotated, Any, Final

import msgspec

from common.screen import register_fonts
from common.validation import Invalid, convert, info
from kiosk.ports import KioskError
from kiosk.presenter import Button, Draft, Screen, present, press, spoken, sync_draft
from sync import messages

log = logging.getLogger(__name__)

# High contrast for residents of every age, in the dispenser's palette: white on deep blue
# (about 10:1), near-black on off-white, red only for cancel and alerts, amber for warnings.
BG = (0.96, 0.97, 0.98, 1)
INK = (0.07, 0.09, 0.12, 1)
MUTED = (0.3, 0.34, 0.4, 1)
PRIMARY = (0.0, 0.23, 0.55, 1)
PRIMARY_OFF = (0.45, 0.5, 0.58, 1)
ON_PRIMARY = (1, 1, 1, 1)
GO = (0.0, 0.42, 0.22, 1)  # the button that moves forward: green, white text (about 7:1)
ALERT = (0.7, 0.08, 0.08, 1)
WARN = (1.0, 0.72, 0.2, 1)
BANNER = (1.0, 0.92, 0.7, 1)
WHITE = (1, 1, 1, 1)
PANEL = (0.88, 0.91, 0.95, 1)
SIM_BG = (0.2, 0.22, 0.26, 1)

COINS: Final = (10, 50, 100, 500)
NOTES: Final = (1000, 5000, 10000)
_SIM_CALLS: Final = ("insert_coin", "insert_note", "insert_card", "pull_card")


class KioskAppError(KioskError, ValueError):
    """The app's configuration is wrong; the message names the key and the fix."""


class AppConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The app's configuration (the module docstring says what each key is for). The values a
    file could hold are typed; the objects the assembled kiosk hands over (callables, the
    speaker) are checked for what the screen calls on them."""

    office_config: Any = None  # a messages.OfficeConfig, or a callable returning one (or None)
    office_name: Annotated[str, info(max_length=200)] | None = None
    speaker: Any = None
    wall_ms: Any = None
    run_runtime: bool = False
    on_stop: Any = None
    sim_panel: bool = False
    insert_coin: Any = None
    insert_note: Any = None
    insert_card: Any = None
    pull_card: Any = None
    demo_cards: (
        Annotated[
            tuple[Annotated[str, info(max_length=64)], ...],
            info(max_length=32, what='a list of card serials, e.g. ["SIM-0001"]'),
        ]
        | None
    ) = None

    def __post_init__(self) -> None:
        for key in ("wall_ms", "on_stop"):
            value = getattr(self, key)
            if value is not None and not callable(value):
                raise ValueError(f"{key}: expected a callable, got {type(value).__name__}")
        if self.speaker is not None and not callable(getattr(self.speaker, "say", None)):
            raise ValueError("speaker: expected an object with say(text, language), e.g. drivers.speech")
        office = self.office_config
        if office is not None and not callable(office) and not isinstance(office, messages.OfficeConfig):
            raise ValueError("office_config: expected the office's config document or a callable returning it")
        if self.sim_panel:
            missing = [k for k in _SIM_CALLS if not callable(getattr(self, k))]
            if missing:
                raise ValueError(
                    f"sim_panel is on but config.{missing[0]} is not a callable; give "
                    f"{', '.join(_SIM_CALLS)} (the demo's cash box and card reader)"
                )


KNOWN_CONFIG: Final = frozenset(AppConfig.__struct_fields__)


def check_app_config(config: Mapping[str, Any] | AppConfig) -> AppConfig:
    """The app configuration as its model; :class:`KioskAppError` names the key and the fix."""
    if isinstance(config, AppConfig):
        return config
    if not isinstance(config, Mapping):
        raise KioskAppError(f"config: expected a mapping of {', '.join(sorted(KNOWN_CONFIG))}")
    try:
        return convert(dict(config), AppConfig)
    except Invalid as err:
        # A key's own problem carries its path; a check of the model's own starts with the key.
        raise KioskAppError(f"config.{err}") from err


def _system_wall_ms() -> int:
    return time.time_ns() // 1_000_000


def build_kiosk_app(runtime: Any, config: Mapping[str, Any] | AppConfig | None = None) -> Any:
    """The Kivy App of the kiosk's screen for ``runtime`` (a kiosk.runtime.KioskRuntime)."""
    cfg = check_app_config(config or {})
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.graphics import Color, Ellipse, Line, Rectangle, RoundedRectangle
    from kivy.metrics import dp, sp
    from kivy.uix.anchorlayout import AnchorLayout
    from kivy.uix.behaviors import ButtonBehavior
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.gridlayout import GridLayout
    from kivy.uix.label import Label
    from kivy.uix.widget import Widget

    register_fonts()
    from common.widgets import CheckMark

    Window.clearcolor = BG
    wall_ms: Callable[[], int] = cfg.wall_ms or _system_wall_ms
    speaker = cfg.speaker

    def office_config() -> messages.OfficeConfig | None:
        source = cfg.office_config
        doc = source() if callable(source) else source
        return doc if isinstance(doc, messages.OfficeConfig) else None

    class Text(Label):
        """A label that wraps to its width and is as tall as its text (nothing is cut off)."""

        def __init__(
            self,
            text: str,
            size: float,
            *,
            color: tuple[float, ...] = INK,
            bold: bool = False,
            halign: str = "center",
            fill_height: bool = False,
        ) -> None:
            super().__init__(text=text, font_size=sp(size), color=color, bold=bold, halign=halign, valign="middle")
            if fill_height:
                self.bind(size=lambda w, s: setattr(w, "text_size", s))
            else:
                self.size_hint_y = None
                self.bind(
                    width=lambda w, width: setattr(w, "text_size", (width, None)),
                    texture_size=lambda w, ts: setattr(w, "height", ts[1] + dp(4)),
                )

    def filled(widget: Any, fill: tuple[float, ...], radius: float = 14, frame: tuple[float, ...] | None = None) -> Any:
        """Give ``widget`` a rounded background (and a frame) that follows it."""
        with widget.canvas.before:
            Color(*fill)
            bg = RoundedRectangle(radius=[dp(radius)])
            line = None
            if frame is not None:
                Color(*frame)
                line = Line(width=dp(2))

        def sync(*_: Any) -> None:
            bg.pos, bg.size = widget.pos, widget.size
            if line is not None:
                line.rounded_rectangle = (*widget.pos, *widget.size, dp(radius))

        widget.bind(pos=sync, size=sync)
        return widget

    class Tile(ButtonBehavior, BoxLayout):
        """A big touch target (at least 15 mm) holding labels."""

        def __init__(
            self, ident: str, fill: tuple[float, ...], frame: tuple[float, ...] | None = None, **kw: Any
        ) -> None:
            kw.setdefault("orientation", "vertical")
            kw.setdefault("padding", dp(8))
            super().__init__(**kw)
            self.ident = ident
            filled(self, fill, frame=frame)

    class Dots(Widget):
        """The PIN's dots: filled for each digit typed, hollow for the rest."""

        def __init__(self, entered: int, length: int) -> None:
            super().__init__(size_hint=(None, None), size=(dp(64) * length, dp(64)))
            self.entered, self.length = entered, length
            self.bind(pos=self._draw, size=self._draw)

        def _draw(self, *_: Any) -> None:
            self.canvas.clear()
            d = dp(40)
            with self.canvas:
                for i in range(self.length):
                    x, y = self.x + i * dp(64) + dp(12), self.center_y - d / 2
                    Color(*PRIMARY)
                    if i < self.entered:
                        Ellipse(pos=(x, y), size=(d, d))
                    else:
                        Line(circle=(x + d / 2, y + d / 2, d / 2 - dp(2)), width=dp(2.5))

    class Spinner(Widget):
        """A turning arc: the kiosk is working (the app moves it; nothing else animates)."""

        def __init__(self) -> None:
            super().__init__(size_hint=(None, None), size=(dp(72), dp(72)))
            self.angle = 0.0
            self.bind(pos=self.draw, size=self.draw)

        def draw(self, *_: Any) -> None:
            self.canvas.clear()
            with self.canvas:
                Color(*PANEL)
                Line(circle=(self.center_x, self.center_y, dp(30)), width=dp(6))
                Color(*PRIMARY)
                Line(circle=(self.center_x, self.center_y, dp(30), self.angle, self.angle + 100), width=dp(6))

    class CardPicture(Widget):
        """The card and the slot: going in (insert) or coming out (take): a picture says it in
        every language."""

        def __init__(self, inserting: bool) -> None:
            super().__init__(size_hint=(None, None), size=(dp(420), dp(220)))
            self.inserting = inserting
            self.bind(pos=self._draw, size=self._draw)

        def _draw(self, *_: Any) -> None:
            self.canvas.clear()
            cx, y0 = self.center_x, self.y
            card_w, card_h = dp(200), dp(126)
            with self.canvas:
                # the slot: a dark bar across the kiosk's front
                Color(*INK)
                RoundedRectangle(pos=(cx - dp(150), y0 + dp(20)), size=(dp(300), dp(22)), radius=[dp(8)])
                # the card, above the slot (inserting) or half out of it (taking)
                lift = dp(90) if self.inserting else dp(34)
                Color(0.82, 0.9, 1.0, 1)
                RoundedRectangle(pos=(cx - card_w / 2, y0 + lift), size=(card_w, card_h), radius=[dp(10)])
                Color(*PRIMARY)
                Line(rounded_rectangle=(cx - card_w / 2, y0 + lift, card_w, card_h, dp(10)), width=dp(2))
                Color(0.85, 0.68, 0.2, 1)  # the IC chip, facing up
                RoundedRectangle(
                    pos=(cx - card_w / 2 + dp(22), y0 + lift + card_h - dp(62)), size=(dp(44), dp(36)), radius=[dp(5)]
                )
                # the arrow: down into the slot, or up out of it
                Color(*GO)
                ax = cx + card_w / 2 + dp(46)
                low, high = y0 + dp(60), y0 + dp(190)
                Line(points=[ax, low, ax, high], width=dp(6))
                tip = low if self.inserting else high
                d = -dp(26) if not self.inserting else dp(26)
                Line(points=[ax - dp(22), tip + d, ax, tip, ax + dp(22), tip + d], width=dp(6), joint="miter")

    class KioskApp(App):
        title = "madoguchi kiosk"

        def build(self) -> Any:
            self.targets: dict[str, Any] = {}
            self.drawn_frame = 0
            self.hold = False  # screenshots of transient steps: live updates wait
            self.shown: Screen | None = None
            self.screen: Screen | None = None
            self.spinner: Any = None
            self.draft = Draft()
            self.root_box = BoxLayout(orientation="vertical")
            with self.root_box.canvas.before:
                Color(*BG)  # the window's own colour, so screenshots show what residents see
                self._bg = Rectangle(pos=(0, 0), size=Window.size)
            Window.bind(size=lambda w, s: setattr(self._bg, "size", s))
            runtime.subscribe(self._from_runtime, early=True)  # "please wait" before the wait
            # Besides the runtime's notices: countdowns, the hours, and a state the runtime adopted
            # while an effect (an office call, a print) still runs.
            Clock.schedule_interval(lambda dt: self.refresh(), 0.5)
            Clock.schedule_interval(self._spin, 1 / 15)
            self.refresh()
            return self.root_box

        def on_start(self) -> None:
            if cfg.run_runtime:
                runtime.start_thread()

        def on_stop(self) -> None:
            if cfg.run_runtime:
                runtime.stop()
            if cfg.on_stop is not None:
                cfg.on_stop()

        # -- state in, touches out ---------------------------------------------------------

        def _from_runtime(self, state: Any, effects: tuple[Any, ...]) -> None:
            # The runtime's thread: hand over to Kivy's.
            Clock.schedule_once(lambda dt: self.on_flow(effects))

        def on_flow(self, effects: tuple[Any, ...]) -> None:
            """A transition happened: say its prompts, redraw if the screen changed."""
            state = runtime.state
            if speaker is not None:
                for text, language in spoken(effects, state.language):
                    try:
                        speaker.say(text, language)
                    except Exception:  # a voice fault must not stop the screen
                        log.exception("the kiosk voice failed")
            self.refresh()

        def refresh(self) -> None:
            """Rebuild the screen model from the runtime's state; redraw what changed."""
            state = runtime.state
            now_wall, doc = wall_ms(), office_config()
            self.draft = sync_draft(self.draft, state, wall_ms=now_wall, office_config=doc)
            self.screen = present(state, self.draft, now_ms=runtime.now_ms(), wall_ms=now_wall, office_config=doc)
            if not self.hold:
                self.draw(self.screen)

        def preview(self, state: Any, effects: tuple[Any, ...] = (), now_ms: int | None = None) -> Screen:
            """Draw ``state`` now and hold it (docs' screenshots of steps that pass in a blink)."""
            self.hold = True
            now = runtime.now_ms() if now_ms is None else now_ms
            screen = present(state, None, effects=effects, now_ms=now, wall_ms=wall_ms(), office_config=office_config())
            self.draw(screen)
            return screen

        def release(self) -> None:
            """Back to the live screen after :meth:`preview`."""
            self.hold = False
            self.shown = None
            self.refresh()

        def touch(self, ident: str) -> None:
            """A touch on button ``ident`` (the simulator's buttons are the operator's)."""
            if ident.startswith("sim:"):
                self.simulate(ident)
                return
            self.draft, event = press(self.draft, runtime.state, ident, runtime.now_ms())
            if event is not None:
                runtime.post(event)
            self.refresh()

        def simulate(self, ident: str) -> None:
            _, what, arg = ident.split(":", 2) if ident.count(":") >= 2 else (*ident.split(":", 1), "")
            try:
                if what == "coin":
                    cfg.insert_coin(int(arg))
                elif what == "note":
                    cfg.insert_note(int(arg))
                elif what == "card_in":
                    cfg.insert_card(arg) if arg else cfg.insert_card()
                elif what == "card_out":
                    cfg.pull_card()
            except Exception:  # a simulator mistake is logged; the kiosk goes on
                log.exception("simulator action %s failed", ident)

        # -- drawing -----------------------------------------------------------------------

        def target(self, button: Button, widget: Any) -> Any:
            self.targets[button.id] = widget
            if button.enabled:
                widget.bind(on_release=lambda w, ident=button.id: self.touch(ident))
            return widget

        def draw(self, s: Screen) -> None:
            plain = replace(s, voice=())
            if plain == self.shown:
                return  # ticks arrive ten times a second; redraw only what changed
            self.shown = plain
            self.targets = {}
            # New widgets get positions in the next layout pass: whatever aims at a widget (the
            # UI tests' touches) waits until a frame after this one.
            self.drawn_frame = Clock.frames
            self.spinner = None
            box = self.root_box
            box.clear_widgets()
            box.add_widget(self.header(s))
            if s.warning is not None:
                box.add_widget(self.warning(s))
            if s.notice:
                banner = filled(BoxLayout(size_hint_y=None, height=dp(60), padding=dp(8)), BANNER, radius=0)
                banner.add_widget(Text(s.notice, 28, color=ALERT, bold=True, fill_height=True))
                box.add_widget(banner)
            body = BoxLayout(orientation="vertical", padding=(dp(32), dp(12)), spacing=dp(10))
            self.body(s, body)
            box.add_widget(body)
            if s.nav:
                box.add_widget(self.nav(s.nav))
            if cfg.sim_panel:
                box.add_widget(self.sim_panel())

        def header(self, s: Screen) -> Any:
            bar = filled(
                BoxLayout(size_hint_y=None, height=dp(60), padding=(dp(20), dp(6)), spacing=dp(8)), PRIMARY, radius=0
            )
            doc = office_config()
            office = cfg.office_name or (doc.office_name if doc is not None else "")
            # The office's name where there is room: not beside the progress bar of a visit.
            name = f"{office}  {s.header}" if office and not s.progress else s.header
            title = Label(text=name, font_size=sp(24), color=ON_PRIMARY, bold=True, size_hint_x=None)
            title.bind(texture_size=lambda w, ts: setattr(w, "width", ts[0]))
            bar.add_widget(title)
            steps = BoxLayout(spacing=dp(6), padding=(dp(24), 0, 0, 0))
            for i, label in enumerate(s.progress):
                here = i == s.progress_at
                cell = BoxLayout(padding=(dp(4), dp(2)))
                if here:
                    filled(cell, WHITE, radius=10)
                color = PRIMARY if here else (ON_PRIMARY if i < s.progress_at else (0.7, 0.78, 0.9, 1))
                # One line per part: a word too long for its cell is shortened, never wrapped.
                part = Label(
                    text=f"{i + 1}. {label}",
                    font_size=sp(19),
                    color=color,
                    bold=here,
                    shorten=True,
                    shorten_from="right",
                    halign="center",
                    valign="middle",
                )
                part.bind(size=lambda w, z: setattr(w, "text_size", z))
                cell.add_widget(part)
                steps.add_widget(cell)
            bar.add_widget(steps)
            return bar

        def warning(self, s: Screen) -> Any:
            w = s.warning
            assert w is not None
            banner = filled(
                BoxLayout(size_hint_y=None, height=dp(96), padding=(dp(24), dp(10)), spacing=dp(16)), WARN, radius=0
            )
            texts = BoxLayout(orientation="vertical")
            texts.add_widget(Text(w.text, 30, bold=True, halign="left", fill_height=True))
            texts.add_widget(Text(w.detail, 24, halign="left", fill_height=True))
            banner.add_widget(texts)
            go = Tile(w.button.id, GO, size_hint_x=None, width=dp(260))
            go.add_widget(Text(w.button.label, 30, color=ON_PRIMARY, bold=True, fill_height=True))
            banner.add_widget(self.target(w.button, go))
            return banner

        def titles(self, s: Screen, page: Any, *, lines: bool = True, size: float = 40) -> None:
            if s.above:
                page.add_widget(Text(s.above, 20, color=MUTED))
            page.add_widget(Text(s.title, size, bold=True))
            if lines:
                for line in s.lines:
                    page.add_widget(Text(line, 26))

        def body(self, s: Screen, page: Any) -> None:
            if s.pin is not None:
                self.pin_page(s, page)
                return
            if s.amounts is not None:
                self.money_page(s, page)
                return
            if s.name in ("closed", "unavailable", "out_of_service"):
                page.add_widget(Widget())
                self.titles(s, page, size=44)
                if s.others:
                    others = BoxLayout(orientation="vertical", size_hint_y=None, spacing=dp(2), padding=(0, dp(16)))
                    others.bind(minimum_height=others.setter("height"))
                    for _, text in s.others:
                        others.add_widget(Text(text, 22, color=MUTED))
                    page.add_widget(others)
                page.add_widget(Widget())
                return
            if s.outcome is not None and not s.busy:
                page.add_widget(Widget())
                if s.name == "take_card":
                    holder = AnchorLayout(size_hint_y=None, height=dp(220))
                    holder.add_widget(CardPicture(inserting=False))
                    page.add_widget(holder)
                self.titles(s, page, lines=False, size=48)
                for i, line in enumerate(s.lines):
                    page.add_widget(
                        Text(
                            line, 34 if i == 0 and s.name == "take_card" else 28, bold=i == 0 and s.name == "take_card"
                        )
                    )
                page.add_widget(Widget())
                return
            if s.busy:
                page.add_widget(Widget())  # a waiting screen holds one message: in the middle
            self.titles(s, page)
            if s.name == "insert_card":
                holder = AnchorLayout(size_hint_y=None, height=dp(260))
                holder.add_widget(CardPicture(inserting=True))
                page.add_widget(holder)
                page.add_widget(Widget())
            elif s.choices:
                page.add_widget(self.choices(s))
            elif s.groups:
                page.add_widget(self.groups(s))
            elif s.busy:
                holder = AnchorLayout(size_hint_y=None, height=dp(110))
                self.spinner = Spinner()
                holder.add_widget(self.spinner)
                page.add_widget(holder)
                page.add_widget(Widget())
            else:
                page.add_widget(Widget())

        def choices(self, s: Screen) -> Any:
            count = len(s.choices)
            cols = 2 if s.name == "members" else 3
            rows = max(1, -(-count // cols))
            grid = GridLayout(cols=cols, spacing=dp(16), padding=(dp(8), dp(10)))
            tall = {"language": 120, "certificate": 160}.get(s.name, 100)
            grid.size_hint_y = None
            grid.height = rows * dp(tall) + (rows - 1) * dp(16) + dp(20)
            for b in s.choices:
                toggle = b.role == "toggle"
                fill = (PRIMARY if b.on else WHITE) if toggle else PRIMARY
                ink = ON_PRIMARY if fill == PRIMARY else INK
                tile = Tile(b.id, fill, frame=None if fill == PRIMARY else INK)
                if toggle:
                    row = BoxLayout(spacing=dp(16), padding=(dp(20), 0))
                    holder = AnchorLayout(size_hint_x=None, width=dp(40))
                    holder.add_widget(CheckMark(b.on, ink, side=34, frame=2, tick=3.5))
                    row.add_widget(holder)
                    row.add_widget(Text(b.label, 32, color=ink, bold=b.on, halign="left", fill_height=True))
                    tile.add_widget(row)
                else:
                    if b.above:
                        tile.add_widget(Text(b.above, 18, color=ink))
                    # Long names (Portuguese, Vietnamese) take two lines in a smaller size.
                    size = 32 if len(b.label) <= 14 else 28 if len(b.label) <= 20 else 24
                    tile.add_widget(Text(b.label, size, color=ink, bold=True, fill_height=True))
                    if b.detail:
                        tile.add_widget(Text(b.detail, 22, color=ink))
                grid.add_widget(self.target(b, tile))
            holder = BoxLayout(orientation="vertical")
            holder.add_widget(grid)
            holder.add_widget(Widget())
            return holder

        def groups(self, s: Screen) -> Any:
            box = BoxLayout(orientation="vertical", spacing=dp(14), padding=(dp(40), dp(10)))
            for g in s.groups:
                row = BoxLayout(size_hint_y=None, height=dp(84), spacing=dp(14))
                label = Text(g.label, 26, bold=True, halign="left", fill_height=True, color=MUTED)
                label.size_hint_x, label.width = None, dp(240)
                row.add_widget(label)
                if g.value:  # copies: − value +
                    minus, plus = g.buttons
                    row.add_widget(self.key_tile(minus, width=dp(96), size=40))
                    value = Text(g.value, 34, bold=True, fill_height=True)
                    value.size_hint_x, value.width = None, dp(220)
                    row.add_widget(value)
                    row.add_widget(self.key_tile(plus, width=dp(96), size=40))
                else:
                    # At most 300 dp each, less when the screen is narrow (a portrait kiosk).
                    room = (Window.width - dp(64 + 80 + 240) - dp(14) * len(g.buttons)) / max(1, len(g.buttons))
                    width = max(dp(120), min(dp(300), room))
                    for b in g.buttons:
                        fill = PRIMARY if b.on else WHITE
                        ink = ON_PRIMARY if b.on else INK
                        tile = Tile(
                            b.id,
                            fill,
                            frame=None if b.on else INK,
                            orientation="horizontal",
                            padding=(dp(14), 0),
                            spacing=dp(10),
                            size_hint_x=None,
                            width=width,
                        )
                        holder = AnchorLayout(size_hint_x=None, width=dp(36))
                        holder.add_widget(CheckMark(b.on, ink, side=34, frame=2, tick=3.5))
                        tile.add_widget(holder)
                        tile.add_widget(Text(b.label, 24, color=ink, bold=b.on, halign="left", fill_height=True))
                        row.add_widget(self.target(b, tile))
                row.add_widget(Widget())
                box.add_widget(row)
            box.add_widget(Widget())
            return box

        def key_tile(self, b: Button, *, width: float | None = None, size: float = 40) -> Any:
            kw: dict[str, Any] = {"size_hint_x": None, "width": width} if width is not None else {}
            tile = Tile(b.id, WHITE if b.enabled else PANEL, frame=INK if b.enabled else PRIMARY_OFF, **kw)
            short = len(b.label) == 1  # a digit, "+" or "−"; words (クリア, Delete) are smaller
            tile.add_widget(
                Text(
                    b.label, size if short else 26, color=INK if b.enabled else PRIMARY_OFF, bold=True, fill_height=True
                )
            )
            return self.target(b, tile)

        def pin_page(self, s: Screen, page: Any) -> None:
            pad = s.pin
            assert pad is not None
            title = Text(s.title, 40, bold=True)
            page.add_widget(title)
            row = BoxLayout(spacing=dp(40))
            left = BoxLayout(orientation="vertical", spacing=dp(14), padding=(0, dp(10)))
            for line in s.lines:
                left.add_widget(Text(line, 24, halign="left"))
            dots = AnchorLayout(size_hint_y=None, height=dp(90), anchor_x="left")
            dots.add_widget(Dots(pad.entered, pad.length))
            left.add_widget(dots)
            if pad.tries_text:
                left.add_widget(
                    Text(pad.tries_text, 30, bold=True, halign="left", color=ALERT if pad.last_try else INK)
                )
            if pad.last_try:
                left.add_widget(Text(pad.last_try, 26, bold=True, halign="left", color=ALERT))
            left.add_widget(Widget())
            row.add_widget(left)
            # Keys about 25 mm tall on a kiosk screen whatever its shape: no taller on a portrait
            # screen, shorter only when banners (a warning, a notice) take the room.
            tallest = dp(4 * 90 + 3 * 10 + 10 + 76)
            keys = BoxLayout(
                orientation="vertical", spacing=dp(10), size_hint=(None, None), width=dp(420), height=tallest
            )
            grid = GridLayout(cols=3, spacing=dp(10))
            for b in pad.keys:
                grid.add_widget(self.key_tile(b, size=40))
            keys.add_widget(grid)
            ok = Tile(pad.ok.id, GO, size_hint_y=None, height=dp(76))
            ok.add_widget(Text(pad.ok.label, 32, color=ON_PRIMARY, bold=True, fill_height=True))
            keys.add_widget(self.target(pad.ok, ok))
            row.add_widget(keys)
            row.size_hint_y, row.height = None, keys.height

            def fit(*_: Any) -> None:
                room = page.height - title.height - page.padding[1] - page.padding[3] - page.spacing * 2
                keys.height = row.height = max(dp(280), min(tallest, room))

            page.bind(height=fit)
            title.bind(height=fit)
            page.add_widget(row)
            page.add_widget(Widget())

        def money_page(self, s: Screen, page: Any) -> None:
            amounts = s.amounts
            assert amounts is not None
            page.add_widget(Text(s.title, 40, bold=True))
            row = BoxLayout(spacing=dp(40), padding=(0, dp(10)))
            left = BoxLayout(orientation="vertical", spacing=dp(10))
            for i, line in enumerate(s.lines):
                left.add_widget(
                    Text(
                        line,
                        30 if i == 0 and s.name == "confirm_fee" else 26,
                        halign="left",
                        bold=i == 0 and s.name == "confirm_fee",
                    )
                )
            left.add_widget(Widget())
            row.add_widget(left)
            last = len(amounts.rows) - 1
            panel = filled(
                BoxLayout(
                    orientation="vertical",
                    padding=dp(20),
                    spacing=dp(6),
                    size_hint=(None, None),
                    width=dp(520),
                    height=dp(40 + 70 * (last + 1) + (14 if last > 0 else 0)),
                ),
                WHITE,
                frame=PANEL,
            )
            for i, (label, value) in enumerate(amounts.rows):
                due = i == last and last > 0
                line = BoxLayout(size_hint_y=None, height=dp(84 if due else 70))
                line.add_widget(
                    Text(label, 28, color=PRIMARY if due else MUTED, bold=due, halign="left", fill_height=True)
                )
                line.add_widget(
                    Text(
                        value,
                        52 if due or last == 0 else 40,
                        color=PRIMARY if due else INK,
                        bold=True,
                        halign="right",
                        fill_height=True,
                    )
                )
                panel.add_widget(line)
            column = BoxLayout(orientation="vertical", size_hint_x=None, width=dp(520))
            column.add_widget(panel)
            column.add_widget(Widget())
            row.add_widget(column)
            page.add_widget(row)

        def nav(self, buttons: tuple[Button, ...]) -> Any:
            bar = BoxLayout(size_hint_y=None, height=dp(104), padding=(dp(32), dp(10)), spacing=dp(24))
            back = [b for b in buttons if b.role == "back"]
            rest = [b for b in buttons if b.role != "back"]
            for b in back:
                bar.add_widget(self.nav_tile(b))
            bar.add_widget(Widget())
            for b in rest:
                bar.add_widget(self.nav_tile(b))
            return bar

        def nav_tile(self, b: Button) -> Any:
            fill = {"back": PRIMARY_OFF, "cancel": ALERT}.get(b.role, GO)
            tile = Tile(b.id, fill, size_hint_x=None, width=dp(360 if b.role == "next" else 260))
            tile.add_widget(Text(b.label, 32, color=ON_PRIMARY, bold=True, fill_height=True))
            return self.target(b, tile)

        def sim_panel(self) -> Any:
            """The demo operator's strip: coins, notes and the card (not resident-facing: the
            labels are fixed, not translated)."""
            bar = filled(BoxLayout(size_hint_y=None, height=dp(58), padding=dp(6), spacing=dp(6)), SIM_BG, radius=0)
            label = Text("DEMO", 18, color=WARN, bold=True, fill_height=True)
            label.size_hint_x, label.width = None, dp(70)
            bar.add_widget(label)
            buttons = [(f"sim:coin:{v}", f"{v}") for v in COINS] + [(f"sim:note:{v}", f"{v:,}") for v in NOTES]
            cards = cfg.demo_cards
            if cards:
                buttons += [(f"sim:card_in:{c}", c) for c in cards]
            else:
                buttons.append(("sim:card_in", "card in"))
            buttons.append(("sim:card_out", "card out"))
            for ident, text in buttons:
                coin = ident.startswith("sim:coin")
                tile = Tile(ident, (0.85, 0.7, 0.3, 1) if coin else (0.55, 0.6, 0.68, 1), padding=dp(2))
                tile.add_widget(Text(text, 18, color=INK, bold=True, fill_height=True))
                tile.bind(on_release=lambda w, i=ident: self.touch(i))
                self.targets[ident] = tile
                bar.add_widget(tile)
            return bar

        def _spin(self, _dt: float) -> None:
            if self.spinner is not None:
                self.spinner.angle = (self.spinner.angle + 24) % 360
                self.spinner.draw()

    return KioskApp()
