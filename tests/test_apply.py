"""apply(): the resolved configuration written atomically, shown with a diff, idempotent, and
read back by the apps' own loaders. Real files, real fsync.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest

from firmware_profiles import (
    ApplyError,
    Catalog,
    Identity,
    ResolveError,
    apply,
    load_catalog,
    profile_hash_of,
    resolve_role,
)
from firmware_profiles.loader import BUILTIN_ROOT

BROKER = "mqtt://office.local:1883"
KEYPAD_PORT = "/dev/serial/by-id/usb-madoguchi_keypad_0001-if00"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _dispenser(catalog: Catalog, path: Path, **kwargs: Any) -> Any:
    kwargs.setdefault("choices", {"keypad": "madoguchi-keypad"})
    kwargs.setdefault("overrides", {"keypad.port": KEYPAD_PORT})
    return apply(catalog, "dispenser", site="demo-town", device_id="disp-1", broker=BROKER, path=path, **kwargs)


# --------------------------------------------------------------------------------------------
# what is written
# --------------------------------------------------------------------------------------------


def test_apply_writes_the_configuration_with_identity_and_hash(catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "etc" / "device.toml"
    out = io.StringIO()
    result = _dispenser(catalog, path, out=out)
    assert result.changed and result.written and result.previous_hash is None
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    assert doc["device"] == {
        "role": "dispenser",
        "site": "demo-town",
        "device_id": "disp-1",
        "broker": BROKER,
        "profile_hash": "sha256:" + result.hash,
        "models": {"display": "touch-10in-1280x800", "printer": "tm-t20iii", "keypad": "madoguchi-keypad"},
    }
    assert doc["printer"] == {
        "model": "TM-T20III",
        "backend": "usb",
        "usb": {"vendor": 0x04B8, "product": 0x0E15, "timeout_ms": 5000},
        # The model's facts for the driver, so the app reads no profile at start.
        "facts": {
            "name": "TM-T20III",
            "width_px": 576,
            "dpi": 203,
            "paper_mm": 80,
            "escpos_profile": "TM-T20II",
            "cutter": True,
            "status_queries": [1, 2, 3, 4],
            "fragment_height": 256,
            "usb_vendor": 0x04B8,
            "usb_product": 0x0E15,
        },
    }
    assert doc["display"] == {
        "width": 1280,
        "height": 800,
        "fullscreen": True,
        "orientation": "landscape",
        "maxfps": 30,
    }
    assert doc["keypad"] == {"port": KEYPAD_PORT} and doc["speech"] == {"backend": "openjtalk"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    # What was printed: the configuration, then the diff from nothing.
    printed = out.getvalue()
    assert printed.startswith(result.text)
    assert f"--- /dev/null\n+++ {path} (resolved)\n" in printed
    assert printed.endswith(f"wrote {path} (profile sha256:{result.hash})\n")


def test_the_hash_is_the_sha256_of_the_canonical_profile(catalog: Catalog) -> None:
    resolved = resolve_role(catalog, "dispenser")
    assert resolved.hash == hashlib.sha256(resolved.canonical()).hexdigest()
    # Deterministic: a fresh load of the same files gives the same hash.
    assert resolve_role(load_catalog(), "dispenser").hash == resolved.hash
    # Identity is not part of it: same hardware, same hash.
    one = resolved.to_device_config(Identity("demo-town", "disp-1", BROKER))
    two = resolved.to_device_config(Identity("other-town", "disp-9", BROKER))
    assert one["device"]["profile_hash"] == two["device"]["profile_hash"]
    # Another model, another override, or another fact in a profile: another hash.
    assert resolve_role(catalog, "dispenser", {"printer": "tm-t88v"}).hash != resolved.hash
    assert resolve_role(catalog, "dispenser", {}, {"display.maxfps": 20}).hash != resolved.hash


def test_a_changed_profile_fact_changes_the_hash(catalog: Catalog, tmp_path: Path) -> None:
    for folder in ("models", "roles"):
        shutil.copytree(BUILTIN_ROOT / folder, tmp_path / folder)
    path = tmp_path / "models" / "printers" / "tm-t20iii.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("0x0e15", "0x0e28"), encoding="utf-8")
    changed = resolve_role(load_catalog(tmp_path), "dispenser")
    assert changed.hash != resolve_role(catalog, "dispenser").hash
    assert changed.config["printer"]["usb"]["product"] == 0x0E28


# --------------------------------------------------------------------------------------------
# the apps read it
# --------------------------------------------------------------------------------------------


def test_the_device_section_is_the_only_addition_to_what_the_apps_read(catalog: Catalog, tmp_path: Path) -> None:
    import msgspec

    from ticket_dispenser import ui

    path = tmp_path / "device.toml"
    _dispenser(catalog, path)
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    assert set(doc) == {f.encode_name for f in msgspec.structs.fields(ui.DispenserConfig)}


def test_the_apps_read_the_written_configuration(catalog: Catalog, tmp_path: Path) -> None:
    """What apply writes loads with the apps' typed models (the [device] section included)."""
    from common.cli import UsageError
    from display_board import cli as board_cli
    from drivers.escpos_printer import open_printer
    from firmware_profiles import printer_model
    from kiosk.device import load_kiosk_config
    from ticket_dispenser import ui

    dispenser = tmp_path / "dispenser.toml"
    _dispenser(catalog, dispenser)
    try:
        device = ui.load_device_config(dispenser)
    except UsageError as err:
        pytest.fail(f"the dispenser's model must read what provisioning writes: {err}")
    display = device.display
    assert (display.width, display.height, display.fullscreen, display.orientation, device.columns) == (
        1280, 800, True, "landscape", 3,
    )  # fmt: skip
    assert device.keypad.port == KEYPAD_PORT and device.speech.backend == "openjtalk"
    assert device.printer is not None and device.printer.facts == printer_model(catalog.model("printers", "tm-t20iii"))
    printer = open_printer(device.printer)  # the written facts: no catalog; opens nothing until it prints
    assert printer.model.name == "TM-T20III" and printer.model.width_px == 576

    board = tmp_path / "board.toml"
    apply(catalog, "board", site="demo-town", device_id="board-1", broker=BROKER, path=board,
          choices={"led_panel": "madoguchi-led-panel"},
          overrides={"led_panel.port": "/dev/serial/by-id/usb-acme_led_panel-if00", "led_panel.counters": [1, 2, 4]})  # fmt: skip
    config = board_cli.load(board)
    assert (config.led_panel.port, config.led_panel.counters) == (
        "/dev/serial/by-id/usb-acme_led_panel-if00",
        (1, 2, 4),
    )
    assert config.display.power == "vcgencmd" and config.speech.backend == "openjtalk"

    kiosk = tmp_path / "kiosk.toml"
    apply(catalog, "kiosk", site="demo-town", device_id="kiosk-1", broker=BROKER, path=kiosk,
          overrides={"cash.port": "/dev/serial/by-id/usb-FTDI_FT232R-if00-port0",
                     "document_printer.queue": "certificates"})  # fmt: skip
    read = load_kiosk_config(kiosk, "kiosk-1")
    cash = read.cash
    assert [(h.address, h.coin) for h in cash.hoppers] == [(3, 10), (4, 100), (5, 500)]
    assert (cash.coin_acceptor, cash.bill_validator, cash.coins, cash.notes) == (
        2,
        40,
        (10, 50, 100, 500),
        (1000, 5000, 10000),
    )
    assert read.receipt_key == "printer" and read.receipt_printer.facts is not None
    assert read.card_reader.backend == "pcsc" and read.document_printer.queue == "certificates"
    assert read.display.orientation == "portrait"


