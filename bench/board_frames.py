"""The board app for bench.board_bench: runs the real ``madoguchi-board`` window with no frame cap
and records how long each frame takes while the trains slide.

    python -m bench.board_frames --broker URL --site SITE --device-id ID --data DIR --out DIR

Protocol with the bench through files in OUT:

1. once the board shows the office's tickets and has been idle for 2 s, it writes
   ``ready.json``: {"next": [[number, next station code], ...]} for every train short of the
   terminal;
2. the bench writes ``wave`` and sends the staff commands; from then on every frame's duration
   is recorded (Kivy's Clock, a callback each frame, with ``maxfps = 0``);
3. after the bench writes ``sent``, recording goes on until no redraw has come for
   MOVE_S + 0.3 s (the last slide has ended); once the board is at rest (the arrived cars settled
   and the heap trimmed: display_board.app's SETTLE_S and TRIM_S), ``frames.json`` holds the
   frames of the window from the first redraw after the wave to the end of the last slide, and
   VmRSS/VmHWM at rest.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.rig import is_gl_mapping
from common.device_config import BoardDisplay
from display_board.app import MOVE_S
from display_board.cli import BoardConfig, run_board
from drivers.speech import SpeechConfig
from sync.agent import AgentConfig, DeviceAgent

# A full-HD board without a frame cap (the frame times are the measure) and silent.
_BENCH_CONFIG = BoardConfig(display=BoardDisplay(width=1920, height=1080, maxfps=0), speech=SpeechConfig())


def _proc_status() -> dict[str, int]:
    values: dict[str, int] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key] = int(parts[0])
    return values


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--broker", required=True)
    p.add_argument("--site", required=True)
    p.add_argument("--device-id", required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    agent = DeviceAgent(
        AgentConfig(site=a.site, device_id=a.device_id, role="board", broker_url=a.broker, data_dir=a.data)
    )

    def started(app: Any, controller: Any, _announcer: Any) -> None:
        from kivy.clock import Clock

        state: dict[str, Any] = {
            "phase": "settle",
            "since": time.perf_counter(),
            "frames": [],
            "draws": [],
            "moves": 0,
            "cars": 0,
        }
        draw = app.draw

        def counted_draw() -> None:
            draw()
            if state["phase"] == "wave":
                state["draws"].append(time.perf_counter())
                state["moves"] += len(app.last_moves)

        app.draw = counted_draw
        from kivy.core.window import Window

        flips: list[float] = []

        def flipped(*_: Any) -> None:
            if state["phase"] == "wave":
                flips.append(time.perf_counter())

        Window.bind(on_flip=flipped)
        # Python's collections during the wave, (start, ms, generation): to tell a frame that a
        # collection made long from one the drawing did.
        collections: list[tuple[float, float, int]] = []
        began: dict[str, float] = {}

        def collected(phase: str, info: dict[str, int]) -> None:
            if state["phase"] != "wave":
                return
            now = time.perf_counter()
            if phase == "start":
                began["t"] = now
            elif "t" in began:
                collections.append((began["t"], (now - began.pop("t")) * 1000.0, info["generation"]))

        gc.callbacks.append(collected)

        def frame(_dt: float) -> None:
            now = time.perf_counter()
            view = controller.view
            if state["phase"] == "settle":
                shown = sum(len(ln.trains) + len(ln.hidden) for ln in view.lines) if view is not None else 0
                if shown < 300:
                    state["since"] = now
                elif now - state["since"] > 2.0:
                    nxt = [
                        [t.number, ln.stations[t.station_index + 1].code]
                        for ln in view.lines
                        for t in (*ln.trains, *ln.hidden)
                        if t.station_index + 1 < len(ln.stations) - 1
                    ]
                    (a.out / "ready.json").write_text(json.dumps({"next": nxt}), encoding="utf-8")
                    state["phase"] = "armed"
            elif state["phase"] == "armed":
                if (a.out / "wave").exists():
                    state["phase"] = "wave"
            elif state["phase"] == "wave":
                draws = state["draws"]
                if (a.out / "sent").exists() and draws and now - draws[-1] > MOVE_S + 0.3:
                    # A frame is the time from one buffer swap to the next while something moves:
                    # from the swap before the first redraw to the end of the last slide.
                    start, end = draws[0], draws[-1] + MOVE_S
                    before = [t for t in flips if t < start]
                    swaps = ([before[-1]] if before else []) + [t for t in flips if start <= t <= end + 0.05]
                    state["frames"] = [(b - a_) * 1000.0 for a_, b in itertools.pairwise(swaps)]
                    # The longest collection that ran inside each of the frames over 50 ms.
                    state["slow"] = [
                        [
                            round((b - a_) * 1000.0, 1),
                            round(max((ms for t, ms, _ in collections if a_ <= t < b), default=0), 1),
                        ]
                        for a_, b in itertools.pairwise(swaps)
                        if (b - a_) * 1000.0 > 50
                    ]
                    state["window_s"] = end - start
                    state["cars"] = len(app.resting)
                    state["phase"] = "rest"
            elif state["phase"] == "rest":
                # Memory is read once the board is at rest after the wave: the arrived cars are
                # in the cached board and the heap's free pages went back (display_board.app,
                # TRIM_S) - what a lobby board holds between two bursts.
                if app.sliding or app.settle_event is not None or app.trim_event is not None:
                    return
                st = _proc_status()
                (a.out / "frames.json").write_text(
                    json.dumps(
                        {
                            "frames_ms": state["frames"],
                            "draws": len(state["draws"]),
                            "moves": state["moves"],
                            "cars": state["cars"],
                            "rss_kb": st.get("VmRSS", 0),
                            "rss_anon_kb": st.get("RssAnon", 0),
                            "rss_file_kb": st.get("RssFile", 0),
                            "top_mappings": _top_mappings(),
                            "gl_kb": _gl_kb(),
                            "mapped_kb": _malloc_mapped_kb(),
                            "hwm_kb": st.get("VmHWM", 0),
                            "window_s": state["window_s"],
                            "slow_frames": state["slow"],
                        }
                    ),
                    encoding="utf-8",
                )
                state["phase"] = "done"
                Clock.schedule_once(lambda dt: app.stop(), 0.5)

        Clock.schedule_interval(frame, 0.02)  # the phases; frames are timed by on_flip

    import os

    if os.environ.get("BOARD_FRAMES_PROFILE"):  # where the frame time goes (development aid)
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        try:
            return run_board(argparse.Namespace(windowed=True), _BENCH_CONFIG, agent, on_started=started)
        finally:
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").dump_stats(str(a.out / "profile.pstats"))
    args = argparse.Namespace(windowed=True)
    return run_board(args, _BENCH_CONFIG, agent, on_started=started)


def _top_mappings(count: int = 8) -> list[tuple[str, int]]:
    """The largest resident mappings (kB), to see where the memory goes."""
    sizes: dict[str, int] = {}
    current = "[anon]"
    for line in Path("/proc/self/smaps").read_text().splitlines():
        first = line.split(None, 1)[0]
        if "-" in first and ":" not in first:
            parts = line.split(None, 5)
            current = parts[5].strip() if len(parts) > 5 else "[anon]"
        elif line.startswith("Rss:"):
            sizes[current] = sizes.get(current, 0) + int(line.split()[1])
    return sorted(sizes.items(), key=lambda kv: -kv[1])[:count]


def _malloc_mapped_kb() -> int:
    """kB in the blocks glibc's malloc maps one by one (those over its mmap threshold), from
    ``malloc_info``. In the board these are Mesa's surfaces: the window's buffers and the cached
    board's texture (measured: an empty 1920 x 1080 window makes five, the board's Fbo one more;
    the Python side allocates nothing that large). 0 where the C library has no malloc_info."""
    import ctypes
    import os
    import re
    import tempfile

    try:
        libc = ctypes.CDLL(None)
        fdopen, malloc_info, fclose = libc.fdopen, libc.malloc_info, libc.fclose
    except (OSError, AttributeError):
        return 0
    fdopen.restype = ctypes.c_void_p
    fdopen.argtypes = [ctypes.c_int, ctypes.c_char_p]
    malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    fclose.argtypes = [ctypes.c_void_p]
    with tempfile.TemporaryFile() as f:
        stream = fdopen(os.dup(f.fileno()), b"w")
        if not stream:
            return 0
        malloc_info(0, stream)
        fclose(stream)
        f.seek(0)
        totals = re.findall(rb'<total type="mmap" count="\d+" size="(\d+)"/>', f.read())
    return int(totals[-1]) // 1024 if totals else 0


def _gl_kb() -> int:
    """Resident kB of Mesa's software GL that the process maps from files: libLLVM, the DRI
    driver, libGL and the X server's shared images (its anonymous buffers cannot be told apart)."""
    return sum(kb for name, kb in _top_mappings(10_000) if is_gl_mapping(name))


if __name__ == "__main__":
    sys.exit(main())
