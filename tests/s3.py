"""The S3 endpoint the tests run against: Ceph's RADOS Gateway (tests/rgw.py), one per test
session (so one per xdist worker), a bucket per test.

One per worker rather than one shared by the workers: a start costs about 2 s and 135 MiB, and
a gateway owned by one process is stopped by that process's teardown and killed with it,
where a shared one would need the last worker out to stop it and a lock and an address file
that a crashed run leaves behind.

moto's server is no longer used: no test injects a fault that moto can inject and RGW cannot
stand (test_s3_marker.py injects its 409s and 412s into the driver's client, in-process), and
moto stopped answering after some 300 requests, so crash and multipart tests could not use it.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.config import Config

from tests.rgw import ACCESS_KEY, SECRET_KEY, rgw_gateway


@dataclass(frozen=True)
class S3Endpoint:
    url: str

    def client(self) -> Any:
        """A botocore S3 client of the endpoint (one, shared: making one takes 0.3 s)."""
        return _client(self.url)

    def new_bucket(self) -> str:
        name = f"tagtrail-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def settings(self, bucket: str, **extra: object) -> dict[str, object]:
        return {
            "bucket": bucket,
            "endpoint": self.url,
            "region": "us-east-1",
            "access_key_id": ACCESS_KEY,
            "secret_access_key": SECRET_KEY,
            **extra,
        }


@functools.cache
def _client(url: str) -> Any:
    return botocore.session.get_session().create_client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(s3={"addressing_style": "path"}),
    )


@contextmanager
def s3_server() -> Iterator[S3Endpoint]:
    with rgw_gateway() as gateway:
        yield S3Endpoint(gateway.url)
