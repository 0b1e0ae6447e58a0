"""deploy/: the systemd units and timers parse (systemd-analyze verify where it exists, and a strict
parse of our own everywhere) and call the apps the way their command lines accept; the daily kiosk
report's timer starts a one-shot run that really works on a store; the generated files
(udev rule, Mosquitto reference) match what the code generates; the Kivy config.ini agrees with
common/screen.py and Kivy's own format version.
"""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from deploy.generate import MOSQUITTO_CONF, SECURITY_HOME, UDEV_RULES, generated, printer_usb_ids
from firmware_profiles import load_catalog
from firmware_profiles.pairing_flow import env_text
from office.issuance import CashReport
from sync import messages

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
SERVICES = sorted((DEPLOY / "systemd").glob("*.service"))
TIMERS = sorted((DEPLOY / "systemd").glob("*.timer"))
UNITS = SERVICES + TIMERS
# A timer starts the service of its own name, which runs once and exits; every other service runs for good.
TIMED = {timer.with_suffix(".service").name for timer in TIMERS}
# The first-boot setup screen runs as root (it writes /etc/madoguchi and enables units), only until pairing.
SETUP_UNIT = DEPLOY / "systemd" / "madoguchi-setup.service"
DAEMONS = [unit for unit in SERVICES if unit.name not in TIMED and unit != SETUP_UNIT]
DROP_IN = DEPLOY / "systemd" / "mosquitto.service.d" / "madoguchi.conf"
DEVICE_UNITS = ("madoguchi-dispenser.service", "madoguchi-board.service", "madoguchi-kiosk.service")
REPORT_SERVICE = DEPLOY / "systemd" / "madoguchi-kiosk-report.service"
REPORT_TIMER = DEPLOY / "systemd" / "madoguchi-kiosk-report.timer"
HARDENING = ("StateDirectory", "StateDirectoryMode", "ProtectSystem", "ProtectHome", "PrivateTmp", "NoNewPrivileges")

