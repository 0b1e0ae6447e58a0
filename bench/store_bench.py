"""How much one durable ticket write costs once the day's store holds ~5,000 tickets.

Compares our crash-safe :class:`sync.store.SegmentedLog` with stock tinydb (which rewrites one
growing file in place, without fsync) and with SQLite in WAL mode with ``synchronous=FULL``.
Run ``python -m bench.store_bench``; :func:`run` returns the figures for ``bench.run``.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tinydb import TinyDB

from sync.store import SegmentedLog

__all__ = ["run", "ticket"]

_MEASURED = 200


def ticket(n: int) -> dict[str, Any]:
    """A realistic ticket record of about 300 bytes of JSON (UTF-8)."""
    return {
        "id": f"kita-honcho:disp-01:2024-11-21:A:{n:04d}",
        "number": n,
        "series": "A",
        "category": "juminhyo",
        "business_day": "2024-11-21",
        "route": [
            {"counter": "3", "step": "reception"},
            {"counter": "7", "step": "issuance"},
            {"counter": "1", "step": "payment"},
        ],
        "issued_at_ms": 1_732_150_800_000 + n * 7_000,
        "hlc": f"{1_732_150_800_000 + n * 7_000:013d}-{n % 16:04x}",
        "device": "disp-01",
        "time_confirmed": True,
    }


def _timed(count: int, measured: int, write: Callable[[int], None]) -> float:
    """Mean ms of the last ``measured`` of ``count`` calls of ``write(i)`` (i from 1)."""
    samples: list[float] = []
    first_measured = count - measured + 1
    for i in range(1, count + 1):
        if i < first_measured:
            write(i)
            continue
        start = time.perf_counter()
        write(i)
        samples.append((time.perf_counter() - start) * 1000.0)
    return statistics.fmean(samples)


def _bench_atomic(directory: Path, records: int, measured: int) -> float:
    log = SegmentedLog(directory / "tickets", segment_size=200)
    try:
        return _timed(records, measured, lambda i: log.append(ticket(i), {"last_number": i}))
    finally:
        log.close()


def _bench_tinydb(directory: Path, records: int, measured: int) -> float:
    db = TinyDB(directory / "tickets.json")
    try:
        # One bulk insert leaves the file exactly as single inserts would, minus minutes of
        # quadratic rewriting; only the timed writes go one record at a time.
        db.insert_multiple(ticket(i) for i in range(1, records - measured + 1))
        offset = records - measured

        def insert(i: int) -> None:
            db.insert(ticket(offset + i))

        return _timed(measured, measured, insert)
    finally:
        db.close()


def _row(t: dict[str, Any]) -> tuple[str, str]:
    return t["id"], json.dumps(t, ensure_ascii=False)


def _bench_sqlite(directory: Path, records: int, measured: int) -> float:
    conn = sqlite3.connect(directory / "tickets.sqlite3")
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE tickets (id TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        offset = records - measured
        with conn:
            conn.executemany("INSERT INTO tickets VALUES (?, ?)", (_row(ticket(i)) for i in range(1, offset + 1)))

        def insert(i: int) -> None:
            conn.execute("INSERT INTO tickets VALUES (?, ?)", _row(ticket(offset + i)))
            conn.commit()

        return _timed(measured, measured, insert)
    finally:
        conn.close()


def run(records: int = 5000) -> dict[str, float]:
    """Mean ms per durable write over the last 200 of ``records`` writes, per store."""
    measured = min(_MEASURED, records)
    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        root = Path(tmp)
        return {
            "store_write_ms_atomic": round(_bench_atomic(root, records, measured), 3),
            "store_write_ms_tinydb_json": round(_bench_tinydb(root, records, measured), 3),
            "store_write_ms_sqlite": round(_bench_sqlite(root, records, measured), 3),
        }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
