"""Broken profiles and bad choices: each gives one clear error naming the file, the key path
and the fix - never a traceback.

Profiles are broken in a real copy of the built-in catalog on disk, loaded with load_catalog.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from firmware_profiles import (
    Catalog,
    CatalogError,
    Identity,
    ResolveError,
    SchemaError,
    load_catalog,
    parse_choice,
    parse_override,
    resolve_role,
)
from firmware_profiles.loader import BUILTIN_ROOT


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of the built-in catalog to break."""
    for folder in ("models", "roles"):
        shutil.copytree(BUILTIN_ROOT / folder, tmp_path / folder)
    return tmp_path


def _edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _errors(root: Path) -> list[SchemaError]:
    with pytest.raises(CatalogError) as caught:
        load_catalog(root)
    return list(caught.value.errors)


def _only(root: Path) -> SchemaError:
    errors = _errors(root)
    assert len(errors) == 1, "\n".join(map(str, errors))
    return errors[0]


T88 = "models/printers/tm-t88v.yaml"


def test_the_untouched_copy_loads(root: Path) -> None:
    assert load_catalog(root).model("printers", "tm-t88v").name == "TM-T88V"


# --------------------------------------------------------------------------------------------
# wrong values
# --------------------------------------------------------------------------------------------


def test_a_wrong_type_names_the_key_path_and_the_fix(root: Path) -> None:
    _edit(root, T88, "width: {pixels: 512}", 'width: {pixels: "512px"}')
    error = _only(root)
    assert str(error).startswith(
        'models/printers/tm-t88v.yaml: media.width.pixels: expected an integer from 200 to 1000, got "512px"'
    )
    assert str(error).endswith("; write the number alone, e.g. 512")
    assert (error.file, error.path, error.line) == (T88, "media.width.pixels", 6)


def test_a_value_out_of_range_and_not_a_multiple_of_8(root: Path) -> None:
    _edit(root, T88, "width: {pixels: 512}", "width: {pixels: 514}")
    assert str(_only(root)) == (
        "models/printers/tm-t88v.yaml: media.width.pixels: expected a multiple of 8, got 514; use 512 or 520"
    )


def test_a_usb_id_in_quotes_gets_the_hex_fix(root: Path) -> None:
    _edit(root, T88, "usb: {vendor: 0x04b8, product: 0x0202}", 'usb: {vendor: "04b8", product: 0x0202}')
    assert str(_only(root)) == (
        'models/printers/tm-t88v.yaml: usb.vendor: expected a USB id like 0x04b8 (0x0000 to 0xffff), got "04b8"; '
        "write it without quotes as 0x04b8 (a YAML hex number)"
    )


def test_a_wrong_choice_says_did_you_mean(root: Path) -> None:
    _edit(root, "models/displays/hdmi-1920x1080.yaml", "orientation: landscape", "orientation: landscap")
    assert str(_only(root)) == (
        'models/displays/hdmi-1920x1080.yaml: orientation: expected one of landscape, portrait, got "landscap"; '
        'did you mean "landscape"?'
    )


def test_a_cross_field_check_names_the_key_and_the_fix(root: Path) -> None:
    _edit(root, "models/displays/hdmi-1920x1080.yaml", "orientation: landscape", "orientation: portrait")
    assert str(_only(root)) == (
        "models/displays/hdmi-1920x1080.yaml: orientation: portrait does not fit a 1920x1080 resolution; "
        "set orientation: landscape (or give the resolution as the app sees the screen)"
    )


def test_a_printable_width_wider_than_the_paper(root: Path) -> None:
    _edit(root, T88, "width: {pixels: 512}", "width: {pixels: 640}")
    assert str(_only(root)) == (
        "models/printers/tm-t88v.yaml: media.width.pixels: 640 dots at 180 dpi is 90.3 mm, wider than the 80 mm "
        "paper; check pixels and dpi"
    )


def test_a_coin_acceptor_cannot_take_notes(root: Path) -> None:
    _edit(root, "models/cash/cctalk-coin-acceptor.yaml", "[10, 50, 100, 500]", "[10, 50, 100, 1000]")
    assert str(_only(root)) == (
        "models/cash/cctalk-coin-acceptor.yaml: denominations: a coin acceptor takes coins, got 1000 (a note); "
        "move it to a bill validator"
    )


# --------------------------------------------------------------------------------------------
# unknown and missing keys
# --------------------------------------------------------------------------------------------


