"""The dispenser's headless core: press a purpose, get a durable, unique, printed ticket.

The press-to-print path, in order, each step durable before the next:

1. take the next number of the purpose's series from the blocks the office leased us
   (ticket_dispenser.numbering); no lease, no number - never a guess;
2. journal ``ticket.issued`` in the outbox; the new high-water mark of that series travels in
   the same atomic write, so a number is never given twice, even across SIGKILL;
3. add the ticket to the day's ticket log (kept for reprints and the day's count);
4. hand the job to the printer.

A crash between 2 and 3 is mended at start: the last issued ticket also travels in the outbox
meta, and a ticket missing from the log is put back.
"""

from __future__ import annotations

import logging
import re
import secrets
import shutil
import threading
import zoneinfo
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from common.calendar import business_day
from drivers.ticket_printer import PrinterFault, PrinterStatus, TicketPrinter
from sync import messages, tokens
from sync.agent import DeviceAgent
from sync.leases import Block
from sync.store import SegmentedLog
from ticket_dispenser import numbering
from ticket_dispenser.errors import DailyCapReached, DispenserError, NotConfigured, NumbersExhausted, UnknownPurpose
from ticket_dispenser.ticket import DEFAULT_PROGRESS_URL, IssuedTicket, ticket_job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IssueResult:
    """What the screen shows after a press. ``fault`` is the printer's problem when the ticket
    did not (certainly) print: the ticket is still valid and will be reprinted."""

    ticket: IssuedTicket
    printed: bool
    fault: str | None = None

    @property
    def print_error(self) -> str | None:
        """Kept for the text front end: the fault, or None."""
        return self.fault


