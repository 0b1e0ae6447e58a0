"""madoguchi-office: run the office server, give staff commands, inspect the store.

    madoguchi-office serve [--config site.toml] [--db office.sqlite3] [--sim-staff 5]
    madoguchi-office staff call next at counter 3
    madoguchi-office staff advance 1105 to review
    madoguchi-office status
    madoguchi-office kiosk-report [--day yesterday] [--out /var/lib/madoguchi/reports]
    madoguchi-office registry status|load-demo|export FILE|import FILE   (docs/registry.md)
    madoguchi-office check-config site.toml
    madoguchi-office users add suzuki.h --name "鈴木 花子" --role clerk
    madoguchi-office users passwd|disable|enable suzuki.h;  madoguchi-office users list

Security and enrolment (docs/security.md; ``--home`` defaults to $MADOGUCHI_SECURITY_HOME or
/var/lib/madoguchi/security, ``--db`` of the enrolment commands to $MADOGUCHI_OFFICE_DB or
/var/lib/madoguchi/office.sqlite3):

    madoguchi-office security init --home H --host office.local --host 192.168.10.5 [--port 8883]
    madoguchi-office security revoke disp-1 [--reason retired]
    madoguchi-office security identity terminal-3 --role staff
    madoguchi-office enrol token disp-1 --role dispenser [--hours 24]
    madoguchi-office enrol serve [--port 8443]
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certificates.errors import CertificateDomainError
from common.cli import OneLineParser, add_common, fail, setup_logging
from office import config as configmod
from office import registry_cli, sql, stats_cli, ward_cli
from office.db import OfficeDB
from office.domain import OfficeError
from office.identity import office_public_key, signing_key_path
from sync import messages, protocol, signing
from sync.errors import ProtocolError, SyncError

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from office.issuance import Reconciliation

PROG = "madoguchi-office"


def _parser() -> OneLineParser:
    parser = OneLineParser(prog=PROG, description="The madoguchi office server and staff commands.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    serve = sub.add_parser("serve", help="run the office server")
    add_common(serve)
    serve.add_argument("--config", type=Path, help="site configuration (TOML); default: the demo town")
    serve.add_argument(
        "--db",
        type=sql.address,
        default=Path("var/office.sqlite3"),
        help="office store: a SQLite file, or a PostgreSQL address postgresql://user@host/db",
    )
    serve.add_argument(
        "--home",
        type=Path,
        help="the office's own files (its signing key); default: the SQLite store's folder, required with PostgreSQL",
    )
    serve.add_argument("--sim-staff", type=float, metavar="SECONDS", help="simulate staff, one step every SECONDS")
    serve.add_argument("--seed", type=int, help="random seed for the simulated staff")
    serve.add_argument("--console-port", type=int, help="the staff console's port (default: [console] port)")
    serve.add_argument("--console-host", help="the staff console's address (default: [console] host)")
    serve.add_argument("--no-console", action="store_true", help="do not serve the staff console")
    serve.add_argument(
        "--security-home",
        type=Path,
        default=Path(os.environ.get("MADOGUCHI_SECURITY_HOME") or DEFAULT_SECURITY_HOME),
        help="the security home, for the console's 'add a device' (default: $MADOGUCHI_SECURITY_HOME or "
        "%(default)s; without a CA there, devices are not added from the console)",
    )
    serve.add_argument(
        "--enrol-port", type=int, default=8443, help="the enrolment endpoint's port the pairing codes name (8443)"
    )
    serve.add_argument("--pairing-host", help="the IPv4 address pairing codes name (default: from security init)")
    serve.add_argument(
        "--apt-repo",
        type=Path,
        default=Path(os.environ.get("MADOGUCHI_APT_REPO") or "/var/lib/madoguchi/apt"),
        help="the signed apt repository served to the devices at /apt/ on the console's port "
        "(madoguchi-office apt init; default: $MADOGUCHI_APT_REPO or %(default)s)",
    )

    users = sub.add_parser("users", help="staff accounts of the console: add, passwd, disable, enable, list")
    users.add_argument(
        "--db",
        type=sql.address,
        default=Path("var/office.sqlite3"),
        help="office store (SQLite file or postgresql://…)",
    )
    usub = users.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    add = usub.add_parser("add", help="add an account (asks for its password)")
    add.add_argument("username", help="2-32 lower-case letters, digits, '.', '_' or '-', e.g. suzuki.h")
    add.add_argument("--name", required=True, help="the name colleagues know, e.g. 鈴木 花子")
    add.add_argument("--role", required=True, help="clerk, input, floor or admin")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    passwd = usub.add_parser("passwd", help="set an account's password (lifts a lockout)")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    disable = usub.add_parser("disable", help="disable an account (its sessions end)")
    disable.add_argument("username")
    enable = usub.add_parser("enable", help="enable a disabled account")
    enable.add_argument("username")
    usub.add_parser("list", help="every account, its role and state")

    staff = sub.add_parser("staff", help="a staff command, e.g. 'call next at counter 3'")
    add_common(staff)
    staff.add_argument("--site", default="demo-town", help="site id (default: %(default)s)")
    staff.add_argument("--terminal", default="cli", help="staff terminal id (default: %(default)s)")
    staff.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the office")
    staff.add_argument("words", nargs="+", help="the command, e.g.: call next at counter 3")

    status = sub.add_parser("status", help="what the office store holds today")
    status.add_argument(
        "--db",
        type=sql.address,
        default=Path("var/office.sqlite3"),
        help="office store (SQLite file or postgresql://…)",
    )
    status.add_argument("--config", type=Path, help="site configuration (TOML)")

    report = sub.add_parser(
        "kiosk-report", help="a day's kiosk cash against the certificates issued (exit 1 on a mismatch)"
    )
    report.add_argument(
        "--db",
        type=sql.address,
        default=Path("var/office.sqlite3"),
        help="office store (SQLite file or postgresql://…)",
    )
    report.add_argument("--config", type=Path, help="site configuration (TOML)")
    report.add_argument("--day", help="business day: YYYY-MM-DD, today or yesterday (default: today)")
    report.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="also write the report to DIR/kiosk-cash-<day>.txt (DIR is created if missing)",
    )

    check = sub.add_parser("check-config", help="validate a site configuration")
    check.add_argument("path", type=Path)
    _security_parsers(sub)
    registry_cli.add_parser(sub)
    stats_cli.add_parsers(sub)
    ward_cli.add_parser(sub)
    return parser


DEFAULT_SECURITY_HOME = Path("/var/lib/madoguchi/security")
DEFAULT_ENROL_DB = Path("/var/lib/madoguchi/office.sqlite3")
OFFICE_ENV = "office.env"  # in the security home: MADOGUCHI_BROKER for the office unit


def _security_parsers(sub: Any) -> None:
    """``security init|revoke|identity`` and ``enrol token|serve``."""

    def home(p: OneLineParser) -> None:
        p.add_argument(
            "--home",
            type=Path,
            default=Path(os.environ.get("MADOGUCHI_SECURITY_HOME") or DEFAULT_SECURITY_HOME),
            help="the security home: CA, broker files, identities (default: $MADOGUCHI_SECURITY_HOME or %(default)s)",
        )

    def db(p: OneLineParser) -> None:
        p.add_argument(
            "--db",
            type=Path,
            default=Path(os.environ.get("MADOGUCHI_OFFICE_DB") or DEFAULT_ENROL_DB),
            help="the office store holding tokens and the device inventory "
            "(default: $MADOGUCHI_OFFICE_DB or %(default)s)",
        )

    security = sub.add_parser("security", help="the office CA, the broker's TLS files, identities, revocation")
    ssub = security.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    init = ssub.add_parser("init", help="create the CA (once), the office identity and the broker files")
    home(init)
    init.add_argument("--host", action="append", help="a name or address devices reach the office by (repeat)")
    init.add_argument("--port", type=int, help="the broker's TLS port (default: 8883, or the saved one)")
    init.add_argument("--bind-address", help="listen on this address only (default: every interface)")
    init.add_argument("--user", help="the user Mosquitto runs as when started by root (e.g. madoguchi)")
    init.add_argument("--config", type=Path, help="site configuration (TOML) naming the site; default: the demo town")
    revoke = ssub.add_parser("revoke", help="revoke a device's or identity's certificates and reload Mosquitto")
    revoke.add_argument("name", help="the device id or identity name")
    revoke.add_argument(
        "--reason",
        default="revoked",
        choices=["revoked", "key_compromise", "retired"],
        help="kept in the revocation list (default: %(default)s)",
    )
    home(revoke)
    db(revoke)
    key = ssub.add_parser(
        "office-key", help="print the office's public signing key, which devices pin (made if there is none)"
    )
    db(key)
    identity = ssub.add_parser("identity", help="make a staff terminal's or a monitor's identity at the office")
    identity.add_argument("name", help="the identity's name, e.g. terminal-3")
    identity.add_argument("--role", required=True, choices=["staff", "monitor"])
    home(identity)

    from office import apt_repo

    apt_repo.add_cli(sub)

    enrol = sub.add_parser("enrol", help="one-time tokens and the enrolment endpoint for lobby devices")
    esub = enrol.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    token = esub.add_parser("token", help="print a one-time enrolment token for a device")
    token.add_argument("device_id", help="the device's id, e.g. disp-1")
    token.add_argument("--role", required=True, help="dispenser, board, kiosk or staff")
    token.add_argument("--hours", type=float, default=24.0, help="how long the token stays valid (default: 24)")
    home(token)
    db(token)
    serve = esub.add_parser("serve", help="run the HTTPS enrolment endpoint until stopped")
    serve.add_argument("--port", type=int, default=8443, help="TCP port (default: %(default)s)")
    serve.add_argument("--bind", default="0.0.0.0", help="address to listen on (default: every interface)")
    serve.add_argument(
        "--broker-host", help="the broker host told to devices (default: the first --host of security init)"
    )
    serve.add_argument(
        "--apt-repo",
        type=Path,
        default=Path(os.environ.get("MADOGUCHI_APT_REPO") or "/var/lib/madoguchi/apt"),
        help="the office's apt repository, told to devices at pairing when it exists (default: %(default)s)",
    )
    serve.add_argument(
        "--apt-url", help="where devices fetch it (default: http://<broker host>:8080/apt/, the console's port)"
    )
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    home(serve)
    db(serve)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of madoguchi-office."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "staff":
            return _staff(args)
        if args.command == "apt":
            from office import apt_repo

            return apt_repo.run_cli(args)
        if args.command == "kiosk-report":
            return _kiosk_report(args)
        if args.command == "status":
            return _status(args)
        if args.command == "security":
            return _security(args)
        if args.command == "enrol":
            return _enrol(args)
        if args.command == "registry":
            return registry_cli.run(args)
        if args.command in ("report", "history"):
            return stats_cli.run(args)
        if args.command == "ward":
            return ward_cli.run(args)
        if args.command == "users":
            return _users(args)
        configmod.load(args.path)
        print(f"{args.path}: ok")
        return 0
    except (OfficeError, CertificateDomainError, SyncError) as err:
        fail(PROG, str(err))


def _serve(args: Any) -> int:
    from office.server import OfficeServer, make_sim_staff

    setup_logging(args.log_level)
    loaded = configmod.load_office(args.config)
    site = loaded.site
    sim = make_sim_staff(args.sim_staff, args.seed) if args.sim_staff else None
    try:
        server = OfficeServer(
            site, args.db, args.broker, home=args.home, sim_staff=sim, on_activity=lambda line: print(line, flush=True)
        )
    except OfficeError as err:
        fail(PROG, str(err))
    except sql.StoreErrors as err:
        fail(PROG, f"{sql.shown(args.db)}: the office store cannot be opened ({str(err).strip()}); check --db")
    stopping = threading.Event()

    def _term(_sig: int, _frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGINT, _term)
    from common.watchdog import Watchdog

    watchdog = Watchdog.from_environment()
    server.on_tick = watchdog.kick
    console = None
    if not args.no_console:
        from office.console.server import ConsoleServer

        host = args.console_host or site.console.host
        port = args.console_port or site.console.port
        console = ConsoleServer(
            server,
            host=host,
            port=port,
            pairing=_pairing_desk(args, server.wall_ms),
            apt_public=args.apt_repo / "public",
            desk_printer=loaded.desk_printer,
        )
    server.start()
    if console is not None:
        try:
            console.start()
        except RuntimeError as err:
            server.stop()
            fail(PROG, f"{err}; choose another with --console-port or [console] port")
        print(f"staff console on {console.url}", flush=True)
    watchdog.ready()
    print(f"office for {site.site} serving via {args.broker}; store {sql.shown(args.db)}", flush=True)
    while not stopping.wait(0.5):
        pass
    if console is not None:
        console.stop()
    server.stop()
    return 0


def _pairing_desk(args: Any, clock: Any) -> Any:
    """The console's "add a device", when the security home has a CA (else None: the page says so)."""
    from office import broker_security as bs
    from office.device_pairing import PairingDesk
    from office.enrolment import EnrolmentError
    from office.pki import PkiError

    home = bs.SecurityHome(args.security_home)
    if not (home.ca_dir / "ca.pem").exists():
        return None
    try:
        return PairingDesk.open(
            args.security_home, args.db, clock=clock, port=args.enrol_port, host=args.pairing_host or ""
        )
    except (EnrolmentError, bs.BrokerSecurityError, PkiError, OSError) as err:
        # The office serves on without it: the Devices page says devices cannot be added there.
        print(f"{PROG}: devices cannot be added from the console: {err}", file=sys.stderr, flush=True)
        return None


