"""The setup screen's steps, as a pure state machine (the Kivy app only draws :class:`State` and
carries out the :class:`Effect` each event asks for, on a thread of its own).

    role -> detect -> hardware -> code -> pairing -> testing -> ready
              ^          |  (missing: Try again)   |  (refused: back to code, the sentence why)
              +----------+                         +-> test_failed (Try again)

Every screen has its targets in focus order: touch presses one, and the keypad or a keyboard
moves the focus (UP/DOWN/LEFT/RIGHT), presses it (OK) and goes back (BACK), so a device with a
tactile keypad and no touch panel can be set up too. On the code screen the letters and digits
of a keyboard type, and the on-screen keys (Crockford's alphabet) do the same by touch or keypad.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from sync import pairing

__all__ = ["ROLES", "Effect", "State", "classify_error", "step"]

ROLES = ("dispenser", "board", "kiosk")
LANGUAGES = ("ja", "en", "zh_CN", "ko", "vi", "pt")
KEYS = tuple(pairing.ALPHABET)
KEY_COLUMNS = 8
Screen = Literal["role", "detect", "hardware", "code", "pairing", "testing", "test_failed", "ready"]
ErrorKind = Literal["typo", "wrong", "used", "expired", "role", "unreachable", "too_many", "other"]


@dataclass(frozen=True)
class State:
    """What the screen shows."""

    screen: Screen = "role"
    lang: str = "ja"
    role: str = ""
    focus: int = 0
    code: str = ""
    error: ErrorKind | None = None
    error_role: str = ""  # for "this code is for a …"
    detail: str = ""  # the office's or the device's own words, under the sentence
    progress: tuple[str, ...] = ()  # detection steps done
    hardware: tuple[str, ...] = ()  # one line per slot
    ready: bool = False  # detection settled everything
    profile: str = ""
    tests: tuple[tuple[str, str], ...] = ()  # (verdict, line)
    device: str = ""
    site: str = ""

    def targets(self) -> tuple[str, ...]:
        """The screen's touch and focus targets, in focus order."""
        languages = tuple(f"lang:{code}" for code in LANGUAGES)
        if self.screen == "role":
            return (*(f"role:{r}" for r in ROLES), *languages)
        if self.screen == "hardware":
            return ("next", "back") if self.ready else ("retry", "back")
        if self.screen == "code":
            return (*(f"key:{k}" for k in KEYS), "delete", "pair", "back")
        if self.screen == "test_failed":
            return ("retry",)
        return ()

    @property
    def focused(self) -> str | None:
        """The focused target, if the screen has any."""
        targets = self.targets()
        return targets[self.focus % len(targets)] if targets else None

    @property
    def shown_code(self) -> str:
        """The code as typed, in groups of four."""
        return "-".join(self.code[i : i + 4] for i in range(0, len(self.code), 4))


@dataclass(frozen=True)
class Effect:
    """What the app must do now (on a worker thread), then report back with an event."""

    kind: Literal["detect", "pair", "selftest", "start"]
    role: str = ""
    code: str = ""


@dataclass(frozen=True)
class Event:
    """Something that happened: a press, a key, or a result of an effect."""

    kind: str
    value: str = ""
    lines: tuple[str, ...] = field(default=())
    ok: bool = True


def classify_error(message: str) -> tuple[ErrorKind, str]:
    """The kind of a pairing failure from its message (firmware_profiles/enroll.py and the
    office's refusals), and the role a code was for when that is the problem."""
    text = message.lower()
    if "is for a " in text and ", not a " in text:
        role = text.split("is for a ", 1)[1].split(",", 1)[0].strip()
        return "role", role
    table: tuple[tuple[ErrorKind, tuple[str, ...]], ...] = (
        ("too_many", ("too many wrong",)),
        ("used", ("already used",)),
        ("expired", ("expired",)),
        ("typo", ("typing mistake", "characters, this one has", "is not one of them", "enter the pairing code")),
        ("unreachable", ("cannot reach",)),
        ("wrong", ("not the one this code was made by", "not made by this office", "not known here", "withdrawn")),
    )
    for kind, needles in table:
        if any(n in text for n in needles):
            return kind, ""
    return "other", ""


