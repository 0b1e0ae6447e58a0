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


def build_board_app(
    controller: BoardController, *, title_ja: str = "手続きの進み具合", tick: Callable[[], None] | None = None
) -> Any:
    """The Kivy App for ``controller`` (kivy is imported here, after configure_kivy)."""
    from kivy.animation import Animation
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.graphics import Canvas, ClearBuffers, ClearColor, Color, Ellipse, Fbo, Rectangle, RoundedRectangle
    from kivy.graphics import Line as GLine
    from kivy.metrics import sp
    from kivy.uix.floatlayout import FloatLayout
    from kivy.uix.label import Label
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
                Color(1, 1, 1, 1)
                self._quad = Rectangle(size=self.fbo.size, texture=self.fbo.texture)
            with self.fbo:
                ClearColor(*BG)
                ClearBuffers()
            super().__init__(**kw)
            self.bind(size=self._resize)

        def _resize(self, _w: Any, size: Any) -> None:
            self.fbo.size = (max(1, int(size[0])), max(1, int(size[1])))
            self._quad.size, self._quad.texture = self.fbo.size, self.fbo.texture

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

    def label(text: str, size: float, box: Box, color: tuple[float, ...], bold: bool, halign: str) -> Label:
        widget = Label(
            text=text,
            font_size=size * scale,
            color=color,
            bold=bold,
            halign=halign,
            valign="middle",
            size_hint=(None, None),
            pos=(box.x * scale, box.y * scale),
            size=(box.w * scale, box.h * scale),
            text_size=(box.w * scale, box.h * scale),
        )
        widget.texture_update()  # now, not on the next frame: the frame flipped must be whole
        return widget

    class TrainCar(Label):
        """A ticket: its number on a car coloured by status, with windows and wheels like a
        railway car's (Kasuya's residents look for *the train* with their number); at a busy
        station a flat chip; a finished ticket only its green "number → counter" line."""

        def __init__(self, car: Car) -> None:
            box = car.box
            ready = car.shape == "ready"
            super().__init__(
                text=car.text,
                font_size=car.size * scale,
                bold=True,
                color=READY if ready else TRAIN_INK.get(car.status, INK),
                halign="center",
                valign="middle",
                size_hint=(None, None),
                size=(box.w * scale, box.h * scale),
                text_size=(box.w * scale, box.h * scale),
                pos=(box.x * scale, box.y * scale),
                # A car's number sits on its body, above the wheels.
                padding=(0, 0, 0, box.h * scale * 0.08) if car.shape == "car" else (0, 0, 0, 0),
            )
            self.car = car
            self.texture_update()
            if ready:
                return
            body = TRAIN.get(car.status, TRAIN["waiting"])
            with self.canvas.before:
                Color(*body)
                radius = min(box.h * 0.25, 10) * scale
                self._body = RoundedRectangle(radius=[radius, radius, 4, 4] if car.shape == "car" else [radius])
                self._parts: list[Any] = []
                if car.shape == "car":
                    Color(*WINDOW)
                    self._parts.append(Rectangle())  # the window band along the top
                    Color(*WHEEL)
                    self._parts += [Ellipse(), Ellipse()]  # a bogie at each end
            self.bind(pos=self._sync, size=self._sync)
            self._sync()

        def _sync(self, *_: Any) -> None:
            x, y = self.pos
            w, h = self.size
            wheel = h * 0.16
            self._body.pos, self._body.size = (x, y + wheel * 0.5), (w, h - wheel * 0.5)
            if self._parts:
                band, left, right = self._parts
                band.pos, band.size = (x + w * 0.08, y + h * 0.80), (w * 0.84, h * 0.08)
                left.pos, left.size = (x + w * 0.14, y), (wheel, wheel)
                right.pos, right.size = (x + w * 0.86 - wheel, y), (wheel, wheel)

    class BoardApp(App):
        title = "madoguchi board"

        def build(self) -> Any:
            root = FloatLayout()
            self.static = StaticLayer()
            self.overlay = FloatLayout()  # cars sliding to their new station
            root.add_widget(self.static)
            root.add_widget(self.overlay)
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
            for car in list(self.overlay.children):
                Animation.cancel_all(car)
            self.overlay.clear_widgets()
            box.clear_widgets()
            box.canvas.before.clear()
            box.size = Window.size
            with box.canvas.before:
                Color(*BG)  # the window's own colour, so screenshots show what residents see
                Rectangle(pos=(0, 0), size=Window.size)
            if view is None or not controller.screen_on:
                self.scene = None
                return  # outside opening hours: black (the backend may have switched it off)
            drawn = scene(view, Window.width / scale, Window.height / scale, page=self.page, title=title_ja)
            self.scene = drawn
            with box.canvas.before:
                Color(*PANEL)
                for panel in drawn.panels:
                    RoundedRectangle(
                        pos=(panel.x * scale, panel.y * scale), size=(panel.w * scale, panel.h * scale), radius=[12]
                    )
                for track in drawn.tracks:
                    Color(*TRACK)
                    GLine(points=[track.x0 * scale, track.y * scale, track.x1 * scale, track.y * scale], width=3)
                    for k, x in enumerate(track.stops):
                        Color(*(READY if k == len(track.stops) - 1 else TRACK))
                        RoundedRectangle(pos=(x * scale - 7, track.y * scale - 7), size=(14, 14), radius=[7])
            for t in drawn.texts:
                box.add_widget(label(t.text, t.size, t.box, COLORS.get(t.color, INK), t.bold, t.halign))
            moves = {m.number: m for m in self.last_moves if isinstance(m, Move)}
            placed: dict[int, tuple[float, float]] = {}
            for car in drawn.cars:
                widget = TrainCar(car)
                number = car.numbers[0] if len(car.numbers) == 1 else None
                to = (float(widget.x), float(widget.y))
                if number is not None:
                    placed[number] = to
                was = self.placed.get(number) if number in moves else None
                if was is None or was == to:
                    box.add_widget(widget)
                    continue
                # It moved: it slides from where it was, on the overlay above the cached board.
                widget.pos = was
                self.overlay.add_widget(widget)
                slide = Animation(x=to[0], y=to[1], d=MOVE_S, t="out_cubic")
                slide.bind(on_complete=lambda _a, w: self.land(w))
                slide.start(widget)
            self.placed = placed

        def land(self, widget: Any) -> None:
            if widget.parent is self.overlay:
                self.overlay.remove_widget(widget)
                self.root_box.add_widget(widget)

    return BoardApp()
