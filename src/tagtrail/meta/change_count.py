"""The count of a SQLite database's commits, shared by every process on the machine through a
small memory-mapped file beside it: what tells a worker, in a fraction of a microsecond,
whether anything stored changed since it last looked (``Database.data_version``).

SQLite's own answer, ``PRAGMA data_version``, opens a read transaction (file locks, system
calls): 5-7 us a call on a slow machine, as much as a pull answered from a worker's kept
answers (api/pull_answers.py) costs in all, and 15-40% of such pulls' rate under load.

Every write transaction adds one to the count after its COMMIT and before the write is
acknowledged, under an exclusive ``flock`` of the file: two writers never store the same
number, and the count never goes back, so a number read before a read names every commit
that read may have missed. A writer that dies between its COMMIT and its count, or a write
by anything that is not tagtrail, is caught by SQLite's own ``data_version``, which readers
ask as well at least every ``BACKSTOP_SECONDS`` (``Database.data_version``).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from pathlib import Path

SUFFIX = "-tagtrail-changes"  # beside the database file, as SQLite's -wal and -shm
_COUNT = struct.Struct("<Q")


class ChangeCount:
    """The shared count of one database's commits (``path``: the database file's)."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + SUFFIX)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < _COUNT.size:
                with _locked(fd):  # another process may be creating it too
                    if os.fstat(fd).st_size < _COUNT.size:
                        os.ftruncate(fd, _COUNT.size)
            self._map = mmap.mmap(fd, _COUNT.size)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def read(self) -> int:
        value: int = _COUNT.unpack_from(self._map)[0]
        return value

    def add(self) -> None:
        """One more commit (after it, before it is acknowledged)."""
        with _locked(self._fd):
            _COUNT.pack_into(self._map, 0, (self.read() + 1) & 0xFFFFFFFFFFFFFFFF)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)


class _locked:
    """An exclusive flock of ``fd`` for the block."""

    __slots__ = ("_fd",)

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc_info: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
