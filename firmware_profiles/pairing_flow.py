"""The three steps after the first boot, shared by the setup screen and ``madoguchi-provision pair``:

1. :func:`plan` - detect the role's hardware and resolve the profile (nothing written);
2. :func:`pair_and_configure` - pair with the code from the staff console (the office names
   the device and its site), then write the device configuration and its ``device.env``;
3. :func:`start_app` - enable and start the role's systemd unit and switch the setup off
   (or, for a test rig without systemd, replace this process with the app).

Each step raises an error whose message is one sentence for the technician; nothing is written
before the office has accepted the code, so a wrong code can simply be typed again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware_profiles.apply import apply_resolved, read_current, write_atomic
from firmware_profiles.catalog import Catalog, Role
from firmware_profiles.detect import DetectionReport, SerialPort, UsbDevice, detect
from firmware_profiles.enroll import DeviceIdentity, EnrolError, pair
from firmware_profiles.errors import ProfileError
from firmware_profiles.resolve import HASH_PREFIX, Identity, ResolvedProfile, resolve_role
from firmware_profiles.status import read_device_file

__all__ = [
    "APP_UNITS",
    "SETUP_UNIT",
    "Plan",
    "StartError",
    "app_command",
    "env_path",
    "env_text",
    "pair_and_configure",
    "plan",
    "start_app",
    "write_env",
]

SETUP_UNIT = "madoguchi-setup.service"
APP_UNITS = {
    "dispenser": "madoguchi-dispenser.service",
    "board": "madoguchi-board.service",
    "kiosk": "madoguchi-kiosk.service",
}


class StartError(ProfileError):
    """The app could not be started; the device is paired and configured all the same."""


@dataclass(frozen=True)
class Plan:
    """What detection found for a role and, when nothing is left open, the resolved profile."""

    role: Role
    report: DetectionReport
    resolved: ResolvedProfile | None
    problems: tuple[str, ...] = field(default=())

    @property
    def profile_hash(self) -> str:
        """``sha256:…`` of the resolved profile (what the office records at pairing)."""
        if self.resolved is None:
            raise ProfileError("the hardware is not settled yet: nothing to pair with")
        return HASH_PREFIX + self.resolved.hash


def plan(
    catalog: Catalog,
    role_key: str,
    usb: Sequence[UsbDevice],
    ports: Sequence[SerialPort],
    choices: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Plan:
    """Detect ``role_key``'s hardware among ``usb`` and ``ports`` and resolve its profile."""
    role = catalog.role(role_key)
    chosen = dict(choices or {})
    given = dict(overrides or {})
    report = detect(catalog, role, usb, ports, chosen, given)
    problems = tuple(f"{f.slot}: {f.message}" for f in report.findings if f.blocking and f.slot not in chosen)
    if problems:
        return Plan(role, report, None, problems)
    try:
        resolved = resolve_role(catalog, role, {**report.choices(), **chosen}, {**report.overrides(), **given})
    except ProfileError as err:
        return Plan(role, report, None, (str(err),))
    return Plan(role, report, resolved)


# --------------------------------------------------------------------------------------------
# the configuration's companion for systemd
# --------------------------------------------------------------------------------------------


def env_path(config: Path) -> Path:
    """The environment file beside the configuration: ``device.toml`` -> ``device.env``."""
    return config.with_suffix(".env")


