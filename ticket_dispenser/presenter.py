"""What the dispenser's screen shows, and what each touch or key does - without a window.

The Kivy screens (ticket_dispenser.app) only draw :class:`ScreenState` and forward touches and
keys here; everything a resident can see or hear is decided in this module, so it is tested
without a display. Strings come from gettext (ticket_dispenser.strings, through common.i18n), purpose names from the
office's configuration.

Screens: ``start`` (purposes), ``checklist`` (the procedures of a purpose), ``printing``,
``result`` (the number, very large), ``printer_fault`` (the number, and "please tell staff"),
``closed`` (outside opening hours), ``numbers_out`` (the day's cap or numbers are used up),
``out_of_service`` (no number can be kept - the device's storage failed - so none is given:
"please ask staff", until the device is repaired).
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from common.calendar import Hours
from sync import messages
from sync.errors import StoreError
from ticket_dispenser import strings
from ticket_dispenser.errors import DispenserError, NumbersExhausted
from ticket_dispenser.strings import LANGUAGES, NATIVE_NAMES, gettext_for, ngettext_for, purpose_name

if TYPE_CHECKING:  # the presenter only reads documents; the agent's network stays out of it
    from sync.agent import DeviceAgent

log = logging.getLogger(__name__)

RESULT_TIMEOUT_S = 20.0  # the result goes back to the start by itself
IDLE_TIMEOUT_S = 60.0  # a checklist or a language left alone goes back too
FAULT_TIMEOUT_S = 60.0  # longer: the resident must note the number


class Issuer(Protocol):
    """What the presenter needs from the dispenser core (ticket_dispenser.device.Dispenser)."""

    def issue(self, category: str, procedures: Sequence[str] = (), language: str = "ja") -> Any:
        """Issue and print; returns an IssueResult or raises DispenserError."""

    def issued_today(self, category: str) -> int | None:
        """Tickets of a purpose today, as far as this dispenser knows."""


@dataclass(frozen=True)
class PurposeButton:
    """One purpose on the start screen."""

    code: str
    name: str
    reading: str  # kana reading under the kanji (Japanese only), else ""
    detail: str  # waiting and wait estimate, or why it is not available
    available: bool
    procedures: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScreenState:
    """Everything one screen shows; ``texts`` holds the screen's translated strings by role."""

    screen: str
    language: str
    languages: tuple[tuple[str, str], ...]
    banner: str | None = None
    texts: Mapping[str, str] = field(default_factory=dict)
    purposes: tuple[PurposeButton, ...] = ()
    focus: int = 0
    checklist: tuple[tuple[str, bool], ...] = ()
    number: str = ""
    timeout_s: float | None = None


@dataclass(frozen=True)
class Context:
    """Inputs the presenter reads: the office's documents and the device's state."""

    config: messages.OfficeConfig | None
    queue: messages.QueueSnapshot | None
    office_online: bool
    now_ms: int
    # The device's store failed (a full disk): no ticket could be kept, so none is offered.
    out_of_service: bool = False


