"""Ticket rasters: drawn within the paper width, wrapped sensibly, encoded and decoded exactly."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageFont

from common.fonts import FontNotFoundError, FontSet, find_fonts
from common.i18n import LANGUAGES, NATIVE_NAMES
from drivers.raster import (
    CUT_PARTIAL_AFTER_FEED,
    ESC_INIT,
    BandCache,
    Cut,
    EscposDecodeError,
    Init,
    RasterFragment,
    StatusQuery,
    big_number_width,
    decode_escpos,
    decode_escpos_jobs,
    fit_big_number,
    parse_escpos,
    render,
    render_block,
    render_with_layout,
    text_width,
    to_escpos,
    wrap_text,
)
from drivers.ticket_printer import QR, BigNumber, PrintJob, Rule, Space, Text
from firmware_profiles.packaged import packaged_printers, printer_model_named
from firmware_profiles.printers import printer_model
from ticket_dispenser.ticket import IssuedTicket, ticket_job

REPO = Path(__file__).resolve().parents[1]
# Every packaged printer profile's width: 384 (58 mm), 512 and 576 (80 mm).
WIDTHS = sorted({printer_model(p).width_px for p in packaged_printers().models("printers")})


@pytest.fixture(scope="module")
def fonts() -> FontSet:
    return find_fonts()


def fitter(font: ImageFont.FreeTypeFont, width: int) -> Callable[[str], bool]:
    """The ``fits`` test of :func:`wrap_text` for ``font`` on ``width`` dots."""
    return lambda s: text_width(font, s) <= width


def same(a: Image.Image, b: Image.Image) -> bool:
    """Pixel-for-pixel equality of two mode "1" images."""
    return a.size == b.size and ImageChops.difference(a.convert("L"), b.convert("L")).getbbox() is None


def purpose_names() -> list[dict[str, str]]:
    """The purposes of the demo site, plus one longer than any office would configure."""
    site = tomllib.loads((REPO / "office" / "default_site.toml").read_text(encoding="utf-8"))
    names = [dict(c["name"]) for c in site.get("categories", [])]
    names.append(
        {
            "ja": "住民票の写し・印鑑登録証明書・戸籍謄本および戸籍抄本の交付請求（郵送分を含む）",
            "en": "Certificates of residence, seal registration and family register (including requests by post)",
            "vi": "Giấy chứng nhận cư trú, đăng ký con dấu và hộ tịch (kể cả yêu cầu qua bưu điện)",
        }
    )
    return names


def ticket(number: int, names: dict[str, str], language: str) -> IssuedTicket:
    return IssuedTicket(
        ticket_id=f"20250401-B-{number}",
        day="2025-04-01",
        series="B",
        number=number,
        category="certificates",
        names=names,
        route=(),
        procedures=(),
        issued_ms=1743467400000,
        clock_confirmed=True,
        people_ahead=12,
        est_wait_min=45,
        office_name="まどぐち町役場 総合窓口",
        language=language,
        token="SU5PVLU4YOXW6DGPVTGJNAFBUM",  # a fixed token: the QR code is part of the picture
    )


# --------------------------------------------------------------------------------------------
# paper width
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_the_longest_tickets_stay_within_the_paper_width(fonts: FontSet, width: int) -> None:
    longest = max(purpose_names(), key=lambda n: len(n.get("ja", "")) + len(n.get("en", "")))
    for language in ("ja", "en", "vi"):
        job = ticket_job(ticket(9999, longest, language), reprint=True)
        img, layout = render_with_layout(job, width, fonts)
        assert img.mode == "1" and img.width == width
        assert layout[-1][1][3] == img.height
        for block, _ in layout:
            if isinstance(block, Text):
                font = fonts.font(block.size, block.bold)
                lines = wrap_text(block.text, fitter(font, width))
                assert all(text_width(font, line) <= width for line in lines), lines
            if isinstance(block, BigNumber):
                assert _big_number_ink_width(block, width, fonts) <= width


def _big_number_ink_width(block: BigNumber, width: int, fonts: FontSet) -> int:
    return big_number_width(block, fit_big_number(block, width, fonts), fonts)


def test_a_four_digit_number_shrinks_to_fit_58mm_but_not_80mm(fonts: FontSet) -> None:
    block = BigNumber("8888", suffix="番", size=190)
    assert fit_big_number(block, 576, fonts) == 190
    small = fit_big_number(block, 384, fonts)
    assert 100 < small < 190
    assert _big_number_ink_width(block, 384, fonts) <= 384
    # The number still fills most of the 58 mm width: shrunk to fit, not more.
    assert _big_number_ink_width(block, 384, fonts) > 384 * 0.85


JAPANESE = "あいうえおかきくけこさしすせそっゃゅょアイウエオー漢字窓口番号住民票戸籍証明書交付、。「」（）・"
ENGLISH = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789 .,:/-()"
line_text = st.text(alphabet=st.sampled_from(JAPANESE + ENGLISH + "  "), min_size=0, max_size=120)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=line_text, size=st.integers(16, 64), width=st.sampled_from(WIDTHS), bold=st.booleans())
def test_wrapped_text_never_exceeds_the_width_and_loses_nothing(
    fonts: FontSet, text: str, size: int, width: int, bold: bool
) -> None:
    font = fonts.font(size, bold)
    lines = wrap_text(text, fitter(font, width))
    assert all(text_width(font, line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    band = render_block(Text(text, size=size, bold=bold, align="center"), width, fonts)
    assert band.mode == "1" and band.width == width


def test_japanese_wraps_between_characters_and_latin_words_stay_whole(fonts: FontSet) -> None:
    font = fonts.font(40)
    width = text_width(font, "窓口") * 5  # room for about ten kanji
    ja = wrap_text("住民票の写しの交付請求は一階の総合窓口で受け付けています。", fitter(font, width))
    assert len(ja) > 1 and all(text_width(font, line) <= width for line in ja)
    sentence = "Please wait until your number is called"
    en = wrap_text(sentence, fitter(font, width))
    words = set(sentence.split())
    assert all(set(line.split()) <= words for line in en)


def test_kinsoku_no_line_starts_with_closing_punctuation(fonts: FontSet) -> None:
    font = fonts.font(40)
    text = "あいうえおかきくけこ、さしすせそ。たちつてと」"
    for chars in range(3, 12):
        width = text_width(font, "あ" * chars)
        lines = wrap_text(text, fitter(font, width))
        assert all(line[0] not in "、。」" for line in lines if line), lines


def test_every_language_of_the_lobby_has_glyphs_in_the_font(fonts: FontSet) -> None:
    for language in LANGUAGES:
        job = ticket_job(ticket(1105, {"ja": "証明書", language: NATIVE_NAMES[language]}, language))
        text = job.plain_text()
        assert not fonts.missing_glyphs(text), (language, fonts.missing_glyphs(text))
        assert not fonts.missing_glyphs(text, bold=True)


def test_blocks_render_as_specified(fonts: FontSet) -> None:
    assert render_block(Space(30), 384, fonts).size == (384, 30)
    rule = render_block(Rule(3), 384, fonts)
    black_rows = [y for y in range(rule.height) if rule.crop((0, y, 384, y + 1)).getextrema() == (0, 0)]
    assert len(black_rows) == 3
    qr = render_block(QR("http://madoguchi.local/t/20250401-B-1105", module=6), 384, fonts)
    assert qr.width == 384 and qr.height % 6 == 0  # whole modules of 6 dots
    narrow = render_block(QR("http://madoguchi.local/t/20250401-B-1105", module=6), 120, fonts)
    assert narrow.width == 120 and narrow.height < qr.height  # shrunk to fit


def test_text_is_thresholded_black_on_white(fonts: FontSet) -> None:
    band = render_block(Text("番号札 Number", size=28), 384, fonts)
    assert band.mode == "1"
    assert sorted(set(band.convert("L").tobytes())) == [0, 255]
    # The ink sits in the band; the rest is white paper.
    assert band.getbbox() is not None


# --------------------------------------------------------------------------------------------
# ESC/POS bytes
# --------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(1, 80),
    height=st.integers(1, 700),
    fragment=st.sampled_from([1, 7, 64, 256]),
    seed=st.binary(min_size=1, max_size=64),
)
def test_decode_inverts_encode_pixel_for_pixel(width: int, height: int, fragment: int, seed: bytes) -> None:
    data = (seed * (width * height // len(seed) + 1))[: width * height]
    img = Image.frombytes("L", (width, height), data).point(lambda v: 255 if v & 1 else 0, mode="1")
    encoded = to_escpos(img, fragment_height=fragment)
    decoded = decode_escpos(encoded)
    # GS v 0 rows are whole bytes: a width that is not a multiple of 8 is padded with white.
    assert decoded.size == (math.ceil(width / 8) * 8, height)
    assert same(decoded.crop((0, 0, width, height)), img)
    if width % 8:
        assert decoded.crop((width, 0, decoded.width, height)).getextrema() == (255, 255)


def test_the_byte_layout_is_init_fragments_cut(fonts: FontSet) -> None:
    img = render(PrintJob("j", (Text("あ"), Space(600))), 576, fonts)
    data = to_escpos(img, fragment_height=256)
    assert data.startswith(ESC_INIT) and data.endswith(CUT_PARTIAL_AFTER_FEED)
    commands, used = parse_escpos(data)
    assert used == len(data)
    fragments = [c for c in commands if isinstance(c, RasterFragment)]
    assert [f.height for f in fragments] == [256] * (img.height // 256) + (
        [img.height % 256] if img.height % 256 else []
    )
    assert all(f.width_bytes == 72 for f in fragments)
    assert isinstance(commands[0], Init) and commands[-1] == Cut(partial=True, feed=0)
    assert not to_escpos(img, cut=False).endswith(CUT_PARTIAL_AFTER_FEED)


def test_the_decoder_skips_status_queries_and_splits_tickets_at_cuts(fonts: FontSet) -> None:
    first = render(PrintJob("a", (Text("1番"),)), 384, fonts)
    second = render(PrintJob("b", (Text("2番"),)), 384, fonts)
    stream = b"\x10\x04\x01" + to_escpos(first) + b"\x10\x04\x04" + to_escpos(second)
    tickets = decode_escpos_jobs(stream)
    assert len(tickets) == 2 and same(tickets[0], first) and same(tickets[1], second)
    assert decode_escpos(stream).height == first.height + second.height
    assert StatusQuery(4) in parse_escpos(stream)[0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x1b@hello", "unknown ESC/POS bytes at byte 2: 68 65 6c 6c 6f"),
        (b"\x1b@\x1dv0\x00\x02\x00\x05\x00\xff", "truncated command at byte 2"),
        (b"\x1dv0\x03\x01\x00\x01\x00\xff", "density mode 3"),
        (b"\x10\x04\x09", "DLE EOT with n=9"),
        (b"\x1b@", "no raster image"),
    ],
)
def test_the_decoder_refuses_what_it_does_not_know(data: bytes, message: str) -> None:
    with pytest.raises(EscposDecodeError, match=message):
        decode_escpos(data)


def test_a_stream_can_be_parsed_in_pieces() -> None:
    img = Image.new("1", (16, 3), 0)
    data = to_escpos(img)
    commands, used = parse_escpos(data[:10], final=False)
    assert commands == [Init()] and used == 2
    rest, used_rest = parse_escpos(data[used:], final=False)
    assert used + used_rest == len(data) and isinstance(rest[0], RasterFragment)


def test_the_decoded_raster_shows_the_number_where_it_was_drawn(fonts: FontSet) -> None:
    for width in WIDTHS:
        job = ticket_job(ticket(1105, {"ja": "証明書", "en": "Certificates"}, "en"))
        img, layout = render_with_layout(job, width, fonts)
        decoded = decode_escpos(to_escpos(img, fragment_height=printer_model_named("generic-58mm").fragment_height))
        [(block, box)] = [(b, box) for b, box in layout if isinstance(b, BigNumber)]
        assert block.number == "1105"
        # A fresh rendering of the number alone is exactly what the printer got at that place.
        alone = render_block(block, width, fonts)
        assert same(decoded.crop(box), alone)
        # ...and it is a big number: ink over most of its band's height.
        ink = alone.point(lambda v: 255 - v).getbbox()
        assert ink is not None and ink[3] - ink[1] > 0.5 * alone.height
        # A different number would not match: the comparison can fail.
        other = render_block(BigNumber("1106", block.suffix, block.size), width, fonts)
        assert not same(decoded.crop(box), other)


# --------------------------------------------------------------------------------------------
# fonts
# --------------------------------------------------------------------------------------------


def test_the_japanese_face_of_the_collection_is_found_by_name(fonts: FontSet) -> None:
    assert fonts.regular.family in ("Noto Sans CJK JP", "IPAexGothic")
    if fonts.regular.path.suffix == ".ttc":
        assert fonts.font(20).getname()[0] == "Noto Sans CJK JP"
    assert len(fonts.regular.sha256()) == 64


def test_no_japanese_font_names_the_package_to_install() -> None:
    with pytest.raises(FontNotFoundError, match="apt-get install fonts-noto-cjk"):
        find_fonts(candidates=(("/nonexistent/NotoSansCJK-Regular.ttc", None, "Noto Sans CJK JP"),), fontconfig=False)
    with pytest.raises(FontNotFoundError, match="cannot be opened"):
        find_fonts(regular="/nonexistent/font.ttf")


def test_a_family_without_a_bold_file_draws_bold_with_a_stroke(fonts: FontSet) -> None:
    # IPAex Gothic has no bold: the same situation, made with the regular Noto file alone.
    regular_only = find_fonts(regular=fonts.regular.path)
    assert regular_only.bold is None and regular_only.stroke(40, bold=True) > 0
    job = ticket_job(ticket(8888, purpose_names()[-1], "en"))
    img = render(job, 384, regular_only)
    assert img.width == 384
    text = Text("住民票の写し・印鑑登録証明書", size=40, bold=True)
    font, stroke = regular_only.font(40, True), regular_only.stroke(40, True)
    lines = wrap_text(text.text, lambda s: text_width(font, s, stroke) <= 384)
    assert all(text_width(font, line, stroke) <= 384 for line in lines)


def test_tickets_drawn_with_a_band_cache_are_the_tickets_drawn_without(fonts: FontSet) -> None:
    bands = BandCache(384, fonts, size=4)
    for n in range(12):
        blocks = (
            Text("みどり区役所", size=26, align="center"),
            Rule(),
            Text("住民票・証明書" if n % 2 else "転入・転出", size=40, align="center", bold=True),
            BigNumber(str(1100 + n), "番"),
            Text(f"{n} waiting ahead", size=30, align="center"),
            QR(f"http://madoguchi.local/t/{n}", module=5),
            Space(8),
        )
        job = PrintJob(str(n), blocks)
        assert render(job, 384, fonts, bands=bands).tobytes() == render(job, 384, fonts).tobytes(), n
    assert len(bands._bands) == 4  # bounded: the oldest went
    with pytest.raises(ValueError, match="another width"):
        render(job, 576, fonts, bands=bands)