def test_an_unknown_key_is_rejected_with_did_you_mean(root: Path) -> None:
    _edit(root, T88, "    dpi: 180", "    dpi: 180\n    widht: 3")
    error = _only(root)
    assert str(error) == (
        'models/printers/tm-t88v.yaml: media.widht: unknown key; did you mean "width"?; '
        "allowed here: width, dpi, paper_mm"
    )
    assert error.line == 8


def test_a_misspelt_inherits_is_caught(root: Path) -> None:
    _edit(root, T88, "inherits: epson-tm", "inherit: epson-tm")
    messages = [str(e) for e in _errors(root)]
    assert any(
        m.startswith('models/printers/tm-t88v.yaml: inherit: unknown key; did you mean "inherits"?') for m in messages
    )


def test_a_missing_required_field_says_where_it_may_go(root: Path) -> None:
    _edit(root, T88, "    dpi: 180\n", "")
    errors = {e.file: str(e) for e in _errors(root)}
    assert errors[T88] == (
        "models/printers/tm-t88v.yaml: media.dpi: required: dots per inch, e.g. 203; "
        "add it here or to a file it inherits from (models/printers/epson-tm.yaml)"
    )
    # The model inheriting from it lacks it too, and is told so.
    assert errors["models/printers/tm-t88vi.yaml"].startswith("models/printers/tm-t88vi.yaml: media.dpi: required")


def test_a_missing_required_field_of_a_model_without_parent(root: Path) -> None:
    _edit(root, "models/printers/tsp143.yaml", "  escpos_profile: default\n", "")
    assert str(_only(root)) == (
        'models/printers/tsp143.yaml: escpos_profile: required: the python-escpos profile name, e.g. "TM-T20II"'
    )


def test_a_key_written_twice(root: Path) -> None:
    path = root / T88
    path.write_text(path.read_text(encoding="utf-8") + "  name: TM-T88V again\n", encoding="utf-8")
    assert "the key 'name' is written twice (first on line 4); keep one" in str(_errors(root)[0])


# --------------------------------------------------------------------------------------------
# the file itself
# --------------------------------------------------------------------------------------------


def test_the_key_must_match_the_file_name(root: Path) -> None:
    _edit(root, T88, "tm-t88v:", "tm-t88vi:")
    assert str(_only(root)) == (
        'models/printers/tm-t88v.yaml: tm-t88vi: the top-level key must match the file name: write "tm-t88v:" '
        "(or rename the file to tm-t88vi.yaml)"
    )


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "schema_version: 1",
            "schema_version: 2",
            (
                "schema_version: expected 1, got 2; this madoguchi reads profile format 1: "
                "rewrite the file in it or upgrade madoguchi"
            ),
        ),
        (
            "schema_version: 1",
            'schema_version: "1"',
            'schema_version: expected 1, got "1"',
        ),
        (
            "  schema_version: 1\n",
            "",
            "schema_version: required: add schema_version: 1 (the profile format this file is written in)",
        ),
    ],
)
def test_a_bad_schema_version(root: Path, old: str, new: str, message: str) -> None:
    _edit(root, T88, old, new)
    assert str(_only(root)).startswith(f"models/printers/tm-t88v.yaml: {message}")


def test_one_top_level_key(root: Path) -> None:
    path = root / T88
    path.write_text(path.read_text(encoding="utf-8") + "other:\n  a: 1\n", encoding="utf-8")
    assert str(_only(root)) == (
        "models/printers/tm-t88v.yaml: expected one top-level key, tm-t88v:, got 2 (tm-t88v, other); "
        "put everything under tm-t88v:"
    )
    path.write_text("", encoding="utf-8")
    assert "expected one top-level key, tm-t88v:" in str(_only(root))


def test_yaml_syntax_errors_give_the_line(root: Path) -> None:
    _edit(root, T88, "  name: TM-T88V", "  name: [TM-T88V")
    error = _only(root)
    assert error.file == T88 and "not valid YAML" in str(error) and error.line is not None


def test_files_in_the_wrong_place(root: Path) -> None:
    (root / "models" / "printer").mkdir()
    (root / "models" / "printer" / "x.yaml").write_text("x:\n  schema_version: 1\n", encoding="utf-8")
    (root / "models" / "keypads" / "pad.yml").write_text("pad:\n  schema_version: 1\n", encoding="utf-8")
    messages = sorted(str(e) for e in _errors(root))
    assert messages == [
        "models/keypads/pad.yml: profile files end in .yaml: rename it to pad.yaml",
        (
            "models/printer/x.yaml: unknown kind 'printer'; did you mean \"printers\"?; model directories: printers, "
            "displays, cash, card_readers, keypads, led_panels, document_printers"
        ),
    ]


