"""What the kiosk's screen shows and says, and what each touch does - without a window.

The Kivy view (kiosk.app) draws a :class:`Screen` and hands touches back; everything a
resident can read or hear is decided here, from the flow's state (kiosk.flow), the effects of
the transition that produced it, the clock, and the office's configuration document (the
kiosk's hours). It is pure: functions of their arguments, time passed in.

Two things live in the view between flow events and are kept here as a :class:`Draft`: the
choices on the options and members screens before they are confirmed, and the digits typed on
the PIN pad before OK. The PIN's digits never reach a :class:`Screen` (only how many were
typed), never a repr, and are dropped when OK sends them or the step changes.

Rules the screens keep (docs/kiosk.md):

* A refusal is never explained: "please go to a counter", whatever the office's reason (the
  flow does not even keep the reason).
* While the office cannot be reached, the start screen says so in every language and offers
  nothing to touch: no card, no PIN, no money is taken.
* Outside the kiosk's hours (the office configuration's ``kiosk`` table), the start screen
  says it is closed, with the hours and the next opening, and offers nothing either.
* Japanese screens put kana readings over the kanji of the certificate names and of the
  kiosk's name; the other languages show the Japanese name there instead (the paper is in
  Japanese).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Final

from common.calendar import Hours
from kiosk import flow
from kiosk import strings as S
from kiosk.flow import CertificateOptions, Effect, Event, Kiosk, Step
from kiosk.hours import closed_now, kiosk_hours, local_time
from kiosk.strings import LANGUAGES, NATIVE_NAMES, gettext_for, ngettext_for
from sync import messages

__all__ = [
    "Amounts",
    "Button",
    "Draft",
    "Group",
    "PinPad",
    "Screen",
    "Warning",
    "closed_now",
    "fiscal_years",
    "format_yen",
    "present",
    "press",
    "spoken",
    "sync_draft",
    "voice_keys",
    "voice_text",
]

# Certificate names as the certificates print them, and their kana readings (Japanese
# screens show the reading over the name; other languages show the Japanese name there).
KIND_NAMES: Final[Mapping[str, str]] = {
    "juminhyo": S.KIND_JUMINHYO,
    "inkan": S.KIND_INKAN,
    "koseki": S.KIND_KOSEKI,
    "fuhyo": S.KIND_FUHYO,
    "shotoku": S.KIND_SHOTOKU,
}
KIND_READINGS: Final[Mapping[str, str]] = {
    "juminhyo": "じゅうみんひょうのうつし",
    "inkan": "いんかんとうろくしょうめいしょ",
    "koseki": "こせきとうほん・しょうほん",
    "fuhyo": "こせきのふひょう",
    "shotoku": "しょとく・かぜいしょうめいしょ",
}
KIOSK_READING: Final = "しょうめいしょ じどうこうふき"
# The PIN pad's fixed layout (a layout that moves would help nobody who types by position).
PIN_KEYS: Final = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "delete")

# The progress bar: which of the five parts each step of a visit belongs to.
_PROGRESS: Final[tuple[str, ...]] = (
    S.PROGRESS_CERTIFICATE,
    S.PROGRESS_CARD,
    S.PROGRESS_PIN,
    S.PROGRESS_PAYMENT,
    S.PROGRESS_PRINTING,
)
_PROGRESS_AT: Final[Mapping[Step, int]] = {
    Step.CERTIFICATE: 0,
    Step.OPTIONS: 0,
    Step.INSERT_CARD: 1,
    Step.READING_CARD: 1,
    Step.PIN: 2,
    Step.VERIFYING_PIN: 2,
    Step.AUTHENTICATING: 2,
    Step.MEMBERS: 3,
    Step.CONFIRM_FEE: 3,
    Step.PAYMENT: 3,
    Step.ISSUING: 4,
    Step.PRINTING: 4,
}

# The end of a visit: a title and the lines under it, by outcome code (kiosk.flow.OUTCOMES).
# None of these may explain a refusal: "go_to_counter" says where to go, never why.
OUTCOME_TEXTS: Final[Mapping[str, tuple[str, tuple[str, ...]]]] = {
    "thank_you": (S.THANK_YOU, (S.TAKE_EVERYTHING,)),
    "cancelled": (S.CANCELLED, (S.NOT_CHARGED,)),
    "timeout": (S.TIMED_OUT, (S.NOT_CHARGED,)),
    "go_to_counter": (S.GO_TO_COUNTER, (S.COUNTER_HELPS, S.NOT_CHARGED)),
    "card_blocked": (S.CARD_BLOCKED, (S.CARD_BLOCKED_HELP, S.NOT_CHARGED)),
    "card_unreadable": (S.CARD_UNREADABLE, (S.CARD_UNREADABLE_HELP, S.NOT_CHARGED)),
    "card_removed": (S.CARD_REMOVED, (S.NOT_CHARGED,)),
    "office_lost": (S.OFFICE_LOST, (S.TRY_LATER, S.NOT_CHARGED)),
    "print_failed": (S.PRINT_FAILED, (S.PRINT_FAILED_HELP,)),
    "money_returned": (S.MONEY_RETURNED, (S.TAKE_MONEY,)),
    "recovered": (S.RECOVERED, (S.RECOVERED_HELP,)),
    "out_of_service": (S.OUT_OF_SERVICE, (S.OUT_OF_SERVICE_HELP,)),
}

# Notices (kiosk.flow Notice codes and Kiosk.notice) -> the line shown on the screen.
NOTICE_TEXTS: Final[Mapping[str, str]] = {
    "unavailable": S.UNAVAILABLE_TITLE,
    "closed": S.CLOSED_TITLE,
    "pin_format": S.PIN_FORMAT,
    "pin_wrong": S.PIN_WRONG,
    "exact_amount_only": S.EXACT_AMOUNT_ONLY,
    "members_required": S.MEMBERS_REQUIRED,
    "bad_copies": S.SAY_CHECK_CHOICES,
    "bad_scope": S.SAY_CHECK_CHOICES,
    "bad_options": S.SAY_CHECK_CHOICES,
    "bad_variant": S.SAY_CHECK_CHOICES,
    "bad_fiscal_year": S.SAY_CHECK_CHOICES,
}

# What the voice says for each key of a Speak effect (a step, an outcome), a Notice code, and
# "timeout_warning" (a WarnTimeout). Several messages are said one after the other.
VOICE: Final[Mapping[str, tuple[str, ...]]] = {
    "language": (S.SAY_CHOOSE_LANGUAGE,),
    "certificate": (S.CERTIFICATE_TITLE,),
    "options": (S.OPTIONS_TITLE,),
    "insert_card": (S.INSERT_CARD_TITLE, S.INSERT_CARD_HOW),
    "reading_card": (S.READING_CARD_TITLE,),
    "pin": (S.PIN_TITLE,),
    "verifying_pin": (S.VERIFYING_PIN_TITLE,),
    "authenticating": (S.AUTHENTICATING_TITLE, S.PLEASE_WAIT),
    "members": (S.MEMBERS_TITLE,),
    "confirm_fee": (S.CONFIRM_TITLE,),
    "payment": (S.SAY_PAYMENT,),
    "issuing": (S.ISSUING_TITLE,),
    "printing": (S.PRINTING_TITLE, S.DO_NOT_LEAVE),
    "settling": (S.PLEASE_WAIT,),
    "take_card": (S.SAY_TAKE_CARD,),
    "goodbye": (S.THANK_YOU,),
    "out_of_service": (S.OUT_OF_SERVICE, S.OUT_OF_SERVICE_HELP),
    "thank_you": (S.SAY_THANK_YOU,),
    "cancelled": (S.CANCELLED,),
    "timeout": (S.TIMED_OUT,),
    "go_to_counter": (S.GO_TO_COUNTER,),
    "card_blocked": (S.CARD_BLOCKED, S.CARD_BLOCKED_HELP),
    "card_unreadable": (S.CARD_UNREADABLE, S.CARD_UNREADABLE_HELP),
    "card_removed": (S.CARD_REMOVED,),
    "office_lost": (S.OFFICE_LOST, S.TRY_LATER),
    "print_failed": (S.PRINT_FAILED, S.PRINT_FAILED_HELP),
    "money_returned": (S.MONEY_RETURNED, S.TAKE_MONEY),
    "recovered": (S.RECOVERED, S.RECOVERED_HELP),
    "pin_wrong": (S.PIN_WRONG,),
    "timeout_warning": (S.MORE_TIME,),
    **{code: (text,) for code, text in NOTICE_TEXTS.items() if code != "pin_wrong"},
}

_EN_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# -- the screen model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Button:
    """Something to touch. ``id`` is what :func:`press` understands (``"lang:en"``, ``"pin:7"``)."""

    id: str
    label: str
    above: str = ""  # a small line over the label: kana (Japanese) or the Japanese name
    detail: str = ""  # a small line under the label (a fee, "Start" in that language)
    role: str = "choice"  # choice | toggle | key | next | back | cancel
    on: bool = False  # a toggle that is on / the chosen one of a group
    enabled: bool = True


@dataclass(frozen=True)
class Group:
    """A labelled row of choices on the options screen; ``value`` is shown between its buttons."""

    label: str
    buttons: tuple[Button, ...]
    value: str = ""


@dataclass(frozen=True)
class PinPad:
    """The PIN pad: dots for the digits typed (never the digits), the tries left, the keys."""

    entered: int
    length: int
    tries_left: int | None
    tries_text: str
    last_try: str  # the lock warning when one try is left, else ""
    keys: tuple[Button, ...]  # PIN_KEYS order: three rows of three, then clear 0 delete
    ok: Button


@dataclass(frozen=True)
class Amounts:
    """The money panel: fee, inserted, still to pay (rows of label and amount)."""

    fee: int
    paid: int
    due: int
    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Warning:
    """ "Do you need more time?" with the seconds left and the button that says yes."""

    seconds_left: int
    text: str
    detail: str
    button: Button


@dataclass(frozen=True)
class Screen:
    """Everything one screen shows, in ``language``; ``name`` is the step or a start variant."""

    name: str  # a Step value, or "closed" / "unavailable" for the start screen
    step: str
    language: str
    header: str
    title: str
    above: str = ""  # the title's kana reading (Japanese) or ""
    lines: tuple[str, ...] = ()
    choices: tuple[Button, ...] = ()
    groups: tuple[Group, ...] = ()
    pin: PinPad | None = None
    amounts: Amounts | None = None
    nav: tuple[Button, ...] = ()
    warning: Warning | None = None
    notice: str | None = None
    outcome: str | None = None
    busy: bool = False
    others: tuple[tuple[str, str], ...] = ()  # (language, the title in it) on closed/unavailable
    progress: tuple[str, ...] = ()
    progress_at: int = -1
    voice: tuple[str, ...] = ()  # keys to say now (see voice_text): only from this batch's effects

    def buttons(self) -> tuple[Button, ...]:
        """Every button on the screen (choices, groups, PIN pad, navigation, the warning's)."""
        out: list[Button] = [*self.choices]
        for g in self.groups:
            out += g.buttons
        if self.pin is not None:
            out += [*self.pin.keys, self.pin.ok]
        out += self.nav
        if self.warning is not None:
            out.append(self.warning.button)
        return tuple(out)

    def texts(self) -> tuple[str, ...]:
        """Every text on the screen (for tests: what a resident can read)."""
        out = [self.header, self.title, self.above, *self.lines, *(t for _, t in self.others), *self.progress]
        for b in self.buttons():
            out += [b.label, b.above, b.detail]
        for g in self.groups:
            out += [g.label, g.value]
        if self.pin is not None:
            out += [self.pin.tries_text, self.pin.last_try]
        if self.amounts is not None:
            for label, value in self.amounts.rows:
                out += [label, value]
        if self.warning is not None:
            out += [self.warning.text, self.warning.detail]
        if self.notice:
            out.append(self.notice)
        return tuple(t for t in out if t)


# -- the draft: choices and digits before they become flow events -------------------------------------


@dataclass(frozen=True)
class Draft:
    """What the resident is choosing on the current step, not yet sent to the flow."""

    step: Step = Step.LANGUAGE
    options: CertificateOptions = field(default_factory=CertificateOptions)
    copies: int = 1
    pin: str = field(default="", repr=False)  # the digits typed; leaves only inside EnterPin
    members: tuple[str, ...] = ()
    years: tuple[int, ...] = ()  # the tax years offered for 所得・課税証明書, newest first


def fiscal_years(wall_ms: int, office_config: messages.OfficeConfig | None = None, count: int = 3) -> tuple[int, ...]:
    """The tax years (年度) a kiosk offers at ``wall_ms``, newest first.

    A tax year's certificate exists once that year's resident tax is assessed, in June: before
    June the newest is last year's.
    """
    today = local_time(wall_ms, office_config).date()
    newest = today.year if today.month >= 6 else today.year - 1
    return tuple(newest - i for i in range(count))


def sync_draft(
    draft: Draft, state: Kiosk, *, wall_ms: int, office_config: messages.OfficeConfig | None = None
) -> Draft:
    """The draft for ``state``: unchanged on the same step, else a fresh one for the new step."""
    if state.step is draft.step:
        return draft
    return _fresh_draft(state, wall_ms, office_config)


def _fresh_draft(state: Kiosk, wall_ms: int, office_config: messages.OfficeConfig | None) -> Draft:
    fresh = Draft(step=state.step)
    s = state.session
    if state.step is Step.OPTIONS and s is not None and s.kind is not None:
        years = fiscal_years(wall_ms, office_config)
        options = s.options
        if s.kind == "shotoku" and options.fiscal_year is None:
            options = replace(options, fiscal_year=years[0])
        return replace(fresh, options=options, copies=s.copies, years=years)
    return fresh


def press(draft: Draft, state: Kiosk, button: str, now_ms: int) -> tuple[Draft, Event | None]:
    """A touch on ``button``: the new draft and the flow event to post (None: nothing to post).

    Touches that only change the draft post :class:`~kiosk.flow.StillHere`, so a resident
    busy choosing does not time out. A button that is not on this step's screen does nothing.
    """
    step = state.step
    kind, _, arg = button.partition(":")
    if button == "still_here":
        return draft, flow.StillHere(now_ms=now_ms)
    if button == "cancel" and step in flow.CANCELLABLE:
        return replace(draft, pin=""), flow.Cancel(now_ms=now_ms)
    if button == "back" and step in (Step.CERTIFICATE, Step.OPTIONS):
        return draft, flow.Back(now_ms=now_ms)
    if step is Step.LANGUAGE and kind == "lang" and arg in state.config.languages:
        return draft, flow.ChooseLanguage(language=arg, now_ms=now_ms)
    if step is Step.CERTIFICATE and kind == "kind" and arg in flow.KINDS:
        return draft, flow.ChooseCertificate(kind=arg, now_ms=now_ms)
    if step is Step.OPTIONS and draft.step is Step.OPTIONS:
        return _press_options(draft, state, button, now_ms)
    if step is Step.PIN and kind == "pin":
        return _press_pin(draft, arg, now_ms)
    if step is Step.MEMBERS and state.session is not None:
        known = [m.id for m in state.session.household]
        if kind == "member" and arg in known:
            chosen = set(draft.members) ^ {arg}
            # Household order, not touch order: the certificate lists people as the office does.
            return replace(draft, members=tuple(m for m in known if m in chosen)), flow.StillHere(now_ms=now_ms)
        if button == "next":
            return draft, flow.ChooseMembers(members=draft.members, now_ms=now_ms)
    if step is Step.CONFIRM_FEE and button == "pay":
        return draft, flow.ConfirmFee(now_ms=now_ms)
    if step is Step.GOODBYE and button == "finish":
        return draft, flow.StillHere(now_ms=now_ms)
    return draft, None


def _press_options(draft: Draft, state: Kiosk, button: str, now_ms: int) -> tuple[Draft, Event | None]:
    o = draft.options
    touched = flow.StillHere(now_ms=now_ms)
    if button == "next":
        return draft, flow.ConfirmOptions(options=o, copies=draft.copies, now_ms=now_ms)
    if button == "copies:+":
        return replace(draft, copies=min(state.config.max_copies, draft.copies + 1)), touched
    if button == "copies:-":
        return replace(draft, copies=max(1, draft.copies - 1)), touched
    s = state.session
    kind = s.kind if s is not None else None
    changes: dict[str, Any] = {}
    if kind == "juminhyo":
        if button in ("opt:scope:household", "opt:scope:members"):
            changes = {"scope": button.rsplit(":", 1)[1], "members": ()}
        elif button == "opt:honseki":
            changes = {"with_honseki": not o.with_honseki}
        elif button == "opt:zokugara":
            changes = {"with_zokugara": not o.with_zokugara}
        elif button == "opt:my_number":
            changes = {"with_my_number": not o.with_my_number}
    elif kind == "koseki" and button in ("opt:variant:tohon", "opt:variant:shohon"):
        changes = {"variant": button.rsplit(":", 1)[1]}
    elif kind == "shotoku" and button.startswith("opt:year:"):
        year = button.rsplit(":", 1)[1]
        if year.isdigit() and int(year) in draft.years:
            changes = {"fiscal_year": int(year)}
    if not changes:
        return draft, None
    return replace(draft, options=replace(o, **changes)), touched


def _press_pin(draft: Draft, key: str, now_ms: int) -> tuple[Draft, Event | None]:
    touched = flow.StillHere(now_ms=now_ms)
    if key == "ok":
        # The digits leave the draft here: only the EnterPin event (repr hidden) carries them.
        return replace(draft, pin=""), flow.EnterPin(pin=draft.pin, now_ms=now_ms)
    if key == "clear":
        return replace(draft, pin=""), touched
    if key == "delete":
        return replace(draft, pin=draft.pin[:-1]), touched
    if len(key) == 1 and key in "0123456789":
        if len(draft.pin) >= flow.PIN_LENGTH:
            return draft, touched
        return replace(draft, pin=draft.pin + key), touched
    return draft, None


# -- helpers ---------------------------------------------------------------------------------------


def format_yen(amount: int, language: str) -> str:
    """``amount`` yen as the language writes it: "1,000円", "1,000 yen", "1.000 ienes"."""
    grouped = f"{amount:,}"
    if language in ("vi", "pt"):
        grouped = grouped.replace(",", ".")
    return gettext_for(language)(S.YEN).format(amount=grouped)


def _next_opening(hours: Hours, now: datetime) -> datetime | None:
    for days in range(400):
        day = now.date() + timedelta(days=days)
        if hours.is_closed_day(day):
            continue
        opening = datetime.combine(day, hours.open)
        if opening > now:
            return opening
    return None


def _clock(t: Any) -> str:
    return f"{t.hour}:{t.minute:02d}"


def _date(d: date, language: str) -> str:
    if language in ("ja", "zh_CN"):
        return f"{d.month}月{d.day}日"
    if language == "ko":
        return f"{d.month}월 {d.day}일"
    if language in ("vi", "pt"):
        return f"{d.day}/{d.month}"
    return f"{d.day} {_EN_MONTHS[d.month - 1]}"


def voice_keys(effects: Sequence[Effect]) -> tuple[str, ...]:
    """The voice keys of a batch of effects, in order, each once."""
    keys: list[str] = []
    for e in effects:
        key = None
        if isinstance(e, flow.Speak):
            key = e.key
        elif isinstance(e, flow.WarnTimeout):
            key = "timeout_warning"
        elif isinstance(e, flow.Notice):
            key = e.code
        if key is not None and key not in keys:
            keys.append(key)
    return tuple(keys)


def spoken(effects: Sequence[Effect], language: str) -> tuple[tuple[str, str], ...]:
    """What to say for a batch of effects: (text, language) pairs in order, each once.

    Speak and WarnTimeout carry the language they were emitted in; a Notice is said in
    ``language`` (the screen's).
    """
    out: list[tuple[str, str]] = []
    for e in effects:
        if isinstance(e, flow.Speak):
            key, lang = e.key, e.language
        elif isinstance(e, flow.WarnTimeout):
            key, lang = "timeout_warning", e.language
        elif isinstance(e, flow.Notice):
            key, lang = e.code, language
        else:
            continue
        text = voice_text(key, lang)
        if text and (text, lang) not in out:
            out.append((text, lang))
    return tuple(out)


def voice_text(key: str, language: str) -> str | None:
    """What the voice says for ``key`` in ``language`` (None: nothing to say).

    Shaped like kiosk.runtime's ``phrases`` argument, so the runtime can speak with it too.
    """
    messages = VOICE.get(key)
    if not messages or language not in LANGUAGES:
        return None
    _ = gettext_for(language)
    return " ".join(_(m) for m in messages)


# -- building the screens -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ctx:
    state: Kiosk
    draft: Draft
    language: str
    now_ms: int
    wall_ms: int
    office_config: messages.OfficeConfig | None
    t: Callable[[str], str]  # gettext of the screen's language
    n_: Callable[[str, str, int], str]

    def yen(self, amount: int) -> str:
        return format_yen(amount, self.language)

    def kind_button(self, kind: str) -> Button:
        fee = self.state.config.fees.get(kind, 0)
        return Button(
            f"kind:{kind}",
            self.t(KIND_NAMES[kind]),
            above=self.kind_above(kind),
            detail=self.t(S.FEE_PER_COPY).format(fee=self.yen(fee)),
        )

    def kind_above(self, kind: str) -> str:
        if self.language == "ja":
            return KIND_READINGS[kind]
        return gettext_for("ja")(KIND_NAMES[kind])

    def copies(self, n: int) -> str:
        return self.n_(*S.COPIES, n).format(copies=n)

    def nav(self, *ids: str) -> tuple[Button, ...]:
        labels = {
            "back": S.BACK,
            "cancel": S.CANCEL,
            "next": S.NEXT,
            "pay": S.PAY,
            "finish": S.FINISH,
        }
        return tuple(Button(i, self.t(labels[i]), role=i if i in ("back", "cancel") else "next") for i in ids)


def present(
    state: Kiosk,
    draft: Draft | None = None,
    *,
    effects: Sequence[Effect] = (),
    now_ms: int,
    wall_ms: int,
    office_config: messages.OfficeConfig | None = None,
) -> Screen:
    """The screen for ``state`` (and the resident's ``draft``) at ``now_ms`` (monotonic, for
    countdowns) and ``wall_ms`` (the wall clock, for the kiosk's hours)."""
    language = state.language if state.language in LANGUAGES else LANGUAGES[0]
    if draft is None or draft.step is not state.step:
        draft = _fresh_draft(state, wall_ms, office_config)
    ctx = _Ctx(state, draft, language, now_ms, wall_ms, office_config, gettext_for(language), ngettext_for(language))
    _ = ctx.t
    screen = _BUILDERS[state.step](ctx)
    screen = replace(screen, voice=voice_keys(effects))
    at = _PROGRESS_AT.get(state.step)
    if at is not None:
        screen = replace(screen, progress=tuple(_(p) for p in _PROGRESS), progress_at=at)
    notice = state.notice or next((e.code for e in reversed(effects) if isinstance(e, flow.Notice)), None)
    if notice == "unavailable" and state.office_online:
        notice = None  # left from a card refused while the office was away; it is back now
    if state.step is Step.PAYMENT and notice is None and state.exact_only:
        notice = "exact_amount_only"
    if notice is not None and notice in NOTICE_TEXTS and screen.name not in ("closed", "unavailable"):
        screen = replace(screen, notice=_(NOTICE_TEXTS[notice]))
    seconds = state.seconds_left(now_ms)
    if state.warned and state.step in flow.RESIDENT_STEPS and state.step is not Step.TAKE_CARD and seconds is not None:
        # Take-card has no warning: its timeout only repeats the reminder, it cancels nothing.
        screen = replace(
            screen,
            warning=Warning(
                seconds_left=seconds,
                text=_(S.MORE_TIME),
                detail=ctx.n_(*S.CANCELS_IN, seconds).format(seconds=seconds),
                button=Button("still_here", _(S.CONTINUE), role="next"),
            ),
        )
    return screen


def _base(ctx: _Ctx, title: str, **kw: Any) -> Screen:
    return Screen(
        name=kw.pop("name", ctx.state.step.value),
        step=ctx.state.step.value,
        language=ctx.language,
        header=ctx.t(S.KIOSK_NAME),
        title=title,
        **kw,
    )


def _start(ctx: _Ctx) -> Screen:
    _, state = ctx.t, ctx.state
    # A card given back (refused while the office was away) must be taken; a card pushed in
    # before choosing a language is kept for the visit - unless the kiosk is closed.
    card_line = (_(S.TAKE_YOUR_CARD),) if state.card == "returned" else ()
    hours = kiosk_hours(ctx.office_config)
    if hours is not None and not hours.is_open(local_time(ctx.wall_ms, ctx.office_config)):  # closed_now's rule
        card_line = (_(S.TAKE_YOUR_CARD),) if state.card != "none" else ()
        lines = [_(S.KIOSK_HOURS).format(hours=f"{_clock(hours.open)}–{_clock(hours.close)}")]
        reopen = _next_opening(hours, local_time(ctx.wall_ms, ctx.office_config))
        if reopen is not None:
            when = f"{_date(reopen.date(), ctx.language)} {_clock(reopen.time())}"
            lines.append(_(S.OPENS_AGAIN).format(when=when))
        return _base(
            ctx, _(S.CLOSED_TITLE), name="closed", lines=(*lines, *card_line), others=_others(ctx, S.CLOSED_TITLE)
        )
    if not state.office_online:
        # Nothing to touch: no card, no PIN, no money while the office cannot be reached.
        return _base(
            ctx,
            _(S.UNAVAILABLE_TITLE),
            name="unavailable",
            lines=(_(S.UNAVAILABLE_LINE), _(S.UNAVAILABLE_SAFE), *card_line),
            others=_others(ctx, S.UNAVAILABLE_TITLE),
        )
    choices = tuple(
        Button(f"lang:{code}", NATIVE_NAMES[code], detail=gettext_for(code)(S.START_BUTTON), on=code == ctx.language)
        for code in state.config.languages
    )
    return _base(
        ctx,
        _(S.KIOSK_NAME),
        name="language",
        above=KIOSK_READING if ctx.language == "ja" else "",
        lines=(_(S.START_LEAD), _(S.START_NEEDS), _(S.START_CHOOSE), *card_line),
        choices=choices,
    )


def _others(ctx: _Ctx, message: str) -> tuple[tuple[str, str], ...]:
    """``message`` in every other language of the kiosk (a start screen nobody can change)."""
    return tuple((code, gettext_for(code)(message)) for code in ctx.state.config.languages if code != ctx.language)


def _certificate(ctx: _Ctx) -> Screen:
    return _base(
        ctx,
        ctx.t(S.CERTIFICATE_TITLE),
        choices=tuple(ctx.kind_button(k) for k in flow.KINDS),
        nav=ctx.nav("back"),
    )


def _options(ctx: _Ctx) -> Screen:
    _, d = ctx.t, ctx.draft
    s = ctx.state.session
    kind = s.kind if s is not None and s.kind is not None else "juminhyo"
    o = d.options
    groups: list[Group] = []
    if kind == "juminhyo":
        groups.append(
            Group(
                _(S.SCOPE_LABEL),
                (
                    Button("opt:scope:household", _(S.SCOPE_HOUSEHOLD), role="toggle", on=o.scope == "household"),
                    Button("opt:scope:members", _(S.SCOPE_MEMBERS), role="toggle", on=o.scope == "members"),
                ),
            )
        )
        groups.append(
            Group(
                _(S.SHOW_LABEL),
                (
                    Button("opt:honseki", _(S.WITH_HONSEKI), role="toggle", on=o.with_honseki),
                    Button("opt:zokugara", _(S.WITH_ZOKUGARA), role="toggle", on=o.with_zokugara),
                    Button("opt:my_number", _(S.WITH_MY_NUMBER), role="toggle", on=o.with_my_number),
                ),
            )
        )
    elif kind == "koseki":
        groups.append(
            Group(
                _(S.VARIANT_LABEL),
                (
                    Button("opt:variant:tohon", _(S.VARIANT_TOHON), role="toggle", on=o.variant == "tohon"),
                    Button("opt:variant:shohon", _(S.VARIANT_SHOHON), role="toggle", on=o.variant == "shohon"),
                ),
            )
        )
    elif kind == "shotoku":
        groups.append(
            Group(
                _(S.FISCAL_YEAR_LABEL),
                tuple(
                    Button(f"opt:year:{y}", _(S.FISCAL_YEAR).format(year=y), role="toggle", on=o.fiscal_year == y)
                    for y in d.years
                ),
            )
        )
    max_copies = ctx.state.config.max_copies
    groups.append(
        Group(
            _(S.COPIES_LABEL),
            (
                Button("copies:-", "−", role="key", enabled=d.copies > 1),
                Button("copies:+", "+", role="key", enabled=d.copies < max_copies),
            ),
            value=ctx.copies(d.copies),
        )
    )
    fee = ctx.state.config.fees.get(kind, 0) * d.copies
    # The certificate's name is the title (with its reading over it); what to do comes under it.
    return _base(
        ctx,
        _(KIND_NAMES[kind]),
        lines=(
            _(S.NO_OPTIONS if kind in ("inkan", "fuhyo") else S.OPTIONS_TITLE),
            _(S.FEE_TOTAL).format(fee=ctx.yen(fee)),
        ),
        above=ctx.kind_above(kind),
        groups=tuple(groups),
        nav=ctx.nav("back", "cancel", "next"),
    )


def _insert_card(ctx: _Ctx) -> Screen:
    _ = ctx.t
    return _base(
        ctx, _(S.INSERT_CARD_TITLE), lines=(_(S.INSERT_CARD_HOW), _(S.CARD_RETURNED_AT_END)), nav=ctx.nav("cancel")
    )


def _busy(title: str, *lines: str, cancel: bool = True) -> Callable[[_Ctx], Screen]:
    def build(ctx: _Ctx) -> Screen:
        return _base(
            ctx,
            ctx.t(title),
            lines=tuple(ctx.t(line) for line in lines),
            busy=True,
            nav=ctx.nav("cancel") if cancel else (),
        )

    return build


def _pin(ctx: _Ctx) -> Screen:
    _ = ctx.t
    s = ctx.state.session
    tries = s.tries_left if s is not None else None
    keys = tuple(
        Button(
            f"pin:{k}",
            _(S.PIN_CLEAR) if k == "clear" else _(S.PIN_DELETE) if k == "delete" else k,
            role="key",
        )
        for k in PIN_KEYS
    )
    pad = PinPad(
        entered=len(ctx.draft.pin),
        length=flow.PIN_LENGTH,
        tries_left=tries,
        tries_text=ctx.n_(*S.TRIES_LEFT, tries).format(tries=tries) if tries is not None else "",
        last_try=_(S.PIN_LAST_TRY) if tries == 1 else "",
        keys=keys,
        ok=Button("pin:ok", _(S.PIN_OK), role="next"),
    )
    return _base(ctx, _(S.PIN_TITLE), lines=(_(S.PIN_WHICH), _(S.PIN_HIDDEN)), pin=pad, nav=ctx.nav("cancel"))


def _members(ctx: _Ctx) -> Screen:
    _ = ctx.t
    s = ctx.state.session
    household = s.household if s is not None else ()
    choices = tuple(Button(f"member:{m.id}", m.name, role="toggle", on=m.id in ctx.draft.members) for m in household)
    return _base(ctx, _(S.MEMBERS_TITLE), lines=(_(S.MEMBERS_HINT),), choices=choices, nav=ctx.nav("cancel", "next"))


def _summary(ctx: _Ctx) -> tuple[str, ...]:
    """The request in words: certificate, choices, copies."""
    _ = ctx.t
    s = ctx.state.session
    if s is None or s.kind is None:
        return ()
    o = s.options
    parts: list[str] = []
    if s.kind == "juminhyo":
        parts.append(_(S.SCOPE_HOUSEHOLD if o.scope == "household" else S.SCOPE_MEMBERS))
        names = {m.id: m.name for m in s.household}
        if o.scope == "members" and o.members:
            parts.append("・".join(names.get(m, m) for m in o.members))
        for on, text in (
            (o.with_honseki, S.WITH_HONSEKI),
            (o.with_zokugara, S.WITH_ZOKUGARA),
            (o.with_my_number, S.WITH_MY_NUMBER),
        ):
            if on:
                parts.append(_(text))
    elif s.kind == "koseki":
        parts.append(_(S.VARIANT_TOHON if o.variant == "tohon" else S.VARIANT_SHOHON))
    elif s.kind == "shotoku" and o.fiscal_year is not None:
        parts.append(_(S.FISCAL_YEAR).format(year=o.fiscal_year))
    lines = [f"{_(KIND_NAMES[s.kind])} · {ctx.copies(s.copies)}"]
    if parts:
        lines.append(" / ".join(parts))
    return tuple(lines)


def _confirm_fee(ctx: _Ctx) -> Screen:
    _ = ctx.t
    s = ctx.state.session
    fee = s.fee if s is not None and s.fee is not None else 0
    amounts = Amounts(fee=fee, paid=0, due=fee, rows=((_(S.FEE_LABEL), ctx.yen(fee)),))
    return _base(ctx, _(S.CONFIRM_TITLE), lines=_summary(ctx), amounts=amounts, nav=ctx.nav("cancel", "pay"))


def _payment(ctx: _Ctx) -> Screen:
    _ = ctx.t
    s = ctx.state.session
    fee = s.fee if s is not None and s.fee is not None else 0
    paid = s.paid if s is not None else 0
    due = s.due if s is not None else 0
    amounts = Amounts(
        fee=fee,
        paid=paid,
        due=due,
        rows=((_(S.FEE_LABEL), ctx.yen(fee)), (_(S.PAID_LABEL), ctx.yen(paid)), (_(S.DUE_LABEL), ctx.yen(due))),
    )
    note = ctx.state.max_note
    notes = _(S.NOTES_UP_TO).format(note=ctx.yen(note)) if note is not None else _(S.COINS_ONLY)
    return _base(
        ctx,
        _(S.PAYMENT_TITLE),
        lines=(_(S.COINS_TAKEN), notes, _(S.NO_2000_NOTES), _(S.CANCEL_REFUNDS)),
        amounts=amounts,
        nav=ctx.nav("cancel"),
    )


def _outcome_lines(ctx: _Ctx, outcome: str | None) -> tuple[str, tuple[str, ...]]:
    title, lines = OUTCOME_TEXTS.get(outcome or "thank_you", OUTCOME_TEXTS["thank_you"])
    out = [ctx.t(line) for line in lines]
    if ctx.state.outcome_owed > 0:
        out.append(ctx.t(S.MONEY_OWED).format(amount=ctx.yen(ctx.state.outcome_owed)))
    return ctx.t(title), tuple(out)


def _settling(ctx: _Ctx) -> Screen:
    _, state = ctx.t, ctx.state
    s = state.session
    outcome = state.outcome or "thank_you"
    change = s is not None and s.kept > 0
    title = _(S.PAYING_CHANGE if change else S.RETURNING_MONEY)
    headline, lines = _outcome_lines(ctx, outcome)
    extra = (_(S.TAKE_MONEY),) if s is not None and s.paid > 0 and outcome != "money_returned" else ()
    return _base(ctx, title, lines=(headline, *lines, *extra), busy=True, outcome=outcome)


def _take_card(ctx: _Ctx) -> Screen:
    outcome = ctx.state.outcome or "thank_you"
    headline, lines = _outcome_lines(ctx, outcome)
    return _base(ctx, ctx.t(S.TAKE_YOUR_CARD), lines=(headline, *lines), outcome=outcome)


def _goodbye(ctx: _Ctx) -> Screen:
    outcome = ctx.state.outcome or "thank_you"
    headline, lines = _outcome_lines(ctx, outcome)
    return _base(ctx, headline, lines=lines, outcome=outcome, nav=ctx.nav("finish"))


def _out_of_service(ctx: _Ctx) -> Screen:
    _ = ctx.t
    card = (_(S.TAKE_YOUR_CARD),) if ctx.state.card != "none" else ()
    owed = (_(S.MONEY_OWED).format(amount=ctx.yen(ctx.state.outcome_owed)),) if ctx.state.outcome_owed > 0 else ()
    return _base(ctx, _(S.OUT_OF_SERVICE), lines=(_(S.OUT_OF_SERVICE_HELP), *card, *owed), outcome="out_of_service")


_BUILDERS: Final[Mapping[Step, Callable[[_Ctx], Screen]]] = {
    Step.LANGUAGE: _start,
    Step.CERTIFICATE: _certificate,
    Step.OPTIONS: _options,
    Step.INSERT_CARD: _insert_card,
    Step.READING_CARD: _busy(S.READING_CARD_TITLE, S.DO_NOT_REMOVE_CARD, S.PLEASE_WAIT),
    Step.PIN: _pin,
    Step.VERIFYING_PIN: _busy(S.VERIFYING_PIN_TITLE, S.PLEASE_WAIT, S.DO_NOT_REMOVE_CARD),
    Step.AUTHENTICATING: _busy(S.AUTHENTICATING_TITLE, S.PLEASE_WAIT, S.DO_NOT_REMOVE_CARD),
    Step.MEMBERS: _members,
    Step.CONFIRM_FEE: _confirm_fee,
    Step.PAYMENT: _payment,
    # Paid: a cancel now would void an issuance in flight; the office answers in seconds.
    Step.ISSUING: _busy(S.ISSUING_TITLE, S.PLEASE_WAIT, S.DO_NOT_REMOVE_CARD, cancel=False),
    Step.PRINTING: _busy(S.PRINTING_TITLE, S.DO_NOT_LEAVE, cancel=False),
    Step.SETTLING: _settling,
    Step.TAKE_CARD: _take_card,
    Step.GOODBYE: _goodbye,
    Step.OUT_OF_SERVICE: _out_of_service,
}
