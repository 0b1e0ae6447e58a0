"""sync.store: atomic tinydb storage, state store and segmented log, on real files."""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
import textwrap
import threading
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from harness import spawn_and_kill
from sync.errors import StoreCorrupt, StoreError, StoreLocked, SyncError
from sync.store import AtomicJSONStorage, SegmentedLog, StateStore, open_db

REPO = Path(__file__).resolve().parent.parent
CRASHER = Path(__file__).resolve().parent / "store_crasher.py"


def _frame(body: str) -> bytes:
    payload = body.encode("utf-8")
    crc = zlib.crc32(payload) & 0xFFFFFFFF
    return f"MADOGUCHI-STORE 1 {crc:08x} {len(payload)}\n".encode() + payload


def _make_store(path: Path, *states: dict[str, object]) -> None:
    """Write each state in turn (so the last is main and the one before is .bak)."""
    storage = AtomicJSONStorage(path)
    for state in states:
        storage.write(state)
    storage.close()


def _corrupt_files(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".corrupt-*"))


# -- AtomicJSONStorage ---------------------------------------------------------------------


def test_round_trip_and_file_format(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    storage = AtomicJSONStorage(path)
    assert storage.read() is None
    data = {"_default": {"1": {"name": "住民票", "n": 3, "ok": True, "x": None}}}
    storage.write(data)
    assert storage.read() == data
    storage.close()

    raw = path.read_bytes()
    header, body = raw.split(b"\n", 1)
    magic, version, crc, length = header.decode().split(" ")
    assert (magic, version) == ("MADOGUCHI-STORE", "1")
    assert int(crc, 16) == zlib.crc32(body) and len(crc) == 8
    assert int(length) == len(body)
    assert "住民票" in body.decode("utf-8")  # ensure_ascii=False
    assert b", " not in body and b": " not in body  # compact

    reopened = AtomicJSONStorage(path)
    assert reopened.read() == data
    assert reopened.recovered is False and reopened.recovery_note is None
    reopened.close()


def test_read_returns_independent_objects(tmp_path: Path) -> None:
    storage = AtomicJSONStorage(tmp_path / "db.json")
    storage.write({"t": {"a": [1]}})
    first = storage.read()
    assert first is not None
    first["t"]["a"].append(2)
    assert storage.read() == {"t": {"a": [1]}}
    storage.close()


def test_previous_version_kept_as_bak(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    _make_store(path, {"v": {"n": 1}})
    assert not (tmp_path / "db.json.bak").exists()
    _make_store(path, {"v": {"n": 2}})
    bak = (tmp_path / "db.json.bak").read_bytes()
    assert json.loads(bak.split(b"\n", 1)[1]) == {"v": {"n": 1}}
    assert not list(tmp_path.glob("db.json.tmp-*"))


def test_orphan_temp_files_removed_at_open(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "db.json"
    _make_store(path, {"v": {"n": 1}})
    for name in ("db.json.tmp-123-1", "db.json.tmp-123-2", "db.json.tmp-9-77"):
        (tmp_path / name).write_bytes(b"half a wri")
    (tmp_path / "other.json.tmp-1-1").write_bytes(b"not ours")
    with caplog.at_level(logging.INFO, logger="sync.store"):
        storage = AtomicJSONStorage(path)
    assert storage.read() == {"v": {"n": 1}}
    storage.close()
    assert not list(tmp_path.glob("db.json.tmp-*"))
    assert (tmp_path / "other.json.tmp-1-1").exists()
    assert any("3 orphan" in r.getMessage() for r in caplog.records)


def test_second_open_in_process_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    first = AtomicJSONStorage(path)
    with pytest.raises(StoreLocked) as info:
        AtomicJSONStorage(path)
    assert str(path) in str(info.value)
    assert "one writer per store file" in str(info.value)
    first.close()
    AtomicJSONStorage(path).close()  # released


def test_lock_conflict_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    holder_code = textwrap.dedent(
        f"""
        import sys, time
        from sync.store import AtomicJSONStorage
        s = AtomicJSONStorage({str(path)!r})
        print("HELD", flush=True)
        sys.stdin.readline()
        s.close()
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen(
        [sys.executable, "-c", holder_code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "HELD"
        with pytest.raises(StoreLocked, match="another process is writing"):
            AtomicJSONStorage(path)
    finally:
        holder.communicate("\n", timeout=10)
    AtomicJSONStorage(path).close()

    # And the other way round: we hold it, a child process is refused.
    ours = AtomicJSONStorage(path)
    try:
        probe_code = textwrap.dedent(
            f"""
            import sys
            from sync.errors import StoreLocked
            from sync.store import AtomicJSONStorage
            try:
                AtomicJSONStorage({str(path)!r})
            except StoreLocked:
                sys.exit(7)
            """
        )
        probe = subprocess.run([sys.executable, "-c", probe_code], env=env, timeout=20, check=False)
        assert probe.returncode == 7
    finally:
        ours.close()


def _truncate(raw: bytes) -> bytes:
    return raw[: len(raw) // 2]


def _flip_body_byte(raw: bytes) -> bytes:
    i = len(raw) - 5
    return raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1 :]


def _flip_header_byte(raw: bytes) -> bytes:
    return raw[:20] + bytes([raw[20] ^ 0x04]) + raw[21:]


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "truncated": _truncate,
    "flipped_body_byte": _flip_body_byte,
    "flipped_header_byte": _flip_header_byte,
    "garbage": lambda raw: os.urandom(300),
    "zero_length": lambda raw: b"",
    "plain_json_no_header": lambda raw: b'{"_default": {}}',
    "extra_bytes": lambda raw: raw + b" ",
    "valid_frame_bad_json": lambda raw: _frame('{"a": '),
    "valid_frame_not_object": lambda raw: _frame("[1, 2]"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_main_recovered_from_bak(tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "db.json"
    _make_store(path, {"v": {"n": 1}}, {"v": {"n": 2}})
    damaged = DAMAGE[damage](path.read_bytes())
    path.write_bytes(damaged)

    with caplog.at_level(logging.ERROR, logger="sync.store"):
        storage = AtomicJSONStorage(path)
    assert storage.recovered is True
    assert storage.recovery_note is not None and "db.json" in storage.recovery_note
    assert storage.read() == {"v": {"n": 1}}  # the last good copy
    storage.write({"v": {"n": 3}})
    storage.close()

    kept = _corrupt_files(path)
    assert len(kept) == 1 and kept[0].read_bytes() == damaged
    assert any(r.levelno == logging.ERROR and str(path) in r.getMessage() for r in caplog.records)
    again = AtomicJSONStorage(path)  # the repaired file is good
    assert again.recovered is False and again.read() == {"v": {"n": 3}}
    again.close()
    assert _corrupt_files(path) == kept  # forensic copies are never deleted


@pytest.mark.parametrize("bak", ["missing", "damaged"])
def test_damaged_main_without_good_bak_refuses(tmp_path: Path, bak: str) -> None:
    path = tmp_path / "db.json"
    _make_store(path, {"v": {"n": 1}}, {"v": {"n": 2}})
    bak_path = tmp_path / "db.json.bak"
    if bak == "missing":
        bak_path.unlink()
    else:
        bak_path.write_bytes(_truncate(bak_path.read_bytes()))
    path.write_bytes(b"\x00" * 40)

    with pytest.raises(StoreCorrupt) as info:
        AtomicJSONStorage(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message and "no good copy remains" in message
    kept = _corrupt_files(path)
    assert len(kept) == 1 and str(kept[0]) in message
    assert "Fix:" in message

    # Never silently start empty: a restart fails the same way, without piling up copies.
    with pytest.raises(StoreCorrupt):
        AtomicJSONStorage(path)
    assert _corrupt_files(path) == kept
    # The lock is released after a failed open, and the documented fix works.
    path.rename(tmp_path / "moved-away.json")
    if bak == "damaged":
        bak_path.rename(tmp_path / "moved-away.json.bak")
    fresh = AtomicJSONStorage(path)
    assert fresh.read() is None
    fresh.close()


def test_missing_main_recovered_from_bak(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "db.json"
    _make_store(path, {"v": {"n": 1}}, {"v": {"n": 2}})
    path.unlink()
    with caplog.at_level(logging.WARNING, logger="sync.store"):
        storage = AtomicJSONStorage(path)
    assert storage.recovered is True and storage.read() == {"v": {"n": 1}}
    storage.close()
    assert path.exists()
    assert any(r.levelno == logging.WARNING for r in caplog.records)


def test_missing_main_with_damaged_bak_refuses(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    _make_store(path, {"v": {"n": 1}}, {"v": {"n": 2}})
    path.unlink()
    (tmp_path / "db.json.bak").write_bytes(b"junk")
    with pytest.raises(StoreCorrupt, match="no good copy remains"):
        AtomicJSONStorage(path)


def test_write_errors_are_store_errors(tmp_path: Path) -> None:
    storage = AtomicJSONStorage(tmp_path / "db.json")
    storage.write({"v": {"n": 1}})
    with pytest.raises(StoreError):
        storage.write({"v": {"bad": object()}})
    with pytest.raises(StoreError):
        storage.write({"v": {"nan": float("nan")}})
    assert storage.read() == {"v": {"n": 1}}
    storage.close()
    with pytest.raises(StoreError, match="closed"):
        storage.write({"v": {}})

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(StoreError) as info:
        AtomicJSONStorage(blocker / "db.json")
    assert isinstance(info.value.__cause__, OSError)
    assert issubclass(StoreError, SyncError)


def test_open_db_is_a_tinydb_that_persists_and_locks(tmp_path: Path) -> None:
    path = tmp_path / "tickets.json"
    db = open_db(path)
    db.insert({"number": 101, "series": "A"})
    db.table("calls").insert({"number": 101, "counter": "3番"})
    with pytest.raises(StoreLocked):
        open_db(path)
    db.close()
    db = open_db(path)
    assert db.all() == [{"number": 101, "series": "A"}]
    assert db.table("calls").all() == [{"number": 101, "counter": "3番"}]
    assert isinstance(db.storage, AtomicJSONStorage) and db.storage.recovered is False
    db.close()
    open_db(path).close()


# -- StateStore ----------------------------------------------------------------------------


def test_state_store_put_get_versions(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    with StateStore(path) as store:
        assert store.get("lease") is None and store.version_of("lease") is None
        store.put("config", {"role": "dispenser"})
        assert store.version_of("config") is None
        assert store.put_if_newer("lease", {"from": 1, "to": 100}, 3) is True
        assert store.put_if_newer("lease", {"from": 1, "to": 50}, 3) is False
        assert store.put_if_newer("lease", {"from": 1, "to": 50}, 2) is False
        assert store.put_if_newer("lease", {"from": 101, "to": 200}, 4) is True
        assert store.put_if_newer("config", {"role": "board"}, 1) is True  # unversioned loses
        doc = store.get("lease")
        assert doc == {"from": 101, "to": 200}
        assert doc is not None
        doc["to"] = 0  # callers get copies
        assert store.get("lease") == {"from": 101, "to": 200}
        assert store.keys() == ["config", "lease"]
    with StateStore(path) as store:
        assert store.get("lease") == {"from": 101, "to": 200}
        assert store.version_of("lease") == 4 and store.version_of("config") == 1
        assert store.get("config") == {"role": "board"}
        with pytest.raises(StoreLocked):
            StateStore(path)
    raw = json.loads(path.read_bytes().split(b"\n", 1)[1])
    assert raw["lease"] == {"version": 4, "doc": {"from": 101, "to": 200}}


def test_state_store_one_write_per_put_and_failed_put_changes_nothing(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    writes: list[object] = []
    real_write = store._storage.write

    def counting_write(data: Mapping[str, Any]) -> None:
        writes.append(data)
        real_write(data)

    store._storage.write = counting_write  # type: ignore[method-assign]
    store.put("a", {"x": 1})
    store.put_if_newer("b", {"x": 2}, 1)
    store.put_if_newer("b", {"x": 3}, 1)  # refused: no write
    assert len(writes) == 2
    with pytest.raises(StoreError):
        store.put("c", {"x": {1, 2}})
    assert store.keys() == ["a", "b"]
    store.close()


def test_state_store_threads(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = StateStore(path)

    def writer(prefix: str) -> None:
        for i in range(40):
            store.put(f"{prefix}{i}", {"i": i})
            store.put_if_newer(f"{prefix}-clock", {"i": i}, i)

    threads = [threading.Thread(target=writer, args=(p,)) for p in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    with StateStore(path) as reopened:
        assert len(reopened.keys()) == 82
        assert reopened.version_of("a-clock") == 39 and reopened.get("b39") == {"i": 39}


# -- SegmentedLog --------------------------------------------------------------------------


def test_segmented_log_rotation_meta_and_order(tmp_path: Path) -> None:
    log = SegmentedLog(tmp_path / "log", segment_size=3)
    assert log.meta == {} and list(log.records()) == [] and log.segments() == []
    log.append({"n": 0}, {"day": "2024-11-21", "count": 1})
    for n in range(1, 10):
        log.append({"n": n}, {"count": n + 1})
    # Segments 1..4 of 3,3,3,1; meta set only in the first append survives every rotation.
    assert [s.count for s in log.segments()] == [3, 3, 3, 1]
    assert log.meta == {"day": "2024-11-21", "count": 10}
    assert [r["n"] for r in log.records()] == list(range(10))
    assert [r["n"] for r in log.records(from_segment=3)] == [6, 7, 8, 9]
    infos = log.segments()
    assert [(i.index, i.first, i.last) for i in infos[:2]] == [(1, {"n": 0}, {"n": 2}), (2, {"n": 3}, {"n": 5})]
    assert infos[0].path.name == "seg-000001.json"

    # Appends rewrite only the newest segment.
    seg2 = tmp_path / "log" / "seg-000002.json"
    before = seg2.stat().st_mtime_ns, seg2.stat().st_ino
    log.append({"n": 10})
    assert (seg2.stat().st_mtime_ns, seg2.stat().st_ino) == before
    meta = log.meta
    meta["count"] = -1  # a copy
    assert log.meta["count"] == 10
    log.close()

    with SegmentedLog(tmp_path / "log", segment_size=3) as reopened:
        assert [r["n"] for r in reopened.records()] == list(range(11))
        assert reopened.meta == {"day": "2024-11-21", "count": 10}
        reopened.append({"n": 11})
        reopened.append({"n": 12})  # rotates into segment 5
        assert [s.index for s in reopened.segments()] == [1, 2, 3, 4, 5]
        # The segment meta on disk is "as of the last append" even in a brand-new segment.
        raw = (tmp_path / "log" / "seg-000005.json").read_bytes().split(b"\n", 1)[1]
        assert json.loads(raw) == {"records": [{"n": 12}], "meta": {"day": "2024-11-21", "count": 10}}


def test_segmented_log_drop_segments(tmp_path: Path) -> None:
    directory = tmp_path / "log"
    log = SegmentedLog(directory, segment_size=2)
    for n in range(7):
        log.append({"n": n}, {"last": n})
    assert [s.index for s in log.segments()] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="newest"):
        log.drop_segments([4])
    log.drop_segments([1, 2, 99])
    assert [s.index for s in log.segments()] == [3, 4]
    assert [r["n"] for r in log.records()] == [4, 5, 6]
    assert not list(directory.glob("seg-000001.json*")) and not list(directory.glob("seg-000002.json*"))
    log.append({"n": 7})
    log.append({"n": 8})
    assert [s.index for s in log.segments()] == [3, 4, 5]
    log.close()
    with SegmentedLog(directory, segment_size=2) as reopened:
        assert [r["n"] for r in reopened.records()] == [4, 5, 6, 7, 8]
        assert reopened.meta == {"last": 6}


def test_segmented_log_single_writer_and_orphans(tmp_path: Path) -> None:
    directory = tmp_path / "log"
    log = SegmentedLog(directory, segment_size=2)
    log.append({"n": 1})
    with pytest.raises(StoreLocked, match="one writer per store directory"):
        SegmentedLog(directory)
    log.close()
    (directory / "seg-000009.json.tmp-1-1").write_bytes(b"torn")
    with SegmentedLog(directory, segment_size=2) as reopened:
        assert [r["n"] for r in reopened.records()] == [1]
    assert not list(directory.glob("*.tmp-*"))


def test_segmented_log_damaged_old_segment(tmp_path: Path) -> None:
    directory = tmp_path / "log"
    with SegmentedLog(directory, segment_size=1) as log:
        for n in range(3):
            log.append({"n": n})
    # segment_size=1: old segments were written once, so they have no .bak to repair from.
    (directory / "seg-000001.json").write_bytes(b"MADOGUCHI-STORE 1 deadbeef 2\n{}")
    with SegmentedLog(directory, segment_size=1) as log, pytest.raises(StoreCorrupt, match="seg-000001"):
        list(log.records())


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ({"records": [{"n": 0}, 5], "meta": {}}, "records[1]: expected a JSON object, got 5"),
        ({"records": [{"n": 0}]}, "meta: required"),
        ({"records": {"n": 0}, "meta": {}}, "records: expected a list of records (JSON objects), got a mapping"),
    ],
)
def test_a_file_of_another_shape_names_the_key_and_the_fix(
    tmp_path: Path, content: dict[str, Any], problem: str
) -> None:
    directory = tmp_path / "log"
    with SegmentedLog(directory, segment_size=1) as log:
        for n in range(2):
            log.append({"n": n})
    # An old segment (read from its body) and the newest (read through its storage).
    for name in ("seg-000001.json", "seg-000002.json"):
        (directory / name).write_bytes(_frame(json.dumps(content)))
    fix = "; it needs a records list and a meta object); Fix: move foreign files out of the log directory"
    with pytest.raises(StoreCorrupt) as newest:
        SegmentedLog(directory)
    assert str(newest.value) == f"{directory / 'seg-000002.json'} is not a log segment ({problem}{fix}"
    (directory / "seg-000002.json").write_bytes(_frame(json.dumps({"records": [{"n": 1}], "meta": {}})))
    with SegmentedLog(directory) as log, pytest.raises(StoreCorrupt) as old:
        list(log.records())
    assert str(old.value) == f"{directory / 'seg-000001.json'} is not a log segment ({problem}{fix}"


# -- SIGKILL -------------------------------------------------------------------------------


def test_sigkill_state_store_always_opens(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    rng = random.Random(20241121)
    last_put = 0
    for round_no in range(15):
        lines = spawn_and_kill(["state", str(path)], rng.uniform(0.02, 0.15))
        puts = [int(line.split()[1]) for line in lines if line.startswith("PUT ")]
        last_put = max([last_put, *puts])
        with StateStore(path) as store:
            assert store.recovered is False, f"round {round_no}: {store.recovery_note}"
            counter = store.get("counter")
            assert counter is not None and counter["n"] >= last_put, round_no
            clock = store.version_of("clock")
            assert clock is not None and clock >= last_put
        assert not list(tmp_path.glob("state.json.tmp-*"))
    assert last_put > 15  # the kills really landed mid-run