# --------------------------------------------------------------------------------------------
# inheritance
# --------------------------------------------------------------------------------------------


def test_an_inheritance_cycle_is_reported_once(root: Path) -> None:
    _edit(root, "models/printers/epson-tm.yaml", "  abstract: true\n", "  abstract: true\n  inherits: tm-t88vi\n")
    error = _only(root)
    assert str(error).endswith(
        "inherits: inheritance cycle epson-tm -> tm-t88vi -> tm-t88v -> epson-tm; remove one of these inherits"
    )
    assert error.path == "inherits"


def test_a_profile_cannot_inherit_itself(root: Path) -> None:
    _edit(root, T88, "inherits: epson-tm", "inherits: tm-t88v")
    assert "a profile cannot inherit from itself" in str(_only(root))


def test_an_unknown_parent_says_did_you_mean(root: Path) -> None:
    _edit(root, T88, "inherits: epson-tm", "inherits: epson-tn")
    assert str(_only(root)) == (
        "models/printers/tm-t88v.yaml: inherits: unknown printers profile 'epson-tn'; did you mean \"epson-tm\"?; "
        "a parent is the name of another file in models/printers/"
    )


def test_a_broken_parent_is_reported_once_not_in_every_child(root: Path) -> None:
    _edit(root, "models/printers/epson-tm.yaml", "dle_eot: [1, 2, 3, 4]", "dle_eot: [1, 2, 3, 5]")
    assert str(_only(root)) == ("models/printers/epson-tm.yaml: status.dle_eot[3]: expected one of 1, 2, 3, 4, got 5")


# --------------------------------------------------------------------------------------------
# what the driver needs from its port
# --------------------------------------------------------------------------------------------


def test_a_baud_mismatch_with_the_driver_names_the_key(root: Path) -> None:
    _edit(root, "models/keypads/madoguchi-keypad.yaml", "baudrate: 9600", "baudrate: 115200")
    assert str(_only(root)) == (
        "models/keypads/madoguchi-keypad.yaml: serial.baudrate: the keypad driver (drivers/keypad.py) talks at "
        "9600 baud, got 115200; set baudrate: 9600 (and configure the device to match)"
    )


def test_a_parity_mismatch_in_a_parent_is_reported_at_the_parent(root: Path) -> None:
    _edit(root, "models/cash/cctalk-base.yaml", "parity: none", "parity: even")
    assert str(_only(root)) == (
        "models/cash/cctalk-base.yaml: serial.parity: the ccTalk driver (drivers/cctalk.py) needs parity none "
        "(8N1), got even; set parity: none"
    )


def test_a_printer_baud_rate_the_escpos_driver_does_not_take(root: Path) -> None:
    _edit(root, "models/printers/epson-tm.yaml", "baudrate: 38400", "baudrate: 4800")
    assert str(_only(root)) == (
        "models/printers/epson-tm.yaml: serial.baudrate: the ESC/POS printer driver (drivers/escpos_printer.py) "
        "accepts 9600, 19200, 38400, 57600 or 115200 baud, got 4800; set baudrate to one of these "
        "(and configure the device to match)"
    )


def test_a_checksum_the_cctalk_driver_does_not_speak(root: Path) -> None:
    _edit(root, "models/cash/cctalk-base.yaml", "checksum: simple8", "checksum: crc16")
    assert "cctalk.checksum: the ccTalk driver (drivers/cctalk.py) speaks the 8-bit checksum only" in str(_only(root))


# --------------------------------------------------------------------------------------------
# roles
# --------------------------------------------------------------------------------------------


def test_a_role_needing_an_unknown_capability(root: Path) -> None:
    _edit(root, "roles/dispenser.yaml", "needs: [touch]", "needs: [tuch]")
    assert str(_only(root)) == (
        "roles/dispenser.yaml: slots.display.needs[0]: unknown capability 'tuch' for displays; "
        'did you mean "touch"?; known: audio, touch, multitouch, power_control'
    )


def test_a_role_default_that_does_not_exist_or_does_not_fit(root: Path) -> None:
    _edit(root, "roles/dispenser.yaml", "default: tm-t20iii", "default: tm-t20ii")
    assert "roles/dispenser.yaml: slots.printer.default: printers: no model 'tm-t20ii'; did you mean" in str(
        _only(root)
    )
    _edit(root, "roles/dispenser.yaml", "default: tm-t20ii", "default: tm-t20iii")
    _edit(root, "roles/dispenser.yaml", "default: touch-10in-1280x800", "default: hdmi-1920x1080")
    assert str(_only(root)) == (
        "roles/dispenser.yaml: slots.display.default: hdmi-1920x1080 lacks touch (the display slot needs touch); "
        "choose another default"
    )


