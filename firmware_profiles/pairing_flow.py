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
    "write_apt_sources",
    "write_env",
]

SETUP_UNIT = "madoguchi-setup.service"
# The office's apt repository (office/apt_repo.py): its suite, and where a device keeps its key
# and its sources (apt's own conventions, deb822).
APT_SUITE = "madoguchi"
APT_KEYRING = "keyrings/madoguchi-office.asc"
APT_SOURCES = "sources.list.d/madoguchi-office.sources"
PACKAGED_PREFIX = Path("/opt/venvs/madoguchi")
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


def default_owner() -> tuple[int, int] | None:
    """The app's user when provisioning runs as root on a device where the package made it."""
    import pwd

    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("madoguchi")
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


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
    apt_dir: Path | None = None,
) -> DeviceIdentity:
    """Pair with ``code``, then write the configuration (site and id from the office),
    ``device.env`` and, when the office has an apt repository and ``apt_dir`` is given
    (/etc/apt on a packaged device), the apt sources that make apt upgrade take updates from
    the office. EnrolError for a refused code or an unreachable office (nothing written)."""
    if planned.resolved is None:
        raise ProfileError("the hardware is not settled yet: " + "; ".join(planned.problems))
    identity = pair(code, planned.role.key, planned.profile_hash, identity_dir, office=office)
    if owner is not None:
        give(identity_dir, *owner)
    url = identity.broker_url(broker)
    apply_resolved(planned.resolved, Identity(identity.site, identity.device_id, url, identity.office_key), config)
    write_env(config)
    if identity.apt is not None and apt_dir is not None:
        write_apt_sources(apt_dir, *identity.apt)
    return identity


def default_apt_dir() -> Path | None:
    """/etc/apt on a device that runs the Debian package as root; None elsewhere (a developer's
    machine or a test rig keeps its apt sources)."""
    packaged = Path(sys.prefix) == PACKAGED_PREFIX
    return Path("/etc/apt") if packaged and os.geteuid() == 0 and Path("/etc/apt").is_dir() else None


def apt_sources_text(url: str, components: Sequence[str], keyring: Path) -> str:
    """The device's deb822 sources file for the office's repository (what
    ``madoguchi-office apt key --sources URL`` prints for the same URL and key path)."""
    if not url.endswith("/"):
        url += "/"
    return (
        "# The office's apt repository: madoguchi updates, and the versions before them for rollback\n"
        f"# (madoguchi-office apt key --sources {url}).\n"
        "Types: deb\n"
        f"URIs: {url}\n"
        f"Suites: {APT_SUITE}\n"
        f"Components: {' '.join(components)}\n"
        f"Signed-By: {keyring}\n"
    )


def write_apt_sources(apt_dir: Path, url: str, components: Sequence[str], key: str) -> tuple[Path, Path]:
    """Write the office's key and the sources naming it under ``apt_dir``; their paths."""
    keyring, sources = apt_dir / APT_KEYRING, apt_dir / APT_SOURCES
    for path in (keyring, sources):
        path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(keyring, key if key.endswith("\n") else key + "\n")
    write_atomic(sources, apt_sources_text(url, components, keyring))
    return keyring, sources


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
