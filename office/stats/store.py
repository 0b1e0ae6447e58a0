"""Journeys per business day, cached beside the ticket log in the office store (the edge).

A closed day's journeys do not change, so they are made from the log once and kept in two
tables this module creates: ``stats_days`` marks a cached day (the log rows it was made from,
when, and the cache's format) and ``stats_journeys`` holds the day's journeys as columns, one
BLOB per column (numpy's bytes) and the day's names as JSON. A year is then some 250 rows to
read instead of a million log rows, and no per-ticket parsing: the figures take the columns
as they come (:func:`columns_between`).

Today (and any later day) is always made fresh from the log: it is still changing. A writer
that adds rows to a past day (the demo's generator, a migration) calls :func:`forget_days`.

The console reads through a read-only connection, which cannot fill the cache: a missing day is
then made from the log on every read. The office loop calls :func:`warm` (once a day, after the
rollover, and at start) so that the console finds every closed day cached.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import numpy as np

from office import sql
from office.db import OfficeDB
from office.stats.figures import Columns, columns, concat
from office.stats.journey import Journey, journeys

FORMAT = 1
"""The cache's format: a day cached by another one is made again (journeys told differently)."""

# The columns kept per day, with their types (``day`` is not kept: it is the row's day).
_ARRAYS: tuple[tuple[str, str], ...] = (
    ("category", "int32"),
    ("first_category", "int32"),
    ("device", "int32"),
    ("issued_ms", "int64"),
    ("first_call_ms", "float64"),
    ("ready_ms", "float64"),
    ("done_ms", "float64"),
    ("outcome", "int32"),
    ("transfers", "int32"),
    ("counter", "int32"),
    ("held_ms", "int64"),
    ("requeue_ms", "int64"),
    ("open_station", "int32"),
    ("open_since_ms", "float64"),
    ("stay_journey", "int32"),
    ("stay_station", "int32"),
    ("stay_to", "int32"),
    ("stay_at_ms", "int64"),
    ("stay_ms", "int64"),
)
_NAMES = ("categories", "stations", "devices", "ticket_ids")

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS stats_days (
    day TEXT PRIMARY KEY, rows INTEGER NOT NULL, made_ms INTEGER NOT NULL, format INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS stats_journeys (
    day TEXT PRIMARY KEY, names TEXT NOT NULL, {", ".join(f"{name} BLOB NOT NULL" for name, _ in _ARRAYS)}
);
"""


def _ensure(db: OfficeDB) -> bool:
    """Create the cache's tables; False when they are not there and cannot be (read-only)."""
    try:
        for statement in (s.strip() for s in SCHEMA.split(";")):
            if statement:  # one by one: executescript would commit the caller's transaction
                db.conn.execute(statement)
        return True
    except sql.StoreErrors:
        if db.conn.in_transaction:  # PostgreSQL: the refused statement ended the transaction
            db.conn.execute("ROLLBACK")
        return sql.has_table(db.conn, "stats_days") and sql.has_table(db.conn, "stats_journeys")


def _days(first_day: str, last_day: str) -> list[str]:
    first, last = date.fromisoformat(first_day), date.fromisoformat(last_day)
    return [(first + timedelta(days=k)).isoformat() for k in range((last - first).days + 1)]


def _encode(cols: Columns) -> tuple[str, list[bytes]]:
    names = {
        "categories": list(cols.categories),
        "stations": list(cols.stations),
        "devices": list(cols.devices),
        "ticket_ids": list(cols.ticket_ids),
    }
    blobs = [np.ascontiguousarray(getattr(cols, name), dtype=dtype).tobytes() for name, dtype in _ARRAYS]
    return json.dumps(names, ensure_ascii=False, separators=(",", ":")), blobs


def _decode(day: str, names_text: str, blobs: Iterable[bytes]) -> Columns:
    names = json.loads(names_text)
    arrays: dict[str, Any] = {
        name: np.frombuffer(blob, dtype=dtype) for (name, dtype), blob in zip(_ARRAYS, blobs, strict=True)
    }
    n = len(arrays["issued_ms"])
    return Columns(
        days=(day,),
        categories=tuple(names["categories"]),
        stations=tuple(names["stations"]),
        devices=tuple(names["devices"]),
        ticket_ids=names["ticket_ids"],
        day=np.zeros(n, dtype=np.int32),
        **arrays,
    )


_SAVE_DAY = (
    "INSERT INTO stats_days(day, rows, made_ms, format) VALUES (?,?,?,?) ON CONFLICT(day)"
    " DO UPDATE SET rows=excluded.rows, made_ms=excluded.made_ms, format=excluded.format"
)


def _made(db: OfficeDB, day: str) -> tuple[Columns, int]:
    rows = list(db.log_rows(day, day))
    return columns(journeys(rows)), len(rows)


def _save(db: OfficeDB, day: str, cols: Columns, rows: int) -> bool:
    """Keep a day's columns; False when this connection cannot write (read-only or busy)."""
    names, blobs = _encode(cols)
    statements: list[tuple[str, tuple[Any, ...]]] = [
        ("DELETE FROM stats_journeys WHERE day=?", (day,)),
        (_SAVE_DAY, (day, rows, time.time_ns() // 1_000_000, FORMAT)),
    ]
    if rows:
        columns_sql = ", ".join(name for name, _ in _ARRAYS)
        marks = ",".join("?" * (len(_ARRAYS) + 2))
        statements.append(
            (f"INSERT INTO stats_journeys(day, names, {columns_sql}) VALUES ({marks})", (day, names, *blobs))
        )
    if db.conn.in_transaction:  # the caller's transaction: it commits
        for text, args in statements:
            db.conn.execute(text, args)
        return True
    try:
        db.conn.execute("BEGIN IMMEDIATE")
    except sql.StoreErrors:
        return False
    try:
        for text, args in statements:
            db.conn.execute(text, args)
        db.conn.execute("COMMIT")
    except sql.StoreErrors as err:
        db.conn.execute("ROLLBACK")
        if sql.read_only_refusal(err):  # a read-only connection begins a transaction, then refuses the write
            return False
        raise
    except BaseException:
        db.conn.execute("ROLLBACK")
        raise
    return True


def columns_between(db: OfficeDB, first_day: str, last_day: str, today: str) -> Columns:
    """The journeys of business days ``first_day``..``last_day`` as columns, day by day.

    Days before ``today`` come from the cache, made and kept the first time they are asked
    for (when the connection can write); ``today`` and later days from the log.
    """
    cached = _ensure(db)
    closed_last = min(last_day, (date.fromisoformat(today) - timedelta(days=1)).isoformat())
    known: dict[str, int] = {}
    stored: dict[str, Columns] = {}
    if cached and first_day <= closed_last:
        known = {
            str(r[0]): int(r[1])
            for r in db.conn.execute(
                "SELECT day, rows FROM stats_days WHERE day BETWEEN ? AND ? AND format=?",
                (first_day, closed_last, FORMAT),
            )
        }
        wanted = ", ".join(name for name, _ in _ARRAYS)
        for r in db.conn.execute(
            f"SELECT day, names, {wanted} FROM stats_journeys WHERE day BETWEEN ? AND ?", (first_day, closed_last)
        ):
            if r[0] in known:
                stored[str(r[0])] = _decode(str(r[0]), r[1], r[2:])
    parts: list[Columns] = []
    if first_day <= closed_last:
        for day in _days(first_day, closed_last):
            if day in stored:
                parts.append(stored[day])
                continue
            if day in known:  # cached as a day without tickets
                continue
            if db.conn.execute("SELECT 1 FROM ticket_log WHERE day=? LIMIT 1", (day,)).fetchone() is None:
                continue
            made, rows = _made(db, day)
            if cached:
                _save(db, day, made, rows)
            parts.append(made)
    first_open = max(first_day, today)
    if first_open <= last_day:
        parts.append(columns(journeys(db.log_rows(first_open, last_day))))
    return concat(parts)


def journeys_between(db: OfficeDB, first_day: str, last_day: str, today: str) -> list[Journey]:
    """The journeys of business days ``first_day``..``last_day`` as values (see :func:`columns_between`).

    For a page of one day or a ticket's story; a year's figures take the columns.
    """
    return columns_between(db, first_day, last_day, today).journeys()


def forget_days(db: OfficeDB, days: Iterable[str]) -> int:
    """Drop cached days (their log changed); how many were cached."""
    wanted = list(dict.fromkeys(days))
    if not wanted or not _ensure(db):
        return 0
    own = not db.conn.in_transaction
    if own:
        db.conn.execute("BEGIN IMMEDIATE")
    try:
        dropped = 0
        for start in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            db.conn.execute(f"DELETE FROM stats_journeys WHERE day IN ({marks})", chunk)
            dropped += db.conn.execute(f"DELETE FROM stats_days WHERE day IN ({marks})", chunk).rowcount
        if own:
            db.conn.execute("COMMIT")
    except BaseException:
        if own:
            db.conn.execute("ROLLBACK")
        raise
    return dropped


def warm(db: OfficeDB, today: str, *, max_days: int | None = None) -> int:
    """Cache every closed day with log rows that is not cached yet; how many days were made.

    ``max_days`` bounds one call's work (the office loop can spread a first year over calls).
    Needs a connection that can write.
    """
    if not _ensure(db):
        return 0
    missing = [
        str(r[0])
        for r in db.conn.execute(
            "SELECT DISTINCT day FROM ticket_log WHERE day < ? AND day NOT IN"
            " (SELECT day FROM stats_days WHERE format=?) ORDER BY day",
            (today, FORMAT),
        )
    ]
    made = 0
    for day in missing[:max_days] if max_days is not None else missing:
        cols, rows = _made(db, day)
        if not _save(db, day, cols, rows):
            break
        made += 1
    return made
