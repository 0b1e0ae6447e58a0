"""Every text of the resident's progress page and the congestion page (the translators' catalogue).

The page's catalogs are a gettext domain of their own (``public``, in ``public/locale``), kept by
the same tool as the dispenser's and the kiosk's: ``python scripts/i18n.py
extract|update|compile|check``. The conventions are the dispenser's (ticket_dispenser/strings.py):

* Message ids are English; Japanese is a translation like the others. ``N_("...")`` only marks a
  string; :mod:`public.view` translates it when it builds a page.
* A message whose wording follows a count is ``NP_(singular, plural)``; translate it with
  ``ngettext_for(language)(*PEOPLE_AHEAD, n)`` and then ``.format(people=n)``.
* Placeholders are ``str.format`` fields; a translation keeps every one, spelt the same.
* The comment above each constant goes into the catalogs for the translators.

Residents read these on their own phones, some elderly, some new to Japan: short, plain, kind.
A status is never a reproach (a resident who missed the call is asked to come to reception, not
told off). Nothing here may name a procedure or a reason: the page holds nothing personal.

Purpose, station and counter names are not here: they come from the office's feed, in each
language it provides (:func:`common.i18n.purpose_name`).

scripts/i18n.py loads this module by path for DOMAIN and LANGUAGES, so it imports nothing but
the standard library and common.i18n.
"""

from __future__ import annotations

from pathlib import Path

from common.i18n import LANGUAGES, N_, NATIVE_NAMES, NP_, Catalog, Plural

__all__ = ["CATALOG", "LANGUAGES", "NATIVE_NAMES", "NP_", "N_", "Plural", "gettext_for", "ngettext_for"]

DOMAIN = "public"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
CATALOG = Catalog(DOMAIN, LOCALE_DIR)
gettext_for = CATALOG.gettext_for
ngettext_for = CATALOG.ngettext_for


# --------------------------------------------------------------------------------------------
# Every page
# --------------------------------------------------------------------------------------------

# The label of the language bar at the top of every page, read by screen readers (the
# languages themselves are shown in their own names).
LANGUAGE = N_("Language")
# A link on every page that loads the page again with the newest information (for phones
# that do not update the page by themselves).
REFRESH = N_("Refresh")
# A link at the bottom of the ticket page to the congestion page (how busy each purpose is).
CONGESTION_LINK = N_("Waiting times at the town hall")

# --------------------------------------------------------------------------------------------
# The ticket page: what a resident sees after scanning the QR code of their ticket
# --------------------------------------------------------------------------------------------

