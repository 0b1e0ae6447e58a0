"""The office's book of kiosk certificate issuances, kiosk cash reports and kiosk sessions.

Three tables beside the office store's own (office/db.py), created here IF NOT EXISTS:

* ``cert_issuances``: one row per issue request, keyed by the kiosk's ``request_id``. A
  retried request gets the same row back - same issue number, same content - and never a
  second issuance; the same id with other parameters is refused. Issue numbers carry the
  office's site code and count up per business day (``chuo-20260401-00012``), unique by
  constraint. A kiosk that could not print reports ``issue_void``: the row stays (its number is
  never reused) and is marked void.
* ``cert_cash``: the kiosks' money outcomes (fee kept, refund paid, refund slip owed), keyed by
  the kiosk's event id, so a resent report is a no-op. :meth:`IssuanceBook.reconcile` compares
  them with the day's issuances per device.
* ``cert_sessions``: what a card holder was authenticated for (card, resident, kind, options,
  copies, fee) until it expires. Only a SHA-256 of the session token is stored. An issue made
  with a session is bound to it: it must match what was authenticated, and a session serves one
  request only (a second print for the same authentication is refused).

Every write runs in a SAVEPOINT: atomic on its own, and nestable inside the office loop's
``with db.transaction():`` (then that transaction's COMMIT makes it durable).

**Issue numbers across a ward.** An issue number leaves the office on paper and in the ward's
records, so it names its office: ``<site code>-<YYYYMMDD>-<seq>``, the site code being the
site's ``[kiosk] site_code`` or, by default, its site id (1-12 characters: it must fit the
certificate's header, one line of the receipt and ``IssueReply.issue_number``). Numbers issued
before site codes (``20260401-00012``) stay as they were printed; :func:`parse_issue_number`
and :meth:`IssuanceBook.by_number` take both forms. No schema change was needed: the row keeps the
whole number (``issue_number UNIQUE``) and the sequence still counts per business day in this
store (``UNIQUE(business_day, seq)``), so a store of an older office goes on from its day's
last number, in the new form, and a site code changed in the middle of a day cannot repeat a
number either. A book opened without a site code reads and reconciles but refuses to issue.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from itertools import count
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import msgspec

from certificates.rules import (
    CertificateError,
    CertificateKind,
    CertificateOptions,
    check_copies,
    parse_kind,
    parse_options,
)
from common.calendar import DEFAULT_ROLLOVER_HOUR, business_day
from common.validation import Invalid, convert, info
from office import sql
from office.domain import OfficeError
from sync import messages

SCHEMA = """
CREATE TABLE IF NOT EXISTS cert_issuances (
    request_id TEXT PRIMARY KEY, business_day TEXT NOT NULL, seq INTEGER NOT NULL,
    issue_number TEXT NOT NULL UNIQUE, device_id TEXT NOT NULL, card_serial TEXT NOT NULL,
    kind TEXT NOT NULL, options TEXT NOT NULL, copies INTEGER NOT NULL, fee INTEGER NOT NULL,
    issued_ms INTEGER NOT NULL, content TEXT, voided TEXT, voided_ms INTEGER,
    UNIQUE(business_day, seq)
);
CREATE INDEX IF NOT EXISTS cert_issuances_day_device ON cert_issuances(business_day, device_id);
CREATE TABLE IF NOT EXISTS cert_cash (
    event_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, business_day TEXT NOT NULL, type TEXT NOT NULL,
    amount INTEGER NOT NULL, request_id TEXT, at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS cert_cash_day ON cert_cash(business_day, device_id);
CREATE TABLE IF NOT EXISTS cert_sessions (
    token_hash TEXT PRIMARY KEY, card_serial TEXT NOT NULL, resident_id TEXT NOT NULL, kind TEXT NOT NULL,
    options TEXT NOT NULL, copies INTEGER NOT NULL, fee INTEGER NOT NULL, created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL, request_id TEXT
);
CREATE INDEX IF NOT EXISTS cert_sessions_expiry ON cert_sessions(expires_ms);
"""

DEFAULT_SESSION_TTL_MS = 10 * 60 * 1000  # card, choice, cash and print; a slow payer needs minutes
MAX_ID = 128
MAX_AMOUNT = 1_000_000  # yen in one cash report: far above ten copies of any certificate
MAX_SEQ = 99_999  # five digits in the issue number; no kiosk network issues more in one day
# The site code printed before the number: with "-YYYYMMDD-NNNNN" at most 27 characters, which
# stay on one line of the receipt on every 80 mm printer whatever the letters (12 "W"s in 512
# dots), and far within the A4 header and IssueReply's 64. The site file's check (sync/site.py,
# [kiosk] site_code) uses the same 12.
MAX_SITE_CODE = 12
SITE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,11}")
_ISSUE_NUMBER = re.compile(r"(?:(?P<site>[A-Za-z0-9][A-Za-z0-9_.-]{0,11})-)?(?P<day>[0-9]{8})-(?P<seq>[0-9]{5})")


class IssuanceError(OfficeError):
    """Root of the issuance book's errors."""


class RequestConflictError(IssuanceError):
    """A request or cash event id reused with different parameters (never silently accepted)."""


class SessionError(IssuanceError):
    """An issue whose session is unknown, expired, already used or for something else."""


def _canonical(options: Mapping[str, Any]) -> str:
    return json.dumps(options, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


# The arguments' types: checked in one place, by msgspec through common.validation, into a
# model per call (its fields name the arguments in the error).
Id = Annotated[str, info(min_length=1, max_length=MAX_ID, what=f"a non-empty id of at most {MAX_ID} characters")]
Yen = Annotated[int, info(ge=0, le=MAX_AMOUNT, what=f"whole yen from 0 to {MAX_AMOUNT}")]
Day = Annotated[date, info(what='a date like "2026-04-01"')]
Reason = Annotated[str, info(min_length=1, max_length=MAX_ID, what='a short reason code such as "print_failed"')]


class _IssueArgs(msgspec.Struct, frozen=True):
    request_id: Id
    device_id: Id
    card_serial: Id
    fee: Yen


class _SessionArgs(msgspec.Struct, frozen=True):
    card_serial: Id
    resident_id: Id
    fee: Yen


class _VoidArgs(msgspec.Struct, frozen=True):
    request_id: Id
    reason: Reason


class _DayArgs(msgspec.Struct, frozen=True):
    business_day: Day


class _CashArgs(msgspec.Struct, frozen=True):
    device_id: Id
    business_day: Day


A = TypeVar("A", bound=msgspec.Struct)


def _checked(model: type[A], **values: object) -> A:
    """The arguments as ``model``; IssuanceError naming the argument and what it must be."""
    try:
        return convert(values, model)
    except Invalid as err:
        raise IssuanceError(str(err)) from err


def _day(value: object) -> str:
    """A business day (a date, or its ISO text) as ISO text."""
    return _checked(_DayArgs, business_day=value).business_day.isoformat()


def _options_json(kind: CertificateKind, options: CertificateOptions | Mapping[str, Any]) -> str:
    """Options in one canonical JSON form, validated whether they came typed or from the wire."""
    try:
        if isinstance(options, Mapping):
            parsed = parse_options(kind, options)
        else:
            parsed = options
            if type(parsed) is not type(parse_options(kind, None)):
                raise IssuanceError(f"options: {type(options).__name__} are not {kind.value} options")
    except CertificateError as err:
        raise IssuanceError(str(err)) from err
    return _canonical(parsed.to_dict())


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_site_code(value: object) -> str:
    """A site code for issue numbers: 1-12 letters, digits, '.', '_' or '-', starting with a
    letter or digit; IssuanceError naming the site file's key otherwise."""
    if not isinstance(value, str) or SITE_CODE.fullmatch(value) is None:
        raise IssuanceError(
            f"site code {value!r}: expected 1-{MAX_SITE_CODE} letters, digits, '.', '_' or '-' to print in"
            ' issue numbers; set [kiosk] site_code = "chuo" (a short code unique in the ward) in the site file'
        )
    return value


# -- issue numbers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssueNumber:
    """An issue number taken apart: ``site`` is None for one issued before site codes."""

    site: str | None
    business_day: str  # ISO date
    seq: int

    def __str__(self) -> str:
        return format_issue_number(self.site, self.business_day, self.seq)


def format_issue_number(site: str | None, business_day: str, seq: int) -> str:
    """``chuo-20260401-00012``; without a site the old form ``20260401-00012`` (only to name
    a number issued before site codes: the book never issues one)."""
    day = _day(business_day)
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 < seq <= MAX_SEQ:
        raise IssuanceError(f"seq: expected 1 to {MAX_SEQ}, got {seq!r}")
    number = f"{day.replace('-', '')}-{seq:05d}"
    return number if site is None else f"{check_site_code(site)}-{number}"


def parse_issue_number(text: object) -> IssueNumber:
    """An issue number as printed or typed, in either form: ``chuo-20260401-00012`` or, issued
    before site codes, ``20260401-00012``. Full-width characters and surrounding spaces (typed
    from the paper with a Japanese input method) are taken as their ASCII. IssuanceError when it
    is no issue number."""
    if isinstance(text, str):
        cleaned = unicodedata.normalize("NFKC", text).strip()
        found = _ISSUE_NUMBER.fullmatch(cleaned)
        if found is not None:
            digits, seq = found["day"], int(found["seq"])
            try:
                day = date(int(digits[:4]), int(digits[4:6]), int(digits[6:])).isoformat()
            except ValueError:
                day = None
            if day is not None and 0 < seq:
                return IssueNumber(found["site"], day, seq)
    raise IssuanceError(
        f"issue number: expected one like chuo-20260401-00012 (or, issued before site codes, 20260401-00012),"
        f" got {text!r}"
    )


# -- values -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issuance:
    """One issued request: its issue number (発行番号), what was issued and the fee charged."""

    request_id: str
    issue_number: str
    business_day: str
    seq: int
    device_id: str
    card_serial: str
    kind: str
    options: Mapping[str, Any]
    copies: int
    fee: int
    issued_ms: int
    content: Mapping[str, Any] | None
    voided: str | None = None  # the kiosk's reason when it reported the certificate not printed

    def reply(self) -> messages.IssueReply:
        """The kiosk's "issue" reply: the issue number, the fee and the content to print.

        A voided issuance is never handed out again: its reply is a refusal.
        """
        if self.voided is not None:
            return messages.IssueReply(request_id=self.request_id, ok=False, refusal="go_to_counter")
        return messages.IssueReply(
            request_id=self.request_id,
            ok=True,
            issue_number=self.issue_number,
            fee=self.fee,
            certificate=dict(self.content) if self.content is not None else None,
        )


def _issuance(row: sql.Row | tuple[Any, ...]) -> Issuance:
    (request_id, day, seq, number, device, card, kind, options, copies, fee, issued_ms, content, voided) = tuple(row)
    return Issuance(
        request_id=request_id,
        issue_number=number,
        business_day=day,
        seq=seq,
        device_id=device,
        card_serial=card,
        kind=kind,
        options=json.loads(options),
        copies=copies,
        fee=fee,
        issued_ms=issued_ms,
        content=json.loads(content) if content is not None else None,
        voided=voided,
    )


_INSERT_COLUMNS = "request_id, business_day, seq, issue_number, device_id, card_serial, kind, options, copies, fee, issued_ms, content"
_ISSUANCE_COLUMNS = _INSERT_COLUMNS + ", voided"


class CashEventType(StrEnum):
    """A money outcome a kiosk reports for the office's daily reconciliation."""

    FEE_KEPT = "fee_kept"  # a certificate printed; its fee stays in the cashbox
    REFUND_PAID = "refund_paid"  # money given back (cancel, print failure)
    REFUND_OWED = "refund_owed"  # the hoppers ran dry: a refund slip was printed, a clerk pays


@dataclass(frozen=True)
class CashReport:
    """One kiosk cash event: ``event_id`` unique per kiosk event (e.g. ``kiosk-1:42``)."""

    event_id: str
    type: CashEventType
    amount: int
    request_id: str | None
    at_ms: int

    @classmethod
    def from_event(cls, event: messages.KioskCash) -> CashReport:
        """A ``kiosk.cash`` event's data (checked on arrival); IssuanceError when a kept fee
        names no issue request it paid for."""
        report = cls(
            event_id=event.event_id,
            type=CashEventType(event.kind),
            amount=event.amount,
            request_id=event.request_id,
            at_ms=event.at_ms,
        )
        if report.type is CashEventType.FEE_KEPT and report.request_id is None:
            raise IssuanceError("kiosk.cash: request_id: a kept fee must name the issue request it paid for")
        return report


@dataclass(frozen=True)
class DeviceTotals:
    """One kiosk's day: what the office issued against what the kiosk says it kept."""

    device_id: str
    issuances: int  # not voided
    voided: int
    fees_issued: int  # fees of the issuances that were not voided
    fee_kept: int
    refunds_paid: int
    refunds_owed: int


class MismatchKind(StrEnum):
    """Why an issuance and the cash reports disagree."""

    FEE_NOT_REPORTED = "fee_not_reported"  # issued, no kept fee reported (yet)
    REFUNDED = "refunded"  # issued, but the money was given back: did it print?
    AMOUNT_DIFFERS = "amount_differs"
    FEE_WITHOUT_ISSUANCE = "fee_without_issuance"  # money kept for a request the office never issued
    FEE_KEPT_ON_VOID = "fee_kept_on_void"  # the kiosk voided the issuance yet kept money for it


@dataclass(frozen=True)
class Mismatch:
    """One disagreement for the clerk to look into."""

    device_id: str
    request_id: str | None
    kind: MismatchKind
    expected: int  # the fee the office charged
    reported: int  # what the kiosk says it kept


@dataclass(frozen=True)
class Reconciliation:
    """A business day's kiosk money: totals per device, mismatches and refund slips owed."""

    business_day: str
    devices: tuple[DeviceTotals, ...]
    mismatches: tuple[Mismatch, ...]
    refund_slips: tuple[tuple[str, CashReport], ...]  # (device, report)

    @property
    def balanced(self) -> bool:
        """True when every issuance's fee was kept and nothing else was."""
        return not self.mismatches


@dataclass(frozen=True)
class Session:
    """What a card holder was authenticated for, until ``expires_ms``."""

    card_serial: str
    resident_id: str
    kind: str
    options: Mapping[str, Any]
    copies: int
    fee: int
    created_ms: int
    expires_ms: int
    request_id: str | None  # the issue request that used it, once one did


# -- the book ------------------------------------------------------------------------------------------


class IssuanceBook:
    """Issuances, cash reports and sessions over one connection (the office store's own)."""

    def __init__(
        self,
        conn: sql.Conn,
        tz: ZoneInfo | None = None,
        rollover_hour: int = DEFAULT_ROLLOVER_HOUR,
        session_ttl_ms: int = DEFAULT_SESSION_TTL_MS,
        *,
        site_code: str | None = None,
    ) -> None:
        """``site_code`` begins every issue number (:func:`check_site_code`); without it the book
        reads and reconciles but refuses to issue."""
        if session_ttl_ms <= 0:
            raise IssuanceError(f"session_ttl_ms: expected a positive duration, got {session_ttl_ms}")
        self.site_code = None if site_code is None else check_site_code(site_code)
        self.conn = conn
        self.tz = tz if tz is not None else ZoneInfo("Asia/Tokyo")
        self.rollover_hour = rollover_hour
        self.session_ttl_ms = session_ttl_ms
        self._savepoints = count(1)
        with self._atomic():
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self.conn.execute(statement)

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        if not self.conn.in_transaction:
            # A transaction of its own: SQLite's SAVEPOINT would open one, PostgreSQL's refuses to.
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
            return
        name = f"issuance_{next(self._savepoints)}"
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.conn.execute(f"ROLLBACK TO {name}")
            self.conn.execute(f"RELEASE {name}")
            raise
        self.conn.execute(f"RELEASE {name}")

    def business_day(self, now_ms: int) -> str:
        """The business day (ISO date) an issuance at ``now_ms`` is numbered in."""
        return business_day(now_ms, self.tz, self.rollover_hour).isoformat()

    # -- issuances ------------------------------------------------------------------------------

    def issue(
        self,
        request_id: str,
        device_id: str,
        card_serial: str,
        kind: CertificateKind | str,
        options: CertificateOptions | Mapping[str, Any],
        copies: int,
        fee: int,
        now_ms: int,
        *,
        session_token: str | None = None,
        make_content: Callable[[str, date], Mapping[str, Any]] | None = None,
    ) -> Issuance:
        """Issue once per ``request_id``: a retry returns the first row (same number, same content).

        ``make_content(issue_number, business_day)`` builds the certificate inside the same
        transaction (nothing is recorded, and no number used, when it raises). With
        ``session_token`` the request must match that live, unused session. Raises
        :class:`RequestConflictError` when the id was used with other parameters,
        :class:`SessionError` for a bad session, :class:`IssuanceError` for bad arguments.
        """
        _checked(_IssueArgs, request_id=request_id, device_id=device_id, card_serial=card_serial, fee=fee)
        try:
            kind = parse_kind(kind)
            copies = check_copies(copies)
        except CertificateError as err:
            raise IssuanceError(str(err)) from err
        options_json = _options_json(kind, options)
        site_code = self.site_code
        if site_code is None:
            raise IssuanceError(
                "this issuance book was opened without the office's site code, so it cannot number a"
                " certificate; open it with site_code= (the site's [kiosk] site_code or its site id)"
            )
        wanted = {
            "device_id": device_id,
            "card_serial": card_serial,
            "kind": kind.value,
            "options": options_json,
            "copies": copies,
            "fee": fee,
        }
        with self._atomic():
            row = self.conn.execute(
                f"SELECT {_ISSUANCE_COLUMNS} FROM cert_issuances WHERE request_id=?", (request_id,)
            ).fetchone()
            if row is not None:
                existing = _issuance(row)
                have = {
                    "device_id": existing.device_id,
                    "card_serial": existing.card_serial,
                    "kind": existing.kind,
                    "options": _canonical(existing.options),
                    "copies": existing.copies,
                    "fee": existing.fee,
                }
                differ = sorted(k for k in wanted if wanted[k] != have[k])
                if differ:
                    raise RequestConflictError(
                        f"request_id {request_id}: already issued as {existing.issue_number} with other "
                        f"{', '.join(differ)}; a new request needs a new request_id"
                    )
                return existing
            if session_token is not None:
                self._claim_session(session_token, request_id, wanted, now_ms)
            day = self.business_day(now_ms)
            (last,) = self.conn.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM cert_issuances WHERE business_day=?", (day,)
            ).fetchone()
            seq = int(last) + 1
            if seq > MAX_SEQ:
                raise IssuanceError(f"business day {day}: all {MAX_SEQ} issue numbers are used")
            number = format_issue_number(site_code, day, seq)
            content = None
            if make_content is not None:
                content = dict(make_content(number, date.fromisoformat(day)))
            self.conn.execute(
                f"INSERT INTO cert_issuances({_INSERT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    request_id,
                    day,
                    seq,
                    number,
                    device_id,
                    card_serial,
                    kind.value,
                    options_json,
                    copies,
                    fee,
                    now_ms,
                    None if content is None else json.dumps(content, ensure_ascii=False),
                ),
            )
        return Issuance(
            request_id,
            number,
            day,
            seq,
            device_id,
            card_serial,
            kind.value,
            json.loads(options_json),
            copies,
            fee,
            now_ms,
            content,
        )

    def void(self, request_id: str, reason: str, now_ms: int) -> Issuance | None:
        """Record the kiosk's ``issue_void``: nothing printed, so no fee is due.

        Idempotent (the first reason stays); None when the office never issued ``request_id``.
        The issue number stays used: a number that may be on a half-printed page is never reused.
        """
        _checked(_VoidArgs, request_id=request_id, reason=reason)
        with self._atomic():
            self.conn.execute(
                "UPDATE cert_issuances SET voided=?, voided_ms=? WHERE request_id=? AND voided IS NULL",
                (reason, now_ms, request_id),
            )
        return self.issuance(request_id)

    def issuance(self, request_id: str) -> Issuance | None:
        """One issuance by its request id."""
        row = self.conn.execute(
            f"SELECT {_ISSUANCE_COLUMNS} FROM cert_issuances WHERE request_id=?", (request_id,)
        ).fetchone()
        return None if row is None else _issuance(row)

    def by_number(self, issue_number: str) -> Issuance | None:
        """The issuance printed with ``issue_number``, in either form (:func:`parse_issue_number`);
        None when this store issued no such number (e.g. another office's). IssuanceError when
        the text is no issue number."""
        number = str(parse_issue_number(issue_number))
        row = self.conn.execute(
            f"SELECT {_ISSUANCE_COLUMNS} FROM cert_issuances WHERE issue_number=?", (number,)
        ).fetchone()
        return None if row is None else _issuance(row)

    def issuances(self, business_day: str | date) -> list[Issuance]:
        """The day's issuances in issue-number order."""
        day = _day(business_day)
        rows = self.conn.execute(
            f"SELECT {_ISSUANCE_COLUMNS} FROM cert_issuances WHERE business_day=? ORDER BY seq", (day,)
        )
        return [_issuance(r) for r in rows]

    # -- sessions -----------------------------------------------------------------------------------

    def open_session(
        self,
        card_serial: str,
        resident_id: str,
        kind: CertificateKind | str,
        options: CertificateOptions | Mapping[str, Any],
        copies: int,
        fee: int,
        now_ms: int,
    ) -> str:
        """Record an authenticated request; return its token (random, 256 bits, URL-safe)."""
        _checked(_SessionArgs, card_serial=card_serial, resident_id=resident_id, fee=fee)
        try:
            kind = parse_kind(kind)
            copies = check_copies(copies)
        except CertificateError as err:
            raise IssuanceError(str(err)) from err
        token = secrets.token_urlsafe(32)
        with self._atomic():
            self.conn.execute(
                "INSERT INTO cert_sessions(token_hash, card_serial, resident_id, kind, options, copies, fee,"
                " created_ms, expires_ms) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    _token_hash(token),
                    card_serial,
                    resident_id,
                    kind.value,
                    _options_json(kind, options),
                    copies,
                    fee,
                    now_ms,
                    now_ms + self.session_ttl_ms,
                ),
            )
        return token

    def choose_members(self, token: str, options: CertificateOptions | Mapping[str, Any], now_ms: int) -> Session:
        """Record the household members chosen after authentication (住民票, scope "members").

        The kiosk learns the household only from the authentication's answer, so the members
        come with the issue request; only a live, unused session of a 住民票 may change, and only
        its members. The caller checks eligibility with the new options first."""
        live = self.session(token, now_ms)
        if live is None:
            raise SessionError("session_token: unknown or expired; authenticate the card again")
        if live.request_id is not None:
            raise SessionError("session_token: already used; one authentication prints once")
        kind = parse_kind(live.kind)
        new = json.loads(_options_json(kind, options))
        old = dict(live.options)
        if kind is not CertificateKind.JUMINHYO or {k: v for k, v in new.items() if k != "members"} != {
            k: v for k, v in old.items() if k != "members"
        }:
            raise SessionError("session_token: only the chosen members of a 住民票 may change after authentication")
        with self._atomic():
            self.conn.execute(
                "UPDATE cert_sessions SET options=? WHERE token_hash=?", (_canonical(new), _token_hash(token))
            )
        updated = self.session(token, now_ms)
        if updated is None:  # cannot happen within one connection; said plainly if it does
            raise SessionError("session_token: vanished while choosing members")
        return updated

    def session(self, token: str, now_ms: int) -> Session | None:
        """The live session of ``token``; None when unknown or expired."""
        if not isinstance(token, str) or not token:
            return None
        row = self.conn.execute(
            "SELECT card_serial, resident_id, kind, options, copies, fee, created_ms, expires_ms, request_id"
            " FROM cert_sessions WHERE token_hash=?",
            (_token_hash(token),),
        ).fetchone()
        if row is None or now_ms >= row[7]:
            return None
        return Session(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6], row[7], row[8])

    def end_session(self, token: str) -> None:
        """Forget a session (the card was removed, or the resident cancelled)."""
        with self._atomic():
            self.conn.execute("DELETE FROM cert_sessions WHERE token_hash=?", (_token_hash(token),))

    def purge_sessions(self, now_ms: int) -> int:
        """Delete expired sessions; return how many."""
        with self._atomic():
            return self.conn.execute("DELETE FROM cert_sessions WHERE expires_ms<=?", (now_ms,)).rowcount

    def _claim_session(self, token: str, request_id: str, wanted: Mapping[str, Any], now_ms: int) -> None:
        live = self.session(token, now_ms)
        if live is None:
            raise SessionError("session_token: unknown or expired; authenticate the card again")
        if live.request_id is not None and live.request_id != request_id:
            raise SessionError(
                f"session_token: already used by request {live.request_id}; one authentication prints once"
            )
        have = {
            "card_serial": live.card_serial,
            "kind": live.kind,
            "options": _canonical(live.options),
            "copies": live.copies,
            "fee": live.fee,
        }
        differ = sorted(k for k in have if have[k] != wanted[k])
        if differ:
            raise SessionError(f"session_token: authenticated for other {', '.join(differ)}; authenticate again")
        self.conn.execute("UPDATE cert_sessions SET request_id=? WHERE token_hash=?", (request_id, _token_hash(token)))

    # -- cash ------------------------------------------------------------------------------------------

    def record_cash(self, device_id: str, business_day: str | date, report: CashReport) -> bool:
        """Store a kiosk cash report once; False for a resent duplicate.

        Raises :class:`RequestConflictError` when the event id was stored with other content.
        """
        day = _checked(_CashArgs, device_id=device_id, business_day=business_day).business_day.isoformat()
        values = (report.event_id, device_id, day, report.type.value, report.amount, report.request_id, report.at_ms)
        with self._atomic():
            row = self.conn.execute(
                "SELECT event_id, device_id, business_day, type, amount, request_id, at_ms FROM cert_cash WHERE event_id=?",
                (report.event_id,),
            ).fetchone()
            if row is not None:
                if tuple(row) != values:
                    raise RequestConflictError(f"cash event {report.event_id}: already recorded with other content")
                return False
            self.conn.execute(
                "INSERT INTO cert_cash(event_id, device_id, business_day, type, amount, request_id, at_ms)"
                " VALUES (?,?,?,?,?,?,?)",
                values,
            )
        return True

    def reconcile(self, business_day: str | date) -> Reconciliation:
        """Compare each kiosk's kept fees with the office's issuances of the day."""
        day = _day(business_day)
        issued = self.issuances(day)
        reports: list[tuple[str, CashReport]] = [
            (r[0], CashReport(r[1], CashEventType(r[2]), r[3], r[4], r[5]))
            for r in self.conn.execute(
                "SELECT device_id, event_id, type, amount, request_id, at_ms FROM cert_cash"
                " WHERE business_day=? ORDER BY at_ms, event_id",
                (day,),
            )
        ]
        kept: dict[tuple[str, str | None], int] = {}
        refunded: dict[tuple[str, str | None], int] = {}
        for device, r in reports:
            bucket = kept if r.type is CashEventType.FEE_KEPT else refunded
            bucket[(device, r.request_id)] = bucket.get((device, r.request_id), 0) + r.amount
        mismatches: list[Mismatch] = []
        issued_keys = set()
        for i in issued:
            key = (i.device_id, i.request_id)
            issued_keys.add(key)
            got = kept.get(key, 0)
            if i.voided is not None:
                if got:
                    mismatches.append(Mismatch(i.device_id, i.request_id, MismatchKind.FEE_KEPT_ON_VOID, 0, got))
                continue
            if got == i.fee:
                continue
            if got == 0 and refunded.get(key, 0) > 0:
                problem = MismatchKind.REFUNDED
            elif got == 0:
                problem = MismatchKind.FEE_NOT_REPORTED
            else:
                problem = MismatchKind.AMOUNT_DIFFERS
            mismatches.append(Mismatch(i.device_id, i.request_id, problem, i.fee, got))
        for (device, request_id), amount in sorted(kept.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
            if (device, request_id) not in issued_keys:
                mismatches.append(Mismatch(device, request_id, MismatchKind.FEE_WITHOUT_ISSUANCE, 0, amount))
        devices = sorted({i.device_id for i in issued} | {d for d, _ in reports})
        totals = []
        for device in devices:
            mine = [r for d, r in reports if d == device]
            valid = [i for i in issued if i.device_id == device and i.voided is None]
            totals.append(
                DeviceTotals(
                    device_id=device,
                    issuances=len(valid),
                    voided=sum(1 for i in issued if i.device_id == device and i.voided is not None),
                    fees_issued=sum(i.fee for i in valid),
                    fee_kept=sum(r.amount for r in mine if r.type is CashEventType.FEE_KEPT),
                    refunds_paid=sum(r.amount for r in mine if r.type is CashEventType.REFUND_PAID),
                    refunds_owed=sum(r.amount for r in mine if r.type is CashEventType.REFUND_OWED),
                )
            )
        slips = tuple((d, r) for d, r in reports if r.type is CashEventType.REFUND_OWED)
        return Reconciliation(day, tuple(totals), tuple(mismatches), slips)
