"""The last feed on disk (``--data DIR/feed.json``), so a restarted process shows pages at once.

One file, written atomically: a temporary file, fsync, rename over the old one, fsync of the
directory - whatever moment a power cut picks, the file is the old feed or the new one, never
half of either. The directory is locked (``flock`` on ``DIR/lock``) by the one process that
writes it; a second process on the same directory is refused.

What the file holds is what the pages hold: the business day's tickets as the office fed them
(ticket keys, numbers, purposes, stations, times), no token, no name, nothing personal.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from types import TracebackType
from typing import Self

import msgspec

from common.validation import Invalid, decode_json
from sync.messages import PublicFeed

__all__ = ["FeedFile", "StoreError"]

log = logging.getLogger(__name__)

_DECODER = msgspec.json.Decoder(PublicFeed)
_ENCODER = msgspec.json.Encoder()


class StoreError(Exception):
    """The data directory cannot be used (locked by another process, not writable)."""


class FeedFile:
    """``feed.json`` in a data directory that this process holds locked."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "feed.json"
        self._lock_fd: int | None = None

    def __enter__(self) -> Self:
        self.lock()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.unlock()

    def lock(self) -> None:
        """Create the directory if need be and take its lock; StoreError if another holds it."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as err:
            raise StoreError(f"{self.directory}: cannot use the data directory ({err.strerror})") from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            raise StoreError(f"{self.directory}: another madoguchi-public uses this data directory") from err
        self._lock_fd = fd

    def unlock(self) -> None:
        """Release the lock."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def load(self) -> PublicFeed | None:
        """The kept feed, or None when there is none or it is unreadable (logged, moved aside)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            log.warning("cannot read %s (%s): starting without a feed", self.path, err.strerror)
            return None
        try:
            return decode_json(raw, _DECODER)
        except (Invalid, msgspec.DecodeError) as err:
            # Kept for the technician, out of the way of the next write.
            aside = self.path.with_suffix(".bad")
            os.replace(self.path, aside)
            log.warning("%s is not a feed (%s): moved to %s, starting without a feed", self.path, err, aside.name)
            return None

    def save(self, feed: PublicFeed) -> None:
        """Replace the kept feed with ``feed``, atomically and durably."""
        temp = self.path.with_suffix(".tmp")
        data = _ENCODER.encode(feed)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, self.path)
        dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
