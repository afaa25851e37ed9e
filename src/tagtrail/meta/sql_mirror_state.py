"""MirrorStateStore (``meta.mirror_state``) on SQL: tag checks, watches, leases, mirrored writes.

The leases are single conditional UPDATEs (or INSERTs that lose on the primary key), which both
SQLite and PostgreSQL make atomic: of several replicas racing for one, exactly one row count
is 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tagtrail.meta.mirror_state import (
    IMPORT_ACTION,
    MIRROR_ACTION,
    ImportedMove,
    TagCheck,
    Watch,
)
from tagtrail.meta.schema import (
    mirror_fetches,
    mirror_tag_checks,
    mirror_watches,
    tag_history,
    tags,
)
from tagtrail.meta.sql_manifests import SqlManifestStore
from tagtrail.meta.sql_tag_moves import point_tag
from tagtrail.types import Digest, Manifest, MoveBy, RepoName, Tag, TagMove


class SqlMirrorStateStore(SqlManifestStore):
    """MirrorStateStore: the manifest store's writes, as the mirrors make them."""

    async def tag_check(self, name: RepoName, tag: Tag) -> TagCheck | None:
        async with self._read() as conn:
            row = (
                await conn.execute(
                    select(
                        mirror_tag_checks.c.digest,
                        mirror_tag_checks.c.checked_ms,
                        mirror_tag_checks.c.imported,
                    ).where(mirror_tag_checks.c.repository == name, mirror_tag_checks.c.tag == tag)
                )
            ).first()
        if row is None:
            return None
        digest = None if row.digest is None else Digest.stored(row.digest)
        return TagCheck(digest, int(row.checked_ms), bool(row.imported))

    async def save_tag_check(self, name: RepoName, tag: Tag, check: TagCheck) -> None:
        values = {
            "digest": None if check.digest is None else str(check.digest),
            "checked_ms": check.checked_ms,
            "imported": check.imported,
        }
        async with self._write(durable=False) as conn:
            await conn.execute(
                self._insert(mirror_tag_checks)
                .values(repository=name, tag=tag, **values)
                .on_conflict_do_update(index_elements=["repository", "tag"], set_=values)
            )

    async def store_mirrored_manifest(self, name: RepoName, manifest: Manifest) -> None:
        await self.put_manifest_tags(name, manifest, ())

    async def record_mirrored_move(
        self,
        name: RepoName,
        tag: Tag,
        manifest: Manifest,
        *,
        previous_check_ms: int | None,
        imported: Sequence[ImportedMove] = (),
        actor: str | None = None,
        rule: str | None = None,
    ) -> TagMove:
        async with self._write() as conn:
            repo_id = await self._store_manifest(conn, name, manifest, verify_refs=False)
            await self._db.lock(conn, "tag", repo_id, tag)
            if imported and await self._import(conn, repo_id, tag, imported, actor):
                current = await conn.scalar(
                    select(tags.c.digest).where(tags.c.repository_id == repo_id, tags.c.name == tag)
                )
                newest = imported[-1]
                names_it = newest.event == "created" and newest.digest == manifest.digest
                if current is None and names_it:
                    # The upstream's own record says since when: no observation of ours to add.
                    await conn.execute(
                        tags.insert().values(
                            repository_id=repo_id,
                            name=tag,
                            digest=str(manifest.digest),
                            updated_ms=await self._last_ts(conn, repo_id, tag),
                        )
                    )
                    return TagMove(tag, None, moved=True)
            return await point_tag(
                self._db,
                conn,
                repo_id,
                tag,
                manifest,
                MoveBy(MIRROR_ACTION, actor, previous_check_ms=previous_check_ms, rule=rule),
            )

    async def record_mirrored_deletion(
        self,
        name: RepoName,
        tag: Tag,
        *,
        previous_check_ms: int | None,
        actor: str | None = None,
        rule: str | None = None,
    ) -> bool:
        by = MoveBy(MIRROR_ACTION, actor, previous_check_ms=previous_check_ms, rule=rule)
        return await self.delete_tag(name, tag, by=by)

    async def _import(
        self,
        conn: AsyncConnection,
        repo_id: int,
        tag: Tag,
        imported: Sequence[ImportedMove],
        actor: str | None,
    ) -> bool:
        """Record the upstream's history of a tag that has none here; False when it has."""
        had = await conn.scalar(
            select(func.count())
            .select_from(tag_history)
            .where(tag_history.c.repository_id == repo_id, tag_history.c.tag == tag)
        )
        if had:
            return False
        rows: list[dict[str, Any]] = []
        last = None
        for move in sorted(imported, key=lambda m: m.timestamp_ms):
            # Strictly increasing per tag (the upstream may repeat a millisecond).
            ts = move.timestamp_ms if last is None or move.timestamp_ms > last else last + 1
            last = ts
            rows.append(
                {
                    "repository_id": repo_id,
                    "tag": tag,
                    "ts_ms": ts,
                    "digest": str(move.digest),
                    "event": move.event,
                    "media_type": move.media_type,
                    "size": move.size,
                    "action": IMPORT_ACTION,
                    "actor": actor,
                    "previous_check_ms": None,
                }
            )
        if rows:
            await conn.execute(tag_history.insert(), rows)
        return bool(rows)

    async def _last_ts(self, conn: AsyncConnection, repo_id: int, tag: Tag) -> int:
        last = await conn.scalar(
            select(func.max(tag_history.c.ts_ms)).where(
                tag_history.c.repository_id == repo_id, tag_history.c.tag == tag
            )
        )
        return int(last)

    async def add_watch(self, watch: Watch) -> bool:
        values = {
            "tags": watch.tags,
            "exclude": watch.exclude,
            "interval_s": watch.interval_s,
            "platforms": ",".join(watch.platforms) or None,
        }
        async with self._write() as conn:
            present = await conn.scalar(
                select(func.count()).where(mirror_watches.c.repository == watch.repository)
            )
            await conn.execute(
                self._insert(mirror_watches)
                .values(repository=watch.repository, created_ms=watch.created_ms, **values)
                .on_conflict_do_update(index_elements=["repository"], set_=values)
            )
        return not present

    async def list_watches(self, prefix: str | None = None) -> list[Watch]:
        query = select(mirror_watches).order_by(mirror_watches.c.repository)
        if prefix is not None:
            under = func.substr(mirror_watches.c.repository, 1, len(prefix) + 1)
            query = query.where(under == f"{prefix}/")
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [_watch(row) for row in rows]

    async def remove_watch(self, repository: RepoName) -> bool:
        async with self._write() as conn:
            result = await conn.execute(
                delete(mirror_watches).where(mirror_watches.c.repository == repository)
            )
        return bool(result.rowcount)

    async def claim_watch(
        self, repository: RepoName, owner: str, now_ms: int, lease_ms: int
    ) -> bool:
        w = mirror_watches.c
        due = or_(w.last_round_ms.is_(None), w.last_round_ms + w.interval_s * 1000 <= now_ms)
        free = or_(w.lease_until_ms.is_(None), w.lease_until_ms <= now_ms)
        async with self._write(durable=False) as conn:
            result = await conn.execute(
                update(mirror_watches)
                .where(w.repository == repository, due, free)
                .values(lease_owner=owner, lease_until_ms=now_ms + lease_ms)
            )
        return bool(result.rowcount)

    async def finish_watch(
        self, repository: RepoName, owner: str, round_ms: int, error: str | None
    ) -> None:
        w = mirror_watches.c
        async with self._write(durable=False) as conn:
            await conn.execute(
                update(mirror_watches)
                .where(w.repository == repository, w.lease_owner == owner)
                .values(
                    lease_owner=None,
                    lease_until_ms=None,
                    last_round_ms=round_ms,
                    last_error=None if error is None else error[:1000],
                )
            )

    async def claim_fetch(self, digest: Digest, owner: str, now_ms: int, lease_ms: int) -> bool:
        f = mirror_fetches.c
        async with self._write(durable=False) as conn:
            taken = await conn.execute(
                update(mirror_fetches)
                .where(f.digest == str(digest), or_(f.until_ms <= now_ms, f.owner == owner))
                .values(owner=owner, until_ms=now_ms + lease_ms)
            )
            if taken.rowcount:
                return True
            inserted = await conn.execute(
                self._insert(mirror_fetches)
                .values(digest=str(digest), owner=owner, until_ms=now_ms + lease_ms)
                .on_conflict_do_nothing(index_elements=["digest"])
            )
        return bool(inserted.rowcount)

    async def release_fetch(self, digest: Digest, owner: str) -> None:
        f = mirror_fetches.c
        async with self._write(durable=False) as conn:
            await conn.execute(
                delete(mirror_fetches).where(and_(f.digest == str(digest), f.owner == owner))
            )


def _watch(row: Row[Any]) -> Watch:
    return Watch(
        repository=RepoName(row.repository),
        tags=row.tags,
        exclude=row.exclude,
        interval_s=int(row.interval_s),
        platforms=tuple(row.platforms.split(",")) if row.platforms else (),
        last_round_ms=row.last_round_ms,
        last_error=row.last_error,
        created_ms=int(row.created_ms),
    )
