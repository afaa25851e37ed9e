"""Blob reads and deletes, scoped to the repositories a blob was pushed or mounted into.

A read answers with how to send the blob, in this layer's own terms (``BlobDelivery``): the
HTTP layer sends what it is told and never sees a blob driver.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from tagtrail.blobs.driver import BlobDriver, LocalFile, Redirect, Stream
from tagtrail.errors import BlobUnknown
from tagtrail.meta.store import BlobLinkStore
from tagtrail.registry.blob_cache import BlobCache
from tagtrail.registry.mirror_guard import MirrorGuard, refuse_writes
from tagtrail.types import Digest, RepoName


@dataclass(frozen=True, slots=True)
class SendBytes:
    """The blob's bytes, held in this process (small blobs, registry/blob_cache.py)."""

    content: bytes


@dataclass(frozen=True, slots=True)
class SendFile:
    """A file on this machine: the server sends it itself (zero-copy)."""

    path: Path
    stat: os.stat_result

    @property
    def size(self) -> int:
        return self.stat.st_size


@dataclass(frozen=True, slots=True)
class SendRedirect:
    """The blob is served elsewhere (a presigned object-storage URL): the client goes there."""

    url: str


@dataclass(frozen=True, slots=True)
class SendStream:
    """Bytes streamed through this process: ``open(first, last)`` yields that inclusive range."""

    size: int
    open: Callable[[int, int], AsyncIterator[bytes]]


BlobDelivery = SendBytes | SendFile | SendRedirect | SendStream


class Blobs:
    def __init__(
        self,
        links: BlobLinkStore,
        driver: BlobDriver,
        cache: BlobCache | None = None,
        *,
        guard: MirrorGuard | None = None,
    ) -> None:
        self._guard = guard
        self._links = links
        self._driver = driver
        self._cache = cache if cache is not None else BlobCache(0)  # 0: holds nothing

    async def size(self, name: RepoName, digest: Digest) -> int:
        """Size of a blob linked into ``name``, for a HEAD; BlobUnknown otherwise. The link
        records the size and vouches for the bytes (as for a redirecting GET, and a mirror's
        HEAD), so the driver is not asked: an S3 driver would presign a URL a HEAD never
        sends, and a small blob would be read into the cache for nothing."""
        size = await self._links.blob_size(name, digest)
        if size is None:
            raise BlobUnknown(detail={"digest": str(digest)})
        return size

    async def open(self, name: RepoName, digest: Digest) -> tuple[int, BlobDelivery]:
        """Size of a blob linked into ``name`` and how to send it; BlobUnknown otherwise.
        Small blobs come from memory once read (SendBytes); the link is checked first either
        way."""
        size = await self.size(name, digest)
        cached = self._cache.get(digest)
        if cached is not None:
            return size, SendBytes(cached)
        source = await self._driver.source(digest)
        if source is None:
            raise BlobUnknown(detail={"digest": str(digest)})
        if isinstance(source, Redirect):
            return size, SendRedirect(source.url)
        if self._cache.admits(size):
            content = await _read_whole(source, size)
            if len(content) == size:  # else the store changed under us: serve it as it is
                self._cache.put(digest, content)
                return size, SendBytes(content)
        if isinstance(source, LocalFile):
            return size, SendFile(source.path, source.stat)
        return size, SendStream(source.size, source.open)

    async def delete(self, name: RepoName, digest: Digest) -> None:
        """Unlink the blob from ``name``; the bytes stay for other repositories (and GC).
        Refused (Unsupported) while a manifest of ``name`` references it: its pulls would
        fail, and whatever history names that manifest would name something unpullable."""
        await refuse_writes(self._guard, name)
        if not await self._links.unlink_blob(name, digest):
            raise BlobUnknown(detail={"digest": str(digest)})


async def _read_whole(source: LocalFile | Stream, size: int) -> bytes:
    if isinstance(source, LocalFile):
        # In a thread: a file not in the page cache would stall every request of the worker.
        return await asyncio.to_thread(source.path.read_bytes)
    if size == 0:
        return b""
    return b"".join([chunk async for chunk in source.open(0, size - 1)])
