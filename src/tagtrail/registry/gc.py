"""Garbage collection: what no kept manifest needs goes, history within retention stays.

The rule is ``tagtrail.meta.garbage``'s. Safe while pushes continue: each repository is swept
in one transaction that manifest pushes exclude; links and manifests younger than the grace
period stay (a blob pushed for a manifest still to come); bytes go only when nothing links or
references the digest, under the lock that linking takes, and an upload that linked the digest
meanwhile notices its bytes went (``Uploads``) and fails instead of acknowledging. Last, what
the blob driver holds that no row records at all goes (``gc_orphans``). Nothing runs unless
the storage's marker names the database's store identity (``store_guard``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from tagtrail import metrics
from tagtrail.blobs.driver import BlobDriver
from tagtrail.meta.garbage import Collected, GarbageStore, GcPolicy
from tagtrail.registry.gc_orphans import ORPHANED, OrphanCollector
from tagtrail.registry.store_guard import require_same_store
from tagtrail.types import Digest


@dataclass
class GcReport:
    collected: list[Collected] = field(default_factory=list)
    expired_uploads: list[str] = field(default_factory=list)
    orphaned_uploads: list[str] = field(default_factory=list)  # driver data with no session

    @property
    def freed_bytes(self) -> int:
        """Bytes of storage freed: blob bytes deleted and manifests removed."""
        freeing = ("blob bytes", ORPHANED, "manifest")
        return sum(c.size for c in self.collected if c.kind in freeing)


class GcProgress(Protocol):
    """Told how far a run is (the CLI draws it on a terminal)."""

    def phase(self, name: str, total: int | None) -> None:
        """A pass starts over ``total`` items (None: a listing of unknown length)."""

    def advance(self, done: int = 1) -> None: ...


class _Silent:
    def phase(self, name: str, total: int | None) -> None:
        pass

    def advance(self, done: int = 1) -> None:
        pass


class GarbageCollector:
    def __init__(
        self, store: GarbageStore, driver: BlobDriver, progress: GcProgress | None = None
    ) -> None:
        self._store = store
        self._driver = driver
        self._progress = progress or _Silent()
        self._orphans = OrphanCollector(store, driver, self._progress)

    async def run(self, policy: GcPolicy, upload_expiry_ms: int) -> GcReport:
        """Raises ``StoreMismatch``, having removed nothing, when the storage is not the
        database's."""
        await require_same_store(await self._store.store_identity(), self._driver)
        report = GcReport()
        unlinked: dict[str, tuple[int, set[str]]] = {}
        names = await self._store.repositories()
        self._progress.phase("repositories", len(names))
        for name in names:
            swept = await self._store.sweep_repository(name, policy)
            self._progress.advance()
            report.collected.extend(swept)
            for c in swept:
                if c.kind == "blob":
                    unlinked.setdefault(c.digest, (c.size, set()))[1].add(name)
        self._progress.phase("unlinked blobs", len(unlinked))
        for digest, (size, repositories) in sorted(unlinked.items()):
            if await self._drop_bytes(digest, repositories, policy.dry_run):
                report.collected.append(Collected("", "blob bytes", digest, size))
            self._progress.advance()
        expired = await self._store.expired_uploads(policy.now_ms - upload_expiry_ms)
        self._progress.phase("expired uploads", len(expired))
        for session in expired:
            report.expired_uploads.append(session.id)
            if not policy.dry_run:
                await self._store.delete_upload(session.id)
                await self._driver.cancel_upload(session.id)
            self._progress.advance()
        # After the passes above: bytes they deleted are not listed, and in a dry run the
        # rows they would remove still name what those passes already reported.
        report.collected.extend(await self._orphans.blobs(policy))
        report.orphaned_uploads.extend(await self._orphans.uploads(policy))
        metrics.GC_RUNS.inc()
        if not policy.dry_run:
            metrics.GC_FREED_BYTES.inc(report.freed_bytes)
        return report

    async def _drop_bytes(self, digest: str, unlinking: set[str], dry_run: bool) -> bool:
        parsed = Digest.parse(digest)
        if dry_run:
            # The links this run would remove are still there: only they may hold the bytes.
            return await self._store.links_of(digest) <= unlinking
        if await self._driver.size(parsed) is None:
            return False

        async def delete() -> None:
            await self._driver.delete(parsed)

        return await self._store.delete_blob_if_orphan(digest, delete)
