"""madoguchi-kiosk: the self-service certificate kiosk (自動交付機).

    madoguchi-kiosk ui  --device-id kiosk-1 --device-config kiosk.toml --data var/kiosk-1
    madoguchi-kiosk run --device-id kiosk-1 --device-config kiosk.toml --data var/kiosk-1 \\
        --control var/kiosk-1/control.sock

``ui`` is the touch screen (Kivy). ``run`` runs the same kiosk headless, in the foreground: for
services without a screen, the demo and the tests, which drive it through the control channel
(``--control``, see kiosk/control.py). Both settle at start what an earlier run left open (the
money journal in ``<data>/journal``), print ``ready`` once they serve, and stop on SIGTERM: a
visit in progress is cancelled and its money paid back before the process exits (at most
``--drain`` seconds; whatever is still open is settled at the next start).

Each visit that touched money or the office prints one line when it closes::

    closed kiosk-1-1a2b3c4d-00001 thank_you paid=1000 kept=300 returned=700 owed=0

Its outcome is that session's own: ``recovered`` for one an earlier run left open (settled
from the journal at start), ``money_returned`` for money that came with no visit (given back),
else how the visit ended (:class:`ClosedLines`).
"""

from __future__ import annotations

import importlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common.cli import OneLineParser, UsageError, add_common, add_office_key, fail, setup_logging
from kiosk import flow
from kiosk.device import KioskDevice, build_kiosk, cash_simulator, describe_parts, load_kiosk_config
from kiosk.ports import KioskError
from sync.errors import StoreError, SyncError

PROG = "madoguchi-kiosk"
DRAIN_S = 15.0

log = logging.getLogger(__name__)


def _parser() -> OneLineParser:
    parser = OneLineParser(prog=PROG, description="The madoguchi certificate kiosk.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for name, text in (
        ("run", "the kiosk without a screen, in the foreground (services, demo, tests)"),
        ("ui", "the kiosk with its touch screen (Kivy)"),
    ):
        p = sub.add_parser(name, help=text)
        add_common(p)
        add_office_key(p)
        p.add_argument("--site", default="demo-town", help="site id (default: %(default)s)")
        p.add_argument("--device-id", required=True, help="this kiosk's id, e.g. kiosk-1")
        p.add_argument("--data", type=Path, help="data directory (default: var/<device-id>)")
        p.add_argument("--device-config", type=Path, help="the kiosk's hardware (TOML): card reader, cash, printers")
        p.add_argument("--control", type=Path, metavar="SOCKET", help="serve the control channel on this UNIX socket")
        p.add_argument(
            "--drain", type=float, default=DRAIN_S, help="seconds to finish a visit on SIGTERM (default: %(default)s)"
        )
        if name == "ui":
            p.add_argument("--windowed", action="store_true", help="a normal window instead of the kiosk full screen")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of madoguchi-kiosk."""
    args = _parser().parse_args(argv)
    setup_logging(args.log_level)
    if args.drain < 0:
        fail(PROG, "--drain: give seconds, 0 or more")
    data = args.data or Path("var") / args.device_id
    try:
        config = load_kiosk_config(args.device_config, args.device_id)
        device = build_kiosk(
            config,
            site=args.site,
            device_id=args.device_id,
            broker_url=args.broker,
            data_dir=data,
            agent_options={"office_key": args.office_key},
            runtime_speaks=args.command == "run",  # on the screen, the app speaks (in every language)
        )
    except (UsageError, KioskError, SyncError, StoreError) as err:
        fail(PROG, str(err))
    try:
        if args.command == "ui":
            return _ui(args, device)
        return _run(args, device)
    except (UsageError, KioskError, SyncError, OSError) as err:
        fail(PROG, str(err))
    finally:
        device.close()


# A session of one record and its close is a note for the books (an alert, the cash cursor):
# the operator's log lists visits only.
_RECORD_ONLY = frozenset({"alert", "cash_cursor", "session_closed"})


class ClosedLines:
    """The operator's line for each visit that closes (a runtime listener), naming the closing
    session's own outcome.

    ``state.outcome`` is what the screen shows for the last visit, and it lingers until the
    start screen: money that arrives with no visit opens a session of its own (kiosk.flow
    ``_stray``) while "recovered" is still on the screen after a restart's recovery, e.g. a
    note put into the validator as the last run was killed. Its line must not say
    "recovered": that word means "an earlier run's session, settled from the journal", and
    telling two of those after one crash would mean money settled twice. So the session's own
    facts decide: a ``recovered`` record journalled for it, or a session opened only to give
    money back (no certificate kind); the screen's outcome only for a visit of this run.
    """

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self._write = write or (lambda line: print(line, flush=True))
        self._recovered: set[str] = set()  # open sessions with a journalled "recovered" record
        self._returns: set[str] = set()  # open sessions opened only to give money back

    def __call__(self, state: flow.Kiosk, effects: tuple[flow.Effect, ...]) -> None:
        journalled = [e.entry for e in effects if isinstance(e, flow.Journal)]
        # Before the closes: a recovered session with nothing held is opened, settled and closed
        # in one transition.
        self._recovered.update(e.session_id for e in journalled if e.kind == "recovered")
        for entry in journalled:
            if entry.kind != "session_closed":
                continue
            sid = entry.session_id
            recovered, returns = sid in self._recovered, sid in self._returns
            self._recovered.discard(sid)
            self._returns.discard(sid)
            kinds = {e.kind for e in journalled if e.session_id == sid}
            if entry.seq <= 2 and kinds <= _RECORD_ONLY:
                continue  # not a visit
            outcome = "recovered" if recovered else "money_returned" if returns else state.outcome or "-"
            d = entry.data
            self._write(
                f"closed {sid} {outcome} paid={d.get('paid')} kept={d.get('kept')} "
                f"returned={d.get('returned')} owed={d.get('owed')}"
            )
        s = state.session
        if s is not None and s.kind is None and not s.recovered:
            # Seen while it is open: its close comes in a later transition (after a payout or
            # the validator's report), when the state no longer holds it.
            self._returns.add(s.session_id)


def _control(args: Any, device: KioskDevice) -> Any:
    if args.control is None:
        return None
    from kiosk.control import ControlServer

    server = ControlServer(args.control, device)
    server.start()
    return server


def _drain(device: KioskDevice, seconds: float) -> None:
    """Finish the visit in progress (cancel, pay back), pumping on this thread."""
    rt = device.runtime
    if rt.state.session is None and not rt.state.recovery_queue:
        return
    rt.post(flow.Cancel(now_ms=rt.now_ms()))
    deadline = time.monotonic() + seconds
    while (rt.state.session is not None or rt.state.recovery_queue) and time.monotonic() < deadline:
        try:
            rt.pump()
        except Exception:  # stopping anyway: the next start settles what is left
            log.exception("kiosk cycle failed while stopping")
            return
        time.sleep(rt.settings.poll_interval_s)


def _run(args: Any, device: KioskDevice) -> int:
    from common.watchdog import Watchdog

    stop = threading.Event()
    # Only the flag is set here: the loop sees it within a poll interval. (Waking the loop from
    # a signal handler could deadlock on the lock of the event it waits on.)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    dog = Watchdog.from_environment()
    rt = device.runtime
    rt.subscribe(ClosedLines())

    def kick(state: flow.Kiosk, effects: tuple[flow.Effect, ...]) -> None:
        # Called after every transition, a Tick every cycle included: kicks come from the loop itself.
        dog.kick()

    rt.subscribe(kick)
    device.start()
    control = _control(args, device)
    try:
        for line in describe_parts(device):
            print(line, flush=True)
        dog.ready()
        print("ready" + (f" (control: {args.control})" if args.control else ""), flush=True)
        rt.run(stop)
        dog.stopping()
        _drain(device, args.drain)
    finally:
        if control is not None:
            control.close()
    return 0


def _safe(call: Any) -> Any:
    """A simulator button's action: a mistake (a card already in) is logged, never fatal."""

    def run(*args: Any) -> None:
        try:
            call(*args)
        except Exception:  # the demo goes on
            log.exception("simulator action failed")

    return run


