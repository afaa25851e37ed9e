"""cli/serve_memory.py: glibc's allocator as the server's workers inherit it, observed in a
fresh interpreter (mallopt's settings are per process, and a test process's own would leak
into every later test)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# After a 1 MiB block is freed, is a 256 KiB one mmapped (hblkhd: bytes in mmapped blocks)?
# glibc's default threshold rose past 1 MiB with the free, so it comes from the heap.
# And how many arenas are there once eight threads have allocated (malloc_stats, on stderr)?
PROBE = textwrap.dedent(
    """
    import ctypes, sys, threading
    from tagtrail.cli.serve_memory import tune_allocator

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    libc.malloc.argtypes = [ctypes.c_size_t]
    if sys.argv[1] == "tuned":
        assert tune_allocator()
    libc.free(libc.malloc(1024 * 1024))
    before = libc.mallinfo2().hblkhd
    block = libc.malloc(256 * 1024)
    print("mmapped" if libc.mallinfo2().hblkhd - before >= 256 * 1024 else "heap")
    libc.free(block)

    started = threading.Barrier(8)
    def allocate():
        started.wait()  # all eight at once, so that they contend for arenas
        kept = [libc.malloc(64) for _ in range(1000)]
        for pointer in kept:
            libc.free(pointer)
    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sys.stdout.flush()
    libc.malloc_stats()
    """
)


def probe(mode: str) -> tuple[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return done.stdout.strip(), done.stderr.count("Arena ")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_threads_share_two_arenas_and_big_blocks_are_reused_from_the_heap() -> None:
    # The mmap threshold keeps rising as by default: a fixed one made every big block a fresh
    # mmap, whose page faults cost a mirror's first pull a third of its pace.
    assert probe("tuned") == ("heap", 2)
    # The default this changes: the threads got more arenas.
    placement, arenas = probe("default")
    assert placement == "heap" and arenas > 2


def test_what_the_workers_inherit_is_frozen() -> None:
    code = (
        "import gc; from tagtrail.cli.serve_memory import prepare_for_workers; "
        "before = gc.get_freeze_count(); prepare_for_workers(); "
        "print(before, gc.get_freeze_count() > 1000)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["0", "True"]
