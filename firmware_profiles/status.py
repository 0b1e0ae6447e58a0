"""What a provisioned device is and how it is doing: ``madoguchi-provision status``.

Read-only on everything it looks at, so it is safe while the app runs:

* the device configuration provisioning wrote (role, site, id, broker, profile hash) and
  whether its hardware sections still hash to the recorded profile hash (an edit by hand or a
  changed profile since ``apply`` shows here);
* the TLS identity named by the broker URL (``cert=``): whose it is and when it expires;
* the broker: TCP, then the TLS handshake with that identity - never an MQTT CONNECT, which
  (the broker taking the certificate name as client id) would take the running app's session;
* the app's data directory: events waiting in the outbox and the office's last ack, read from
  the store files directly (sync/store.py's format) without opening the stores, which would
  take their writer locks away from the app.

Also here, for the other provisioning commands: reading the device configuration
(:func:`read_device_file`), the PASS/WARN/FAIL vocabulary (:class:`Verdict`) and the broker
probe (:func:`probe_broker`).
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import ssl
import tomllib
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from common.device_config import DeviceSection
from common.validation import Invalid, convert
from firmware_profiles.catalog import Catalog, Profile, freeze
from firmware_profiles.errors import ProfileError
from firmware_profiles.resolve import DEVICE_SECTION, HASH_PREFIX, ResolvedProfile

__all__ = [
    "DeviceConfigError",
    "DeviceFile",
    "Line",
    "Probe",
    "SyncState",
    "Verdict",
    "check_profile_hash",
    "device_status",
    "format_ms",
    "probe_broker",
    "read_device_file",
    "read_sync_state",
    "render_lines",
]

DAY_MS = 86_400_000
EXPIRY_WARN_DAYS = 90
_STORE_MAGIC = "MADOGUCHI-STORE"
_SEGMENT = re.compile(r"^seg-(\d{6,})\.json$")


class DeviceConfigError(ProfileError):
    """The device configuration is missing or unusable; the message names the file and the fix."""


class Verdict(Enum):
    """How a check or a status line came out."""

    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Line:
    """One line of a report: a label, a verdict and a sentence saying what to do if needed."""

    label: str
    verdict: Verdict
    text: str


def render_lines(lines: Sequence[Line], width: int | None = None) -> str:
    """``  PASS  label    text`` lines, labels padded to ``width`` (default: the longest)."""
    width = width if width is not None else max((len(line.label) for line in lines), default=0)
    return "".join(f"  {line.verdict.value:<4}  {line.label:<{width}}  {line.text}\n" for line in lines)


def format_ms(ms: int) -> str:
    """``2026-11-21 09:12 UTC``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _ago(ms: int, now_ms: int) -> str:
    seconds = max(0, (now_ms - ms) // 1000)
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172_800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86_400} days ago"


# --------------------------------------------------------------------------------------------
# the device configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceFile:
    """The device configuration as provisioning wrote it: its text, its parsed tables and its
    ``[device]`` table as the apps' model of it (common.device_config.DeviceSection)."""

    path: Path
    text: str
    doc: Mapping[str, Any]
    device_section: DeviceSection

    @property
    def device(self) -> Mapping[str, Any]:
        """The ``[device]`` table, as written."""
        section = self.doc.get(DEVICE_SECTION)
        return section if isinstance(section, Mapping) else {}

    def _text(self, key: str) -> str:
        value = getattr(self.device_section, key)
        if not isinstance(value, str) or not value:
            raise DeviceConfigError(
                f"{self.path}: device.{key} is missing; this file was not written by madoguchi-provision apply: "
                "apply the role again"
            )
        return value

    @property
    def role(self) -> str:
        """The role (dispenser, board, kiosk)."""
        return self._text("role")

    @property
    def site(self) -> str:
        """The site id."""
        return self._text("site")

    @property
    def device_id(self) -> str:
        """The device id (its MQTT name)."""
        return self._text("device_id")

    @property
    def office_key(self) -> str | None:
        """The office's signing key enrolment pinned, or None before enrolment."""
        return self.device_section.office_key or None

    @property
    def broker(self) -> str:
        """The broker URL the apps connect with."""
        return self._text("broker")

    @property
    def profile_hash(self) -> str:
        """``sha256:<hex>`` as applied."""
        return self._text("profile_hash")

    @property
    def models(self) -> Mapping[str, str | list[str]]:
        """Slot -> model key (a list for a slot of several)."""
        return self.device_section.models

    def section(self, name: str) -> Mapping[str, Any] | None:
        """An app section (``printer``, ``cash``), or None when the role has none."""
        value = self.doc.get(name)
        return value if isinstance(value, Mapping) else None

    def describe(self) -> str:
        """``disp-1 (dispenser at demo-town)``."""
        return f"{self.device_id} ({self.role} at {self.site})"


