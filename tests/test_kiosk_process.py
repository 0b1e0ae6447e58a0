"""The kiosk as a real process (``python -m kiosk.cli run``) on a real Mosquitto, with the office
in-process, simulated My Number cards over the APDU interface inside the kiosk, and the ccTalk
cash devices simulated in this test process behind a real pty (drivers.fake_cctalk).

The cash simulator lives here, not in the kiosk, so the money it holds (cashbox, hoppers,
escrow, coins paid out) survives when the kiosk is SIGKILLed: the fault runs compare it with
what the kiosk's journal and the office say. The test drives the kiosk through its control
channel (kiosk/control.py) and puts coins and notes into the simulator itself.
"""

from __future__ import annotations

import functools
import json
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from drivers.fake_cctalk import FakeCcTalkBus
from drivers.jpki_sim import DEMO_CARDS, SimulatedJpkiCa
from drivers.printer_model import facts_table
from firmware_profiles.packaged import printer_model_named
from firmware_profiles.tomlwrite import dumps
from harness import REPO, SITE, Proc, env, office_rows, round_the_clock, start_office
from kiosk.journal import KioskJournal
from lobby.brokers import MosquittoBroker
from office.server import OfficeServer

DEVICE = "kiosk-1"
# Hoppers large enough for every run of the fault tests: change is never short.
HOPPERS = {3: (500, 400), 4: (100, 800), 5: (10, 800)}


@functools.cache
def _receipt_printer_section() -> str:
    """The receipt printer as provisioning writes it: the model's facts in the configuration, so
    the kiosk reads no printer profile at start (a kiosk in the field does not either)."""
    facts = facts_table(printer_model_named("TM-T20III"))
    return dumps({"receipt_printer": {"model": "TM-T20III", "backend": "fake", "facts": facts}})


@pytest.fixture(scope="module")
def jpki(tmp_path_factory: pytest.TempPathFactory) -> SimulatedJpkiCa:
    ca = SimulatedJpkiCa.open(tmp_path_factory.mktemp("jpki"))
    for card in DEMO_CARDS:
        ca.card_key(card.serial)  # made once here: RSA key generation is slow in every kiosk start
    return ca


