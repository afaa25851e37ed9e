"""PostgreSQL for tests: the server scripts/test made sure of, one fresh database per use.

The server is TAGTRAIL_TEST_POSTGRES (default: this machine's at 127.0.0.1:5432, database
``test``). Tests never skip when it is unreachable: they fail, naming the URL.
"""

from __future__ import annotations

import asyncio
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


@asynccontextmanager
async def fresh_database_async() -> AsyncIterator[str]:
    """A new, empty database for one test (its URL), dropped afterwards."""
    name = f"tagtrail_test_{uuid.uuid4().hex[:12]}"
    await _run(f'CREATE DATABASE "{name}"')
    try:
        yield _url_for(name)
    finally:
        await _run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_database() -> Iterator[str]:
    """The same, for tests without an event loop (servers in other processes)."""
    name = f"tagtrail_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_run(f'CREATE DATABASE "{name}"'))
    try:
        yield _url_for(name)
    finally:
        asyncio.run(_run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
