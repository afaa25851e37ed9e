"""S3 multipart uploads no upload state names (a process killed between creating one and
saving its id): the driver lists their uploads, and cancelling an upload aborts them with
their parts, so gc leaves none behind (tests/reliability/test_multipart_crash.py kills a real
server; here the orphan is made by hand)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tagtrail.blobs.s3 import S3Driver
from tagtrail.config import MIN_PART_SIZE, S3Settings
from tests.s3 import S3Endpoint

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def bucket(s3: S3Endpoint) -> str:
    return s3.new_bucket()


@pytest.fixture
async def driver(s3: S3Endpoint, bucket: str) -> AsyncIterator[S3Driver]:
    opened = await S3Driver.open(S3Settings.model_validate(s3.settings(bucket)))
    yield opened
    await opened.close()


def _orphan(client: Any, bucket: str, upload_id: str) -> str:
    """A multipart upload at ``upload_id``'s data key with one part, as a killed append
    leaves it: its id was never saved."""
    key = f"uploads/{upload_id}/data"
    created = client.create_multipart_upload(Bucket=bucket, Key=key)
    part = b"p" * MIN_PART_SIZE
    client.upload_part(
        Bucket=bucket, Key=key, UploadId=created["UploadId"], PartNumber=1, Body=part
    )
    return str(created["UploadId"])


def _open(client: Any, bucket: str) -> list[str]:
    listed = client.list_multipart_uploads(Bucket=bucket, Prefix="uploads/")
    return [str(u["UploadId"]) for u in listed.get("Uploads", [])]


async def test_cancel_aborts_a_multipart_upload_the_state_does_not_name(
    driver: S3Driver, s3: S3Endpoint, bucket: str
) -> None:
    client = s3.client()
    await driver.start_upload("u1")
    orphan = _orphan(client, bucket, "u1")
    assert [u.upload_id for u in [u async for u in driver.stored_uploads()]] == ["u1"]
    await driver.cancel_upload("u1")
    assert orphan not in _open(client, bucket)
    assert [u async for u in driver.stored_uploads()] == []


async def test_a_multipart_upload_without_objects_is_listed_and_cancelled(
    driver: S3Driver, s3: S3Endpoint, bucket: str
) -> None:
    client = s3.client()
    before = time.time_ns() // 1_000_000
    _orphan(client, bucket, "u2")  # its state and buffer are gone, the upload is not
    await driver.start_upload("u3")
    listed = {u.upload_id: u for u in [u async for u in driver.stored_uploads()]}
    assert sorted(listed) == ["u2", "u3"]
    assert listed["u2"].modified_ms >= before - 2000  # as of when it began (S3's clock)
    await driver.cancel_upload("u2")
    assert _open(client, bucket) == []
    assert [u.upload_id async for u in driver.stored_uploads()] == ["u3"]