def _users(args: Any) -> int:
    """``users add|passwd|disable|enable|list``: accounts are written directly, like the registry
    import - an administrator's act at the office machine, not a counter's action."""
    from office.staff_store import StaffError, StaffStore

    if args.action != "list" and args.action != "add" and not sql.exists(args.db):
        fail(PROG, f"{sql.shown(args.db)}: no office store there (--db)")
    try:
        db = OfficeDB(args.db)
    except sql.StoreErrors as err:
        fail(PROG, f"{sql.shown(args.db)}: not an office store ({err}); check --db")
    store = StaffStore(db.conn)
    now = _now_ms()
    try:
        if args.action == "list":
            for u in store.users():
                state = "disabled" if u.disabled else ("locked" if u.locked(now) else "active")
                print(f"{u.username}\t{u.role}\t{state}\t{u.display_name}")
            return 0
        if args.action in ("add", "passwd"):
            password = _password(args.password_stdin)
            with db.transaction():
                if args.action == "add":
                    store.add_user(args.username, args.name, args.role, password, now)
                else:
                    store.set_password(args.username, password, now)
                store.audit(now, "cli", None, f"users_{args.action}", detail={"user": args.username})
            print(f"{args.username}: {'added' if args.action == 'add' else 'password changed'}")
            return 0
        with db.transaction():
            store.set_disabled(args.username, args.action == "disable", now)
            store.audit(now, "cli", None, f"users_{args.action}", detail={"user": args.username})
        print(f"{args.username}: {args.action}d")
        return 0
    except StaffError as err:
        fail(PROG, str(err))
    finally:
        db.close()


