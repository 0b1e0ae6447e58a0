"""A year unattended: 365 business days through the rollover at accelerated time (bench/year.py:
the office, a dispenser and a board on a real Mosquitto, one clock for all three), and what
that leaves on their disks.

After the retention window the disks stop growing: the dispenser keeps its ticket logs for the
site's ``[retention] device_days``, its outbox only what the office has not acknowledged, the
board only the office's current documents, the office its raw events, calls, leases and staff
replies for ``event_days``. The tickets themselves stay at the office (the statistics are made
from them): every one issued, once.
"""

from __future__ import annotations

from pathlib import Path

from bench.year import run_year

DEVICE_DAYS = 14
EVENT_DAYS = 30
PER_DAY = 6


def test_a_year_of_business_days_leaves_the_disks_flat_after_the_retention_window(mosquitto, tmp_path: Path) -> None:
    year = run_year(tmp_path, mosquitto.url, days=365, per_day=PER_DAY, device_days=DEVICE_DAYS, event_days=EVENT_DAYS)
    days = year.days
    assert len(days) == 365 and year.issued == 365 * PER_DAY
    last = days[-1]
    # Every ticket issued is at the office, once (the statistics keep them all).
    assert last.office_tickets == year.issued
    # The dispenser keeps DEVICE_DAYS calendar days of ticket logs: at most ten business days
    # and the one in progress.
    assert max(d.ticket_logs for d in days) <= DEVICE_DAYS * 5 // 7 + 1
    assert days[40].ticket_logs == last.ticket_logs
    # Steady state is reached within the first half (the office prunes once a business day from
    # the first: the retention window is full about 25 business days in); the rest of the year
    # stays there.
    settled = days[150:210]
    for name in ("office_events", "office_leases"):
        ceiling = max(getattr(d, name) for d in settled)
        late = max(getattr(d, name) for d in days[210:])
        assert late <= ceiling * 1.25, (name, ceiling, late)
    # The disks by their average over sixty days: one day's sample may catch a log segment that
    # has just been written and not yet compacted (seen once, on a loaded machine: the board's
    # 23 kB read 34.5 kB on one late day); growth with the days gone by moves the average.
    for name in ("dispenser_disk", "board_disk"):
        settled_mean = sum(getattr(d, name) for d in settled) / len(settled)
        late_mean = sum(getattr(d, name) for d in days[-60:]) / 60
        assert late_mean <= settled_mean * 1.25 + 4096, (name, settled_mean, late_mean)
    # ... and the office's raw events and calls cover about EVENT_DAYS days, not the year (how
    # many calls the simulated staff make a day depends on the office loop's timing: at most a
    # call to start and one to collect per ticket).
    window = EVENT_DAYS * 5 // 7 + 2  # business days
    assert (window - 3) * PER_DAY <= last.office_events <= window * PER_DAY, last.office_events
    assert 0 < last.office_calls <= window * PER_DAY * 2, last.office_calls
    # What the devices wrote grows with the tickets, not with the days gone by: the last
    # quarter's tickets cost what the second quarter's did.
    q2 = days[182].dispenser_written - days[91].dispenser_written
    q4 = last.dispenser_written - days[273].dispenser_written
    assert q4 <= q2 * 1.3, (q2, q4)
