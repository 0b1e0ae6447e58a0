"""Tickets as raster images: render a PrintJob, encode it as ESC/POS, decode ESC/POS back.

Tickets are printed as one 1-bit image (``GS v 0``) rather than as text commands: ESC/POS text
cannot print hiragana on most printers (HARDWARE.md), and an image prints the same on every
model. No device I/O here: Pillow and qrcode only.

Byte layout of an encoded job (:func:`to_escpos`)::

    ESC @                                   1B 40               initialise (clears modes)
    GS v 0 0 xL xH yL yH <x*y bytes>        1D 76 30 00 ...     one per fragment of <= N rows
    GS V 66 0                               1D 56 42 00         feed to the cutter, partial cut

``GS V 66 0`` ("function B") rather than ``GS V 1``: it feeds the paper until the last printed
row has passed the cutter before cutting, so the end of the ticket is never cut off whatever
the model's head-to-cutter distance; ``GS V 1`` cuts where the paper is and would need a feed
tuned per model. A partial cut leaves the ticket hanging on a tab instead of dropping it.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import qrcode
import qrcode.constants
from PIL import Image, ImageDraw, ImageFont

from common.fonts import FontSet
from drivers.ticket_printer import QR, BigNumber, Block, PrintJob, Rule, Space, Text

# Anti-aliased glyphs are thresholded, not dithered: a pixel at least ~45 % covered prints.
# Slightly below 50 % keeps the thin strokes of small kanji, which thermal heads lose first.
INK_THRESHOLD = 140
DEFAULT_FRAGMENT_HEIGHT = 256
# Line box as a fraction of the em: CJK glyphs span about -0.88..+0.12 em around the
# baseline, Latin descenders reach +0.22 em; lines grow when a glyph reaches further.
LINE_ASCENT = 1.0
LINE_DESCENT = 0.3
RULE_PADDING = 8
BIG_NUMBER_SUFFIX_SCALE = 0.36
BIG_NUMBER_PADDING = 0.08
QR_QUIET_ZONE = 4  # modules of white around a QR code, as the QR standard asks

ESC_INIT = b"\x1b\x40"
GS_RASTER = b"\x1d\x76\x30"
CUT_PARTIAL_AFTER_FEED = b"\x1d\x56\x42\x00"

BlockBox = tuple[int, int, int, int]
"""(left, top, right, bottom) of a block's band in the ticket image, in dots."""


class RenderError(ValueError):
    """The job cannot be drawn at this width (a glyph or QR code wider than the paper)."""


class EscposDecodeError(ValueError):
    """The bytes are not (only) the ESC/POS commands this module writes."""


# --------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------


def render(job: PrintJob, width_px: int, fonts: FontSet, *, bands: BandCache | None = None) -> Image.Image:
    """The ticket as a mode "1" image exactly ``width_px`` wide (black on white); ``bands``
    re-uses the bands of blocks drawn before at this width with these fonts."""
    return render_with_layout(job, width_px, fonts, bands=bands)[0]


def render_with_layout(
    job: PrintJob, width_px: int, fonts: FontSet, *, bands: BandCache | None = None
) -> tuple[Image.Image, list[tuple[Block, BlockBox]]]:
    """The ticket image and where each block was drawn (tests compare regions by block)."""
    if width_px <= 0:
        raise RenderError(f"width must be positive, got {width_px}")
    if bands is not None and (bands.width_px != width_px or bands.fonts is not fonts):
        raise ValueError("the band cache was made for another width or font set")
    parts = [bands.band(block) if bands is not None else render_block(block, width_px, fonts) for block in job.blocks]
    height = sum(p.height for p in parts)
    ticket = Image.new("1", (width_px, height), 1)
    layout: list[tuple[Block, BlockBox]] = []
    y = 0
    for block, part in zip(job.blocks, parts, strict=True):
        ticket.paste(part, (0, y))
        layout.append((block, (0, y, width_px, y + part.height)))
        y += part.height
    return ticket, layout


