"""The metadata-store contract runs against every backend listed in ``BACKENDS``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.meta.store import MetadataStore

BACKENDS = ["sqlite"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MetadataStore]:
    if request.param == "sqlite":
        opened = await SqlMetadataStore.open(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    else:  # pragma: no cover - a backend listed without a way to open it
        raise AssertionError(f"unknown backend {request.param}")
    yield opened
    await opened.close()
