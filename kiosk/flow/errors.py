"""The flow's exceptions: one root (:class:`FlowError`, a :class:`~kiosk.ports.KioskError`) and
its two kinds - a configuration that cannot run, and a state the flow's own rules never make."""

from __future__ import annotations

from typing import TypeVar

from kiosk.ports import KioskError

T = TypeVar("T")


class FlowError(KioskError):
    """Root of the flow's exceptions."""


class FlowConfigError(FlowError, ValueError):
    """The kiosk's flow configuration is invalid; the message names the key and the fix."""


class FlowStateError(FlowError):
    """The flow was handed a state its own transitions never produce (a bug, not a resident's doing).

    Raised instead of an ``assert``: the check stays under ``python -O``, and the runtime sees
    the flow's own error rather than an AssertionError.
    """


def known(value: T | None, what: str) -> T:
    """``value``, which the flow's invariants say is set by now; :class:`FlowStateError` if not."""
    if value is None:
        raise FlowStateError(f"{what} is not set at this point of the visit")
    return value
