#!/usr/bin/env python3
"""Render every certificate kiosk screen in Japanese and English into docs/screenshots/.

    python scripts/kiosk_screenshots.py        # needs Xvfb and fonts-noto-cjk (make deps)

The real app (kiosk.app) runs under Xvfb on a real KioskRuntime, driven by
tests/kiosk_ui_driver.py: the simulated My Number cards of the demo (drivers.jpki_sim), the
behavioural cash box (drivers.cash.FakeCashBox), the in-memory office and printers of
kiosk.ui_fakes. The resident's touches are real touch events; coins, notes and cards come from
the simulator. Steps that pass in a blink (reading the card, checking the PIN, the change
being paid, the office's answer to the issue request) are drawn from the state the pure flow
gives for the next events ("preview").

Files: ``docs/screenshots/kiosk-<screen>-<lang>.png`` (the start screen is Japanese only: it
is the same for everyone and offers the six languages), and the receipts of the visits,
``kiosk-receipt.png`` (Japanese) and ``kiosk-receipt-en.png`` (Japanese with English), as the
receipt printer (kiosk.printers on a fake TM-T20III) printed them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from harness import env

OUT = REPO / "docs" / "screenshots"
LANGS = ("ja", "en")
Steps = list[dict[str, Any]]


def run(display: str, tmp: Path, name: str, steps: Steps, *args: str) -> list[Path]:
    """One app run; returns the screenshots it took."""
    script = tmp / f"{name}.json"
    script.write_text(json.dumps(steps), encoding="utf-8")
    e = env()
    e["DISPLAY"] = display
    out = tmp / name
    cmd = [
        sys.executable,
        str(REPO / "tests" / "kiosk_ui_driver.py"),
        "--data",
        str(tmp / f"{name}-data"),
        "--out",
        str(out),
        "--script",
        str(script),
        "--no-sim",
        *args,
    ]
    subprocess.run(cmd, env=e, check=True, timeout=300)
    result = json.loads((out / "result.json").read_text(encoding="utf-8"))
    if result["errors"]:
        raise SystemExit(f"{name}: {result['errors']}")
    return sorted(out.glob("kiosk-*.png"))


def pin(digits: str) -> Steps:
    return [{"touch": f"pin:{d}", "pause": 0.15} for d in digits] + [{"touch": "pin:ok"}]


def visit(lang: str) -> Steps:
    """A whole visit: every step's screen, a wrong PIN, the warning, exact-amount mode."""

    def shot(screen: str) -> dict[str, Any]:
        return {"shot": f"kiosk-{screen}-{lang}.png"}

    steps: Steps = [{"wait": "language"}]
    if lang == "ja":
        steps.append(shot("language"))
    steps += [{"touch": f"lang:{lang}"}, {"wait": "certificate"}, shot("certificate")]
    for kind in ("koseki", "shotoku", "inkan"):
        steps += [
            {"touch": f"kind:{kind}"},
            {"wait": "options"},
            shot(f"options-{kind}"),
            {"touch": "back"},
            {"wait": "certificate"},
        ]
    steps += [
        {"touch": "kind:juminhyo"},
        {"wait": "options"},
        {"touch": "opt:scope:members"},
        {"touch": "opt:zokugara"},
        shot("options"),
        {"touch": "next"},
        {"wait": "insert_card"},
        shot("insert_card"),
        {"preview": [["CardInserted", {}]]},
        shot("reading_card"),
        {"release": True},
        {"sim": "card_in:SIM-0001"},
        {"wait": "pin"},
        {"touch": "pin:1"},
        {"touch": "pin:2"},
        shot("pin"),
        {"preview": [["EnterPin", {"pin": "0000"}]]},
        shot("verifying_pin"),
        {"release": True},
        {"touch": "pin:clear"},
        *pin("9999"),
        {"wait": "pin"},
        {"sleep": 0.6},
        shot("pin-wrong"),
        *pin("1234"),
        {"wait": "authenticating"},
        shot("authenticating"),
        {"wait": "members", "timeout": 20},
        {"touch": "member:R0001"},
        {"touch": "member:R0002"},
        shot("members"),
        {"touch": "next"},
        {"wait": "confirm_fee"},
        shot("confirm_fee"),
        {"touch": "pay"},
        {"wait": "payment"},
        {"sim": "coin:100"},
        {"sleep": 0.6},
        shot("payment"),
        {"preview": [["ChangeStatus", {"low": True}]]},
        shot("payment-exact"),
        {"release": True},
        {"preview": [["Tick", {"now_ms": "$warn"}]]},
        shot("warning"),
        {"release": True},
        {
            "preview": [
                ["NoteEscrowed", {"value": 1000}],
                ["NoteStacked", {"value": 1000}],
                ["Issued", {"request_id": "$request", "issue_number": "K000001", "fee": "$fee", "content": {}}],
                ["PrintDone", {"request_id": "$request", "copies_printed": "$copies"}],
            ]
        },
        shot("settling"),
        {"release": True},
        {"preview": [["NoteEscrowed", {"value": 1000}], ["NoteStacked", {"value": 1000}]]},
        shot("issuing"),
        {"release": True},
        {"sim": "note:1000"},
        {"wait": "printing"},
        shot("printing"),
        {"wait": "take_card", "timeout": 20},
        shot("take_card"),
        {"sim": "card_out"},
        {"wait": "goodbye"},
        shot("goodbye"),
        {"touch": "finish"},
        {"wait": "language"},
    ]
    return steps


