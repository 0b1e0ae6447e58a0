"""Each serial driver declares what it needs of its port (ESPHome's "a device declares what it
needs from its bus"), opens its port with that declaration, and provisioning checks the
profiles' ``serial:`` settings against the same object - no second copy of the numbers."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import serial

import drivers
from drivers import cctalk, keypad, led_panel
from drivers.printer_model import SERIAL_LINE as ESCPOS_LINE
from drivers.serial_line import SerialLine
from firmware_profiles import CatalogError, load_catalog
from firmware_profiles.loader import BUILTIN_ROOT
from firmware_profiles.ports import declared_line, forget, lines


def test_a_line_says_what_is_wrong_and_how_to_fix_it() -> None:
    line = SerialLine("the test driver (drivers/test.py)", (9600,))
    assert line.framing == "8N1" and line.baudrate == 9600 and line.flow_control == "none"
    assert line.problems({"baudrate": 9600, "data_bits": 8, "parity": "none", "stop_bits": 1}) == []
    assert line.problems({"baudrate": 19200, "stop_bits": 2, "flow_control": "rtscts"}) == [
        (
            "baudrate",
            (
                "the test driver (drivers/test.py) talks at 9600 baud, got 19200; set baudrate: 9600 "
                "(and configure the device to match)"
            ),
        ),
        ("stop_bits", "the test driver (drivers/test.py) needs stop bits 1 (8N1), got 2; set stop_bits: 1"),
        (
            "flow_control",
            "the test driver (drivers/test.py) works with flow control none, got rtscts; set flow_control: none",
        ),
    ]
    with pytest.raises(ValueError, match="not among"):
        SerialLine("x", (9600,), baudrate=115200)


def test_a_line_opens_a_port_as_declared() -> None:
    line = SerialLine("x", (9600, 38400), baudrate=38400, parity="even", flow_controls=("dsrdtr", "none"))
    assert line.pyserial() == {
        "baudrate": 38400,
        "bytesize": 8,
        "parity": "E",
        "stopbits": 1,
        "rtscts": False,
        "dsrdtr": True,
        "xonxoff": False,
    }
    assert line.pyserial(baudrate=9600, flow_control="none")["dsrdtr"] is False


def test_the_drivers_declare_their_lines() -> None:
    assert (keypad.LINE.baudrates, keypad.LINE.framing) == ((9600,), "8N1")
    assert (led_panel.LINE.baudrates, led_panel.LINE.framing) == ((9600,), "8N1")
    assert (cctalk.LINE.baudrates, cctalk.LINE.framing) == ((9600,), "8N1")
    assert ESCPOS_LINE.baudrates == (9600, 19200, 38400, 57600, 115200) and ESCPOS_LINE.baudrate == 38400
    assert ESCPOS_LINE.flow_control == "dsrdtr"
    # Provisioning asks the drivers for them; nothing else answers.
    assert declared_line("keypads") is keypad.LINE and declared_line("led_panels") is led_panel.LINE
    assert declared_line("cctalk") is cctalk.LINE and declared_line("printers") is ESCPOS_LINE
    assert declared_line("displays") is None
    assert dict(lines()) == {
        "printers": ESCPOS_LINE,
        "keypads": keypad.LINE,
        "led_panels": led_panel.LINE,
        "cctalk": cctalk.LINE,
    }


@pytest.fixture
def more_drivers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder added to the drivers package, for a driver written during the test."""
    folder = tmp_path / "drivers"
    folder.mkdir()
    monkeypatch.setattr(drivers, "__path__", [*drivers.__path__, str(folder)])
    forget()
    yield folder
    for name in [m for m in sys.modules if m.startswith("drivers.test_")]:
        monkeypatch.delitem(sys.modules, name)
    forget()


def test_a_new_serial_driver_is_found_by_its_declaration_alone(more_drivers: Path) -> None:
    # A barcode scanner driver, written the way the others are: provisioning finds its line
    # without an edit of firmware_profiles/ports.py or any other list.
    (more_drivers / "test_scanner.py").write_text(
        "from drivers.serial_line import SerialLine\n"
        'LINE = SerialLine("the scanner driver (drivers/test_scanner.py)", (115200,), serves=("scanners",))\n',
        encoding="utf-8",
    )
    scanner = declared_line("scanners")
    assert scanner is not None and scanner is sys.modules["drivers.test_scanner"].LINE
    assert scanner.problems({"baudrate": 9600}) == [
        (
            "baudrate",
            (
                "the scanner driver (drivers/test_scanner.py) talks at 115200 baud, got 9600; set baudrate: 115200 "
                "(and configure the device to match)"
            ),
        )
    ]
    assert declared_line("keypads") is keypad.LINE  # the others are still found


