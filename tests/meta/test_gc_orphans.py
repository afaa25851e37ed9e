"""gc of what the blob driver holds but no row records: bytes a crash or a failed deletion left,
and upload data without its session. Every metadata backend times every blob driver."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tagtrail.blobs.driver import BlobDriver, blob_key
from tagtrail.blobs.filesystem import FilesystemDriver
from tagtrail.blobs.s3 import S3Driver
from tagtrail.config import S3Settings
from tagtrail.errors import BlobUploadInvalid
from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.meta.sql_garbage import SqlGarbageStore
from tagtrail.meta.store_identity import database_identity
from tagtrail.registry.gc import GarbageCollector, GcReport
from tagtrail.registry.gc_orphans import ORPHANED, OrphanCollector
from tagtrail.registry.store_guard import claim_store
from tagtrail.registry.uploads import Uploads
from tagtrail.types import OCI_MANIFEST, Digest, Manifest, RepoName, Tag
from tests.blobs.planting import chunks, commit, exists, plant, remove
from tests.meta.gc_policy import DAY_MS, HOUR_MS, gc_policy
from tests.s3 import S3Endpoint

pytestmark = pytest.mark.anyio

REPO = RepoName("team/app")


@dataclass
class World:
    store: SqlMetadataStore
    driver: BlobDriver
    garbage: SqlGarbageStore

    async def run(self, *, later_ms: int = 2 * HOUR_MS, **policy: object) -> GcReport:
        return await GarbageCollector(self.garbage, self.driver).run(
            gc_policy(later_ms, **policy), upload_expiry_ms=DAY_MS
        )

    async def stored(self) -> set[Digest]:
        return {blob.digest async for blob in self.driver.stored_blobs()}

    async def uploads(self) -> set[str]:
        return {upload.upload_id async for upload in self.driver.stored_uploads()}


@pytest.fixture(params=["filesystem", "s3"])
async def world(
    request: pytest.FixtureRequest, store_url: str, tmp_path: Path, s3: S3Endpoint
) -> AsyncIterator[World]:
    async with _world(request.param, store_url, tmp_path, s3) as opened:
        yield opened


@pytest.fixture
async def s3_world(store_url: str, tmp_path: Path, s3: S3Endpoint) -> AsyncIterator[World]:
    async with _world("s3", store_url, tmp_path, s3) as opened:
        yield opened


@asynccontextmanager
async def _world(kind: str, store_url: str, tmp_path: Path, s3: S3Endpoint) -> AsyncIterator[World]:
    store = await SqlMetadataStore.open(store_url)
    if kind == "filesystem":
        driver: BlobDriver = FilesystemDriver(tmp_path / "blobs")
    else:
        driver = await S3Driver.open(S3Settings.model_validate(s3.settings(s3.new_bucket())))
    await claim_store(await database_identity(store.database), driver)  # else gc refuses
    yield World(store, driver, SqlGarbageStore(store.database))
    await driver.close()
    await store.close()


def image(*layers: Digest) -> Manifest:
    content = json.dumps({"mediaType": OCI_MANIFEST, "layers": [str(d) for d in layers]}).encode()
    return Manifest(Digest.of(content), OCI_MANIFEST, content, layers, (), None, None, None)


def orphaned(report: GcReport) -> dict[str, int]:
    return {c.digest: c.size for c in report.collected if c.kind == ORPHANED}


async def test_bytes_without_rows_go_after_the_grace_period(world: World) -> None:
    layer = await commit(world.driver, b"layer of a tagged image")
    await world.store.link_blob(REPO, layer, 23)
    await world.store.put_manifest(REPO, image(layer), Tag("latest"))
    # Linked nowhere, but a manifest names it (a link an older version let a DELETE take): stays.
    named = await commit(world.driver, b"named by a manifest only")
    await world.store.link_blob(REPO, named, 24)
    await world.store.put_manifest(REPO, image(named), Tag("other"))
    assert await world.store.unlink_blob(REPO, named, refuse_referenced=False)
    lost = await commit(world.driver, b"committed, never linked: the push died")
    everything = {layer, named, lost}

    young = await world.run(later_ms=0)
    assert orphaned(young) == {}
    assert await world.stored() == everything

    dry = await world.run(dry_run=True)
    assert orphaned(dry) == {str(lost): len(b"committed, never linked: the push died")}
    assert dry.freed_bytes == len(b"committed, never linked: the push died")
    assert await world.stored() == everything

    report = await world.run()
    assert orphaned(report) == orphaned(dry)
    assert await world.stored() == {layer, named}
    assert orphaned(await world.run()) == {}


async def test_bytes_whose_links_an_earlier_gc_removed_go_next_time(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    loose = await commit(world.driver, b"loose")
    await world.store.link_blob(REPO, loose, 5)

    async def failing_delete(digest: Digest) -> None:
        raise OSError("storage unavailable")

    with monkeypatch.context() as patched:
        patched.setattr(world.driver, "delete", failing_delete)
        with pytest.raises(OSError, match="storage unavailable"):
            await world.run()
    assert await world.store.blob_size(REPO, loose) is None  # the sweep had committed
    assert await world.stored() == {loose}

    report = await world.run()
    assert orphaned(report) == {str(loose): 5}
    assert await world.stored() == set()


async def test_a_push_racing_the_orphan_pass_is_kept_or_refused_never_lost(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ordering argument of ``tagtrail.meta.garbage``, with no grace period at all: gc
    runs right after the driver committed a push's bytes (no row yet) or right after the push
    linked them. The first push must fail, not be acknowledged; the second keeps its bytes."""
    uploads = Uploads(world.store, world.store, world.driver)
    orphans = OrphanCollector(world.garbage, world.driver)
    no_grace = gc_policy(60_000, grace_ms=0)  # a minute on: what is committed now is old
    commit_upload, size = world.driver.commit_upload, world.driver.size
    taken: list[str] = []

    async def commit_then_gc(upload_id: str, digest: Digest) -> None:
        await commit_upload(upload_id, digest)
        taken.extend(c.digest for c in await orphans.blobs(no_grace))

    data = b"pushed while gc runs"
    digest = Digest.of(data)
    with monkeypatch.context() as patched:
        patched.setattr(world.driver, "commit_upload", commit_then_gc)
        with pytest.raises(BlobUploadInvalid):
            await uploads.monolithic(REPO, digest, chunks(data))
    assert taken == [str(digest)]
    assert await world.store.blob_size(REPO, digest) is None

    async def gc_then_size(checked: Digest) -> int | None:
        taken.extend(c.digest for c in await orphans.blobs(no_grace))
        return await size(checked)

    with monkeypatch.context() as patched:
        patched.setattr(world.driver, "size", gc_then_size)
        completed = await uploads.monolithic(REPO, digest, chunks(data))
    assert completed.digest == digest
    assert taken == [str(digest)]  # the linked bytes were not taken again
    assert await world.store.blob_size(REPO, digest) == len(data)
    assert await world.stored() == {digest}


