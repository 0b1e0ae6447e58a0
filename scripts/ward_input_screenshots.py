#!/usr/bin/env python3
"""Render the shared input centre's screens into docs/screenshots/ in Debian's Chromium.

    python scripts/ward_input_screenshots.py

console-ward-input-ja.png and console-ward-input-phone-ja.png: the centre's input desk with three
branches' cases (one branch cut off), as its desk holds them after the branches' signed
``ward_cases`` documents came in (the same path a broker message takes). console-input-centre-ja.png:
a branch's own input screen with a case the centre's operator holds.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.sync_api import ViewportSize

from console_harness import Shot, shoot, start_console
from lobby.brokers import MosquittoBroker
from office import actions
from office import config as configmod
from office.console.app import Settings
from office.ward_bridge import bridge_state_topic, up_prefix
from office.ward_desk import WardDesk
from sync import messages, protocol
from sync.link import Inbound
from sync.signing import OfficeSigner
from sync.site import SiteConfig, Ward

OUT = REPO / "docs" / "screenshots"
MINUTE = 60_000
BRANCHES = (
    (
        "chuo",
        "中央支所",
        True,
        (("moving", ("転入届", "国民健康保険")), ("birth", ("出生届",)), ("moving", ("転居届",))),
    ),
    ("kita", "北支所", False, (("marriage", ("婚姻届",)), ("moving", ("転出届",)))),
    ("minami", "南支所", True, (("death", ("死亡届", "火葬許可")),)),
)


def _desk(site: SiteConfig, centre: OfficeSigner, now: int) -> WardDesk:
    """A centre's desk holding three branches' lists, each signed by its branch office."""
    signers = {code: OfficeSigner(Ed25519PrivateKey.generate()) for code, *_ in BRANCHES}
    desk = WardDesk("mqtt://127.0.0.1:1", centre, {code: s.public_text for code, s in signers.items()})
    for b, (code, name, linked, cases) in enumerate(BRANCHES):
        signer = signers[code]

        def arrive(name_: str, doc: messages.Payload, code: str = code, signer: OfficeSigner = signer) -> None:
            topic = up_prefix(code) + protocol.TOPICS[name_].pattern.removeprefix("{site}/")
            desk._on_message(Inbound(topic, signer.seal(name_, code, None, protocol.encode(doc)), True))

        branch = msgspec.structs.replace(site, site=code, office_name=name)
        arrive("office_config", branch.message(version=1, sent_ms=now, lease_days=()))
        listed = tuple(
            messages.WardCase(
                ticket_id=f"2026-12-07-2-{2001 + n}",
                number=2001 + n + 100 * b,
                category=category,
                procedures=procedures,
                arrived_ms=now - (42 - 9 * n - 5 * b) * MINUTE,
                updated_ms=now - MINUTE,
                holder="ward:sato" if (b, n) == (0, 0) else "ward:ito" if (b, n) == (2, 0) else None,
            )
            for n, (category, procedures) in enumerate(cases)
        )
        arrive(
            "ward_cases", messages.WardCases(version=3, sent_ms=now, day="2026-12-07", station="input", cases=listed)
        )
        desk._on_message(Inbound(bridge_state_topic(code), b"1" if linked else b"0", True))
    return desk


def _branch_case(console: object) -> None:
    """A case at the branch's input station, held by the centre's operator."""
    office = console.office  # type: ignore[attr-defined]
    floor = actions.Actor("kato", "floor", None)
    clerk = actions.Actor("suzuki", "clerk", 1)
    for purpose in ("moving", "birth", "moving"):
        reply = office.submit(
            actions.IssueTicket(request_id=uuid.uuid4().hex, purpose=purpose, print_ticket=False), floor
        )
        ticket = reply.result(10).ticket_id
        office.submit(actions.CallNumber(request_id=uuid.uuid4().hex, ref=ticket.rsplit("-", 1)[1]), clerk).result(10)
        office.submit(actions.Start(request_id=uuid.uuid4().hex, ticket_id=ticket), clerk).result(10)
        office.submit(actions.Finish(request_id=uuid.uuid4().hex, ticket_id=ticket, outcome="next"), clerk).result(10)
    first = next(t for t in office.db.tickets(office.business_day()) if t.station == "input")
    centre = actions.Actor("ward:sato", "input", None)
    office.submit(actions.Claim(request_id=uuid.uuid4().hex, ticket_id=first.ticket_id), centre).result(10)


def main() -> int:
    site = configmod.load(None)
    now = int(time.time() * 1000)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="ward-input-shots-") as tmp:
        root = Path(tmp)
        broker = MosquittoBroker(root / "broker")
        broker.start()
        consoles = []
        try:
            key = Ed25519PrivateKey.generate()
            desk = _desk(site, OfficeSigner(key), now)
            centre_site = msgspec.structs.replace(
                site,
                site="ward-centre",
                office_name="みどり区役所 本庁",
                ward=Ward(broker="mqtt://127.0.0.1:1"),
            )
            centre = start_console(
                broker.url, root / "centre.sqlite3", Settings(ward_desk=desk), config=centre_site, signing_key=key
            )
            consoles.append(centre)
            branch = start_console(
                broker.url, root / "branch.sqlite3", config=msgspec.structs.replace(site, site="chuo")
            )
            consoles.append(branch)
            _branch_case(branch)
            shots = (
                (centre, "sato", "console-ward-input-ja.png", "ward/input", ViewportSize(width=1440, height=900)),
                (centre, "sato", "console-ward-input-phone-ja.png", "ward/input", ViewportSize(width=390, height=844)),
                (branch, "ito", "console-input-centre-ja.png", "input", ViewportSize(width=1440, height=900)),
            )
            written += shoot(
                (
                    Shot(name, console.url, user, target, size["width"], size["height"])
                    for console, user, name, target, size in shots
                ),
                OUT,
            )
        finally:
            for console in consoles:
                console.close()
            broker.stop()
    for path in written:
        print(path.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
