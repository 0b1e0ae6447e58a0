"""The kiosk's edge loop: devices and the office in, effects out, the journal always first.

:class:`KioskRuntime` owns the flow's state (kiosk.flow). Each cycle (:meth:`KioskRuntime.pump`)
it polls the cash box, the card reader and the office's online state, adds a clock tick and the
events the screens posted, and feeds each to ``flow.transition``. The effects of one
transition run **in order**; a :class:`~kiosk.flow.Journal` effect is written with fsync
before the next effect runs, and if it cannot be written nothing after it runs and the kiosk
goes out of service. Results of effects (the card's answer, the office's reply, the hoppers'
payout) become events, fed after the batch that caused them.

Start-up (:meth:`KioskRuntime.start`) inhibits the cash, powers the card down, re-sends the
journal's cash reports (the office deduplicates by key), and settles unfinished sessions
(kiosk.recovery) before the first resident is served.

Threads: :meth:`post` is safe from any thread (the Kivy UI), and so is reading
:attr:`KioskRuntime.health` (the device agent's status, kiosk.health); everything else runs on the
runtime's own thread (:meth:`run`, or :meth:`start_thread`). Listeners are called on that
thread with ``(state, effects)``: a UI must hand over to its main thread. Tests call
:meth:`pump` / :meth:`feed` step by step instead. Nothing happens at import time, and the
runtime needs nothing but its ports, so a kiosk process can be started (and SIGKILLed) alone.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from cryptography import x509
from cryptography.x509.oid import NameOID

from certificates.content import ContentError, parse_content
from common.validation import convert
from kiosk import flow
from kiosk.binding import BoundPrinter, LiveSession
from kiosk.health import KioskHealth
from kiosk.journal import REPORTED, JournalError, KioskJournal, cash_cursor, safe_text, unconfirmed_notes
from kiosk.ports import (
    ApduTransport as ApduTransportPort,
)
from kiosk.ports import (
    CardReaderPort,
    CashPort,
    CertificateRenderer,
    Clock,
    DocumentPrinterPort,
    JpkiPort,
    OfficePort,
    OfficeUnavailable,
    ReceiptPrinterPort,
    SpeakerPort,
)
from kiosk.recovery import RecoveryError, recovered_sessions
from sync import messages

__all__ = ["DEFAULT_PHRASES", "KioskRuntime", "RuntimeSettings", "SystemClock", "card_serial_of"]

log = logging.getLogger(__name__)


def _wire_options(kind: str, options: flow.CertificateOptions) -> messages.Options:
    """The resident's choices as the office's requests carry them (typed, checked once here)."""
    return convert(flow.options_wire(kind, options), messages.Options)


Listener = Callable[[flow.Kiosk, tuple[flow.Effect, ...]], None]

# Spoken prompts by key (a step, an outcome or a notice). The kiosk app may pass its own.
DEFAULT_PHRASES: Final[Mapping[str, Mapping[str, str]]] = {
    "ja": {
        "certificate": "証明書の種類を選んでください",
        "options": "内容と通数を選んでください",
        "insert_card": "マイナンバーカードを差し込んでください",
        "pin": "暗証番号を入力してください",
        "pin_wrong": "暗証番号が違います",
        "authenticating": "確認しています。お待ちください",
        "members": "必要な方を選んでください",
        "confirm_fee": "手数料をご確認ください",
        "payment": "お金を入れてください",
        "exact_amount_only": "お釣りが出ません。ちょうどの金額を入れてください",
        "issuing": "証明書を準備しています",
        "printing": "印刷しています。お待ちください",
        "take_card": "カードをお取りください",
        "thank_you": "ご利用ありがとうございました",
        "go_to_counter": "窓口へお越しください",
        "card_blocked": "暗証番号がロックされました。窓口へお越しください",
        "cancelled": "取り消しました。お金とカードをお取りください",
        "timeout": "時間切れのため取り消しました",
        "office_lost": "ただいま利用できません。お金とカードをお取りください",
        "closed": "ただいまの時間はご利用いただけません。カードをお取りください",
        "money_returned": "お金をお返しします",
        "timeout_warning": "操作を続けますか",
    },
    "en": {
        "certificate": "Please choose a certificate",
        "options": "Please choose the details and the number of copies",
        "insert_card": "Please insert your My Number card",
        "pin": "Please enter your PIN",
        "pin_wrong": "The PIN is not correct",
        "payment": "Please insert the money",
        "exact_amount_only": "No change available. Please pay the exact amount",
        "printing": "Printing. Please wait",
        "take_card": "Please take your card",
        "thank_you": "Thank you",
        "go_to_counter": "Please go to a counter",
        "card_blocked": "Your PIN is locked. Please go to a counter",
        "cancelled": "Cancelled. Please take your money and your card",
        "timeout": "Cancelled because time ran out",
        "office_lost": "Not available now. Please take your money and your card",
        "closed": "The kiosk is closed now. Please take your card",
        "timeout_warning": "Do you need more time?",
    },
}


@dataclass(frozen=True)
class RuntimeSettings:
    """Edge settings: office timeouts and retries, polling, the change-low probe."""

    office_timeout_s: float = 10.0
    issue_retries: int = 2  # with the same request id: the office never issues twice
    poll_interval_s: float = 0.1
    # Change counts as low when the hoppers cannot pay this: the most a 10,000-yen note can need.
    change_probe_yen: int = 9_990


class SystemClock:
    """The real clocks: monotonic for deadlines, wall time for journal stamps."""

    def monotonic_ms(self) -> int:
        """Milliseconds on the monotonic clock."""
        return time.monotonic_ns() // 1_000_000

    def wall_ms(self) -> int:
        """Milliseconds since the epoch."""
        return time.time_ns() // 1_000_000


def card_serial_of(certificate: bytes) -> str:
    """The card identity: the serialNumber attribute of the certificate's subject."""
    cert = x509.load_der_x509_certificate(certificate)
    attrs = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    if not attrs:
        raise ValueError("the card's certificate has no serialNumber in its subject")
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("ascii")


