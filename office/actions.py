"""What staff can do, as typed actions, and who may do which (pure).

Every click in the staff console becomes one of these, carried to the office loop with a
request id (the loop carries each request out once, after a restart too) and the :class:`Actor`
the console took from the signed-in session - never from the form. :func:`allowed` is the
permission rule; the loop enforces it, the pages only hide what a role cannot do.

Roles (STAFF.md, Qminder's and Novo SGA's): a **clerk** works a counter; the **input** centre
(集中入力センター) keys cases at the input station; the **floor** manager sees everything, moves and
voids tickets and frees cases; the **admin** manages staff accounts and may do all of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec

from common.validation import info

Role = Literal["clerk", "input", "floor", "admin"]
ROLES: tuple[Role, ...] = ("clerk", "input", "floor", "admin")

RequestId = Annotated[str, info(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Ref = Annotated[str, info(min_length=1, max_length=20, what="a ticket number such as 1105 or 2-1105")]
Code = Annotated[str, info(min_length=1, max_length=32)]
CounterNo = Annotated[int, info(ge=0, le=999)]


@dataclass(frozen=True)
class Actor:
    """Who acts: the signed-in staff user, their role and the counter they sit at (if any)."""

    username: str
    role: Role
    counter: int | None = None


def _snake(name: str) -> str:
    # The forms and the audit log name an action like the CLI would: CallNext -> call_next.
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


class Action(msgspec.Struct, frozen=True, kw_only=True, tag_field="action", tag=_snake):
    """One staff action; ``request_id`` makes it idempotent (a retry gets the first answer)."""

    request_id: RequestId


class TicketAction(Action, frozen=True, kw_only=True):
    """An action on one ticket, by its id (the console shows it; staff never type it).

    ``seen_ms`` is the ticket's last change as the acting screen showed it: when someone else
    changed the ticket since, the action is refused rather than applied to what nobody saw.
    """

    ticket_id: Annotated[str, info(min_length=1, max_length=64)]
    seen_ms: Annotated[int, info(ge=0)] | None = None


# -- the counter --------------------------------------------------------------------------------


class OpenCounter(Action, frozen=True, kw_only=True):
    """Open the actor's counter: it calls, and the wait estimate counts it."""


class CloseCounter(Action, frozen=True, kw_only=True):
    """Close the actor's counter."""


class CallNext(Action, frozen=True, kw_only=True):
    """Call the longest-waiting ticket of the purposes the actor's counter serves."""


class CallNumber(Action, frozen=True, kw_only=True):
    """Call a chosen number to the actor's counter (out of order)."""

    ref: Ref


class Recall(TicketAction, frozen=True, kw_only=True):
    """Call the ticket at the counter again."""


class Start(TicketAction, frozen=True, kw_only=True):
    """The called resident is here: work on the case begins at the counter."""


Outcome = Literal["next", "complete", "handed_over"]


class Finish(TicketAction, frozen=True, kw_only=True):
    """Done here: ``next`` sends the case to the next station of its route, ``complete`` to the
    terminal (the resident is called to collect), ``handed_over`` ends a ready ticket."""

    outcome: Outcome = "next"


class Absent(TicketAction, frozen=True, kw_only=True):
    """The resident did not come when called (no-show); a later call brings the ticket back."""


class Hold(TicketAction, frozen=True, kw_only=True):
    """Put the case aside where it is."""


class Resume(TicketAction, frozen=True, kw_only=True):
    """Take a held case up again."""


class TransferPurpose(TicketAction, frozen=True, kw_only=True):
    """The ticket joins another purpose's queue (keeping its place by issue time)."""

    purpose: Code


class TransferStation(TicketAction, frozen=True, kw_only=True):
    """Move the case to a station of its route (forward, or back)."""

    station: Code


class TransferCounter(TicketAction, frozen=True, kw_only=True):
    """Call the ticket to another counter instead."""

    counter: CounterNo


class Void(TicketAction, frozen=True, kw_only=True):
    """Cancel the ticket."""


# -- the input centre ---------------------------------------------------------------------------


class Claim(TicketAction, frozen=True, kw_only=True):
    """Take a case to key it (no two people hold one case); a counter takes one back this way."""


