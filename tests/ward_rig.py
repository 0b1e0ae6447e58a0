"""A ward on one machine for the tests and the bench: a central Mosquitto on the files
`madoguchi-office ward broker-files` writes, PostgreSQL and the central consumer; per branch a
Mosquitto bridged to the centre through a WAN link that can be cut (lobby/wan_link.py), the
branch's office and a dispenser, all real."""

from __future__ import annotations

import argparse
import os
import pwd
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from harness import SITE, start_office
from lobby.brokers import MosquittoBroker, free_port
from lobby.wan_link import WanLink
from office import ward_cli
from office.server import OfficeServer
from office.ward_bridge import DEFAULT_CONSUMER, branch_bridge_conf
from office.ward_consumer import WardConsumer
from sync.agent import AgentConfig, DeviceAgent
from sync.site import Ward as WardSettings
from ticket_dispenser.device import Dispenser


@dataclass
class Branch:
    site: str
    broker: MosquittoBroker
    link: WanLink
    office: OfficeServer
    agent: DeviceAgent
    dispenser: Dispenser

    def close(self) -> None:
        self.dispenser.close()
        self.agent.stop()
        self.office.stop()
        self.link.close()
        self.broker.stop()


@dataclass
class Ward:
    central: MosquittoBroker
    consumer: WardConsumer | None
    branches: dict[str, Branch] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The central Mosquitto's address."""
        return self.central.url

    def close(self) -> None:
        for branch in self.branches.values():
            branch.close()
        if self.consumer is not None:
            self.consumer.stop()
        self.central.stop()


def start_ward(
    root: Path,
    dsn: str | None,
    sites: tuple[str, ...] = ("demo-town", "branch-b"),
    *,
    settings: WardSettings | None = None,
    consumers: tuple[str, ...] = (),
) -> Ward:
    """The centre, its consumer (none without ``dsn``) and one branch per site (the demo town's
    configuration, renamed, with ``settings`` as its [ward]); ``consumers`` are more identities
    of the centre in the central ACL."""
    port = free_port()
    out = root / "ward"
    parser = argparse.ArgumentParser(prog="madoguchi-office")
    ward_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    user = pwd.getpwuid(os.geteuid()).pw_name
    args = ["ward", "broker-files", "--central", f"127.0.0.1:{port}", "--out", str(out), "--user", user]
    args += ["--bind", "127.0.0.1", *(x for s in sites for x in ("--site", s))]
    args += [x for name in ((DEFAULT_CONSUMER, *consumers) if consumers else ()) for x in ("--consumer", name)]
    assert ward_cli.run(parser.parse_args(args)) == 0
    central = MosquittoBroker(out / "central", port, config_file=out / "central" / "mosquitto.conf")
    central.start()
    ward = Ward(central, None)
    for site in sites:
        link = WanLink(port)
        # the WAN link's address instead of the centre's; reconnect within 1-2 s, not 5-120
        bridge = branch_bridge_conf(site, f"127.0.0.1:{link.port}", restart_s=(1, 2))
        broker = MosquittoBroker(root / site / "broker", extra_conf=bridge)
        broker.start()
        config = msgspec.structs.replace(SITE, site=site, ward=settings or WardSettings(send_log=True))
        office = start_office(broker.url, root / site / "office.sqlite3", config)
        agent = DeviceAgent(
            AgentConfig(
                site=site, device_id="disp-1", role="dispenser", broker_url=broker.url, data_dir=root / site / "disp-1"
            )
        )
        agent.start()
        ward.branches[site] = Branch(site, broker, link, office, agent, Dispenser(agent))
    if dsn is not None:
        # The branches' office keys: the centre takes a ticket log only when its branch signed it.
        keys = {site: branch.office.signer.public_text for site, branch in ward.branches.items()}
        ward.consumer = WardConsumer("127.0.0.1", port, dsn, username=DEFAULT_CONSUMER, branch_keys=keys)
        ward.consumer.start()
    return ward


def leased(branch: Branch) -> bool:
    """The branch's dispenser holds its configuration and a block of every series."""
    lease = branch.agent.document("lease")
    config = branch.agent.document("office_config")
    return (
        lease is not None
        and config is not None
        and {c.series for c in config.categories} <= {b.series for b in lease.blocks}
    )


def issue(branch: Branch, count: int, purposes: tuple[str, ...] = ("certificates", "moving")) -> None:
    for n in range(count):
        branch.dispenser.issue(purposes[n % len(purposes)])


def branch_events(branch: Branch) -> set[tuple[str, int, str]]:
    """(device, seq, type) of every event the branch's office holds from its devices."""
    rows = branch.office.db.conn.execute("SELECT device, seq, type FROM events").fetchall()
    return {(str(d), int(q), str(t)) for d, q, t in rows}


def settle(check: Any, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.05)


def work(branch: Branch, calls: int) -> None:
    """A clerk at counter 1 calls, starts and sends on ``calls`` tickets (the ticket log grows)."""
    from office import actions

    clerk = actions.Actor("clerk-1", "clerk", 1)
    for _ in range(calls):
        reply = branch.office.submit(actions.CallNext(request_id=uuid.uuid4().hex), clerk).result(10)
        if reply.ticket_id is None:
            return
        for action in (
            actions.Start(request_id=uuid.uuid4().hex, ticket_id=reply.ticket_id),
            actions.Finish(request_id=uuid.uuid4().hex, ticket_id=reply.ticket_id, outcome="next"),
        ):
            branch.office.submit(action, clerk).result(10)


def branch_log(branch: Branch) -> list[tuple[int, str, str]]:
    """(id, ticket, kind) of the branch office's ticket log."""
    rows = branch.office.db.conn.execute("SELECT id, ticket_id, kind FROM ticket_log ORDER BY id").fetchall()
    return [(int(i), str(t), str(k)) for i, t, k in rows]
