"""Staff accounts, their sessions, the audit log and the counters' state, in the office store.

The office loop is the one writer: the console reads these tables over its own read-only
connection and asks the loop for every change (sign-in included). The command line
(``madoguchi-office users``) writes accounts directly, like the registry import: an account is
an administrator's act, not a counter's.

Passwords are hashed with Argon2id (argon2-cffi, its default RFC 9106 parameters); a session is
known by the SHA-256 of its cookie's token, so a copy of the store opens no session.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from office import sql
from office.actions import ROLES, Role
from office.domain import OfficeError

_HASHER = PasswordHasher()
USERNAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789._-"
MIN_PASSWORD = 10


class StaffError(OfficeError):
    """A staff account operation that cannot be done; the message names what and how to fix it."""


@dataclass(frozen=True)
class StaffUser:
    """A staff account (never with its password)."""

    username: str
    display_name: str
    role: Role
    disabled: bool
    failures: int
    locked_until_ms: int

    def locked(self, now_ms: int) -> bool:
        """Whether repeated wrong passwords lock the account now."""
        return self.locked_until_ms > now_ms


@dataclass(frozen=True)
class Session:
    """A signed-in console: who, at which counter, until when, and its CSRF token."""

    username: str
    counter: int | None
    csrf: str
    created_ms: int
    expires_ms: int


@dataclass(frozen=True)
class AuditRow:
    """One line of the audit log: who did what, where, when, and whether it was carried out."""

    at_ms: int
    username: str | None
    counter: int | None
    action: str
    ticket_id: str | None
    ok: bool
    detail: str


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` (StaffError when it is too short to be a password)."""
    if len(password) < MIN_PASSWORD:
        raise StaffError(f"a password needs at least {MIN_PASSWORD} characters")
    return _HASHER.hash(password)


def password_matches(stored_hash: str, password: str) -> bool:
    """Whether ``password`` is the one ``stored_hash`` was made from (constant-time in argon2)."""
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_session_token() -> str:
    """A session cookie's token: 256 random bits."""
    return secrets.token_urlsafe(32)