async def test_upload_data_without_a_session_goes(world: World) -> None:
    live = await world.store.create_upload(REPO, "a" * 32)
    await world.driver.start_upload(live.id)
    await world.driver.append_upload(live.id, 0, chunks(b"live"))
    abandoned = "b" * 32  # its row went, its data stayed (a discard cut short)
    await world.driver.start_upload(abandoned)
    await world.driver.append_upload(abandoned, 0, chunks(b"abandoned"))

    assert (await world.run(later_ms=0)).orphaned_uploads == []
    dry = await world.run(dry_run=True)
    assert dry.orphaned_uploads == [abandoned]
    assert dry.expired_uploads == []
    assert await world.uploads() == {live.id, abandoned}

    report = await world.run()
    assert report.orphaned_uploads == [abandoned]
    assert await world.uploads() == {live.id}
    assert await world.store.get_upload(REPO, live.id) is not None


async def test_upload_data_left_without_its_state_goes(s3_world: World) -> None:
    """An S3 upload keeps a state object beside its bytes; a removal cut short can leave the
    bytes alone, which gc still finds and removes."""
    world = s3_world
    upload = "c" * 32
    await world.driver.start_upload(upload)
    await world.driver.append_upload(upload, 0, chunks(b"buffered"))
    await remove(world.driver, f"uploads/{upload}/state.json")
    assert await world.uploads() == {upload}
    assert (await world.run()).orphaned_uploads == [upload]
    assert await world.uploads() == set()


async def test_things_not_at_a_blobs_place_are_never_touched(world: World) -> None:
    stray = Digest.of(b"stray")
    foreign = f"{blob_key(stray)}.partial"
    await plant(world.driver, foreign, b"not ours to judge")
    await plant(world.driver, blob_key(stray), b"stray")
    report = await world.run()
    assert orphaned(report) == {str(stray): 5}
    assert await exists(world.driver, foreign)
    assert not await exists(world.driver, blob_key(stray))
