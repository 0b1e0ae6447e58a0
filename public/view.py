"""What each page shows, in words, decided from the held feed (pure: no I/O, no clock).

:func:`ticket_view` turns one :class:`sync.messages.PublicTicket` into a :class:`TicketView`
(the number, the status in kind words, "please come to counter N", the line of stations with
the time each was reached), :func:`congestion_view` the purposes' figures into a
:class:`CongestionView`, :func:`not_found_view` the one page every wrong, unknown or expired
address gets. :mod:`public.pages` only renders these; every wording decision is here, where a
test reads it without a server.

The language is the query's ``?lang=`` when it names one of the six, else the first of
``Accept-Language`` that is one of them (by preference weight), else Japanese
(:func:`choose_language`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Literal

from common.i18n import LANGUAGES, NATIVE_NAMES, Plural, purpose_name
from public import strings as s
from public.feed import Held
from sync.messages import PublicCounter, PublicPurpose, PublicTicket

__all__ = [
    "HTML_LANG",
    "Chrome",
    "CongestionView",
    "LanguageLink",
    "NotFoundView",
    "PurposeRow",
    "Stop",
    "TicketView",
    "choose_language",
    "congestion_view",
    "not_found_view",
    "ticket_view",
]

DEFAULT_LANGUAGE = "ja"
# BCP 47 tags for the html lang attribute (screen readers pick their voice by it, browsers the
# CJK glyph shapes); Portuguese follows Brazil, as the catalogs do.
HTML_LANG: Mapping[str, str] = {"ja": "ja", "en": "en", "zh_CN": "zh-CN", "ko": "ko", "vi": "vi", "pt": "pt-BR"}
# Accept-Language primary tags -> our languages. Every Chinese variant gets Simplified Chinese:
# closer to a Traditional-Chinese reader than Japanese, and the switch is one tap away.
_PRIMARY = {"ja": "ja", "en": "en", "zh": "zh_CN", "ko": "ko", "vi": "vi", "pt": "pt"}

StopState = Literal["passed", "current", "ahead"]
Tone = Literal["wait", "call", "work", "done", "help"]


def _language(value: str) -> str | None:
    """One of the six languages for ``value`` ("zh-CN", "zh_cn", "PT-br", "en-GB"), or None."""
    tag = value.strip().replace("_", "-").lower()
    if not tag:
        return None
    for code in LANGUAGES:
        if tag == code.replace("_", "-").lower():
            return code
    return _PRIMARY.get(tag.split("-")[0])


def choose_language(query: str | None, accept_language: str | None) -> tuple[str, bool]:
    """The page's language, and whether the query chose it (links then keep ``?lang=``)."""
    if query:
        chosen = _language(query)
        if chosen is not None:
            return chosen, True
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "")[:1000].split(",")):
        tag, _, params = part.partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        code = _language(tag)
        if code is not None and weight > 0:
            ranked.append((-weight, i, code))
    return (min(ranked)[2], False) if ranked else (DEFAULT_LANGUAGE, False)


def clock(ms: int, zone: tzinfo) -> str:
    """A time of the office's day as residents read it: 24-hour ``HH:MM`` in the office's zone."""
    return datetime.fromtimestamp(ms / 1000, zone).strftime("%H:%M")


# --------------------------------------------------------------------------------------------
# every page
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LanguageLink:
    """One language of the language bar, in its own name."""

    code: str
    html_lang: str
    name: str
    href: str
    current: bool


@dataclass(frozen=True)
class Chrome:
    """What every page shows around its content: language, office name, the language bar."""

    lang: str
    html_lang: str
    office_name: str
    language_label: str
    languages: tuple[LanguageLink, ...]
    refresh: str
    keep: str  # the query that keeps the language on links: "?lang=en"


def chrome(lang: str, office_name: str) -> Chrome:
    """The page frame in ``lang``."""
    _ = s.gettext_for(lang)
    links = tuple(
        LanguageLink(code, HTML_LANG[code], NATIVE_NAMES[code], f"?lang={code}", code == lang) for code in LANGUAGES
    )
    return Chrome(lang, HTML_LANG[lang], office_name, _(s.LANGUAGE), links, _(s.REFRESH), f"?lang={lang}")


def _plural(lang: str, message: Plural, n: int) -> str:
    return s.CATALOG.plural(lang, message, n)