def session_key(token: str) -> str:
    """How the store knows a session: the SHA-256 of its token."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def check_username(username: str) -> str:
    """A username as staff type it: 2-32 lower-case letters, digits, '.', '_' or '-'."""
    if not 2 <= len(username) <= 32 or any(ch not in USERNAME_CHARS for ch in username):
        raise StaffError(f"username {username!r}: use 2-32 lower-case letters, digits, '.', '_' or '-' (e.g. suzuki.h)")
    return username


def check_role(role: str) -> Role:
    """A role name, or StaffError listing the roles."""
    for known in ROLES:
        if role == known:
            return known
    raise StaffError(f"role {role!r}: use one of {', '.join(ROLES)}")


class StaffStore:
    """The staff tables over one connection (the office loop's, or the command line's)."""

    def __init__(self, conn: sql.Conn) -> None:
        self.conn = conn

    # -- accounts ----------------------------------------------------------------------------

    def add_user(self, username: str, display_name: str, role: str, password: str, now_ms: int) -> StaffUser:
        """A new account; StaffError when the name is taken or a value cannot be used."""
        return self.add_user_hashed(username, display_name, role, hash_password(password), now_ms)

    def add_user_hashed(
        self, username: str, display_name: str, role: str, password_hash: str, now_ms: int
    ) -> StaffUser:
        """A new account whose password was hashed already (by the console, off the loop)."""
        check_username(username)
        checked_role = check_role(role)
        if not display_name.strip() or len(display_name) > 60:
            raise StaffError("display name: give the name colleagues know, up to 60 characters")
        try:
            with sql.guarded(self.conn):
                self.conn.execute(
                    "INSERT INTO staff_users(username, display_name, role, password_hash, created_ms, changed_ms)"
                    " VALUES (?,?,?,?,?,?)",
                    (username, display_name.strip(), checked_role, password_hash, now_ms, now_ms),
                )
        except sql.IntegrityError as err:
            raise StaffError(f"user {username!r} exists already; use passwd to change the password") from err
        user = self.user(username)
        if user is None:  # inserted just now, in this transaction: only a broken store gets here
            raise StaffError(f"user {username!r} was not stored; check the office store")
        return user

    def set_password(self, username: str, password: str, now_ms: int) -> None:
        """Change a password; it also lifts a lockout."""
        self.set_password_hash(username, hash_password(password), now_ms)

    def set_password_hash(self, username: str, password_hash: str, now_ms: int) -> None:
        """Change a password to one hashed already."""
        changed = self.conn.execute(
            "UPDATE staff_users SET password_hash=?, failures=0, locked_until_ms=0, changed_ms=? WHERE username=?",
            (password_hash, now_ms, username),
        ).rowcount
        if not changed:
            raise StaffError(f"no user {username!r}; see users list")

    def set_disabled(self, username: str, disabled: bool, now_ms: int) -> None:
        """Disable (or enable) an account; a disabled account's sessions end."""
        changed = self.conn.execute(
            "UPDATE staff_users SET disabled=?, changed_ms=? WHERE username=?", (int(disabled), now_ms, username)
        ).rowcount
        if not changed:
            raise StaffError(f"no user {username!r}; see users list")
        if disabled:
            self.conn.execute(
                "UPDATE staff_sessions SET ended_ms=? WHERE username=? AND ended_ms IS NULL", (now_ms, username)
            )

    def user(self, username: str) -> StaffUser | None:
        """An account by name."""
        row = self.conn.execute("SELECT * FROM staff_users WHERE username=?", (username,)).fetchone()
        return _user(row) if row else None

    def password_hash(self, username: str) -> str | None:
        """An account's stored hash (for the console's check, on its read-only connection)."""
        row = self.conn.execute("SELECT password_hash FROM staff_users WHERE username=?", (username,)).fetchone()
        return str(row[0]) if row else None

    def users(self) -> list[StaffUser]:
        """Every account, by name."""
        return [_user(r) for r in self.conn.execute("SELECT * FROM staff_users ORDER BY username")]

    def failed_sign_in(self, username: str, now_ms: int, *, limit: int, lock_ms: int) -> StaffUser | None:
        """Count a wrong password; ``limit`` in a row lock the account for ``lock_ms``."""
        user = self.user(username)
        if user is None:
            return None
        failures = user.failures + 1
        locked = now_ms + lock_ms if failures >= limit else user.locked_until_ms
        self.conn.execute(
            "UPDATE staff_users SET failures=?, locked_until_ms=? WHERE username=?",
            (0 if failures >= limit else failures, locked, username),
        )
        return self.user(username)

    def signed_in(self, username: str) -> None:
        """A right password: the count of wrong ones starts again."""
        self.conn.execute("UPDATE staff_users SET failures=0 WHERE username=?", (username,))

    # -- sessions ----------------------------------------------------------------------------

    def open_session(self, key: str, username: str, counter: int | None, csrf: str, now_ms: int, ttl_ms: int) -> None:
        """Remember a signed-in console under its key (the hash of its cookie's token)."""
        self.conn.execute(
            "INSERT INTO staff_sessions(token_hash, username, counter, csrf, created_ms, expires_ms) VALUES (?,?,?,?,?,?)",
            (key, username, counter, csrf, now_ms, now_ms + ttl_ms),
        )

    def session(self, key: str, now_ms: int) -> Session | None:
        """A live session (not ended, not expired, its account not disabled), or None."""
        row = self.conn.execute(
            "SELECT s.* FROM staff_sessions s JOIN staff_users u ON u.username = s.username"
            " WHERE s.token_hash=? AND s.ended_ms IS NULL AND s.expires_ms>? AND u.disabled=0",
            (key, now_ms),
        ).fetchone()
        if row is None:
            return None
        return Session(row["username"], row["counter"], row["csrf"], row["created_ms"], row["expires_ms"])

    def end_session(self, key: str, now_ms: int) -> None:
        """Sign a console out."""
        self.conn.execute("UPDATE staff_sessions SET ended_ms=? WHERE token_hash=? AND ended_ms IS NULL", (now_ms, key))

    # -- counters ----------------------------------------------------------------------------

    def set_counter(self, number: int, *, open_: bool, username: str | None, now_ms: int) -> None:
        """A counter opened (by whom) or closed."""
        self.conn.execute(
            "INSERT INTO counter_state(number, open, username, since_ms) VALUES (?,?,?,?)"
            " ON CONFLICT(number) DO UPDATE SET open=excluded.open, username=excluded.username,"
            " since_ms=excluded.since_ms",
            (number, int(open_), username, now_ms),
        )

    def counters(self) -> dict[int, tuple[bool, str | None, int]]:
        """Every counter's state: (open, who opened it, since)."""
        return {
            int(r["number"]): (bool(r["open"]), r["username"], int(r["since_ms"]))
            for r in self.conn.execute("SELECT * FROM counter_state")
        }

    # -- the audit log -------------------------------------------------------------------------

    def audit(
        self,
        at_ms: int,
        username: str | None,
        counter: int | None,
        action: str,
        *,
        ticket_id: str | None = None,
        ok: bool = True,
        detail: Mapping[str, Any] | str = "",
        request_id: str | None = None,
    ) -> None:
        """Write one line of the audit log (in the caller's transaction)."""
        text = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False, sort_keys=True)
        self.conn.execute(
            "INSERT INTO audit(at_ms, username, counter, action, ticket_id, ok, detail, request_id)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (at_ms, username, counter, action, ticket_id, int(ok), text, request_id),
        )

    def audit_rows(self, *, since_ms: int = 0, limit: int = 200) -> Iterator[AuditRow]:
        """The audit log, newest first."""
        for r in self.conn.execute("SELECT * FROM audit WHERE at_ms>=? ORDER BY id DESC LIMIT ?", (since_ms, limit)):
            yield AuditRow(
                r["at_ms"], r["username"], r["counter"], r["action"], r["ticket_id"], bool(r["ok"]), r["detail"]
            )


def _user(row: sql.Row) -> StaffUser:
    return StaffUser(
        username=row["username"],
        display_name=row["display_name"],
        role=check_role(row["role"]),
        disabled=bool(row["disabled"]),
        failures=int(row["failures"]),
        locked_until_ms=int(row["locked_until_ms"]),
    )
