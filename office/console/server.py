"""Serving the console beside the office loop: uvicorn in a thread of the office process.

The console and the loop share one process so an action reaches the loop through a queue, not
a socket, and the loop's change notices reach every open screen at once; the loop stays the
store's only writer. :func:`office_port` is the console's view of an
:class:`~office.server.OfficeServer`.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import uvicorn

from drivers.escpos_printer import open_printer
from drivers.printer_model import PrinterConfig
from drivers.ticket_printer import TicketPrinter
from firmware_profiles.packaged import printer_model_named
from office.console.app import Office, Settings, create_app
from office.device_pairing import PairingDesk
from office.server import OfficeServer
from office.ward_desk import WardDesk

log = logging.getLogger(__name__)


def office_port(server: OfficeServer) -> Office:
    """What the console needs of a running office."""
    return Office(
        config=server.config,
        db_path=server.db.path,
        submit=server.submit,
        submit_session=server.submit_session,
        add_listener=server.add_listener,
        clock=server.wall_ms,
        business_day=server.business_day,
        day_start_ms=server.day_start_ms,
        samples=lambda: server.staff.service.samples,
        kept_tickets=lambda: server.kept_tickets,
    )


def open_desk_printer(config: PrinterConfig) -> TicketPrinter:
    """The desk's printer from its typed ``[console] desk_printer`` (parsed and checked when the
    site file was loaded, :func:`office.config.desk_printer`); its model's facts from the
    packaged profiles when it gives none. A printer that is not there is reported by its status
    when the desk prints, not here."""
    key = "console.desk_printer"
    facts = config.facts or printer_model_named(config.model, f"{key}.model")
    return open_printer(config, model=facts, key=key)


class ConsoleServer:
    """The console app served by uvicorn on ``host:port`` in a background thread."""

    def __init__(
        self,
        office: OfficeServer,
        *,
        host: str,
        port: int,
        settings: Settings | None = None,
        pairing: PairingDesk | None = None,
        apt_public: Path | None = None,
        desk_printer: PrinterConfig | None = None,
    ) -> None:
        """``desk_printer``: the site's typed ``[console] desk_printer``
        (:attr:`office.config.OfficeConfig.desk_printer`), opened unless ``settings`` are given."""
        if settings is None:
            settings = Settings(input_station=office.config.console.input_station)
            if desk_printer is not None:
                settings.desk_printer = open_desk_printer(desk_printer)
        if pairing is not None:
            settings.pairing = pairing
        if apt_public is not None:
            settings.apt_public = apt_public
        # A ward's centre with branches to serve: its input desk, on the central Mosquitto,
        # signing with this office's own key (the branches pin it as their centre_key).
        self._own_desk: WardDesk | None = None
        ward = office.config.ward
        if settings.ward_desk is None and ward.branch_keys:
            self._own_desk = WardDesk(
                ward.broker, office.signer, ward.branch_keys, client_id=f"{office.config.site}-ward-desk"
            )
            settings.ward_desk = self._own_desk
        self.app = create_app(office_port(office), settings)
        self.host, self.port = host, port
        config = uvicorn.Config(
            self.app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where a browser on this machine opens the console."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}/"

    def start(self, timeout: float = 15.0) -> None:
        """Start serving; returns once the console listens (RuntimeError if it could not)."""
        if self._own_desk is not None:
            self._own_desk.start()
        self._thread = threading.Thread(target=self._server.run, name="console", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(
                    f"the staff console could not listen on {self.host}:{self.port} (is the port taken?)"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"the staff console did not start within {timeout:g} s")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop serving (open event streams are closed)."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._own_desk is not None:
            self._own_desk.stop()
