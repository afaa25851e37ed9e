"""The serving process's memory, set up for the workers it forks (``prepare_for_workers``).

A forked worker shares the serving process's pages (its imported modules, its settings) until
either writes them. Python's collector writes to every object it traverses, so one full
collection in a worker copied some 20 MB of them (PSS of a worker rising from 56 to 74 MB in
a bench run); frozen before the fork (``gc.freeze``), they are never traversed again.

Two of glibc's defaults cost a worker memory it never gives back, measured with
``bench/run --auth`` (the workers' PSS, summed):

- Its mmap threshold rises to the size of the largest block freed so far: after the first
  upload's big pieces, pieces of that size come from the heap, which fragments and keeps
  growing (10-14 MB a 100 MB upload here). Fixed at 128 KiB, big blocks always come from mmap
  and go back to the kernel when freed.
- Each thread that allocates gets an arena of its own, up to eight per core: the threads that
  read blobs off the event loop left some 25 MB of arenas behind in each bench run. Two
  arenas are enough for a worker whose allocations are on the event loop.

Elsewhere (musl, macOS) nothing is done.
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