class Dispenser:
    """Issues tickets; owns the day's ticket logs. Thread-safe: presses are serialised."""

    def __init__(self, agent: DeviceAgent, printer: TicketPrinter | None = None) -> None:
        self.agent = agent
        self.printer = printer
        self._lock = threading.Lock()
        self._logs: dict[str, SegmentedLog] = {}
        self._log_root = agent.config.data_dir / "tickets"
        # (seq, purpose) of recent presses: the ones the office has not counted yet are ahead too
        self._recent: deque[tuple[int, str]] = deque(maxlen=2000)
        # own tickets per (day, purpose), counted from the day's log when first needed
        self._counts: dict[tuple[str, str], int] = {}
        self._counted_days: set[str] = set()
        # what the office last heard of the printer (reported again after a restart: harmless)
        self._printer_state: tuple[str | None, bool] | None = None
        meta = agent.outbox.meta
        try:
            self._marks = numbering.NumberPool.from_dict({"blocks": [], "marks": meta.get("marks", [])}).marks
        except ValueError as err:
            raise DispenserError(f"the stored number marks are unreadable ({err}); restore the data directory") from err
        self._reconcile(meta.get("last_ticket"))
        agent.status_marks = self._status_marks

    # -- the press ---------------------------------------------------------------------------

    def issue(self, category: str, procedures: Sequence[str] = (), language: str = "ja") -> IssueResult:
        """Issue (and print) a ticket for a purpose; raises DispenserError when it cannot."""
        with self._lock:
            config = self.agent.document("office_config")
            if config is None:
                raise NotConfigured(
                    "this dispenser has not received the office configuration yet; connect it to the office once"
                )
            cat = _find_category(config, category)
            now = self.agent.now_ms()
            day = self._day(config, now)
            if cat.daily_cap is not None and (
                self._issued_today(category, day) >= cat.daily_cap
                or self._own(category, day) >= self._share(category, day)
            ):
                # The office's count, or this dispenser's share of the cap: with several
                # dispensers offline each keeps to its share, so together they keep to the cap.
                raise DailyCapReached(f"all numbers for {category} today have been given out")
            series = cat.series
            pool = numbering.NumberPool(blocks=self._held_blocks(), marks=self._marks)
            taken = numbering.next_number(pool, series, day)
            if taken is None:
                raise NumbersExhausted(f"no ticket numbers left for {category} today: please ask staff")
            number, pool = taken
            ahead, wait = self._queue_estimate(category)
            token = tokens.new_token(secrets.token_bytes)
            ticket = IssuedTicket(
                ticket_id=f"{day}-{series}-{number}",
                day=day,
                series=series,
                number=number,
                category=category,
                names=dict(cat.name),
                route=cat.route,
                procedures=tuple(procedures),
                issued_ms=now,
                clock_confirmed=self.agent.clock_confirmed,
                people_ahead=ahead,
                est_wait_min=wait,
                office_name=config.office_name,
                language=language,
                progress_url=(config.progress_url or DEFAULT_PROGRESS_URL).replace("{token}", token),
                token=token,
                procedures_local={p: config.procedure_name(p, language) for p in procedures}
                if language != "ja"
                else {},
            )
            # Yesterday's marks and today's are all a restart needs; older ones would only grow
            # the device status (its marks list is bounded: the status of a dispenser that ran
            # a month without restart was refused).
            pool = numbering.drop_days_before(pool, _yesterday(day))
            marks = numbering.NumberPool(marks=pool.marks).to_dict()["marks"]
            event = self.agent.record(ticket.event_data(), meta={"marks": marks, "last_ticket": ticket.to_record()})
            self._recent.append((event.seq, category))
            if day in self._counted_days:  # otherwise the first count reads it from the log
                self._counts[(day, category)] = self._counts.get((day, category), 0) + 1
            self._marks = pool.marks
            self._log(day).append(ticket.to_record())
        return self._print(ticket)

    def reprint(self, ticket_id: str) -> IssueResult:
        """Print an issued ticket again (staff asked, or the printer recovered)."""
        ticket = self.find(ticket_id)
        if ticket is None:
            raise DispenserError(f"no ticket {ticket_id} on this dispenser")
        result = self._print(ticket, reprint=True)
        if result.printed:
            self.agent.record(messages.TicketReprinted(ticket_id=ticket_id))
        return result

    def pending_reprints(self) -> list[str]:
        """Tickets issued but not printed, oldest first (they wait for the printer)."""
        doc = self.agent.state.get("pending_prints") or {}
        return [str(t) for t in doc.get("tickets", [])]

    def check_printer(self) -> PrinterStatus:
        """Read the printer; report changes; once it is fine again, reprint held tickets in
        order (voided ones are dropped). The app calls this every few seconds."""
        if self.printer is None:
            return PrinterStatus(connected=False, detail="no printer configured")
        status = self.printer.status()
        self._note_status(status)
        if status.ok:
            voids = self.agent.document("voids")
            voided = set(voids.tickets) if voids is not None else set()
            for ticket_id in self.pending_reprints():
                if ticket_id in voided:
                    self._set_pending(ticket_id, held=False)
                    continue
                if not self.reprint(ticket_id).printed:
                    break  # the printer failed again: keep the rest for the next check
                self._set_pending(ticket_id, held=False)
        return status

    def find(self, ticket_id: str) -> IssuedTicket | None:
        """An issued ticket of the kept days, by id."""
        day = ticket_id[:10]
        with self._lock:
            if not _DAY.fullmatch(day) or not self._kept(day):
                return None
            for record in self._log(day).records():
                if record.get("ticket_id") == ticket_id:
                    return IssuedTicket.from_record(record)
        return None

    def tickets(self, day: str) -> list[IssuedTicket]:
        """Every ticket this dispenser issued on a business day."""
        with self._lock:
            if not _DAY.fullmatch(day) or not self._kept(day):
                return []
            return [IssuedTicket.from_record(r) for r in self._log(day).records()]

    def remaining(self, category: str) -> int | None:
        """Numbers left for a purpose's series today (None before the first configuration)."""
        config = self.agent.document("office_config")
        if config is None:
            return None
        cat = _find_category(config, category)
        day = self._day(config, self.agent.now_ms())
        pool = numbering.NumberPool(blocks=self._held_blocks(), marks=self._marks)
        return numbering.remaining(pool, cat.series, day)

    def close(self) -> None:
        """Close the ticket logs (the agent is closed by its owner)."""
        with self._lock:
            for segment_log in self._logs.values():
                segment_log.close()
            self._logs.clear()

    # -- internals ---------------------------------------------------------------------------

    def _print(self, ticket: IssuedTicket, reprint: bool = False) -> IssueResult:
        """Status before, print, status after: success only when both say the paper is fine.

        Any doubt holds the ticket for a reprint: it stays valid (it is journalled and the
        office has it), the screen shows its number large, and the office hears of the fault.
        """
        if self.printer is None:
            return IssueResult(ticket, printed=False, fault="no_printer")
        before = self.printer.status()
        self._note_status(before)
        if not before.ok:
            return self._hold(ticket, before.fault or "unknown", reprint)
        try:
            self.printer.print_job(ticket_job(ticket, reprint=reprint))
        except PrinterFault as err:
            self._note_status(err.status)
            return self._hold(ticket, err.status.fault or "print_failed", reprint)
        after = self.printer.status()
        self._note_status(after)
        if not after.ok:
            # Paper ran out or the cover opened during the job: the ticket may be blank or cut short.
            return self._hold(ticket, after.fault or "unknown", reprint)
        return IssueResult(ticket, printed=True)

    def _hold(self, ticket: IssuedTicket, fault: str, reprint: bool) -> IssueResult:
        if not reprint:
            self._set_pending(ticket.ticket_id, held=True)
            self.agent.record(messages.TicketPrintFailed(ticket_id=ticket.ticket_id, fault=fault[:64]))
        return IssueResult(ticket, printed=False, fault=fault)

    def _set_pending(self, ticket_id: str, *, held: bool) -> None:
        tickets = [t for t in self.pending_reprints() if t != ticket_id]
        if held:
            tickets.append(ticket_id)
        self.agent.state.put("pending_prints", {"tickets": tickets})

    def _note_status(self, status: PrinterStatus) -> None:
        """One event per change of what matters to staff: a fault, or paper near its end."""
        state = (status.fault, status.paper_near_end)
        if state != self._printer_state:
            self._printer_state = state
            self.agent.record(
                messages.PrinterStatusChanged(
                    fault=status.fault, paper_near_end=status.paper_near_end, detail=status.detail[:200]
                )
            )

    def _status_marks(self) -> tuple[messages.NumberMark, ...]:
        return tuple(
            messages.NumberMark(series=m["series"], day=m["day"], last=m["last"])
            for m in numbering.NumberPool(marks=self._marks).to_dict()["marks"]
        )

    def _day(self, config: messages.OfficeConfig, now_ms: int) -> str:
        try:
            tz = zoneinfo.ZoneInfo(config.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            tz = zoneinfo.ZoneInfo("Asia/Tokyo")  # the office checked its zone; this one is not on the Pi
        return business_day(now_ms, tz, config.rollover_hour).isoformat()

    def issued_today(self, category: str) -> int | None:
        """Tickets of a purpose today across all dispensers, as far as this one knows."""
        config = self.agent.document("office_config")
        if config is None:
            return None
        with self._lock:
            return self._issued_today(category, self._day(config, self.agent.now_ms()))

    def _issued_today(self, category: str, day: str) -> int:
        """The office's count plus our presses it has not counted; only ours when the office's
        snapshot is of another day (offline since before the rollover)."""
        self._count_day(day)
        snapshot = self.agent.document("queue_snapshot")
        if snapshot is None or snapshot.business_day != day:
            return self._counts.get((day, category), 0)
        counted = snapshot.acked.get(self.agent.config.device_id, 0)
        uncounted = sum(1 for seq, cat in self._recent if cat == category and seq > counted)
        row = snapshot.row(category)
        return (row.issued if row is not None else 0) + uncounted

    def _own(self, category: str, day: str) -> int:
        """This dispenser's tickets of a purpose on a day (its ticket log, counted once)."""
        self._count_day(day)
        return self._counts.get((day, category), 0)

    def _share(self, category: str, day: str) -> float:
        """This dispenser's share of the purpose's daily cap (office/lease ``caps``); unbounded
        when the office gives none (an office from before shares)."""
        lease = self.agent.document("lease")
        share = lease.cap_share(day, category) if lease is not None else None
        return float("inf") if share is None else share

    def _count_day(self, day: str) -> None:
        if day not in self._counted_days:
            for record in self._log(day).records():
                key = (day, str(record.get("category")))
                self._counts[key] = self._counts.get(key, 0) + 1
            self._counted_days.add(day)

    def _held_blocks(self) -> tuple[Block, ...]:
        lease = self.agent.document("lease")
        blocks = []
        for raw in lease.blocks if lease is not None else ():
            try:
                blocks.append(Block(raw.series, raw.day, raw.first, raw.last))
            except ValueError:
                log.warning("ignored a malformed lease block %r", raw)
        return tuple(blocks)

    def _queue_estimate(self, category: str) -> tuple[int | None, int | None]:
        """People ahead and minutes to wait; unknown while the office is unreachable."""
        if not self.agent.office_online:
            return None, None
        snapshot = self.agent.document("queue_snapshot")
        row = snapshot.row(category) if snapshot is not None else None
        if snapshot is None or row is None:
            return None, None
        counted = snapshot.acked.get(self.agent.config.device_id, 0)
        uncounted = sum(1 for seq, cat in self._recent if cat == category and seq > counted)
        ahead = row.waiting + uncounted
        wait = ahead * row.min_per_person if row.min_per_person is not None else None
        return ahead, wait

    def _log(self, day: str) -> SegmentedLog:
        segment_log = self._logs.get(day)
        if segment_log is None:
            # One ticket log per business day; older days are closed as a new day starts, and
            # days beyond the site's retention are deleted (the office has every ticket).
            newest = all(d < day for d in self._logs)
            for old in [d for d in self._logs if d < day]:
                self._logs.pop(old).close()
            segment_log = SegmentedLog(self._log_root / day, segment_size=TICKET_LOG_SEGMENT)
            self._logs[day] = segment_log
            if newest:
                self._prune_days(day)
        return segment_log

    def _kept(self, day: str) -> bool:
        """Whether a day's ticket log is open or on disk (a day pruned is not made again)."""
        return day in self._logs or (self._log_root / day).is_dir()

    def _prune_days(self, today: str) -> None:
        config = self.agent.document("office_config")
        keep = config.keep_days if config is not None else messages.DEVICE_KEEP_DAYS
        cutoff = (date.fromisoformat(today) - timedelta(days=keep)).isoformat()
        for path in sorted(self._log_root.iterdir()):
            if path.name < cutoff and _DAY.fullmatch(path.name) and path.name not in self._logs:
                shutil.rmtree(path, ignore_errors=True)
                log.info("ticket log of %s deleted (kept %d days)", path.name, keep)

    def _reconcile(self, last: Mapping[str, Any] | None) -> None:
        """Put back the last ticket if a crash came between the outbox and the ticket log."""
        if not last:
            return
        ticket = IssuedTicket.from_record(last)
        segment_log = self._log(ticket.day)
        newest = None
        for record in segment_log.records():
            newest = record
        if newest is None or newest.get("ticket_id") != ticket.ticket_id:
            if any(r.get("ticket_id") == ticket.ticket_id for r in segment_log.records()):
                return
            log.warning("ticket %s was journalled but not logged before a crash: logging it now", ticket.ticket_id)
            segment_log.append(ticket.to_record())


def _find_category(config: messages.OfficeConfig, code: str) -> messages.PurposeInfo:
    found = config.purpose(code)
    if found is None:
        known = ", ".join(c.code for c in config.categories)
        raise UnknownPurpose(f"unknown purpose {code!r}; this office offers: {known}")
    return found


# Tickets per segment of a day's ticket log: each append rewrites its segment whole, so a small
# one keeps the bytes written per ticket (SD-card wear) small.
TICKET_LOG_SEGMENT = 10
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _yesterday(day: str) -> str:
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()
