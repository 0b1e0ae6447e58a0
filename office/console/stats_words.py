"""The statistics in the reader's language: the plots' words and the tables' titles, headers and
named cells (purposes, stations, weekdays), for the console's pages and the report's files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from office.console import strings
from office.console.texts import Texts
from office.stats import figures
from office.stats.charts import Words
from office.stats.figures import Figures
from office.stats.table import Cell, Table

_STATION_COLUMNS = frozenset({"station", "from", "to"})
_WEEKDAYS = dict(zip(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), strings.WEEKDAY_NAMES, strict=True))


def words(t: Texts) -> Words:
    """The plots' words in ``t``'s language."""
    return Words(
        no_data=t.PLOT_NO_DATA,
        arrivals=t.PLOT_ARRIVALS,
        median_wait=t.PLOT_MEDIAN_WAIT,
        p90_wait=t.PLOT_P90_WAIT,
        hour_axis=t.PLOT_HOUR,
        arrivals_axis=t.PLOT_TICKETS,
        wait_axis=t.PLOT_WAIT,
        by_hour_title=t.PLOT_BY_HOUR,
        heatmap_title=t.PLOT_HEATMAP,
        heatmap_unit=t.PLOT_HEATMAP_UNIT,
        weekdays=tuple(t.word(day) for day in strings.WEEKDAY_NAMES),
        stations_title=t.PLOT_STATIONS,
        stations_unit=t.PLOT_MINUTES,
        stations_note=t.PLOT_STATIONS_NOTE,
        counters_title=t.PLOT_COUNTERS,
        counters_open=t.PLOT_COUNTERS_OPEN,
        counters_needed=t.PLOT_COUNTERS_NEEDED,
        counters_axis=t.PLOT_COUNTERS_AXIS,
        year_title=t.PLOT_YEAR,
        week_axis=t.PLOT_WEEK,
        season=t.PLOT_SEASON,
    )


def table(t: Texts, shown: Table, target_wait_minutes: int) -> Table:
    """A table with its title, headers, purposes, stations and weekdays in ``t``'s language."""
    title = (
        t.STATS_SUMMARY_TITLE.format(minutes=target_wait_minutes) if shown.name == "summary" else t.word(shown.title)
    )
    cells: list[tuple[Cell, ...]] = []
    for row in shown.rows:
        out: list[Cell] = []
        for column, value in zip(shown.columns, row, strict=True):
            if isinstance(value, str):
                if column == "purpose":
                    value = t.purpose(value)
                elif column in _STATION_COLUMNS:
                    value = t.station(value)
                elif column == "weekday" and value in _WEEKDAYS:
                    value = t.word(_WEEKDAYS[value])
            out.append(value)
        cells.append(tuple(out))
    # "called" as a header is a count, not the ticket status the catalog has under that word
    headers = tuple(t.STATS_CALLED_COLUMN if c == "called" else t.word(c) for c in shown.columns)
    return replace(shown, title=title, columns=headers, rows=tuple(cells))


def tables(t: Texts, made: Figures, kiosk: Sequence[Table], target_wait_minutes: int) -> list[Table]:
    """Every table of a range - its figures' and the kiosks' - in ``t``'s language."""
    return [table(t, x, target_wait_minutes) for x in [*figures.tables(made), *kiosk]]
