"""The device side of enrolment: get this device's MQTT identity from the office with a token.

:func:`enroll` does, in order:

1. reads the office CA fingerprint from the token (format in office/enrolment.py and
   docs/security.md) and fetches ``/ca.pem`` from the office over a connection it cannot
   verify yet; a certificate whose SHA-256 differs from the token's is refused, so the token is
   never sent to anybody but the office that issued it;
2. generates an EC P-256 key on the device (it never leaves the device) and a certificate
   request with the device id as CN;
3. posts token, device id, request and the applied profile hash over TLS verified against that
   CA, the host name checked;
4. checks the answer (the certificate is for our key and our id, signed by that CA) and writes
   key (0600), certificate and CA certificate into a new directory, then switches the
   ``current`` link to it in one rename: a power cut leaves either the old identity or the new
   one, never a key that does not match its certificate.

Layout of the identity directory::

    <dir>/current -> gen-<serial>/    device.key (0600), device.pem, ca.pem, identity.json

The broker URL :meth:`DeviceIdentity.broker_url` gives points at ``current/``, so it stays the
same across re-enrolments. Certificate dates of the office are not checked by the device (it
has no battery-backed clock; see sync/link.py): the CA is pinned by its fingerprint instead.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import shutil
import ssl
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from urllib.parse import quote, urlsplit

import msgspec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from common.validation import Invalid, decode_json
from firmware_profiles.errors import ProfileError
from sync import messages, pairing, signing
from sync.protocol import valid_id

__all__ = ["DeviceIdentity", "EnrolError", "enroll", "load_identity", "pair", "parse_token"]

TOKEN_VERSION = "mdg1"
SECRET_BYTES = 20
FINGERPRINT_BYTES = 32
CURRENT = "current"
# OpenSSL's X509_V_FLAG_NO_CHECK_TIME: the device's clock may be years off before it has
# talked to the office (DESIGN.md, decision 6); the CA is pinned by fingerprint instead.
_NO_CHECK_TIME = 0x200000
_MAX_ANSWER_BYTES = 64 * 1024


class EnrolError(ProfileError):
    """Enrolment failed; the message says what to check (address, token, device id)."""


@dataclass(frozen=True)
class DeviceIdentity:
    """The device's MQTT identity as enrolment left it on disk."""

    device_id: str
    role: str
    site: str
    mqtt_username: str
    serial: str
    not_after_ms: int
    profile_hash: str
    broker: str | None  # mqtts://host:port as the office told it, or None
    directory: Path  # <identity dir>/current
    office_key: str | None = None  # ed25519:… - what the office signs with; the device pins it
    # The office's apt repository as its answer named it (URL, components, key); not stored
    # with the identity: pairing writes it into the device's apt sources.
    apt: tuple[str, tuple[str, ...], str] | None = None

    @property
    def key(self) -> Path:
        """The device's private key (0600)."""
        return self.directory / "device.key"

    @property
    def cert(self) -> Path:
        """The device's certificate."""
        return self.directory / "device.pem"

    @property
    def ca(self) -> Path:
        """The office CA certificate."""
        return self.directory / "ca.pem"

    def broker_url(self, broker: str | None = None) -> str:
        """``mqtts://host:port/?ca=…&cert=…&key=…&server_time=ignore`` for sync/link.py.

        ``broker`` (``mqtts://host:port``) overrides the address the office gave at enrolment.
        """
        base = broker or self.broker
        if not base:
            raise EnrolError("the office gave no broker address at enrolment: pass one, e.g. mqtts://office.local:8883")
        parts = urlsplit(base)
        if parts.scheme != "mqtts" or not parts.hostname:
            raise EnrolError(f"broker address {base!r} is invalid: use mqtts://host:port")
        query = "&".join(f"{k}={quote(str(v))}" for k, v in (("ca", self.ca), ("cert", self.cert), ("key", self.key)))
        return f"mqtts://{parts.netloc}/?{query}&server_time=ignore"


def _unb32(text: str) -> bytes:
    return base64.b32decode(text.upper() + "=" * (-len(text) % 8))


