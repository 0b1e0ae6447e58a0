"""Handing the C heap's free pages back to the system (glibc's ``malloc_trim``).

A screen that redraws builds and drops many short-lived buffers: rendered texts, the GL
driver's copies of textures, the vertices of a redraw. glibc keeps what is freed inside its heap
for the next allocation, and once the heap is fragmented it keeps it for good: the board held
35 MB of free heap after one busy wave of 300 tickets (``malloc_info``), a quarter of its own
memory. ``malloc_trim(0)`` gives every free page inside the heap back, not only its top. A
screen calls :func:`release_free_heap` when it has gone quiet, never in a frame.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    try:
        libc = ctypes.CDLL(None)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_heap() -> bool:
    """Give the heap's free pages back to the system; True when some were given back (always
    False where the C library cannot)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    released = bool(trim(0))
    log.debug("malloc_trim: %s", "pages released" if released else "nothing to release")
    return released
