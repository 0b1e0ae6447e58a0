"""Every text of the staff console (the translators' catalogue): Japanese first, English second.

The console's catalogs are a gettext domain of their own (``console``, in
``office/console/locale``), kept like the devices' with ``python scripts/i18n.py
extract|update|compile|check``. Message ids are English; Japanese is a translation like the
other. Templates reach these constants through :class:`office.console.texts.Texts`
(``{{ t.CALL_NEXT }}``), so every word on a staff screen is here.

The office's answers to an action (``"{number} → counter {counter}"``, ``"{number} is already
void"``) are English templates written where the office decides them (office/staff.py,
office/domain.py, ...); :data:`REPLIES` lists each for translation, and a test checks that no
template of the office is missing here. Their fields keep their names in every language.

Clerks read these all day, fast: short words, the ones the counter already uses.

scripts/i18n.py loads this module by path for DOMAIN and LANGUAGES, so it imports nothing but
the standard library and common.i18n.
"""

from __future__ import annotations

from pathlib import Path

from common.i18n import N_, NP_, Catalog

DOMAIN = "console"
LANGUAGES: tuple[str, ...] = ("ja", "en")
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
CATALOG = Catalog(DOMAIN, LOCALE_DIR)
gettext_for = CATALOG.gettext_for
ngettext_for = CATALOG.ngettext_for

# --------------------------------------------------------------------------------------------
# Every screen
# --------------------------------------------------------------------------------------------

# The name of the application in the browser's title bar and the top of every screen.
APP_TITLE = N_("Madoguchi staff console")
# The button that signs the member of staff out.
SIGN_OUT = N_("Sign out")
# The top bar: who is signed in. {name}: their name; {role}: their role, e.g. "Counter clerk".
SIGNED_IN_AS = N_("{name} ({role})")
# The label of the language switch (the languages themselves are shown in their own names).
LANGUAGE = N_("Language")
# The main navigation: the counter screen.
NAV_COUNTER = N_("Counter")
# The main navigation: the input centre's screen (集中入力センター).
NAV_INPUT = N_("Input centre")
# The main navigation: the floor manager's overview.
NAV_FLOOR = N_("Floor")
# The main navigation: the concierge (information) desk that issues tickets for residents.
NAV_DESK = N_("Desk")
# The main navigation: the administrator's page of staff accounts.
NAV_USERS = N_("Staff accounts")
# Heading: making a pairing code for a new lobby device.
ADD_DEVICE = N_("Add a device")
# How adding a device works.
ADD_DEVICE_HELP = N_(
    "Choose the kind of the new device and make a code. Type the code on the device's setup screen: "
    "it pairs, tests itself and starts. A code works once, for one hour."
)
# Button: make a one-time pairing code.
MAKE_CODE = N_("Make a pairing code")
# Heading over a fresh pairing code. {device}: the id the device will get; {kind}: its kind.
PAIRING_CODE_FOR = N_("Pairing code for {device} ({kind})")
# Under a fresh pairing code. {time}: when it expires (hh:mm).
PAIRING_CODE_HOW = N_("Type it on the device's setup screen. It works once, until {time}. It is shown only now.")
# Before the command for a device without a screen.
PAIRING_CODE_HEADLESS = N_("On a device without a screen:")
# The office cannot make pairing codes.
PAIRING_OFF = N_(
    "Devices cannot be added here: this office has no enrolment set up "
    "(madoguchi-office security init, then madoguchi-office serve --security-home)."
)
# Heading: pairing codes not used yet.
CODES_WAITING = N_("Codes waiting for their device")
# Column: until when a code works.
EXPIRES = N_("Valid until")
# Button: withdraw a pairing code.
WITHDRAW = N_("Withdraw")
# A pairing code was withdrawn. {device}: the device id it was for.
CODE_WITHDRAWN = N_("The code for {device} was withdrawn.")
# There was no code to withdraw. {device}: the device id.
CODE_NOT_WAITING = N_("No code is waiting for {device}.")
# Heading: every device that ever paired or enrolled.
ENROLLED_DEVICES = N_("Enrolled devices")
# Column: when a device enrolled.
ENROLLED_AT = N_("Enrolled")
# A device's certificate was revoked.
REVOKED = N_("revoked")
# The main navigation: the log of every action taken by staff.
NAV_AUDIT = N_("Audit log")
# A link that skips the navigation and goes to the screen's content (for keyboard users).
SKIP_TO_CONTENT = N_("Skip to content")
# Shown at the top when the live connection to the office is lost.
CONNECTION_LOST = N_("Connection to the office lost: the screen shows what it last received and keeps trying.")
# Said after an action while the office's answer is awaited.
WORKING = N_("Working…")
# A clock: how long ago. {minutes}: whole minutes.
MINUTES = NP_("{minutes} min", "{minutes} min")
# A short dash shown where there is no value.
NONE = N_("—")
# The heading of the alerts panel on every screen.
ALERTS = N_("Alerts")
# The alerts panel when all is well.
NO_ALERTS = N_("No alerts")
# The heading of the keyboard shortcuts list.
SHORTCUTS = N_("Keyboard shortcuts")

# Role names.
# A member of staff who serves residents at a counter.
ROLE_CLERK = N_("Counter clerk")
# A member of staff of the central input centre (集中入力センター) who keys cases.
ROLE_INPUT = N_("Input operator")
# The floor manager (フロアマネージャー) who watches the whole window.
ROLE_FLOOR = N_("Floor manager")
# The administrator who manages staff accounts.
ROLE_ADMIN = N_("Administrator")