def parse_token(text: str) -> tuple[bytes, bytes]:
    """(secret, CA fingerprint) from an enrolment token; EnrolError saying what is wrong."""
    cleaned = "".join(text.split()).lower()
    parts = cleaned.split("-")
    if len(parts) < 2 or parts[0] != TOKEN_VERSION:
        raise EnrolError(f"this is not an enrolment token: it should start with {TOKEN_VERSION}- (copy it whole)")
    body = "".join(parts[1:])
    secret_len = len(base64.b32encode(bytes(SECRET_BYTES)).rstrip(b"="))
    fp_len = len(base64.b32encode(bytes(FINGERPRINT_BYTES)).rstrip(b"="))
    if len(body) != secret_len + fp_len:
        raise EnrolError(
            f"the enrolment token has {len(body)} characters after {TOKEN_VERSION}-, not {secret_len + fp_len}: "
            "it was cut or mistyped"
        )
    try:
        return _unb32(body[:secret_len]), _unb32(body[secret_len:])
    except (binascii.Error, ValueError) as err:
        raise EnrolError("the enrolment token contains characters that are not base32 (a-z, 2-7): mistyped") from err


def _office_address(office_url: str) -> tuple[str, int]:
    parts = urlsplit(office_url)
    if parts.scheme != "https" or not parts.hostname:
        raise EnrolError(
            f"office address {office_url!r} is invalid: use https://host:port (e.g. https://office.local:8443)"
        )
    try:
        return parts.hostname, parts.port or 443
    except ValueError as err:
        raise EnrolError(f"office address {office_url!r} has an invalid port") from err


def _request(
    host: str, port: int, context: ssl.SSLContext, method: str, path: str, body: bytes | None, timeout: float
) -> tuple[int, bytes]:
    connection = http.client.HTTPSConnection(host, port, context=context, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(_MAX_ANSWER_BYTES)
    except ssl.SSLCertVerificationError as err:
        raise EnrolError(
            f"the office at {host}:{port} did not prove it holds a certificate of the pinned CA for the name "
            f"{host!r} ({err.verify_message}); use the address the office certificate names"
        ) from err
    except (OSError, http.client.HTTPException) as err:
        raise EnrolError(f"cannot reach the office at {host}:{port}: {err}; check the address and the network") from err
    finally:
        connection.close()


def _fetch_pinned_ca(host: str, port: int, fingerprint: bytes, timeout: float) -> bytes:
    return _fetch_ca(
        host,
        port,
        lambda got: hmac.compare_digest(got, fingerprint),
        f"the CA certificate at {host}:{port} is not the one the token names: wrong address, "
        "a token from another office, or someone in between; nothing was sent",
        timeout,
    )


def _fetch_ca(host: str, port: int, accept: Callable[[bytes], bool], refusal: str, timeout: float) -> bytes:
    """The office's CA certificate (PEM), fetched blind and kept only if ``accept`` takes its SHA-256."""
    blind = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    blind.check_hostname = False
    blind.verify_mode = ssl.CERT_NONE  # nothing secret is sent on this connection
    status, body = _request(host, port, blind, "GET", "/ca.pem", None, timeout)
    if status != 200:
        raise EnrolError(f"{host}:{port} answered {status} for /ca.pem: is this the office's enrolment address?")
    try:
        ca = x509.load_pem_x509_certificate(body)
    except ValueError as err:
        raise EnrolError(f"{host}:{port} sent no CA certificate: is this the office's enrolment address?") from err
    got = hashlib.sha256(ca.public_bytes(serialization.Encoding.DER)).digest()
    if not accept(got):
        raise EnrolError(refusal)
    return ca.public_bytes(serialization.Encoding.PEM)


def _csr(key: ec.EllipticCurvePrivateKey, device_id: str | None) -> bytes:
    # A pairing device does not know its id yet: its request names nobody, the office sets the name.
    names = [x509.NameAttribute(NameOID.COMMON_NAME, device_id)] if device_id else []
    request = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names)).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM)


_ANSWER = msgspec.json.Decoder(messages.EnrolAnswer)


