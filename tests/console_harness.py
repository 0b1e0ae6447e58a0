"""The staff console for tests: a real office on a real Mosquitto, the console served by uvicorn
on a free loopback port, staff accounts, and signed-in HTTP clients (httpx) or browsers."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harness import start_office
from office.console.app import Settings
from office.console.server import ConsoleServer
from office.server import OfficeServer
from office.staff_store import StaffStore, hash_password

PASSWORD = "correct horse battery"
# username -> (display name, role)
STAFF = {
    "admin": ("管理 太郎", "admin"),
    "suzuki": ("鈴木 花子", "clerk"),
    "tanaka": ("田中 一郎", "clerk"),
    "sato": ("佐藤 次郎", "input"),
    "ito": ("伊藤 三郎", "input"),
    "kato": ("加藤 四郎", "floor"),
}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Console:
    """A running office with its console."""

    office: OfficeServer
    server: ConsoleServer
    url: str
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, lang: str = "en") -> httpx.Client:
        """A fresh HTTP client (no session) that speaks ``lang``."""
        c = httpx.Client(base_url=self.url, headers={"Accept-Language": lang}, timeout=15, follow_redirects=False)
        self.clients.append(c)
        return c

    def sign_in(
        self, username: str, counter: int | None = None, lang: str = "en", password: str = PASSWORD
    ) -> httpx.Client:
        """A client signed in as ``username`` (at ``counter``); AssertionError if refused."""
        c = self.client(lang)
        response = self.try_sign_in(c, username, counter, password)
        assert response.status_code == 303, response.text
        return c

    def try_sign_in(
        self, c: httpx.Client, username: str, counter: int | None = None, password: str = PASSWORD
    ) -> httpx.Response:
        page = c.get("/signin")
        token = csrf_of(page.text)
        form = {
            "csrf": token,
            "username": username,
            "password": password,
            "counter": "" if counter is None else str(counter),
        }
        return c.post("/signin", data=form, headers={"Origin": self.url.rstrip("/")})

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.server.stop()
        self.office.stop()


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


_HASHED: list[str] = []


def add_staff(office: OfficeServer) -> None:
    if not _HASHED:  # Argon2 costs time on purpose: once per test run is enough
        _HASHED.append(hash_password(PASSWORD))
    with office.db.transaction():
        store = StaffStore(office.db.conn)
        for username, (name, role) in STAFF.items():
            store.add_user_hashed(username, name, role, _HASHED[0], 0)


def start_console(
    broker_url: str, db: Path | str, settings: Settings | None = None, **office_kwargs: object
) -> Console:
    office = start_office(broker_url, db, **office_kwargs)
    add_staff(office)
    port = free_port()
    server = ConsoleServer(office, host="127.0.0.1", port=port, settings=settings)
    server.start()
    return Console(office, server, f"http://127.0.0.1:{port}/")


def running_console(
    broker_url: str, db: Path | str, settings: Settings | None = None, **office_kwargs: object
) -> Iterator[Console]:
    console = start_console(broker_url, db, settings, **office_kwargs)
    try:
        yield console
    finally:
        console.close()


class Stream:
    """A console's event stream read in a thread: every ``panels`` event, as it arrives."""

    def __init__(self, c: httpx.Client, screen: str, case: str = "") -> None:
        import json
        import threading

        self.events: list[dict[str, object]] = []
        self.arrived: list[float] = []
        self._json = json
        self._first = threading.Event()
        self._closed = False
        self._response: httpx.Response | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._run, args=(c, screen, case), daemon=True)
        self._thread.start()
        assert self._first.wait(15), "the event stream sent no first panels"

    def _run(self, c: httpx.Client, screen: str, case: str) -> None:
        import time

        try:
            with c.stream("GET", "/events", params={"screen": screen, "case": case}, timeout=None) as response:
                self._response = response
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        with self._changed:
                            self.events.append(self._json.loads(line[6:]))
                            self.arrived.append(time.monotonic())
                            self._changed.notify_all()
                        self._first.set()
        except (httpx.HTTPError, OSError, RuntimeError):
            if not self._closed:
                raise

    def wait_for(self, needle: str, panel: str, timeout: float = 10.0, after: int = 0) -> dict[str, object]:
        """The first event after the ``after``-th whose ``panel`` contains ``needle``."""
        import time

        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for event in self.events[after:]:
                    panels = event.get("panels")
                    if isinstance(panels, dict) and needle in str(panels.get(panel, "")):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {panel} panel with {needle!r} in {len(self.events)} events")
                self._changed.wait(left)

    def close(self) -> None:
        self._closed = True
        if self._response is not None:
            self._response.close()
        # A read blocked in another thread is not woken by close(): the thread ends with the
        # client (it is a daemon and drops what it reads after this).
        self._thread.join(0.2)


