"""The cash box's errors: one root, :class:`CashError`, so a caller can catch all of them.

The ccTalk layer's own errors (:class:`drivers.cctalk.CcTalkError`) are translated into these
(``raise … from err``) where they enter the cash box, or reported as fault events when polling.
"""

from __future__ import annotations


class CashError(Exception):
    """Root of the cash errors."""


class CashConfigError(CashError, ValueError):
    """A cash configuration that cannot be used; the message names the key and the fix."""


class CashStateError(CashError):
    """An operation that is not valid now (stack or return with no note in escrow, closed box)."""


class CashDeviceError(CashError):
    """A device failed or did not answer; the message names it and its address."""
