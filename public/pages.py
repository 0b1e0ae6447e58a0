"""The pages as HTML: Jinja2 templates over the views of :mod:`public.view`, CSS and script inline.

A page is one response: no framework, no external asset, system fonts, so a cheap phone on a
slow line shows it at once (a ticket page is 7-8 KB, a 32-station route in Japanese 11 KB). The
style sheet and the script are read once, put inside each page, and allowed by their SHA-256 in
the Content-Security-Policy (:attr:`Pages.csp`): nothing else may run or load, not even a style
attribute an injected text might carry. An empty ``data:`` icon keeps browsers from asking for a
favicon on every visit.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import jinja2
import msgspec

from public.view import CongestionView, NotFoundView, TicketView

__all__ = ["TEMPLATES", "Pages"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _squeeze(text: str) -> str:
    """The asset without its indentation and line breaks (a few hundred bytes on every page)."""
    return "".join(line.strip() for line in text.splitlines())


class Pages:
    """Renders each page and each live fragment (what the event stream sends) of a view."""

    def __init__(self, poll_seconds: int = 20, templates: Path = TEMPLATES) -> None:
        self.poll_seconds = poll_seconds
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(templates),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
        )
        self.css = _squeeze((templates / "page.css").read_text(encoding="utf-8"))
        # The script keeps its line breaks: minifying by hand is how a missing semicolon ships.
        self.js = "\n".join(line.strip() for line in (templates / "page.js").read_text(encoding="utf-8").splitlines())
        self.csp = (
            "default-src 'none'; "
            f"style-src {_sha256(self.css)}; script-src {_sha256(self.js)}; "
            "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
        self._ticket = self._env.get_template("ticket.html")
        self._ticket_live = self._env.get_template("ticket_live.html")
        self._congestion = self._env.get_template("congestion.html")
        self._congestion_live = self._env.get_template("congestion_live.html")
        self._not_found = self._env.get_template("not_found.html")

    def _page(self, template: jinja2.Template, **context: object) -> str:
        return template.render(css=self.css, js=self.js, poll=self.poll_seconds, **context)

    def ticket(self, view: TicketView, events: str) -> str:
        """The whole ticket page; ``events`` is the address of its event stream."""
        return self._page(self._ticket, v=view, c=view.chrome, title=view.title, events=events, live=True, wide=False)

    def ticket_fragment(self, view: TicketView) -> str:
        """The part of the ticket page that changes (inside ``#live``)."""
        return self._ticket_live.render(v=view)

    def congestion(self, view: CongestionView, events: str) -> str:
        """The whole congestion page."""
        return self._page(
            self._congestion, v=view, c=view.chrome, title=view.title, events=events, live=True, wide=True
        )

    def congestion_fragment(self, view: CongestionView) -> str:
        """The part of the congestion page that changes."""
        return self._congestion_live.render(v=view)

    def not_found(self, view: NotFoundView) -> str:
        """The page of every wrong, unknown or expired address."""
        return self._page(self._not_found, v=view, c=view.chrome, title=view.head, events="", live=False, wide=False)


class Update(msgspec.Struct, frozen=True, omit_defaults=True):
    """One server-sent event: a page's new fragment and the sentence to announce, or ``gone``."""

    html: str | None = None
    say: str | None = None
    gone: bool = False


_encode = msgspec.json.Encoder().encode


def event(update: Update, event_id: int | None = None) -> bytes:
    """``update`` framed as a server-sent event (one ``data:`` line: JSON has no raw newline)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return head.encode("ascii") + b"data: " + _encode(update) + b"\n\n"
