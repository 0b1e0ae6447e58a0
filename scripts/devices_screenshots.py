#!/usr/bin/env python3
"""Render the console's Devices page ("add a device") into docs/screenshots/ from an office as
deployed (tests/pairing_rig.py: CA, TLS Mosquitto, enrolment endpoint) and Debian's Chromium.

    python scripts/devices_screenshots.py

console-devices-ja.png (desktop: a fresh pairing code, a code waiting, one device paired and
online with its version), console-devices-phone-ja.png (the same on a phone held upright).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from playwright.sync_api import Page, ViewportSize, sync_playwright

from console_harness import PASSWORD
from firmware_profiles.enroll import pair
from harness import start_dispenser
from pairing_rig import start_pairing_office
from public_harness import CHROMIUM, CHROMIUM_ARGS

OUT = REPO / "docs" / "screenshots"


def main() -> int:
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="devices-shots-") as tmp:
        root = Path(tmp)
        rig = start_pairing_office(root / "office")
        device = None
        try:
            code = rig.desk.make("dispenser", "admin", None).code
            identity = pair(code, "dispenser", "sha256:" + "ab" * 32, root / "identity")
            device = start_dispenser(identity.broker_url(), root / "data", identity.device_id)
            rig.desk.make("board", "admin", None)  # a code still waiting for its board
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for name, viewport in (
                    ("console-devices-ja.png", ViewportSize(width=1440, height=900)),
                    ("console-devices-phone-ja.png", ViewportSize(width=390, height=844)),
                ):
                    page: Page = browser.new_context(viewport=viewport, locale="ja-JP").new_page()
                    page.goto(rig.console.url + "signin")
                    page.fill("#username", "admin")
                    page.fill("#password", PASSWORD)
                    page.click("button[type=submit]")
                    page.wait_for_load_state("networkidle")
                    page.goto(rig.console.url + "admin/devices")
                    page.select_option("#pair-role", "kiosk")
                    page.click("button[data-pair=make]")
                    page.wait_for_selector(".pairing-code .code")
                    deadline = time.monotonic() + 20
                    while "dispenser-1" not in (page.locator("#p-devices").inner_text() or ""):
                        if time.monotonic() > deadline:
                            raise RuntimeError("dispenser-1 never showed in the devices panel")
                        page.wait_for_timeout(200)
                    page.wait_for_timeout(300)
                    path = OUT / name
                    page.screenshot(path=str(path), full_page=True)
                    written.append(path)
                browser.close()
        finally:
            if device is not None:
                device.close()
            rig.close()
    for path in written:
        print(path.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
