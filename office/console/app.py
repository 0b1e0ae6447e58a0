"""The staff console: a Starlette app the office serves on its LAN (``[console]`` host and port).

Starlette, not FastAPI or Litestar: the console is a dozen server-rendered pages and one event
stream, with forms in and HTML out - Starlette's routing, forms, streaming responses and
static files are all it needs, without a validation layer beside the one the office already
has (msgspec, office/actions.py) or a dependency-injection system for four dependencies. It is
also what FastAPI and the resident's page (madoguchi-public) are built on: one stack to know.

Every request that changes anything becomes a typed action handed to the office loop
(:meth:`office.server.OfficeServer.submit`), which checks the permission, carries it out once
per request id, writes the audit log and answers after its commit; the console reads the store
over a read-only connection and never writes it. Who acts is the session's user, never a form
field. A form needs the session's CSRF token; a page of another origin cannot post at all
(SameSite=Strict cookie, Origin checked).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from drivers.ticket_printer import PrinterFault, TicketPrinter
from office import actions, estimate
from office.console import stats_view, stats_words, ward_input_view, ward_view
from office.console.desk_ticket import desk_job
from office.console.hub import Hub
from office.console.render import SCREENS, Renderer, Screen
from office.console.texts import LANGUAGES, NATIVE, Texts, choose_language
from office.db import OfficeDB
from office.device_pairing import PairingDesk
from office.domain import Ticket
from office.enrolment import EnrolmentError, Pairing
from office.staff import Reply
from office.staff_store import (
    AuditRow,
    Session,
    StaffError,
    StaffStore,
    StaffUser,
    hash_password,
    new_session_token,
    password_matches,
    session_key,
)
from office.stats import export
from office.ward_desk import WardDesk
from sync.site import SiteConfig

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
SESSION_COOKIE = "madoguchi_staff"
SIGNIN_COOKIE = "madoguchi_signin"
LANG_COOKIE = "madoguchi_lang"
ANSWER_TIMEOUT_S = 10.0
KEEPALIVE_S = 20.0
# An unknown user name costs as long as a wrong password: a sign-in page must not tell which
# user names exist by its speed.
_DUMMY_HASH = hash_password("not a password of anyone")
_ANY_ACTION: Any = actions.AnyAction
_HOME = {"clerk": "/counter", "input": "/input", "floor": "/floor", "admin": "/floor"}
# Who may open which screen (the office loop enforces what each may *do*; this is what each
# may *see*: a clerk never opens the floor view or an administrator's page).
_SCREENS_FOR: Mapping[str, frozenset[actions.Role]] = {
    "counter": frozenset({"clerk", "floor", "admin"}),
    "input": frozenset({"clerk", "input", "floor", "admin"}),
    "floor": frozenset({"floor", "admin"}),
    "desk": frozenset({"clerk", "floor", "admin"}),
    "case": frozenset({"clerk", "input", "floor", "admin"}),
    "users": frozenset({"admin"}),
    "devices": frozenset({"floor", "admin"}),
    "audit": frozenset({"floor", "admin"}),
    "stats": frozenset({"floor", "admin"}),
    "ward": frozenset({"floor", "admin"}),  # a ward's centre only ([ward] centre)
    "ward_stats": frozenset({"floor", "admin"}),
    "ward_input": ward_input_view.ROLES,  # a ward's centre with its input desk ([ward] branch_keys)
}
_NAV = (
    ("counter", "/counter", "NAV_COUNTER"),
    ("input", "/input", "NAV_INPUT"),
    ("floor", "/floor", "NAV_FLOOR"),
    ("desk", "/desk", "NAV_DESK"),
    ("stats", "/stats", "NAV_STATS"),
    ("ward", "/ward", "NAV_WARD"),
    ("ward_stats", "/ward/stats", "NAV_WARD_STATS"),
    ("ward_input", "/ward/input", "NAV_WARD_INPUT"),
    ("devices", "/admin/devices", "DEVICES"),
    ("users", "/admin/users", "NAV_USERS"),
    ("audit", "/admin/audit", "NAV_AUDIT"),
)


class Office(msgspec.Struct, frozen=True):
    """What the console needs of the office (the loop's door and its clocks)."""

    config: SiteConfig
    db_path: Path | str  # the office store: a SQLite file or a PostgreSQL address
    submit: Callable[[actions.Action, actions.Actor], Future[Reply]]
    submit_session: Callable[[actions.SignIn | actions.SignOut], Future[Reply]]
    add_listener: Callable[[Callable[[int], None]], None]
    clock: Callable[[], int]
    business_day: Callable[[int], str]
    day_start_ms: Callable[[int], int]
    samples: Callable[[], Mapping[str, Any]]
    # (day, that day's tickets) as the office last committed them, or None
    kept_tickets: Callable[[], tuple[str, Mapping[str, Ticket]] | None] = lambda: None


@dataclass(frozen=True)
class Who:
    """The signed-in user of a request."""

    session: Session
    user: StaffUser
    key: str

    @property
    def actor(self) -> actions.Actor:
        """The actor the office loop is told acts (from the session, never from a form)."""
        return actions.Actor(self.user.username, self.user.role, self.session.counter)


@dataclass
class DeskResult:
    """What the desk shows after issuing: the number, and whether it printed."""

    number: int
    printed: bool
    why: str = ""


@dataclass
class Settings:
    """The console's knobs (the site's ``[console]`` table gives the rest)."""

    input_station: str = "input"
    secure_cookies: bool = False  # True behind HTTPS
    desk_printer: TicketPrinter | None = None  # the concierge desk's own ticket printer
    flashes: dict[str, str] = field(default_factory=dict)  # session key -> the last answer (no-JS forms)
    pairing: PairingDesk | None = None  # "add a device": None when the office has no enrolment set up
    # The signed apt repository's public/ (office/apt_repo.py), served at /apt/: the devices'
    # updates. Signed by the repository's key, so plain HTTP on the LAN is enough.
    apt_public: Path | None = None
    # A ward's centre: the input desk reaching every sharing branch (office/ward_desk.py).
    ward_desk: WardDesk | None = None


def create_app(office: Office, settings: Settings | None = None) -> Starlette:
    """The console as an ASGI app over ``office``."""
    settings = settings or Settings()
    config = office.config
    hub = Hub(
        config,
        office.db_path,
        clock=office.clock,
        business_day=office.business_day,
        day_start_ms=office.day_start_ms,
        samples=office.samples,
        input_station=settings.input_station,
        kept_tickets=office.kept_tickets,
    )
    renderer = Renderer(config)
    settings_results: dict[str, DeskResult] = {}  # the desk's last numbers (a no-JS form's redirect)
    printing = threading.Lock()  # one job at a time on the desk's printer
    security = {
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self';"
            " form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
    }

    # -- helpers ---------------------------------------------------------------------------

    def lang_of(request: Request) -> str:
        return choose_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))

    def html(body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(body, status, headers=security)

    def who(request: Request) -> Who | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        key = session_key(token)
        now = office.clock()

        def look(db: OfficeDB) -> tuple[Session, StaffUser] | None:
            store = StaffStore(db.conn)
            session = store.session(key, now)
            user = store.user(session.username) if session is not None else None
            return (session, user) if session is not None and user is not None else None

        found = hub.read(look)
        if not isinstance(found, tuple):
            return None
        return Who(found[0], found[1], key)

    def nav(t: Texts, me: Who, here: str) -> list[tuple[str, str, bool]]:
        return [
            (href, getattr(t, label), name == here)
            for name, href, label in _NAV
            if me.user.role in _SCREENS_FOR[name]
            and (
                settings.ward_desk is not None
                if name == "ward_input"
                else config.ward.centre or not name.startswith("ward")
            )
        ]

    def chrome(request: Request, me: Who, screen: str) -> dict[str, object]:
        lang = lang_of(request)
        t = renderer.texts(lang)
        return {
            "me": me,
            "nav": nav(t, me, screen),
            "languages": [(code, NATIVE[code], code == lang) for code in LANGUAGES],
            "path": request.url.path,
            "flash": settings.flashes.pop(me.key, ""),
        }

    def refuse(request: Request, status: int, message: str) -> Response:
        lang = lang_of(request)
        t = renderer.texts(lang)
        body = renderer.page("error.html", None, lang, message=getattr(t, message), status=status)
        return html(body, status)

    def screen_of(request: Request, me: Who, name: str, case: str | None = None) -> Screen:
        return Screen(
            name=name,
            lang=lang_of(request),
            role=me.user.role,
            user=me.user.username,
            counter=me.session.counter,
            case=case,
        )

    async def screen_page(request: Request, name: str, case: str | None = None, **extra: object) -> Response:
        me = who(request)
        if me is None:
            return RedirectResponse(f"/signin?next={request.url.path}", 303)
        if me.user.role not in _SCREENS_FOR[name]:
            return refuse(request, 403, "FORBIDDEN")
        view = hub.view
        if view is None:
            await hub.wait(-1, 5)
            view = hub.view
        if view is None:
            return refuse(request, 503, "OFFICE_SLOW")
        screen = screen_of(request, me, name, case)
        panels = renderer.panels(view, screen)
        body = renderer.page(
            f"{name}.html",
            screen,
            screen.lang,
            panels=panels,
            v=view,
            version=view.version,
            **chrome(request, me, name),
            **extra,
        )
        return html(Renderer.fill(body, me.session.csrf))

    def same_origin(request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin is None or origin == "null":
            # A form post from our own page always says where it came from; a missing Origin
            # is an old browser or a script without one - the CSRF token still decides.
            return origin is None
        return urlsplit(origin).netloc == request.headers.get("host", "")

    def wants_json(request: Request) -> bool:
        return "application/json" in request.headers.get("accept", "")

    def answer(request: Request, me: Who | None, ok: bool, message: str, status: int = 200, **more: object) -> Response:
        if wants_json(request):
            return JSONResponse({"ok": ok, "message": message, **more}, status, headers=security)
        if me is not None:
            settings.flashes[me.key] = message
        back = request.headers.get("referer", "")
        parts = urlsplit(back)
        target = parts.path if parts.netloc == request.headers.get("host", "") and parts.path else "/"
        return RedirectResponse(target, 303, headers=security)

    async def await_reply(future: Future[Reply]) -> Reply | None:
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), ANSWER_TIMEOUT_S)
        except TimeoutError:
            return None

    # -- pages ---------------------------------------------------------------------------------

    async def home(request: Request) -> Response:
        me = who(request)
        if me is None:
            return RedirectResponse("/signin", 303)
        if me.user.role == "clerk" and me.session.counter is None:
            return RedirectResponse("/input", 303)
        return RedirectResponse(_HOME[me.user.role], 303)

    async def counter_page(request: Request) -> Response:
        me = who(request)
        if me is not None and me.session.counter is None and me.user.role in _SCREENS_FOR["counter"]:
            return refuse(request, 200, "NEEDS_COUNTER")
        return await screen_page(request, "counter")

    async def input_page(request: Request) -> Response:
        return await screen_page(
            request, "input", station_known=config.find_station(settings.input_station) is not None
        )

    async def floor_page(request: Request) -> Response:
        me = who(request)
        allowed = me is not None and me.user.role in _SCREENS_FOR["floor"]
        return await screen_page(
            request,
            "floor",
            outlook=await forecast() if allowed else None,
            target=config.congestion.target_wait_minutes,
            share=round(config.congestion.target_share * 100),
        )

    async def desk_page(request: Request) -> Response:
        issued = request.query_params.get("issued")
        result = settings_results.pop(issued, None) if issued else None
        return await screen_page(request, "desk", result=result, can_print=settings.desk_printer is not None)

    async def case_page(request: Request) -> Response:
        ticket_id = request.path_params["ticket_id"]
        view = hub.view
        if view is not None and ticket_id not in view.tickets:
            return refuse(request, 404, "NOT_FOUND")
        return await screen_page(request, "case", case=ticket_id)

    async def users_page(request: Request) -> Response:
        rows = await hub.read_async(lambda db: StaffStore(db.conn).users())
        return await screen_page(request, "users", users=rows, roles=actions.ROLES, now_ms=office.clock())

    async def audit_page(request: Request) -> Response:
        def rows(db: OfficeDB) -> list[AuditRow]:
            return list(StaffStore(db.conn).audit_rows(limit=300))

        return await screen_page(request, "audit", rows=await hub.read_async(rows))

    made_codes: dict[str, tuple[str, Pairing]] = {}  # handle -> (session key, code): shown once

    async def devices_page(request: Request) -> Response:
        me = who(request)
        desk = settings.pairing
        shown = None
        handle = request.query_params.get("made", "")
        if me is not None and handle in made_codes and made_codes[handle][0] == me.key:
            shown = made_codes.pop(handle)[1]  # once: a reload or the back button does not show it again
        pending = await asyncio.to_thread(desk.pending) if desk is not None else []
        enrolled = await asyncio.to_thread(desk.devices) if desk is not None else []
        return await screen_page(
            request,
            "devices",
            pairing_on=desk is not None,
            made=shown,
            pending=pending,
            enrolled=enrolled,
            roles=("dispenser", "board", "kiosk"),
        )

    async def devices_act(request: Request) -> Response:
        me = who(request)
        lang = lang_of(request)
        t = renderer.texts(lang)
        if me is None:
            return RedirectResponse("/signin?next=/admin/devices", 303)
        if me.user.role not in _SCREENS_FOR["devices"]:
            return refuse(request, 403, "FORBIDDEN")
        form = await request.form()
        given = str(form.get("csrf") or "")
        if not same_origin(request) or not hmac.compare_digest(given.encode(), me.session.csrf.encode()):
            return refuse(request, 403, "STALE_FORM")
        desk = settings.pairing
        if desk is None:
            return refuse(request, 409, "PAIRING_OFF")
        what = str(form.get("do") or "")
        if what == "make":
            role = str(form.get("role") or "")
            try:
                made = await asyncio.to_thread(desk.make, role, me.user.username, me.session.counter)
            except EnrolmentError as err:
                settings.flashes[me.key] = t.BAD_FORM.format(what=str(err))
                return RedirectResponse("/admin/devices", 303, headers=security)
            handle = secrets.token_urlsafe(12)
            made_codes[handle] = (me.key, made)
            while len(made_codes) > 20:
                made_codes.pop(next(iter(made_codes)))
            return RedirectResponse(f"/admin/devices?made={handle}", 303, headers=security)
        if what == "withdraw":
            device_id = str(form.get("device_id") or "")[:64]
            done = await asyncio.to_thread(desk.withdraw, device_id, me.user.username, me.session.counter)
            settings.flashes[me.key] = (t.CODE_WITHDRAWN if done else t.CODE_NOT_WAITING).format(device=device_id)
            return RedirectResponse("/admin/devices", 303, headers=security)
        settings.flashes[me.key] = t.BAD_FORM.format(what=f"do={what!r}")
        return RedirectResponse("/admin/devices", 303, headers=security)

    # -- statistics ------------------------------------------------------------------------------

    book = stats_view.StatsBook(config)

    def today() -> date:
        return date.fromisoformat(office.business_day(office.clock()))

    def on_own_connection(what: Callable[[OfficeDB], Any]) -> Any:
        # A year's figures take a moment: on a connection of their own, so the pages' shared
        # one (sessions, the audit log) is not held meanwhile.
        db = OfficeDB.read_only(office.db_path)
        try:
            return what(db)
        finally:
            db.close()

    async def computed(wanted: stats_view.Period) -> stats_view.Computed:
        now, day = office.clock(), today()
        done: stats_view.Computed = await asyncio.to_thread(
            on_own_connection, lambda db: book.compute(db, wanted, day, now)
        )
        return done

    async def forecast() -> Any:
        day = today()
        return await asyncio.to_thread(on_own_connection, lambda db: book.outlook(db, day))

    def stats_allowed(request: Request) -> Who | Response:
        me = who(request)
        if me is None:
            return RedirectResponse(f"/signin?next={request.url.path}", 303)
        if me.user.role not in _SCREENS_FOR["stats"]:
            return refuse(request, 403, "FORBIDDEN")
        return me

    def wanted_period(request: Request) -> stats_view.Period | None:
        found = stats_view.period(dict(request.query_params), today())
        return found if isinstance(found, stats_view.Period) else None

    async def stats_page(request: Request) -> Response:
        me = stats_allowed(request)
        if not isinstance(me, Who):
            return me
        t = renderer.texts(lang_of(request))
        day = today()
        found, problem = stats_view.chosen(dict(request.query_params), day, t)
        done = await computed(found)
        kiosk = await asyncio.to_thread(
            on_own_connection, lambda db: export.kiosk_tables(db.conn, found.first, found.last, book.tz)
        )
        outlook = await forecast() if done.live else None
        return await screen_page(
            request, "stats", problem=problem, outlook=outlook, **stats_view.shown(t, done, day, config, kiosk)
        )

    async def stats_plot(request: Request) -> Response:
        me = stats_allowed(request)
        if not isinstance(me, Who):
            return me
        wanted = wanted_period(request)
        if wanted is None:
            return PlainTextResponse("no such period", 404, headers=security)
        lang = lang_of(request)
        done = await computed(wanted)
        words = stats_words.words(renderer.texts(lang))
        name = request.path_params["name"]
        svg = await asyncio.to_thread(book.plot, done, name, lang, words)
        if svg is None:
            return PlainTextResponse("no such plot", 404, headers=security)
        # An SVG shown as an image runs no script; matplotlib styles its shapes inline.
        headers = {**security, "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
        headers["Cache-Control"] = "private, max-age=60"
        return Response(svg, media_type="image/svg+xml", headers=headers)

    async def stats_download(request: Request) -> Response:
        me = stats_allowed(request)
        if not isinstance(me, Who):
            return me
        wanted = wanted_period(request)
        if wanted is None:
            return refuse(request, 404, "NOT_FOUND")
        kind = request.path_params["kind"]
        t = renderer.texts(lang_of(request))
        done = await computed(wanted)
        target = config.congestion.target_wait_minutes
        stem = f"madoguchi-{wanted.first.isoformat()}_{wanted.last.isoformat()}"

        def made() -> tuple[bytes, str, str]:
            with tempfile.TemporaryDirectory(prefix="madoguchi-stats-") as tmp:
                if kind == "xlsx":
                    kiosk = on_own_connection(
                        lambda db: export.kiosk_tables(db.conn, wanted.first, wanted.last, book.tz)
                    )
                    tables = stats_words.tables(t, done.made, kiosk, target)
                    path = export.write_xlsx(tables, Path(tmp) / "report.xlsx")
                    mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                    return path.read_bytes(), mime, f"{stem}.xlsx"
                path = Path(tmp) / "ticket_log.parquet"
                on_own_connection(
                    lambda db: export.write_log_chunks(
                        export.store_chunks(db.conn, wanted.first.isoformat(), wanted.last.isoformat()), path, book.tz
                    )
                )
                return path.read_bytes(), "application/vnd.apache.parquet", f"{stem}_ticket_log.parquet"

        if kind not in ("xlsx", "parquet"):
            return refuse(request, 404, "NOT_FOUND")
        body, mime, filename = await asyncio.to_thread(made)
        headers = {**security, "Content-Disposition": f'attachment; filename="{filename}"'}
        return Response(body, media_type=mime, headers=headers)

    # -- live ----------------------------------------------------------------------------------

    def live_screen(request: Request, me: Who) -> Screen | None:
        name = request.query_params.get("screen", "")
        if name not in SCREENS or me.user.role not in _SCREENS_FOR[name]:
            return None
        return screen_of(request, me, name, request.query_params.get("case") or None)

    encoded: dict[tuple[object, ...], bytes] = {}
    encoded_version = [-1]

    def encoded_event(version: int, changed: dict[str, str]) -> bytes:
        """One ``panels`` event, encoded once for every stream that gets the same panels (the
        floor's list of the day's tickets is a few hundred KB: JSON-escaping it per stream cost
        more than rendering it). Panels are cached strings, so their identity is the key."""
        if encoded_version[0] != version:
            encoded.clear()
            encoded_version[0] = version
        key = tuple((name, id(html), len(html)) for name, html in changed.items())
        event = encoded.get(key)
        if event is None:
            data = json.dumps({"v": version, "panels": changed}, ensure_ascii=False)
            event = encoded[key] = f"id: {version}\nevent: panels\ndata: {data}\n\n".encode()
        return event

    async def events(request: Request) -> Response:
        me = who(request)
        if me is None:
            return PlainTextResponse("sign in", 401, headers=security)
        screen = live_screen(request, me)
        if screen is None:
            return PlainTextResponse("no such screen", 403, headers=security)

        async def body() -> AsyncIterator[bytes]:
            sent: dict[str, str] = {}
            seen = -1
            hub.streams += 1
            try:
                yield b"retry: 2000\n\n"
                while True:
                    view = hub.view
                    if view is not None and view.version != seen:
                        seen = view.version
                        panels = renderer.panels(view, screen)
                        changed = {k: h for k, h in panels.items() if sent.get(k) != h}
                        if changed:
                            sent.update(changed)
                            yield encoded_event(seen, changed)
                    if not await hub.wait(seen, KEEPALIVE_S):
                        yield b": keep-alive\n\n"
            finally:
                hub.streams -= 1

        headers = {**security, "X-Accel-Buffering": "no"}
        return StreamingResponse(body(), media_type="text/event-stream", headers=headers)

    async def panels_json(request: Request) -> Response:
        me = who(request)
        if me is None:
            return JSONResponse({"error": "sign in"}, 401, headers=security)
        screen = live_screen(request, me)
        view = hub.view
        if screen is None or view is None:
            return JSONResponse({"error": "no such screen"}, 403, headers=security)
        return JSONResponse({"v": view.version, "panels": renderer.panels(view, screen)}, headers=security)

    # -- actions -------------------------------------------------------------------------------

    async def act(request: Request) -> Response:
        me = who(request)
        lang = lang_of(request)
        t = renderer.texts(lang)
        if me is None:
            return answer(request, None, False, t.SIGN_IN_AGAIN, 401)
        form = await request.form()
        given = str(form.get("csrf") or request.headers.get("x-csrf-token") or "")
        if not same_origin(request) or not hmac.compare_digest(given.encode(), me.session.csrf.encode()):
            return answer(request, me, False, t.STALE_FORM, 403)
        fields: dict[str, object] = {}
        for name, value in form.multi_items():
            if name in ("csrf", "password") or not isinstance(value, str) or value == "":
                continue
            if name == "procedures":
                fields.setdefault("procedures", [])
                procedures = fields["procedures"]
                if isinstance(procedures, list):
                    procedures.append(value)
            elif name.startswith("procedures:"):
                continue  # the desk's procedures of the purposes not chosen
            else:
                fields[name] = value
        chosen = fields.get("purpose")
        if fields.get("action") == "issue_ticket" and isinstance(chosen, str):
            fields["procedures"] = [str(p) for p in form.getlist(f"procedures:{chosen}")]
            fields["print_ticket"] = "print_ticket" in form
        fields.setdefault("request_id", uuid.uuid4().hex)
        kind = str(fields.get("action", ""))
        if kind in ("add_user", "set_password"):
            # Hashing costs a tenth of a second on purpose: only for whom may do it at all.
            if me.user.role != "admin":
                return answer(
                    request, me, False, t.say("your role ({role}) cannot do that here", {"role": me.user.role}), 403
                )
            password = str(form.get("password") or "")
            try:
                fields["password_hash"] = await asyncio.to_thread(hash_password, password)
            except StaffError as err:
                return answer(request, me, False, t.BAD_FORM.format(what=str(err)), 400)
        try:
            action = msgspec.convert(fields, _ANY_ACTION, strict=False)
        except msgspec.ValidationError as err:
            return answer(request, me, False, t.BAD_FORM.format(what=str(err)), 400)
        reply = await await_reply(office.submit(action, me.actor))
        if reply is None:
            return answer(request, me, False, t.OFFICE_SLOW, 504)
        message = t.say(reply.template, reply.params)
        if isinstance(action, actions.IssueTicket) and reply.ok and reply.ticket_id is not None:
            return await desk_issued(request, me, t, action, reply, message)
        return answer(request, me, reply.ok, message, ticket=reply.ticket_id)

    async def desk_issued(
        request: Request, me: Who, t: Texts, action: actions.IssueTicket, reply: Reply, message: str
    ) -> Response:
        number = int(str(reply.params.get("number", 0)))
        printed, why = False, ""
        if action.print_ticket and settings.desk_printer is not None and reply.ticket_id is not None:
            fault = await desk_print(settings.desk_printer, reply.ticket_id)
            printed, why = fault is None, t.fault(fault) if fault else ""
        result = DeskResult(number, printed, why)
        if wants_json(request):
            return answer(request, me, True, message, ticket=reply.ticket_id, number=number, printed=printed, why=why)
        handle = secrets.token_hex(8)
        settings_results[handle] = result
        while len(settings_results) > 50:
            settings_results.pop(next(iter(settings_results)))
        return RedirectResponse(f"/desk?issued={handle}", 303, headers=security)

    async def desk_print(printer: TicketPrinter, ticket_id: str) -> str | None:
        """Print a desk ticket; the printer's fault, or None when it printed."""
        deadline = asyncio.get_running_loop().time() + 3
        view = hub.view
        while view is None or ticket_id not in view.tickets:  # the view that has it is a moment away
            if not await hub.wait(view.version if view else -1, max(0.0, deadline - asyncio.get_running_loop().time())):
                break
            view = hub.view
        if view is None or ticket_id not in view.tickets:
            return "unknown"
        ticket = view.tickets[ticket_id]
        line = view.waiting.get(ticket.category, ())
        ahead = next((i for i, t in enumerate(line) if t.ticket_id == ticket_id), 0)
        load = next((p for p in view.purposes if p.category.code == ticket.category), None)
        est = estimate.estimated_wait_minutes(
            ahead,
            office.samples().get(ticket.category, ()),
            load.open_counters if load is not None else 1,
            float(config.default_service_seconds),
        )
        job = desk_job(config, ticket, ahead, est)

        def run() -> str | None:
            with printing:
                before = printer.status()
                if before.fault is not None:
                    return before.fault
                try:
                    printer.print_job(job)
                except PrinterFault as err:
                    return err.status.fault or "disconnected"
                return None

        return await asyncio.to_thread(run)

    # -- signing in and out ----------------------------------------------------------------------

    async def signin_form(request: Request, message: str = "", status: int = 200) -> Response:
        lang = lang_of(request)
        token = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(24)
        body = renderer.page(
            "signin.html",
            None,
            lang,
            message=message,
            csrf=token,
            counters=config.counters,
            next=_safe_next(request.query_params.get("next", "")),
            languages=[(code, NATIVE[code], code == lang) for code in LANGUAGES],
        )
        response = html(body, status)
        response.set_cookie(
            SIGNIN_COOKIE, token, httponly=True, samesite="strict", secure=settings.secure_cookies, max_age=3600
        )
        return response

    async def signin_page(request: Request) -> Response:
        return await signin_form(request)

    async def signin(request: Request) -> Response:
        t = renderer.texts(lang_of(request))
        form = await request.form()
        cookie = request.cookies.get(SIGNIN_COOKIE, "")
        given = str(form.get("csrf") or "")
        if not cookie or not same_origin(request) or not hmac.compare_digest(given.encode(), cookie.encode()):
            return await signin_form(request, t.STALE_FORM, 403)
        username = str(form.get("username") or "").strip().lower()[:64]
        password = str(form.get("password") or "")
        counter_text = str(form.get("counter") or "")
        counter = int(counter_text) if counter_text.isdigit() else None
        stored = hub.read(lambda db: StaffStore(db.conn).password_hash(username))
        ok = await asyncio.to_thread(password_matches, stored if isinstance(stored, str) else _DUMMY_HASH, password)
        token = new_session_token()
        change = actions.SignIn(
            username=username,
            key=session_key(token),
            csrf=secrets.token_urlsafe(24),
            counter=counter,
            password_ok=ok and isinstance(stored, str),
        )
        reply = await await_reply(office.submit_session(change))
        if reply is None:
            return await signin_form(request, t.OFFICE_SLOW, 504)
        if not reply.ok:
            return await signin_form(request, t.say(reply.template, reply.params), 401)
        target = _safe_next(str(form.get("next") or "")) or "/"
        response = RedirectResponse(target, 303, headers=security)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=settings.secure_cookies,
            max_age=config.console.session_hours * 3600,
        )
        response.delete_cookie(SIGNIN_COOKIE)
        return response

    async def signout(request: Request) -> Response:
        me = who(request)
        if me is not None:
            form = await request.form()
            given = str(form.get("csrf") or "")
            if not hmac.compare_digest(given.encode(), me.session.csrf.encode()):
                return refuse(request, 403, "STALE_FORM")
            await await_reply(office.submit_session(actions.SignOut(key=me.key)))
        response = RedirectResponse("/signin", 303, headers=security)
        response.delete_cookie(SESSION_COOKIE)
        return response

    async def language(request: Request) -> Response:
        to = request.query_params.get("to", "")
        target = _safe_next(request.query_params.get("next", "")) or "/"
        response = RedirectResponse(target, 303, headers=security)
        if to in LANGUAGES:
            response.set_cookie(LANG_COOKIE, to, samesite="strict", max_age=365 * 86400)
        return response

    async def health(request: Request) -> Response:
        view = hub.view
        return JSONResponse({"ok": view is not None, "view": view.version if view else None, "streams": hub.streams})

    # -- errors ----------------------------------------------------------------------------------

    async def not_found(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and exc.status_code == 405:
            return PlainTextResponse("method not allowed", 405, headers=security)
        return refuse(request, 404, "NOT_FOUND")

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("console: %s %s failed", request.method, request.url.path, exc_info=exc)
        return refuse(request, 500, "OFFICE_SLOW")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        office.add_listener(hub.changed)
        yield
        await hub.stop()

    app = Starlette(
        routes=[
            Route("/", home),
            Route("/signin", signin_page, methods=["GET"]),
            Route("/signin", signin, methods=["POST"]),
            Route("/signout", signout, methods=["POST"]),
            Route("/lang", language),
            Route("/counter", counter_page),
            Route("/input", input_page),
            Route("/floor", floor_page),
            Route("/desk", desk_page),
            Route("/case/{ticket_id}", case_page),
            Route("/admin/users", users_page),
            Route("/admin/audit", audit_page),
            Route("/stats", stats_page),
            Route("/stats/plot/{name:str}.svg", stats_plot),
            Route("/stats/download/{kind:str}", stats_download),
            *(
                ward_view.routes(
                    ward_view.Pages(
                        config, screen_page, stats_allowed, lang_of, renderer.texts, today, office.clock, security
                    )
                )
                if config.ward.centre
                else []
            ),
            *(
                ward_input_view.routes(
                    ward_input_view.Pages(
                        config,
                        settings.ward_desk,
                        screen_page,
                        who,
                        same_origin,
                        answer,
                        lang_of,
                        renderer.texts,
                        office.clock,
                    )
                )
                if settings.ward_desk is not None
                else []
            ),
            Route("/admin/devices", devices_page, methods=["GET"]),
            Route("/admin/devices", devices_act, methods=["POST"]),
            Route("/events", events),
            Route("/panels", panels_json),
            Route("/act", act, methods=["POST"]),
            Route("/healthz", health),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
            *(
                [Mount("/apt", StaticFiles(directory=settings.apt_public, check_dir=False), name="apt")]
                if settings.apt_public is not None
                else []
            ),
        ],
        exception_handlers={404: not_found, 405: not_found, 500: server_error},
        lifespan=lifespan,
    )
    app.state.hub = hub
    app.state.renderer = renderer
    return app


def _safe_next(target: str) -> str:
    """A redirect target of this site only (a path), or "" - never another host."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return ""
    return target
