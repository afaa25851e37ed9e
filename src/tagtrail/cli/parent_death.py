"""A child process that dies with its parent: the server's workers, and the child that
migrates a first start's schema (cli/serve_process.py, cli/serve_migrate.py). Kept apart from
those so that the migrating child need not import granian."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_WATCHDOG_INTERVAL = 0.2


def die_with_parent(parent: int) -> None:
    """Have this process killed when ``parent`` (the process that started it) dies.

    On Linux the kernel sends SIGKILL when the thread that forked us exits: granian spawns
    and respawns workers from its main thread only. If the parent died before the request
    took effect we already belong to another process (init or a subreaper), so check and go.
    Elsewhere a watchdog thread notices the new parent within a fraction of a second."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"prctl(PR_SET_PDEATHSIG): {os.strerror(code)}")
    else:
        watch_parent(parent, _WATCHDOG_INTERVAL)
    if os.getppid() != parent:
        os._exit(1)


def watch_parent(parent: int, interval: float) -> threading.Thread:
    """A daemon thread that kills this process once its parent is no longer ``parent``."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGKILL)

    watchdog = threading.Thread(target=watch, name="parent-watchdog", daemon=True)
    watchdog.start()
    return watchdog
