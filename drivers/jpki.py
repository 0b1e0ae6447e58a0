"""APDU client for the JPKI user-authentication application of the My Number card (マイナンバーカード).

The kiosk identifies a resident by their card's *user-authentication certificate*
(利用者証明用電子証明書): it reads the certificate, asks for the 4-digit PIN
(利用者証明用パスワード), and has the card sign a fresh challenge from the office, which checks
the signature and the certificate (``certificates.card_auth``). The commands, from OpenSC's
``card-jpki.c`` (see ``docs/card-reader.md``):

=====================  ==========================================  ===========================
SELECT the AP          ``00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01``
SELECT an EF           ``00 A4 02 0C 02 <EF>``                     PIN 0018, key 0017,
                                                                   certificate 000A, CA 000B
VERIFY (tries left)    ``00 20 00 80``                             ``63 Cx``: x tries left
VERIFY                 ``00 20 00 80 04 <4 ASCII digits>``         ``90 00`` / ``63 Cx`` / ``69 84``
READ BINARY            ``00 B0 <offset> <Le>``
SIGN                   ``80 2A 00 80 33 <SHA-256 DigestInfo> 00``  256-byte RSA signature
=====================  ==========================================  ===========================

A successful VERIFY counts until the card is powered down, so the reader holds the card
exclusively and powers it down at the end of the resident's session (:func:`jpki_session`).
The PIN is never logged and never appears in an exception message.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from drivers.card_reader import (
    BLOCKED_SWS,
    SW_END_OF_FILE,
    SW_FILE_NOT_FOUND,
    SW_OK,
    SW_SECURITY_NOT_SATISFIED,
    ApduTransport,
    CardBlocked,
    CardCommandError,
    CardError,
    CardReader,
    build_command,
    parse_command,
    split_response,
    sw_hex,
    tries_left_in,
)

log = logging.getLogger(__name__)

JPKI_AID = bytes.fromhex("D392F000260100000001")
EF_AUTH_KEY = 0x0017  # private key for user authentication
EF_AUTH_PIN = 0x0018  # user-authentication PIN, 4 digits
EF_AUTH_CERT = 0x000A  # user-authentication certificate (DER)
EF_AUTH_CA_CERT = 0x000B  # the CA certificate that issued it
AUTH_PIN_LENGTH = 4
AUTH_PIN_MAX_TRIES = 3
SIGNATURE_LENGTH = 256  # RSA-2048

# DER of AlgorithmIdentifier sha256 wrapped in the DigestInfo SEQUENCE (RFC 8017, section 9.2).
SHA256_DIGEST_INFO_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")
# READ BINARY addresses the file with 15 bits (P1 bit 8 set means a short file identifier).
MAX_FILE_OFFSET = 0x7FFF


class NotJpkiCard(CardCommandError):
    """The card has no JPKI application: not a My Number card (住基カード are not supported)."""


class PinNotVerified(CardCommandError):
    """The card refused to sign: the PIN has not been verified since the card was powered up."""


class InvalidPin(CardError, ValueError):
    """The PIN typed is not 4 ASCII digits; nothing was sent to the card."""


@dataclass(frozen=True)
class PinCheck:
    """The outcome of one PIN attempt: ``blocked`` when this attempt used up the last try."""

    ok: bool
    tries_left: int
    blocked: bool


# --------------------------------------------------------------------------------------------
# commands (pure)
# --------------------------------------------------------------------------------------------


def select_ap_command() -> bytes:
    """SELECT the JPKI AP by its name, no response data."""
    return build_command(0x00, 0xA4, 0x04, 0x0C, JPKI_AID)


def select_ef_command(ef: int) -> bytes:
    """SELECT an elementary file of the AP by its 2-byte identifier."""
    if not 0 <= ef <= 0xFFFF:
        raise ValueError(f"file identifier must be 2 bytes, got {ef:#x}")
    return build_command(0x00, 0xA4, 0x02, 0x0C, ef.to_bytes(2, "big"))


def verify_status_command() -> bytes:
    """VERIFY without data: asks for the retry counter, never uses a try."""
    return build_command(0x00, 0x20, 0x00, 0x80)


def check_pin_format(pin: str) -> None:
    """Raise :class:`InvalidPin` unless ``pin`` is exactly 4 ASCII digits.

    The message says what is wrong but never repeats the value: it is (nearly) a PIN.
    ``str.isdigit`` is not used because it accepts full-width and other Unicode digits.
    """
    if not isinstance(pin, str):
        raise InvalidPin(f"the PIN must be a string of {AUTH_PIN_LENGTH} digits, got a {type(pin).__name__}")
    if len(pin) != AUTH_PIN_LENGTH:
        raise InvalidPin(f"the PIN must be exactly {AUTH_PIN_LENGTH} digits; {len(pin)} characters were given")
    if any(c not in "0123456789" for c in pin):
        raise InvalidPin(f"the PIN must be {AUTH_PIN_LENGTH} digits 0-9 (ASCII); other characters were given")


def verify_command(pin: str) -> bytes:
    """VERIFY the user-authentication PIN (the PIN EF must be selected)."""
    check_pin_format(pin)
    return build_command(0x00, 0x20, 0x00, 0x80, pin.encode("ascii"))


def read_binary_command(offset: int, length: int) -> bytes:
    """READ BINARY ``length`` (1..256) bytes at ``offset`` of the current EF."""
    if not 0 <= offset <= MAX_FILE_OFFSET:
        raise ValueError(f"READ BINARY offset must be 0..{MAX_FILE_OFFSET}, got {offset}")
    return build_command(0x00, 0xB0, offset >> 8, offset & 0xFF, le=length)


def sha256_digest_info(message: bytes) -> bytes:
    """The DER DigestInfo of SHA-256(``message``): what the card pads and signs."""
    return SHA256_DIGEST_INFO_PREFIX + hashlib.sha256(message).digest()


def sign_command(digest_info: bytes) -> bytes:
    """COMPUTE DIGITAL SIGNATURE (JPKI: CLA 80) over a DigestInfo, the key EF selected; Le 256."""
    return build_command(0x80, 0x2A, 0x00, 0x80, digest_info, le=SIGNATURE_LENGTH)


def der_total_length(header: bytes) -> int:
    """Length of a DER SEQUENCE (header included) from its first bytes; CardError if it is none.

    JPKI files hold a certificate from offset 0 and are longer than the certificate, so the
    length comes from the DER header, as OpenSC does.
    """
    if len(header) < 2 or header[0] != 0x30:
        first = f"{header[0]:02X}" if header else "nothing"
        raise CardError(
            f"the certificate file does not start with a DER SEQUENCE (starts with {first}): no certificate"
        )
    first_len = header[1]
    if first_len < 0x80:
        return 2 + first_len
    count = first_len & 0x7F
    if count not in (1, 2) or len(header) < 2 + count:
        raise CardError(f"the certificate file has an unsupported DER length field ({header[:4].hex(' ')})")
    return 2 + count + int.from_bytes(header[2 : 2 + count], "big")


# --------------------------------------------------------------------------------------------
# client
# --------------------------------------------------------------------------------------------


class JpkiCard:
    """The JPKI user-authentication AP of a connected card.

    Every method selects what it needs first (the AP once, then the EF), so they can be called
    in any order; the card enforces the rest (a signature needs a verified PIN).
    """

    def __init__(self, transport: ApduTransport, *, read_chunk: int = 256) -> None:
        if not 1 <= read_chunk <= 256:
            raise ValueError(f"read_chunk must be 1..256 bytes, got {read_chunk}")
        self._transport = transport
        self._read_chunk = read_chunk
        self._selected = False

    # -- exchange ----------------------------------------------------------------------------

    def _exchange(self, apdu: bytes) -> tuple[bytes, int]:
        data, sw = split_response(self._transport.transmit(apdu))
        parsed = parse_command(apdu)
        if sw >> 8 == 0x6C and parsed is not None and parsed.le is not None:
            # Wrong Le: the card says how many bytes it has; ask again with that (ISO 7816-3).
            data, sw = split_response(self._transport.transmit(apdu[:-1] + bytes((sw & 0xFF,))))
        while sw >> 8 == 0x61:
            # T=0 returns the data of a case-4 command on request (GET RESPONSE); pcsc-lite
            # leaves that to the application.
            get_response = build_command(0x00, 0xC0, 0x00, 0x00, le=(sw & 0xFF) or 256)
            more, sw = split_response(self._transport.transmit(get_response))
            data += more
        return data, sw

    def _select_ef(self, ef: int, what: str) -> None:
        if not self._selected:
            self.select()
        _, sw = self._exchange(select_ef_command(ef))
        if sw != SW_OK:
            raise CardCommandError(f"SELECT {what} (EF {ef:04X})", sw)

    # -- operations --------------------------------------------------------------------------

    def select(self) -> None:
        """Select the JPKI AP; :class:`NotJpkiCard` when the card has none."""
        _, sw = self._exchange(select_ap_command())
        if sw == SW_FILE_NOT_FOUND:
            raise NotJpkiCard(
                "SELECT JPKI AP",
                sw,
                "this card has no JPKI application: it is not a My Number card (住基カード are not supported)",
            )
        if sw != SW_OK:
            raise CardCommandError("SELECT JPKI AP", sw)
        self._selected = True

    def pin_tries_left(self) -> int:
        """PIN tries left (3 when verified in this session, 0 when blocked); uses no try."""
        self._select_ef(EF_AUTH_PIN, "PIN")
        _, sw = self._exchange(verify_status_command())
        if sw == SW_OK:
            return AUTH_PIN_MAX_TRIES  # already verified since power-up
        if sw in BLOCKED_SWS:
            return 0
        tries = tries_left_in(sw)
        if tries is None:
            raise CardCommandError("VERIFY (tries left)", sw)
        return tries

    def verify_pin(self, pin: str) -> PinCheck:
        """Try ``pin`` (4 ASCII digits, checked before anything is sent).

        A wrong PIN returns ``PinCheck(ok=False, …)``; the third wrong one in a row returns
        ``blocked=True``. A card already blocked raises :class:`CardBlocked` (no attempt was
        possible; call :meth:`pin_tries_left` first to tell the resident before they type).
        """
        command = verify_command(pin)  # raises InvalidPin before any APDU
        self._select_ef(EF_AUTH_PIN, "PIN")
        _, sw = self._exchange(command)
        if sw == SW_OK:
            log.info("PIN verified")
            return PinCheck(ok=True, tries_left=AUTH_PIN_MAX_TRIES, blocked=False)
        if sw in BLOCKED_SWS:
            raise CardBlocked("the card's PIN is blocked; the municipality's counter can reset it")
        tries = tries_left_in(sw)
        if tries is None:
            raise CardCommandError("VERIFY", sw)
        log.info("wrong PIN, %d tries left", tries)
        return PinCheck(ok=False, tries_left=tries, blocked=tries == 0)

    def read_certificate(self) -> bytes:
        """The user-authentication certificate (DER X.509); no PIN needed."""
        return self._read_der_file(EF_AUTH_CERT, "certificate")

    def read_ca_certificate(self) -> bytes:
        """The certificate of the CA that issued the user-authentication certificate (DER)."""
        return self._read_der_file(EF_AUTH_CA_CERT, "CA certificate")

    def _read_binary(self, offset: int, length: int, what: str) -> bytes:
        data, sw = self._exchange(read_binary_command(offset, length))
        if sw not in (SW_OK, SW_END_OF_FILE):
            raise CardCommandError(f"READ BINARY {what} at offset {offset}", sw)
        return data

    def _read_der_file(self, ef: int, what: str) -> bytes:
        self._select_ef(ef, what)
        head = self._read_binary(0, 4, what)
        total = der_total_length(head)
        if total > MAX_FILE_OFFSET + 1:
            raise CardError(f"the {what} claims {total} bytes, more than a file can hold")
        out = bytearray(head[:total])
        while len(out) < total:
            chunk = self._read_binary(len(out), min(self._read_chunk, total - len(out)), what)
            if not chunk:
                raise CardError(f"the {what} file ends at {len(out)} bytes, its DER header says {total}")
            out += chunk
        del out[total:]
        log.debug("read %s: %d bytes", what, total)
        return bytes(out)

    def sign(self, challenge: bytes) -> bytes:
        """RSA PKCS#1 v1.5 signature of SHA-256(``challenge``) with the user-authentication key.

        Needs a PIN verified in this power session: otherwise :class:`PinNotVerified`.
        """
        if not isinstance(challenge, bytes) or not challenge:
            raise ValueError("the challenge to sign must be non-empty bytes")
        self._select_ef(EF_AUTH_KEY, "authentication key")
        signature, sw = self._exchange(sign_command(sha256_digest_info(challenge)))
        if sw == SW_SECURITY_NOT_SATISFIED:
            raise PinNotVerified(
                "SIGN", sw, "the card refuses to sign: the PIN has not been verified since the card was powered up"
            )
        if sw in BLOCKED_SWS:
            raise CardBlocked("the card's PIN is blocked; the municipality's counter can reset it")
        if sw != SW_OK:
            raise CardCommandError("SIGN", sw)
        if len(signature) != SIGNATURE_LENGTH:
            raise CardError(
                f"SIGN: the card returned {len(signature)} bytes, an RSA-2048 signature has 256 ({sw_hex(sw)})"
            )
        return signature


@contextmanager
def jpki_session(reader: CardReader) -> Iterator[JpkiCard]:
    """Connect to the card in ``reader``, select the AP, and power the card down afterwards.

    The power-down ends the PIN's validity, so a card left in the reader cannot sign for the
    next person; it runs whatever happened inside (a pulled card included).
    """
    transport = reader.connect()
    try:
        card = JpkiCard(transport)
        card.select()
        yield card
    finally:
        reader.release()
