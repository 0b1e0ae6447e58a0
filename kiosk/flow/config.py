"""The flow's configuration: :class:`FlowConfig` (what the flow runs with, in milliseconds) and
:class:`KioskSection`, the model of the ``[kiosk]`` section of a kiosk's device configuration
(as written, in seconds), validated with msgspec through common.validation.

Types and ranges live in the model; the rules across keys (a fee for a kind that exists, in
10-yen steps; a timeout for a step that exists) are plain checks after conversion, shared with
:class:`FlowConfig`, which checks itself when built directly (tests, the runtime's defaults).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated, Any

import msgspec

from common.validation import Invalid, convert, did_you_mean, info
from kiosk.flow.constants import (
    DEFAULT_FEES,
    DEFAULT_TIMEOUTS_MS,
    KINDS,
    LANGUAGES,
    MAX_COPIES,
    VALID_ID,
    Language,
    Step,
)
from kiosk.flow.errors import FlowConfigError

# A day is longer than any step may sensibly last; the bound also keeps out inf (and nan).
_MAX_SECONDS = 86_400

# The fields' types, as aliases: they are evaluated here, where msgspec reads them.
Seconds = Annotated[float, info(ge=0.001, le=_MAX_SECONDS, what=f"a number of seconds from 0.001 to {_MAX_SECONDS}")]
Fees = Annotated[dict[str, int], info(what="a table of certificate kind = yen, e.g. koseki = 450")]
Timeouts = Annotated[dict[str, Seconds], info(what="a table of step = seconds, e.g. pin = 60")]
WarningSeconds = Annotated[
    float, info(ge=0, le=_MAX_SECONDS, what=f"a number of seconds from 0 to {_MAX_SECONDS} (0: no warning)")
]
Copies = Annotated[int, info(ge=1, le=MAX_COPIES)]
Languages = Annotated[
    tuple[Language, ...], info(min_length=1, what=f'a list of languages from {", ".join(LANGUAGES)}, e.g. ["ja", "en"]')
]
Reminders = Annotated[int, info(ge=0)]


class KioskSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The flow's keys of the ``[kiosk]`` section (the office link's own keys are taken out first).

    ``fees`` and ``timeouts`` override :data:`DEFAULT_FEES` and :data:`DEFAULT_TIMEOUTS_MS` key
    by key; times are in seconds, as a technician writes them.
    """

    fees: Fees = {}
    timeouts: Timeouts = {}
    warning: WarningSeconds = 15
    max_copies: Copies = MAX_COPIES
    languages: Languages = LANGUAGES
    take_card_reminders: Reminders = 3


def _fees_problem(fees: Mapping[str, object], where: str) -> str | None:
    """What is wrong with a full fee table (every kind, nothing else), or None."""
    for kind in KINDS:
        fee = fees.get(kind)
        if isinstance(fee, bool) or not isinstance(fee, int) or fee <= 0 or fee % 10:
            return f"{where}fees.{kind} = {fee!r}: give a positive yen amount in 10-yen steps, e.g. 300"
    for key in fees:
        if key not in KINDS:
            return f"{where}fees.{key}: unknown certificate kind; use one of {', '.join(KINDS)}"
    return None


def _steps_problem(keys: Iterable[str], where: str) -> str | None:
    """The first timeout key that names no step with a timeout, or None."""
    for key in keys:
        if key not in DEFAULT_TIMEOUTS_MS:
            steps = list(DEFAULT_TIMEOUTS_MS)
            return f"{where}timeouts.{key}: no such step{did_you_mean(key, steps)}; use one of {', '.join(steps)}"
    return None


@dataclass(frozen=True)
class FlowConfig:
    """Fees, timeouts and limits of the flow (validated on construction)."""

    device_id: str
    fees: Mapping[str, int] = field(default_factory=lambda: DEFAULT_FEES)
    timeouts_ms: Mapping[str, int] = field(default_factory=lambda: DEFAULT_TIMEOUTS_MS)
    warning_ms: int = 15_000
    max_copies: int = MAX_COPIES
    languages: tuple[str, ...] = LANGUAGES
    take_card_reminders: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.device_id, str) or not VALID_ID.match(self.device_id):
            raise FlowConfigError(
                f"device_id {self.device_id!r}: use 1-40 letters, digits, '-', '_' or '.' (e.g. kiosk-1)"
            )
        problem = _fees_problem(self.fees, "") or _steps_problem(self.timeouts_ms, "")
        if problem:
            raise FlowConfigError(problem)
        for key, value in self.timeouts_ms.items():
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise FlowConfigError(f"timeouts.{key} = {value!r}: give a positive number of seconds")
        if isinstance(self.warning_ms, bool) or not isinstance(self.warning_ms, int) or self.warning_ms < 0:
            raise FlowConfigError(f"warning = {self.warning_ms!r}: give seconds >= 0 (0: no warning)")
        if (
            isinstance(self.max_copies, bool)
            or not isinstance(self.max_copies, int)
            or not 1 <= self.max_copies <= MAX_COPIES
        ):
            raise FlowConfigError(f"max_copies = {self.max_copies!r}: give 1 to {MAX_COPIES}")
        if not self.languages or any(lang not in LANGUAGES for lang in self.languages):
            raise FlowConfigError(f"languages = {list(self.languages)!r}: choose from {', '.join(LANGUAGES)}")
        if not isinstance(self.take_card_reminders, int) or self.take_card_reminders < 0:
            raise FlowConfigError(f"take_card_reminders = {self.take_card_reminders!r}: give an int >= 0")

    def timeout_ms(self, step: Step) -> int | None:
        """How long ``step`` may last (None: no limit)."""
        return self.timeouts_ms.get(step.value, DEFAULT_TIMEOUTS_MS.get(step.value))


def config_from_mapping(device_id: str, data: Mapping[str, Any]) -> FlowConfig:
    """Build a :class:`FlowConfig` from the kiosk section of a configuration file.

    Keys (:class:`KioskSection`): ``fees`` (kind -> yen), ``timeouts`` (step -> seconds),
    ``warning`` (seconds), ``max_copies``, ``languages``, ``take_card_reminders``. Unknown keys
    are errors. :class:`FlowConfigError` names the key path (``kiosk.timeouts.pin: …``) and the
    fix; only a bad ``device_id`` (not a key of the section) is named as ``device_id``.
    """
    try:
        section = convert(data, KioskSection)
    except Invalid as err:
        raise FlowConfigError(str(err.within("kiosk"))) from err
    fees = {**DEFAULT_FEES, **section.fees}
    problem = _fees_problem(fees, "kiosk.") or _steps_problem(section.timeouts, "kiosk.")
    if problem:
        raise FlowConfigError(problem)
    # round(), not int(): 2.01 s is 2010 ms, though 2.01 * 1000 is a hair under 2010 in binary.
    timeouts_ms = {**DEFAULT_TIMEOUTS_MS, **{key: round(s * 1000) for key, s in section.timeouts.items()}}
    return FlowConfig(
        device_id=device_id,
        fees=MappingProxyType(fees),
        timeouts_ms=MappingProxyType(timeouts_ms),
        warning_ms=round(section.warning * 1000),
        max_copies=section.max_copies,
        languages=tuple(section.languages),
        take_card_reminders=section.take_card_reminders,
    )
