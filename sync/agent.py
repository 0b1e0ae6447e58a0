"""The device side of sync: outbox -> office, retained office state -> local store.

Rules this module keeps (DESIGN.md decisions 2-6):

* an event is in the outbox (fsynced, with its sequence) before anything is published;
* events are sent only while the office's retained status says it is online, with at most
  ``window`` unacknowledged events in flight;
* an event leaves the outbox only on the office's cumulative application-level ack, never on a
  PUBACK; the whole unacked window is sent again after every reconnect, after the office comes
  back, and when acks stall;
* retained office documents are stored, so a restarted device shows last-known state before it
  reconnects; versions at or below the stored one are ignored;
* the office's time is learned from its live messages (never from retained replays).

Threads: paho's network thread only queues what arrives; one worker thread owns all sync work.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

import msgspec

from common.version import madoguchi_version
from sync import clock as clockmod
from sync import hlc as hlcmod
from sync import messages, protocol, signing
from sync.errors import ProtocolError, StoreError
from sync.events import Event
from sync.link import Inbound, MqttLink, Will
from sync.outbox import Outbox
from sync.store import StateStore

log = logging.getLogger(__name__)

# Retained office documents each role keeps (and subscribes to). A dispenser never stores the
# board snapshot: every stored document is rewritten with each update of any of them.
DOCUMENTS_BY_ROLE: dict[str, tuple[str, ...]] = {
    "dispenser": ("office_config", "queue_snapshot", "lease", "voids"),
    "board": ("office_config", "queue_snapshot", "board_snapshot"),
    "kiosk": ("office_config",),
}
# What a device whose store failed says in its status (Health.fault): staff see "out of service".
STORAGE_FAULT = "storage full or failing"
ALL_DOCUMENTS = ("office_config", "queue_snapshot", "board_snapshot", "lease", "voids")


def read_boot_id() -> str:
    """The kernel's id for this boot: a clock confirmed in an earlier boot is not confirmed now."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown-boot"


@dataclass(frozen=True)
class AgentConfig:
    """What a device agent needs to know about itself."""

    site: str
    device_id: str
    role: str
    broker_url: str
    data_dir: Path
    window: int = 1000
    resend_after_s: float = 5.0
    status_interval_s: float = 30.0
    # Events per outbox segment. Every append rewrites its segment whole (crash-safe): 200 made
    # ~35 KB written per ticket, 10 about 3 KB (SD-card wear; bench/README.md).
    segment_size: int = 10
    # The office's public signing key, ``ed25519:…`` (enrolment writes it into the device
    # configuration; the demo passes it at first start). Once pinned, a device acts on no office
    # document without the office's signature; None keeps the key pinned before, if any.
    office_key: str | None = None


