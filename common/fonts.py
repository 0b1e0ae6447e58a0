"""The Japanese font tickets are drawn with: Noto Sans CJK JP, or IPAex Gothic as a fallback.

Thermal printers cannot print hiragana from text commands on most models (HARDWARE.md), so the
ticket is rendered to an image with one of these fonts. Nothing happens at import: the font is
looked up when :func:`find_fonts` is called, and FreeType faces are opened on first use.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import ImageFont

log = logging.getLogger(__name__)

NOTO_FAMILY = "Noto Sans CJK JP"
IPAEX_FAMILY = "IPAexGothic"
APT_PACKAGES = ("fonts-noto-cjk", "fonts-ipaexfont-gothic")

# (regular, bold or None, family). Debian/Ubuntu paths first (the kiosks run Raspberry Pi OS),
# then Fedora/Arch; fc-list is the last resort for anything installed elsewhere.
_CANDIDATES: tuple[tuple[str, str | None, str], ...] = (
    (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
        NOTO_FAMILY,
    ),
    (
        "/usr/share/fonts/opentype/noto/NotoSansCJKjp-Regular.otf",
        "/usr/share/fonts/opentype/noto/NotoSansCJKjp-Bold.otf",
        NOTO_FAMILY,
    ),
    (
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Bold.ttc",
        NOTO_FAMILY,
    ),
    (
        "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc",
        NOTO_FAMILY,
    ),
    ("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf", None, IPAEX_FAMILY),
    ("/usr/share/fonts/truetype/ipaexfont-gothic/ipaexg.ttf", None, IPAEX_FAMILY),
)
# A TrueType collection holds several faces; the JP one is found by name, not by a fixed index.
_MAX_FACES = 32


class FontNotFoundError(RuntimeError):
    """No Japanese font is installed; the message names the package to install."""


def screen_font_path(*, bold: bool = False) -> str:
    """The Noto Sans CJK file the Kivy screens register as their default font.

    Kivy opens the first face of a collection, which in Noto Sans CJK is the Japanese one, and
    has no fallback for missing glyphs: the screens take Noto only, never IPAex (no hangul).
    """
    for regular, bold_path, family in _CANDIDATES:
        path = bold_path if bold else regular
        if family == NOTO_FAMILY and path is not None and Path(path).exists():
            return path
    raise FontNotFoundError("Noto Sans CJK not found: install the Debian package fonts-noto-cjk")


@dataclass(frozen=True)
class FontFace:
    """One face of a font file (``index`` selects a face inside a .ttc collection)."""

    path: Path
    index: int
    family: str

    def sha256(self) -> str:
        """The file's SHA-256 (golden raster files depend on the exact font file)."""
        return _sha256(self.path)


