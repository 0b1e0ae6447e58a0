"""A PostgreSQL server the tests and the ward demo start on their own: a cluster made with
Debian's ``initdb`` in a fresh directory, listening on a free loopback port, trust
authentication for loopback only (nothing else can reach it), stopped and removed at the end.

Debian keeps the server's programs out of PATH (``/usr/lib/postgresql/<version>/bin``); the
newest installed version is used. PostgreSQL refuses to run as root: as root the cluster is
made and run as the ``postgres`` user the Debian package creates, in a directory of its own.
``kill()`` stops it the hard way (SIGKILL of the postmaster, as a crash would): what was
committed survives, its write-ahead log replays at the next ``start()``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from lobby.brokers import LOOPBACK, free_port

__all__ = ["PostgresNotFoundError", "PostgresServer", "find_bin"]

_START_TIMEOUT_S = 30.0


class PostgresNotFoundError(RuntimeError):
    """No PostgreSQL server programs are installed (Debian: apt-get install postgresql)."""


def find_bin() -> Path:
    """The newest installed PostgreSQL's bin directory."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise PostgresNotFoundError("PostgreSQL is not installed; on Debian: apt-get install postgresql")


class PostgresServer:
    """One cluster on ``127.0.0.1:port``; :attr:`dsn` connects as the superuser ``postgres``."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port if port is not None else free_port(LOOPBACK)
        self.bin = find_bin()
        self.root = Path(tempfile.mkdtemp(prefix="madoguchi-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError as err:
                raise PostgresNotFoundError(
                    "no postgres user to run the server as (install Debian's postgresql)"
                ) from err
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        os.chmod(self.root, 0o755)
        self._made = False

    @property
    def dsn(self) -> str:
        """The connection string (database ``postgres``)."""
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, check=False, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> None:
        """Make the cluster (the first time) and start it; returns once it takes connections."""
        if not self._made:
            self._run(
                str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
            )  # fmt: skip
            self._made = True
        options = f"-p {self.port} -c listen_addresses={LOOPBACK} -k {self.root} -c fsync=on"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", LOOPBACK, "-p", str(self.port)], capture_output=True, check=False
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not take connections on {self.port}; see {self.log}")

    def stop(self) -> None:
        """A clean shutdown (fast mode: open sessions are ended)."""
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash would (its children follow it)."""
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)

    def close(self) -> None:
        """Stop it and remove its files."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
