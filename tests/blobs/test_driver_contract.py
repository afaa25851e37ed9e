"""Contract of ``BlobDriver``: what every blob driver must do (filesystem and S3)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tagtrail.blobs.driver import BlobDriver, LocalFile, Redirect, Stream, blob_key, digest_at
from tagtrail.blobs.filesystem import FilesystemDriver
from tagtrail.blobs.s3 import S3Driver
from tagtrail.config import S3Settings
from tagtrail.types import Digest
from tests.blobs.planting import commit, exists, plant
from tests.s3 import S3Endpoint
from tests.ssl_context import SHARED

pytestmark = pytest.mark.anyio

DRIVERS = ["filesystem", "s3"]
MiB = 1024 * 1024


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=DRIVERS)
async def driver(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobDriver]:
    if request.param == "filesystem":
        opened: BlobDriver = FilesystemDriver(tmp_path)
    else:  # the S3 server starts only when an S3 case runs (they are marked slow)
        s3: S3Endpoint = request.getfixturevalue("s3")
        settings = S3Settings.model_validate(s3.settings(s3.new_bucket(), part_size=5 * MiB))
        opened = await S3Driver.open(settings)
    yield opened
    await opened.close()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


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
        return await collect(source.open(0, source.size - 1))
    if isinstance(source, Redirect):
        async with httpx.AsyncClient(timeout=30, verify=SHARED) as http:
            return (await http.get(source.url)).raise_for_status().content
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
    source = await driver.source(digest)
    if isinstance(source, Redirect):
        # A redirecting driver presigns without a round trip: the URL itself finds nothing.
        async with httpx.AsyncClient(timeout=30, verify=SHARED) as http:
            assert (await http.get(source.url)).status_code == 404
    else:
        assert source is None


async def test_large_upload_in_small_chunks_spans_parts(driver: BlobDriver) -> None:
    """Chunks smaller than S3's 5 MiB minimum part are buffered; the result is exact."""
    data = bytes(range(256)) * (13 * MiB // 256) + b"tail"
    digest = Digest.of(data)
    await driver.start_upload("big")
    offset = 0
    step = 700 * 1024
    for first in range(0, len(data), 3 * step):
        piece = data[first : first + 3 * step]
        offset = await driver.append_upload(
            "big", offset, chunks(*(piece[i : i + step] for i in range(0, len(piece), step)))
        )
    assert offset == len(data)
    await driver.commit_upload("big", digest)
    assert await driver.size(digest) == len(data)
    assert await collect(await driver.read(digest)) == data


async def test_read_back_before_commit(driver: BlobDriver) -> None:
    """Another replica completes an upload by reading it back to hash it, then commits."""
    data = b"x" * (6 * MiB) + b"y" * 1000
    await driver.start_upload("reread")
    await driver.append_upload("reread", 0, chunks(data))
    assert await collect(await driver.read_upload("reread")) == data
    await driver.commit_upload("reread", Digest.of(data))
    assert await read_source(driver, Digest.of(data)) == data


async def test_stream_ranges(driver: BlobDriver) -> None:
    data = bytes(range(256)) * 4
    digest = Digest.of(data)
    await driver.start_upload("r")
    await driver.append_upload("r", 0, chunks(data))
    await driver.commit_upload("r", digest)
    source = await driver.source(digest)
    if isinstance(source, Stream):
        assert await collect(source.open(10, 19)) == data[10:20]
    elif isinstance(source, Redirect):
        async with httpx.AsyncClient(timeout=30, verify=SHARED) as http:
            ranged = await http.get(source.url, headers={"Range": "bytes=10-19"})
        assert ranged.status_code == 206
        assert ranged.content == data[10:20]
    else:
        assert isinstance(source, LocalFile)
        assert source.size == len(data)


async def test_blobs_live_where_the_one_layout_says(driver: BlobDriver) -> None:
    """Every driver keeps a blob at ``blob_key`` under its root or prefix (driver.py's
    layout): committed bytes land there, bytes put there are the blob, and ``digest_at``
    reads such a key back and nothing else."""
    digest = await commit(driver, b"committed")
    assert await exists(driver, blob_key(digest))
    planted = Digest.of(b"planted", "sha512")
    await plant(driver, blob_key(planted), b"planted")
    assert await driver.size(planted) == len(b"planted")
    assert digest_at(blob_key(planted)) == planted
    misplaced = f"blobs/sha256/zz/{digest.hex}"
    for key in (f"{blob_key(digest)}.partial", misplaced, "uploads/a/data", "store-identity"):
        assert digest_at(key) is None, key


async def test_stored_blobs_lists_committed_blobs_only(driver: BlobDriver) -> None:
    """gc finds bytes no row records through this listing: every committed blob with its size
    and commit time, nothing else that lies in the storage."""
    started = now_ms()
    small, large = b"one", bytes(range(256)) * 40
    digests = {await commit(driver, small): len(small), await commit(driver, large): len(large)}
    await driver.start_upload("pending")  # an upload's bytes are not a blob
    await driver.append_upload("pending", 0, chunks(b"pending bytes"))
    stray = Digest.of(b"stray")
    await plant(driver, f"blobs/sha256/{stray.hex[:2]}/not-a-digest", b"x")
    await plant(driver, f"blobs/sha256/zz/{stray.hex}", b"x")  # not where that digest lives
    await plant(driver, f"blobs/md5/{stray.hex[:2]}/{stray.hex}", b"x")

    listed = {blob.digest: blob async for blob in driver.stored_blobs()}
    assert {d: b.size for d, b in listed.items()} == digests
    for blob in listed.values():
        # S3 stamps whole seconds, by its own clock: a little slack either side.
        assert started - 2000 <= blob.modified_ms <= now_ms() + 2000

    await driver.delete(next(iter(digests)))
    assert [b.digest async for b in driver.stored_blobs()] == list(digests)[1:]


async def test_stored_uploads_lists_each_session_once(driver: BlobDriver) -> None:
    started = now_ms()
    await driver.start_upload("a")
    await driver.append_upload("a", 0, chunks(b"a" * 1000))
    await driver.start_upload("b")
    await commit(driver, b"committed", upload_id="c")  # a committed upload leaves nothing
    listed = {upload.upload_id: upload async for upload in driver.stored_uploads()}
    assert sorted(listed) == ["a", "b"]
    assert listed["a"].size >= 1000
    for upload in listed.values():
        assert started - 2000 <= upload.modified_ms <= now_ms() + 2000
    await driver.cancel_upload("a")
    assert [u.upload_id async for u in driver.stored_uploads()] == ["b"]


async def test_marker_is_written_once_and_never_listed(driver: BlobDriver) -> None:
    """The store marker (``tagtrail.meta.garbage``): absent until written, never replaced,
    and outside what gc lists, so gc never takes it for a blob or an upload."""
    assert await driver.read_marker() is None
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    assert await driver.write_marker(first) == first
    assert await driver.read_marker() == first
    assert await driver.write_marker(second) == first  # a marker stays what it was
    assert await driver.read_marker() == first

    blob = await commit(driver, b"a blob beside the marker")
    await driver.start_upload("beside")
    assert [b.digest async for b in driver.stored_blobs()] == [blob]
    assert [u.upload_id async for u in driver.stored_uploads()] == ["beside"]
    if isinstance(driver, FilesystemDriver):  # the temporary file went
        root = driver._blobs.parent
        assert sorted(p.name for p in root.iterdir()) == ["blobs", "store-identity", "uploads"]


async def test_markers_written_at_once_agree_on_one(driver: BlobDriver) -> None:
    """Replicas with different databases starting at once on a new storage: one marker wins,
    and every writer is told which."""
    identities = [str(uuid.uuid4()) for _ in range(8)]
    written = await asyncio.gather(*(driver.write_marker(i) for i in identities))
    assert len(set(written)) == 1
    assert written[0] in identities
    assert await driver.read_marker() == written[0]