# The browser tab's title of the ticket page. {number}: the ticket's number, e.g. 1012.
TICKET_TITLE = N_("Ticket {number}")
# The small label above the ticket's number, which is shown very large.
YOUR_NUMBER = N_("Your number")
# Ticket page, the headline while the ticket waits to be called for the first time.
WAITING_HEAD = N_("Please wait until your number is called")
# Ticket page, while waiting: how many people are ahead in the queue (at least 1).
# {people}: that count.
PEOPLE_AHEAD = NP_("{people} person ahead of you", "{people} people ahead of you")
# Ticket page, while waiting, when nobody is ahead any more.
YOU_ARE_NEXT = N_("You are next")
# Ticket page, while waiting: the estimated wait. {minutes}: whole minutes, at least 1.
WAIT_ABOUT = NP_("Estimated wait: about {minutes} minute", "Estimated wait: about {minutes} minutes")
# Ticket page, while waiting, when the estimate is under a minute.
WAIT_SOON = N_("Estimated wait: a few moments")
# Ticket page, while waiting, when the office has no basis for an estimate yet (early in the day).
WAIT_UNKNOWN = N_("No estimate of the waiting time yet")
# Ticket page, under the estimate: estimates are not promises.
WAIT_NOTE = N_("Estimates can change. Please stay near the lobby.")
# Ticket page, the headline when the resident is called to a counter to start.
CALLED_HEAD = N_("It is your turn")
# Ticket page, when called (or when the documents are ready): where to go, shown very large.
# {counter}: the counter's number, e.g. 3.
COME_TO_COUNTER = N_("Please come to counter {counter}")
# The same, when the office's name of the counter says its number. {name}: that name, e.g.
# "Counter 4 (seated)" or "4番窓口（ローカウンター）", already in this language.
COME_TO_NAMED = N_("Please come to {name}")
# The same, when the office's name of the counter does not say its number. {counter}: its
# number; {name}: its name, e.g. "Consultation room", already in this language.
COME_TO_COUNTER_NAMED = N_("Please come to counter {counter} ({name})")
# Ticket page, the headline while staff work on the resident's procedures in the back office.
IN_PROGRESS_HEAD = N_("Your procedures are in progress")
# Ticket page, under that headline.
IN_PROGRESS_TEXT = N_("Please wait in the lobby. We will call your number when everything is ready.")
# Ticket page, while in progress: the station the ticket has reached, e.g. "Now at: Review".
# {station}: the station's name.
NOW_AT = N_("Now at: {station}")
# Ticket page, the headline when the procedures are finished and the resident should collect
# the documents at a counter.
READY_HEAD = N_("Everything is ready")
# Ticket page, the headline when staff paused the procedures for a while (e.g. waiting for a
# reply from another office). Kind, never alarming.
HELD_HEAD = N_("Your procedures are paused for a moment")
# Ticket page, under that headline.
HELD_TEXT = N_("A member of staff will speak to you. If you have a question, please ask at reception.")
# Ticket page, the headline when the resident was called but did not come. Never a reproach.
ABSENT_HEAD = N_("We called your number but could not find you")
# Ticket page, under that headline.
ABSENT_TEXT = N_("Please show this page or your ticket at reception.")
# Ticket page, the headline when everything is finished and handed over.
DONE_HEAD = N_("All done")
# Ticket page, under that headline.
DONE_TEXT = N_("Thank you for your visit.")
# Ticket page, the headline when staff cancelled the ticket (e.g. a ticket taken by mistake).
VOID_HEAD = N_("This ticket is no longer in use")
# Ticket page, under that headline.
VOID_TEXT = N_("If you still need help, please ask at reception.")
# Ticket page, the heading above the ticket's line of stations (like a train's route).
PROGRESS = N_("Progress")
# Ticket page, the first stop of the line: when the ticket was taken from the machine.
ISSUED = N_("Ticket taken")
# Ticket page, the mark on the stop the ticket is at now (like "you are here" on a map).
YOU_ARE_HERE = N_("Now here")
# Ticket page, said by screen readers for a stop the ticket has not reached yet.
NOT_YET = N_("not yet")
# Ticket page, at the bottom: when the ticket's information last changed. {time}: "10:42".
UPDATED_AT = N_("Updated at {time}")

# --------------------------------------------------------------------------------------------
# The congestion page: how busy each purpose is, for residents deciding when to come
# --------------------------------------------------------------------------------------------

# The congestion page's title and main heading.
CONGESTION_TITLE = N_("How busy is the town hall now?")
# The congestion page, under the heading.
CONGESTION_LEAD = N_("Waiting times by purpose of visit, to help you choose when to come.")
# The congestion page, the label above the number of people waiting for a purpose.
WAITING_LABEL = N_("Waiting")
# The congestion page, under that label: how many people wait. {people}: that count (may be 0).
PEOPLE = NP_("{people} person", "{people} people")
# The congestion page, one purpose: the estimated wait for someone arriving now.
# {minutes}: whole minutes.
WAIT_MINUTES = NP_("About {minutes} minute", "About {minutes} minutes")
# The congestion page, one purpose, when someone arriving now would not wait.
NO_WAIT = N_("No wait")
# The congestion page, one purpose, when the office has no estimate.
NO_ESTIMATE = N_("No estimate")
# The congestion page, the label before the estimated wait.
WAIT_LABEL = N_("Estimated wait")
# The congestion page, the label before the number last called for a purpose.
LAST_CALLED_LABEL = N_("Last number called")
# The congestion page, when no number of a purpose has been called yet today.
NONE_CALLED = N_("None yet")
# The congestion level of a purpose, shown in a green badge.
LEVEL_GREEN = N_("Not busy")
# The congestion level of a purpose, shown in a yellow badge.
LEVEL_YELLOW = N_("Fairly busy")
# The congestion level of a purpose, shown in a red badge.
LEVEL_RED = N_("Very busy")
# The congestion page, at the bottom: when the figures were sent. {time}: "10:42".
AS_OF = N_("As of {time}")
# The congestion page, when the office has sent nothing yet today (or the day has ended).
NO_DATA = N_("There is no information for today yet.")

# --------------------------------------------------------------------------------------------
# The page for a wrong or expired address
# --------------------------------------------------------------------------------------------

# The heading of the page shown for an address that is wrong or has expired.
NOT_FOUND_HEAD = N_("This page cannot be shown")
# Under that heading. Ticket pages close when the office's day ends; never say which case it is.
NOT_FOUND_TEXT = N_(
    "The address may be wrong, or the page has closed. "
    "A ticket's page can be seen only on the day the ticket was taken."
)
