"""The kiosk's touch screen, rendered under Xvfb and driven with real touch events; and the
in-memory office and printers (kiosk.ui_fakes) it is demonstrated with."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from drivers.jpki import JpkiCard
from drivers.jpki_sim import SimulatedCardReader, SimulatedJpkiCa
from harness import REPO, env
from kiosk.ports import OfficeUnavailable
from kiosk.ui_fakes import DemoOffice, DirDocumentPrinter, PlainRenderer, RecordingReceipts
from sync import messages


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> SimulatedJpkiCa:
    return SimulatedJpkiCa.open(tmp_path_factory.mktemp("jpki-ca"))


def signed(ca: SimulatedJpkiCa, office: DemoOffice, serial: str, pin: str) -> tuple[str, bytes, bytes]:
    """A challenge from ``office`` signed by demo card ``serial`` through the real JPKI client."""
    reader = SimulatedCardReader()
    reader.insert(ca.demo_card(serial))
    card = JpkiCard(reader.connect())
    card.select()
    assert card.verify_pin(pin).ok
    challenge = office.challenge("r:challenge", 1.0)
    return challenge.challenge_id, card.read_certificate(), card.sign(challenge.nonce)


# -- the demo office -----------------------------------------------------------------------------------


def _issue_request(
    request_id: str, token: str | None, kind: str, options: dict[str, Any], copies: int, paid: int
) -> messages.IssueRequest:
    return messages.IssueRequest(
        request_id=request_id,
        session_token=token or "",
        kind=kind,
        options=messages.Options(**options),
        copies=copies,
        paid=paid,
    )


def test_demo_office_authenticates_a_card_and_issues_once_per_request(ca: SimulatedJpkiCa) -> None:
    office = DemoOffice(ca.certificate_der)
    cid, cert, sig = signed(ca, office, "SIM-0001", "1234")
    reply = office.authenticate(
        messages.AuthenticateRequest(
            request_id="s1:auth",
            challenge_id=cid,
            certificate=cert,
            signature=sig,
            kind="juminhyo",
            options=messages.Options(scope="household"),
            copies=2,
        ),
        1.0,
    )
    assert reply.ok and reply.fee == 600 and reply.session_token
    assert [m.id for m in reply.household] == ["R0001", "R0002", "R0003"]
    # The same challenge again is a replay: the card is refused without a reason.
    again = office.authenticate(
        messages.AuthenticateRequest(
            request_id="s1:auth",
            challenge_id=cid,
            certificate=cert,
            signature=sig,
            kind="juminhyo",
            options=messages.Options(scope="household"),
            copies=2,
        ),
        1.0,
    )
    assert not again.ok and again.refusal == "card_invalid"
    assert (
        office.issue(_issue_request("s1:issue", reply.session_token, "juminhyo", {}, 2, 500), 1.0).refusal
        == "go_to_counter"
    )
    first = office.issue(
        _issue_request("s1:issue", reply.session_token, "juminhyo", {"scope": "household"}, 2, 600), 1.0
    )
    retry = office.issue(
        _issue_request("s1:issue", reply.session_token, "juminhyo", {"scope": "household"}, 2, 600), 1.0
    )
    assert first.ok and retry == first and first.certificate is not None
    assert first.certificate["issue_number"] == first.issue_number and first.fee == 600
    other = office.issue(
        _issue_request("s2:issue", reply.session_token, "juminhyo", {"scope": "household"}, 2, 600), 1.0
    )
    assert not other.ok  # the session was used: a second request cannot issue again


def test_demo_office_refuses_without_a_reason_and_can_go_away(ca: SimulatedJpkiCa) -> None:
    office = DemoOffice(ca.certificate_der)
    cid, cert, sig = signed(ca, office, "SIM-0005", "5678")
    reply = office.authenticate(
        messages.AuthenticateRequest(
            request_id="s1:auth",
            challenge_id=cid,
            certificate=cert,
            signature=sig,
            kind="juminhyo",
            options=messages.Options(scope="household"),
            copies=1,
        ),
        1.0,
    )
    assert (reply.ok, reply.refusal, reply.fee, reply.household) == (False, "go_to_counter", None, ())
    assert office.refusals == ["support_measures"]  # the reason stays in the office
    office.is_online = False
    assert office.online() is False
    with pytest.raises(OfficeUnavailable):
        office.challenge("r", 1.0)


def test_dir_printer_and_receipts_keep_what_they_print(tmp_path: Path) -> None:
    printer = DirDocumentPrinter(tmp_path / "out")
    pdf = PlainRenderer().render("juminhyo", {"kind": "juminhyo"}, "K000001")
    assert printer.print_pdf(pdf, 2, "住民票") == 2
    [(path, copies)] = printer.jobs
    assert copies == 2 and path.read_bytes() == pdf and pdf.startswith(b"%PDF")
    receipts = RecordingReceipts()
    assert receipts.receipts == [] and receipts.slips == []


# -- the real app under Xvfb --------------------------------------------------------------------------------


def drive(display: str, tmp: Path, steps: list[dict[str, Any]], *args: str) -> dict[str, Any]:
    out = tmp / "ui"
    script = tmp / "script.json"
    script.write_text(json.dumps(steps), encoding="utf-8")
    e = env()
    e["DISPLAY"] = display
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "tests" / "kiosk_ui_driver.py"),
            "--data",
            str(tmp / "data"),
            "--out",
            str(out),
            "--script",
            str(script),
            *args,
        ],
        capture_output=True,
        text=True,
        env=e,
        timeout=180,
        check=False,
    )
    result_file = out / "result.json"
    assert result_file.exists(), f"exit {run.returncode}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
    assert result["errors"] == [], result["errors"]
    assert run.returncode == 0, run.stderr[-3000:]
    return result


def pin(digits: str) -> list[dict[str, Any]]:
    return [{"touch": f"pin:{d}", "pause": 0.15} for d in digits] + [{"touch": "pin:ok"}]


@pytest.mark.slow
def test_touches_from_language_to_pin_pad_payment_and_goodbye(display: str, tmp_path: Path) -> None:
    result = drive(
        display,
        tmp_path,
        [
            {"wait": "language"},
            {"record": "start"},
            {"touch": "lang:ja"},
            {"wait": "certificate"},
            {"touch": "kind:juminhyo"},
            {"wait": "options"},
            {"touch": "opt:zokugara"},
            {"touch": "next"},
            {"wait": "insert_card"},
            {"touch": "sim:card_in:SIM-0001"},
            {"wait": "pin"},
            *pin("9999"),
            {"wait": "pin"},
            {"sleep": 0.5},
            {"record": "wrong pin"},
            {"touch": "pin:1"},
            {"touch": "pin:2"},
            {"record": "two digits"},
            {"touch": "pin:3"},
            {"touch": "pin:4"},
            {"touch": "pin:ok"},
            {"wait": "confirm_fee", "timeout": 20},
            {"record": "fee"},
            {"touch": "pay"},
            {"wait": "payment"},
            {"touch": "sim:coin:100"},
            {"sleep": 0.4},
            {"record": "paying"},
            {"touch": "sim:coin:500"},
            {"wait": "take_card", "timeout": 20},
            {"record": "take card"},
            {"touch": "sim:card_out"},
            {"wait": "goodbye"},
            {"touch": "finish"},
            {"wait": "language"},
            {"office": False},
            {"wait": "unavailable"},
            {"record": "offline"},
        ],
    )
    records = {r["label"]: r for r in result["records"]}
    assert records["start"]["buttons"][:6] == ["lang:ja", "lang:en", "lang:zh_CN", "lang:ko", "lang:vi", "lang:pt"]
    wrong = records["wrong pin"]
    assert wrong["name"] == "pin" and wrong["tries"] == 2 and wrong["notice"] == "暗証番号が違います"
    assert "残り2回" in wrong["texts"] and wrong["pin_entered"] == 0
    assert records["two digits"]["pin_entered"] == 2
    assert records["fee"]["amounts"] == [300, 0, 300]
    assert records["paying"]["amounts"] == [300, 100, 200]
    assert records["take card"]["outcome"] == "thank_you"
    assert result["steps"][:4] == ["language", "certificate", "options", "insert_card"]
    assert "goodbye" in result["steps"] and result["steps"][-1] == "language"
    # Paid 600 for a 300-yen certificate: one printed, 300 yen back from the hoppers, a receipt.
    assert result["printed"] == [["0001-x1.pdf", 1]]
    assert result["cashbox"] == [100, 500] and sum(result["dispensed"]) == 300
    assert result["receipts"] == [{"fee": 300, "paid": 600, "change": 300, "copies": 1, "lang": "ja"}]
    assert result["office_calls"] == ["challenge", "authenticate", "issue"]
    assert {"fee_kept", "payout_done", "session_closed"} <= set(result["journal"])
    spoken = [text for text, _ in result["spoken"]]
    assert "暗証番号を入力してください" in spoken and "暗証番号が違います" in spoken
    # The PIN is nowhere in what the screens showed or the voice said.
    shown = json.dumps(result["records"], ensure_ascii=False) + json.dumps(result["spoken"], ensure_ascii=False)
    assert "1234" not in shown and "9999" not in shown
    # The office went away: the start screen offers nothing but the simulator's strip.
    offline = records["offline"]
    assert offline["buttons"] == [] and offline["title"] == "ただいまご利用いただけません"
