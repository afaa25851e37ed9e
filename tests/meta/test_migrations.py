"""Alembic migrations on both databases: from nothing, and from the previous schema."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from tagtrail.meta.database import Database, SchemaOutdated
from tagtrail.meta.migrate import HEAD_REVISION, alembic_config, upgrade_to_head
from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.types import Digest, RepoName

pytestmark = pytest.mark.anyio


def test_head_revision_constant_is_alembic_head() -> None:
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION


async def test_empty_database_migrates_to_head(database_url: str) -> None:
    database = await Database.open(database_url, migrate=False)
    try:
        assert await database.revision() is None
        with pytest.raises(SchemaOutdated):
            await database.require_head()
        await database.upgrade()
        assert await database.revision() == HEAD_REVISION
        await database.require_head()
        await database.upgrade()  # idempotent
        assert await database.revision() == HEAD_REVISION
    finally:
        await database.close()


async def test_previous_schema_with_data_migrates_and_keeps_it(database_url: str) -> None:
    database = await Database.open(database_url, migrate=False)
    try:
        async with database.write() as conn:
            await conn.run_sync(upgrade_to_head, "0001")
        async with database.write() as conn:
            await conn.execute(
                text("INSERT INTO repositories (name, created_ms) VALUES ('old/repo', 1)")
            )
            repo_id = await conn.scalar(text("SELECT id FROM repositories"))
            await conn.execute(
                text(
                    "INSERT INTO blob_links (repository_id, digest, size, created_ms) "
                    "VALUES (:repo, :digest, 3, 1)"
                ),
                {"repo": repo_id, "digest": str(Digest.of(b"abc"))},
            )
        assert await database.revision() == "0001"
        await database.upgrade()
        assert await database.revision() == HEAD_REVISION
    finally:
        await database.close()
    store = await SqlMetadataStore.open(database_url)
    try:
        assert await store.list_repositories(None, None) == ["old/repo"]
        assert await store.blob_size(RepoName("old/repo"), Digest.of(b"abc")) == 3
    finally:
        await store.close()


async def test_store_identity_schema_gains_mirrors_with_their_defaults(database_url: str) -> None:
    """0003 -> 0004: the mirrors table arrives, an organisation of the same name untouched."""
    database = await Database.open(database_url, migrate=False)
    try:
        async with database.write() as conn:
            await conn.run_sync(upgrade_to_head, "0003")
        async with database.write() as conn:
            await conn.execute(
                text(
                    "INSERT INTO organisations (name, visibility, created_ms) "
                    "VALUES ('hub', 'public', 1)"
                )
            )
        await database.upgrade()
        assert await database.revision() == HEAD_REVISION
        async with database.write() as conn:
            await conn.execute(
                text("INSERT INTO mirrors (prefix, url, created_ms) VALUES ('hub', 'https://x', 2)")
            )
            row = (
                await conn.execute(text("SELECT check_interval_s, status, username FROM mirrors"))
            ).one()
            visibility = await conn.scalar(text("SELECT visibility FROM organisations"))
        assert tuple(row) == (60, "unchecked", None)
        assert visibility == "public"
    finally:
        await database.close()