class Presenter:
    """Holds the dispenser screen's state; the app draws it, tests read it."""

    def __init__(
        self,
        issuer: Issuer,
        context: Callable[[], Context],
        *,
        speak: Callable[[str, Any, str], None] = lambda kind, value, language: None,
        run: Callable[[Callable[[], Any], Callable[[Any], None]], None] | None = None,
        columns: int = 3,
    ) -> None:
        self._issuer = issuer
        self._context = context
        self._speak = speak
        # run(work, done): do work (it prints: may take a while) and hand its result to done on
        # the UI's thread. Tests run it at once.
        self._run = run or (lambda work, done: done(_capture(work)))
        self.columns = columns
        self._listeners: list[Callable[[ScreenState], None]] = []
        self._language = "ja"
        self._screen = "start"
        self._focus = 0
        self._chosen: str | None = None
        self._checked: list[bool] = []
        self._result: Any = None
        self._idle_s = 0.0
        self._broken = False  # an issue failed in the device's store: out of service for good
        self._screen = "out_of_service" if self._out_of_service() else "closed" if self._closed_now() else "start"
        self.state = self._build()

    # -- wiring ----------------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[ScreenState], None]) -> None:
        """Call ``listener`` with every new state."""
        self._listeners.append(listener)

    def refresh(self) -> ScreenState:
        """Rebuild from the current documents (the office sent a snapshot, an hour passed)."""
        if self._out_of_service():
            self._screen = "out_of_service"
        elif self._screen in ("start", "closed"):
            self._screen = "closed" if self._closed_now() else "start"
        self._publish()
        return self.state

    # -- resident actions ------------------------------------------------------------------------

    def choose(self, code: str) -> None:
        """A purpose button was touched (or OK on the focused one)."""
        if self._screen != "start":
            return
        button = next((b for b in self.state.purposes if b.code == code), None)
        if button is None:
            return
        self._idle_s = 0.0
        self._focus = self.state.purposes.index(button)
        if not button.available:
            self._chosen = code
            self._screen = "numbers_out"
            self._publish()
            return
        self._chosen = code
        if len(button.procedures) > 1:
            self._checked = [False] * len(button.procedures)
            self._screen = "checklist"
            self._focus = 0
            self._publish()
            return
        self._issue(())

    def toggle(self, index: int) -> None:
        """A procedure on the checklist was touched."""
        if self._screen == "checklist" and 0 <= index < len(self._checked):
            self._checked[index] = not self._checked[index]
            self._idle_s = 0.0
            self._publish()

    def confirm(self) -> None:
        """'Issue ticket' on the checklist."""
        if self._screen != "checklist" or self._chosen is None:
            return
        button = next(b for b in self.state.purposes if b.code == self._chosen)
        chosen = tuple(p for p, on in zip(button.procedures, self._checked, strict=True) if on)
        self._issue(chosen)

    def back(self) -> None:
        """Back (or 'back to start')."""
        if self._screen == "printing":
            return  # the ticket is on its way; the result screen follows
        self._to_start(keep_language=self._screen == "checklist")

    def set_language(self, language: str) -> None:
        """The language bar."""
        if language in LANGUAGES and language != self._language:
            self._language = language
            self._idle_s = 0.0
            self._publish()
            self._announce_focus()

    def key(self, key: str) -> None:
        """A key of the tactile keypad: UP, DOWN, LEFT, RIGHT, OK, BACK, HELP."""
        self._idle_s = 0.0
        if self._screen == "start":
            count = len(self.state.purposes)
            if count == 0:
                return
            moves = {"LEFT": -1, "RIGHT": 1, "UP": -self.columns, "DOWN": self.columns}
            if key in moves:
                self._focus = (self._focus + moves[key]) % count
                self._publish()
                self._announce_focus()
            elif key == "OK":
                self.choose(self.state.purposes[self._focus].code)
            elif key == "HELP":
                self._announce_focus()
        elif self._screen == "checklist":
            count = len(self._checked) + 1  # the procedures, then 'Issue ticket'
            if key in ("UP", "LEFT"):
                self._focus = (self._focus - 1) % count
                self._publish()
            elif key in ("DOWN", "RIGHT"):
                self._focus = (self._focus + 1) % count
                self._publish()
            elif key == "OK":
                if self._focus < len(self._checked):
                    self.toggle(self._focus)
                else:
                    self.confirm()
            elif key == "BACK":
                self.back()
        elif self._screen in ("result", "printer_fault", "numbers_out"):
            if key in ("OK", "BACK"):
                self.back()
            elif key == "HELP" and self._result is not None:
                self._announce_ticket()

    def tick(self, seconds: float) -> None:
        """Time passes (the app calls this every second): timeouts and opening hours."""
        self._idle_s += seconds
        limit = {
            "result": RESULT_TIMEOUT_S,
            "printer_fault": FAULT_TIMEOUT_S,
            "numbers_out": RESULT_TIMEOUT_S,
            "checklist": IDLE_TIMEOUT_S,
        }.get(self._screen)
        if limit is not None and self._idle_s >= limit:
            self._to_start(keep_language=False)
        elif self._screen == "start" and self._language != "ja" and self._idle_s >= IDLE_TIMEOUT_S:
            self._to_start(keep_language=False)  # the next resident starts in Japanese
        elif self._screen in ("start", "closed") and (self._screen == "closed") != self._closed_now():
            self._to_start(keep_language=False)
        elif self._context().office_online != (self.state.banner is None):
            self._publish()  # the office came back or went away: the banner follows by itself

    # -- internals -------------------------------------------------------------------------------

    def _issue(self, procedures: tuple[str, ...]) -> None:
        code, language = self._chosen, self._language
        if code is None:
            return
        self._screen = "printing"
        self._publish()
        self._run(lambda: self._issuer.issue(code, procedures, language), self._issued)

    def _issued(self, outcome: Any) -> None:
        self._idle_s = 0.0
        if isinstance(outcome, NumbersExhausted):
            self._screen = "numbers_out"
        elif isinstance(outcome, StoreError):
            # Nothing was journalled, so nothing printed: no number to show, and none to give
            # until the disk is fixed. The screen stays (no timeout back to the purposes).
            log.error("out of service, the device's store failed: %s", outcome)
            self._broken = True
            self._screen = "out_of_service"
        elif isinstance(outcome, (DispenserError, BaseException)):
            log.error("could not issue: %s", outcome)
            self._screen = "numbers_out"
        else:
            self._result = outcome
            self._screen = "result" if outcome.printed else "printer_fault"
        self._publish()
        if self._result is not None and self._screen in ("result", "printer_fault"):
            self._announce_ticket()

    def _to_start(self, keep_language: bool) -> None:
        if self._out_of_service():
            self._screen = "out_of_service"
        else:
            self._screen = "closed" if self._closed_now() else "start"
        self._chosen, self._result, self._checked = None, None, []
        self._focus, self._idle_s = 0, 0.0
        if not keep_language:
            self._language = "ja"
        self._publish()

    def _publish(self) -> None:
        state = self._build()
        if state == self.state:
            return  # snapshots arrive several times a second; redraw only what changed
        self.state = state
        for listener in self._listeners:
            listener(self.state)

    def _out_of_service(self) -> bool:
        return self._broken or self._context().out_of_service

    def _closed_now(self) -> bool:
        ctx = self._context()
        return _closed(ctx)

    def _build(self) -> ScreenState:
        ctx = self._context()
        _ = gettext_for(self._language)
        languages = tuple((code, NATIVE_NAMES[code]) for code in LANGUAGES)
        banner = (
            None
            if ctx.office_online
            else _("Connection to the office lost — tickets are still valid; wait estimate unavailable")
        )
        base = ScreenState(screen=self._screen, language=self._language, languages=languages, banner=banner)
        purposes = self._buttons(ctx)
        if self._screen == "start":
            return replace(
                base,
                purposes=purposes,
                focus=min(self._focus, max(0, len(purposes) - 1)),
                texts={
                    "title": _("Please choose the purpose of your visit"),
                    "subtitle": _("Touch a button, or use the keypad"),
                    "help": _("Not sure? Please ask the staff at the information desk"),
                    "language": _("Language"),
                },
            )
        if self._screen == "checklist":
            button = next((b for b in purposes if b.code == self._chosen), None)
            # Shown in the resident's language where the site names a procedure so; what is
            # ticked stays the Japanese name (what the ticket and the counter carry).
            config = ctx.config
            names = tuple(
                config.procedure_name(p, self._language) if config is not None else p
                for p in (button.procedures if button else ())
            )
            return replace(
                base,
                purposes=purposes,
                focus=self._focus,
                checklist=tuple(zip(names, self._checked, strict=False)),
                texts={
                    "title": _("Which procedures do you need today?"),
                    "subtitle": _("Choose all that apply (optional)"),
                    "purpose": button.name if button else "",
                    "confirm": _("Issue ticket"),
                    "back": _("Back"),
                },
                timeout_s=IDLE_TIMEOUT_S,
            )
        if self._screen == "printing":
            return replace(base, texts={"title": _("Please take your ticket")})
        if self._screen in ("result", "printer_fault"):
            t = self._result.ticket
            texts = {
                "your_number": _("Your number"),
                "purpose": purpose_name(t.names, self._language),
                "back": _("Back to start"),
            }
            if self._screen == "result":
                texts["title"] = _("Please take your ticket")
                texts["called"] = _("Your number will be shown on the screen and called")
            else:
                texts["title"] = _("Your ticket could not be printed")
                texts["instruction"] = _("Please note your number and tell a member of staff")
                texts["valid"] = _("Your number is valid")
            plural = ngettext_for(self._language)
            if t.people_ahead == 0:
                texts["ahead"] = _(strings.NOBODY_AHEAD)
            elif t.people_ahead is not None:
                texts["ahead"] = plural(*strings.PEOPLE_AHEAD, t.people_ahead).format(people=t.people_ahead)
            if t.est_wait_min == 0 or t.people_ahead == 0:
                texts["wait"] = _(strings.NO_WAIT)
            elif t.est_wait_min is not None:
                texts["wait"] = plural(*strings.ESTIMATED_WAIT, t.est_wait_min).format(minutes=t.est_wait_min)
            timeout = RESULT_TIMEOUT_S if self._screen == "result" else FAULT_TIMEOUT_S
            return replace(base, number=str(t.number), texts=texts, timeout_s=timeout)
        if self._screen == "out_of_service":
            return replace(
                base,
                texts={
                    "title": _(strings.OUT_OF_SERVICE),
                    "instruction": _(strings.ASK_INFORMATION_DESK),
                },
            )
        if self._screen == "numbers_out":
            button = next((b for b in purposes if b.code == self._chosen), None)
            return replace(
                base,
                texts={
                    "title": _("All numbers for today have been given out for {purpose}").format(
                        purpose=button.name if button else ""
                    ),
                    "instruction": _("Please ask the staff at the information desk"),
                    "back": _("Back to start"),
                },
                timeout_s=RESULT_TIMEOUT_S,
            )
        # closed
        hours = _hours(ctx)
        texts = {"title": _("Ticket issuing has closed for today")}
        if hours is not None:
            texts["hours"] = _("Opening hours: {hours}").format(hours=f"{hours.open:%H:%M}–{hours.close:%H:%M}")
            reopen = _next_opening(ctx, hours)
            if reopen is not None:
                texts["reopen"] = _("We open again {when}").format(when=f"{reopen:%m/%d %H:%M}")
        return replace(base, texts=texts)

    def _buttons(self, ctx: Context) -> tuple[PurposeButton, ...]:
        if ctx.config is None:
            return ()
        _ = gettext_for(self._language)
        out = []
        for cat in ctx.config.categories:
            row = ctx.queue.row(cat.code) if ctx.queue is not None else None
            if not ctx.office_online or row is None:
                detail = _("Wait time unavailable")
            elif row.waiting == 0:
                detail = _("No wait")
            else:
                detail = _("{waiting} waiting · about {minutes} min").format(
                    waiting=row.waiting,
                    minutes=row.est_wait_min if row.est_wait_min is not None else "?",
                )
            available = True
            if cat.daily_cap is not None:
                issued = self._issuer.issued_today(cat.code)
                available = issued is None or issued < cat.daily_cap
            out.append(
                PurposeButton(
                    code=cat.code,
                    name=purpose_name(cat.name, self._language),
                    reading=cat.name.get("kana", "") if self._language == "ja" else "",
                    detail=detail,
                    available=available,
                    procedures=cat.procedures,
                )
            )
        return tuple(out)

    def _announce_focus(self) -> None:
        if self._screen != "start" or not self.state.purposes:
            return
        button = self.state.purposes[min(self._focus, len(self.state.purposes) - 1)]
        # The kana reading, so the synthesizer never guesses a kanji's reading.
        self._speak("focus", button.reading or button.name, self._language)

    def _announce_ticket(self) -> None:
        self._speak("ticket", self._result.ticket.number, self._language)


