"""Every text the certificate kiosk shows or says, grouped by screen (the translators' catalogue).

The kiosk's catalogs are a gettext domain of their own (``kiosk``, in ``kiosk/locale``), kept by
the same tool as the dispenser's: ``python scripts/i18n.py extract|update|compile|check``
handles both. The conventions are the dispenser's (see ticket_dispenser/strings.py):

* Message ids are English; Japanese is a translation like the others. ``N_("...")`` only marks
  a string; the presenter translates it when it builds a screen: ``gettext_for(lang)(TITLE)``.
* A message whose wording follows a count is ``NP_(singular, plural)``; translate it with
  ``ngettext_for(language)(*TRIES_LEFT, n)`` and then ``.format(tries=n)``.
* Placeholders are ``str.format`` fields; a translation keeps every one, spelt the same.
* The comment above each constant goes into the catalogs for the translators: where the text
  appears and what each placeholder holds. Keep texts short and plain: residents read them at a
  machine, some elderly, some new to Japan, and the voice reads several of them aloud.
* A refusal is never explained at the kiosk: no text here may name a reason (age, moving out,
  support measures, characters that cannot be printed). The resident is sent to a counter.

scripts/i18n.py extracts the catalogs with Babel and loads this module by path for DOMAIN and
LANGUAGES, so it imports nothing but the standard library and common.i18n.
"""

from __future__ import annotations

from pathlib import Path

from common.i18n import LANGUAGES, N_, NATIVE_NAMES, NP_, Catalog, Plural

__all__ = ["CATALOG", "LANGUAGES", "NATIVE_NAMES", "NP_", "N_", "Plural", "gettext_for", "ngettext_for"]

DOMAIN = "kiosk"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
CATALOG = Catalog(DOMAIN, LOCALE_DIR)
gettext_for = CATALOG.gettext_for
ngettext_for = CATALOG.ngettext_for


# --------------------------------------------------------------------------------------------
# Every screen
# --------------------------------------------------------------------------------------------

# The kiosk's name, at the top of every screen (自動交付機: the machine that issues
# certificates by itself).
KIOSK_NAME = N_("Certificate kiosk")
# An amount of money. {amount}: the number of yen, already grouped by the app ("1,000").
YEN = N_("{amount} yen")
# The button that goes back one screen.
BACK = N_("Back")
# The button that stops the visit: the card and every coin or note inserted come back.
CANCEL = N_("Cancel")
# The button that goes on to the next screen.
NEXT = N_("Next")
# The line on the "please wait" screens, under the title.
PLEASE_WAIT = N_("Please wait")
# A line on screens where the kiosk holds the card.
DO_NOT_REMOVE_CARD = N_("Please do not remove your card")
# The progress bar along the top of the screens during a visit: five short labels.
# The first part: choosing the certificate.
PROGRESS_CERTIFICATE = N_("Certificate")
# The progress bar, second part: inserting the My Number card.
PROGRESS_CARD = N_("Card")
# The progress bar, third part: entering the PIN.
PROGRESS_PIN = N_("PIN")
# The progress bar, fourth part: paying.
PROGRESS_PAYMENT = N_("Payment")
# The progress bar, last part: printing.
PROGRESS_PRINTING = N_("Printing")

# --------------------------------------------------------------------------------------------
# Start screen
# --------------------------------------------------------------------------------------------

# Start screen, under the kiosk's name.
START_LEAD = N_("Get certificates with your My Number card")
# Start screen: what the resident needs before starting.
START_NEEDS = N_("You need your My Number card, its 4-digit PIN and cash")
# Start screen, above the language buttons.
START_CHOOSE = N_("Touch your language to start")
# Start screen, the small line on the button of this language (written in it): touching
# the button starts the visit in this language.
START_BUTTON = N_("Start")
# Start screen, a line shown when a card is in the slot that the kiosk did not take.
TAKE_YOUR_CARD = N_("Please take your card")

# --------------------------------------------------------------------------------------------
# Start screen while the town hall's system cannot be reached (nothing can be started)
# --------------------------------------------------------------------------------------------

