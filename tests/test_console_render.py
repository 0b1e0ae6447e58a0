"""The floor's list of the day's tickets, rendered row by row from a cache (office/console/render.py)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from harness import SITE
from office.console import render
from office.console.render import Renderer
from office.console.texts import Texts
from office.domain import Status, Ticket

ROUTE = ("reception", "input", "review", "issuing")


def ticket(n: int, status: Status = Status.WAITING, index: int = 0, **kw: object) -> Ticket:
    return Ticket(
        ticket_id=f"2026-12-06-1-{n}",
        day="2026-12-06",
        series="1",
        number=n,
        category="moving",
        device="disp-1",
        issued_ms=1_765_000_000_000 + n * 60_000,
        hlc=f"{n:013d}-000000",
        route=ROUTE,
        status=status,
        station_index=index,
        **kw,  # type: ignore[arg-type]
    )


def test_rows_say_what_the_ticket_is_in_the_screens_language_and_escape_what_they_show() -> None:
    renderer = Renderer(SITE)
    ja, en = renderer.texts("ja"), renderer.texts("en")
    one, two = ticket(1101), ticket(1102, Status.IN_PROGRESS, 1, counter=3, holder="<b>sato</b>")
    html = str(renderer.ticket_rows([one, two], ja))
    rows = re.findall(r"<tr .*?</tr>", html, re.DOTALL)
    assert len(rows) == 2
    assert 'data-number="1101"' in rows[0] and 'href="/case/2026-12-06-1-1101"' in rows[0]
    assert ja.purpose("moving") in rows[0] and ja.status("waiting") in rows[0]
    assert "<b>" not in rows[1] and "&lt;b&gt;sato&lt;/b&gt;" in rows[1]
    assert ja.counter(3) in rows[1] and ja.station("input") in rows[1]
    assert en.purpose("moving") in str(renderer.ticket_rows([one], en))


def test_only_a_changed_ticket_makes_its_row_again(monkeypatch: pytest.MonkeyPatch) -> None:
    renderer = Renderer(SITE)
    ja = renderer.texts("ja")
    tickets = [ticket(n) for n in range(1100, 1400)]
    first = str(renderer.ticket_rows(tickets, ja))
    made: list[Ticket] = []
    original = render._ticket_row

    def counting(tk: Ticket, t: Texts) -> str:
        made.append(tk)
        return original(tk, t)

    monkeypatch.setattr(render, "_ticket_row", counting)
    called = dataclasses.replace(tickets[5], status=Status.CALLED, counter=2)
    again = str(renderer.ticket_rows([*tickets[:5], called, *tickets[6:]], ja))
    monkeypatch.undo()
    assert made == [called]  # one row made, 299 from the cache
    assert again != first and again.replace(_row(renderer, called), _row(renderer, tickets[5])) == first


def _row(renderer: Renderer, tk: Ticket) -> str:
    return str(renderer.ticket_rows([tk], renderer.texts("ja")))
