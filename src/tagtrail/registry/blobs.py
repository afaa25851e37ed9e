"""Blob reads and deletes, scoped to the repositories a blob was pushed or mounted into."""

from __future__ import annotations

from tagtrail.blobs.driver import BlobDriver, BlobSource
from tagtrail.errors import BlobUnknown
from tagtrail.meta.store import MetadataStore
from tagtrail.types import Digest, RepoName


class Blobs:
    def __init__(self, meta: MetadataStore, driver: BlobDriver, protect_history: bool) -> None:
        self._meta = meta
        self._driver = driver
        self._protect_history = protect_history

    async def open(self, name: RepoName, digest: Digest) -> tuple[int, BlobSource]:
        """Size and source of a blob linked into ``name``; BlobUnknown otherwise."""
        size = await self._meta.blob_size(name, digest)
        if size is None:
            raise BlobUnknown(detail={"digest": str(digest)})
        source = await self._driver.source(digest)
        if source is None:
            raise BlobUnknown(detail={"digest": str(digest)})
        return size, source

    async def delete(self, name: RepoName, digest: Digest) -> None:
        """Unlink the blob from ``name``; the bytes stay for other repositories (and GC)."""
        if not await self._meta.unlink_blob(name, digest, self._protect_history):
            raise BlobUnknown(detail={"digest": str(digest)})
