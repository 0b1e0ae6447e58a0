"""Building blocks for the resident's page tests: feeds made from the demo town, and
``madoguchi-public serve`` as a real process on a free port with a secret file.

Feeds are built the way the office will build them (sync/messages.py, "office -> the resident's
progress page"): tickets filed by ``ticket_key(token)``, station and purpose names in every
language of ``office/default_site.toml``, times in milliseconds.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import msgspec
from playwright.sync_api import ViewportSize

from office import config as configmod
from sync.messages import PublicCounter, PublicFeed, PublicPurpose, PublicStatus, PublicStop, PublicTicket
from sync.site import SiteConfig
from sync.tokens import new_token, ticket_key

REPO = Path(__file__).resolve().parents[1]
SITE: SiteConfig = configmod.load()
ZONE = ZoneInfo("Asia/Tokyo")
SECRET = "feed-secret-for-tests-0123456789abcdef"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = ViewportSize(width=390, height=844)
# Counter names as the office gives them (the site file's [[counters]] names).
COUNTER_NAMES = {
    n: {
        "ja": f"{n}番窓口",
        "en": f"Counter {n}",
        "zh_CN": f"{n}号窗口",
        "ko": f"{n}번 창구",
        "vi": f"Quầy {n}",
        "pt": f"Guichê {n}",
    }
    for n in (1, 2, 3)
}
COUNTER_NAMES[4] = {
    "ja": "4番窓口（ローカウンター）",
    "en": "Counter 4 (seated)",
    "zh_CN": "4号窗口（低柜台）",
    "ko": "4번 창구(낮은 창구)",
    "vi": "Quầy 4 (ngồi)",
    "pt": "Guichê 4 (sentado)",
}


def tokens(count: int, seed: int = 7) -> list[str]:
    """``count`` distinct ticket tokens, the same on every run."""
    rng = random.Random(seed)
    return [new_token(rng.randbytes) for _ in range(count)]


def today() -> str:
    """The business day now, in the office's zone (after the 03:00 rollover)."""
    local = datetime.now(ZONE) - timedelta(hours=3)
    return local.date().isoformat()


def next_day(day: str) -> str:
    """The business day after ``day``."""
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def now_ms() -> int:
    """The wall clock in milliseconds (the office's clock in these tests)."""
    return time.time_ns() // 1_000_000


def counter(number: int) -> PublicCounter:
    """A counter with the names of :data:`COUNTER_NAMES`."""
    return PublicCounter(number=number, name=COUNTER_NAMES.get(number, {}))


def ticket(
    token: str,
    number: int,
    purpose: str = "moving",
    *,
    status: PublicStatus = "waiting",
    reached: int = 0,
    people_ahead: int | None = None,
    est_wait_min: int | None = None,
    counter_no: int | None = None,
    issued_ms: int | None = None,
    step_ms: int = 7 * 60_000,
    site: SiteConfig = SITE,
) -> PublicTicket:
    """A ticket of the demo town's ``purpose`` whose first ``reached`` stations are reached."""
    category = next(c for c in site.categories if c.code == purpose)
    stations = {s.code: s for s in site.stations}
    issued = issued_ms if issued_ms is not None else now_ms() - 40 * 60_000
    stops = tuple(
        PublicStop(
            code=code,
            name=dict(stations[code].name),
            reached_ms=issued + (i + 1) * step_ms if i < reached else None,
        )
        for i, code in enumerate(category.route)
    )
    last = max([issued, *(s.reached_ms for s in stops if s.reached_ms is not None)])
    return PublicTicket(
        key=ticket_key(token),
        number=number,
        purpose=dict(category.name),
        stops=stops,
        status=status,
        people_ahead=people_ahead,
        est_wait_min=est_wait_min,
        counter=counter(counter_no) if counter_no is not None else None,
        issued_ms=issued,
        updated_ms=last,
    )


def purposes(site: SiteConfig = SITE, busy: int = 0) -> tuple[PublicPurpose, ...]:
    """Congestion of every demo purpose; ``busy`` shifts the figures (0: a quiet morning)."""
    out = []
    levels = ("green", "yellow", "red")
    for i, category in enumerate(site.categories):
        waiting = (i * 3 + busy * 5) % 23
        est = None if i == 4 else waiting * 2
        level = levels[0] if est is None or est <= 20 else levels[1] if est <= 40 else levels[2]
        out.append(
            PublicPurpose(
                code=category.code,
                name=dict(category.name),
                waiting=waiting,
                est_wait_min=est,
                level=level,  # type: ignore[arg-type]
                last_called=category.first + 3 + busy if i != 3 else None,
            )
        )
    return tuple(out)


def feed(
    version: int,
    tickets: Iterable[PublicTicket] = (),
    *,
    day: str | None = None,
    full: bool = False,
    removed: Sequence[str] = (),
    with_purposes: tuple[PublicPurpose, ...] | None = None,
    sent_ms: int | None = None,
) -> PublicFeed:
    """A feed of the demo town."""
    return PublicFeed(
        site=SITE.site,
        office_name=SITE.office_name,
        business_day=day or today(),
        version=version,
        sent_ms=sent_ms if sent_ms is not None else now_ms(),
        full=full,
        tickets=tuple(tickets),
        removed=tuple(removed),
        purposes=with_purposes if with_purposes is not None else (),
    )


def encode(doc: PublicFeed) -> bytes:
    """A feed as the office sends it."""
    return msgspec.json.encode(doc)


def auth(secret: str = SECRET) -> dict[str, str]:
    """The office's request headers."""
    return {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}


