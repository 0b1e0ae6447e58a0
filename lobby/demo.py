"""madoguchi-demo (``make demo``): the whole lobby and the staff side on one machine.

An embedded amqtt broker (or the broker given with --broker / MADOGUCHI_BROKER), the office
server with simulated staff, headless dispensers pressed by simulated residents, the staff
console (sign in as a clerk at a counter and the simulation leaves that counter to you) and the
resident's page process the ticket's QR opens. It prints the addresses and the demo accounts,
then what happens, one line per thing a person in the lobby would notice. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from common.cli import OneLineParser, fail, setup_logging
from drivers.plain_printers import TextFilePrinter
from lobby.accounts import DEMO_PASSWORD, DEMO_STAFF, demo_accounts
from office import config as configmod
from office.domain import OfficeError
from office.server import OfficeServer, make_sim_staff
from sync.agent import AgentConfig, DeviceAgent
from sync.errors import SyncError
from ticket_dispenser.device import Dispenser
from ticket_dispenser.errors import DispenserError

PROG = "madoguchi-demo"
BALK_AT = 30  # residents who see this many waiting come back another day
_print_lock = threading.Lock()


def say(source: str, line: str) -> None:
    """One readable line: time, who, what."""
    with _print_lock:
        print(f"{datetime.now():%H:%M:%S}  {source:<8} {line}", flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description="Run the whole madoguchi lobby on this machine.")
    parser.add_argument(
        "--broker",
        default=os.environ.get("MADOGUCHI_BROKER"),
        help="use this broker (mqtt://host:port) instead of the embedded one",
    )
    parser.add_argument("--dispensers", type=int, default=2, help="how many dispensers (default: %(default)s)")
    parser.add_argument("--interval", type=float, default=5.0, help="mean seconds between residents at each dispenser")
    parser.add_argument("--pace", type=float, default=12.0, help="seconds per simulated staff step")
    parser.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    parser.add_argument("--data", type=Path, help="keep the demo's data here (default: a fresh temporary folder)")
    parser.add_argument("--config", type=Path, help="site configuration (TOML); default: the demo town")
    parser.add_argument("--log-level", default="ERROR", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--no-windows", action="store_true", help="text only, even when a display is available")
    parser.add_argument(
        "--console-port", type=int, default=8080, help="the staff console's port (default: %(default)s)"
    )
    parser.add_argument("--public-port", type=int, default=8090, help="the resident's page port (default: %(default)s)")
    parser.add_argument(
        "--ward",
        action="store_true",
        help="a ward instead: two branches bridged to a central office on PostgreSQL (make demo CITY=1)",
    )
    parser.add_argument(
        "--history-days",
        type=int,
        default=365,
        help="days of generated past traffic for the statistics pages, written while the demo runs (default: %(default)s)",
    )
    return parser


# The demo's staff accounts (printed at start). A real office adds its own with
# madoguchi-office users add; these exist only in the demo's throwaway store.


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of madoguchi-demo."""
    args = _parser().parse_args(argv)
    if args.dispensers < 1 or args.interval <= 0 or args.pace <= 0:
        fail(PROG, "--dispensers, --interval and --pace must be positive")
    setup_logging(args.log_level)
    if args.ward:
        from lobby import ward_demo

        try:
            return ward_demo.run(args, say, lambda message: fail(PROG, message), _residents)
        except KeyboardInterrupt:
            return 0
    try:
        site = configmod.load(args.config)
    except OfficeError as err:
        fail(PROG, str(err))
    if args.config is None:
        # The demo town keeps its lobby open all day (its [dispenser] hours) and so its kiosk:
        # whoever runs the demo at night can still try a certificate.
        kiosk = msgspec.structs.replace(
            site.kiosk,
            open="00:00",
            close="24:00",
            closed_dates=frozenset(),
            closed_weekdays=frozenset(),
            holidays=frozenset(),
        )
        site = msgspec.structs.replace(site, kiosk=kiosk)
    data = args.data or Path(tempfile.mkdtemp(prefix="madoguchi-demo-"))
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())

    broker: Any = None
    url = args.broker
    if url is None:
        from lobby.brokers import EmbeddedBroker

        broker = EmbeddedBroker()
        broker.start()
        url = broker.url
        say("broker", f"embedded amqtt broker on {url}")
    else:
        say("broker", f"using {url}")

    if not site.kiosk.jpki_ca:
        # The demo's kiosk reads simulated My Number cards: the office trusts their simulated CA.
        from drivers.jpki_sim import SimulatedJpkiCa

        ca = str(SimulatedJpkiCa.open(data / "jpki").certificate_path)
        site = msgspec.structs.replace(site, kiosk=msgspec.structs.replace(site.kiosk, jpki_ca=ca))
    # The resident's page: its own process, fed one way by the office with a shared secret.
    secret = data / "public-feed.secret"
    secret.write_text(secrets.token_urlsafe(32) + "\n", encoding="utf-8")
    secret.chmod(0o600)
    public_url = f"http://127.0.0.1:{args.public_port}"
    site = msgspec.structs.replace(
        site,
        public=msgspec.structs.replace(site.public, url=public_url, secret_file=str(secret)),
        dispenser=msgspec.structs.replace(site.dispenser, progress_url=f"{public_url}/t/{{token}}"),
        console=msgspec.structs.replace(
            site.console,
            port=args.console_port,
            # The desk's printer is a fake that keeps each ticket as a PNG, like the dispensers'.
            desk_printer={"model": "TM-T20III", "backend": "fake", "fake": {"png_dir": str(data / "desk-printed")}},
        ),
    )
    office: OfficeServer | None = None
    console: Any = None
    public: subprocess.Popen[bytes] | None = None
    windows: list[subprocess.Popen[bytes]] = []
    agents: list[DeviceAgent] = []
    dispensers: list[Dispenser] = []
    try:
        public = _public_process(args.public_port, secret, data / "public", site)
        office = OfficeServer(
            site,
            data / "office.sqlite3",
            url,
            sim_staff=make_sim_staff(args.pace),
            on_activity=lambda line: say("office", line),
        )
        demo_accounts(office)
        from office.console.server import ConsoleServer

        # The desk printer set above, parsed as a site file's would be.
        console = ConsoleServer(
            office, host="127.0.0.1", port=args.console_port, desk_printer=configmod.desk_printer(site)
        )
        office.start()
        if not office.wait_online(15):
            fail(PROG, f"the office could not reach the broker at {url}")
        try:
            console.start()
        except RuntimeError as err:
            fail(PROG, f"{err}; choose another with --console-port")
        say("console", f"staff console: {console.url}  (password for every account: {DEMO_PASSWORD})")
        for username, name, role in DEMO_STAFF:
            say("console", f"  {username:<7} {role:<6} {name}")
        say("console", "sign in as clerk1 at a counter: the simulated staff leave that counter to you")
        say("public", f"resident's page: {public_url}/congestion (each ticket's QR opens its own page)")
        tickets_dir = data / "printed"
        for i in range(1, args.dispensers + 1):
            agent = DeviceAgent(
                AgentConfig(
                    site=site.site,
                    device_id=f"disp-{i}",
                    role="dispenser",
                    broker_url=url,
                    data_dir=data / f"disp-{i}",
                    # The demo's devices pin the office's key from its first start: they act
                    # on nothing the office did not sign, as enrolled devices do.
                    office_key=office.signer.public_text,
                )
            )
            agent.start()
            agents.append(agent)
            dispensers.append(Dispenser(agent, TextFilePrinter(tickets_dir)))
        say("demo", f"{args.dispensers} dispensers; printed tickets go to {tickets_dir}; Ctrl-C stops")
        if not args.no_windows and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            places = window_layout(*_screen_size())
            windows.append(_dispenser_window(url, data, office.signer.public_text, places["dispenser"]))
            windows.append(_board_window(url, data, office.signer.public_text, places["board"]))
            windows.append(_kiosk_window(url, data, office.signer.public_text, places["kiosk"]))
        threads = [
            threading.Thread(target=_residents, args=(d, site, args.interval, stopping), daemon=True)
            for d in dispensers
        ]
        if args.history_days > 0:
            threads.append(
                threading.Thread(
                    target=_history, args=(office, site, args.history_days, stopping), name="history", daemon=True
                )
            )
        for t in threads:
            t.start()
        started = time.monotonic()
        while not stopping.wait(1.0):
            if args.duration is not None and time.monotonic() - started >= args.duration:
                break
        stopping.set()
        for t in threads:
            t.join(timeout=5)
        for agent in agents:
            agent.wait_drained(5)
        figures = office.queue_figures()
        waiting = sum(r.waiting for r in figures)
        today = office.db.count_tickets(office.business_day())
        say("demo", f"stopping: {today} tickets at the office today, {waiting} still waiting")
    except (SyncError, OfficeError, DispenserError) as err:
        fail(PROG, str(err))
    finally:
        for window in windows:
            window.terminate()
            try:
                window.wait(10)
            except subprocess.TimeoutExpired:
                window.kill()
        for d in dispensers:
            d.close()
        for agent in agents:
            agent.stop()
        if console is not None:
            console.stop()
        if office is not None:
            office.stop()
        if public is not None:
            public.terminate()
            try:
                public.wait(10)
            except subprocess.TimeoutExpired:
                public.kill()
        if broker is not None:
            broker.stop()
        if args.data is None:
            shutil.rmtree(data, ignore_errors=True)
    return 0


