"""The office side of card authentication: challenges and checking a card's answer (pure).

The kiosk asks the office for a challenge, has the resident's My Number card sign it with the
user-authentication key after the PIN, and sends the signature and the card's certificate
back. The office believes the card only when

1. the challenge is one it issued, unused and not expired (:class:`ChallengeBook`);
2. the certificate is signed by a trusted JPKI CA and valid now, for digital signatures;
3. the signature over the challenge verifies with the certificate's key.

The card's identity is then the certificate subject's serialNumber. Every refusal is a
:class:`CardAuthError` with a :class:`Reason` for the office's log; the kiosk only ever hears
"card_invalid" (kiosk contracts). No I/O, no clock: time is an argument, randomness injectable.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from certificates.errors import CertificateDomainError

NONCE_BYTES = 32
CHALLENGE_TTL_MS = 120_000
MAX_OPEN_CHALLENGES = 1024  # a kiosk asking in a loop cannot grow the office's memory
MIN_RSA_BITS = 2048


class Reason(StrEnum):
    """Why a card's answer was refused (for the office log, never shown to the resident)."""

    MALFORMED = "malformed"  # not a certificate, not a signature, no serialNumber
    UNKNOWN_ISSUER = "unknown_issuer"  # no trusted CA by the certificate's issuer name
    BAD_CERTIFICATE = "bad_certificate"  # names a trusted CA, but that CA did not sign it
    EXPIRED = "expired"  # the certificate (or its CA) is past its validity
    NOT_YET_VALID = "not_yet_valid"
    KEY_USAGE = "key_usage"  # not a certificate for digital signatures
    BAD_SIGNATURE = "bad_signature"  # the signature over the challenge does not verify
    UNKNOWN_CHALLENGE = "unknown_challenge"  # never issued here (or forgotten since)
    REPLAYED = "replayed"  # the challenge was already used
    EXPIRED_CHALLENGE = "expired_challenge"


class CardAuthError(CertificateDomainError):
    """A card's answer the office does not accept; ``reason`` says why."""

    def __init__(self, reason: Reason, detail: str) -> None:
        self.reason = reason
        super().__init__(f"{reason.value}: {detail}")


@dataclass(frozen=True)
class Challenge:
    """A nonce for one card to sign; ``expires_ms`` in the office's clock (epoch ms)."""

    challenge_id: str
    nonce: bytes
    issued_ms: int
    expires_ms: int


@dataclass(frozen=True)
class CardIdentity:
    """Who the card says it is: the certificate subject's serialNumber, and until when."""

    serial: str
    not_after: dt.datetime


# --------------------------------------------------------------------------------------------
# challenges
# --------------------------------------------------------------------------------------------


class ChallengeBook:
    """Issues single-use challenges and redeems each at most once.

    A challenge is consumed by its first redemption whatever the outcome, so a failed attempt
    cannot be retried against the same nonce. Used ids are remembered until they would have
    expired, to tell a replay from an id never issued. ``random_bytes`` (default
    :func:`secrets.token_bytes`) is injectable for tests.
    """

    def __init__(
        self,
        *,
        ttl_ms: int = CHALLENGE_TTL_MS,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
        max_open: int = MAX_OPEN_CHALLENGES,
    ) -> None:
        if ttl_ms <= 0 or max_open <= 0:
            raise ValueError(f"ttl_ms and max_open must be positive (got {ttl_ms}, {max_open})")
        self._ttl_ms = ttl_ms
        self._random = random_bytes
        self._max_open = max_open
        self._open: OrderedDict[str, Challenge] = OrderedDict()
        self._used: dict[str, int] = {}  # challenge_id -> expires_ms

    def _bytes(self, n: int) -> bytes:
        value = self._random(n)
        if not isinstance(value, bytes):
            raise TypeError(f"the random source returned a {type(value).__name__}, not bytes")
        if len(value) != n:
            raise ValueError(f"the random source returned {len(value)} bytes, {n} were asked for")
        return value

    def _purge(self, now_ms: int) -> None:
        for cid in [cid for cid, c in self._open.items() if c.expires_ms < now_ms]:
            del self._open[cid]
        for cid in [cid for cid, expires in self._used.items() if expires < now_ms]:
            del self._used[cid]

    def issue(self, now_ms: int) -> Challenge:
        """A fresh challenge: 32 random bytes, valid for ``ttl_ms``."""
        self._purge(now_ms)
        while len(self._open) >= self._max_open:
            self._open.popitem(last=False)  # the oldest goes; its kiosk will ask again
        challenge = Challenge(
            challenge_id=self._bytes(16).hex(),
            nonce=self._bytes(NONCE_BYTES),
            issued_ms=now_ms,
            expires_ms=now_ms + self._ttl_ms,
        )
        self._open[challenge.challenge_id] = challenge
        return challenge

    def redeem(self, challenge_id: str, now_ms: int) -> Challenge:
        """Take challenge ``challenge_id`` for checking; it cannot be redeemed again."""
        challenge = self._open.pop(challenge_id, None)
        if challenge is None:
            if challenge_id in self._used:
                raise CardAuthError(Reason.REPLAYED, f"challenge {challenge_id} was already used")
            raise CardAuthError(
                Reason.UNKNOWN_CHALLENGE, f"challenge {challenge_id!r} was not issued here or is long gone"
            )
        self._used[challenge_id] = challenge.expires_ms
        if now_ms > challenge.expires_ms:
            raise CardAuthError(
                Reason.EXPIRED_CHALLENGE, f"challenge {challenge_id} expired {now_ms - challenge.expires_ms} ms ago"
            )
        self._purge(now_ms)
        return challenge

    def __len__(self) -> int:
        return len(self._open)