# The title while the kiosk cannot reach the town hall's system. Also shown in every other
# language under it, so keep it short.
UNAVAILABLE_TITLE = N_("This kiosk cannot be used right now")
# Under the title: why, in plain words, and what to do.
UNAVAILABLE_LINE = N_("It cannot reach the town hall's system. Please try again later or go to a counter.")
# Under that: the kiosk takes no card and no money while it cannot be used.
UNAVAILABLE_SAFE = N_("Please do not insert your card or money")

# --------------------------------------------------------------------------------------------
# Start screen outside the kiosk's hours
# --------------------------------------------------------------------------------------------

# The title outside the kiosk's hours. Also shown in every other language under it.
CLOSED_TITLE = N_("The kiosk is closed now")
# Closed screen. {hours}: the kiosk's daily hours, e.g. "6:30–23:00".
KIOSK_HOURS = N_("Kiosk hours: {hours}")
# Closed screen. {when}: the date and time the kiosk opens again, e.g. "01/04 6:30".
OPENS_AGAIN = N_("Opens again {when}")

# --------------------------------------------------------------------------------------------
# Certificate screen
# --------------------------------------------------------------------------------------------

# Certificate screen, the title.
CERTIFICATE_TITLE = N_("Which certificate do you need?")
# Certificate button: 住民票の写し, the record of where a resident and their household live.
KIND_JUMINHYO = N_("Certificate of residence")
# Certificate button: 印鑑登録証明書, proof of a registered personal seal.
KIND_INKAN = N_("Seal registration certificate")
# Certificate button: 戸籍謄本・抄本, a copy of the family register (all members or one).
KIND_KOSEKI = N_("Family register")
# Certificate button: 戸籍の附票, the address history kept with the family register.
KIND_FUHYO = N_("Family register address history")
# Certificate button: 所得・課税証明書, a resident's income and local tax for a year.
KIND_SHOTOKU = N_("Income and tax certificate")
# Certificate button, the small line under the name. {fee}: the fee for one copy, e.g.
# "300 yen".
FEE_PER_COPY = N_("{fee} per copy")

# --------------------------------------------------------------------------------------------
# Options screen
# --------------------------------------------------------------------------------------------

# Options screen, the title.
OPTIONS_TITLE = N_("Choose what the certificate shows")
# Options screen, for a certificate that has nothing to choose but the number of copies.
NO_OPTIONS = N_("Choose the number of copies")
# Options screen, certificate of residence: the label of the choice of people.
SCOPE_LABEL = N_("People on it")
# Options screen, certificate of residence: everyone in the household.
SCOPE_HOUSEHOLD = N_("Whole household")
# Options screen, certificate of residence: only people the resident picks (after the card
# is checked, a list of the household is shown).
SCOPE_MEMBERS = N_("Chosen people")
# Options screen, certificate of residence: the label of the extra items.
SHOW_LABEL = N_("Also show")
# Options screen, an extra item: the registered domicile (本籍) and the head of the family
# register (筆頭者).
WITH_HONSEKI = N_("Registered domicile")
# Options screen, an extra item: each person's relationship to the head of household (続柄).
WITH_ZOKUGARA = N_("Relationship")
# Options screen, an extra item: the My Number (individual number). Left out unless asked.
WITH_MY_NUMBER = N_("My Number")
# Options screen, family register: the label of the choice between a full and a partial copy.
VARIANT_LABEL = N_("Type of copy")
# Options screen, family register: 謄本, a copy with every person in the register.
VARIANT_TOHON = N_("Everyone (full copy)")
# Options screen, family register: 抄本, a copy with only the resident.
VARIANT_SHOHON = N_("Only me (extract)")
# Options screen, income and tax certificate: the label of the choice of year.
FISCAL_YEAR_LABEL = N_("Tax year")
# Options screen, income and tax certificate: a tax year (年度). {year}: e.g. 2025. The
# certificate of tax year 2025 shows the income of 2024.
FISCAL_YEAR = N_("Tax year {year}")
# Options screen, the label of the number of copies.
COPIES_LABEL = N_("Copies")
# The number of copies. {copies}: 1 to 10.
COPIES = NP_("{copies} copy", "{copies} copies")

# --------------------------------------------------------------------------------------------
# Card screens
# --------------------------------------------------------------------------------------------

