"""The reference office server: the authority the lobby devices sync with.

One main thread owns the SQLite store and does all the work; paho's thread only queues what
arrives. Per loop: take every queued message, apply the device events of all of them in one
transaction (idempotent on the event id), commit, then publish the cumulative acks - an ack
never covers an event that is not on disk. Retained documents (config, snapshots, leases) carry
a persisted, increasing version so a device can ignore stale ones.
"""

from __future__ import annotations

import functools
import logging
import queue
import random
import threading
import time
import uuid
import zoneinfo
from collections import Counter as Tally
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from certificates.card_auth import load_ca_certificates
from certificates.errors import CertificateDomainError
from certificates.registry import Registry, RegistryError, demo_registry
from certificates.rules import FeeSchedule
from common import calendar
from office import commands, estimate, leasing
from office.db import OfficeDB
from office.domain import (
    MAX_WAITING_ROWS,
    CommandError,
    OfficeError,
    ServiceLog,
    SiteConfig,
    Status,
    Ticket,
    absent,
    advance,
    board_lines,
    call,
    done,
    pick_next,
    ticket_id,
    void,
)
from office.issuance import IssuanceBook
from office.kiosk_service import KioskService
from office.registry_store import RegistryStoreError, load_registry, save_registry
from office.simstaff import SimStaff
from sync import protocol
from sync.errors import ProtocolError
from sync.leases import SeriesRange, check_day
from sync.link import Inbound, MqttLink, Will

log = logging.getLogger(__name__)

HEARTBEAT_S = 10.0  # live office status: devices learn the time from it and see we are alive
# Bursts of changes coalesce into one retained snapshot per interval; a change after a quiet
# spell goes out at once (the board's move follows the clerk's click within the interval).
SNAPSHOT_MIN_INTERVAL_S = 0.1
LEASE_CHECK_S = 60.0  # catches the business-day rollover for idle dispensers
MAX_TICKET_NUMBER = 10_000_000  # far above any series range; keeps SQLite's integers safe
MAX_SAMPLE_S = 2 * 3600  # a gap longer than this between two calls is a break, not service


