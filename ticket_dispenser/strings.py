"""Every resident-facing string of the dispenser app, grouped by screen (the translators' catalogue).

Conventions
-----------
* Message ids are English. ``N_("...")`` only marks a string for extraction and returns it
  unchanged; the screen translates it when it draws: ``gettext_for(language)(START_TITLE)``.
* A message with a count that changes the wording in some language (English "1 person" /
  "2 people", Portuguese "1 minuto" / "2 minutos") is marked ``NP_(singular, plural)``. It is a
  :class:`Plural`; translate it with ``ngettext_for(language)(*PEOPLE_AHEAD, n)``, then
  ``.format(people=n)``. Japanese, Chinese, Korean and Vietnamese have one form, English and
  Portuguese two (each ``.po`` file's ``Plural-Forms`` header says which form a count takes).
  Lines that abbreviate ("3 waiting · about 10 min") read correctly for any count and stay ``N_``.
* Placeholders are ``str.format`` fields: ``{people}``. A translation keeps every placeholder
  of its message id, spelt the same, and may move it; ``scripts/i18n.py check`` enforces it.
* The comment above each constant is copied into the catalogues for the translators: it says
  where the text appears and what each placeholder holds. Keep texts short: most are read on a
  button or a screen, by residents who may be elderly or new to Japan.
* Purpose (category), station and procedure names are not here: they come from the office's
  configuration (``office/default_site.toml``), in each language it provides.

Adding a string: add it here with its comment, use it in the screen, then run
``python scripts/i18n.py extract && python scripts/i18n.py update``, translate the new
entries in ``ticket_dispenser/locale/*/LC_MESSAGES/madoguchi.po``, and run
``python scripts/i18n.py compile && python scripts/i18n.py check``. The script works through
Babel (installed with the ``test`` extra); the app itself loads the committed ``.mo`` files
with stdlib gettext. A new or reworded string may come with the translation of a similar one,
marked ``#, fuzzy``: ``check`` fails until a translator has made it right and removed the flag.
"""

from __future__ import annotations

from pathlib import Path

from common.i18n import LANGUAGES, N_, NATIVE_NAMES, NP_, Catalog, Plural, purpose_name

__all__ = ["CATALOG", "LANGUAGES", "NATIVE_NAMES", "NP_", "N_", "Plural", "gettext_for", "ngettext_for", "purpose_name"]

DOMAIN = "madoguchi"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
# The dispenser's catalog (and the board's: it shows the dispenser's words for the lobby).
CATALOG = Catalog(DOMAIN, LOCALE_DIR)
gettext_for = CATALOG.gettext_for
ngettext_for = CATALOG.ngettext_for


# --------------------------------------------------------------------------------------------
# Start screen: one button per purpose
# --------------------------------------------------------------------------------------------

# Start screen, the title at the top.
START_TITLE = N_("Please choose the purpose of your visit")
# Start screen, under the title. The keypad is the tactile keypad below the touch screen.
START_SUBTITLE = N_("Touch a button, or use the keypad")
# Start screen, the label of the language bar (the languages are shown in their own names).
LANGUAGE_LABEL = N_("Language")
# Start screen, the small line on each purpose button, under the purpose's name.
# {waiting}: how many people are waiting for this purpose; {minutes}: the estimated wait in
# minutes. Abbreviate: it must fit on one short line.
PURPOSE_WAIT = N_("{waiting} waiting · about {minutes} min")
# Start screen, the small line on a purpose button when nobody is waiting for it.
# Also on the result screen when the estimated wait is 0 minutes.
NO_WAIT = N_("No wait")
# Start screen, the small line on a purpose button when the office cannot be reached and
# there is no estimate of the wait.
WAIT_UNAVAILABLE = N_("Wait time unavailable")
# Start screen, the help line at the bottom.
START_HELP = N_("Not sure? Please ask the staff at the information desk")

# --------------------------------------------------------------------------------------------
# Checklist screen: the procedures of a purpose that has several (e.g. moving in)
# --------------------------------------------------------------------------------------------

# Checklist screen, the title.
CHECKLIST_TITLE = N_("Which procedures do you need today?")
# Checklist screen, under the title: ticking procedures helps the staff but is not required.
CHECKLIST_HINT = N_("Choose all that apply (optional)")
# Checklist screen, the main button: prints the numbered queue ticket.
ISSUE_TICKET = N_("Issue ticket")
# Checklist screen, the button that returns to the list of purposes.
BACK = N_("Back")

# --------------------------------------------------------------------------------------------
# Result screen: after the ticket is printed
# --------------------------------------------------------------------------------------------

# Result screen, the label above the large ticket number.
YOUR_NUMBER = N_("Your number")
# Result screen, under the number: the printed ticket is in the tray.
TAKE_TICKET = N_("Please take your ticket")
# Result screen: how many people are ahead in the queue (at least 1). {people}: that count.
PEOPLE_AHEAD = NP_("{people} person is waiting ahead of you", "{people} people are waiting ahead of you")
# Result screen, instead of the line above when nobody is ahead in the queue.
NOBODY_AHEAD = N_("No one is waiting ahead of you")
# Result screen: the estimated wait (at least 1 minute; 0 shows "No wait").
# {minutes}: the estimated wait in minutes.
ESTIMATED_WAIT = NP_("Estimated wait: about {minutes} minute", "Estimated wait: about {minutes} minutes")
# Result screen: how the resident will be called (a number on the lobby monitor and a voice).
HOW_CALLED = N_("Your number will be shown on the screen and called")
# Result screen and printer fault screen, the button that returns to the start screen (the
# dispenser also returns by itself after a short time).
BACK_TO_START = N_("Back to start")

