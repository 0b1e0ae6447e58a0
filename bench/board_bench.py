"""The lobby board's bench: office progress change to board model, frame time with 300 trains
animating, and the board's RSS.

Called by :mod:`bench.run` (``make bench``); also runs alone with ``python -m bench.board_bench``
(``--help``). Everything is real, on a fresh temporary directory: a Mosquitto child process, the
office server in-process with the default site, a dispenser device (agent + Dispenser, a
recording printer) that issues 300 tickets, and

1. update latency: a board device in-process exactly as the app wires it (a DeviceAgent of role
   ``board`` whose document callback wakes the controller, which builds the BoardView). A staff
   terminal sends ``advance N to <next station>`` over MQTT, one change every 150-250 ms (a
   busy lobby's pace, slower than the office's 0.1 s snapshot coalescing); each change is timed
   from just before the staff command is published to the moment the controller's view shows
   that train at its new station. The figure therefore covers the office's command handling,
   its SQLite commit and snapshot query, two broker hops, the board's durable store write and
   the model build: more than "office publishes -> board model", never less;
2. frames: the real board app (``bench.board_frames``) as its own process under Xvfb (software
   GL), 1920 x 1080, no frame cap, showing the same 300 tickets in progress; the staff terminal
   then moves every one of them a station on, and each frame's duration is recorded from the
   first redraw after the wave until the last slide has ended. Then VmRSS of the process, idle.

Figures: ``board_update_p99_ms``, ``board_frame_p95_ms_300``, ``board_rss_mb``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.rig import (
    RESULTS,
    SERIES_PURPOSES,
    Rig,
    descendants,
    has_full_lease,
    percentile,
    renice_processes,
    verdict,
    wait_for,
)
from sync import messages

REPO = Path(__file__).resolve().parents[1]

UPDATE_P99_TARGET_MS = 100.0
FRAME_P95_TARGET_MS = 33.0
RSS_TARGET_MB = 200.0
APP_RSS_TARGET_MB = 120.0  # without Mesa's file-backed GL libraries (bench.rig.is_gl_mapping) and surfaces

SITE = "demo-town"
TICKETS = 300
DISPENSER_ID = "disp-board-bench"  # the site file knows dispensers by disp-*
BOARD_ID = "board-bench"
FRAMES_BOARD_ID = "board-bench-ui"
TERMINAL = "bench"

Row = tuple[str, str, str, str]


@dataclass
class BoardBench:
    """What :func:`run` hands to bench.run: JSON figures, table rows and lines for below it."""

    figures: dict[str, float] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Staff:
    """A staff terminal on MQTT: commands out, replies counted."""

    def __init__(self, broker_url: str) -> None:
        from sync import protocol
        from sync.link import Inbound, MqttLink

        self._protocol = protocol
        self.replies: dict[str, messages.StaffReply] = {}
        self._got = threading.Condition()

        def on_message(message: Inbound) -> None:
            doc = protocol.decode("staff_reply", message.payload)
            with self._got:
                self.replies[doc.request_id] = doc
                self._got.notify_all()

        self.link = MqttLink(
            broker_url,
            f"{SITE}-staff-{TERMINAL}",
            on_message=on_message,
            subscriptions=[(protocol.topic("staff_reply", SITE, terminal=TERMINAL), 1)],
        )
        self.link.start()
        if not self.link.wait_ready(10):
            raise RuntimeError("the staff terminal could not reach the broker")

    def send(self, command: str) -> str:
        """Publish a command; returns its request id."""
        request_id = uuid.uuid4().hex
        payload = self._protocol.encode(messages.StaffCommand(request_id=request_id, command=command))
        self.link.publish(self._protocol.topic("staff_command", SITE, terminal=TERMINAL), payload, qos=1)
        return request_id

    def wait_reply(self, request_id: str, timeout: float = 10.0) -> messages.StaffReply:
        with self._got:
            if not self._got.wait_for(lambda: request_id in self.replies, timeout):
                raise RuntimeError(f"no staff reply within {timeout:g} s")
            return self.replies[request_id]

    def close(self) -> None:
        self.link.stop()


def issue_tickets(rig: Rig, count: int) -> None:
    """``count`` tickets over the purposes, from one dispenser with a recording printer."""
    from drivers.plain_printers import RecordingPrinter
    from ticket_dispenser.device import Dispenser
    from ticket_dispenser.errors import NumbersExhausted

    agent = rig.new_agent(DISPENSER_ID)
    agent.start()
    if not wait_for(lambda: agent.office_online and has_full_lease(agent), 20):
        raise RuntimeError("the dispenser did not receive its configuration and leases")
    dispenser = Dispenser(agent, RecordingPrinter())
    rig.dispensers.append(dispenser)
    issued = 0
    deadline = time.monotonic() + 60
    while issued < count:
        try:
            dispenser.issue(SERIES_PURPOSES[issued % len(SERIES_PURPOSES)])
            issued += 1
        except NumbersExhausted:
            if time.monotonic() > deadline:
                raise RuntimeError("no lease top-up within 60 s") from None
            time.sleep(0.01)
    if not wait_for(lambda: agent.outbox.pending_count() == 0, 30):
        raise RuntimeError("the dispenser's tickets did not reach the office")


def _board_position(view: Any, number: int) -> tuple[int, int] | None:
    """(station index, stations on its line) of a train in a BoardView, drawn or stacked."""
    if view is None:
        return None
    for line in view.lines:
        for train in (*line.trains, *line.hidden):
            if train.number == number:
                return train.station_index, len(line.stations)
    return None


@dataclass
class UpdateFigures:
    latencies_ms: list[float]
    build_ms: list[float]
    refused: int
    trains: int


def bench_update(rig: Rig, changes: int, seed: int = 7) -> UpdateFigures:
    """Time ``changes`` staff progress changes until the in-process board's view shows each."""
    from display_board.controller import BoardController, Inputs
    from office import config as configmod
    from sync.agent import AgentConfig, DeviceAgent

    site = configmod.load().site
    wake = threading.Event()
    agent = DeviceAgent(
        AgentConfig(
            site=site, device_id=BOARD_ID, role="board", broker_url=rig.broker.url, data_dir=rig.root / BOARD_ID
        ),
        on_document=lambda name, doc: wake.set() if name == "board_snapshot" else None,
    )
    rig.agents.append(agent)

    def inputs() -> Inputs:
        return Inputs(
            agent.document("board_snapshot"),
            agent.document("queue_snapshot"),
            agent.document("office_config"),
            agent.office_online,
            agent.last_heard_ms,
            agent.now_ms(),
        )

    controller = BoardController(inputs)
    lock = threading.Lock()
    builds: list[float] = []
    stop = threading.Event()

    def ui_thread() -> None:  # stands in for Kivy's main thread: a wake-up, then a tick
        while not stop.is_set():
            wake.wait(1.0)
            wake.clear()
            t = time.perf_counter()
            with lock:
                controller.tick()
            builds.append((time.perf_counter() - t) * 1000.0)

    worker = threading.Thread(target=ui_thread, name="board-ui", daemon=True)
    agent.start()
    worker.start()
    staff = Staff(rig.broker.url)
    rng = random.Random(seed)
    latencies: list[float] = []
    refused = 0
    try:
        if not wait_for(
            lambda: (
                controller.view is not None
                and sum(len(ln.trains) + len(ln.hidden) for ln in controller.view.lines) >= TICKETS
            ),
            30,
        ):
            raise RuntimeError("the board did not show the issued tickets")
        view = controller.view
        assert view is not None  # wait_for above saw it
        trains = sum(len(ln.trains) + len(ln.hidden) for ln in view.lines)
        candidates = [t.number for ln in view.lines for t in (*ln.trains, *ln.hidden)]
        stations = {ln.route: [s.code for s in ln.stations] for ln in view.lines}
        routes = {t.number: ln.route for ln in controller.view.lines for t in (*ln.trains, *ln.hidden)}  # type: ignore[union-attr]
        builds.clear()
        while len(latencies) < changes and candidates:
            number = rng.choice(candidates)
            with lock:
                position = _board_position(controller.view, number)
            if position is None:
                candidates.remove(number)
                continue
            index, count = position
            if index + 1 >= count - 1:  # keep trains short of the terminal: they stay on the line
                candidates.remove(number)
                continue
            target = index + 1
            code = stations[routes[number]][target]
            t0 = time.perf_counter()
            request_id = staff.send(f"advance {number} to {code}")

            def arrived(number: int = number, target: int = target) -> bool:
                with lock:
                    pos = _board_position(controller.view, number)
                return pos is not None and pos[0] == target

            ok = wait_for(arrived, 10, interval=0.0005)
            t1 = time.perf_counter()
            reply = staff.wait_reply(request_id)
            if not ok or not reply.ok:
                refused += 1
                candidates.remove(number)
                continue
            latencies.append((t1 - t0) * 1000.0)
            time.sleep(rng.uniform(0.15, 0.25))
    finally:
        stop.set()
        wake.set()
        worker.join(5)
        staff.close()
    return UpdateFigures(latencies, builds, refused, trains)


