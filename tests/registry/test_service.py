"""The Registry's readiness check (``/readyz`` answers from it): each part, and why it failed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tagtrail.blobs.filesystem import FilesystemDriver
from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.registry.service import Registry

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_check_names_each_part_and_the_kind_of_its_failure(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    meta = await SqlMetadataStore.open(f"sqlite:///{tmp_path / 'db' / 'meta.db'}")
    registry = Registry(meta, FilesystemDriver(tmp_path / "blobs"), protect_history=False)
    try:
        assert await registry.check() == {"database": None, "blobs": None}
        shutil.rmtree(tmp_path / "blobs")
        assert await registry.check() == {"database": None, "blobs": "OSError"}
        await meta.close()  # its next connection finds no directory to open the file in
        shutil.rmtree(tmp_path / "db")
        assert await registry.check() == {"database": "OperationalError", "blobs": "OSError"}
    finally:
        await registry.close()
        await meta.close()


async def test_the_registry_keeps_its_store_and_driver_to_itself(tmp_path: Path) -> None:
    """Callers (the API, the web UI) go through the use cases: there is no way around them."""
    meta = await SqlMetadataStore.open(f"sqlite:///{tmp_path / 'meta.db'}")
    registry = Registry(meta, FilesystemDriver(tmp_path / "blobs"), protect_history=False)
    try:
        assert not hasattr(registry, "meta") and not hasattr(registry, "driver")
    finally:
        await meta.close()
