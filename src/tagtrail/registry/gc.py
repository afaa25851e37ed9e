"""Garbage collection: what no kept manifest needs goes, history within retention stays.

The rule is ``tagtrail.meta.garbage``'s. Safe while pushes continue: each repository is swept
in one transaction that manifest pushes exclude; links and manifests younger than the grace
period stay (a blob pushed for a manifest still to come); bytes go only when nothing links or
references the digest, under the lock that linking takes, and an upload that linked the digest
meanwhile notices its bytes went (``Uploads``) and fails instead of acknowledging.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tagtrail.blobs.driver import BlobDriver
from tagtrail.meta.garbage import Collected, GarbageStore, GcPolicy
from tagtrail.types import Digest


@dataclass
class GcReport:
    collected: list[Collected] = field(default_factory=list)
    expired_uploads: list[str] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        """Bytes of storage freed: blob bytes deleted and manifests removed."""
        return sum(c.size for c in self.collected if c.kind in ("blob bytes", "manifest"))


class GarbageCollector:
    def __init__(self, store: GarbageStore, driver: BlobDriver) -> None:
        self._store = store
        self._driver = driver

    async def run(self, policy: GcPolicy, upload_expiry_ms: int) -> GcReport:
        report = GcReport()
        unlinked: dict[str, tuple[int, set[str]]] = {}
        for name in await self._store.repositories():
            swept = await self._store.sweep_repository(name, policy)
            report.collected.extend(swept)
            for c in swept:
                if c.kind == "blob":
                    unlinked.setdefault(c.digest, (c.size, set()))[1].add(name)
        for digest, (size, repositories) in sorted(unlinked.items()):
            if await self._drop_bytes(digest, repositories, policy.dry_run):
                report.collected.append(Collected("", "blob bytes", digest, size))
        for session in await self._store.expired_uploads(policy.now_ms - upload_expiry_ms):
            report.expired_uploads.append(session.id)
            if not policy.dry_run:
                await self._store.delete_upload(session.id)
                await self._driver.cancel_upload(session.id)
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
