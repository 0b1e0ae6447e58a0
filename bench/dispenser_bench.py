"""The dispenser appliance's bench: press-to-print latency, and the touch app's idle CPU and RSS.

Called by :mod:`bench.run` (``make bench``) after its own phases; also runs alone with
``python -m bench.dispenser_bench`` (``--help``). Everything is real, on a fresh temporary
directory: a Mosquitto child process (``lobby.brokers.MosquittoBroker``), the office server
in-process, and

1. press to print: a device agent and :class:`~ticket_dispenser.device.Dispenser` (crash-safe
   stores, fsync on) printing through the real backend, ``EscposTicketPrinter(transport,
   model)`` with the TM-T20III's facts from its profile. The transport is the behavioural
   fake printer (a python-escpos printer object) with one addition: it notes
   ``time.perf_counter()`` when the job's cut command (the last bytes of a job) is handed to
   its ``_raw``. Each press is timed from just before ``dispenser.issue(purpose)`` to that
   moment, so the figure covers the number, the journal and ticket-log writes, the status
   query before the job, the ticket image render and the ESC/POS encoding, and the writes of
   the earlier raster fragments (the fake parses them, as a real transport would spend time
   writing them). The status query after the job is not in the figure (it follows the cut);
   the whole ``issue()`` call is reported beside it;
2. idle: the touch app as its own process, exactly as a device runs it
   (``python -m ticket_dispenser.cli ui ... --fake-printer DIR --windowed --device-config FILE``,
   ``[display]`` 1280 x 800, maxfps default 30) under Xvfb with GLX (started here when
   ``DISPLAY`` is not set), after its device has synced once with the same office. Once its
   window is up and its CPU use has settled, utime+stime of the process (all its threads, from
   ``/proc/PID/stat``) is sampled over 20 s of idleness, and VmRSS (``/proc/PID/status``) at
   the end. Then it gets SIGTERM; one that does not exit within 5 s is killed and reported.

Figures: ``press_to_print_p50_ms``, ``press_to_print_p99_ms`` (nearest rank),
``dispenser_idle_cpu_pct`` (percent of one core), ``dispenser_rss_mb`` (MiB).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.rig import (
    RESULTS,
    SERIES_PURPOSES,
    Rig,
    has_full_lease,
    is_gl_mapping,
    merge_results,
    percentile,
    verdict,
    wait_for,
)

REPO = Path(__file__).resolve().parents[1]

PRESS_P99_TARGET_MS = 150.0
IDLE_CPU_TARGET_PCT = 5.0
RSS_TARGET_MB = 150.0
APP_RSS_TARGET_MB = 120.0  # without Mesa's file-backed GL libraries (bench.rig.is_gl_mapping)

PRESS_DEVICE_ID = "disp-press"
UI_DEVICE_ID = "disp-ui"
SITE = "demo-town"
MODEL = "TM-T20III"
# Every fifth press is in English: the ticket then carries three more blocks (the resident's
# language), as it does for a share of the residents.
OTHER_LANGUAGE_EVERY = 5

# The app counts as started when its window is mapped and it has used less than this share of
# a core in each of SETTLE_WINDOWS one-second windows, at least MIN_START_S after the spawn.
SETTLE_PCT = 10.0
SETTLE_WINDOWS = 2
MIN_START_S = 5.0
MAX_START_S = 45.0
TERM_GRACE_S = 5.0

Row = tuple[str, str, str, str]


@dataclass
class DispenserBench:
    """What :func:`run` hands to bench.run: JSON figures, table rows and lines for below it."""

    figures: dict[str, float] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- 1. press to print ---------------------------------------------------------------------------


def _timed_printer() -> tuple[Any, Any]:
    """``EscposTicketPrinter(transport, <MODEL's facts>)`` over a fake that notes the cut's time.

    Returns (printer, transport). Imported here: python-escpos is a costly import.
    """
    from common.fonts import find_fonts
    from drivers.escpos_printer import EscposTicketPrinter, FakeEscpos
    from drivers.raster import CUT_PARTIAL_AFTER_FEED
    from firmware_profiles.packaged import printer_model_named

    class CutStampingEscpos(FakeEscpos):
        """The fake printer; ``cut_at`` holds when each job's cut bytes were handed over, and
        ``spent_s`` the time the fake itself spent taking bytes (parsing, status replies)."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.cut_at: list[float] = []
            self.spent_s = 0.0
            self.spent_at_cut: list[float] = []

        def _raw(self, msg: bytes) -> None:
            t = time.perf_counter()
            if bytes(msg) == CUT_PARTIAL_AFTER_FEED:  # print_job writes the cut as its own chunk
                self.cut_at.append(t)
                self.spent_at_cut.append(self.spent_s)
            try:
                super()._raw(msg)
            finally:
                self.spent_s += time.perf_counter() - t

        def _read(self) -> bytes:
            t = time.perf_counter()
            try:
                return bytes(super()._read())
            finally:
                self.spent_s += time.perf_counter() - t

    class RenderTimedPrinter(EscposTicketPrinter):
        """The real backend; notes how long each job's render and ESC/POS encoding took."""

        encode_s: list[float]

        def encode(self, job: Any) -> list[bytes]:
            t = time.perf_counter()
            try:
                return super().encode(job)
            finally:
                self.encode_s.append(time.perf_counter() - t)

    # The facts from the model's profile in the packaged catalog, as the app reads them when its
    # configuration names only the model.
    model = printer_model_named(MODEL)
    # As open_printer does for the app's fake: the model's profile, a bounded history, and the
    # fonts looked up before the first press. No PNGs: a real printer does not write them.
    transport = CutStampingEscpos(profile=model.escpos_profile, keep=20)
    printer = RenderTimedPrinter(transport, model, find_fonts())
    printer.encode_s = []
    return printer, transport


@dataclass
class PressFigures:
    to_cut_ms: list[float]
    issue_ms: list[float]
    encode_ms: list[float]
    fake_ms: list[float]
    unprinted: int
    stalls: int
    seconds: float


def bench_press(rig: Rig, presses: int) -> PressFigures:
    """``presses`` presses back to back, cycling over the 8 number series."""
    from ticket_dispenser.device import Dispenser
    from ticket_dispenser.errors import NumbersExhausted

    agent = rig.new_agent(PRESS_DEVICE_ID)
    agent.start()
    if not wait_for(lambda: agent.office_online and has_full_lease(agent), 20):
        raise RuntimeError("the press dispenser did not receive its configuration and leases")
    printer, transport = _timed_printer()
    dispenser = Dispenser(agent, printer)
    rig.dispensers.append(dispenser)
    to_cut: list[float] = []
    issue: list[float] = []
    encode: list[float] = []
    fake: list[float] = []
    unprinted = stalls = 0
    clock = time.perf_counter
    started = clock()
    for i in range(presses):
        purpose = SERIES_PURPOSES[i % len(SERIES_PURPOSES)]
        language = "en" if i % OTHER_LANGUAGE_EVERY == OTHER_LANGUAGE_EVERY - 1 else "ja"
        stalled_since: float | None = None
        while True:
            cuts, encodes, spent = len(transport.cut_at), len(printer.encode_s), transport.spent_s
            t0 = clock()
            try:
                result = dispenser.issue(purpose, language=language)
            except NumbersExhausted:
                # 300 presses stay well inside the first leases; should one run dry, wait for
                # the office's top-up and press again (the wait is not timed).
                stalls += stalled_since is None
                stalled_since = stalled_since or t0
                if t0 - stalled_since > 30:
                    raise RuntimeError(f"no lease top-up for {purpose} within 30 s") from None
                time.sleep(0.01)
                continue
            t1 = clock()
            break
        issue.append((t1 - t0) * 1000.0)
        if not result.printed or len(transport.cut_at) != cuts + 1:
            unprinted += 1
            continue
        to_cut.append((transport.cut_at[-1] - t0) * 1000.0)
        fake.append((transport.spent_at_cut[-1] - spent) * 1000.0)
        encode.append(sum(printer.encode_s[encodes:]) * 1000.0)
    seconds = clock() - started
    agent.wait_drained(30)
    rig.dispensers.remove(dispenser)
    dispenser.close()
    rig.agents.remove(agent)
    agent.stop()
    if not to_cut:
        raise RuntimeError(f"none of {presses} presses printed")
    return PressFigures(to_cut, issue, encode, fake, unprinted, stalls, seconds)


# -- 2. the touch app, idle --------------------------------------------------------------------


def _free_display() -> int:
    for number in range(90, 200):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            return number
    raise RuntimeError("no free X display number in :90-:199")


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    """Xvfb with GLX on a free display (Kivy draws with Mesa's software GL there)."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise RuntimeError("Xvfb is missing and DISPLAY is not set: install the Debian package xvfb")
    for _attempt in range(5):  # another test may take the same number at the same moment
        number = _free_display()
        proc = subprocess.Popen(
            [xvfb, f":{number}", "-screen", "0", "1920x1200x24", "+extension", "GLX", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        socket = Path(f"/tmp/.X11-unix/X{number}")
        deadline = time.monotonic() + 10
        while not socket.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if socket.exists() and proc.poll() is None:
            return proc, f":{number}"
        _stop(proc, 2)
    raise RuntimeError("Xvfb did not start")


def _stop(proc: subprocess.Popen[Any], grace: float) -> tuple[int, float, bool]:
    """SIGTERM, then SIGKILL after ``grace`` s: (exit status, seconds to exit, killed)."""
    if proc.poll() is not None:
        return proc.returncode, 0.0, False
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(grace)
        return code, time.monotonic() - t0, False
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(10), time.monotonic() - t0, True


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(stat_path: str) -> float:
    """utime + stime of a process (all its threads) or of one thread, in seconds."""
    with open(stat_path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread, by ``name/tid`` (Python's threads are all "python" to the kernel;
    the main thread, Kivy's, is "main")."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = "main" if task.name == str(pid) else (task / "comm").read_text().strip()
            out[f"{name}/{task.name}"] = _cpu_s(str(task / "stat"))
        except OSError:
            continue  # the thread ended
    return out


def _status(pid: int) -> dict[str, int]:
    """The kB fields of /proc/PID/status that matter here, and Threads."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM", "Threads"):
            out[key] = int(value.split()[0])
    return out