class Control:
    """A client of the kiosk's control channel: one command line in, one JSON object out."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.stream = self.sock.makefile("rwb")

    def __call__(self, line: str) -> dict[str, Any]:
        self.stream.write(line.encode() + b"\n")
        self.stream.flush()
        raw = self.stream.readline()
        if not raw:
            raise ConnectionError(f"the kiosk closed the control channel after {line!r}")
        return dict(json.loads(raw))

    def ok(self, line: str) -> dict[str, Any]:
        reply = self(line)
        assert reply["ok"], (line, reply)
        return reply

    def state(self) -> dict[str, Any]:
        return dict(self.ok("state")["state"])

    def wait(self, what: str, timeout: float = 15.0) -> dict[str, Any]:
        reply = self.ok(f"wait {what} {timeout}")
        assert reply["reached"], (what, reply["state"])
        return dict(reply["state"])

    def close(self) -> None:
        try:
            self.stream.close()
            self.sock.close()
        except OSError:
            pass


@dataclass
class Lobby:
    """Broker, office, cash simulator, and the kiosk's paths; starts kiosk processes."""

    broker: MosquittoBroker
    office: OfficeServer
    bus: FakeCcTalkBus
    jpki: SimulatedJpkiCa
    root: Path
    sock_dir: Path
    procs: list[Proc] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.root / DEVICE

    @property
    def pdfs(self) -> Path:
        return self.root / "certificates"

    @property
    def receipts(self) -> Path:
        return self.root / "receipts"

    @property
    def control_path(self) -> Path:
        return self.sock_dir / "kiosk.sock"

    def write_config(self, **document: Any) -> Path:
        path = self.root / "kiosk.toml"
        extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in document.items())
        hoppers = ", ".join(
            f"{{address = {a}, coin = {coin}, count = {count}}}" for a, (coin, count) in sorted(HOPPERS.items())
        )
        path.write_text(
            f"""
[card_reader]
backend = "sim"
ca_dir = "{self.jpki.directory}"

[cash]
backend = "cctalk"
port = "{self.bus.port_path}"
hoppers = [{hoppers}]

[document_printer]
backend = "dir"
dir = "{self.pdfs}"
{extra}
{_receipt_printer_section()}
[receipt_printer.fake]
png_dir = "{self.receipts}"
keep = 5

[speech]
backend = "none"

[kiosk]
poll_interval = 0.01
office_timeout = 5
timeouts = {{ goodbye = 2 }}
""",
            encoding="utf-8",
        )
        return path

    def start_kiosk(self, timeout: float = 30.0) -> tuple[Proc, Control]:
        config = self.root / "kiosk.toml"
        if not config.exists():
            self.write_config()
        proc = Proc.spawn(
            "-m",
            "kiosk.cli",
            "run",
            "--broker",
            self.broker.url,
            "--site",
            SITE.site,
            "--device-id",
            DEVICE,
            "--data",
            str(self.data),
            "--device-config",
            str(config),
            "--control",
            str(self.control_path),
            "--log-level",
            "WARNING",
        )
        self.procs.append(proc)
        if not proc.wait_line("ready", timeout):
            proc.kill()
            raise AssertionError("kiosk did not start:\n" + "\n".join(proc.lines[-30:]))
        ctl = Control(self.control_path)
        ctl.wait("online")
        return proc, ctl

    def close(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is None:
                proc.kill()


@pytest.fixture
def lobby(mosquitto: MosquittoBroker, tmp_path: Path, jpki: SimulatedJpkiCa) -> Iterator[Lobby]:
    # Open round the clock: these runs must not depend on the hour they run at (the kiosk's own
    # hours are tested in test_kiosk_runtime and test_kiosk_office).
    config = round_the_clock(SITE, jpki_ca=str(jpki.certificate_path))
    office = start_office(mosquitto.url, tmp_path / "office.sqlite3", config)
    # Escrow held for a minute: a note left in it by a killed kiosk is still there at the restart.
    bus = FakeCcTalkBus(hoppers=HOPPERS, escrow_timeout=60.0, coin_payout_s=0.002)
    bus.start()
    # UNIX socket paths are short (108 bytes): not under pytest's long tmp_path.
    sock_dir = Path(tempfile.mkdtemp(prefix="kiosk-", dir="/tmp"))
    lobby = Lobby(mosquitto, office, bus, jpki, tmp_path, sock_dir)
    try:
        yield lobby
    finally:
        lobby.close()
        bus.stop()
        office.stop()
        shutil.rmtree(sock_dir, ignore_errors=True)


# -- helpers ----------------------------------------------------------------------------------------------


def _to_start(ctl: Control) -> None:
    """Back at the start screen (a goodbye screen is touched away)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        state = ctl.state()
        if state["step"] == "language" and state["session"] is None and not state["recovering"]:
            return
        if state["step"] == "goodbye":
            ctl.ok("still_here")
        if state["step"] == "take_card" and state["card_in_reader"]:
            ctl.ok("card pull")
        time.sleep(0.005)  # a state query is cheap; the fault runs come here a hundred times
    raise AssertionError(f"kiosk not back at the start: {ctl.state()}")


def _to_payment(ctl: Control, serial: str = "SIM-0001", pin: str | None = None, kind: str = "juminhyo") -> None:
    _to_start(ctl)
    ctl.ok("language ja")
    ctl.wait("certificate")
    ctl.ok(f"certificate {kind}")
    ctl.wait("options")
    ctl.ok("options copies=1")
    ctl.wait("insert_card")
    ctl.ok(f"card insert {serial}")
    ctl.wait("pin")
    ctl.ok(f"pin {pin or {c.serial: c.pin for c in DEMO_CARDS}[serial]}")
    ctl.wait("confirm_fee")
    ctl.ok("confirm")
    ctl.wait("payment")


def _wait_true(check: Callable[[], object], timeout: float = 10.0, message: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            raise AssertionError(message or "condition not met")
        time.sleep(0.01)


def _pdfs(lobby: Lobby) -> Counter[str]:
    """Printed copies per issue number (file names: '<kind>_<issue number>.<n>.pdf')."""
    out: Counter[str] = Counter()
    for path in lobby.pdfs.glob("*.pdf"):
        match = re.fullmatch(r"[a-z]+_(.+)\.\d+\.pdf", path.name)
        assert match, path.name
        out[match.group(1)] += 1
    return out


def _issuances(lobby: Lobby) -> list[tuple[Any, ...]]:
    return office_rows(
        lobby.office.db.path,
        "SELECT request_id, issue_number, card_serial, fee, voided FROM cert_issuances WHERE device_id=?",
        DEVICE,
    )


def _cash_reports(lobby: Lobby) -> list[tuple[Any, ...]]:
    return office_rows(
        lobby.office.db.path, "SELECT event_id, type, amount, request_id FROM cert_cash WHERE device_id=?", DEVICE
    )


def _journal_events(lobby: Lobby, kind: str) -> dict[str, dict[str, Any]]:
    """The kiosk's reported journal records of ``kind`` at the office, once per key."""
    rows = office_rows(lobby.office.db.path, "SELECT data FROM events WHERE device=? AND type='kiosk.journal'", DEVICE)
    out: dict[str, dict[str, Any]] = {}
    for (raw,) in rows:
        data = json.loads(str(raw))
        if data.get("kind") == kind:
            out[str(data["key"])] = data
    return out


# -- whole visits ------------------------------------------------------------------------------------


def test_a_paid_visit_prints_once_gives_change_and_is_reconciled(lobby: Lobby) -> None:
    proc, ctl = lobby.start_kiosk()
    _to_payment(ctl)
    state = ctl.state()
    assert state["session"]["fee"] == 300 and state["max_note"] == 10000
    assert lobby.bus.insert_note(1000)
    final = ctl.wait("take_card", 20)
    assert final["outcome"] == "thank_you" and final["card"] == "returned"
    assert lobby.bus.cashbox == [1000] and sorted(lobby.bus.dispensed) == [100, 100, 500]  # 700 yen change
    (issued,) = _issuances(lobby)
    request_id, issue_number, card_serial, fee, voided = issued
    assert card_serial == "SIM-0001" and fee == 300 and voided is None
    assert _pdfs(lobby) == {issue_number: 1}
    pdf = next(lobby.pdfs.glob("*.pdf")).read_bytes()
    assert pdf.startswith(b"%PDF-") and b"/Count 1" in pdf
    assert len(list(lobby.receipts.glob("*.png"))) == 1  # the receipt; no refund slip
    ctl.ok("card pull")
    ctl.wait("goodbye")
    # The office reconciles the fee kept against its issuance.
    day = lobby.office.kiosk.book.business_day(lobby.office.wall_ms())
    _wait_true(
        lambda: [r[1:] for r in _cash_reports(lobby)] == [("fee_kept", 300, request_id)],
        15,
        f"fee_kept reported: {_cash_reports(lobby)}",
    )
    reconciliation = lobby.office.kiosk.book.reconcile(day)
    assert reconciliation.balanced, reconciliation.mismatches
    (totals,) = reconciliation.devices
    assert (totals.issuances, totals.fee_kept, totals.refunds_paid, totals.refunds_owed) == (1, 300, 0, 0)
    closed = [line for line in proc.lines if line.startswith("closed ")]
    assert len(closed) == 1 and "thank_you paid=1000 kept=300 returned=700 owed=0" in closed[0], proc.lines
    assert proc.stop() == 0  # SIGTERM: a clean stop
    with KioskJournal(lobby.data / "journal") as journal:
        assert journal.open_sessions() == frozenset()
        words = _journal_words(lobby.data / "journal")
    assert words, "the journal holds the visit's records"
    for secret in ("1234", "山田", "SIM-0001"):
        assert not [w for w in words if secret in w], secret


# Fields that hold generated identifiers, counters or timestamps: random hex or digits there
# may contain a PIN's digits by chance, so the check looks at every other value.
_GENERATED = {"key", "session", "seq", "at", "request_id", "issue_number"}


def _journal_words(directory: Path) -> list[str]:
    """Every key and value the journal's segments hold (headers and generated ids left out)."""
    words: list[str] = []

    def walk(value: object, key: str = "") -> None:
        if key in _GENERATED:
            return
        if isinstance(value, dict):
            for k, v in value.items():
                words.append(str(k))
                walk(v, str(k))
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        else:
            words.append(str(value))

    for segment in sorted(directory.glob("seg-*")):
        for line in segment.read_text("utf-8").splitlines():
            if line.startswith("MADOGUCHI-STORE "):
                continue  # the header: a checksum and a length, hex and digits
            walk(json.loads(line))
    return words


def _no_money_taken(lobby: Lobby, ctl: Control) -> None:
    # The acceptors stay shut: a coin put in now drops back to the tray.
    assert not lobby.bus.insert_coin(100)
    assert lobby.bus.cashbox == [] and lobby.bus.dispensed == []
    assert ctl.state()["totals"]["inserted"] == 0


def test_three_wrong_pins_block_the_card_and_take_no_money(lobby: Lobby) -> None:
    proc, ctl = lobby.start_kiosk()
    _to_start(ctl)
    ctl.ok("language en")
    ctl.ok("certificate inkan")
    ctl.ok("options copies=1")
    ctl.ok("card insert SIM-0002")
    assert ctl.wait("pin")["session"]["tries_left"] == 3
    for left in (2, 1):
        ctl.ok("pin 0000")
        state = ctl.state()
        assert state["step"] == "pin" and state["session"]["tries_left"] == left and state["notice"] == "pin_wrong"
    ctl.ok("pin 0000")
    state = ctl.wait("take_card")
    assert state["outcome"] == "card_blocked" and state["card"] == "returned"
    _no_money_taken(lobby, ctl)
    ctl.ok("card pull")
    # The card itself is blocked now: even the right PIN cannot be tried.
    ctl.ok("still_here")
    ctl.ok("language ja")
    ctl.ok("certificate inkan")
    ctl.ok("options copies=1")
    ctl.ok("card insert SIM-0002")
    assert ctl.wait("take_card")["outcome"] == "card_blocked"
    assert _issuances(lobby) == []
    assert proc.stop() == 0
    with KioskJournal(lobby.data / "journal") as journal:
        # No money, no office issuance: nothing journalled but the cash counters at first start.
        assert [r["kind"] for r in journal.records()] == ["cash_cursor", "session_closed"]


def test_a_resident_under_support_measures_is_refused_before_paying(lobby: Lobby) -> None:
    proc, ctl = lobby.start_kiosk()
    _to_start(ctl)
    ctl.ok("language ja")
    ctl.ok("certificate juminhyo")
    ctl.ok("options copies=1")
    ctl.ok("card insert SIM-0005")
    ctl.wait("pin")
    ctl.ok("pin 5678")
    state = ctl.wait("take_card")
    assert state["outcome"] == "go_to_counter" and state["session"] is None
    _no_money_taken(lobby, ctl)
    assert _issuances(lobby) == []
    assert proc.stop() == 0


def test_sigterm_mid_visit_pays_back_and_stops_cleanly(lobby: Lobby) -> None:
    proc, ctl = lobby.start_kiosk()
    _to_payment(ctl)
    assert lobby.bus.insert_coin(100)
    _wait_true(lambda: ctl.state()["session"]["paid"] == 100, 5, "coin credited")
    assert proc.stop() == 0  # SIGTERM (systemd stopping the service)
    assert lobby.bus.dispensed == [100]  # the visit was cancelled and its money paid back first
    assert any(
        line.startswith("closed ") and "cancelled paid=100 kept=0 returned=100 owed=0" in line for line in proc.lines
    ), proc.lines
    with KioskJournal(lobby.data / "journal") as journal:
        assert journal.open_sessions() == frozenset()  # nothing left for the next start


# -- crash safety ----------------------------------------------------------------------------------------


@dataclass
class Books:
    """What the office and the cash simulator say after the kill runs."""

    sessions: int
    paid: int
    kept: int
    returned: int
    owed: int
    cash_in: int
    cash_out: int
    issuances: int
    voided: int
    uncertain: int
    pdfs: int

    @property
    def uncredited(self) -> int:
        """Yen in the cashbox the kiosk never credited (coins seen by the acceptor, not the kiosk)."""
        return self.cash_in - self.paid


def _alive(proc: Proc) -> bool:
    return proc.popen.poll() is None


def _try(ctl: Control, line: str) -> dict[str, Any] | None:
    """A command to a kiosk that may be dying: None once it is gone."""
    try:
        return ctl(line)
    except (OSError, ValueError):
        return None


def _insert(lobby: Lobby, ctl: Control, proc: Proc, kind: str, value: int, inserted: list[tuple[float, int]]) -> bool:
    """Put money in and wait until the kiosk saw it; False when the kiosk died meanwhile."""
    if not _alive(proc):
        return False
    before = _try(ctl, "state")
    if before is None:
        return False
    taken = lobby.bus.insert_coin(value) if kind == "coin" else lobby.bus.insert_note(value)
    if kind == "coin" and taken:
        inserted.append((time.monotonic(), value))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(proc):
        reply = _try(ctl, "state")
        if reply is None:
            return False
        state = reply["state"]
        paid = (state["session"] or {}).get("paid", 0)
        if state["step"] != "payment" or paid > (before["state"]["session"] or {}).get("paid", 0):
            return True
        time.sleep(0.005)
    return _alive(proc)


def _closed_line(proc: Proc) -> tuple[int, int, int, int]:
    """paid, kept, returned, owed of the (one) session the restarted kiosk recovered."""
    lines = [line for line in proc.lines if line.startswith("closed ") and " recovered " in line]
    assert len(lines) == 1, proc.lines
    values = dict(part.split("=") for part in lines[0].split()[3:])
    return int(values["paid"]), int(values["kept"]), int(values["returned"]), int(values["owed"])


def _audit(lobby: Lobby, ctl: Control) -> Books:
    """Every session closed and balanced; every fee kept once, for a certificate printed once."""
    _wait_true(lambda: ctl.state()["outbox_pending"] == 0, 60, "the office acknowledged every report")
    state = ctl.state()
    assert state["open_sessions"] == [] and state["session"] is None, state
    closed = _journal_events(lobby, "session_closed")
    for record in closed.values():
        assert record["paid"] == record["kept"] + record["returned"] + record["owed"], record
    recovered = {r["session"] for r in _journal_events(lobby, "recovered").values()}
    assert recovered <= {r["session"] for r in closed.values()}  # the journal resolved every crash
    uncertain = {
        r.get("request_id") for r in _journal_events(lobby, "alert").values() if r["code"] == "print_uncertain"
    }
    reports = _cash_reports(lobby)
    fees = [(request_id, amount) for _key, kind, amount, request_id in reports if kind == "fee_kept"]
    charged = Counter(request_id for request_id, _ in fees)
    assert all(n == 1 for n in charged.values()), charged  # never charged twice
    issuances = {request_id: (number, fee, voided) for request_id, number, _serial, fee, voided in _issuances(lobby)}
    printed = _pdfs(lobby)
    assert all(n == 1 for n in printed.values()), printed  # never printed twice
    numbers = {number for number, _fee, _voided in issuances.values()}
    assert set(printed) <= numbers  # nothing printed that the office did not issue to this kiosk
    for request_id, amount in fees:
        number, fee, voided = issuances[request_id]
        assert voided is None and amount == fee and printed[number] == 1, (request_id, amount, issuances[request_id])
    for request_id, (number, _fee, voided) in issuances.items():
        if voided is not None:
            assert printed[number] == 0, (request_id, number)  # a voided issuance never printed
        elif request_id not in charged:
            assert request_id in uncertain, (request_id, number)  # only an uncertain print goes free
    kept = sum(r["kept"] for r in closed.values())
    assert kept == sum(amount for _, amount in fees)
    books = Books(
        sessions=len(closed),
        paid=sum(r["paid"] for r in closed.values()),
        kept=kept,
        returned=sum(r["returned"] for r in closed.values()),
        owed=sum(r["owed"] for r in closed.values()),
        cash_in=sum(lobby.bus.cashbox),
        cash_out=sum(lobby.bus.dispensed),
        issuances=len(issuances),
        voided=sum(1 for *_, voided in issuances.values() if voided is not None),
        uncertain=len(uncertain),
        pdfs=sum(printed.values()),
    )
    # Money: what the kiosk counted in is kept, paid back or owed on a slip...
    assert books.paid == books.kept + books.returned + books.owed
    # ...the hoppers paid what it says they did, plus at most what it owes for payouts it could
    # not confirm (a payout cut by the kill is owed in full on a slip, never paid again)...
    assert books.returned <= books.cash_out <= books.returned + books.owed, books
    # ...and every yen it counted is in the cashbox.
    assert books.paid <= books.cash_in, books
    day = lobby.office.kiosk.book.business_day(lobby.office.wall_ms())
    for mismatch in lobby.office.kiosk.book.reconcile(day).mismatches:
        assert mismatch.request_id in uncertain and mismatch.reported == 0, mismatch
    return books


STEP_KILLS = [
    "coin_accepted",
    "note_escrowed",
    "note_stacked",
    "issue_requested",
    "issued",
    "print_started",
    "printed",
    "fee_kept",
    "payout_intent",
    "payout_done",
]
# After a kill at each step (100-yen coin + 1000-yen note for a 300-yen 住民票), the session the
# restart recovers: paid, kept, returned, owed.
EXPECTED = {
    "coin_accepted": (100, 0, 100, 0),
    "note_escrowed": (1100, 0, 1100, 0),  # the note left in escrow is stacked at start, then refunded
    "note_stacked": (1100, 0, 1100, 0),
    "issue_requested": (1100, 0, 1100, 0),
    "issued": (1100, 0, 1100, 0),
    "print_started": (1100, 0, 1100, 0),  # uncertain: refunded, never printed again
    "printed": (1100, 300, 800, 0),
    "fee_kept": (1100, 300, 800, 0),
    "payout_intent": (1100, 300, 0, 800),  # a payout announced, not confirmed: owed, never paid twice
    "payout_done": (1100, 300, 800, 0),
}


@pytest.mark.slow
def test_sigkill_at_each_step_of_a_paid_visit(lobby: Lobby) -> None:
    proc, ctl = lobby.start_kiosk()
    for kind in STEP_KILLS:
        slips = len(list(lobby.receipts.glob("*.png")))
        cash_in, cash_out = sum(lobby.bus.cashbox), sum(lobby.bus.dispensed)
        _to_payment(ctl)
        ctl.ok(f"crash after {kind}")
        inserted: list[tuple[float, int]] = []
        for money, value in (("coin", 100), ("note", 1000)):
            if not _insert(lobby, ctl, proc, money, value, inserted):
                break
        assert proc.popen.wait(20) == -9, (kind, proc.lines[-20:])
        ctl.close()
        proc, ctl = lobby.start_kiosk()
        paid, kept, returned, owed = _closed_line(proc)
        assert (paid, kept, returned, owed) == EXPECTED[kind], (kind, proc.lines)
        assert sum(lobby.bus.cashbox) - cash_in == paid, kind
        assert sum(lobby.bus.dispensed) - cash_out == returned, kind
        if kind == "payout_intent":
            # The refund slip for the 800 yen owed (the receipt is never printed for a recovery).
            assert len(list(lobby.receipts.glob("*.png"))) == slips + 1
        _to_start(ctl)
    # A visit after all that goes through, printing once.
    _to_payment(ctl, "SIM-0006")
    assert lobby.bus.insert_note(1000)
    assert ctl.wait("take_card", 20)["outcome"] == "thank_you"
    books = _audit(lobby, ctl)
    assert books.uncredited == 0
    assert books.kept == 300 * 5 and books.pdfs == 5  # printed, fee_kept, payout_intent, payout_done, the last
    # Killed before asking the office (issue_requested), nothing was issued; after (issued), the
    # issuance was voided; the print that started and never confirmed went free.
    assert books.issuances == 7 and books.voided == 1 and books.uncertain == 1
    assert proc.stop() == 0


KILLS = 100
PAYMENTS = (
    (("note", 1000),),
    (("coin", 100), ("coin", 100), ("coin", 100)),
    (("coin", 500),),
    (("coin", 100), ("note", 1000)),
    (("coin", 50), ("coin", 10), ("coin", 500)),
)
VISITORS = (("SIM-0001", "juminhyo"), ("SIM-0002", "inkan"), ("SIM-0006", "juminhyo"))


def _finish(lobby: Lobby, ctl: Control, proc: Proc) -> None:
    """Let a visit that survived its payment end normally (the kill may still come)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(proc):
        reply = _try(ctl, "state")
        if reply is None:
            return
        state = reply["state"]
        if state["step"] == "take_card":
            _try(ctl, "card pull")
            return
        if state["step"] in ("language", "goodbye"):
            return
        time.sleep(0.005)


@pytest.mark.slow
def test_sigkill_at_random_points_of_paid_visits(lobby: Lobby) -> None:
    rng = random.Random(20260401)
    proc, ctl = lobby.start_kiosk()
    coins: list[tuple[float, int]] = []  # coins the acceptor took: (when, yen)
    kills: list[float] = []
    recovered: Counter[str] = Counter()
    started = time.monotonic()
    for _ in range(KILLS):
        serial, kind = rng.choice(VISITORS)
        _to_payment(ctl, serial, kind=kind)
        victim = proc

        def kill(victim: Proc = victim) -> None:
            kills.append(time.monotonic())
            victim.popen.kill()

        # Anywhere from the first coin to the goodbye screen (a visit's money part lasts ~0.8 s,
        # half of it printing): every other kill within the first 0.25 s, among coins and notes.
        timer = threading.Timer(rng.uniform(0.0, rng.choice((0.25, 1.2))), kill)
        timer.start()
        for money, value in rng.choice(PAYMENTS):
            if not _insert(lobby, ctl, proc, money, value, coins):
                break
        _finish(lobby, ctl, proc)
        timer.join()
        assert proc.popen.wait(10) == -9
        ctl.close()
        proc, ctl = lobby.start_kiosk()
        # Sessions of the run that died, settled from the journal: the visit's, if it was open.
        # (Money put in as the kill landed may come back in a session of this run, which says
        # money_returned: tests/test_kiosk_closed_lines.py.)
        lines = [line for line in proc.lines if line.startswith("closed ") and " recovered " in line]
        assert len(lines) <= 1, proc.lines
        if lines:
            paid, kept, _returned, owed = _closed_line(proc)
            recovered["fee kept" if kept else "refunded" if paid else "nothing held"] += 1
            recovered["owed on a slip"] += owed > 0
        else:
            recovered["nothing open"] += 1
        _to_start(ctl)
    elapsed = time.monotonic() - started
    books = _audit(lobby, ctl)
    # Coins the acceptor took just before a kill (not yet polled, or polled and not journalled)
    # are reported again after the restart (the cash box resumes after the journalled counter).
    near_kill = sum(v for t, v in coins if any(k - 0.25 <= t <= k + 0.05 for k in kills))
    assert books.uncredited == 0, (books, near_kill)
    print(
        f"{KILLS} kills in {elapsed:.0f} s; recovered: {dict(recovered)}; {books.sessions} sessions, "
        f"paid {books.paid}, kept {books.kept}, returned {books.returned}, owed {books.owed}; "
        f"{books.issuances} issuances ({books.voided} voided, {books.uncertain} uncertain), {books.pdfs} printed; "
        f"cash in {books.cash_in}, out {books.cash_out}; uncredited {books.uncredited} yen"
    )
    assert proc.stop() == 0


def test_money_taken_after_the_last_poll_before_a_kill_is_paid_back(lobby: Lobby) -> None:
    proc, ctl = lobby.start_kiosk()
    _to_payment(ctl)
    assert lobby.bus.insert_coin(100)
    _wait_true(lambda: ctl.state()["session"]["paid"] == 100, 5, "the first coin credited")
    # Freeze the kiosk between two polls; the acceptor and the validator go on taking money.
    proc.popen.send_signal(signal.SIGSTOP)
    assert lobby.bus.insert_coin(50) and lobby.bus.insert_coin(10)
    proc.popen.kill()
    assert proc.popen.wait(10) == -9
    ctl.close()
    proc, ctl = lobby.start_kiosk()
    # The journal knew 100 yen; the acceptor's buffer held 60 more past the journalled counter.
    _wait_true(lambda: sum(lobby.bus.dispensed) == 160, 10, f"all 160 yen paid back: {lobby.bus.dispensed}")
    _wait_true(lambda: ctl.state()["open_sessions"] == [], 10, "every session settled")
    _wait_true(lambda: ctl.state()["outbox_pending"] == 0, 30, "the office has every report")
    closed = _journal_events(lobby, "session_closed")
    assert sum(r["paid"] for r in closed.values()) == 160 == sum(lobby.bus.cashbox)
    assert all(r["paid"] == r["returned"] and r["kept"] == 0 and r["owed"] == 0 for r in closed.values()), closed
    # A second restart finds nothing new past the cursor: nothing is paid twice.
    assert proc.stop() == 0
    ctl.close()
    proc, ctl = lobby.start_kiosk()
    _to_start(ctl)
    assert sum(lobby.bus.dispensed) == 160
    assert proc.stop() == 0
    with KioskJournal(lobby.data / "journal") as journal:
        coins = [r["data"] for r in journal.records() if r["kind"] == "coin_accepted"]
    assert sorted(c["value"] for c in coins) == [10, 50, 100]
    assert all(isinstance(c.get("counter"), int) for c in coins), coins


def test_a_print_delayed_past_a_crash_never_comes_out_in_the_next_visit(lobby: Lobby) -> None:
    lobby.write_config(delay_s=1.5)  # a slow printer: visit A's certificate is still on its way
    proc, ctl = lobby.start_kiosk()
    _to_payment(ctl, "SIM-0001")
    assert lobby.bus.insert_note(1000)
    # The state as it is now (``wait`` would answer once the print's effects have run).
    _wait_true(lambda: ctl.state()["step"] == "printing", 10, "visit A printing")
    time.sleep(0.3)
    proc.kill()  # A's job dies with the kiosk before its page came out
    ctl.close()
    lobby.write_config()
    proc, ctl = lobby.start_kiosk()
    assert _closed_line(proc) == (1000, 0, 1000, 0)  # uncertain: A is refunded, never printed again
    _to_payment(ctl, "SIM-0002")  # visit B, another resident
    assert lobby.bus.insert_note(1000)
    assert ctl.wait("take_card", 20)["outcome"] == "thank_you"
    ctl.ok("card pull")
    time.sleep(1.5)  # longer than A's print would have taken
    by_card = {serial: (number, voided) for _rid, number, serial, _fee, voided in _issuances(lobby)}
    assert set(by_card) == {"SIM-0001", "SIM-0002"}
    assert _pdfs(lobby) == {by_card["SIM-0002"][0]: 1}  # B's own certificate, and nothing of A's
    assert by_card["SIM-0001"][1] is None  # its print had started: kept for staff, not voided
    alerts = _journal_events(lobby, "alert") if ctl.state()["outbox_pending"] == 0 else {}
    _wait_true(
        lambda: any(a["code"] == "print_uncertain" for a in _journal_events(lobby, "alert").values()),
        15,
        f"staff alerted to check the printer: {alerts}",
    )
    assert proc.stop() == 0


@pytest.mark.slow
def test_the_touch_screen_kiosk_serves_a_visit_and_stops_on_sigterm(lobby: Lobby, display: str) -> None:
    """``madoguchi-kiosk ui`` under Xvfb: the same runtime behind the screens, driven through the
    control channel, with the in-memory cash box and the simulated cards of a demo kiosk."""
    config = lobby.root / "ui.toml"
    config.write_text(
        f"""
[display]
width = 1080
height = 1920
[card_reader]
backend = "simulated"
ca_dir = "{lobby.jpki.directory}"
[cash]
backend = "fake"
hoppers = [{{address = 3, coin = 500, count = 50}}, {{address = 4, coin = 100, count = 50}},
           {{address = 5, coin = 10, count = 100}}]
[document_printer]
backend = "pdf_dir"
dir = "{lobby.pdfs}"
[printer]
model = "TM-T20III"
backend = "fake"
[speech]
backend = "none"
[kiosk]
poll_interval = 0.02
""",
        encoding="utf-8",
    )
    e = env()
    e["DISPLAY"] = display
    popen = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kiosk.cli",
            "ui",
            "--windowed",
            "--broker",
            lobby.broker.url,
            "--device-id",
            DEVICE,
            "--data",
            str(lobby.data),
            "--device-config",
            str(config),
            "--control",
            str(lobby.control_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=e,
        cwd=REPO,
    )
    proc = Proc.watch(popen)
    lobby.procs.append(proc)
    assert proc.wait_line("ready", 60), proc.lines[-30:]
    ctl = Control(lobby.control_path)
    ctl.wait("online")
    _to_payment(ctl, "SIM-0006")
    assert ctl.ok("note 1000")["taken"]
    assert ctl.wait("take_card", 30)["outcome"] == "thank_you"
    ctl.ok("card pull")
    assert sum(_pdfs(lobby).values()) == 1
    assert proc.stop() == 0, proc.lines[-30:]
    with KioskJournal(lobby.data / "journal") as journal:
        assert journal.open_sessions() == frozenset()