def _named(err: BaseException, name: str) -> bool:
    """True when ``err`` is (a subclass of) the driver exception called ``name``."""
    return any(cls.__name__ == name for cls in type(err).__mro__)


class KioskRuntime:
    """Drives the kiosk flow with real (or fake) devices; see the module docstring."""

    def __init__(
        self,
        *,
        config: flow.FlowConfig,
        journal: KioskJournal,
        cash: CashPort,
        reader: CardReaderPort,
        open_card: Callable[[ApduTransportPort], JpkiPort],
        office: OfficePort,
        printer: DocumentPrinterPort,
        renderer: CertificateRenderer,
        receipts: ReceiptPrinterPort,
        speaker: SpeakerPort | None = None,
        clock: Clock | None = None,
        settings: RuntimeSettings | None = None,
        phrases: Callable[[str, str], str | None] | None = None,
        boot_id: str | None = None,
        health: KioskHealth | None = None,
    ) -> None:
        self.config = config
        self.journal = journal
        self.cash = cash
        self.reader = reader
        self._open_card = open_card
        self.office = office
        self.receipts = receipts
        self.speaker = speaker
        self.clock: Clock = clock or SystemClock()
        self.settings = settings or RuntimeSettings()
        # What the device status says of the kiosk (kiosk.health): kept up to date here, read
        # by the device agent's thread.
        self.health = health or KioskHealth(wall_ms=self.clock.wall_ms)
        self._phrases = phrases or _default_phrase
        self._printer = BoundPrinter(printer, renderer, self.live_session)
        self._state = flow.initial_state(config, boot_id or secrets.token_hex(4))
        self._card: JpkiPort | None = None
        self._card_present = False
        self._office_online: bool | None = None
        self._in_hours = True  # until the office's configuration says otherwise
        self._inbox: deque[flow.Event] = deque()
        self._inbox_lock = threading.Lock()
        self._posted = 0  # events ever posted (under _inbox_lock)
        self._handled = 0  # of those, how many a finished cycle has taken and fed
        # Set by post() (and stop()): the loop starts its next cycle at once instead of at the
        # next poll, so a touch is handled without waiting for the devices' polling interval.
        self._wake = threading.Event()
        self._listeners: list[Listener] = []
        self._early: list[Listener] = []
        self._started = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._cycles = 0

    # -- public API ------------------------------------------------------------------------------

    @property
    def state(self) -> flow.Kiosk:
        """The current flow state (immutable; safe to read from any thread)."""
        return self._state

    @property
    def cycles(self) -> int:
        """How many :meth:`pump` cycles have completed (a poster can wait for its event's turn)."""
        return self._cycles

    @property
    def handled(self) -> int:
        """How many posted events a completed cycle has handled (see :meth:`post`)."""
        return self._handled

    def now_ms(self) -> int:
        """The monotonic time events are stamped with."""
        return self.clock.monotonic_ms()

    def subscribe(self, listener: Listener, *, early: bool = False) -> None:
        """Call ``listener(state, effects)`` after every transition (on the runtime's thread).

        ``early``: also before each effect that can take seconds (the card, the office, the
        printers, the hoppers), with the effects up to it; each effect reaches the listener
        once. A screen shows "please wait" and its voice says so before the wait, not after.
        """
        (self._early if early else self._listeners).append(listener)

    def post(self, event: flow.Event) -> int:
        """Queue an event (from the UI); handled by the next :meth:`pump`, which a running loop
        starts at once. Thread-safe. Returns the event's number: it (and everything posted
        before it) has been handled once :attr:`handled` reaches that number."""
        with self._inbox_lock:
            self._inbox.append(event)
            self._posted += 1
            number = self._posted
        self._wake.set()
        return number

    def start(self) -> None:
        """Make the devices safe, re-report, recover unfinished sessions. Call once."""
        if self._started:
            return
        self._started = True
        self._safe(self.cash.inhibit, "inhibit the cash")
        self._safe(self.reader.release, "power the card down")
        # A card left in the slot at boot belongs to nobody we serve: it must be taken out first.
        self._card_present = bool(self._safe(self.reader.card_present, "read the card slot"))
        records = self.journal.records()
        cursor = cash_cursor(records)
        if cursor:
            # Money the acceptors took after the last journalled event (a crash between the
            # coin and its record) is reported again by the next poll, credited and paid back.
            self._safe(partial(self.cash.resume, cursor), "resume the cash events")
        for record in records:
            if record["kind"] in REPORTED:
                self._report(record)
        self.health.count_refunds(records)
        self.health.read_hoppers()
        online = bool(self._safe(self.office.online, "read the office state"))
        self._office_online = online
        late = tuple(flow.Escrow(value, action) for value, action in unconfirmed_notes(records))
        self._state = flow.initial_state(self.config, self._state.boot_id, office_online=online, late_notes=late)
        unjournalled = {
            k: v for k, v in (self._safe(self.cash.cursor, "read the cash counters") or {}).items() if k not in cursor
        }
        if unjournalled:
            # A journal without an acceptor's counter (a new kiosk): record where it stands now,
            # before any money, so that the next start can resume after it.
            self._run(*flow.note_cash_cursor(self._state, unjournalled, self.now_ms()))
        self.feed(flow.ChangeStatus(low=self._change_low(), now_ms=self.now_ms()))
        try:
            sessions = recovered_sessions(records)
        except RecoveryError as err:
            log.error("kiosk journal cannot be recovered: %s", err)
            self.feed(flow.Fault(code="journal", now_ms=self.now_ms()))
            return
        if sessions:
            log.warning("settling %d unfinished kiosk session(s) from before the restart", len(sessions))
            self._run(*flow.begin_recovery(self._state, sessions, self.now_ms()))
        self._prune()

    def feed(self, event: flow.Event) -> None:
        """Apply one event now, run its effects, then the events they produced."""
        self._run(*flow.transition(self._state, event))

    def _run(self, state: flow.Kiosk, effects: tuple[flow.Effect, ...]) -> None:
        """Adopt a transition's result, run its effects, then feed what they produced, in order."""
        try:
            queue: deque[flow.Event] = deque(self._apply(state, effects))
            while queue:
                queue.extend(self._apply(*flow.transition(self._state, queue.popleft())))
        finally:
            # Once per chain of events, not per step of it: one status for a burst of changes.
            self.health.observe(self._state)
            self.health.announce()

    def pump(self) -> int:
        """One cycle: poll devices and office, tick, handle posted events; returns events handled."""
        if not self._started:
            self.start()
        events: list[flow.Event] = []
        events.extend(self._poll_office())
        events.extend(self._poll_card())
        with self._inbox_lock:
            events.extend(self._inbox)
            self._inbox.clear()
            taken = self._posted
        try:
            events.append(flow.Tick(now_ms=self.now_ms()))
            for event in events:
                self.feed(event)
            # Cash last and one event at a time: a note's change check reads the state it changed.
            cash_events = self._poll_cash()
            for cash_event in cash_events:
                self.feed(self._cash_event(cash_event))
        finally:
            # Taken is handled, even by a cycle that failed (logged by run): a poster waiting
            # for its event must not wait for one that will never come again.
            self._handled = taken
        self._cycles += 1
        return len(events) + len(cash_events)

    def run(self, stop: threading.Event | None = None) -> None:
        """Pump until ``stop`` is set (the kiosk process's main loop)."""
        stop = stop or self._stop
        self.start()
        while not stop.is_set():
            # Cleared before the cycle: an event posted during it starts the next one at once.
            self._wake.clear()
            try:
                self.pump()
            except Exception:
                # A device bug must not kill the loop that owes residents their money.
                log.exception("kiosk runtime cycle failed")
            if not stop.is_set():
                # A post wakes it (and stop()); another ``stop`` being set is seen within a poll.
                self._wake.wait(self.settings.poll_interval_s)

    def start_thread(self) -> threading.Thread:
        """Run :meth:`run` on a daemon thread (the app); :meth:`stop` ends it."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="kiosk-runtime", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread started by :meth:`start_thread`."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    # -- effects ---------------------------------------------------------------------------------

    def _apply(self, state: flow.Kiosk, effects: tuple[flow.Effect, ...]) -> list[flow.Event]:
        """Adopt ``state`` and run ``effects`` in order; returns the events they produced."""
        self._state = state
        produced: list[flow.Event] = []
        told = 0  # effects already handed to the early listeners
        for i, effect in enumerate(effects):
            if isinstance(effect, _SLOW) and self._early:
                self._tell(self._early, effects[told:i])
                told = i
            try:
                produced.extend(self._execute(effect))
            except JournalError as err:
                # Journal first: what follows it must not happen. Stop serving; keep the money safe.
                log.critical("kiosk journal write failed, going out of service: %s", err)
                self._notify(effects, effects[told:])
                fault_state, fault_effects = flow.transition(
                    self._state, flow.Fault(code="journal", now_ms=self.now_ms())
                )
                self._state = fault_state
                for fx in fault_effects:
                    if not isinstance(fx, flow.Journal):
                        self._safe(partial(self._execute, fx), f"run {type(fx).__name__}")
                self._notify(fault_effects, fault_effects)
                return []
        self._notify(effects, effects[told:])
        return produced

    def _notify(self, effects: tuple[flow.Effect, ...], untold: tuple[flow.Effect, ...]) -> None:
        """The end of a transition: early listeners get what they have not had yet, the rest all of it."""
        self._tell(self._early, untold)
        self._tell(self._listeners, effects)

    def _tell(self, listeners: list[Listener], effects: tuple[flow.Effect, ...]) -> None:
        for listener in list(listeners):
            try:
                listener(self._state, effects)
            except Exception:
                log.exception("kiosk state listener failed")

    def _execute(self, effect: flow.Effect) -> list[flow.Event]:
        match effect:
            case flow.Journal():
                record = self.journal.append(effect.entry, self.clock.wall_ms())
                if record["kind"] in REPORTED:
                    self._report(record)
                if record["kind"] == "refund_owed":
                    self.health.refund_owed(record["at"])
                return []
            case flow.Speak():
                return self._fx_speak(effect)
            case flow.WarnTimeout():
                return self._fx_warn(effect)
            case flow.Notice():
                return self._fx_notice(effect)
            case flow.ReadCard():
                return self._fx_read_card(effect)
            case flow.VerifyPin():
                return self._fx_verify_pin(effect)
            case flow.SignChallenge():
                return self._fx_sign(effect)
            case flow.ReturnCard():
                return self._fx_return_card(effect)
            case flow.RequestChallenge():
                return self._fx_challenge(effect)
            case flow.Authenticate():
                return self._fx_authenticate(effect)
            case flow.Issue():
                return self._fx_issue(effect)
            case flow.AcceptCash():
                return self._fx_accept(effect)
            case flow.Inhibit():
                return self._fx_inhibit(effect)
            case flow.StackNote():
                return self._fx_stack(effect)
            case flow.ReturnNote():
                return self._fx_return_note(effect)
            case flow.PayOut():
                return self._fx_pay_out(effect)
            case flow.PrintCertificate():
                return self._fx_print_certificate(effect)
            case flow.PrintReceipt():
                return self._fx_receipt(effect)
            case flow.PrintRefundSlip():
                return self._fx_refund_slip(effect)
        raise TypeError(f"no executor for effect {type(effect).__name__}")

    def _report(self, record: Mapping[str, Any]) -> None:
        try:
            self.office.report(record)
        except Exception:
            # The journal keeps it; it is sent again at the next start.
            log.exception("cash report %s not queued", record.get("key"))

    def _safe(self, call: Callable[[], Any], what: str) -> Any:
        try:
            return call()
        except Exception:
            log.exception("could not %s", what)
            return None

    def _say(self, key: str, language: str) -> None:
        if self.speaker is None:
            return
        text = self._phrases(key, language)
        if text:
            speaker = self.speaker
            self._safe(lambda: speaker.say(text, language), "speak")

    def _fx_speak(self, effect: flow.Speak) -> list[flow.Event]:
        self._say(effect.key, effect.language)
        return []

    def _fx_warn(self, effect: flow.WarnTimeout) -> list[flow.Event]:
        self._say("timeout_warning", effect.language)
        return []

    def _fx_notice(self, effect: flow.Notice) -> list[flow.Event]:
        self._say(effect.code, self._state.language)
        return []

    # card

    def _card_failed(self, err: Exception) -> list[flow.Event]:
        now = self.now_ms()
        present = self._safe(self.reader.card_present, "read the card slot")
        if _named(err, "CardRemoved") or present is False:
            self._card_present = False
            self._card = None
            return [flow.CardRemoved(now_ms=now)]
        log.warning("card command failed: %s", type(err).__name__)
        return [flow.CardUnreadable(now_ms=now)]

    def _fx_read_card(self, effect: flow.ReadCard) -> list[flow.Event]:
        try:
            card = self._open_card(self.reader.connect())
            card.select()
            tries = card.pin_tries_left()
        except Exception as err:  # noqa: BLE001 - any card failure ends the visit, never the loop
            if _named(err, "CardBlocked"):
                return [flow.CardReady(tries_left=0, now_ms=self.now_ms())]
            return self._card_failed(err)
        self._card = card
        return [flow.CardReady(tries_left=tries, now_ms=self.now_ms())]

    def _fx_verify_pin(self, effect: flow.VerifyPin) -> list[flow.Event]:
        if self._card is None:
            return [flow.CardUnreadable(now_ms=self.now_ms())]
        try:
            check = self._card.verify_pin(effect.pin)
        except Exception as err:  # noqa: BLE001 - any card failure ends the visit, never the loop
            if _named(err, "CardBlocked"):
                return [flow.PinResult(ok=False, tries_left=0, blocked=True, now_ms=self.now_ms())]
            return self._card_failed(err)
        return [flow.PinResult(ok=check.ok, tries_left=check.tries_left, blocked=check.blocked, now_ms=self.now_ms())]

    def _fx_sign(self, effect: flow.SignChallenge) -> list[flow.Event]:
        if self._card is None:
            return [flow.CardUnreadable(now_ms=self.now_ms())]
        try:
            certificate = self._card.read_certificate()
            serial = card_serial_of(certificate)
            signature = self._card.sign(effect.nonce)
        except ValueError:
            log.warning("card certificate has no usable serialNumber")
            return [flow.CardUnreadable(now_ms=self.now_ms())]
        except Exception as err:  # noqa: BLE001 - any card failure ends the visit, never the loop
            return self._card_failed(err)
        return [
            flow.ChallengeSigned(certificate=certificate, signature=signature, card_serial=serial, now_ms=self.now_ms())
        ]

    def _fx_return_card(self, effect: flow.ReturnCard) -> list[flow.Event]:
        self._card = None
        self._safe(self.reader.release, "release the card")
        return []

    def live_session(self) -> LiveSession | None:
        """The session printing right now, with the card identity read from the card again.

        None unless a session is at its print: a job can only be released into the visit
        that is printing, for the card in the reader at this moment.
        """
        state = self._state
        s = state.session
        if s is None or state.step is not flow.Step.PRINTING:
            return None
        serial: str | None = None
        if state.card == "held" and self._card is not None:
            try:
                serial = card_serial_of(self._card.read_certificate())
            except Exception:  # noqa: BLE001 - no identity means the binding refuses: the safe side
                log.warning("card could not be re-read before printing")
        return LiveSession(session_id=s.session_id, request_id=s.request_id, card_serial=serial)

    # office

    def _fx_challenge(self, effect: flow.RequestChallenge) -> list[flow.Event]:
        try:
            challenge = self.office.challenge(effect.request_id, self.settings.office_timeout_s)
        except OfficeUnavailable as err:
            log.warning("office challenge failed: %s", err)
            return [flow.OfficeLost(now_ms=self.now_ms())]
        return [
            flow.ChallengeReceived(challenge_id=challenge.challenge_id, nonce=challenge.nonce, now_ms=self.now_ms())
        ]

    def _fx_authenticate(self, effect: flow.Authenticate) -> list[flow.Event]:
        try:
            request = messages.AuthenticateRequest(
                request_id=effect.request_id,
                challenge_id=effect.challenge_id,
                certificate=effect.certificate,
                signature=effect.signature,
                kind=effect.kind,
                options=_wire_options(effect.kind, effect.options),
                copies=effect.copies,
            )
            reply = self.office.authenticate(request, self.settings.office_timeout_s)
        except OfficeUnavailable as err:
            log.warning("office authenticate failed: %s", err)
            return [flow.OfficeLost(now_ms=self.now_ms())]
        now = self.now_ms()
        if not reply.ok or reply.session_token is None or reply.fee is None:
            return [flow.AuthRefused(refusal=reply.refusal or "go_to_counter", now_ms=now)]
        return [
            flow.Authenticated(session_token=reply.session_token, fee=reply.fee, household=reply.household, now_ms=now)
        ]

    def _fx_issue(self, effect: flow.Issue) -> list[flow.Event]:
        request = messages.IssueRequest(
            request_id=effect.request_id,
            session_token=effect.session_token,
            kind=effect.kind,
            options=_wire_options(effect.kind, effect.options),
            copies=effect.copies,
            paid=effect.paid,
        )
        for attempt in range(1 + max(0, self.settings.issue_retries)):
            try:
                reply = self.office.issue(request, self.settings.office_timeout_s)
                break
            except OfficeUnavailable as err:
                # The same request id again: the office answers a retry with the same issuance.
                log.warning("office issue attempt %d failed: %s", attempt + 1, err)
        else:
            return [flow.OfficeLost(now_ms=self.now_ms())]
        now = self.now_ms()
        if reply.ok and reply.issue_number is not None and not safe_text(reply.issue_number):
            # It could not be journalled; better a refund now than a kiosk out of service.
            log.error("office sent an issue number the journal cannot hold; treated as a refusal")
            return [flow.IssueRefused(request_id=effect.request_id, refusal="protocol", now_ms=now)]
        if not reply.ok or reply.issue_number is None or reply.certificate is None or reply.fee is None:
            return [
                flow.IssueRefused(request_id=effect.request_id, refusal=reply.refusal or "go_to_counter", now_ms=now)
            ]
        try:
            # The content is read here, once, into its model: the print job and the renderer
            # work on attributes, and a content that cannot print is refunded before printing.
            content = parse_content(reply.certificate)
        except ContentError as err:
            # The key path only: the message quotes the value, which is resident data.
            log.error("office sent certificate content that does not fit at %r; treated as a refusal", err.path)
            return [flow.IssueRefused(request_id=effect.request_id, refusal="protocol", now_ms=now)]
        return [
            flow.Issued(
                request_id=effect.request_id,
                issue_number=reply.issue_number,
                fee=reply.fee,
                content=content,
                now_ms=now,
            )
        ]

    def _poll_office(self) -> list[flow.Event]:
        events: list[flow.Event] = []
        hours = self._safe(self.office.in_hours, "read the kiosk's hours")
        if hours is not None and bool(hours) != self._in_hours:
            self._in_hours = bool(hours)
            log.info("kiosk hours %s", "begin" if hours else "end: no new visit, cards are handed back")
            events.append(flow.HoursStatus(open=bool(hours), now_ms=self.now_ms()))
        online = self._safe(self.office.online, "read the office state")
        if online is not None and bool(online) != self._office_online:
            self._office_online = bool(online)
            events.append(flow.OfficeStatus(online=bool(online), now_ms=self.now_ms()))
        return events

    def _poll_card(self) -> list[flow.Event]:
        present = self._safe(self.reader.card_present, "read the card slot")
        if present is None or bool(present) == self._card_present:
            return []
        self._card_present = bool(present)
        if not present:
            self._card = None
        now = self.now_ms()
        return [flow.CardInserted(now_ms=now) if present else flow.CardRemoved(now_ms=now)]

    # cash

    def _change_low(self) -> bool:
        ok = self._safe(lambda: self.cash.can_pay(self.settings.change_probe_yen), "ask the hoppers")
        return ok is not True

    def _poll_cash(self) -> Sequence[object]:
        events = self._safe(self.cash.poll, "poll the cash box")
        return list(events or ())

    def _cash_event(self, raw: object) -> flow.Event:
        """Translate a drivers.cash event (by its class name and ``value``) into a flow event."""
        name = type(raw).__name__
        value = getattr(raw, "value", 0)
        counter = getattr(raw, "counter", None)
        if isinstance(counter, bool) or not isinstance(counter, int):
            counter = None
        now = self.now_ms()
        if name == "CoinAccepted":
            return flow.CoinAccepted(value=value, counter=counter, now_ms=now)
        if name == "NoteEscrowed":
            return flow.NoteEscrowed(value=value, change_ok=self._change_ok(value), counter=counter, now_ms=now)
        if name == "NoteStacked":
            return flow.NoteStacked(value=value, counter=counter, now_ms=now)
        if name == "NoteReturned":
            return flow.NoteReturned(value=value, counter=counter, now_ms=now)
        if name == "ChangePaid":
            pass  # pay_out's return value is what counts; this is the driver's trace of it
        elif name == "EventsLost":
            # Credits may be gone unseen: staff must compare the cash box with the journal.
            log.error("cash device %s lost %s event(s)", getattr(raw, "device", "?"), getattr(raw, "count", "?"))
        elif name == "CashFault":
            log.error(
                "cash device %s fault %s: %s",
                getattr(raw, "device", "?"),
                getattr(raw, "code", "?"),
                getattr(raw, "message", ""),
            )
        else:
            log.warning("unknown cash event %s ignored", name)
        return flow.Tick(now_ms=now)

    def _change_ok(self, value: int) -> bool:
        s = self._state.session
        if s is None or s.fee is None:
            return True
        change = s.paid + value - s.fee
        if change <= 0:
            return True
        return self._safe(lambda: self.cash.can_pay(change), "ask the hoppers") is True

    def _fx_accept(self, effect: flow.AcceptCash) -> list[flow.Event]:
        self._safe(partial(self.cash.accept, effect.max_note), "open the cash acceptors")
        return []

    def _fx_inhibit(self, effect: flow.Inhibit) -> list[flow.Event]:
        self._safe(self.cash.inhibit, "inhibit the cash")
        return []

    def _fx_stack(self, effect: flow.StackNote) -> list[flow.Event]:
        self._safe(self.cash.stack_note, "stack the note")
        return []

    def _fx_return_note(self, effect: flow.ReturnNote) -> list[flow.Event]:
        self._safe(self.cash.return_note, "return the note")
        return []

    def _fx_pay_out(self, effect: flow.PayOut) -> list[flow.Event]:
        try:
            paid = int(self.cash.pay_out(effect.amount))
        except Exception:
            # How much came out is unknown: the flow owes the rest on a slip, staff count.
            log.exception("payout of %d yen failed", effect.amount)
            paid = 0
        self.health.read_hoppers()
        now = self.now_ms()
        return [
            flow.PayoutDone(requested=effect.amount, paid=paid, now_ms=now),
            flow.ChangeStatus(low=self._change_low(), now_ms=now),
        ]

    # printers

    def _fx_print_certificate(self, effect: flow.PrintCertificate) -> list[flow.Event]:
        job = effect.job
        try:
            outcome = self._printer.print(job)
        except Exception:
            log.exception("certificate %s could not be rendered or printed", job.request_id)
            job.discard()
            return [flow.PrintDone(request_id=job.request_id, copies_printed=0, uncertain=True, now_ms=self.now_ms())]
        return [
            flow.PrintDone(
                request_id=job.request_id,
                copies_printed=outcome.copies_printed,
                uncertain=outcome.uncertain,
                now_ms=self.now_ms(),
            )
        ]

    def _fx_receipt(self, effect: flow.PrintReceipt) -> list[flow.Event]:
        self._safe(lambda: self.receipts.print_receipt(effect.receipt, effect.language), "print the receipt")
        return []

    def _fx_refund_slip(self, effect: flow.PrintRefundSlip) -> list[flow.Event]:
        self._safe(lambda: self.receipts.print_refund_slip(effect.slip, effect.language), "print the refund slip")
        return []

    def _prune(self) -> None:
        try:
            dropped = self.journal.prune()
        except JournalError:
            log.exception("kiosk journal not pruned")
            return
        if dropped:
            log.info("dropped %d closed kiosk journal segment(s)", dropped)


def _default_phrase(key: str, language: str) -> str | None:
    table = DEFAULT_PHRASES.get(language) or DEFAULT_PHRASES["en"]
    return table.get(key)


# Effects that can take seconds: early listeners hear of the state (and its voice) before them.
_SLOW: Final = (
    flow.ReadCard,
    flow.VerifyPin,
    flow.SignChallenge,
    flow.RequestChallenge,
    flow.Authenticate,
    flow.Issue,
    flow.PayOut,
    flow.PrintCertificate,
    flow.PrintReceipt,
    flow.PrintRefundSlip,
)
