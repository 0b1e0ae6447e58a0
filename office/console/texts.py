"""The console's words in one language: the templates' ``t``, and the office's answers translated.

``t.CALL_NEXT`` is :data:`office.console.strings.CALL_NEXT` in the language; :meth:`Texts.say`
turns the office's English template (a :class:`~office.staff.Reply`, a
:class:`~office.domain.CommandError`, an :class:`~office.floor.Alert`) and its fields into a
sentence in the language - the fields too: a status, a station, a purpose, a role, a printer
fault are named as the screens name them.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Mapping
from datetime import date, datetime

from common.i18n import Plural, purpose_name
from office.console import strings
from office.domain import CENTRE_PREFIX
from sync.site import SiteConfig

LANGUAGES = strings.LANGUAGES
NATIVE = {"ja": "日本語", "en": "English"}

_FAULTS = {
    "paper_out": strings.FAULT_PAPER_OUT,
    "cover_open": strings.FAULT_COVER_OPEN,
    "cutter_error": strings.FAULT_CUTTER_ERROR,
    "disconnected": strings.FAULT_DISCONNECTED,
    "offline": strings.OFFLINE,
    "unrecoverable_error": strings.FAULT_UNRECOVERABLE_ERROR,
    "auto_recoverable_error": strings.FAULT_AUTO_RECOVERABLE_ERROR,
}
_STATUSES = {
    "waiting": strings.STATUS_WAITING,
    "called": strings.STATUS_CALLED,
    "in progress": strings.STATUS_IN_PROGRESS,
    "in_progress": strings.STATUS_IN_PROGRESS,
    "held": strings.STATUS_HELD,
    "ready": strings.STATUS_READY,
    "done": strings.STATUS_DONE,
    "absent": strings.STATUS_ABSENT,
    "void": strings.STATUS_VOID,
}
_ROLES = {
    "clerk": strings.ROLE_CLERK,
    "input": strings.ROLE_INPUT,
    "floor": strings.ROLE_FLOOR,
    "admin": strings.ROLE_ADMIN,
}
_KINDS = {"high": strings.KIND_HIGH, "low": strings.KIND_LOW, "consultation": strings.KIND_CONSULTATION}
_DEVICE_KINDS = {"dispenser": strings.KIND_DISPENSER, "board": strings.KIND_BOARD, "kiosk": strings.KIND_KIOSK}


class Texts:
    """Every console text in ``language`` (``t.NAME``), and the helpers templates use."""

    def __init__(self, language: str, config: SiteConfig) -> None:
        self.language = language
        self.config = config
        self._ = strings.gettext_for(language)
        self._n = strings.ngettext_for(language)
        self.zone = zoneinfo.ZoneInfo(config.timezone)

    def __getattr__(self, name: str) -> str:
        message = getattr(strings, name, None)
        if not isinstance(message, str) or not name.isupper():
            raise AttributeError(name)
        return self._(message)

    def weekday_name(self, day: date) -> str:
        """A day's weekday, short, in English (``t.word`` translates it)."""
        return strings.WEEKDAY_NAMES[day.weekday()]

    def word(self, message: str) -> str:
        """Any message of the catalog in this language (a table's header, a weekday)."""
        return self._(message)

    def n(self, message: Plural, count: int, **fields: object) -> str:
        """A message whose wording follows ``count`` (``{count}`` or the given fields filled)."""
        return self._n(message.singular, message.plural, count).format(count=count, **fields)

    def minutes(self, ms: int) -> str:
        """A duration in whole minutes, e.g. "12 min"."""
        whole = max(0, ms // 60_000)
        return self.n(strings.MINUTES, whole, minutes=whole)

    def clock(self, ms: int | None) -> str:
        """A time of day in the office's zone, e.g. "10:42" (a dash for none)."""
        if ms is None:
            return self._(strings.NONE)
        return datetime.fromtimestamp(ms / 1000, self.zone).strftime("%H:%M")

    def date_time(self, ms: int | None) -> str:
        """A date and time in the office's zone, e.g. "2026-12-06 10:42" (a dash for none)."""
        if ms is None:
            return self._(strings.NONE)
        return datetime.fromtimestamp(ms / 1000, self.zone).strftime("%Y-%m-%d %H:%M")

    def purpose(self, code: str) -> str:
        """A purpose's name in this language."""
        found = self.config.find_category(code)
        return purpose_name(found.names, self.language) if found is not None else code

    def station(self, code: str | None) -> str:
        """A station's name in this language."""
        if code is None:
            return self._(strings.NONE)
        found = self.config.find_station(code)
        return purpose_name(found.names, self.language) if found is not None else code

    def counter(self, number: int | None) -> str:
        """A counter's name in this language (e.g. "4番窓口（ローカウンター）")."""
        if number is None:
            return self._(strings.NONE)
        found = self.config.find_counter(number)
        names = found.names() if found is not None else {"ja": f"{number}番窓口", "en": f"Counter {number}"}
        return purpose_name(names, self.language)

    def status(self, value: str) -> str:
        """A ticket status as staff say it."""
        return self._(_STATUSES.get(value, value))

    def role(self, value: str) -> str:
        """A role's name."""
        return self._(_ROLES.get(value, value))

    def kind(self, value: str) -> str:
        """A counter kind's name."""
        return self._(_KINDS.get(value, value))

    def device_kind(self, value: str) -> str:
        """A device kind's name."""
        return self._(_DEVICE_KINDS.get(value, value))

    def fault(self, value: str | None) -> str:
        """A printer fault's name."""
        if not value:
            return self._(strings.PRINTER_OK)
        return self._(_FAULTS.get(value, value.replace("_", " ")))

    def holder(self, user: str) -> str:
        """Who holds a case: a user of this office, or an operator of the ward's input centre."""
        if user.startswith(CENTRE_PREFIX):
            return self._(strings.CENTRE_OPERATOR).format(user=user[len(CENTRE_PREFIX) :])
        return user

    def say(self, template: str, params: Mapping[str, object]) -> str:
        """The office's answer in this language, its fields named as the screens name them."""
        shown: dict[str, object] = dict(params)
        for key, name in _FIELD_NAMES.items():
            if key in shown:
                shown[key] = name(self, str(shown[key]))
        try:
            return self._(template).format(**shown)
        except (KeyError, IndexError, ValueError):  # a translation that lost a field: English
            return template.format(**params)


def _field_status(t: Texts, value: str) -> str:
    return t.status(value)


def _field_station(t: Texts, value: str) -> str:
    return t.station(value)


def _field_purpose(t: Texts, value: str) -> str:
    return t.purpose(value)


def _field_role(t: Texts, value: str) -> str:
    return t.role(value)


def _field_fault(t: Texts, value: str) -> str:
    return t.fault(value)


_FIELD_NAMES: dict[str, Callable[[Texts, str], str]] = {
    "user": Texts.holder,
    "status": _field_status,
    "station": _field_station,
    "purpose": _field_purpose,
    "code": _field_purpose,
    "role": _field_role,
    "fault": _field_fault,
}


_MADE: dict[tuple[str, int], Texts] = {}


def texts(language: str, config: SiteConfig) -> Texts:
    """The :class:`Texts` of a language (one per language and site configuration)."""
    key = (language, id(config))
    made = _MADE.get(key)
    if made is None or made.config is not config:
        made = _MADE[key] = Texts(language, config)
    return made


def choose_language(cookie: str | None, accept: str | None) -> str:
    """The console's language: the one chosen on the switch, else the browser's, else Japanese."""
    if cookie in LANGUAGES:
        return str(cookie)
    for part in (accept or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("ja"):
            return "ja"
        if tag.startswith("en"):
            return "en"
    return "ja"
