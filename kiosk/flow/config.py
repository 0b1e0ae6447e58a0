"""The flow's configuration: :class:`FlowConfig` (what the flow runs with, in milliseconds) and
:class:`KioskSection`, the model of the ``[kiosk]`` section of a kiosk's device configuration
(as written, in seconds), validated with msgspec through common.validation.

Types, ranges and names live in the models (a fee is a positive multiple of 10 yen for a kind
that exists); only a timeout's step is checked after conversion, for its "did you mean". A
:class:`FlowConfig` built directly (tests, the runtime's defaults) is checked by the same library
through a model of its own fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Annotated, Any

import msgspec

from common.validation import Invalid, convert, did_you_mean, info
from kiosk.flow.constants import (
    DEFAULT_FEES,
    DEFAULT_TIMEOUTS_MS,
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
Yen = Annotated[int, info(gt=0, multiple_of=10, what="a positive yen amount in 10-yen steps, e.g. 300")]
Timeouts = Annotated[dict[str, Seconds], info(what="a table of step = seconds, e.g. pin = 60")]
WarningSeconds = Annotated[
    float, info(ge=0, le=_MAX_SECONDS, what=f"a number of seconds from 0 to {_MAX_SECONDS} (0: no warning)")
]
Copies = Annotated[int, info(ge=1, le=MAX_COPIES)]
Languages = Annotated[
    tuple[Language, ...], info(min_length=1, what=f'a list of languages from {", ".join(LANGUAGES)}, e.g. ["ja", "en"]')
]
Reminders = Annotated[int, info(ge=0)]
DeviceId = Annotated[str, info(pattern=VALID_ID.pattern, what="1-40 letters, digits, '-', '_' or '.' (e.g. kiosk-1)")]
Milliseconds = Annotated[int, info(gt=0, what="a positive number of milliseconds")]
_FEES_WHAT = "a table of certificate kind = yen, e.g. koseki = 450"


class FeeOverrides(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[kiosk.fees]``: the yen of a copy, for the kinds whose fee differs from the default
    (the fields are :data:`KINDS`; a test keeps the two equal)."""

    juminhyo: Yen | None = None
    inkan: Yen | None = None
    koseki: Yen | None = None
    fuhyo: Yen | None = None
    shotoku: Yen | None = None

    def given(self) -> dict[str, int]:
        """The kinds given, with their yen."""
        return {kind: fee for kind in self.__struct_fields__ if (fee := getattr(self, kind)) is not None}


class FeeTable(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A full fee table, every kind of :data:`KINDS` (a test keeps the two equal)."""

    juminhyo: Yen
    inkan: Yen
    koseki: Yen
    fuhyo: Yen
    shotoku: Yen


class KioskSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The flow's keys of the ``[kiosk]`` section (the office link's own keys are taken out first).

    ``fees`` and ``timeouts`` override :data:`DEFAULT_FEES` and :data:`DEFAULT_TIMEOUTS_MS` key
    by key; times are in seconds, as a technician writes them.
    """

    fees: Annotated[FeeOverrides, info(what=_FEES_WHAT)] = FeeOverrides()
    timeouts: Timeouts = {}
    warning: WarningSeconds = 15
    max_copies: Copies = MAX_COPIES
    languages: Languages = LANGUAGES
    take_card_reminders: Reminders = 3


class _FlowModel(msgspec.Struct, frozen=True, kw_only=True):
    """What :class:`FlowConfig` holds, typed: a config built in code is checked by the same
    library as one read from a file (key paths are FlowConfig's own fields)."""

    device_id: DeviceId
    fees: Annotated[FeeTable, info(what=_FEES_WHAT)]
    timeouts_ms: Annotated[dict[str, Milliseconds], info(what="a mapping of step to milliseconds")]
    warning_ms: Annotated[int, info(ge=0, what="a number of milliseconds of at least 0 (0: no warning)")]
    max_copies: Copies
    languages: Languages
    take_card_reminders: Reminders


def _steps_problem(keys: Iterable[str], where: str) -> str | None:
    """The first timeout key that names no step with a timeout, or None."""
    for key in keys:
        if key not in DEFAULT_TIMEOUTS_MS:
            steps = list(DEFAULT_TIMEOUTS_MS)
            return f"{where}timeouts.{key}: no such step{did_you_mean(key, steps)}; use one of {', '.join(steps)}"
    return None


def _plain(value: object) -> object:
    # msgspec converts dicts, not other mappings (the defaults are read-only MappingProxyTypes).
    return dict(value) if isinstance(value, Mapping) else value


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
        try:
            convert({f.name: _plain(getattr(self, f.name)) for f in fields(self)}, _FlowModel)
        except Invalid as err:
            raise FlowConfigError(str(err)) from err
        # A step's name, checked apart from the types for its "did you mean".
        problem = _steps_problem(self.timeouts_ms, "")
        if problem:
            raise FlowConfigError(problem)

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
    fees = {**DEFAULT_FEES, **section.fees.given()}
    problem = _steps_problem(section.timeouts, "kiosk.")
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
