"""Enrolment: one-time tokens (office/enrolment.py), the HTTPS endpoint (office/enrol_http.py) and
the device side (firmware_profiles/enroll.py), against each other over real TLS sockets."""

from __future__ import annotations

import http.client
import json
import os
import sqlite3
import ssl
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from firmware_profiles import enroll as device_side
from firmware_profiles.enroll import EnrolError, enroll, load_identity
from office.broker_security import SecurityHome
from office.enrol_http import EnrolServer
from office.enrolment import (
    EnrolmentError,
    EnrolmentRegistry,
    TokenRefused,
    format_token,
    issue_enrolment_token,
    parse_token,
)
from office.pki import OfficeCA, load_certificate, write_private, write_public

NOW = 1_795_219_200_000
HOUR = 3_600_000
PROFILE = "sha256:" + "ab" * 32


def csr_for(name: str) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM), key


@pytest.fixture
def ca(tmp_path: Path) -> OfficeCA:
    return OfficeCA.create(SecurityHome(tmp_path / "sec").ca_dir, site="demo-town", now_ms=NOW)


@pytest.fixture
def registry(tmp_path: Path, ca: OfficeCA) -> Iterator[EnrolmentRegistry]:
    reg = EnrolmentRegistry.open(tmp_path / "office.sqlite3", ca, "demo-town")
    yield reg
    reg.close()


# --------------------------------------------------------------------------------------------
# tokens
# --------------------------------------------------------------------------------------------


def test_token_carries_the_ca_fingerprint_and_both_sides_read_it_alike(registry: EnrolmentRegistry) -> None:
    token = registry.issue_token("disp-1", "dispenser", now_ms=NOW)
    assert token.text.startswith("mdg1-") and token.expires_ms == NOW + 24 * HOUR
    secret, fingerprint = parse_token(token.text)
    assert fingerprint == registry.ca.fingerprint and len(secret) == 20
    assert device_side.parse_token(token.text) == (secret, fingerprint)
    # What a person adds while copying it (spaces, line breaks, upper case, extra dashes) is fine.
    sloppy = token.text.upper()[:20] + " \n" + token.text.upper()[20:40] + "-" + token.text.upper()[40:]
    assert parse_token(sloppy) == device_side.parse_token(sloppy) == (secret, fingerprint)
    assert format_token(secret, fingerprint) == token.text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hello", "not an enrolment token"),
        ("mdg1-abc-def", "cut or mistyped"),
        ("mdg1-" + "1" * 84, "not base32"),
    ],
)
def test_malformed_tokens_are_named(text: str, message: str) -> None:
    with pytest.raises(TokenRefused, match=message):
        parse_token(text)
    with pytest.raises(EnrolError, match=message):
        device_side.parse_token(text)


def test_only_the_hash_of_the_token_is_stored(tmp_path: Path, registry: EnrolmentRegistry) -> None:
    token = registry.issue_token("disp-1", "dispenser", now_ms=NOW)
    secret, _ = parse_token(token.text)
    raw = (tmp_path / "office.sqlite3").read_bytes() + (tmp_path / "office.sqlite3-wal").read_bytes()
    for form in (token.text.encode(), secret, secret.hex().encode()):
        assert form not in raw


def test_redeem_signs_the_devices_own_key_and_records_the_profile(registry: EnrolmentRegistry) -> None:
    token = registry.issue_token("disp-1", "dispenser", now_ms=NOW)
    csr, key = csr_for("disp-1")
    enrolled = registry.redeem(token.text, csr, "disp-1", PROFILE, now_ms=NOW + HOUR)
    cert = load_certificate(enrolled.certificate_pem.encode())
    assert cert.public_key() == key.public_key()
    assert registry.ca.issued_by_me(cert)
    assert (enrolled.mqtt_username, enrolled.role, enrolled.site) == ("disp-1", "dispenser", "demo-town")
    assert enrolled.ca_pem.encode() == registry.ca.cert_pem
    device = registry.device("disp-1")
    assert device is not None
    assert (device.serial, device.profile_hash, device.enrolled_ms, device.revoked_ms) == (
        enrolled.serial,
        PROFILE,
        NOW + HOUR,
        None,
    )


