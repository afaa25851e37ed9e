"""The store identity (migration 0003) and gc's guard on it (``tagtrail.meta.garbage``): every
metadata backend times every blob driver."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tagtrail.blobs.driver import BlobDriver, blob_key
from tagtrail.blobs.filesystem import FilesystemDriver
from tagtrail.blobs.s3 import S3Driver
from tagtrail.config import S3Settings
from tagtrail.meta.database import Database
from tagtrail.meta.migrate import upgrade_to_head
from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.meta.sql_garbage import SqlGarbageStore
from tagtrail.meta.store_identity import database_identity
from tagtrail.registry.gc import GarbageCollector
from tagtrail.registry.gc_orphans import ORPHANED
from tagtrail.registry.store_guard import StoreMismatch, claim_store
from tagtrail.types import Digest, RepoName
from tests.blobs.planting import commit, exists, plant
from tests.meta.gc_policy import DAY_MS, gc_policy
from tests.postgres import fresh_database_async
from tests.s3 import S3Endpoint

pytestmark = pytest.mark.anyio

REPO = RepoName("team/app")


async def identity_of(url: str) -> str:
    database = await Database.open(url)
    try:
        return await database_identity(database)
    finally:
        await database.close()


async def test_identity_is_made_once_and_a_new_database_gets_another(
    database_url: str, tmp_path: Path
) -> None:
    database = await Database.open(database_url, migrate=False)
    try:
        async with database.write() as conn:
            await conn.run_sync(upgrade_to_head, "0002")  # a database from before identities
        await database.upgrade()
        identity = await database_identity(database)
        assert uuid.UUID(identity).version == 4
        await database.upgrade()  # idempotent: the identity is not made again
        assert await database_identity(database) == identity
        async with database.write() as conn:
            rows = await conn.scalar(text("SELECT count(*) FROM store_identity"))
        assert rows == 1
    finally:
        await database.close()
    assert await identity_of(database_url) == identity  # reopened: the same row
    if database_url.startswith("sqlite"):
        assert await identity_of(f"sqlite:///{tmp_path / 'new.db'}") != identity
    else:
        async with fresh_database_async() as new:
            assert await identity_of(new) != identity


async def test_the_table_holds_one_row_only(database_url: str) -> None:
    database = await Database.open(database_url)
    try:
        with pytest.raises(IntegrityError):
            async with database.write() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO store_identity (id, identity, created_ms) "
                        "VALUES (2, 'another', 0)"
                    )
                )
    finally:
        await database.close()


@dataclass
class World:
    store: SqlMetadataStore
    driver: BlobDriver
    identity: str

    async def gc(self, **overrides: object) -> list[str]:
        """gc two hours on (object stores can't back-date): the digests it took or would."""
        policy = gc_policy(**overrides)
        collector = GarbageCollector(SqlGarbageStore(self.store.database), self.driver)
        report = await collector.run(policy, upload_expiry_ms=DAY_MS)
        return sorted(c.digest for c in report.collected if c.kind in ("blob bytes", ORPHANED))

    async def garbage(self) -> tuple[Digest, Digest]:
        """Bytes no row records, and bytes only an unreferenced link records: what each of
        gc's two byte-deleting passes takes from the storage that is the database's."""
        orphan = await commit(self.driver, b"no row records these bytes")
        linked = await commit(self.driver, b"a link no manifest needs")
        await self.store.link_blob(REPO, linked, 24)
        return orphan, linked


@pytest.fixture(params=["filesystem", "s3"])
async def world(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path, s3: S3Endpoint
) -> AsyncIterator[World]:
    store = await SqlMetadataStore.open(database_url)
    if request.param == "filesystem":
        driver: BlobDriver = FilesystemDriver(tmp_path / "blobs")
    else:
        driver = await S3Driver.open(S3Settings.model_validate(s3.settings(s3.new_bucket())))
    yield World(store, driver, await database_identity(store.database))
    await driver.close()
    await store.close()


async def test_the_first_claim_writes_the_marker_and_another_database_is_refused(
    world: World,
) -> None:
    assert await world.driver.read_marker() is None
    assert await claim_store(world.identity, world.driver)
    assert await world.driver.read_marker() == world.identity
    assert not await claim_store(world.identity, world.driver)  # the next start: checked only
    stranger = str(uuid.uuid4())
    with pytest.raises(StoreMismatch) as refused:
        await claim_store(stranger, world.driver)
    assert (refused.value.database, refused.value.storage) == (stranger, world.identity)
    assert f"belongs to store {world.identity}" in str(refused.value)
    assert f"this database is store {stranger}" in str(refused.value)
    assert await world.driver.read_marker() == world.identity


async def test_gc_refuses_another_databases_storage_and_deletes_nothing(world: World) -> None:
    """Both byte-deleting passes would take from a storage that is not the database's: the
    orphan pass everything the database does not know, the row-based pass what it links
    nowhere. So the whole run is refused, dry runs too."""
    owner = str(uuid.uuid4())
    assert await claim_store(owner, world.driver)
    orphan, linked = await world.garbage()
    stray = Digest.of(b"planted")
    await plant(world.driver, blob_key(stray), b"planted")

    for dry_run in (True, False):
        with pytest.raises(StoreMismatch) as refused:
            await world.gc(dry_run=dry_run)
        assert (refused.value.database, refused.value.storage) == (world.identity, owner)
    for digest in (orphan, linked, stray):
        assert await exists(world.driver, blob_key(digest))
    assert await world.store.blob_size(REPO, linked) == 24  # the sweep did not run either


async def test_gc_refuses_storage_no_server_has_claimed(world: World) -> None:
    orphan, linked = await world.garbage()
    with pytest.raises(StoreMismatch, match="has no store marker") as refused:
        await world.gc()
    assert (refused.value.database, refused.value.storage) == (world.identity, None)
    assert await world.driver.read_marker() is None  # gc never claims
    assert await exists(world.driver, blob_key(orphan))
    assert await world.store.blob_size(REPO, linked) == 24


async def test_gc_on_its_own_storage_proceeds(world: World) -> None:
    await claim_store(world.identity, world.driver)
    orphan, linked = await world.garbage()
    assert await world.gc() == sorted([str(orphan), str(linked)])
    assert not await exists(world.driver, blob_key(orphan))
    assert not await exists(world.driver, blob_key(linked))
    assert await world.driver.read_marker() == world.identity  # gc leaves the marker be
