"""The simulated JPKI card, its reader and its CA: the fake's own tests, in raw APDUs."""

from __future__ import annotations

import datetime as dt
import socket
import stat
import struct
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import NameOID

from drivers.card_reader import CardError, CardRemoved, NoCard, split_response
from drivers.jpki import select_ap_command, select_ef_command, sha256_digest_info, sign_command, verify_command
from drivers.jpki_sim import (
    CERT_FILE_SIZE,
    DEMO_CARDS,
    JPKI_ATR,
    VPCD_GET_ATR,
    VPCD_POWER_ON,
    SimulatedCardReader,
    SimulatedJpkiCa,
    SimulatedJpkiCard,
    demo_pin,
    main,
    serve_vpcd,
)

SELECT_PIN = select_ef_command(0x0018)
SELECT_KEY = select_ef_command(0x0017)
SELECT_CERT = select_ef_command(0x000A)
VERIFY_STATUS = bytes.fromhex("00200080")


@pytest.fixture(scope="session")
def jpki_ca(tmp_path_factory: pytest.TempPathFactory) -> SimulatedJpkiCa:
    """One CA for the whole run; the base temp dir is shared, so card keys are made once.

    Made as of 2025-01-01 whichever test file comes first, so fixed test times fall inside it.
    """
    return SimulatedJpkiCa.open(tmp_path_factory.getbasetemp() / "jpki-ca", now_ms=1_735_689_600_000)


@pytest.fixture
def card(jpki_ca: SimulatedJpkiCa) -> SimulatedJpkiCard:
    """SIM-0001 (PIN 1234), powered up."""
    c = jpki_ca.demo_card("SIM-0001")
    c.power_on()
    return c


def sw(card: SimulatedJpkiCard, apdu: bytes) -> int:
    """The status word of ``apdu``."""
    return split_response(card.process(apdu))[1]


def run(card: SimulatedJpkiCard, *apdus: bytes) -> list[int]:
    """Status words of several commands in order."""
    return [sw(card, a) for a in apdus]


def power_cycle(card: SimulatedJpkiCard) -> None:
    """Take power away and give it back, as pulling and reinserting the card does."""
    card.power_off()
    card.power_on()


# ---- power and selection --------------------------------------------------------------------


def test_power_on_answers_the_jpki_atr_and_an_unpowered_card_takes_no_command(jpki_ca: SimulatedJpkiCa) -> None:
    c = jpki_ca.demo_card("SIM-0002")
    with pytest.raises(CardError, match="not powered"):
        c.process(select_ap_command())
    assert c.power_on() == JPKI_ATR == bytes.fromhex("3BE000FF8131FE4514")
    assert sw(c, select_ap_command()) == 0x9000


def test_files_are_found_only_inside_the_ap(card: SimulatedJpkiCard) -> None:
    assert sw(card, SELECT_PIN) == 0x6A82  # the MF has no EF 0018
    assert sw(card, bytes.fromhex("00A4040C0AD392F000260100000099")) == 0x6A82  # another AID
    assert run(card, select_ap_command(), SELECT_PIN, select_ef_command(0x1234)) == [0x9000, 0x9000, 0x6A82]
    assert sw(card, bytes.fromhex("00A4020002") + b"\x00\x18") == 0x6A86  # P2 00 (FCI) is not offered


def test_malformed_and_unknown_commands(card: SimulatedJpkiCard) -> None:
    assert sw(card, b"\x00\xa4") == 0x6700
    assert sw(card, bytes.fromhex("00A4040C05D392")) == 0x6700  # Lc says 5, 2 bytes follow
    assert sw(card, bytes.fromhex("00CA0000")) == 0x6D00
    assert sw(card, bytes.fromhex("A0A4040C")) == 0x6E00
    assert sw(card, bytes.fromhex("002A0080") + b"\x01\x00") == 0x6D00  # SIGN needs CLA 80


# ---- PIN -----------------------------------------------------------------------------------


def test_verify_needs_the_pin_file_selected(card: SimulatedJpkiCard) -> None:
    assert run(card, select_ap_command(), verify_command("1234")) == [0x9000, 0x6986]
    assert card.tries_left == 3 and not card.verified


def test_verify_counts_down_and_a_right_pin_restores_the_counter(card: SimulatedJpkiCard) -> None:
    assert run(card, select_ap_command(), SELECT_PIN, VERIFY_STATUS) == [0x9000, 0x9000, 0x63C3]
    assert sw(card, verify_command("0000")) == 0x63C2
    assert sw(card, VERIFY_STATUS) == 0x63C2  # asking uses no try
    assert sw(card, verify_command("1111")) == 0x63C1
    assert sw(card, verify_command("1234")) == 0x9000
    assert card.tries_left == 3 and card.verified
    assert sw(card, VERIFY_STATUS) == 0x9000  # verified in this power session


