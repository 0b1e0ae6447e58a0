"""A line-based control channel into a running kiosk, for tests, the demo and the technician.

``madoguchi-kiosk run --control PATH`` listens on a UNIX stream socket at ``PATH`` (mode 0600:
only the kiosk's own user may use it). Each line sent is one command; each command gets one
line back, a JSON object with ``"ok": true`` (and the kiosk's state where it says so) or
``"ok": false, "error": "…"``. Try it with ``socat - UNIX-CONNECT:PATH``::

    state                                   the state as it is now, as JSON (step, outcome, session…)
    wait STEP|online|idle [SECONDS]         block until the kiosk is there with that step's actions
                                            done ("wait payment": the acceptors are open), 10 s at
                                            most by default; then the state and "reached"
    language ja                             the resident's touches: ChooseLanguage …
    certificate juminhyo
    options copies=2 scope=household with_zokugara=true    (variant=tohon, fiscal_year=2025,
                                            with_honseki, with_my_number, scope=members)
    members R0001 R0002                     the household members for scope=members
    pin 1234                                the 4-digit PIN (never logged)
    confirm | cancel | back | still_here    ConfirmFee, Cancel, Back, StillHere
    card insert SIM-0001 | card pull        a simulated card (card_reader backend "sim")
    coin 100 | note 1000                    money into an in-memory cash box (cash backend "fake")
    printer sheets 10|endless | printer jam 3 | printer clear | printer delay 2.5
                                            the directory printer's faults (backend "dir")
    crash after KIND [N]                    SIGKILL the process right after the Nth journal record
                                            of KIND is on disk (fault-injection runs)
    help

UI commands are posted to the runtime and answered once it has handled them (card and money
commands once the runtime has seen them). Devices are simulated in this process only where the
device configuration chose a simulator. The channel never shows resident data: household
members appear by id only, and no PIN is echoed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import stat
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from kiosk import flow
from kiosk.device import KioskDevice, cash_simulator
from kiosk.printers import DirectoryPrinter

__all__ = ["ControlError", "ControlServer", "state_json"]

log = logging.getLogger(__name__)

MAX_LINE: Final = 4096
POST_WAIT_S: Final = 5.0  # a command returns once its event was handled, or after this
_BOOL: Final = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
IDLE_STEPS: Final = frozenset({flow.Step.LANGUAGE, flow.Step.GOODBYE})


class ControlError(Exception):
    """A command that cannot be done; its message goes back on the channel."""


def state_json(device: KioskDevice) -> dict[str, Any]:
    """The kiosk's state as plain JSON (no resident data: household members by id only)."""
    rt = device.runtime
    s = rt.state
    sess = s.session
    session: dict[str, Any] | None = None
    if sess is not None:
        session = {
            "id": sess.session_id,
            "kind": sess.kind,
            "copies": sess.copies,
            "tries_left": sess.tries_left,
            "fee": sess.fee,
            "due": sess.due,
            "paid": sess.paid,
            "kept": sess.kept,
            "returned": sess.returned,
            "owed": sess.owed,
            "held": sess.held,
            "household": [m.id for m in sess.household],
            "issue_number": sess.issue_number,
            "recovered": sess.recovered,
        }
    t = s.totals
    return {
        "step": s.step.value,
        "language": s.language,
        "office_online": s.office_online,
        "card": s.card,
        "exact_only": s.exact_only,
        "max_note": s.max_note,
        "notice": s.notice,
        "outcome": s.outcome,
        "outcome_owed": s.outcome_owed,
        "seconds_left": s.seconds_left(rt.now_ms()),
        "fault": s.fault,
        "session": session,
        "recovering": len(s.recovery_queue),
        "totals": {"inserted": t.inserted, "kept": t.kept, "returned": t.returned, "owed": t.owed, "held": t.held},
        "boot_id": s.boot_id,
        "open_sessions": _open_sessions(device),
        "outbox_pending": device.agent.pending_count(),
        "card_in_reader": device.cards.inserted if device.cards is not None else None,
    }


