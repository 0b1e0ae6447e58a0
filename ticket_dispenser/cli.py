"""madoguchi-dispenser: the headless dispenser (the touch screen arrives with its own issue).

    madoguchi-dispenser run --device-id disp-1 --data var/disp-1          # type a purpose per line
    madoguchi-dispenser run --device-id disp-1 --auto moving,certificates --interval 2
    madoguchi-dispenser press certificates --device-id disp-1 --data var/disp-1   # offline
    madoguchi-dispenser purposes --device-id disp-1 --data var/disp-1

Each issued ticket prints one line: ``issued 1105 転入・転出・転居 (ticket 2026-11-21-1-1105) ...``
once the ticket is durable - a line printed is a ticket the office will receive.
"""

from __future__ import annotations

import itertools
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.cli import OneLineParser, UsageError, add_common, add_office_key, fail, setup_logging
from drivers.plain_printers import TextFilePrinter
from drivers.ticket_printer import TicketPrinter
from sync.agent import AgentConfig, DeviceAgent
from sync.errors import SyncError
from ticket_dispenser.device import Dispenser, IssueResult
from ticket_dispenser.errors import DispenserError

PROG = "madoguchi-dispenser"


def _parser() -> OneLineParser:
    parser = OneLineParser(prog=PROG, description="The madoguchi ticket dispenser, headless.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for name, text in (
        ("run", "connect to the office and issue tickets (stdin or --auto)"),
        ("press", "issue tickets without connecting (uses the stored lease)"),
        ("purposes", "list the purposes this dispenser offers"),
        ("sync", "connect, send every journalled event to the office, then exit"),
        ("ui", "the touch-screen dispenser (Kivy)"),
    ):
        p = sub.add_parser(name, help=text)
        add_common(p)
        add_office_key(p)
        p.add_argument("--site", default="demo-town", help="site id (default: %(default)s)")
        p.add_argument("--device-id", required=True, help="this dispenser's id, e.g. disp-1")
        p.add_argument("--data", type=Path, help="data directory (default: var/<device-id>)")
        p.add_argument("--tickets", type=Path, help="write each printed ticket as text here")
        if name == "press":
            p.add_argument("category", help="purpose code, e.g. certificates")
            p.add_argument("--count", type=int, default=1, help="how many presses")
        if name == "ui":
            p.add_argument(
                "--device-config", type=Path, help="the device's hardware (TOML): display, printer, keypad, speech"
            )
            p.add_argument(
                "--fake-printer",
                type=Path,
                metavar="DIR",
                help="print on a simulated printer; each ticket becomes a PNG in DIR",
            )
            p.add_argument("--windowed", action="store_true", help="a normal window instead of the kiosk full screen")
        if name == "sync":
            p.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds")
        if name == "run":
            p.add_argument("--auto", help="comma-separated purposes to press in turn, without stdin")
            p.add_argument("--interval", type=float, default=1.0, help="seconds between --auto presses")
            p.add_argument("--count", type=int, help="stop after this many --auto presses")
            p.add_argument(
                "--wait-config",
                type=float,
                default=15.0,
                help="seconds to wait for the office's configuration on first start",
            )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of madoguchi-dispenser."""
    args = _parser().parse_args(argv)
    setup_logging(args.log_level)
    data = args.data or Path("var") / args.device_id
    printer: TicketPrinter | None = TextFilePrinter(args.tickets) if args.tickets else None
    try:
        agent = DeviceAgent(
            AgentConfig(
                site=args.site,
                device_id=args.device_id,
                role="dispenser",
                broker_url=args.broker,
                data_dir=data,
                office_key=args.office_key,
            )
        )
        dispenser = Dispenser(agent, printer)
    except (SyncError, DispenserError) as err:
        fail(PROG, str(err))
    try:
        if args.command == "purposes":
            return _purposes(agent)
        if args.command == "press":
            return _press(dispenser, [args.category] * args.count)
        if args.command == "sync":
            return _sync(args, agent)
        if args.command == "ui":
            from ticket_dispenser.ui import run_ui

            dispenser.close()
            return run_ui(args, agent, lambda printer: Dispenser(agent, printer))
        return _run(args, agent, dispenser)
    except (SyncError, DispenserError, OSError, UsageError) as err:
        fail(PROG, str(err))
    finally:
        leaving = sys.exc_info()[1]  # why we are stopping, if not a normal return
        try:
            dispenser.close()
            if args.command in ("run", "sync", "ui"):
                agent.stop()
            else:
                agent.outbox.close()
                agent.state.close()
        except (SyncError, OSError) as err:
            # A full (or read-only) disk fails the last writes on the way out as well: one line
            # and status 2 - or nothing more when the reason was already said.
            if leaving is None:
                fail(PROG, str(err))
            raise SystemExit(2) from None


def _describe(result: IssueResult) -> str:
    t = result.ticket
    name = t.names.get("ja", t.category)
    extra = []
    if t.people_ahead is not None:
        extra.append(f"{t.people_ahead} ahead")
    if t.est_wait_min is not None:
        extra.append(f"about {t.est_wait_min} min")
    if not result.printed and result.print_error:
        extra.append(f"NOT PRINTED: {result.print_error}")
    return f"issued {t.number} {name} (ticket {t.ticket_id})" + (" - " + ", ".join(extra) if extra else "")


def _press(dispenser: Dispenser, categories: Sequence[str]) -> int:
    for category in categories:
        try:
            result = dispenser.issue(category)
        except DispenserError as err:
            fail(PROG, str(err))
        print(_describe(result), flush=True)
    return 0


def _purposes(agent: DeviceAgent) -> int:
    config = agent.document("office_config")
    if config is None:
        fail(PROG, "no office configuration stored yet: run the dispenser connected to the office once")
    for cat in config.categories:
        print(f"{cat.code:<16} {cat.name.get('ja', '')}  ({cat.name.get('en', '')})")
    return 0


def _sync(args: Any, agent: DeviceAgent) -> int:
    agent.start()
    pending = agent.pending_count()
    if agent.wait_drained(args.timeout):
        print(f"synced: {pending} events acknowledged by the office", flush=True)
        return 0
    fail(PROG, f"{agent.pending_count()} events still unacknowledged after {args.timeout:g} s; is the office running?")


def _run(args: Any, agent: DeviceAgent, dispenser: Dispenser) -> int:
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    agent.start()
    deadline = time.monotonic() + args.wait_config
    while agent.document("office_config") is None and time.monotonic() < deadline and not stopping.is_set():
        if agent.storage_failure is not None:
            raise agent.storage_failure
        time.sleep(0.05)
    if agent.document("office_config") is None:
        fail(PROG, f"no office configuration yet: is the office running and the broker at {args.broker} reachable?")
    print("ready", flush=True)
    if args.auto:
        purposes = [p.strip() for p in args.auto.split(",") if p.strip()]
        presses = itertools.cycle(purposes)
        done = 0
        while not stopping.is_set() and (args.count is None or done < args.count):
            if agent.storage_failure is not None:
                raise agent.storage_failure
            try:
                print(_describe(dispenser.issue(next(presses))), flush=True)
            except DispenserError as err:
                print(f"not issued: {err}", flush=True)
            done += 1
            if args.interval > 0:
                stopping.wait(args.interval)
        return 0
    print("type a purpose code per line (Ctrl-D to stop):", flush=True)
    for line in sys.stdin:
        word = line.strip()
        if not word:
            continue
        try:
            print(_describe(dispenser.issue(word)), flush=True)
        except DispenserError as err:
            print(f"not issued: {err}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