def _capture(work: Callable[[], Any]) -> Any:
    try:
        return work()
    except Exception as err:  # noqa: BLE001 - handed to the presenter, which shows a calm screen
        return err


def _hours(ctx: Context) -> Hours | None:
    if ctx.config is None or ctx.config.dispenser is None:
        return None
    try:
        return ctx.config.dispenser.calendar()
    except ValueError:
        log.warning("the office's dispenser hours are unreadable; staying open")
        return None


def _local(ctx: Context) -> datetime:
    try:
        tz = zoneinfo.ZoneInfo(ctx.config.timezone if ctx.config is not None else "Asia/Tokyo")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo("Asia/Tokyo")
    return datetime.fromtimestamp(ctx.now_ms / 1000, tz).replace(tzinfo=None)


def _closed(ctx: Context) -> bool:
    hours = _hours(ctx)
    return hours is not None and not hours.is_open(_local(ctx))


def _next_opening(ctx: Context, hours: Hours) -> datetime | None:
    now = _local(ctx)
    for days in range(60):
        day = now.date() + timedelta(days=days)
        if hours.is_closed_day(day):
            continue
        opening = datetime.combine(day, hours.open)
        if opening > now:
            return opening
    return None


def context_from(agent: DeviceAgent) -> Callable[[], Context]:
    """The presenter's inputs from a running DeviceAgent."""

    def read() -> Context:
        return Context(
            config=agent.document("office_config"),
            queue=agent.document("queue_snapshot"),
            office_online=agent.office_online,
            now_ms=agent.now_ms(),
            out_of_service=agent.storage_failure is not None,
        )

    return read
