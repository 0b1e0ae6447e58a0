"""Every text of the first-boot setup screen (the translators' catalogue), in the six lobby
languages: the technician may not read Japanese, and neither may the next one.

A gettext domain of its own (``setup``, in ``setup_screen/locale``), kept like the other
screens' with ``python scripts/i18n.py extract|update|compile|check``. English message ids.
What the office or the self-test says in detail stays in English under the sentence.

scripts/i18n.py loads this module by path for DOMAIN, so it imports nothing but the standard
library and common.i18n.
"""

from __future__ import annotations

from pathlib import Path

from common.i18n import LANGUAGES, N_, Catalog

__all__ = ["CATALOG", "LANGUAGES", "N_", "gettext_for"]

DOMAIN = "setup"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
CATALOG = Catalog(DOMAIN, LOCALE_DIR)
gettext_for = CATALOG.gettext_for

# The title of every step.
TITLE = N_("Set up this device")
# The first question.
CHOOSE_ROLE = N_("What is this device?")
# A role to choose.
ROLE_DISPENSER = N_("Ticket dispenser")
# A role to choose.
ROLE_BOARD = N_("Display board")
# A role to choose.
ROLE_KIOSK = N_("Certificate kiosk")
# While the device looks for its printer, keypad, card reader and so on.
LOOKING = N_("Looking for the hardware…")
# One step of the search. {what}: USB devices, serial ports or profiles.
LOOKING_AT = N_("Checking {what}")
# A step of the search.
USB_DEVICES = N_("USB devices")
# A step of the search.
SERIAL_PORTS = N_("serial ports")
# A step of the search.
PROFILES = N_("the hardware profiles")
# Above what was found.
FOUND_HARDWARE = N_("Hardware found")
# The profile chosen for the hardware. {profile}: its short hash.
PROFILE_CHOSEN = N_("Profile {profile}")
# Something required is missing.
NOT_READY = N_("Something is missing. Connect it, then touch Try again.")
# Button.
TRY_AGAIN = N_("Try again")
# Button.
BACK = N_("Back")
# Button.
NEXT = N_("Next")
# Where the code comes from.
ENTER_CODE = N_("Enter the pairing code from the staff console (Devices, Add a device).")
# Button: send the code.
PAIR = N_("Pair")
# Button: delete the last character.
DELETE = N_("Delete")
# While the device talks to the office.
PAIRING = N_("Pairing with the office…")
# A refused code: a character is wrong.
ERR_TYPO = N_("The code has a typing mistake. Check it and enter it again.")
# A refused code: not this office's, or not known there.
ERR_WRONG = N_("The office does not know this code. Check it, or make a new one.")
# A refused code.
ERR_USED = N_("This code was already used. Make a new one at the console.")
# A refused code.
ERR_EXPIRED = N_("This code has expired. Make a new one at the console.")
# A refused code: made for another kind of device. {role}: that kind.
ERR_ROLE = N_("This code is for a {role}. Go back and choose it, or make a new code.")
# The office did not answer.
ERR_UNREACHABLE = N_("The office cannot be reached. Check the network cable, then try again.")
# The office stopped taking codes for a while.
ERR_TOO_MANY = N_("Too many wrong codes were tried. Wait ten minutes, then try again.")
# Anything else. The detail is the office's or the device's own words (English).
ERR_OTHER = N_("Pairing did not work.")
# While the device tests itself (and prints a test ticket).
TESTING = N_("Testing the device…")
# The self-test found a problem.
TEST_FAILED = N_("The self-test found a problem. Fix what is marked, then touch Try again.")
# Paired and tested. {device}: the name the office gave it.
READY = N_("{device} is ready. Starting…")
# The device's name and place after pairing. {device}: its id; {site}: the office.
PAIRED_AS = N_("This device is {device} at {site}.")
