"""Contract of ``BlobDriver``: what every blob driver must do (filesystem for now)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tagtrail.blobs.driver import BlobDriver, LocalFile, Stream
from tagtrail.blobs.filesystem import FilesystemDriver
from tagtrail.types import Digest

pytestmark = pytest.mark.anyio

DRIVERS = ["filesystem"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobDriver]:
    if request.param == "filesystem":
        yield FilesystemDriver(tmp_path)
    else:  # pragma: no cover
        raise AssertionError(request.param)


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def collect(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in stream])


async def read_source(driver: BlobDriver, digest: Digest) -> bytes:
    source = await driver.source(digest)
    if isinstance(source, LocalFile):
        return source.path.read_bytes()
    if isinstance(source, Stream):
        return await collect(source.chunks)
    raise AssertionError(f"unexpected source {source!r}")


async def test_upload_commit_makes_blob_visible_only_at_commit(driver: BlobDriver) -> None:
    data = b"hello, " * 1000
    digest = Digest.of(data)
    await driver.start_upload("u1")
    end = await driver.append_upload("u1", 0, chunks(data[:100], data[100:200]))
    assert end == 200
    assert await driver.size(digest) is None
    end = await driver.append_upload("u1", end, chunks(data[200:]))
    assert end == len(data)
    assert await collect(await driver.read_upload("u1")) == data
    await driver.commit_upload("u1", digest)
    assert await driver.size(digest) == len(data)
    assert await read_source(driver, digest) == data
    assert await collect(await driver.read(digest)) == data


async def test_append_at_recorded_offset_discards_unrecorded_bytes(driver: BlobDriver) -> None:
    await driver.start_upload("u2")
    await driver.append_upload("u2", 0, chunks(b"abc"))
    # A failed request wrote "zzz" past offset 3 without recording it; the retry starts at 3.
    await driver.append_upload("u2", 3, chunks(b"zzz"))
    end = await driver.append_upload("u2", 3, chunks(b"def"))
    assert end == 6
    assert await collect(await driver.read_upload("u2")) == b"abcdef"


async def test_cancel_and_delete(driver: BlobDriver) -> None:
    await driver.start_upload("u3")
    await driver.append_upload("u3", 0, chunks(b"x"))
    await driver.cancel_upload("u3")
    digest = Digest.of(b"y")
    await driver.start_upload("u4")
    await driver.append_upload("u4", 0, chunks(b"y"))
    await driver.commit_upload("u4", digest)
    await driver.delete(digest)
    assert await driver.size(digest) is None
    assert await driver.source(digest) is None
