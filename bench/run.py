"""The project benchmark (``make bench``): ticket issue latency, outbox drain, durable writes.

Everything runs for real on this machine: a Mosquitto child process on a free loopback port,
the office server in-process (its SQLite store with ``synchronous=FULL``), a device agent and
dispenser core on a fresh data directory with the crash-safe stores (fsync on). Figures are
printed as a table with their targets and merged into ``bench/results.json`` (other keys in
that file are kept). A missed target is reported, never an error: a bench is not a test.

Phases (see bench/README.md for what each figure means):

1. issue latency: 6,000 back-to-back presses on one dispenser while the office drains its
   outbox and tops its leases up; presses 1-1,000 and 5,001-6,000 are measured;
2. outbox drain: a second device journals 10,000 events with the office down, then the office
   starts and we time until the device's outbox is fully acknowledged;
3. raw publish: one paho client publishes 10,000 QoS 1 messages of one event record's size to
   the same broker and waits for every PUBACK;
4. store writes: :func:`bench.store_bench.run`;
5. the dispenser appliance (press to print, the touch app idle): :func:`bench.dispenser_bench.run`;
6. the lobby board (progress change to model, frames with 300 trains, RSS): :func:`bench.board_bench.run`.

Run ``python -m bench.run`` (``--help`` for smaller runs while developing).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results.json"

# Targets (the brief for this bench): p99 issue latency, its growth over a busy day, drain rate.
ISSUE_P99_TARGET_MS = 20.0
P99_GROWTH_TARGET = 1.5
DRAIN_TARGET_RATIO = 0.5

# One purpose per number series of the default site (marriage shares birth's series 4).
SERIES_PURPOSES = (
    "moving",
    "certificates",
    "family_register",
    "birth",
    "death",
    "childcare",
    "tax",
    "my_number",
)
DISPENSER_ID = "bench-disp"
DRAIN_DEVICE_ID = "bench-drain"
EVENT_TYPE = "printer.status"

log = logging.getLogger("bench")


# -- small helpers ---------------------------------------------------------------------------


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least ``pct`` % of samples <= it."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


def wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.005) -> bool:
    """Poll ``check`` until it holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


class LogTally(logging.Handler):
    """Keeps the project's warnings and errors off the table and counts them for the report."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.counts: Counter[tuple[str, str]] = Counter()
        self.examples: dict[tuple[str, str], str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        key = (record.levelname, f"{record.name}: {record.msg}")
        self.counts[key] += 1
        if key not in self.examples:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += f" [{type(record.exc_info[1]).__name__}: {record.exc_info[1]}]"
            self.examples[key] = text[:300]


@contextmanager
def captured_logs() -> Iterator[LogTally]:
    """Route WARNING+ of every logger into a :class:`LogTally` for the run's duration."""
    root = logging.getLogger()
    tally = LogTally()
    old_level, old_handlers = root.level, list(root.handlers)
    root.handlers = [tally]
    root.setLevel(logging.WARNING)
    try:
        yield tally
    finally:
        root.handlers = old_handlers
        root.setLevel(old_level)


def event_data(n: int) -> dict[str, Any]:
    """A printer status event body of about 200 bytes of JSON."""
    return {
        "printer": "TM-T88VII",
        "state": "ok",
        "paper": "near_end" if n % 7 == 0 else "ok",
        "cover": "closed",
        "cutter": "ok",
        "head_temp_c": 41 + n % 5,
        "tickets_since_change": n,
        "detail": "periodic status poll from the ticket printer driver",
    }


# -- the system under test ----------------------------------------------------------------------


