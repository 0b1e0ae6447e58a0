"""``madoguchi-office ward``: the deploy files of a ward's brokers (docs/ward.md).

    madoguchi-office ward broker-files --central centre.example.lg.jp:8883 \\
        --site demo-town --site branch2 --out ward-files [--tls-dir /etc/madoguchi/ward-tls]

Writes ``OUT/central/mosquitto.conf`` and ``OUT/central/acl`` (the central Mosquitto) and
``OUT/branches/<site>/ward-bridge.conf`` per branch (appended to that branch's mosquitto.conf).
Exit status: 0 written; 2 a mistake in the command (one line, naming the value and the fix).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from common.cli import OneLineParser, fail
from office.ward_bridge import (
    DEFAULT_CONSUMER,
    BridgeTLS,
    CentralFiles,
    branch_bridge_conf,
    bridge_user,
    central_acl_text,
    central_conf_text,
    check_site,
    parse_address,
)
from office.ward_consumer import WardConsumer
from sync import signing
from sync.errors import ProtocolError

PROG = "madoguchi-office ward"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``ward`` command (and its actions) to madoguchi-office's sub-parsers."""
    ward: argparse.ArgumentParser = sub.add_parser(
        "ward", help="a ward of branch offices bridged to a central broker (docs/ward.md)"
    )
    actions = ward.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    files = actions.add_parser("broker-files", help="write the central broker's files and each branch's bridge")
    files.add_argument("--central", required=True, metavar="HOST:PORT", help="the central broker, as branches reach it")
    files.add_argument(
        "--site", action="append", required=True, metavar="SITE", help="a branch's site id (repeat per branch)"
    )
    files.add_argument("--out", type=Path, required=True, metavar="DIR", help="where to write the files")
    files.add_argument(
        "--home",
        metavar="DIR",
        help="absolute folder of the central files on the central machine (default: OUT/central, absolute)",
    )
    files.add_argument(
        "--tls-dir",
        metavar="DIR",
        help="TLS files on every machine: ca.pem, central.pem/.key, bridge-SITE.pem/.key (default: plain TCP)",
    )
    files.add_argument("--bind", default="", metavar="ADDR", help="central listener address (default: all)")
    files.add_argument("--user", metavar="NAME", help="the user the central Mosquitto switches to when run as root")
    files.add_argument(
        "--consumer",
        action="append",
        metavar="NAME",
        help=f"an identity of the centre that reads every branch and commands them (default: {DEFAULT_CONSUMER})",
    )
    tls = actions.add_parser("tls", help="the ward's CA and the TLS files of the centre, its consumer and each bridge")
    tls.add_argument("--dir", type=Path, required=True, metavar="DIR", help="where the CA and the files go (kept)")
    tls.add_argument(
        "--central-host",
        action="append",
        required=True,
        metavar="HOST",
        help="the centre's name or address as branches reach it (repeat)",
    )
    tls.add_argument("--site", action="append", required=True, metavar="SITE", help="a branch's site id (repeat)")
    tls.add_argument("--consumer", default=DEFAULT_CONSUMER, help="the centre's consumer's name (its certificate's CN)")
    consume = actions.add_parser("consume", help="the centre: every branch's events and ticket log into PostgreSQL")
    consume.add_argument("--broker", required=True, metavar="HOST:PORT", help="the central broker")
    consume.add_argument("--dsn", required=True, help="PostgreSQL, e.g. postgresql://ward@localhost/ward")
    consume.add_argument("--user", default=DEFAULT_CONSUMER, help="the consumer's name in the central ACL")
    consume.add_argument(
        "--tls-dir", type=Path, metavar="DIR", help="ca.pem and the consumer's <user>.pem/.key (ward tls)"
    )
    consume.add_argument(
        "--key",
        type=Path,
        metavar="FILE",
        help="the centre office's signing key (office-signing.key in its --home): the branches' logs are"
        " acknowledged signed with it, as branches that pinned the centre's key require",
    )
    consume.add_argument(
        "--branch-key",
        action="append",
        default=[],
        metavar="SITE=KEY",
        help="a branch office's key (madoguchi-office security office-key there): its ticket log counts"
        " only when signed by it; give one per branch (none: the log is taken unchecked)",
    )
    lag = actions.add_parser("lag", help="how far behind each branch is at the centre")
    lag.add_argument("--dsn", required=True, help="PostgreSQL of the centre")
    figures = actions.add_parser("figures", help="the ward's figures (or some branches') from the centre's store")
    figures.add_argument("--dsn", required=True, help="PostgreSQL of the centre")
    figures.add_argument("--from", dest="first", required=True, metavar="YYYY-MM-DD", help="first business day")
    figures.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help="last business day (default: --from)")
    figures.add_argument("--site", action="append", default=[], help="a branch (repeat; default: all)")
    figures.add_argument("--config", type=Path, help="site configuration (TOML): zone, stations, target wait")
    return ward


def run(args: argparse.Namespace) -> int:
    """Carry out one ``ward`` action; errors are one line on stderr (exit 2)."""
    try:
        if args.action == "tls":
            return _tls(args)
        if args.action == "consume":
            return _consume(args)
        if args.action == "lag":
            return _lag(args)
        if args.action == "figures":
            return _figures(args)
        return _broker_files(args)
    except ValueError as err:
        fail(PROG, str(err))
    except psycopg.OperationalError as err:
        fail(PROG, f"PostgreSQL unreachable ({str(err).strip().splitlines()[0]}); check --dsn")
    except OSError as err:
        fail(PROG, f"cannot write {err.filename or args.out}: {err.strerror or err}")


