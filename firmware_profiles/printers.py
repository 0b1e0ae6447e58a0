"""A printer profile as the ESC/POS driver's facts: the one place they are turned into each other.

The driver declares what it needs of a model (:class:`drivers.printer_model.PrinterModel`) and
knows no model by name; :func:`printer_model` fills it from a resolved printer profile.
Provisioning writes the result into the device configuration (``[printer.facts]``); an app
whose configuration names only the model reads it through :mod:`firmware_profiles.packaged`.

Pure: no I/O.
"""

from __future__ import annotations

from common.validation import Invalid, convert
from drivers.printer_model import PrinterModel
from firmware_profiles.catalog import Profile
from firmware_profiles.errors import ProfileError
from firmware_profiles.profile_models import PrinterProfile


def printer_model(profile: Profile) -> PrinterModel:
    """The driver's facts of a printer profile (ProfileError for a profile of another kind)."""
    facts = profile.facts_as(PrinterProfile)
    usb = facts.usb
    fields = {
        "name": facts.name,
        "width_px": facts.media.width.pixels,
        "dpi": facts.media.dpi,
        "paper_mm": facts.media.paper_mm,
        "escpos_profile": facts.escpos_profile,
        "cutter": facts.features.full_cut or facts.features.partial_cut,
        "status_queries": list(facts.status.dle_eot),
        "fragment_height": facts.raster.fragment_height,
        "usb_vendor": usb.vendor if usb is not None else None,
        "usb_product": usb.product if usb is not None else None,
    }
    try:
        # Through the driver's own type, limits included: what the profile allows, it must take.
        return convert(fields, PrinterModel)
    except Invalid as err:
        raise ProfileError(f"{profile.file}: the driver cannot take this model's facts: {err}") from err
