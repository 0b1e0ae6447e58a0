"""Enrolment (端末登録): a lobby device gets its own MQTT identity with a one-time token.

1. At the office, staff issue a token for a device id and role (:meth:`EnrolmentRegistry.issue_token`).
   The token is shown once; only its SHA-256 is stored, with the device id, role and expiry.
2. On the device, the provisioning tool generates a key that never leaves the device, fetches
   the office CA certificate, checks it against the fingerprint inside the token (so it trusts
   the office before it sends anything secret), and posts the token, its device id, a
   certificate request and the hash of the profile it applied (office/enrol_http.py,
   firmware_profiles/enroll.py).
3. The office checks the token (known, unused, unexpired, for this device id), signs the
   certificate (CN = device id = MQTT username, OU = role) and marks the token used, in one
   transaction: a token works once.

Token format (docs/security.md)::

    mdg1-<secret>-<ca>

``secret`` is 20 random bytes and ``ca`` the SHA-256 of the office CA certificate (DER), both
in lower-case base32 without padding (32 and 52 characters): case-insensitive, no characters
that need escaping in a shell or a URL. Dashes and spaces a person adds when copying are
ignored.

The tables live in the SQLite database whose connection is passed in (the office store, or a
file of their own via :meth:`EnrolmentRegistry.open`); one registry object per connection, used
from one thread at a time (the enrolment endpoint serialises its requests).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from office import sql
from office.broker_security import OFFICE_IDENTITY, SecurityHome
from office.domain import OfficeError
from office.pki import OfficeCA, PkiError
from sync import pairing
from sync.protocol import valid_id

__all__ = [
    "DEFAULT_TOKEN_HOURS",
    "ENROLLABLE_ROLES",
    "DeviceRecord",
    "Enrolled",
    "EnrolmentError",
    "EnrolmentRegistry",
    "EnrolmentToken",
    "Pairing",
    "PendingPairing",
    "TokenRefused",
    "format_token",
    "issue_enrolment_token",
    "parse_token",
]

log = logging.getLogger(__name__)

TOKEN_VERSION = "mdg1"
SECRET_BYTES = 20  # 160 bits: guessing is hopeless, so a fast hash is enough for storage
FINGERPRINT_BYTES = 32
DEFAULT_TOKEN_HOURS = 24.0
MAX_TOKEN_HOURS = 30 * 24.0
ENROLLABLE_ROLES = ("dispenser", "board", "kiosk", "staff")
MAX_CSR_BYTES = 8 * 1024
DEFAULT_PAIRING_MINUTES = 60.0
MAX_PAIRING_MINUTES = 24 * 60.0
_PROFILE_HASH_RE = re.compile(r"^[A-Za-z0-9:._-]{1,128}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS enrol_tokens (
    token_hash TEXT PRIMARY KEY, device_id TEXT NOT NULL, role TEXT NOT NULL,
    issued_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, used_ms INTEGER, used_serial TEXT,
    withdrawn_ms INTEGER
);
CREATE INDEX IF NOT EXISTS enrol_tokens_device ON enrol_tokens(device_id);
CREATE TABLE IF NOT EXISTS enrolled_devices (
    device_id TEXT PRIMARY KEY, role TEXT NOT NULL, serial TEXT NOT NULL, not_after_ms INTEGER NOT NULL,
    profile_hash TEXT NOT NULL, enrolled_ms INTEGER NOT NULL, revoked_ms INTEGER
);
"""


class EnrolmentError(OfficeError):
    """An enrolment request or token operation that cannot be carried out."""


class TokenRefused(EnrolmentError):
    """The token is unknown, used, expired, withdrawn, or for another device."""


@dataclass(frozen=True)
class EnrolmentToken:
    """A freshly issued token: ``text`` is shown once and never stored."""

    text: str
    device_id: str
    role: str
    expires_ms: int


@dataclass(frozen=True)
class Pairing:
    """A freshly made pairing code: ``code`` is shown once (on the console) and never stored."""

    code: str
    device_id: str
    role: str
    expires_ms: int


