"""S3's marker write, when another conditional write of the key is in flight (409
ConditionalRequestConflict): asked again after 0.2 s, 0.4 s, ... up to _MARKER_ATTEMPTS times,
then the error; any other error at once. (That the first marker wins is the driver contract's.)"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tagtrail.blobs import s3 as s3_module
from tagtrail.blobs.s3 import S3Driver
from tagtrail.config import S3Settings
from tests.s3 import S3Endpoint

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def driver(s3: S3Endpoint) -> AsyncIterator[S3Driver]:
    opened = await S3Driver.open(S3Settings.model_validate(s3.settings(s3.new_bucket())))
    yield opened
    await opened.close()


def _error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "PutObject")


def _failing_first(
    driver: S3Driver, monkeypatch: pytest.MonkeyPatch, code: str, times: int
) -> list[float]:
    """The driver's PutObject answers ``code`` the first ``times`` calls; when each came."""
    calls: list[float] = []
    real = driver._client.put_object

    async def put_object(**kwargs: Any) -> Any:
        calls.append(time.monotonic())
        if len(calls) <= times:
            raise _error(code)
        return await real(**kwargs)

    monkeypatch.setattr(driver._client, "put_object", put_object)
    return calls


async def test_a_write_in_flight_is_waited_for(
    driver: S3Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _failing_first(driver, monkeypatch, "ConditionalRequestConflict", 2)
    assert await driver.write_marker("mine") == "mine"
    assert len(calls) == 3
    assert calls[1] - calls[0] >= 0.2 and calls[2] - calls[1] >= 0.4


async def test_a_conflict_that_does_not_end_is_an_error(
    driver: S3Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_module, "_MARKER_ATTEMPTS", 2)
    calls = _failing_first(driver, monkeypatch, "ConditionalRequestConflict", 99)
    with pytest.raises(ClientError, match="ConditionalRequestConflict"):
        await driver.write_marker("mine")
    assert len(calls) == 2
    assert await driver.read_marker() is None


async def test_other_errors_are_not_asked_again(
    driver: S3Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _failing_first(driver, monkeypatch, "AccessDenied", 99)
    with pytest.raises(ClientError, match="AccessDenied"):
        await driver.write_marker("mine")
    assert len(calls) == 1


async def test_an_existing_marker_is_not_an_error(
    driver: S3Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await driver.write_marker("first") == "first"
    calls = _failing_first(driver, monkeypatch, "PreconditionFailed", 1)
    assert await driver.write_marker("second") == "first"
    assert len(calls) == 1
