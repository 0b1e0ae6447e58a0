"""The dispenser's touch screen (Kivy). Thin: it draws the presenter's ScreenState and hands
touches and keys back to it (ticket_dispenser.presenter decides everything).

Kivy reads its configuration when first imported, so :func:`configure_kivy` runs before any
kivy import; nothing here imports kivy at module import time.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from common.heap import release_free_heap
from common.screen import register_fonts
from ticket_dispenser.presenter import Presenter, ScreenState

log = logging.getLogger(__name__)

# High contrast for a lobby seen from a few metres, also by older residents: white text on a
# deep blue (contrast about 10:1), near-black on off-white, and an orange focus frame.
BG = (0.96, 0.97, 0.98, 1)
INK = (0.07, 0.09, 0.12, 1)
PRIMARY = (0.0, 0.23, 0.55, 1)
PRIMARY_OFF = (0.45, 0.5, 0.58, 1)
ON_PRIMARY = (1, 1, 1, 1)
FOCUS = (1.0, 0.55, 0.0, 1)
BANNER = (1.0, 0.92, 0.7, 1)
ALERT = (0.7, 0.08, 0.08, 1)
KEPT_WIDGETS = 48  # start-screen pieces and language bars kept for re-use
# The type scale. Kivy's SDL2 text keeps a copy of the CJK font for every size of every weight it
# has drawn (2.5 MB each: FreeType's tables of a 65,535-glyph font, never let go), so the screens
# use few: regular at SMALL, BODY and LABEL; bold at BODY, LABEL, HEADLINE, TITLE and the number.
# Eight copies where a day of screens used to make seventeen.
SMALL, BODY, LABEL, HEADLINE, TITLE, NUMBER = 19, 24, 28, 34, 40, 150
TRIM_S = 5.0  # the heap's free pages go back once the start screen has waited this long


def build_app(presenter: Presenter, *, office_name: str = "", on_stop: Callable[[], None] | None = None) -> Any:
    """The Kivy App drawing ``presenter`` (kivy is imported here, after configure_kivy)."""
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.graphics import Color, Line, Rectangle, RoundedRectangle
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

    class Text(Label):
        """A wrapping label in the screen's ink."""

        def __init__(
            self,
            text: str,
            size: float,
            *,
            color: tuple[float, ...] = INK,
            bold: bool = False,
            height: float | None = None,
            halign: str = "center",
        ) -> None:
            super().__init__(text=text, font_size=sp(size), color=color, bold=bold, halign=halign, valign="middle")
            if height is not None:
                self.size_hint_y = None
                self.height = height
            self.bind(size=lambda w, s: setattr(w, "text_size", s))

    class Tile(ButtonBehavior, BoxLayout):
        """A big touch target (≥ 15 mm) with a filled background and an optional focus frame."""

        def __init__(self, ident: str, fill: tuple[float, ...], focused: bool = False, **kw: Any) -> None:
            super().__init__(orientation="vertical", padding=dp(10), spacing=dp(2), **kw)
            self.ident = ident
            with self.canvas.before:
                Color(*fill)
                self._bg = RoundedRectangle(radius=[dp(14)])
                if focused:
                    Color(*FOCUS)
                    self._frame = Line(width=dp(4))
            self.bind(pos=self._redraw, size=self._redraw)
            self._focused = focused

        def _redraw(self, *_: Any) -> None:
            self._bg.pos, self._bg.size = self.pos, self.size
            if self._focused:
                x, y, w, h = self.x - dp(5), self.y - dp(5), self.width + dp(10), self.height + dp(10)
                self._frame.rounded_rectangle = (x, y, w, h, dp(16))

    class Root(BoxLayout):
        pass

    class DispenserApp(App):
        title = "madoguchi dispenser"

        def build(self) -> Any:
            self.targets: dict[str, Any] = {}
            # Widgets of the start screen and the language bar, by everything they show: going
            # back to the start screen re-uses them instead of building ~40 labels again (a
            # label costs ~0.5 ms of CPU to make, a screen change ~20 ms on a Pi-class CPU).
            # Bounded, so a day of changing waiting times cannot grow it.
            self.kept: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
            self.trim_event: Any = None
            self.root_box = Root(orientation="vertical", padding=dp(16), spacing=dp(12))
            with self.root_box.canvas.before:
                Color(*BG)
                self._bg = Rectangle(pos=(0, 0), size=Window.size)
            Window.bind(size=lambda w, s: setattr(self._bg, "size", s))
            presenter.subscribe(lambda state: Clock.schedule_once(lambda dt: self.draw(state)))
            Clock.schedule_interval(lambda dt: presenter.tick(1.0), 1.0)
            self.draw(presenter.state)
            return self.root_box

        def on_stop(self) -> None:
            if on_stop is not None:
                on_stop()

        # -- drawing ---------------------------------------------------------------------

        def target(self, ident: str, widget: Any) -> Any:
            self.targets[ident] = widget
            return widget

        def keep(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
            """The widget made for ``key`` before (detached from its old parent), or a new one."""
            widget = self.kept.get(key)
            if widget is None:
                widget = self.kept[key] = make()
                while len(self.kept) > KEPT_WIDGETS:
                    self.kept.popitem(last=False)
            else:
                self.kept.move_to_end(key)
                if widget.parent is not None:
                    widget.parent.remove_widget(widget)
            return widget

        def draw(self, s: ScreenState) -> None:
            self.targets = {}
            # New widgets get their positions in the next layout pass: anything that aims at
            # a widget (the UI tests' touches) waits until a frame after this one.
            self.drawn_frame = Clock.frames
            box = self.root_box
            box.clear_widgets()
            if office_name:
                box.add_widget(
                    self.keep(
                        ("office", office_name),
                        lambda: Text(office_name, BODY, color=PRIMARY, bold=True, height=dp(34)),
                    )
                )
            if s.banner:
                banner = BoxLayout(size_hint_y=None, height=dp(56), padding=dp(8))
                with banner.canvas.before:
                    Color(*BANNER)
                    rect = RoundedRectangle(radius=[dp(10)])
                banner.bind(pos=lambda w, p: setattr(rect, "pos", p), size=lambda w, z: setattr(rect, "size", z))
                banner.add_widget(Text(s.banner, SMALL))
                box.add_widget(banner)
            body = {
                "start": self.start,
                "checklist": self.checklist,
                "printing": self.printing,
                "result": self.result,
                "printer_fault": self.result,
                "numbers_out": self.message,
                "out_of_service": self.message,
                "closed": self.message,
            }[s.screen](s)
            box.add_widget(body)
            box.add_widget(self.language_bar(s))
            self._trim_when_idle(s.screen == "start")

        def _trim_when_idle(self, idle: bool) -> None:
            """Each ticket's screens free their labels' textures and buffers, and glibc keeps
            those pages in its fragmented heap for good. Once the start screen has waited
            TRIM_S for the next resident they go back to the system, never while one is using
            the screen."""
            if self.trim_event is not None:
                self.trim_event.cancel()
                self.trim_event = None
            if idle:
                self.trim_event = Clock.schedule_once(lambda dt: release_free_heap(), TRIM_S)

        def start(self, s: ScreenState) -> Any:
            page = BoxLayout(orientation="vertical", spacing=dp(10))
            title, subtitle, help_ = (s.texts.get(k, "") for k in ("title", "subtitle", "help"))
            page.add_widget(self.keep(("title", title), lambda: Text(title, TITLE, bold=True, height=dp(64))))
            page.add_widget(self.keep(("subtitle", subtitle), lambda: Text(subtitle, BODY, height=dp(36))))
            grid = GridLayout(cols=presenter.columns, spacing=dp(14), padding=dp(6))
            for i, b in enumerate(s.purposes):
                tile = self.keep(
                    ("purpose", b.code, b.available, i == s.focus, b.reading, b.name, b.detail),
                    functools.partial(self.purpose_tile, b, i == s.focus),
                )
                grid.add_widget(self.target(tile.ident, tile))
            page.add_widget(grid)
            page.add_widget(self.keep(("help", help_), lambda: Text(help_, SMALL, height=dp(34))))
            return page

        def purpose_tile(self, b: Any, focused: bool) -> Any:
            tile = Tile(f"purpose:{b.code}", PRIMARY if b.available else PRIMARY_OFF, focused=focused)
            if b.reading:
                tile.add_widget(Text(b.reading, SMALL, color=ON_PRIMARY, height=dp(28)))
            tile.add_widget(Text(b.name, HEADLINE if len(b.name) <= 10 else LABEL, color=ON_PRIMARY, bold=True))
            tile.add_widget(Text(b.detail, SMALL, color=ON_PRIMARY, height=dp(30)))
            tile.bind(on_release=lambda w, code=b.code: presenter.choose(code))
            return tile

        def checklist(self, s: ScreenState) -> Any:
            page = BoxLayout(orientation="vertical", spacing=dp(10))
            page.add_widget(Text(s.texts.get("purpose", ""), LABEL, color=PRIMARY, bold=True, height=dp(44)))
            page.add_widget(Text(s.texts.get("title", ""), HEADLINE, bold=True, height=dp(60)))
            page.add_widget(Text(s.texts.get("subtitle", ""), BODY, height=dp(36)))
            items = GridLayout(cols=1, spacing=dp(10), padding=(dp(120), dp(6)))
            for i, (name, checked) in enumerate(s.checklist):
                # Ticked: filled blue; not ticked: white with a dark frame (not grey: that reads
                # as "disabled").
                tile = Tile(f"proc:{i}", PRIMARY if checked else (1, 1, 1, 1), focused=s.focus == i)
                ink = ON_PRIMARY if checked else INK
                row = BoxLayout(orientation="horizontal", spacing=dp(16), padding=(dp(24), 0))
                holder = AnchorLayout(size_hint_x=None, width=dp(40), anchor_y="center")
                holder.add_widget(CheckMark(checked, ink))
                row.add_widget(holder)
                row.add_widget(Text(name, LABEL, color=ink, bold=checked, halign="left"))
                tile.add_widget(row)
                if not checked:
                    with tile.canvas.before:
                        Color(*INK)
                        frame = Line(width=dp(1.5))
                    tile.bind(
                        pos=lambda w, p, f=frame: setattr(f, "rounded_rectangle", (*w.pos, *w.size, dp(14))),
                        size=lambda w, z, f=frame: setattr(f, "rounded_rectangle", (*w.pos, *w.size, dp(14))),
                    )
                tile.bind(on_release=lambda w, i=i: presenter.toggle(i))
                items.add_widget(self.target(tile.ident, tile))
            page.add_widget(items)
            row = BoxLayout(size_hint_y=None, height=dp(96), spacing=dp(24), padding=(dp(120), 0))
            back = Tile("back", PRIMARY_OFF)
            back.add_widget(Text(s.texts.get("back", ""), LABEL, color=ON_PRIMARY, bold=True))
            back.bind(on_release=lambda w: presenter.back())
            go = Tile("confirm", PRIMARY, focused=s.focus == len(s.checklist))
            go.add_widget(Text(s.texts.get("confirm", ""), HEADLINE, color=ON_PRIMARY, bold=True))
            go.bind(on_release=lambda w: presenter.confirm())
            row.add_widget(self.target("back", back))
            row.add_widget(self.target("confirm", go))
            page.add_widget(row)
            return page

        def printing(self, s: ScreenState) -> Any:
            return Text(s.texts.get("title", ""), TITLE, bold=True)

        def result(self, s: ScreenState) -> Any:
            fault = s.screen == "printer_fault"
            page = BoxLayout(orientation="vertical", spacing=dp(6))
            page.add_widget(
                Text(s.texts.get("title", ""), TITLE, color=ALERT if fault else INK, bold=True, height=dp(70))
            )
            page.add_widget(Text(s.texts.get("purpose", ""), LABEL, color=PRIMARY, bold=True, height=dp(42)))
            page.add_widget(Text(s.texts.get("your_number", ""), BODY, height=dp(36)))
            number = Text(s.number, NUMBER, color=ALERT if fault else PRIMARY, bold=True)
            page.add_widget(number)
            for key in ("instruction", "valid", "ahead", "wait", "called"):
                if s.texts.get(key):
                    page.add_widget(
                        Text(
                            s.texts[key],
                            LABEL if key == "instruction" else BODY,
                            bold=key == "instruction",
                            height=dp(44),
                        )
                    )
            back = Tile("back", PRIMARY_OFF, size_hint=(None, None), size=(dp(360), dp(84)), pos_hint={"center_x": 0.5})
            back.add_widget(Text(s.texts.get("back", ""), LABEL, color=ON_PRIMARY, bold=True))
            back.bind(on_release=lambda w: presenter.back())
            page.add_widget(self.target("back", back))
            return page

        def message(self, s: ScreenState) -> Any:
            page = BoxLayout(orientation="vertical", spacing=dp(16), padding=dp(40))
            page.add_widget(Widget())
            page.add_widget(Text(s.texts.get("title", ""), TITLE, bold=True, height=dp(140)))
            for key in ("instruction", "hours", "reopen"):
                if s.texts.get(key):
                    page.add_widget(Text(s.texts[key], LABEL, height=dp(50)))
            if s.texts.get("back"):
                back = Tile(
                    "back", PRIMARY_OFF, size_hint=(None, None), size=(dp(360), dp(84)), pos_hint={"center_x": 0.5}
                )
                back.add_widget(Text(s.texts["back"], LABEL, color=ON_PRIMARY, bold=True))
                back.bind(on_release=lambda w: presenter.back())
                page.add_widget(self.target("back", back))
            page.add_widget(Widget())
            return page

        def language_bar(self, s: ScreenState) -> Any:
            bar = self.keep(("languages", tuple(s.languages), s.language), lambda: self.make_language_bar(s))
            for tile in bar.children:
                self.target(tile.ident, tile)
            return bar

        def make_language_bar(self, s: ScreenState) -> Any:
            bar = BoxLayout(size_hint_y=None, height=dp(72), spacing=dp(8))
            for code, native in s.languages:
                chosen = code == s.language
                tile = Tile(f"lang:{code}", PRIMARY if chosen else PRIMARY_OFF)
                tile.add_widget(Text(native, BODY, color=ON_PRIMARY, bold=chosen))
                tile.bind(on_release=lambda w, code=code: presenter.set_language(code))
                bar.add_widget(tile)
            return bar

    return DispenserApp()


def background(work: Callable[[], Any], done: Callable[[Any], None]) -> None:
    """Run a press (it prints) off the UI thread; deliver the outcome on Kivy's thread."""
    from kivy.clock import Clock

    from ticket_dispenser.presenter import _capture

    def runner() -> None:
        outcome = _capture(work)
        Clock.schedule_once(lambda dt: done(outcome))

    threading.Thread(target=runner, name="press", daemon=True).start()
