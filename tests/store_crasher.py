"""Write to a store forever so a test can SIGKILL us mid-write (see tests/test_outbox.py).

Usage::

    python tests/store_crasher.py outbox DIR [SEGMENT_SIZE [ACK_EVERY]]
    python tests/store_crasher.py state FILE

Prints ``READY`` once the store is open, then after every write *returns* one line, flushed:
``APPENDED <seq>`` (outbox), ``ACKED <seq>`` (outbox with ACK_EVERY > 0) or ``PUT <n>``
(state store). A line on stdout therefore promises that the write is durable.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script: make the repository importable without installing it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sync.outbox import Outbox
from sync.store import StateStore


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run_outbox(directory: str, segment_size: int, ack_every: int) -> None:
    """Append ticket-like events forever, acking a few behind every ``ack_every`` appends."""
    outbox = Outbox(directory, "crash-disp", segment_size=segment_size)
    _say("READY")
    while True:
        seq = outbox.last_seq + 1
        event = outbox.append(
            "ticket.issued",
            {"number": seq, "series": "A", "category": "juminhyo", "route": ["1", "3"]},
            hlc=f"{seq:016x}",
            at_ms=1_700_000_000_000 + seq,
        )
        _say(f"APPENDED {event.seq}")
        if ack_every and event.seq % ack_every == 0 and event.seq > 3:
            outbox.ack(event.seq - 3)
            _say(f"ACKED {event.seq - 3}")


def run_state(path: str) -> None:
    """Overwrite a couple of small documents forever."""
    store = StateStore(path)
    _say("READY")
    doc = store.get("counter")
    n = 0 if doc is None else int(doc["n"])
    while True:
        n += 1
        store.put("counter", {"n": n, "pad": "窓口" * 50})
        store.put_if_newer("clock", {"offset_ms": n}, n)
        _say(f"PUT {n}")


def main(argv: list[str]) -> int:
    """Dispatch on the mode argument."""
    if len(argv) >= 2 and argv[0] == "outbox":
        size = int(argv[2]) if len(argv) > 2 else 200
        ack_every = int(argv[3]) if len(argv) > 3 else 0
        run_outbox(argv[1], size, ack_every)
    elif len(argv) == 2 and argv[0] == "state":
        run_state(argv[1])
    else:
        sys.stderr.write(__doc__ or "")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
