"""The console's "add a device": pairing codes made at the office for new lobby devices.

One click makes a one-time code (sync/pairing.py) that carries the role, the address of the
enrolment endpoint (``madoguchi-office enrol serve``) and a keyed check of the office CA; the
technician types it on the device's setup screen. The code is shown once and never stored: the
enrolment tables keep its hash (office/enrolment.py), the audit log the device id and role.

The desk writes the enrolment tables and the audit log on a connection of its own (like
``madoguchi-office enrol token`` does), not through the office loop: pairing touches none of
the office's tickets, and a code must not end up in the loop's stored replies.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from office.broker_security import SecurityHome, load_settings
from office.enrolment import DeviceRecord, EnrolmentError, EnrolmentRegistry, Pairing, PendingPairing
from office.pki import OfficeCA
from office.staff_store import StaffStore

__all__ = ["DEFAULT_ENROL_PORT", "PairingDesk", "pairing_address"]

DEFAULT_ENROL_PORT = 8443


def pairing_address(hosts: Sequence[str]) -> str:
    """The IPv4 address a code carries: the first of the office's names that is a LAN address,
    else the first IPv4 address at all (a one-machine rig); EnrolmentError if there is none."""
    addresses = []
    for host in hosts:
        try:
            addresses.append(ipaddress.IPv4Address(host))
        except ValueError:
            continue
    for address in addresses:
        if not address.is_loopback:
            return str(address)
    if addresses:
        return str(addresses[0])
    raise EnrolmentError(
        "the office's certificate names no IPv4 address, and a pairing code carries one: add it with "
        "madoguchi-office security init --host 192.168.x.y"
    )


@dataclass
class PairingDesk:
    """Makes, lists and withdraws pairing codes for one office."""

    registry: EnrolmentRegistry
    host: str
    port: int
    clock: Callable[[], int]

    def __post_init__(self) -> None:
        self._lock = threading.Lock()  # one registry connection, used from the console's threads

    @classmethod
    def open(
        cls,
        home: Path,
        db_path: Path | str,
        *,
        clock: Callable[[], int],
        port: int = DEFAULT_ENROL_PORT,
        host: str = "",
    ) -> PairingDesk:
        """The desk of the office whose security home is ``home`` (CA, broker settings) and whose
        store is ``db_path``; ``host`` overrides the address the codes carry."""
        security = SecurityHome(Path(home))
        settings = load_settings(security)
        registry = EnrolmentRegistry.open(db_path, OfficeCA.load(security.ca_dir), settings.site)
        return cls(registry, host or pairing_address(settings.hosts), port, clock)

    def close(self) -> None:
        """Close the desk's connection."""
        self.registry.close()

    def make(self, role: str, username: str, counter: int | None, valid_minutes: float = 60.0) -> Pairing:
        """A new code for a ``role`` device, audited under ``username``; EnrolmentError if impossible."""
        with self._lock:
            now = self.clock()
            made = self.registry.issue_pairing(
                role, host=self.host, port=self.port, now_ms=now, valid_minutes=valid_minutes
            )
            self._audit(now, username, counter, "add_device", {"device": made.device_id, "role": role})
            return made

    def withdraw(self, device_id: str, username: str, counter: int | None) -> bool:
        """Withdraw the waiting code of ``device_id``; False if it had none."""
        with self._lock:
            now = self.clock()
            done = self.registry.withdraw_pairing(device_id, now)
            if done:
                self._audit(now, username, counter, "withdraw_pairing", {"device": device_id})
            return done

    def pending(self) -> list[PendingPairing]:
        """Codes still waiting for their device."""
        with self._lock:
            return self.registry.pending_pairings(self.clock())

    def devices(self) -> list[DeviceRecord]:
        """Every enrolled device (revoked ones included)."""
        with self._lock:
            return self.registry.devices()

    def _audit(self, now: int, username: str, counter: int | None, action: str, detail: dict[str, str]) -> None:
        conn = self.registry.connection
        conn.execute("BEGIN IMMEDIATE")
        try:
            StaffStore(conn).audit(now, username, counter, action, detail=detail)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
