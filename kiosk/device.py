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

    [receipt_printer]          # drivers.escpos_printer.open_printer, as the dispenser's [printer]
    model = "TM-T20III"        # (provisioning writes this section as [printer]: both are read)
    backend = "usb"

    [keypad]                   # optional: the tactile keypad, read by the screens
    port = "/dev/ttyACM0"

    [speech]
    backend = "openjtalk"      # or "espeak", "none"

    [kiosk]                    # kiosk.flow.config_from_mapping, plus the office link's timings
    timeouts = {payment = 120, take_card = 20}   # seconds per step
    office_timeout = 10        # seconds an office request may take
    poll_interval = 0.1        # seconds between device polls

:func:`load_kiosk_config` checks all of it and raises :class:`~common.cli.UsageError`
naming the key and the fix; :func:`build_kiosk` opens the devices and wires a
:class:`~kiosk.runtime.KioskRuntime` to a :class:`~sync.agent.DeviceAgent` of role ``kiosk``
through :class:`~kiosk.office_link.AgentOffice`, with the journal in ``<data>/journal``.

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
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from common.cli import UsageError, read_device_config
from drivers.card_reader import CardError, CardReader
from drivers.cash import CashBox, CashConfig, CashConfigError, CashError, open_settled_cash_box
from kiosk import flow
from kiosk.journal import JournalError, KioskJournal
from kiosk.office_link import AgentOffice
from kiosk.ports import ApduTransport, DocumentPrinterPort, JpkiPort, KioskError
from kiosk.printers import CupsPrinter, DirectoryPrinter, EscposReceiptPrinter
from kiosk.recovery import RecoveryError, replay
from kiosk.runtime import KioskRuntime, RuntimeSettings
from sync.agent import AgentConfig, DeviceAgent
from sync.errors import StoreError, SyncError
from sync.store import StateStore

__all__ = [
    "CardReaderSettings",
    "DisplaySettings",
    "DocumentPrinterSettings",
    "KioskDevice",
    "KioskDeviceConfig",
    "KioskDeviceError",
    "ObservedJournal",
    "SimulatedCards",
    "build_kiosk",
    "load_kiosk_config",
]

log = logging.getLogger(__name__)

SECTIONS: Final = frozenset(
    {"display", "card_reader", "cash", "document_printer", "receipt_printer", "printer", "keypad", "speech", "kiosk"}
)
DISPLAY_KEYS: Final = frozenset({"width", "height", "fullscreen", "orientation", "maxfps", "power"})
RUNTIME_KEYS: Final = frozenset({"office_timeout", "issue_retries", "poll_interval"})
FLOW_KEYS: Final = frozenset({"fees", "timeouts", "warning", "max_copies", "languages", "take_card_reminders"})
CARD_BACKENDS: Final = {"pcsc": "pcsc", "sim": "sim", "simulated": "sim"}
DOCUMENT_BACKENDS: Final = {"cups": "cups", "dir": "dir", "pdf_dir": "dir"}


class KioskDeviceError(KioskError):
    """A configured device cannot be opened or used; the message names it and what to check."""


# -- configuration -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DisplaySettings:
    """The touch screen's size and mode (for ``madoguchi-kiosk ui``)."""

    width: int = 1080
    height: int = 1920
    fullscreen: bool = False
    orientation: str = "portrait"
    maxfps: int = 30


@dataclass(frozen=True)
class CardReaderSettings:
    """``pcsc`` (a real reader through pcscd) or ``sim`` (the demo cards of a simulated CA)."""

    backend: str
    reader: str = ""
    eject: bool = False
    ca_dir: Path | None = None


@dataclass(frozen=True)
class DocumentPrinterSettings:
    """``cups`` (``queue``, ``wait_s``, ``options``) or ``dir`` (``dir``, ``sheets``, ``jam_after``, ``delay_s``)."""

    backend: str
    queue: str = "madoguchi"
    wait_s: float = 180.0
    options: Mapping[str, str] = field(default_factory=dict)
    directory: Path | None = None
    sheets: int | None = None
    jam_after: int | None = None
    delay_s: float = 0.0


