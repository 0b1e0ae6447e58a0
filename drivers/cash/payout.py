"""Paying change: which coins to pay (pure), and running a payout hopper by hopper.

The hoppers hold 10, 100 and 500 yen coins (50 yen of change is paid as 10s). Each coin
divides the next, so paying greedily, largest coin first, is optimal: if greedy cannot pay an
amount exactly, nothing can, and :meth:`~drivers.cash.box.CashBox.can_pay` relies on that.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from drivers.cash.events import CashFault
from drivers.cctalk import MAX_DISPENSE


def plan_payout(amount: int, holdings: Mapping[int, int]) -> dict[int, int]:
    """Coins to pay ``amount`` greedily, largest first, using at most ``holdings[coin]`` of each.

    With 10/100/500 (each coin divides the next) greedy is optimal: if it cannot pay exactly,
    nothing can. The plan may pay less than ``amount`` when coins are short.
    """
    plan: dict[int, int] = {}
    remaining = amount
    for coin in sorted(holdings, reverse=True):
        count = min(remaining // coin, max(0, holdings[coin]))
        if count:
            plan[coin] = count
            remaining -= count * coin
    return plan


def plan_value(plan: Mapping[int, int]) -> int:
    """The yen a plan pays."""
    return sum(coin * count for coin, count in plan.items())


def check_amount(amount: int, what: str) -> None:
    """ValueError naming ``what`` unless ``amount`` is a whole number of yen, 0 or more."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError(f"{what}: {amount!r} is not an amount of yen (a whole number, 0 or more)")


@dataclass
class Payout:
    """Bookkeeping of one pay_out across hoppers: yen paid, faults met, whether it stopped."""

    paid: int = 0
    faults: list[CashFault] = field(default_factory=list)
    stop: bool = False


def pay_greedy(
    amount: int,
    holdings: Mapping[int, int],
    dispense: Callable[[int, int], tuple[int, CashFault | None, bool]],
) -> Payout:
    """Pay ``amount`` hopper by hopper, largest coin first. ``dispense(coin, count)`` returns
    (coins paid, a fault or None, whether to stop everything); a hopper that pays short leaves
    the rest to the smaller ones."""
    out = Payout()
    for coin in sorted(holdings, reverse=True):
        want = min((amount - out.paid) // coin, max(0, holdings[coin]))
        while want > 0:
            chunk = min(want, MAX_DISPENSE)
            paid, fault, stop = dispense(coin, chunk)
            out.paid += paid * coin
            want -= chunk
            if fault is not None:
                out.faults.append(fault)
            if stop:
                out.stop = True
                return out
            if paid < chunk:
                break
    return out
