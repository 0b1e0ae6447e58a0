"""The statistics pages' plots: SVG for the console, PNG for the report files.

Matplotlib's object API only (no pyplot: the office server is multi-threaded and pyplot keeps
figures in global state). Every function takes plain numbers and strings the caller has already
translated and returns a ``Plot``. The SVG keeps its text as text, so the browser draws Japanese
in the page's font and it stays crisp on paper; it has no fixed size (it fills its container)
and carries a ``<title>``. The PNG needs a CJK font of its own: Noto Sans CJK when installed.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import logging
import math
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import matplotlib as mpl
import numpy as np
from matplotlib import colormaps, font_manager
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import XAxis, YAxis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.textpath import text_to_path
from matplotlib.ticker import MaxNLocator
from matplotlib.typing import RcKeyType

log = logging.getLogger(__name__)

Quantiles = tuple[float, float, float, float, float]

# Families tried in order. A Chinese or Korean cut of Noto CJK still draws every kanji and kana
# (some in another region's shapes), which beats tofu boxes in a report file.
CJK_FAMILIES = ("Noto Sans CJK JP", "Noto Sans JP", "Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK KR")
# Debian's fonts-noto-cjk. Matplotlib's font cache does not see a font installed after the cache
# was built, so the file is added by hand when the names are not found.
CJK_FILE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")

# A4 holds 180 mm (7.1 in) of width in portrait: at 9 in the 10 pt text prints at 8 pt, and on a
# desktop page about 1000 px wide it reads at 14 px.
WIDTH_IN = 9.0

# Calm and print-friendly: light bars under dark lines, told apart by lightness and line style as
# well as hue so a greyscale print still reads.
INK = "#1f2328"
MUTED = "#5b6472"
GRID = "#e1e5ea"
BAR = "#b4c6d8"
LINE = "#1d3557"
WAIT = "#b4460c"
WAIT_BAND = "#f6dcc8"
SEASON = "#f4e7b4"
MISSING = "#d4d7dc"
HEAT_CMAP = "cividis_r"  # colour-blind safe; reversed so a busy hour is the dark one, as ink on paper
DARK_TEXT = "#1a1a1a"  # not pure black: matplotlib leaves the fill out for #000000
LIGHT_TEXT = "#ffffff"

# Matplotlib keeps rcParams (and rc_context) in one global dict and its font code is not
# thread-safe: one plot is built and saved at a time. Each takes tens of milliseconds.
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Plot:
    """``svg`` is ready to inline in a page; ``png(dpi)`` renders the same figure for a file."""

    svg: str
    width_in: float
    height_in: float
    _figure: Figure = field(repr=False, compare=False)

    def png(self, dpi: float = 150) -> bytes:
        """PNG bytes, ``width_in * dpi`` by ``height_in * dpi`` pixels."""
        if not (math.isfinite(dpi) and dpi > 0):
            raise ValueError(f"dpi must be a positive number, got {dpi!r}")
        buf = io.BytesIO()
        with _drawing(_rc("png")):
            self._figure.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
        return buf.getvalue()


@cache
def cjk_font() -> str | None:
    """The family name of the CJK font the PNGs use, None when there is none (logged once)."""
    for family in CJK_FAMILIES:
        if _has_family(family):
            return family
    if CJK_FILE.is_file():
        try:
            font_manager.fontManager.addfont(CJK_FILE)
        except (OSError, RuntimeError) as exc:
            log.warning("could not load %s: %s", CJK_FILE, exc)
        else:
            for family in CJK_FAMILIES:
                if _has_family(family):
                    return family
    log.warning(
        "no Noto Sans CJK font found (Debian: fonts-noto-cjk); "
        "Japanese text in the statistics PNGs will show as empty boxes"
    )
    return None


def _has_family(family: str) -> bool:
    try:
        path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
    except ValueError:
        return False
    return Path(path).is_file()


def _rc(salt: str) -> dict[RcKeyType, Any]:
    cjk = cjk_font()
    return {
        # Text as <text>, not paths: the browser draws it with the page's font.
        "svg.fonttype": "none",
        # Clip-path ids come from this salt: the same plot always gives the same SVG, and two
        # different plots inlined on one page do not share ids.
        "svg.hashsalt": salt,
        "font.family": [cjk] if cjk else ["DejaVu Sans"],
        "font.size": 10,
        "figure.titlesize": 12.5,
        "figure.titleweight": "bold",
        "axes.labelsize": 10,
        "axes.labelcolor": INK,
        "axes.edgecolor": MUTED,
        "axes.linewidth": 0.8,
        "axes.spines.top": False,
        "xtick.labelsize": 9,
        "ytick.labelsize": 9,
        "xtick.color": MUTED,
        "ytick.color": MUTED,
        "xtick.labelcolor": INK,
        "ytick.labelcolor": INK,
        "legend.fontsize": 9,
        "legend.frameon": False,
        "text.color": INK,
        # Translated labels are plain text: a '$' in one must not start mathtext.
        "text.parse_math": False,
        "figure.facecolor": "white",
        "savefig.facecolor": "white",
        "savefig.transparent": False,
        "savefig.bbox": "standard",  # a site's matplotlibrc with 'tight' would change the size
    }


@contextmanager
def _drawing(rc: dict[RcKeyType, Any]) -> Iterator[None]:
    with _LOCK, warnings.catch_warnings(), mpl.rc_context(rc):
        if cjk_font() is None:
            # Already logged once; matplotlib would warn again for every kanji.
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
        yield


def _render(kind: str, title: str, height_in: float, draw: Callable[[Figure], None]) -> Plot:
    salt = hashlib.sha256(f"{kind}\n{title}".encode()).hexdigest()[:12]
    buf = io.StringIO()
    with _drawing(_rc(salt)):
        # No layout engine: each plot places its axes from the few texts around them (_place).
        # Constrained layout measured every text on a throwaway renderer before the real draw,
        # which was half of a plot's time.
        fig = Figure(figsize=(WIDTH_IN, height_in))
        FigureCanvasAgg(fig)
        draw(fig)
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return Plot(svg=_finish_svg(buf.getvalue(), title, salt), width_in=WIDTH_IN, height_in=height_in, _figure=fig)


_ROOT = re.compile(r"<svg\b[^>]*>")
_SIZE_ATTR = re.compile(r'\s(?:width|height)="[^"]*"')
_FAMILY = re.compile(r"font-family: [^;\"]*(?:; )?")


def _finish_svg(svg: str, title: str, salt: str) -> str:
    # Inline in HTML: no XML prolog or DOCTYPE, no Matplotlib metadata.
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, count=1, flags=re.DOTALL)
    root = _ROOT.search(svg)
    if root is None:  # matplotlib always writes one; a clear error beats a silent bad page
        raise RuntimeError("matplotlib wrote an SVG without an <svg> element")
    title_id = f"plot-{salt}-title"
    # Without width/height the viewBox alone sizes it: it fills its container's width.
    # The text's family moves to the root as a presentation attribute, which page CSS can override
    # (`font-family: inherit`); the layout was measured with the same font the console uses.
    family = ", ".join(f"'{f}'" for f in [*_rc(salt)["font.family"], "Noto Sans JP"]) + ", sans-serif"
    tag = _SIZE_ATTR.sub("", root.group(0))
    tag = tag[:-1] + f' role="img" aria-labelledby="{title_id}" font-family={quoteattr(family)}>'
    head = f'{tag}\n <title id="{title_id}">{escape(title)}</title>'
    body = _FAMILY.sub("", svg[root.end() :])
    return svg[: root.start()] + head + body


# --- checks: wrong shapes are the caller's bug and say so --------------------------------------


def _same_length(name: str, seq: Sequence[object], expected: int, of: str) -> None:
    if len(seq) != expected:
        raise ValueError(f"{name} has {len(seq)} values, expected {expected} (one per {of})")


def _numbers(name: str, seq: Sequence[float | None], *, optional: bool) -> list[float]:
    """The values as floats, NaN for None; ValueError for NaN, infinity or a missing value."""
    out: list[float] = []
    for i, v in enumerate(seq):
        if v is None:
            if not optional:
                raise ValueError(f"{name}[{i}] is None; only missing waits or counters may be None")
            out.append(math.nan)
            continue
        f = float(v)
        if not math.isfinite(f):
            raise ValueError(f"{name}[{i}] is {v!r}: pass None for a missing value")
        out.append(f)
    return out


def _series(name: str, seq: Sequence[float | None], expected: int, of: str, *, optional: bool) -> list[float]:
    """:func:`_numbers`, one per ``of``."""
    out = _numbers(name, seq, optional=optional)
    _same_length(name, out, expected, of)
    return out


def _increasing_ints(name: str, seq: Sequence[int], low: int, high: int) -> list[int]:
    out = [int(v) for v in seq]
    if any(v != s for v, s in zip(out, seq, strict=True)):
        raise ValueError(f"{name} must be whole numbers, got {list(seq)!r}")
    if any(not low <= v <= high for v in out):
        raise ValueError(f"{name} must lie in {low}..{high}, got {out!r}")
    if any(b <= a for a, b in itertools.pairwise(out)):
        raise ValueError(f"{name} must be strictly increasing, got {out!r}")
    return out


def _labels(labels: Mapping[str, str], keys: Sequence[str]) -> None:
    missing = [k for k in keys if k not in labels]
    if missing:
        raise ValueError(f"labels lacks {', '.join(missing)} (it needs {', '.join(keys)})")


# --- shared drawing ------------------------------------------------------------------------------


# Margins in points, for matplotlib's default tick length and padding (3.5 + 3.5) and label pad (4).
EDGE = 8.0
TICK = 7.0
LABEL_PAD = 4.0
LEADING = 1.25  # a text line's height per point of font size


def _text_width(texts: Iterable[str], size: float) -> float:
    """The widest of ``texts`` in points, measured the way the SVG is laid out."""
    prop = FontProperties(family=mpl.rcParams["font.family"], size=size)
    return max((text_to_path.get_text_width_height_descent(t, prop, ismath=False)[0] for t in texts if t), default=0.0)


def _tick_labels(axis: XAxis | YAxis) -> list[str]:
    lo, hi = sorted(axis.get_view_interval())
    locs = [v for v in axis.get_major_locator()() if lo - 1e-9 <= v <= hi + 1e-9]
    return [str(t) for t in axis.get_major_formatter().format_ticks(locs)]


def _side(axis: YAxis, label: str) -> float:
    """Room beside the axes for one y axis: its tick labels and its title."""
    ticks = _tick_labels(axis)
    width = _text_width(ticks, float(mpl.rcParams["ytick.labelsize"])) + TICK if ticks else TICK
    return EDGE + width + (LABEL_PAD + LEADING * float(mpl.rcParams["axes.labelsize"]) if label else 0.0)


def _under(axis: XAxis, label: str) -> float:
    """Room under the axes for the x tick labels and the x title (EDGE not included)."""
    ticks = LEADING * float(mpl.rcParams["xtick.labelsize"]) + TICK if _tick_labels(axis) else TICK
    return ticks + (LABEL_PAD + LEADING * float(mpl.rcParams["axes.labelsize"]) if label else 0.0)


TITLE_SIZE = 12.5


def _title(fig: Figure, title: str) -> float:
    """The title at the figure's top left (every plot's in the same place); returns the room it takes."""
    width, height = fig.get_size_inches() * 72
    fig.text(EDGE / width, 1 - EDGE / height, title, ha="left", va="top", fontsize=TITLE_SIZE, fontweight="bold")
    return EDGE + LEADING * TITLE_SIZE + 10


def _place(fig: Figure, axes: Sequence[Axes], left: float, right: float, top: float, bottom: float) -> None:
    width, height = fig.get_size_inches() * 72
    # A label too long for the page is cut rather than squeezing the plot to nothing.
    left, right = min(left, width * 0.45), min(right, width * 0.3)
    rect = (left / width, bottom / height, 1 - (left + right) / width, 1 - (top + bottom) / height)
    for ax in axes:
        ax.set_position(rect)


def _legend(fig: Figure, handles: Sequence[Artist], labels: Sequence[str]) -> float:
    """A legend centred under the plot (never over a bar, where a printed page's reader looks);
    returns the room it takes, in as many rows as its entries need."""
    size = float(mpl.rcParams["legend.fontsize"])
    width, height = fig.get_size_inches() * 72
    entries = [_text_width([label], size) + 2.2 * size + 0.8 * size for label in labels]
    ncols = len(entries)
    while ncols > 1 and sum(sorted(entries)[-ncols:]) + (ncols - 1) * 2.0 * size + 1.6 * size > width - 2 * EDGE:
        ncols -= 1
    rows = math.ceil(len(entries) / ncols)
    fig.legend(
        handles=list(handles),
        labels=list(labels),
        loc="lower center",
        bbox_to_anchor=(0.5, EDGE / height),
        ncols=ncols,
        handlelength=2.2,
        borderaxespad=0,
    )
    return rows * LEADING * size + (rows - 1) * 0.5 * size + 4


def _no_data(ax: Axes, text: str, *, blank: Sequence[Axes] = ()) -> None:
    """The caller's "no data" text in the middle; the value axes in ``blank`` lose their ticks."""
    for each in blank:
        each.set_yticks([])
        each.grid(False)
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=13, color=MUTED)