def _check_answer(
    answer: messages.EnrolAnswer, key: ec.EllipticCurvePrivateKey, device_id: str, ca_pem: bytes
) -> x509.Certificate:
    try:
        cert = x509.load_pem_x509_certificate(answer.certificate.encode("ascii"))
        ca = x509.load_pem_x509_certificate(ca_pem)
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature, UnicodeEncodeError) as err:
        raise EnrolError(f"the certificate from the office is not signed by the pinned CA: {err}") from err
    if cert.public_key() != key.public_key():
        raise EnrolError("the certificate from the office is not for this device's key; enrol again with a new token")
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names or names[0].value != device_id:
        raise EnrolError(f"the certificate from the office is not for device {device_id!r}")
    if answer.ca is not None and answer.ca.encode("ascii").strip() != ca_pem.strip():
        raise EnrolError("the office answered with a different CA certificate than the pinned one")
    return cert


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # the umask must not widen or narrow it
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _install(identity_dir: Path, serial: str, files: dict[str, tuple[bytes, int]]) -> Path:
    """Write ``files`` into ``gen-<serial>/`` and point ``current`` at it atomically."""
    identity_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    generation = identity_dir / f"gen-{serial}"
    staging = identity_dir / f".gen-{serial}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    for name, (data, mode) in files.items():
        _write_new(staging / name, data, mode)
    _fsync_dir(staging)
    shutil.rmtree(generation, ignore_errors=True)
    os.rename(staging, generation)
    link_tmp = identity_dir / f".{CURRENT}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        link_tmp.unlink()
    os.symlink(generation.name, link_tmp)
    os.replace(link_tmp, identity_dir / CURRENT)
    _fsync_dir(identity_dir)
    for old in identity_dir.glob("gen-*"):
        if old.name != generation.name:
            shutil.rmtree(old, ignore_errors=True)
    return identity_dir / CURRENT


def enroll(
    office_url: str,
    token: str,
    device_id: str,
    profile_hash: str,
    identity_dir: Path,
    *,
    timeout: float = 15.0,
) -> DeviceIdentity:
    """Enrol this device at ``office_url`` (``https://host:port``) and store its identity.

    Returns the identity; its :meth:`DeviceIdentity.broker_url` is what the device agent
    connects with. EnrolError (one line, saying what to check) on every failure; nothing on disk
    changes then.
    """
    if not valid_id(device_id):
        raise EnrolError(f"device id {device_id!r} is invalid: use 1-63 letters, digits, '.', '_' or '-'")
    _secret, fingerprint = parse_token(token)
    host, port = _office_address(office_url)
    ca_pem = _fetch_pinned_ca(host, port, fingerprint, timeout)
    key = ec.generate_private_key(ec.SECP256R1())
    body = msgspec.json.encode(
        messages.EnrolRequest(
            token=token, device_id=device_id, csr=_csr(key, device_id).decode("ascii"), profile_hash=profile_hash
        )
    )
    return _post_and_install(host, port, ca_pem, "/enrol", body, key, device_id, profile_hash, identity_dir, timeout)


def pair(
    code_text: str,
    role: str,
    profile_hash: str,
    identity_dir: Path,
    *,
    office: tuple[str, int] | None = None,
    timeout: float = 15.0,
) -> DeviceIdentity:
    """Pair this device with a code from the staff console (sync/pairing.py) and store its identity.

    The code names the office's address (``office`` overrides it), the role and a keyed check of
    the office's CA: the CA certificate fetched from that address is accepted only if the check
    matches, and only then is the code sent, over TLS pinned to that CA. The office gives the
    device id. EnrolError (one sentence for the setup screen) on every failure; nothing on disk
    changes then.
    """
    try:
        code = pairing.decode(code_text)
    except pairing.PairingCodeError as err:
        raise EnrolError(str(err)) from err
    if code.role != role:
        raise EnrolError(
            f"this pairing code is for a {code.role}, not a {role}: choose {code.role}, or make a code for a {role}"
        )
    host, port = office or (code.host, code.port)
    ca_pem = _fetch_ca(
        host,
        port,
        code.matches_ca,
        f"the office at {host}:{port} is not the one this code was made by: check the code; nothing was sent",
        timeout,
    )
    key = ec.generate_private_key(ec.SECP256R1())
    body = msgspec.json.encode(
        messages.PairRequest(code=code.text, role=role, csr=_csr(key, None).decode("ascii"), profile_hash=profile_hash)
    )
    return _post_and_install(host, port, ca_pem, "/pair", body, key, None, profile_hash, identity_dir, timeout)


