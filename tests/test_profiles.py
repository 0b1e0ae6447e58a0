"""The built-in hardware and role profiles: every file loads and validates, the facts agree with
the drivers and apps that use them, and profiles answer capability questions.

Broken profiles and their messages are in test_profile_errors.py.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_profiles import (
    Catalog,
    ProfileError,
    build_catalog,
    load_catalog,
    printer_model_fields,
    resolve_role,
)
from firmware_profiles.loader import BUILTIN_ROOT, catalog_files
from firmware_profiles.ports import PORT_REQUIREMENTS
from firmware_profiles.schema import KEYPAD_KEYS, KINDS
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


@pytest.mark.parametrize("name", ["TM-T88V", "TM-T88VI", "TM-T20III", "TM-m30III", "TSP143", "generic-58mm"])
def test_printer_profiles_hold_the_facts_the_renderer_uses(name: str, catalog: Catalog) -> None:
    from drivers.printer_models import MODELS, PrinterModel

    assert PrinterModel(**printer_model_fields(catalog.model("printers", name))) == MODELS[name]


def test_escpos_profile_names_exist_in_python_escpos(catalog: Catalog) -> None:
    # Read python-escpos's bundled database as a file: importing escpos configures logging.
    spec = importlib.util.find_spec("escpos")
    assert spec is not None and spec.submodule_search_locations
    database = json.loads((Path(next(iter(spec.submodule_search_locations))) / "capabilities.json").read_text())
    for profile in catalog.models("printers"):
        assert profile.get("escpos_profile") in database["profiles"], profile.key


def test_port_requirements_agree_with_the_drivers() -> None:
    from drivers import cctalk, escpos_printer, keypad, led_panel

    assert PORT_REQUIREMENTS["keypad"].baudrates == (keypad.BAUDRATE,)
    assert PORT_REQUIREMENTS["led_panel"].baudrates == (led_panel.BAUDRATE,)
    assert PORT_REQUIREMENTS["cctalk"].baudrates == (cctalk.BAUDRATE,)
    assert PORT_REQUIREMENTS["escpos"].baudrates == escpos_printer._BAUDRATES
    assert set(PORT_REQUIREMENTS["escpos"].flow_controls) == set(escpos_printer._FLOW_CONTROL)


def test_keypad_and_panel_facts_fit_their_drivers(catalog: Catalog) -> None:
    from drivers import keypad, led_panel

    assert set(KEYPAD_KEYS) == set(keypad.KEYS)
    for panel in catalog.models("led_panels"):
        assert panel.get("rows") <= led_panel.MAX_ROWS


def test_roles_name_the_sections_and_keys_the_apps_read(catalog: Catalog) -> None:
    from display_board import cli as board_cli
    from drivers import cash
    from ticket_dispenser import ui

    dispenser = catalog.role("dispenser")
    assert set(dispenser.sections) == ui.KNOWN
    assert set(dispenser.sections["display"]) == ui.KNOWN_DISPLAY
    assert set(catalog.role("board").sections) == board_cli.KNOWN
    kiosk = catalog.role("kiosk")
    assert set(kiosk.sections["cash"]) == cash._KNOWN
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


def test_profile_modules_stay_pure() -> None:
    forbidden = {"kivy", "paho", "tinydb", "serial", "escpos", "usb", "sqlite3", "socket", "subprocess", "threading"}
    for name in ("schema", "ports", "resolve", "detect", "tomlwrite", "errors"):
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
