"""A simulated My Number card (JPKI user-authentication AP), its reader, and its CA.

The kiosk's card code is written against ``drivers.card_reader``; this module is the backend
for tests and the demo, a full behavioural model rather than canned answers:

* :class:`SimulatedJpkiCard` answers the APDUs of ``drivers.jpki`` from its own state: the
  PIN's retry counter survives power cycles and blocks after 3 wrong PINs in a row; the
  selected AP/EF and the verified PIN do not (a power-down ends them); it signs only after a
  successful VERIFY in the same power session; commands in the wrong order get the status
  words a card gives (``6A 82`` file not found, ``69 86`` no current file, ``69 82`` PIN not
  verified). It holds an RSA-2048 key and an X.509 certificate whose subject serialNumber is
  the card's serial (the identity the office maps to a resident).
* :class:`SimulatedCardReader` holds one card: ``insert``, ``pull`` (mid-flow: the next
  ``transmit`` raises :class:`CardRemoved`), scripted pulls (``pull_when``), and ``release``
  powering the card down.
* :class:`SimulatedJpkiCa` keeps a CA key and certificate in a directory (PEM) so the office
  can trust it, issues the cards' certificates, and caches each card's RSA key there too
  (generating RSA keys is slow on a kiosk-class CPU).
* :data:`DEMO_CARDS`: the demo residents' cards and their PINs.
* :func:`serve_vpcd` puts a simulated card into vsmartcard's virtual reader, so a real
  pcscd + pyscard stack (``drivers.pcsc_reader``) can be exercised without a card.

A simulated card is never chosen when a real reader is missing: the device configuration
names the backend (STYLE.md, practice 2).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import os
import re
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from drivers.card_reader import (
    SW_AUTH_METHOD_BLOCKED,
    SW_CLA_NOT_SUPPORTED,
    SW_END_OF_FILE,
    SW_FILE_INCOMPATIBLE,
    SW_FILE_NOT_FOUND,
    SW_INCORRECT_P1P2,
    SW_INS_NOT_SUPPORTED,
    SW_NO_CURRENT_EF,
    SW_OK,
    SW_REFERENCE_DATA_UNUSABLE,
    SW_SECURITY_NOT_SATISFIED,
    SW_WRONG_DATA,
    SW_WRONG_LENGTH,
    SW_WRONG_P1P2,
    CardError,
    CardRemoved,
    CommandApdu,
    NoCard,
    parse_command,
)
from drivers.jpki import (
    AUTH_PIN_MAX_TRIES,
    EF_AUTH_CA_CERT,
    EF_AUTH_CERT,
    EF_AUTH_KEY,
    EF_AUTH_PIN,
    JPKI_AID,
    check_pin_format,
)

# The ATR of a My Number card (OpenSC's jpki_atrs).
JPKI_ATR = bytes.fromhex("3BE000FF8131FE4514")
# Certificate files are larger than the certificate in them; the client must read the DER length.
CERT_FILE_SIZE = 0x0800
KEY_SIZE = 2048
CA_VALIDITY = dt.timedelta(days=20 * 365)
CARD_VALIDITY = dt.timedelta(days=5 * 365)  # JPKI user-authentication certificates: about 5 years
CA_NAME = "Simulated JPKI User Authentication CA"
ORGANIZATION = "JPKI Simulation"
_SERIAL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,31}")

# DigestInfo prefixes (RFC 8017, section 9.2) of the hashes the simulated card signs.
_DIGEST_INFO_PREFIXES: tuple[tuple[bytes, hashes.HashAlgorithm], ...] = (
    (bytes.fromhex("3021300906052b0e03021a05000414"), hashes.SHA1()),
    (bytes.fromhex("3031300d060960864801650304020105000420"), hashes.SHA256()),
    (bytes.fromhex("3041300d060960864801650304020205000430"), hashes.SHA384()),
    (bytes.fromhex("3051300d060960864801650304020305000440"), hashes.SHA512()),
)


@dataclass(frozen=True)
class DemoCard:
    """A demo resident's card: its serial (the certificate's serialNumber) and its PIN."""

    serial: str
    pin: str


# The residents behind these serials are certificates/registry.py's; the kiosk contracts list them.
DEMO_CARDS: tuple[DemoCard, ...] = (
    DemoCard("SIM-0001", "1234"),  # 山田 太郎: everything issues
    DemoCard("SIM-0002", "2345"),  # 山田 花子
    DemoCard("SIM-0003", "3456"),  # 山田 一郎, under 15: go to a counter
    DemoCard("SIM-0004", "4567"),  # 佐藤 次郎, moved out
    DemoCard("SIM-0005", "5678"),  # 鈴木 美咲, support measures: refused, no reason shown
    DemoCard("SIM-0006", "6789"),  # グエン ヴァン アン, foreign resident
    DemoCard("SIM-0007", "1111"),  # 髙橋, name needs gaiji: refused
)


def demo_pin(serial: str) -> str:
    """The PIN of demo card ``serial``; ValueError naming the demo serials otherwise."""
    for card in DEMO_CARDS:
        if card.serial == serial:
            return card.pin
    raise ValueError(f"no demo card {serial!r}; the demo cards are {', '.join(c.serial for c in DEMO_CARDS)}")


def _sw(sw: int, data: bytes = b"") -> bytes:
    return data + sw.to_bytes(2, "big")


# --------------------------------------------------------------------------------------------
# the card
# --------------------------------------------------------------------------------------------


class SimulatedJpkiCard:
    """A My Number card's JPKI user-authentication AP, answering APDUs from its own state.

    ``t0=True`` answers like a card on the T=0 protocol: the signature of a case-4 command
    waits behind ``61 xx`` for GET RESPONSE.
    """

    def __init__(
        self,
        *,
        serial: str,
        pin: str,
        private_key: rsa.RSAPrivateKey,
        certificate_der: bytes,
        ca_certificate_der: bytes = b"",
        tries_left: int = AUTH_PIN_MAX_TRIES,
        t0: bool = False,
    ) -> None:
        check_pin_format(pin)
        if not 0 <= tries_left <= AUTH_PIN_MAX_TRIES:
            raise ValueError(f"tries_left must be 0..{AUTH_PIN_MAX_TRIES}, got {tries_left}")
        self.serial = serial
        self._pin = pin.encode("ascii")
        self._key = private_key
        self._files = {
            EF_AUTH_CERT: certificate_der.ljust(CERT_FILE_SIZE, b"\x00"),
            EF_AUTH_CA_CERT: ca_certificate_der.ljust(CERT_FILE_SIZE, b"\x00"),
        }
        self.certificate_der = certificate_der
        self._t0 = t0
        # Non-volatile: survives power cycles (the card's EEPROM).
        self._tries_left = tries_left
        # Volatile: the power session's state.
        self._powered = False
        self._ap_selected = False
        self._current_ef: int | None = None
        self._verified = False
        self._pending: bytes = b""  # T=0 response data waiting for GET RESPONSE

    def __repr__(self) -> str:
        # Never the PIN: a repr ends up in logs and assertion messages.
        return f"SimulatedJpkiCard(serial={self.serial!r}, tries_left={self._tries_left}, powered={self._powered})"

    # -- observable state (for tests and the demo's technician view) -------------------------

    @property
    def tries_left(self) -> int:
        """The PIN retry counter (0: blocked)."""
        return self._tries_left

    @property
    def blocked(self) -> bool:
        """Whether the PIN is blocked."""
        return self._tries_left == 0

    @property
    def powered(self) -> bool:
        """Whether the card is powered (between ``power_on`` and ``power_off``)."""
        return self._powered

    @property
    def verified(self) -> bool:
        """Whether the PIN was verified in this power session."""
        return self._verified

    def public_key(self) -> rsa.RSAPublicKey:
        """The user-authentication public key."""
        return self._key.public_key()

    # -- power -------------------------------------------------------------------------------

    def power_on(self) -> bytes:
        """Cold reset: a fresh power session; returns the ATR."""
        self._reset_session()
        self._powered = True
        return JPKI_ATR

    def power_off(self) -> None:
        """Remove power: the selection and the verified PIN are gone; the retry counter stays."""
        self._reset_session()
        self._powered = False

    def _reset_session(self) -> None:
        self._ap_selected = False
        self._current_ef = None
        self._verified = False
        self._pending = b""

    # -- commands ----------------------------------------------------------------------------

    def process(self, apdu: bytes) -> bytes:
        """Answer one command APDU (response data + SW1 SW2)."""
        if not self._powered:
            raise CardError("the simulated card is not powered; power_on() it (the reader does this on connect)")
        command = parse_command(apdu)
        if command is None:
            return _sw(SW_WRONG_LENGTH)
        pending, self._pending = self._pending, b""
        if command.ins == 0xC0 and command.cla == 0x00:
            return self._get_response(command, pending)
        if command.ins == 0xA4 and command.cla == 0x00:
            return self._select(command)
        if command.ins == 0x20 and command.cla == 0x00:
            return self._verify(command)
        if command.ins == 0xB0 and command.cla == 0x00:
            return self._read_binary(command)
        if command.ins == 0x2A and command.cla == 0x80:
            return self._sign(command)
        if command.cla not in (0x00, 0x80):
            return _sw(SW_CLA_NOT_SUPPORTED)
        return _sw(SW_INS_NOT_SUPPORTED)

    def _get_response(self, command: CommandApdu, pending: bytes) -> bytes:
        if not pending:
            return _sw(0x6985)  # conditions of use not satisfied: nothing is waiting
        le = command.le or 256
        part, rest = pending[:le], pending[le:]
        if rest:
            self._pending = rest
            return _sw(0x6100 | (len(rest) & 0xFF), part)
        return _sw(SW_OK, part)

    def _select(self, command: CommandApdu) -> bytes:
        if command.p2 != 0x0C or command.le is not None:
            return _sw(SW_INCORRECT_P1P2)  # this card answers SELECT without FCI only
        if command.p1 == 0x04:
            if command.data != JPKI_AID:
                return _sw(SW_FILE_NOT_FOUND)
            self._ap_selected = True
            self._current_ef = None
            return _sw(SW_OK)
        if command.p1 == 0x02:
            if len(command.data) != 2:
                return _sw(SW_WRONG_LENGTH)
            ef = int.from_bytes(command.data, "big")
            # Outside the AP the card's MF has none of these files.
            if not self._ap_selected or ef not in (EF_AUTH_PIN, EF_AUTH_KEY, EF_AUTH_CERT, EF_AUTH_CA_CERT):
                return _sw(SW_FILE_NOT_FOUND)
            self._current_ef = ef
            return _sw(SW_OK)
        return _sw(SW_INCORRECT_P1P2)

    def _verify(self, command: CommandApdu) -> bytes:
        if command.p1 != 0x00 or command.p2 != 0x80:
            return _sw(SW_INCORRECT_P1P2)
        if command.le is not None:
            return _sw(SW_WRONG_LENGTH)
        if self._current_ef != EF_AUTH_PIN:
            return _sw(SW_NO_CURRENT_EF)
        if not command.data:  # the retry counter, without using a try
            if self.blocked:
                return _sw(SW_REFERENCE_DATA_UNUSABLE)
            if self._verified:
                return _sw(SW_OK)
            return _sw(0x63C0 | self._tries_left)
        if self.blocked:
            return _sw(SW_AUTH_METHOD_BLOCKED)
        # A PIN of the wrong length counts as a wrong PIN: the card cannot tell a slip from a guess.
        if command.data == self._pin:
            self._tries_left = AUTH_PIN_MAX_TRIES
            self._verified = True
            return _sw(SW_OK)
        self._tries_left -= 1
        self._verified = False
        return _sw(0x63C0 | self._tries_left)

    def _read_binary(self, command: CommandApdu) -> bytes:
        if command.p1 & 0x80:
            return _sw(0x6A81)  # short-EF addressing is not supported here
        if command.data or command.le is None:
            return _sw(SW_WRONG_LENGTH)
        if self._current_ef is None:
            return _sw(SW_NO_CURRENT_EF)
        content = self._files.get(self._current_ef)
        if content is None:
            return _sw(SW_FILE_INCOMPATIBLE)  # the PIN and the key are not binary files
        offset = (command.p1 << 8) | command.p2
        if offset >= len(content):
            return _sw(SW_WRONG_P1P2)
        part = content[offset : offset + command.le]
        return _sw(SW_OK if len(part) == command.le else SW_END_OF_FILE, part)

    def _sign(self, command: CommandApdu) -> bytes:
        if command.p1 != 0x00 or command.p2 != 0x80:
            return _sw(SW_INCORRECT_P1P2)
        if self._current_ef != EF_AUTH_KEY:
            return _sw(SW_NO_CURRENT_EF)
        if not self._verified:
            return _sw(SW_SECURITY_NOT_SATISFIED)
        for prefix, algorithm in _DIGEST_INFO_PREFIXES:
            if command.data.startswith(prefix) and len(command.data) == len(prefix) + algorithm.digest_size:
                digest = command.data[len(prefix) :]
                break
        else:
            return _sw(SW_WRONG_DATA)
        signature = self._key.sign(digest, padding.PKCS1v15(), utils.Prehashed(algorithm))
        if self._t0 and command.le is not None:
            self._pending = signature
            return _sw(0x6100 | (len(signature) & 0xFF))
        return _sw(SW_OK, signature)


# --------------------------------------------------------------------------------------------
# the reader
# --------------------------------------------------------------------------------------------


class _SimTransport:
    """A connection to the card in a :class:`SimulatedCardReader`; dead once released or pulled."""

    def __init__(self, reader: SimulatedCardReader) -> None:
        self._reader = reader
        self.ended: str | None = None  # "released" or "removed"

    def transmit(self, apdu: bytes) -> bytes:
        """Send ``apdu`` to the card; :class:`CardRemoved` once the card left the reader."""
        return self._reader._transmit(self, apdu)


class SimulatedCardReader:
    """A card reader with a simulated card: the :class:`~drivers.card_reader.CardReader` for tests.

    Thread-safe: the kiosk's worker may be in ``transmit`` while a test pulls the card.
    ``ejects=True`` models a motorised reader whose ``release`` also pushes the card out.
    """

    def __init__(self, *, ejects: bool = False) -> None:
        self._lock = threading.Lock()
        self._card: SimulatedJpkiCard | None = None
        self._transport: _SimTransport | None = None
        self._pull_when: Callable[[bytes], bool] | None = None
        self._ejects = ejects
        self.connects = 0  # power-ups, for tests that count sessions

    @property
    def card(self) -> SimulatedJpkiCard | None:
        """The card in the reader, if any."""
        return self._card

    @property
    def connected(self) -> bool:
        """Whether a connection (a power session) is open."""
        return self._transport is not None

    def insert(self, card: SimulatedJpkiCard) -> None:
        """Put ``card`` in the reader (unpowered until ``connect``)."""
        with self._lock:
            if self._card is not None:
                raise CardError(f"the reader already holds card {self._card.serial}; pull() it first")
            card.power_off()
            self._card = card

    def pull(self) -> SimulatedJpkiCard | None:
        """Take the card out, now: an open connection's next ``transmit`` raises CardRemoved."""
        with self._lock:
            return self._pull_locked()

    def _pull_locked(self) -> SimulatedJpkiCard | None:
        card, self._card = self._card, None
        self._pull_when = None
        if card is not None:
            card.power_off()
        if self._transport is not None:
            self._transport.ended = "removed"
            self._transport = None
        return card

    def pull_when(self, match: Callable[[bytes], bool]) -> None:
        """Script a pull: the card leaves as the first command matching ``match`` arrives."""
        with self._lock:
            self._pull_when = match

    def pull_after(self, commands: int) -> None:
        """Script a pull: the card answers ``commands`` more commands, then leaves."""
        remaining = [commands]

        def countdown(_apdu: bytes) -> bool:
            remaining[0] -= 1
            return remaining[0] < 0

        self.pull_when(countdown)

    def card_present(self) -> bool:
        """Whether a card is in the reader."""
        return self._card is not None

    def connect(self) -> _SimTransport:
        """Power the card up and return the connection; :class:`NoCard` when the reader is empty."""
        with self._lock:
            if self._card is None:
                raise NoCard("there is no card in the reader")
            if self._transport is not None:
                raise CardError("the card is already connected; release() it first")
            self._card.power_on()
            self._transport = _SimTransport(self)
            self.connects += 1
            return self._transport

    def release(self) -> None:
        """Power the card down (and eject it if the reader ejects); harmless when not connected."""
        with self._lock:
            if self._transport is not None:
                self._transport.ended = "released"
                self._transport = None
            if self._card is not None:
                self._card.power_off()
                if self._ejects:
                    self._card = None

    def _transmit(self, transport: _SimTransport, apdu: bytes) -> bytes:
        with self._lock:
            if transport.ended == "removed":
                raise CardRemoved("the card was removed from the reader")
            if transport.ended is not None or self._card is None:
                raise CardError("this card connection was released; connect() again")
            if self._pull_when is not None and self._pull_when(apdu):
                self._pull_locked()
                raise CardRemoved("the card was removed from the reader")
            return self._card.process(apdu)