# Ticket statuses, as staff see them.
# Status: issued, waiting to be called.
STATUS_WAITING = N_("waiting")
# Status: called to a counter.
STATUS_CALLED = N_("called")
# Status: being worked on.
STATUS_IN_PROGRESS = N_("in progress")
# Status: put aside for a while.
STATUS_HELD = N_("on hold")
# Status: finished; the resident is called to collect the documents.
STATUS_READY = N_("ready")
# Status: handed over; the resident has gone.
STATUS_DONE = N_("done")
# Status: called but the resident did not come.
STATUS_ABSENT = N_("no-show")
# Status: cancelled by staff.
STATUS_VOID = N_("void")

# Counter kinds (Kasuya's): a high counter for quick business standing.
KIND_HIGH = N_("high counter")
# A low counter, seated, for private matters.
KIND_LOW = N_("low counter")
# A consultation room.
KIND_CONSULTATION = N_("consultation room")

# Printer faults, in alerts and the device list.
# The printer has no paper.
FAULT_PAPER_OUT = N_("out of paper")
# The printer's cover is open.
FAULT_COVER_OPEN = N_("cover open")
# The printer's cutter is jammed.
FAULT_CUTTER_ERROR = N_("cutter jammed")
# The printer is not connected.
FAULT_DISCONNECTED = N_("disconnected")
# The printer has an error it cannot recover from by itself.
FAULT_UNRECOVERABLE_ERROR = N_("broken: call the technician")
# The printer has an error it is recovering from.
FAULT_AUTO_RECOVERABLE_ERROR = N_("error (recovering)")

# --------------------------------------------------------------------------------------------
# Signing in, and pages that are not there
# --------------------------------------------------------------------------------------------

# The sign-in page's heading and button.
SIGN_IN = N_("Sign in")
# The sign-in form: the user name field.
USERNAME = N_("User name")
# The sign-in form: the password field.
PASSWORD = N_("Password")
# The sign-in form: the choice for staff who do not work at a counter.
NO_COUNTER = N_("No counter (input centre, floor, desk)")
# The sign-in page when a session ended.
SIGN_IN_AGAIN = N_("Please sign in again.")
# A page the signed-in role may not open.
FORBIDDEN = N_("Your role cannot open this page.")
# A page that does not exist.
NOT_FOUND = N_("There is no such page.")
# A link back to the start.
BACK = N_("Back to your screen")
# An action refused because the page is too old (its form token is not the session's).
STALE_FORM = N_("This page is out of date: reload it and try again.")
# The office did not answer an action in time. Nothing is done twice if the clerk tries again.
OFFICE_SLOW = N_("The office did not answer in time. Try again: nothing will be done twice.")
# An action's form is missing something or has a wrong value. {what}: what, in English.
BAD_FORM = N_("The form is not complete: {what}")
# The counter screen opened by someone signed in without a counter.
NEEDS_COUNTER = N_("Sign in at a counter to use the counter screen.")

# --------------------------------------------------------------------------------------------
# The counter screen
# --------------------------------------------------------------------------------------------

# The counter's state: open (it calls residents).
COUNTER_IS_OPEN = N_("Open")
# The counter's state: closed.
COUNTER_IS_CLOSED = N_("Closed")
# The button that opens the counter.
OPEN_COUNTER = N_("Open counter")
# The button that closes the counter.
CLOSE_COUNTER = N_("Close counter")
# The big button that calls the next resident for this counter.
CALL_NEXT = N_("Call next")
# The button that calls a number typed by the clerk.
CALL_NUMBER = N_("Call this number")
# The field for a ticket number to call.
NUMBER_FIELD = N_("Ticket number")
# Calls the current ticket again (the board and the chime announce it once more).
RECALL = N_("Call again")
# The resident arrived: work on the case starts.
START = N_("Start")
# The case goes on to the next station of its route.
FINISH_NEXT = N_("Next station")
# Everything is done: the resident is called to collect the documents.
FINISH_COMPLETE = N_("Complete")
# The resident received the documents: the ticket is finished.
HANDED_OVER = N_("Handed over")
# The resident did not come when called.
ABSENT = N_("No-show")
# Put the case aside for a while.
HOLD = N_("Hold")
# Take a case on hold up again.
RESUME = N_("Resume")
# Cancel the ticket.
VOID = N_("Void")
# The confirmation asked before voiding. {number}: the ticket's number.
VOID_CONFIRM = N_("Void ticket {number}? It can never be called again.")
# A heading over the transfer choices.
TRANSFER = N_("Transfer")
# Transfer: to another purpose's queue.
TO_PURPOSE = N_("To purpose")
# Transfer: to another station of the route.
TO_STATION = N_("To station")
# Transfer: call the ticket to another counter.
TO_COUNTER = N_("To counter")
# The button that carries out a transfer.
MOVE = N_("Move")
# Take a case (no two people hold the same case).
CLAIM = N_("Take")
# Give a case back to its station's pool.
RELEASE = N_("Give back")
# The heading of the counter's current ticket.
AT_COUNTER = N_("At this counter")
# When nobody is at the counter yet.
NOBODY_AT_COUNTER = N_("Nobody is called yet. Press Call next (N).")
# The heading of the cases the clerk holds (e.g. taken back from the input centre).
MY_CASES = N_("Cases you hold")
# The heading of the queue per purpose.
QUEUE = N_("Queue")
# A purpose this counter serves is marked so.
SERVED_HERE = N_("served here")
# People waiting for a purpose. {count}: how many.
WAITING_COUNT = NP_("{count} waiting", "{count} waiting")
# The expected wait for a purpose. {minutes}: whole minutes.
ABOUT_MINUTES = NP_("about {minutes} min", "about {minutes} min")
# The next numbers of a purpose's queue.
NEXT_NUMBERS = N_("Next")