def test_a_token_works_once(registry: EnrolmentRegistry) -> None:
    token = registry.issue_token("disp-1", "dispenser", now_ms=NOW)
    registry.redeem(token.text, csr_for("disp-1")[0], "disp-1", PROFILE, now_ms=NOW + 1)
    with pytest.raises(TokenRefused, match=r"already used at 2026-11-21 \d\d:\d\d UTC; a token works once"):
        registry.redeem(token.text, csr_for("disp-1")[0], "disp-1", PROFILE, now_ms=NOW + 2)
    assert len(registry.ca.records()) == 1


def test_an_expired_token_is_refused(registry: EnrolmentRegistry) -> None:
    token = registry.issue_token("disp-1", "dispenser", now_ms=NOW, valid_hours=2)
    with pytest.raises(TokenRefused, match="expired at"):
        registry.redeem(token.text, csr_for("disp-1")[0], "disp-1", PROFILE, now_ms=NOW + 2 * HOUR)
    assert registry.ca.records() == []


def test_a_token_for_another_device_or_a_bad_request_does_not_use_it_up(registry: EnrolmentRegistry) -> None:
    token = registry.issue_token("disp-1", "dispenser", now_ms=NOW)
    with pytest.raises(TokenRefused, match="is for device 'disp-1', not 'disp-2'"):
        registry.redeem(token.text, csr_for("disp-2")[0], "disp-2", PROFILE, now_ms=NOW)
    with pytest.raises(EnrolmentError, match="cannot sign the certificate request"):
        registry.redeem(token.text, b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", "disp-1", PROFILE, now_ms=NOW)
    with pytest.raises(EnrolmentError, match="profile hash"):
        registry.redeem(token.text, csr_for("disp-1")[0], "disp-1", "no spaces allowed", now_ms=NOW)
    registry.redeem(token.text, csr_for("disp-1")[0], "disp-1", PROFILE, now_ms=NOW)


def test_a_newer_token_replaces_the_older_one(registry: EnrolmentRegistry) -> None:
    old = registry.issue_token("disp-1", "dispenser", now_ms=NOW)
    new = registry.issue_token("disp-1", "dispenser", now_ms=NOW + 1)
    with pytest.raises(TokenRefused, match="replaced by a newer one"):
        registry.redeem(old.text, csr_for("disp-1")[0], "disp-1", PROFILE, now_ms=NOW + 2)
    registry.redeem(new.text, csr_for("disp-1")[0], "disp-1", PROFILE, now_ms=NOW + 2)


def test_tokens_of_another_office_and_unknown_tokens_are_refused(tmp_path: Path, registry: EnrolmentRegistry) -> None:
    other_ca = OfficeCA.create(tmp_path / "other-ca", site="demo-town", now_ms=NOW)
    other = EnrolmentRegistry.open(tmp_path / "other.sqlite3", other_ca, "demo-town")
    foreign = other.issue_token("disp-1", "dispenser", now_ms=NOW)
    other.close()
    with pytest.raises(TokenRefused, match="issued by another office CA"):
        registry.redeem(foreign.text, csr_for("disp-1")[0], "disp-1", PROFILE, now_ms=NOW)
    guessed = format_token(bytes(20), registry.ca.fingerprint)
    with pytest.raises(TokenRefused, match="not recognised"):
        registry.redeem(guessed, csr_for("disp-1")[0], "disp-1", PROFILE, now_ms=NOW)


@pytest.mark.parametrize(
    ("device", "role", "hours", "message"),
    [
        ("office", "dispenser", 24, "reserved for the office"),
        ("disp 1", "dispenser", 24, "device id 'disp 1' is invalid"),
        ("disp-1", "admin", 24, "role 'admin' cannot enrol"),
        ("disp-1", "dispenser", 0, "token validity 0 h is invalid"),
    ],
)
def test_bad_token_requests_are_named(
    registry: EnrolmentRegistry, device: str, role: str, hours: float, message: str
) -> None:
    with pytest.raises(EnrolmentError, match=message):
        registry.issue_token(device, role, now_ms=NOW, valid_hours=hours)


def test_two_simultaneous_redemptions_of_one_token_give_one_certificate(
    tmp_path: Path, registry: EnrolmentRegistry
) -> None:
    token = registry.issue_token("disp-1", "dispenser", now_ms=NOW)
    registries = [EnrolmentRegistry.open(tmp_path / "office.sqlite3", registry.ca, "demo-town") for _ in range(4)]
    barrier = threading.Barrier(len(registries))
    outcomes: list[str] = []

    def redeem(reg: EnrolmentRegistry) -> None:
        csr = csr_for("disp-1")[0]
        barrier.wait()
        try:
            reg.redeem(token.text, csr, "disp-1", PROFILE, now_ms=NOW)
            outcomes.append("ok")
        except TokenRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=redeem, args=(r,)) for r in registries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in registries:
        r.close()
    assert sorted(outcomes) == ["ok", "refused", "refused", "refused"]
    assert len(registry.ca.records()) == 1