# --------------------------------------------------------------------------------------------
# the ticket page
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stop:
    """A stop of the ticket's line: its name, when it was reached, where the ticket is."""

    name: str
    time: str  # "10:42", or "" when not reached
    state: StopState
    note: str  # "Now here" on the current stop, "not yet" (for screen readers) ahead


@dataclass(frozen=True)
class TicketView:
    """Everything the ticket page shows, translated."""

    chrome: Chrome
    title: str
    your_number: str
    number: int
    purpose: str
    status: str
    tone: Tone
    headline: str
    call: str  # "Please come to counter 3 (Certificates)" when called or ready, else ""
    details: tuple[str, ...]
    progress: str
    stops: tuple[Stop, ...]
    updated: str
    say: str  # the sentence screen readers announce when it changes
    congestion_link: str


def counter_text(lang: str, counter: PublicCounter) -> str:
    """ "Please come to counter 3" in ``lang``, with the counter's name when the office gave one
    in this language ("Please come to Counter 4 (seated)"); the number is always said."""
    _ = s.gettext_for(lang)
    # Only a name in the page's own language: a fallback name in another script would hide the
    # number in words the resident may not read, where our own words say it plainly.
    name = counter.name.get(lang) or counter.name.get(lang.split("_")[0]) or ""
    if not name:
        return _(s.COME_TO_COUNTER).format(counter=counter.number)
    if str(counter.number) in name:
        return _(s.COME_TO_NAMED).format(name=name)
    return _(s.COME_TO_COUNTER_NAMED).format(counter=counter.number, name=name)


def _current_index(t: PublicTicket) -> int:
    """The index in the line (0 = the ticket taken) of the stop the ticket is at."""
    if t.status == "waiting":
        return 0
    reached = [i for i, stop in enumerate(t.stops, 1) if stop.reached_ms is not None]
    return reached[-1] if reached else 0


def _stops(lang: str, t: PublicTicket, zone: tzinfo) -> tuple[Stop, ...]:
    _ = s.gettext_for(lang)
    current = _current_index(t)
    names = [_(s.ISSUED)] + [purpose_name(stop.name, lang) or stop.code for stop in t.stops]
    times = [clock(t.issued_ms, zone)] + [
        clock(stop.reached_ms, zone) if stop.reached_ms is not None else "" for stop in t.stops
    ]
    out = []
    for i, (name, when) in enumerate(zip(names, times, strict=True)):
        state: StopState = "passed" if i < current else "current" if i == current else "ahead"
        note = _(s.YOU_ARE_HERE) if state == "current" else _(s.NOT_YET) if not when else ""
        out.append(Stop(name, when, state, note))
    return tuple(out)


def _waiting_details(lang: str, t: PublicTicket) -> tuple[str, ...]:
    _ = s.gettext_for(lang)
    lines = []
    if t.people_ahead is not None:
        if t.people_ahead > 0:
            lines.append(_plural(lang, s.PEOPLE_AHEAD, t.people_ahead).format(people=t.people_ahead))
        else:
            lines.append(_(s.YOU_ARE_NEXT))
    if t.est_wait_min is None:
        lines.append(_(s.WAIT_UNKNOWN))
    elif t.est_wait_min < 1:
        lines.append(_(s.WAIT_SOON))
    else:
        lines.append(_plural(lang, s.WAIT_ABOUT, t.est_wait_min).format(minutes=t.est_wait_min))
    lines.append(_(s.WAIT_NOTE))
    return tuple(lines)


def _status_words(lang: str, t: PublicTicket, stops: tuple[Stop, ...]) -> tuple[Tone, str, str, tuple[str, ...]]:
    """(tone, headline, call, details) of the ticket's status."""
    _ = s.gettext_for(lang)
    call = counter_text(lang, t.counter) if t.counter is not None else ""
    match t.status:
        case "waiting":
            return "wait", _(s.WAITING_HEAD), "", _waiting_details(lang, t)
        case "called":
            return "call", _(s.CALLED_HEAD), call, ()
        case "ready":
            return "call", _(s.READY_HEAD), call, ()
        case "in_progress":
            here = next((stop.name for stop in stops if stop.state == "current"), "")
            details = (_(s.IN_PROGRESS_TEXT),) + ((_(s.NOW_AT).format(station=here),) if here else ())
            return "work", _(s.IN_PROGRESS_HEAD), "", details
        case "held":
            return "help", _(s.HELD_HEAD), "", (_(s.HELD_TEXT),)
        case "absent":
            return "help", _(s.ABSENT_HEAD), "", (_(s.ABSENT_TEXT),)
        case "done":
            return "done", _(s.DONE_HEAD), "", (_(s.DONE_TEXT),)
        case _:  # "void"
            return "done", _(s.VOID_HEAD), "", (_(s.VOID_TEXT),)


