"""Races, gc and crashes through servers on PostgreSQL + S3 (RGW), as replicas of one registry.

Two replicas share one database and one bucket for the races and for gc run over and over
(``tagtrail gc`` with the replicas' settings) while pushes continue. The SIGKILL test
(``tests.reliability.crashes``) restarts a replica on that storage round after round, then
gc removes the upload sessions the crashes abandoned, rows and objects alike.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from tagtrail.auth.keys import write_new_key
from tests.postgres import fresh_database
from tests.reliability import crashes, scenarios
from tests.s3 import S3Endpoint
from tests.scaleout.conftest import SharedStorage
from tests.server import RunningServer, start_server

# A soak runs more: TAGTRAIL_CRASH_ROUNDS=100 scripts/test tests/scaleout/test_reliability.py
CRASH_ROUNDS = int(os.environ.get("TAGTRAIL_CRASH_ROUNDS", "4"))
# RGW takes some 300 small writes a second on 2 cores, a push makes some 30: with 8 pushers the
# first images are acknowledged seconds after the start (more on a busy machine), so each crash
# comes this many seconds after the round's first acknowledged manifest.
CRASH_AFTER_FIRST_MANIFEST = (0.2, 2.5)

Replicas = tuple[RunningServer, RunningServer, dict[str, str]]


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory, s3: S3Endpoint) -> Iterator[Replicas]:
    """Two replicas on one fresh database and one fresh bucket, and their environment: one
    pair for the module's races and gc, as each works in repositories of its own (the two
    server starts and stops cost seconds a test on a busy machine)."""
    base = tmp_path_factory.mktemp("replicas")
    key = base / "signing.pem"
    write_new_key(key)
    with fresh_database() as url:
        env = SharedStorage(url, s3.new_bucket(), key).env(s3)
        a = start_server(base / "replica0", env=env)
        try:
            b = start_server(base / "replica1", env=env)
            try:
                yield a, b, env
            finally:
                b.stop()
        finally:
            a.stop()


def test_same_blob_pushed_through_two_replicas(replicas: Replicas) -> None:
    a, b, _ = replicas
    asyncio.run(scenarios.same_blob_from_many_clients([a.url, b.url]))


def test_one_tag_moved_through_two_replicas(replicas: Replicas) -> None:
    a, b, _ = replicas
    asyncio.run(scenarios.one_tag_moved_by_many_clients([a.url, b.url]))


def test_gc_while_pushes_continue(replicas: Replicas) -> None:
    a, _, env = replicas
    asyncio.run(scenarios.gc_during_pushes(a.url, a.data_dir, env))


async def _upload_rows(database_url: str) -> tuple[int, int | None]:
    """How many upload sessions there are, and when the newest started (epoch ms)."""
    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow("SELECT count(*), max(started_ms) FROM uploads")
        return int(row[0]), None if row[1] is None else int(row[1])
    finally:
        await connection.close()


def test_sigkill_during_pushes_loses_nothing_acknowledged(
    replica: Callable[..., RunningServer], shared: SharedStorage, s3: S3Endpoint, tmp_path: Path
) -> None:
    done = crashes.crash_rounds(
        replica, CRASH_ROUNDS, crashes.seed(), CRASH_AFTER_FIRST_MANIFEST, after_first_manifest=True
    )

    abandoned, newest = asyncio.run(_upload_rows(shared.database_url))
    assert abandoned > 0 and newest is not None
    bucket = s3.client()
    assert bucket.list_objects_v2(Bucket=shared.bucket, Prefix="uploads/")["KeyCount"] > 0
    crashes.outlive(newest, 1)
    env = {**shared.env(s3), "TAGTRAIL_UPLOAD_EXPIRY_SECONDS": "1"}
    collected = scenarios.run_gc(tmp_path / "gc", env=env)
    assert f"{abandoned} expired uploads" in collected
    assert asyncio.run(_upload_rows(shared.database_url)) == (0, None)
    assert bucket.list_objects_v2(Bucket=shared.bucket, Prefix="uploads/")["KeyCount"] == 0
    crashes.verify_on(replica(), done)
