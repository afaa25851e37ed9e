"""Garbage collection on every metadata backend: what goes, what stays, races with pushes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tagtrail.blobs.filesystem import FilesystemDriver
from tagtrail.errors import ManifestBlobUnknown
from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.meta.sql_garbage import SqlGarbageStore
from tagtrail.meta.store_identity import database_identity
from tagtrail.registry.gc import GarbageCollector, GcReport
from tagtrail.registry.store_guard import claim_store
from tagtrail.types import OCI_INDEX, OCI_MANIFEST, Digest, Manifest, RepoName, Tag
from tests.meta.gc_policy import DAY_MS, HOUR_MS, gc_policy

pytestmark = pytest.mark.anyio

REPO = RepoName("team/app")
OTHER = RepoName("team/other")


@dataclass
class World:
    store: SqlMetadataStore
    driver: FilesystemDriver
    gc: GarbageCollector

    async def blob(self, data: bytes, repo: RepoName = REPO) -> Digest:
        digest = Digest.of(data)
        upload = digest.hex[:32]
        await self.driver.start_upload(upload)

        async def body() -> AsyncIterator[bytes]:
            yield data

        await self.driver.append_upload(upload, 0, body())
        await self.driver.commit_upload(upload, digest)
        await self.store.link_blob(repo, digest, len(data))
        return digest

    async def run(self, *, later_ms: int = 2 * HOUR_MS, **policy: object) -> GcReport:
        return await self.gc.run(gc_policy(later_ms, **policy), upload_expiry_ms=DAY_MS)

    async def has_bytes(self, digest: Digest) -> bool:
        return await self.driver.size(digest) is not None


@pytest.fixture
async def world(store_url: str, tmp_path: Path) -> AsyncIterator[World]:
    store = await SqlMetadataStore.open(store_url)
    driver = FilesystemDriver(tmp_path / "blobs")
    await claim_store(await database_identity(store.database), driver)  # else gc refuses
    yield World(store, driver, GarbageCollector(SqlGarbageStore(store.database), driver))
    await store.close()


def image(config: Digest, *layers: Digest, subject: Digest | None = None, n: int = 0) -> Manifest:
    document: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"digest": str(config), "size": 1},
        "layers": [{"digest": str(d), "size": 1} for d in layers],
        "annotations": {"n": str(n)},
    }
    content = json.dumps(document).encode()
    return Manifest(
        Digest.of(content), OCI_MANIFEST, content, (config, *layers), (), subject, None, None
    )


def index(*children: Manifest) -> Manifest:
    content = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [str(c.digest) for c in children]}
    ).encode()
    return Manifest(
        Digest.of(content),
        OCI_INDEX,
        content,
        (),
        tuple(c.digest for c in children),
        None,
        None,
        None,
    )


def removed(report: GcReport, kind: str) -> set[str]:
    return {c.digest for c in report.collected if c.kind == kind}


async def test_unreferenced_blobs_go_and_referenced_stay(world: World) -> None:
    config, layer, loose = [await world.blob(d) for d in (b"config", b"layer", b"loose")]
    await world.store.put_manifest(REPO, image(config, layer), Tag("latest"))
    dry = await world.run(dry_run=True)
    assert removed(dry, "blob") == {str(loose)}
    assert removed(dry, "blob bytes") == {str(loose)}
    assert dry.freed_bytes == len(b"loose")
    assert await world.has_bytes(loose)
    assert await world.store.blob_size(REPO, loose) == 5

    report = await world.run()
    assert removed(report, "blob") == removed(report, "blob bytes") == {str(loose)}
    assert await world.store.blob_size(REPO, loose) is None
    assert not await world.has_bytes(loose)
    for kept in (config, layer):
        assert await world.has_bytes(kept)
        assert await world.store.blob_size(REPO, kept) is not None


async def test_young_blobs_and_bytes_linked_elsewhere_stay(world: World) -> None:
    young = await world.blob(b"young")
    shared = await world.blob(b"shared")
    await world.store.link_blob(OTHER, shared, 6)
    report = await world.run(later_ms=0)
    assert report.collected == []
    await world.store.put_manifest(OTHER, image(shared), Tag("t"))
    report = await world.run()
    assert removed(report, "blob") == {str(young), str(shared)}  # REPO's links only
    assert removed(report, "blob bytes") == {str(young)}
    assert await world.has_bytes(shared)
    assert await world.store.blob_size(OTHER, shared) == 6


async def test_untagged_manifests_stay_unless_asked(world: World) -> None:
    config = await world.blob(b"config")
    only_untagged = await world.blob(b"untagged layer")
    untagged = image(config, only_untagged, n=1)
    await world.store.put_manifest(REPO, untagged, None)
    assert (await world.run()).collected == []
    report = await world.run(delete_untagged=True)
    assert removed(report, "manifest") == {str(untagged.digest)}
    assert removed(report, "blob bytes") == {str(config), str(only_untagged)}
    assert await world.store.get_manifest(REPO, untagged.digest) is None


async def test_tags_indexes_referrers_and_history_keep_what_they_reach(world: World) -> None:
    config = await world.blob(b"config")
    layers = [await world.blob(f"layer {n}".encode()) for n in range(4)]
    child = image(config, layers[0], n=1)
    top = index(child)
    signature = image(config, layers[1], subject=top.digest, n=2)
    moved_away = image(config, layers[2], n=3)
    stray = image(config, layers[3], n=4)
    for manifest, tag in (
        (child, None),
        (moved_away, "latest"),
        (top, "latest"),
        (signature, None),
        (stray, None),
    ):
        await world.store.put_manifest(REPO, manifest, Tag(tag) if tag else None)
    report = await world.run(delete_untagged=True)
    assert removed(report, "manifest") == {str(stray.digest)}
    assert removed(report, "blob bytes") == {str(layers[3])}
    for manifest in (child, top, signature, moved_away):
        assert await world.store.get_manifest(REPO, manifest.digest) is not None


async def test_retention_window_keeps_what_was_current_when_it_opened(world: World) -> None:
    config = await world.blob(b"config")
    first, second, gone = (image(config, n=n) for n in (1, 2, 3))
    await world.store.put_manifest(REPO, first, Tag("latest"))
    await world.store.put_manifest(REPO, second, Tag("latest"))
    await world.store.put_manifest(REPO, gone, Tag("old"))
    assert await world.store.delete_tag(REPO, Tag("old"))
    forever = await world.run(delete_untagged=True, later_ms=10 * DAY_MS)
    assert removed(forever, "manifest") == set()
    report = await world.run(delete_untagged=True, later_ms=10 * DAY_MS, retention_ms=DAY_MS)
    assert removed(report, "manifest") == {str(first.digest), str(gone.digest)}
    assert await world.store.resolve_tag(REPO, Tag("latest")) is not None
    records = await world.store.history(REPO, Tag("latest"), start_ms=None, end_ms=None, limit=9)
    assert len(records) == 2  # history records are never rewritten


async def test_expired_uploads_are_collected(world: World) -> None:
    session = await world.store.create_upload(REPO, "a" * 32)
    await world.driver.start_upload(session.id)
    assert (await world.run(later_ms=0)).expired_uploads == []
    report = await world.run(later_ms=DAY_MS + 1000)
    assert report.expired_uploads == [session.id]
    assert await world.store.get_upload(REPO, session.id) is None
    assert not (world.driver._uploads / session.id).exists()


async def test_manifest_push_after_gc_took_its_blob_is_refused(world: World) -> None:
    """The registry checked the blob before gc unlinked it: storing checks again."""
    layer = await world.blob(b"soon gone")
    await world.run()
    with pytest.raises(ManifestBlobUnknown):
        await world.store.put_manifest(REPO, image(layer), Tag("x"), verify_refs=True)
    assert await world.store.resolve_tag(REPO, Tag("x")) is None


async def test_gc_racing_pushes_never_leaves_a_dangling_manifest(world: World) -> None:
    """Pushes (link, then a manifest that verifies its refs) race repeated sweeps with no
    grace: every manifest stored has its blobs linked and their bytes present."""
    stored: dict[int, Manifest] = {}

    async def push(n: int) -> None:
        layer = await world.blob(f"racing {n}".encode())
        manifest = image(layer, n=n)
        try:
            await world.store.put_manifest(REPO, manifest, Tag(f"t{n}"), verify_refs=True)
        except ManifestBlobUnknown:
            return
        stored[n] = manifest

    async def sweep() -> None:
        for _ in range(5):
            await world.run(later_ms=0, grace_ms=0)
            await asyncio.sleep(0)

    await asyncio.gather(sweep(), *(push(n) for n in range(30)))
    await world.run(later_ms=0, grace_ms=0)
    assert stored
    for n, manifest in stored.items():
        resolved = await world.store.resolve_tag(REPO, Tag(f"t{n}"))
        assert resolved is not None and resolved.digest == manifest.digest
        for blob in manifest.blob_refs:
            assert await world.store.blob_size(REPO, blob) is not None
            assert await world.has_bytes(blob)
