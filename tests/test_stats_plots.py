"""The statistics plots: SVG that scales and keeps its text, PNG with Japanese drawn, empty days,
and wrong shapes refused. With MADOGUCHI_SCREENSHOTS=1 the demo year's plots are written to
docs/screenshots/stats-plot-*.png."""

from __future__ import annotations

import io
import logging
import math
import os
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from office.stats import plots
from office.stats.plots import Plot

SVG = "{http://www.w3.org/2000/svg}"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"

HOURS = list(range(8, 18))
WEEKDAYS = ["月", "火", "水", "木", "金"]
NO_DATA = "データがありません"

# A demo year as the office's figures would give it: mornings busiest at 10–11, a lunch dip,
# Mondays heaviest; 12:00 on Friday has no figure (the hall's network was down).
HEAT: list[list[float | None]] = [
    [9.2, 18.4, 27.9, 31.6, 16.3, 14.8, 19.7, 17.2, 12.5, 5.1],
    [7.8, 15.1, 24.3, 26.7, 13.9, 12.2, 16.4, 14.0, 10.6, 4.2],
    [7.1, 14.6, 23.5, 25.2, 13.1, 11.8, 15.3, 13.5, 9.9, 3.8],
    [7.4, 14.9, 22.8, 24.9, 12.7, 11.5, 15.8, 13.9, 10.1, 4.0],
    [8.3, 16.2, 25.1, 27.4, None, 13.6, 17.9, 16.8, 13.4, 6.3],
]

STATIONS = ["総合案内", "住民異動届", "証明書発行", "国民健康保険", "年金", "マイナンバーカード交付", "税証明"]
QUANTILES: list[tuple[float, float, float, float, float] | None] = [
    (1.0, 2.0, 3.5, 5.0, 8.0),
    (12.0, 18.0, 26.0, 38.0, 55.0),
    (3.0, 5.0, 8.0, 12.0, 18.0),
    (8.0, 12.0, 17.0, 25.0, 36.0),
    (6.0, 10.0, 15.0, 22.0, 31.0),
    (10.0, 15.0, 21.0, 30.0, 44.0),
    None,
]

DAY_ARRIVALS = [12.0, 24.0, 41.0, 46.0, 22.0, 19.0, 27.0, 23.0, 16.0, 6.0]
COUNTERS_OPEN: list[float | None] = [3, 4, 6, 6, 4, 4, 5, 5, 4, 3]
COUNTERS_NEEDED: list[float | None] = [2, 4, 7, 7, 4, 3, 5, 4, 3, 2]
MEDIAN_WAIT: list[float | None] = [4.0, 7.0, 15.0, 19.0, 11.0, 8.0, 10.0, 9.0, 6.0, 3.0]
P90_WAIT: list[float | None] = [9.0, 15.0, 31.0, 38.0, 24.0, 17.0, 21.0, 19.0, 13.0, None]

WEEKS = list(range(1, 53))


def _week_arrivals(week: int) -> float:
    # The moving season (weeks 12–15, late March to mid April) more than doubles the lobby.
    season = {12: 1.9, 13: 2.4, 14: 2.2, 15: 1.6}.get(week, 1.0)
    holidays = {1: 0.45, 18: 0.6, 33: 0.8, 52: 0.5}.get(week, 1.0)
    return round((820 + 60 * math.sin(week / 52 * 2 * math.pi)) * season * holidays)


YEAR_ARRIVALS = [_week_arrivals(w) for w in WEEKS]
YEAR_WAIT: list[float | None] = [round(4 + a / 120, 1) for a in YEAR_ARRIVALS]
YEAR_WAIT[32] = None  # a week whose waits were not recorded

