"""The ward's centre catching up: a branch's moving-season day issued with its WAN cut, then the
link restored, until PostgreSQL at the centre holds every event.

    python -m bench.ward_bench [--tickets 5000]

Real parts (tests/ward_rig.py): a central Mosquitto on `madoguchi-office ward broker-files`'s
files, PostgreSQL (Debian's, on a free port) and the central consumer; two branches, each a
Mosquitto bridged through a WAN link that can be cut, its office and a dispenser. Branch A issues
``--tickets`` tickets with its link cut (its lobby goes on: the figure ``ward_branch_issue_s`` is
how long that took), then the link comes back:

* ``central_catch_up_s``: from the link restored until the centre holds every event and every
  ticket log row of the day;
* ``central_ingest_events_per_s``: those events and rows over that time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from bench.rig import RESULTS, merge_results

__all__ = ["run"]

REPO = Path(__file__).resolve().parents[1]


def run(tickets: int = 5000) -> dict[str, float]:
    """The bench; its figures."""
    sys.path.insert(0, str(REPO / "tests"))
    import psycopg
    from ward_rig import branch_events, issue, leased, settle, start_ward

    from harness import SITE
    from lobby.postgres import PostgresServer

    pg = PostgresServer()
    pg.start()
    try:
        with tempfile.TemporaryDirectory(prefix="madoguchi-ward-") as tmp:
            ward = start_ward(Path(tmp), pg.dsn)
            try:
                a = ward.branches["demo-town"]
                settle(lambda: leased(a), 30, "no lease")
                a.link.cut()
                t0 = time.perf_counter()
                # one purpose of each number series in turn: a day of 5,000 is more than one
                # series' 999 numbers (birth and marriage share one)
                one_per_series = {c.series: c.code for c in SITE.categories}
                issue(a, tickets, tuple(one_per_series.values()))
                settle(lambda: a.office.db.count_tickets() == tickets, 120, "the branch's office lost tickets")
                issued_s = time.perf_counter() - t0
                wanted = len(branch_events(a))
                log_rows = int(a.office.db.conn.execute("SELECT COUNT(*) FROM ticket_log").fetchone()[0])

                def at_centre(table: str) -> int:
                    with psycopg.connect(pg.dsn) as db:
                        row = db.execute(f"SELECT count(*) FROM {table} WHERE site = 'demo-town'").fetchone()
                    return int(row[0]) if row else 0

                before = at_centre("ward_events") + at_centre("ward_ticket_log")
                t1 = time.perf_counter()
                a.link.restore()
                settle(
                    lambda: at_centre("ward_events") >= wanted and at_centre("ward_ticket_log") >= log_rows,
                    600,
                    "the centre did not catch up",
                )
                catch_up = time.perf_counter() - t1
            finally:
                ward.close()
    finally:
        pg.close()
    figures = {
        "ward_branch_issue_s": round(issued_s, 1),
        "central_catch_up_s": round(catch_up, 2),
        "central_ingest_events_per_s": round((wanted + log_rows - before) / catch_up, 1),
        "ward_day_events": float(wanted),
        "ward_day_log_rows": float(log_rows),
    }
    print(f"  ward: {tickets} tickets ({wanted} events, {log_rows} log rows) with the WAN cut in {issued_s:.1f} s; caught up"
          f" in {catch_up:.1f} s ({figures['central_ingest_events_per_s']} events/s)", flush=True)  # fmt: skip
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ward_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=5000)
    parser.add_argument("--results", type=Path, default=RESULTS)
    a = parser.parse_args(argv)
    figures = run(a.tickets)
    merge_results(a.results, figures)
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
