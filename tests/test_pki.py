"""The office CA (office/pki.py): files and modes, what it signs and refuses, revocation, CRL."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from office.pki import OfficeCA, PkiError, fingerprint_text, load_certificate

NOW = 1_795_219_200_000  # 2026-11-21, the office's clock in these tests
DAY = 86_400_000


def csr_for(name: str, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None) -> tuple[bytes, object]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM), key


@pytest.fixture
def ca(tmp_path: Path) -> OfficeCA:
    return OfficeCA.create(tmp_path / "ca", site="demo-town", now_ms=NOW)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_writes_key_0600_in_a_0700_directory_and_loads_back(ca: OfficeCA) -> None:
    assert mode(ca.directory) == 0o700
    assert mode(ca.directory / "ca.key") == 0o600
    assert (ca.directory / "ca.pem").exists() and ca.crl_path.exists()
    again = OfficeCA.load(ca.directory)
    assert again.fingerprint == ca.fingerprint
    constraints = ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0
    assert len(fingerprint_text(ca.certificate).split(":")) == 32


def test_create_refuses_to_overwrite_an_existing_ca(ca: OfficeCA) -> None:
    with pytest.raises(PkiError, match="already holds an office CA"):
        OfficeCA.create(ca.directory, site="demo-town", now_ms=NOW)
    assert OfficeCA.open_or_create(ca.directory, site="demo-town", now_ms=NOW).fingerprint == ca.fingerprint


def test_load_refuses_a_key_readable_by_others(ca: OfficeCA) -> None:
    os.chmod(ca.directory / "ca.key", 0o644)
    with pytest.raises(PkiError, match="chmod 600"):
        OfficeCA.load(ca.directory)


def test_load_names_a_missing_ca_and_a_mismatched_pair(tmp_path: Path, ca: OfficeCA) -> None:
    with pytest.raises(PkiError, match="holds no office CA"):
        OfficeCA.load(tmp_path / "nowhere")
    other = OfficeCA.create(tmp_path / "other", site="demo-town", now_ms=NOW)
    (ca.directory / "ca.pem").write_bytes(other.cert_pem)
    with pytest.raises(PkiError, match="does not belong to"):
        OfficeCA.load(ca.directory)


def test_device_certificate_from_csr_carries_id_role_and_client_use_only(ca: OfficeCA) -> None:
    csr, key = csr_for("disp-1")
    issued = ca.sign_csr(csr, name="disp-1", role="dispenser", now_ms=NOW)
    cert = load_certificate(issued.cert_pem)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "disp-1"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "dispenser"
    assert cert.public_key() == key.public_key()  # type: ignore[attr-defined]
    assert ca.issued_by_me(cert)
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # Backdated an hour for small clock corrections; five years of service life.
    assert cert.not_valid_before_utc.timestamp() * 1000 == NOW - 3_600_000
    assert 5 * 365 * DAY <= cert.not_valid_after_utc.timestamp() * 1000 - NOW <= 5 * 366 * DAY
    record = issued.record
    assert (record.name, record.role, record.kind, record.serial) == (
        "disp-1",
        "dispenser",
        "device",
        cert.serial_number,
    )
    assert ca.records() == [record]


def test_csr_for_another_name_a_forged_signature_or_a_weak_key_is_refused(ca: OfficeCA) -> None:
    csr, _ = csr_for("disp-2")
    with pytest.raises(PkiError, match="is for 'disp-2'"):
        ca.sign_csr(csr, name="disp-1", role="dispenser", now_ms=NOW)
    good, _ = csr_for("disp-1")
    der = bytearray(x509.load_pem_x509_csr(good).public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature
    forged = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(PkiError, match="signature does not match"):
        ca.sign_csr(forged, name="disp-1", role="dispenser", now_ms=NOW)
    weak, _ = csr_for("disp-1", rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(PkiError, match="RSA-1024"):
        ca.sign_csr(weak, name="disp-1", role="dispenser", now_ms=NOW)
    with pytest.raises(PkiError, match="not a PEM CSR"):
        ca.sign_csr(b"hello", name="disp-1", role="dispenser", now_ms=NOW)
    with pytest.raises(PkiError, match="name 'disp/1' is invalid"):
        ca.sign_csr(good, name="disp/1", role="dispenser", now_ms=NOW)
    assert ca.records() == []


def test_server_certificate_names_the_hosts_plus_loopback(ca: OfficeCA) -> None:
    server = ca.issue_server(["office.local", "192.168.10.5"], now_ms=NOW)
    cert = load_certificate(server.cert_pem)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.DNSName)) == {"office.local", "localhost"}
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"192.168.10.5", "127.0.0.1"}
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    key = serialization.load_pem_private_key(server.key_pem, password=None)
    assert key.public_key() == cert.public_key()
    with pytest.raises(PkiError, match="neither an IP address nor a host name"):
        ca.issue_server(["http://office"], now_ms=NOW)


def crl_serials(ca: OfficeCA) -> set[int]:
    crl = x509.load_pem_x509_crl(ca.crl_path.read_bytes())
    assert crl.is_signature_valid(ca.certificate.public_key())  # type: ignore[arg-type]
    return {entry.serial_number for entry in crl}


def test_revocation_is_listed_in_a_signed_crl_that_stays_valid_for_years(ca: OfficeCA) -> None:
    first = ca.sign_csr(csr_for("disp-1")[0], name="disp-1", role="dispenser", now_ms=NOW).record
    other = ca.sign_csr(csr_for("board-1")[0], name="board-1", role="board", now_ms=NOW).record
    assert crl_serials(ca) == set()
    revoked = ca.revoke_name("disp-1", now_ms=NOW + 1000, reason="key_compromise")
    assert [r.serial for r in revoked] == [first.serial]
    assert crl_serials(ca) == {first.serial}
    crl = x509.load_pem_x509_crl(ca.crl_path.read_bytes())
    assert crl.next_update_utc is not None and crl.next_update_utc.timestamp() * 1000 > NOW + 3650 * DAY - DAY
    entry = crl.get_revoked_certificate_by_serial_number(first.serial)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    # A second revocation changes nothing; the other device is untouched.
    assert ca.revoke_name("disp-1", now_ms=NOW + 2000) == []
    assert [r.valid_at(NOW + 3000) for r in ca.records()] == [False, True]
    assert other.serial not in crl_serials(ca)
    with pytest.raises(PkiError, match="no certificate with serial"):
        ca.revoke_serial(12345, now_ms=NOW)
    with pytest.raises(PkiError, match="reason 'lost' is unknown"):
        ca.revoke_name("board-1", now_ms=NOW, reason="lost")


def test_reissuing_a_name_supersedes_its_older_certificate(ca: OfficeCA) -> None:
    old = ca.sign_csr(csr_for("disp-1")[0], name="disp-1", role="dispenser", now_ms=NOW).record
    new = ca.sign_csr(csr_for("disp-1")[0], name="disp-1", role="dispenser", now_ms=NOW + 1).record
    records = {r.serial: r for r in ca.records()}
    assert records[old.serial].reason == "superseded" and records[new.serial].revoked_ms is None
    assert crl_serials(ca) == {old.serial}


def test_certificate_validity_is_judged_at_the_given_time(ca: OfficeCA) -> None:
    record = ca.sign_csr(csr_for("disp-1")[0], name="disp-1", role="dispenser", now_ms=NOW, valid_days=1).record
    assert record.valid_at(NOW) and not record.valid_at(NOW + 2 * DAY) and not record.valid_at(NOW - 2 * 3_600_000)


def test_two_processes_sharing_the_ca_never_lose_each_others_records(ca: OfficeCA) -> None:
    """Read-modify-write of issued.json under the directory lock: the enrolment endpoint and a
    revocation from the command line may run at the same time."""
    others = [OfficeCA.load(ca.directory) for _ in range(3)]
    errors: list[BaseException] = []

    def issue(instance: OfficeCA, prefix: str) -> None:
        try:
            for i in range(8):
                instance.issue_identity(name=f"{prefix}-{i}", role="staff", now_ms=NOW)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=issue, args=(inst, f"t{n}")) for n, inst in enumerate(others)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(ca.records()) == 24
    assert time.monotonic() - started < 10


def test_damaged_register_is_named(ca: OfficeCA) -> None:
    (ca.directory / "issued.json").write_text("{not json")
    with pytest.raises(PkiError, match="issued.json is damaged"):
        ca.records()