def test_a_role_setting_the_app_does_not_read(root: Path) -> None:
    _edit(
        root,
        "roles/dispenser.yaml",
        "display: {fullscreen: true, maxfps: 30}",
        "display: {fullscreen: true, power: xset}",
    )
    assert str(_only(root)).startswith(
        "roles/dispenser.yaml: settings.display.power: the app does not read display.power"
    )


def test_all_problems_at_once(root: Path) -> None:
    _edit(root, T88, "dpi: 180", "dpi: high")
    _edit(root, "models/keypads/madoguchi-keypad.yaml", "baudrate: 9600", "baudrate: 115200")
    assert [e.file for e in _errors(root)] == [T88, "models/keypads/madoguchi-keypad.yaml"]


# --------------------------------------------------------------------------------------------
# resolving: choices, overrides and identity
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _resolve_error(
    catalog: Catalog, role: str, choices: dict[str, Any] | None = None, overrides: dict[str, Any] | None = None
) -> list[str]:
    with pytest.raises(ResolveError) as caught:
        resolve_role(catalog, role, choices or {}, overrides or {})
    return list(caught.value.problems)


def test_an_unknown_slot_or_model_is_named(catalog: Catalog) -> None:
    assert _resolve_error(catalog, "dispenser", {"prnter": "tm-t88v"}) == [
        'prnter: the dispenser role has no such slot; did you mean "printer"?; its slots: display, printer, keypad'
    ]
    assert _resolve_error(catalog, "dispenser", {"printer": "tm-t88"})[0].startswith(
        "printer: printers: no model 'tm-t88'; did you mean"
    )


def test_a_model_that_does_not_fit_the_slot(catalog: Catalog) -> None:
    problems = _resolve_error(catalog, "dispenser", {"display": "hdmi-1920x1080"})
    assert problems == [
        (
            "display: hdmi-1920x1080 lacks touch (the display slot needs touch); choose one of pi-touch-display, "
            "touch-10in-1280x800, touch-21in-1080x1920"
        )
    ]
    problems = _resolve_error(catalog, "kiosk", {"coin_acceptor": "cctalk-hopper-100"}, {"cash.port": "/dev/x"})
    assert problems[0].startswith(
        "coin_acceptor: cctalk-hopper-100 has device: hopper, the coin_acceptor slot takes device: coin_acceptor"
    )


def test_a_required_slot_cannot_be_left_empty(catalog: Catalog) -> None:
    assert _resolve_error(catalog, "dispenser", {"printer": "none"}) == [
        (
            "printer: required by the dispenser role (the ticket printer); choose one: "
            "printer=<generic-58mm | tm-m30iii | tm-t20iii | tm-t88v | tm-t88vi | tsp143>"
        )
    ]


def test_a_serial_device_needs_its_port(catalog: Catalog) -> None:
    problems = _resolve_error(catalog, "dispenser", {"keypad": "madoguchi-keypad"})
    assert len(problems) == 1 and problems[0].startswith(
        "keypad.port: required: the serial port of the madoguchi tactile keypad"
    )
    assert problems[0].endswith("set it with keypad.port=…")


