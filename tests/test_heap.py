"""common.heap: free pages inside a fragmented C heap go back to the system."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest

from common.heap import release_free_heap


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_free_pages_inside_the_heap_are_given_back() -> None:
    libc = ctypes.CDLL(None)
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    # Blocks of 64 KB stay below malloc's mmap threshold: they come from the heap. Each is
    # followed by a block kept (as large, so that no hole the process already has can take it),
    # and only the first of each pair is freed: 40 MB of holes glibc does not give back by
    # itself, as after a screen's redraw.
    size, pairs = 64 * 1024, 640
    blocks = []
    for _ in range(pairs):
        freed, kept = libc.malloc(size), libc.malloc(size + 64)
        ctypes.memset(freed, 1, size)
        blocks.append((freed, kept))
    for freed, _kept in blocks:
        libc.free(freed)
    before = _rss_kb()
    released = release_free_heap()
    after = _rss_kb()
    for _freed, kept in blocks:
        libc.free(kept)
    assert released
    assert before - after > 30_000, (before, after)  # most of the 40 MB
