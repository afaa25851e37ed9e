"""One SQLAlchemy (async) database: engine set-up, read and write transactions, migrations."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import QueuePool, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential

from tagtrail.clock import now_ms
from tagtrail.meta.change_count import ChangeCount
from tagtrail.meta.migrate import HEAD_REVISION, current_revision, upgrade_to_head

_WRITE = "tagtrail_write"
# How old SQLite's own data_version may be when read beside the shared count of commits.
BACKSTOP_SECONDS = 0.1
_LOCK_WAIT_SECONDS = 30.0  # how long a write waits for another process's SQLite write lock


def _configure_sqlite(engine: Engine) -> None:
    """WAL for concurrent readers; writers take the lock up front (BEGIN IMMEDIATE) so that a
    read-then-write transaction never fails with SQLITE_BUSY halfway through."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before it is acknowledged, power loss included (NORMAL
        # may lose the last commits). Writes that acknowledge nothing lasting opt out per
        # transaction (Database.write(durable=False)).
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return  # in-process reads: each statement is its own snapshot
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_WRITE, False) else "BEGIN")


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


class _InProcessConnection:
    """The awaitable face of a synchronous SQLite connection.

    SQLite is a library inside this process: a read from its page cache takes microseconds,
    far less than handing it to a thread and back (measured: 4 us for a tag lookup through
    sqlite3, 100 us through SQLAlchemy Core, 700 us through the async driver's thread).
    Reads never wait for writers under WAL, so running them in the event loop blocks nothing.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        return self._connection.execute(statement, parameters)

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return self._connection.scalar(statement, parameters)

    async def scalars(self, statement: Any, parameters: Any = None) -> Any:
        return self._connection.scalars(statement, parameters)

    async def run_sync(self, function: Any, *args: Any) -> Any:
        return function(self._connection, *args)

    def close(self) -> None:
        self._connection.close()

    def raw(self, sql: str) -> None:
        """A statement straight to sqlite3, for transaction control SQLAlchemy must not see."""
        self._connection.connection.driver_connection.execute(sql)  # type: ignore[union-attr]

    def all(self, statement: Any, parameters: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Every row of a prebuilt statement, run as ``first`` runs it."""
        rows: list[tuple[Any, ...]] = self._cursor(statement, parameters).fetchall()
        return rows

    def _cursor(self, statement: Any, parameters: dict[str, Any]) -> Any:
        compiled = _COMPILED.get(statement)
        if compiled is None:
            built = statement.compile(dialect=self._connection.dialect)
            # Values the statement carries itself (``.limit(1)``), for names not passed.
            fixed = {name: bind.value for name, bind in built.binds.items() if not bind.required}
            compiled = _COMPILED[statement] = (str(built), tuple(built.positiontup or ()), fixed)
        sql, names, fixed = compiled
        values = [parameters[name] if name in parameters else fixed[name] for name in names]
        driver = self._connection.connection.driver_connection
        return driver.execute(sql, values)  # type: ignore[union-attr]

    def run(self, statement: Any, parameters: dict[str, Any]) -> None:
        """A prebuilt write statement, run as ``first`` runs a read."""
        self._cursor(statement, parameters)

    def first(self, statement: Any, parameters: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row of a prebuilt statement, run straight on sqlite3 with SQL compiled
        once: SQLAlchemy's execution machinery costs ten times what SQLite takes to answer a
        primary-key lookup (profiled: 40 us against 4 us), and the hot reads are such lookups.
        Only for statements whose columns need no result processing (integers, text, bytes)."""
        row: tuple[Any, ...] | None = self._cursor(statement, parameters).fetchone()
        return row


def _locked(exc: BaseException) -> bool:
    """SQLite's answer while another connection holds the write lock."""
    text = str(exc)
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


async def _begin_immediate(writing: _InProcessConnection) -> None:
    """BEGIN IMMEDIATE; while another process holds the write lock, tried again after 0.5 ms,
    then twice as long each time up to 20 ms, for _LOCK_WAIT_SECONDS (then its error)."""
    try:
        writing.raw("BEGIN IMMEDIATE")
        return
    except sqlite3.OperationalError as exc:
        if not _locked(exc):
            raise
    # Only a write that found the lock taken gets here. The first try stays out of tenacity,
    # which costs even when that try succeeds: an empty write transaction took 45-56 us with
    # its BEGIN in a tenacity loop against 7 us without (measured, tenacity 9.2 inspects its
    # callbacks on every pass), and every SQLite write begins here (manifest PUTs, uploads).
    retrying = AsyncRetrying(
        retry=retry_if_exception(_locked),
        wait=wait_exponential(multiplier=0.0005, max=0.02),
        stop=stop_after_delay(_LOCK_WAIT_SECONDS),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            writing.raw("BEGIN IMMEDIATE")


class _Entered:
    """An async context that hands out a connection held elsewhere and does nothing on exit."""

    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def __aenter__(self) -> AsyncConnection:
        return self._conn

    async def __aexit__(self, *exc_info: object) -> None:
        return None


# SQLite SQL of the prebuilt statements run by _InProcessConnection.first, .all and .run, with the
# order of their parameters and the values they carry; keyed by the statement object (they are
# module constants).
_COMPILED: dict[Any, tuple[str, tuple[str, ...], dict[str, Any]]] = {}


class Database:
    def __init__(self, engine: AsyncEngine, reader: Engine | None = None) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # SQLite reads run in-process (see _InProcessConnection); writes keep the async
        # driver, so that waiting for another process's write lock never blocks the loop.
        self._reader = reader
        self._reading: _InProcessConnection | None = None
        self._writing: _InProcessConnection | None = None
        self._writing_durable = True  # the connection's synchronous setting: FULL
        self._versions: sqlite3.Cursor | None = None  # on the reading connection
        # The commits' shared count, for a database in a file (meta/change_count.py).
        self._changes: ChangeCount | None = None
        if reader is not None and reader.url.database not in (None, "", ":memory:"):
            self._changes = ChangeCount(Path(str(reader.url.database)))
        self._backstop_due = 0.0
        self._sqlite_seen = 0

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True) -> Database:
        url = async_url(url)
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        engine = create_async_engine(url, **kwargs)
        reader = None
        if engine.dialect.name == "sqlite":
            _configure_sqlite(engine.sync_engine)
            reader = create_engine(
                url.replace("sqlite+aiosqlite://", "sqlite://", 1),
                connect_args={"timeout": 30, "check_same_thread": False},
                poolclass=QueuePool,
                pool_size=2,
                max_overflow=0,
            )
            _configure_sqlite(reader)
        database = cls(engine, reader)
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

    async def lock(self, conn: AsyncConnection, *key: object, shared: bool = False) -> None:
        """Serialise writers of one key (a tag) until the transaction ends. SQLite writers
        are serialised already (BEGIN IMMEDIATE); PostgreSQL takes an advisory lock. Shared
        holders of a key exclude only its exclusive holders (pushes against gc)."""
        if self.dialect == "postgresql":
            digest = hashlib.sha256(repr(key).encode()).digest()
            number = int.from_bytes(digest[:8], "big", signed=True)
            function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
            await conn.execute(text(f"SELECT {function}(:key)"), {"key": number})

    async def close(self) -> None:
        await self.engine.dispose()
        if self._versions is not None:
            self._versions.close()
            self._versions = None
        if self._changes is not None:
            self._changes.close()
            self._changes = None
        for connection in (self._reading, self._writing):
            if connection is not None:
                connection.close()
        self._reading = self._writing = None
        if self._reader is not None:
            self._reader.dispose()

    @asynccontextmanager
    async def write(self, *, durable: bool = True) -> AsyncIterator[AsyncConnection]:
        """A write transaction. ``durable=False`` is for bookkeeping whose loss in a power
        failure costs a client a retry, never an acknowledged blob, manifest or tag move
        (upload progress): it commits without waiting for the disk (measured here: 3 ms an
        fsync, against 0.02 ms). A later durable commit makes it durable too (one WAL)."""
        if self._reader is not None:
            async with self._write_in_process(durable) as conn:
                yield conn
            return
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(**{_WRITE: True})
            async with conn.begin():
                if not durable:
                    await conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
                yield conn

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A read: on SQLite the process's in-process connection, as a plain context that
        costs nothing to enter (every pull starts here; a generator-based one cost more
        than the tag lookup's own statement), on PostgreSQL a pooled transaction."""
        if self._reader is not None:
            # Only what AsyncConnection offers that the stores use: execute, scalar(s),
            # run_sync. The cast keeps one implementation of every query for both paths.
            return _Entered(cast(AsyncConnection, self._in_process()))
        return self._pooled_read()

    @asynccontextmanager
    async def _pooled_read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def _write_in_process(self, durable: bool) -> AsyncIterator[AsyncConnection]:
        """A SQLite write transaction in this process. Its body never suspends (every call on
        an in-process connection completes at once), so it holds the write lock for as long
        as SQLite works and no longer; another process holding the lock is waited for by
        sleeping, never by blocking the event loop (busy_timeout is 0 on this connection)."""
        if self._writing is None:
            assert self._reader is not None
            connection = self._reader.connect().execution_options(isolation_level="AUTOCOMMIT")
            connection.exec_driver_sql("PRAGMA busy_timeout=0")
            self._writing = _InProcessConnection(connection)
            self._writing_durable = True  # as every connection starts (_configure_sqlite)
        writing = self._writing
        if durable != self._writing_durable:
            writing.raw("PRAGMA synchronous=" + ("FULL" if durable else "NORMAL"))
            self._writing_durable = durable
        await _begin_immediate(writing)
        try:
            yield cast(AsyncConnection, writing)
        except BaseException:
            with contextlib.suppress(sqlite3.OperationalError):  # SQLite may have rolled back
                writing.raw("ROLLBACK")
            raise
        writing.raw("COMMIT")
        if self._changes is not None:  # before the write is acknowledged: readers see it
            self._changes.add()

    def data_version(self) -> int | None:
        """A number that differs from the last one this process read whenever anything was
        committed since, by any process, read before the reads it vouches for: the shared
        count of commits (meta/change_count.py) beside SQLite's ``PRAGMA data_version`` of
        at most BACKSTOP_SECONDS ago (that number alone for a database in memory); None on
        PostgreSQL, where no such number is cheap to read."""
        if self._reader is None:
            return None
        changes = self._changes
        if changes is None:  # a database in memory: one process, SQLite's number
            return self._sqlite_data_version()
        # The shared count of commits (meta/change_count.py), and SQLite's own number at
        # most BACKSTOP_SECONDS old: it changes too if a writer died before counting.
        now = time.monotonic()
        if now >= self._backstop_due:
            self._backstop_due = now + BACKSTOP_SECONDS
            self._sqlite_seen = self._sqlite_data_version() & 0xFFFFFFFF
        return (changes.read() << 32) | self._sqlite_seen

    def _sqlite_data_version(self) -> int:
        if self._versions is None:  # one cursor, kept: a new one each time cost a third more
            driver = self._in_process()._connection.connection.driver_connection
            self._versions = driver.cursor()  # type: ignore[union-attr]
        row = self._versions.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def _in_process(self) -> _InProcessConnection:
        """One autocommit connection per process: every read statement sees the newest
        commit (its own snapshot), with no BEGIN/COMMIT round trip. Nothing awaits inside
        its calls, so coroutines never interleave on it."""
        if self._reading is None:
            assert self._reader is not None
            connection = self._reader.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._reading = _InProcessConnection(connection)
        return self._reading

    @staticmethod
    async def first(
        conn: AsyncConnection, statement: Any, parameters: dict[str, Any]
    ) -> tuple[Any, ...] | None:
        """The first row of a prebuilt read statement, by the fastest path the connection has."""
        if isinstance(conn, _InProcessConnection):
            return conn.first(statement, parameters)
        row = (await conn.execute(statement, parameters)).first()
        return None if row is None else tuple(row)

    @staticmethod
    async def run(conn: AsyncConnection, statement: Any, parameters: dict[str, Any]) -> None:
        """A prebuilt write statement (INSERT, UPDATE with bound values only), by the fastest
        path the connection has: a tag move is three of them, and through SQLAlchemy's
        execution they cost a sixth of a manifest PUT, its fsync included."""
        if isinstance(conn, _InProcessConnection):
            conn.run(statement, parameters)
            return
        await conn.execute(statement, parameters)

    @staticmethod
    async def all(
        conn: AsyncConnection, statement: Any, parameters: dict[str, Any]
    ) -> list[tuple[Any, ...]]:
        """Every row of a prebuilt read statement, by the fastest path the connection has."""
        if isinstance(conn, _InProcessConnection):
            return conn.all(statement, parameters)
        return [tuple(row) for row in await conn.execute(statement, parameters)]

    def insert(self, table: Any) -> Any:
        """INSERT with the dialect's ON CONFLICT support."""
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        return dialect.insert(table)
