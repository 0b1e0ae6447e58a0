"""madoguchi-office: run the office server, give staff commands, inspect the store.

    madoguchi-office serve [--config site.toml] [--db office.sqlite3] [--sim-staff 5]
    madoguchi-office staff call next at counter 3
    madoguchi-office staff advance 1105 to review
    madoguchi-office status
    madoguchi-office check-config site.toml
"""

from __future__ import annotations

import json
import signal
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lobby.cliutil import OneLineParser, add_common, fail, setup_logging
from office import config as configmod
from office.db import OfficeDB
from office.domain import OfficeError
from sync import protocol
from sync.errors import SyncError

PROG = "madoguchi-office"


def _parser() -> OneLineParser:
    parser = OneLineParser(prog=PROG, description="The madoguchi office server and staff commands.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    serve = sub.add_parser("serve", help="run the office server")
    add_common(serve)
    serve.add_argument("--config", type=Path, help="site configuration (TOML); default: the demo town")
    serve.add_argument("--db", type=Path, default=Path("var/office.sqlite3"), help="office store (SQLite)")
    serve.add_argument("--sim-staff", type=float, metavar="SECONDS", help="simulate staff, one step every SECONDS")
    serve.add_argument("--seed", type=int, help="random seed for the simulated staff")

    staff = sub.add_parser("staff", help="a staff command, e.g. 'call next at counter 3'")
    add_common(staff)
    staff.add_argument("--site", default="demo-town", help="site id (default: %(default)s)")
    staff.add_argument("--terminal", default="cli", help="staff terminal id (default: %(default)s)")
    staff.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the office")
    staff.add_argument("words", nargs="+", help="the command, e.g.: call next at counter 3")

    status = sub.add_parser("status", help="what the office store holds today")
    status.add_argument("--db", type=Path, default=Path("var/office.sqlite3"), help="office store (SQLite)")
    status.add_argument("--config", type=Path, help="site configuration (TOML)")

    check = sub.add_parser("check-config", help="validate a site configuration")
    check.add_argument("path", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of madoguchi-office."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "staff":
            return _staff(args)
        if args.command == "status":
            return _status(args)
        configmod.load(args.path)
        print(f"{args.path}: ok")
        return 0
    except (OfficeError, SyncError) as err:
        fail(PROG, str(err))


def _serve(args: Any) -> int:
    from office.server import OfficeServer, make_sim_staff

    setup_logging(args.log_level)
    site = configmod.load(args.config)
    sim = make_sim_staff(args.sim_staff, args.seed) if args.sim_staff else None
    server = OfficeServer(site, args.db, args.broker, sim_staff=sim, on_activity=lambda line: print(line, flush=True))
    stopping = threading.Event()

    def _term(_sig: int, _frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGINT, _term)
    server.start()
    print(f"office for {site.site} serving via {args.broker}; store {args.db}", flush=True)
    while not stopping.wait(0.5):
        pass
    server.stop()
    return 0


def _staff(args: Any) -> int:
    from sync.link import Inbound, MqttLink

    protocol.check_id("site", args.site)
    protocol.check_id("terminal", args.terminal)
    request_id = uuid.uuid4().hex
    command = " ".join(args.words)
    replies: list[dict[str, Any]] = []
    got = threading.Event()

    def on_message(message: Inbound) -> None:
        try:
            doc = protocol.decode("staff_reply", message.payload)
        except SyncError:
            return
        if doc["request_id"] == request_id:
            replies.append(doc)
            got.set()

    link = MqttLink(
        args.broker,
        f"{args.site}-staff-{args.terminal}-{request_id[:6]}",
        subscriptions=[(protocol.topic("staff_reply", args.site, terminal=args.terminal), 1)],
        on_message=on_message,
    )
    link.start()
    try:
        if not link.wait_ready(args.timeout):
            fail(PROG, f"cannot reach the broker at {args.broker}; is it running? (--broker)")
        payload = protocol.encode("staff_command", {"request_id": request_id, "command": command})
        deadline = time.monotonic() + args.timeout
        # Resend with the same request id until answered: the office carries it out once.
        while not got.is_set() and time.monotonic() < deadline:
            link.publish(protocol.topic("staff_command", args.site, terminal=args.terminal), payload, qos=1)
            got.wait(min(2.0, max(0.0, deadline - time.monotonic())))
    finally:
        link.stop()
    if not replies:
        fail(PROG, f"the office did not answer within {args.timeout:g} s; is madoguchi-office serve running for site {args.site}?")
    reply = replies[0]
    print(reply["message"])
    return 0 if reply["ok"] else 1


def _status(args: Any) -> int:
    if not args.db.exists():
        fail(PROG, f"{args.db}: no office store there (--db)")
    site = configmod.load(args.config)
    try:
        db = OfficeDB(args.db)
    except sqlite3.DatabaseError as err:
        fail(PROG, f"{args.db}: not an office store ({err}); check --db")
    try:
        import zoneinfo

        from office.calendar import business_day

        day = business_day(int(time.time() * 1000), zoneinfo.ZoneInfo(site.timezone), site.rollover_hour).isoformat()
        tickets = db.tickets(day)
        by_status: dict[str, int] = {}
        for t in tickets:
            by_status[t.status.value] = by_status.get(t.status.value, 0) + 1
        out = {
            "business_day": day,
            "tickets": len(tickets),
            "by_status": by_status,
            "events": db.event_count(),
            "events_with_problems": db.problem_count(),
            "devices": [
                {"device": r["device"], "role": r["role"], "state": r["state"], "acked_seq": r["acked_seq"],
                 "highest_seq": db.highest_seq(r["device"]),
                 "printer": json.loads(r["printer"]) if r["printer"] else None}
                for r in db.devices()
            ],
        }
        json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
        print()
    finally:
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
