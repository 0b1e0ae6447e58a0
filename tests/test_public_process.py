"""``madoguchi-public serve`` as a real process: how it refuses to start, feeds over HTTP, event
streams over HTTP, a restart that keeps the last feed, the size of a real page, and that the
process never connects anywhere."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from public_harness import (
    SECRET,
    PublicProcess,
    auth,
    command,
    env,
    feed,
    free_port,
    leaks,
    next_day,
    purposes,
    sockets_of,
    start_public,
    ticket,
    tokens,
    write_secret,
)
from sync.messages import PublicStop

TOK = tokens(6, seed=5)


@pytest.fixture
def proc(tmp_path: Path) -> Iterator[PublicProcess]:
    p = start_public(tmp_path, data=tmp_path / "data")
    try:
        yield p
    finally:
        p.stop()


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(*args), capture_output=True, text=True, timeout=timeout, env=env(), check=False)


# --------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------


def test_start_up_mistakes_are_one_line_and_exit_2(tmp_path: Path) -> None:
    short = tmp_path / "short.secret"
    short.write_text("tooshort\n")
    good = write_secret(tmp_path / "good.secret")
    cases = {
        "missing file": (["--feed-secret-file", str(tmp_path / "nope")], "--feed-secret-file: cannot read"),
        "short secret": (["--feed-secret-file", str(short)], "at least 16 characters"),
        "zone": (["--feed-secret-file", str(good), "--timezone", "Mars/Olympus"], "--timezone: unknown time zone"),
        "hour": (["--feed-secret-file", str(good), "--rollover-hour", "13"], "--rollover-hour: 13"),
        "no secret option": ([], "the following arguments are required: --feed-secret-file"),
        "tls half": (
            ["--feed-secret-file", str(good), "--tls-cert", str(good)],
            "--tls-cert and --tls-key go together",
        ),
    }
    for name, (args, message) in cases.items():
        result = run("serve", "--port", str(free_port()), *args)
        assert result.returncode == 2, (name, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("madoguchi-public") and message in lines[0], (name, lines)


def test_a_port_in_use_and_a_locked_data_directory_are_refused(proc: PublicProcess, tmp_path: Path) -> None:
    busy = run("serve", "--port", str(proc.port), "--feed-secret-file", str(proc.secret_file))
    assert busy.returncode == 2 and f"cannot listen on 127.0.0.1:{proc.port}" in busy.stderr
    locked = run(
        "serve", "--port", str(free_port()), "--feed-secret-file", str(proc.secret_file), "--data", str(proc.data)
    )
    assert locked.returncode == 2 and "another madoguchi-public uses this data directory" in locked.stderr
    assert len(locked.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------------------------
# feeds, streams and restarts
# --------------------------------------------------------------------------------------------


def test_feeds_over_http_and_a_restart_shows_the_last_feed_at_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_public(tmp_path, data=data)
    try:
        assert first.post(feed(1, [ticket(TOK[0], 1001, people_ahead=2)], full=True)).json()["accepted"]
        assert first.post(feed(2, [ticket(TOK[1], 1002)])).json()["tickets"] == 2
        assert first.post(feed(2, [])).json() == {
            "accepted": False,
            "version": 2,
            "tickets": 2,
            "note": "version 2 is not newer than 2",
        }
        assert first.post(feed(3, []), secret="wrong-secret-wrong-secret").status_code == 401
        deadline = time.monotonic() + 5
        while not (data / "feed.json").exists() or json.loads((data / "feed.json").read_text())["version"] != 2:
            assert time.monotonic() < deadline, "the feed was not kept"
            time.sleep(0.02)
    finally:
        first.kill()  # no clean stop: what is on disk must be enough
    second = start_public(tmp_path, data=data)
    try:
        assert second.get(f"/t/{TOK[0]}").status_code == 200
        assert "あなたの前に2人お待ちです" in second.get(f"/t/{TOK[0]}").text
        assert second.get(f"/t/{TOK[1]}").status_code == 200
        assert second.post(feed(2, [])).json()["accepted"] is False  # the version was kept too
        status = second.get("/feed", headers=auth()).json()
        assert status["version"] == 2 and status["tickets"] == 2 and status["live"]
    finally:
        assert second.stop() == 0


def read_events(response: httpx.Response, into: list[dict[str, object]]) -> None:
    """Collect each event's data into ``into`` until the stream ends."""
    try:
        for line in response.iter_lines():
            if line.startswith("data: "):
                into.append(json.loads(line[6:]))
    except httpx.HTTPError:
        pass


def test_an_open_event_stream_gets_the_new_fragment_then_gone_when_the_day_changes(proc: PublicProcess) -> None:
    proc.post(feed(1, [ticket(TOK[0], 1001, people_ahead=3, est_wait_min=6), ticket(TOK[1], 1002)], full=True))
    events: list[dict[str, object]] = []
    with (
        httpx.Client(timeout=httpx.Timeout(10, read=30)) as client,
        client.stream("GET", f"{proc.url}/t/{TOK[0]}/events?lang=en") as response,
    ):
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        reader = threading.Thread(target=read_events, args=(response, events), daemon=True)
        reader.start()
        deadline = time.monotonic() + 10
        while not events:
            assert time.monotonic() < deadline, "no first event"
            time.sleep(0.02)
        assert "3 people ahead of you" in str(events[0]["html"])
        proc.post(feed(2, [ticket(TOK[1], 1002, people_ahead=1)]))  # another ticket: no event here
        proc.post(feed(3, [ticket(TOK[0], 1001, status="called", reached=1, counter_no=2)]))
        while len(events) < 2:
            assert time.monotonic() < deadline, "the change did not arrive"
            time.sleep(0.02)
        assert "Please come to Counter 2" in str(events[1]["html"])
        assert events[1]["say"] == "It is your turn Please come to Counter 2"
        proc.post(feed(4, [ticket(TOK[2], 1001)], day=next_day(feed(1).business_day)))
        reader.join(10)
    assert len(events) == 3 and events[2] == {"gone": True}
    assert proc.get(f"/t/{TOK[0]}").status_code == 404


