"""Every payload of the wire protocol as a frozen, typed model (docs/protocol.md is their prose).

The office builds these and encodes them; the device that receives one decodes it once, on
arrival, into the same type (:func:`sync.protocol.decode`), and works on the type from then
on - no dicts dug through by hand. The types carry their limits (``Annotated[int,
info(ge=0, le=...)]``), so decoding checks every value in one pass (msgspec, in C).

Rules the models keep (DESIGN.md decisions 2 and 10):

* every payload has ``v`` (the schema version, 1); unknown fields are ignored, so a newer minor
  version may add some;
* state documents carry ``version`` and ``sent_ms``; events are :class:`EventRecord` s whose
  ``data`` is decoded by the consumer of that event type (:data:`EVENT_DATA`);
* sizes are bounded everywhere: no list, map or text a sender could grow without limit.
"""

from __future__ import annotations

from datetime import date, time
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from common import calendar
from common.validation import info

SCHEMA_VERSION = 1
# Events per message when a device drains its outbox: batching is what lets the office commit
# in transactions, which is where the drain rate comes from.
MAX_EVENTS_PER_MESSAGE = 100
MAX_MS = 2**53  # JSON's exact integers: far beyond any time or sequence we will see

Ms = Annotated[int, info(ge=0, le=MAX_MS, what="a time in milliseconds since 1970")]
Version = Annotated[int, info(ge=0, le=MAX_MS, what="a version number")]
Seq = Annotated[int, info(ge=0, le=MAX_MS, what="an event sequence number")]
Id = Annotated[
    str,
    info(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
        what="an id of 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit",
    ),
]
Code = Annotated[str, info(min_length=1, max_length=32)]
Day = Annotated[str, info(pattern=r"^\d{4}-\d{2}-\d{2}$", what='a day like "2026-11-21"')]
MonthDay = Annotated[str, info(pattern=r"^\d{2}-\d{2}$", what='a month and day like "12-29"')]
HhMm = Annotated[str, info(pattern=r"^\d{2}:\d{2}$", what='a time like "08:30"')]
# A closing time; "24:00" is the end of the day (a lobby open round the clock).
Closing = Annotated[str, info(pattern=r"^(\d{2}:\d{2}|24:00)$", what='a time like "17:15" (or "24:00")')]
Weekday = Annotated[int, info(ge=0, le=6, what="a weekday from 0 (Monday) to 6 (Sunday)")]
Number = Annotated[int, info(ge=0, le=10_000_000, what="a ticket number")]
CounterNo = Annotated[int, info(ge=0, le=999, what="a counter number from 0 to 999")]
RequestId = Annotated[str, info(min_length=1, max_length=64)]
Names = Annotated[dict[str, Annotated[str, info(max_length=200)]], info(max_length=16)]
Yen = Annotated[int, info(ge=0, le=10_000_000, what="an amount of yen")]


class Payload(msgspec.Struct, frozen=True, kw_only=True):
    """Every payload: the schema version, then the fields of its topic."""

    v: int = SCHEMA_VERSION
    topic: ClassVar[str]  # the protocol.TOPICS name it travels on


class Part(msgspec.Struct, frozen=True, kw_only=True):
    """A value inside a payload (a station, a row of a snapshot)."""


# --------------------------------------------------------------------------------------------
# office -> devices: state
# --------------------------------------------------------------------------------------------


class OfficeStatus(Payload, frozen=True, kw_only=True):
    """The office's presence: retained, its last will says offline, a heartbeat every 10 s."""

    topic: ClassVar[str] = "office_status"
    state: Literal["online", "offline"]
    epoch: Annotated[str, info(max_length=64)]  # new at every office start
    session: Annotated[int, info(ge=0, le=2**31)] = 0  # broker connections within the epoch
    sent_ms: Ms | None = None


class Hours(Part, frozen=True, kw_only=True):
    """Opening hours of one kind of device, and the days it stays closed."""

    open: HhMm
    close: Closing
    closed_weekdays: Annotated[tuple[Weekday, ...], info(max_length=7)] = ()
    closed_dates: Annotated[tuple[MonthDay, ...], info(max_length=366)] = ()  # every year
    holidays: Annotated[tuple[Day, ...], info(max_length=1000)] = ()

    def calendar(self) -> calendar.Hours:
        """The hours as the business calendar reasons with them. ValueError names what is
        unreadable (a date that the pattern let through but no calendar has)."""
        return calendar.Hours(
            open=time.fromisoformat(self.open),
            close=time.max if self.close == "24:00" else time.fromisoformat(self.close),
            closed_dates=frozenset((int(d[:2]), int(d[3:])) for d in self.closed_dates),
            closed_weekdays=frozenset(self.closed_weekdays),
            holidays=frozenset(date.fromisoformat(d) for d in self.holidays),
        )


