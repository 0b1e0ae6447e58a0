"""A table of figures as the pages, the CSV and the XLSX files show it (pure).

The figures module makes them; the exports write them as they are and the console renders
them, so a number on the page and in the file is the same number.
"""

from __future__ import annotations

from dataclasses import dataclass

Cell = str | int | float | None


@dataclass(frozen=True)
class Table:
    """``name`` is a short file-safe id (``by_hour``); ``title`` what a person reads."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