def test_two_drivers_serving_one_kind_is_an_error(more_drivers: Path) -> None:
    (more_drivers / "test_other_keypad.py").write_text(
        "from drivers.serial_line import SerialLine\n"
        'LINE = SerialLine("another keypad driver", (19200,), serves=("keypads",))\n',
        encoding="utf-8",
    )
    with pytest.raises(RuntimeError, match="both declare a serial line for 'keypads'"):
        declared_line("keypads")
    with pytest.raises(RuntimeError, match="both declare a serial line for 'keypads'"):
        lines()


def test_a_module_that_declares_no_line_is_not_imported(more_drivers: Path) -> None:
    (more_drivers / "test_heavy.py").write_text("raise ImportError('python-escpos is absent')\n", encoding="utf-8")
    assert declared_line("keypads") is keypad.LINE and "drivers.test_heavy" not in sys.modules


def test_the_keypad_and_the_panel_open_their_ports_with_their_lines() -> None:
    pad = keypad.SerialKeypad("loop://", on_key=lambda event: None)
    panel = led_panel.LedPanel("loop://", [1])
    try:
        for options, line in ((pad._port_options(), keypad.LINE), (panel._port_options(), led_panel.LINE)):
            declared = {k: v for k, v in line.pyserial().items() if k != "baudrate"}
            assert {k: options[k] for k in declared} == declared
        assert pad._baudrate == keypad.LINE.baudrate and panel._baudrate == led_panel.LINE.baudrate
    finally:
        pad.close()
        panel.close()


def test_the_cctalk_bus_opens_its_port_with_its_line(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    real = serial.serial_for_url

    def spy(url: str, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return real(url, **kwargs)

    monkeypatch.setattr(serial, "serial_for_url", spy)
    bus = cctalk.CcTalkBus.open("loop://")
    bus.close()
    assert {k: seen[k] for k in cctalk.LINE.pyserial()} == cctalk.LINE.pyserial()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for folder in ("models", "roles"):
        shutil.copytree(BUILTIN_ROOT / folder, tmp_path / folder)
    return tmp_path


@pytest.fixture
def faster_keypad(monkeypatch: pytest.MonkeyPatch) -> Iterator[SerialLine]:
    """The keypad driver as if its firmware had moved to 115200 baud."""
    line = SerialLine("the keypad driver (drivers/keypad.py)", (115200,), serves=("keypads",))
    forget()
    monkeypatch.setattr(keypad, "LINE", line)
    yield line
    forget()


def test_provisioning_checks_the_profiles_against_the_drivers_declaration(
    root: Path, faster_keypad: SerialLine
) -> None:
    # The profile still says 9600: the driver's own declaration, not a table of provisioning's,
    # decides, and the error names the file, the key path and the fix.
    with pytest.raises(CatalogError) as caught:
        load_catalog(root)
    assert [str(e) for e in caught.value.errors] == [
        (
            "models/keypads/madoguchi-keypad.yaml: serial.baudrate: the keypad driver (drivers/keypad.py) talks at "
            "115200 baud, got 9600; set baudrate: 115200 (and configure the device to match)"
        )
    ]
    path = root / "models" / "keypads" / "madoguchi-keypad.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("baudrate: 9600", "baudrate: 115200"), encoding="utf-8")
    assert load_catalog(root).model("keypads", "madoguchi-keypad").get("serial.baudrate") == 115200


def test_a_cash_profile_is_checked_against_its_protocols_driver(root: Path) -> None:
    path = root / "models" / "cash" / "cctalk-base.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("stop_bits: 1", "stop_bits: 2"), encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(root)
    assert [str(e) for e in caught.value.errors] == [
        (
            "models/cash/cctalk-base.yaml: serial.stop_bits: the ccTalk driver (drivers/cctalk.py) needs stop bits 1 "
            "(8N1), got 2; set stop_bits: 1"
        )
    ]