def _env_value(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def env_text(config: Path, device: Mapping[str, Any], prog: str = "madoguchi-provision") -> str:
    """What the systemd units read (EnvironmentFile=): who the device is and where it connects."""
    values = {
        "MADOGUCHI_SITE": str(device["site"]),
        "MADOGUCHI_DEVICE_ID": str(device["device_id"]),
        "MADOGUCHI_BROKER": str(device["broker"]),
        "MADOGUCHI_DEVICE_CONFIG": str(config.resolve()),
    }
    if device.get("office_key"):
        values["MADOGUCHI_OFFICE_KEY"] = str(device["office_key"])
    head = (
        f"# Written by {prog} from {config.name}: apply or enroll again rather than edit it.\n"
        "# Read by the madoguchi-* systemd units (deploy/systemd).\n"
    )
    return head + "".join(f"{k}={_env_value(v)}\n" for k, v in values.items())


def write_env(config: Path) -> Path:
    """Write ``device.env`` for ``config`` if it changed; its path."""
    device = read_device_file(config)
    path = env_path(config)
    text = env_text(config, device.device)
    if read_current(path) != text:
        write_atomic(path, text)
    return path


# --------------------------------------------------------------------------------------------
# pairing
# --------------------------------------------------------------------------------------------


def give(directory: Path, uid: int, gid: int) -> None:
    """Hand the identity to the app's user: its key is 0600, and the app must read it."""
    try:
        os.chown(directory, uid, gid)
        for root, dirs, files in os.walk(directory):
            for name in [*dirs, *files]:
                os.lchown(os.path.join(root, name), uid, gid)  # lchown: "current" is a symlink
    except PermissionError as err:
        raise EnrolError(f"cannot hand {directory} to uid {uid}: {err.strerror}; run the setup as root") from err


def pair_and_configure(
    planned: Plan,
    code: str,
    config: Path,
    identity_dir: Path,
    *,
    owner: tuple[int, int] | None = None,
    office: tuple[str, int] | None = None,
    broker: str | None = None,
) -> DeviceIdentity:
    """Pair with ``code``, then write the configuration (site and id from the office) and
    ``device.env``. EnrolError for a refused code or an unreachable office (nothing written)."""
    if planned.resolved is None:
        raise ProfileError("the hardware is not settled yet: " + "; ".join(planned.problems))
    identity = pair(code, planned.role.key, planned.profile_hash, identity_dir, office=office)
    if owner is not None:
        give(identity_dir, *owner)
    url = identity.broker_url(broker)
    apply_resolved(planned.resolved, Identity(identity.site, identity.device_id, url, identity.office_key), config)
    write_env(config)
    return identity


# --------------------------------------------------------------------------------------------
# starting the app
# --------------------------------------------------------------------------------------------


def app_command(role: str, config: Path, data: Path, extra: Sequence[str] = ()) -> list[str]:
    """The app's command line for a configured device (what its systemd unit runs)."""
    device = read_device_file(config).device
    site, device_id = str(device["site"]), str(device["device_id"])
    common = ["--site", site, "--device-id", device_id, "--device-config", str(config), "--data", str(data)]
    # What the units take from device.env: where the broker is, and the office key to pin.
    common += ["--broker", str(device["broker"])]
    if device.get("office_key"):
        common += ["--office-key", str(device["office_key"])]
    if role == "dispenser":
        return ["madoguchi-dispenser", "ui", *common, *extra]
    if role == "board":
        return ["madoguchi-board", *common, *extra]
    if role == "kiosk":
        return ["madoguchi-kiosk", "ui", *common, *extra]
    raise StartError(f"no app for role {role!r}")


def start_app(
    role: str,
    how: str,
    *,
    config: Path,
    data: Path,
    extra: Sequence[str] = (),
    run: Callable[[list[str]], subprocess.CompletedProcess[str]] | None = None,
    exec_app: Callable[[str, list[str]], object] = os.execvp,
) -> None:
    """Start the role's app: ``systemd`` enables and starts its unit and disables the setup's;
    ``exec`` replaces this process with the app (a rig without systemd); ``none`` does nothing."""
    if how == "none":
        return
    if how == "exec":
        command = app_command(role, config, data, extra)
        # Beside this interpreter first (the package's virtualenv), then on PATH.
        beside = Path(sys.executable).parent / command[0]
        exe = str(beside) if beside.exists() else shutil.which(command[0])
        if exe is None:
            raise StartError(f"{command[0]} is not installed here: install the madoguchi package")
        try:
            exec_app(exe, command)
        except OSError as err:
            raise StartError(f"cannot start {command[0]}: {err.strerror or err}") from err
        return
    if how != "systemd":
        raise StartError(f"start {how!r} is unknown: use systemd, exec or none")
    runner = run or (lambda argv: subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False))
    for argv in (["systemctl", "enable", "--now", APP_UNITS[role]], ["systemctl", "disable", SETUP_UNIT]):
        try:
            result = runner(argv)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise StartError(f"cannot run {' '.join(argv)}: {err}") from err
        if result.returncode != 0:
            why = (result.stderr or result.stdout).strip().splitlines()
            raise StartError(f"{' '.join(argv)} failed: {why[-1] if why else f'exit {result.returncode}'}")