@dataclass(frozen=True)
class PendingPairing:
    """A pairing code that is still waiting for its device (what the console lists, without the code)."""

    device_id: str
    role: str
    issued_ms: int
    expires_ms: int


@dataclass(frozen=True)
class Enrolled:
    """What a redeemed token gives the device."""

    device_id: str
    role: str
    site: str
    mqtt_username: str
    certificate_pem: str
    ca_pem: str
    serial: str
    not_after_ms: int


@dataclass(frozen=True)
class DeviceRecord:
    """A device in the enrolment inventory."""

    device_id: str
    role: str
    serial: str
    not_after_ms: int
    profile_hash: str
    enrolled_ms: int
    revoked_ms: int | None


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def _unb32(text: str) -> bytes:
    padded = text.upper() + "=" * (-len(text) % 8)
    return base64.b32decode(padded)


def format_token(secret: bytes, ca_fingerprint: bytes) -> str:
    """``mdg1-<secret>-<ca fingerprint>`` (see the module docstring)."""
    return f"{TOKEN_VERSION}-{_b32(secret)}-{_b32(ca_fingerprint)}"


def parse_token(text: str) -> tuple[bytes, bytes]:
    """(secret, CA fingerprint) from a token; TokenRefused saying what is wrong with it."""
    cleaned = "".join(text.split()).lower()
    parts = cleaned.split("-")
    if len(parts) < 2 or parts[0] != TOKEN_VERSION:
        raise TokenRefused(f"this is not an enrolment token: it should start with {TOKEN_VERSION}- (copy it whole)")
    body = "".join(parts[1:])
    secret_len, fp_len = len(_b32(bytes(SECRET_BYTES))), len(_b32(bytes(FINGERPRINT_BYTES)))
    if len(body) != secret_len + fp_len:
        raise TokenRefused(
            f"the enrolment token has {len(body)} characters after {TOKEN_VERSION}-, not "
            f"{secret_len + fp_len}: it was cut or mistyped"
        )
    try:
        return _unb32(body[:secret_len]), _unb32(body[secret_len:])
    except (binascii.Error, ValueError) as err:
        raise TokenRefused("the enrolment token contains characters that are not base32 (a-z, 2-7): mistyped") from err


def _token_hash(secret: bytes) -> str:
    return hashlib.sha256(secret).hexdigest()


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


