"""The held feed and what a new one does to it (pure: time and the zone are arguments).

The office pushes :class:`sync.messages.PublicFeed` documents one way; the public process keeps
one :class:`Held` value, replaced whole by :func:`apply` (copy on write), so a reader takes the
current value and never sees half a feed. Rules (docs/protocol.md, "The resident's page feed"):

* a ``version`` at or below the one held is ignored (the office resends after a timeout);
* ``full`` replaces every ticket and the congestion figures;
* otherwise tickets are upserted by key, ``removed`` keys dropped, and ``purposes``, when the
  feed carries any, replace the congestion figures held;
* a new ``business_day`` forgets the old day's tickets and figures first;
* a ticket's page lives until the business day ends: the rollover hour of the next day, in the
  office's zone (:func:`expires_ms`). After that :func:`ticket` finds nothing, and
  :func:`forget_expired` drops the day's data while keeping the version.

Tickets are filed by ``sync.tokens.ticket_key`` of their token, so this process never holds a
token: :func:`ticket` hashes what the resident's phone asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from types import MappingProxyType

from sync.messages import PublicFeed, PublicPurpose, PublicTicket
from sync.tokens import normalise, ticket_key

__all__ = ["Applied", "Held", "apply", "expires_ms", "forget_expired", "is_live", "ticket", "to_feed"]

_EMPTY: Mapping[str, PublicTicket] = MappingProxyType({})


@dataclass(frozen=True)
class Held:
    """What the public process holds: the last accepted feed's day, version and tickets."""

    site: str = ""
    office_name: str = ""
    business_day: str = ""
    version: int | None = None  # None: nothing accepted yet
    sent_ms: int = 0  # the office's clock when the last accepted feed was sent
    tickets: Mapping[str, PublicTicket] = field(default_factory=lambda: _EMPTY)
    purposes: tuple[PublicPurpose, ...] = ()
    purposes_ms: int = 0  # sent_ms of the feed that last carried congestion figures


@dataclass(frozen=True)
class Applied:
    """What a feed did: the new value, whether it was taken, and which pages change."""

    held: Held
    accepted: bool
    changed: frozenset[str] = frozenset()  # ticket keys whose page changes (removed ones too)
    everything: bool = False  # a full feed or a new day: every open page changes
    congestion: bool = False  # the congestion page changes
    reason: str = ""  # why a feed was not taken


def apply(held: Held, feed: PublicFeed) -> Applied:
    """``held`` after ``feed``, or ``held`` unchanged when the feed is not newer."""
    if held.version is not None and feed.version <= held.version:
        return Applied(held, False, reason=f"version {feed.version} is not newer than {held.version}")
    fresh = feed.full or feed.business_day != held.business_day
    tickets: dict[str, PublicTicket] = {} if fresh else dict(held.tickets)
    changed: set[str] = set(held.tickets) if fresh else set()
    for key in feed.removed:
        if tickets.pop(key, None) is not None:
            changed.add(key)
    for t in feed.tickets:
        if tickets.get(t.key) != t:
            changed.add(t.key)
        tickets[t.key] = t
    if fresh:
        changed.update(tickets)
    purposes, purposes_ms = held.purposes, held.purposes_ms
    if fresh or feed.purposes:
        purposes, purposes_ms = feed.purposes, feed.sent_ms
    new = Held(
        site=feed.site,
        office_name=feed.office_name or held.office_name,
        business_day=feed.business_day,
        version=feed.version,
        sent_ms=feed.sent_ms,
        tickets=MappingProxyType(tickets),
        purposes=purposes,
        purposes_ms=purposes_ms,
    )
    congestion = fresh or purposes != held.purposes or new.office_name != held.office_name
    return Applied(new, True, frozenset(changed), everything=fresh, congestion=congestion)


def expires_ms(business_day: str, zone: tzinfo, rollover_hour: int) -> int:
    """When the pages of ``business_day`` close: the rollover hour of the next day, local time.

    The office counts a ticket taken before the rollover hour as the previous day's, so the
    business day ends there, not at midnight.
    """
    day = date.fromisoformat(business_day) + timedelta(days=1)
    return int(datetime.combine(day, time(rollover_hour), tzinfo=zone).timestamp() * 1000)


def is_live(held: Held, now_ms: int, zone: tzinfo, rollover_hour: int) -> bool:
    """Whether ``held`` is of a business day that has not ended at ``now_ms``."""
    if not held.business_day:
        return False
    try:
        return now_ms < expires_ms(held.business_day, zone, rollover_hour)
    except ValueError:  # a day the pattern let through but no calendar has ("2026-02-30")
        return False


def ticket(held: Held, token_text: str, now_ms: int, zone: tzinfo, rollover_hour: int) -> PublicTicket | None:
    """The ticket a page address names, or None for a malformed, unknown or expired token.

    The three cases give the same answer, so a caller cannot tell them apart; the look-up is
    one hash and one dictionary access (no search by prefix that a timing could reveal).
    """
    token = normalise(token_text)
    if token is None:
        return None
    found = held.tickets.get(ticket_key(token))
    if found is None or not is_live(held, now_ms, zone, rollover_hour):
        return None
    return found


def forget_expired(held: Held, now_ms: int, zone: tzinfo, rollover_hour: int) -> Applied:
    """Drop the tickets and figures of a business day that has ended; the version is kept, so a
    late copy of an old feed is still refused."""
    if not (held.tickets or held.purposes) or is_live(held, now_ms, zone, rollover_hour):
        return Applied(held, False, reason="nothing has expired")
    new = Held(
        site=held.site,
        office_name=held.office_name,
        business_day=held.business_day,
        version=held.version,
        sent_ms=held.sent_ms,
    )
    return Applied(new, True, frozenset(held.tickets), everything=True, congestion=True)


def to_feed(held: Held) -> PublicFeed | None:
    """``held`` as one full feed (what the process keeps on disk), or None before any feed."""
    if held.version is None or not held.business_day:
        return None
    return PublicFeed(
        site=held.site,
        office_name=held.office_name,
        business_day=held.business_day,
        version=held.version,
        sent_ms=held.sent_ms,
        full=True,
        tickets=tuple(held.tickets.values()),
        purposes=held.purposes,
    )
