"""The operator's "closed ..." lines of ``madoguchi-kiosk run`` after a crash (kiosk.cli.ClosedLines).

A note put into the bill validator as the kiosk is killed (the acceptors were open for the visit
that died) is reported by the validator after the restart, once the journal's unfinished visit
has been settled. The kiosk opens a session of its own to hand the note back. That session must
not be told as a second *recovered* one: the word means "an earlier run's session, settled from
the journal", and two of them after one crash would mean money settled twice. (The fault run
tests/test_kiosk_process.py::test_sigkill_at_each_step_of_a_paid_visit failed so when its
note went in just as the "crash after coin_accepted" landed.)

The runtime here is the one of tests/test_kiosk_runtime.py: a real journal on disk, the cash
devices' behavioural model, fakes for the card, the office and the printers.
"""

from __future__ import annotations

import re
from pathlib import Path

from test_kiosk_runtime import Card, Kiosk

from kiosk.cli import ClosedLines
from kiosk.journal import KioskJournal


def _restart(k: Kiosk, tmp: Path, boot_id: str) -> Kiosk:
    """A new kiosk process on the same journal and cash devices, not started yet. Its own boot
    id, as a real process draws one: the helper's fixed one would give this run's first
    session the id of the last run's first (its cash-cursor record)."""
    k.journal.close()
    return Kiosk(tmp, cash=k.cash, start=False, boot_id=boot_id)


def test_a_note_taken_as_the_kiosk_died_is_handed_back_in_a_session_of_its_own_not_a_second_recovery(
    tmp_path: Path,
) -> None:
    k = Kiosk(tmp_path)
    k.to_payment(Card("SIM-0001", "1234"))
    k.coins(100)  # journalled: the visit the restart must settle
    # The kill lands now; the validator is still open and draws a note into its escrow.
    assert k.cash.accepting and k.cash.insert_note(1000)
    k2 = _restart(k, tmp_path, "t2")
    lines: list[str] = []
    k2.rt.subscribe(ClosedLines(lines.append))
    k2.rt.start()  # recovery: the visit is settled before the first poll
    for _ in range(3):
        k2.rt.pump()  # the note's escrow, the return command, the validator's report
    records = k2.journal.records()
    (recovered,) = {r["session"] for r in records if r["kind"] == "recovered"}
    closed = {r["session"]: r["data"] for r in records if r["kind"] == "session_closed"}
    assert recovered.startswith("kiosk-7-t1-")  # the visit of the run that died
    (stray,) = [sid for sid in closed if sid.startswith("kiosk-7-t2-")]  # opened by this run
    assert closed[recovered] == {"paid": 100, "kept": 0, "returned": 100, "owed": 0}
    assert closed[stray] == {"paid": 0, "kept": 0, "returned": 0, "owed": 0}  # the note never counted
    assert k2.cash.dispensed == [100] and k2.cash.returned == [1000] and k2.cash.cashbox == [100]
    # One line per visit; only the journal's unfinished visit says "recovered".
    assert [re.sub(r"^closed (\S+) (\S+) .*$", r"\1 \2", line) for line in lines] == [
        f"{recovered} recovered",
        f"{stray} money_returned",
    ], lines
    assert sum(" recovered " in line for line in lines) == 1
    # Nothing is left for a further start to settle (or to tell as recovered).
    k2.journal.close()
    with KioskJournal(tmp_path / "journal") as journal:
        assert journal.open_sessions() == frozenset()