def _rss_by_mapping(pid: int) -> Counter[str]:
    """Resident kB per mapped file ('[anon]', '[heap]' for anonymous memory)."""
    rss: Counter[str] = Counter()
    current = "[anon]"
    header = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        if header.match(line):
            parts = line.split(None, 5)
            current = parts[5].strip() if len(parts) > 5 else "[anon]"
        elif line.startswith("Rss:"):
            rss[current] += int(line.split()[1])
    return rss


def _window_mapped(display: str, title: str = "madoguchi dispenser") -> bool | None:
    """Whether a window with ``title`` is on the display (None: xwininfo is not installed)."""
    xwininfo = shutil.which("xwininfo")
    if xwininfo is None:
        return None
    run = subprocess.run(
        [xwininfo, "-root", "-tree"],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return f'"{title}"' in run.stdout


@dataclass
class IdleFigures:
    cpu_pct: float
    idle_s: float
    rss_kb: int
    status: dict[str, int]
    gl_kb: int
    gl_driver: str
    threads_cpu_s: dict[str, float]
    startup_s: float
    settled: bool
    window: bool | None
    exit_code: int
    exit_s: float
    killed: bool


def bench_idle(rig: Rig, root: Path, idle_s: float) -> IdleFigures:
    """Sync the UI device once, start the app, let it settle, sample it idle, stop it."""
    agent = rig.new_agent(UI_DEVICE_ID)
    agent.start()
    if not wait_for(lambda: agent.office_online and has_full_lease(agent), 20):
        raise RuntimeError("the UI device did not receive its configuration and leases")
    rig.agents.remove(agent)
    agent.stop()

    xvfb: subprocess.Popen[bytes] | None = None
    display = os.environ.get("DISPLAY")
    if not display:
        xvfb, display = start_xvfb()
    from drivers.printer_model import facts_table
    from firmware_profiles import tomlwrite
    from firmware_profiles.packaged import printer_model_named

    config = root / "device-ui.toml"
    # As provisioning writes it: the printer's facts in the configuration, so the app reads no
    # profile at start (a device in the field does not; --fake-printer keeps the facts).
    device = {
        "display": {"width": 1280, "height": 800},
        "printer": {"model": MODEL, "backend": "fake", "facts": facts_table(printer_model_named(MODEL))},
    }
    config.write_text(tomlwrite.dumps(device), encoding="utf-8")
    env = dict(os.environ, DISPLAY=display, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    log_path = root / "dispenser-ui.log"
    app: subprocess.Popen[bytes] | None = None
    try:
        with open(log_path, "wb") as log_file:
            app = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ticket_dispenser.cli",
                    "ui",
                    "--broker",
                    rig.broker.url,
                    "--site",
                    SITE,
                    "--device-id",
                    UI_DEVICE_ID,
                    "--data",
                    str(root / UI_DEVICE_ID),
                    "--fake-printer",
                    str(root / "printed-ui"),
                    "--windowed",
                    "--device-config",
                    str(config),
                ],
                cwd=REPO,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        pid = app.pid
        stat = f"/proc/{pid}/stat"
        t_spawn = time.monotonic()
        prev_cpu, prev_t = _cpu_s(stat), t_spawn
        quiet, window, settled = 0, None, False
        while time.monotonic() - t_spawn < MAX_START_S:
            time.sleep(1.0)
            if app.poll() is not None:
                raise RuntimeError(
                    f"the dispenser app exited with {app.returncode} during start-up:\n{_tail(log_path)}"
                )
            cpu, now = _cpu_s(stat), time.monotonic()
            rate = (cpu - prev_cpu) / (now - prev_t) * 100.0
            prev_cpu, prev_t = cpu, now
            if now - t_spawn < MIN_START_S:
                continue
            if not window:
                window = _window_mapped(display)
                if window is False:
                    continue
            quiet = quiet + 1 if rate <= SETTLE_PCT else 0
            if quiet >= SETTLE_WINDOWS:
                settled = True
                break
        startup_s = time.monotonic() - t_spawn

        threads0 = _thread_cpu(pid)
        cpu0, t0 = _cpu_s(stat), time.monotonic()
        time.sleep(idle_s)
        if app.poll() is not None:
            raise RuntimeError(f"the dispenser app exited with {app.returncode} while idle:\n{_tail(log_path)}")
        cpu1, t1 = _cpu_s(stat), time.monotonic()
        threads1 = _thread_cpu(pid)
        status = _status(pid)
        by_mapping = _rss_by_mapping(pid)
        gl = {k: v for k, v in by_mapping.items() if is_gl_mapping(k)}
        gl_driver = ", ".join(sorted(Path(k).name for k in gl if k.endswith("_dri.so"))) or "none"
        code, exit_s, killed = _stop(app, TERM_GRACE_S)
        app = None
    finally:
        if app is not None:
            _stop(app, TERM_GRACE_S)
        if xvfb is not None:
            _stop(xvfb, 5)
    threads = {k: threads1[k] - threads0.get(k, 0.0) for k in threads1}
    return IdleFigures(
        cpu_pct=(cpu1 - cpu0) / (t1 - t0) * 100.0,
        idle_s=t1 - t0,
        rss_kb=status["VmRSS"],
        status=status,
        gl_kb=sum(gl.values()),
        gl_driver=gl_driver,
        threads_cpu_s=threads,
        startup_s=startup_s,
        settled=settled,
        window=window,
        exit_code=code,
        exit_s=exit_s,
        killed=killed,
    )


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# -- run ------------------------------------------------------------------------------------------


def run(presses: int = 300, idle_s: float = 20.0, keep: bool = False) -> DispenserBench:
    """Both phases on one broker and office; a phase that fails is reported, never raised."""
    out = DispenserBench()
    root = Path(tempfile.mkdtemp(prefix="madoguchi-dispenser-bench-"))
    rig = Rig(root)
    press: PressFigures | None = None
    idle: IdleFigures | None = None
    try:
        print(f"  dispenser: Mosquitto, office and devices under {root}", flush=True)
        rig.start_broker()
        office = rig.new_office("office-dispenser.sqlite3")
        office.start()
        if not office.wait_online(15):
            raise RuntimeError("the office did not come online")
        try:
            press = bench_press(rig, presses)
            print(f"  dispenser press: {presses} presses in {press.seconds:.1f} s", flush=True)
        except Exception as err:  # noqa: BLE001 - a bench reports, it does not stop
            out.notes.append(f"dispenser press phase failed: {type(err).__name__}: {err}")
        try:
            idle = bench_idle(rig, root, idle_s)
            print(f"  dispenser app: up in {idle.startup_s:.1f} s, sampled {idle.idle_s:.1f} s idle", flush=True)
        except Exception as err:  # noqa: BLE001
            out.notes.append(f"dispenser app phase failed: {type(err).__name__}: {err}")
    except Exception as err:  # noqa: BLE001
        out.notes.append(f"dispenser bench set-up failed: {type(err).__name__}: {err}")
    finally:
        rig.close()
        if keep:
            out.notes.append(f"dispenser bench: kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    _report_press(out, press)
    _report_idle(out, idle)
    return out


def _report_press(out: DispenserBench, press: PressFigures | None) -> None:
    if press is None:
        out.rows.append(("press -> print bytes p99", "n/a", f"<= {PRESS_P99_TARGET_MS:g} ms", "ERROR"))
        return
    p50, p99 = percentile(press.to_cut_ms, 50), percentile(press.to_cut_ms, 99)
    n = len(press.to_cut_ms)
    out.figures.update(press_to_print_p50_ms=round(p50, 2), press_to_print_p99_ms=round(p99, 2))
    out.rows += [
        (f"press -> print bytes p50 ({n} presses)", f"{p50:.2f} ms", "", ""),
        (
            "press -> print bytes p99",
            f"{p99:.2f} ms",
            f"<= {PRESS_P99_TARGET_MS:g} ms",
            verdict(p99 <= PRESS_P99_TARGET_MS),
        ),
        ("  (first press / max)", f"{press.to_cut_ms[0]:.2f} / {max(press.to_cut_ms):.2f} ms", "", ""),
        (
            "  (p50 render+encode / fake printer)",
            f"{percentile(press.encode_ms, 50):.2f} / {percentile(press.fake_ms, 50):.2f} ms",
            "",
            "",
        ),
        (
            "  (whole issue() p50 / p99)",
            f"{percentile(press.issue_ms, 50):.2f} / {percentile(press.issue_ms, 99):.2f} ms",
            "",
            "",
        ),
    ]
    rest = [t - e - f for t, e, f in zip(press.to_cut_ms, press.encode_ms, press.fake_ms, strict=True)]
    out.notes.append(
        f"dispenser press: {n} printed presses ({press.unprinted} not printed, {press.stalls} lease stalls), "
        f"{MODEL} raster, every {OTHER_LANGUAGE_EVERY}th in English; per press p50/p99: render+encode "
        f"{percentile(press.encode_ms, 50):.1f}/{percentile(press.encode_ms, 99):.1f} ms, the fake printer taking "
        f"the status query and earlier fragments {percentile(press.fake_ms, 50):.1f}/{percentile(press.fake_ms, 99):.1f} ms, "
        f"the rest (number, journal and ticket log with fsync, status handling) "
        f"{percentile(rest, 50):.1f}/{percentile(rest, 99):.1f} ms"
    )


def _report_idle(out: DispenserBench, idle: IdleFigures | None) -> None:
    if idle is None:
        out.rows += [
            ("dispenser app idle CPU", "n/a", f"<= {IDLE_CPU_TARGET_PCT:g} % of one core", "ERROR"),
            ("dispenser app RSS", "n/a", f"<= {RSS_TARGET_MB:g} MB", "ERROR"),
        ]
        return
    rss_mb = idle.rss_kb / 1024
    own_mb = (idle.rss_kb - idle.gl_kb) / 1024
    out.figures.update(
        dispenser_idle_cpu_pct=round(idle.cpu_pct, 2),
        dispenser_rss_mb=round(rss_mb, 1),
        dispenser_rss_app_mb=round(own_mb, 1),
    )
    s = idle.status
    out.rows += [
        (
            f"dispenser app idle CPU ({idle.idle_s:.0f} s)",
            f"{idle.cpu_pct:.2f} %",
            f"<= {IDLE_CPU_TARGET_PCT:g} % of one core",
            verdict(idle.cpu_pct <= IDLE_CPU_TARGET_PCT),
        ),
        ("dispenser app RSS", f"{rss_mb:.1f} MB", f"<= {RSS_TARGET_MB:g} MB", verdict(rss_mb <= RSS_TARGET_MB)),
        (
            "  without Mesa's GL libraries",
            f"{own_mb:.1f} MB",
            f"<= {APP_RSS_TARGET_MB:g} MB",
            verdict(own_mb <= APP_RSS_TARGET_MB),
        ),
        (
            "  (anon / file / shmem)",
            f"{s.get('RssAnon', 0) / 1024:.0f} / {s.get('RssFile', 0) / 1024:.0f} / {s.get('RssShmem', 0) / 1024:.0f} MB",
            "",
            "",
        ),
    ]
    busiest = sorted(idle.threads_cpu_s.items(), key=lambda kv: -kv[1])[:4]
    threads = ", ".join(f"{name} {cpu / idle.idle_s * 100:.2f} %" for name, cpu in busiest if cpu > 0)
    window = {True: "window mapped", False: "window not seen", None: "xwininfo missing"}[idle.window]
    out.notes.append(
        f"dispenser app: up and settled in {idle.startup_s:.1f} s ({window}"
        f"{'' if idle.settled else f', CPU did not settle below {SETTLE_PCT:g} % within {MAX_START_S:g} s'}); "
        f"{s.get('Threads', 0)} threads; busiest while idle: {threads or 'none above 0'}"
    )
    out.notes.append(
        f"dispenser app RSS: {rss_mb:.1f} MB (peak {s.get('VmHWM', 0) / 1024:.1f}), of which "
        f"{idle.gl_kb / 1024:.1f} MB file-backed pages of Mesa's software GL ({idle.gl_driver} and libLLVM)"
    )
    if idle.killed:
        out.notes.append(
            f"dispenser app: did NOT exit within {TERM_GRACE_S:g} s of SIGTERM and was killed "
            "(it should exit cleanly on SIGTERM)"
        )
    elif idle.exit_code != 0:
        out.notes.append(
            f"dispenser app: SIGTERM ended it with status {idle.exit_code} after {idle.exit_s:.2f} s "
            "(negative: killed by the signal, its shutdown did not run)"
        )
    else:
        out.notes.append(f"dispenser app: exited cleanly (status 0) {idle.exit_s:.2f} s after SIGTERM")


def print_table(rows: list[Row]) -> None:
    """The same layout as bench.run's table."""
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    twidth = max(len(r[2]) for r in rows)
    print(f"{'figure':<{width}}  {'value':>{vwidth}}  {'target':<{twidth}}  result")
    print(f"{'-' * width}  {'-' * vwidth}  {'-' * twidth}  ------")
    for name, value, target, result in rows:
        print(f"{name:<{width}}  {value:>{vwidth}}  {target:<{twidth}}  {result}".rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dispenser_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--presses", type=int, default=300, help="presses timed (default 300)")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds the idle app is sampled (default 20)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file to merge figures into")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, stores)")
    args = parser.parse_args(argv)
    return run_alone(lambda: run(args.presses, args.idle, args.keep), args.results)


def run_alone(bench: Any, results: Path) -> int:
    """One appliance bench on its own (``python -m bench.<name>``): run it with the log tally,
    merge its figures into ``results``, print its table, notes and log lines."""
    from bench.rig import captured_logs

    with captured_logs() as tally:
        result = bench()
    merge_results(results, result.figures)
    print()
    print_table(result.rows)
    print()
    for line in result.notes:
        print(line)
    for (level, key), count in tally.counts.most_common():
        print(f"  {count:6d} x {level}: {tally.examples[(level, key)]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