# The case card (shown on several screens).
# The card's title. {number}: the ticket number.
TICKET_N = N_("Ticket {number}")
# The card: the resident's purpose.
PURPOSE = N_("Purpose")
# The card: the procedures the resident ticked.
PROCEDURES = N_("Procedures")
# The card: none ticked.
NO_PROCEDURES = N_("none ticked")
# The card: the ticket's status.
STATUS = N_("Status")
# The card: the route of stations with the time at each.
ROUTE = N_("Route")
# The card: how long the resident waited before being called.
WAITED = N_("Waited")
# The card: how long the case has been worked on.
IN_PROGRESS_FOR = N_("Worked on for")
# The card: the label of who works on the case now.
HOLDER = N_("Handled by")
# The card: who holds the case. {user}: their user name.
HELD_BY = N_("Held by {user}")
# The card: nobody holds it.
HELD_BY_NOBODY = N_("Nobody holds it")
# The card: held by the person looking at it.
HELD_BY_YOU = N_("You hold it")
# The card: when the ticket was issued.
ISSUED_AT = N_("Issued")
# The card: the counter the ticket is at. {counter}: the counter's name.
COUNTER_N = N_("Counter {counter}")
# A link that opens the whole case on a page of its own.
OPEN_CASE = N_("Open the case")

# --------------------------------------------------------------------------------------------
# The input centre
# --------------------------------------------------------------------------------------------

# The heading of the input centre's load panel (shown on every counter screen too).
INPUT_LOAD = N_("Input centre load")
# Load panel: cases waiting to be keyed.
LOAD_WAITING = N_("Waiting")
# Load panel: cases being keyed now.
LOAD_IN_HAND = N_("Being keyed")
# Load panel: how long the oldest case has waited.
LOAD_OLDEST = N_("Oldest")
# Load panel: cases finished in the last hour.
LOAD_FINISHED = N_("Done in the last hour")
# Load panel: who is keying now.
LOAD_OPERATORS = N_("At work")
# The heading of the list of cases at the input station.
INPUT_CASES = N_("Cases to key")
# The list when it is empty.
NO_INPUT_CASES = N_("No case is waiting to be keyed.")
# The column of how long a case has been at the station.
AGE = N_("Age")
# The column of the ticket number.
NUMBER = N_("No.")
# The column of actions.
ACTIONS = N_("Actions")
# The site has no input station. {station}: the code the configuration names.
NO_INPUT_STATION = N_("This office has no station {station}.")

# --------------------------------------------------------------------------------------------
# The floor view
# --------------------------------------------------------------------------------------------

# The heading of the stations' backlog.
STATIONS = N_("Stations")
# Column: cases at a station.
CASES = N_("Cases")
# Column: cases on hold.
ON_HOLD = N_("On hold")
# Column: cases nobody holds.
UNCLAIMED = N_("Not taken")
# The heading of the counters.
COUNTERS = N_("Counters")
# Column: who staffs the counter.
STAFFED_BY = N_("Staffed by")
# Column: the ticket served now.
SERVING = N_("Serving")
# The heading of the wait per purpose.
PURPOSES = N_("Wait per purpose")
# Column: the expected wait.
EXPECTED_WAIT = N_("Expected wait")
# The target wait the floor aims for. {minutes}: whole minutes.
TARGET = N_("Target: {minutes} min")
# Column: how crowded a purpose is (its lamp: calm, busy, very busy).
CONGESTION = N_("Congestion")
# Column: counters open for a purpose.
OPEN_COUNTERS = N_("Open counters")
# Congestion lamp: green.
LEVEL_GREEN = N_("calm")
# Congestion lamp: yellow.
LEVEL_YELLOW = N_("busy")
# Congestion lamp: red.
LEVEL_RED = N_("very busy")
# Marks a wait above the target.
OVER_TARGET = N_("over target")
# The heading of the lobby devices' health.
DEVICES = N_("Devices")
# Column: the device's name.
DEVICE = N_("Device")
# Column: the kind of device.
KIND = N_("Kind")
# Device kind: a ticket dispenser.
KIND_DISPENSER = N_("ticket dispenser")
# Device kind: the lobby board.
KIND_BOARD = N_("board")
# Device kind: the certificate kiosk.
KIND_KIOSK = N_("kiosk")
# Column: online or not.
CONNECTION = N_("Connection")
# A device is online.
ONLINE = N_("online")
# A device is offline.
OFFLINE = N_("offline")
# Column: when the device was last heard from.
LAST_SEEN = N_("Last seen")
# Column: the printer's state.
PRINTER = N_("Printer")
# The printer is fine.
PRINTER_OK = N_("OK")
# The printer's paper is running low.
PAPER_LOW = N_("paper low")
# Column: events the device has not sent to the office yet.
NOT_SENT = N_("Not yet sent")
# Column: a kiosk's state.
SERVICE = N_("Service")
# A kiosk is in service.
IN_SERVICE = N_("in service")
# A kiosk is out of service.
OUT_OF_SERVICE = N_("out of service")
# Column: a kiosk's cash levels.
CASH = N_("Cash")
# A kiosk cannot pay change for large notes.
CHANGE_LOW = N_("change low")
# Column: the madoguchi version a device runs.
VERSION = N_("Version")
# Tickets held for reprint by a dispenser. {numbers}: their numbers.
HELD_TICKETS = N_("held: {numbers}")
# The heading of today's tickets on the floor view.
TICKETS_TODAY = N_("Tickets in the window")
# The field that filters the list by number.
FIND = N_("Find a number")
# The list is empty.
NO_TICKETS = N_("No ticket is in the window.")

