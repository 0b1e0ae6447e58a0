"""The central office's ward pages (docs/ward.md): the ward's floor, one card per branch, and the
ward's statistics, both read from the ward's PostgreSQL that the central consumer writes
(office/ward_consumer.py) - never from the branches themselves.

A branch's card says what the centre knows of it: whether its bridge is connected and since when,
how far behind the centre is (its events and ticket log at the centre against what its devices
say they sent), whether its office is running, who waits for what and how long (its queue
snapshot), its devices and its input station's backlog (the ``ward_cases`` document, when the
branch sends one). PostgreSQL does not drive the console's event hub: the page refreshes itself.

The statistics are office/ward_stats.py's figures, for the whole ward or one branch, on the
branch's own statistics page (stats.html) and its plots (office/console/stats_view.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from office import ward_stats
from office.console import stats_view, stats_words
from office.console.texts import Texts
from office.stats import figures
from office.stats.journey import journeys
from office.ward_consumer import BRIDGE_STATE, Lag, read_lag
from sync import messages, protocol
from sync.errors import ProtocolError
from sync.site import SiteConfig

REFRESH_S = 15  # the ward's floor reloads itself this often
SITE_ID_MAX = 63


@dataclass(frozen=True)
class Waiting:
    """One purpose of a branch's queue snapshot: who waits, and the wait it estimates."""

    code: str
    names: Mapping[str, str]
    waiting: int
    est_wait_min: int | None


@dataclass(frozen=True)
class DeviceLine:
    """One device of a branch, as its retained status says (and how much of it the centre lacks)."""

    device: str
    role: str
    online: bool
    since_ms: int  # when the centre saw its state change
    missing: int | None  # events it says it sent that the centre does not hold yet


@dataclass(frozen=True)
class BranchFloor:
    """One branch as the ward's floor shows it."""

    site: str
    name: str
    bridge: bool | None  # None: its bridge has not said
    bridge_since_ms: int | None
    office_online: bool | None
    office_since_ms: int | None
    office_heard_ms: int | None
    lag: Lag | None
    log_rows_today: int
    log_received_ms: int | None
    purposes: tuple[Waiting, ...]
    queue_sent_ms: int | None
    devices: tuple[DeviceLine, ...]
    backlog: int | None  # cases at its input station; None: the branch sends no such document
    backlog_oldest_ms: int | None

    @property
    def waiting(self) -> int:
        """Tickets waiting at the branch, every purpose."""
        return sum(p.waiting for p in self.purposes)

    @property
    def online_devices(self) -> int:
        """Devices whose status says online."""
        return sum(1 for d in self.devices if d.online)

    @property
    def missing(self) -> int:
        """Events the branch's devices say they sent that the centre does not hold yet."""
        return sum(d.missing or 0 for d in self.devices)


@dataclass(frozen=True)
class _Doc:
    received_ms: int
    changed_ms: int
    body: Any


def _typed(name: str, body: Any) -> Any:
    """A kept document as its protocol type again, or None when it no longer reads as one."""
    try:
        return protocol.decode(name, json.dumps(body).encode())
    except (ProtocolError, KeyError):
        return None