def step(state: State, event: Event) -> tuple[State, Effect | None]:
    """The next state, and the effect to carry out (if any)."""
    if event.kind == "key":
        return _key(state, event.value)
    if event.kind == "press":
        return _press(state, event.value)
    if event.kind == "type":
        return _type(state, event.value), None
    if event.kind == "progress":
        return replace(state, progress=(*state.progress, event.value)), None
    if event.kind == "detected":
        screen: Screen = "hardware"
        return replace(state, screen=screen, hardware=event.lines, ready=event.ok, profile=event.value, focus=0), None
    if event.kind == "paired":
        device, _, site = event.value.partition("@")
        return replace(state, screen="testing", device=device, site=site, tests=(), error=None), Effect(
            "selftest", state.role
        )
    if event.kind == "refused":
        kind, role = classify_error(event.value)
        return replace(
            state, screen="code", error=kind, error_role=role, detail=event.value, focus=_index(state, "key:0")
        ), None
    if event.kind == "tested":
        verdict, _, line = event.value.partition(" ")
        return replace(state, tests=(*state.tests, (verdict, line))), None
    if event.kind == "selftest_done":
        if event.ok:
            return replace(state, screen="ready"), Effect("start", state.role)
        return replace(state, screen="test_failed", focus=0), None
    return state, None


def _index(state: State, target: str) -> int:
    screen = replace(state, screen="code")
    targets = screen.targets()
    return targets.index(target) if target in targets else 0


def _type(state: State, char: str) -> State:
    if state.screen != "code":
        return state
    c = char.upper()
    c = {"I": "1", "L": "1", "O": "0"}.get(c, c)
    if c not in KEYS or len(state.code) >= pairing.CODE_CHARS:
        return state
    return replace(state, code=state.code + c, error=None)


def _press(state: State, target: str) -> tuple[State, Effect | None]:
    if target not in state.targets():
        return state, None  # a stale touch on a screen already gone
    if target.startswith("lang:"):
        return replace(state, lang=target[5:]), None
    if target.startswith("role:"):
        role = target[5:]
        return replace(state, screen="detect", role=role, progress=(), hardware=(), focus=0), Effect("detect", role)
    if target == "retry" and state.screen == "hardware":
        return replace(state, screen="detect", progress=(), hardware=()), Effect("detect", state.role)
    if target == "retry" and state.screen == "test_failed":
        return replace(state, screen="testing", tests=()), Effect("selftest", state.role)
    if target == "back" and state.screen == "hardware":
        return replace(state, screen="role", focus=0), None
    if target == "back" and state.screen == "code":
        return replace(state, screen="hardware", focus=0, error=None), None
    if target == "next":
        return replace(state, screen="code", focus=0, error=None), None
    if target.startswith("key:"):
        return _type(state, target[4:]), None
    if target == "delete":
        return replace(state, code=state.code[:-1], error=None), None
    if target == "pair":
        try:
            pairing.decode(state.code)
        except pairing.PairingCodeError as err:
            kind, _ = classify_error(str(err))
            return replace(state, error=kind, detail=str(err)), None
        return replace(state, screen="pairing", error=None, detail=""), Effect("pair", state.role, state.code)
    return state, None


def _key(state: State, key: str) -> tuple[State, Effect | None]:
    targets = state.targets()
    if key == "BACK":
        if state.screen == "code" and state.code:
            return replace(state, code=state.code[:-1]), None
        return _press(state, "back") if "back" in targets else (state, None)
    if key in "0123456789" and len(key) == 1:
        return _type(state, key), None
    if not targets:
        return state, None
    if key == "OK":
        focused = state.focused
        return _press(state, focused) if focused is not None else (state, None)
    step_by = {"LEFT": -1, "RIGHT": 1, "UP": -1, "DOWN": 1}.get(key, 0)
    if state.screen == "code" and key in ("UP", "DOWN") and state.focus < len(KEYS):
        step_by *= KEY_COLUMNS  # the on-screen keys are a grid
    return replace(state, focus=(state.focus + step_by) % len(targets)), None
