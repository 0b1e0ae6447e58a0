"""Building blocks for the end-to-end tests: an office and dispensers, in-process or as real
processes that a test can SIGKILL, and read-only views of the office store."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import msgspec

from office import config as configmod
from office.identity import office_public_key
from office.server import OfficeServer
from sync.agent import AgentConfig, DeviceAgent
from sync.site import SiteConfig
from ticket_dispenser.device import Dispenser

REPO = Path(__file__).resolve().parents[1]
SITE = configmod.load()


def round_the_clock(site: SiteConfig, **kiosk: Any) -> SiteConfig:
    """``site`` with its kiosk open all day, every day (and ``kiosk`` settings changed): for runs
    that must not depend on the hour they run at. A site's kiosk is closed 23:00-6:30 by default."""
    settings: dict[str, Any] = {"closed_weekdays": frozenset(), "closed_dates": frozenset(), **kiosk}
    hours = msgspec.structs.replace(site.kiosk, open="00:00", close="24:00", **settings)
    return msgspec.structs.replace(site, kiosk=hours)


def office_key(db: Path | str, home: Path | None = None) -> str:
    """The public signing key of the office on store ``db`` (made now if the office has not
    started yet: the office loads the same file), as a device pins it."""
    return office_public_key(db, home)


def start_office(url: str, db: Path | str, config: object = None, **kwargs: object) -> OfficeServer:
    """An in-process office, online (the demo town unless ``config`` is given); ``db`` a SQLite
    file or a PostgreSQL address (its signing key then in a temporary folder unless ``home``)."""
    if isinstance(db, str) and "home" not in kwargs:
        kwargs["home"] = Path(tempfile.mkdtemp(prefix="office-home-"))
    server = OfficeServer(config or SITE, db, url, **kwargs)  # type: ignore[arg-type]
    server.start()
    if not server.wait_online(15):
        server.stop()
        raise AssertionError("office did not come online")
    return server


@dataclass
class Device:
    """An in-process dispenser (agent + core)."""

    agent: DeviceAgent
    dispenser: Dispenser

    def close(self) -> None:
        self.dispenser.close()
        self.agent.stop()


def start_dispenser(url: str, data: Path, device_id: str, **agent_kwargs: Any) -> Device:
    """An in-process dispenser, started (connecting in the background)."""
    agent = DeviceAgent(
        AgentConfig(
            site=SITE.site, device_id=device_id, role="dispenser", broker_url=url, data_dir=data, **agent_kwargs
        )
    )
    agent.start()
    return Device(agent, Dispenser(agent))


def has_full_lease(device: Device) -> bool:
    """The dispenser holds configuration and blocks for every series of today."""
    lease = device.agent.document("lease")
    config = device.agent.document("office_config")
    if lease is None or config is None:
        return False
    series = {c.series for c in config.categories}
    return series <= {b.series for b in lease.blocks}


def env() -> dict[str, str]:
    """Environment for child processes: the repo importable, Python unbuffered."""
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    e["PYTHONUNBUFFERED"] = "1"
    return e


def _collect(stream: IO[str], lines: list[str]) -> threading.Thread:
    """A thread appending ``stream``'s lines to ``lines`` until it ends (then closing it)."""

    def read() -> None:
        with stream:
            for line in stream:
                lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader


