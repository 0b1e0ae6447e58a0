"""Every text the lobby board shows besides the office's names (the translators' catalogue).

The board's catalogs are a gettext domain of their own (``board``, in ``display_board/locale``),
kept by the same tool as the other screens': ``python scripts/i18n.py extract|update|compile|check``.
The conventions are the dispenser's (see ticket_dispenser/strings.py): English message ids,
Japanese a translation like the others, ``N_("...")`` only marks a string.

The board shows Japanese always and one more language in turn (the caption's rotation): each
text below is drawn as "Japanese / that language". Station and purpose names come from the
office's configuration, not from here.

scripts/i18n.py loads this module by path for DOMAIN, so it imports nothing but the standard
library and common.i18n.
"""

from __future__ import annotations

from pathlib import Path

from common.i18n import LANGUAGES, N_, Catalog

__all__ = ["CATALOG", "LANGUAGES", "N_", "gettext_for"]

DOMAIN = "board"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
CATALOG = Catalog(DOMAIN, LOCALE_DIR)
gettext_for = CATALOG.gettext_for

# Above the list of numbers being called to a counter, at the right of the board.
NOW_CALLING = N_("Now calling")
# Under the first dot of each line, where a ticket waits before its first station (the board
# draws each ticket as a train; this is where it waits to leave).
PLATFORM = N_("Platform")
# Shown on the board until the office's first information arrives after the board starts.
WAITING_FOR_OFFICE = N_("Waiting for the office")
# The caption along the bottom of the board.
CAPTION = N_("When your number appears, please go to the counter shown")
# Why a number is called, after the counter in the now-calling list: to start the procedure
# at that counter.
TO_START = N_("to start")
# ... or to collect what was made (a certificate, a card) at that counter.
TO_COLLECT = N_("to collect")
# Under each purpose in the footer: how many wait for it, and the wait a new arrival can expect.
WAITING_AND_WAIT = N_("{waiting} waiting, ~{minutes} min")
# The same when the office has no basis yet for an estimate.
WAITING_COUNT = N_("{waiting} waiting")
# Under the platform when more wait than the board lists (the office lists the oldest).
MORE_WAITING = N_("{count} more waiting")
# At the top right when the office has not been heard for a while: the board shows what it knew
# at that time (HH:MM) and keeps trying.
UPDATED = N_("Updated {time}, checking the connection")