def _history(office: OfficeServer, site: Any, days: int, stopping: threading.Event) -> None:
    """A plausible past for the statistics pages, written through the ticket log on a connection of
    its own (a batch at a time: the office's writes wait a moment at most), then cached."""
    from office.db import OfficeDB
    from office.stats import history
    from office.stats_cli import write_history

    today = date.fromisoformat(office.business_day())
    first, last = today - timedelta(days=days), today - timedelta(days=1)
    say("stats", f"writing {days} days of past traffic ({first} .. {last}) for the Statistics page")
    db = OfficeDB(office.db.path)
    try:
        added = write_history(db, history.generate(site, first, last, seed=7), stop=stopping.is_set)
    finally:
        db.close()
    if stopping.is_set():
        return
    office.stats_cache.kick(today.isoformat())
    say("stats", f"{added} past tickets written; the Statistics page shows them as the days are cached")


def _public_process(port: int, secret: Path, data: Path, site: Any) -> subprocess.Popen[bytes]:
    """madoguchi-public on this machine; waits until it answers."""
    import urllib.request

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "public.cli",
            "serve",
            "--port",
            str(port),
            "--feed-secret-file",
            str(secret),
            "--data",
            str(data),
            "--timezone",
            site.timezone,
            "--rollover-hour",
            str(site.rollover_hour),
            "--log-level",
            "WARNING",
        ],
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            fail(PROG, f"the resident's page could not start on port {port}; choose another with --public-port")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    fail(PROG, f"the resident's page did not answer on port {port}")