# Keys our units may use, per unit type and section: a typo is an error here even where
# systemd-analyze is absent.
_UNIT_SECTION = {
    "Description",
    "Documentation",
    "After",
    "Wants",
    "Requires",
    "Conflicts",
    "ConditionPathExists",
    "StartLimitIntervalSec",
    "StartLimitBurst",
}
ALLOWED = {
    ".service": {
        "Unit": _UNIT_SECTION,
        "Service": {
            "Type",
            "User",
            "Group",
            "SupplementaryGroups",
            "EnvironmentFile",
            "Environment",
            "ExecStart",
            "ExecReload",
            "Restart",
            "RestartSec",
            "WatchdogSec",
            "NotifyAccess",
            "TimeoutStartSec",
            "TimeoutStopSec",
            "StateDirectory",
            "StateDirectoryMode",
            "ProtectSystem",
            "ProtectHome",
            "PrivateTmp",
            "NoNewPrivileges",
        },
        "Install": {"WantedBy"},
    },
    ".timer": {
        "Unit": _UNIT_SECTION,
        "Timer": {
            "OnCalendar",
            "OnBootSec",
            "OnUnitActiveSec",
            "Persistent",
            "RandomizedDelaySec",
            "AccuracySec",
            "Unit",
        },
        "Install": {"WantedBy"},
    },
}


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A strict reading of a unit file: known sections and keys (for its type) only, every line key=value."""
    assert path.suffix in ALLOWED, f"{path.name}: not a unit type we ship ({', '.join(ALLOWED)})"
    allowed = ALLOWED[path.suffix]
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        where = f"{path.name}:{number}"
        if m := re.fullmatch(r"\[(\w+)\]", line):
            assert m.group(1) in allowed, f"{where}: unknown section [{m.group(1)}] in a {path.suffix} unit"
            assert m.group(1) not in sections, f"{where}: section [{m.group(1)}] twice"
            current = sections[m.group(1)] = {}
            continue
        assert current is not None, f"{where}: a setting before any section"
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z]+", key), f"{where}: not key=value: {raw!r}"
        section = next(name for name, values in sections.items() if values is current)
        assert key in allowed[section], f"{where}: {key} is not a key we use in [{section}]"
        current.setdefault(key, []).append(value)
    return sections


def console_scripts() -> dict[str, str]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg", encoding="utf-8")
    lines = cfg["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict((part.strip() for part in line.split("=", 1)) for line in lines)  # type: ignore[misc]


def _parsers() -> dict[str, Callable[[], Any]]:
    from display_board.cli import _parser as board
    from office.cli import _parser as office
    from ticket_dispenser.cli import _parser as dispenser

    return {"madoguchi-dispenser": dispenser, "madoguchi-board": board, "madoguchi-office": office}


# --------------------------------------------------------------------------------------------
# units
# --------------------------------------------------------------------------------------------


def verify(unit: Path, tmp_path: Path, *companions: Path) -> None:
    """systemd-analyze verify ``unit`` (with the units it starts beside it) where the tool exists."""
    if not shutil.which("systemd-analyze"):
        return
    stub_dir = tmp_path / "bin"
    stub_dir.mkdir(exist_ok=True)
    for path in (unit, *companions):
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".service":
            # verify checks that the program exists: point ExecStart at a stand-in of the same name.
            program = parse_unit(path)["Service"]["ExecStart"][0].split()[0]
            stub = stub_dir / Path(program).name
            stub.write_text("#!/bin/sh\n")
            stub.chmod(0o755)
            text = text.replace(program, str(stub))
        (tmp_path / path.name).write_text(text, encoding="utf-8")
    run = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / unit.name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    names = [path.name for path in (unit, *companions)]
    problems = [line for line in (run.stdout + run.stderr).splitlines() if any(name in line for name in names)]
    assert run.returncode == 0 and not problems, run.stdout + run.stderr


def test_every_app_and_the_office_has_a_unit() -> None:
    names = {p.name for p in UNITS}
    assert {"madoguchi-office.service", "madoguchi-enrol.service", *DEVICE_UNITS} <= names
    assert {REPORT_SERVICE.name, REPORT_TIMER.name, SETUP_UNIT.name} <= names
    assert {unit.name for unit in DAEMONS} == {unit.name for unit in SERVICES} - TIMED - {SETUP_UNIT.name}


def test_setup_unit_runs_as_root_on_the_screen_only_until_the_device_is_paired(tmp_path: Path) -> None:
    doc = parse_unit(SETUP_UNIT)
    unit, service = doc["Unit"], doc["Service"]
    assert unit["Description"] and doc["Install"]["WantedBy"] == ["multi-user.target"]
    # Never on a paired device: enrolment installs the identity there (firmware_profiles/enroll.py).
    assert unit["ConditionPathExists"] == ["!/var/lib/madoguchi/identity/current"]
    # It writes /etc/madoguchi and enables units: root, and no read-only /etc.
    assert service["User"] == ["root"] and "ProtectSystem" not in service
    assert service["ExecStart"] == ["/usr/bin/madoguchi-setup"]
    # One program on the screen: a device's app stops it when it starts.
    assert set(unit["Conflicts"][0].split()) == set(DEVICE_UNITS)
    assert service["Restart"] == ["on-failure"]
    verify(SETUP_UNIT, tmp_path)


@pytest.mark.parametrize("unit", DAEMONS, ids=lambda p: p.name)
def test_unit_parses_and_restarts_and_feeds_a_watchdog(unit: Path, tmp_path: Path) -> None:
    doc = parse_unit(unit)
    service = doc["Service"]
    assert doc["Unit"]["Description"] and doc["Install"]["WantedBy"] == ["multi-user.target"]
    assert service["Restart"] == ["on-failure"]
    assert re.fullmatch(r"\d+", service["WatchdogSec"][0]) and int(service["WatchdogSec"][0]) >= 10
    assert service["NotifyAccess"] == ["main"] and service["User"] == ["madoguchi"]
    assert len(service["ExecStart"]) == 1
    verify(unit, tmp_path)


@pytest.mark.parametrize("timer", TIMERS, ids=lambda p: p.name)
def test_timer_parses_and_starts_a_one_shot_service_hardened_like_the_office(timer: Path, tmp_path: Path) -> None:
    doc = parse_unit(timer)
    assert doc["Unit"]["Description"] and doc["Install"]["WantedBy"] == ["timers.target"]
    assert len(doc["Timer"]["OnCalendar"]) == 1
    assert doc["Timer"]["Persistent"] == ["true"]  # a run missed while the machine was off happens at boot
    target = timer.with_name(doc["Timer"].get("Unit", [timer.with_suffix(".service").name])[0])
    assert target.is_file(), f"{timer.name} starts {target.name}, which deploy/systemd/ does not have"
    service_doc = parse_unit(target)
    service = service_doc["Service"]
    assert service["Type"] == ["oneshot"] and len(service["ExecStart"]) == 1
    assert service["User"] == ["madoguchi"] and service["Group"] == ["madoguchi"]
    # Its exit status must stay its result: no restart on failure, no watchdog, and no [Install]
    # of its own (enabled, it would also run at every boot, outside the timer's schedule).
    assert not {"Restart", "WatchdogSec", "NotifyAccess"} & set(service) and "Install" not in service_doc
    assert re.fullmatch(r"\d+", service["TimeoutStartSec"][0])  # oneshot otherwise waits forever
    office = parse_unit(DEPLOY / "systemd" / "madoguchi-office.service")["Service"]
    assert {key: service.get(key) for key in HARDENING} == {key: office[key] for key in HARDENING}
    verify(timer, tmp_path, target)


@pytest.mark.parametrize("unit", SERVICES, ids=lambda p: p.name)
def test_exec_start_names_a_console_script_with_arguments_it_accepts(unit: Path) -> None:
    command = parse_unit(unit)["Service"]["ExecStart"][0].split()
    script = Path(command[0]).name
    # The Debian package links every console script into /usr/bin (debian/rules).
    assert command[0] == f"/usr/bin/{script}"
    scripts = console_scripts()
    assert script in scripts, f"{script} is not a console script in setup.cfg ({', '.join(scripts)}): add it"
    # Every ${VAR} comes from the file provisioning writes (or the office's security home).
    variables = re.findall(r"\$\{(\w+)\}", " ".join(command))
    if unit.name in DEVICE_UNITS:
        written = re.findall(
            r"^(\w+)=",
            env_text(Path("/etc/madoguchi/device.toml"), {"site": "s", "device_id": "d", "broker": "mqtt://b:1"}),
            re.MULTILINE,
        )
        assert set(variables) <= set(written) and "MADOGUCHI_BROKER" in written
        assert parse_unit(unit)["Service"]["EnvironmentFile"] == ["/etc/madoguchi/device.env"]
    parser = _parsers().get(script)
    if parser is not None:
        args = [re.sub(r"\$\{\w+\}", "x-1", word) for word in command[1:]]
        parser().parse_args(args)  # SystemExit (a failed test) if the app does not take them


def test_office_units_use_the_security_home_the_generated_files_name() -> None:
    office = parse_unit(DEPLOY / "systemd" / "madoguchi-office.service")["Service"]
    assert office["EnvironmentFile"] == [f"{SECURITY_HOME}/office.env"]
    enrol = parse_unit(DEPLOY / "systemd" / "madoguchi-enrol.service")["Service"]
    assert f"--home {SECURITY_HOME}" in enrol["ExecStart"][0]
    assert enrol["Type"] == ["notify"]  # enrol serve sends READY=1 (common/watchdog.py)


def _report_time() -> tuple[int, int, str]:
    """(hour, minute, zone) of the report timer's OnCalendar, which must be one fixed time a day."""
    when = parse_unit(REPORT_TIMER)["Timer"]["OnCalendar"][0]
    m = re.fullmatch(r"\*-\*-\* (\d\d):(\d\d):00 ([\w/+-]+)", when)
    assert m, f"{REPORT_TIMER.name}: OnCalendar={when}: expected every day at HH:MM:00 in a named zone"
    return int(m.group(1)), int(m.group(2)), m.group(3)


