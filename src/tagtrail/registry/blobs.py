"""Blob reads and deletes, scoped to the repositories a blob was pushed or mounted into."""

from __future__ import annotations

import asyncio

from tagtrail.blobs.driver import BlobDriver, BlobSource, InMemory, LocalFile, Stream
from tagtrail.errors import BlobUnknown
from tagtrail.meta.store import MetadataStore
from tagtrail.registry.blob_cache import BlobCache
from tagtrail.types import Digest, RepoName


class Blobs:
    def __init__(
        self,
        meta: MetadataStore,
        driver: BlobDriver,
        cache: BlobCache | None = None,
    ) -> None:
        self._meta = meta
        self._driver = driver
        self._cache = cache if cache is not None else BlobCache(0)  # 0: holds nothing

    async def open(self, name: RepoName, digest: Digest) -> tuple[int, BlobSource]:
        """Size and source of a blob linked into ``name``; BlobUnknown otherwise. Small blobs
        come from memory once read (InMemory); the link is checked first either way."""
        size = await self._meta.blob_size(name, digest)
        if size is None:
            raise BlobUnknown(detail={"digest": str(digest)})
        cached = self._cache.get(digest)
        if cached is not None:
            return size, InMemory(cached)
        source = await self._driver.source(digest)
        if source is None:
            raise BlobUnknown(detail={"digest": str(digest)})
        if self._cache.admits(size) and isinstance(source, LocalFile | Stream):
            content = await _read_whole(source, size)
            if len(content) == size:  # else the store changed under us: serve it as it is
                self._cache.put(digest, content)
                return size, InMemory(content)
        return size, source

    async def delete(self, name: RepoName, digest: Digest) -> None:
        """Unlink the blob from ``name``; the bytes stay for other repositories (and GC).
        Refused (Unsupported) while a manifest of ``name`` references it: its pulls would
        fail, and whatever history names that manifest would name something unpullable."""
        if not await self._meta.unlink_blob(name, digest):
            raise BlobUnknown(detail={"digest": str(digest)})


async def _read_whole(source: LocalFile | Stream, size: int) -> bytes:
    if isinstance(source, LocalFile):
        # In a thread: a file not in the page cache would stall every request of the worker.
        return await asyncio.to_thread(source.path.read_bytes)
    if size == 0:
        return b""
    return b"".join([chunk async for chunk in source.open(0, size - 1)])
