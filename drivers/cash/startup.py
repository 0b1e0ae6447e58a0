"""Opening a cash box: the configured backend, and for a kiosk that starts, one made ready.

:func:`open_cash_box` picks the backend by the configuration's ``backend``: ``cctalk`` (real
devices) or ``fake`` (in memory); the fake is never a silent fallback for missing hardware.

:func:`open_settled_cash_box` is what the kiosk opens at start. Only the configuration knows
the hardware, so two things happen here before the runtime takes over: a note an earlier run
left in the bill validator's escrow is stacked when the caller's journal says the kiosk had
decided to stack it (its recovery counts that note as paid and refunds it), and returned
otherwise (:func:`settle_escrow`); and the hoppers' coin counts are kept across restarts in a
store the caller owns (:class:`~drivers.cash.counts.CountedCashBox`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any

from drivers.cash.box import CashBox
from drivers.cash.cctalk_box import CcTalkCashBox, open_bus
from drivers.cash.config import CashConfig
from drivers.cash.counts import CountedCashBox, CountStore
from drivers.cash.fake import FakeCashBox
from drivers.cctalk import ROUTE_RETURN, ROUTE_STACK, BillValidator, CcTalkBus, CcTalkError, RouteError

log = logging.getLogger(__name__)


def open_cash_box(config: CashConfig | Mapping[str, Any]) -> CashBox:
    """The configured backend, started: ``cctalk`` (real devices) or ``fake`` (in memory)."""
    cfg = config if isinstance(config, CashConfig) else CashConfig.from_mapping(config)
    if cfg.backend == "fake":
        return FakeCashBox(hoppers={h.coin: h.count for h in cfg.hoppers}, coins=cfg.coins, notes=cfg.notes)
    return CcTalkCashBox.connect(cfg)


def settle_escrow(bus: CcTalkBus, config: CashConfig, stack_values: Collection[int]) -> str | None:
    """Before the cash box starts: route a note an earlier run left in escrow.

    Stacked when its value is one the journal decided to stack (recovery counts that note as
    paid and refunds it), returned to the tray otherwise. Returns "stacked", "returned" or None.
    """
    validator = BillValidator(bus, config.bill_validator)
    try:
        events = validator.read_events().events
    except CcTalkError as err:
        log.warning("bill validator: escrow not checked at start: %s", err)
        return None
    if not events or events[0][0] == 0 or events[0][1] != 1:
        return None  # the newest event is not "held in escrow"
    try:
        value = validator.bill_values(config.country).get(events[0][0])
    except CcTalkError as err:
        log.warning("bill validator: note table not read, returning the note in escrow: %s", err)
        value = None
    stack = value is not None and value in stack_values
    try:
        validator.route_bill(ROUTE_STACK if stack else ROUTE_RETURN)
    except RouteError as err:
        if err.code == 254:
            return None  # the escrow timed out meanwhile: the note is back in the tray
        log.error("bill validator: cannot route the note left in escrow: %s", err)
        return None
    except CcTalkError as err:
        log.error("bill validator: cannot route the note left in escrow: %s", err)
        return None
    what = "stacked" if stack else "returned"
    log.warning("a %s-yen note left in escrow by the last run was %s", value, what)
    return what


def open_settled_cash_box(
    config: CashConfig,
    *,
    decided_to_stack: Callable[[], Collection[int]],
    open_counts: Callable[[], CountStore],
    store_errors: tuple[type[Exception], ...] = (OSError,),
) -> CashBox:
    """The configured cash box, ready for a kiosk that starts: for ccTalk, the escrow settled
    and the hopper counts kept; the fake backend as :func:`open_cash_box` opens it.

    ``decided_to_stack()``: the note values the kiosk's journal decided to stack without a
    confirmation (asked once the bus is open). ``open_counts()``: the store for the hopper
    counts, opened once the cash box started (its errors propagate, the box closed);
    ``store_errors`` are the store's exceptions for a count that could not be written.
    """
    if config.backend != "cctalk":
        return open_cash_box(config)
    bus = open_bus(config)
    try:
        settle_escrow(bus, config, decided_to_stack())
        box = CcTalkCashBox(bus, config)
        box.start()
    except BaseException:
        bus.close()
        raise
    try:
        store = open_counts()
    except BaseException:
        box.close()
        raise
    try:
        return CountedCashBox(box, store, store_errors=store_errors)
    except BaseException:
        store.close()
        box.close()
        raise