def _tls(args: argparse.Namespace) -> int:
    import time

    from office.pki import OfficeCA, PkiError, write_private, write_public

    out: Path = args.dir
    sites = [check_site(s) for s in args.site]
    now = int(time.time() * 1000)
    try:
        ca = (
            OfficeCA.load(out / "ca") if (out / "ca").is_dir() else OfficeCA.create(out / "ca", site="ward", now_ms=now)
        )
        write_public(out / "ca.pem", ca.cert_pem)
        server = ca.issue_server(args.central_host, now_ms=now)
        write_private(out / "central.key", server.key_pem)
        write_public(out / "central.pem", server.cert_pem)
        for name in [*(bridge_user(s) for s in sites), args.consumer]:
            made = ca.issue_identity(name=name, role="ward", now_ms=now)
            write_private(out / f"{name}.key", made.key_pem)
            write_public(out / f"{name}.pem", made.cert_pem)
    except PkiError as err:
        raise ValueError(str(err)) from err
    print(
        f"{out}: ca.pem, central.pem/.key, {', '.join(bridge_user(s) for s in sites)} and {args.consumer} (.pem/.key)"
    )
    return 0


def _consume(args: argparse.Namespace) -> int:
    host, port = parse_address(args.broker)
    tls = None
    if args.tls_dir is not None:
        tls = (args.tls_dir / "ca.pem", args.tls_dir / f"{args.user}.pem", args.tls_dir / f"{args.user}.key")
    keys: dict[str, str] = {}
    for given in args.branch_key:
        site, _, key = given.partition("=")
        try:
            check_site(site)
            signing.parse_public_key(key)
        except (ProtocolError, ValueError, signing.OfficeKeyError) as err:
            fail(PROG, f"--branch-key {given[:40]!r}: {err}; give SITE=ed25519:… as the branch's office prints it")
        keys[site] = key
    signer = None
    if args.key is not None:
        if not args.key.is_file():  # a new key here would be one no branch pinned
            fail(PROG, f"--key {args.key}: no such file; give the centre office's office-signing.key")
        try:
            signer = signing.OfficeSigner(signing.load_or_create_key(args.key))
        except (OSError, signing.OfficeKeyError) as err:
            fail(PROG, f"--key {args.key}: {err}; give the centre office's office-signing.key")
    consumer = WardConsumer(host, port, args.dsn, username=args.user, tls=tls, branch_keys=keys, signer=signer)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    consumer.start()
    print(f"ward: consuming from {host}:{port} into PostgreSQL; Ctrl-C stops", flush=True)
    try:
        stopping.wait()
    finally:
        consumer.stop()
    return 0


def _lag(args: argparse.Namespace) -> int:
    rows = WardConsumer("127.0.0.1", 1, args.dsn).lag()
    if not rows:
        print("no branch heard from yet")
    for r in rows:
        behind = "-" if r.behind_ms is None else f"{r.behind_ms / 1000:.0f} s"
        silent = "-" if r.silent_ms is None else f"{r.silent_ms / 1000:.0f} s"
        print(f"{r.site:<20} {r.events:>9} events  newest event {behind} ago  last heard {silent} ago")
    return 0


def _figures(args: argparse.Namespace) -> int:
    from office import config as configmod
    from office.stats import figures
    from office.ward_stats import central_figures

    site = configmod.load(args.config)
    try:
        first = date.fromisoformat(args.first)
        last = date.fromisoformat(args.last) if args.last else first
    except ValueError:
        raise ValueError("--from/--to: write the days as YYYY-MM-DD, e.g. 2026-04-01") from None
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}; swap them")
    made = central_figures(
        args.dsn,
        first,
        last,
        tz=ZoneInfo(site.timezone),
        target_wait_s=site.congestion.target_wait_minutes * 60,
        stations=[s.code for s in site.stations],
        sites=args.site,
    )
    for table in figures.tables(made):
        if table.name in ("summary", "by_purpose"):
            print(table.title)
            print("\t".join(table.columns))
            for row in table.rows:
                print("\t".join("" if v is None else str(v) for v in row))
    return 0


def _broker_files(args: argparse.Namespace) -> int:
    _, port = parse_address(args.central)
    out: Path = args.out
    home = args.home if args.home is not None else str((out / "central").resolve())
    tls_dir = args.tls_dir.rstrip("/") if args.tls_dir else None
    if tls_dir is not None and not tls_dir.startswith("/"):
        raise ValueError(f"--tls-dir {tls_dir!r} is not absolute: give the folder as every machine sees it")
    central_tls = (
        None if tls_dir is None else BridgeTLS(f"{tls_dir}/ca.pem", f"{tls_dir}/central.pem", f"{tls_dir}/central.key")
    )
    sites: list[str] = args.site
    consumers: list[str] = args.consumer or [DEFAULT_CONSUMER]
    # Everything is rendered (and so checked) before anything is written.
    texts: dict[Path, str] = {
        out / "central" / "mosquitto.conf": central_conf_text(
            sites, CentralFiles(home, central_tls), port=port, bind_address=args.bind, run_as_user=args.user
        ),
        out / "central" / "acl": central_acl_text(sites, consumers),
    }
    for site in sites:
        tls = None
        if tls_dir is not None:
            name = bridge_user(site)
            tls = BridgeTLS(f"{tls_dir}/ca.pem", f"{tls_dir}/{name}.pem", f"{tls_dir}/{name}.key")
        texts[out / "branches" / site / "ward-bridge.conf"] = branch_bridge_conf(site, args.central, tls=tls)
    (out / "central" / "data").mkdir(parents=True, exist_ok=True)
    for path, text in texts.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        print(path)
    if tls_dir is None:
        print(f"{PROG}: plain TCP: give --tls-dir for anything but a closed test network", file=sys.stderr)
    return 0
