"""The office's signatures (sync/signing.py): what a pinned device believes and what it refuses."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync import messages, protocol, signing

SITE = "demo-town"


@pytest.fixture()
def signer() -> signing.OfficeSigner:
    return signing.OfficeSigner(Ed25519PrivateKey.generate())


def _ack(acked: int = 41) -> bytes:
    return protocol.encode(messages.Ack(acked=acked, sent_ms=1_700_000_000_000))


def test_a_sealed_document_verifies_and_still_decodes(signer: signing.OfficeSigner) -> None:
    raw = signer.seal("ack", SITE, "disp-1", _ack())
    verifier = signing.OfficeVerifier.from_text(signer.public_text)
    assert verifier.check("ack", SITE, "disp-1", raw) == raw
    doc = protocol.decode("ack", raw)
    assert doc.acked == 41  # the models ignore the sig member


@pytest.mark.parametrize(
    ("name", "site", "device"),
    [
        ("ack", SITE, "disp-2"),  # another device's ack
        ("ack", "other-town", "disp-1"),  # another site's
        ("lease", SITE, "disp-1"),  # the same bytes on another topic
    ],
)
def test_a_signature_is_bound_to_its_address(signer: signing.OfficeSigner, name: str, site: str, device: str) -> None:
    raw = signer.seal("ack", SITE, "disp-1", _ack())
    verifier = signing.OfficeVerifier(signer.public_key)
    with pytest.raises(signing.SignatureError, match="not signed by the pinned office key"):
        verifier.check(name, site, device, raw)


def test_altered_unsigned_and_foreign_documents_are_refused(signer: signing.OfficeSigner) -> None:
    verifier = signing.OfficeVerifier(signer.public_key)
    raw = signer.seal("ack", SITE, "disp-1", _ack(41))
    altered = raw.replace(b'"acked":41', b'"acked":99')
    assert altered != raw
    with pytest.raises(signing.SignatureError):
        verifier.check("ack", SITE, "disp-1", altered)
    with pytest.raises(signing.SignatureError, match="no office signature"):
        verifier.check("ack", SITE, "disp-1", _ack())
    forger = signing.OfficeSigner(Ed25519PrivateKey.generate())
    with pytest.raises(signing.SignatureError):
        verifier.check("ack", SITE, "disp-1", forger.seal("ack", SITE, "disp-1", _ack()))
    # A sig member that is not base64, or sits anywhere but at the end, is no signature either.
    junk = raw[:-88] + b"!" * 86 + b'"}'
    with pytest.raises(signing.SignatureError):
        verifier.check("ack", SITE, "disp-1", junk)
    for short in (b"", b"{}", b'{"sig":"x"}'):
        with pytest.raises(signing.SignatureError):
            verifier.check("ack", SITE, "disp-1", short)


def test_public_key_text_round_trips_and_bad_keys_say_what_is_wrong(signer: signing.OfficeSigner) -> None:
    assert signer.public_text.startswith("ed25519:") and len(signer.public_text) == 8 + 43
    assert signing.public_key_text(signing.parse_public_key(signer.public_text)) == signer.public_text
    with pytest.raises(signing.OfficeKeyError, match="starts with 'ed25519:'"):
        signing.parse_public_key("rsa:AAAA")
    with pytest.raises(signing.OfficeKeyError, match="not 32"):
        signing.parse_public_key("ed25519:AAAA")


def test_the_key_file_is_made_once_private_and_shared_by_racing_starts(tmp_path: Path) -> None:
    path = tmp_path / "office" / "office-signing.key"
    keys: list[str] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            keys.append(signing.public_key_text(signing.load_or_create_key(path).public_key()))
        except Exception as err:  # noqa: BLE001 - a thread's exception must fail the test, not only warn
            errors.append(err)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(keys) == 8
    assert len(set(keys)) == 1  # every racer ends up with the one key on disk
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name != path.name]  # no temporary left
    assert signing.public_key_text(signing.load_or_create_key(path).public_key()) == keys[0]
    path.write_bytes(b"not a key")
    with pytest.raises(signing.OfficeKeyError, match="restore it from the backup"):
        signing.load_or_create_key(path)