def _minutes(hhmm: object) -> int:
    assert isinstance(hhmm, str) and re.fullmatch(r"\d\d:\d\d", hhmm), hhmm
    hour, minute = hhmm.split(":")
    return int(hour) * 60 + int(minute)


def test_report_timer_fires_after_the_day_closed_and_before_the_kiosk_opens_in_the_sites_zone() -> None:
    from office import config as configmod

    site = configmod.load(None)  # office/default_site.toml, which provisioning installs as site.toml
    hour, minute, zone = _report_time()
    # The zone is written out (the machine's clock may be UTC); it must be the site's own.
    assert zone == site.timezone
    at = hour * 60 + minute
    hours = site.kiosk
    assert _minutes(hours.open) < _minutes(hours.close)  # the kiosk does not run past midnight
    # After the rollover, "yesterday" is the business day the kiosk has just closed; before the
    # kiosk opens, no new day's money is moving yet.
    assert site.rollover_hour * 60 <= at < _minutes(hours.open)
    if shutil.which("systemd-analyze"):
        when = parse_unit(REPORT_TIMER)["Timer"]["OnCalendar"][0]
        run = subprocess.run(
            ["systemd-analyze", "calendar", when], capture_output=True, text=True, timeout=60, check=False
        )
        assert run.returncode == 0 and f"Normalized form: {when}" in run.stdout, run.stdout + run.stderr