@dataclass
class Rig:
    """The broker, offices and devices a run started; :meth:`close` stops them all."""

    root: Path
    broker: Any = None
    offices: list[Any] = field(default_factory=list)
    agents: list[Any] = field(default_factory=list)
    dispensers: list[Any] = field(default_factory=list)

    def start_broker(self) -> Any:
        from lobby.brokers import MosquittoBroker

        self.broker = MosquittoBroker(self.root / "broker")
        self.broker.start()
        return self.broker

    def new_office(self, db_name: str) -> Any:
        from office import config as configmod
        from office.server import OfficeServer

        office = OfficeServer(configmod.load(), self.root / db_name, self.broker.url)
        self.offices.append(office)
        return office

    def new_agent(self, device_id: str) -> Any:
        from office import config as configmod
        from sync.agent import AgentConfig, DeviceAgent

        site = configmod.load().site
        agent = DeviceAgent(
            AgentConfig(
                site=site,
                device_id=device_id,
                role="dispenser",
                broker_url=self.broker.url,
                data_dir=self.root / device_id,
            )
        )
        self.agents.append(agent)
        return agent

    def stop_office(self, office: Any) -> None:
        if office in self.offices:
            self.offices.remove(office)
            office.stop()

    def close(self) -> None:
        for dispenser in self.dispensers:
            _quietly(dispenser.close)
        for agent in self.agents:
            _quietly(agent.stop)
        for office in self.offices:
            _quietly(office.stop)
        if self.broker is not None:
            _quietly(self.broker.stop)
        self.dispensers, self.agents, self.offices = [], [], []


def _quietly(action: Callable[[], None]) -> None:
    try:
        action()
    except Exception:  # cleanup must go on; the tally keeps the log line
        log.exception("bench cleanup failed")


def has_full_lease(agent: Any) -> bool:
    """The dispenser holds configuration and blocks for every series (as tests/harness.py)."""
    lease, config = agent.document("lease"), agent.document("office_config")
    if not lease or not config:
        return False
    return {c["series"] for c in config["categories"]} <= {b["series"] for b in lease["blocks"]}


# -- phase 1: issue latency ---------------------------------------------------------------------


@dataclass
class IssueFigures:
    first: list[float]
    late: list[float]
    presses: int
    seconds: float
    stalls: int
    stall_seconds: float
    stalls_in_measured: int
    drained_after_s: float | None
    office_stats: dict[str, int]
    agent_stats: dict[str, int]


def bench_issue(rig: Rig, presses: int, measured: int, late_from: int) -> IssueFigures:
    """Press back to back from one thread; time ``Dispenser.issue`` around each call."""
    from drivers.ticket_printer import RecordingPrinter
    from ticket_dispenser.device import Dispenser, NumbersExhausted

    office = rig.new_office("office-issue.sqlite3")
    office.start()
    if not office.wait_online(15):
        raise RuntimeError("the office did not come online")
    agent = rig.new_agent(DISPENSER_ID)
    agent.start()
    if not wait_for(lambda: agent.office_online and has_full_lease(agent), 20):
        raise RuntimeError("the dispenser did not receive its configuration and leases")
    printer = RecordingPrinter()
    dispenser = Dispenser(agent, printer)
    rig.dispensers.append(dispenser)

    first: list[float] = []
    late: list[float] = []
    stalls = stalls_in_measured = 0
    stall_seconds = 0.0
    clock = time.perf_counter
    started = clock()
    for i in range(1, presses + 1):
        category = SERIES_PURPOSES[(i - 1) % len(SERIES_PURPOSES)]
        in_window = i <= measured or late_from < i <= late_from + measured
        stalled_since: float | None = None
        while True:
            t0 = clock()
            try:
                dispenser.issue(category)
            except NumbersExhausted:
                # The office tops leases up as it consumes our events; wait for the new block.
                if stalled_since is None:
                    stalled_since = t0
                    stalls += 1
                    stalls_in_measured += int(in_window)
                elif t0 - stalled_since > 30:
                    raise RuntimeError(f"no lease top-up for {category} within 30 s") from None
                time.sleep(0.002)
                continue
            elapsed_ms = (clock() - t0) * 1000.0
            break
        if stalled_since is not None:
            stall_seconds += clock() - stalled_since
        if i <= measured:
            first.append(elapsed_ms)
        elif late_from < i <= late_from + measured:
            late.append(elapsed_ms)
    seconds = clock() - started
    if len(printer.jobs) != presses:
        raise RuntimeError(f"{presses} presses but {len(printer.jobs)} print jobs")
    t_done = clock()
    drained = agent.wait_drained(60)
    drained_after = clock() - t_done if drained else None
    figures = IssueFigures(
        first=first,
        late=late,
        presses=presses,
        seconds=seconds,
        stalls=stalls,
        stall_seconds=stall_seconds,
        stalls_in_measured=stalls_in_measured,
        drained_after_s=drained_after,
        office_stats=dict(office.stats),
        agent_stats=dict(agent.stats),
    )
    # Free the office for phase 2 (it says offline, retained) and stop this dispenser.
    rig.dispensers.remove(dispenser)
    dispenser.close()
    rig.agents.remove(agent)
    agent.stop()
    rig.stop_office(office)
    return figures


