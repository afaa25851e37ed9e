"""Small blobs' bytes kept in memory by digest, so a pull of a config or a signature does not
go to the disk or the object store each time.

Content-addressed bytes never change, so an entry never goes stale. Whether a repository may
read a blob is not the cache's business: Blobs.open asks the metadata store on every request,
before it looks here, so an unlinked or collected blob stops being served at once.
"""

from __future__ import annotations

from cachetools import LRUCache

from tagtrail import metrics
from tagtrail.types import Digest

# Larger blobs go out zero-copy from their file (or by redirect) instead: above this size the
# copy through Python costs more than the server's own file sending.
LARGEST_CACHED = 64 * 1024


class BlobCache:
    """Least recently used out first, bounded by the bytes it holds (one per worker)."""

    def __init__(self, capacity: int, largest: int = LARGEST_CACHED) -> None:
        self.capacity = capacity
        self.largest = min(largest, capacity)
        self._entries: LRUCache[Digest, bytes] = LRUCache(maxsize=capacity, getsizeof=len)

    def admits(self, size: int) -> bool:
        return self.capacity > 0 and size <= self.largest

    def get(self, digest: Digest) -> bytes | None:
        found = self._entries.get(digest)
        if found is not None:
            metrics.BLOB_CACHE_HITS.inc()
        return found

    def put(self, digest: Digest, content: bytes) -> None:
        """A small blob read from storage (a miss: Blobs.open reads only what ``get`` lacks)."""
        metrics.BLOB_CACHE_MISSES.inc()
        if self.admits(len(content)) and digest not in self._entries:
            self._entries[digest] = content  # drops the least recently used to make room

    @property
    def held(self) -> int:
        """Bytes held now."""
        return int(self._entries.currsize)