# --------------------------------------------------------------------------------------------
# Printer fault screen: the number was issued but the ticket did not print
# --------------------------------------------------------------------------------------------

# Printer fault screen, the title.
PRINT_FAILED = N_("Your ticket could not be printed")
# Printer fault screen, under the title, beside the large number.
PRINT_FAILED_HELP = N_("Please note your number and tell a member of staff")
# Printer fault screen: the resident keeps their place in the queue without the paper ticket.
NUMBER_STILL_VALID = N_("Your number is valid")

# --------------------------------------------------------------------------------------------
# Offline banner: across the top of every screen while the office's server cannot be reached
# --------------------------------------------------------------------------------------------

# Banner while the dispenser has lost its connection to the office's server: it still issues
# valid tickets, but cannot estimate the wait. Keep it to one line if you can.
OFFLINE_BANNER = N_("Connection to the office lost — tickets are still valid; wait estimate unavailable")

# --------------------------------------------------------------------------------------------
# Closed screen: outside the hours tickets are issued
# --------------------------------------------------------------------------------------------

# Closed screen, the title, after today's issuing hours.
CLOSED_FOR_TODAY = N_("Ticket issuing has closed for today")
# Closed screen. {hours}: the issuing hours, formatted by the app, e.g. "8:30–17:00".
OPENING_HOURS = N_("Opening hours: {hours}")
# Closed screen, the title on a day the office is closed (weekend, holiday, new year).
CLOSED_TODAY = N_("Closed today")
# Closed screen. {when}: the date and time issuing starts again, formatted by the app for the
# language, e.g. "Mon 25 Nov, 8:30" (no preposition: you may write "Next opening: {when}").
OPEN_AGAIN = N_("We open again {when}")

# --------------------------------------------------------------------------------------------
# Numbers out screen: a purpose's number series is used up for the day
# --------------------------------------------------------------------------------------------

# Numbers out screen, the title. {purpose}: the purpose's name, e.g. "Certificates".
NUMBERS_OUT = N_("All numbers for today have been given out for {purpose}")
# Numbers out screen, under the title.
ASK_INFORMATION_DESK = N_("Please ask the staff at the information desk")
# Out of service screen (the machine cannot keep tickets: its storage failed), the title. No
# number was given; the line under it is "Please ask the staff at the information desk".
OUT_OF_SERVICE = N_("This machine cannot issue tickets at the moment")

# --------------------------------------------------------------------------------------------
# Printed ticket (ticket_dispenser/ticket.py): Japanese, plus one line in the resident's language
# --------------------------------------------------------------------------------------------

# Printed ticket, the counter word right after the large ticket number: "1105 番" on the
# Japanese ticket. Give your language's word that follows a number (Chinese 号, Korean 번);
# if it has none, a short label such as "No." (it is shown only where a layout needs a suffix).
TICKET_NUMBER_SUFFIX = N_("No.")
# Printed ticket, when the dispenser's clock is known to be right. {time}: date and time,
# "2026-11-21 10:05".
TICKET_ISSUED = N_("Issued {time}")
# Printed ticket. {people}: people ahead in the queue; {minutes}: the estimated wait in minutes.
TICKET_WAIT = N_("{people} waiting ahead · about {minutes} min")
# Printed ticket, and the result screen, when there is no wait estimate (the office's server
# could not be reached).
TICKET_WAIT_UNKNOWN = N_("Please ask at the counter how long the wait is")
# Printed ticket, under the QR code that opens the ticket's progress page on a phone.
TICKET_SCAN = N_("Scan to follow your turn")
# Printed ticket, on a copy printed again by the staff.
TICKET_REPRINT = N_("Reprinted ticket")
# Printed ticket, above the procedures the resident ticked on the screen (one per line below),
# so the counter sees at once what the visit is for.
TICKET_PROCEDURES = N_("Procedures")
# Printed ticket, the line in the resident's language. {number}: the ticket number, e.g. 1105.
TICKET_LOCAL_LINE = N_("Your number is {number}. Please wait until it is called.")

# --------------------------------------------------------------------------------------------
# Voice (spoken by the dispenser; every spoken text is also shown on the screen)
# --------------------------------------------------------------------------------------------

# Spoken when a purpose is chosen with the keypad. {purpose}: the purpose's name. "OK" is
# the label of the keypad's confirm key. Write it as it should be read aloud.
SAY_PURPOSE_SELECTED = N_("{purpose} selected. Press OK to take a ticket.")
# Spoken after the ticket is printed. {number}: the ticket number; the speech module reads it
# as a number ("1105" as one thousand one hundred and five, not digit by digit).
SAY_YOUR_NUMBER = N_("Your number is {number}.")
