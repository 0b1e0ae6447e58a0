#!/usr/bin/env python3
"""Render the console's statistics pages into docs/screenshots/ over a year of the demo town's
generated history (office/stats/history.py) and a few of today's tickets, in Debian's Chromium.

    python scripts/stats_screenshots.py

stats-year-ja.png (the last twelve months), stats-season-ja.png (the moving season), stats-today-ja.png
(today so far, with the forecast), stats-year-en.png, stats-year-phone-ja.png (a phone held upright),
stats-print-ja.png (the year as it prints on A4), console-floor-forecast-ja.png (the floor view's
forecast).
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from playwright.sync_api import ViewportSize

from common.calendar import business_day
from console_harness import Shot, act_as, shoot, start_console
from lobby.brokers import MosquittoBroker
from office import actions
from office import config as configmod
from office.db import OfficeDB
from office.stats import history, store
from office.stats_cli import write_history

OUT = REPO / "docs" / "screenshots"
FLOOR = actions.Actor("kato", "floor")
CLERK = actions.Actor("suzuki", "clerk", 1)


def rid() -> str:
    return uuid.uuid4().hex


def main() -> int:
    site = configmod.load(None)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="stats-shots-") as tmp:
        root = Path(tmp)
        db_path = root / "office.sqlite3"
        today = business_day(int(time.time() * 1000), ZoneInfo(site.timezone), site.rollover_hour)
        db = OfficeDB(db_path)
        write_history(db, history.generate(site, today - timedelta(days=365), today - timedelta(days=1), seed=7))
        store.warm(db, today.isoformat())
        db.close()
        broker = MosquittoBroker(root / "broker")
        broker.start()
        console = start_console(broker.url, db_path)
        try:
            for n in range(12):  # today so far: a few residents, some called and served
                purpose = ("certificates", "moving", "family_register")[n % 3]
                act_as(console, FLOOR, actions.IssueTicket(request_id=rid(), purpose=purpose))
            for _ in range(5):
                act_as(console, CLERK, actions.CallNext(request_id=rid()))
            season = history.season_bump  # noqa: F841 - the generator's season: 20 March to 10 April
            year = f"from={today - timedelta(days=365)}&to={today - timedelta(days=1)}"
            spring = date(today.year if today.month > 4 else today.year - 1, 3, 16)
            pages = (
                ("stats-year-ja.png", "ja-JP", f"stats?{year}", ViewportSize(width=1440, height=900), "screen"),
                (
                    "stats-season-ja.png",
                    "ja-JP",
                    f"stats?from={spring}&to={spring + timedelta(days=34)}",
                    ViewportSize(width=1440, height=900),
                    "screen",
                ),
                ("stats-today-ja.png", "ja-JP", "stats", ViewportSize(width=1440, height=900), "screen"),
                ("stats-year-en.png", "en-GB", f"stats?{year}", ViewportSize(width=1440, height=900), "screen"),
                ("stats-year-phone-ja.png", "ja-JP", f"stats?{year}", ViewportSize(width=390, height=844), "screen"),
                ("stats-print-ja.png", "ja-JP", f"stats?{year}", ViewportSize(width=794, height=1123), "print"),
                ("console-floor-forecast-ja.png", "ja-JP", "floor", ViewportSize(width=1440, height=900), "screen"),
            )
            written += shoot(
                (
                    Shot(name, console.url, "kato", target, viewport["width"], viewport["height"], locale, media)
                    for name, locale, target, viewport, media in pages
                ),
                OUT,
            )
        finally:
            console.close()
            broker.stop()
    for path in written:
        print(path.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
