"""The reference office server: the authority the lobby devices sync with - its loop.

One main thread owns the SQLite store and does all the work; paho's thread only queues what
arrives. Per turn: take every queued message, apply the device events of all of them in one
transaction (idempotent on the event id), commit, then publish the cumulative acks - an ack
never covers an event that is not on disk. Retained documents (config, snapshots, leases) carry
a persisted, increasing version so a device can ignore stale ones.

What the loop calls on lives beside it: :mod:`office.intake` (what an event does),
:mod:`office.staff` (staff commands), :mod:`office.lease_keeper` (number leases),
:mod:`office.snapshots` (the documents it publishes), :mod:`office.kiosk_service` (kiosks).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import queue
import random
import sqlite3
import threading
import time
import uuid
import zoneinfo
from collections import Counter as Tally
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certificates.registry import Registry
from common import calendar
from office import actions, commands, desk, floor, identity, public_feed, snapshots
from office.db import OfficeDB
from office.domain import CommandError, Status, Ticket
from office.intake import Intake
from office.kiosk_service import open_kiosk_service
from office.lease_keeper import LeaseKeeper
from office.public_push import FeedPusher
from office.simstaff import SimStaff
from office.staff import Reply, StaffDesk
from office.staff_door import StaffDoor
from office.stats.warmer import Warmer
from office.ward_branch import WardBranch
from sync import messages, protocol, signing
from sync.errors import ProtocolError
from sync.link import Inbound, MqttLink, Will
from sync.site import SiteConfig

log = logging.getLogger(__name__)

HEARTBEAT_S = 10.0  # live office status: devices learn the time from it and see we are alive
# Bursts of changes coalesce into one retained snapshot per interval; a change after a quiet
# spell goes out at once (the board's move follows the clerk's click within the interval).
SNAPSHOT_MIN_INTERVAL_S = 0.1
PRUNE_AFTER_START_S = 30.0  # the first pruning after a start waits this long
LEASE_CHECK_S = 60.0  # catches the business-day rollover for idle dispensers
ENROLLED_REREAD_S = 5.0  # an unknown device makes the office read the enrolment register again
PUBLIC_MIN_INTERVAL_S = 0.2  # resident pages: changes coalesce into one feed per interval
# A change reaches the staff consoles first: their view is built in a thread of this process
# right after the commit and their streams are served by the console's event loop, and the
# feed (every ticket of the day again) would compete with both for the GIL and the two cores.
# The pages' target is 500 ms and the consoles' 100: measured with 20 consoles and 500 pages
# open (bench/console_bench.py), 50 ms of patience gave consoles p99 141 ms / pages 205 ms,
# 100 ms gave 38-82 / 281-356, 200 ms 39-66 / 394-415.
PUBLIC_SETTLE_S = 0.1
PUBLIC_FULL_S = 300.0  # a full feed now and then heals whatever a lost push left behind
SERVICE_HISTORY_MS = 12 * 3600 * 1000  # calls looked back at to learn service times at start


class OfficeServer:
    """Queues, routes, progress, leases and snapshots for one site."""

    def __init__(
        self,
        config: SiteConfig,
        db_path: Path | str,
        broker_url: str,
        *,
        home: Path | None = None,
        sim_staff: SimStaff | None = None,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        on_activity: Callable[[str], None] | None = None,
        registry: Registry | None = None,
        signing_key: Ed25519PrivateKey | None = None,
        prune_after_start_s: float = PRUNE_AFTER_START_S,
    ) -> None:
        self.config = config
        # Loaded (or made) before the store opens: an unreadable key stops the office at start,
        # never half-way through publishing.
        self.signer = signing.OfficeSigner(
            signing_key or signing.load_or_create_key(identity.signing_key_path(db_path, home))
        )
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
        self._dirty = True
        self._last_snapshot = 0.0
        self._last_heartbeat = 0.0
        self._last_lease_check = 0.0
        self._retention_day: str | None = None  # the business day the store was last pruned for
        self._created = time.monotonic()
        self.prune_after_start_s = prune_after_start_s  # a bench whose days pass in moments: 0
        self._listeners: list[Callable[[int], None]] = []
        # (business day, its tickets) as committed, for the staff consoles: their
        # view is built on another thread, and reading the day again from SQLite after every
        # change cost them more than the rest of the view.
        self.kept_tickets: tuple[str, Mapping[str, Ticket]] | None = None
        self.change_version = 0  # grows with every committed change staff screens must see
        self._changed = False
        self._last_public = 0.0
        self._public_seen = -1
        self._last_public_full = 0.0
        self._public_book = public_feed.FeedBook()
        self._changed_at = 0.0  # monotonic time of the last change_version
        self._enrolled: dict[str, str] = {}
        self._enrolled_read = -1e9  # monotonic time the enrolment register was last read
        self._enrolled_version = -1  # the store's data_version when it was read
        self.public: FeedPusher | None = None
        if config.public.url:
            self.public = FeedPusher(config.public.url, Path(config.public.secret_file))
        self.staff = StaffDesk(config, self.db, on_activity=self._activity, issuer=self._issue_at_desk)
        self.door = StaffDoor(
            config,
            self.db,
            self.staff,
            wall_ms=self.wall_ms,
            business_day=self.business_day,
            changed=self._staff_changed,
            activity=self._activity,
            stats=self.stats,
        )
        self.stats_cache = Warmer(db_path)
        # A ward's branch: its ticket log up to the centre, the shared input centre's actions.
        self.ward = WardBranch(
            config,
            self.db,
            self.door,
            wall_ms=self.wall_ms,
            publish=self._publish,
            suspect=self._suspect,
            activity=self._activity,
            stats=self.stats,
        )
        self.staff.rebuild_service_log(self.wall_ms() - SERVICE_HISTORY_MS)
        self.leases = LeaseKeeper(config, self.db)
        self.kiosk = open_kiosk_service(config, self.db, registry=registry, on_activity=self._activity)
        self.intake = Intake(config, self.db, self.kiosk, on_activity=self._activity, on_suspicious=self._suspect)
        self._link = MqttLink(
            broker_url,
            f"{config.site}-office",
            subscriptions=[
                (protocol.topic("events", config.site), 1),
                (protocol.topic("device_status", config.site), 1),
                (protocol.topic("staff_command", config.site), 1),
                (protocol.topic("kiosk_request", config.site), 1),
                *([(protocol.topic("ticket_log_ack", config.site), 1)] if config.ward.send_log else []),
                *([(protocol.topic("ward_action", config.site), 1)] if config.ward.share_input else []),
            ],
            on_message=lambda m: self._inbox.put(("message", m)),
            on_ready=lambda: self._inbox.put(("ready", None)),
            on_down=lambda why: self._inbox.put(("down", why)),
            will=Will(
                protocol.topic("office_status", config.site),
                self._sealed(messages.OfficeStatus(state="offline", epoch=self.epoch)),
            ),
            max_inflight=200,
        )

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Run the server loop in a background thread (tests and the demo)."""
        if self.public is not None:
            self.public.start()
        self._link.start()
        self._thread = threading.Thread(target=self._loop, name="office", daemon=True)
        self._thread.start()

    def serve_forever(self) -> None:
        """Run the server loop in this thread until :meth:`stop` (the CLI)."""
        if self.public is not None:
            self.public.start()
        self._link.start()
        self._loop()

    def wait_online(self, timeout: float = 10.0) -> bool:
        """Block until the office announced itself online."""
        return self._ready.wait(timeout)

    def stop(self) -> None:
        """Announce offline (retained), disconnect and close the store."""
        self._stop.set()
        self._inbox.put(("wake", None))
        self.stats_cache.stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        final = (
            protocol.topic("office_status", self.config.site),
            self._sealed(messages.OfficeStatus(state="offline", epoch=self.epoch, sent_ms=self.wall_ms())),
            1,
            True,
        )
        self._link.stop(final=final)
        if self.public is not None:
            self.public.stop()
        for future in self._pending_futures():
            future.set_exception(RuntimeError("the office stopped before carrying this out"))
        self.db.close()

    def _pending_futures(self) -> list[Future[Reply]]:
        out: list[Future[Reply]] = []
        while True:
            try:
                kind, item = self._inbox.get_nowait()
            except queue.Empty:
                return out
            if kind in ("action", "session") and not item[-1].done():
                out.append(item[-1])

    # -- the staff console's door ------------------------------------------------------------------

    def submit(self, action: actions.Action, actor: actions.Actor) -> Future[Reply]:
        """Carry out a staff action on the loop; the future's reply comes after its commit.

        Idempotent by ``action.request_id``: a retry (a double click, a console that lost the
        answer, an office restart in between) gets the first answer and changes nothing.
        """
        future: Future[Reply] = Future()
        self._inbox.put(("action", (action, actor, future)))
        return future

    def submit_session(self, change: actions.SignIn | actions.SignOut) -> Future[Reply]:
        """Write a sign-in (its lockout rule included) or a sign-out, on the loop."""
        future: Future[Reply] = Future()
        self._inbox.put(("session", (change, future)))
        return future

    def add_listener(self, listener: Callable[[int], None]) -> None:
        """``listener(change_version)`` after every committed change staff screens show (called on
        the loop's thread: hand it over to your own, quickly)."""
        self._listeners.append(listener)

    # -- the loop --------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            # Wake for a pending snapshot when its interval is up, not on the next 0.1 s tick.
            timeout = 0.1
            if self._dirty and self._ready.is_set():
                due = self._last_snapshot + SNAPSHOT_MIN_INTERVAL_S - time.monotonic()
                timeout = min(timeout, max(0.0, due))
            if self.public is not None and self._public_seen != self.change_version:
                due = max(self._changed_at + PUBLIC_SETTLE_S, self._last_public + PUBLIC_MIN_INTERVAL_S)
                timeout = min(timeout, max(0.0, due - time.monotonic()))
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
        batches: list[tuple[str, messages.EventBatch]] = []
        staff_items: list[tuple[str, Any]] = []
        for kind, item in items:
            if kind in ("action", "session"):
                staff_items.append((kind, item))
                continue
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
                    batches.append(routed)
        if batches:
            self._consume(batches)
        for kind, item in staff_items:
            if kind == "action":
                self.door.action(*item)
            else:
                self.door.session(*item)
        self._publish_changed_voids()
        if self._changed:
            self._changed = False
            self.change_version += 1
            self._changed_at = time.monotonic()
            if self._listeners:
                today = self.business_day()
                kept = self.db.kept_day(today)
                self.kept_tickets = (today, kept) if kept is not None else None
            for listener in self._listeners:
                try:
                    listener(self.change_version)
                except Exception:
                    log.exception("office: a change listener failed")
        now = time.monotonic()
        if self.public is not None:
            self._feed_public(now)
        if self.config.ward.send_log and self._ready.is_set():
            self.ward.send_log(now)
        if self._ready.is_set():
            if self.sim_staff is not None:
                self._run_sim_staff()
                self._publish_changed_voids()
            today = self.business_day()
            # Once a business day, and not in the first moments after start (the store's first
            # turns belong to what devices and staff wait for).
            if today != self._retention_day and now - self._created >= self.prune_after_start_s:
                self._retention_day = today
                self._prune(today)
                self.stats_cache.kick(today)
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
            role = self.role_of(device)  # not the stored row's: stores from older offices took it from the device
            if role == "dispenser":
                steps.append((f"lease {device}", functools.partial(self._topup_leases, device, force_publish=True)))
            steps.append((f"ack {device}", functools.partial(self._publish_ack, device, acked)))
            if role == "dispenser":
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

    def _route(self, message: Inbound) -> tuple[str, messages.EventBatch] | None:
        """Check one message; event batches are returned for the turn's transaction, the rest
        handled here."""
        try:
            parsed = protocol.parse_topic(message.topic)
            if parsed.site != self.config.site:
                raise ProtocolError(f"message for site {parsed.site!r}")
            taken = ("events", "device_status", "staff_command", "kiosk_request")
            if parsed.name not in taken and not (
                (parsed.name == "ticket_log_ack" and self.config.ward.send_log)
                or (parsed.name == "ward_action" and self.ward.takes_actions)
            ):
                raise ProtocolError(f"the office does not take {parsed.name} messages")
            if message.retained and parsed.name != "device_status":
                # Events, requests and commands are never published retained; one that is was
                # left by someone else, and replaying it at every office start would act twice.
                self.stats["retained_input"] += 1
                raise ProtocolError(f"a retained {parsed.name} message is not new input")
            if parsed.name == "ward_action":
                self.ward.action(message.payload)
                return None
            if parsed.name == "ticket_log_ack":
                self.ward.ack(message.payload)
                return None
            doc = protocol.decode(parsed.name, message.payload)
            if parsed.device is not None:
                # Who the sender is comes from its enrolment or the site file, never the payload.
                role = self.role_of(parsed.device)
                if not identity.may_publish(role, parsed.name):
                    claimed = getattr(doc, "role", None)
                    self._suspect(
                        parsed.device,
                        "unknown" if role is None else "role",
                        f"topic:{parsed.name}",
                        {"topic": message.topic, "role": role, "claimed_role": claimed},
                    )
                    return None
            # parse_topic always fills device (events, status, requests) or terminal (staff) here.
            match doc:
                case messages.EventBatch():
                    if doc.device != parsed.device:
                        raise ProtocolError(f"events for {doc.device!r} published on {parsed.device!r}'s topic")
                    return str(parsed.device), doc
                case messages.DeviceStatus():
                    self._device_status(str(parsed.device), doc)
                case messages.ChallengeRequest() | messages.AuthenticateRequest() | messages.IssueRequest():
                    self._kiosk_request(str(parsed.device), doc)
                case messages.StaffCommand():
                    self._publish(self.door.command(str(parsed.terminal), doc), terminal=str(parsed.terminal))
        except ProtocolError as err:
            self.stats["bad_payloads"] += 1
            log.warning("ignored a bad message on %s: %s", message.topic, err)
        return None

    # -- events ----------------------------------------------------------------------------------

    def _consume(self, batches: list[tuple[str, messages.EventBatch]]) -> None:
        now = self.wall_ms()
        touched: dict[str, int] = {}
        issued_by: set[str] = set()
        with self.db.transaction():
            for device, batch in batches:
                acked = touched.get(device)
                if acked is None:
                    acked = self.db.acked_seq(device)
                role = self.role_of(device)
                for rec in batch.events:
                    event_id = f"{device}:{rec.seq}"
                    if rec.seq <= acked or not self.db.insert_event(
                        event_id, device, rec.seq, rec.type, rec.hlc, rec.at, now, rec.data
                    ):
                        self._seen_again(device, event_id, rec, now)
                        continue
                    if rec.id != event_id:
                        self.stats["bad_event_ids"] += 1
                    if not identity.may_send_event(role, rec.type):
                        # Stored (the device's acks go on) but never applied, and shown to staff.
                        refused = f"refused: a {role or 'device the office does not know'} does not send {rec.type}"
                        self.db.set_problem(event_id, refused)
                        self._suspect(device, "role", event_id, {"event": msgspec.to_builtins(rec), "role": role})
                        continue
                    self.stats["events"] += 1
                    try:
                        problem = self.intake.apply(device, event_id, rec, self.wall_ms())
                    except Exception as err:  # a poison event must not block its device's acks
                        log.exception("event %s could not be applied", event_id)
                        problem = f"could not be applied: {type(err).__name__}"
                    if problem is not None:
                        self.stats["event_problems"] += 1
                        self.db.set_problem(event_id, problem)
                        log.error("event %s stored but not applied: %s", event_id, problem)
                    elif rec.type == messages.TicketIssued.type:
                        issued_by.add(device)
                touched[device] = acked
            acks = {device: self.db.advance_ack(device) for device in touched}
            regranted = [device for device in issued_by if self.leases.grant(device, self.lease_days(), now)]
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
        if touched:
            self._changed = True  # printers' faults and held prints reach the alerts
        if issued_by:
            self._dirty = True
        self.stats["number_conflicts"] = self.intake.number_conflicts

    def _seen_again(self, device: str, event_id: str, rec: messages.EventRecord, now_ms: int) -> None:
        """An event id the office has: a resend is a duplicate; other content is a conflict,
        kept aside and shown to staff (either the stored event or this one is not the device's)."""
        stored = self.db.stored_event(device, rec.seq)
        if stored is None or stored == (rec.type, rec.hlc, rec.at, rec.data):
            self.stats["duplicates"] += 1
            return
        record = msgspec.to_builtins(rec)
        digest = hashlib.sha256(json.dumps(record, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
        if self.db.note_suspicious(now_ms, device, "conflict", {"event": record}, f"{event_id}#{digest}"):
            self._changed = True
            log.warning("device %s: event %s arrived again with other content; kept aside", device, event_id)
        self.stats["event_conflicts"] += 1

    # -- devices ----------------------------------------------------------------------------------

    def _kiosk_request(self, device: str, request: messages.AnyKioskRequest) -> None:
        """Answer a kiosk: in a transaction, and only after its commit does the reply leave."""
        with self.db.transaction():
            reply = self.kiosk.handle(device, request, self.wall_ms())
        self.stats[f"kiosk_{type(request).__name__}"] += 1
        self._publish(reply, device=device)

    def role_of(self, device: str) -> str | None:
        """The device's role by its enrolment or the site file's ``[[devices]]``; None if unknown.
        An unknown device may have been enrolled a moment ago: the register is read again then,
        at once when another process wrote the store since (the enrolment endpoint, the console's
        "add a device": a device that paired a second ago is not refused), else at most every few
        seconds, so a flood of strangers costs nothing."""
        role = identity.role_of(device, self._enrolled, self.config.devices)
        if role is None:
            written = self.db.written_elsewhere()
            if written != self._enrolled_version or time.monotonic() - self._enrolled_read > ENROLLED_REREAD_S:
                self._enrolled_read = time.monotonic()
                self._enrolled_version = written
                self._enrolled = self.db.enrolled_roles()
                role = identity.role_of(device, self._enrolled, self.config.devices)
        return role

    def _suspect(self, device: str, kind: str, ref: str, detail: dict[str, Any]) -> None:
        """Count, log and keep what the office will not believe; staff see it as an alert."""
        if self.db.note_suspicious(self.wall_ms(), device, kind, detail, ref):
            self._changed = True
            log.warning("device %s: refused (%s) %s", device, kind, ref)
        self.stats[f"refused_{kind}"] += 1  # counted once it is kept (tests wait on the count)

    def _device_status(self, device: str, doc: messages.DeviceStatus) -> None:
        self._changed = True  # the floor view's health and alerts
        role = self.role_of(device)
        if doc.role and doc.role != role:
            self._suspect(device, "role", f"status-role:{doc.role}", {"role": role, "claimed_role": doc.role})
        self.db.upsert_device(device, role, doc.state, self.wall_ms(), protocol.to_builtins(doc))
        if role == "dispenser":
            for mark in self.leases.note_marks(device, doc.marks):
                self._suspect(
                    device, "marks", f"mark:{mark.day}:{mark.series}:{mark.last}", {"mark": msgspec.to_builtins(mark)}
                )
        if doc.state == "online" and role == "dispenser" and self._ready.is_set():
            self._topup_leases(device, force_publish=True)
            self._publish_ack(device, self.db.acked_seq(device))

    def _prune(self, today: str) -> None:
        """Once a business day: drop what the site's retention no longer keeps."""
        keep = self.config.retention.event_days
        before_day = (date.fromisoformat(today) - timedelta(days=keep)).isoformat()
        try:
            with self.db.transaction():
                pruned = self.db.prune(self.wall_ms() - keep * 86_400_000, before_day)
                staff_days = self.config.retention.staff_days
                forget_before = (date.fromisoformat(today) - timedelta(days=staff_days)).isoformat()
                pruned["ticket_log users"] = self.db.forget_log_users(forget_before)
        except sqlite3.Error:
            log.exception("office: pruning the store failed (tried again tomorrow)")
            return
        if any(pruned.values()):
            log.info("office store pruned to %d days: %s", keep, ", ".join(f"{k} {v}" for k, v in pruned.items() if v))

    # -- leases ----------------------------------------------------------------------------------

    def business_day(self, now_ms: int | None = None) -> str:
        """The office's business day (local date with the configured rollover hour)."""
        ms = self.wall_ms() if now_ms is None else now_ms
        return calendar.business_day(ms, self.tz, self.config.rollover_hour).isoformat()

    def lease_days(self) -> tuple[str, ...]:
        """Today and the next day: a dispenser that starts tomorrow offline can still issue."""
        today = date.fromisoformat(self.business_day())
        return (today.isoformat(), (today + timedelta(days=1)).isoformat())

    def _topup_leases(self, device: str, *, force_publish: bool = False) -> None:
        """Top a dispenser's leases up in a transaction of its own, then publish them."""
        with self.db.transaction():
            granted = self.leases.grant(device, self.lease_days(), self.wall_ms())
        self.stats["series_exhausted"] = self.leases.exhausted
        if granted or force_publish:
            self._publish_lease(device)

    # -- staff -----------------------------------------------------------------------------------

    def execute(self, cmd: commands.Command, terminal: str = "terminal") -> str:
        """Carry out a staff command (inside the caller's transaction); returns the reply."""
        return self.door.execute(cmd, terminal)

    def _staff_changed(self) -> None:
        self._dirty = True
        self._changed = True

    def _issue_at_desk(self, purpose: Any, procedures: tuple[str, ...], now_ms: int, today: str) -> Ticket:
        ticket = desk.issue(self.config, self.db, purpose, procedures, now_ms, today)
        self._dirty = True
        return ticket

    # -- the resident's page -----------------------------------------------------------------------

    def _feed_public(self, now: float) -> None:
        """Build the resident's page feed when something changed (coalesced) and hand it over."""
        pusher = self.public
        if pusher is None:
            return
        full = pusher.wants_full or now - self._last_public_full >= PUBLIC_FULL_S
        if not full and (
            now - self._last_public < PUBLIC_MIN_INTERVAL_S
            or self._public_seen == self.change_version
            or now - self._changed_at < PUBLIC_SETTLE_S
        ):
            return
        self._last_public = now
        self._public_seen = self.change_version
        if full:
            self._last_public_full = now
            self._public_book.version = max(self._public_book.version, pusher.held_version)
        try:
            feed = self.public_feed(full=full)
        except Exception:
            self.stats["public_errors"] += 1
            log.exception("office: the resident's page feed could not be built")
            return
        if feed is not None:
            pusher.offer(feed)

    def public_feed(self, *, full: bool = False) -> messages.PublicFeed | None:
        """The feed that brings the resident's pages up to date (None: nothing changed)."""
        now = self.wall_ms()
        today = self.business_day(now)
        tickets = self.db.tickets(today)
        stamps = self.db.stamps_of(t.ticket_id for t in tickets if t.token)
        opened = self.counters_open(now)
        samples = self.staff.service.samples
        waiting = sorted((t for t in tickets if t.status is Status.WAITING), key=lambda t: t.queue_key)
        loads = floor.purpose_loads(self.config, waiting, samples, opened)
        return self._public_book.next_feed(
            self.config,
            today,
            public_feed.public_tickets(self.config, tickets, stamps, samples, opened),
            public_feed.public_purposes(loads, self.db.last_called_by_category()),
            now,
            full=full,
        )

    def counters_open(self, now_ms: int | None = None) -> dict[int, bool]:
        """Which counters are open this business day (an opening of an earlier day is closed)."""
        start = self.day_start_ms(now_ms)
        return {n: is_open and since >= start for n, (is_open, _, since) in self.staff.staff.counters().items()}

    def day_start_ms(self, now_ms: int | None = None) -> int:
        """When the current business day began (its rollover hour), in ms."""
        day = date.fromisoformat(self.business_day(now_ms))
        start = datetime(day.year, day.month, day.day, self.config.rollover_hour, tzinfo=self.tz)
        return int(start.timestamp() * 1000)

    def _run_sim_staff(self) -> None:
        if self.sim_staff is None:
            return
        today = self.business_day()
        active = self.db.tickets(today, [Status.WAITING, Status.CALLED, Status.IN_PROGRESS])
        people = {
            number
            for number, (is_open, user, since) in self.staff.staff.counters().items()
            if is_open and user is not None and not user.startswith("terminal:") and since >= self.day_start_ms()
        }
        for cmd in self.sim_staff.plan(self.wall_ms(), active, self.config, people):
            try:
                with self.db.transaction():
                    self.execute(cmd)
            except CommandError as err:
                log.debug("simulated staff: %s", err)

    # -- publishing ------------------------------------------------------------------------------

    def _publish(self, payload: messages.Payload, *, device: str = "+", terminal: str = "+") -> None:
        spec = protocol.TOPICS[payload.topic]
        self._link.publish(
            protocol.topic(payload.topic, self.config.site, device=device, terminal=terminal),
            self._sealed(payload, device if device != "+" else terminal if terminal != "+" else None),
            qos=spec.qos,
            retain=spec.retain,
        )

    def _sealed(self, payload: messages.Payload, addressee: str | None = None) -> bytes:
        """The payload's bytes with the office's signature for its topic, site and addressee."""
        return self.signer.seal(payload.topic, self.config.site, addressee, protocol.encode(payload))

    def _publish_status(self, state: str) -> None:
        self._last_heartbeat = time.monotonic()
        self._publish(
            messages.OfficeStatus(
                state="online" if state == "online" else "offline",
                epoch=self.epoch,
                session=self._session,
                sent_ms=self.wall_ms(),
            )
        )

    def _publish_ack(self, device: str, acked: int) -> None:
        self._publish(messages.Ack(acked=acked, sent_ms=self.wall_ms()), device=device)

    def _publish_config(self) -> None:
        version = self.db.next_version("config")
        self._publish(self.config.message(version=version, sent_ms=self.wall_ms(), lease_days=self.lease_days()))

    def _publish_lease(self, device: str) -> None:
        version = self.db.next_version(f"lease:{device}")
        self._publish(
            snapshots.lease(self.db, device, self.lease_days(), version=version, now_ms=self.wall_ms()), device=device
        )

    def _publish_voids(self, device: str) -> None:
        """The day's voided tickets of a dispenser: it drops them from its reprint queue."""
        version = self.db.next_version(f"voids:{device}")
        doc = snapshots.voids(self.db, device, self.business_day(), version=version, now_ms=self.wall_ms())
        self._publish(doc, device=device)

    def _publish_changed_voids(self) -> None:
        """Voids changed by staff commands: published after their commit."""
        for device in sorted(self.staff.voids_changed):
            self.staff.voids_changed.discard(device)
            self._publish_voids(device)

    def queue_figures(self) -> tuple[messages.QueueRow, ...]:
        """People waiting and the expected wait per purpose (the dispensers' snapshot)."""
        return snapshots.queue_rows(self.config, self.db, self.staff.service, self.business_day(), self.counters_open())

    def _publish_snapshots(self) -> None:
        self._last_snapshot = time.monotonic()
        self._dirty = False
        now = self.wall_ms()
        today = self.business_day(now)
        with self.db.transaction():
            queue_version = self.db.next_version("queue")
            board_version = self.db.next_version("board")
        self._publish(
            snapshots.queue_snapshot(
                self.config,
                self.db,
                self.staff.service,
                version=queue_version,
                now_ms=now,
                today=today,
                counters_open=self.counters_open(now),
            )
        )
        self._publish(snapshots.board_snapshot(self.config, self.db, version=board_version, now_ms=now, today=today))
        if self.ward.takes_actions:
            with self.db.transaction():
                cases_version = self.db.next_version("ward_cases")
            active = self.db.tickets(today, [Status.IN_PROGRESS, Status.HELD])
            stamps = self.db.stamps_of(t.ticket_id for t in active)
            self._publish(self.ward.cases(active, stamps, version=cases_version, now_ms=now, today=today))

    def _activity(self, line: str) -> None:
        if self.on_activity is not None:
            self.on_activity(line)


def make_sim_staff(pace_s: float, seed: int | None = None) -> SimStaff:
    """Simulated staff working the queue at ``pace_s`` seconds per step (the demo)."""
    return SimStaff(pace_ms=int(pace_s * 1000), rng=random.Random(seed))
