"""What every madoguchi command shares: one-line errors with exit status 2, logging set up in
main() only, the broker URL from a flag or MADOGUCHI_BROKER, and reading a device
configuration into the app's typed model."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import msgspec

from common.validation import Invalid, convert, did_you_mean

T = TypeVar("T", bound=msgspec.Struct)

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


def add_office_key(parser: argparse.ArgumentParser) -> None:
    """--office-key on every device app: the office's public signing key it pins."""
    parser.add_argument(
        "--office-key",
        default=os.environ.get("MADOGUCHI_OFFICE_KEY") or None,
        metavar="ed25519:KEY",
        help="the office's public signing key, as enrolment wrote it; once pinned the device acts only "
        "on what the office signed (default: $MADOGUCHI_OFFICE_KEY, else the key pinned before)",
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


def read_toml(path: Path) -> dict[str, Any]:
    """A device configuration file as parsed TOML; UsageError names the file and what is wrong."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise UsageError(f"{path}: cannot read the device configuration ({err.strerror})") from err
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"{path}: not valid TOML ({err})") from err


def read_device_config(path: Path, model: type[T], check: Callable[[T], T] | None = None) -> T:
    """The device configuration at ``path`` as the app's ``model`` (one field per section it
    reads, ``device`` for the ``[device]`` section provisioning writes); ``check`` runs the rules
    across sections and may settle values. UsageError names the file, the key path and the fix
    (``kiosk.toml: cash.port: missing; give the ccTalk adapter's path…``), in one line."""
    return config_from_mapping(read_toml(path), model, check, path)


def config_from_mapping(
    doc: object, model: type[T], check: Callable[[T], T] | None = None, path: Path | None = None
) -> T:
    """:func:`read_device_config` for an already parsed document (tests, provisioning)."""
    where = f"{path}: " if path is not None else ""
    try:
        config = convert(doc, model)
        return check(config) if check is not None else config
    except Invalid as err:
        raise UsageError(where + _section_words(err, model)) from err


def _section_words(err: Invalid, model: type[msgspec.Struct]) -> str:
    """The error, with a file's top-level keys called what they are: sections."""
    if len(err.parts) == 1 and err.message.startswith("unknown key"):
        name = str(err.parts[0])
        known = [f.encode_name for f in msgspec.structs.fields(model)]
        return f"{name}: unknown section{did_you_mean(name, known)}; allowed: {', '.join(sorted(known))}"
    return str(err)
