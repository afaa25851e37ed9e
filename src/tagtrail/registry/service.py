"""The registry: the use cases wired to one metadata store and one blob driver."""

from __future__ import annotations

from dataclasses import dataclass

from tagtrail.blobs.driver import BlobDriver
from tagtrail.blobs.factory import open_driver
from tagtrail.config import Settings
from tagtrail.meta.store import MetadataStore
from tagtrail.registry.blob_cache import BlobCache
from tagtrail.registry.blobs import Blobs
from tagtrail.registry.history import History
from tagtrail.registry.manifests import Manifests
from tagtrail.registry.uploads import UploadLimits, Uploads


@dataclass(frozen=True, slots=True)
class Registry:
    meta: MetadataStore
    driver: BlobDriver
    uploads: Uploads
    blobs: Blobs
    manifests: Manifests
    history: History

    @classmethod
    def build(
        cls,
        meta: MetadataStore,
        driver: BlobDriver,
        *,
        protect_history: bool,
        limits: UploadLimits | None = None,
        blob_cache: BlobCache | None = None,
        allow_nondistributable: bool = True,
    ) -> Registry:
        return cls(
            meta=meta,
            driver=driver,
            uploads=Uploads(meta, driver, limits),
            blobs=Blobs(meta, driver, blob_cache),
            manifests=Manifests(meta, protect_history, allow_nondistributable),
            history=History(meta),
        )

    @classmethod
    async def open_on(cls, meta: MetadataStore, settings: Settings) -> Registry:
        """The registry on ``meta`` with the blob storage the settings name."""
        driver = await open_driver(settings)
        limits = UploadLimits(
            max_bytes=settings.max_upload_bytes,
            per_repository=settings.max_uploads_per_repository,
            expiry_ms=settings.upload_expiry_seconds * 1000,
        )
        return cls.build(
            meta,
            driver,
            protect_history=settings.protect_history,
            limits=limits,
            blob_cache=BlobCache(settings.blob_cache_bytes),
            allow_nondistributable=settings.allow_nondistributable_artifacts,
        )

    async def close(self) -> None:
        await self.driver.close()
