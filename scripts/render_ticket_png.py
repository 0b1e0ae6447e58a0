"""Turn the bytes a ticket printer received into a PNG of the ticket (docs, demo, bug reports).

The image is decoded from the ESC/POS raster itself, not re-rendered from the job: it shows
exactly what the printer was told to print. Several tickets in one stream are stacked with a
dashed line where the paper was cut.

Usage::

    python scripts/render_ticket_png.py OUT.png < received.escpos
    python scripts/render_ticket_png.py OUT.png --input received.escpos
    python scripts/render_ticket_png.py OUT.png --sample [--model TM-T20III] [--language en]

``--sample`` prints a fixed sample ticket through the real encoder into the fake printer and
decodes what it received (the docs' ticket pictures).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from drivers.raster import render_ticket_png


def sample_escpos(model_name: str = "TM-T20III", language: str = "en") -> bytes:
    """The bytes the printer receives for a fixed sample ticket (no status queries)."""
    from drivers.escpos_printer import EscposTicketPrinter, FakeEscpos
    from firmware_profiles.packaged import printer_model_named
    from ticket_dispenser.ticket import IssuedTicket, ticket_job

    ticket = IssuedTicket(
        ticket_id="20250401-B-1105",
        day="2025-04-01",
        series="B",
        number=1105,
        category="certificates",
        names={"ja": "住民票の写し・印鑑登録証明書の交付", "en": "Residence and seal registration certificates"},
        route=("reception", "issuing"),
        procedures=(),
        issued_ms=1743467400000,  # 2025-04-01 09:30 JST
        clock_confirmed=True,
        people_ahead=3,
        est_wait_min=6,
        office_name="まどぐち町役場 総合窓口",
        language=language,
        token="SU5PVLU4YOXW6DGPVTGJNAFBUM",  # a fixed token: the QR code is part of the picture
    )
    fake = FakeEscpos()
    # The model's facts from its profile in the packaged catalog, as an app reads them when its
    # configuration names only the model.
    EscposTicketPrinter(fake, printer_model_named(model_name)).print_job(ticket_job(ticket))
    return fake.output


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python scripts/render_ticket_png.py", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("out", type=Path, help="PNG file to write")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--input", type=Path, help="file with the bytes the printer received (default: stdin)")
    source.add_argument("--sample", action="store_true", help="a fixed sample ticket instead of received bytes")
    parser.add_argument("--model", default="TM-T20III", help="printer model for --sample (default TM-T20III)")
    parser.add_argument("--language", default="en", help="resident's language for --sample (default en)")
    args = parser.parse_args(argv)
    if args.sample:
        data = sample_escpos(args.model, args.language)
    elif args.input is not None:
        data = args.input.read_bytes()
    elif sys.stdin.isatty():
        parser.error("pipe the printer's bytes into stdin, or give --input FILE or --sample")
    else:
        data = sys.stdin.buffer.read()
    try:
        written = render_ticket_png(data, args.out)
    except ValueError as err:  # EscposDecodeError included: say what is wrong with the bytes
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(written)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
