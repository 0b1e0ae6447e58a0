"""What every lobby screen (dispenser, board, kiosk) sets up before Kivy starts: the kiosk
configuration and the Japanese font. Nothing here imports kivy at module import time."""

from __future__ import annotations

import os
from pathlib import Path

from common.fonts import screen_font_path


def find_font(bold: bool = False) -> str:
    """Noto Sans CJK for the screens (Japanese, Chinese, Korean, Vietnamese and Latin in one
    file): Kivy has no font fallback, so every label is drawn with it."""
    return screen_font_path(bold=bold)


def register_fonts() -> None:
    """Make Noto Sans CJK the default font of every label (after :func:`configure_kivy`)."""
    from kivy.core.text import DEFAULT_FONT, LabelBase

    LabelBase.register(DEFAULT_FONT, find_font(), None, find_font(bold=True))


def configure_kivy(
    *,
    width: int,
    height: int,
    fullscreen: bool,
    kiosk: bool,
    home: Path,
    maxfps: int = 30,
    left: int | None = None,
    top: int | None = None,
    scale: float = 1.0,
) -> None:
    """Kiosk settings (HARDWARE.md): no escape exit, no screensaver, no cursor, capped fps, one
    touch provider (several for one device give double taps). Must run before kivy imports.
    ``left``/``top`` place a window; ``scale`` draws everything that much larger or smaller."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")  # our argv is ours
    if scale != 1.0:
        os.environ["KIVY_METRICS_DENSITY"] = f"{scale:g}"  # dp and sp follow it
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    # Kivy's records go through Python logging, so the command's --log-level governs them too.
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    os.environ["KIVY_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    from kivy.config import Config

    Config.set("kivy", "exit_on_escape", "0" if kiosk else "1")
    Config.set("kivy", "log_level", "warning")
    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("graphics", "show_cursor", "0" if kiosk else "1")
    Config.set("graphics", "allow_screensaver", "0")
    Config.set("graphics", "maxfps", str(maxfps))
    Config.set("graphics", "resizable", "0" if kiosk else "1")
    # Kivy's default is 2 samples a pixel. The screens draw text and rectangles, so it buys
    # nothing; under Mesa's software GL it made every window surface twice over (a 1920x1080
    # board: 78 MB of surfaces against 10) and every fragment cost two. deploy/kivy/config.ini
    # said 0, but a fresh KIVY_HOME (the demo, the bench, a device whose file was not installed)
    # took the default.
    Config.set("graphics", "multisamples", "0")
    if left is not None and top is not None and not fullscreen:
        Config.set("graphics", "position", "custom")
        Config.set("graphics", "left", str(left))
        Config.set("graphics", "top", str(top))
    # One input provider only; mouse stands in for touch when no touch screen is attached.
    for section in list(Config.options("input")) if Config.has_section("input") else []:
        Config.remove_option("input", section)
    Config.set("input", "mouse", "mouse,disable_multitouch")