def app_config(device: KioskDevice) -> dict[str, Any]:
    """What kiosk.app.build_kiosk_app needs from the assembled kiosk."""
    agent = device.agent
    config: dict[str, Any] = {
        "office_config": lambda: agent.document("office_config"),
        "wall_ms": agent.now_ms,
        "run_runtime": True,
    }
    if device.speaker is not None:
        config["speaker"] = device.speaker  # the screens speak; the runtime was built silent
    box = cash_simulator(device)
    if box is not None and device.cards is not None:
        from drivers.jpki_sim import DEMO_CARDS

        config.update(
            sim_panel=True,
            insert_coin=_safe(box.insert_coin),
            insert_note=_safe(box.insert_note),
            insert_card=_safe(device.cards.insert),
            pull_card=_safe(device.cards.pull),
            demo_cards=[card.serial for card in DEMO_CARDS],
        )
    return config


def _ui(args: Any, device: KioskDevice) -> int:
    # By name: Kivy has no type information (and must be configured before it is imported).
    screen: Any = importlib.import_module("common.screen")
    display = device.config.display
    screen.configure_kivy(
        width=display.width,
        height=display.height,
        fullscreen=display.fullscreen and not args.windowed,
        kiosk=not args.windowed,
        home=device.agent.config.data_dir / "kivy",
        maxfps=display.maxfps,
        left=display.left,
        top=display.top,
        scale=display.scale,
    )
    try:
        screens: Any = importlib.import_module("kiosk.app")
    except ImportError as err:
        raise UsageError(f"the kiosk's screens (kiosk.app) cannot be loaded: {err}") from err
    clock: Any = importlib.import_module("kivy.clock").Clock
    from common.watchdog import feed_from_kivy

    feed_from_kivy(clock)  # a frozen screen stops the pings and systemd restarts the kiosk
    device.agent.start()
    control = _control(args, device)
    try:
        # The app starts the runtime's thread (recovery first) and stops it when the window closes.
        app = screens.build_kiosk_app(device.runtime, app_config(device))
        signal.signal(signal.SIGTERM, lambda *_: clock.schedule_once(lambda dt: app.stop()))
        ready = "ready" + (f" (control: {args.control})" if args.control else "")
        clock.schedule_once(lambda dt: print(ready, flush=True), 0)  # on the first frame
        app.run()
        device.runtime.stop()
        _drain(device, args.drain)
    finally:
        if control is not None:
            control.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