def read_device_file(path: Path) -> DeviceFile:
    """Read the device configuration; DeviceConfigError names the file, the key and what to do.

    ``[device]`` is decoded through the apps' own model of it (DeviceSection), so a table the
    apps would refuse is refused here too, with the same key path."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise DeviceConfigError(
            f"{path}: no device configuration here; run madoguchi-provision apply first (or give --config)"
        ) from err
    except IsADirectoryError as err:
        raise DeviceConfigError(f"{path}: is a directory; give the file, e.g. {path}/device.toml") from err
    except (OSError, UnicodeDecodeError) as err:
        raise DeviceConfigError(f"{path}: cannot read the device configuration ({err})") from err
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise DeviceConfigError(f"{path}: not valid TOML ({err}); apply the role again to rewrite it") from err
    if not isinstance(doc.get(DEVICE_SECTION), dict):
        raise DeviceConfigError(
            f"{path}: has no [device] table; it was not written by madoguchi-provision apply: apply the role"
        )
    try:
        section = convert(doc[DEVICE_SECTION], DeviceSection)
    except Invalid as err:
        raise DeviceConfigError(
            f"{path}: {err.within(DEVICE_SECTION)}; correct it, or apply the role again to rewrite the file"
        ) from err
    return DeviceFile(path, text, doc, section)


def check_profile_hash(catalog: Catalog, device: DeviceFile) -> Line:
    """Whether the file's hardware sections still hash to the recorded profile hash.

    The hash is recomputed over the role and models named in ``[device]`` and the sections as
    they are in the file now, exactly as resolve.py computed it at apply time.
    """
    recorded = device.profile_hash
    shown = recorded[: len(HASH_PREFIX) + 12] + "…"
    try:
        role = catalog.role(device.role)
        models: dict[str, tuple[Profile, ...]] = {}
        for slot in role.slots:
            keys = device.models.get(slot.name)
            if keys is None:
                models[slot.name] = ()  # resolve.py hashes an empty slot as an empty list too
                continue
            names = [keys] if isinstance(keys, str) else list(keys)
            models[slot.name] = tuple(catalog.model(slot.kind, str(k)) for k in names)
    except ProfileError as err:
        return Line("profile", Verdict.WARN, f"{shown}: cannot check it against the profiles ({err})")
    config = {k: v for k, v in device.doc.items() if k != DEVICE_SECTION}
    computed = HASH_PREFIX + hashlib.sha256(ResolvedProfile(role, models, freeze(config), "").canonical()).hexdigest()
    if computed == recorded:
        return Line("profile", Verdict.PASS, f"{shown} matches the hardware configuration")
    return Line(
        "profile",
        Verdict.WARN,
        f"{shown} no longer matches the configuration (edited by hand, or the profiles changed since apply): "
        "run madoguchi-provision apply again",
    )


# --------------------------------------------------------------------------------------------
# the broker and the identity
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """What :func:`probe_broker` found: reachable at all, and a sentence."""

    ok: bool
    text: str


def probe_broker(url: str, timeout: float = 5.0) -> Probe:
    """TCP to the broker, then (mqtts) the TLS handshake with the URL's identity.

    The broker checks the client certificate during the handshake; with TLS 1.3 a refusal
    arrives just after it, so the probe waits up to a second for one before calling the
    identity accepted. It never sends an MQTT CONNECT (see the module docstring).
    """
    from sync.link import BrokerAddress, LinkError

    try:
        address = BrokerAddress.parse(url)
    except LinkError as err:
        return Probe(False, str(err))
    where = f"{address.host}:{address.port}"
    try:
        raw = socket.create_connection((address.host, address.port), timeout=timeout)
    except OSError as err:
        reason = err.strerror or str(err) or type(err).__name__
        return Probe(False, f"nothing answers at {where} ({reason}): is the broker running? is the address right?")
    with raw:
        if not address.tls:
            return Probe(True, f"{where} answers (plain MQTT: no TLS identity in use)")
        try:
            context = address.tls_context()
        except LinkError as err:
            return Probe(False, str(err))
        try:
            with context.wrap_socket(raw, server_hostname=address.host) as tls:
                tls.settimeout(1.0)
                try:
                    data = tls.recv(1)
                except TimeoutError:
                    data = None  # the broker waits for our CONNECT: the identity was accepted
                if data == b"":
                    return Probe(
                        False, f"{where} closed the TLS connection at once: identity refused? see the broker log"
                    )
        except ssl.SSLCertVerificationError as err:
            return Probe(False, f"{where}: the broker's certificate does not check out ({err.verify_message})")
        except ssl.SSLError as err:
            why = err.reason or str(err)
            if "revoked" in why.lower():
                hint = ": this device's certificate was revoked at the office; enrol again with a new token"
            elif "certificate" in why.lower() or "unknown_ca" in why.lower():
                hint = ": is the certificate from this office's CA? enrol again with a new token"
            else:
                hint = ""
            return Probe(False, f"{where} refused the TLS identity ({why}){hint}")
        except OSError as err:
            return Probe(False, f"{where}: TLS failed ({err.strerror or err})")
    return Probe(True, f"{where} answers; TLS identity accepted")


def _url_option(url: str, name: str) -> str | None:
    from urllib.parse import parse_qsl, urlsplit

    return dict(parse_qsl(urlsplit(url).query)).get(name)


def identity_line(broker_url: str, device_id: str, now_ms: int) -> Line:
    """The TLS identity the broker URL names: whose, and until when."""
    cert_path = _url_option(broker_url, "cert")
    if cert_path is None:
        return Line(
            "identity",
            Verdict.WARN,
            "not enrolled (the broker URL names no certificate): run madoguchi-provision enroll",
        )
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    except FileNotFoundError:
        return Line("identity", Verdict.FAIL, f"{cert_path} is missing: enrol this device again")
    except (OSError, ValueError) as err:
        return Line("identity", Verdict.FAIL, f"{cert_path} is unreadable ({err}): enrol this device again")
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = str(names[0].value) if names else "?"
    until = int(cert.not_valid_after_utc.timestamp() * 1000)
    serial = format(cert.serial_number, "X")
    text = f"certificate {name} (serial {serial[:12]}) valid until {format_ms(until)}"
    if name != device_id:
        return Line("identity", Verdict.FAIL, f"{text}, but this device is {device_id!r}: enrol it with its own id")
    days = (until - now_ms) // DAY_MS
    if until <= now_ms:
        return Line("identity", Verdict.FAIL, f"{text}: expired; enrol again with a new token")
    if days < EXPIRY_WARN_DAYS:
        return Line("identity", Verdict.WARN, f"{text}: expires in {days} days; enrol again with a new token")
    return Line("identity", Verdict.PASS, f"{text} ({days} days left)")


# --------------------------------------------------------------------------------------------
# the app's data directory, read without taking its locks
# --------------------------------------------------------------------------------------------


def _store_body(path: Path) -> dict[str, Any] | None:
    """A sync/store.py file's JSON, checked by its header; the ``.bak`` when the file is damaged
    (what the app's next open would restore); None when neither is there or good."""
    for candidate in (path, path.with_name(path.name + ".bak")):
        try:
            raw = candidate.read_bytes()
        except OSError:
            continue
        newline = raw.find(b"\n", 0, 128)
        if newline < 0:
            continue
        parts = raw[:newline].decode("ascii", errors="replace").split(" ")
        payload = raw[newline + 1 :]
        if len(parts) != 4 or parts[0] != _STORE_MAGIC or not parts[3].isdigit() or len(payload) != int(parts[3]):
            continue
        if f"{zlib.crc32(payload) & 0xFFFFFFFF:08x}" != parts[2]:
            continue
        try:
            doc = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            continue
        if isinstance(doc, dict):
            return doc
    return None


@dataclass(frozen=True)
class SyncState:
    """The outbox as the app left it on disk."""

    data_dir: Path
    found: bool
    last_seq: int = 0
    acked_seq: int = 0
    last_ack_ms: int | None = None  # when ack.json was last written
    oldest_pending_ms: int | None = None

    @property
    def pending(self) -> int:
        """Events written but not yet acknowledged by the office."""
        return max(0, self.last_seq - self.acked_seq)


def read_sync_state(data_dir: Path) -> SyncState:
    """Read ``<data_dir>/outbox`` (segments and ack.json) without opening the stores."""
    outbox = data_dir / "outbox"
    if not outbox.is_dir():
        return SyncState(data_dir, False)
    segments = sorted(
        (int(m.group(1)), entry) for entry in outbox.iterdir() if (m := _SEGMENT.match(entry.name)) is not None
    )
    last_seq = 0
    first_seq: int | None = None
    records: list[Mapping[str, Any]] = []
    for _index, entry in segments:
        body = _store_body(entry)
        if body is None:
            continue
        found = [r for r in body.get("records", []) if isinstance(r, dict) and isinstance(r.get("seq"), int)]
        records += found
        meta = body.get("meta")
        if isinstance(meta, dict) and isinstance(meta.get("last_seq"), int):
            last_seq = max(last_seq, meta["last_seq"])
    if records:
        first_seq = min(int(r["seq"]) for r in records)
        last_seq = max(last_seq, max(int(r["seq"]) for r in records))
    acked = 0
    ack_path = outbox / "ack.json"
    ack = _store_body(ack_path)
    stored = ack.get("ack") if ack is not None else None
    doc = stored.get("doc") if isinstance(stored, dict) else None
    if isinstance(doc, dict) and isinstance(doc.get("acked_seq"), int):
        acked = doc["acked_seq"]
    if first_seq is not None:
        acked = max(acked, first_seq - 1)  # segments are pruned only after their ack was saved
    acked = min(acked, last_seq)
    try:
        last_ack_ms: int | None = int(ack_path.stat().st_mtime * 1000) if ack is not None else None
    except OSError:
        last_ack_ms = None
    waiting = [r for r in records if int(r["seq"]) > acked and isinstance(r.get("at_ms"), int)]
    oldest = min((int(r["at_ms"]) for r in waiting), default=None)
    return SyncState(data_dir, True, last_seq, acked, last_ack_ms, oldest)


def sync_line(state: SyncState, now_ms: int) -> Line:
    """The last sync as a report line."""
    if not state.found:
        return Line(
            "last sync", Verdict.WARN, f"no outbox in {state.data_dir} (the app has not run yet, or give --data)"
        )
    if state.last_seq == 0:
        return Line("last sync", Verdict.PASS, "no events recorded yet")
    acked = f"office acknowledged up to event {state.acked_seq}"
    if state.last_ack_ms is not None:
        acked += f" ({format_ms(state.last_ack_ms)}, {_ago(state.last_ack_ms, now_ms)})"
    if state.pending == 0:
        return Line("last sync", Verdict.PASS, f"all {state.last_seq} events delivered; {acked}")
    waiting = f"{state.pending} event(s) waiting in the outbox"
    if state.oldest_pending_ms is not None:
        waiting += f", the oldest from {_ago(state.oldest_pending_ms, now_ms)}"
    # Events wait while the office is unreachable; that is the design, not a fault, until it lasts.
    stale = state.oldest_pending_ms is not None and now_ms - state.oldest_pending_ms > 10 * 60_000
    return Line("last sync", Verdict.WARN if stale else Verdict.PASS, f"{waiting}; {acked}")


# --------------------------------------------------------------------------------------------
# the whole status
# --------------------------------------------------------------------------------------------


def device_status(
    catalog: Catalog, device: DeviceFile, data_dir: Path, *, now_ms: int, timeout: float = 5.0
) -> list[Line]:
    """Every status line: device, profile, identity, broker, last sync."""
    lines = [Line("device", Verdict.PASS, f"{device.describe()}, configuration {device.path}")]
    models = ", ".join(
        f"{slot}={model if isinstance(model, str) else ','.join(model)}" for slot, model in device.models.items()
    )
    lines.append(Line("models", Verdict.PASS, models or "none"))
    lines.append(check_profile_hash(catalog, device))
    lines.append(identity_line(device.broker, device.device_id, now_ms))
    probe = probe_broker(device.broker, timeout)
    lines.append(Line("broker", Verdict.PASS if probe.ok else Verdict.FAIL, probe.text))
    lines.append(sync_line(read_sync_state(data_dir), now_ms))
    return lines