class StationInfo(Part, frozen=True, kw_only=True):
    """A station of the routes, with its name per language."""

    code: Code
    name: Names


class PurposeInfo(Part, frozen=True, kw_only=True):
    """A purpose (category) the dispensers offer: its number series, names and route."""

    code: Code
    series: Code
    name: Names
    route: Annotated[tuple[Code, ...], info(max_length=32)]
    procedures: Annotated[tuple[Annotated[str, info(max_length=200)], ...], info(max_length=64)] = ()
    daily_cap: Annotated[int, info(ge=1, le=10_000_000)] | None = None


class CounterInfo(Part, frozen=True, kw_only=True):
    """A counter as residents are told of it: its number, its name per language (what the board's
    call and its voice say) and its kind (a high or low counter, a consultation room)."""

    number: CounterNo
    name: Names = {}
    kind: Literal["high", "low", "consultation"] = "high"


DEVICE_KEEP_DAYS = 14  # days of its own ticket logs a device keeps unless the site says otherwise


class OfficeConfig(Payload, frozen=True, kw_only=True):
    """What the dispensers offer and when: purposes in display order, stations, hours, fees."""

    topic: ClassVar[str] = "office_config"
    version: Version
    sent_ms: Ms
    office_name: Annotated[str, info(max_length=200)] = ""
    timezone: Annotated[str, info(max_length=64)] = "Asia/Tokyo"
    rollover_hour: Annotated[int, info(ge=0, le=12)] = 3
    keep_days: Annotated[int, info(ge=2, le=3660)] = DEVICE_KEEP_DAYS  # days a device keeps its own logs
    lease_days: Annotated[tuple[Day, ...], info(max_length=14)] = ()
    progress_url: Annotated[str, info(max_length=200)] = ""
    dispenser: Hours | None = None
    kiosk: Hours | None = None
    certificate_fees: Annotated[dict[Code, Yen], info(max_length=16)] = {}
    stations: Annotated[tuple[StationInfo, ...], info(max_length=32)]
    categories: Annotated[tuple[PurposeInfo, ...], info(max_length=64)]
    counters: Annotated[tuple[CounterInfo, ...], info(max_length=1000)] = ()
    # A procedure's names in the lobby's other languages, by its Japanese name.
    procedure_names: Annotated[dict[Annotated[str, info(max_length=200)], Names], info(max_length=256)] = {}

    def purpose(self, code: str) -> PurposeInfo | None:
        """The purpose with ``code``, or None."""
        return next((c for c in self.categories if c.code == code), None)

    def procedure_name(self, name: str, language: str) -> str:
        """A procedure as a resident of ``language`` reads it: the site's translation, else its
        Japanese name."""
        names = self.procedure_names.get(name, {})
        return names.get(language) or names.get(language.split("_")[0]) or name


class QueueRow(Part, frozen=True, kw_only=True):
    """One purpose in the queue snapshot."""

    code: Code
    waiting: Annotated[int, info(ge=0, le=1_000_000)]
    est_wait_min: Annotated[int, info(ge=0, le=100_000)] | None = None  # None: no basis
    min_per_person: Annotated[int, info(ge=0, le=10_000)] | None = None
    last_called: Number | None = None
    issued: Number = 0  # today, every dispenser: the daily cap is enforced with it


class QueueSnapshot(Payload, frozen=True, kw_only=True):
    """People waiting and the expected wait per purpose (dispensers, boards)."""

    topic: ClassVar[str] = "queue_snapshot"
    version: Version
    sent_ms: Ms
    business_day: Day | None = None
    categories: Annotated[tuple[QueueRow, ...], info(max_length=64)]
    # per dispenser: the acked seq these counts include, so a dispenser can add its own
    # tickets the office has not counted yet
    acked: Annotated[dict[Id, Seq], info(max_length=1000)] = {}

    def row(self, code: str) -> QueueRow | None:
        """The row of purpose ``code``, or None."""
        return next((r for r in self.categories if r.code == code), None)


# [number, station index (-1 = waiting on the platform), status, counter or null]
TrainRow = tuple[
    Number,
    Annotated[int, info(ge=-1, le=31)],
    Annotated[str, info(max_length=16)],
    CounterNo | None,
]