def ticket_view(held: Held, t: PublicTicket, lang: str, zone: tzinfo) -> TicketView:
    """The ticket page of ``t`` in ``lang``, times in the office's ``zone``."""
    _ = s.gettext_for(lang)
    stops = _stops(lang, t, zone)
    tone, headline, call, details = _status_words(lang, t, stops)
    # Announced on a change: the headline and where to go, or the people ahead while waiting -
    # not the whole card, which a screen reader user can read again at will.
    say = " ".join(part for part in (headline, call or (details[0] if details else "")) if part)
    return TicketView(
        chrome=chrome(lang, held.office_name),
        title=_(s.TICKET_TITLE).format(number=t.number),
        your_number=_(s.YOUR_NUMBER),
        number=t.number,
        purpose=purpose_name(t.purpose, lang),
        status=t.status,
        tone=tone,
        headline=headline,
        call=call,
        details=details,
        progress=_(s.PROGRESS),
        stops=stops,
        updated=_(s.UPDATED_AT).format(time=clock(t.updated_ms, zone)),
        say=say,
        congestion_link=_(s.CONGESTION_LINK),
    )


# --------------------------------------------------------------------------------------------
# the congestion page
# --------------------------------------------------------------------------------------------

_LEVELS: Mapping[str, str] = {"green": s.LEVEL_GREEN, "yellow": s.LEVEL_YELLOW, "red": s.LEVEL_RED}


@dataclass(frozen=True)
class PurposeRow:
    """One purpose on the congestion page."""

    name: str
    level: str  # green, yellow, red (the badge's colour; the words say it too)
    level_text: str
    waiting: str
    wait: str
    last_called: str


@dataclass(frozen=True)
class CongestionView:
    """Everything the congestion page shows, translated."""

    chrome: Chrome
    title: str
    lead: str
    waiting_label: str
    wait_label: str
    last_called_label: str
    rows: tuple[PurposeRow, ...]
    as_of: str  # "As of 10:42", or "" with no figures
    empty: str  # said when there are no figures


def _row(lang: str, p: PublicPurpose, gettext: Callable[[str], str]) -> PurposeRow:
    if p.est_wait_min is None:
        wait = gettext(s.NO_ESTIMATE)
    elif p.est_wait_min < 1:
        wait = gettext(s.NO_WAIT)
    else:
        wait = _plural(lang, s.WAIT_MINUTES, p.est_wait_min).format(minutes=p.est_wait_min)
    return PurposeRow(
        name=purpose_name(p.name, lang) or p.code,
        level=p.level,
        level_text=gettext(_LEVELS[p.level]),
        waiting=_plural(lang, s.PEOPLE, p.waiting).format(people=p.waiting),
        wait=wait,
        last_called=str(p.last_called) if p.last_called is not None else gettext(s.NONE_CALLED),
    )


def congestion_view(held: Held, lang: str, zone: tzinfo, live: bool) -> CongestionView:
    """The congestion page in ``lang``; ``live`` is False once the held day has ended."""
    _ = s.gettext_for(lang)
    rows = tuple(_row(lang, p, _) for p in held.purposes) if live else ()
    return CongestionView(
        chrome=chrome(lang, held.office_name),
        title=_(s.CONGESTION_TITLE),
        lead=_(s.CONGESTION_LEAD),
        waiting_label=_(s.WAITING_LABEL),
        wait_label=_(s.WAIT_LABEL),
        last_called_label=_(s.LAST_CALLED_LABEL),
        rows=rows,
        as_of=_(s.AS_OF).format(time=clock(held.purposes_ms, zone)) if rows else "",
        empty=_(s.NO_DATA),
    )


# --------------------------------------------------------------------------------------------
# the page for a wrong or expired address
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotFoundView:
    """The one page for a malformed, unknown or expired address (it says which of none)."""

    chrome: Chrome
    head: str
    text: str
    congestion_link: str


def not_found_view(lang: str) -> NotFoundView:
    """The not-found page in ``lang``; it shows no office name, so it is the same for every case."""
    _ = s.gettext_for(lang)
    return NotFoundView(chrome(lang, ""), _(s.NOT_FOUND_HEAD), _(s.NOT_FOUND_TEXT), _(s.CONGESTION_LINK))
