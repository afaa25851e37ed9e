"""``data_version``: what a worker's kept pull answers are valid under (api/pull_answers.py).
It must change with every commit of any process before that commit is acknowledged, and
stay put while nothing is committed. On SQLite it is the commits' shared count
(meta/change_count.py) with SQLite's own number as a backstop; PostgreSQL has none."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path

import anyio
import pytest

from tagtrail.meta.change_count import ChangeCount
from tagtrail.meta.database import BACKSTOP_SECONDS, Database
from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.meta.store import MetadataStore
from tagtrail.types import Digest, parse_name

pytestmark = pytest.mark.anyio


async def test_a_commit_changes_it_and_nothing_else_does(store: MetadataStore) -> None:
    first = store.data_version()
    if isinstance(store, SqlMetadataStore) and store.database.dialect == "postgresql":
        assert first is None  # nothing cheap to read: nothing is kept
        return
    assert first is not None
    assert await store.repository_exists(parse_name("quiet/reads")) is False
    assert store.data_version() == first  # reads change nothing
    await store.link_blob(parse_name("data/version"), _digest(), 3)
    assert store.data_version() != first


async def test_another_process_commit_is_seen_at_once(tmp_path: Path) -> None:
    """Two databases on one file, as two workers: a commit of one changes what the other
    reads next, with no wait (the shared count, not the backstop)."""
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    reader = await SqlMetadataStore.open(url)
    writer = await SqlMetadataStore.open(url, migrate=False)
    try:
        before = reader.data_version()
        for _ in range(3):
            await writer.link_blob(parse_name("data/version"), _digest(), 3)
            after = reader.data_version()
            assert after != before
            before = after
    finally:
        await writer.close()
        await reader.close()


async def test_a_commit_that_was_not_counted_is_seen_within_the_backstop(
    tmp_path: Path,
) -> None:
    """A writer that died between COMMIT and count, or one that is not tagtrail: SQLite's
    own number, read at most BACKSTOP_SECONDS apart, changes the version."""
    path = tmp_path / "meta.db"
    database = await Database.open(f"sqlite:///{path}")
    try:
        before = database.data_version()
        with sqlite3.connect(path) as foreign:
            foreign.execute("CREATE TABLE foreign_writes (x INTEGER)")
        await anyio.sleep(BACKSTOP_SECONDS * 1.5)
        assert database.data_version() != before
    finally:
        await database.close()


def _add_many(path: Path, times: int) -> None:
    count = ChangeCount(path)
    for _ in range(times):
        count.add()
    count.close()


def test_the_count_loses_no_commit_of_concurrent_processes(tmp_path: Path) -> None:
    """Adds from several processes at once: none lost (two writers storing the same number
    could let a reader keep an answer across a commit)."""
    path = tmp_path / "meta.db"
    seen = ChangeCount(path)
    start = seen.read()
    context = multiprocessing.get_context("spawn")  # no forked event loop or sockets
    workers = [context.Process(target=_add_many, args=(path, 300)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert seen.read() == start + 1200
    seen.close()


def _digest() -> Digest:
    return Digest.parse("sha256:" + time.time_ns().to_bytes(32, "big").hex())
