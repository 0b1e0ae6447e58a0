"""The office checks a card's answer: challenges, certificates, signatures; end to end with the sim."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from certificates.card_auth import (
    CHALLENGE_TTL_MS,
    CardAuthError,
    CardIdentity,
    ChallengeBook,
    Reason,
    authenticate,
    load_ca_certificates,
    verify_card_response,
)
from certificates.errors import CertificateDomainError
from drivers.card_reader import ApduTrace
from drivers.jpki import JpkiCard, jpki_session
from drivers.jpki_sim import SimulatedCardReader, SimulatedJpkiCa, SimulatedJpkiCard

NOW_MS = 1_780_000_000_000  # 2026-05-28, inside the certificates' validity
NOW = dt.datetime.fromtimestamp(NOW_MS / 1000, dt.UTC)


@pytest.fixture(scope="session")
def jpki_ca(tmp_path_factory: pytest.TempPathFactory) -> SimulatedJpkiCa:
    """One CA for the whole run; the base temp dir is shared, so card keys are made once.

    Made as of 2025-01-01 whichever test file comes first, so fixed test times fall inside it.
    """
    return SimulatedJpkiCa.open(tmp_path_factory.getbasetemp() / "jpki-ca", now_ms=1_735_689_600_000)


@pytest.fixture(scope="session")
def impostor_ca(tmp_path_factory: pytest.TempPathFactory) -> SimulatedJpkiCa:
    """Another CA with the very same name as the trusted one."""
    return SimulatedJpkiCa.open(tmp_path_factory.getbasetemp() / "impostor-ca", now_ms=1_735_689_600_000)


def counting_random() -> Callable[[int], bytes]:
    """A predictable random source: 00 00 …, 01 01 …, …"""
    counter = itertools.count()
    return lambda n: bytes([next(counter) % 256]) * n


def answer(card: SimulatedJpkiCard, pin: str, nonce: bytes) -> tuple[bytes, bytes]:
    """What the kiosk sends the office: the card's certificate and its signature over ``nonce``."""
    reader = SimulatedCardReader()
    reader.insert(card)
    with jpki_session(reader) as jpki:
        assert jpki.verify_pin(pin).ok
        return jpki.read_certificate(), jpki.sign(nonce)


def refused(reason: Reason, call: Callable[[], object]) -> CardAuthError:
    """Run ``call`` and return its CardAuthError, which must carry ``reason``."""
    with pytest.raises(CardAuthError) as err:
        call()
    assert err.value.reason is reason, str(err.value)
    assert isinstance(err.value, CertificateDomainError)  # the package's one root
    return err.value


# ---- challenges ----------------------------------------------------------------------------


def test_challenges_are_fresh_random_and_expire_after_the_ttl() -> None:
    book = ChallengeBook(random_bytes=counting_random())
    first, second = book.issue(NOW_MS), book.issue(NOW_MS)
    assert first.challenge_id == "00" * 16 and first.nonce == b"\x01" * 32
    assert second.challenge_id != first.challenge_id and second.nonce != first.nonce
    assert first.expires_ms == NOW_MS + CHALLENGE_TTL_MS == NOW_MS + 120_000
    assert len(book) == 2


def test_a_challenge_is_used_once() -> None:
    book = ChallengeBook()
    challenge = book.issue(NOW_MS)
    assert len(challenge.nonce) == 32
    assert book.redeem(challenge.challenge_id, NOW_MS + 1000) == challenge
    refused(Reason.REPLAYED, lambda: book.redeem(challenge.challenge_id, NOW_MS + 2000))
    refused(Reason.UNKNOWN_CHALLENGE, lambda: book.redeem("f00d", NOW_MS))


def test_a_challenge_expires_on_the_millisecond_and_is_spent_anyway() -> None:
    book = ChallengeBook(ttl_ms=1000)
    on_time, late = book.issue(NOW_MS), book.issue(NOW_MS)
    book.redeem(on_time.challenge_id, NOW_MS + 1000)
    refused(Reason.EXPIRED_CHALLENGE, lambda: book.redeem(late.challenge_id, NOW_MS + 1001))
    refused(Reason.REPLAYED, lambda: book.redeem(late.challenge_id, NOW_MS + 1002))


