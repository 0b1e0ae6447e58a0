"""Crash-safe local storage: an atomic tinydb storage, a small state store and a segmented log.

Stock tinydb rewrites its JSON file in place, so a SIGKILL or power cut mid-write can leave a
torn file (DESIGN.md decision 7). Every file written here is instead written whole to a temp
file, fsynced, and renamed over the old one, with the directory fsynced after the rename. The
previous good version is kept as ``<path>.bak`` so damage found later (an SD card flipping a
bit, an operator truncating a file) can be repaired from it.

File format: one header line ``MADOGUCHI-STORE 1 <crc32 of body, 8 hex> <body length in
bytes>\\n`` followed by the JSON body (compact, UTF-8). The header lets us tell a damaged file
from a good one without trusting the JSON parser to notice truncation.

One writer per file: opening takes an exclusive ``flock`` on ``<path>.lock`` for the life of
the object, so a second opener (another process, or another object in this process) gets
:class:`~sync.errors.StoreLocked` instead of silently interleaving writes.
"""

from __future__ import annotations

import copy
import errno
import fcntl
import itertools
import json
import logging
import os
import re
import threading
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any, Self

import msgspec
from tinydb import TinyDB
from tinydb.storages import Storage

from common.validation import Invalid, convert, decode_json, info
from sync.errors import StoreCorrupt, StoreError, StoreLocked

__all__ = [
    "AtomicJSONStorage",
    "SegmentInfo",
    "SegmentedLog",
    "StateStore",
    "bytes_written",
    "open_db",
]

logger = logging.getLogger(__name__)

_MAGIC = "MADOGUCHI-STORE"
_FORMAT_VERSION = "1"
# A header is ~40 bytes; anything much longer before the first newline is not ours.
_MAX_HEADER = 128

# Bytes this process has written through these stores, per directory: what a device costs its
# SD card (every write rewrites a whole file; the bench reports it per ticket).
_written: dict[Path, int] = {}
_written_lock = threading.Lock()


def bytes_written(under: str | os.PathLike[str]) -> int:
    """Bytes written by this process's stores to files in ``under`` or below, since start."""
    root = Path(under).resolve()
    with _written_lock:
        return sum(n for directory, n in _written.items() if directory == root or root in directory.parents)


class _Invalid(Exception):
    """Internal: a store file failed validation (the message says why)."""


def _encode(data: Mapping[str, Any]) -> tuple[str, bytes]:
    """Serialise ``data`` to (body string, whole file bytes including the header)."""
    try:
        # allow_nan=False: NaN/Infinity are not JSON and would break the office's parser later.
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise StoreError(f"data is not JSON-serialisable: {err}") from err
    return body, _frame(body.encode("utf-8"))


def _frame(payload: bytes) -> bytes:
    """Prefix a UTF-8 JSON body with the store header (checksum and length)."""
    crc = zlib.crc32(payload) & 0xFFFFFFFF
    return f"{_MAGIC} {_FORMAT_VERSION} {crc:08x} {len(payload)}\n".encode("ascii") + payload


def _validate(raw: bytes) -> str:
    """Return the JSON body of a store file's bytes, or raise :class:`_Invalid`."""
    if not raw:
        raise _Invalid("file is empty")
    newline = raw.find(b"\n", 0, _MAX_HEADER)
    if newline < 0:
        raise _Invalid("no store header")
    try:
        parts = raw[:newline].decode("ascii").split(" ")
    except UnicodeDecodeError as err:
        raise _Invalid("header is not ASCII") from err
    if len(parts) != 4 or parts[0] != _MAGIC:
        raise _Invalid("no store header")
    if parts[1] != _FORMAT_VERSION:
        raise _Invalid(f"unknown store format version {parts[1]!r}")
    crc_hex, length_text = parts[2], parts[3]
    if len(crc_hex) != 8 or not length_text.isdigit():
        raise _Invalid("malformed store header")
    try:
        expected_crc = int(crc_hex, 16)
    except ValueError as err:
        raise _Invalid("malformed store header") from err
    payload = raw[newline + 1 :]
    if len(payload) != int(length_text):
        raise _Invalid(f"body is {len(payload)} bytes, header says {length_text}")
    if zlib.crc32(payload) & 0xFFFFFFFF != expected_crc:
        raise _Invalid("checksum mismatch")
    try:
        body = payload.decode("utf-8")
        parsed = json.loads(body)
    except (UnicodeDecodeError, ValueError) as err:
        raise _Invalid(f"body is not valid JSON: {err}") from err
    if not isinstance(parsed, dict):
        raise _Invalid("top level is not a JSON object")
    return body


