"""The resident's page under load: pages per second from one ``madoguchi-public`` process, and how
fast a feed reaches 500 open event streams.

    python -m bench.public_bench [--seconds 10] [--connections 32] [--streams 500] [--rounds 10]

Everything is real: ``madoguchi-public serve`` runs as its own process (one worker, so at most
one core of this 2-core machine; the load generator takes the other), fed over HTTP with a day
of 700 tickets of the demo town. The load generator is this module's own: asyncio streams
speaking HTTP/1.1 with keep-alive, no client library in the way.

* ``public_pages_per_s``: ``GET /t/<token>`` for random tickets of the day (70 % Japanese,
  the rest in the five other languages by ``Accept-Language``), from ``--connections``
  connections back to back for ``--seconds`` after a 2 s warm-up; completed 200 answers per
  second.
* ``public_stream_p99_ms``: ``--streams`` event streams open, one per ticket; each round is one
  ``POST /feed`` that changes every one of those tickets (a call moves everyone up), timed from
  just before the request is written until each stream has the event with the new version.
  p99 over every stream of every round.
* ``public_page_kb``: the largest page of the day (Japanese), the whole download.

Figures merge into bench/results.json like the other benches'.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec

from bench.rig import RESULTS, percentile, verdict
from office import config as configmod
from sync.messages import PublicFeed, PublicPurpose, PublicStatus, PublicStop, PublicTicket
from sync.site import SiteConfig
from sync.tokens import new_token, ticket_key

__all__ = ["run"]

TICKETS = 700
PAGES_TARGET = 500.0  # a town's whole lobby refreshing at once, on a small VM
STREAM_P99_TARGET_MS = 1000.0
LANGS = ["ja"] * 14 + ["en", "zh-CN", "ko", "vi", "pt-BR", "en"]
Row = tuple[str, str, str, str]


@dataclass
class PublicBench:
    """What :func:`run` hands back: JSON figures, table rows and notes."""

    figures: dict[str, float] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- the day ----------------------------------------------------------------------------------


def day_of_tickets(
    site: SiteConfig, count: int, rng: random.Random, day_start_ms: int
) -> list[tuple[str, PublicTicket]]:
    """``count`` tickets of one day, as (token, ticket): purposes by their shares, most done."""
    stations = {s.code: s for s in site.stations}
    shares = [max(c.share, 0.01) for c in site.categories]
    out = []
    for i in range(count):
        category = rng.choices(site.categories, shares)[0]
        issued = day_start_ms + i * 40_000
        roll = rng.random()
        status: PublicStatus
        if roll < 0.55:
            status, reached = "done", len(category.route)
        elif roll < 0.7:
            status, reached = "in_progress", rng.randint(1, len(category.route) - 1)
        elif roll < 0.75:
            status, reached = "called", 1
        else:
            status, reached = "waiting", 0
        stops = tuple(
            PublicStop(
                code=code,
                name=dict(stations[code].name),
                reached_ms=issued + (j + 1) * 300_000 if j < reached else None,
            )
            for j, code in enumerate(category.route)
        )
        token = new_token(rng.randbytes)
        out.append(
            (
                token,
                PublicTicket(
                    key=ticket_key(token),
                    number=category.first + i,
                    purpose=dict(category.name),
                    stops=stops,
                    status=status,
                    people_ahead=rng.randint(0, 40) if status == "waiting" else None,
                    est_wait_min=rng.randint(1, 80) if status == "waiting" else None,
                    counter=None,
                    issued_ms=issued,
                    updated_ms=issued + reached * 300_000,
                ),
            )
        )
    return out


def congestion(site: SiteConfig) -> tuple[PublicPurpose, ...]:
    """Figures for every purpose."""
    return tuple(
        PublicPurpose(code=c.code, name=dict(c.name), waiting=i * 3, est_wait_min=i * 6, level="green")
        for i, c in enumerate(site.categories)
    )


# -- the process --------------------------------------------------------------------------------


@dataclass
class Server:
    """``madoguchi-public serve`` as a child process."""

    popen: subprocess.Popen[bytes]
    port: int
    secret: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post(self, doc: PublicFeed) -> httpx.Response:
        return httpx.post(
            f"{self.url}/feed",
            content=msgspec.json.encode(doc),
            headers={"Authorization": f"Bearer {self.secret}"},
            timeout=60,
        )


def start_server(root: Path) -> Server:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    secret = secrets.token_hex(32)
    secret_file = root / "public.secret"
    secret_file.write_text(secret)
    secret_file.chmod(0o600)
    log = (root / "public.log").open("wb")
    popen = subprocess.Popen(
        [sys.executable, "-m", "public.cli", "serve", "--port", str(port), "--feed-secret-file", str(secret_file)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(popen, port, secret)
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if popen.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"madoguchi-public did not start: {(root / 'public.log').read_text()}")
        time.sleep(0.05)


# -- the load generator ------------------------------------------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response with a Content-Length; its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    match = re.search(rb"\r\ncontent-length: *(\d+)", head, re.IGNORECASE)
    if match is None:
        raise RuntimeError("a page without Content-Length")
    await reader.readexactly(int(match.group(1)))
    return status


async def _client(
    port: int, paths: list[str], rng: random.Random, stop_at: float, count_from: float, done: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            now = time.perf_counter()
            if now >= stop_at:
                return
            path = rng.choice(paths)
            lang = rng.choice(LANGS)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nAccept-Language: {lang}\r\n\r\n".encode())
            status = await _read_response(reader)
            if status != 200:
                raise RuntimeError(f"{path}: {status}")
            if time.perf_counter() >= count_from:
                done[0] += 1
    finally:
        writer.close()


async def pages_per_s(port: int, tokens: list[str], seconds: float, connections: int) -> tuple[float, int]:
    """Completed pages per second over ``seconds`` after a 2 s warm-up, and how many."""
    paths = [f"/t/{t}" for t in tokens]
    start = time.perf_counter()
    count_from, stop_at = start + 2.0, start + 2.0 + seconds
    done = [0]
    await asyncio.gather(
        *(_client(port, paths, random.Random(i), stop_at, count_from, done) for i in range(connections))
    )
    return done[0] / seconds, done[0]


# -- the event streams --------------------------------------------------------------------------


@dataclass
class Stream:
    """One open event stream: the versions it has seen and when."""

    token: str
    seen: dict[int, float] = field(default_factory=dict)


async def _follow(port: int, stream: Stream, opened: asyncio.Event, count: list[int], total: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /t/{stream.token}/events?lang=ja HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 200 " not in head[:16] or b"chunked" not in head.lower():
        raise RuntimeError(f"stream refused: {head[:80]!r}")
    first = True
    try:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            if size == 0:
                return
            chunk = await reader.readexactly(size + 2)
            at = time.perf_counter()
            for match in re.finditer(rb"^id: (\d+)$", chunk, re.MULTILINE):
                stream.seen[int(match.group(1))] = at
            if first:
                first = False
                count[0] += 1
                if count[0] == total:
                    opened.set()
    finally:
        writer.close()


async def stream_latencies(
    server: Server, day: list[tuple[str, PublicTicket]], streams: int, rounds: int, start_version: int
) -> list[float]:
    """Open ``streams`` event streams, then time ``rounds`` feeds that change all their tickets."""
    followed = day[:streams]
    opened, count = asyncio.Event(), [0]
    followers = [Stream(token) for token, _ in followed]
    tasks = [asyncio.create_task(_follow(server.port, s, opened, count, streams)) for s in followers]
    await asyncio.wait_for(opened.wait(), 60)
    latencies: list[float] = []
    async with httpx.AsyncClient(timeout=60) as client:
        for r in range(rounds):
            version = start_version + r + 1
            t0_ms = time.time_ns() // 1_000_000
            # Everyone waiting moves up one: a change each page shows, so each stream gets an event.
            changed = tuple(
                msgspec.structs.replace(
                    t, status="waiting", people_ahead=streams + rounds - r + i, est_wait_min=60 - r, updated_ms=t0_ms
                )
                for i, (_, t) in enumerate(followed)
            )
            doc = PublicFeed(site="demo-town", business_day=today(), version=version, sent_ms=version, tickets=changed)
            body = msgspec.json.encode(doc)
            t0 = time.perf_counter()
            response = await client.post(
                f"{server.url}/feed", content=body, headers={"Authorization": f"Bearer {server.secret}"}
            )
            if response.status_code != 200 or not response.json()["accepted"]:
                raise RuntimeError(f"feed refused: {response.text}")
            deadline = time.perf_counter() + 30
            while any(version not in s.seen for s in followers):
                if time.perf_counter() > deadline:
                    raise RuntimeError("a stream did not get the change within 30 s")
                await asyncio.sleep(0.002)
            latencies += [(s.seen[version] - t0) * 1000 for s in followers]
            await asyncio.sleep(0.3)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return latencies


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (/proc/<pid>/stat), in seconds."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def today() -> str:
    """The business day now in Tokyo (after the 03:00 rollover)."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    return (datetime.now(ZoneInfo("Asia/Tokyo")) - timedelta(hours=3)).date().isoformat()