COUNTER_LABELS = {
    "arrivals": "来庁者数",
    "counters_open": "開設窓口数",
    "counters_needed": "必要窓口数(予測)",
    "hour_axis": "時刻",
    "arrivals_axis": "来庁者数(人)",
    "counters_axis": "窓口数",
    "no_data": NO_DATA,
}
YEAR_LABELS = {
    "arrivals": "週あたり来庁者数",
    "median_wait": "待ち時間の中央値",
    "week_axis": "ISO週番号",
    "arrivals_axis": "来庁者数(人)",
    "wait_axis": "待ち時間(分)",
    "highlight": "引越しシーズン",
    "no_data": NO_DATA,
}
DAY_LABELS = {
    "arrivals": "来庁者数",
    "median_wait": "待ち時間の中央値",
    "p90_wait": "待ち時間の90パーセンタイル",
    "hour_axis": "時刻",
    "arrivals_axis": "来庁者数(人)",
    "wait_axis": "待ち時間(分)",
    "no_data": NO_DATA,
}


def heatmap() -> Plot:
    return plots.heatmap_hour_weekday(
        HEAT,
        HOURS,
        WEEKDAYS,
        "曜日・時間帯別の来庁者数(2025年度平均)",
        "来庁者数(人/時)",
        no_data=NO_DATA,
        hour_axis="時刻",
    )


def stations() -> Plot:
    return plots.station_times(
        STATIONS,
        QUANTILES,
        "窓口別の処理時間",
        "処理時間(分)",
        no_data=NO_DATA,
        note="箱: 25〜75パーセンタイル、ひげ: 10〜90パーセンタイル、縦線と数字: 中央値",
    )


def counters() -> Plot:
    return plots.arrivals_and_counters(
        HOURS, DAY_ARRIVALS, COUNTERS_OPEN, COUNTERS_NEEDED, COUNTER_LABELS, "時間帯別の来庁者数と窓口数(4月1日)"
    )


def year() -> Plot:
    return plots.year_by_week(
        WEEKS, YEAR_ARRIVALS, YEAR_WAIT, YEAR_LABELS, "週別の来庁者数と待ち時間(2025年度)", highlight=(12, 15)
    )


def day() -> Plot:
    return plots.day_by_hour(HOURS, DAY_ARRIVALS, MEDIAN_WAIT, P90_WAIT, DAY_LABELS, "時間帯別の待ち時間(4月1日)")


PLOTS: dict[str, tuple[Callable[[], Plot], list[str]]] = {
    "heatmap": (heatmap, ["曜日・時間帯別の来庁者数(2025年度平均)", "来庁者数(人/時)", "時刻", *WEEKDAYS, "10:00"]),
    "stations": (
        stations,
        [
            "窓口別の処理時間",
            "処理時間(分)",
            *STATIONS,
            NO_DATA,
            "箱: 25〜75パーセンタイル、ひげ: 10〜90パーセンタイル、縦線と数字: 中央値",
        ],
    ),
    "counters": (
        counters,
        ["時間帯別の来庁者数と窓口数(4月1日)", *(v for k, v in COUNTER_LABELS.items() if k != "no_data")],
    ),
    "year": (year, ["週別の来庁者数と待ち時間(2025年度)", *(v for k, v in YEAR_LABELS.items() if k != "no_data")]),
    "day": (day, ["時間帯別の待ち時間(4月1日)", *(v for k, v in DAY_LABELS.items() if k != "no_data")]),
}


def svg_texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def fill_of(svg: str, text: str) -> str:
    root = ET.fromstring(svg)
    for t in root.iter(f"{SVG}text"):
        if "".join(t.itertext()) == text:
            found = re.search(r"fill: (#[0-9a-f]{6})", t.get("style", ""))
            assert found, t.get("style")
            return found.group(1)
    raise AssertionError(f"no text {text!r}")


def luminance(hex_colour: str) -> float:
    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def check_svg(svg: str, title: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert re.fullmatch(r"0 0 [\d.]+ [\d.]+", root.get("viewBox", ""))
    assert root.get("width") is None and root.get("height") is None
    titles = [t.text for t in root if t.tag == f"{SVG}title"]
    assert titles == [title]
    assert root.get("role") == "img"
    # Text stays text: no glyphs drawn as paths, no fixed family on each text element.
    assert root.find(f".//{SVG}text") is not None
    assert "font-family" not in "".join(t.get("style", "") for t in root.iter(f"{SVG}text"))
    assert not svg.startswith("<?xml")  # ready to inline in an HTML page
    return root


def check_png(plot: Plot, dpi: float) -> Image.Image:
    image = Image.open(io.BytesIO(plot.png(dpi)))
    image.load()
    assert image.format == "PNG"
    expected = (plot.width_in * dpi, plot.height_in * dpi)
    assert all(abs(got - want) <= 1 for got, want in zip(image.size, expected, strict=True)), (image.size, expected)
    colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) >= 8, "the PNG is (nearly) blank"
    return image