def test_the_retry_counter_survives_power_cycles(card: SimulatedJpkiCard) -> None:
    run(card, select_ap_command(), SELECT_PIN, verify_command("9999"))
    power_cycle(card)
    assert run(card, select_ap_command(), SELECT_PIN, VERIFY_STATUS) == [0x9000, 0x9000, 0x63C2]


def test_three_wrong_pins_block_the_card_for_good(card: SimulatedJpkiCard) -> None:
    run(card, select_ap_command(), SELECT_PIN)
    assert run(card, verify_command("0000"), verify_command("0001"), verify_command("0002")) == [0x63C2, 0x63C1, 0x63C0]
    assert card.blocked
    assert sw(card, verify_command("1234")) == 0x6983  # even the right PIN
    assert sw(card, VERIFY_STATUS) == 0x6984
    assert not card.verified
    power_cycle(card)
    assert run(card, select_ap_command(), SELECT_PIN, verify_command("1234")) == [0x9000, 0x9000, 0x6983]
    assert run(card, SELECT_KEY, sign_command(sha256_digest_info(b"x"))) == [0x9000, 0x6982]


def test_a_pin_of_the_wrong_length_counts_as_wrong(card: SimulatedJpkiCard) -> None:
    run(card, select_ap_command(), SELECT_PIN)
    assert sw(card, bytes.fromhex("002000800531323334")[:5] + b"12345") == 0x63C2


# ---- signing -------------------------------------------------------------------------------


def test_sign_only_after_verify_in_the_same_power_session(card: SimulatedJpkiCard) -> None:
    sign = sign_command(sha256_digest_info(b"challenge"))
    assert run(card, select_ap_command(), sign) == [0x9000, 0x6986]  # no key selected
    assert run(card, SELECT_KEY, sign) == [0x9000, 0x6982]  # PIN not verified
    assert run(card, SELECT_PIN, verify_command("1234"), SELECT_KEY) == [0x9000] * 3
    signature, status = split_response(card.process(sign))
    assert status == 0x9000 and len(signature) == 256
    card.public_key().verify(signature, b"challenge", padding.PKCS1v15(), hashes.SHA256())
    power_cycle(card)  # the verified PIN ends with the power
    assert run(card, select_ap_command(), SELECT_KEY, sign) == [0x9000, 0x9000, 0x6982]


def test_sign_refuses_data_that_is_no_digest_info(card: SimulatedJpkiCard) -> None:
    run(card, select_ap_command(), SELECT_PIN, verify_command("1234"), SELECT_KEY)
    assert sw(card, sign_command(b"\x01" * 51)) == 0x6A80
    assert sw(card, sign_command(sha256_digest_info(b"x")[:-1])) == 0x6A80


def test_a_t0_card_hands_the_signature_out_through_get_response(jpki_ca: SimulatedJpkiCa) -> None:
    c = jpki_ca.issue_card("SIM-0001", "1234", t0=True)
    c.power_on()
    assert sw(c, bytes.fromhex("00C0000000")) == 0x6985  # nothing waiting
    run(c, select_ap_command(), SELECT_PIN, verify_command("1234"), SELECT_KEY)
    assert sw(c, sign_command(sha256_digest_info(b"t0"))) == 0x6100  # 256 bytes waiting
    first, status = split_response(c.process(bytes.fromhex("00C0000080")))
    assert (len(first), status) == (128, 0x6180)
    rest, status = split_response(c.process(bytes.fromhex("00C0000080")))
    assert (len(rest), status) == (128, 0x9000)
    c.public_key().verify(first + rest, b"t0", padding.PKCS1v15(), hashes.SHA256())


# ---- reading -------------------------------------------------------------------------------


def test_read_binary_states(card: SimulatedJpkiCard) -> None:
    assert run(card, select_ap_command(), bytes.fromhex("00B0000004")) == [0x9000, 0x6986]  # no current EF
    assert run(card, SELECT_PIN, bytes.fromhex("00B0000004")) == [0x9000, 0x6981]  # the PIN is no binary file
    assert sw(card, SELECT_CERT) == 0x9000
    head, status = split_response(card.process(bytes.fromhex("00B0000004")))
    assert status == 0x9000 and head[:2] == b"\x30\x82"  # readable without the PIN
    end = CERT_FILE_SIZE - 8
    tail, status = split_response(card.process(bytes([0x00, 0xB0, end >> 8, end & 0xFF, 0x10])))
    assert (len(tail), status) == (8, 0x6282)  # the file ends first
    assert sw(card, bytes([0x00, 0xB0, CERT_FILE_SIZE >> 8, CERT_FILE_SIZE & 0xFF, 0x01])) == 0x6B00
    assert sw(card, bytes.fromhex("00B0810004")) == 0x6A81  # short-EF addressing