# Insert card screen, the title.
INSERT_CARD_TITLE = N_("Please insert your My Number card")
# Insert card screen: where and how.
INSERT_CARD_HOW = N_("Insert it into the card slot, IC chip facing up")
# Insert card screen: the kiosk keeps the card while it works and gives it back at the end.
CARD_RETURNED_AT_END = N_("Your card is returned at the end")
# Reading card screen, the title.
READING_CARD_TITLE = N_("Reading your card")

# --------------------------------------------------------------------------------------------
# PIN screen (the kiosk's own keypad on the screen; the digits are never shown)
# --------------------------------------------------------------------------------------------

# PIN screen, the title.
PIN_TITLE = N_("Please enter your PIN")
# PIN screen: which PIN (the card has several): the 4-digit PIN of the user certificate.
PIN_WHICH = N_("The 4-digit PIN for user authentication")
# PIN screen: the digits are shown as dots only.
PIN_HIDDEN = N_("The digits are shown as dots")
# PIN screen: how many wrong PINs the card still accepts. {tries}: 1 to 3.
TRIES_LEFT = NP_("{tries} try left", "{tries} tries left")
# PIN screen, with one try left: the warning before the card locks.
PIN_LAST_TRY = N_("One more wrong PIN locks the card")
# PIN screen, the key that empties the PIN.
PIN_CLEAR = N_("Clear")
# PIN screen, the key that removes the last digit.
PIN_DELETE = N_("Delete")
# PIN screen, the key that sends the PIN.
PIN_OK = N_("OK")
# PIN screen, a notice after a wrong PIN.
PIN_WRONG = N_("The PIN is not correct")
# PIN screen, a notice when OK is touched before 4 digits.
PIN_FORMAT = N_("Please enter 4 digits")
# Checking PIN screen, the title.
VERIFYING_PIN_TITLE = N_("Checking your PIN")
# Checking screen, the title while the town hall's system checks the card and the request.
AUTHENTICATING_TITLE = N_("Checking with the town hall")

# --------------------------------------------------------------------------------------------
# Members screen (certificate of residence for chosen people)
# --------------------------------------------------------------------------------------------

# Members screen, the title.
MEMBERS_TITLE = N_("Choose the people to show")
# Members screen, under the title.
MEMBERS_HINT = N_("Touch each person; touch again to remove")
# Members screen, a notice when nobody is chosen.
MEMBERS_REQUIRED = N_("Please choose at least one person")

# --------------------------------------------------------------------------------------------
# Confirm and payment screens
# --------------------------------------------------------------------------------------------

# Confirm screen, the title.
CONFIRM_TITLE = N_("Please check your request")
# Options and confirm screens, the fee for all the copies. {fee}: e.g. "600 yen".
FEE_TOTAL = N_("Fee: {fee}")
# Confirm screen, the button that goes on to paying.
PAY = N_("Pay")
# Payment screen, the title.
PAYMENT_TITLE = N_("Please insert the money")
# Payment screen, the label of the fee.
FEE_LABEL = N_("Fee")
# Payment screen, the label of the money inserted so far.
PAID_LABEL = N_("Inserted")
# Payment screen, the label of the money still to insert.
DUE_LABEL = N_("Still to pay")
# Payment screen: the coins the kiosk takes.
COINS_TAKEN = N_("Coins: 10, 50, 100, 500 yen")
# Payment screen: the notes the kiosk takes now (1,000 yen and up). {note}: the largest it
# takes now, e.g. "10,000 yen" (or "1,000 yen" when the kiosk is short of change).
NOTES_UP_TO = N_("Notes up to {note}")
# Payment screen, when no note can be taken now (less than 1,000 yen to pay and no change).
COINS_ONLY = N_("Coins only")
# Payment screen: 2,000-yen notes are not taken.
NO_2000_NOTES = N_("2,000-yen notes cannot be used")
# Payment screen, a notice when the kiosk cannot give change.
EXACT_AMOUNT_ONLY = N_("No change available: please insert the exact amount")
# Payment screen: Cancel gives every yen back.
CANCEL_REFUNDS = N_("Cancel gives all your money back")

# --------------------------------------------------------------------------------------------
# Issuing, printing and the end of a visit
# --------------------------------------------------------------------------------------------