@dataclass(frozen=True)
class KioskDeviceConfig:
    """A kiosk's hardware and behaviour, validated. ``sections`` keeps every table as read."""

    flow: flow.FlowConfig
    card_reader: CardReaderSettings
    cash: CashConfig
    document_printer: DocumentPrinterSettings
    receipt_printer: Mapping[str, Any]
    receipt_key: str = "receipt_printer"
    display: DisplaySettings = field(default_factory=DisplaySettings)
    keypad: Mapping[str, Any] = field(default_factory=dict)
    speech: Mapping[str, Any] = field(default_factory=dict)
    settings: RuntimeSettings = field(default_factory=RuntimeSettings)
    path: Path | None = None
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def _where(path: Path | None) -> str:
    return f"{path}: " if path is not None else ""


def _unknown(section: Mapping[str, Any], known: frozenset[str], name: str, where: str) -> None:
    extra = sorted(set(section) - known)
    if extra:
        raise UsageError(f"{where}{name}.{extra[0]}: unknown key; allowed: {', '.join(sorted(known))}")


def _bool(section: Mapping[str, Any], key: str, name: str, where: str, default: bool) -> bool:
    value = section.get(key, default)
    if not isinstance(value, bool):
        raise UsageError(f"{where}{name}.{key}: expected true or false, got {value!r}")
    return value


def _count(section: Mapping[str, Any], key: str, name: str, where: str, what: str) -> int | None:
    value = section.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"{where}{name}.{key}: expected {what} (a whole number, 0 or more), got {value!r}")
    return value


def _seconds(section: Mapping[str, Any], key: str, name: str, where: str, default: float, low: float = 0.0) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < low:
        raise UsageError(f"{where}{name}.{key}: expected a number of seconds, at least {low:g}; got {value!r}")
    return float(value)


def _display(section: Mapping[str, Any], where: str) -> DisplaySettings:
    _unknown(section, DISPLAY_KEYS, "display", where)
    width, height = section.get("width", 1080), section.get("height", 1920)
    for key, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int) or not 320 <= value <= 7680:
            raise UsageError(f"{where}display.{key}: expected pixels from 320 to 7680, got {value!r}")
    orientation = section.get("orientation", "landscape" if width >= height else "portrait")
    if orientation not in ("landscape", "portrait"):
        raise UsageError(f'{where}display.orientation: expected "landscape" or "portrait", got {orientation!r}')
    maxfps = section.get("maxfps", 30)
    if isinstance(maxfps, bool) or not isinstance(maxfps, int) or not 0 <= maxfps <= 120:
        raise UsageError(f"{where}display.maxfps: expected frames per second from 1 to 120 (0: no cap), got {maxfps!r}")
    return DisplaySettings(width, height, _bool(section, "fullscreen", "display", where, False), orientation, maxfps)


def _card_reader(section: Mapping[str, Any], where: str) -> CardReaderSettings:
    if not section:
        raise UsageError(f'{where}card_reader: missing; add [card_reader] with backend = "pcsc" (or "sim" for a demo)')
    _unknown(section, frozenset({"backend", "reader", "eject", "ca_dir"}), "card_reader", where)
    raw = section.get("backend")
    backend = CARD_BACKENDS.get(raw) if isinstance(raw, str) else None
    if backend is None:
        raise UsageError(f'{where}card_reader.backend: {raw!r} is not a card reader; use "pcsc" or "sim"')
    reader = section.get("reader", "")
    if not isinstance(reader, str):
        raise UsageError(f'{where}card_reader.reader: expected (part of) the reader\'s name, or "" for the first')
    eject = _bool(section, "eject", "card_reader", where, False)
    ca_dir = section.get("ca_dir")
    if backend == "sim":
        if not isinstance(ca_dir, str) or not ca_dir:
            raise UsageError(
                f"{where}card_reader.ca_dir: the simulated cards need their CA's directory, the one whose "
                'ca-cert.pem the office trusts (kiosk.jpki_ca), e.g. ca_dir = "var/jpki"'
            )
        return CardReaderSettings("sim", ca_dir=Path(ca_dir))
    if ca_dir is not None:
        raise UsageError(f"{where}card_reader.ca_dir: only a simulated reader has a CA directory; remove it")
    return CardReaderSettings("pcsc", reader=reader, eject=eject)