class OfficeServer:
    """Queues, routes, progress, leases and snapshots for one site."""

    def __init__(
        self,
        config: SiteConfig,
        db_path: Path,
        broker_url: str,
        *,
        sim_staff: SimStaff | None = None,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        on_activity: Callable[[str], None] | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.config = config
        self.db = OfficeDB(db_path)
        self.broker_url = broker_url
        self.sim_staff = sim_staff
        self.wall_ms = wall_ms
        self.on_activity = on_activity  # the demo prints these lines
        self.on_tick: Callable[[], object] | None = None
        self.tz = zoneinfo.ZoneInfo(config.timezone)
        self.epoch = uuid.uuid4().hex[:12]
        self.stats: Tally[str] = Tally()
        self._inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._session = 0  # counts our broker connections within this epoch
        self._voids_dirty: set[str] = set()  # devices whose voided tickets changed
        self._exhausted_warned: set[tuple[str, str, str]] = set()
        # (device, series, day) -> last number the dispenser says it took (from its status)
        self._marks: dict[tuple[str, str, str], int] = {}
        self._dirty = True
        self._last_snapshot = 0.0
        self._last_heartbeat = 0.0
        self._last_lease_check = 0.0
        self._service = self._rebuild_service_log()
        self.kiosk = self._kiosk_service(registry)
        self._link = MqttLink(
            broker_url,
            f"{config.site}-office",
            subscriptions=[
                (protocol.topic("events", config.site), 1),
                (protocol.topic("device_status", config.site), 1),
                (protocol.topic("staff_command", config.site), 1),
                (protocol.topic("kiosk_request", config.site), 1),
            ],
            on_message=lambda m: self._inbox.put(("message", m)),
            on_ready=lambda: self._inbox.put(("ready", None)),
            on_down=lambda why: self._inbox.put(("down", why)),
            will=Will(
                protocol.topic("office_status", config.site),
                protocol.encode("office_status", {"state": "offline", "epoch": self.epoch}),
            ),
            max_inflight=200,
        )

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Run the server loop in a background thread (tests and the demo)."""
        self._link.start()
        self._thread = threading.Thread(target=self._loop, name="office", daemon=True)
        self._thread.start()

    def serve_forever(self) -> None:
        """Run the server loop in this thread until :meth:`stop` (the CLI)."""
        self._link.start()
        self._loop()

    def wait_online(self, timeout: float = 10.0) -> bool:
        """Block until the office announced itself online."""
        return self._ready.wait(timeout)

    def stop(self) -> None:
        """Announce offline (retained), disconnect and close the store."""
        self._stop.set()
        self._inbox.put(("wake", None))
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        final = (
            protocol.topic("office_status", self.config.site),
            protocol.encode("office_status", {"state": "offline", "epoch": self.epoch, "sent_ms": self.wall_ms()}),
            1,
            True,
        )
        self._link.stop(final=final)
        self.db.close()

    # -- the loop --------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            # Wake for a pending snapshot when its interval is up, not on the next 0.1 s tick.
            timeout = 0.1
            if self._dirty and self._ready.is_set():
                due = self._last_snapshot + SNAPSHOT_MIN_INTERVAL_S - time.monotonic()
                timeout = min(timeout, max(0.0, due))
            try:
                first = self._inbox.get(timeout=timeout)
            except queue.Empty:
                first = ("tick", None)
            items = [first]
            while len(items) < 500:
                try:
                    items.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            if self.on_tick is not None:
                self.on_tick()  # systemd's watchdog: fed only while this loop turns
            try:
                self._step(items)
            except Exception:  # one bad moment must not take the office down
                self.stats["loop_errors"] += 1
                log.exception("office loop: unexpected error (continuing)")

    def _step(self, items: list[tuple[str, Any]]) -> None:
        events: list[tuple[str, dict[str, Any]]] = []
        for kind, item in items:
            if kind == "ready":
                self._announce()
            elif kind == "down":
                self._ready.clear()
            elif kind == "message":
                try:
                    routed = self._route(item)
                except Exception:  # one message must never cost the others in this turn
                    self.stats["message_errors"] += 1
                    log.exception("office: could not handle a message on %s", item.topic)
                    continue
                if routed is not None:
                    events.append(routed)
        if events:
            self._consume(events)
        for device in sorted(self._voids_dirty):
            self._voids_dirty.discard(device)
            self._publish_voids(device)
        now = time.monotonic()
        if self._ready.is_set():
            if self.sim_staff is not None:
                self._run_sim_staff()
            if now - self._last_lease_check > LEASE_CHECK_S:
                self._last_lease_check = now
                for row in self.db.devices("dispenser"):
                    self._topup_leases(row["device"])
            if self._dirty and now - self._last_snapshot >= SNAPSHOT_MIN_INTERVAL_S:
                self._publish_snapshots()
            if now - self._last_heartbeat > HEARTBEAT_S:
                self._publish_status("online")

    def _announce(self) -> None:
        """Subscriptions are in place: publish what devices need, then say we are online.

        Each document is published on its own: one that fails is logged and counted, and the
        office still comes online - devices must never wait for an office stuck on a snapshot.
        """
        self._session += 1
        steps: list[tuple[str, Callable[[], None]]] = [
            ("config", self._publish_config),
            ("snapshots", self._publish_snapshots),
        ]
        for row in self.db.devices():
            device, acked = str(row["device"]), int(row["acked_seq"])
            if row["role"] == "dispenser":
                steps.append((f"lease {device}", functools.partial(self._topup_leases, device, force_publish=True)))
            steps.append((f"ack {device}", functools.partial(self._publish_ack, device, acked)))
            if row["role"] == "dispenser":
                steps.append((f"voids {device}", functools.partial(self._publish_voids, device)))
        for name, step in steps:
            try:
                step()
            except Exception:
                self.stats["announce_errors"] += 1
                log.exception("office: could not publish %s on connect", name)
        self._publish_status("online")
        self._ready.set()
        self._activity(f"office online (epoch {self.epoch})")

    def _route(self, message: Inbound) -> tuple[str, dict[str, Any]] | None:
        """Validate one message; events are returned for the batch, the rest handled here."""
        try:
            parsed = protocol.parse_topic(message.topic)
            if parsed.site != self.config.site:
                raise ProtocolError(f"message for site {parsed.site!r}")
            if parsed.name not in ("events", "device_status", "staff_command", "kiosk_request"):
                raise ProtocolError(f"the office does not take {parsed.name} messages")
            doc = protocol.decode(parsed.name, message.payload)
            # parse_topic always fills device (events, status) or terminal (staff) for these names.
            if parsed.name == "events":
                if doc["device"] != parsed.device:
                    raise ProtocolError(f"events for {doc['device']!r} published on {parsed.device!r}'s topic")
                return str(parsed.device), doc
            if parsed.name == "device_status":
                self._device_status(str(parsed.device), doc)
            elif parsed.name == "kiosk_request":
                self._kiosk_request(str(parsed.device), doc)
            else:
                self._staff_command(str(parsed.terminal), doc)
        except ProtocolError as err:
            self.stats["bad_payloads"] += 1
            log.warning("ignored a bad message on %s: %s", message.topic, err)
        return None

    # -- events ----------------------------------------------------------------------------------

    def _consume(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        now = self.wall_ms()
        touched: dict[str, int] = {}
        issued_by: set[str] = set()
        with self.db.transaction():
            for device, doc in batch:
                acked = touched.get(device)
                if acked is None:
                    acked = self.db.acked_seq(device)
                for rec in doc["events"]:
                    seq = int(rec["seq"])
                    if seq <= acked:
                        self.stats["duplicates"] += 1
                        continue
                    event_id = f"{device}:{seq}"
                    if rec["id"] != event_id:
                        self.stats["bad_event_ids"] += 1
                    if not self.db.insert_event(
                        event_id, device, seq, rec["type"], rec["hlc"], rec["at"], now, rec["data"]
                    ):
                        self.stats["duplicates"] += 1
                        continue
                    self.stats["events"] += 1
                    try:
                        problem = self._apply(device, event_id, rec)
                    except Exception as err:  # a poison event must not block its device's acks
                        log.exception("event %s could not be applied", event_id)
                        problem = f"could not be applied: {type(err).__name__}"
                    if problem is not None:
                        self.stats["event_problems"] += 1
                        self.db.set_problem(event_id, problem)
                        log.error("event %s stored but not applied: %s", event_id, problem)
                    elif rec["type"] == "ticket.issued":
                        issued_by.add(device)
                touched[device] = acked
            acks = {device: self.db.advance_ack(device) for device in touched}
            regranted = [device for device in issued_by if self._grant_leases(device)]
        # Only now, committed, may anything leave: a lease published before its commit could be
        # granted again to another dispenser after a crash.
        for device in regranted:
            self._publish_lease(device)
        for device, acked in acks.items():
            self._publish_ack(device, acked)
            gap = self.db.highest_seq(device) - acked
            if gap > 0:
                self.stats["gaps_seen"] += 1
                log.info("device %s: events after seq %d arrived before it (gap of up to %d)", device, acked, gap)
        if issued_by:
            self._dirty = True

    def _apply(self, device: str, event_id: str, rec: Mapping[str, Any]) -> str | None:
        """Apply an event's effect; returns a problem description instead of raising."""
        kind, data = rec["type"], rec["data"]
        if kind == "printer.status":
            self._printer_status(device, data)
            return None
        if kind.startswith("kiosk."):
            return self.kiosk.apply_event(device, kind, data, self.wall_ms())
        if kind != "ticket.issued":
            return None  # stored for the record (print failures, reprints...)
        try:
            day, series, number = check_day(data["day"]), data["series"], data["number"]
            category = data["category"]
            route = tuple(str(s) for s in data.get("route") or ())
            procedures = tuple(str(p) for p in data.get("procedures") or ())
        except (KeyError, TypeError, ValueError) as err:
            return f"ticket.issued without a valid {err}"
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= MAX_TICKET_NUMBER:
            return f"ticket.issued with number {str(number)[:40]!r}: not a ticket number"
        if not isinstance(series, str) or not isinstance(category, str) or len(series) > 32 or len(category) > 64:
            return "ticket.issued with an invalid series or purpose"
        if not route:
            try:
                route = self.config.category(category).route
            except CommandError:
                return f"unknown purpose {category!r} and no route given"
        ticket = Ticket(
            ticket_id=ticket_id(day, series, number),
            day=day,
            series=series,
            number=number,
            category=category,
            device=device,
            issued_ms=int(rec["at"]),
            hlc=str(rec["hlc"]),
            route=route,
            procedures=procedures,
            updated_ms=self.wall_ms(),
        )
        clash = self.db.insert_ticket(ticket, event_id)
        if clash is not None:
            self.stats["number_conflicts"] += 1
            return f"number {series}-{number} of {day} is already ticket {clash}"
        self._activity(f"ticket {number} ({category}) issued by {device}")
        return None

    # -- the certificate kiosk ---------------------------------------------------------------------

    def _kiosk_service(self, registry: Registry | None) -> KioskService:
        cfg = self.config
        cas: list[Any] = []
        if cfg.jpki_ca:
            try:
                cas = load_ca_certificates(Path(cfg.jpki_ca).read_bytes())
            except (OSError, ValueError, OfficeError, CertificateDomainError) as err:
                # The rest of the office must run; kiosks are told "no service" and the log says why.
                log.error("kiosk service off: cannot read the JPKI CA %s: %s", cfg.jpki_ca, err)
        book = IssuanceBook(self.db.conn, tz=self.tz, rollover_hour=cfg.rollover_hour)
        return KioskService(
            book,
            registry if registry is not None else self._stored_registry(),
            FeeSchedule.from_config(dict(cfg.certificate_fees)),
            cas,
            cfg.mayor_line,
            on_activity=self._activity,
        )

    def _stored_registry(self) -> Registry:
        """The resident registry in the office store (docs/registry.md).

        An empty store gets the demo town's residents when the site runs as the demo
        (``[kiosk] registry = "demo"``); with ``"store"`` it stays empty. Without a usable
        registry the kiosks still get answers: an empty registry knows no card, so every card
        is sent to a counter exactly like an unknown one - the office itself keeps running.
        """
        how_to_load = (
            f"load one with: madoguchi-office registry import FILE.json --db {self.db.path} (then restart the office)"
        )
        try:
            stored = load_registry(self.db.conn)
            if stored is None and self.config.kiosk_registry == "demo":
                save_registry(self.db.conn, demo_registry())
                stored = load_registry(self.db.conn)  # serve what the store holds, as on every later start
                log.info("kiosk service: stored the demo town's resident registry in %s", self.db.path)
        except (RegistryError, RegistryStoreError) as err:
            log.error(
                "kiosk service: the stored resident registry cannot be used, so every card is sent to a"
                " counter: %s; %s",
                err,
                how_to_load,
            )
            self._activity("kiosk service: the resident registry cannot be used (see the log)")
            return Registry.build("", (), ())
        if stored is None:
            log.warning(
                "kiosk service: the office store holds no resident registry, so every card is sent to a counter; %s",
                how_to_load,
            )
            self._activity("kiosk service: no resident registry stored; every card goes to a counter")
            return Registry.build("", (), ())
        return stored

    def _kiosk_request(self, device: str, doc: Mapping[str, Any]) -> None:
        """Answer a kiosk: in a transaction, and only after its commit does the reply leave."""
        with self.db.transaction():
            reply = self.kiosk.handle(device, doc, self.wall_ms())
        self.stats[f"kiosk_{doc['op']}"] += 1
        self._publish("kiosk_reply", reply, device=device)

    def _printer_status(self, device: str, data: Mapping[str, Any]) -> None:
        """Staff see a printer's trouble (or its paper running low) before residents do."""
        fault = data.get("fault")
        near_end = bool(data.get("paper_near_end"))
        self.db.set_printer(device, {"fault": fault if isinstance(fault, str) else None, "paper_near_end": near_end})
        if isinstance(fault, str):
            self._activity(f"{device}: printer problem: {fault.replace('_', ' ')}")
        elif near_end:
            self._activity(f"{device}: printer paper is near its end")
        else:
            self._activity(f"{device}: printer ok")

    def _device_status(self, device: str, doc: Mapping[str, Any]) -> None:
        role = doc.get("role")
        self.db.upsert_device(device, role if isinstance(role, str) else None, doc["state"], self.wall_ms(), dict(doc))
        for mark in doc.get("marks") or ():
            key = (device, mark["series"], mark["day"])
            self._marks[key] = max(mark["last"], self._marks.get(key, 0))
        if doc["state"] == "online" and role == "dispenser" and self._ready.is_set():
            self._topup_leases(device, force_publish=True)
            self._publish_ack(device, self.db.acked_seq(device))

    # -- leases ----------------------------------------------------------------------------------

    def business_day(self, now_ms: int | None = None) -> str:
        """The office's business day (local date with the configured rollover hour)."""
        ms = self.wall_ms() if now_ms is None else now_ms
        return calendar.business_day(ms, self.tz, self.config.rollover_hour).isoformat()

    def lease_days(self) -> list[str]:
        """Today and the next day: a dispenser that starts tomorrow offline can still issue."""
        today = date.fromisoformat(self.business_day())
        return [today.isoformat(), (today + timedelta(days=1)).isoformat()]

    def _topup_leases(self, device: str, *, force_publish: bool = False) -> None:
        """Top a dispenser's leases up in a transaction of its own, then publish them."""
        with self.db.transaction():
            granted = self._grant_leases(device)
        if granted or force_publish:
            self._publish_lease(device)

    def _grant_leases(self, device: str) -> bool:
        """Keep a dispenser's unused numbers at its offline reserve (DESIGN.md decision 8).

        Runs inside the caller's transaction and publishes nothing: the caller publishes the
        lease document after commit. True when blocks were granted.
        """
        targets = leasing.reserve_targets(
            self.config.series_shares(), self.config.dispenser_reserve, self.config.reserve_floor
        )
        now = self.wall_ms()
        changed = False
        for day in self.lease_days():
            for series, (first, last) in self.config.series_ranges().items():
                target = targets.get(series, self.config.reserve_floor)
                blocks = [b for _, b in self.db.leases(series=series, day=day, device=device)]
                held = sum(b.size for b in blocks)
                # Usage as the office's tickets show it, or as the dispenser's own mark does when
                # that is further along (events still on their way, a dispenser restarting often).
                mark = self._marks.get((device, series, day))
                by_mark = sum(max(0, min(b.last, mark) - b.first + 1) for b in blocks) if mark else 0
                remaining = held - max(self.db.used_by_device(device, series, day), by_mark)
                if remaining * 2 >= target:
                    continue  # above the low-water mark
                want = max(target - remaining, self.config.lease_block_min)
                rng = SeriesRange(series, first, last)
                while want > 0:
                    taken = [b for _, b in self.db.leases(series=series, day=day)]
                    block = leasing.grant(rng, day, taken, want)
                    if block is None:
                        self.stats["series_exhausted"] += 1
                        if (series, day, device) not in self._exhausted_warned:  # once, not every batch
                            self._exhausted_warned.add((series, day, device))
                            log.warning(
                                "series %s of %s has no numbers left to lease to %s: widen its range"
                                " or lower dispenser_reserve",
                                series,
                                day,
                                device,
                            )
                        break
                    self.db.add_lease(device, block, now)
                    want -= block.size
                    changed = True
        return changed

    def _publish_voids(self, device: str) -> None:
        """The day's voided tickets of a dispenser: it drops them from its reprint queue."""
        today = self.business_day()
        tickets = [t.ticket_id for t in self.db.tickets(today, [Status.VOID]) if t.device == device]
        version = self.db.next_version(f"voids:{device}")
        self._publish(
            "voids", {"version": version, "sent_ms": self.wall_ms(), "day": today, "tickets": tickets}, device=device
        )

    def _publish_lease(self, device: str) -> None:
        days = set(self.lease_days())
        blocks = [
            {"series": b.series, "day": b.day, "first": b.first, "last": b.last}
            for _, b in self.db.leases(device=device)
            if b.day in days
        ]
        version = self.db.next_version(f"lease:{device}")
        self._publish("lease", {"version": version, "sent_ms": self.wall_ms(), "blocks": blocks}, device=device)

    # -- staff -----------------------------------------------------------------------------------

    def _staff_command(self, terminal: str, doc: Mapping[str, Any]) -> None:
        request_id = str(doc["request_id"])
        reply = self.db.staff_reply(request_id)
        if reply is None:
            try:
                with self.db.transaction():
                    message = self.execute(commands.parse(str(doc["command"])))
                    reply = {"request_id": request_id, "ok": True, "message": message}
                    self.db.save_staff_reply(request_id, str(doc["command"]), reply, self.wall_ms())
            except CommandError as err:
                reply = {"request_id": request_id, "ok": False, "message": str(err)}
            except Exception:  # the clerk gets an answer whatever went wrong
                self.stats["staff_errors"] += 1
                log.exception("staff command %r failed", doc["command"])
                reply = {
                    "request_id": request_id,
                    "ok": False,
                    "message": "the office could not carry that out; the error is in its log",
                }
            self._activity(f"staff {terminal}: {doc['command']} -> {reply['message']}")
        self._publish("staff_reply", reply, terminal=terminal)

    def execute(self, cmd: commands.Command) -> str:
        """Carry out a staff command (inside the caller's transaction); returns the reply."""
        now = self.wall_ms()
        today = self.business_day(now)
        self._dirty = True
        match cmd:
            case commands.CallNext(counter=number):
                counter = self.config.counter(number)
                waiting = self.db.tickets(today, [Status.WAITING])
                chosen = pick_next(waiting, counter)
                if chosen is None:
                    return f"nobody is waiting for counter {number}"
                return self._call(chosen, number, now)
            case commands.CallNumber(ref=ref, counter=number):
                self.config.counter(number)
                return self._call(self._resolve(ref, today), number, now)
            case commands.Advance(ref=ref, station=station):
                ticket = self._resolve(ref, today)
                code = self._station_code(station)
                moved, stamp, called = advance(ticket, code, now)
                self._save(moved, stamp, called)
                return f"{moved.number} → {code}" + (f"; ready at counter {called.counter}" if called else "")
            case commands.Done(ref=ref, counter=number):
                if number is not None:
                    self.config.counter(number)
                moved, stamp, called = done(self._resolve(ref, today), now, number)
                self._save(moved, stamp, called)
                return f"{moved.number} done; please come to counter {called.counter}"
            case commands.Absent(ref=ref):
                moved = absent(self._resolve(ref, today), now)
                self.db.update_ticket(moved)
                return f"{moved.number} marked absent"
            case commands.Void(ref=ref):
                moved = void(self._resolve(ref, today), now)
                self.db.update_ticket(moved)
                self._voids_dirty.add(moved.device)  # published after the commit
                return f"{moved.number} void"
        raise CommandError(f"unsupported command {cmd!r}")

    def _call(self, ticket: Ticket, counter: int, now: int) -> str:
        previous = self.db.last_call_at_counter(counter)
        moved, stamp, called = call(ticket, counter, now)
        self._save(moved, stamp, called)
        if previous is not None:
            seconds = (now - previous[0].at_ms) / 1000
            if 0 < seconds < MAX_SAMPLE_S:
                self._service = self._service.add(previous[1], seconds)
        return f"{moved.number} → counter {counter}"

    def _save(self, ticket: Ticket, stamp: Any, called: Any) -> None:
        self.db.update_ticket(ticket)
        self.db.add_stamp(stamp)
        if called is not None:
            self.db.add_call(called)
            self._activity(
                f"now calling {called.number} → counter {called.counter}"
                + (" (ready)" if called.kind == "ready" else "")
            )

    def _station_code(self, word: str) -> str:
        for station in self.config.stations:
            if word == station.code or word in station.names.values():
                return station.code
        known = ", ".join(s.code for s in self.config.stations)
        raise CommandError(f"unknown station {word!r}; stations: {known}")

    def _resolve(self, ref: str, today: str) -> Ticket:
        series: str | None = None
        if "-" in ref:
            series, _, number_text = ref.rpartition("-")
        else:
            number_text = ref
        number = int(number_text)
        if number > MAX_TICKET_NUMBER:
            raise CommandError(f"no ticket {ref} today")
        found = self.db.find_tickets(today, number, series)
        if not found:
            raise CommandError(f"no ticket {ref} today")
        if len(found) > 1:
            options = " or ".join(f"{t.series}-{t.number}" for t in found)
            raise CommandError(f"{ref} exists in several series: say {options}")
        return found[0]

    def _run_sim_staff(self) -> None:
        if self.sim_staff is None:
            return
        today = self.business_day()
        active = self.db.tickets(today, [Status.WAITING, Status.CALLED, Status.IN_PROGRESS])
        for cmd in self.sim_staff.plan(self.wall_ms(), active, self.config):
            try:
                with self.db.transaction():
                    self.execute(cmd)
            except CommandError as err:
                log.debug("simulated staff: %s", err)

    def _rebuild_service_log(self) -> ServiceLog:
        service = ServiceLog()
        since = self.wall_ms() - 12 * 3600 * 1000
        last_at: dict[int, tuple[int, str]] = {}
        for counter, at_ms, category in self.db.call_history(since):
            if counter in last_at:
                prev_ms, prev_cat = last_at[counter]
                seconds = (at_ms - prev_ms) / 1000
                if 0 < seconds < MAX_SAMPLE_S:
                    service = service.add(prev_cat, seconds)
            last_at[counter] = (at_ms, category)
        return service

    # -- publishing ------------------------------------------------------------------------------

    def _publish(self, name: str, body: Mapping[str, Any], *, device: str = "+", terminal: str = "+") -> None:
        spec = protocol.TOPICS[name]
        self._link.publish(
            protocol.topic(name, self.config.site, device=device, terminal=terminal),
            protocol.encode(name, body),
            qos=spec.qos,
            retain=spec.retain,
        )

    def _publish_status(self, state: str) -> None:
        self._last_heartbeat = time.monotonic()
        self._publish(
            "office_status", {"state": state, "epoch": self.epoch, "session": self._session, "sent_ms": self.wall_ms()}
        )

    def _publish_ack(self, device: str, acked: int) -> None:
        self._publish("ack", {"acked": acked, "sent_ms": self.wall_ms()}, device=device)

    def _publish_config(self) -> None:
        cfg = self.config
        body = {
            "version": self.db.next_version("config"),
            "sent_ms": self.wall_ms(),
            "office_name": cfg.office_name,
            "timezone": cfg.timezone,
            "rollover_hour": cfg.rollover_hour,
            "progress_url": cfg.progress_url,
            "dispenser": dict(cfg.dispenser_hours),
            "kiosk": dict(cfg.kiosk_hours),
            "certificate_fees": dict(cfg.certificate_fees),
            "lease_days": self.lease_days(),
            "stations": [{"code": s.code, "name": dict(s.names)} for s in cfg.stations],
            "categories": [
                {
                    "code": c.code,
                    "series": c.series,
                    "name": dict(c.names),
                    "route": list(c.route),
                    "procedures": list(c.procedures),
                    "daily_cap": c.daily_cap,
                }
                for c in cfg.categories
            ],
        }
        self._publish("office_config", body)

    def queue_figures(self) -> list[dict[str, Any]]:
        """People waiting and the expected wait per purpose (the dispensers' snapshot)."""
        today = self.business_day()
        waiting = self.db.waiting_by_category(today)
        issued = self.db.issued_by_category(today)
        last_called = self.db.last_called_by_category()
        rows = []
        for cat in self.config.categories:
            samples = self._service.samples.get(cat.code, ())
            counters = sum(1 for c in self.config.counters if c.serves(cat.code))
            per_person = estimate.estimated_wait_minutes(1, samples, counters, self.config.default_service_seconds)
            rows.append(
                {
                    "code": cat.code,
                    "waiting": waiting.get(cat.code, 0),
                    "est_wait_min": estimate.estimated_wait_minutes(
                        waiting.get(cat.code, 0), samples, counters, self.config.default_service_seconds
                    ),
                    "min_per_person": per_person,
                    "issued": issued.get(cat.code, 0),
                    "last_called": last_called.get(cat.code),
                }
            )
        return rows

    def _publish_snapshots(self) -> None:
        self._last_snapshot = time.monotonic()
        self._dirty = False
        now = self.wall_ms()
        today = self.business_day(now)
        with self.db.transaction():
            queue_version = self.db.next_version("queue")
            board_version = self.db.next_version("board")
        self._publish(
            "queue_snapshot",
            {
                "version": queue_version,
                "sent_ms": now,
                "business_day": today,
                "categories": self.queue_figures(),
                "acked": {row["device"]: int(row["acked_seq"]) for row in self.db.devices("dispenser")},
            },
        )
        linger = self.config.ready_linger_minutes * 60_000
        trains, waiting, per_route = self.db.board_rows(today, now - linger, MAX_WAITING_ROWS)
        recent = self.db.recent_calls(50)
        calls = [{"number": c.number, "counter": c.counter, "at_ms": c.at_ms} for c in recent[:10]]
        now_calling: dict[int, dict[str, Any]] = {}
        for c in recent:  # newest first: the first seen per counter is its current call
            now_calling.setdefault(
                c.counter, {"counter": c.counter, "number": c.number, "kind": c.kind, "at_ms": c.at_ms}
            )
        self._publish(
            "board_snapshot",
            {
                "version": board_version,
                "sent_ms": now,
                "business_day": today,
                "lines": board_lines(self.config, trains, waiting, per_route),
                "calls": calls,
                "counters": sorted(now_calling.values(), key=lambda r: r["counter"]),
            },
        )

    def _activity(self, line: str) -> None:
        if self.on_activity is not None:
            self.on_activity(line)


def make_sim_staff(pace_s: float, seed: int | None = None) -> SimStaff:
    """Simulated staff working the queue at ``pace_s`` seconds per step (the demo)."""
    return SimStaff(pace_ms=int(pace_s * 1000), rng=random.Random(seed))
