"""The centre's input desk in the console (Setagaya's 集中入力センター serving every branch):
``/ward/input`` lists the cases waiting at every sharing branch's input station, oldest first,
and ``/ward/act`` claims, releases or finishes one (office/ward_desk.py sends it, signed, to the
branch, which carries it out as its own: office/ward_input.py).

The list is what the branches last published (their ``ward_cases`` documents, each believed only
under its branch's office key). A branch cut off from the centre is said so on the page, with its
cases shown but not offered: an action could not reach it, and once back the branch refuses
anything that waited in the queue.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from office.actions import Role
from office.console.texts import Texts
from office.ward_desk import Branch, WardDesk
from sync import messages, protocol
from sync.site import SiteConfig

REFRESH_S = 10  # the page reloads itself: the branches' lists do not drive the console's hub
ROLES: frozenset[Role] = frozenset({"input", "floor", "admin"})
_ACTIONS: dict[str, type[messages.WardClaim | messages.WardRelease | messages.WardFinish]] = {
    "claim": messages.WardClaim,
    "release": messages.WardRelease,
    "finish": messages.WardFinish,
}


@dataclass(frozen=True)
class Row:
    """One case of one branch, as the centre's list shows it."""

    site: str
    branch: str  # the branch's name
    case: messages.WardCase
    offered: bool  # its branch is linked: actions can reach it

    @property
    def key(self) -> str:
        """The case across the ward (two branches' tickets share numbers and ids)."""
        return protocol.ward_id(self.site, self.case.ticket_id)


@dataclass(frozen=True)
class BranchLine:
    """A branch's state above the list."""

    site: str
    name: str
    linked: bool | None
    heard_ms: int | None
    cases: int
    more: int


@dataclass(frozen=True)
class Pages:
    """What the desk's pages use of the console (app.create_app's helpers)."""

    config: SiteConfig
    desk: WardDesk
    screen_page: Callable[..., Awaitable[Response]]
    who: Callable[[Request], Any]  # the signed-in user (app.Who), or None
    same_origin: Callable[[Request], bool]
    answer: Callable[..., Response]
    lang_of: Callable[[Request], str]
    texts: Callable[[str], Texts]
    clock: Callable[[], int]


def rows(branches: list[Branch]) -> tuple[list[Row], list[BranchLine]]:
    """Every branch's cases in one list, the oldest arrival first, and a line per branch."""
    out: list[Row] = []
    lines: list[BranchLine] = []
    for b in branches:
        name = b.name
        cases = b.cases.cases if b.cases is not None else ()
        lines.append(BranchLine(b.site, name, b.linked, b.received_ms, len(cases), b.cases.more if b.cases else 0))
        out.extend(Row(b.site, name, case, b.linked is not False) for case in cases)
    out.sort(key=lambda r: (r.case.held, r.case.arrived_ms, r.site, r.case.number))
    return out, lines


def routes(pages: Pages) -> list[Route]:
    """``/ward/input`` and ``/ward/act``."""

    async def input_page(request: Request) -> Response:
        listed, lines = rows(pages.desk.branches())
        return await pages.screen_page(
            request,
            "ward_input",
            cases=listed,
            branch_lines=lines,
            now_ms=pages.clock(),
            refresh=REFRESH_S,
        )

    async def act(request: Request) -> Response:
        t = pages.texts(pages.lang_of(request))
        me = pages.who(request)
        if me is None:
            return pages.answer(request, None, False, t.SIGN_IN_AGAIN, 401)
        form = await request.form()
        given = str(form.get("csrf") or request.headers.get("x-csrf-token") or "")
        if not pages.same_origin(request) or not hmac.compare_digest(given.encode(), me.session.csrf.encode()):
            return pages.answer(request, me, False, t.STALE_FORM, 403)
        if me.user.role not in ROLES:
            return pages.answer(
                request, me, False, t.say("your role ({role}) cannot do that here", {"role": me.user.role}), 403
            )
        site, ticket, kind = (str(form.get(k) or "") for k in ("site", "ticket_id", "action"))
        seen = str(form.get("seen_ms") or "")
        if site not in pages.desk.sites or kind not in _ACTIONS or not ticket or len(ticket) > 64 or not seen.isdigit():
            return pages.answer(request, me, False, t.BAD_FORM.format(what=t.WARD_INPUT_BAD_CASE), 400)
        case = _ACTIONS[kind](ticket_id=ticket, seen_ms=int(seen))
        reply = await asyncio.to_thread(pages.desk.act, site, case, me.user.username)
        message = t.say(reply.template, reply.params) if reply.template else reply.message
        return pages.answer(request, me, reply.ok, message, ticket=reply.ticket_id)

    return [Route("/ward/input", input_page), Route("/ward/act", act, methods=["POST"])]