# --------------------------------------------------------------------------------------------
# idempotence and the diff
# --------------------------------------------------------------------------------------------


def test_applying_the_same_profile_twice_changes_nothing(catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    first = _dispenser(catalog, path)
    inode = path.stat().st_ino
    out = io.StringIO()
    second = _dispenser(catalog, path, out=out)
    assert (second.changed, second.written, second.diff) == (False, False, "")
    assert second.hash == first.hash == second.previous_hash
    assert path.stat().st_ino == inode  # not even rewritten
    assert out.getvalue().endswith(f"no change: {path} already holds profile sha256:{first.hash}\n")


def test_a_change_is_shown_as_a_diff(catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    first = _dispenser(catalog, path)
    second = _dispenser(catalog, path, overrides={"keypad.port": "/dev/ttyACM3"})
    assert second.changed and second.previous_hash == first.hash != second.hash
    removed = [line for line in second.diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line for line in second.diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert f'-port = "{KEYPAD_PORT}"' in removed and '+port = "/dev/ttyACM3"' in added
    assert len(removed) == len(added) == 3  # the hash in the header, in [device], and the port
    assert second.diff.startswith(f"--- {path} (current)\n+++ {path} (resolved)\n")


def test_a_hand_edited_file_is_put_back(catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    first = _dispenser(catalog, path)
    path.write_text(path.read_text(encoding="utf-8").replace("maxfps = 30", "maxfps = 60"), encoding="utf-8")
    again = _dispenser(catalog, path)
    assert again.changed and again.hash == first.hash and "-maxfps = 60\n+maxfps = 30\n" in again.diff
    assert path.read_text(encoding="utf-8") == first.text


def test_a_dry_run_shows_but_does_not_write(catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    out = io.StringIO()
    result = _dispenser(catalog, path, dry_run=True, out=out)
    assert result.changed and not result.written and not path.exists()
    assert out.getvalue().endswith(f"would write {path} (profile sha256:{result.hash})\n")


def test_profile_hash_of_reads_a_written_file(catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    result = _dispenser(catalog, path)
    assert profile_hash_of(path.read_text(encoding="utf-8")) == result.hash
    assert profile_hash_of("[display]\nwidth = 1\n") is None
    assert profile_hash_of("not toml ][") is None
    assert profile_hash_of(None) is None


# --------------------------------------------------------------------------------------------
# atomic writing
# --------------------------------------------------------------------------------------------


def test_the_write_is_fsynced_then_renamed_then_the_directory_fsynced(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "device.toml"
    path.write_text("old\n", encoding="utf-8")
    steps: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}")
        steps.append("fsync dir" if os.path.isdir(target) else f"fsync {Path(target).name}")
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        steps.append(f"replace {Path(src).name} -> {Path(dst).name}")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    _dispenser(catalog, path)
    assert len(steps) == 3
    tmp_name = steps[0].removeprefix("fsync ")
    assert tmp_name.startswith(".device.toml.") and tmp_name.endswith(".tmp")
    assert steps[1:] == [f"replace {tmp_name} -> device.toml", "fsync dir"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["device.toml"]


def test_a_write_cut_short_leaves_the_old_file_whole(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "device.toml"
    first = _dispenser(catalog, path)

    def power_cut(src: Any, dst: Any) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", power_cut)
    with pytest.raises(ApplyError, match=rf"^{path}: cannot write the device configuration \(Input/output error\)$"):
        _dispenser(catalog, path, overrides={"keypad.port": "/dev/ttyACM9"})
    assert path.read_text(encoding="utf-8") == first.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["device.toml"]


def test_a_temp_file_left_by_a_crash_is_removed(catalog: Catalog, tmp_path: Path) -> None:
    orphan = tmp_path / ".device.toml.abc123.tmp"
    orphan.write_text("half a config", encoding="utf-8")
    other = tmp_path / ".other.toml.x.tmp"
    other.write_text("not ours", encoding="utf-8")
    _dispenser(catalog, tmp_path / "device.toml")
    assert not orphan.exists() and other.exists()


def test_an_existing_files_permissions_are_kept(catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    path.write_text("old\n", encoding="utf-8")
    path.chmod(0o640)
    _dispenser(catalog, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_unwritable_places_are_clear_errors(catalog: Catalog, tmp_path: Path) -> None:
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(ApplyError, match="is a directory; give the configuration file's path"):
        _dispenser(catalog, tmp_path / "dir.toml")
    (tmp_path / "file").write_text("", encoding="utf-8")
    with pytest.raises(
        ApplyError, match=r"file/device.toml: cannot read the current configuration \(Not a directory\)"
    ):
        _dispenser(catalog, tmp_path / "file" / "device.toml")


def test_a_bad_identity_or_choice_writes_nothing(catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    with pytest.raises(ResolveError, match="carries a password"):
        apply(catalog, "dispenser", site="demo-town", device_id="d1", broker="mqtt://u:p@office:1883", path=path)
    with pytest.raises(ResolveError, match="keypad.port: required"):
        _dispenser(catalog, path, overrides={})
    assert not path.exists()