def _hour_axis(ax: Axes, hours: Sequence[int], label: str) -> None:
    """Bars span their hour, so the ticks sit on the hours' edges: 8:00 | 9:00 | … | 18:00."""
    if hours:
        edges = list(range(hours[0], hours[-1] + 2))
        ax.set_xlim(hours[0] - 0.15, hours[-1] + 1.15)
        ax.set_xticks(edges, [f"{h}:00" for h in edges])
    else:
        ax.set_xticks([])
    ax.set_xlabel(label)


def _steps(xs: Sequence[int], values: Sequence[float]) -> tuple[list[float], list[float]]:
    """A step line holding each value across its hour; a gap where an hour is skipped."""
    px: list[float] = []
    py: list[float] = []
    for i, (x, v) in enumerate(zip(xs, values, strict=True)):
        px += [x, x + 1]
        py += [v, v]
        if i + 1 < len(xs) and xs[i + 1] != x + 1:
            px.append(x + 1)
            py.append(math.nan)
    return px, py


def _bars(ax: Axes, xs: Sequence[float], heights: Sequence[float], width: float) -> None:
    # One collection, not a patch per bar: a year's 52 patches cost more than the rest of its plot.
    half = width / 2
    verts = [[(x - half, 0.0), (x - half, h), (x + half, h), (x + half, 0.0)] for x, h in zip(xs, heights, strict=True)]
    ax.add_collection(PolyCollection(verts, facecolors=BAR, edgecolors="none"), autolim=False)