# --------------------------------------------------------------------------------------------
# the CA
# --------------------------------------------------------------------------------------------


def _utc(now_ms: int | None) -> dt.datetime:
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` whole or not at all (temp file, fsync, rename, directory fsync)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_rsa_key(path: Path) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as err:
        raise CardError(
            f"{path} is not an unencrypted PEM private key ({err}); delete it to have it made again"
        ) from err
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != KEY_SIZE:
        raise CardError(f"{path} does not hold an RSA-{KEY_SIZE} key; delete it to have it made again")
    return key


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)


class SimulatedJpkiCa:
    """A stand-in for J-LIS's user-authentication CA, kept in a directory as PEM files.

    ``ca-key.pem`` and ``ca-cert.pem`` (the office trusts the latter), and ``cards/<serial>.key.pem``
    for each card's key. Created on first :meth:`open`, loaded afterwards; a lock file keeps two
    processes of the demo from creating two different CAs at once. The keys are unencrypted:
    this CA exists for demos and tests only.
    """

    def __init__(self, directory: Path, key: rsa.RSAPrivateKey, certificate: x509.Certificate) -> None:
        self.directory = directory
        self._key = key
        self.certificate = certificate

    @property
    def certificate_path(self) -> Path:
        """The CA certificate (PEM) for the office's trust list."""
        return self.directory / "ca-cert.pem"

    @property
    def certificate_der(self) -> bytes:
        """The CA certificate, DER."""
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @classmethod
    def open(cls, directory: Path | str, *, now_ms: int | None = None, common_name: str = CA_NAME) -> SimulatedJpkiCa:
        """Load the CA in ``directory``, creating it (and the directory) on first use."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        key_path, cert_path = directory / "ca-key.pem", directory / "ca-cert.pem"
        with _locked(directory):
            if key_path.exists() and cert_path.exists():
                key = _load_rsa_key(key_path)
                try:
                    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
                except ValueError as err:
                    raise CardError(
                        f"{cert_path} is not a PEM certificate ({err}); delete {directory} to start afresh"
                    ) from err
                if cert.public_key() != key.public_key():
                    raise CardError(f"{cert_path} does not belong to {key_path}; delete {directory} to start afresh")
                return cls(directory, key, cert)
            if key_path.exists() or cert_path.exists():
                raise CardError(
                    f"{directory} holds only one of ca-key.pem and ca-cert.pem; delete {directory} to start afresh"
                )
            key = _new_key()
            now = _utc(now_ms)
            name = x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                ]
            )
            cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + CA_VALIDITY)
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
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256())
            )
            _write_atomic(key_path, _pem_key(key), 0o600)
            _write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
            return cls(directory, key, cert)

    def card_key(self, serial: str) -> rsa.RSAPrivateKey:
        """The RSA key of card ``serial``, made once and kept in ``cards/``."""
        if not _SERIAL_RE.fullmatch(serial):
            raise ValueError(f"card serial {serial!r} must be 1-32 letters, digits and '-' (like SIM-0001)")
        cards = self.directory / "cards"
        cards.mkdir(exist_ok=True)
        path = cards / f"{serial}.key.pem"
        with _locked(self.directory):
            if path.exists():
                return _load_rsa_key(path)
            key = _new_key()
            _write_atomic(path, _pem_key(key), 0o600)
            return key

    def issue_certificate(
        self,
        public_key: rsa.RSAPublicKey,
        serial: str,
        *,
        not_before: dt.datetime,
        not_after: dt.datetime,
        digital_signature: bool = True,
    ) -> bytes:
        """A user-authentication certificate (DER) for ``public_key``, subject serialNumber ``serial``."""
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, serial),
                x509.NameAttribute(NameOID.COMMON_NAME, serial),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=digital_signature,
                    content_commitment=False,
                    key_encipherment=not digital_signature,  # some usage, just not the one needed
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.DER)

    def issue_card(
        self,
        serial: str,
        pin: str,
        *,
        now_ms: int | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        digital_signature: bool = True,
        tries_left: int = AUTH_PIN_MAX_TRIES,
        t0: bool = False,
    ) -> SimulatedJpkiCard:
        """A new card for ``serial``: its cached key, a certificate valid around ``now_ms``."""
        check_pin_format(pin)
        key = self.card_key(serial)
        now = _utc(now_ms)
        cert = self.issue_certificate(
            key.public_key(),
            serial,
            not_before=not_before or now - dt.timedelta(days=1),
            not_after=not_after or now + CARD_VALIDITY,
            digital_signature=digital_signature,
        )
        return SimulatedJpkiCard(
            serial=serial,
            pin=pin,
            private_key=key,
            certificate_der=cert,
            ca_certificate_der=self.certificate_der,
            tries_left=tries_left,
            t0=t0,
        )

    def demo_card(self, serial: str, *, now_ms: int | None = None) -> SimulatedJpkiCard:
        """The demo card ``serial`` (one of :data:`DEMO_CARDS`) with its demo PIN."""
        return self.issue_card(serial, demo_pin(serial), now_ms=now_ms)

    def demo_cards(self, *, now_ms: int | None = None) -> dict[str, SimulatedJpkiCard]:
        """Every demo card by serial."""
        return {c.serial: self.issue_card(c.serial, c.pin, now_ms=now_ms) for c in DEMO_CARDS}


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with open(directory / ".lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# --------------------------------------------------------------------------------------------
# vsmartcard's virtual reader (vpcd)
# --------------------------------------------------------------------------------------------

VPCD_PORT = 35963
# vpcd sends 2-byte big-endian length-prefixed messages; a 1-byte message is a control code.
VPCD_POWER_OFF, VPCD_POWER_ON, VPCD_RESET, VPCD_GET_ATR = 0, 1, 2, 4


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def serve_vpcd(card: SimulatedJpkiCard, sock: socket.socket) -> None:
    """Be the card in vsmartcard's virtual reader over ``sock`` until vpcd hangs up.

    ``sock`` is connected to vpcd (``socket.create_connection(("localhost", VPCD_PORT))``);
    pcscd then shows the card in the reader "Virtual PCD 00 00".
    """
    while True:
        header = _recv_exact(sock, 2)
        if header is None:
            card.power_off()
            return
        (length,) = struct.unpack(">H", header)
        message = _recv_exact(sock, length)
        if message is None:
            card.power_off()
            return
        reply: bytes | None = None
        if length == 1:
            code = message[0]
            if code == VPCD_POWER_OFF:
                card.power_off()
            elif code in (VPCD_POWER_ON, VPCD_RESET):
                card.power_on()
            elif code == VPCD_GET_ATR:
                reply = JPKI_ATR
        else:
            if not card.powered:
                card.power_on()  # vpcd may send APDUs after a reset it did not announce
            reply = card.process(message)
        if reply is not None:
            sock.sendall(struct.pack(">H", len(reply)) + reply)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m drivers.jpki_sim DIR``: make the demo CA and cards; ``--vpcd SERIAL`` serves one."""
    parser = argparse.ArgumentParser(prog="python -m drivers.jpki_sim", description=main.__doc__)
    parser.add_argument("directory", type=Path, help="the simulated CA's directory (created on first use)")
    parser.add_argument("--vpcd", metavar="SERIAL", help="put demo card SERIAL into vsmartcard's virtual reader")
    parser.add_argument("--vpcd-host", default="localhost")
    parser.add_argument("--vpcd-port", type=int, default=VPCD_PORT)
    args = parser.parse_args(argv)
    try:
        ca = SimulatedJpkiCa.open(args.directory)
        if args.vpcd is None:
            for demo in DEMO_CARDS:
                ca.card_key(demo.serial)
                print(f"{demo.serial}  PIN {demo.pin}")
            print(f"CA certificate for the office: {ca.certificate_path}")
            return 0
        card = ca.demo_card(args.vpcd)
        with socket.create_connection((args.vpcd_host, args.vpcd_port), timeout=None) as sock:
            print(f"card {card.serial} is in the virtual reader; Ctrl-C takes it out")
            serve_vpcd(card, sock)
    except (CardError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
