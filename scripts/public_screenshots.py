#!/usr/bin/env python3
"""Render the resident's pages into docs/screenshots/ from the real ``madoguchi-public`` process
and Debian's Chromium (Playwright; no browser is downloaded).

    python scripts/public_screenshots.py

public-ticket-ja/en/ko.png: a ticket waiting with people ahead, on a 390 x 844 phone;
public-ticket-called-ja.png: the same ticket called to a counter (after a feed, without a
reload); public-congestion-ja.png on the phone, public-congestion-en.png on a desktop.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from playwright.sync_api import ViewportSize, sync_playwright

from public_harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PHONE,
    PublicProcess,
    auth,
    feed,
    purposes,
    start_public,
    ticket,
    tokens,
)

OUT = REPO / "docs" / "screenshots"
DESKTOP = ViewportSize(width=1280, height=800)


def wait_for_streams(proc: PublicProcess, count: int, timeout: float = 10.0) -> None:
    """Wait until the page's event stream is open, so the next feed reaches it live."""
    deadline = time.monotonic() + timeout
    while proc.get("/feed", headers=auth()).json()["streams"] < count:
        if time.monotonic() > deadline:
            raise RuntimeError("the page did not open its event stream")
        time.sleep(0.05)


def main() -> int:
    """Start the process, feed it the demo town, take the pictures."""
    token, *others = tokens(6, seed=2026)
    waiting = ticket(token, 1012, "moving", people_ahead=4, est_wait_min=9)
    called = ticket(token, 1012, "moving", status="called", reached=1, counter_no=4)
    background = [ticket(t, 1013 + i, "moving", people_ahead=5 + i, est_wait_min=11 + i) for i, t in enumerate(others)]
    written = []
    with tempfile.TemporaryDirectory(prefix="public-shots-") as tmp:
        proc = start_public(Path(tmp))
        try:
            response = proc.post(feed(1, [waiting, *background], full=True, with_purposes=purposes(busy=4)))
            response.raise_for_status()
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                phone = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
                page = phone.new_page()
                for lang in ("ja", "en", "ko"):
                    page.goto(f"{proc.url}/t/{token}?lang={lang}")
                    page.wait_for_load_state("networkidle")
                    path = OUT / f"public-ticket-{lang}.png"
                    page.screenshot(path=str(path), full_page=False)
                    written.append(path)
                page.goto(f"{proc.url}/t/{token}?lang=ja")
                wait_for_streams(proc, 1)
                proc.post(feed(2, [called])).raise_for_status()
                page.wait_for_selector("p.call")
                path = OUT / "public-ticket-called-ja.png"
                page.screenshot(path=str(path))
                written.append(path)
                page.goto(f"{proc.url}/congestion?lang=ja")
                path = OUT / "public-congestion-ja.png"
                page.screenshot(path=str(path))
                written.append(path)
                desktop = browser.new_context(viewport=DESKTOP)
                page = desktop.new_page()
                page.goto(f"{proc.url}/congestion?lang=en")
                path = OUT / "public-congestion-en.png"
                page.screenshot(path=str(path))
                written.append(path)
                browser.close()
        finally:
            proc.stop()
    for path in written:
        print(path.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