def _document_printer_settings(section: Mapping[str, Any], where: str) -> DocumentPrinterSettings:
    name = "document_printer"
    if not section:
        raise UsageError(f'{where}{name}: missing; add [document_printer] with backend = "cups" and queue = "…"')
    raw = section.get("backend")
    backend = DOCUMENT_BACKENDS.get(raw) if isinstance(raw, str) else None
    if backend is None:
        raise UsageError(f'{where}{name}.backend: {raw!r} is not a document printer; use "cups" or "dir"')
    paper = section.get("paper", "A4")
    if paper != "A4":
        raise UsageError(f'{where}{name}.paper: certificates are A4; set paper = "A4" (got {paper!r})')
    if backend == "cups":
        _unknown(section, frozenset({"backend", "paper", "queue", "wait_s", "options"}), name, where)
        queue = section.get("queue", "madoguchi")
        if not isinstance(queue, str) or not queue or not all(c.isalnum() or c in "_-." for c in queue):
            raise UsageError(f'{where}{name}.queue: expected a CUPS queue name such as "madoguchi", got {queue!r}')
        options = section.get("options", {})
        if not isinstance(options, Mapping) or not all(isinstance(v, str | int) for v in options.values()):
            raise UsageError(f'{where}{name}.options: expected a table of lp options, e.g. {{sides = "one-sided"}}')
        return DocumentPrinterSettings(
            "cups",
            queue=queue,
            wait_s=_seconds(section, "wait_s", name, where, 180.0),
            options={str(k): str(v) for k, v in options.items()},
        )
    _unknown(section, frozenset({"backend", "paper", "dir", "sheets", "jam_after", "delay_s"}), name, where)
    directory = section.get("dir")
    if not isinstance(directory, str) or not directory:
        raise UsageError(f'{where}{name}.dir: where the PDFs go, e.g. dir = "var/kiosk-1/certificates"')
    return DocumentPrinterSettings(
        "dir",
        directory=Path(directory),
        sheets=_count(section, "sheets", name, where, "the sheets in the tray (omit: endless)"),
        jam_after=_count(section, "jam_after", name, where, "pages before a jam"),
        delay_s=_seconds(section, "delay_s", name, where, 0.0),
    )


def _runtime(section: Mapping[str, Any], where: str) -> RuntimeSettings:
    timeout = _seconds(section, "office_timeout", "kiosk", where, 10.0, 0.1)
    poll = _seconds(section, "poll_interval", "kiosk", where, 0.1, 0.005)
    if poll > 1.0:
        raise UsageError(f"{where}kiosk.poll_interval: at most 1 second (cash events wait for it), got {poll:g}")
    retries = section.get("issue_retries", 2)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
        raise UsageError(f"{where}kiosk.issue_retries: expected 0 to 10, got {retries!r}")
    return RuntimeSettings(office_timeout_s=timeout, issue_retries=retries, poll_interval_s=poll)


def load_kiosk_config(path: Path | None, device_id: str) -> KioskDeviceConfig:
    """Read and check a kiosk's device configuration; UsageError names the key and the fix."""
    if path is None:
        raise UsageError("--device-config is required: the kiosk's hardware (card reader, cash, printers) as TOML")
    doc = read_device_config(path, set(SECTIONS))
    return kiosk_config_from_mapping(doc, device_id, path)