def _post_and_install(
    host: str,
    port: int,
    ca_pem: bytes,
    path: str,
    body: bytes,
    key: ec.EllipticCurvePrivateKey,
    device_id: str | None,
    profile_hash: str,
    identity_dir: Path,
    timeout: float,
) -> DeviceIdentity:
    pinned = ssl.create_default_context(cadata=ca_pem.decode("ascii"))
    pinned.verify_flags |= _NO_CHECK_TIME
    status, raw = _request(host, port, pinned, "POST", path, body, timeout)
    if status != 200:
        try:
            reason = msgspec.json.decode(raw, type=messages.EnrolRefusal).error
        except (msgspec.DecodeError, msgspec.ValidationError):
            reason = f"HTTP {status}"
        raise EnrolError(f"the office refused {'the pairing' if path == '/pair' else 'the enrolment'}: {reason}")
    try:
        answer = decode_json(raw, _ANSWER)
    except Invalid as err:
        raise EnrolError(f"the office's answer cannot be used ({err}); is the office up to date?") from err
    except msgspec.DecodeError as err:
        raise EnrolError(f"the office answered {status} with something that is not JSON") from err
    if device_id is None:
        device_id = answer.device_id  # pairing: the office names the device (checked in the certificate)
    cert = _check_answer(answer, key, device_id, ca_pem)
    if answer.office_key is not None:
        try:
            signing.parse_public_key(answer.office_key)
        except signing.OfficeKeyError as err:
            raise EnrolError(f"the office's signing key cannot be used ({err}); is the office up to date?") from err
    serial = format(cert.serial_number, "X")
    identity = DeviceIdentity(
        device_id=device_id,
        role=answer.role,
        site=answer.site,
        mqtt_username=answer.mqtt_username or device_id,
        serial=serial,
        not_after_ms=int(cert.not_valid_after_utc.timestamp() * 1000),
        profile_hash=profile_hash,
        broker=answer.broker,
        directory=identity_dir / CURRENT,
        office_key=answer.office_key,
    )
    meta = {
        k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(identity).items() if k not in ("directory", "apt")
    }
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    if answer.apt_url and answer.apt_components and answer.apt_key:
        identity = replace(identity, apt=(answer.apt_url, answer.apt_components, answer.apt_key))
    try:
        _install(
            Path(identity_dir),
            serial,
            {
                "device.key": (key_pem, 0o600),
                "device.pem": (cert.public_bytes(serialization.Encoding.PEM), 0o644),
                "ca.pem": (ca_pem, 0o644),
                "identity.json": ((json.dumps(meta, indent=1) + "\n").encode("utf-8"), 0o644),
            },
        )
    except OSError as err:
        raise EnrolError(
            f"enrolled, but cannot write the identity into {identity_dir}: {err.strerror or err}; "
            "fix the directory and enrol again with a new token"
        ) from err
    return identity


def load_identity(identity_dir: Path) -> DeviceIdentity:
    """The identity :func:`enroll` stored in ``identity_dir``; EnrolError if there is none."""
    current = Path(identity_dir) / CURRENT
    try:
        meta = json.loads((current / "identity.json").read_text(encoding="utf-8"))
        return DeviceIdentity(**meta, directory=current)
    except FileNotFoundError as err:
        raise EnrolError(f"{identity_dir} holds no enrolled identity: enrol this device first") from err
    except (OSError, ValueError, TypeError) as err:
        raise EnrolError(f"{current / 'identity.json'} is damaged ({err}): enrol this device again") from err
