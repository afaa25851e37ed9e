"""ManifestStore on SQL: manifests, the references they make, and the tags pointing at them.

Every tag change records its move in the same transaction (``sql_tag_moves``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import and_, bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tagtrail.clock import now_ms
from tagtrail.errors import ManifestBlobUnknown, ManifestInvalid, Unsupported
from tagtrail.meta.schema import blob_links, manifest_refs, manifests, tag_history, tags
from tagtrail.meta.sql_base import SqlStoreBase
from tagtrail.meta.sql_tag_moves import point_tag, untag
from tagtrail.types import (
    DELETED,
    PUSHED,
    Digest,
    Manifest,
    MoveBy,
    Referrer,
    RepoName,
    StoredManifest,
    Tag,
    TagMove,
)

# The statements of the hot paths (manifest GET/HEAD), built once: building a statement costs
# more than SQLite takes to answer it (profiled: 110 us a tag lookup when built per call, 35 us
# prebuilt).
# Each answers the manifest's Last-Modified time too (``StoredManifest.modified_ms``) from the row
# it reads anyway: by digest when it was stored, by tag when the tag moved to it (``updated_ms``
# is the timestamp of the tag's latest history record, written with it).
_MANIFEST = select(manifests.c.media_type, manifests.c.content, manifests.c.created_ms).where(
    manifests.c.repository_id == bindparam("repo"), manifests.c.digest == bindparam("digest")
)
_TAGGED_MANIFEST = (
    select(manifests.c.digest, manifests.c.media_type, manifests.c.content, tags.c.updated_ms)
    .select_from(
        tags.join(
            manifests,
            and_(
                manifests.c.repository_id == tags.c.repository_id,
                manifests.c.digest == tags.c.digest,
            ),
        )
    )
    .where(tags.c.repository_id == bindparam("repo"), tags.c.name == bindparam("tag"))
)


class SqlManifestStore(SqlStoreBase):
    """ManifestStore (``meta.store``)."""

    async def put_manifest(
        self,
        name: RepoName,
        manifest: Manifest,
        tag: Tag | None,
        *,
        verify_refs: bool = False,
        by: MoveBy = PUSHED,
    ) -> TagMove | None:
        tags = () if tag is None else (tag,)
        moves = await self.put_manifest_tags(name, manifest, tags, verify_refs=verify_refs, by=by)
        return moves[0] if moves else None

    async def put_manifest_tags(
        self,
        name: RepoName,
        manifest: Manifest,
        tags: Sequence[Tag],
        *,
        verify_refs: bool = False,
        by: MoveBy | Callable[[Tag], MoveBy] = PUSHED,
    ) -> list[TagMove]:
        # Per tag when a callable: each tag may fall under a different rule (``MoveBy.rule``).
        each = (lambda _: by) if isinstance(by, MoveBy) else by
        async with self._write() as conn:
            repo_id = await self._store_manifest(conn, name, manifest, verify_refs=verify_refs)
            # Tag locks in name order, as delete_manifest takes them: two pushes naming some
            # of the same tags cannot deadlock.
            moves = {
                tag: await point_tag(self._db, conn, repo_id, tag, manifest, each(tag))
                for tag in sorted(set(tags))
            }
            return [moves[tag] for tag in dict.fromkeys(tags)]

    async def _store_manifest(
        self, conn: AsyncConnection, name: RepoName, manifest: Manifest, *, verify_refs: bool
    ) -> int:
        """Store the manifest in ``conn`` unless it is there (the repository too); its id."""
        digest = str(manifest.digest)
        repo_id = await self._ensure_repo(conn, name)
        await self._db.lock(conn, "repository", repo_id, shared=True)  # against gc
        # Against a delete of this digest: it must see the tags this push points at it.
        await self._db.lock(conn, "manifest", repo_id, digest, shared=True)
        if verify_refs:
            await self._check_present(conn, repo_id, manifest)
        inserted = await conn.execute(
            self._insert(manifests)
            .values(
                repository_id=repo_id,
                digest=digest,
                media_type=manifest.media_type,
                size=manifest.size,
                content=manifest.content,
                subject=str(manifest.subject) if manifest.subject else None,
                artifact_type=manifest.artifact_type,
                annotations=manifest.annotations_json,
                created_ms=now_ms(),
            )
            .on_conflict_do_nothing(index_elements=["repository_id", "digest"])
        )
        if inserted.rowcount:
            refs = [(d, "blob") for d in manifest.blob_refs]
            refs += [(d, "manifest") for d in manifest.manifest_refs]
            unique = {str(d): kind for d, kind in refs}
            if unique:
                await conn.execute(
                    self._insert(manifest_refs).on_conflict_do_nothing(),
                    [
                        {
                            "repository_id": repo_id,
                            "manifest_digest": digest,
                            "child_digest": child,
                            "kind": kind,
                        }
                        for child, kind in unique.items()
                    ],
                )
        return repo_id

    async def _check_present(self, conn: AsyncConnection, repo_id: int, manifest: Manifest) -> None:
        """What the manifest references is still here, checked again in the transaction that
        stores it: gc may have collected it since the registry layer looked."""
        foreign = set(manifest.foreign_refs)
        for wanted, table, kind in (
            ([d for d in manifest.blob_refs if d not in foreign], blob_links, "blob"),
            (manifest.manifest_refs, manifests, "manifest"),
        ):
            if not wanted:
                continue
            present = set(
                (
                    await conn.scalars(
                        select(table.c.digest).where(
                            table.c.repository_id == repo_id,
                            table.c.digest.in_(sorted({str(d) for d in wanted})),
                        )
                    )
                ).all()
            )
            missing = sorted({str(d) for d in wanted} - present)
            if missing and kind == "blob":
                raise ManifestBlobUnknown(detail={"digests": missing})
            if missing:
                raise ManifestInvalid(
                    "manifest references manifests unknown to this repository",
                    detail={"digests": missing},
                )

    async def missing_manifests(self, name: RepoName, digests: Sequence[Digest]) -> list[Digest]:
        return await self._missing(name, digests, manifests)

    async def get_manifest(self, name: RepoName, digest: Digest) -> StoredManifest | None:
        async with self._read() as conn:
            repo_id = await self._repo_id(conn, name)
            if repo_id is None:
                return None
            row = await self._db.first(conn, _MANIFEST, {"repo": repo_id, "digest": str(digest)})
        return None if row is None else StoredManifest(digest, row[0], bytes(row[1]), row[2])

    async def resolve_tag(self, name: RepoName, tag: Tag) -> StoredManifest | None:
        async with self._read() as conn:
            repo_id = await self._repo_id(conn, name)
            if repo_id is None:
                return None
            row = await self._db.first(conn, _TAGGED_MANIFEST, {"repo": repo_id, "tag": tag})
        if row is None:
            return None
        return StoredManifest(Digest.stored(row[0]), row[1], bytes(row[2]), row[3])

    async def delete_tag(self, name: RepoName, tag: Tag, *, by: MoveBy = DELETED) -> bool:
        """Untag ``tag``, recording the deletion as ``untag`` does; False when it was not there."""
        async with self._write() as conn:
            repo_id = await self._repo_id(conn, name)
            if repo_id is None:
                return False
            await self._db.lock(conn, "tag", repo_id, tag)
            current = await conn.scalar(
                select(tags.c.digest).where(tags.c.repository_id == repo_id, tags.c.name == tag)
            )
            if current is None:
                return False
            await untag(self._db, conn, repo_id, tag, current, by)
            return True

    async def delete_manifest(
        self,
        name: RepoName,
        digest: Digest,
        protect_history: bool,
        *,
        by: Callable[[Tag], MoveBy] = lambda _: DELETED,
    ) -> bool:
        async with self._write() as conn:
            repo_id = await self._repo_id(conn, name)
            if repo_id is None:
                return False
            await self._db.lock(conn, "manifest", repo_id, str(digest))
            exists = await conn.scalar(
                select(manifests.c.size).where(
                    manifests.c.repository_id == repo_id, manifests.c.digest == str(digest)
                )
            )
            if exists is None:
                return False
            if protect_history:
                named = await conn.scalar(
                    select(func.count())
                    .select_from(tag_history)
                    .where(
                        tag_history.c.repository_id == repo_id,
                        tag_history.c.digest == str(digest),
                    )
                )
                if named:
                    raise Unsupported(
                        "a tag history names this digest, and history is protected",
                        detail={"digest": str(digest)},
                    )
            pointing = (
                await conn.scalars(
                    select(tags.c.name)
                    .where(tags.c.repository_id == repo_id, tags.c.digest == str(digest))
                    .order_by(tags.c.name)
                )
            ).all()
            for tag in pointing:
                await self._db.lock(conn, "tag", repo_id, tag)
                still = await conn.scalar(
                    select(tags.c.digest).where(tags.c.repository_id == repo_id, tags.c.name == tag)
                )
                if still == str(digest):  # not moved by a writer that held the lock first
                    await untag(self._db, conn, repo_id, tag, str(digest), by(tag))
            await conn.execute(
                delete(manifest_refs).where(
                    manifest_refs.c.repository_id == repo_id,
                    manifest_refs.c.manifest_digest == str(digest),
                )
            )
            await conn.execute(
                delete(manifests).where(
                    manifests.c.repository_id == repo_id, manifests.c.digest == str(digest)
                )
            )
            return True

    async def list_tags(self, name: RepoName, limit: int | None, after: str | None) -> list[str]:
        async with self._read() as conn:
            repo_id = await self._repo_id(conn, name)
            if repo_id is None:
                return []
            query = select(tags.c.name).where(tags.c.repository_id == repo_id).order_by(tags.c.name)
            if after:
                query = query.where(tags.c.name > after)
            if limit is not None:
                query = query.limit(limit)
            return list((await conn.scalars(query)).all())

    async def referrers(
        self, name: RepoName, subject: Digest, artifact_type: str | None
    ) -> list[Referrer]:
        async with self._read() as conn:
            repo_id = await self._repo_id(conn, name)
            if repo_id is None:
                return []
            query = (
                select(
                    manifests.c.digest,
                    manifests.c.media_type,
                    manifests.c.size,
                    manifests.c.artifact_type,
                    manifests.c.annotations,
                )
                .where(manifests.c.repository_id == repo_id, manifests.c.subject == str(subject))
                .order_by(manifests.c.created_ms, manifests.c.digest)
            )
            if artifact_type is not None:
                query = query.where(manifests.c.artifact_type == artifact_type)
            rows = (await conn.execute(query)).all()
        return [
            Referrer(
                Digest.parse(r.digest), r.media_type, int(r.size), r.artifact_type, r.annotations
            )
            for r in rows
        ]
