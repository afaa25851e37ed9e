"""One SQLAlchemy (async) database: engine set-up, read and write transactions, migrations."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from tagtrail.meta.migrate import HEAD_REVISION, current_revision, upgrade_to_head

_WRITE = "tagtrail_write"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL for concurrent readers; writers take the lock up front (BEGIN IMMEDIATE) so that a
    read-then-write transaction never fails with SQLITE_BUSY halfway through."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def async_url(url: str) -> str:
    """The URL with an async driver: ``postgresql://`` becomes ``postgresql+asyncpg://``."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url.removeprefix(plain)
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
    return url


class SchemaOutdated(RuntimeError):
    """The database is behind this version's schema and migrating on start is off."""


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True) -> Database:
        url = async_url(url)
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        engine = create_async_engine(url, **kwargs)
        if engine.dialect.name == "sqlite":
            _configure_sqlite(engine)
        database = cls(engine)
        if migrate:
            await database.upgrade()
        return database

    async def upgrade(self) -> None:
        async with self.write() as conn:
            await conn.run_sync(upgrade_to_head)

    async def revision(self) -> str | None:
        async with self.read() as conn:
            return await conn.run_sync(current_revision)

    async def require_head(self) -> None:
        current = await self.revision()
        if current != HEAD_REVISION:
            raise SchemaOutdated(
                f"database schema is at {current or 'nothing'}, this version needs "
                f"{HEAD_REVISION}: run `tagtrail db upgrade`"
            )

    async def clock_ms(self, conn: AsyncConnection) -> int:
        """Milliseconds on the database's clock on PostgreSQL, which every replica shares;
        SQLite lives on one machine, whose clock its processes share."""
        if self.dialect == "postgresql":
            value = await conn.scalar(
                text("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint")
            )
            return int(value)
        return now_ms()

    async def lock(self, conn: AsyncConnection, *key: object) -> None:
        """Serialise writers of one key (a tag) until the transaction ends. SQLite writers
        are serialised already (BEGIN IMMEDIATE); PostgreSQL takes an advisory lock."""
        if self.dialect == "postgresql":
            digest = hashlib.sha256(repr(key).encode()).digest()
            number = int.from_bytes(digest[:8], "big", signed=True)
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": number})

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(**{_WRITE: True})
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    def insert(self, table: Any) -> Any:
        """INSERT with the dialect's ON CONFLICT support."""
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        return dialect.insert(table)