def test_the_congestion_stream_and_an_unknown_tickets_stream(proc: PublicProcess) -> None:
    assert proc.get(f"/t/{TOK[5]}/events").status_code == 404
    proc.post(feed(1, [], full=True, with_purposes=purposes(busy=0)))
    events: list[dict[str, object]] = []
    with (
        httpx.Client(timeout=httpx.Timeout(10, read=30)) as client,
        client.stream("GET", f"{proc.url}/congestion/events?lang=ja") as response,
    ):
        reader = threading.Thread(target=read_events, args=(response, events), daemon=True)
        reader.start()
        proc.post(feed(2, with_purposes=purposes(busy=4)))
        deadline = time.monotonic() + 10
        while len(events) < 2:
            assert time.monotonic() < deadline, "the congestion change did not arrive"
            time.sleep(0.02)
    assert "20人" in str(events[-1]["html"]) and "やや混んでいます" in str(events[-1]["html"])


# --------------------------------------------------------------------------------------------
# size, privacy, no outbound connection
# --------------------------------------------------------------------------------------------


def test_a_real_page_with_a_long_route_in_japanese_is_under_50_kb(proc: PublicProcess) -> None:
    stops = tuple(
        PublicStop(code=f"s{i}", name={"ja": f"第{i + 1}審査係（国民健康保険・年金・介護保険）"}, reached_ms=None)
        for i in range(32)
    )
    tk = ticket(TOK[3], 5012, "death", people_ahead=27, est_wait_min=54)
    proc.post(feed(1, [msgspec.structs.replace(tk, stops=stops)], full=True, with_purposes=purposes()))
    page = proc.get(f"/t/{TOK[3]}", headers={"Accept-Language": "ja"})
    assert page.status_code == 200 and page.text.count("第32審査係") == 1
    # The page is the whole download: no asset is loaded besides it.
    assert len(page.content) < 50 * 1024, len(page.content)
    assert 'src="' not in page.text and 'href="http' not in page.text


def test_the_kept_feed_holds_no_residents_data_even_when_the_office_sends_it(proc: PublicProcess) -> None:
    from certificates.registry import demo_registry

    r = next(iter(demo_registry().residents.values()))
    doc = msgspec.to_builtins(feed(1, [ticket(TOK[0], 1001)], full=True))
    doc["tickets"][0].update({"name": r.name, "address": r.address, "my_number": r.my_number})
    assert proc.post(json.dumps(doc, ensure_ascii=False).encode()).json()["accepted"]
    assert proc.data is not None
    deadline = time.monotonic() + 5
    while not (proc.data / "feed.json").exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    kept = (proc.data / "feed.json").read_text(encoding="utf-8")
    assert "1001" in kept and not leaks(kept)
    assert not leaks(proc.get(f"/t/{TOK[0]}").text)


def test_the_running_process_opens_no_outbound_connection(proc: PublicProcess) -> None:
    """Only its listening socket and connections accepted on it: it never connects out (three-layer
    separation: the office connects to it, never the other way)."""
    proc.post(feed(1, [ticket(TOK[0], 1001)], full=True, with_purposes=purposes()))
    with (
        httpx.Client(timeout=httpx.Timeout(10, read=30)) as client,
        client.stream("GET", f"{proc.url}/t/{TOK[0]}/events") as response,
    ):
        lines = response.iter_lines()  # kept: a dropped iterator would close the stream
        next(lines)
        for i in range(5):
            proc.post(feed(2 + i, [ticket(TOK[0], 1001, people_ahead=i)]))
            proc.get("/congestion")
            rows = sockets_of(proc.popen.pid)
            assert rows, "no socket found: the scan would see nothing"
            assert any(r.state == "LISTEN" and r.local_port == proc.port for r in rows)
            outbound = [r for r in rows if r.state != "LISTEN" and r.local_port != proc.port]
            assert not outbound, outbound
            assert not [r for r in rows if r.proto.startswith("udp")]
    assert any(r.state == "ESTABLISHED" for r in rows), "the open stream should show as an accepted connection"


def test_the_scan_would_see_an_outbound_connection(proc: PublicProcess) -> None:
    """The check above can fail: our own client connection, seen from this test's process."""
    import os
    import socket

    with socket.create_connection(("127.0.0.1", proc.port)):
        rows = sockets_of(os.getpid())
        assert [r for r in rows if r.state == "ESTABLISHED" and r.remote_port == proc.port]


def test_sigterm_with_open_streams_stops_cleanly(tmp_path: Path) -> None:
    p = start_public(tmp_path)
    p.post(feed(1, [ticket(TOK[0], 1001)], full=True))
    with (
        httpx.Client(timeout=httpx.Timeout(10, read=30)) as client,
        client.stream("GET", f"{p.url}/t/{TOK[0]}/events") as response,
    ):
        lines = response.iter_lines()
        next(lines)
        started = time.monotonic()
        assert p.stop() == 0
        assert time.monotonic() - started < 8
    assert SECRET not in p.log.read_text() and TOK[0] not in p.log.read_text()
