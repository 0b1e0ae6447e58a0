"""The device configurations, typed at the boundary: the dispenser's and the board's files, the
shared [display] and [device] sections and the drivers' sections (printer, keypad, LED panel,
speech). Every mistake names the file, the key path and the fix, in one line; on the command
line it exits with 2. The kiosk's file is in test_kiosk_device.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from common.cli import UsageError, config_from_mapping
from common.device_config import BoardDisplay, Display, KioskDisplay, TouchDisplay
from display_board import cli as board_cli
from drivers.led_panel import LedPanelConfig
from harness import REPO, env
from ticket_dispenser import ui


def _dispenser(tmp_path: Path, text: str) -> ui.DispenserConfig:
    path = tmp_path / "dispenser.toml"
    path.write_text(text, encoding="utf-8")
    return ui.load_device_config(path)


def _board(tmp_path: Path, text: str) -> board_cli.BoardConfig:
    path = tmp_path / "board.toml"
    path.write_text(text, encoding="utf-8")
    return board_cli.load(path)


def test_without_a_file_the_defaults_hold() -> None:
    dispenser = ui.load_device_config(None)
    assert (dispenser.display.width, dispenser.display.height, dispenser.display.orientation) == (
        1280,
        800,
        "landscape",
    )
    assert dispenser.printer is None and dispenser.keypad.port is None and dispenser.speech.backend == "none"
    board = board_cli.load(None)
    assert (board.display.width, board.display.height, board.display.power) == (1920, 1080, "none")
    assert board.led_panel.port is None


def test_the_orientation_follows_the_shape_unless_given() -> None:
    assert TouchDisplay(width=800, height=1280).orientation == "portrait"
    assert TouchDisplay(width=800, height=1280, orientation="landscape").layout == "landscape"
    assert KioskDisplay().orientation == "portrait" and KioskDisplay().power == "none"
    assert ui.DispenserConfig(display=TouchDisplay(width=1080, height=1920)).columns == 2
    assert ui.DispenserConfig().columns == 3


def test_a_full_dispenser_file_is_read(tmp_path: Path) -> None:
    config = _dispenser(
        tmp_path,
        '[device]\nrole = "dispenser"\nsite = "demo-town"\nmodels = {printer = "tm-t20iii"}\n'
        "[display]\nwidth = 1080\nheight = 1920\nfullscreen = true\nmaxfps = 20\n"
        '[printer]\nmodel = "TM-T88V"\nbackend = "serial"\nserial = {port = "/dev/ttyUSB0", baudrate = 9600}\n'
        '[keypad]\nport = "/dev/ttyACM0"\n[speech]\nbackend = "espeak"\n',
    )
    assert config.device is not None and config.device.models == {"printer": "tm-t20iii"}
    assert (config.display.orientation, config.display.fullscreen, config.display.maxfps, config.columns) == (
        "portrait",
        True,
        20,
        2,
    )
    assert config.printer is not None and config.printer.serial.baudrate == 9600
    assert config.printer.serial.flow_control == "dsrdtr"  # the driver's default
    assert config.keypad.port == "/dev/ttyACM0" and config.speech.backend == "espeak"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[display]\nwidth = 10\n", "display.width: expected pixels from 200 to 7680, got 10"),
        ('[display]\nwidth = "1280"\n', 'display.width: expected pixels from 200 to 7680, got "1280"; write the'),
        ('[display]\nfullscreen = "true"\n', 'display.fullscreen: expected true or false, got "true"; write it'),
        ('[display]\norientation = "upright"\n', 'display.orientation: expected "landscape" or "portrait", got'),
        ("[display]\nmaxfps = 500\n", "display.maxfps: expected frames per second from 1 to 120 (0: no cap), got 500"),
        ('[display]\npower = "xset"\n', "display.power: unknown key; allowed here: width, height, fullscreen"),
        ('[printer]\nmodel = "TM-T20III"\nbackend = "serial"\n', "printer.serial.port: required: a serial device"),
        (
            '[printer]\nmodel = "TM-T20III"\nbackend = "serial"\nserial = {port = "/dev/x", baudrate = 4800}\n',
            "printer.serial.baudrate: the ESC/POS printer driver (drivers/escpos_printer.py) accepts",
        ),
        ('[printer]\nmodel = "TM-T20III"\nbackend = "usb"\nusb = {vendor = 0x10000}\n', "printer.usb.vendor: expected"),
        ("[keypad]\nport = 5\n", "keypad.port: expected the keypad's serial port, e.g. \"/dev/serial/by-id/"),
        ('[speech]\nbackend = "festival"\n', 'speech.backend: expected a speech backend: "openjtalk"'),
        ('[speech]\nvoice = "mei"\n', "speech.voice: unknown key; allowed here: backend"),
        ("[printr]\nmodel = 1\n", 'printr: unknown section; did you mean "printer"?; allowed: device, display'),
        (
            "display = 3\n",
            "display: expected a table with width, height, fullscreen, maxfps, left, top, scale, orientation, got 3",
        ),
        ('[device]\nowner = "me"\n', "device.owner: unknown key; allowed here: role, site"),
    ],
)
def test_every_dispenser_mistake_names_the_file_the_key_and_the_fix(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        _dispenser(tmp_path, text)
    assert str(caught.value).startswith(f"{tmp_path / 'dispenser.toml'}: {message}"), str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_full_board_file_is_read(tmp_path: Path) -> None:
    config = _board(
        tmp_path,
        '[display]\npower = "vcgencmd"\nmaxfps = 0\n[led_panel]\nport = "/dev/ttyUSB1"\ncounters = [1, 2, 4]\n'
        '[speech]\nbackend = "none"\n',
    )
    assert (config.display.width, config.display.power, config.display.maxfps) == (1920, "vcgencmd", 0)
    assert config.led_panel == LedPanelConfig(port="/dev/ttyUSB1", counters=(1, 2, 4))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[display]\npower = "dpms"\n', 'display.power: expected how the panel is switched off at night: "none"'),
        ('[display]\norientation = "portrait"\n', "display.orientation: unknown key; allowed here: width, height"),
        (
            '[led_panel]\nport = "/dev/ttyUSB1"\n',
            "led_panel.counters: expected the counter numbers shown, one per row, e.g. [1, 2, 3] (1 to 99 distinct",
        ),
        (
            '[led_panel]\nport = "/dev/ttyUSB1"\ncounters = [1, 1]\n',
            "led_panel.counters: expected the counter numbers shown, one per row",
        ),
        ("[led_panel]\ncounters = [0]\n", "led_panel.counters[0]: expected a counter number (1 or more), got 0"),
        ("[led_panel]\nrows = 4\n", "led_panel.rows: unknown key; allowed here: port, counters"),
    ],
)
def test_every_board_mistake_names_the_file_the_key_and_the_fix(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        _board(tmp_path, text)
    assert str(caught.value).startswith(f"{tmp_path / 'board.toml'}: {message}"), str(caught.value)


def test_a_parsed_document_is_read_the_same_way() -> None:
    config = config_from_mapping({"display": {"width": 1600, "height": 900}}, board_cli.BoardConfig)
    assert config.display == BoardDisplay(width=1600, height=900)
    with pytest.raises(UsageError, match=r"^display\.width: expected pixels"):
        config_from_mapping({"display": {"width": 1}}, board_cli.BoardConfig)
    assert Display().maxfps == 30


@pytest.mark.parametrize(
    ("module", "args"),
    [
        ("display_board.cli", ["--device-id", "board-1"]),
        ("ticket_dispenser.cli", ["ui", "--device-id", "disp-1"]),
    ],
)
def test_the_commands_report_a_bad_file_in_one_line_with_status_2(tmp_path: Path, module: str, args: list[str]) -> None:
    path = tmp_path / "device.toml"
    path.write_text("[display]\nwidth = 10\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", module, *args, "--data", str(tmp_path / "data"), "--device-config", str(path)],
        cwd=REPO,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith(f"{path}: display.width: expected pixels from 200 to 7680, got 10")
    assert "Traceback" not in done.stderr