# --------------------------------------------------------------------------------------------
# certificates and signatures
# --------------------------------------------------------------------------------------------


def load_ca_certificates(pem: bytes) -> list[x509.Certificate]:
    """The certificates in a PEM bundle (the office's trusted JPKI CAs); ValueError when none."""
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError as err:
        raise ValueError(f"the JPKI CA file holds no readable PEM certificate ({err})") from err
    return certificates


def _as_certificates(items: Iterable[x509.Certificate | bytes]) -> list[x509.Certificate]:
    out: list[x509.Certificate] = []
    for item in items:
        out.append(item if isinstance(item, x509.Certificate) else x509.load_der_x509_certificate(item))
    return out


def _check_validity(certificate: x509.Certificate, now: dt.datetime, what: str) -> None:
    if now < certificate.not_valid_before_utc:
        raise CardAuthError(
            Reason.NOT_YET_VALID, f"{what} is valid from {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        )
    if now > certificate.not_valid_after_utc:
        raise CardAuthError(Reason.EXPIRED, f"{what} expired {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")


def _issuer_of(certificate: x509.Certificate, cas: list[x509.Certificate]) -> x509.Certificate:
    named = [ca for ca in cas if ca.subject == certificate.issuer]
    if not named:
        raise CardAuthError(
            Reason.UNKNOWN_ISSUER, f"issuer {certificate.issuer.rfc4514_string()} is not a trusted JPKI CA"
        )
    for ca in named:
        try:
            certificate.verify_directly_issued_by(ca)
        except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
            continue
        return ca
    raise CardAuthError(
        Reason.BAD_CERTIFICATE,
        f"the certificate names {certificate.issuer.rfc4514_string()} as issuer but is not signed by it",
    )


def verify_card_response(
    ca_certificates: Iterable[x509.Certificate | bytes],
    certificate_der: bytes,
    challenge: bytes,
    signature: bytes,
    now_ms: int,
) -> CardIdentity:
    """Check a card's certificate and its signature over ``challenge``; the card's identity.

    ``ca_certificates`` are the trusted JPKI user-authentication CAs (objects or DER). The
    signature is RSA PKCS#1 v1.5 over SHA-256(``challenge``), as ``drivers.jpki`` makes it.
    Raises :class:`CardAuthError`.
    """
    now = dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC)
    try:
        cas = _as_certificates(ca_certificates)
    except ValueError as err:
        # A broken trust list is the office's own configuration error, not the card's fault.
        raise ValueError(f"a trusted JPKI CA certificate is not DER ({err})") from err
    try:
        certificate = x509.load_der_x509_certificate(certificate_der)
    except (ValueError, TypeError) as err:
        raise CardAuthError(Reason.MALFORMED, f"the card's certificate is not DER X.509 ({err})") from err
    issuer = _issuer_of(certificate, cas)
    _check_validity(issuer, now, "the issuing CA's certificate")
    _check_validity(certificate, now, "the card's certificate")
    try:
        key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound as err:
        raise CardAuthError(Reason.KEY_USAGE, "the card's certificate has no key usage") from err
    if not key_usage.digital_signature:
        raise CardAuthError(Reason.KEY_USAGE, "the card's certificate is not for digital signatures")
    serials = certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    if len(serials) != 1 or not isinstance(serials[0].value, str) or not serials[0].value:
        raise CardAuthError(Reason.MALFORMED, "the card's certificate subject has no single serialNumber")
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey) or public_key.key_size < MIN_RSA_BITS:
        raise CardAuthError(Reason.MALFORMED, f"the card's key is not RSA of at least {MIN_RSA_BITS} bits")
    if not isinstance(challenge, bytes) or not isinstance(signature, bytes):
        raise CardAuthError(Reason.MALFORMED, "the challenge and the signature must be bytes")
    if len(signature) != public_key.key_size // 8:
        raise CardAuthError(
            Reason.MALFORMED, f"the signature is {len(signature)} bytes, the key's size is {public_key.key_size // 8}"
        )
    try:
        public_key.verify(signature, challenge, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as err:
        raise CardAuthError(Reason.BAD_SIGNATURE, "the signature over the challenge does not verify") from err
    return CardIdentity(serial=serials[0].value, not_after=certificate.not_valid_after_utc)


def authenticate(
    book: ChallengeBook,
    ca_certificates: Iterable[x509.Certificate | bytes],
    challenge_id: str,
    certificate_der: bytes,
    signature: bytes,
    now_ms: int,
) -> CardIdentity:
    """Redeem ``challenge_id`` from ``book`` and verify the card's answer to it."""
    challenge = book.redeem(challenge_id, now_ms)
    return verify_card_response(ca_certificates, certificate_der, challenge.nonce, signature, now_ms)