class BoardLine(Part, frozen=True, kw_only=True):
    """One route of the train board with its tickets as compact rows, in issue order."""

    route: Annotated[str, info(max_length=64)]
    stations: Annotated[tuple[Code, ...], info(max_length=32)]
    tickets: Annotated[tuple[TrainRow, ...], info(max_length=2000)]
    more_waiting: Annotated[int, info(ge=0, le=10_000_000)] = 0  # waiting tickets not listed


class CallRow(Part, frozen=True, kw_only=True):
    """A recent call: ``number`` to ``counter``."""

    number: Number
    counter: CounterNo
    at_ms: Ms


class CounterCall(Part, frozen=True, kw_only=True):
    """Now calling at one counter: to start (``call``) or to receive a result (``ready``)."""

    counter: CounterNo
    number: Number
    kind: Literal["call", "ready"]
    at_ms: Ms


class BoardSnapshot(Payload, frozen=True, kw_only=True):
    """The train board: every train per line, the newest calls, now calling per counter."""

    topic: ClassVar[str] = "board_snapshot"
    version: Version
    sent_ms: Ms
    business_day: Day | None = None
    lines: Annotated[tuple[BoardLine, ...], info(max_length=32)]
    calls: Annotated[tuple[CallRow, ...], info(max_length=50)]
    counters: Annotated[tuple[CounterCall, ...], info(max_length=200)] = ()


class Ack(Payload, frozen=True, kw_only=True):
    """The cumulative ack: every event of the device with ``seq <= acked`` is committed."""

    topic: ClassVar[str] = "ack"
    acked: Seq
    sent_ms: Ms | None = None


class LeaseBlock(Part, frozen=True, kw_only=True):
    """Numbers ``first..last`` of a series on a business day, leased to one dispenser."""

    series: Code
    day: Day
    first: Number
    last: Number


class CapShare(Part, frozen=True, kw_only=True):
    """A dispenser's share of a purpose's daily cap: its own tickets of ``code`` on ``day`` may
    number ``upto`` at most, with the office reachable or not."""

    day: Day
    code: Code
    upto: Annotated[int, info(ge=0, le=10_000_000)]


class Lease(Payload, frozen=True, kw_only=True):
    """The number blocks leased to a dispenser for today and tomorrow, and its shares of the
    purposes' daily caps."""

    topic: ClassVar[str] = "lease"
    version: Version
    sent_ms: Ms | None = None
    blocks: Annotated[tuple[LeaseBlock, ...], info(max_length=500)]
    caps: Annotated[tuple[CapShare, ...], info(max_length=256)] = ()

    def cap_share(self, day: str, code: str) -> int | None:
        """The dispenser's share of ``code``'s cap on ``day`` (None: the office gave none)."""
        return next((c.upto for c in self.caps if c.day == day and c.code == code), None)


class Voids(Payload, frozen=True, kw_only=True):
    """The day's tickets of a dispenser that staff voided (dropped from its reprint queue)."""

    topic: ClassVar[str] = "voids"
    version: Version
    sent_ms: Ms | None = None
    day: Day | None = None
    tickets: Annotated[tuple[Annotated[str, info(max_length=64)], ...], info(max_length=5000)]


# --------------------------------------------------------------------------------------------
# devices -> office
# --------------------------------------------------------------------------------------------


class NumberMark(Part, frozen=True, kw_only=True):
    """A dispenser's last number taken in a series on a day."""

    series: Code
    day: Day
    last: Number


class Health(Part, frozen=True, kw_only=True):
    """What a device says of itself beyond online and offline, for the floor view and its alerts.

    A kiosk: in service or not (and why), its cash levels per denomination, change running low,
    refund slips it printed that a counter must pay. A board: whether what it shows is stale.
    """

    in_service: bool | None = None
    fault: Annotated[str, info(max_length=64)] = ""
    cash: Annotated[
        dict[Annotated[str, info(max_length=16)], Annotated[int, info(ge=0, le=100_000)]], info(max_length=32)
    ] = {}
    change_low: bool = False
    refunds_owed: Annotated[int, info(ge=0, le=10_000)] = 0
    stale: bool = False


class DeviceStatus(Payload, frozen=True, kw_only=True):
    """A device's birth message on every connect (retained); its last will says offline."""

    topic: ClassVar[str] = "device_status"
    state: Literal["online", "offline"]
    role: Annotated[str, info(max_length=32)] = ""
    sent_ms: Ms | None = None
    hlc: Annotated[str, info(max_length=40)] = ""
    outbox_pending: Seq = 0
    last_seq: Seq = 0
    clock_confirmed: bool = False
    # the office counts usage from these as well as from ticket events, so leases are topped
    # up before all events have arrived
    marks: Annotated[tuple[NumberMark, ...], info(max_length=200)] = ()
    health: Health | None = None
    # the madoguchi package the device runs (the floor view lists it: which devices an upgrade
    # from the office's apt repository has reached)
    version: Annotated[str, info(max_length=40)] = ""