# --------------------------------------------------------------------------------------------
# The concierge desk
# --------------------------------------------------------------------------------------------

# The heading of the desk screen.
DESK = N_("Concierge desk")
# The desk form: the procedures (optional).
CHOOSE_PROCEDURES = N_("Procedures (optional)")
# The desk form: print the ticket on the desk's printer.
PRINT_TICKET = N_("Print the ticket")
# The desk form's button.
ISSUE = N_("Issue a ticket")
# After issuing, when it was not printed: the clerk writes it down for the resident.
WRITE_IT_DOWN = N_("Write this number down for the resident.")
# After issuing, when it was printed.
PRINTED = N_("Printed on the desk printer.")
# After issuing, when printing failed. {why}: the printer's fault.
NOT_PRINTED = N_("Not printed ({why}): write the number down for the resident.")
# The desk has no printer configured.
NO_DESK_PRINTER = N_("This desk has no printer: numbers are written down.")
# On the ticket the desk prints: when it was issued. {time}: e.g. "2026-12-06 10:42".
DESK_ISSUED = N_("Issued {time}")
# On the desk's ticket: nobody is ahead.
DESK_NO_WAIT = N_("No wait")
# On the desk's ticket: people ahead and the estimated wait. {people}, {minutes}: numbers.
DESK_AHEAD = N_("{people} waiting ahead · about {minutes} min")
# On the desk's ticket, when there is no estimate. {people}: a number.
DESK_AHEAD_ONLY = N_("{people} waiting ahead")
# On the desk's ticket, under the QR code.
DESK_SCAN = N_("Scan to follow your turn")
# The heading of the desk's recent tickets.
RECENT_AT_DESK = N_("Issued at the desk today")

# --------------------------------------------------------------------------------------------
# Administration
# --------------------------------------------------------------------------------------------

# The heading of the form that adds an account.
ADD_USER = N_("Add an account")
# The account's display name.
DISPLAY_NAME = N_("Name")
# The account's role.
ROLE = N_("Role")
# The account's new password.
NEW_PASSWORD = N_("New password (at least 10 characters)")
# The button that adds an account.
ADD = N_("Add")
# The button that disables an account.
DISABLE = N_("Disable")
# The button that enables an account again.
ENABLE = N_("Enable")
# The button that sets a new password.
SET_PASSWORD = N_("Set password")
# The account is disabled.
DISABLED = N_("disabled")
# The account is locked by wrong passwords. {time}: until when, e.g. 10:42.
LOCKED_UNTIL = N_("locked until {time}")
# The account is usable.
ACTIVE = N_("active")
# Column: the account's state.
STATE = N_("State")
# Column: when.
TIME = N_("Time")
# Column: who.
WHO = N_("Who")
# Column: what.
WHAT = N_("Action")
# Column: the ticket concerned.
TICKET = N_("Ticket")
# Column: the outcome.
RESULT = N_("Result")
# The action was carried out.
RESULT_OK = N_("carried out")
# The action was refused.
RESULT_REFUSED = N_("refused")

# Keyboard shortcuts of the counter screen, each described.
# N: call next.
KEY_CALL_NEXT = N_("N: call next")
# R: call again.
KEY_RECALL = N_("R: call again")
# S: start.
KEY_START = N_("S: start")
# D: complete.
KEY_COMPLETE = N_("D: complete")
# F: to the next station.
KEY_NEXT_STATION = N_("F: next station")
# A: no-show.
KEY_ABSENT = N_("A: no-show")
# H: hold.
KEY_HOLD = N_("H: hold")
# C: type a number to call.
KEY_NUMBER = N_("C: type a number")

# --------------------------------------------------------------------------------------------
# The office's answers (English templates from office/*.py; the fields keep their names)
# --------------------------------------------------------------------------------------------

