"""A SQLite write that finds the write lock taken by another connection (another process, as
SQLite sees it) waits for it by sleeping, so the event loop serves other work meanwhile; it
gives up after the lock wait with SQLite's own error, and any other error is not waited on."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tagtrail.meta import database as database_module
from tagtrail.meta.database import Database

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "meta.db"


@pytest.fixture
async def database(path: Path) -> AsyncIterator[Database]:
    opened = await Database.open(f"sqlite:///{path}", migrate=False)
    async with opened.write() as conn:
        await conn.execute(text("CREATE TABLE t (x INTEGER)"))
    yield opened
    await opened.close()


@pytest.fixture
def holder(path: Path, database: Database) -> Iterator[sqlite3.Connection]:
    """Another connection to the file, holding its write lock."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    yield other
    if other.in_transaction:
        other.execute("ROLLBACK")
    other.close()


async def _ticking(ticks: list[float]) -> None:
    while True:
        await asyncio.sleep(0.01)
        ticks.append(time.monotonic())


async def test_a_write_waits_for_the_lock_without_blocking_the_loop(
    database: Database, holder: sqlite3.Connection
) -> None:
    ticks: list[float] = []
    ticker = asyncio.create_task(_ticking(ticks))
    asyncio.get_running_loop().call_later(0.3, holder.execute, "COMMIT")
    started = time.monotonic()
    async with database.write() as conn:
        await conn.execute(text("INSERT INTO t VALUES (1)"))
    waited = time.monotonic() - started
    ticker.cancel()
    assert 0.3 <= waited < 5
    assert len(ticks) >= 10  # the loop ran other work while the write waited
    async with database.read() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM t")) == 1


async def test_a_write_gives_up_after_the_lock_wait(
    database: Database, holder: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database_module, "_LOCK_WAIT_SECONDS", 0.2)
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        async with database.write():
            pytest.fail("the write began while another connection held the lock")
    assert 0.2 <= time.monotonic() - started < 2
    holder.execute("COMMIT")
    async with database.write() as conn:  # and the next write, once the lock is free, works
        await conn.execute(text("INSERT INTO t VALUES (2)"))


async def test_other_errors_are_not_waited_on(
    database: Database, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def failing(self: object, sql: str) -> None:
        calls.append(sql)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(database_module._InProcessConnection, "raw", failing)
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        async with database.write():
            pytest.fail("the write began though BEGIN failed")
    assert calls == ["BEGIN IMMEDIATE"]
    assert time.monotonic() - started < 0.5
