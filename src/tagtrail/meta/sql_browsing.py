"""BrowsingStore on SQL: the overviews the web UI shows, each one query."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, func, select

from tagtrail.meta.schema import manifests, repositories, tag_history, tags
from tagtrail.meta.sql_base import SqlStoreBase
from tagtrail.types import Digest, RepoName, RepositorySummary, TagDetail


class SqlBrowsingStore(SqlStoreBase):
    """BrowsingStore (``meta.store``)."""

    async def repository_summaries(self, names: Sequence[str]) -> list[RepositorySummary]:
        if not names:
            return []
        # Grouped on the tags primary key (repository_id, name): one index range per repository.
        query = (
            select(
                repositories.c.name,
                func.count(tags.c.name).label("tag_count"),
                func.max(tags.c.updated_ms).label("last_update_ms"),
            )
            .select_from(repositories.outerjoin(tags, tags.c.repository_id == repositories.c.id))
            .where(repositories.c.name.in_(list(names)))
            .group_by(repositories.c.name)
            .order_by(repositories.c.name)
        )
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            RepositorySummary(
                r.name,
                int(r.tag_count),
                None if r.last_update_ms is None else int(r.last_update_ms),
            )
            for r in rows
        ]

    async def tag_details(
        self, name: RepoName, limit: int | None, after: str | None
    ) -> list[TagDetail]:
        async with self._read() as conn:
            repo_id = await self._repo_id(conn, name)
            if repo_id is None:
                return []
            query = (
                select(
                    tags.c.name,
                    tags.c.digest,
                    tags.c.updated_ms,
                    manifests.c.media_type,
                    manifests.c.size,
                    manifests.c.content,
                )
                .select_from(
                    tags.join(
                        manifests,
                        and_(
                            manifests.c.repository_id == tags.c.repository_id,
                            manifests.c.digest == tags.c.digest,
                        ),
                    )
                )
                .where(tags.c.repository_id == repo_id)
                .order_by(tags.c.name)
            )
            if after:
                query = query.where(tags.c.name > after)
            if limit is not None:
                query = query.limit(limit)
            rows = (await conn.execute(query)).all()
        return [
            TagDetail(
                r.name,
                Digest.parse(r.digest),
                r.media_type,
                int(r.size),
                int(r.updated_ms),
                bytes(r.content),
            )
            for r in rows
        ]

    async def tags_naming(self, name: RepoName, digest: Digest) -> list[str]:
        async with self._read() as conn:
            repo_id = await self._repo_id(conn, name)
            if repo_id is None:
                return []
            # ix_tag_history_digest (repository_id, digest) finds the records directly.
            query = (
                select(tag_history.c.tag)
                .where(
                    tag_history.c.repository_id == repo_id,
                    tag_history.c.digest == str(digest),
                )
                .distinct()
                .order_by(tag_history.c.tag)
            )
            return list((await conn.scalars(query)).all())