def test_report_service_command_reconciles_the_office_store_and_writes_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from office import cli
    from office.db import OfficeDB
    from office.issuance import IssuanceBook

    command = parse_unit(REPORT_SERVICE)["Service"]["ExecStart"][0].split()
    office = parse_unit(DEPLOY / "systemd" / "madoguchi-office.service")["Service"]["ExecStart"][0].split()

    def option(words: list[str], name: str) -> str:
        assert name in words, f"{' '.join(words)}: no {name}"
        return words[words.index(name) + 1]

    # The office server's own store and site, not a copy that would always balance.
    assert option(command, "--db") == option(office, "--db")
    assert option(command, "--config") == option(office, "--config")
    args = cli._parser().parse_args(command[1:])
    assert args.command == "kiosk-report" and args.day == "yesterday"
    # Reports land in the unit's state directory: writable for it under ProtectSystem=full.
    state = Path("/var/lib") / parse_unit(REPORT_SERVICE)["Service"]["StateDirectory"][0]
    assert args.out is not None and args.out.is_relative_to(state)

    # Run that very command on a real store, at the timer's hour, the morning after a balanced day.
    tokyo = ZoneInfo("Asia/Tokyo")
    at = int(datetime(2026, 11, 20, 14, 0, tzinfo=tokyo).timestamp() * 1000)
    db = OfficeDB(tmp_path / "office.sqlite3")
    try:
        book = IssuanceBook(db.conn, tokyo, site_code="demo-town")
        book.issue("req-1", "kiosk-1", "SIM-0001", "juminhyo", {"scope": "members"}, 1, 300, at)
        book.record_cash(
            "kiosk-1",
            "2026-11-20",
            _cash_report(
                {"event_id": "kiosk-1:1", "type": "fee_kept", "amount": 300, "request_id": "req-1", "at_ms": at}
            ),
        )
    finally:
        db.close()
    here = {
        option(command, "--config"): str(REPO / "office" / "default_site.toml"),
        option(command, "--db"): str(tmp_path / "office.sqlite3"),
        option(command, "--out"): str(tmp_path / "reports"),
    }
    hour, minute, _zone = _report_time()
    morning = int(datetime(2026, 11, 21, hour, minute, tzinfo=tokyo).timestamp() * 1000)
    monkeypatch.setattr(cli, "_now_ms", lambda: morning)
    assert cli.main([here.get(word, word) for word in command[1:]]) == 0
    report = (tmp_path / "reports" / "kiosk-cash-2026-11-20.txt").read_text(encoding="utf-8")
    assert report.startswith("kiosk cash for 2026-11-20: balanced\n") and "kiosk-1: 1 issued" in report


def test_deploy_readme_lists_every_unit() -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    missing = [unit.name for unit in UNITS if f"`systemd/{unit.name}`" not in readme]
    assert not missing, f"deploy/README.md does not list {', '.join(missing)}"


def test_mosquitto_drop_in_runs_the_generated_configuration() -> None:
    lines = [line for line in DROP_IN.read_text(encoding="utf-8").splitlines() if line and line[0] not in "#;"]
    service = lines[lines.index("[Service]") + 1 :]
    starts = [line for line in service if line.startswith("ExecStart=")]
    # A drop-in must clear the packaged ExecStart before setting its own.
    assert starts == ["ExecStart=", f"ExecStart=/usr/sbin/mosquitto -c {SECURITY_HOME}/broker/mosquitto.conf"]
    assert "Restart=on-failure" in service


# --------------------------------------------------------------------------------------------
# generated files
# --------------------------------------------------------------------------------------------


def test_generated_files_are_up_to_date() -> None:
    for path, text in generated().items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run python -m deploy.generate"


def test_udev_rule_covers_every_printer_id_in_valid_syntax() -> None:
    text = UDEV_RULES.read_text(encoding="utf-8")
    rules = [line for line in text.splitlines() if line and not line.startswith("#")]
    pair = r'[A-Z]+(\{\w+\})?(==|=|\+=)"[^"]*"'
    for rule in rules:
        assert re.fullmatch(rf"{pair}(, {pair})*", rule), rule
    ids = {
        (int(v, 16), int(p, 16)) for v, p in re.findall(r'idVendor\}=="(\w{4})", ATTR\{idProduct\}=="(\w{4})"', text)
    }
    assert ids == set(printer_usb_ids(load_catalog())) and len(ids) == len(rules)
    assert (0x04B8, 0x0202) in ids and (0x04B8, 0x0E15) in ids  # the Epson printer-class and TM-T20 ids
    assert all('GROUP="lp"' in rule and 'MODE="0660"' in rule for rule in rules)