# --------------------------------------------------------------------------------------------
# the real process
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env() -> dict[str, str]:
    """The environment of a child process: this checkout first on the path."""
    out = dict(os.environ)
    out["PYTHONPATH"] = str(REPO) + os.pathsep + out.get("PYTHONPATH", "")
    out.pop("NOTIFY_SOCKET", None)
    return out


@dataclass
class PublicProcess:
    """``madoguchi-public serve`` running as a child process."""

    popen: subprocess.Popen[bytes]
    port: int
    secret_file: Path
    data: Path | None
    log: Path
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The base address."""
        return f"http://127.0.0.1:{self.port}"

    def post(self, doc: PublicFeed | bytes, secret: str = SECRET) -> httpx.Response:
        """POST a feed as the office does."""
        body = doc if isinstance(doc, bytes) else encode(doc)
        return httpx.post(f"{self.url}/feed", content=body, headers=auth(secret), timeout=10)

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        """GET a page."""
        return httpx.get(self.url + path, timeout=10, **kwargs)  # type: ignore[arg-type]

    def stop(self) -> int:
        """SIGTERM and wait; the exit status."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return int(self.popen.returncode)

    def kill(self) -> None:
        """SIGKILL (a power cut, as far as the process can tell)."""
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(5)


def write_secret(path: Path, secret: str = SECRET) -> Path:
    """The secret file a technician writes (mode 600)."""
    path.write_text(secret + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def command(*args: str) -> list[str]:
    """``madoguchi-public ARGS`` as the console script runs it (setup.cfg: public.cli:main)."""
    return [sys.executable, "-m", "public.cli", *args]


def start_public(tmp_path: Path, *extra: str, data: Path | None = None, port: int | None = None) -> PublicProcess:
    """Start ``madoguchi-public serve`` and wait until it answers."""
    secret_file = tmp_path / "public.secret"
    if not secret_file.exists():
        write_secret(secret_file)
    port = port or free_port()
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--feed-secret-file", str(secret_file)]
    if data is not None:
        args += ["--data", str(data)]
    log = tmp_path / f"public-{port}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(command(*args, *extra), stdout=out, stderr=subprocess.STDOUT, env=env(), cwd=REPO)
    proc = PublicProcess(popen, port, secret_file, data, log)
    deadline = time.monotonic() + 20
    while True:
        if popen.poll() is not None:
            raise AssertionError(f"madoguchi-public exited with {popen.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{proc.url}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"madoguchi-public did not answer within 20 s: {log.read_text()}")
        time.sleep(0.05)


# --------------------------------------------------------------------------------------------
# sockets of a process (for "it never connects out")
# --------------------------------------------------------------------------------------------

TCP_STATES = {
    "01": "ESTABLISHED",
    "02": "SYN_SENT",
    "03": "SYN_RECV",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "06": "TIME_WAIT",
    "07": "CLOSE",
    "08": "CLOSE_WAIT",
    "09": "LAST_ACK",
    "0A": "LISTEN",
    "0B": "CLOSING",
}


@dataclass(frozen=True)
class SocketRow:
    """A socket of a process, from /proc/net: its protocol, state and ports."""

    proto: str
    state: str
    local_port: int
    remote_port: int


def sockets_of(pid: int) -> list[SocketRow]:
    """Every TCP and UDP socket (IPv4 and IPv6) the process ``pid`` holds open now.

    /proc/<pid>/net/tcp lists the whole network namespace, so the process's own sockets are
    found by the inodes of its file descriptors (``socket:[inode]``).
    """
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    rows = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        path = Path(f"/proc/{pid}/net/{proto}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            parts = line.split()
            if parts[9] in inodes:
                local_port = int(parts[1].rsplit(":", 1)[1], 16)
                remote_port = int(parts[2].rsplit(":", 1)[1], 16)
                state = TCP_STATES.get(parts[3], parts[3]) if proto.startswith("tcp") else "UDP"
                rows.append(SocketRow(proto, state, local_port, remote_port))
    return rows


# --------------------------------------------------------------------------------------------
# what a public page must never hold
# --------------------------------------------------------------------------------------------


def personal_needles() -> dict[str, str]:
    """Every demo resident's name, kana, addresses, birth date (several spellings) and My Number,
    each with a label saying whose and what (certificates/registry.py's demo_registry)."""
    from certificates.registry import demo_registry

    needles: dict[str, str] = {}
    for r in demo_registry().residents.values():
        for what, value in (("name", r.name), ("kana", r.kana), ("address", r.address), ("honseki", r.honseki)):
            if value:
                needles[value] = f"{r.id} {what}"
                needles[value.replace("\u3000", " ")] = f"{r.id} {what}"
                needles[value.replace("\u3000", "")] = f"{r.id} {what}"
        for entry in r.previous_addresses:
            needles[entry.address] = f"{r.id} previous address"
        b = r.birth_date
        for spelling in (
            b.isoformat(),
            b.strftime("%Y/%m/%d"),
            f"{b.year}年{b.month}月{b.day}日",
            b.strftime("%Y%m%d"),
        ):
            needles[spelling] = f"{r.id} birth date"
        needles[r.my_number] = f"{r.id} My Number"
        needles[f"{r.my_number[:4]} {r.my_number[4:8]} {r.my_number[8:]}"] = f"{r.id} My Number"
    return needles


def leaks(text: str) -> list[str]:
    """The personal data of :func:`personal_needles` found in ``text``."""
    return sorted(f"{label}: {needle!r}" for needle, label in personal_needles().items() if needle in text)
