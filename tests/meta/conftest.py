"""The metadata-store contract runs against every backend listed in ``BACKENDS``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.meta.store import MetadataStore
from tests.postgres import fresh_database_async, migrated_database_async

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A new, empty database (not migrated)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'meta.db'}"
        return
    async with fresh_database_async() as url:
        yield url


@pytest.fixture(params=BACKENDS)
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database for stores, which opening a store migrates (on PostgreSQL, one the
    process migrated before and reuses: tests.postgres.migrated_database_async)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'meta.db'}"
        return
    async with migrated_database_async() as url:
        yield url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[MetadataStore]:
    opened = await SqlMetadataStore.open(store_url)
    yield opened
    await opened.close()