def _count_axis(ax: Axes, label: str, top: float) -> None:
    ax.set_ylabel(label)
    ax.set_ylim(0, max(top, 1.0) * 1.12)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))


def _wait_axis(ax: Axes, label: str, values: Sequence[float]) -> None:
    ax.set_ylabel(label)
    ax.set_ylim(0, float(np.nanmax([*values, 1.0])) * 1.15)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))


def _bar_axes(fig: Figure) -> tuple[Axes, Axes]:
    ax = fig.add_axes((0.1, 0.1, 0.8, 0.8))
    ax.set_axisbelow(True)
    ax.grid(axis="y", color=GRID, linewidth=0.8)
    ax.spines["right"].set_visible(False)
    twin = ax.twinx()
    twin.spines["top"].set_visible(False)
    twin.spines["left"].set_visible(False)
    return ax, twin


def _place_bar_axes(fig: Figure, ax: Axes, twin: Axes, top: float, legend: float) -> None:
    bottom = EDGE + (legend + 6 if legend else 0.0) + _under(ax.xaxis, ax.get_xlabel())
    _place(fig, [ax, twin], _side(ax.yaxis, ax.get_ylabel()), _side(twin.yaxis, twin.get_ylabel()), top, bottom)


def _fmt(v: float, decimals: int) -> str:
    return f"{v:.{decimals}f}"


