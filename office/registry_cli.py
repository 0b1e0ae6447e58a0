"""``madoguchi-office registry``: the resident registry in the office store (docs/registry.md).

    madoguchi-office registry status [--db var/office.sqlite3]
    madoguchi-office registry load-demo
    madoguchi-office registry load-synthetic --count 5000 --seed 7
    madoguchi-office registry export registry.json
    madoguchi-office registry import registry.json

Loading replaces the whole stored registry in one transaction; an import that fails a check
names the record and field and stores nothing. A running office looks residents up in the store
at each request, so it serves what was loaded from the next one on, without a restart. Exit status: 0 done; 1 the store holds no usable
registry (status, export); 2 a mistake in the command, the file or the data (one line, no
traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from certificates.errors import CertificateDomainError
from certificates.registry import DEMO_MUNICIPALITY, Registry, RegistryError, demo_registry, synthetic_households
from common.cli import OneLineParser, fail
from office import sql
from office.db import OfficeDB
from office.domain import OfficeError
from office.registry_store import (
    RegistrySummary,
    load_registry,
    registry_from_json,
    registry_json,
    registry_summary,
    save_households,
    save_registry,
)

PROG = "madoguchi-office registry"
DEFAULT_DB = Path("var/office.sqlite3")
MAX_SYNTHETIC = 1_000_000  # a ward of a big city (the registry bench loads this many)
MAX_IMPORT_BYTES = 512 * 1024 * 1024  # a whole city's registry is far below this


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``registry`` command (and its actions) to madoguchi-office's sub-parsers."""
    registry: argparse.ArgumentParser = sub.add_parser(
        "registry", help="the resident registry the kiosk certificates are made from (docs/registry.md)"
    )
    actions = registry.add_subparsers(dest="action", required=True, parser_class=OneLineParser)

    def db(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", type=Path, default=DEFAULT_DB, help="office store (SQLite) (default: %(default)s)")

    status = actions.add_parser("status", help="what the stored registry holds (exit 1 when none or unusable)")
    db(status)
    demo = actions.add_parser("load-demo", help="store the demo town's residents (their cards are SIM-0001..0007)")
    db(demo)
    synthetic = actions.add_parser("load-synthetic", help="store a synthetic town (load tests; cards SYN-000001..)")
    synthetic.add_argument("--count", type=_count, required=True, help=f"residents, 1 to {MAX_SYNTHETIC}")
    synthetic.add_argument("--seed", type=int, default=0, help="the same seed gives the same town (default: 0)")
    db(synthetic)
    export = actions.add_parser("export", help="write the stored registry as a JSON document (- for stdout)")
    export.add_argument("file", type=Path, metavar="FILE.json")
    db(export)
    load = actions.add_parser("import", help="check a JSON registry document and store it, replacing the registry")
    load.add_argument("file", type=Path, metavar="FILE.json")
    db(load)
    return registry


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_SYNTHETIC:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of residents from 1 to {MAX_SYNTHETIC}, got {text!r}"
        )
    return value


def run(args: argparse.Namespace) -> int:
    """Carry out one ``registry`` action; errors are one line on stderr (exit 1 or 2)."""
    try:
        if args.action == "status":
            return _status(args.db)
        if args.action == "export":
            return _export(args.db, args.file)
        if args.action == "load-demo":
            return _store(args.db, demo_registry(), "the demo town")
        if args.action == "load-synthetic":
            # Household by household: a ward's million residents are never held at once.
            town = synthetic_households(args.count, seed=args.seed)
            return _store(
                args.db,
                lambda conn: save_households(conn, DEMO_MUNICIPALITY, town),
                f"a synthetic town, seed {args.seed}",
            )
        return _import(args.db, args.file)
    except (OfficeError, CertificateDomainError) as err:
        fail(PROG, str(err))


def _open(path: Path, *, create: bool) -> OfficeDB:
    """The office store; a missing one is created only by the commands that load a registry."""
    if not create and not path.exists():
        fail(PROG, f"{path}: no office store there (--db)")
    if path.exists() and path.is_dir():
        fail(PROG, f"{path}: is a folder, not an office store (--db)")
    try:
        return OfficeDB(path)
    except (*sql.StoreErrors, OSError) as err:
        fail(PROG, f"{path}: not an office store ({err}); check --db")


def _counts(summary: RegistrySummary) -> str:
    c = summary.counts
    return (
        f"{c['residents']} residents, {c['households']} households, {c['seals']} seals,"
        f" {c['family_registers']} family registers, {c['tax_records']} tax records"
    )


def _store(path: Path, registry: Registry | Callable[[sql.Conn], RegistrySummary], what: str) -> int:
    db = _open(path, create=True)
    try:
        summary = registry(db.conn) if callable(registry) else save_registry(db.conn, registry)
    finally:
        db.close()
    print(f"stored the resident registry of {summary.municipality} ({what}) in {path}: {_counts(summary)}")
    print("a running office (madoguchi-office serve) serves it from its next kiosk request on")
    return 0


def _status(path: Path) -> int:
    db = _open(path, create=False)
    try:
        summary = registry_summary(db.conn)
        problem = None
        if summary.stored:
            try:
                load_registry(db.conn)
            except RegistryError as err:
                problem = str(err)
    finally:
        db.close()
    json.dump(
        {"db": str(path), **summary.to_dict(), "usable": summary.stored and problem is None, "problem": problem},
        sys.stdout,
        ensure_ascii=False,
        indent=2,
    )
    print()
    if not summary.stored:
        print(f"{PROG}: {path} holds no resident registry; load one (import FILE.json, load-demo)", file=sys.stderr)
        return 1
    if problem is not None:
        print(f"{PROG}: {problem}", file=sys.stderr)
        return 1
    return 0


def _export(path: Path, out: Path) -> int:
    db = _open(path, create=False)
    try:
        registry = load_registry(db.conn)
    finally:
        db.close()
    if registry is None:
        print(f"{PROG}: {path} holds no resident registry to export", file=sys.stderr)
        return 1
    data = registry_json(registry)
    if str(out) == "-":
        sys.stdout.write(data.decode("utf-8"))
        return 0
    try:
        _write_private(out, data)
    except OSError as err:
        fail(PROG, f"{out}: cannot write the export ({err.strerror})")
    print(f"exported the registry of {registry.municipality} ({len(registry.residents)} residents) to {out}")
    return 0


def _write_private(path: Path, data: bytes) -> None:
    """Write atomically and readable by the owner only: the file holds residents' personal data."""
    folder = path.resolve().parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _import(path: Path, source: Path) -> int:
    try:
        if source.stat().st_size > MAX_IMPORT_BYTES:
            fail(PROG, f"{source}: larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB; is it a registry document?")
        raw = source.read_bytes()
    except OSError as err:
        fail(PROG, f"{source}: cannot read the registry document ({err.strerror})")
    try:
        # Decoded straight into the document's models: no dict of dicts for a whole city.
        registry = registry_from_json(raw)
    except RegistryError as err:
        fail(PROG, f"{source}: {err}; nothing was stored")
    return _store(path, registry, f"from {source}")