def _branch(
    db: psycopg.Connection[Any],
    site: str,
    docs: Mapping[tuple[str, str], _Doc],
    lag: Lag | None,
    log: tuple[int, int | None],
) -> BranchFloor:
    def doc(name: str, device: str = "") -> _Doc | None:
        return docs.get((name, device))

    bridge, office = doc(BRIDGE_STATE), doc("office_status")
    offered = doc("office_config")
    config = _typed("office_config", offered.body) if offered else None
    queue = doc("queue_snapshot")
    snapshot = _typed("queue_snapshot", queue.body) if queue else None
    purposes: list[Waiting] = []
    if isinstance(snapshot, messages.QueueSnapshot):
        for row in snapshot.categories:
            info = config.purpose(row.code) if isinstance(config, messages.OfficeConfig) else None
            purposes.append(Waiting(row.code, dict(info.name) if info else {}, row.waiting, row.est_wait_min))
    devices = []
    for (name, device), kept in sorted(docs.items()):
        status = _typed("device_status", kept.body) if name == "device_status" else None
        if not isinstance(status, messages.DeviceStatus):
            continue
        held = db.execute("SELECT max(seq) FROM ward_events WHERE site = %s AND device = %s", (site, device)).fetchone()
        at_centre = int(held[0]) if held and held[0] is not None else 0
        missing = max(0, status.last_seq - at_centre) if status.last_seq else None
        devices.append(DeviceLine(device, status.role, status.state == "online", kept.changed_ms, missing))
    cases = doc("ward_cases")
    backlog = oldest = None
    if cases is not None and isinstance(cases.body, dict):
        listed = [c for c in cases.body.get("cases", ()) if isinstance(c, dict)]
        backlog = len(listed) + int(cases.body.get("more", 0) or 0)
        oldest = min((int(c.get("arrived_ms", 0)) for c in listed), default=None)
    online = office.body.get("state") == "online" if office and isinstance(office.body, dict) else None
    return BranchFloor(
        site=site,
        name=config.office_name if isinstance(config, messages.OfficeConfig) and config.office_name else site,
        bridge=bool(bridge.body.get("connected")) if bridge and isinstance(bridge.body, dict) else None,
        bridge_since_ms=bridge.changed_ms if bridge else None,
        office_online=online,
        office_since_ms=office.changed_ms if office else None,
        office_heard_ms=office.received_ms if office else None,
        lag=lag,
        log_rows_today=log[0],
        log_received_ms=log[1],
        purposes=tuple(purposes),
        queue_sent_ms=snapshot.sent_ms if isinstance(snapshot, messages.QueueSnapshot) else None,
        devices=tuple(devices),
        backlog=backlog,
        backlog_oldest_ms=oldest,
    )


def read_floor(dsn: str, day: date, now_ms: int) -> list[BranchFloor]:
    """Every branch the centre has heard of, as the ward's floor shows it (by site id); empty
    while the consumer has not made its tables yet."""
    with psycopg.connect(dsn, connect_timeout=5) as db:
        try:
            lags = {lag.site: lag for lag in read_lag(db, now_ms)}
            docs: dict[str, dict[tuple[str, str], _Doc]] = {}
            for site, name, device, received, changed, body in db.execute(
                "SELECT site, name, device, received_ms, changed_ms, body FROM ward_state"
            ):
                docs.setdefault(str(site), {})[(str(name), str(device))] = _Doc(int(received), int(changed), body)
            logs = {
                str(site): (int(count), None if last is None else int(last))
                for site, count, last in db.execute(
                    "SELECT site, count(*), max(received_ms) FROM ward_ticket_log WHERE day = %s GROUP BY site", (day,)
                )
            }
            return [
                _branch(db, site, docs.get(site, {}), lags.get(site), logs.get(site, (0, None)))
                for site in sorted(lags.keys() | docs.keys() | logs.keys())
            ]
        except psycopg.errors.UndefinedTable:
            return []


def read_sites(dsn: str) -> list[tuple[str, str]]:
    """(site, name) of every branch the centre holds anything of, by site id."""
    with psycopg.connect(dsn, connect_timeout=5) as db:
        try:
            rows = db.execute(
                "SELECT site FROM ward_sites UNION SELECT site FROM ward_log_marks UNION SELECT site FROM ward_state"
            ).fetchall()
            names: dict[Any, Any] = dict(
                db.execute(
                    "SELECT site, body->>'office_name' FROM ward_state WHERE name = 'office_config' AND device = ''"
                ).fetchall()
            )
        except psycopg.errors.UndefinedTable:
            return []
    return sorted((str(site), str(names.get(site) or site)) for (site,) in rows)


class WardBook:
    """The ward's statistics computed lately, per choice of sites (the whole ward: ""), through
    :func:`office.ward_stats.central_figures` and kept like a branch's (:class:`StatsBook`)."""

    def __init__(self, config: SiteConfig, dsn: str) -> None:
        self.config = config
        self.dsn = dsn
        self._books: dict[str, stats_view.StatsBook] = {}

    def book(self, site: str) -> stats_view.StatsBook:
        """The book of one choice (its periods and plots kept apart from the others')."""
        found = self._books.get(site)
        if found is None:
            found = self._books[site] = stats_view.StatsBook(self.config)
        return found

    def compute(self, site: str, wanted: stats_view.Period, today: date, now_ms: int) -> stats_view.Computed:
        """The figures of ``site`` (the whole ward: "") over the period; runs on a reading thread."""
        sites: Sequence[str] = (site,) if site else ()

        def make() -> tuple[figures.Figures, figures.Columns]:
            made = ward_stats.central_figures(
                self.dsn,
                wanted.first,
                wanted.last,
                tz=ZoneInfo(self.config.timezone),
                target_wait_s=self.config.congestion.target_wait_minutes * 60,
                stations=[s.code for s in self.config.stations],
                sites=sites,
            )
            # The plots want the journeys' columns as well: the same rows, read once more.
            rows = ward_stats.central_rows(self.dsn, wanted.first, wanted.last, sites)
            return made, figures.columns(journeys(rows))

        return self.book(site).kept(wanted, today, now_ms, make)


