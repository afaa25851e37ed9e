"""Small blobs served from memory: the cache's bounds, and that access is still checked first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tagtrail.blobs.driver import LocalFile
from tagtrail.blobs.filesystem import FilesystemDriver
from tagtrail.errors import BlobUnknown
from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.registry.blob_cache import LARGEST_CACHED, BlobCache
from tagtrail.registry.blobs import SendBytes, SendFile
from tagtrail.registry.service import Registry
from tagtrail.types import Digest, RepoName, parse_name


def _digest(n: int) -> Digest:
    return Digest.of(str(n).encode())


def test_cache_is_bounded_by_bytes_and_drops_the_least_recently_used() -> None:
    cache = BlobCache(capacity=300, largest=100)
    for n in range(3):
        cache.put(_digest(n), bytes(100))
    assert cache.held == 300
    assert cache.get(_digest(0)) is not None  # now the most recently used
    cache.put(_digest(3), bytes(100))
    assert cache.held == 300
    assert cache.get(_digest(1)) is None  # the least recently used went first
    assert all(cache.get(_digest(n)) is not None for n in (0, 2, 3))


def test_cache_refuses_blobs_above_its_largest_and_holds_nothing_when_off() -> None:
    cache = BlobCache(capacity=1000, largest=100)
    assert not cache.admits(101)
    cache.put(_digest(1), bytes(101))
    assert cache.get(_digest(1)) is None and cache.held == 0
    off = BlobCache(0)
    assert not off.admits(1) and not off.admits(0)  # not even an empty blob
    off.put(_digest(2), b"x")
    assert off.get(_digest(2)) is None


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def driver(tmp_path: Path) -> FilesystemDriver:
    return FilesystemDriver(tmp_path / "blobs")


@pytest.fixture
async def registry(tmp_path: Path, driver: FilesystemDriver) -> AsyncIterator[Registry]:
    meta = await SqlMetadataStore.open(f"sqlite:///{tmp_path / 'meta.db'}")
    yield Registry(meta, driver, protect_history=False, blob_cache=BlobCache(1 << 20))
    await meta.close()


async def _push(registry: Registry, name: RepoName, data: bytes) -> Digest:
    async def body() -> AsyncIterator[bytes]:
        yield data

    digest = Digest.of(data)
    await registry.uploads.monolithic(name, digest, body())
    return digest


@pytest.mark.anyio
async def test_a_small_blob_is_read_once_then_served_from_memory(
    registry: Registry, driver: FilesystemDriver
) -> None:
    name = parse_name("cache/small")
    data = b"config" * 10
    digest = await _push(registry, name, data)
    size, first = await registry.blobs.open(name, digest)
    assert size == len(data) and first == SendBytes(data)
    # Gone from the disk, still served: the second read never went to the driver.
    source = await driver.source(digest)
    assert isinstance(source, LocalFile)
    source.path.unlink()
    assert await registry.blobs.open(name, digest) == (len(data), SendBytes(data))


@pytest.mark.anyio
async def test_a_blob_above_the_limit_is_sent_from_its_file(registry: Registry) -> None:
    name = parse_name("cache/large")
    data = bytes(LARGEST_CACHED + 1)
    digest = await _push(registry, name, data)
    size, source = await registry.blobs.open(name, digest)
    assert size == len(data) and isinstance(source, SendFile)


@pytest.mark.anyio
async def test_a_cached_blob_is_still_refused_where_it_is_not_linked(registry: Registry) -> None:
    name, other = parse_name("cache/mine"), parse_name("cache/other")
    digest = await _push(registry, name, b"signature")
    assert isinstance((await registry.blobs.open(name, digest))[1], SendBytes)
    with pytest.raises(BlobUnknown):
        await registry.blobs.open(other, digest)
    await registry.blobs.delete(name, digest)
    with pytest.raises(BlobUnknown):
        await registry.blobs.open(name, digest)
