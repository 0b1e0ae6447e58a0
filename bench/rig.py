"""What every bench shares: the rig (a Mosquitto child process, the office in-process, device
agents on fresh data directories), percentiles, log tallies and the results file."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.signing import OfficeSigner

if TYPE_CHECKING:
    from sync.agent import DeviceAgent

RESULTS = Path(__file__).resolve().parent / "results.json"

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

log = logging.getLogger("bench")


# -- small helpers ---------------------------------------------------------------------------


def is_gl_mapping(name: str) -> bool:
    """Whether a mapping of /proc/PID/smaps belongs to Mesa's software GL (the appliance's share
    of memory that is the GL stack's, not the app's)."""
    base = name.rsplit("/", 1)[-1]
    return base.startswith(("libLLVM", "libGL", "libglapi", "libgallium", "libEGL", "SYSV")) or base.endswith("_dri.so")


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (from /proc; empty where there is no /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name in parentheses may hold spaces: the parent's pid follows its ")".
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        children.setdefault(int(fields[1]), []).append(int(entry.parent.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def _each_thread(pids: Sequence[int], change: Callable[[int], None]) -> int:
    """``change(tid)`` for every thread of each of ``pids`` (Linux keeps affinity and niceness
    per thread); returns the threads changed. A thread that ended meanwhile, or a change the
    bench may not make, is skipped."""
    changed = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("[0-9]*"):
            try:
                change(int(task.name))
                changed += 1
            except OSError:
                continue
    return changed


def pin_processes(pids: Sequence[int], cpus: set[int]) -> int:
    """Every thread of each of ``pids`` onto ``cpus`` (a thread started later inherits its
    creator's); returns the threads pinned."""
    return _each_thread(pids, lambda tid: os.sched_setaffinity(tid, cpus))


def renice_processes(pids: Sequence[int], niceness: int) -> int:
    """Every thread of each of ``pids`` to ``niceness``; returns the threads changed. Raising a
    priority back needs root: where the bench may not, the threads stay as they were."""
    return _each_thread(pids, lambda tid: os.setpriority(os.PRIO_PROCESS, tid, niceness))


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


# -- the system under test ----------------------------------------------------------------------


class _Unsigned(OfficeSigner):
    """The bench's baseline office: publishes its documents as they are, without signatures."""

    def seal(self, name: str, site: str, device: str | None, body: bytes) -> bytes:
        return body


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

    def new_office(self, db_name: str, *, signed: bool = True, dsn: str | None = None) -> Any:
        """An office on its own store (a SQLite file here, or the PostgreSQL database ``dsn``);
        ``signed=False`` only for the bench's baseline (the office always signs in service: this
        measures what the signatures cost)."""
        from office import config as configmod
        from office.server import OfficeServer

        store = dsn if dsn is not None else self.root / db_name
        office = OfficeServer(configmod.load(), store, self.broker.url, home=self.root / f"{db_name}.home")
        if not signed:
            office.signer = _Unsigned(Ed25519PrivateKey.generate())
        self.offices.append(office)
        return office

    def new_agent(self, device_id: str, office_key: str | None = None) -> Any:
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
                office_key=office_key,
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


def has_full_lease(agent: DeviceAgent) -> bool:
    """The dispenser holds configuration and blocks for every series (as tests/harness.py)."""
    lease, config = agent.document("lease"), agent.document("office_config")
    if lease is None or config is None:
        return False
    return {c.series for c in config.categories} <= {b.series for b in lease.blocks}


# -- phase 1: issue latency ---------------------------------------------------------------------


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
