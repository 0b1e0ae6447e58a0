"""Kivy widgets every lobby screen shares.

This module imports kivy: import it only inside an app's builder, after
:func:`common.screen.configure_kivy` (Kivy reads its configuration when it is first imported).
"""

from __future__ import annotations

from typing import Any

from kivy.graphics import Color, Line
from kivy.metrics import dp
from kivy.uix.widget import Widget


class CheckMark(Widget):  # kivy is untyped: setup.cfg lets screens subclass its Any
    """A drawn check box: the fonts' ☐/☑ glyphs differ by language, and a drawing needs none.

    ``side``, ``frame`` and ``tick`` are in dp: the box's side, its frame's and its tick's width.
    """

    def __init__(
        self, on: bool, color: tuple[float, ...], *, side: float = 40, frame: float = 2.5, tick: float = 4
    ) -> None:
        super().__init__(size_hint=(None, None), size=(dp(side), dp(side)))
        self.on, self.color = on, color
        self.frame_width, self.tick_width = dp(frame), dp(tick)
        self.bind(pos=self._draw, size=self._draw)

    def _draw(self, *_: Any) -> None:
        self.canvas.clear()
        x, y, w, h = self.x, self.y, self.width, self.height
        with self.canvas:
            Color(*self.color)
            Line(rectangle=(x, y, w, h), width=self.frame_width)
            if self.on:
                Line(
                    points=[x + w * 0.2, y + h * 0.5, x + w * 0.42, y + h * 0.25, x + w * 0.82, y + h * 0.8],
                    width=self.tick_width,
                    cap="round",
                    joint="round",
                )