class EventRecord(Part, frozen=True, kw_only=True):
    """One journalled event: ``id`` is ``"<device>:<seq>"``, the office's idempotency key."""

    id: Annotated[str, info(max_length=140)]
    seq: Annotated[int, info(ge=1, le=MAX_MS)]
    type: Annotated[str, info(max_length=64)]
    hlc: Annotated[str, info(max_length=40)]
    at: Ms
    data: dict[str, Any]  # checked by the consumer of the type (EVENT_DATA)


class EventBatch(Payload, frozen=True, kw_only=True):
    """Up to 100 events of one device, oldest first; ``device`` must match the topic."""

    topic: ClassVar[str] = "events"
    device: Id
    events: Annotated[tuple[EventRecord, ...], info(max_length=MAX_EVENTS_PER_MESSAGE)]


# -- the events' data ---------------------------------------------------------------------------


class EventData(msgspec.Struct, frozen=True, kw_only=True):
    """The ``data`` of one event type (its name is :attr:`type`)."""

    type: ClassVar[str]


class TicketIssued(EventData, frozen=True, kw_only=True):
    """A dispenser issued a ticket (nothing personal: the resident stays anonymous)."""

    type: ClassVar[str] = "ticket.issued"
    ticket_id: Annotated[str, info(max_length=64)]
    day: Day
    series: Code
    number: Number
    category: Annotated[str, info(max_length=64)]
    route: Annotated[tuple[Code, ...], info(max_length=32)] = ()
    procedures: Annotated[tuple[Annotated[str, info(max_length=200)], ...], info(max_length=64)] = ()
    clock_confirmed: bool = False
    # the unguessable token of the resident's page (sync.tokens); None from older dispensers
    token: Annotated[str, info(pattern=r"^[A-Z2-7]{26}$", what="26 base32 letters")] | None = None


class TicketReprinted(EventData, frozen=True, kw_only=True):
    """A held ticket was printed after all."""

    type: ClassVar[str] = "ticket.reprinted"
    ticket_id: Annotated[str, info(max_length=64)]


class TicketPrintFailed(EventData, frozen=True, kw_only=True):
    """A ticket is valid but did not print; the dispenser holds it for a reprint."""

    type: ClassVar[str] = "ticket.print_failed"
    ticket_id: Annotated[str, info(max_length=64)]
    fault: Annotated[str, info(max_length=64)]


class PrinterStatusChanged(EventData, frozen=True, kw_only=True):
    """What staff must know of a ticket printer: its fault (None when fine), paper running low."""

    type: ClassVar[str] = "printer.status"
    fault: Annotated[str, info(max_length=64)] | None = None
    paper_near_end: bool = False
    detail: Annotated[str, info(max_length=200)] = ""


class StoreRecovered(EventData, frozen=True, kw_only=True):
    """A local store was damaged and repaired from its last good copy at start."""

    type: ClassVar[str] = "store.recovered"
    note: Annotated[str, info(max_length=500)]


class KioskCash(EventData, frozen=True, kw_only=True):
    """A kiosk's money outcome, counted once per ``event_id`` in the daily reconciliation."""

    type: ClassVar[str] = "kiosk.cash"
    event_id: Annotated[str, info(max_length=140)]
    kind: Literal["fee_kept", "refund_paid", "refund_owed"] = msgspec.field(name="type")
    amount: Yen
    request_id: RequestId | None = None
    at_ms: Ms


class KioskIssueVoid(EventData, frozen=True, kw_only=True):
    """A certificate did not print: no fee is due, its number is never reused."""

    type: ClassVar[str] = "kiosk.issue_void"
    key: Annotated[str, info(max_length=140)]
    request_id: RequestId
    reason: Annotated[str, info(max_length=64)] = "not_printed"


# What a kiosk's journal may hold as text: ids, codes and issue numbers only - no spaces, no kana
# or kanji, so no name can slip in (kiosk/journal.py keeps the same alphabet on disk).
JournalText = Annotated[
    str,
    info(
        pattern=r"^[A-Za-z0-9_.:\-]{1,100}$",
        what="an id or code of 1-100 letters, digits, '_', '.', ':' or '-'",
    ),
]
JournalCount = Annotated[int, info(ge=0, lt=10**9, what="an amount of yen or a count from 0 to 999999999")]