# -- phase 2: outbox drain after an outage ------------------------------------------------------


@dataclass
class DrainFigures:
    events: int
    journal_seconds: float
    drain_seconds: float
    record_bytes: int
    agent_stats: dict[str, int]
    office_stats: dict[str, int]


def bench_drain(rig: Rig, events: int) -> DrainFigures:
    """Journal ``events`` with the office down, start it, time until all are acknowledged."""
    agent = rig.new_agent(DRAIN_DEVICE_ID)
    agent.start()
    if not wait_for(lambda: agent.connected, 15):
        raise RuntimeError("the drain device did not connect to the broker")
    if agent.office_online:
        raise RuntimeError("an office is still online; the drain needs it offline")
    t0 = time.perf_counter()
    first = None
    for n in range(1, events + 1):
        event = agent.record(EVENT_TYPE, event_data(n))
        if first is None:
            first = event
    journal_seconds = time.perf_counter() - t0
    assert first is not None
    record_bytes = len(json.dumps(first.to_record(), ensure_ascii=False, separators=(",", ":")).encode())
    if agent.pending_count() != events:
        raise RuntimeError(f"{agent.pending_count()} pending after journalling {events} with the office down")

    t_start = time.perf_counter()
    office = rig.new_office("office-drain.sqlite3")
    office.start()
    if not wait_for(lambda: agent.pending_count() == 0, 120, interval=0.002):
        raise RuntimeError(f"outbox not drained within 120 s ({agent.pending_count()} pending)")
    drain_seconds = time.perf_counter() - t_start
    figures = DrainFigures(
        events=events,
        journal_seconds=journal_seconds,
        drain_seconds=drain_seconds,
        record_bytes=record_bytes,
        agent_stats=dict(agent.stats),
        office_stats=dict(office.stats),
    )
    rig.agents.remove(agent)
    agent.stop()
    rig.stop_office(office)
    return figures


# -- phase 3: raw paho publish rate ---------------------------------------------------------------


@dataclass
class RawFigures:
    messages: int
    size: int
    seconds: float
    max_inflight: int


