"""The serving process's memory, set up for the workers it forks (``prepare_for_workers``).

Measured over the sequence of ``bench/run --auth`` (three 100 MB uploads, then its pull
loads), the server's PSS summed over its processes: 150 MB idle, 192-218 MB at the end in
three runs with the defaults, 167-168 MB in three runs with what is set here (and a fixed mmap
threshold, since dropped: see below).

A forked worker shares the serving process's pages (its imported modules, its settings) until
either writes them. Python's collector writes to every object it traverses, so a full
collection in a worker copies them: a worker's PSS jumped from 56 to 74 MB in one run, and the
serving process's rose with it (fewer processes share what is left). Frozen before the fork
(``gc.freeze``), those objects are never traversed again.

Each thread that allocates gets an arena of glibc's allocator of its own, up to eight per
core: the threads that read blobs off the event loop left some 25 MB of arenas in some runs,
none with two arenas, enough for a worker whose allocations are on the event loop.

glibc's mmap threshold is left to rise as it does by default (to the largest block freed so
far). It was fixed at 128 KiB once, for 7 MB less growth over three 100 MB uploads in one
measurement; but then every big block (a 256 KiB read off an upstream's socket, a 1 MiB piece)
was a fresh mmap, its pages faulted in and zeroed each time: a mirror's first pull of a 100 MB
blob came at 181-183 MB/s against 275-293 with the default, uploads at 133-140 MB/s against
150-170, and the peak PSS over ``bench/run --auth``'s sequence did not differ (183-185 MB
against 186-187).

Elsewhere (musl, macOS) the allocator is left as it is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

M_ARENA_MAX = -8  # mallopt's parameter (malloc.h)
ARENA_MAX = 2


def prepare_for_workers() -> None:
    """Just before the workers fork: what exists now is frozen, the arenas limited."""
    gc.collect()
    gc.freeze()
    tune_allocator()


def tune_allocator() -> bool:
    """Limit the allocator's arenas; False where the C library is not glibc."""
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
    return bool(mallopt(M_ARENA_MAX, ARENA_MAX))