def _open_sessions(device: KioskDevice) -> list[str]:
    # The runtime's thread may be appending meanwhile: read again if the set changed under us.
    for _ in range(10):
        try:
            return sorted(device.journal.open_sessions())
        except RuntimeError:
            time.sleep(0.001)
    return sorted(device.journal.open_sessions())


def _idle(s: flow.Kiosk) -> bool:
    return s.step in IDLE_STEPS and s.session is None and not s.recovery_queue


def _options(kind: str | None, args: list[str]) -> tuple[flow.CertificateOptions, int]:
    options = flow.default_options(kind) if kind else flow.CertificateOptions()
    copies = 1
    changes: dict[str, Any] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep:
            raise ControlError(f"options: {arg!r} is not key=value (e.g. copies=2)")
        if key == "copies":
            copies = _int(value, "copies")
        elif key in ("with_honseki", "with_zokugara", "with_my_number"):
            if value.lower() not in _BOOL:
                raise ControlError(f"options: {key} takes true or false, got {value!r}")
            changes[key] = _BOOL[value.lower()]
        elif key in ("scope", "variant"):
            changes[key] = value
        elif key == "fiscal_year":
            changes[key] = _int(value, key)
        elif key == "members":
            changes[key] = tuple(m for m in value.split(",") if m)
        else:
            raise ControlError(
                f"options: unknown option {key!r}; use copies, scope, members, with_honseki, with_zokugara, "
                "with_my_number, variant, fiscal_year"
            )
    return replace(options, **changes), copies


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ControlError(f"{what}: {text!r} is not a whole number") from None


