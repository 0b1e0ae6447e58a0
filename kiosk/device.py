"""A certificate kiosk assembled from its device configuration: devices, office link, runtime.

The device configuration (TOML, written by ``madoguchi-provision apply`` or by hand) names
the hardware; nothing is guessed, and a simulator is used only where the configuration asks
for one::

    [display]                  # for the touch screen (madoguchi-kiosk ui)
    width = 1080
    height = 1920
    fullscreen = true

    [card_reader]
    backend = "pcsc"           # or "sim" ("simulated"): the demo residents' cards, in memory
    reader = ""                # pcsc: part of the reader's name ("" = the first one)
    eject = false              # pcsc: a motorised reader pushes the card out
    # ca_dir = "var/jpki"      # sim: the simulated JPKI CA the office trusts (kiosk.jpki_ca)

    [cash]                     # drivers.cash.CashConfig: backend "cctalk" (or "fake", in memory)
    backend = "cctalk"
    port = "/dev/serial/by-id/usb-FTDI_…-if00-port0"
    hoppers = [{address = 3, coin = 500, count = 100}, {address = 4, coin = 100, count = 200},
               {address = 5, coin = 10, count = 300}]

    [document_printer]         # the A4 certificate printer
    backend = "cups"           # or "dir" ("pdf_dir"): one PDF per copy in a directory
    queue = "madoguchi"        # cups: the queue (lpadmin); wait_s: seconds to wait for the job
    # dir = "var/kiosk-1/certificates"   # dir: where the PDFs go; sheets, jam_after, delay_s

    [receipt_printer]          # drivers.printer_model.PrinterConfig, as the dispenser's [printer]
    model = "TM-T20III"        # (provisioning writes this section as [printer], with the model's
    backend = "usb"            # facts as [printer.facts]: both are read; without facts, the
                               # model's are read from the packaged catalog)

    [keypad]                   # optional: the tactile keypad, read by the screens
    port = "/dev/ttyACM0"

    [speech]
    backend = "openjtalk"      # or "espeak", "none"

    [kiosk]                    # kiosk.flow.KioskSection, plus the office link's timings
    timeouts = {payment = 120, take_card = 20}   # seconds per step
    office_timeout = 10        # seconds an office request may take
    poll_interval = 0.1        # seconds between device polls

:func:`load_kiosk_config` reads it into :class:`KioskFile` (every section a typed model: the
display's from common, the card reader's, keypad's, speech's, printer's and document printer's
from their drivers, the cash devices' ``CashConfig``, the flow's ``KioskSection``), checks the
rules across keys and raises :class:`~common.cli.UsageError` naming the file, the key and the
fix; :func:`build_kiosk` opens the devices and wires a :class:`~kiosk.runtime.KioskRuntime` to a
:class:`~sync.agent.DeviceAgent` of role ``kiosk`` through :class:`~kiosk.office_link.AgentOffice`,
with the journal in ``<data>/journal``; the agent's device status carries the runtime's health
(kiosk.health: in service, hopper counts, change low, refund slips owed today).

The cash box comes ready from :func:`drivers.cash.open_settled_cash_box`: a note an earlier
run left in the bill validator's escrow is stacked when this kiosk's journal says it had decided
to stack it (recovery counts it as paid and refunds it), and returned otherwise; and the
hoppers' coin counts (a hopper cannot count its coins) are kept in ``<data>/cash.json`` across
restarts, until staff change ``count`` in the configuration. The kiosk gives it the journal's
decisions and the count file; the cash box knows the rest.
"""

from __future__ import annotations

import importlib
import logging
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Annotated, Any, ClassVar

import msgspec

