"""``madoguchi-demo --ward`` (``make demo CITY=1``): a ward on one machine. Two branch offices,
each with its own Mosquitto, office (simulated staff) and dispenser (simulated residents), their
brokers bridged through WAN links to a central Mosquitto, and the centre's consumer writing both
branches' events and ticket logs into PostgreSQL (Debian's, started in a folder of its own).

The centre is an office of its own (``ward-centre``, its own broker and store) whose staff console
serves the ward's floor, the ward's statistics and the shared input centre: both branches share
their input station with it, so an operator signed in there (input1) claims and keys their
cases, signed with the centre office's key that the branches pin.

The demo's prompt cuts and restores a branch's WAN link: its lobby goes on, the centre falls
behind, and catches up when the link is back.

    cut chuo | restore chuo | lag | figures | help | quit
"""

from __future__ import annotations

import logging
import os
import pwd
import select
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from sync.site import Ward

BRANCHES = ("chuo", "kita")  # 中央 and 北: the demo ward's two branch offices
DESK = "ward-desk"  # the centre's input desk on the central broker (one of its consumers)
log = logging.getLogger(__name__)
HELP = "commands: cut SITE, restore SITE, lag, figures, help, quit (sites: " + ", ".join(BRANCHES) + ")"


def run(args: Any, say: Any, fail: Any, residents: Any) -> int:
    """The ward demo; ``say``, ``fail`` and ``residents`` are the lobby demo's own helpers."""
    from lobby.brokers import MosquittoBroker, MosquittoNotFoundError, free_port
    from lobby.postgres import PostgresNotFoundError, PostgresServer
    from lobby.wan_link import WanLink
    from office import config as configmod
    from office.identity import signing_key_path
    from office.server import OfficeServer, make_sim_staff
    from office.ward_bridge import (
        DEFAULT_CONSUMER,
        CentralFiles,
        branch_bridge_conf,
        central_acl_text,
        central_conf_text,
    )
    from office.ward_consumer import WardConsumer
    from sync import signing
    from sync.agent import AgentConfig, DeviceAgent
    from ticket_dispenser.device import Dispenser

    data = args.data or Path(tempfile.mkdtemp(prefix="madoguchi-ward-"))
    stopping = threading.Event()
    loaded = configmod.load_office(args.config)
    site = loaded.site
    started: list[Callable[[], object]] = []  # how to stop what was started, in order
    try:
        try:
            pg = PostgresServer()
            pg.start()
        except (PostgresNotFoundError, RuntimeError) as err:
            fail(f"the ward demo needs PostgreSQL: {err} (make demo installs it)")
        started.append(pg.close)
        say("centre", f"PostgreSQL on {pg.dsn}")
        port = free_port()
        home = data / "central"
        home.mkdir(parents=True, exist_ok=True)
        user = pwd.getpwuid(os.geteuid()).pw_name
        (home / "mosquitto.conf").write_text(
            central_conf_text(
                BRANCHES, CentralFiles(str(home.resolve())), port=port, bind_address="127.0.0.1", run_as_user=user
            )
        )
        (home / "acl").write_text(central_acl_text(BRANCHES, (DEFAULT_CONSUMER, DESK)))
        central = MosquittoBroker(home, port, config_file=home / "mosquitto.conf")
        try:
            central.start()
        except MosquittoNotFoundError as err:
            fail(f"the ward demo needs Mosquitto: {err}")
        started.append(central.stop)
        say("centre", f"central Mosquitto on 127.0.0.1:{port}, the consumer writes into PostgreSQL")
        # The centre's office: its signing key first, for the branches to pin as their centre_key.
        centre_home = data / "centre"
        centre_home.mkdir(parents=True, exist_ok=True)
        centre_key = signing.load_or_create_key(signing_key_path(centre_home / "office.sqlite3"))
        sharing = Ward(send_log=True, share_input=True, centre_key=signing.public_key_text(centre_key.public_key()))
        links: dict[str, WanLink] = {}
        offices: dict[str, OfficeServer] = {}
        dispensers: list[Dispenser] = []
        for name in BRANCHES:
            link = WanLink(port)
            links[name] = link
            started.append(link.close)
            broker = MosquittoBroker(
                data / name / "broker", extra_conf=branch_bridge_conf(name, f"127.0.0.1:{link.port}", restart_s=(1, 5))
            )
            broker.start()
            started.append(broker.stop)
            branch = msgspec.structs.replace(site, site=name, office_name=f"{site.office_name}（{name}）", ward=sharing)
            office = OfficeServer(
                branch, data / name / "office.sqlite3", broker.url, sim_staff=make_sim_staff(args.pace)
            )
            office.start()
            started.append(office.stop)
            if not office.wait_online(15):
                fail(f"branch {name}'s office could not reach its broker")
            agent = DeviceAgent(
                AgentConfig(
                    site=name,
                    device_id="disp-1",
                    role="dispenser",
                    broker_url=broker.url,
                    data_dir=data / name / "disp-1",
                )
            )
            agent.start()
            started.append(agent.stop)
            dispenser = Dispenser(agent)
            dispensers.append(dispenser)
            offices[name] = office
            say(name, f"branch {name}: Mosquitto {broker.url}, office, dispenser; WAN link via 127.0.0.1:{link.port}")
        # The centre's consumer takes a branch's ticket log only when that branch's office signed it.
        keys = {name: office.signer.public_text for name, office in offices.items()}
        consumer = WardConsumer(
            "127.0.0.1",
            port,
            pg.dsn,
            username=DEFAULT_CONSUMER,
            branch_keys=keys,
            signer=signing.OfficeSigner(centre_key),  # the branches pinned it: they believe only its acks
        )
        consumer.start()
        started.append(consumer.stop)
        started.extend(_centre(args, site, loaded.desk_printer, data, pg.dsn, port, centre_key, offices, say, fail))
        threads = [
            threading.Thread(target=residents, args=(d, site, args.interval, stopping), daemon=True) for d in dispensers
        ]
        for t in threads:
            t.start()
        say("ward", HELP)
        started_at = time.monotonic()
        while not stopping.is_set():
            if args.duration is not None and time.monotonic() - started_at >= args.duration:
                break
            line = _read_line(1.0)
            if line is None:
                continue
            if line == "":  # end of input: the demo runs on until Ctrl-C or --duration
                if args.duration is None:
                    stopping.wait()
                continue
            _command(line.strip(), links, offices, consumer, pg.dsn, site, say)
        stopping.set()
        for t in threads:
            t.join(timeout=5)
        # The last residents' tickets are a moment from the centre over a link that is up.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            at_centre = {row.site: row.events for row in consumer.lag()}
            if all(
                not links[name].up or at_centre.get(name, 0) >= office.db.count_tickets(office.business_day())
                for name, office in offices.items()
            ):
                break
            time.sleep(0.2)
        for name, office in offices.items():
            say(name, f"stopping: {office.db.count_tickets(office.business_day())} tickets today at branch {name}")
        for row in consumer.lag():
            say("centre", f"{row.site}: {row.events} events at the centre")
        return 0
    finally:
        stopping.set()
        for stop in reversed(started):
            try:
                stop()
            except Exception:
                log.exception("ward demo: stopping a part failed")


