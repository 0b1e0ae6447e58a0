"""Certificate pages: 300 dpi A4 rasters with the real Noto font, and the PDF around them."""

from __future__ import annotations

import io
import re
import struct
import zlib
from datetime import date
from pathlib import Path
from typing import Any, cast

import msgspec
import pytest
from PIL import Image, ImageChops

from certificates import pdf as certificate_pdf
from certificates.content import ContentError, JuminhyoContent, parse_content, plain, strings
from certificates.pdf import (
    MARGIN_X,
    PAGE_H,
    PAGE_W,
    PATTERN_DOT,
    TABLE_W,
    CertificatePdfError,
    CertificatePdfRenderer,
    _Canvas,
    pdf_from_pages,
    render_pages,
    render_pdf,
    render_png,
)
from certificates.registry import Household, Registry, Resident, demo_registry, synthetic_registry
from certificates.rules import CertificateKind, certificate_content, parse_options
from common.fonts import find_fonts
from common.validation import Invalid
from office.issuance import MAX_SITE_CODE
from sync import messages

TODAY = date(2026, 4, 1)
MAYOR = "まどぐち町長　佐々木　和夫"
FONTS = find_fonts()


def _content(
    kind: str, raw: dict[str, Any] | None = None, card: str = "SIM-0001", registry: Registry | None = None
) -> dict[str, Any]:
    registry = registry or demo_registry()
    resident = registry.by_card(card)
    assert resident is not None
    return certificate_content(registry, resident, kind, parse_options(kind, raw), "20260401-00001", TODAY, MAYOR)


def _objects(pdf: bytes) -> dict[int, bytes]:
    return {int(m.group(1)): m.group(2) for m in re.finditer(rb"(\d+) 0 obj\n(.*?)\nendobj\n", pdf, re.DOTALL)}


