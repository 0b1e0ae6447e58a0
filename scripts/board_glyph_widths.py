#!/usr/bin/env python3
"""Write display_board/glyphs.py: how wide the board's font draws each non-CJK character.

    python scripts/board_glyph_widths.py

The board fits every text to its box without a window (display_board.scene), by widths in ems.
CJK characters are one em; the Latin, Vietnamese and Portuguese letters of the other lobby
languages differ from 0.23 em (a space) to 0.96 ("m"), so one figure for all of them either cut
names that fit or let others spill. This measures Noto Sans CJK (the board's font, Bold: the
wider of the two, so what is said to fit fits in either) with Pillow and writes the table,
rounded up to 1/100 em. Run it again only if the board's font changes.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

from PIL import ImageFont

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common.screen import find_font

# Printable ASCII, Latin-1 and Latin Extended-A/B letters, Vietnamese (Latin Extended Additional)
# and the few signs the board draws between its words.
RANGES = [(0x20, 0x7E), (0xA0, 0x24F), (0x1EA0, 0x1EF9)]
SIGNS = "·→…～—–"


def main() -> int:
    fonts = [ImageFont.truetype(find_font(bold=b), 1000) for b in (False, True)]
    chars = [chr(c) for start, end in RANGES for c in range(start, end + 1)] + list(SIGNS)
    widths = {}
    for ch in chars:
        em = max(f.getlength(ch) for f in fonts) / 1000
        widths[ch] = math.ceil(em * 100) / 100
    lines = [
        '"""How wide the board\'s font (Noto Sans CJK, the wider of Regular and Bold) draws each',
        "non-CJK character, in ems, rounded up. Written by scripts/board_glyph_widths.py; do not edit.",
        '"""',
        "",
        "WIDTHS: dict[str, float] = {",
    ]
    lines += [f"    {ch!r}: {w}," for ch, w in widths.items()]
    lines += ["}", ""]
    out = REPO / "display_board" / "glyphs.py"
    out.write_text("\n".join(lines), encoding="utf-8")
    # In the project's style, so that a run on an unchanged font changes nothing.
    subprocess.run([sys.executable, "-m", "ruff", "format", "--quiet", str(out)], check=False)
    print(f"wrote {out}: {len(widths)} characters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
