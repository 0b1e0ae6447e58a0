"""A year unattended at accelerated time: the office, a dispenser and a board, on a real broker,
through every business day's rollover, and what piles up on their disks.

One clock stands in for the wall clock of all three (the office's, and each device agent's
wall and monotonic clocks): each business day it is set to 08:30, the dispenser issues its
tickets, the office's simulated staff call and move them through the afternoon, and the clock
jumps to the next business day (weekends skipped). Retention is the site's ``[retention]``,
shortened here so that a year holds many windows. After each day the rig records the bytes on
disk of each part and the bytes each device's stores wrote (SD-card wear:
:func:`sync.store.bytes_written`).

``tests/test_year.py`` asserts on it (disk use flat after the retention window, nothing issued
lost); ``make bench`` reports its figures (:func:`run`): bytes written per ticket and the disk
use after the year.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sqlite3
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec

from bench.rig import SERIES_PURPOSES, wait_for
from lobby.brokers import MosquittoBroker
from office import actions
from office import config as configmod
from office.server import OfficeServer
from office.simstaff import SimStaff
from sync.agent import AgentConfig, DeviceAgent
from sync.site import Retention, SiteConfig
from sync.store import bytes_written
from ticket_dispenser.device import Dispenser
from ticket_dispenser.errors import DispenserError

log = logging.getLogger("bench.year")
JST = ZoneInfo("Asia/Tokyo")


class Clock:
    """The one wall clock of the rig (ms), set by the rig; monotonic as long as it only moves on."""

    def __init__(self, start: datetime) -> None:
        self._ms = int(start.timestamp() * 1000)
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return self._ms

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._ms = max(self._ms, int(moment.timestamp() * 1000))


@dataclass
class Day:
    """What the disks held at the end of one business day (bytes), and what was written."""

    day: str
    issued: int
    dispenser_disk: int
    board_disk: int
    office_disk: int
    office_events: int
    office_leases: int
    office_calls: int
    office_tickets: int
    dispenser_written: int
    board_written: int
    ticket_logs: int  # days of ticket logs on the dispenser


@dataclass
class Year:
    days: list[Day] = field(default_factory=list)
    refused: int = 0  # presses the dispenser refused (numbers not yet leased: retried)

    @property
    def issued(self) -> int:
        return sum(d.issued for d in self.days)


def disk_use(path: Path) -> int:
    """Bytes of the files under ``path`` (what the SD card holds). The devices keep running
    while it counts: a store's temporary file can be renamed away between listing and stat
    (its bytes are then counted under the name it took, or were already)."""
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file():
                total += p.stat().st_size
        except FileNotFoundError:
            continue
    return total


def business_days(first: date, count: int) -> list[date]:
    out: list[date] = []
    day = first
    while len(out) < count:
        if day.weekday() < 5:
            out.append(day)
        day += timedelta(days=1)
    return out


def run_year(
    root: Path,
    broker_url: str,
    *,
    days: int = 365,
    per_day: int = 8,
    device_days: int = 14,
    event_days: int = 30,
    first: date = date(2027, 1, 4),
) -> Year:
    """Drive ``days`` business days through a fresh office, dispenser and board under ``root``."""
    site: SiteConfig = msgspec.structs.replace(
        configmod.load(), retention=Retention(device_days=device_days, event_days=event_days)
    )
    calendar = business_days(first, days)
    clock = Clock(datetime.combine(calendar[0], datetime.min.time(), JST).replace(hour=8))
    office = OfficeServer(
        site,
        root / "office.sqlite3",
        broker_url,
        sim_staff=SimStaff(pace_ms=20 * 60_000, rng=random.Random(7)),
        wall_ms=clock,
        # A business day passes here in a tenth of a second: the office's usual wait after its
        # start (seconds, for the devices' first turns) would put its first prune some number
        # of days into the year that the machine's speed decides. Retention from the first day.
        prune_after_start_s=0.0,
    )
    office.start()
    agents: list[DeviceAgent] = []
    try:
        if not office.wait_online(15):
            raise RuntimeError("the office did not come online")
        for device, role in (("disp-year", "dispenser"), ("board-year", "board")):
            agent = DeviceAgent(
                AgentConfig(site=site.site, device_id=device, role=role, broker_url=broker_url, data_dir=root / device),
                wall_ms=clock,
                mono_ms=clock,
            )
            agent.start()
            agents.append(agent)
        disp_agent = agents[0]
        dispenser = Dispenser(disp_agent)
        year = Year()
        try:
            for n, day in enumerate(calendar):
                clock.set(datetime.combine(day, datetime.min.time(), JST).replace(hour=8, minute=30))
                # The dispenser's status goes out at its worker's first turn after the clock
                # moved (its interval has passed) and the office leases the day's numbers on it:
                # that turn now, rather than whenever the worker next wakes (up to 0.5 s).
                disp_agent.health_changed()
                issued = _issue(dispenser, per_day, n, year)
                if not wait_for(lambda: disp_agent.outbox.pending_count() == 0, 20, 0.002):
                    raise RuntimeError(f"{day}: the office did not acknowledge the day's tickets")
                # The afternoon: the simulated staff call, move and finish tickets in the
                # office's loop turns at 14:00.
                clock.set(datetime.combine(day, datetime.min.time(), JST).replace(hour=14))
                _office_turns(office)
                year.days.append(_measure(day, issued, root, office))
        finally:
            dispenser.close()
    finally:
        for agent in agents:
            agent.stop()
        office.stop()
    return year


def _issue(dispenser: Dispenser, count: int, n: int, year: Year) -> int:
    issued = 0
    deadline = time.monotonic() + 20
    while issued < count:
        purpose = SERIES_PURPOSES[(n + issued) % len(SERIES_PURPOSES)]
        try:
            dispenser.issue(purpose)
        except DispenserError:
            year.refused += 1  # today's numbers not leased yet: the office grants them in a moment
            if time.monotonic() > deadline:
                raise
            time.sleep(0.002)  # a press costs no disk write when refused: ask again soon
            continue
        issued += 1
    return issued


def _office_turns(office: OfficeServer) -> None:
    """Return once the office's loop has run a whole turn that began after this call.

    Two sign-outs of a console that never signed in (a no-op in the store) go through the
    loop in turn: each wakes it, and each is answered during its turn, after the turns before
    it ended. The first is carried out in a turn that began now - its simulated staff see the
    clock as set - and the second's answer means that turn is over. (A fixed sleep for "one
    turn" was most of each simulated day.)
    """
    for _ in range(2):
        office.submit_session(actions.SignOut(key="bench-year-turn")).result(timeout=20)


def _measure(day: date, issued: int, root: Path, office: OfficeServer) -> Day:
    db = sqlite3.connect(f"file:{root / 'office.sqlite3'}?mode=ro", uri=True)
    try:
        counts = {
            t: int(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
            for t in ("events", "leases", "calls", "tickets")
        }
    finally:
        db.close()
    office_disk = sum(p.stat().st_size for p in root.glob("office.sqlite3*") if p.is_file())
    return Day(
        day=day.isoformat(),
        issued=issued,
        dispenser_disk=disk_use(root / "disp-year"),
        board_disk=disk_use(root / "board-year"),
        office_disk=office_disk,
        office_events=counts["events"],
        office_leases=counts["leases"],
        office_calls=counts["calls"],
        office_tickets=counts["tickets"],
        dispenser_written=bytes_written(root / "disp-year"),
        board_written=bytes_written(root / "board-year"),
        ticket_logs=sum(1 for p in (root / "disp-year" / "tickets").iterdir() if p.is_dir()),
    )


def figures(year: Year) -> dict[str, float]:
    """What ``make bench`` reports of a year."""
    last = year.days[-1]
    return {
        "year_days": len(year.days),
        "year_tickets": year.issued,
        "dispenser_bytes_written_per_ticket": round(last.dispenser_written / max(1, year.issued)),
        "board_bytes_written_per_ticket": round(last.board_written / max(1, year.issued)),
        "dispenser_disk_kb_after_year": round(last.dispenser_disk / 1024, 1),
        "board_disk_kb_after_year": round(last.board_disk / 1024, 1),
        "office_disk_kb_after_year": round(last.office_disk / 1024, 1),
        "office_disk_bytes_per_ticket": round(last.office_disk / max(1, year.issued)),
    }


def run(days: int = 365, per_day: int = 40) -> dict[str, float]:
    """The bench: a year of ``per_day`` tickets a business day; its figures."""
    with tempfile.TemporaryDirectory(prefix="madoguchi-year-") as tmp:
        root = Path(tmp)
        broker = MosquittoBroker(root / "broker")
        broker.start()
        try:
            started = time.monotonic()
            year = run_year(root / "run", broker.url, days=days, per_day=per_day)
            out = figures(year)
            out["year_run_s"] = round(time.monotonic() - started, 1)
        finally:
            broker.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--per-day", type=int, default=40)
    a = parser.parse_args(argv)
    print(json.dumps(run(a.days, a.per_day), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