def test_mosquitto_reference_keeps_persistence_and_a_raised_queue() -> None:
    from office.broker_security import BrokerSettings

    settings = {
        line.split(" ", 1)[0]: line.split(" ", 1)[1]
        for line in MOSQUITTO_CONF.read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert settings["persistence"] == "true" and settings["allow_anonymous"] == "false"
    assert int(settings["max_queued_messages"]) == BrokerSettings(site="x").max_queued_messages >= 100_000
    assert settings["persistence_location"] == f"{SECURITY_HOME}/broker/data/"
    assert settings["user"] == "madoguchi"


# --------------------------------------------------------------------------------------------
# Kivy
# --------------------------------------------------------------------------------------------


def test_kivy_config_matches_configure_kivy_and_kivys_format(tmp_path: Path) -> None:
    ini = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=None)
    ini.read(DEPLOY / "kivy" / "config.ini", encoding="utf-8")
    # HARDWARE.md's kiosk settings.
    assert ini["kivy"]["exit_on_escape"] == "0"
    assert (
        ini["graphics"]["allow_screensaver"],
        ini["graphics"]["fullscreen"],
        ini["graphics"]["show_cursor"],
        ini["graphics"]["maxfps"],
        ini["graphics"]["multisamples"],
    ) == ("0", "auto", "0", "30", "0")
    assert dict(ini["input"]) == {"mouse": "mouse,disable_multitouch"}
    kivy_config = Path(__import__("importlib.util").util.find_spec("kivy").origin).parent / "config.py"
    version = re.search(r"^KIVY_CONFIG_VERSION = (\d+)$", kivy_config.read_text(), re.MULTILINE)
    assert version and ini["kivy"]["config_version"] == version.group(1)
    # What configure_kivy sets at start-up (in a child process: it imports Kivy).
    code = (
        "import json, pathlib; from common.screen import configure_kivy; "
        f"configure_kivy(width=1280, height=800, fullscreen=True, kiosk=True, home=pathlib.Path({str(tmp_path)!r}), "
        "maxfps=30); from kivy.config import Config; "
        "print(json.dumps({s: dict(Config.items(s)) for s in ('kivy', 'graphics', 'input')}))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    live = json.loads(run.stdout.strip().splitlines()[-1])
    assert live["input"] == dict(ini["input"])
    for section in ("kivy", "graphics"):
        for key, value in ini[section].items():
            if key in (
                "exit_on_escape",
                "fullscreen",
                "show_cursor",
                "allow_screensaver",
                "maxfps",
                "resizable",
                "multisamples",
            ):
                assert live[section][key] == value, (section, key)


def _cash_report(data: dict[str, object]) -> CashReport:
    """A ``kiosk.cash`` event's data as the office takes it in (checked, then the domain rule)."""
    return CashReport.from_event(msgspec.convert(data, messages.KioskCash))


@pytest.mark.slow
def test_the_wheel_holds_every_module_and_data_file_and_the_build_says_nothing_is_ignored(tmp_path: Path) -> None:
    """What a non-editable install (the Debian package) gets: every module and every catalog,
    template and profile of our packages - office/console has no __init__.py and was left out
    once - and no "package would be ignored" from setuptools."""
    import subprocess
    import sys
    import zipfile

    src = tmp_path / "src"
    subprocess.run(["git", "clone", "-q", str(REPO), str(src)], check=True)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path / "dist"), "."],
        cwd=src,
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    assert "would be ignored" not in build.stdout + build.stderr
    (wheel,) = (tmp_path / "dist").glob("madoguchi-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    # Every package the import contracts know (all of the project's code) but the benches, read
    # from setup.cfg: a package added to the code and forgotten in [options.packages.find] fails
    # here (setup_screen was, and the .deb's madoguchi-setup could not start).
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(src / "setup.cfg", encoding="utf-8")
    packages = set(cfg["importlinter"]["root_packages"].split()) - {"bench"}
    for line in cfg["options.entry_points"]["console_scripts"].strip().splitlines():
        module = line.split("=", 1)[1].strip().split(":", 1)[0]
        assert module.replace(".", "/") + ".py" in names, f"the wheel lacks {module}, a console script's"
    wanted = {
        str(path.relative_to(src))
        for package in packages
        for path in (src / package).rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix in {".py", ".po", ".mo", ".pot", ".html", ".yaml", ".toml", ".css", ".js"}
    }
    missing = sorted(wanted - names)
    assert not missing, missing[:20]
