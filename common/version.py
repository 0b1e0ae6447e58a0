"""The installed madoguchi version, which every device reports and the floor view shows."""

from __future__ import annotations

import functools
from importlib import metadata

__all__ = ["madoguchi_version"]


@functools.cache
def madoguchi_version() -> str:
    """The version of the installed distribution (``0.1.0``), or ``"unknown"`` when run from a
    source tree that was never installed."""
    try:
        return metadata.version("madoguchi")
    except metadata.PackageNotFoundError:
        return "unknown"
