"""sync.outbox: durable, dense, acknowledged event journal; property and SIGKILL tests."""

from __future__ import annotations

import logging
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from harness import spawn_and_kill
from sync.errors import StoreError, StoreLocked
from sync.events import Event
from sync.outbox import Outbox
from sync.store import SegmentedLog

REPO = Path(__file__).resolve().parent.parent
CRASHER = Path(__file__).resolve().parent / "store_crasher.py"


def _append(box: Outbox, n: int, type: str = "ticket.issued") -> list[Event]:
    return [box.append(type, {"number": i}, hlc=f"h{i}", at_ms=1000 + i) for i in range(n)]


def test_append_assigns_dense_seqs_and_survives_reopen(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "ob", "disp-01", segment_size=4)
    assert box.last_seq == 0 and box.acked_seq == 0 and box.pending() == [] and box.pending_count() == 0
    events = _append(box, 10)
    assert [e.seq for e in events] == list(range(1, 11))
    assert events[0] == Event("disp-01", 1, "ticket.issued", "h0", 1000, {"number": 0})
    assert events[0].id == "disp-01:1"
    box.close()
    with Outbox(tmp_path / "ob", "disp-01", segment_size=4) as again:
        assert again.last_seq == 10 and again.acked_seq == 0
        assert again.pending(limit=100) == events
        assert again.append("ticket.called", {}, hlc="x", at_ms=1).seq == 11


def test_pending_window(tmp_path: Path) -> None:
    with Outbox(tmp_path, "d", segment_size=3) as box:
        _append(box, 10)
        assert [e.seq for e in box.pending(limit=3)] == [1, 2, 3]
        assert [e.seq for e in box.pending(after_seq=7)] == [8, 9, 10]
        assert box.pending(after_seq=10) == [] and box.pending(limit=0) == []
        box.ack(5)
        assert [e.seq for e in box.pending(after_seq=2, limit=2)] == [6, 7]  # never below the ack
        assert box.pending_count() == 5


def test_ack_is_cumulative_and_prunes_segments(tmp_path: Path) -> None:
    directory = tmp_path / "ob"
    with Outbox(directory, "d", segment_size=3) as box:
        _append(box, 10)  # segments 1:[1-3] 2:[4-6] 3:[7-9] 4:[10]
        assert box.ack(5) is True
        assert box.acked_seq == 5
        assert sorted(p.name for p in directory.glob("seg-*.json")) == [
            "seg-000002.json",
            "seg-000003.json",
            "seg-000004.json",
        ]
        assert box.ack(5) is False and box.ack(2) is False
        assert box.ack(10) is True
        # Everything acked: only the newest segment is left, and it must stay (it holds last_seq).
        assert [p.name for p in directory.glob("seg-*.json")] == ["seg-000004.json"]
        assert box.pending() == [] and box.pending_count() == 0
    with Outbox(directory, "d", segment_size=3) as box:
        assert (box.last_seq, box.acked_seq) == (10, 10)
        assert box.append("t", {}, hlc="h", at_ms=0).seq == 11


def test_an_ack_beyond_last_seq_is_refused_not_clamped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with Outbox(tmp_path, "d") as box:
        _append(box, 3)
        with caplog.at_level(logging.WARNING, logger="sync.outbox"):
            assert box.ack(99) is False
        assert box.acked_seq == 0 and [e.seq for e in box.pending()] == [1, 2, 3]  # nothing pruned
        assert any("beyond last_seq 3 refused" in r.getMessage() for r in caplog.records)
        assert box.ack(2) is True and box.acked_seq == 2  # the office's real ack still counts
        assert box.append("t", {}, hlc="h", at_ms=0).seq == 4
        assert [e.seq for e in box.pending()] == [3, 4]


def test_lost_ack_file_is_rebuilt_from_pruned_segments(tmp_path: Path) -> None:
    with Outbox(tmp_path, "d", segment_size=2) as box:
        _append(box, 7)
        box.ack(4)
    for name in ("ack.json", "ack.json.bak"):
        (tmp_path / name).unlink(missing_ok=True)
    with Outbox(tmp_path, "d", segment_size=2) as box:
        assert box.acked_seq == 4 and [e.seq for e in box.pending()] == [5, 6, 7]


def test_one_writer_per_outbox(tmp_path: Path) -> None:
    with Outbox(tmp_path, "d"), pytest.raises(StoreLocked):
        Outbox(tmp_path, "d")
    Outbox(tmp_path, "d").close()


def test_failed_append_uses_no_seq(tmp_path: Path) -> None:
    with Outbox(tmp_path, "d") as box:
        _append(box, 2)
        with pytest.raises(StoreError):
            box.append("t", {"bad": object()}, hlc="h", at_ms=0)
        assert box.last_seq == 2 and box.pending_count() == 2
        assert box.append("t", {"k": (1, 2)}, hlc="h", at_ms=0).data == {"k": [1, 2]}
    with Outbox(tmp_path, "d") as box:
        assert [e.seq for e in box.pending()] == [1, 2, 3]