def _wait_line(
    lines: list[str], reader: threading.Thread | None, text: str, timeout: float, exited: Callable[[], bool]
) -> bool:
    """Whether a line holding ``text`` comes within ``timeout`` s; once the process has exited,
    whether its output (read to the end) held one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in line for line in lines):
            return True
        if exited():
            if reader is not None:
                reader.join(1)
            return any(text in line for line in lines)
        time.sleep(0.005)
    return False


@dataclass
class Proc:
    """A child process whose stdout lines are collected by a thread."""

    popen: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    @classmethod
    def spawn(cls, *args: str) -> Proc:
        popen = subprocess.Popen(
            [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env(), cwd=REPO
        )
        return cls.watch(popen)

    @classmethod
    def watch(cls, popen: subprocess.Popen[str]) -> Proc:
        """``popen`` (its stdout a text pipe), its output lines collected from now on."""
        assert popen.stdout is not None
        proc = cls(popen)
        proc._reader = _collect(popen.stdout, proc.lines)
        return proc

    def wait_line(self, text: str, timeout: float) -> bool:
        return _wait_line(self.lines, self._reader, text, timeout, lambda: self.popen.poll() is not None)

    def kill(self) -> None:
        self.popen.kill()
        self.popen.wait(10)
        if self._reader is not None:
            self._reader.join(5)

    def stop(self) -> int:
        self.popen.terminate()
        code = self.popen.wait(15)
        if self._reader is not None:
            self._reader.join(5)
        return code


ZYGOTE = Path(__file__).resolve().parent / "zygote.py"


class Zygote:
    """Starts ``python -m module ...`` processes by forking one that imported ``module`` once
    (tests/zygote.py): a test that restarts a command hundreds of times spends a third of a
    second of CPU a start on imports otherwise. Each start still runs ``main()`` from the
    start, in a process of its own."""

    def __init__(self, module: str) -> None:
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._popen = subprocess.Popen(
            [sys.executable, str(ZYGOTE), module, str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            env=env(),
            cwd=REPO,
        )
        theirs.close()
        self._sock.settimeout(60)
        if self._sock.recv(16) != b"up\n":
            raise AssertionError(f"the zygote for {module} did not start")

    def spawn(self, *args: str) -> Forked:
        """``python -m module *args``, forked; stdout and stderr collected as lines."""
        read, write = os.pipe()
        try:
            socket.send_fds(self._sock, [json.dumps(list(args)).encode()], [write])
        finally:
            os.close(write)
        return Forked.start(int(self._sock.recv(32)), read)

    def close(self) -> None:
        self._sock.close()  # the zygote ends when its socket does
        self._popen.wait(10)


@dataclass
class Forked:
    """A process forked by a :class:`Zygote`: the part of :class:`Proc` the restart tests use."""

    pid: int
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    @classmethod
    def start(cls, pid: int, out: int) -> Forked:
        proc = cls(pid)
        # The reader thread closes it at the end of the output.
        output = open(out, encoding="utf-8", errors="replace")  # noqa: SIM115
        proc._reader = _collect(output, proc.lines)
        return proc

    def wait_line(self, text: str, timeout: float) -> bool:
        reader = self._reader
        assert reader is not None
        # Not a child of this process: its output ending is how its exit shows.
        return _wait_line(self.lines, reader, text, timeout, lambda: not reader.is_alive())

    def kill(self) -> None:
        """SIGKILL, and return once it is gone: its files closed (its store locks released) and
        the process reaped (the zygote leaves that to the kernel)."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # it had exited
        assert self._reader is not None
        self._reader.join(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.001)
        raise AssertionError(f"process {self.pid} did not go away after SIGKILL")


CRASHER = Path(__file__).resolve().parent / "store_crasher.py"


def spawn_and_kill(args: list[str], delay_s: float) -> list[str]:
    """Start the store crasher, SIGKILL it ``delay_s`` after it is ready; return complete lines."""
    proc = subprocess.Popen([sys.executable, str(CRASHER), *args], stdout=subprocess.PIPE, text=True, env=env())
    assert proc.stdout is not None
    ready = proc.stdout.readline()
    if ready != "READY\n":
        proc.kill()
        proc.communicate()
        raise AssertionError(f"crasher did not start: {ready!r}")
    time.sleep(delay_s)
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    # A line cut off by the kill carries no promise.
    return out.split("\n")[:-1]


def office_process(url: str, db: Path | str, console_port: int | None = None, home: Path | None = None) -> Proc:
    """``madoguchi-office serve`` as a real process (for SIGKILL); its console on
    ``console_port``, or none; its own files in ``home`` (needed with a PostgreSQL store)."""
    console = ["--console-port", str(console_port)] if console_port is not None else ["--no-console"]
    console += ["--home", str(home)] if home is not None else []
    proc = Proc.spawn("-m", "office.cli", "serve", "--broker", url, "--db", str(db), "--log-level", "WARNING", *console)
    if not proc.wait_line("office online", 20):
        proc.kill()
        raise AssertionError("office process did not come online:\n" + "\n".join(proc.lines[-20:]))
    return proc


def issued_ids(lines: list[str]) -> Iterator[str]:
    """Ticket ids from the dispenser CLI's 'issued ... (ticket ID)' lines."""
    for line in lines:
        if line.startswith("issued ") and "(ticket " in line:
            yield line.split("(ticket ", 1)[1].split(")", 1)[0]


def office_rows(db: Path | str, sql: str, *args: object) -> list[tuple[object, ...]]:
    """Read the office store from outside (WAL allows a reader beside the writer; PostgreSQL
    any number of readers)."""
    if isinstance(db, str):
        from office.sql import PgConnection

        pg = PgConnection(db, read_only=True)
        try:
            return [tuple(row) for row in pg.execute(sql, args)]
        finally:
            pg.close()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return list(conn.execute(sql, args))
    finally:
        conn.close()


def open_store(where: Path | str) -> Any:
    """A connection of its own to an office store (autocommit), as another process would open
    it: SQLite's file, or PostgreSQL's database."""
    from office import sql

    if isinstance(where, str):
        return sql.PgConnection(where)
    return sql.connect_sqlite(where)


def project_packages() -> tuple[str, ...]:
    """The project's top-level packages, as setup.cfg's import contracts name them (one list for
    every test that walks the packages)."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg", encoding="utf-8")
    return tuple(name for name in cfg["importlinter"]["root_packages"].split() if name)
