"""Certificates as A4 pages: content from certificates.rules -> 300 dpi raster -> PDF bytes.

The page is drawn with Pillow and Noto Sans CJK (common/fonts.py), like the tickets: the
kiosk's A4 printer then gets the same pixels whatever fonts it has. Layout follows the
computerised certificates towns issue: a spaced title, the issue number, bordered tables of
the recorded items, "以下余白", the certification sentence, the date in the era calendar, the
mayor's line with the official seal (公印), on an anti-forgery ground: a fine guilloche, a
micro-text band and a latent "複写" that copiers bring out (fine dots outside the letters,
coarse dots inside, the same grey to the eye).

The PDF container is written here, not by Pillow's PDF plugin: Pillow stores greyscale pages
as JPEG (smearing the fine pattern and small text) and stamps the current time into the file.
Each page is one lossless Flate image (the PNG encoder's IDAT stream, which PDF reads with the
PNG predictors), with no dates, so the same content always gives the same bytes.

The entry points take the content's model (certificates.content), or the plain data
certificate_content returns, which they convert once; the layout reads attributes.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from PIL import Image, ImageChops, ImageDraw, ImageFont

from certificates.content import (
    CONTENT_TYPES,
    KINDS,
    CertificateContent,
    ContentError,
    FuhyoContent,
    InkanContent,
    JuminhyoContent,
    KosekiContent,
    Person,
    ShotokuContent,
    parse_content,
    strings,
)
from certificates.rules import CertificateError
from common.fonts import FontSet, find_fonts

DPI = 300
PAGE_W, PAGE_H = 2480, 3508  # A4 (210 x 297 mm) at 300 dpi
PAGE_PT = (595.28, 841.89)  # A4 in PDF points
MARGIN_X = 177  # 15 mm
TABLE_W = PAGE_W - 2 * MARGIN_X
BODY_TOP = 520
BODY_BOTTOM_LAST = PAGE_H - 1000  # the certification block needs the rest of the last page
BODY_BOTTOM = PAGE_H - 430
BLOCK_GAP = 44
PAD = 18
ROW_MIN = 104
LINE = 1.32  # line height as a fraction of the font size
INK = 0
GREY_TEXT = 70
SEAL_INK = 60
PATTERN_DOT = 168  # the latent-image dots: light enough that text stays black on white
GUILLOCHE_GREY = 212
MICRO_GREY = 150
LATENT_WORD = "複写"
MAX_PAGES = 20


def pt(points: float) -> int:
    """Pixels at 300 dpi for a size in typographic points."""
    return round(points * DPI / 72)


TITLE_SIZE = pt(22)
SUBTITLE_SIZE = pt(12)
LABEL_SIZE = pt(9)
VALUE_SIZE = pt(10.5)
NAME_SIZE = pt(13)
KANA_SIZE = pt(7.5)
SMALL_SIZE = pt(8.5)
CERT_SIZE = pt(11.5)
MAYOR_SIZE = pt(15)
MICRO_SIZE = 16  # about 1.4 mm: readable with a loupe, a dotted line to a copier


class CertificatePdfError(CertificateError):
    """Content that cannot be drawn: a missing field, or text the font cannot print."""


# -- content --------------------------------------------------------------------------------------


def typed(content: CertificateContent | Mapping[str, Any]) -> CertificateContent:
    """The content as its model: plain data (what certificate_content returns) is converted once.

    Raises :class:`CertificatePdfError` naming the key path (``content.persons[0].name``).
    """
    if isinstance(content, CONTENT_TYPES):
        return content
    try:
        return parse_content(content)
    except ContentError as err:
        raise CertificatePdfError(str(err)) from err


# -- layout model ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One labelled cell of a table row; ``weight`` shares the row's width between cells."""

    label: str
    value: str = ""
    weight: float = 1.0
    kana: str = ""
    align: Literal["left", "right"] = "left"
    emphasis: bool = False
    seal: str = ""  # a seal impression (印影) drawn in the value area instead of text
    label_width: int = 0  # 0: as wide as the label needs (up to 45 % of the cell)


Row = tuple[Field, ...]


@dataclass(frozen=True)
class Block:
    """A bordered table kept on one page when it fits on one."""

    rows: tuple[Row, ...]
    side: Field | None = None  # a cell spanning every row on the left (the 印影 box)
    side_width: int = 0