def test_the_book_forgets_what_has_expired_and_stays_bounded() -> None:
    book = ChallengeBook(ttl_ms=1000, max_open=3)
    old = [book.issue(NOW_MS) for _ in range(3)]
    newest = book.issue(NOW_MS + 10)
    assert len(book) == 3
    refused(Reason.UNKNOWN_CHALLENGE, lambda: book.redeem(old[0].challenge_id, NOW_MS + 20))  # evicted
    book.redeem(newest.challenge_id, NOW_MS + 20)
    book.issue(NOW_MS + 5000)  # purges everything expired, the used ids too
    assert len(book) == 1
    refused(Reason.UNKNOWN_CHALLENGE, lambda: book.redeem(newest.challenge_id, NOW_MS + 5000))


def test_bad_book_settings_and_random_sources() -> None:
    with pytest.raises(ValueError, match="ttl_ms and max_open must be positive"):
        ChallengeBook(ttl_ms=0)
    with pytest.raises(ValueError, match="returned 3 bytes, 16 were asked for"):
        ChallengeBook(random_bytes=lambda n: b"abc").issue(NOW_MS)


# ---- the whole flow ------------------------------------------------------------------------


def test_a_card_authenticates_end_to_end(jpki_ca: SimulatedJpkiCa, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    book = ChallengeBook()
    challenge = book.issue(NOW_MS)
    card = jpki_ca.demo_card("SIM-0006", now_ms=NOW_MS)  # PIN 6789
    reader = SimulatedCardReader()
    reader.insert(card)
    transport = ApduTrace(reader.connect())
    jpki = JpkiCard(transport)
    assert jpki.pin_tries_left() == 3
    assert jpki.verify_pin("6789").ok
    certificate, signature = jpki.read_certificate(), jpki.sign(challenge.nonce)
    reader.release()
    cas = load_ca_certificates(jpki_ca.certificate_path.read_bytes())
    identity = authenticate(book, cas, challenge.challenge_id, certificate, signature, NOW_MS + 30_000)
    assert identity == CardIdentity(serial="SIM-0006", not_after=identity.not_after)
    assert identity.not_after > NOW + dt.timedelta(days=4 * 365)
    # The same answer again is a replay, however good its signature.
    refused(Reason.REPLAYED, lambda: authenticate(book, cas, challenge.challenge_id, certificate, signature, NOW_MS))
    for form in ("6789", "36373839", "36 37 38 39"):
        assert form not in caplog.text and form not in transport.dump()


def test_trusted_cas_may_be_given_as_der(jpki_ca: SimulatedJpkiCa) -> None:
    nonce = b"n" * 32
    cert, sig = answer(jpki_ca.demo_card("SIM-0002", now_ms=NOW_MS), "2345", nonce)
    assert verify_card_response([jpki_ca.certificate_der], cert, nonce, sig, NOW_MS).serial == "SIM-0002"


# ---- refusals ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good(jpki_ca: SimulatedJpkiCa) -> tuple[bytes, bytes, bytes]:
    """A valid (nonce, certificate, signature) from SIM-0001."""
    nonce = bytes(range(32))
    cert, sig = answer(jpki_ca.demo_card("SIM-0001", now_ms=NOW_MS), "1234", nonce)
    return nonce, cert, sig


def test_the_good_answer_passes(jpki_ca: SimulatedJpkiCa, good: tuple[bytes, bytes, bytes]) -> None:
    nonce, cert, sig = good
    assert verify_card_response([jpki_ca.certificate], cert, nonce, sig, NOW_MS).serial == "SIM-0001"


def test_a_tampered_signature_is_refused(jpki_ca: SimulatedJpkiCa, good: tuple[bytes, bytes, bytes]) -> None:
    nonce, cert, sig = good
    flipped = sig[:100] + bytes([sig[100] ^ 0x01]) + sig[101:]
    refused(Reason.BAD_SIGNATURE, lambda: verify_card_response([jpki_ca.certificate], cert, nonce, flipped, NOW_MS))
    other_nonce = bytes(32)
    refused(Reason.BAD_SIGNATURE, lambda: verify_card_response([jpki_ca.certificate], cert, other_nonce, sig, NOW_MS))
    refused(Reason.MALFORMED, lambda: verify_card_response([jpki_ca.certificate], cert, nonce, sig[:-1], NOW_MS))


def test_a_tampered_certificate_is_refused(jpki_ca: SimulatedJpkiCa, good: tuple[bytes, bytes, bytes]) -> None:
    nonce, cert, sig = good
    assert cert.count(b"SIM-0001") == 2  # subject serialNumber and CN
    other_person = cert.replace(b"SIM-0001", b"SIM-0002")
    refused(
        Reason.BAD_CERTIFICATE, lambda: verify_card_response([jpki_ca.certificate], other_person, nonce, sig, NOW_MS)
    )
    refused(Reason.MALFORMED, lambda: verify_card_response([jpki_ca.certificate], cert[:-10], nonce, sig, NOW_MS))
    refused(Reason.MALFORMED, lambda: verify_card_response([jpki_ca.certificate], b"", nonce, sig, NOW_MS))


def test_a_certificate_from_another_ca_is_refused(
    jpki_ca: SimulatedJpkiCa, impostor_ca: SimulatedJpkiCa, tmp_path: Path
) -> None:
    nonce = b"x" * 32
    # Same CA name, another key: looks right, is not.
    cert, sig = answer(impostor_ca.issue_card("SIM-0001", "1234", now_ms=NOW_MS), "1234", nonce)
    error = refused(
        Reason.BAD_CERTIFICATE, lambda: verify_card_response([jpki_ca.certificate], cert, nonce, sig, NOW_MS)
    )
    assert "not signed by it" in str(error)
    # Another CA name altogether.
    stranger = SimulatedJpkiCa.open(tmp_path / "stranger", now_ms=NOW_MS, common_name="Some Other CA")
    cert, sig = answer(stranger.issue_card("SIM-0001", "1234", now_ms=NOW_MS), "1234", nonce)
    refused(Reason.UNKNOWN_ISSUER, lambda: verify_card_response([jpki_ca.certificate], cert, nonce, sig, NOW_MS))
    # Trusting several CAs: the right one is found among them.
    assert verify_card_response([jpki_ca.certificate, stranger.certificate], cert, nonce, sig, NOW_MS).serial


def test_expired_and_not_yet_valid_certificates_are_refused(jpki_ca: SimulatedJpkiCa) -> None:
    nonce = b"e" * 32
    expired = jpki_ca.issue_card("SIM-0001", "1234", not_before=NOW - dt.timedelta(days=400), not_after=NOW)
    cert, sig = answer(expired, "1234", nonce)
    assert verify_card_response([jpki_ca.certificate], cert, nonce, sig, NOW_MS).serial == "SIM-0001"  # last ms
    refused(Reason.EXPIRED, lambda: verify_card_response([jpki_ca.certificate], cert, nonce, sig, NOW_MS + 1000))
    future = jpki_ca.issue_card(
        "SIM-0001", "1234", not_before=NOW + dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=400)
    )
    cert, sig = answer(future, "1234", nonce)
    refused(Reason.NOT_YET_VALID, lambda: verify_card_response([jpki_ca.certificate], cert, nonce, sig, NOW_MS))


