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
import sys
from pathlib import Path
from typing import Any

from common.cli import OneLineParser, fail
from office.ward_bridge import (
    DEFAULT_CONSUMER,
    BridgeTLS,
    CentralFiles,
    branch_bridge_conf,
    bridge_user,
    central_acl_text,
    central_conf_text,
    parse_address,
)

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
    return ward


def run(args: argparse.Namespace) -> int:
    """Carry out one ``ward`` action; errors are one line on stderr (exit 2)."""
    try:
        return _broker_files(args)
    except ValueError as err:
        fail(PROG, str(err))
    except OSError as err:
        fail(PROG, f"cannot write {err.filename or args.out}: {err.strerror or err}")


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
