"""The ticket printer models the dispenser knows, as data.

Until the provisioning issue moves them to one YAML profile per model, they live here. Code
asks the model for facts (``model.width_px``, ``model.status_queries``), never
``if model.name == "TM-T88V"``.

Sources: widths and resolutions from python-escpos's bundled capabilities (escpos-printer-db)
where the model is listed, otherwise from the makers' spec sheets as summarised in
HARDWARE.md. USB ids are less certain: Epson TM printers in their default "USB printer class"
mode all report 04b8:0202 (usb.ids: "Receipt Printer M129C/TM-T70"); in "vendor-defined
class" mode each model has its own id (the TM-T20 family is widely reported as 04b8:0e15).
``notes`` says what was not confirmed on a real unit; check with ``lsusb`` when installing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

EPSON_USB_VENDOR = 0x04B8
STAR_USB_VENDOR = 0x0519
EPSON_STATUS_QUERIES = (1, 2, 3, 4)


@dataclass(frozen=True)
class PrinterModel:
    """One printer model: what the raster renderer and the status reader need to know.

    ``width_px`` is the printable width in dots (the raster is never wider); ``dpi`` its
    resolution; ``escpos_profile`` the python-escpos profile name handed to its transports;
    ``kanji`` whether the firmware has kanji fonts (``FS &``; only Japanese-market units) -
    tickets are rastered either way; ``status_queries`` the ``DLE EOT n`` the model answers;
    ``fragment_height`` the most raster rows sent in one ``GS v 0`` command (big fragments
    garble some printers: python-escpos issues #367, #424, #631).
    """

    name: str
    width_px: int
    dpi: int
    escpos_profile: str
    usb_vendor: int | None
    usb_product: int | None
    kanji: bool
    status_queries: tuple[int, ...]
    fragment_height: int = 256
    needs_escpos_emulation: bool = False
    notes: str = ""

    def __post_init__(self) -> None:
        if self.width_px <= 0 or self.width_px % 8:
            raise ValueError(f"{self.name}: width_px must be a positive multiple of 8, got {self.width_px}")
        if not 1 <= self.fragment_height <= 4095:
            # GS v 0 carries the height in two bytes, and printers accept at most 4095 rows.
            raise ValueError(f"{self.name}: fragment_height must be 1-4095, got {self.fragment_height}")
        if not set(self.status_queries) <= set(EPSON_STATUS_QUERIES):
            raise ValueError(f"{self.name}: status_queries must be among 1-4, got {self.status_queries}")

    @property
    def paper_mm(self) -> int:
        """The nominal roll width (58 or 80 mm) the printable width belongs to."""
        printable_mm = self.width_px / self.dpi * 25.4
        return 58 if printable_mm < 60 else 80


_MODELS = (
    PrinterModel(
        name="TM-T88V",
        width_px=512,
        dpi=180,
        escpos_profile="TM-T88V",
        usb_vendor=EPSON_USB_VENDOR,
        usb_product=0x0202,
        kanji=False,
        status_queries=EPSON_STATUS_QUERIES,
    ),
    PrinterModel(
        name="TM-T88VI",
        width_px=512,
        dpi=180,
        # escpos-printer-db has no TM-T88VI profile; the TM-T88V's command set is the same.
        escpos_profile="TM-T88V",
        usb_vendor=EPSON_USB_VENDOR,
        usb_product=0x0202,
        kanji=False,
        status_queries=EPSON_STATUS_QUERIES,
        notes="USB id is the printer-class id shared by Epson TM models (not checked on a unit).",
    ),
    PrinterModel(
        name="TM-T20III",
        width_px=576,
        dpi=203,
        # Closest profile in escpos-printer-db (same width, resolution and commands).
        escpos_profile="TM-T20II",
        usb_vendor=EPSON_USB_VENDOR,
        usb_product=0x0E15,
        kanji=False,
        status_queries=EPSON_STATUS_QUERIES,
        notes="04b8:0e15 in vendor-class USB mode (reported for the TM-T20 family); 04b8:0202 in printer-class mode.",
    ),
    PrinterModel(
        name="TM-m30III",
        width_px=576,
        dpi=203,
        escpos_profile="TM-T20II",
        usb_vendor=EPSON_USB_VENDOR,
        usb_product=0x0202,
        kanji=False,
        status_queries=EPSON_STATUS_QUERIES,
        notes="USB id not checked on a unit; the TM-m30III is usually attached by network (port 9100).",
    ),
    PrinterModel(
        name="TSP143",
        width_px=576,
        dpi=203,
        escpos_profile="default",
        usb_vendor=STAR_USB_VENDOR,
        usb_product=0x0003,
        kanji=False,
        # Star's own status protocol is not DLE EOT. Assumed, not checked on a unit: in ESC/POS
        # emulation it answers the two queries every emulation answers (1 and 4).
        status_queries=(1, 4),
        needs_escpos_emulation=True,
        notes="Speaks Star mode natively: switch it to ESC/POS emulation (Star's configuration utility) first. "
        "0519:0003 is the TSP100 family's USB id.",
    ),
    PrinterModel(
        name="generic-58mm",
        width_px=384,
        dpi=203,
        escpos_profile="POS-5890",
        usb_vendor=None,
        usb_product=None,
        kanji=False,
        # Cheap 58 mm printers answer the two queries python-escpos wraps; some answer none.
        status_queries=(1, 4),
        # Their receive buffers are small: the garbled-image reports come from these.
        fragment_height=128,
        notes="No usable USB id: many vendors; give printer.usb.vendor/product explicitly.",
    ),
)

MODELS: Mapping[str, PrinterModel] = MappingProxyType({m.name: m for m in _MODELS})
"""Every built-in model by name (the ``printer.model`` of a device's configuration)."""
