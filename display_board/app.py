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

from common.heap import release_free_heap
from display_board.controller import BoardController
from display_board.model import Move
from display_board.scene import PAGE_S, Car, Scene, Text, scene

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
SETTLE_S = 1.5  # arrived cars join the cached board after this long without a slide
TRIM_S = 3.0  # the heap's free pages go back to the system once the board is this long at rest
# Cars that slide at once at most: a burst of moves (the office back after an outage, a whole
# station handed on) lands in place; sliding hundreds of cars is noise, and each costs a frame.
MAX_SLIDES = 12
TEXTURE_CACHE = 3000  # rendered texts kept for the next redraws (a few MB of textures)


def build_board_app(
    controller: BoardController, *, title_ja: str = "手続きの進み具合", tick: Callable[[], None] | None = None
) -> Any:
    """The Kivy App for ``controller`` (kivy is imported here, after configure_kivy)."""
    from kivy.animation import AnimationTransition
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
        InstructionGroup,
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

    textures: OrderedDict[tuple[str, float, str, int], Any] = OrderedDict()

    def texture(text: str, size: float, halign: str, width: float) -> Any:
        """The text rendered white (tinted when drawn), from a cache: a redraw shows mostly the
        texts of the last one (numbers, names, figures), and rendering each again with the
        font engine was most of a redraw's time. Every text is Bold: one weight keeps one copy
        of the CJK font per size in memory instead of two (display_board.scene.SIZES)."""
        key = (text, size, halign, round(width))
        found = textures.get(key)
        if found is not None:
            textures.move_to_end(key)
            return found
        core = CoreLabel(text=text, font_size=size * scale, bold=True, halign=halign, text_size=(width, None))
        core.refresh()
        textures[key] = core.texture
        if len(textures) > TEXTURE_CACHE:
            textures.popitem(last=False)
        return core.texture

    class Piece:
        """One thing on the board - a text or a car - as a group of instructions of its own, so
        it can be kept, moved or taken off without touching the rest. Not a Kivy Widget:
        building widgets' properties was most of a redraw when 300 tickets moved at once."""

        __slots__ = ("car", "group", "parts", "place", "start", "started", "target", "text", "texture")

        def __init__(self, text: str, tex: Any, at: tuple[float, float], car: Car | None = None) -> None:
            self.text, self.texture, self.car = text, tex, car
            self.place = at  # its box's bottom left corner, in pixels
            self.start: tuple[float, float] = at  # where a slide began
            self.target: tuple[float, float] | None = None  # where it slides to
            self.started = 0.0
            self.group = InstructionGroup()
            self.parts: list[tuple[Any, float, float]] = []  # (shape, its offset in the box)

        def add(self, color: tuple[float, ...], shape: Any, dx: float, dy: float) -> None:
            self.group.add(Color(*color))
            self.group.add(shape)
            self.parts.append((shape, dx, dy))
            shape.pos = (self.place[0] + dx, self.place[1] + dy)

        @property
        def number(self) -> int | None:
            """The ticket's number when the piece is one ticket's car (a range chip is not)."""
            car = self.car
            return car.numbers[0] if car is not None and len(car.numbers) == 1 else None

        def move(self, at: tuple[float, float]) -> None:
            self.place = at
            x, y = at
            for shape, dx, dy in self.parts:
                shape.pos = (x + dx, y + dy)

    def text_piece(t: Text) -> Piece:
        """A text at its box (the scene fitted it there), centred vertically."""
        w, h = t.box.w * scale, t.box.h * scale
        tex = texture(t.text, t.size, t.halign, w) if t.text else None
        piece = Piece(t.text, tex, (t.box.x * scale, t.box.y * scale))
        if tex is not None:
            tw, th = tex.size
            dx = {"left": 0.0, "right": w - tw}.get(t.halign, (w - tw) / 2)
            piece.add(COLORS.get(t.color, INK), Rectangle(texture=tex, size=(tw, th)), dx, (h - th) / 2)
        return piece

    def car_piece(car: Car) -> Piece:
        """A ticket: its number on a car coloured by status, with windows and wheels like a
        railway car's (Kasuya's residents look for *the train* with their number); at a busy
        station a flat chip; a finished ticket only its green "number → counter" line."""
        w, h = car.box.w * scale, car.box.h * scale
        tex = texture(car.text, car.size, "center", w) if car.text else None
        piece = Piece(car.text, tex, (car.box.x * scale, car.box.y * scale), car)
        wheel = h * 0.16 if car.shape == "car" else 0.0  # the number sits on the body, above the wheels
        if car.shape != "ready":
            radius = min(h * 0.25, 10 * scale)
            # Few segments: software GL pays for every vertex of every car, every frame it slides.
            body = RoundedRectangle(
                size=(w, h - wheel * 0.5), radius=[radius, radius, 4, 4] if car.shape == "car" else [radius], segments=4
            )
            piece.add(TRAIN.get(car.status, TRAIN["waiting"]), body, 0.0, wheel * 0.5)
        if car.shape == "car":
            piece.add(WINDOW, Rectangle(size=(w * 0.84, h * 0.08)), w * 0.08, h * 0.80)  # the window band
            piece.add(WHEEL, Ellipse(size=(wheel, wheel), segments=10), w * 0.14, 0.0)  # a bogie at each end
            piece.add(WHEEL, Ellipse(size=(wheel, wheel), segments=10), w * 0.86 - wheel, 0.0)
        if tex is not None:
            tw, th = tex.size
            ink = READY if car.shape == "ready" else TRAIN_INK.get(car.status, INK)
            number = Rectangle(texture=tex, size=(tw, th))
            piece.add(ink, number, (w - tw) / 2, wheel * 0.5 + (h - wheel * 0.5 - th) / 2)
        return piece

    def _look(car: Car) -> tuple[Any, ...]:
        """What a car's drawing depends on, its place apart."""
        return (car.text, car.status, car.shape, car.size, car.box.w, car.box.h)

    def _reuse(spare: dict[Any, list[Piece]], car: Car) -> Piece | None:
        """A spare resting car that looks like ``car``, moved to its place; None if there is none."""
        found = spare.get(_look(car))
        if not found:
            return None
        piece = found.pop()
        piece.car = car
        piece.move((car.box.x * scale, car.box.y * scale))
        return piece

    class BoardApp(App):
        title = "madoguchi board"

        def build(self) -> Any:
            root = FloatLayout()
            self.static = StaticLayer()
            self.overlay = Widget()  # cars sliding to their new station
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
            self.texts: dict[Any, Piece] = {}  # scene Text -> its piece on the board
            self.resting: dict[Any, Piece] = {}  # scene Car -> its piece at rest on the board
            self.on_board: dict[int, Piece] = {}  # every piece in the board's canvas, by id
            self.sliding: list[Piece] = []  # cars on their way, on the overlay
            self.sliding_event: Any = None
            self.parked: dict[int, Piece] = {}  # cars arrived, still on the overlay (see land)
            self.settle_event: Any = None
            self.trim_event: Any = None
            self.layout: Any = None  # the panels and tracks drawn under them
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
            """Bring the board to the controller's view, changing only what changed: a text or a
            resting car that is the same as before (same content, same place) stays as it is, a
            car that only moved is moved, the panels and tracks are redrawn only when the layout
            changed. Everything goes into the cached layer at once, so no frame shows a board
            half-built; and a redraw costs about the changes, not the whole board (a full rebuild
            took 60-130 ms a frame at 1920 x 1080 with 300 tickets, with software GL)."""
            view = controller.view
            self.drawn = view
            self.last_moves = controller.moves
            # Cars still sliding keep sliding through a redraw (the next snapshot often comes
            # while they are on their way): each goes on if the new board has it where it was
            # going, turns towards its new place if not, and goes only if it left the board.
            flying = {p.number: p for p in self.sliding if p.number is not None}
            self.root_box.size = Window.size  # the buffer is cleared to the board's colour (StaticLayer)
            if view is None or not controller.screen_on:
                self.scene = None
                self._keep_only({}, {})
                self._ground_layout(None)
                self._ground(list(flying.values()))
                return  # outside opening hours: the board's colour only (the backend may switch it off)
            drawn = scene(view, Window.width / scale, Window.height / scale, page=self.page, title=title_ja)
            self.scene = drawn
            self._ground_layout(drawn)
            texts: dict[Any, Piece] = {}
            for t in drawn.texts:
                found = self.texts.get(t)
                texts[t] = found if found is not None and t not in texts else text_piece(t)
            moves = {m.number: m for m in self.last_moves if isinstance(m, Move)}
            placed: dict[int, tuple[float, float]] = {}
            resting: dict[Any, Piece] = {}
            # A resting car that only moved is the same piece moved, not a new one.
            spare: dict[Any, list[Piece]] = {}
            wanted = set(drawn.cars)
            for car, piece in self.resting.items():
                if car not in wanted:
                    spare.setdefault(_look(car), []).append(piece)
            slides = 0
            for car in drawn.cars:
                number = car.numbers[0] if len(car.numbers) == 1 else None
                to = (car.box.x * scale, car.box.y * scale)
                if number is not None:
                    placed[number] = to
                on_its_way = flying.pop(number, None) if number is not None else None
                if on_its_way is not None and on_its_way.target == to and on_its_way.text == car.text:
                    slides += 1  # already going there: let it
                    continue
                was = self.placed.get(number) if number in moves and slides < MAX_SLIDES else None
                if on_its_way is not None:
                    was = on_its_way.place  # turns from where it is now
                    self._ground([on_its_way])
                if was is None or was == to:
                    kept = self.resting.get(car) if car not in resting else None
                    resting[car] = kept or _reuse(spare, car) or car_piece(car)
                    continue
                # It moved: it slides from where it was, on the overlay above the cached board.
                slides += 1
                self._slide(car_piece(car), was, to)
            self._keep_only(texts, resting)
            self._ground(list(flying.values()))  # sliding cars no longer on the board
            self.placed = placed

        def _keep_only(self, texts: dict[Any, Piece], resting: dict[Any, Piece]) -> None:
            """The board's texts and resting cars become these: the rest go, the new come."""
            canvas = self.root_box.canvas
            now = {id(p): p for p in (*texts.values(), *resting.values())}
            for key, piece in self.parked.items():  # arrived cars leave the overlay
                self.overlay.canvas.remove(piece.group)
                if key in now:
                    canvas.add(piece.group)
                    self.on_board[key] = piece
            self.parked = {}
            for key in [k for k in self.on_board if k not in now]:
                canvas.remove(self.on_board.pop(key).group)
            for key, piece in now.items():
                if key not in self.on_board:
                    canvas.add(piece.group)
                    self.on_board[key] = piece
            self.texts, self.resting = texts, resting
            self._trim_later()

        def _ground_layout(self, drawn: Scene | None) -> None:
            """The panels and tracks under everything, redrawn only when they changed."""
            layout = (drawn.panels, drawn.tracks) if drawn is not None else None
            if layout == self.layout:
                return
            self.layout = layout
            before = self.root_box.canvas.before
            before.clear()
            if drawn is None:
                return
            with before:
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

        def _slide(self, piece: Piece, was: tuple[float, float], to: tuple[float, float]) -> None:
            piece.start, piece.target, piece.started = was, to, time.monotonic()
            piece.move(was)
            self.overlay.canvas.add(piece.group)
            self.sliding.append(piece)
            if self.sliding_event is None:
                self.sliding_event = Clock.schedule_interval(self._slide_step, 0)

        def _slide_step(self, _dt: float) -> bool:
            """Every sliding car one frame on (eased out, over MOVE_S); the arrived ones land."""
            now = time.monotonic()
            for piece in list(self.sliding):
                assert piece.target is not None
                k = min(1.0, (now - piece.started) / MOVE_S)
                eased = AnimationTransition.out_cubic(k)
                (x0, y0), (x1, y1) = piece.start, piece.target
                piece.move((x0 + (x1 - x0) * eased, y0 + (y1 - y0) * eased))
                if k >= 1.0:
                    self.land(piece)
            if self.sliding:
                return True
            self.sliding_event = None
            return False  # nothing slides: no frame is drawn for nothing

        def _ground(self, pieces: list[Piece]) -> None:
            for piece in pieces:
                if piece in self.sliding:
                    self.sliding.remove(piece)
                    self.overlay.canvas.remove(piece.group)

        def land(self, piece: Piece) -> None:
            """An arrived car stays on the overlay until the next redraw, or until nothing has
            moved for SETTLE_S: moving it into the cached board re-renders the whole board
            (30-50 ms with software GL), which is best done when no frame is watched."""
            if piece in self.sliding and piece.car is not None:
                self.sliding.remove(piece)
                self.parked[id(piece)] = piece
                self.resting[piece.car] = piece  # at rest now: the next redraw keeps it
                if self.settle_event is not None:
                    self.settle_event.cancel()
                self.settle_event = Clock.schedule_once(self._settle, SETTLE_S)

        def _settle(self, _dt: float) -> None:
            self.settle_event = None
            if self.sliding:  # still moving: later
                self.settle_event = Clock.schedule_once(self._settle, SETTLE_S)
                return
            self._keep_only(self.texts, self.resting)

        def _trim_later(self) -> None:
            """A redraw frees the textures and buffers of what changed; glibc keeps those pages
            in its fragmented heap for good (35 MB after one wave of 300 tickets). Once the board
            is at rest they go back to the system, never in a frame that is watched."""
            if self.trim_event is not None:
                self.trim_event.cancel()
            self.trim_event = Clock.schedule_once(self._trim, TRIM_S)

        def _trim(self, _dt: float) -> None:
            self.trim_event = None
            if self.sliding:  # still moving: later
                self._trim_later()
                return
            release_free_heap()

    return BoardApp()