class ControlServer:
    """Serves the control channel of ``device`` on a UNIX socket at ``path``.

    ``kill`` ends the process for ``crash after`` (SIGKILL of itself: nothing after the record
    runs, as in a power cut); tests of this module pass their own.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        device: KioskDevice,
        *,
        kill: Callable[[], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.device = device
        self._kill = kill or (lambda: os.kill(os.getpid(), signal.SIGKILL))
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._crash: tuple[str, int] | None = None
        # The state as of the last transition whose effects have all run (what ``wait`` checks:
        # "payment" means the acceptors are open, not just that the screen changed).
        self._settled: flow.Kiosk = device.runtime.state
        # Notified at each transition: a ``wait`` answers as soon as its step is reached.
        self._settled_changed = threading.Condition()
        self._crash_lock = threading.Lock()

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind the socket (replacing a stale one left by a killed run) and serve in a thread."""
        try:
            if stat.S_ISSOCK(self.path.lstat().st_mode):
                self.path.unlink()
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            old = os.umask(0o177)
            try:
                sock.bind(str(self.path))
            finally:
                os.umask(old)
            sock.listen(8)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self.device.journal.after_append = self._after_append
        self.device.runtime.subscribe(self._on_transition)
        self._thread = threading.Thread(target=self._serve, name="kiosk-control", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving and remove the socket."""
        self._stop.set()
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
            self._sock = None
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        self.path.unlink(missing_ok=True)

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._client, args=(conn,), name="kiosk-control-client", daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as stream:
            for raw in stream:
                if len(raw) > MAX_LINE:
                    reply: dict[str, Any] = {"ok": False, "error": f"line longer than {MAX_LINE} bytes"}
                else:
                    reply = self.handle(raw.decode("utf-8", errors="replace"))
                try:
                    stream.write(json.dumps(reply, ensure_ascii=False).encode("utf-8") + b"\n")
                    stream.flush()
                except OSError:
                    return

    # -- commands --------------------------------------------------------------------------------

    def handle(self, line: str) -> dict[str, Any]:
        """Run one command line; the reply object (never raises)."""
        words = line.split()
        if not words:
            return {"ok": False, "error": "empty command; try help"}
        command, args = words[0].lower(), words[1:]
        handler = _COMMANDS.get(command)
        if handler is None:
            return {"ok": False, "error": f"unknown command {command!r}; try help"}
        try:
            extra = handler(self, args)
        except ControlError as err:
            return {"ok": False, "error": str(err)}
        except Exception as err:  # a device's own error: say it, keep serving
            log.exception("control command %s failed", command)
            return {"ok": False, "error": f"{type(err).__name__}: {err}"}
        return {"ok": True, **(extra or {})}

    def _post(self, event: flow.Event) -> None:
        """Post ``event`` and return once the runtime has handled it (the cycle that took it,
        which the post starts at once, is over)."""
        rt = self.device.runtime
        number = rt.post(event)
        deadline = time.monotonic() + POST_WAIT_S
        while rt.handled < number and time.monotonic() < deadline:
            time.sleep(0.001)

    def _sync(self) -> None:
        """Wait until two runtime cycles began from now: whatever happened before (a card put
        in, a coin) has been seen by a device poll and handled."""
        rt = self.device.runtime
        start = rt.cycles
        deadline = time.monotonic() + POST_WAIT_S
        while rt.cycles < start + 2 and time.monotonic() < deadline:
            time.sleep(0.002)

    def _now(self) -> int:
        return self.device.runtime.now_ms()

    def _state(self, args: list[str]) -> dict[str, Any]:
        return {"state": state_json(self.device)}

    def _wait(self, args: list[str]) -> dict[str, Any]:
        if not args:
            raise ControlError("wait: say what for: a step (e.g. payment), online or idle")
        target = args[0]
        try:
            timeout = float(args[1]) if len(args) > 1 else 10.0
        except ValueError:
            raise ControlError(f"wait: {args[1]!r} is not a number of seconds") from None
        steps = {s.value for s in flow.Step}
        if target not in steps and target not in ("online", "idle"):
            raise ControlError(f"wait: {target!r} is not a step, online or idle")
        deadline = time.monotonic() + timeout
        with self._settled_changed:
            while True:
                s = self._settled
                reached = (
                    (target == "online" and s.office_online)
                    or (target == "idle" and _idle(s))
                    or s.step.value == target
                )
                left = deadline - time.monotonic()
                if reached or left <= 0:
                    break
                self._settled_changed.wait(left)
        return {"reached": reached, "state": state_json(self.device)}

    def _language(self, args: list[str]) -> None:
        self._one(args, "language")
        self._post(flow.ChooseLanguage(language=args[0], now_ms=self._now()))

    def _certificate(self, args: list[str]) -> None:
        self._one(args, "certificate")
        self._post(flow.ChooseCertificate(kind=args[0], now_ms=self._now()))

    def _options_cmd(self, args: list[str]) -> None:
        session = self.device.runtime.state.session
        options, copies = _options(session.kind if session is not None else None, args)
        self._post(flow.ConfirmOptions(options=options, copies=copies, now_ms=self._now()))

    def _members(self, args: list[str]) -> None:
        if not args:
            raise ControlError("members: give the chosen members' ids")
        self._post(flow.ChooseMembers(members=tuple(args), now_ms=self._now()))

    def _pin(self, args: list[str]) -> None:
        if len(args) != 1:
            raise ControlError("pin: give the 4 digits as one word")
        self._post(flow.EnterPin(pin=args[0], now_ms=self._now()))

    def _card(self, args: list[str]) -> dict[str, Any]:
        cards = self.device.cards
        if cards is None:
            raise ControlError('card: the card reader is not simulated (card_reader backend "sim")')
        if args[:1] == ["insert"] and len(args) == 2:
            try:
                cards.insert(args[1])
            except ValueError as err:
                raise ControlError(str(err)) from err
            self._sync()
            return {"card": args[1]}
        if args == ["pull"]:
            serial = cards.pull()
            self._sync()
            return {"card": serial}
        raise ControlError("card: use 'card insert SIM-0001' or 'card pull'")

    def _money(self, kind: str, args: list[str]) -> dict[str, Any]:
        box = cash_simulator(self.device)
        if box is None:
            raise ControlError(f'{kind}: the cash box is not simulated in this process (cash backend "fake")')
        self._one(args, kind)
        value = _int(args[0], kind)
        taken = box.insert_coin(value) if kind == "coin" else box.insert_note(value)
        self._sync()
        return {"taken": bool(taken)}

    def _printer(self, args: list[str]) -> dict[str, Any]:
        printer = self.device.document_printer
        if not isinstance(printer, DirectoryPrinter):
            raise ControlError('printer: only the directory printer (document_printer backend "dir") is simulated')
        if len(args) == 2 and args[0] == "sheets":
            printer.load_paper(None if args[1] == "endless" else _int(args[1], "sheets"))
        elif len(args) == 2 and args[0] == "jam":
            printer.jam_after(_int(args[1], "jam"))
        elif args == ["clear"]:
            printer.clear_jam()
        elif len(args) == 2 and args[0] == "delay":
            try:
                printer.delay_s = max(0.0, float(args[1]))
            except ValueError:
                raise ControlError(f"printer delay: {args[1]!r} is not a number of seconds") from None
        else:
            raise ControlError("printer: use sheets N|endless, jam N, clear or delay SECONDS")
        return {"sheets": printer.sheets, "jammed": printer.jammed, "pages_printed": printer.pages_printed}

    def _crash_cmd(self, args: list[str]) -> dict[str, Any]:
        if len(args) not in (2, 3) or args[0] != "after":
            raise ControlError("crash: use 'crash after KIND [N]' (KIND: a journal record kind, e.g. note_stacked)")
        from kiosk.journal import ENTRY_FIELDS

        kind = args[1]
        if kind not in ENTRY_FIELDS:
            raise ControlError(f"crash: {kind!r} is not a journal record kind; use one of {', '.join(ENTRY_FIELDS)}")
        count = _int(args[2], "N") if len(args) == 3 else 1
        if count < 1:
            raise ControlError("crash: N counts from 1")
        with self._crash_lock:
            self._crash = (kind, count)
        return {"armed": f"{kind} #{count}"}

    def _on_transition(self, state: flow.Kiosk, effects: tuple[flow.Effect, ...]) -> None:
        with self._settled_changed:
            self._settled = state
            self._settled_changed.notify_all()

    def _after_append(self, record: Mapping[str, Any]) -> None:
        with self._crash_lock:
            if self._crash is None or record.get("kind") != self._crash[0]:
                return
            kind, count = self._crash
            if count > 1:
                self._crash = (kind, count - 1)
                return
            self._crash = None
        log.warning("control: crash after %s %s, as asked", kind, record.get("key"))
        self._kill()

    def _help(self, args: list[str]) -> dict[str, Any]:
        return {"commands": sorted(_COMMANDS)}

    @staticmethod
    def _one(args: list[str], command: str) -> None:
        if len(args) != 1:
            raise ControlError(f"{command}: give exactly one value")


def _event(event: type[flow.Event]) -> Callable[[ControlServer, list[str]], None]:
    def post(server: ControlServer, args: list[str]) -> None:
        if args:
            raise ControlError(f"{event.__name__} takes no arguments")
        server._post(event(now_ms=server._now()))

    return post


_COMMANDS: Final[Mapping[str, Callable[[ControlServer, list[str]], dict[str, Any] | None]]] = {
    "state": ControlServer._state,
    "wait": ControlServer._wait,
    "language": ControlServer._language,
    "certificate": ControlServer._certificate,
    "options": ControlServer._options_cmd,
    "members": ControlServer._members,
    "pin": ControlServer._pin,
    "confirm": _event(flow.ConfirmFee),
    "cancel": _event(flow.Cancel),
    "back": _event(flow.Back),
    "still_here": _event(flow.StillHere),
    "card": ControlServer._card,
    "coin": lambda server, args: server._money("coin", args),
    "note": lambda server, args: server._money("note", args),
    "printer": ControlServer._printer,
    "crash": ControlServer._crash_cmd,
    "help": ControlServer._help,
}
