"""What each serial driver needs from its port, declared in code (ESPHome's "a device declares
what it needs from its bus").

A profile states how its device's port is set (``serial: {baudrate: 9600, parity: none, …}``);
validation checks that against the driver that will talk to it, so a keypad profile that says
115200 baud fails at provisioning with the key path, not in the lobby with silence.

The numbers repeat the drivers' own constants (``drivers.keypad.BAUDRATE``,
``drivers.led_panel.BAUDRATE``, the ESC/POS driver's accepted rates, HARDWARE.md for ccTalk);
tests/test_profiles.py checks they agree, so a driver change cannot leave this table behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

PARITIES = ("none", "even", "odd", "mark", "space")
FLOW_CONTROLS = ("none", "rtscts", "dsrdtr", "xonxoff")


@dataclass(frozen=True)
class PortRequirement:
    """The line settings a driver works with: any of ``baudrates``, and exactly the framing."""

    driver: str
    baudrates: tuple[int, ...]
    data_bits: int = 8
    parity: str = "none"
    stop_bits: int = 1
    flow_controls: tuple[str, ...] = ("none",)

    @property
    def framing(self) -> str:
        """The usual short form, e.g. ``8N1``."""
        return f"{self.data_bits}{self.parity[0].upper()}{self.stop_bits}"

    def problems(self, settings: Mapping[str, object]) -> list[tuple[str, str]]:
        """(key, message) for every setting in ``settings`` the driver cannot work with."""
        found: list[tuple[str, str]] = []
        baud = settings.get("baudrate")
        if baud is not None and baud not in self.baudrates:
            if len(self.baudrates) == 1:
                need = f"talks at {self.baudrates[0]} baud"
                fix = f"set baudrate: {self.baudrates[0]} (and configure the device to match)"
            else:
                need = f"accepts {', '.join(map(str, self.baudrates[:-1]))} or {self.baudrates[-1]} baud"
                fix = "set baudrate to one of these (and configure the device to match)"
            found.append(("baudrate", f"{self.driver} {need}, got {baud}; {fix}"))
        for key, want in (("data_bits", self.data_bits), ("parity", self.parity), ("stop_bits", self.stop_bits)):
            value = settings.get(key)
            if value is not None and value != want:
                found.append(
                    (
                        key,
                        f"{self.driver} needs {key.replace('_', ' ')} {want} ({self.framing}), got {value}; set {key}: {want}",
                    )
                )
        flow = settings.get("flow_control")
        if flow is not None and flow not in self.flow_controls:
            found.append(
                (
                    "flow_control",
                    (
                        f"{self.driver} works with flow control {' or '.join(self.flow_controls)}, got {flow}; "
                        f"set flow_control: {self.flow_controls[0]}"
                    ),
                )
            )
        return found


PORT_REQUIREMENTS: Mapping[str, PortRequirement] = MappingProxyType(
    {
        "keypad": PortRequirement("the keypad driver (drivers/keypad.py)", (9600,)),
        "led_panel": PortRequirement("the LED panel driver (drivers/led_panel.py)", (9600,)),
        # ccTalk is 9600 8N1 on every device class (HARDWARE.md); a single-wire bus, no handshake.
        "cctalk": PortRequirement("the ccTalk driver (drivers/cctalk.py)", (9600,)),
        # drivers/escpos_printer.py accepts these rates and flow controls on its serial backend.
        "escpos": PortRequirement(
            "the ESC/POS printer driver (drivers/escpos_printer.py)",
            (9600, 19200, 38400, 57600, 115200),
            flow_controls=("dsrdtr", "rtscts", "xonxoff", "none"),
        ),
    }
)
"""The port needs of every serial driver, by driver name (a profile's kind or protocol picks one)."""