class Release(TicketAction, frozen=True, kw_only=True):
    """Give a case back to its station's pool."""


# -- the concierge desk -------------------------------------------------------------------------


class IssueTicket(Action, frozen=True, kw_only=True):
    """Issue a ticket on a resident's behalf, with the purpose and procedures staff chose."""

    purpose: Code
    procedures: Annotated[tuple[Annotated[str, info(max_length=200)], ...], info(max_length=32)] = ()
    print_ticket: bool = True


# -- staff accounts (the administrator; the console hashes the password, the loop writes) ---------

Username = Annotated[str, info(min_length=2, max_length=32, pattern=r"^[a-z0-9._-]+$")]
PasswordHash = Annotated[str, info(min_length=20, max_length=500, pattern=r"^\$argon2id\$")]


class AddUser(Action, frozen=True, kw_only=True):
    """A new staff account."""

    username: Username
    display_name: Annotated[str, info(min_length=1, max_length=60)]
    role: Role
    password_hash: PasswordHash


class SetPassword(Action, frozen=True, kw_only=True):
    """A new password for an account (it lifts a lockout)."""

    username: Username
    password_hash: PasswordHash


class SetDisabled(Action, frozen=True, kw_only=True):
    """Disable an account (its sessions end) or enable it again."""

    username: Username
    disabled: bool


AnyAction = (
    OpenCounter
    | CloseCounter
    | CallNext
    | CallNumber
    | Recall
    | Start
    | Finish
    | Absent
    | Hold
    | Resume
    | TransferPurpose
    | TransferStation
    | TransferCounter
    | Void
    | Claim
    | Release
    | IssueTicket
    | AddUser
    | SetPassword
    | SetDisabled
)

COUNTER_ACTIONS: frozenset[type[Action]] = frozenset(
    {OpenCounter, CloseCounter, CallNext, CallNumber, Recall, Start, Finish, Absent, Hold, Resume, TransferCounter}
)
CASE_ACTIONS: frozenset[type[Action]] = frozenset({Claim, Release, Finish, Hold, Resume})
FLOOR_ACTIONS: frozenset[type[Action]] = frozenset(
    {TransferPurpose, TransferStation, TransferCounter, Void, Release, Resume, Hold, Absent, IssueTicket}
)

ACCOUNT_ACTIONS: frozenset[type[Action]] = frozenset({AddUser, SetPassword, SetDisabled})

PERMISSIONS: dict[Role, frozenset[type[Action]]] = {
    # A counter may also take a case back from the input centre (Claim) and key it itself, move
    # it on, and change what it is for when the resident came for something else.
    "clerk": COUNTER_ACTIONS | CASE_ACTIONS | {TransferPurpose, TransferStation, Void, IssueTicket},
    "input": CASE_ACTIONS | {TransferStation},
    "floor": FLOOR_ACTIONS | CASE_ACTIONS,
    "admin": COUNTER_ACTIONS | CASE_ACTIONS | FLOOR_ACTIONS | ACCOUNT_ACTIONS,
}

NEEDS_COUNTER: frozenset[type[Action]] = frozenset({OpenCounter, CloseCounter, CallNext, CallNumber, Recall, Start})


# -- sessions (the console asks the loop to write them; no role needed) ----------------------------


class SignIn(msgspec.Struct, frozen=True, kw_only=True):
    """A console signed in: the console checked the password (Argon2 costs time the loop must
    not spend); the loop checks the account is usable and writes the session."""

    username: str
    key: str  # the SHA-256 of the session cookie's token
    csrf: str
    counter: int | None
    password_ok: bool


class SignOut(msgspec.Struct, frozen=True, kw_only=True):
    """A console signed out."""

    key: str


def allowed(actor: Actor, action: Action) -> bool:
    """Whether ``actor`` may take ``action`` (the loop refuses it otherwise)."""
    if type(action) not in PERMISSIONS[actor.role]:
        return False
    return not (type(action) in NEEDS_COUNTER and actor.counter is None)


def name(action: Action) -> str:
    """The action's name as the audit log and the forms write it (its tag)."""
    return name_of(type(action))


def name_of(kind: type[Action]) -> str:
    """An action type's name (``CallNext`` -> ``call_next``)."""
    return str(kind.__struct_config__.tag)
