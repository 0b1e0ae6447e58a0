"""The office store on SQLite or PostgreSQL: one connection type, one SQL text (docs/ward.md).

SQLite in WAL mode stays the embedded default: a file beside the office, nothing to run. A
central office, or a branch that wants a database server, names a PostgreSQL address instead
(``postgresql://…``) and the same office code runs on it. The office's SQL is written once, in
the dialect both understand - parameters as ``?``, upserts as ``INSERT … ON CONFLICT``, no
``INSERT OR REPLACE`` - and :class:`PgConnection` makes the few
differences left on the way to PostgreSQL, once per statement text (cached):

* ``?`` becomes ``%s`` (and a literal ``%`` becomes ``%%``);
* SQLite's two-argument ``MAX(a, b)`` and ``MIN(a, b)`` become ``GREATEST`` and ``LEAST``;
* ``INSERT OR IGNORE INTO …`` becomes ``INSERT INTO … ON CONFLICT DO NOTHING``;
* ``BEGIN IMMEDIATE`` becomes ``BEGIN`` (PostgreSQL locks rows, not the file) and a plain
  ``BEGIN`` (reads that must agree with each other) a repeatable-read one;
* in the schema (:func:`pg_schema`): ``INTEGER`` becomes ``BIGINT`` (times in milliseconds do
  not fit 32 bits), an ``INTEGER PRIMARY KEY`` an identity column, and a table whose rows are
  ordered by SQLite's hidden ``rowid`` gets a real ``rowid`` column.

Rows answer by position and by column name on both (``sqlite3.Row``; :class:`PgRow`).
PostgreSQL's ``SUM`` of integers is ``numeric``: it comes back as an ``int`` (or a ``float`` when
it has a fraction), as SQLite's would, and a Python ``bool`` goes in as 0 or 1.

Why psycopg 3 rather than SQLAlchemy: the office's SQL is plain and already written; an ORM or
a query builder would rewrite every statement for what a cached text substitution does, and the
ward's consumer already uses psycopg.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import psycopg

__all__ = [
    "Conn",
    "Cursor",
    "IntegrityError",
    "OperationalError",
    "PgConnection",
    "PgRow",
    "Row",
    "StoreError",
    "StoreErrors",
    "Where",
    "address",
    "connect_sqlite",
    "dialect",
    "exists",
    "guarded",
    "has_table",
    "is_postgres",
    "pg_schema",
    "pg_sql",
    "read_only_refusal",
    "shown",
]

Where = Path | str  # a SQLite file, or a PostgreSQL address

# A constraint refused a write, on either store.
IntegrityError = (sqlite3.IntegrityError, psycopg.IntegrityError)
# The store could not be reached, or refused a statement for what it is (no such table, locked).
OperationalError = (sqlite3.OperationalError, psycopg.OperationalError, psycopg.ProgrammingError)


# Any error of either store's driver.
StoreErrors = (sqlite3.Error, psycopg.Error)


def read_only_refusal(err: BaseException) -> bool:
    """Whether ``err`` is a read-only connection refusing a write (SQLite's or PostgreSQL's)."""
    return "readonly" in str(err) or "read-only transaction" in str(err)


class StoreError(Exception):
    """A store that is not as the office wrote it (a bug, never bad input)."""


class Row(Protocol):
    """A row by position or by column name."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    """What the office reads from a statement."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Conn(Protocol):
    """The connection the office's stores share: ``sqlite3.Connection`` or :class:`PgConnection`."""

    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor: ...

    def executescript(self, script: str, /) -> Any: ...

    def close(self) -> None: ...


def is_postgres(where: Where | None) -> bool:
    """Whether ``where`` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(where, str) and where.startswith(("postgresql://", "postgres://"))


def address(text: str) -> Where:
    """A store as a command line names it (``--db``): a PostgreSQL address, else a SQLite file."""
    return text if is_postgres(text) else Path(text)


def shown(where: Where) -> str:
    """The store's name for logs and messages, without a password an address may carry."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", str(where))