def test_registry_shares_a_connection_in_autocommit_mode(tmp_path: Path, ca: OfficeCA) -> None:
    conn = sqlite3.connect(str(tmp_path / "shared.sqlite3"), isolation_level=None)
    conn.execute("CREATE TABLE other (x)")
    registry = EnrolmentRegistry(conn, ca, "demo-town")
    token = registry.issue_token("board-1", "board", now_ms=NOW)
    registry.redeem(token.text, csr_for("board-1")[0], "board-1", PROFILE, now_ms=NOW)
    conn.execute("BEGIN")
    with pytest.raises(EnrolmentError, match="inside another transaction"):
        registry.issue_token("board-2", "board", now_ms=NOW)
    conn.execute("ROLLBACK")
    registry.mark_revoked("board-1", NOW + 5)
    record = registry.device("board-1")
    assert record is not None and record.revoked_ms == NOW + 5
    conn.close()


def test_issue_enrolment_token_for_the_command_line(tmp_path: Path, ca: OfficeCA) -> None:
    token = issue_enrolment_token(
        tmp_path / "sec",
        tmp_path / "office.sqlite3",
        site="demo-town",
        device_id="kiosk-1",
        role="kiosk",
        now_ms=NOW,
        valid_hours=1,
    )
    assert token.expires_ms == NOW + HOUR and parse_token(token.text)[1] == ca.fingerprint


# --------------------------------------------------------------------------------------------
# the HTTPS endpoint and the device side
# --------------------------------------------------------------------------------------------


@pytest.fixture
def endpoint(tmp_path: Path, registry: EnrolmentRegistry) -> Iterator[EnrolServer]:
    server_files = registry.ca.issue_server(["office.test"], now_ms=NOW)
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    write_public(cert, server_files.cert_pem)
    write_private(key, server_files.key_pem)
    enrolled: list[str] = []
    server = EnrolServer(
        registry,
        certfile=cert,
        keyfile=key,
        host="127.0.0.1",
        port=0,
        broker="mqtts://office.test:8883",
        on_enrolled=lambda e: enrolled.append(e.device_id),
        wall_ms=lambda: NOW + HOUR,
    )
    server.enrolled = enrolled  # type: ignore[attr-defined]
    with server:
        yield server