class KioskJournal(EventData, frozen=True, kw_only=True, omit_defaults=True):
    """A kiosk's other money record (an alert, a payout, a recovery, a closed session), kept at the
    office for the audit trail: the journal record's key, kind and session, then its data (the
    fields of its kind, docs/kiosk.md; absent ones are left out). No PIN, name or content fits."""

    type: ClassVar[str] = "kiosk.journal"
    key: Annotated[str, info(pattern=r"^[A-Za-z0-9_.:\-]{1,140}$", what="a journal record's key (<session>:<seq>)")]
    kind: Literal["fee_kept", "payout_done", "refund_owed", "issue_void", "alert", "recovered", "session_closed"]
    session: JournalText | None = None
    # the record's data: which of these a kind holds is its model in kiosk/flow/effects.py (ENTRY_DATA)
    code: JournalText | None = None
    reason: JournalText | None = None
    request_id: JournalText | None = None
    issue_number: JournalText | None = None
    amount: JournalCount | None = None
    requested: JournalCount | None = None
    value: JournalCount | None = None
    paid: JournalCount | None = None
    kept: JournalCount | None = None
    returned: JournalCount | None = None
    owed: JournalCount | None = None
    counter: JournalCount | None = None
    assumed: bool | None = None


EVENT_DATA: dict[str, type[EventData]] = {
    t.type: t
    for t in (
        TicketIssued,
        TicketReprinted,
        TicketPrintFailed,
        PrinterStatusChanged,
        StoreRecovered,
        KioskCash,
        KioskIssueVoid,
        KioskJournal,
    )
}
"""The event types, each with the model of its data."""


# --------------------------------------------------------------------------------------------
# staff terminals <-> office
# --------------------------------------------------------------------------------------------


class StaffCommand(Payload, frozen=True, kw_only=True):
    """A clerk's command in words; resent with the same ``request_id`` until answered."""

    topic: ClassVar[str] = "staff_command"
    request_id: RequestId
    command: Annotated[str, info(max_length=300)]


class StaffReply(Payload, frozen=True, kw_only=True):
    """The office's answer to a staff command (a retry gets the stored answer)."""

    topic: ClassVar[str] = "staff_reply"
    request_id: RequestId
    ok: bool
    message: Annotated[str, info(max_length=2000)]


# --------------------------------------------------------------------------------------------
# a branch office <-> the ward's centre: the ticket log
# --------------------------------------------------------------------------------------------

MAX_LOG_ROWS_PER_MESSAGE = 200
LogId = Annotated[int, info(ge=1, le=MAX_MS, what="a ticket log row's id")]


class TicketLogRow(Part, frozen=True, kw_only=True):
    """One row of a branch office's ticket log (office/ticket_log.py), its id the branch's own."""

    id: LogId
    at: Ms
    ticket_id: Annotated[str, info(max_length=140)]
    day: Day
    kind: Annotated[str, info(max_length=32)]
    category: Code
    station: Annotated[str, info(max_length=32)] | None = None
    counter: Annotated[int, info(ge=0, le=100_000)] | None = None
    username: Annotated[str, info(max_length=64)] | None = None
    device: Annotated[str, info(max_length=64)] | None = None
    detail: Annotated[str, info(max_length=200)] | None = None


class TicketLogBatch(Payload, frozen=True, kw_only=True):
    """A branch office's ticket log rows with ids in ``after < id <= upto``, every row of that
    range it holds, oldest first: the centre knows it has everything up to ``upto`` once it had
    everything up to ``after`` (ids may skip: a displaced ticket's rows are deleted)."""

    topic: ClassVar[str] = "ticket_log"
    after: Annotated[int, info(ge=0, le=MAX_MS)]
    upto: LogId
    rows: Annotated[tuple[TicketLogRow, ...], info(max_length=MAX_LOG_ROWS_PER_MESSAGE)]


class TicketLogAck(Payload, frozen=True, kw_only=True):
    """The centre holds every row of the branch's ticket log up to ``upto``: the branch sends on
    from there (and again from there when no ack comes)."""

    topic: ClassVar[str] = "ticket_log_ack"
    upto: Annotated[int, info(ge=0, le=MAX_MS)]


# --------------------------------------------------------------------------------------------
# a branch office <-> the ward's centre: the shared input centre (docs/ward.md)
# --------------------------------------------------------------------------------------------