def _password(from_stdin: bool) -> str:
    """The new password: one line of standard input, or typed twice at the terminal."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("password (at least 10 characters): ")
    if getpass.getpass("the same again: ") != first:
        fail(PROG, "the two passwords differ; nothing changed")
    return first


def _staff(args: Any) -> int:
    from sync.link import Inbound, MqttLink

    protocol.check_id("site", args.site)
    protocol.check_id("terminal", args.terminal)
    request_id = uuid.uuid4().hex
    command = " ".join(args.words)
    replies: list[messages.StaffReply] = []
    got = threading.Event()

    def on_message(message: Inbound) -> None:
        try:
            doc = protocol.decode("staff_reply", message.payload)
        except SyncError:
            return
        if doc.request_id == request_id:
            replies.append(doc)
            got.set()

    link = MqttLink(
        args.broker,
        f"{args.site}-staff-{args.terminal}-{request_id[:6]}",
        subscriptions=[(protocol.topic("staff_reply", args.site, terminal=args.terminal), 1)],
        on_message=on_message,
    )
    link.start()
    try:
        if not link.wait_ready(args.timeout):
            fail(PROG, f"cannot reach the broker at {args.broker}; is it running? (--broker)")
        try:
            payload = protocol.encode(messages.StaffCommand(request_id=request_id, command=command))
        except ProtocolError as err:
            fail(PROG, f"the command cannot be sent: {err}")
        deadline = time.monotonic() + args.timeout
        # Resend with the same request id until answered: the office carries it out once.
        while not got.is_set() and time.monotonic() < deadline:
            link.publish(protocol.topic("staff_command", args.site, terminal=args.terminal), payload, qos=1)
            got.wait(min(2.0, max(0.0, deadline - time.monotonic())))
    finally:
        link.stop()
    if not replies:
        fail(
            PROG,
            f"the office did not answer within {args.timeout:g} s; is madoguchi-office serve running for site {args.site}?",
        )
    reply = replies[0]
    print(reply.message)
    return 0 if reply.ok else 1


def _status(args: Any) -> int:
    if not sql.exists(args.db):
        fail(PROG, f"{sql.shown(args.db)}: no office store there (--db)")
    site = configmod.load(args.config)
    try:
        db = OfficeDB(args.db)
    except sql.StoreErrors as err:
        fail(PROG, f"{sql.shown(args.db)}: not an office store ({err}); check --db")
    try:
        import zoneinfo

        from common.calendar import business_day

        day = business_day(int(time.time() * 1000), zoneinfo.ZoneInfo(site.timezone), site.rollover_hour).isoformat()
        tickets = db.tickets(day)
        by_status: dict[str, int] = {}
        for t in tickets:
            by_status[t.status.value] = by_status.get(t.status.value, 0) + 1
        out = {
            "business_day": day,
            "tickets": len(tickets),
            "by_status": by_status,
            "events": db.event_count(),
            "events_with_problems": db.problem_count(),
            "devices": [
                {
                    "device": r["device"],
                    "role": r["role"],
                    "state": r["state"],
                    "acked_seq": r["acked_seq"],
                    "highest_seq": db.highest_seq(r["device"]),
                    "printer": json.loads(r["printer"]) if r["printer"] else None,
                }
                for r in db.devices()
            ],
        }
        json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
        print()
    finally:
        db.close()
    return 0


def _kiosk_report(args: Any) -> int:
    """The daily reconciliation: per kiosk, fees of the certificates issued against the fees the
    kiosk kept, refunds paid and refund slips owed; every mismatch on its own line. With --out
    the same text also goes to DIR/kiosk-cash-<day>.txt (deploy/systemd/madoguchi-kiosk-report.*)."""
    import zoneinfo

    from office.issuance import IssuanceBook

    if not sql.exists(args.db):
        fail(PROG, f"{sql.shown(args.db)}: no office store there (--db)")
    site = configmod.load(args.config)
    tz = zoneinfo.ZoneInfo(site.timezone)
    day = _report_day(args.day, _now_ms(), tz, site.rollover_hour)
    try:
        db = OfficeDB(args.db)
    except sql.StoreErrors as err:
        fail(PROG, f"{sql.shown(args.db)}: not an office store ({err}); check --db")
    try:
        result = IssuanceBook(db.conn, tz=tz, rollover_hour=site.rollover_hour).reconcile(day)
    finally:
        db.close()
    text = _report_text(result)
    # Printed first, so the journal holds the report even when the file cannot be written.
    print(text, end="", flush=True)
    if args.out is not None:
        path = args.out / f"kiosk-cash-{result.business_day}.txt"
        try:
            _write_report(path, text)
        except OSError as err:
            fail(
                PROG,
                f"--out: cannot write {path} ({err.strerror or err}); give a directory this user can create and write",
            )
        print(f"written to {path}")
    return 0 if result.balanced else 1


REPORT_DAY_WORDS = ("today", "yesterday")
REPORT_FILE_MODE = 0o640  # the madoguchi group (the counter supervisor's login) may read the reports
REPORT_DIR_MODE = 0o750


def _report_day(value: str | None, now_ms: int, tz: ZoneInfo, rollover_hour: int) -> str:
    """--day as an ISO date: YYYY-MM-DD as given, ``today`` (the default) or ``yesterday``, the
    business day before the current one. The business day, not the calendar date: a run between
    midnight and the rollover hour still belongs to the day that started the evening before."""
    from datetime import date, timedelta

    from common.calendar import business_day

    if value is None or value in REPORT_DAY_WORDS:
        today = business_day(now_ms, tz, rollover_hour)
        return (today - timedelta(days=1) if value == "yesterday" else today).isoformat()
    try:
        # Exactly YYYY-MM-DD: Python 3.11 also takes 20261121 or 2026-W47-6, which the file name would keep.
        if date.fromisoformat(value).isoformat() == value:
            return value
    except ValueError:
        pass
    fail(PROG, f"--day: {value!r} is not a date like 2026-11-21 (or today, yesterday)")


def _report_text(result: Reconciliation) -> str:
    """The reconciliation as the lines staff read: a heading, one line per kiosk, then problems."""
    lines = [f"kiosk cash for {result.business_day}: {'balanced' if result.balanced else 'MISMATCHES'}"]
    for t in result.devices:
        lines.append(
            f"  {t.device_id}: {t.issuances} issued ({t.voided} void), fees {t.fees_issued} yen, "
            f"kept {t.fee_kept}, refunded {t.refunds_paid}, refund slips {t.refunds_owed}"
        )
    for m in result.mismatches:
        lines.append(
            f"  mismatch {m.kind.value}: {m.device_id} request {m.request_id or '-'}: "
            f"fee {m.expected} yen, kiosk says {m.reported}"
        )
    for device, slip in result.refund_slips:
        lines.append(f"  refund slip owed by {device}: {slip.amount} yen ({slip.event_id}) - pay at a counter")
    return "\n".join(lines) + "\n"


def _write_report(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically: a reader (or a run cut short by a power cut)
    sees the old report or the new one, never half of one. OSError when it cannot be written."""
    import tempfile

    directory = path.parent
    directory.mkdir(mode=REPORT_DIR_MODE, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fchmod(f.fileno(), REPORT_FILE_MODE)  # mkstemp makes 0600: the supervisor could not read it
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # The rename is durable only once the directory entry is on disk.
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# --------------------------------------------------------------------------------------------
# security and enrolment
# --------------------------------------------------------------------------------------------


def _now_ms() -> int:
    return int(time.time() * 1000)


def _initialised(home: Path) -> None:
    from office.broker_security import SecurityHome

    if not (SecurityHome(home).ca_dir / "ca.pem").exists():
        fail(
            PROG,
            f"{home}: no office CA there; run {PROG} security init --home {home} --host NAME first "
            "(or give --home / $MADOGUCHI_SECURITY_HOME)",
        )


def _broker_host(hosts: Sequence[str]) -> str:
    host = hosts[0] if hosts else "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _security(args: Any) -> int:
    from office import broker_security as bs
    from office.pki import OfficeCA

    if args.action == "office-key":
        path = signing_key_path(args.db)
        try:
            key = signing.load_or_create_key(path)
        except OSError as err:
            fail(PROG, f"cannot read or make the office's signing key {path}: {err.strerror or err}")
        print(signing.public_key_text(key.public_key()))
        print(
            f"(the public half of {path}; enrolment gives it to every device. For a device set up without "
            "enrolment: madoguchi-provision apply … then add it as device.office_key, or pass --office-key)",
            file=sys.stderr,
        )
        return 0
    home = bs.SecurityHome(args.home)
    if args.action == "init":
        return _security_init(args, home)
    _initialised(args.home)
    if args.action == "identity":
        made = bs.issue_identity(home, args.name, args.role, now_ms=_now_ms())
        files, reloaded = bs.apply(home, now_ms=_now_ms())
        settings = files.settings
        print(
            f"identity {made.name} ({made.role}) in {made.directory}: client.key (keep it secret), client.pem, ca.pem"
        )
        print(f"broker URL: {made.url(_broker_host(settings.hosts).strip('[]'), settings.port)}")
        print(
            "(the path names the files on this machine: copy the three files to the terminal and point the URL at them)"
        )
        print(_reload_note(reloaded))
        return 0
    settings = bs.load_settings(home)
    from office.enrolment import EnrolmentRegistry

    registry = EnrolmentRegistry.open(args.db, OfficeCA.load(home.ca_dir), settings.site)
    try:
        revocation = bs.revoke_device(home, args.name, now_ms=_now_ms(), reason=args.reason, registry=registry)
    finally:
        registry.close()
    serials = ", ".join(r.serial_hex[:12] for r in revocation.revoked) or "none still valid"
    print(f"revoked {args.name} ({args.reason}): certificate(s) {serials}; it is off the ACL and on the CRL")
    print(_reload_note(revocation.reloaded))
    return 0


def _reload_note(reloaded: bool) -> str:
    if reloaded:
        return "Mosquitto reloaded: the change is in force"
    return (
        "Mosquitto is not running from this home (no live pid file): the change takes effect when it starts; "
        "under systemd run: systemctl reload mosquitto"
    )


def _security_init(args: Any, home: Any) -> int:
    from office import broker_security as bs
    from office.pki import OfficeCA, fingerprint_text

    saved: bs.BrokerSettings | None = None
    if (home.broker_dir / "settings.json").exists():
        saved = bs.load_settings(home)
    site = configmod.load(args.config).site if args.config or saved is None else saved.site
    if saved is not None and saved.site != site:
        fail(PROG, f"{home.root} belongs to site {saved.site!r}, not {site!r}: use another --home for another site")
    hosts = tuple(args.host) if args.host else (saved.hosts if saved is not None else ())
    if not hosts:
        fail(PROG, "--host is required: every name and address devices use to reach the office (repeat --host)")
    base = saved if saved is not None else bs.BrokerSettings(site=site)
    settings = bs.BrokerSettings(
        **{
            **{k: getattr(base, k) for k in bs.BrokerSettings.__dataclass_fields__},
            "hosts": hosts,
            **({"port": args.port} if args.port is not None else {}),
            **({"bind_address": args.bind_address} if args.bind_address is not None else {}),
            **({"run_as_user": args.user} if args.user is not None else {}),
        }
    )
    existed = (home.ca_dir / "ca.pem").exists()
    files, office = bs.init_security(home, settings, now_ms=_now_ms())
    ca = OfficeCA.load(home.ca_dir)
    url = office.url("127.0.0.1", settings.port)
    from office.pki import write_public

    env = home.root / OFFICE_ENV
    write_public(
        env,
        (
            f"# Written by {PROG} security init: the office server's broker URL (its own TLS identity).\n"
            f'MADOGUCHI_BROKER="{url}"\n'
        ).encode(),
    )
    print(
        f"office CA ({'kept' if existed else 'created'}): {home.ca_dir}; fingerprint {fingerprint_text(ca.certificate)}"
    )
    print(f"office identity: {office.directory}")
    names = ", ".join(dict.fromkeys([*hosts, "127.0.0.1", "localhost"]))
    print(f"broker files: {files.conf} (TLS on port {settings.port}; the server certificate names {names})")
    print(
        f"run Mosquitto on it: mosquitto -c {files.conf} (systemd: deploy/systemd/mosquitto.service.d/madoguchi.conf)"
    )
    print(f"the office server connects with MADOGUCHI_BROKER from {env}")
    print(_reload_note(bs.reload_broker(files)))
    return 0


def _apt_offer(args: Any, hosts: Sequence[str]) -> tuple[str, tuple[str, ...], str] | None:
    """The office's apt repository as enrolled devices are told it, when it was made."""
    from office import apt_repo

    if not (args.apt_repo / "conf").is_dir():
        return None
    try:
        url = args.apt_url or f"http://{_broker_host(hosts)}:8080/apt/"
        return url, tuple(apt_repo.repo_components(args.apt_repo)), apt_repo.public_key(args.apt_repo)
    except apt_repo.AptRepoError as err:
        print(f"{PROG}: the apt repository is not told to devices: {err}", file=sys.stderr, flush=True)
        return None


def _enrol(args: Any) -> int:
    from office import broker_security as bs
    from office.enrolment import EnrolmentRegistry, issue_enrolment_token
    from office.pki import OfficeCA

    _initialised(args.home)
    home = bs.SecurityHome(args.home)
    settings = bs.load_settings(home)
    if args.action == "token":
        token = issue_enrolment_token(
            home,
            args.db,
            site=settings.site,
            device_id=args.device_id,
            role=args.role,
            now_ms=_now_ms(),
            valid_hours=args.hours,
        )
        from datetime import UTC, datetime

        host = _broker_host(settings.hosts)
        until = datetime.fromtimestamp(token.expires_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
        print(f"enrolment token for {token.device_id} ({token.role}), works once, valid until {until}:")
        print()
        print(token.text)
        print()
        print(f"on the device: madoguchi-provision enroll --office https://{host}:8443 --token {token.text}")
        return 0
    setup_logging(args.log_level)
    from office.enrol_http import EnrolServer

    files = bs.BrokerFiles(home.broker_dir, settings)
    broker = f"mqtts://{args.broker_host or _broker_host(settings.hosts)}:{settings.port}"
    registry = EnrolmentRegistry.open(args.db, OfficeCA.load(home.ca_dir), settings.site)

    def enrolled(device: Any) -> None:
        _files, reloaded = bs.apply(home, now_ms=_now_ms())
        print(f"enrolled {device.device_id} ({device.role}); ACL rewritten; {_reload_note(reloaded)}", flush=True)

    server = EnrolServer(
        registry,
        certfile=files.cert,
        keyfile=files.key,
        host=args.bind,
        port=args.port,
        broker=broker,
        # The server's key, beside the same store (made here if the enrolment endpoint runs first).
        office_key=office_public_key(args.db),
        apt=_apt_offer(args, settings.hosts),
        on_enrolled=enrolled,
    )
    from common.watchdog import Watchdog

    dog = Watchdog.from_environment()  # under systemd (deploy/systemd/madoguchi-enrol.service)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    try:
        server.start()
        print(
            f"enrolment endpoint on https://{args.bind}:{server.port} for site {settings.site}; "
            f"devices are told the broker {broker}",
            flush=True,
        )
        dog.ready()
        while not stopping.wait(0.5):
            dog.kick()
        dog.stopping()
    finally:
        server.stop()
        registry.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