def _png_from_stream(stream: bytes, width: int, height: int) -> Image.Image:
    """Wrap a PDF Flate image stream (PNG predictors) back into a PNG file and let Pillow read it."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", stream) + chunk(b"IEND", b"")
    return Image.open(io.BytesIO(png))


def test_the_pdf_is_a_valid_a4_page_holding_the_rendering_losslessly() -> None:
    content = _content("juminhyo", {"scope": "household", "with_honseki": True, "with_zokugara": True})
    pdf = render_pdf(content, FONTS)
    assert pdf.startswith(b"%PDF-1.4\n") and pdf.endswith(b"%%EOF\n")
    # the cross-reference table points at every object
    xref_at = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert pdf[xref_at : xref_at + 4] == b"xref"
    entries = re.findall(rb"(\d{10}) 00000 n ", pdf[xref_at:])
    for n, offset in enumerate(entries, start=1):
        assert pdf[int(offset) :].startswith(b"%d 0 obj\n" % n)
    objects = _objects(pdf)
    assert b"/Count 1" in pdf and b"/MediaBox [0 0 595.28 841.89]" in pdf  # A4 in points
    image = next(body for body in objects.values() if b"/Subtype /Image" in body)
    assert b"/Width 2480 /Height 3508" in image and b"/ColorSpace /DeviceGray" in image
    length = int(re.search(rb"/Length (\d+)", image).group(1))  # type: ignore[union-attr]
    stream = image.split(b"stream\n", 1)[1][:length]
    decoded = _png_from_stream(stream, PAGE_W, PAGE_H)
    page = render_pages(content, FONTS)[0]
    assert decoded.size == (PAGE_W, PAGE_H)
    assert decoded.tobytes() == page.tobytes()  # 2480 x 3508 pixels on 595.28 pt = 300 dpi
    assert b"CreationDate" not in pdf and b"ModDate" not in pdf


def test_the_same_content_gives_the_same_bytes() -> None:
    content = _content("inkan")
    first = render_pdf(content, FONTS)
    certificate_pdf._ground.cache_clear()  # the ground is drawn again, not reused
    assert render_pdf(content, FONTS) == first
    other = dict(content, issue_number="20260401-00002")
    assert render_pdf(other, FONTS) != first


@pytest.mark.parametrize(
    "number",
    ["20260401-00001", "demo-town-20260401-00001", "W" * MAX_SITE_CODE + "-20260401-00001"],
    ids=["before-site-codes", "site-id", "longest-widest-code"],
)
def test_the_issue_number_is_printed_whole_in_the_header_clear_of_the_title(number: str) -> None:
    content = dict(_content("juminhyo"), issue_number=number)
    page = render_pages(content, FONTS)[0].convert("L")
    blank = render_pages(dict(content, issue_number=""), FONTS)[0].convert("L")
    # The line 発行番号　<number> is right-aligned: where it differs from the line without a number
    # is the whole line, which stays in the right half of the text column, above the title.
    box = ImageChops.difference(page, blank).point(lambda v: 255 if v > 96 else 0).getbbox()
    assert box is not None, "the number drew nothing"
    left, top, right, bottom = box
    assert MARGIN_X + TABLE_W // 2 < left and right <= MARGIN_X + TABLE_W
    assert 150 <= top and bottom < 250  # the title starts at 250
    line = _Canvas(FONTS).width(f"発行番号　{number}", certificate_pdf.SMALL_SIZE)
    assert right - left == pytest.approx(line, abs=6)  # every character drawn, none cut off


def test_png_rendering_reopens_at_300_dpi(tmp_path: Path) -> None:
    out = render_png(_content("juminhyo"), tmp_path / "docs" / "juminhyo.png", 1.0, FONTS)
    with Image.open(out) as image:
        assert image.size == (PAGE_W, PAGE_H)
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    half = render_png(_content("juminhyo"), tmp_path / "half.png", 0.5, FONTS)
    with Image.open(half) as image:
        assert image.size == (PAGE_W // 2, PAGE_H // 2)
    with pytest.raises(CertificatePdfError, match="scale"):
        render_png(_content("juminhyo"), tmp_path / "x.png", 2.0, FONTS)


@pytest.mark.parametrize(
    ("kind", "raw", "card"),
    [
        ("juminhyo", {"with_my_number": True, "with_honseki": True}, "SIM-0006"),
        ("inkan", None, "SIM-0002"),
        ("koseki", {"variant": "tohon"}, "SIM-0001"),
        ("koseki", {"variant": "shohon"}, "SIM-0002"),
        ("fuhyo", None, "SIM-0001"),
        ("shotoku", {"fiscal_year": 2024}, "SIM-0006"),
    ],
)
def test_every_kind_draws_title_tables_and_closing(kind: str, raw: dict[str, Any] | None, card: str) -> None:
    pages = render_pages(_content(kind, raw, card), FONTS)
    assert len(pages) == 1
    page = pages[0]
    assert page.size == (PAGE_W, PAGE_H) and page.mode == "L"

    def ink(box: tuple[int, int, int, int]) -> int:
        return sum(page.crop(box).point(lambda v: 255 if v < 80 else 0).histogram()[255:])

    assert ink((600, 230, 1900, 360)) > 5000  # the title
    assert ink((177, 520, 2303, 700)) > 5000  # the first table
    assert ink((177, PAGE_H - 900, 2303, PAGE_H - 400)) > 20000  # certification, date, mayor and seal


def test_the_ground_is_visible_but_light() -> None:
    page = render_pages(_content("shotoku"), FONTS)[0]
    empty = page.crop((300, 1700, 2200, 2300))  # below the tables, above the certification
    darkest, lightest = cast(tuple[int, int], empty.getextrema())
    assert darkest >= min(PATTERN_DOT, 150) - 20 and lightest == 255
    mean = sum(i * n for i, n in enumerate(empty.histogram())) / (empty.width * empty.height)
    assert 225 < mean < 252  # a pattern is there, and it is pale


def test_the_latent_word_is_coarse_dots_inside_fine_dots() -> None:
    ground = certificate_pdf._ground(FONTS, "まどぐち町")
    data = ground.tobytes()

    def dot(x: int, y: int) -> bool:
        return data[y * PAGE_W + x] == PATTERN_DOT

    coarse = fine = 0
    for y in range(400, 3000, 8):
        for x in range(200, 2200, 8):
            if dot(x, y) and dot(x + 1, y) and dot(x, y + 1) and dot(x + 1, y + 1):
                coarse += 1
            elif dot(x, y) and dot(x + 4, y) and not dot(x + 1, y):
                fine += 1
    assert coarse > 2000 and fine > 20000  # both textures are present across the page


def test_a_large_household_runs_onto_more_pages() -> None:
    registry = synthetic_registry(300, seed=3)

    def printable(h: Household) -> list[Resident]:
        return [m for m in registry.household_members(h.id) if not (m.support_measures or m.gaiji or m.moved_out)]

    household = max(
        (h for h in registry.households.values() if registry.residents[h.head_id].card_serial),
        key=lambda h: len(printable(h)),
    )
    head = registry.residents[household.head_id]
    members = printable(household)
    assert head in members and len(members) >= 4
    content = certificate_content(
        registry,
        head,
        CertificateKind.JUMINHYO,
        parse_options("juminhyo", {"members": [m.id for m in members], "with_honseki": True, "with_my_number": True}),
        "20260401-00009",
        TODAY,
        MAYOR,
    )
    # four people fit on a page only without the optional rows; with them the fifth needs a new page
    content["persons"] = content["persons"] * 2
    pages = render_pages(content, FONTS)
    assert len(pages) >= 2
    pdf = pdf_from_pages(pages, "住民票の写し")
    assert b"/Count %d" % len(pages) in pdf


def test_long_text_wraps_inside_its_cell() -> None:
    canvas = _Canvas(FONTS)
    address = "みなと県まどぐち町本町三丁目7番9号 まどぐちハイツ201号" * 3
    lines = canvas.wrap(address, 44, 900)
    assert "".join(lines).replace(" ", "") == address.replace(" ", "")
    assert all(canvas.width(line, 44) <= 900 for line in lines)
    assert not any(line.startswith(("、", "。")) for line in canvas.wrap("あ、" * 60, 44, 300))
    long_word = canvas.wrap("X" * 80, 44, 300)
    assert all(canvas.width(line, 44) <= 300 for line in long_word)


def test_a_very_long_address_grows_its_row_instead_of_being_cut() -> None:
    content = _content("inkan")
    content["person"]["address"] = "みなと県まどぐち町本町一丁目2番3号" * 8
    assert len(render_pages(content, FONTS)) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.pop("persons"), r"content\.persons: required"),
        (lambda c: c.update(persons=[]), r"content\.persons: a 住民票 needs at least one person"),
        (lambda c: c.update(persons={}), r"content\.persons: expected a list"),
        (lambda c: c.update(kind="passport"), r'content\.kind: expected one of juminhyo, .*got "passport"'),
        (lambda c: c["persons"][0].update(name=None), r"content\.persons\[0\]\.name: expected text"),
        (lambda c: c["household"].update(head=7), r"content\.household\.head: expected text, got 7"),
        (lambda c: c.update(omitted=["everything"]), r"content\.omitted\[0\]: expected one of relationship"),
        (
            lambda c: c["persons"][0].update(name="山田\U000f0001"),
            r"content\.persons\[0\]\.name: the font cannot print",
        ),
    ],
)
def test_bad_content_is_an_error_naming_the_field(change: Any, message: str) -> None:
    content = _content("juminhyo")
    change(content)
    with pytest.raises(CertificatePdfError, match=message):
        render_pdf(content, FONTS)


def test_tax_amounts_must_be_numbers() -> None:
    content = _content("shotoku")
    content["tax"]["income"] = "lots"
    with pytest.raises(CertificatePdfError, match=r"content\.tax\.income: expected a whole number"):
        render_pages(content, FONTS)


def test_content_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(CertificatePdfError, match=r"^content: expected "):
        render_pdf(cast(Any, ["juminhyo"]), FONTS)


@pytest.mark.parametrize(
    ("kind", "raw", "card"),
    [
        ("juminhyo", {"with_my_number": True, "with_honseki": True, "with_zokugara": True}, "SIM-0006"),
        ("juminhyo", {"scope": "household"}, "SIM-0001"),
        ("inkan", None, "SIM-0002"),
        ("koseki", {"variant": "shohon"}, "SIM-0002"),
        ("fuhyo", None, "SIM-0001"),
        ("shotoku", None, "SIM-0006"),
    ],
)
def test_content_goes_rules_to_wire_to_kiosk_to_pdf_unchanged(kind: str, raw: dict[str, Any] | None, card: str) -> None:
    sent = _content(kind, raw, card)
    # The issue reply carries it as JSON; the kiosk converts it once into the model.
    reply = messages.IssueReply(request_id="r1", ok=True, issue_number="20260401-00001", fee=300, certificate=sent)
    received = msgspec.json.decode(msgspec.json.encode(reply), type=messages.IssueReply)
    assert received.certificate is not None
    content = parse_content(received.certificate)
    assert content.kind == kind and plain(content) == sent  # nothing lost or added on the way
    assert render_pdf(content, FONTS) == render_pdf(sent, FONTS)
    renderer = CertificatePdfRenderer(FONTS)
    assert renderer.render(kind, content, "20260401-00001") == renderer.render(kind, sent, "20260401-00001")


def test_optional_juminhyo_items_are_absent_unless_asked_for() -> None:
    bare = _content("juminhyo")
    assert set(bare["persons"][0]) == {
        "name", "kana", "birth", "sex", "since", "address_since", "previous_address", "foreign"
    }  # fmt: skip
    content = parse_content(bare)
    assert isinstance(content, JuminhyoContent)
    person = content.persons[0]
    assert person.my_number is None and person.honseki is None and person.relationship is None
    assert content.omitted == ("relationship", "honseki", "my_number")


def test_the_glyph_check_walks_the_model_with_key_paths() -> None:
    content = parse_content(_content("fuhyo"))
    paths = dict(strings(content))
    assert paths[".members[0].addresses[0].address"] and ".honseki" in paths and ".title" in paths


def test_parse_content_names_the_key_path() -> None:
    raw = _content("shotoku")
    raw["tax"]["total_tax"] = "1,000"
    with pytest.raises(ContentError, match=r"^content\.tax\.total_tax: expected a whole number of yen") as info:
        parse_content(raw)
    assert isinstance(info.value.__cause__, Invalid) and info.value.__cause__.path == "tax.total_tax"
    juminhyo = _content("juminhyo")
    juminhyo["persons"] = []  # the model's own check names its field too
    with pytest.raises(ContentError, match=r"^content\.persons: a 住民票 needs at least one person") as own:
        parse_content(juminhyo)
    assert own.value.path == "persons"


def test_every_kind_is_laid_out() -> None:
    assert {k.value for k in CertificateKind} == set(certificate_pdf._KINDS)


def test_the_kiosk_renderer_prints_only_the_jobs_own_content() -> None:
    content = _content("fuhyo")
    renderer = CertificatePdfRenderer(FONTS)
    assert renderer.render("fuhyo", content, "20260401-00001") == render_pdf(content, FONTS)
    with pytest.raises(CertificatePdfError, match="not the job's 'fuhyo' '20260401-00002'; refusing"):
        renderer.render("fuhyo", content, "20260401-00002")
    with pytest.raises(CertificatePdfError, match="refusing"):
        renderer.render("juminhyo", content, "20260401-00001")
