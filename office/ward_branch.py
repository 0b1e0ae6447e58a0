"""A branch office's side of the ward (docs/ward.md): its ticket log up to the centre, resent
from the centre's last acknowledgement until the next one, and the shared input centre - its
input cases up, the centre's signed case actions carried out by the branch's own desk.

The office loop owns the store and the broker link; this holds the ward's bookkeeping and asks
the loop's door (office/staff_door.py) to carry out what the centre asks, so a centre operator's
action is audited, logged and answered exactly as a local one.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter as Tally
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from office import ward_input
from office.db import OfficeDB
from office.domain import Stamp, Ticket
from office.staff import Reply
from office.staff_door import StaffDoor
from sync import messages, protocol, signing
from sync.site import SiteConfig

log = logging.getLogger(__name__)

ACKED_KEY = "ward:log_acked"
SEND_S = 0.5  # how often new ticket log rows go up to the centre
RESEND_S = 10.0  # sent rows without an ack for this long are sent again from the last ack
BATCHES_PER_TURN = 10  # 2,000 rows a turn at most: a branch catching up leaves the loop its turns


class WardBranch:
    """The ward's bookkeeping of one branch office, driven by its loop."""

    def __init__(
        self,
        config: SiteConfig,
        db: OfficeDB,
        door: StaffDoor,
        *,
        wall_ms: Callable[[], int],
        publish: Callable[[messages.Payload], None],
        suspect: Callable[[str, str, str, dict[str, Any]], None],
        activity: Callable[[str], None],
        stats: Tally[str],
    ) -> None:
        self.config = config
        self.db = db
        self.door = door
        self.wall_ms = wall_ms
        self.publish = publish
        self.suspect = suspect
        self.activity = activity
        self.stats = stats
        # What the centre says counts only under the key this branch pinned (centre_key): its case
        # actions (taken at all only with share_input) and its acknowledgements of the log.
        ward = config.ward
        self.centre = signing.OfficeVerifier.from_text(ward.centre_key) if ward.centre_key else None
        self.takes_actions = ward.share_input
        # The ticket log acknowledged by the centre, sent, and when it last moved.
        self._acked = db.meta_int(ACKED_KEY)
        self._sent = self._acked
        self._progress = time.monotonic()
        self._last_send = 0.0

    def cases(
        self, active: Sequence[Ticket], stamps: dict[str, list[Stamp]], *, version: int, now_ms: int, today: str
    ) -> messages.WardCases:
        """The input station's cases as the centre's desk lists them."""
        return ward_input.cases_document(
            self.config.console.input_station, active, stamps, version=version, now_ms=now_ms, today=today
        )

    def action(self, raw: bytes) -> None:
        """A centre operator's action on one of this branch's input cases (office/ward_input.py)."""
        if self.centre is None or not self.takes_actions:
            return
        now = self.wall_ms()
        try:
            doc, action, actor = ward_input.accept(raw, self.centre, self.config.site, now)
        except signing.SignatureError as err:
            # Not the centre's: nothing is done and nothing answered; staff see it as an alert.
            self.stats["ward_forged"] += 1
            self.suspect("ward-centre", "signature", hashlib.sha256(raw).hexdigest()[:16], {"problem": str(err)})
            return
        except ward_input.Refused as err:
            self.stats["ward_refused"] += 1
            request = err.request
            assert request is not None  # accept() refuses only what it decoded
            self.publish(
                messages.WardReply(
                    request_id=request.request_id,
                    ok=False,
                    message=str(err)[:500],
                    template=err.template,
                    params=err.params,
                )
            )
            self.activity(f"ward centre {request.operator}: {err}")
            return
        answered: Future[Reply] = Future()
        if self.db.staff_reply(doc.request_id) is None:
            try:
                ward_input.at_input(self.db.ticket(action.ticket_id), self.config.console.input_station)
            except ward_input.Refused as err:
                answered.set_result(Reply(err.template, err.params, action.ticket_id, ok=False))
        if not answered.done():
            self.door.action(action, actor, answered)  # the desk's rules, audit and stored answer
        reply = answered.result()
        params = {k: v if isinstance(v, int) else str(v) for k, v in reply.params.items()}
        self.publish(
            messages.WardReply(
                request_id=doc.request_id,
                ok=reply.ok,
                message=str(reply)[:500],
                ticket_id=reply.ticket_id,
                template=reply.template[:300],
                params=dict(list(params.items())[:8]),
            )
        )

    # -- the ticket log up to the centre ----------------------------------------------------------

    def ack(self, raw: bytes) -> None:
        """The centre's acknowledgement of the log, signed by it when this branch pinned its key:
        a forged one would make the branch stop resending rows the centre lacks."""
        if self.centre is not None:
            try:
                self.centre.check("ticket_log_ack", self.config.site, None, raw)
            except signing.SignatureError as err:
                self.stats["ward_forged"] += 1
                self.suspect("ward-centre", "signature", hashlib.sha256(raw).hexdigest()[:16], {"problem": str(err)})
                return
        self.log_acked(protocol.decode("ticket_log_ack", raw).upto)

    def log_acked(self, upto: int) -> None:
        """The centre holds the log up to ``upto``: send on from there (never back past it)."""
        if upto <= self._acked:
            return
        # An ack beyond what this office ever wrote is not the centre's to give: kept aside.
        if upto > self.db.last_log_id():
            self.stats["ward_bad_acks"] += 1
            log.warning("ward: an ack up to %d, beyond this office's log; ignored", upto)
            return
        with self.db.transaction():
            self.db.set_meta_int(ACKED_KEY, upto)
        self._acked = upto
        self._sent = max(self._sent, upto)
        self._progress = time.monotonic()

    def send_log(self, now: float) -> None:
        """Send the rows after the last one sent; with no ack for a while, again from the last ack."""
        if now - self._last_send < SEND_S:
            return
        self._last_send = now
        if self._sent > self._acked and now - self._progress > RESEND_S:
            self.stats["ward_log_resends"] += 1
            self._sent = self._acked  # the centre missed some: from its last ack again
            self._progress = now
        for _ in range(BATCHES_PER_TURN):
            rows = self.db.log_after(self._sent, messages.MAX_LOG_ROWS_PER_MESSAGE)
            if not rows:
                return
            upto = rows[-1][0]
            batch = messages.TicketLogBatch(
                after=self._sent,
                upto=upto,
                rows=tuple(
                    messages.TicketLogRow(
                        id=i,
                        at=r.at_ms,
                        ticket_id=r.ticket_id,
                        day=r.day,
                        kind=r.kind.value,
                        category=r.category,
                        station=r.station,
                        counter=r.counter,
                        username=r.username,
                        device=r.device,
                        detail=r.detail,
                    )
                    for i, r in rows
                ),
            )
            if self._sent == self._acked:
                self._progress = now  # the ack clock starts with the first row past the ack
            self.publish(batch)
            self._sent = upto
