"""Races and gc through servers on PostgreSQL: two replicas sharing one database.

Blobs are on a shared filesystem here, not S3: moto's S3 server (the test S3) can hang for the
rest of the session under many concurrent uploads, which would fail unrelated tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import fresh_database
from tests.reliability import scenarios
from tests.server import RunningServer, start_server


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[RunningServer, RunningServer, dict[str, str]]]:
    """Two replicas on one fresh PostgreSQL database and one blob directory."""
    first, second = tmp_path / "r0", tmp_path / "r1"
    for part in ("blobs", "uploads"):
        (first / part).mkdir(parents=True)
        second.mkdir(exist_ok=True)
        (second / part).symlink_to(first / part)
    with fresh_database() as url:
        env = {"TAGTRAIL_DATABASE_URL": url}
        a = start_server(first, env=env)
        try:
            b = start_server(second, env=env)
            try:
                yield a, b, env
            finally:
                b.stop()
        finally:
            a.stop()


def test_same_blob_pushed_through_two_replicas(
    replicas: tuple[RunningServer, RunningServer, dict[str, str]],
) -> None:
    a, b, _ = replicas
    asyncio.run(scenarios.same_blob_from_many_clients([a.url, b.url]))


def test_one_tag_moved_through_two_replicas(
    replicas: tuple[RunningServer, RunningServer, dict[str, str]],
) -> None:
    a, b, _ = replicas
    asyncio.run(scenarios.one_tag_moved_by_many_clients([a.url, b.url]))


def test_gc_while_pushes_continue_on_postgresql(
    replicas: tuple[RunningServer, RunningServer, dict[str, str]],
) -> None:
    a, _, env = replicas
    asyncio.run(scenarios.gc_during_pushes(a.url, a.data_dir, env))