def test_the_certificate_names_the_card_and_chains_to_the_ca(jpki_ca: SimulatedJpkiCa, card: SimulatedJpkiCard) -> None:
    cert = x509.load_der_x509_certificate(card.certificate_der)
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "SIM-0001"
    cert.verify_directly_issued_by(jpki_ca.certificate)
    assert cert.public_key() == card.public_key()
    key_usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert key_usage.digital_signature and not key_usage.key_cert_sign
    assert "1234" not in repr(card)


# ---- reader --------------------------------------------------------------------------------


def test_reader_life_cycle(jpki_ca: SimulatedJpkiCa) -> None:
    reader = SimulatedCardReader()
    assert not reader.card_present()
    with pytest.raises(NoCard):
        reader.connect()
    card = jpki_ca.demo_card("SIM-0001")
    reader.insert(card)
    with pytest.raises(CardError, match="already holds"):
        reader.insert(jpki_ca.demo_card("SIM-0002"))
    assert reader.card_present() and not card.powered
    transport = reader.connect()
    assert card.powered
    with pytest.raises(CardError, match="already connected"):
        reader.connect()
    assert split_response(transport.transmit(select_ap_command()))[1] == 0x9000
    reader.release()
    assert not card.powered and reader.card_present()
    with pytest.raises(CardError, match="released") as released:
        transport.transmit(select_ap_command())
    assert not isinstance(released.value, CardRemoved)
    reader.release()  # twice is harmless


def test_pulling_the_card_kills_the_connection(jpki_ca: SimulatedJpkiCa) -> None:
    reader = SimulatedCardReader()
    card = jpki_ca.demo_card("SIM-0001")
    reader.insert(card)
    transport = reader.connect()
    for apdu in (select_ap_command(), SELECT_PIN, verify_command("1234")):
        transport.transmit(apdu)
    assert card.verified
    assert reader.pull() is card
    assert not card.powered and not card.verified and not reader.card_present()
    with pytest.raises(CardRemoved):
        transport.transmit(select_ap_command())
    reader.release()  # the kiosk's cleanup after a pull must not fail
    reader.insert(card)
    transport = reader.connect()
    assert split_response(transport.transmit(select_ap_command()))[1] == 0x9000
    assert reader.connects == 2


def test_scripted_pulls(jpki_ca: SimulatedJpkiCa) -> None:
    reader = SimulatedCardReader()
    reader.insert(jpki_ca.demo_card("SIM-0001"))
    transport = reader.connect()
    reader.pull_after(2)
    transport.transmit(select_ap_command())
    transport.transmit(SELECT_PIN)
    with pytest.raises(CardRemoved):
        transport.transmit(VERIFY_STATUS)
    reader.insert(jpki_ca.demo_card("SIM-0001"))
    transport = reader.connect()
    reader.pull_when(lambda apdu: apdu[1] == 0xB0)
    transport.transmit(select_ap_command())
    transport.transmit(SELECT_CERT)
    with pytest.raises(CardRemoved):
        transport.transmit(bytes.fromhex("00B0000004"))


def test_a_pull_from_another_thread(jpki_ca: SimulatedJpkiCa) -> None:
    reader = SimulatedCardReader()
    reader.insert(jpki_ca.demo_card("SIM-0001"))
    transport = reader.connect()
    puller = threading.Thread(target=reader.pull)
    puller.start()
    puller.join()
    with pytest.raises(CardRemoved):
        transport.transmit(select_ap_command())


def test_an_ejecting_reader_gives_the_card_back_on_release(jpki_ca: SimulatedJpkiCa) -> None:
    reader = SimulatedCardReader(ejects=True)
    card = jpki_ca.demo_card("SIM-0003")
    reader.insert(card)
    reader.connect()
    reader.release()
    assert not reader.card_present() and not card.powered


# ---- CA ------------------------------------------------------------------------------------


def test_the_ca_is_made_once_and_loaded_afterwards(jpki_ca: SimulatedJpkiCa) -> None:
    again = SimulatedJpkiCa.open(jpki_ca.directory)
    assert again.certificate == jpki_ca.certificate
    assert x509.load_pem_x509_certificate(jpki_ca.certificate_path.read_bytes()) == jpki_ca.certificate
    key_mode = stat.S_IMODE((jpki_ca.directory / "ca-key.pem").stat().st_mode)
    assert key_mode == 0o600
    assert again.card_key("SIM-0001").private_numbers() == jpki_ca.card_key("SIM-0001").private_numbers()
    assert stat.S_IMODE((jpki_ca.directory / "cards" / "SIM-0001.key.pem").stat().st_mode) == 0o600


