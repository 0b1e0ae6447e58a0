"""The console's HTML: Jinja2 templates over a :class:`~office.staff_view.StaffView`.

A screen is a page of **panels** (the alerts, the counter's current ticket, the queue, the input
centre's load...). The page is rendered whole once; after that the event stream sends the
panels whose HTML changed. A panel's HTML depends only on the view and on the few things of
the screen it names in :data:`PANELS` (the language, the role, the counter...), so twenty
consoles at twenty counters render the shared panels once per change, not twenty times.

What differs per session stays out of a panel's HTML: its forms carry the placeholders
``__CSRF__`` and ``__RID__``, filled by the page (:meth:`Renderer.fill`) and by the script
before a pushed panel goes in.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from office import actions, floor
from office.console.texts import NATIVE, Texts, texts
from office.domain import Stamp, Status, Ticket
from office.staff_view import StaffView
from sync.site import SiteConfig

TEMPLATES = Path(__file__).resolve().parent / "templates"
CSRF = "__CSRF__"
RID = "__RID__"
_RID_RE = re.compile(RID)
ROW_CACHE_LIMIT = 20_000  # rows of the floor's ticket list kept (a busy day's, in two languages)

# The panels of each screen, in page order.
SCREENS: Mapping[str, tuple[str, ...]] = {
    "counter": ("alerts", "bar", "current", "mine", "queue", "load"),
    "input": ("alerts", "load", "cases"),
    "floor": ("alerts", "purposes", "stations", "counters", "devices", "tickets"),
    "desk": ("alerts", "purposes", "recent"),
    "case": ("alerts", "case"),
    "users": ("alerts",),
    "devices": ("devices", "alerts"),
    "audit": ("alerts",),
    "stats": ("alerts",),
    "ward": ("alerts",),
    "ward_stats": ("alerts",),
    "ward_input": ("alerts",),
}
# What of the screen each panel's HTML depends on (besides the view).
PANELS: Mapping[str, tuple[str, ...]] = {
    "alerts": ("lang",),
    "bar": ("lang", "role", "counter"),
    "current": ("lang", "role", "counter"),
    "mine": ("lang", "role", "user"),
    "queue": ("lang", "role"),  # and the purposes the counter serves (Renderer.panel)
    "load": ("lang", "role"),
    "cases": ("lang", "role"),
    "purposes": ("lang",),
    "stations": ("lang",),
    "counters": ("lang",),
    "devices": ("lang",),
    "tickets": ("lang", "role"),
    "recent": ("lang",),
    "case": ("lang", "role", "case"),
}


@dataclass(frozen=True)
class Screen:
    """Who looks at which screen: what a panel may depend on."""

    name: str
    lang: str
    role: actions.Role
    user: str
    counter: int | None = None
    case: str | None = None

    def key(self, panel: str) -> tuple[object, ...]:
        """The cache key of a panel of this screen (the view's version is added by the cache)."""
        return (panel, *(getattr(self, part) for part in PANELS[panel]))

    def can(self, action: str) -> bool:
        """Whether the role may take the action named ``action`` (its form is shown)."""
        return any(actions.name_of(kind) == action for kind in actions.PERMISSIONS[self.role])


@dataclass(frozen=True)
class Stop:
    """One station of a case's route as the case card shows it."""

    code: str
    reached_ms: int | None
    here: bool
    done: bool


@dataclass(frozen=True)
class Card:
    """A case as its card shows it."""

    ticket: Ticket
    stops: tuple[Stop, ...]
    waited_ms: int | None  # from issue to the first call
    working_ms: int | None  # since it reached where it is (while worked on or ready)


def card(view: StaffView, ticket: Ticket) -> Card:
    """The case card of ``ticket``."""
    stamps: Sequence[Stamp] = view.stamps.get(ticket.ticket_id, ())
    reached: dict[str, int] = {}
    for stamp in stamps:
        reached[stamp.station] = stamp.at_ms
    stops = tuple(
        Stop(
            code=code,
            reached_ms=reached.get(code) if i <= ticket.station_index else None,
            here=i == ticket.station_index,
            done=i < ticket.station_index,
        )
        for i, code in enumerate(ticket.route)
    )
    first_call = next((s.at_ms for s in stamps if s.station == ticket.route[0]), None)
    waited = (first_call if first_call is not None else view.now_ms) - ticket.issued_ms
    working = None
    if ticket.status in (Status.IN_PROGRESS, Status.HELD, Status.READY, Status.CALLED) and ticket.station is not None:
        since = reached.get(ticket.station)
        working = view.now_ms - since if since is not None else None
    return Card(ticket, stops, max(0, waited), working)


def active_tickets(view: StaffView) -> list[Ticket]:
    """The day's tickets still in progress, in queue order (the floor's list)."""
    return sorted((t for t in view.tickets.values() if t.status.active), key=lambda t: t.queue_key)


def _ticket_row(tk: Ticket, t: Texts) -> str:
    """One row of the floor's ticket list (what panels/tickets.html showed per row)."""
    holder = f" ({escape(tk.holder)})" if tk.holder else ""
    counter = t.counter(tk.counter) if tk.counter is not None else t.NONE
    href = f"/case/{escape(tk.ticket_id)}"
    return (
        f'<tr data-number="{tk.number}" class="st-{escape(tk.status.value)}">\n'
        f'<th scope="row"><a href="{href}" class="number">{tk.number}</a></th>\n'
        f"<td>{escape(t.purpose(tk.category))}</td>\n"
        f"<td>{escape(t.status(tk.status.value))}{holder}</td>\n"
        f"<td>{escape(t.station(tk.station))}</td>\n"
        f"<td>{escape(counter)}</td>\n"
        f"<td>{escape(t.clock(tk.issued_ms))}</td>\n"
        f'<td class="row-actions"><a href="{href}">{escape(t.OPEN_CASE)}</a></td>\n'
        "</tr>"
    )


def arrived(view: StaffView, ticket: Ticket) -> int:
    """When the ticket reached where it is (its age there is ``view.now_ms`` minus this)."""
    return floor.arrived_at(ticket, view.stamps.get(ticket.ticket_id, ()))


@dataclass
class Renderer:
    """Renders pages and panels; panels are cached per view version."""

    config: SiteConfig
    templates: Path = TEMPLATES
    _cache: dict[tuple[object, ...], str] = field(default_factory=dict)
    _cache_version: int = -1
    renders: int = 0  # panels rendered (the bench reads it)
    # The floor's list of the day's tickets, one row per ticket: a row depends on the ticket
    # (immutable; one that changed is a new value) and the language only, so after a change
    # only the changed tickets' rows are made again instead of five hundred through Jinja.
    _rows: dict[tuple[Ticket, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.templates),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.globals.update(
            card=card,
            arrived=arrived,
            Status=Status,
            CSRF=CSRF,
            RID=RID,
            native=NATIVE,
            active_tickets=active_tickets,
            ticket_rows=self.ticket_rows,
        )

    def ticket_rows(self, tickets: Sequence[Ticket], t: Texts) -> Markup:
        """The rows of the floor's ticket list (``panels/tickets.html``), each from the cache."""
        if len(self._rows) > ROW_CACHE_LIMIT:
            self._rows.clear()  # a day's worth at most; a new day starts over
        out = []
        for tk in tickets:
            key = (tk, t.language)
            row = self._rows.get(key)
            if row is None:
                row = self._rows[key] = _ticket_row(tk, t)
            out.append(row)
        return Markup("\n".join(out))

    def texts(self, lang: str) -> Texts:
        """The words of a language."""
        return texts(lang, self.config)

    def panel(self, view: StaffView, screen: Screen, name: str) -> str:
        """One panel's HTML (from the cache when the view and what it depends on are the same)."""
        if view.version != self._cache_version:
            self._cache.clear()
            self._cache_version = view.version
        key = screen.key(name)
        if name == "queue":
            # What the queue shows a counter depends on the purposes it serves, not its number:
            # seventeen counters serving every purpose share one rendering.
            at = self.config.find_counter(screen.counter) if screen.counter is not None else None
            key = (*key, at.categories if at is not None else None)
        html = self._cache.get(key)
        if html is None:
            self.renders += 1
            template = self.env.get_template(f"panels/{name}.html")
            html = template.render(v=view, s=screen, t=self.texts(screen.lang), config=self.config)
            self._cache[key] = html
        return html

    def panels(self, view: StaffView, screen: Screen) -> dict[str, str]:
        """Every panel of the screen."""
        return {name: self.panel(view, screen, name) for name in SCREENS[screen.name]}

    def page(self, template: str, screen: Screen | None, lang: str, **context: object) -> str:
        """A whole page (its panels included when ``context`` has a view)."""
        return self.env.get_template(template).render(
            s=screen, t=self.texts(lang), config=self.config, lang=lang, **context
        )

    @staticmethod
    def fill(html: str, csrf: str, new_id: Callable[[], str] = lambda: uuid.uuid4().hex) -> str:
        """A page's forms with the session's CSRF token and a fresh request id each."""
        return _RID_RE.sub(lambda _: new_id(), html.replace(CSRF, csrf))
