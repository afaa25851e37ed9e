"""Small blobs' bytes kept in memory by digest, so a pull of a config or a signature does not
go to the disk or the object store each time.

Content-addressed bytes never change, so an entry never goes stale. Whether a repository may
read a blob is not the cache's business: Blobs.open asks the metadata store on every request,
before it looks here, so an unlinked or collected blob stops being served at once.
"""

from __future__ import annotations

from collections import OrderedDict

from tagtrail.types import Digest

# Larger blobs go out zero-copy from their file (or by redirect) instead: above this size the
# copy through Python costs more than the server's own file sending.
LARGEST_CACHED = 64 * 1024


class BlobCache:
    """Least recently used out first, bounded by the bytes it holds (one per worker)."""

    def __init__(self, capacity: int, largest: int = LARGEST_CACHED) -> None:
        self.capacity = capacity
        self.largest = min(largest, capacity)
        self._entries: OrderedDict[Digest, bytes] = OrderedDict()
        self._held = 0

    def admits(self, size: int) -> bool:
        return self.capacity > 0 and size <= self.largest

    def get(self, digest: Digest) -> bytes | None:
        content = self._entries.get(digest)
        if content is not None:
            self._entries.move_to_end(digest)
        return content

    def put(self, digest: Digest, content: bytes) -> None:
        if not self.admits(len(content)) or digest in self._entries:
            return
        self._entries[digest] = content
        self._held += len(content)
        while self._held > self.capacity:
            _, dropped = self._entries.popitem(last=False)
            self._held -= len(dropped)

    @property
    def held(self) -> int:
        """Bytes held now."""
        return self._held
