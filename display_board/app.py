"""The lobby train board (案内モニター), drawn with Kivy from the controller's BoardView.

Readable from 5 m: numbers large, status shown by colour *and* by place (called trains sit on
the first station, finished ones move to the counter list), high contrast on a dark
background. Trains slide along the track when the office moves them.

Where everything goes is decided without a window (:func:`display_board.scene.scene`): this
module only draws a Scene, every label at the box the scene fitted it to, with no Kivy layouts
(a layout pass runs a frame later, and a frame showed the board half built).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from display_board.controller import BoardController
from display_board.model import Move
from display_board.scene import PAGE_S, Box, Car, Scene, scene

log = logging.getLogger(__name__)

BG = (0.05, 0.09, 0.16, 1)  # deep navy: bright trains and text stand out across a lobby
PANEL = (0.1, 0.15, 0.24, 1)
TRACK = (0.55, 0.62, 0.72, 1)
INK = (0.96, 0.97, 0.99, 1)
MUTED = (0.7, 0.76, 0.85, 1)
TRAIN = {
    "waiting": (0.35, 0.42, 0.55, 1),
    "held": (0.35, 0.42, 0.55, 1),
    "called": (1.0, 0.78, 0.2, 1),
    "in_progress": (0.25, 0.6, 1.0, 1),
    "ready": (0.3, 0.85, 0.45, 1),  # a finished ticket's chip on a busy board: green, as the ready list
}
TRAIN_INK = {
    "waiting": INK,
    "held": INK,
    "called": (0.1, 0.1, 0.1, 1),
    "in_progress": (0.02, 0.05, 0.12, 1),
    "ready": (0.02, 0.1, 0.04, 1),
}
READY = (0.3, 0.85, 0.45, 1)
HIGHLIGHT = (1.0, 0.78, 0.2, 1)
STALE = (1.0, 0.6, 0.2, 1)
COLORS = {"ink": INK, "muted": MUTED, "ready": READY, "highlight": HIGHLIGHT, "stale": STALE, "track": TRACK}
WINDOW = (0.85, 0.92, 1.0, 0.55)  # a car's window band
WHEEL = (0.02, 0.03, 0.06, 1)
MOVE_S = 0.9  # how long a train takes to slide to its new station
# Cars that slide at once at most: a burst of moves (the office back after an outage, a whole
# station handed on) lands in place; sliding hundreds of cars is noise, and each costs a frame.
MAX_SLIDES = 12
TEXTURE_CACHE = 3000  # rendered texts kept for the next redraws (a few MB of textures)


def build_board_app(
    controller: BoardController, *, title_ja: str = "手続きの進み具合", tick: Callable[[], None] | None = None
) -> Any:
    """The Kivy App for ``controller`` (kivy is imported here, after configure_kivy)."""
    from kivy.animation import Animation
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.text import Label as CoreLabel
    from kivy.core.window import Window
    from kivy.graphics import (
        Callback,
        Canvas,
        ClearBuffers,
        ClearColor,
        Color,
        Ellipse,
        Fbo,
        Rectangle,
        RoundedRectangle,
    )
    from kivy.graphics import Line as GLine
    from kivy.graphics import opengl as gl
    from kivy.metrics import sp
    from kivy.uix.floatlayout import FloatLayout
    from kivy.uix.widget import Widget

    from common.screen import register_fonts

    register_fonts()
    Window.clearcolor = BG
    scale = float(sp(1))  # the scene is laid out in sp; the window counts pixels

    class StaticLayer(FloatLayout):
        """Draws its children into an off-screen buffer that is re-rendered only when they change.

        A frame then costs one textured quad for the whole board plus the cars that are sliding
        (they fly on the overlay above): with software GL every label and rounded box redrawn
        each frame took 50-70 ms at 1920 x 1080, too slow for a smooth slide."""

        def __init__(self, **kw: Any) -> None:
            self.canvas = Canvas()
            with self.canvas:
                self.fbo = Fbo(size=(max(1, Window.width), max(1, Window.height)))
                # The board is opaque and drawn pixel for pixel: without blending and with
                # nearest sampling, software GL copies it instead of filtering and blending every
                # pixel (measured at 1920 x 1080: 36 -> 22 ms a frame, with the clear below;
                # either change alone was no faster). A GPU does not mind either way.
                Callback(lambda _instruction: gl.glDisable(gl.GL_BLEND))
                Color(1, 1, 1, 1)
                self._quad = Rectangle(size=self.fbo.size, texture=self.fbo.texture)
                Callback(lambda _instruction: gl.glEnable(gl.GL_BLEND))
            self._nearest()
            with self.fbo:
                ClearColor(*BG)
                ClearBuffers()
            super().__init__(**kw)
            self.bind(size=self._resize)

        def _resize(self, _w: Any, size: Any) -> None:
            self.fbo.size = (max(1, int(size[0])), max(1, int(size[1])))
            self._quad.size, self._quad.texture = self.fbo.size, self.fbo.texture
            self._nearest()

        def _nearest(self) -> None:
            self.fbo.texture.mag_filter = "nearest"
            self.fbo.texture.min_filter = "nearest"

        def covers(self) -> bool:
            """Whether the board's quad covers the whole window (then clearing it is wasted)."""
            return tuple(self.fbo.size) == tuple(Window.size) and tuple(self.pos) == (0, 0)

        def add_widget(self, widget: Any, *args: Any, **kw: Any) -> None:
            canvas, self.canvas = self.canvas, self.fbo  # the child's canvas goes into the buffer
            try:
                super().add_widget(widget, *args, **kw)
            finally:
                self.canvas = canvas

        def remove_widget(self, widget: Any, *args: Any, **kw: Any) -> None:
            canvas, self.canvas = self.canvas, self.fbo
            try:
                super().remove_widget(widget, *args, **kw)
            finally:
                self.canvas = canvas

    textures: OrderedDict[tuple[str, float, bool, str, int], Any] = OrderedDict()

    def texture(text: str, size: float, bold: bool, halign: str, width: float) -> Any:
        """The text rendered white (tinted when drawn), from a cache: a redraw shows mostly the
        texts of the last one (numbers, names, figures), and rendering each again with the
        font engine was most of a redraw's time."""
        key = (text, size, bold, halign, round(width))
        found = textures.get(key)
        if found is not None:
            textures.move_to_end(key)
            return found
        core = CoreLabel(text=text, font_size=size * scale, bold=bold, halign=halign, text_size=(width, None))
        core.refresh()
        textures[key] = core.texture
        if len(textures) > TEXTURE_CACHE:
            textures.popitem(last=False)
        return core.texture

    class TextBox(Widget):
        """A text at its box (the scene fitted it there), centred vertically."""

        def __init__(self, text: str, size: float, box: Box, color: tuple[float, ...], bold: bool, halign: str) -> None:
            super().__init__(
                size_hint=(None, None), pos=(box.x * scale, box.y * scale), size=(box.w * scale, box.h * scale)
            )
            self.text = text
            self.texture = texture(text, size, bold, halign, self.width) if text else None
            if self.texture is None:
                return
            tw, th = self.texture.size
            x = self.x + {"left": 0.0, "right": self.width - tw}.get(halign, (self.width - tw) / 2)
            with self.canvas:
                Color(*color)
                self._quad = Rectangle(texture=self.texture, size=(tw, th), pos=(x, self.y + (self.height - th) / 2))

    class TrainCar(Widget):
        """A ticket: its number on a car coloured by status, with windows and wheels like a
        railway car's (Kasuya's residents look for *the train* with their number); at a busy
        station a flat chip; a finished ticket only its green "number → counter" line."""

        def __init__(self, car: Car) -> None:
            box = car.box
            super().__init__(
                size_hint=(None, None), size=(box.w * scale, box.h * scale), pos=(box.x * scale, box.y * scale)
            )
            self.car = car
            self.text = car.text
            self.number = car.numbers[0] if len(car.numbers) == 1 else None
            self.target: tuple[float, float] | None = None  # where it slides to
            ready = car.shape == "ready"
            self.texture = texture(car.text, car.size, True, "center", self.width) if car.text else None
            self._parts: list[Any] = []
            with self.canvas:
                if not ready:
                    Color(*TRAIN.get(car.status, TRAIN["waiting"]))
                    radius = min(box.h * 0.25, 10) * scale
                    # Few segments: software GL pays for every vertex of every car, every frame it slides.
                    self._body = RoundedRectangle(
                        radius=[radius, radius, 4, 4] if car.shape == "car" else [radius], segments=4
                    )
                    if car.shape == "car":
                        Color(*WINDOW)
                        self._parts.append(Rectangle())  # the window band along the top
                        Color(*WHEEL)
                        self._parts += [Ellipse(segments=10), Ellipse(segments=10)]  # a bogie at each end
                Color(*(READY if ready else TRAIN_INK.get(car.status, INK)))
                self._number = Rectangle(texture=self.texture, size=self.texture.size if self.texture else (0, 0))
            self.bind(pos=self._sync)
            self._sync()

        def _sync(self, *_: Any) -> None:
            x, y = self.pos
            w, h = self.size
            wheel = h * 0.16 if self.car.shape == "car" else 0.0  # the number sits on the body, above the wheels
            if self.car.shape != "ready":
                self._body.pos, self._body.size = (x, y + wheel * 0.5), (w, h - wheel * 0.5)
            if self._parts:
                band, left, right = self._parts
                band.pos, band.size = (x + w * 0.08, y + h * 0.80), (w * 0.84, h * 0.08)
                left.pos, left.size = (x + w * 0.14, y), (wheel, wheel)
                right.pos, right.size = (x + w * 0.86 - wheel, y), (wheel, wheel)
            tw, th = self._number.size
            self._number.pos = (x + (w - tw) / 2, y + wheel * 0.5 + (h - wheel * 0.5 - th) / 2)

    class BoardApp(App):
        title = "madoguchi board"

        def build(self) -> Any:
            root = FloatLayout()
            self.static = StaticLayer()
            self.overlay = FloatLayout()  # cars sliding to their new station
            root.add_widget(self.static)
            root.add_widget(self.overlay)
            # Kivy clears the whole window before every frame; the board's opaque quad covers it
            # all, so with software GL that clear is a full-screen pass for nothing (7 ms a frame
            # at 1920 x 1080). Cleared still whenever the quad does not cover the window.
            clear_window = Window.clear

            def clear_unless_covered() -> None:
                if not self.static.covers():
                    clear_window()

            Window.clear = clear_unless_covered
            # The board itself: a plain widget, its children placed by the scene (no layouts).
            self.root_box = Widget(size_hint=(None, None), size=Window.size, pos=(0, 0))
            self.static.add_widget(self.root_box)
            self.drawn: Any = None
            self.scene: Scene | None = None
            self.page = 0
            self.last_moves: tuple[Any, ...] = ()
            self.placed: dict[int, tuple[float, float]] = {}  # where each single-number car was drawn
            Clock.schedule_interval(self.step, 1.0)
            Clock.schedule_once(self.step, 0)
            return root

        def step(self, _dt: float = 0) -> None:
            if tick is not None:
                tick()
            page = int(time.monotonic() // PAGE_S)
            turned = page != self.page and self.scene is not None and self.scene.pages > 1
            self.page = page
            if controller.tick() or self.drawn is None or turned:
                self.draw()

        def draw(self) -> None:
            view = controller.view
            self.drawn = view
            self.last_moves = controller.moves
            box = self.root_box
            # Cars still sliding keep sliding through a redraw (the next snapshot often comes
            # while they are on their way): each goes on if the new board has it where it was
            # going, turns towards its new place if not, and goes only if it left the board.
            flying = {w.number: w for w in self.overlay.children if getattr(w, "number", None) is not None}
            box.clear_widgets()
            box.canvas.before.clear()
            box.size = Window.size  # the buffer is cleared to the board's colour (StaticLayer)
            if view is None or not controller.screen_on:
                self.scene = None
                self._ground(flying.values())
                return  # outside opening hours: black (the backend may have switched it off)
            drawn = scene(view, Window.width / scale, Window.height / scale, page=self.page, title=title_ja)
            self.scene = drawn
            with box.canvas.before:
                # The panels are opaque and cover most of the board: drawn without blending,
                # which software GL would otherwise pay for on every pixel at every redraw.
                Callback(lambda _instruction: gl.glDisable(gl.GL_BLEND))
                Color(*PANEL)
                for panel in drawn.panels:
                    RoundedRectangle(
                        pos=(panel.x * scale, panel.y * scale), size=(panel.w * scale, panel.h * scale), radius=[12]
                    )
                Callback(lambda _instruction: gl.glEnable(gl.GL_BLEND))
                for track in drawn.tracks:
                    Color(*TRACK)
                    GLine(points=[track.x0 * scale, track.y * scale, track.x1 * scale, track.y * scale], width=3)
                    for k, x in enumerate(track.stops):
                        Color(*(READY if k == len(track.stops) - 1 else TRACK))
                        RoundedRectangle(pos=(x * scale - 7, track.y * scale - 7), size=(14, 14), radius=[7])
            for t in drawn.texts:
                box.add_widget(TextBox(t.text, t.size, t.box, COLORS.get(t.color, INK), t.bold, t.halign))
            moves = {m.number: m for m in self.last_moves if isinstance(m, Move)}
            placed: dict[int, tuple[float, float]] = {}
            slides = 0
            for car in drawn.cars:
                widget = TrainCar(car)
                number = car.numbers[0] if len(car.numbers) == 1 else None
                to = (float(widget.x), float(widget.y))
                if number is not None:
                    placed[number] = to
                on_its_way = flying.pop(number, None) if number is not None else None
                if on_its_way is not None and on_its_way.target == to and on_its_way.car.text == car.text:
                    slides += 1  # already going there: let it
                    continue
                was = self.placed.get(number) if number in moves and slides < MAX_SLIDES else None
                if on_its_way is not None:
                    was = (float(on_its_way.x), float(on_its_way.y))  # turns from where it is now
                    self._ground([on_its_way])
                if was is None or was == to:
                    box.add_widget(widget)
                    continue
                # It moved: it slides from where it was, on the overlay above the cached board.
                slides += 1
                widget.pos = was
                widget.target = to
                self.overlay.add_widget(widget)
                slide = Animation(x=to[0], y=to[1], d=MOVE_S, t="out_cubic")
                slide.bind(on_complete=lambda _a, w: self.land(w))
                slide.start(widget)
            self._ground(flying.values())  # sliding cars no longer on the board
            self.placed = placed

        def _ground(self, cars: Any) -> None:
            for car in list(cars):
                Animation.cancel_all(car)
                if car.parent is self.overlay:
                    self.overlay.remove_widget(car)

        def land(self, widget: Any) -> None:
            if widget.parent is self.overlay:
                self.overlay.remove_widget(widget)
                self.root_box.add_widget(widget)

    return BoardApp()