@dataclass(frozen=True)
class Sheet:
    """A certificate's pages-to-be: header, tables and the closing certification."""

    title: str
    subtitle: str
    issue_number: str
    blocks: tuple[Block, ...]
    notes: tuple[str, ...]
    certification: str
    date_text: str
    mayor_line: str
    seal_text: str
    municipality: str


class _Canvas:
    """Fonts plus measuring and wrapping; drawing happens on a page's ImageDraw."""

    def __init__(self, fonts: FontSet) -> None:
        self.fonts = fonts

    def font(self, size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
        return self.fonts.font(size, bold)

    def width(self, text: str, size: int, bold: bool = False) -> float:
        return float(self.font(size, bold).getlength(text))

    def wrap(self, text: str, size: int, width: float, bold: bool = False) -> list[str]:
        """Greedy line breaking: anywhere between CJK characters, at spaces in Latin text.

        Every line fits ``width``; 、。) never start a line (禁則: the character before them
        moves down with them), and a building name after a space stays whole where it can.
        """
        lines: list[str] = []
        for paragraph in text.split("\n"):
            line = ""
            for token in _tokens(paragraph):
                if not line or self.width(line + token, size, bold) <= width:
                    line += token
                elif token in _NO_LINE_START and len(line) > 1:
                    lines.append(line[:-1].rstrip())
                    line = line[-1] + token
                else:
                    space = max(line.rfind(" "), line.rfind("\u3000"))
                    if space > len(line) // 2 and not line[:space].isascii():
                        lines.append(line[:space].rstrip())
                        line = line[space + 1 :] + token
                    else:
                        lines.append(line.rstrip())
                        line = token.lstrip()
                while len(line) > 1 and self.width(line, size, bold) > width:
                    # a Latin word wider than the cell: break it where it must
                    cut = len(line) - 1
                    while cut > 1 and self.width(line[:cut], size, bold) > width:
                        cut -= 1
                    lines.append(line[:cut])
                    line = line[cut:]
            lines.append(line.rstrip())
        return lines

    def text(
        self,
        draw: ImageDraw.ImageDraw,
        xy: tuple[float, float],
        text: str,
        size: int,
        bold: bool = False,
        fill: int = INK,
        anchor: str = "la",
    ) -> None:
        draw.text(
            xy,
            text,
            font=self.font(size, bold),
            fill=fill,
            anchor=anchor,
            stroke_width=self.fonts.stroke(size, bold),
            stroke_fill=fill,
        )


_NO_LINE_START = frozenset("、。，．）」』】〕！？ー")


def _tokens(text: str) -> Iterator[str]:
    """Latin words (with their trailing space) stay whole; every other character is a token."""
    word = ""
    for ch in text:
        if ch.isascii() and not ch.isspace():
            word += ch
            continue
        if word:
            if ch == " ":
                yield word + ch
                word = ""
                continue
            yield word
            word = ""
        yield ch
    if word:
        yield word


# -- tables -------------------------------------------------------------------------------------------


def _cell_widths(row: Row, total: int) -> list[int]:
    weights = sum(f.weight for f in row)
    widths = [int(total * f.weight / weights) for f in row]
    widths[-1] = total - sum(widths[:-1])
    return widths


def _label_width(c: _Canvas, f: Field, cell: int) -> int:
    if f.label_width:
        return f.label_width
    natural = c.width(f.label, LABEL_SIZE) + 2 * PAD
    return int(min(max(natural, 170), cell * 0.5))


def _field_height(c: _Canvas, f: Field, cell: int) -> int:
    lw = _label_width(c, f, cell)
    label_h = len(c.wrap(f.label, LABEL_SIZE, lw - 2 * PAD)) * LABEL_SIZE * LINE
    if f.seal:
        return 640
    size = NAME_SIZE if f.emphasis else VALUE_SIZE
    value_h = len(c.wrap(f.value, size, cell - lw - 2 * PAD, f.emphasis)) * size * LINE
    if f.kana:
        value_h += KANA_SIZE * LINE
    return int(max(ROW_MIN, label_h + 2 * PAD, value_h + 2 * PAD))


def _row_height(c: _Canvas, row: Row, width: int = TABLE_W) -> int:
    return max(_field_height(c, f, w) for f, w in zip(row, _cell_widths(row, width), strict=True))


def _block_height(c: _Canvas, block: Block) -> int:
    width = TABLE_W - block.side_width
    rows = sum(_row_height(c, r, width) for r in block.rows)
    if block.side is None:
        return rows
    return max(rows, _field_height(c, block.side, block.side_width))


def _draw_block(c: _Canvas, draw: ImageDraw.ImageDraw, page: Image.Image, block: Block, top: int) -> int:
    total = _block_height(c, block)
    left, width = MARGIN_X + block.side_width, TABLE_W - block.side_width
    heights = [_row_height(c, row, width) for row in block.rows]
    # rows share out what a taller side cell adds, so the table stays a rectangle
    extra = total - sum(heights)
    heights = [h + extra // len(heights) + (1 if i < extra % len(heights) else 0) for i, h in enumerate(heights)]
    if block.side is not None:
        _draw_field(c, draw, page, block.side, MARGIN_X, top, block.side_width, total)
    y = top
    for row, h in zip(block.rows, heights, strict=True):
        x = left
        for f, w in zip(row, _cell_widths(row, width), strict=True):
            _draw_field(c, draw, page, f, x, y, w, h)
            x += w
        draw.line([(left, y + h), (MARGIN_X + TABLE_W, y + h)], fill=INK, width=2)
        y += h
    draw.rectangle([MARGIN_X, top, MARGIN_X + TABLE_W, top + total], outline=INK, width=5)
    return total


def _draw_field(
    c: _Canvas, draw: ImageDraw.ImageDraw, page: Image.Image, f: Field, x: int, y: int, w: int, h: int
) -> None:
    lw = _label_width(c, f, w)
    draw.line([(x, y), (x, y + h)], fill=INK, width=2)
    draw.line([(x + lw, y), (x + lw, y + h)], fill=INK, width=1)
    label_lines = c.wrap(f.label, LABEL_SIZE, lw - 2 * PAD)
    ly = y + (h - len(label_lines) * LABEL_SIZE * LINE) / 2
    for line in label_lines:
        c.text(draw, (x + PAD, ly + LABEL_SIZE * 0.12), line, LABEL_SIZE, fill=GREY_TEXT)
        ly += LABEL_SIZE * LINE
    vx, vw = x + lw + PAD, w - lw - 2 * PAD
    if f.seal:
        _draw_impression(c, page, f.seal, (vx + vw // 2, y + h // 2), min(vw, h - 2 * PAD) // 2 - 20)
        return
    size = NAME_SIZE if f.emphasis else VALUE_SIZE
    lines = c.wrap(f.value, size, vw, f.emphasis)
    block_h = len(lines) * size * LINE + (KANA_SIZE * LINE if f.kana else 0)
    vy = y + (h - block_h) / 2
    if f.kana:
        c.text(draw, (vx, vy), f.kana, KANA_SIZE, fill=GREY_TEXT)
        vy += KANA_SIZE * LINE
    for line in lines:
        if f.align == "right":
            c.text(draw, (vx + vw, vy + size * 0.12), line, size, f.emphasis, anchor="ra")
        else:
            c.text(draw, (vx, vy + size * 0.12), line, size, f.emphasis)
        vy += size * LINE


# -- seals ---------------------------------------------------------------------------------------------


def _grid(text: str) -> list[list[str]]:
    """A square seal's characters in columns, read top to bottom, right to left."""
    cols = max(1, math.ceil(math.sqrt(len(text))))
    rows = math.ceil(len(text) / cols)
    return [list(text[i * rows : (i + 1) * rows]) for i in range(cols)]


def _draw_official_seal(c: _Canvas, draw: ImageDraw.ImageDraw, text: str, box: tuple[int, int, int, int]) -> None:
    """The mayor's seal (公印): a square with a double frame, the text in columns."""
    x0, y0, x1, y1 = box
    draw.rectangle(box, outline=SEAL_INK, width=9)
    draw.rectangle([x0 + 18, y0 + 18, x1 - 18, y1 - 18], outline=SEAL_INK, width=3)
    columns = _grid(text)
    inner = (x1 - x0) - 56
    cell_w = inner / len(columns)
    rows = max(len(col) for col in columns)
    cell_h = inner / rows
    size = int(min(cell_w, cell_h) * 0.9)
    for i, col in enumerate(columns):
        cx = x1 - 28 - cell_w * (i + 0.5)
        offset = (rows - len(col)) * cell_h / 2  # a short last column sits in the middle
        for j, ch in enumerate(col):
            cy = y0 + 28 + offset + cell_h * (j + 0.5)
            c.text(draw, (cx, cy), ch, size, bold=True, fill=SEAL_INK, anchor="mm")


def _draw_impression(c: _Canvas, page: Image.Image, text: str, centre: tuple[int, int], radius: int) -> None:
    """A round personal seal's impression (印影): a ring and the name read downwards."""
    draw = ImageDraw.Draw(page)
    cx, cy = centre
    draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], outline=INK, width=max(6, radius // 22))
    chars = list(text) or ["印"]
    size = int(min(radius * 1.05, radius * 1.5 / len(chars)))
    step = size * 1.02
    y = cy - step * (len(chars) - 1) / 2
    for ch in chars:
        c.text(draw, (cx, y), ch, size, bold=True, anchor="mm")
        y += step


# -- the anti-forgery ground ---------------------------------------------------------------------------


def _dots(width: int, height: int, rows: Sequence[bytes]) -> Image.Image:
    period = len(rows)
    return Image.frombytes("L", (width, height), b"".join(rows[y % period][:width] for y in range(height)))


def _dot_row(width: int, pattern: Sequence[int]) -> bytes:
    return bytes(pattern) * (width // len(pattern) + 1)


@lru_cache(maxsize=2)
def _ground(fonts: FontSet, municipality: str) -> Image.Image:
    """The page's background: latent 複写, guilloche and micro-text, all light grey."""
    w, h = PAGE_W, PAGE_H
    white, dot = 255, PATTERN_DOT
    # Fine: a 1-dot point every 4 dots. Coarse: a 2x2 point every 8 dots. Both cover 1/16 of
    # the paper, so they look the same grey; a copier loses the fine dots and keeps the coarse.
    fine_row = _dot_row(w, [dot, white, white, white])
    blank = _dot_row(w, [white])
    fine = _dots(w, h, [fine_row, blank, blank, blank])
    coarse_row = _dot_row(w, [dot, dot] + [white] * 6)
    coarse = _dots(w, h, [coarse_row, coarse_row, blank, blank, blank, blank, blank, blank])
    canvas = _Canvas(fonts)
    span = int(math.hypot(w, h)) + 200
    mask = Image.new("L", (span, span), 0)
    md = ImageDraw.Draw(mask)
    size = 300
    step_x, step_y = int(size * 2.9), int(size * 1.6)
    for j, y in enumerate(range(0, span, step_y)):
        for x in range(-(j % 2) * step_x // 2, span, step_x):
            canvas.text(md, (x, y), LATENT_WORD, size, bold=True, fill=255)
    mask = mask.rotate(30, resample=Image.Resampling.NEAREST)
    left, top = (span - w) // 2, (span - h) // 2
    mask = mask.crop((left, top, left + w, top + h))
    ground = Image.composite(coarse, fine, mask)

    lines = Image.new("L", (w, h), white)
    ld = ImageDraw.Draw(lines)
    # Guilloche: two families of interfering waves, like a banknote's ground.
    for k in range(-2, h // 90 + 3):
        base = k * 90
        for phase, amp, wave in ((0.0, 34, 520), (math.pi, 34, 520)):
            pts = [
                (
                    x,
                    base
                    + amp * math.sin(2 * math.pi * x / wave + phase + k * 0.55)
                    + 12 * math.sin(2 * math.pi * x / 173 + k),
                )
                for x in range(0, w + 8, 8)
            ]
            ld.line(pts, fill=GUILLOCHE_GREY, width=2)
    # A rosette in the middle of the page (hypotrochoid), drawn once, very light.
    cx, cy = w / 2, h / 2
    big, small, d = 520.0, 130.0 * 0.7, 300.0
    rosette: list[tuple[float, float]] = []
    for i in range(3600):
        t = i * 2 * math.pi / 400
        rosette.append(
            (
                cx + (big - small) * math.cos(t) + d * math.cos((big - small) / small * t),
                cy + (big - small) * math.sin(t) - d * math.sin((big - small) / small * t),
            )
        )
    ld.line(rosette, fill=GUILLOCHE_GREY, width=2)
    # Micro-text bands at the head and foot of the page.
    micro = f"{municipality}{LATENT_WORD}防止 MADOGUCHI " * 60
    for y in (96, PAGE_H - 120):
        canvas.text(ld, (MARGIN_X - 60, y), micro, MICRO_SIZE, fill=MICRO_GREY)
        canvas.text(ld, (MARGIN_X - 20, y + MICRO_SIZE + 4), micro, MICRO_SIZE, fill=MICRO_GREY)
    return ImageChops.darker(ground, lines)


# -- sheets per kind -------------------------------------------------------------------------------------

_OMITTED_LABELS = {"relationship": "続柄", "honseki": "本籍・筆頭者", "my_number": "個人番号"}


def _juminhyo(content: JuminhyoContent) -> tuple[list[Block], list[str]]:
    household = content.household
    blocks = [Block(((Field("住所", household.address, 3), Field("世帯主", household.head, 2)),))]
    any_foreign = False
    for p in content.persons:
        rows: list[Row] = [
            (
                Field("氏名", p.name, 3, kana=p.kana, emphasis=True),
                Field("生年月日", p.birth, 2),
                Field("性別", p.sex, 1),
            ),
        ]
        second = [
            Field("住民となった年月日", p.since, 1.2),
            Field("住所を定めた年月日", p.address_since, 1.2),
        ]
        if p.relationship is not None:
            second.append(Field("続柄", p.relationship, 0.8))
        rows.append(tuple(second))
        third = [Field("前住所", p.previous_address or "－", 3)]
        if p.my_number is not None:
            third.append(Field("個人番号", p.my_number, 2))
        rows.append(tuple(third))
        if p.honseki is not None:
            rows.append((Field("本籍", p.honseki, 3), Field("筆頭者", p.hittosha or "", 2)))
        if p.nationality is not None:
            any_foreign = True
            rows.append((Field("国籍・地域", p.nationality, 2), Field("在留資格", p.residence_status or "", 3)))
            rows.append(
                (
                    Field("在留期間等の満了の日", p.residence_expiry or "－", 2),
                    Field("法第30条の45に規定する区分", p.foreign_category or "", 3),
                )
            )
        blocks.append(Block(tuple(rows)))
    notes = []
    if content.omitted:
        labels = [
            _OMITTED_LABELS[o] + ("（国籍・地域等）" if o == "honseki" and any_foreign else "") for o in content.omitted
        ]
        notes.append("※ 次の事項は記載を省略しています：" + "、".join(labels))
    return blocks, notes


def _person_rows(person: Person) -> tuple[Row, ...]:
    return (
        (Field("住所", person.address),),
        (
            Field("氏名", person.name, 3, kana=person.kana, emphasis=True),
            Field("生年月日", person.birth, 2),
            Field("性別", person.sex, 1),
        ),
    )


def _inkan(content: InkanContent) -> tuple[list[Block], list[str]]:
    seal, person = content.seal, content.person
    return [
        Block(
            (
                (Field("登録番号", seal.number),),
                (Field("登録年月日", seal.registered),),
                (Field("氏名", person.name, kana=person.kana, emphasis=True),),
                (Field("生年月日", person.birth, 2), Field("性別", person.sex, 1)),
                (Field("住所", person.address),),
            ),
            side=Field("印影", seal=seal.impression or "印", label_width=110),
            side_width=760,
        ),
    ], []


def _koseki(content: KosekiContent) -> tuple[list[Block], list[str]]:
    wide = 360
    blocks = [
        Block(
            (
                (Field("本籍", content.honseki, label_width=wide),),
                (Field("氏名", content.hittosha, label_width=wide),),
            )
        ),
        Block(((Field("戸籍事項", f"戸籍編製　【編製日】{content.made_on}", label_width=wide),),)),
    ]
    for m in content.members:
        role_line = f"【配偶者区分】{m.role}" if m.role in ("夫", "妻") else f"【続柄】{m.role}"
        person = "\n".join(
            [
                f"【名】{m.name}",
                f"【生年月日】{m.birth}　【性別】{m.sex}",
                f"【父】{m.father or '－'}　【母】{m.mother or '－'}",
                role_line,
            ]
        )
        history = "\n".join(f"{name}　【{name}日】{text}" for name, text in m.events) or "－"
        blocks.append(
            Block(
                (
                    (Field("戸籍に記録されている者", person, label_width=wide),),
                    (Field("身分事項", history, label_width=wide),),
                )
            )
        )
    return blocks, []


def _fuhyo(content: FuhyoContent) -> tuple[list[Block], list[str]]:
    blocks = [Block(((Field("本籍", content.honseki, 3), Field("筆頭者", content.hittosha, 2)),))]
    for m in content.members:
        rows: list[Row] = [(Field("氏名", m.name, 3, emphasis=True), Field("生年月日", m.birth, 2))]
        for a in m.addresses:
            rows.append((Field("住所", a.address, 3), Field("住所を定めた年月日", a.since, 2)))
        blocks.append(Block(tuple(rows)))
    return blocks, []


def _yen(value: int) -> str:
    return f"{value:,} 円"


def _shotoku(content: ShotokuContent) -> tuple[list[Block], list[str]]:
    tax = content.tax
    municipality = content.municipality
    local = f"{municipality[-1]}民税" if municipality[-1:] in ("市", "町", "村", "区") else "市町村民税"
    return [
        Block(_person_rows(content.person)),
        Block(
            (
                (
                    Field("総所得金額等", _yen(tax.income), align="right"),
                    Field("所得控除額合計", _yen(tax.deductions), align="right"),
                    Field("課税標準額", _yen(tax.taxable_income), align="right"),
                ),
            )
        ),
        Block(
            (
                (
                    Field(local, _yen(tax.municipal_tax), align="right"),
                    Field("道府県民税", _yen(tax.prefectural_tax), align="right"),
                    Field("税額合計", _yen(tax.total_tax), align="right", emphasis=True),
                ),
            )
        ),
    ], [f"{content.fiscal_year_text}の課税は、{content.income_year_text}の所得に基づきます。"]


def _layout(content: CertificateContent) -> tuple[list[Block], list[str]]:
    if isinstance(content, JuminhyoContent):
        return _juminhyo(content)
    if isinstance(content, InkanContent):
        return _inkan(content)
    if isinstance(content, KosekiContent):
        return _koseki(content)
    if isinstance(content, FuhyoContent):
        return _fuhyo(content)
    return _shotoku(content)


# The kinds laid out above, by wire code (tests check every certificate kind is here).
_KINDS = frozenset(KINDS)


def sheet(content: CertificateContent | Mapping[str, Any]) -> Sheet:
    """Check the content and lay out what each page will hold (no pixels yet)."""
    content = typed(content)
    blocks, notes = _layout(content)
    subtitle = (content.subtitle or "") if isinstance(content, KosekiContent) else ""
    if isinstance(content, ShotokuContent):
        subtitle = f"{content.fiscal_year_text}（{content.income_year_text}所得）"
    return Sheet(
        title=content.title,
        subtitle=subtitle,
        issue_number=content.issue_number,
        blocks=tuple(blocks),
        notes=tuple(notes),
        certification=content.certification,
        date_text=content.issued_on_text,
        mayor_line=content.mayor_line,
        seal_text=f"{content.municipality}長之印",
        municipality=content.municipality,
    )


# -- pages -------------------------------------------------------------------------------------------------


def _paginate(c: _Canvas, blocks: Sequence[Block], notes: Sequence[str] = ()) -> list[list[Block]]:
    """Blocks per page; the last page keeps room for 以下余白, the notes and the certification."""
    pages: list[list[Block]] = [[]]
    y = BODY_TOP
    for block in blocks:
        for part in _split(c, block):
            h = _block_height(c, part)
            if pages[-1] and y + h > BODY_BOTTOM:
                pages.append([])
                y = BODY_TOP
            pages[-1].append(part)
            y += h + BLOCK_GAP
    tail = SMALL_SIZE * 2 + sum(len(c.wrap(n, SMALL_SIZE, TABLE_W)) for n in notes) * SMALL_SIZE * LINE
    if y - BLOCK_GAP + 18 + tail > BODY_BOTTOM_LAST:
        pages.append([])  # the certification goes on a page of its own
    if len(pages) > MAX_PAGES:
        raise CertificatePdfError(f"content: {len(pages)} pages, at most {MAX_PAGES}; issue it at a counter")
    return pages


def _split(c: _Canvas, block: Block) -> list[Block]:
    """A table taller than a page is cut between rows."""
    room = BODY_BOTTOM - BODY_TOP
    if _block_height(c, block) <= room or block.side is not None:
        return [block]
    parts: list[list[Row]] = [[]]
    used = 0
    for row in block.rows:
        h = _row_height(c, row)
        if h > room:
            raise CertificatePdfError("content: one item is longer than a page; shorten it or issue at a counter")
        if parts[-1] and used + h > room:
            parts.append([])
            used = 0
        parts[-1].append(row)
        used += h
    return [Block(tuple(p)) for p in parts]


def _spaced(c: _Canvas, draw: ImageDraw.ImageDraw, text: str, size: int, y: int, spacing: float) -> None:
    """A title with letter spacing, centred on the page."""
    widths = [c.width(ch, size, True) for ch in text]
    total = sum(widths) + spacing * size * (len(text) - 1)
    x = (PAGE_W - total) / 2
    for ch, w in zip(text, widths, strict=True):
        c.text(draw, (x, y), ch, size, bold=True)
        x += w + spacing * size


def _draw_page(c: _Canvas, s: Sheet, blocks: Sequence[Block], number: int, count: int) -> Image.Image:
    page = _ground(c.fonts, s.municipality).copy()
    draw = ImageDraw.Draw(page)
    _spaced(c, draw, s.title, TITLE_SIZE, 250, 0.35 if len(s.title) <= 8 else 0.12)
    if s.subtitle:
        c.text(draw, (PAGE_W / 2, 250 + TITLE_SIZE * 1.45), s.subtitle, SUBTITLE_SIZE, anchor="ma")
    right = MARGIN_X + TABLE_W
    c.text(draw, (right, 170), f"発行番号　{s.issue_number}", SMALL_SIZE, anchor="ra")
    c.text(draw, (right, 170 + SMALL_SIZE * LINE), f"{number} / {count} 頁", SMALL_SIZE, anchor="ra")
    y = BODY_TOP
    for block in blocks:
        y += _draw_block(c, draw, page, block, y) + BLOCK_GAP
    if number < count:
        c.text(draw, (right, BODY_BOTTOM + 20), "（次頁に続く）", SMALL_SIZE, anchor="ra")
        return page
    c.text(draw, (right, y - BLOCK_GAP + 18), "以下余白", SMALL_SIZE, anchor="ra")
    note_y = float(y - BLOCK_GAP + 18 + SMALL_SIZE * 2)
    for note in s.notes:
        for line in c.wrap(note, SMALL_SIZE, TABLE_W):
            c.text(draw, (MARGIN_X, note_y), line, SMALL_SIZE)
            note_y += SMALL_SIZE * LINE
    _draw_closing(c, draw, s)
    return page


def _draw_closing(c: _Canvas, draw: ImageDraw.ImageDraw, s: Sheet) -> None:
    top = PAGE_H - 900
    for line in c.wrap(s.certification, CERT_SIZE, TABLE_W - 120):
        c.text(draw, (MARGIN_X + 60, top), line, CERT_SIZE)
        top += int(CERT_SIZE * LINE)
    c.text(draw, (MARGIN_X + 60, top + 40), s.date_text, CERT_SIZE)
    seal = 270
    seal_right = MARGIN_X + TABLE_W - 10
    seal_top = PAGE_H - 690
    _draw_official_seal(c, draw, s.seal_text, (seal_right - seal, seal_top, seal_right, seal_top + seal))
    mayor_w = c.width(s.mayor_line, MAYOR_SIZE, True)
    size = MAYOR_SIZE if mayor_w <= TABLE_W - seal - 160 else int(MAYOR_SIZE * (TABLE_W - seal - 160) / mayor_w)
    c.text(draw, (seal_right - seal - 50, seal_top + seal / 2), s.mayor_line, size, bold=True, anchor="rm")
    foot = PAGE_H - 330
    for line in (
        "この証明書は偽造防止処理を施した用紙に出力しています。複写すると地紋に「複写」の文字が現れます。",
        "発行番号で交付の記録を照会できます。",
    ):
        c.text(draw, (MARGIN_X, foot), line, SMALL_SIZE - 4, fill=GREY_TEXT)
        foot += int((SMALL_SIZE - 4) * LINE)


def _check_glyphs(fonts: FontSet, content: CertificateContent) -> None:
    for path, text in strings(content):
        missing = fonts.missing_glyphs(text)
        if missing:
            raise CertificatePdfError(
                f"content{path}: the font cannot print {''.join(sorted(missing))!r} (外字); issue it at a counter"
            )


def render_pages(content: CertificateContent | Mapping[str, Any], fonts: FontSet | None = None) -> list[Image.Image]:
    """The certificate's pages as 2480x3508 greyscale images (300 dpi A4)."""
    fonts = fonts if fonts is not None else find_fonts()
    content = typed(content)
    s = sheet(content)
    _check_glyphs(fonts, content)
    c = _Canvas(fonts)
    pages = _paginate(c, s.blocks, s.notes)
    return [_draw_page(c, s, blocks, i + 1, len(pages)) for i, blocks in enumerate(pages)]


def render_pdf(content: CertificateContent | Mapping[str, Any], fonts: FontSet | None = None) -> bytes:
    """The certificate as PDF bytes: one lossless 300 dpi image per A4 page, no timestamps."""
    content = typed(content)
    return pdf_from_pages(render_pages(content, fonts), title=content.title)


class CertificatePdfRenderer:
    """The kiosk's certificate renderer (kiosk.ports.CertificateRenderer): content -> PDF bytes.

    Before drawing it checks that the content is the job's own - the kind and issue number the
    office answered with - so a stale or mixed-up content can never print under another job.
    """

    def __init__(self, fonts: FontSet | None = None) -> None:
        self._fonts = fonts

    def render(self, kind: str, content: CertificateContent | Mapping[str, Any], issue_number: str) -> bytes:
        """The PDF of one copy; CertificatePdfError when the content belongs to another job."""
        content = typed(content)
        if content.kind != kind or content.issue_number != issue_number:
            raise CertificatePdfError(
                f"content is for {content.kind!r} {content.issue_number!r}, not the job's"
                f" {kind!r} {issue_number!r}; refusing to print it"
            )
        if self._fonts is None:
            self._fonts = find_fonts()
        return render_pdf(content, self._fonts)


def render_png(
    content: CertificateContent | Mapping[str, Any], path: Path, scale: float = 1.0, fonts: FontSet | None = None
) -> Path:
    """Write the pages as one PNG (pages stacked, ``scale`` 1.0 = 300 dpi) for docs and reviews."""
    if not 0.05 <= scale <= 1.0:
        raise CertificatePdfError(f"scale: expected 0.05 to 1.0, got {scale}")
    pages = render_pages(content, fonts)
    if scale != 1.0:
        size = (round(PAGE_W * scale), round(PAGE_H * scale))
        pages = [p.resize(size, Image.Resampling.LANCZOS) for p in pages]
    gap = max(4, round(40 * scale))
    w, h = pages[0].size
    sheet_img = Image.new("L", (w, h * len(pages) + gap * (len(pages) - 1)), 128)
    for i, p in enumerate(pages):
        sheet_img.paste(p, (0, i * (h + gap)))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet_img.save(path, format="PNG", dpi=(DPI * scale, DPI * scale))
    return path


# -- the PDF container ------------------------------------------------------------------------------


def _idat(image: Image.Image) -> bytes:
    """The zlib stream of the image's PNG encoding (PNG-predicted rows), for a Flate XObject."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=6)
    data = buf.getvalue()
    pos, out = 8, bytearray()
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag = data[pos + 4 : pos + 8]
        if tag == b"IDAT":
            out += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return bytes(out)


def _pdf_text(text: str) -> bytes:
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode("ascii") + b">"


def pdf_from_pages(pages: Sequence[Image.Image], title: str = "") -> bytes:
    """A PDF with one full-page greyscale image per A4 page (deterministic bytes)."""
    if not pages:
        raise CertificatePdfError("pages: a PDF needs at least one page")
    objects: list[bytes] = []  # object n is objects[n - 1]

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled once the page tree's number is known
    tree = add(b"")
    info = add(b"<< /Producer (madoguchi) /Title " + _pdf_text(title) + b" >>")
    kids = []
    w_pt, h_pt = (f"{v:.2f}".encode() for v in PAGE_PT)
    for page in pages:
        gray = page.convert("L")
        data = _idat(gray)
        width, height = gray.size
        image = add(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray"
            b" /BitsPerComponent 8 /Filter /FlateDecode"
            b" /DecodeParms << /Predictor 15 /Colors 1 /BitsPerComponent 8 /Columns %d >> /Length %d >>\nstream\n"
            % (width, height, width, len(data))
            + data
            + b"\nendstream"
        )
        draw = b"q %s 0 0 %s 0 0 cm /Im0 Do Q" % (w_pt, h_pt)
        contents = add(b"<< /Length %d >>\nstream\n" % len(draw) + draw + b"\nendstream")
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %s %s] /Resources << /XObject << /Im0 %d 0 R >> >>"
                b" /Contents %d 0 R >>" % (tree, w_pt, h_pt, image, contents)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % tree
    objects[tree - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog,
        info,
        xref,
    )
    return bytes(out)