REPLIES = (
    # A purpose code the office does not know. {code}: it.
    N_("unknown purpose {code}"),
    # A counter number the office does not know. {number}: it; {known}: the counters there are.
    N_("there is no counter {number} (counters: {known})"),
    # The ticket is already in that state. {number}: the ticket; {status}: its status.
    N_("{number} is already {status}"),
    # A finished or cancelled ticket cannot move. {number}, {status}.
    N_("{number} is {status}; it cannot move"),
    # The route has no such station. {number}; {station}; {stops}: the route.
    N_("{number}'s route has no station {station} (route: {stops})"),
    # The ticket is at that station already. {number}, {station}.
    N_("{number} is already at {station}"),
    # {number}, {status}.
    N_("{number} is {status}; it cannot be completed"),
    # {number}.
    N_("{number} is already done"),
    # A terminal's command that needs a counter. {number}.
    N_("{number} has not been at a counter: say which counter (done {number} at counter N)"),
    # {number}, {status}.
    N_("{number} is {status}; only a waiting, called or ready ticket can be marked absent"),
    # {number}.
    N_("{number} is already void"),
    # {number}, {status}.
    N_("{number} is {status}; only a called ticket can be called again"),
    # {number}, {status}.
    N_("{number} is {status}; only a called ticket can be started"),
    # {number}, {status}.
    N_("{number} is {status}; only a ready ticket can be handed over"),
    # {number}, {status}.
    N_("{number} is {status}; it cannot be put on hold"),
    # {number}.
    N_("{number} is not on hold"),
    # {number}, {status}.
    N_("{number} is {status}; it cannot be transferred"),
    # {number}; {purpose}: the purpose it has already.
    N_("{number} is already for {purpose}"),
    # {number}, {status}.
    N_("{number} is {status}; only a case being worked on can be taken"),
    # Someone else holds the case. {number}; {user}: who.
    N_("{number} is already being worked on by {user}"),
    # {number}.
    N_("{number} is not being worked on by anyone"),
    # {number}, {user}.
    N_("{number} is being worked on by {user}, not by you"),
    # {number}.
    N_("{number} is not being worked on"),
    # {number}.
    N_("{number} has not been called to a counter"),
    # A terminal sent a command the office does not know. {command}.
    N_("unsupported command {command}"),
    # The console sent an action the office does not know. {action}.
    N_("unsupported action {action}"),
    # Moved to a station. {number}, {station}.
    N_("{number} → {station}"),
    # {station}: what was typed; {known}: the stations there are.
    N_("unknown station {station}; stations: {known}"),
    # Called to a counter. {number}, {counter}.
    N_("{number} → counter {counter}"),
    # {role}: the signed-in role.
    N_("your role ({role}) cannot do that here"),
    # Someone changed the ticket since this screen showed it. {number}.
    N_("{number} was changed on another screen meanwhile; look at it again"),
    # {ticket}: the ticket's id.
    N_("no ticket {ticket} here"),
    # {number}; {day}: the ticket's day.
    N_("{number} is a ticket of {day}, not of today"),
    # Reached the terminal. {number}, {station}, {counter}.
    N_("{number} → {station}; ready at counter {counter}"),
    # A number that is not a number. {ref}: what was typed.
    N_("{ref} is not a ticket number; type it as on the ticket, e.g. 1105"),
    # {ref}.
    N_("no ticket {ref} today"),
    # {ref}; {options}: the numbers with their series, e.g. "1-1105 or 2-1105".
    N_("{ref} exists in several series: say {options}"),
    # {counter}.
    N_("counter {counter} is open"),
    # {counter}.
    N_("counter {counter} is closed"),
    # {number}.
    N_("ticket {number} issued"),
    # {number}, {counter}.
    N_("{number} called again to counter {counter}"),
    # {number}.
    N_("{number} started"),
    # {number}.
    N_("{number} handed over"),
    # {number}, {counter}.
    N_("{number} done; please come to counter {counter}"),
    # {number}.
    N_("{number} marked absent"),
    # {number}.
    N_("{number} is on hold"),
    # {number}.
    N_("{number} resumed"),
    # {number}, {purpose}.
    N_("{number} now waits for {purpose}"),
    # {number}.
    N_("{number} void"),
    # {number}.
    N_("you are working on {number}"),
    # {number}.
    N_("{number} is back in its station's queue"),
    # {counter}.
    N_("nobody is waiting for counter {counter}"),
    # The desk is not set up.
    N_("this office issues no tickets at the desk"),
    # {purpose}, {procedure}.
    N_("{purpose} has no procedure {procedure}"),
    # {number}, {clash}.
    N_("number {number} is taken already ({clash}); tell the administrator"),
    # {series}.
    N_("series {series} has no numbers left today"),
    # Sign-in refused (the same words whether the name or the password was wrong).
    N_("wrong user name or password"),
    # Sign-in done.
    N_("signed in"),
    # Sign-out done.
    N_("signed out"),
    # A form sent twice with the id of another request.
    N_("that request was already used; reload the page"),
    # {until}: a time, e.g. 10:42.
    N_("too many wrong passwords: this account is locked until {until}"),
    # {number}.
    N_("there is no counter {number}"),
    # Something went wrong in the office.
    N_("the office could not carry that out; the error is in its log"),
    # {user}.
    N_("account {user} added"),
    # {user}.
    N_("password of {user} changed"),
    # {user}.
    N_("account {user} disabled"),
    # {user}.
    N_("account {user} enabled"),
    # An administrator tried to disable their own account.
    N_("you cannot disable your own account"),
    # Alert: {device}.
    N_("{device} is offline"),
    # Alert: {device}; {fault}: why.
    N_("{device} is out of service ({fault})"),
    # Alert: {device}; {count}: how many refund slips.
    N_("{device} printed {count} refund slip(s): the resident is owed cash at a counter"),
    # Alert: {device}.
    N_("{device} is low on change"),
    # Alert: {device}.
    N_("{device} shows stale information"),
    # Alert: {device}; {fault}: the printer's fault; {held}: ticket numbers held for reprint.
    N_("{device}: printer {fault}; tickets held for reprint: {held}"),
    # Alert: {device}, {fault}.
    N_("{device}: printer {fault}"),
    # Alert: {device}.
    N_("{device}: printer paper is near its end"),
    # Alert: a device sent an event under an id the office already has, with other content (a
    # forgery or a device whose store was replaced). {device}; {count}: how many.
    N_("{device}: {count} event(s) reused an id with other content; kept aside for review"),
    # Alert: messages of a kind this device's role may not send (e.g. a dispenser sending kiosk
    # money records). {device}; {count}.
    N_("{device}: {count} message(s) its role may not send; refused"),
    # Alert: tickets whose numbers are not in a block leased to this dispenser. {device}; {count}.
    N_("{device}: {count} ticket(s) numbered outside its leases; kept and flagged"),
    # Alert: a device's status claimed it had used numbers beyond its leases. {device}; {count}.
    N_("{device}: {count} status report(s) claimed numbers beyond its leases; refused"),
    # Alert: something else the office kept aside. {device}; {count}.
    N_("{device}: {count} message(s) kept aside"),
    # The branch refused the centre's action: it waited too long (a cut link). {seconds}: its age.
    N_("refused: sent {seconds} s ago (the link to the centre was down?); look at the case again and act anew"),
    # The branch refused the centre's action: the centre's clock is ahead. {seconds}: how far.
    N_("refused: sent {seconds} s ahead of the branch's clock; set the centre's clock right"),
    # The branch has no such case.
    N_("refused: no such case at this branch"),
    # The case moved on before the centre's action came. {number}: the ticket number.
    N_("refused: {number} is no longer at the input station"),
    # The centre's desk had no answer from the branch. {branch}: the branch's site.
    N_("{branch} did not answer; its link to the centre may be down. Look at the case again when its list is back"),
    # The form named a branch the desk does not serve. {branch}: what it named.
    N_("{branch} is not a branch of this desk"),
)

