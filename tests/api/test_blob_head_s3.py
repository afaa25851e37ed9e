"""A blob HEAD on S3 answers from the size alone: it never presigns the URL that only a GET
sends (the app in this process, on a bucket of the session's RGW)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tagtrail.blobs import s3 as s3_module
from tagtrail.blobs.driver import BlobSource, Redirect
from tagtrail.types import Digest
from tests.api.helpers import push_blob, random_bytes
from tests.inprocess import InProcessRegistry, in_process_registry
from tests.s3 import S3Endpoint


class CountingS3Driver(s3_module.S3Driver):
    """The S3 driver, counting the presigned URLs it makes."""

    presigned = 0

    async def source(self, digest: Digest) -> BlobSource | None:
        found = await super().source(digest)
        if isinstance(found, Redirect):
            CountingS3Driver.presigned += 1
        return found


@pytest.fixture
def registry(
    tmp_path: Path, s3: S3Endpoint, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InProcessRegistry]:
    monkeypatch.setattr(s3_module, "S3Driver", CountingS3Driver)  # blobs.factory's lookup
    monkeypatch.setattr(CountingS3Driver, "presigned", 0)
    settings = s3.settings(s3.new_bucket())
    with in_process_registry(tmp_path / "data", blob_store="s3", s3=settings) as opened:
        yield opened


def test_head_sends_the_size_without_presigning(registry: InProcessRegistry) -> None:
    data = random_bytes(3000)
    with registry.client() as http:
        digest = push_blob(http, "heads/app", data)
        for _ in range(3):
            head = http.head(f"/v2/heads/app/blobs/{digest}")
            assert head.status_code == 200
            assert head.headers["content-length"] == str(len(data))
            assert head.headers["docker-content-digest"] == digest
        assert http.head(f"/v2/heads/app/blobs/sha256:{'0' * 64}").status_code == 404
        assert CountingS3Driver.presigned == 0

        get = http.get(f"/v2/heads/app/blobs/{digest}")  # the GET still redirects, presigned
        assert get.status_code == 307
        assert CountingS3Driver.presigned == 1
    assert registry.settings.blob_store == "s3"
