"""The serving process's memory, set up for the workers it forks (``prepare_for_workers``).

Measured over the sequence of ``bench/run --auth`` (three 100 MB uploads, then its pull
loads), the server's PSS summed over its processes: 150 MB idle, 192-218 MB at the end in
three runs with the defaults, 167-168 MB in three runs with what is set here.

A forked worker shares the serving process's pages (its imported modules, its settings) until
either writes them. Python's collector writes to every object it traverses, so a full
collection in a worker copies them: a worker's PSS jumped from 56 to 74 MB in one run, and the
serving process's rose with it (fewer processes share what is left). Frozen before the fork
(``gc.freeze``), those objects are never traversed again.

Two of glibc's defaults keep memory a worker freed:

- Its mmap threshold rises to the size of the largest block freed so far, so after the first
  upload's big pieces, pieces of that size come from the heap, which fragments: +14 MB over
  the three uploads, against +7 MB with the threshold fixed at 128 KiB (big blocks then always
  come from mmap and go back to the kernel when freed).
- Each thread that allocates gets an arena of its own, up to eight per core: the threads that
  read blobs off the event loop left some 25 MB of arenas in some runs, none with two arenas,
  enough for a worker whose allocations are on the event loop.

Elsewhere (musl, macOS) the allocator is left as it is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

# mallopt's parameters (malloc.h)
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 128 * 1024
ARENA_MAX = 2


def prepare_for_workers() -> None:
    """Just before the workers fork: what exists now is frozen, the allocator set."""
    gc.collect()
    gc.freeze()
    tune_allocator()


def tune_allocator() -> bool:
    """Set the threshold and the arena limit; False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt answers 1 when it took the value.
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) and mallopt(M_ARENA_MAX, ARENA_MAX))
