"""How the filesystem driver appends a request's bytes to an upload file.

Two writers, one interface (``write`` each piece, in order, possibly in a thread; ``close``
once, when the body has ended or failed):

- ``DirectWriter`` writes around the page cache (``O_DIRECT``). Copying a 100 MB push into
  the page cache was a third of the server's CPU during the push (``perf``: the kernel's
  ``copy_folio_from_iter_atomic``); written directly, the device reads the bytes from this
  process's buffer, the server takes a 100 MB upload in about half the time, and a big push
  no longer evicts what pulls keep hot. Direct writes need aligned memory, lengths and file
  offsets: pieces are gathered in a page-aligned buffer and written a MiB at a time, and the
  tail that does not fill a block goes through the ordinary file handle at the end.
- ``SyncingWriter`` writes through the page cache and fdatasyncs as it goes. It serves an
  append that starts mid-block (a chunked upload resumed after an odd-sized chunk) and
  filesystems without direct I/O (tmpfs).

Either way the commit fsyncs the file before the blob becomes visible (filesystem.py), so
what is acknowledged is on the disk.
"""

from __future__ import annotations

import errno
import mmap
import os
from pathlib import Path
from typing import BinaryIO, Protocol

# Direct I/O alignment: the page size, a multiple of every common logical block size.
ALIGNMENT = 4096
_DIRECT_BUFFER = 1024 * 1024  # one device write per MiB
_SYNC_BYTES = 16 * 1024 * 1024


class UploadWriter(Protocol):
    def write(self, piece: bytes) -> None: ...

    def close(self) -> None:
        """Write out whatever is held back and release the writer's resources."""


def writer_for(path: Path, handle: BinaryIO, offset: int) -> UploadWriter:
    """The writer for an append at ``offset`` of the upload file ``path``, open as ``handle``
    and positioned there."""
    if offset % ALIGNMENT == 0:
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_DIRECT)
        except OSError as exc:
            if exc.errno != errno.EINVAL:  # EINVAL: this filesystem has no direct I/O
                raise
        else:
            return DirectWriter(descriptor, handle, offset)
    return SyncingWriter(handle)


class SyncingWriter:
    """Appends through the page cache and makes the bytes reach the disk as the upload goes
    (fdatasync every ``_SYNC_BYTES``), so the commit's fsync has only the tail left."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._unsynced = 0

    def write(self, piece: bytes) -> None:
        self._handle.write(piece)
        self._unsynced += len(piece)
        if self._unsynced >= _SYNC_BYTES:
            self._handle.flush()
            os.fdatasync(self._handle.fileno())
            self._unsynced = 0

    def close(self) -> None:
        self._handle.flush()


class DirectWriter:
    """Appends with O_DIRECT from an aligned buffer; the unaligned tail goes through
    ``handle``, which is left positioned after the last byte."""

    def __init__(self, descriptor: int, handle: BinaryIO, offset: int) -> None:
        self._descriptor = descriptor
        self._handle = handle
        self._position = offset
        self._buffer = mmap.mmap(-1, _DIRECT_BUFFER)  # anonymous: page-aligned
        self._view = memoryview(self._buffer)
        self._held = 0
        self._direct = True

    def write(self, piece: bytes) -> None:
        data = memoryview(piece)
        while data:
            taken = min(len(data), _DIRECT_BUFFER - self._held)
            self._view[self._held : self._held + taken] = data[:taken]
            self._held += taken
            data = data[taken:]
            if self._held == _DIRECT_BUFFER:
                self._write_out(_DIRECT_BUFFER)

    def close(self) -> None:
        try:
            self._write_out(self._held - self._held % ALIGNMENT)
            self._handle.seek(self._position)
            self._handle.write(self._view[: self._held])
            self._handle.flush()
        finally:
            os.close(self._descriptor)
            self._view.release()
            self._buffer.close()

    def _write_out(self, length: int) -> None:
        """Write the buffer's first ``length`` bytes (a multiple of ALIGNMENT) at the file's
        end and keep the rest at the buffer's start."""
        if length == 0:
            return
        if self._direct:
            try:
                written = 0
                while written < length:  # a short write continues where it stopped
                    written += os.pwrite(
                        self._descriptor, self._view[written:length], self._position + written
                    )
            except OSError as exc:
                # A filesystem that opens O_DIRECT but wants a coarser alignment: go on
                # through the page cache.
                if exc.errno != errno.EINVAL:
                    raise
                self._direct = False
        if not self._direct:
            self._handle.seek(self._position)
            self._handle.write(self._view[:length])
        self._position += length
        rest = self._held - length
        self._view[:rest] = self._view[length : self._held]
        self._held = rest
