"""Cash handling for the certificate kiosk: one facade over coin acceptor, bill validator and hoppers.

Money is int yen. The kiosk accepts 10, 50, 100 and 500 yen coins and 1000, 5000 and 10000
yen notes (2000 yen notes are refused), and pays change and refunds from hoppers holding 10,
100 and 500 yen coins (50 yen of change is paid as 10s).

:class:`CashBox` is the interface the kiosk uses. Two backends:

* :class:`CcTalkCashBox`: real devices on a ccTalk bus (``drivers/cctalk.py``; the simulator
  ``drivers/fake_cctalk.py`` plays them over a pty for tests and the demo).
* :class:`FakeCashBox`: an in-memory behavioural model for fast kiosk tests.

:func:`open_cash_box` picks one by the configuration's ``backend``; the fake is never a silent
fallback for missing hardware. :func:`open_settled_cash_box` is what the kiosk opens at start:
a note an earlier run left in escrow settled as the kiosk's journal decided, and the hoppers'
counts kept across restarts (:class:`CountedCashBox`).

The kiosk calls :meth:`CashBox.poll` every 100-200 ms and reacts to the events: a
:class:`NoteEscrowed` note is either stacked (:meth:`CashBox.stack_note`, then
:class:`NoteStacked`) or handed back (:meth:`CashBox.return_note`, then :class:`NoteReturned`);
only :class:`CoinAccepted` and :class:`NoteStacked` are money the kiosk has. :meth:`CashBox.pay_out`
blocks while the hoppers run and returns what they really paid; a :class:`ChangePaid` event
follows on the next poll, for the cash report.

The modules, each about one thing:

* ``events``: the events :meth:`CashBox.poll` returns; ``errors``: :class:`CashError` and its kinds;
* ``box``: :class:`CashBox`, the denominations and the devices' names;
* ``config``: :class:`CashConfig`, the ``[cash]`` table as a typed model;
* ``payout``: change planning (pure) and a payout run hopper by hopper;
* ``cctalk_box``: :class:`CcTalkCashBox` and :func:`open_bus`; ``fake``: :class:`FakeCashBox`;
* ``counts``: :class:`CountedCashBox`; ``startup``: the openers and :func:`settle_escrow`.

Imports: of the project, :mod:`common` (the ``[cash]`` model's validation) and the ccTalk
driver beside it (``drivers.cctalk``) - never sync, an app or the profiles.
"""

from __future__ import annotations

from drivers.cash.box import (
    ACCEPTED_COINS,
    ACCEPTED_NOTES,
    BILL_VALIDATOR,
    COIN_ACCEPTOR,
    REFUSED_NOTES,
    CashBox,
    hopper_name,
)
from drivers.cash.cctalk_box import VERIFY_EVERY_POLLS, CcTalkCashBox, open_bus
from drivers.cash.config import DEFAULT_HOPPERS, KNOWN_KEYS, CashConfig, HopperConfig
from drivers.cash.counts import CountedCashBox, CountStore
from drivers.cash.errors import CashConfigError, CashDeviceError, CashError, CashStateError
from drivers.cash.events import (
    CashEvent,
    CashFault,
    ChangePaid,
    CoinAccepted,
    EventsLost,
    NoteEscrowed,
    NoteReturned,
    NoteStacked,
)
from drivers.cash.fake import FakeCashBox
from drivers.cash.payout import plan_payout, plan_value
from drivers.cash.startup import open_cash_box, open_settled_cash_box, settle_escrow

# The [cash] keys by their old name: tests/test_profiles.py checks the kiosk role writes only these.
_KNOWN = KNOWN_KEYS

__all__ = [
    "ACCEPTED_COINS",
    "ACCEPTED_NOTES",
    "BILL_VALIDATOR",
    "COIN_ACCEPTOR",
    "DEFAULT_HOPPERS",
    "KNOWN_KEYS",
    "REFUSED_NOTES",
    "VERIFY_EVERY_POLLS",
    "CashBox",
    "CashConfig",
    "CashConfigError",
    "CashDeviceError",
    "CashError",
    "CashEvent",
    "CashFault",
    "CashStateError",
    "CcTalkCashBox",
    "ChangePaid",
    "CoinAccepted",
    "CountStore",
    "CountedCashBox",
    "EventsLost",
    "FakeCashBox",
    "HopperConfig",
    "NoteEscrowed",
    "NoteReturned",
    "NoteStacked",
    "hopper_name",
    "open_bus",
    "open_cash_box",
    "open_settled_cash_box",
    "plan_payout",
    "plan_value",
    "settle_escrow",
]
