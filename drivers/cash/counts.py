"""Hopper counts that survive a restart.

A hopper cannot count its coins: the ccTalk cash box counts down from the configured
``count``. :class:`CountedCashBox` stores the counts after every payout in a store its caller
owns (the kiosk keeps ``<data>/cash.json``), and at start uses the stored counts unless the
configured counts changed since they were stored: staff refilled a hopper and wrote its new
count into the configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from drivers.cash.box import CashBox
from drivers.cash.cctalk_box import CcTalkCashBox
from drivers.cash.events import CashEvent

log = logging.getLogger(__name__)

COUNTS_KEY = "hoppers"


class CountStore(Protocol):
    """Small JSON documents by key in a crash-safe file (the kiosk's ``sync.store.StateStore``)."""

    def get(self, key: str) -> dict[str, Any] | None:
        """A copy of the document under ``key``, or None."""

    def put(self, key: str, doc: Mapping[str, Any]) -> None:
        """Durably store ``doc`` under ``key``."""

    def close(self) -> None:
        """Release the file."""


class CountedCashBox(CashBox):
    """A ccTalk cash box whose hopper counts survive restarts, kept in ``store``.

    The stored document is ``{"configured": {coin: count}, "counts": {coin: count}}`` (coins as
    strings). ``store_errors``: the store's exceptions that mean "not stored"; they are logged,
    never raised, because a payout that happened must be reported as paid even when its new
    counts could not be written.
    """

    def __init__(
        self, box: CcTalkCashBox, store: CountStore, *, store_errors: tuple[type[Exception], ...] = (OSError,)
    ) -> None:
        self.box = box
        self._store = store
        self._store_errors = store_errors
        configured = {str(h.coin): h.count for h in box.config.hoppers}
        stored = store.get(COUNTS_KEY)
        if stored is not None and stored.get("configured") == configured and isinstance(stored.get("counts"), dict):
            for coin, count in stored["counts"].items():
                if isinstance(count, int) and int(coin) in box.hopper_counts:
                    box.refill(int(coin), count)
            log.info("hopper counts from the last run: %s", box.hopper_counts)
        self._configured = configured
        self._save()

    @property
    def hopper_counts(self) -> dict[int, int]:
        """Coin -> coins the cash box believes each hopper holds."""
        return self.box.hopper_counts

    def _save(self) -> None:
        counts = {str(c): n for c, n in self.box.hopper_counts.items()}
        try:
            self._store.put(COUNTS_KEY, {"configured": self._configured, "counts": counts})
        except self._store_errors as err:
            log.error("hopper counts not saved: %s", err)

    def accept(self, max_note: int | None) -> None:
        """Accept coins, and notes up to ``max_note``."""
        self.box.accept(max_note)

    def inhibit(self) -> None:
        """Accept nothing."""
        self.box.inhibit()

    def poll(self) -> list[CashEvent]:
        """New events."""
        return self.box.poll()

    def cursor(self) -> dict[str, int]:
        """The acceptors' event counters as of the last poll."""
        return self.box.cursor()

    def resume(self, cursor: Mapping[str, int]) -> None:
        """Report again the acceptors' events after the journalled counters."""
        self.box.resume(cursor)

    def stack_note(self) -> None:
        """Escrow -> cash box."""
        self.box.stack_note()

    def return_note(self) -> None:
        """Escrow -> resident."""
        self.box.return_note()

    def pay_out(self, amount: int) -> int:
        """Pay and store the new counts (even when the payout failed part way)."""
        try:
            return self.box.pay_out(amount)
        finally:
            self._save()

    def can_pay(self, amount: int) -> bool:
        """Whether the hoppers can pay exactly ``amount``."""
        return self.box.can_pay(amount)

    def close(self) -> None:
        """Close the devices and the count store."""
        try:
            self.box.close()
        finally:
            self._store.close()