# --------------------------------------------------------------------------------------------
# Statistics (floor manager, administrator): where the time goes
# --------------------------------------------------------------------------------------------

# The main navigation: the statistics pages.
NAV_STATS = N_("Statistics")
# Heading of the statistics page; {period}: the days shown, e.g. "2026-04-01 – 2026-04-30".
STATS_HEADING = N_("Statistics: {period}")
# The statistics of today are live: the page says how fresh they are. {time}: e.g. "10:42".
STATS_LIVE = N_("Today so far, as of {time}; the page refreshes every minute.")
# The range form: its fields and button.
STATS_FROM = N_("From")
# Statistics: stats to.
STATS_TO = N_("To")
# Statistics: stats show.
STATS_SHOW = N_("Show")
# Quick choices of the range.
STATS_TODAY = N_("Today")
# Statistics: stats yesterday.
STATS_YESTERDAY = N_("Yesterday")
# Statistics: stats last 7.
STATS_LAST_7 = N_("Last 7 days")
# Statistics: stats this month.
STATS_THIS_MONTH = N_("This month")
# Statistics: stats last month.
STATS_LAST_MONTH = N_("Last month")
# Statistics: stats last year.
STATS_LAST_YEAR = N_("Last 12 months")
# A date in the range form that is not a date or in the wrong order. {what}: the value.
STATS_BAD_RANGE = N_(
    "That range cannot be shown ({what}); choose a first and a last day, the first not after the last."
)
# Downloads of the range's figures.
STATS_DOWNLOADS = N_("Download")
# Statistics: stats xlsx.
STATS_XLSX = N_("Excel workbook (XLSX)")
# Statistics: stats csv.
STATS_CSV = N_("CSV (one file per table)")
# Statistics: stats parquet.
STATS_PARQUET = N_("Ticket log (Parquet, for analysts)")
# The key figures at the top.
STATS_ARRIVALS = N_("Residents (tickets)")
# Statistics: stats served.
STATS_SERVED = N_("Served")
# Statistics: stats no shows.
STATS_NO_SHOWS = N_("No-shows")
# Statistics: stats median wait.
STATS_MEDIAN_WAIT = N_("Median wait")
# Statistics: stats p90 wait.
STATS_P90_WAIT = N_("9 in 10 waited at most")
# {minutes}: the site's target wait.
STATS_SERVICE_LEVEL = N_("Called within {minutes} min")
# Statistics: stats median total.
STATS_MEDIAN_TOTAL = N_("Median time in the building")
# Statistics: stats transfers.
STATS_TRANSFERS = N_("Transfers")
# Statistics: stats voided.
STATS_VOIDED = N_("Voided")
# A column header of a statistics table: how many tickets were called.
STATS_CALLED_COLUMN = N_("called (tickets)")
# A figure that cannot be given (nobody was called in the range).
STATS_NONE = N_("–")
# A duration in minutes with one decimal: {minutes}.
STATS_MINUTES = N_("{minutes} minutes")
# The tables' section heading.
STATS_TABLES = N_("Tables")
# A range without any ticket.
STATS_EMPTY = N_("No tickets in this period.")
# Heading of the forecast; {day}: the day forecast.
FORECAST_HEADING = N_("Forecast for {day}")
# The forecast's explanation. {minutes}: target wait; {share}: target share in percent.
FORECAST_HELP = N_(
    "Expected residents per hour from the history (weekday, hour, season, days after a holiday), "
    "and the counters needed to call {share}% of them within {minutes} min."
)
# Statistics: forecast hour.
FORECAST_HOUR = N_("Hour")
# Statistics: forecast expected.
FORECAST_EXPECTED = N_("Expected")
# Statistics: forecast counters.
FORECAST_COUNTERS = N_("Counters needed")
# Statistics: forecast total.
FORECAST_TOTAL = N_("Expected in the day: {count}")
# The forecast's table of the coming week: each day's expected residents in all, per purpose, and
# the most counters needed in any hour.
FORECAST_WEEK = N_("The coming week")
# A column of that table: the most counters needed in any hour of the day.
FORECAST_PEAK_COUNTERS = N_("Counters at the busiest hour")
# Not enough history to forecast (fewer than a few weeks).
FORECAST_NO_HISTORY = N_("Not enough history yet for a forecast (it needs a few weeks of tickets).")
# The forecast's measured error on held-out weeks. {model}, {naive}: percent errors.
FORECAST_ERROR = N_("Error on the last weeks held out: {model}% (same weekday last week: {naive}%)")
# The office is closed that day.
FORECAST_CLOSED = N_("The office is closed that day.")
# The plots' words.
PLOT_NO_DATA = N_("No tickets in this period")
# Statistics: plot arrivals.
PLOT_ARRIVALS = N_("Residents per day")
PLOT_MEDIAN_WAIT = STATS_MEDIAN_WAIT  # the same words on the plots
PLOT_P90_WAIT = STATS_P90_WAIT  # the same words on the plots
# Statistics: plot hour.
PLOT_HOUR = N_("Hour of arrival")
# Statistics: plot tickets.
PLOT_TICKETS = N_("Tickets per day")
# Statistics: plot wait.
PLOT_WAIT = N_("Wait (min)")
# Statistics: plot by hour.
PLOT_BY_HOUR = N_("Arrivals and waits through the day")
# Statistics: plot heatmap.
PLOT_HEATMAP = N_("Residents per day by weekday and hour")
# Statistics: plot heatmap unit.
PLOT_HEATMAP_UNIT = N_("residents per day")
# Statistics: plot stations.
PLOT_STATIONS = N_("Time at each station")
# Statistics: plot minutes.
PLOT_MINUTES = N_("minutes")
# Statistics: plot stations note.
PLOT_STATIONS_NOTE = N_("Box: the middle half of the cases; whiskers: 1 in 10 to 9 in 10; line: the median.")
# Statistics: plot counters.
PLOT_COUNTERS = N_("Arrivals and counters through the day")
# Statistics: plot counters open.
PLOT_COUNTERS_OPEN = N_("Counters calling")
PLOT_COUNTERS_NEEDED = FORECAST_COUNTERS  # the same words on the plots
PLOT_COUNTERS_AXIS = COUNTERS  # the same word on the plots
# Statistics: plot year.
PLOT_YEAR = N_("The year by week")
# Statistics: plot week.
PLOT_WEEK = N_("Week of the year")
# Statistics: plot season.
PLOT_SEASON = N_("Moving season")
# Weekdays, short, Monday first.
WEEKDAY_NAMES = (
    # A weekday, short: Monday.
    N_("Mon"),
    # A weekday, short: Tuesday.
    N_("Tue"),
    # A weekday, short: Wednesday.
    N_("Wed"),
    # A weekday, short: Thursday.
    N_("Thu"),
    # A weekday, short: Friday.
    N_("Fri"),
    # A weekday, short: Saturday.
    N_("Sat"),
    # A weekday, short: Sunday.
    N_("Sun"),
)
# The tables' titles and column headers (the report's files carry them too).
STATS_SUMMARY_TITLE = N_("Summary (service level: called within {minutes} min)")
STATS_TABLE_WORDS = (
    # A statistics table's title.
    N_("By purpose"),
    # A statistics table's title.
    N_("Time from reaching a station to reaching the next"),
    # A statistics table's title.
    N_("Cases at each station by hour (per day)"),
    # A statistics table's title.
    N_("By counter (first calls)"),
    # A statistics table's title.
    N_("By hour of arrival"),
    # A statistics table's title.
    N_("By weekday and hour of arrival"),
    # A statistics table's title.
    N_("By ISO week"),
    # A statistics table's title.
    N_("By day"),
    # A statistics table's title.
    N_("Certificates issued at the kiosks, by kind and hour (not voided)"),
    # A statistics table's title.
    N_("Kiosk cash per business day and kiosk"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("arrivals"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("arrivals per day"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("backlog at end of hour"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("calls"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("copies"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("counter"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("day"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("days"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("fees (yen)"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("fees kept (yen)"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("from"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("hour"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("issued"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("kind"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("max wait (min)"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("mean (min)"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("mean wait (min)"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("median (min)"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("median service (min)"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("median total (min)"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("median wait (min)"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("moved on in hour"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("n"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("no-shows"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("p90 (min)"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("p90 service (min)"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("p90 total (min)"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("p90 wait (min)"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("purpose"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("refund slips"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("refunds owed (yen)"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("refunds paid (yen)"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("served"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("service level (%)"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("station"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("to"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("transfers"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("voided"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("week"),
    # A column header of a statistics table (min: minutes; p90: 9 in 10 at most).
    N_("weekday"),
)

# --------------------------------------------------------------------------------------------
# A ward's centre (floor manager, administrator): every branch's floor and statistics
# --------------------------------------------------------------------------------------------

# The main navigation at a ward's central office: every branch's floor at a glance.
NAV_WARD = N_("Ward floor")
# The main navigation at a ward's central office: the statistics of the whole ward or a branch.
NAV_WARD_STATS = N_("Ward statistics")
# Heading of the ward's floor page (one card per branch office).
WARD_HEADING = N_("The ward's branches")
# Under the heading: where the figures come from. {time}: e.g. "10:42"; {seconds}: e.g. 15.
WARD_NOTE = N_("From the ward's central database as of {time}; the page refreshes every {seconds} seconds.")
# The ward's floor when no branch has sent anything to the centre yet.
WARD_NONE = N_("No branch has reached the centre yet.")
# The ward's pages when the ward's central database (PostgreSQL) cannot be reached.
WARD_DB_DOWN = N_("The ward's central database cannot be reached; the page tries again by itself.")
# A branch card: the link between the branch's broker and the centre's.
WARD_BRIDGE = N_("Link to the centre")
# A branch card: the branch has not said this yet.
WARD_NOT_REPORTED = N_("not reported yet")
# A branch card: the link is up. {time}: since when, e.g. "08:31".
WARD_BRIDGE_UP = N_("connected since {time}")
# A branch card: the link is cut. {time}: since when, e.g. "10:02".
WARD_BRIDGE_DOWN = N_("cut since {time}")
# A branch card: the branch's own office server.
WARD_OFFICE = N_("Branch office server")
# A branch card: the office server runs. {time}: when the centre last heard from it.
WARD_OFFICE_UP = N_("running (last heard {time})")
# A branch card: the office server stopped. {time}: since when.
WARD_OFFICE_DOWN = N_("stopped since {time}")
# A branch card: how far behind the centre's records of the branch are.
WARD_BEHIND = N_("Centre's records")
# A branch card: device events the centre holds. {count}: how many; {time}: the last that arrived.
WARD_EVENTS_AT_CENTRE = N_("{count} events at the centre, last arrived {time}")
# A branch card: events the branch's devices sent that have not reached the centre. {count}.
WARD_EVENTS_MISSING = N_("{count} events not at the centre yet")
# A branch card: the centre holds every event the branch's devices say they sent.
WARD_UP_TO_DATE = N_("up to date")
# A branch card: the branch's ticket log (what the ward's statistics are made of).
WARD_LOG = N_("Ticket log")
# A branch card: the ticket log today at the centre. {count}: rows; {time}: the last arrived.
WARD_LOG_TODAY = N_("{count} rows today, last arrived {time}")
# A branch card: the lobby devices of the branch.
WARD_DEVICES = N_("Lobby devices")
# A branch card: how many devices are connected and not. {online}; {offline}.
WARD_DEVICES_COUNT = N_("{online} online, {offline} offline")
# A branch card: since when a device is offline. {time}: e.g. "09:15".
WARD_SINCE = N_("since {time}")
# A branch card: the branch's input station (where applications are keyed in).
WARD_INPUT = N_("Input station")
# A branch card: cases waiting to be keyed in at the branch. {count}.
WARD_INPUT_BACKLOG = N_("{count} cases waiting")
# A branch card: the oldest waiting case arrived at. {time}: e.g. "09:40".
WARD_OLDEST = N_("oldest since {time}")
# A branch card: the caption of its queue table. {count}: waiting in all; {time}: as of.
WARD_QUEUE = N_("{count} waiting, as of {time}")
# A branch card's queue table: the column of purposes.
WARD_PURPOSE = N_("Purpose at the branch")
# A branch card's queue table: the column of how many wait.
WARD_WAITING = N_("Waiting now")
# A branch card's queue table: the column of the wait the branch estimates.
WARD_ESTIMATE = N_("Estimated wait")
# A branch card's queue table: an estimated wait. {minutes}: a whole number.
WARD_MINUTES = N_("around {minutes} minutes")
# A branch card: the branch has not sent its queue yet.
WARD_NO_QUEUE = N_("No queue from this branch yet.")
# Heading of the ward's statistics. {where}: the whole ward or a branch's name; {period}: the days.
WARD_STATS_HEADING = N_("Ward statistics, {where}: {period}")
# The ward's statistics: the choice of the whole ward (every branch).
WARD_ALL = N_("the whole ward")
# The ward's statistics: the field choosing a branch.
WARD_SITE = N_("Branch")
# The ward's statistics: the branch asked for is unknown at the centre. {site}: what was asked.
WARD_NO_SUCH_SITE = N_("No branch {site} at the centre; showing the whole ward.")

# --------------------------------------------------------------------------------------------
# A ward's centre: the central input centre working every branch's input cases
# --------------------------------------------------------------------------------------------

# The main navigation at a ward's central office: the input centre serving every branch.
NAV_WARD_INPUT = N_("Ward input centre")
# Heading of the centre's input desk.
WARD_INPUT_HEADING = N_("Cases waiting at the branches' input stations")
# Under the heading: what taking a case does.
WARD_INPUT_NOTE = N_(
    "Take a case to key it in: the branch's counter and the resident's page see your work at once."
    " A branch may take a case back at any time."
)
# A branch cut off from the centre. {branch}: its name.
WARD_INPUT_LINK_DOWN = N_(
    "{branch}: the link to the centre is cut. Its cases are worked at the branch until the link is back."
)
# A branch whose list of cases has not come yet. {branch}: its name.
WARD_INPUT_NOT_HEARD = N_("{branch}: no list of cases has come from this branch yet.")
# The list is longer than a branch sends. {count}: cases not listed; {branch}: its name.
WARD_INPUT_MORE = N_("{count} more cases at {branch} are not listed here.")
# No case waits anywhere.
WARD_INPUT_NONE = N_("No case waits at any branch's input station.")
# A form whose case cannot be read (a page kept open too long, or a hand-made request).
WARD_INPUT_BAD_CASE = N_("the case on this form; reload the page")
# Who holds a case: an operator of the ward's central input centre. {user}: their user name.
CENTRE_OPERATOR = N_("input centre ({user})")
# A branch's input screen: take a case back from the ward's input centre to key it here.
TAKE_BACK = N_("Take back")
