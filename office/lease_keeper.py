"""Keeping each dispenser's offline reserve of ticket numbers (DESIGN.md decision 8).

:class:`LeaseKeeper` tops a dispenser's unused numbers per series and business day up to its
target whenever fewer than half remain, counting usage from the ticket events the office has and
from the dispenser's own marks (its status says how far it got, events may still be on their
way). It grants inside the caller's transaction and publishes nothing: a lease published before
its commit could be granted again to another dispenser after a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from office import leasing
from office.db import OfficeDB
from sync import messages
from sync.leases import SeriesRange
from sync.site import SiteConfig

log = logging.getLogger(__name__)


@dataclass
class LeaseKeeper:
    """Number leases of one site's dispensers."""

    config: SiteConfig
    db: OfficeDB
    # (device, series, day) -> the last number the dispenser says it took (from its status)
    marks: dict[tuple[str, str, str], int] = field(default_factory=dict)
    exhausted: int = 0  # top-ups a series had no numbers left for
    _warned: set[tuple[str, str, str]] = field(default_factory=set)

    def note_marks(self, device: str, marks: Sequence[messages.NumberMark]) -> list[messages.NumberMark]:
        """Remember how far a dispenser got per series and day (only ever forward); the marks
        refused, because their number lies in no block leased to this device for that day (a
        dispenser cannot have used it: believing it would lease out the rest of the series)."""
        refused = []
        for mark in marks:
            if not self.db.holds_lease(device, mark.series, mark.day, mark.last):
                refused.append(mark)
                continue
            key = (device, mark.series, mark.day)
            self.marks[key] = max(mark.last, self.marks.get(key, 0))
        return refused

    def grant(self, device: str, days: Sequence[str], now_ms: int) -> bool:
        """Top ``device``'s leases up for ``days``; True when blocks were granted."""
        cfg = self.config
        targets = leasing.reserve_targets(cfg.series_shares(), cfg.dispenser_reserve, cfg.reserve_floor)
        changed = False
        for day in days:
            for series, (first, last) in cfg.series_ranges().items():
                target = targets.get(series, cfg.reserve_floor)
                blocks = [b for _, b in self.db.leases(series=series, day=day, device=device)]
                held = sum(b.size for b in blocks)
                # Usage as the office's tickets show it, or as the dispenser's own mark does when
                # that is further along (events still on their way, a dispenser restarting often).
                mark = self.marks.get((device, series, day))
                by_mark = sum(max(0, min(b.last, mark) - b.first + 1) for b in blocks) if mark else 0
                remaining = held - max(self.db.used_by_device(device, series, day), by_mark)
                if remaining * 2 >= target:
                    continue  # above the low-water mark
                want = max(target - remaining, cfg.lease_block_min)
                rng = SeriesRange(series, first, last)
                while want > 0:
                    taken = [b for _, b in self.db.leases(series=series, day=day)]
                    block = leasing.grant(rng, day, taken, want)
                    if block is None:
                        self.exhausted += 1
                        if (series, day, device) not in self._warned:  # once, not every batch
                            self._warned.add((series, day, device))
                            log.warning(
                                "series %s of %s has no numbers left to lease to %s: widen its range"
                                " or lower dispenser_reserve",
                                series,
                                day,
                                device,
                            )
                        break
                    self.db.add_lease(device, block, now_ms)
                    want -= block.size
                    changed = True
            changed = self._cap_shares(device, day) or changed
        return changed

    def _cap_shares(self, device: str, day: str) -> bool:
        """Top ``device``'s shares of the capped purposes' daily caps up (office.leasing.cap_share).

        The even part is of the dispensers the office knows: one that joins in the middle of a
        day gets what the others' shares left free, more as their shares are used."""
        capped = [(cat.code, cat.daily_cap) for cat in self.config.categories if cat.daily_cap is not None]
        if not capped:
            return False  # the usual site: nothing to ask the store after every batch of tickets
        dispensers = max(1, len(self.db.devices("dispenser")))
        changed = False
        for code, cap in capped:
            own = self.db.issued_by_device(day, code)
            shares = self.db.cap_shares(day, code)
            held = {d: (upto, own.get(d, 0)) for d, upto in shares.items()}
            held.setdefault(device, (0, own.get(device, 0)))
            upto = leasing.cap_share(cap, sum(own.values()), held, device, dispensers)
            if upto is None and device in shares:
                continue
            # Every dispenser gets a share of every capped purpose, if only of nothing more:
            # a lease without one (an office from before shares) leaves the dispenser unbounded.
            self.db.set_cap_share(device, day, code, upto if upto is not None else held[device][1])
            changed = True
        return changed
