"""The JPKI client: exact APDUs, its runs against the simulated card, the trace, and PC/SC."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import given
from hypothesis import strategies as st

from drivers.card_reader import (
    ApduTrace,
    ApduTransport,
    CardBlocked,
    CardCommandError,
    CardError,
    CardRemoved,
    NoCard,
    ReaderBackendMissing,
    ReaderUnavailable,
    build_command,
    describe_sw,
    parse_command,
    redacted_command,
    split_response,
)
from drivers.jpki import (
    InvalidPin,
    JpkiCard,
    NotJpkiCard,
    PinCheck,
    PinNotVerified,
    check_pin_format,
    der_total_length,
    jpki_session,
    read_binary_command,
    select_ap_command,
    select_ef_command,
    sha256_digest_info,
    sign_command,
    verify_command,
    verify_status_command,
)
from drivers.jpki_sim import SimulatedCardReader, SimulatedJpkiCa, SimulatedJpkiCard
from drivers.pcsc_reader import INSTALL_HINT, PcscCardReader, load_scard


@pytest.fixture(scope="session")
def jpki_ca(tmp_path_factory: pytest.TempPathFactory) -> SimulatedJpkiCa:
    """One CA for the whole run; the base temp dir is shared, so card keys are made once.

    Made as of 2025-01-01 whichever test file comes first, so fixed test times fall inside it.
    """
    return SimulatedJpkiCa.open(tmp_path_factory.getbasetemp() / "jpki-ca", now_ms=1_735_689_600_000)


class Recorder:
    """Keeps every raw APDU sent (PIN included: only ever inside a test)."""

    def __init__(self, transport: ApduTransport) -> None:
        self._transport = transport
        self.sent: list[bytes] = []

    def transmit(self, apdu: bytes) -> bytes:
        """Record, then pass on."""
        self.sent.append(apdu)
        return self._transport.transmit(apdu)


@pytest.fixture
def reader(jpki_ca: SimulatedJpkiCa) -> SimulatedCardReader:
    """A reader holding SIM-0001 (PIN 1234)."""
    r = SimulatedCardReader()
    r.insert(jpki_ca.demo_card("SIM-0001"))
    return r


@pytest.fixture
def recorder(reader: SimulatedCardReader) -> Recorder:
    """A connection to SIM-0001 that records the APDUs."""
    return Recorder(reader.connect())


# ---- exact bytes ---------------------------------------------------------------------------


def test_command_bytes_are_the_jpki_ones() -> None:
    assert select_ap_command() == bytes.fromhex("00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01")
    assert select_ef_command(0x0018) == bytes.fromhex("00 A4 02 0C 02 00 18")
    assert select_ef_command(0x000A) == bytes.fromhex("00 A4 02 0C 02 00 0A")
    assert verify_status_command() == bytes.fromhex("00 20 00 80")
    assert verify_command("1234") == bytes.fromhex("00 20 00 80 04 31 32 33 34")
    assert read_binary_command(0, 4) == bytes.fromhex("00 B0 00 00 04")
    assert read_binary_command(0x0104, 256) == bytes.fromhex("00 B0 01 04 00")
    digest_info = sha256_digest_info(b"abc")
    assert digest_info == bytes.fromhex(
        "30 31 30 0d 06 09 60 86 48 01 65 03 04 02 01 05 00 04 20"
        "ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 96177a9c b410ff61 f20015ad"
    )
    assert sign_command(digest_info) == bytes.fromhex("80 2A 00 80 33") + digest_info + b"\x00"


def test_a_whole_session_sends_exactly_these_commands(recorder: Recorder) -> None:
    card = JpkiCard(recorder, read_chunk=256)
    assert card.verify_pin("1234") == PinCheck(ok=True, tries_left=3, blocked=False)
    cert = card.read_certificate()
    card.sign(b"nonce")
    head = [
        "00A4040C0AD392F000260100000001",
        "00A4020C020018",
        "0020008004" + b"1234".hex(),
        "00A4020C02000A",
        "00B0000004",
    ]
    reads = [f"00B0{offset:04X}{min(256, len(cert) - offset) % 256:02X}" for offset in range(4, len(cert), 256)]
    tail = ["00A4020C020017", "802A008033" + sha256_digest_info(b"nonce").hex().upper() + "00"]
    assert [a.hex().upper() for a in recorder.sent] == head + reads + tail


@given(
    cla=st.integers(0, 255),
    ins=st.integers(0, 255),
    p1=st.integers(0, 255),
    p2=st.integers(0, 255),
    data=st.binary(max_size=255),
    le=st.none() | st.integers(1, 256),
)
def test_commands_parse_back(cla: int, ins: int, p1: int, p2: int, data: bytes, le: int | None) -> None:
    parsed = parse_command(build_command(cla, ins, p1, p2, data, le))
    assert parsed is not None and (parsed.cla, parsed.ins, parsed.p1, parsed.p2) == (cla, ins, p1, p2)
    assert (parsed.data, parsed.le) == (data, le)


@given(st.binary(max_size=300))
def test_parsing_any_bytes_never_raises(apdu: bytes) -> None:
    parse_command(apdu)


def test_building_refuses_what_a_short_apdu_cannot_carry() -> None:
    with pytest.raises(ValueError, match="P1 must be one byte"):
        build_command(0, 0xA4, 256, 0)
    with pytest.raises(ValueError, match="at most 255"):
        build_command(0, 0xD6, 0, 0, b"x" * 256)
    with pytest.raises(ValueError, match="Le must be 1..256"):
        build_command(0, 0xB0, 0, 0, le=0)
    with pytest.raises(ValueError, match="offset must be 0..32767"):
        read_binary_command(0x8000, 4)


def test_status_words() -> None:
    assert split_response(b"\x01\x02\x90\x00") == (b"\x01\x02", 0x9000)
    with pytest.raises(CardError, match="no status word"):
        split_response(b"\x90")
    assert describe_sw(0x63C2) == "verification failed, 2 tries left"
    assert describe_sw(0x6982).startswith("security status not satisfied")
    assert describe_sw(0x6A82) == "file or application not found"
    assert str(CardCommandError("SELECT", 0x6A82)) == "SELECT: the card answered 6A 82 (file or application not found)"


def test_der_lengths() -> None:
    assert der_total_length(bytes.fromhex("30820545")) == 0x545 + 4
    assert der_total_length(bytes.fromhex("3081F0")) == 0xF0 + 3
    assert der_total_length(bytes.fromhex("3010")) == 0x12
    with pytest.raises(CardError, match="starts with 00"):
        der_total_length(b"\x00\x00\x00\x00")  # an empty certificate file
    with pytest.raises(CardError, match="unsupported DER length"):
        der_total_length(bytes.fromhex("30840000"))


# ---- PIN input -----------------------------------------------------------------------------


@pytest.mark.parametrize("pin", ["123", "12345", "12a4", "１２３４", "", " 123", "12.4"])
def test_bad_pins_are_refused_before_any_apdu(recorder: Recorder, pin: str) -> None:
    with pytest.raises(InvalidPin) as refused:
        JpkiCard(recorder).verify_pin(pin)
    assert recorder.sent == []
    assert pin not in str(refused.value) or pin == ""
    assert isinstance(refused.value, ValueError)


def test_a_pin_that_is_no_string_is_refused() -> None:
    with pytest.raises(InvalidPin, match="got a int"):
        check_pin_format(1234)  # type: ignore[arg-type]


# ---- against the simulated card ------------------------------------------------------------


def test_read_certificate_gives_the_exact_der_whatever_the_chunk(reader: SimulatedCardReader) -> None:
    card = reader.card
    assert card is not None
    transport = reader.connect()
    for chunk in (256, 255, 100, 1):
        assert JpkiCard(transport, read_chunk=chunk).read_certificate() == card.certificate_der
    ca_der = JpkiCard(transport).read_ca_certificate()
    assert x509.load_der_x509_certificate(ca_der).subject == x509.load_der_x509_certificate(card.certificate_der).issuer


def test_wrong_pins_count_down_then_the_card_is_blocked(reader: SimulatedCardReader) -> None:
    card = JpkiCard(reader.connect())
    assert card.pin_tries_left() == 3
    assert card.verify_pin("0000") == PinCheck(ok=False, tries_left=2, blocked=False)
    assert card.verify_pin("0001") == PinCheck(ok=False, tries_left=1, blocked=False)
    assert card.verify_pin("0002") == PinCheck(ok=False, tries_left=0, blocked=True)
    assert card.pin_tries_left() == 0
    with pytest.raises(CardBlocked, match="blocked"):
        card.verify_pin("1234")


def test_a_right_pin_restores_the_tries_and_shows_as_verified(reader: SimulatedCardReader) -> None:
    card = JpkiCard(reader.connect())
    card.verify_pin("9999")
    assert card.pin_tries_left() == 2
    assert card.verify_pin("1234").ok
    assert card.pin_tries_left() == 3


def test_sign_without_the_pin_is_refused_and_power_ends_the_pin(reader: SimulatedCardReader) -> None:
    card = JpkiCard(reader.connect())
    with pytest.raises(PinNotVerified, match="PIN has not been verified"):
        card.sign(b"nonce")
    card.verify_pin("1234")
    signature = card.sign(b"nonce")
    assert reader.card is not None
    reader.card.public_key().verify(signature, b"nonce", padding.PKCS1v15(), hashes.SHA256())
    reader.release()
    with pytest.raises(PinNotVerified):
        JpkiCard(reader.connect()).sign(b"nonce")


def test_a_t0_card_signs_through_get_response(jpki_ca: SimulatedJpkiCa) -> None:
    reader = SimulatedCardReader()
    reader.insert(jpki_ca.issue_card("SIM-0002", "2345", t0=True))
    recorder = Recorder(reader.connect())
    card = JpkiCard(recorder)
    card.verify_pin("2345")
    signature = card.sign(b"t0")
    assert recorder.sent[-1] == bytes.fromhex("00C0000000") and len(signature) == 256


def test_sign_refuses_an_empty_challenge(reader: SimulatedCardReader) -> None:
    with pytest.raises(ValueError, match="non-empty bytes"):
        JpkiCard(reader.connect()).sign(b"")


class OtherCard:
    """A card without the JPKI AP (a bank card, a 住基カード): every SELECT is 6A 82."""

    def transmit(self, apdu: bytes) -> bytes:
        """Not found, whatever is asked."""
        return b"\x6a\x82"


def test_a_card_without_jpki_is_named_as_such() -> None:
    with pytest.raises(NotJpkiCard, match="not a My Number card"):
        JpkiCard(OtherCard()).select()
    with pytest.raises(NotJpkiCard):
        JpkiCard(OtherCard()).read_certificate()


class ShortFile:
    """A card whose certificate file ends before the length its DER header claims."""

    def __init__(self, sim: SimulatedJpkiCard) -> None:
        self._sim = sim

    def transmit(self, apdu: bytes) -> bytes:
        """Like the simulated card, but READ BINARY past 100 bytes finds nothing."""
        if apdu[1] == 0xB0 and (apdu[2] << 8 | apdu[3]) >= 100:
            return b"\x90\x00"
        return self._sim.process(apdu)


def test_a_truncated_certificate_file_is_an_error_not_a_hang(jpki_ca: SimulatedJpkiCa) -> None:
    sim = jpki_ca.demo_card("SIM-0001")
    sim.power_on()
    with pytest.raises(CardError, match="file ends at 100 bytes"):
        JpkiCard(ShortFile(sim), read_chunk=48).read_certificate()


# ---- the card leaves the reader ------------------------------------------------------------


def test_card_pulled_while_the_certificate_is_read(reader: SimulatedCardReader) -> None:
    reads = [0]

    def second_read(apdu: bytes) -> bool:
        reads[0] += apdu[1] == 0xB0
        return reads[0] == 2

    reader.pull_when(second_read)
    with pytest.raises(CardRemoved), jpki_session(reader) as card:
        card.read_certificate()
    assert not reader.connected and not reader.card_present()
    with pytest.raises(NoCard):
        reader.connect()


def test_card_pulled_before_signing_loses_the_verified_pin(reader: SimulatedCardReader) -> None:
    sim = reader.card
    assert sim is not None
    with jpki_session(reader) as card:
        card.verify_pin("1234")
        reader.pull_when(lambda apdu: apdu[:2] == b"\x80\x2a")
        with pytest.raises(CardRemoved):
            card.sign(b"nonce")
    assert reader.card is None and not sim.verified
    reader.insert(sim)  # put back: a new power session, the PIN must be typed again
    with pytest.raises(PinNotVerified), jpki_session(reader) as card:
        card.sign(b"nonce")


def test_the_session_powers_the_card_down_whatever_happens(reader: SimulatedCardReader) -> None:
    sim = reader.card
    assert sim is not None
    with pytest.raises(RuntimeError), jpki_session(reader) as card:
        card.verify_pin("1234")
        assert sim.verified
        raise RuntimeError("the kiosk crashed mid-flow")
    assert not sim.powered and not sim.verified and not reader.connected


# ---- the PIN never reaches a log -----------------------------------------------------------


def _pin_traces(pin: str) -> list[str]:
    """Every way a PIN could show up in a log line."""
    raw = pin.encode()
    return [pin, raw.hex(), raw.hex(" "), raw.hex().upper(), raw.hex(" ").upper()]


def test_the_trace_and_the_logs_never_show_the_pin(jpki_ca: SimulatedJpkiCa, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    reader = SimulatedCardReader()
    reader.insert(jpki_ca.demo_card("SIM-0005"))  # PIN 5678
    trace = ApduTrace(reader.connect())
    card = JpkiCard(trace)
    card.verify_pin("5670")  # a wrong one too
    card.verify_pin("5678")
    card.read_certificate()
    card.sign(b"nonce")
    text = trace.dump() + "\n" + caplog.text
    assert "00 20 00 80 04 <4 bytes withheld>" in text
    assert "APDU > 80 2A 00 80 33" in caplog.text  # the trace does log, at DEBUG
    for pin in ("5678", "5670"):
        for form in _pin_traces(pin):
            assert form not in text, f"the PIN shows up in the log as {form!r}"
    assert len(trace.entries) > 5


def test_redaction_covers_every_pin_command_whatever_the_class() -> None:
    for ins in (0x20, 0x21, 0x24, 0x2C):
        assert "31 32" not in redacted_command(bytes([0x80, ins, 0x00, 0x80, 0x04]) + b"1234")
    assert redacted_command(verify_status_command()) == "00 20 00 80"
    assert redacted_command(select_ap_command()) == "00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01"


def test_the_trace_records_a_pulled_card(reader: SimulatedCardReader) -> None:
    trace = ApduTrace(reader.connect(), max_entries=2)
    reader.pull()
    with pytest.raises(CardRemoved):
        trace.transmit(select_ap_command())
    assert trace.entries[-1].response.startswith("error: CardRemoved")


# ---- PC/SC ---------------------------------------------------------------------------------


def test_without_pyscard_the_error_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "smartcard", None)
    monkeypatch.setitem(sys.modules, "smartcard.scard", None)
    with pytest.raises(ReaderBackendMissing, match=r"pip install madoguchi\[pcsc\]") as missing:
        PcscCardReader()
    assert isinstance(missing.value, CardError)
    with pytest.raises(ReaderBackendMissing):
        load_scard()
    assert "libpcsclite" in INSTALL_HINT


class FakeScard:
    """pyscard's ``smartcard.scard`` functions over simulated readers: a small model of pcscd.

    Only what :class:`PcscCardReader` uses, under pyscard's names; result codes are pcsc-lite's. It lets the reader's
    own logic (exclusive holds, dispositions, code translation) run here without hardware.
    """

    SCARD_S_SUCCESS = 0
    SCARD_SCOPE_USER = 0
    SCARD_SHARE_EXCLUSIVE, SCARD_SHARE_SHARED = 1, 2
    SCARD_PROTOCOL_T0, SCARD_PROTOCOL_T1 = 1, 2
    SCARD_PCI_T0, SCARD_PCI_T1 = "pci-t0", "pci-t1"
    SCARD_LEAVE_CARD, SCARD_RESET_CARD, SCARD_UNPOWER_CARD, SCARD_EJECT_CARD = 0, 1, 2, 3
    SCARD_STATE_UNAWARE, SCARD_STATE_EMPTY, SCARD_STATE_PRESENT = 0, 0x10, 0x20
    SCARD_E_INVALID_HANDLE = 0x80100003
    SCARD_E_UNKNOWN_READER = 0x80100009
    SCARD_E_SHARING_VIOLATION = 0x8010000B
    SCARD_E_NO_SMARTCARD = 0x8010000C
    SCARD_E_NO_SERVICE = 0x8010001D
    SCARD_E_NO_READERS_AVAILABLE = 0x8010002E
    SCARD_W_REMOVED_CARD = 0x80100069

    def __init__(self, readers: dict[str, SimulatedCardReader]) -> None:
        self.readers = readers
        self.running = True
        self.handles: dict[int, tuple[str, Any]] = {}
        self.dispositions: list[int] = []
        self._next = 100

    def SCardGetErrorMessage(self, hresult: int) -> str:
        return f"fake pcsc error {hresult:#x}"

    def SCardEstablishContext(self, scope: int) -> tuple[int, int]:
        return (0, 1) if self.running else (self.SCARD_E_NO_SERVICE, 0)

    def SCardReleaseContext(self, context: int) -> int:
        return 0

    def SCardListReaders(self, context: int, groups: list[str]) -> tuple[int, list[str]]:
        if not self.running:
            return self.SCARD_E_NO_SERVICE, []
        return (0, list(self.readers)) if self.readers else (self.SCARD_E_NO_READERS_AVAILABLE, [])

    def SCardGetStatusChange(
        self, context: int, timeout: int, states: list[tuple[str, int]]
    ) -> tuple[int, list[tuple[str, int, list[int]]]]:
        out: list[tuple[str, int, list[int]]] = []
        for name, _ in states:
            present = self.readers[name].card_present()
            out.append((name, self.SCARD_STATE_PRESENT if present else self.SCARD_STATE_EMPTY, []))
        return 0, out

    def SCardConnect(self, context: int, name: str, share: int, protocols: int) -> tuple[int, int, int]:
        if name not in self.readers:
            return self.SCARD_E_UNKNOWN_READER, 0, 0
        if any(held == name for held, _ in self.handles.values()):
            return self.SCARD_E_SHARING_VIOLATION, 0, 0
        assert share == self.SCARD_SHARE_EXCLUSIVE, "the kiosk must hold the card exclusively"
        try:
            transport = self.readers[name].connect()
        except NoCard:
            return self.SCARD_E_NO_SMARTCARD, 0, 0
        self._next += 1
        self.handles[self._next] = (name, transport)
        return 0, self._next, self.SCARD_PROTOCOL_T1

    def SCardTransmit(self, hcard: int, pci: str, apdu: list[int]) -> tuple[int, list[int]]:
        if hcard not in self.handles:
            return self.SCARD_E_INVALID_HANDLE, []
        assert pci == self.SCARD_PCI_T1
        try:
            return 0, list(self.handles[hcard][1].transmit(bytes(apdu)))
        except CardRemoved:
            return self.SCARD_W_REMOVED_CARD, []

    def SCardDisconnect(self, hcard: int, disposition: int) -> int:
        if hcard not in self.handles:
            return self.SCARD_E_INVALID_HANDLE
        name, _ = self.handles.pop(hcard)
        self.dispositions.append(disposition)
        self.readers[name].release()
        return 0


@pytest.fixture
def pcscd(jpki_ca: SimulatedJpkiCa) -> FakeScard:
    """pcscd with one reader holding SIM-0001."""
    sim = SimulatedCardReader()
    sim.insert(jpki_ca.demo_card("SIM-0001"))
    return FakeScard({"ACS ACR39U ICC Reader 00 00": sim})


def test_pcsc_reader_runs_a_session_and_powers_the_card_down(pcscd: FakeScard) -> None:
    reader = PcscCardReader("ACR39U", scard=pcscd)
    assert reader.readers() == ["ACS ACR39U ICC Reader 00 00"]
    assert reader.card_present()
    sim = pcscd.readers["ACS ACR39U ICC Reader 00 00"].card
    assert sim is not None
    with jpki_session(reader) as card:
        assert card.verify_pin("1234").ok
        assert card.read_certificate() == sim.certificate_der
        assert len(card.sign(b"nonce")) == 256
    assert pcscd.dispositions == [FakeScard.SCARD_UNPOWER_CARD]
    assert not sim.powered and not sim.verified
    reader.close()


def test_pcsc_reader_holds_the_card_exclusively(pcscd: FakeScard) -> None:
    first, second = PcscCardReader(scard=pcscd), PcscCardReader(scard=pcscd)
    first.connect()
    with pytest.raises(ReaderUnavailable, match="another program holds the card reader"):
        second.connect()
    with pytest.raises(CardError, match="already connected"):
        first.connect()
    first.release()
    second.connect()
    second.release()


def test_pcsc_reader_translates_a_pulled_card(pcscd: FakeScard) -> None:
    reader = PcscCardReader(scard=pcscd, eject=True)
    transport = reader.connect()
    pcscd.readers["ACS ACR39U ICC Reader 00 00"].pull()
    with pytest.raises(CardRemoved):
        transport.transmit(select_ap_command())
    reader.release()  # nothing left to release; no error
    with pytest.raises(NoCard):
        reader.connect()
    assert not reader.card_present()


def test_pcsc_reader_eject_disposition(pcscd: FakeScard) -> None:
    reader = PcscCardReader(scard=pcscd, eject=True)
    transport = reader.connect()
    reader.release()
    assert pcscd.dispositions == [FakeScard.SCARD_EJECT_CARD]
    with pytest.raises(CardError, match="released"):
        transport.transmit(select_ap_command())


def test_pcsc_reader_names_what_is_missing(pcscd: FakeScard) -> None:
    with pytest.raises(ReaderUnavailable, match=r"no card reader named like 'PaSoRi'; connected readers: 'ACS ACR39U"):
        PcscCardReader("PaSoRi", scard=pcscd).connect()
    empty = FakeScard({})
    with pytest.raises(ReaderUnavailable, match="no card reader is connected"):
        PcscCardReader(scard=empty).card_present()
    assert PcscCardReader(scard=empty).readers() == []
    pcscd.running = False
    with pytest.raises(ReaderUnavailable, match="pcscd is not running"):
        PcscCardReader(scard=pcscd).connect()


@pytest.mark.hardware
def test_a_real_reader_reads_a_real_card() -> None:
    """A My Number card (or ``python -m drivers.jpki_sim DIR --vpcd SIM-0001``) in a PC/SC reader.

    Reads only what needs no PIN, so running it never uses up a real card's tries.
    """
    name = os.environ.get("MADOGUCHI_PCSC_READER")
    # Only run on a bench with a reader (pytest -m hardware): without one named, say so as a
    # failure, never a skip that could pass for a checked reader.
    assert name is not None, "set MADOGUCHI_PCSC_READER to (part of) a reader's name, or '' for the first reader"
    reader = PcscCardReader(name or None)
    try:
        with jpki_session(reader) as card:
            assert 0 <= card.pin_tries_left() <= 3
            der = card.read_certificate()
        cert = x509.load_der_x509_certificate(der)
        assert cert.public_key().key_size == 2048  # type: ignore[union-attr]
    finally:
        reader.close()
