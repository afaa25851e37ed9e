"""Health and readiness endpoints for orchestrators (no credentials needed)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.s3 import S3Endpoint
from tests.scaleout.conftest import SharedStorage
from tests.server import RunningServer


def test_healthz_and_readyz_on_postgres_and_s3(replica: Callable[..., RunningServer]) -> None:
    server = replica("--auth")
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


def test_readyz_fails_when_the_bucket_is_gone(
    replica: Callable[..., RunningServer], shared: SharedStorage, s3: S3Endpoint
) -> None:
    server = replica()
    s3.client().delete_bucket(Bucket=shared.bucket)  # empty: nothing was pushed
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 503
    assert ready.json()["failed"] == {"blobs": "ClientError"}