# -- the run ------------------------------------------------------------------------------------


def run(seconds: float = 10.0, connections: int = 32, streams: int = 500, rounds: int = 10) -> PublicBench:
    """Both measurements on one fresh process."""
    out = PublicBench()
    site = configmod.load()
    rng = random.Random(2026)
    now_ms = time.time_ns() // 1_000_000
    day = day_of_tickets(site, TICKETS, rng, now_ms - 8 * 3600_000)
    with tempfile.TemporaryDirectory(prefix="public-bench-") as tmp:
        server = start_server(Path(tmp))
        try:
            feed = PublicFeed(
                site=site.site,
                office_name=site.office_name,
                business_day=today(),
                version=1,
                sent_ms=now_ms,
                full=True,
                tickets=tuple(t for _, t in day),
                purposes=congestion(site),
            )
            body = msgspec.json.encode(feed)
            t = time.perf_counter()
            response = server.post(feed)
            feed_ms = (time.perf_counter() - t) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"the day's feed was refused: {response.text}")
            sizes = [len(httpx.get(f"{server.url}/t/{token}?lang=ja", timeout=10).content) for token, _ in day]
            page_kb = max(sizes) / 1024
            out.figures["public_page_kb"] = round(page_kb, 1)
            out.rows.append(
                ("public: largest page of the day (ja)", f"{page_kb:.1f} KB", "< 50 KB", verdict(page_kb < 50))
            )
            out.notes.append(
                f"public: the day's full feed of {TICKETS} tickets is {len(body) / 1024:.0f} KB and took "
                f"{feed_ms:.0f} ms to POST and apply; page sizes {min(sizes)}-{max(sizes)} bytes"
            )

            cpu0, wall0 = cpu_seconds(server.popen.pid), time.perf_counter()
            rate, count = asyncio.run(pages_per_s(server.port, [tk for tk, _ in day], seconds, connections))
            busy = (cpu_seconds(server.popen.pid) - cpu0) / (time.perf_counter() - wall0) * 100
            out.notes.append(
                f"public pages: the server process used {busy:.0f} % of one core over the run (warm-up included); "
                "the load generator ran in this process on the other core"
            )
            out.figures["public_pages_per_s"] = round(rate, 1)
            out.rows.append(
                (
                    f"public: ticket pages per second ({connections} connections, {count} pages)",
                    f"{rate:.0f} /s",
                    f">= {PAGES_TARGET:g} /s",
                    verdict(rate >= PAGES_TARGET),
                )
            )

            lat = asyncio.run(stream_latencies(server, day, streams, rounds, 1))
            p50, p99 = percentile(lat, 50), percentile(lat, 99)
            out.figures["public_stream_p99_ms"] = round(p99, 1)
            out.rows += [
                (f"public: feed -> {streams} streams p50 ({len(lat)} deliveries)", f"{p50:.0f} ms", "", ""),
                (
                    f"public: feed -> {streams} streams p99",
                    f"{p99:.0f} ms",
                    f"<= {STREAM_P99_TARGET_MS:g} ms",
                    verdict(p99 <= STREAM_P99_TARGET_MS),
                ),
            ]
            out.notes.append(
                f"public streams: {rounds} feeds each changing all {streams} streamed tickets; first delivery "
                f"p50 {percentile([min(lat[i : i + streams]) for i in range(0, len(lat), streams)], 50):.0f} ms, "
                f"max {max(lat):.0f} ms"
            )
        finally:
            server.popen.terminate()
            try:
                server.popen.wait(10)
            except subprocess.TimeoutExpired:
                server.popen.kill()
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.public_bench``."""
    parser = argparse.ArgumentParser(prog="python -m bench.public_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds of page load (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections (default 32)")
    parser.add_argument("--streams", type=int, default=500, help="open event streams (default 500)")
    parser.add_argument("--rounds", type=int, default=10, help="feeds timed to the streams (default 10)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file to merge figures into")
    args = parser.parse_args(argv)
    from bench.dispenser_bench import run_alone

    return run_alone(lambda: run(args.seconds, args.connections, args.streams, args.rounds), args.results)


if __name__ == "__main__":
    sys.exit(main())