MAX_WARD_CASES = 300
# A case action older than this (by the branch's clock) is refused, not carried out: it waited
# in a queue through a WAN cut, and the case it names has moved on, or been taken back, since.
WARD_ACTION_MAX_AGE_MS = 60_000
# ... and one from further ahead than this is from a centre whose clock is wrong.
WARD_ACTION_MAX_AHEAD_MS = 30_000
Operator = Annotated[
    str, info(pattern=r"^[a-z0-9._-]{2,32}$", what="a staff user name of the ward's centre (a-z, 0-9, '.', '_', '-')")
]


class WardCase(Part, frozen=True, kw_only=True):
    """One case at a branch's input station, as the centre's operators see it. No resident's
    name or data: the purpose and the ticked procedures are what keying a case needs to start."""

    ticket_id: Annotated[str, info(max_length=64)]
    number: Number
    category: Code
    procedures: Annotated[tuple[Annotated[str, info(max_length=200)], ...], info(max_length=32)] = ()
    arrived_ms: Ms  # at the input station
    updated_ms: Ms  # the case's last change: an action says it saw this, or is refused
    holder: Annotated[str, info(max_length=64)] | None = None
    held: bool = False  # on hold at the branch


class WardCases(Payload, frozen=True, kw_only=True):
    """A branch's cases at its input station (retained, last value wins), oldest first; the
    centre's input screen lists every branch's. ``more`` counts the cases left out."""

    topic: ClassVar[str] = "ward_cases"
    version: Version
    sent_ms: Ms
    day: Day
    station: Code
    cases: Annotated[tuple[WardCase, ...], info(max_length=MAX_WARD_CASES)] = ()
    more: Annotated[int, info(ge=0, le=10_000_000)] = 0


class WardCaseAction(Part, frozen=True, kw_only=True, tag_field="action"):
    """What the centre may do to a branch's case: the input centre's three actions, no more."""

    ticket_id: Annotated[str, info(min_length=1, max_length=64)]
    seen_ms: Ms | None = None


class WardClaim(WardCaseAction, frozen=True, kw_only=True, tag="claim"):
    """Take the case to key it."""


class WardRelease(WardCaseAction, frozen=True, kw_only=True, tag="release"):
    """Give it back to the branch's input pool."""


class WardFinish(WardCaseAction, frozen=True, kw_only=True, tag="finish"):
    """Keyed: the case moves on to the branch's next station."""


AnyWardCaseAction = WardClaim | WardRelease | WardFinish