def _centre(
    args: Any,
    site: Any,
    desk_printer: Any,
    data: Path,
    dsn: str,
    port: int,
    key: Any,
    offices: dict[str, Any],
    say: Any,
    fail: Any,
) -> list[Callable[[], object]]:
    """The central office and its console; how to stop them, in order."""
    from lobby.accounts import DEMO_PASSWORD, DEMO_STAFF, demo_accounts
    from lobby.brokers import MosquittoBroker
    from office.console.server import ConsoleServer
    from office.server import OfficeServer

    stops: list[Callable[[], object]] = []
    broker = MosquittoBroker(data / "centre" / "broker")
    broker.start()
    stops.append(broker.stop)
    ward = Ward(
        centre=True,
        dsn=dsn,
        broker=f"mqtt://{DESK}@127.0.0.1:{port}",
        branch_keys={name: office.signer.public_text for name, office in offices.items()},
    )
    config = msgspec.structs.replace(site, site="ward-centre", office_name=f"{site.office_name}（本庁）", ward=ward)
    office = OfficeServer(config, data / "centre" / "office.sqlite3", broker.url, signing_key=key)
    office.start()
    stops.append(office.stop)
    if not office.wait_online(15):
        fail("the centre's office could not reach its broker")
    demo_accounts(office)
    console = ConsoleServer(office, host="127.0.0.1", port=args.console_port, desk_printer=desk_printer)
    try:
        console.start()
    except RuntimeError as err:
        fail(f"{err}; choose another with --console-port")
    stops.append(console.stop)
    say("centre", f"the centre's console: {console.url}ward  (password for every account: {DEMO_PASSWORD})")
    for username, name, role in DEMO_STAFF:
        say("centre", f"  {username:<7} {role:<6} {name}")
    say("centre", "input1 keys the branches' cases at /ward/input; floor1 sees the ward at /ward and /ward/stats")
    return stops


def _read_line(timeout: float) -> str | None:
    """A line from stdin within ``timeout`` (None: none yet; "": stdin is closed)."""
    try:
        ready, _, _ = select.select([sys.stdin], [], [], timeout)
    except (ValueError, OSError):
        time.sleep(timeout)
        return None
    if not ready:
        return None
    return sys.stdin.readline()


def _command(
    line: str, links: dict[str, Any], offices: dict[str, Any], consumer: Any, dsn: str, site: Any, say: Any
) -> None:
    words = line.split()
    if not words:
        return
    match words:
        case ["cut", name] if name in links:
            links[name].cut()
            say("ward", f"{name}'s WAN link is cut: its lobby goes on; the centre falls behind")
        case ["restore", name] if name in links:
            links[name].restore()
            say("ward", f"{name}'s WAN link is back: its bridge reconnects and the centre catches up")
        case ["lag"]:
            heard = {row.site: row for row in consumer.lag()}
            for name, office in offices.items():  # a branch the centre never heard from says 0
                row = heard.get(name)
                behind = "-" if row is None or row.behind_ms is None else f"{row.behind_ms / 1000:.0f} s"
                today = office.db.count_tickets(office.business_day())
                events = 0 if row is None else row.events
                say(
                    "centre",
                    f"{name}: {events} events at the centre, newest {behind} ago; {today} tickets at the branch today",
                )
        case ["figures"]:
            from office.ward_stats import central_figures

            today = date.fromisoformat(next(iter(offices.values())).business_day())
            made = central_figures(
                dsn, today, today, tz=ZoneInfo(site.timezone), target_wait_s=1800, stations=["reception"]
            )
            s = made.summary
            wait = "-" if s.wait.median is None else f"{s.wait.median / 60:.1f} min"
            say("centre", f"the ward today: {s.arrivals} residents, {s.called} called, median wait {wait}")
        case ["help"]:
            say("ward", HELP)
        case ["quit"] | ["exit"]:
            raise KeyboardInterrupt
        case _:
            say("ward", f"not a command: {line!r}; {HELP}")
