#!/usr/bin/env python3
"""Render the staff console into docs/screenshots/ from a real office, its console and Debian's
Chromium (Playwright; no browser is downloaded).

    python scripts/console_screenshots.py

A morning in the demo town (tickets at every station, a dispenser out of paper holding
numbers): console-counter-ja.png (a clerk at counter 2, a resident called), console-counter-en.png,
console-input-ja.png (the input centre, one case taken), console-floor-ja.png (the floor view),
console-desk-ja.png (the concierge desk after issuing), console-signin-ja.png, and
console-counter-phone-ja.png (the counter screen on a tablet held upright).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from console_harness import PASSWORD, busy_morning, start_console
from lobby.brokers import MosquittoBroker
from public_harness import CHROMIUM, CHROMIUM_ARGS

OUT = REPO / "docs" / "screenshots"
DESKTOP = ViewportSize(width=1440, height=900)
TABLET = ViewportSize(width=800, height=1280)


def wait_for(check: Callable[[], bool], timeout: float = 20.0, message: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out: {message}")
        time.sleep(0.05)


def signed_in(browser: Browser, url: str, user: str, counter: int | None, lang: str, viewport: ViewportSize) -> Page:
    context = browser.new_context(viewport=viewport, locale="ja-JP" if lang == "ja" else "en-GB")
    page = context.new_page()
    page.goto(url + "signin")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    if counter is not None:
        page.select_option("#counter", str(counter))
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def main() -> int:
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="console-shots-") as tmp:
        broker = MosquittoBroker(Path(tmp) / "broker")
        broker.start()
        console = start_console(broker.url, Path(tmp) / "office.sqlite3")
        scene = None
        try:
            from office import actions as a
            from office.staff_store import StaffStore, hash_password

            with console.office.db.transaction():
                StaffStore(console.office.db.conn).add_user_hashed(
                    "mori", "森 三郎", "clerk", hash_password(PASSWORD), 0
                )
            scene = busy_morning(console, Path(tmp) / "disp-1", wait_for)
            url = console.url
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

                def shot(page: Page, name: str, full: bool = True) -> None:
                    page.wait_for_timeout(300)
                    path = OUT / name
                    page.screenshot(path=str(path), full_page=full)
                    written.append(path)

                signin = browser.new_context(viewport=ViewportSize(width=1024, height=700), locale="ja-JP").new_page()
                signin.goto(url + "signin")
                shot(signin, "console-signin-ja.png", full=False)

                counter = signed_in(browser, url, "tanaka", 2, "ja", DESKTOP)
                counter.goto(url + "counter")
                shot(counter, "console-counter-ja.png")
                english = signed_in(browser, url, "suzuki", 1, "en", DESKTOP)
                english.goto(url + "counter")
                shot(english, "console-counter-en.png")
                upright = signed_in(browser, url, "tanaka", 2, "ja", TABLET)
                upright.goto(url + "counter")
                shot(upright, "console-counter-tablet-ja.png")

                centre = signed_in(browser, url, "sato", None, "ja", DESKTOP)
                centre.goto(url + "input")
                shot(centre, "console-input-ja.png")

                floor = signed_in(browser, url, "kato", None, "ja", DESKTOP)
                floor.goto(url + "floor")
                shot(floor, "console-floor-ja.png")

                desk = signed_in(browser, url, "kato", None, "ja", DESKTOP)
                desk.goto(url + "desk")
                desk.check("#pp-moving")
                desk.check("input[name='procedures:moving'] >> nth=0")
                desk.click("button[data-act='issue_ticket']")
                desk.wait_for_selector("#desk-result .issued-number")
                shot(desk, "console-desk-ja.png")
                _ = a
                browser.close()
        finally:
            if scene is not None:
                scene.dispenser.close()  # type: ignore[attr-defined]
            console.close()
            broker.stop()
    for path in written:
        print(path.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