def test_two_processes_opening_a_new_ca_get_the_same_one(tmp_path: Path) -> None:
    # flock locks per open file, so two threads stand in for the demo's two processes.
    results: list[SimulatedJpkiCa] = []
    threads = [threading.Thread(target=lambda: results.append(SimulatedJpkiCa.open(tmp_path / "ca"))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and results[0].certificate == results[1].certificate


def test_a_half_present_ca_is_refused_not_overwritten(tmp_path: Path, jpki_ca: SimulatedJpkiCa) -> None:
    (tmp_path / "ca-cert.pem").write_bytes(jpki_ca.certificate_path.read_bytes())
    with pytest.raises(CardError, match="only one of ca-key.pem and ca-cert.pem"):
        SimulatedJpkiCa.open(tmp_path)
    (tmp_path / "ca-key.pem").write_text("not a key")
    with pytest.raises(CardError, match="ca-key.pem is not an unencrypted PEM private key"):
        SimulatedJpkiCa.open(tmp_path)


def test_bad_serials_and_pins_are_named(jpki_ca: SimulatedJpkiCa) -> None:
    with pytest.raises(ValueError, match=r"card serial '\.\./x'"):
        jpki_ca.card_key("../x")
    with pytest.raises(ValueError, match="no demo card 'SIM-0099'; the demo cards are SIM-0001"):
        jpki_ca.demo_card("SIM-0099")
    with pytest.raises(ValueError, match="exactly 4 digits"):
        jpki_ca.issue_card("SIM-0001", "123")


def test_validity_can_be_set_for_expired_cards(jpki_ca: SimulatedJpkiCa) -> None:
    past = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    c = jpki_ca.issue_card("SIM-0001", "1234", not_before=past, not_after=past + dt.timedelta(days=1))
    cert = x509.load_der_x509_certificate(c.certificate_der)
    assert cert.not_valid_after_utc == past + dt.timedelta(days=1)


def test_the_demo_cards_are_the_contracts_table() -> None:
    assert [(c.serial, c.pin) for c in DEMO_CARDS] == [
        ("SIM-0001", "1234"),
        ("SIM-0002", "2345"),
        ("SIM-0003", "3456"),
        ("SIM-0004", "4567"),
        ("SIM-0005", "5678"),
        ("SIM-0006", "6789"),
        ("SIM-0007", "1111"),
    ]
    assert demo_pin("SIM-0006") == "6789"


def test_main_makes_the_demo_ca_and_lists_the_cards(
    jpki_ca: SimulatedJpkiCa, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(jpki_ca.directory)]) == 0
    out = capsys.readouterr().out
    assert "SIM-0007  PIN 1111" in out and str(jpki_ca.certificate_path) in out
    assert all((jpki_ca.directory / "cards" / f"{c.serial}.key.pem").exists() for c in DEMO_CARDS)


def test_main_reports_a_broken_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ca-key.pem").write_text("x")
    assert main([str(tmp_path)]) == 1
    assert "error:" in capsys.readouterr().err


# ---- vsmartcard ----------------------------------------------------------------------------


def _vpcd_send(sock: socket.socket, message: bytes) -> None:
    sock.sendall(struct.pack(">H", len(message)) + message)


def _vpcd_recv(sock: socket.socket) -> bytes:
    (length,) = struct.unpack(">H", sock.recv(2, socket.MSG_WAITALL))
    return sock.recv(length, socket.MSG_WAITALL)


def test_serve_vpcd_speaks_the_virtual_reader_protocol(jpki_ca: SimulatedJpkiCa) -> None:
    card = jpki_ca.demo_card("SIM-0001")
    vpcd, vicc = socket.socketpair()
    server = threading.Thread(target=serve_vpcd, args=(card, vicc))
    server.start()
    try:
        _vpcd_send(vpcd, bytes([VPCD_POWER_ON]))
        _vpcd_send(vpcd, bytes([VPCD_GET_ATR]))
        assert _vpcd_recv(vpcd) == JPKI_ATR
        _vpcd_send(vpcd, select_ap_command())
        assert _vpcd_recv(vpcd) == b"\x90\x00"
        _vpcd_send(vpcd, SELECT_PIN)
        assert _vpcd_recv(vpcd) == b"\x90\x00"
        _vpcd_send(vpcd, VERIFY_STATUS)
        assert _vpcd_recv(vpcd) == b"\x63\xc3"
    finally:
        vpcd.close()
        server.join(timeout=5)
        vicc.close()
    assert not server.is_alive() and not card.powered