@pytest.mark.parametrize("name", PLOTS)
def test_svg_scales_keeps_its_text_and_has_a_title(name: str) -> None:
    make, expected = PLOTS[name]
    plot = make()
    check_svg(plot.svg, expected[0])
    texts = svg_texts(plot.svg)
    for label in expected:
        assert label in texts, f"{label!r} not among the SVG's texts"


@pytest.mark.parametrize("name", PLOTS)
def test_png_size_follows_dpi_and_japanese_is_drawn(name: str) -> None:
    plot = PLOTS[name][0]()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_png(plot, 100)
        check_png(plot, 200)
    assert plots.cjk_font() is not None
    assert not [w for w in caught if "missing from font" in str(w.message)], "tofu: glyphs missing"


def test_the_cjk_font_is_found() -> None:
    # make test installs fonts-noto-cjk (scripts/ensure-system-deps.sh): its absence is a failure
    assert plots.CJK_FILE.is_file(), f"{plots.CJK_FILE} missing: apt-get install fonts-noto-cjk"
    assert plots.cjk_font() == "Noto Sans CJK JP"


def test_same_input_same_svg() -> None:
    assert heatmap().svg == heatmap().svg


def test_heatmap_annotates_each_cell_with_contrasting_text() -> None:
    svg = heatmap().svg
    texts = svg_texts(svg)
    for row in HEAT:
        for v in row:
            if v is not None:
                assert f"{v:.1f}" in texts
    # The busiest cell is the darkest (a busy hour is ink on paper), the quietest the lightest.
    busiest, quietest = fill_of(svg, "31.6"), fill_of(svg, "3.8")
    assert luminance(busiest) > 0.8
    assert luminance(quietest) < 0.2


def test_heatmap_takes_any_row_count_and_whole_numbers() -> None:
    week = [[float(d * 10 + h) for h in range(3)] for d in range(7)]
    labels = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    plot = plots.heatmap_hour_weekday(week, [9, 10, 11], labels, "Arrivals", "per hour", no_data="No data")
    texts = svg_texts(plot.svg)
    assert {"0", "62", *labels} <= set(texts)
    check_png(plot, 72)


def test_heatmap_missing_cell_is_blank() -> None:
    values: list[list[float | None]] = [[1.5, None], [None, 2.5]]
    texts = svg_texts(plots.heatmap_hour_weekday(values, [9, 10], ["月", "火"], "t", "u", no_data=NO_DATA).svg)
    assert "1.5" in texts and "2.5" in texts and "nan" not in " ".join(texts).lower()


def test_a_station_without_figures_keeps_its_row() -> None:
    svg = stations().svg
    texts = svg_texts(svg)
    assert "税証明" in texts and texts.count(NO_DATA) == 1
    assert "26" in texts and "3.5" in texts  # the medians, written beside the boxes


def test_year_without_highlight_needs_no_highlight_label() -> None:
    labels = {k: v for k, v in YEAR_LABELS.items() if k != "highlight"}
    plot = plots.year_by_week(WEEKS, YEAR_ARRIVALS, YEAR_WAIT, labels, "t")
    assert "引越しシーズン" not in svg_texts(plot.svg)


def test_counters_needed_is_optional() -> None:
    labels = {k: v for k, v in COUNTER_LABELS.items() if k != "counters_needed"}
    plot = plots.arrivals_and_counters(HOURS, DAY_ARRIVALS, COUNTERS_OPEN, None, labels, "t")
    assert "必要窓口数(予測)" not in svg_texts(plot.svg)