@dataclass(frozen=True)
class Place:
    """Where a demo window opens and how large it draws (its ``[display]`` table)."""

    left: int
    top: int
    width: int
    height: int
    scale: float

    def display(self) -> str:
        return (
            f"[display]\nwidth = {self.width}\nheight = {self.height}\nleft = {self.left}\ntop = {self.top}\n"
            f"scale = {self.scale:.3f}\n"
        )


# Each window's own screen: the size its layout is made for.
NATURAL = {"dispenser": (1280, 800), "kiosk": (1280, 800), "board": (1920, 1080)}


def window_layout(screen_w: int, screen_h: int) -> dict[str, Place]:
    """The demo's three windows side by side on one screen, none over another: the board on the
    right two thirds, the dispenser above the kiosk on the left third, each drawn at the scale
    that fits its own screen's layout into its place (a screen without a window manager stacks
    windows where they open, and nobody can move them)."""
    left_w = screen_w // 3
    board_w = screen_w - left_w
    places: dict[str, Place] = {}
    top = 0
    for name in ("dispenser", "kiosk"):
        nat_w, nat_h = NATURAL[name]
        scale = min(left_w / nat_w, (screen_h // 2) / nat_h)
        w, h = int(nat_w * scale), int(nat_h * scale)
        places[name] = Place(0, top, w, h, round(scale, 3))
        top += h
    nat_w, nat_h = NATURAL["board"]
    scale = min(board_w / nat_w, screen_h / nat_h)
    places["board"] = Place(left_w, 0, int(nat_w * scale), int(nat_h * scale), round(scale, 3))
    return places


def _screen_size() -> tuple[int, int]:
    """The X screen's size (xdpyinfo), or full HD when it cannot be asked."""
    xdpyinfo = shutil.which("xdpyinfo")
    if xdpyinfo is not None and os.environ.get("DISPLAY"):
        try:
            out = subprocess.run([xdpyinfo], capture_output=True, text=True, timeout=5, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in out.splitlines():
            if "dimensions:" in line:
                w, _, h = line.split()[1].partition("x")
                if w.isdigit() and h.isdigit():
                    return int(w), int(h)
    return 1920, 1080


def _dispenser_window(url: str, data: Path, office_key: str, place: Place) -> subprocess.Popen[bytes]:
    """The touch-screen dispenser in a window, on a simulated printer that keeps PNGs."""
    printed = data / "printed-window"
    config = data / "window.toml"
    config.write_text(place.display(), encoding="utf-8")
    window = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ticket_dispenser.cli",
            "ui",
            "--broker",
            url,
            "--office-key",
            office_key,
            "--device-id",
            "disp-window",
            "--data",
            str(data / "disp-window"),
            "--fake-printer",
            str(printed),
            "--windowed",
            "--device-config",
            str(config),
        ]
    )
    say("demo", f"dispenser window opened: touch a purpose; each printed ticket is a PNG in {printed}")
    return window


def _board_window(url: str, data: Path, office_key: str, place: Place) -> subprocess.Popen[bytes]:
    """The lobby train board in a window, fed by the simulated staff."""
    config = data / "board.toml"
    config.write_text(place.display(), encoding="utf-8")
    window = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "display_board.cli",
            "--broker",
            url,
            "--office-key",
            office_key,
            "--device-id",
            "board-window",
            "--data",
            str(data / "board-window"),
            "--windowed",
            "--device-config",
            str(config),
        ]
    )
    say("demo", "lobby board window opened: trains move as the simulated staff work")
    return window


