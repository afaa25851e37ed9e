"""PostgreSQL for tests: the server scripts/test made sure of, one fresh database per use.

The server is TAGTRAIL_TEST_POSTGRES (default: this machine's at 127.0.0.1:5432, database
``test``). Tests never skip when it is unreachable: they fail, naming the URL.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import asyncpg

ADMIN_URL = os.environ.get("TAGTRAIL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


async def _run(sql: str) -> None:
    try:
        connection = await asyncpg.connect(ADMIN_URL, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise AssertionError(
            f"PostgreSQL at {ADMIN_URL} is unreachable ({exc}); scripts/test starts it"
        ) from exc
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def _url_for(database: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


def _new_name() -> str:
    return f"tagtrail_test_{uuid.uuid4().hex[:12]}"


def _create(name: str) -> str:
    return f'CREATE DATABASE "{name}"'


def _drop(name: str) -> str:
    return f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'


@asynccontextmanager
async def fresh_database_async() -> AsyncIterator[str]:
    """A new, empty database for one test (its URL), dropped afterwards."""
    name = _new_name()
    await _run(_create(name))
    try:
        yield _url_for(name)
    finally:
        await _run(_drop(name))


@contextmanager
def fresh_database() -> Iterator[str]:
    """The same, for tests without an event loop (servers in other processes)."""
    name = _new_name()
    asyncio.run(_run(_create(name)))
    try:
        yield _url_for(name)
    finally:
        asyncio.run(_run(_drop(name)))


# The names of databases this process migrated and emptied again, ready for the next test.
_spare: list[str] = []
# Not truncated: Alembic's revision, and the one identity row (given a new identity, as a new
# database would have).
_KEPT = ("alembic_version", "store_identity")


@asynccontextmanager
async def migrated_database_async() -> AsyncIterator[str]:
    """An empty database at the schema's head for one test. The process keeps its databases
    and empties them after each test: creating one takes 0.1-0.25 s and migrating it 0.17 s
    here, a TRUNCATE some 20 ms, and some 200 store tests ask for one. A database that cannot
    be emptied (a test left a lock behind) is dropped instead."""
    from tagtrail.meta.database import Database  # the code under test, imported when used

    if _spare:
        name = _spare.pop()
    else:
        name = _new_name()
        await _run(_create(name))
        database = await Database.open(_url_for(name))
        await database.close()
    try:
        yield _url_for(name)
    finally:
        if await _emptied(_url_for(name)):
            _spare.append(name)
        else:
            await _run(_drop(name))


async def _emptied(url: str) -> bool:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        await connection.execute("SET lock_timeout = '5s'")
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
        names = ", ".join(f'"{t["tablename"]}"' for t in tables if t["tablename"] not in _KEPT)
        async with connection.transaction():
            await connection.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            await connection.execute("UPDATE store_identity SET identity = $1", str(uuid.uuid4()))
        return True
    except asyncpg.PostgresError:
        return False
    finally:
        await connection.close()


@atexit.register
def _drop_spares() -> None:
    async def drop() -> None:
        for name in _spare:
            await _run(_drop(name))

    if _spare:
        asyncio.run(drop())