EMPTY: dict[str, Callable[[], Plot]] = {
    "heatmap none": lambda: plots.heatmap_hour_weekday(
        [[None] * 10] * 5, HOURS, WEEKDAYS, "空の日", "人/時", no_data=NO_DATA
    ),
    "heatmap zeros": lambda: plots.heatmap_hour_weekday(
        [[0.0] * 10] * 5, HOURS, WEEKDAYS, "空の日", "人/時", no_data=NO_DATA
    ),
    "heatmap no cells": lambda: plots.heatmap_hour_weekday([], [], [], "空の日", "人/時", no_data=NO_DATA),
    "stations none": lambda: plots.station_times(["証明書発行"], [None], "空の日", "分", no_data=NO_DATA),
    "stations no stations": lambda: plots.station_times([], [], "空の日", "分", no_data=NO_DATA),
    "counters zeros": lambda: plots.arrivals_and_counters(
        HOURS, [0.0] * 10, [None] * 10, [None] * 10, COUNTER_LABELS, "空の日"
    ),
    "counters no hours": lambda: plots.arrivals_and_counters([], [], [], None, COUNTER_LABELS, "空の日"),
    "year zeros": lambda: plots.year_by_week(WEEKS, [0.0] * 52, [None] * 52, YEAR_LABELS, "空の日", highlight=(12, 15)),
    "year no weeks": lambda: plots.year_by_week([], [], [], YEAR_LABELS, "空の日"),
    "day zeros": lambda: plots.day_by_hour(HOURS, [0.0] * 10, [None] * 10, [None] * 10, DAY_LABELS, "空の日"),
    "day no hours": lambda: plots.day_by_hour([], [], [], [], DAY_LABELS, "空の日"),
}


@pytest.mark.parametrize("name", EMPTY)
def test_no_arrivals_still_renders_with_the_no_data_text(name: str) -> None:
    plot = EMPTY[name]()
    check_svg(plot.svg, "空の日")
    assert NO_DATA in svg_texts(plot.svg)
    image = Image.open(io.BytesIO(plot.png(80)))
    assert image.size == (round(plot.width_in * 80), round(plot.height_in * 80))


BAD: dict[str, tuple[Callable[[], object], str]] = {
    "ragged heat map": (
        lambda: plots.heatmap_hour_weekday([[1.0, 2.0], [1.0]], [9, 10], ["月", "火"], "t", "u", no_data=NO_DATA),
        r"values\[1\] has 1 values, expected 2 \(one per hour\)",
    ),
    "heat map rows vs labels": (
        lambda: plots.heatmap_hour_weekday([[1.0]], [9], ["月", "火"], "t", "u", no_data=NO_DATA),
        r"values has 1 values, expected 2 \(one per weekday label\)",
    ),
    "heat map NaN": (
        lambda: plots.heatmap_hour_weekday([[math.nan]], [9], ["月"], "t", "u", no_data=NO_DATA),
        r"pass None for a missing value",
    ),
    "hours unordered": (
        lambda: plots.day_by_hour([10, 9], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], DAY_LABELS, "t"),
        r"hours must be strictly increasing",
    ),
    "hour 24": (
        lambda: plots.day_by_hour([24], [1.0], [1.0], [1.0], DAY_LABELS, "t"),
        r"hours must lie in 0\.\.23",
    ),
    "station count": (
        lambda: plots.station_times(["a", "b"], [None], "t", "u", no_data=NO_DATA),
        r"quantiles has 1 values, expected 2 \(one per station\)",
    ),
    "four quantiles": (
        lambda: plots.station_times(["a"], [(1.0, 2.0, 3.0, 4.0)], "t", "u", no_data=NO_DATA),  # type: ignore[list-item]
        r"quantiles\[0\] has 4 values, expected 5",
    ),
    "quantiles out of order": (
        lambda: plots.station_times(["a"], [(1.0, 5.0, 3.0, 4.0, 6.0)], "t", "u", no_data=NO_DATA),
        r"p10 <= p25 <= median <= p75 <= p90",
    ),
    "arrivals short": (
        lambda: plots.arrivals_and_counters(HOURS, [1.0], COUNTERS_OPEN, None, COUNTER_LABELS, "t"),
        r"arrivals has 1 values, expected 10 \(one per hour\)",
    ),
    "counters needed short": (
        lambda: plots.arrivals_and_counters(HOURS, DAY_ARRIVALS, COUNTERS_OPEN, [1.0], COUNTER_LABELS, "t"),
        r"counters_needed has 1 values, expected 10",
    ),
    "arrival None": (
        lambda: plots.arrivals_and_counters([9], [None], [1.0], None, COUNTER_LABELS, "t"),  # type: ignore[list-item]
        r"arrivals\[0\] is None",
    ),
    "label missing": (
        lambda: plots.day_by_hour(HOURS, DAY_ARRIVALS, MEDIAN_WAIT, P90_WAIT, {"arrivals": "来庁者数"}, "t"),
        r"labels lacks median_wait, p90_wait",
    ),
    "highlight reversed": (
        lambda: plots.year_by_week(WEEKS, YEAR_ARRIVALS, YEAR_WAIT, YEAR_LABELS, "t", (15, 12)),
        r"highlight must be \(first, last\)",
    ),
    "week waits short": (
        lambda: plots.year_by_week(WEEKS, YEAR_ARRIVALS, YEAR_WAIT[:-1], YEAR_LABELS, "t"),
        r"median_wait_min has 51 values, expected 52 \(one per week\)",
    ),
    "day p90 short": (
        lambda: plots.day_by_hour(HOURS, DAY_ARRIVALS, MEDIAN_WAIT, P90_WAIT[:3], DAY_LABELS, "t"),
        r"p90_wait_min has 3 values, expected 10",
    ),
    "dpi": (lambda: day().png(0), r"dpi must be a positive number"),
}