def render_block(block: Block, width_px: int, fonts: FontSet) -> Image.Image:
    """One block as a mode "1" band of the ticket, ``width_px`` wide."""
    if isinstance(block, Text):
        return _render_text(block, width_px, fonts)
    if isinstance(block, BigNumber):
        return _render_big_number(block, width_px, fonts)
    if isinstance(block, QR):
        return _render_qr(block, width_px)
    if isinstance(block, Rule):
        band = Image.new("1", (width_px, block.thickness + 2 * RULE_PADDING), 1)
        ImageDraw.Draw(band).rectangle((0, RULE_PADDING, width_px - 1, RULE_PADDING + block.thickness - 1), fill=0)
        return band
    if isinstance(block, Space):
        return Image.new("1", (width_px, max(0, block.height)), 1)
    raise RenderError(f"unknown block type {type(block).__name__}")


class BandCache:
    """The bands of text blocks drawn before, for one width and font set (a printer's).

    A dispenser prints the same office name, purpose names and footer on ticket after ticket,
    and text is the costly part of drawing one (lines are wrapped by measuring the glyphs): a
    third of a ticket's drawing, ~15 ms on a desktop CPU, several times that on a Pi, on the
    way from the press to the printed ticket. Only text, rules and spaces are kept - numbers
    and QR codes differ on every ticket. Bounded (least recently used go); thread-safe (the
    press and the printer check's reprints draw on different threads). The bands are shared:
    callers paste them, never draw on them.
    """

    def __init__(self, width_px: int, fonts: FontSet, size: int = 64) -> None:
        self.width_px = width_px
        self.fonts = fonts
        self.size = size
        self._bands: OrderedDict[Text | Rule | Space, Image.Image] = OrderedDict()
        self._lock = threading.Lock()

    def band(self, block: Block) -> Image.Image:
        """``render_block(block, width_px, fonts)``, drawn once while it is kept."""
        if not isinstance(block, Text | Rule | Space):
            return render_block(block, self.width_px, self.fonts)
        with self._lock:
            kept = self._bands.get(block)
            if kept is not None:
                self._bands.move_to_end(block)
                return kept
        band = render_block(block, self.width_px, self.fonts)
        with self._lock:
            self._bands[block] = band
            while len(self._bands) > self.size:
                self._bands.popitem(last=False)
        return band


def text_extent(font: ImageFont.FreeTypeFont, text: str, stroke: int = 0) -> tuple[int, int]:
    """(left, right) of ``text`` drawn with its origin at x=0: the ink and the advance."""
    if not text:
        return 0, 0
    x0, _, x1, _ = font.getbbox(text, anchor="ls", stroke_width=stroke)
    advance = math.ceil(font.getlength(text))
    return min(0, math.floor(x0)), max(advance, math.ceil(x1))


def text_width(font: ImageFont.FreeTypeFont, text: str, stroke: int = 0) -> int:
    """Dots ``text`` needs on paper (ink or advance, whichever reaches further)."""
    left, right = text_extent(font, text, stroke)
    return right - left


