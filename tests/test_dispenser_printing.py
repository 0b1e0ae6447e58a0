"""Printer faults end to end: the real ESC/POS driver on the behavioural fake printer, the
dispenser core, a real Mosquitto and the office. Never 'success' on a blank ticket."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.escpos_printer import EscposTicketPrinter, FakeEscpos
from drivers.raster import decode_escpos
from firmware_profiles.packaged import printer_model_named
from harness import SITE, has_full_lease, office_rows, start_dispenser, start_office
from office import cli as office_cli
from ticket_dispenser.device import Dispenser
from ticket_dispenser.ticket import ticket_job

# The facts of the dispenser's default printer, from its profile (as an app reads them).
TM_T20III = printer_model_named("TM-T20III")


@pytest.fixture
def lobby(mosquitto, tmp_path: Path, wait_for):
    office = start_office(mosquitto.url, tmp_path / "office.sqlite3")
    device = start_dispenser(mosquitto.url, tmp_path / "disp-d1", "disp-d1")
    fake = FakeEscpos(paper=50, near_end_at=3)
    printer = EscposTicketPrinter(fake, TM_T20III)
    dispenser = Dispenser(device.agent, printer)
    wait_for(lambda: has_full_lease(device))
    yield office, device, dispenser, fake
    dispenser.close()
    device.close()
    office.stop()


def events(office, kind: str) -> list[str]:
    return [r[0] for r in office_rows(office.db.path, "SELECT data FROM events WHERE type=? ORDER BY seq", kind)]


def test_a_printed_ticket_carries_its_number_in_the_raster(lobby, wait_for) -> None:
    _office, _device, dispenser, fake = lobby
    result = dispenser.issue("tax", language="en")
    assert result.printed and result.fault is None
    assert len(fake.tickets) == 1 and fake.tickets[0].cut and fake.tickets[0].complete
    decoded = decode_escpos(fake.jobs[0])
    expected = EscposTicketPrinter(FakeEscpos(), TM_T20III).render(ticket_job(result.ticket))
    assert decoded.tobytes() == expected.tobytes()  # the very image with the number in it


@pytest.mark.parametrize(
    ("fault", "script", "recover"),
    [
        ("paper_out", lambda f: f.set_paper(0), lambda f: f.set_paper(50)),
        ("cover_open", lambda f: f.open_cover(), lambda f: f.close_cover()),
        ("offline", lambda f: f.go_offline(), lambda f: f.go_online()),
        ("disconnected", lambda f: f.unplug(), lambda f: f.plug()),
    ],
)
def test_a_fault_before_printing_holds_the_ticket_and_reprints_on_recovery(
    lobby, wait_for, fault, script, recover
) -> None:
    office, device, dispenser, fake = lobby
    script(fake)
    result = dispenser.issue("tax")
    assert not result.printed and result.fault == fault
    assert len(fake.tickets) == 0  # nothing came out: never claimed as printed
    assert dispenser.pending_reprints() == [result.ticket.ticket_id]
    wait_for(lambda: device.agent.pending_count() == 0)
    assert office_rows(office.db.path, "SELECT ticket_id FROM tickets") == [(result.ticket.ticket_id,)]  # still valid
    assert any(f'"{fault}"' in e for e in events(office, "ticket.print_failed"))
    assert any(f'"fault": "{fault}"' in e for e in events(office, "printer.status"))
    assert dispenser.check_printer().fault == fault  # still broken: nothing reprinted
    assert len(fake.tickets) == 0
    recover(fake)
    assert dispenser.check_printer().ok
    assert len(fake.tickets) == 1 and fake.tickets[0].complete
    assert dispenser.pending_reprints() == []
    wait_for(lambda: device.agent.pending_count() == 0)
    assert events(office, "ticket.reprinted") == [f'{{"ticket_id": "{result.ticket.ticket_id}"}}']
    assert '"fault": null' in events(office, "printer.status")[-1]


def test_paper_running_out_during_the_job_is_not_success(lobby) -> None:
    _, _, dispenser, fake = lobby
    fake.run_out_mid_job()
    result = dispenser.issue("tax")
    assert not result.printed and result.fault == "paper_out"
    assert len(fake.tickets) <= 1 and not all(t.complete for t in fake.tickets)
    assert dispenser.pending_reprints() == [result.ticket.ticket_id]


def test_a_cutter_error_after_printing_holds_the_ticket(lobby) -> None:
    _, _, dispenser, fake = lobby
    fake.jam_cutter()
    result = dispenser.issue("tax")
    assert not result.printed and result.fault == "cutter_error"
    assert dispenser.pending_reprints() == [result.ticket.ticket_id]


def test_paper_near_end_warns_the_office_once_and_tickets_still_print(lobby, wait_for) -> None:
    office, device, dispenser, fake = lobby
    fake.set_paper(5)
    for _ in range(3):
        assert dispenser.issue("tax").printed
    wait_for(lambda: device.agent.pending_count() == 0)
    near = [e for e in events(office, "printer.status") if '"paper_near_end": true' in e]
    assert len(near) == 1
    status = office_rows(office.db.path, "SELECT printer FROM devices WHERE device='disp-d1'")[0][0]
    assert '"paper_near_end": true' in status


def test_staff_void_drops_a_held_ticket_from_the_reprint_queue(lobby, mosquitto, wait_for, capsys) -> None:
    _office, device, dispenser, fake = lobby
    fake.set_paper(0)
    held = dispenser.issue("tax").ticket
    kept = dispenser.issue("tax").ticket
    wait_for(lambda: device.agent.pending_count() == 0)
    assert office_cli.main(["staff", "--broker", mosquitto.url, "--site", SITE.site, "void", str(held.number)]) == 0
    capsys.readouterr()
    wait_for(
        lambda: held.ticket_id in getattr(device.agent.document("voids"), "tickets", ()),
        message="the dispenser heard of the void",
    )
    fake.set_paper(50)
    assert dispenser.check_printer().ok
    assert dispenser.pending_reprints() == []
    assert len(fake.tickets) == 1  # only the ticket staff kept was reprinted
    assert (
        decode_escpos(fake.jobs[-1]).tobytes()
        == EscposTicketPrinter(FakeEscpos(), TM_T20III).render(ticket_job(kept, reprint=True)).tobytes()
    )
