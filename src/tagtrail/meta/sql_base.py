"""What every SQL metadata store shares: the database, and repository ids by name.

The stores are split by concept (``sql_repositories``, ``sql_uploads``, ``sql_manifests``,
``sql_history``, ``sql_browsing``), each implementing its protocols of ``meta.store``; they all
find a repository's id the same way, here. ``sql.SqlMetadataStore`` is all of them on one
database, sharing one id cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from tagtrail.clock import now_ms
from tagtrail.meta.database import Database
from tagtrail.meta.schema import repositories
from tagtrail.types import Digest, RepoName


class SqlStoreBase:
    """A store on one SQLAlchemy database. Repository ids are cached: never deleted (so a
    cache shared by several stores, ``repo_ids``, never goes stale either)."""

    def __init__(self, database: Database, repo_ids: dict[str, int] | None = None) -> None:
        self._db = database
        self._write = database.write
        self._read = database.read
        self._insert = database.insert
        self._repo_ids: dict[str, int] = {} if repo_ids is None else repo_ids

    @property
    def database(self) -> Database:
        return self._db

    def data_version(self) -> int | None:
        """See ``MetadataStore.data_version``."""
        return self._db.data_version()

    async def ping(self) -> None:
        """Raise when the database does not answer (readiness)."""
        async with self._read() as conn:
            await conn.scalar(select(1))

    async def _repo_id(self, conn: AsyncConnection, name: RepoName) -> int | None:
        cached = self._repo_ids.get(name)
        if cached is not None:
            return cached
        found = await conn.scalar(select(repositories.c.id).where(repositories.c.name == name))
        if found is not None:
            self._repo_ids[name] = found
        return found

    async def _ensure_repo(self, conn: AsyncConnection, name: RepoName) -> int:
        found = await self._repo_id(conn, name)
        if found is not None:
            return found
        await conn.execute(
            self._insert(repositories)
            .values(name=name, created_ms=now_ms())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        repo_id = await conn.scalar(select(repositories.c.id).where(repositories.c.name == name))
        assert repo_id is not None
        # Not cached until commit: a rolled-back insert must not leave a dangling id.
        return int(repo_id)

    async def _missing(self, name: RepoName, digests: Sequence[Digest], table: Any) -> list[Digest]:
        """Those of ``digests`` that ``table`` (blob links, manifests) has no row of in ``name``."""
        if not digests:
            return []
        async with self._read() as conn:
            repo_id = await self._repo_id(conn, name)
            if repo_id is None:
                return list(digests)
            present = set(
                (
                    await conn.scalars(
                        select(table.c.digest).where(
                            table.c.repository_id == repo_id,
                            table.c.digest.in_([str(d) for d in digests]),
                        )
                    )
                ).all()
            )
        return [d for d in digests if str(d) not in present]
