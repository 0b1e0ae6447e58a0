"""ESC/POS real-time status: the one-byte replies to ``DLE EOT n`` (10 04 n), decoded.

Pure: bytes in, flags out. The bit meanings are Epson's (HARDWARE.md, "Real-time status");
printers that emulate ESC/POS answer the same way or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping

from drivers.ticket_printer import PrinterError, PrinterStatus

DLE_EOT = b"\x10\x04"

# A reply always has bits 1 and 4 set and bits 0 and 7 clear: that fixed pattern is how a
# host tells a status byte from a stray byte (echo, garbage on a serial line, ASB data).
_FIXED_MASK = 0b1001_0011
_FIXED_VALUE = 0b0001_0010

# n -> {flag name: bit mask}. A flag is set when any bit of its mask is set: the paper
# sensors report a condition on two bits, and a single bit is already reason to warn.
_FLAGS: Mapping[int, Mapping[str, int]] = {
    1: {"offline": 1 << 3},
    2: {
        "cover_open": 1 << 2,
        "feeding_by_button": 1 << 3,
        "stopped_by_paper_end": 1 << 5,
        "error": 1 << 6,
    },
    3: {
        "cutter_error": 1 << 3,
        "unrecoverable_error": 1 << 5,
        "auto_recoverable_error": 1 << 6,
    },
    4: {
        "paper_near_end": (1 << 2) | (1 << 3),
        "paper_out": (1 << 5) | (1 << 6),
    },
}

QUERIES: tuple[int, ...] = tuple(sorted(_FLAGS))
"""The ``n`` of every DLE EOT query this module understands (1-4)."""


class StatusReplyError(PrinterError):
    """A byte that cannot be a DLE EOT reply (wrong fixed bits): the line is not a printer's."""


def status_query(n: int) -> bytes:
    """The bytes of the ``DLE EOT n`` query."""
    _check_n(n)
    return DLE_EOT + bytes((n,))


def parse_status(n: int, byte: int) -> dict[str, bool]:
    """Decode the reply ``byte`` to ``DLE EOT n`` into named flags.

    Raises :class:`StatusReplyError` when the fixed bits are wrong (bits 0 and 7 must be 0,
    bits 1 and 4 must be 1) and ``ValueError`` for an ``n`` outside 1-4 or a value that is
    not a byte.
    """
    _check_n(n)
    if not 0 <= byte <= 0xFF:
        raise ValueError(f"a status reply is one byte (0-255), got {byte}")
    if byte & _FIXED_MASK != _FIXED_VALUE:
        raise StatusReplyError(
            f"invalid reply 0x{byte:02x} to DLE EOT {n}: bits 0 and 7 must be 0 and bits 1 and 4 must be 1"
        )
    return {name: bool(byte & mask) for name, mask in _FLAGS[n].items()}


def combine(replies: Mapping[int, int]) -> PrinterStatus:
    """Merge the replies to several DLE EOT queries (``{n: byte}``) into one PrinterStatus.

    A query that was not asked contributes nothing (a model may answer only 1 and 4).
    Raises :class:`StatusReplyError` for an invalid byte, like :func:`parse_status`.
    """
    flags = {n: parse_status(n, byte) for n, byte in sorted(replies.items())}
    printer = flags.get(1, {})
    cause = flags.get(2, {})
    error = flags.get(3, {})
    paper = flags.get(4, {})
    words = [name for n in sorted(flags) for name, on in flags[n].items() if on]
    raw = " ".join(f"{n}=0x{byte:02x}" for n, byte in sorted(replies.items()))
    return PrinterStatus(
        online=not printer.get("offline", False),
        cover_open=cause.get("cover_open", False),
        # n=2 bit 5 says a job was stopped by the paper end even when the sensor of n=4 was
        # not asked: either way the roll is out.
        paper_out=paper.get("paper_out", False) or cause.get("stopped_by_paper_end", False),
        paper_near_end=paper.get("paper_near_end", False),
        cutter_error=error.get("cutter_error", False),
        unrecoverable_error=error.get("unrecoverable_error", False),
        auto_recoverable_error=error.get("auto_recoverable_error", False),
        detail=f"DLE EOT {raw}" + (f" ({', '.join(words)})" if words else ""),
    )


def _check_n(n: int) -> None:
    if n not in _FLAGS:
        raise ValueError(f"DLE EOT n must be one of {', '.join(map(str, QUERIES))}, got {n}")