def test_device_enrols_over_https_and_keeps_its_key_to_itself(tmp_path: Path, endpoint: EnrolServer) -> None:
    token = endpoint.registry.issue_token("disp-1", "dispenser", now_ms=NOW)
    identity = enroll(endpoint.url(), token.text, "disp-1", PROFILE, tmp_path / "device" / "tls")
    assert (identity.device_id, identity.role, identity.site, identity.mqtt_username) == (
        "disp-1",
        "dispenser",
        "demo-town",
        "disp-1",
    )
    assert stat.S_IMODE(identity.key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "device" / "tls").stat().st_mode) == 0o700
    assert os.readlink(tmp_path / "device" / "tls" / "current") == f"gen-{identity.serial}"
    key = serialization.load_pem_private_key(identity.key.read_bytes(), password=None)
    cert = load_certificate(identity.cert.read_bytes())
    assert cert.public_key() == key.public_key()
    assert identity.ca.read_bytes() == endpoint.registry.ca.cert_pem
    # The office has the certificate and the profile hash, never the key.
    device = endpoint.registry.device("disp-1")
    assert device is not None and device.serial == identity.serial and device.profile_hash == PROFILE
    key_der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert not any(key_der in p.read_bytes() for p in endpoint.registry.ca.directory.iterdir() if p.is_file())
    assert endpoint.enrolled == ["disp-1"]  # type: ignore[attr-defined]
    assert load_identity(tmp_path / "device" / "tls") == identity
    url = identity.broker_url()
    assert url.startswith("mqtts://office.test:8883/?ca=") and url.endswith("&server_time=ignore")
    assert f"key={identity.key}" in url


def test_enrolling_again_replaces_the_identity_in_one_step(tmp_path: Path, endpoint: EnrolServer) -> None:
    directory = tmp_path / "tls"
    first = enroll(
        endpoint.url(),
        endpoint.registry.issue_token("disp-1", "dispenser", now_ms=NOW).text,
        "disp-1",
        PROFILE,
        directory,
    )
    second = enroll(
        endpoint.url(),
        endpoint.registry.issue_token("disp-1", "dispenser", now_ms=NOW).text,
        "disp-1",
        PROFILE,
        directory,
    )
    assert first.serial != second.serial
    assert sorted(p.name for p in directory.iterdir()) == ["current", f"gen-{second.serial}"]
    assert load_identity(directory).serial == second.serial
    revoked = {r.serial_hex: r.reason for r in endpoint.registry.ca.records() if r.kind == "device"}
    assert revoked == {first.serial: "superseded", second.serial: None}


def test_device_side_reports_a_used_or_expired_token_in_one_line(tmp_path: Path, endpoint: EnrolServer) -> None:
    token = endpoint.registry.issue_token("disp-1", "dispenser", now_ms=NOW)
    enroll(endpoint.url(), token.text, "disp-1", PROFILE, tmp_path / "a")
    with pytest.raises(EnrolError, match="refused the enrolment: this enrolment token was already used"):
        enroll(endpoint.url(), token.text, "disp-1", PROFILE, tmp_path / "b")
    short = endpoint.registry.issue_token("disp-2", "dispenser", now_ms=NOW, valid_hours=0.5)
    with pytest.raises(EnrolError, match="expired at"):
        enroll(endpoint.url(), short.text, "disp-2", PROFILE, tmp_path / "c")
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_device_refuses_an_office_whose_ca_is_not_the_one_in_the_token(tmp_path: Path, endpoint: EnrolServer) -> None:
    """An impostor on the network with its own CA never sees the token."""
    impostor_ca = OfficeCA.create(tmp_path / "impostor", site="demo-town", now_ms=NOW)
    impostor_reg = EnrolmentRegistry.open(tmp_path / "impostor.sqlite3", impostor_ca, "demo-town")
    files = impostor_ca.issue_server(["office.test"], now_ms=NOW)
    write_public(tmp_path / "i.pem", files.cert_pem)
    write_private(tmp_path / "i.key", files.key_pem)
    posts: list[str] = []
    with EnrolServer(
        impostor_reg,
        certfile=tmp_path / "i.pem",
        keyfile=tmp_path / "i.key",
        host="127.0.0.1",
        port=0,
        on_enrolled=lambda e: posts.append(e.device_id),
    ) as impostor:
        token = endpoint.registry.issue_token("disp-1", "dispenser", now_ms=NOW)
        with pytest.raises(EnrolError, match="is not the one the token names"):
            enroll(impostor.url(), token.text, "disp-1", PROFILE, tmp_path / "tls")
    impostor_reg.close()
    assert posts == [] and not (tmp_path / "tls").exists()
    # The real office still accepts the token: it was never sent anywhere.
    enroll(endpoint.url(), token.text, "disp-1", PROFILE, tmp_path / "tls")


