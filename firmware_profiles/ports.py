"""Which driver talks to which kind of profile over a serial port, and the check of a profile's
``serial:`` settings against that driver's own declaration (ESPHome: "a device declares what it
needs from its bus").

Nothing is repeated here: each driver declares its line beside its code
(:class:`drivers.serial_line.SerialLine`: ``drivers.keypad.LINE``, ``drivers.led_panel.LINE``,
``drivers.cctalk.LINE``, ``drivers.printer_model.SERIAL_LINE``) and opens its port with it, so a
keypad profile that says 115200 baud fails at provisioning with the key path, not in the lobby
with silence.

Not pure by the purity test's measure: it names the drivers, whose modules hold their threads.
Only the loader imports it; resolve.py and detect.py stay clear of it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from types import MappingProxyType

import msgspec

from common.validation import Invalid
from drivers.serial_line import SerialLine
from firmware_profiles.profile_models import CashProfile, KindModel

DRIVEN: tuple[str, ...] = ("printers", "keypads", "led_panels", "cctalk")
"""What a serial driver serves: a kind of profile, or (for cash devices) their protocol."""


@cache
def declared_line(name: str) -> SerialLine | None:
    """The declaration of the serial driver serving ``name`` (one of :data:`DRIVEN`), or None.

    Each driver's module is imported when first asked for: an app reading only the printer
    profiles at start need not load the keypad's, the LED panel's or the ccTalk driver."""
    if name == "printers":
        from drivers.printer_model import SERIAL_LINE

        return SERIAL_LINE
    if name == "keypads":
        from drivers.keypad import LINE as KEYPAD_LINE

        return KEYPAD_LINE
    if name == "led_panels":
        from drivers.led_panel import LINE as PANEL_LINE

        return PANEL_LINE
    if name == "cctalk":
        from drivers.cctalk import LINE as CCTALK_LINE

        return CCTALK_LINE
    return None


def lines() -> Mapping[str, SerialLine]:
    """Every serial driver's declaration, by what it serves."""
    return MappingProxyType({name: line for name in DRIVEN if (line := declared_line(name)) is not None})


def line_for(kind: str, facts: KindModel) -> SerialLine | None:
    """The declaration of the driver that talks to ``facts`` over a serial port, or None."""
    return declared_line(facts.protocol if isinstance(facts, CashProfile) else kind)


def port_problems(kind: str, facts: KindModel) -> Iterator[Invalid]:
    """Every ``serial.<key>`` of the profile its driver cannot work with (none without a port)."""
    settings = getattr(facts, "serial", None)
    if settings is None:
        return
    line = line_for(kind, facts)
    if line is None:
        return
    for key, message in line.problems(msgspec.structs.asdict(settings)):
        yield Invalid(("serial", key), message)