# Issuing screen, the title.
ISSUING_TITLE = N_("Preparing your certificate")
# Printing screen, the title.
PRINTING_TITLE = N_("Printing your certificate")
# Printing screen, under the title.
DO_NOT_LEAVE = N_("Please do not leave yet")
# Settling screen, the title when change is paid out after printing.
PAYING_CHANGE = N_("Paying your change")
# Settling screen, the title when the money inserted is given back.
RETURNING_MONEY = N_("Returning your money")
# Settling and end screens: where the money comes out.
TAKE_MONEY = N_("Please take your money from the tray")
# End screens: what to take after a certificate was printed.
TAKE_EVERYTHING = N_("Please take your certificate, receipt and change")
# End screens, when the kiosk could not pay back all the money. {amount}: e.g. "160 yen".
MONEY_OWED = N_("The kiosk could not pay back {amount}. Please take the slip to a counter.")
# The last screen of a visit, the button that closes it (it also closes by itself).
FINISH = N_("Finish")

# --------------------------------------------------------------------------------------------
# Outcomes (the title and the line of the last screens of a visit)
# --------------------------------------------------------------------------------------------

# The certificate was printed.
THANK_YOU = N_("Thank you")
# The resident cancelled.
CANCELLED = N_("Cancelled")
# Under any title of a visit that ended without a certificate: nothing was charged.
NOT_CHARGED = N_("You have not been charged")
# The visit was cancelled because nothing was touched for too long.
TIMED_OUT = N_("Cancelled because time ran out")
# The town hall's system refused this request. NEVER add a reason: the counter explains.
GO_TO_COUNTER = N_("Please go to a counter")
# Under "Please go to a counter".
COUNTER_HELPS = N_("This certificate cannot be issued at the kiosk. The staff at a counter will help you.")
# Three wrong PINs: the card's PIN is locked.
CARD_BLOCKED = N_("Your PIN is locked")
# Under "Your PIN is locked".
CARD_BLOCKED_HELP = N_("Please go to a counter to unlock it")
# The card could not be read.
CARD_UNREADABLE = N_("Your card could not be read")
# Under "Your card could not be read".
CARD_UNREADABLE_HELP = N_("Please check the card and try again, or go to a counter")
# The card was taken out during the visit.
CARD_REMOVED = N_("The card was removed")
# The town hall's system stopped answering during the visit.
OFFICE_LOST = N_("The town hall's system did not answer")
# Under it.
TRY_LATER = N_("Please try again later")
# The printer failed.
PRINT_FAILED = N_("The certificate could not be printed")
# Under it: the fee is kept only for copies that printed.
PRINT_FAILED_HELP = N_("You are not charged for copies that did not print. Please go to a counter.")
# Money came in with no visit (a coin inserted at the start screen) and is given back.
MONEY_RETURNED = N_("Your money is being returned")
# The kiosk restarted in the middle of a visit and settles it.
RECOVERED = N_("The kiosk restarted")
# Under it.
RECOVERED_HELP = N_("Money from the unfinished visit is being returned")
# The kiosk stopped working safely.
OUT_OF_SERVICE = N_("This kiosk is out of service")
# Under it.
OUT_OF_SERVICE_HELP = N_("Please go to a counter or ask a member of staff")

# --------------------------------------------------------------------------------------------
# Timeout warning (a banner over any screen where the kiosk waits for the resident)
# --------------------------------------------------------------------------------------------

# The warning's question, also spoken.
MORE_TIME = N_("Do you need more time?")
# The warning, under the question. {seconds}: seconds before the visit is cancelled.
CANCELS_IN = NP_("The visit is cancelled in {seconds} second", "The visit is cancelled in {seconds} seconds")
# The warning's button.
CONTINUE = N_("Continue")

# --------------------------------------------------------------------------------------------
# Voice only (everything else spoken is a title above)
# --------------------------------------------------------------------------------------------

# Spoken on the start screen.
SAY_CHOOSE_LANGUAGE = N_("Please choose your language")
# Spoken when the payment screen opens.
SAY_PAYMENT = N_("Please insert the money shown on the screen")
# Spoken when the visit's last screen opens after a printed certificate.
SAY_THANK_YOU = N_("Thank you. Please take your certificate, receipt and change.")
# Spoken when an option is not valid (the screen shows the choices again).
SAY_CHECK_CHOICES = N_("Please check your choices")
# Spoken when the card is returned at the end of a visit.
SAY_TAKE_CARD = N_("Please take your card. Do not forget it.")