# --------------------------------------------------------------------------------------------
# a morning in the window: tickets at every station, a dispenser out of paper
# --------------------------------------------------------------------------------------------


def act_as(console: Console, actor: object, action: object) -> object:
    """Carry out a typed action on the office as ``actor`` (the loop's door, no browser)."""
    from office import actions

    assert isinstance(actor, actions.Actor) and isinstance(action, actions.Action)
    reply = console.office.submit(action, actor).result(10)
    assert reply.ok, str(reply)
    return reply


@dataclass
class Scene:
    """What :func:`busy_morning` made."""

    dispenser: object  # harness.Device
    printer: object  # drivers.escpos_printer.FakeEscpos
    held: list[int]  # ticket numbers the dispenser holds for reprint
    at_input: list[str]  # ticket ids at the input station
    called: str  # the ticket id called to counter 2


def busy_morning(console: Console, data: Path, wait_for: object) -> Scene:
    """Tickets in every state, and a dispenser whose printer runs out of paper."""
    import uuid

    from drivers.escpos_printer import EscposTicketPrinter, FakeEscpos
    from firmware_profiles.packaged import printer_model_named
    from harness import has_full_lease, start_dispenser
    from office import actions as a

    def rid() -> str:
        return uuid.uuid4().hex

    floor = a.Actor("kato", "floor")
    purposes = ["moving", "certificates", "moving", "birth", "tax", "certificates", "death", "moving", "childcare"]
    issued = []
    for purpose in purposes:
        reply = act_as(console, floor, a.IssueTicket(request_id=rid(), purpose=purpose))
        issued.append(reply.ticket_id)  # type: ignore[attr-defined]
    # Three counters at work; two cases go on to the input centre, one is taken there.
    at_input = []
    numbers = {t: console.office.db.ticket(t).number for t in issued}  # type: ignore[union-attr]
    for counter, user, ticket in ((1, "suzuki", issued[0]), (3, "yamada", issued[2]), (4, "mori", issued[3])):
        clerk = a.Actor(user, "clerk", counter)
        act_as(console, clerk, a.CallNumber(request_id=rid(), ref=str(numbers[ticket])))
        act_as(console, clerk, a.Start(request_id=rid(), ticket_id=ticket))
        if counter != 1:
            act_as(console, clerk, a.Finish(request_id=rid(), ticket_id=ticket, outcome="next"))
            at_input.append(ticket)
    act_as(console, a.Actor("sato", "input"), a.Claim(request_id=rid(), ticket_id=at_input[0]))
    called = act_as(console, a.Actor("tanaka", "clerk", 2), a.CallNext(request_id=rid())).ticket_id  # type: ignore[attr-defined]
    printer = FakeEscpos(paper=2, near_end_at=1)
    device = start_dispenser(console.office.broker_url, data, "disp-1")
    device.dispenser.printer = EscposTicketPrinter(printer, printer_model_named("TM-T20III"))
    wait_for(lambda: has_full_lease(device), message="the dispenser got its leases")  # type: ignore[operator]
    held = []
    for purpose in ("certificates", "moving", "tax"):
        result = device.dispenser.issue(purpose)
        if not result.printed:
            held.append(result.ticket.number)
    wait_for(lambda: device.agent.pending_count() == 0, message="the office has the dispenser's events")  # type: ignore[operator]
    return Scene(device, printer, held, at_input, str(called))


@dataclass(frozen=True)
class Shot:
    """One screenshot of a console page: who signs in, where, at what size, in which language."""

    name: str  # the PNG's file name
    url: str  # the console's address
    username: str
    target: str  # the page, e.g. "ward/input"
    width: int
    height: int
    locale: str = "ja-JP"
    media: str = "screen"  # "print" renders the page as printed


def shoot(shots: Iterable[Shot], out: Path) -> list[Path]:
    """Each page in Debian's Chromium, signed in as its user, full-page; the PNGs written."""
    from playwright.sync_api import ViewportSize, sync_playwright

    from public_harness import CHROMIUM, CHROMIUM_ARGS

    written: list[Path] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for shot in shots:
            context = browser.new_context(
                viewport=ViewportSize(width=shot.width, height=shot.height), locale=shot.locale
            )
            page = context.new_page()
            page.goto(shot.url + "signin")
            page.fill("#username", shot.username)
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state("networkidle")
            page.goto(shot.url + shot.target)
            page.wait_for_load_state("networkidle")
            page.emulate_media(media=shot.media)  # type: ignore[arg-type]
            page.wait_for_timeout(300)
            path = out / shot.name
            page.screenshot(path=str(path), full_page=True)
            written.append(path)
            context.close()
        browser.close()
    return written
