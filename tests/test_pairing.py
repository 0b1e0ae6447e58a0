"""Pairing codes (sync/pairing.py): made by the office (office/enrolment.py), taken by a device
(firmware_profiles/enroll.py ``pair``) over the real HTTPS enrolment endpoint."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from hypothesis import given
from hypothesis import strategies as st

from firmware_profiles.enroll import EnrolError, load_identity, pair
from office.broker_security import SecurityHome
from office.enrol_http import PAIR_FAILURES, EnrolServer
from office.enrolment import EnrolmentError, EnrolmentRegistry, TokenRefused
from office.pki import OfficeCA, write_private, write_public
from sync import pairing
from sync.messages import PairRequest

NOW = 1_795_219_200_000
MINUTE = 60_000
PROFILE = "sha256:" + "cd" * 32
FP = hashlib.sha256(b"a CA certificate").digest()


# --------------------------------------------------------------------------------------------
# the code itself
# --------------------------------------------------------------------------------------------


def test_a_code_carries_role_address_and_port_and_reads_back_as_typed() -> None:
    code = pairing.encode("board", "192.168.10.5", 8443, b"\x01\x02\x03\x04", FP)
    assert len(code.text) == 24 + 5 and code.text.count("-") == 5
    back = pairing.decode(code.text)
    assert (back.role, back.host, back.port, back.secret) == ("board", "192.168.10.5", 8443, b"\x01\x02\x03\x04")
    assert back.office_url == "https://192.168.10.5:8443"
    assert back.matches_ca(FP) and not back.matches_ca(hashlib.sha256(b"another CA").digest())
    # Lower case, spaces instead of dashes, and the letters people mistake for digits.
    sloppy = code.text.lower().replace("-", " ")
    assert pairing.decode(sloppy) == back
    confusable = code.text.replace("1", "l").replace("0", "O")
    assert pairing.decode(confusable) == back


@given(
    role=st.sampled_from(pairing.PAIRING_ROLES),
    secret=st.binary(min_size=4, max_size=4),
    position=st.integers(0, 23),
    shift=st.integers(1, 31),
)
def test_every_single_character_slip_is_caught_on_the_device(
    role: str, secret: bytes, position: int, shift: int
) -> None:
    text = pairing.encode(role, "10.0.0.7", 8443, secret, FP).text.replace("-", "")
    wrong = pairing.ALPHABET[(pairing.ALPHABET.index(text[position]) + shift) % 32]
    slipped = text[:position] + wrong + text[position + 1 :]
    with pytest.raises(pairing.PairingCodeError, match="typing mistake"):
        pairing.decode(slipped)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "enter the pairing code"),
        ("ABCD-EFGH", "has 24 characters, this one has 8"),
        ("ABCD-EFGH-JKMN-PQRS-TVWX-YZ0U", "U is not one of them"),
        ("ABCD-EFGH-JKMN-PQRS-TVWX-YZ0#", "# is not one of them"),
    ],
)
def test_what_is_wrong_with_a_code_is_said_in_one_sentence(text: str, message: str) -> None:
    with pytest.raises(pairing.PairingCodeError, match=message):
        pairing.decode(text)


def test_a_code_cannot_carry_what_it_has_no_room_for() -> None:
    with pytest.raises(ValueError, match="not an IPv4 address"):
        pairing.encode("dispenser", "office.local", 8443, b"\0" * 4, FP)
    with pytest.raises(ValueError, match="cannot pair"):
        pairing.encode("staff", "10.0.0.1", 8443, b"\0" * 4, FP)


# --------------------------------------------------------------------------------------------
# the office's side
# --------------------------------------------------------------------------------------------


@pytest.fixture
def ca(tmp_path: Path) -> OfficeCA:
    return OfficeCA.create(SecurityHome(tmp_path / "sec").ca_dir, site="demo-town", now_ms=NOW)


@pytest.fixture
def registry(tmp_path: Path, ca: OfficeCA) -> Iterator[EnrolmentRegistry]:
    reg = EnrolmentRegistry.open(tmp_path / "office.sqlite3", ca, "demo-town")
    yield reg
    reg.close()


def test_the_office_names_each_new_device_and_stores_only_the_hash(tmp_path: Path, registry: EnrolmentRegistry) -> None:
    first = registry.issue_pairing("dispenser", host="127.0.0.1", port=8443, now_ms=NOW)
    second = registry.issue_pairing("dispenser", host="127.0.0.1", port=8443, now_ms=NOW)
    board = registry.issue_pairing("board", host="127.0.0.1", port=8443, now_ms=NOW)
    assert (first.device_id, second.device_id, board.device_id) == ("dispenser-1", "dispenser-2", "board-1")
    assert first.expires_ms == NOW + 60 * MINUTE
    pending = registry.pending_pairings(NOW)
    assert [(p.device_id, p.role) for p in pending] == [
        ("dispenser-1", "dispenser"),
        ("dispenser-2", "dispenser"),
        ("board-1", "board"),
    ]
    stored = sqlite3.connect(tmp_path / "office.sqlite3").execute("SELECT token_hash FROM enrol_tokens").fetchall()
    secret = pairing.decode(first.code).secret
    assert (pairing.secret_hash(secret),) in stored
    raw = (tmp_path / "office.sqlite3").read_bytes()
    assert first.code.encode() not in raw and first.code.replace("-", "").encode() not in raw
    assert registry.pending_pairings(NOW + 61 * MINUTE) == []


def test_a_withdrawn_code_leaves_the_list_and_is_refused(registry: EnrolmentRegistry) -> None:
    made = registry.issue_pairing("kiosk", host="127.0.0.1", port=8443, now_ms=NOW)
    assert registry.withdraw_pairing("kiosk-1", NOW + 1)
    assert not registry.withdraw_pairing("kiosk-1", NOW + 2)
    assert registry.pending_pairings(NOW + 3) == []
    with pytest.raises(TokenRefused, match="withdrawn"):
        registry.redeem_pairing(made.code, "kiosk", b"unused", PROFILE, now_ms=NOW + 4)


def test_the_office_refuses_to_make_a_code_it_cannot_honour(registry: EnrolmentRegistry) -> None:
    with pytest.raises(EnrolmentError, match="cannot pair"):
        registry.issue_pairing("staff", host="127.0.0.1", port=8443, now_ms=NOW)
    with pytest.raises(EnrolmentError, match="not an IPv4 address"):
        registry.issue_pairing("board", host="office.local", port=8443, now_ms=NOW)
    with pytest.raises(EnrolmentError, match="validity"):
        registry.issue_pairing("board", host="127.0.0.1", port=8443, now_ms=NOW, valid_minutes=0)


# --------------------------------------------------------------------------------------------
# device and office over HTTPS
# --------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.ms = NOW

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def endpoint(tmp_path: Path, registry: EnrolmentRegistry, clock: Clock) -> Iterator[EnrolServer]:
    files = registry.ca.issue_server(["office.test"], now_ms=NOW)
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    write_public(cert, files.cert_pem)
    write_private(key, files.key_pem)
    server = EnrolServer(
        registry, certfile=cert, keyfile=key, host="127.0.0.1", port=0, broker="mqtts://office.test:8883", wall_ms=clock
    )
    with server:
        yield server


def code_for(endpoint: EnrolServer, role: str = "dispenser", minutes: float = 60.0) -> str:
    return endpoint.registry.issue_pairing(
        role, host="127.0.0.1", port=endpoint.port, now_ms=NOW, valid_minutes=minutes
    ).code


def test_a_device_pairs_with_a_code_and_gets_the_id_the_office_chose(tmp_path: Path, endpoint: EnrolServer) -> None:
    identity = pair(code_for(endpoint), "dispenser", PROFILE, tmp_path / "tls")
    assert (identity.device_id, identity.role, identity.site) == ("dispenser-1", "dispenser", "demo-town")
    cert = x509.load_pem_x509_certificate(identity.cert.read_bytes())
    assert cert.subject.rfc4514_string().startswith("CN=dispenser-1")
    assert load_identity(tmp_path / "tls").device_id == "dispenser-1"
    device = endpoint.registry.device("dispenser-1")
    assert device is not None and device.profile_hash == PROFILE and device.role == "dispenser"
    assert endpoint.registry.pending_pairings(NOW) == []


def test_a_code_used_twice_is_refused_the_second_time(tmp_path: Path, endpoint: EnrolServer) -> None:
    code = code_for(endpoint)
    pair(code, "dispenser", PROFILE, tmp_path / "one")
    with pytest.raises(EnrolError, match="already used"):
        pair(code, "dispenser", PROFILE, tmp_path / "two")
    assert not (tmp_path / "two").exists()


def test_an_expired_code_is_refused(tmp_path: Path, endpoint: EnrolServer, clock: Clock) -> None:
    code = code_for(endpoint, minutes=5)
    clock.ms = NOW + 6 * MINUTE
    with pytest.raises(EnrolError, match="expired"):
        pair(code, "dispenser", PROFILE, tmp_path / "tls")


def test_a_code_for_another_role_is_refused_by_the_device_and_by_the_office(
    tmp_path: Path, endpoint: EnrolServer
) -> None:
    code = code_for(endpoint, role="board")
    with pytest.raises(EnrolError, match="for a board, not a dispenser"):
        pair(code, "dispenser", PROFILE, tmp_path / "tls")
    # A device that skipped its own check: the office refuses too, and the code still works.
    status, answer = endpoint.pair(PairRequest(code=code, role="dispenser", csr="x", profile_hash=PROFILE))
    assert status == 403 and "for a board, not a dispenser" in str(answer)
    assert pair(code, "board", PROFILE, tmp_path / "tls").device_id == "board-1"


def test_a_forged_code_is_refused_before_anything_is_sent(tmp_path: Path, endpoint: EnrolServer) -> None:
    # Right address and format, a secret of the forger's: the check cannot match the office's CA.
    forged = pairing.encode("dispenser", "127.0.0.1", endpoint.port, secrets.token_bytes(4), FP).text
    seen: list[str] = []
    real = endpoint.registry.redeem_pairing

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append("sent")
        return real(*args, **kwargs)

    endpoint.registry.redeem_pairing = spy  # type: ignore[method-assign]
    with pytest.raises(EnrolError, match="not the one this code was made by"):
        pair(forged, "dispenser", PROFILE, tmp_path / "tls")
    assert seen == []
    # Sent anyway (a device without the check): the office refuses it too.
    with pytest.raises(TokenRefused, match="not made by this office"):
        real(forged, "dispenser", b"csr", PROFILE, now_ms=NOW)


def test_a_code_of_another_office_is_refused(tmp_path: Path, endpoint: EnrolServer) -> None:
    other = OfficeCA.create(SecurityHome(tmp_path / "other").ca_dir, site="elsewhere", now_ms=NOW)
    foreign = pairing.new_code("dispenser", "127.0.0.1", endpoint.port, other.fingerprint, secrets.token_bytes).text
    with pytest.raises(EnrolError, match="not the one this code was made by"):
        pair(foreign, "dispenser", PROFILE, tmp_path / "tls")


def test_an_unreachable_office_is_named(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = pairing.encode("dispenser", "127.0.0.1", port, b"abcd", FP).text
    with pytest.raises(EnrolError, match="cannot reach the office at 127.0.0.1"):
        pair(code, "dispenser", PROFILE, tmp_path / "tls", timeout=3)


def test_a_run_of_wrong_codes_closes_pairing_for_a_while(tmp_path: Path, endpoint: EnrolServer) -> None:
    good = code_for(endpoint)
    now = [1000.0]
    endpoint._monotonic = lambda: now[0]
    for _ in range(PAIR_FAILURES):
        wrong = pairing.new_code(
            "dispenser", "127.0.0.1", endpoint.port, endpoint.registry.ca.fingerprint, secrets.token_bytes
        )
        status, _answer = endpoint.pair(PairRequest(code=wrong.text, role="dispenser", csr="x", profile_hash=PROFILE))
        assert status == 403
    with pytest.raises(EnrolError, match="too many wrong pairing codes: try again in 10 minutes"):
        pair(good, "dispenser", PROFILE, tmp_path / "tls")
    now[0] += 601
    assert pair(good, "dispenser", PROFILE, tmp_path / "tls").device_id == "dispenser-1"


def test_two_devices_with_one_code_at_the_same_time_give_one_identity(tmp_path: Path, endpoint: EnrolServer) -> None:
    code = code_for(endpoint)
    results: list[str] = []

    def go(name: str) -> None:
        try:
            results.append(pair(code, "dispenser", PROFILE, tmp_path / name).device_id)
        except EnrolError as err:
            results.append(str(err))

    threads = [threading.Thread(target=go, args=(f"d{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("dispenser-1") == 1
    assert next(r for r in results if r != "dispenser-1").endswith("a code works once: make a new one")


def test_pairing_points_the_devices_apt_at_the_offices_repository(
    tmp_path: Path, endpoint: EnrolServer, clock: Clock
) -> None:
    """The office tells its apt repository in the answer (over TLS pinned to its CA); the device
    writes the key and the deb822 sources that office/apt_repo.py would print for it."""
    from firmware_profiles.detect import UsbDevice
    from firmware_profiles.loader import load_catalog
    from firmware_profiles.pairing_flow import APT_SUITE, default_apt_dir, pair_and_configure, plan
    from office import apt_repo

    key = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ…\n-----END PGP PUBLIC KEY BLOCK-----\n"
    endpoint.apt = ("http://127.0.0.1:8080/apt/", ("main", "previous1", "previous2"), key)
    planned = plan(
        load_catalog(), "dispenser", [UsbDevice(vendor=0x04B8, product=0x0E15, product_name="TM-T20III")], []
    )
    apt = tmp_path / "etc-apt"
    identity = pair_and_configure(planned, code_for(endpoint), tmp_path / "device.toml", tmp_path / "tls", apt_dir=apt)
    assert identity.apt is not None and identity.apt[0] == "http://127.0.0.1:8080/apt/"
    keyring = apt / "keyrings" / "madoguchi-office.asc"
    assert keyring.read_text() == key
    sources = (apt / "sources.list.d" / "madoguchi-office.sources").read_text()
    assert sources == apt_repo.sources_text(endpoint.apt[0], endpoint.apt[1], keyring=str(keyring))
    assert APT_SUITE == apt_repo.CODENAME
    assert "apt" not in (tmp_path / "tls" / "current" / "identity.json").read_text()  # not kept with the identity
    assert default_apt_dir() is None  # this is no packaged device: its own apt is left alone
    # Without an apt directory (a developer's machine), nothing is written.
    endpoint.apt = None
    again = pair_and_configure(planned, code_for(endpoint), tmp_path / "other.toml", tmp_path / "tls2", apt_dir=None)
    assert again.apt is None
