#!/usr/bin/env python3
"""Render every dispenser screen (Japanese and English) and the printed tickets (one per lobby
language) into docs/screenshots/, from the real app under Xvfb and the real printer bytes.

    python scripts/screenshots.py          # needs Xvfb, Mosquitto and fonts-noto-cjk (make deps)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from harness import env
from lobby.brokers import MosquittoBroker
from office import config as configmod
from office.server import OfficeServer
from sync.site import SiteConfig

OUT = REPO / "docs" / "screenshots"
LANGS = ["ja", "en", "zh_CN", "ko", "vi", "pt"]


def site(**changes: Any) -> SiteConfig:
    doc = tomllib.loads((REPO / "office" / "default_site.toml").read_text(encoding="utf-8"))
    for key, value in changes.items():
        if key == "dispenser":
            doc["dispenser"].update(value)
        elif key == "cap":
            for cat in doc["categories"]:
                if cat["code"] == value:
                    cat["daily_cap"] = 1
    return configmod.parse(doc)


def run(
    display: str,
    broker: MosquittoBroker,
    tmp: Path,
    name: str,
    steps: list[dict[str, object]],
    config: SiteConfig,
) -> None:
    office = OfficeServer(config, tmp / f"{name}.sqlite3", broker.url)
    office.start()
    office.wait_online(15)
    try:
        script = tmp / f"{name}.json"
        script.write_text(json.dumps(steps), encoding="utf-8")
        e = env()
        e["DISPLAY"] = display
        out = tmp / name
        subprocess.run(
            [
                sys.executable,
                str(REPO / "tests" / "ui_driver.py"),
                "--broker",
                broker.url,
                "--data",
                str(tmp / f"{name}-data"),
                "--out",
                str(out),
                "--script",
                str(script),
                "--device-id",
                f"disp-shots-{name}",
            ],
            env=e,
            check=True,
            timeout=300,
        )
        result = json.loads((out / "result.json").read_text(encoding="utf-8"))
        if result["errors"]:
            raise SystemExit(f"{name}: {result['errors']}")
        for png in out.glob("*.png"):
            shutil.copy(png, OUT / png.name)
            print("wrote", OUT / png.name)
    finally:
        office.stop()


def flow(lang: str) -> list[dict[str, object]]:
    return [
        {"wait": "start"},
        {"language": lang},
        {"shot": f"dispenser-start-{lang}.png"},
        {"touch": "purpose:moving"},
        {"wait": "checklist"},
        {"touch": "proc:0"},
        {"touch": "proc:2"},
        {"shot": f"dispenser-checklist-{lang}.png"},
        {"touch": "confirm"},
        {"wait": "result"},
        {"shot": f"dispenser-result-{lang}.png"},
        {"ticket_png": f"ticket-{lang}.png"},
        {"touch": "back"},
        {"wait": "start"},
    ]


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="madoguchi-shots-"))
    xvfb = subprocess.Popen(
        ["Xvfb", ":77", "-screen", "0", "1920x1200x24", "+extension", "GLX", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)
    broker = MosquittoBroker(tmp / "broker")
    broker.start()
    try:
        default = site()
        steps: list[dict[str, object]] = []
        for lang in ("ja", "en"):
            steps += flow(lang)
            steps += [
                {"language": lang},
                {"printer": "set_paper", "args": [0]},
                {"touch": "purpose:certificates"},
                {"wait": "checklist"},
                {"touch": "confirm"},
                {"wait": "printer_fault"},
                {"shot": f"dispenser-printer-fault-{lang}.png"},
                {"printer": "set_paper", "args": [500]},
                {"check_printer": True},
                {"touch": "back"},
                {"wait": "start"},
            ]
        run(":77", broker, tmp, "flow", steps, default)
        tickets: list[dict[str, object]] = []
        for lang in LANGS[2:]:
            tickets += [
                {"wait": "start"},
                {"language": lang},
                {"touch": "purpose:certificates"},
                {"wait": "checklist"},
                {"touch": "confirm"},
                {"wait": "result"},
                {"ticket_png": f"ticket-{lang}.png"},
                {"shot": f"dispenser-result-{lang}.png"},
                {"touch": "back"},
                {"wait": "start"},
            ]
        tickets += [
            {"office_offline": True},
            {"language": "en"},
            {"shot": "dispenser-offline-en.png"},
            {"language": "ja"},
            {"shot": "dispenser-offline-ja.png"},
        ]
        run(":77", broker, tmp, "langs", tickets, default)
        # A real office's hours, with today declared a holiday: closed whenever this runs.
        today = datetime.now(ZoneInfo("Asia/Tokyo")).date().isoformat()
        closed = site(dispenser={"open": "08:30", "close": "17:15", "closed_weekdays": [5, 6], "holidays": [today]})
        run(
            ":77",
            broker,
            tmp,
            "closed",
            [
                {"wait": "closed"},
                {"shot": "dispenser-closed-ja.png"},
                {"language": "en"},
                {"shot": "dispenser-closed-en.png"},
            ],
            closed,
        )
        capped = site(cap="certificates")
        run(
            ":77",
            broker,
            tmp,
            "cap",
            [
                {"wait": "start"},
                {"touch": "purpose:certificates"},
                {"wait": "checklist"},
                {"touch": "confirm"},
                {"wait": "result"},
                {"touch": "back"},
                {"wait": "start"},
                {"touch": "purpose:certificates"},
                {"wait": "numbers_out"},
                {"shot": "dispenser-numbers-out-ja.png"},
                {"touch": "back"},
                {"wait": "start"},
                {"language": "en"},
                {"touch": "purpose:certificates"},
                {"wait": "numbers_out"},
                {"shot": "dispenser-numbers-out-en.png"},
            ],
            capped,
        )
    finally:
        broker.stop()
        xvfb.terminate()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