def test_device_checks_the_office_host_name(tmp_path: Path, registry: EnrolmentRegistry) -> None:
    """127.0.0.2 reaches the same machine but is not named in the server certificate."""
    files = registry.ca.issue_server(["office.test"], now_ms=NOW)
    write_public(tmp_path / "s.pem", files.cert_pem)
    write_private(tmp_path / "s.key", files.key_pem)
    with EnrolServer(
        registry, certfile=tmp_path / "s.pem", keyfile=tmp_path / "s.key", host="127.0.0.2", port=0
    ) as srv:
        token = registry.issue_token("disp-1", "dispenser", now_ms=NOW)
        with pytest.raises(EnrolError, match="for the name '127.0.0.2'"):
            enroll(srv.url("127.0.0.2"), token.text, "disp-1", PROFILE, tmp_path / "tls")
    assert registry.device("disp-1") is None


def test_device_side_names_a_bad_address_or_an_unreachable_office(tmp_path: Path, endpoint: EnrolServer) -> None:
    token = endpoint.registry.issue_token("disp-1", "dispenser", now_ms=NOW).text
    with pytest.raises(EnrolError, match="use https://host:port"):
        enroll("http://127.0.0.1:1", token, "disp-1", PROFILE, tmp_path / "tls")
    endpoint.stop()
    with pytest.raises(EnrolError, match="cannot reach the office"):
        enroll(endpoint.url(), token, "disp-1", PROFILE, tmp_path / "tls", timeout=2)
    with pytest.raises(EnrolError, match="device id 'a b' is invalid"):
        enroll(endpoint.url(), token, "a b", PROFILE, tmp_path / "tls")
    with pytest.raises(EnrolError, match="holds no enrolled identity"):
        load_identity(tmp_path / "tls")


def post(server: EnrolServer, path: str, body: bytes, method: str = "POST") -> tuple[int, dict[str, object]]:
    context = ssl.create_default_context(cadata=server.registry.ca.cert_pem.decode())
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=5)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_endpoint_answers_bad_requests_with_a_reason(endpoint: EnrolServer) -> None:
    assert post(endpoint, "/enrol", b"{nope")[0] == 400
    status, answer = post(endpoint, "/enrol", json.dumps({"token": "x"}).encode())
    assert status == 400 and str(answer["error"]) == "device_id: required; send token, device_id, csr, profile_hash"
    status, answer = post(
        endpoint, "/enrol", json.dumps({"token": "x", "device_id": "bad id", "csr": "c", "profile_hash": "p"}).encode()
    )
    assert status == 400 and str(answer["error"]).startswith("device_id: expected an id of 1-63 letters")
    status, answer = post(
        endpoint, "/enrol", json.dumps({"token": "mdg1-x", "device_id": "d", "csr": "c", "profile_hash": "p"}).encode()
    )
    assert status == 403 and "cut or mistyped" in str(answer["error"])
    assert post(endpoint, "/enrol", b"x" * (64 * 1024 + 1))[0] == 413
    assert post(endpoint, "/other", b"{}")[0] == 404
    assert post(endpoint, "/enrol", b"", method="GET")[0] == 404
