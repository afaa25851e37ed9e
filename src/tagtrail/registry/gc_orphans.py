"""gc's last passes: bytes and upload data the blob driver holds but no row records.

The rule and why it is safe while pushes continue are ``tagtrail.meta.garbage``'s. What matters
here is the order: each batch of the driver's listing is taken before the rows are asked for,
and bytes go only through ``delete_blob_if_orphan`` (which asks again under the digest's lock).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from tagtrail.blobs.driver import BlobDriver, StoredBlob
from tagtrail.meta.garbage import Collected, GarbageStore, GcPolicy

if TYPE_CHECKING:
    from tagtrail.registry.gc import GcProgress

ORPHANED = "orphaned blob bytes"
_BATCH = 1000  # listed entries per membership query: memory stays flat over millions

_T = TypeVar("_T")


async def _batches(listing: AsyncIterator[_T]) -> AsyncIterator[list[_T]]:
    batch: list[_T] = []
    async for item in listing:
        batch.append(item)
        if len(batch) >= _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class OrphanCollector:
    def __init__(
        self, store: GarbageStore, driver: BlobDriver, progress: GcProgress | None = None
    ) -> None:
        self._store = store
        self._driver = driver
        self._progress = progress

    async def blobs(self, policy: GcPolicy) -> list[Collected]:
        """Remove (unless dry run) stored blobs older than the grace period that no row
        names; what was (or would be) removed."""
        collected: list[Collected] = []
        listing = self._driver.stored_blobs()
        old = (b async for b in listing if b.modified_ms <= policy.young_after_ms)
        if self._progress:
            self._progress.phase("stored blobs", None)
        async for batch in _batches(old):
            recorded = await self._store.recorded_blobs([str(b.digest) for b in batch])
            for blob in batch:
                digest = str(blob.digest)
                if digest in recorded:
                    continue
                if policy.dry_run or await self._store.delete_blob_if_orphan(
                    digest, self._deleter(blob)
                ):
                    collected.append(Collected("", ORPHANED, digest, blob.size))
            if self._progress:
                self._progress.advance(len(batch))
        return collected

    def _deleter(self, blob: StoredBlob) -> Callable[[], Awaitable[None]]:
        async def delete() -> None:
            await self._driver.delete(blob.digest)

        return delete

    async def uploads(self, policy: GcPolicy) -> list[str]:
        """Remove (unless dry run) upload data older than the grace period whose session has
        no row; the upload ids."""
        gone: list[str] = []
        listing = self._driver.stored_uploads()
        old = (u async for u in listing if u.modified_ms <= policy.young_after_ms)
        if self._progress:
            self._progress.phase("stored uploads", None)
        async for batch in _batches(old):
            recorded = await self._store.recorded_uploads([u.upload_id for u in batch])
            for upload in batch:
                if upload.upload_id in recorded:
                    continue
                if not policy.dry_run:
                    await self._driver.cancel_upload(upload.upload_id)
                gone.append(upload.upload_id)
            if self._progress:
                self._progress.advance(len(batch))
        return gone