class WardAction(Payload, frozen=True, kw_only=True):
    """A centre operator's action on a branch's case, signed with the centre's key (the branch
    pins it); resent with the same ``request_id`` until answered."""

    topic: ClassVar[str] = "ward_action"
    request_id: Annotated[str, info(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    operator: Operator
    sent_ms: Ms
    case: AnyWardCaseAction


class WardReply(Payload, frozen=True, kw_only=True):
    """The branch's answer to a case action (a resent action gets the stored answer)."""

    topic: ClassVar[str] = "ward_reply"
    request_id: Annotated[str, info(min_length=1, max_length=64)]
    ok: bool
    message: Annotated[str, info(max_length=500)]  # in English, for logs
    ticket_id: Annotated[str, info(max_length=64)] | None = None
    # The answer as the branch's desk words it: an English template and its fields, which the
    # centre's console says in its operator's language (office/console/strings.py REPLIES).
    template: Annotated[str, info(max_length=300)] = ""
    params: Annotated[dict[str, str | int], info(max_length=8)] = {}


# --------------------------------------------------------------------------------------------
# certificate kiosks <-> office (request and reply, tagged by ``op``)
# --------------------------------------------------------------------------------------------

CopiesCount = Annotated[int, info(ge=1, le=10)]


class Options(Part, frozen=True, kw_only=True, omit_defaults=True):
    """A certificate's options as the kiosk sends them: the fields of every kind, each left out
    when unused. The office checks which fit the kind, and their values, with the kind's own
    rules (certificates.rules.parse_options); a request it cannot use is refused, not dropped."""

    scope: Annotated[str, info(max_length=16)] | None = None  # 住民票: "household" | "members"
    members: Annotated[tuple[Annotated[str, info(max_length=64)], ...], info(max_length=64)] | None = None
    with_honseki: bool | None = None
    with_zokugara: bool | None = None
    with_my_number: bool | None = None
    variant: Annotated[str, info(max_length=16)] | None = None  # 戸籍: "tohon" | "shohon"
    fiscal_year: Annotated[int, info(ge=0, le=9999)] | None = None  # 所得・課税: a Western year

    def plain(self) -> dict[str, Any]:
        """The options given, as plain data (what the certificate rules parse)."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out


class KioskRequest(Payload, frozen=True, kw_only=True, tag_field="op"):
    """A kiosk's question; resent with the same ``request_id`` until answered."""

    topic: ClassVar[str] = "kiosk_request"
    request_id: RequestId


class ChallengeRequest(KioskRequest, frozen=True, kw_only=True, tag="challenge"):
    """Ask for a fresh one-time nonce for the card to sign."""


class AuthenticateRequest(KioskRequest, frozen=True, kw_only=True, tag="authenticate"):
    """The card's answer to a challenge, and what the resident asks for."""

    challenge_id: Annotated[str, info(max_length=64)]
    certificate: Annotated[bytes, info(max_length=9_000)]  # DER; a JPKI certificate is ~1.5 KB
    signature: Annotated[bytes, info(max_length=750)]  # RSA-2048 PKCS#1 v1.5 over SHA-256 of the nonce
    kind: Code
    options: Options = Options()
    copies: CopiesCount = 1


class IssueRequest(KioskRequest, frozen=True, kw_only=True, tag="issue"):
    """Issue the paid certificate of an authenticated session (idempotent by request id)."""

    session_token: Annotated[str, info(max_length=128)]
    kind: Code | None = None
    options: Options = Options()  # a 住民票's chosen members come here
    copies: CopiesCount | None = None
    paid: Annotated[int, info(ge=0, le=1_000_000)] = 0


AnyKioskRequest = ChallengeRequest | AuthenticateRequest | IssueRequest

Refusal = Annotated[str, info(max_length=32)]


class KioskReply(Payload, frozen=True, kw_only=True, tag_field="op"):
    """The office's answer to a kiosk; ``refusal`` is a code only, never the reason."""

    topic: ClassVar[str] = "kiosk_reply"
    request_id: RequestId
    ok: bool
    refusal: Refusal | None = None


class ChallengeReply(KioskReply, frozen=True, kw_only=True, tag="challenge"):
    """A single-use nonce and when it expires."""

    challenge_id: Annotated[str, info(max_length=64)] = ""
    nonce: Annotated[bytes, info(max_length=64)] = b""
    expires_ms: Ms = 0


class Member(Part, frozen=True, kw_only=True):
    """A member of the resident's household, for a 住民票 of chosen members."""

    id: Annotated[str, info(max_length=64)]
    name: Annotated[str, info(max_length=200)]


class AuthenticateReply(KioskReply, frozen=True, kw_only=True, tag="authenticate"):
    """The session the card opened, its fee and the household to choose from."""

    session_token: Annotated[str, info(max_length=128)] = ""
    fee: Yen = 0
    household: Annotated[tuple[Member, ...], info(max_length=50)] = ()


class IssueReply(KioskReply, frozen=True, kw_only=True, tag="issue"):
    """The issued certificate: its number, the fee, and the content to print."""

    issue_number: Annotated[str, info(max_length=64)] = ""
    fee: Yen = 0
    # The content to print, then forgotten: plain data here, because sync may not import the
    # certificates package that owns its model (setup.cfg [importlinter]: the two are siblings).
    # The kiosk reads it into certificates.content's model once, on receipt; the reply's size
    # payload limit bounds it meanwhile (certificates.rules keeps it under 64 KiB).
    certificate: dict[str, Any] | None = None


AnyKioskReply = ChallengeReply | AuthenticateReply | IssueReply


# --------------------------------------------------------------------------------------------
# enrolment (HTTPS, not MQTT: docs/security.md)
# --------------------------------------------------------------------------------------------


class EnrolRequest(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /enrol``: a one-time token, the device's id and its key's certificate request."""

    token: Annotated[str, info(min_length=1, max_length=200)]
    device_id: Id
    csr: Annotated[str, info(min_length=1, max_length=16_000, what="a PEM certificate signing request")]
    profile_hash: Annotated[str, info(min_length=1, max_length=100)]


class PairRequest(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /pair``: a pairing code (sync/pairing.py), the role the device was set up as, and
    its key's certificate request; the office answers with an :class:`EnrolAnswer` naming the
    device id it gave."""

    code: Annotated[str, info(min_length=1, max_length=64)]
    role: Annotated[str, info(min_length=1, max_length=32)]
    csr: Annotated[str, info(min_length=1, max_length=16_000, what="a PEM certificate signing request")]
    profile_hash: Annotated[str, info(min_length=1, max_length=100)]


class EnrolAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """The office's answer to an enrolment: the device's certificate, the CA and how to connect."""

    device_id: Id
    role: Annotated[str, info(max_length=32)]
    site: Id
    mqtt_username: Annotated[str, info(max_length=200)]
    certificate: Annotated[str, info(min_length=1, max_length=16_000, what="a PEM certificate")]
    ca: Annotated[str, info(max_length=16_000)] | None = None
    serial: Annotated[str, info(max_length=100)] = ""
    not_after_ms: Ms = 0
    broker: Annotated[str, info(max_length=300)] | None = None
    # The office's public signing key (sync/signing.py), which the device pins; an office from
    # before signatures sends none.
    office_key: Annotated[str, info(max_length=100)] | None = None
    # The office's signed apt repository (office/apt_repo.py), when it has one: where it is, its
    # components (the newest version and the ones kept for rollback) and its public key. The
    # device writes its apt sources from these, so apt upgrade takes updates from the office.
    apt_url: Annotated[str, info(max_length=300, pattern=r"^https?://[^\s/]+/\S*$")] | None = None
    apt_components: Annotated[tuple[Annotated[str, info(pattern=r"^[a-z0-9]{1,32}$")], ...], info(max_length=10)] = ()
    apt_key: (
        Annotated[
            str,
            info(
                max_length=16_000, pattern=r"^-----BEGIN PGP PUBLIC KEY BLOCK-----", what="an armoured PGP public key"
            ),
        ]
        | None
    ) = None


class EnrolRefusal(msgspec.Struct, frozen=True, kw_only=True):
    """Any answer but 200: what went wrong, for the technician."""

    error: Annotated[str, info(max_length=2000)]


# --------------------------------------------------------------------------------------------
# office -> the resident's progress page (madoguchi-public; HTTPS, one way: docs/protocol.md)
# --------------------------------------------------------------------------------------------
# Only what a resident may see: no names, no procedures, nothing personal. A ticket is keyed by
# the SHA-256 of the unguessable token its QR code carries, so the public host never holds a
# token that would open a page.

TicketKey = Annotated[str, info(pattern=r"^[0-9a-f]{64}$", what="the SHA-256 of a ticket's token, in hex")]
PublicStatus = Literal["waiting", "called", "in_progress", "held", "ready", "done", "absent", "void"]
Congestion = Literal["green", "yellow", "red"]


class PublicCounter(Part, frozen=True, kw_only=True):
    """A counter as residents know it: its number and its name per language."""

    number: CounterNo
    name: Names = {}


class PublicStop(Part, frozen=True, kw_only=True):
    """A station of the ticket's route and when the ticket reached it (None: not yet)."""

    code: Code
    name: Names
    reached_ms: Ms | None = None


class PublicTicket(Part, frozen=True, kw_only=True):
    """One ticket's line as its resident follows it on a phone."""

    key: TicketKey
    number: Number
    purpose: Names
    stops: Annotated[tuple[PublicStop, ...], info(max_length=32)]
    status: PublicStatus
    people_ahead: Annotated[int, info(ge=0, le=1_000_000)] | None = None
    est_wait_min: Annotated[int, info(ge=0, le=100_000)] | None = None
    counter: PublicCounter | None = None  # "please come to counter N" while called or ready
    issued_ms: Ms
    updated_ms: Ms


class PublicPurpose(Part, frozen=True, kw_only=True):
    """Congestion of one purpose, for residents deciding when to come."""

    code: Code
    name: Names
    waiting: Annotated[int, info(ge=0, le=1_000_000)]
    est_wait_min: Annotated[int, info(ge=0, le=100_000)] | None = None
    level: Congestion
    last_called: Number | None = None


class PublicFeed(msgspec.Struct, frozen=True, kw_only=True):
    """What the office pushes to ``madoguchi-public`` (``POST /feed``): the business day's tickets
    that changed (or all of them when ``full``), the keys of tickets to forget, and congestion.

    ``version`` grows with every feed; the public side ignores one at or below what it holds.
    A new business day forgets the old day's tickets (their pages expire with the day).
    """

    site: Id
    office_name: Annotated[str, info(max_length=200)] = ""
    business_day: Day
    version: Version
    sent_ms: Ms
    full: bool = False
    tickets: Annotated[tuple[PublicTicket, ...], info(max_length=20_000)] = ()
    removed: Annotated[tuple[TicketKey, ...], info(max_length=20_000)] = ()
    purposes: Annotated[tuple[PublicPurpose, ...], info(max_length=64)] = ()