def _relative_luminance(rgba: tuple[float, float, float, float]) -> float:
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in rgba[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def text_colour_on(rgba: tuple[float, float, float, float]) -> str:
    """The annotation colour with the better contrast on a cell of this colour."""
    lum = _relative_luminance(rgba)
    # Contrast ratio against white and against DARK_TEXT (luminance ~0.01): take the larger.
    on_white = 1.05 / (lum + 0.05)
    on_dark = (lum + 0.05) / (0.0103 + 0.05)
    return LIGHT_TEXT if on_white >= on_dark else DARK_TEXT


# --- the plots ---------------------------------------------------------------------------------


def heatmap_hour_weekday(
    values: Sequence[Sequence[float | None]],
    hours: Sequence[int],
    weekday_labels: Sequence[str],
    title: str,
    unit: str,
    *,
    no_data: str,
    hour_axis: str = "",
    decimals: int | None = None,
) -> Plot:
    """One row per weekday, one column per hour, each cell annotated; None cells grey and blank.

    ``decimals`` for the annotations: by default 0 when every value is whole, else 1.
    """
    hour_list = _increasing_ints("hours", hours, 0, 23)
    _same_length("values", values, len(weekday_labels), "weekday label")
    rows = [_numbers(f"values[{i}]", row, optional=True) for i, row in enumerate(values)]
    for i, row in enumerate(rows):
        _same_length(f"values[{i}]", row, len(hour_list), "hour")
    present = [v for row in rows for v in row if not math.isnan(v)]
    if decimals is None:
        decimals = 0 if all(v.is_integer() for v in present) else 1
    if decimals < 0:
        raise ValueError(f"decimals must be 0 or more, got {decimals}")
    empty = not any(v != 0 for v in present)
    n_rows, n_cols = len(rows), len(hour_list)

    def draw(fig: Figure) -> None:
        top = _title(fig, title)
        ax = fig.add_axes((0.1, 0.1, 0.8, 0.8))
        ax.set_xlabel(hour_axis)
        ax.set_yticks(range(n_rows), list(weekday_labels))
        # "8:00" fits a working day's columns; a whole day's 24 get the bare hour.
        ax.set_xticks(range(n_cols), [f"{h}:00" if n_cols <= 14 else str(h) for h in hour_list])
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_xlim(-0.5, max(n_cols, 1) - 0.5)
        ax.set_ylim(max(n_rows, 1) - 0.5, -0.5)
        left = EDGE + _text_width(weekday_labels, float(mpl.rcParams["ytick.labelsize"])) + TICK
        bottom = EDGE + _under(ax.xaxis, hour_axis)
        if empty or not n_rows or not n_cols:
            ax.set_facecolor("#f3f4f6")
            _no_data(ax, no_data)
            _place(fig, [ax], left, EDGE + 10, top, bottom)
            return
        grid = np.ma.masked_invalid(np.array(rows, dtype=float))
        cmap = colormaps[HEAT_CMAP]
        norm = Normalize(vmin=min(0.0, min(present)), vmax=max(present))
        # Vector cells, not an embedded raster: crisp at any zoom and on paper. Masked (None)
        # cells are not drawn and show the axes' grey; white edges make the grid read as a table.
        ax.set_facecolor(MISSING)
        mesh = ax.pcolormesh(
            np.arange(n_cols + 1) - 0.5,
            np.arange(n_rows + 1) - 0.5,
            grid,
            cmap=cmap,
            norm=norm,
            edgecolors="white",
            linewidth=1.5,
        )
        # The numbers shrink with the cells so a 24-hour day still fits.
        width = max(len(_fmt(v, decimals)) for v in present)
        cell_pt = 6.3 * 72 / n_cols
        size = max(5.5, min(10.0, cell_pt / (0.62 * width + 1.0)))
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                if not math.isnan(v):
                    colour = text_colour_on(cmap(norm(v)))
                    ax.text(j, i, _fmt(v, decimals), ha="center", va="center", fontsize=size, color=colour)
        cax = fig.add_axes((0.9, 0.1, 0.02, 0.8))
        bar = fig.colorbar(mesh, cax=cax)
        bar.set_label(unit)
        bar.outline.set_visible(False)
        cax.tick_params(labelsize=8.5)
        bar_w, gap = 12.0, 12.0
        right = (
            EDGE
            + (LEADING * float(mpl.rcParams["axes.labelsize"]) + LABEL_PAD if unit else 0.0)
            + _text_width(_tick_labels(cax.yaxis), 8.5)
            + TICK
            + bar_w
            + gap
        )
        _place(fig, [ax], left, right, top, bottom)
        x0, y0, w, h = ax.get_position().bounds
        fig_w, _ = fig.get_size_inches() * 72
        cax.set_position((x0 + w + gap / fig_w, y0 + 0.05 * h, bar_w / fig_w, 0.9 * h))

    return _render("heatmap", title, min(6.5, max(3.0, 1.6 + 0.42 * max(n_rows, 1))), draw)


def station_times(
    stations: Sequence[str],
    quantiles: Sequence[Quantiles | None],
    title: str,
    unit: str,
    *,
    no_data: str,
    note: str = "",
) -> Plot:
    """A horizontal box per station from (p10, p25, median, p75, p90): box p25–p75, median line,
    whiskers p10–p90, the median written beside it. ``note`` (say, what box and whiskers mean)
    is printed under the plot."""
    _same_length("quantiles", quantiles, len(stations), "station")
    checked: list[list[float] | None] = []
    for i, q in enumerate(quantiles):
        if q is None:
            checked.append(None)
            continue
        if len(q) != 5:
            raise ValueError(f"quantiles[{i}] has {len(q)} values, expected 5 (p10, p25, median, p75, p90)")
        qs = _numbers(f"quantiles[{i}]", q, optional=False)
        if any(b < a for a, b in itertools.pairwise(qs)):
            raise ValueError(f"quantiles[{i}] must be p10 <= p25 <= median <= p75 <= p90, got {tuple(q)!r}")
        checked.append(qs)
    n = len(stations)
    top_value = max((q[4] for q in checked if q is not None), default=0.0)

    def draw(fig: Figure) -> None:
        top = _title(fig, title)
        ax = fig.add_axes((0.1, 0.1, 0.8, 0.8))
        ax.set_axisbelow(True)
        ax.grid(axis="x", color=GRID, linewidth=0.8)
        ax.spines["right"].set_visible(False)
        ax.set_xlabel(unit)
        ax.set_yticks(range(n), list(stations))
        ax.tick_params(axis="y", length=0)
        ax.set_ylim(max(n, 1) - 0.5, -0.5)
        # Room on the right for the median written after the whisker.
        ax.set_xlim(0, top_value * 1.14 if top_value > 0 else 10)
        bottom = EDGE + _under(ax.xaxis, unit)
        if note:
            fig.text(EDGE / (WIDTH_IN * 72), EDGE / (fig.get_figheight() * 72), note, fontsize=8.5, color=MUTED)
            bottom += LEADING * 8.5 + 4
        left = EDGE + _text_width(stations, float(mpl.rcParams["ytick.labelsize"])) + TICK
        _place(fig, [ax], left, EDGE + 12, top, bottom)
        if not n:
            _no_data(ax, no_data)
            return
        half = 0.28
        for i, q in enumerate(checked):
            if q is None:
                ax.text(0.01, i, no_data, transform=ax.get_yaxis_transform(), va="center", color=MUTED, fontsize=9)
                continue
            p10, p25, med, p75, p90 = q
            ax.add_patch(Rectangle((p25, i - half), p75 - p25, 2 * half, facecolor=BAR, edgecolor=LINE, linewidth=0.9))
            ax.hlines([i, i], [p10, p75], [p25, p90], colors=LINE, linewidth=1.1)
            ax.vlines([p10, p90], i - half / 2, i + half / 2, colors=LINE, linewidth=1.1)
            ax.vlines(med, i - half, i + half, colors=WAIT, linewidth=2.4)
            label = _fmt(med, 1 if med < 10 and not med.is_integer() else 0)
            ax.annotate(label, (p90, i), xytext=(5, 0), textcoords="offset points", va="center", fontsize=9)

    height = min(10.0, max(3.0, 1.5 + 0.42 * max(n, 1) + (0.25 if note else 0)))
    return _render("stations", title, height, draw)


def arrivals_and_counters(
    hours: Sequence[int],
    arrivals: Sequence[float],
    counters_open: Sequence[float | None],
    counters_needed: Sequence[float | None] | None,
    labels: Mapping[str, str],
    title: str,
) -> Plot:
    """Arrivals per hour as bars; counters staffed as a step line on a second axis, and the
    counters needed dashed when given.

    ``labels``: arrivals, counters_open, counters_needed (only with ``counters_needed``),
    hour_axis, arrivals_axis, counters_axis, no_data.
    """
    keys = ["arrivals", "counters_open", "hour_axis", "arrivals_axis", "counters_axis", "no_data"]
    _labels(labels, [*keys, "counters_needed"] if counters_needed is not None else keys)
    hour_list = _increasing_ints("hours", hours, 0, 23)
    arr = _series("arrivals", arrivals, len(hour_list), "hour", optional=False)
    staffed = _series("counters_open", counters_open, len(hour_list), "hour", optional=True)
    needed = (
        None
        if counters_needed is None
        else _series("counters_needed", counters_needed, len(hour_list), "hour", optional=True)
    )
    empty = not any(v > 0 for v in arr)

    def draw(fig: Figure) -> None:
        top = _title(fig, title)
        ax, twin = _bar_axes(fig)
        _hour_axis(ax, hour_list, labels["hour_axis"])
        _count_axis(ax, labels["arrivals_axis"], max(arr, default=0.0))
        _count_axis(twin, labels["counters_axis"], float(np.nanmax([*staffed, *(needed or []), 0.0])))
        if empty:
            _no_data(ax, labels["no_data"], blank=(ax, twin))
            _place_bar_axes(fig, ax, twin, top, 0.0)
            return
        _bars(ax, [h + 0.5 for h in hour_list], arr, 0.8)
        twin.plot(*_steps(hour_list, staffed), color=LINE, linewidth=2.2, solid_joinstyle="miter")
        dashes = (0, (4.0, 2.5))
        handles: list[Artist] = [Patch(color=BAR), Line2D([], [], color=LINE, linewidth=2.2)]
        names = [labels["arrivals"], labels["counters_open"]]
        if needed is not None:
            twin.plot(*_steps(hour_list, needed), color=WAIT, linewidth=1.8, linestyle=dashes)
            handles.append(Line2D([], [], color=WAIT, linewidth=1.8, linestyle=dashes))
            names.append(labels["counters_needed"])
        _place_bar_axes(fig, ax, twin, top, _legend(fig, handles, names))

    return _render("counters", title, 4.6, draw)


def year_by_week(
    weeks: Sequence[int],
    arrivals: Sequence[float],
    median_wait_min: Sequence[float | None],
    labels: Mapping[str, str],
    title: str,
    highlight: tuple[int, int] | None = None,
) -> Plot:
    """Arrivals per ISO week as bars, the median wait as a line on a second axis; ``highlight``
    shades weeks first..last (inclusive), say the moving season.

    ``labels``: arrivals, median_wait, week_axis, arrivals_axis, wait_axis, no_data, and
    highlight (only with ``highlight``).
    """
    keys = ["arrivals", "median_wait", "week_axis", "arrivals_axis", "wait_axis", "no_data"]
    _labels(labels, [*keys, "highlight"] if highlight is not None else keys)
    week_list = _increasing_ints("weeks", weeks, 1, 53)
    arr = _series("arrivals", arrivals, len(week_list), "week", optional=False)
    wait = _series("median_wait_min", median_wait_min, len(week_list), "week", optional=True)
    if highlight is not None and not 1 <= highlight[0] <= highlight[1] <= 53:
        raise ValueError(f"highlight must be (first, last) weeks with 1 <= first <= last <= 53, got {highlight!r}")
    empty = not any(v > 0 for v in arr)

    def draw(fig: Figure) -> None:
        top = _title(fig, title)
        ax, twin = _bar_axes(fig)
        first, last = (week_list[0], week_list[-1]) if week_list else (1, 52)
        ax.set_xlim(first - 0.8, last + 0.8)
        ticks = [w for w in range(first, last + 1) if w == first or w % 4 == 0]
        ax.set_xticks(ticks, [str(w) for w in ticks])
        ax.set_xlabel(labels["week_axis"])
        _count_axis(ax, labels["arrivals_axis"], max(arr, default=0.0))
        _wait_axis(twin, labels["wait_axis"], wait)
        handles: list[Artist] = []
        names: list[str] = []
        if not empty:
            _bars(ax, week_list, arr, 0.75)
            twin.plot(week_list, wait, color=WAIT, linewidth=2.0, marker="o", markersize=3)
            handles += [Patch(color=BAR), Line2D([], [], color=WAIT, linewidth=2.0, marker="o", markersize=3)]
            names += [labels["arrivals"], labels["median_wait"]]
        if highlight is not None:
            ax.axvspan(highlight[0] - 0.5, highlight[1] + 0.5, color=SEASON, zorder=0, linewidth=0)
            handles.append(Patch(color=SEASON))
            names.append(labels["highlight"])
        if empty:
            _no_data(ax, labels["no_data"], blank=(ax, twin))
        _place_bar_axes(fig, ax, twin, top, _legend(fig, handles, names) if handles else 0.0)

    return _render("year", title, 4.6, draw)


def day_by_hour(
    hours: Sequence[int],
    arrivals: Sequence[float],
    median_wait_min: Sequence[float | None],
    p90_wait_min: Sequence[float | None],
    labels: Mapping[str, str],
    title: str,
) -> Plot:
    """Arrivals per hour as bars; the median and 90th-percentile waits as lines on a second axis
    with the band between them shaded.

    ``labels``: arrivals, median_wait, p90_wait, hour_axis, arrivals_axis, wait_axis, no_data.
    """
    _labels(labels, ["arrivals", "median_wait", "p90_wait", "hour_axis", "arrivals_axis", "wait_axis", "no_data"])
    hour_list = _increasing_ints("hours", hours, 0, 23)
    arr = _series("arrivals", arrivals, len(hour_list), "hour", optional=False)
    median = _series("median_wait_min", median_wait_min, len(hour_list), "hour", optional=True)
    p90 = _series("p90_wait_min", p90_wait_min, len(hour_list), "hour", optional=True)
    empty = not any(v > 0 for v in arr)

    def draw(fig: Figure) -> None:
        top = _title(fig, title)
        ax, twin = _bar_axes(fig)
        _hour_axis(ax, hour_list, labels["hour_axis"])
        _count_axis(ax, labels["arrivals_axis"], max(arr, default=0.0))
        _wait_axis(twin, labels["wait_axis"], [*median, *p90])
        if empty:
            _no_data(ax, labels["no_data"], blank=(ax, twin))
            _place_bar_axes(fig, ax, twin, top, 0.0)
            return
        mids = [h + 0.5 for h in hour_list]
        _bars(ax, mids, arr, 0.8)
        twin.fill_between(mids, median, p90, color=WAIT_BAND, alpha=0.55, linewidth=0)
        dashes = (0, (4.0, 2.5))
        twin.plot(mids, p90, color=WAIT, linewidth=1.5, linestyle=dashes, marker="o", markersize=3)
        twin.plot(mids, median, color=WAIT, linewidth=2.2, marker="o", markersize=3.5)
        handles: list[Artist] = [
            Patch(color=BAR),
            Line2D([], [], color=WAIT, linewidth=2.2, marker="o", markersize=3.5),
            Line2D([], [], color=WAIT, linewidth=1.5, linestyle=dashes, marker="o", markersize=3),
        ]
        names = [labels["arrivals"], labels["median_wait"], labels["p90_wait"]]
        _place_bar_axes(fig, ax, twin, top, _legend(fig, handles, names))

    return _render("day", title, 4.6, draw)