class DeviceAgent:
    """Owns a device's outbox, its store of office documents, its clock and its MQTT link."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        on_document: Callable[[str, messages.Payload], None] | None = None,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        mono_ms: Callable[[], int] = lambda: int(time.monotonic() * 1000),
        boot_id: str | None = None,
    ) -> None:
        protocol.check_id("site", config.site)
        protocol.check_id("device", config.device_id)
        self.config = config
        self._wall_ms = wall_ms
        self._mono_ms = mono_ms
        # the first failed write of the device's store (a full disk): the app stops on it
        self.storage_failure: StoreError | None = None
        # Called on the agent's worker thread when a stored document changes (hand work over).
        self.on_document_changed = on_document
        # A kiosk's answers from the office (kiosk_reply), on the worker thread too.
        self.on_reply: Callable[[messages.AnyKioskReply], None] | None = None
        try:
            config.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"cannot use {config.data_dir} as the data directory: {err.strerror}") from err
        self.outbox = Outbox(config.data_dir / "outbox", config.device_id, segment_size=config.segment_size)
        self.state = StateStore(config.data_dir / "state.json")
        self.documents = DOCUMENTS_BY_ROLE.get(config.role, ALL_DOCUMENTS)
        self.verifier = self._pin(config.office_key)
        # Read on every press: served from memory, never behind the store's fsync. Each was
        # checked when it arrived; a stored one is checked again (a store from an older build).
        self._docs: dict[str, messages.Payload] = {}
        for name in self.documents:
            stored = self.state.get(name)
            if stored is not None:
                try:
                    self._docs[name] = protocol.from_stored(name, stored)
                except ProtocolError as err:
                    log.warning("ignored the stored %s (the office sends it again): %s", name, err)
        self.stats: Counter[str] = Counter()
        self._lock = threading.RLock()  # guards clock, hlc and the outbox append path

        persisted = self.state.get("clock")
        try:
            prior = clockmod.from_dict(persisted) if persisted else None
        except ValueError:
            log.warning("stored clock state is unreadable; starting unconfirmed")
            prior = None
        self._clock = clockmod.initial(boot_id or read_boot_id(), prior)
        self._clock_saved = self._clock
        stored_hlc = self.state.get("hlc")
        last = hlcmod.HLC(0, 0)
        if stored_hlc and isinstance(stored_hlc.get("hlc"), str):
            try:
                last = hlcmod.HLC.decode(stored_hlc["hlc"])
            except ValueError:
                log.warning("stored HLC is unreadable; starting from the wall clock")
        for event in self.outbox.pending(after_seq=self.outbox.last_seq - 1, limit=1):
            last = max(last, hlcmod.HLC.decode(event.hlc))
        self._hlc = last

        self._inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._office_online = False
        self.last_heard_ms: int | None = None
        # A dispenser's number marks for its status message (the office tops leases up from them).
        self.status_marks: Callable[[], tuple[messages.NumberMark, ...]] | None = None
        # What the device says of itself (a kiosk's cash and service, a board's staleness): the
        # floor view's health and alerts. Call :meth:`health_changed` when it changes.
        self.status_health: Callable[[], messages.Health] | None = None
        self._office_session: tuple[Any, Any] = (None, None)
        self._sent_upto = self.outbox.acked_seq
        self._last_progress_ms = self._mono_ms()
        self._last_status_ms = 0
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._link: MqttLink | None = None
        self._report_repairs()

    def _pin(self, office_key: str | None) -> signing.OfficeVerifier | None:
        """The office key this device believes: the configured one (kept in the store, so a
        configuration that loses it later does not unpin the device), else the one kept."""
        if office_key:
            verifier = signing.OfficeVerifier.from_text(office_key)  # OfficeKeyError: one line
            kept = self.state.get("office_key")
            if kept is None or kept.get("key") != verifier.public_text:
                if kept is not None:
                    log.warning(
                        "%s: the office key changed (enrolled again?): pinning the new one", self.config.device_id
                    )
                self.state.put("office_key", {"key": verifier.public_text})
            return verifier
        kept = self.state.get("office_key")
        if kept is not None and isinstance(kept.get("key"), str):
            try:
                return signing.OfficeVerifier.from_text(kept["key"])
            except signing.OfficeKeyError as err:
                raise signing.OfficeKeyError(
                    f"the office key kept in {self.config.data_dir / 'state.json'} is damaged ({err}): "
                    "pass it again (--office-key, or enrol the device again)"
                ) from err
        # INFO, not a warning on every start of every command: the technician's self-test is
        # where an unpinned device shows up (a WARN line saying to enrol it).
        log.info(
            "%s: no office key pinned - this device believes any message on the office's topics; "
            "enrol it (or pass --office-key) so it acts only on what the office signed",
            self.config.device_id,
        )
        return None

    def _report_repairs(self) -> None:
        """A store repaired at open is reported to the office, not just logged on the device."""
        notes = self.outbox.recovery_notes + ([self.state.recovery_note] if self.state.recovery_note else [])
        for note in notes:
            log.error("local store repaired at start: %s", note)
            self.stats["store_repairs"] += 1
            self.record(messages.StoreRecovered(note=note[:500]))

    # -- public API (any thread) ---------------------------------------------------------------

    def start(self) -> None:
        """Connect and start syncing in the background."""
        site, dev = self.config.site, self.config.device_id
        subs = [(protocol.topic("office_status", site), 1), (protocol.topic("ack", site, device=dev), 1)]
        subs += [(protocol.topic(name, site, device=dev), 1) for name in self.documents]
        if self.config.role == "kiosk":
            subs.append((protocol.topic("kiosk_reply", site, device=dev), 1))
        will = Will(
            protocol.topic("device_status", site, device=dev),
            protocol.encode(messages.DeviceStatus(state="offline", role=self.config.role)),
        )
        self._link = MqttLink(
            self.config.broker_url,
            f"{site}-{dev}",
            subscriptions=subs,
            on_message=lambda m: self._inbox.put(("message", m)),
            on_ready=lambda: self._inbox.put(("ready", None)),
            on_down=lambda why: self._inbox.put(("down", why)),
            will=will,
            max_inflight=max(20, self.config.window // protocol.MAX_EVENTS_PER_MESSAGE * 2),
        )
        self._worker = threading.Thread(target=self._run, name=f"agent-{dev}", daemon=True)
        self._worker.start()
        self._link.start()

    def stop(self) -> None:
        """Say goodbye (retained offline status), stop the worker and close the stores."""
        self._stop.set()
        self._inbox.put(("wake", None))
        if self._worker is not None:
            self._worker.join(timeout=10)
        if self._link is not None:
            final = (
                protocol.topic("device_status", self.config.site, device=self.config.device_id),
                protocol.encode(self._status("offline")),
                1,
                True,
            )
            self._link.stop(final=final)
        with self._lock:
            self._persist_clock(force=True)
            self.outbox.close()
            self.state.close()

    def health_changed(self) -> None:
        """The device's health changed: its status goes out now, not at the next interval."""
        self._inbox.put(("health", None))

    def request(self, body: messages.AnyKioskRequest) -> bool:
        """Ask the office (a kiosk's request; the answer comes to ``on_reply``). Not journalled:
        the kiosk's own journal decides what a lost request means. False when not connected."""
        if self._link is None or not self._link.ready:
            return False
        self._link.publish(
            protocol.topic("kiosk_request", self.config.site, device=self.config.device_id),
            protocol.encode(body),
            qos=1,
        )
        return True

    def record(self, data: messages.EventData, meta: Mapping[str, Any] | None = None) -> Event:
        """Journal an event durably (returns once fsynced) and nudge the sender.

        ``meta`` is device state that must change atomically with this event (a dispenser's
        number marks): it is written in the same atomic write and read back as ``outbox.meta``.
        """
        return self.record_raw(data.type, protocol.to_data(data), meta)

    def record_raw(self, type: str, data: Mapping[str, Any], meta: Mapping[str, Any] | None = None) -> Event:
        """:meth:`record` for data already in its wire form (``data`` as :func:`protocol.to_data`
        makes it; load tests journal events of their own this way)."""
        with self._lock:
            now = self.now_ms()
            self._hlc = hlcmod.tick(self._hlc, now)
            try:
                event = self.outbox.append(type, data, hlc=self._hlc.encode(), at_ms=now, meta=meta)
            except StoreError as err:
                self._storage_failed(err)
                raise
        self._inbox.put(("wake", None))
        return event

    def _storage_failed(self, err: StoreError) -> None:
        """The first failed write of the store: remembered (the app stops or shows "ask staff")
        and told to the office in the device's status, which needs no disk."""
        self.stats["store_errors"] += 1
        if self.storage_failure is None:
            self.storage_failure = err
            # The app says it (one line from a command, "please ask staff" on a screen).
            log.info("%s: the device's store failed, out of service: %s", self.config.device_id, err)
            self._inbox.put(("health", None))

    def now_ms(self) -> int:
        """Best estimate of wall time: the office's time once learned since boot."""
        with self._lock:
            return clockmod.now_ms(self._clock, self._wall_ms(), self._mono_ms())

    @property
    def clock_confirmed(self) -> bool:
        """Whether the office confirmed our clock since this boot (only then print dates)."""
        with self._lock:
            return clockmod.is_confirmed(self._clock)

    @property
    def office_online(self) -> bool:
        """The office's retained status, as last heard."""
        return self._office_online

    @property
    def connected(self) -> bool:
        """Connected to the broker with subscriptions in place."""
        return self._link is not None and self._link.ready

    @overload
    def document(self, name: Literal["office_config"]) -> messages.OfficeConfig | None: ...
    @overload
    def document(self, name: Literal["queue_snapshot"]) -> messages.QueueSnapshot | None: ...
    @overload
    def document(self, name: Literal["board_snapshot"]) -> messages.BoardSnapshot | None: ...
    @overload
    def document(self, name: Literal["lease"]) -> messages.Lease | None: ...
    @overload
    def document(self, name: Literal["voids"]) -> messages.Voids | None: ...
    @overload
    def document(self, name: str) -> messages.Payload | None: ...
    def document(self, name: str) -> messages.Payload | None:
        """The last-known office document (config, snapshots, lease, voids), kept across
        restarts: a frozen model, checked when it arrived."""
        return self._docs.get(name)

    def pending_count(self) -> int:
        """Events journalled but not yet acknowledged by the office."""
        return self.outbox.pending_count()

    def wait_drained(self, timeout: float) -> bool:
        """Block until the office acknowledged every journalled event (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.outbox.acked_seq >= self.outbox.last_seq:
                return True
            time.sleep(0.02)
        return self.outbox.acked_seq >= self.outbox.last_seq

    # -- worker thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                kind, item = self._inbox.get(timeout=0.5)
            except queue.Empty:
                kind, item = "tick", None
            try:
                self._handle(kind, item)
                # Drain what else is queued before pumping, so a burst of acks costs one pump.
                while True:
                    try:
                        kind, item = self._inbox.get_nowait()
                    except queue.Empty:
                        break
                    self._handle(kind, item)
                self._housekeeping()
                self._pump()
            except StoreError as err:
                # The disk is full or gone: nothing can be kept, so the app must stop and say
                # so (storage_failure); a traceback every half second would only fill the log.
                self._storage_failed(err)
            except Exception:  # the worker must survive anything one message does to it
                self.stats["worker_errors"] += 1
                log.exception("device agent: unexpected error (continuing)")

    def _handle(self, kind: str, item: Any) -> None:
        if kind == "message":
            self._on_inbound(item)
        elif kind == "ready":
            self._sent_upto = self.outbox.acked_seq  # resend the unacked window
            self._publish_status()
        elif kind == "down":
            self._office_online = False
        elif kind == "health":
            self._publish_status()

    def _on_inbound(self, message: Inbound) -> None:
        try:
            parsed = protocol.parse_topic(message.topic)
        except ProtocolError as err:
            self.stats["bad_payloads"] += 1
            log.warning("ignored a message on %s: %s", message.topic, err)
            return
        if parsed.site != self.config.site or (parsed.device not in (None, self.config.device_id)):
            self.stats["foreign_messages"] += 1
            return
        if self.verifier is not None and parsed.name in signing.SIGNED_TOPICS:
            try:
                self.verifier.check(parsed.name, parsed.site, parsed.device or parsed.terminal, message.payload)
            except signing.SignatureError as err:
                # Checked before anything is read from it - its version, its time, its acks.
                self.stats["signature_refused"] += 1
                if self.stats["signature_refused"] in (1, 10, 100, 1000, 10000):
                    log.warning("%s: ignored a message on %s: %s", self.config.device_id, message.topic, err)
                return
        try:
            doc = protocol.decode(parsed.name, message.payload)
        except ProtocolError as err:
            self.stats["bad_payloads"] += 1
            log.warning("ignored a bad message on %s: %s", message.topic, err)
            return
        sent_ms = getattr(doc, "sent_ms", None)
        if isinstance(sent_ms, int) and not message.retained:
            self._learn_time(sent_ms)
            self.last_heard_ms = self.now_ms()  # "updated HH:MM" on a board that loses the office
        match doc:
            case messages.ChallengeReply() | messages.AuthenticateReply() | messages.IssueReply():
                if self.on_reply is not None:
                    self.on_reply(doc)
            case messages.OfficeStatus():
                self._on_office_status(doc)
            case messages.Ack():
                self._on_ack(doc.acked)
            case (
                messages.OfficeConfig()
                | messages.QueueSnapshot()
                | messages.BoardSnapshot()
                | messages.Lease()
                | (messages.Voids())
            ) if parsed.name in self.documents:
                if self.state.put_if_newer(parsed.name, msgspec.to_builtins(doc), doc.version):
                    self._docs[parsed.name] = doc
                    self.stats[f"doc_{parsed.name}"] += 1
                    if self.on_document_changed is not None:
                        self.on_document_changed(parsed.name, doc)
            case _:
                self.stats["unexpected_messages"] += 1

    def _on_office_status(self, doc: messages.OfficeStatus) -> None:
        was = self._office_online
        self._office_online = doc.state == "online"
        # A new (epoch, session) is a new office connection: whatever we sent before may
        # have gone to nobody (clean sessions), so the unacked window goes again.
        session = (doc.epoch, doc.session)
        session_changed = session != self._office_session
        self._office_session = session
        if self._office_online and (not was or session_changed):
            log.info("office is online (epoch %s session %s): sending the outbox", *session)
            self._sent_upto = self.outbox.acked_seq
            self._last_progress_ms = self._mono_ms()
        elif was and not self._office_online:
            log.warning("office went offline: holding events in the outbox")

    def _on_ack(self, acked: int) -> None:
        if acked > self.outbox.last_seq:
            # An ack for events we never wrote (a forgery, or a reinstalled device reusing an old
            # id): refused and counted; the outbox keeps every event until the office has it.
            self.stats["ack_refused"] += 1
            return
        if self.outbox.ack(acked):
            self._last_progress_ms = self._mono_ms()
            self.stats["acks"] += 1
        self._sent_upto = max(self._sent_upto, self.outbox.acked_seq)

    def _learn_time(self, office_ms: int) -> None:
        with self._lock:
            if not clockmod.plausible(self._clock, office_ms, self._mono_ms()):
                # Ahead or behind by more than a clock is ever corrected: not the office's time.
                self.stats["clock_refused"] += 1
                if self.stats["clock_refused"] in (1, 10, 100, 1000):
                    log.warning(
                        "%s: an office time %d ms off what this device counts was not believed",
                        self.config.device_id,
                        office_ms - (clockmod.expected_office_ms(self._clock, self._mono_ms()) or 0),
                    )
                return
            self._clock = clockmod.observe_office_time(self._clock, office_ms, self._wall_ms(), self._mono_ms())
            self._hlc = hlcmod.receive(self._hlc, hlcmod.HLC(office_ms, 0), self.now_ms())
            self._persist_clock()

    def _persist_clock(self, force: bool = False) -> None:
        saved, now = self._clock_saved, self._clock
        drift = abs((now.offset_ms or 0) - (saved.offset_ms or 0))
        if force or clockmod.is_confirmed(now) != clockmod.is_confirmed(saved) or drift > 1000:
            self.state.put("clock", clockmod.to_dict(now))
            self.state.put("hlc", {"hlc": self._hlc.encode()})
            self._clock_saved = now

    def _housekeeping(self) -> None:
        now = self._mono_ms()
        in_flight = self._sent_upto > self.outbox.acked_seq
        if in_flight and now - self._last_progress_ms > self.config.resend_after_s * 1000:
            # PUBACK is not delivery: no ack progress means the office may never have seen them.
            log.info("no ack for %.1f s: resending from seq %d", self.config.resend_after_s, self.outbox.acked_seq + 1)
            self.stats["resends"] += 1
            self._sent_upto = self.outbox.acked_seq
            self._last_progress_ms = now
        if self.connected and now - self._last_status_ms > self.config.status_interval_s * 1000:
            self._publish_status()

    def _pump(self) -> None:
        link = self._link
        if link is None or not link.ready or not self._office_online:
            return
        acked = self.outbox.acked_seq
        self._sent_upto = max(self._sent_upto, acked)
        topic = protocol.topic("events", self.config.site, device=self.config.device_id)
        while self._sent_upto - acked < self.config.window:
            room = min(protocol.MAX_EVENTS_PER_MESSAGE, self.config.window - (self._sent_upto - acked))
            batch = self.outbox.pending(after_seq=self._sent_upto, limit=room)
            if not batch:
                break
            payload = self._encode_batch(batch)
            if payload is None:
                break
            if not link.publish(topic, payload, qos=1):
                break  # connection went away mid-pump: the ready handler resends
            if self._sent_upto == acked:
                self._last_progress_ms = self._mono_ms()
            self._sent_upto = batch[-1].seq
            self.stats["events_sent"] += len(batch)

    def _encode_batch(self, batch: list[Event]) -> bytes | None:
        # Shrink the batch until it fits the payload limit; one event always fits by contract.
        while batch:
            try:
                return protocol.encode(
                    messages.EventBatch(device=self.config.device_id, events=tuple(e.to_message() for e in batch))
                )
            except ProtocolError:
                if len(batch) == 1:
                    self.stats["unsendable_events"] += 1
                    log.error("event %s cannot be encoded within the payload limit", batch[0].id)
                    return None
                del batch[len(batch) // 2 :]
        return None

    def _status(self, state: Literal["online", "offline"]) -> messages.DeviceStatus:
        health = self.status_health() if self.status_health is not None else None
        if self.storage_failure is not None:
            # Whatever else the app says of itself, it cannot serve: the floor view says why.
            health = msgspec.structs.replace(health or messages.Health(), in_service=False, fault=STORAGE_FAULT)
        return messages.DeviceStatus(
            state=state,
            role=self.config.role,
            sent_ms=self.now_ms(),
            hlc=self._hlc.encode(),
            outbox_pending=self.outbox.pending_count(),
            last_seq=self.outbox.last_seq,
            clock_confirmed=self.clock_confirmed,
            marks=self.status_marks() if self.status_marks is not None else (),
            health=health,
            version=madoguchi_version(),
        )

    def _publish_status(self) -> None:
        if self._link is None:
            return
        self._last_status_ms = self._mono_ms()
        self._link.publish(
            protocol.topic("device_status", self.config.site, device=self.config.device_id),
            protocol.encode(self._status("online")),
            qos=1,
            retain=True,
        )
