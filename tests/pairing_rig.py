"""An office as a town deploys it, for the pairing tests: its CA and a TLS Mosquitto on the
generated files, the office server on its own TLS identity, the HTTPS enrolment endpoint, and
the staff console with "add a device"."""

from __future__ import annotations

import os
import pwd
import time
from dataclasses import dataclass
from pathlib import Path

from console_harness import Console, free_port, start_console
from lobby.brokers import MosquittoBroker
from office.broker_security import BrokerSettings, SecurityHome, apply, init_security, load_identity
from office.console.app import Settings
from office.device_pairing import PairingDesk
from office.enrol_http import EnrolServer
from office.enrolment import EnrolmentRegistry
from office.identity import office_public_key
from office.pki import OfficeCA

SITE = "demo-town"


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class PairingOffice:
    """Everything running; :meth:`close` stops it all."""

    home: SecurityHome
    broker: MosquittoBroker
    broker_port: int
    endpoint: EnrolServer
    desk: PairingDesk
    console: Console
    db: Path

    def close(self) -> None:
        self.console.close()
        self.endpoint.stop()
        self.endpoint.registry.close()
        self.desk.close()
        self.broker.stop()


def start_pairing_office(tmp: Path) -> PairingOffice:
    home = SecurityHome(tmp / "security")
    port = free_port()
    settings = BrokerSettings(
        site=SITE,
        hosts=("127.0.0.1",),
        port=port,
        bind_address="127.0.0.1",
        run_as_user=pwd.getpwuid(os.geteuid()).pw_name,
    )
    files, _office = init_security(home, settings, now_ms=now_ms())
    broker = MosquittoBroker(files.directory, port, config_file=files.conf)
    broker.start()
    db = tmp / "office.sqlite3"
    ca = OfficeCA.load(home.ca_dir)
    endpoint = EnrolServer(
        EnrolmentRegistry.open(db, ca, SITE),
        certfile=files.cert,
        keyfile=files.key,
        host="127.0.0.1",
        port=0,
        broker=f"mqtts://127.0.0.1:{port}",
        office_key=office_public_key(db),
        on_enrolled=lambda _e: apply(home, now_ms=now_ms()),
    )
    endpoint.start()
    desk = PairingDesk(EnrolmentRegistry.open(db, ca, SITE), "127.0.0.1", endpoint.port, now_ms)
    office_url = load_identity(home, "office").url("127.0.0.1", port)
    console = start_console(office_url, db, Settings(pairing=desk))
    return PairingOffice(home, broker, port, endpoint, desk, console, db)