def exists(where: Where) -> bool:
    """Whether an office store is there: the file, or a database that answers with its tables."""
    if not is_postgres(where):
        return Path(where).exists()
    try:
        conn = PgConnection(str(where), connect_timeout=5)
    except StoreErrors:
        return False
    try:
        return has_table(conn, "tickets")
    finally:
        conn.close()


def dialect(conn: object) -> str:
    """``"sqlite"`` or ``"postgres"``: for the few statements that must differ."""
    return "postgres" if isinstance(conn, PgConnection) else "sqlite"


def has_table(conn: Conn, name: str) -> bool:
    """Whether the store has table ``name``."""
    if dialect(conn) == "postgres":
        return conn.execute("SELECT to_regclass(?) IS NOT NULL", (name,)).fetchone()[0] is True
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


_savepoints = itertools.count(1)


@contextlib.contextmanager
def guarded(conn: Conn) -> Iterator[None]:
    """A statement that may fail on a constraint, inside a transaction that must go on.

    SQLite undoes just the failed statement; PostgreSQL fails the whole transaction unless the
    statement ran in a savepoint, so there it gets one (and only there: it costs a round trip).
    """
    if dialect(conn) != "postgres" or not conn.in_transaction:
        yield
        return
    name = f"guard_{next(_savepoints)}"
    conn.execute(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
        raise
    conn.execute(f"RELEASE SAVEPOINT {name}")


def connect_sqlite(path: Path, *, read_only: bool = False, timeout: float = 5.0) -> sqlite3.Connection:
    """The office's SQLite connection: autocommit (transactions are explicit), rows by name."""
    if read_only:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=timeout)
    conn.row_factory = sqlite3.Row
    return conn


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------