def bench_raw_publish(rig: Rig, messages: int, size: int, max_inflight: int) -> RawFigures:
    """One paho-mqtt 2.x client, QoS 1: publish ``messages`` and wait for every PUBACK."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    connected = threading.Event()
    acked = 0
    all_acked = threading.Event()

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            connected.set()

    def on_publish(_c: Any, _u: Any, _mid: int, _reason: Any, _p: Any) -> None:
        nonlocal acked
        acked += 1  # paho's network thread only
        if acked >= messages:
            all_acked.set()

    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id="bench-raw-publisher",
        clean_session=True,
        protocol=paho.MQTTv311,
    )
    client.max_inflight_messages_set(max_inflight)
    client.max_queued_messages_set(0)
    client.on_connect = on_connect
    client.on_publish = on_publish
    client.connect(rig.broker.host, rig.broker.port, keepalive=30)
    client.loop_start()
    try:
        if not connected.wait(10):
            raise RuntimeError("the raw publisher did not connect")
        payload = b"x" * size
        t0 = time.perf_counter()
        for _ in range(messages):
            info = client.publish("bench/raw", payload, qos=1)
            if info.rc != paho.MQTT_ERR_SUCCESS:
                raise RuntimeError(f"paho refused a publish: rc={info.rc}")
        if not all_acked.wait(120):
            raise RuntimeError(f"only {acked} of {messages} PUBACKs within 120 s")
        seconds = time.perf_counter() - t0
    finally:
        client.disconnect()
        client.loop_stop()
    return RawFigures(messages=messages, size=size, seconds=seconds, max_inflight=max_inflight)


# -- report ---------------------------------------------------------------------------------------


def merge_results(path: Path, figures: dict[str, float]) -> dict[str, float]:
    """Merge our figures into the flat JSON object at ``path`` (other keys are kept)."""
    merged: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            loaded = None
        if isinstance(loaded, dict):
            merged.update(loaded)
    merged.update(figures)
    ordered = dict(sorted(merged.items()))
    path.write_text(json.dumps(ordered, indent=2) + "\n", encoding="utf-8")
    return ordered


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--presses", type=int, default=6000, help="presses in phase 1 (default 6000)")
    parser.add_argument("--measured", type=int, default=1000, help="presses per measured window (default 1000)")
    parser.add_argument("--events", type=int, default=10_000, help="events journalled for the drain (default 10000)")
    parser.add_argument("--raw", type=int, default=10_000, help="raw QoS 1 publishes (default 10000)")
    parser.add_argument(
        "--raw-inflight",
        type=int,
        default=20,
        help="paho max in-flight for the raw publisher (default 20, as the device link)",
    )
    parser.add_argument("--store-records", type=int, default=5000, help="records for bench.store_bench (default 5000)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file to merge figures into")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (broker log, stores)")
    args = parser.parse_args(argv)
    late_from = args.presses - args.measured
    if late_from < args.measured:
        parser.error("--presses must be at least twice --measured")

    from bench import board_bench, dispenser_bench, store_bench

    wall0 = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="madoguchi-bench-"))
    rig = Rig(root)
    with captured_logs() as tally:
        try:
            print(f"bench: Mosquitto, office and devices under {root}", flush=True)
            rig.start_broker()
            t = time.perf_counter()
            issue = bench_issue(rig, args.presses, args.measured, late_from)
            print(
                f"  issue: {issue.presses} presses in {issue.seconds:.1f} s "
                f"({time.perf_counter() - t:.1f} s with set-up and drain)",
                flush=True,
            )
            t = time.perf_counter()
            drain = bench_drain(rig, args.events)
            print(
                f"  drain: journalled {drain.events} events in {drain.journal_seconds:.1f} s, "
                f"drained in {drain.drain_seconds:.2f} s ({time.perf_counter() - t:.1f} s in all)",
                flush=True,
            )
            # Best of two: the raw rate is the ceiling the drain is compared with, so take the
            # higher one (the first run also warms the broker's and paho's buffers up).
            raws = [bench_raw_publish(rig, args.raw, drain.record_bytes, args.raw_inflight) for _ in range(2)]
            raw = min(raws, key=lambda r: r.seconds)
            print(
                f"  raw:   {raw.messages} x {raw.size} B QoS 1 in "
                f"{' / '.join(f'{r.seconds:.2f}' for r in raws)} s (best of 2 counts)",
                flush=True,
            )
        finally:
            rig.close()
            if args.keep:
                print(f"  kept {root}")
            else:
                shutil.rmtree(root, ignore_errors=True)
        t = time.perf_counter()
        store = store_bench.run(args.store_records)
        print(f"  store: {time.perf_counter() - t:.1f} s", flush=True)
        t = time.perf_counter()
        dispenser = dispenser_bench.run()
        print(f"  dispenser: {time.perf_counter() - t:.1f} s", flush=True)
        t = time.perf_counter()
        board = board_bench.run()
        print(f"  board: {time.perf_counter() - t:.1f} s", flush=True)

    p50_0 = percentile(issue.first, 50)
    p99_0 = percentile(issue.first, 99)
    p99_late = percentile(issue.late, 99)
    drain_rate = drain.events / drain.drain_seconds
    raw_rate = raw.messages / raw.seconds
    ratio = drain_rate / raw_rate
    figures: dict[str, float] = {
        "issue_p50_ms_0": round(p50_0, 2),
        "issue_p99_ms_0": round(p99_0, 2),
        "issue_p99_ms_5000": round(p99_late, 2),
        "drain_events_per_s": round(drain_rate, 1),
        "raw_publish_per_s": round(raw_rate, 1),
        "drain_vs_raw": round(ratio, 3),
        **store,
        **dispenser.figures,
        **board.figures,
    }
    merge_results(args.results, figures)

    late_label = f"presses {late_from + 1:,}-{late_from + args.measured:,}"
    rows = [
        (f"issue p50, presses 1-{args.measured}", f"{p50_0:.2f} ms", "", ""),
        (
            f"issue p99, presses 1-{args.measured}",
            f"{p99_0:.2f} ms",
            f"<= {ISSUE_P99_TARGET_MS:g} ms",
            verdict(p99_0 <= ISSUE_P99_TARGET_MS),
        ),
        (
            f"issue p99, {late_label}",
            f"{p99_late:.2f} ms",
            f"<= {P99_GROWTH_TARGET:g} x {p99_0:.2f} = {P99_GROWTH_TARGET * p99_0:.2f} ms",
            verdict(p99_late <= P99_GROWTH_TARGET * p99_0),
        ),
        ("  (p50 / max there)", f"{percentile(issue.late, 50):.2f} / {max(issue.late):.2f} ms", "", ""),
        (f"  (max, presses 1-{args.measured})", f"{max(issue.first):.2f} ms", "", ""),
        (
            "lease stalls (NumbersExhausted)",
            f"{issue.stalls} ({issue.stall_seconds:.2f} s)",
            f"{issue.stalls_in_measured} in measured windows",
            "",
        ),
        ("outbox drain after outage", f"{drain_rate:,.0f} events/s", "", ""),
        (f"raw paho QoS 1 publish ({raw.size} B)", f"{raw_rate:,.0f} msg/s", "", ""),
        ("drain / raw", f"{ratio:.1%}", f">= {DRAIN_TARGET_RATIO:.0%}", verdict(ratio >= DRAIN_TARGET_RATIO)),
        ("store write, atomic segmented log", f"{store['store_write_ms_atomic']:.3f} ms", "", ""),
        ("store write, stock tinydb (no fsync)", f"{store['store_write_ms_tinydb_json']:.3f} ms", "", ""),
        ("store write, SQLite WAL FULL", f"{store['store_write_ms_sqlite']:.3f} ms", "", ""),
        *dispenser.rows,
        *board.rows,
    ]
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    twidth = max(len(r[2]) for r in rows)
    print()
    print(f"{'figure':<{width}}  {'value':>{vwidth}}  {'target':<{twidth}}  result")
    print(f"{'-' * width}  {'-' * vwidth}  {'-' * twidth}  ------")
    for name, value, target, result in rows:
        print(f"{name:<{width}}  {value:>{vwidth}}  {target:<{twidth}}  {result}".rstrip())
    print()
    drained = "not within 60 s" if issue.drained_after_s is None else f"{issue.drained_after_s:.2f} s"
    print(f"phase 1: {issue.presses} presses in {issue.seconds:.1f} s; outbox drained {drained} after the last press")
    print(f"  office stats: {dict(sorted(issue.office_stats.items()))}")
    print(f"  agent stats:  {dict(sorted(issue.agent_stats.items()))}")
    print(
        f"phase 2: journal {drain.journal_seconds / drain.events * 1000:.2f} ms/event; "
        f"drain {drain.drain_seconds:.2f} s for {drain.events} events of {drain.record_bytes} B"
    )
    print(f"  office stats: {dict(sorted(drain.office_stats.items()))}")
    print(f"  agent stats:  {dict(sorted(drain.agent_stats.items()))}")
    print(f"raw publisher: paho max in-flight {raw.max_inflight}")
    for line in (*dispenser.notes, *board.notes):
        print(line)
    if tally.counts:
        print("log lines at WARNING or above (count, first instance):")
        for (level, _msg), count in tally.counts.most_common():
            print(f"  {count:6d} x {level}: {tally.examples[(level, _msg)]}")
    print(f"wrote {args.results} ({time.perf_counter() - wall0:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