class EnrolmentRegistry:
    """One-time tokens and the inventory of enrolled devices, on the office store's connection."""

    def __init__(self, conn: sql.Conn, ca: OfficeCA, site: str) -> None:
        """Create the tables if needed; ``conn`` must not be inside a transaction."""
        if not valid_id(site):
            raise EnrolmentError(f"site id {site!r} is invalid: use 1-63 letters, digits, '.', '_' or '-'")
        self._conn = conn
        self._ca = ca
        self._site = site
        self._own_connection = False
        if sql.dialect(conn) == "postgres":
            conn.executescript(SCHEMA)
            columns = {
                str(r[0])
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name='enrol_tokens'"
                    " AND table_schema=current_schema()"
                )
            }
        else:
            conn.executescript(SCHEMA)
            columns = {str(r[1]) for r in conn.execute("PRAGMA table_info(enrol_tokens)")}
        if "kind" not in columns:
            # 'token' (the long mdg1- token for a named device) or 'pair' (a pairing code).
            conn.execute("ALTER TABLE enrol_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'token'")

    @classmethod
    def open(cls, db_path: sql.Where, ca: OfficeCA, site: str) -> EnrolmentRegistry:
        """A registry on its own connection to ``db_path`` (WAL, waits for other writers)."""
        conn: sql.Conn
        try:
            if sql.is_postgres(db_path):
                conn = sql.PgConnection(str(db_path))
            else:
                Path(db_path).parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(db_path), isolation_level=None, check_same_thread=False, timeout=10.0)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
        except (OSError, *sql.StoreErrors) as err:
            raise EnrolmentError(f"cannot open the enrolment store {db_path}: {err}") from err
        registry = cls(conn, ca, site)
        registry._own_connection = True
        return registry

    def close(self) -> None:
        """Close the connection if :meth:`open` made it."""
        if self._own_connection:
            self._conn.close()

    @property
    def connection(self) -> sql.Conn:
        """The registry's connection (autocommit; for a caller's own transaction beside it)."""
        return self._conn

    @property
    def ca(self) -> OfficeCA:
        """The CA that signs enrolled devices."""
        return self._ca

    @property
    def site(self) -> str:
        """The site every enrolled device belongs to."""
        return self._site

    # -- tokens ---------------------------------------------------------------------------------

    def issue_token(
        self, device_id: str, role: str, *, now_ms: int, valid_hours: float = DEFAULT_TOKEN_HOURS
    ) -> EnrolmentToken:
        """A one-time token for ``device_id`` in ``role``; earlier unused tokens for the same
        device are withdrawn, so at most one is ever outstanding."""
        if not valid_id(device_id):
            raise EnrolmentError(
                f"device id {device_id!r} is invalid: use 1-63 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        if device_id == OFFICE_IDENTITY:
            raise EnrolmentError(f"device id {device_id!r} is reserved for the office server's own identity")
        if role not in ENROLLABLE_ROLES:
            raise EnrolmentError(f"role {role!r} cannot enrol: use one of {', '.join(ENROLLABLE_ROLES)}")
        if not 0 < valid_hours <= MAX_TOKEN_HOURS:
            raise EnrolmentError(
                f"token validity {valid_hours:g} h is invalid: use more than 0 and at most {MAX_TOKEN_HOURS:g}"
            )
        taken = [
            r
            for r in self._ca.records()
            if r.name == device_id and r.kind == "identity" and r.valid_at(now_ms) and r.role != role
        ]
        if taken:
            raise EnrolmentError(
                f"{device_id!r} is already the identity of a {taken[-1].role} made at the office; "
                "pick another device id, or revoke that identity first"
            )
        secret = secrets.token_bytes(SECRET_BYTES)
        expires_ms = now_ms + int(valid_hours * 3_600_000)
        self._begin()
        try:
            self._conn.execute(
                "UPDATE enrol_tokens SET withdrawn_ms = ? WHERE device_id = ? AND used_ms IS NULL AND withdrawn_ms IS NULL",
                (now_ms, device_id),
            )
            self._conn.execute(
                "INSERT INTO enrol_tokens (token_hash, device_id, role, issued_ms, expires_ms) VALUES (?, ?, ?, ?, ?)",
                (_token_hash(secret), device_id, role, now_ms, expires_ms),
            )
            self._conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        log.info("enrolment token issued for %s (%s), valid until %s", device_id, role, _when(expires_ms))
        return EnrolmentToken(format_token(secret, self._ca.fingerprint), device_id, role, expires_ms)

    def redeem(self, token: str, csr_pem: bytes, device_id: str, profile_hash: str, *, now_ms: int) -> Enrolled:
        """Check the token, sign the device's certificate request and use the token up.

        TokenRefused for an unknown, used, expired or withdrawn token, or one issued for
        another device; EnrolmentError for a bad request (the token is then still usable).
        """
        secret, fingerprint = parse_token(token)
        if fingerprint != self._ca.fingerprint:
            raise TokenRefused("this enrolment token was issued by another office CA; ask this office for a token")
        if not valid_id(device_id):
            raise EnrolmentError(f"device id {device_id!r} is invalid: use 1-63 letters, digits, '.', '_' or '-'")
        if not isinstance(profile_hash, str) or not _PROFILE_HASH_RE.match(profile_hash):
            raise EnrolmentError(
                f"profile hash {profile_hash!r} is invalid: 1-128 letters, digits, ':', '.', '_' or '-' "
                "(the hash provisioning printed)"
            )
        if len(csr_pem) > MAX_CSR_BYTES:
            raise EnrolmentError(f"certificate request of {len(csr_pem)} bytes is too large (limit {MAX_CSR_BYTES})")
        self._begin()
        try:
            row = self._conn.execute(
                "SELECT device_id, role, expires_ms, used_ms, withdrawn_ms FROM enrol_tokens WHERE token_hash = ?",
                (_token_hash(secret),),
            ).fetchone()
            self._check_token(row, device_id, now_ms)
            enrolled = self._sign_and_record(_token_hash(secret), device_id, str(row[1]), csr_pem, profile_hash, now_ms)
            self._conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        log.info(
            "enrolled %s as %s (certificate %s, profile %s)", device_id, enrolled.role, enrolled.serial, profile_hash
        )
        return enrolled

    def _sign_and_record(
        self, token_hash: str, device_id: str, role: str, csr_pem: bytes, profile_hash: str, now_ms: int
    ) -> Enrolled:
        """Inside the caller's transaction: sign, use the token up, record the device."""
        try:
            issued = self._ca.sign_csr(csr_pem, name=device_id, role=role, now_ms=now_ms)
        except PkiError as err:
            raise EnrolmentError(f"cannot sign the certificate request: {err}") from err
        serial = issued.record.serial_hex
        self._conn.execute(
            "UPDATE enrol_tokens SET used_ms = ?, used_serial = ? WHERE token_hash = ?",
            (now_ms, serial, token_hash),
        )
        self._conn.execute(
            "INSERT INTO enrolled_devices (device_id, role, serial, not_after_ms, profile_hash, enrolled_ms, revoked_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, NULL) ON CONFLICT(device_id) DO UPDATE SET role = excluded.role,"
            " serial = excluded.serial, not_after_ms = excluded.not_after_ms,"
            " profile_hash = excluded.profile_hash, enrolled_ms = excluded.enrolled_ms, revoked_ms = NULL",
            (device_id, role, serial, issued.record.not_after_ms, profile_hash, now_ms),
        )
        return Enrolled(
            device_id=device_id,
            role=role,
            site=self._site,
            mqtt_username=device_id,
            certificate_pem=issued.cert_pem.decode("ascii"),
            ca_pem=self._ca.cert_pem.decode("ascii"),
            serial=serial,
            not_after_ms=issued.record.not_after_ms,
        )

    # -- pairing codes ----------------------------------------------------------------------------

    def issue_pairing(
        self,
        role: str,
        *,
        host: str,
        port: int,
        now_ms: int,
        valid_minutes: float = DEFAULT_PAIRING_MINUTES,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> Pairing:
        """A one-time pairing code for a new device in ``role`` (sync/pairing.py), with the next
        free device id (``<role>-<n>``); the device learns its id when it pairs."""
        if role not in pairing.PAIRING_ROLES:
            raise EnrolmentError(f"role {role!r} cannot pair: use one of {', '.join(pairing.PAIRING_ROLES)}")
        if not 0 < valid_minutes <= MAX_PAIRING_MINUTES:
            raise EnrolmentError(
                f"pairing code validity {valid_minutes:g} min is invalid: use more than 0 and at most "
                f"{MAX_PAIRING_MINUTES:g}"
            )
        self._begin()
        try:
            device_id = self._next_device_id(role)
            for _ in range(20):  # a 32-bit secret: a clash with a stored one is rare, but possible
                try:
                    code = pairing.new_code(role, host, port, self._ca.fingerprint, random_bytes)
                except ValueError as err:
                    raise EnrolmentError(str(err)) from err
                known = self._conn.execute(
                    "SELECT 1 FROM enrol_tokens WHERE token_hash = ?", (_token_hash(code.secret),)
                ).fetchone()
                if known is None:
                    break
            else:
                raise EnrolmentError("could not draw an unused pairing secret; try again")
            expires_ms = now_ms + int(valid_minutes * 60_000)
            self._conn.execute(
                "INSERT INTO enrol_tokens (token_hash, device_id, role, issued_ms, expires_ms, kind)"
                " VALUES (?, ?, ?, ?, ?, 'pair')",
                (_token_hash(code.secret), device_id, role, now_ms, expires_ms),
            )
            self._conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        log.info("pairing code issued for %s (%s), valid until %s", device_id, role, _when(expires_ms))
        return Pairing(code.text, device_id, role, expires_ms)

    def _next_device_id(self, role: str) -> str:
        taken = {str(r[0]) for r in self._conn.execute("SELECT device_id FROM enrol_tokens")}
        taken |= {str(r[0]) for r in self._conn.execute("SELECT device_id FROM enrolled_devices")}
        taken |= {r.name for r in self._ca.records()}
        number = 1
        while f"{role}-{number}" in taken:
            number += 1
        return f"{role}-{number}"

    def pending_pairings(self, now_ms: int) -> list[PendingPairing]:
        """Pairing codes not yet used, withdrawn or expired, oldest first."""
        rows = self._conn.execute(
            "SELECT device_id, role, issued_ms, expires_ms FROM enrol_tokens WHERE kind = 'pair'"
            " AND used_ms IS NULL AND withdrawn_ms IS NULL AND expires_ms > ? ORDER BY issued_ms",
            (now_ms,),
        ).fetchall()
        return [PendingPairing(str(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows]

    def withdraw_pairing(self, device_id: str, now_ms: int) -> bool:
        """Withdraw the outstanding pairing code for ``device_id``; False if there was none."""
        self._begin()
        try:
            changed = self._conn.execute(
                "UPDATE enrol_tokens SET withdrawn_ms = ? WHERE device_id = ? AND kind = 'pair'"
                " AND used_ms IS NULL AND withdrawn_ms IS NULL",
                (now_ms, device_id),
            ).rowcount
            self._conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return changed > 0

    def redeem_pairing(self, code_text: str, role: str, csr_pem: bytes, profile_hash: str, *, now_ms: int) -> Enrolled:
        """Pair a device: check the code (this office's, for this role, known, unused, unexpired),
        sign the device's certificate request under the code's device id and use the code up.

        TokenRefused (one sentence for the device's screen) for a code that cannot be used;
        EnrolmentError for a bad request (the code then still works).
        """
        try:
            code = pairing.decode(code_text)
        except pairing.PairingCodeError as err:
            raise TokenRefused(str(err)) from err
        if not code.matches_ca(self._ca.fingerprint):
            raise TokenRefused("this pairing code was not made by this office: check the code, or make a new one")
        if code.role != role:
            raise TokenRefused(
                f"this pairing code is for a {code.role}, not a {role}: choose {code.role} on the device, "
                f"or make a code for a {role}"
            )
        if not isinstance(profile_hash, str) or not _PROFILE_HASH_RE.match(profile_hash):
            raise EnrolmentError(
                f"profile hash {profile_hash!r} is invalid: 1-128 letters, digits, ':', '.', '_' or '-'"
            )
        if len(csr_pem) > MAX_CSR_BYTES:
            raise EnrolmentError(f"certificate request of {len(csr_pem)} bytes is too large (limit {MAX_CSR_BYTES})")
        key = _token_hash(code.secret)
        self._begin()
        try:
            row = self._conn.execute(
                "SELECT device_id, role, expires_ms, used_ms, withdrawn_ms FROM enrol_tokens"
                " WHERE token_hash = ? AND kind = 'pair'",
                (key,),
            ).fetchone()
            if row is None:
                raise TokenRefused("this pairing code is not known here: check it, or make a new one at the console")
            device_id, row_role, expires_ms, used_ms, withdrawn_ms = row
            if used_ms is not None:
                log.warning("pairing refused: the code for %s was already used at %s", device_id, _when(used_ms))
                raise TokenRefused(
                    f"this pairing code was already used at {_when(used_ms)}; a code works once: make a new one"
                )
            if withdrawn_ms is not None:
                raise TokenRefused("this pairing code was withdrawn at the console: make a new one")
            if now_ms >= expires_ms:
                raise TokenRefused(f"this pairing code expired at {_when(expires_ms)}: make a new one at the console")
            if row_role != role:
                raise TokenRefused(f"this pairing code is for a {row_role}, not a {role}: make a code for a {role}")
            enrolled = self._sign_and_record(key, str(device_id), str(row_role), csr_pem, profile_hash, now_ms)
            self._conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        log.info(
            "paired %s as %s (certificate %s, profile %s)", enrolled.device_id, role, enrolled.serial, profile_hash
        )
        return enrolled

    def _check_token(self, row: Any, device_id: str, now_ms: int) -> None:
        if row is None:
            log.warning("enrolment refused for %s: unknown token", device_id)
            raise TokenRefused(
                "enrolment token not recognised (mistyped, or replaced by a newer one); ask the office for a new token"
            )
        token_device, _role, expires_ms, used_ms, withdrawn_ms = row
        if used_ms is not None:
            # Worth a warning: either a retry after a lost reply or somebody replaying a token.
            log.warning(
                "enrolment refused for %s: token for %s already used at %s", device_id, token_device, _when(used_ms)
            )
            raise TokenRefused(
                f"this enrolment token was already used at {_when(used_ms)}; a token works once: "
                f"ask the office for a new token for {token_device}"
            )
        if withdrawn_ms is not None:
            raise TokenRefused(
                f"this enrolment token was replaced by a newer one for {token_device}; use the newest token"
            )
        if now_ms >= expires_ms:
            raise TokenRefused(
                f"this enrolment token expired at {_when(expires_ms)}; ask the office for a new token for {token_device}"
            )
        if token_device != device_id:
            raise TokenRefused(
                f"this enrolment token is for device {token_device!r}, not {device_id!r}; check the device id"
            )

    # -- inventory ------------------------------------------------------------------------------

    def devices(self) -> list[DeviceRecord]:
        """Every device ever enrolled (revoked ones included), by id."""
        rows = self._conn.execute(
            "SELECT device_id, role, serial, not_after_ms, profile_hash, enrolled_ms, revoked_ms"
            " FROM enrolled_devices ORDER BY device_id"
        ).fetchall()
        return [DeviceRecord(*tuple(r)) for r in rows]

    def device(self, device_id: str) -> DeviceRecord | None:
        """One device's record, or None if it never enrolled."""
        return next((d for d in self.devices() if d.device_id == device_id), None)

    def mark_revoked(self, device_id: str, now_ms: int) -> None:
        """Note the revocation in the inventory (the CA and the broker do the revoking) and
        withdraw any outstanding token for the device."""
        self._begin()
        try:
            self._conn.execute(
                "UPDATE enrolled_devices SET revoked_ms = ? WHERE device_id = ? AND revoked_ms IS NULL",
                (now_ms, device_id),
            )
            self._conn.execute(
                "UPDATE enrol_tokens SET withdrawn_ms = ? WHERE device_id = ? AND used_ms IS NULL AND withdrawn_ms IS NULL",
                (now_ms, device_id),
            )
            self._conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    # -- transactions ---------------------------------------------------------------------------

    def _begin(self) -> None:
        if self._conn.in_transaction:
            raise EnrolmentError("the enrolment registry's connection is inside another transaction; commit it first")
        # IMMEDIATE: take the write lock before reading the token, so two redemptions of the
        # same token cannot both see it unused.
        self._conn.execute("BEGIN IMMEDIATE")

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")


def issue_enrolment_token(
    home: SecurityHome | Path,
    db_path: Path,
    *,
    site: str,
    device_id: str,
    role: str,
    now_ms: int,
    valid_hours: float = DEFAULT_TOKEN_HOURS,
) -> EnrolmentToken:
    """Issue a token from the CA in ``home`` and the registry in ``db_path`` (for the CLI)."""
    home = home if isinstance(home, SecurityHome) else SecurityHome(Path(home))
    registry = EnrolmentRegistry.open(db_path, OfficeCA.load(home.ca_dir), site)
    try:
        return registry.issue_token(device_id, role, now_ms=now_ms, valid_hours=valid_hours)
    finally:
        registry.close()