def _read_bytes(path: Path) -> bytes | None:
    """The file's bytes, or None when it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise StoreError(f"cannot read store file {path}: {err}") from err


def _read_valid(path: Path) -> tuple[str | None, str | None]:
    """(body, None) for a good file, (None, reason) for a damaged one, (None, None) if absent."""
    raw = _read_bytes(path)
    if raw is None:
        return None, None
    try:
        return _validate(raw), None
    except _Invalid as err:
        return None, str(err)


def _fsync_dir(directory: Path) -> None:
    """Make renames and unlinks in ``directory`` durable (a rename alone survives no power cut)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quiet(path: Path) -> None:
    """Remove a file if it exists."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _utc_stamp() -> str:
    """A filename-safe UTC timestamp with microseconds (distinct across quick retries)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


class _FileLock:
    """An exclusive, non-blocking ``flock`` held until :meth:`release`.

    flock locks belong to the open file description, so a second ``_FileLock`` on the same
    path conflicts even inside one process, which is what "one writer per file" needs. The
    kernel drops the lock when the holder dies, so a SIGKILLed writer never leaves it stuck.
    """

    def __init__(self, lock_path: Path, what: Path, kind: str) -> None:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise StoreError(f"cannot open lock file {lock_path}: {err}") from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StoreLocked(f"another process is writing {what}; one writer per store {kind}") from err
            raise StoreError(f"cannot lock {lock_path}: {err}") from err
        self._fd: int | None = fd

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)


