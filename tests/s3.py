"""moto's standalone S3 server on 127.0.0.1, the S3 endpoint these tests run against.

Its log goes to a file, never to a pipe: werkzeug logs every request to stderr, and a pipe
nobody reads fills after some 600 requests (64 KiB), when the next log write blocks while
holding the logging lock, and with it every request thread: the server stops answering.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import botocore.session
import httpx

from tests.server import free_port
from tests.ssl_context import SHARED

ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"  # moto accepts any credentials


@dataclass(frozen=True)
class S3Endpoint:
    url: str

    def client(self) -> Any:
        return botocore.session.get_session().create_client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

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


@contextmanager
def moto_server() -> Iterator[S3Endpoint]:
    port = free_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    output = log.read().decode(errors="replace")
                    raise AssertionError(f"moto_server exited: {output[-2000:]}")
                try:
                    httpx.get(url, timeout=1, verify=SHARED)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise AssertionError("moto_server did not start within 30 s") from None
                    time.sleep(0.1)
            yield S3Endpoint(url)
        finally:
            process.terminate()
            process.wait(timeout=10)