def test_an_expired_ca_is_refused(tmp_path: Path) -> None:
    thirty_years_ago = NOW_MS - 30 * 365 * 86_400_000
    old_ca = SimulatedJpkiCa.open(tmp_path / "old", now_ms=thirty_years_ago)
    nonce = b"o" * 32
    cert, sig = answer(old_ca.issue_card("SIM-0001", "1234", now_ms=NOW_MS), "1234", nonce)
    error = refused(Reason.EXPIRED, lambda: verify_card_response([old_ca.certificate], cert, nonce, sig, NOW_MS))
    assert "issuing CA" in str(error)


def test_a_certificate_not_for_signatures_is_refused(jpki_ca: SimulatedJpkiCa) -> None:
    nonce = b"k" * 32
    cert, sig = answer(jpki_ca.issue_card("SIM-0001", "1234", now_ms=NOW_MS, digital_signature=False), "1234", nonce)
    refused(Reason.KEY_USAGE, lambda: verify_card_response([jpki_ca.certificate], cert, nonce, sig, NOW_MS))


def test_a_broken_trust_list_is_the_offices_error(good: tuple[bytes, bytes, bytes]) -> None:
    nonce, cert, sig = good
    with pytest.raises(ValueError, match="trusted JPKI CA certificate is not DER"):
        verify_card_response([b"junk"], cert, nonce, sig, NOW_MS)
    with pytest.raises(ValueError, match="no readable PEM certificate"):
        load_ca_certificates(b"not pem")
