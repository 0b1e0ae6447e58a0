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
    size: tuple[int, int] = (1920, 1080),
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
            "--width",
            str(size[0]),
            "--height",
            str(size[1]),
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

        def move_later(out: Path) -> None:
            # After the first shot (the board is up and watching for a slide): move a train,
            # caught mid-slide by the second shot.
            deadline = time.monotonic() + 120
            while not (out / "board-10-trains.png").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)
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
        board(":78", broker, tmp, "many-1600", "board-300-trains-1600x900.png:4", size=(1600, 900))
        # Each lobby language in turn on the caption, the footer and the headings (8 s each).
        langs = board(":78", broker, tmp, "languages", ",".join(f"lang-{i}.png:{8 if i else 4}" for i in range(6)))
        for shot in langs["shots"]:
            shutil.move(OUT / shot["name"], OUT / f"board-language-{shot['language']}.png")
            print("renamed", shot["name"], "to", f"board-language-{shot['language']}.png")
        rest = [disp.dispenser.issue(MIX[i % len(MIX)]).ticket for i in range(700)]
        # Neighbouring numbers of a series (every eighth ticket: MIX has eight purposes) go to
        # different stations, so few runs form and the busy stations turn pages.
        for i, t in enumerate(rest[:500]):
            work(*(f"advance {t.series}-{t.number} to {s}" for s in ("input", "review", "issuing")[: (i // 8) % 4]))
        time.sleep(2)
        # A day no lobby should see: 1,000 tickets in the building. The busy stations list their
        # numbers and turn pages; two shots a page apart.
        board(":78", broker, tmp, "thousand", "board-1000-trains.png:4,board-1000-trains-next-page.png:3")
        board(":78", broker, tmp, "thousand-1600", "board-1000-trains-1600x900.png:4", size=(1600, 900))

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
