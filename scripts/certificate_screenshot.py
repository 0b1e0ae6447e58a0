#!/usr/bin/env python3
"""Render the five certificates of the demo town into docs/screenshots/certificate-<kind>.png.

The content comes from the real pipeline: demo registry -> eligibility -> certificate_content
-> the PDF renderer's pages, for 山田 太郎 (card SIM-0001) and, for the foreign-resident layout,
NGUYEN VAN AN (SIM-0006).

    python scripts/certificate_screenshot.py [--scale 0.5] [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from certificates.pdf import render_png
from certificates.registry import demo_registry
from certificates.rules import CertificateKind, certificate_content, parse_options

MAYOR = "まどぐち町長　佐々木　和夫"
ISSUED = date(2026, 4, 1)
SITE_CODE = "demo-town"  # the demo site's id (office/default_site.toml), first in its issue numbers

SHOTS: list[tuple[str, str, CertificateKind, dict[str, object]]] = [
    (
        "certificate-juminhyo.png",
        "SIM-0001",
        CertificateKind.JUMINHYO,
        {"scope": "household", "with_honseki": True, "with_zokugara": True},
    ),
    (
        "certificate-juminhyo-foreign.png",
        "SIM-0006",
        CertificateKind.JUMINHYO,
        {"scope": "members", "with_honseki": True, "with_zokugara": True, "with_my_number": True},
    ),
    ("certificate-inkan.png", "SIM-0001", CertificateKind.INKAN, {}),
    ("certificate-koseki.png", "SIM-0001", CertificateKind.KOSEKI, {"variant": "tohon"}),
    ("certificate-fuhyo.png", "SIM-0001", CertificateKind.FUHYO, {}),
    ("certificate-shotoku.png", "SIM-0001", CertificateKind.SHOTOKU, {"fiscal_year": 2025}),
]


def main(argv: list[str] | None = None) -> int:
    """Write the PNGs; print each path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=0.5, help="1.0 = 300 dpi (default 0.5)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args(argv)
    registry = demo_registry()
    for i, (name, card, kind, raw) in enumerate(SHOTS, start=1):
        resident = registry.by_card(card)
        if resident is None:
            raise SystemExit(f"{card}: not in the demo registry")
        options = parse_options(kind, raw)
        content = certificate_content(registry, resident, kind, options, f"{SITE_CODE}-20260401-{i:05d}", ISSUED, MAYOR)
        print("wrote", _compact(render_png(content, args.out / name, args.scale)))
    return 0


def _compact(path: Path) -> Path:
    """16 grey levels: the same picture at about a third of the size (the ground's dots are noisy)."""
    with Image.open(path) as image:
        dpi = image.info.get("dpi")
        levels = image.convert("L").point(lambda v: round(v * 15 / 255) * 17)
        levels.quantize(16, dither=Image.Dither.NONE).save(path, optimize=True, dpi=dpi)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
