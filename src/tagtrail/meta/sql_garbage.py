"""GarbageStore on the SQLAlchemy database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tagtrail.meta.database import Database
from tagtrail.meta.garbage import Collected, GcPolicy, RepositoryGraph, keep, referenced_blobs
from tagtrail.meta.schema import (
    blob_links,
    manifest_refs,
    manifests,
    repositories,
    tag_history,
    tags,
    uploads,
)
from tagtrail.meta.store_identity import database_identity
from tagtrail.types import RepoName, UploadSession

_BATCH = 500


def _batches(values: Sequence[str]) -> Iterator[Sequence[str]]:
    """``values`` in slices of _BATCH: a statement's bound parameters are limited."""
    for start in range(0, len(values), _BATCH):
        yield values[start : start + _BATCH]


async def _present(conn: AsyncConnection, column: Any, values: Sequence[str]) -> set[str]:
    """Which of ``values`` appear in ``column``."""
    found: set[str] = set()
    for batch in _batches(values):
        found.update(await conn.scalars(select(column).where(column.in_(batch)).distinct()))
    return found


class SqlGarbageStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def store_identity(self) -> str:
        return await database_identity(self._db)

    async def repositories(self) -> list[str]:
        async with self._db.read() as conn:
            query = select(repositories.c.name).order_by(repositories.c.name)
            return list((await conn.scalars(query)).all())

    async def sweep_repository(self, name: str, policy: GcPolicy) -> list[Collected]:
        async with self._db.write() as conn:
            repo_id = await conn.scalar(
                select(repositories.c.id).where(repositories.c.name == name)
            )
            if repo_id is None:
                return []
            # Manifest pushes hold this lock shared: none is half-way while gc decides.
            await self._db.lock(conn, "repository", repo_id)
            graph = await self._graph(conn, repo_id)
            kept = keep(graph, policy)
            gone_manifests = sorted(set(graph.manifests) - kept)
            needed = referenced_blobs(graph, kept)
            links = (
                await conn.execute(
                    select(blob_links.c.digest, blob_links.c.size).where(
                        blob_links.c.repository_id == repo_id,
                        blob_links.c.created_ms <= policy.young_after_ms,
                    )
                )
            ).all()
            gone_links = sorted((r.digest, int(r.size)) for r in links if r.digest not in needed)
            sizes = await self._manifest_sizes(conn, repo_id, gone_manifests)
            if not policy.dry_run:
                await self._remove(conn, repo_id, gone_manifests)
                await self._remove_links(conn, repo_id, [d for d, _ in gone_links], policy)
        return [Collected(name, "manifest", d, sizes.get(d, 0)) for d in gone_manifests] + [
            Collected(name, "blob", d, size) for d, size in gone_links
        ]

    async def _graph(self, conn: AsyncConnection, repo_id: int) -> RepositoryGraph:
        graph = RepositoryGraph()
        rows = await conn.execute(
            select(manifests.c.digest, manifests.c.created_ms, manifests.c.subject).where(
                manifests.c.repository_id == repo_id
            )
        )
        for row in rows:
            graph.manifests[row.digest] = (int(row.created_ms), row.subject)
        rows = await conn.execute(
            select(
                manifest_refs.c.manifest_digest, manifest_refs.c.child_digest, manifest_refs.c.kind
            ).where(manifest_refs.c.repository_id == repo_id)
        )
        for row in rows:
            into = graph.children if row.kind == "manifest" else graph.blobs_of
            into.setdefault(row.manifest_digest, set()).add(row.child_digest)
        graph.tagged = set(
            await conn.scalars(select(tags.c.digest).where(tags.c.repository_id == repo_id))
        )
        rows = await conn.execute(
            select(
                tag_history.c.tag, tag_history.c.ts_ms, tag_history.c.digest, tag_history.c.event
            ).where(tag_history.c.repository_id == repo_id)
        )
        graph.history = [(r.tag, int(r.ts_ms), r.digest, r.event) for r in rows]
        return graph

    async def _manifest_sizes(
        self, conn: AsyncConnection, repo_id: int, digests: list[str]
    ) -> dict[str, int]:
        sizes: dict[str, int] = {}
        for batch in _batches(digests):
            rows = await conn.execute(
                select(manifests.c.digest, manifests.c.size).where(
                    manifests.c.repository_id == repo_id, manifests.c.digest.in_(batch)
                )
            )
            sizes.update((r.digest, int(r.size)) for r in rows)
        return sizes

    async def _remove(self, conn: AsyncConnection, repo_id: int, gone: list[str]) -> None:
        for batch in _batches(gone):
            await conn.execute(
                delete(manifest_refs).where(
                    manifest_refs.c.repository_id == repo_id,
                    manifest_refs.c.manifest_digest.in_(batch),
                )
            )
            await conn.execute(
                delete(manifests).where(
                    manifests.c.repository_id == repo_id, manifests.c.digest.in_(batch)
                )
            )

    async def _remove_links(
        self, conn: AsyncConnection, repo_id: int, gone: list[str], policy: GcPolicy
    ) -> None:
        for batch in _batches(gone):
            # The age is checked again here: a link pushed again meanwhile is young again.
            await conn.execute(
                delete(blob_links).where(
                    blob_links.c.repository_id == repo_id,
                    blob_links.c.digest.in_(batch),
                    blob_links.c.created_ms <= policy.young_after_ms,
                )
            )

    async def links_of(self, digest: str) -> set[str]:
        async with self._db.read() as conn:
            rows = await conn.scalars(
                select(repositories.c.name)
                .select_from(blob_links.join(repositories))
                .where(blob_links.c.digest == digest)
            )
            return set(rows)

    async def recorded_blobs(self, digests: Sequence[str]) -> set[str]:
        async with self._db.read() as conn:
            found = await _present(conn, blob_links.c.digest, digests)
            # Manifest references are indexed by repository first, so only the few digests no
            # link names are looked up there.
            rest = [d for d in digests if d not in found]
            return found | await _present(conn, manifest_refs.c.child_digest, rest)

    async def recorded_uploads(self, upload_ids: Sequence[str]) -> set[str]:
        async with self._db.read() as conn:
            return await _present(conn, uploads.c.id, upload_ids)

    async def _orphan(self, conn: AsyncConnection, digest: str) -> bool:
        linked = await conn.scalar(
            select(func.count()).select_from(blob_links).where(blob_links.c.digest == digest)
        )
        # Any manifest naming it (a blob deleted by API under a still-present manifest).
        named = await conn.scalar(
            select(func.count())
            .select_from(manifest_refs)
            .where(manifest_refs.c.child_digest == digest)
        )
        return not linked and not named

    async def delete_blob_if_orphan(
        self, digest: str, delete: Callable[[], Awaitable[None]]
    ) -> bool:
        async with self._db.write() as conn:
            await self._db.lock(conn, "blob", digest)
            if not await self._orphan(conn, digest):
                return False
            await delete()
            return True

    async def expired_uploads(self, started_before_ms: int) -> list[UploadSession]:
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(uploads.c.id, uploads.c.repository, uploads.c.offset, uploads.c.started_ms)
                .where(uploads.c.started_ms < started_before_ms)
                .order_by(uploads.c.started_ms)
            )
            return [
                UploadSession(r.id, RepoName(r.repository), int(r.offset), int(r.started_ms))
                for r in rows
            ]

    async def delete_upload(self, upload_id: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(delete(uploads).where(uploads.c.id == upload_id))