def kiosk_config_from_mapping(
    doc: Mapping[str, Mapping[str, Any]], device_id: str, path: Path | None = None
) -> KioskDeviceConfig:
    """:func:`load_kiosk_config` for an already parsed document (tests, provisioning)."""
    where = _where(path)
    unknown = sorted(set(doc) - SECTIONS - {"device"})
    if unknown:
        raise UsageError(f"{where}{unknown[0]}: unknown section; allowed: {', '.join(sorted(SECTIONS))}")
    card_reader = _card_reader(doc.get("card_reader") or {}, where)
    if "cash" not in doc:
        raise UsageError(f'{where}cash: missing; add [cash] with backend = "cctalk" and port = "/dev/serial/by-id/…"')
    try:
        cash = CashConfig.from_mapping(doc["cash"], "cash")
    except CashConfigError as err:
        raise UsageError(f"{where}{err}") from err
    document_printer = _document_printer_settings(doc.get("document_printer") or {}, where)
    if "receipt_printer" in doc and "printer" in doc:
        raise UsageError(f"{where}printer: give the receipt printer once, as [receipt_printer] (or [printer])")
    receipt_key = "printer" if "printer" in doc else "receipt_printer"
    receipt = doc.get(receipt_key) or {}
    if not receipt:
        raise UsageError(
            f'{where}receipt_printer: missing; add [receipt_printer] with model and backend (e.g. backend = "usb")'
        )
    kiosk = dict(doc.get("kiosk") or {})
    _unknown(kiosk, FLOW_KEYS | RUNTIME_KEYS, "kiosk", where)
    settings = _runtime(kiosk, where)
    for key in RUNTIME_KEYS:
        kiosk.pop(key, None)
    try:
        flow_config = flow.config_from_mapping(device_id, kiosk)
    except flow.FlowConfigError as err:
        message = str(err)
        if message.startswith("device_id"):
            message = f"--device-{message.removeprefix('device_')}"
        elif not message.startswith("kiosk."):
            message = f"kiosk.{message}"
        raise UsageError(f"{where}{message}") from err
    speech = dict(doc.get("speech") or {})
    _unknown(speech, frozenset({"backend"}), "speech", where)
    keypad = dict(doc.get("keypad") or {})
    _unknown(keypad, frozenset({"port"}), "keypad", where)
    return KioskDeviceConfig(
        flow=flow_config,
        card_reader=card_reader,
        cash=cash,
        document_printer=document_printer,
        receipt_printer=dict(receipt),
        receipt_key=receipt_key,
        display=_display(doc.get("display") or {}, where),
        keypad=keypad,
        speech=speech,
        settings=settings,
        path=path,
        sections=MappingProxyType({k: dict(v) for k, v in doc.items()}),
    )


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


def _reader(settings: CardReaderSettings) -> tuple[CardReader, SimulatedCards | None]:
    if settings.backend == "sim":
        from drivers.jpki_sim import SimulatedCardReader

        reader = SimulatedCardReader()
        assert settings.ca_dir is not None
        try:
            return reader, SimulatedCards(settings.ca_dir, reader)
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
    assert settings.directory is not None
    return DirectoryPrinter(
        settings.directory, sheets=settings.sheets, jam_after=settings.jam_after, delay_s=settings.delay_s
    )


def _open_card(transport: ApduTransport) -> JpkiPort:
    from drivers.jpki import JpkiCard

    return JpkiCard(transport)


def _speaker(speech: Mapping[str, Any]) -> Any:
    backend = str(speech.get("backend", "none"))
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
        from certificates.pdf import CertificatePdfRenderer

        runtime = KioskRuntime(
            config=config.flow,
            journal=journal,
            cash=cash,
            reader=reader,
            open_card=_open_card,
            office=office,
            printer=document,
            renderer=CertificatePdfRenderer(),
            receipts=receipts,
            speaker=speaker if runtime_speaks else None,
            settings=config.settings,
            boot_id=boot_id,
        )
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


def _receipt_printer(config: KioskDeviceConfig, device_id: str, agent: DeviceAgent) -> EscposReceiptPrinter:
    # Imported by name: python-escpos has no type information, and importing it is costly.
    escpos: Any = importlib.import_module("drivers.escpos_printer")
    try:
        printer = escpos.open_printer(config.receipt_printer, key=config.receipt_key)
    except escpos.PrinterConfigError as err:
        raise UsageError(f"{_where(config.path)}{err}") from err

    def office_name() -> str:
        doc = agent.document("office_config")
        return doc.office_name if doc is not None else ""

    return EscposReceiptPrinter(printer, device_id=device_id, office_name=office_name)


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
        f"receipt printer: {c.receipt_printer.get('model')} over {c.receipt_printer.get('backend')}",
    )