@dataclass(frozen=True)
class Pages:
    """What the ward's pages use of the console (app.create_app's helpers)."""

    config: SiteConfig
    screen_page: Callable[..., Awaitable[Response]]
    allowed: Callable[[Request], object]  # the signed-in user, or the Response refusing
    lang_of: Callable[[Request], str]
    texts: Callable[[str], Texts]
    today: Callable[[], date]
    clock: Callable[[], int]
    headers: Mapping[str, str]


def routes(pages: Pages) -> list[Route]:
    """The ward's pages: ``/ward``, ``/ward/stats`` and its plots."""
    config = pages.config
    dsn = config.ward.dsn
    book = WardBook(config, dsn)

    async def floor_page(request: Request) -> Response:
        t = pages.texts(pages.lang_of(request))
        now = pages.clock()
        problem = ""
        try:
            branches = await asyncio.to_thread(read_floor, dsn, pages.today(), now)
        except psycopg.OperationalError:
            branches, problem = [], t.WARD_DB_DOWN
        return await pages.screen_page(
            request, "ward", branches=branches, problem=problem, now_ms=now, refresh=REFRESH_S
        )

    def site_of(request: Request, known: Sequence[tuple[str, str]]) -> str | None:
        site = request.query_params.get("site", "")[:SITE_ID_MAX]
        return site if site == "" or any(site == s for s, _ in known) else None

    async def stats_page(request: Request) -> Response:
        t = pages.texts(pages.lang_of(request))
        day = pages.today()
        try:
            known = await asyncio.to_thread(read_sites, dsn)
        except psycopg.OperationalError:
            return await floor_page(request)  # says the database is away
        found, problem = stats_view.chosen(dict(request.query_params), day, t)
        site = site_of(request, known)
        if site is None:
            problem, site = t.WARD_NO_SUCH_SITE.format(site=request.query_params.get("site", "")[:SITE_ID_MAX]), ""
        now = pages.clock()
        done = await asyncio.to_thread(book.compute, site, found, day, now)
        where = dict(known).get(site, site) if site else t.WARD_ALL
        return await pages.screen_page(
            request,
            "ward_stats",
            problem=problem,
            outlook=None,
            **stats_view.shown(t, done, day, config),
            stats_path="/ward/stats",
            stats_more=f"&site={site}" if site else "",
            stats_title=t.WARD_STATS_HEADING.format(where=where, period="{period}"),
            stats_forecast=False,
            stats_downloads=False,
            sites=known,
            site=site,
        )

    async def stats_plot(request: Request) -> Response:
        me = pages.allowed(request)
        if isinstance(me, Response):
            return me
        wanted = stats_view.period(dict(request.query_params), pages.today())
        known = await asyncio.to_thread(read_sites, dsn)
        site = site_of(request, known)
        if not isinstance(wanted, stats_view.Period) or site is None:
            return PlainTextResponse("no such period or branch", 404, headers=dict(pages.headers))
        lang = pages.lang_of(request)
        done = await asyncio.to_thread(book.compute, site, wanted, pages.today(), pages.clock())
        words = stats_words.words(pages.texts(lang))
        svg = await asyncio.to_thread(book.book(site).plot, done, request.path_params["name"], lang, words)
        if svg is None:
            return PlainTextResponse("no such plot", 404, headers=dict(pages.headers))
        # An SVG shown as an image runs no script; matplotlib styles its shapes inline.
        headers = {**pages.headers, "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
        return Response(svg, media_type="image/svg+xml", headers={**headers, "Cache-Control": "private, max-age=60"})

    return [
        Route("/ward", floor_page),
        Route("/ward/stats", stats_page),
        Route("/ward/stats/plot/{name:str}.svg", stats_plot),
    ]