@dataclass
class FrameFigures:
    frames_ms: list[float]
    draws: int
    moves: int
    cars: int
    rss_kb: int
    hwm_kb: int
    window_s: float
    anon_kb: int = 0
    file_kb: int = 0
    top: list[Any] = field(default_factory=list)
    gl_kb: int = 0  # Mesa's file-backed GL libraries of rss_kb
    mapped_kb: int = 0  # malloc's own mapped blocks: Mesa's surfaces (bench.board_frames)
    slow: list[Any] = field(default_factory=list)  # [frame ms, longest collection in it ms] over 50 ms


def bench_frames(rig: Rig, root: Path) -> FrameFigures:
    """The board app under Xvfb while every train moves one station on."""
    from bench.dispenser_bench import _stop, start_xvfb

    xvfb: subprocess.Popen[bytes] | None = None
    display = os.environ.get("DISPLAY")
    if not display:
        xvfb, display = start_xvfb()
    out = root / "frames"
    out.mkdir()
    env = dict(os.environ, DISPLAY=display, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    log_path = root / "board-frames.log"
    app: subprocess.Popen[bytes] | None = None
    staff = Staff(rig.broker.url)
    try:
        with open(log_path, "wb") as log_file:
            app = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.board_frames",
                    "--broker",
                    rig.broker.url,
                    "--site",
                    SITE,
                    "--device-id",
                    FRAMES_BOARD_ID,
                    "--data",
                    str(root / FRAMES_BOARD_ID),
                    "--out",
                    str(out),
                ],
                cwd=REPO,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        ready = out / "ready.json"
        running = app
        if not wait_for(lambda: ready.exists() or running.poll() is not None, 90, interval=0.1) or not ready.exists():
            raise RuntimeError(f"the board app did not come up:\n{_tail(log_path)}")
        shown = json.loads(ready.read_text(encoding="utf-8"))
        # The wave: every train in progress moves one station on (the office coalesces the burst
        # into a few snapshots; each one redraws the board and starts the slides).
        # The office, Mosquitto and this bench's staff terminal are other machines in a town
        # hall; here they share the board's two cores, and the office's handling of the wave
        # (300 commands, their snapshots) took the cores the board draws with: its frames
        # during that work were 35-50 ms against 25-30 after it. So while the frames are timed
        # they run at nice 10, as the console bench does with the pages' server. Xvfb is the
        # board's own screen and keeps its priority.
        others = [pid for pid in descendants(os.getpid()) if pid not in {running.pid, xvfb.pid if xvfb else -1}]
        renice_processes(others, 10)
        (out / "wave").write_text("go", encoding="utf-8")
        ids = [staff.send(f"advance {number} to {code}") for number, code in shown["next"]]
        for request_id in ids:
            staff.wait_reply(request_id, 30)
        (out / "sent").write_text("sent", encoding="utf-8")
        done = out / "frames.json"
        if not wait_for(lambda: done.exists() or running.poll() is not None, 60, interval=0.1) or not done.exists():
            raise RuntimeError(f"the board app did not report its frames:\n{_tail(log_path)}")
        result = json.loads(done.read_text(encoding="utf-8"))
        renice_processes(others, 0)
        _stop(app, 5)
        app = None
    finally:
        staff.close()
        if app is not None:
            _stop(app, 5)
        if xvfb is not None:
            _stop(xvfb, 5)
    return FrameFigures(
        result["frames_ms"],
        result["draws"],
        result["moves"],
        result["cars"],
        result["rss_kb"],
        result["hwm_kb"],
        result["window_s"],
        result.get("rss_anon_kb", 0),
        result.get("rss_file_kb", 0),
        result.get("top_mappings", []),
        result.get("gl_kb", 0),
        result.get("mapped_kb", 0),
        result.get("slow_frames", []),
    )


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run(changes: int = 300, keep: bool = False) -> BoardBench:
    """Both phases on one broker and office; a phase that fails is reported, never raised."""
    out = BoardBench()
    root = Path(tempfile.mkdtemp(prefix="madoguchi-board-bench-"))
    rig = Rig(root)
    update: UpdateFigures | None = None
    frames: FrameFigures | None = None
    try:
        print(f"  board: Mosquitto, office and devices under {root}", flush=True)
        rig.start_broker()
        office = rig.new_office("office-board.sqlite3")
        office.start()
        if not office.wait_online(15):
            raise RuntimeError("the office did not come online")
        issue_tickets(rig, TICKETS)
        try:
            t = time.perf_counter()
            update = bench_update(rig, changes)
            print(f"  board update: {len(update.latencies_ms)} changes in {time.perf_counter() - t:.1f} s", flush=True)
        except Exception as err:  # noqa: BLE001 - a bench reports, it does not stop
            out.notes.append(f"board update phase failed: {type(err).__name__}: {err}")
        try:
            t = time.perf_counter()
            frames = bench_frames(rig, root)
            print(
                f"  board frames: {len(frames.frames_ms)} frames ({time.perf_counter() - t:.1f} s in all)", flush=True
            )
        except Exception as err:  # noqa: BLE001
            out.notes.append(f"board frames phase failed: {type(err).__name__}: {err}")
    except Exception as err:  # noqa: BLE001
        out.notes.append(f"board bench set-up failed: {type(err).__name__}: {err}")
    finally:
        rig.close()
        if keep:
            out.notes.append(f"board bench: kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    _report(out, update, frames)
    return out


def _report(out: BoardBench, update: UpdateFigures | None, frames: FrameFigures | None) -> None:
    if update is None or not update.latencies_ms:
        out.rows.append(("board: progress change -> model p99", "n/a", f"<= {UPDATE_P99_TARGET_MS:g} ms", "ERROR"))
    else:
        lat = update.latencies_ms
        p50, p99 = percentile(lat, 50), percentile(lat, 99)
        out.figures["board_update_p99_ms"] = round(p99, 2)
        out.rows += [
            (f"board: progress change -> model p50 ({len(lat)} changes)", f"{p50:.2f} ms", "", ""),
            (
                "board: progress change -> model p99",
                f"{p99:.2f} ms",
                f"<= {UPDATE_P99_TARGET_MS:g} ms",
                verdict(p99 <= UPDATE_P99_TARGET_MS),
            ),
        ]
        out.notes.append(
            f"board update: {update.trains} trains on the board, {len(lat)} staff advances timed "
            f"(max {max(lat):.1f} ms; {update.refused} refused or not seen); model build per snapshot p50/p99 "
            f"{percentile(update.build_ms, 50):.1f}/{percentile(update.build_ms, 99):.1f} ms"
        )
    if frames is None or not frames.frames_ms:
        out.rows += [
            ("board: frame p95, 300 trains animating", "n/a", f"<= {FRAME_P95_TARGET_MS:g} ms", "ERROR"),
            ("board app RSS", "n/a", f"<= {RSS_TARGET_MB:g} MB", "ERROR"),
        ]
        return
    p50, p95 = percentile(frames.frames_ms, 50), percentile(frames.frames_ms, 95)
    rss = frames.rss_kb / 1024
    # Mesa's software GL is split out as two parts: its libraries' file-backed pages and the
    # surfaces it allocates (malloc's own mapped blocks: the window's buffers and the cached
    # board's texture). With a GPU both are the driver's. What is left is the app's own.
    own = (frames.rss_kb - frames.gl_kb - frames.mapped_kb) / 1024
    out.figures.update(board_frame_p95_ms_300=round(p95, 2), board_rss_mb=round(rss, 1), board_rss_app_mb=round(own, 1))
    out.rows += [
        (f"board: frame p50 ({len(frames.frames_ms)} frames)", f"{p50:.2f} ms", "", ""),
        (
            "board: frame p95, 300 trains animating",
            f"{p95:.2f} ms",
            f"<= {FRAME_P95_TARGET_MS:g} ms",
            verdict(p95 <= FRAME_P95_TARGET_MS),
        ),
        ("board app RSS", f"{rss:.1f} MB", f"<= {RSS_TARGET_MB:g} MB", verdict(rss <= RSS_TARGET_MB)),
        (
            "  without Mesa's GL libraries and surfaces",
            f"{own:.1f} MB",
            f"<= {APP_RSS_TARGET_MB:g} MB",
            verdict(own <= APP_RSS_TARGET_MB),
        ),
    ]
    out.notes.append(
        f"board frames: {TICKETS} tickets moved a station on in one burst; {frames.draws} redraws, {frames.moves} "
        f"slides started, {frames.cars} cars and chips drawn (at most display_board.app.MAX_SLIDES slide at once); {len(frames.frames_ms)} frames over "
        f"{frames.window_s:.2f} s, max {max(frames.frames_ms):.1f} ms; frames over 50 ms [ms, of it Python's "
        f"longest garbage collection]: {frames.slow}"
    )
    top = ", ".join(f"{Path(name).name or name} {kb / 1024:.0f}" for name, kb in frames.top[:6])
    out.notes.append(
        f"board app RSS: {rss:.1f} MB (peak {frames.hwm_kb / 1024:.1f}; anonymous {frames.anon_kb / 1024:.0f}, "
        f"file-backed {frames.file_kb / 1024:.0f}); largest mappings (MB): {top}; of the app's own, "
        f"{frames.mapped_kb / 1024:.1f} MB are Mesa's surfaces (the window's buffers and the cached board)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.board_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=300, help="progress changes timed (default 300)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file to merge figures into")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, stores)")
    args = parser.parse_args(argv)
    from bench.dispenser_bench import run_alone

    return run_alone(lambda: run(args.changes, args.keep), args.results)


if __name__ == "__main__":
    sys.exit(main())
