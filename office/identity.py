"""Who a lobby device is, and what it may say: the office's side of "trust nothing a message
says about its sender".

A device's role comes from its enrolment (the office CA's register, ``enrolled_devices``) or, for
an office without enrolment, from the site file's ``[[devices]]`` patterns; never from what the
device reports about itself. Each role sends only some kinds of event, and only a kiosk asks the
office for certificates. Pure: the enrolment register is handed in as a mapping.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from pathlib import Path

from office.domain import OfficeError
from sync import messages, signing
from sync.site import DeviceRule

# The office's signing key (sync/signing.py) lives beside its store: the server signs with it,
# the enrolment endpoint hands its public half to every device it enrols, a backup of the
# directory keeps both, and a second office on another store has a key of its own.
SIGNING_KEY_FILE = "office-signing.key"


def signing_key_path(db_path: Path | str, home: Path | None = None) -> Path:
    """Where the office keeps the key that signs what it publishes to devices: ``home``, else
    beside its SQLite store. An office on PostgreSQL has no folder of the store's: it names one."""
    if home is not None:
        return Path(home) / SIGNING_KEY_FILE
    if str(db_path).startswith(("postgresql://", "postgres://")):
        raise OfficeError(
            "an office on PostgreSQL keeps its signing key in a folder of its own: give --home DIR"
            " (e.g. /var/lib/madoguchi)"
        )
    return Path(db_path).parent / SIGNING_KEY_FILE


def office_public_key(db_path: Path | str, home: Path | None = None) -> str:
    """The public half of the office's signing key (made now if there is none), as devices pin it."""
    return signing.public_key_text(signing.load_or_create_key(signing_key_path(db_path, home)).public_key())


# A kiosk's other money records, kept for the audit trail (kiosk/office_link.py).
KIOSK_JOURNAL = messages.KioskJournal.type

# The event types each role journals (sync/messages.py EVENT_DATA and the agents' own records).
ROLE_EVENTS: Mapping[str, frozenset[str]] = {
    "dispenser": frozenset(
        {
            messages.TicketIssued.type,
            messages.TicketReprinted.type,
            messages.TicketPrintFailed.type,
            messages.PrinterStatusChanged.type,
            messages.StoreRecovered.type,
        }
    ),
    "kiosk": frozenset(
        {
            messages.KioskCash.type,
            messages.KioskIssueVoid.type,
            KIOSK_JOURNAL,
            messages.PrinterStatusChanged.type,
            messages.StoreRecovered.type,
        }
    ),
    "board": frozenset({messages.StoreRecovered.type}),
}

# Topics a device publishes on, and the roles that may.
ROLE_TOPICS: Mapping[str, frozenset[str]] = {
    "events": frozenset(ROLE_EVENTS),
    "device_status": frozenset(ROLE_EVENTS),
    "kiosk_request": frozenset({"kiosk"}),
}


def role_from_rules(rules: Sequence[DeviceRule], device: str) -> str | None:
    """The role of the first ``[[devices]]`` rule matching ``device`` (case-sensitive), or None."""
    for rule in rules:
        if fnmatch.fnmatchcase(device, rule.match):
            return rule.role
    return None


def role_of(device: str, enrolled: Mapping[str, str], rules: Sequence[DeviceRule]) -> str | None:
    """The device's role: its enrolment first, then the site file's rules; None if unknown."""
    if device in enrolled:
        return enrolled[device]
    return role_from_rules(rules, device)


def may_publish(role: str | None, topic: str) -> bool:
    """Whether a device of ``role`` may publish on the topic named ``topic`` (protocol.TOPICS)."""
    return role is not None and role in ROLE_TOPICS.get(topic, frozenset())


def may_send_event(role: str | None, event_type: str) -> bool:
    """Whether a device of ``role`` journals events of ``event_type``."""
    return role is not None and event_type in ROLE_EVENTS.get(role, frozenset())
