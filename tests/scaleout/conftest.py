"""Registries on PostgreSQL + S3 (Ceph's RADOS Gateway), alone or as replicas of one registry."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tagtrail.auth.keys import write_new_key
from tests.postgres import fresh_database
from tests.s3 import S3Endpoint
from tests.server import RunningServer, start_server


@dataclass(frozen=True)
class SharedStorage:
    """What replicas share: one database, one bucket, one signing key."""

    database_url: str
    bucket: str
    key: Path

    def env(self, s3: S3Endpoint, **s3_extra: object) -> dict[str, str]:
        return {
            "TAGTRAIL_DATABASE_URL": self.database_url,
            "TAGTRAIL_BLOB_STORE": "s3",
            "TAGTRAIL_S3": json.dumps(s3.settings(self.bucket, **s3_extra)),
            "TAGTRAIL_TOKEN_KEY": str(self.key),
            "TAGTRAIL_ADMIN_PASSWORD": "admin-secret-for-tests",
        }


@pytest.fixture
def shared(tmp_path: Path, s3: S3Endpoint) -> Iterator[SharedStorage]:
    key = tmp_path / "signing.pem"
    write_new_key(key)
    with fresh_database() as url:
        yield SharedStorage(url, s3.new_bucket(), key)


@pytest.fixture
def replica(
    tmp_path: Path, shared: SharedStorage, s3: S3Endpoint
) -> Iterator[Callable[..., RunningServer]]:
    """Start a replica on the shared storage: ``replica(*flags, prefix=(), **s3_extra)``."""
    started: list[RunningServer] = []

    def start(*flags: str, prefix: tuple[str, ...] = (), **s3_extra: object) -> RunningServer:
        running = start_server(
            tmp_path / f"replica{len(started)}",
            *flags,
            env=shared.env(s3, **s3_extra),
            prefix=prefix,
        )
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
