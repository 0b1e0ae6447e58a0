"""A branch's half of the ward's shared input centre (Setagaya's 集中入力センター; docs/ward.md).

The branch shares its input station: it publishes the cases waiting there (:func:`cases_document`,
retained on ``office/ward/cases``, bridged up), and takes the centre's operators' actions on
them (claim, release, finish) as it takes a local operator's - the same desk, the same rules,
the same audit log - once it has checked them (:func:`accept`):

* the centre office's signature, under the key the branch pinned (``[ward] centre_key``): the
  bridge's topic says where an action came through, not who wrote it;
* the time it was sent: an action that waited in a queue through a WAN cut is refused, not
  carried out late on a case that has moved on, or been taken back, since;
* the case: only a case at this branch's input station.

The case stays the branch's: its counter and the resident's page see the centre's work as local
changes, and a branch user may take a case back from the centre at any time (:func:`may_take_back`)
- when the centre is busy, or the WAN is down and the centre could not finish it anyway. The
centre learns that from the next cases document; its own later action on the case is refused
because the case changed since the operator saw it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from office import actions
from office.domain import CENTRE_PREFIX, Stamp, Status, Ticket
from office.floor import arrived_at, input_cases
from sync import messages, protocol
from sync.signing import OfficeVerifier

__all__ = ["CENTRE_PREFIX", "Refused", "accept", "cases_document", "centre_holder", "is_centre"]


class Refused(Exception):
    """A centre action the branch will not carry out: the answer the centre gets, as an English
    template and its fields (the centre's console translates it)."""

    def __init__(self, template: str, *, request: messages.WardAction | None = None, **params: str | int) -> None:
        super().__init__(template.format(**params))
        self.template = template
        self.params = params
        self.request = request  # the action refused, as decoded (None: refused before that)


# The branch's refusals, for the centre's console to translate (office/console/strings.py).
TOO_OLD = "refused: sent {seconds} s ago (the link to the centre was down?); look at the case again and act anew"
TOO_NEW = "refused: sent {seconds} s ahead of the branch's clock; set the centre's clock right"
NO_CASE = "refused: no such case at this branch"
NOT_AT_INPUT = "refused: {number} is no longer at the input station"


def centre_holder(operator: str) -> str:
    """How a centre operator holds a branch's case (``ward:tanaka``); the ``:`` cannot occur in
    a branch's own user names, so the two never collide."""
    return CENTRE_PREFIX + operator


def is_centre(holder: str | None) -> bool:
    """Whether ``holder`` is one of the ward centre's operators."""
    return holder is not None and holder.startswith(CENTRE_PREFIX)


def cases_document(
    station: str,
    active: Sequence[Ticket],
    stamps: Mapping[str, Sequence[Stamp]],
    *,
    version: int,
    now_ms: int,
    today: str,
) -> messages.WardCases:
    """The cases at the input station, oldest first, as the centre's screen lists them."""
    here = input_cases(station, active, stamps)
    shown = here[: messages.MAX_WARD_CASES]
    return messages.WardCases(
        version=version,
        sent_ms=now_ms,
        day=today,
        station=station,
        cases=tuple(
            messages.WardCase(
                ticket_id=t.ticket_id,
                number=t.number,
                category=t.category,
                procedures=tuple(t.procedures)[:32],
                arrived_ms=arrived_at(t, stamps.get(t.ticket_id, ())),
                updated_ms=t.updated_ms,
                holder=t.holder,
                held=t.status is Status.HELD,
            )
            for t in shown
        ),
        more=len(here) - len(shown),
    )


def accept(
    raw: bytes, verifier: OfficeVerifier, site: str, now_ms: int
) -> tuple[messages.WardAction, actions.TicketAction, actions.Actor]:
    """The checked action as the desk's typed action and actor.

    Raises :class:`sync.signing.SignatureError` for an action the centre did not sign (no answer
    is given to that), :class:`sync.errors.ProtocolError` for a malformed one, and
    :class:`Refused` for a signed one that is too old or from the future (answered).
    """
    verifier.check("ward_action", site, None, raw)
    doc = protocol.decode("ward_action", raw)
    age = now_ms - doc.sent_ms
    if age > messages.WARD_ACTION_MAX_AGE_MS:
        raise Refused(TOO_OLD, request=doc, seconds=age // 1000)
    if -age > messages.WARD_ACTION_MAX_AHEAD_MS:
        raise Refused(TOO_NEW, request=doc, seconds=-age // 1000)
    case = doc.case
    request, ticket, seen = doc.request_id, case.ticket_id, case.seen_ms
    typed: actions.TicketAction
    match case:
        case messages.WardClaim():
            typed = actions.Claim(request_id=request, ticket_id=ticket, seen_ms=seen)
        case messages.WardRelease():
            typed = actions.Release(request_id=request, ticket_id=ticket, seen_ms=seen)
        case messages.WardFinish():
            typed = actions.Finish(request_id=request, ticket_id=ticket, seen_ms=seen, outcome="next")
    return doc, typed, actions.Actor(username=centre_holder(doc.operator), role="input")


def at_input(ticket: Ticket | None, station: str) -> None:
    """Refused unless the case is at the branch's input station (the centre works nothing else)."""
    if ticket is None:
        raise Refused(NO_CASE)
    if ticket.station != station or not ticket.status.active:
        raise Refused(NOT_AT_INPUT, number=ticket.number)
