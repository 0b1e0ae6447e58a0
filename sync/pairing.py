"""The pairing code: what a technician types on a new device to make it one of the office's.

The staff console makes one with a click under "add a device"; the device's setup screen (or
``madoguchi-provision pair CODE``) takes it. It says everything the device needs to find the
office and to trust it, in 24 characters a person can copy from one screen to another::

    7K3M-Q2XP-9DTA-4FRE-0B5N-H8WC

Layout (15 bytes, 120 bits, Crockford base32):

==========  ======  ==================================================================
bytes       bits    what
==========  ======  ==================================================================
0           4 + 4   format version (1) and the role (0 dispenser, 1 board, 2 kiosk)
1-4         32      the office's IPv4 address (its enrolment endpoint)
5-6         16      the enrolment endpoint's TCP port
7-10        32      the secret: the office stores its SHA-256, the device sends it once
11-13       24      the CA check: HMAC-SHA256(secret, bytes 0-6 + the CA fingerprint)
14          8       CRC-8 of bytes 0-13: a mistyped code is caught on the device itself
==========  ======  ==================================================================

Why a keyed check instead of the CA fingerprint (52 characters in the long enrolment token):
the device fetches the office's CA certificate over a connection it cannot verify yet and
accepts it only if the check matches. Someone in the middle does not know the secret (it is
on the console's screen, and the device sends it only over TLS pinned to the checked CA), so a
CA of theirs passes with a chance of 1 in 16.7 million per attempt, and each attempt needs a
technician typing a code. The 32-bit secret is enough because guessing is online only: a code
works once, for an hour, for one role, and the office stops taking codes for a while after a
run of wrong ones (office/enrol_http.py).

IPv4 only: a town hall's LAN; the office's certificate must name the address
(``madoguchi-office security init --host``). Crockford's alphabet has no I, L, O or U; when
reading a code, I and L count as 1, O as 0, case, spaces and dashes do not matter.

Pure: no I/O; randomness is an argument.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "CODE_CHARS",
    "PAIRING_ROLES",
    "PairingCode",
    "PairingCodeError",
    "decode",
    "encode",
    "new_code",
    "secret_hash",
]

VERSION = 1
PAIRING_ROLES = ("dispenser", "board", "kiosk")
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_BYTES = 15
CODE_CHARS = CODE_BYTES * 8 // 5  # 24
SECRET_BYTES = 4
CHECK_BYTES = 3
GROUP = 4
_READ = {c: i for i, c in enumerate(ALPHABET)} | {"I": 1, "L": 1, "O": 0}
_CHECK_LABEL = b"madoguchi pairing v1"


class PairingCodeError(ValueError):
    """The text is not a pairing code; the message is one sentence for the technician."""


@dataclass(frozen=True)
class PairingCode:
    """A decoded pairing code."""

    role: str
    host: str
    port: int
    secret: bytes
    check: bytes

    @property
    def text(self) -> str:
        """The code as the console shows it (groups of four)."""
        return _group(_b32(self._bytes()))

    @property
    def office_url(self) -> str:
        """Where the device enrols: ``https://host:port``."""
        return f"https://{self.host}:{self.port}"

    def matches_ca(self, ca_fingerprint: bytes) -> bool:
        """True if the CA certificate with this SHA-256 is the one the code was made for."""
        return hmac.compare_digest(self.check, _check(self.secret, self._head(), ca_fingerprint))

    def _head(self) -> bytes:
        return (
            bytes([(VERSION << 4) | PAIRING_ROLES.index(self.role)])
            + ipaddress.IPv4Address(self.host).packed
            + self.port.to_bytes(2, "big")
        )

    def _bytes(self) -> bytes:
        body = self._head() + self.secret + self.check
        return body + bytes([_crc8(body)])


def _check(secret: bytes, head: bytes, ca_fingerprint: bytes) -> bytes:
    return hmac.new(secret, _CHECK_LABEL + head + ca_fingerprint, hashlib.sha256).digest()[:CHECK_BYTES]


def _crc8(data: bytes) -> int:
    """CRC-8/SMBUS (polynomial 0x07): every single-character slip and most others change it."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _b32(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    chars = len(data) * 8 // 5
    return "".join(ALPHABET[(number >> (5 * (chars - 1 - i))) & 31] for i in range(chars))


def _group(text: str) -> str:
    return "-".join(text[i : i + GROUP] for i in range(0, len(text), GROUP))


def encode(role: str, host: str, port: int, secret: bytes, ca_fingerprint: bytes) -> PairingCode:
    """The code for ``role`` at ``host:port`` (an IPv4 address) under the CA with ``ca_fingerprint``.

    ValueError naming the problem for a role, address, port or secret that cannot go in a code.
    """
    if role not in PAIRING_ROLES:
        raise ValueError(f"role {role!r} cannot pair: use one of {', '.join(PAIRING_ROLES)}")
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        raise ValueError(
            f"{host!r} is not an IPv4 address: a pairing code carries the office's IPv4 address "
            "(add it with madoguchi-office security init --host)"
        ) from None
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is invalid: use 1-65535")
    if len(secret) != SECRET_BYTES:
        raise ValueError(f"the secret must be {SECRET_BYTES} bytes, not {len(secret)}")
    head = PairingCode(role, str(address), port, secret, b"")._head()
    return PairingCode(role, str(address), port, secret, _check(secret, head, ca_fingerprint))


def new_code(
    role: str, host: str, port: int, ca_fingerprint: bytes, random_bytes: Callable[[int], bytes]
) -> PairingCode:
    """A fresh code with a secret from ``random_bytes`` (``secrets.token_bytes`` at the office)."""
    return encode(role, host, port, random_bytes(SECRET_BYTES), ca_fingerprint)


def decode(text: str) -> PairingCode:
    """The code in ``text`` as a person typed it; PairingCodeError saying what is wrong."""
    cleaned = "".join(c for c in text.upper() if not c.isspace() and c != "-")
    if not cleaned:
        raise PairingCodeError("enter the pairing code the staff console shows under “add a device”")
    wrong = sorted({c for c in cleaned if c not in _READ})
    if wrong:
        raise PairingCodeError(
            f"a pairing code has only letters and digits; {' '.join(wrong)} is not one of them: check the code"
        )
    if len(cleaned) != CODE_CHARS:
        raise PairingCodeError(
            f"a pairing code has {CODE_CHARS} characters, this one has {len(cleaned)}: check the code"
        )
    number = 0
    for c in cleaned:
        number = (number << 5) | _READ[c]
    data = number.to_bytes(CODE_BYTES, "big")
    if _crc8(data[:-1]) != data[-1]:
        raise PairingCodeError("this pairing code has a typing mistake: check it character by character")
    version, role_index = data[0] >> 4, data[0] & 0x0F
    if version != VERSION or role_index >= len(PAIRING_ROLES):
        raise PairingCodeError("this pairing code is from another version of madoguchi: make a new one at the console")
    port = int.from_bytes(data[5:7], "big")
    if port == 0:
        raise PairingCodeError("this pairing code names no port: make a new one at the console")
    return PairingCode(
        role=PAIRING_ROLES[role_index],
        host=str(ipaddress.IPv4Address(data[1:5])),
        port=port,
        secret=data[7 : 7 + SECRET_BYTES],
        check=data[7 + SECRET_BYTES : 7 + SECRET_BYTES + CHECK_BYTES],
    )


def secret_hash(secret: bytes) -> str:
    """What the office stores of a code: the SHA-256 of its secret, in hex."""
    return hashlib.sha256(secret).hexdigest()
