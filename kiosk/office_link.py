"""The kiosk's office port over MQTT: requests on ``device/<id>/request``, answers on
``office/reply/<id>`` (docs/protocol.md), through the device agent's connection.

A request waits for its answer up to the caller's timeout and is sent again every
:data:`RESEND_S` meanwhile: the office answers a repeated ``issue`` with the same issuance (it is
idempotent by request id), a repeated ``challenge`` with a fresh nonce (the first answer wins,
the rest are ignored). No answer in time raises :class:`~kiosk.ports.OfficeUnavailable`, and the
kiosk refunds.

Cash reports and voids go through the agent's outbox (journalled, resent until the office acks
them), never as requests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from common.validation import Invalid, convert
from kiosk.hours import closed_now  # the same rule the start screen shows (kiosk.presenter)
from kiosk.ports import AuthReply, Challenge, IssueReply, Member, OfficeUnavailable
from sync import messages
from sync.agent import DeviceAgent

log = logging.getLogger(__name__)


def journal_event(record: Mapping[str, Any]) -> messages.KioskJournal:
    """A reported journal record as the office's ``kiosk.journal`` model: key, kind and session,
    then the record's data; :class:`Invalid` names the field that does not fit."""
    data = record.get("data")
    flat = {"key": record.get("key"), "kind": record.get("kind"), "session": record.get("session")}
    return convert({**flat, **(data if isinstance(data, Mapping) else {})}, messages.KioskJournal)


def _amount(entry: messages.KioskJournal, amount: int | None) -> int:
    if amount is None:
        raise Invalid(("amount",), f"required: the {entry.kind} record {entry.key} names no amount of yen")
    return amount


RESEND_S = 2.0


class AgentOffice:
    """:class:`kiosk.ports.OfficePort` on a :class:`~sync.agent.DeviceAgent` of role ``kiosk``."""

    def __init__(self, agent: DeviceAgent) -> None:
        self.agent = agent
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[threading.Event, list[messages.AnyKioskReply]]] = {}
        agent.on_reply = self._on_reply

    def online(self) -> bool:
        """The office's online state as the agent last heard it."""
        return self.agent.office_online

    def in_hours(self) -> bool | None:
        """Within the kiosk's hours of the office's configuration (None: none received yet).

        The configuration is retained on the broker and kept by the agent, so the kiosk knows
        its hours (and closes on time) while the office is away.
        """
        doc = self.agent.document("office_config")
        if doc is None:
            return None
        return not closed_now(doc, int(time.time() * 1000))

    def challenge(self, request_id: str, timeout_s: float) -> Challenge:
        """A one-time nonce for the card to sign."""
        reply = self._ask(messages.ChallengeRequest(request_id=request_id), timeout_s)
        if not isinstance(reply, messages.ChallengeReply) or not reply.ok:
            raise OfficeUnavailable(f"the office refused a challenge ({reply.refusal})")
        return Challenge(reply.challenge_id, reply.nonce, reply.expires_ms)

    def authenticate(self, request: messages.AuthenticateRequest, timeout_s: float) -> AuthReply:
        """The card's answer and the request; the office's session and fee, or a refusal."""
        reply = self._ask(request, timeout_s)
        if not isinstance(reply, messages.AuthenticateReply) or not reply.ok:
            return AuthReply(ok=False, refusal=reply.refusal or "go_to_counter")
        household = tuple(Member(m.id, m.name) for m in reply.household)
        return AuthReply(ok=True, session_token=reply.session_token, fee=reply.fee, household=household)

    def issue(self, request: messages.IssueRequest, timeout_s: float) -> IssueReply:
        """Issue the paid certificate (idempotent by ``request_id`` at the office)."""
        reply = self._ask(request, timeout_s)
        if not isinstance(reply, messages.IssueReply) or not reply.ok:
            return IssueReply(ok=False, refusal=reply.refusal or "go_to_counter")
        return IssueReply(ok=True, issue_number=reply.issue_number, fee=reply.fee, certificate=reply.certificate)

    def report(self, record: Mapping[str, Any]) -> None:
        """A journal record the office must know, durably through the outbox.

        The runtime reports every reportable record again at each start, so the office
        de-duplicates on the record's ``key``. Money outcomes become ``kiosk.cash`` (what the
        daily reconciliation counts), a certificate that did not print ``kiosk.issue_void``,
        every other record goes as ``kiosk.journal`` (:class:`messages.KioskJournal`) for the
        office's audit trail. :class:`Invalid` names a field that does not fit (the runtime logs
        it; the journal keeps the record).
        """
        entry = journal_event(record)
        at = int(record["at"])
        cash: messages.KioskCash | None = None
        if entry.kind in ("fee_kept", "refund_owed"):
            cash = messages.KioskCash(
                event_id=entry.key,
                at_ms=at,
                kind=entry.kind,
                amount=_amount(entry, entry.amount),
                request_id=entry.request_id if entry.kind == "fee_kept" else None,
            )
        elif entry.kind == "payout_done" and entry.reason == "refund" and (entry.paid or 0) > 0:
            cash = messages.KioskCash(
                event_id=entry.key, at_ms=at, kind="refund_paid", amount=_amount(entry, entry.paid), request_id=None
            )
        if cash is not None:
            self.agent.record(cash)
        elif entry.kind == "issue_void":
            if entry.request_id is None:
                raise Invalid(("request_id",), f"required: the {entry.key} record names no request")
            self.agent.record(
                messages.KioskIssueVoid(
                    key=entry.key, request_id=entry.request_id, reason=entry.reason or "not_printed"
                )
            )
        else:
            self.agent.record(entry)

    # -- request/reply ----------------------------------------------------------------------------

    def _ask(self, body: messages.AnyKioskRequest, timeout_s: float) -> messages.AnyKioskReply:
        request_id = body.request_id
        op = type(body).__name__
        done = threading.Event()
        box: list[messages.AnyKioskReply] = []
        with self._lock:
            self._waiting[request_id] = (done, box)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                if not self.agent.office_online:
                    raise OfficeUnavailable("the office is offline")
                if not self.agent.request(body):
                    log.info("kiosk request %s: not connected, trying again", op)
                left = deadline - time.monotonic()
                if done.wait(max(0.0, min(RESEND_S, left))):
                    return box[0]
                if time.monotonic() >= deadline:
                    raise OfficeUnavailable(f"no answer to {op} within {timeout_s:g} s")
        finally:
            with self._lock:
                self._waiting.pop(request_id, None)

    def _on_reply(self, doc: messages.AnyKioskReply) -> None:
        with self._lock:
            waiter = self._waiting.get(doc.request_id)
        if waiter is None:
            return  # an answer to a resend already answered, or to a request given up on
        done, box = waiter
        if not box:
            box.append(doc)
            done.set()