from common.calendar import business_day
from common.cli import UsageError, config_from_mapping, read_toml
from common.device_config import DeviceSection, KioskDisplay
from common.validation import Invalid, info
from drivers.card_reader import CardError, CardReader, CardReaderConfig, check_card_reader_config
from drivers.cash import (
    CashBox,
    CashConfig,
    CashError,
    CcTalkCashBox,
    CountedCashBox,
    FakeCashBox,
    open_settled_cash_box,
)
from drivers.cash.config import parse as parse_cash
from drivers.document_printer import DocumentPrinterSection, DocumentPrinterSettings, document_printer_settings
from drivers.keypad import KeypadConfig
from drivers.printer_model import PrinterConfig, check_printer_config
from drivers.speech import SpeechConfig
from kiosk import flow
from kiosk.flow.config import KioskSection
from kiosk.health import KioskHealth, tokyo_business_day
from kiosk.journal import JournalError, KioskJournal
from kiosk.office_link import AgentOffice
from kiosk.ports import (
    ApduTransport,
    CertificateContent,
    CertificateRenderer,
    DocumentPrinterPort,
    JpkiPort,
    KioskError,
)
from kiosk.printers import CupsPrinter, DirectoryPrinter, EscposReceiptPrinter
from kiosk.recovery import RecoveryError, replay
from kiosk.runtime import KioskRuntime, RuntimeSettings
from sync.agent import AgentConfig, DeviceAgent
from sync.errors import StoreError, SyncError
from sync.store import StateStore

__all__ = [
    "DocumentPrinterSection",
    "DocumentPrinterSettings",
    "KioskDevice",
    "KioskDeviceConfig",
    "KioskDeviceError",
    "KioskFile",
    "KioskOptions",
    "ObservedJournal",
    "PdfRenderer",
    "SimulatedCards",
    "build_kiosk",
    "kiosk_config_from_mapping",
    "load_kiosk_config",
]

log = logging.getLogger(__name__)


class KioskDeviceError(KioskError):
    """A configured device cannot be opened or used; the message names it and what to check."""


# -- configuration -----------------------------------------------------------------------------------