_SCALAR_MAX = re.compile(r"\bMAX\(([^(),]+),([^(),]+)\)", re.IGNORECASE)
_SCALAR_MIN = re.compile(r"\bMIN\(([^(),]+),([^(),]+)\)", re.IGNORECASE)
_OR_IGNORE = re.compile(r"^\s*INSERT\s+OR\s+IGNORE\s+INTO\b", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def pg_sql(sql: str) -> str:
    """A statement of the office's SQL as PostgreSQL takes it."""
    if re.match(r"\s*(CREATE|ALTER)\b", sql, re.IGNORECASE):
        return "; ".join(pg_schema(sql)).replace("%", "%%")
    text = sql.replace("%", "%%").replace("?", "%s")
    # SQLite's scalar MAX(a, b) and MIN(a, b) are PostgreSQL's GREATEST and LEAST.
    text = _SCALAR_MAX.sub(r"GREATEST(\1,\2)", text)
    text = _SCALAR_MIN.sub(r"LEAST(\1,\2)", text)
    if _OR_IGNORE.match(text):
        text = _OR_IGNORE.sub("INSERT INTO", text, count=1).rstrip().rstrip(";")
        returning = re.search(r"\bRETURNING\b", text, re.IGNORECASE)
        if returning:
            text = f"{text[: returning.start()]}ON CONFLICT DO NOTHING {text[returning.start() :]}"
        else:
            text += " ON CONFLICT DO NOTHING"
    match text.strip().upper():
        case "BEGIN IMMEDIATE":  # a write: the office loop is the one writer, read committed will do
            return "BEGIN"
        case "BEGIN":  # SQLite's deferred BEGIN reads one snapshot of every table; so does this
            return "BEGIN ISOLATION LEVEL REPEATABLE READ"
    return text


_ROWID_TABLES = ("stamps",)  # tables whose reads order by SQLite's implicit rowid


def pg_schema(ddl: str) -> list[str]:
    """The statements of a SQLite schema script for PostgreSQL (data statements are left out:
    they carry an older store's rows forward, and a new PostgreSQL store has none)."""
    out: list[str] = []
    for raw in ddl.split(";"):
        statement = "\n".join(line for line in raw.splitlines() if not line.strip().startswith("--")).strip()
        if not statement or not re.match(r"(CREATE|ALTER|DROP)\b", statement, re.IGNORECASE):
            continue
        text = re.sub(
            r"\bINTEGER PRIMARY KEY( AUTOINCREMENT)?", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", statement
        )
        text = re.sub(r"\bINTEGER\b", "BIGINT", text)
        text = re.sub(r"\bREAL\b", "DOUBLE PRECISION", text)
        text = re.sub(r"\bBLOB\b", "BYTEA", text)
        table = re.match(r"CREATE TABLE IF NOT EXISTS (\w+) \(", text)
        if table and table.group(1) in _ROWID_TABLES:
            text = text.replace("(", "(\n    rowid BIGINT GENERATED BY DEFAULT AS IDENTITY,", 1)
        out.append(text)
    return out


class PgRow:
    """A PostgreSQL row that answers like ``sqlite3.Row``: by position and by column name."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        return tuple(self._values) == (tuple(other) if isinstance(other, PgRow | tuple) else other)

    def __hash__(self) -> int:
        return hash(tuple(self._values))

    def __repr__(self) -> str:
        return f"PgRow{tuple(self._values)!r}"

    def keys(self) -> list[str]:
        """The column names, in order."""
        return list(self._index)


class PgConnection:
    """A PostgreSQL connection that the office's stores use as they use SQLite's.

    Autocommit, like the office's SQLite connections: a transaction is an explicit ``BEGIN`` …
    ``COMMIT``, and a statement outside one commits by itself.
    """

    def __init__(self, dsn: str, *, read_only: bool = False, connect_timeout: int = 10) -> None:
        from psycopg import adapt, pq
        from psycopg.types.numeric import NumericLoader

        class _BoolAsInt(adapt.Dumper):
            oid = psycopg.adapters.types["int8"].oid

            def dump(self, obj: Any) -> bytes:
                return b"1" if obj else b"0"

        class _Number(NumericLoader):
            def load(self, data: Any) -> Any:
                value = super().load(data)
                return int(value) if value == value.to_integral_value() else float(value)

        self.dsn = dsn
        self._idle = pq.TransactionStatus.IDLE
        self._conn = psycopg.connect(dsn, autocommit=True, connect_timeout=connect_timeout)
        self._conn.adapters.register_dumper(bool, _BoolAsInt)
        self._conn.adapters.register_loader("numeric", _Number)
        if read_only:
            self._conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")

    @property
    def in_transaction(self) -> bool:
        """Inside a ``BEGIN`` not yet committed or rolled back."""
        return bool(self._conn.info.transaction_status != self._idle)

    @property
    def closed(self) -> bool:
        """Closed (or lost)."""
        return bool(self._conn.closed)

    def _cursor(self) -> Any:
        def rows(cursor: Any) -> Any:
            index = {column.name: i for i, column in enumerate(cursor.description or ())}
            return lambda values: PgRow(values, index)

        return self._conn.cursor(row_factory=rows)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        """Run one statement of the office's SQL; the cursor (rows by position and name)."""
        cur = self._cursor()
        cur.execute(pg_sql(sql), tuple(parameters))
        return cur

    def tuples(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        """A cursor of plain tuples (``fetchmany``): for reading a million rows fast."""
        cur = self._conn.cursor()
        cur.execute(pg_sql(sql), tuple(parameters))
        return cur

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any:
        """The statement once per parameter row."""
        cur = self._cursor()
        cur.executemany(pg_sql(sql), [tuple(p) for p in parameters])
        return cur

    def executescript(self, script: str, /) -> None:
        """A schema script (see :func:`pg_schema`)."""
        for statement in pg_schema(script):
            self._conn.execute(statement)

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()
