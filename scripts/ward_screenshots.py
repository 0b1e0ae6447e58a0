#!/usr/bin/env python3
"""Render the central office's ward pages into docs/screenshots/ in Debian's Chromium: three branches
as the centre's PostgreSQL holds them (one with its WAN cut, one behind) and four weeks of their
generated history (office/stats/history.py) for the statistics.

    python scripts/ward_screenshots.py

console-ward-ja.png (the ward's floor on a desktop), console-ward-phone-ja.png (the same on a phone
held upright), console-ward-stats-ja.png (the ward's statistics of the last four weeks).
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import msgspec
from playwright.sync_api import ViewportSize
from ward_seed import make_schema, put_branch, put_log, renamed

from common.calendar import business_day
from console_harness import Shot, shoot, start_console
from lobby.brokers import MosquittoBroker
from lobby.postgres import PostgresServer
from office import config as configmod
from office.stats import history
from sync.site import Ward

OUT = REPO / "docs" / "screenshots"
MINUTE = 60_000


def main() -> int:
    site = configmod.load(None)
    now = int(time.time() * 1000)
    today = business_day(now, ZoneInfo(site.timezone), site.rollover_hour)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="ward-shots-") as tmp:
        root = Path(tmp)
        postgres = PostgresServer()
        postgres.start()
        broker = MosquittoBroker(root / "broker")
        console = None
        try:
            dsn = postgres.dsn
            make_schema(dsn)
            branches: tuple[tuple[str, str, dict[str, tuple[int, int | None]], bool, int], ...] = (
                ("chuo", "中央支所", {"certificates": (7, 18), "moving": (4, 25), "family_register": (2, 9)}, True, 0),
                ("kita", "北支所", {"certificates": (3, 8), "moving": (9, 41), "family_register": (0, None)}, False, 6),
                ("minami", "南支所", {"certificates": (1, 3), "moving": (2, 12), "family_register": (1, 5)}, True, 2),
            )
            for n, (code, name, waiting, bridge, behind) in enumerate(branches):
                put_branch(
                    dsn,
                    renamed(site, code, name),
                    now=now,
                    waiting=waiting,
                    bridge=bridge,
                    since=now - (95 if bridge else 23) * MINUTE,
                    devices=(
                        ("disp-1", "dispenser", True, 40 + behind, 40),
                        ("disp-2", "dispenser", n != 2, 31, 31),
                        ("board-1", "board", True, 0, 0),
                    ),
                    cases=[now - (35 - 4 * i) * MINUTE for i in range(4 - n)],
                )
                # four weeks up to yesterday for the statistics, and today so far for the floor
                told = history.generate(site, today - timedelta(days=28), today, seed=20 + n, scale=0.3)
                rows = [r for _, log in told for r in log if r.at_ms <= now]
                put_log(dsn, code, rows, now)
            broker.start()
            centre = msgspec.structs.replace(
                site, site="ward-centre", office_name="みどり区役所 本庁", ward=Ward(centre=True, dsn=dsn)
            )
            console = start_console(broker.url, root / "centre.sqlite3", config=centre)
            month = f"from={today - timedelta(days=28)}&to={today - timedelta(days=1)}"
            pages = (
                ("console-ward-ja.png", "ward", ViewportSize(width=1440, height=900)),
                ("console-ward-phone-ja.png", "ward", ViewportSize(width=390, height=844)),
                ("console-ward-stats-ja.png", f"ward/stats?{month}", ViewportSize(width=1440, height=900)),
            )
            written += shoot(
                (
                    Shot(name, console.url, "kato", target, size["width"], size["height"])
                    for name, target, size in pages
                ),
                OUT,
            )
        finally:
            if console is not None:
                console.close()
            broker.stop()
            postgres.close()
    for path in written:
        print(path.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