class AtomicJSONStorage(Storage):
    """A tinydb storage that survives SIGKILL and power loss at any instant.

    Each write goes to ``<path>.tmp-<pid>-<n>``, is fsynced, the current file is kept as
    ``<path>.bak`` (hard link, so no copy), the temp file is renamed over ``<path>`` and the
    directory is fsynced. Opening locks the file, removes orphan temp files, validates the
    file and repairs it from ``.bak`` when it is damaged or missing; then :attr:`recovered`
    is True and :attr:`recovery_note` says what happened, for the app to report.

    We are the only writer, so the last body is cached and reads never touch the disk.
    Raises :class:`StoreLocked` when another writer holds the file and :class:`StoreCorrupt`
    when the file is damaged and no good copy remains.
    """

    def __init__(self, path: str | os.PathLike[str], create_dirs: bool = True, **_ignored: Any) -> None:
        self.path = Path(path)
        self._dir = self.path.parent
        self._resolved_dir = self._dir.resolve()
        self._bak = self.path.with_name(self.path.name + ".bak")
        self._tmp_prefix = self.path.name + ".tmp-"
        self._counter = itertools.count(1)
        self._mutex = threading.Lock()
        self._body: str | None = None
        self._main_exists = False
        self.recovered: bool = False
        self.recovery_note: str | None = None
        if create_dirs:
            try:
                self._dir.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StoreError(f"cannot create directory {self._dir}: {err}") from err
        self._lock: _FileLock | None = _FileLock(self.path.with_name(self.path.name + ".lock"), self.path, "file")
        try:
            self._remove_orphans()
            self._open_and_validate()
        except BaseException:
            self._lock.release()
            self._lock = None
            raise

    # -- opening -----------------------------------------------------------------------

    def _remove_orphans(self) -> None:
        """Delete temp files a crashed writer left behind (we hold the lock, so none are live)."""
        removed = 0
        try:
            names = os.listdir(self._dir)
        except OSError as err:
            raise StoreError(f"cannot list {self._dir}: {err}") from err
        for name in names:
            if name.startswith(self._tmp_prefix):
                try:
                    os.unlink(self._dir / name)
                    removed += 1
                except FileNotFoundError:
                    pass
                except OSError as err:
                    raise StoreError(f"cannot remove orphan temp file {self._dir / name}: {err}") from err
        if removed:
            logger.info("removed %d orphan temp file(s) of %s", removed, self.path)

    def _open_and_validate(self) -> None:
        """Load the main file, repairing it from ``.bak`` when needed."""
        raw = _read_bytes(self.path)
        if raw is not None:
            try:
                self._body = _validate(raw)
                self._main_exists = True
                return
            except _Invalid as err:
                self._recover_damaged(str(err))
                return
        bak_body, bak_problem = _read_valid(self._bak)
        if bak_body is not None:
            # Our own write sequence never removes the main file, so this is outside
            # interference (or a lost directory entry); the .bak is the newest good copy.
            logger.warning("store file %s is missing; restoring it from %s", self.path, self._bak)
            self._restore_from_bak(bak_body)
            self.recovery_note = f"{self.path} was missing; restored from {self._bak.name}"
            return
        if bak_problem is not None:
            # A .bak proves this store once held data: starting empty would lose it silently.
            raise StoreCorrupt(
                f"store file {self.path} is missing and its last good copy {self._bak} is damaged "
                f"({bak_problem}); no good copy remains. Fix: restore {self.path} from a backup, "
                f"or move {self._bak} away to start an empty store"
            )
        # Neither file exists: a brand-new store; nothing is written until the first write.

    def _recover_damaged(self, problem: str) -> None:
        """The main file is damaged: keep it for forensics and repair from ``.bak``."""
        logger.error("store file %s is damaged (%s)", self.path, problem)
        bak_body, bak_problem = _read_valid(self._bak)
        if bak_body is None:
            # Leave the damaged file at its path so every later open fails the same way
            # until someone acts (a restart loop must not quietly start empty on try two);
            # a hard link keeps the forensic copy whatever the operator does next.
            kept = self._keep_forensic_link()
            why = "missing" if bak_problem is None else f"damaged too ({bak_problem})"
            raise StoreCorrupt(
                f"store file {self.path} is damaged ({problem}) and no good copy remains "
                f"({self._bak.name} {why}); damaged file kept at {kept}. Fix: restore "
                f"{self.path} from a backup, or move it away to start an empty store"
            )
        moved = self._unique_corrupt_path()
        try:
            os.replace(self.path, moved)
        except OSError as err:
            raise StoreError(f"cannot move damaged {self.path} to {moved}: {err}") from err
        logger.error("moved damaged %s to %s; restoring from %s", self.path, moved, self._bak)
        self._restore_from_bak(bak_body)
        self.recovery_note = (
            f"{self.path} was damaged ({problem}); restored from {self._bak.name} "
            f"(the last write may be lost); damaged file kept at {moved}"
        )

    def _unique_corrupt_path(self) -> Path:
        base = self.path.with_name(f"{self.path.name}.corrupt-{_utc_stamp()}")
        candidate, n = base, 0
        while candidate.exists():
            n += 1
            candidate = base.with_name(f"{base.name}-{n}")
        return candidate

    def _keep_forensic_link(self) -> Path:
        """Hard-link the damaged main file to ``.corrupt-*`` once (reuse an existing link)."""
        prefix = self.path.name + ".corrupt-"
        try:
            for name in sorted(os.listdir(self._dir)):
                other = self._dir / name
                if name.startswith(prefix) and os.path.samefile(other, self.path):
                    return other
            target = self._unique_corrupt_path()
            os.link(self.path, target)
            _fsync_dir(self._dir)
        except OSError as err:
            raise StoreError(f"cannot keep a copy of damaged {self.path}: {err}") from err
        return target

    def _restore_from_bak(self, body: str) -> None:
        self._write_body(body, body.encode("utf-8"))
        self.recovered = True

    # -- the storage API ---------------------------------------------------------------

    def read(self) -> dict[str, Any] | None:
        """The stored dict (a fresh object every call), or None for a brand-new store."""
        with self._mutex:
            self._check_open()
            body = self._body
        if body is None:
            return None
        parsed: dict[str, Any] = json.loads(body)
        return parsed

    def write(self, data: Mapping[str, Any]) -> None:
        """Durably replace the stored dict; on return the data survives a power cut."""
        if not isinstance(data, Mapping):
            raise StoreError(f"a store holds a JSON object, not {type(data).__name__}")
        body, encoded = _encode(data)
        with self._mutex:
            self._check_open()
            self._write_file(body, encoded)

    def close(self) -> None:
        """Release the writer lock (idempotent); the object is unusable afterwards."""
        with self._mutex:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._lock is None

    # -- internals -----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._lock is None:
            raise StoreError(f"store {self.path} is closed")

    def _write_body(self, body: str, payload: bytes) -> None:
        self._write_file(body, _frame(payload))

    def _write_file(self, body: str, encoded: bytes) -> None:
        tmp = self._dir / f"{self._tmp_prefix}{os.getpid()}-{next(self._counter)}"
        bak_tmp = self._dir / f"{self._tmp_prefix}{os.getpid()}-{next(self._counter)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            try:
                view = memoryview(encoded)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            if self._main_exists:
                # Link then rename so .bak is replaced atomically: once a .bak has existed
                # there is never a moment without a complete one.
                os.link(self.path, bak_tmp)
                os.replace(bak_tmp, self._bak)
            os.replace(tmp, self.path)
            _fsync_dir(self._dir)
            with _written_lock:
                _written[self._resolved_dir] = _written.get(self._resolved_dir, 0) + len(encoded)
        except OSError as err:
            for leftover in (tmp, bak_tmp):
                try:
                    _unlink_quiet(leftover)
                except OSError:
                    pass  # the next open removes orphans anyway
            raise StoreError(f"cannot write store file {self.path}: {err}") from err
        self._main_exists = True
        self._body = body


