"""The built-in hardware and role profiles: every file loads and validates, the facts agree with
the drivers and apps that use them, and profiles answer capability questions.

Broken profiles and their messages are in test_profile_errors.py.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_profiles import (
    Catalog,
    ProfileError,
    build_catalog,
    load_catalog,
    printer_model,
    resolve_role,
)
from firmware_profiles.loader import BUILTIN_ROOT, catalog_files
from firmware_profiles.ports import lines
from firmware_profiles.profile_models import KEYPAD_KEYS, KINDS, PrinterProfile
from firmware_profiles.tomlwrite import TomlWriteError, dumps

REPO = Path(__file__).resolve().parents[1]
FILES = [rel for rel, _ in catalog_files(BUILTIN_ROOT)]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


# --------------------------------------------------------------------------------------------
# every file
# --------------------------------------------------------------------------------------------


def test_the_catalog_has_the_models_the_issue_names(catalog: Catalog) -> None:
    names = {p.name for p in catalog.models("printers")}
    assert {"TM-T88V", "TM-T88VI", "TM-T20III", "TM-m30III", "TSP143", "generic-58mm"} <= names
    assert {p.get("device") for p in catalog.models("cash")} == {"coin_acceptor", "bill_validator", "hopper"}
    assert {p.key for p in catalog.models("card_readers")} == {"ccid-pcsc", "simulated"}
    assert catalog.models("displays") and catalog.models("keypads") and catalog.models("led_panels")
    assert set(catalog.roles) == {"dispenser", "board", "kiosk"}


@pytest.mark.parametrize("rel", FILES)
def test_every_profile_file_loads_and_validates(rel: str, catalog: Catalog) -> None:
    path = BUILTIN_ROOT / rel
    assert path.suffix == ".yaml"
    kind, key = path.parent.name, path.stem
    # Alone with its ancestors it is valid too (no file leans on an unrelated one).
    doc = next(iter(yaml.safe_load(path.read_text(encoding="utf-8")).values()))
    assert doc["schema_version"] == 1
    if kind == "roles":
        assert catalog.role(key).file == rel
    elif doc.get("abstract"):
        assert key in catalog.abstract[kind]
        with pytest.raises(ProfileError, match="abstract"):
            catalog.model(kind, key)
    else:
        profile = catalog.model(kind, key)
        assert (profile.file, profile.key) == (rel, key)


def test_the_catalog_is_the_same_from_memory_and_from_disk(catalog: Catalog) -> None:
    files = {rel: (BUILTIN_ROOT / rel).read_text(encoding="utf-8") for rel in FILES}
    again = build_catalog(files)
    for kind in KINDS:
        assert [p.to_dict() for p in again.models(kind)] == [p.to_dict() for p in catalog.models(kind)]


def test_load_catalog_reads_another_directory(tmp_path: Path) -> None:
    (tmp_path / "models" / "keypads").mkdir(parents=True)
    (tmp_path / "models" / "keypads" / "pad.yaml").write_text(
        "pad:\n  schema_version: 1\n  name: Pad\n  serial: {baudrate: 9600}\n  keys: [UP, DOWN, OK]\n", encoding="utf-8"
    )
    catalog = load_catalog(tmp_path)
    pad = catalog.model("keypads", "pad")
    # Defaults come from the schema: 8N1 without flow control, no digits.
    assert pad.get("serial") == {
        "baudrate": 9600,
        "data_bits": 8,
        "parity": "none",
        "stop_bits": 1,
        "flow_control": "none",
    }
    assert not pad.supports("digits")
    assert catalog.roles == {}


def test_an_empty_or_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="no profiles"):
        load_catalog(tmp_path)
    with pytest.raises(ProfileError, match="no such profile directory"):
        load_catalog(tmp_path / "absent")


# --------------------------------------------------------------------------------------------
# facts agree with the code that uses them
# --------------------------------------------------------------------------------------------


# What the renderer and the status reader used to hold as a second copy of the printer facts
# (drivers/printer_models.py, now gone): the profiles must still say the same.
KNOWN_FACTS = {
    "TM-T88V": (512, 180, 80, "TM-T88V", (0x04B8, 0x0202), (1, 2, 3, 4), 256, True),
    "TM-T88VI": (512, 180, 80, "TM-T88V", (0x04B8, 0x0202), (1, 2, 3, 4), 256, True),
    "TM-T20III": (576, 203, 80, "TM-T20II", (0x04B8, 0x0E15), (1, 2, 3, 4), 256, True),
    "TM-m30III": (576, 203, 80, "TM-T20II", (0x04B8, 0x0202), (1, 2, 3, 4), 256, True),
    "TSP143": (576, 203, 80, "default", (0x0519, 0x0003), (1, 4), 256, True),
    "generic-58mm": (384, 203, 58, "POS-5890", (None, None), (1, 4), 128, False),
}


@pytest.mark.parametrize("name", sorted(KNOWN_FACTS))
def test_a_printer_profile_becomes_the_drivers_facts(name: str, catalog: Catalog) -> None:
    model = printer_model(catalog.model("printers", name))
    assert model.name == name
    assert (
        model.width_px,
        model.dpi,
        model.paper_mm,
        model.escpos_profile,
        (model.usb_vendor, model.usb_product),
        model.status_queries,
        model.fragment_height,
        model.cutter,
    ) == KNOWN_FACTS[name]


def test_only_a_printer_profile_has_printer_facts(catalog: Catalog) -> None:
    with pytest.raises(ProfileError, match="not a PrinterProfile"):
        printer_model(catalog.model("displays", "hdmi-1920x1080"))


def test_escpos_profile_names_exist_in_python_escpos(catalog: Catalog) -> None:
    # Read python-escpos's bundled database as a file: importing escpos configures logging.
    spec = importlib.util.find_spec("escpos")
    assert spec is not None and spec.submodule_search_locations
    database = json.loads((Path(next(iter(spec.submodule_search_locations))) / "capabilities.json").read_text())
    for profile in catalog.models("printers"):
        assert profile.facts_as(PrinterProfile).escpos_profile in database["profiles"], profile.key


def test_a_slots_kind_is_one_of_the_kinds() -> None:
    from typing import get_args

    from firmware_profiles.profile_models import KindName

    assert set(get_args(KindName)) == set(KINDS)


def test_the_port_checks_are_the_drivers_own_declarations() -> None:
    # Nothing repeated: provisioning checks each kind against the object its driver opens with.
    from drivers import cctalk, keypad, led_panel, printer_model

    assert lines()["keypads"] is keypad.LINE and lines()["led_panels"] is led_panel.LINE
    assert lines()["cctalk"] is cctalk.LINE and lines()["printers"] is printer_model.SERIAL_LINE
    assert keypad.LINE.baudrates == (keypad.BAUDRATE,) and led_panel.LINE.baudrates == (led_panel.BAUDRATE,)
    assert cctalk.LINE.baudrates == (cctalk.BAUDRATE,)


def test_keypad_and_panel_facts_fit_their_drivers(catalog: Catalog) -> None:
    from drivers import keypad, led_panel

    assert set(KEYPAD_KEYS) == set(keypad.KEYS)
    for panel in catalog.models("led_panels"):
        assert panel.get("rows") <= led_panel.MAX_ROWS


def _keys(model: Any) -> set[str]:
    return {f.encode_name for f in msgspec.structs.fields(model)}


def test_roles_name_the_sections_and_keys_the_apps_read(catalog: Catalog) -> None:
    # The apps' configurations are typed: a role lists exactly the sections (and, where the app
    # reads all of them, the keys) of the app's model.
    from display_board import cli as board_cli
    from drivers.cash import CashConfig
    from drivers.printer_model import PrinterConfig
    from kiosk import device as kiosk_device
    from ticket_dispenser import ui

    dispenser = catalog.role("dispenser")
    assert set(dispenser.sections) == _keys(ui.DispenserConfig) - {"device"}
    assert set(dispenser.sections["display"]) == _keys(ui.DispenserDisplay)
    assert set(dispenser.sections["printer"]) == _keys(PrinterConfig)
    board = catalog.role("board")
    assert set(board.sections) == _keys(board_cli.BoardConfig) - {"device"}
    assert set(board.sections["display"]) == _keys(board_cli.BoardDisplay)
    kiosk = catalog.role("kiosk")
    assert set(kiosk.sections) <= _keys(kiosk_device.KioskFile)
    assert set(kiosk.sections["cash"]) == _keys(CashConfig)
    assert set(kiosk.sections["printer"]) == _keys(PrinterConfig)
    for role in catalog.roles.values():
        assert role.app in {"madoguchi-dispenser", "madoguchi-board", "madoguchi-kiosk"}


@pytest.mark.parametrize("role", ["dispenser", "board", "kiosk"])
def test_every_role_resolves_with_its_defaults(role: str, catalog: Catalog) -> None:
    overrides = {"cash.port": "/dev/ttyUSB0"} if role == "kiosk" else {}
    resolved = resolve_role(catalog, role, {}, overrides)
    assert len(resolved.hash) == 64
    for slot in catalog.role(role).slots:
        if slot.required:
            assert resolved.models[slot.name], slot.name


# --------------------------------------------------------------------------------------------
# asking profiles
# --------------------------------------------------------------------------------------------


def test_profiles_answer_capability_questions(catalog: Catalog) -> None:
    assert catalog.model("printers", "tm-t88v").supports("qr_code")
    assert not catalog.model("printers", "generic-58mm").supports("qr_code")
    assert catalog.model("printers", "generic-58mm").supports("raster_image")
    assert catalog.model("printers", "tm-t20iii").supports("cover_sensor")  # DLE EOT 2
    assert not catalog.model("printers", "tsp143").supports("cover_sensor")
    assert catalog.model("displays", "touch-10in-1280x800").supports("touch")
    assert not catalog.model("displays", "hdmi-1920x1080").supports("touch")
    assert catalog.model("keypads", "madoguchi-keypad-pin").supports("digits")
    assert not catalog.model("keypads", "madoguchi-keypad").supports("digits")
    assert catalog.model("card_readers", "simulated").supports("simulated")
    assert catalog.model("cash", "cctalk-bill-validator").supports("escrow")
    # Typed facts read as attributes where code wants one value.
    assert catalog.model("printers", "tm-t88v").facts_as(PrinterProfile).media.dpi == 180


def test_an_unknown_capability_is_an_error_not_false(catalog: Catalog) -> None:
    with pytest.raises(ProfileError, match="unknown capability 'qr_cod'.*did you mean \"qr_code\""):
        catalog.model("printers", "tm-t88v").supports("qr_cod")


def test_inheritance_merges_and_keeps_the_chain(catalog: Catalog) -> None:
    vi = catalog.model("printers", "tm-t88vi")
    assert vi.chain == ("tm-t88vi", "tm-t88v", "epson-tm")
    assert vi.get("media.width.pixels") == 512  # from tm-t88v
    assert vi.get("status.dle_eot") == (1, 2, 3, 4)  # from epson-tm
    assert vi.get("vendor") == "Epson"
    assert "printer-class id" in vi.get("notes")  # its own
    assert catalog.model("printers", "tm-t88v").get("notes") == ""  # not inherited upwards


def test_profiles_are_read_only(catalog: Catalog) -> None:
    profile = catalog.model("printers", "tm-t88v")
    with pytest.raises(TypeError):
        profile.data["name"] = "x"  # type: ignore[index]
    copy = profile.to_dict()
    copy["media"]["width"]["pixels"] = 1
    assert profile.get("media.width.pixels") == 512


def test_models_are_found_by_key_or_by_the_makers_name(catalog: Catalog) -> None:
    assert catalog.model("printers", "TM-T88V") is catalog.model("printers", "tm-t88v")
    assert catalog.model("printers", "TM-T88V").name == "TM-T88V"
    with pytest.raises(ProfileError, match='did you mean "tm-t20iii"'):
        catalog.model("printers", "tm-t20ii")
    with pytest.raises(ProfileError, match='did you mean "printers"'):
        catalog.model("printer", "tm-t88v")
    with pytest.raises(ProfileError, match='did you mean "kiosk"'):
        catalog.role("kiosc")


def test_a_file_is_checked_against_its_models_all_optional_twin() -> None:
    from common.validation import Invalid, convert
    from firmware_profiles.partial import partial_model, without_removals

    twin = partial_model(PrinterProfile)
    assert partial_model(PrinterProfile) is twin  # made once
    # Nothing is required and nothing gets a default: a file holds part of a model.
    assert msgspec.to_builtins(convert({"media": {"dpi": 203}}, twin)) == {"media": {"dpi": 203}}
    # The limits and the words are the model's own, nested models included.
    with pytest.raises(Invalid) as caught:
        convert({"media": {"width": {"pixels": 514}}}, twin)
    assert str(caught.value) == "media.width.pixels: expected a multiple of 8, got 514; use 512 or 520"
    with pytest.raises(Invalid, match='usb.vendr: unknown key; did you mean "vendor"'):
        convert({"usb": {"vendr": 1}}, twin)
    # An empty value of a known key removes what a parent set; an unknown one stays, to be reported.
    assert without_removals({"usb": None, "media": {"dpi": None}, "widht": None}, PrinterProfile) == {
        "media": {},
        "widht": None,
    }


def test_reading_a_printer_model_at_an_apps_start_leaves_provisioning_unloaded() -> None:
    # The packaged look-up must not pull in resolve, apply, detect or the serial drivers.
    code = (
        "import sys\n"
        "from firmware_profiles.packaged import printer_model_named\n"
        "model = printer_model_named('TM-T20III')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('firmware_profiles.', 'drivers.', 'sync.')))\n"
        "print(model.width_px, ' '.join(loaded))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    width, loaded = run.stdout.split(" ", 1)
    assert width == "576"
    unwanted = {
        "firmware_profiles.resolve",  # and with it sync.protocol
        "firmware_profiles.apply",
        "firmware_profiles.detect",
        "firmware_profiles.cli",
        "drivers.keypad",  # the other serial drivers: only a printer profile was checked
        "drivers.led_panel",
        "drivers.cctalk",
        "drivers.escpos_printer",  # python-escpos comes with the printer, not with its facts
    }
    assert not unwanted & set(loaded.split()), loaded
    assert not any(m.startswith("sync.") for m in loaded.split()), loaded


def test_the_package_names_are_imported_on_first_use() -> None:
    import firmware_profiles
    from firmware_profiles import apply as apply_function
    from firmware_profiles import detect as detect_function

    # apply and detect stay the functions, though their modules share the names.
    assert callable(apply_function) and apply_function.__module__ == "firmware_profiles.apply"
    assert callable(detect_function) and detect_function.__module__ == "firmware_profiles.detect"
    assert sorted(firmware_profiles.__all__) == firmware_profiles.__all__
    for name in firmware_profiles.__all__:
        assert getattr(firmware_profiles, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'schema'"):
        firmware_profiles.__getattr__("schema")


def test_profile_modules_stay_pure() -> None:
    forbidden = {"kivy", "paho", "tinydb", "serial", "escpos", "usb", "sqlite3", "socket", "subprocess", "threading"}
    for name in (
        "profile_models",
        "partial",
        "catalog",
        "printers",
        "ports",
        "resolve",
        "detect",
        "tomlwrite",
        "errors",
    ):
        tree = ast.parse((REPO / "firmware_profiles" / f"{name}.py").read_text(encoding="utf-8"))
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
        assert not imported & forbidden, (name, imported & forbidden)


# --------------------------------------------------------------------------------------------
# the TOML writer
# --------------------------------------------------------------------------------------------

_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-0123456789 .é", min_size=1, max_size=8)
_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_values = st.one_of(_scalars, st.lists(_scalars, max_size=4))


def _tables(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    leaf = st.dictionaries(_names, _values, max_size=4)
    if depth == 0:
        return leaf
    inner = _tables(depth - 1)
    return st.dictionaries(_names, st.one_of(_values, inner, st.lists(inner, min_size=1, max_size=2)), max_size=4)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_names, _tables(2), max_size=4))
def test_toml_round_trips(doc: dict[str, Any]) -> None:
    # Keys named like hex-written ones must stay integers after the trip as well.
    assert tomllib.loads(dumps(doc, header="a header\nsecond line")) == doc


def test_toml_writes_usb_ids_in_hex_and_sections_as_tables() -> None:
    text = dumps({"printer": {"model": "TM-T20III", "usb": {"vendor": 0x04B8, "product": 0x0E15}}})
    assert text == '[printer]\nmodel = "TM-T20III"\nusb = { vendor = 0x04b8, product = 0x0e15 }\n'
    with pytest.raises(TomlWriteError, match="printer.port: no value"):
        dumps({"printer": {"port": None}})
    with pytest.raises(TomlWriteError, match="cannot be written"):
        dumps({"x": {"y": float("nan")}})
