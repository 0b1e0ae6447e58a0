"""Simulated staff for the demo: counters call the next resident, the back office moves each
ticket one station further every so often, and finished tickets are called to a counter.

The plan is pure (time and randomness are arguments); the server carries the commands out
through the same path a clerk's commands take.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from office.commands import Advance, CallNext, Command, Done
from office.domain import Status, Ticket
from sync.site import SiteConfig


@dataclass
class SimStaff:
    """Works the queue at ``pace_ms`` per step, with some jitter so trains do not move in step."""

    pace_ms: int
    rng: random.Random = field(default_factory=random.Random)
    _due: dict[str, int] = field(default_factory=dict)

    def plan(
        self, now_ms: int, active: Sequence[Ticket], config: SiteConfig, people: Collection[int] = frozenset()
    ) -> list[Command]:
        """The commands to carry out now, given the day's active tickets.

        ``people`` are the counters a person signed in to on the console: the simulation calls
        no one to them and leaves their cases alone, as it leaves any case a person holds.
        """
        out: list[Command] = []
        busy = {t.counter for t in active if t.status is Status.CALLED}
        for t in active:
            if t.status not in (Status.CALLED, Status.IN_PROGRESS):
                continue
            if t.holder is not None or (t.station_index == 0 and t.counter in people):
                continue
            due = self._due.setdefault(t.ticket_id, now_ms + self._step())
            if now_ms < due:
                continue
            del self._due[t.ticket_id]
            following = t.station_index + 1
            if following >= len(t.route) - 1:
                out.append(Done(f"{t.series}-{t.number}"))
            else:
                out.append(Advance(f"{t.series}-{t.number}", t.route[following]))
            busy.discard(t.counter)  # reception handed it on: the counter is free again
        waiting = any(t.status is Status.WAITING for t in active)
        if waiting:
            for counter in config.counters:
                if counter.number not in busy and counter.number not in people:
                    out.append(CallNext(counter.number))
        return out

    def _step(self) -> int:
        return int(self.pace_ms * self.rng.uniform(0.6, 1.4))