@pytest.mark.parametrize("name", BAD)
def test_wrong_shapes_are_refused_clearly(name: str) -> None:
    call, message = BAD[name]
    with pytest.raises(ValueError, match=message):
        call()


def test_highlight_needs_its_label() -> None:
    labels = {k: v for k, v in YEAR_LABELS.items() if k != "highlight"}
    with pytest.raises(ValueError, match="labels lacks highlight"):
        plots.year_by_week(WEEKS, YEAR_ARRIVALS, YEAR_WAIT, labels, "t", highlight=(12, 15))


def test_a_dollar_sign_is_not_mathtext() -> None:
    plot = plots.station_times(["$5 fee"], [(1.0, 2.0, 3.0, 4.0, 5.0)], "Cost $ and $time$", "min", no_data="-")
    assert {"$5 fee", "Cost $ and $time$"} <= set(svg_texts(plot.svg))


def test_threads_do_not_disturb_each_other() -> None:
    # rc_context is global; the module's lock keeps one thread's settings from leaking into another's.
    makers = [heatmap, stations, counters, year, day]
    alone = [make().svg for make in makers]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda make: make().svg, makers * 2))
    assert together == alone * 2


def test_without_a_cjk_font_it_warns_and_still_renders(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(plots, "CJK_FAMILIES", ("No Such Font Family",))
    monkeypatch.setattr(plots, "CJK_FILE", Path("/nonexistent/font.ttc"))
    plots.cjk_font.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger=plots.__name__):
            plot = day()
            check_png(plot, 60)
        assert "no Noto Sans CJK font found" in caplog.text
        assert "時間帯別の待ち時間(4月1日)" in svg_texts(plot.svg)
    finally:
        plots.cjk_font.cache_clear()


def test_every_plot_renders_its_png_and_the_screenshots_are_written_on_request() -> None:
    """Every plot's PNG at 150 dpi; MADOGUCHI_SCREENSHOTS=1 also keeps them in docs/screenshots/."""
    made = {f"stats-plot-{name}.png": make().png(150) for name, (make, _) in PLOTS.items()}
    made["stats-plot-empty.png"] = EMPTY["day zeros"]().png(150)
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000 for png in made.values())
    if os.environ.get("MADOGUCHI_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for name, png in made.items():
            (SCREENSHOTS / name).write_bytes(png)
