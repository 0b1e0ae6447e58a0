"""The lobby train board (案内モニター), drawn with Kivy from the controller's BoardView.

Readable from 5 m: numbers large, status shown by colour *and* by shape/place (called trains
sit on the first station, finished ones move to the counter list), high contrast on a dark
background. Trains slide along the track when the office moves them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from display_board import strings
from display_board.controller import BoardController
from display_board.model import BoardView, Line, Move, call_text, footer_cells, footer_rows, ready_text
from display_board.strings import gettext_for

log = logging.getLogger(__name__)

BG = (0.05, 0.09, 0.16, 1)  # deep navy: bright trains and text stand out across a lobby
PANEL = (0.1, 0.15, 0.24, 1)
TRACK = (0.55, 0.62, 0.72, 1)
INK = (0.96, 0.97, 0.99, 1)
MUTED = (0.7, 0.76, 0.85, 1)
TRAIN = {"waiting": (0.35, 0.42, 0.55, 1), "called": (1.0, 0.78, 0.2, 1), "in_progress": (0.25, 0.6, 1.0, 1)}
TRAIN_INK = {"waiting": INK, "called": (0.1, 0.1, 0.1, 1), "in_progress": (0.02, 0.05, 0.12, 1)}
READY = (0.3, 0.85, 0.45, 1)
HIGHLIGHT = (1.0, 0.78, 0.2, 1)
STALE = (1.0, 0.6, 0.2, 1)
MOVE_S = 0.9  # how long a train takes to slide to its new station
MIN_CAR_PX = 36.0  # below this a number is not readable across the lobby
CAR_SIZES = (MIN_CAR_PX, 48.0, 68.0)  # car heights in px, largest that fits
LINE_EM = 1.45  # a line of Noto Sans CJK is this many ems tall (its ascent and descent)
# Font sizes (sp) of the now-calling rows and the ready list, largest first; a long counter name
# steps down through them, then goes on two lines or is cut. Only sizes used elsewhere too: each
# distinct size keeps its own copy of the CJK font in memory.
CALL_SIZES = (28.0, 22.0)
CALL_SIZES_HIGHLIGHT = (34.0, 28.0, 22.0)  # a call of the last minute (the chime has just sounded)
CALL_SMALL = 20.0  # a call on two lines: two lines of it fit CALL_ROW_H
READY_SIZES = (22.0, 20.0)
# The layout the now-calling rows' width follows from (the widgets are laid out after drawing).
ROOT_PADDING = 16
BODY_SPACING = 14
FOOTER_ROW_H = 40  # one row of the waiting footer (every purpose: one or two rows)
CALLS_SHARE = 0.28  # of the body's width
CALLS_PADDING = 12
CALL_ROW_H = 64


def build_board_app(
    controller: BoardController, *, title_ja: str = "手続きの進み具合", tick: Callable[[], None] | None = None
) -> Any:
    """The Kivy App for ``controller`` (kivy is imported here, after configure_kivy)."""
    from kivy.animation import Animation
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.graphics import Canvas, ClearBuffers, ClearColor, Color, Fbo, Rectangle, RoundedRectangle
    from kivy.graphics import Line as GLine
    from kivy.metrics import sp
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.floatlayout import FloatLayout
    from kivy.uix.gridlayout import GridLayout
    from kivy.uix.label import Label
    from kivy.uix.layout import Layout as KivyLayout
    from kivy.uix.widget import Widget

    from common.screen import register_fonts

    register_fonts()
    Window.clearcolor = BG

    ja = gettext_for("ja")

    def both(message: str, language: str) -> str:
        """Japanese, then the rotating language (English while Japanese alone is up)."""
        return f"{ja(message)} / {gettext_for(language if language != 'ja' else 'en')(message)}"

    def text(value: str, pt: float, color: tuple[float, ...] = INK, bold: bool = False, **kw: Any) -> Label:
        label = Label(text=value, font_size=sp(pt), color=color, bold=bold, **kw)
        # Wrap to the width but keep the texture only as tall as the text: the texture is blended
        # onto the screen every frame, and software GL pays for every transparent pixel of it.
        label.bind(width=lambda w, width: setattr(w, "text_size", (width, None)))
        label.halign = kw.get("halign", "center")
        return label

    class Panel(BoxLayout):
        def __init__(self, fill: tuple[float, ...] = PANEL, **kw: Any) -> None:
            super().__init__(**kw)
            with self.canvas.before:
                Color(*fill)
                self._rect = RoundedRectangle(radius=[12])
            self.bind(pos=lambda w, p: setattr(self._rect, "pos", p), size=lambda w, s: setattr(self._rect, "size", s))

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

    class TrainBox(Label):
        """A train: its number on a car coloured by status."""

        def __init__(self, number: int, status: str, size: tuple[float, float]) -> None:
            super().__init__(
                text=str(number),
                font_size=size[1] * 0.7,
                bold=True,
                color=TRAIN_INK.get(status, INK),
                size_hint=(None, None),
                size=size,
            )
            with self.canvas.before:
                Color(*TRAIN.get(status, TRAIN["waiting"]))
                self._car = RoundedRectangle(radius=[size[1] * 0.25])
            self.bind(pos=self._sync, size=self._sync)

        def _sync(self, *_: Any) -> None:
            self._car.pos, self._car.size = self.pos, self.size

    class LineWidget(FloatLayout):
        """One route: the platform, the stations on a track, the trains placed by coordinates."""

        def __init__(self, line: Line, moves: dict[int, Move], language: str, overlay: Any) -> None:
            super().__init__()
            self.line, self.moves, self.language, self.overlay = line, moves, language, overlay
            self.secondary = language != "ja"
            self.trains: dict[int, TrainBox] = {}
            self.flying: list[TrainBox] = []  # sliding on the overlay; they land here when done
            # One rebuild per layout pass: the parent sets pos and size one after the other, and
            # every rebuild renders each car's number into a texture again.
            self._redraw = Clock.create_trigger(self.redraw)
            self.bind(size=self._redraw, pos=self._redraw)

        def column_x(self, index: int) -> float:
            columns = len(self.line.stations) + 1  # the platform, then each station
            return float(self.x + (index + 1 + 0.5) * self.width / columns)

        def land(self, box: TrainBox) -> None:
            if box in self.flying:
                self.flying.remove(box)
                self.overlay.remove_widget(box)
                self.add_widget(box)

        def redraw(self, *_: Any) -> None:
            for box in self.flying:
                Animation.cancel_all(box)
                self.overlay.remove_widget(box)
            self.flying = []
            self.clear_widgets()
            self.canvas.before.clear()
            line, columns = self.line, len(self.line.stations) + 1
            header_h = 64.0 if self.secondary else 40.0
            track_y = self.top - header_h - 6
            with self.canvas.before:
                Color(*TRACK)
                GLine(points=[self.column_x(-1), track_y, self.column_x(len(line.stations) - 1), track_y], width=3)
                for i in range(-1, len(line.stations)):
                    Color(*(READY if i == len(line.stations) - 1 else TRACK))
                    RoundedRectangle(pos=(self.column_x(i) - 7, track_y - 7), size=(14, 14), radius=[7])
            platform = ja(strings.PLATFORM) + (
                f"\n{gettext_for(self.language)(strings.PLATFORM)}" if self.secondary else ""
            )
            names = [platform] + [
                s.name.ja + (f"\n{s.name.text}" if self.secondary and s.name.text != s.name.ja else "")
                for s in line.stations
            ]
            col_w = self.width / columns
            for i, name in enumerate(names):
                self.add_widget(
                    text(
                        name,
                        20,
                        MUTED if i == 0 else INK,
                        bold=i > 0,
                        size_hint=(None, None),
                        size=(col_w, header_h),
                        pos=(self.x + i * col_w, self.top - header_h),
                    )
                )
            # Numbers readable from 5 m: cars up to 68 px tall, never below MIN_CAR_PX. A busy
            # station lays its cars out in a grid (rows under the track, as many columns as the
            # station's width holds) and counts what does not fit on its "+N" chip, which takes
            # the grid's last cell.
            space = track_y - self.y - 20
            fitting = space / (self.line_rows() + 0.6)
            # A few fixed sizes only: every distinct font size keeps its own copy of the CJK font
            # in memory (about 2.8 MB each), and the car size sets the number's font size.
            car_h = max([h for h in CAR_SIZES if h <= fitting], default=MIN_CAR_PX)
            rows = max(1, int(space // (car_h + 6)))
            car_w = min(col_w * 0.8, car_h * 2.6)
            per_row = max(1, int((col_w - 8) // (car_w + 6)))
            if per_row == 1 and rows * 1 < self.busiest():
                car_w = max(car_h * 1.9, (col_w - 14) / 2)  # a narrower car: two abreast beat a "+N"
                per_row = max(1, int((col_w - 8) // (car_w + 6)))
            cells = rows * per_row
            for i in range(-1, len(line.stations) - 1):
                all_drawn = line.drawn_at(i)
                stacked = line.stack_at(i)
                fits_all = len(all_drawn) <= cells and not stacked
                drawn = all_drawn if fits_all else all_drawn[: cells - 1]
                grid_w = min(per_row, max(1, len(drawn) + (0 if fits_all else 1))) * (car_w + 6) - 6
                left = self.column_x(i) - grid_w / 2
                for k, train in enumerate(drawn):
                    row, colm = divmod(k, per_row)
                    box = TrainBox(train.number, train.status, (car_w, car_h))
                    x, y = left + colm * (car_w + 6), track_y - 16 - (row + 1) * (car_h + 6)
                    move = self.moves.get(train.number)
                    self.trains[train.number] = box
                    if move is None:
                        box.pos = (x, y)
                        self.add_widget(box)
                        continue
                    box.pos = (x + self.column_x(move.from_index) - self.column_x(i), y)
                    self.overlay.add_widget(box)
                    self.flying.append(box)
                    slide = Animation(x=x, d=MOVE_S, t="out_cubic")
                    slide.bind(on_complete=lambda _a, w: self.land(w))
                    slide.start(box)
                hidden = stacked + len(all_drawn) - len(drawn)
                if hidden:
                    row, colm = divmod(len(drawn), per_row)
                    y = track_y - 16 - (row + 1) * (car_h + 6)
                    self.add_widget(
                        text(
                            f"+{hidden}",
                            22,
                            MUTED,
                            bold=True,
                            size_hint=(None, None),
                            size=(car_w, car_h),
                            pos=(left + colm * (car_w + 6), y),
                        )
                    )
            # The terminal: finished tickets, called to their counter.
            i = len(line.stations) - 1
            two_lines = car_h >= 2 * LINE_EM * sp(READY_SIZES[-1])
            for row, ready in enumerate(line.ready):
                label, size = ready_text(ready, col_w / sp(1), READY_SIZES, two_lines)
                y = track_y - 16 - (row + 1) * (car_h + 6)
                self.add_widget(
                    text(
                        label,
                        size,
                        READY,
                        bold=True,
                        size_hint=(None, None),
                        size=(col_w, car_h),
                        pos=(self.column_x(i) - col_w / 2, y),
                    )
                )
            if line.ready_more:
                y = track_y - 16 - (len(line.ready) + 1) * (car_h + 6)
                self.add_widget(
                    text(
                        f"+{line.ready_more}",
                        20,
                        READY,
                        size_hint=(None, None),
                        size=(col_w, car_h),
                        pos=(self.column_x(i) - col_w / 2, y),
                    )
                )

        def busiest(self) -> int:
            """Trains at the most crowded station (drawn and stacked)."""
            return max(len(self.line.drawn_at(i)) + self.line.stack_at(i) for i in range(-1, len(self.line.stations)))

        def line_rows(self) -> int:
            rows = [
                len(self.line.drawn_at(i)) + (1 if self.line.stack_at(i) else 0)
                for i in range(-1, len(self.line.stations))
            ]
            return max([*rows, len(self.line.ready) + (1 if self.line.ready_more else 0), 2])

    class BoardApp(App):
        title = "madoguchi board"

        def build(self) -> Any:
            root = FloatLayout()
            self.static = StaticLayer()
            self.overlay = FloatLayout()  # cars sliding to their new station
            root.add_widget(self.static)
            root.add_widget(self.overlay)
            self.root_box = BoxLayout(orientation="vertical", padding=ROOT_PADDING, spacing=10)
            self.static.add_widget(self.root_box)
            with self.root_box.canvas.before:
                Color(*BG)  # the window's own colour, so screenshots show what residents see
                self._bg = Rectangle(pos=(0, 0), size=Window.size)
            Window.bind(size=lambda w, size: setattr(self._bg, "size", size))
            self.drawn: BoardView | None = None
            self.last_moves: tuple[Any, ...] = ()
            Clock.schedule_interval(self.step, 1.0)
            Clock.schedule_once(self.step, 0)
            return root

        def step(self, _dt: float = 0) -> None:
            if tick is not None:
                tick()
            if controller.tick() or self.drawn is None:
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
            if view is None or not controller.screen_on:
                return  # outside opening hours: black (the backend may have switched it off)
            secondary = view.language != "ja"
            head = BoxLayout(size_hint_y=None, height=64)
            head.add_widget(text(view.office_name, 26, bold=True, halign="left"))
            head.add_widget(text(title_ja, 34, bold=True))
            right = text(view.clock, 30, bold=True, halign="right")
            if view.stale is not None:
                right = text(
                    f"更新 {view.stale} (updated {view.stale}) — 接続を確認中", 22, STALE, bold=True, halign="right"
                )
            head.add_widget(right)
            box.add_widget(head)
            body = BoxLayout(spacing=BODY_SPACING)
            lines = BoxLayout(orientation="vertical", spacing=10, size_hint_x=1 - CALLS_SHARE)
            moves = {m.number: m for m in self.last_moves if isinstance(m, Move)}
            shown = [ln for ln in view.lines if ln.trains or ln.ready or ln.stacks] or list(view.lines[:1])
            for line in shown:
                panel = Panel(orientation="vertical", padding=8)
                purposes = "・".join(p.ja for p in line.purposes)
                panel.add_widget(text(purposes, 20, MUTED, size_hint_y=None, height=28))
                panel.add_widget(
                    LineWidget(
                        line, {n: m for n, m in moves.items() if m.line == line.route}, view.language, self.overlay
                    )
                )
                lines.add_widget(panel)
            if view.awaiting_office:
                lines.add_widget(text(both(strings.WAITING_FOR_OFFICE, view.language), 28, MUTED))
            body.add_widget(lines)
            calls = Panel(orientation="vertical", padding=CALLS_PADDING, spacing=6, size_hint_x=CALLS_SHARE)
            calls.add_widget(text(both(strings.NOW_CALLING, view.language), 28, bold=True, size_hint_y=None, height=48))
            # The rows' width as the layout will make it (the widgets are not laid out yet).
            row_w = (Window.width - 2 * ROOT_PADDING - BODY_SPACING) * CALLS_SHARE - 2 * CALLS_PADDING
            for call in view.calls:
                sizes = CALL_SIZES_HIGHLIGHT if call.highlight else CALL_SIZES
                label, size = call_text(call, row_w / sp(1), sizes, CALL_SMALL)
                calls.add_widget(
                    text(
                        label,
                        size,
                        HIGHLIGHT if call.highlight else INK,
                        bold=call.highlight,
                        size_hint_y=None,
                        height=CALL_ROW_H,
                    )
                )
            calls.add_widget(Widget())
            body.add_widget(calls)
            box.add_widget(body)
            # Every purpose, in one or two rows (footer_cells fits each into its cell).
            foot_w = (Window.width - 2 * ROOT_PADDING) / sp(1)
            cells = footer_cells(view.waiting, foot_w)
            rows = footer_rows(len(view.waiting))
            foot = GridLayout(
                rows=rows, cols=max(1, -(-len(cells) // rows)), size_hint_y=None, height=FOOTER_ROW_H * rows
            )
            for cell in cells:
                foot.add_widget(text(cell.text, cell.size, INK))
            box.add_widget(foot)
            caption = ja(strings.CAPTION)
            if secondary:
                caption += f"  ·  {gettext_for(view.language)(strings.CAPTION)}"
            box.add_widget(text(caption, 22, MUTED, size_hint_y=None, height=40))
            self.settle()

        def settle(self) -> None:
            """Lay the new board out and draw its lines now, inside this frame.

            Layouts and each line's redraw otherwise run on the next frames (Kivy's triggers):
            the frame in between showed every line without its track, names and trains."""
            pending = [self.static]
            lines: list[Any] = []
            while pending:
                widget = pending.pop()
                if isinstance(widget, KivyLayout):
                    widget.do_layout()  # parents first: each sets its children's size and pos
                if isinstance(widget, LineWidget):
                    lines.append(widget)
                pending.extend(widget.children)
            for line in lines:
                line.redraw()
                line._redraw.cancel()  # the size it was just given asked for the same redraw again

    return BoardApp()
