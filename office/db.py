"""The office store: SQLite in WAL mode (or PostgreSQL, office/sql.py), owned by the office
server's main thread.

Idempotency lives here: ``events.id`` is the device's ``"<device>:<seq>"`` and is unique, so a
resent event is a no-op; the ticket table is unique per (day, series, number), so a number
can never be given twice even if a dispenser misbehaved (that is logged as an anomaly).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from office import sql
from office.domain import BoardRow, Call, Stamp, Status, Ticket
from office.ticket_log import Kind, LogRow
from sync.leases import Block

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY, device TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
    hlc TEXT NOT NULL, at_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL, data TEXT NOT NULL,
    problem TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS events_device_seq ON events(device, seq);
CREATE TABLE IF NOT EXISTS devices (
    device TEXT PRIMARY KEY, role TEXT, acked_seq INTEGER NOT NULL DEFAULT 0,
    state TEXT, last_seen_ms INTEGER, status TEXT, printer TEXT
);
CREATE TABLE IF NOT EXISTS tickets (
    ticket_id TEXT PRIMARY KEY, day TEXT NOT NULL, series TEXT NOT NULL, number INTEGER NOT NULL,
    category TEXT NOT NULL, device TEXT NOT NULL, event_id TEXT NOT NULL, issued_ms INTEGER NOT NULL,
    hlc TEXT NOT NULL, route TEXT NOT NULL, procedures TEXT NOT NULL, status TEXT NOT NULL,
    station_index INTEGER NOT NULL, counter INTEGER, updated_ms INTEGER NOT NULL,
    UNIQUE(day, series, number)
);
CREATE INDEX IF NOT EXISTS tickets_day_status ON tickets(day, status);
-- the lease top-up counts a device's tickets per series and day after every event batch
CREATE INDEX IF NOT EXISTS tickets_device_series_day ON tickets(device, series, day);
CREATE TABLE IF NOT EXISTS stamps (
    ticket_id TEXT NOT NULL, station TEXT NOT NULL, at_ms INTEGER NOT NULL, counter INTEGER
);
CREATE INDEX IF NOT EXISTS stamps_ticket ON stamps(ticket_id);
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ticket_id TEXT NOT NULL, number INTEGER NOT NULL,
    counter INTEGER NOT NULL, at_ms INTEGER NOT NULL, kind TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    series TEXT NOT NULL, day TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL,
    device TEXT NOT NULL, granted_ms INTEGER NOT NULL, PRIMARY KEY (series, day, first)
);
CREATE TABLE IF NOT EXISTS staff_requests (
    request_id TEXT PRIMARY KEY, command TEXT NOT NULL, reply TEXT NOT NULL, at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# Versioned changes to a store made by an older office, applied in order at open (SQLite's PRAGMA
# user_version counts them; on PostgreSQL the meta row "schema:version"). SCHEMA above makes
# version 0; never edit a step once it shipped. On PostgreSQL a step's schema statements run
# (translated, office/sql.py) and its data statements do not: they carry forward rows of SQLite
# stores older than PostgreSQL support (version 5); a later step that moves data must say how
# on both.
MIGRATIONS: tuple[str, ...] = (
    # 1: the staff side - the resident page's token and the staff user working a case; staff
    # accounts, their sessions, the audit log, and which counters are open and by whom.
    """
    ALTER TABLE tickets ADD COLUMN token TEXT;
    ALTER TABLE tickets ADD COLUMN holder TEXT;
    CREATE UNIQUE INDEX IF NOT EXISTS tickets_token ON tickets(token) WHERE token IS NOT NULL;
    CREATE TABLE IF NOT EXISTS staff_users (
        username TEXT PRIMARY KEY, display_name TEXT NOT NULL, role TEXT NOT NULL,
        password_hash TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0, locked_until_ms INTEGER NOT NULL DEFAULT 0,
        created_ms INTEGER NOT NULL, changed_ms INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS staff_sessions (
        token_hash TEXT PRIMARY KEY, username TEXT NOT NULL, counter INTEGER, csrf TEXT NOT NULL,
        created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, ended_ms INTEGER
    );
    CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, username TEXT, counter INTEGER,
        action TEXT NOT NULL, ticket_id TEXT, ok INTEGER NOT NULL, detail TEXT NOT NULL, request_id TEXT
    );
    CREATE INDEX IF NOT EXISTS audit_at ON audit(at_ms);
    CREATE TABLE IF NOT EXISTS counter_state (
        number INTEGER PRIMARY KEY, open INTEGER NOT NULL, username TEXT, since_ms INTEGER NOT NULL
    );
    """,
    # 2: what the office refused to believe or kept aside, per device: an event id seen before
    # with other content, a message its role may not send, a ticket outside its leases. Staff
    # see them as alerts; the rows keep the whole message for whoever looks into it.
    """
    CREATE TABLE IF NOT EXISTS suspicious (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, device TEXT NOT NULL,
        kind TEXT NOT NULL, ref TEXT, detail TEXT NOT NULL
    );
    CREATE UNIQUE INDEX IF NOT EXISTS suspicious_once ON suspicious(device, kind, ref) WHERE ref IS NOT NULL;
    CREATE INDEX IF NOT EXISTS suspicious_kind ON suspicious(device, kind);
    """,
    # 3: retention - what is pruned after the site's [retention] event_days is found by time.
    """
    CREATE INDEX IF NOT EXISTS events_received ON events(received_ms);
    CREATE INDEX IF NOT EXISTS calls_at ON calls(at_ms);
    CREATE INDEX IF NOT EXISTS leases_day ON leases(day);
    CREATE INDEX IF NOT EXISTS staff_requests_at ON staff_requests(at_ms);
    """,
    # 4: each dispenser's share of a purpose's daily cap (office.leasing.cap_share).
    """
    CREATE TABLE IF NOT EXISTS cap_shares (
        device TEXT NOT NULL, day TEXT NOT NULL, category TEXT NOT NULL, upto INTEGER NOT NULL,
        PRIMARY KEY (device, day, category)
    );
    """,
    # 5: the ticket log (office/ticket_log.py): one row for everything that happened to a ticket,
    # appended beside each change; every statistic is made from it. Filled here from what an
    # older store kept: the issue, a stamp per station (the first station's is the call, the
    # terminal's "ready"), and how the ticket ended (done, void, absent) at its last change.
    # One index (a day's rows, and a ticket's within its day) and no AUTOINCREMENT (the rowid
    # grows by itself; a row is deleted only with a displaced ticket): every change pays for them.
    """
    CREATE TABLE IF NOT EXISTS ticket_log (
        id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, day TEXT NOT NULL,
        ticket_id TEXT NOT NULL, kind TEXT NOT NULL, category TEXT NOT NULL, station TEXT,
        counter INTEGER, username TEXT, device TEXT, detail TEXT
    );
    CREATE INDEX IF NOT EXISTS ticket_log_day_ticket ON ticket_log(day, ticket_id);
    INSERT INTO ticket_log(at_ms, day, ticket_id, kind, category, device)
        SELECT issued_ms, day, ticket_id, 'issued', category, device FROM tickets ORDER BY issued_ms, ticket_id;
    INSERT INTO ticket_log(at_ms, day, ticket_id, kind, category, station, counter, device, detail)
        SELECT s.at_ms, t.day, s.ticket_id,
            CASE
                WHEN s.station = json_extract(t.route, '$[' || (json_array_length(t.route) - 1) || ']') THEN 'ready'
                WHEN s.station = json_extract(t.route, '$[0]') THEN 'called'
                ELSE 'moved'
            END,
            t.category, s.station, s.counter, t.device, s.came_from
        FROM (
            SELECT ticket_id, station, at_ms, counter, rowid AS r,
                LAG(station) OVER (PARTITION BY ticket_id ORDER BY at_ms, rowid) AS came_from
            FROM stamps
        ) AS s JOIN tickets AS t ON t.ticket_id = s.ticket_id
        ORDER BY s.at_ms, s.r;
    INSERT INTO ticket_log(at_ms, day, ticket_id, kind, category, station, counter, device)
        SELECT updated_ms, day, ticket_id,
            CASE status WHEN 'done' THEN 'done' WHEN 'void' THEN 'voided' ELSE 'absent' END,
            category,
            CASE WHEN station_index >= 0 THEN json_extract(route, '$[' || station_index || ']') END,
            counter, device
        FROM tickets WHERE status IN ('done', 'void', 'absent') ORDER BY updated_ms, ticket_id
    """,
)


def migrate(conn: sql.Conn, upto: int | None = None) -> int:
    """Bring a store up to :data:`MIGRATIONS` (or its first ``upto``), each step in a transaction
    of its own; the version."""
    postgres = sql.dialect(conn) == "postgres"
    if postgres:
        row = conn.execute("SELECT value FROM meta WHERE key='schema:version'").fetchone()
        version = int(row[0]) if row else 0
    else:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    steps = MIGRATIONS[: len(MIGRATIONS) if upto is None else upto]
    for number, step in enumerate(steps[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if postgres:
                for statement in sql.pg_schema(step):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema:version', ?)"
                    " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (str(number),),
                )
            else:
                for statement in (s.strip() for s in step.split(";")):
                    if statement:
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(steps)


@functools.lru_cache(maxsize=1024)
def _codes(text: str) -> tuple[str, ...]:
    # A day's tickets share a handful of routes and procedure lists: parse each text once (the
    # staff view and the public feed read every ticket of the day several times a second).
    return tuple(json.loads(text))


def _ticket(row: sql.Row) -> Ticket:
    return Ticket(
        ticket_id=row["ticket_id"],
        day=row["day"],
        series=row["series"],
        number=row["number"],
        category=row["category"],
        device=row["device"],
        issued_ms=row["issued_ms"],
        hlc=row["hlc"],
        route=_codes(row["route"]),
        procedures=_codes(row["procedures"]),
        status=Status(row["status"]),
        station_index=row["station_index"],
        counter=row["counter"],
        updated_ms=row["updated_ms"],
        token=row["token"],
        holder=row["holder"],
    )


_INSERT_TICKET = (
    "INSERT INTO tickets(ticket_id, day, series, number, category, device, event_id, issued_ms,"
    " hlc, route, procedures, status, station_index, counter, updated_ms, token, holder)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


# a ticket whose id or number is taken already is left out (the caller is told, or history skips it)
_INSERT_TICKET_ONCE = _INSERT_TICKET.replace("INSERT INTO", "INSERT OR IGNORE INTO", 1)


def _ticket_row(t: Ticket, event_id: str) -> tuple[object, ...]:
    return (
        t.ticket_id,
        t.day,
        t.series,
        t.number,
        t.category,
        t.device,
        event_id,
        t.issued_ms,
        t.hlc,
        json.dumps(list(t.route)),
        json.dumps(list(t.procedures), ensure_ascii=False),
        t.status.value,
        t.station_index,
        t.counter,
        t.updated_ms,
        t.token,
        t.holder,
    )


_APPEND_LOG = (
    "INSERT INTO ticket_log(at_ms, day, ticket_id, kind, category, station, counter, username, device, detail)"
    " VALUES (?,?,?,?,?,?,?,?,?,?)"
)


class OfficeDB:
    """Every table the office keeps. Methods do not commit; :meth:`transaction` does."""

    def __init__(self, path: sql.Where, *, upto: int | None = None) -> None:
        self.path = path
        self.conn: sql.Conn
        if sql.is_postgres(path):
            # PostgreSQL commits durably by default (synchronous_commit on, fsync on).
            self.conn = sql.PgConnection(str(path))
        else:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sql.connect_sqlite(path, timeout=5.0)
            self.conn.execute("PRAGMA journal_mode=WAL")
            # FULL: an ack goes out only after the events it covers are on disk.
            self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(SCHEMA)
        migrate(self.conn, upto)
        # The office loop's own copy of the days' tickets it has read, kept in step by every
        # write of this connection (the only writer of tickets) and dropped on a rollback: the
        # snapshots and the resident pages' feed read a whole day after every change.
        self._days: dict[str, dict[str, Ticket]] | None = {}

    @classmethod
    def read_only(cls, path: sql.Where) -> OfficeDB:
        """A second, read-only connection to a store the office loop writes (the console's reads).

        WAL lets it read while the loop writes; SQLite itself refuses any write through it, so
        "one writer" holds by construction, not by discipline.
        """
        db = cls.__new__(cls)
        db.path = path
        if sql.is_postgres(path):
            db.conn = sql.PgConnection(str(path), read_only=True)
        else:
            db.conn = sql.connect_sqlite(Path(path), read_only=True)
        db._days = None  # another connection writes: nothing here may be kept between reads
        return db

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def transaction(self) -> _Txn:
        """``with db.transaction():`` - BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error)."""
        return _Txn(self.conn, self._forget)

    def _forget(self) -> None:
        if self._days is not None:
            self._days.clear()

    # -- events and acks ---------------------------------------------------------------------

    def insert_event(
        self,
        event_id: str,
        device: str,
        seq: int,
        type: str,
        hlc: str,
        at_ms: int,
        received_ms: int,
        data: dict[str, Any],
        problem: str | None = None,
    ) -> bool:
        """Store an event once. False when it was already there (a harmless duplicate)."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO events(id, device, seq, type, hlc, at_ms, received_ms, data, problem)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (event_id, device, seq, type, hlc, at_ms, received_ms, json.dumps(data, ensure_ascii=False), problem),
        )
        return cur.rowcount == 1

    def written_elsewhere(self) -> int:
        """SQLite's ``data_version``: it changes when another connection (another process: the
        enrolment endpoint, a CLI) commits to the store, never for this connection's own writes.
        PostgreSQL has no such number: there, a figure of the enrolment register that any
        enrolment or revocation changes."""
        if sql.dialect(self.conn) == "postgres":
            if not sql.has_table(self.conn, "enrolled_devices"):
                return 0
            row = self.conn.execute(
                "SELECT COUNT(*), COALESCE(MAX(enrolled_ms), 0), COALESCE(SUM(revoked_ms), 0) FROM enrolled_devices"
            ).fetchone()
            return hash((row[0], row[1], row[2]))
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def enrolled_roles(self) -> dict[str, str]:
        """Enrolled devices not revoked, by id: their role (office/enrolment.py keeps the table in
        this store; an office that never enrolled a device has none)."""
        if not sql.has_table(self.conn, "enrolled_devices"):  # no enrolment here
            return {}
        rows = self.conn.execute("SELECT device_id, role FROM enrolled_devices WHERE revoked_ms IS NULL")
        return {str(r[0]): str(r[1]) for r in rows}

    def stored_event(self, device: str, seq: int) -> tuple[str, str, int, dict[str, Any]] | None:
        """The stored event ``seq`` of ``device`` as (type, hlc, at_ms, data), if there is one."""
        row = self.conn.execute(
            "SELECT type, hlc, at_ms, data FROM events WHERE device=? AND seq=?", (device, seq)
        ).fetchone()
        if row is None:
            return None
        return str(row[0]), str(row[1]), int(row[2]), json.loads(row[3])

    def note_suspicious(self, at_ms: int, device: str, kind: str, detail: dict[str, Any], ref: str | None) -> bool:
        """Keep something the office would not believe; False when this ``ref`` was kept before."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO suspicious(at_ms, device, kind, ref, detail) VALUES (?,?,?,?,?)",
            (at_ms, device, kind, ref, json.dumps(detail, ensure_ascii=False, sort_keys=True)),
        )
        return cur.rowcount == 1

    def suspicious_counts(self) -> list[tuple[str, str, int, int]]:
        """(device, kind, how many, the latest's time) of everything kept aside."""
        return [
            (str(r[0]), str(r[1]), int(r[2]), int(r[3]))
            for r in self.conn.execute(
                "SELECT device, kind, COUNT(*), MAX(at_ms) FROM suspicious GROUP BY device, kind ORDER BY device, kind"
            )
        ]

    def suspicious(self, device: str | None = None) -> list[dict[str, Any]]:
        """Every kept-aside message (of ``device``), oldest first."""
        rows = self.conn.execute(
            "SELECT at_ms, device, kind, ref, detail FROM suspicious WHERE CAST(? AS TEXT) IS NULL OR device=? ORDER BY id",
            (device, device),
        )
        return [{"at_ms": r[0], "device": r[1], "kind": r[2], "ref": r[3], "detail": json.loads(r[4])} for r in rows]

    def set_problem(self, event_id: str, problem: str) -> None:
        """Mark a stored event whose content could not be applied (kept, never dropped)."""
        self.conn.execute("UPDATE events SET problem=? WHERE id=?", (problem, event_id))

    def acked_seq(self, device: str) -> int:
        """The highest seq up to which every event of ``device`` is stored."""
        row = self.conn.execute("SELECT acked_seq FROM devices WHERE device=?", (device,)).fetchone()
        return int(row[0]) if row else 0

    def advance_ack(self, device: str) -> int:
        """Move the device's cumulative ack over every contiguous stored seq; return it."""
        acked = self.acked_seq(device)
        for (seq,) in self.conn.execute(
            "SELECT seq FROM events WHERE device=? AND seq>? ORDER BY seq", (device, acked)
        ):
            if seq != acked + 1:
                break
            acked = seq
        self.conn.execute(
            "INSERT INTO devices(device, acked_seq) VALUES (?, ?) "
            "ON CONFLICT(device) DO UPDATE SET acked_seq=excluded.acked_seq",
            (device, acked),
        )
        return acked

    def highest_seq(self, device: str) -> int:
        """The highest seq received from ``device`` (a gap when above the ack)."""
        row = self.conn.execute("SELECT MAX(seq) FROM events WHERE device=?", (device,)).fetchone()
        return int(row[0] or 0)

    def event_count(self, device: str | None = None) -> int:
        """How many events are stored (for one device or all)."""
        if device is None:
            return int(self.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        return int(self.conn.execute("SELECT COUNT(*) FROM events WHERE device=?", (device,)).fetchone()[0])

    def problem_count(self) -> int:
        """Stored events whose content could not be applied."""
        return int(self.conn.execute("SELECT COUNT(*) FROM events WHERE problem IS NOT NULL").fetchone()[0])

    # -- devices -------------------------------------------------------------------------------

    def upsert_device(self, device: str, role: str | None, state: str, now_ms: int, status: dict[str, Any]) -> None:
        """Record a device's retained status."""
        self.conn.execute(
            "INSERT INTO devices(device, role, state, last_seen_ms, status) VALUES (?,?,?,?,?) "
            "ON CONFLICT(device) DO UPDATE SET role=COALESCE(excluded.role, devices.role), "
            "state=excluded.state, last_seen_ms=excluded.last_seen_ms, status=excluded.status",
            (device, role, state, now_ms, json.dumps(status, ensure_ascii=False)),
        )

    def set_printer(self, device: str, printer: dict[str, Any]) -> None:
        """The device's printer state as last reported (fault, paper near end)."""
        self.conn.execute(
            "INSERT INTO devices(device, printer) VALUES (?, ?) ON CONFLICT(device) DO UPDATE SET printer=excluded.printer",
            (device, json.dumps(printer)),
        )

    def devices(self, role: str | None = None) -> list[sql.Row]:
        """Known devices, optionally of one role."""
        if role is None:
            return list(self.conn.execute("SELECT * FROM devices ORDER BY device"))
        return list(self.conn.execute("SELECT * FROM devices WHERE role=? ORDER BY device", (role,)))

    # -- tickets ---------------------------------------------------------------------------------

    def insert_ticket(self, t: Ticket, event_id: str) -> str | None:
        """Add an issued ticket; returns the id of a clashing ticket when the number is taken.

        A clash is a row not inserted (ON CONFLICT DO NOTHING), not an exception: on PostgreSQL
        a failed statement would end the whole transaction, and a savepoint around each insert
        costs two more round trips per ticket."""
        if self.conn.execute(_INSERT_TICKET_ONCE, _ticket_row(t, event_id)).rowcount == 1:
            # Its first line in the ticket log: the resident arrived (the device's time of issue).
            self.append_log([LogRow(t.issued_ms, t.ticket_id, t.day, Kind.ISSUED, t.category, device=t.device)])
            if self._days is not None and t.day in self._days:
                self._days[t.day][t.ticket_id] = t
            return None
        row = self.conn.execute(
            "SELECT ticket_id, event_id FROM tickets WHERE ticket_id=? OR (day=? AND series=? AND number=?)",
            (t.ticket_id, t.day, t.series, t.number),
        ).fetchone()
        return f"{row['ticket_id']} (event {row['event_id']})" if row else "unknown"

    def displace_ticket(self, t: Ticket, event_id: str) -> Ticket | None:
        """Put the rightful dispenser's ticket where a flagged one of the same number was (its
        event stays in ``events``, the caller keeps it aside); the displaced ticket."""
        old = self.ticket(t.ticket_id)
        self._forget()
        self.conn.execute("DELETE FROM tickets WHERE ticket_id=?", (t.ticket_id,))
        self.conn.execute("DELETE FROM stamps WHERE ticket_id=?", (t.ticket_id,))
        # The flagged ticket's lines go with it: they told of a number that was never its own, and
        # left in the log they would make one ticket out of two residents.
        self.conn.execute("DELETE FROM ticket_log WHERE day=? AND ticket_id=?", (t.day, t.ticket_id))
        clash = self.insert_ticket(t, event_id)
        if clash is not None:
            raise sql.StoreError(f"ticket {t.ticket_id} still clashes with {clash}")
        return old

    def update_ticket(self, t: Ticket) -> None:
        """Persist a ticket's new status, station, counter, purpose, route and holder.

        Its change time only ever moves on, by a millisecond at least: a screen that acts on what
        it showed names that time (``seen_ms``), and two changes within one millisecond left the
        second one looking like what the screen had seen."""
        row = self.conn.execute(
            "UPDATE tickets SET status=?, station_index=?, counter=?, updated_ms=MAX(?, updated_ms + 1), holder=?,"
            " category=?, route=? WHERE ticket_id=? RETURNING updated_ms",
            (
                t.status.value,
                t.station_index,
                t.counter,
                t.updated_ms,
                t.holder,
                t.category,
                json.dumps(list(t.route)),
                t.ticket_id,
            ),
        ).fetchone()
        if row is not None:
            t = dataclasses.replace(t, updated_ms=int(row[0]))
        kept = self._days.get(t.day) if self._days is not None else None
        if kept is not None and t.ticket_id in kept:
            # exactly what the UPDATE wrote, nothing more
            kept[t.ticket_id] = dataclasses.replace(
                kept[t.ticket_id],
                status=t.status,
                station_index=t.station_index,
                counter=t.counter,
                updated_ms=t.updated_ms,
                holder=t.holder,
                category=t.category,
                route=tuple(t.route),
            )

    def kept_day(self, day: str) -> dict[str, Ticket] | None:
        """A copy of the day's tickets as this (writing) connection keeps them, or None when it
        keeps none: taken on the writer's thread, it is a consistent picture to hand to another
        thread (the tickets are immutable; the copy is one dict of references)."""
        kept = self._days.get(day) if self._days is not None else None
        return dict(kept) if kept is not None else None

    def tickets(self, day: str, statuses: Iterable[Status] | None = None) -> list[Ticket]:
        """The day's tickets, optionally only those in ``statuses``."""
        if self._days is not None:
            kept = self._days.get(day)
            if kept is None:
                rows = self.conn.execute("SELECT * FROM tickets WHERE day=?", (day,))
                kept = self._days[day] = {t.ticket_id: t for t in map(_ticket, rows)}
            only = None if statuses is None else frozenset(statuses)
            chosen = kept.values() if only is None else [t for t in kept.values() if t.status in only]
            return sorted(chosen, key=lambda t: (t.hlc, t.ticket_id))
        if statuses is None:
            rows = self.conn.execute("SELECT * FROM tickets WHERE day=? ORDER BY hlc, ticket_id", (day,))
        else:
            wanted = [s.value for s in statuses]
            marks = ",".join("?" * len(wanted))
            rows = self.conn.execute(
                f"SELECT * FROM tickets WHERE day=? AND status IN ({marks}) ORDER BY hlc, ticket_id", (day, *wanted)
            )
        return [_ticket(r) for r in rows]

    def issued_by_category(self, day: str) -> dict[str, int]:
        """How many tickets each purpose has had today (the dispensers' daily caps)."""
        rows = self.conn.execute("SELECT category, COUNT(*) FROM tickets WHERE day=? GROUP BY category", (day,))
        return {str(r[0]): int(r[1]) for r in rows}

    def issued_by_device(self, day: str, category: str) -> dict[str, int]:
        """Each device's tickets of a purpose on a day."""
        rows = self.conn.execute(
            "SELECT device, COUNT(*) FROM tickets WHERE day=? AND category=? GROUP BY device", (day, category)
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def cap_shares(self, day: str, category: str) -> dict[str, int]:
        """Each dispenser's share of a purpose's daily cap on a day (its ``upto``)."""
        rows = self.conn.execute("SELECT device, upto FROM cap_shares WHERE day=? AND category=?", (day, category))
        return {str(r[0]): int(r[1]) for r in rows}

    def device_cap_shares(self, device: str) -> list[tuple[str, str, int]]:
        """A dispenser's shares: (day, purpose, upto)."""
        rows = self.conn.execute(
            "SELECT day, category, upto FROM cap_shares WHERE device=? ORDER BY day, category", (device,)
        )
        return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]

    def set_cap_share(self, device: str, day: str, category: str, upto: int) -> None:
        self.conn.execute(
            "INSERT INTO cap_shares(device, day, category, upto) VALUES (?,?,?,?) "
            "ON CONFLICT(device, day, category) DO UPDATE SET"
            " upto=CASE WHEN excluded.upto > cap_shares.upto THEN excluded.upto ELSE cap_shares.upto END",
            (device, day, category, upto),
        )

    def waiting_by_category(self, day: str) -> dict[str, int]:
        """How many wait per purpose (counted in SQL: snapshots run several times a second)."""
        rows = self.conn.execute(
            "SELECT category, COUNT(*) FROM tickets WHERE day=? AND status='waiting' GROUP BY category", (day,)
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def board_rows(
        self, day: str, ready_since_ms: int, waiting_limit: int
    ) -> tuple[list[BoardRow], list[BoardRow], dict[tuple[str, ...], int]]:
        """Trains on the line, the oldest waiting tickets, and waiting counts per route."""
        routes: dict[str, tuple[str, ...]] = {}

        def row(r: sql.Row) -> BoardRow:
            route = routes.get(r["route"])
            if route is None:
                route = routes[r["route"]] = tuple(json.loads(r["route"]))
            return BoardRow(r["number"], r["station_index"], Status(r["status"]), r["counter"], route)

        cols = "number, station_index, status, counter, route"
        trains = [
            row(r)
            for r in self.conn.execute(
                f"SELECT {cols} FROM tickets WHERE day=? AND (status IN ('called', 'in_progress', 'held')"
                " OR (status='ready' AND updated_ms>=?)) ORDER BY hlc, ticket_id",
                (day, ready_since_ms),
            )
        ]
        waiting = [
            row(r)
            for r in self.conn.execute(
                f"SELECT {cols} FROM tickets WHERE day=? AND status='waiting' ORDER BY hlc, ticket_id LIMIT ?",
                (day, waiting_limit),
            )
        ]
        per_route: dict[tuple[str, ...], int] = {}
        for r in self.conn.execute(
            "SELECT route, COUNT(*) FROM tickets WHERE day=? AND status='waiting' GROUP BY route", (day,)
        ):
            per_route[tuple(json.loads(r[0]))] = int(r[1])
        return trains, waiting, per_route

    def last_called_by_category(self, limit: int = 200) -> dict[str, int]:
        """The number last called to reception per purpose, from the newest calls."""
        out: dict[str, int] = {}
        for r in self.conn.execute(
            "SELECT t.category, c.number FROM calls c JOIN tickets t ON t.ticket_id=c.ticket_id"
            " WHERE c.kind='call' ORDER BY c.id DESC LIMIT ?",
            (limit,),
        ):
            out.setdefault(str(r[0]), int(r[1]))
        return out

    def find_tickets(self, day: str, number: int, series: str | None = None) -> list[Ticket]:
        """Tickets of the day with this number (one per series at most)."""
        if series is None:
            rows = self.conn.execute("SELECT * FROM tickets WHERE day=? AND number=?", (day, number))
        else:
            rows = self.conn.execute(
                "SELECT * FROM tickets WHERE day=? AND number=? AND series=?", (day, number, series)
            )
        return [_ticket(r) for r in rows]

    def ticket(self, ticket_id: str) -> Ticket | None:
        """One ticket by id."""
        row = self.conn.execute("SELECT * FROM tickets WHERE ticket_id=?", (ticket_id,)).fetchone()
        return _ticket(row) if row else None

    def count_tickets(self, day: str | None = None) -> int:
        """How many tickets (of a day, or ever)."""
        if day is None:
            return int(self.conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0])
        return int(self.conn.execute("SELECT COUNT(*) FROM tickets WHERE day=?", (day,)).fetchone()[0])

    def used_by_device(self, device: str, series: str, day: str) -> int:
        """How many numbers of a series and day a device has used (as far as the office knows)."""
        row = self.conn.execute(
            "SELECT COUNT(*) FROM tickets WHERE device=? AND series=? AND day=?", (device, series, day)
        ).fetchone()
        return int(row[0])

    def add_stamp(self, stamp: Stamp) -> None:
        """A ticket reached a station."""
        self.conn.execute(
            "INSERT INTO stamps(ticket_id, station, at_ms, counter) VALUES (?,?,?,?)",
            (stamp.ticket_id, stamp.station, stamp.at_ms, stamp.counter),
        )

    def stamps(self, ticket_id: str) -> list[Stamp]:
        """Every station arrival of a ticket, in order."""
        rows = self.conn.execute("SELECT * FROM stamps WHERE ticket_id=? ORDER BY at_ms, rowid", (ticket_id,))
        return [Stamp(r["ticket_id"], r["station"], r["at_ms"], r["counter"]) for r in rows]

    def stamps_of(self, ticket_ids: Iterable[str]) -> dict[str, list[Stamp]]:
        """Every station arrival of several tickets, in order, by ticket (one query)."""
        wanted = list(dict.fromkeys(ticket_ids))
        out: dict[str, list[Stamp]] = {t: [] for t in wanted}
        for start in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
            chunk = wanted[start : start + 500]
            rows = self.conn.execute(
                f"SELECT * FROM stamps WHERE ticket_id IN ({','.join('?' * len(chunk))}) ORDER BY at_ms, rowid", chunk
            )
            for r in rows:
                out[r["ticket_id"]].append(Stamp(r["ticket_id"], r["station"], r["at_ms"], r["counter"]))
        return out

    def left_station_since(self, station: str, since_ms: int) -> int:
        """How many cases moved on from ``station`` since a time (the input centre's hour)."""
        row = self.conn.execute(
            "SELECT COUNT(*) FROM (SELECT at_ms, LAG(station) OVER (PARTITION BY ticket_id ORDER BY at_ms, rowid)"
            " AS came_from FROM stamps WHERE at_ms>=?) AS moves WHERE came_from=? AND at_ms>=?",
            (since_ms - 24 * 3600 * 1000, station, since_ms),
        ).fetchone()
        return int(row[0])

    def held_prints(self, since_ms: int) -> dict[str, list[str]]:
        """Per dispenser, tickets whose print failed and that are not reprinted or void yet."""
        failed: dict[str, tuple[str, int]] = {}
        for r in self.conn.execute(
            "SELECT device, type, data, at_ms FROM events WHERE type IN ('ticket.print_failed', 'ticket.reprinted')"
            " AND received_ms>=? ORDER BY device, seq",
            (since_ms,),
        ):
            ticket = json.loads(r["data"]).get("ticket_id")
            if not isinstance(ticket, str):
                continue
            if r["type"] == "ticket.print_failed":
                failed[ticket] = (str(r["device"]), int(r["at_ms"]))
            else:
                failed.pop(ticket, None)
        out: dict[str, list[str]] = {}
        for ticket, (device, _) in failed.items():
            found = self.ticket(ticket)
            if found is None or found.status is not Status.VOID:
                out.setdefault(device, []).append(ticket)
        return out

    def add_call(self, c: Call) -> None:
        """A now-calling entry."""
        self.conn.execute(
            "INSERT INTO calls(ticket_id, number, counter, at_ms, kind) VALUES (?,?,?,?,?)",
            (c.ticket_id, c.number, c.counter, c.at_ms, c.kind),
        )

    def recent_calls(self, limit: int = 10) -> list[Call]:
        """The newest calls first."""
        rows = self.conn.execute("SELECT * FROM calls ORDER BY id DESC LIMIT ?", (limit,))
        return [Call(r["ticket_id"], r["number"], r["counter"], r["at_ms"], r["kind"]) for r in rows]

    def last_call_at_counter(self, counter: int) -> tuple[Call, str] | None:
        """The counter's previous reception call and that ticket's category (service times)."""
        row = self.conn.execute(
            "SELECT c.*, t.category FROM calls c JOIN tickets t ON t.ticket_id=c.ticket_id"
            " WHERE c.counter=? AND c.kind='call' ORDER BY c.id DESC LIMIT 1",
            (counter,),
        ).fetchone()
        if row is None:
            return None
        return Call(row["ticket_id"], row["number"], row["counter"], row["at_ms"], row["kind"]), row["category"]

    def call_history(self, since_ms: int) -> Iterator[tuple[int, int, str]]:
        """(counter, at_ms, category) of reception calls since a time, oldest first."""
        for row in self.conn.execute(
            "SELECT c.counter, c.at_ms, t.category FROM calls c JOIN tickets t ON t.ticket_id=c.ticket_id"
            " WHERE c.kind='call' AND c.at_ms>=? ORDER BY c.id",
            (since_ms,),
        ):
            yield int(row[0]), int(row[1]), str(row[2])

    # -- the ticket log ----------------------------------------------------------------------------

    def append_log(self, rows: Iterable[LogRow]) -> None:
        """Append rows to the ticket log (in the caller's transaction, beside the change they tell)."""
        for r in rows:  # mostly one: a plain execute costs less than executemany's set-up
            self.conn.execute(
                _APPEND_LOG,
                (
                    r.at_ms,
                    r.day,
                    r.ticket_id,
                    r.kind.value,
                    r.category,
                    r.station,
                    r.counter,
                    r.username,
                    r.device,
                    r.detail,
                ),
            )

    def insert_history(self, told: Iterable[tuple[Ticket, Sequence[LogRow]]]) -> int:
        """Write finished tickets with their whole log at once (history brought in: the demo's
        year, an import); a ticket whose number is taken already is left out. How many went in."""
        added = 0
        for t, rows in told:
            cur = self.conn.execute(_INSERT_TICKET_ONCE, _ticket_row(t, f"history:{t.ticket_id}"))
            if cur.rowcount == 1:
                self.append_log(rows)
                added += 1
        self._forget()
        return added

    def log_rows(self, first_day: str, last_day: str) -> Iterator[LogRow]:
        """The log of the tickets of business days ``first_day``..``last_day``, in the order written."""
        for r in self.conn.execute(
            "SELECT at_ms, ticket_id, day, kind, category, station, counter, username, device, detail"
            " FROM ticket_log WHERE day BETWEEN ? AND ? ORDER BY id",
            (first_day, last_day),
        ):
            yield LogRow(r[0], r[1], r[2], Kind(r[3]), r[4], r[5], r[6], r[7], r[8], r[9])

    def ticket_log(self, ticket_id: str, day: str | None = None) -> list[LogRow]:
        """One ticket's log, in the order written (``day``: the ticket's, when its id does not begin
        with it as office.domain.ticket_id makes them)."""
        rows = self.conn.execute(
            "SELECT at_ms, ticket_id, day, kind, category, station, counter, username, device, detail"
            " FROM ticket_log WHERE day=? AND ticket_id=? ORDER BY id",
            (day or ticket_id[:10], ticket_id),
        )
        return [LogRow(r[0], r[1], r[2], Kind(r[3]), r[4], r[5], r[6], r[7], r[8], r[9]) for r in rows]

    def log_after(self, after: int, limit: int) -> list[tuple[int, LogRow]]:
        """Up to ``limit`` rows of the ticket log with ids above ``after``, with their ids, oldest
        first (a ward's branch sends them to the centre from its last ack)."""
        rows = self.conn.execute(
            "SELECT id, at_ms, ticket_id, day, kind, category, station, counter, username, device, detail"
            " FROM ticket_log WHERE id > ? ORDER BY id LIMIT ?",
            (after, limit),
        )
        return [(int(r[0]), LogRow(r[1], r[2], r[3], Kind(r[4]), r[5], r[6], r[7], r[8], r[9], r[10])) for r in rows]

    def last_log_id(self) -> int:
        """The newest ticket log row's id (0: none)."""
        return int(self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM ticket_log").fetchone()[0])

    def meta_int(self, key: str) -> int:
        """A whole number kept in ``meta`` (0 when never set)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def set_meta_int(self, key: str, value: int) -> None:
        """Keep a whole number in ``meta``."""
        self.conn.execute(_SET_META, (key, str(value)))

    def forget_log_users(self, before_day: str) -> int:
        """Drop the staff user from the log of the tickets of days before ``before_day`` (the figures
        stay); rows changed."""
        return self.conn.execute(
            "UPDATE ticket_log SET username=NULL WHERE day < ? AND username IS NOT NULL", (before_day,)
        ).rowcount

    # -- leases ----------------------------------------------------------------------------------

    def holds_lease(self, device: str, series: str, day: str, number: int) -> bool:
        """Whether ``number`` lies in a block of ``series`` leased to ``device`` for ``day``."""
        row = self.conn.execute(
            "SELECT 1 FROM leases WHERE device=? AND series=? AND day=? AND first<=? AND last>=? LIMIT 1",
            (device, series, day, number, number),
        ).fetchone()
        return row is not None

    def leases(
        self, series: str | None = None, day: str | None = None, device: str | None = None
    ) -> list[tuple[str, Block]]:
        """(device, block) pairs, filtered."""
        sql, args = "SELECT * FROM leases WHERE 1=1", []
        for col, val in (("series", series), ("day", day), ("device", device)):
            if val is not None:
                sql += f" AND {col}=?"
                args.append(val)
        rows = self.conn.execute(sql + " ORDER BY day, series, first", args)
        return [(r["device"], Block(r["series"], r["day"], r["first"], r["last"])) for r in rows]

    def add_lease(self, device: str, block: Block, now_ms: int) -> None:
        """Grant a block to a device (the primary key refuses an overlapping start)."""
        self.conn.execute(
            "INSERT INTO leases(series, day, first, last, device, granted_ms) VALUES (?,?,?,?,?,?)",
            (block.series, block.day, block.first, block.last, device, now_ms),
        )

    # -- staff requests and meta --------------------------------------------------------------------

    def staff_reply(self, request_id: str) -> dict[str, Any] | None:
        """The stored reply of a request already carried out (a retried command)."""
        row = self.conn.execute("SELECT reply FROM staff_requests WHERE request_id=?", (request_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def save_staff_reply(self, request_id: str, command: str, reply: dict[str, Any], now_ms: int) -> None:
        """Remember a request's reply so a retry is not carried out twice."""
        self.conn.execute(
            "INSERT INTO staff_requests(request_id, command, reply, at_ms) VALUES (?,?,?,?) ON CONFLICT(request_id)"
            " DO UPDATE SET command=excluded.command, reply=excluded.reply, at_ms=excluded.at_ms",
            (request_id, command, json.dumps(reply, ensure_ascii=False), now_ms),
        )

    def prune(self, before_ms: int, before_day: str) -> dict[str, int]:
        """Delete what only served to get the tickets where they are, from before ``before_ms``
        (leases: of days before ``before_day``); the rows deleted per table.

        A device's raw event goes only once it is within the device's acknowledged seq: a
        resend of it is then a duplicate by its seq alone, and an event after a gap stays until
        the gap fills. Tickets and their stamps stay (the statistics are made from them), and so
        do the audit log and what the office kept aside as suspicious."""
        steps = {
            "events": (
                (
                    "DELETE FROM events WHERE received_ms < ? AND seq <= "
                    "COALESCE((SELECT acked_seq FROM devices WHERE devices.device = events.device), 0)"
                ),
                (before_ms,),
            ),
            "calls": ("DELETE FROM calls WHERE at_ms < ?", (before_ms,)),
            "leases": ("DELETE FROM leases WHERE day < ?", (before_day,)),
            "cap_shares": ("DELETE FROM cap_shares WHERE day < ?", (before_day,)),
            "staff_requests": ("DELETE FROM staff_requests WHERE at_ms < ?", (before_ms,)),
            "staff_sessions": ("DELETE FROM staff_sessions WHERE expires_ms < ?", (before_ms,)),
        }
        return {table: self.conn.execute(sql, args).rowcount for table, (sql, args) in steps.items()}

    def next_version(self, key: str) -> int:
        """A persisted, strictly increasing version for a retained document."""
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (f"version:{key}",)).fetchone()
        version = (int(row[0]) if row else 0) + 1
        self.conn.execute(_SET_META, (f"version:{key}", str(version)))
        return version


_SET_META = "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value"


class _Txn:
    def __init__(self, conn: sql.Conn, on_rollback: Callable[[], None] = lambda: None) -> None:
        self.conn = conn
        self.on_rollback = on_rollback

    def __enter__(self) -> sql.Conn:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
            self.on_rollback()
