"""The lobby train board (案内モニター), drawn with Kivy from the controller's BoardView.

Readable from 5 m: numbers large, status shown by colour *and* by shape/place (called trains
sit on the first station, finished ones move to the counter list), high contrast on a dark
background. Trains slide along the track when the office moves them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from display_board.controller import BoardController
from display_board.model import BoardView, Line, Move

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


def build_board_app(controller: BoardController, *, title_ja: str = "手続きの進み具合", tick: Callable[[], None] | None = None) -> Any:
    """The Kivy App for ``controller`` (kivy is imported here, after configure_kivy)."""
    from kivy.animation import Animation
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.text import DEFAULT_FONT, LabelBase
    from kivy.core.window import Window
    from kivy.graphics import Color, Rectangle, RoundedRectangle
    from kivy.graphics import Line as GLine
    from kivy.metrics import sp
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.floatlayout import FloatLayout
    from kivy.uix.label import Label
    from kivy.uix.widget import Widget

    from lobby.kiosk import find_font

    LabelBase.register(DEFAULT_FONT, find_font(), None, find_font(bold=True))
    Window.clearcolor = BG

    def text(value: str, pt: float, color: tuple[float, ...] = INK, bold: bool = False, **kw: Any) -> Label:
        label = Label(text=value, font_size=sp(pt), color=color, bold=bold, **kw)
        label.bind(size=lambda w, s: setattr(w, "text_size", s))
        label.halign = kw.get("halign", "center")
        label.valign = "middle"
        return label

    class Panel(BoxLayout):
        def __init__(self, fill: tuple[float, ...] = PANEL, **kw: Any) -> None:
            super().__init__(**kw)
            with self.canvas.before:
                Color(*fill)
                self._rect = RoundedRectangle(radius=[12])
            self.bind(pos=lambda w, p: setattr(self._rect, "pos", p), size=lambda w, s: setattr(self._rect, "size", s))

    class TrainBox(Label):
        """A train: its number on a car coloured by status."""

        def __init__(self, number: int, status: str, size: tuple[float, float]) -> None:
            super().__init__(text=str(number), font_size=size[1] * 0.7, bold=True, color=TRAIN_INK.get(status, INK),
                             size_hint=(None, None), size=size)
            with self.canvas.before:
                Color(*TRAIN.get(status, TRAIN["waiting"]))
                self._car = RoundedRectangle(radius=[size[1] * 0.25])
            self.bind(pos=self._sync, size=self._sync)

        def _sync(self, *_: Any) -> None:
            self._car.pos, self._car.size = self.pos, self.size

    class LineWidget(FloatLayout):
        """One route: the platform, the stations on a track, the trains placed by coordinates."""

        def __init__(self, line: Line, moves: dict[int, Move], secondary: bool) -> None:
            super().__init__()
            self.line, self.moves, self.secondary = line, moves, secondary
            self.trains: dict[int, TrainBox] = {}
            self.bind(size=self.redraw, pos=self.redraw)

        def column_x(self, index: int) -> float:
            columns = len(self.line.stations) + 1  # the platform, then each station
            return self.x + (index + 1 + 0.5) * self.width / columns

        def redraw(self, *_: Any) -> None:
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
            names = ["のりば" if not self.secondary else "のりば\nPlatform"] + [
                s.name.ja + (f"\n{s.name.text}" if self.secondary and s.name.text != s.name.ja else "") for s in line.stations
            ]
            col_w = self.width / columns
            for i, name in enumerate(names):
                self.add_widget(text(name, 20, MUTED if i == 0 else INK, bold=i > 0, size_hint=(None, None),
                                     size=(col_w, header_h), pos=(self.x + i * col_w, self.top - header_h)))
            # Numbers readable from 5 m: cars up to 68 px tall, never below MIN_CAR_PX; a crowded
            # station draws what fits and counts the rest on its "+N" chip.
            space = track_y - self.y - 20
            car_h = max(MIN_CAR_PX, min(68.0, space / (self.line_rows() + 0.6)))
            fit = max(1, int(space // (car_h + 6)) - 1)  # one row kept for the chip
            car_w = min(col_w * 0.8, car_h * 2.6)
            for i in range(-1, len(line.stations) - 1):
                all_drawn = line.drawn_at(i)
                drawn = all_drawn if len(all_drawn) <= fit + (0 if line.stack_at(i) else 1) else all_drawn[:fit]
                for row, train in enumerate(drawn):
                    box = TrainBox(train.number, train.status, (car_w, car_h))
                    x, y = self.column_x(i) - car_w / 2, track_y - 16 - (row + 1) * (car_h + 6)
                    move = self.moves.get(train.number)
                    box.pos = (self.column_x(move.from_index) - car_w / 2, y) if move is not None else (x, y)
                    self.add_widget(box)
                    self.trains[train.number] = box
                    if move is not None:
                        Animation(x=x, d=MOVE_S, t="out_cubic").start(box)
                hidden = line.stack_at(i) + len(all_drawn) - len(drawn)
                if hidden:
                    y = track_y - 16 - (len(drawn) + 1) * (car_h + 6)
                    self.add_widget(text(f"+{hidden}", 22, MUTED, bold=True, size_hint=(None, None), size=(car_w, car_h),
                                         pos=(self.column_x(i) - car_w / 2, y)))
            # The terminal: finished tickets, called to their counter.
            i = len(line.stations) - 1
            for row, ready in enumerate(line.ready):
                label = f"{ready.number} → {ready.counter}番窓口" if ready.counter is not None else str(ready.number)
                y = track_y - 16 - (row + 1) * (car_h + 6)
                self.add_widget(text(label, 22, READY, bold=True, size_hint=(None, None), size=(col_w, car_h),
                                     pos=(self.column_x(i) - col_w / 2, y)))
            if line.ready_more:
                y = track_y - 16 - (len(line.ready) + 1) * (car_h + 6)
                self.add_widget(text(f"+{line.ready_more}", 20, READY, size_hint=(None, None), size=(col_w, car_h),
                                     pos=(self.column_x(i) - col_w / 2, y)))

        def line_rows(self) -> int:
            rows = [len(self.line.drawn_at(i)) + (1 if self.line.stack_at(i) else 0) for i in range(-1, len(self.line.stations))]
            return max([*rows, len(self.line.ready) + (1 if self.line.ready_more else 0), 2])

    class BoardApp(App):
        title = "madoguchi board"

        def build(self) -> Any:
            self.root_box = BoxLayout(orientation="vertical", padding=16, spacing=10)
            with self.root_box.canvas.before:
                Color(*BG)  # the window's own colour, so screenshots show what residents see
                self._bg = Rectangle(pos=(0, 0), size=Window.size)
            Window.bind(size=lambda w, size: setattr(self._bg, "size", size))
            self.drawn: BoardView | None = None
            self.last_moves: tuple[Any, ...] = ()
            Clock.schedule_interval(self.step, 1.0)
            Clock.schedule_once(self.step, 0)
            return self.root_box

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
            box.clear_widgets()
            if view is None or not controller.screen_on:
                return  # outside opening hours: black (the backend may have switched it off)
            secondary = view.language != "ja"
            head = BoxLayout(size_hint_y=None, height=64)
            head.add_widget(text(view.office_name, 26, bold=True, halign="left"))
            head.add_widget(text(title_ja, 34, bold=True))
            right = text(datetime.now().strftime("%H:%M"), 30, bold=True, halign="right")
            if view.stale is not None:
                right = text(f"更新 {view.stale} (updated {view.stale}) — 接続を確認中", 22, STALE, bold=True, halign="right")
            head.add_widget(right)
            box.add_widget(head)
            body = BoxLayout(spacing=14)
            lines = BoxLayout(orientation="vertical", spacing=10, size_hint_x=0.72)
            moves = {m.number: m for m in self.last_moves if isinstance(m, Move)}
            shown = [ln for ln in view.lines if ln.trains or ln.ready or ln.stacks] or list(view.lines[:1])
            for line in shown:
                panel = Panel(orientation="vertical", padding=8)
                purposes = "・".join(p.ja for p in line.purposes)
                panel.add_widget(text(purposes, 20, MUTED, size_hint_y=None, height=28))
                panel.add_widget(LineWidget(line, {n: m for n, m in moves.items() if m.line == line.route}, secondary))
                lines.add_widget(panel)
            if view.awaiting_office:
                lines.add_widget(text("事務所からの情報を待っています / Waiting for the office", 28, MUTED))
            body.add_widget(lines)
            calls = Panel(orientation="vertical", padding=12, spacing=6, size_hint_x=0.28)
            calls.add_widget(text("お呼び出し中 / Now calling", 28, bold=True, size_hint_y=None, height=48))
            for call in view.calls:
                color = HIGHLIGHT if call.highlight else INK
                where = f"{call.counter}番窓口"
                what = "お受け取り" if call.kind == "ready" else "受付"
                calls.add_widget(text(f"{call.number}  →  {where}  ({what})", 34 if call.highlight else 28, color,
                                      bold=call.highlight, size_hint_y=None, height=64))
            calls.add_widget(Widget())
            body.add_widget(calls)
            box.add_widget(body)
            foot = BoxLayout(size_hint_y=None, height=56, spacing=12)
            for w in view.waiting[:6]:
                wait = f"約{w.est_wait_min}分" if w.est_wait_min is not None else "—"
                foot.add_widget(text(f"{w.name.ja}  {w.waiting}人  {wait}", 20, INK))
            box.add_widget(foot)
            caption = "番号が表示されたら、表示の窓口へお越しください"
            if secondary:
                caption += f"  ·  {_CAPTIONS.get(view.language, '')}"
            box.add_widget(text(caption, 22, MUTED, size_hint_y=None, height=40))

    return BoardApp()


# The rotating caption in the lobby languages (the board shows Japanese always, plus one).
_CAPTIONS = {
    "en": "When your number appears, please go to the counter shown",
    "zh_CN": "显示您的号码时，请前往所示窗口",
    "ko": "번호가 표시되면 표시된 창구로 오십시오",
    "vi": "Khi số của quý vị hiện lên, xin mời đến quầy được hiển thị",
    "pt": "Quando seu número aparecer, dirija-se ao guichê indicado",
}