class KioskOptions(KioskSection, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``[kiosk]`` section: the flow's keys (:class:`kiosk.flow.config.KioskSection`) and the
    office link's timings."""

    noun: ClassVar[str] = "table"

    office_timeout: Annotated[float, info(ge=0.1, le=3600, what="a number of seconds, at least 0.1")] = 10.0
    issue_retries: Annotated[int, info(ge=0, le=10, what="0 to 10")] = 2
    # At most 1 s (checked with its own words): cash events wait for it.
    poll_interval: Annotated[float, info(ge=0.005, le=3600, what="a number of seconds, at least 0.005")] = 0.1


_RUNTIME_KEYS = frozenset({"office_timeout", "issue_retries", "poll_interval"})


class KioskFile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A kiosk's device configuration file, every section typed. The hardware sections are
    optional here so :func:`kiosk_config_from_mapping` reports a missing one in the order a
    technician fills them in (card reader, cash, document printer, receipt printer)."""

    device: DeviceSection | None = None
    display: KioskDisplay = KioskDisplay()
    card_reader: CardReaderConfig | None = None
    # drivers.cash.CashConfig: converted by its own parse (an acceptor may be a table or its address).
    cash: Annotated[dict[str, Any], info(what="a table of cash settings")] | None = None
    document_printer: DocumentPrinterSection | None = None
    receipt_printer: PrinterConfig | None = None
    printer: PrinterConfig | None = None  # provisioning's name for the receipt printer
    keypad: KeypadConfig = KeypadConfig()
    speech: SpeechConfig = SpeechConfig()
    kiosk: KioskOptions = KioskOptions()


@dataclass(frozen=True)
class KioskDeviceConfig:
    """A kiosk's hardware and behaviour, validated and settled."""

    flow: flow.FlowConfig
    card_reader: CardReaderConfig
    cash: CashConfig
    document_printer: DocumentPrinterSettings
    receipt_printer: PrinterConfig
    receipt_key: str = "receipt_printer"
    display: KioskDisplay = field(default_factory=KioskDisplay)
    keypad: KeypadConfig = field(default_factory=KeypadConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    settings: RuntimeSettings = field(default_factory=RuntimeSettings)
    path: Path | None = None


def load_kiosk_config(path: Path | None, device_id: str) -> KioskDeviceConfig:
    """Read and check a kiosk's device configuration; UsageError names the key and the fix."""
    if path is None:
        raise UsageError("--device-config is required: the kiosk's hardware (card reader, cash, printers) as TOML")
    return kiosk_config_from_mapping(read_toml(path), device_id, path)


def kiosk_config_from_mapping(doc: Mapping[str, Any], device_id: str, path: Path | None = None) -> KioskDeviceConfig:
    """:func:`load_kiosk_config` for an already parsed document (tests, provisioning)."""
    where = f"{path}: " if path is not None else ""
    file = config_from_mapping(doc, KioskFile, path=path)
    try:
        return _settle(file, device_id, path)
    except Invalid as err:
        raise UsageError(f"{where}{err}") from err
    except flow.FlowConfigError as err:
        message = str(err)
        if message.startswith("device_id"):
            message = f"--device-{message.removeprefix('device_')}"
        elif not message.startswith("kiosk."):
            message = f"kiosk.{message}"
        raise UsageError(f"{where}{message}") from err


def _settle(file: KioskFile, device_id: str, path: Path | None) -> KioskDeviceConfig:
    """The rules across the file's sections, in the order a technician fills them in."""
    if file.card_reader is None:
        raise Invalid(("card_reader",), 'missing; add [card_reader] with backend = "pcsc" (or "sim" for a demo)')
    card_reader = _within("card_reader", check_card_reader_config, file.card_reader)
    if file.cash is None:
        raise Invalid(("cash",), 'missing; add [cash] with backend = "cctalk" and port = "/dev/serial/by-id/…"')
    cash = _within("cash", lambda doc: parse_cash(doc, "cash"), file.cash)
    if file.document_printer is None:
        raise Invalid(("document_printer",), 'missing; add [document_printer] with backend = "cups" and queue = "…"')
    document_printer = _within("document_printer", document_printer_settings, file.document_printer)
    if file.receipt_printer is not None and file.printer is not None:
        raise Invalid(("printer",), "give the receipt printer once, as [receipt_printer] (or [printer])")
    receipt_key = "printer" if file.printer is not None else "receipt_printer"
    receipt = file.printer or file.receipt_printer
    if receipt is None:
        raise Invalid(
            ("receipt_printer",), 'missing; add [receipt_printer] with model and backend (e.g. backend = "usb")'
        )
    _within(receipt_key, check_printer_config, receipt)
    options = file.kiosk
    if options.poll_interval > 1.0:
        raise Invalid(
            ("kiosk", "poll_interval"), f"at most 1 second (cash events wait for it), got {options.poll_interval:g}"
        )
    flow_keys = {k: v for k, v in msgspec.to_builtins(options).items() if k not in _RUNTIME_KEYS}
    return KioskDeviceConfig(
        flow=flow.config_from_mapping(device_id, flow_keys),
        card_reader=card_reader,
        cash=cash,
        document_printer=document_printer,
        receipt_printer=receipt,
        receipt_key=receipt_key,
        display=file.display,
        keypad=file.keypad,
        speech=file.speech,
        settings=RuntimeSettings(
            office_timeout_s=options.office_timeout,
            issue_retries=options.issue_retries,
            poll_interval_s=options.poll_interval,
        ),
        path=path,
    )


def _within(name: str, check: Callable[[Any], Any], value: Any) -> Any:
    """``check(value)``, its :class:`Invalid` seen from the file (under the section ``name``)."""
    try:
        return check(value)
    except Invalid as err:
        raise err.within(name) from err


# -- the parts ------------------------------------------------------------------------------------------


class ObservedJournal(KioskJournal):
    """The kiosk journal, telling ``after_append`` about each record once it is on disk.

    The control channel uses it to stop the process at an exact point of the money flow
    (fault-injection runs); the kiosk itself needs nothing from it.
    """

    after_append: Callable[[Mapping[str, Any]], None] | None = None

    def append(self, entry: flow.JournalEntry, at_ms: int) -> dict[str, Any]:
        """Append durably, then call the hook."""
        record = super().append(entry, at_ms)
        hook = self.after_append
        if hook is not None:
            hook(record)
        return record


class SimulatedCards:
    """The demo residents' cards (drivers.jpki_sim.DEMO_CARDS) for a simulated reader.

    Each card is made once per process, so its PIN counter lives as long as the kiosk runs
    (three wrong PINs block it until the process restarts: a new card from the "municipality").
    """

    def __init__(self, ca_dir: Path, reader: Any) -> None:
        from drivers.jpki_sim import SimulatedJpkiCa

        self.ca = SimulatedJpkiCa.open(ca_dir)
        self.reader = reader
        self._cards: dict[str, Any] = {}

    def card(self, serial: str) -> Any:
        """The demo card ``serial`` (ValueError naming the demo serials otherwise)."""
        if serial not in self._cards:
            self._cards[serial] = self.ca.demo_card(serial)
        return self._cards[serial]

    def insert(self, serial: str) -> None:
        """Put the card in the reader (CardError if one is in it already)."""
        self.reader.insert(self.card(serial))

    def pull(self) -> str | None:
        """Take the card out; its serial, or None when the reader was empty."""
        card = self.reader.pull()
        return None if card is None else str(card.serial)

    @property
    def inserted(self) -> str | None:
        """The serial of the card in the reader."""
        card = self.reader.card
        return None if card is None else str(card.serial)


class PdfRenderer:
    """:class:`certificates.pdf.CertificatePdfRenderer`, imported at the first certificate.

    The PDF drawing stack is needed only when a certificate prints, so a kiosk that starts (a
    restart after a crash included) settles the money and serves without waiting for it.
    """

    def __init__(self) -> None:
        self._renderer: CertificateRenderer | None = None

    def render(self, kind: str, content: CertificateContent, issue_number: str) -> bytes:
        """The PDF of one copy (kiosk.ports.CertificateRenderer)."""
        if self._renderer is None:
            from certificates.pdf import CertificatePdfRenderer

            self._renderer = CertificatePdfRenderer()
        return self._renderer.render(kind, content, issue_number)


def _stack_decisions(journal: KioskJournal) -> set[int]:
    """Note values the journal decided to stack, in open sessions, without a confirmation."""
    try:
        sessions = replay(journal.records())
    except (RecoveryError, JournalError) as err:
        log.error("cannot read the journal's escrow decisions: %s", err)
        return set()
    return {value for r in sessions.values() if not r.closed for value, action in r.escrow if action == "stack"}


def open_cash(config: CashConfig, journal: KioskJournal, data_dir: Path) -> CashBox:
    """The configured cash box, ready for the runtime (:func:`drivers.cash.open_settled_cash_box`),
    with this kiosk's escrow decisions and its hopper counts kept in ``<data>/cash.json``."""
    path = data_dir / "cash.json"

    def open_counts() -> StateStore:
        try:
            return StateStore(path)
        except StoreError as err:
            raise KioskDeviceError(f"cannot keep the hopper counts in {path}: {err}") from err

    return open_settled_cash_box(
        config,
        decided_to_stack=lambda: _stack_decisions(journal),
        open_counts=open_counts,
        store_errors=(StoreError,),
    )


def _reader(settings: CardReaderConfig) -> tuple[CardReader, SimulatedCards | None]:
    if settings.simulated:
        from drivers.jpki_sim import SimulatedCardReader

        reader = SimulatedCardReader()
        if settings.ca_dir is None:  # check_card_reader_config refuses this
            raise KioskDeviceError("card_reader.ca_dir: missing; the simulated cards need their CA's directory")
        try:
            return reader, SimulatedCards(Path(settings.ca_dir), reader)
        except (CardError, OSError) as err:
            raise KioskDeviceError(
                f"card_reader.ca_dir: cannot open the simulated CA in {settings.ca_dir}: {err}"
            ) from err
    from drivers.pcsc_reader import PcscCardReader

    try:
        return PcscCardReader(settings.reader or None, eject=settings.eject), None
    except CardError as err:
        raise KioskDeviceError(f"card_reader: {err}") from err


def _open_document_printer(settings: DocumentPrinterSettings) -> CupsPrinter | DirectoryPrinter:
    if settings.backend == "cups":
        return CupsPrinter(settings.queue, wait_s=settings.wait_s, options=settings.options)
    if settings.directory is None:  # document_printer_settings refuses this
        raise KioskDeviceError("document_printer.dir: missing; give the directory the PDFs go to")
    return DirectoryPrinter(
        settings.directory, sheets=settings.sheets, jam_after=settings.jam_after, delay_s=settings.delay_s
    )


def _open_card(transport: ApduTransport) -> JpkiPort:
    from drivers.jpki import JpkiCard

    return JpkiCard(transport)


def _speaker(speech: SpeechConfig) -> Any:
    backend = speech.backend
    if backend == "none":
        return None
    speechmod: Any = importlib.import_module("drivers.speech")  # untyped optional engines behind it
    try:
        return speechmod.make_speaker(backend)
    except speechmod.SpeechError as err:
        raise UsageError(f"speech.backend: {err}") from err


@dataclass
class KioskDevice:
    """A kiosk's runtime with everything it was built from (for the CLI, the app and tests)."""

    config: KioskDeviceConfig
    agent: DeviceAgent
    office: AgentOffice
    journal: ObservedJournal
    cash: CashBox
    reader: CardReader
    document_printer: DocumentPrinterPort
    receipt_printer: EscposReceiptPrinter
    runtime: KioskRuntime
    cards: SimulatedCards | None = None
    speaker: Any = None
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def start(self) -> None:
        """Connect to the broker and settle what an earlier run left (the runtime's start)."""
        self.agent.start()
        self.runtime.start()

    def close(self) -> None:
        """Stop the runtime's thread (if any), make the devices safe, close the stores."""
        self.runtime.stop()
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:  # closing must go on: the journal and outbox close last
                log.exception("closing a kiosk part failed")
        self._closers.clear()


def build_kiosk(
    config: KioskDeviceConfig,
    *,
    site: str,
    device_id: str,
    broker_url: str,
    data_dir: Path,
    boot_id: str | None = None,
    speaker: Any = None,
    runtime_speaks: bool = True,
    agent_options: Mapping[str, Any] | None = None,
) -> KioskDevice:
    """Open every configured part and wire the runtime; nothing is connected or started yet.

    ``speaker`` defaults to the configured one ([speech]); ``runtime_speaks=False`` keeps it
    out of the runtime for a screen that speaks itself (``KioskDevice.speaker`` holds it).

    Raises :class:`KioskDeviceError` (a device cannot be opened), :class:`UsageError` (the
    configuration cannot work here) or the store's errors (the data directory is unusable).
    """
    if config.flow.device_id != device_id:
        config = replace(config, flow=replace(config.flow, device_id=device_id))
    closers: list[Callable[[], None]] = []

    def undo() -> None:
        for closer in reversed(closers):
            try:
                closer()
            except Exception:  # the first error is the one to report
                log.exception("cleanup after a failed start")

    try:
        agent = DeviceAgent(
            AgentConfig(
                site=site,
                device_id=device_id,
                role="kiosk",
                broker_url=broker_url,
                data_dir=data_dir,
                **dict(agent_options or {}),
            )
        )
    except (SyncError, StoreError) as err:
        raise KioskDeviceError(f"cannot open the kiosk's data in {data_dir}: {err}") from err
    closers.append(agent.stop)
    try:
        office = AgentOffice(agent)
        try:
            journal = ObservedJournal(data_dir / "journal")
        except JournalError as err:
            raise KioskDeviceError(str(err)) from err
        closers.append(journal.close)
        try:
            cash = open_cash(config.cash, journal, data_dir)
        except CashError as err:
            raise KioskDeviceError(f"cash: {err}") from err
        closers.append(cash.close)
        # A stopping kiosk takes no more money, whatever else fails.
        closers.append(cash.inhibit)
        reader, cards = _reader(config.card_reader)
        closers.append(reader.release)
        document = _open_document_printer(config.document_printer)
        receipts = _receipt_printer(config, device_id, agent)
        if speaker is None:
            speaker = _speaker(config.speech)
            if speaker is not None:
                closers.append(speaker.close)
        runtime = KioskRuntime(
            config=config.flow,
            journal=journal,
            cash=cash,
            reader=reader,
            open_card=_open_card,
            office=office,
            printer=document,
            renderer=PdfRenderer(),
            receipts=receipts,
            speaker=speaker if runtime_speaks else None,
            settings=config.settings,
            boot_id=boot_id,
            health=KioskHealth(hoppers=_hopper_counts(cash), day_of=_office_day_of(agent)),
        )
        # The device status carries the kiosk's health; a change sends it at once.
        agent.status_health = runtime.health.message
        runtime.health.on_change = agent.health_changed
    except BaseException:
        undo()
        raise
    return KioskDevice(
        config=config,
        agent=agent,
        office=office,
        journal=journal,
        cash=cash,
        reader=reader,
        document_printer=document,
        receipt_printer=receipts,
        runtime=runtime,
        cards=cards,
        speaker=speaker,
        _closers=closers,
    )


def _hopper_counts(cash: CashBox) -> Callable[[], Mapping[int, int]] | None:
    """What the cash box knows of its hoppers' coins (coin -> count), for the kiosk's health.

    The ccTalk box counts down from the configured counts (a hopper cannot count its coins);
    the in-memory model holds its coins. None for a box that cannot tell.
    """
    if isinstance(cash, CountedCashBox | CcTalkCashBox):
        return lambda: cash.hopper_counts
    if isinstance(cash, FakeCashBox):
        return lambda: dict(cash.hoppers)
    return None


def _office_day_of(agent: DeviceAgent) -> Callable[[int], date]:
    """The business day of a wall-clock ms in the office's time zone and rollover hour (the
    office's configuration as last received; Japan's until one is): the kiosk's "today"."""

    def day_of(wall_ms: int) -> date:
        doc = agent.document("office_config")
        if doc is None:
            return tokyo_business_day(wall_ms)
        try:
            tz = zoneinfo.ZoneInfo(doc.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return tokyo_business_day(wall_ms)
        return business_day(wall_ms, tz, doc.rollover_hour)

    return day_of


def _receipt_printer(config: KioskDeviceConfig, device_id: str, agent: DeviceAgent) -> EscposReceiptPrinter:
    from drivers.printer_model import PrinterConfigError
    from firmware_profiles.errors import ProfileError

    # Imported by name: python-escpos has no type information, and importing it is costly.
    escpos: Any = importlib.import_module("drivers.escpos_printer")
    section, key = config.receipt_printer, config.receipt_key
    try:
        model = None
        if section.facts is None:
            # Written by hand: the named model's facts from the packaged catalog. Provisioning
            # writes them, and then no profile is read at start (docs/architecture.md).
            from firmware_profiles.packaged import printer_model_named

            model = printer_model_named(section.model, f"{key}.model")
        printer = escpos.open_printer(section, model=model, key=key)
    except (PrinterConfigError, ProfileError) as err:
        raise UsageError(f"{_where(config.path)}{err}") from err

    def office_name() -> str:
        doc = agent.document("office_config")
        return doc.office_name if doc is not None else ""

    return EscposReceiptPrinter(printer, device_id=device_id, office_name=office_name)


def _where(path: Path | None) -> str:
    return f"{path}: " if path is not None else ""


def cash_simulator(device: KioskDevice) -> Any:
    """The in-memory cash box a control channel can put money into (None for real devices)."""
    from drivers.cash import FakeCashBox

    return device.cash if isinstance(device.cash, FakeCashBox) else None


def describe_parts(device: KioskDevice) -> Sequence[str]:
    """One line per part, for the start-up log."""
    c = device.config
    printer = c.document_printer
    where = f"queue {printer.queue}" if printer.backend == "cups" else f"directory {printer.directory}"
    return (
        f"card reader: {c.card_reader.backend}",
        f"cash: {c.cash.backend}" + (f" on {c.cash.port}" if c.cash.port else ""),
        f"document printer: {printer.backend} ({where})",
        f"receipt printer: {c.receipt_printer.model} over {c.receipt_printer.backend}",
    )
