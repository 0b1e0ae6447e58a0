"""The office certificate authority (認証局): the trust root of the site's broker.

One directory holds it (created 0700):

* ``ca.key``  - the CA's private key, PEM, mode 0600. It never leaves the office machine.
* ``ca.pem``  - the CA certificate; devices pin it (its SHA-256 travels in enrolment tokens).
* ``crl.pem`` - the certificate revocation list, rewritten on every revocation; Mosquitto reads
  it (``crlfile``) on start and on SIGHUP.
* ``issued.json`` - every certificate issued: serial, name (the subject CN, which becomes the
  MQTT username), role, kind, validity and revocation. Read-modify-write under ``ca.lock``
  (flock), so the enrolment endpoint and a revocation from the command line never lose each
  other's changes.

Keys are EC P-256: quick to generate and sign on a Raspberry Pi, supported by every TLS stack
the devices and Mosquitto use. Client certificates carry the device id as CN and the role as
OU; the broker takes the CN as the username (``use_identity_as_username``).

Times are milliseconds since the Unix epoch passed in by the caller, as everywhere in the
office; validity starts an hour before ``now_ms`` so that a clock corrected backwards by a few
minutes does not make a fresh certificate "not yet valid".
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from office.domain import OfficeError
from sync.protocol import valid_id

__all__ = [
    "CA_CERT_FILE",
    "CA_KEY_FILE",
    "CRL_FILE",
    "CertRecord",
    "Issued",
    "KeyAndCert",
    "OfficeCA",
    "PkiError",
    "fingerprint",
    "fingerprint_text",
    "load_certificate",
    "new_private_key",
    "private_pem",
    "write_private",
    "write_public",
]

CA_KEY_FILE = "ca.key"
CA_CERT_FILE = "ca.pem"
CRL_FILE = "crl.pem"
REGISTER_FILE = "issued.json"
LOCK_FILE = "ca.lock"

CA_DAYS = 20 * 365
DEVICE_DAYS = 5 * 365 + 1  # about a device's service life; renewal is a re-enrolment
SERVER_DAYS = 5 * 365 + 1
# OpenSSL refuses *every* client once the CRL's nextUpdate has passed, so the list is valid for
# years and rewritten (with a fresh date) on every revocation and every broker configuration.
CRL_DAYS = 10 * 365
BACKDATE = timedelta(hours=1)

KINDS = ("device", "identity", "server")
REASONS = {
    "revoked": x509.ReasonFlags.unspecified,
    "superseded": x509.ReasonFlags.superseded,
    "key_compromise": x509.ReasonFlags.key_compromise,
    "retired": x509.ReasonFlags.cessation_of_operation,
}


class PkiError(OfficeError):
    """The CA directory, a key, a certificate or a request is unusable; the message says why."""


@dataclass(frozen=True)
class CertRecord:
    """One certificate the CA issued, as kept in ``issued.json``."""

    serial: int
    name: str  # subject CN: device id, identity name or server host
    role: str  # OU: dispenser, board, kiosk, staff, office, broker
    kind: str  # "device" (signed from the device's CSR), "identity" (key made here), "server"
    not_before_ms: int
    not_after_ms: int
    issued_ms: int
    revoked_ms: int | None = None
    reason: str | None = None

    @property
    def serial_hex(self) -> str:
        """The serial as upper-case hex, as ``openssl x509 -serial`` prints it."""
        return format(self.serial, "X")

    def valid_at(self, now_ms: int) -> bool:
        """Not revoked and within its validity period at ``now_ms``."""
        return self.revoked_ms is None and self.not_before_ms <= now_ms <= self.not_after_ms

    def to_json(self) -> dict[str, Any]:
        """The register's JSON form (serial as hex: JSON numbers lose precision beyond 2**53)."""
        return {
            "serial": self.serial_hex,
            "name": self.name,
            "role": self.role,
            "kind": self.kind,
            "not_before_ms": self.not_before_ms,
            "not_after_ms": self.not_after_ms,
            "issued_ms": self.issued_ms,
            "revoked_ms": self.revoked_ms,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> CertRecord:
        """Read one register entry; KeyError/ValueError/TypeError for a damaged one."""
        return cls(
            serial=int(doc["serial"], 16),
            name=str(doc["name"]),
            role=str(doc["role"]),
            kind=str(doc["kind"]),
            not_before_ms=int(doc["not_before_ms"]),
            not_after_ms=int(doc["not_after_ms"]),
            issued_ms=int(doc["issued_ms"]),
            revoked_ms=None if doc.get("revoked_ms") is None else int(doc["revoked_ms"]),
            reason=doc.get("reason"),
        )


@dataclass(frozen=True)
class Issued:
    """A certificate signed from a device's request (the key stays on the device)."""

    cert_pem: bytes
    record: CertRecord


@dataclass(frozen=True)
class KeyAndCert:
    """A private key and its certificate, both PEM, for identities made on the office machine."""

    key_pem: bytes
    cert_pem: bytes
    record: CertRecord


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def new_private_key() -> ec.EllipticCurvePrivateKey:
    """A fresh EC P-256 key."""
    return ec.generate_private_key(ec.SECP256R1())


def private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """PKCS#8 PEM without a passphrase: the file mode (0600) protects it, and a device must
    reconnect unattended after a power cut."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def fingerprint(cert: x509.Certificate) -> bytes:
    """SHA-256 over the certificate's DER: what an enrolment token pins."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()


def fingerprint_text(cert: x509.Certificate) -> str:
    """The fingerprint as ``openssl x509 -fingerprint -sha256`` prints it (AB:CD:...)."""
    return ":".join(f"{b:02X}" for b in fingerprint(cert))


def load_certificate(pem: bytes, what: str = "certificate") -> x509.Certificate:
    """Parse a PEM certificate; PkiError naming ``what`` if it is not one."""
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as err:
        raise PkiError(f"{what} is not a PEM certificate: {err}") from err


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Temp file created with ``mode`` (a key is never readable by others, not even briefly),
    fsync, rename over ``path``, fsync the directory."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        try:
            os.fchmod(fd, mode)  # O_CREAT's mode is filtered by the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise PkiError(f"cannot write {path}: {err.strerror or err}") from err


def write_private(path: Path, data: bytes) -> None:
    """Write a private key atomically with mode 0600."""
    _write_atomic(path, data, 0o600)


def write_public(path: Path, data: bytes) -> None:
    """Write a certificate or CRL atomically with mode 0644."""
    _write_atomic(path, data, 0o644)


def _name(common_name: str, role: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _check_public_key(key: Any, what: str) -> None:
    """Accept the key types Mosquitto and every device TLS stack handle well."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ("secp256r1", "secp384r1"):
            raise PkiError(f"{what} uses curve {key.curve.name}; use EC P-256 (secp256r1)")
        return
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise PkiError(f"{what} is RSA-{key.key_size}; use EC P-256 or RSA of at least 2048 bits")
        return
    raise PkiError(f"{what} has an unsupported key type ({type(key).__name__}); use EC P-256")


def _split_hosts(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if not host or any(c in host for c in " /:@"):
                raise PkiError(f"server host {host!r} is neither an IP address nor a host name") from None
            names.append(x509.DNSName(host))
    return names


# --------------------------------------------------------------------------------------------
# the CA
# --------------------------------------------------------------------------------------------


class OfficeCA:
    """The office CA in a directory: issue, revoke, and keep the CRL current.

    Create one with :meth:`create`, open an existing one with :meth:`load` (or
    :meth:`open_or_create`). Methods that change the register lock the directory, so several
    office processes may share it.
    """

    def __init__(self, directory: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
        """Use :meth:`create` or :meth:`load`."""
        self._dir = directory
        self._key = key
        self._cert = cert

    # -- opening --------------------------------------------------------------------------------

    @classmethod
    def create(cls, directory: Path, *, site: str, now_ms: int, valid_days: int = CA_DAYS) -> OfficeCA:
        """Make a new CA in ``directory`` (created 0700); refuses if one is already there."""
        if not valid_id(site):
            raise PkiError(f"site id {site!r} is invalid: use 1-63 letters, digits, '.', '_' or '-'")
        directory = Path(directory)
        if (directory / CA_KEY_FILE).exists():
            raise PkiError(
                f"{directory} already holds an office CA; load it instead, or choose another directory "
                "(a new CA means re-enrolling every device)"
            )
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(directory, 0o700)
        except OSError as err:
            raise PkiError(f"cannot create the CA directory {directory}: {err.strerror or err}") from err
        key = new_private_key()
        subject = _name(f"madoguchi office CA {site}", "ca", f"madoguchi {site}")
        now = _utc(now_ms)
        public = key.public_key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + timedelta(days=valid_days))
            # path_length 0: the CA signs end-entity certificates only, never another CA.
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, hashes.SHA256())
        )
        # The key first: a directory with a certificate but no key would look like a CA.
        write_private(directory / CA_KEY_FILE, private_pem(key))
        write_public(directory / CA_CERT_FILE, cert.public_bytes(serialization.Encoding.PEM))
        ca = cls(directory, key, cert)
        with ca._locked():
            ca._save_register([])
        ca.write_crl(now_ms)
        return ca

    @classmethod
    def load(cls, directory: Path) -> OfficeCA:
        """Open the CA in ``directory``; PkiError if it is missing, damaged or its key is exposed."""
        directory = Path(directory)
        key_path, cert_path = directory / CA_KEY_FILE, directory / CA_CERT_FILE
        if not key_path.exists():
            raise PkiError(f"{directory} holds no office CA ({CA_KEY_FILE} missing); create one first")
        mode = stat.S_IMODE(key_path.stat().st_mode)
        if mode & 0o077:
            raise PkiError(f"{key_path} is readable by others (mode {mode:04o}); run: chmod 600 {key_path}")
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            cert = load_certificate(cert_path.read_bytes(), str(cert_path))
        except (OSError, ValueError, TypeError) as err:
            raise PkiError(f"cannot read the office CA in {directory}: {err}") from err
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PkiError(f"{key_path} is not an EC private key")
        if cert.public_key() != key.public_key():
            raise PkiError(f"{cert_path} does not belong to {key_path}; restore both from the same backup")
        return cls(directory, key, cert)

    @classmethod
    def open_or_create(cls, directory: Path, *, site: str, now_ms: int) -> OfficeCA:
        """Load the CA in ``directory``, creating it the first time."""
        if (Path(directory) / CA_KEY_FILE).exists():
            return cls.load(directory)
        return cls.create(directory, site=site, now_ms=now_ms)

    # -- what it is -----------------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        """The CA directory."""
        return self._dir

    @property
    def certificate(self) -> x509.Certificate:
        """The CA certificate."""
        return self._cert

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate as PEM."""
        return self._cert.public_bytes(serialization.Encoding.PEM)

    @property
    def cert_path(self) -> Path:
        """``ca.pem``."""
        return self._dir / CA_CERT_FILE

    @property
    def crl_path(self) -> Path:
        """``crl.pem``."""
        return self._dir / CRL_FILE

    @property
    def fingerprint(self) -> bytes:
        """SHA-256 of the CA certificate (DER)."""
        return fingerprint(self._cert)

    @property
    def organisation(self) -> str:
        """The O of every certificate this CA issues (``madoguchi <site>``)."""
        values = self._cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        return str(values[0].value) if values else "madoguchi"

    def issued_by_me(self, cert: x509.Certificate) -> bool:
        """True when ``cert`` carries a valid signature of this CA."""
        try:
            cert.verify_directly_issued_by(self._cert)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True

    # -- issuing --------------------------------------------------------------------------------

    def sign_csr(self, csr_pem: bytes, *, name: str, role: str, now_ms: int, valid_days: int = DEVICE_DAYS) -> Issued:
        """Sign a device's certificate request: CN ``name``, OU ``role``, TLS client use only.

        The request's signature proves the device holds the private key; its subject is not
        trusted beyond checking that its CN (if any) is ``name``: the office sets the subject.
        Earlier certificates for ``name`` are revoked as superseded (a replaced device or SD
        card).
        """
        _check_name(name)
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError as err:
            raise PkiError(f"the certificate request is not a PEM CSR: {err}") from err
        if not csr.is_signature_valid:
            raise PkiError("the certificate request's signature does not match its key (damaged or forged)")
        _check_public_key(csr.public_key(), "the certificate request")
        cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if cns and cns[0].value != name:
            raise PkiError(f"the certificate request is for {cns[0].value!r} but the enrolment is for {name!r}")
        cert, record = self._issue(
            csr.public_key(), name=name, role=role, kind="device", now_ms=now_ms, valid_days=valid_days, hosts=None
        )
        return Issued(cert.public_bytes(serialization.Encoding.PEM), record)

    def issue_identity(self, *, name: str, role: str, now_ms: int, valid_days: int = DEVICE_DAYS) -> KeyAndCert:
        """A client key and certificate made here, for the office's own MQTT connection and for
        staff tools on the office machine (devices make their own keys: see enrolment)."""
        _check_name(name)
        key = new_private_key()
        cert, record = self._issue(
            key.public_key(), name=name, role=role, kind="identity", now_ms=now_ms, valid_days=valid_days, hosts=None
        )
        return KeyAndCert(private_pem(key), cert.public_bytes(serialization.Encoding.PEM), record)

    def issue_server(self, hosts: Sequence[str], *, now_ms: int, valid_days: int = SERVER_DAYS) -> KeyAndCert:
        """The broker's (and the enrolment endpoint's) key and certificate.

        ``hosts`` are the names and addresses devices use to reach the office; 127.0.0.1 and
        localhost are always added, so the office itself connects over loopback with the
        hostname check on.
        """
        all_hosts = list(dict.fromkeys([*hosts, "127.0.0.1", "localhost"]))
        sans = _split_hosts(all_hosts)
        key = new_private_key()
        cert, record = self._issue(
            key.public_key(),
            name=all_hosts[0],
            role="broker",
            kind="server",
            now_ms=now_ms,
            valid_days=valid_days,
            hosts=sans,
        )
        return KeyAndCert(private_pem(key), cert.public_bytes(serialization.Encoding.PEM), record)

    def _issue(
        self,
        public: Any,
        *,
        name: str,
        role: str,
        kind: str,
        now_ms: int,
        valid_days: int,
        hosts: list[x509.GeneralName] | None,
    ) -> tuple[x509.Certificate, CertRecord]:
        if not valid_id(role):
            raise PkiError(f"role {role!r} is invalid: use letters, digits, '.', '_' or '-'")
        if valid_days < 1:
            raise PkiError(f"validity of {valid_days} days is too short: use at least 1")
        now = _utc(now_ms)
        not_after = min(now + timedelta(days=valid_days), self._cert.not_valid_after_utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name, role, self.organisation))
            .issuer_name(self._cert.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    # RSA key exchange (TLS 1.2 without ECDHE) needs key encipherment.
                    key_encipherment=isinstance(public, rsa.RSAPublicKey),
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if hosts is not None else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
        )
        if hosts is not None:
            builder = builder.add_extension(x509.SubjectAlternativeName(hosts), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        record = CertRecord(
            serial=cert.serial_number,
            name=name,
            role=role,
            kind=kind,
            not_before_ms=_ms(cert.not_valid_before_utc),
            not_after_ms=_ms(cert.not_valid_after_utc),
            issued_ms=now_ms,
        )
        with self._locked():
            records = self._load_register()
            superseded = False
            updated = []
            for old in records:
                if old.name == name and _same_use(old.kind, kind) and old.revoked_ms is None:
                    old = replace(old, revoked_ms=now_ms, reason="superseded")
                    superseded = True
                updated.append(old)
            self._save_register([*updated, record])
            if superseded:
                self._write_crl_locked(updated, now_ms)
        return cert, record

    # -- revocation -----------------------------------------------------------------------------

    def records(self) -> list[CertRecord]:
        """Every certificate issued, oldest first."""
        with self._locked():
            return self._load_register()

    def revoke_name(self, name: str, *, now_ms: int, reason: str = "revoked") -> list[CertRecord]:
        """Revoke every unrevoked certificate issued to ``name`` and rewrite the CRL.

        Returns the records revoked now (empty if there were none, which is not an error: a
        second revocation changes nothing).
        """
        return self._revoke(lambda r: r.name == name, now_ms, reason)

    def revoke_serial(self, serial: int, *, now_ms: int, reason: str = "revoked") -> list[CertRecord]:
        """Revoke one certificate by serial and rewrite the CRL; PkiError if it is unknown."""
        if not any(r.serial == serial for r in self.records()):
            raise PkiError(f"no certificate with serial {serial:X} was issued by this CA")
        return self._revoke(lambda r: r.serial == serial, now_ms, reason)

    def _revoke(self, match: Any, now_ms: int, reason: str) -> list[CertRecord]:
        if reason not in REASONS:
            raise PkiError(f"revocation reason {reason!r} is unknown: use one of {', '.join(REASONS)}")
        with self._locked():
            records = self._load_register()
            revoked: list[CertRecord] = []
            updated: list[CertRecord] = []
            for record in records:
                if match(record) and record.revoked_ms is None:
                    record = replace(record, revoked_ms=now_ms, reason=reason)
                    revoked.append(record)
                updated.append(record)
            self._save_register(updated)
            # Rewritten even when nothing changed: a fresh lastUpdate costs nothing.
            self._write_crl_locked(updated, now_ms)
        return revoked

    def write_crl(self, now_ms: int) -> Path:
        """Rewrite ``crl.pem`` from the register (fresh dates); returns its path."""
        with self._locked():
            self._write_crl_locked(self._load_register(), now_ms)
        return self.crl_path

    def _write_crl_locked(self, records: list[CertRecord], now_ms: int) -> None:
        now = _utc(now_ms)
        crl_number = now_ms  # increases with every rewrite, as RFC 5280 asks
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self._cert.subject)
            .last_update(now - BACKDATE)
            .next_update(now + timedelta(days=CRL_DAYS))
            .add_extension(x509.CRLNumber(crl_number), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
        )
        for record in records:
            if record.revoked_ms is None:
                continue
            entry = (
                x509.RevokedCertificateBuilder()
                .serial_number(record.serial)
                .revocation_date(_utc(record.revoked_ms))
                .add_extension(
                    x509.CRLReason(REASONS.get(record.reason or "revoked", x509.ReasonFlags.unspecified)),
                    critical=False,
                )
                .build()
            )
            builder = builder.add_revoked_certificate(entry)
        crl = builder.sign(self._key, hashes.SHA256())
        write_public(self.crl_path, crl.public_bytes(serialization.Encoding.PEM))

    # -- register -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            fd = os.open(self._dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as err:
            raise PkiError(f"cannot lock the CA directory {self._dir}: {err.strerror or err}") from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _load_register(self) -> list[CertRecord]:
        path = self._dir / REGISTER_FILE
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            return [CertRecord.from_json(entry) for entry in doc["certificates"]]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise PkiError(f"{path} is damaged ({err}); restore it from the office backup") from err

    def _save_register(self, records: list[CertRecord]) -> None:
        doc = {"version": 1, "certificates": [r.to_json() for r in records]}
        write_public(self._dir / REGISTER_FILE, (json.dumps(doc, indent=1) + "\n").encode())


def _check_name(name: str) -> None:
    """Certificate names become MQTT usernames and appear in ACL lines and topics."""
    if not valid_id(name):
        raise PkiError(
            f"name {name!r} is invalid: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )


def _same_use(a: str, b: str) -> bool:
    """Client certificates (device or identity) share the MQTT username space; servers do not."""
    return (a == "server") == (b == "server")
