"""The office's signature on what devices act on (DESIGN.md decisions 3 and 15; docs/security.md).

A broker ACL says which *connection* may publish on a topic; it cannot say that an ack, a lease
or a configuration really came from the office, and it is only as good as the broker it runs on
(a misconfigured or bridged broker lets anybody write the office's topics). So the office signs
every document it publishes to devices with an Ed25519 key, and a device that has pinned the
office's public key (at enrolment; the demo pins it at first start) acts on nothing else.

Wire form: the office's JSON object with one more member at its very end::

    {"v":1,"acked":41,"sent_ms":...,"sig":"<86 characters of URL-safe base64>"}

The signature covers the object as it was *without* that member, byte for byte (no
canonical-JSON rules to get wrong), prefixed by what it is addressed to: the topic's name, the
site and the device (or staff terminal). An ack signed for one device therefore cannot be
replayed to another, nor a lease of one site in another, and because the address is the
*logical* one - not the MQTT topic string - the signature survives a Mosquitto bridge that
remaps topic prefixes. Readers that do not check signatures (staff tools, older devices) see one
unknown member and ignore it.

Ed25519 (through ``cryptography``, already the office CA's library): 64-byte signatures, keys of
32 bytes that fit in a config line, about 50 us to sign on the office and well under a
millisecond to verify on a Raspberry Pi, and no parameters to choose wrongly.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sync.errors import ProtocolError, SyncError

__all__ = [
    "KEY_PREFIX",
    "SIGNED_TOPICS",
    "OfficeKeyError",
    "OfficeSigner",
    "OfficeVerifier",
    "SignatureError",
    "load_or_create_key",
    "parse_public_key",
    "public_key_text",
]

KEY_PREFIX = "ed25519:"
# Everything the office publishes for devices and staff terminals: one rule, no list of
# exceptions to keep in step with the protocol.
SIGNED_TOPICS = frozenset(
    {
        "office_status",
        "office_config",
        "queue_snapshot",
        "board_snapshot",
        "ack",
        "lease",
        "voids",
        "kiosk_reply",
        "staff_reply",
        "ward_cases",
        "ward_reply",
    }
)
_DOMAIN = b"madoguchi-office-sig-v1\x00"
_SIG_B64_LEN = 86  # 64 bytes, URL-safe base64 without padding
_OPEN = b',"sig":"'
_CLOSE = b'"}'
_SUFFIX_LEN = len(_OPEN) + _SIG_B64_LEN + len(_CLOSE)


class SignatureError(ProtocolError):
    """A document without the office's valid signature: logged and counted, never acted on."""


class OfficeKeyError(SyncError):
    """An office key that cannot be read; the message says which and what to do."""


def _address(name: str, site: str, device: str | None) -> bytes:
    return _DOMAIN + f"{name}\x00{site}\x00{device or ''}\x00".encode("ascii")


def public_key_text(key: Ed25519PublicKey) -> str:
    """``ed25519:<base64>``: how the key travels in enrolment answers and device configs."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KEY_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def parse_public_key(text: str) -> Ed25519PublicKey:
    """The office's public key from its text form; OfficeKeyError says what a right one looks like."""
    value = text.strip()
    if not value.startswith(KEY_PREFIX):
        raise OfficeKeyError(f"office key {value[:20]!r}… is not an office key: it starts with {KEY_PREFIX!r}")
    body = value[len(KEY_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as err:
        raise OfficeKeyError("office key is not valid base64 after 'ed25519:'; copy it again") from err
    if len(raw) != 32:
        raise OfficeKeyError(f"office key holds {len(raw)} bytes, not 32: copy it again (ed25519:…, 43 characters)")
    return Ed25519PublicKey.from_public_bytes(raw)


class OfficeSigner:
    """The office's half: seals each payload it publishes."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key = key.public_key()
        self.public_text = public_key_text(self.public_key)

    def seal(self, name: str, site: str, device: str | None, body: bytes) -> bytes:
        """``body`` (a JSON object as protocol.encode wrote it) with its signature appended."""
        if not body.endswith(b"}") or len(body) < 3:
            raise ProtocolError(f"{name}: only a JSON object with members can be signed")
        sig = self._key.sign(_address(name, site, device) + body)
        return body[:-1] + _OPEN + base64.urlsafe_b64encode(sig).rstrip(b"=") + _CLOSE


class OfficeVerifier:
    """A device's half: the pinned public key, and the check before anything is acted on."""

    def __init__(self, key: Ed25519PublicKey) -> None:
        self._key = key
        self.public_text = public_key_text(key)

    @classmethod
    def from_text(cls, text: str) -> OfficeVerifier:
        """From ``ed25519:<base64>``; OfficeKeyError if it is not one."""
        return cls(parse_public_key(text))

    def check(self, name: str, site: str, device: str | None, raw: bytes) -> bytes:
        """``raw`` if the office signed it for this address; SignatureError otherwise.

        The returned bytes still carry the ``sig`` member, which the payload models ignore.
        """
        if len(raw) <= _SUFFIX_LEN or raw[-_SUFFIX_LEN:][: len(_OPEN)] != _OPEN or not raw.endswith(_CLOSE):
            raise SignatureError(f"{name} carries no office signature")
        encoded = raw[-_SIG_B64_LEN - len(_CLOSE) : -len(_CLOSE)]
        try:
            sig = base64.urlsafe_b64decode(encoded + b"==")
        except (binascii.Error, ValueError) as err:
            raise SignatureError(f"{name} carries a malformed signature") from err
        body = raw[:-_SUFFIX_LEN] + b"}"
        try:
            self._key.verify(sig, _address(name, site, device) + body)
        except InvalidSignature as err:
            raise SignatureError(
                f"{name} is not signed by the pinned office key (forged, altered or misaddressed)"
            ) from err
        return raw


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The office's signing key at ``path`` (PEM, 0600), created on first use.

    Created with O_EXCL and fsynced before it is used, so two office processes starting at once
    (the server and the enrolment endpoint) end up with one key, and a power cut never leaves a
    half-written one that would make every pinned device refuse the office.
    """
    try:
        return _load(path)
    except FileNotFoundError:
        pass
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process got there first: theirs wins
    except FileExistsError:
        pass
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return _load(path)


def _load(path: Path) -> Ed25519PrivateKey:
    data = path.read_bytes()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as err:
        raise OfficeKeyError(
            f"{path} is not the office's signing key ({err}); restore it from the backup - a new key "
            "means enrolling every device again"
        ) from err
    if not isinstance(key, Ed25519PrivateKey):
        raise OfficeKeyError(f"{path} holds a {type(key).__name__}, not the office's Ed25519 signing key")
    return key
