"""The sync package's exceptions: one root, so callers can catch everything we raise."""

from __future__ import annotations


class SyncError(Exception):
    """Root of every error raised by the sync package."""


class StoreError(SyncError):
    """A local store could not be opened, read or written."""


class StoreLocked(StoreError):
    """Another process (or object) already writes this store file: one writer per file."""


class StoreCorrupt(StoreError):
    """A store file is damaged and no good copy was left to recover from."""


class ProtocolError(SyncError):
    """A payload broke the wire contract (bad JSON, wrong type, too large, unknown version)."""
