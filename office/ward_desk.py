"""The centre's half of the ward's shared input centre: the desk its operators work from.

One MQTT connection to the central Mosquitto (``[ward] broker``; its ACL names the desk as one of
the centre's consumers: read every ``up``, write every ``down``). It keeps every sharing branch's
latest cases document and bridge state, and sends the operators' actions down, signed with the
centre office's own key (the branches pin it as ``[ward] centre_key``).

What it believes: a branch's cases and answers only under that branch's office key
(``[ward] branch_keys``); a document from a branch it has no key for is ignored and counted.
What it promises: nothing beyond what the branch answers. An action is resent with the same
request id until the branch answers (a resend gets the stored answer) or ``ANSWER_WAIT_S`` pass;
then the operator is told the branch did not answer - its link may be down, and the branch will
refuse the action as stale when it comes through later (office/ward_input.py).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter as Tally
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass

from office.ward_bridge import WARD_ROOT, bridge_state_topic, down_prefix, up_prefix
from sync import messages, protocol
from sync.errors import ProtocolError
from sync.link import Inbound, MqttLink
from sync.signing import OfficeSigner, OfficeVerifier, SignatureError

log = logging.getLogger(__name__)

ANSWER_WAIT_S = 15.0
# The desk's own answers, for the console to translate (office/console/strings.py REPLIES).
NO_ANSWER = "{branch} did not answer; its link to the centre may be down. Look at the case again when its list is back"
NOT_A_BRANCH = "{branch} is not a branch of this desk"
RESEND_S = 3.0
_WATCHED = ("ward_cases", "ward_reply", "office_config")
_BELOW_SITE = {name: protocol.TOPICS[name].pattern.removeprefix("{site}/") for name in _WATCHED}


@dataclass(frozen=True)
class Branch:
    """What the desk knows of one sharing branch."""

    site: str
    name: str  # the branch office's name, as its configuration says (its site id until heard)
    cases: messages.WardCases | None
    received_ms: int | None  # when its latest cases document came (the centre's clock)
    linked: bool | None  # its bridge: connected, gone, or not heard of


class WardDesk:
    """Every sharing branch's input cases, and the centre operators' actions on them."""

    def __init__(
        self,
        broker_url: str,
        signer: OfficeSigner,
        branch_keys: Mapping[str, str],
        *,
        client_id: str = "ward-desk",
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        on_change: Callable[[], None] | None = None,
        answer_wait_s: float = ANSWER_WAIT_S,
    ) -> None:
        self.signer = signer
        self.answer_wait_s = answer_wait_s
        self.wall_ms = wall_ms
        self.on_change = on_change
        self.stats: Tally[str] = Tally()
        self._keys = {site: OfficeVerifier.from_text(key) for site, key in branch_keys.items()}
        self._lock = threading.Lock()
        self._cases: dict[str, tuple[messages.WardCases, int]] = {}
        self._linked: dict[str, bool] = {}
        self._names: dict[str, str] = {}
        self._waiting: dict[str, Future[messages.WardReply]] = {}
        subscriptions = [
            *((f"{WARD_ROOT}/+/up/{_BELOW_SITE[name]}", 1) for name in _WATCHED),
            (f"{WARD_ROOT}/+/up/bridge/state", 1),
        ]
        self._link = MqttLink(broker_url, client_id, subscriptions=subscriptions, on_message=self._on_message)

    @property
    def sites(self) -> tuple[str, ...]:
        """The branches this desk serves (those it holds a key for)."""
        return tuple(sorted(self._keys))

    def start(self) -> None:
        """Connect in the background (retrying until stopped)."""
        self._link.start()

    def stop(self) -> None:
        """Disconnect; operators still waiting are told the desk stopped."""
        self._link.stop()
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        for request_id, future in waiting.items():
            future.set_result(_answer(request_id, NO_ANSWER, "-", None))

    def wait_ready(self, timeout: float) -> bool:
        """Block until connected and subscribed."""
        return self._link.wait_ready(timeout)

    def branches(self) -> list[Branch]:
        """Every served branch, by site."""
        with self._lock:
            return [
                Branch(
                    site,
                    self._names.get(site) or site,
                    self._cases[site][0] if site in self._cases else None,
                    self._cases[site][1] if site in self._cases else None,
                    self._linked.get(site),
                )
                for site in self.sites
            ]

    # -- acting -----------------------------------------------------------------------------------

    def act(self, site: str, case: messages.AnyWardCaseAction, operator: str) -> messages.WardReply:
        """Send one action and wait for the branch's answer (resent until answered or given up)."""
        if site not in self._keys:
            return _answer("-", NOT_A_BRANCH, site, None)
        request_id = f"ward-{uuid.uuid4().hex[:24]}"
        future: Future[messages.WardReply] = Future()
        with self._lock:
            self._waiting[request_id] = future
        # The branch judges the action's age by sent_ms: a resend keeps the first time, so a
        # resend cannot stretch an action's life past the branch's limit.
        action = messages.WardAction(request_id=request_id, operator=operator, sent_ms=self.wall_ms(), case=case)
        body = self.signer.seal("ward_action", site, None, protocol.encode(action))
        topic = down_prefix(site) + protocol.TOPICS["ward_action"].pattern.removeprefix("{site}/")
        deadline = time.monotonic() + self.answer_wait_s
        try:
            while True:
                self._link.publish(topic, body, qos=1)
                self.stats["actions_sent"] += 1
                try:
                    return future.result(timeout=max(0.0, min(RESEND_S, deadline - time.monotonic())))
                except TimeoutError:
                    if time.monotonic() >= deadline:
                        self.stats["actions_unanswered"] += 1
                        return _answer(request_id, NO_ANSWER, site, case.ticket_id)
        finally:
            with self._lock:
                self._waiting.pop(request_id, None)

    # -- receiving (paho's thread) ----------------------------------------------------------------

    def _on_message(self, message: Inbound) -> None:
        parts = message.topic.split("/")
        if len(parts) < 4 or parts[0] != WARD_ROOT or parts[2] != "up":
            return
        site = parts[1]
        if not protocol.valid_id(site):
            return
        if message.topic == bridge_state_topic(site):
            with self._lock:
                self._linked[site] = message.payload.strip() == b"1"
            self._changed()
            return
        verifier = self._keys.get(site)
        if verifier is None:
            self.stats["unknown_branch"] += 1
            return
        below = message.topic.removeprefix(up_prefix(site))
        name = next((n for n, pattern in _BELOW_SITE.items() if pattern == below), None)
        if name is None or not message.payload:
            return
        try:
            verifier.check(name, site, None, message.payload)
            doc = protocol.decode(name, message.payload)
        except SignatureError as err:
            self.stats["forged"] += 1
            log.warning("ward desk: %s from %s refused: %s", name, site, err)
            return
        except ProtocolError as err:
            self.stats["bad_payloads"] += 1
            log.warning("ward desk: a bad %s from %s: %s", name, site, err)
            return
        match doc:
            case messages.WardCases():
                with self._lock:
                    held = self._cases.get(site)
                    if held is not None and held[0].day == doc.day and held[0].version > doc.version:
                        return  # an older document overtaken by a newer one
                    self._cases[site] = (doc, self.wall_ms())
                self._changed()
            case messages.OfficeConfig():
                with self._lock:
                    self._names[site] = doc.office_name
                self._changed()
            case messages.WardReply():
                with self._lock:
                    future = self._waiting.get(doc.request_id)
                if future is not None and not future.done():
                    future.set_result(doc)

    def _changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change()
            except Exception:
                log.exception("ward desk: a change listener failed")


def _answer(request_id: str, template: str, site: str, ticket_id: str | None) -> messages.WardReply:
    """A refusal the desk gives itself (the branch was not reached)."""
    return messages.WardReply(
        request_id=request_id,
        ok=False,
        message=template.format(branch=site),
        ticket_id=ticket_id,
        template=template,
        params={"branch": site},
    )