def refusals(lang: str) -> Steps:
    """ "Please go to a counter" (a card the office refuses), a locked PIN, out of service."""

    def shot(screen: str) -> dict[str, Any]:
        return {"shot": f"kiosk-{screen}-{lang}.png"}

    start = [
        {"wait": "language"},
        {"touch": f"lang:{lang}"},
        {"wait": "certificate"},
        {"touch": "kind:juminhyo"},
        {"wait": "options"},
        {"touch": "next"},
        {"wait": "insert_card"},
    ]
    return [
        *start,
        {"sim": "card_in:SIM-0005"},
        {"wait": "pin"},
        *pin("5678"),
        {"wait": "take_card", "timeout": 20},
        shot("go_to_counter"),
        {"sim": "card_out"},
        {"wait": "goodbye"},
        {"touch": "finish"},
        *start,
        {"sim": "card_in:SIM-0002"},
        {"wait": "pin"},
        *pin("0000"),
        {"wait": "pin"},
        {"sleep": 0.5},
        *pin("0000"),
        {"wait": "pin"},
        {"sleep": 0.5},
        shot("pin-last-try"),
        *pin("0000"),
        {"wait": "take_card", "timeout": 20},
        shot("card_blocked"),
        {"sim": "card_out"},
        {"wait": "goodbye"},
        {"touch": "finish"},
        {"wait": "language"},
        # The journal failing in the middle of a visit (the start screen would be in Japanese).
        {"preview": [["ChooseLanguage", {"language": lang}], ["Fault", {"code": "journal"}]]},
        shot("out_of_service"),
        {"release": True},
    ]


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="madoguchi-kiosk-shots-"))
    display = ":78"
    xvfb = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "1920x1200x24", "+extension", "GLX", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)
    shots: list[Path] = []
    try:
        for lang in LANGS:
            # The visit's receipt comes out of kiosk.printers' receipt printer on a fake
            # TM-T20III, decoded from the bytes it was sent.
            receipts = tmp / f"receipts-{lang}"
            shots += run(
                display,
                tmp,
                f"visit-{lang}",
                visit(lang),
                "--auth-delay",
                "1.5",
                "--print-delay",
                "2.5",
                "--receipt-png",
                str(receipts),
            )
            receipt = tmp / ("kiosk-receipt.png" if lang == "ja" else f"kiosk-receipt-{lang}.png")
            shutil.copy(receipts / "1.png", receipt)
            shots.append(receipt)
            shots += run(display, tmp, f"refusals-{lang}", refusals(lang))
        shots += run(
            display,
            tmp,
            "offline",
            [
                {"wait": "unavailable"},
                {"shot": "kiosk-unavailable-ja.png"},
                {"preview": [["ChooseLanguage", {"language": "en"}]]},
                {"shot": "kiosk-unavailable-en.png"},
            ],
            "--offline",
        )
        shots += run(
            display,
            tmp,
            "closed",
            [
                {"wait": "closed"},
                {"shot": "kiosk-closed-ja.png"},
                {"preview_language": "en"},
                {"shot": "kiosk-closed-en.png"},
            ],
            "--wall",
            "2026-12-30T20:00",
        )
        for png in shots:
            shutil.copy(png, OUT / png.name)
            print("wrote", OUT / png.name)
    finally:
        xvfb.terminate()
        xvfb.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
