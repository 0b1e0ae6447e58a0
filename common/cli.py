"""What every madoguchi command shares: one-line errors with exit status 2, logging set up in
main() only, and the broker URL from a flag or MADOGUCHI_BROKER."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tomllib
from pathlib import Path
from typing import Any, NoReturn

DEFAULT_BROKER = "mqtt://127.0.0.1:1883"


class UsageError(Exception):
    """A mistake in how a command was called or configured: shown as one line, exit 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (naming it) and exits with 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def add_common(parser: argparse.ArgumentParser) -> None:
    """--broker and --log-level, the same on every command."""
    parser.add_argument(
        "--broker",
        default=os.environ.get("MADOGUCHI_BROKER", DEFAULT_BROKER),
        help="broker URL, mqtt://host:port (default: $MADOGUCHI_BROKER or %(default)s)",
    )
    parser.add_argument(
        "--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log detail"
    )


def setup_logging(level: str) -> None:
    """Configure logging for a command (never at import time)."""
    logging.basicConfig(level=getattr(logging, level), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # amqtt and paho are chatty at INFO; keep their warnings.
    for noisy in ("amqtt", "transitions"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, getattr(logging, level)))
    # Kivy sets its own logger's level when it is imported (after this), so a filter it cannot
    # reset: its warnings are start-up chatter ("upgrading configuration"), its errors are not.
    floor = logging.ERROR if getattr(logging, level) >= logging.WARNING else getattr(logging, level)
    logging.getLogger("kivy").addFilter(lambda record: record.levelno >= floor)


def fail(prog: str, message: str) -> NoReturn:
    """Print a one-line error and exit 2."""
    print(f"{prog}: {message}", file=sys.stderr)
    raise SystemExit(2)


def read_device_config(path: Path | None, known: set[str]) -> dict[str, dict[str, Any]]:
    """A device configuration (TOML) whose top level is tables named in ``known``; {} without
    a path. UsageError names the file and what is wrong with it."""
    if path is None:
        return {}
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise UsageError(f"{path}: cannot read the device configuration ({err.strerror})") from err
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"{path}: not valid TOML ({err})") from err
    # Provisioning (madoguchi-provision apply) writes the device's identity as [device] for every app.
    unknown = sorted(set(doc) - known - {"device"})
    if unknown:
        raise UsageError(f"{path}: {unknown[0]}: unknown section; allowed: {', '.join(sorted(known))}")
    for name, section in doc.items():
        if not isinstance(section, dict):
            raise UsageError(f"{path}: {name}: expected a [{name}] table")
    return doc