@dataclass(frozen=True)
class FontSet:
    """The regular and bold faces tickets are drawn with.

    ``bold`` is None when the family has no bold file (IPAex Gothic): bold text is then drawn
    with a stroke around the regular glyphs.
    """

    regular: FontFace
    bold: FontFace | None

    def font(self, size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
        """The face at ``size`` pixels per em (cached: renderers ask for the same sizes often)."""
        face = self.bold if bold and self.bold is not None else self.regular
        return _load(face.path, face.index, size)

    def stroke(self, size: int, bold: bool) -> int:
        """Extra stroke width for synthetic bold; 0 when a real bold face exists."""
        if not bold or self.bold is not None:
            return 0
        return max(1, round(size / 28))

    def missing_glyphs(self, text: str, bold: bool = False) -> set[str]:
        """Characters of ``text`` the face has no glyph for (they would print as tofu)."""
        font = self.font(32, bold)
        notdef = _notdef_signature(font)
        return {ch for ch in set(text) if not ch.isspace() and _signature(font, ch) == notdef}

    def describe(self) -> dict[str, str]:
        """Paths, faces and SHA-256 of the files (for golden-file sidecars and logs)."""
        out = {"regular": f"{self.regular.path}#{self.regular.index} ({self.regular.family})"}
        out["regular_sha256"] = self.regular.sha256()
        if self.bold is not None:
            out["bold"] = f"{self.bold.path}#{self.bold.index} ({self.bold.family})"
            out["bold_sha256"] = self.bold.sha256()
        return out


def find_fonts(
    regular: str | Path | None = None,
    bold: str | Path | None = None,
    *,
    candidates: Sequence[tuple[str, str | None, str]] = _CANDIDATES,
    fontconfig: bool = True,
) -> FontSet:
    """Find Noto Sans CJK JP (regular and bold), else IPAex Gothic, else raise.

    ``regular``/``bold`` name font files explicitly (a device configuration may); otherwise the
    ``candidates`` (regular file, bold file or None, family) are tried, then, with
    ``fontconfig``, what ``fc-list :lang=ja`` knows.
    Raises :class:`FontNotFoundError` naming the apt package to install.
    """
    if regular is not None:
        reg = _face(Path(regular), None)
        if reg is None:
            raise FontNotFoundError(f"font file {regular} cannot be opened; give a .ttf, .otf or .ttc file")
        bold_face = _face(Path(bold), reg.family) if bold is not None else None
        if bold is not None and bold_face is None:
            raise FontNotFoundError(f"bold font file {bold} cannot be opened")
        return FontSet(reg, bold_face)
    for reg_path, bold_path, family in [*candidates, *(_fc_list_candidates() if fontconfig else ())]:
        reg = _face(Path(reg_path), family)
        if reg is None:
            continue
        bold_face = _face(Path(bold_path), family) if bold_path else None
        if bold_face is None and family == NOTO_FAMILY:
            log.warning("%s has no bold file next to %s: bold is drawn with a stroke", family, reg_path)
        return FontSet(reg, bold_face)
    raise FontNotFoundError(
        f"no Japanese font found (looked for {NOTO_FAMILY} and {IPAEX_FAMILY}); "
        f"install one: sudo apt-get install {APT_PACKAGES[0]}  (or {APT_PACKAGES[1]})"
    )


def _fc_list_candidates() -> Iterable[tuple[str, str | None, str]]:
    """Font files fontconfig knows for Japanese, the preferred families first."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    try:
        out = subprocess.run(
            [fc_list, "-f", "%{file}|%{family}|%{style}\n", ":lang=ja"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as err:
        log.info("fc-list failed (%s): no fontconfig fallback", err)
        return []
    found: dict[tuple[str, str], str] = {}  # (family, style) -> file
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) != 3:
            continue
        file, families, styles = parts
        for family in families.split(","):
            for style in styles.split(","):
                found.setdefault((family, style), file)
    candidates: list[tuple[str, str | None, str]] = []
    for family in (NOTO_FAMILY, IPAEX_FAMILY):
        reg_file = found.get((family, "Regular"))
        if reg_file:
            candidates.append((reg_file, found.get((family, "Bold")), family))
    return candidates


def _face(path: Path, family: str | None) -> FontFace | None:
    """The face of ``family`` in ``path`` (first face if family is None), or None if absent."""
    if not path.is_file():
        return None
    for index in range(_MAX_FACES):
        try:
            name = _family_at(path, index)
        except OSError:
            break  # past the last face of the collection (or not a font at all)
        if family is None or name == family:
            return FontFace(path, index, name)
    return None


@cache
def _family_at(path: Path, index: int) -> str:
    from PIL import ImageFont  # here: the screens look a font file up without Pillow's FreeType

    return str(ImageFont.truetype(str(path), 12, index=index).getname()[0])


@lru_cache(maxsize=256)
def _load(path: Path, index: int, size: int) -> ImageFont.FreeTypeFont:
    # BASIC layout, not Raqm: the output must not depend on which HarfBuzz/FriBiDi the machine
    # has (golden raster files), and the lobby's languages need no complex shaping.
    from PIL import ImageFont

    return ImageFont.truetype(str(path), size, index=index, layout_engine=ImageFont.Layout.BASIC)


@cache
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _signature(font: ImageFont.FreeTypeFont, ch: str) -> tuple[Sequence[int] | None, bytes]:
    mask = font.getmask(ch)
    return mask.getbbox(), bytes(mask)


def _notdef_signature(font: ImageFont.FreeTypeFont) -> tuple[Sequence[int] | None, bytes]:
    # A private-use code point no font maps: its rendering is the .notdef glyph (tofu box).
    return _signature(font, "\U000f0000")
