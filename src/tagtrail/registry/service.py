"""The registry: the use cases wired to one metadata store and one blob driver.

The store and the driver stay inside: callers go through the use cases (the API and the web UI
alike), and readiness through ``check``. Each use case gets only the store protocols it uses
(``meta.store``), here all from the one ``MetadataStore``.
"""

from __future__ import annotations

from tagtrail.blobs.driver import BlobDriver
from tagtrail.blobs.factory import open_driver
from tagtrail.config import Settings
from tagtrail.meta.mirrors import MirrorStore
from tagtrail.meta.store import MetadataStore
from tagtrail.registry.blob_cache import BlobCache
from tagtrail.registry.blobs import Blobs
from tagtrail.registry.browsing import Browsing
from tagtrail.registry.history import History
from tagtrail.registry.manifests import Manifests
from tagtrail.registry.mirror_guard import MirrorGuard
from tagtrail.registry.mirror_names import Organisations
from tagtrail.registry.mirroring import Mirroring
from tagtrail.registry.restore import Restore
from tagtrail.registry.tag_rules import TagRules
from tagtrail.registry.uploads import UploadLimits, Uploads


class Registry:
    __slots__ = (
        "_driver",
        "_meta",
        "blobs",
        "browsing",
        "history",
        "manifests",
        "mirroring",
        "restore",
        "rules",
        "uploads",
    )

    def __init__(
        self,
        meta: MetadataStore,
        driver: BlobDriver,
        *,
        protect_history: bool,
        limits: UploadLimits | None = None,
        blob_cache: BlobCache | None = None,
        allow_nondistributable: bool = True,
        mirrors: MirrorStore | None = None,
        organisations: Organisations | None = None,
    ) -> None:
        self._meta = meta
        self._driver = driver
        # Pushes, mounts and deletes into a mirror's prefix are refused (without: no mirrors).
        guard = None if mirrors is None else MirrorGuard(mirrors)
        # One per registry (a worker): the cache a rule change here clears at once.
        self.rules = TagRules(meta)
        self.uploads = Uploads(meta, meta, driver, limits, guard=guard)
        self.blobs = Blobs(meta, driver, blob_cache, guard=guard)
        self.manifests = Manifests(
            meta,
            meta,
            meta,
            protect_history=protect_history,
            allow_foreign=allow_nondistributable,
            guard=guard,
            rules=self.rules,
        )
        self.history = History(meta, meta)
        self.restore = Restore(meta, meta, meta, guard=guard, rules=self.rules)
        self.browsing = Browsing(meta, meta, meta, meta)
        # Without a mirror store (tests of one concept): no mirrors, pushes anywhere.
        self.mirroring = (
            None
            if mirrors is None
            else Mirroring.wire(mirrors, meta, driver, self.blobs, organisations, self.rules)
        )

    @classmethod
    async def open_on(
        cls,
        meta: MetadataStore,
        settings: Settings,
        mirrors: MirrorStore | None = None,
        organisations: Organisations | None = None,
    ) -> Registry:
        """The registry on ``meta`` with the blob storage the settings name."""
        driver = await open_driver(settings)
        limits = UploadLimits(
            max_bytes=settings.max_upload_bytes,
            per_repository=settings.max_uploads_per_repository,
            expiry_ms=settings.upload_expiry_seconds * 1000,
        )
        return cls(
            meta,
            driver,
            protect_history=settings.protect_history,
            limits=limits,
            blob_cache=BlobCache(settings.blob_cache_bytes),
            allow_nondistributable=settings.allow_nondistributable_artifacts,
            mirrors=mirrors,
            organisations=organisations,
        )

    def data_version(self) -> int | None:
        """What answers read from the metadata may be kept under: it changes whenever
        anything stored changes (a push, a tag move, an account's rights), in any process;
        None where the store cannot tell (then nothing may be kept)."""
        return self._meta.data_version()

    async def check(self) -> dict[str, str | None]:
        """Readiness of each part, "database" and "blobs": None when it answers, else the kind
        of failure (the exception's class name)."""
        status: dict[str, str | None] = {}
        for part, ping in (("database", self._meta.ping), ("blobs", self._driver.ping)):
            try:
                await ping()
                status[part] = None
            except Exception as exc:  # any failure means "not ready", with its kind named
                status[part] = type(exc).__name__
        return status

    async def close(self) -> None:
        if self.mirroring is not None:
            await self.mirroring.aclose()
        await self._driver.close()