def test_a_printer_without_usb_ids_needs_them(catalog: Catalog) -> None:
    problems = _resolve_error(catalog, "dispenser", {"printer": "generic-58mm"})
    assert [p.split(":")[0] for p in problems] == ["printer.usb.vendor", "printer.usb.product"]
    problems = _resolve_error(catalog, "dispenser", {}, {"printer.backend": "network"})
    assert problems == [
        "printer.network.host: required: the printer's address, e.g. 192.168.1.50; set it with printer.network.host=…"
    ]


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        (
            {"dispaly.width": 1024},
            'dispaly.width: madoguchi-dispenser reads no [dispaly] section; did you mean "display"?',
        ),
        ({"display.power": "xset"}, "display.power: madoguchi-dispenser does not read display.power"),
        ({"display.width": "wide"}, 'display.width: expected an integer like 1280, got "wide"'),
        ({"display.fullscreen": 1}, "display.fullscreen: expected true or false like true, got 1"),
        ({"keypad.port": "/dev/ttyACM0"}, "keypad.port: no model in the keypad slot, so nothing reads it"),
        ({"device.site": "x"}, "device.site: the [device] section comes from the role and the identity"),
        (
            {"printer.backend": "bluetooth"},
            'printer.backend: expected one of usb, serial, network, file, fake, got "bluetooth"',
        ),
        (
            {"printer.backend": "serial", "printer.serial.port": "/dev/ttyS0", "printer.serial.baudrate": 4800},
            "printer.serial.baudrate: the ESC/POS printer driver (drivers/escpos_printer.py) accepts",
        ),
        # The printer section is read as its driver reads it ([printer] of drivers/printer_model.py).
        ({"printer.usb.timeout_ms": 0}, "printer.usb.timeout_ms: expected a write timeout in ms > 0"),
        ({"printer.facts.width_px": 577}, "printer.facts.width_px: expected a multiple of 8, got 577; use 576 or 584"),
    ],
)
def test_overrides_are_checked(catalog: Catalog, overrides: dict[str, Any], problem: str) -> None:
    problems = _resolve_error(catalog, "dispenser", {}, overrides)
    assert any(p.startswith(problem) for p in problems), problems


def test_a_slot_of_several_is_chosen_not_overridden(catalog: Catalog) -> None:
    assert _resolve_error(catalog, "kiosk", {"hoppers": "none"}, {"cash.port": "/dev/x"}) == [
        (
            "hoppers: required by the kiosk role (pay change and refunds, one coin value each); "
            "choose some: hoppers=<cctalk-hopper-10,cctalk-hopper-100,cctalk-hopper-500>"
        )
    ]
    assert _resolve_error(catalog, "kiosk", {}, {"cash.port": "/dev/x", "cash.hoppers": []}) == [
        (
            "cash.hoppers: written by the hoppers slot; choose its models (hoppers=…) or override single keys "
            "(cash.hoppers.0.address=…)"
        )
    ]
    assert _resolve_error(catalog, "kiosk", {"hoppers": 5}, {"cash.port": "/dev/x"}) == [
        "hoppers: expected a model key (or a list of them), got 5"
    ]


def test_led_panel_counters_must_fit_its_rows(catalog: Catalog) -> None:
    overrides = {"led_panel.port": "/dev/ttyUSB0", "led_panel.counters": [1, 2, 3, 4, 5]}
    assert _resolve_error(catalog, "board", {"led_panel": "madoguchi-led-panel"}, overrides) == [
        "led_panel.counters: the madoguchi LED panel, 4 rows has 4 rows, got 5 counters; list at most 4"
    ]


def test_cash_devices_on_one_bus_need_their_own_addresses(catalog: Catalog) -> None:
    overrides = {"cash.port": "/dev/ttyUSB0", "cash.hoppers.1.address": 2}
    assert _resolve_error(catalog, "kiosk", {}, overrides) == [
        (
            "cash.hoppers.1.address: 2 is also the address of cash.coin_acceptor.address on the same bus; "
            "give each device its own (set cash.hoppers.1.address=…)"
        )
    ]


def test_identity_is_checked() -> None:
    with pytest.raises(ResolveError) as caught:
        Identity("demo town", "disp/1", "mqtt://user:secret@office:1883")
    assert [p.split(":")[0] for p in caught.value.problems] == ["site", "device_id", "broker"]
    assert "carries a password" in caught.value.problems[2]
    with pytest.raises(ResolveError, match="use mqtt://host:port"):
        Identity("demo-town", "disp-1", "http://office")


def test_choices_and_overrides_typed_on_a_command_line() -> None:
    assert parse_choice("printer=tm-t88v") == ("printer", "tm-t88v")
    assert parse_override("printer.usb.product=0x0e28") == ("printer.usb.product", 0x0E28)
    assert parse_override("display.fullscreen=false") == ("display.fullscreen", False)
    assert parse_override("led_panel.counters=[1, 2, 4]") == ("led_panel.counters", [1, 2, 4])
    assert parse_override("keypad.port=/dev/serial/by-id/usb-x") == ("keypad.port", "/dev/serial/by-id/usb-x")
    assert parse_override("printer.usb.timeout_ms=") == ("printer.usb.timeout_ms", None)
    with pytest.raises(ResolveError, match="expected section.key=value"):
        parse_override("printer=x")
    with pytest.raises(ResolveError, match="expected slot=model"):
        parse_choice("printer")
    with pytest.raises(ResolveError, match="cannot read the value"):
        parse_override("display.width=[1, 2")