def wrap_text(text: str, fits: Callable[[str], bool]) -> list[str]:
    """Break ``text`` into lines that ``fits``: at spaces, and between any two CJK characters.

    Japanese has no spaces, so a line may break after any kana or kanji; Latin words (and
    Hangul words, which Korean separates with spaces) stay whole unless one alone is wider
    than a line. Kinsoku: a line does not start with closing punctuation or small kana
    (、。」ょ…) nor end with an opening bracket, when moving one character can avoid it.
    Explicit newlines are kept.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for unit in _units(paragraph, fits):
            if unit.isspace():
                if current:
                    current += unit
                continue
            if not current or fits((current + unit).rstrip()):
                current += unit
            else:
                lines.append(current.rstrip())
                current = unit
        lines.append(current.rstrip())
    return lines


def fit_big_number(block: BigNumber, width_px: int, fonts: FontSet) -> int:
    """The font size the number is drawn at: ``block.size``, or smaller until it fits."""
    size = block.size
    while size > 8:
        total = big_number_width(block, size, fonts)
        if total <= width_px:
            return size
        # Shrink proportionally, then by one until hinting agrees it fits.
        size = min(size - 1, math.floor(size * width_px / total))
    raise RenderError(f"number {block.number}{block.suffix} does not fit in {width_px} dots")


TEXT_MARGIN_PX = 12  # about 1.5 mm at 203 dpi on each side


def _render_text(block: Text, width_px: int, fonts: FontSet) -> Image.Image:
    if block.size <= 0:
        raise RenderError(f"text size must be positive, got {block.size}")
    font = fonts.font(block.size, block.bold)
    stroke = fonts.stroke(block.size, block.bold)
    # Text keeps clear of the paper's edges: a line that touches them reads as cut off.
    margin = TEXT_MARGIN_PX if width_px > 4 * TEXT_MARGIN_PX else 0
    lines = wrap_text(block.text, lambda s: text_width(font, s, stroke) <= width_px - 2 * margin)
    boxes = []
    for line in lines:
        top, bottom = _line_box(font, line, block.size, stroke)
        boxes.append((line, top, bottom))
    height = sum(top + bottom for _, top, bottom in boxes)
    band = Image.new("L", (width_px, height), 255)
    draw = ImageDraw.Draw(band)
    y = 0
    for line, top, bottom in boxes:
        left, right = text_extent(font, line, stroke)
        if block.align == "center":
            x = (width_px - (right - left)) // 2 - left
        elif block.align == "right":
            x = width_px - margin - right
        else:
            x = margin - left
        if line:
            draw.text((x, y + top), line, font=font, fill=0, anchor="ls", stroke_width=stroke, stroke_fill=0)
        y += top + bottom
    return _threshold(band)


def _line_box(font: ImageFont.FreeTypeFont, line: str, size: int, stroke: int) -> tuple[int, int]:
    """(ascent, descent) of a line: the nominal box, grown to fit stacked accents or tall glyphs."""
    top, bottom = round(size * LINE_ASCENT), round(size * LINE_DESCENT)
    if line:
        _, y0, _, y1 = font.getbbox(line, anchor="ls", stroke_width=stroke)
        top, bottom = max(top, -math.floor(y0)), max(bottom, math.ceil(y1))
    return top, bottom


def _big_number_fonts(
    block: BigNumber, size: int, fonts: FontSet
) -> tuple[ImageFont.FreeTypeFont, ImageFont.FreeTypeFont, int]:
    suffix_size = max(12, round(size * BIG_NUMBER_SUFFIX_SCALE))
    gap = round(size * 0.05) if block.suffix else 0
    return fonts.font(size, True), fonts.font(suffix_size, True), gap


def big_number_width(block: BigNumber, size: int, fonts: FontSet) -> int:
    """Dots the number and its suffix need side by side at font ``size``."""
    number_font, suffix_font, gap = _big_number_fonts(block, size, fonts)
    stroke = fonts.stroke(size, True)
    suffix_stroke = fonts.stroke(int(suffix_font.size), True)
    suffix = text_width(suffix_font, block.suffix, suffix_stroke) if block.suffix else 0
    return text_width(number_font, block.number, stroke) + gap + suffix


def _render_big_number(block: BigNumber, width_px: int, fonts: FontSet) -> Image.Image:
    size = fit_big_number(block, width_px, fonts)
    number_font, suffix_font, gap = _big_number_fonts(block, size, fonts)
    stroke = fonts.stroke(size, True)
    suffix_stroke = fonts.stroke(int(suffix_font.size), True)
    n_left, n_right = text_extent(number_font, block.number, stroke)
    s_left, s_right = text_extent(suffix_font, block.suffix, suffix_stroke)
    total = (n_right - n_left) + gap + (s_right - s_left)
    # Ink above and below the shared baseline, from the glyphs themselves.
    _, n_top, _, n_bottom = number_font.getbbox(block.number, anchor="ls", stroke_width=stroke)
    ascent, descent = -math.floor(n_top), max(0, math.ceil(n_bottom))
    if block.suffix:
        _, s_top, _, s_bottom = suffix_font.getbbox(block.suffix, anchor="ls", stroke_width=suffix_stroke)
        ascent, descent = max(ascent, -math.floor(s_top)), max(descent, math.ceil(s_bottom))
    pad = round(size * BIG_NUMBER_PADDING)
    baseline = pad + ascent
    band = Image.new("L", (width_px, baseline + descent + pad), 255)
    draw = ImageDraw.Draw(band)
    x = (width_px - total) // 2 - n_left
    draw.text((x, baseline), block.number, font=number_font, fill=0, anchor="ls", stroke_width=stroke, stroke_fill=0)
    if block.suffix:
        sx = x + n_right + gap - s_left
        draw.text(
            (sx, baseline),
            block.suffix,
            font=suffix_font,
            fill=0,
            anchor="ls",
            stroke_width=suffix_stroke,
            stroke_fill=0,
        )
    return _threshold(band)


def _render_qr(block: QR, width_px: int) -> Image.Image:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=1, border=QR_QUIET_ZONE)
    code.add_data(block.data)
    code.make(fit=True)
    matrix = code.get_matrix()
    modules = len(matrix)
    module = min(max(1, block.module), width_px // modules)
    if module < 1:
        raise RenderError(f"QR code of {len(block.data)} characters needs {modules} dots, paper has {width_px}")
    small = Image.new("1", (modules, modules), 1)
    small.putdata([0 if dark else 1 for row in matrix for dark in row])
    # Nearest-neighbour scaling keeps every module a crisp square of whole dots.
    code_img = small.resize((modules * module, modules * module), Image.Resampling.NEAREST)
    band = Image.new("1", (width_px, code_img.height), 1)
    band.paste(code_img, ((width_px - code_img.width) // 2, 0))
    return band


def _threshold(gray: Image.Image) -> Image.Image:
    return gray.point(lambda v: 255 if v >= INK_THRESHOLD else 0, mode="1")


# Characters a line may break before or after anywhere (no spaces in Japanese/Chinese).
_CJK_RANGES = (
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0x3040, 0x30FF),  # hiragana, katakana
    (0x31F0, 0x31FF),  # katakana extensions
    (0x3200, 0x33FF),  # enclosed CJK, compatibility
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF00, 0xFFEF),  # full-width forms
    (0x20000, 0x3FFFF),  # CJK extensions B-H
)
_NO_LINE_START = set(
    "、。，．・：；？！ー‐゠〜～…‥）］｝」』】〕〉》〙〗〟’”»"
    "ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ々ゝゞヽヾ"
    ",.:;!?)]}%"
)
_NO_LINE_END = set("（［｛「『【〔〈《〘〖〝‘“«([{")


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


_TOKEN = re.compile(r"\s+|\S")


def _tokens(paragraph: str) -> Iterator[str]:
    """Spaces, single CJK characters, and runs of anything else (Latin/Hangul words)."""
    word = ""
    for match in _TOKEN.finditer(paragraph):
        piece = match.group()
        if piece.isspace() or _is_cjk(piece):
            if word:
                yield word
                word = ""
            yield piece
        else:
            word += piece
    if word:
        yield word


def _units(paragraph: str, fits: Callable[[str], bool]) -> list[str]:
    """The unbreakable pieces of a paragraph, kinsoku already applied."""
    units: list[str] = []
    for token in _tokens(paragraph):
        if token.isspace() or fits(token):
            units.append(token)
        else:
            units.extend(_split_long(token, fits))
    glued: list[str] = []
    for unit in units:
        prev = glued[-1] if glued else ""
        glue = (
            prev
            and not prev.isspace()
            and not unit.isspace()
            and (unit[0] in _NO_LINE_START or prev[-1] in _NO_LINE_END)
            and fits(prev + unit)
        )
        if glue:
            glued[-1] = prev + unit
        else:
            glued.append(unit)
    return glued


def _split_long(word: str, fits: Callable[[str], bool]) -> list[str]:
    """A word wider than a line, cut into the longest pieces that fit."""
    pieces: list[str] = []
    piece = ""
    for ch in word:
        if not piece or fits(piece + ch):
            piece += ch
        else:
            pieces.append(piece)
            piece = ch
        if not fits(piece):
            raise RenderError(f"the character {ch!r} alone is wider than the paper")
    if piece:
        pieces.append(piece)
    return pieces


# --------------------------------------------------------------------------------------------
# ESC/POS encoding
# --------------------------------------------------------------------------------------------

_INVERT = bytes(255 - b for b in range(256))


def raster_fragments(img: Image.Image, fragment_height: int = DEFAULT_FRAGMENT_HEIGHT) -> list[bytes]:
    """``GS v 0`` commands for ``img``, each carrying at most ``fragment_height`` rows."""
    if img.mode != "1":
        # Converting here would dither silently; the caller decides how grey becomes ink.
        raise ValueError(f"raster images must be mode '1', got {img.mode!r}")
    if not 1 <= fragment_height <= 4095:
        raise ValueError(f"fragment_height must be 1-4095, got {fragment_height}")
    width, height = img.size
    width_bytes = (width + 7) // 8
    if width_bytes > 0xFFFF:
        raise ValueError(f"image {width} dots wide is too wide for GS v 0")
    # Pillow packs mode "1" rows MSB first with 1 = white; ESC/POS wants 1 = black.
    data = bytearray(img.tobytes().translate(_INVERT))
    if width % 8:
        # The padding bits of each row became 1 (black) in the inversion: clear them.
        keep = (0xFF << (8 - width % 8)) & 0xFF
        for row in range(height):
            data[row * width_bytes + width_bytes - 1] &= keep
    out = []
    for top in range(0, height, fragment_height):
        rows = min(fragment_height, height - top)
        header = GS_RASTER + bytes((0, width_bytes & 0xFF, width_bytes >> 8, rows & 0xFF, rows >> 8))
        out.append(header + bytes(data[top * width_bytes : (top + rows) * width_bytes]))
    return out


def to_escpos_chunks(
    img: Image.Image, *, cut: bool = True, fragment_height: int = DEFAULT_FRAGMENT_HEIGHT
) -> list[bytes]:
    """The job as a list of writes: init, one per raster fragment, and the cut."""
    chunks = [ESC_INIT, *raster_fragments(img, fragment_height)]
    if cut:
        chunks.append(CUT_PARTIAL_AFTER_FEED)
    return chunks


def to_escpos(img: Image.Image, *, cut: bool = True, fragment_height: int = DEFAULT_FRAGMENT_HEIGHT) -> bytes:
    """The whole job as ESC/POS bytes (see the module docstring for the layout)."""
    return b"".join(to_escpos_chunks(img, cut=cut, fragment_height=fragment_height))


# --------------------------------------------------------------------------------------------
# ESC/POS decoding
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Init:
    """``ESC @``."""


@dataclass(frozen=True)
class StatusQuery:
    """``DLE EOT n`` (real-time: a printer answers it at once, outside the print buffer)."""

    n: int


@dataclass(frozen=True)
class RasterFragment:
    """``GS v 0 m xL xH yL yH d1..dk``: ``height`` rows of ``width_bytes`` bytes, 1 = black."""

    width_bytes: int
    height: int
    data: bytes

    def image(self) -> Image.Image:
        """The fragment as a mode "1" image (width rounded up to whole bytes)."""
        return Image.frombytes("1", (self.width_bytes * 8, self.height), self.data.translate(_INVERT))


@dataclass(frozen=True)
class Cut:
    """``GS V m [n]``; ``feed`` is the n of function B (feed to the cutter first), else None."""

    partial: bool
    feed: int | None


@dataclass(frozen=True)
class Feed:
    """``ESC d n`` (``unit="lines"``) or ``ESC J n`` (``unit="dots"``)."""

    amount: int
    unit: str


Command = Init | StatusQuery | RasterFragment | Cut | Feed


def iter_commands(data: bytes, *, final: bool = True) -> Iterator[tuple[Command, bytes]]:
    """Each command in ``data`` with the bytes it was made of, in order.

    With ``final=False`` an incomplete command at the end is not yielded (a stream fed in
    pieces continues it with the next piece). Raises :class:`EscposDecodeError` on a byte
    sequence this module does not write, and on a truncated command when ``final``.
    """
    pos = 0
    while pos < len(data):
        parsed = _parse_one(data, pos)
        if parsed is None:
            if final:
                raise EscposDecodeError(f"truncated command at byte {pos}: {_context(data, pos)}")
            return
        command, end = parsed
        yield command, bytes(data[pos:end])
        pos = end


def parse_escpos(data: bytes, *, final: bool = True) -> tuple[list[Command], int]:
    """The commands in ``data`` and how many bytes they used (see :func:`iter_commands`)."""
    commands: list[Command] = []
    used = 0
    for command, raw in iter_commands(data, final=final):
        commands.append(command)
        used += len(raw)
    return commands, used


def decode_escpos(data: bytes) -> Image.Image:
    """Every raster fragment in ``data``, stacked into one image (cuts and queries skipped)."""
    fragments = [c for c in parse_escpos(data)[0] if isinstance(c, RasterFragment)]
    if not fragments:
        raise EscposDecodeError("no raster image (GS v 0) in the data")
    return stack_fragments(fragments)


def decode_escpos_jobs(data: bytes) -> list[Image.Image]:
    """One image per ticket: the raster fragments between cuts (empty tickets left out)."""
    tickets: list[Image.Image] = []
    current: list[RasterFragment] = []
    for command in parse_escpos(data)[0]:
        if isinstance(command, RasterFragment):
            current.append(command)
        elif isinstance(command, Cut) and current:
            tickets.append(stack_fragments(current))
            current = []
    if current:
        tickets.append(stack_fragments(current))
    return tickets


def stack_fragments(fragments: Sequence[RasterFragment]) -> Image.Image:
    """Raster fragments of one image, top to bottom, as one mode "1" image."""
    widths = {f.width_bytes for f in fragments}
    if len(widths) != 1:
        raise EscposDecodeError(f"raster fragments of different widths ({sorted(widths)} bytes) in one image")
    out = Image.new("1", (widths.pop() * 8, sum(f.height for f in fragments)), 1)
    y = 0
    for fragment in fragments:
        out.paste(fragment.image(), (0, y))
        y += fragment.height
    return out


def _parse_one(data: bytes, pos: int) -> tuple[Command, int] | None:
    """The command at ``pos`` and the position after it; None if the data ends inside it."""
    rest = len(data) - pos
    first = data[pos]
    if rest < 2:
        return None if first in (0x1B, 0x10, 0x1D) else _unknown(data, pos)
    second = data[pos + 1]
    if first == 0x1B and second == 0x40:
        return Init(), pos + 2
    if first == 0x1B and second in (0x64, 0x4A):
        if rest < 3:
            return None
        return Feed(data[pos + 2], "lines" if second == 0x64 else "dots"), pos + 3
    if first == 0x10 and second == 0x04:
        if rest < 3:
            return None
        n = data[pos + 2]
        if n not in (1, 2, 3, 4):
            raise EscposDecodeError(f"DLE EOT with n={n} at byte {pos}: only 1-4 are written")
        return StatusQuery(n), pos + 3
    if first == 0x1D and second == 0x56:
        if rest < 3:
            return None
        m = data[pos + 2]
        if m in (0, 1, 48, 49):
            return Cut(partial=m in (1, 49), feed=None), pos + 3
        if m in (65, 66):
            if rest < 4:
                return None
            return Cut(partial=m == 66, feed=data[pos + 3]), pos + 4
        raise EscposDecodeError(f"GS V with m={m} at byte {pos}: not a cut this module writes")
    if first == 0x1D and second == 0x76:
        if rest < 8:
            return None
        if data[pos + 2] != 0x30:
            return _unknown(data, pos)
        mode = data[pos + 3]
        if mode not in (0, 48):
            raise EscposDecodeError(
                f"GS v 0 with density mode {mode} at byte {pos}: only normal density (0) is written"
            )
        width_bytes = data[pos + 4] | data[pos + 5] << 8
        height = data[pos + 6] | data[pos + 7] << 8
        if width_bytes == 0 or height == 0:
            raise EscposDecodeError(f"GS v 0 of {width_bytes} bytes x {height} rows at byte {pos}")
        end = pos + 8 + width_bytes * height
        if end > len(data):
            return None
        return RasterFragment(width_bytes, height, bytes(data[pos + 8 : end])), end
    return _unknown(data, pos)


def _unknown(data: bytes, pos: int) -> NoReturn:
    raise EscposDecodeError(f"unknown ESC/POS bytes at byte {pos}: {_context(data, pos)}")


def _context(data: bytes, pos: int) -> str:
    return data[pos : pos + 8].hex(" ") + (" ..." if len(data) > pos + 8 else "")


# A ticket printer's output as a picture (the fake printer's PNGs, the docs, bug reports).

CUT_GAP = 24  # dots between stacked tickets, with a dashed cut line in the middle


def render_ticket_png(data: bytes, out: Path) -> Path:
    """Decode the raster in ``data`` (ESC/POS bytes) and write it to ``out`` as a PNG."""
    tickets = decode_escpos_jobs(data)
    if not tickets:
        raise ValueError("the data holds no raster image (GS v 0): nothing to draw")
    image = tickets[0] if len(tickets) == 1 else _stack(tickets)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out, format="PNG")
    return out


def _stack(tickets: Sequence[Image.Image]) -> Image.Image:
    width = max(t.width for t in tickets)
    height = sum(t.height for t in tickets) + CUT_GAP * (len(tickets) - 1)
    sheet = Image.new("1", (width, height), 1)
    draw = ImageDraw.Draw(sheet)
    y = 0
    for i, ticket in enumerate(tickets):
        if i:
            mid = y + CUT_GAP // 2
            for x in range(0, width, 16):
                draw.line((x, mid, min(x + 7, width - 1), mid), fill=0)
            y += CUT_GAP
        sheet.paste(ticket, (0, y))
        y += ticket.height
    return sheet