def test_pending_does_not_touch_segments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Outbox(tmp_path, "d", segment_size=5) as box:
        _append(box, 40)

        def no_reads(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("pending() must not read segments")

        monkeypatch.setattr(SegmentedLog, "records", no_reads)
        for after in range(0, 40, 3):
            assert len(box.pending(after_seq=after, limit=10)) == min(10, 40 - after)


# -- property test ----------------------------------------------------------------------------


class OutboxMachine(RuleBasedStateMachine):
    """Random appends, acks and reopens against a model: a list of events and an ack mark."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="outbox-prop-"))
        self.box: Outbox | None = None
        self.model: list[tuple[str, dict[str, Any]]] = []
        self.acked = 0

    @initialize(segment_size=st.integers(1, 5))
    def open(self, segment_size: int) -> None:
        self.segment_size = segment_size
        self.box = Outbox(self.dir, "dev", segment_size=segment_size)

    @property
    def outbox(self) -> Outbox:
        if self.box is None:
            raise RuntimeError("not opened")
        return self.box

    @rule(
        type=st.sampled_from(["ticket.issued", "ticket.called", "printer.fault"]),
        data=st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=6), max_size=3),
    )
    def append(self, type: str, data: dict[str, Any]) -> None:
        event = self.outbox.append(type, data, hlc=f"{len(self.model):08x}", at_ms=len(self.model))
        self.model.append((type, data))
        assert event.seq == len(self.model)

    @rule(offset=st.integers(-3, 8))
    def ack(self, offset: int) -> None:
        seq = self.acked + offset
        advanced = self.outbox.ack(seq)
        # An ack beyond the last event is refused outright (never clamped to it).
        expected = seq if seq <= len(self.model) else self.acked
        assert advanced == (expected > self.acked)
        self.acked = max(self.acked, expected)

    @rule()
    def reopen(self) -> None:
        self.outbox.close()
        self.box = Outbox(self.dir, "dev", segment_size=self.segment_size)

    @precondition(lambda self: self.box is not None)
    @rule(after=st.integers(-1, 40), limit=st.integers(0, 6))
    def window(self, after: int, limit: int) -> None:
        got = [e.seq for e in self.outbox.pending(after_seq=after, limit=limit)]
        start = max(after, self.acked) + 1
        assert got == list(range(start, len(self.model) + 1))[:limit]

    @precondition(lambda self: self.box is not None)
    @invariant()
    def matches_model(self) -> None:
        box = self.outbox
        assert box.last_seq == len(self.model)
        assert box.acked_seq == self.acked
        pending = box.pending(limit=10**6)
        assert [e.seq for e in pending] == list(range(self.acked + 1, len(self.model) + 1))
        for event in pending:
            assert (event.type, dict(event.data)) == self.model[event.seq - 1]
            assert event.id == f"dev:{event.seq}"
        assert box.pending_count() == len(pending)
        # On disk: every unacked event is still in a segment, and pruning left no segment
        # (other than the newest) whose events are all acknowledged.
        on_disk = [r["seq"] for r in box._log.records()]
        if on_disk:
            assert on_disk == list(range(on_disk[0], on_disk[-1] + 1))
        assert set(range(self.acked + 1, len(self.model) + 1)) <= set(on_disk)
        for info in box._log.segments()[:-1]:
            assert info.last is not None and info.last["seq"] > self.acked

    def teardown(self) -> None:
        if self.box is not None:
            self.box.close()
        shutil.rmtree(self.dir, ignore_errors=True)


OutboxMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_outbox_properties = OutboxMachine.TestCase


# -- SIGKILL ----------------------------------------------------------------------------------


def _seqs(lines: list[str], word: str) -> list[int]:
    return [int(line.split()[1]) for line in lines if line.startswith(word + " ")]


def test_sigkill_never_loses_an_appended_event(tmp_path: Path) -> None:
    directory = tmp_path / "outbox"
    rng = random.Random(7031)
    printed: set[int] = set()
    for round_no in range(40):
        delay = rng.uniform(0.02, 0.15)
        lines = spawn_and_kill(["outbox", str(directory), "7"], delay)
        printed.update(_seqs(lines, "APPENDED"))
        with Outbox(directory, "crash-disp", segment_size=7) as box:
            seqs = [e.seq for e in box.pending(limit=10**6)]
            context = f"round {round_no}, delay {delay:.3f}s"
            assert seqs == list(range(1, box.last_seq + 1)), context  # dense, from 1
            assert printed <= set(seqs), context  # every promised event survived
            # At most one append can have finished without its line getting out.
            assert box.last_seq <= max(printed, default=0) + 1, context
        assert not list(directory.glob("*.tmp-*"))
    assert len(printed) > 100  # the kills landed while appending


def test_sigkill_with_acks_and_pruning(tmp_path: Path) -> None:
    directory = tmp_path / "outbox"
    rng = random.Random(1121)
    printed: set[int] = set()
    acked_printed = 0
    for round_no in range(12):
        lines = spawn_and_kill(["outbox", str(directory), "5", "4"], rng.uniform(0.02, 0.15))
        printed.update(_seqs(lines, "APPENDED"))
        acked_printed = max([acked_printed, *_seqs(lines, "ACKED")])
        with Outbox(directory, "crash-disp", segment_size=5) as box:
            context = f"round {round_no}"
            assert box.acked_seq >= acked_printed, context
            seqs = [e.seq for e in box.pending(limit=10**6)]
            assert seqs == list(range(box.acked_seq + 1, box.last_seq + 1)), context
            assert {s for s in printed if s > box.acked_seq} <= set(seqs), context
            assert len(list(directory.glob("seg-*.json"))) <= 3, context  # pruned
    assert acked_printed > 20
