"""Staff commands in the words a clerk uses: ``call next at counter 3``, ``advance 105 to
review``, ``done 105``, ``absent 105``. Parsing is pure; the server carries them out."""

from __future__ import annotations

import re
from dataclasses import dataclass

from office.domain import CommandError

USAGE = (
    "commands: 'call next at counter N', 'call 105 at counter N', 'advance 105 to STATION', "
    "'done 105 [at counter N]', 'absent 105', 'void 105'"
)


@dataclass(frozen=True)
class CallNext:
    """Call the longest-waiting ticket this counter serves."""

    counter: int


@dataclass(frozen=True)
class CallNumber:
    """Call (or call again) a given ticket to a counter."""

    ref: str
    counter: int


@dataclass(frozen=True)
class Advance:
    """Move a ticket to a station of its route."""

    ref: str
    station: str


@dataclass(frozen=True)
class Done:
    """The procedure is complete: the resident is called to receive it."""

    ref: str
    counter: int | None = None


@dataclass(frozen=True)
class Absent:
    """The resident did not come."""

    ref: str


@dataclass(frozen=True)
class Void:
    """Cancel a ticket."""

    ref: str


Command = CallNext | CallNumber | Advance | Done | Absent | Void

# A ticket reference: the number as called aloud (105), or series-number (2-105) when two
# series could share a number.
_REF = r"(?P<ref>(?:[A-Za-z0-9_.]+-)?\d+)"
_COUNTER = r"(?:at\s+)?(?:counter\s+)?(?P<counter>\d+)"
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"^call\s+next\s+{_COUNTER}$"), "call_next"),
    (re.compile(rf"^call\s+{_REF}\s+{_COUNTER}$"), "call"),
    (re.compile(rf"^advance\s+{_REF}\s+(?:to\s+)?(?P<station>(?!to$)\S+)$"), "advance"),
    (re.compile(rf"^done\s+{_REF}(?:\s+{_COUNTER})?$"), "done"),
    (re.compile(rf"^absent\s+{_REF}$"), "absent"),
    (re.compile(rf"^void\s+{_REF}$"), "void"),
]


def parse(text: str) -> Command:
    """Parse one command line; CommandError says what was not understood and what is."""
    words = " ".join(text.strip().lower().split())
    for pattern, kind in _PATTERNS:
        match = pattern.match(words)
        if match is None:
            continue
        groups = match.groupdict()
        counter = int(groups["counter"]) if groups.get("counter") else None
        if kind == "call_next" and counter is not None:
            return CallNext(counter)
        if kind == "call" and counter is not None:
            return CallNumber(groups["ref"], counter)
        if kind == "advance":
            return Advance(groups["ref"], groups["station"])
        if kind == "done":
            return Done(groups["ref"], counter)
        if kind == "absent":
            return Absent(groups["ref"])
        if kind == "void":
            return Void(groups["ref"])
    raise CommandError(f"not understood: {text.strip()!r}; {USAGE}")
