"""What a serial driver needs of its port, declared by the driver (ESPHome: "a device declares
what it needs from its bus").

Each serial driver declares one :class:`SerialLine` beside its code - ``drivers.keypad.LINE``,
``drivers.led_panel.LINE``, ``drivers.cctalk.LINE``, ``drivers.printer_model.SERIAL_LINE`` (the
ESC/POS printer) - saying what it serves (``serves``: a kind of profile, or a bus protocol) and
opens its port with it (:meth:`SerialLine.pyserial`). Provisioning finds the declarations in the
drivers package (firmware_profiles.ports) and checks a profile's ``serial:`` settings against
them (:meth:`SerialLine.problems`), so
a keypad profile that says 115200 baud fails at provisioning with the key path, not in the lobby
with silence, and what provisioning checks is what the driver really does.

Pure: no pyserial here (its parity letters are plain strings).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

Parity = Literal["none", "even", "odd", "mark", "space"]
FlowControl = Literal["none", "rtscts", "dsrdtr", "xonxoff"]
DataBits = Literal[5, 6, 7, 8]
StopBits = Literal[1, 2]

PARITIES: Final[tuple[Parity, ...]] = get_args(Parity)
FLOW_CONTROLS: Final[tuple[FlowControl, ...]] = get_args(FlowControl)
# pyserial's PARITY_* constants are these letters.
_PYSERIAL_PARITY: Final = {"none": "N", "even": "E", "odd": "O", "mark": "M", "space": "S"}


@dataclass(frozen=True)
class SerialLine:
    """The line settings a driver works with: any of ``baudrates`` (``baudrate`` unless the
    configuration says otherwise), exactly the framing, and one of ``flow_controls`` (the first
    unless the configuration says otherwise).

    ``driver`` names the driver in messages: ``the keypad driver (drivers/keypad.py)``.
    ``serves`` says what the driver talks to: kinds of profile (``"keypads"``) or, for devices
    that share a bus, their protocol (``"cctalk"``). Provisioning finds a driver's line by it
    (firmware_profiles.ports gathers every module-level declaration in the drivers package), so a
    new serial driver is checked at provisioning without an edit anywhere else."""

    driver: str
    baudrates: tuple[int, ...]
    serves: tuple[str, ...] = ()
    baudrate: int = 0  # 0: the first of baudrates
    data_bits: DataBits = 8
    parity: Parity = "none"
    stop_bits: StopBits = 1
    flow_controls: tuple[FlowControl, ...] = ("none",)

    def __post_init__(self) -> None:
        if isinstance(self.serves, str):
            raise TypeError(f"{self.driver}: serves is a tuple of names, e.g. serves=({self.serves!r},)")
        if not self.baudrates or not self.flow_controls:
            raise ValueError(f"{self.driver}: a line needs at least one baud rate and one flow control")
        if self.baudrate == 0:
            object.__setattr__(self, "baudrate", self.baudrates[0])
        if self.baudrate not in self.baudrates:
            raise ValueError(f"{self.driver}: the default baud rate {self.baudrate} is not among {self.baudrates}")

    @property
    def framing(self) -> str:
        """The usual short form, e.g. ``8N1``."""
        return f"{self.data_bits}{self.parity[0].upper()}{self.stop_bits}"

    @property
    def flow_control(self) -> FlowControl:
        """The flow control used when the configuration names none."""
        return self.flow_controls[0]

    def problems(self, settings: Mapping[str, object]) -> list[tuple[str, str]]:
        """(key, message) for every setting in ``settings`` (``baudrate``, ``data_bits``,
        ``parity``, ``stop_bits``, ``flow_control``; absent ones are not checked) the driver
        cannot work with; each message says what the driver needs and how to fix it."""
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
                name = key.replace("_", " ")
                found.append(
                    (key, f"{self.driver} needs {name} {want} ({self.framing}), got {value}; set {key}: {want}")
                )
        flow = settings.get("flow_control")
        if flow is not None and flow not in self.flow_controls:
            message = (
                f"{self.driver} works with flow control {' or '.join(self.flow_controls)}, got {flow}; "
                f"set flow_control: {self.flow_controls[0]}"
            )
            found.append(("flow_control", message))
        return found

    def pyserial(self, *, baudrate: int | None = None, flow_control: FlowControl | None = None) -> dict[str, Any]:
        """Keyword arguments for pyserial's ``serial_for_url`` (or ``Serial``) that open the port
        as declared: the baud rate, the framing and the flow control (the defaults unless given)."""
        flow = flow_control or self.flow_control
        return {
            "baudrate": baudrate or self.baudrate,
            "bytesize": self.data_bits,
            "parity": _PYSERIAL_PARITY[self.parity],
            "stopbits": self.stop_bits,
            "rtscts": flow == "rtscts",
            "dsrdtr": flow == "dsrdtr",
            "xonxoff": flow == "xonxoff",
        }
