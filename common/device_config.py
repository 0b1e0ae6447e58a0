"""What every device configuration shares: the ``[device]`` section provisioning writes and the
``[display]`` section of the three lobby screens, as frozen msgspec models.

A device configuration is one TOML file (``madoguchi-provision apply`` writes it; a technician
may write one by hand). Each app has its model of the whole file - the sections it reads, each
a model of its own, most of them the drivers' (``[printer]``, ``[keypad]``, ``[speech]``…) -
and reads it with :func:`common.cli.read_device_config`, which converts it through
:mod:`common.validation`: an error names the file, the key path and the fix.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec

from common.validation import info

Pixels = Annotated[int, info(ge=200, le=7680, what="pixels from 200 to 7680")]
MaxFps = Annotated[int, info(ge=0, le=120, what="frames per second from 1 to 120 (0: no cap)")]
Orientation = Annotated[Literal["landscape", "portrait"], info(what='"landscape" or "portrait"')]
Power = Annotated[
    Literal["none", "vcgencmd", "xset"],
    info(what='how the panel is switched off at night: "none", "vcgencmd" (a Pi) or "xset"'),
]


class DeviceSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[device]``: who the device is and which profile it was provisioned with, as
    ``madoguchi-provision apply`` writes it. The apps accept it and read nothing from it."""

    noun: ClassVar[str] = "table"

    role: str | None = None
    site: str | None = None
    device_id: str | None = None
    broker: str | None = None
    office_key: str | None = None  # the office's signing key, pinned at enrolment
    profile_hash: str | None = None
    models: dict[str, str | list[str]] = {}


class Display(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[display]``: the window or screen size, full screen or not, and a frame cap (a Pi stays
    cool; a lobby screen changes only on a touch or a call)."""

    noun: ClassVar[str] = "table"

    width: Pixels = 1280
    height: Pixels = 800
    fullscreen: bool = False
    maxfps: MaxFps = 30
    # Where a window opens (pixels from the screen's top left) when it is not full screen: the
    # demo puts its windows side by side on a screen with no window manager to move them.
    left: Annotated[int, info(ge=0, le=16_000, what="pixels from the screen's left")] | None = None
    top: Annotated[int, info(ge=0, le=16_000, what="pixels from the screen's top")] | None = None
    # Everything drawn at this size (Kivy's density): 0.5 shows a 1280 x 800 screen's layout in a
    # 640 x 400 window.
    scale: Annotated[float, info(ge=0.25, le=4.0, what="a size factor from 0.25 to 4")] = 1.0


class TouchDisplay(Display, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The dispenser's touch screen: ``orientation`` lays the purposes out in three columns
    across a landscape screen or two down a portrait one; unless given, the shape of
    ``width`` x ``height`` says which."""

    orientation: Orientation | None = None

    def __post_init__(self) -> None:
        if self.orientation is None:
            msgspec.structs.force_setattr(self, "orientation", "landscape" if self.width >= self.height else "portrait")

    @property
    def layout(self) -> Literal["landscape", "portrait"]:
        """The orientation, as given or as the size says."""
        return self.orientation or ("landscape" if self.width >= self.height else "portrait")


class BoardDisplay(Display, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The train board's screen: a large landscape monitor, switched off outside opening hours
    (``power``)."""

    width: Pixels = 1920
    height: Pixels = 1080
    power: Power = "none"


class KioskDisplay(TouchDisplay, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The kiosk's upright touch screen."""

    width: Pixels = 1080
    height: Pixels = 1920
    power: Power = "none"
