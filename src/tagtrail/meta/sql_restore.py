"""RestoreStore on SQL (``meta.restore``): the checks and the move in one transaction."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from tagtrail.errors import ManifestUnknown, NameUnknown, TagUnknown
from tagtrail.meta.schema import manifests, tag_history
from tagtrail.meta.sql_base import SqlStoreBase
from tagtrail.meta.sql_tag_moves import point_tag
from tagtrail.types import Digest, Manifest, MoveBy, RepoName, Tag, TagMove

# Whether the tag has records at all, and whether one of them pointed it at the digest.
_ANY_RECORD = (
    select(tag_history.c.id)
    .where(tag_history.c.repository_id == bindparam("repo"), tag_history.c.tag == bindparam("tag"))
    .limit(1)
)
_POINTED = _ANY_RECORD.where(
    tag_history.c.digest == bindparam("digest"), tag_history.c.event == "created"
)
_MANIFEST = select(manifests.c.media_type, manifests.c.content).where(
    manifests.c.repository_id == bindparam("repo"), manifests.c.digest == bindparam("digest")
)


class SqlRestoreStore(SqlStoreBase):
    """RestoreStore (``meta.restore``)."""

    async def restore_tag(self, name: RepoName, tag: Tag, digest: Digest, by: MoveBy) -> TagMove:
        async with self._write() as conn:
            repo_id = await self._repo_id(conn, name)
            if repo_id is None:
                raise NameUnknown(detail={"name": name})
            # As a push: against gc sweeping the repository, and against a delete of the
            # digest (which must see the tag this points at it); then the tag's own lock.
            await self._db.lock(conn, "repository", repo_id, shared=True)
            await self._db.lock(conn, "manifest", repo_id, str(digest), shared=True)
            await self._db.lock(conn, "tag", repo_id, tag)
            keys = {"repo": repo_id, "tag": tag}
            if await self._db.first(conn, _ANY_RECORD, keys) is None:
                raise TagUnknown(detail={"tag": tag})
            if await self._db.first(conn, _POINTED, {**keys, "digest": str(digest)}) is None:
                raise ManifestUnknown(
                    f"{name}:{tag} never pointed to {digest}",
                    detail={"tag": tag, "digest": str(digest)},
                )
            stored = await self._db.first(conn, _MANIFEST, {"repo": repo_id, "digest": str(digest)})
            if stored is None:
                raise ManifestUnknown(
                    f"the manifest {digest} is no longer stored in {name}",
                    detail={"digest": str(digest)},
                )
            media_type, content = stored
            # What point_tag reads of it: the digest, media type and size (from the content).
            manifest = Manifest(digest, media_type, bytes(content), (), (), None, None, None)
            return await point_tag(self._db, conn, repo_id, tag, manifest, by)