def open_db(path: str | os.PathLike[str]) -> TinyDB:
    """A TinyDB on :class:`AtomicJSONStorage`; ``db.close()`` releases the writer lock.

    Raises :class:`StoreLocked` or :class:`StoreCorrupt` as the storage does; check
    ``db.storage.recovered`` to report a repair.
    """
    return TinyDB(os.fspath(path), storage=AtomicJSONStorage)


def _copy_json(value: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy, so callers can never mutate what we hold (or vice versa)."""
    return copy.deepcopy(dict(value))


class StateStore:
    """Small JSON documents by key in one crash-safe file (snapshots, leases, clock, config).

    Every document is stored as ``{"version": v, "doc": doc}``; ``version`` is None for
    documents written with :meth:`put`. One atomic write per put. Thread-safe.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._mutex = threading.RLock()
        self._storage = AtomicJSONStorage(path)
        try:
            data = self._storage.read() or {}
            for key, entry in data.items():
                if not isinstance(entry, dict) or not isinstance(entry.get("doc"), dict):
                    raise StoreCorrupt(
                        f"{self._storage.path} is not a state store (entry {key!r} has no doc); "
                        "Fix: point the app at the right file"
                    )
        except BaseException:
            self._storage.close()
            raise
        self._data: dict[str, dict[str, Any]] = data

    @property
    def path(self) -> Path:
        """The store file."""
        return self._storage.path

    @property
    def recovered(self) -> bool:
        """True when opening repaired the file from its last good copy."""
        return self._storage.recovered

    @property
    def recovery_note(self) -> str | None:
        """What the repair did, for the app to report; None when nothing happened."""
        return self._storage.recovery_note

    def get(self, key: str) -> dict[str, Any] | None:
        """A copy of the document under ``key``, or None."""
        with self._mutex:
            entry = self._data.get(key)
            return None if entry is None else _copy_json(entry["doc"])

    def version_of(self, key: str) -> int | None:
        """The version stored with ``key`` (None if absent or written by :meth:`put`)."""
        with self._mutex:
            entry = self._data.get(key)
            version = None if entry is None else entry.get("version")
            return version if isinstance(version, int) else None

    def put(self, key: str, doc: Mapping[str, Any]) -> None:
        """Durably store ``doc`` under ``key`` (unversioned)."""
        self._store(key, doc, None)

    def put_if_newer(self, key: str, doc: Mapping[str, Any], version: int) -> bool:
        """Store ``doc`` only if ``version`` beats the stored one; True when it was stored.

        Retained state is "last value wins by version": a receiver ignores versions at or
        below the one it holds. An unversioned stored document is always replaced.
        """
        if isinstance(version, bool) or not isinstance(version, int):
            raise TypeError(f"version must be an int, not {type(version).__name__}")
        with self._mutex:
            current = self.version_of(key)
            if current is not None and version <= current:
                return False
            self._store(key, doc, version)
            return True

    def keys(self) -> list[str]:
        """The stored keys, in insertion order."""
        with self._mutex:
            return list(self._data)

    def close(self) -> None:
        """Release the file (idempotent)."""
        with self._mutex:
            self._storage.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _store(self, key: str, doc: Mapping[str, Any], version: int | None) -> None:
        if not isinstance(key, str):
            raise TypeError(f"key must be a str, not {type(key).__name__}")
        if not isinstance(doc, Mapping):
            raise TypeError(f"doc must be a mapping, not {type(doc).__name__}")
        with self._mutex:
            # Build the new state aside so a failed write leaves memory matching the disk.
            new_data = dict(self._data)
            new_data[key] = {"version": version, "doc": _copy_json(doc)}
            self._storage.write(new_data)
            self._data = new_data


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """One segment file of a :class:`SegmentedLog`: its index, path, size and end records."""

    index: int
    path: Path
    count: int
    first: Mapping[str, Any] | None
    last: Mapping[str, Any] | None


_SEGMENT_RE = re.compile(r"^seg-(\d{6,})\.json(\.bak)?$")


def _segment_name(index: int) -> str:
    return f"seg-{index:06d}.json"


_Object = Annotated[dict[str, Any], info(what="a JSON object")]


class _Segment(msgspec.Struct, frozen=True):
    """A segment file's content; other top-level keys are ignored, as they always were."""

    records: Annotated[list[_Object], info(what="a list of records (JSON objects)")]
    meta: _Object


_SEGMENT = msgspec.json.Decoder(_Segment)


def _segment(path: Path, content: str | Mapping[str, Any] | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(records, meta) of a segment from its JSON body (decoded straight into the model, faster
    than json.loads) or its parsed content (None: an empty segment); StoreCorrupt for a file of
    another shape."""
    if content is None:
        return [], {}
    try:
        if isinstance(content, str):
            segment = decode_json(content.encode("utf-8"), _SEGMENT)
        else:
            segment = convert(content, _Segment)
    except Invalid as err:
        raise StoreCorrupt(
            f"{path} is not a log segment ({err}; it needs a records list and a meta object); "
            "Fix: move foreign files out of the log directory"
        ) from err
    return segment.records, segment.meta


class SegmentedLog:
    """An append-only record log in small segment files, so an append's cost stays flat.

    ``seg-000001.json``, ``seg-000002.json``, ... each hold ``{"records": [...], "meta":
    {...}}`` in an :class:`AtomicJSONStorage`. An append rewrites only the newest segment,
    record and meta updates in one atomic write; a full segment is followed by a new one whose
    meta starts as a copy of the previous, so :attr:`meta` is always "as of the last append".
    Older segments are read-only and read lazily. One writer per directory (``<dir>/.lock``);
    thread-safe.
    """

    def __init__(self, directory: str | os.PathLike[str], segment_size: int = 200) -> None:
        if isinstance(segment_size, bool) or not isinstance(segment_size, int) or segment_size < 1:
            raise ValueError(f"segment_size must be a positive int, not {segment_size!r}")
        self._dir = Path(directory)
        self._segment_size = segment_size
        self._mutex = threading.RLock()
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"cannot create log directory {self._dir}: {err}") from err
        self._dir_lock: _FileLock | None = _FileLock(self._dir / ".lock", self._dir, "directory")
        self._newest: AtomicJSONStorage | None = None
        self._records: list[dict[str, Any]] = []
        self._meta: dict[str, Any] = {}
        self._infos: dict[int, SegmentInfo] = {}
        try:
            self._indices = self._scan()
            if self._indices:
                self._open_newest(self._indices[-1])
        except BaseException:
            self._dir_lock.release()
            self._dir_lock = None
            raise

    @property
    def directory(self) -> Path:
        """The log directory."""
        return self._dir

    @property
    def recovered(self) -> bool:
        """True when opening repaired the newest segment from its last good copy."""
        return self._newest is not None and self._newest.recovered

    @property
    def recovery_note(self) -> str | None:
        """What opening repaired in the newest segment, if anything."""
        return self._newest.recovery_note if self._newest is not None else None

    @property
    def newest_index(self) -> int | None:
        """The index of the segment appends go to (None for an empty log)."""
        with self._mutex:
            return self._indices[-1] if self._indices else None

    def _scan(self) -> list[int]:
        """Find segment indices and clear temp files a crash left (we hold the directory lock)."""
        indices: set[int] = set()
        orphans = 0
        try:
            for name in os.listdir(self._dir):
                match = _SEGMENT_RE.match(name)
                if match:
                    # A .bak without its main file still marks a segment (repaired on read).
                    indices.add(int(match.group(1)))
                elif name.startswith("seg-") and ".json.tmp-" in name:
                    _unlink_quiet(self._dir / name)
                    orphans += 1
        except OSError as err:
            raise StoreError(f"cannot scan log directory {self._dir}: {err}") from err
        if orphans:
            logger.info("removed %d orphan temp file(s) in %s", orphans, self._dir)
        return sorted(indices)

    def _path(self, index: int) -> Path:
        return self._dir / _segment_name(index)

    def _open_newest(self, index: int) -> None:
        storage = AtomicJSONStorage(self._path(index))
        try:
            records, meta = _segment(storage.path, storage.read())
        except BaseException:
            storage.close()
            raise
        self._newest, self._records, self._meta = storage, records, meta

    def _read_old(self, index: int) -> list[dict[str, Any]] | None:
        """Records of a read-only segment (None if it was dropped); caches its info."""
        path = self._path(index)
        body, problem = _read_valid(path)
        if body is not None:
            records, _ = _segment(path, body)
        elif problem is None and not path.with_name(path.name + ".bak").exists():
            return None
        else:
            # Damaged or missing main file: let the storage repair it (or raise StoreCorrupt).
            storage = AtomicJSONStorage(path)
            try:
                records, _ = _segment(path, storage.read())
            finally:
                storage.close()
                _unlink_quiet(path.with_name(path.name + ".lock"))
        self._infos[index] = self._info(index, records)
        return records

    def _info(self, index: int, records: list[dict[str, Any]]) -> SegmentInfo:
        return SegmentInfo(
            index=index,
            path=self._path(index),
            count=len(records),
            first=_copy_json(records[0]) if records else None,
            last=_copy_json(records[-1]) if records else None,
        )

    def _check_open(self) -> None:
        if self._dir_lock is None:
            raise StoreError(f"log {self._dir} is closed")

    @property
    def meta(self) -> dict[str, Any]:
        """A copy of the meta as of the last append ({} for an empty log)."""
        with self._mutex:
            return copy.deepcopy(self._meta)

    def append(self, record: Mapping[str, Any], meta_updates: Mapping[str, Any] | None = None) -> None:
        """Durably append ``record`` and merge ``meta_updates`` into the meta, in one write."""
        if not isinstance(record, Mapping):
            raise TypeError(f"record must be a mapping, not {type(record).__name__}")
        with self._mutex:
            self._check_open()
            new_meta = {**self._meta, **_copy_json(meta_updates or {})}
            rec = _copy_json(record)
            if self._newest is None or len(self._records) >= self._segment_size:
                self._rotate(rec, new_meta)
            else:
                self._records.append(rec)
                try:
                    self._newest.write({"records": self._records, "meta": new_meta})
                except BaseException:
                    self._records.pop()
                    raise
            self._meta = new_meta

    def _rotate(self, rec: dict[str, Any], new_meta: dict[str, Any]) -> None:
        """Start a new segment holding ``rec``; the old newest becomes read-only."""
        index = self._indices[-1] + 1 if self._indices else 1
        storage = AtomicJSONStorage(self._path(index))
        try:
            storage.write({"records": [rec], "meta": new_meta})
        except BaseException:
            storage.close()
            raise
        old, old_records = self._newest, self._records
        if old is not None:
            old.close()
            # Only the newest segment is ever written, and the directory lock keeps other
            # writers out, so the old segment's lock file has no further use.
            _unlink_quiet(old.path.with_name(old.path.name + ".lock"))
            self._infos[self._indices[-1]] = self._info(self._indices[-1], old_records)
        self._indices.append(index)
        self._newest, self._records = storage, [rec]

    def records(self, from_segment: int | None = None) -> Iterator[dict[str, Any]]:
        """Yield copies of all records in order, from segment index ``from_segment`` on."""
        with self._mutex:
            self._check_open()
            indices = [i for i in self._indices if from_segment is None or i >= from_segment]
        for index in indices:
            with self._mutex:
                if index == self._indices[-1] and self._newest is not None:
                    batch: list[dict[str, Any]] | None = copy.deepcopy(self._records)
                elif index in self._indices:
                    self._check_open()
                    batch = self._read_old(index)
                else:
                    batch = None  # dropped while we iterated
            if batch:
                yield from batch

    def segments(self) -> list[SegmentInfo]:
        """Info on every segment, oldest first (old segments are read once, then cached)."""
        with self._mutex:
            self._check_open()
            out: list[SegmentInfo] = []
            for index in self._indices:
                if index == self._indices[-1] and self._newest is not None:
                    out.append(self._info(index, self._records))
                    continue
                if index not in self._infos:
                    self._check_open()
                    self._read_old(index)
                info = self._infos.get(index)
                if info is not None:
                    out.append(info)
            return out

    def drop_segments(self, indices: Iterable[int]) -> None:
        """Delete whole segment files; the newest segment cannot be dropped (ValueError)."""
        with self._mutex:
            self._check_open()
            wanted = set(indices)
            if self._indices and self._indices[-1] in wanted:
                raise ValueError(f"cannot drop segment {self._indices[-1]}: it is the newest")
            dropped = False
            for index in sorted(wanted):
                if index not in self._indices:
                    continue
                path = self._path(index)
                try:
                    # Main file last: a crash part-way leaves a complete segment, never a
                    # lone .bak that would look like a damaged one.
                    _unlink_quiet(path.with_name(path.name + ".bak"))
                    _unlink_quiet(path.with_name(path.name + ".lock"))
                    _unlink_quiet(path)
                except OSError as err:
                    raise StoreError(f"cannot delete log segment {path}: {err}") from err
                self._indices.remove(index)
                self._infos.pop(index, None)
                dropped = True
            if dropped:
                try:
                    _fsync_dir(self._dir)
                except OSError as err:
                    raise StoreError(f"cannot sync log directory {self._dir}: {err}") from err

    def close(self) -> None:
        """Close the newest segment and release the directory (idempotent)."""
        with self._mutex:
            if self._newest is not None:
                self._newest.close()
            if self._dir_lock is not None:
                self._dir_lock.release()
                self._dir_lock = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
