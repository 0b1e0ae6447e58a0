#!/usr/bin/env python3
"""Render the lobby board into docs/screenshots/: empty, 10 trains, 300 trains, offline (stale)
and mid-animation, from the real board under Xvfb fed by a real office on a real broker.

    python scripts/board_screenshots.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from bench.board_bench import Staff
from harness import env, has_full_lease, start_dispenser, start_office
from lobby.brokers import MosquittoBroker
from sync import messages

OUT = REPO / "docs" / "screenshots"
MIX = ["moving", "certificates", "family_register", "birth", "death", "childcare", "tax", "my_number"]


def board(
    display: str,
    broker: MosquittoBroker,
    tmp: Path,
    name: str,
    shots: str,
    during: Callable[[Path], None] | None = None,
) -> dict[str, Any]:
    out = tmp / name
    e = env()
    e["DISPLAY"] = display
    proc = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "tests" / "board_driver.py"),
            "--broker",
            broker.url,
            "--data",
            str(tmp / f"{name}-data"),
            "--out",
            str(out),
            "--shots",
            shots,
        ],
        env=e,
    )
    if during is not None:
        during(out)
    if proc.wait(180) != 0:
        raise SystemExit(f"{name}: board driver failed")
    for png in out.glob("*.png"):
        shutil.copy(png, OUT / png.name)
        print("wrote", OUT / png.name)
    result: dict[str, Any] = json.loads((out / "result.json").read_text(encoding="utf-8"))
    print(
        json.dumps(
            [
                {k: v for k, v in shot.items() if k in ("name", "sliding", "static_widgets", "moves")}
                for shot in result["shots"]
            ]
        )
    )
    return result


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="madoguchi-board-shots-"))
    xvfb = subprocess.Popen(
        ["Xvfb", ":78", "-screen", "0", "1920x1200x24", "+extension", "GLX", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)
    broker = MosquittoBroker(tmp / "broker")
    broker.start()
    try:
        office = start_office(broker.url, tmp / "office.sqlite3")
        board(":78", broker, tmp, "empty", "board-empty.png:3")
        disp = start_dispenser(broker.url, tmp / "disp-1", "disp-1")
        while not has_full_lease(disp):
            time.sleep(0.05)
        ids = [disp.dispenser.issue(MIX[i % len(MIX)]).ticket for i in range(10)]

        staff = Staff(broker.url)

        def work(*lines: str) -> list[messages.StaffReply]:
            """Staff commands over MQTT, as a clerk's terminal sends them; the office's replies."""
            ids_ = [staff.send(line) for line in lines]
            return [staff.wait_reply(r) for r in ids_]

        work(*(f"call next at counter {c}" for c in (1, 2, 3, 4)))
        work(f"advance {ids[0].series}-{ids[0].number} to input", f"advance {ids[1].series}-{ids[1].number} to issuing")
        time.sleep(1)

        def move_later(_out: Path) -> None:
            time.sleep(4.0)  # after the first shot: move a train, caught mid-slide by the second
            work(f"advance {ids[0].series}-{ids[0].number} to review", f"done {ids[1].series}-{ids[1].number}")

        board(
            ":78",
            broker,
            tmp,
            "ten",
            "board-10-trains.png:3,board-mid-animation.png:@slide,board-after-move.png:2",
            during=move_later,
        )
        more = [disp.dispenser.issue(MIX[i % len(MIX)]).ticket for i in range(290)]
        # A busy afternoon: a third still waiting, the rest spread over the back-office stations.
        for i, t in enumerate(more):
            # Replies saying a station is not on this ticket's route are expected and ignored.
            work(
                *(f"advance {t.series}-{t.number} to {station}" for station in ("input", "review", "issuing")[: i % 4])
            )
        time.sleep(2)
        board(":78", broker, tmp, "many", "board-300-trains.png:4")

        def office_gone(_out: Path) -> None:
            time.sleep(3.0)
            office.stop()  # its last will says offline; the board keeps the last state

        board(":78", broker, tmp, "stale", "board-before-offline.png:2,board-offline-stale.png:4", during=office_gone)
        disp.close()
        staff.close()
    finally:
        broker.stop()
        xvfb.terminate()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
