"""A plausible year of the demo town's window, written as the ticket log would have written it (pure).

Arrivals are a non-homogeneous Poisson process per purpose: a normal day's volume split by the
purposes' ``share``, shaped by the weekday (Mondays busier), the days the office was closed
before (the first open day after a holiday busier), the time of year (the moving season, late
March to early April, at about 4.5× a normal day for "moving" at its peak around the turn of
the month; the resident tax return season; Obon; the days before the year-end closure) and the
hour (busiest 10-11, a lunchtime dip). DOMAIN.md's figures set the scale: Matsusaka's ~1,000
visitors a day, Ayase's doubling after holidays. Numbers run from each series' ``first`` every
day; when a series reaches its ``last`` (or ``daily_cap``) the dispensers issue no more of it that
day, which the demo's 999-number ranges make happen on the moving season's peak days.

Service is a small queue simulation. Each configured counter is a bank of clerks' positions
serving its purposes; a resident is called to the earliest free position of a counter that
serves the purpose, in issue order. Back-office stations (input centre, review, issuing) are
pools of staff working cases in the order they arrive. Staff are sized from the expected load
(the office plans for Mondays), but in the moving season help is capped, so waits grow long.
A few residents do not come when called (some come back later), about 1 % are transferred to
another purpose, a few tickets are voided, some cases are held while the resident fetches a
document. Every day has its own random stream drawn from the seed and the date, so a day
comes out the same whatever range it is generated in.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from common.calendar import NEW_YEAR_HOLIDAYS
from office.domain import Status, Ticket, ticket_id
from office.ticket_log import Kind, LogRow
from sync.site import SiteConfig

# Japan's national holidays (国民の祝日, substitute holidays 振替休日 and the citizens' holiday
# 国民の休日) as the Cabinet Office announced them for 2025 and 2026. They move from year to
# year (equinoxes, Happy Monday days), so they are data; extend the list for later years.
JAPANESE_HOLIDAYS: frozenset[date] = frozenset(
    date.fromisoformat(d)
    for d in (
        # 2025
        "2025-01-01",  # 元日
        "2025-01-13",  # 成人の日
        "2025-02-11",  # 建国記念の日
        "2025-02-23",  # 天皇誕生日 (a Sunday)
        "2025-02-24",  # 振替休日
        "2025-03-20",  # 春分の日
        "2025-04-29",  # 昭和の日
        "2025-05-03",  # 憲法記念日
        "2025-05-04",  # みどりの日
        "2025-05-05",  # こどもの日
        "2025-05-06",  # 振替休日
        "2025-07-21",  # 海の日
        "2025-08-11",  # 山の日
        "2025-09-15",  # 敬老の日
        "2025-09-23",  # 秋分の日
        "2025-10-13",  # スポーツの日
        "2025-11-03",  # 文化の日
        "2025-11-23",  # 勤労感謝の日 (a Sunday)
        "2025-11-24",  # 振替休日
        # 2026
        "2026-01-01",  # 元日
        "2026-01-12",  # 成人の日
        "2026-02-11",  # 建国記念の日
        "2026-02-23",  # 天皇誕生日
        "2026-03-20",  # 春分の日
        "2026-04-29",  # 昭和の日
        "2026-05-03",  # 憲法記念日 (a Sunday)
        "2026-05-04",  # みどりの日
        "2026-05-05",  # こどもの日
        "2026-05-06",  # 振替休日
        "2026-07-20",  # 海の日
        "2026-08-11",  # 山の日
        "2026-09-21",  # 敬老の日
        "2026-09-22",  # 国民の休日 (between two holidays)
        "2026-09-23",  # 秋分の日
        "2026-10-12",  # スポーツの日
        "2026-11-03",  # 文化の日
        "2026-11-23",  # 勤労感謝の日
    )
)

OPEN = time(8, 30)
CLOSE = time(17, 15)

# Tickets on a normal day (a Tuesday outside any season) at scale 1.0: Matsusaka's ~1,000 a
# day, set so that a calendar year (2025: 241 open days, one moving season, the after-holiday
# days) comes to about 250,000 tickets, the bench's target.
NORMAL_DAY = 945.0
TARGET_YEAR_TICKETS = 250_000

WEEKDAY_FACTOR = (1.2, 1.0, 0.92, 0.95, 1.05)  # Monday .. Friday
# By the days closed just before, beyond the usual weekend: Ayase's 325 a day on average and
# 671 after holidays is about twice, after the longest closures.
AFTER_CLOSURE_FACTOR = (1.0, 1.25, 1.35, 1.45, 1.55, 1.7)

# Arrivals per hour relative to the day's mean hour; the first entry is 08:30-09:00 (half an
# hour), the last 17:00-17:15 (a quarter).
HOUR_WEIGHT: Mapping[int, float] = {
    8: 0.9,
    9: 1.2,
    10: 1.5,
    11: 1.3,
    12: 0.75,
    13: 1.0,
    14: 1.05,
    15: 0.9,
    16: 0.6,
    17: 0.5,
}

# The moving season: a bump around 1 April, σ days wide, cut at its ends; each purpose's factor
# at the peak (people moving also need certificates, nursery places and their card updated).
SEASON_PEAK_DAY = (4, 1)
SEASON_SIGMA_DAYS = 6.0
SEASON_SPAN_DAYS = (-12, 9)  # 20 March .. 10 April
SEASON_PEAK: Mapping[str, float] = {
    "moving": 4.5,
    "childcare": 1.8,
    "my_number": 1.6,
    "certificates": 1.4,
    "family_register": 1.3,
}
TAX_SEASON = ((2, 16), (3, 15))  # 確定申告: the resident tax return, for the "tax" purpose
TAX_SEASON_FACTOR = 2.2
OBON = ((8, 13), (8, 16))
OBON_FACTOR = 0.8
YEAR_END = ((12, 22), (12, 28))
YEAR_END_FACTOR = 1.2

# Minutes at the counter (reception: forms checked, scanned, fees) per purpose.
RECEPTION_MINUTES: Mapping[str, float] = {
    "moving": 15.0,
    "certificates": 4.0,
    "family_register": 8.0,
    "birth": 15.0,
    "marriage": 15.0,
    "death": 25.0,
    "childcare": 12.0,
    "tax": 8.0,
    "my_number": 10.0,
}
DEFAULT_RECEPTION_MINUTES = 8.0
# Minutes of work at a back-office station, per station, and per purpose where it differs.
STATION_MINUTES: Mapping[str, float] = {"input": 10.0, "review": 6.0, "issuing": 3.0}
STATION_PURPOSE_MINUTES: Mapping[tuple[str, str], float] = {
    ("input", "death"): 15.0,
    ("review", "death"): 8.0,
    ("review", "childcare"): 8.0,
}
DEFAULT_STATION_MINUTES = 5.0
INPUT_SEASON_FACTOR = 1.3  # at the peak: the input centre's cases are longer (foreign residents, several moves)

UTILISATION = 0.8  # the load the office staffs for
# In a busy season other sections lend clerks, up to this many times the usual; the input
# centre takes temporary staff and remote offices' help (Setagaya), so it can grow more.
SEASON_HELP_CAP = 2.0
BACK_OFFICE_HELP_CAP = 3.0

P_VOID = 0.003
P_ABSENT = 0.03
P_ABSENT_RETURNS = 0.5
P_TRANSFER = 0.01
P_HOLD = 0.02
DISPENSERS = ("dispenser-1", "dispenser-2")

_MIN = 60_000
_SLOT_MIN = 15
_SERVICE_SHAPE = 2.0  # gamma shape of service times: a coefficient of variation of 0.7


def is_closed(day: date, holidays: Collection[date] = JAPANESE_HOLIDAYS) -> bool:
    """Whether the window is closed: weekends, 29 Dec - 3 Jan and the national holidays."""
    return day.weekday() >= 5 or (day.month, day.day) in NEW_YEAR_HOLIDAYS or day in holidays


def closed_before(day: date, holidays: Collection[date] = JAPANESE_HOLIDAYS) -> int:
    """Closed days just before ``day`` beyond the usual weekend (a Monday's Saturday and Sunday)."""
    run = 0
    d = day - timedelta(days=1)
    while is_closed(d, holidays) and run < 30:
        run += 1
        d -= timedelta(days=1)
    return run - 2 if day.weekday() == 0 else run


def season_bump(day: date) -> float:
    """The moving season's shape: 1 at its peak around 1 April, 0 outside 20 March - 10 April."""
    offset = (day - date(day.year, *SEASON_PEAK_DAY)).days
    if not SEASON_SPAN_DAYS[0] <= offset <= SEASON_SPAN_DAYS[1]:
        return 0.0
    return math.exp(-0.5 * (offset / SEASON_SIGMA_DAYS) ** 2)


def _within(day: date, span: tuple[tuple[int, int], tuple[int, int]]) -> bool:
    return span[0] <= (day.month, day.day) <= span[1]


def day_factor(purpose: str, day: date, holidays: Collection[date] = JAPANESE_HOLIDAYS) -> float:
    """A purpose's volume on ``day`` relative to a normal day (0 when the office is closed)."""
    if is_closed(day, holidays):
        return 0.0
    extra = max(0, closed_before(day, holidays))
    factor = WEEKDAY_FACTOR[day.weekday()] * AFTER_CLOSURE_FACTOR[min(extra, len(AFTER_CLOSURE_FACTOR) - 1)]
    factor *= 1.0 + (SEASON_PEAK.get(purpose, 1.0) - 1.0) * season_bump(day)
    if purpose == "tax" and _within(day, TAX_SEASON):
        factor *= TAX_SEASON_FACTOR
    if _within(day, OBON):
        factor *= OBON_FACTOR
    if _within(day, YEAR_END):
        factor *= YEAR_END_FACTOR
    return factor


def expected_arrivals(
    config: SiteConfig, day: date, *, holidays: Collection[date] = JAPANESE_HOLIDAYS, scale: float = 1.0
) -> dict[str, float]:
    """Expected arrivals per purpose on ``day`` (before the series' ranges cut a peak day short)."""
    return {
        c.code: NORMAL_DAY * scale * share * day_factor(c.code, day, holidays)
        for c, share in zip(config.categories, _shares(config), strict=True)
    }


def open_days(first_day: date, last_day: date, holidays: Collection[date] = JAPANESE_HOLIDAYS) -> list[date]:
    """The days the window is open from ``first_day`` to ``last_day`` inclusive."""
    days = []
    d = first_day
    while d <= last_day:
        if not is_closed(d, holidays):
            days.append(d)
        d += timedelta(days=1)
    return days


@dataclass(frozen=True)
class _Purpose:
    code: str
    series: str
    first: int
    cap: int
    route: tuple[str, ...]
    procedures: tuple[str, ...]
    reception_min: float
    station_min: tuple[float, ...]  # per route index; 0 for the counter and the terminal
    counters: tuple[int, ...]  # indices into the plan's counters that serve it


@dataclass(frozen=True)
class _Plan:
    tz: ZoneInfo
    purposes: tuple[_Purpose, ...]
    counter_numbers: tuple[int, ...]
    shares: tuple[float, ...]  # by purpose index, summing to 1
    base_clerks: int
    base_staff: Mapping[str, int]
    slot_weights: npt.NDArray[np.float64]  # per _SLOT_MIN slot from OPEN
    holidays: Collection[date]
    scale: float


def _plan(config: SiteConfig, holidays: Collection[date], scale: float) -> _Plan:
    # Every station a case can be worked at between the counter and the terminal has staff.
    stations = sorted({st for c in config.categories for st in c.route[1:-1]})
    purposes = []
    for c in config.categories:
        serving = tuple(i for i, k in enumerate(config.counters) if k.serves(c.code))
        if not serving:
            raise ValueError(f"no counter serves purpose {c.code}: the simulation cannot call its tickets")
        minutes = [0.0] * len(c.route)
        for i, st in enumerate(c.route[1:-1], start=1):
            minutes[i] = STATION_PURPOSE_MINUTES.get((st, c.code), STATION_MINUTES.get(st, DEFAULT_STATION_MINUTES))
        cap = c.last - c.first + 1
        purposes.append(
            _Purpose(
                code=c.code,
                series=c.series,
                first=c.first,
                cap=min(cap, c.daily_cap) if c.daily_cap is not None else cap,
                route=c.route,
                procedures=c.procedures,
                reception_min=RECEPTION_MINUTES.get(c.code, DEFAULT_RECEPTION_MINUTES),
                station_min=tuple(minutes),
                counters=serving,
            )
        )
    plan = _Plan(
        tz=ZoneInfo(config.timezone),
        purposes=tuple(purposes),
        counter_numbers=tuple(k.number for k in config.counters),
        shares=tuple(_shares(config)),
        base_clerks=0,
        base_staff={},
        slot_weights=_slot_weights(),
        holidays=holidays,
        scale=scale,
    )
    # The usual staff: what a normal day's expected work needs at the planned utilisation.
    normal = {p.code: NORMAL_DAY * scale * s for p, s in zip(purposes, plan.shares, strict=True)}
    clerks, staff = _staff_needed(plan, normal, stations)
    return replace(plan, base_clerks=clerks, base_staff=staff)


def _shares(config: SiteConfig) -> list[float]:
    total = sum(c.share for c in config.categories) or 1.0
    return [c.share / total for c in config.categories]


def _slot_weights() -> npt.NDArray[np.float64]:
    start = OPEN.hour * 60 + OPEN.minute
    end = CLOSE.hour * 60 + CLOSE.minute
    weights = [HOUR_WEIGHT.get(m // 60, 0.0) for m in range(start, end, _SLOT_MIN)]
    arr = np.asarray(weights, dtype=np.float64)
    out: npt.NDArray[np.float64] = arr / arr.sum()
    return out


def _open_minutes() -> int:
    return (CLOSE.hour * 60 + CLOSE.minute) - (OPEN.hour * 60 + OPEN.minute)


def _staff_needed(
    plan: _Plan, expected: Mapping[str, float], stations: Sequence[str], input_factor: float = 1.0
) -> tuple[int, dict[str, int]]:
    capacity = _open_minutes() * UTILISATION
    counter_work = 0.0
    station_work: dict[str, float] = {}
    for p in plan.purposes:
        n = expected.get(p.code, 0.0)
        counter_work += n * p.reception_min
        for st, minutes in zip(p.route[1:-1], p.station_min[1:-1], strict=True):
            factor = input_factor if st == "input" else 1.0
            station_work[st] = station_work.get(st, 0.0) + n * minutes * factor
    clerks = max(len(plan.counter_numbers), math.ceil(counter_work / capacity))
    staff = {st: max(1, math.ceil(station_work.get(st, 0.0) / capacity)) for st in stations}
    return clerks, staff


def _day_staff(plan: _Plan, expected: Mapping[str, float], input_factor: float) -> tuple[int, dict[str, int]]:
    """Staff on a day: planned for the expected load, never fewer than usual, and in a busy
    season no more than the help other sections can lend."""
    clerks, staff = _staff_needed(plan, expected, list(plan.base_staff), input_factor)
    clerks = max(plan.base_clerks, min(clerks, math.ceil(plan.base_clerks * SEASON_HELP_CAP)))
    out = {}
    for st, usual in plan.base_staff.items():
        out[st] = max(usual, min(staff.get(st, usual), math.ceil(usual * BACK_OFFICE_HELP_CAP)))
    return clerks, out


class _Case:
    """One ticket while the day is simulated."""

    __slots__ = (
        "absent",
        "clerk",
        "counter",
        "device",
        "draws",
        "held",
        "hlc",
        "index",
        "issued",
        "left",
        "number",
        "procedures",
        "purpose",
        "rows",
        "series",
        "status",
        "tid",
        "transferred",
        "updated",
    )

    def __init__(
        self, tid: str, series: str, number: int, purpose: int, device: str, issued: int, hlc: str, draws: list[float]
    ) -> None:
        self.tid = tid
        self.series = series
        self.number = number
        self.purpose = purpose
        self.device = device
        self.issued = issued
        self.hlc = hlc
        self.procedures: tuple[str, ...] = ()
        self.rows: list[LogRow] = []
        self.status = Status.WAITING
        self.index = -1
        self.counter: int | None = None
        self.clerk = ""
        self.updated = issued
        self.absent = False
        self.transferred = False
        self.held = False
        self.left = -1.0  # minutes of station work left after a hold
        self.draws = draws  # per route index: ms a minute of mean service time takes this time


_JOIN = 0  # joins the counters' queue
_STATION = 1  # arrives at a back-office station


@dataclass
class _Issued:
    """A day's tickets as issued, with what serving them needs."""

    label: str
    expected: dict[str, float]
    opening: int
    py: random.Random
    cases: list[_Case]


def _issue_day(plan: _Plan, day: date, seed: int) -> _Issued:
    rng = np.random.default_rng([seed, day.toordinal()])
    py = random.Random(int(rng.integers(2**62)))
    label = day.isoformat()
    expected = {
        p.code: NORMAL_DAY * plan.scale * share * day_factor(p.code, day, plan.holidays)
        for p, share in zip(plan.purposes, plan.shares, strict=True)
    }

    # Arrivals: Poisson counts per slot and purpose, uniform inside a slot.
    means = np.outer(plan.slot_weights, [expected[p.code] for p in plan.purposes])
    counts = rng.poisson(means)
    slot_of, purpose_of = np.nonzero(counts)
    reps = counts[slot_of, purpose_of]
    slots = np.repeat(slot_of, reps)
    purposes = np.repeat(purpose_of, reps)
    midnight = int(datetime.combine(day, time(0), plan.tz).timestamp() * 1000)
    opening = midnight + (OPEN.hour * 60 + OPEN.minute) * _MIN
    at = opening + ((slots + rng.random(slots.size)) * _SLOT_MIN * _MIN).astype(np.int64)
    order = np.argsort(at, kind="stable")
    at_list: list[int] = at[order].tolist()
    purpose_list: list[int] = purposes[order].tolist()
    n = len(at_list)
    width = max(len(p.route) for p in plan.purposes)
    service = (rng.gamma(_SERVICE_SHAPE, 1.0 / _SERVICE_SHAPE, size=(n, width)) * _MIN).tolist()

    cases: list[_Case] = []
    used: dict[str, int] = {}
    last_hlc = (0, 0)
    for issued, pi in zip(at_list, purpose_list, strict=True):
        p = plan.purposes[pi]
        k = used.get(p.series, 0)
        if k >= p.cap:
            continue  # the series is used up: the dispenser issues no more of it today
        used[p.series] = k + 1
        number = p.first + k
        stamp = (issued, last_hlc[1] + 1 if issued == last_hlc[0] else 0)
        last_hlc = stamp
        case = _Case(
            ticket_id(label, p.series, number),
            p.series,
            number,
            pi,
            DISPENSERS[0] if py.random() < 0.6 else DISPENSERS[1],
            issued,
            f"{stamp[0]:013d}-{stamp[1]:06x}",
            service[len(cases)],
        )
        case.procedures = tuple(x for i, x in enumerate(p.procedures) if i == 0 or py.random() < 0.4)
        case.rows.append(LogRow(issued, case.tid, label, Kind.ISSUED, p.code, None, None, None, case.device))
        cases.append(case)
    return _Issued(label, expected, opening, py, cases)


def _serve_day(plan: _Plan, day: date, issued: _Issued) -> list[tuple[Ticket, list[LogRow]]]:
    label, opening, py, cases = issued.label, issued.opening, issued.py, issued.cases
    input_factor = 1.0 + (INPUT_SEASON_FACTOR - 1.0) * season_bump(day)
    n_clerks, staff = _day_staff(plan, issued.expected, input_factor)
    clerk_names = [f"clerk{i + 1}" for i in range(n_clerks)]
    pools: list[list[tuple[int, int]]] = [[] for _ in plan.counter_numbers]
    for i in range(n_clerks):
        pools[i % len(pools)].append((opening, i))
    station_pools: dict[str, list[tuple[int, int]]] = {st: [(opening, i) for i in range(k)] for st, k in staff.items()}
    transfer_weights = list(plan.shares)

    events: list[tuple[int, int, int, _Case]] = []
    seq = 0
    for case in cases:
        if py.random() < P_VOID:
            at_void = case.issued + int(py.uniform(1, 15) * _MIN)
            code = plan.purposes[case.purpose].code
            clerk = clerk_names[py.randrange(n_clerks)]
            case.rows.append(LogRow(at_void, case.tid, label, Kind.VOIDED, code, None, None, clerk, case.device))
            case.status, case.updated = Status.VOID, at_void
            continue
        events.append((case.issued, seq, _JOIN, case))
        seq += 1
    heapq.heapify(events)

    def arrive(case: _Case, index: int, now: int, user: str, code: str, route: tuple[str, ...]) -> None:
        """The case reaches route[index]: the next station, or the terminal (ready, then collected)."""
        nonlocal seq
        rows = case.rows
        if index == len(route) - 1:
            rows.append(
                LogRow(now, case.tid, label, Kind.READY, code, route[-1], case.counter, user, case.device, None)
            )
            collected = now + int(py.uniform(1, 10) * _MIN)
            rows.append(
                LogRow(collected, case.tid, label, Kind.DONE, code, route[-1], case.counter, case.clerk, case.device)
            )
            case.status, case.index, case.updated = Status.DONE, index, collected
            return
        rows.append(
            LogRow(
                now, case.tid, label, Kind.MOVED, code, route[index], case.counter, user, case.device, route[index - 1]
            )
        )
        case.status, case.index, case.updated = Status.IN_PROGRESS, index, now
        heapq.heappush(events, (now, seq, _STATION, case))
        seq += 1

    while events:
        now, _, action, case = heapq.heappop(events)
        p = plan.purposes[case.purpose]
        code, route = p.code, p.route
        draws = case.draws
        if action == _JOIN:
            best = min(p.counters, key=lambda c: pools[c][0])
            free, pos = heapq.heappop(pools[best])
            called = max(now, free)
            counter = plan.counter_numbers[best]
            clerk = clerk_names[pos]
            case.rows.append(LogRow(called, case.tid, label, Kind.CALLED, code, route[0], counter, clerk, case.device))
            case.status, case.index, case.counter, case.updated = Status.CALLED, 0, counter, called
            if not case.absent and py.random() < P_ABSENT:
                gone = called + int(py.uniform(2, 4) * _MIN)
                case.rows.append(
                    LogRow(gone, case.tid, label, Kind.ABSENT, code, route[0], counter, clerk, case.device)
                )
                case.status, case.updated, case.absent = Status.ABSENT, gone, True
                heapq.heappush(pools[best], (gone, pos))
                if py.random() < P_ABSENT_RETURNS:
                    heapq.heappush(events, (gone + int(py.uniform(10, 60) * _MIN), seq, _JOIN, case))
                    seq += 1
                continue
            started = called + int(py.uniform(0.3, 2.0) * _MIN)
            case.rows.append(
                LogRow(started, case.tid, label, Kind.STARTED, code, route[0], counter, clerk, case.device)
            )
            if not case.transferred and py.random() < P_TRANSFER:
                moved_on = started + int(py.uniform(1, 4) * _MIN)
                weights = [0.0 if i == case.purpose else w for i, w in enumerate(transfer_weights)]
                if sum(weights) > 0:
                    target = py.choices(range(len(weights)), weights)[0]
                    new = plan.purposes[target].code
                    case.rows.append(
                        LogRow(
                            moved_on, case.tid, label, Kind.TRANSFERRED, new, None, counter, clerk, case.device, code
                        )
                    )
                    case.purpose, case.transferred = target, True
                    case.status, case.index, case.counter, case.updated = Status.WAITING, -1, None, moved_on
                    heapq.heappush(pools[best], (moved_on, pos))
                    heapq.heappush(events, (moved_on, seq, _JOIN, case))
                    seq += 1
                    continue
            done = started + int(p.reception_min * draws[0])
            heapq.heappush(pools[best], (done, pos))
            case.clerk = clerk
            arrive(case, 1, done, clerk, code, route)
        else:
            station = route[case.index]
            pool = station_pools[station]
            free, pos = heapq.heappop(pool)
            begin = max(now, free)
            user = f"{station}{pos + 1}"
            if case.left >= 0:
                work, case.left = case.left, -1.0
            else:
                factor = input_factor if station == "input" else 1.0
                work = p.station_min[case.index] * factor * draws[case.index]
            if not case.held and py.random() < P_HOLD:
                done_part = work * py.uniform(0.2, 0.6)
                held = begin + int(done_part)
                resumed = held + int(py.uniform(15, 90) * _MIN)
                rows = case.rows
                rows.append(LogRow(held, case.tid, label, Kind.HELD, code, station, case.counter, user, case.device))
                rows.append(
                    LogRow(resumed, case.tid, label, Kind.RESUMED, code, station, case.counter, user, case.device)
                )
                case.held, case.left, case.updated = True, work - done_part, resumed
                heapq.heappush(pool, (held, pos))
                heapq.heappush(events, (resumed, seq, _STATION, case))
                seq += 1
                continue
            finished = begin + int(work)
            heapq.heappush(pool, (finished, pos))
            arrive(case, case.index + 1, finished, user, code, route)

    out = []
    for case in cases:
        p = plan.purposes[case.purpose]
        ticket = Ticket(
            ticket_id=case.tid,
            day=label,
            series=case.series,
            number=case.number,
            category=p.code,
            device=case.device,
            issued_ms=case.issued,
            hlc=case.hlc,
            route=p.route,
            procedures=case.procedures,
            status=case.status,
            station_index=case.index,
            counter=case.counter,
            updated_ms=case.rows[-1].at_ms,
        )
        out.append((ticket, case.rows))
    return out


def generate(
    config: SiteConfig,
    first_day: date,
    last_day: date,
    *,
    seed: int,
    holidays: Collection[date] = JAPANESE_HOLIDAYS,
    scale: float = 1.0,
) -> Iterator[tuple[Ticket, list[LogRow]]]:
    """Every ticket of every open day from ``first_day`` to ``last_day``, with its log rows.

    Day by day in date order, each day's tickets in issue order; a ticket's rows are in time
    order and its fields are the state the rows leave it in.
    """
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    plan = _plan(config, holidays, scale)
    for day in open_days(first_day, last_day, holidays):
        yield from _serve_day(plan, day, _issue_day(plan, day, seed))


def issued_rows(
    config: SiteConfig,
    first_day: date,
    last_day: date,
    *,
    seed: int,
    holidays: Collection[date] = JAPANESE_HOLIDAYS,
    scale: float = 1.0,
) -> Iterator[LogRow]:
    """The ISSUED rows :func:`generate` writes for the same arguments, without serving anyone:
    a forecast's history in a fraction of the time."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    plan = _plan(config, holidays, scale)
    for day in open_days(first_day, last_day, holidays):
        for case in _issue_day(plan, day, seed).cases:
            yield case.rows[0]
