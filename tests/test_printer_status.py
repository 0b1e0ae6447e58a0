"""DLE EOT replies: every bit of every query, the fixed-bit check, and the merged status."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.printer_status import QUERIES, StatusReplyError, combine, parse_status, status_query
from drivers.ticket_printer import PrinterStatus

BASE = 0x12  # bits 1 and 4: a valid reply with nothing to report

# (n, bit, flag): one row per documented bit (HARDWARE.md, "Real-time status").
BITS = [
    (1, 3, "offline"),
    (2, 2, "cover_open"),
    (2, 3, "feeding_by_button"),
    (2, 5, "stopped_by_paper_end"),
    (2, 6, "error"),
    (3, 3, "cutter_error"),
    (3, 5, "unrecoverable_error"),
    (3, 6, "auto_recoverable_error"),
    (4, 2, "paper_near_end"),
    (4, 3, "paper_near_end"),
    (4, 5, "paper_out"),
    (4, 6, "paper_out"),
]


@pytest.mark.parametrize("n", QUERIES)
def test_the_fixed_bits_alone_mean_nothing_to_report(n: int) -> None:
    assert not any(parse_status(n, BASE).values())


@pytest.mark.parametrize(("n", "bit", "flag"), BITS)
def test_each_documented_bit_sets_its_flag_and_only_it(n: int, bit: int, flag: str) -> None:
    flags = parse_status(n, BASE | 1 << bit)
    assert flags[flag] is True
    assert [name for name, on in flags.items() if on] == [flag]


@pytest.mark.parametrize("n", QUERIES)
def test_undocumented_bits_are_ignored(n: int) -> None:
    documented = sum(1 << bit for m, bit, _ in BITS if m == n)
    undocumented = 0b0110_1100 & ~documented  # the free bits (2, 3, 5, 6) this n does not use
    assert not any(parse_status(n, BASE | undocumented).values())


@pytest.mark.parametrize("byte", [0x00, 0x13, 0x92, 0x10, 0x02, 0xFF, 0x1E | 0x01])
@pytest.mark.parametrize("n", QUERIES)
def test_a_byte_without_the_fixed_pattern_is_not_a_reply(n: int, byte: int) -> None:
    with pytest.raises(StatusReplyError, match=f"0x{byte:02x}"):
        parse_status(n, byte)


@given(n=st.sampled_from(QUERIES), byte=st.integers(0, 255))
def test_any_byte_either_parses_or_raises_status_reply_error(n: int, byte: int) -> None:
    valid = byte & 0x93 == 0x12
    try:
        flags = parse_status(n, byte)
    except StatusReplyError:
        assert not valid
    else:
        assert valid
        assert all(isinstance(v, bool) for v in flags.values())


def test_queries_outside_1_to_4_are_refused() -> None:
    with pytest.raises(ValueError, match="1, 2, 3, 4"):
        parse_status(5, BASE)
    with pytest.raises(ValueError, match="one byte"):
        parse_status(1, 256)
    assert status_query(4) == b"\x10\x04\x04"


def test_all_clear_replies_make_a_printer_that_is_ok() -> None:
    status = combine({1: BASE, 2: BASE, 3: BASE, 4: BASE})
    assert status.ok and status.fault is None
    assert status.detail == "DLE EOT 1=0x12 2=0x12 3=0x12 4=0x12"


@pytest.mark.parametrize(
    ("replies", "expected", "fault"),
    [
        ({1: BASE | 0x08}, PrinterStatus(online=False), "offline"),
        ({1: BASE | 0x08, 2: BASE | 0x04}, PrinterStatus(online=False, cover_open=True), "cover_open"),
        ({2: BASE | 0x20}, PrinterStatus(paper_out=True), "paper_out"),
        ({3: BASE | 0x08}, PrinterStatus(cutter_error=True), "cutter_error"),
        ({3: BASE | 0x20}, PrinterStatus(unrecoverable_error=True), "unrecoverable_error"),
        ({3: BASE | 0x40}, PrinterStatus(auto_recoverable_error=True), "auto_recoverable_error"),
        ({4: BASE | 0x0C}, PrinterStatus(paper_near_end=True), None),
        ({4: BASE | 0x6C}, PrinterStatus(paper_near_end=True, paper_out=True), "paper_out"),
    ],
)
def test_combine_maps_flags_onto_the_printer_status(
    replies: dict[int, int], expected: PrinterStatus, fault: str | None
) -> None:
    status = combine(replies)
    assert (status.online, status.cover_open, status.paper_out, status.paper_near_end) == (
        expected.online,
        expected.cover_open,
        expected.paper_out,
        expected.paper_near_end,
    )
    assert (status.cutter_error, status.unrecoverable_error, status.auto_recoverable_error) == (
        expected.cutter_error,
        expected.unrecoverable_error,
        expected.auto_recoverable_error,
    )
    assert status.connected
    assert status.fault == fault
    assert status.ok is (fault is None)


def test_combine_names_the_flags_in_the_detail_and_refuses_a_bad_byte() -> None:
    assert combine({1: 0x1A, 4: 0x7E}).detail == "DLE EOT 1=0x1a 4=0x7e (offline, paper_near_end, paper_out)"
    with pytest.raises(StatusReplyError):
        combine({1: BASE, 4: 0x00})