def _kiosk_window(url: str, data: Path, office_key: str, place: Place) -> subprocess.Popen[bytes]:
    """The certificate kiosk in a window: simulated My Number cards and cash (buttons on the
    screen), certificates written as PDFs and receipts as PNGs under the demo's folder."""
    config = data / "kiosk.toml"
    config.write_text(
        place.display() + f'[card_reader]\nbackend = "sim"\nca_dir = "{data / "jpki"}"\n'
        '[cash]\nbackend = "fake"\nhoppers = [{address = 3, coin = 500, count = 40}, {address = 4, coin = 100, count = 80}, '
        "{address = 5, coin = 10, count = 150}]\n"
        f'[document_printer]\nbackend = "dir"\ndir = "{data / "certificates"}"\n'
        f'[receipt_printer]\nmodel = "TM-T20III"\nbackend = "fake"\n[receipt_printer.fake]\npng_dir = "{data / "receipts"}"\n',
        encoding="utf-8",
    )
    window = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kiosk.cli",
            "ui",
            "--broker",
            url,
            "--office-key",
            office_key,
            "--device-id",
            "kiosk-window",
            "--data",
            str(data / "kiosk-window"),
            "--windowed",
            "--device-config",
            str(config),
        ]
    )
    say(
        "demo",
        f"certificate kiosk window opened: demo cards and PINs in the README; certificates go to {data / 'certificates'}",
    )
    return window


def _residents(dispenser: Dispenser, site: Any, interval: float, stopping: threading.Event) -> None:
    """Residents arrive at random and press a purpose, weighted by how common it is."""
    rng = random.Random()
    codes = [c.code for c in site.categories]
    weights = [max(c.share, 0.02) for c in site.categories]
    device = dispenser.agent.config.device_id
    while not stopping.wait(rng.expovariate(1 / interval)):
        snapshot = dispenser.agent.document("queue_snapshot")
        if snapshot is not None and sum(r.waiting for r in snapshot.categories) >= BALK_AT:
            continue  # a full lobby: people come back later
        try:
            result = dispenser.issue(rng.choices(codes, weights)[0])
        except DispenserError as err:
            say(device, f"could not issue: {err}")
            continue
        t = result.ticket
        wait = f", about {t.est_wait_min} min" if t.est_wait_min is not None else ", wait unknown (office offline)"
        ahead = f"{t.people_ahead} ahead" if t.people_ahead is not None else "queue unknown"
        say(device, f"ticket {t.number} {t.names.get('ja', t.category)} / {t.names.get('en', '')}: {ahead}{wait}")


if __name__ == "__main__":
    sys.exit(main())
