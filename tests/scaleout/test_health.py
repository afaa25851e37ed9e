"""Health and readiness endpoints for orchestrators (no credentials needed)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.s3 import S3Endpoint
from tests.scaleout.conftest import SharedStorage
from tests.server import RunningServer
from tests.ssl_context import SHARED


def test_healthz_and_readyz_on_postgres_and_s3(replica: Callable[..., RunningServer]) -> None:
    server = replica("--auth")
    assert httpx.get(f"{server.url}/healthz", verify=SHARED).json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz", verify=SHARED)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


def test_readyz_fails_when_the_bucket_is_gone(
    replica: Callable[..., RunningServer], shared: SharedStorage, s3: S3Endpoint
) -> None:
    server = replica()
    client = s3.client()
    # Nothing was pushed: the bucket holds only the store-identity marker of the first start.
    listed = client.list_objects_v2(Bucket=shared.bucket).get("Contents", [])
    assert [item["Key"] for item in listed] == ["store-identity"]
    client.delete_object(Bucket=shared.bucket, Key="store-identity")
    client.delete_bucket(Bucket=shared.bucket)
    assert httpx.get(f"{server.url}/healthz", verify=SHARED).status_code == 200
    ready = httpx.get(f"{server.url}/readyz", verify=SHARED)
    assert ready.status_code == 503
    assert ready.json()["failed"] == {"blobs": "ClientError"}
