"""Write a resolved profile to the device: the thin I/O around resolve.py.

``apply`` resolves the role, renders the device configuration, shows it with a unified diff
against the file on the device, and - when it changed - writes it atomically: a temp file in
the same directory, fsynced, ``os.replace``d over the old one, then the directory fsynced (so
a power cut leaves the old file or the new one, never half of one). The same profile applied
twice writes nothing the second time ("no change").
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from firmware_profiles.catalog import Catalog, Role
from firmware_profiles.errors import ApplyError
from firmware_profiles.resolve import (
    HASH_PREFIX,
    Choice,
    Identity,
    ResolvedProfile,
    diff_configs,
    profile_hash_of,
    resolve_role,
)

log = logging.getLogger(__name__)

FILE_MODE = 0o644  # the app's user must read it; it holds no secrets (no broker password)


@dataclass(frozen=True)
class ApplyResult:
    """What apply did: ``changed`` when the file differs from the resolved configuration,
    ``written`` when it was (re)written (never on a dry run), the new and previous hashes, the
    configuration text and the diff."""

    path: Path
    changed: bool
    written: bool
    hash: str
    previous_hash: str | None
    text: str
    diff: str


def read_current(path: Path) -> str | None:
    """The configuration on the device, or None when there is none yet."""
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    except IsADirectoryError as err:
        raise ApplyError(
            f"{path}: is a directory; give the configuration file's path, e.g. {path}/device.toml"
        ) from err
    except OSError as err:
        raise ApplyError(f"{path}: cannot read the current configuration ({err.strerror})") from err


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_orphans(path: Path) -> None:
    """Temp files left by a write that was cut short (power loss between create and rename)."""
    for orphan in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            orphan.unlink()
            log.info("removed %s, left by an interrupted write", orphan)
        except OSError as err:
            log.warning("cannot remove %s: %s", orphan, err.strerror)


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: temp file, fsync, os.replace, directory fsync. The file
    keeps its permissions (a new one gets 0644)."""
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.exists() else FILE_MODE
        _remove_orphans(path)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise ApplyError(f"{path}: cannot write the device configuration ({err.strerror})") from err
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(directory)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise ApplyError(f"{path}: cannot write the device configuration ({err.strerror})") from err
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def apply_resolved(
    resolved: ResolvedProfile,
    identity: Identity,
    path: str | os.PathLike[str],
    *,
    dry_run: bool = False,
    out: TextIO | None = None,
) -> ApplyResult:
    """Write ``resolved`` for ``identity`` to ``path`` unless it is already there; print the
    configuration and the diff to ``out`` when given."""
    target = Path(path)
    text = resolved.render(identity)
    current = read_current(target)
    changed = current != text
    diff = diff_configs(current, text, str(target)) if changed else ""
    if changed and not dry_run:
        write_atomic(target, text)
    result = ApplyResult(target, changed, changed and not dry_run, resolved.hash, profile_hash_of(current), text, diff)
    if out is not None:
        out.write(text)
        out.write("\n")
        if not changed:
            out.write(f"no change: {target} already holds profile {HASH_PREFIX}{resolved.hash}\n")
        else:
            out.write(diff)
            verb = "would write" if dry_run else "wrote"
            out.write(f"{verb} {target} (profile {HASH_PREFIX}{resolved.hash})\n")
    return result


def apply(
    catalog: Catalog,
    role: str | Role,
    *,
    site: str,
    device_id: str,
    broker: str,
    path: str | os.PathLike[str],
    choices: Mapping[str, Choice] | None = None,
    overrides: Mapping[str, Any] | None = None,
    dry_run: bool = False,
    out: TextIO | None = None,
) -> ApplyResult:
    """Resolve ``role`` with ``choices`` and ``overrides``, then write the device configuration
    for (``site``, ``device_id``, ``broker``) to ``path`` atomically - or, on a dry run, only
    show it. ResolveError / ApplyError name what is wrong."""
    identity = Identity(site, device_id, broker)
    resolved = resolve_role(catalog, role, choices, overrides)
    return apply_resolved(resolved, identity, path, dry_run=dry_run, out=out)
